/* batch.c - several sessions decoding together (ttt_batch_*): one token per session per call,
 * the rows of all sessions stacked so that every shared weight is read once per step.
 *
 * What is per row and what is shared:
 *   shared: embedding, norms, Q/K/V/O, gate/up, W_down of layers (or rows) without a learned
 *           fast weight, the head: one GEMM over all rows;
 *   per row: RoPE position, KV cache (rope_rows, kv_store_rows, attention_rows read the
 *           rows' descriptors), and in TTT layers the fast weight S of the row's session,
 *           the session's pending chunk and its update when the chunk completes.
 * The layer order of work is that of forward.c, so a batched step equals a one-token
 * ttt_session_eval of each session (same ops, same order of float operations per row). */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/err.h"
#include "util/mem.h"

struct ttt_batch {
    ttt_model *m;
    const ttt_ops *ops;
    int cap;            /* most rows (sessions) per call */
    float *x;           /* [cap, D] residual stream */
    float *xn;          /* [cap, D] */
    float *q;           /* [cap, H*hd] */
    float *k;           /* [cap, Hkv*hd] */
    float *v;           /* [cap, Hkv*hd] */
    float *att;         /* [cap, H*hd] */
    float *g;           /* [cap, F] gate, then Z */
    float *u;           /* [cap, F] */
    float *o;           /* [cap, D] */
    float *emb;         /* [cap, D] embedding output (TTT target input_embed); NULL if unused */
    float *lg;          /* [cap, V] logits (device backends; on the CPU, for argmax alone) */
    ttt_row_kv *rows_h; /* [L, cap] row descriptors, host */
    ttt_row_kv *rows_d; /* [L, cap] the same in the backend's memory */
    float **dst_h;      /* [L, 2, cap] where each row's Z and target go in its session's
                           pending chunk (NULL: the row does not learn in that layer) */
    float **dst_d;      /* [L, 2, cap] the same in the backend's memory */
};

void ttt_batch_free(ttt_batch *b) {
    if (!b) return;
    const ttt_ops *o = b->ops;
    float *bufs[] = {b->x, b->xn, b->q, b->k, b->v, b->att, b->g, b->u, b->o, b->emb, b->lg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) o->free(bufs[i]);
    o->free(b->rows_d);
    free(b->rows_h);
    o->free(b->dst_d);
    free(b->dst_h);
    b->m->n_sessions--;
    free(b);
}

static float *alloc_rows(const ttt_ops *o, int cap, size_t width, int *fail) {
    size_t n, bytes;
    if (*fail || !ttt_mul_size((size_t)cap, width, &n) || !ttt_mul_size(n, sizeof(float), &bytes)) {
        *fail = 1;
        return NULL;
    }
    float *p = o->alloc(bytes);
    if (!p) *fail = 1;
    return p;
}

