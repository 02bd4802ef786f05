/* common.cuh - state and helpers shared by the CUDA backend's translation units: one stream,
 * one cuBLASLt handle, the sticky first failure that ttt_ops.sync reports, scratch buffers. */
#ifndef TTT_CUDA_COMMON_CUH
#define TTT_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>

extern "C" {
#include "util/err.h"
}
#include "cuda/cuda.h"

typedef struct cu_state {
    int ready;             /* device, stream and handle exist */
    int prec;              /* TTT_PREC_* of the loaded model(s) */
    cudaStream_t stream;   /* every kernel and copy of the backend */
    cublasLtHandle_t lt;   /* cuBLASLt handle */
    void *ws;              /* [ws_bytes] cuBLASLt workspace */
    size_t ws_bytes;
    ttt_status fail;       /* first failure since the last sync */
    char msg[512];         /* its message */
    size_t in_use, peak;   /* bytes held through cu_alloc */
    int n_sm;              /* multiprocessors */
    int wgmma;             /* the sm_90a attention kernel is in the build and runs here */
    int capturing;         /* the stream is being recorded into a graph (graph.cu) */
    int capture_broken;    /* something could not be recorded: the recording is dropped */
    unsigned scratch_epoch; /* moves whenever a scratch buffer is replaced */
} cu_state;

extern cu_state g_cu;

/* Records a failure (the first one wins until the next sync). */
void cu_fail(ttt_status st, const char *what, cudaError_t e);
/* Checks a CUDA call; records and returns 0 on failure. */
int cu_ok(cudaError_t e, const char *what);
/* After a kernel launch: records a launch failure. */
#define CU_LAUNCHED(what) cu_ok(cudaGetLastError(), what)

/* Per-slot device scratch of at least `bytes`, reused across ops on the one stream; NULL
 * (and a recorded failure) when it cannot grow. */
void *cu_scratch(int slot, size_t bytes);
enum { CU_SCRATCH_TOK, CU_SCRATCH_X16, CU_SCRATCH_ATTN, CU_SCRATCH_RED, CU_SCRATCH_A16,
       CU_SCRATCH_B16, CU_SCRATCH_TRAIN, CU_SCRATCH_TRAIN_ATTN, CU_SCRATCH_IDS, CU_SCRATCH_TOP,
       CU_SCRATCH_COUNT };

/* cuBLASLt products, column-major (cuBLAS) conventions. */
void cu_lt_matmul(int trans_a, int trans_b, int m, int n, int k, float alpha, const void *A,
                  cudaDataType_t at, int lda, const void *B, cudaDataType_t bt, int ldb,
                  float beta, float *C, int ldc, int fp32_exact);

/* Programmatic dependent launch (sm_90): a kernel launched with cu_launch may be scheduled
 * while the kernel before it in the stream still runs; it waits in cu_pdl_enter until that
 * one has finished and its writes are visible, then lets the next kernel be scheduled. The
 * launch latency and the tail of each small decode kernel then overlap the next one.
 * Every kernel launched through cu_launch must begin with cu_pdl_enter();
 * TTT_CUDA_NO_PDL=1 launches them plainly (the wait is then a no-op). */
static __device__ __forceinline__ void cu_pdl_enter() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

int cu_pdl_on(void);

template <typename... KArgs, typename... Args>
static inline void cu_launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                             Args... args) {
    cudaLaunchConfig_t cfg = {};
    cudaLaunchAttribute attr[1];
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = g_cu.stream;
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = cu_pdl_on() ? 1 : 0;
    cudaLaunchKernelEx(&cfg, kernel, ((KArgs)args)...);
}

/* 8 bf16 of a 16-byte load to float32 */
static __device__ __forceinline__ void cu_unpack_bf16x8(const uint4 &u, float *f) {
    const __nv_bfloat162 *b = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const float2 x = __bfloat1622float2(b[k]);
        f[2 * k] = x.x;
        f[2 * k + 1] = x.y;
    }
}

