/* ops.cu - the CUDA backend's element-wise and row-wise kernels (memory-bound: grid-stride
 * loops, one block per row for the reductions). Numerics follow the CPU backend: float32
 * throughout, RMSNorm's sum of squares in float32, RoPE angles as float32 products. */
#include "cuda/common.cuh"

#define THREADS 256

#define GRID_STRIDE CU_GRID_STRIDE

static __device__ __forceinline__ float load_w(const void *w, ttt_dtype dt, size_t i) {
    if (dt == TTT_DT_BF16) return __bfloat162float(((const __nv_bfloat16 *)w)[i]);
    return ((const float *)w)[i];
}

static __global__ void k_embed(float *out, const void *E, ttt_dtype dt, const int32_t *tok,
                               int D, float scale) {
    cu_pdl_enter();
    const size_t row = (size_t)tok[blockIdx.x] * D;
    float *o = out + (size_t)blockIdx.x * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) o[d] = load_w(E, dt, row + d) * scale;
}

void cu_embed(float *out, const ttt_mat *E, const int32_t *tok, int n, float scale) {
    int32_t *dtok = (int32_t *)cu_scratch(CU_SCRATCH_TOK, sizeof(int32_t) * (size_t)n);
    if (!dtok || n <= 0) return;
    if (!cu_ok(cudaMemcpyAsync(dtok, tok, sizeof(int32_t) * (size_t)n, cudaMemcpyHostToDevice,
                               g_cu.stream), "token upload"))
        return;
    cu_launch(k_embed, n, THREADS, 0, out, E->data, E->dtype, dtok, E->cols, scale);
    CU_LAUNCHED("embed");
}

static __global__ void k_rmsnorm(float *out, const float *x, const float *w, int dim, float eps) {
    cu_pdl_enter();
    __shared__ float red[32];
    const float *xr = x + (size_t)blockIdx.x * dim;
    float *o = out + (size_t)blockIdx.x * dim;
    float ss = 0.0f;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) ss += xr[d] * xr[d];
    ss = cu_block_sum(ss, red);
    const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    for (int d = threadIdx.x; d < dim; d += blockDim.x) o[d] = xr[d] * inv * w[d];
}

/* One warp per row, the row in registers (NV float4 per lane, 128 floats per step): one read
 * of x and w, a shuffle reduction, no block barrier. The block-per-row kernel above moved an
 * 8K prefill's norms at about 36% of the copy bandwidth (2.5 elements per thread between two
 * barriers); for a decode step's few rows it is the faster one (a warp alone takes longer
 * over a row than 32 warps do): docs/PERF.md change 34. dim % 4 == 0, dim <= 128 NV. */
#define NORM_ROWS 8 /* rows (warps) per block */
template <int NV>
static __global__ void __launch_bounds__(32 * NORM_ROWS)
    k_rmsnorm_warp(float *out, const float *x, const float *w, int rows, int dim, float eps) {
    cu_pdl_enter();
    const int lane = threadIdx.x % 32, row = blockIdx.x * NORM_ROWS + threadIdx.x / 32;
    if (row >= rows) return;
    const int d4 = dim / 4;
    const float4 *xr = reinterpret_cast<const float4 *>(x + (size_t)row * dim);
    const float4 *w4 = reinterpret_cast<const float4 *>(w);
    float4 v[NV];
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < NV; j++) {
        const int i = lane + 32 * j;
        v[j] = i < d4 ? xr[i] : make_float4(0, 0, 0, 0);
        ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    float4 *orow = reinterpret_cast<float4 *>(out + (size_t)row * dim);
#pragma unroll
    for (int j = 0; j < NV; j++) {
        const int i = lane + 32 * j;
        if (i >= d4) continue;
        const float4 g = w4[i];
        orow[i] = make_float4(v[j].x * inv * g.x, v[j].y * inv * g.y, v[j].z * inv * g.z,
                              v[j].w * inv * g.w);
    }
}

