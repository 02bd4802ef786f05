/* config.c - reads a Hugging Face config.json (Qwen3, Llama-3/3.1, Gemma3 text) plus the
 * In-Place TTT fields. Missing, ill-typed or out-of-range fields are errors naming the field;
 * features we do not implement (attention biases, other RoPE scalings) are named, never
 * silently ignored. */
#include "model/config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/json.h"
#include "util/err.h"

#define CFG_MAX_BYTES (16u << 20)
#define BIG 1000000000LL

const char *ttt_arch_name(ttt_arch a) {
    switch (a) {
    case TTT_ARCH_QWEN3: return "qwen3";
    case TTT_ARCH_LLAMA: return "llama";
    case TTT_ARCH_GEMMA3: return "gemma3";
    }
    return "?";
}

#define TRY(x)                          \
    do {                                \
        ttt_status st_ = (x);           \
        if (st_ != TTT_OK) return st_;  \
    } while (0)

static ttt_status parse_arch(const cJSON *root, const char *label, ttt_arch *arch) {
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const char *name = NULL;
    if (archs && !cJSON_IsNull(archs)) {
        if (!cJSON_IsArray(archs) || cJSON_GetArraySize(archs) < 1 ||
            !cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
            return ttt_err(TTT_ERR_CONFIG,
                           "%s: field 'architectures' must be a non-empty array of strings",
                           label);
        name = cJSON_GetArrayItem(archs, 0)->valuestring;
        if (!strcmp(name, "Qwen3ForCausalLM")) *arch = TTT_ARCH_QWEN3;
        else if (!strcmp(name, "LlamaForCausalLM")) *arch = TTT_ARCH_LLAMA;
        else if (!strcmp(name, "Gemma3ForCausalLM")) *arch = TTT_ARCH_GEMMA3;
        else if (!strcmp(name, "Gemma3ForConditionalGeneration"))
            return ttt_err(TTT_ERR_UNSUPPORTED,
                           "%s: architecture Gemma3ForConditionalGeneration (multimodal) is not "
                           "supported; use the text model (Gemma3ForCausalLM)", label);
        else
            return ttt_err(TTT_ERR_UNSUPPORTED,
                           "%s: unknown architecture '%s' (supported: Qwen3ForCausalLM, "
                           "LlamaForCausalLM, Gemma3ForCausalLM)", label, name);
        return TTT_OK;
    }
    const char *mt;
    TRY(ttt_json_str(root, "model_type", label, false, NULL, &mt));
    if (!mt)
        return ttt_err(TTT_ERR_CONFIG, "%s: missing field 'architectures' (and 'model_type')",
                       label);
    if (!strcmp(mt, "qwen3")) *arch = TTT_ARCH_QWEN3;
    else if (!strcmp(mt, "llama")) *arch = TTT_ARCH_LLAMA;
    else if (!strcmp(mt, "gemma3_text")) *arch = TTT_ARCH_GEMMA3;
    else
        return ttt_err(TTT_ERR_UNSUPPORTED,
                       "%s: unknown model_type '%s' (supported: qwen3, llama, gemma3_text)", label,
                       mt);
    return TTT_OK;
}

/* A token id field: an integer, a list of integers (first is used), or null. */
static ttt_status parse_token_id(const cJSON *root, const char *key, const char *label,
                                 int n_vocab, int *out) {
    *out = -1;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return TTT_OK;
    if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) == 0) return TTT_OK;
        v = cJSON_GetArrayItem(v, 0);
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble >= n_vocab)
        return ttt_err(TTT_ERR_CONFIG,
                       "%s: field '%s' must be a token id in [0, %d) or a list of them", label,
                       key, n_vocab);
    *out = (int)v->valuedouble;
    return TTT_OK;
}

/* One RoPE description: {"rope_type"|"type": ..., "factor", ...}; theta from the object's
 * "rope_theta" when it has one, else the given default. */
