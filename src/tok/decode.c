/* decode.c - ids to text: the decoder chain (ByteLevel, Replace, ByteFallback, Fuse, Strip,
 * Metaspace) over the token strings, and the streaming detokenizer. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/err.h"

#define NOMEM ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory")

static const char FFFD[] = "\xef\xbf\xbd";

/* A token of the byte-level alphabet back to its bytes; false when some character is not in
 * the alphabet (HF then keeps the token's own UTF-8). */
static bool bytelevel_bytes(const char *s, size_t n, tok_buf *out) {
    size_t mark = out->len;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += tok_utf8_next(s + i, n - i, &cp);
        int b = tok_bytelevel_byte(cp);
        if (b < 0) {
            out->len = mark;
            return false;
        }
        unsigned char c = (unsigned char)b;
        if (!tok_buf_put(out, &c, 1)) return false;
    }
    return true;
}

static ttt_status one_stage(const tok_dec *st, tok_match_ctx *c, const tok_list *in,
                            tok_list *out) {
    tok_buf b = {0};
    tok_buf bytes = {0};
    ttt_status r = TTT_OK;
    bool ok = true;
    if (st->kind == TOK_DEC_BYTELEVEL || st->kind == TOK_DEC_FUSE) {
        for (size_t i = 0; i < in->n && ok; i++) {
            size_t a = tok_list_start(in, i), n = in->end[i] - a;
            const char *s = in->text.p + a;
            if (st->kind == TOK_DEC_FUSE || !bytelevel_bytes(s, n, &bytes))
                ok = tok_buf_put(st->kind == TOK_DEC_FUSE ? &b : &bytes, s, n);
        }
        if (ok && st->kind == TOK_DEC_BYTELEVEL)
            ok = tok_utf8_lossy(&b, (const uint8_t *)(bytes.p ? bytes.p : ""), bytes.len);
        if (ok) ok = tok_list_push(out, b.p ? b.p : "", b.len, false);
    } else if (st->kind == TOK_DEC_BYTEFALLBACK) {
        for (size_t i = 0; i <= in->n && ok; i++) {
            size_t a = i < in->n ? tok_list_start(in, i) : 0, n = i < in->n ? in->end[i] - a : 0;
            const char *s = i < in->n ? in->text.p + a : "";
            int hi = -1, lo = -1;
            if (n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
                const char *hex = "0123456789abcdef0123456789ABCDEF";
                const char *h = memchr(hex, s[3], 32), *l = memchr(hex, s[4], 32);
                if (h && l) hi = (int)((h - hex) & 15), lo = (int)((l - hex) & 15);
            }
            if (i < in->n && hi >= 0) {
                unsigned char byte = (unsigned char)(hi << 4 | lo);
                ok = tok_buf_put(&bytes, &byte, 1);
                continue;
            }
            if (bytes.len) {
                tok_buf tmp = {0};
                ok = tok_utf8_lossy(&tmp, (const uint8_t *)bytes.p, bytes.len);
                bool valid = ok && tmp.len == bytes.len && !memcmp(tmp.p, bytes.p, bytes.len);
                tok_buf_free(&tmp);
                /* invalid bytes: one U+FFFD per byte token, not per maximal subpart */
                if (valid) ok = ok && tok_list_push(out, bytes.p, bytes.len, false);
                for (size_t k = 0; ok && !valid && k < bytes.len; k++)
                    ok = tok_list_push(out, FFFD, 3, false);
                bytes.len = 0;
            }
            if (ok && i < in->n) ok = tok_list_push(out, s, n, false);
        }
    } else {
        for (size_t i = 0; i < in->n && ok && r == TTT_OK; i++) {
            size_t a = tok_list_start(in, i), n = in->end[i] - a;
            const char *s = in->text.p + a;
            b.len = 0;
            if (st->kind == TOK_DEC_REPLACE) {
                tok_spans sp = {0};
                r = tok_find_all(&st->pat, c, s, n, &sp);
                size_t at = 0, cl = strlen(st->content);
                for (size_t k = 0; r == TTT_OK && ok && k < sp.n; k++) {
                    ok = tok_buf_put(&b, s + at, sp.p[2 * k] - at) &&
                         tok_buf_put(&b, st->content, cl);
                    at = sp.p[2 * k + 1];
                }
                tok_spans_free(&sp);
                if (ok) ok = tok_buf_put(&b, s + at, n - at);
            } else if (st->kind == TOK_DEC_STRIP) {
                size_t cl = strlen(st->ch), lo = 0, hi = n;
                for (int k = 0; k < st->start && hi - lo >= cl && !memcmp(s + lo, st->ch, cl); k++)
                    lo += cl;
                for (int k = 0; k < st->stop && hi - lo >= cl && !memcmp(s + hi - cl, st->ch, cl); k++)
                    hi -= cl;
                ok = tok_buf_put(&b, s + lo, hi - lo);
            } else { /* METASPACE */
                size_t cl = strlen(st->ch);
                bool drop = i == 0 && st->prepend != TOK_PREPEND_NEVER;
                for (size_t k = 0; k < n && ok;) {
                    if (n - k >= cl && !memcmp(s + k, st->ch, cl)) {
                        if (!drop) ok = tok_buf_put(&b, " ", 1);
                        k += cl;
                    } else {
                        ok = tok_buf_put(&b, s + k, 1);
                        k++;
                    }
                }
            }
            if (ok && r == TTT_OK) ok = tok_list_push(out, b.p ? b.p : "", b.len, false);
        }
    }
    tok_buf_free(&b);
    tok_buf_free(&bytes);
    if (r == TTT_OK && !ok) r = NOMEM;
    return r;
}

