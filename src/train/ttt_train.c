/* ttt_train.c - the In-Place TTT MLP over whole sequences, forward and backward, with
 * O(D*F) memory (spec section 7): one running fast weight S forward; backward walks the
 * chunks in reverse with the suffix sum G_j = sum_{k>j} dS_k (dS_k = dout_k^T Z_k) and
 * recomputes S_j = S_{j+1} - eta dW_j, so no per-chunk weight copy exists.
 *
 * Per segment (a sequence, or a document with doc_reset) chunks of C rows start at the
 * segment's first row; the last chunk may be short (the zero padding of the spec
 * contributes nothing). With ttt_clip the update is eta s_j dW_j, s_j = min(1, tau/|dW_j|);
 * its backward is s (G - <G, dW>/|dW|^2 dW) where the clip is active. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "train/train.h"

static void conv_fwd(float *U, const float *t, const float *w, int c0, int c1, int D,
                     int left) {
#pragma omp parallel for schedule(static) if ((size_t)(c1 - c0) * D > TR_PAR_MIN)
    for (int c = c0; c < c1; c++) {
        float *u = U + (size_t)c * D;
        for (int d = 0; d < D; d++) {
            float s = 0.0f;
            for (int k = 0; k < 5; k++) {
                int src = c + k - left;
                if (src >= c0 && src < c1) s += w[(size_t)d * 5 + k] * t[(size_t)src * D + d];
            }
            u[d] = s;
        }
    }
}

/* dt[src] += w[k] dU[c] for src = c + k - left; dw[d, k] += dU[c] t[src] (double acc) */
static void conv_bwd(float *dt, double *dw, const float *dU, const float *t, const float *w,
                     int c0, int c1, int D, int left) {
#pragma omp parallel for schedule(static) if ((size_t)(c1 - c0) * D > TR_PAR_MIN)
    for (int s = c0; s < c1; s++) {
        float *o = dt + (size_t)s * D;
        for (int k = 0; k < 5; k++) {
            int c = s - k + left;
            if (c < c0 || c >= c1) continue;
            const float *g = dU + (size_t)c * D;
            for (int d = 0; d < D; d++) o[d] += w[(size_t)d * 5 + k] * g[d];
        }
    }
    if (!dw) return;
    for (int c = c0; c < c1; c++)
        for (int k = 0; k < 5; k++) {
            int src = c + k - left;
            if (src < c0 || src >= c1) continue;
            const float *g = dU + (size_t)c * D, *x = t + (size_t)src * D;
            for (int d = 0; d < D; d++) dw[(size_t)d * 5 + k] += (double)g[d] * x[d];
        }
}

static double dotf(const float *a, const float *b, size_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n > TR_PAR_MIN)
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* dW = V^T Z over rows [c0, c1) */
static void chunk_dw(float *dW, float alpha, float beta, const float *V, const float *Z,
                     int c0, int c1, int D, int F) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, F, c1 - c0, alpha,
                V + (size_t)c0 * D, D, Z + (size_t)c0 * F, F, beta, dW, F);
}

void tr_ttt_forward(ttt_trainer *t, int l, const float *tgt, float *out) {
    const ttt_config *c = &t->cfg;
    tr_acts *a = &t->acts[l];
    const int D = c->d_model, F = c->d_ff, C = c->ttt_chunk, left = c->ttt_conv_causal ? 4 : 2;
    const float eta = c->ttt_lr;
    const float *W = t->lw[l][TR_DOWN], *w = t->lw[l][TR_CONV], *P = t->lw[l][TR_PROJ];
    const float *V = P ? a->V : a->U;
    for (int sg = 0; sg < t->n_seg; sg++) {
        const int s0 = t->seg_beg[sg], s1 = t->seg_beg[sg + 1];
        memcpy(t->S, W, sizeof(float) * (size_t)D * F);
        for (int c0 = s0; c0 < s1; c0 += C) {
            const int c1 = c0 + C < s1 ? c0 + C : s1, n = c1 - c0;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, D, F, 1.0f,
                        a->z + (size_t)c0 * F, F, t->S, F, 0.0f, out + (size_t)c0 * D, D);
            conv_fwd(a->U, tgt, w, c0, c1, D, left);
            if (P)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, D, 1.0f,
                            a->U + (size_t)c0 * D, D, P, D, 0.0f, a->V + (size_t)c0 * D, D);
            a->cs[c0] = 1.0f;
            if (c1 == s1) break; /* the last chunk's update is never used */
            if (c->ttt_clip > 0) {
                chunk_dw(t->dW, 1.0f, 0.0f, V, a->z, c0, c1, D, F);
                double norm = sqrt(dotf(t->dW, t->dW, (size_t)D * F));
                a->cs[c0] = norm > c->ttt_clip ? (float)(c->ttt_clip / norm) : 1.0f;
                cblas_saxpy(D * F, eta * a->cs[c0], t->dW, 1, t->S, 1);
            } else {
                chunk_dw(t->S, eta, 1.0f, V, a->z, c0, c1, D, F);
            }
        }
    }
}