#define NORM_WARP_MIN_ROWS 64

/* The warp-per-row kernel from NORM_WARP_MIN_ROWS rows; TTT_CUDA_OLD_NORM=1 (read per call,
 * for A/B measurements) keeps the block-per-row kernel for every call. */
void cu_rmsnorm(float *out, const float *x, const float *w, int rows, int dim, float eps) {
    if (rows <= 0) return;
    const char *e = getenv("TTT_CUDA_OLD_NORM");
    const int nv = (dim / 4 + 31) / 32;
    const unsigned blocks = (unsigned)((rows + NORM_ROWS - 1) / NORM_ROWS);
    if (rows >= NORM_WARP_MIN_ROWS && dim % 4 == 0 && nv <= 32 && !(e && *e && *e != '0')) {
        /* registers for the row: 8, 16, 24 or 32 float4 per lane */
        void (*k)(float *, const float *, const float *, int, int, float) =
            nv <= 8 ? k_rmsnorm_warp<8> : nv <= 16 ? k_rmsnorm_warp<16>
                                        : nv <= 24 ? k_rmsnorm_warp<24> : k_rmsnorm_warp<32>;
        cu_launch(k, blocks, 32 * NORM_ROWS, 0, out, x, w, rows, dim, eps);
    } else {
        int threads = dim >= 1024 ? 1024 : ((dim + 31) / 32) * 32;
        cu_launch(k_rmsnorm, rows, threads, 0, out, x, w, dim, eps);
    }
    CU_LAUNCHED("rmsnorm");
}

static __device__ __forceinline__ void store_kv(float *p, float v) { *p = v; }
static __device__ __forceinline__ void store_kv(__nv_bfloat16 *p, float v) {
    *p = __float2bfloat16_rn(v);
}

/* A block per (row, QP_WARPS heads of q then of k), a warp per head: lane l owns the pairs
 * (j, j + hd/2) for j = l, l + 32, ..., the pairs RoPE mixes, so the head's RMSNorm (a warp
 * reduction), its rotation and (keys) the cache store need no barrier. The row's angles are
 * computed once per block into shared memory and shared by its heads: with a 64-thread block
 * per (row, head), sincosf ran once per head (40 times per row for Qwen3-4B) and the kernel
 * took 14.5 ms of an 8K prefill, 4x its bytes (docs/PERF.md change 21).
 * Bytes: q, k, v read once, q and k written once, k and v stored to the cache. */
#define QP_WARPS 8
#define QP_MAX_HALF 1024

template <typename T>
static __global__ void __launch_bounds__(32 * QP_WARPS)
    k_qkv_prep(float *q, float *k, const float *v, int H, int Hkv, int hd, const float *q_norm,
               const float *k_norm, float eps, const float *inv_freq, int p0,
               const ttt_row_kv *rows, T *kc, T *vc, size_t head_stride) {
    cu_pdl_enter();
    __shared__ float sn_s[QP_MAX_HALF], cs_s[QP_MAX_HALF];
    const int i = blockIdx.x, half = hd / 2, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int pos = rows ? rows[i].pos : p0 + i;
    for (int j = threadIdx.x; j < half; j += blockDim.x)
        sincosf((float)pos * inv_freq[j], &sn_s[j], &cs_s[j]);
    __syncthreads();
    const int h = blockIdx.y * QP_WARPS + warp;
    if (h >= H + Hkv) return;
    const bool isq = h < H;
    const int hh = isq ? h : h - H;
    float *x = isq ? q + ((size_t)i * H + hh) * hd : k + ((size_t)i * Hkv + hh) * hd;
    const float *nw = isq ? q_norm : k_norm;
    float inv = 1.0f;
    if (nw) {
        float ss = 0.0f;
        for (int j = lane; j < half; j += 32) ss += x[j] * x[j] + x[j + half] * x[j + half];
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        inv = 1.0f / sqrtf(ss / (float)hd + eps);
    }
    T *K = NULL, *V = NULL;
    const float *vr = NULL;
    size_t off = 0;
    if (!isq) {
        K = rows ? (T *)rows[i].kc : kc;
        V = rows ? (T *)rows[i].vc : vc;
        off = hh * (rows ? rows[i].head_stride : head_stride) + (size_t)pos * hd;
        vr = v + ((size_t)i * Hkv + hh) * hd;
    }
    for (int j = lane; j < half; j += 32) {
        float a = x[j], b = x[j + half];
        if (nw) {
            a = a * inv * nw[j];
            b = b * inv * nw[j + half];
        }
        const float ra = a * cs_s[j] - b * sn_s[j], rb = b * cs_s[j] + a * sn_s[j];
        x[j] = ra;
        x[j + half] = rb;
        if (!isq) {
            store_kv(K + off + j, ra);
            store_kv(K + off + j + half, rb);
            store_kv(V + off + j, vr[j]);
            store_kv(V + off + j + half, vr[j + half]);
        }
    }
}

