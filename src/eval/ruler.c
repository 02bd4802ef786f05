/* ruler.c - the RULER generator of one (task, length): the fixed state (word lists, essay,
 * CWE pool, VT example), the size search, and the samples. Sample i draws from its own stream
 * seeded by (seed, task, length, i), so it is the same whatever other samples are made. */
#include "eval/ruler.h"

#include <stdlib.h>
#include <string.h>

#include "eval/fill.h"
#include "util/err.h"

struct ttt_ruler_gen {
    ttt_ruler_ctx ctx;       /* what the builders read */
    ttt_ruler_config cfg;    /* the caller's configuration (pointers borrowed) */
    ttt_words builtin;       /* used when cfg.words is NULL */
    ttt_essay essay;         /* the collapsed essay corpus (essay tasks) */
    char *cwe_extra;         /* storage of the CWE pool's made-up words */
    int budget;              /* length - max_new_tokens */
    long lo, hi;             /* haystack sizes to search */
    long size;               /* the size found for sample 0: each sample starts there */
    long calls;              /* counter calls */
    uint64_t bytes;          /* bytes counted */
    /* the probe in progress */
    int index;
    ttt_prompt prompt;       /* the last prompt built */
    long prompt_size;        /* its haystack size */
    ttt_status (*probe_build)(struct ttt_ruler_gen *g, long size, ttt_prompt *p);
};

static ttt_status count(ttt_ruler_gen *g, const char *text, size_t len, int *n) {
    g->calls++;
    g->bytes += len;
    ttt_status st = g->cfg.count(g->cfg.count_ctx, text, len, n);
    if (st != TTT_OK) ttt_err_prefix("token count");
    return st;
}

static ttt_status build_sample(ttt_ruler_gen *g, long size, ttt_prompt *p) {
    ttt_rng r;
    uint64_t seed[4] = {g->ctx.seed, (uint64_t)g->ctx.task, (uint64_t)g->ctx.length,
                        (uint64_t)g->index};
    ttt_rng_seed(&r, seed, 4);
    ttt_prompt_free(p);
    ttt_status st;
    int t = g->ctx.task;
    if (t <= TTT_RULER_NIAH_MULTIQUERY) st = ttt_ruler_build_niah(&g->ctx, &r, size, p);
    else if (t == TTT_RULER_VT) st = ttt_ruler_build_vt(&g->ctx, &r, size, p);
    else if (t == TTT_RULER_CWE) st = ttt_ruler_build_cwe(&g->ctx, &r, size, p);
    else if (t == TTT_RULER_FWE) st = ttt_ruler_build_fwe(&g->ctx, &r, size, p);
    else st = ttt_ruler_build_qa(&g->ctx, &r, g->index, size, p);
    if (st == TTT_OK && (p->text.oom || p->oom))
        st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory building a prompt",
                     ttt_ruler_task_name(t));
    return st;
}

static ttt_status probe_prompt(void *ctx, long size, int *tokens) {
    ttt_ruler_gen *g = ctx;
    ttt_status st = g->probe_build(g, size, &g->prompt);
    g->prompt_size = size;
    if (st != TTT_OK) return st;
    return count(g, g->prompt.text.p, g->prompt.text.len, tokens);
}

static ttt_status build_icl(ttt_ruler_gen *g, long size, ttt_prompt *p) {
    ttt_prompt_free(p);
    ttt_status st = ttt_ruler_vt_icl_probe(&g->ctx, size, &p->text);
    if (st == TTT_OK && p->text.oom) st = ttt_err(TTT_ERR_NOMEM, "vt: out of memory");
    return st;
}

/* Runs the search; a prompt that cannot fit becomes a message naming task and length. */
static ttt_status search(ttt_ruler_gen *g, int budget, long lo, long hi, long hint,
                         ttt_fill_result *res) {
    ttt_fill_range range = {.lo = lo, .hi = hi, .hint = hint, .budget = budget};
    ttt_status st = ttt_fill_search(probe_prompt, g, &range, res);
    if (st != TTT_OK && res->too_small)
        return ttt_err(TTT_ERR_ARG,
                       "%s: length %d is too small: the shortest prompt has %d tokens and %d "
                       "more are reserved for the answer",
                       ttt_ruler_task_name(g->ctx.task), g->ctx.length, res->tokens,
                       g->ctx.length - g->budget);
    return st;
}

