/* test_config.c - config.json parsing: the three architectures, RoPE variants, TTT fields,
 * and bad input (each must fail with a message naming the field). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model/config.h"

#define BASE                                                                                \
    "\"hidden_size\": 64, \"intermediate_size\": 160, \"num_hidden_layers\": 4, "          \
    "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 16, "            \
    "\"vocab_size\": 1024"

#define QWEN "{\"architectures\": [\"Qwen3ForCausalLM\"], " BASE

static ttt_status parse(const char *json, ttt_config *c) {
    return ttt_config_parse(json, strlen(json), "config.json", c);
}

static void test_qwen3(void) {
    ttt_config c;
    CHECK_OK(parse(QWEN ", \"ttt_mode\": true, \"ttt_layers\": [0, 2, 9], \"ttt_chunk\": 16, "
                        "\"ttt_lr\": 0.3}", &c));
    CHECK(c.arch == TTT_ARCH_QWEN3);
    CHECK(c.n_layers == 4 && c.d_model == 64 && c.d_ff == 160 && c.head_dim == 16);
    CHECK(c.qk_norm && !c.norm_plus1 && !c.sandwich_norms && c.act == TTT_ACT_SILU);
    CHECK(c.layer_ttt[0] && !c.layer_ttt[1] && c.layer_ttt[2] && !c.layer_ttt[3]);
    CHECK(c.n_ttt_layers == 2); /* index 9 >= 4 layers is ignored, as upstream */
    CHECK(c.ttt_chunk == 16 && fabsf(c.ttt_lr - 0.3f) < 1e-7f);
    CHECK(c.ttt_proj && c.ttt_target == TTT_TARGET_HIDDEN && !c.ttt_conv_causal);
    CHECK(fabsf(c.attn_scale - 0.25f) < 1e-7f);
    CHECK(c.rope_global.kind == TTT_ROPE_DEFAULT && c.rope_global.theta == 1e4);
    CHECK(!c.tie_embeddings);

    /* defaults of the TTT fields (spec section 2) and ttt_mode off disabling layers */
    CHECK_OK(parse(QWEN ", \"ttt_layers\": [0]}", &c));
    CHECK(c.ttt_chunk == 8192 && fabsf(c.ttt_lr - 0.3f) < 1e-7f && c.n_ttt_layers == 0);

    CHECK_OK(parse(QWEN ", \"ttt_mode\": true, \"ttt_layers\": [1], \"ttt_proj\": false, "
                        "\"ttt_target\": \"input_embed\", \"ttt_conv_causal\": true, "
                        "\"ttt_clip\": 0.5}", &c));
    CHECK(!c.ttt_proj && c.ttt_target == TTT_TARGET_EMBED && c.ttt_conv_causal);
    CHECK(fabsf(c.ttt_clip - 0.5f) < 1e-7f);

    /* head_dim defaults to hidden / heads */
    CHECK_OK(parse("{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 64, "
                   "\"intermediate_size\": 8, \"num_hidden_layers\": 1, "
                   "\"num_attention_heads\": 8, \"vocab_size\": 10}", &c));
    CHECK(c.head_dim == 8 && c.n_kv_heads == 8);

    /* Qwen3 sliding layers from use_sliding_window and max_window_layers */
    CHECK_OK(parse(QWEN ", \"use_sliding_window\": true, \"sliding_window\": 32, "
                        "\"max_window_layers\": 2}", &c));
    CHECK(!c.layer_sliding[1] && c.layer_sliding[2] && c.sliding_window == 32);
}

static void test_llama(void) {
    ttt_config c;
    CHECK_OK(parse("{\"architectures\": [\"LlamaForCausalLM\"], " BASE
                   ", \"rope_theta\": 500000, \"rms_norm_eps\": 1e-5, \"rope_scaling\": "
                   "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, "
                   "\"high_freq_factor\": 4, \"original_max_position_embeddings\": 64}, "
                   "\"eos_token_id\": [2, 3]}", &c));
    CHECK(c.arch == TTT_ARCH_LLAMA && !c.qk_norm);
    CHECK(c.rope_global.kind == TTT_ROPE_LLAMA3 && c.rope_global.factor == 8);
    CHECK(c.rope_global.orig_max_pos == 64 && c.rope_global.theta == 5e5);
    CHECK(c.eos_id == 2 && c.bos_id == -1);
    CHECK(fabsf(c.norm_eps - 1e-5f) < 1e-12f);

    /* transformers 5 layout: rope_parameters */
    CHECK_OK(parse("{\"model_type\": \"llama\", " BASE ", \"rope_parameters\": "
                   "{\"rope_type\": \"linear\", \"factor\": 2, \"rope_theta\": 1000}}", &c));
    CHECK(c.rope_global.kind == TTT_ROPE_LINEAR && c.rope_global.theta == 1000);
}

