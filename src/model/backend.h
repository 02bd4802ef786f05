/* backend.h - the operations the model code is written against. The CPU backend implements
 * them with OpenBLAS and OpenMP (src/cpu); a CUDA backend implements the same table.
 * Activations are float32 buffers in the backend's memory, row-major, one row per token.
 * Weights are ttt_mat views of the checkpoint's tensors in their stored type. */
#ifndef TTT_MODEL_BACKEND_H
#define TTT_MODEL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

/* A weight matrix as stored in the checkpoint: rows x cols, row-major, F32, BF16 or F16.
 * HF Linear layout: rows = out_features, cols = in_features. */
typedef struct ttt_mat {
    const void *data;
    ttt_dtype dtype;
    int rows;
    int cols;
} ttt_mat;

#define TTT_MAX_HEAD_DIM 1024

typedef enum ttt_act { TTT_ACT_SILU, TTT_ACT_GELU_TANH } ttt_act;

/* The input of products that read an RMSNorm of x (ttt_ops.matmul_normed) */
typedef struct ttt_norm_in {
    const float *x; /* [n, dim] */
    const float *w; /* [dim] norm weight */
    int dim;
    float eps;
    float *xn;      /* [n, dim] where norm(x) is written, or NULL */
} ttt_norm_in;

/* Everything attention needs besides the tensors. */
typedef struct ttt_attn_params {
    int n_head;       /* H */
    int n_head_kv;    /* Hkv */
    int head_dim;     /* hd */
    size_t head_stride; /* elements between KV heads in the cache ([Hkv][cap][hd]) */
    int window;       /* a query at p sees keys in (p - window, p]; 0: all keys <= p */
    float scale;      /* softmax scale */
    float softcap;    /* scores = softcap * tanh(scores / softcap); 0: off */
} ttt_attn_params;

/* One sequence's row in a batched decode step (row i of the step's activations is one token
 * of one session): where its token sits and this layer's KV cache of that session. An array
 * of these lives in the backend's memory, one per row. */
typedef struct ttt_row_kv {
    void *kc;           /* [Hkv][cap][hd] keys of the row's session, this layer */
    void *vc;           /* [Hkv][cap][hd] values */
    size_t head_stride; /* elements between KV heads (cap * hd) */
    int pos;            /* position of the row's token */
    int pad;
} ttt_row_kv;

