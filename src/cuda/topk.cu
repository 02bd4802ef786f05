/* topk.cu - the k largest logits of each row on the GPU (the candidates a sampler draws
 * from), so a sampling step returns k (id, logit) pairs instead of the row's V floats.
 *
 * Two stages: blocks of 4096 logits, staged in shared memory, each keep their k largest; one
 * block per row then keeps the k largest of those. Both select by radix select (4 passes of 8
 * bits, a 256-bin histogram each), collect the keys above the k-th and, lowest ids first, as
 * many equal to it as still fit, and order them with a bitonic sort in shared memory.
 * Order: ttt_f32_order_key (src/util/fp.h), the CPU's (src/cpu/topk.c): larger first, the
 * lower id first on ties, NaN last; the two backends return the same ids for the same logits.
 * Work per row: one read of the row (V = 152K: 0.6 MB) spread over 38 blocks, then 38 k
 * candidates. (A first version, one block per row making 5 passes over the row on one SM,
 * was slow: 32K decode took 5.01 ms per token with it, 4.53 with this one.) */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "cuda/common.cuh"

#define TK_SEG 4096 /* elements per first-stage block */

static __device__ __forceinline__ uint32_t tk_key(float f) {
    if (f != f) return 0u;
    if (f == 0.0f) f = 0.0f; /* -0 ranks as +0 */
    const uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* a ranks before b (positions stand for ids: both stages keep ids ascending with position
 * among equal keys) */
static __device__ __forceinline__ bool tk_before(uint32_t ka, int pa, uint32_t kb, int pb) {
    return ka > kb || (ka == kb && pa < pb);
}

typedef struct tk_shared {
    unsigned hist[256];
    uint32_t key[TTT_TOP_K_MAX]; /* the selected, then sorted */
    int pos[TTT_TOP_K_MAX];
    int wcnt[32];
    uint32_t prefix;
    int need;
} tk_shared;

/* Exclusive prefix over the block of a per-thread flag, in thread order, and the total. */
template <int NT> static __device__ __forceinline__ int tk_scan(bool f, int *wcnt, int *total) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const unsigned b = __ballot_sync(0xffffffffu, f);
    if (lane == 0) wcnt[warp] = __popc(b);
    __syncthreads();
    int before = __popc(b & ((1u << lane) - 1u)), all = 0;
    for (int w = 0; w < NT / 32; w++) {
        if (w < warp) before += wcnt[w];
        all += wcnt[w];
    }
    __syncthreads(); /* wcnt is reused by the next call */
    *total = all;
    return before;
}

/* The k largest of x[0 .. n) by the block of NT threads: val[t] = x[p], id[t] = xid[p] (or
 * id0 + p) for the t-th, largest first, the lower position on ties. Radix select finds the
 * k-th key (4 passes of 8 bits); one ordered pass collects the keys above it and the first
 * `need` equal to it; a bitonic sort orders them. */
