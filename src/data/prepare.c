/* prepare.c - `ttt data`: reads .txt and .jsonl files, tokenizes each document through a
 * callback, and writes the ids into shards of a bounded size (documents are never split
 * across shards). A failed run removes the shards it wrote, so a rerun starts clean. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/shard.h"
#include "io/file.h"
#include "io/json.h"
#include "util/err.h"
#include "util/mem.h"

#define DEFAULT_SHARD_TOKENS (UINT64_C(1) << 28)
#define MAX_TXT_BYTES ((size_t)1 << 30) /* a whole-file document: the encoder takes an int */
#define MAX_SHARDS 99999

ttt_status ttt_data_byte_encode(void *ctx, const char *text, size_t len, int32_t **ids, int *n) {
    (void)ctx;
    *ids = NULL;
    *n = 0;
    if (len > INT_MAX) return ttt_err(TTT_ERR_ARG, "byte tokenizer: %zu bytes in one text", len);
    int32_t *v = malloc(len ? len * sizeof *v : 1);
    if (!v) return ttt_err(TTT_ERR_NOMEM, "byte tokenizer: out of memory");
    for (size_t i = 0; i < len; i++) v[i] = (unsigned char)text[i];
    *ids = v;
    *n = (int)len;
    return TTT_OK;
}

typedef struct prep {
    const ttt_data_params *p;
    ttt_shard_writer *w;
    int n_shards;          /* shards opened so far (the open one included) */
    ttt_data_stats *stats;
} prep;

static void shard_path(const prep *x, int k, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/shard-%05d.bin", x->p->out_dir, k);
}

static ttt_status next_shard(prep *x) {
    if (x->w) {
        ttt_shard_writer *w = x->w;
        x->w = NULL;
        ttt_status st = ttt_shard_writer_commit(w);
        if (st) return st;
        x->stats->n_shards = x->n_shards;
    }
    if (x->n_shards >= MAX_SHARDS)
        return ttt_err(TTT_ERR_ARG, "%s: more than %d shards", x->p->out_dir, MAX_SHARDS);
    char path[4096];
    shard_path(x, x->n_shards, path, sizeof path);
    uint32_t eos = x->p->eos_id < 0 ? TTT_SHARD_NO_TOKEN : (uint32_t)x->p->eos_id;
    ttt_status st = ttt_shard_writer_open(path, x->p->n_vocab, eos, &x->w);
    if (!st) x->n_shards++;
    return st;
}

