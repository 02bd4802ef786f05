/* tables.c - the tokenizer's containers: growable strings and string lists, and two
 * open-addressing hash maps (token text -> id; 64-bit key -> two values). */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"

bool tok_buf_reserve(tok_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap && b->p) return true;
    if (extra > SIZE_MAX / 4 - b->len) return false;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

bool tok_buf_put(tok_buf *b, const void *s, size_t n) {
    if (!tok_buf_reserve(b, n)) return false;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

void tok_buf_free(tok_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

bool tok_list_push(tok_list *l, const char *s, size_t n, bool first) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        size_t *e = realloc(l->end, cap * sizeof *e);
        if (!e) return false;
        l->end = e;
        uint8_t *f = realloc(l->first, cap);
        if (!f) return false;
        l->first = f;
        l->cap = cap;
    }
    if (!tok_buf_put(&l->text, s, n)) return false;
    l->end[l->n] = l->text.len;
    l->first[l->n] = first;
    l->n++;
    return true;
}

void tok_list_clear(tok_list *l) {
    l->n = 0;
    l->text.len = 0;
}

void tok_list_free(tok_list *l) {
    tok_buf_free(&l->text);
    free(l->end);
    free(l->first);
    memset(l, 0, sizeof *l);
}

bool tok_ids_push(tok_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) return false;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = id;
    return true;
}

void tok_ids_free(tok_ids *v) {
    free(v->p);
    memset(v, 0, sizeof *v);
}

/* 8 bytes at a time with a multiply-xorshift mix: token strings are short, and this is on
 * the per-word path. */
uint64_t tok_hash(const void *s, size_t n) {
    const unsigned char *p = s;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

bool tok_strmap_init(tok_strmap *m, size_t n, const char *const *strs, const uint32_t *lens) {
    m->cap = pow2_at_least(n * 2 + 1);
    m->slot = malloc(m->cap * sizeof *m->slot);
    m->strs = strs;
    m->lens = lens;
    if (!m->slot) return false;
    memset(m->slot, 0xff, m->cap * sizeof *m->slot);
    return true;
}

bool tok_strmap_put(tok_strmap *m, int32_t id) {
    const char *s = m->strs[id];
    size_t n = m->lens[id];
    size_t mask = m->cap - 1;
    for (size_t i = tok_hash(s, n) & mask, k = 0; k < m->cap; i = (i + 1) & mask, k++) {
        int32_t o = m->slot[i];
        if (o < 0 || (m->lens[o] == n && !memcmp(m->strs[o], s, n))) {
            m->slot[i] = id;
            return true;
        }
    }
    return false;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *s, size_t n) {
    if (!m->slot) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = tok_hash(s, n) & mask;; i = (i + 1) & mask) {
        int32_t o = m->slot[i];
        if (o < 0) return -1;
        if (m->lens[o] == n && !memcmp(m->strs[o], s, n)) return o;
    }
}

void tok_strmap_free(tok_strmap *m) {
    free(m->slot);
    memset(m, 0, sizeof *m);
}

static inline size_t mix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k;
}

bool tok_u64map_init(tok_u64map *m, size_t n_max) {
    memset(m, 0, sizeof *m);
    m->cap = pow2_at_least(n_max * 2 + 1);
    m->key = malloc(m->cap * sizeof *m->key);
    m->v0 = malloc(m->cap * sizeof *m->v0);
    m->v1 = malloc(m->cap * sizeof *m->v1);
    if (!m->key || !m->v0 || !m->v1) {
        tok_u64map_free(m);
        return false;
    }
    memset(m->key, 0xff, m->cap * sizeof *m->key);
    return true;
}

static void put_slot(tok_u64map *m, uint64_t key, uint32_t v0, uint32_t v1) {
    size_t mask = m->cap - 1;
    size_t i = mix64(key) & mask;
    while (m->key[i] != UINT64_MAX && m->key[i] != key) i = (i + 1) & mask;
    if (m->key[i] == UINT64_MAX) m->n++;
    m->key[i] = key;
    m->v0[i] = v0;
    m->v1[i] = v1;
}

/* Grows (doubling) when more than half full. */
bool tok_u64map_put(tok_u64map *m, uint64_t key, uint32_t v0, uint32_t v1) {
    if ((m->n + 1) * 2 > m->cap) {
        tok_u64map old = *m;
        if (!tok_u64map_init(m, old.cap)) {
            *m = old;
            return false;
        }
        for (size_t i = 0; i < old.cap; i++)
            if (old.key[i] != UINT64_MAX) put_slot(m, old.key[i], old.v0[i], old.v1[i]);
        tok_u64map_free(&old);
    }
    put_slot(m, key, v0, v1);
    return true;
}

bool tok_u64map_get(const tok_u64map *m, uint64_t key, uint32_t *v0, uint32_t *v1) {
    if (!m->key) return false;
    size_t mask = m->cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask) {
        if (m->key[i] == key) {
            *v0 = m->v0[i];
            *v1 = m->v1[i];
            return true;
        }
        if (m->key[i] == UINT64_MAX) return false;
    }
}

void tok_u64map_free(tok_u64map *m) {
    free(m->key);
    free(m->v0);
    free(m->v1);
    memset(m, 0, sizeof *m);
}
