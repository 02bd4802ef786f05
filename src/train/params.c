/* params.c - the trainer's tensors: the list of HF names the config implies, the freeze
 * policy, and fp32 copies (trainable: value, gradient, two moments, one block each) in the
 * backend's memory, with host mirrors on a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"
#include "util/err.h"
#include "util/mem.h"

static const char *const SLOT_NAME[TR_NSLOT] = {
    "input_layernorm.weight", "post_attention_layernorm.weight",
    "pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight",
    "self_attn.q_norm.weight", "self_attn.k_norm.weight", "self_attn.q_proj.weight",
    "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    "mlp.ttt_conv.weight", "mlp.ttt_proj.weight"};

/* A tensor's place: layer (-1: model-wide) and slot. */
typedef struct tr_place {
    int layer;
    int slot;
} tr_place;

static int slot_present(const ttt_config *c, int l, int s) {
    const int gemma = c->arch == TTT_ARCH_GEMMA3;
    switch (s) {
    case TR_POST_ATTN_NORM: return 1; /* Qwen/Llama: this HF name is the pre-MLP norm */
    case TR_FFN_NORM:
    case TR_POST_FFN_NORM: return gemma;
    case TR_Q_NORM:
    case TR_K_NORM: return c->qk_norm;
    case TR_CONV: return c->layer_ttt[l];
    case TR_PROJ: return c->layer_ttt[l] && c->ttt_proj;
    default: return 1;
    }
}

/* Non-Gemma models call their pre-MLP norm post_attention_layernorm: that tensor lands in
 * the FFN slot. */
static int slot_of(const ttt_config *c, int s) {
    if (s == TR_POST_ATTN_NORM && c->arch != TTT_ARCH_GEMMA3) return TR_FFN_NORM;
    return s;
}

static void shape_of(const ttt_config *c, int layer, int s, tr_tensor *T) {
    const int64_t D = c->d_model, F = c->d_ff, hd = c->head_dim;
    const int64_t qd = (int64_t)c->n_heads * hd, kd = (int64_t)c->n_kv_heads * hd;
    int64_t sh[3] = {0, 0, 0};
    int nd = 2;
    if (layer < 0) {
        if (s == TR_FINAL_NORM) nd = 1, sh[0] = D;
        else sh[0] = c->n_vocab, sh[1] = D;
    } else {
        switch (s) {
        case TR_Q_NORM:
        case TR_K_NORM: nd = 1, sh[0] = hd; break;
        case TR_WQ: sh[0] = qd, sh[1] = D; break;
        case TR_WK:
        case TR_WV: sh[0] = kd, sh[1] = D; break;
        case TR_WO: sh[0] = D, sh[1] = qd; break;
        case TR_GATE:
        case TR_UP: sh[0] = F, sh[1] = D; break;
        case TR_DOWN: sh[0] = D, sh[1] = F; break;
        case TR_CONV: nd = 3, sh[0] = D, sh[1] = 1, sh[2] = 5; break;
        case TR_PROJ: sh[0] = D, sh[1] = D; break;
        default: nd = 1, sh[0] = D; break;
        }
    }
    T->ndim = nd;
    T->n = 1;
    for (int i = 0; i < nd; i++) {
        T->shape[i] = sh[i];
        T->n *= (size_t)sh[i];
    }
}

static int trainable(const ttt_trainer *t, const char *name, int layer, int slot,
                     const regex_t *re) {
    switch (t->p.policy) {
    case TTT_TRAIN_ALL: return 1;
    case TTT_TRAIN_ADAPTER:
        return layer >= 0 && (slot == TR_CONV || slot == TR_PROJ ||
                              (slot == TR_DOWN && t->cfg.layer_ttt[layer]));
    case TTT_TRAIN_TTT: return layer >= 0 && (slot == TR_CONV || slot == TR_PROJ);
    default: return regexec(re, name, 0, NULL, 0) == 0;
    }
}

