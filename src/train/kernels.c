/* kernels.c - the CPU training ops (tr_cpu_ops): RMSNorm, RoPE, the MLP activations, the
 * embedding, the TTT conv, the loss and AdamW with OpenMP loops, products with OpenBLAS
 * sgemm. Attention is in attn_train.c. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "train/train.h"

static void rmsnorm(float *y, float *r, const float *x, const float *w, int plus1, int rows,
                    int dim, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)rows * dim > TR_PAR_MIN)
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * dim;
        float *yi = y + (size_t)i * dim;
        float ss = 0.0f;
        for (int d = 0; d < dim; d++) ss += xi[d] * xi[d];
        const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
        r[i] = inv;
        for (int d = 0; d < dim; d++) yi[d] = xi[d] * inv * (plus1 ? 1.0f + w[d] : w[d]);
    }
}

/* y = x r s with s = w (or 1 + w): dx = r (dy s) - r^3 / dim * x * sum(dy s x);
 * dw = sum over rows of dy x r. dx may alias dy (dw is taken first). */
static void rmsnorm_bwd(float *dx, int accumulate, float *dw, const float *dy, const float *x,
                        const float *r, const float *w, int plus1, int rows, int dim) {
    if (dw) {
        /* column sums in double: rows can be many thousands */
        double *acc = calloc((size_t)dim, sizeof *acc);
        if (acc) {
            for (int i = 0; i < rows; i++) {
                const float *xi = x + (size_t)i * dim, *dyi = dy + (size_t)i * dim;
                for (int d = 0; d < dim; d++) acc[d] += (double)dyi[d] * xi[d] * r[i];
            }
            for (int d = 0; d < dim; d++) dw[d] += (float)acc[d];
            free(acc);
        } else {
            ttt_cpu_fail(TTT_ERR_NOMEM, "RMSNorm backward: out of memory");
        }
    }
#pragma omp parallel for schedule(static) if ((size_t)rows * dim > TR_PAR_MIN)
    for (int i = 0; i < rows; i++) {
        const float *xi = x + (size_t)i * dim, *dyi = dy + (size_t)i * dim;
        float *dxi = dx + (size_t)i * dim;
        float dot = 0.0f;
        for (int d = 0; d < dim; d++) dot += dyi[d] * (plus1 ? 1.0f + w[d] : w[d]) * xi[d];
        const float ri = r[i], c = ri * ri * ri * dot / (float)dim;
        for (int d = 0; d < dim; d++) {
            float g = ri * dyi[d] * (plus1 ? 1.0f + w[d] : w[d]) - c * xi[d];
            dxi[d] = accumulate ? dxi[d] + g : g;
        }
    }
}

static void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Negates the second half of every head (rows of hd). */
static void flip(float *x, size_t heads, int hd) {
    for (size_t h = 0; h < heads; h++)
        for (int j = hd / 2; j < hd; j++) x[h * hd + j] = -x[h * hd + j];
}

/* The inference backend's RoPE, sequence by sequence. The inverse rotation (backward) is
 * R(-a) x = flip(R(a) flip(x)). */
static void rope(float *x, int N, int T, int nh, int hd, const float *inv_freq, int inverse) {
    if (inverse) flip(x, (size_t)N * nh, hd);
    for (int b = 0; b < N / T; b++)
        ttt_cpu_ops.rope(x + (size_t)b * T * nh * hd, T, nh, hd, 0, inv_freq);
    if (inverse) flip(x, (size_t)N * nh, hd);
}

static const float GELU_K = 0.7978845608028654f; /* sqrt(2/pi) */

static float act_f(ttt_act a, float g) {
    if (a == TTT_ACT_SILU) return g / (1.0f + expf(-g));
    return 0.5f * g * (1.0f + tanhf(GELU_K * (g + 0.044715f * g * g * g)));
}

static float act_grad(ttt_act a, float g) {
    if (a == TTT_ACT_SILU) {
        float s = 1.0f / (1.0f + expf(-g));
        return s * (1.0f + g * (1.0f - s));
    }
    float th = tanhf(GELU_K * (g + 0.044715f * g * g * g));
    return 0.5f * (1.0f + th) +
           0.5f * g * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * 0.044715f * g * g);
}

static void act(float *z, const float *g, const float *u, size_t n, ttt_act a) {
#pragma omp parallel for schedule(static) if (n > TR_PAR_MIN)
    for (size_t i = 0; i < n; i++) z[i] = act_f(a, g[i]) * u[i];
}

static void act_bwd(float *dg, float *du, const float *dz, const float *g, const float *u,
                    size_t n, ttt_act a) {
#pragma omp parallel for schedule(static) if (n > TR_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i];
        du[i] = dz[i] * act_f(a, gi);
        dg[i] = dz[i] * u[i] * act_grad(a, gi);
    }
}

static void axpby(float *out, float a, const float *x, float b, const float *y, size_t n) {
#pragma omp parallel for schedule(static) if (n > TR_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a * x[i] + b * y[i];
}

static double dot(const float *x, const float *y, size_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n > TR_PAR_MIN)
    for (size_t i = 0; i < n; i++) s += (double)x[i] * y[i];
    return s;
}

