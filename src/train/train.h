/* train.h - the trainer behind ttt_trainer: fp32 parameters in HF layout, hand-written
 * backward (llm.c style), AdamW. Parameters, gradients and moments of the trainable tensors
 * are parallel arrays carved from one allocation each; frozen tensors get an fp32 copy only.
 *
 * Layouts (row-major, HF): linear weights [out, in]; ttt_conv [D, 1, 5] read as [D][5];
 * ttt_proj [D, D] used as stored (V = U P); norm weights raw (Gemma's scale is 1 + w). */
#ifndef TTT_TRAIN_TRAIN_H
#define TTT_TRAIN_TRAIN_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Work (elements) below which a loop stays on one thread: on a loaded 2-core host, waking
 * the team costs more than small loops take. */
#define TR_PAR_MIN ((size_t)1 << 16)

/* Per-layer tensor slots. */
typedef enum tr_slot {
    TR_ATTN_NORM, TR_POST_ATTN_NORM, TR_FFN_NORM, TR_POST_FFN_NORM, TR_Q_NORM, TR_K_NORM,
    TR_WQ, TR_WK, TR_WV, TR_WO, TR_GATE, TR_UP, TR_DOWN, TR_CONV, TR_PROJ,
    TR_NSLOT
} tr_slot;
/* Model-wide slots (the head is the embedding when tied). */
typedef enum tr_gslot { TR_EMBED, TR_HEAD, TR_FINAL_NORM, TR_NGLOBAL } tr_gslot;

typedef struct tr_tensor {
    char name[96];    /* HF name */
    int ndim;         /* 1..3 */
    int64_t shape[3]; /* HF shape */
    size_t n;         /* elements */
    float *w;         /* [n] value */
    float *g;         /* [n] gradient; NULL when frozen */
    float *m, *v;     /* [n] AdamW moments; NULL when frozen */
} tr_tensor;

/* Activations of one layer kept for backward; N = B*T rows. */
typedef struct tr_acts {
    float *x;    /* [N, D] layer input (residual) */
    float *h1;   /* [N, D] attention-norm output */
    float *r1;   /* [N] its 1/rms */
    float *q;    /* [N, H*hd] q projection (before q-norm) */
    float *k;    /* [N, Hkv*hd] */
    float *v;    /* [N, Hkv*hd] */
    float *qr;   /* [N, H*hd] q after norm and RoPE */
    float *kr;   /* [N, Hkv*hd] */
    float *rq;   /* [N*H] 1/rms of q heads (qk_norm) */
    float *rk;   /* [N*Hkv] */
    float *lse;  /* [B, H, T] log-sum-exp of each attention row */
    float *att;  /* [N, H*hd] attention output */
    float *ao;   /* [N, D] o_proj output (Gemma: before its post-norm) */
    float *rpa;  /* [N] 1/rms of ao (Gemma) */
    float *xm;   /* [N, D] residual after attention */
    float *h2;   /* [N, D] pre-MLP norm output */
    float *r2;   /* [N] */
    float *g;    /* [N, F] gate projection */
    float *u;    /* [N, F] up projection */
    float *z;    /* [N, F] act(g) * u */
    float *U;    /* [N, D] TTT conv output per chunk (TTT layers) */
    float *V;    /* [N, D] U P (TTT layers with ttt_proj) */
    float *cs;   /* [N] clip scale of the chunk starting at each row (ttt_clip) */
    float *mo;   /* [N, D] MLP output (Gemma: before its post-norm) */
    float *rpf;  /* [N] */
} tr_acts;

