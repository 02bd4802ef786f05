/* load.c - opens a checkpoint directory: config.json, then every tensor the config implies,
 * checked for presence, dtype and exact shape. Matrices stay in the mapped file in their
 * stored type; small vectors (norms, conv kernels) become float32 copies. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"
#include "model/model.h"
#include "util/err.h"
#include "util/mem.h"


#define TRY(x)                         \
    do {                               \
        ttt_status st_ = (x);          \
        if (st_ != TTT_OK) return st_; \
    } while (0)

typedef struct loader {
    ttt_model *m;
    const char *dir;
    float *next;        /* next free float in m->vecs */
    char name[256];
} loader;

static const ttt_st_tensor *find(loader *ld, const char *name) {
    return ttt_st_set_find(&ld->m->st, name);
}

static ttt_status check_shape(loader *ld, const ttt_st_tensor *t, int ndim, const int64_t *want) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == want[i];
    if (ok) return TTT_OK;
    char got[128] = "", exp[128] = "";
    for (int i = 0; i < t->ndim; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                 (long long)t->shape[i]);
    for (int i = 0; i < ndim; i++)
        snprintf(exp + strlen(exp), sizeof exp - strlen(exp), "%s%lld", i ? ", " : "",
                 (long long)want[i]);
    return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has shape [%s], config.json implies [%s]",
                   ld->dir, t->name, got, exp);
}

static ttt_status get(loader *ld, const char *name, int ndim, const int64_t *shape,
                      const ttt_st_tensor **out) {
    const ttt_st_tensor *t = find(ld, name);
    if (!t) return ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' is missing", ld->dir, name);
    if (t->dtype != TTT_DT_F32 && t->dtype != TTT_DT_BF16 && t->dtype != TTT_DT_F16)
        return ttt_err(TTT_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, BF16, F16)",
                       ld->dir, name, ttt_dtype_name(t->dtype));
    TRY(check_shape(ld, t, ndim, shape));
    ld->m->n_params += t->n_elements;
    ld->m->weight_bytes += t->end - t->begin;
    *out = t;
    return TTT_OK;
}

static ttt_status get_mat(loader *ld, const char *name, int rows, int cols, ttt_mat *mat) {
    const ttt_st_tensor *t = NULL;
    int64_t shape[2] = {rows, cols};
    TRY(get(ld, name, 2, shape, &t));
    mat->data = t->data;
    mat->dtype = t->dtype;
    mat->rows = rows;
    mat->cols = cols;
    return TTT_OK;
}

/* A [n] vector into the float32 pool; plus1 stores 1 + w (Gemma's RMSNorm scale). */
static ttt_status get_vec(loader *ld, const char *name, int n, int plus1, float **out) {
    const ttt_st_tensor *t = NULL;
    int64_t shape[1] = {n};
    TRY(get(ld, name, 1, shape, &t));
    float *v = ld->next;
    ld->next += n;
    ttt_tensor_info info = {.name = t->name, .dtype = t->dtype, .n_elements = (uint64_t)n,
                            .n_bytes = t->end - t->begin, .data = t->data};
    TRY(ttt_tensor_to_f32(&info, v));
    if (plus1)
        for (int i = 0; i < n; i++) v[i] += 1.0f;
    *out = v;
    return TTT_OK;
}

static const char *lname(loader *ld, int i, const char *suffix) {
    snprintf(ld->name, sizeof ld->name, "model.layers.%d.%s", i, suffix);
    return ld->name;
}