void cu_qkv_prep(float *q, float *k, const float *v, int n, int H, int Hkv, int hd,
                 const float *q_norm, const float *k_norm, float eps, const float *inv_freq,
                 int p0, const ttt_row_kv *rows, float *kc, float *vc, size_t head_stride) {
    if (n <= 0) return;
    if (hd % 2 || hd / 2 > QP_MAX_HALF) {
        cu_fail(TTT_ERR_UNSUPPORTED, "RoPE with an odd head_dim or one above 2048", cudaSuccess);
        return;
    }
    const dim3 grid(n, (H + Hkv + QP_WARPS - 1) / QP_WARPS);
    const int threads = 32 * QP_WARPS;
    if (cu_kv_elem_size() == 2)
        cu_launch(k_qkv_prep<__nv_bfloat16>, grid, threads, 0, q, k, v, H, Hkv, hd, q_norm,
                  k_norm, eps, inv_freq, p0, rows, (__nv_bfloat16 *)kc, (__nv_bfloat16 *)vc,
                  head_stride);
    else
        cu_launch(k_qkv_prep<float>, grid, threads, 0, q, k, v, H, Hkv, hd, q_norm, k_norm, eps,
                  inv_freq, p0, rows, kc, vc, head_stride);
    CU_LAUNCHED("qkv_prep");
}

/* Batched decode: row blockIdx.y of a (blockIdx.z 0) or b (1) to dst[blockIdx.z * stride +
 * blockIdx.y], a float per thread and step. */
static __global__ void k_copy_rows(float *const *dst, int stride, const float *a, size_t wa,
                                   const float *b, size_t wb) {
    cu_pdl_enter();
    const size_t width = blockIdx.z ? wb : wa;
    float *d = dst[blockIdx.z * stride + blockIdx.y];
    if (!d) return;
    const float *sr = (blockIdx.z ? b : a) + blockIdx.y * width;
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < width;
         j += (size_t)gridDim.x * blockDim.x)
        d[j] = sr[j];
}

void cu_copy_rows(float *const *dst, int stride, const float *a, size_t wa, const float *b,
                  size_t wb, int n) {
    if (n <= 0) return;
    const size_t w = wa > wb || !b ? wa : wb;
    const unsigned bx = (unsigned)((w + THREADS - 1) / THREADS);
    cu_launch(k_copy_rows, dim3(bx < 64 ? (bx ? bx : 1) : 64, n, b ? 2 : 1), THREADS, 0, dst,
              stride, a, wa, b, wb);
    CU_LAUNCHED("copy_rows");
}


/* g = act(g) * u, four floats per thread and step (16-byte loads: the scalar loop ran at 56%
 * of the copy bandwidth over an 8K prefill's 1 GB per layer). count4: count / 4. */
