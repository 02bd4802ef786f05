/* added.c - added tokens: found before pre-tokenization by a leftmost-longest scan over a
 * byte trie, with HF's single_word, lstrip and rstrip rules. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok/tok.h"
#include "util/err.h"

ttt_status tok_trie_build(tok_trie *t, const tok_added *added, int n_added, bool normalized) {
    memset(t, 0, sizeof *t);
    size_t total = 1;
    for (int i = 0; i < n_added; i++)
        if (added[i].normalized == normalized)
            total += normalized ? added[i].norm_len : added[i].len;
    if (!tok_u64map_init(&t->edges, total) || !(t->term = malloc(total * sizeof *t->term)))
        return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
    t->n_nodes = 1;
    t->term[0] = -1;
    for (int i = 0; i < n_added; i++) {
        if (added[i].normalized != normalized) continue;
        const unsigned char *s = (const unsigned char *)(normalized ? added[i].norm : added[i].content);
        size_t n = normalized ? added[i].norm_len : added[i].len;
        if (n == 0) continue;
        uint32_t node = 0;
        for (size_t k = 0; k < n; k++) {
            uint32_t child, unused;
            uint64_t key = (uint64_t)node << 8 | s[k];
            if (!tok_u64map_get(&t->edges, key, &child, &unused)) {
                child = t->n_nodes++;
                t->term[child] = -1;
                if (!tok_u64map_put(&t->edges, key, child, 0))
                    return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
            }
            node = child;
        }
        /* the same text twice: the later entry wins, as in HF's map */
        t->term[node] = i;
        t->first[s[0] >> 3] |= (uint8_t)(1u << (s[0] & 7));
    }
    return TTT_OK;
}

void tok_trie_free(tok_trie *t) {
    tok_u64map_free(&t->edges);
    free(t->term);
    memset(t, 0, sizeof *t);
}

/* Rust regex's \w (alphabetic, marks, decimal digits, connector punctuation) and \s (the
 * White_Space property), through utf8proc's categories. */
static bool is_word(uint32_t cp) {
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
        return true;
    default:
        return cp == 0x200c || cp == 0x200d;
    }
}

static bool is_space(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

/* The code point that ends s[0..n) (n > 0, well-formed UTF-8). */
static uint32_t last_cp(const char *s, size_t n, size_t *at) {
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80) i--;
    uint32_t cp;
    tok_utf8_next(s + i, n - i, &cp);
    *at = i;
    return cp;
}

ttt_status tok_added_split(const tok_trie *t, const tok_added *added, const char *s, size_t n,
                           bool first, bool skip_special, tok_seg_fn cb, void *ctx) {
    size_t done = 0; /* everything before this has been handed out */
    size_t p = 0;
    ttt_status r;
    while (p < n && t->n_nodes > 1) {
        unsigned char b = (unsigned char)s[p];
        if (!(t->first[b >> 3] & (1u << (b & 7)))) {
            p++;
            continue;
        }
        uint32_t node = 0, child, unused;
        int best = -1;
        size_t best_end = 0;
        for (size_t k = p; k < n; k++) {
            if (!tok_u64map_get(&t->edges, (uint64_t)node << 8 | (unsigned char)s[k], &child,
                                &unused))
                break;
            node = child;
            if (t->term[node] >= 0) {
                best = t->term[node];
                best_end = k + 1;
            }
        }
        if (best < 0) {
            p++;
            continue;
        }
        const tok_added *a = &added[best];
        size_t start = p, stop = best_end;
        p = best_end;
        if (skip_special && a->special) continue;
        if (a->single_word) {
            size_t at;
            uint32_t cp;
            bool start_ok = start == 0 || !is_word(last_cp(s, start, &at));
            bool stop_ok = stop == n || (tok_utf8_next(s + stop, n - stop, &cp), !is_word(cp));
            if (!start_ok || !stop_ok) continue;
        }
        if (a->lstrip) {
            size_t ns = start, at;
            while (ns > done && is_space(last_cp(s, ns, &at))) ns = at;
            start = ns;
        }
        if (a->rstrip) {
            uint32_t cp;
            while (stop < n) {
                size_t cl = tok_utf8_next(s + stop, n - stop, &cp);
                if (!is_space(cp)) break;
                stop += cl;
            }
            p = stop;
        }
        if (start > done && (r = cb(ctx, s + done, start - done, -1, first && done == 0)) != TTT_OK)
            return r;
        if ((r = cb(ctx, s + start, stop - start, best, false)) != TTT_OK) return r;
        done = stop;
    }
    if (done < n) return cb(ctx, s + done, n - done, -1, first && done == 0);
    return TTT_OK;
}
