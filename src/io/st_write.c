/* st_write.c - writing safetensors files and whole checkpoints.
 *
 * Each file goes to a temp name in its own directory, is fsync'd, then renamed over the
 * target and the directory fsync'd: a crash or a failed write leaves either the old file or
 * the new one, never a torn mix. A checkpoint above max_shard is split the Hugging Face way,
 * and the index is written after every shard it names is in place. */
#include "io/safetensors.h"
#include "io/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/mem.h"
#include "util/utf8.h"

#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"
#define ST_MAX_SHARDS 99999 /* the five digits of model-%05d-of-%05d */

/* the reader refuses shape entries a JSON double cannot hold exactly */
#define ST_MAX_DIM (INT64_C(1) << 53)

/* ---- growable text ---- */

typedef struct st_text {
    char *p;
    size_t len, cap;
    bool oom; /* sticky, so builders check once at the end */
} st_text;

static void text_put(st_text *b, const char *s, size_t n) {
    if (b->oom || n == 0) return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void text_str(st_text *b, const char *s) { text_put(b, s, strlen(s)); }

static void text_u64(st_text *b, uint64_t v) {
    char t[24];
    int k = snprintf(t, sizeof t, "%" PRIu64, v);
    text_put(b, t, (size_t)k);
}

/* A JSON string literal; s is valid UTF-8, so only quotes, backslashes and control bytes
 * need escapes. */
static void text_json_str(st_text *b, const char *s) {
    text_put(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != '"' && c != '\\' && c >= 0x20) continue;
        text_put(b, run, (size_t)(p - run));
        char esc[8];
        if (c == '"' || c == '\\')
            snprintf(esc, sizeof esc, "\\%c", c);
        else
            snprintf(esc, sizeof esc, "\\u%04x", c);
        text_str(b, esc);
        run = p + 1;
    }
    text_str(b, run);
    text_put(b, "\"", 1);
}

/* ---- checks on what the caller asks to write ---- */

int ttt_st_desc_bytes(const ttt_st_desc *d, uint64_t *out) {
    if (!d || d->ndim < 0 || d->ndim > TTT_MAX_DIMS || ttt_dtype_size(d->dtype) == 0) return 0;
    /* multiplied in order, as the reader does, so both agree on what overflows */
    uint64_t n = 1;
    for (int i = 0; i < d->ndim; i++)
        if (d->shape[i] < 0 || !ttt_mul_u64(n, (uint64_t)d->shape[i], &n)) return 0;
    return ttt_mul_u64(n, ttt_dtype_size(d->dtype), out);
}

