/* session.c - one sequence: KV cache (grown on demand), fast-weight state of each TTT layer,
 * step buffers; splits each call into steps of n_batch tokens. */
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "util/err.h"
#include "util/mem.h"

#define KV_MIN_ROWS 256

ttt_session_params ttt_session_default_params(void) {
    ttt_session_params p = {.n_ctx = 0, .n_batch = 512, .ttt_mode = TTT_MODE_ON};
    return p;
}

static void *alloc_f(ttt_session *s, size_t n, int *fail) {
    size_t bytes;
    if (*fail || !ttt_mul_size(n, sizeof(float), &bytes)) {
        *fail = 1;
        return NULL;
    }
    void *p = s->ops->alloc(bytes);
    if (!p) *fail = 1;
    return p;
}

void ttt_session_free(ttt_session *s) {
    if (!s) return;
    ttt_batch_free(s->solo);
    s->m->n_sessions--;
    const ttt_ops *o = s->ops;
    const int L = s->m->cfg.n_layers;
    for (int i = 0; i < L; i++) {
        if (s->kc) o->free(s->kc[i]);
        if (s->vc) o->free(s->vc[i]);
        if (s->fast) {
            o->free(s->fast[i].S);
            o->free(s->fast[i].zt);
            o->free(s->fast[i].tt);
        }
    }
    free(s->kc);
    free(s->vc);
    free(s->kv_cap);
    free(s->fast);
    float *bufs[] = {s->x, s->xn, s->q, s->k, s->v, s->att, s->g, s->u, s->o, s->emb,
                     s->U, s->V, s->dW, s->lg};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) o->free(bufs[i]);
    free(s);
}

ttt_status ttt_session_init(ttt_model *m, const ttt_session_params *p, ttt_session **out) {
    if (!out) return ttt_err(TTT_ERR_ARG, "ttt_session_init: NULL out");
    *out = NULL;
    if (!m) return ttt_err(TTT_ERR_ARG, "ttt_session_init: NULL model");
    ttt_session_params def = ttt_session_default_params();
    if (!p) p = &def;
    const ttt_config *c = &m->cfg;
    if (p->n_ctx < 0 || p->n_batch < 0)
        return ttt_err(TTT_ERR_ARG, "session: n_ctx and n_batch must be >= 0");
    if (p->ttt_mode < TTT_MODE_OFF || p->ttt_mode > TTT_MODE_FROZEN)
        return ttt_err(TTT_ERR_ARG, "session: unknown TTT mode %d", p->ttt_mode);
    ttt_session *s = calloc(1, sizeof *s);
    if (!s) return ttt_err(TTT_ERR_NOMEM, "session: out of memory");
    s->m = m;
    m->n_sessions++;
    s->ops = m->ops;
    s->n_ctx = p->n_ctx > 0 ? p->n_ctx : c->max_pos;
    s->n_batch = p->n_batch > 0 ? p->n_batch : 512;
    if (s->n_batch > s->n_ctx) s->n_batch = s->n_ctx;
    s->ttt_mode = p->ttt_mode;
    s->kv_es = s->ops->kv_elem_size ? s->ops->kv_elem_size() : sizeof(float);

    const size_t B = (size_t)s->n_batch, D = (size_t)c->d_model, F = (size_t)c->d_ff;
    const size_t HD = (size_t)c->n_heads * c->head_dim;
    const int L = c->n_layers;
    int fail = 0;
    s->kc = calloc((size_t)L, sizeof *s->kc);
    s->vc = calloc((size_t)L, sizeof *s->vc);
    s->kv_cap = calloc((size_t)L, sizeof *s->kv_cap);
    s->fast = calloc((size_t)L, sizeof *s->fast);
    fail = !s->kc || !s->vc || !s->kv_cap || !s->fast;
    s->x = alloc_f(s, B * D, &fail);
    s->xn = alloc_f(s, B * D, &fail);
    s->q = alloc_f(s, B * HD, &fail);
    s->k = alloc_f(s, B * (size_t)c->n_kv_heads * c->head_dim, &fail);
    s->v = alloc_f(s, B * (size_t)c->n_kv_heads * c->head_dim, &fail);
    s->att = alloc_f(s, B * HD, &fail);
    s->g = alloc_f(s, B * F, &fail);
    s->u = alloc_f(s, B * F, &fail);
    s->o = alloc_f(s, B * D, &fail);
    if (c->n_ttt_layers > 0 && c->ttt_target == TTT_TARGET_EMBED)
        s->emb = alloc_f(s, B * D, &fail);
    if (fail) {
        ttt_session_free(s);
        return ttt_err(TTT_ERR_NOMEM, "session: out of memory for buffers of %d tokens",
                       s->n_batch);
    }
    *out = s;
    return TTT_OK;
}

