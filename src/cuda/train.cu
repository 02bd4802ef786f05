/* train.cu - the CUDA training ops (src/train/tr_ops.h): float32 throughout, products through
 * cuBLASLt in exact float32 (no TF32), like the CPU trainer. Element-wise kernels are
 * grid-stride loops (memory-bound: each reads and writes its arrays once); row kernels take a
 * block per row; the weight-gradient sums over rows (RMSNorm, TTT conv) go through per-slice
 * partial sums in double and one reduction, so they do not depend on atomics' order.
 * Attention is in train_attn.cu. */
#include "cuda/common.cuh"
#include "cuda/train.cuh"

#define THREADS 256
#define SLICE_ROWS 256 /* rows per partial sum of the column reductions */

/* ---- products ---- */

void cu_train_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    /* row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T */
    cu_lt_matmul(tb, ta, N, M, K, alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, beta, C, ldc,
                 1);
}

/* ---- column sums: out[j] += sum over slices of part[s, j] ---- */

static __global__ void k_sum_partials(float *out, const double *part, int slices, int width) {
    CU_GRID_STRIDE(j, (size_t)width) {
        double s = 0;
        for (int k = 0; k < slices; k++) s += part[(size_t)k * width + j];
        out[j] += (float)s;
    }
}

static int n_slices(int rows) {
    int s = (rows + SLICE_ROWS - 1) / SLICE_ROWS;
    return s > 4096 ? 4096 : s < 1 ? 1 : s;
}

/* ---- RMSNorm ---- */

static __device__ __forceinline__ float scale_of(const float *w, int plus1, int d) {
    return plus1 ? 1.0f + w[d] : w[d];
}

/* 2 reads + 1 write of dim floats per row */
static __global__ void k_rmsnorm(float *y, float *r, const float *x, const float *w, int plus1,
                                 int dim, float eps) {
    __shared__ float red[32];
    const float *xi = x + (size_t)blockIdx.x * dim;
    float *yi = y + (size_t)blockIdx.x * dim;
    float ss = 0.0f;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) ss += xi[d] * xi[d];
    ss = cu_block_sum(ss, red);
    const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    if (threadIdx.x == 0) r[blockIdx.x] = inv;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) yi[d] = xi[d] * inv * scale_of(w, plus1, d);
}

static unsigned row_threads(int dim) { return dim >= 256 ? 256 : dim > 32 ? 128 : 32; }

void cu_train_rmsnorm(float *y, float *r, const float *x, const float *w, int plus1, int rows,
                      int dim, float eps) {
    if (rows <= 0) return;
    k_rmsnorm<<<rows, row_threads(dim), 0, g_cu.stream>>>(y, r, x, w, plus1, dim, eps);
    CU_LAUNCHED("train rmsnorm");
}

/* part[slice, d] = sum over the slice's rows of dy x r; block (32, 8): 32 columns */
static __global__ void k_rmsnorm_dw(double *part, const float *dy, const float *x,
                                    const float *r, int rows, int dim) {
    __shared__ double red[8][33];
    const int d = blockIdx.x * 32 + threadIdx.x;
    const int i0 = blockIdx.y * SLICE_ROWS, i1 = min(i0 + SLICE_ROWS, rows);
    double s = 0;
    if (d < dim)
        for (int i = i0 + threadIdx.y; i < i1; i += 8)
            s += (double)dy[(size_t)i * dim + d] * x[(size_t)i * dim + d] * r[i];
    red[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && d < dim) {
        for (int k = 1; k < 8; k++) s += red[k][threadIdx.x];
        part[(size_t)blockIdx.y * dim + d] = s;
    }
}

