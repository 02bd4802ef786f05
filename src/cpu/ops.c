/* ops.c - element-wise and row-wise CPU kernels, and the CPU backend's op table.
 * All are memory-bound (a few FLOPs per element) and split over threads by rows. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/simd.h"
#include "util/mem.h"

static int g_alloc_countdown; /* tests: > 0 makes the n-th next allocation fail */

void ttt_cpu_inject_alloc_failure(int nth) { g_alloc_countdown = nth; }

static void *cpu_alloc(size_t bytes) {
    if (g_alloc_countdown > 0 && --g_alloc_countdown == 0) return NULL;
    return ttt_calloc_aligned(1, bytes);
}
static void cpu_free(void *p) { ttt_free_aligned(p); }
static void cpu_copy(void *dst, const void *src, size_t bytes) { memmove(dst, src, bytes); }
static void cpu_zero(void *dst, size_t bytes) { memset(dst, 0, bytes); }

static void cpu_kv_store(float *cache, size_t head_stride, const float *x, int n, int n_head_kv,
                         int hd, int p0) {
    for (int h = 0; h < n_head_kv; h++)
        for (int i = 0; i < n; i++)
            memcpy(cache + h * head_stride + (size_t)(p0 + i) * hd,
                   x + ((size_t)i * n_head_kv + h) * hd, sizeof(float) * (size_t)hd);
}

static void cpu_embed(float *out, const ttt_mat *E, const int32_t *tok, int n, float scale) {
    const int D = E->cols;
    const size_t es = ttt_dtype_size(E->dtype);
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * D;
        ttt_cpu_row_to_f32(o, (const char *)E->data + (size_t)tok[i] * D * es, E->dtype,
                           (size_t)D);
        if (scale != 1.0f)
            for (int d = 0; d < D; d++) o[d] *= scale;
    }
}

static void cpu_rmsnorm(float *out, const float *x, const float *w, int rows, int dim,
                        float eps) {
#pragma omp parallel for schedule(static) if (rows > 32)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * dim;
        float *o = out + (size_t)r * dim;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int d = 0; d < dim; d++) ss += xr[d] * xr[d];
        float inv = 1.0f / sqrtf(ss / (float)dim + eps);
#pragma omp simd
        for (int d = 0; d < dim; d++) o[d] = xr[d] * inv * w[d];
    }
}

static void cpu_rope(float *x, int n, int nh, int hd, int p0, const float *inv_freq) {
    const int half = hd / 2;
#pragma omp parallel for schedule(static) if (n > 8)
    for (int i = 0; i < n; i++) {
        /* the angle is a float32 product, as in HF, so long positions round the same way */
        float c[TTT_MAX_HEAD_DIM / 2], s[TTT_MAX_HEAD_DIM / 2];
        const float pos = (float)(p0 + i);
        for (int j = 0; j < half; j++) {
            float a = pos * inv_freq[j];
            c[j] = (float)cos((double)a);
            s[j] = (float)sin((double)a);
        }
        for (int h = 0; h < nh; h++) {
            float *v = x + ((size_t)i * nh + h) * hd;
            for (int j = 0; j < half; j++) {
                float a = v[j], b = v[j + half];
                v[j] = a * c[j] - b * s[j];
                v[j + half] = b * c[j] + a * s[j];
            }
        }
    }
}

/* The batched-decode ops: each row is its own sequence, so a row is a one-token call. */
static void cpu_rope_rows(float *x, int n, int nh, int hd, const ttt_row_kv *rows,
                          const float *inv_freq) {
    for (int i = 0; i < n; i++) cpu_rope(x + (size_t)i * nh * hd, 1, nh, hd, rows[i].pos, inv_freq);
}

static void cpu_kv_store_rows(const ttt_row_kv *rows, const float *k, const float *v, int n,
                              int n_head_kv, int hd) {
    const size_t w = (size_t)n_head_kv * hd;
    for (int i = 0; i < n; i++) {
        cpu_kv_store(rows[i].kc, rows[i].head_stride, k + i * w, 1, n_head_kv, hd, rows[i].pos);
        cpu_kv_store(rows[i].vc, rows[i].head_stride, v + i * w, 1, n_head_kv, hd, rows[i].pos);
    }
}

