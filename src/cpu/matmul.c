/* matmul.c - y = x W^T with W in its stored type (F32, BF16, F16), float32 accumulation.
 *
 * Few rows of x (decode, small pieces): memory-bound. Each weight row is read once, converted
 * in registers and applied to up to 8 rows of x at a time; rows of W are split over threads.
 * Bytes: N*K*sizeof(W) per 8 rows of x; FLOPs: 2*n*N*K.
 * Many rows (prefill): compute-bound. Blocks of W are converted to float32 (a few MB, so they
 * stay in cache) and multiplied with OpenBLAS sgemm; the conversion costs O(N*K) next to the
 * GEMM's 2*n*N*K FLOPs. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "cpu/simd.h"

/* Below this many rows of x the weight-streaming kernel beats convert + sgemm. */
#define SMALL_N 16
/* Rows ahead that the streaming kernel asks the memory system for. */
#define PREFETCH_ROWS 4
/* Weight rows handed to a thread at a time in the streaming kernel. */
#define ROW_BLOCK 16

/* One kernel per stored type and number of x rows (NT): acc[t] += W[r, k] * x[t, k]. */
#define DEF_ROWS(NAME, T, LOADV, CVT)                                                      \
    static inline __attribute__((always_inline)) void NAME(                                \
        float *y, int ldy, const float *x, int ldx, const T *W, int K, int r0, int r1,     \
        const int NT, int accumulate) {                                                    \
        for (int r = r0; r < r1; r++) {                                                    \
            const T *w = W + (size_t)r * K;                                                \
            vf acc[8], acc2[8];                                                            \
            for (int t = 0; t < NT; t++) acc[t] = acc2[t] = vf_zero();                     \
            int k = 0;                                                                     \
            for (; k + 2 * TTT_VL <= K; k += 2 * TTT_VL) {                                 \
                __builtin_prefetch(w + k + PREFETCH_ROWS * (size_t)K);                     \
                vf w0 = LOADV(w + k), w1 = LOADV(w + k + TTT_VL);                          \
                for (int t = 0; t < NT; t++) {                                             \
                    acc[t] = vf_fma(w0, vf_load(x + (size_t)t * ldx + k), acc[t]);         \
                    acc2[t] = vf_fma(w1, vf_load(x + (size_t)t * ldx + k + TTT_VL), acc2[t]); \
                }                                                                          \
            }                                                                              \
            for (; k + TTT_VL <= K; k += TTT_VL) {                                         \
                vf w0 = LOADV(w + k);                                                      \
                for (int t = 0; t < NT; t++)                                               \
                    acc[t] = vf_fma(w0, vf_load(x + (size_t)t * ldx + k), acc[t]);         \
            }                                                                              \
            for (int t = 0; t < NT; t++) {                                                 \
                float s = vf_sum(vf_add(acc[t], acc2[t]));                                 \
                for (int kk = k; kk < K; kk++) s += CVT(w[kk]) * x[(size_t)t * ldx + kk];  \
                float *dst = y + (size_t)t * ldy + r;                                      \
                *dst = accumulate ? *dst + s : s;                                          \
            }                                                                              \
        }                                                                                  \
    }

static inline float cvt_f32(float v) { return v; }
DEF_ROWS(rows_f32, float, vf_load, cvt_f32)
DEF_ROWS(rows_bf16, uint16_t, vf_load_bf16, ttt_bf16_to_f32)
DEF_ROWS(rows_f16, uint16_t, vf_load_f16, ttt_f16_to_f32)

/* Dispatches a row range to the kernel for a constant NT so acc[] lives in registers. */
static void rows_any(float *y, int ldy, const float *x, int K, const ttt_mat *W, int r0, int r1,
                     int nt, int acc) {
#define CASE(NT)                                                                      \
    case NT:                                                                          \
        if (W->dtype == TTT_DT_BF16)                                                  \
            rows_bf16(y, ldy, x, K, W->data, K, r0, r1, NT, acc);                     \
        else if (W->dtype == TTT_DT_F16)                                              \
            rows_f16(y, ldy, x, K, W->data, K, r0, r1, NT, acc);                      \
        else                                                                          \
            rows_f32(y, ldy, x, K, W->data, K, r0, r1, NT, acc);                      \
        break;
    switch (nt) {
        CASE(1)
        CASE(2)
        CASE(3)
        CASE(4)
        CASE(5)
        CASE(6)
        CASE(7)
        CASE(8)
    default: break;
    }
#undef CASE
}

/* Several products of the same x (Q/K/V, gate/up) in one parallel region: one barrier instead
 * of one per matrix, and the threads share out the rows of all of them. */
