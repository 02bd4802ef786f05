/* test_session.c - the session contract: bad arguments, failures that leave the session
 * usable (KV growth) or mark it failed until a reset (midway through a step), per-thread
 * thread counts, sessions on several threads at once, the argmax output. */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu.h"

#define T 40

static const char *g_dir;
static ttt_model *g_model;
static int g_vocab;
static int32_t g_ids[T];

/* Logits of every token, one call, clean session. */
static ttt_status run(ttt_session *s, float *logits) {
    return ttt_session_eval(s, g_ids, T, &(ttt_eval_out){.logits = logits, .logits_all = 1});
}

/* A fresh session over all T tokens: the logits every other run must reproduce. */
static ttt_status run_fresh(float *logits) {
    ttt_session_params p = ttt_session_default_params();
    p.n_ctx = T;
    ttt_session *s;
    ttt_status st = ttt_session_init(g_model, &p, &s);
    if (st != TTT_OK) return st;
    st = run(s, logits);
    ttt_session_free(s);
    return st;
}

static void test_args(void) {
    ttt_session *s = NULL;
    CHECK_FAILS(ttt_session_init(NULL, NULL, &s), TTT_ERR_ARG, "NULL model");
    CHECK_FAILS(ttt_session_init(g_model, NULL, NULL), TTT_ERR_ARG, "NULL out");
    CHECK_FAILS(ttt_session_eval(NULL, g_ids, 1, NULL), TTT_ERR_ARG, "NULL session");
    CHECK_FAILS(ttt_model_load(g_dir, NULL), TTT_ERR_ARG, "NULL out");
    CHECK_FAILS(ttt_session_set_ttt(NULL, TTT_MODE_ON), TTT_ERR_ARG, "NULL session");
    ttt_session_params p = ttt_session_default_params();
    p.ttt_mode = 7;
    CHECK_FAILS(ttt_session_init(g_model, &p, &s), TTT_ERR_ARG, "unknown TTT mode 7");
    p = ttt_session_default_params();
    p.n_ctx = 8;
    CHECK_OK(ttt_session_init(g_model, &p, &s));
    if (!s) return;
    CHECK_OK(ttt_session_eval(s, g_ids, 0, NULL)); /* nothing to do */
    int32_t bad[3] = {1, g_vocab, 2};
    CHECK_FAILS(ttt_session_eval(s, bad, 3, NULL), TTT_ERR_ARG, "at index 1");
    CHECK(ttt_session_n_past(s) == 0);
    CHECK_FAILS(ttt_session_eval(s, g_ids, 9, NULL), TTT_ERR_ARG, "exceed the context of 8");
    CHECK_OK(ttt_session_eval(s, g_ids, 8, NULL));
    CHECK_FAILS(ttt_session_eval(s, g_ids, 1, NULL), TTT_ERR_ARG, "exceed the context");
    CHECK_FAILS(ttt_session_set_ttt(s, -1), TTT_ERR_ARG, "unknown TTT mode");
    ttt_session_free(s);
}

static void test_failures(void) {
    const size_t n = (size_t)T * g_vocab;
    float *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
    CHECK_OK(run_fresh(want));
    ttt_session_params p = ttt_session_default_params();
    p.n_ctx = T;
    ttt_session *s;

    /* KV growth fails: nothing changed, the same call then succeeds and is exact */
    CHECK_OK(ttt_session_init(g_model, &p, &s));
    ttt_cpu_inject_alloc_failure(3);
    CHECK_FAILS(run(s, got), TTT_ERR_NOMEM, "KV cache");
    ttt_cpu_inject_alloc_failure(0);
    CHECK(ttt_session_n_past(s) == 0);
    CHECK_OK(run(s, got));
    CHECK(memcmp(got, want, sizeof(float) * n) == 0);
    ttt_session_free(s);

    /* a failure midway through a step: the session refuses work until it is reset */
    CHECK_OK(ttt_session_init(g_model, &p, &s));
    int32_t first = g_ids[0];
    CHECK_OK(ttt_session_eval(s, &first, 1, NULL)); /* the KV cache exists now */
    ttt_session_reset(s);
    ttt_cpu_inject_alloc_failure(2); /* the pending-chunk buffers of the first TTT layer */
    CHECK_FAILS(run(s, got), TTT_ERR_NOMEM, "layer");
    ttt_cpu_inject_alloc_failure(0);
    CHECK_FAILS(run(s, got), TTT_ERR_ARG, "call ttt_session_reset");
    ttt_session_reset(s);
    CHECK_OK(run(s, got));
    CHECK(memcmp(got, want, sizeof(float) * n) == 0);
    ttt_session_free(s);
    free(want);
    free(got);
}

