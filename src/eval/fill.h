/* fill.h - the size search behind RULER's context filling. */
#ifndef TTT_EVAL_FILL_H
#define TTT_EVAL_FILL_H

#include <stdbool.h>

#include "ttt.h"

/* Prompts fill at least this share of their budget (when the haystack allows). */
#define TTT_FILL_MIN_FRAC 0.95

/* Builds the prompt at a haystack size and counts its tokens. */
typedef ttt_status (*ttt_fill_probe_fn)(void *ctx, long size, int *tokens);

typedef struct ttt_fill_range {
    long lo, hi; /* sizes to search, inclusive */
    long hint;   /* first size to try (a previous sample's), or 0 */
    int budget;  /* most tokens the prompt may have */
} ttt_fill_range;

typedef struct ttt_fill_result {
    long size;      /* the chosen size */
    int tokens;     /* its token count */
    bool in_window; /* tokens >= TTT_FILL_MIN_FRAC * budget */
    int probes;     /* prompts built and counted */
    bool too_small; /* even lo is over the budget (tokens has its count) */
} ttt_fill_result;

/* The largest size seen whose prompt fits the budget, stopping at the first one in the window;
 * TTT_ERR_ARG when even lo is over the budget (out->tokens has its count). */
ttt_status ttt_fill_search(ttt_fill_probe_fn probe, void *ctx, const ttt_fill_range *r,
                           ttt_fill_result *out);

#endif
