/* gen.c - the generation loop of `ttt run` and `ttt chat`. */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Text not yet printed, held back while it could still be the start of a stop string. */
typedef struct held {
    char *b;
    size_t n, cap;
} held;

static bool held_add(held *h, const char *s, size_t n) {
    if (h->n + n + 1 > h->cap) {
        size_t cap = (h->n + n + 1) * 2;
        char *b = realloc(h->b, cap);
        if (!b) return false;
        h->b = b;
        h->cap = cap;
    }
    memcpy(h->b + h->n, s, n);
    h->n += n;
    h->b[h->n] = 0;
    return true;
}

/* Where printed text goes: the stream, and a copy when the caller wants the text. */
typedef struct sink {
    FILE *out;
    held copy;
    bool keep;
    bool nomem;
} sink;

static void emit(sink *k, const char *s, size_t n) {
    fwrite(s, 1, n, k->out);
    if (k->keep && n && !held_add(&k->copy, s, n)) k->nomem = true;
}

/* Prints what can no longer be part of a stop string; true when a stop string was found (the
 * text before it printed, the rest dropped). */
static bool held_flush(held *h, const gen_params *p, sink *out, bool final) {
    size_t first = h->n; /* earliest stop match */
    for (int i = 0; i < p->n_stops; i++) {
        size_t ls = strlen(p->stops[i]);
        if (!ls || ls > h->n) continue;
        for (size_t k = 0; k + ls <= h->n && k < first; k++)
            if (!memcmp(h->b + k, p->stops[i], ls)) {
                first = k;
                break;
            }
    }
    if (first < h->n) {
        emit(out, h->b, first);
        h->n = 0;
        return true;
    }
    size_t keep = 0; /* longest suffix that is a proper prefix of a stop string */
    if (!final)
        for (int i = 0; i < p->n_stops; i++) {
            size_t ls = strlen(p->stops[i]);
            for (size_t k = ls > 1 ? ls - 1 : 0; k > keep; k--)
                if (k <= h->n && !memcmp(h->b + h->n - k, p->stops[i], k)) {
                    keep = k;
                    break;
                }
        }
    emit(out, h->b, h->n - keep);
    memmove(h->b, h->b + h->n - keep, keep);
    h->n = keep;
    return false;
}

bool gen_is_eos(const gen_params *p, int32_t id) {
    for (int i = 0; i < p->n_eos; i++)
        if (p->eos[i] == id) return true;
    return false;
}

/* What the next eval returns for the sampler (ttt_sampler_top_k changes as tokens are
 * accepted). */
static ttt_eval_out out_for(ttt_sampler *smp, bool greedy, int32_t *next, float *logits,
                            float *top_logit, int32_t *top_id, float *top_lse) {
    const int lim = ttt_sampler_n_vocab(smp), k = ttt_sampler_top_k(smp),
              nk = ttt_sampler_nucleus_k(smp);
    if (greedy) return (ttt_eval_out){.argmax = next, .argmax_limit = lim};
    if (k > 0)
        return (ttt_eval_out){.top_k = k, .top_logit = top_logit, .top_id = top_id,
                              .argmax_limit = lim};
    /* top-p alone: the largest logits and the row's mass, which usually hold the nucleus */
    if (nk > 0)
        return (ttt_eval_out){.top_k = nk, .top_logit = top_logit, .top_id = top_id,
                              .top_lse = top_lse, .argmax_limit = lim};
    return (ttt_eval_out){.logits = logits};
}

/* The next token from what the step returned (out_for's choice). */
static ttt_status draw(ttt_session *s, ttt_sampler *smp, const ttt_eval_out *eo, int32_t next,
                       float *logits, int32_t *id) {
    if (eo->argmax) {
        *id = next;
    } else if (eo->top_lse) {
        *id = ttt_sampler_sample_nucleus(smp, eo->top_logit, eo->top_id, eo->top_k, *eo->top_lse);
        if (*id >= 0) return TTT_OK;
        /* the nucleus is wider than the candidates: the whole row, from where the model ran */
        ttt_status rc = ttt_session_logits(s, logits);
        if (rc != TTT_OK) return rc;
        *id = ttt_sampler_sample(smp, logits);
    } else if (eo->top_k) {
        *id = ttt_sampler_sample_top(smp, eo->top_logit, eo->top_id, eo->top_k);
    } else {
        *id = ttt_sampler_sample(smp, logits);
    }
    return TTT_OK;
}

