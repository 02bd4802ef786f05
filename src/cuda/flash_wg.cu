/* flash_wg.cu - prefill attention on Hopper's warpgroup tensor-core instructions (wgmma,
 * sm_90a) for a bf16 KV cache: a block of two warpgroups takes 128 query rows of one head,
 * 64 rows per warpgroup, and walks the visible keys in tiles of 128 with an online softmax.
 * S = Q K^T takes Q's A fragments from registers (loaded once) and K from shared memory
 * (m64n128k16, HD / 16 steps); P stays in registers as the A operand of O += P V
 * (m64nHDk16, 8 steps over the tile's keys). The
 * mma.sync kernel (flash.cu) issues 16 x 8 x 16 products per instruction and feeds them
 * through ldmatrix, which held it near 250 TFLOP/s; here the tensor cores read the operands
 * from shared memory themselves (docs/PERF.md change 23).
 * Shared memory holds three stages of K and V tiles (128 x HD each) in the
 * tensor cores' 128-byte swizzled layout: a tile is stored as HD / 64 column blocks of 64
 * dims, each row of a block 128 bytes, and the 16-byte piece j of row r sits at piece
 * j ^ (r % 8) - so the 8 rows of a piece column fall in 8 different bank groups (without the
 * swizzle, the first version of this kernel ran below the mma.sync one). K is the B operand
 * K-major (keys along N), V the B operand MN-major (dims along N): one layout serves both.
 * Each warpgroup overlaps its softmax of tile t with its P V product of tile t - 1, which
 * the tensor cores run meanwhile (flash-attention 3's intra-warpgroup pipelining); the three
 * stages hold tile t (K in use), t - 1 (V in use) and t + 1 (in flight).
 * Fragment layout of a 64 x N accumulator (PTX ISA, wgmma): warp w of the warpgroup holds
 * rows 16 w .. 16 w + 15; lane (g = lane / 4, c = lane % 4) holds d[4 j + e] at row
 * g + 8 (e / 2), column 8 j + 2 c + e % 2 - the m16n8 C layout of flash.cu, repeated over j,
 * so P's A fragments are packed from S exactly as there; an A fragment (64 x 16) is the
 * m16n8k16 one per warp.
 * k_flash_tma below is the same computation with the tiles copied by the TMA and the two
 * warpgroups taking turns on the tensor cores; it runs by default, and this kernel where the
 * driver cannot encode tensor maps, inside a graph recording, or with TTT_CUDA_NO_TMA=1.
 * hd 64 and 128 without a soft-cap; anything else goes to flash.cu. Per (query, key) pair
 * 4 hd FLOPs; bytes: K and V once per query tile of 128 (64 KB per 128-key tile at hd 128,
 * 8.4 MFLOP). Built only for sm_90a: elsewhere the kernel is empty, and a probe at start-up
 * (cu_init) keeps it from being chosen. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cuda/common.cuh"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WG_ON 1
#endif

#define WLOG2E 1.4426950408889634f
#define WG_THREADS 256   /* two warpgroups */
#define WBQ 128          /* query rows per block, 64 per warpgroup */
#define WBK 128          /* keys per tile */
#define WNST 3           /* stages: tile t's K in use, t - 1's V in use, t + 1 in flight */
#define WDIST (WNST - 2) /* tiles loaded ahead */

typedef cu_flash_args wg_args;

/* the K and V stages; + 1 KB: the swizzle pattern repeats every 1024 bytes and the tiles
 * must start on it */
static constexpr size_t wg_smem(int hd) {
    return (size_t)2 * WNST * WBK * hd * sizeof(__nv_bfloat16) + 1024;
}

#ifdef WG_ON
/* Shared-memory matrix descriptor, 128-byte swizzle: start address, the byte strides lbo and
 * sbo (16-byte units), layout type 1. K-major operands step along K by moving the start
 * address inside the 1024-byte swizzle atom (sbo: 8 rows); MN-major ones take lbo as the
 * stride between 64-wide column blocks and sbo between groups of 8 rows along K. */
