/* trainer.c - the public training API: a trainer over a loaded model on the CPU or a GPU,
 * micro-steps (forward, loss, backward, accumulate), tensor access for checkpoints and
 * resume.
 *
 * On a GPU the tensor API hands out host mirrors: tr_host_view downloads the values,
 * gradients and moments when the device has newer ones, and marks the mirrors handed out;
 * the next call that computes first uploads them (the caller may have written into them, as
 * a resume does). Between checkpoints nothing crosses the bus but the batch and the loss. */
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "train/train.h"
#include "util/err.h"
#include "util/mem.h"

#ifdef TTT_CUDA
extern const tr_ops tr_cuda_ops_table;
const tr_ops *const tr_cuda_ops = &tr_cuda_ops_table;
#else
const tr_ops *const tr_cuda_ops = NULL;
#endif

ttt_train_params ttt_train_default_params(void) {
    return (ttt_train_params){.policy = TTT_TRAIN_ALL, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95,
                              .eps = 1e-8, .weight_decay = 0.1, .max_grad_norm = 1.0,
                              .decay = TTT_LR_CONSTANT, .grad_accum = 1};
}

static ttt_status check_params(const ttt_train_params *p) {
    if ((unsigned)p->policy > TTT_TRAIN_REGEX)
        return ttt_err(TTT_ERR_ARG, "trainer: unknown freeze policy %d", (int)p->policy);
    if (!(p->lr >= 0) || !(p->beta1 >= 0 && p->beta1 < 1) || !(p->beta2 >= 0 && p->beta2 < 1) ||
        !(p->eps > 0) || !(p->weight_decay >= 0) || !(p->lr_min >= 0))
        return ttt_err(TTT_ERR_ARG, "trainer: lr, lr_min and weight_decay must be >= 0, betas "
                       "in [0, 1), eps > 0");
    if (p->device != TTT_DEVICE_CPU && p->device != TTT_DEVICE_CUDA)
        return ttt_err(TTT_ERR_ARG, "trainer: unknown device %d", p->device);
    if (p->grad_accum < 1 || p->warmup_steps < 0 || p->total_steps < 0 ||
        !(p->warmup_ratio >= 0 && p->warmup_ratio <= 1) || (unsigned)p->decay > TTT_LR_COSINE)
        return ttt_err(TTT_ERR_ARG, "trainer: grad_accum >= 1, warm-up steps >= 0, warm-up "
                       "ratio in [0, 1], a known decay");
    return TTT_OK;
}

ttt_status ttt_trainer_init(ttt_model *m, const ttt_train_params *p, ttt_trainer **out) {
    if (!out) return ttt_err(TTT_ERR_ARG, "ttt_trainer_init: NULL out");
    *out = NULL;
    if (!m || !p) return ttt_err(TTT_ERR_ARG, "ttt_trainer_init: NULL model or params");
    ttt_status st = check_params(p);
    if (st != TTT_OK) return st;
    ttt_threads_apply();
    ttt_trainer *t = calloc(1, sizeof *t);
    if (!t) return ttt_err(TTT_ERR_NOMEM, "trainer: out of memory");
    t->model = m;
    t->cfg = m->cfg;
    t->p = *p;
    if (p->device == TTT_DEVICE_CUDA) {
        t->ops = tr_cuda_ops;
        t->on_device = 1;
        if (!t->ops) {
            free(t);
            return ttt_err(TTT_ERR_UNSUPPORTED, "trainer: this build of ttt has no CUDA backend");
        }
        if (t->ops->init && (st = t->ops->init()) != TTT_OK) {
            free(t);
            return st;
        }
    } else {
        t->ops = &tr_cpu_ops;
    }
    t->be = t->ops->be;
    t->acts = calloc((size_t)t->cfg.n_layers, sizeof *t->acts);
    if (p->regex) t->regex_src = ttt_strdup(p->regex);
    t->p.regex = t->regex_src;
    if (!t->acts || (p->regex && !t->regex_src))
        st = ttt_err(TTT_ERR_NOMEM, "trainer: out of memory");
    if (st == TTT_OK) st = tr_params_init(t);
    if (st != TTT_OK) {
        ttt_trainer_free(t);
        return st;
    }
    *out = t;
    return TTT_OK;
}

