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
#define DMAX_HD 256

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

/* What block (row i, KV head kvh, slice sp) reads: that row's K and V of the head, and its
 * slice [beg, end) of the visible keys (the window, then nsplit equal parts). */
typedef struct dec_slice {
    const __nv_bfloat16 *K, *V;
    int beg, end;
} dec_slice;

static __device__ __forceinline__ dec_slice dec_slice_of(const dec_args &a, int i, int kvh,
                                                         int sp) {
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
    const int lo = a.window > 0 && p - a.window + 1 > 0 ? p - a.window + 1 : 0;
    const int range = p + 1 - lo, len = (range + a.nsplit - 1) / a.nsplit;
    const int beg = lo + sp * len;
    return dec_slice{K + (size_t)kvh * hs, V + (size_t)kvh * hs, beg,
                     beg + len < p + 1 ? beg + len : p + 1};
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

    const dec_slice sl = dec_slice_of(a, i, kvh, sp);
    const __nv_bfloat16 *const K = sl.K, *const V = sl.V;
    const int beg = sl.beg, end = sl.end;

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
                cu_cp16(kd + r * ROW + ch * 8, K + src);
                cu_cp16(vd + r * ROW + ch * 8, V + src);
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

/* ---- the same on the tensor cores ----
 * One block of 4 warps per (query row, KV head, slice), as above, but the G query heads of
 * the group are the rows of an m16n8k16 A tile (rows G..15 zero) and every warp takes its own
 * 16 keys of each 64-key tile: scores S = Q K^T (2 x HD/16 mma), its own online softmax
 * (log2 domain), O += P V (HD/8 mma, V through ldmatrix.trans). The warps meet once per tile
 * (the pipeline's barrier) and once at the end, where their (m, l, O) are combined. Q and P
 * are rounded to bf16 as in the prefill kernel (flash.cu); fragment layouts as there.
 * Work per (row, KV head, key): 4 * 16 * HD FLOPs on the tensor cores (16 / G of them
 * useful); bytes: 4 HD (K and V, bf16) - the kernel is there to run at the copy bandwidth. */
#define TC_KW 16            /* keys per warp per tile */
#define TC_TK (4 * TC_KW)   /* keys per tile */
#define TC_NST 3
#define LOG2E_F 1.4426950408889634f

template <int HD, int G>
static __global__ void __launch_bounds__(DT_THREADS) k_attn_decode_tc(dec_args a) {
    cu_pdl_enter();
    constexpr int ROW = HD + PAD, CH = HD / 8;
    extern __shared__ __align__(16) unsigned char dsm[];
    __nv_bfloat16 *const Ks = reinterpret_cast<__nv_bfloat16 *>(dsm);
    __nv_bfloat16 *const Vs = Ks + TC_NST * TC_TK * ROW;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, c = lane % 4;
    const int sp = blockIdx.x, kvh = blockIdx.y, i = blockIdx.z;

    const dec_slice sl = dec_slice_of(a, i, kvh, sp);
    const __nv_bfloat16 *const K = sl.K, *const V = sl.V;
    const int beg = sl.beg, end = sl.end;

    /* the group's queries (scaled into the log2 domain unless soft-capped) as A fragments:
     * row g of lane (g, c) holds dims 2c, 2c + 1 (+8); rows g + 8 are zero */
    const float qscale = a.softcap > 0 ? a.scale : a.scale * LOG2E_F;
    uint32_t qa[HD / 16][4];
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        float x[4] = {0, 0, 0, 0};
        if (g < G) {
            const float *qr = a.q + ((size_t)i * a.H + kvh * G + g) * HD + kk * 16 + 2 * c;
            x[0] = qr[0] * qscale, x[1] = qr[1] * qscale;
            x[2] = qr[8] * qscale, x[3] = qr[9] * qscale;
        }
        qa[kk][0] = cu_pack_bf16x2(x[0], x[1]);
        qa[kk][1] = 0;
        qa[kk][2] = cu_pack_bf16x2(x[2], x[3]);
        qa[kk][3] = 0;
    }
    float o[HD / 8][4];
#pragma unroll
    for (int nd = 0; nd < HD / 8; nd++) o[nd][0] = o[nd][1] = o[nd][2] = o[nd][3] = 0.0f;
    float m = -INFINITY, l = 0.0f; /* row g, log2 domain; l: this lane's columns */

    const int ntiles = (end - beg + TC_TK - 1) / TC_TK;
    /* a thread copies 16-byte piece `ch` of rows r0, r0 + RSTEP, ...: the index arithmetic
     * once, not per copy (the copies' issue was most of the kernel's instructions) */
    constexpr int RSTEP = DT_THREADS / CH;
    const int ch = tid % CH, r0 = tid / CH;
    auto issue = [&](int ti) {
        if (ti < ntiles) {
            const int t0 = beg + ti * TC_TK, cnt = end - t0 < TC_TK ? end - t0 : TC_TK;
            __nv_bfloat16 *kd = Ks + (ti % TC_NST) * TC_TK * ROW + r0 * ROW + ch * 8;
            __nv_bfloat16 *vd = Vs + (ti % TC_NST) * TC_TK * ROW + r0 * ROW + ch * 8;
            const __nv_bfloat16 *ks = K + (size_t)t0 * HD + ch * 8, *vs = V + (size_t)t0 * HD + ch * 8;
            if (cnt == TC_TK) {
#pragma unroll
                for (int r = r0; r < TC_TK; r += RSTEP) {
                    cu_cp16(kd, ks + (size_t)r * HD);
                    cu_cp16(vd, vs + (size_t)r * HD);
                    kd += RSTEP * ROW;
                    vd += RSTEP * ROW;
                }
            } else { /* the slice's last tile: rows past its end repeat the last key */
                for (int r = r0; r < TC_TK; r += RSTEP) {
                    const size_t src = (size_t)(r < cnt ? r : cnt - 1) * HD;
                    cu_cp16(kd, ks + src);
                    cu_cp16(vd, vs + src);
                    kd += RSTEP * ROW;
                    vd += RSTEP * ROW;
                }
            }
        }
        asm volatile("cp.async.commit_group;\n" ::);
    };
#pragma unroll
    for (int st = 0; st < TC_NST - 1; st++) issue(st);
    for (int ti = 0; ti < ntiles; ti++) {
        asm volatile("cp.async.wait_group %0;\n" ::"n"(TC_NST - 2));
        __syncthreads(); /* tile ti is in; every warp is done with tile ti - 1 */
        issue(ti + TC_NST - 1); /* into the stage tile ti - 1 used */
        const int k0 = beg + ti * TC_TK + warp * TC_KW; /* this warp's first key */
        const __nv_bfloat16 *Kt = Ks + (ti % TC_NST) * TC_TK * ROW + warp * TC_KW * ROW;
        const __nv_bfloat16 *Vt = Vs + (ti % TC_NST) * TC_TK * ROW + warp * TC_KW * ROW;
        if (k0 >= end) continue;
        float s[2][4];
#pragma unroll
        for (int nb = 0; nb < 2; nb++) {
            s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
            /* K's B fragments by ldmatrix, two dim blocks of 16 per load: lane i addresses
             * key i % 8 at dims +8 (i / 8) */
            const __nv_bfloat16 *kr = Kt + (nb * 8 + (lane & 7)) * ROW + (lane >> 3) * 8;
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk += 2) {
                uint32_t kb[4];
                cu_ldsm_x4(kb, kr + kk * 16);
                cu_mma16816(s[nb], qa[kk], kb[0], kb[1]);
                cu_mma16816(s[nb], qa[kk + 1], kb[2], kb[3]);
            }
        }
        /* row g's scores: keys nb * 8 + 2c (+1); soft-cap, mask past the slice's end */
        float mx = -INFINITY;
#pragma unroll
        for (int nb = 0; nb < 2; nb++)
#pragma unroll
            for (int j = 0; j < 2; j++) {
                float v = s[nb][j];
                if (a.softcap > 0) v = a.softcap * LOG2E_F * tanhf(v / a.softcap);
                v = k0 + nb * 8 + 2 * c + j < end ? v : -INFINITY;
                s[nb][j] = v;
                mx = fmaxf(mx, v);
            }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mn = fmaxf(m, mx); /* finite: k0 < end */
        const float corr = exp2f(m - mn);
        m = mn;
        l *= corr;
#pragma unroll
        for (int nd = 0; nd < HD / 8; nd++) o[nd][0] *= corr, o[nd][1] *= corr;
        float pr[2][2];
#pragma unroll
        for (int nb = 0; nb < 2; nb++)
#pragma unroll
            for (int j = 0; j < 2; j++) {
                pr[nb][j] = exp2f(s[nb][j] - mn);
                l += pr[nb][j];
            }
        const uint32_t pa[4] = {cu_pack_bf16x2(pr[0][0], pr[0][1]), 0,
                                cu_pack_bf16x2(pr[1][0], pr[1][1]), 0};
        cu_mma_pv16<HD>(o, pa, Vt, ROW, lane);
    }
    /* combine the warps: (m, l, O) of each through shared memory (the stages are free) */
    asm volatile("cp.async.wait_group 0;\n" ::);
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    __syncthreads();
    float *Os = reinterpret_cast<float *>(dsm);        /* [4][G][HD] */
    float *ML = Os + 4 * G * HD;                        /* [4][G][2] */
    if (g < G) {
#pragma unroll
        for (int nd = 0; nd < HD / 8; nd++) {
            Os[(warp * G + g) * HD + nd * 8 + 2 * c] = o[nd][0];
            Os[(warp * G + g) * HD + nd * 8 + 2 * c + 1] = o[nd][1];
        }
        if (c == 0) ML[(warp * G + g) * 2] = m, ML[(warp * G + g) * 2 + 1] = l;
    }
    __syncthreads();
    for (int x = tid; x < G * HD; x += DT_THREADS) {
        const int gg = x / HD, d = x % HD;
        float M = -INFINITY;
#pragma unroll
        for (int w = 0; w < 4; w++) M = fmaxf(M, ML[(w * G + gg) * 2]);
        float acc = 0.0f, L = 0.0f;
        if (M != -INFINITY)
#pragma unroll
            for (int w = 0; w < 4; w++) {
                const float f = exp2f(ML[(w * G + gg) * 2] - M);
                acc += f * Os[(w * G + gg) * HD + d];
                L += f * ML[(w * G + gg) * 2 + 1];
            }
        const long long ih = (long long)i * a.H + kvh * G + gg;
        if (a.part) {
            float *pp = a.part + ((size_t)ih * a.nsplit + sp) * (HD + 2);
            pp[d] = acc;
            if (d == 0) {
                pp[HD] = M == -INFINITY ? M : M / LOG2E_F; /* the merge's natural log */
                pp[HD + 1] = L;
            }
        } else {
            a.out[(size_t)ih * HD + d] = acc / L;
        }
    }
}

