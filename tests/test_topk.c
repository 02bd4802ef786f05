/* test_topk.c - sampling from the top candidates: the backend's top-k selection against a full
 * sort (ties, NaN, +-0, infinities, a limit), ttt_sampler_sample_top against
 * ttt_sampler_sample over the whole row for every filter combination, ttt_sampler_top_k's
 * bounds, and ttt_eval_out.top_k through a session and a batch on a golden model. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu.h"
#include "ttt.h"

/* ---- the reference: sort every index ---- */
static const float *g_row;

/* larger first; NaN after everything; equal values (+0 == -0) by the lower id */
static int ref_cmp(const void *a, const void *b) {
    const int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    const float x = g_row[i], y = g_row[j];
    const int xn = x != x, yn = y != y;
    if (xn != yn) return xn - yn;
    if (!xn && x != y) return x > y ? -1 : 1;
    return i < j ? -1 : 1;
}

static void ref_top(const float *row, int limit, int k, float *val, int32_t *id) {
    int32_t *ix = malloc(sizeof(int32_t) * (size_t)limit);
    for (int i = 0; i < limit; i++) ix[i] = i;
    g_row = row;
    qsort(ix, (size_t)limit, sizeof *ix, ref_cmp);
    for (int j = 0; j < k; j++) {
        id[j] = ix[j];
        val[j] = row[ix[j]];
    }
    free(ix);
}

static uint64_t g_state = 0x9e3779b97f4a7c15ull;
static double unit(void) {
    g_state = g_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_state >> 11) / 9007199254740992.0;
}

/* A row with many ties: quarter steps in [-6, 6], and the odd special value. */
static void tied_row(float *row, int V, int specials) {
    for (int i = 0; i < V; i++) row[i] = (float)((int)(unit() * 48) - 24) / 4.0f;
    if (specials) {
        const float sp[] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, NAN, 6.0f, -0.0f};
        for (int j = 0; j < 8; j++) row[(int)(unit() * V)] = sp[j];
    }
}

static int same_bits(float a, float b) {
    return !memcmp(&a, &b, sizeof a);
}

static void test_select(void) {
    enum { V = 1000, N = 3 };
    float *x = malloc(sizeof(float) * V * N), rv[V], tv[N * TTT_TOP_K_MAX];
    int32_t rid[V], tid[N * TTT_TOP_K_MAX];
    for (int r = 0; r < N; r++) tied_row(x + r * V, V, r > 0);
    const int ks[] = {1, 2, 7, 40, 64, 500};
    const int limits[] = {V, 500};
    int bad = 0, cases = 0;
    for (int li = 0; li < 2; li++)
        for (int ki = 0; ki < 6; ki++) {
            const int k = ks[ki], limit = limits[li];
            if (k > limit) continue;
            ttt_cpu_topk(tv, tid, NULL, x, N, V, limit, k);
            for (int r = 0; r < N; r++) {
                ref_top(x + r * V, limit, k, rv, rid);
                for (int j = 0; j < k; j++)
                    bad += tid[r * k + j] != rid[j] || !same_bits(tv[r * k + j], rv[j]);
                cases++;
            }
        }
    printf("top-k on the CPU: %d of %d rows x k disagree with a full sort\n", bad, cases);
    CHECK(bad == 0 && cases == 36);
    free(x);
}

/* Two samplers of one setting (the same seed): one draws from the whole row, the other from
 * the candidates. 0 (and nothing to free) when either failed. */
static int sampler_pair(const ttt_sampler_params *p, int V, ttt_sampler **a, ttt_sampler **b) {
    CHECK_OK(ttt_sampler_init(p, V, a));
    CHECK_OK(ttt_sampler_init(p, V, b));
    if (*a && *b) return 1;
    ttt_sampler_free(*a);
    ttt_sampler_free(*b);
    return 0;
}

/* ttt_sampler_sample_top from ttt_sampler_top_k candidates draws what ttt_sampler_sample draws
 * from the whole row, step after step (the history growing), for each filter set. */
