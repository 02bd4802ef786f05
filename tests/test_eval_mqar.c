/* test_eval_mqar.c - MQAR sequences have Zoology's layout (key-value block, then the keys
 * again at query positions labelled with their values, everything else ignored), are
 * deterministic per seed, and the accuracy is the per-example mean; plus the size search of
 * the context filling on made-up token curves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "eval/eval.h"
#include "eval/fill.h"

static void test_layout(void) {
    ttt_mqar_params p = ttt_mqar_default_params();
    CHECK(p.vocab_size == 8192 && p.n_kv == 8 && p.seq_len == 64 && p.power_a == 0.01);
    p.vocab_size = 100, p.n_kv = 6, p.seq_len = 40, p.random_non_queries = false;
    enum { N = 50, L = 40 };
    int32_t *in = malloc(sizeof(int32_t) * N * L), *lab = malloc(sizeof(int32_t) * N * L);
    CHECK_OK(ttt_mqar_generate(&p, 123, 0, N, in, lab));
    long early = 0, queries = 0;
    for (int e = 0; e < N; e++) {
        const int32_t *x = in + e * L, *y = lab + e * L;
        for (int j = 0; j < 6; j++) {
            CHECK(x[2 * j] >= 1 && x[2 * j] < 50);          /* keys in [1, V/2) */
            CHECK(x[2 * j + 1] >= 50 && x[2 * j + 1] < 100); /* values in [V/2, V) */
            CHECK(y[2 * j] == TTT_MQAR_IGNORE && y[2 * j + 1] == TTT_MQAR_IGNORE);
            for (int k = 0; k < j; k++) CHECK(x[2 * k] != x[2 * j] && x[2 * k + 1] != x[2 * j + 1]);
        }
        int labelled = 0;
        for (int i = 12; i < L; i++) {
            if (y[i] == TTT_MQAR_IGNORE) {
                CHECK(x[i] == 0); /* filler (random_non_queries off) */
                continue;
            }
            labelled++;
            CHECK((i - 12) % 2 == 0); /* queries at even offsets: 2 * gap */
            early += i - 12 < 8;
            queries++;
            /* the query is a key, labelled with that key's value */
            int found = 0;
            for (int j = 0; j < 6; j++)
                if (x[2 * j] == x[i]) {
                    found++;
                    CHECK(y[i] == x[2 * j + 1]);
                }
            CHECK(found == 1);
        }
        CHECK(labelled == 6);
    }
    /* gaps ~ 1/(i+1) over 14 slots: the first 4 slots hold well over 4/14 of the queries */
    CHECK(early * 14 > queries * 5);
    /* deterministic, seed-dependent; random fillers only in the query region's zeros */
    int32_t *in2 = malloc(sizeof(int32_t) * N * L), *lab2 = malloc(sizeof(int32_t) * N * L);
    CHECK_OK(ttt_mqar_generate(&p, 123, 0, N, in2, lab2));
    CHECK(!memcmp(in, in2, sizeof(int32_t) * N * L) && !memcmp(lab, lab2, sizeof(int32_t) * N * L));
    CHECK_OK(ttt_mqar_generate(&p, 124, 0, N, in2, lab2));
    CHECK(memcmp(in, in2, sizeof(int32_t) * N * L) != 0);
    /* in chunks: the same examples */
    CHECK_OK(ttt_mqar_generate(&p, 123, 0, 20, in2, lab2));
    CHECK_OK(ttt_mqar_generate(&p, 123, 20, N - 20, in2 + 20 * L, lab2 + 20 * L));
    CHECK(!memcmp(in, in2, sizeof(int32_t) * N * L) && !memcmp(lab, lab2, sizeof(int32_t) * N * L));
    p.random_non_queries = true;
    CHECK_OK(ttt_mqar_generate(&p, 123, 0, N, in2, lab2));
    CHECK(!memcmp(lab, lab2, sizeof(int32_t) * N * L));
    CHECK(!memcmp(in, in2, sizeof(int32_t) * 12));
    int nonzero = 0;
    for (int i = 12; i < L; i++) nonzero += in2[i] != 0;
    CHECK(nonzero > 20);
    /* accuracy: per example, the fraction of labelled positions right; then the mean */
    int32_t *pred = malloc(sizeof(int32_t) * N * L);
    memcpy(pred, lab, sizeof(int32_t) * N * L);
    CHECK(ttt_mqar_accuracy(lab, pred, N, L) == 1.0);
    for (int i = 0; i < L; i++)
        if (lab[i] != TTT_MQAR_IGNORE) { pred[i] = -1; break; } /* one of 6 wrong in example 0 */
    for (int i = 0; i < L; i++) if (lab[L + i] != TTT_MQAR_IGNORE) pred[L + i] = -1; /* all of example 1 */
    double want = (5.0 / 6 + 0 + 48) / 50;
    double got = ttt_mqar_accuracy(lab, pred, N, L);
    CHECK(got > want - 1e-12 && got < want + 1e-12);
    free(in), free(lab), free(in2), free(lab2), free(pred);
}

