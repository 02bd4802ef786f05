/* gemm.cu - matrix products through cuBLASLt. Row-major products are computed as their
 * column-major transposes (y^T = W x^T), so no data moves.
 * Precision: bf16 weights take bf16 activations (converted on the way in) with float32
 * accumulation and output; float32 weights (the fp32 mode's, and the fast weights) run in
 * float32, with TF32 tensor cores only in the bf16 mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A product's descriptors and chosen algorithm, kept per shape: building them and asking the
 * heuristic costs more than a decode step's small GEMMs. */
typedef struct plan {
    int key[11];
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
} plan;

#define PLANS 256
static plan g_plans[PLANS];
static int g_n_plans, g_next_evict;

static void plan_destroy(plan *p) {
    if (p->lc) cublasLtMatrixLayoutDestroy(p->lc);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->desc) cublasLtMatmulDescDestroy(p->desc);
    memset(p, 0, sizeof *p);
}

static plan *plan_get(const int *key, int trans_a, int trans_b, int m, int n, int k,
                      cudaDataType_t at, int lda, cudaDataType_t bt, int ldb, int ldc,
                      cublasComputeType_t ct) {
    for (int i = 0; i < g_n_plans; i++)
        if (!memcmp(g_plans[i].key, key, sizeof g_plans[i].key)) return &g_plans[i];
    plan *p;
    if (g_n_plans < PLANS) {
        p = &g_plans[g_n_plans++];
    } else {
        p = &g_plans[g_next_evict];
        g_next_evict = (g_next_evict + 1) % PLANS;
        plan_destroy(p);
    }
    memcpy(p->key, key, sizeof p->key);
    const cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    CHECK_LT(cublasLtMatmulDescCreate(&p->desc, ct, CUDA_R_32F), "matmul descriptor");
    CHECK_LT(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
             "matmul descriptor");
    CHECK_LT(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
             "matmul descriptor");
    CHECK_LT(cublasLtMatrixLayoutCreate(&p->la, at, trans_a ? k : m, trans_a ? m : k, lda),
             "matmul layout");
    CHECK_LT(cublasLtMatrixLayoutCreate(&p->lb, bt, trans_b ? n : k, trans_b ? k : n, ldb),
             "matmul layout");
    CHECK_LT(cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_32F, m, n, ldc), "matmul layout");
    CHECK_LT(cublasLtMatmulPreferenceCreate(&pref), "matmul preference");
    if (lt_ok(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                   &g_cu.ws_bytes, sizeof g_cu.ws_bytes),
              "matmul preference"))
        lt_ok(cublasLtMatmulAlgoGetHeuristic(g_cu.lt, p->desc, p->la, p->lb, p->lc, p->lc, pref,
                                             1, &heur, &found),
              "matmul heuristic");
    cublasLtMatmulPreferenceDestroy(pref);
    if (found == 0) {
        cu_fail(TTT_ERR_UNSUPPORTED, "matmul: no cuBLASLt algorithm for the shape", cudaSuccess);
        goto done;
    }
    p->algo = heur.algo;
    return p;
done:
    plan_destroy(p);
    return NULL;
}