typedef struct ttt_ops {
    const char *name;
    int device; /* 1: buffers live in memory the host cannot address (a GPU) */

    /* Readies the backend for a model in a TTT_PREC_* mode (device, library handles);
     * NULL when there is nothing to do. */
    ttt_status (*init)(int precision);
    /* host <-> backend memory copies (plain copies on the CPU) */
    void (*to_host)(void *dst_host, const void *src, size_t bytes);
    void (*to_backend)(void *dst, const void *src_host, size_t bytes);
    /* bytes per element of the KV cache (kv_store and attention agree on the type; the
     * cache's float pointers are then opaque); NULL: float32 */
    size_t (*kv_elem_size)(void);

    /* zero-filled device buffer; NULL on failure */
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    void (*copy)(void *dst, const void *src, size_t bytes);
    void (*zero)(void *dst, size_t bytes);

    /* out[i, :] = scale * E[tok[i], :] */
    void (*embed)(float *out, const ttt_mat *E, const int32_t *tok, int n, float scale);
    /* out[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w; out may alias x */
    void (*rmsnorm)(float *out, const float *x, const float *w, int rows, int dim, float eps);
    /* y[n, N] = x[n, K] W^T (+ y when accumulate), W = [N, K] as stored */
    void (*matmul)(float *y, const float *x, const ttt_mat *W, int n, int accumulate);
    /* ys[m] = x Ws[m]^T for count <= 4 matrices sharing x (Q/K/V, gate/up) */
    void (*matmul_multi)(int count, float *const *ys, const float *x, const ttt_mat *const *Ws,
                         int n);
    /* Optional (NULL: not offered): z[n, N] = act(x Wg^T) * (x Wu^T) in one pass (the gated
     * MLP's input, Wg and Wu of one shape [N, K]), for decode-sized n. Returns 0, having done
     * nothing, where it does not apply (the model then runs matmul_multi and act_mul). */
    int (*matmul_act)(float *z, const float *x, const ttt_mat *Wg, const ttt_mat *Wu, int n,
                      ttt_act act);
    /* Optional (NULL: not offered): the products of norm(x) = x / sqrt(mean(x^2) + eps) * w
     * with the RMSNorm done inside them, for decode-sized n: ys[m] = norm(x) Ws[m]^T
     * (count <= 3, pair 0), or ys[0] = act(norm(x) Ws[0]^T) * (norm(x) Ws[1]^T) (pair 1, as
     * matmul_act); norm(x) itself goes to in->xn when that is not NULL. Returns 0, having
     * done nothing, where it does not apply (the model then runs rmsnorm first). */
    int (*matmul_normed)(const ttt_norm_in *in, int count, float *const *ys,
                         const ttt_mat *const *Ws, int n, int pair, ttt_act act);
    /* y[n, N] = x[n, K] W, W = [K, N] as stored */
    void (*matmul_nt)(float *y, const float *x, const ttt_mat *W, int n);
    /* C[M, N] = alpha op(A) op(B) + beta C, float32, row-major (cblas semantics) */
    void (*gemm)(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc);
    /* rotates x[n, nh, hd] in place (HF rotate_half layout), token i at position p0 + i */
    void (*rope)(float *x, int n, int nh, int hd, int p0, const float *inv_freq);
    /* cache[h, p0 + i, :] = x[i, h, :] for the n new rows of a head-major [Hkv][cap][hd] cache */
    void (*kv_store)(float *cache, size_t head_stride, const float *x, int n, int n_head_kv,
                     int hd, int p0);
    /* out[n, H*hd] = softmax(q k^T) v over cache rows [0, p0 + n), the n queries at p0.. */
    void (*attention)(float *out, const float *q, const float *kc, const float *vc, int p0,
                      int n, const ttt_attn_params *p);
    /* Batched decode: n rows, each one token of its own sequence (rows[i], backend memory).
     * rope_rows rotates row i at rows[i].pos; kv_store_rows writes row i's keys and values
     * at rows[i].pos of its caches; attention_rows attends row i's query over keys
     * [0, rows[i].pos] of its caches (max_pos: at least the largest pos, for work
     * splitting; p->head_stride is unused). */
    void (*rope_rows)(float *x, int n, int nh, int hd, const ttt_row_kv *rows,
                      const float *inv_freq);
    void (*kv_store_rows)(const ttt_row_kv *rows, const float *k, const float *v, int n,
                          int n_head_kv, int hd);
    void (*attention_rows)(float *out, const float *q, const ttt_row_kv *rows, int n,
                           int max_pos, const ttt_attn_params *p);
    /* Optional: the attention inputs (a backend that has it may leave rope, kv_store,
     * rope_rows and kv_store_rows NULL; without it the model runs rmsnorm, rope and kv_store):
     * n rows in one pass. Every head of q [n, H, hd] and k [n, Hkv, hd]: RMSNorm with
     * q_norm / k_norm when not NULL, then RoPE at position p0 + i (or rows[i].pos when rows is
     * not NULL); q is rotated in place; the keys and the values v [n, Hkv, hd] go into the
     * caches kc / vc at their positions (or into rows[i]'s). */
    void (*qkv_prep)(float *q, float *k, const float *v, int n, int n_head, int n_head_kv,
                     int hd, const float *q_norm, const float *k_norm, float eps,
                     const float *inv_freq, int p0, const ttt_row_kv *rows, float *kc, float *vc,
                     size_t head_stride);
    /* Batched decode: row i of a [n, wa] to dst[i] and row i of b [n, wb] to dst[stride + i]
     * (dst: an array in the backend's memory; NULL entries are skipped; b NULL: a only). One
     * op for the rows that join their sessions' pending TTT chunks (Z and the target),
     * instead of a copy per row and tensor. */
    void (*copy_rows)(float *const *dst, int stride, const float *a, size_t wa, const float *b,
                      size_t wb, int n);
    /* g = act(g) * u, count elements */
    void (*act_mul)(float *g, const float *u, size_t count, ttt_act act);
    /* x += y */
    void (*add)(float *x, const float *y, size_t count);
    /* y += a * x */
    void (*axpy)(float *y, const float *x, float a, size_t count);
    /* x = cap * tanh(x / cap) */
    void (*softcap)(float *x, size_t count, float cap);
    /* depthwise conv over rows, kernel 5, zero outside [0, rows): U[c, d] =
     * sum_k w[k, d] t[c + k - left, d] (w transposed to [5, D]), left = 2 (centred) or 4
     * (causal) */
    void (*conv5)(float *U, const float *t, const float *w, int rows, int dim, int left);
    /* sum of squares */
    double (*sumsq)(const float *x, size_t count);
    /* out_host[r] = the first index of the largest of x[r, 0 .. limit) for n rows of width V
     * (ids to host memory) */
    void (*argmax)(int32_t *out_host, const float *x, int n, int V, int limit);
    /* The k (1..TTT_TOP_K_MAX, <= limit) largest of x[r, 0 .. limit) for n rows of width V,
     * largest first, the lower index first on ties, NaN below everything (ttt_f32_order_key):
     * val_host[r * k + j], id_host[r * k + j] (host memory); and, when lse_host is not NULL,
     * lse_host[r] = log sum exp x[r, 0 .. limit) (NaN logits left out) */
    void (*topk)(float *val_host, int32_t *id_host, float *lse_host, const float *x, int n,
                 int V, int limit, int k);
    /* dst[rows*cols] = float(W) */
    void (*to_f32)(float *dst, const ttt_mat *W);

    /* Optional (NULL: not offered): a run of ops recorded once and replayed (CUDA graphs),
     * for decode steps whose ops, sizes and buffers repeat. Between rec_begin (0: not
     * recording, run the ops as they come) and rec_end the ops are recorded, not run; they
     * must not copy to or from the host or wait. rec_end returns the recording, or NULL
     * when it failed (nothing ran: the caller runs the ops itself). replay queues one run,
     * or returns 0 without running anything when the backend has since replaced a buffer the
     * recording holds (it must be recorded again). */
    int (*rec_begin)(void);
    void *(*rec_end)(void);
    int (*replay)(void *rec);
    void (*rec_free)(void *rec);

    /* Waits for queued work; returns, and clears, the first failure since the last sync
     * (ops return nothing: a failing op records its error here, as CUDA's sticky errors do). */
    ttt_status (*sync)(void);
} ttt_ops;

extern const ttt_ops ttt_cpu_ops;
/* The CUDA backend (src/cuda), NULL in a build without it. */
extern const ttt_ops *const ttt_cuda_ops;

#endif
