/* forward.c - the decoder, written once against the backend ops (docs/TTT.md).
 *
 * One step runs n tokens at positions n_past.. through every layer. Pre-norm blocks:
 *   Qwen3/Llama: x += Attn(norm(x));            x += MLP(norm(x))
 *   Gemma3:      x += norm(Attn(norm(x)));      x += norm(MLP(norm(x)))
 * In a TTT layer the MLP's down-projection is the session's fast weight S: the rows of the
 * current chunk are multiplied by S, kept as the chunk's pending rows, and when the chunk is
 * complete S += eta * (conv(t) P)^T Z. Since only complete chunks change S, any split of a
 * sequence into calls and steps gives the same outputs. */
#include <math.h>
#include <string.h>

#include "model/model.h"
#include "util/err.h"

ttt_status ttt_fast_update(ttt_session *s, int layer) {
    const ttt_model *m = s->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = s->ops;
    const ttt_layer *L = &m->layers[layer];
    ttt_fast *f = &s->fast[layer];
    const int C = c->ttt_chunk, D = c->d_model, F = c->d_ff;

    if (!s->U) s->U = o->alloc(sizeof(float) * (size_t)C * D);
    if (!s->V) s->V = o->alloc(sizeof(float) * (size_t)C * D);
    if (!s->dW && c->ttt_clip > 0) s->dW = o->alloc(sizeof(float) * (size_t)D * F);
    if (!f->S) {
        f->S = o->alloc(sizeof(float) * (size_t)D * F);
        if (f->S) o->to_f32(f->S, &L->w_down);
    }
    if (!s->U || !s->V || !f->S || (c->ttt_clip > 0 && !s->dW))
        return ttt_err(TTT_ERR_NOMEM, "layer %d: out of memory for the fast-weight update",
                       layer);
    /* the chunk's rows: C, or fewer when a flush folds in a partial chunk */
    const int n = f->tail;
    /* V = conv(t) P: the chunk's values; conv zero-padded inside the chunk */
    o->conv5(s->U, f->tt, L->ttt_conv, n, D, c->ttt_conv_causal ? 4 : 2);
    const float *V = s->U;
    if (L->ttt_proj.data) {
        o->matmul_nt(s->V, s->U, &L->ttt_proj, n);
        V = s->V;
        ttt_status st = o->sync(); /* a failed V must not reach S */
        if (st != TTT_OK) return st;
    }
    /* dW = V^T Z: [D, F] */
    if (c->ttt_clip > 0) {
        o->gemm(1, 0, D, F, n, 1.0f, V, D, f->zt, F, 0.0f, s->dW, F);
        double norm = sqrt(o->sumsq(s->dW, (size_t)D * F));
        float scale = norm > c->ttt_clip ? (float)(c->ttt_clip / norm) : 1.0f;
        o->axpy(f->S, s->dW, c->ttt_lr * scale, (size_t)D * F);
    } else {
        o->gemm(1, 0, D, F, n, c->ttt_lr, V, D, f->zt, F, 1.0f, f->S, F);
    }
    f->tail = 0;
    return TTT_OK;
}

/* out[n, D] = Z S^T chunk by chunk, feeding the rows into the pending chunk. */
static ttt_status mlp_ttt(ttt_session *s, int layer, const float *Z, const float *t, float *out,
                          int n) {
    const ttt_config *c = &s->m->cfg;
    const ttt_ops *o = s->ops;
    const ttt_layer *L = &s->m->layers[layer];
    ttt_fast *f = &s->fast[layer];
    const int C = c->ttt_chunk, D = c->d_model, F = c->d_ff;
    const int learn = s->ttt_mode == TTT_MODE_ON;
    for (int pos = 0; pos < n;) {
        /* learning: up to the end of the pending chunk; frozen: S cannot change, all rows */
        int k = learn ? C - f->tail : n - pos;
        if (k > n - pos) k = n - pos;
        if (f->S) {
            ttt_mat S = {.data = f->S, .dtype = TTT_DT_F32, .rows = D, .cols = F};
            o->matmul(out + (size_t)pos * D, Z + (size_t)pos * F, &S, k, 0);
        } else {
            o->matmul(out + (size_t)pos * D, Z + (size_t)pos * F, &L->w_down, k, 0);
        }
        if (learn) {
            ttt_status st = ttt_fast_reserve(s, layer, f->tail + k);
            if (st != TTT_OK) return st;
            o->copy(f->zt + (size_t)f->tail * F, Z + (size_t)pos * F, sizeof(float) * k * F);
            o->copy(f->tt + (size_t)f->tail * D, t + (size_t)pos * D, sizeof(float) * k * D);
            f->tail += k;
            if (f->tail == C && (st = ttt_fast_update(s, layer)) != TTT_OK) return st;
        }
        pos += k;
    }
    return TTT_OK;
}

