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

typedef struct cand {
    uint32_t rank;
    int32_t pos;   /* left symbol */
    int32_t id;    /* what the pair makes */
} cand;

static bool cand_less(cand a, cand b) {
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(c, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= *n) break;
        size_t m = l + 1 < *n && cand_less(h[l + 1], h[l]) ? l + 1 : l;
        if (!cand_less(h[m], last)) break;
        h[i] = h[m];
        i = m;
    }
    if (*n) h[i] = last;
    return top;
}

static bool pair_rank(const tok_bpe *m, int32_t a, int32_t b, cand *c, int32_t pos) {
    uint32_t rank, id;
    if (!tok_u64map_get(&m->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, &rank, &id))
        return false;
    *c = (cand){rank, pos, (int32_t)id};
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
    cand local_h[128];
    sym *s = local_s;
    cand *h = local_h;
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
    for (int32_t i = 0; i + 1 < ns; i++) {
        cand c;
        if (pair_rank(m, s[i].id, s[i + 1].id, &c, i)) heap_push(h, &nh, c);
    }
    while (nh > 0) {
        cand top = heap_pop(h, &nh);
        sym *a = &s[top.pos];
        if (a->len == 0 || a->next < 0) continue;
        sym *b = &s[a->next];
        cand now;
        if (!pair_rank(m, a->id, b->id, &now, top.pos) || now.id != top.id) continue;
        a->id = top.id;
        a->len += b->len;
        a->next = b->next;
        b->len = 0;
        if (a->next >= 0) s[a->next].prev = top.pos;
        if (a->prev >= 0 && pair_rank(m, s[a->prev].id, a->id, &now, a->prev))
            heap_push(h, &nh, now);
        if (a->next >= 0 && pair_rank(m, a->id, s[a->next].id, &now, top.pos))
            heap_push(h, &nh, now);
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

ttt_status tok_bpe_word(const tok_bpe *m, tok_word_cache *cache, const char *w, size_t n,
                        tok_ids *out) {
    if (n == 0) return TTT_OK;
    if (m->ignore_merges) {
        int32_t id = tok_strmap_get(&m->vocab, w, n);
        if (id >= 0) return tok_ids_push(out, id) ? TTT_OK : NOMEM;
    }
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

void tok_bpe_free(tok_bpe *m) {
    free(m->str);
    free(m->len);
    free(m->arena);
    tok_strmap_free(&m->vocab);
    tok_u64map_free(&m->merges);
    memset(m, 0, sizeof *m);
}
