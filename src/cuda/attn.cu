/* attn.cu - causal attention over the head-major KV cache with an online softmax (no T x T
 * matrix): one warp per (query, head, slice of keys). Each lane scores one key of a group of
 * 32, then the warp folds the group's values into its running output, each lane owning
 * head_dim / 32 output dims. When (queries x heads) are too few to fill the GPU (decode), the
 * keys are split into slices whose partial results a second kernel merges (flash-decoding).
 * Sliding windows and GQA (query head h reads KV head h / (H / Hkv)) are index arithmetic. */
#include <math.h>
#include <stdlib.h>

#include <type_traits>

#include "cuda/common.cuh"

#define WARPS 4
#define MAX_HD 256
#define PER_LANE (MAX_HD / 32)
#define FULL 0xffffffffu

typedef struct attn_args {
    float *out;        /* [n, H, hd] */
    float *part;       /* [n * H * nsplit][hd + 2] partial (acc, m, l); NULL: no split */
    const float *q;    /* [n, H, hd] */
    const void *kc;    /* [Hkv][cap][hd] float32 or bf16 */
    const void *vc;
    int p0, n, H, G, hd, window, nsplit, split_len;
    size_t hs;         /* head stride of the cache */
    float scale, softcap;
    const ttt_row_kv *rows; /* [n] batched decode: query i is one token of its own sequence,
                               with its own cache and position (kc, vc, hs, p0 unused) */
} attn_args;

/* Where query i reads: its cache, its position, its keys per slice. */
typedef struct row_view {
    const void *kc, *vc;
    size_t hs;
    int p, split_len;
} row_view;

static __device__ __forceinline__ row_view row_of(const attn_args &a, int i) {
    if (!a.rows) return row_view{a.kc, a.vc, a.hs, a.p0 + i, a.split_len};
    const ttt_row_kv r = a.rows[i];
    const int range = a.window > 0 && r.pos + 1 > a.window ? a.window : r.pos + 1;
    return row_view{r.kc, r.vc, r.head_stride, r.pos, (range + a.nsplit - 1) / a.nsplit};
}

static __device__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL, v, o));
    return v;
}

static __device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL, v, o);
    return v;
}

static __device__ __forceinline__ float ld(const float *p) { return *p; }
static __device__ __forceinline__ float ld(const __nv_bfloat16 *p) { return __bfloat162float(*p); }