ttt_status tok_decode_chain(const tok_dec *stages, int n, tok_match_ctx *c, tok_list *toks,
                            tok_list *tmp) {
    for (int i = 0; i < n; i++) {
        tok_list_clear(tmp);
        ttt_status r = one_stage(&stages[i], c, toks, tmp);
        if (r != TTT_OK) return r;
        tok_list swap = *toks;
        *toks = *tmp;
        *tmp = swap;
    }
    return TTT_OK;
}

/* The whole decode into out (cleared first). */
static ttt_status decode_ids(const ttt_tokenizer *t, const int32_t *ids, size_t n, int flags,
                             tok_buf *out) {
    tok_list toks = {0}, tmp = {0};
    tok_match_ctx c = {0};
    ttt_status r = TTT_OK;
    out->len = 0;
    for (size_t i = 0; i < n && r == TTT_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->id_str[id]) {
            r = ttt_err(TTT_ERR_ARG, "detokenize: id %ld at position %zu is not in the "
                        "vocabulary (0..%d)", (long)id, i, (int)t->n_ids - 1);
            break;
        }
        if ((flags & TTT_TOK_SKIP_SPECIAL) && t->id_special[id]) continue;
        if (!tok_list_push(&toks, t->id_str[id], t->id_len[id], false)) r = NOMEM;
    }
    if (r == TTT_OK && t->has_decoder) {
        r = tok_match_ctx_init(&c);
        if (r == TTT_OK) r = tok_decode_chain(t->dec, t->n_dec, &c, &toks, &tmp);
    }
    for (size_t i = 0; i < toks.n && r == TTT_OK; i++) {
        size_t a = tok_list_start(&toks, i);
        if ((!t->has_decoder && i > 0 && !tok_buf_put(out, " ", 1)) ||
            !tok_buf_put(out, toks.text.p + a, toks.end[i] - a))
            r = NOMEM;
    }
    if (r == TTT_OK && !tok_buf_reserve(out, 0)) r = NOMEM;
    tok_match_ctx_free(&c);
    tok_list_free(&toks);
    tok_list_free(&tmp);
    return r;
}

ttt_status ttt_detokenize(const ttt_tokenizer *t, const int32_t *ids, size_t n, int flags,
                          char **text, size_t *len) {
    *text = NULL;
    if (len) *len = 0;
    if (!t || (n && !ids)) return ttt_err(TTT_ERR_ARG, "detokenize: NULL argument");
    tok_buf b = {0};
    ttt_status r = decode_ids(t, ids, n, flags, &b);
    if (r != TTT_OK) {
        tok_buf_free(&b);
        return r;
    }
    *text = b.p;
    if (len) *len = b.len;
    return TTT_OK;
}

/* HF's DecodeStream: decode a window that starts a few tokens back (so the decoder sees the
 * context it would in a full decode), and hand out what lies past the text already given,
 * once it does not end in U+FFFD (an incomplete character). */