static __device__ __forceinline__ uint64_t wg_desc(const void *smem, uint32_t lbo, uint32_t sbo) {
    const uint32_t a = (uint32_t)__cvta_generic_to_shared(smem);
    return (uint64_t)((a & 0x3FFFF) >> 4) | (uint64_t)(lbo >> 4) << 16 |
           (uint64_t)(sbo >> 4) << 32 | (uint64_t)1 << 62;
}

/* byte offset of (row, dim) in a swizzled tile of `rows` rows */
static __device__ __forceinline__ uint32_t wg_off(int rows, int r, int d) {
    return (uint32_t)((d / 64) * rows * 128 + r * 128 + ((((d % 64) / 8) ^ (r % 8)) * 16) +
                      (d % 8) * 2);
}

/* 2^x on the special-function unit (-inf gives 0) */
static __device__ __forceinline__ float wg_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

static __device__ __forceinline__ void wg_wait1() {
    asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
}

static __device__ __forceinline__ void wg_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
static __device__ __forceinline__ void wg_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
static __device__ __forceinline__ void wg_wait0() {
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
/* shared-memory writes of this thread (cp.async, stores) made visible to the tensor cores'
 * reads, which go through the async proxy */
static __device__ __forceinline__ void wg_proxy_fence() {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

/* named barriers 1 and 2 of the two consumer warpgroups (256 threads: one waits, the other
 * arrives) */
static __device__ __forceinline__ void wg_bar_sync(int id) {
    asm volatile("bar.sync %0, 256;\n" ::"r"(id) : "memory");
}
static __device__ __forceinline__ void wg_bar_arrive(int id) {
    asm volatile("bar.arrive %0, 256;\n" ::"r"(id) : "memory");
}

/* d[32] (+)= A B, one 64 x 64 x 16 step; A in registers (4 bf16 pairs), B in shared
 * memory, MN-major when TB (V) or K-major (K); acc 0 overwrites d */
template <int TB>
static __device__ __forceinline__ void wg_mma_rs_n64(float *d, const uint32_t *a, uint64_t db,
                                                     int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc), "n"(TB));
}
/* d[64] (+)= A B, one 64 x 128 x 16 step; A in registers (4 bf16 pairs), B in shared
 * memory, MN-major when TB (V) or K-major (K); acc 0 overwrites d */
template <int TB>
static __device__ __forceinline__ void wg_mma_rs_n128(float *d, const uint32_t *a, uint64_t db,
                                                     int acc) {
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, {%64, %65, %66, %67}, %68, p, 1, 1, %70;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(acc), "n"(TB));
}

template <int HD>
static __device__ __forceinline__ void wg_mma_pv(float *o, const uint32_t *pa, uint64_t db) {
    if constexpr (HD == 128) wg_mma_rs_n128<1>(o, pa, db, 1);
    else wg_mma_rs_n64<1>(o, pa, db, 1);
}
/* K and V rows [k0, k0 + WBK) into one stage, 16-byte piece e (row e / (HD / 8), dims
 * 8 (e % (HD / 8))) by thread e % nth of nth; rows past kend are zeros (P V must not see
 * NaN from stale memory) */
template <int HD>
static __device__ __forceinline__ void wg_copy_tile(unsigned char *kd, unsigned char *vd,
                                                    const __nv_bfloat16 *K,
                                                    const __nv_bfloat16 *V, int k0, int kend,
                                                    int kbeg, int t, int nth) {
#pragma unroll 4
    for (int e = t; e < WBK * HD / 8; e += nth) {
        const int r = e / (HD / 8), d = (e % (HD / 8)) * 8;
        const bool ok = k0 + r < kend;
        const size_t src = (size_t)(ok ? k0 + r : kbeg) * HD + d;
        const uint32_t off = wg_off(WBK, r, d);
        cu_cp16_zfill(kd + off, K + src, ok);
        cu_cp16_zfill(vd + off, V + src, ok);
    }
}