void ttt_session_reset(ttt_session *s) {
    if (!s) return;
    s->n_past = 0;
    s->failed = 0;
    for (int i = 0; i < s->m->cfg.n_layers; i++) {
        s->ops->free(s->fast[i].S);
        s->fast[i].S = NULL;
        s->fast[i].tail = 0;
    }
}

ttt_status ttt_fast_reserve(ttt_session *s, int layer, int rows) {
    ttt_fast *f = &s->fast[layer];
    if (rows <= f->cap) return TTT_OK;
    const ttt_config *c = &s->m->cfg;
    const ttt_ops *o = s->ops;
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff;
    int cap = f->cap > 0 ? f->cap : 64;
    while (cap < rows) cap = cap > c->ttt_chunk / 2 ? c->ttt_chunk : cap * 2;
    if (cap > c->ttt_chunk) cap = c->ttt_chunk;
    float *zt = o->alloc(sizeof(float) * (size_t)cap * F);
    float *tt = zt ? o->alloc(sizeof(float) * (size_t)cap * D) : NULL;
    if (!zt || !tt) {
        o->free(zt);
        return ttt_err(TTT_ERR_NOMEM, "layer %d: out of memory for %d pending TTT rows", layer,
                       cap);
    }
    if (f->tail > 0) {
        o->copy(zt, f->zt, sizeof(float) * (size_t)f->tail * F);
        o->copy(tt, f->tt, sizeof(float) * (size_t)f->tail * D);
    }
    o->free(f->zt);
    o->free(f->tt);
    f->zt = zt;
    f->tt = tt;
    f->cap = cap;
    return TTT_OK;
}

ttt_status ttt_session_set_ttt(ttt_session *s, int mode) {
    if (!s) return ttt_err(TTT_ERR_ARG, "ttt_session_set_ttt: NULL session");
    if (mode < TTT_MODE_OFF || mode > TTT_MODE_FROZEN)
        return ttt_err(TTT_ERR_ARG, "session: unknown TTT mode %d", mode);
    s->ttt_mode = mode;
    return TTT_OK;
}

ttt_status ttt_session_flush(ttt_session *s) {
    if (!s) return ttt_err(TTT_ERR_ARG, "ttt_session_flush: NULL session");
    if (s->failed)
        return ttt_err(TTT_ERR_ARG, "session: an earlier call failed midway; reset it first");
    for (int l = 0; l < s->m->cfg.n_layers; l++) {
        if (s->fast[l].tail == 0) continue;
        ttt_status st = ttt_fast_update(s, l);
        if (st == TTT_OK) st = s->ops->sync();
        if (st != TTT_OK) {
            s->failed = 1; /* some layers folded their rows in, others not */
            return st;
        }
    }
    return TTT_OK;
}

ttt_status ttt_session_clear_kv(ttt_session *s) {
    if (!s) return ttt_err(TTT_ERR_ARG, "ttt_session_clear_kv: NULL session");
    if (s->failed)
        return ttt_err(TTT_ERR_ARG, "session: an earlier call failed midway; reset it first");
    s->n_past = 0;
    for (int l = 0; l < s->m->cfg.n_layers; l++) s->fast[l].tail = 0;
    return TTT_OK;
}

int ttt_session_n_past(const ttt_session *s) { return s ? s->n_past : 0; }
int ttt_session_n_ctx(const ttt_session *s) { return s ? s->n_ctx : 0; }

/* Grows every layer's cache to hold `need` rows (doubling, capped at n_ctx). The cache is
 * head-major, so each head's rows move to their new offset. Layers grow one at a time, each
 * with its own capacity, so a failure leaves every layer consistent and the peak is the
 * cache plus one layer's new buffers. */
