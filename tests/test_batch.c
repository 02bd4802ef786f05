/* test_batch.c - several sessions decoding together (ttt_batch_*). On every golden model,
 * sessions at different positions step through the golden ids in one batch, joining and
 * leaving between steps and crossing chunk ends inside batched steps; each row's logits must
 * match the golden logits of its position (1e-4, the float32 bound), a TTT-off session the
 * golden logits_no_ttt, and a session that left must go on alone from the state the batch
 * gave it. Then the argument errors, which must leave the sessions usable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "ttt.h"

#define NS 4

typedef struct gold_ref {
    int T, V;
    int32_t *ids;   /* [T] */
    float *logits;  /* [T, V] */
    float *no_ttt;  /* [T, V] */
    double den, den_no_ttt; /* max |reference| of each tensor */
} gold_ref;

static int golden_load(const char *dir, gold_ref *g) {
    char path[1100];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    ttt_tensors *e = NULL;
    ttt_tensor_info ids, lg, nt;
    if (ttt_tensors_open(path, &e) != TTT_OK || ttt_tensors_find(e, "input_ids", &ids) ||
        ttt_tensors_find(e, "logits", &lg) || ttt_tensors_find(e, "logits_no_ttt", &nt)) {
        fprintf(stderr, "%s: %s\n", path, ttt_last_error());
        ttt_tensors_close(e);
        return -1;
    }
    g->T = (int)ids.n_elements;
    g->V = (int)(lg.n_elements / ids.n_elements);
    g->ids = malloc(sizeof(int32_t) * g->T);
    g->logits = malloc(sizeof(float) * lg.n_elements);
    g->no_ttt = malloc(sizeof(float) * nt.n_elements);
    for (int t = 0; t < g->T; t++)
        g->ids[t] = ids.dtype == TTT_DT_I64 ? (int32_t)((const int64_t *)ids.data)[t]
                                            : ((const int32_t *)ids.data)[t];
    ttt_tensor_to_f32(&lg, g->logits);
    ttt_tensor_to_f32(&nt, g->no_ttt);
    g->den = g->den_no_ttt = 0;
    for (size_t i = 0; i < lg.n_elements; i++) {
        g->den = fmax(g->den, fabs(g->logits[i]));
        g->den_no_ttt = fmax(g->den_no_ttt, fabs(g->no_ttt[i]));
    }
    ttt_tensors_close(e);
    return 0;
}

static void golden_free(gold_ref *g) {
    free(g->ids);
    free(g->logits);
    free(g->no_ttt);
}

/* max |a - ref row t| / max |ref| */
static double row_err(const float *a, const float *ref, double den, int V) {
    double num = 0;
    for (int j = 0; j < V; j++) {
        double d = fabs((double)a[j] - ref[j]);
        num = d > num || d != d ? (d != d ? INFINITY : d) : num;
    }
    return num / den;
}