/* One warpgroup, one tile: issues S = Q K^T for this tile (keys k0.., K in Kt; Q's A
 * fragments in qa) and O += P V for the tile before (V in Vp, its P in pa), then runs the
 * online softmax of S while the tensor cores do P V, and leaves this tile's P in pa. wr: the
 * warp's first row. */
template <int HD, int PP>
static __device__ __forceinline__ void wg_tile(float *o, float *m, float *l, uint32_t (*pa)[4],
                                               const uint32_t (*qa)[4],
                                               const unsigned char *Kt,
                                               const unsigned char *Vp, int k0,
                                               const wg_args &a, int wr, int lane,
                                               float scale2, int wgi, bool last) {
    const int g = lane / 4, c = lane % 4;
    float s[WBK / 2];
    if (PP) wg_bar_sync(1 + wgi); /* this warpgroup's turn on the tensor cores */
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++) {
        const uint64_t dk = wg_desc(Kt + (kk / 4) * WBK * 128 + (kk % 4) * 32, 16, 1024);
        wg_mma_rs_n128<0>(s, qa[kk], dk, kk);
    }
    wg_commit();
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < WBK / 16; kk++)
        wg_mma_pv<HD>(o, pa[kk], wg_desc(Vp + kk * 16 * 128, WBK * 128, 1024));
    wg_commit();
    /* the other warpgroup's turn; the second one's last turn is not given, so that every
     * barrier is passed as often as it is arrived at */
    if (PP && !(wgi == 1 && last)) wg_bar_arrive(2 - wgi);
    wg_wait1(); /* S is in; P V runs on */

    /* mask, online softmax per row; m stays in the scores' units and the scale into the
     * log2 domain rides in one FMA per score (the softmax is most of the kernel's issued
     * instructions; exp2f's range handling would add three more per score) */
    const bool whole = wr + 15 < a.n && k0 + WBK - 1 <= a.p0 + wr &&
                       (a.window <= 0 || k0 > a.p0 + wr + 15 - a.window);
    /* WP partial maxima and sums per row: one running value per row made a chain of WBK / 4
     * dependent instructions, and ncu put "wait" (fixed-latency dependencies) first among the
     * stalls after issuing itself */
    constexpr int WP = 4;
    float mp[2][WP];
#pragma unroll
    for (int r = 0; r < 2; r++)
#pragma unroll
        for (int u = 0; u < WP; u++) mp[r][u] = -INFINITY;
#pragma unroll
    for (int j = 0; j < WBK / 2; j++) {
        if (!whole) {
            const int row = wr + g + ((j >> 1) & 1) * 8;
            const int key = k0 + (j >> 2) * 8 + 2 * c + (j & 1), qp = a.p0 + row;
            const bool ok = row < a.n && key <= qp && (a.window <= 0 || key > qp - a.window);
            s[j] = ok ? s[j] : -INFINITY;
        }
        float &mu_ = mp[(j >> 1) & 1][(j >> 2) % WP];
        mu_ = fmaxf(mu_, s[j]);
    }
    float mx[2], corr[2], nmu[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(fmaxf(mp[r][0], mp[r][1]), fmaxf(mp[r][2], mp[r][3]));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        const float mn = fmaxf(m[r], mx[r]);
        const float mu = mn == -INFINITY ? 0.0f : mn; /* a row with nothing visible yet */
        corr[r] = wg_ex2((m[r] - mu) * scale2);
        nmu[r] = -mu * scale2;
        m[r] = mn;
        l[r] *= corr[r];
    }
    float lp[2][WP] = {};
#pragma unroll
    for (int j = 0; j < WBK / 2; j++) {
        s[j] = wg_ex2(fmaf(s[j], scale2, nmu[(j >> 1) & 1]));
        lp[(j >> 1) & 1][(j >> 2) % WP] += s[j];
    }
