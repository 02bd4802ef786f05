/* test_sample.c - the sampler: greedy decoding of every golden model reproduces the argmax of
 * the golden logits when fed the golden ids one by one; the sampling filters keep the right
 * tokens; draws follow the softmax; the same seed gives the same tokens; model TTT overrides. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ttt.h"
#include "util/rng.h"

static void test_greedy_golden(const char *golden, const char *name) {
    char dir[1024], exp[1100];
    snprintf(dir, sizeof dir, "%s/%s", golden, name);
    snprintf(exp, sizeof exp, "%s/expected.safetensors", dir);
    ttt_model *m = NULL;
    ttt_tensors *e = NULL;
    CHECK_OK(ttt_model_load(dir, &m));
    CHECK_OK(ttt_tensors_open(exp, &e));
    if (!m || !e) goto out;
    ttt_model_info mi;
    ttt_model_get_info(m, &mi);
    ttt_tensor_info ids, lg;
    CHECK_OK(ttt_tensors_find(e, "input_ids", &ids));
    CHECK_OK(ttt_tensors_find(e, "logits", &lg));
    const int T = (int)ids.n_elements, V = mi.n_vocab;
    float *gold = malloc(sizeof(float) * (size_t)T * V), *logits = malloc(sizeof(float) * V);
    int32_t *tok = malloc(sizeof(int32_t) * T);
    CHECK_OK(ttt_tensor_to_f32(&lg, gold));
    for (int t = 0; t < T; t++) {
        if (ids.dtype == TTT_DT_I64) tok[t] = (int32_t)((const int64_t *)ids.data)[t];
        else tok[t] = ((const int32_t *)ids.data)[t];
    }
    ttt_sampler_params sp = ttt_sampler_default_params();
    sp.temp = 0;
    ttt_sampler *smp = NULL;
    ttt_session *s = NULL;
    CHECK_OK(ttt_sampler_init(&sp, V, &smp));
    CHECK_OK(ttt_session_init(m, NULL, &s));
    int checked = 0, same = 0;
    for (int t = 0; s && smp && t < T; t++) {
        CHECK_OK(ttt_session_eval(s, &tok[t], 1, &(ttt_eval_out){.logits = logits}));
        const float *g = gold + (size_t)t * V;
        int a = 0, b = -1; /* golden best and runner-up */
        for (int j = 1; j < V; j++) {
            if (g[j] > g[a]) b = a, a = j;
            else if (b < 0 || g[j] > g[b]) b = j;
        }
        /* a near-tie within float32 noise could go either way: no verdict there */
        if (g[a] - g[b] < 1e-3f * (fabsf(g[a]) + 1)) continue;
        checked++;
        same += ttt_sampler_sample(smp, logits) == a;
    }
    printf("%s: greedy matches the golden argmax at %d of %d decisive positions\n", name, same,
           checked);
    CHECK(checked > T / 2);
    CHECK(same == checked);
    ttt_session_free(s);
    ttt_sampler_free(smp);
    free(gold);
    free(logits);
    free(tok);
out:
    ttt_tensors_close(e);
    ttt_model_free(m);
}

static int draw(ttt_sampler *s, const float *l) { return (int)ttt_sampler_sample(s, l); }

