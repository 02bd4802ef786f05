/* eval.h - long-context evaluation data: the 13 RULER tasks (NVIDIA RULER, 2024 generators),
 * MQAR token sequences, scorers, and the writers of results (JSONL, summaries, tables, SVG).
 * Everything here works on text and token ids; the runner that drives a model is elsewhere.
 * Specs: docs/EVAL.md. */
#ifndef TTT_EVAL_EVAL_H
#define TTT_EVAL_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttt.h"
#include "util/rng.h"

/* ---- token counting: the evaluated model's tokenizer behind a callback ---- */

/* Counts the tokens of text[0..len) as the model would see them inside a prompt (no BOS). */
typedef ttt_status (*ttt_eval_count_fn)(void *ctx, const char *text, size_t len, int *n_tokens);

/* The deterministic test counter: one token per run of letters/digits/other bytes between
 * white space and ASCII punctuation, one per punctuation character ("hungry-wrench." is 4).
 * ctx is unused. */
ttt_status ttt_eval_count_words(void *ctx, const char *text, size_t len, int *n_tokens);

/* ---- random numbers: our own generator (xoshiro256**), not CPython's; see docs/EVAL.md ---- */
void ttt_rng_shuffle_int(ttt_rng *r, int *a, size_t n);
void ttt_rng_shuffle_ptr(ttt_rng *r, const char **a, size_t n);
/* k distinct values of [0, n) in random order into out[k]; k <= n. */
ttt_status ttt_rng_sample(ttt_rng *r, int n, int k, int *out);
/* Sorts a few ints ascending (needle positions). */
void ttt_sort_small(int *a, int n);

/* ---- a growable string ---- */
typedef struct ttt_buf {
    char *p;    /* [cap], NUL-terminated when len < cap */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
    bool oom;   /* an append failed; the caller checks once at the end */
} ttt_buf;

void ttt_buf_put(ttt_buf *b, const char *s, size_t n);
void ttt_buf_puts(ttt_buf *b, const char *s);
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void ttt_buf_printf(ttt_buf *b, const char *fmt, ...);
/* Detaches the string (NULL when an append failed; then the buffer is freed). */
char *ttt_buf_take(ttt_buf *b);
void ttt_buf_free(ttt_buf *b);

/* ---- word lists ---- */
typedef struct ttt_words {
    const char **nouns;      /* [n_nouns] */
    const char **adjectives; /* [n_adjectives] */
    const char **verbs;      /* [n_verbs] */
    int n_nouns, n_adjectives, n_verbs;
    char *storage;           /* the loaded files' bytes (NULL for the built-in lists) */
} ttt_words;

/* The project's own lists (src/eval/words.c). */
void ttt_words_builtin(ttt_words *w);
/* nounlist.txt, adjectivelist.txt, verblist.txt of dir (RULER's wonderwords files): one word
 * a line, trailing white space removed, empty lines skipped. */
ttt_status ttt_words_load(const char *dir, ttt_words *w);
void ttt_words_free(ttt_words *w);

/* ---- QA data (SQuAD v2 dev, HotpotQA dev-distractor) ---- */
typedef struct ttt_qa_item {
    const char *question; /* points into the set's storage */
    const char **answers; /* [n_answers] */
    int n_answers;
    int *gold;            /* [n_gold] document indices */
    int n_gold;
    int *more;            /* [n_more] other paragraphs of the same article (SQuAD) */
    int n_more;
} ttt_qa_item;

typedef struct ttt_qa_set {
    const char **docs;  /* [n_docs] unique documents, sorted by bytes */
    int n_docs;
    ttt_qa_item *items; /* [n_items] answerable questions, in file order */
    int n_items;
    void *arena;        /* owns every string and array above */
} ttt_qa_set;

typedef enum ttt_qa_kind { TTT_QA_SQUAD, TTT_QA_HOTPOTQA } ttt_qa_kind;

ttt_status ttt_qa_load(const char *path, ttt_qa_kind kind, ttt_qa_set *out);
/* Parses JSON text (for tests and fuzzing); label names it in errors. */
ttt_status ttt_qa_parse(const char *text, size_t len, ttt_qa_kind kind, const char *label,
                        ttt_qa_set *out);
void ttt_qa_free(ttt_qa_set *q);

/* ---- scoring (RULER scripts/eval/synthetic/constants.py) ---- */
typedef enum ttt_eval_scorer {
    TTT_SCORE_MATCH_ALL,  /* fraction of references found in the output */
    TTT_SCORE_MATCH_PART, /* 1 when any reference is found */
} ttt_eval_scorer;

const char *ttt_eval_scorer_name(ttt_eval_scorer s);
/* The score of one output in [0, 1]: RULER's post-processing (strip, control characters to
 * '\n', strip), then case-insensitive (ASCII) substring search of each reference. */
double ttt_eval_score(ttt_eval_scorer s, const char *prediction, const char *const *refs,
                      int n_refs);

