/* parallel.c - `ttt run -np N`: N continuations of one prompt decoded together through
 * ttt_batch (one pass over the weights per step), each in its own session with its own KV
 * cache and fast weights. Sequence i samples with seed + i, so sequence 0 is the run without
 * -np. A sequence that reaches an end-of-sequence id, -n tokens or a full context leaves the
 * batch; the others go on. The texts are printed at the end, one block per sequence (stop
 * strings cut the printed text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parallel.h"

typedef struct seq {
    ttt_session *s;
    ttt_sampler *smp;
    int32_t *out; /* [cap] generated ids */
    int n, cap;
    int done;     /* 1: ended (EOS, -n, context) */
} seq;

/* Prints sequence k: its ids, or the prompt's text and the continuation cut at the first
 * stop string. */
static int print_seq(const run_ctx *rc, const run_opts *o, const char *prompt_text, int k,
                     const seq *q) {
    printf("--- sequence %d (seed %llu, %d tokens%s) ---\n", k,
           (unsigned long long)(o->sp.seed + (uint64_t)k), q->n, q->done ? "" : ", cut");
    if (o->gen.ids_out || !rc->tok) {
        for (int i = 0; i < q->n; i++) printf(i ? " %d" : "%d", (int)q->out[i]);
        printf("\n");
        return 0;
    }
    char *text = NULL;
    size_t len = 0;
    if (ttt_detokenize(rc->tok, q->out, (size_t)q->n, 0, &text, &len) != TTT_OK) return -1;
    for (int j = 0; j < o->gen.n_stops; j++) {
        const char *hit = strstr(text, o->gen.stops[j]);
        if (hit && (size_t)(hit - text) < len) len = (size_t)(hit - text);
    }
    printf("%s%.*s\n", prompt_text ? prompt_text : "", (int)len, text);
    free(text);
    return 0;
}

/* One step's outputs, row i for the i-th session stepped: the logits, or, where every row's
 * sampler can do with them, its top candidates (from a GPU, k pairs instead of V floats). */
typedef struct step_out {
    float *lg;      /* [np, V] */
    float *tl;      /* [np * k] the candidates' logits, k per row */
    int32_t *ti;    /* [np * k] their ids */
    int k;          /* candidates per row; 0: the logits */
} step_out;

/* The candidates per row that suffice for all n samplers (0: the logits are needed). */
static int step_k(ttt_sampler *const *smp, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        const int ki = ttt_sampler_top_k(smp[i]);
        if (ki == 0) return 0;
        k = ki > k ? ki : k;
    }
    return k;
}

/* What a step asks for to fill rows row0.. of so. */
static ttt_eval_out step_ask(const step_out *so, int row0, int V, int n_text) {
    if (so->k > 0)
        return (ttt_eval_out){.top_k = so->k, .top_logit = so->tl + (size_t)row0 * so->k,
                              .top_id = so->ti + (size_t)row0 * so->k, .argmax_limit = n_text};
    return (ttt_eval_out){.logits = so->lg + (size_t)row0 * V};
}

static int32_t step_sample(ttt_sampler *smp, const step_out *so, int row, int V) {
    if (so->k > 0)
        return ttt_sampler_sample_top(smp, so->tl + (size_t)row * so->k,
                                      so->ti + (size_t)row * so->k, so->k);
    return ttt_sampler_sample(smp, so->lg + (size_t)row * V);
}