typedef struct worker {
    float *logits;
    int threads_seen;
    ttt_status st;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    w->st = run_fresh(w->logits);
    w->threads_seen = omp_get_max_threads();
    return NULL;
}

static void test_threads(void) {
    const size_t n = (size_t)T * g_vocab;
    float *want = malloc(sizeof(float) * n);
    CHECK_OK(run_fresh(want));
    ttt_set_threads(1);
    worker w[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        w[i].logits = malloc(sizeof(float) * n);
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_OK(w[i].st);
        CHECK(w[i].threads_seen == 1); /* ttt_set_threads reaches other threads */
        CHECK(memcmp(w[i].logits, want, sizeof(float) * n) == 0);
        free(w[i].logits);
    }
    ttt_set_threads(2);
    free(want);
}

static int first_max(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) b = l[i] > l[b] ? i : b;
    return b;
}

/* ttt_eval_out.argmax: every row (in steps of 7 rows), the last row below a limit, with and
 * without logits, against the first maximum of the logits. */
static void test_argmax(void) {
    float *ref = malloc(sizeof(float) * (size_t)T * g_vocab), *last = malloc(sizeof(float) * g_vocab);
    int32_t ids[T], one = -1, lim = -1;
    ttt_session_params p = ttt_session_default_params();
    p.n_ctx = T;
    p.n_batch = 7;
    ttt_session *s = NULL;
    if (!ref || !last || run_fresh(ref) != TTT_OK || ttt_session_init(g_model, &p, &s) != TTT_OK) {
        CHECK(0);
        goto out;
    }
    CHECK_OK(ttt_session_eval(s, g_ids, T, &(ttt_eval_out){.argmax = ids, .logits_all = 1}));
    int bad = 0;
    for (int t = 0; t < T; t++) bad += ids[t] != first_max(ref + (size_t)t * g_vocab, g_vocab);
    CHECK(bad == 0);
    ttt_session_reset(s);
    CHECK_OK(ttt_session_eval(s, g_ids, T, &(ttt_eval_out){.argmax = &one, .logits = last}));
    CHECK(one == first_max(ref + (size_t)(T - 1) * g_vocab, g_vocab));
    double e = 0; /* steps of 7 rows, not one of 40: the same logits up to rounding */
    for (int j = 0; j < g_vocab; j++)
        e = fmax(e, fabs((double)last[j] - ref[(size_t)(T - 1) * g_vocab + j]));
    CHECK(e < 1e-4);
    ttt_session_reset(s);
    CHECK_OK(ttt_session_eval(s, g_ids, T, &(ttt_eval_out){.argmax = &lim, .argmax_limit = 50}));
    CHECK(lim == first_max(ref + (size_t)(T - 1) * g_vocab, 50));
out:
    ttt_session_free(s);
    free(ref);
    free(last);
}

int main(void) {
    const char *tmp = getenv("TTT_TEST_TMP");
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/ref_qwen3_bf16_c5", tmp ? tmp : "/tmp");
    g_dir = dir;
    ttt_set_threads(2);
    if (ttt_model_load(dir, &g_model) != TTT_OK) {
        fprintf(stderr, "test_session: %s (test_reference writes this model)\n",
                ttt_last_error());
        return 1;
    }
    ttt_model_info info;
    ttt_model_get_info(g_model, &info);
    g_vocab = info.n_vocab;
    for (int i = 0; i < T; i++) g_ids[i] = (int32_t)((i * 31u + 7u) % (unsigned)g_vocab);
    test_args();
    test_failures();
    test_threads();
    test_argmax();
    ttt_model_free(g_model);
    return check_summary("test_session");
}