static void test_sample_equal(void) {
    enum { V = 3000, STEPS = 150 };
    const ttt_sampler_params ps[] = {
        ttt_sampler_default_params(),
        {.temp = 1.5f, .top_k = 5, .top_p = 1.0f, .min_p = 0, .repeat_penalty = 1, .seed = 3},
        {.temp = 0, .top_k = 40, .top_p = 1.0f, .repeat_penalty = 1.3f, .repeat_last_n = 64},
        {.temp = 0.7f, .top_k = 20, .top_p = 0.9f, .min_p = 0.1f, .repeat_penalty = 1.2f,
         .repeat_last_n = 16, .seed = 9},
        {.temp = 2.0f, .top_k = 1, .top_p = 1.0f, .repeat_penalty = 1, .seed = 5},
        {.temp = 1.0f, .top_k = 300, .top_p = 0.99f, .repeat_penalty = 1.1f, .repeat_last_n = 8,
         .seed = 7},
    };
    float *row = malloc(sizeof(float) * V), tv[TTT_TOP_K_MAX];
    int32_t tid[TTT_TOP_K_MAX];
    for (size_t p = 0; p < sizeof ps / sizeof ps[0]; p++) {
        ttt_sampler *a = NULL, *b = NULL;
        if (!sampler_pair(&ps[p], V, &a, &b)) continue;
        int differ = 0, no_k = 0, distinct = 0, last = -1;
        for (int s = 0; s < STEPS; s++) {
            /* sharp rows with ties, so the filters and the penalty decide */
            tied_row(row, V, 0);
            for (int i = 0; i < V; i++) row[i] *= 2.0f;
            if (s % 3 == 0 && last >= 0) row[last] = 13.0f; /* the penalty must lower it */
            const int k = ttt_sampler_top_k(b);
            no_k += k <= 0;
            if (k <= 0) continue;
            ref_top(row, V, k, tv, tid);
            const int32_t x = ttt_sampler_sample(a, row), y = ttt_sampler_sample_top(b, tv, tid, k);
            differ += x != y;
            distinct += x != last;
            last = x;
            ttt_sampler_accept(a, x);
            ttt_sampler_accept(b, x);
        }
        printf("sampler set %zu: top candidates vs the whole row: %d of %d draws differ, %d "
               "changes of token\n", p, differ, STEPS, distinct);
        CHECK(differ == 0 && no_k == 0);
        CHECK(ps[p].temp <= 0 || ps[p].top_k == 1 || distinct > STEPS / 4); /* real draws */
        ttt_sampler_free(a);
        ttt_sampler_free(b);
    }
    free(row);
}

/* The row's log-sum-exp beside the candidates (ttt_eval_out.top_lse): against a direct sum in
 * long double, on rows with ties, NaN (left out), -inf, +inf and nothing but -inf. */
static void test_lse(void) {
    enum { V = 3000, N = 4 };
    float *x = malloc(sizeof(float) * V * N), tv[N], lse[N];
    int32_t tid[N];
    for (int r = 0; r < N; r++) tied_row(x + r * V, V, r == 1);
    for (int i = 0; i < V; i++) x[2 * V + i] = i == 17 ? INFINITY : x[2 * V + i];
    for (int i = 0; i < V; i++) x[3 * V + i] = -INFINITY;
    ttt_cpu_topk(tv, tid, lse, x, N, V, V, 1);
    int bad = 0;
    for (int r = 0; r < 2; r++) {
        long double mx = -INFINITY, z = 0;
        for (int i = 0; i < V; i++)
            if (x[r * V + i] > mx) mx = x[r * V + i];
        for (int i = 0; i < V; i++)
            if (x[r * V + i] == x[r * V + i]) z += expl((long double)x[r * V + i] - mx);
        const double ref = (double)(mx + logl(z));
        bad += fabs(lse[r] - ref) > 1e-5 * fabs(ref) + 1e-6;
    }
    bad += lse[2] != INFINITY || lse[3] != -INFINITY;
    printf("row log-sum-exp on the CPU: %d of %d rows off\n", bad, N);
    CHECK(bad == 0);
    free(x);
}

/* Top-p without top-k from the 1024 largest logits and the row's log-sum-exp
 * (ttt_sampler_sample_nucleus) draws what ttt_sampler_sample draws from the whole row; where
 * the candidates hold less than top_p it draws nothing (-1) and the whole row is sampled. The
 * rows are Zipf-like, logit = -a log(1 + rank) for random ranks, from sharp (a = 3: a nucleus
 * of a few tokens) to flat (a = 0.5: wider than the candidates). */