static void test_filters(void) {
    enum { V = 1000 };
    static float l[V];
    for (int i = 0; i < V; i++) l[i] = (float)((i * 7919) % V) / 100.0f; /* a permutation */
    int top = 0;
    for (int i = 0; i < V; i++) top = l[i] > l[top] ? i : top;
    ttt_sampler_params p = ttt_sampler_default_params();
    ttt_sampler *s = NULL;
    /* top-k 1, min-p 1 and a tiny top-p each leave only the best token */
    p.top_k = 1;
    CHECK_OK(ttt_sampler_init(&p, V, &s));
    for (int i = 0; i < 50; i++) CHECK(draw(s, l) == top);
    ttt_sampler_free(s);
    p = ttt_sampler_default_params();
    p.top_k = 0, p.top_p = 1, p.min_p = 1;
    CHECK_OK(ttt_sampler_init(&p, V, &s));
    for (int i = 0; i < 50; i++) CHECK(draw(s, l) == top);
    ttt_sampler_free(s);
    p.min_p = 0, p.top_p = 1e-6f;
    CHECK_OK(ttt_sampler_init(&p, V, &s));
    for (int i = 0; i < 50; i++) CHECK(draw(s, l) == top);
    ttt_sampler_free(s);
    /* top-k k: only the k largest logits (values 9.99, 9.98, ... here) ever come out */
    for (int k = 2; k <= 64; k *= 4) {
        p = ttt_sampler_default_params();
        p.top_k = k, p.top_p = 1, p.min_p = 0, p.temp = 100, p.seed = (uint64_t)k;
        CHECK_OK(ttt_sampler_init(&p, V, &s));
        int bad = 0, seen_last = 0;
        float cut = (float)(V - k) / 100.0f - 1e-4f;
        for (int i = 0; i < 2000; i++) {
            int t = draw(s, l);
            bad += l[t] < cut;
            seen_last += fabsf(l[t] - cut) < 2e-4f;
        }
        CHECK(bad == 0);
        CHECK(seen_last > 0); /* the k-th token itself is kept */
        ttt_sampler_free(s);
    }
}

static void test_distribution(void) {
    const float l[4] = {logf(0.5f), logf(0.3f), logf(0.2f), -INFINITY};
    ttt_sampler_params p = ttt_sampler_default_params();
    p.temp = 1, p.top_k = 0, p.top_p = 1, p.min_p = 0, p.seed = 7;
    ttt_sampler *s = NULL;
    CHECK_OK(ttt_sampler_init(&p, 4, &s));
    int cnt[4] = {0};
    const int N = 40000;
    for (int i = 0; i < N; i++) cnt[draw(s, l)]++;
    CHECK(fabs(cnt[0] / (double)N - 0.5) < 0.015);
    CHECK(fabs(cnt[1] / (double)N - 0.3) < 0.015);
    CHECK(fabs(cnt[2] / (double)N - 0.2) < 0.015);
    CHECK(cnt[3] == 0);
    /* temperature 0.5 squares the odds: 25 : 9 : 4 */
    ttt_sampler_free(s);
    p.temp = 0.5f;
    CHECK_OK(ttt_sampler_init(&p, 4, &s));
    memset(cnt, 0, sizeof cnt);
    for (int i = 0; i < N; i++) cnt[draw(s, l)]++;
    CHECK(fabs(cnt[0] / (double)N - 25.0 / 38) < 0.015);
    CHECK(fabs(cnt[2] / (double)N - 4.0 / 38) < 0.015);
    /* same seed, same tokens; a reset restarts the sequence */
    int a[64], b[64];
    ttt_sampler_reset(s);
    for (int i = 0; i < 64; i++) a[i] = draw(s, l);
    ttt_sampler *s2 = NULL;
    CHECK_OK(ttt_sampler_init(&p, 4, &s2));
    for (int i = 0; i < 64; i++) b[i] = draw(s2, l);
    CHECK(!memcmp(a, b, sizeof a));
    ttt_sampler_free(s2);
    p.seed = 8;
    CHECK_OK(ttt_sampler_init(&p, 4, &s2));
    for (int i = 0; i < 64; i++) b[i] = draw(s2, l);
    CHECK(memcmp(a, b, sizeof a) != 0);
    ttt_sampler_free(s2);
    ttt_sampler_free(s);
}

/* Top-p without top-k, the sampler's growing heads against a reference that sorts the whole
 * row (the sampler's first version): the same draws from the same seed, for rows whose
 * nucleus is a few tokens, thousands, and nearly all of them. */
typedef struct ref_cand {
    float logit;
    int32_t id;
} ref_cand;