static void test_gemma3(void) {
    ttt_config c;
    const char *g = "{\"architectures\": [\"Gemma3ForCausalLM\"], \"hidden_size\": 64, "
                    "\"intermediate_size\": 192, \"num_hidden_layers\": 7, "
                    "\"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"head_dim\": 16, "
                    "\"vocab_size\": 1024, \"query_pre_attn_scalar\": 64, \"sliding_window\": 8, "
                    "\"sliding_window_pattern\": 3, \"final_logit_softcapping\": 30.0, "
                    "\"attn_logit_softcapping\": null, \"rope_scaling\": {\"rope_type\": "
                    "\"linear\", \"factor\": 8}}";
    CHECK_OK(parse(g, &c));
    CHECK(c.arch == TTT_ARCH_GEMMA3 && c.norm_plus1 && c.sandwich_norms && c.qk_norm);
    CHECK(c.act == TTT_ACT_GELU_TANH && c.tie_embeddings);
    CHECK(fabsf(c.embed_scale - 8.0f) < 1e-6f);
    CHECK(fabsf(c.attn_scale - 0.125f) < 1e-7f);
    CHECK(c.final_softcap == 30.0f && c.attn_softcap == 0.0f);
    /* pattern 3: layers 2 and 5 are global */
    CHECK(c.layer_sliding[0] && c.layer_sliding[1] && !c.layer_sliding[2]);
    CHECK(c.layer_sliding[3] && !c.layer_sliding[5] && c.layer_sliding[6]);
    /* global layers get the scaling, local ones rope_local_base_freq */
    CHECK(c.rope_global.kind == TTT_ROPE_LINEAR && c.rope_global.theta == 1e6);
    CHECK(c.rope_local.kind == TTT_ROPE_DEFAULT && c.rope_local.theta == 1e4);

    CHECK_OK(parse("{\"model_type\": \"gemma3_text\", \"hidden_size\": 64, "
                   "\"intermediate_size\": 8, \"num_hidden_layers\": 2, "
                   "\"num_attention_heads\": 4, \"head_dim\": 16, \"vocab_size\": 10, "
                   "\"layer_types\": [\"full_attention\", \"sliding_attention\"], "
                   "\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\", "
                   "\"rope_theta\": 5000}, \"sliding_attention\": {\"rope_type\": \"default\", "
                   "\"rope_theta\": 20}}}", &c));
    CHECK(!c.layer_sliding[0] && c.layer_sliding[1]);
    CHECK(c.rope_global.theta == 5000 && c.rope_local.theta == 20);
}

