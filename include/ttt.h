/* ttt.h - the public API of the ttt engine.
 *
 * ttt runs Hugging Face checkpoints of Qwen3, Llama-3 and Gemma3 with In-Place Test-Time
 * Training: the MLP down-projection of chosen layers is a fast weight, updated chunk by chunk
 * while the model reads (semantics: docs/TTT.md).
 *
 * Two objects:
 *   ttt_model    the weights of one checkpoint, read-only, shareable by many sessions;
 *   ttt_session  one sequence: its KV cache, its fast weights (fp32) and their pending chunk.
 *
 * Every function that can fail returns a ttt_status; on failure ttt_last_error() gives a
 * one-line message that names the file, tensor, field or byte offset at fault. The library
 * never exits or aborts on bad input.
 */
#ifndef TTT_H
#define TTT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ttt_status {
    TTT_OK = 0,
    TTT_ERR_IO = -1,          /* a file could not be opened, read or written */
    TTT_ERR_FORMAT = -2,      /* a file's contents are malformed */
    TTT_ERR_CONFIG = -3,      /* a config field is missing, ill-typed or out of range */
    TTT_ERR_UNSUPPORTED = -4, /* well-formed input that asks for something ttt lacks */
    TTT_ERR_NOMEM = -5,       /* an allocation failed or a size overflowed */
    TTT_ERR_ARG = -6,         /* a bad argument from the caller */
} ttt_status;

/* The message of the last failure on this thread ("" when none). */
const char *ttt_last_error(void);
const char *ttt_status_name(ttt_status s);

/* Worker threads for every kernel and GEMM (0: all online cores). */
void ttt_set_threads(int n);
int ttt_get_threads(void);

/* ---- element types (the safetensors dtypes) ---- */
typedef enum ttt_dtype {
    TTT_DT_F64, TTT_DT_F32, TTT_DT_F16, TTT_DT_BF16,
    TTT_DT_F8_E4M3, TTT_DT_F8_E5M2,
    TTT_DT_I64, TTT_DT_I32, TTT_DT_I16, TTT_DT_I8,
    TTT_DT_U64, TTT_DT_U32, TTT_DT_U16, TTT_DT_U8,
    TTT_DT_BOOL,
    TTT_DT_COUNT
} ttt_dtype;

size_t ttt_dtype_size(ttt_dtype t);     /* bytes per element */
const char *ttt_dtype_name(ttt_dtype t); /* "F32", "BF16", ... as in safetensors */
/* Parses a safetensors dtype name; returns -1 when unknown. */
int ttt_dtype_from_name(const char *name);

/* ---- tensor files (safetensors: one file, or a directory with an index) ---- */
#define TTT_MAX_DIMS 8

typedef struct ttt_tensors ttt_tensors;

typedef struct ttt_tensor_info {
    const char *name;             /* owned by the ttt_tensors */
    ttt_dtype dtype;
    int ndim;                     /* 0..TTT_MAX_DIMS */
    int64_t shape[TTT_MAX_DIMS];
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data;             /* aligned to the element size; valid until close */
} ttt_tensor_info;

/* path: a .safetensors file, or a directory holding model.safetensors or
 * model.safetensors.index.json (sharded). */
ttt_status ttt_tensors_open(const char *path, ttt_tensors **out);
void ttt_tensors_close(ttt_tensors *t);
int ttt_tensors_count(const ttt_tensors *t);
ttt_status ttt_tensors_get(const ttt_tensors *t, int i, ttt_tensor_info *info);
/* TTT_ERR_FORMAT naming the tensor when absent. */
ttt_status ttt_tensors_find(const ttt_tensors *t, const char *name, ttt_tensor_info *info);
/* Converts any float or integer tensor to float32 (n_elements values). */
ttt_status ttt_tensor_to_f32(const ttt_tensor_info *info, float *dst);

/* ---- model ---- */
typedef struct ttt_model ttt_model;

