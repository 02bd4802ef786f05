/* add_ttt.c - `ttt add-ttt`: a plain Hugging Face checkpoint becomes a TTT one. Every tensor
 * of the input is copied byte for byte (dtype kept); each TTT layer gains ttt_conv = 0 and
 * ttt_proj = a zero matrix with a random N(0, initializer_range^2) diagonal, the official
 * initialisation (spec section 6): with conv = 0 every dW is 0, so the new model computes
 * exactly what the old one did until it is trained. config.json is the input's JSON tree
 * with the TTT fields set, nothing else touched. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ckpt.h"
#include "io/file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/init.h"
#include "util/err.h"
#include "util/fp.h"
#include "util/mem.h"

#define DEFAULT_MAX_SHARD (UINT64_C(4) << 30)
#define CONFIG_MAX_BYTES ((size_t)16 << 20)

ttt_add_ttt_params ttt_add_ttt_default_params(void) {
    return (ttt_add_ttt_params){.chunk = 8192, .lr = 0.3f, .seed = 42};
}

typedef struct add_ctx {
    const ttt_st_tensor **src; /* [n] the input tensor copied, or NULL for a new one */
    const ttt_st_desc *descs;  /* [n] */
    const int *layer;          /* [n] layer of a new tensor */
    uint64_t seed;
    float sd;                  /* initializer_range */
} add_ctx;

static ttt_status fill(void *ctx, int i, void *dst, size_t n_bytes) {
    const add_ctx *c = ctx;
    if (c->src[i]) {
        memcpy(dst, c->src[i]->data, n_bytes);
        return TTT_OK;
    }
    memset(dst, 0, n_bytes); /* ttt_conv, and ttt_proj off the diagonal */
    const ttt_st_desc *d = &c->descs[i];
    if (d->ndim != 2) return TTT_OK;
    const int64_t D = d->shape[0];
    for (int64_t k = 0; k < D; k++) {
        float v = c->sd * ttt_init_normal(c->seed, c->layer[i], (uint64_t)k);
        size_t at = (size_t)(k * D + k);
        if (d->dtype == TTT_DT_F32) ((float *)dst)[at] = v;
        else if (d->dtype == TTT_DT_BF16) ((uint16_t *)dst)[at] = ttt_f32_to_bf16(v);
        else ((uint16_t *)dst)[at] = ttt_f32_to_f16(v);
    }
    return TTT_OK;
}

/* The input's config.json with the TTT fields of p; *text is the new JSON. */
static ttt_status edit_config(const char *in_dir, const ttt_add_ttt_params *p, char **text,
                              ttt_config *base) {
    char *path = ttt_path_join(in_dir, "config.json"), *raw = NULL;
    size_t len = 0;
    cJSON *o = NULL, *layers = NULL;
    ttt_status st = path ? ttt_read_file(path, CONFIG_MAX_BYTES, &raw, &len)
                         : ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (!st) st = ttt_config_parse(raw, len, path, base);
    if (!st) st = ttt_json_parse_object(raw, len, path, &o);
    if (!st) st = ttt_init_parse_layers(p->layers, "--layers", &layers);
    int n = st ? 0 : cJSON_GetArraySize(layers);
    if (!st && n == 0) st = ttt_err(TTT_ERR_ARG, "--layers: name at least one layer");
    uint8_t seen[TTT_MAX_LAYERS] = {0};
    for (int i = 0; i < n && !st; i++) {
        int v = (int)cJSON_GetArrayItem(layers, i)->valuedouble;
        if (v >= base->n_layers)
            st = ttt_err(TTT_ERR_ARG, "--layers: layer %d, but %s has %d layers (0..%d)", v,
                         path, base->n_layers, base->n_layers - 1);
        else if (seen[v]++)
            st = ttt_err(TTT_ERR_ARG, "--layers: layer %d is named twice", v);
    }
    const char *target = p->target ? p->target : "hidden_states";
    if (!st && strcmp(target, "hidden_states") && strcmp(target, "input_embed"))
        st = ttt_err(TTT_ERR_ARG, "--target '%s': hidden_states or input_embed", target);
    if (!st) {
        ttt_json_set(o, "ttt_mode", cJSON_CreateBool(1));
        ttt_json_set(o, "ttt_layers", layers);
        layers = NULL;
        ttt_json_set(o, "ttt_chunk", cJSON_CreateNumber(p->chunk > 0 ? p->chunk : 8192));
        /* the float's shortest decimal (0.3, not 0.30000001192...) */
        char lr[32];
        snprintf(lr, sizeof lr, "%.7g", p->lr > 0 ? (double)p->lr : 0.3);
        ttt_json_set(o, "ttt_lr", cJSON_CreateNumber(strtod(lr, NULL)));
        ttt_json_set(o, "ttt_target", cJSON_CreateString(target));
        ttt_json_set(o, "ttt_proj", cJSON_CreateBool(!p->no_proj));
        *text = cJSON_Print(o);
        if (!*text) st = ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(layers);
    cJSON_Delete(o);
    free(raw);
    free(path);
    return st;
}

static int is_ttt_name(const char *name) {
    return strstr(name, ".mlp.ttt_conv.") || strstr(name, ".mlp.ttt_proj.");
}

/* Output tensors: every input tensor, then the new ones the TTT config implies. */
typedef struct plan {
    int n;
    ttt_st_desc *descs;
    const ttt_st_tensor **src;
    int *layer;
} plan;

static ttt_status make_plan(const ttt_st_set *in, const ttt_config *cfg, const char *in_dir,
                            plan *pl) {
    ttt_tensor_list want = {0};
    ttt_status st = ttt_tensor_list_make(cfg, TTT_DT_F32, &want);
    if (st) return st;
    size_t cap = (size_t)in->n_tensors + (size_t)want.n;
    pl->descs = calloc(cap, sizeof *pl->descs);
    pl->src = calloc(cap, sizeof *pl->src);
    pl->layer = calloc(cap, sizeof *pl->layer);
    if (!pl->descs || !pl->src || !pl->layer) st = ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < in->n_tensors && !st; i++) {
        const ttt_st_tensor *t = in->index[i];
        if (is_ttt_name(t->name))
            st = ttt_err(TTT_ERR_ARG, "%s: tensor '%s': the checkpoint has TTT layers already",
                         in_dir, t->name);
        ttt_st_desc *d = &pl->descs[pl->n];
        d->name = t->name;
        d->dtype = t->dtype;
        d->ndim = t->ndim;
        memcpy(d->shape, t->shape, sizeof d->shape);
        pl->src[pl->n++] = t;
    }
    for (int i = 0; i < want.n && !st; i++) {
        const ttt_st_desc *w = &want.descs[i];
        if (want.roles[i] == TTT_ROLE_TTT_CONV || want.roles[i] == TTT_ROLE_TTT_PROJ) continue;
        const ttt_st_tensor *t = ttt_st_set_find(in, w->name);
        int same = t && t->ndim == w->ndim;
        for (int k = 0; same && k < w->ndim; k++) same = t->shape[k] == w->shape[k];
        if (!t) st = ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' is missing", in_dir, w->name);
        else if (!same)
            st = ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' does not have the shape config.json "
                         "implies", in_dir, w->name);
        else if (t->dtype != TTT_DT_F32 && t->dtype != TTT_DT_BF16 && t->dtype != TTT_DT_F16)
            st = ttt_err(TTT_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s (F32, BF16, F16)",
                         in_dir, w->name, ttt_dtype_name(t->dtype));
    }
    for (int i = 0; i < want.n && !st; i++) {
        if (want.roles[i] != TTT_ROLE_TTT_CONV && want.roles[i] != TTT_ROLE_TTT_PROJ) continue;
        int layer = -1;
        sscanf(want.descs[i].name, "model.layers.%d.", &layer);
        char down[96];
        snprintf(down, sizeof down, "model.layers.%d.mlp.down_proj.weight", layer);
        const ttt_st_tensor *dp = ttt_st_set_find(in, down); /* checked above */
        ttt_st_desc *d = &pl->descs[pl->n];
        *d = want.descs[i];
        d->dtype = dp->dtype; /* the layer's own precision */
        pl->layer[pl->n++] = layer;
    }
    /* the names of new tensors live in want: keep it until the save, via the plan */
    if (!st) {
        for (int i = 0; i < pl->n; i++)
            if (!pl->src[i] && !(pl->descs[i].name = ttt_strdup(pl->descs[i].name)))
                st = ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    ttt_tensor_list_free(&want);
    return st;
}