static int ref_cmp(const void *a, const void *b) {
    const ref_cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int32_t ref_draw(ttt_rng *r, const float *l, int V, const ttt_sampler_params *p,
                        ref_cand *c, int *nucleus) {
    for (int i = 0; i < V; i++) c[i] = (ref_cand){l[i], i};
    qsort(c, (size_t)V, sizeof *c, ref_cmp);
    double mx = c[0].logit, z = 0, cum = 0;
    for (int i = 0; i < V; i++) z += exp((double)c[i].logit - mx);
    int n = V;
    for (int i = 0; i < V; i++) {
        cum += exp((double)c[i].logit - mx) / z;
        if (cum >= p->top_p) {
            n = i + 1;
            break;
        }
    }
    *nucleus = n;
    if (p->min_p > 0) {
        const double cut = mx + log((double)p->min_p);
        int keep = 1;
        while (keep < n && c[keep].logit >= cut) keep++;
        n = keep;
    }
    double zt = 0;
    for (int i = 0; i < n; i++) zt += exp(((double)c[i].logit - mx) / p->temp);
    const double u = ttt_rng_unit(r) * zt;
    cum = 0;
    for (int i = 0; i < n; i++) {
        cum += exp(((double)c[i].logit - mx) / p->temp);
        if (u < cum) return c[i].id;
    }
    return c[n - 1].id;
}

static void test_nucleus(void) {
    enum { V = 50000, DRAWS = 200 };
    float *l = malloc(sizeof(float) * V);
    ref_cand *c = malloc(sizeof(ref_cand) * V);
    if (!l || !c) {
        CHECK(0);
        free(l);
        free(c);
        return;
    }
    const float spread[3] = {40.0f, 8.0f, 0.05f}; /* nucleus: a few, thousands, nearly all */
    for (int t = 0; t < 3; t++) {
        uint64_t h = 12345 + (uint64_t)t;
        for (int i = 0; i < V; i++) /* a Gaussian-ish row: sum of three uniforms */
            l[i] = spread[t] * (float)((ttt_splitmix64(&h) >> 40) + (ttt_splitmix64(&h) >> 40) +
                                       (ttt_splitmix64(&h) >> 40)) /
                   (float)(1 << 24);
        for (int f = 0; f < 2; f++) {
            ttt_sampler_params p = ttt_sampler_default_params();
            p.top_k = 0, p.top_p = 0.9f, p.temp = 0.8f, p.min_p = f ? 0.05f : 0.0f;
            p.seed = 99 + (uint64_t)(t * 2 + f);
            ttt_sampler *s = NULL;
            CHECK_OK(ttt_sampler_init(&p, V, &s));
            if (!s) continue;
            ttt_rng r;
            ttt_rng_seed(&r, &p.seed, 1);
            int differ = 0, distinct = 0, nucleus = 0;
            int32_t prev = -1;
            for (int d = 0; d < DRAWS; d++) {
                const int32_t a = ttt_sampler_sample(s, l),
                              b = ref_draw(&r, l, V, &p, c, &nucleus);
                differ += a != b;
                distinct += a != prev;
                prev = a;
            }
            printf("top-p 0.9 over %d logits (nucleus %d, min-p %.2f): %d of %d draws differ "
                   "from a full sort, %d changes of token\n", V, nucleus, p.min_p, differ,
                   DRAWS, distinct);
            CHECK(differ == 0);
            CHECK(distinct > 10); /* the draws do vary */
            ttt_sampler_free(s);
        }
    }
    free(l);
    free(c);
}

static void test_penalty(void) {
    const float l[3] = {2.0f, 1.9f, -1.0f};
    ttt_sampler_params p = ttt_sampler_default_params();
    p.temp = 0, p.repeat_penalty = 1.1f, p.repeat_last_n = 2;
    ttt_sampler *s = NULL;
    CHECK_OK(ttt_sampler_init(&p, 3, &s));
    CHECK(draw(s, l) == 0);
    ttt_sampler_accept(s, 0); /* 2.0 / 1.1 = 1.82 < 1.9 */
    CHECK(draw(s, l) == 1);
    ttt_sampler_accept(s, 1); /* both penalised: 1.82 vs 1.73 */
    CHECK(draw(s, l) == 0);
    ttt_sampler_accept(s, 2);
    ttt_sampler_accept(s, 2); /* 0 and 1 have left the window of 2 */
    CHECK(draw(s, l) == 0);
    ttt_sampler_free(s);
    /* bad parameters */
    p = ttt_sampler_default_params();
    p.repeat_penalty = 0;
    CHECK_FAILS(ttt_sampler_init(&p, 3, &s), TTT_ERR_ARG, "repeat_penalty");
    CHECK_FAILS(ttt_sampler_init(NULL, 0, &s), TTT_ERR_ARG, "vocabulary size 0");
    p = ttt_sampler_default_params();
    p.min_p = 2;
    CHECK_FAILS(ttt_sampler_init(&p, 3, &s), TTT_ERR_ARG, "min_p");
}

static double rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / den;
}