template <typename T>
static __global__ void k_attn(attn_args a) {
    cu_pdl_enter();
    extern __shared__ float qs[]; /* [WARPS][hd] */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const long long w = (long long)blockIdx.x * WARPS + warp;
    if (w >= (long long)a.n * a.H * a.nsplit) return; /* whole warps leave; no block barrier */
    const int sp = (int)(w % a.nsplit);
    const long long ih = w / a.nsplit;
    const int h = (int)(ih % a.H), i = (int)(ih / a.H), hd = a.hd;
    const row_view rv = row_of(a, i);
    const int p = rv.p;
    const int lo = a.window > 0 && p - a.window + 1 > 0 ? p - a.window + 1 : 0;
    const int beg = lo + sp * rv.split_len;
    const int end = beg + rv.split_len < p + 1 ? beg + rv.split_len : p + 1;

    float *qw = qs + warp * hd;
    const float *qr = a.q + ((size_t)i * a.H + h) * hd;
    for (int d = lane; d < hd; d += 32) qw[d] = qr[d];
    __syncwarp();
    const T *K = (const T *)rv.kc + (size_t)(h / a.G) * rv.hs;
    const T *V = (const T *)rv.vc + (size_t)(h / a.G) * rv.hs;
    float m = -INFINITY, l = 0.0f, acc[PER_LANE];
#pragma unroll
    for (int r = 0; r < PER_LANE; r++) acc[r] = 0.0f;
    for (int t0 = beg; t0 < end; t0 += 32) {
        const int t = t0 + lane;
        float s = -INFINITY;
        if (t < end) {
            const T *kr = K + (size_t)t * hd;
            float dot = 0.0f;
            for (int d = 0; d < hd; d++) dot += qw[d] * ld(kr + d);
            s = dot * a.scale;
            if (a.softcap > 0) s = a.softcap * tanhf(s / a.softcap);
        }
        const float mnew = fmaxf(m, warp_max(s));
        const float pj = t < end ? expf(s - mnew) : 0.0f;
        const float corr = expf(m - mnew);
        l = l * corr + warp_sum(pj);
#pragma unroll
        for (int r = 0; r < PER_LANE; r++) acc[r] *= corr;
        const int cnt = end - t0 < 32 ? end - t0 : 32;
        for (int j = 0; j < cnt; j++) {
            const float pb = __shfl_sync(FULL, pj, j);
            const T *vr = V + (size_t)(t0 + j) * hd;
#pragma unroll
            for (int r = 0; r < PER_LANE; r++)
                if (lane + 32 * r < hd) acc[r] += pb * ld(vr + lane + 32 * r);
        }
        m = mnew;
    }
    if (a.part) {
        float *pp = a.part + (size_t)w * (hd + 2);
#pragma unroll
        for (int r = 0; r < PER_LANE; r++)
            if (lane + 32 * r < hd) pp[lane + 32 * r] = acc[r];
        if (lane == 0) {
            pp[hd] = m;
            pp[hd + 1] = l;
        }
        return;
    }
    float *o = a.out + ((size_t)i * a.H + h) * hd;
    const float inv = 1.0f / l;
#pragma unroll
    for (int r = 0; r < PER_LANE; r++)
        if (lane + 32 * r < hd) o[lane + 32 * r] = acc[r] * inv;
}

/* Decode on a bf16 cache: one warp per (query, KV head, slice of keys) serves all G query
 * heads of the group, so each K/V row is read once. Lane l owns dims [l*VEC, l*VEC + VEC):
 * rows load as coalesced 32 x VEC accesses. Keys go in blocks of 32: every lane forms its
 * partial dot products with the 32 keys, a butterfly reduce-scatter (31 shuffles) leaves
 * lane j the full score of key j, and the softmax update is one step per block. */
#define MAXG 8

template <int VEC>
struct kv_vec {
    typedef typename std::conditional<
        VEC == 1, unsigned short,
        typename std::conditional<VEC == 2, unsigned,
                                  typename std::conditional<VEC == 4, uint2, uint4>::type>::type>::
        type type;
};

template <int VEC>
static __device__ __forceinline__ void unpack_row(const typename kv_vec<VEC>::type &u, float *f) {
    if constexpr (VEC == 1) {
        f[0] = __bfloat162float(*reinterpret_cast<const __nv_bfloat16 *>(&u));
    } else {
        const __nv_bfloat162 *b = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
        for (int k = 0; k < VEC / 2; k++) {
            const float2 x = __bfloat1622float2(b[k]);
            f[2 * k] = x.x;
            f[2 * k + 1] = x.y;
        }
    }
}

/* One halving step of the reduce-scatter: lanes with bit S set keep the upper S values. The
 * selects are arithmetic: a `?:` between v[i] and v[i + S] becomes a run-time index and sends
 * v to local memory (partial dot products are finite). */
template <int S>
static __device__ __forceinline__ void rs_step(float *v, int lane) {
    const float up = (lane & S) ? 1.0f : 0.0f, dn = 1.0f - up;
#pragma unroll
    for (int i = 0; i < S; i++) {
        const float lo = v[i], hi = v[i + S];
        v[i] = hi * up + lo * dn + __shfl_xor_sync(FULL, lo * up + hi * dn, S);
    }
}

/* v[j] summed over the warp ends up in lane j (v is clobbered); 31 shuffles. */
static __device__ __forceinline__ float reduce_scatter32(float *v, int lane) {
    rs_step<16>(v, lane);
    rs_step<8>(v, lane);
    rs_step<4>(v, lane);
    rs_step<2>(v, lane);
    rs_step<1>(v, lane);
    return v[0];
}