static ttt_status load_layer(loader *ld, int i) {
    ttt_model *m = ld->m;
    const ttt_config *c = &m->cfg;
    ttt_layer *L = &m->layers[i];
    const int D = c->d_model, F = c->d_ff, hd = c->head_dim;
    const int gemma = c->arch == TTT_ARCH_GEMMA3;
    TRY(get_vec(ld, lname(ld, i, "input_layernorm.weight"), D, c->norm_plus1, &L->attn_norm));
    TRY(get_vec(ld, lname(ld, i, "post_attention_layernorm.weight"), D, c->norm_plus1,
                gemma ? &L->post_attn_norm : &L->ffn_norm));
    if (gemma) {
        TRY(get_vec(ld, lname(ld, i, "pre_feedforward_layernorm.weight"), D, 1, &L->ffn_norm));
        TRY(get_vec(ld, lname(ld, i, "post_feedforward_layernorm.weight"), D, 1,
                    &L->post_ffn_norm));
    }
    if (c->qk_norm) {
        TRY(get_vec(ld, lname(ld, i, "self_attn.q_norm.weight"), hd, c->norm_plus1, &L->q_norm));
        TRY(get_vec(ld, lname(ld, i, "self_attn.k_norm.weight"), hd, c->norm_plus1, &L->k_norm));
    }
    TRY(get_mat(ld, lname(ld, i, "self_attn.q_proj.weight"), c->n_heads * hd, D, &L->wq));
    TRY(get_mat(ld, lname(ld, i, "self_attn.k_proj.weight"), c->n_kv_heads * hd, D, &L->wk));
    TRY(get_mat(ld, lname(ld, i, "self_attn.v_proj.weight"), c->n_kv_heads * hd, D, &L->wv));
    TRY(get_mat(ld, lname(ld, i, "self_attn.o_proj.weight"), D, c->n_heads * hd, &L->wo));
    TRY(get_mat(ld, lname(ld, i, "mlp.gate_proj.weight"), F, D, &L->w_gate));
    TRY(get_mat(ld, lname(ld, i, "mlp.up_proj.weight"), F, D, &L->w_up));
    TRY(get_mat(ld, lname(ld, i, "mlp.down_proj.weight"), D, F, &L->w_down));
    L->window = c->layer_sliding[i] ? c->sliding_window : 0;
    L->inv_freq = c->layer_sliding[i] ? m->inv_freq_local : m->inv_freq_global;
    L->ttt = c->layer_ttt[i];
    if (!L->ttt) return TTT_OK;

    const ttt_st_tensor *t = NULL;
    int64_t conv_shape[3] = {D, 1, 5};
    TRY(get(ld, lname(ld, i, "mlp.ttt_conv.weight"), 3, conv_shape, &t));
    float *tmp = malloc(sizeof(float) * 5 * (size_t)D);
    if (!tmp) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", ld->dir);
    ttt_tensor_info info = {.name = t->name, .dtype = t->dtype, .n_elements = 5 * (uint64_t)D,
                            .n_bytes = t->end - t->begin, .data = t->data};
    ttt_status st = ttt_tensor_to_f32(&info, tmp);
    L->ttt_conv = ld->next;
    ld->next += 5 * (size_t)D;
    for (int d = 0; d < D; d++)
        for (int k = 0; k < 5; k++) L->ttt_conv[(size_t)k * D + d] = tmp[(size_t)d * 5 + k];
    free(tmp);
    TRY(st);
    if (c->ttt_proj) TRY(get_mat(ld, lname(ld, i, "mlp.ttt_proj.weight"), D, D, &L->ttt_proj));
    return TTT_OK;
}

/* RoPE inverse frequencies in double, rounded once to float (HF computes them in float32;
 * the difference is below float32 rounding of the angles). */
static void rope_freqs(const ttt_rope *r, int hd, float *out) {
    const double pi = 3.14159265358979323846;
    for (int j = 0; j < hd / 2; j++) {
        double f = 1.0 / pow(r->theta, (2.0 * j) / hd);
        if (r->kind == TTT_ROPE_LINEAR) {
            f /= r->factor;
        } else if (r->kind == TTT_ROPE_LLAMA3) {
            const double low_wl = r->orig_max_pos / r->low_freq_factor;
            const double high_wl = r->orig_max_pos / r->high_freq_factor;
            const double wl = 2 * pi / f;
            if (wl > low_wl) {
                f /= r->factor;
            } else if (wl >= high_wl) {
                double sm = (r->orig_max_pos / wl - r->low_freq_factor) /
                            (r->high_freq_factor - r->low_freq_factor);
                f = (1 - sm) * f / r->factor + sm * f;
            }
        }
        out[j] = (float)f;
    }
}

static ttt_status load_all(loader *ld) {
    ttt_model *m = ld->m;
    const ttt_config *c = &m->cfg;
    const int D = c->d_model, L = c->n_layers, hd = c->head_dim;
    /* float32 pool: 4 norms + conv per layer, q/k norms, final norm, two RoPE tables */
    size_t n_vec = (size_t)L * (4 * (size_t)D + 5 * (size_t)D + 2 * (size_t)hd) + D + hd;
    m->vecs = ttt_calloc_aligned(n_vec, sizeof(float));
    m->n_vecs = n_vec;
    m->layers = calloc((size_t)L, sizeof *m->layers);
    if (!m->vecs || !m->layers) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", ld->dir);
    ld->next = m->vecs;
    m->inv_freq_global = ld->next;
    ld->next += hd / 2;
    m->inv_freq_local = ld->next;
    ld->next += hd / 2;
    rope_freqs(&c->rope_global, hd, m->inv_freq_global);
    rope_freqs(&c->rope_local, hd, m->inv_freq_local);

    TRY(get_mat(ld, "model.embed_tokens.weight", c->n_vocab, D, &m->embed));
    TRY(get_vec(ld, "model.norm.weight", D, c->norm_plus1, &m->final_norm));
    if (c->tie_embeddings) {
        m->lm_head = m->embed;
    } else {
        TRY(get_mat(ld, "lm_head.weight", c->n_vocab, D, &m->lm_head));
    }
    for (int i = 0; i < L; i++) TRY(load_layer(ld, i));

    /* the type holding most matrix bytes names the model's precision */
    m->dtype = m->layers[0].w_gate.dtype;
    return TTT_OK;
}

