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
/* Overrides the checkpoint's TTT chunk size (> 0) and inner learning rate (>= 0; 0 leaves the
 * fast weights at W_down). Call before any session of the model exists. */
ttt_status ttt_model_set_ttt(ttt_model *m, int chunk, float lr);

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
/* Folds the rows of the pending (incomplete) chunk of every TTT layer into the fast weights,
 * as a chunk of their own (conv zero-padded at its end); later tokens start a new chunk. This
 * is the "flush" of strict ingest-then-answer evaluation (docs/TTT.md). */
ttt_status ttt_session_flush(ttt_session *s);
/* Forgets the tokens (KV cache, positions, pending chunk rows) but keeps the fast weights: the
 * next token is at position 0 and sees only what the fast weights learned. Flush first to
 * keep the pending rows. */
ttt_status ttt_session_clear_kv(ttt_session *s);
int ttt_session_n_past(const ttt_session *s);
/* Most tokens the session can hold. */
int ttt_session_n_ctx(const ttt_session *s);

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
    int32_t *argmax; /* NULL, or [n] when logits_all else [1]: each row's id of the largest
                        logit among ids [0, argmax_limit), the lowest id on ties; computed where
                        the model runs, so from a GPU only the ids come back (greedy decoding) */
    int argmax_limit; /* 0: the whole vocabulary; also bounds the top ids */
    int top_k;        /* 0, or 1..TTT_TOP_K_MAX (and <= the limit): each row's top_k largest
                         logits among ids [0, argmax_limit) into top_logit / top_id, largest
                         first, the lower id first on ties; computed where the model runs (a
                         sampler needs only these: ttt_sampler_top_k, ttt_sampler_sample_top) */
    float *top_logit; /* [rows, top_k], rows as for argmax */
    int32_t *top_id;  /* [rows, top_k] */
    float *top_lse;   /* NULL, or [rows] with top_k > 0: the log of the sum of exp over the
                         row's logits below argmax_limit, so that the candidates' share of the
                         row's probability is known (ttt_sampler_sample_nucleus) */
} ttt_eval_out;
/* The most candidates per row ttt_eval_out.top_k may ask for. */
#define TTT_TOP_K_MAX 1024

/* Appends n tokens to the sequence and runs the model over them. Any split of a sequence into
 * calls gives the same outputs as a single call (fast-weight updates happen at chunk ends). */
ttt_status ttt_session_eval(ttt_session *s, const int32_t *tokens, int n, const ttt_eval_out *out);
/* logits [n_vocab]: the last row's logits of the session's last eval when it asked for top
 * candidates or the argmax and not for the logits (they stay where the model ran until the
 * next eval; a GPU copies them now). For a sampler that found the candidates too few
 * (ttt_sampler_sample_nucleus). TTT_ERR_ARG when that eval kept none. */
ttt_status ttt_session_logits(ttt_session *s, float *logits);

/* ---- batch: several sessions decoding together ---- */
/* A batch steps n sessions of one model by one token each in a single pass over the weights
 * (a server's decode loop): each session keeps its own KV cache, fast weights, TTT mode and
 * position, and the set of sessions may change freely between calls (sessions join after
 * their own prefill with ttt_session_eval, and leave by not being passed). The result equals
 * one ttt_session_eval of one token per session. The batch owns only step buffers. */
typedef struct ttt_batch ttt_batch;

/* max_seqs: the most sessions one call may step. */
ttt_status ttt_batch_init(ttt_model *m, int max_seqs, ttt_batch **out);
void ttt_batch_free(ttt_batch *b);
/* Feeds tokens[i] to sessions[i] (distinct sessions of the batch's model, each with room for
 * one more token). logits: NULL or [n, n_vocab], row i for sessions[i]. On failure every
 * session passed is marked failed (as a failed ttt_session_eval would be). */
ttt_status ttt_batch_decode(ttt_batch *b, ttt_session *const *sessions, int n,
                            const int32_t *tokens, float *logits);
/* The same, returning each row's greedy token (argmax [n], lowest id on ties, over the whole
 * vocabulary) instead of, or with, its logits (either may be NULL): on a GPU only the ids
 * cross to the host. */
