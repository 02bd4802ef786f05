/* tensors.c - the tensors a config implies, in Hugging Face names and shapes. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/init.h"
#include "util/err.h"

#define NAME_MAX_LEN 96

typedef struct builder {
    ttt_tensor_list *l;
    ttt_dtype dtype;
} builder;

__attribute__((format(printf, 7, 8))) static void add(builder *b, ttt_tensor_role role,
                                                       int ndim, int64_t d0, int64_t d1,
                                                       int64_t d2, const char *fmt, ...) {
    ttt_tensor_list *l = b->l;
    char *name = l->names + (size_t)l->n * NAME_MAX_LEN;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, NAME_MAX_LEN, fmt, ap);
    va_end(ap);
    ttt_st_desc *d = &l->descs[l->n];
    d->name = name;
    d->dtype = b->dtype;
    d->ndim = ndim;
    d->shape[0] = d0;
    d->shape[1] = d1;
    d->shape[2] = d2;
    l->roles[l->n] = role;
    l->n++;
}

ttt_status ttt_tensor_list_make(const ttt_config *c, ttt_dtype dtype, ttt_tensor_list *out) {
    memset(out, 0, sizeof *out);
    const int L = c->n_layers, D = c->d_model, F = c->d_ff, hd = c->head_dim;
    const int max = 4 + L * 15;
    out->descs = calloc((size_t)max, sizeof *out->descs);
    out->roles = calloc((size_t)max, sizeof *out->roles);
    out->names = calloc((size_t)max, NAME_MAX_LEN);
    if (!out->descs || !out->roles || !out->names) {
        ttt_tensor_list_free(out);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    builder b = {.l = out, .dtype = dtype};
    const int gemma = c->arch == TTT_ARCH_GEMMA3;
    add(&b, TTT_ROLE_MATRIX, 2, c->n_vocab, D, 0, "model.embed_tokens.weight");
    for (int i = 0; i < L; i++) {
        add(&b, TTT_ROLE_NORM, 1, D, 0, 0, "model.layers.%d.input_layernorm.weight", i);
        add(&b, TTT_ROLE_NORM, 1, D, 0, 0, "model.layers.%d.post_attention_layernorm.weight", i);
        if (gemma) {
            add(&b, TTT_ROLE_NORM, 1, D, 0, 0,
                "model.layers.%d.pre_feedforward_layernorm.weight", i);
            add(&b, TTT_ROLE_NORM, 1, D, 0, 0,
                "model.layers.%d.post_feedforward_layernorm.weight", i);
        }
        if (c->qk_norm) {
            add(&b, TTT_ROLE_NORM, 1, hd, 0, 0, "model.layers.%d.self_attn.q_norm.weight", i);
            add(&b, TTT_ROLE_NORM, 1, hd, 0, 0, "model.layers.%d.self_attn.k_norm.weight", i);
        }
        add(&b, TTT_ROLE_MATRIX, 2, (int64_t)c->n_heads * hd, D, 0,
            "model.layers.%d.self_attn.q_proj.weight", i);
        add(&b, TTT_ROLE_MATRIX, 2, (int64_t)c->n_kv_heads * hd, D, 0,
            "model.layers.%d.self_attn.k_proj.weight", i);
        add(&b, TTT_ROLE_MATRIX, 2, (int64_t)c->n_kv_heads * hd, D, 0,
            "model.layers.%d.self_attn.v_proj.weight", i);
        add(&b, TTT_ROLE_MATRIX, 2, D, (int64_t)c->n_heads * hd, 0,
            "model.layers.%d.self_attn.o_proj.weight", i);
        add(&b, TTT_ROLE_MATRIX, 2, F, D, 0, "model.layers.%d.mlp.gate_proj.weight", i);
        add(&b, TTT_ROLE_MATRIX, 2, F, D, 0, "model.layers.%d.mlp.up_proj.weight", i);
        add(&b, TTT_ROLE_MATRIX, 2, D, F, 0, "model.layers.%d.mlp.down_proj.weight", i);
        if (c->layer_ttt[i]) {
            add(&b, TTT_ROLE_TTT_CONV, 3, D, 1, 5, "model.layers.%d.mlp.ttt_conv.weight", i);
            if (c->ttt_proj)
                add(&b, TTT_ROLE_TTT_PROJ, 2, D, D, 0, "model.layers.%d.mlp.ttt_proj.weight", i);
        }
    }
    add(&b, TTT_ROLE_NORM, 1, D, 0, 0, "model.norm.weight");
    if (!c->tie_embeddings) add(&b, TTT_ROLE_MATRIX, 2, c->n_vocab, D, 0, "lm_head.weight");
    return TTT_OK;
}

void ttt_tensor_list_free(ttt_tensor_list *l) {
    free(l->descs);
    free(l->roles);
    free(l->names);
    memset(l, 0, sizeof *l);
}