void ttt_ruler_gen_free(ttt_ruler_gen *g) {
    if (!g) return;
    ttt_prompt_free(&g->prompt);
    ttt_essay_free(&g->essay);
    free((void *)g->ctx.cwe_pool);
    free(g->cwe_extra);
    free(g);
}

ttt_status ttt_ruler_gen_init(const ttt_ruler_config *c, int task, int length,
                              ttt_ruler_gen **out) {
    *out = NULL;
    if (task < 0 || task >= TTT_RULER_N_TASKS)
        return ttt_err(TTT_ERR_ARG, "task number %d out of range", task);
    const char *name = ttt_ruler_task_name(task);
    if (!c->count) return ttt_err(TTT_ERR_ARG, "%s: no token counter", name);
    const ttt_niah_config *niah = ttt_niah_config_of(task);
    if (niah && niah->haystack == TTT_HAY_ESSAY && !c->essay)
        return ttt_err(TTT_ERR_UNSUPPORTED,
                       "%s: skipped: it needs an essay haystack (pass --haystack FILE, e.g. the "
                       "Paul Graham essays)", name);
    const ttt_qa_set *qa = task == TTT_RULER_QA_1 ? c->squad : task == TTT_RULER_QA_2 ? c->hotpotqa : NULL;
    if ((task == TTT_RULER_QA_1 || task == TTT_RULER_QA_2) && !qa)
        return ttt_err(TTT_ERR_UNSUPPORTED, "%s: skipped: no %s file (pass %s FILE)", name,
                       task == TTT_RULER_QA_1 ? "SQuAD v2 dev" : "HotpotQA dev-distractor",
                       task == TTT_RULER_QA_1 ? "--squad" : "--hotpotqa");
    if (qa && (qa->n_items == 0 || qa->n_docs == 0))
        return ttt_err(TTT_ERR_FORMAT, "%s: the QA file has no answerable questions", name);
    if (c->version != 0 && c->version != 2024 && c->version != 2025)
        return ttt_err(TTT_ERR_ARG, "RULER version %d: 2024 or 2025", c->version);
    int gen = ttt_ruler_max_new_tokens(task);
    if (length <= gen)
        return ttt_err(TTT_ERR_ARG, "%s: length %d is too small: %d tokens are reserved for the "
                                    "answer", name, length, gen);
    ttt_ruler_gen *g = calloc(1, sizeof *g);
    if (!g) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", name);
    g->cfg = *c;
    g->budget = length - gen;
    ttt_words_builtin(&g->builtin);
    g->ctx = (ttt_ruler_ctx){.task = task, .length = length, .seed = c->seed,
                             .words = c->words ? c->words : &g->builtin, .qa = qa,
                             .chat_user = c->chat_user ? c->chat_user : "",
                             .chat_assistant = c->chat_assistant ? c->chat_assistant : "",
                             .v2025 = c->version == 2025};
    ttt_status st = TTT_OK;
    /* haystack units the search may use: every unit adds at least one token */
    g->lo = 1;
    g->hi = (long)g->budget + 1;
    if (niah) {
        int n = (niah->num_k > niah->num_q ? niah->num_k : niah->num_q) * niah->num_v;
        if (niah->haystack != TTT_HAY_ESSAY) g->lo = n;
        else st = ttt_essay_init(&g->essay, c->essay, c->essay_len);
        g->ctx.essay = &g->essay;
    } else if (task == TTT_RULER_VT) {
        g->lo = 5;
        g->probe_build = build_icl;
        ttt_fill_result res;
        /* RULER sizes the example to 500 tokens with the answer, less the 30 to generate */
        st = search(g, 500 - gen, 5, 500, 0, &res);
        if (st != TTT_OK) ttt_err_prefix("vt: the one-shot example");
        g->ctx.vt_icl_noises = res.size;
    } else if (task == TTT_RULER_CWE) {
        g->lo = 10;
        g->hi = g->budget / 2 + 20; /* each word adds >= 1 entry of >= 2 tokens */
        long n_list = (long)g->ctx.words->n_nouns + g->ctx.words->n_adjectives + g->ctx.words->n_verbs;
        long extra = g->hi > n_list ? g->hi - n_list : 0;
        st = ttt_cwe_pool(g->ctx.words, extra, c->seed, &g->ctx.cwe_pool, &g->ctx.n_cwe_pool,
                          &g->cwe_extra);
        if (st == TTT_OK && g->hi > g->ctx.n_cwe_pool) g->hi = g->ctx.n_cwe_pool;
        if (st == TTT_OK && g->hi < 10)
            st = ttt_err(TTT_ERR_ARG, "cwe: the word lists have %ld words; 10 are needed",
                         g->ctx.n_cwe_pool);
    } else if (task == TTT_RULER_FWE) {
        g->lo = 32; /* ranks 2-4 appear at least once */
        g->hi = (long)g->budget * 2 + 64;
    } else {
        g->lo = 1;
        g->hi = qa->n_docs;
    }
    if (st == TTT_OK) {
        g->probe_build = build_sample;
        g->index = 0;
        ttt_fill_result res;
        st = search(g, g->budget, g->lo, g->hi, 0, &res);
        g->size = res.size;
    }
    ttt_prompt_free(&g->prompt);
    if (st != TTT_OK) {
        ttt_ruler_gen_free(g);
        return st;
    }
    *out = g;
    return TTT_OK;
}

