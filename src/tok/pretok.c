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

/* One level of the pipeline: hands a piece to stage `stage` (or to fn past the last). */
typedef struct pipe {
    const tok_pretok *stages;
    int n;
    tok_match_ctx *c;
    tok_pre_scratch *scr;
    tok_piece_fn fn;
    void *ctx;
} pipe;

static ttt_status run_stage(const pipe *p, int stage, const char *s, size_t n, bool first);

static ttt_status emit(const pipe *p, int stage, const char *s, size_t n, bool first) {
    if (n == 0) return TTT_OK; /* HF drops empty pieces */
    return stage == p->n ? p->fn(p->ctx, s, n, first) : run_stage(p, stage, s, n, first);
}

/* HF's NormalizedString::split, streamed: the matches and the gaps between them arrive in
 * order as segments, and each behaviour needs to hold back at most one piece. */
typedef ttt_status (*sink_fn)(const pipe *p, int stage, const char *s, size_t n, bool first);

typedef struct splitter {
    const pipe *p;
    sink_fn sink;            /* where the pieces go: emit, or ByteLevel's mapping */
    int next;                /* the stage sink gets */
    const char *s;
    bool first;
    tok_split_behavior beh;
    bool pending;            /* a piece held back: [pa, pb) */
    size_t pa, pb;
    bool prev_match;         /* the last segment was a match */
} splitter;

static ttt_status flush(splitter *sp) {
    if (!sp->pending) return TTT_OK;
    sp->pending = false;
    return sp->sink(sp->p, sp->next, sp->s + sp->pa, sp->pb - sp->pa, sp->first && sp->pa == 0);
}

static ttt_status hold(splitter *sp, size_t a, size_t b) {
    ttt_status r = flush(sp);
    sp->pending = true;
    sp->pa = a;
    sp->pb = b;
    return r;
}

static ttt_status segment(splitter *sp, size_t a, size_t b, bool m) {
    ttt_status r = TTT_OK;
    bool prev = sp->prev_match;
    sp->prev_match = m;
    switch (sp->beh) {
    case TOK_SPLIT_ISOLATED:
        return sp->sink(sp->p, sp->next, sp->s + a, b - a, sp->first && a == 0);
    case TOK_SPLIT_REMOVED:
        return m ? TTT_OK : sp->sink(sp->p, sp->next, sp->s + a, b - a, sp->first && a == 0);
    case TOK_SPLIT_CONTIGUOUS:
        if (sp->pending && m == prev) {
            sp->pb = b;
            return TTT_OK;
        }
        return hold(sp, a, b);
    case TOK_SPLIT_MERGED_PREV:
        if (sp->pending && m && !prev) {
            sp->pb = b;
            return TTT_OK;
        }
        return hold(sp, a, b);
    case TOK_SPLIT_MERGED_NEXT:
        /* a held match joins the non-match after it; two matches in a row stay apart */
        if (sp->pending && !m) {
            sp->pb = b;
            return flush(sp);
        }
        if (m) return hold(sp, a, b);
        return sp->sink(sp->p, sp->next, sp->s + a, b - a, sp->first && a == 0);
    }
    return r;
}

static ttt_status split_piece(const pipe *p, sink_fn sink, int next, const tok_pattern *pat,
                              tok_split_behavior beh, bool invert, const char *s, size_t n,
                              bool first) {
    splitter sp = {.p = p, .sink = sink, .next = next, .s = s, .first = first, .beh = beh};
    tok_find it = {0};
    size_t at = 0;
    ttt_status r;
    for (;;) {
        size_t a, b;
        bool found;
        if ((r = tok_find_next(pat, p->c, s, n, &it, &a, &b, &found)) != TTT_OK) return r;
        if (!found) break;
        if (a > at && (r = segment(&sp, at, a, invert)) != TTT_OK) return r;
        if ((r = segment(&sp, a, b, !invert)) != TTT_OK) return r;
        at = b;
    }
    if (at < n && (r = segment(&sp, at, n, invert)) != TTT_OK) return r;
    return flush(&sp);
}

/* Maps s to the byte-level alphabet in out, then hands it on. */
static ttt_status bytelevel_map(const pipe *p, int stage, const char *s, size_t n, bool first) {
    const tok_bytechar *tab = tok_bytelevel_table();
    tok_buf *out = &p->scr->b[stage];
    out->len = 0;
    if (!tok_buf_reserve(out, 2 * n)) return NOMEM;
    char *d = out->p;
    for (size_t j = 0; j < n; j++) {
        const tok_bytechar *bc = &tab[(unsigned char)s[j]];
        d[0] = bc->s[0];
        d[1] = bc->s[1];
        d += bc->len;
    }
    out->len = (size_t)(d - out->p);
    return emit(p, stage + 1, out->p, out->len, first);
}

static ttt_status run_stage(const pipe *p, int stage, const char *s, size_t n, bool first) {
    const tok_pretok *st = &p->stages[stage];
    tok_buf *buf = &p->scr->a[stage];
    switch (st->kind) {
    case TOK_PRE_SPLIT:
        return split_piece(p, emit, stage + 1, &st->pat, st->behavior, st->invert, s, n, first);
    case TOK_PRE_BYTELEVEL:
        if (st->add_prefix_space && s[0] != ' ') {
            buf->len = 0;
            if (!tok_buf_put(buf, " ", 1) || !tok_buf_put(buf, s, n)) return NOMEM;
            s = buf->p;
            n = buf->len;
        }
        /* its own regex: the GPT-2 split, each piece mapped on its own */
        return st->use_regex ? split_piece(p, bytelevel_map, stage, &st->pat, TOK_SPLIT_ISOLATED,
                                           false, s, n, first)
                             : bytelevel_map(p, stage, s, n, first);
    case TOK_PRE_METASPACE: {
        size_t rl = strlen(st->replacement);
        bool starts = (n >= rl && !memcmp(s, st->replacement, rl)) || s[0] == ' ';
        bool pre = st->prepend == TOK_PREPEND_ALWAYS || (st->prepend == TOK_PREPEND_FIRST && first);
        buf->len = 0;
        if (pre && !starts && !tok_buf_put(buf, st->replacement, rl)) return NOMEM;
        for (size_t j = 0; j < n;) {
            size_t k = j;
            while (k < n && s[k] != ' ') k++;
            if (!tok_buf_put(buf, s + j, k - j)) return NOMEM;
            if (k < n && !tok_buf_put(buf, st->replacement, rl)) return NOMEM;
            j = k + 1;
        }
        if (!st->split) return emit(p, stage + 1, buf->p, buf->len, first);
        tok_pattern lit = {.str = (char *)st->replacement, .len = rl};
        return split_piece(p, emit, stage + 1, &lit, TOK_SPLIT_MERGED_NEXT, false, buf->p,
                           buf->len, first);
    }
    }
    return TTT_OK;
}

ttt_status tok_pretokenize(const tok_pretok *stages, int n, tok_match_ctx *c,
                           tok_pre_scratch *scr, const char *s, size_t len, bool first,
                           tok_piece_fn fn, void *ctx) {
    pipe p = {stages, n, c, scr, fn, ctx};
    return emit(&p, 0, s, len, first);
}

void tok_pre_scratch_free(tok_pre_scratch *s) {
    for (int i = 0; i < TOK_MAX_STAGES; i++) {
        tok_buf_free(&s->a[i]);
        tok_buf_free(&s->b[i]);
    }
}
