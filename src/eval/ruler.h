/* ruler.h - internals shared by the RULER task builders and the generator. */
#ifndef TTT_EVAL_RULER_H
#define TTT_EVAL_RULER_H

#include "eval/eval.h"
#include "eval/haystack.h"

typedef enum ttt_haystack { TTT_HAY_NOISE, TTT_HAY_ESSAY, TTT_HAY_NEEDLE } ttt_haystack;

typedef struct ttt_niah_config {
    ttt_haystack haystack;
    ttt_kv_kind key, value;
    int num_k, num_v, num_q; /* keys inserted, values per key, keys queried */
} ttt_niah_config;

const ttt_niah_config *ttt_niah_config_of(int task);

/* What the builders read: the generator's fixed state for one (task, length). */
typedef struct ttt_ruler_ctx {
    int task;
    int length;                 /* target sequence length */
    uint64_t seed;
    const ttt_words *words;     /* never NULL */
    const ttt_essay *essay;     /* essay tasks */
    const ttt_qa_set *qa;       /* qa tasks */
    const char *chat_user;      /* "" for base models */
    const char *chat_assistant; /* "" for base models */
    const char **cwe_pool;      /* [n_cwe_pool] CWE words: the lists' union, then made-up words */
    long n_cwe_pool;
    long vt_icl_noises;         /* noise units of VT's one-shot example */
    bool v2025;                 /* RULER's generators of May 2025 on, not 2024's */
} ttt_ruler_ctx;

/* One prompt under construction: text = context | question, where question ends with the
 * answer prefix. */
typedef struct ttt_prompt {
    ttt_buf text;   /* the whole prompt */
    size_t split;   /* where the question starts */
    size_t prefix;  /* where the answer prefix starts */
    char **refs;    /* [n_refs] */
    int n_refs;
    bool oom;       /* a reference could not be stored */
} ttt_prompt;

void ttt_prompt_add_ref(ttt_prompt *p, const char *ref);
void ttt_prompt_free(ttt_prompt *p);

/* Builders: the task's prompt at haystack size `size`, drawing from r. */
ttt_status ttt_ruler_build_niah(const ttt_ruler_ctx *g, ttt_rng *r, long size, ttt_prompt *p);
ttt_status ttt_ruler_build_vt(const ttt_ruler_ctx *g, ttt_rng *r, long size, ttt_prompt *p);
ttt_status ttt_ruler_build_cwe(const ttt_ruler_ctx *g, ttt_rng *r, long size, ttt_prompt *p);
ttt_status ttt_ruler_build_fwe(const ttt_ruler_ctx *g, ttt_rng *r, long size, ttt_prompt *p);
/* QA takes the question index too (sample i asks question i). */
ttt_status ttt_ruler_build_qa(const ttt_ruler_ctx *g, ttt_rng *r, int index, long size,
                              ttt_prompt *p);
/* VT's one-shot example alone, with its answer (to size it). */
ttt_status ttt_ruler_vt_icl_probe(const ttt_ruler_ctx *g, long n_noises, ttt_buf *b);

/* The CWE pool: the union of the lists (sorted, unique) then n_extra made-up 7-letter words
 * (for lengths the lists cannot fill); *out owns the strings of the made-up words in *extra. */
ttt_status ttt_cwe_pool(const ttt_words *w, long n_extra, uint64_t seed, const char ***out,
                        long *n, char **extra);

#endif