template <int VEC, int GG>
static __global__ void __launch_bounds__(WARPS * 32) k_attn_gqa(attn_args a) {
    cu_pdl_enter();
    typedef typename kv_vec<VEC>::type vec_t;
    /* the values of a block requested with its keys, unless registers would spill */
    constexpr int VB = VEC * GG >= 16 ? 0 : 32;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int Hkv = a.H / a.G;
    const long long w = (long long)blockIdx.x * WARPS + warp;
    if (w >= (long long)a.n * Hkv * a.nsplit) return;
    const int sp = (int)(w % a.nsplit);
    const long long ig = w / a.nsplit;
    const int kvh = (int)(ig % Hkv), i = (int)(ig / Hkv), hd = a.hd;
    const row_view rv = row_of(a, i);
    const int p = rv.p;
    const int lo = a.window > 0 && p - a.window + 1 > 0 ? p - a.window + 1 : 0;
    const int beg = lo + sp * rv.split_len;
    const int end = beg + rv.split_len < p + 1 ? beg + rv.split_len : p + 1;
    const __nv_bfloat16 *K = (const __nv_bfloat16 *)rv.kc + (size_t)kvh * rv.hs + lane * VEC;
    const __nv_bfloat16 *V = (const __nv_bfloat16 *)rv.vc + (size_t)kvh * rv.hs + lane * VEC;
    float q[GG][VEC], acc[GG][VEC], m[GG], l[GG];
#pragma unroll
    for (int j = 0; j < GG; j++) {
        m[j] = -INFINITY;
        l[j] = 0.0f;
#pragma unroll
        for (int v = 0; v < VEC; v++) {
            const int h = kvh * a.G + j;
            q[j][v] = a.q[((size_t)i * a.H + h) * hd + lane * VEC + v] * a.scale;
            acc[j][v] = 0.0f;
        }
    }
    for (int t0 = beg; t0 < end; t0 += 32) {
        /* the block's 32 keys and 32 values are all requested before any is used: one memory
         * latency per block (values loaded after the scores cost a second one) */
        vec_t kr[32], vr[VB == 32 ? 32 : 1];
#pragma unroll
        for (int j = 0; j < 32; j++) {
            const int t = t0 + j < end ? t0 + j : end - 1; /* stays in bounds; masked below */
            kr[j] = *reinterpret_cast<const vec_t *>(K + (size_t)t * hd);
        }
        if constexpr (VB == 32) {
#pragma unroll
            for (int j = 0; j < 32; j++) {
                const int t = t0 + j < end ? t0 + j : end - 1; /* weight 0 past the end */
                vr[j] = *reinterpret_cast<const vec_t *>(V + (size_t)t * hd);
            }
        }
        const bool valid = t0 + lane < end;
        float pj[GG];
#pragma unroll
        for (int g = 0; g < GG; g++) {
            float v[32];
#pragma unroll
            for (int j = 0; j < 32; j++) {
                float kf[VEC];
                unpack_row<VEC>(kr[j], kf);
                float d = 0.0f;
#pragma unroll
                for (int e = 0; e < VEC; e++) d += q[g][e] * kf[e];
                v[j] = d;
            }
            float sc = reduce_scatter32(v, lane);
            if (a.softcap > 0) sc = a.softcap * tanhf(sc / a.softcap);
            sc = valid ? sc : -INFINITY;
            const float mn = fmaxf(m[g], warp_max(sc));
            const float corr = expf(m[g] - mn), pr = valid ? expf(sc - mn) : 0.0f;
            l[g] = l[g] * corr + warp_sum(pr);
            m[g] = mn;
#pragma unroll
            for (int e = 0; e < VEC; e++) acc[g][e] *= corr;
            pj[g] = pr;
        }
        if constexpr (VB == 32) {
#pragma unroll
            for (int j = 0; j < 32; j++) {
                float vf[VEC];
                unpack_row<VEC>(vr[j], vf);
#pragma unroll
                for (int g = 0; g < GG; g++) {
                    const float pb = __shfl_sync(FULL, pj[g], j);
#pragma unroll
                    for (int e = 0; e < VEC; e++) acc[g][e] += pb * vf[e];
                }
            }
        } else { /* registers are short: values as they are needed */
            const int cnt = end - t0 < 32 ? end - t0 : 32;
#pragma unroll 8
            for (int j = 0; j < cnt; j++) {
                float vf[VEC];
                unpack_row<VEC>(*reinterpret_cast<const vec_t *>(V + (size_t)(t0 + j) * hd), vf);
#pragma unroll
                for (int g = 0; g < GG; g++) {
                    const float pb = __shfl_sync(FULL, pj[g], j);
#pragma unroll
                    for (int e = 0; e < VEC; e++) acc[g][e] += pb * vf[e];
                }
            }
        }
    }
#pragma unroll
    for (int j = 0; j < GG; j++) {
        const long long ih = (long long)i * a.H + kvh * a.G + j;
        if (a.part) {
            float *pp = a.part + ((size_t)ih * a.nsplit + sp) * (hd + 2);
#pragma unroll
            for (int v = 0; v < VEC; v++) pp[lane * VEC + v] = acc[j][v];
            if (lane == 0) {
                pp[hd] = m[j];
                pp[hd + 1] = l[j];
            }
        } else {
            float *o = a.out + (size_t)ih * hd + lane * VEC;
#pragma unroll
            for (int v = 0; v < VEC; v++) o[v] = acc[j][v] / l[j];
        }
    }
}

