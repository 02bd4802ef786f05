/* loader.h - training samples from token shards: documents packed into fixed-length
 * sequences, a deterministic held-out split, a seeded order per epoch, a resumable position.
 *
 * The shards, in the order given, form one stream: each document's tokens, then EOS. The
 * stream is cut into consecutive, non-overlapping sequences of T + 1 tokens (inputs are the
 * first T, targets the last T); the tail shorter than T + 1 is dropped. A doc-start flag
 * marks each position holding a document's first token, so training can restart the fast
 * weights there. */
#ifndef TTT_DATA_LOADER_H
#define TTT_DATA_LOADER_H

#include <stdint.h>

#include "ttt.h"

typedef struct ttt_loader ttt_loader;

typedef struct ttt_loader_params {
    int seq_len;          /* T: a sample holds T + 1 tokens */
    uint32_t n_vocab;     /* the model's: every id of every shard must be below it */
    int32_t eos_id;       /* separator between documents; -1: the shards' own */
    uint64_t seed;        /* training order: epoch e is a permutation drawn from (seed, e) */
    double val_fraction;  /* in [0, 1): share of sequences held out (rounded down) */
    uint64_t val_count;   /* > 0: exactly this many held out (instead of the fraction) */
    uint64_t split_seed;  /* which sequences are held out; independent of seed, so runs with
                             other seeds validate on the same sequences */
} ttt_loader_params;

ttt_loader_params ttt_loader_default_params(void);

/* Where the next training batch starts: the epoch, and the index into its order. Stored in
 * a checkpoint's trainer state; set back, the loader yields exactly the same next batches. */
typedef struct ttt_loader_pos {
    uint64_t epoch;
    uint64_t index;
} ttt_loader_pos;

/* Opens shard files (validated in full, ids checked against n_vocab). */
ttt_status ttt_loader_open(const char *const *paths, int n_paths, const ttt_loader_params *p,
                           ttt_loader **out);
/* Opens every shard-NNNNN.bin of dir (as `ttt data` writes them), in name order. */
ttt_status ttt_loader_open_dir(const char *dir, const ttt_loader_params *p, ttt_loader **out);
void ttt_loader_free(ttt_loader *l);

uint64_t ttt_loader_n_train(const ttt_loader *l);
uint64_t ttt_loader_n_val(const ttt_loader *l);

/* The next n training samples: tokens [n, T+1], doc_start [n, T+1] (1: a document starts
 * here; NULL: not wanted). Crosses into the next epoch (and its order) as needed. */
ttt_status ttt_loader_next(ttt_loader *l, int n, int32_t *tokens, uint8_t *doc_start);
/* Validation sample i (0 <= i < n_val), in a fixed order. */
ttt_status ttt_loader_val(const ttt_loader *l, uint64_t i, int32_t *tokens, uint8_t *doc_start);
/* Sequence k of the stream (before splitting): for tests and tools. */
ttt_status ttt_loader_sequence(const ttt_loader *l, uint64_t k, int32_t *tokens,
                               uint8_t *doc_start);
/* Stream index of training sample (epoch, index): where a sample came from. */
ttt_status ttt_loader_train_sequence(ttt_loader *l, ttt_loader_pos at, uint64_t *k);

ttt_loader_pos ttt_loader_get_pos(const ttt_loader *l);
ttt_status ttt_loader_set_pos(ttt_loader *l, ttt_loader_pos pos);

#endif
