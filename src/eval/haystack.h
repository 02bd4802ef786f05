/* haystack.h - RULER's haystacks (noise, essay, needle) and needle keys and values. */
#ifndef TTT_EVAL_HAYSTACK_H
#define TTT_EVAL_HAYSTACK_H

#include "eval/eval.h"

#define TTT_NOISE_SENTENCE \
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."

/* An essay corpus with white space collapsed to single spaces (RULER: re.sub(r'\s+', ' ')). */
typedef struct ttt_essay {
    char *text;      /* [len + 1] single-spaced words */
    size_t len;      /* bytes */
    size_t *ends;    /* [n_words] byte offset just past each word */
    long n_words;
} ttt_essay;

ttt_status ttt_essay_init(ttt_essay *e, const char *text, size_t len);
void ttt_essay_free(ttt_essay *e);

/* Needle key and value kinds. */
typedef enum ttt_kv_kind { TTT_KV_WORDS, TTT_KV_NUMBERS, TTT_KV_UUIDS } ttt_kv_kind;

/* Room for a key or value: two words of at most 100 bytes (words.c refuses longer). */
#define TTT_KV_MAX 208

/* A random key or value: "adjective-noun", a 7-digit number, or a v4 uuid. */
void ttt_kv_random(ttt_rng *r, ttt_kv_kind kind, const ttt_words *w, char out[TTT_KV_MAX]);

/* Appends the essay's first n_words words (the corpus repeated when shorter) with the
 * needles inserted between sentences at depths drawn from RULER's 40 depths, joined by ' '. */
ttt_status ttt_essay_put(ttt_buf *b, const ttt_essay *e, long n_words, ttt_rng *r,
                         const char *const *needles, int n_needles);

/* Appends n lines (each line(i) from the callback) with the needles inserted before random
 * distinct lines, joined by '\n'. */
typedef void (*ttt_line_fn)(void *ctx, ttt_buf *b);
ttt_status ttt_lines_put(ttt_buf *b, long n, ttt_line_fn line, void *ctx, ttt_rng *r,
                         const char *const *needles, int n_needles);

#endif