static __global__ void k_rmsnorm_dx(float *dx, int accumulate, const float *dy, const float *x,
                                    const float *r, const float *w, int plus1, int dim) {
    __shared__ float red[32];
    const size_t o = (size_t)blockIdx.x * dim;
    float dot = 0.0f;
    for (int d = threadIdx.x; d < dim; d += blockDim.x)
        dot += dy[o + d] * scale_of(w, plus1, d) * x[o + d];
    dot = cu_block_sum(dot, red);
    const float ri = r[blockIdx.x], c = ri * ri * ri * dot / (float)dim;
    for (int d = threadIdx.x; d < dim; d += blockDim.x) {
        const float g = ri * dy[o + d] * scale_of(w, plus1, d) - c * x[o + d];
        dx[o + d] = accumulate ? dx[o + d] + g : g;
    }
}

void cu_train_rmsnorm_bwd(float *dx, int accumulate, float *dw, const float *dy, const float *x,
                          const float *r, const float *w, int plus1, int rows, int dim) {
    if (rows <= 0) return;
    if (dw) { /* before dx: dx may alias dy */
        const int S = n_slices(rows);
        double *part = (double *)cu_scratch(CU_SCRATCH_TRAIN, sizeof(double) * (size_t)S * dim);
        if (!part) return;
        k_rmsnorm_dw<<<dim3((dim + 31) / 32, S), dim3(32, 8), 0, g_cu.stream>>>(part, dy, x, r,
                                                                             rows, dim);
        k_sum_partials<<<cu_blocks(dim, THREADS), THREADS, 0, g_cu.stream>>>(dw, part, S, dim);
        CU_LAUNCHED("train rmsnorm dw");
    }
    k_rmsnorm_dx<<<rows, row_threads(dim), 0, g_cu.stream>>>(dx, accumulate, dy, x, r, w, plus1,
                                                            dim);
    CU_LAUNCHED("train rmsnorm backward");
}

/* ---- RoPE: the angle is a float32 product as on the CPU, cos/sin in double ---- */

static __global__ void k_rope(float *x, int N, int T, int nh, int hd, const float *inv_freq,
                              int inverse) {
    const int half = hd / 2;
    CU_GRID_STRIDE(e, (size_t)N * nh * half) {
        const int j = (int)(e % half);
        const size_t rh = e / half; /* row * nh + head */
        const int i = (int)(rh / nh);
        const float a = (float)(i % T) * inv_freq[j];
        double s, c;
        sincos((double)a, &s, &c);
        const float cf = (float)c, sf = inverse ? -(float)s : (float)s;
        float *v = x + rh * hd;
        const float p = v[j], q = v[j + half];
        v[j] = p * cf - q * sf;
        v[j + half] = q * cf + p * sf;
    }
}

void cu_train_rope(float *x, int N, int T, int nh, int hd, const float *inv_freq, int inverse) {
    const size_t n = (size_t)N * nh * (hd / 2);
    if (!n) return;
    k_rope<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(x, N, T, nh, hd, inv_freq, inverse);
    CU_LAUNCHED("train rope");
}

/* ---- the MLP activation ---- */

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

static __device__ __forceinline__ float act_f(ttt_act a, float g) {
    if (a == TTT_ACT_SILU) return g / (1.0f + expf(-g));
    return 0.5f * g * (1.0f + tanhf(GELU_K * (g + 0.044715f * g * g * g)));
}

static __device__ __forceinline__ float act_grad(ttt_act a, float g) {
    if (a == TTT_ACT_SILU) {
        const float s = 1.0f / (1.0f + expf(-g));
        return s * (1.0f + g * (1.0f - s));
    }
    const float th = tanhf(GELU_K * (g + 0.044715f * g * g * g));
    return 0.5f * (1.0f + th) +
           0.5f * g * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * 0.044715f * g * g);
}

static __global__ void k_act(float *z, const float *g, const float *u, size_t n, ttt_act a) {
    CU_GRID_STRIDE(i, n) z[i] = act_f(a, g[i]) * u[i];
}

static __global__ void k_act_bwd(float *dg, float *du, const float *dz, const float *g,
                                 const float *u, size_t n, ttt_act a) {
    CU_GRID_STRIDE(i, n) {
        const float gi = g[i], d = dz[i];
        du[i] = d * act_f(a, gi);
        dg[i] = d * u[i] * act_grad(a, gi);
    }
}

