/* demo.h - the built-in synthetic long-context data of `ttt demo`: key-value recall and a
 * needle in a haystack, written in the byte-level tokenizer's ids (a byte is its own id; BOS
 * is TTT_BYTE_BOS), so every sample is also readable text. Answers lie wherever the layout
 * puts them; at lengths well past the attention window they can reach the question only
 * through the fast weights. Each sample depends only on (task, length, seed, index).
 *
 *   kv      "<bos>Qx Bm Td ... " noise " Bm Qx Td ..."   N pairs, then all N keys again in
 *           another order; the answers are the values after the repeated keys
 *   needle  "<bos>" noise " Kv" noise " K" -> v              one pair at a random depth
 *
 * Keys are 'A'..'Z', values 'a'..'z', noise is digits and spaces. */
#ifndef TTT_DEMO_DEMO_H
#define TTT_DEMO_DEMO_H

#include <stdint.h>

#include "ttt.h"

typedef enum ttt_demo_task { TTT_DEMO_KV = 0, TTT_DEMO_NEEDLE = 1, TTT_DEMO_N_TASKS } ttt_demo_task;

#define TTT_DEMO_MAX_PAIRS 26
#define TTT_DEMO_MAX_ANSWERS TTT_DEMO_MAX_PAIRS

const char *ttt_demo_task_name(int task);

typedef struct ttt_demo_params {
    int n_pairs;   /* kv: pairs per sample, 1..TTT_DEMO_MAX_PAIRS */
} ttt_demo_params;

typedef struct ttt_demo_sample {
    int n;                              /* tokens of the sample (= the length asked for) */
    int n_ctx;                          /* tokens[0..n_ctx): context; the rest: question */
    int n_answers;                      /* answers in the sample (1 needle, N kv) */
    int answer_pos[TTT_DEMO_MAX_ANSWERS]; /* [n_answers] positions whose next token is an
                                             answer (labels go on them) */
    int32_t answer[TTT_DEMO_MAX_ANSWERS]; /* [n_answers] the answer ids */
} ttt_demo_sample;

/* Shortest length a task's sample can have. */
int ttt_demo_min_length(int task, const ttt_demo_params *p);
/* Writes one sample of `length` tokens into tokens[length]. TTT_ERR_ARG when the length is
 * below ttt_demo_min_length or the parameters are out of range. */
ttt_status ttt_demo_make(int task, const ttt_demo_params *p, int length, uint64_t seed,
                         uint64_t index, int32_t *tokens, ttt_demo_sample *out);

/* A training sequence of T + 1 tokens and labels[T] (TTT_MQAR_IGNORE = -100 except the
 * answers): a kv or needle sample of a random length in [its minimum, T + 1] then noise, or
 * a stream of pairs of one key -> value map in noise (answers wherever a key comes again). */
ttt_status ttt_demo_train_seq(const ttt_demo_params *p, int T, uint64_t seed, uint64_t index,
                              int32_t *tokens, int32_t *labels);

/* The config.json text of a demo model (caller frees): Qwen3-shaped, byte-level vocabulary,
 * every layer sliding-window attention. ttt_layers "" or NULL: no TTT. */
typedef struct ttt_demo_model {
    int d_model, n_layers, n_head, n_head_kv, head_dim, d_ff; /* shapes */
    int window;          /* sliding_window */
    int max_pos;         /* max_position_embeddings */
    const char *ttt_layers; /* "1,3" */
    int ttt_chunk;
    double ttt_lr;
    const char *ttt_target; /* "hidden_states" or "input_embed" */
} ttt_demo_model;

ttt_status ttt_demo_config_json(const ttt_demo_model *m, char **out);
/* Writes tokenizer.json, tokenizer_config.json and generation_config.json of the byte-level
 * tokenizer (ids 0..255 the bytes, 256 <|bos|>, 257 <|eos|>, 258 <|pad|>) into dir. */
ttt_status ttt_demo_write_tokenizer(const char *dir);

#endif
