/* gen.h - the generation loop shared by `ttt run` and `ttt chat`: prompt prefill, sampling,
 * end-of-sequence ids, stop strings, streamed output, timing. */
#ifndef TTT_TOOLS_GEN_H
#define TTT_TOOLS_GEN_H

#include <stdbool.h>
#include <stdio.h>

#include "ttt.h"

#define GEN_MAX_STOPS 16
#define GEN_MAX_EOS 16

typedef struct gen_params {
    int n_vocab;                       /* V, of the model's logits */
    int n_predict;                     /* tokens to generate; < 0: until EOS or context full */
    bool ignore_eos;                   /* keep going past end-of-sequence ids */
    bool ids_out;                      /* print token ids, not text */
    bool capture;                      /* also return the printed text in gen_stats.text */
    const char *stops[GEN_MAX_STOPS];  /* stop strings (text output only) */
    int n_stops;
    int32_t eos[GEN_MAX_EOS];          /* end-of-sequence ids */
    int n_eos;
} gen_params;

typedef struct gen_stats {
    int n_prompt;     /* prompt tokens evaluated */
    double t_prompt;  /* seconds */
    int n_gen;        /* tokens generated */
    double t_gen;     /* seconds */
    bool hit_eos;     /* stopped at an end-of-sequence id */
    bool hit_stop;    /* stopped at a stop string */
    bool ctx_full;    /* stopped because the session could hold no more tokens */
    char *text;       /* with gen_params.capture: the printed text (malloc'ed, may be NULL
                         when empty; the caller frees) */
    size_t text_len;
    int32_t pending;  /* the last sampled token when the session has not read it (an EOS,
                         or the last of n_predict), else -1: a chat's next turn starts with it */
} gen_stats;

/* Decoding hook (NULL: ids output only): appends the text of `id` to the stream state and
 * returns the bytes now complete (UTF-8), *n of them; the pointer stays valid until the
 * next call. id -1 asks for whatever is held back, at the end of the stream. */
typedef const char *(*gen_decode_fn)(void *ctx, int32_t id, size_t *n);

/* Evaluates the prompt (which may be empty when the session already holds a context), then
 * samples up to n_predict tokens, writing them to `out` as they come. The generated ids are
 * fed back into the session, so a later call continues the same sequence. Returns TTT_OK or
 * the status of a failed session call (ttt_last_error() says why). */
ttt_status gen_run(ttt_session *s, ttt_sampler *smp, const int32_t *prompt, int n_prompt,
                   const gen_params *p, gen_decode_fn decode, void *decode_ctx, FILE *out,
                   gen_stats *st);

/* id is one of p's end-of-sequence ids. */
bool gen_is_eos(const gen_params *p, int32_t id);

/* Prints llama.cpp-style timings to stderr. */
void gen_print_stats(const gen_stats *st);

#endif