void cu_train_act(float *z, const float *g, const float *u, size_t n, ttt_act a) {
    if (!n) return;
    k_act<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(z, g, u, n, a);
    CU_LAUNCHED("train act");
}

void cu_train_act_bwd(float *dg, float *du, const float *dz, const float *g, const float *u,
                      size_t n, ttt_act a) {
    if (!n) return;
    k_act_bwd<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(dg, du, dz, g, u, n, a);
    CU_LAUNCHED("train act backward");
}

/* ---- vectors ---- */

static __global__ void k_axpby(float *out, float a, const float *x, float b, const float *y,
                               size_t n) {
    CU_GRID_STRIDE(i, n) out[i] = a * x[i] + b * y[i];
}

void cu_train_axpby(float *out, float a, const float *x, float b, const float *y, size_t n) {
    if (!n) return;
    k_axpby<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(out, a, x, b, y, n);
    CU_LAUNCHED("train axpby");
}

/* part[block] = the block's share of x . y; the host adds the parts in order (no atomics) */
static __global__ void k_dot(const float *x, const float *y, size_t n, double *part) {
    __shared__ double red[32];
    double s = 0;
    CU_GRID_STRIDE(i, n) s += (double)x[i] * y[i];
    s = cu_block_sum(s, red);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

double cu_train_dot(const float *x, const float *y, size_t n) {
    unsigned blocks = cu_blocks(n, THREADS);
    if (blocks > 1024) blocks = 1024;
    double *part = (double *)cu_scratch(CU_SCRATCH_RED, sizeof(double) * 1024), host[1024];
    double r = 0;
    if (!part || !n) return 0;
    k_dot<<<blocks, THREADS, 0, g_cu.stream>>>(x, y, n, part);
    if (CU_LAUNCHED("train dot")) {
        cu_to_host(host, part, sizeof(double) * blocks);
        for (unsigned b = 0; b < blocks; b++) r += host[b];
    }
    return r;
}

/* ---- the embedding ---- */

static __global__ void k_embed(float *emb, const float *E, const int32_t *tok, int D,
                               float scale) {
    const float *e = E + (size_t)tok[blockIdx.x] * D;
    float *o = emb + (size_t)blockIdx.x * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) o[d] = e[d] * scale;
}

void cu_train_embed(float *emb, const float *E, const int32_t *tok, int N, int D, float scale) {
    if (N <= 0) return;
    k_embed<<<N, row_threads(D), 0, g_cu.stream>>>(emb, E, tok, D, scale);
    CU_LAUNCHED("train embed");
}

/* Block j: if by_tok[j] starts a group of rows with one token, adds the group's rows in row
 * order into that token's gradient row (one writer per row, no atomics: bitwise repeatable). */
static __global__ void k_embed_bwd(float *gE, const float *dx, const float *demb,
                                   const int32_t *tok, const int32_t *by_tok, int N, int D,
                                   float scale) {
    const int j = blockIdx.x, v = tok[by_tok[j]];
    if (j > 0 && tok[by_tok[j - 1]] == v) return;
    float *g = gE + (size_t)v * D;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float acc = g[d];
        for (int k = j; k < N && tok[by_tok[k]] == v; k++) {
            const size_t o = (size_t)by_tok[k] * D + d;
            acc += (dx[o] + demb[o]) * scale;
        }
        g[d] = acc;
    }
}

void cu_train_embed_bwd(float *gE, const float *dx, const float *demb, const int32_t *tok,
                        const int32_t *by_tok, int N, int D, float scale) {
    if (N <= 0) return;
    k_embed_bwd<<<N, row_threads(D), 0, g_cu.stream>>>(gE, dx, demb, tok, by_tok, N, D, scale);
    CU_LAUNCHED("train embed backward");
}

/* ---- the TTT conv (kernel 5, per chunk) ---- */

static __device__ __forceinline__ int same_chunk(const int32_t *chunk, int N, int c, int src) {
    return src >= 0 && src < N && chunk[src] == chunk[c];
}

