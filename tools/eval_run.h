/* eval_run.h - one evaluation sample through a session in one of the three modes of the
 * Adapter-Only study, with greedy decoding, latencies and peak memory. */
#ifndef TTT_TOOLS_EVAL_RUN_H
#define TTT_TOOLS_EVAL_RUN_H

#include "ttt.h"

typedef enum eval_mode {
    EVAL_MODE_IN_CONTEXT = 0, /* TTT off: a plain long-context model */
    EVAL_MODE_TTT = 1,        /* TTT on while reading and answering (the paper's evaluation) */
    EVAL_MODE_STRICT = 2,     /* read the context with TTT, flush, drop the KV cache, answer
                                 the question alone with the fast weights frozen */
    EVAL_MODE_COUNT
} eval_mode;

const char *eval_mode_name(eval_mode m);
/* -1 when unknown */
int eval_mode_parse(const char *name);

typedef struct eval_prompt {
    const int32_t *full;   /* [n_full] context + question, one tokenization (in_context, ttt) */
    int n_full;
    const int32_t *ctx;    /* [n_ctx] the context alone (strict) */
    int n_ctx;
    const int32_t *quest;  /* [n_quest] the question alone, as a fresh sequence (strict) */
    int n_quest;
} eval_prompt;

typedef struct eval_result {
    int32_t *gen;          /* [n_gen] generated ids (malloc'ed; the caller frees) */
    int n_gen;
    int n_prompt;          /* tokens read before decoding */
    double t_prefill;      /* seconds */
    double t_decode;       /* seconds */
    long long peak_rss;    /* bytes, -1 if unknown */
} eval_result;

/* Resets the session, runs the sample, decodes greedily up to max_new tokens or an eos id.
 * n_text: the ids the argmax may pick (those the tokenizer knows; a model may pad its
 * vocabulary beyond them). The session returns the argmax itself (ttt_eval_out.argmax). */
ttt_status eval_run_sample(ttt_session *s, eval_mode mode, const eval_prompt *p, int max_new,
                           const int32_t *eos, int n_eos, int n_text, eval_result *r);

#endif