/* Lists every tensor with its place (order: embedding, layers, final norm, head). */
static int list_tensors(const ttt_config *c, tr_tensor *out, tr_place *pl) {
    int n = 0;
#define ADD(layer_, slot_, ...)                                             \
    do {                                                                    \
        if (out) {                                                          \
            snprintf(out[n].name, sizeof out[n].name, __VA_ARGS__);         \
            shape_of(c, layer_, slot_, &out[n]);                            \
            pl[n] = (tr_place){layer_, slot_};                              \
        }                                                                   \
        n++;                                                                \
    } while (0)
    ADD(-1, TR_EMBED, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++)
        for (int s = 0; s < TR_NSLOT; s++)
            if (slot_present(c, l, s)) ADD(l, slot_of(c, s), "model.layers.%d.%s", l, SLOT_NAME[s]);
    ADD(-1, TR_FINAL_NORM, "model.norm.weight");
    if (!c->tie_embeddings) ADD(-1, TR_HEAD, "lm_head.weight");
#undef ADD
    return n;
}

static ttt_status copy_in(ttt_trainer *t, const tr_tensor *T) {
    const ttt_st_tensor *st = ttt_st_set_find(&t->model->st, T->name);
    if (!st || st->n_elements != T->n)
        return ttt_err(TTT_ERR_FORMAT, "trainer: tensor '%s' missing or of the wrong size",
                       T->name);
    ttt_tensor_info info = {.name = st->name, .dtype = st->dtype, .n_elements = st->n_elements,
                            .n_bytes = st->end - st->begin, .data = st->data};
    return ttt_tensor_to_f32(&info, T->w);
}

