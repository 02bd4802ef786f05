/* kernels.c - the small ops of training, forward and backward: RMSNorm, linear layers
 * (OpenBLAS sgemm), RoPE and the MLP activations. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "train/train.h"

void tr_rmsnorm(float *y, float *r, const float *x, const float *w, int plus1, int rows,
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
void tr_rmsnorm_bwd(float *dx, int accumulate, float *dw, const float *dy, const float *x,
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

void tr_linear(float *y, const float *x, const float *W, int n, int out, int in, int acc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, W, in,
                acc ? 1.0f : 0.0f, y, out);
}

void tr_linear_bwd(float *dx, int acc, float *dW, const float *dy, const float *x,
                   const float *W, int n, int out, int in) {
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, W,
                    in, acc ? 1.0f : 0.0f, dx, in);
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in,
                    1.0f, dW, in);
}

/* Negates the second half of every head (rows of hd). */
static void flip(float *x, size_t heads, int hd) {
    for (size_t h = 0; h < heads; h++)
        for (int j = hd / 2; j < hd; j++) x[h * hd + j] = -x[h * hd + j];
}

/* The backend's RoPE, sequence by sequence (row i is position i % T). The inverse rotation
 * (backward) is R(-a) x = flip(R(a) flip(x)). */
void tr_rope(float *x, int N, int T, int nh, int hd, const float *inv_freq, int inverse) {
    if (inverse) flip(x, (size_t)N * nh, hd);
    for (int b = 0; b < N / T; b++)
        ttt_cpu_ops.rope(x + (size_t)b * T * nh * hd, T, nh, hd, 0, inv_freq);
    if (inverse) flip(x, (size_t)N * nh, hd);
}

static const float GELU_K = 0.7978845608028654f; /* sqrt(2/pi) */

float tr_act(ttt_act a, float g) {
    if (a == TTT_ACT_SILU) return g / (1.0f + expf(-g));
    return 0.5f * g * (1.0f + tanhf(GELU_K * (g + 0.044715f * g * g * g)));
}

float tr_act_grad(ttt_act a, float g) {
    if (a == TTT_ACT_SILU) {
        float s = 1.0f / (1.0f + expf(-g));
        return s * (1.0f + g * (1.0f - s));
    }
    float th = tanhf(GELU_K * (g + 0.044715f * g * g * g));
    return 0.5f * (1.0f + th) +
           0.5f * g * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * 0.044715f * g * g);
}