/* One block of MWARPS warps per (query, head) merges the slices' partial softmax results:
 * the threads take slices for the weights exp(m_s - M) (kept in shared memory), then warp w
 * sums slices w, w + MWARPS, ... for every dim (a lane owns dims lane + 32 r), four slices'
 * loads in flight at a time, and the warps' sums are added. At 32K a head has 256 slices:
 * 4 warps reading them took longer than the attention itself (a third of a decode step). */
#define MAX_SPLIT 256
#define MWARPS 16

static __device__ float block_reduce(float v, float *red, bool max) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    v = max ? warp_max(v) : warp_sum(v);
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = red[0];
    for (int w = 1; w < MWARPS; w++) v = max ? fmaxf(v, red[w]) : v + red[w];
    __syncthreads();
    return v;
}

static __global__ void __launch_bounds__(MWARPS * 32) k_attn_merge(attn_args a) {
    cu_pdl_enter();
    __shared__ float wsh[MAX_SPLIT];
    __shared__ float part_sum[MWARPS][MAX_HD];
    __shared__ float red[MWARPS];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const long long ih = blockIdx.x;
    const int hd = a.hd, ns = a.nsplit, stride = hd + 2;
    const float *pp = a.part + (size_t)ih * ns * stride;
    float M = -INFINITY;
    for (int s = threadIdx.x; s < ns; s += blockDim.x) M = fmaxf(M, pp[(size_t)s * stride + hd]);
    M = block_reduce(M, red, true);
    float L = 0.0f;
    for (int s = threadIdx.x; s < ns; s += blockDim.x) {
        const float *ps = pp + (size_t)s * stride;
        const float w = ps[hd + 1] > 0 ? expf(ps[hd] - M) : 0.0f;
        wsh[s] = w;
        L += ps[hd + 1] * w;
    }
    L = block_reduce(L, red, false); /* its barriers also publish wsh */
    float acc[PER_LANE];
#pragma unroll
    for (int r = 0; r < PER_LANE; r++) acc[r] = 0.0f;
    int s = warp;
    for (; s + 3 * MWARPS < ns; s += 4 * MWARPS) {
        float v[4][PER_LANE];
#pragma unroll
        for (int u = 0; u < 4; u++)
#pragma unroll
            for (int r = 0; r < PER_LANE; r++)
                v[u][r] = lane + 32 * r < hd ? pp[(size_t)(s + u * MWARPS) * stride + lane + 32 * r]
                                             : 0.0f;
#pragma unroll
        for (int u = 0; u < 4; u++)
#pragma unroll
            for (int r = 0; r < PER_LANE; r++) acc[r] += wsh[s + u * MWARPS] * v[u][r];
    }
    for (; s < ns; s += MWARPS)
#pragma unroll
        for (int r = 0; r < PER_LANE; r++)
            if (lane + 32 * r < hd) acc[r] += wsh[s] * pp[(size_t)s * stride + lane + 32 * r];
#pragma unroll
    for (int r = 0; r < PER_LANE; r++)
        if (lane + 32 * r < hd) part_sum[warp][lane + 32 * r] = acc[r];
    __syncthreads();
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float t = 0.0f;
        for (int w = 0; w < MWARPS; w++) t += part_sum[w][d];
        a.out[(size_t)ih * hd + d] = t / L;
    }
}

