/* cpu.h - the CPU backend's kernels (float32 compute, OpenMP threads, OpenBLAS GEMMs). */
#ifndef TTT_CPU_CPU_H
#define TTT_CPU_CPU_H

#include <stddef.h>

#include "model/backend.h"

void ttt_cpu_matmul(float *y, const float *x, const ttt_mat *W, int n, int accumulate);
void ttt_cpu_matmul_multi(int count, float *const *ys, const float *x, const ttt_mat *const *Ws,
                          int n);
void ttt_cpu_matmul_nt(float *y, const float *x, const ttt_mat *W, int n);
void ttt_cpu_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                  int lda, const float *B, int ldb, float beta, float *C, int ldc);
void ttt_cpu_to_f32(float *dst, const ttt_mat *W);
void ttt_cpu_topk(float *val, int32_t *id, float *lse, const float *x, int n, int V, int limit,
                  int k);
void ttt_cpu_row_to_f32(float *dst, const void *src, ttt_dtype dt, size_t n);

void ttt_cpu_attention(float *out, const float *q, const float *kc, const float *vc, int p0,
                       int n, const ttt_attn_params *p);

/* A per-thread scratch buffer of at least n floats (slot 0..3), reused across calls; its
 * contents do not survive another call with the same slot. NULL (and a recorded failure)
 * when memory runs out. */
float *ttt_cpu_scratch(int slot, size_t n);
/* Frees this thread's scratch buffers. */
void ttt_cpu_scratch_release(void);
/* Tests only: makes the nth next buffer allocation of the backend fail (0: none). */
void ttt_cpu_inject_alloc_failure(int nth);

/* Records the first failure inside an op, for ttt_ops.sync. */
void ttt_cpu_fail(ttt_status st, const char *what);
ttt_status ttt_cpu_sync(void);

#endif