static int st_cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* names[n] sorted; the first repeated one, or NULL. */
static const char *st_first_duplicate(const char **names, size_t n) {
    qsort(names, n, sizeof *names, st_cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

/* Everything the reader would refuse is refused here, before any byte is written. */
static ttt_status st_check_desc(const ttt_st_desc *d, int i, const char *label) {
    if (!d->name || !d->name[0])
        return ttt_err(TTT_ERR_ARG, "%s: tensor %d has no name", label, i);
    if (strcmp(d->name, "__metadata__") == 0 || !ttt_utf8_valid(d->name, strlen(d->name), NULL))
        return ttt_err(TTT_ERR_ARG, "%s: tensor %d: \"%s\" is not a valid tensor name", label, i,
                       d->name);
    if (ttt_dtype_size(d->dtype) == 0)
        return ttt_err(TTT_ERR_ARG, "%s: tensor \"%s\": bad dtype %d", label, d->name,
                       (int)d->dtype);
    if (d->ndim < 0 || d->ndim > TTT_MAX_DIMS)
        return ttt_err(TTT_ERR_ARG, "%s: tensor \"%s\": ndim %d is outside 0..%d", label, d->name,
                       d->ndim, TTT_MAX_DIMS);
    for (int k = 0; k < d->ndim; k++)
        if (d->shape[k] < 0 || d->shape[k] > ST_MAX_DIM)
            return ttt_err(TTT_ERR_ARG,
                           "%s: tensor \"%s\": shape[%d] = %" PRId64 " is out of range", label,
                           d->name, k, d->shape[k]);
    uint64_t bytes = 0;
    if (!ttt_st_desc_bytes(d, &bytes))
        return ttt_err(TTT_ERR_ARG, "%s: tensor \"%s\": byte size overflows", label, d->name);
    return TTT_OK;
}

static ttt_status st_check_descs(const ttt_st_desc *descs, int n, const char *label) {
    if (n < 0 || (n > 0 && !descs))
        return ttt_err(TTT_ERR_ARG, "%s: bad tensor list (%d tensors)", label, n);
    for (int i = 0; i < n; i++) {
        ttt_status st = st_check_desc(&descs[i], i, label);
        if (st) return st;
    }
    const char **names = malloc((n ? (size_t)n : 1) * sizeof *names);
    if (!names) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
    for (int i = 0; i < n; i++) names[i] = descs[i].name;
    const char *dup = st_first_duplicate(names, (size_t)n);
    ttt_status st = TTT_OK;
    if (dup) st = ttt_err(TTT_ERR_ARG, "%s: duplicate tensor name \"%s\"", label, dup);
    free(names);
    return st;
}

static ttt_status st_check_meta(const ttt_st_meta *meta, int n, const char *label) {
    if (n < 0 || (n > 0 && !meta))
        return ttt_err(TTT_ERR_ARG, "%s: bad metadata list (%d pairs)", label, n);
    for (int i = 0; i < n; i++) {
        const ttt_st_meta *kv = &meta[i];
        if (!kv->key || !kv->value || !ttt_utf8_valid(kv->key, strlen(kv->key), NULL) ||
            !ttt_utf8_valid(kv->value, strlen(kv->value), NULL))
            return ttt_err(TTT_ERR_ARG, "%s: metadata pair %d is not two UTF-8 strings", label, i);
    }
    const char **keys = malloc((n ? (size_t)n : 1) * sizeof *keys);
    if (!keys) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
    for (int i = 0; i < n; i++) keys[i] = meta[i].key;
    const char *dup = st_first_duplicate(keys, (size_t)n);
    ttt_status st = TTT_OK;
    if (dup) st = ttt_err(TTT_ERR_ARG, "%s: duplicate metadata key \"%s\"", label, dup);
    free(keys);
    return st;
}

/* The JSON header, padded with spaces so the data buffer starts 8-byte aligned in the file
 * (and so in a mapping): readers then use it in place. *data_bytes: the buffer's size. */
static ttt_status st_build_header(const ttt_st_desc *descs, int n, const ttt_st_meta *meta,
                                  int n_meta, const char *label, st_text *h,
                                  uint64_t *data_bytes) {
    text_str(h, "{");
    if (n_meta > 0) {
        text_str(h, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i) text_str(h, ",");
            text_json_str(h, meta[i].key);
            text_str(h, ":");
            text_json_str(h, meta[i].value);
        }
        text_str(h, n > 0 ? "}," : "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const ttt_st_desc *d = &descs[i];
        uint64_t bytes, end;
        if (!ttt_st_desc_bytes(d, &bytes) || !ttt_add_u64(off, bytes, &end))
            return ttt_err(TTT_ERR_ARG, "%s: the data size overflows at tensor \"%s\"", label,
                           d->name);
        if (i) text_str(h, ",");
        text_json_str(h, d->name);
        text_str(h, ":{\"dtype\":\"");
        text_str(h, ttt_dtype_name(d->dtype));
        text_str(h, "\",\"shape\":[");
        for (int k = 0; k < d->ndim; k++) {
            if (k) text_str(h, ",");
            text_u64(h, (uint64_t)d->shape[k]);
        }
        text_str(h, "],\"data_offsets\":[");
        text_u64(h, off);
        text_str(h, ",");
        text_u64(h, end);
        text_str(h, "]}");
        off = end;
    }
    text_str(h, "}");
    while (!h->oom && h->len % 8 != 0) text_str(h, " ");
    if (h->oom) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for the header", label);
    if (h->len > TTT_ST_MAX_HEADER)
        return ttt_err(TTT_ERR_ARG, "%s: the header would take %zu bytes, above the %llu allowed",
                       label, h->len, TTT_ST_MAX_HEADER);
    *data_bytes = off;
    return TTT_OK;
}

/* ---- the writer ---- */

struct ttt_st_writer {
    char *path;
    ttt_tmpfile tmp;
    uint64_t total, written;
    ttt_status failed; /* a failed put poisons the commit */
};

ttt_status ttt_st_writer_open(const char *path, const ttt_st_desc *descs, int n,
                              const ttt_st_meta *meta, int n_meta, ttt_st_writer **out) {
    if (!out) return ttt_err(TTT_ERR_ARG, "ttt_st_writer_open: NULL out");
    *out = NULL;
    if (!path || !path[0]) return ttt_err(TTT_ERR_ARG, "ttt_st_writer_open: no path");
    ttt_status st = st_check_descs(descs, n, path);
    if (!st) st = st_check_meta(meta, n_meta, path);
    if (st) return st;
    st_text h = {0};
    uint64_t total = 0;
    st = st_build_header(descs, n, meta, n_meta, path, &h, &total);
    if (st) {
        free(h.p);
        return st;
    }
    ttt_st_writer *w = calloc(1, sizeof *w);
    if (w) w->path = ttt_strdup(path);
    if (!w || !w->path) {
        free(h.p);
        free(w);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    w->tmp.fd = -1;
    w->total = total;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    st = ttt_tmpfile_open(path, &w->tmp);
    if (!st) st = ttt_file_write_all(w->tmp.fd, len8, sizeof len8, path);
    if (!st) st = ttt_file_write_all(w->tmp.fd, h.p, h.len, path);
    free(h.p);
    if (st) {
        ttt_st_writer_abort(w);
        return st;
    }
    *out = w;
    return TTT_OK;
}

ttt_status ttt_st_writer_put(ttt_st_writer *w, const void *data, size_t nbytes) {
    if (!w) return ttt_err(TTT_ERR_ARG, "ttt_st_writer_put: NULL writer");
    if (w->failed) return ttt_err(w->failed, "%s: an earlier write failed", w->path);
    if (nbytes > 0 && !data) return ttt_err(TTT_ERR_ARG, "%s: NULL data", w->path);
    if (nbytes > w->total - w->written) {
        w->failed = TTT_ERR_ARG;
        return ttt_err(TTT_ERR_ARG,
                       "%s: %zu more bytes than the header declares (%" PRIu64 " of %" PRIu64
                       " already written)",
                       w->path, nbytes, w->written, w->total);
    }
    ttt_status st = ttt_file_write_all(w->tmp.fd, data, nbytes, w->path);
    if (st) {
        w->failed = st;
        return st;
    }
    w->written += nbytes;
    return TTT_OK;
}

ttt_status ttt_st_writer_commit(ttt_st_writer *w) {
    if (!w) return ttt_err(TTT_ERR_ARG, "ttt_st_writer_commit: NULL writer");
    ttt_status st = TTT_OK;
    if (w->failed)
        st = ttt_err(w->failed, "%s: not written, an earlier write failed", w->path);
    else if (w->written != w->total)
        st = ttt_err(TTT_ERR_ARG,
                     "%s: not written, only %" PRIu64 " of the %" PRIu64 " data bytes came",
                     w->path, w->written, w->total);
    if (st) {
        ttt_st_writer_abort(w);
        return st;
    }
    st = ttt_tmpfile_commit(&w->tmp, w->path);
    free(w->path);
    free(w);
    return st;
}

void ttt_st_writer_abort(ttt_st_writer *w) {
    if (!w) return;
    ttt_tmpfile_discard(&w->tmp);
    free(w->path);
    free(w);
}

/* ---- checkpoints ---- */

/* HF transformers refuses safetensors files whose metadata lacks format "pt". */
static const ttt_st_meta k_pt_meta[] = {{"format", "pt"}};

typedef struct st_plan {
    int n_shards;
    int *first;      /* [n_shards + 1]: shard s holds descs first[s] .. first[s+1]-1 */
    uint64_t total;  /* data bytes of all shards */
    size_t max_bytes; /* of the largest tensor: the one buffer fill writes into */
} st_plan;

/* Greedy: a shard takes tensors in order until the next one would push it over max_shard;
 * a tensor larger than max_shard gets a shard of its own. It splits only when the total is
 * above max_shard, so a checkpoint that fits is one file. */
static ttt_status st_plan_shards(const ttt_st_desc *descs, int n, uint64_t max_shard,
                                 const char *dir, st_plan *p) {
    memset(p, 0, sizeof *p);
    p->first = malloc(((size_t)n + 2) * sizeof *p->first);
    if (!p->first) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
    uint64_t in_shard = 0;
    p->first[0] = 0;
    p->n_shards = 1;
    for (int i = 0; i < n; i++) {
        uint64_t bytes = 0;
        ttt_st_desc_bytes(&descs[i], &bytes); /* checked by st_check_descs */
        if (bytes > SIZE_MAX || !ttt_add_u64(p->total, bytes, &p->total))
            return ttt_err(TTT_ERR_ARG, "%s: the checkpoint's size overflows", dir);
        if (bytes > p->max_bytes) p->max_bytes = (size_t)bytes;
        if (in_shard > 0 && (in_shard > max_shard || bytes > max_shard - in_shard)) {
            p->first[p->n_shards++] = i;
            in_shard = 0;
        }
        in_shard += bytes;
    }
    p->first[p->n_shards] = n;
    if (p->n_shards > ST_MAX_SHARDS)
        return ttt_err(TTT_ERR_ARG, "%s: %d shards, more than the %d the file names allow", dir,
                       p->n_shards, ST_MAX_SHARDS);
    return TTT_OK;
}

static void st_shard_name(const st_plan *p, int s, char *buf, size_t cap) {
    if (p->n_shards == 1)
        snprintf(buf, cap, "%s", ST_SINGLE_NAME);
    else
        snprintf(buf, cap, "model-%05d-of-%05d.safetensors", s + 1, p->n_shards);
}

/* Descs i0..i1-1 in the order their data goes into the file: widest elements first (stable
 * otherwise). The data buffer starts 8-aligned and every size is a power of two, so each
 * tensor then starts at a multiple of its element size and readers never need a copy. */
static int *st_aligned_order(const ttt_st_desc *descs, int i0, int i1) {
    int n = i1 - i0, k = 0;
    int *order = malloc((n ? (size_t)n : 1) * sizeof *order);
    if (!order) return NULL;
    for (size_t size = 8; size >= 1; size /= 2)
        for (int i = i0; i < i1; i++)
            if (ttt_dtype_size(descs[i].dtype) == size) order[k++] = i;
    return order;
}

static ttt_status st_save_file(const char *path, const ttt_st_desc *descs, int i0, int i1,
                               ttt_st_fill_fn fill, void *ctx, void *buf) {
    int n = i1 - i0;
    int *order = st_aligned_order(descs, i0, i1);
    ttt_st_desc *sorted = malloc((n ? (size_t)n : 1) * sizeof *sorted);
    if (!order || !sorted) {
        free(order);
        free(sorted);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int k = 0; k < n; k++) sorted[k] = descs[order[k]];
    ttt_st_writer *w;
    ttt_status st = ttt_st_writer_open(path, sorted, n, k_pt_meta, 1, &w);
    for (int k = 0; k < n && !st; k++) {
        int i = order[k];
        uint64_t bytes = 0;
        ttt_st_desc_bytes(&descs[i], &bytes);
        st = fill(ctx, i, buf, (size_t)bytes);
        if (st)
            ttt_err_prefix("%s: tensor \"%s\"", path, descs[i].name);
        else
            st = ttt_st_writer_put(w, buf, (size_t)bytes);
    }
    free(order);
    free(sorted);
    if (st) {
        ttt_st_writer_abort(w);
        return st;
    }
    return ttt_st_writer_commit(w);
}

typedef struct st_wm_row {
    const char *name;
    int shard;
} st_wm_row;

static int st_cmp_wm_row(const void *a, const void *b) {
    return strcmp(((const st_wm_row *)a)->name, ((const st_wm_row *)b)->name);
}

/* model.safetensors.index.json, keys sorted as transformers writes them. */
static ttt_status st_save_index(const char *dir, const ttt_st_desc *descs, int n,
                                const st_plan *p) {
    st_wm_row *rows = malloc((n ? (size_t)n : 1) * sizeof *rows);
    char *path = ttt_path_join(dir, ST_INDEX_NAME);
    if (!rows || !path) {
        free(rows);
        free(path);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
    }
    for (int s = 0; s < p->n_shards; s++)
        for (int i = p->first[s]; i < p->first[s + 1]; i++) rows[i] = (st_wm_row){descs[i].name, s};
    qsort(rows, (size_t)n, sizeof *rows, st_cmp_wm_row);
    st_text t = {0};
    text_str(&t, "{\n  \"metadata\": {\n    \"total_size\": ");
    text_u64(&t, p->total);
    text_str(&t, "\n  },\n  \"weight_map\": {");
    for (int i = 0; i < n; i++) {
        char shard[64];
        st_shard_name(p, rows[i].shard, shard, sizeof shard);
        text_str(&t, i ? ",\n    " : "\n    ");
        text_json_str(&t, rows[i].name);
        text_str(&t, ": ");
        text_json_str(&t, shard);
    }
    text_str(&t, "\n  }\n}\n");
    ttt_status st = t.oom ? ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path)
                          : ttt_write_file_atomic(path, t.p, t.len);
    free(t.p);
    free(rows);
    free(path);
    return st;
}

/* model-NNNNN-of-MMMMM.safetensors; *k and *of get the numbers. */
static bool st_parse_shard_name(const char *s, int *k, int *of) {
    static const char pat[] = "model-#####-of-#####.safetensors";
    if (strlen(s) != sizeof pat - 1) return false;
    int nums[2] = {0, 0}, which = -1;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] != '#') {
            if (s[i] != pat[i]) return false;
            continue;
        }
        if (i == 0 || pat[i - 1] != '#') which++;
        if (s[i] < '0' || s[i] > '9') return false;
        nums[which] = nums[which] * 10 + (s[i] - '0');
    }
    *k = nums[0];
    *of = nums[1];
    return true;
}