ttt_status ttt_batch_init(ttt_model *m, int max_seqs, ttt_batch **out) {
    if (!out) return ttt_err(TTT_ERR_ARG, "ttt_batch_init: NULL out");
    *out = NULL;
    if (!m) return ttt_err(TTT_ERR_ARG, "ttt_batch_init: NULL model");
    if (max_seqs < 1 || max_seqs > 65536)
        return ttt_err(TTT_ERR_ARG, "batch: max_seqs %d is outside [1, 65536]", max_seqs);
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = m->ops;
    ttt_batch *b = calloc(1, sizeof *b);
    if (!b) return ttt_err(TTT_ERR_NOMEM, "batch: out of memory");
    b->m = m;
    b->ops = o;
    b->cap = max_seqs;
    m->n_sessions++; /* like a session, a batch pins the TTT parameters */
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff;
    const size_t HD = (size_t)c->n_heads * c->head_dim, KD = (size_t)c->n_kv_heads * c->head_dim;
    int fail = 0;
    b->x = alloc_rows(o, max_seqs, D, &fail);
    b->xn = alloc_rows(o, max_seqs, D, &fail);
    b->q = alloc_rows(o, max_seqs, HD, &fail);
    b->k = alloc_rows(o, max_seqs, KD, &fail);
    b->v = alloc_rows(o, max_seqs, KD, &fail);
    b->att = alloc_rows(o, max_seqs, HD, &fail);
    b->g = alloc_rows(o, max_seqs, F, &fail);
    b->u = alloc_rows(o, max_seqs, F, &fail);
    b->o = alloc_rows(o, max_seqs, D, &fail);
    if (c->n_ttt_layers > 0 && c->ttt_target == TTT_TARGET_EMBED)
        b->emb = alloc_rows(o, max_seqs, D, &fail);
    b->lg = alloc_rows(o, max_seqs, (size_t)c->n_vocab, &fail);
    const size_t n_rows = (size_t)c->n_layers * max_seqs;
    if (!fail) {
        b->rows_h = calloc(n_rows, sizeof *b->rows_h);
        b->rows_d = o->alloc(n_rows * sizeof *b->rows_d);
        b->dst_h = calloc(2 * n_rows, sizeof *b->dst_h);
        b->dst_d = o->alloc(2 * n_rows * sizeof *b->dst_d);
        fail = !b->rows_h || !b->rows_d || !b->dst_h || !b->dst_d;
    }
    if (fail) {
        ttt_batch_free(b);
        return ttt_err(TTT_ERR_NOMEM, "batch: out of memory for buffers of %d sequences",
                       max_seqs);
    }
    *out = b;
    return TTT_OK;
}

/* The MLP's down-projection of n rows into b->o: W_down in one GEMM for the rows that use it,
 * each learned fast weight S for its own row; then the learning rows join their sessions'
 * pending chunks (one copy_rows each for Z and the target, to places fixed at the start of
 * the step), and a completed chunk updates that session's S. */
static ttt_status mlp_down(ttt_batch *b, ttt_session *const *ss, int l, int n) {
    const ttt_model *m = b->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = b->ops;
    const ttt_layer *L = &m->layers[l];
    const int D = c->d_model, F = c->d_ff;
    int shared = 0, learn = 0;
    for (int i = 0; i < n; i++) {
        if (!L->ttt || ss[i]->ttt_mode == TTT_MODE_OFF || !ss[i]->fast[l].S) shared = 1;
        if (L->ttt && ss[i]->ttt_mode == TTT_MODE_ON) learn = 1;
    }
    if (shared) o->matmul(b->o, b->g, &L->w_down, n, 0);
    if (!L->ttt) return TTT_OK;
    for (int i = 0; i < n; i++) {
        const ttt_fast *f = &ss[i]->fast[l];
        if (ss[i]->ttt_mode == TTT_MODE_OFF || !f->S) continue;
        ttt_mat S = {.data = f->S, .dtype = TTT_DT_F32, .rows = D, .cols = F};
        o->matmul(b->o + (size_t)i * D, b->g + (size_t)i * F, &S, 1, 0);
    }
    if (!learn) return TTT_OK;
    float *const *dst = b->dst_d + (size_t)l * 2 * b->cap;
    o->copy_rows(dst, b->g, n, (size_t)F);
    o->copy_rows(dst + b->cap, c->ttt_target == TTT_TARGET_EMBED ? b->emb : b->xn, n, (size_t)D);
    for (int i = 0; i < n; i++) {
        ttt_fast *f = &ss[i]->fast[l];
        if (ss[i]->ttt_mode != TTT_MODE_ON) continue;
        ttt_status st;
        if (++f->tail == c->ttt_chunk && (st = ttt_fast_update(ss[i], l)) != TTT_OK) return st;
    }
    return TTT_OK;
}

/* Before the step: room for one more pending row in every learning (session, TTT layer), and
 * where that row goes. Nothing has moved yet if this fails. */
static ttt_status pending_slots(ttt_batch *b, ttt_session *const *ss, int n) {
    const ttt_config *c = &b->m->cfg;
    for (int l = 0; l < c->n_layers; l++) {
        float **dz = b->dst_h + (size_t)l * 2 * b->cap, **dt = dz + b->cap;
        for (int i = 0; i < n; i++) {
            dz[i] = dt[i] = NULL;
            if (!b->m->layers[l].ttt || ss[i]->ttt_mode != TTT_MODE_ON) continue;
            ttt_fast *f = &ss[i]->fast[l];
            ttt_status st = ttt_fast_reserve(ss[i], l, f->tail + 1);
            if (st != TTT_OK) return st;
            dz[i] = f->zt + (size_t)f->tail * c->d_ff;
            dt[i] = f->tt + (size_t)f->tail * c->d_model;
        }
    }
    return TTT_OK;
}

