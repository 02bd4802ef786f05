/* run_opts.c - shared options and set-up of `ttt run` and `ttt chat`. */
#include "run_opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void run_opts_defaults(run_opts *o) {
    memset(o, 0, sizeof *o);
    o->ttt_lr = -1;
    o->sp = ttt_sampler_default_params();
    o->gen.n_predict = -1;
    o->mp = ttt_model_default_params();
}

enum { SP_TEMP, SP_TOPK, SP_TOPP, SP_MINP, SP_REP };

int run_opts_parse(run_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    long long x;
    double d;
#define VAL()                                            \
    do {                                                 \
        if (!(v = cli_value(argc, argv, i))) return -1; \
    } while (0)
#define INT(lo, hi)                                        \
    do {                                                   \
        VAL();                                             \
        if (!cli_int(a, v, (lo), (hi), &x)) return -1;     \
    } while (0)
#define NUM()                                   \
    do {                                        \
        VAL();                                  \
        if (!cli_float(a, v, &d)) return -1;    \
    } while (0)
    int mo = cli_model_option(argc, argv, i, &o->mp);
    if (mo) return mo;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        VAL();
        o->model_dir = v;
    } else if (!strcmp(a, "-n") || !strcmp(a, "--predict") || !strcmp(a, "--n-predict")) {
        INT(-1, 1 << 30);
        o->gen.n_predict = (int)x;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
        INT(0, 1 << 30);
        o->n_ctx = (int)x;
    } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
        INT(1, 1 << 20);
        o->n_batch = (int)x;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        INT(1, 4096);
        o->threads = (int)x;
    } else if (!strcmp(a, "--temp")) {
        NUM();
        o->sp.temp = (float)d;
        o->sp_set[SP_TEMP] = true;
    } else if (!strcmp(a, "--top-k")) {
        INT(0, 1 << 30);
        o->sp.top_k = (int)x;
        o->sp_set[SP_TOPK] = true;
    } else if (!strcmp(a, "--top-p")) {
        NUM();
        if (!(d >= 0 && d <= 1)) return fprintf(stderr, "ttt: --top-p must be in [0, 1]\n"), -1;
        o->sp.top_p = (float)d;
        o->sp_set[SP_TOPP] = true;
    } else if (!strcmp(a, "--min-p")) {
        NUM();
        if (!(d >= 0 && d <= 1)) return fprintf(stderr, "ttt: --min-p must be in [0, 1]\n"), -1;
        o->sp.min_p = (float)d;
        o->sp_set[SP_MINP] = true;
    } else if (!strcmp(a, "--repeat-penalty")) {
        NUM();
        if (!(d > 0)) return fprintf(stderr, "ttt: --repeat-penalty must be > 0\n"), -1;
        o->sp.repeat_penalty = (float)d;
        o->sp_set[SP_REP] = true;
    } else if (!strcmp(a, "--repeat-last-n")) {
        INT(0, 1 << 20);
        o->sp.repeat_last_n = (int)x;
    } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
        INT(0, (long long)0x7fffffffffffffff);
        o->sp.seed = (uint64_t)x;
        o->seed_set = true;
    } else if (!strcmp(a, "--stop")) {
        VAL();
        if (o->gen.n_stops == GEN_MAX_STOPS)
            return fprintf(stderr, "ttt: at most %d --stop strings\n", GEN_MAX_STOPS), -1;
        if (!*v) return fprintf(stderr, "ttt: --stop needs a non-empty string\n"), -1;
        o->gen.stops[o->gen.n_stops++] = v;
    } else if (!strcmp(a, "--ignore-eos")) {
        o->gen.ignore_eos = true;
    } else if (!strcmp(a, "--no-ttt")) {
        o->no_ttt = true;
    } else if (!strcmp(a, "--ttt-lr")) {
        NUM();
        if (!(d >= 0)) return fprintf(stderr, "ttt: --ttt-lr must be >= 0\n"), -1;
        o->ttt_lr = d;
    } else if (!strcmp(a, "--ttt-chunk")) {
        INT(1, 1 << 24);
        o->ttt_chunk = (int)x;
    } else {
        return 0;
    }
    return 1;
#undef VAL
#undef INT
#undef NUM
}

int run_parse_ids(const char *s, int n_vocab, int32_t **ids) {
    size_t cap = 64;
    int n = 0;
    int32_t *v = malloc(cap * sizeof *v);
    const char *p = s;
    while (v) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x >= n_vocab) {
            fprintf(stderr, "ttt: token id '%.*s' at byte %zu is not in [0, %d)\n",
                    (int)strcspn(p, " ,\t\n\r"), p, (size_t)(p - s), n_vocab);
            free(v);
            return -1;
        }
        if ((size_t)n == cap) {
            int32_t *nv = cap < (1u << 28) ? realloc(v, cap * 2 * sizeof *v) : NULL;
            if (!nv) break;
            v = nv;
            cap *= 2;
        }
        v[n++] = (int32_t)x;
        p = end;
    }
    if (!v || (*p && n == (int)cap)) {
        free(v);
        fprintf(stderr, "ttt: out of memory reading token ids\n");
        return -1;
    }
    *ids = v;
    return n;
}