struct ttt_trainer {
    ttt_model *model;
    ttt_config cfg;
    ttt_train_params p;
    char *regex_src;          /* owned copy of p.regex */
    int n_all;                /* tensors in all */
    tr_tensor *all;           /* [n_all]: trainable first, then frozen */
    int n_train;              /* trainable tensors */
    float *wbuf, *gbuf, *mbuf, *vbuf; /* trainable values, grads, moments (one block each) */
    float *fbuf;              /* frozen values */
    size_t n_train_el;        /* floats in each trainable block */
    float *gw[TR_NGLOBAL];    /* model-wide values */
    float *gg[TR_NGLOBAL];    /* their gradients (NULL: frozen) */
    float *(*lw)[TR_NSLOT];   /* [L][slot] layer values (NULL: absent) */
    float *(*lg)[TR_NSLOT];   /* [L][slot] layer gradients (NULL: absent or frozen) */
    float *inv_freq[2];       /* [hd/2] RoPE frequencies: global, local */
    int64_t step;             /* optimizer steps taken */

    /* activations for the current batch shape */
    int B, T, cap;            /* cap: rows allocated */
    void *act_block;          /* one allocation behind every buffer below */
    tr_acts *acts;            /* [L] */
    float *emb;               /* [N, D] embedding output */
    float *xf;                /* [N, D] final norm output */
    float *rf;                /* [N] */
    float *xl;                /* [N, D] last layer's output */
    float *logits;            /* [N, V] logits, then d loss / d logits */
    int32_t *tok;             /* [N] inputs */
    int32_t *lab;             /* [N] labels */
    uint8_t *seg;             /* [N] 1 where a TTT segment (document) starts */
    /* backward scratch */
    float *dx;                /* [N, D] gradient of the residual stream */
    float *dh;                /* [N, D] */
    float *dt;                /* [N, D] */
    float *demb;              /* [N, D] gradient into the embedding output (input_embed) */
    float *dq, *dk, *dv;      /* [N, H*hd], [N, Hkv*hd] x2 */
    float *datt;              /* [N, H*hd] */
    float *dz, *dg, *du;      /* [N, F] */
    float *dU, *dV;           /* [N, D] */
    float *S, *G, *dW, *Gt;   /* [D, F] fast weight, suffix sum, a chunk's update, the
                                 gradient reaching a clipped update */
    int n_seg;                /* TTT segments (documents) of the batch */
    int *seg_beg;             /* [N] first row of each segment */
};

/* params.c */
ttt_status tr_params_init(ttt_trainer *t);
void tr_params_free(ttt_trainer *t);

/* forward_train.c */
ttt_status tr_acts_reserve(ttt_trainer *t, int B, int T);
void tr_forward(ttt_trainer *t);

/* backward.c */
void tr_backward(ttt_trainer *t);

/* loss.c: logits -> d loss / d logits in place (scaled by `scale`); returns the mean loss */
double tr_loss(ttt_trainer *t, float scale);

/* attn_train.c */
void tr_attn_forward(ttt_trainer *t, int l);
void tr_attn_backward(ttt_trainer *t, int l);

/* ttt_train.c */
void tr_ttt_forward(ttt_trainer *t, int l, const float *tgt, float *out);
/* dout: d loss / d MLP output; adds into t->dz and dtgt; parameter grads as trainable */
void tr_ttt_backward(ttt_trainer *t, int l, const float *tgt, const float *dout, float *dtgt);

/* ops shared by forward and backward (kernels.c) */
void tr_rmsnorm(float *y, float *r, const float *x, const float *w, int plus1, int rows,
                int dim, float eps);
/* dx (+)= d/dx of y = x r w given dy; dw += ...; dx may alias dy */
void tr_rmsnorm_bwd(float *dx, int accumulate, float *dw, const float *dy, const float *x,
                    const float *r, const float *w, int plus1, int rows, int dim);
/* y[n, out] = x[n, in] W^T */
void tr_linear(float *y, const float *x, const float *W, int n, int out, int in, int acc);
/* dx (+)= dy W; dW += dy^T x (skipped when dW is NULL) */
void tr_linear_bwd(float *dx, int acc, float *dW, const float *dy, const float *x,
                   const float *W, int n, int out, int in);
void tr_rope(float *x, int N, int T, int nh, int hd, const float *inv_freq, int inverse);
float tr_act(ttt_act a, float g);
float tr_act_grad(ttt_act a, float g);

#endif