template <int NT>
static __device__ void tk_select(const float *x, const int32_t *xid, int id0, int n, int k,
                                 float *val, int32_t *id, tk_shared &sh) {
    const int tid = threadIdx.x, lane = tid % 32;
    constexpr int U = 8; /* loads in flight per thread */
    uint32_t prefix = 0, mask = 0;
    int need = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += NT) sh.hist[i] = 0;
        __syncthreads();
        for (int base = 0; base < n; base += NT * U) {
            uint32_t key[U];
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int i = base + u * NT + tid;
                key[u] = i < n ? tk_key(x[i]) : 0u;
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int i = base + u * NT + tid;
                const bool in = i < n && (key[u] & mask) == prefix;
                /* lanes with the same bin add once (logits crowd a few bins) */
                const unsigned bin = in ? (key[u] >> shift) & 255u : 256u;
                const unsigned same = __match_any_sync(0xffffffffu, bin);
                if (in && __ffs(same) - 1 == lane) atomicAdd(&sh.hist[bin], __popc(same));
            }
        }
        __syncthreads();
        if (tid < 32) {
            /* lane j holds bins 255 - 8j down to 248 - 8j; an inclusive scan from the top */
            int own = 0;
            for (int b = 0; b < 8; b++) own += sh.hist[255 - 8 * lane - b];
            int cum = own;
            for (int o = 1; o < 32; o <<= 1) {
                const int t = __shfl_up_sync(0xffffffffu, cum, o);
                if (lane >= o) cum += t;
            }
            const int above = cum - own;
            if (above < need && need <= cum) {
                int run = above;
                for (int b = 0; b < 8; b++) {
                    const int bin = 255 - 8 * lane - b, h = sh.hist[bin];
                    if (run + h >= need) {
                        sh.prefix = prefix | ((uint32_t)bin << shift);
                        sh.need = need - run;
                        break;
                    }
                    run += h;
                }
            }
        }
        __syncthreads();
        prefix = sh.prefix;
        need = sh.need;
        mask |= 255u << shift;
        __syncthreads(); /* prefix and hist are rewritten by the next pass */
    }

    /* collect: every key above the k-th, then the first `need` equal to it */
    const uint32_t T = prefix;
    int n_gt = 0, n_eq = 0;
    for (int base = 0; base < n; base += NT) {
        const int i = base + tid;
        const uint32_t key = i < n ? tk_key(x[i]) : 0u;
        const bool gt = i < n && key > T, eq = i < n && key == T;
        int tot_gt, tot_eq;
        const int pg = tk_scan<NT>(gt, sh.wcnt, &tot_gt), pe = tk_scan<NT>(eq, sh.wcnt, &tot_eq);
        if (gt) sh.key[n_gt + pg] = key, sh.pos[n_gt + pg] = i;
        if (eq && n_eq + pe < need) {
            const int at = k - need + n_eq + pe;
            sh.key[at] = key, sh.pos[at] = i;
        }
        n_gt += tot_gt;
        n_eq += tot_eq;
    }
    /* pad to a power of two with entries that rank last */
    int P = 1;
    while (P < k) P <<= 1;
    for (int i = k + tid; i < P; i += NT) sh.key[i] = 0u, sh.pos[i] = INT32_MAX;
    for (int size = 2; size <= P; size <<= 1)
        for (int stride = size / 2; stride > 0; stride >>= 1) {
            __syncthreads();
            for (int t = tid; t < P / 2; t += NT) {
                const int i = 2 * stride * (t / stride) + t % stride, j = i + stride;
                const bool up = (i & size) == 0;
                const uint32_t ki = sh.key[i], kj = sh.key[j];
                const int pi = sh.pos[i], pj = sh.pos[j];
                if (up ? tk_before(kj, pj, ki, pi) : tk_before(ki, pi, kj, pj)) {
                    sh.key[i] = kj, sh.pos[i] = pj;
                    sh.key[j] = ki, sh.pos[j] = pi;
                }
            }
        }
    __syncthreads();
    for (int t = tid; t < k; t += NT) {
        const int p = sh.pos[t];
        val[t] = x[p];
        id[t] = xid ? xid[p] : id0 + p;
    }
}

/* Stage 1: block (segment s, row r) stages TK_SEG logits in shared memory and keeps its
 * min(k, length) largest, at cand[r][s * k ..]. One read of the row from memory in all.
 * With segz (the row's log-sum-exp wanted) it also writes the segment's largest logit and
 * its sum of exp(logit - largest), NaN left out, at segm / segz [r][s]. */