void ttt_trainer_free(ttt_trainer *t) {
    if (!t) return;
    if (t->be) {
        tr_acts_free(t);
        tr_params_free(t);
        t->be->sync(); /* nothing of this trainer's stays queued */
    }
    free(t->acts);
    free(t->regex_src);
    free(t);
}

/* Segments: each sequence, split at document starts when doc_reset is on; and the TTT chunk
 * of every row (chunks of C rows from each segment's first row). */
static void segments(ttt_trainer *t, const uint8_t *doc_start) {
    const int N = t->B * t->T, C = t->cfg.ttt_chunk > 0 ? t->cfg.ttt_chunk : N;
    t->n_seg = 0;
    for (int i = 0; i < N; i++)
        if (i % t->T == 0 || (t->p.doc_reset && doc_start && doc_start[i]))
            t->seg_beg[t->n_seg++] = i;
    t->seg_beg[t->n_seg] = N;
    for (int sg = 0; sg < t->n_seg; sg++)
        for (int i = t->seg_beg[sg]; i < t->seg_beg[sg + 1]; i++)
            t->h_chunk[i] = t->seg_beg[sg] + (i - t->seg_beg[sg]) / C * C;
}

ttt_status tr_host_view(ttt_trainer *t) {
    if (!t->on_device) return TTT_OK;
    if (t->host_stale) {
        const size_t b = sizeof(float) * t->n_train_el;
        t->be->to_host(t->hw, t->wbuf, b);
        t->be->to_host(t->hg, t->gbuf, b);
        t->be->to_host(t->hm, t->mbuf, b);
        t->be->to_host(t->hv, t->vbuf, b);
        ttt_status st = t->be->sync();
        if (st != TTT_OK) return st;
        t->host_stale = 0;
    }
    t->host_dirty = 1;
    return TTT_OK;
}

ttt_status tr_device_view(ttt_trainer *t) {
    if (!t->on_device || !t->host_dirty) return TTT_OK;
    const size_t b = sizeof(float) * t->n_train_el;
    size_t n_fr = 0;
    for (int i = t->n_train; i < t->n_all; i++) n_fr += t->all[i].n;
    t->be->to_backend(t->wbuf, t->hw, b);
    t->be->to_backend(t->gbuf, t->hg, b);
    t->be->to_backend(t->mbuf, t->hm, b);
    t->be->to_backend(t->vbuf, t->hv, b);
    t->be->to_backend(t->fbuf, t->hf, sizeof(float) * n_fr);
    t->host_dirty = 0;
    return t->be->sync();
}

/* Checks and copies a batch in, and runs the forward pass and the loss (d loss / d logits
 * left in t->logits, scaled for accumulation). */
static ttt_status forward_loss(ttt_trainer *t, const int32_t *inputs, const int32_t *labels,
                               const uint8_t *doc_start, int B, int T, double *loss) {
    ttt_threads_apply();
    ttt_status st = tr_device_view(t);
    if (st == TTT_OK) st = tr_acts_reserve(t, B, T);
    if (st != TTT_OK) return st;
    const int N = B * T, V = t->cfg.n_vocab;
    for (int i = 0; i < N; i++) {
        if (inputs[i] < 0 || inputs[i] >= V)
            return ttt_err(TTT_ERR_ARG, "trainer: input token %d at row %d, column %d is "
                           "outside the vocabulary (%d)", inputs[i], i / T, i % T, V);
        if (labels[i] != -100 && (labels[i] < 0 || labels[i] >= V))
            return ttt_err(TTT_ERR_ARG, "trainer: label %d at row %d, column %d is neither "
                           "-100 nor a token id below %d", labels[i], i / T, i % T, V);
    }
    t->be->to_backend(t->tok, inputs, sizeof(int32_t) * (size_t)N);
    t->be->to_backend(t->lab, labels, sizeof(int32_t) * (size_t)N);
    segments(t, doc_start);
    if (t->on_device) {
        t->be->to_backend(t->chunk, t->h_chunk, sizeof(int32_t) * (size_t)N);
        /* rows grouped by token (a stable counting sort) for the embedding's backward */
        memset(t->tok_count, 0, sizeof(int32_t) * ((size_t)V + 1));
        for (int i = 0; i < N; i++) t->tok_count[inputs[i] + 1]++;
        for (int v = 0; v < V; v++) t->tok_count[v + 1] += t->tok_count[v];
        for (int i = 0; i < N; i++) t->h_by_tok[t->tok_count[inputs[i]]++] = i;
        t->be->to_backend(t->by_tok, t->h_by_tok, sizeof(int32_t) * (size_t)N);
    }
    tr_forward(t);
    *loss = tr_loss(t, labels, 1.0f / (float)t->p.grad_accum);
    return TTT_OK;
}