static void plan_free(plan *pl) {
    for (int i = 0; i < pl->n; i++)
        if (!pl->src[i]) free((char *)pl->descs[i].name);
    free(pl->descs);
    free(pl->src);
    free(pl->layer);
    memset(pl, 0, sizeof *pl);
}

/* Writing over the input would replace files still mapped for reading. */
static ttt_status check_distinct(const char *in_dir, const char *out_dir) {
    char a[PATH_MAX], b[PATH_MAX];
    if (!realpath(in_dir, a)) return ttt_err(TTT_ERR_IO, "%s: %s", in_dir, strerror(errno));
    if (realpath(out_dir, b) && !strcmp(a, b))
        return ttt_err(TTT_ERR_ARG, "%s: the output directory is the input; give another",
                       out_dir);
    return TTT_OK;
}

ttt_status ttt_checkpoint_add_ttt(const char *in_dir, const char *out_dir,
                                  const ttt_add_ttt_params *p) {
    if (!in_dir || !out_dir || !p || !p->layers)
        return ttt_err(TTT_ERR_ARG, "add-ttt: missing input, output or --layers");
    ttt_status st = check_distinct(in_dir, out_dir);
    if (st) return st;
    char *text = NULL;
    ttt_config base, cfg;
    st = edit_config(in_dir, p, &text, &base);
    if (!st) st = ttt_config_parse(text, strlen(text), "add-ttt config", &cfg);
    ttt_st_set in = {0};
    if (!st) st = ttt_st_set_open(in_dir, &in);
    plan pl = {0};
    if (!st) st = make_plan(&in, &cfg, in_dir, &pl);
    if (!st) st = ttt_mkdir_p(out_dir);
    if (!st) {
        add_ctx c = {.src = pl.src, .descs = pl.descs, .layer = pl.layer, .seed = p->seed,
                     .sd = (float)cfg.init_range};
        st = ttt_st_save(out_dir, pl.descs, pl.n, p->max_shard ? p->max_shard
                                                               : DEFAULT_MAX_SHARD, fill, &c);
    }
    if (!st) st = ttt_ckpt_copy_tokenizer(in_dir, out_dir);
    if (!st) {
        /* last: a directory without config.json is not taken for a finished checkpoint */
        char *path = ttt_path_join(out_dir, "config.json");
        st = path ? ttt_write_file_atomic(path, text, strlen(text))
                  : ttt_err(TTT_ERR_NOMEM, "out of memory");
        free(path);
    }
    plan_free(&pl);
    ttt_st_set_close(&in);
    cJSON_free(text);
    return st;
}