static char *dup_range(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

ttt_status ttt_ruler_gen_sample(ttt_ruler_gen *g, int index, ttt_eval_sample *out) {
    memset(out, 0, sizeof *out);
    if (index < 0) return ttt_err(TTT_ERR_ARG, "sample index %d < 0", index);
    g->index = index;
    g->probe_build = build_sample;
    ttt_fill_result res;
    ttt_status st = search(g, g->budget, g->lo, g->hi, g->size, &res);
    /* the search's last probe may have been a larger size that did not fit */
    if (st == TTT_OK && g->prompt_size != res.size) st = build_sample(g, res.size, &g->prompt);
    if (st != TTT_OK) {
        ttt_prompt_free(&g->prompt);
        return st;
    }
    ttt_prompt *p = &g->prompt;
    out->task = g->ctx.task;
    out->length = g->ctx.length;
    out->index = index;
    out->context = dup_range(p->text.p, p->split);
    out->question = dup_range(p->text.p + p->split, p->text.len - p->split);
    out->answer_prefix = dup_range(p->text.p + p->prefix, p->text.len - p->prefix);
    out->refs = p->refs;
    out->n_refs = p->n_refs;
    p->refs = NULL;
    p->n_refs = 0;
    out->max_new_tokens = ttt_ruler_max_new_tokens(g->ctx.task);
    out->scorer = g->ctx.task >= TTT_RULER_QA_1 ? TTT_SCORE_MATCH_PART : TTT_SCORE_MATCH_ALL;
    out->prompt_tokens = res.tokens;
    out->size = res.size;
    ttt_prompt_free(p);
    if (!out->context || !out->question || !out->answer_prefix) {
        ttt_eval_sample_free(out);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    return TTT_OK;
}

void ttt_ruler_gen_stats(const ttt_ruler_gen *g, long *calls, uint64_t *bytes) {
    *calls = g->calls;
    *bytes = g->bytes;
}

void ttt_eval_sample_free(ttt_eval_sample *s) {
    free(s->context);
    free(s->question);
    free(s->answer_prefix);
    for (int i = 0; i < s->n_refs; i++) free(s->refs[i]);
    free(s->refs);
    memset(s, 0, sizeof *s);
}
