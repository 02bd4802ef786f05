/* test_kernels.c - the CPU backend's kernels against naive double-precision loops, on shapes
 * the small model tests never reach: many key tiles, key slices merged across threads (decode),
 * windows cutting tiles, wide GQA groups, ragged matrix sizes, every weight type. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu.h"
#include "util/fp.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static void test_matmul(ttt_dtype dt, int N, int K, int n, int accumulate) {
    size_t es = ttt_dtype_size(dt);
    void *w = malloc((size_t)N * K * es);
    float *wf = malloc(sizeof(float) * N * K), *x = malloc(sizeof(float) * n * K);
    float *y = malloc(sizeof(float) * n * N);
    double *want = malloc(sizeof(double) * n * N);
    for (size_t i = 0; i < (size_t)N * K; i++) {
        float v = frand();
        if (dt == TTT_DT_F32) ((float *)w)[i] = wf[i] = v;
        else if (dt == TTT_DT_BF16)
            wf[i] = ttt_bf16_to_f32(((uint16_t *)w)[i] = ttt_f32_to_bf16(v));
        else wf[i] = ttt_f16_to_f32(((uint16_t *)w)[i] = ttt_f32_to_f16(v));
    }
    for (size_t i = 0; i < (size_t)n * K; i++) x[i] = frand();
    for (size_t i = 0; i < (size_t)n * N; i++) y[i] = accumulate ? frand() : 1e30f;
    for (int t = 0; t < n; t++)
        for (int r = 0; r < N; r++) {
            double s = accumulate ? y[(size_t)t * N + r] : 0;
            for (int k = 0; k < K; k++) s += (double)wf[(size_t)r * K + k] * x[(size_t)t * K + k];
            want[(size_t)t * N + r] = s;
        }
    ttt_mat W = {.data = w, .dtype = dt, .rows = N, .cols = K};
    ttt_cpu_matmul(y, x, &W, n, accumulate);
    double err = check_max_rel(y, want, (size_t)n * N);
    if (!(err < 1e-5))
        fprintf(stderr, "matmul %s N=%d K=%d n=%d acc=%d: err %.3e\n", ttt_dtype_name(dt), N, K,
                n, accumulate, err);
    CHECK(err < 1e-5);
    free(w);
    free(wf);
    free(x);
    free(y);
    free(want);
}

typedef struct attn_case {
    int H, Hkv, hd, p0, n, window;
    float softcap;
} attn_case;

static void test_attention(const attn_case *a) {
    const int T = a->p0 + a->n, cap = T + 3; /* cap > T: the head stride is not T * hd */
    const size_t hs = (size_t)cap * a->hd;
    float *kc = malloc(sizeof(float) * a->Hkv * hs), *vc = malloc(sizeof(float) * a->Hkv * hs);
    float *q = malloc(sizeof(float) * a->n * a->H * a->hd);
    float *out = malloc(sizeof(float) * a->n * a->H * a->hd);
    double *want = malloc(sizeof(double) * a->n * a->H * a->hd);
    double *s = malloc(sizeof(double) * T);
    for (size_t i = 0; i < a->Hkv * hs; i++) {
        kc[i] = frand();
        vc[i] = frand();
    }
    for (size_t i = 0; i < (size_t)a->n * a->H * a->hd; i++) q[i] = 2 * frand();
    const float scale = 1.0f / sqrtf((float)a->hd);
    const int G = a->H / a->Hkv;
    for (int i = 0; i < a->n; i++)
        for (int h = 0; h < a->H; h++) {
            const int pos = a->p0 + i, g = h / G;
            const float *qi = q + ((size_t)i * a->H + h) * a->hd;
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j <= pos; j++) {
                s[j] = -INFINITY;
                if (a->window && pos - j >= a->window) continue;
                double d = 0;
                for (int e = 0; e < a->hd; e++)
                    d += (double)qi[e] * kc[g * hs + (size_t)j * a->hd + e];
                d *= scale;
                if (a->softcap > 0) d = a->softcap * tanh(d / a->softcap);
                s[j] = d;
                mx = d > mx ? d : mx;
            }
            for (int j = 0; j <= pos; j++) sum += s[j] == -INFINITY ? 0 : exp(s[j] - mx);
            for (int e = 0; e < a->hd; e++) {
                double o = 0;
                for (int j = 0; j <= pos; j++)
                    if (s[j] != -INFINITY)
                        o += exp(s[j] - mx) / sum * vc[g * hs + (size_t)j * a->hd + e];
                want[((size_t)i * a->H + h) * a->hd + e] = o;
            }
        }
    ttt_attn_params p = {.n_head = a->H, .n_head_kv = a->Hkv, .head_dim = a->hd,
                         .head_stride = hs, .window = a->window, .scale = scale,
                         .softcap = a->softcap};
    ttt_cpu_attention(out, q, kc, vc, a->p0, a->n, &p);
    CHECK_OK(ttt_cpu_sync());
    double err = check_max_rel(out, want, (size_t)a->n * a->H * a->hd);
    if (!(err < 1e-5))
        fprintf(stderr, "attention H=%d Hkv=%d hd=%d p0=%d n=%d window=%d softcap=%g: err %.3e\n",
                a->H, a->Hkv, a->hd, a->p0, a->n, a->window, a->softcap, err);
    CHECK(err < 1e-5);
    free(kc);
    free(vc);
    free(q);
    free(out);
    free(want);
    free(s);
}

