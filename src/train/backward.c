/* backward.c - the hand-written backward pass (llm.c style), layer by layer in reverse.
 * t->dx carries d loss / d residual stream; parameter gradients are added into the
 * trainable tensors' buffers (frozen ones have none and are skipped, but the gradient still
 * flows through them to earlier layers). */
#include "train/train.h"

static void layer_backward(ttt_trainer *t, int l) {
    const ttt_config *c = &t->cfg;
    tr_acts *a = &t->acts[l];
    float *const *w = t->lw[l];
    float *const *gw = t->lg[l];
    const int N = t->B * t->T, D = c->d_model, F = c->d_ff, hd = c->head_dim;
    const int H = c->n_heads, Hkv = c->n_kv_heads, qd = H * hd, kd = Hkv * hd;
    const int p1 = c->norm_plus1;
    const tr_ops *o = t->ops;

    /* MLP: out = xm + [norm](mo) */
    const float *dmo = t->dx;
    if (c->sandwich_norms) {
        o->rmsnorm_bwd(t->dh, 0, gw[TR_POST_FFN_NORM], t->dx, a->mo, a->rpf,
                       w[TR_POST_FFN_NORM], p1, N, D);
        dmo = t->dh;
    }
    const int ttt = a->U != NULL, hidden_tgt = ttt && c->ttt_target == TTT_TARGET_HIDDEN;
    if (ttt) {
        t->be->zero(t->dz, sizeof(float) * (size_t)N * F);
        if (hidden_tgt) t->be->zero(t->dt, sizeof(float) * (size_t)N * D);
        tr_ttt_backward(t, l, hidden_tgt ? a->h2 : t->emb, dmo, hidden_tgt ? t->dt : t->demb);
    } else {
        tr_linear_bwd(t, t->dz, 0, gw[TR_DOWN], dmo, a->z, w[TR_DOWN], N, D, F);
    }
    o->act_bwd(t->dg, t->du, t->dz, a->g, a->u, (size_t)N * F, c->act);
    tr_linear_bwd(t, t->dt, hidden_tgt, gw[TR_GATE], t->dg, a->h2, w[TR_GATE], N, F, D);
    tr_linear_bwd(t, t->dt, 1, gw[TR_UP], t->du, a->h2, w[TR_UP], N, F, D);
    o->rmsnorm_bwd(t->dx, 1, gw[TR_FFN_NORM], t->dt, a->xm, a->r2, w[TR_FFN_NORM], p1, N, D);

    /* attention: xm = x + [norm](ao) */
    const float *dao = t->dx;
    if (c->sandwich_norms) {
        o->rmsnorm_bwd(t->dh, 0, gw[TR_POST_ATTN_NORM], t->dx, a->ao, a->rpa,
                       w[TR_POST_ATTN_NORM], p1, N, D);
        dao = t->dh;
    }
    tr_linear_bwd(t, t->datt, 0, gw[TR_WO], dao, a->att, w[TR_WO], N, D, qd);
    const tr_attn_args aa = tr_attn_args_of(t, l);
    o->attn_bwd(&aa);
    const float *inv_freq = t->inv_freq[c->layer_sliding[l] ? 1 : 0];
    o->rope(t->dq, N, t->T, H, hd, inv_freq, 1);
    o->rope(t->dk, N, t->T, Hkv, hd, inv_freq, 1);
    if (c->qk_norm) {
        o->rmsnorm_bwd(t->dq, 0, gw[TR_Q_NORM], t->dq, a->q, a->rq, w[TR_Q_NORM], p1, N * H,
                       hd);
        o->rmsnorm_bwd(t->dk, 0, gw[TR_K_NORM], t->dk, a->k, a->rk, w[TR_K_NORM], p1, N * Hkv,
                       hd);
    }
    tr_linear_bwd(t, t->dh, 0, gw[TR_WQ], t->dq, a->h1, w[TR_WQ], N, qd, D);
    tr_linear_bwd(t, t->dh, 1, gw[TR_WK], t->dk, a->h1, w[TR_WK], N, kd, D);
    tr_linear_bwd(t, t->dh, 1, gw[TR_WV], t->dv, a->h1, w[TR_WV], N, kd, D);
    o->rmsnorm_bwd(t->dx, 1, gw[TR_ATTN_NORM], t->dh, a->x, a->r1, w[TR_ATTN_NORM], p1, N, D);
}

void tr_backward(ttt_trainer *t) {
    const ttt_config *c = &t->cfg;
    const int N = t->B * t->T, D = c->d_model;
    tr_linear_bwd(t, t->dh, 0, t->gg[TR_HEAD], t->logits, t->xf, t->gw[TR_HEAD], N,
                  c->n_vocab, D);
    t->ops->rmsnorm_bwd(t->dx, 0, t->gg[TR_FINAL_NORM], t->dh, t->xl, t->rf,
                        t->gw[TR_FINAL_NORM], c->norm_plus1, N, D);
    t->be->zero(t->demb, sizeof(float) * (size_t)N * D);
    for (int l = c->n_layers - 1; l >= 0; l--) layer_backward(t, l);
    if (t->gg[TR_EMBED])
        t->ops->embed_bwd(t->gg[TR_EMBED], t->dx, t->demb, t->tok, t->by_tok, N, D,
                          c->embed_scale);
}
