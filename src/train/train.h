/* train.h - the trainer behind ttt_trainer: fp32 parameters in HF layout, hand-written
 * backward (llm.c style), AdamW, written once against the training ops (tr_ops.h) and run on
 * the CPU or a GPU. Parameters, gradients and moments of the trainable tensors are parallel
 * arrays carved from one allocation each; frozen tensors get an fp32 copy only. On a GPU
 * these live in device memory, with a host mirror for the tensor API (see trainer.c).
 *
 * Layouts (row-major, HF): linear weights [out, in]; ttt_conv [D, 1, 5] read as [D][5];
 * ttt_proj [D, D] used as stored (V = U P); norm weights raw (Gemma's scale is 1 + w). */
#ifndef TTT_TRAIN_TRAIN_H
#define TTT_TRAIN_TRAIN_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"
#include "train/tr_ops.h"

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
    float *w;         /* [n] value (host; the API's view) */
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
    float *cs;   /* [N] host: clip scale of the chunk starting at each row (ttt_clip) */
    float *mo;   /* [N, D] MLP output (Gemma: before its post-norm) */
    float *rpf;  /* [N] */
} tr_acts;

struct ttt_trainer {
    ttt_model *model;
    const tr_ops *ops;        /* the device's training ops */
    const ttt_ops *be;        /* ops->be */
    int on_device;            /* buffers live in GPU memory (host mirrors below) */
    ttt_config cfg;
    ttt_train_params p;
    char *regex_src;          /* owned copy of p.regex */
    int n_all;                /* tensors in all */
    tr_tensor *all;           /* [n_all]: trainable first, then frozen */
    int n_train;              /* trainable tensors */
    float *wbuf, *gbuf, *mbuf, *vbuf; /* backend: trainable values, grads, moments */
    float *fbuf;              /* backend: frozen values */
    float *hw, *hg, *hm, *hv, *hf; /* host mirrors (the same blocks on the CPU) */
    int host_stale;           /* device: the device copy is newer than the mirrors */
    int host_dirty;           /* device: the mirrors were handed out and may have changed */
    size_t n_train_el;        /* floats in each trainable block */
    float *gw[TR_NGLOBAL];    /* backend: model-wide values */
    float *gg[TR_NGLOBAL];    /* backend: their gradients (NULL: frozen) */
    float *(*lw)[TR_NSLOT];   /* [L][slot] backend: layer values (NULL: absent) */
    float *(*lg)[TR_NSLOT];   /* [L][slot] backend: layer gradients (NULL: absent or frozen) */
    float *inv_freq[2];       /* [hd/2] backend: RoPE frequencies: global, local */
    int64_t step;             /* optimizer steps taken */

    /* activations for the current batch shape */
    int B, T, cap;            /* cap: rows allocated */
    void *act_block;          /* backend: one allocation behind every buffer below */
    float *cs_block;          /* host: [L, N] the layers' clip scales */
    tr_acts *acts;            /* [L] */
    float *emb;               /* [N, D] embedding output */
    float *xf;                /* [N, D] final norm output */
    float *rf;                /* [N] */
    float *xl;                /* [N, D] last layer's output */
    float *logits;            /* [N, V] logits, then d loss / d logits */
    int32_t *tok;             /* [N] backend: inputs */
    int32_t *lab;             /* [N] backend: labels */
    int32_t *chunk;           /* [N] backend: first row of each row's TTT chunk */
    int32_t *h_chunk;         /* [N] host: the same (the CPU: the same buffer) */
    int32_t *by_tok;          /* [N] backend (GPU only): rows grouped by token, for embed_bwd */
    int32_t *h_by_tok;        /* [N] host: the same */
    int32_t *tok_count;       /* [V + 1] host: counting-sort buckets (GPU only) */
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
    int *seg_beg;             /* [N + 1] host: first row of each segment */
};

/* params.c */
ttt_status tr_params_init(ttt_trainer *t);
void tr_params_free(ttt_trainer *t);

/* trainer.c: the GPU's host mirrors. host_view brings them up to date before the API hands
 * them out; device_view uploads them before the device computes, if they were handed out. */
ttt_status tr_host_view(ttt_trainer *t);
ttt_status tr_device_view(ttt_trainer *t);

/* forward_train.c */
ttt_status tr_acts_reserve(ttt_trainer *t, int B, int T);
void tr_acts_free(ttt_trainer *t);
void tr_forward(ttt_trainer *t);
/* y[n, out] = x[n, in] W^T (+ y) */
void tr_linear(const ttt_trainer *t, float *y, const float *x, const float *W, int n, int out,
               int in, int acc);
/* dx (+)= dy W (dx NULL: skipped); dW += dy^T x (dW NULL: skipped) */
void tr_linear_bwd(const ttt_trainer *t, float *dx, int acc, float *dW, const float *dy,
                   const float *x, const float *W, int n, int out, int in);

/* backward.c */
void tr_backward(ttt_trainer *t);

/* loss.c: logits -> d loss / d logits in place (scaled by `scale`); returns the mean loss */
double tr_loss(ttt_trainer *t, const int32_t *labels_host, float scale);

/* attention: the arguments of layer l (forward_train.c); the CPU ops (attn_train.c) */
tr_attn_args tr_attn_args_of(const ttt_trainer *t, int l);
void tr_cpu_attn(const tr_attn_args *a);
void tr_cpu_attn_bwd(const tr_attn_args *a);

/* ttt_train.c */
void tr_ttt_forward(ttt_trainer *t, int l, const float *tgt, float *out);
/* dout: d loss / d MLP output; adds into t->dz and dtgt; parameter grads as trainable */
void tr_ttt_backward(ttt_trainer *t, int l, const float *tgt, const float *dout, float *dtgt);

#endif