/* C[m, n] (column-major, ldc) = alpha op(A) op(B) + beta C. */
void cu_lt_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const void *A,
                  cudaDataType_t at, int lda, const void *B, cudaDataType_t bt, int ldb,
                  float beta, float *C, int ldc, int fp32_exact) {
    if (m <= 0 || n <= 0) return;
    cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
    if (at == CUDA_R_32F && !fp32_exact) ct = CUBLAS_COMPUTE_32F_FAST_TF32;
    const int key[11] = {trans_a, trans_b, m, n, k, (int)at, lda, (int)bt, ldb, ldc, (int)ct};
    plan *p = plan_get(key, trans_a, trans_b, m, n, k, at, lda, bt, ldb, ldc, ct);
    if (!p) return;
    lt_ok(cublasLtMatmul(g_cu.lt, p->desc, &alpha, A, p->la, B, p->lb, &beta, C, p->lc, C, p->lc,
                         &p->algo, g_cu.ws, g_cu.ws_bytes, g_cu.stream),
          "matmul");
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

static void matmul_in(float *y, const void *in, const ttt_mat *W, int n, int accumulate) {
    const int N = W->rows, K = W->cols;
    /* y^T [N, n] = W [K, N]^T-as-stored^T x^T */
    cu_lt_matmul(1, 0, N, n, K, 1.0f, W->data, type_of(W), K, in, type_of(W), K,
                 accumulate ? 1.0f : 0.0f, y, N, g_cu.prec == TTT_PREC_F32);
}

/* bf16 copy of count floats in a scratch slot (the bf16 mode's inputs for float32 operands) */
static const __nv_bfloat16 *to_bf16(int slot, const float *x, size_t count) {
    __nv_bfloat16 *b = (__nv_bfloat16 *)cu_scratch(slot, sizeof(__nv_bfloat16) * count);
    if (b) cu_f32_to_bf16(b, x, count);
    return b;
}

/* Products with many rows and a float32 weight (the fast weight S) in the bf16 mode run on
 * bf16 tensor cores; a few rows (decode) read S as it is. */
#define BF16_MIN_ROWS 64

/* Decode-sized products (n <= GEMV_ROWS): one warp per weight row, 16-byte loads, float32 x
 * read as is; memory-bound on the weights, with no conversion pass. */
#define GEMV_ROWS 4
#define GEMV_WARPS 8 /* the most warps per block (shared memory, launch bounds) */

template <typename T>
static __device__ __forceinline__ void unpack16(const uint4 &u, float *f);
template <>
__device__ __forceinline__ void unpack16<__nv_bfloat16>(const uint4 &u, float *f) {
    cu_unpack_bf16x8(u, f);
}
template <>
__device__ __forceinline__ void unpack16<float>(const uint4 &u, float *f) {
    f[0] = __uint_as_float(u.x);
    f[1] = __uint_as_float(u.y);
    f[2] = __uint_as_float(u.z);
    f[3] = __uint_as_float(u.w);
}

#define GEMV_U 8

/* A 16-byte load that bypasses L1: weights are read once per step. */
static __device__ __forceinline__ uint4 ld_stream(const void *p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
                 : "l"(p));
    return r;
}

/* s[rr][j] += w_rr[k .. k+E) . x[j, k .. k+E) for the RW weight rows and the NX rows of x:
 * each piece of x is loaded once for all RW weight rows (x, float32, is read from L1 and was
 * twice the weights' bytes there with one weight row per warp) */
template <typename T, int NX, int RW, bool NORM>
static __device__ __forceinline__ void gemv_fma(const uint4 *wu, const float *x, const float *nw,
                                                int K, int k, float (*s)[NX], float *ss) {
    constexpr int E = 16 / sizeof(T);
    float xf[NX][E];
    float g[E];
    if constexpr (NORM) {
        const float4 *gv = reinterpret_cast<const float4 *>(nw + k);
#pragma unroll
        for (int e = 0; e < E / 4; e++) {
            const float4 v = gv[e];
            g[4 * e] = v.x, g[4 * e + 1] = v.y, g[4 * e + 2] = v.z, g[4 * e + 3] = v.w;
        }
    }
#pragma unroll
    for (int j = 0; j < NX; j++) {
        const float4 *xv = reinterpret_cast<const float4 *>(x + (size_t)j * K + k);
#pragma unroll
        for (int e = 0; e < E / 4; e++) {
            const float4 v = xv[e];
            xf[j][4 * e] = v.x, xf[j][4 * e + 1] = v.y, xf[j][4 * e + 2] = v.z,
            xf[j][4 * e + 3] = v.w;
        }
        if constexpr (NORM) {
            /* the norm's sum of squares of raw x; the weight scales x before the product */
#pragma unroll
            for (int e = 0; e < E; e++) {
                ss[j] += xf[j][e] * xf[j][e];
                xf[j][e] *= g[e];
            }
        }
    }
#pragma unroll
    for (int rr = 0; rr < RW; rr++) {
        float wf[E];
        unpack16<T>(wu[rr], wf);
#pragma unroll
        for (int j = 0; j < NX; j++)
#pragma unroll
            for (int e = 0; e < E / 4; e++)
                s[rr][j] += wf[4 * e] * xf[j][4 * e] + wf[4 * e + 1] * xf[j][4 * e + 1] +
                            wf[4 * e + 2] * xf[j][4 * e + 2] + wf[4 * e + 3] * xf[j][4 * e + 3];
    }
}

