/* train_attn.cu - exact attention for training on the GPU, forward and backward, head by head:
 * the T x T scores of one (sequence, head) in scratch, its products through cuBLASLt in
 * float32, masking and softmax in one row kernel. Same algebra as the CPU (attn_train.c):
 * the forward keeps each row's log-sum-exp only; the backward recomputes the probabilities.
 *   FLOPs per (sequence, head): 4 T^2 hd forward, 10 T^2 hd backward (the causal half is
 *   computed too: a square product is cheaper here than skipping the masked tiles).
 *   Scratch: 3 T^2 + T floats. */
#include "cuda/common.cuh"
#include "cuda/train.cuh"

#define THREADS 256

static __device__ __forceinline__ int first_key(int i, int window) {
    return window > 0 && i - window + 1 > 0 ? i - window + 1 : 0;
}

/* Row i of S (scaled scores): soft-cap, mask, softmax in place; lse[i]. */
static __global__ void k_softmax(float *S, int T, int window, float cap, float *lse) {
    __shared__ float redf[32];
    __shared__ double redd[32];
    const int i = blockIdx.x, j0 = first_key(i, window);
    float *s = S + (size_t)i * T;
    float mx = -INFINITY;
    for (int j = j0 + threadIdx.x; j <= i; j += blockDim.x) {
        float v = s[j];
        if (cap > 0) s[j] = v = cap * tanhf(v / cap);
        mx = fmaxf(mx, v);
    }
    mx = cu_block_max(mx, redf);
    double sum = 0;
    for (int j = j0 + threadIdx.x; j <= i; j += blockDim.x) {
        const float p = expf(s[j] - mx);
        s[j] = p;
        sum += p;
    }
    sum = cu_block_sum(sum, redd);
    const float inv = (float)(1.0 / sum);
    for (int j = threadIdx.x; j < T; j += blockDim.x)
        s[j] = j >= j0 && j <= i ? s[j] * inv : 0.0f;
    if (threadIdx.x == 0) lse[i] = mx + (float)log(sum);
}

/* Row i: P from the scores and lse (th: tanh of the soft-cap, or NULL); Di = dO_i . O_i */
static __global__ void k_probs(float *S, float *th, int T, int window, float cap,
                               const float *lse, const float *dO, const float *O, int ld, int hd,
                               float *Di) {
    __shared__ float red[32];
    const int i = blockIdx.x, j0 = first_key(i, window);
    float *s = S + (size_t)i * T;
    for (int j = threadIdx.x; j < T; j += blockDim.x) {
        float v = s[j];
        if (cap > 0) {
            const float x = tanhf(v / cap);
            th[(size_t)i * T + j] = x;
            v = cap * x;
        }
        s[j] = j >= j0 && j <= i ? expf(v - lse[i]) : 0.0f;
    }
    float d = 0.0f;
    for (int e = threadIdx.x; e < hd; e += blockDim.x)
        d += dO[(size_t)i * ld + e] * O[(size_t)i * ld + e];
    d = cu_block_sum(d, red);
    if (threadIdx.x == 0) Di[i] = d;
}

/* dS = P (dP - Di) (1 - th^2), in dP */
static __global__ void k_dscores(float *dP, const float *P, const float *th, const float *Di,
                                 int T) {
    CU_GRID_STRIDE(e, (size_t)T * T) {
        float ds = P[e] * (dP[e] - Di[e / T]);
        if (th) ds *= 1.0f - th[e] * th[e];
        dP[e] = ds;
    }
}

typedef struct head_ptrs {
    const float *Q, *K, *V;
    float *O, *lse;
    const float *dO;
    float *dQ, *dK, *dV;
} head_ptrs;

static head_ptrs head(const tr_attn_args *a, int b, int h) {
    const int qd = a->H * a->hd, kd = a->Hkv * a->hd, kh = h / (a->H / a->Hkv);
    const size_t r0 = (size_t)b * a->T, qo = r0 * qd + (size_t)h * a->hd;
    const size_t ko = r0 * kd + (size_t)kh * a->hd;
    return (head_ptrs){.Q = a->q + qo, .K = a->k + ko, .V = a->v + ko, .O = a->o + qo,
                       .lse = a->lse + ((size_t)b * a->H + h) * a->T,
                       .dO = a->dout ? a->dout + qo : NULL, .dQ = a->dq ? a->dq + qo : NULL,
                       .dK = a->dk ? a->dk + ko : NULL, .dV = a->dv ? a->dv + ko : NULL};
}

void cu_train_attn(const tr_attn_args *a) {
    const int T = a->T, qd = a->H * a->hd, kd = a->Hkv * a->hd;
    float *S = (float *)cu_scratch(CU_SCRATCH_TRAIN_ATTN, sizeof(float) * (size_t)T * T);
    if (!S) return;
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++) {
            const head_ptrs p = head(a, b, h);
            cu_train_gemm(0, 1, T, T, a->hd, a->scale, p.Q, qd, p.K, kd, 0.0f, S, T);
            k_softmax<<<T, THREADS, 0, g_cu.stream>>>(S, T, a->window, a->cap, p.lse);
            cu_train_gemm(0, 0, T, a->hd, T, 1.0f, S, T, p.V, kd, 0.0f, p.O, qd);
        }
    CU_LAUNCHED("train attention");
}

void cu_train_attn_bwd(const tr_attn_args *a) {
    const int T = a->T, qd = a->H * a->hd, kd = a->Hkv * a->hd, G = a->H / a->Hkv;
    const size_t TT = (size_t)T * T;
    float *P = (float *)cu_scratch(CU_SCRATCH_TRAIN_ATTN, sizeof(float) * (3 * TT + T));
    if (!P) return;
    float *dP = P + TT, *th = a->cap > 0 ? dP + TT : NULL, *Di = P + 3 * TT;
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++) {
            const head_ptrs p = head(a, b, h);
            if (h % G == 0) { /* the group's first head: its KV gradients start at zero */
                cu_ok(cudaMemset2DAsync(p.dK, sizeof(float) * kd, 0, sizeof(float) * a->hd, T,
                                        g_cu.stream), "train attention: zero dK");
                cu_ok(cudaMemset2DAsync(p.dV, sizeof(float) * kd, 0, sizeof(float) * a->hd, T,
                                        g_cu.stream), "train attention: zero dV");
            }
            cu_train_gemm(0, 1, T, T, a->hd, a->scale, p.Q, qd, p.K, kd, 0.0f, P, T);
            k_probs<<<T, THREADS, 0, g_cu.stream>>>(P, th, T, a->window, a->cap, p.lse, p.dO,
                                                    p.O, qd, a->hd, Di);
            /* dV += P^T dO; dP = dO V^T */
            cu_train_gemm(1, 0, T, a->hd, T, 1.0f, P, T, p.dO, qd, 1.0f, p.dV, kd);
            cu_train_gemm(0, 1, T, T, a->hd, 1.0f, p.dO, qd, p.V, kd, 0.0f, dP, T);
            k_dscores<<<cu_blocks(TT, THREADS), THREADS, 0, g_cu.stream>>>(dP, P, th, Di, T);
            /* dQ = scale dS K; dK += scale dS^T Q */
            cu_train_gemm(0, 0, T, a->hd, T, a->scale, dP, T, p.K, kd, 0.0f, p.dQ, qd);
            cu_train_gemm(1, 0, T, a->hd, T, a->scale, dP, T, p.Q, qd, 1.0f, p.dK, kd);
        }
    CU_LAUNCHED("train attention backward");
}
