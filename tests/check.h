/* check.h - a tiny test harness: CHECK records a failure and goes on; main returns
 * check_summary(), which is non-zero when any check failed or none ran. */
#ifndef TTT_TESTS_CHECK_H
#define TTT_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ttt.h"

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        check_count++;                                                               \
        if (!(cond)) {                                                               \
            check_failures++;                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

/* A status-returning call that must fail with `want`, with a message containing `needle`. */
#define CHECK_FAILS(call, want, needle)                                                     \
    do {                                                                                    \
        check_count++;                                                                      \
        int st_ = (int)(call);                                                              \
        const char *msg_ = ttt_last_error();                                                \
        if (st_ != (int)(want) || !strstr(msg_, (needle))) {                                \
            check_failures++;                                                               \
            fprintf(stderr, "%s:%d: %s: got status %d message \"%s\"; want %d and \"%s\"\n", \
                    __FILE__, __LINE__, #call, st_, msg_, (int)(want), (needle));           \
        }                                                                                   \
    } while (0)

#define CHECK_OK(call)                                                                 \
    do {                                                                               \
        check_count++;                                                                 \
        int st_ = (int)(call);                                                         \
        if (st_ != 0) {                                                                \
            check_failures++;                                                          \
            fprintf(stderr, "%s:%d: %s failed (%d): %s\n", __FILE__, __LINE__, #call, \
                    st_, ttt_last_error());                                            \
        }                                                                              \
    } while (0)

/* Max relative error of a against the reference b: max|a - b| / max|b| (NaN counts as inf). */
static inline double check_max_rel(const float *a, const double *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        d = d < 0 ? -d : d;
        if (d != d) d = INFINITY;
        num = d > num ? d : num;
        double m = b[i] < 0 ? -b[i] : b[i];
        den = m > den ? m : den;
    }
    return den > 0 ? num / den : num;
}

/* The golden model `name` (a directory under `golden`) on the CPU, its info in *mi; NULL, with a
 * failed check, when it does not load. */
static inline ttt_model *check_golden_model(const char *golden, const char *name,
                                            ttt_model_info *mi) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", golden, name);
    ttt_model *m = NULL;
    CHECK_OK(ttt_model_load(dir, &m));
    if (m) ttt_model_get_info(m, mi);
    return m;
}

static inline int check_summary(const char *name) {
    if (check_count == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