#pragma unroll
    for (int r = 0; r < 2; r++) l[r] += (lp[r][0] + lp[r][1]) + (lp[r][2] + lp[r][3]);
    wg_wait0(); /* O and the old P are free again */
#pragma unroll
    for (int i = 0; i < HD / 2; i++) o[i] *= corr[(i >> 1) & 1];
#pragma unroll
    for (int j = 0; j < WBK / 2; j += 2) pa[j / 8][(j / 2) % 4] = cu_pack_bf16x2(s[j], s[j + 1]);
}

/* the warp's 16 queries as A fragments, bf16, unscaled: rows g, g + 8, dims 2c.. (+8) */
template <int HD>
static __device__ __forceinline__ void wg_load_q(uint32_t (*qa)[4], const wg_args &a, int wr,
                                                 int lane, int h) {
    const int g = lane / 4, c = lane % 4;
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const int row = wr + g + 8 * r;
            float2 x0 = make_float2(0, 0), x1 = make_float2(0, 0);
            if (row < a.n) {
                const float *qr = a.q + ((size_t)row * a.H + h) * HD + kk * 16 + 2 * c;
                x0 = *reinterpret_cast<const float2 *>(qr);
                x1 = *reinterpret_cast<const float2 *>(qr + 8);
            }
            qa[kk][r] = cu_pack_bf16x2(x0.x, x0.y);
            qa[kk][2 + r] = cu_pack_bf16x2(x1.x, x1.y);
        }
}

/* O += P V for the last tile, and the rows' results into out */
template <int HD>
static __device__ __forceinline__ void wg_finish(float *o, const float *l, uint32_t (*pa)[4],
                                                 const unsigned char *Vl, const wg_args &a,
                                                 int wr, int lane, int h) {
    const int g = lane / 4, c = lane % 4;
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < WBK / 16; kk++)
        wg_mma_pv<HD>(o, pa[kk], wg_desc(Vl + kk * 16 * 128, WBK * 128, 1024));
    wg_commit();
    wg_wait0();
#pragma unroll
    for (int r = 0; r < 2; r++) {
        float lr = l[r];
        lr += __shfl_xor_sync(0xffffffffu, lr, 1);
        lr += __shfl_xor_sync(0xffffffffu, lr, 2);
        const int row = wr + g + r * 8;
        if (row >= a.n) continue;
        float *orow = a.out + ((size_t)row * a.H + h) * HD;
        const float inv = 1.0f / lr;
#pragma unroll
        for (int j = 0; j < HD / 8; j++)
            *reinterpret_cast<float2 *>(orow + j * 8 + 2 * c) =
                make_float2(o[4 * j + 2 * r] * inv, o[4 * j + 2 * r + 1] * inv);
    }
}
#endif

#ifdef WG_ON
/* The keys block q0's 128 queries see: tiles of WBK from kbeg (aligned down) to kend. */
typedef struct wg_span {
    int kbeg, kend, ntiles;
} wg_span;

static __device__ __forceinline__ wg_span wg_span_of(const wg_args &a, int q0) {
    const int qlo = a.p0 + q0, qhi = min(a.p0 + a.n, qlo + WBQ) - 1;
    int kbeg = a.window > 0 ? max(0, qlo - a.window + 1) : 0;
    kbeg -= kbeg % WBK;
    return wg_span{kbeg, qhi + 1, (qhi + 1 - kbeg + WBK - 1) / WBK};
}

/* the dynamic shared memory from its first 1024-byte boundary (the swizzle pattern repeats
 * every 1024 bytes and the tiles must start on it) */
static __device__ __forceinline__ unsigned char *wg_align1k(unsigned char *raw) {
    return raw + ((1024 - (cu_smem_addr(raw) & 1023)) & 1023);
}
#endif

