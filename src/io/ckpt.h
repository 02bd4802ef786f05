/* ckpt.h - training checkpoints: a Hugging Face model directory plus the trainer's state,
 * written atomically under a root directory (docs/DATA.md):
 *
 *   ROOT/checkpoint-N/   config.json, model.safetensors (or shards + index), tokenizer files,
 *                        trainer_state.safetensors (optimizer moments, ...),
 *                        trainer_state.json (step, data position, RNG state, ...)
 *   ROOT/latest          "checkpoint-N\n": the newest complete checkpoint
 *
 * A checkpoint is written whole into ROOT/checkpoint-N.tmp/ (every file fsync'd), renamed to
 * checkpoint-N, ROOT fsync'd, and only then is `latest` replaced (atomically) and are old
 * checkpoints deleted. A failure at any point leaves every earlier checkpoint and `latest`
 * as they were. */
#ifndef TTT_IO_CKPT_H
#define TTT_IO_CKPT_H

#include <stdint.h>

#include "ttt.h"

/* One named tensor of the caller's memory (F32 or BF16 in practice; any dtype is written). */
typedef struct ttt_ckpt_tensor {
    const char *name;
    ttt_dtype dtype;
    int ndim;
    int64_t shape[TTT_MAX_DIMS];
    const void *data;                /* n_elements * dtype size bytes */
} ttt_ckpt_tensor;

typedef struct ttt_ckpt_save_params {
    const char *root;                /* ROOT (created when missing) */
    uint64_t step;                   /* N */
    const char *config_json;         /* config.json text, TTT fields included */
    const char *tokenizer_dir;       /* copy the tokenizer files found here; NULL: none */
    const ttt_ckpt_tensor *weights;  /* [n_weights] -> model.safetensors */
    int n_weights;
    const ttt_ckpt_tensor *state;    /* [n_state] -> trainer_state.safetensors */
    int n_state;
    const char *state_json;          /* trainer_state.json text: a JSON object */
    uint64_t max_shard;              /* model bytes per file before sharding; 0: 4 GiB */
    int keep_last;                   /* > 0: afterwards, keep only the newest K checkpoints */
} ttt_ckpt_save_params;

/* Writes ROOT/checkpoint-N; *out_dir (if not NULL) gets its path (free it). */
ttt_status ttt_ckpt_save(const ttt_ckpt_save_params *p, char **out_dir);
/* The path of the checkpoint `latest` names (free it); TTT_ERR_IO when there is none. */
ttt_status ttt_ckpt_latest(const char *root, char **dir);
/* A checkpoint's trainer state: the tensors (close with ttt_tensors_close) and the JSON text
 * (free it). */
ttt_status ttt_ckpt_load_state(const char *dir, ttt_tensors **tensors, char **json);

/* Copies tokenizer.json, tokenizer_config.json, generation_config.json,
 * special_tokens_map.json and tokenizer.model from src to dst when present (atomically). */
ttt_status ttt_ckpt_copy_tokenizer(const char *src_dir, const char *dst_dir);

#endif
