/* train.cuh - the CUDA training ops (train.cu, train_attn.cu); semantics in train/tr_ops.h. */
#ifndef TTT_CUDA_TRAIN_CUH
#define TTT_CUDA_TRAIN_CUH

#include "train/tr_ops.h"

void cu_train_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
void cu_train_rmsnorm(float *y, float *r, const float *x, const float *w, int plus1, int rows,
                      int dim, float eps);
void cu_train_rmsnorm_bwd(float *dx, int accumulate, float *dw, const float *dy, const float *x,
                          const float *r, const float *w, int plus1, int rows, int dim);
void cu_train_rope(float *x, int N, int T, int nh, int hd, const float *inv_freq, int inverse);
void cu_train_act(float *z, const float *g, const float *u, size_t n, ttt_act a);
void cu_train_act_bwd(float *dg, float *du, const float *dz, const float *g, const float *u,
                      size_t n, ttt_act a);
void cu_train_axpby(float *out, float a, const float *x, float b, const float *y, size_t n);
double cu_train_dot(const float *x, const float *y, size_t n);
void cu_train_embed(float *emb, const float *E, const int32_t *tok, int N, int D, float scale);
void cu_train_embed_bwd(float *gE, const float *dx, const float *demb, const int32_t *tok,
                        const int32_t *by_tok, int N, int D, float scale);
void cu_train_conv(float *U, const float *t, const float *w, const int32_t *chunk, int N, int D,
                   int left);
void cu_train_conv_bwd(float *dt, float *dw, const float *dU, const float *t, const float *w,
                       const int32_t *chunk, int N, int D, int left);
double cu_train_loss(float *logits, const int32_t *lab, int N, int V, float cap, float g);
void cu_train_adamw(float *w, const float *g, float *m, float *v, size_t n,
                    const tr_adamw_args *h);
/* train_attn.cu */
void cu_train_attn(const tr_attn_args *a);
void cu_train_attn_bwd(const tr_attn_args *a);

#endif