template <int HD>
static __global__ void __launch_bounds__(WG_THREADS, 1) k_flash_wg(wg_args a) {
#ifdef WG_ON
    constexpr int TB = WBK * HD * 2; /* bytes of a K or V tile */
    extern __shared__ __align__(128) unsigned char wg_raw[];
    unsigned char *const Ks = wg_align1k(wg_raw); /* [WNST][WBK x HD] */
    unsigned char *const Vs = Ks + WNST * TB;
    const int h = blockIdx.x, tile = gridDim.y - 1 - blockIdx.y; /* long tiles first */
    const int tid = threadIdx.x, wg = tid / 128, lane = tid % 32;
    const int q0 = tile * WBQ, r0 = q0 + wg * 64, wr = r0 + ((tid / 32) % 4) * 16;
    const __nv_bfloat16 *K = a.kc + (size_t)(h / a.G) * a.hs;
    const __nv_bfloat16 *V = a.vc + (size_t)(h / a.G) * a.hs;

    const wg_span sp = wg_span_of(a, q0);
    const int kbeg = sp.kbeg, kend = sp.kend, ntiles = sp.ntiles;
    /* tile ti into stage ti % WNST by every thread, one cp.async group per call */
    auto load = [&](int ti) {
        if (ti < ntiles)
            wg_copy_tile<HD>(Ks + (ti % WNST) * TB, Vs + (ti % WNST) * TB, K, V,
                                  kbeg + ti * WBK, kend, kbeg, tid, WG_THREADS);
        asm volatile("cp.async.commit_group;\n" ::); /* empty past the end: counts stay */
    };
#pragma unroll
    for (int t = 0; t < WDIST; t++) load(t);
    uint32_t qa[HD / 16][4];
    wg_load_q<HD>(qa, a, wr, lane, h);
    float o[HD / 2];
#pragma unroll
    for (int i = 0; i < HD / 2; i++) o[i] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}; /* rows g, g + 8 */
    const float scale2 = a.scale * WLOG2E;
    /* P of the tile before, waiting for its P V product; zero before the first tile, whose
     * stage then stands in for the tile before (0 V: the code stays one straight line, which
     * the compiler needs to keep the products asynchronous) */
    uint32_t pa[WBK / 16][4] = {};
    /* Every warpgroup runs every tile of its block, even one whose rows see none of it (the
     * mask then leaves m, l and O as they were): wgmma under a branch the compiler cannot
     * prove uniform over the warpgroup is serialized, and the block's tiles past one
     * warpgroup's diagonal are at most one. */
    for (int ti = 0; ti < ntiles; ti++) {
        asm volatile("cp.async.wait_group %0;\n" ::"n"(WDIST - 1));
        wg_proxy_fence();
        __syncthreads(); /* tile ti in place; tile ti - 2's stage is free everywhere */
        load(ti + WDIST);
        wg_tile<HD, 0>(o, m, l, pa, qa, Ks + (ti % WNST) * TB,
                       Vs + ((ti > 0 ? ti - 1 : 0) % WNST) * TB, kbeg + ti * WBK, a, wr, lane,
                       scale2, 0, false);
    }
    asm volatile("cp.async.wait_group 0;\n" ::);
    if (ntiles > 0)
        wg_finish<HD>(o, l, pa, Vs + ((ntiles - 1) % WNST) * TB, a, wr, lane, h);
#else
    (void)a;
#endif
}

/* ---- The same with a copy-engine producer (TMA) and the two warpgroups taking turns ----
 * Flash-attention 3's schedule: a third warpgroup gives up its registers (setmaxnreg 24) and
 * one of its threads issues each tile's K and V as 2-D boxes through the tensor memory
 * accelerator, which writes them in the 128-byte swizzle the descriptors above read, and
 * signals an mbarrier when the bytes are in. The two consumer warpgroups (240 registers each)
 * no longer copy anything, and a pair of named barriers makes them take turns issuing their
 * products: while one runs its softmax, the tensor cores work on the other's S and P V. The
 * first kernel synchronised all 256 threads per tile (so both softmaxes ran at once, with the
 * tensor cores idle) and spent issue slots on 16 cp.async per thread per tile. Same FLOPs
 * and bytes as k_flash_wg. */