/* Up to 3 matrices of one shape class (same K and type) in one launch: Q/K/V, gate/up. */
template <typename T>
struct gemv_set {
    const T *W[3];
    float *y[3];
    int N[3];  /* rows of each */
    int count;
};

/* What a GEMV does besides the product. GV_PAIR: two matrices of one shape (gate, up) give
 * y[0] = act(x W0^T) * (x W1^T), each warp taking RW/2 rows of both, which saves the
 * activation's kernel and its boundary in a decode step; its activation: gelu 1 GELU (tanh),
 * 0 SiLU. GV_NORM: see gemv_norm. */
enum { GV_PLAIN = 0, GV_PAIR = 1, GV_NORM = 2 };

/* GV_NORM: the products read norm(x) = x / sqrt(mean(x^2) + eps) * w without a norm kernel
 * before them (a decode step's two RMSNorms per layer, each a kernel boundary of about
 * 2.3 us, docs/PERF.md changes 31 and 39). A block reads all of x anyway, so each warp sums
 * the squares of the columns it reads, the KS warps of a row add theirs through shared
 * memory, and the sums are scaled at the end: sum_k W[r,k] (x_k w_k) / rms(x); nothing waits
 * for the norm (normalising x into shared memory before the first product was slower, change
 * 29). Block 0 writes norm(x) to xn where asked (a TTT layer's target). */
struct gemv_norm {
    const float *w; /* [K] norm weight (Gemma's 1 + w already added) */
    float eps;
    float *xn;      /* [n, K] norm(x), or NULL */
};

/* A warp takes RW consecutive weight rows (each matrix's rows a multiple of RW); KS warps
 * share them, each taking every KS-th 16-byte column block, their sums added through shared
 * memory: the W_o and W_down products have only D rows (2560 warps for Qwen3-4B, 2.4 blocks
 * per SM, the last wave half empty), so splitting K fills the GPU. */
