/* bpe.c - the BPE model on one pre-token: characters to ids (byte fallback, unk), then merges
 * lowest rank first (leftmost on ties) through a binary heap over a linked list of symbols,
 * as HF's Word::merge_all does; a per-call cache skips words already seen. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/err.h"

#define NOMEM ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory")

typedef struct sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    uint32_t len;       /* bytes; 0 once merged into its left neighbour */
} sym;

/* Heap entries: rank << 32 | left symbol, so the smallest is the lowest rank, leftmost on
 * ties (HF's order); the merged id is looked up again when the entry is popped. */
static void heap_down(uint64_t *h, size_t n, size_t i) {
    uint64_t x = h[i];
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t m = l + 1 < n && h[l + 1] < h[l] ? l + 1 : l;
        if (h[m] >= x) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = x;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= c) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static uint64_t heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0];
    h[0] = h[--*n];
    if (*n) heap_down(h, *n, 0);
    return top;
}

static bool pair_rank(const tok_bpe *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id) {
    uint32_t r, i;
    if (!tok_u64map_get(&m->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, &r, &i))
        return false;
    *rank = r;
    *id = (int32_t)i;
    return true;
}

/* Per-call word cache: word text -> its ids (both in arenas). */
struct tok_word_cache {
    tok_buf keys;       /* word texts back to back */
    tok_ids vals;       /* ids back to back */
    uint64_t *slot;     /* [cap]: entry index + 1, 0 when empty */
    size_t *kofs;       /* [max+1] */
    size_t *vofs;       /* [max+1] */
    uint32_t *klen;     /* [max] */
    uint32_t *vlen;     /* [max] */
    size_t cap, n, max;
};

tok_word_cache *tok_word_cache_new(size_t max_words) {
    tok_word_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->max = max_words;
    c->cap = 16;
    while (c->cap < 2 * max_words) c->cap *= 2;
    c->slot = calloc(c->cap, sizeof *c->slot);
    c->kofs = malloc(max_words * sizeof *c->kofs);
    c->vofs = malloc(max_words * sizeof *c->vofs);
    c->klen = malloc(max_words * sizeof *c->klen);
    c->vlen = malloc(max_words * sizeof *c->vlen);
    if (!c->slot || !c->kofs || !c->vofs || !c->klen || !c->vlen) {
        tok_word_cache_free(c);
        return NULL;
    }
    return c;
}

void tok_word_cache_free(tok_word_cache *c) {
    if (!c) return;
    tok_buf_free(&c->keys);
    tok_ids_free(&c->vals);
    free(c->slot);
    free(c->kofs);
    free(c->vofs);
    free(c->klen);
    free(c->vlen);
    free(c);
}

/* Words up to this many bytes are cached (HF's MAX_LENGTH is 256 too). */
#define CACHE_MAX_WORD 256

static size_t cache_find(const tok_word_cache *c, const char *w, size_t n, bool *hit) {
    size_t mask = c->cap - 1;
    for (size_t i = tok_hash(w, n) & mask;; i = (i + 1) & mask) {
        uint64_t e = c->slot[i];
        if (!e) {
            *hit = false;
            return i;
        }
        e--;
        if (c->klen[e] == n && !memcmp(c->keys.p + c->kofs[e], w, n)) {
            *hit = true;
            return i;
        }
    }
}

static ttt_status merge_word(const tok_bpe *m, const char *w, size_t n, tok_ids *out) {
    sym local_s[64];
    uint64_t local_h[128];
    sym *s = local_s;
    uint64_t *h = local_h;
    if (n > 64) {
        s = malloc(n * sizeof *s);
        h = malloc(2 * n * sizeof *h);
        if (!s || !h) {
            if (s != local_s) free(s);
            if (h != local_h) free(h);
            return NOMEM;
        }
    }
    int32_t ns = 0;
    int32_t unk = -1;
    uint32_t unk_len = 0;
    ttt_status r = TTT_OK;
#define ADD(ID, LEN) (s[ns] = (sym){(ID), ns - 1, ns + 1, (LEN)}, ns++)
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t cl = tok_utf8_next(w + i, n - i, &cp);
        int32_t id = tok_strmap_get(&m->vocab, w + i, cl);
        if (id >= 0) {
            if (unk >= 0) ADD(unk, unk_len);
            unk = -1;
            ADD(id, (uint32_t)cl);
        } else {
            bool done = false;
            if (m->byte_fallback) {
                done = true;
                for (size_t k = 0; k < cl; k++)
                    if (m->byte_id[(unsigned char)w[i + k]] < 0) done = false;
                if (done) {
                    /* HF flushes no pending unk here: byte tokens go straight in */
                    for (size_t k = 0; k < cl; k++) ADD(m->byte_id[(unsigned char)w[i + k]], 1);
                }
            }
            if (!done && m->unk_id >= 0) {
                if (unk >= 0 && m->fuse_unk) {
                    unk_len += (uint32_t)cl;
                } else {
                    if (unk >= 0) ADD(unk, unk_len);
                    unk = m->unk_id;
                    unk_len = (uint32_t)cl;
                }
            }
        }
        i += cl;
    }
    if (unk >= 0) ADD(unk, unk_len);