ttt_status ttt_batch_decode_argmax(ttt_batch *b, ttt_session *const *sessions, int n,
                                   const int32_t *tokens, float *logits, int32_t *argmax);
/* The same with any of ttt_eval_out's per-row outputs (logits, argmax, top candidates) for
 * all n rows (logits_all is implied; hidden must be NULL); out may be NULL. */
ttt_status ttt_batch_decode_out(ttt_batch *b, ttt_session *const *sessions, int n,
                                const int32_t *tokens, const ttt_eval_out *out);

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

/* ---- sampling (llama.cpp's order: repetition penalty, top-k, top-p, min-p, temperature) ---- */
typedef struct ttt_sampler ttt_sampler;

typedef struct ttt_sampler_params {
    float temp;           /* <= 0: greedy (argmax, lowest id on ties) */
    int top_k;            /* <= 0: all tokens */
    float top_p;          /* >= 1: off */
    float min_p;          /* 0: off; keeps tokens with p >= min_p * p_max */
    float repeat_penalty; /* 1: off; divides positive / multiplies negative logits */
    int repeat_last_n;    /* tokens the penalty looks back over */
    uint64_t seed;        /* same seed, same logits: same tokens */
} ttt_sampler_params;

ttt_sampler_params ttt_sampler_default_params(void);
ttt_status ttt_sampler_init(const ttt_sampler_params *p, int n_vocab, ttt_sampler **out);
void ttt_sampler_free(ttt_sampler *s);
/* Forgets the token history and restarts the random generator from the seed. */
void ttt_sampler_reset(ttt_sampler *s);
/* Records a token of the sequence (prompt or generated) for the repetition penalty. */
void ttt_sampler_accept(ttt_sampler *s, int32_t token);
/* logits: [n_vocab]. Returns a token id; does not accept it. */
int32_t ttt_sampler_sample(ttt_sampler *s, const float *logits);
/* 1 when sampling is the argmax of the raw logits (temp <= 0, no repetition penalty): the
 * caller may then ask the model for ttt_eval_out.argmax instead of the logits. */
int ttt_sampler_is_greedy(const ttt_sampler *s);
/* How many of the largest logits (ttt_eval_out.top_k) suffice for the next sample to equal
 * ttt_sampler_sample over the whole vocabulary: top_k (1 when greedy) plus the distinct
 * tokens the repetition penalty may lower. 0 when the whole vocabulary is needed: top_k off
 * (<= 0) with temp > 0, a penalty below 1, or more than TTT_TOP_K_MAX. Changes as tokens are
 * accepted; ask before each step. */
int ttt_sampler_top_k(const ttt_sampler *s);
/* Samples from the n largest logits of a row (logit[i] of token id[i], in any order) as
 * ttt_sampler_sample would from the whole row, provided n >= ttt_sampler_top_k(s) > 0. */
int32_t ttt_sampler_sample_top(ttt_sampler *s, const float *logit, const int32_t *id, int n);
/* Top-p without top-k (temp > 0, no repetition penalty, top_k <= 0, top_p < 1) needs only the
 * nucleus, usually a few dozen tokens: how many of the largest logits to ask for with their
 * row's log-sum-exp (ttt_eval_out.top_lse), else 0. */
int ttt_sampler_nucleus_k(const ttt_sampler *s);
/* Samples from the n largest logits of a row (largest first or in any order) whose whole row
 * has log-sum-exp lse, as ttt_sampler_sample would from the whole row, when they hold top_p of
 * its probability; -1, drawing nothing, when they do not (then sample the whole row: its
 * logits from ttt_session_logits). The same draws up to the rounding of the row's sum. */
int32_t ttt_sampler_sample_nucleus(ttt_sampler *s, const float *logit, const int32_t *id, int n,
                                   float lse);
/* The vocabulary size the sampler was made for (ids it may return lie below it). */
int ttt_sampler_n_vocab(const ttt_sampler *s);

/* ==== tokenizers and chat formats (Hugging Face tokenizer.json) ====
 *
 * A ttt_tokenizer is read-only after loading: encode and decode may run on several threads
 * at once. Text in is UTF-8; ill-formed UTF-8 is rejected with TTT_ERR_ARG naming the byte
 * offset (docs/TOKENIZER.md). Arrays and strings returned through `**out` are malloc'ed and
 * belong to the caller (free()). */