static ttt_status layer_step(ttt_batch *b, ttt_session *const *ss, int l, int n, int max_pos) {
    const ttt_model *m = b->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = b->ops;
    const ttt_layer *L = &m->layers[l];
    const int D = c->d_model, hd = c->head_dim, H = c->n_heads, Hkv = c->n_kv_heads;
    const ttt_row_kv *rows = b->rows_d + (size_t)l * b->cap;

    o->rmsnorm(b->xn, b->x, L->attn_norm, n, D, c->norm_eps);
    o->matmul_multi(3, (float *const[]){b->q, b->k, b->v}, b->xn,
                    (const ttt_mat *const[]){&L->wq, &L->wk, &L->wv}, n);
    if (o->qkv_prep) {
        o->qkv_prep(b->q, b->k, b->v, n, H, Hkv, hd, L->q_norm, L->k_norm, c->norm_eps,
                    L->inv_freq, 0, rows, NULL, NULL, 0);
    } else {
        if (L->q_norm) {
            o->rmsnorm(b->q, b->q, L->q_norm, n * H, hd, c->norm_eps);
            o->rmsnorm(b->k, b->k, L->k_norm, n * Hkv, hd, c->norm_eps);
        }
        o->rope_rows(b->q, n, H, hd, rows, L->inv_freq);
        o->rope_rows(b->k, n, Hkv, hd, rows, L->inv_freq);
        o->kv_store_rows(rows, b->k, b->v, n, Hkv, hd);
    }
    ttt_attn_params ap = {.n_head = H, .n_head_kv = Hkv, .head_dim = hd, .head_stride = 0,
                          .window = L->window, .scale = c->attn_scale,
                          .softcap = c->attn_softcap};
    o->attention_rows(b->att, b->q, rows, n, max_pos, &ap);
    ttt_block_mid(m, l, b->x, b->xn, b->att, b->o, b->g, b->u, n);
    if (!L->ttt && !L->post_ffn_norm) { /* the plain MLP adds straight into the residual */
        o->matmul(b->x, b->g, &L->w_down, n, 1);
    } else {
        ttt_status st = mlp_down(b, ss, l, n);
        if (st != TTT_OK) return st;
        if (L->post_ffn_norm) o->rmsnorm(b->o, b->o, L->post_ffn_norm, n, D, c->norm_eps);
        o->add(b->x, b->o, (size_t)n * D);
    }
    return o->device ? TTT_OK : o->sync();
}

static ttt_status check_args(const ttt_batch *b, ttt_session *const *ss, int n,
                             const int32_t *tokens) {
    if (!b) return ttt_err(TTT_ERR_ARG, "ttt_batch_decode: NULL batch");
    if (n < 1 || n > b->cap)
        return ttt_err(TTT_ERR_ARG, "batch: %d sessions, want 1 to %d (max_seqs)", n, b->cap);
    if (!ss || !tokens) return ttt_err(TTT_ERR_ARG, "ttt_batch_decode: NULL sessions or tokens");
    for (int i = 0; i < n; i++) {
        const ttt_session *s = ss[i];
        if (!s) return ttt_err(TTT_ERR_ARG, "batch: session %d is NULL", i);
        if (s->m != b->m) return ttt_err(TTT_ERR_ARG, "batch: session %d is of another model", i);
        if (s->failed)
            return ttt_err(TTT_ERR_ARG, "batch: session %d failed midway earlier; reset it", i);
        if (s->n_past >= s->n_ctx)
            return ttt_err(TTT_ERR_ARG, "batch: session %d is full (%d tokens)", i, s->n_ctx);
        if (tokens[i] < 0 || tokens[i] >= b->m->cfg.n_vocab)
            return ttt_err(TTT_ERR_ARG, "batch: token %d of session %d is out of range [0, %d)",
                           tokens[i], i, b->m->cfg.n_vocab);
        for (int j = 0; j < i; j++)
            if (ss[j] == s)
                return ttt_err(TTT_ERR_ARG, "batch: session %d is passed twice (also as %d)", i,
                               j);
    }
    return TTT_OK;
}