ttt_status ttt_session_kv_reserve(ttt_session *s, int need) {
    const ttt_config *c = &s->m->cfg;
    const ttt_ops *o = s->ops;
    const size_t hd = (size_t)c->head_dim, Hkv = (size_t)c->n_kv_heads;
    for (int l = 0; l < c->n_layers; l++) {
        const int old = s->kv_cap[l];
        if (need <= old) continue;
        int cap = old > 0 ? old : KV_MIN_ROWS;
        while (cap < need) cap = cap > s->n_ctx / 2 ? s->n_ctx : cap * 2;
        if (cap > s->n_ctx) cap = s->n_ctx;
        const size_t es = s->kv_es, bytes = Hkv * (size_t)cap * hd * es;
        char *k = o->alloc(bytes), *v = k ? o->alloc(bytes) : NULL;
        if (!k || !v) {
            o->free(k);
            return ttt_err(TTT_ERR_NOMEM, "session: out of memory growing the KV cache to %d "
                           "tokens (%.1f GiB)", cap, (double)bytes * 2 * c->n_layers / (1u << 30));
        }
        for (size_t h = 0; s->kc[l] && h < Hkv; h++) {
            o->copy(k + h * cap * hd * es, (char *)s->kc[l] + h * old * hd * es,
                    es * s->n_past * hd);
            o->copy(v + h * cap * hd * es, (char *)s->vc[l] + h * old * hd * es,
                    es * s->n_past * hd);
        }
        o->free(s->kc[l]);
        o->free(s->vc[l]);
        s->kc[l] = (float *)k;
        s->vc[l] = (float *)v;
        s->kv_cap[l] = cap;
    }
    return TTT_OK;
}

ttt_status ttt_eval_out_check(const ttt_eval_out *out, int V) {
    const int limit = out->argmax_limit > 0 && out->argmax_limit < V ? out->argmax_limit : V;
    if (out->top_k < 0 || out->top_k > TTT_TOP_K_MAX || out->top_k > limit)
        return ttt_err(TTT_ERR_ARG, "eval: top_k %d outside [0, %d]", out->top_k,
                       limit < TTT_TOP_K_MAX ? limit : TTT_TOP_K_MAX);
    if (out->top_k > 0 && (!out->top_logit || !out->top_id))
        return ttt_err(TTT_ERR_ARG, "eval: top_k %d without top_logit and top_id buffers",
                       out->top_k);
    return TTT_OK;
}

ttt_status ttt_session_eval(ttt_session *s, const int32_t *tokens, int n, const ttt_eval_out *out) {
    if (!s) return ttt_err(TTT_ERR_ARG, "ttt_session_eval: NULL session");
    if (s->failed)
        return ttt_err(TTT_ERR_ARG, "session: an earlier eval failed midway; call "
                       "ttt_session_reset before using it again");
    ttt_threads_apply();
    const ttt_config *c = &s->m->cfg;
    ttt_eval_out none = {0};
    if (!out) out = &none;
    ttt_status st;
    s->last_lg = NULL;
    if (n < 0 || (n > 0 && !tokens)) return ttt_err(TTT_ERR_ARG, "eval: bad token array");
    if (n == 0) return TTT_OK;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->n_vocab)
            return ttt_err(TTT_ERR_ARG, "eval: token %d at index %d is out of range [0, %d)",
                           tokens[i], i, c->n_vocab);
    if ((st = ttt_eval_out_check(out, c->n_vocab)) != TTT_OK) return st;
    if (n > s->n_ctx - s->n_past)
        return ttt_err(TTT_ERR_ARG, "eval: %d tokens after %d exceed the context of %d", n,
                       s->n_past, s->n_ctx);
    /* one token on a backend that records its steps (CUDA graphs): the batched step of this
     * one session, whose layers are replayed from a recording (batch.c) */
    if (n == 1 && s->ops->rec_begin && !out->hidden) {
        if (!s->solo && (st = ttt_batch_init(s->m, 1, &s->solo)) != TTT_OK) return st;
        st = ttt_batch_decode_out(s->solo, &s, 1, tokens, out);
        if (st == TTT_OK && !out->logits && (out->argmax || out->top_k > 0))
            s->last_lg = ttt_batch_logits(s->solo, 0);
        return st;
    }
    if ((st = ttt_session_kv_reserve(s, s->n_past + n)) != TTT_OK) return st;
    for (int b0 = 0; b0 < n; b0 += s->n_batch) {
        const int nb = n - b0 < s->n_batch ? n - b0 : s->n_batch;
        const int is_last = b0 + nb == n;
        /* the rows of this step: all of them, or the last step's last row */
        const int all = out->logits_all;
        const size_t r0 = all ? (size_t)b0 : 0;
        ttt_head_req hr = {.limit = out->argmax_limit, .all = all};
        if (all || is_last) {
            hr.logits = out->logits ? out->logits + r0 * c->n_vocab : NULL;
            hr.argmax = out->argmax ? out->argmax + r0 : NULL;
            if (out->top_k > 0) {
                hr.top_k = out->top_k;
                hr.top_logit = out->top_logit + r0 * out->top_k;
                hr.top_id = out->top_id + r0 * out->top_k;
                hr.top_lse = out->top_lse ? out->top_lse + r0 : NULL;
            }
        }
        st = ttt_forward_step(s, tokens + b0, nb, &hr, out->hidden, n, b0);
        if (st != TTT_OK) {
            /* the cache rows and fast weights of some layers already moved on */
            s->failed = 1;
            return st;
        }
    }
    return TTT_OK;
}

