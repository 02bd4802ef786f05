/* err.c - thread-local error message. */
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TTT_ERR_MAX 1024

static _Thread_local char g_msg[TTT_ERR_MAX];

/* Messages quote names and strings from untrusted files: control bytes become '?', so a
 * message is always one line. */
static void one_line(char *m) {
    for (; *m; m++)
        if ((unsigned char)*m < 0x20 || *m == 0x7f) *m = '?';
}

ttt_status ttt_err(ttt_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_msg, sizeof g_msg, fmt, ap);
    va_end(ap);
    one_line(g_msg);
    return status;
}

void ttt_err_prefix(const char *fmt, ...) {
    char head[TTT_ERR_MAX];
    char old[TTT_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, g_msg, sizeof old);
    size_t h = strlen(head);
    if (h > sizeof g_msg - 3) h = sizeof g_msg - 3;
    memcpy(g_msg, head, h);
    memcpy(g_msg + h, ": ", 2);
    size_t rest = sizeof g_msg - h - 3;
    size_t o = strnlen(old, rest);
    memcpy(g_msg + h + 2, old, o);
    g_msg[h + 2 + o] = '\0';
    one_line(g_msg);
}

void ttt_err_clear(void) { g_msg[0] = '\0'; }

const char *ttt_last_error(void) { return g_msg; }

const char *ttt_status_name(ttt_status s) {
    switch (s) {
    case TTT_OK: return "ok";
    case TTT_ERR_IO: return "i/o error";
    case TTT_ERR_FORMAT: return "bad format";
    case TTT_ERR_CONFIG: return "bad config";
    case TTT_ERR_UNSUPPORTED: return "unsupported";
    case TTT_ERR_NOMEM: return "out of memory";
    case TTT_ERR_ARG: return "bad argument";
    }
    return "unknown status";
}
