/* table.cu - the CUDA backend's op table (src/model/backend.h); C++20 designated
 * initialisers, in the struct's order. */
#include "cuda/common.cuh"

#define PROF(op, call)                 \
    do {                               \
        const int t_ = cu_prof_begin(op); \
        call;                          \
        cu_prof_end(t_);               \
    } while (0)

static void p_copy(void *dst, const void *src, size_t bytes) {
    PROF(CU_OP_COPY, cu_copy(dst, src, bytes));
}
static void p_embed(float *out, const ttt_mat *E, const int32_t *tok, int n, float scale) {
    PROF(CU_OP_EMBED, cu_embed(out, E, tok, n, scale));
}
static void p_rmsnorm(float *out, const float *x, const float *w, int rows, int dim, float eps) {
    PROF(CU_OP_RMSNORM, cu_rmsnorm(out, x, w, rows, dim, eps));
}
static void p_matmul(float *y, const float *x, const ttt_mat *W, int n, int acc) {
    PROF(CU_OP_MATMUL, cu_matmul(y, x, W, n, acc));
}
static void p_matmul_multi(int count, float *const *ys, const float *x, const ttt_mat *const *Ws,
                           int n) {
    PROF(CU_OP_MATMUL_MULTI, cu_matmul_multi(count, ys, x, Ws, n));
}
static int p_matmul_act(float *z, const float *x, const ttt_mat *Wg, const ttt_mat *Wu, int n,
                        ttt_act act) {
    int done = 0;
    PROF(CU_OP_MATMUL_MULTI, done = cu_matmul_act(z, x, Wg, Wu, n, act));
    return done;
}
static int p_matmul_normed(const ttt_norm_in *in, int count, float *const *ys,
                           const ttt_mat *const *Ws, int n, int pair, ttt_act act) {
    int done = 0;
    PROF(CU_OP_MATMUL_MULTI, done = cu_matmul_normed(in, count, ys, Ws, n, pair, act));
    return done;
}
static void p_matmul_nt(float *y, const float *x, const ttt_mat *W, int n) {
    PROF(CU_OP_MATMUL_NT, cu_matmul_nt(y, x, W, n));
}
static void p_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    PROF(CU_OP_GEMM, cu_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc));
}
static void p_attention(float *out, const float *q, const float *kc, const float *vc, int p0,
                        int n, const ttt_attn_params *p) {
    PROF(CU_OP_ATTENTION, cu_attention(out, q, kc, vc, p0, n, p));
}
static void p_attention_rows(float *out, const float *q, const ttt_row_kv *rows, int n,
                             int max_pos, const ttt_attn_params *p) {
    PROF(CU_OP_ATTENTION, cu_attention_rows(out, q, rows, n, max_pos, p));
}
static void p_qkv_prep(float *q, float *k, const float *v, int n, int H, int Hkv, int hd,
                       const float *qn, const float *kn, float eps, const float *inv_freq, int p0,
                       const ttt_row_kv *rows, float *kc, float *vc, size_t hs) {
    PROF(CU_OP_QKV_PREP,
         cu_qkv_prep(q, k, v, n, H, Hkv, hd, qn, kn, eps, inv_freq, p0, rows, kc, vc, hs));
}
static void p_copy_rows(float *const *dst, int stride, const float *a, size_t wa,
                        const float *b, size_t wb, int n) {
    PROF(CU_OP_COPY, cu_copy_rows(dst, stride, a, wa, b, wb, n));
}
static void p_act_mul(float *g, const float *u, size_t count, ttt_act act) {
    PROF(CU_OP_ACT_MUL, cu_act_mul(g, u, count, act));
}
static void p_add(float *x, const float *y, size_t count) { PROF(CU_OP_ADD, cu_add(x, y, count)); }
static void p_axpy(float *y, const float *x, float a, size_t count) {
    PROF(CU_OP_ADD, cu_axpy(y, x, a, count));
}
static void p_softcap(float *x, size_t count, float cap) {
    PROF(CU_OP_SOFTCAP, cu_softcap(x, count, cap));
}
static void p_conv5(float *U, const float *t, const float *w, int rows, int dim, int left) {
    PROF(CU_OP_CONV5, cu_conv5(U, t, w, rows, dim, left));
}
static void p_to_f32(float *dst, const ttt_mat *W) { PROF(CU_OP_TO_F32, cu_to_f32(dst, W)); }
static ttt_status p_sync(void) {
    cu_prof_flush();
    return cu_sync();
}

extern "C" const ttt_ops ttt_cuda_ops_table = {
    .name = "cuda",
    .device = 1,
    .init = cu_init,
    .to_host = cu_to_host,
    .to_backend = cu_to_backend,
    .kv_elem_size = cu_kv_elem_size,
    .alloc = cu_alloc,
    .free = cu_free,
    .copy = p_copy,
    .zero = cu_zero,
    .embed = p_embed,
    .rmsnorm = p_rmsnorm,
    .matmul = p_matmul,
    .matmul_multi = p_matmul_multi,
    .matmul_act = p_matmul_act,
    .matmul_normed = p_matmul_normed,
    .matmul_nt = p_matmul_nt,
    .gemm = p_gemm,
    .rope = NULL, /* qkv_prep does norms, RoPE and the KV store in one kernel */
    .kv_store = NULL,
    .attention = p_attention,
    .rope_rows = NULL,
    .kv_store_rows = NULL,
    .attention_rows = p_attention_rows,
    .qkv_prep = p_qkv_prep,
    .copy_rows = p_copy_rows,
    .act_mul = p_act_mul,
    .add = p_add,
    .axpy = p_axpy,
    .softcap = p_softcap,
    .conv5 = p_conv5,
    .sumsq = cu_sumsq,
    .argmax = cu_argmax,
    .topk = cu_topk,
    .to_f32 = p_to_f32,
    .rec_begin = cu_rec_begin,
    .rec_end = cu_rec_end,
    .replay = cu_replay,
    .rec_free = cu_rec_free,
    .sync = p_sync,
};
