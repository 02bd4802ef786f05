/* flash.cu - prefill attention on the tensor cores (flash-attention 2 style) for a bf16 KV
 * cache: a block of 4 warps takes 128 query rows of one head; each warp keeps 32 rows (two
 * m16 tiles) of scores and output in registers (mma.sync m16n8k16, bf16 in, fp32 accumulate)
 * and walks the visible keys in tiles of 64 with an online softmax. No score matrix ever
 * reaches memory. Consecutive blocks are the heads of one query tile, so the heads of a GQA
 * group read the same K/V tiles while they sit in L2.
 * Why two row tiles per warp: with one (16 rows), a warp read 32 KB of shared memory per
 * 64-key tile for 128 mma, and shared-memory bandwidth (128 B per clock per SM) bounded the
 * kernel. Here each K and V fragment feeds both tiles: K 16 KB + V 16 KB + Q 8 KB (Q is
 * re-read from shared memory; the registers hold the 2 x 16 x HD output instead) per 256 mma.
 * K and V tiles come in by cp.async, double-buffered, so a tile's copy overlaps the math of
 * the one before. hd 256 (Gemma 3) keeps one row tile per warp (64 rows per block): two
 * tiles' outputs would not fit the registers; 244 registers, 165 KB of shared memory, one
 * block per SM.
 * hd 128: 102 KB of shared memory per block, 2 blocks (8 warps) per SM;
 * 255 registers (a 76-byte spill). Measured against the one-tile kernel (identical results, same arithmetic in
 * the same order): pp32768 15.3K -> 17.7K t/s on an H200; 32-key tiles were slower (16.9K).
 * Per (query, key) pair 4 hd FLOPs (QK and PV); bytes: K and V once per query tile of 128.
 * Fragment layouts (PTX ISA, mma.m16n8k16): g = lane / 4, c = lane % 4;
 *   A (16x16, row): a0 (g, 2c..2c+1) a1 (g+8, 2c..) a2 (g, 2c+8..) a3 (g+8, 2c+8..)
 *   B (16x8, col):  b0 (k 2c..2c+1, n g) b1 (k 2c+8.., n g)
 *   C (16x8):       c0,c1 (g, 2c..2c+1) c2,c3 (g+8, 2c..2c+1) */
#include <math.h>

#include "cuda/common.cuh"

#define WARPS 4
#define BK 64                  /* keys per tile */
#define NST 2                  /* K/V tiles in flight */
#define LOG2E 1.4426950408889634f

typedef cu_flash_args flash_args;

/* m16 row tiles per warp: two, but one at hd 256 (Gemma 3), where two tiles' output alone
 * would be 256 registers per thread */
static __host__ __device__ constexpr int fl_mt(int hd) { return hd > 128 ? 1 : 2; }
/* query rows per block */
static __host__ __device__ constexpr int fl_bq(int hd) { return 16 * fl_mt(hd) * WARPS; }

static constexpr size_t smem_bytes(int hd) {
    return (size_t)(fl_bq(hd) + 2 * NST * BK) * (hd + 8) * 2;
}