static void test_bad_params(void) {
    ttt_mqar_params p = ttt_mqar_default_params();
    int32_t a[64], b[64];
    p.seq_len = 63;
    CHECK_FAILS(ttt_mqar_generate(&p, 1, 0, 1, a, b), TTT_ERR_ARG, "even");
    p = ttt_mqar_default_params();
    p.n_kv = 17; /* 17*2 + 17*2 > 64 */
    CHECK_FAILS(ttt_mqar_generate(&p, 1, 0, 1, a, b), TTT_ERR_ARG, "need seq_len >= 68");
    p = ttt_mqar_default_params();
    p.vocab_size = 64;
    CHECK_FAILS(ttt_mqar_generate(&p, 1, 0, 1, a, b), TTT_ERR_ARG, "vocab_size 64 must exceed");
    p = ttt_mqar_default_params();
    p.power_a = 0;
    CHECK_FAILS(ttt_mqar_generate(&p, 1, 0, 1, a, b), TTT_ERR_ARG, "power_a");
}

/* made-up prompt curves for the size search */
typedef struct curve { double base, per; int calls; int step; } curve;

static ttt_status probe(void *ctx, long size, int *tokens) {
    curve *c = ctx;
    c->calls++;
    /* tokens grow in steps of c->step per unit: coarse haystacks */
    *tokens = (int)(c->base + c->per * (double)size) + (int)(size % 3);
    return TTT_OK;
}

static void test_fill(void) {
    int budgets[4] = {300, 4000, 32000, 130000};
    for (int i = 0; i < 4; i++) {
        curve c = {.base = 80, .per = 7.3};
        ttt_fill_range r = {.lo = 1, .hi = 1000000, .budget = budgets[i]};
        ttt_fill_result res;
        CHECK_OK(ttt_fill_search(probe, &c, &r, &res));
        CHECK(res.in_window && res.tokens <= budgets[i] && res.tokens >= 0.95 * budgets[i]);
        CHECK(res.probes <= 6);
        /* starting from the right size costs one probe */
        r.hint = res.size;
        c.calls = 0;
        CHECK_OK(ttt_fill_search(probe, &c, &r, &res));
        CHECK(c.calls == 1 && res.in_window);
    }
    /* units too coarse for the window: the largest size that fits */
    curve c = {.base = 10, .per = 100};
    ttt_fill_range r = {.lo = 1, .hi = 1000, .budget = 250};
    ttt_fill_result res;
    CHECK_OK(ttt_fill_search(probe, &c, &r, &res));
    CHECK(res.size == 2 && res.tokens == 212 && !res.in_window);
    /* capped haystack (QA pool): the cap, below the window */
    r = (ttt_fill_range){.lo = 1, .hi = 5, .budget = 10000};
    CHECK_OK(ttt_fill_search(probe, &c, &r, &res));
    CHECK(res.size == 5 && !res.in_window);
    /* even the smallest is too long */
    r = (ttt_fill_range){.lo = 1, .hi = 5, .budget = 50};
    CHECK_FAILS(ttt_fill_search(probe, &c, &r, &res), TTT_ERR_ARG, "over the budget of 50");
    CHECK(res.too_small && res.tokens == 111);
}

int main(void) {
    test_layout();
    test_bad_params();
    test_fill();
    return check_summary("test_eval_mqar");
}