static void test_bad(void) {
    ttt_config c;
    CHECK_FAILS(parse(QWEN ", \"ttt_chunk\": 0}", &c), TTT_ERR_CONFIG, "'ttt_chunk' = 0");
    CHECK_FAILS(parse(QWEN ", \"ttt_chunk\": \"16\"}", &c), TTT_ERR_CONFIG,
                "'ttt_chunk' must be an integer, got a string");
    CHECK_FAILS(parse(QWEN ", \"ttt_chunk\": 2.5}", &c), TTT_ERR_CONFIG, "'ttt_chunk'");
    CHECK_FAILS(parse(QWEN ", \"ttt_layers\": [0, -1]}", &c), TTT_ERR_CONFIG,
                "ttt_layers[1] = -1 is negative");
    CHECK_FAILS(parse(QWEN ", \"ttt_layers\": 3}", &c), TTT_ERR_CONFIG, "'ttt_layers'");
    CHECK_FAILS(parse(QWEN ", \"ttt_layers\": [\"a\"]}", &c), TTT_ERR_CONFIG, "ttt_layers[0]");
    CHECK_FAILS(parse(QWEN ", \"ttt_lr\": \"x\"}", &c), TTT_ERR_CONFIG,
                "'ttt_lr' must be a number");
    CHECK_FAILS(parse(QWEN ", \"ttt_mode\": 1}", &c), TTT_ERR_CONFIG,
                "'ttt_mode' must be true or false");
    CHECK_FAILS(parse(QWEN ", \"ttt_target\": \"logits\"}", &c), TTT_ERR_CONFIG, "ttt_target");
    CHECK_FAILS(parse(QWEN ", \"ttt_clip\": -1}", &c), TTT_ERR_CONFIG, "ttt_clip");
    CHECK_FAILS(parse("{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 64}", &c),
                TTT_ERR_CONFIG, "missing field 'num_hidden_layers'");
    CHECK_FAILS(parse(QWEN ", \"hidden_size\": 32}", &c), TTT_ERR_FORMAT,
                "duplicate field 'hidden_size'");
    CHECK_FAILS(parse("{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": -4, "
                      "\"intermediate_size\": 8, \"num_hidden_layers\": 1, "
                      "\"num_attention_heads\": 1, \"vocab_size\": 4}", &c),
                TTT_ERR_CONFIG, "'hidden_size' = -4 is out of range");
    CHECK_FAILS(parse("{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 64, "
                      "\"intermediate_size\": 8, \"num_hidden_layers\": 1, "
                      "\"num_attention_heads\": 4, \"num_key_value_heads\": 3, "
                      "\"vocab_size\": 4}", &c),
                TTT_ERR_CONFIG, "not a multiple of num_key_value_heads");
    CHECK_FAILS(parse("{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 64, "
                      "\"intermediate_size\": 8, \"num_hidden_layers\": 1, "
                      "\"num_attention_heads\": 4, \"head_dim\": 15, \"vocab_size\": 4}", &c),
                TTT_ERR_CONFIG, "'head_dim' = 15 is odd");
    CHECK_FAILS(parse(QWEN ", \"attention_bias\": true}", &c), TTT_ERR_UNSUPPORTED,
                "attention_bias");
    CHECK_FAILS(parse(QWEN ", \"hidden_act\": \"relu\"}", &c), TTT_ERR_UNSUPPORTED, "relu");
    CHECK_FAILS(parse(QWEN ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}", &c),
                TTT_ERR_UNSUPPORTED, "rope type 'yarn' is not supported");
    CHECK_FAILS(parse(QWEN ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8}}", &c),
                TTT_ERR_CONFIG, "missing field 'low_freq_factor'");
    CHECK_FAILS(parse(QWEN ", \"rope_theta\": -1}", &c), TTT_ERR_CONFIG, "rope_theta");
    CHECK_FAILS(parse(QWEN ", \"layer_types\": [\"full_attention\"]}", &c), TTT_ERR_CONFIG,
                "'layer_types' must be an array of 4 strings");
    CHECK_FAILS(parse(QWEN ", \"layer_types\": [\"full_attention\", \"full_attention\", "
                           "\"full_attention\", \"chunked_attention\"]}", &c),
                TTT_ERR_UNSUPPORTED, "layer_types[3] = 'chunked_attention'");
    CHECK_FAILS(parse(QWEN ", \"eos_token_id\": 5000}", &c), TTT_ERR_CONFIG, "eos_token_id");
    CHECK_FAILS(parse("{\"architectures\": [\"MistralForCausalLM\"], " BASE "}", &c),
                TTT_ERR_UNSUPPORTED, "unknown architecture 'MistralForCausalLM'");
    CHECK_FAILS(parse("{\"architectures\": [\"Gemma3ForConditionalGeneration\"], " BASE "}", &c),
                TTT_ERR_UNSUPPORTED, "multimodal");
    CHECK_FAILS(parse("{\"architectures\": [], " BASE "}", &c), TTT_ERR_CONFIG, "architectures");
    CHECK_FAILS(parse("{" BASE "}", &c), TTT_ERR_CONFIG, "missing field 'architectures'");
    CHECK_FAILS(parse("[1, 2]", &c), TTT_ERR_FORMAT, "not a JSON object");
    CHECK_FAILS(parse("{\"hidden_size\": ", &c), TTT_ERR_FORMAT, "invalid JSON");
    CHECK_FAILS(parse("", &c), TTT_ERR_FORMAT, "invalid JSON");
    /* a derived head size beyond what the kernels take */
    CHECK_FAILS(parse("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 2048, "
                      "\"intermediate_size\": 16, \"num_hidden_layers\": 1, "
                      "\"num_attention_heads\": 1, \"vocab_size\": 16}", &c),
                TTT_ERR_CONFIG, "hidden_size / num_attention_heads = 2048 / 1");
    CHECK_FAILS(parse("{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 96, "
                      "\"intermediate_size\": 16, \"num_hidden_layers\": 1, "
                      "\"num_attention_heads\": 32, \"vocab_size\": 16}", &c),
                TTT_ERR_CONFIG, "no 'head_dim'");
    CHECK_FAILS(parse(QWEN "} trailing", &c), TTT_ERR_FORMAT, "bytes after the JSON object");
    CHECK_FAILS(parse(QWEN ", \"ttt_target\": \"hidden_states\\u0000x\"}", &c), TTT_ERR_FORMAT,
                "escaped NUL");
    CHECK_OK(parse(QWEN ", \"ttt_target\": \"hidden_states\"}  \n", &c));
    /* strings from the file never break the one-line message */
    CHECK_FAILS(parse("{\"architectures\": [\"Foo\\nBar\"], " BASE "}", &c),
                TTT_ERR_UNSUPPORTED, "Foo?Bar");
    CHECK_FAILS(ttt_config_load("/nonexistent/config.json", &c), TTT_ERR_IO,
                "/nonexistent/config.json");
}

int main(void) {
    test_qwen3();
    test_llama();
    test_gemma3();
    test_bad();
    return check_summary("test_config");
}
