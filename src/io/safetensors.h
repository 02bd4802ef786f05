/* safetensors.h - reading and writing the safetensors format, with full validation.
 *
 * Format: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data buffer.
 * The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data buffer) plus an optional "__metadata__" string-to-string map.
 * Every file is untrusted: the reader checks the header size (<= 100 MB and inside the file),
 * UTF-8, JSON shape and types, dtype names, element count x dtype size = byte length (with
 * overflow checks), duplicate names, and that the offsets tile the data buffer exactly
 * (no holes, no overlaps, nothing past the end, nothing left over).
 */
#ifndef TTT_IO_SAFETENSORS_H
#define TTT_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

#define TTT_ST_MAX_HEADER 100000000ull /* the format's own limit */

typedef struct ttt_st_tensor {
    char *name;                  /* owned */
    ttt_dtype dtype;
    int ndim;                    /* 0..TTT_MAX_DIMS */
    int64_t shape[TTT_MAX_DIMS];
    uint64_t n_elements;
    uint64_t begin, end;         /* byte offsets in the data buffer */
    const void *data;            /* aligned to the element size (a copy when the file's is not) */
} ttt_st_tensor;

typedef struct ttt_st_meta {
    char *key, *value;           /* owned */
} ttt_st_meta;

typedef struct ttt_st_file {
    char *label;                 /* the path, for messages; owned */
    const uint8_t *base;         /* start of the file (mapping or caller's buffer) */
    size_t size;                 /* bytes of the file */
    void *map;                   /* non-NULL when mmap'd by ttt_st_open */
    uint64_t header_len;         /* N */
    int n_tensors;
    ttt_st_tensor *tensors;      /* [n_tensors], sorted by name */
    int n_meta;
    ttt_st_meta *meta;           /* [n_meta] */
    void **copies;               /* aligned copies made for misaligned tensors */
    int n_copies;
} ttt_st_file;

/* Validates and indexes a safetensors image held in memory (buf must outlive f).
 * label names the source in error messages. On failure f is left empty. */
ttt_status ttt_st_parse(const uint8_t *buf, size_t len, const char *label, ttt_st_file *f);
/* mmaps path (read-only) and parses it. */
ttt_status ttt_st_open(const char *path, ttt_st_file *f);
void ttt_st_close(ttt_st_file *f);
/* Binary search by name; NULL when absent. */
const ttt_st_tensor *ttt_st_find(const ttt_st_file *f, const char *name);

/* A checkpoint: one file, or shards listed by model.safetensors.index.json. */
typedef struct ttt_st_set {
    int n_files;
    ttt_st_file *files;          /* [n_files] */
    int n_tensors;
    const ttt_st_tensor **index; /* [n_tensors] across all files, sorted by name */
} ttt_st_set;

/* path: a .safetensors file, or a directory with model.safetensors or
 * model.safetensors.index.json. For an index: file names must be plain names inside the
 * directory (no '/' or ".."), every listed tensor must exist in its listed shard, and a
 * name may appear in one shard only. */
ttt_status ttt_st_set_open(const char *path, ttt_st_set *s);
void ttt_st_set_close(ttt_st_set *s);
const ttt_st_tensor *ttt_st_set_find(const ttt_st_set *s, const char *name);

/* ---- writing ---- */
typedef struct ttt_st_desc {
    const char *name;
    ttt_dtype dtype;
    int ndim;
    int64_t shape[TTT_MAX_DIMS];
} ttt_st_desc;

typedef struct ttt_st_writer ttt_st_writer;

/* Starts writing path through "path.tmp.<pid>": the header for descs (data in that order,
 * header padded with spaces to a multiple of 8), metadata as n_meta key/value pairs. */
ttt_status ttt_st_writer_open(const char *path, const ttt_st_desc *descs, int n,
                              const ttt_st_meta *meta, int n_meta, ttt_st_writer **out);
/* Appends data bytes (tensors back to back in desc order; any split into calls). */
ttt_status ttt_st_writer_put(ttt_st_writer *w, const void *data, size_t nbytes);
/* Checks that exactly all bytes came, fsyncs, renames onto path, fsyncs the directory,
 * frees w. On failure the temp file is removed and path is untouched. */
ttt_status ttt_st_writer_commit(ttt_st_writer *w);
/* Removes the temp file and frees w (NULL is fine). */
void ttt_st_writer_abort(ttt_st_writer *w);

/* Produces the bytes of tensor i (descs order) into dst (n_bytes of it). */
typedef ttt_status (*ttt_st_fill_fn)(void *ctx, int i, void *dst, size_t n_bytes);

/* Writes a checkpoint into dir: model.safetensors when the data is at most max_shard bytes,
 * else model-0000k-of-0000n.safetensors shards plus model.safetensors.index.json (HF layout).
 * Tensors are produced one at a time through fill, so memory stays at one tensor. Each file
 * is written atomically; the index is written last. fill is called once per tensor in file
 * order, which is not descs order: within a file, wider dtypes come first, so every tensor's
 * data is aligned and readers never copy. Files of an earlier save in dir that the new one
 * does not use (its index, shards, or model.safetensors) are removed after it is in place. */
ttt_status ttt_st_save(const char *dir, const ttt_st_desc *descs, int n, uint64_t max_shard,
                       ttt_st_fill_fn fill, void *ctx);

/* bytes of tensor d; false on overflow */
int ttt_st_desc_bytes(const ttt_st_desc *d, uint64_t *out);

#endif
