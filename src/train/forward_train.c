/* forward_train.c - the full-sequence forward of training (spec section 3) over B sequences
 * of T tokens, keeping what backward needs (tr_acts). One allocation holds every
 * activation and backward buffer; it is sized for B*T rows and grows when a batch needs more. */
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
        a->cs = ttt ? carve(cv, N) : NULL;
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

ttt_status tr_acts_reserve(ttt_trainer *t, int B, int T) {
    size_t N;
    if (B <= 0 || T <= 0 || !ttt_mul_size((size_t)B, (size_t)T, &N) || N > (1u << 28))
        return ttt_err(TTT_ERR_ARG, "trainer: bad batch shape B=%d T=%d", B, T);
    t->B = B;
    t->T = T;
    if (N <= (size_t)t->cap) return TTT_OK;
    free(t->act_block);
    free(t->tok);
    free(t->lab);
    free(t->seg);
    free(t->seg_beg);
    t->cap = 0;
    carver cv = {0};
    layout(t, &cv, N);
    size_t bytes;
    if (!ttt_mul_size(cv.used, sizeof(float), &bytes))
        return ttt_err(TTT_ERR_NOMEM, "trainer: activations for %zu rows overflow", N);
    t->act_block = ttt_malloc_aligned(bytes);
    t->tok = malloc(sizeof(int32_t) * N);
    t->lab = malloc(sizeof(int32_t) * N);
    t->seg = malloc(N);
    t->seg_beg = malloc(sizeof(int) * (N + 1));
    if (!t->act_block || !t->tok || !t->lab || !t->seg || !t->seg_beg)
        return ttt_err(TTT_ERR_NOMEM, "trainer: out of memory for the activations of %zu "
                       "tokens (%zu MiB)", N, bytes >> 20);
    cv = (carver){.base = t->act_block};
    layout(t, &cv, N);
    t->cap = (int)N;
    return TTT_OK;
}

static void add3(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static) if (n > TR_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void layer_forward(ttt_trainer *t, int l) {
    const ttt_config *c = &t->cfg;
    tr_acts *a = &t->acts[l];
    float *const *w = t->lw[l];
    const int N = t->B * t->T, D = c->d_model, F = c->d_ff, hd = c->head_dim;
    const int H = c->n_heads, Hkv = c->n_kv_heads, qd = H * hd, kd = Hkv * hd;
    const int p1 = c->norm_plus1;
    const float eps = c->norm_eps;
    float *out = l + 1 < c->n_layers ? t->acts[l + 1].x : t->xl;

    tr_rmsnorm(a->h1, a->r1, a->x, w[TR_ATTN_NORM], p1, N, D, eps);
    tr_linear(a->q, a->h1, w[TR_WQ], N, qd, D, 0);
    tr_linear(a->k, a->h1, w[TR_WK], N, kd, D, 0);
    tr_linear(a->v, a->h1, w[TR_WV], N, kd, D, 0);
    if (c->qk_norm) {
        tr_rmsnorm(a->qr, a->rq, a->q, w[TR_Q_NORM], p1, N * H, hd, eps);
        tr_rmsnorm(a->kr, a->rk, a->k, w[TR_K_NORM], p1, N * Hkv, hd, eps);
    } else {
        memcpy(a->qr, a->q, sizeof(float) * (size_t)N * qd);
        memcpy(a->kr, a->k, sizeof(float) * (size_t)N * kd);
    }
    const float *inv_freq = t->inv_freq[c->layer_sliding[l] ? 1 : 0];
    tr_rope(a->qr, N, t->T, H, hd, inv_freq, 0);
    tr_rope(a->kr, N, t->T, Hkv, hd, inv_freq, 0);
    tr_attn_forward(t, l);
    tr_linear(a->ao, a->att, w[TR_WO], N, D, qd, 0);
    if (c->sandwich_norms) {
        tr_rmsnorm(t->dh, a->rpa, a->ao, w[TR_POST_ATTN_NORM], p1, N, D, eps);
        add3(a->xm, a->x, t->dh, (size_t)N * D);
    } else {
        add3(a->xm, a->x, a->ao, (size_t)N * D);
    }

    tr_rmsnorm(a->h2, a->r2, a->xm, w[TR_FFN_NORM], p1, N, D, eps);
    tr_linear(a->g, a->h2, w[TR_GATE], N, F, D, 0);
    tr_linear(a->u, a->h2, w[TR_UP], N, F, D, 0);
    const size_t NF = (size_t)N * F;
#pragma omp parallel for schedule(static) if (NF > TR_PAR_MIN)
    for (size_t i = 0; i < NF; i++) a->z[i] = tr_act(c->act, a->g[i]) * a->u[i];
    if (a->U) {
        tr_ttt_forward(t, l, c->ttt_target == TTT_TARGET_EMBED ? t->emb : a->h2, a->mo);
    } else {
        tr_linear(a->mo, a->z, w[TR_DOWN], N, D, F, 0);
    }
    if (c->sandwich_norms) {
        tr_rmsnorm(t->dh, a->rpf, a->mo, w[TR_POST_FFN_NORM], p1, N, D, eps);
        add3(out, a->xm, t->dh, (size_t)N * D);
    } else {
        add3(out, a->xm, a->mo, (size_t)N * D);
    }
}

void tr_forward(ttt_trainer *t) {
    const ttt_config *c = &t->cfg;
    const int N = t->B * t->T, D = c->d_model;
    const float *E = t->gw[TR_EMBED];
#pragma omp parallel for schedule(static) if ((size_t)N * D > TR_PAR_MIN)
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++)
            t->emb[(size_t)i * D + d] = E[(size_t)t->tok[i] * D + d] * c->embed_scale;
    for (int l = 0; l < c->n_layers; l++) layer_forward(t, l);
    tr_rmsnorm(t->xf, t->rf, t->xl, t->gw[TR_FINAL_NORM], c->norm_plus1, N, D, c->norm_eps);
    tr_linear(t->logits, t->xf, t->gw[TR_HEAD], N, c->n_vocab, D, 0);
}
