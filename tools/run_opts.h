/* run_opts.h - options and set-up shared by the commands that generate text (`ttt run`,
 * `ttt chat`): model, context, threads, sampling, TTT overrides; loading the model, its
 * tokenizer, a session and a sampler. */
#ifndef TTT_TOOLS_RUN_OPTS_H
#define TTT_TOOLS_RUN_OPTS_H

#include <stdbool.h>

#include "gen.h"
#include "ttt.h"

typedef struct run_opts {
    const char *model_dir;  /* -m */
    int n_ctx;              /* -c; 0: the model's */
    int n_batch;            /* -b */
    int threads;            /* -t; 0: all cores */
    bool no_ttt;            /* --no-ttt */
    int ttt_chunk;          /* --ttt-chunk; 0: the checkpoint's */
    double ttt_lr;          /* --ttt-lr; < 0: the checkpoint's */
    bool seed_set;          /* --seed given (else a random seed, printed) */
    ttt_sampler_params sp;  /* --temp --top-k --top-p --min-p --repeat-penalty ... */
    bool sp_set[5];         /* which sampling flags were given (others: generation_config) */
    gen_params gen;         /* -n --stop --ignore-eos */
    ttt_model_params mp;    /* --device --precision */
} run_opts;

#define RUN_OPTS_HELP                                                                       \
    "  -n, --predict N      tokens to generate (default -1: until end of sequence)\n"      \
    "  -c, --ctx-size N     context size (default: the model's)\n"                          \
    "  -b, --batch-size N   tokens per forward step (default 512)\n"                        \
    "  -t, --threads N      CPU threads (default: all)\n"                                   \
    "  --temp T             temperature; 0 is greedy (default 0.8, or the model's\n"       \
    "                       generation_config.json)\n"                                      \
    "  --top-k N            keep the N most likely tokens (default 40; 0: all)\n"           \
    "  --top-p P            nucleus sampling (default 0.95; 1: off)\n"                      \
    "  --min-p P            drop tokens below P times the best one's probability\n"        \
    "                       (default 0.05; 0: off)\n"                                      \
    "  --repeat-penalty R   penalise the last --repeat-last-n tokens (default 1: off)\n"   \
    "  --repeat-last-n N    (default 64)\n"                                                 \
    "  --seed N             random seed (default: random, printed)\n"                       \
    "  --stop TEXT          stop when TEXT is generated (repeatable)\n"                     \
    "  --ignore-eos         do not stop at end-of-sequence tokens\n"                        \
    "  --no-ttt             plain attention model: the fast weights stay at W_down\n"       \
    "  --ttt-lr ETA         override the checkpoint's inner learning rate\n"                \
    "  --ttt-chunk C        override the checkpoint's chunk size\n"                       \
    "  --device D           cpu (default) or cuda\n"                                       \
    "  --precision P        cuda: bf16 (default) or f32\n"

void run_opts_defaults(run_opts *o);
/* Parses argv[*i] if it is a shared option: 1 consumed, 0 not ours, -1 error (printed). */
int run_opts_parse(run_opts *o, int argc, char **argv, int *i);

/* Everything a generating command holds. */
typedef struct run_ctx {
    ttt_model *model;
    ttt_model_info info;
    ttt_tokenizer *tok;   /* NULL when the command runs on ids only */
    ttt_detok *detok;     /* streaming decoder of the generated ids */
    ttt_session *sess;
    ttt_sampler *smp;
    gen_decode_fn decode; /* NULL without a tokenizer */
    void *decode_ctx;
} run_ctx;

/* Loads the model and its tokenizer (required when need_tok, else used when present) with the
 * generation defaults, applies the options, and makes a session and a sampler. Prints an
 * error and returns -1 on failure (rc is then empty). */
int run_ctx_init(run_ctx *rc, run_opts *o, const char *cmd, bool need_tok);
void run_ctx_free(run_ctx *rc);
/* Text to ids (with the tokenizer's BOS when add_bos); prints an error, returns -1. */
int run_encode(run_ctx *rc, const char *text, bool add_bos, int32_t **ids, int *n);
/* "1,2 3" to ids, each < n_vocab; returns the count or -1 (printed). */
int run_parse_ids(const char *s, int n_vocab, int32_t **ids);

#endif