static constexpr size_t dec_tc_smem(int hd) {
    return (size_t)TC_NST * 2 * TC_TK * (hd + PAD) * sizeof(__nv_bfloat16);
}

static constexpr size_t dec_smem(int hd) {
    return (size_t)NST * 2 * TK * (hd + PAD) * sizeof(__nv_bfloat16);
}

/* Dynamic shared memory above 48 KB needs an opt-in per kernel, once (kernels remembered by
 * address; there are 24). */
static int dec_smem_ok(void (*k)(dec_args), size_t bytes) {
    static void (*done[32])(dec_args);
    static int n_done;
    for (int i = 0; i < n_done; i++)
        if (done[i] == k) return 1;
    if (!cu_ok(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
               "decode attention shared memory"))
        return 0;
    if (n_done < 32) done[n_done++] = k;
    return 1;
}

int cu_attn_decode_ok(int n_head_kv, int G, int hd) {
    return !getenv("TTT_CUDA_OLD_DECODE") && cu_kv_elem_size() == 2 && n_head_kv > 0 &&
           (hd == 64 || hd == 128 || hd == 256) && G >= 1 && G <= DMAX_G && !(G & (G - 1));
}

/* The kernel for (head_dim, G): on the tensor cores, or the CUDA-core one with
 * TTT_CUDA_DEC_SIMT=1 (read per call, as TTT_CUDA_OLD_DECODE, so that test_cuda can switch
 * within one process); NULL for other shapes. *smem: its dynamic shared memory. */
