/* demo_eval.c - a demo checkpoint on held-out samples (their own seed) at each length, in the
 * three modes. Every answer is scored under teacher forcing: the argmax at the answer's key
 * position against the true value, as MQAR scores. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "demo.h"
#include "eval/report.h"
#include "util/err.h"

enum { SEED_EVAL = 3 };

typedef struct eval_ctx {
    ttt_session *s;
    int32_t *tok;   /* [max_len] the sample */
    int32_t *quest; /* [max_len + 1] BOS + question (strict) */
    int32_t *ids;   /* [max_len + 1] the greedy id after each position (argmax over bytes) */
} eval_ctx;

/* Runs one sample in one mode; pred[n_answers] gets the predicted ids. */
static ttt_status run_mode(eval_ctx *c, eval_mode mode, const ttt_demo_sample *smp,
                           int32_t *pred) {
    ttt_session *s = c->s;
    ttt_eval_out out = {.argmax = c->ids, .logits_all = 1, .argmax_limit = TTT_BYTE_VOCAB};
    ttt_session_reset(s);
    ttt_status st;
    int shift = 0;
    if (mode == EVAL_MODE_STRICT) {
        /* read the context with TTT, fold its last partial chunk in, forget the tokens, then
         * answer the question as a new sequence with the fast weights frozen */
        const int nq = smp->n - smp->n_ctx;
        c->quest[0] = TTT_BYTE_BOS;
        memcpy(c->quest + 1, c->tok + smp->n_ctx, sizeof(int32_t) * (size_t)nq);
        st = ttt_session_set_ttt(s, TTT_MODE_ON);
        if (st == TTT_OK) st = ttt_session_eval(s, c->tok, smp->n_ctx, NULL);
        if (st == TTT_OK) st = ttt_session_flush(s);
        if (st == TTT_OK) st = ttt_session_clear_kv(s);
        if (st == TTT_OK) st = ttt_session_set_ttt(s, TTT_MODE_FROZEN);
        if (st == TTT_OK) st = ttt_session_eval(s, c->quest, nq + 1, &out);
        shift = 1 - smp->n_ctx;
    } else {
        st = ttt_session_set_ttt(s, mode == EVAL_MODE_TTT ? TTT_MODE_ON : TTT_MODE_OFF);
        if (st == TTT_OK) st = ttt_session_eval(s, c->tok, smp->n, &out);
    }
    for (int a = 0; st == TTT_OK && a < smp->n_answers; a++)
        pred[a] = c->ids[smp->answer_pos[a] + shift];
    return st;
}

static ttt_status record(struct ttt_eval_report *rep, const char *name, int task, int length,
                         eval_mode mode, int index, const ttt_demo_sample *smp,
                         const int32_t *pred, double score, double secs) {
    char p[TTT_DEMO_MAX_ANSWERS + 1], r[TTT_DEMO_MAX_ANSWERS + 1];
    for (int a = 0; a < smp->n_answers; a++) {
        p[a] = pred[a] >= 32 && pred[a] < 127 ? (char)pred[a] : '?';
        r[a] = (char)smp->answer[a];
    }
    p[smp->n_answers] = r[smp->n_answers] = 0;
    const char *refs[1] = {r};
    ttt_eval_record rec = {.model = name, .task = ttt_demo_task_name(task), .length = length,
                           .mode = eval_mode_name(mode), .index = index, .prediction = p,
                           .refs = refs, .n_refs = 1, .score = score, .prompt_tokens = length,
                           .prefill_s = secs};
    return ttt_eval_report_add(rep, &rec);
}

ttt_status demo_eval(const demo_opts *o, const char *name, const char *ckpt,
                     struct ttt_eval_report *rep, demo_scores *out) {
    for (int t = 0; t < TTT_DEMO_N_TASKS; t++)
        for (int l = 0; l < DEMO_MAX_LENGTHS; l++)
            for (int m = 0; m < EVAL_MODE_COUNT; m++) out->acc[t][l][m] = NAN;
    int max_len = 0;
    for (int l = 0; l < o->n_lengths; l++)
        max_len = o->lengths[l] > max_len ? o->lengths[l] : max_len;
    ttt_model *m = NULL;
    eval_ctx c = {0};
    /* float32 on a GPU as on the CPU: these models are small, and the table then compares
     * with a CPU run's */
    ttt_model_params mp = ttt_model_default_params();
    mp.device = ttt_device_from_name(o->device);
    mp.precision = TTT_PREC_F32;
    ttt_status st = ttt_model_load_ex(ckpt, &mp, &m);
    if (st == TTT_OK) {
        ttt_session_params sp = ttt_session_default_params();
        sp.n_ctx = max_len + 1;
        sp.n_batch = max_len + 1;
        st = ttt_session_init(m, &sp, &c.s);
    }
    c.tok = malloc(sizeof(int32_t) * ((size_t)max_len + 1));
    c.quest = malloc(sizeof(int32_t) * ((size_t)max_len + 1));
    c.ids = malloc(sizeof(int32_t) * ((size_t)max_len + 1));
    if (st == TTT_OK && (!c.tok || !c.quest || !c.ids))
        st = ttt_err(TTT_ERR_NOMEM, "demo: out of memory");
    const double t0 = cli_now();
    for (int task = 0; task < TTT_DEMO_N_TASKS && st == TTT_OK; task++)
        for (int li = 0; li < o->n_lengths && st == TTT_OK; li++) {
            const int L = o->lengths[li];
            if (L < ttt_demo_min_length(task, &o->data)) continue;
            double sum[EVAL_MODE_COUNT] = {0};
            for (int i = 0; i < o->samples && st == TTT_OK; i++) {
                ttt_demo_sample smp;
                st = ttt_demo_make(task, &o->data, L, o->seed * 1000 + SEED_EVAL, (uint64_t)i,
                                   c.tok, &smp);
                for (int mode = 0; mode < EVAL_MODE_COUNT && st == TTT_OK; mode++) {
                    int32_t pred[TTT_DEMO_MAX_ANSWERS];
                    double ts = cli_now();
                    st = run_mode(&c, (eval_mode)mode, &smp, pred);
                    if (st != TTT_OK) break;
                    int ok = 0;
                    for (int a = 0; a < smp.n_answers; a++) ok += pred[a] == smp.answer[a];
                    double score = (double)ok / smp.n_answers;
                    sum[mode] += score;
                    st = record(rep, name, task, L, (eval_mode)mode, i, &smp, pred, score,
                                cli_now() - ts);
                }
            }
            for (int mode = 0; mode < EVAL_MODE_COUNT; mode++)
                out->acc[task][li][mode] = 100.0 * sum[mode] / o->samples;
        }
    out->seconds = cli_now() - t0;
    free(c.tok);
    free(c.quest);
    free(c.ids);
    ttt_session_free(c.s);
    ttt_model_free(m);
    return st;
}
