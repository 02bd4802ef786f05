/* attn_train.c - exact causal attention for training, forward and backward, one (sequence,
 * KV head) per work item so the GQA group's key/value gradients have one writer.
 *
 * Forward keeps only each row's log-sum-exp; backward recomputes the scores and
 * probabilities (T x T per thread), so no T x T matrix per layer is stored.
 *   s = scale q.k (then cap tanh(s / cap) with a soft-cap), masked causally and to the
 *   sliding window; P = exp(s - lse); O = P V.
 *   dP = dO V^T; dS = P (dP - rowsum(dO O)); through the soft-cap: dS (1 - tanh^2);
 *   dQ = scale dS K; dK += scale dS^T Q; dV += P^T dO. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "train/train.h"

static inline int visible(const tr_attn_args *g, int i, int j) {
    return j <= i && (g->window <= 0 || i - j < g->window);
}

/* S = scores of head h against its KV head (after the soft-cap); th: tanh values (cap) */
static void scores(const tr_attn_args *g, const float *Q, const float *K, float *S, float *th) {
    const int T = g->T;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, g->hd, g->scale, Q, g->H * g->hd, K,
                g->Hkv * g->hd, 0.0f, S, T);
    if (g->cap > 0)
        for (size_t i = 0; i < (size_t)T * T; i++) {
            float x = tanhf(S[i] / g->cap);
            if (th) th[i] = x;
            S[i] = g->cap * x;
        }
}

void tr_cpu_attn(const tr_attn_args *ap) {
    const tr_attn_args g = *ap;
    const int qd = g.H * g.hd, kd = g.Hkv * g.hd, G = g.H / g.Hkv;
    const int T = g.T, items = g.B * g.Hkv;
    int failed = 0;
#pragma omp parallel if ((size_t)T * T * g.hd * g.H * g.B > TR_PAR_MIN)
    {
        float *S = malloc(sizeof(float) * (size_t)T * T);
        if (!S) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic)
        for (int it = 0; it < items; it++) {
            if (!S) continue;
            const int b = it / g.Hkv, kh = it % g.Hkv;
            const size_t r0 = (size_t)b * T;
            const float *K = g.k + r0 * kd + (size_t)kh * g.hd;
            const float *Vh = g.v + r0 * kd + (size_t)kh * g.hd;
            for (int gi = 0; gi < G; gi++) {
                const int h = kh * G + gi;
                const float *Q = g.q + r0 * qd + (size_t)h * g.hd;
                float *lse = g.lse + ((size_t)b * g.H + h) * T;
                scores(&g, Q, K, S, NULL);
                for (int i = 0; i < T; i++) {
                    float *s = S + (size_t)i * T, mx = -INFINITY;
                    for (int j = 0; j < T; j++)
                        if (visible(&g, i, j) && s[j] > mx) mx = s[j];
                    double sum = 0;
                    for (int j = 0; j < T; j++) {
                        float p = visible(&g, i, j) ? expf(s[j] - mx) : 0.0f;
                        s[j] = p;
                        sum += p;
                    }
                    lse[i] = mx + (float)log(sum);
                    const float inv = (float)(1.0 / sum);
                    for (int j = 0; j <= i; j++) s[j] *= inv;
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, g.hd, T, 1.0f, S, T,
                            Vh, kd, 0.0f, g.o + r0 * qd + (size_t)h * g.hd, qd);
            }
        }
        free(S);
    }
    if (failed) ttt_cpu_fail(TTT_ERR_NOMEM, "training attention: out of memory");
}

void tr_cpu_attn_bwd(const tr_attn_args *ap) {
    const tr_attn_args g = *ap;
    const int qd = g.H * g.hd, kd = g.Hkv * g.hd, G = g.H / g.Hkv;
    const int T = g.T, items = g.B * g.Hkv;
    int failed = 0;
#pragma omp parallel if ((size_t)T * T * g.hd * g.H * g.B > TR_PAR_MIN)
    {
        float *P = malloc(sizeof(float) * (size_t)T * T);
        float *dP = malloc(sizeof(float) * (size_t)T * T);
        float *th = g.cap > 0 ? malloc(sizeof(float) * (size_t)T * T) : NULL;
        float *Di = malloc(sizeof(float) * (size_t)T);
        const int ok = P && dP && Di && (th || g.cap <= 0);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic)
        for (int it = 0; it < items; it++) {
            if (!ok) continue;
            const int b = it / g.Hkv, kh = it % g.Hkv;
            const size_t r0 = (size_t)b * T, ko = r0 * kd + (size_t)kh * g.hd;
            const float *K = g.k + ko, *Vh = g.v + ko;
            float *dK = g.dk + ko, *dVh = g.dv + ko;
            for (int i = 0; i < T; i++) {
                memset(dK + (size_t)i * kd, 0, sizeof(float) * g.hd);
                memset(dVh + (size_t)i * kd, 0, sizeof(float) * g.hd);
            }
            for (int gi = 0; gi < G; gi++) {
                const int h = kh * G + gi;
                const size_t qo = r0 * qd + (size_t)h * g.hd;
                const float *Q = g.q + qo, *O = g.o + qo, *dO = g.dout + qo;
                const float *lse = g.lse + ((size_t)b * g.H + h) * T;
                scores(&g, Q, K, P, th);
                for (int i = 0; i < T; i++) {
                    float *p = P + (size_t)i * T;
                    for (int j = 0; j < T; j++)
                        p[j] = visible(&g, i, j) ? expf(p[j] - lse[i]) : 0.0f;
                    float d = 0.0f;
                    for (int e = 0; e < g.hd; e++)
                        d += dO[(size_t)i * qd + e] * O[(size_t)i * qd + e];
                    Di[i] = d;
                }
                /* dV += P^T dO */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, g.hd, T, 1.0f, P, T,
                            dO, qd, 1.0f, dVh, kd);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, g.hd, 1.0f, dO, qd,
                            Vh, kd, 0.0f, dP, T);
                for (int i = 0; i < T; i++) {
                    float *p = P + (size_t)i * T, *dp = dP + (size_t)i * T;
                    for (int j = 0; j < T; j++) {
                        float ds = p[j] * (dp[j] - Di[i]);
                        if (th) ds *= 1.0f - th[(size_t)i * T + j] * th[(size_t)i * T + j];
                        dp[j] = ds;
                    }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, g.hd, T, g.scale, dP,
                            T, K, kd, 0.0f, g.dq + qo, qd);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, g.hd, T, g.scale, dP, T,
                            Q, qd, 1.0f, dK, kd);
            }
        }
        free(P);
        free(dP);
        free(th);
        free(Di);
    }
    if (failed) ttt_cpu_fail(TTT_ERR_NOMEM, "training attention backward: out of memory");
}
