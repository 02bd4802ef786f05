/* rng.c - the evaluation's shuffles and samples, on the project's generator
 * (src/util/rng.c), not CPython's Mersenne Twister: samples are statistically like RULER's,
 * not byte-identical (docs/EVAL.md). */
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "util/err.h"

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
