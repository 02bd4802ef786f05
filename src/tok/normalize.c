/* normalize.c - UTF-8 helpers and the normalizers: Unicode forms through utf8proc, Replace,
 * Prepend (a Sequence is flattened into the stage list at load time). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok/tok.h"
#include "util/err.h"
#include "util/utf8.h"

size_t tok_utf8_next(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80 || n < 2) {
        *cp = p[0];
        return 1;
    }
    if (p[0] < 0xe0) {
        *cp = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
        return 2;
    }
    if (p[0] < 0xf0 || n < 4) {
        if (n < 3) {
            *cp = p[0];
            return 1;
        }
        *cp = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        return 3;
    }
    *cp = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
          (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
    return 4;
}

size_t tok_utf8_put(char *d, uint32_t cp) {
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | cp >> 12);
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | cp >> 18);
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

bool tok_utf8_lossy(tok_buf *out, const uint8_t *s, size_t n) {
    static const char fffd[3] = {(char)0xef, (char)0xbf, (char)0xbd};
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && s[run] < 0x80) run++;
        if (run > i && !tok_buf_put(out, s + i, run - i)) return false;
        i = run;
        if (i >= n) break;
        size_t bad, len = ttt_utf8_seq(s + i, n - i, &bad);
        if (!(len ? tok_buf_put(out, s + i, len) : tok_buf_put(out, fffd, 3))) return false;
        i += len ? len : bad;
    }
    return tok_buf_reserve(out, 0);
}

/* ASCII characters are stable under every normal form and never combine with what precedes
 * them, so the text splits before each one: only runs of non-ASCII characters, with the ASCII
 * character just before (a base that may take their combining marks), go through utf8proc. */
static ttt_status unicode_form(tok_norm_kind k, const char *s, size_t n, tok_buf *out) {
    int opt = UTF8PROC_STABLE;
    if (k == TOK_NORM_NFC || k == TOK_NORM_NFKC) opt |= UTF8PROC_COMPOSE;
    else opt |= UTF8PROC_DECOMPOSE;
    if (k == TOK_NORM_NFKC || k == TOK_NORM_NFKD) opt |= UTF8PROC_COMPAT;
    out->len = 0;
    if (!tok_buf_reserve(out, n)) return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
    size_t i = 0;
    while (i < n) {
        size_t a = i;
        while (i < n && (unsigned char)s[i] < 0x80) i++;
        if (i == n) {
            if (!tok_buf_put(out, s + a, n - a)) return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
            break;
        }
        size_t from = i > a ? i - 1 : i; /* the ASCII base goes with the run */
        if (!tok_buf_put(out, s + a, from - a)) return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
        while (i < n && (unsigned char)s[i] >= 0x80) i++;
        utf8proc_uint8_t *dst = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)s + from,
                                          (utf8proc_ssize_t)(i - from), &dst,
                                          (utf8proc_option_t)opt);
        if (r < 0) {
            free(dst);
            return ttt_err(TTT_ERR_ARG, "tokenizer: normalization failed at byte %zu: %s", from,
                           utf8proc_errmsg(r));
        }
        bool ok = tok_buf_put(out, dst, (size_t)r);
        free(dst);
        if (!ok) return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
    }
    return tok_buf_reserve(out, 0) ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
}

static ttt_status replace_all(const tok_norm *st, tok_match_ctx *c, const char *s, size_t n,
                              tok_buf *out) {
    tok_spans sp = {0};
    out->len = 0;
    ttt_status r = tok_find_all(&st->pat, c, s, n, &sp);
    size_t at = 0, clen = strlen(st->content);
    bool ok = true;
    for (size_t i = 0; r == TTT_OK && ok && i < sp.n; i++) {
        ok = tok_buf_put(out, s + at, sp.p[2 * i] - at) && tok_buf_put(out, st->content, clen);
        at = sp.p[2 * i + 1];
    }
    if (r == TTT_OK && ok) ok = tok_buf_put(out, s + at, n - at);
    tok_spans_free(&sp);
    if (r == TTT_OK && !ok) r = ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
    return r;
}

ttt_status tok_normalize(const tok_norm *stages, int n, tok_match_ctx *c, const char *s,
                         size_t len, tok_buf *out, tok_buf *tmp) {
    out->len = 0;
    if (!tok_buf_put(out, s, len)) return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
    for (int i = 0; i < n; i++) {
        const tok_norm *st = &stages[i];
        ttt_status r = TTT_OK;
        switch (st->kind) {
        case TOK_NORM_PREPEND:
            /* HF prepends only to non-empty text */
            tmp->len = 0;
            if (out->len && !(tok_buf_put(tmp, st->content, strlen(st->content)) &&
                              tok_buf_put(tmp, out->p, out->len)))
                r = ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
            else if (!out->len && !tok_buf_put(tmp, "", 0))
                r = ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
            break;
        case TOK_NORM_REPLACE:
            r = replace_all(st, c, out->p, out->len, tmp);
            break;
        default:
            r = unicode_form(st->kind, out->p, out->len, tmp);
            break;
        }
        if (r != TTT_OK) return r;
        tok_buf swap = *out;
        *out = *tmp;
        *tmp = swap;
    }
    return TTT_OK;
}
