/* decode.cu - attention for decode steps on the bf16 cache, tiled through shared memory
 * (flash-decoding): one block of 4 warps per (query row, KV head, slice of keys) serves the G
 * query heads of the group. Per tile of 32 keys the block copies K and V with cp.async (the
 * next tile's copies are in flight while this one is used), warp g scores head g's keys from
 * shared memory and keeps its online softmax, and every thread adds P V for its outputs into
 * registers; the slices' partial results go to the merge kernel of attn.cu.
 * Work per (row, head, key): 4 hd FLOPs; bytes per (row, KV head, key): 4 hd (K and V, bf16).
 * It replaced a warp-per-slice kernel whose 255 registers left 8 warps per SM (docs/PERF.md). */
#include <math.h>
#include <stdlib.h>

#include "cuda/common.cuh"

#define DT_THREADS 128
#define TK 32          /* keys per tile */
#define NST 3          /* pipeline stages: tiles in shared memory at once */
#define PAD 8          /* bf16 elements of padding per shared row: 16 bytes, fewer conflicts */
#define DMAX_G 8
#define DMAX_HD 128

typedef struct dec_args {
    float *out;              /* [n, H, hd] (nsplit == 1) */
    float *part;             /* [n * H * nsplit][hd + 2] partial (acc, m, l) */
    const float *q;          /* [n, H, hd] */
    const __nv_bfloat16 *kc; /* one sequence's cache (rows == NULL) */
    const __nv_bfloat16 *vc;
    const ttt_row_kv *rows;  /* [n] batched decode, or NULL */
    int p0, H, G, window, nsplit;
    size_t hs;
    float scale, softcap;
} dec_args;

static __device__ __forceinline__ void cp16(void *smem, const void *gmem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}

/* N consecutive bf16 from shared memory in one load (N * 2 bytes, aligned to it) */
template <int N>
static __device__ __forceinline__ void load_bf16(const __nv_bfloat16 *p, float *f) {
    if constexpr (N == 8) {
        cu_unpack_bf16x8(*reinterpret_cast<const uint4 *>(p), f);
    } else if constexpr (N == 4) {
        const uint2 u = *reinterpret_cast<const uint2 *>(p);
        const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&u.x));
        const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&u.y));
        f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y;
    } else if constexpr (N == 2) {
        const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(p));
        f[0] = a.x, f[1] = a.y;
    } else {
        f[0] = __bfloat162float(*p);
    }
}

