/* model.h - the loaded model and the session state behind the opaque public types. */
#ifndef TTT_MODEL_MODEL_H
#define TTT_MODEL_MODEL_H

#include "io/safetensors.h"
#include "model/backend.h"
#include "model/config.h"
#include "ttt.h"

typedef struct ttt_layer {
    float *attn_norm;      /* [D] input_layernorm (Gemma: stored as 1 + w) */
    float *post_attn_norm; /* [D] Gemma post_attention_layernorm; NULL otherwise */
    float *ffn_norm;       /* [D] post_attention_layernorm, or Gemma pre_feedforward_layernorm */
    float *post_ffn_norm;  /* [D] Gemma post_feedforward_layernorm; NULL otherwise */
    float *q_norm;         /* [hd] Qwen3 and Gemma3; NULL for Llama */
    float *k_norm;         /* [hd] */
    ttt_mat wq;            /* [H*hd, D] */
    ttt_mat wk;            /* [Hkv*hd, D] */
    ttt_mat wv;            /* [Hkv*hd, D] */
    ttt_mat wo;            /* [D, H*hd] */
    ttt_mat w_gate;        /* [F, D] */
    ttt_mat w_up;          /* [F, D] */
    ttt_mat w_down;        /* [D, F] slow weight; a session's fast weight starts from it */
    int ttt;               /* 1: down_proj is a fast weight */
    float *ttt_conv;       /* [5, D] depthwise kernel, transposed from HF's [D, 1, 5] */
    ttt_mat ttt_proj;      /* [D, D] W_target as stored (V = U P); data NULL without it */
    int window;            /* sliding window (tokens seen, itself included); 0: full */
    const float *inv_freq; /* [hd/2] RoPE frequencies for this layer's attention kind */
} ttt_layer;

struct ttt_model {
    ttt_config cfg;
    const ttt_ops *ops;
    ttt_st_set st;          /* the mapped checkpoint the ttt_mat views point into */
    ttt_mat embed;          /* [V, D] */
    ttt_mat lm_head;        /* [V, D]; the embedding when tied */
    float *final_norm;      /* [D] */
    ttt_layer *layers;      /* [L] */
    float *inv_freq_global; /* [hd/2] */
    float *inv_freq_local;  /* [hd/2] */
    float *vecs;            /* one allocation holding every float32 vector above */
    size_t n_vecs;          /* floats in vecs */
    int precision;          /* TTT_PREC_* the model was loaded with */
    void **dev_bufs;        /* [n_dev_bufs] device copies of the weights (device backends) */
    int n_dev_bufs;
    uint64_t n_params;
    uint64_t weight_bytes;
    ttt_dtype dtype;        /* type of most matrix bytes */
    _Atomic int n_sessions; /* live sessions: the TTT parameters are fixed while > 0 */
};

/* Fast-weight state of one TTT layer in one session (docs/TTT.md section 4). */
typedef struct ttt_fast {
    float *S;  /* [D, F] fp32 fast weight; NULL while it still equals W_down */
    float *zt; /* [cap, F] Z rows of the pending (incomplete) chunk */
    float *tt; /* [cap, D] target rows of the pending chunk */
    int tail;  /* rows pending, < C */
    int cap;   /* rows allocated: grows with the pending chunk, at most C */
} ttt_fast;

struct ttt_session {
    ttt_model *m;
    const ttt_ops *ops;
    int n_ctx;      /* most tokens */
    int n_batch;    /* rows per forward step */
    int ttt_mode;   /* TTT_MODE_* */
    int n_past;     /* tokens in the cache */
    int failed;     /* an eval failed midway: state is inconsistent until a reset */
    int *kv_cap;    /* [L] rows allocated in each layer's cache */
    size_t kv_es;   /* bytes per cache element (the backend's choice) */
    float **kc;     /* [L] -> [Hkv, kv_cap[l], hd] keys after norm and RoPE (head-major) */
    float **vc;     /* [L] -> [Hkv, kv_cap[l], hd] */
    ttt_fast *fast; /* [L]; only TTT layers have buffers */
    /* step buffers, n_batch rows each */
    float *x;       /* [B, D] residual stream */
    float *xn;      /* [B, D] normed input of a block */
    float *q;       /* [B, H*hd] */
    float *k;       /* [B, Hkv*hd] new keys, before they go into the cache */
    float *v;       /* [B, Hkv*hd] */
    float *att;     /* [B, H*hd] */
    float *g;       /* [B, F] gate, then Z */
    float *u;       /* [B, F] */
    float *o;       /* [B, D] block output */
    float *emb;     /* [B, D] embedding output (TTT target input_embed); NULL if unused */
    /* chunk-update buffers, made at the first update */
    float *U;       /* [C, D] conv output */
    float *V;       /* [C, D] U P */
    float *dW;      /* [D, F] a chunk's update, only with ttt_clip */
    float *lg;      /* [lg_rows, V] logits in device memory (device backends), on demand */
    int lg_rows;
    ttt_batch *solo; /* one-token steps on a backend that records them (session.c), on demand */
    const float *last_lg; /* [V] in backend memory: the last eval's last logits when they stayed
                             there (ttt_session_logits), else NULL */
};

