/* utf8.h - strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF, no truncated sequences. */
#ifndef TTT_UTIL_UTF8_H
#define TTT_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* true when the n bytes at s are well-formed UTF-8; else false with *bad_at (if non-NULL)
 * set to the offset of the first byte of the first ill-formed sequence. */
bool ttt_utf8_valid(const void *s, size_t n, size_t *bad_at);
/* The length of the well-formed sequence at s (s[0] >= 0x80, avail bytes there), or 0 when it
 * is ill-formed; then *bad_len (if non-NULL) is the length of its maximal ill-formed subpart,
 * what one U+FFFD stands for in Unicode's recommended replacement (Rust's from_utf8_lossy). */
size_t ttt_utf8_seq(const uint8_t *s, size_t avail, size_t *bad_len);

#endif