/* One document: tokenized, then appended to the open shard (a new one when it is full). */
static ttt_status add_doc(prep *x, const char *text, size_t len, const char *where) {
    if (len == 0) return TTT_OK;
    int32_t *ids = NULL;
    int n = 0;
    ttt_status st = x->p->encode(x->p->encode_ctx, text, len, &ids, &n);
    if (st) {
        free(ids);
        ttt_err_prefix("%s", where);
        return st;
    }
    if (n < 0 || (n > 0 && !ids)) {
        free(ids);
        return ttt_err(TTT_ERR_ARG, "%s: the tokenizer returned %d ids", where, n);
    }
    if (n == 0) { /* nothing to keep; and no shard is opened for nothing */
        free(ids);
        return TTT_OK;
    }
    if (!x->w || ttt_shard_writer_tokens(x->w) >= x->p->shard_tokens) st = next_shard(x);
    if (!st) st = ttt_shard_writer_add(x->w, ids, (size_t)n);
    free(ids);
    if (st) {
        ttt_err_prefix("%s", where);
        return st;
    }
    x->stats->n_docs++;
    x->stats->n_tokens += (uint64_t)n;
    x->stats->n_bytes += len;
    return TTT_OK;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* Calls line() for each line of path (without its newline), numbered from 1. */
static ttt_status each_line(prep *x, const char *path,
                            ttt_status (*line)(prep *, const char *, char *, size_t, long)) {
    FILE *f = fopen(path, "rb");
    if (!f) return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    long no = 0;
    ttt_status st = TTT_OK;
    errno = 0;
    while (!st && (got = getline(&buf, &cap, f)) >= 0) {
        size_t n = (size_t)got;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
        st = line(x, path, buf, n, ++no);
    }
    if (!st && ferror(f)) st = ttt_err(TTT_ERR_IO, "%s: read error after line %ld", path, no);
    free(buf);
    fclose(f);
    return st;
}

static ttt_status txt_line(prep *x, const char *path, char *s, size_t n, long no) {
    if (blank(s, n)) return TTT_OK;
    char where[4200];
    snprintf(where, sizeof where, "%s:%ld", path, no);
    return add_doc(x, s, n, where);
}

static ttt_status jsonl_line(prep *x, const char *path, char *s, size_t n, long no) {
    if (blank(s, n)) return TTT_OK;
    char where[4200];
    snprintf(where, sizeof where, "%s:%ld", path, no);
    cJSON *o;
    ttt_status st = ttt_json_parse_object(s, n, where, &o);
    if (st) return st;
    const char *key = x->p->text_key ? x->p->text_key : "text";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) {
        cJSON_Delete(o);
        return ttt_err(TTT_ERR_FORMAT, "%s: no string field '%s' (--text-key)", where, key);
    }
    st = add_doc(x, v->valuestring, strlen(v->valuestring), where);
    cJSON_Delete(o);
    return st;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static ttt_status read_input(prep *x, const char *path) {
    if (ends_with(path, ".jsonl")) return each_line(x, path, jsonl_line);
    if (!ends_with(path, ".txt"))
        return ttt_err(TTT_ERR_ARG, "%s: unknown input type (expected .txt or .jsonl)", path);
    if (x->p->txt_docs == TTT_DATA_TXT_LINE) return each_line(x, path, txt_line);
    char *text;
    size_t len;
    ttt_status st = ttt_read_file(path, MAX_TXT_BYTES, &text, &len);
    if (st) return st;
    st = add_doc(x, text, len, path);
    free(text);
    return st;
}

static ttt_status check_params(const ttt_data_params *p) {
    if (!p || !p->out_dir || !p->encode || (p->n_inputs > 0 && !p->inputs))
        return ttt_err(TTT_ERR_ARG, "data: missing output directory, inputs or tokenizer");
    if (p->n_inputs <= 0) return ttt_err(TTT_ERR_ARG, "data: no input files");
    if (p->n_vocab == 0) return ttt_err(TTT_ERR_ARG, "data: vocab size 0");
    if (p->eos_id >= 0 && (uint32_t)p->eos_id >= p->n_vocab)
        return ttt_err(TTT_ERR_ARG, "data: EOS id %" PRId32 " is not below the vocab size %"
                       PRIu32, p->eos_id, p->n_vocab);
    if (p->txt_docs != TTT_DATA_TXT_FILE && p->txt_docs != TTT_DATA_TXT_LINE)
        return ttt_err(TTT_ERR_ARG, "data: unknown .txt document mode %d", p->txt_docs);
    return TTT_OK;
}

ttt_status ttt_data_prepare(const ttt_data_params *pin, ttt_data_stats *stats) {
    ttt_data_stats dummy;
    if (!stats) stats = &dummy;
    memset(stats, 0, sizeof *stats);
    ttt_status st = check_params(pin);
    if (st) return st;
    ttt_data_params p = *pin;
    if (!p.shard_tokens) p.shard_tokens = DEFAULT_SHARD_TOKENS;
    st = ttt_mkdir_p(p.out_dir);
    if (st) return st;
    prep x = {.p = &p, .stats = stats};
    char path[4096];
    shard_path(&x, 0, path, sizeof path);
    if (access(path, F_OK) == 0)
        return ttt_err(TTT_ERR_ARG, "%s: already holds shards (%s); use an empty directory",
                       p.out_dir, path);
    for (int i = 0; i < p.n_inputs && !st; i++) st = read_input(&x, p.inputs[i]);
    if (!st && !x.w) st = ttt_err(TTT_ERR_ARG, "data: the inputs hold no text");
    if (!st) {
        ttt_shard_writer *w = x.w;
        x.w = NULL;
        st = ttt_shard_writer_commit(w);
        if (!st) stats->n_shards = x.n_shards;
    }
    if (st) {
        ttt_shard_writer_abort(x.w);
        for (int k = 0; k < x.n_shards; k++) {
            shard_path(&x, k, path, sizeof path);
            unlink(path);
        }
        stats->n_shards = 0;
    }
    return st;
}