static void test_nucleus(void) {
    enum { V = 5000, STEPS = 120 };
    const ttt_sampler_params ps[] = {
        {.temp = 0.8f, .top_k = 0, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1, .seed = 1},
        {.temp = 1.3f, .top_k = 0, .top_p = 0.5f, .min_p = 0, .repeat_penalty = 1, .seed = 2},
        {.temp = 0.6f, .top_k = -1, .top_p = 0.99f, .min_p = 0, .repeat_penalty = 1, .seed = 3},
    };
    float *row = malloc(sizeof(float) * V), tv[TTT_TOP_K_MAX], lse;
    int32_t tid[TTT_TOP_K_MAX];
    for (size_t p = 0; p < sizeof ps / sizeof ps[0]; p++) {
        ttt_sampler *a = NULL, *b = NULL;
        if (!sampler_pair(&ps[p], V, &a, &b)) continue;
        const int k = ttt_sampler_nucleus_k(b);
        CHECK(k == TTT_TOP_K_MAX && ttt_sampler_top_k(b) == 0);
        int differ = 0, from_cands = 0, whole = 0;
        unsigned h = 99u + (unsigned)p;
        for (int s = 0; s < STEPS && k > 0; s++) {
            const float zipf = 0.5f * (float)(1 + s % 6);
            for (int i = 0; i < V; i++) {
                h = h * 1103515245u + 12345u;
                row[i] = -zipf * logf(1.0f + (float)((h >> 8) % (unsigned)V));
            }
            ttt_cpu_topk(tv, tid, &lse, row, 1, V, V, k);
            for (int i = 0; s % 2 && i < k / 2; i++) { /* in any order, as the API allows */
                const float t = tv[i];
                const int32_t u = tid[i];
                tv[i] = tv[k - 1 - i], tid[i] = tid[k - 1 - i];
                tv[k - 1 - i] = t, tid[k - 1 - i] = u;
            }
            const int32_t x = ttt_sampler_sample(a, row);
            int32_t y = ttt_sampler_sample_nucleus(b, tv, tid, k, lse);
            if (y < 0) {
                whole++;
                y = ttt_sampler_sample(b, row);
            } else {
                from_cands++;
            }
            differ += x != y;
        }
        printf("sampler set %zu, top-p %.2f: nucleus from %d candidates vs the whole row: %d of "
               "%d draws differ (%d from the candidates, %d from the whole row)\n", p,
               ps[p].top_p, k, differ, STEPS, from_cands, whole);
        CHECK(differ == 0 && from_cands > STEPS / 3 && whole > 0);
        ttt_sampler_free(a);
        ttt_sampler_free(b);
    }
    ttt_sampler_params g = ttt_sampler_default_params(); /* top_k 40: not this path */
    ttt_sampler *s = NULL;
    CHECK_OK(ttt_sampler_init(&g, V, &s));
    CHECK(ttt_sampler_nucleus_k(s) == 0 && ttt_sampler_sample_nucleus(s, tv, tid, 10, 0) == -1);
    ttt_sampler_free(s);
    free(row);
}

static void test_top_k_bounds(void) {
    ttt_sampler_params p = ttt_sampler_default_params(); /* top_k 40 */
    ttt_sampler *s = NULL;
    CHECK_OK(ttt_sampler_init(&p, 100, &s));
    CHECK(ttt_sampler_top_k(s) == 40 && ttt_sampler_n_vocab(s) == 100);
    ttt_sampler_free(s);
    p.repeat_penalty = 1.1f; /* plus the distinct tokens of the history */
    p.repeat_last_n = 4;
    CHECK_OK(ttt_sampler_init(&p, 100, &s));
    for (int t = 0; t < 6; t++) ttt_sampler_accept(s, t);
    CHECK(ttt_sampler_top_k(s) == 44);
    ttt_sampler_free(s);
    p.repeat_penalty = 0.9f; /* raises logits: a token from anywhere may enter */
    CHECK_OK(ttt_sampler_init(&p, 100, &s));
    CHECK(ttt_sampler_top_k(s) == 0);
    ttt_sampler_free(s);
    p.repeat_penalty = 1.0f;
    p.top_k = 0; /* top-p over the whole vocabulary */
    CHECK_OK(ttt_sampler_init(&p, 100, &s));
    CHECK(ttt_sampler_top_k(s) == 0);
    ttt_sampler_free(s);
    p.top_k = 100; /* all of it */
    CHECK_OK(ttt_sampler_init(&p, 100, &s));
    CHECK(ttt_sampler_top_k(s) == 0);
    ttt_sampler_free(s);
    p.top_k = TTT_TOP_K_MAX + 1;
    CHECK_OK(ttt_sampler_init(&p, 5000, &s));
    CHECK(ttt_sampler_top_k(s) == 0);
    ttt_sampler_free(s);
    p.temp = 0; /* greedy: one */
    CHECK_OK(ttt_sampler_init(&p, 5000, &s));
    CHECK(ttt_sampler_top_k(s) == 1);
    ttt_sampler_free(s);
    CHECK(ttt_sampler_top_k(NULL) == 0);
}