ttt_status tr_params_init(ttt_trainer *t) {
    const ttt_config *c = &t->cfg;
    const int L = c->n_layers;
    regex_t re;
    int have_re = 0;
    if (t->p.policy == TTT_TRAIN_REGEX) {
        if (!t->regex_src)
            return ttt_err(TTT_ERR_ARG, "trainer: policy regex needs a regular expression");
        int rc = regcomp(&re, t->regex_src, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[128];
            regerror(rc, &re, msg, sizeof msg);
            return ttt_err(TTT_ERR_ARG, "trainer: bad regex '%s': %s", t->regex_src, msg);
        }
        have_re = 1;
    }
    int n = list_tensors(c, NULL, NULL);
    tr_tensor *all = calloc((size_t)n, sizeof *all);
    tr_place *pl = calloc((size_t)n, sizeof *pl);
    uint8_t *tr = calloc((size_t)n, 1);
    t->lw = calloc((size_t)L, sizeof *t->lw);
    t->lg = calloc((size_t)L, sizeof *t->lg);
    ttt_status st = TTT_OK;
    if (!all || !pl || !tr || !t->lw || !t->lg) {
        st = ttt_err(TTT_ERR_NOMEM, "trainer: out of memory");
        goto done;
    }
    list_tensors(c, all, pl);
    size_t n_tr = 0, n_fr = 0;
    int n_train = 0;
    for (int i = 0; i < n; i++) {
        tr[i] = (uint8_t)trainable(t, all[i].name, pl[i].layer, pl[i].slot, &re);
        if (tr[i]) n_tr += all[i].n, n_train++;
        else n_fr += all[i].n;
    }
    if (n_train == 0) {
        st = ttt_err(TTT_ERR_ARG, "trainer: the freeze policy leaves no tensor to train");
        goto done;
    }
    const ttt_ops *be = t->be;
    const size_t n_f = n_fr ? n_fr : 1;
    t->wbuf = be->alloc(n_tr * sizeof(float));
    t->gbuf = be->alloc(n_tr * sizeof(float));
    t->mbuf = be->alloc(n_tr * sizeof(float));
    t->vbuf = be->alloc(n_tr * sizeof(float));
    t->fbuf = be->alloc(n_f * sizeof(float));
    if (t->on_device) {
        t->hw = ttt_calloc_aligned(n_tr, sizeof(float));
        t->hg = ttt_calloc_aligned(n_tr, sizeof(float));
        t->hm = ttt_calloc_aligned(n_tr, sizeof(float));
        t->hv = ttt_calloc_aligned(n_tr, sizeof(float));
        t->hf = ttt_calloc_aligned(n_f, sizeof(float));
    } else {
        t->hw = t->wbuf, t->hg = t->gbuf, t->hm = t->mbuf, t->hv = t->vbuf, t->hf = t->fbuf;
    }
    if (!t->wbuf || !t->gbuf || !t->mbuf || !t->vbuf || !t->fbuf || !t->hw || !t->hg ||
        !t->hm || !t->hv || !t->hf) {
        st = ttt_err(TTT_ERR_NOMEM, "trainer: out of %s memory for %zu trainable and %zu "
                     "frozen floats (%zu MiB)", t->on_device ? "GPU or host" : "host", n_tr,
                     n_fr, (4 * n_tr + n_fr) * sizeof(float) >> 20);
        goto done;
    }
    t->n_train_el = n_tr;
    /* trainable tensors first, in list order, then the frozen ones */
    t->all = calloc((size_t)n, sizeof *t->all);
    if (!t->all) {
        st = ttt_err(TTT_ERR_NOMEM, "trainer: out of memory");
        goto done;
    }
    size_t ot = 0, of = 0;
    int k = 0;
    for (int pass = 1; pass >= 0; pass--)
        for (int i = 0; i < n; i++) {
            if (tr[i] != pass) continue;
            tr_tensor *T = &t->all[k++];
            *T = all[i];
            float *dw, *dg = NULL; /* backend pointers */
            if (pass) {
                T->w = t->hw + ot, T->g = t->hg + ot;
                T->m = t->hm + ot, T->v = t->hv + ot;
                dw = t->wbuf + ot, dg = t->gbuf + ot;
                ot += T->n;
            } else {
                T->w = t->hf + of;
                dw = t->fbuf + of;
                of += T->n;
            }
            if (st == TTT_OK) st = copy_in(t, T);
            if (pl[i].layer < 0) {
                t->gw[pl[i].slot] = dw;
                t->gg[pl[i].slot] = dg;
            } else {
                t->lw[pl[i].layer][pl[i].slot] = dw;
                t->lg[pl[i].layer][pl[i].slot] = dg;
            }
        }
    t->n_all = n;
    t->n_train = n_train;
    if (st == TTT_OK && t->on_device) {
        be->to_backend(t->wbuf, t->hw, n_tr * sizeof(float));
        be->to_backend(t->fbuf, t->hf, n_fr * sizeof(float));
    }
    /* RoPE frequencies in the trainer's memory (the model's may be on another device) */
    const ttt_model *m = t->model;
    const size_t fb = sizeof(float) * (size_t)(c->head_dim / 2);
    float tmp[TTT_MAX_HEAD_DIM / 2];
    for (int f = 0; st == TTT_OK && f < 2; f++) {
        if (!(t->inv_freq[f] = be->alloc(fb))) {
            st = ttt_err(TTT_ERR_NOMEM, "trainer: out of memory");
            break;
        }
        m->ops->to_host(tmp, f ? m->inv_freq_local : m->inv_freq_global, fb);
        be->to_backend(t->inv_freq[f], tmp, fb);
    }
    if (st == TTT_OK) st = be->sync();
    if (c->tie_embeddings) {
        t->gw[TR_HEAD] = t->gw[TR_EMBED];
        t->gg[TR_HEAD] = t->gg[TR_EMBED];
    }
done:
    if (have_re) regfree(&re);
    free(all);
    free(pl);
    free(tr);
    return st;
}

void tr_params_free(ttt_trainer *t) {
    const ttt_ops *be = t->be;
    free(t->all);
    free(t->lw);
    free(t->lg);
    if (t->on_device) {
        ttt_free_aligned(t->hw);
        ttt_free_aligned(t->hg);
        ttt_free_aligned(t->hm);
        ttt_free_aligned(t->hv);
        ttt_free_aligned(t->hf);
    }
    for (int k = 0; k < 2; k++) be->free(t->inv_freq[k]);
    be->free(t->wbuf);
    be->free(t->gbuf);
    be->free(t->mbuf);
    be->free(t->vbuf);
    be->free(t->fbuf);
}