void tr_ttt_backward(ttt_trainer *t, int l, const float *tgt, const float *dout, float *dtgt) {
    const ttt_config *c = &t->cfg;
    tr_acts *a = &t->acts[l];
    const int D = c->d_model, F = c->d_ff, C = c->ttt_chunk, left = c->ttt_conv_causal ? 4 : 2;
    const int N = t->B * t->T, clip = c->ttt_clip > 0;
    const float eta = c->ttt_lr;
    const float *W = t->lw[l][TR_DOWN], *w = t->lw[l][TR_CONV], *P = t->lw[l][TR_PROJ];
    float *gW = t->lg[l][TR_DOWN], *gconv = t->lg[l][TR_CONV], *gP = t->lg[l][TR_PROJ];
    const float *V = P ? a->V : a->U;
    float *dV = P ? t->dV : t->dU;
    memset(dV, 0, sizeof(float) * (size_t)N * D);

    for (int sg = 0; sg < t->n_seg; sg++) {
        const int s0 = t->seg_beg[sg], s1 = t->seg_beg[sg + 1];
        const int last = s0 + ((s1 - s0 - 1) / C) * C; /* first row of the last chunk */
        /* S of the last chunk */
        memcpy(t->S, W, sizeof(float) * (size_t)D * F);
        if (!clip && last > s0) chunk_dw(t->S, eta, 1.0f, V, a->z, s0, last, D, F);
        for (int c0 = s0; clip && c0 < last; c0 += C)
            chunk_dw(t->S, eta * a->cs[c0], 1.0f, V, a->z, c0, c0 + C, D, F);
        memset(t->G, 0, sizeof(float) * (size_t)D * F);
        for (int c0 = last; c0 >= s0; c0 -= C) {
            const int c1 = c0 + C < s1 ? c0 + C : s1, n = c1 - c0;
            float *dz = t->dz + (size_t)c0 * F;
            const float *Z = a->z + (size_t)c0 * F;
            if (c0 < last) {
                /* this chunk's update reached every later chunk through G */
                const float *Gx = t->G;
                const float s = a->cs[c0];
                if (clip && s < 1.0f) {
                    /* t->dW holds this chunk's dW */
                    const size_t DF = (size_t)D * F;
                    const double alpha = dotf(t->G, t->dW, DF) / dotf(t->dW, t->dW, DF);
#pragma omp parallel for schedule(static) if (DF > TR_PAR_MIN)
                    for (size_t i = 0; i < DF; i++)
                        t->Gt[i] = s * (t->G[i] - (float)alpha * t->dW[i]);
                    Gx = t->Gt;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, D, F, eta, Z, F, Gx, F,
                            0.0f, dV + (size_t)c0 * D, D);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, F, D, eta,
                            V + (size_t)c0 * D, D, Gx, F, 1.0f, dz, F);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, F, D, 1.0f,
                        dout + (size_t)c0 * D, D, t->S, F, 1.0f, dz, F);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, F, n, 1.0f,
                        dout + (size_t)c0 * D, D, Z, F, 1.0f, t->G, F);
            if (c0 == s0) break;
            /* S of the previous chunk */
            if (clip) {
                /* t->dW keeps the previous chunk's dW for its own turn */
                chunk_dw(t->dW, 1.0f, 0.0f, V, a->z, c0 - C, c0, D, F);
                cblas_saxpy(D * F, -eta * a->cs[c0 - C], t->dW, 1, t->S, 1);
            } else {
                chunk_dw(t->S, -eta, 1.0f, V, a->z, c0 - C, c0, D, F);
            }
        }
        if (gW) cblas_saxpy(D * F, 1.0f, t->G, 1, gW, 1);
    }
    if (P) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, D, D, 1.0f, t->dV, D, P, D,
                    0.0f, t->dU, D);
        if (gP)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, D, D, N, 1.0f, a->U, D, t->dV,
                        D, 1.0f, gP, D);
    }
    double *acc = gconv ? calloc((size_t)D * 5, sizeof *acc) : NULL;
    if (gconv && !acc) ttt_cpu_fail(TTT_ERR_NOMEM, "TTT conv backward: out of memory");
    for (int sg = 0; sg < t->n_seg; sg++) {
        const int s0 = t->seg_beg[sg], s1 = t->seg_beg[sg + 1];
        for (int c0 = s0; c0 < s1; c0 += C)
            conv_bwd(dtgt, acc, t->dU, tgt, w, c0, c0 + C < s1 ? c0 + C : s1, D, left);
    }
    if (acc)
        for (int i = 0; i < D * 5; i++) gconv[i] += (float)acc[i];
    free(acc);
}