static void embed(float *emb, const float *E, const int32_t *tok, int N, int D, float scale) {
#pragma omp parallel for schedule(static) if ((size_t)N * D > TR_PAR_MIN)
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++)
            emb[(size_t)i * D + d] = E[(size_t)tok[i] * D + d] * scale;
}

static void embed_bwd(float *gE, const float *dx, const float *demb, const int32_t *tok,
                      const int32_t *by_tok, int N, int D, float scale) {
    (void)by_tok; /* one writer in row order already */
    for (int i = 0; i < N; i++) {
        const float *d = dx + (size_t)i * D, *e = demb + (size_t)i * D;
        float *o = gE + (size_t)tok[i] * D;
        for (int k = 0; k < D; k++) o[k] += (d[k] + e[k]) * scale;
    }
}

static inline int same_chunk(const int32_t *chunk, int N, int c, int src) {
    return src >= 0 && src < N && chunk[src] == chunk[c];
}

static void conv(float *U, const float *t, const float *w, const int32_t *chunk, int N, int D,
                 int left) {
#pragma omp parallel for schedule(static) if ((size_t)N * D > TR_PAR_MIN)
    for (int c = 0; c < N; c++) {
        float *u = U + (size_t)c * D;
        for (int d = 0; d < D; d++) {
            float s = 0.0f;
            for (int k = 0; k < 5; k++) {
                int src = c + k - left;
                if (same_chunk(chunk, N, c, src)) s += w[(size_t)d * 5 + k] * t[(size_t)src * D + d];
            }
            u[d] = s;
        }
    }
}

static void conv_bwd(float *dt, float *dw, const float *dU, const float *t, const float *w,
                     const int32_t *chunk, int N, int D, int left) {
#pragma omp parallel for schedule(static) if ((size_t)N * D > TR_PAR_MIN)
    for (int s = 0; s < N; s++) {
        float *o = dt + (size_t)s * D;
        for (int k = 0; k < 5; k++) {
            int c = s - k + left;
            if (!same_chunk(chunk, N, s, c)) continue;
            const float *g = dU + (size_t)c * D;
            for (int d = 0; d < D; d++) o[d] += w[(size_t)d * 5 + k] * g[d];
        }
    }
    if (!dw) return;
    double *acc = calloc((size_t)D * 5, sizeof *acc);
    if (!acc) {
        ttt_cpu_fail(TTT_ERR_NOMEM, "TTT conv backward: out of memory");
        return;
    }
    for (int c = 0; c < N; c++)
        for (int k = 0; k < 5; k++) {
            int src = c + k - left;
            if (!same_chunk(chunk, N, c, src)) continue;
            const float *g = dU + (size_t)c * D, *x = t + (size_t)src * D;
            for (int d = 0; d < D; d++) acc[(size_t)d * 5 + k] += (double)g[d] * x[d];
        }
    for (int i = 0; i < D * 5; i++) dw[i] += (float)acc[i];
    free(acc);
}

static double loss(float *logits, const int32_t *lab, int N, int V, float cap, float g) {
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static) if ((size_t)N * V > TR_PAR_MIN)
    for (int i = 0; i < N; i++) {
        float *l = logits + (size_t)i * V;
        const int y = lab[i];
        if (y == -100) {
            for (int j = 0; j < V; j++) l[j] = 0.0f;
            continue;
        }
        if (cap > 0)
            for (int j = 0; j < V; j++) l[j] = cap * tanhf(l[j] / cap);
        float mx = l[0];
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        double sum = 0;
        for (int j = 0; j < V; j++) sum += exp((double)(l[j] - mx));
        const double lse = mx + log(sum);
        total += lse - l[y];
        for (int j = 0; j < V; j++) {
            float p = (float)exp(l[j] - lse);
            float d = (p - (j == y ? 1.0f : 0.0f)) * g;
            if (cap > 0) {
                float th = l[j] / cap;
                d *= 1.0f - th * th;
            }
            l[j] = d;
        }
    }
    return total;
}

static void adamw(float *w, const float *g, float *m, float *v, size_t n,
                  const tr_adamw_args *h) {
#pragma omp parallel for schedule(static) if (n > TR_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i] * h->clip;
        w[i] *= h->decay;
        m[i] = h->b1 * m[i] + (1.0f - h->b1) * gi;
        v[i] = h->b2 * v[i] + (1.0f - h->b2) * gi * gi;
        w[i] -= h->step_size * m[i] / (sqrtf(v[i]) / h->bc2_sqrt + h->eps);
    }
}

const tr_ops tr_cpu_ops = {
    .name = "cpu",
    .be = &ttt_cpu_ops,
    .init = NULL,
    .gemm = gemm,
    .rmsnorm = rmsnorm,
    .rmsnorm_bwd = rmsnorm_bwd,
    .rope = rope,
    .act = act,
    .act_bwd = act_bwd,
    .axpby = axpby,
    .dot = dot,
    .embed = embed,
    .embed_bwd = embed_bwd,
    .attn = tr_cpu_attn,
    .attn_bwd = tr_cpu_attn_bwd,
    .conv = conv,
    .conv_bwd = conv_bwd,
    .loss = loss,
    .adamw = adamw,
};