typedef struct ttt_tokenizer ttt_tokenizer;

/* path: a model directory (tokenizer.json, and tokenizer_config.json and
 * generation_config.json when present) or a tokenizer.json file (its directory's configs are
 * read too). */
ttt_status ttt_tokenizer_load(const char *path, ttt_tokenizer **out);
void ttt_tokenizer_free(ttt_tokenizer *t);

enum {
    TTT_TOK_ADD_SPECIAL = 1,   /* apply the post-processor (BOS/EOS), as HF add_special_tokens */
    TTT_TOK_NO_SPECIAL = 2,    /* special tokens written in the text are plain text (for user
                                  content); non-special added tokens still match */
    TTT_TOK_SKIP_SPECIAL = 4,  /* decode: leave special tokens out */
};

/* ids of len bytes of text (flags: TTT_TOK_ADD_SPECIAL, TTT_TOK_NO_SPECIAL). */
ttt_status ttt_tokenize(const ttt_tokenizer *t, const char *text, size_t len, int flags,
                        int32_t **ids, size_t *n_ids);
/* Text of n ids (flags: TTT_TOK_SKIP_SPECIAL); NUL-terminated, *len without the NUL. An id
 * outside the vocabulary is TTT_ERR_ARG naming its position. */
ttt_status ttt_detokenize(const ttt_tokenizer *t, const int32_t *ids, size_t n, int flags,
                          char **text, size_t *len);

/* Ids run 0..ttt_tokenizer_n_vocab()-1 (model vocabulary and added tokens). */
int ttt_tokenizer_n_vocab(const ttt_tokenizer *t);
/* The token's text as stored (byte-level or "▁" form), NULL when id has none. */
const char *ttt_tokenizer_token(const ttt_tokenizer *t, int32_t id);
/* The id of a token's text (added tokens first), -1 when absent. */
int32_t ttt_tokenizer_find(const ttt_tokenizer *t, const char *token);
int ttt_tokenizer_is_special(const ttt_tokenizer *t, int32_t id);
int32_t ttt_tokenizer_bos(const ttt_tokenizer *t);  /* -1 when none */
int32_t ttt_tokenizer_eos(const ttt_tokenizer *t);  /* tokenizer_config's eos_token, -1 */
/* Every id that ends generation: eos_token and generation_config's eos_token_id list. */
int ttt_tokenizer_is_eog(const ttt_tokenizer *t, int32_t id);
int ttt_tokenizer_eog_ids(const ttt_tokenizer *t, const int32_t **ids);

/* Sampling defaults of generation_config.json; has_* say which were given. */
typedef struct ttt_gen_defaults {
    float temperature;
    float top_p;
    int top_k;
    int has_temperature, has_top_p, has_top_k;
} ttt_gen_defaults;
void ttt_tokenizer_gen_defaults(const ttt_tokenizer *t, ttt_gen_defaults *g);

/* Streaming detokenizer: text comes out only once it is complete UTF-8 and no later token
 * can change it (the decoder's look-behind is handled: Metaspace's first-space strip, byte
 * fallback and byte-level pieces of one character). */
typedef struct ttt_detok ttt_detok;
ttt_status ttt_detok_init(const ttt_tokenizer *t, int flags, ttt_detok **out);
/* Adds one id; *text (valid until the next call, NUL-terminated) is the new text, maybe "". */
ttt_status ttt_detok_push(ttt_detok *d, int32_t id, const char **text, size_t *len);
/* Whatever is held back (an incomplete character comes out as U+FFFD), then starts afresh. */
ttt_status ttt_detok_flush(ttt_detok *d, const char **text, size_t *len);
void ttt_detok_free(ttt_detok *d);

