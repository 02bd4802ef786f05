/* pretok.c - pre-tokenizers: Split (regex or literal, the five behaviours, invert),
 * ByteLevel (GPT-2 byte alphabet, optional own regex and prefix space), Metaspace. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/err.h"

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 map
 * in order to U+0100 upwards. */
static tok_bytechar g_bytechar[256];
static int16_t g_cpbyte[324]; /* code point -> byte, -1 */
static int g_bytelevel_ready;

static void bytelevel_init(void) {
    int next = 256;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        uint32_t cp = keep ? (uint32_t)b : (uint32_t)next++;
        g_bytechar[b].len = (uint8_t)tok_utf8_put(g_bytechar[b].s, cp);
    }
    for (int i = 0; i < 324; i++) g_cpbyte[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t cp;
        tok_utf8_next(g_bytechar[b].s, g_bytechar[b].len, &cp);
        g_cpbyte[cp] = (int16_t)b;
    }
    __atomic_store_n(&g_bytelevel_ready, 1, __ATOMIC_RELEASE);
}

/* Called once at tokenizer load (single-threaded then); later calls only read. */
const tok_bytechar *tok_bytelevel_table(void) {
    if (!__atomic_load_n(&g_bytelevel_ready, __ATOMIC_ACQUIRE)) bytelevel_init();
    return g_bytechar;
}

int tok_bytelevel_byte(uint32_t cp) {
    tok_bytelevel_table();
    return cp < 324 ? g_cpbyte[cp] : -1;
}

#define NOMEM ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory")

typedef struct seg {
    size_t a, b;
    bool match;
} seg;

typedef struct segs {
    seg *p;
    size_t n, cap;
} segs;

static bool segs_push(segs *v, size_t a, size_t b, bool match) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        seg *p = realloc(v->p, cap * sizeof *p);
        if (!p) return false;
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = (seg){a, b, match};
    return true;
}

/* HF's NormalizedString::split: the matches and the gaps between them, then the behaviour
 * decides what joins what; empty pieces are dropped. */
static ttt_status split_piece(const char *s, size_t n, bool first, const tok_spans *m,
                              tok_split_behavior beh, bool invert, segs *v, tok_list *out) {
    v->n = 0;
    size_t at = 0;
    for (size_t i = 0; i < m->n; i++) {
        size_t a = m->p[2 * i], b = m->p[2 * i + 1];
        if (a > at && !segs_push(v, at, a, invert)) return NOMEM;
        if (!segs_push(v, a, b, !invert)) return NOMEM;
        at = b;
    }
    if (at < n && !segs_push(v, at, n, invert)) return NOMEM;
    size_t k = 0; /* pieces kept, in place: p[i].match now means "remove" */
    bool prev = false;
    if (beh == TOK_SPLIT_MERGED_NEXT) {
        /* fold from the right: a match joins the piece after it */
        seg *p = v->p;
        size_t w = v->n;
        for (size_t i = v->n; i-- > 0;) {
            bool mt = p[i].match;
            if (mt && !prev && w < v->n) p[w].a = p[i].a;
            else p[--w] = (seg){p[i].a, p[i].b, false};
            prev = mt;
        }
        memmove(p, p + w, (v->n - w) * sizeof *p);
        k = v->n - w;
    } else {
        for (size_t i = 0; i < v->n; i++) {
            seg g = v->p[i];
            bool join = false;
            if (beh == TOK_SPLIT_CONTIGUOUS) join = g.match == prev && k > 0;
            else if (beh == TOK_SPLIT_MERGED_PREV) join = g.match && !prev && k > 0;
            prev = g.match;
            if (join) {
                v->p[k - 1].b = g.b;
                continue;
            }
            v->p[k++] = (seg){g.a, g.b, beh == TOK_SPLIT_REMOVED && g.match};
        }
    }
    for (size_t i = 0; i < k; i++) {
        seg g = v->p[i];
        if (g.match || g.a == g.b) continue;
        if (!tok_list_push(out, s + g.a, g.b - g.a, first && g.a == 0)) return NOMEM;
    }
    return TTT_OK;
}

static ttt_status run_split(const tok_pretok *st, tok_match_ctx *c, const tok_list *in,
                            tok_list *out) {
    tok_spans sp = {0};
    segs v = {0};
    ttt_status r = TTT_OK;
    for (size_t i = 0; i < in->n && r == TTT_OK; i++) {
        size_t a = tok_list_start(in, i);
        const char *s = in->text.p + a;
        size_t n = in->end[i] - a;
        r = tok_find_all(&st->pat, c, s, n, &sp);
        if (r == TTT_OK) r = split_piece(s, n, in->first[i], &sp, st->behavior, st->invert, &v, out);
    }
    tok_spans_free(&sp);
    free(v.p);
    return r;
}