/* ttt_eval_out.top_k against the logits of the same call, in a session and in a batch. */
static void test_model(const char *golden) {
    ttt_model_info mi;
    ttt_model *m = check_golden_model(golden, "qwen3", &mi);
    if (!m) return;
    enum { T = 12, K = 33, LIM = 700 };
    const int V = mi.n_vocab;
    int32_t tok[T], id[T * K], rid[K];
    for (int i = 0; i < T; i++) tok[i] = (i * 37 + 5) % V;
    float *lg = malloc(sizeof(float) * (size_t)T * V), val[T * K], rv[K];
    ttt_session *s = NULL, *s2 = NULL;
    CHECK_OK(ttt_session_init(m, NULL, &s));
    CHECK_OK(ttt_session_init(m, NULL, &s2));
    CHECK_OK(ttt_session_eval(s, tok, T, &(ttt_eval_out){.logits = lg, .logits_all = 1,
                                                        .top_k = K, .top_logit = val,
                                                        .top_id = id, .argmax_limit = LIM}));
    int bad = 0;
    for (int r = 0; r < T; r++) {
        ref_top(lg + (size_t)r * V, LIM, K, rv, rid);
        for (int j = 0; j < K; j++)
            bad += id[r * K + j] != rid[j] || !same_bits(val[r * K + j], rv[j]);
    }
    printf("session top-%d below %d: %d of %d entries differ from the logits' sort\n", K, LIM,
           bad, T * K);
    CHECK(bad == 0);
    /* the last row only, without logits */
    int32_t id1[K];
    float val1[K];
    ttt_session_reset(s);
    CHECK_OK(ttt_session_eval(s, tok, T, &(ttt_eval_out){.top_k = K, .top_logit = val1,
                                                        .top_id = id1, .argmax_limit = LIM}));
    CHECK(!memcmp(id1, id + (T - 1) * K, sizeof id1));

    /* the logits kept where the model ran, for a sampler that needs the whole row */
    float *kept = malloc(sizeof(float) * (size_t)V);
    ttt_session_reset(s);
    CHECK_OK(ttt_session_eval(s, tok, T, &(ttt_eval_out){.top_k = K, .top_logit = val1,
                                                        .top_id = id1}));
    CHECK_OK(ttt_session_logits(s, kept));
    CHECK(kept && !memcmp(kept, lg + (size_t)(T - 1) * V, sizeof(float) * V));
    CHECK_OK(ttt_session_eval(s, tok, 1, &(ttt_eval_out){.logits = kept}));
    CHECK_FAILS(ttt_session_logits(s, kept), TTT_ERR_ARG, "kept no logits");
    free(kept);

    /* a batch of two sessions: its candidates against its own logits */
    ttt_batch *b = NULL;
    CHECK_OK(ttt_batch_init(m, 2, &b));
    ttt_session_reset(s);
    CHECK_OK(ttt_session_eval(s, tok, 5, NULL));
    CHECK_OK(ttt_session_eval(s2, tok + 3, 7, NULL));
    ttt_session *const both[] = {s, s2};
    const int32_t nt[2] = {1, 2};
    CHECK_OK(ttt_batch_decode_out(b, both, 2, nt, &(ttt_eval_out){.logits = lg, .top_k = K,
                                                                  .top_logit = val, .top_id = id}));
    bad = 0;
    for (int r = 0; r < 2; r++) {
        ref_top(lg + (size_t)r * V, V, K, rv, rid);
        for (int j = 0; j < K; j++) bad += id[r * K + j] != rid[j];
    }
    CHECK(bad == 0);

    /* malformed requests fail before anything runs */
    const int before = ttt_session_n_past(s);
    CHECK_FAILS(ttt_session_eval(s, tok, 1, &(ttt_eval_out){.top_k = K}), TTT_ERR_ARG,
                "top_logit");
    CHECK_FAILS(ttt_session_eval(s, tok, 1, &(ttt_eval_out){.top_k = TTT_TOP_K_MAX + 1,
                                                           .top_logit = val, .top_id = id}),
                TTT_ERR_ARG, "top_k");
    CHECK_FAILS(ttt_session_eval(s, tok, 1, &(ttt_eval_out){.top_k = 20, .argmax_limit = 10,
                                                           .top_logit = val, .top_id = id}),
                TTT_ERR_ARG, "outside [0, 10]");
    CHECK_FAILS(ttt_batch_decode_out(b, both, 2, nt, &(ttt_eval_out){.top_k = -1}), TTT_ERR_ARG,
                "top_k");
    CHECK_FAILS(ttt_batch_decode_out(b, both, 2, nt, &(ttt_eval_out){.hidden = lg}), TTT_ERR_ARG,
                "hidden");
    CHECK(ttt_session_n_past(s) == before);
    ttt_batch_free(b);
    ttt_session_free(s);
    ttt_session_free(s2);
    ttt_model_free(m);
    free(lg);
}

int main(void) {
    test_select();
    test_sample_equal();
    test_top_k_bounds();
    test_lse();
    test_nucleus();
    const char *golden = getenv("TTT_GOLDEN");
    if (golden) test_model(golden);
    else printf("TTT_GOLDEN not set: the model checks skipped\n");
    return check_summary("test_topk");
}
