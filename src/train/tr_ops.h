/* tr_ops.h - the operations training is written against: the CPU implements them with
 * OpenBLAS and OpenMP (src/train/kernels.c, attn_train.c), the CUDA backend with cuBLASLt and
 * its own kernels (src/cuda/train*.cu). Every pointer is in the backend's memory; buffers
 * are float32, row-major, one row per token (N = B*T rows). Memory, copies, axpy, sumsq and
 * sync come from the inference backend (`be`). Ops return nothing: a failing op records its
 * error and be->sync reports it. */
#ifndef TTT_TRAIN_TR_OPS_H
#define TTT_TRAIN_TR_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Exact causal attention over B sequences of T tokens (with GQA, a sliding window, a
 * soft-cap); the forward keeps only each row's log-sum-exp. */
typedef struct tr_attn_args {
    int B, T, H, Hkv, hd; /* batch, length, heads, KV heads, head_dim */
    int window;           /* a query sees keys in (i - window, i]; 0: all keys <= i */
    float scale, cap;     /* softmax scale; soft-cap (0: off) */
    const float *q;       /* [N, H*hd] after q-norm and RoPE */
    const float *k, *v;   /* [N, Hkv*hd] */
    float *o;             /* [N, H*hd] forward output; read by backward */
    float *lse;           /* [B, H, T] written forward, read backward */
    const float *dout;    /* backward: [N, H*hd] d loss / d o */
    float *dq;            /* backward: [N, H*hd] (overwritten) */
    float *dk, *dv;       /* backward: [N, Hkv*hd] (overwritten) */
} tr_attn_args;

/* One AdamW step's scalars (see adamw.c). */
typedef struct tr_adamw_args {
    float clip;      /* gradient scale of the global-norm clip */
    float decay;     /* 1 - lr * weight_decay */
    float step_size; /* lr / (1 - beta1^t) */
    float bc2_sqrt;  /* sqrt(1 - beta2^t) */
    float eps, b1, b2;
} tr_adamw_args;

typedef struct tr_ops {
    const char *name;
    const ttt_ops *be;
    /* Readies the device (NULL: nothing to do). */
    ttt_status (*init)(void);
    /* C[M, N] = alpha op(A) op(B) + beta C, float32 throughout (no TF32), cblas semantics */
    void (*gemm)(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);
    /* y = x r s, r[i] = 1/rms of row i, s = w or 1 + w (plus1) */
    void (*rmsnorm)(float *y, float *r, const float *x, const float *w, int plus1, int rows,
                    int dim, float eps);
    /* dx (+)= d/dx given dy; dw += sum over rows of dy x r (dw NULL: skipped); dx may alias dy */
    void (*rmsnorm_bwd)(float *dx, int accumulate, float *dw, const float *dy, const float *x,
                        const float *r, const float *w, int plus1, int rows, int dim);
    /* rotates x[N, nh, hd] (HF rotate_half), row i at position i % T; inverse: by -angle */
    void (*rope)(float *x, int N, int T, int nh, int hd, const float *inv_freq, int inverse);
    /* z = act(g) * u */
    void (*act)(float *z, const float *g, const float *u, size_t n, ttt_act a);
    /* du = dz act(g); dg = dz u act'(g) */
    void (*act_bwd)(float *dg, float *du, const float *dz, const float *g, const float *u,
                    size_t n, ttt_act a);
    /* out = a x + b y (out may alias x or y) */
    void (*axpby)(float *out, float a, const float *x, float b, const float *y, size_t n);
    double (*dot)(const float *x, const float *y, size_t n);
    /* emb[i, :] = scale E[tok[i], :] */
    void (*embed)(float *emb, const float *E, const int32_t *tok, int N, int D, float scale);
    /* gE[tok[i], :] += scale (dx[i, :] + demb[i, :]), rows of one token added in row order
     * (by_tok: the rows grouped by token, in row order within a group; the GPU's sums then
     * do not depend on scheduling, so its runs repeat bit for bit) */
    void (*embed_bwd)(float *gE, const float *dx, const float *demb, const int32_t *tok,
                      const int32_t *by_tok, int N, int D, float scale);
    void (*attn)(const tr_attn_args *a);
    void (*attn_bwd)(const tr_attn_args *a);
    /* TTT depthwise conv, kernel 5, per chunk: U[c, d] = sum_k w[d, k] t[c + k - left, d]
     * over sources in c's chunk (chunk[i]: first row of row i's chunk), w as stored [D][5] */
    void (*conv)(float *U, const float *t, const float *w, const int32_t *chunk, int N, int D,
                 int left);
    /* dt[src] += w[d, k] dU[c]; dw[d, k] += dU[c, d] t[src, d] (dw NULL: skipped) */
    void (*conv_bwd)(float *dt, float *dw, const float *dU, const float *t, const float *w,
                     const int32_t *chunk, int N, int D, int left);
    /* Cross-entropy of rows whose label is not -100 (final soft-cap `cap`, 0: off): returns
     * the sum of their losses; logits become g * d loss / d logits (0 on ignored rows). */
    double (*loss)(float *logits, const int32_t *lab, int N, int V, float cap, float g);
    /* w *= decay; m, v moments of g * clip; w -= step_size m / (sqrt(v) / bc2_sqrt + eps) */
    void (*adamw)(float *w, const float *g, float *m, float *v, size_t n,
                  const tr_adamw_args *h);
} tr_ops;

extern const tr_ops tr_cpu_ops;
/* The CUDA implementation (src/cuda), NULL in a build without it. */
extern const tr_ops *const tr_cuda_ops;

#ifdef __cplusplus
}
#endif

#endif