/* Launches the decode-style kernels (and the merge) for a.n queries whose longest visible
 * key range is `range`. */
static void launch(attn_args a, long long range) {
    /* bf16 cache, head_dim 64, 128 or 256: the tiled kernel of decode.cu, one block per (query,
     * KV head, slice); slices for one wave of as many blocks as an SM holds (docs/PERF.md),
     * at least 256 keys each */
    if (cu_attn_decode_ok(a.H / a.G, a.G, a.hd)) {
        const long long blocks1 = (long long)a.n * (a.H / a.G),
                        want = (long long)cu_attn_decode_blocks_per_sm(a.G, a.hd) * g_cu.n_sm;
        /* at least 256 keys (4 tiles) per slice: at short contexts a one-tile slice is all
         * start-up, and the merge has 4x the slices (1K decode +3%, docs/PERF.md change 45;
         * TTT_CUDA_DEC_MIN_KEYS, read once, sets it for A/B measurements) */
        static long long min_keys = -1;
        if (min_keys < 0) {
            const char *e = getenv("TTT_CUDA_DEC_MIN_KEYS");
            min_keys = e && atoll(e) >= 16 ? atoll(e) : 256;
        }
        long long ns = (want + blocks1 - 1) / blocks1,
                  most = (range + min_keys - 1) / min_keys;
        if (most > MAX_SPLIT) most = MAX_SPLIT;
        if (ns > most) ns = most;
        if (ns < 1) ns = 1;
        a.nsplit = (int)ns;
        if (a.nsplit > 1) {
            a.part = (float *)cu_scratch(CU_SCRATCH_ATTN, sizeof(float) * (size_t)a.n * a.H *
                                                              a.nsplit * (a.hd + 2));
            if (!a.part) return;
        }
        const ttt_attn_params p = {a.H, a.H / a.G, a.hd, a.hs, a.window, a.scale, a.softcap};
        if (!cu_attn_decode(a.out, a.part, a.q, a.kc, a.vc, a.rows, a.p0, a.n, a.nsplit, &p))
            return;
        if (a.nsplit > 1) {
            cu_launch(k_attn_merge, (unsigned)((long long)a.n * a.H), MWARPS * 32, 0, a);
            CU_LAUNCHED("attention merge");
        }
        return;
    }
    const int G = a.G, gqa = cu_kv_elem_size() == 2 && a.hd % 32 == 0 && a.hd <= 128 &&
                         (G == 1 || G == 2 || G == 4 || G == 8);
    /* warps: one per (query, KV group) for the GQA kernel, per (query, head) otherwise */
    const long long items = (long long)a.n * a.H, warps1 = gqa ? items / G : items;
    const long long want = 16LL * WARPS * g_cu.n_sm, min_keys = gqa ? 32 : 128;
    if (warps1 < want) {
        long long ns = (want + warps1 - 1) / warps1, most = (range + min_keys - 1) / min_keys;
        if (most > MAX_SPLIT) most = MAX_SPLIT;
        a.nsplit = (int)(ns < most ? ns : most);
        if (a.nsplit < 1) a.nsplit = 1;
    }
    a.split_len = (int)((range + a.nsplit - 1) / a.nsplit);
    if (a.nsplit > 1) {
        a.part = (float *)cu_scratch(CU_SCRATCH_ATTN,
                                     sizeof(float) * (size_t)items * a.nsplit * (a.hd + 2));
        if (!a.part) return;
    }
    const size_t smem = sizeof(float) * WARPS * a.hd;
    if (gqa) {
        const long long warps = warps1 * a.nsplit;
        const unsigned blocks = (unsigned)((warps + WARPS - 1) / WARPS);
        const int sel = (a.hd / 32) * 16 + G;
        switch (sel) {
#define GQA_CASE(vec, gg)                                                              \
    case vec * 16 + gg:                                                                \
        cu_launch(k_attn_gqa<vec, gg>, blocks, WARPS * 32, 0, a);                     \
        break;
            GQA_CASE(1, 1) GQA_CASE(1, 2) GQA_CASE(1, 4) GQA_CASE(1, 8)
            GQA_CASE(2, 1) GQA_CASE(2, 2) GQA_CASE(2, 4) GQA_CASE(2, 8)
            GQA_CASE(4, 1) GQA_CASE(4, 2) GQA_CASE(4, 4) GQA_CASE(4, 8)
#undef GQA_CASE
        }
    } else {
        const unsigned blocks = (unsigned)((items * a.nsplit + WARPS - 1) / WARPS);
        if (cu_kv_elem_size() == 2)
            cu_launch(k_attn<__nv_bfloat16>, blocks, WARPS * 32, smem, a);
        else
            cu_launch(k_attn<float>, blocks, WARPS * 32, smem, a);
    }
    if (!CU_LAUNCHED("attention")) return;
    if (a.nsplit > 1) {
        cu_launch(k_attn_merge, (unsigned)items, MWARPS * 32, 0, a);
        CU_LAUNCHED("attention merge");
    }
}