template <int HD, bool SOFTCAP>
static __global__ void __launch_bounds__(32 * WARPS) k_flash(flash_args a) {
    constexpr int KS = HD + 8, MT = fl_mt(HD), BQ = fl_bq(HD);
    extern __shared__ __align__(16) unsigned char fl_smem[];
    __nv_bfloat16 *Qs = reinterpret_cast<__nv_bfloat16 *>(fl_smem); /* [BQ][KS] */
    __nv_bfloat16 *Ks = Qs + BQ * KS;                             /* [NST][BK][KS] */
    __nv_bfloat16 *Vs = Ks + NST * BK * KS;                       /* [NST][BK][KS] */
    const int h = blockIdx.x, tile = gridDim.y - 1 - blockIdx.y; /* long tiles first */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    const int q0 = tile * BQ, wr = warp * 16 * MT, r0 = q0 + wr; /* block's, warp's row */
    const __nv_bfloat16 *K = a.kc + (size_t)(h / a.G) * a.hs;
    const __nv_bfloat16 *V = a.vc + (size_t)(h / a.G) * a.hs;

    const int qlo = a.p0 + q0, qhi = min(a.p0 + a.n, qlo + BQ) - 1;
    int kbeg = a.window > 0 ? max(0, qlo - a.window + 1) : 0;
    kbeg -= kbeg % BK;
    const int kend = qhi + 1;
    constexpr int CH = BK * HD / 8; /* 16-byte pieces of a tile */
    auto load = [&](int st, int k0) {
        for (int e = threadIdx.x; e < CH; e += 32 * WARPS) {
            const int key = e / (HD / 8), d = (e % (HD / 8)) * 8;
            const bool ok = k0 + key < kend; /* zeros past the end: P V must not see garbage */
            const size_t src = (size_t)(ok ? k0 + key : kbeg) * HD + d;
            cu_cp16_zfill(Ks + (st * BK + key) * KS + d, K + src, ok);
            cu_cp16_zfill(Vs + (st * BK + key) * KS + d, V + src, ok);
        }
        asm volatile("cp.async.commit_group;\n" ::);
    };
    if (kbeg < kend) load(0, kbeg);
    /* the block's queries, in bf16 */
    for (int e = threadIdx.x; e < BQ * HD / 4; e += 32 * WARPS) {
        const int row = e / (HD / 4), d = (e % (HD / 4)) * 4;
        float4 x = make_float4(0, 0, 0, 0);
        if (q0 + row < a.n)
            x = *reinterpret_cast<const float4 *>(a.q + ((size_t)(q0 + row) * a.H + h) * HD + d);
        uint2 packed = make_uint2(cu_pack_bf16x2(x.x, x.y), cu_pack_bf16x2(x.z, x.w));
        *reinterpret_cast<uint2 *>(Qs + row * KS + d) = packed;
    }

    float o[MT][HD / 8][4];
#pragma unroll
    for (int t = 0; t < MT; t++)
#pragma unroll
        for (int i = 0; i < HD / 8; i++) o[t][i][0] = o[t][i][1] = o[t][i][2] = o[t][i][3] = 0.0f;
    float m[MT][2], l[MT][2]; /* m: log2 domain */
#pragma unroll
    for (int t = 0; t < MT; t++) m[t][0] = m[t][1] = -INFINITY, l[t][0] = l[t][1] = 0.0f;
    const float scale2 = a.scale * LOG2E;
    /* ldmatrix lane addresses: A tiles (rows +8 for odd matrices, dims +8 for the upper two);
     * K as B (dims +8 for odd matrices, keys +8 for the upper two) */
    const int a_row = (lane & 7) + ((lane >> 3) & 1) * 8, a_col = (lane >> 4) * 8;
    const int b_key = (lane & 7) + (lane >> 4) * 8, b_col = ((lane >> 3) & 1) * 8;

    int st = 0;
    for (int k0 = kbeg; k0 < kend; k0 += BK, st ^= 1) {
        if (k0 + BK < kend) load(st ^ 1, k0 + BK);
        else asm volatile("cp.async.commit_group;\n" ::); /* keeps the group count */
        asm volatile("cp.async.wait_group 1;\n" ::);
        __syncthreads(); /* this tile (and the queries) visible to every warp */
        const __nv_bfloat16 *Kt = Ks + st * BK * KS, *Vt = Vs + st * BK * KS;
        const bool idle = r0 >= a.n || k0 > a.p0 + r0 + 16 * MT - 1 ||
                          (a.window > 0 && k0 + BK - 1 <= a.p0 + r0 - a.window);
        if (!idle) {
            float s[MT][BK / 8][4];
#pragma unroll
            for (int t = 0; t < MT; t++)
#pragma unroll
                for (int nb = 0; nb < BK / 8; nb++)
                    s[t][nb][0] = s[t][nb][1] = s[t][nb][2] = s[t][nb][3] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                uint32_t qa[MT][4];
#pragma unroll
                for (int t = 0; t < MT; t++)
                    cu_ldsm_x4(qa[t], Qs + (wr + t * 16 + a_row) * KS + kk * 16 + a_col);
#pragma unroll
                for (int nb = 0; nb < BK / 8; nb += 2) {
                    uint32_t kb[4];
                    cu_ldsm_x4(kb, Kt + (nb * 8 + b_key) * KS + kk * 16 + b_col);
#pragma unroll
                    for (int t = 0; t < MT; t++) {
                        cu_mma16816(s[t][nb], qa[t], kb[0], kb[1]);
                        cu_mma16816(s[t][nb + 1], qa[t], kb[2], kb[3]);
                    }
                }
            }
            /* scale (into the log2 domain), softcap, mask; online softmax per row */
            const bool whole = r0 + 16 * MT - 1 < a.n && k0 + BK - 1 <= a.p0 + r0 &&
                               (a.window <= 0 || k0 > a.p0 + r0 + 16 * MT - 1 - a.window);
#pragma unroll
            for (int t = 0; t < MT; t++) {
                float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
                for (int nb = 0; nb < BK / 8; nb++)
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        float v;
                        if (SOFTCAP)
                            v = a.softcap * LOG2E * tanhf(s[t][nb][j] * a.scale / a.softcap);
                        else v = s[t][nb][j] * scale2;
                        if (!whole) {
                            const int row = r0 + t * 16 + g + (j >> 1) * 8;
                            const int key = k0 + nb * 8 + 2 * c + (j & 1), qp = a.p0 + row;
                            const bool ok =
                                row < a.n && key <= qp && (a.window <= 0 || key > qp - a.window);
                            v = ok ? v : -INFINITY;
                        }
                        s[t][nb][j] = v;
                        mx[j >> 1] = fmaxf(mx[j >> 1], v);
                    }
                float corr[2], mu[2];
#pragma unroll
                for (int r = 0; r < 2; r++) {
                    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
                    mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
                    const float mn = fmaxf(m[t][r], mx[r]);
                    mu[r] = mn == -INFINITY ? 0.0f : mn; /* a row with nothing visible yet */
                    corr[r] = exp2f(m[t][r] - mu[r]);
                    m[t][r] = mn;
                    l[t][r] *= corr[r];
                }
#pragma unroll
                for (int i = 0; i < HD / 8; i++) {
                    o[t][i][0] *= corr[0];
                    o[t][i][1] *= corr[0];
                    o[t][i][2] *= corr[1];
                    o[t][i][3] *= corr[1];
                }
#pragma unroll
                for (int nb = 0; nb < BK / 8; nb++)
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        const float p = exp2f(s[t][nb][j] - mu[j >> 1]);
                        s[t][nb][j] = p;
                        l[t][j >> 1] += p;
                    }
            }
            /* O += P V: P's C fragments become A fragments of 16 keys each */