/* The MLP's activation: SiLU, or GELU with the tanh approximation (gelu != 0). */
static __device__ __forceinline__ float cu_act_of(float x, int gelu) {
    if (gelu) {
        const float k = 0.7978845608028654f;
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    return x / (1.0f + expf(-x));
}

#define CU_GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)gridDim.x * blockDim.x)

/* Sum (or maximum) over the block; every thread gets the result. red: [32] shared. */
template <typename T> static __device__ T cu_block_sum(T v, T *red) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nw = (blockDim.x + 31) / 32;
    __syncthreads(); /* red may still be read by an earlier call */
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : (T)0;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ float cu_block_max(float v, float *red) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nw = (blockDim.x + 31) / 32;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Tensor-core helpers of the attention kernels (flash.cu, decode.cu); fragment layouts in
 * flash.cu. D += A B for one m16n8k16 tile, bf16 in, fp32 accumulate. */
static __device__ __forceinline__ void cu_mma16816(float *d, const uint32_t *a, uint32_t b0,
                                                   uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* 16 bytes from global to shared memory without passing through registers (cp.async, L2
 * only); _zfill writes zeros instead when !valid (gmem must still be a valid address). */
static __device__ __forceinline__ void cu_cp16(void *smem, const void *gmem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
static __device__ __forceinline__ void cu_cp16_zfill(void *smem, const void *gmem, bool valid) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem),
                 "r"(valid ? 16 : 0));
}

/* ---- mbarriers and the tensor memory accelerator (TMA, sm_90) ----
 * A stage of a shared-memory pipeline is "full" when its mbarrier has seen the producer's
 * arrival and the bytes it announced (the copy engine completes them), "empty" when every
 * consumer has arrived. Waits name the phase by its parity: phase k of a barrier has parity
 * k % 2, and a wait returns once that phase has completed. */
static __device__ __forceinline__ uint32_t cu_smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
static __device__ __forceinline__ void cu_mb_init(uint64_t *b, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(cu_smem_addr(b)), "r"(count)
                 : "memory");
}
/* after the barriers' initialisation, before any other thread or the copy engine uses them */
static __device__ __forceinline__ void cu_mb_init_fence() {
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
/* the producer's arrival, which also announces how many bytes the copies will complete */
static __device__ __forceinline__ void cu_mb_expect(uint64_t *b, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(
                     cu_smem_addr(b)),
                 "r"(bytes)
                 : "memory");
}
static __device__ __forceinline__ void cu_mb_arrive(uint64_t *b) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(cu_smem_addr(b)) : "memory");
}
static __device__ __forceinline__ void cu_mb_wait(uint64_t *b, uint32_t parity) {
    asm volatile("{\n.reg .pred p;\nCU_MB_WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
                 "@!p bra CU_MB_WAIT;\n}\n" ::"r"(cu_smem_addr(b)),
                 "r"(parity)
                 : "memory");
}
/* one box of a 3-D tensor map at coordinates (x, y, z) into shared memory; completes its
 * bytes on bar */
static __device__ __forceinline__ void cu_tma3(void *dst, const CUtensorMap *m, int x, int y,
                                               int z, uint64_t *bar) {
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::"
                 "bytes [%0], [%1, {%2, %3, %4}], [%5];\n" ::"r"(cu_smem_addr(dst)),
                 "l"(m), "r"(x), "r"(y), "r"(z), "r"(cu_smem_addr(bar))
                 : "memory");
}
#endif

/* tma.cu: a bf16 KV cache [hkv][hs][hd] (rows [0, rows) of each head) as a 3-D tensor map
 * read in 128-byte-swizzled boxes of 64 dims x box_rows positions; positions from rows on
 * read as zeros. 0 when the driver cannot encode it. */
int cu_tmap_kv(CUtensorMap *m, const void *base, int hd, int rows, int hkv, size_t hs,
               int box_rows);

/* Four 8x8 bf16 matrices from shared memory, lane i addressing row i % 8 of matrix i / 8;
 * lane l receives elements (l / 4, 2 (l % 4) ..+1) of each: A fragments of a row-major tile,
 * or B fragments of a [n][k] (key-major) tile. */
