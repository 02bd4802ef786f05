/* pattern.c - Split / Replace patterns: literals, and regexes through PCRE2 in UTF mode with
 * Unicode properties (the Qwen2 and Llama-3 patterns use \p{L}, \p{N}, (?i:...), (?!\S)). */
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/err.h"
#include "util/mem.h"

ttt_status tok_pattern_init(tok_pattern *p, const char *str, bool regex, const char *label) {
    memset(p, 0, sizeof *p);
    p->len = strlen(str);
    p->str = ttt_strdup(str);
    if (!p->str) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
    if (!regex) return TTT_OK;
    int code;
    PCRE2_SIZE off;
    /* UCP: \s, \w and \d are Unicode-aware, as in Oniguruma (which HF uses) */
    p->re = pcre2_compile((PCRE2_SPTR)str, p->len, PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        ttt_status st = ttt_err(TTT_ERR_UNSUPPORTED, "%s: regex '%s' at offset %zu: %s", label, str,
                       (size_t)off, (const char *)msg);
        tok_pattern_free(p);
        return st;
    }
    /* without JIT the interpreter still matches, only slower */
    (void)pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
    return TTT_OK;
}

void tok_pattern_free(tok_pattern *p) {
    free(p->str);
    if (p->re) pcre2_code_free(p->re);
    memset(p, 0, sizeof *p);
}

ttt_status tok_match_ctx_init(tok_match_ctx *c) {
    memset(c, 0, sizeof *c);
    c->md = pcre2_match_data_create(16, NULL);
    c->stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
    c->mc = pcre2_match_context_create(NULL);
    if (!c->md || !c->stack || !c->mc) {
        tok_match_ctx_free(c);
        return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory for the regex matcher");
    }
    pcre2_jit_stack_assign(c->mc, NULL, c->stack);
    /* a hostile tokenizer.json regex must fail, not hang */
    pcre2_set_match_limit(c->mc, 50u * 1000 * 1000);
    pcre2_set_depth_limit(c->mc, 100000);
    return TTT_OK;
}

void tok_match_ctx_free(tok_match_ctx *c) {
    if (c->md) pcre2_match_data_free(c->md);
    if (c->stack) pcre2_jit_stack_free(c->stack);
    if (c->mc) pcre2_match_context_free(c->mc);
    memset(c, 0, sizeof *c);
}

void tok_spans_free(tok_spans *s) {
    free(s->p);
    memset(s, 0, sizeof *s);
}

static bool spans_push(tok_spans *s, size_t a, size_t b) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        size_t *p = realloc(s->p, cap * 2 * sizeof *p);
        if (!p) return false;
        s->p = p;
        s->cap = cap;
    }
    s->p[2 * s->n] = a;
    s->p[2 * s->n + 1] = b;
    s->n++;
    return true;
}

static size_t char_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

ttt_status tok_find_next(const tok_pattern *p, tok_match_ctx *c, const char *s, size_t n,
                         tok_find *it, size_t *ma, size_t *mb, bool *found) {
    *found = false;
    if (!p->re) {
        /* an empty literal matches nothing (HF) */
        if (p->len == 0 || it->pos + p->len > n) return TTT_OK;
        const char *hit = memmem(s + it->pos, n - it->pos, p->str, p->len);
        if (!hit) {
            it->pos = n + 1;
            return TTT_OK;
        }
        *ma = (size_t)(hit - s);
        *mb = *ma + p->len;
        it->pos = *mb;
        *found = true;
        return TTT_OK;
    }
    while (it->pos <= n) {
        int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, it->pos, PCRE2_NO_UTF_CHECK, c->md, c->mc);
        if (rc == PCRE2_ERROR_NOMATCH) {
            it->pos = n + 1;
            return TTT_OK;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ttt_err(TTT_ERR_ARG, "tokenizer: regex '%s' failed at byte %zu: %s", p->str,
                           it->pos, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t a = ov[0], b = ov[1];
        if (a == b && it->have_last && it->last_end == b) {
            it->pos += it->pos < n ? char_len((unsigned char)s[it->pos]) : 1;
            continue;
        }
        it->have_last = true;
        it->last_end = b;
        it->pos = b;
        *ma = a;
        *mb = b;
        *found = true;
        return TTT_OK;
    }
    return TTT_OK;
}

ttt_status tok_find_all(const tok_pattern *p, tok_match_ctx *c, const char *s, size_t n,
                        tok_spans *out) {
    out->n = 0;
    tok_find it = {0};
    for (;;) {
        size_t a, b;
        bool found;
        ttt_status r = tok_find_next(p, c, s, n, &it, &a, &b, &found);
        if (r != TTT_OK || !found) return r;
        if (!spans_push(out, a, b)) return ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory");
    }
}