ttt_status ttt_trainer_step(ttt_trainer *t, const int32_t *inputs, const int32_t *labels,
                            const uint8_t *doc_start, int B, int T, double *loss) {
    if (!t || !inputs || !labels) return ttt_err(TTT_ERR_ARG, "ttt_trainer_step: NULL argument");
    double l;
    ttt_status st = forward_loss(t, inputs, labels, doc_start, B, T, &l);
    if (st != TTT_OK) return st;
    tr_backward(t);
    t->host_stale = t->on_device;
    st = t->be->sync();
    if (st != TTT_OK) return st;
    if (loss) *loss = l;
    return TTT_OK;
}

/* tokens [B, T + 1] -> inputs = tokens[:, :T], labels = tokens[:, 1:] */
static ttt_status split_tokens(const int32_t *tokens, int B, int T, int32_t **in, int32_t **lab) {
    size_t N;
    *in = *lab = NULL;
    if (B <= 0 || T <= 0 || !ttt_mul_size((size_t)B, (size_t)T, &N) || N > (1u << 28))
        return ttt_err(TTT_ERR_ARG, "trainer: bad batch shape B=%d T=%d", B, T);
    *in = malloc(sizeof(int32_t) * N);
    *lab = malloc(sizeof(int32_t) * N);
    if (!*in || !*lab) return ttt_err(TTT_ERR_NOMEM, "trainer: out of memory");
    for (int b = 0; b < B; b++) {
        memcpy(*in + (size_t)b * T, tokens + (size_t)b * (T + 1), sizeof(int32_t) * T);
        memcpy(*lab + (size_t)b * T, tokens + (size_t)b * (T + 1) + 1, sizeof(int32_t) * T);
    }
    return TTT_OK;
}

ttt_status ttt_trainer_step_tokens(ttt_trainer *t, const int32_t *tokens,
                                   const uint8_t *doc_start, int B, int T, double *loss) {
    if (!t || !tokens) return ttt_err(TTT_ERR_ARG, "ttt_trainer_step_tokens: NULL argument");
    int32_t *in, *lab;
    ttt_status st = split_tokens(tokens, B, T, &in, &lab);
    if (st == TTT_OK) st = ttt_trainer_step(t, in, lab, doc_start, B, T, loss);
    free(in);
    free(lab);
    return st;
}

ttt_status ttt_trainer_eval(ttt_trainer *t, const int32_t *inputs, const int32_t *labels,
                            const uint8_t *doc_start, int B, int T, double *loss) {
    if (!t || !inputs || !labels || !loss)
        return ttt_err(TTT_ERR_ARG, "ttt_trainer_eval: NULL argument");
    ttt_status st = forward_loss(t, inputs, labels, doc_start, B, T, loss);
    ttt_status s2 = t->be->sync();
    return st != TTT_OK ? st : s2;
}

ttt_status ttt_trainer_eval_tokens(ttt_trainer *t, const int32_t *tokens,
                                   const uint8_t *doc_start, int B, int T, double *loss) {
    if (!t || !tokens || !loss)
        return ttt_err(TTT_ERR_ARG, "ttt_trainer_eval_tokens: NULL argument");
    int32_t *in, *lab;
    ttt_status st = split_tokens(tokens, B, T, &in, &lab);
    if (st == TTT_OK) st = ttt_trainer_eval(t, in, lab, doc_start, B, T, loss);
    free(in);
    free(lab);
    return st;
}