template <typename T, int NX, int KS, int RW, int MODE>
static __global__ void __launch_bounds__(32 * GEMV_WARPS)
    k_gemv(gemv_set<T> set, const float *x, int K, int acc, int gelu, gemv_norm nm) {
    cu_pdl_enter();
    constexpr int E = 16 / sizeof(T); /* elements per 16-byte load */
    constexpr int U = GEMV_U / RW;    /* loads per weight row in flight */
    constexpr bool PAIR = MODE & GV_PAIR, NORM = MODE & GV_NORM;
    constexpr int OUT = PAIR ? RW / 2 : RW; /* output rows per warp */
    __shared__ float part[GEMV_WARPS][RW + NORM][NX];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, kp = warp % KS;
    /* which matrix: selects, not a run-time index into the parameter struct (local memory) */
    int r = (blockIdx.x * ((int)blockDim.x / 32 / KS) + warp / KS) * OUT, mi = 0;
    bool valid = true;
    if (PAIR) {
        valid = r < set.N[0];
    } else if (r >= set.N[0]) {
        r -= set.N[0];
        mi = 1;
        if (set.count < 2) valid = false;
        else if (r >= set.N[1]) {
            r -= set.N[1];
            mi = 2;
            if (set.count < 3 || r >= set.N[2]) valid = false;
        }
    }
    const int N = mi == 0 ? set.N[0] : mi == 1 ? set.N[1] : set.N[2];
    float *y = mi == 0 ? set.y[0] : mi == 1 ? set.y[1] : set.y[2];
    const T *w = (mi == 0 ? set.W[0] : mi == 1 ? set.W[1] : set.W[2]) + (size_t)r * K;
    /* GV_PAIR: rows r.. of W0, then the same rows of W1 */
    const T *w1 = PAIR ? set.W[1] + (size_t)r * K : w;
    float s[RW][NX], ss[NX];
#pragma unroll
    for (int j = 0; j < NX; j++) {
        ss[j] = 0.0f;
#pragma unroll
        for (int rr = 0; rr < RW; rr++) s[rr][j] = 0.0f;
    }
    /* GEMV_U loads of 16 bytes per lane issued before any is used: a decode step is bound by
     * how many weight bytes are in flight. The last batch is predicated rather than a loop of
     * single loads (measured the same: the compiler had already hoisted those loads; docs/
     * PERF.md change 16). */
    constexpr int STEP = 32 * E * KS;
    int k = (kp * 32 + lane) * E;
    uint4 wv[U][RW];
    auto load = [&](int k0) {
#pragma unroll
        for (int u = 0; u < U; u++)
#pragma unroll
            for (int rr = 0; rr < RW; rr++) {
                const T *row = PAIR && rr >= OUT ? w1 + (size_t)(rr - OUT) * K
                                                 : w + (size_t)rr * K;
                wv[u][rr] = k0 + u * STEP < K ? ld_stream(row + k0 + u * STEP)
                                              : make_uint4(0, 0, 0, 0);
            }
    };
    if (valid && k < K) load(k);
    if (valid) {
        while (k < K) {
#pragma unroll
            for (int u = 0; u < U; u++)
                if (k + u * STEP < K)
                    gemv_fma<T, NX, RW, NORM>(wv[u], x, nm.w, K, k + u * STEP, s, ss);
            k += U * STEP;
            if (k < K) load(k);
        }
    }
#pragma unroll
    for (int rr = 0; rr < RW; rr++)
#pragma unroll
        for (int j = 0; j < NX; j++)
            for (int o = 16; o > 0; o >>= 1) s[rr][j] += __shfl_xor_sync(0xffffffffu, s[rr][j], o);
    if constexpr (NORM)
#pragma unroll
        for (int j = 0; j < NX; j++)
            for (int o = 16; o > 0; o >>= 1) ss[j] += __shfl_xor_sync(0xffffffffu, ss[j], o);
    if constexpr (KS > 1) {
        if (lane == 0)
#pragma unroll
            for (int j = 0; j < NX; j++) {
#pragma unroll
                for (int rr = 0; rr < RW; rr++) part[warp][rr][j] = s[rr][j];
                if constexpr (NORM) part[warp][RW][j] = ss[j];
            }
        __syncthreads();
        if (kp != 0) return;
#pragma unroll
        for (int rr = 0; rr < RW + NORM; rr++)
#pragma unroll
            for (int j = 0; j < NX; j++) {
                float t = 0.0f;
#pragma unroll
                for (int q = 0; q < KS; q++) t += part[warp + q][rr][j];
                if (rr < RW) s[rr][j] = t;
                else ss[j] = t;
            }
    }
    if constexpr (NORM) {
#pragma unroll
        for (int j = 0; j < NX; j++) {
            const float inv = 1.0f / sqrtf(ss[j] / (float)K + nm.eps);
#pragma unroll
            for (int rr = 0; rr < RW; rr++) s[rr][j] *= inv;
            if (nm.xn && blockIdx.x == 0 && warp == 0) /* the first row group has all of K */
                for (int i = lane * 4; i < K; i += 128) {
                    const float4 v = *reinterpret_cast<const float4 *>(x + (size_t)j * K + i);
                    const float4 g = *reinterpret_cast<const float4 *>(nm.w + i);
                    *reinterpret_cast<float4 *>(nm.xn + (size_t)j * K + i) =
                        make_float4(v.x * inv * g.x, v.y * inv * g.y, v.z * inv * g.z,
                                    v.w * inv * g.w);
                }
        }
    }
    if (!valid || lane != 0) return;
#pragma unroll
    for (int rr = 0; rr < OUT; rr++)
#pragma unroll
        for (int j = 0; j < NX; j++) {
            float *yy = y + (size_t)j * N + r + rr;
            if (PAIR) *yy = cu_act_of(s[rr][j], gelu) * s[rr + OUT][j];
            else *yy = acc ? *yy + s[rr][j] : s[rr][j];
        }
}