static __global__ void k_conv(float *U, const float *t, const float *w, const int32_t *chunk,
                              int N, int D, int left) {
    CU_GRID_STRIDE(e, (size_t)N * D) {
        const int c = (int)(e / D), d = (int)(e % D);
        float s = 0.0f;
        for (int k = 0; k < 5; k++) {
            const int src = c + k - left;
            if (same_chunk(chunk, N, c, src)) s += w[(size_t)d * 5 + k] * t[(size_t)src * D + d];
        }
        U[e] = s;
    }
}

static __global__ void k_conv_dt(float *dt, const float *dU, const float *w, const int32_t *chunk,
                                 int N, int D, int left) {
    CU_GRID_STRIDE(e, (size_t)N * D) {
        const int s = (int)(e / D), d = (int)(e % D);
        float acc = dt[e];
        for (int k = 0; k < 5; k++) {
            const int c = s - k + left;
            if (same_chunk(chunk, N, s, c)) acc += w[(size_t)d * 5 + k] * dU[(size_t)c * D + d];
        }
        dt[e] = acc;
    }
}

/* part[slice, d, k] = sum over the slice's rows c of dU[c, d] t[c + k - left, d] */
static __global__ void k_conv_dw(double *part, const float *dU, const float *t,
                                 const int32_t *chunk, int N, int D, int left) {
    __shared__ double red[8][32][5];
    const int d = blockIdx.x * 32 + threadIdx.x;
    const int c0 = blockIdx.y * SLICE_ROWS, c1 = min(c0 + SLICE_ROWS, N);
    double s[5] = {0, 0, 0, 0, 0};
    if (d < D)
        for (int c = c0 + threadIdx.y; c < c1; c += 8) {
            const double g = dU[(size_t)c * D + d];
            for (int k = 0; k < 5; k++) {
                const int src = c + k - left;
                if (same_chunk(chunk, N, c, src)) s[k] += g * t[(size_t)src * D + d];
            }
        }
    for (int k = 0; k < 5; k++) red[threadIdx.y][threadIdx.x][k] = s[k];
    __syncthreads();
    if (threadIdx.y == 0 && d < D)
        for (int k = 0; k < 5; k++) {
            double v = 0;
            for (int y = 0; y < 8; y++) v += red[y][threadIdx.x][k];
            part[((size_t)blockIdx.y * D + d) * 5 + k] = v;
        }
}

void cu_train_conv(float *U, const float *t, const float *w, const int32_t *chunk, int N, int D,
                   int left) {
    const size_t n = (size_t)N * D;
    if (!n) return;
    k_conv<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(U, t, w, chunk, N, D, left);
    CU_LAUNCHED("train conv");
}

void cu_train_conv_bwd(float *dt, float *dw, const float *dU, const float *t, const float *w,
                       const int32_t *chunk, int N, int D, int left) {
    const size_t n = (size_t)N * D;
    if (!n) return;
    k_conv_dt<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(dt, dU, w, chunk, N, D, left);
    CU_LAUNCHED("train conv backward");
    if (!dw) return;
    const int S = n_slices(N);
    double *part = (double *)cu_scratch(CU_SCRATCH_TRAIN, sizeof(double) * (size_t)S * D * 5);
    if (!part) return;
    k_conv_dw<<<dim3((D + 31) / 32, S), dim3(32, 8), 0, g_cu.stream>>>(part, dU, t, chunk, N, D,
                                                                    left);
    k_sum_partials<<<cu_blocks((size_t)D * 5, THREADS), THREADS, 0, g_cu.stream>>>(dw, part, S,
                                                                                   D * 5);
    CU_LAUNCHED("train conv dw");
}

/* ---- the loss: a block per row, 3 passes over V logits ---- */

