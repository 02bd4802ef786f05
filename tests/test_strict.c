/* test_strict.c - the session calls of strict ingest-then-answer evaluation: flush folds a
 * partial chunk in exactly as a complete chunk of that length would be; clear_kv drops every
 * token but keeps what the fast weights learned. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ttt.h"

enum { NQ = 6 };

static ttt_model *g_m;
static int g_V, g_C;
static int32_t g_doc[64], g_q[NQ];

/* Reads `n` document tokens (flushing if asked), drops the KV cache, answers the question
 * with frozen fast weights: the question's logits. */
static ttt_status ingest_answer(int n, int flush, float *logits) {
    ttt_session *s;
    ttt_status st = ttt_session_init(g_m, NULL, &s);
    if (st != TTT_OK) return st;
    if ((st = ttt_session_eval(s, g_doc, n, NULL)) == TTT_OK && flush) st = ttt_session_flush(s);
    if (st == TTT_OK) st = ttt_session_clear_kv(s);
    if (st == TTT_OK) CHECK(ttt_session_n_past(s) == 0);
    if (st == TTT_OK) st = ttt_session_set_ttt(s, TTT_MODE_FROZEN);
    if (st == TTT_OK)
        st = ttt_session_eval(s, g_q, NQ, &(ttt_eval_out){.logits = logits, .logits_all = 1});
    ttt_session_free(s);
    return st;
}

static ttt_status plain(const int32_t *ids, int n, int mode, float *logits) {
    ttt_session_params p = ttt_session_default_params();
    p.ttt_mode = mode;
    ttt_session *s;
    ttt_status st = ttt_session_init(g_m, &p, &s);
    if (st != TTT_OK) return st;
    st = ttt_session_eval(s, ids, n, &(ttt_eval_out){.logits = logits, .logits_all = 1});
    ttt_session_free(s);
    return st;
}

static double rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / den;
}

int main(void) {
    const char *golden = getenv("TTT_GOLDEN");
    if (!golden) {
        printf("TTT_GOLDEN not set: skipped\n");
        return 77;
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/qwen3", golden);
    CHECK_OK(ttt_model_load(dir, &g_m));
    if (!g_m) return check_summary("test_strict");
    ttt_model_info mi;
    ttt_model_get_info(g_m, &mi);
    g_V = mi.n_vocab, g_C = mi.ttt_chunk;
    CHECK(g_C == 16);
    for (int i = 0; i < 64; i++) g_doc[i] = (int32_t)((i * 131 + 7) % g_V);
    for (int i = 0; i < NQ; i++) g_q[i] = (int32_t)((i * 17 + 400) % g_V);
    const size_t n = (size_t)NQ * g_V;
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    float *c = malloc(n * sizeof(float));

    /* 1. r = 5 pending rows flushed == a model whose chunk is exactly 5 reading 5 tokens */
    const int r = 5;
    CHECK_OK(ingest_answer(r, 1, a));
    CHECK_OK(ttt_model_set_ttt(g_m, r, mi.ttt_lr));
    CHECK_OK(ingest_answer(r, 0, b));
    CHECK_OK(ttt_model_set_ttt(g_m, g_C, mi.ttt_lr));
    printf("flush of %d rows vs a chunk of %d: max rel err %.3g\n", r, r, rel(a, b, n));
    CHECK(rel(a, b, n) < 1e-6);
    /* ... and it mattered: without the flush the 5 rows are lost */
    CHECK_OK(ingest_answer(r, 0, c));
    CHECK(rel(c, a, n) > 1e-3);

    /* 2. two complete chunks and a partial one: flushing the partial one changes the answer;
     * with nothing pending, flush changes nothing */
    CHECK_OK(ingest_answer(2 * g_C + 3, 1, a));
    CHECK_OK(ingest_answer(2 * g_C + 3, 0, b));
    CHECK(rel(a, b, n) > 1e-3);
    CHECK_OK(ingest_answer(2 * g_C, 1, a));
    CHECK_OK(ingest_answer(2 * g_C, 0, b));
    CHECK(!memcmp(a, b, n * sizeof(float)));

    /* 3. with no learning (eta 0) the answer after clear_kv is that of the question alone,
     * read by a fresh session with TTT off: the document left no trace in the cache */
    CHECK_OK(ttt_model_set_ttt(g_m, g_C, 0));
    CHECK_OK(ingest_answer(40, 1, a));
    CHECK_OK(plain(g_q, NQ, TTT_MODE_OFF, b));
    printf("eta 0, after clear_kv vs fresh: max rel err %.3g\n", rel(a, b, n));
    CHECK(rel(a, b, n) < 1e-5);
    CHECK_OK(ttt_model_set_ttt(g_m, g_C, mi.ttt_lr));

    /* 4. arguments */
    CHECK_FAILS(ttt_session_flush(NULL), TTT_ERR_ARG, "NULL session");
    CHECK_FAILS(ttt_session_clear_kv(NULL), TTT_ERR_ARG, "NULL session");
    free(a);
    free(b);
    free(c);
    ttt_model_free(g_m);
    return check_summary("test_strict");
}