typedef struct ttt_model_info {
    const char *arch;       /* "qwen3", "llama" or "gemma3" */
    int n_layers;
    int n_embd;             /* D, hidden_size */
    int n_ff;               /* F, intermediate_size */
    int n_vocab;
    int n_head;
    int n_head_kv;
    int head_dim;
    int n_ctx_train;        /* max_position_embeddings */
    int bos_id, eos_id;     /* -1 when the config has none */
    int ttt_enabled;        /* ttt_mode and at least one TTT layer */
    int n_ttt_layers;
    int ttt_chunk;          /* C */
    float ttt_lr;           /* eta */
    ttt_dtype dtype;        /* storage type of the large matrices */
    uint64_t n_params;
    uint64_t weight_bytes;  /* bytes of all weights as stored */
} ttt_model_info;

/* dir: a Hugging Face checkpoint directory (config.json + safetensors). */
ttt_status ttt_model_load(const char *dir, ttt_model **out);
void ttt_model_free(ttt_model *m);
void ttt_model_get_info(const ttt_model *m, ttt_model_info *info);

/* ---- session: one sequence ---- */
typedef struct ttt_session ttt_session;

/* What the fast weights do while the session reads. */
enum {
    TTT_MODE_OFF = 0,    /* MLPs use W_down; tokens do not enter the fast-weight state */
    TTT_MODE_ON = 1,     /* apply-then-update, chunk by chunk (the paper's inference) */
    TTT_MODE_FROZEN = 2, /* apply the current fast weights, learn nothing more */
};

typedef struct ttt_session_params {
    int n_ctx;    /* most tokens the session may hold; 0: the model's n_ctx_train */
    int n_batch;  /* tokens per internal forward step (memory vs speed); 0: 512 */
    int ttt_mode; /* TTT_MODE_*; default TTT_MODE_ON */
} ttt_session_params;

ttt_session_params ttt_session_default_params(void);
ttt_status ttt_session_init(ttt_model *m, const ttt_session_params *p, ttt_session **out);
void ttt_session_free(ttt_session *s);
/* Forgets every token: empties the KV cache and resets the fast weights to W_down. */
void ttt_session_reset(ttt_session *s);
/* Sets the TTT mode for the tokens that follow; the fast-weight state is kept. */
ttt_status ttt_session_set_ttt(ttt_session *s, int mode);
int ttt_session_n_past(const ttt_session *s);

/* Work of the next call that evaluates n tokens (n_logits of them to logits): floating-point
 * operations, and bytes read from memory (every weight once, plus the KV cache rows and fast
 * weights the tokens read). Benchmarks divide these by measured machine ceilings. */
typedef struct ttt_cost {
    double flops;
    double bytes;
} ttt_cost;
void ttt_session_cost(const ttt_session *s, int n, int n_logits, ttt_cost *c);

typedef struct ttt_eval_out {
    float *logits;  /* NULL: none; else [n, n_vocab] when logits_all, else [n_vocab] (last) */
    int logits_all;
    float *hidden;  /* NULL or [n_layers + 1, n, n_embd]: the embedding output, the residual
                       after each layer but the last, the final norm's output (HF layout) */
} ttt_eval_out;

/* Appends n tokens to the sequence and runs the model over them. Any split of a sequence into
 * calls gives the same outputs as a single call (fast-weight updates happen at chunk ends). */
ttt_status ttt_session_eval(ttt_session *s, const int32_t *tokens, int n, const ttt_eval_out *out);

/* ---- random checkpoints (benchmarks and tests) ---- */
typedef struct ttt_init_params {
    const char *preset;      /* one of ttt_presets(), or NULL with config_path */
    const char *config_path; /* a config.json to take the shapes from, or NULL */
    ttt_dtype dtype;         /* TTT_DT_BF16 or TTT_DT_F32 (F16 also accepted) */
    uint64_t seed;
    int ttt_chunk;           /* > 0: overrides the preset's chunk */
    float ttt_lr;            /* > 0: overrides the preset's eta */
    const char *ttt_layers;  /* "0,6,12" overrides the preset's layers; "" for none */
    int n_layers;            /* > 0: fewer layers than the preset (for quick tests) */
    /* called after each tensor with bytes written so far and in all (NULL: none) */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
} ttt_init_params;