static void cpu_attention_rows(float *out, const float *q, const ttt_row_kv *rows, int n,
                               int max_pos, const ttt_attn_params *p) {
    (void)max_pos;
    const size_t w = (size_t)p->n_head * p->head_dim;
    for (int i = 0; i < n; i++) {
        ttt_attn_params pi = *p;
        pi.head_stride = rows[i].head_stride;
        ttt_cpu_attention(out + i * w, q + i * w, rows[i].kc, rows[i].vc, rows[i].pos, 1, &pi);
    }
}

static void cpu_copy_rows(float *const *dst, int stride, const float *a, size_t wa,
                          const float *b, size_t wb, int n) {
    for (int i = 0; i < n; i++) {
        if (dst[i]) memcpy(dst[i], a + i * wa, sizeof(float) * wa);
        if (b && dst[stride + i]) memcpy(dst[stride + i], b + i * wb, sizeof(float) * wb);
    }
}

static inline float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

static void cpu_act_mul(float *g, const float *u, size_t count, ttt_act act) {
    if (act == TTT_ACT_SILU) {
#pragma omp parallel for schedule(static) if (count > 65536)
        for (size_t i = 0; i < count; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    } else {
#pragma omp parallel for schedule(static) if (count > 65536)
        for (size_t i = 0; i < count; i++) g[i] = gelu_tanh(g[i]) * u[i];
    }
}

static void cpu_add(float *x, const float *y, size_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) x[i] += y[i];
}

static void cpu_axpy(float *y, const float *x, float a, size_t count) {
#pragma omp parallel for simd schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) y[i] += a * x[i];
}

static void cpu_softcap(float *x, size_t count, float cap) {
#pragma omp parallel for schedule(static) if (count > 65536)
    for (size_t i = 0; i < count; i++) x[i] = cap * tanhf(x[i] / cap);
}

static void cpu_conv5(float *U, const float *t, const float *w, int rows, int dim, int left) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < rows; c++) {
        float *u = U + (size_t)c * dim;
        memset(u, 0, sizeof(float) * (size_t)dim);
        for (int k = 0; k < 5; k++) {
            int src = c + k - left;
            if (src < 0 || src >= rows) continue;
            const float *tr = t + (size_t)src * dim;
            const float *wk = w + (size_t)k * dim;
#pragma omp simd
            for (int d = 0; d < dim; d++) u[d] += wk[d] * tr[d];
        }
    }
}

static double cpu_sumsq(const float *x, size_t count) {
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < count; i++) s += (double)x[i] * x[i];
    return s;
}

static void cpu_argmax(int32_t *out, const float *x, int n, int V, int limit) {
    for (int r = 0; r < n; r++) {
        const float *l = x + (size_t)r * V;
        int b = 0;
        for (int i = 1; i < limit; i++) b = l[i] > l[b] ? i : b;
        out[r] = b;
    }
}

const ttt_ops ttt_cpu_ops = {
    .name = "cpu",
    .device = 0,
    .init = NULL,
    .to_host = cpu_copy,
    .to_backend = cpu_copy,
    .kv_elem_size = NULL,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy = cpu_copy,
    .zero = cpu_zero,
    .embed = cpu_embed,
    .rmsnorm = cpu_rmsnorm,
    .matmul = ttt_cpu_matmul,
    .matmul_multi = ttt_cpu_matmul_multi,
    .matmul_nt = ttt_cpu_matmul_nt,
    .gemm = ttt_cpu_gemm,
    .rope = cpu_rope,
    .kv_store = cpu_kv_store,
    .attention = ttt_cpu_attention,
    .rope_rows = cpu_rope_rows,
    .kv_store_rows = cpu_kv_store_rows,
    .attention_rows = cpu_attention_rows,
    .copy_rows = cpu_copy_rows,
    .act_mul = cpu_act_mul,
    .add = cpu_add,
    .axpy = cpu_axpy,
    .softcap = cpu_softcap,
    .conv5 = cpu_conv5,
    .sumsq = cpu_sumsq,
    .argmax = cpu_argmax,
    .topk = ttt_cpu_topk,
    .to_f32 = ttt_cpu_to_f32,
    .sync = ttt_cpu_sync,
};
