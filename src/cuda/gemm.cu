/* gemm.cu - matrix products through cuBLASLt. Row-major products are computed as their
 * column-major transposes (y^T = W x^T), so no data moves.
 * Precision: bf16 weights take bf16 activations (converted on the way in) with float32
 * accumulation and output; float32 weights (the fp32 mode's, and the fast weights) run in
 * float32, with TF32 tensor cores only in the bf16 mode. */
#include <stdio.h>

#include "cuda/common.cuh"

static int lt_ok(cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return 1;
    char m[160];
    snprintf(m, sizeof m, "%s (cuBLASLt status %d)", what, (int)s);
    cu_fail(TTT_ERR_UNSUPPORTED, m, cudaSuccess);
    return 0;
}

#define CHECK_LT(call, what) \
    do {                     \
        if (!lt_ok((call), what)) goto done; \
    } while (0)

/* C[m, n] (column-major, ldc) = alpha op(A) op(B) + beta C. */
void cu_lt_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const void *A,
                  cudaDataType_t at, int lda, const void *B, cudaDataType_t bt, int ldb,
                  float beta, float *C, int ldc, int fp32_exact) {
    if (m <= 0 || n <= 0) return;
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    const cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
    if (at == CUDA_R_32F && !fp32_exact) ct = CUBLAS_COMPUTE_32F_FAST_TF32;
    CHECK_LT(cublasLtMatmulDescCreate(&desc, ct, CUDA_R_32F), "matmul descriptor");
    CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
             "matmul descriptor");
    CHECK_LT(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
             "matmul descriptor");
    CHECK_LT(cublasLtMatrixLayoutCreate(&la, at, trans_a ? k : m, trans_a ? m : k, lda),
             "matmul layout");
    CHECK_LT(cublasLtMatrixLayoutCreate(&lb, bt, trans_b ? n : k, trans_b ? k : n, ldb),
             "matmul layout");
    CHECK_LT(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, m, n, ldc), "matmul layout");
    {
        cublasLtMatmulPreference_t pref = NULL;
        cublasLtMatmulHeuristicResult_t heur;
        int found = 0;
        CHECK_LT(cublasLtMatmulPreferenceCreate(&pref), "matmul preference");
        cublasStatus_t s = cublasLtMatmulPreferenceSetAttribute(
            pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &g_cu.ws_bytes, sizeof g_cu.ws_bytes);
        if (s == CUBLAS_STATUS_SUCCESS)
            s = cublasLtMatmulAlgoGetHeuristic(g_cu.lt, desc, la, lb, lc, lc, pref, 1, &heur,
                                               &found);
        cublasLtMatmulPreferenceDestroy(pref);
        if (s != CUBLAS_STATUS_SUCCESS || found == 0) {
            cu_fail(TTT_ERR_UNSUPPORTED, "matmul: no cuBLASLt algorithm", cudaSuccess);
            goto done;
        }
        CHECK_LT(cublasLtMatmul(g_cu.lt, desc, &alpha, A, la, B, lb, &beta, C, lc, C, lc,
                                &heur.algo, g_cu.ws, g_cu.ws_bytes, g_cu.stream),
                 "matmul");
    }
done:
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
}

/* x[n, K] as the GEMM input for W: float32 as is, or a bf16 copy in scratch. */
static const void *input_for(const ttt_mat *W, const float *x, size_t count) {
    if (W->dtype == TTT_DT_F32) return x;
    __nv_bfloat16 *xb = (__nv_bfloat16 *)cu_scratch(CU_SCRATCH_X16, sizeof(__nv_bfloat16) * count);
    if (xb) cu_f32_to_bf16(xb, x, count);
    return xb;
}

static cudaDataType_t type_of(const ttt_mat *W) {
    return W->dtype == TTT_DT_F32 ? CUDA_R_32F : CUDA_R_16BF;
}

static int check_type(const ttt_mat *W) {
    if (W->dtype == TTT_DT_F32 || W->dtype == TTT_DT_BF16) return 1;
    cu_fail(TTT_ERR_UNSUPPORTED, "matmul with a weight type other than F32 or BF16", cudaSuccess);
    return 0;
}

void cu_matmul(float *y, const float *x, const ttt_mat *W, int n, int accumulate) {
    const int N = W->rows, K = W->cols;
    if (n <= 0 || !check_type(W)) return;
    const void *in = input_for(W, x, (size_t)n * K);
    if (!in) return;
    /* y^T [N, n] = W [K, N]^T-as-stored^T x^T */
    cu_lt_matmul(1, 0, N, n, K, 1.0f, W->data, type_of(W), K, in, type_of(W), K,
                 accumulate ? 1.0f : 0.0f, y, N, g_cu.prec == TTT_PREC_F32);
}

void cu_matmul_multi(int count, float *const *ys, const float *x, const ttt_mat *const *Ws,
                     int n) {
    for (int i = 0; i < count; i++) cu_matmul(ys[i], x, Ws[i], n, 0);
}

void cu_matmul_nt(float *y, const float *x, const ttt_mat *W, int n) {
    const int K = W->rows, N = W->cols;
    if (n <= 0 || !check_type(W)) return;
    const void *in = input_for(W, x, (size_t)n * K);
    if (!in) return;
    /* y^T [N, n] = W^T x^T, W [K, N] row-major is [N, K] column-major */
    cu_lt_matmul(0, 0, N, n, K, 1.0f, W->data, type_of(W), N, in, type_of(W), K, 0.0f, y, N,
                 g_cu.prec == TTT_PREC_F32);
}

void cu_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc) {
    /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
    cu_lt_matmul(trans_b, trans_a, N, M, K, alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, beta,
                 C, ldc, g_cu.prec == TTT_PREC_F32);
}
