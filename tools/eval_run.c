/* eval_run.c - one evaluation sample in one mode. */
#include "eval_run.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const MODE_NAMES[EVAL_MODE_COUNT] = {"in_context", "ttt", "strict"};

const char *eval_mode_name(eval_mode m) {
    return m >= 0 && m < EVAL_MODE_COUNT ? MODE_NAMES[m] : "?";
}

int eval_mode_parse(const char *name) {
    for (int i = 0; i < EVAL_MODE_COUNT; i++)
        if (!strcmp(name, MODE_NAMES[i])) return i;
    return -1;
}

ttt_status eval_run_sample(ttt_session *s, eval_mode mode, const eval_prompt *p, int max_new,
                           const int32_t *eos, int n_eos, int n_text, eval_result *r) {
    memset(r, 0, sizeof *r);
    r->gen = malloc(sizeof(int32_t) * (size_t)(max_new > 0 ? max_new : 1));
    if (!r->gen) return TTT_ERR_NOMEM;
    /* greedy: the model returns the next id itself (the argmax over the text tokens), so a
     * GPU sends 4 bytes per step instead of the vocabulary's logits */
    int32_t next = 0;
    ttt_eval_out out = {.argmax = &next, .argmax_limit = n_text};
    ttt_session_reset(s);
    cli_rss_reset();
    double t0 = cli_now();
    ttt_status st;
    if (mode == EVAL_MODE_STRICT) {
        st = ttt_session_set_ttt(s, TTT_MODE_ON);
        if (st == TTT_OK) st = ttt_session_eval(s, p->ctx, p->n_ctx, NULL);
        if (st == TTT_OK) st = ttt_session_flush(s);
        if (st == TTT_OK) st = ttt_session_clear_kv(s);
        if (st == TTT_OK) st = ttt_session_set_ttt(s, TTT_MODE_FROZEN);
        if (st == TTT_OK) st = ttt_session_eval(s, p->quest, p->n_quest, &out);
        r->n_prompt = p->n_ctx + p->n_quest;
    } else {
        st = ttt_session_set_ttt(s, mode == EVAL_MODE_TTT ? TTT_MODE_ON : TTT_MODE_OFF);
        if (st == TTT_OK) st = ttt_session_eval(s, p->full, p->n_full, &out);
        r->n_prompt = p->n_full;
    }
    r->t_prefill = cli_now() - t0;
    t0 = cli_now();
    while (st == TTT_OK && r->n_gen < max_new) {
        int32_t id = next;
        int stop = 0;
        for (int i = 0; i < n_eos; i++) stop |= eos[i] == id;
        if (stop) break;
        r->gen[r->n_gen++] = id;
        if (r->n_gen == max_new || ttt_session_n_past(s) >= ttt_session_n_ctx(s)) break;
        st = ttt_session_eval(s, &id, 1, &out);
    }
    r->t_decode = cli_now() - t0;
    r->peak_rss = cli_rss_peak();
    return st;
}