static __global__ void __launch_bounds__(256)
    k_topk_seg(float *cval, int32_t *cid, float *segm, float *segz, const float *x, int V,
               int limit, int k, int ncand) {
    cu_pdl_enter();
    __shared__ tk_shared sh;
    __shared__ float seg[TK_SEG];
    __shared__ float red[32];
    const int s = blockIdx.x, r = blockIdx.y, base = s * TK_SEG;
    const int len = min(TK_SEG, limit - base), kk = min(k, len);
    const float *l = x + (size_t)r * V + base;
    for (int i = threadIdx.x; i < len; i += 256) seg[i] = l[i];
    __syncthreads();
    if (segz) {
        float mx = -INFINITY, z = 0.0f;
        for (int i = threadIdx.x; i < len; i += 256) mx = fmaxf(mx, seg[i]); /* NaN skipped */
        mx = cu_block_max(mx, red);
        if (mx > -INFINITY && mx < INFINITY)
            for (int i = threadIdx.x; i < len; i += 256)
                if (seg[i] == seg[i]) z += expf(seg[i] - mx);
        z = cu_block_sum(z, red);
        if (threadIdx.x == 0) {
            segm[(size_t)r * gridDim.x + s] = mx;
            segz[(size_t)r * gridDim.x + s] = mx == INFINITY ? INFINITY : z;
        }
    }
    const size_t at = (size_t)r * ncand + (size_t)s * k;
    tk_select<256>(seg, NULL, base, len, kk, cval + at, cid + at, sh);
}

/* Stage 2: one block per row selects k of its ncand candidates (in id order among ties, as
 * stage 1 leaves them). */
static __global__ void __launch_bounds__(1024)
    k_topk_final(float *val, int32_t *ids, float *lse, const float *segm, const float *segz,
                 int S, const float *cval, const int32_t *cid, int ncand, int k) {
    cu_pdl_enter();
    __shared__ tk_shared sh;
    const size_t r = blockIdx.x;
    if (lse && threadIdx.x == 0) {
        /* the segments' (largest, sum) pairs: S = 38 for a 152K vocabulary */
        float M = -INFINITY, Z = 0.0f;
        for (int s = 0; s < S; s++) M = fmaxf(M, segm[r * S + s]);
        if (M > -INFINITY && M < INFINITY)
            for (int s = 0; s < S; s++)
                if (segz[r * S + s] > 0) Z += segz[r * S + s] * expf(segm[r * S + s] - M);
        lse[r] = M > -INFINITY && M < INFINITY ? M + logf(Z) : M;
    }
    tk_select<1024>(cval + r * ncand, cid + r * ncand, 0, ncand, k, val + r * k, ids + r * k, sh);
}

/* Stage 2 for small k (a sampler's top-k; the nucleus' 1024 goes to k_topk_final): stage 1
 * leaves each segment's candidates ordered, so the k largest of the row are a k-way merge of
 * S sorted lists. The block stages the candidates in shared memory; one warp then takes k
 * times the largest list head (lane l holds lists l and l + 32), a warp maximum of 64-bit
 * ranks [list not empty | key | ~id], so ties go to the lower id and NaN keys still rank above
 * an empty list. The radix select of k_topk_final made about 40 block barriers of one block
 * (about 20 us per step, docs/PERF.md). Needs k <= TK_MERGE_K, S <= 64. */
#define TK_MERGE_K 64
#define TK_MERGE_THREADS 256
static __device__ __forceinline__ unsigned long long tk_rank(uint32_t key, int32_t id) {
    return 1ull << 63 | (unsigned long long)key << 31 | (unsigned long long)(0x7fffffff - id);
}