/* What the head of a step writes to host memory, each pointer at the step's first row. */
typedef struct ttt_head_req {
    float *logits;     /* NULL or [rows, V] */
    int32_t *argmax;   /* NULL or [rows]: the ids of the largest logits below limit */
    float *top_logit;  /* [rows, top_k] when top_k > 0: the top_k largest below limit */
    int32_t *top_id;   /* [rows, top_k] */
    float *top_lse;    /* NULL or [rows]: each row's log-sum-exp (with top_k) */
    int top_k;         /* 0: none */
    int limit;         /* <= 0: the whole vocabulary */
    int all;           /* every row of the step, else the last */
} ttt_head_req;

/* TTT_ERR_ARG (with a message) when out's argmax limit or top-k request is malformed. */
ttt_status ttt_eval_out_check(const ttt_eval_out *out, int V);
/* 1 when the request asks for anything. */
int ttt_head_wanted(const ttt_head_req *r);
/* The head over `rows` final-norm rows h [rows, D] (backend memory): logits into lg (backend
 * memory, [rows, V]), then what r asks for. */
/* batch.c: row i's logits of the batch's last step, in backend memory (NULL: none) */
const float *ttt_batch_logits(const ttt_batch *b, int i);
void ttt_head_apply(const ttt_ops *o, const ttt_model *m, float *lg, const float *h, int rows,
                    const ttt_head_req *r);
/* The same from the residual stream x [rows, D]: the final norm folded into the head's
 * product where the backend can (ttt_ops.matmul_normed), else into xn [rows, D] first. */
void ttt_head_apply_norm(const ttt_ops *o, const ttt_model *m, float *lg, const float *x,
                         float *xn, int rows, const ttt_head_req *r);

/* Runs n (<= n_batch) tokens at positions n_past.. through the model; the head's outputs as
 * r asks (NULL: none). hidden: NULL or the caller's [L+1, hid_n, D] buffer, rows from
 * hid_row0. */
ttt_status ttt_forward_step(ttt_session *s, const int32_t *tok, int n, const ttt_head_req *r,
                            float *hidden, int hid_n, int hid_row0);

/* The middle of decoder layer l over n rows: x += attention output through W_o (Gemma: normed
 * first), then Z = act(xn W_gate^T) * (xn W_up^T) into g with xn the MLP's normed input
 * (u: scratch). xn holds the normed input afterwards where a TTT layer learns from it (target
 * not the embedding); elsewhere it is scratch. o_buf: [n, D] scratch. Shared by the
 * one-sequence and batched steps. */
/* The attention's inputs q, k, v [n, *] from the residual stream x: norm, then Q/K/V (xn is
 * scratch for the norm where the backend does not fold it into the products). */
void ttt_block_qkv(const ttt_model *m, int l, const float *x, float *xn, float *q, float *k,
                   float *v, int n);
void ttt_block_mid(const ttt_model *m, int l, float *x, float *xn, const float *att, float *o_buf,
                   float *g, float *u, int n);

/* Device backends: replaces every weight view and float32 vector of a loaded model by a copy
 * in the backend's memory, matrices converted to wt (TTT_DT_BF16 or TTT_DT_F32). */
ttt_status ttt_model_upload(ttt_model *m, ttt_dtype wt);
void ttt_model_release(ttt_model *m);

/* Applies ttt_set_threads to the calling thread (OpenMP counts are per thread). */
void ttt_threads_apply(void);

/* Grows every layer's KV cache to hold `need` rows (contents kept). */
ttt_status ttt_session_kv_reserve(ttt_session *s, int need);

/* Grows a TTT layer's pending-chunk buffers to hold `rows` rows. */
ttt_status ttt_fast_reserve(ttt_session *s, int layer, int rows);

/* The fast-weight update after a complete chunk (conv, projection, S += eta V^T Z). */
ttt_status ttt_fast_update(ttt_session *s, int layer);

#endif
