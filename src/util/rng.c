/* rng.c - splitmix64 and xoshiro256** (public-domain algorithms by Vigna). */
#include "util/rng.h"

#include <stdint.h>

uint64_t ttt_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ttt_rng_seed(ttt_rng *r, const uint64_t *words, int n) {
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < n; i++) {
        x ^= words[i];
        ttt_splitmix64(&x);
        x = ttt_splitmix64(&x);
    }
    for (int i = 0; i < 4; i++) r->s[i] = ttt_splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ttt_rng_u64(ttt_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

int64_t ttt_rng_range(ttt_rng *r, int64_t lo, int64_t hi) {
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    if (span == 0) return (int64_t)ttt_rng_u64(r); /* the whole 64-bit range */
    /* rejection of the top partial block keeps every value equally likely */
    uint64_t limit = UINT64_MAX - UINT64_MAX % span, x;
    do x = ttt_rng_u64(r);
    while (x >= limit);
    return (int64_t)((uint64_t)lo + x % span);
}

double ttt_rng_unit(ttt_rng *r) { return (double)(ttt_rng_u64(r) >> 11) * 0x1.0p-53; }
