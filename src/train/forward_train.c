/* forward_train.c - the full-sequence forward of training (spec section 3) over B sequences
 * of T tokens, keeping what backward needs (tr_acts). One allocation in the backend's memory
 * holds every activation and backward buffer; it is sized for B*T rows and grows when a
 * batch needs more. */
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "util/err.h"
#include "util/mem.h"

typedef struct carver {
    float *base; /* NULL: counting pass */
    size_t used; /* floats */
} carver;

/* n floats, each buffer rounded to 16 floats (64-byte alignment) */
static float *carve(carver *cv, size_t n) {
    float *p = cv->base ? cv->base + cv->used : NULL;
    cv->used += (n + 15) & ~(size_t)15;
    return p;
}

static void layout(ttt_trainer *t, carver *cv, size_t N) {
    const ttt_config *c = &t->cfg;
    const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->n_heads;
    const size_t Hkv = (size_t)c->n_kv_heads, qd = H * c->head_dim, kd = Hkv * c->head_dim;
    int any_ttt = 0;
    for (int l = 0; l < c->n_layers; l++) {
        tr_acts *a = &t->acts[l];
        const int ttt = c->layer_ttt[l] && c->ttt_mode;
        any_ttt |= ttt;
        a->x = l ? carve(cv, N * D) : NULL;
        a->h1 = carve(cv, N * D);
        a->r1 = carve(cv, N);
        a->q = carve(cv, N * qd);
        a->k = carve(cv, N * kd);
        a->v = carve(cv, N * kd);
        a->qr = carve(cv, N * qd);
        a->kr = carve(cv, N * kd);
        a->rq = carve(cv, N * H);
        a->rk = carve(cv, N * Hkv);
        a->lse = carve(cv, N * H);
        a->att = carve(cv, N * qd);
        a->ao = carve(cv, N * D);
        a->rpa = carve(cv, N);
        a->xm = carve(cv, N * D);
        a->h2 = carve(cv, N * D);
        a->r2 = carve(cv, N);
        a->g = carve(cv, N * F);
        a->u = carve(cv, N * F);
        a->z = carve(cv, N * F);
        a->U = ttt ? carve(cv, N * D) : NULL;
        a->V = ttt && c->ttt_proj ? carve(cv, N * D) : NULL;
        a->mo = carve(cv, N * D);
        a->rpf = carve(cv, N);
    }
    t->emb = carve(cv, N * D);
    if (cv->base) t->acts[0].x = t->emb;
    t->xf = carve(cv, N * D);
    t->rf = carve(cv, N);
    t->xl = carve(cv, N * D);
    t->logits = carve(cv, N * (size_t)c->n_vocab);
    t->dx = carve(cv, N * D);
    t->dh = carve(cv, N * D);
    t->dt = carve(cv, N * D);
    t->demb = carve(cv, N * D);
    t->dq = carve(cv, N * qd);
    t->dk = carve(cv, N * kd);
    t->dv = carve(cv, N * kd);
    t->datt = carve(cv, N * qd);
    t->dz = carve(cv, N * F);
    t->dg = carve(cv, N * F);
    t->du = carve(cv, N * F);
    t->dU = carve(cv, N * D);
    t->dV = carve(cv, N * D);
    const size_t DF = any_ttt ? D * F : 0;
    t->S = carve(cv, DF);
    t->G = carve(cv, DF);
    t->dW = carve(cv, DF);
    t->Gt = carve(cv, DF);
}

static void free_acts(ttt_trainer *t) {
    const ttt_ops *be = t->be;
    be->free(t->act_block);
    be->free(t->tok);
    be->free(t->lab);
    be->free(t->chunk);
    be->free(t->by_tok);
    if (t->on_device) free(t->h_chunk);
    free(t->h_by_tok);
    free(t->tok_count);
    free(t->cs_block);
    free(t->seg_beg);
    t->act_block = t->tok = t->lab = t->chunk = t->h_chunk = NULL;
    t->by_tok = t->h_by_tok = t->tok_count = NULL;
    t->cs_block = NULL;
    t->seg_beg = NULL;
    t->cap = 0;
}