static __global__ void __launch_bounds__(TK_MERGE_THREADS)
    k_topk_merge(float *val, int32_t *ids, float *lse, const float *segm, const float *segz,
                 int S, const float *cval, const int32_t *cid, int ncand, int k) {
    cu_pdl_enter();
    __shared__ float sval[64 * TK_MERGE_K];
    __shared__ int32_t sid[64 * TK_MERGE_K];
    const size_t r = blockIdx.x;
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    for (int i = tid; i < ncand; i += TK_MERGE_THREADS)
        sval[i] = cval[r * ncand + i], sid[i] = cid[r * ncand + i];
    if (lse && warp == 1) { /* the segments' (largest, sum) pairs, as k_topk_final */
        float M = -INFINITY, Z = 0.0f;
        for (int s = lane; s < S; s += 32) M = fmaxf(M, segm[r * S + s]);
        for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
        if (M > -INFINITY && M < INFINITY)
            for (int s = lane; s < S; s += 32)
                if (segz[r * S + s] > 0) Z += segz[r * S + s] * expf(segm[r * S + s] - M);
        for (int o = 16; o > 0; o >>= 1) Z += __shfl_xor_sync(0xffffffffu, Z, o);
        if (lane == 0) lse[r] = M > -INFINITY && M < INFINITY ? M + logf(Z) : M;
    }
    __syncthreads();
    if (warp != 0) return;
    /* lists lane and lane + 32: next position, end, rank of the head (0: empty) */
    auto rank_at = [&](int p, int e) {
        return p < e ? tk_rank(tk_key(sval[p]), sid[p]) : 0ull;
    };
    int at0 = lane * k, at1 = (lane + 32) * k;
    const int end0 = lane < S ? (lane < S - 1 ? at0 + k : ncand) : 0,
              end1 = lane + 32 < S ? (lane + 32 < S - 1 ? at1 + k : ncand) : 0;
    unsigned long long h0 = rank_at(at0, end0), h1 = rank_at(at1, end1);
    for (int t = 0; t < k; t++) {
        const bool second = h1 > h0;
        const unsigned long long mine = second ? h1 : h0;
        unsigned long long best = mine;
        for (int o = 16; o > 0; o >>= 1) {
            const unsigned long long other = __shfl_xor_sync(0xffffffffu, best, o);
            best = other > best ? other : best;
        }
        if (best != 0ull && mine == best) { /* ids are unique: one lane */
            const int p = second ? at1 : at0;
            val[r * k + t] = sval[p];
            ids[r * k + t] = sid[p];
            if (second) h1 = rank_at(++at1, end1);
            else h0 = rank_at(++at0, end0);
        }
    }
}

void cu_topk(float *val_host, int32_t *id_host, float *lse_host, const float *x, int n, int V,
             int limit, int k) {
    if (n <= 0 || k <= 0) return;
    if (k > TTT_TOP_K_MAX) k = TTT_TOP_K_MAX;
    if (k > limit) k = limit;
    const int S = (limit + TK_SEG - 1) / TK_SEG, last = limit - (S - 1) * TK_SEG;
    const int ncand = (S - 1) * k + (last < k ? last : k);
    const size_t cnt = (size_t)n * k, cc = (size_t)n * ncand, ns = (size_t)n * S;
    float *val = (float *)cu_scratch(CU_SCRATCH_TOP, (sizeof(float) + sizeof(int32_t)) *
                                                         (cnt + cc) + sizeof(float) * (2 * ns + n));
    if (!val) return;
    int32_t *ids = (int32_t *)(val + cnt);
    float *cval = (float *)(ids + cnt);
    int32_t *cid = (int32_t *)(cval + cc);
    float *segm = lse_host ? (float *)(cid + cc) : NULL, *segz = segm ? segm + ns : NULL;
    float *lse = segz ? segz + ns : NULL;
    cu_launch(k_topk_seg, dim3(S, n), 256, 0, cval, cid, segm, segz, x, V, limit, k, ncand);
    const char *e = getenv("TTT_CUDA_OLD_TOPK"); /* read per call: tests compare the two */
    if (k <= TK_MERGE_K && S <= 64 && !(e && *e && *e != '0'))
        cu_launch(k_topk_merge, n, TK_MERGE_THREADS, 0, val, ids, lse, (const float *)segm,
                  (const float *)segz, S, (const float *)cval, (const int32_t *)cid, ncand, k);
    else
        cu_launch(k_topk_final, n, 1024, 0, val, ids, lse, (const float *)segm,
                  (const float *)segz, S, (const float *)cval, (const int32_t *)cid, ncand, k);
    if (!CU_LAUNCHED("top-k")) return;
    void *const dst[3] = {val_host, id_host, lse_host};
    const void *const src[3] = {val, ids, lse};
    const size_t bytes[3] = {sizeof(float) * cnt, sizeof(int32_t) * cnt,
                             lse ? sizeof(float) * n : 0};
    cu_to_host_n(3, dst, src, bytes);
}
