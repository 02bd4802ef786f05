/* ttt_train.c - the In-Place TTT MLP over whole sequences, forward and backward, with
 * O(D*F) memory (spec section 7): one running fast weight S forward; backward walks the
 * chunks in reverse with the suffix sum G_j = sum_{k>j} dS_k (dS_k = dout_k^T Z_k) and
 * recomputes S_j = S_{j+1} - eta dW_j, so no per-chunk weight copy exists.
 *
 * Per segment (a sequence, or a document with doc_reset) chunks of C rows start at the
 * segment's first row; the last chunk may be short (the zero padding of the spec
 * contributes nothing). With ttt_clip the update is eta s_j dW_j, s_j = min(1, tau/|dW_j|);
 * its backward is s (G - <G, dW>/|dW|^2 dW) where the clip is active. The loops run on the
 * host; every product and buffer is the backend's. */
#include <math.h>

#include "train/train.h"

/* dW = alpha V^T Z + beta dW over rows [c0, c1) */
static void chunk_dw(const ttt_trainer *t, float *dW, float alpha, float beta, const float *V,
                     const float *Z, int c0, int c1, int D, int F) {
    t->ops->gemm(1, 0, D, F, c1 - c0, alpha, V + (size_t)c0 * D, D, Z + (size_t)c0 * F, F,
                 beta, dW, F);
}

void tr_ttt_forward(ttt_trainer *t, int l, const float *tgt, float *out) {
    const ttt_config *c = &t->cfg;
    const tr_ops *o = t->ops;
    tr_acts *a = &t->acts[l];
    const int D = c->d_model, F = c->d_ff, C = c->ttt_chunk, left = c->ttt_conv_causal ? 4 : 2;
    const int N = t->B * t->T;
    const size_t DF = (size_t)D * F;
    const float eta = c->ttt_lr;
    const float *W = t->lw[l][TR_DOWN], *w = t->lw[l][TR_CONV], *P = t->lw[l][TR_PROJ];
    const float *V = P ? a->V : a->U;
    /* the targets of every chunk at once: they do not depend on S */
    o->conv(a->U, tgt, w, t->chunk, N, D, left);
    if (P) o->gemm(0, 0, N, D, D, 1.0f, a->U, D, P, D, 0.0f, a->V, D);
    for (int sg = 0; sg < t->n_seg; sg++) {
        const int s0 = t->seg_beg[sg], s1 = t->seg_beg[sg + 1];
        t->be->copy(t->S, W, sizeof(float) * DF);
        for (int c0 = s0; c0 < s1; c0 += C) {
            const int c1 = c0 + C < s1 ? c0 + C : s1, n = c1 - c0;
            o->gemm(0, 1, n, D, F, 1.0f, a->z + (size_t)c0 * F, F, t->S, F, 0.0f,
                    out + (size_t)c0 * D, D);
            a->cs[c0] = 1.0f;
            if (c1 == s1) break; /* the last chunk's update is never used */
            if (c->ttt_clip > 0) {
                chunk_dw(t, t->dW, 1.0f, 0.0f, V, a->z, c0, c1, D, F);
                double norm = sqrt(t->be->sumsq(t->dW, DF));
                a->cs[c0] = norm > c->ttt_clip ? (float)(c->ttt_clip / norm) : 1.0f;
                t->be->axpy(t->S, t->dW, eta * a->cs[c0], DF);
            } else {
                chunk_dw(t, t->S, eta, 1.0f, V, a->z, c0, c1, D, F);
            }
        }
    }
}

void tr_ttt_backward(ttt_trainer *t, int l, const float *tgt, const float *dout, float *dtgt) {
    const ttt_config *c = &t->cfg;
    const tr_ops *o = t->ops;
    const ttt_ops *be = t->be;
    tr_acts *a = &t->acts[l];
    const int D = c->d_model, F = c->d_ff, C = c->ttt_chunk, left = c->ttt_conv_causal ? 4 : 2;
    const int N = t->B * t->T, clip = c->ttt_clip > 0;
    const size_t DF = (size_t)D * F;
    const float eta = c->ttt_lr;
    const float *W = t->lw[l][TR_DOWN], *w = t->lw[l][TR_CONV], *P = t->lw[l][TR_PROJ];
    float *gW = t->lg[l][TR_DOWN], *gconv = t->lg[l][TR_CONV], *gP = t->lg[l][TR_PROJ];
    const float *V = P ? a->V : a->U;
    float *dV = P ? t->dV : t->dU;
    be->zero(dV, sizeof(float) * (size_t)N * D);

    for (int sg = 0; sg < t->n_seg; sg++) {
        const int s0 = t->seg_beg[sg], s1 = t->seg_beg[sg + 1];
        const int last = s0 + ((s1 - s0 - 1) / C) * C; /* first row of the last chunk */
        /* S of the last chunk */
        be->copy(t->S, W, sizeof(float) * DF);
        if (!clip && last > s0) chunk_dw(t, t->S, eta, 1.0f, V, a->z, s0, last, D, F);
        for (int c0 = s0; clip && c0 < last; c0 += C)
            chunk_dw(t, t->S, eta * a->cs[c0], 1.0f, V, a->z, c0, c0 + C, D, F);
        be->zero(t->G, sizeof(float) * DF);
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
                    const double alpha = o->dot(t->G, t->dW, DF) / be->sumsq(t->dW, DF);
                    o->axpby(t->Gt, s, t->G, -s * (float)alpha, t->dW, DF);
                    Gx = t->Gt;
                }
                o->gemm(0, 1, n, D, F, eta, Z, F, Gx, F, 0.0f, dV + (size_t)c0 * D, D);
                o->gemm(0, 0, n, F, D, eta, V + (size_t)c0 * D, D, Gx, F, 1.0f, dz, F);
            }
            o->gemm(0, 0, n, F, D, 1.0f, dout + (size_t)c0 * D, D, t->S, F, 1.0f, dz, F);
            o->gemm(1, 0, D, F, n, 1.0f, dout + (size_t)c0 * D, D, Z, F, 1.0f, t->G, F);
            if (c0 == s0) break;
            /* S of the previous chunk */
            if (clip) {
                /* t->dW keeps the previous chunk's dW for its own turn */
                chunk_dw(t, t->dW, 1.0f, 0.0f, V, a->z, c0 - C, c0, D, F);
                be->axpy(t->S, t->dW, -eta * a->cs[c0 - C], DF);
            } else {
                chunk_dw(t, t->S, -eta, 1.0f, V, a->z, c0 - C, c0, D, F);
            }
        }
        if (gW) be->axpy(gW, t->G, 1.0f, DF);
    }
    if (P) {
        o->gemm(0, 1, N, D, D, 1.0f, t->dV, D, P, D, 0.0f, t->dU, D);
        if (gP) o->gemm(1, 0, D, D, N, 1.0f, a->U, D, t->dV, D, 1.0f, gP, D);
    }
    o->conv_bwd(dtgt, gconv, t->dU, tgt, w, t->chunk, N, D, left);
}