ttt_init_params ttt_init_default_params(void);
/* NULL-terminated list of preset names. */
const char *const *ttt_presets(void);
/* Writes config.json and model.safetensors (sharded above 4 GiB) into out_dir. */
ttt_status ttt_checkpoint_init(const char *out_dir, const ttt_init_params *p);


/* ==== data preparation and add-ttt (issue 4: data, checkpoints) ==== */

/* ---- adding TTT layers to a plain checkpoint ---- */
typedef struct ttt_add_ttt_params {
    const char *layers;     /* "0,6,12": the TTT layers (required, each below the layer count) */
    int chunk;              /* C; 0: 8192 (the default of the official config) */
    float lr;               /* eta; 0: 0.3 */
    const char *target;     /* "hidden_states" (NULL: this) or "input_embed" */
    int no_proj;            /* 1: no ttt_proj tensors (V is the conv output itself) */
    uint64_t seed;          /* of ttt_proj's random diagonal */
    uint64_t max_shard;     /* bytes per safetensors file; 0: 4 GiB */
} ttt_add_ttt_params;

ttt_add_ttt_params ttt_add_ttt_default_params(void);
/* Writes out_dir: in_dir's weights (dtypes kept) plus ttt_conv = 0 and ttt_proj = a zero
 * matrix with an N(0, initializer_range^2) diagonal (the official init: the model computes
 * exactly what the base model does until trained), config.json with the TTT fields set and
 * every other field kept, and the tokenizer files. */
ttt_status ttt_checkpoint_add_ttt(const char *in_dir, const char *out_dir,
                                  const ttt_add_ttt_params *p);

/* ---- tokenized training data (binary shards, docs/DATA.md) ---- */

/* Tokenizes len bytes of text into *ids (allocated with malloc by the callee, freed by the
 * caller with free) and *n. */
typedef ttt_status (*ttt_data_encode_fn)(void *ctx, const char *text, size_t len,
                                         int32_t **ids, int *n);

/* The built-in byte-level tokenizer: each byte b is id b; specials follow. */
enum { TTT_BYTE_BOS = 256, TTT_BYTE_EOS = 257, TTT_BYTE_PAD = 258, TTT_BYTE_VOCAB = 259 };
ttt_status ttt_data_byte_encode(void *ctx, const char *text, size_t len, int32_t **ids, int *n);

enum { TTT_DATA_TXT_FILE = 0, TTT_DATA_TXT_LINE = 1 };

typedef struct ttt_data_params {
    const char *const *inputs; /* [n_inputs] .txt or .jsonl files */
    int n_inputs;
    const char *out_dir;       /* gets shard-00000.bin, shard-00001.bin, ... */
    const char *text_key;      /* .jsonl: the string field to read; NULL: "text" */
    int txt_docs;              /* TTT_DATA_TXT_FILE: a .txt file is a document; _LINE: a line */
    uint64_t shard_tokens;     /* tokens per shard before a new one starts; 0: 2^28 */
    ttt_data_encode_fn encode;
    void *encode_ctx;
    uint32_t n_vocab;          /* every id must be below it */
    int32_t eos_id;            /* stored in the shards for the loader; -1: none */
} ttt_data_params;

typedef struct ttt_data_stats {
    uint64_t n_docs, n_tokens, n_bytes; /* documents, tokens and text bytes written */
    int n_shards;
} ttt_data_stats;

/* Tokenizes every input into out_dir's shards. out_dir must not hold shards already. */
ttt_status ttt_data_prepare(const ttt_data_params *p, ttt_data_stats *stats);

/* ==== end of data preparation and add-ttt ==== */

#ifdef __cplusplus
}
#endif

#endif /* TTT_H */