static __global__ void k_act_mul(float *g, const float *u, size_t count4, int gelu) {
    cu_pdl_enter();
    float4 *g4 = reinterpret_cast<float4 *>(g);
    const float4 *u4 = reinterpret_cast<const float4 *>(u);
    GRID_STRIDE(i, count4) {
        float4 x = g4[i];
        const float4 y = u4[i];
        x.x = cu_act_of(x.x, gelu) * y.x;
        x.y = cu_act_of(x.y, gelu) * y.y;
        x.z = cu_act_of(x.z, gelu) * y.z;
        x.w = cu_act_of(x.w, gelu) * y.w;
        g4[i] = x;
    }
}

static __global__ void k_act_mul1(float *g, const float *u, size_t count, int gelu) {
    cu_pdl_enter();
    GRID_STRIDE(i, count) g[i] = cu_act_of(g[i], gelu) * u[i];
}

void cu_act_mul(float *g, const float *u, size_t count, ttt_act act) {
    if (!count) return;
    const int gelu = act == TTT_ACT_GELU_TANH;
    if (count % 4 == 0 && (uintptr_t)g % 16 == 0 && (uintptr_t)u % 16 == 0)
        cu_launch(k_act_mul, cu_blocks(count / 4, THREADS), THREADS, 0, g, u, count / 4, gelu);
    else
        cu_launch(k_act_mul1, cu_blocks(count, THREADS), THREADS, 0, g, u, count, gelu);
    CU_LAUNCHED("act_mul");
}

static __global__ void k_axpy(float *y, const float *x, float a, size_t count) {
    cu_pdl_enter();
    GRID_STRIDE(i, count) y[i] += a * x[i];
}

void cu_add(float *x, const float *y, size_t count) { cu_axpy(x, y, 1.0f, count); }

void cu_axpy(float *y, const float *x, float a, size_t count) {
    if (!count) return;
    cu_launch(k_axpy, cu_blocks(count, THREADS), THREADS, 0, y, x, a, count);
    CU_LAUNCHED("axpy");
}

static __global__ void k_softcap(float *x, size_t count, float cap) {
    cu_pdl_enter();
    GRID_STRIDE(i, count) x[i] = cap * tanhf(x[i] / cap);
}

void cu_softcap(float *x, size_t count, float cap) {
    if (!count) return;
    cu_launch(k_softcap, cu_blocks(count, THREADS), THREADS, 0, x, count, cap);
    CU_LAUNCHED("softcap");
}

static __global__ void k_conv5(float *U, const float *t, const float *w, int rows, int dim,
                               int left) {
    GRID_STRIDE(i, (size_t)rows * dim) {
        const int c = (int)(i / dim), d = (int)(i % dim);
        float u = 0.0f;
        for (int k = 0; k < 5; k++) {
            int src = c + k - left;
            if (src >= 0 && src < rows) u += w[(size_t)k * dim + d] * t[(size_t)src * dim + d];
        }
        U[i] = u;
    }
}

void cu_conv5(float *U, const float *t, const float *w, int rows, int dim, int left) {
    size_t n = (size_t)rows * dim;
    if (!n) return;
    k_conv5<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(U, t, w, rows, dim, left);
    CU_LAUNCHED("conv5");
}

/* part[block] = the block's sum of squares; the host adds the parts in order, so the result
 * does not depend on block scheduling (the trainer's clip repeats bit for bit) */
static __global__ void k_sumsq(const float *x, size_t count, double *part) {
    __shared__ float red[32];
    float s = 0.0f;
    GRID_STRIDE(i, count) s += x[i] * x[i];
    s = cu_block_sum(s, red);
    if (threadIdx.x == 0) part[blockIdx.x] = (double)s;
}