/* ---- RULER tasks ---- */
typedef enum ttt_ruler_task {
    TTT_RULER_NIAH_SINGLE_1,
    TTT_RULER_NIAH_SINGLE_2,
    TTT_RULER_NIAH_SINGLE_3,
    TTT_RULER_NIAH_MULTIKEY_1,
    TTT_RULER_NIAH_MULTIKEY_2,
    TTT_RULER_NIAH_MULTIKEY_3,
    TTT_RULER_NIAH_MULTIVALUE,
    TTT_RULER_NIAH_MULTIQUERY,
    TTT_RULER_VT,
    TTT_RULER_CWE,
    TTT_RULER_FWE,
    TTT_RULER_QA_1,
    TTT_RULER_QA_2,
    TTT_RULER_N_TASKS
} ttt_ruler_task;

const char *ttt_ruler_task_name(int task);
/* TTT_ERR_ARG naming the unknown name and listing the known ones. */
ttt_status ttt_ruler_task_parse(const char *name, int *task);
/* Parses a comma-separated list of task names, or "all"; out[TTT_RULER_N_TASKS]. */
ttt_status ttt_ruler_task_list(const char *list, int *out, int *n);
int ttt_ruler_max_new_tokens(int task);

/* One prompt: the runner feeds context + question (in_context, ttt) or ingests context then
 * answers question alone (strict). With a chat template, context starts with the user turn's
 * header and question ends with the assistant header and the answer prefix. */
typedef struct ttt_eval_sample {
    int task;              /* ttt_ruler_task */
    int length;            /* the target sequence length (prompt + max_new_tokens) */
    int index;             /* sample number */
    char *context;         /* the prompt up to the question */
    char *question;        /* the rest: question, chat suffix, answer prefix */
    char *answer_prefix;   /* the tail of question the model continues */
    char **refs;           /* [n_refs] reference strings */
    int n_refs;
    int max_new_tokens;    /* tokens to generate */
    ttt_eval_scorer scorer;
    int prompt_tokens;     /* tokens of context + question by the counter */
    long size;             /* haystack size the fill chose (lines, words, docs, noises) */
} ttt_eval_sample;

void ttt_eval_sample_free(ttt_eval_sample *s);

typedef struct ttt_ruler_config {
    const ttt_words *words;     /* keys and CWE pool; NULL: the built-in lists */
    const char *essay;          /* essay haystack text (any text), or NULL: essay tasks skip */
    size_t essay_len;
    const ttt_qa_set *squad;    /* qa_1 data, or NULL: qa_1 skips */
    const ttt_qa_set *hotpotqa; /* qa_2 data, or NULL: qa_2 skips */
    const char *chat_user;      /* chat template text before the user message; NULL: base */
    const char *chat_assistant; /* text between the user message and the answer; NULL: base */
    ttt_eval_count_fn count;    /* the model's token counter */
    void *count_ctx;
    uint64_t seed;              /* RULER's default is 42 */
    int version;                /* 2024 (0 means 2024: RULER 860f2bd) or 2025 (May 2025 on: VT
                                   "assigned", line layout and fresh example value; CWE example
                                   spacing; FWE vocabulary without the answer's tokens) */
} ttt_ruler_config;

/* The generator of one (task, length): it finds the haystack size once, then each sample
 * starts from it and adjusts, so that every prompt is within [95%, 100%] of
 * length - max_new_tokens tokens (when the haystack can reach that; QA document pools and
 * very small lengths can end below). */
typedef struct ttt_ruler_gen ttt_ruler_gen;

/* TTT_ERR_UNSUPPORTED with a message saying what to pass when the task's data (essay or QA
 * file) is missing; TTT_ERR_ARG when length cannot hold the template. */
ttt_status ttt_ruler_gen_init(const ttt_ruler_config *c, int task, int length,
                              ttt_ruler_gen **out);
ttt_status ttt_ruler_gen_sample(ttt_ruler_gen *g, int index, ttt_eval_sample *out);
/* Counter calls and bytes counted so far (the cost of prompt building). */
void ttt_ruler_gen_stats(const ttt_ruler_gen *g, long *calls, uint64_t *bytes);
void ttt_ruler_gen_free(ttt_ruler_gen *g);

/* ---- MQAR (Zoology multi-query associative recall) ---- */
#define TTT_MQAR_IGNORE (-100)

typedef struct ttt_mqar_params {
    int vocab_size;          /* V: keys in [1, V/2), values in [V/2, V), 0 the filler */
    int n_kv;                /* N key-value pairs */
    int seq_len;             /* L, even */
    double power_a;          /* gap distribution p[i] ~ a (i+1)^(a-1); Zoology: 0.01 */
    int num_passes;          /* times the key-value block is repeated (JRT); 1 */
    bool random_non_queries; /* fill the query region's zeros with random tokens */
} ttt_mqar_params;

ttt_mqar_params ttt_mqar_default_params(void);
/* Examples first .. first+n-1 into inputs[n, L] and labels[n, L] (TTT_MQAR_IGNORE where not
 * a query). Example e depends only on (params, seed, e), so a data set can be made in chunks. */
ttt_status ttt_mqar_generate(const ttt_mqar_params *p, uint64_t seed, int64_t first, int n,
                             int32_t *inputs, int32_t *labels);
/* Zoology's accuracy: mean over examples of the fraction of labelled positions predicted. */
double ttt_mqar_accuracy(const int32_t *labels, const int32_t *preds, int n, int seq_len);

#endif
