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

/* ==== devices: where a model runs (CPU, or an NVIDIA GPU through the CUDA backend) ==== */
typedef enum ttt_device { TTT_DEVICE_CPU = 0, TTT_DEVICE_CUDA = 1 } ttt_device;

typedef enum ttt_precision {
    TTT_PREC_DEFAULT = 0, /* CPU: float32 compute; CUDA: bf16 */
    TTT_PREC_BF16 = 1,    /* CUDA: weights in bf16, GEMM inputs bf16, fp32 accumulation */
    TTT_PREC_F32 = 2,     /* CUDA: weights and GEMMs in float32 (no TF32): for testing */
} ttt_precision;

typedef struct ttt_model_params {
    int device;    /* TTT_DEVICE_* */
    int precision; /* TTT_PREC_*; the CPU computes in float32 whatever this says. CUDA: one
                      precision per process, the last loaded model's */
} ttt_model_params;

ttt_model_params ttt_model_default_params(void);
/* ttt_model_load on a chosen device; with CUDA the weights are uploaded once. Fails with
 * TTT_ERR_UNSUPPORTED when the build has no CUDA backend or no usable GPU is found, and with
 * TTT_ERR_NOMEM when the weights do not fit in GPU memory. */
ttt_status ttt_model_load_ex(const char *dir, const ttt_model_params *p, ttt_model **out);
/* Parses "cpu" or "cuda"; -1 when unknown. */
int ttt_device_from_name(const char *name);
const char *ttt_device_name(int device);
/* 1 when this build has the CUDA backend (a GPU may still be missing at run time). */
int ttt_cuda_compiled(void);

/* Device ceilings and memory for benchmarks (TTT_DEVICE_CUDA only): one sample of the bf16
 * GEMM rate in FLOP/s (cuBLASLt, 4096 x 4096 x 4096) and of the copy bandwidth in bytes/s
 * (bytes read plus written); and the device memory this process holds through ttt now and at
 * its peak since the last reset. */
ttt_status ttt_device_probe(int device, double *gemm_flops, double *copy_bytes_per_s);
ttt_status ttt_device_memory(int device, uint64_t *in_use, uint64_t *peak, int reset_peak);
/* ==== end devices ==== */

#ifdef __cplusplus
}
#endif

#endif /* TTT_H */