/* Chat formats, detected from the chat template's text. */
enum { TTT_CHAT_NONE = 0, TTT_CHAT_CHATML = 1, TTT_CHAT_LLAMA3 = 2, TTT_CHAT_GEMMA = 3 };
typedef struct ttt_chat_msg {
    const char *role;     /* "system", "user", "assistant" */
    const char *content;
} ttt_chat_msg;
typedef struct ttt_chat_params {
    int add_generation_prompt; /* end with the assistant's header */
    int enable_thinking;       /* 0: Qwen3's empty think block after the header; default 1 */
} ttt_chat_params;
ttt_chat_params ttt_chat_default_params(void);
int ttt_tokenizer_chat_format(const ttt_tokenizer *t);   /* TTT_CHAT_* */
const char *ttt_chat_format_name(int format);
/* Replaces the chat template (e.g. a .jinja file's text); TTT_ERR_UNSUPPORTED when its format
 * is none of the built-in ones. */
ttt_status ttt_tokenizer_set_chat_template(ttt_tokenizer *t, const char *tmpl);
/* The prompt text of the messages; encode it with flags 0 (it holds BOS where the format
 * wants one). */
ttt_status ttt_chat_apply(const ttt_tokenizer *t, const ttt_chat_msg *msgs, size_t n,
                          const ttt_chat_params *p, char **text);
/* The same prompt as ids (ttt_chat_apply, then ttt_tokenize with flags 0). */
ttt_status ttt_chat_tokenize(const ttt_tokenizer *t, const ttt_chat_msg *msgs, size_t n,
                             const ttt_chat_params *p, int32_t **ids, size_t *n_ids);
/* ==== end of tokenizers ==== */

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

/* ==== training (src/train): exact fp32 training with hand-written backward, on the CPU or
 * a GPU ==== */
typedef struct ttt_trainer ttt_trainer;

/* Which tensors learn; the rest are frozen (no gradient buffers, no optimizer state). */
typedef enum ttt_train_policy {
    TTT_TRAIN_ALL = 0,     /* every tensor */
    TTT_TRAIN_ADAPTER = 1, /* ttt_conv, ttt_proj and the down_proj of TTT layers */
    TTT_TRAIN_TTT = 2,     /* ttt_conv and ttt_proj */
    TTT_TRAIN_REGEX = 3,   /* tensors whose HF name matches `regex` (POSIX extended) */
} ttt_train_policy;

typedef enum ttt_lr_decay { TTT_LR_CONSTANT, TTT_LR_LINEAR, TTT_LR_COSINE } ttt_lr_decay;

typedef struct ttt_train_params {
    ttt_train_policy policy;
    const char *regex;      /* TTT_TRAIN_REGEX only; copied */
    double lr;              /* peak learning rate (default 1e-3) */
    double beta1, beta2;    /* AdamW moments (0.9, 0.95) */
    double eps;             /* 1e-8 */
    double weight_decay;    /* decoupled, on every trained tensor (0.1) */
    double max_grad_norm;   /* global-norm clip; <= 0: off (1.0) */
    int warmup_steps;       /* linear warm-up steps; 0: use warmup_ratio */
    double warmup_ratio;    /* warm-up as a fraction of total_steps (0) */
    int total_steps;        /* optimizer steps of the run, for decay and ratio (0: no decay) */
    ttt_lr_decay decay;     /* after warm-up (TTT_LR_CONSTANT) */
    double lr_min;          /* floor of the decay, absolute (0) */
    int grad_accum;         /* micro-steps per optimizer step: gradients are scaled by 1/n (1) */
    int doc_reset;          /* restart fast weights and chunk alignment at document starts */
    int device;             /* TTT_DEVICE_CPU (default) or TTT_DEVICE_CUDA: where the fp32
                               parameters, moments and activations live and compute runs */
} ttt_train_params;

ttt_train_params ttt_train_default_params(void);
/* Copies the model's tensors to fp32 (trainable ones get gradient and AdamW buffers) on the
 * CPU or, with p->device TTT_DEVICE_CUDA, on the GPU (TTT_ERR_UNSUPPORTED without a CUDA
 * build or a GPU, TTT_ERR_NOMEM when they do not fit). The model may be loaded on either
 * device; it must outlive the trainer, and the trainer never writes into it. */
ttt_status ttt_trainer_init(ttt_model *m, const ttt_train_params *p, ttt_trainer **out);
void ttt_trainer_free(ttt_trainer *t);

