/* buf.c - the growable string prompts are built in; one out-of-memory flag checked at the
 * end instead of a status per append. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

static bool buf_reserve(ttt_buf *b, size_t extra) {
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void ttt_buf_put(ttt_buf *b, const char *s, size_t n) {
    if (!buf_reserve(b, n)) return;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void ttt_buf_puts(ttt_buf *b, const char *s) { ttt_buf_put(b, s, strlen(s)); }

void ttt_buf_printf(ttt_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        ttt_buf_put(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *ttt_buf_take(ttt_buf *b) {
    if (b->oom) {
        ttt_buf_free(b);
        return NULL;
    }
    if (!b->p) buf_reserve(b, 0);
    if (b->oom) return NULL;
    b->p[b->len] = '\0';
    char *p = b->p;
    memset(b, 0, sizeof *b);
    return p;
}

void ttt_buf_free(ttt_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