/* --ttt-lr / --ttt-chunk: an override changes the outputs exactly as a config with those
 * values would; it is refused while a session exists. */
static void test_set_ttt(const char *golden) {
    ttt_model_info mi;
    ttt_model *m = check_golden_model(golden, "qwen3", &mi);
    if (!m) return;
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 3) % mi.n_vocab;
    size_t n = (size_t)40 * mi.n_vocab;
    float *off = malloc(n * sizeof(float)), *lr0 = malloc(n * sizeof(float));
    ttt_session_params sp = ttt_session_default_params();
    ttt_session *s = NULL;
    sp.ttt_mode = TTT_MODE_OFF;
    CHECK_OK(ttt_session_init(m, &sp, &s));
    CHECK_FAILS(ttt_model_set_ttt(m, 4, 0), TTT_ERR_ARG, "session");
    CHECK_OK(ttt_session_eval(s, ids, 40, &(ttt_eval_out){.logits = off, .logits_all = 1}));
    ttt_session_free(s);
    CHECK_FAILS(ttt_model_set_ttt(m, 0, 1), TTT_ERR_ARG, "chunk size 0");
    CHECK_FAILS(ttt_model_set_ttt(m, 4, -1), TTT_ERR_ARG, "learning rate");
    CHECK_OK(ttt_model_set_ttt(m, 4, 0)); /* eta 0: TTT on equals TTT off */
    ttt_model_get_info(m, &mi);
    CHECK(mi.ttt_chunk == 4 && mi.ttt_lr == 0);
    CHECK_OK(ttt_session_init(m, NULL, &s));
    CHECK_OK(ttt_session_eval(s, ids, 40, &(ttt_eval_out){.logits = lr0, .logits_all = 1}));
    ttt_session_free(s);
    CHECK(rel(lr0, off, n) < 1e-5); /* same function, other GEMM blocking */
    CHECK_OK(ttt_model_set_ttt(m, 4, 0.3f)); /* a real update now changes the tail */
    CHECK_OK(ttt_session_init(m, NULL, &s));
    CHECK_OK(ttt_session_eval(s, ids, 40, &(ttt_eval_out){.logits = lr0, .logits_all = 1}));
    ttt_session_free(s);
    size_t first = (size_t)4 * mi.n_vocab; /* the first chunk sees W_down only */
    CHECK(rel(lr0, off, first) < 1e-5);
    CHECK(rel(lr0 + first, off + first, n - first) > 1e-2);
    free(off);
    free(lr0);
    ttt_model_free(m);
}

/* ttt_sampler_is_greedy: only when the sample is the argmax of the raw logits */
static void test_is_greedy(void) {
    ttt_sampler_params p = ttt_sampler_default_params();
    ttt_sampler *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(ttt_sampler_init(&p, 10, &a)); /* temp 0.8 */
    p.temp = 0;
    CHECK_OK(ttt_sampler_init(&p, 10, &b));
    p.repeat_penalty = 1.1f; /* greedy, but over penalised logits */
    CHECK_OK(ttt_sampler_init(&p, 10, &c));
    CHECK(!ttt_sampler_is_greedy(a) && ttt_sampler_is_greedy(b) && !ttt_sampler_is_greedy(c));
    CHECK(!ttt_sampler_is_greedy(NULL));
    ttt_sampler_free(a);
    ttt_sampler_free(b);
    ttt_sampler_free(c);
}

int main(void) {
    test_is_greedy();
    test_filters();
    test_distribution();
    test_nucleus();
    test_penalty();
    const char *golden = getenv("TTT_GOLDEN");
    if (golden) {
        const char *models[] = {"qwen3", "qwen3_embed_tied", "llama3", "gemma3"};
        for (int i = 0; i < 4; i++) test_greedy_golden(golden, models[i]);
        test_set_ttt(golden);
    } else {
        printf("TTT_GOLDEN not set: golden checks skipped\n");
    }
    return check_summary("test_sample");
}
