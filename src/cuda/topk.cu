/* topk.cu - the k largest logits of each row on the GPU (the candidates a sampler draws
 * from), so a sampling step returns k (id, logit) pairs instead of the row's V floats.
 *
 * One block per row finds the k-th largest key by radix select (4 passes of 8 bits, a 256-bin
 * histogram each), then one ordered pass collects the keys above it and, lowest ids first,
 * as many equal to it as still fit, and a bitonic sort in shared memory orders the k.
 * Order: ttt_f32_order_key (src/util/fp.h), the CPU's (src/cpu/topk.c): larger first, the
 * lower id first on ties, NaN last; the two backends return the same ids for the same logits.
 * Work per row: 5 reads of the row (V = 152K: 3 MB, from L2 after the first), about 20 us on
 * one SM; a decode step is milliseconds. */
#include <math.h>
#include <stdint.h>

#include "cuda/common.cuh"

#define TK_THREADS 1024

static __device__ __forceinline__ uint32_t tk_key(float f) {
    if (f != f) return 0u;
    if (f == 0.0f) f = 0.0f; /* -0 ranks as +0 */
    const uint32_t u = __float_as_uint(f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* a ranks before b */
static __device__ __forceinline__ bool tk_before(uint32_t ka, int32_t ia, uint32_t kb, int32_t ib) {
    return ka > kb || (ka == kb && ia < ib);
}

/* Exclusive prefix over the block of a per-thread flag, in thread order, and the total. */
static __device__ __forceinline__ int tk_scan(bool f, int *wcnt, int *total) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const unsigned b = __ballot_sync(0xffffffffu, f);
    if (lane == 0) wcnt[warp] = __popc(b);
    __syncthreads();
    int before = __popc(b & ((1u << lane) - 1u)), all = 0;
    for (int w = 0; w < TK_THREADS / 32; w++) {
        if (w < warp) before += wcnt[w];
        all += wcnt[w];
    }
    __syncthreads(); /* wcnt is reused by the next call */
    *total = all;
    return before;
}

static __global__ void __launch_bounds__(TK_THREADS)
    k_topk(float *val, int32_t *ids, const float *x, int V, int limit, int k) {
    cu_pdl_enter();
    __shared__ unsigned hist[256];
    __shared__ uint32_t s_key[TTT_TOP_K_MAX];
    __shared__ int32_t s_id[TTT_TOP_K_MAX];
    __shared__ int wcnt[TK_THREADS / 32];
    __shared__ uint32_t s_prefix;
    __shared__ int s_need;
    const float *l = x + (size_t)blockIdx.x * V;
    const int tid = threadIdx.x, lane = tid % 32;
    constexpr int U = 8; /* loads in flight per thread */

    /* radix select: after the pass at `shift`, prefix holds the top bits of the k-th key and
     * need how many keys with those bits are still to be taken */
    uint32_t prefix = 0, mask = 0;
    int need = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int i = tid; i < 256; i += TK_THREADS) hist[i] = 0;
        __syncthreads();
        for (int base = 0; base < limit; base += TK_THREADS * U) {
            uint32_t key[U];
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int i = base + u * TK_THREADS + tid;
                key[u] = i < limit ? tk_key(l[i]) : 0u;
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                const int i = base + u * TK_THREADS + tid;
                const bool in = i < limit && (key[u] & mask) == prefix;
                /* lanes with the same bin add once (logits crowd a few bins) */
                const unsigned bin = in ? (key[u] >> shift) & 255u : 256u;
                const unsigned same = __match_any_sync(0xffffffffu, bin);
                if (in && __ffs(same) - 1 == lane) atomicAdd(&hist[bin], __popc(same));
            }
        }
        __syncthreads();
        if (tid < 32) {
            /* lane j holds bins 255 - 8j down to 248 - 8j; an inclusive scan from the top */
            int own = 0;
            for (int b = 0; b < 8; b++) own += hist[255 - 8 * lane - b];
            int cum = own;
            for (int o = 1; o < 32; o <<= 1) {
                const int t = __shfl_up_sync(0xffffffffu, cum, o);
                if (lane >= o) cum += t;
            }
            const int above = cum - own;
            if (above < need && need <= cum) {
                int run = above;
                for (int b = 0; b < 8; b++) {
                    const int bin = 255 - 8 * lane - b, h = hist[bin];
                    if (run + h >= need) {
                        s_prefix = prefix | ((uint32_t)bin << shift);
                        s_need = need - run;
                        break;
                    }
                    run += h;
                }
            }
        }
        __syncthreads();
        prefix = s_prefix;
        need = s_need;
        mask |= 255u << shift;
        __syncthreads(); /* s_prefix and hist are rewritten by the next pass */
    }

    /* collect: every key above the k-th, then the first `need` equal to it in id order */
    const uint32_t T = prefix;
    int n_gt = 0, n_eq = 0;
    for (int base = 0; base < limit; base += TK_THREADS) {
        const int i = base + tid;
        const uint32_t key = i < limit ? tk_key(l[i]) : 0u;
        const bool gt = i < limit && key > T, eq = i < limit && key == T;
        int tot_gt, tot_eq;
        const int pg = tk_scan(gt, wcnt, &tot_gt), pe = tk_scan(eq, wcnt, &tot_eq);
        if (gt) s_key[n_gt + pg] = key, s_id[n_gt + pg] = i;
        if (eq && n_eq + pe < need) s_key[k - need + n_eq + pe] = key, s_id[k - need + n_eq + pe] = i;
        n_gt += tot_gt;
        n_eq += tot_eq;
    }
    /* pad to a power of two with entries that rank last */
    int P = 1;
    while (P < k) P <<= 1;
    for (int i = k + tid; i < P; i += TK_THREADS) s_key[i] = 0u, s_id[i] = INT32_MAX;
    for (int size = 2; size <= P; size <<= 1)
        for (int stride = size / 2; stride > 0; stride >>= 1) {
            __syncthreads();
            for (int t = tid; t < P / 2; t += TK_THREADS) {
                const int i = 2 * stride * (t / stride) + t % stride, j = i + stride;
                const bool up = (i & size) == 0;
                const uint32_t ki = s_key[i], kj = s_key[j];
                const int32_t ii = s_id[i], ij = s_id[j];
                if (up ? tk_before(kj, ij, ki, ii) : tk_before(ki, ii, kj, ij)) {
                    s_key[i] = kj, s_id[i] = ij;
                    s_key[j] = ki, s_id[j] = ii;
                }
            }
        }
    __syncthreads();
    for (int t = tid; t < k; t += TK_THREADS) {
        const int32_t id = s_id[t];
        val[(size_t)blockIdx.x * k + t] = l[id];
        ids[(size_t)blockIdx.x * k + t] = id;
    }
}

void cu_topk(float *val_host, int32_t *id_host, const float *x, int n, int V, int limit, int k) {
    if (n <= 0 || k <= 0) return;
    if (k > TTT_TOP_K_MAX) k = TTT_TOP_K_MAX;
    if (k > limit) k = limit;
    const size_t cnt = (size_t)n * k;
    float *val = (float *)cu_scratch(CU_SCRATCH_TOP, (sizeof(float) + sizeof(int32_t)) * cnt);
    if (!val) return;
    int32_t *ids = (int32_t *)(val + cnt);
    cu_launch(k_topk, n, TK_THREADS, 0, val, ids, x, V, limit, k);
    if (!CU_LAUNCHED("top-k")) return;
    cu_to_host(val_host, val, sizeof(float) * cnt);
    cu_to_host(id_host, ids, sizeof(int32_t) * cnt);
}