/* One micro-step on B sequences of T tokens: forward, mean next-token cross-entropy over
 * labels != -100, backward; gradients are added to the accumulated ones (scaled by
 * 1/grad_accum). doc_start: NULL or [B, T] flags, 1 where a document starts (used with
 * doc_reset). loss: the batch's mean loss. */
ttt_status ttt_trainer_step(ttt_trainer *t, const int32_t *inputs, const int32_t *labels,
                            const uint8_t *doc_start, int B, int T, double *loss);
/* The same from tokens [B, T + 1]: inputs = tokens[:, :T], labels = tokens[:, 1:]. */
ttt_status ttt_trainer_step_tokens(ttt_trainer *t, const int32_t *tokens,
                                   const uint8_t *doc_start, int B, int T, double *loss);
/* Clips the accumulated gradients, takes one AdamW step at the scheduled learning rate and
 * zeroes the gradients. grad_norm: global norm before clipping; lr: the rate used (NULLs ok). */
ttt_status ttt_trainer_apply(ttt_trainer *t, double *grad_norm, double *lr);
void ttt_trainer_zero_grad(ttt_trainer *t);
/* Learning rate of optimizer step `step` (0-based) under the schedule. */
double ttt_trainer_lr_at(const ttt_trainer *t, int64_t step);
/* Optimizer steps taken (AdamW's t); set it with the moments to resume exactly. */
int64_t ttt_trainer_get_step(const ttt_trainer *t);
void ttt_trainer_set_step(ttt_trainer *t, int64_t step);

/* A trainable tensor in HF layout and name: value, gradient and AdamW moments (fp32), in host
 * memory. With a GPU trainer these are mirrors: the call that hands them out brings them up
 * to date, and what the caller writes into them reaches the GPU at the next step, eval or
 * apply. They stay valid until the trainer is freed. */
typedef struct ttt_train_tensor {
    const char *name;
    int ndim;
    int64_t shape[3];
    size_t n_elements;
    float *data;
    float *grad;
    float *m, *v;
} ttt_train_tensor;

int ttt_trainer_n_tensors(const ttt_trainer *t); /* trainable tensors */
/* Every tensor of the model, trainable ones first (index < n_tensors), then the frozen ones
 * (grad, m and v NULL): what a checkpoint of the trained model holds. */
int ttt_trainer_n_all(const ttt_trainer *t);
ttt_status ttt_trainer_tensor_all(const ttt_trainer *t, int i, ttt_train_tensor *out);
/* Mean loss of B sequences without a backward pass or any change to the gradients
 * (validation); arguments as ttt_trainer_step and ttt_trainer_step_tokens. */
ttt_status ttt_trainer_eval(ttt_trainer *t, const int32_t *inputs, const int32_t *labels,
                            const uint8_t *doc_start, int B, int T, double *loss);
ttt_status ttt_trainer_eval_tokens(ttt_trainer *t, const int32_t *tokens,
                                   const uint8_t *doc_start, int B, int T, double *loss);
ttt_status ttt_trainer_tensor(const ttt_trainer *t, int i, ttt_train_tensor *out);
/* By HF name; TTT_ERR_ARG naming it when absent or frozen. */
ttt_status ttt_trainer_find(const ttt_trainer *t, const char *name, ttt_train_tensor *out);
/* Training FLOPs of one micro-step of B x T tokens: per token 6 per trainable and 4 per
 * frozen matrix weight (the projection V = U P included), attention over all T keys, and
 * the TTT chunk update's products. */
double ttt_trainer_flops(const ttt_trainer *t, int B, int T);
/* ==== end of training ==== */
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
/* Decode steps on the GPU run their layers as CUDA graphs (TTT_CUDA_NO_GRAPH=1: kernel by
 * kernel): how many graphs this process has recorded and how many it has replayed (each
 * replay is one step's layers in one launch), and the operations (kernels, copies) in the
 * last one recorded. Any pointer may be NULL. */
ttt_status ttt_device_graphs(int device, uint64_t *recorded, uint64_t *replayed,
                             uint64_t *last_nodes);
/* ==== end devices ==== */

#ifdef __cplusplus
}
#endif

#endif /* TTT_H */