#define WT_THREADS 384 /* producer warpgroup + two consumer warpgroups */

template <int HD>
static __global__ void __launch_bounds__(WT_THREADS, 1)
    k_flash_tma(const __grid_constant__ CUtensorMap tk, const __grid_constant__ CUtensorMap tv,
                wg_args a) {
#ifdef WG_ON
    constexpr int TB = WBK * HD * 2; /* bytes of a K or V tile */
    extern __shared__ __align__(128) unsigned char wg_raw[];
    __shared__ __align__(8) uint64_t full[WNST], empty[WNST];
    unsigned char *const Ks = wg_align1k(wg_raw); /* [WNST][WBK x HD] */
    unsigned char *const Vs = Ks + WNST * TB;
    const int h = blockIdx.x, tile = gridDim.y - 1 - blockIdx.y; /* long tiles first */
    const int tid = threadIdx.x, wg = tid / 128, lane = tid % 32;
    const int q0 = tile * WBQ;
    const wg_span sp = wg_span_of(a, q0);
    const int kbeg = sp.kbeg, ntiles = sp.ntiles;
    if (tid == 0) {
        for (int st = 0; st < WNST; st++) {
            cu_mb_init(&full[st], 1);
            cu_mb_init(&empty[st], 8); /* every consumer warp */
        }
        cu_mb_init_fence();
    }
    __syncthreads();
    if (wg == 0) {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 24;\n" ::: "memory");
        if (tid == 0) {
            const int hk = h / a.G;
            for (int t = 0; t < ntiles; t++) {
                const int st = t % WNST;
                if (t >= WNST) cu_mb_wait(&empty[st], ((t / WNST) + 1) & 1);
                cu_mb_expect(&full[st], 2 * TB);
#pragma unroll
                for (int half = 0; half < HD / 64; half++) {
                    const int key = kbeg + t * WBK;
                    cu_tma3(Ks + st * TB + half * WBK * 128, &tk, half * 64, key, hk, &full[st]);
                    cu_tma3(Vs + st * TB + half * WBK * 128, &tv, half * 64, key, hk, &full[st]);
                }
            }
        }
        return;
    }
    asm volatile("setmaxnreg.inc.sync.aligned.u32 240;\n" ::: "memory");
    const int wgi = wg - 1, wr = q0 + wgi * 64 + ((tid / 32) % 4) * 16;
    uint32_t qa[HD / 16][4];
    wg_load_q<HD>(qa, a, wr, lane, h);
    float o[HD / 2];
#pragma unroll
    for (int i = 0; i < HD / 2; i++) o[i] = 0.0f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    const float scale2 = a.scale * WLOG2E;
    uint32_t pa[WBK / 16][4] = {}; /* as in k_flash_wg */
    if (wgi == 1) wg_bar_arrive(1); /* the first warpgroup goes first */
    for (int t = 0; t < ntiles; t++) {
        cu_mb_wait(&full[t % WNST], (t / WNST) & 1);
        wg_tile<HD, 1>(o, m, l, pa, qa, Ks + (t % WNST) * TB,
                       Vs + ((t > 0 ? t - 1 : 0) % WNST) * TB, kbeg + t * WBK, a, wr, lane,
                       scale2, wgi, t == ntiles - 1);
        /* tile t - 1's K and V are read (its P V waited for in wg_tile): the stage is free */
        if (t > 0 && lane == 0) cu_mb_arrive(&empty[(t - 1) % WNST]);
    }
    if (ntiles > 0)
        wg_finish<HD>(o, l, pa, Vs + ((ntiles - 1) % WNST) * TB, a, wr, lane, h);
#else
    (void)tk;
    (void)tv;
    (void)a;
#endif
}

