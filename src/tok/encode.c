/* encode.c - text to ids, HF's order: added tokens split out of the raw text, each remaining
 * run normalized, normalized added tokens split out, pre-tokenized, BPE per pre-token; then
 * the post-processor. Also the tokenizer's small accessors. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/err.h"
#include "util/utf8.h"

#define NOMEM ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory")

/* Texts from this size on get a word cache (building one costs more than short texts gain). */
#define CACHE_MIN_TEXT 4096
#define CACHE_WORDS 65536

typedef struct enc_ctx {
    const ttt_tokenizer *t;
    tok_match_ctx mc;
    tok_word_cache *cache;
    tok_buf norm, ntmp;
    tok_pre_scratch pre;
    tok_ids *out;
    bool skip_special;
} enc_ctx;

static ttt_status on_pretoken(void *ctx, const char *s, size_t n, bool first) {
    enc_ctx *e = ctx;
    return tok_bpe_word(&e->t->bpe, e->cache, s, n, e->out);
}

static ttt_status encode_run(enc_ctx *e, const char *s, size_t n, bool first) {
    const ttt_tokenizer *t = e->t;
    return tok_pretokenize(t->pre, t->n_pre, &e->mc, &e->pre, s, n, first, on_pretoken, e);
}

static ttt_status on_normalized(void *ctx, const char *s, size_t n, int added, bool first) {
    enc_ctx *e = ctx;
    if (added >= 0) return tok_ids_push(e->out, e->t->added[added].id) ? TTT_OK : NOMEM;
    return encode_run(e, s, n, first);
}

static ttt_status on_raw(void *ctx, const char *s, size_t n, int added, bool first) {
    enc_ctx *e = ctx;
    const ttt_tokenizer *t = e->t;
    if (added >= 0) return tok_ids_push(e->out, t->added[added].id) ? TTT_OK : NOMEM;
    ttt_status r = tok_normalize(t->norm, t->n_norm, &e->mc, s, n, &e->norm, &e->ntmp);
    if (r != TTT_OK) return r;
    if (e->norm.len == 0) return TTT_OK;
    return tok_added_split(&t->trie_norm, t->added, e->norm.p, e->norm.len, first,
                           e->skip_special, on_normalized, e);
}

static ttt_status post_process(const ttt_tokenizer *t, tok_ids *ids) {
    tok_ids res = {0};
    bool ok = true;
    if (t->has_post) {
        for (int i = 0; i < t->n_post && ok; i++) {
            if (t->post_single[i] >= 0) {
                ok = tok_ids_push(&res, t->post_single[i]);
                continue;
            }
            for (size_t k = 0; k < ids->n && ok; k++) ok = tok_ids_push(&res, ids->p[k]);
        }
    } else {
        if (t->add_bos && t->bos_id >= 0) ok = tok_ids_push(&res, t->bos_id);
        for (size_t k = 0; k < ids->n && ok; k++) ok = tok_ids_push(&res, ids->p[k]);
        if (ok && t->add_eos && t->eos_id >= 0) ok = tok_ids_push(&res, t->eos_id);
    }
    if (!ok) {
        tok_ids_free(&res);
        return NOMEM;
    }
    tok_ids_free(ids);
    *ids = res;
    return TTT_OK;
}

ttt_status ttt_tokenize(const ttt_tokenizer *t, const char *text, size_t len, int flags,
                        int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    if (!t || (len && !text)) return ttt_err(TTT_ERR_ARG, "tokenize: NULL argument");
    size_t bad;
    if (!ttt_utf8_valid(text, len, &bad))
        return ttt_err(TTT_ERR_ARG, "tokenize: the text is not valid UTF-8 at byte offset %zu",
                       bad);
    tok_ids out = {0};
    enc_ctx e = {.t = t, .out = &out, .skip_special = (flags & TTT_TOK_NO_SPECIAL) != 0};
    ttt_status r = tok_match_ctx_init(&e.mc);
    if (r == TTT_OK && len >= CACHE_MIN_TEXT && !(e.cache = tok_word_cache_new(CACHE_WORDS)))
        r = NOMEM;
    if (r == TTT_OK && len > 0)
        r = tok_added_split(&t->trie_raw, t->added, text, len, true, e.skip_special, on_raw, &e);
    if (r == TTT_OK && (flags & TTT_TOK_ADD_SPECIAL)) r = post_process(t, &out);
    tok_match_ctx_free(&e.mc);
    tok_word_cache_free(e.cache);
    tok_buf_free(&e.norm);
    tok_buf_free(&e.ntmp);
    tok_pre_scratch_free(&e.pre);
    if (r != TTT_OK) {
        tok_ids_free(&out);
        return r;
    }
    if (!out.p && !(out.p = malloc(sizeof *out.p))) return NOMEM;
    *ids = out.p;
    *n_ids = out.n;
    return TTT_OK;
}

int ttt_tokenizer_n_vocab(const ttt_tokenizer *t) { return t->n_ids; }

const char *ttt_tokenizer_token(const ttt_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids ? t->id_str[id] : NULL;
}

int32_t ttt_tokenizer_find(const ttt_tokenizer *t, const char *token) {
    return tok_strmap_get(&t->id_map, token, strlen(token));
}

int ttt_tokenizer_is_special(const ttt_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && t->id_special[id];
}

int32_t ttt_tokenizer_bos(const ttt_tokenizer *t) { return t->bos_id; }
int32_t ttt_tokenizer_eos(const ttt_tokenizer *t) { return t->eos_id; }

int ttt_tokenizer_is_eog(const ttt_tokenizer *t, int32_t id) {
    for (int i = 0; i < t->n_eos; i++)
        if (t->eos_ids[i] == id) return 1;
    return 0;
}

int ttt_tokenizer_eog_ids(const ttt_tokenizer *t, const int32_t **ids) {
    *ids = t->eos_ids;
    return t->n_eos;
}

void ttt_tokenizer_gen_defaults(const ttt_tokenizer *t, ttt_gen_defaults *g) {
    g->temperature = t->temperature;
    g->top_p = t->top_p;
    g->top_k = t->top_k;
    g->has_temperature = (t->gen_flags & 1) != 0;
    g->has_top_p = (t->gen_flags & 2) != 0;
    g->has_top_k = (t->gen_flags & 4) != 0;
}