/* Warps per block: 4, or GEMV_WARPS (8) with TTT_CUDA_GEMV_WARPS=8 (read once; A/B). Half
 * the rows per block halve the last wave's blocks: 1K decode +1.4%, 32K within noise
 * (docs/PERF.md change 46). */
static int gemv_warps(void) {
    static int w = 0;
    if (!w) w = getenv("TTT_CUDA_GEMV_WARPS") && atoi(getenv("TTT_CUDA_GEMV_WARPS")) == 8
                    ? GEMV_WARPS
                    : 4;
    return w;
}

template <typename T, int NX, int KS, int RW, int MODE>
static void gemv_go(const gemv_set<T> &set, const float *x, int K, int acc, int gelu,
                    const gemv_norm &nm, unsigned blocks) {
    cu_launch(k_gemv<T, NX, KS, RW, MODE>, blocks, 32 * gemv_warps(), 0, set, x, K, acc, gelu,
              nm);
}

template <typename T, int KS, int RW, int MODE>
static void gemv_launch_rw(const gemv_set<T> &set, const float *x, int K, int n, int acc,
                           int rows, int gelu, const gemv_norm &nm) {
    /* output rows per block */
    const int per = gemv_warps() / KS * (MODE & GV_PAIR ? RW / 2 : RW);
    const unsigned blocks = (unsigned)((rows + per - 1) / per);
    switch (n) {
    case 1: gemv_go<T, 1, KS, RW, MODE>(set, x, K, acc, gelu, nm, blocks); break;
    case 2: gemv_go<T, 2, KS, RW, MODE>(set, x, K, acc, gelu, nm, blocks); break;
    case 3: gemv_go<T, 3, KS, RW, MODE>(set, x, K, acc, gelu, nm, blocks); break;
    default: gemv_go<T, 4, KS, RW, MODE>(set, x, K, acc, gelu, nm, blocks); break;
    }
}

/* Weight rows per warp: 4 where every matrix's rows divide by it (TTT_CUDA_GEMV_RW = 1 or 2,
 * read once, for A/B measurements). With one row per warp, L1 ran at 80% (x, float32, is
 * twice the weights' bytes there) and DRAM at 37-63%; four rows per warp: L1 27-39%, DRAM
 * 41-70%, 32K decode 4.55 -> 4.39 ms (docs/PERF.md change 19). GV_PAIR takes two rows of
 * each matrix per warp. */
template <typename T>
static int gemv_rw(const gemv_set<T> &set, int mode) {
    static int want = 0;
    if (!want) {
        const char *e = getenv("TTT_CUDA_GEMV_RW");
        want = e && (atoi(e) == 1 || atoi(e) == 2) ? atoi(e) : 4;
    }
    const int pair = mode & GV_PAIR, rw = pair && want == 1 ? 2 : want;
    for (int i = 0; i < set.count; i++)
        if (set.N[i] % (pair ? rw / 2 : rw)) return pair ? 0 : 1;
    return rw;
}

template <typename T, int KS, int MODE>
static void gemv_launch(const gemv_set<T> &set, const float *x, int K, int n, int acc, int rows,
                        int rw, int gelu, const gemv_norm &nm) {
    switch (rw) {
    case 2: gemv_launch_rw<T, KS, 2, MODE>(set, x, K, n, acc, rows, gelu, nm); break;
    case 4: gemv_launch_rw<T, KS, 4, MODE>(set, x, K, n, acc, rows, gelu, nm); break;
    default:
        if constexpr (!(MODE & GV_PAIR))
            gemv_launch_rw<T, KS, 1, MODE>(set, x, K, n, acc, rows, gelu, nm);
        break;
    }
}