struct ttt_detok {
    const ttt_tokenizer *t;
    int flags;
    tok_ids ids;       /* the window */
    tok_buf prefix;    /* decode of ids[0 .. prefix_index) */
    size_t prefix_index;
    tok_buf cur;       /* decode of the whole window */
    tok_buf out;       /* what the last call handed out */
};

ttt_status ttt_detok_init(const ttt_tokenizer *t, int flags, ttt_detok **out) {
    *out = NULL;
    if (!t) return ttt_err(TTT_ERR_ARG, "detok: NULL tokenizer");
    ttt_detok *d = calloc(1, sizeof *d);
    if (!d || !tok_buf_put(&d->out, "", 0) || !tok_buf_put(&d->prefix, "", 0)) {
        ttt_detok_free(d);
        return NOMEM;
    }
    d->t = t;
    d->flags = flags;
    *out = d;
    return TTT_OK;
}

#define DETOK_MAX_HELD 64

static bool ends_fffd(const tok_buf *b) {
    return b->len >= 3 && !memcmp(b->p + b->len - 3, FFFD, 3);
}

ttt_status ttt_detok_push(ttt_detok *d, int32_t id, const char **text, size_t *len) {
    d->out.len = 0;
    d->out.p[0] = '\0';
    *text = d->out.p;
    if (len) *len = 0;
    ttt_status r;
    if (d->prefix.len == 0 && d->ids.n > 0) {
        if ((r = decode_ids(d->t, d->ids.p, d->ids.n, d->flags, &d->cur)) != TTT_OK) return r;
        if (!ends_fffd(&d->cur)) {
            tok_buf s = d->prefix;
            d->prefix = d->cur;
            d->cur = s;
            d->prefix_index = d->ids.n;
        }
    }
    if (!tok_ids_push(&d->ids, id)) return NOMEM;
    if ((r = decode_ids(d->t, d->ids.p, d->ids.n, d->flags, &d->cur)) != TTT_OK) {
        d->ids.n--;
        return r;
    }
    /* a character is at most 4 bytes: a U+FFFD that this many tokens in a row have not
     * completed comes from garbage, and holding it would make every step decode a growing
     * window (quadratic time); a character completed after that shows as U+FFFD */
    bool stuck = d->ids.n - d->prefix_index > DETOK_MAX_HELD;
    if (d->cur.len <= d->prefix.len || (ends_fffd(&d->cur) && !stuck)) return TTT_OK;
    if (memcmp(d->cur.p, d->prefix.p, d->prefix.len))
        return ttt_err(TTT_ERR_ARG, "detok: token %ld changed the text before it", (long)id);
    if (!tok_buf_put(&d->out, d->cur.p + d->prefix.len, d->cur.len - d->prefix.len)) return NOMEM;
    size_t keep = d->ids.n - d->prefix_index;
    memmove(d->ids.p, d->ids.p + d->prefix_index, keep * sizeof *d->ids.p);
    d->ids.n = keep;
    if ((r = decode_ids(d->t, d->ids.p, d->ids.n, d->flags, &d->prefix)) != TTT_OK) return r;
    d->prefix_index = keep;
    *text = d->out.p;
    if (len) *len = d->out.len;
    return TTT_OK;
}

ttt_status ttt_detok_flush(ttt_detok *d, const char **text, size_t *len) {
    d->out.len = 0;
    d->out.p[0] = '\0';
    *text = d->out.p;
    if (len) *len = 0;
    ttt_status r = decode_ids(d->t, d->ids.p, d->ids.n, d->flags, &d->cur);
    if (r != TTT_OK) return r;
    if (d->cur.len > d->prefix.len &&
        !tok_buf_put(&d->out, d->cur.p + d->prefix.len, d->cur.len - d->prefix.len))
        return NOMEM;
    d->ids.n = 0;
    d->prefix.len = 0;
    d->prefix.p[0] = '\0';
    d->prefix_index = 0;
    *text = d->out.p;
    if (len) *len = d->out.len;
    return TTT_OK;
}

void ttt_detok_free(ttt_detok *d) {
    if (!d) return;
    tok_ids_free(&d->ids);
    tok_buf_free(&d->prefix);
    tok_buf_free(&d->cur);
    tok_buf_free(&d->out);
    free(d);
}