static void test_model(const char *golden_dir, const char *name) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", golden_dir, name);
    gold_ref g;
    ttt_model *m = NULL;
    if (golden_load(dir, &g)) {
        CHECK(0);
        return;
    }
    CHECK_OK(ttt_model_load(dir, &m));
    if (!m) return;
    const int T = g.T, V = g.V;
    /* s[0..2]: TTT on; s[3]: TTT off. Prefills of different lengths; s[2] joins at step 6,
     * s[1] leaves at step 30 and finishes alone. */
    static const int prefill[NS] = {20, 5, 37, 11};
    static const int join[NS] = {0, 0, 6, 0}, leave[NS] = {1 << 30, 30, 1 << 30, 1 << 30};
    ttt_session *s[NS] = {0};
    ttt_batch *b = NULL;
    float *lg = malloc(sizeof(float) * (size_t)NS * V);
    double err[NS] = {0};
    int rows[NS] = {0};
    CHECK_OK(ttt_batch_init(m, NS, &b));
    for (int i = 0; i < NS; i++) {
        ttt_session_params sp = ttt_session_default_params();
        sp.n_ctx = T;
        sp.ttt_mode = i == 3 ? TTT_MODE_OFF : TTT_MODE_ON;
        CHECK_OK(ttt_session_init(m, &sp, &s[i]));
        if (!s[i]) goto out;
        CHECK_OK(ttt_session_eval(s[i], g.ids, prefill[i], NULL));
    }
    if (!b) goto out;
    for (int step = 0;; step++) {
        ttt_session *run[NS];
        int32_t tok[NS];
        int n = 0;
        for (int i = 0; i < NS; i++) {
            const int p = ttt_session_n_past(s[i]);
            if (step < join[i] || step >= leave[i] || p >= T) continue;
            run[n] = s[i];
            tok[n++] = g.ids[p];
        }
        if (n == 0) break;
        /* every other step also asks for the argmax, which must be each row's first maximum */
        int32_t am[NS];
        ttt_status st = step % 2 ? ttt_batch_decode_argmax(b, run, n, tok, lg, am)
                                 : ttt_batch_decode(b, run, n, tok, lg);
        CHECK_OK(st);
        if (st != TTT_OK) break;
        for (int r = 0; step % 2 && r < n; r++) {
            const float *l = lg + (size_t)r * V;
            int best = 0;
            for (int j = 1; j < V; j++) best = l[j] > l[best] ? j : best;
            CHECK(am[r] == best);
        }
        for (int r = 0; r < n; r++) {
            const int i = (int)(run[r] == s[0] ? 0 : run[r] == s[1] ? 1 : run[r] == s[2] ? 2 : 3);
            const int p = ttt_session_n_past(run[r]) - 1;
            const float *ref = (i == 3 ? g.no_ttt : g.logits) + (size_t)p * V;
            const double den = i == 3 ? g.den_no_ttt : g.den;
            err[i] = fmax(err[i], row_err(lg + (size_t)r * V, ref, den, V));
            rows[i]++;
        }
    }
    /* the session that left goes on alone */
    for (int p = ttt_session_n_past(s[1]); p < T; p++) {
        CHECK_OK(ttt_session_eval(s[1], &g.ids[p], 1, &(ttt_eval_out){.logits = lg}));
        err[1] = fmax(err[1], row_err(lg, g.logits + (size_t)p * V, g.den, V));
    }
    for (int i = 0; i < NS; i++) {
        printf("%s: session %d (%s, prefill %d): %d batched rows, max rel err %.3e\n", name, i,
               i == 3 ? "TTT off" : "TTT on", prefill[i], rows[i], err[i]);
        CHECK(rows[i] >= 10);
        CHECK(err[i] < 1e-4);
        CHECK(ttt_session_n_past(s[i]) == T);
    }

    /* errors leave the sessions untouched */
    ttt_session_reset(s[0]);
    ttt_session_reset(s[1]);
    int32_t tk[NS] = {1, 2, 3, 4};
    CHECK_FAILS(ttt_batch_decode(b, (ttt_session *const[]){s[0], s[0]}, 2, tk, lg), TTT_ERR_ARG,
                "passed twice");
    CHECK_FAILS(ttt_batch_decode(b, s, NS + 1, tk, lg), TTT_ERR_ARG, "max_seqs");
    CHECK_FAILS(ttt_batch_decode(b, s, 0, tk, lg), TTT_ERR_ARG, "0 sessions");
    CHECK_FAILS(ttt_batch_decode(b, (ttt_session *const[]){s[0], s[2]}, 2, tk, lg), TTT_ERR_ARG,
                "session 1 is full");
    CHECK_FAILS(ttt_batch_decode(b, (ttt_session *const[]){s[0], s[1]}, 2,
                                 (const int32_t[]){0, V}, lg),
                TTT_ERR_ARG, "out of range");
    CHECK(ttt_session_n_past(s[0]) == 0 && ttt_session_n_past(s[1]) == 0);
    /* a session of another model */
    ttt_model *m2 = NULL;
    ttt_session *other = NULL;
    CHECK_OK(ttt_model_load(dir, &m2));
    if (m2) CHECK_OK(ttt_session_init(m2, NULL, &other));
    if (other)
        CHECK_FAILS(ttt_batch_decode(b, (ttt_session *const[]){s[0], other}, 2, tk, lg),
                    TTT_ERR_ARG, "another model");
    ttt_session_free(other);
    ttt_model_free(m2);
    /* after the refusals the sessions still decode: logits of position 0 */
    CHECK_OK(ttt_batch_decode(b, (ttt_session *const[]){s[1], s[0]}, 2,
                              (const int32_t[]){g.ids[0], g.ids[0]}, lg));
    CHECK(row_err(lg, g.logits, g.den, V) < 1e-4);
    CHECK(row_err(lg + V, g.logits, g.den, V) < 1e-4);
    CHECK_FAILS(ttt_batch_init(m, 0, &(ttt_batch *){NULL}), TTT_ERR_ARG, "max_seqs");
out:
    for (int i = 0; i < NS; i++) ttt_session_free(s[i]);
    ttt_batch_free(b);
    ttt_model_free(m);
    free(lg);
    golden_free(&g);
}

int main(void) {
    const char *golden = getenv("TTT_GOLDEN");
    if (!golden) golden = "../shared/golden";
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/qwen3/expected.safetensors", golden);
    FILE *f = fopen(probe, "rb");
    if (!f) {
        printf("golden fixtures not found in %s (set TTT_GOLDEN): skipped\n", golden);
        return 77;
    }
    fclose(f);
    const char *models[] = {"qwen3", "qwen3_embed_tied", "llama3", "gemma3"};
    for (int i = 0; i < 4; i++) test_model(golden, models[i]);
    return check_summary("test_batch");
}