static void test_conv5(int rows, int dim, int left) {
    float *t = malloc(sizeof(float) * rows * dim), *w = malloc(sizeof(float) * 5 * dim);
    float *U = malloc(sizeof(float) * rows * dim);
    double *want = malloc(sizeof(double) * rows * dim);
    for (int i = 0; i < rows * dim; i++) t[i] = frand();
    for (int i = 0; i < 5 * dim; i++) w[i] = frand();
    for (int c = 0; c < rows; c++)
        for (int d = 0; d < dim; d++) {
            double s = 0;
            for (int k = 0; k < 5; k++)
                if (c + k - left >= 0 && c + k - left < rows)
                    s += (double)w[k * dim + d] * t[(c + k - left) * dim + d];
            want[c * dim + d] = s;
        }
    ttt_cpu_ops.conv5(U, t, w, rows, dim, left);
    CHECK(check_max_rel(U, want, (size_t)rows * dim) < 1e-6);
    free(t);
    free(w);
    free(U);
    free(want);
}

int main(void) {
    ttt_set_threads(2);
    const ttt_dtype dts[] = {TTT_DT_F32, TTT_DT_BF16, TTT_DT_F16};
    const int ns[] = {1, 2, 3, 7, 8, 9, 16, 17, 40};
    for (int d = 0; d < 3; d++)
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
            test_matmul(dts[d], 37, 133, ns[i], 0); /* ragged: tails in every loop */
            test_matmul(dts[d], 70, 64, ns[i], 1);
        }
    test_matmul(TTT_DT_BF16, 3000, 100, 20, 0); /* several conversion blocks */

    const attn_case cases[] = {
        {4, 2, 16, 0, 75, 0, 0},        /* prefill from empty, 2 query blocks */
        {4, 2, 16, 700, 1, 0, 0},       /* decode over many key tiles, split across threads */
        {4, 4, 32, 900, 3, 0, 0},       /* a few tokens after a long prompt */
        {8, 1, 64, 300, 200, 0, 0},     /* wide group, query blocks and key tiles */
        {80, 1, 8, 10, 20, 0, 0},       /* group wider than a tile: one token per block */
        {4, 2, 16, 600, 40, 100, 0},    /* sliding window cutting the tiles */
        {4, 2, 16, 1000, 1, 300, 0},    /* decode with a window, split */
        {4, 1, 16, 50, 30, 7, 20.0f},   /* Gemma-like window and soft-cap */
        {2, 1, 12, 0, 1, 0, 0},         /* the first token alone */
        {2, 2, 10, 513, 1, 0, 0},       /* head dim not a multiple of the vector width */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_attention(&cases[i]);
    test_conv5(16, 33, 2);
    test_conv5(16, 33, 4);
    test_conv5(3, 8, 2);
    test_conv5(1, 8, 4);
    ttt_cpu_scratch_release();
    return check_summary("test_kernels");
}