static int supported(const ttt_attn_params *p) {
    if (p->head_dim > MAX_HD || p->n_head_kv <= 0 || p->n_head % p->n_head_kv) {
        cu_fail(TTT_ERR_UNSUPPORTED, "attention with head_dim above 256", cudaSuccess);
        return 0;
    }
    return 1;
}

void cu_attention(float *out, const float *q, const float *kc, const float *vc, int p0, int n,
                  const ttt_attn_params *p) {
    if (n <= 0 || !supported(p)) return;
    /* prefill-sized calls on a bf16 cache: tensor cores, wgmma where the build and the GPU
     * have it (TTT_CUDA_NO_WGMMA=1: mma.sync; TTT_CUDA_NO_FLASH=1: the CUDA-core kernel,
     * float32 arithmetic, for tests; both read per call) */
    const char *nf = getenv("TTT_CUDA_NO_FLASH");
    if (n >= 16 && !(nf && *nf && *nf != '0') &&
        (cu_flash_wg(out, q, kc, vc, p0, n, p) || cu_flash_attention(out, q, kc, vc, p0, n, p)))
        return;
    attn_args a = {out, NULL, q, kc, vc, p0, n, p->n_head, p->n_head / p->n_head_kv,
                   p->head_dim, p->window, 1, 0, p->head_stride, p->scale, p->softcap, NULL};
    /* the longest visible range of keys; split it when too few warps would run */
    long long range = (long long)p0 + n;
    if (p->window > 0 && range > p->window) range = p->window;
    launch(a, range);
}

void cu_attention_rows(float *out, const float *q, const ttt_row_kv *rows, int n, int max_pos,
                       const ttt_attn_params *p) {
    if (n <= 0 || !supported(p)) return;
    attn_args a = {out, NULL, q, NULL, NULL, 0, n, p->n_head, p->n_head / p->n_head_kv,
                   p->head_dim, p->window, 1, 0, 0, p->scale, p->softcap, rows};
    long long range = (long long)max_pos + 1;
    if (p->window > 0 && range > p->window) range = p->window;
    launch(a, range);
}
