/* utf8.c - strict UTF-8 validation, following the well-formed byte sequence table of
 * Unicode 15 section 3.9 (table 3-7). */
#include "util/utf8.h"

#include <stdint.h>
#include <string.h>

/* Length of the sequence starting at s[0] (which is >= 0x80) when well-formed, else 0.
 * The second byte's range depends on the lead byte: that is what excludes overlong forms
 * (E0, F0), surrogates (ED) and code points above U+10FFFF (F4). */
static size_t utf8_seq_len(const uint8_t *s, size_t avail) {
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0; /* a stray continuation byte, C0/C1 (overlong) or F5..FF */
    }
    if (avail < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf) return 0;
    return len;
}

bool ttt_utf8_valid(const void *s, size_t n, size_t *bad_at) {
    const uint8_t *p = s;
    size_t i = 0;
    while (i < n) {
        /* Headers are nearly all ASCII: skip 8 bytes at a time while no high bit is set. */
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                i += 8;
                continue;
            }
        }
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t len = utf8_seq_len(p + i, n - i);
        if (len == 0) {
            if (bad_at) *bad_at = i;
            return false;
        }
        i += len;
    }
    return true;
}