static void matmul_small(int count, float *const *ys, const float *x, const ttt_mat *const *Ws,
                         int n, int acc) {
    int first[4] = {0}; /* first block of each matrix */
    int nblocks = 0;
    for (int m = 0; m < count; m++) {
        first[m] = nblocks;
        nblocks += (Ws[m]->rows + ROW_BLOCK - 1) / ROW_BLOCK;
    }
    const int K = Ws[0]->cols;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < nblocks; b++) {
        int m = count - 1;
        while (b < first[m]) m--;
        const ttt_mat *W = Ws[m];
        const int N = W->rows;
        int r0 = (b - first[m]) * ROW_BLOCK, r1 = r0 + ROW_BLOCK < N ? r0 + ROW_BLOCK : N;
        for (int t0 = 0; t0 < n; t0 += 8) {
            int nt = n - t0 < 8 ? n - t0 : 8;
            rows_any(ys[m] + (size_t)t0 * N, N, x + (size_t)t0 * K, K, W, r0, r1, nt, acc);
        }
    }
}

void ttt_cpu_row_to_f32(float *dst, const void *src, ttt_dtype dt, size_t n) {
    size_t i = 0;
    if (dt == TTT_DT_F32) {
        memcpy(dst, src, n * sizeof(float));
        return;
    }
    const uint16_t *s = src;
    if (dt == TTT_DT_BF16) {
        for (; i + TTT_VL <= n; i += TTT_VL) vf_store(dst + i, vf_load_bf16(s + i));
        for (; i < n; i++) dst[i] = ttt_bf16_to_f32(s[i]);
    } else {
        for (; i + TTT_VL <= n; i += TTT_VL) vf_store(dst + i, vf_load_f16(s + i));
        for (; i < n; i++) dst[i] = ttt_f16_to_f32(s[i]);
    }
}

/* Converts rows [r0, r0 + m) of W into dst (m x K float32), in parallel. */
static void convert_rows(float *dst, const ttt_mat *W, int r0, int m) {
    const int K = W->cols;
    const size_t es = ttt_dtype_size(W->dtype);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < m; r++)
        ttt_cpu_row_to_f32(dst + (size_t)r * K, (const char *)W->data + (size_t)(r0 + r) * K * es,
                           W->dtype, (size_t)K);
}

static void matmul_big(float *y, const float *x, const ttt_mat *W, int n, int acc) {
    const int N = W->rows, K = W->cols;
    const float beta = acc ? 1.0f : 0.0f;
    if (W->dtype == TTT_DT_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, N, K, 1.0f, x, K, W->data, K,
                    beta, y, N);
        return;
    }
    /* up to 16 MB of float32 weights per block: converted once, reused by all n rows; whole
     * layer matrices of models up to ~4B fit, and wide sgemm calls run closest to peak */
    int nb = (4 << 20) / (K > 0 ? K : 1);
    nb = nb < 64 ? 64 : nb - nb % 64;
    if (nb > N) nb = N;
    float *buf = ttt_cpu_scratch(0, (size_t)nb * K);
    if (!buf) return;
    for (int r0 = 0; r0 < N; r0 += nb) {
        int m = N - r0 < nb ? N - r0 : nb;
        convert_rows(buf, W, r0, m);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, K, 1.0f, x, K, buf, K, beta,
                    y + r0, N);
    }
}

void ttt_cpu_matmul(float *y, const float *x, const ttt_mat *W, int n, int accumulate) {
    if (n <= 0 || W->rows <= 0) return;
    if (n <= SMALL_N)
        matmul_small(1, &y, x, &W, n, accumulate);
    else
        matmul_big(y, x, W, n, accumulate);
}

void ttt_cpu_matmul_multi(int count, float *const *ys, const float *x, const ttt_mat *const *Ws,
                          int n) {
    if (n <= 0) return;
    if (n <= SMALL_N && count <= 4) {
        matmul_small(count, ys, x, Ws, n, 0);
        return;
    }
    for (int m = 0; m < count; m++) ttt_cpu_matmul(ys[m], x, Ws[m], n, 0);
}

void ttt_cpu_matmul_nt(float *y, const float *x, const ttt_mat *W, int n) {
    const int K = W->rows, N = W->cols;
    const float *w = W->data;
    if (W->dtype != TTT_DT_F32) {
        float *buf = ttt_cpu_scratch(0, (size_t)K * N);
        if (!buf) return;
        convert_rows(buf, W, 0, K);
        w = buf;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, N, K, 1.0f, x, K, w, N, 0.0f, y,
                N);
}

void ttt_cpu_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
                ldc);
}

void ttt_cpu_to_f32(float *dst, const ttt_mat *W) { convert_rows(dst, W, 0, W->rows); }