static __device__ __forceinline__ void cu_ldsm_x4(uint32_t *r, const __nv_bfloat16 *row) {
    const unsigned addr = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* Two B fragments (dims n0..n0+7 and n0+8..n0+15, keys k0..k0+15) of a row-major [key][dim]
 * tile in shared memory, transposed on the way out. */
static __device__ __forceinline__ void cu_ldsm_x4_trans(uint32_t *r, const __nv_bfloat16 *row) {
    const unsigned addr = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* o[t][HD/8][4] += P_t V for 16 keys and MT row tiles t of 16 (each V fragment loaded once):
 * pa[t], P_t's A fragments; V, the keys' rows ([16][ld] bf16, row major, in shared memory).
 * Lane i addresses row i % 8 of ldmatrix's matrix i / 8: keys +8 for the odd matrices, dims
 * +8 for the upper two. */
template <int HD, int MT>
static __device__ __forceinline__ void cu_mma_pv16_mt(float (*o)[HD / 8][4],
                                                      const uint32_t (*pa)[4],
                                                      const __nv_bfloat16 *V, int ld, int lane) {
    const __nv_bfloat16 *vrow = V + ((lane & 7) + ((lane >> 3) & 1) * 8) * ld + (lane >> 4) * 8;
#pragma unroll
    for (int nd = 0; nd < HD / 8; nd += 2) {
        uint32_t b[4];
        cu_ldsm_x4_trans(b, vrow + nd * 8);
#pragma unroll
        for (int t = 0; t < MT; t++) {
            cu_mma16816(o[t][nd], pa[t], b[0], b[1]);
            cu_mma16816(o[t][nd + 1], pa[t], b[2], b[3]);
        }
    }
}

/* One row tile: o[HD/8][4], pa[4]. */
template <int HD>
static __device__ __forceinline__ void cu_mma_pv16(float (*o)[4], const uint32_t *pa,
                                                   const __nv_bfloat16 *V, int ld, int lane) {
    cu_mma_pv16_mt<HD, 1>(reinterpret_cast<float(*)[HD / 8][4]>(o),
                          reinterpret_cast<const uint32_t(*)[4]>(pa), V, ld, lane);
}

/* two floats as the bf16 pair of one fragment register */
static __device__ __forceinline__ uint32_t cu_pack_bf16x2(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

static inline unsigned cu_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b > 65535u * 16u ? 65535u * 16u : b);
}



/* prof.cu: GPU time per op kind when TTT_CUDA_PROFILE is set */
enum { CU_OP_EMBED, CU_OP_RMSNORM, CU_OP_MATMUL, CU_OP_MATMUL_MULTI, CU_OP_MATMUL_NT, CU_OP_GEMM,
       CU_OP_QKV_PREP, CU_OP_ATTENTION, CU_OP_ACT_MUL, CU_OP_ADD, CU_OP_SOFTCAP,
       CU_OP_CONV5, CU_OP_TO_F32, CU_OP_COPY, CU_OP_COUNT };
int cu_prof_on(void);
int cu_prof_begin(int op);   /* -1 when profiling is off */
void cu_prof_end(int token);
void cu_prof_flush(void);

/* ---- the ops, by translation unit (table.cu gathers them) ---- */
/* graph.cu: ttt_ops.rec_begin, rec_end, replay, rec_free */
int cu_rec_begin(void);
void *cu_rec_end(void);
int cu_replay(void *rec);
void cu_rec_free(void *rec);
/* mem.cu */
ttt_status cu_init(int precision);
void *cu_alloc(size_t bytes);
void cu_free(void *p);
void cu_copy(void *dst, const void *src, size_t bytes);
void cu_zero(void *dst, size_t bytes);
void cu_to_host(void *dst, const void *src, size_t bytes);
/* count (<= 4) copies to the host with one wait */
void cu_to_host_n(int count, void *const *dst, const void *const *src, const size_t *bytes);
void cu_to_backend(void *dst, const void *src, size_t bytes);
ttt_status cu_sync(void);
/* bf16 cache in the bf16 mode, float32 in the fp32 mode */
size_t cu_kv_elem_size(void);
/* ops.cu */
void cu_embed(float *out, const ttt_mat *E, const int32_t *tok, int n, float scale);
void cu_rmsnorm(float *out, const float *x, const float *w, int rows, int dim, float eps);
void cu_qkv_prep(float *q, float *k, const float *v, int n, int H, int Hkv, int hd,
                 const float *q_norm, const float *k_norm, float eps, const float *inv_freq,
                 int p0, const ttt_row_kv *rows, float *kc, float *vc, size_t head_stride);
void cu_copy_rows(float *const *dst, int stride, const float *a, size_t wa, const float *b,
                  size_t wb, int n);
void cu_act_mul(float *g, const float *u, size_t count, ttt_act act);
void cu_add(float *x, const float *y, size_t count);
void cu_axpy(float *y, const float *x, float a, size_t count);
void cu_softcap(float *x, size_t count, float cap);
void cu_conv5(float *U, const float *t, const float *w, int rows, int dim, int left);
double cu_sumsq(const float *x, size_t count);
void cu_argmax(int32_t *out_host, const float *x, int n, int V, int limit);
void cu_topk(float *val_host, int32_t *id_host, float *lse_host, const float *x, int n, int V,
             int limit, int k);
void cu_to_f32(float *dst, const ttt_mat *W);
/* Converts count floats to bf16 (for GEMM inputs). */
void cu_f32_to_bf16(__nv_bfloat16 *dst, const float *src, size_t count);
/* Fills count floats with hash-based values in [-1, 1) (probes and tests). */
void cu_fill_random(float *x, size_t count, unsigned seed);
/* gemm.cu */
void cu_matmul(float *y, const float *x, const ttt_mat *W, int n, int accumulate);
void cu_matmul_multi(int count, float *const *ys, const float *x, const ttt_mat *const *Ws, int n);
void cu_matmul_nt(float *y, const float *x, const ttt_mat *W, int n);
int cu_matmul_act(float *z, const float *x, const ttt_mat *Wg, const ttt_mat *Wu, int n,
                  ttt_act act);
int cu_matmul_normed(const ttt_norm_in *in, int count, float *const *ys,
                     const ttt_mat *const *Ws, int n, int pair, ttt_act act);
void cu_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc);
/* What the prefill attention kernels (flash.cu, flash_wg.cu) take, one launch per call */
typedef struct cu_flash_args {
    float *out;                /* [n, H, hd] */
    const float *q;            /* [n, H, hd] */
    const __nv_bfloat16 *kc;   /* [Hkv][cap][hd]: head h / G's rows at kc + (h / G) * hs */
    const __nv_bfloat16 *vc;
    int p0, n, H, G, window;   /* first position, rows, heads, heads per KV head, 0 or window */
    size_t hs;
    float scale, softcap;      /* softcap 0: none (flash_wg.cu takes only that) */
} cu_flash_args;