ttt_status ttt_session_logits(ttt_session *s, float *logits) {
    if (!s || !logits) return ttt_err(TTT_ERR_ARG, "ttt_session_logits: NULL argument");
    if (!s->last_lg)
        return ttt_err(TTT_ERR_ARG, "session: the last eval kept no logits (it returned them, "
                       "or asked for no argmax or candidates)");
    s->ops->to_host(logits, s->last_lg, sizeof(float) * (size_t)s->m->cfg.n_vocab);
    return s->ops->sync();
}

void ttt_session_cost(const ttt_session *s, int n, int n_logits, ttt_cost *cost) {
    if (!cost) return;
    cost->flops = cost->bytes = 0;
    if (!s) return;
    const ttt_model *m = s->m;
    const ttt_config *c = &m->cfg;
    const double D = c->d_model, F = c->d_ff, hd = c->head_dim;
    const double H = c->n_heads, Hkv = c->n_kv_heads, C = c->ttt_chunk;
    const double per_layer = 2.0 * (D * H * hd * 2 + D * Hkv * hd * 2 + 3 * D * F);
    double flops = n * (per_layer * c->n_layers) + 2.0 * D * c->n_vocab * n_logits;
    /* every matrix once, but only n rows of the embedding, and the head only for logits */
    const double emb_bytes = (double)m->embed.rows * m->embed.cols * ttt_dtype_size(m->embed.dtype);
    const double head_bytes =
        (double)m->lm_head.rows * m->lm_head.cols * ttt_dtype_size(m->lm_head.dtype);
    double bytes = (double)m->weight_bytes - emb_bytes - (c->tie_embeddings ? 0 : head_bytes);
    bytes += n * D * ttt_dtype_size(m->embed.dtype) + (n_logits > 0 ? head_bytes : 0);
    const double kv_row = 2.0 * Hkv * hd * (double)s->kv_es;
    for (int l = 0; l < c->n_layers; l++) {
        const ttt_layer *L = &m->layers[l];
        for (int i = 0; i < n; i++) {
            double ctx = s->n_past + i + 1;
            if (L->window > 0 && ctx > L->window) ctx = L->window;
            flops += 4.0 * H * hd * ctx;
            if (n <= 16) bytes += ctx * kv_row; /* small calls re-read the cache per token */
        }
        if (n > 16) bytes += (s->n_past + n) * kv_row;
        if (L->ttt && s->ttt_mode != TTT_MODE_OFF) {
            /* chunk updates, amortised per token: V = U P and dW = V^T Z */
            if (s->ttt_mode == TTT_MODE_ON)
                flops += n * (2.0 * D * F + (c->ttt_proj ? 2.0 * D * D : 0) + 10.0 * D);
            /* a learned fast weight is read in fp32 instead of W_down as stored */
            if (s->fast[l].S || (s->ttt_mode == TTT_MODE_ON && s->fast[l].tail + n >= C))
                bytes += D * F * (4.0 - ttt_dtype_size(L->w_down.dtype));
        }
    }
    cost->flops = flops;
    cost->bytes = bytes;
}