ttt_status gen_run(ttt_session *s, ttt_sampler *smp, const int32_t *prompt, int n_prompt,
                   const gen_params *p, gen_decode_fn decode, void *decode_ctx, FILE *out,
                   gen_stats *st) {
    memset(st, 0, sizeof *st);
    st->pending = -1;
    const int n_ctx = ttt_session_n_ctx(s), n_past = ttt_session_n_past(s);
    float *logits = malloc((size_t)p->n_vocab * sizeof *logits);
    held h = {0};
    sink snk = {.out = out, .keep = p->capture};
    if (!logits) return TTT_ERR_NOMEM;
    ttt_status rc = TTT_OK;
    /* the model returns what the sampler needs: the argmax when greedy, else the top
     * candidates where they suffice (from a GPU, a few bytes instead of the logits) */
    const bool greedy = ttt_sampler_is_greedy(smp);
    int32_t next = 0, top_id[TTT_TOP_K_MAX];
    float top_logit[TTT_TOP_K_MAX], top_lse = 0;
    ttt_eval_out eo = out_for(smp, greedy, &next, logits, top_logit, top_id, &top_lse);
    double t0 = cli_now();
    if (n_prompt > 0) {
        if (n_past + n_prompt > n_ctx) {
            st->ctx_full = true;
            free(logits);
            return TTT_OK;
        }
        /* the prompt joins the penalty's history first: it sets how many candidates suffice */
        for (int i = 0; i < n_prompt; i++) ttt_sampler_accept(smp, prompt[i]);
        eo = out_for(smp, greedy, &next, logits, top_logit, top_id, &top_lse);
        rc = ttt_session_eval(s, prompt, n_prompt, &eo);
    } else if (n_past == 0) {
        rc = TTT_ERR_ARG; /* nothing to continue from */
    }
    st->n_prompt = n_prompt;
    st->t_prompt = cli_now() - t0;
    t0 = cli_now();
    bool ids_out = p->ids_out || !decode, first = true;
    while (rc == TTT_OK && (p->n_predict < 0 || st->n_gen < p->n_predict)) {
        int32_t id = 0;
        if ((rc = draw(s, smp, &eo, next, logits, &id)) != TTT_OK) break;
        st->pending = id;
        if (!p->ignore_eos && gen_is_eos(p, id)) {
            st->hit_eos = true;
            break;
        }
        st->n_gen++;
        ttt_sampler_accept(smp, id);
        if (ids_out) {
            fprintf(out, first ? "%d" : " %d", (int)id);
            first = false;
        } else {
            size_t n;
            const char *txt = decode(decode_ctx, id, &n);
            if (n && !held_add(&h, txt, n)) {
                rc = TTT_ERR_NOMEM;
                break;
            }
            if (held_flush(&h, p, &snk, false)) {
                st->hit_stop = true;
                break;
            }
        }
        fflush(out);
        if (ttt_session_n_past(s) >= n_ctx) {
            st->ctx_full = true;
            break;
        }
        if (p->n_predict >= 0 && st->n_gen == p->n_predict) break;
        eo = out_for(smp, greedy, &next, logits, top_logit, top_id, &top_lse);
        rc = ttt_session_eval(s, &id, 1, &eo);
        if (rc == TTT_OK) st->pending = -1;
    }
    if (!ids_out && !st->hit_stop) {
        size_t n;
        const char *txt = decode(decode_ctx, -1, &n);
        if (n) held_add(&h, txt, n);
        held_flush(&h, p, &snk, true);
    }
    if (snk.nomem && rc == TTT_OK) rc = TTT_ERR_NOMEM;
    st->text = snk.copy.b;
    st->text_len = snk.copy.n;
    if (ids_out && !first) fputc('\n', out);
    fflush(out);
    st->t_gen = cli_now() - t0;
    free(h.b);
    free(logits);
    return rc;
}

void gen_print_stats(const gen_stats *st) {
    fprintf(stderr, "\n");
    fprintf(stderr, "prompt eval: %6d tokens in %8.2f ms (%8.2f tokens/s)\n", st->n_prompt,
            st->t_prompt * 1e3, st->t_prompt > 0 ? st->n_prompt / st->t_prompt : 0.0);
    fprintf(stderr, "generation:  %6d tokens in %8.2f ms (%8.2f tokens/s)%s\n", st->n_gen,
            st->t_gen * 1e3, st->t_gen > 0 ? st->n_gen / st->t_gen : 0.0,
            st->hit_eos ? ", end of sequence" : st->hit_stop ? ", stop string"
                                              : st->ctx_full ? ", context full" : "");
}
