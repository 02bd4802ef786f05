/* rng.c - the evaluation's random numbers (xoshiro256**, seeded through splitmix64). Our
 * generator, not CPython's Mersenne Twister: samples are statistically like RULER's, not
 * byte-identical (docs/EVAL.md). */
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "util/err.h"

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void ttt_rng_seed(ttt_rng *r, const uint64_t *words, int n) {
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < n; i++) {
        x ^= words[i];
        splitmix(&x);
        x = splitmix(&x);
    }
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&x);
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

void ttt_rng_shuffle_int(ttt_rng *r, int *a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ttt_rng_range(r, 0, (int64_t)i - 1);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

void ttt_rng_shuffle_ptr(ttt_rng *r, const char **a, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ttt_rng_range(r, 0, (int64_t)i - 1);
        const char *t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

ttt_status ttt_rng_sample(ttt_rng *r, int n, int k, int *out) {
    if (k < 0 || n < 0 || k > n) return ttt_err(TTT_ERR_ARG, "cannot sample %d of %d", k, n);
    if ((long long)k * 8 < n) {
        /* few of many: draw and reject repeats (k is small, so the quadratic check is cheap) */
        for (int i = 0; i < k; i++) {
            int x, dup;
            do {
                x = (int)ttt_rng_range(r, 0, n - 1);
                dup = 0;
                for (int j = 0; j < i && !dup; j++) dup = out[j] == x;
            } while (dup);
            out[i] = x;
        }
        return TTT_OK;
    }
    int *all = malloc((size_t)(n ? n : 1) * sizeof *all);
    if (!all) return ttt_err(TTT_ERR_NOMEM, "out of memory sampling %d of %d", k, n);
    for (int i = 0; i < n; i++) all[i] = i;
    /* partial Fisher-Yates: the first k slots are a uniform k-subset in random order */
    for (int i = 0; i < k; i++) {
        int j = (int)ttt_rng_range(r, i, n - 1), t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    memcpy(out, all, (size_t)k * sizeof *out);
    free(all);
    return TTT_OK;
}

void ttt_sort_small(int *a, int n) {
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && a[j - 1] > a[j]; j--) {
            int t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
}
