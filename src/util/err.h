/* err.h - the thread-local error message behind ttt_last_error(). */
#ifndef TTT_UTIL_ERR_H
#define TTT_UTIL_ERR_H

#include "ttt.h"

/* Sets the message (printf-style) and returns status, so callers write
 * `return ttt_err(TTT_ERR_FORMAT, "%s: ...", path);`. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
ttt_status ttt_err(ttt_status status, const char *fmt, ...);

/* Prepends "prefix: " to the current message (adds context on the way up). */
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
void ttt_err_prefix(const char *fmt, ...);

void ttt_err_clear(void);

#endif