#undef ADD
    if (ns > 0) s[ns - 1].next = -1;
    size_t nh = 0;
    uint32_t rank;
    int32_t id;
    for (int32_t i = 0; i + 1 < ns; i++)
        if (pair_rank(m, s[i].id, s[i + 1].id, &rank, &id)) h[nh++] = (uint64_t)rank << 32 | (uint32_t)i;
    for (size_t i = nh / 2; i-- > 0;) heap_down(h, nh, i); /* Floyd's heap construction */
    while (nh > 0) {
        uint64_t top = heap_pop(h, &nh);
        int32_t pos = (int32_t)(uint32_t)top;
        sym *a = &s[pos];
        if (a->len == 0 || a->next < 0) continue;
        sym *b = &s[a->next];
        /* stale when the pair there changed: ranks name pairs one to one */
        if (!pair_rank(m, a->id, b->id, &rank, &id) || rank != (uint32_t)(top >> 32)) continue;
        a->id = id;
        a->len += b->len;
        a->next = b->next;
        b->len = 0;
        if (a->next >= 0) s[a->next].prev = pos;
        if (a->prev >= 0 && pair_rank(m, s[a->prev].id, a->id, &rank, &id))
            heap_push(h, &nh, (uint64_t)rank << 32 | (uint32_t)a->prev);
        if (a->next >= 0 && pair_rank(m, a->id, s[a->next].id, &rank, &id))
            heap_push(h, &nh, (uint64_t)rank << 32 | (uint32_t)pos);
    }
    for (int32_t i = 0; ns > 0 && i >= 0; i = s[i].next)
        if (!tok_ids_push(out, s[i].id)) {
            r = NOMEM;
            break;
        }
    if (s != local_s) free(s);
    if (h != local_h) free(h);
    return r;
}

/* The cached path for one word (or one independent piece of it). */
static ttt_status cached_word(const tok_bpe *m, tok_word_cache *cache, const char *w, size_t n,
                              tok_ids *out) {
    if (!cache || n > CACHE_MAX_WORD) return merge_word(m, w, n, out);
    bool hit;
    size_t slot = cache_find(cache, w, n, &hit);
    if (hit) {
        size_t e = cache->slot[slot] - 1;
        for (uint32_t k = 0; k < cache->vlen[e]; k++)
            if (!tok_ids_push(out, cache->vals.p[cache->vofs[e] + k])) return NOMEM;
        return TTT_OK;
    }
    size_t before = out->n;
    ttt_status r = merge_word(m, w, n, out);
    if (r != TTT_OK || cache->n >= cache->max) return r;
    size_t e = cache->n;
    cache->kofs[e] = cache->keys.len;
    cache->vofs[e] = cache->vals.n;
    if (!tok_buf_put(&cache->keys, w, n)) return NOMEM;
    for (size_t k = before; k < out->n; k++)
        if (!tok_ids_push(&cache->vals, out->p[k])) return NOMEM;
    cache->klen[e] = (uint32_t)n;
    cache->vlen[e] = (uint32_t)(out->n - before);
    cache->slot[slot] = e + 1;
    cache->n++;
    return TTT_OK;
}

#define SINGLE(c) (0xffffffffull << 32 | (c))

bool tok_bpe_pairs_init(tok_bpe *m) {
    if (!tok_u64map_init(&m->pairs, 1024)) return false;
    for (int32_t i = 0; i < m->n_vocab; i++) {
        const char *t = m->str[i];
        size_t n = t ? m->len[i] : 0, k = 0;
        uint32_t prev = 0, cp;
        for (bool have = false; k < n; have = true) {
            size_t cl = tok_utf8_next(t + k, n - k, &cp);
            if (have && !tok_u64map_put(&m->pairs, (uint64_t)prev << 32 | cp, 1, 0)) return false;
            prev = cp;
            k += cl;
            if (k == cl && k == n && !tok_u64map_put(&m->pairs, SINGLE(cp), 1, 0)) return false;
        }
    }
    return true;
}

/* Words longer than this are cut where no merge can reach across (SentencePiece-style
 * tokenizers have no pre-tokenizer: a whole text is one word). */
#define CUT_MIN_WORD 64

/* A cut between code points a and b is exact: both are tokens of their own (so they enter
 * BPE as themselves, not as byte fallback or unk) and no token holds "ab", so no merge
 * result can cover both and the two sides merge independently. */
ttt_status tok_bpe_word(const tok_bpe *m, tok_word_cache *cache, const char *w, size_t n,
                        tok_ids *out) {
    if (n == 0) return TTT_OK;
    if (m->ignore_merges) {
        int32_t id = tok_strmap_get(&m->vocab, w, n);
        if (id >= 0) return tok_ids_push(out, id) ? TTT_OK : NOMEM;
    }
    if (n < CUT_MIN_WORD || !m->pairs.key) return cached_word(m, cache, w, n, out);
    uint32_t v0, v1, prev = 0, cp;
    bool prev_single = false;
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = tok_utf8_next(w + i, n - i, &cp);
        bool single = tok_u64map_get(&m->pairs, SINGLE(cp), &v0, &v1);
        if (i > start && prev_single && single &&
            !tok_u64map_get(&m->pairs, (uint64_t)prev << 32 | cp, &v0, &v1)) {
            ttt_status r = cached_word(m, cache, w + start, i - start, out);
            if (r != TTT_OK) return r;
            start = i;
        }
        prev = cp;
        prev_single = single;
        i += cl;
    }
    return cached_word(m, cache, w + start, n - start, out);
}

void tok_bpe_free(tok_bpe *m) {
    free(m->str);
    free(m->len);
    free(m->arena);
    tok_strmap_free(&m->vocab);
    tok_u64map_free(&m->merges);
    tok_u64map_free(&m->pairs);
    memset(m, 0, sizeof *m);
}