template <typename T, int MODE>
static void gemv_mode(const gemv_set<T> &set, const float *x, int K, int n, int acc, int rows,
                      int rw, int gelu, const gemv_norm &nm) {
    /* about 4 warps' worth of weight rows per SM or fewer: split K */
    const long long warps = (long long)rows * (MODE & GV_PAIR ? 2 : 1) / rw;
    if (warps <= 32LL * g_cu.n_sm) gemv_launch<T, 4, MODE>(set, x, K, n, acc, rows, rw, gelu, nm);
    else if (warps <= 64LL * g_cu.n_sm) gemv_launch<T, 2, MODE>(set, x, K, n, acc, rows, rw, gelu, nm);
    else gemv_launch<T, 1, MODE>(set, x, K, n, acc, rows, rw, gelu, nm);
}

/* 0 when the shapes do not suit (GV_PAIR: rows not a multiple of the rows per warp) */
template <typename T>
static int gemv_t(const gemv_set<T> &set, const float *x, int K, int n, int acc, int mode,
                  int gelu, const gemv_norm &nm) {
    const int rows = mode & GV_PAIR ? set.N[0]
                                    : set.N[0] + (set.count > 1 ? set.N[1] : 0) +
                                          (set.count > 2 ? set.N[2] : 0);
    const int rw = gemv_rw(set, mode);
    if (!rw) return 0;
    if (mode == GV_PLAIN) {
        gemv_mode<T, GV_PLAIN>(set, x, K, n, acc, rows, rw, gelu, nm);
    } else if constexpr (sizeof(T) == 2) { /* the fused modes: bf16 weights only */
        switch (mode) {
        case GV_PAIR: gemv_mode<T, GV_PAIR>(set, x, K, n, acc, rows, rw, gelu, nm); break;
        case GV_NORM: gemv_mode<T, GV_NORM>(set, x, K, n, acc, rows, rw, gelu, nm); break;
        default: gemv_mode<T, GV_PAIR | GV_NORM>(set, x, K, n, acc, rows, rw, gelu, nm); break;
        }
    } else {
        return 0;
    }
    CU_LAUNCHED("gemv");
    return 1;
}

template <typename T>
static gemv_set<T> make_set(int count, float *const *ys, const ttt_mat *const *Ws) {
    gemv_set<T> set = {};
    for (int i = 0; i < count; i++) {
        set.W[i] = (const T *)Ws[i]->data;
        set.y[i] = ys[i];
        set.N[i] = Ws[i]->rows;
    }
    set.count = count;
    return set;
}

/* 1 when the GEMV kernel took the products (count <= 3 matrices sharing x, K and type) */
static int gemv(int count, float *const *ys, const float *x, const ttt_mat *const *Ws, int n,
                int acc, int mode, int gelu, const gemv_norm &nm = gemv_norm{}) {
    if (n > GEMV_ROWS || count > 3 || Ws[0]->cols % 8 || g_cu.prec == TTT_PREC_F32) return 0;
    for (int i = 1; i < count; i++)
        if (Ws[i]->cols != Ws[0]->cols || Ws[i]->dtype != Ws[0]->dtype) return 0;
    if ((mode & GV_PAIR) && (count != 2 || Ws[0]->rows != Ws[1]->rows)) return 0;
    const int K = Ws[0]->cols;
    if (Ws[0]->dtype == TTT_DT_BF16)
        return gemv_t(make_set<__nv_bfloat16>(count, ys, Ws), x, K, n, acc, mode, gelu, nm);
    return gemv_t(make_set<float>(count, ys, Ws), x, K, n, acc, mode, gelu, nm);
}

/* ttt_ops.matmul_act: z = act(x Wg^T) * (x Wu^T) in one GEMV; 0 (nothing queued) where
 * the GEMV kernel does not take the shapes, or with TTT_CUDA_NO_FUSE=1 (read per call, for
 * A/B measurements and tests). */