template <int HD, int G>
static __global__ void __launch_bounds__(DT_THREADS) k_attn_decode(dec_args a) {
    cu_pdl_enter();
    constexpr int ROW = HD + PAD;                /* shared row, bf16 elements */
    constexpr int CH = HD / 8;                   /* 16-byte chunks per row */
    constexpr int NW = DT_THREADS / 32;          /* warps */
    constexpr int GPW = G >= NW ? G / NW : 1;    /* heads a warp scores */
    constexpr int KPL = TK / 32;                 /* keys a lane scores per head */
    constexpr int NOUT = G * HD;                 /* outputs of the block */
    constexpr int OPT = NOUT >= DT_THREADS ? NOUT / DT_THREADS : 1;
    /* NST stages of K and V tiles (dynamic: NST * 2 * TK * ROW bf16) */
    extern __shared__ __align__(16) unsigned char dsm[];
    __nv_bfloat16 *const Ks = reinterpret_cast<__nv_bfloat16 *>(dsm);
    __nv_bfloat16 *const Vs = Ks + NST * TK * ROW;
    __shared__ __align__(16) float qs[G][HD];
    __shared__ __align__(16) float S[G][TK];
    __shared__ float mg[G], lg[G], cg[G];
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int sp = blockIdx.x, kvh = blockIdx.y, i = blockIdx.z;

    const __nv_bfloat16 *K = a.kc, *V = a.vc;
    size_t hs = a.hs;
    int p = a.p0 + i;
    if (a.rows) {
        const ttt_row_kv r = a.rows[i];
        K = (const __nv_bfloat16 *)r.kc;
        V = (const __nv_bfloat16 *)r.vc;
        hs = r.head_stride;
        p = r.pos;
    }
    K += (size_t)kvh * hs;
    V += (size_t)kvh * hs;
    const int lo = a.window > 0 && p - a.window + 1 > 0 ? p - a.window + 1 : 0;
    const int range = p + 1 - lo, len = (range + a.nsplit - 1) / a.nsplit;
    const int beg = lo + sp * len, end = beg + len < p + 1 ? beg + len : p + 1;

    for (int x = tid; x < G * HD; x += DT_THREADS) {
        const int g = x / HD, d = x % HD;
        qs[g][d] = a.q[((size_t)i * a.H + kvh * G + g) * HD + d] * a.scale;
    }
    /* warp w scores heads w, w + NW, ... (all of them when G >= NW); each lane keys lane,
     * lane + 32: the softmax statistics stay in the warp, and each 16-byte piece of q read
     * from shared memory serves KPL keys */
    float m_run[GPW], l_run[GPW];
#pragma unroll
    for (int j = 0; j < GPW; j++) m_run[j] = -INFINITY, l_run[j] = 0.0f;
    const bool act = tid * OPT < NOUT;
    const int og = act ? tid * OPT / HD : 0, od = act ? tid * OPT % HD : 0;
    float acc[OPT];
#pragma unroll
    for (int e = 0; e < OPT; e++) acc[e] = 0.0f;
    __syncthreads(); /* qs */

    /* copies tile ti into stage ti % NST; rows past the end repeat the last key (weight 0).
     * NST - 1 tiles are in flight while one is used: a block alone keeps 32 KB requested,
     * which the copy bandwidth needs (one tile in flight per block reached 41% of it). */
    const int ntiles = (end - beg + TK - 1) / TK;
    auto issue = [&](int ti) {
        if (ti < ntiles) {
            const int t0 = beg + ti * TK, cnt = end - t0 < TK ? end - t0 : TK;
            __nv_bfloat16 *kd = Ks + (ti % NST) * TK * ROW, *vd = Vs + (ti % NST) * TK * ROW;
            for (int c = tid; c < TK * CH; c += DT_THREADS) {
                const int r = c / CH, ch = c % CH;
                const size_t src = (size_t)(t0 + (r < cnt ? r : cnt - 1)) * HD + ch * 8;
                cp16(kd + r * ROW + ch * 8, K + src);
                cp16(vd + r * ROW + ch * 8, V + src);
            }
        }
        asm volatile("cp.async.commit_group;\n" ::); /* empty past the end: counts stay */
    };
#pragma unroll
    for (int st = 0; st < NST - 1; st++) issue(st);
    for (int ti = 0; ti < ntiles; ti++) {
        const int t0 = beg + ti * TK, cnt = end - t0 < TK ? end - t0 : TK;
        issue(ti + NST - 1);
        asm volatile("cp.async.wait_group %0;\n" ::"n"(NST - 1));
        __syncthreads();
        const __nv_bfloat16 *Kt = Ks + (ti % NST) * TK * ROW, *Vt = Vs + (ti % NST) * TK * ROW;

        if (warp < G) {
#pragma unroll
            for (int j = 0; j < GPW; j++) {
                const int g = warp + NW * j;
                const float4 *q4 = reinterpret_cast<const float4 *>(qs[g]);
                /* four partial sums per key: a single chain of hd dependent FMAs was the
                 * latency of the whole score step */
                float sc[KPL], pa[KPL][4];
#pragma unroll
                for (int kk = 0; kk < KPL; kk++)
#pragma unroll
                    for (int u = 0; u < 4; u++) pa[kk][u] = 0.0f;
#pragma unroll
                for (int ch = 0; ch < CH; ch++) {
                    const float4 qa = q4[2 * ch], qb = q4[2 * ch + 1];
#pragma unroll
                    for (int kk = 0; kk < KPL; kk++) {
                        float kf[8];
                        const __nv_bfloat16 *kp = Kt + (lane + 32 * kk) * ROW + ch * 8;
                        cu_unpack_bf16x8(*reinterpret_cast<const uint4 *>(kp), kf);
                        float *pp = pa[kk];
                        pp[0] += kf[0] * qa.x + kf[4] * qb.x;
                        pp[1] += kf[1] * qa.y + kf[5] * qb.y;
                        pp[2] += kf[2] * qa.z + kf[6] * qb.z;
                        pp[3] += kf[3] * qa.w + kf[7] * qb.w;
                    }
                }
#pragma unroll
                for (int kk = 0; kk < KPL; kk++)
                    sc[kk] = (pa[kk][0] + pa[kk][1]) + (pa[kk][2] + pa[kk][3]);
                float mx = -INFINITY;
#pragma unroll
                for (int kk = 0; kk < KPL; kk++) {
                    float x = sc[kk];
                    if (a.softcap > 0) x = a.softcap * tanhf(x / a.softcap);
                    sc[kk] = lane + 32 * kk < cnt ? x : -INFINITY;
                    mx = fmaxf(mx, sc[kk]);
                }
                for (int o = 16; o > 0; o >>= 1)
                    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
                const float mn = fmaxf(m_run[j], mx);
                float sum = 0.0f;
#pragma unroll
                for (int kk = 0; kk < KPL; kk++) {
                    const float pr = sc[kk] == -INFINITY ? 0.0f : expf(sc[kk] - mn);
                    S[g][lane + 32 * kk] = pr;
                    sum += pr;
                }
                for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
                const float corr = m_run[j] == -INFINITY ? 0.0f : expf(m_run[j] - mn);
                l_run[j] = l_run[j] * corr + sum;
                m_run[j] = mn;
                if (lane == 0) cg[g] = corr;
            }
        }
        __syncthreads();

        if (act) {
            const float corr = cg[og];
#pragma unroll
            for (int e = 0; e < OPT; e++) acc[e] *= corr;
            const float4 *p4 = reinterpret_cast<const float4 *>(S[og]);
#pragma unroll 4
            for (int r4 = 0; r4 < TK / 4; r4++) { /* weights past cnt are 0 */
                const float4 pw = p4[r4];
                const float pv[4] = {pw.x, pw.y, pw.z, pw.w};
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    float vf[OPT];
                    load_bf16<OPT>(Vt + (4 * r4 + u) * ROW + od, vf);
#pragma unroll
                    for (int e = 0; e < OPT; e++) acc[e] += pv[u] * vf[e];
                }
            }
        }
        __syncthreads(); /* a later copy reuses this stage; S too */
    }

    if (warp < G && lane == 0)
