/* fill.c - finds the haystack size whose prompt fills [95%, 100%] of a token budget.
 * Token counts grow almost linearly with the size, so a secant step from two probes lands in
 * the window in one or two more; bisection takes over when a step would leave the bracket.
 * Each probe costs one count of the whole prompt, so few probes keep building cheap. */
#include "eval/fill.h"

#include "util/err.h"

ttt_status ttt_fill_search(ttt_fill_probe_fn probe, void *ctx, const ttt_fill_range *r,
                           ttt_fill_result *out) {
    long lo = r->lo, hi = r->hi;
    if (lo < 1 || hi < lo || r->budget < 1)
        return ttt_err(TTT_ERR_ARG, "fill: bad range [%ld, %ld] or budget %d", lo, hi, r->budget);
    const long floor_t = (long)((double)r->budget * TTT_FILL_MIN_FRAC + 0.999999);
    const double target = (double)r->budget * (1.0 + TTT_FILL_MIN_FRAC) / 2;
    long ok_s = -1, bad_s = hi + 1; /* largest size known to fit, smallest known not to */
    int ok_t = 0;
    long prev_s = -1;
    int prev_t = 0;
    long s = r->hint >= lo && r->hint <= hi ? r->hint : lo;
    *out = (ttt_fill_result){0};
    for (int iter = 0; iter < 100; iter++) {
        int t;
        ttt_status st = probe(ctx, s, &t);
        out->probes++;
        if (st != TTT_OK) return st;
        if (t <= r->budget) {
            if (s > ok_s) ok_s = s, ok_t = t;
            if (t >= floor_t || s == hi) break;
        } else if (s < bad_s) {
            bad_s = s;
        }
        if (ok_s < 0 && bad_s == lo) {
            out->size = lo;
            out->tokens = t;
            out->too_small = true;
            return ttt_err(TTT_ERR_ARG, "the smallest prompt has %d tokens, over the budget of %d", t,
                           r->budget);
        }
        if (bad_s - ok_s <= 1 && ok_s >= 0) break;
        long next;
        if (prev_s >= 0 && prev_s != s && prev_t != t) {
            double slope = (double)(t - prev_t) / (double)(s - prev_s);
            next = slope > 0 ? s + (long)((target - t) / slope) : -1;
        } else if (ok_s < 0) {
            next = lo; /* a first probe over budget: the next one brackets from below */
        } else {
            /* one point only: assume tokens proportional to size */
            next = (long)((double)s * target / (t > 0 ? t : 1));
        }
        long low = ok_s >= 0 ? ok_s : lo - 1;
        if (next <= low || next >= bad_s || next == s) {
            next = ok_s < 0 ? lo : low + (bad_s - low) / 2;
            if (next <= low) next = low + 1;
        }
        if (next > hi) next = hi;
        prev_s = s;
        prev_t = t;
        s = next;
    }
    if (ok_s < 0) return ttt_err(TTT_ERR_ARG, "fill: no size fits the budget of %d", r->budget);
    out->size = ok_s;
    out->tokens = ok_t;
    out->in_window = ok_t >= floor_t;
    return TTT_OK;
}