static ttt_status parse_rope(const cJSON *o, const char *label, const char *where, double theta,
                             ttt_rope *r) {
    memset(r, 0, sizeof *r);
    r->kind = TTT_ROPE_DEFAULT;
    r->theta = theta;
    r->factor = 1.0;
    if (!o || cJSON_IsNull(o)) return TTT_OK;
    if (!cJSON_IsObject(o))
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' must be an object or null", label, where);
    const char *type = NULL;
    TRY(ttt_json_str(o, "rope_type", label, false, NULL, &type));
    if (!type) TRY(ttt_json_str(o, "type", label, false, "default", &type));
    TRY(ttt_json_num(o, "rope_theta", label, false, theta, &r->theta));
    if (!(r->theta > 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: %s.rope_theta must be > 0", label, where);
    if (!strcmp(type, "default")) return TTT_OK;
    if (!strcmp(type, "linear")) {
        r->kind = TTT_ROPE_LINEAR;
        TRY(ttt_json_num(o, "factor", label, true, 1.0, &r->factor));
    } else if (!strcmp(type, "llama3")) {
        r->kind = TTT_ROPE_LLAMA3;
        TRY(ttt_json_num(o, "factor", label, true, 1.0, &r->factor));
        TRY(ttt_json_num(o, "low_freq_factor", label, true, 1.0, &r->low_freq_factor));
        TRY(ttt_json_num(o, "high_freq_factor", label, true, 4.0, &r->high_freq_factor));
        TRY(ttt_json_num(o, "original_max_position_embeddings", label, true, 8192,
                         &r->orig_max_pos));
        if (!(r->high_freq_factor > r->low_freq_factor) || !(r->low_freq_factor > 0) ||
            !(r->orig_max_pos > 0))
            return ttt_err(TTT_ERR_CONFIG,
                           "%s: %s: llama3 rope needs high_freq_factor > low_freq_factor > 0 "
                           "and original_max_position_embeddings > 0", label, where);
    } else {
        return ttt_err(TTT_ERR_UNSUPPORTED,
                       "%s: %s: rope type '%s' is not supported (supported: default, linear, "
                       "llama3)", label, where, type);
    }
    if (!(r->factor > 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: %s.factor must be > 0", label, where);
    return TTT_OK;
}

/* RoPE for global and local layers from rope_theta/rope_scaling (transformers 4) or
 * rope_parameters (transformers 5: flat, or keyed by layer type). */
static ttt_status parse_ropes(const cJSON *root, const char *label, ttt_config *c) {
    double theta_default = c->arch == TTT_ARCH_GEMMA3 ? 1e6 : 1e4;
    double theta, theta_local;
    TRY(ttt_json_num(root, "rope_theta", label, false, theta_default, &theta));
    TRY(ttt_json_num(root, "rope_local_base_freq", label, false, 1e4, &theta_local));
    if (!(theta > 0) || !(theta_local > 0))
        return ttt_err(TTT_ERR_CONFIG, "%s: rope_theta and rope_local_base_freq must be > 0",
                       label);
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (params && !cJSON_IsNull(params)) {
        if (!cJSON_IsObject(params))
            return ttt_err(TTT_ERR_CONFIG, "%s: field 'rope_parameters' must be an object",
                           label);
        const cJSON *full = cJSON_GetObjectItemCaseSensitive(params, "full_attention");
        const cJSON *slid = cJSON_GetObjectItemCaseSensitive(params, "sliding_attention");
        if (full || slid) {
            TRY(parse_rope(full, label, "rope_parameters.full_attention", theta,
                           &c->rope_global));
            TRY(parse_rope(slid, label, "rope_parameters.sliding_attention", theta_local,
                           &c->rope_local));
            return TTT_OK;
        }
        TRY(parse_rope(params, label, "rope_parameters", theta, &c->rope_global));
        c->rope_local = c->rope_global;
        if (c->arch == TTT_ARCH_GEMMA3)
            TRY(parse_rope(NULL, label, "rope_local", theta_local, &c->rope_local));
        return TTT_OK;
    }
    TRY(parse_rope(cJSON_GetObjectItemCaseSensitive(root, "rope_scaling"), label,
                   "rope_scaling", theta, &c->rope_global));
    if (c->arch == TTT_ARCH_GEMMA3)
        TRY(parse_rope(NULL, label, "rope_local", theta_local, &c->rope_local));
    else
        c->rope_local = c->rope_global;
    return TTT_OK;
}

static ttt_status parse_layer_types(const cJSON *root, const char *label, ttt_config *c) {
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
    if (lt && !cJSON_IsNull(lt)) {
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->n_layers)
            return ttt_err(TTT_ERR_CONFIG,
                           "%s: field 'layer_types' must be an array of %d strings", label,
                           c->n_layers);
        for (int i = 0; i < c->n_layers; i++) {
            const cJSON *v = cJSON_GetArrayItem(lt, i);
            if (!cJSON_IsString(v))
                return ttt_err(TTT_ERR_CONFIG, "%s: layer_types[%d] must be a string", label,
                               i);
            if (!strcmp(v->valuestring, "sliding_attention")) c->layer_sliding[i] = 1;
            else if (strcmp(v->valuestring, "full_attention"))
                return ttt_err(TTT_ERR_UNSUPPORTED,
                               "%s: layer_types[%d] = '%s' is not supported (full_attention, "
                               "sliding_attention)", label, i, v->valuestring);
        }
        return TTT_OK;
    }
    if (c->arch == TTT_ARCH_GEMMA3) {
        long long pattern;
        TRY(ttt_json_int(root, "sliding_window_pattern", label, false, 6, 1, BIG, &pattern));
        for (int i = 0; i < c->n_layers; i++) c->layer_sliding[i] = (i + 1) % pattern != 0;
    } else if (c->arch == TTT_ARCH_QWEN3) {
        bool use;
        long long mwl;
        TRY(ttt_json_bool(root, "use_sliding_window", label, false, &use));
        TRY(ttt_json_int(root, "max_window_layers", label, false, c->n_layers, 0, BIG, &mwl));
        for (int i = 0; i < c->n_layers; i++) c->layer_sliding[i] = use && i >= mwl;
    }
    return TTT_OK;
}

static ttt_status parse_ttt(const cJSON *root, const char *label, ttt_config *c) {
    bool b;
    long long x;
    double d;
    const char *s;
    TRY(ttt_json_bool(root, "ttt_mode", label, false, &b));
    c->ttt_mode = b;
    TRY(ttt_json_int(root, "ttt_chunk", label, false, 8192, 1, 1 << 24, &x));
    c->ttt_chunk = (int)x;
    TRY(ttt_json_num(root, "ttt_lr", label, false, 0.3, &d));
    c->ttt_lr = (float)d;
    TRY(ttt_json_bool(root, "ttt_proj", label, true, &b));
    c->ttt_proj = b;
    TRY(ttt_json_bool(root, "ttt_conv_causal", label, false, &b));
    c->ttt_conv_causal = b;
    TRY(ttt_json_num(root, "ttt_clip", label, false, 0.0, &d));
    if (d < 0) return ttt_err(TTT_ERR_CONFIG, "%s: field 'ttt_clip' must be >= 0", label);
    c->ttt_clip = (float)d;
    TRY(ttt_json_str(root, "ttt_target", label, false, "hidden_states", &s));
    if (!strcmp(s, "hidden_states")) c->ttt_target = TTT_TARGET_HIDDEN;
    else if (!strcmp(s, "input_embed")) c->ttt_target = TTT_TARGET_EMBED;
    else
        return ttt_err(TTT_ERR_CONFIG,
                       "%s: field 'ttt_target' = '%s' (must be hidden_states or input_embed)",
                       label, s);

    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "ttt_layers");
    if (layers && !cJSON_IsNull(layers)) {
        if (!cJSON_IsArray(layers))
            return ttt_err(TTT_ERR_CONFIG, "%s: field 'ttt_layers' must be an array of integers",
                           label);
        int i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, layers) {
            if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
                return ttt_err(TTT_ERR_CONFIG, "%s: ttt_layers[%d] must be an integer", label,
                               i);
            if (v->valuedouble < 0)
                return ttt_err(TTT_ERR_CONFIG, "%s: ttt_layers[%d] = %g is negative", label, i,
                               v->valuedouble);
            /* indices past the last layer are ignored, as the official code does */
            if (v->valuedouble < c->n_layers) c->layer_ttt[(int)v->valuedouble] = 1;
            i++;
        }
    }
    c->n_ttt_layers = 0;
    for (int i = 0; i < c->n_layers; i++) {
        if (!c->ttt_mode) c->layer_ttt[i] = 0;
        c->n_ttt_layers += c->layer_ttt[i];
    }
    return TTT_OK;
}

static ttt_status parse_root(const cJSON *root, const char *label, ttt_config *c) {
    long long x;
    double d;
    bool b;
    const char *s;
    TRY(parse_arch(root, label, &c->arch));
    int gemma = c->arch == TTT_ARCH_GEMMA3;

    TRY(ttt_json_int(root, "num_hidden_layers", label, true, 0, 1, TTT_MAX_LAYERS, &x));
    c->n_layers = (int)x;
    TRY(ttt_json_int(root, "hidden_size", label, true, 0, 1, 1 << 20, &x));
    c->d_model = (int)x;
    TRY(ttt_json_int(root, "intermediate_size", label, true, 0, 1, 1 << 22, &x));
    c->d_ff = (int)x;
    TRY(ttt_json_int(root, "num_attention_heads", label, true, 0, 1, 1 << 12, &x));
    c->n_heads = (int)x;
    TRY(ttt_json_int(root, "num_key_value_heads", label, false, c->n_heads, 1, c->n_heads, &x));
    c->n_kv_heads = (int)x;
    if (c->n_heads % c->n_kv_heads)
        return ttt_err(TTT_ERR_CONFIG,
                       "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads "
                       "(%d)", label, c->n_heads, c->n_kv_heads);
    if (ttt_json_has(root, "head_dim")) {
        TRY(ttt_json_int(root, "head_dim", label, false, 0, 2, TTT_MAX_HEAD_DIM, &x));
        if (x % 2) return ttt_err(TTT_ERR_CONFIG, "%s: field 'head_dim' = %lld is odd", label, x);
    } else {
        /* derived, so the message names the fields it comes from */
        x = c->d_model / c->n_heads;
        if (c->d_model % c->n_heads || x < 2 || x > TTT_MAX_HEAD_DIM || x % 2)
            return ttt_err(TTT_ERR_CONFIG,
                           "%s: no 'head_dim', and hidden_size / num_attention_heads = %d / %d "
                           "is not an even head size in [2, %d]", label, c->d_model,
                           c->n_heads, TTT_MAX_HEAD_DIM);
    }
    c->head_dim = (int)x;
    TRY(ttt_json_int(root, "vocab_size", label, true, 0, 1, 1 << 26, &x));
    c->n_vocab = (int)x;
    TRY(ttt_json_int(root, "max_position_embeddings", label, false, 4096, 1, 1 << 30, &x));
    c->max_pos = (int)x;
    TRY(parse_token_id(root, "bos_token_id", label, c->n_vocab, &c->bos_id));
    TRY(parse_token_id(root, "eos_token_id", label, c->n_vocab, &c->eos_id));
    TRY(ttt_json_num(root, "initializer_range", label, false, 0.02, &c->init_range));
    TRY(ttt_json_num(root, "rms_norm_eps", label, false, 1e-6, &d));
    if (!(d > 0)) return ttt_err(TTT_ERR_CONFIG, "%s: field 'rms_norm_eps' must be > 0", label);
    c->norm_eps = (float)d;

    TRY(ttt_json_bool(root, "attention_bias", label, false, &b));
    if (b)
        return ttt_err(TTT_ERR_UNSUPPORTED, "%s: attention_bias = true is not supported", label);
    TRY(ttt_json_bool(root, "mlp_bias", label, false, &b));
    if (b) return ttt_err(TTT_ERR_UNSUPPORTED, "%s: mlp_bias = true is not supported", label);

    const char *act_key = gemma && ttt_json_has(root, "hidden_activation") ? "hidden_activation"
                                                                           : "hidden_act";
    TRY(ttt_json_str(root, act_key, label, false, gemma ? "gelu_pytorch_tanh" : "silu", &s));
    if (!strcmp(s, "silu")) c->act = TTT_ACT_SILU;
    else if (!strcmp(s, "gelu_pytorch_tanh")) c->act = TTT_ACT_GELU_TANH;
    else
        return ttt_err(TTT_ERR_UNSUPPORTED,
                       "%s: %s = '%s' is not supported (silu, gelu_pytorch_tanh)", label,
                       act_key, s);

    TRY(ttt_json_bool(root, "tie_word_embeddings", label, gemma, &b));
    c->tie_embeddings = b;
    c->norm_plus1 = gemma;
    c->sandwich_norms = gemma;
    c->qk_norm = c->arch != TTT_ARCH_LLAMA;
    c->embed_scale = gemma ? sqrtf((float)c->d_model) : 1.0f;
    c->attn_scale = 1.0f / sqrtf((float)c->head_dim);
    if (gemma) {
        TRY(ttt_json_num(root, "query_pre_attn_scalar", label, false, 256, &d));
        if (!(d > 0))
            return ttt_err(TTT_ERR_CONFIG, "%s: field 'query_pre_attn_scalar' must be > 0",
                           label);
        c->attn_scale = (float)(1.0 / sqrt(d));
        TRY(ttt_json_num(root, "attn_logit_softcapping", label, false, 0, &d));
        c->attn_softcap = (float)d;
        TRY(ttt_json_num(root, "final_logit_softcapping", label, false, 0, &d));
        c->final_softcap = (float)d;
        if (c->attn_softcap < 0 || c->final_softcap < 0)
            return ttt_err(TTT_ERR_CONFIG, "%s: soft-capping values must be >= 0", label);
    }

    TRY(ttt_json_int(root, "sliding_window", label, false, gemma ? 4096 : 0, 0, 1 << 30, &x));
    c->sliding_window = (int)x;
    TRY(parse_layer_types(root, label, c));
    int any_sliding = 0;
    for (int i = 0; i < c->n_layers; i++) any_sliding |= c->layer_sliding[i];
    if (any_sliding && c->sliding_window <= 0)
        return ttt_err(TTT_ERR_CONFIG, "%s: sliding-window layers need 'sliding_window' >= 1",
                       label);
    TRY(parse_ropes(root, label, c));
    return parse_ttt(root, label, c);
}

ttt_status ttt_config_parse(const char *json, size_t len, const char *label, ttt_config *c) {
    memset(c, 0, sizeof *c);
    cJSON *root;
    ttt_status st = ttt_json_parse_object(json, len, label, &root);
    if (st != TTT_OK) return st;
    st = parse_root(root, label, c);
    cJSON_Delete(root);
    if (st != TTT_OK) memset(c, 0, sizeof *c);
    return st;
}

ttt_status ttt_config_load(const char *path, ttt_config *c) {
    char *text;
    size_t len;
    ttt_status st = ttt_read_file(path, CFG_MAX_BYTES, &text, &len);
    if (st != TTT_OK) return st;
    st = ttt_config_parse(text, len, path, c);
    free(text);
    return st;
}
