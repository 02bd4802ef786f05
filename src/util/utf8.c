/* utf8.c - strict UTF-8 validation, following the well-formed byte sequence table of
 * Unicode 15 section 3.9 (table 3-7). */
#include "util/utf8.h"

#include <stdint.h>
#include <string.h>

/* The second byte's range depends on the lead byte: that is what excludes overlong forms
 * (E0, F0), surrogates (ED) and code points above U+10FFFF (F4). */
size_t ttt_utf8_seq(const uint8_t *s, size_t avail, size_t *bad_len) {
    uint8_t c = s[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;
    if (bad_len) *bad_len = 1;
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
    size_t j = 1;
    if (avail > 1 && s[1] >= lo && s[1] <= hi) {
        j = 2;
        while (j < len && j < avail && s[j] >= 0x80 && s[j] <= 0xbf) j++;
    }
    if (j == len) return len;
    if (bad_len) *bad_len = j;
    return 0;
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
        size_t len = ttt_utf8_seq(p + i, n - i, NULL);
        if (len == 0) {
            if (bad_at) *bad_at = i;
            return false;
        }
        i += len;
    }
    return true;
}