static void capture(const ttt_session *s, float *hidden, int hid_n, int row0, int k,
                    const float *x, int n) {
    if (!hidden) return;
    const size_t D = (size_t)s->m->cfg.d_model;
    s->ops->to_host(hidden + ((size_t)k * hid_n + row0) * D, x, sizeof(float) * n * D);
}

void ttt_block_qkv(const ttt_model *m, int l, const float *x, float *xn, float *q, float *k,
                   float *v, int n) {
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = m->ops;
    const ttt_layer *L = &m->layers[l];
    float *const ys[3] = {q, k, v};
    const ttt_mat *const Ws[3] = {&L->wq, &L->wk, &L->wv};
    const ttt_norm_in in = {x, L->attn_norm, c->d_model, c->norm_eps, NULL};
    if (o->matmul_normed && o->matmul_normed(&in, 3, ys, Ws, n, 0, c->act)) return;
    o->rmsnorm(xn, x, L->attn_norm, n, c->d_model, c->norm_eps);
    o->matmul_multi(3, ys, xn, Ws, n);
}

void ttt_block_mid(const ttt_model *m, int l, float *x, float *xn, const float *att, float *o_buf,
                   float *g, float *u, int n) {
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = m->ops;
    const ttt_layer *L = &m->layers[l];
    const int D = c->d_model;
    if (L->post_attn_norm) {
        o->matmul(o_buf, att, &L->wo, n, 0);
        o->rmsnorm(o_buf, o_buf, L->post_attn_norm, n, D, c->norm_eps);
        o->add(x, o_buf, (size_t)n * D);
    } else {
        o->matmul(x, att, &L->wo, n, 1);
    }
    /* gated MLP; Z overwrites the gate buffer (in one op where the backend has it, the
     * norm too; norm(x) is kept only where a TTT layer learns from it) */
    const ttt_mat *const Wgu[2] = {&L->w_gate, &L->w_up};
    const ttt_norm_in in = {x, L->ffn_norm, D, c->norm_eps,
                            L->ttt && c->ttt_target != TTT_TARGET_EMBED ? xn : NULL};
    if (o->matmul_normed && o->matmul_normed(&in, 2, (float *const[]){g, u}, Wgu, n, 1, c->act))
        return;
    o->rmsnorm(xn, x, L->ffn_norm, n, D, c->norm_eps);
    if (o->matmul_act && o->matmul_act(g, xn, &L->w_gate, &L->w_up, n, c->act)) return;
    o->matmul_multi(2, (float *const[]){g, u}, xn, (const ttt_mat *const[]){&L->w_gate, &L->w_up},
                    n);
    o->act_mul(g, u, (size_t)n * c->d_ff, c->act);
}

static ttt_status layer_forward(ttt_session *s, int l, int n, int p0) {
    const ttt_model *m = s->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = s->ops;
    const ttt_layer *L = &m->layers[l];
    const int D = c->d_model, hd = c->head_dim, H = c->n_heads, Hkv = c->n_kv_heads;
    const size_t head_stride = (size_t)s->kv_cap[l] * hd;

    /* attention; the new keys and values join the cache after norm and RoPE */
    ttt_block_qkv(m, l, s->x, s->xn, s->q, s->k, s->v, n);
    if (o->qkv_prep) {
        o->qkv_prep(s->q, s->k, s->v, n, H, Hkv, hd, L->q_norm, L->k_norm, c->norm_eps,
                    L->inv_freq, p0, NULL, s->kc[l], s->vc[l], head_stride);
    } else {
        if (L->q_norm) {
            o->rmsnorm(s->q, s->q, L->q_norm, n * H, hd, c->norm_eps);
            o->rmsnorm(s->k, s->k, L->k_norm, n * Hkv, hd, c->norm_eps);
        }
        o->rope(s->q, n, H, hd, p0, L->inv_freq);
        o->rope(s->k, n, Hkv, hd, p0, L->inv_freq);
        o->kv_store(s->kc[l], head_stride, s->k, n, Hkv, hd, p0);
        o->kv_store(s->vc[l], head_stride, s->v, n, Hkv, hd, p0);
    }
    ttt_attn_params ap = {.n_head = H, .n_head_kv = Hkv, .head_dim = hd,
                          .head_stride = head_stride, .window = L->window,
                          .scale = c->attn_scale, .softcap = c->attn_softcap};
    o->attention(s->att, s->q, s->kc[l], s->vc[l], p0, n, &ap);
    ttt_block_mid(m, l, s->x, s->xn, s->att, s->o, s->g, s->u, n);
    const int fast = L->ttt && s->ttt_mode != TTT_MODE_OFF;
    if (fast) {
        const float *t = c->ttt_target == TTT_TARGET_EMBED ? s->emb : s->xn;
        ttt_status st = mlp_ttt(s, l, s->g, t, s->o, n);
        if (st != TTT_OK) return st;
    }
    if (L->post_ffn_norm) {
        if (!fast) o->matmul(s->o, s->g, &L->w_down, n, 0);
        o->rmsnorm(s->o, s->o, L->post_ffn_norm, n, D, c->norm_eps);
        o->add(s->x, s->o, (size_t)n * D);
    } else if (fast) {
        o->add(s->x, s->o, (size_t)n * D);
    } else {
        o->matmul(s->x, s->g, &L->w_down, n, 1);
    }
    /* a device reports its failures at the end of the step: a wait per layer would leave it
     * idle while the next layer's work is queued */
    return o->device ? TTT_OK : o->sync();
}