static ttt_status decode(ttt_batch *b, ttt_session *const *ss, int n, const int32_t *tokens,
                         const ttt_head_req *r) {
    const ttt_model *m = b->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = b->ops;
    const int D = c->d_model, hd = c->head_dim;
    int max_pos = 0;
    for (int l = 0; l < c->n_layers; l++)
        for (int i = 0; i < n; i++) {
            const ttt_session *s = ss[i];
            b->rows_h[(size_t)l * b->cap + i] = (ttt_row_kv){
                .kc = s->kc[l], .vc = s->vc[l], .head_stride = (size_t)s->kv_cap[l] * hd,
                .pos = s->n_past};
            if (s->n_past > max_pos) max_pos = s->n_past;
        }
    /* every layer's rows in one copy (the unused tail of each layer's block too) */
    o->to_backend(b->rows_d, b->rows_h, sizeof *b->rows_h * (size_t)c->n_layers * b->cap);
    o->to_backend(b->dst_d, b->dst_h, sizeof *b->dst_h * (size_t)c->n_layers * 2 * b->cap);

    o->embed(b->x, &m->embed, tokens, n, c->embed_scale);
    if (b->emb) o->copy(b->emb, b->x, sizeof(float) * (size_t)n * D);
    for (int l = 0; l < c->n_layers; l++) {
        ttt_status st = layer_step(b, ss, l, n, max_pos);
        if (st != TTT_OK) return st;
    }
    for (int i = 0; i < n; i++) ss[i]->n_past++;
    if (ttt_head_wanted(r)) {
        o->rmsnorm(b->xn, b->x, m->final_norm, n, D, c->norm_eps);
        ttt_head_apply(o, m, o->device || !r->logits ? b->lg : r->logits, b->xn, n, r);
    }
    return o->sync();
}

ttt_status ttt_batch_decode(ttt_batch *b, ttt_session *const *ss, int n, const int32_t *tokens,
                            float *logits) {
    return ttt_batch_decode_out(b, ss, n, tokens, &(ttt_eval_out){.logits = logits});
}

ttt_status ttt_batch_decode_argmax(ttt_batch *b, ttt_session *const *ss, int n,
                                   const int32_t *tokens, float *logits, int32_t *argmax) {
    return ttt_batch_decode_out(b, ss, n, tokens,
                                &(ttt_eval_out){.logits = logits, .argmax = argmax});
}

ttt_status ttt_batch_decode_out(ttt_batch *b, ttt_session *const *ss, int n,
                                const int32_t *tokens, const ttt_eval_out *out) {
    ttt_eval_out none = {0};
    if (!out) out = &none;
    if (out->hidden) return ttt_err(TTT_ERR_ARG, "batch: hidden states are not returned");
    ttt_status st = check_args(b, ss, n, tokens);
    if (st != TTT_OK) return st;
    if ((st = ttt_eval_out_check(out, b->m->cfg.n_vocab)) != TTT_OK) return st;
    ttt_threads_apply();
    /* caches grow before anything moves, so a failure here leaves every session as it was */
    for (int i = 0; i < n; i++)
        if ((st = ttt_session_kv_reserve(ss[i], ss[i]->n_past + 1)) != TTT_OK) return st;
    if ((st = pending_slots(b, ss, n)) != TTT_OK) return st;
    const ttt_head_req hr = {.logits = out->logits, .argmax = out->argmax,
                             .top_logit = out->top_logit, .top_id = out->top_id,
                             .top_k = out->top_k, .limit = out->argmax_limit, .all = 1};
    st = decode(b, ss, n, tokens, &hr);
    if (st != TTT_OK)
        for (int i = 0; i < n; i++) ss[i]->failed = 1;
    return st;
}