ttt_model_params ttt_model_default_params(void) {
    ttt_model_params p = {.device = TTT_DEVICE_CPU, .precision = TTT_PREC_DEFAULT};
    return p;
}

ttt_status ttt_model_load(const char *dir, ttt_model **out) {
    return ttt_model_load_ex(dir, NULL, out);
}

ttt_status ttt_model_load_ex(const char *dir, const ttt_model_params *p, ttt_model **out) {
    if (!out) return ttt_err(TTT_ERR_ARG, "ttt_model_load: NULL out");
    *out = NULL;
    if (!dir) return ttt_err(TTT_ERR_ARG, "ttt_model_load: no directory given");
    ttt_model_params def = ttt_model_default_params();
    if (!p) p = &def;
    if (p->precision < TTT_PREC_DEFAULT || p->precision > TTT_PREC_F32)
        return ttt_err(TTT_ERR_ARG, "ttt_model_load: unknown precision %d", p->precision);
    const ttt_ops *ops = &ttt_cpu_ops;
    if (p->device == TTT_DEVICE_CUDA) {
        if (!ttt_cuda_ops)
            return ttt_err(TTT_ERR_UNSUPPORTED, "this build of ttt has no CUDA backend (rebuild "
                           "with nvcc installed: TTT_CUDA is on when CMake finds it)");
        ops = ttt_cuda_ops;
    } else if (p->device != TTT_DEVICE_CPU) {
        return ttt_err(TTT_ERR_ARG, "ttt_model_load: unknown device %d", p->device);
    }
    if (ops->init) {
        ttt_status ist = ops->init(p->precision);
        if (ist != TTT_OK) return ist;
    }
    ttt_threads_apply();
    ttt_model *m = calloc(1, sizeof *m);
    if (!m) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    m->ops = ops;
    m->precision = p->precision;
    char *cfg_path = ttt_path_join(dir, "config.json");
    ttt_status st = cfg_path ? ttt_config_load(cfg_path, &m->cfg) : TTT_ERR_NOMEM;
    free(cfg_path);
    if (st == TTT_OK) st = ttt_st_set_open(dir, &m->st);
    if (st == TTT_OK) {
        loader ld = {.m = m, .dir = dir};
        st = load_all(&ld);
    }
    if (st == TTT_OK && ops->device)
        st = ttt_model_upload(m, p->precision == TTT_PREC_F32 ? TTT_DT_F32 : TTT_DT_BF16);
    if (st != TTT_OK) {
        ttt_model_free(m);
        return st;
    }
    *out = m;
    return TTT_OK;
}

void ttt_model_free(ttt_model *m) {
    ttt_cpu_scratch_release();
    if (!m) return;
    ttt_model_release(m);
    ttt_st_set_close(&m->st);
    free(m->layers);
    ttt_free_aligned(m->vecs);
    free(m);
}

ttt_status ttt_model_set_ttt(ttt_model *m, int chunk, float lr) {
    if (!m) return ttt_err(TTT_ERR_ARG, "ttt_model_set_ttt: NULL model");
    if (chunk <= 0 || chunk > (1 << 24))
        return ttt_err(TTT_ERR_ARG, "TTT chunk size %d: must be in 1..16777216", chunk);
    if (!(lr >= 0) || lr > 1e6f)
        return ttt_err(TTT_ERR_ARG, "TTT learning rate %g: must be in 0..1e6", (double)lr);
    if (m->n_sessions > 0)
        return ttt_err(TTT_ERR_ARG, "TTT parameters cannot change while %d session(s) exist",
                       (int)m->n_sessions);
    m->cfg.ttt_chunk = chunk;
    m->cfg.ttt_lr = lr;
    return TTT_OK;
}

void ttt_model_get_info(const ttt_model *m, ttt_model_info *info) {
    if (!info) return;
    memset(info, 0, sizeof *info);
    if (!m) return;
    const ttt_config *c = &m->cfg;
    info->arch = ttt_arch_name(c->arch);
    info->n_layers = c->n_layers;
    info->n_embd = c->d_model;
    info->n_ff = c->d_ff;
    info->n_vocab = c->n_vocab;
    info->n_head = c->n_heads;
    info->n_head_kv = c->n_kv_heads;
    info->head_dim = c->head_dim;
    info->n_ctx_train = c->max_pos;
    info->bos_id = c->bos_id;
    info->eos_id = c->eos_id;
    info->ttt_enabled = c->ttt_mode && c->n_ttt_layers > 0;
    info->n_ttt_layers = c->n_ttt_layers;
    info->ttt_chunk = c->ttt_chunk;
    info->ttt_lr = c->ttt_lr;
    info->dtype = m->dtype;
    info->n_params = m->n_params;
    info->weight_bytes = m->weight_bytes;
}