int run_parallel(run_ctx *rc, run_opts *o, const int32_t *prompt, int n_prompt,
                 const char *prompt_text, int np) {
    const int V = rc->info.n_vocab;
    const int n_text = rc->tok ? ttt_tokenizer_n_vocab(rc->tok) : V;
    seq *q = calloc((size_t)np, sizeof *q);
    ttt_session **run = calloc((size_t)np, sizeof *run);
    int32_t *next = calloc((size_t)np, sizeof *next);
    int *row_of = calloc((size_t)np, sizeof *row_of);
    ttt_sampler **smps = calloc((size_t)np, sizeof *smps);
    /* cur: the outputs being sampled from; nx: the next step's, in the order of `run` */
    step_out cur = {0}, nx = {0};
    cur.lg = malloc(sizeof(float) * (size_t)V * np);
    nx.lg = malloc(sizeof(float) * (size_t)V * np);
    cur.tl = malloc(sizeof(float) * (size_t)TTT_TOP_K_MAX * np);
    nx.tl = malloc(sizeof(float) * (size_t)TTT_TOP_K_MAX * np);
    cur.ti = malloc(sizeof(int32_t) * (size_t)TTT_TOP_K_MAX * np);
    nx.ti = malloc(sizeof(int32_t) * (size_t)TTT_TOP_K_MAX * np);
    ttt_batch *b = NULL;
    int status = -1, total = 0;
    double t_prompt = 0, t_gen = 0;
    if (!q || !run || !next || !row_of || !smps || !cur.lg || !nx.lg || !cur.tl || !nx.tl ||
        !cur.ti || !nx.ti) {
        cli_fail("run", "out of memory for the parallel sequences");
        goto done;
    }
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = o->n_ctx;
    if (o->n_batch > 0) sp.n_batch = o->n_batch;
    sp.ttt_mode = o->no_ttt ? TTT_MODE_OFF : TTT_MODE_ON;
    if (ttt_batch_init(rc->model, np, &b) != TTT_OK) goto fail;
    double t0 = cli_now();
    for (int k = 0; k < np; k++) {
        ttt_sampler_params smp = o->sp;
        smp.seed = o->sp.seed + (uint64_t)k;
        q[k].cap = o->gen.n_predict > 0 ? o->gen.n_predict : 256;
        q[k].out = malloc(sizeof(int32_t) * (size_t)q[k].cap);
        if (!q[k].out) {
            cli_fail("run", "out of memory for the parallel sequences");
            goto done;
        }
        if (ttt_session_init(rc->model, &sp, &q[k].s) != TTT_OK ||
            ttt_sampler_init(&smp, n_text, &q[k].smp) != TTT_OK)
            goto fail;
        for (int i = 0; i < n_prompt; i++) ttt_sampler_accept(q[k].smp, prompt[i]);
        smps[k] = q[k].smp;
        row_of[k] = k;
    }
    cur.k = step_k(smps, np);
    for (int k = 0; k < np; k++) {
        /* each sequence reads the prompt in its own session (its own fast weights) */
        const ttt_eval_out eo = step_ask(&cur, k, V, n_text);
        if (ttt_session_eval(q[k].s, prompt, n_prompt, &eo) != TTT_OK) goto fail;
    }
    t_prompt = cli_now() - t0;
    t0 = cli_now();
    for (;;) {
        int n = 0;
        for (int k = 0; k < np; k++) {
            seq *x = &q[k];
            if (x->done) continue;
            const int32_t id = step_sample(x->smp, &cur, row_of[k], V);
            if (!o->gen.ignore_eos && gen_is_eos(&o->gen, id)) {
                x->done = 1;
                continue;
            }
            if (x->n == x->cap) {
                int32_t *grown = realloc(x->out, sizeof(int32_t) * (size_t)x->cap * 2);
                if (!grown) {
                    cli_fail("run", "out of memory for the generated ids");
                    goto done;
                }
                x->out = grown;
                x->cap *= 2;
            }
            x->out[x->n++] = id;
            total++;
            ttt_sampler_accept(x->smp, id);
            if ((o->gen.n_predict >= 0 && x->n >= o->gen.n_predict) ||
                ttt_session_n_past(x->s) >= ttt_session_n_ctx(x->s)) {
                x->done = 1;
                continue;
            }
            run[n] = x->s;
            smps[n] = x->smp;
            next[n] = id;
            row_of[k] = n++;
        }
        if (n == 0) break;
        /* the batch's rows come back in the order of `run`, which row_of records */
        nx.k = step_k(smps, n);
        const ttt_eval_out eo = step_ask(&nx, 0, V, n_text);
        if (ttt_batch_decode_out(b, run, n, next, &eo) != TTT_OK) goto fail;
        const step_out t = cur;
        cur = nx;
        nx = t;
    }
    t_gen = cli_now() - t0;
    for (int k = 0; k < np; k++)
        if (print_seq(rc, o, prompt_text, k, &q[k]) != 0) goto fail;
    fprintf(stderr, "\nprompt eval: %6d tokens x %d sequences in %8.2f ms\n", n_prompt, np,
            t_prompt * 1e3);
    fprintf(stderr, "generation:  %6d tokens in %d sequences in %8.2f ms (%8.2f tokens/s)\n",
            total, np, t_gen * 1e3, t_gen > 0 ? total / t_gen : 0.0);
    status = 0;
    goto done;
fail:
    cli_fail("run", ttt_last_error());
done:
    for (int k = 0; q && k < np; k++) {
        ttt_session_free(q[k].s);
        ttt_sampler_free(q[k].smp);
        free(q[k].out);
    }
    ttt_batch_free(b);
    free(q);
    free(run);
    free(next);
    free(row_of);
    free(smps);
    free(cur.lg);
    free(nx.lg);
    free(cur.tl);
    free(nx.tl);
    free(cur.ti);
    free(nx.ti);
    return status;
}
