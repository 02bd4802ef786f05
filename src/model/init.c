/* init.c - `ttt init`: a random-weight checkpoint of a preset's or a config's shapes.
 * Values come from a counter-based generator (splitmix64 of seed, tensor, index), so a seed
 * gives the same checkpoint whatever the thread count. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/file.h"
#include "io/json.h"
#include "model/init.h"
#include "util/err.h"
#include "util/fp.h"
#include "util/mem.h"

#define BLOCK 4096
#define SHARD_BYTES (4ull << 30)

ttt_init_params ttt_init_default_params(void) {
    ttt_init_params p = {.dtype = TTT_DT_BF16, .seed = 42, .ttt_lr = -1.0f};
    return p;
}

static uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The standard normal number k of tensor t (Box-Muller on one 64-bit draw per pair). */
float ttt_init_normal(uint64_t seed, int t, uint64_t k) {
    uint64_t h = splitmix64(seed ^ splitmix64(((uint64_t)t << 40) ^ (k >> 1)));
    double u1 = ((h >> 40) + 1.0) / 16777217.0; /* (0, 1] */
    double u2 = ((h & 0xffffffu) + 0.5) / 16777216.0;
    double r = sqrt(-2.0 * log(u1));
    double a = 2.0 * 3.14159265358979323846 * u2;
    return (float)(k & 1 ? r * sin(a) : r * cos(a));
}

typedef struct fill_ctx {
    const ttt_tensor_list *list;
    const ttt_config *cfg;
    const ttt_init_params *p;
    uint64_t done, total; /* bytes */
} fill_ctx;

static float value_at(const fill_ctx *f, int t, uint64_t k) {
    const ttt_st_desc *d = &f->list->descs[t];
    const float sd = (float)f->cfg->init_range;
    switch (f->list->roles[t]) {
    case TTT_ROLE_MATRIX:
    case TTT_ROLE_TTT_CONV:
        return sd * ttt_init_normal(f->p->seed, t, k);
    case TTT_ROLE_NORM:
        return f->cfg->norm_plus1 ? 0.0f : 1.0f;
    case TTT_ROLE_TTT_PROJ: {
        uint64_t n = (uint64_t)d->shape[1];
        return k / n == k % n ? sd * ttt_init_normal(f->p->seed, t, k) : 0.0f;
    }
    }
    return 0.0f;
}

static ttt_status fill(void *ctx, int t, void *dst, size_t n_bytes) {
    fill_ctx *f = ctx;
    const ttt_dtype dt = f->list->descs[t].dtype;
    const size_t es = ttt_dtype_size(dt);
    const size_t n = n_bytes / es;
    const size_t blocks = (n + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
    for (size_t b = 0; b < blocks; b++) {
        size_t k0 = b * BLOCK, k1 = k0 + BLOCK < n ? k0 + BLOCK : n;
        for (size_t k = k0; k < k1; k++) {
            float v = value_at(f, t, k);
            if (dt == TTT_DT_F32) ((float *)dst)[k] = v;
            else if (dt == TTT_DT_BF16) ((uint16_t *)dst)[k] = ttt_f32_to_bf16(v);
            else ((uint16_t *)dst)[k] = ttt_f32_to_f16(v);
        }
    }
    f->done += n_bytes;
    if (f->p->progress) f->p->progress(f->p->progress_ctx, f->done, f->total);
    return TTT_OK;
}

ttt_status ttt_init_parse_layers(const char *spec, const char *opt, cJSON **out) {
    cJSON *arr = cJSON_CreateArray();
    if (!arr) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    const char *p = spec;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= TTT_MAX_LAYERS || (*end && *end != ',')) {
            cJSON_Delete(arr);
            return ttt_err(TTT_ERR_ARG, "%s '%s': expected indices like 0,6,12", opt, spec);
        }
        cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)v));
        p = *end ? end + 1 : end;
    }
    *out = arr;
    return TTT_OK;
}

