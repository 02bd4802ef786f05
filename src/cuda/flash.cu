/* flash.cu - prefill attention on the tensor cores (flash-attention 2 style) for a bf16 KV
 * cache: a block of 4 warps takes 64 query rows of one head; each warp keeps its 16 rows'
 * queries, scores and output in registers (mma.sync m16n8k16, bf16 in, fp32 accumulate) and
 * walks the visible keys in tiles of 64 staged through shared memory, with an online softmax.
 * No score matrix ever reaches memory. Consecutive blocks are the heads of one query tile,
 * so the heads of a GQA group read the same K/V tiles while they sit in L2.
 * Fragment layouts (PTX ISA, mma.m16n8k16): g = lane / 4, c = lane % 4;
 *   A (16x16, row): a0 (g, 2c..2c+1) a1 (g+8, 2c..) a2 (g, 2c+8..) a3 (g+8, 2c+8..)
 *   B (16x8, col):  b0 (k 2c..2c+1, n g) b1 (k 2c+8.., n g)
 *   C (16x8):       c0,c1 (g, 2c..2c+1) c2,c3 (g+8, 2c..2c+1) */
#include <math.h>

#include "cuda/common.cuh"

#define WARPS 8
#define BQ (16 * WARPS) /* query rows per block, 16 per warp */
#define BK 64 /* keys per tile */
#define LOG2E 1.4426950408889634f

typedef struct flash_args {
    float *out;                /* [n, H, hd] */
    const float *q;            /* [n, H, hd] */
    const __nv_bfloat16 *kc;   /* [Hkv][cap][hd] */
    const __nv_bfloat16 *vc;
    int p0, n, H, G, window;
    size_t hs;
    float scale, softcap;
} flash_args;

template <int HD>
static __global__ void __launch_bounds__(32 * WARPS) k_flash(flash_args a) {
    constexpr int KS = HD + 8;  /* K and V row stride in shared (bf16), padded against conflicts */
    __shared__ __align__(16) __nv_bfloat16 Ks[BK * KS];
    __shared__ __align__(16) __nv_bfloat16 Vs[BK * KS];
    const int h = blockIdx.x, tile = gridDim.y - 1 - blockIdx.y; /* long tiles first */
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    const int r0 = tile * BQ + warp * 16; /* this warp's first query row */
    const __nv_bfloat16 *K = a.kc + (size_t)(h / a.G) * a.hs;
    const __nv_bfloat16 *V = a.vc + (size_t)(h / a.G) * a.hs;

    /* queries as A fragments */
    uint32_t qa[HD / 16][4];
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++)
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int row = r0 + g + (j & 1) * 8, col = kk * 16 + 2 * c + (j >> 1) * 8;
            float x0 = 0, x1 = 0;
            if (row < a.n) {
                const float *qr = a.q + ((size_t)row * a.H + h) * HD + col;
                x0 = qr[0];
                x1 = qr[1];
            }
            qa[kk][j] = cu_pack_bf16x2(x0, x1);
        }
    float o[HD / 8][4];