static ttt_status st_unlink_stale(const char *dir, const char *name) {
    char *path = ttt_path_join(dir, name);
    if (!path) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
    ttt_status st = TTT_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        st = ttt_err(TTT_ERR_IO, "%s: cannot remove this file of an earlier save: %s", path,
                     strerror(errno));
    free(path);
    return st;
}

/* Removes what a previous save left that the new checkpoint does not use. Readers must not
 * pick up the old layout: ttt prefers the index, transformers prefers model.safetensors.
 * The stale index goes before the shards it names, so no index ever points at missing
 * files. Only names of the two layouts are touched. */
static ttt_status st_remove_stale(const char *dir, const st_plan *p) {
    bool sharded = p->n_shards > 1;
    ttt_status st = st_unlink_stale(dir, sharded ? ST_SINGLE_NAME : ST_INDEX_NAME);
    if (st) return st;
    DIR *d = opendir(dir);
    if (!d) return ttt_err(TTT_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    struct dirent *e;
    while (!st && (e = readdir(d)) != NULL) {
        int k, of;
        if (!st_parse_shard_name(e->d_name, &k, &of)) continue;
        if (sharded && of == p->n_shards && k >= 1 && k <= of) continue; /* one of ours */
        st = st_unlink_stale(dir, e->d_name);
    }
    closedir(d);
    if (st) return st;
    return ttt_fsync_dir(dir);
}

/* After a failure, removes the shards this save created where no file was before (a shard
 * that replaced an older file cannot be undone, and the older index still finds it). */
static void st_undo_new(const char *dir, const st_plan *p, const bool *existed, int n_done) {
    for (int s = 0; s < n_done; s++) {
        if (existed[s]) continue;
        char name[64];
        st_shard_name(p, s, name, sizeof name);
        char *path = ttt_path_join(dir, name);
        if (path) unlink(path);
        free(path);
    }
}

static ttt_status st_save_shards(const char *dir, const ttt_st_desc *descs, const st_plan *p,
                                 ttt_st_fill_fn fill, void *ctx, bool *existed, int *n_done) {
    void *buf = ttt_malloc_aligned(p->max_bytes);
    if (!buf) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for %zu bytes", dir, p->max_bytes);
    ttt_status st = TTT_OK;
    for (int s = 0; s < p->n_shards && !st; s++) {
        char name[64];
        st_shard_name(p, s, name, sizeof name);
        char *path = ttt_path_join(dir, name);
        if (!path) {
            st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        struct stat sb;
        existed[s] = lstat(path, &sb) == 0;
        st = st_save_file(path, descs, p->first[s], p->first[s + 1], fill, ctx, buf);
        if (!st) *n_done = s + 1;
        free(path);
    }
    ttt_free_aligned(buf);
    return st;
}

ttt_status ttt_st_save(const char *dir, const ttt_st_desc *descs, int n, uint64_t max_shard,
                       ttt_st_fill_fn fill, void *ctx) {
    if (!dir || !dir[0]) return ttt_err(TTT_ERR_ARG, "ttt_st_save: no directory");
    if (!fill) return ttt_err(TTT_ERR_ARG, "%s: ttt_st_save: no fill function", dir);
    ttt_status st = st_check_descs(descs, n, dir);
    if (st) return st;
    st_plan p;
    st = st_plan_shards(descs, n, max_shard, dir, &p);
    bool *existed = st ? NULL : calloc((size_t)p.n_shards, sizeof *existed);
    if (!st && !existed) st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
    int n_done = 0;
    if (!st) st = st_save_shards(dir, descs, &p, fill, ctx, existed, &n_done);
    if (!st && p.n_shards > 1) st = st_save_index(dir, descs, n, &p);
    if (!st) {
        st = st_remove_stale(dir, &p);
    } else if (existed) {
        st_undo_new(dir, &p, existed, n_done);
    }
    free(existed);
    free(p.first);
    return st;
}