int cu_matmul_act(float *z, const float *x, const ttt_mat *Wg, const ttt_mat *Wu, int n,
                  ttt_act act) {
    const char *e = getenv("TTT_CUDA_NO_FUSE");
    if ((e && *e && *e != '0') || n <= 0 || Wg->dtype != TTT_DT_BF16) return 0;
    float *ys[2] = {z, NULL};
    const ttt_mat *Ws[2] = {Wg, Wu};
    return gemv(2, ys, x, Ws, n, 0, GV_PAIR, act == TTT_ACT_GELU_TANH);
}

static int env_on(const char *name) {
    const char *e = getenv(name);
    return e && *e && *e != '0';
}

/* ttt_ops.matmul_normed: the products of norm(x) with the RMSNorm in the GEMV (GV_NORM);
 * 0 (nothing queued) where the GEMV kernel does not take the shapes, with
 * TTT_CUDA_NO_NORM_FUSE=1, or, for the pair, TTT_CUDA_NO_FUSE=1 (read per call, for A/B
 * measurements and tests). */
int cu_matmul_normed(const ttt_norm_in *in, int count, float *const *ys,
                     const ttt_mat *const *Ws, int n, int pair, ttt_act act) {
    if (env_on("TTT_CUDA_NO_NORM_FUSE") || (pair && env_on("TTT_CUDA_NO_FUSE")) || n <= 0 ||
        Ws[0]->dtype != TTT_DT_BF16 || in->dim != Ws[0]->cols || in->dim % 4)
        return 0;
    const gemv_norm nm = {in->w, in->eps, in->xn};
    return gemv(count, ys, in->x, Ws, n, 0, pair ? GV_PAIR | GV_NORM : GV_NORM,
                act == TTT_ACT_GELU_TANH, nm);
}

void cu_matmul(float *y, const float *x, const ttt_mat *W, int n, int accumulate) {
    if (n <= 0 || !check_type(W)) return;
    if (gemv(1, &y, x, &W, n, accumulate, GV_PLAIN, 0)) return;
    if (W->dtype == TTT_DT_F32 && g_cu.prec != TTT_PREC_F32 && n >= BF16_MIN_ROWS) {
        const size_t nw = (size_t)W->rows * W->cols;
        const ttt_mat Wb = {to_bf16(CU_SCRATCH_B16, (const float *)W->data, nw), TTT_DT_BF16,
                            W->rows, W->cols};
        const void *in = input_for(&Wb, x, (size_t)n * W->cols);
        if (Wb.data && in) matmul_in(y, in, &Wb, n, accumulate);
        return;
    }
    const void *in = input_for(W, x, (size_t)n * W->cols);
    if (in) matmul_in(y, in, W, n, accumulate);
}

void cu_matmul_multi(int count, float *const *ys, const float *x, const ttt_mat *const *Ws,
                     int n) {
    if (gemv(count, ys, x, Ws, n, 0, GV_PLAIN, 0)) return;
    /* one conversion of x serves every matrix of the same type */
    const void *in = NULL;
    for (int i = 0; i < count && n > 0; i++) {
        if (!check_type(Ws[i])) return;
        if (!in || Ws[i]->dtype != Ws[0]->dtype) in = input_for(Ws[i], x, (size_t)n * Ws[i]->cols);
        if (!in) return;
        matmul_in(ys[i], in, Ws[i], n, 0);
    }
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
    if (g_cu.prec != TTT_PREC_F32) { /* bf16 inputs, float32 accumulation into C */
        const __nv_bfloat16 *a = to_bf16(CU_SCRATCH_A16, A, (size_t)(trans_a ? K : M) * lda);
        const __nv_bfloat16 *b = to_bf16(CU_SCRATCH_B16, B, (size_t)(trans_b ? N : K) * ldb);
        if (a && b)
            cu_lt_matmul(trans_b, trans_a, N, M, K, alpha, b, CUDA_R_16BF, ldb, a, CUDA_R_16BF,
                         lda, beta, C, ldc, 0);
        return;
    }
    cu_lt_matmul(trans_b, trans_a, N, M, K, alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, beta,
                 C, ldc, 1);
}
