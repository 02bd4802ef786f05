/* config.h - a model's hyper-parameters, read from a Hugging Face config.json. */
#ifndef TTT_MODEL_CONFIG_H
#define TTT_MODEL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "model/backend.h"
#include "ttt.h"

#define TTT_MAX_LAYERS 512

typedef enum ttt_arch { TTT_ARCH_QWEN3, TTT_ARCH_LLAMA, TTT_ARCH_GEMMA3 } ttt_arch;
typedef enum ttt_rope_kind { TTT_ROPE_DEFAULT, TTT_ROPE_LINEAR, TTT_ROPE_LLAMA3 } ttt_rope_kind;
typedef enum ttt_target { TTT_TARGET_HIDDEN, TTT_TARGET_EMBED } ttt_target;

/* Rotary embedding of one attention kind (Gemma3 has one for local, one for global layers). */
typedef struct ttt_rope {
    ttt_rope_kind kind;
    double theta;            /* base */
    double factor;           /* linear / llama3: scale factor */
    double low_freq_factor;  /* llama3 */
    double high_freq_factor; /* llama3 */
    double orig_max_pos;     /* llama3: original_max_position_embeddings */
} ttt_rope;

typedef struct ttt_config {
    ttt_arch arch;
    int n_layers;                      /* L */
    int d_model;                       /* D, hidden_size */
    int d_ff;                          /* F, intermediate_size */
    int n_heads;                       /* H */
    int n_kv_heads;                    /* Hkv, divides H */
    int head_dim;                      /* hd (may differ from D / H) */
    int n_vocab;                       /* V */
    int max_pos;                       /* max_position_embeddings */
    int bos_id, eos_id;                /* -1 when absent (first id of a list) */
    double init_range;                 /* initializer_range */
    float norm_eps;
    int norm_plus1;                    /* Gemma: RMSNorm scales by (1 + w) */
    int qk_norm;                       /* Qwen3, Gemma3: RMSNorm on q and k per head */
    int sandwich_norms;                /* Gemma3: post-attention and post-feedforward norms */
    float embed_scale;                 /* 1, or sqrt(D) for Gemma */
    float attn_scale;                  /* softmax scale: hd^-0.5 or query_pre_attn_scalar^-0.5 */
    float attn_softcap;                /* 0: off */
    float final_softcap;               /* 0: off */
    ttt_act act;
    int tie_embeddings;
    ttt_rope rope_global;              /* full-attention layers */
    ttt_rope rope_local;               /* sliding-window layers */
    int sliding_window;                /* tokens a sliding layer sees, itself included; 0: none */
    uint8_t layer_sliding[TTT_MAX_LAYERS]; /* [L] 1: sliding-window layer */

    /* In-Place TTT (docs/TTT.md) */
    int ttt_mode;                      /* ttt_mode */
    uint8_t layer_ttt[TTT_MAX_LAYERS]; /* [L] 1: down_proj is a fast weight */
    int n_ttt_layers;                  /* layers with layer_ttt set (0 when ttt_mode is off) */
    int ttt_chunk;                     /* C */
    float ttt_lr;                      /* eta */
    int ttt_proj;                      /* W_target present */
    ttt_target ttt_target;
    int ttt_conv_causal;               /* conv padding (4, 0) instead of (2, 2) */
    float ttt_clip;                    /* tau > 0: clip ||dW||_F to tau; 0: off */
} ttt_config;

/* Parses config.json text (len bytes, need not be NUL-terminated); label names it in errors. */
ttt_status ttt_config_parse(const char *json, size_t len, const char *label, ttt_config *c);
ttt_status ttt_config_load(const char *path, ttt_config *c);

const char *ttt_arch_name(ttt_arch a);

#endif