typedef void (*dec_kernel_fn)(dec_args);
static dec_kernel_fn dec_kernel(int hd, int G, size_t *smem) {
    const int tc = !getenv("TTT_CUDA_DEC_SIMT");
    *smem = tc ? dec_tc_smem(hd) : dec_smem(hd);
    switch (hd * 16 + G) {
#define DEC_CASE(h, g) \
    case h * 16 + g: return tc ? k_attn_decode_tc<h, g> : k_attn_decode<h, g>;
        DEC_CASE(64, 1) DEC_CASE(64, 2) DEC_CASE(64, 4) DEC_CASE(64, 8)
        DEC_CASE(128, 1) DEC_CASE(128, 2) DEC_CASE(128, 4) DEC_CASE(128, 8)
        DEC_CASE(256, 1) DEC_CASE(256, 2) DEC_CASE(256, 4) DEC_CASE(256, 8)
#undef DEC_CASE
    default: return NULL;
    }
}

/* Blocks of the chosen kernel one SM holds at once (its registers and shared memory), so that
 * the launch can fill the GPU in one wave; TTT_CUDA_DEC_BPS overrides it (measurements). */
int cu_attn_decode_blocks_per_sm(int G, int hd) {
    const char *e = getenv("TTT_CUDA_DEC_BPS");
    if (e && atoi(e) > 0) return atoi(e);
    if (getenv("TTT_CUDA_DEC_SIMT")) return 4; /* measured best for that kernel (PERF.md) */
    static int cache[3][DMAX_G + 1];
    const int h = hd == 64 ? 0 : hd == 128 ? 1 : 2;
    if (G < 1 || G > DMAX_G) return 4;
    if (cache[h][G]) return cache[h][G];
    size_t smem;
    const dec_kernel_fn k = dec_kernel(hd, G, &smem);
    int n = 0;
    if (!k) return 4;
    if (!dec_smem_ok(k, smem) ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, k, DT_THREADS, smem) != cudaSuccess ||
        n < 1)
        n = 2;
    return cache[h][G] = n;
}

int cu_attn_decode(float *out, float *part, const float *q, const void *kc, const void *vc,
                   const ttt_row_kv *rows, int p0, int n, int nsplit, const ttt_attn_params *p) {
    const int G = p->n_head / p->n_head_kv, hd = p->head_dim;
    if (!cu_attn_decode_ok(p->n_head_kv, G, hd)) return 0;
    dec_args a = {out, nsplit > 1 ? part : NULL, q, (const __nv_bfloat16 *)kc,
                  (const __nv_bfloat16 *)vc, rows, p0, p->n_head, G, p->window, nsplit,
                  p->head_stride, p->scale, p->softcap};
    const dim3 grid(nsplit, p->n_head_kv, n);
    size_t smem;
    const dec_kernel_fn k = dec_kernel(hd, G, &smem);
    if (!k || !dec_smem_ok(k, smem)) return 0;
    cu_launch(k, grid, DT_THREADS, smem, a);
    CU_LAUNCHED("attention (decode)");
    return 1;
}