void ttt_trainer_zero_grad(ttt_trainer *t) {
    if (!t) return;
    t->be->zero(t->gbuf, sizeof(float) * t->n_train_el);
    if (t->on_device) memset(t->hg, 0, sizeof(float) * t->n_train_el);
}

int64_t ttt_trainer_get_step(const ttt_trainer *t) { return t ? t->step : 0; }
void ttt_trainer_set_step(ttt_trainer *t, int64_t step) {
    if (t && step >= 0) t->step = step;
}

int ttt_trainer_n_tensors(const ttt_trainer *t) { return t ? t->n_train : 0; }

static void info_of(const tr_tensor *T, ttt_train_tensor *o) {
    *o = (ttt_train_tensor){.name = T->name, .ndim = T->ndim, .n_elements = T->n,
                            .data = T->w, .grad = T->g, .m = T->m, .v = T->v};
    memcpy(o->shape, T->shape, sizeof o->shape);
}

ttt_status ttt_trainer_tensor(const ttt_trainer *t, int i, ttt_train_tensor *out) {
    if (!t || !out || i < 0 || i >= t->n_train)
        return ttt_err(TTT_ERR_ARG, "ttt_trainer_tensor: index %d out of range", i);
    ttt_status st = tr_host_view((ttt_trainer *)t);
    if (st == TTT_OK) info_of(&t->all[i], out);
    return st;
}

int ttt_trainer_n_all(const ttt_trainer *t) { return t ? t->n_all : 0; }

ttt_status ttt_trainer_tensor_all(const ttt_trainer *t, int i, ttt_train_tensor *out) {
    if (!t || !out || i < 0 || i >= t->n_all)
        return ttt_err(TTT_ERR_ARG, "ttt_trainer_tensor_all: index %d out of range", i);
    ttt_status st = tr_host_view((ttt_trainer *)t);
    if (st == TTT_OK) info_of(&t->all[i], out);
    return st;
}

ttt_status ttt_trainer_find(const ttt_trainer *t, const char *name, ttt_train_tensor *out) {
    if (!t || !name || !out) return ttt_err(TTT_ERR_ARG, "ttt_trainer_find: NULL argument");
    for (int i = 0; i < t->n_all; i++)
        if (!strcmp(t->all[i].name, name)) {
            if (i >= t->n_train)
                return ttt_err(TTT_ERR_ARG, "trainer: tensor '%s' is frozen", name);
            ttt_status st = tr_host_view((ttt_trainer *)t);
            if (st == TTT_OK) info_of(&t->all[i], out);
            return st;
        }
    return ttt_err(TTT_ERR_ARG, "trainer: no tensor named '%s'", name);
}

double ttt_trainer_flops(const ttt_trainer *t, int B, int T) {
    if (!t) return 0;
    const ttt_config *c = &t->cfg;
    const double D = c->d_model, F = c->d_ff, hd = c->head_dim, H = c->n_heads;
    const double tok = (double)B * T;
    /* matrices: 2 FLOPs per weight per token forward, 2 for the input gradient, 2 more for
     * the weight gradient when the tensor trains; the embedding is a lookup unless it is
     * also the head */
    double flops = 0;
    for (int i = 0; i < t->n_all; i++) {
        const tr_tensor *x = &t->all[i];
        if (x->ndim != 2) continue;
        if (x->w == t->gw[TR_EMBED] && !c->tie_embeddings) continue;
        flops += (x->g ? 6.0 : 4.0) * (double)x->n * tok;
    }
    for (int l = 0; l < c->n_layers; l++) {
        /* attention as computed: scores and values over all T keys, forward and backward */
        flops += 12.0 * H * hd * T * tok;
        /* TTT: the chunk update V^T Z forward, its two gradients backward */
        if (c->layer_ttt[l] && c->ttt_mode) flops += 6.0 * tok * D * F;
    }
    return flops;
}