static ttt_status logits_buffer(ttt_session *s, int rows) {
    if (rows <= s->lg_rows) return TTT_OK;
    s->ops->free(s->lg);
    s->lg = s->ops->alloc(sizeof(float) * (size_t)rows * s->m->cfg.n_vocab);
    s->lg_rows = s->lg ? rows : 0;
    if (!s->lg)
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for %d rows of logits", s->ops->name,
                       rows);
    return TTT_OK;
}

int ttt_head_wanted(const ttt_head_req *r) {
    return r && (r->logits || r->argmax || r->top_k > 0);
}

static void head_finish(const ttt_ops *o, const ttt_model *m, float *lg, int rows,
                        const ttt_head_req *r) {
    const ttt_config *c = &m->cfg;
    const int V = c->n_vocab, limit = r->limit > 0 && r->limit < V ? r->limit : V;
    if (c->final_softcap > 0) o->softcap(lg, (size_t)rows * V, c->final_softcap);
    if (r->argmax) o->argmax(r->argmax, lg, rows, V, limit);
    if (r->top_k > 0) o->topk(r->top_logit, r->top_id, r->top_lse, lg, rows, V, limit, r->top_k);
    if (o->device && r->logits) o->to_host(r->logits, lg, sizeof(float) * (size_t)rows * V);
}

void ttt_head_apply(const ttt_ops *o, const ttt_model *m, float *lg, const float *h, int rows,
                    const ttt_head_req *r) {
    o->matmul(lg, h, &m->lm_head, rows, 0);
    head_finish(o, m, lg, rows, r);
}

void ttt_head_apply_norm(const ttt_ops *o, const ttt_model *m, float *lg, const float *x,
                         float *xn, int rows, const ttt_head_req *r) {
    const ttt_config *c = &m->cfg;
    const ttt_norm_in in = {x, m->final_norm, c->d_model, c->norm_eps, NULL};
    if (o->matmul_normed &&
        o->matmul_normed(&in, 1, &lg, (const ttt_mat *const[]){&m->lm_head}, rows, 0, c->act)) {
        head_finish(o, m, lg, rows, r);
        return;
    }
    o->rmsnorm(xn, x, m->final_norm, rows, c->d_model, c->norm_eps);
    ttt_head_apply(o, m, lg, xn, rows, r);
}

ttt_status ttt_forward_step(ttt_session *s, const int32_t *tok, int n, const ttt_head_req *r,
                            float *hidden, int hid_n, int hid_row0) {
    const ttt_model *m = s->m;
    const ttt_config *c = &m->cfg;
    const ttt_ops *o = s->ops;
    const int D = c->d_model, Lc = c->n_layers, p0 = s->n_past;

    o->embed(s->x, &m->embed, tok, n, c->embed_scale);
    if (s->emb) o->copy(s->emb, s->x, sizeof(float) * (size_t)n * D);
    capture(s, hidden, hid_n, hid_row0, 0, s->x, n);
    for (int l = 0; l < Lc; l++) {
        ttt_status st = layer_forward(s, l, n, p0);
        if (st != TTT_OK) return st;
        if (l + 1 < Lc) capture(s, hidden, hid_n, hid_row0, l + 1, s->x, n);
    }
    s->n_past += n;

    /* final norm and head: all rows when asked for, else the last row only */
    const int want = ttt_head_wanted(r);
    const int rows = hidden || (want && r->all) ? n : 1;
    const float *xin = s->x + (size_t)(n - rows) * D;
    o->rmsnorm(s->xn, xin, m->final_norm, rows, D, c->norm_eps);
    if (hidden) capture(s, hidden, hid_n, hid_row0, Lc, s->xn, n);
    if (want) {
        const int lrows = r->all ? n : 1;
        /* a device computes into its own buffer and copies out what is asked for; so does the
         * CPU when the logits themselves are not asked for */
        float *lg = r->logits;
        if (o->device || !lg) {
            ttt_status st = logits_buffer(s, lrows);
            if (st != TTT_OK) return st;
            lg = s->lg;
        }
        ttt_head_apply(o, m, lg, s->xn + (size_t)(rows - lrows) * D, lrows, r);
        if (lg == s->lg) s->last_lg = lg + (size_t)(lrows - 1) * c->n_vocab;
    }
    return o->sync();
}