#pragma unroll
            for (int kk = 0; kk < BK / 16; kk++) {
                uint32_t pa[MT][4];
#pragma unroll
                for (int t = 0; t < MT; t++) {
                    pa[t][0] = cu_pack_bf16x2(s[t][2 * kk][0], s[t][2 * kk][1]);
                    pa[t][1] = cu_pack_bf16x2(s[t][2 * kk][2], s[t][2 * kk][3]);
                    pa[t][2] = cu_pack_bf16x2(s[t][2 * kk + 1][0], s[t][2 * kk + 1][1]);
                    pa[t][3] = cu_pack_bf16x2(s[t][2 * kk + 1][2], s[t][2 * kk + 1][3]);
                }
                cu_mma_pv16_mt<HD, MT>(o, pa, Vt + kk * 16 * KS, KS, lane);
            }
        }
        __syncthreads(); /* every warp is done with stage st before it is refilled */
    }
    asm volatile("cp.async.wait_group 0;\n" ::);
    if (r0 >= a.n) return;
#pragma unroll
    for (int t = 0; t < MT; t++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float lr = l[t][r];
            lr += __shfl_xor_sync(0xffffffffu, lr, 1);
            lr += __shfl_xor_sync(0xffffffffu, lr, 2);
            const int row = r0 + t * 16 + g + r * 8;
            if (row >= a.n) continue;
            float *orow = a.out + ((size_t)row * a.H + h) * HD;
            const float inv = 1.0f / lr;
#pragma unroll
            for (int nd = 0; nd < HD / 8; nd++)
                *reinterpret_cast<float2 *>(orow + nd * 8 + 2 * c) =
                    make_float2(o[t][nd][2 * r] * inv, o[t][nd][2 * r + 1] * inv);
        }
}

template <int HD, bool SOFTCAP> static void launch(const dim3 &grid, const flash_args &a) {
    static int ready; /* the shared-memory opt-in, once per instance */
    const size_t smem = smem_bytes(HD);
    if (!ready) {
        if (!cu_ok(cudaFuncSetAttribute(k_flash<HD, SOFTCAP>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem),
                   "flash attention shared memory"))
            return;
        ready = 1;
    }
    k_flash<HD, SOFTCAP><<<grid, 32 * WARPS, smem, g_cu.stream>>>(a);
}

/* softcap (Gemma 2 style) costs registers: its own instance */
template <int HD> static void launch_hd(const dim3 &grid, const flash_args &a) {
    if (a.softcap > 0) launch<HD, true>(grid, a);
    else launch<HD, false>(grid, a);
}

int cu_flash_attention(float *out, const float *q, const void *kc, const void *vc, int p0, int n,
                       const ttt_attn_params *p) {
    const int hd = p->head_dim;
    if (cu_kv_elem_size() != 2 || (hd != 16 && hd != 32 && hd != 64 && hd != 128 && hd != 256))
        return 0;
    flash_args a = {out, q, (const __nv_bfloat16 *)kc, (const __nv_bfloat16 *)vc, p0, n,
                    p->n_head, p->n_head / p->n_head_kv, p->window, p->head_stride, p->scale,
                    p->softcap};
    const dim3 grid(p->n_head, (n + fl_bq(hd) - 1) / fl_bq(hd));
    switch (hd) {
    case 16: launch_hd<16>(grid, a); break;
    case 32: launch_hd<32>(grid, a); break;
    case 64: launch_hd<64>(grid, a); break;
    case 128: launch_hd<128>(grid, a); break;
    default: launch_hd<256>(grid, a); break;
    }
    CU_LAUNCHED("flash attention");
    return 1;
}