void tr_acts_free(ttt_trainer *t) { free_acts(t); }

ttt_status tr_acts_reserve(ttt_trainer *t, int B, int T) {
    size_t N;
    if (B <= 0 || T <= 0 || !ttt_mul_size((size_t)B, (size_t)T, &N) || N > (1u << 28))
        return ttt_err(TTT_ERR_ARG, "trainer: bad batch shape B=%d T=%d", B, T);
    t->B = B;
    t->T = T;
    if (N <= (size_t)t->cap) return TTT_OK;
    free_acts(t);
    const ttt_ops *be = t->be;
    carver cv = {0};
    layout(t, &cv, N);
    size_t bytes;
    const int L = t->cfg.n_layers;
    if (!ttt_mul_size(cv.used, sizeof(float), &bytes))
        return ttt_err(TTT_ERR_NOMEM, "trainer: activations for %zu rows overflow", N);
    t->act_block = be->alloc(bytes);
    t->tok = be->alloc(sizeof(int32_t) * N);
    t->lab = be->alloc(sizeof(int32_t) * N);
    t->chunk = be->alloc(sizeof(int32_t) * N);
    t->h_chunk = t->on_device ? malloc(sizeof(int32_t) * N) : t->chunk;
    if (t->on_device) {
        t->by_tok = be->alloc(sizeof(int32_t) * N);
        t->h_by_tok = malloc(sizeof(int32_t) * N);
        t->tok_count = malloc(sizeof(int32_t) * ((size_t)t->cfg.n_vocab + 1));
    }
    t->cs_block = malloc(sizeof(float) * N * (size_t)L);
    t->seg_beg = malloc(sizeof(int) * (N + 1));
    if (!t->act_block || !t->tok || !t->lab || !t->chunk || !t->h_chunk || !t->cs_block ||
        !t->seg_beg || (t->on_device && (!t->by_tok || !t->h_by_tok || !t->tok_count))) {
        free_acts(t);
        return ttt_err(TTT_ERR_NOMEM, "trainer: out of %s memory for the activations of %zu "
                       "tokens (%zu MiB)", t->on_device ? "GPU" : "host", N, bytes >> 20);
    }
    cv = (carver){.base = t->act_block};
    layout(t, &cv, N);
    for (int l = 0; l < L; l++) t->acts[l].cs = t->cs_block + (size_t)l * N;
    t->cap = (int)N;
    return TTT_OK;
}

void tr_linear(const ttt_trainer *t, float *y, const float *x, const float *W, int n, int out,
               int in, int acc) {
    t->ops->gemm(0, 1, n, out, in, 1.0f, x, in, W, in, acc ? 1.0f : 0.0f, y, out);
}

void tr_linear_bwd(const ttt_trainer *t, float *dx, int acc, float *dW, const float *dy,
                   const float *x, const float *W, int n, int out, int in) {
    if (dx) t->ops->gemm(0, 0, n, in, out, 1.0f, dy, out, W, in, acc ? 1.0f : 0.0f, dx, in);
    if (dW) t->ops->gemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, dW, in);
}

tr_attn_args tr_attn_args_of(const ttt_trainer *t, int l) {
    const ttt_config *c = &t->cfg;
    const tr_acts *a = &t->acts[l];
    return (tr_attn_args){.B = t->B, .T = t->T, .H = c->n_heads, .Hkv = c->n_kv_heads,
                          .hd = c->head_dim,
                          .window = c->layer_sliding[l] ? c->sliding_window : 0,
                          .scale = c->attn_scale, .cap = c->attn_softcap, .q = a->qr,
                          .k = a->kr, .v = a->v, .o = a->att, .lse = a->lse, .dout = t->datt,
                          .dq = t->dq, .dk = t->dk, .dv = t->dv};
}

