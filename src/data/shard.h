/* shard.h - binary token shards: the tokenized training corpus, one file per shard.
 *
 * Layout (little-endian; docs/DATA.md):
 *   0   magic "TTTSHARD"
 *   8   u32 version (1)
 *   12  u32 vocab size: every id is below it
 *   16  u64 token count n
 *   24  u64 document count d
 *   32  u32 EOS id, or 0xFFFFFFFF when the tokenizer has none
 *   36  20 zero bytes (reserved)
 *   56  u64 checksum
 *   64  u32 ids[n], zero-padded to a multiple of 8 bytes
 *       u64 doc_start[d]: offset of each document's first token, doc_start[0] = 0, strictly
 *       increasing, below n (so no document is empty)
 * The file size is exactly 64 + pad8(4 n) + 8 d. The checksum is FNV-1a over 64-bit words:
 * every word after the header, then the header's first seven words.
 */
#ifndef TTT_DATA_SHARD_H
#define TTT_DATA_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

#define TTT_SHARD_MAGIC "TTTSHARD"
#define TTT_SHARD_VERSION 1u
#define TTT_SHARD_HEADER 64u
#define TTT_SHARD_NO_TOKEN 0xFFFFFFFFu

typedef struct ttt_shard {
    char *label;                /* the path, for messages; owned */
    const uint8_t *base;        /* the file's bytes (mapping, caller's buffer or copy) */
    size_t size;                /* bytes of the file */
    void *map;                  /* non-NULL when mmap'd by ttt_shard_open */
    void *copy;                 /* an aligned copy of a misaligned caller buffer */
    uint32_t n_vocab;           /* ids are below it */
    uint32_t eos_id;            /* TTT_SHARD_NO_TOKEN when none */
    uint64_t n_tokens;          /* n */
    uint64_t n_docs;            /* d */
    const uint32_t *ids;        /* [n] */
    const uint64_t *doc_start;  /* [d] */
    uint32_t max_id;            /* largest id (0 when n = 0) */
} ttt_shard;

/* Validates a shard image held in memory (buf must outlive s): every field, every bound, the
 * checksum. label names it in errors, with the byte offset at fault. On failure s is empty. */
ttt_status ttt_shard_parse(const uint8_t *buf, size_t len, const char *label, ttt_shard *s);
/* mmaps path read-only and parses it. */
ttt_status ttt_shard_open(const char *path, ttt_shard *s);
void ttt_shard_close(ttt_shard *s);
/* TTT_ERR_FORMAT naming the first id at or above n_vocab (a tokenizer that does not belong
 * to the model). */
ttt_status ttt_shard_check_vocab(const ttt_shard *s, uint32_t n_vocab);

/* Writes a shard through a temp file (fsync, rename): documents are appended one by one. */
typedef struct ttt_shard_writer ttt_shard_writer;

ttt_status ttt_shard_writer_open(const char *path, uint32_t n_vocab, uint32_t eos_id,
                                 ttt_shard_writer **out);
/* Appends one document (n = 0: nothing, empty documents are not kept). Ids outside
 * [0, n_vocab) are refused. */
ttt_status ttt_shard_writer_add(ttt_shard_writer *w, const int32_t *ids, size_t n);
uint64_t ttt_shard_writer_tokens(const ttt_shard_writer *w);
/* Writes the boundaries and header, fsyncs, renames onto path; frees w. */
ttt_status ttt_shard_writer_commit(ttt_shard_writer *w);
/* Removes the temp file, frees w (NULL is fine). */
void ttt_shard_writer_abort(ttt_shard_writer *w);

#endif
