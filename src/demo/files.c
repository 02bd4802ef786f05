/* files.c - the demo models' config.json and their byte-level tokenizer files. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo/demo.h"
#include "io/file.h"
#include "io/json.h"
#include "model/init.h"
#include "util/err.h"
#include "util/mem.h"

ttt_status ttt_demo_config_json(const ttt_demo_model *m, char **out) {
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o) return ttt_err(TTT_ERR_NOMEM, "demo: out of memory");
    const char *arch = "Qwen3ForCausalLM";
    cJSON_AddItemToObject(o, "architectures", cJSON_CreateStringArray(&arch, 1));
    cJSON_AddStringToObject(o, "model_type", "qwen3");
    cJSON_AddNumberToObject(o, "hidden_size", m->d_model);
    cJSON_AddNumberToObject(o, "intermediate_size", m->d_ff);
    cJSON_AddNumberToObject(o, "num_hidden_layers", m->n_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", m->n_head);
    cJSON_AddNumberToObject(o, "num_key_value_heads", m->n_head_kv);
    cJSON_AddNumberToObject(o, "head_dim", m->head_dim);
    cJSON_AddNumberToObject(o, "vocab_size", TTT_BYTE_VOCAB);
    cJSON_AddNumberToObject(o, "max_position_embeddings", m->max_pos);
    cJSON_AddNumberToObject(o, "rope_theta", 10000.0);
    cJSON_AddNumberToObject(o, "rms_norm_eps", 1e-6);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", 1);
    cJSON_AddNumberToObject(o, "bos_token_id", TTT_BYTE_BOS);
    cJSON_AddNumberToObject(o, "eos_token_id", TTT_BYTE_EOS);
    cJSON_AddNumberToObject(o, "initializer_range", 0.02);
    cJSON_AddBoolToObject(o, "attention_bias", 0);
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddNullToObject(o, "rope_scaling");
    cJSON_AddBoolToObject(o, "use_sliding_window", 1);
    cJSON_AddNumberToObject(o, "sliding_window", m->window);
    cJSON *lt = cJSON_AddArrayToObject(o, "layer_types");
    for (int i = 0; i < m->n_layers; i++)
        cJSON_AddItemToArray(lt, cJSON_CreateString("sliding_attention"));
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    const char *layers = m->ttt_layers ? m->ttt_layers : "";
    cJSON *arr = NULL;
    ttt_status st = ttt_init_parse_layers(layers, "--ttt-layers", &arr);
    if (st != TTT_OK) {
        cJSON_Delete(o);
        return st;
    }
    for (const cJSON *c = arr->child; c; c = c->next)
        if (c->valuedouble >= m->n_layers) {
            st = ttt_err(TTT_ERR_ARG, "--ttt-layers '%s': layer %g of a %d-layer model", layers,
                         c->valuedouble, m->n_layers);
            cJSON_Delete(arr);
            cJSON_Delete(o);
            return st;
        }
    cJSON_AddBoolToObject(o, "ttt_mode", cJSON_GetArraySize(arr) > 0);
    cJSON_AddItemToObject(o, "ttt_layers", arr);
    cJSON_AddNumberToObject(o, "ttt_chunk", m->ttt_chunk);
    cJSON_AddNumberToObject(o, "ttt_lr", m->ttt_lr);
    cJSON_AddBoolToObject(o, "ttt_proj", 1);
    cJSON_AddStringToObject(o, "ttt_target", m->ttt_target ? m->ttt_target : "hidden_states");
    *out = cJSON_Print(o);
    cJSON_Delete(o);
    return *out ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "demo: out of memory");
}

/* GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * take U+0100, U+0101, ... in byte order. Writes the UTF-8 of byte b's character. */
static void byte_char(int b, char out[4]) {
    int cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
        cp = 256;
        for (int x = 0; x < b; x++)
            cp += !((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255));
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = 0;
    }
}

/* The ByteLevel pre-tokenizer / decoder without the GPT-2 regex or a prefix space: the
 * text's bytes become tokens one for one. */
static void byte_level(cJSON *o, const char *field) {
    cJSON *b = cJSON_AddObjectToObject(o, field);
    cJSON_AddStringToObject(b, "type", "ByteLevel");
    cJSON_AddBoolToObject(b, "add_prefix_space", 0);
    cJSON_AddBoolToObject(b, "trim_offsets", 1);
    cJSON_AddBoolToObject(b, "use_regex", 0);
}

static const char *const SPECIALS[3] = {"<|bos|>", "<|eos|>", "<|pad|>"};

static ttt_status write_json(const char *dir, const char *name, cJSON *o) {
    char *text = o ? cJSON_Print(o) : NULL;
    char *path = ttt_path_join(dir, name);
    ttt_status st = text && path ? ttt_write_file_atomic(path, text, strlen(text))
                                 : ttt_err(TTT_ERR_NOMEM, "demo: out of memory");
    free(path);
    cJSON_free(text);
    cJSON_Delete(o);
    return st;
}

ttt_status ttt_demo_write_tokenizer(const char *dir) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", "1.0");
    cJSON_AddNullToObject(o, "truncation");
    cJSON_AddNullToObject(o, "padding");
    cJSON *added = cJSON_AddArrayToObject(o, "added_tokens");
    for (int i = 0; i < 3; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "id", TTT_BYTE_BOS + i);
        cJSON_AddStringToObject(a, "content", SPECIALS[i]);
        cJSON_AddBoolToObject(a, "single_word", 0);
        cJSON_AddBoolToObject(a, "lstrip", 0);
        cJSON_AddBoolToObject(a, "rstrip", 0);
        cJSON_AddBoolToObject(a, "normalized", 0);
        cJSON_AddBoolToObject(a, "special", 1);
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(o, "normalizer");
    byte_level(o, "pre_tokenizer");
    cJSON_AddNullToObject(o, "post_processor");
    byte_level(o, "decoder");
    cJSON *model = cJSON_AddObjectToObject(o, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddBoolToObject(model, "byte_fallback", 0);
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char ch[4];
        byte_char(b, ch);
        cJSON_AddNumberToObject(vocab, ch, b);
    }
    cJSON_AddArrayToObject(model, "merges");
    ttt_status st = ttt_mkdir_p(dir);
    if (st == TTT_OK) st = write_json(dir, "tokenizer.json", o);
    else cJSON_Delete(o);
    if (st == TTT_OK) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "bos_token", SPECIALS[0]);
        cJSON_AddStringToObject(c, "eos_token", SPECIALS[1]);
        cJSON_AddStringToObject(c, "pad_token", SPECIALS[2]);
        cJSON_AddBoolToObject(c, "add_bos_token", 1);
        cJSON_AddNumberToObject(c, "model_max_length", 1 << 20);
        st = write_json(dir, "tokenizer_config.json", c);
    }
    if (st == TTT_OK) {
        cJSON *g = cJSON_CreateObject();
        cJSON_AddNumberToObject(g, "bos_token_id", TTT_BYTE_BOS);
        cJSON_AddNumberToObject(g, "eos_token_id", TTT_BYTE_EOS);
        st = write_json(dir, "generation_config.json", g);
    }
    return st;
}