#pragma unroll
        for (int j = 0; j < GPW; j++) {
            mg[warp + NW * j] = m_run[j];
            lg[warp + NW * j] = l_run[j];
        }
    __syncthreads();
    if (!act) return;
    const int h = kvh * G + og;
    const long long ih = (long long)i * a.H + h;
    if (a.part) {
        float *pp = a.part + ((size_t)ih * a.nsplit + sp) * (HD + 2);
#pragma unroll
        for (int e = 0; e < OPT; e++) pp[od + e] = acc[e];
        if (od == 0) {
            pp[HD] = mg[og];
            pp[HD + 1] = lg[og];
        }
    } else {
        float *o = a.out + (size_t)ih * HD + od;
        const float inv = 1.0f / lg[og];
#pragma unroll
        for (int e = 0; e < OPT; e++) o[e] = acc[e] * inv;
    }
}

static constexpr size_t dec_smem(int hd) {
    return (size_t)NST * 2 * TK * (hd + PAD) * sizeof(__nv_bfloat16);
}

/* Dynamic shared memory above 48 KB needs an opt-in per kernel, once (kernels remembered by
 * address; there are 8). */
static int dec_smem_ok(void (*k)(dec_args), size_t bytes) {
    static void (*done[16])(dec_args);
    static int n_done;
    for (int i = 0; i < n_done; i++)
        if (done[i] == k) return 1;
    if (!cu_ok(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
               "decode attention shared memory"))
        return 0;
    if (n_done < 16) done[n_done++] = k;
    return 1;
}

int cu_attn_decode_ok(int n_head_kv, int G, int hd) {
    return !getenv("TTT_CUDA_OLD_DECODE") && cu_kv_elem_size() == 2 && n_head_kv > 0 &&
           (hd == 64 || hd == 128) && G >= 1 && G <= DMAX_G && !(G & (G - 1));
}

int cu_attn_decode(float *out, float *part, const float *q, const void *kc, const void *vc,
                   const ttt_row_kv *rows, int p0, int n, int nsplit, const ttt_attn_params *p) {
    const int G = p->n_head / p->n_head_kv, hd = p->head_dim;
    if (!cu_attn_decode_ok(p->n_head_kv, G, hd)) return 0;
    dec_args a = {out, nsplit > 1 ? part : NULL, q, (const __nv_bfloat16 *)kc,
                  (const __nv_bfloat16 *)vc, rows, p0, p->n_head, G, p->window, nsplit,
                  p->head_stride, p->scale, p->softcap};
    const dim3 grid(nsplit, p->n_head_kv, n);
    const int sel = hd * 16 + G;
    switch (sel) {
#define DEC_CASE(h, g)                                                      \
    case h * 16 + g:                                                        \
        if (!dec_smem_ok(k_attn_decode<h, g>, dec_smem(h))) return 0;      \
        cu_launch(k_attn_decode<h, g>, grid, DT_THREADS, dec_smem(h), a);  \
        break;
        DEC_CASE(64, 1) DEC_CASE(64, 2) DEC_CASE(64, 4) DEC_CASE(64, 8)
        DEC_CASE(128, 1) DEC_CASE(128, 2) DEC_CASE(128, 4) DEC_CASE(128, 8)
#undef DEC_CASE
    default: return 0;
    }
    CU_LAUNCHED("attention (decode)");
    return 1;
}