double cu_sumsq(const float *x, size_t count) {
    unsigned blocks = cu_blocks(count, THREADS);
    if (blocks > 1024) blocks = 1024;
    double *part = (double *)cu_scratch(CU_SCRATCH_RED, sizeof(double) * 1024), host[1024];
    double r = 0;
    if (!part || !count) return 0;
    k_sumsq<<<blocks, THREADS, 0, g_cu.stream>>>(x, count, part);
    if (CU_LAUNCHED("sumsq")) {
        cu_to_host(host, part, sizeof(double) * blocks);
        for (unsigned b = 0; b < blocks; b++) r += host[b];
    }
    return r;
}

/* A block per row: the largest of x[row, 0 .. limit), the lowest index on ties (as the CPU's
 * first-maximum scan). Reads limit floats per row; writes one id. */
static __global__ void k_argmax(int32_t *out, const float *x, int V, int limit) {
    cu_pdl_enter();
    __shared__ float bv[32];
    __shared__ int bi[32];
    const float *l = x + (size_t)blockIdx.x * V;
    float v = -INFINITY;
    int id = limit; /* past every real index: loses every tie */
    for (int i = threadIdx.x; i < limit; i += blockDim.x)
        if (l[i] > v || (l[i] == v && i < id)) v = l[i], id = i;
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, id, o);
        if (ov > v || (ov == v && oi < id)) v = ov, id = oi;
    }
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nw = blockDim.x / 32;
    if (lane == 0) bv[warp] = v, bi[warp] = id;
    __syncthreads();
    if (warp == 0) {
        v = lane < nw ? bv[lane] : -INFINITY;
        id = lane < nw ? bi[lane] : limit;
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, v, o);
            const int oi = __shfl_xor_sync(0xffffffffu, id, o);
            if (ov > v || (ov == v && oi < id)) v = ov, id = oi;
        }
        if (lane == 0) out[blockIdx.x] = id < limit ? id : 0; /* all NaN: 0, as the CPU */
    }
}

void cu_argmax(int32_t *out_host, const float *x, int n, int V, int limit) {
    if (n <= 0) return;
    int32_t *ids = (int32_t *)cu_scratch(CU_SCRATCH_IDS, sizeof(int32_t) * (size_t)n);
    if (!ids) return;
    cu_launch(k_argmax, n, 1024, 0, ids, x, V, limit);
    if (CU_LAUNCHED("argmax")) cu_to_host(out_host, ids, sizeof(int32_t) * (size_t)n);
}

static __global__ void k_to_f32(float *dst, const void *src, ttt_dtype dt, size_t count) {
    GRID_STRIDE(i, count) dst[i] = load_w(src, dt, i);
}

void cu_to_f32(float *dst, const ttt_mat *W) {
    size_t n = (size_t)W->rows * W->cols;
    if (!n) return;
    k_to_f32<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(dst, W->data, W->dtype, n);
    CU_LAUNCHED("to_f32");
}

static __global__ void k_f32_to_bf16(__nv_bfloat16 *dst, const float *src, size_t count) {
    GRID_STRIDE(i, count) dst[i] = __float2bfloat16_rn(src[i]);
}

void cu_f32_to_bf16(__nv_bfloat16 *dst, const float *src, size_t count) {
    if (!count) return;
    k_f32_to_bf16<<<cu_blocks(count, THREADS), THREADS, 0, g_cu.stream>>>(dst, src, count);
    CU_LAUNCHED("to_bf16");
}

static __global__ void k_fill_random(float *x, size_t count, unsigned seed) {
    GRID_STRIDE(i, count) {
        unsigned h = (unsigned)i * 2654435761u ^ seed * 0x9e3779b9u;
        h ^= h >> 15;
        h *= 0x2c1b3c6du;
        h ^= h >> 12;
        x[i] = (float)(h >> 8) / 8388608.0f - 1.0f;
    }
}

void cu_fill_random(float *x, size_t count, unsigned seed) {
    if (!count) return;
    k_fill_random<<<cu_blocks(count, THREADS), THREADS, 0, g_cu.stream>>>(x, count, seed);
    CU_LAUNCHED("fill");
}