static __global__ void k_loss(float *logits, const int32_t *lab, int V, float cap, float g,
                              double *row_loss) {
    __shared__ float redf[32];
    __shared__ double redd[32];
    float *l = logits + (size_t)blockIdx.x * V;
    const int y = lab[blockIdx.x];
    if (y == -100) {
        for (int j = threadIdx.x; j < V; j += blockDim.x) l[j] = 0.0f;
        if (threadIdx.x == 0) row_loss[blockIdx.x] = 0;
        return;
    }
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        float v = l[j];
        if (cap > 0) l[j] = v = cap * tanhf(v / cap);
        mx = fmaxf(mx, v);
    }
    mx = cu_block_max(mx, redf);
    double sum = 0;
    for (int j = threadIdx.x; j < V; j += blockDim.x) sum += exp((double)(l[j] - mx));
    sum = cu_block_sum(sum, redd);
    const double lse = mx + log(sum);
    __syncthreads(); /* l[y] is read before its thread overwrites it */
    const float ly = l[y];
    __syncthreads();
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        const float p = (float)exp(l[j] - lse);
        float d = (p - (j == y ? 1.0f : 0.0f)) * g;
        if (cap > 0) {
            const float th = l[j] / cap;
            d *= 1.0f - th * th;
        }
        l[j] = d;
    }
    if (threadIdx.x == 0) row_loss[blockIdx.x] = lse - ly;
}

double cu_train_loss(float *logits, const int32_t *lab, int N, int V, float cap, float g) {
    if (N <= 0) return 0;
    double *rows = (double *)cu_scratch(CU_SCRATCH_TRAIN, sizeof(double) * (size_t)N);
    double *host = (double *)malloc(sizeof(double) * (size_t)N);
    double total = 0;
    if (!host) cu_fail(TTT_ERR_NOMEM, "the loss's host buffer", cudaSuccess);
    if (rows && host) {
        k_loss<<<N, THREADS, 0, g_cu.stream>>>(logits, lab, V, cap, g, rows);
        if (CU_LAUNCHED("train loss")) {
            cu_to_host(host, rows, sizeof(double) * (size_t)N);
            for (int i = 0; i < N; i++) total += host[i];
        }
    }
    free(host);
    return total;
}

/* ---- AdamW: 4 reads, 3 writes per parameter ---- */

static __global__ void k_adamw(float *w, const float *g, float *m, float *v, size_t n,
                               tr_adamw_args h) {
    CU_GRID_STRIDE(i, n) {
        const float gi = g[i] * h.clip;
        float wi = w[i] * h.decay;
        const float mi = h.b1 * m[i] + (1.0f - h.b1) * gi;
        const float vi = h.b2 * v[i] + (1.0f - h.b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - h.step_size * mi / (sqrtf(vi) / h.bc2_sqrt + h.eps);
    }
}

void cu_train_adamw(float *w, const float *g, float *m, float *v, size_t n,
                    const tr_adamw_args *h) {
    if (!n) return;
    k_adamw<<<cu_blocks(n, THREADS), THREADS, 0, g_cu.stream>>>(w, g, m, v, n, *h);
    CU_LAUNCHED("adamw");
}

/* ---- the table ---- */

static ttt_status train_init(void) {
    /* keeps the precision of a model loaded before (the trainer's products are float32) */
    return cu_init(g_cu.ready ? g_cu.prec : TTT_PREC_BF16);
}

extern "C" const tr_ops tr_cuda_ops_table = {
    .name = "cuda",
    .be = &ttt_cuda_ops_table,
    .init = train_init,
    .gemm = cu_train_gemm,
    .rmsnorm = cu_train_rmsnorm,
    .rmsnorm_bwd = cu_train_rmsnorm_bwd,
    .rope = cu_train_rope,
    .act = cu_train_act,
    .act_bwd = cu_train_act_bwd,
    .axpby = cu_train_axpby,
    .dot = cu_train_dot,
    .embed = cu_train_embed,
    .embed_bwd = cu_train_embed_bwd,
    .attn = cu_train_attn,
    .attn_bwd = cu_train_attn_bwd,
    .conv = cu_train_conv,
    .conv_bwd = cu_train_conv_bwd,
    .loss = cu_train_loss,
    .adamw = cu_train_adamw,
};
