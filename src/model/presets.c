/* presets.c - real model shapes for `ttt init`, as Hugging Face config.json objects, with the
 * TTT settings their authors recommend: every sixth layer, eta 3, chunk 4096 (the official
 * In-Place TTT README for Qwen3 and Llama-3.1 continual training); Gemma3-1B with the
 * Adapter-Only study's layers [0, 6, 12, 18, 24], eta 0.3, chunk 2048. */
#include <cjson/cJSON.h>
#include <string.h>

#include "model/init.h"

typedef struct preset {
    const char *name;
    const char *arch;   /* architectures[0] */
    const char *type;   /* model_type */
    int hidden, inter, layers, heads, kv, head_dim, vocab, max_pos;
    double theta, eps;
    int tie, bos, eos;
    int ttt_chunk;
    double ttt_lr;
} preset;

static const preset PRESETS[] = {
    {"qwen3-0.6b", "Qwen3ForCausalLM", "qwen3", 1024, 3072, 28, 16, 8, 128, 151936, 40960, 1e6,
     1e-6, 1, 151643, 151645, 4096, 3.0},
    {"qwen3-1.7b", "Qwen3ForCausalLM", "qwen3", 2048, 6144, 28, 16, 8, 128, 151936, 40960, 1e6,
     1e-6, 1, 151643, 151645, 4096, 3.0},
    {"qwen3-4b", "Qwen3ForCausalLM", "qwen3", 2560, 9728, 36, 32, 8, 128, 151936, 40960, 1e6,
     1e-6, 1, 151643, 151645, 4096, 3.0},
    {"qwen3-8b", "Qwen3ForCausalLM", "qwen3", 4096, 12288, 36, 32, 8, 128, 151936, 40960, 1e6,
     1e-6, 0, 151643, 151645, 4096, 3.0},
    {"llama3.1-8b", "LlamaForCausalLM", "llama", 4096, 14336, 32, 32, 8, 128, 128256, 131072,
     5e5, 1e-5, 0, 128000, 128001, 4096, 3.0},
    {"gemma3-1b", "Gemma3ForCausalLM", "gemma3_text", 1152, 6912, 26, 4, 1, 256, 262144, 32768,
     1e6, 1e-6, 1, 2, 1, 2048, 0.3},
};
#define N_PRESETS (sizeof PRESETS / sizeof PRESETS[0])

const char *const *ttt_presets(void) {
    static const char *names[N_PRESETS + 1];
    for (size_t i = 0; i < N_PRESETS; i++) names[i] = PRESETS[i].name;
    names[N_PRESETS] = NULL;
    return names;
}

cJSON *ttt_preset_config(const char *name) {
    const preset *p = NULL;
    for (size_t i = 0; i < N_PRESETS; i++)
        if (!strcmp(PRESETS[i].name, name)) p = &PRESETS[i];
    if (!p) return NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const char *archs[1] = {p->arch};
    cJSON_AddItemToObject(o, "architectures", cJSON_CreateStringArray(archs, 1));
    cJSON_AddStringToObject(o, "model_type", p->type);
    cJSON_AddNumberToObject(o, "hidden_size", p->hidden);
    cJSON_AddNumberToObject(o, "intermediate_size", p->inter);
    cJSON_AddNumberToObject(o, "num_hidden_layers", p->layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", p->heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", p->kv);
    cJSON_AddNumberToObject(o, "head_dim", p->head_dim);
    cJSON_AddNumberToObject(o, "vocab_size", p->vocab);
    cJSON_AddNumberToObject(o, "max_position_embeddings", p->max_pos);
    cJSON_AddNumberToObject(o, "rope_theta", p->theta);
    cJSON_AddNumberToObject(o, "rms_norm_eps", p->eps);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", p->tie);
    cJSON_AddNumberToObject(o, "bos_token_id", p->bos);
    cJSON_AddNumberToObject(o, "eos_token_id", p->eos);
    cJSON_AddNumberToObject(o, "initializer_range", 0.02);
    cJSON_AddBoolToObject(o, "attention_bias", 0);
    if (!strcmp(p->type, "llama")) {
        cJSON_AddStringToObject(o, "hidden_act", "silu");
        cJSON_AddBoolToObject(o, "mlp_bias", 0);
        cJSON *rs = cJSON_AddObjectToObject(o, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", "llama3");
        cJSON_AddNumberToObject(rs, "factor", 8.0);
        cJSON_AddNumberToObject(rs, "low_freq_factor", 1.0);
        cJSON_AddNumberToObject(rs, "high_freq_factor", 4.0);
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", 8192);
    } else if (!strcmp(p->type, "qwen3")) {
        cJSON_AddStringToObject(o, "hidden_act", "silu");
        cJSON_AddBoolToObject(o, "use_sliding_window", 0);
        cJSON_AddNullToObject(o, "rope_scaling");
    } else {
        cJSON_AddStringToObject(o, "hidden_activation", "gelu_pytorch_tanh");
        cJSON_AddNumberToObject(o, "query_pre_attn_scalar", 256);
        cJSON_AddNumberToObject(o, "sliding_window", 512);
        cJSON_AddNumberToObject(o, "sliding_window_pattern", 6);
        cJSON_AddNumberToObject(o, "rope_local_base_freq", 10000.0);
        cJSON_AddNullToObject(o, "rope_scaling");
        cJSON_AddNullToObject(o, "attn_logit_softcapping");
        cJSON_AddNullToObject(o, "final_logit_softcapping");
    }
    cJSON_AddBoolToObject(o, "ttt_mode", 1);
    cJSON *layers = cJSON_AddArrayToObject(o, "ttt_layers");
    int last = !strcmp(p->type, "gemma3_text") ? 24 : 30;
    for (int l = 0; l <= last && l < p->layers; l += 6)
        cJSON_AddItemToArray(layers, cJSON_CreateNumber(l));
    cJSON_AddNumberToObject(o, "ttt_chunk", p->ttt_chunk);
    cJSON_AddNumberToObject(o, "ttt_lr", p->ttt_lr);
    cJSON_AddBoolToObject(o, "ttt_proj", 1);
    cJSON_AddStringToObject(o, "ttt_target", "hidden_states");
    return o;
}