static __device__ int wg_probe_on;

static __global__ void k_wg_probe() {
#ifdef WG_ON
    wg_probe_on = 1;
#else
    wg_probe_on = 0;
#endif
}

/* 1 when this build has the kernel for this GPU (the driver loaded an sm_90a image); asked of
 * the device once, by cu_init, while nothing else runs. */
int cu_flash_wg_probe(void) {
    int on = 0;
    k_wg_probe<<<1, 1>>>();
    if (cudaGetLastError() != cudaSuccess ||
        cudaMemcpyFromSymbol(&on, wg_probe_on, sizeof on) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return on == 1;
}

/* Dynamic shared memory above 48 KB needs an opt-in per kernel, once (ready: the kernel's
 * flag); 0 when it failed (the failure is reported by sync). */
static int wg_smem_optin(const void *kernel, size_t bytes, int *ready, const char *what) {
    if (!*ready && !cu_ok(cudaFuncSetAttribute(kernel,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               (int)bytes),
                          what))
        return 0;
    return *ready = 1;
}

template <int HD> static void wg_launch(int n, int H, const wg_args &a) {
    static int ready;
    if (!wg_smem_optin((const void *)k_flash_wg<HD>, wg_smem(HD), &ready,
                       "wgmma attention shared memory"))
        return;
    const dim3 grid(H, (n + WBQ - 1) / WBQ);
    k_flash_wg<HD><<<grid, WG_THREADS, wg_smem(HD), g_cu.stream>>>(a);
}

/* the TMA kernel when the driver encodes the maps; 0 to fall back to k_flash_wg. Not while a
 * graph is recorded: the maps hold this call's cache address and length. */
template <int HD> static int tma_launch(int n, int H, const wg_args &a) {
    const char *e = getenv("TTT_CUDA_NO_TMA");
    if ((e && *e && *e != '0') || g_cu.capturing) return 0;
    CUtensorMap tk, tv;
    const int hkv = H / a.G, rows = a.p0 + a.n;
    if (!cu_tmap_kv(&tk, a.kc, HD, rows, hkv, a.hs, WBK) ||
        !cu_tmap_kv(&tv, a.vc, HD, rows, hkv, a.hs, WBK))
        return 0;
    static int ready;
    if (!wg_smem_optin((const void *)k_flash_tma<HD>, wg_smem(HD), &ready,
                       "TMA attention shared memory"))
        return 0;
    const dim3 grid(H, (n + WBQ - 1) / WBQ);
    k_flash_tma<HD><<<grid, WT_THREADS, wg_smem(HD), g_cu.stream>>>(tk, tv, a);
    return 1;
}

int cu_flash_wg(float *out, const float *q, const void *kc, const void *vc, int p0, int n,
                const ttt_attn_params *p) {
    const int hd = p->head_dim;
    if (cu_kv_elem_size() != 2 || (hd != 64 && hd != 128) || p->softcap > 0) return 0;
    const char *e = getenv("TTT_CUDA_NO_WGMMA"); /* per call, as TTT_CUDA_NO_FLASH */
    if ((e && *e && *e != '0') || !g_cu.wgmma) return 0;
    const wg_args a = {out, q, (const __nv_bfloat16 *)kc, (const __nv_bfloat16 *)vc, p0, n,
                       p->n_head, p->n_head / p->n_head_kv, p->window, p->head_stride, p->scale,
                       0.0f};
    if (hd == 128) {
        if (!tma_launch<128>(n, p->n_head, a)) wg_launch<128>(n, p->n_head, a);
    } else if (!tma_launch<64>(n, p->n_head, a)) {
        wg_launch<64>(n, p->n_head, a);
    }
    CU_LAUNCHED("wgmma attention");
    return 1;
}
