/* decode.cu - attention for decode steps on the bf16 cache, tiled through shared memory
 * (flash-decoding): one block of 4 warps per (query row, KV head, slice of keys) serves the G
 * query heads of the group. Per tile of 64 keys the block copies K and V (cp.async, 16 bytes
 * per thread and copy, 16 copies in flight per thread), scores every (head, key) pair from
 * shared memory, updates the online softmax per head, and adds P V into registers; the
 * slices' partial results go to the merge kernel of attn.cu.
 * Work per (row, head, key): 4 hd FLOPs; bytes per (row, KV head, key): 4 hd (K and V, bf16).
 * It replaced a warp-per-slice kernel whose 255 registers left 8 warps per SM and kept 30%
 * of the copy bandwidth at 32K (docs/PERF.md). */
#include <math.h>
#include <stdlib.h>

#include "cuda/common.cuh"

#define DT_THREADS 128
#define TK 64          /* keys per tile */
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

static __device__ __forceinline__ void unpack8(const uint4 &u, float *f) {
    const __nv_bfloat162 *b = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
    for (int k = 0; k < 4; k++) {
        const float2 x = __bfloat1622float2(b[k]);
        f[2 * k] = x.x;
        f[2 * k + 1] = x.y;
    }
}

/* N consecutive bf16 from shared memory in one load (N * 2 bytes, aligned to it) */
template <int N>
static __device__ __forceinline__ void load_bf16(const __nv_bfloat16 *p, float *f) {
    if constexpr (N == 8) {
        unpack8(*reinterpret_cast<const uint4 *>(p), f);
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
    constexpr int ROW = HD + PAD;                /* shared row, bf16 elements */
    constexpr int CH = HD / 8;                   /* 16-byte chunks per row */
    constexpr int NOUT = G * HD;                 /* outputs of the block */
    constexpr int OPT = NOUT >= DT_THREADS ? NOUT / DT_THREADS : 1;
    __shared__ __align__(16) __nv_bfloat16 Ks[TK * ROW];
    __shared__ __align__(16) __nv_bfloat16 Vs[TK * ROW];
    __shared__ __align__(16) float qs[G][HD];
    __shared__ float S[G][TK];
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
    if (tid < G) {
        mg[tid] = -INFINITY;
        lg[tid] = 0.0f;
    }
    const bool act = tid * OPT < NOUT;
    const int og = act ? tid * OPT / HD : 0, od = act ? tid * OPT % HD : 0;
    float acc[OPT];
#pragma unroll
    for (int e = 0; e < OPT; e++) acc[e] = 0.0f;
    __syncthreads(); /* qs, mg, lg; a slice may hold no keys (the split rounds up) */

    for (int t0 = beg; t0 < end; t0 += TK) {
        const int cnt = end - t0 < TK ? end - t0 : TK;
        /* copy the tile; rows past the end repeat the last key (weight 0 below) */
        for (int c = tid; c < TK * CH; c += DT_THREADS) {
            const int r = c / CH, ch = c % CH;
            const size_t src = (size_t)(t0 + (r < cnt ? r : cnt - 1)) * HD + ch * 8;
            cp16(Ks + r * ROW + ch * 8, K + src);
            cp16(Vs + r * ROW + ch * 8, V + src);
        }
        asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::);
        __syncthreads();

        for (int x = tid; x < G * TK; x += DT_THREADS) {
            const int g = x / TK, r = x % TK;
            float s = -INFINITY;
            if (r < cnt) {
                const uint4 *kr = reinterpret_cast<const uint4 *>(Ks + r * ROW);
                const float4 *q4 = reinterpret_cast<const float4 *>(qs[g]);
                float dot = 0.0f;
#pragma unroll
                for (int ch = 0; ch < CH; ch++) { /* 16-byte shared loads: the loop is LDS-bound */
                    float kf[8];
                    unpack8(kr[ch], kf);
                    const float4 qa = q4[2 * ch], qb = q4[2 * ch + 1];
                    dot += kf[0] * qa.x + kf[1] * qa.y + kf[2] * qa.z + kf[3] * qa.w +
                           kf[4] * qb.x + kf[5] * qb.y + kf[6] * qb.z + kf[7] * qb.w;
                }
                s = a.softcap > 0 ? a.softcap * tanhf(dot / a.softcap) : dot;
            }
            S[g][r] = s;
        }
        __syncthreads();

        /* online softmax per head: warp w takes heads w, w + 4, ... */
        for (int g = warp; g < G; g += DT_THREADS / 32) {
            const float s0 = S[g][lane], s1 = S[g][lane + 32];
            float mx = fmaxf(s0, s1);
            for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
            const float mo = mg[g], mn = fmaxf(mo, mx);
            const float p0 = s0 == -INFINITY ? 0.0f : expf(s0 - mn);
            const float p1 = s1 == -INFINITY ? 0.0f : expf(s1 - mn);
            S[g][lane] = p0;
            S[g][lane + 32] = p1;
            float sum = p0 + p1;
            for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
            if (lane == 0) {
                const float corr = mo == -INFINITY ? 0.0f : expf(mo - mn);
                cg[g] = corr;
                lg[g] = lg[g] * corr + sum;
                mg[g] = mn;
            }
        }
        __syncthreads();

        if (act) {
            const float corr = cg[og];
#pragma unroll
            for (int e = 0; e < OPT; e++) acc[e] *= corr;
#pragma unroll 4
            for (int r = 0; r < cnt; r++) {
                const float pr = S[og][r];
                float vf[OPT];
                load_bf16<OPT>(Vs + r * ROW + od, vf);
#pragma unroll
                for (int e = 0; e < OPT; e++) acc[e] += pr * vf[e];
            }
        }
        __syncthreads(); /* the next tile overwrites Ks, Vs and S */
    }

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
        k_attn_decode<h, g><<<grid, DT_THREADS, 0, g_cu.stream>>>(a);       \
        break;
        DEC_CASE(64, 1) DEC_CASE(64, 2) DEC_CASE(64, 4) DEC_CASE(64, 8)
        DEC_CASE(128, 1) DEC_CASE(128, 2) DEC_CASE(128, 4) DEC_CASE(128, 8)
#undef DEC_CASE
    default: return 0;
    }
    CU_LAUNCHED("attention (decode)");
    return 1;
}