#pragma unroll
    for (int i = 0; i < HD / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}; /* m: log2 domain */
    const float scale2 = a.scale * LOG2E;

    /* keys visible to any row of the block */
    const int qlo = a.p0 + tile * BQ, qhi = min(a.p0 + a.n, qlo + BQ) - 1;
    int kbeg = a.window > 0 ? max(0, qlo - a.window + 1) : 0;
    kbeg -= kbeg % BK;
    const int kend = qhi + 1;
    /* the next tile waits in registers while the current one is used: its loads overlap the
     * tensor-core work */
    constexpr int CH = BK * HD / 8, PER = (CH + 32 * WARPS - 1) / (32 * WARPS);
    uint4 kn[PER], vn[PER];
    auto fetch = [&](int k0) {
#pragma unroll
        for (int j = 0; j < PER; j++) {
            const int e = threadIdx.x + j * 32 * WARPS, key = e / (HD / 8), d = (e % (HD / 8)) * 8;
            kn[j] = vn[j] = make_uint4(0, 0, 0, 0);
            if (e < CH && k0 + key < kend) {
                kn[j] = *reinterpret_cast<const uint4 *>(K + (size_t)(k0 + key) * HD + d);
                vn[j] = *reinterpret_cast<const uint4 *>(V + (size_t)(k0 + key) * HD + d);
            }
        }
    };
    if (kbeg < kend) fetch(kbeg);
    for (int k0 = kbeg; k0 < kend; k0 += BK) {
        __syncthreads(); /* the previous tile is consumed */
#pragma unroll
        for (int j = 0; j < PER; j++) {
            const int e = threadIdx.x + j * 32 * WARPS, key = e / (HD / 8), d = (e % (HD / 8)) * 8;
            if (e >= CH) break;
            *reinterpret_cast<uint4 *>(Ks + key * KS + d) = kn[j];
            *reinterpret_cast<uint4 *>(Vs + key * KS + d) = vn[j];
        }
        __syncthreads();
        if (k0 + BK < kend) fetch(k0 + BK);
        if (r0 >= a.n || k0 > a.p0 + r0 + 15) continue; /* nothing visible to this warp */

        float s[BK / 8][4];
#pragma unroll
        for (int nb = 0; nb < BK / 8; nb++) {
            s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.0f;
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                const __nv_bfloat16 *kr = Ks + (nb * 8 + g) * KS + kk * 16 + 2 * c;
                cu_mma16816(s[nb], qa[kk], *reinterpret_cast<const uint32_t *>(kr),
                    *reinterpret_cast<const uint32_t *>(kr + 8));
            }
        }
        /* scale (into the log2 domain), softcap, mask; running max per row (g and g + 8).
         * Tiles that every row of the warp sees whole skip the mask arithmetic. */
        const bool whole = r0 + 15 < a.n && k0 + BK - 1 <= a.p0 + r0 &&
                           (a.window <= 0 || k0 > a.p0 + r0 + 15 - a.window);
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nb = 0; nb < BK / 8; nb++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float v;
                if (a.softcap > 0) v = a.softcap * LOG2E * tanhf(s[nb][j] * a.scale / a.softcap);
                else v = s[nb][j] * scale2;
                if (!whole) {
                    const int row = r0 + g + (j >> 1) * 8, key = k0 + nb * 8 + 2 * c + (j & 1);
                    const int qp = a.p0 + row;
                    const bool ok =
                        row < a.n && key <= qp && (a.window <= 0 || key > qp - a.window);
                    v = ok ? v : -INFINITY;
                }
                s[nb][j] = v;
                mx[j >> 1] = fmaxf(mx[j >> 1], v);
            }
        float corr[2], mu[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            const float mn = fmaxf(m[r], mx[r]);
            mu[r] = mn == -INFINITY ? 0.0f : mn; /* a row with nothing visible yet */
            corr[r] = exp2f(m[r] - mu[r]);
            m[r] = mn;
            l[r] *= corr[r];
        }
#pragma unroll
        for (int i = 0; i < HD / 8; i++) {
            o[i][0] *= corr[0];
            o[i][1] *= corr[0];
            o[i][2] *= corr[1];
            o[i][3] *= corr[1];
        }
#pragma unroll
        for (int nb = 0; nb < BK / 8; nb++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const float p = exp2f(s[nb][j] - mu[j >> 1]);
                s[nb][j] = p;
                l[j >> 1] += p;
            }
        /* O += P V: P's C fragments become A fragments of 16 keys each */
#pragma unroll
        for (int kk = 0; kk < BK / 16; kk++) {
            const uint32_t pa[4] = {cu_pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                                    cu_pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                    cu_pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                    cu_pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
            cu_mma_pv16<HD>(o, pa, Vs + kk * 16 * KS, KS, lane);
        }
    }
    if (r0 >= a.n) return;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = r0 + g + r * 8;
        if (row >= a.n) continue;
        float *orow = a.out + ((size_t)row * a.H + h) * HD;
        const float inv = 1.0f / l[r];
#pragma unroll
        for (int nd = 0; nd < HD / 8; nd++) {
            orow[nd * 8 + 2 * c] = o[nd][2 * r] * inv;
            orow[nd * 8 + 2 * c + 1] = o[nd][2 * r + 1] * inv;
        }
    }
}

int cu_flash_attention(float *out, const float *q, const void *kc, const void *vc, int p0, int n,
                       const ttt_attn_params *p) {
    const int hd = p->head_dim;
    if (cu_kv_elem_size() != 2 || (hd != 16 && hd != 32 && hd != 64 && hd != 128)) return 0;
    flash_args a = {out, q, (const __nv_bfloat16 *)kc, (const __nv_bfloat16 *)vc, p0, n,
                    p->n_head, p->n_head / p->n_head_kv, p->window, p->head_stride, p->scale,
                    p->softcap};
    const dim3 grid(p->n_head, (n + BQ - 1) / BQ);
    const int th = 32 * WARPS;
    switch (hd) {
    case 16: k_flash<16><<<grid, th, 0, g_cu.stream>>>(a); break;
    case 32: k_flash<32><<<grid, th, 0, g_cu.stream>>>(a); break;
    case 64: k_flash<64><<<grid, th, 0, g_cu.stream>>>(a); break;
    default: k_flash<128><<<grid, th, 0, g_cu.stream>>>(a); break;
    }
    CU_LAUNCHED("flash attention");
    return 1;
}