static void layer_forward(ttt_trainer *t, int l) {
    const ttt_config *c = &t->cfg;
    tr_acts *a = &t->acts[l];
    float *const *w = t->lw[l];
    const int N = t->B * t->T, D = c->d_model, F = c->d_ff, hd = c->head_dim;
    const int H = c->n_heads, Hkv = c->n_kv_heads, qd = H * hd, kd = Hkv * hd;
    const int p1 = c->norm_plus1;
    const float eps = c->norm_eps;
    const tr_ops *o = t->ops;
    float *out = l + 1 < c->n_layers ? t->acts[l + 1].x : t->xl;

    o->rmsnorm(a->h1, a->r1, a->x, w[TR_ATTN_NORM], p1, N, D, eps);
    tr_linear(t, a->q, a->h1, w[TR_WQ], N, qd, D, 0);
    tr_linear(t, a->k, a->h1, w[TR_WK], N, kd, D, 0);
    tr_linear(t, a->v, a->h1, w[TR_WV], N, kd, D, 0);
    if (c->qk_norm) {
        o->rmsnorm(a->qr, a->rq, a->q, w[TR_Q_NORM], p1, N * H, hd, eps);
        o->rmsnorm(a->kr, a->rk, a->k, w[TR_K_NORM], p1, N * Hkv, hd, eps);
    } else {
        t->be->copy(a->qr, a->q, sizeof(float) * (size_t)N * qd);
        t->be->copy(a->kr, a->k, sizeof(float) * (size_t)N * kd);
    }
    const float *inv_freq = t->inv_freq[c->layer_sliding[l] ? 1 : 0];
    o->rope(a->qr, N, t->T, H, hd, inv_freq, 0);
    o->rope(a->kr, N, t->T, Hkv, hd, inv_freq, 0);
    const tr_attn_args aa = tr_attn_args_of(t, l);
    o->attn(&aa);
    tr_linear(t, a->ao, a->att, w[TR_WO], N, D, qd, 0);
    if (c->sandwich_norms) {
        o->rmsnorm(t->dh, a->rpa, a->ao, w[TR_POST_ATTN_NORM], p1, N, D, eps);
        o->axpby(a->xm, 1.0f, a->x, 1.0f, t->dh, (size_t)N * D);
    } else {
        o->axpby(a->xm, 1.0f, a->x, 1.0f, a->ao, (size_t)N * D);
    }

    o->rmsnorm(a->h2, a->r2, a->xm, w[TR_FFN_NORM], p1, N, D, eps);
    tr_linear(t, a->g, a->h2, w[TR_GATE], N, F, D, 0);
    tr_linear(t, a->u, a->h2, w[TR_UP], N, F, D, 0);
    o->act(a->z, a->g, a->u, (size_t)N * F, c->act);
    if (a->U) {
        tr_ttt_forward(t, l, c->ttt_target == TTT_TARGET_EMBED ? t->emb : a->h2, a->mo);
    } else {
        tr_linear(t, a->mo, a->z, w[TR_DOWN], N, D, F, 0);
    }
    if (c->sandwich_norms) {
        o->rmsnorm(t->dh, a->rpf, a->mo, w[TR_POST_FFN_NORM], p1, N, D, eps);
        o->axpby(out, 1.0f, a->xm, 1.0f, t->dh, (size_t)N * D);
    } else {
        o->axpby(out, 1.0f, a->xm, 1.0f, a->mo, (size_t)N * D);
    }
}

void tr_forward(ttt_trainer *t) {
    const ttt_config *c = &t->cfg;
    const int N = t->B * t->T, D = c->d_model;
    t->ops->embed(t->emb, t->gw[TR_EMBED], t->tok, N, D, c->embed_scale);
    for (int l = 0; l < c->n_layers; l++) layer_forward(t, l);
    t->ops->rmsnorm(t->xf, t->rf, t->xl, t->gw[TR_FINAL_NORM], c->norm_plus1, N, D,
                    c->norm_eps);
    tr_linear(t, t->logits, t->xf, t->gw[TR_HEAD], N, c->n_vocab, D, 0);
}