static const char *run_decode(void *ctx, int32_t id, size_t *n);

int run_ctx_init(run_ctx *rc, run_opts *o, const char *cmd, bool need_tok) {
    memset(rc, 0, sizeof *rc);
    if (o->threads > 0) ttt_set_threads(o->threads);
    if (ttt_model_load_ex(o->model_dir, &o->mp, &rc->model) != TTT_OK) {
        cli_fail(cmd, ttt_last_error());
        return -1;
    }
    ttt_model_get_info(rc->model, &rc->info);
    if (o->ttt_chunk > 0 || o->ttt_lr >= 0) {
        int c = o->ttt_chunk > 0 ? o->ttt_chunk : rc->info.ttt_chunk;
        float lr = o->ttt_lr >= 0 ? (float)o->ttt_lr : rc->info.ttt_lr;
        if (ttt_model_set_ttt(rc->model, c, lr) != TTT_OK) goto fail;
        ttt_model_get_info(rc->model, &rc->info);
    }
    if (ttt_tokenizer_load(o->model_dir, &rc->tok) != TTT_OK) {
        if (need_tok) goto fail;
        rc->tok = NULL; /* ids in, ids out */
    }
    if (rc->tok) {
        if (ttt_tokenizer_n_vocab(rc->tok) > rc->info.n_vocab) {
            fprintf(stderr, "ttt %s: the tokenizer has %d ids but the model only %d\n", cmd,
                    ttt_tokenizer_n_vocab(rc->tok), rc->info.n_vocab);
            run_ctx_free(rc);
            return -1;
        }
        if (ttt_detok_init(rc->tok, 0, &rc->detok) != TTT_OK) goto fail;
        rc->decode = run_decode;
        rc->decode_ctx = rc;
        ttt_gen_defaults g;
        ttt_tokenizer_gen_defaults(rc->tok, &g);
        if (g.has_temperature && !o->sp_set[SP_TEMP]) o->sp.temp = g.temperature;
        if (g.has_top_p && !o->sp_set[SP_TOPP]) o->sp.top_p = g.top_p;
        if (g.has_top_k && !o->sp_set[SP_TOPK]) o->sp.top_k = g.top_k;
        const int32_t *eog;
        int n = ttt_tokenizer_eog_ids(rc->tok, &eog);
        for (int i = 0; i < n && o->gen.n_eos < GEN_MAX_EOS; i++) o->gen.eos[o->gen.n_eos++] = eog[i];
    }
    o->gen.n_vocab = rc->info.n_vocab;
    if (o->gen.n_eos == 0 && rc->info.eos_id >= 0) o->gen.eos[o->gen.n_eos++] = rc->info.eos_id;
    if (!o->seed_set) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        o->sp.seed = (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 20);
        o->sp.seed &= 0x7fffffffffffffffull;
    }
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = o->n_ctx;
    if (o->n_batch > 0) sp.n_batch = o->n_batch;
    sp.ttt_mode = o->no_ttt ? TTT_MODE_OFF : TTT_MODE_ON;
    if (ttt_session_init(rc->model, &sp, &rc->sess) != TTT_OK) goto fail;
    /* a model may pad its vocabulary past the tokenizer's ids: sample only those */
    int n_text = rc->tok ? ttt_tokenizer_n_vocab(rc->tok) : rc->info.n_vocab;
    if (ttt_sampler_init(&o->sp, n_text, &rc->smp) != TTT_OK) goto fail;
    return 0;
fail:
    cli_fail(cmd, ttt_last_error());
    run_ctx_free(rc);
    return -1;
}

static const char *run_decode(void *ctx, int32_t id, size_t *n) {
    run_ctx *rc = ctx;
    const char *text = "";
    *n = 0;
    ttt_status st = id < 0 ? ttt_detok_flush(rc->detok, &text, n)
                           : ttt_detok_push(rc->detok, id, &text, n);
    if (st != TTT_OK) *n = 0;
    return text;
}

void run_ctx_free(run_ctx *rc) {
    ttt_detok_free(rc->detok);
    ttt_tokenizer_free(rc->tok);
    ttt_sampler_free(rc->smp);
    ttt_session_free(rc->sess);
    ttt_model_free(rc->model);
    memset(rc, 0, sizeof *rc);
}

int run_encode(run_ctx *rc, const char *text, bool add_bos, int32_t **ids, int *n) {
    size_t k = 0;
    *ids = NULL;
    *n = 0;
    if (ttt_tokenize(rc->tok, text, strlen(text), add_bos ? TTT_TOK_ADD_SPECIAL : 0, ids, &k) !=
        TTT_OK) {
        fprintf(stderr, "ttt: %s\n", ttt_last_error());
        return -1;
    }
    if (k > (size_t)1 << 30) {
        free(*ids);
        *ids = NULL;
        fprintf(stderr, "ttt: the prompt has too many tokens (%zu)\n", k);
        return -1;
    }
    *n = (int)k;
    return 0;
}
