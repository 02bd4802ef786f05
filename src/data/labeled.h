/* labeled.h - a training set of fixed-length (inputs, labels) rows from a safetensors file
 * (`ttt mqar-gen` writes one: `inputs` and `labels`, I32 [n, L], labels -100 where there is
 * nothing to predict). Like the shard loader: a held-out split, a seeded order per epoch and
 * a resumable position. */
#ifndef TTT_DATA_LABELED_H
#define TTT_DATA_LABELED_H

#include <stdint.h>

#include "data/loader.h"
#include "ttt.h"

typedef struct ttt_labeled ttt_labeled;

/* Opens path; every input id must be below n_vocab, every label too or -100. The last
 * val_count rows (or val_fraction of them, at least one when the fraction is > 0) are held
 * out. */
ttt_status ttt_labeled_open(const char *path, uint32_t n_vocab, uint64_t seed,
                            double val_fraction, uint64_t val_count, ttt_labeled **out);
void ttt_labeled_free(ttt_labeled *d);

int ttt_labeled_seq_len(const ttt_labeled *d);  /* L */
uint64_t ttt_labeled_n_train(const ttt_labeled *d);
uint64_t ttt_labeled_n_val(const ttt_labeled *d);

/* The next n training rows: inputs [n, L], labels [n, L]; crosses epochs as needed. */
ttt_status ttt_labeled_next(ttt_labeled *d, int n, int32_t *inputs, int32_t *labels);
/* Validation row i. */
ttt_status ttt_labeled_val(const ttt_labeled *d, uint64_t i, int32_t *inputs, int32_t *labels);

ttt_loader_pos ttt_labeled_get_pos(const ttt_labeled *d);
ttt_status ttt_labeled_set_pos(ttt_labeled *d, ttt_loader_pos pos);

#endif