static ttt_status apply_overrides(cJSON *o, const ttt_init_params *p) {
    if (p->ttt_chunk > 0) ttt_json_set(o, "ttt_chunk", cJSON_CreateNumber(p->ttt_chunk));
    if (p->ttt_lr > 0) ttt_json_set(o, "ttt_lr", cJSON_CreateNumber(p->ttt_lr));
    if (p->ttt_layers) {
        cJSON *arr = NULL;
        ttt_status st = ttt_init_parse_layers(p->ttt_layers, "--ttt-layers", &arr);
        if (st != TTT_OK) return st;
        ttt_json_set(o, "ttt_layers", arr);
        ttt_json_set(o, "ttt_mode", cJSON_CreateBool(cJSON_GetArraySize(arr) > 0));
    }
    if (p->n_layers > 0) {
        const cJSON *had = cJSON_GetObjectItemCaseSensitive(o, "num_hidden_layers");
        if (cJSON_IsNumber(had) && p->n_layers > had->valuedouble)
            return ttt_err(TTT_ERR_ARG, "--layers %d: the model has only %g layers (--layers "
                           "keeps the first N)", p->n_layers, had->valuedouble);
        ttt_json_set(o, "num_hidden_layers", cJSON_CreateNumber(p->n_layers));
        cJSON *lt = cJSON_GetObjectItemCaseSensitive(o, "layer_types");
        while (cJSON_IsArray(lt) && cJSON_GetArraySize(lt) > p->n_layers)
            cJSON_DeleteItemFromArray(lt, cJSON_GetArraySize(lt) - 1);
    }
    const char *dt = p->dtype == TTT_DT_F32 ? "float32" : p->dtype == TTT_DT_F16 ? "float16"
                                                                                 : "bfloat16";
    ttt_json_set(o, "torch_dtype", cJSON_CreateString(dt));
    return TTT_OK;
}

static ttt_status load_base(const ttt_init_params *p, cJSON **out) {
    *out = NULL;
    if (p->preset) {
        *out = ttt_preset_config(p->preset);
        if (*out) return TTT_OK;
        char list[256] = "";
        for (const char *const *n = ttt_presets(); *n; n++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", *list ? ", " : "",
                     *n);
        return ttt_err(TTT_ERR_ARG, "unknown preset '%s' (presets: %s)", p->preset, list);
    }
    if (!p->config_path) return ttt_err(TTT_ERR_ARG, "init: give a preset or a config file");
    char *text;
    size_t len;
    ttt_status st = ttt_read_file(p->config_path, 16u << 20, &text, &len);
    if (st != TTT_OK) return st;
    st = ttt_json_parse_object(text, len, p->config_path, out);
    free(text);
    return st;
}

ttt_status ttt_checkpoint_init(const char *out_dir, const ttt_init_params *p) {
    if (!out_dir || !p) return ttt_err(TTT_ERR_ARG, "init: no output directory");
    if (p->dtype != TTT_DT_F32 && p->dtype != TTT_DT_BF16 && p->dtype != TTT_DT_F16)
        return ttt_err(TTT_ERR_ARG, "init: dtype must be F32, BF16 or F16");
    cJSON *o;
    ttt_status st = load_base(p, &o);
    if (st != TTT_OK) return st;
    st = apply_overrides(o, p);
    char *text = st == TTT_OK ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (st != TTT_OK) return st;
    if (!text) return ttt_err(TTT_ERR_NOMEM, "init: out of memory");

    ttt_config cfg;
    st = ttt_config_parse(text, strlen(text), "init config", &cfg);
    ttt_tensor_list list = {0};
    if (st == TTT_OK) st = ttt_tensor_list_make(&cfg, p->dtype, &list);
    if (st == TTT_OK) st = ttt_mkdir_p(out_dir);
    if (st == TTT_OK) {
        fill_ctx f = {.list = &list, .cfg = &cfg, .p = p};
        for (int i = 0; i < list.n; i++) {
            uint64_t b = 0;
            ttt_st_desc_bytes(&list.descs[i], &b);
            f.total += b;
        }
        st = ttt_st_save(out_dir, list.descs, list.n, SHARD_BYTES, fill, &f);
    }
    if (st == TTT_OK) {
        char *path = ttt_path_join(out_dir, "config.json");
        st = path ? ttt_write_file_atomic(path, text, strlen(text)) : TTT_ERR_NOMEM;
        free(path);
    }
    ttt_tensor_list_free(&list);
    cJSON_free(text);
    return st;
}