static ttt_status run_bytelevel(const tok_pretok *st, tok_match_ctx *c, const tok_list *in,
                                tok_list *out, tok_list *tmp) {
    const tok_bytechar *tab = tok_bytelevel_table();
    const tok_list *src = in;
    if (st->add_prefix_space || st->use_regex) {
        tok_list_clear(tmp);
        tok_buf one = {0};
        tok_spans sp = {0};
        segs v = {0};
        ttt_status r = TTT_OK;
        for (size_t i = 0; i < in->n && r == TTT_OK; i++) {
            size_t a = tok_list_start(in, i);
            const char *s = in->text.p + a;
            size_t n = in->end[i] - a;
            if (st->add_prefix_space && (n == 0 || s[0] != ' ')) {
                one.len = 0;
                if (!tok_buf_put(&one, " ", 1) || !tok_buf_put(&one, s, n)) r = NOMEM;
                s = one.p;
                n = one.len;
            }
            if (r != TTT_OK) break;
            if (st->use_regex) {
                r = tok_find_all(&st->pat, c, s, n, &sp);
                if (r == TTT_OK)
                    r = split_piece(s, n, in->first[i], &sp, TOK_SPLIT_ISOLATED, false, &v, tmp);
            } else if (!tok_list_push(tmp, s, n, in->first[i])) {
                r = NOMEM;
            }
        }
        tok_buf_free(&one);
        tok_spans_free(&sp);
        free(v.p);
        if (r != TTT_OK) return r;
        src = tmp;
    }
    tok_list_clear(out);
    for (size_t i = 0; i < src->n; i++) {
        size_t a = tok_list_start(src, i), n = src->end[i] - a;
        const unsigned char *s = (const unsigned char *)src->text.p + a;
        /* push an empty piece, then write its bytes in place */
        if (!tok_list_push(out, "", 0, src->first[i]) || !tok_buf_reserve(&out->text, 2 * n))
            return NOMEM;
        char *d0 = out->text.p + out->text.len, *d = d0;
        for (size_t j = 0; j < n; j++) {
            const tok_bytechar *bc = &tab[s[j]];
            d[0] = bc->s[0];
            d[1] = bc->s[1];
            d += bc->len;
        }
        out->text.len += (size_t)(d - d0);
        out->text.p[out->text.len] = '\0';
        out->end[out->n - 1] = out->text.len;
    }
    return TTT_OK;
}

static ttt_status run_metaspace(const tok_pretok *st, const tok_list *in, tok_list *out) {
    size_t rl = strlen(st->replacement);
    tok_buf one = {0};
    tok_spans sp = {0};
    segs v = {0};
    tok_pattern lit = {.str = (char *)st->replacement, .len = rl};
    ttt_status r = TTT_OK;
    for (size_t i = 0; i < in->n && r == TTT_OK; i++) {
        size_t a = tok_list_start(in, i), n = in->end[i] - a;
        const char *s = in->text.p + a;
        one.len = 0;
        bool starts = n >= rl && !memcmp(s, st->replacement, rl);
        bool pre = st->prepend == TOK_PREPEND_ALWAYS ||
                   (st->prepend == TOK_PREPEND_FIRST && in->first[i]);
        /* the replacement of a leading space counts as "starts with" too */
        if (pre && !starts && !(n > 0 && s[0] == ' ') && !tok_buf_put(&one, st->replacement, rl))
            r = NOMEM;
        for (size_t j = 0; j < n && r == TTT_OK; j++) {
            bool ok = s[j] == ' ' ? tok_buf_put(&one, st->replacement, rl)
                                  : tok_buf_put(&one, s + j, 1);
            if (!ok) r = NOMEM;
        }
        if (r != TTT_OK) break;
        if (!one.p && !tok_buf_put(&one, "", 0)) r = NOMEM;
        if (r != TTT_OK) break;
        if (st->split) {
            r = tok_find_all(&lit, NULL, one.p, one.len, &sp);
            if (r == TTT_OK)
                r = split_piece(one.p, one.len, in->first[i], &sp, TOK_SPLIT_MERGED_NEXT, false,
                                &v, out);
        } else if (!tok_list_push(out, one.p, one.len, in->first[i])) {
            r = NOMEM;
        }
    }
    tok_buf_free(&one);
    tok_spans_free(&sp);
    free(v.p);
    return r;
}

ttt_status tok_pretokenize(const tok_pretok *stages, int n, tok_match_ctx *c, tok_list *in,
                           tok_list *tmp) {
    tok_list aux = {0};
    ttt_status r = TTT_OK;
    for (int i = 0; i < n && r == TTT_OK; i++) {
        tok_list_clear(tmp);
        switch (stages[i].kind) {
        case TOK_PRE_SPLIT: r = run_split(&stages[i], c, in, tmp); break;
        case TOK_PRE_BYTELEVEL: r = run_bytelevel(&stages[i], c, in, tmp, &aux); break;
        case TOK_PRE_METASPACE: r = run_metaspace(&stages[i], in, tmp); break;
        }
        tok_list swap = *in;
        *in = *tmp;
        *tmp = swap;
    }
    tok_list_free(&aux);
    return r;
}