/* flash.cu: tensor-core prefill attention; 0 when the cache type or head_dim don't suit */
int cu_flash_attention(float *out, const float *q, const void *kc, const void *vc, int p0, int n,
                       const ttt_attn_params *p);
/* flash_wg.cu: the same on wgmma (sm_90a builds on Hopper; hd 64 or 128, no soft-cap);
 * 0 when it does not apply */
int cu_flash_wg(float *out, const float *q, const void *kc, const void *vc, int p0, int n,
                const ttt_attn_params *p);
int cu_flash_wg_probe(void);
/* decode.cu: tiled decode attention on the bf16 cache (head_dim 64, 128 or 256, G a power of two
 * up to 8); _ok says whether it applies; 0 when it does not */
int cu_attn_decode_ok(int n_head_kv, int G, int hd);
int cu_attn_decode_blocks_per_sm(int G, int hd);
int cu_attn_decode(float *out, float *part, const float *q, const void *kc, const void *vc,
                   const ttt_row_kv *rows, int p0, int n, int nsplit, const ttt_attn_params *p);
/* attn.cu */
void cu_attention(float *out, const float *q, const float *kc, const float *vc, int p0, int n,
                  const ttt_attn_params *p);
void cu_attention_rows(float *out, const float *q, const ttt_row_kv *rows, int n, int max_pos,
                       const ttt_attn_params *p);
#endif
