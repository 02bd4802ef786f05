/* tasks.c - the demo's synthetic recall tasks (layouts in demo.h). */
#include "demo/demo.h"

#include "eval/eval.h"
#include "util/err.h"

static const char *const TASK_NAMES[TTT_DEMO_N_TASKS] = {"kv", "needle"};

const char *ttt_demo_task_name(int task) {
    return task >= 0 && task < TTT_DEMO_N_TASKS ? TASK_NAMES[task] : "?";
}

int ttt_demo_min_length(int task, const ttt_demo_params *p) {
    /* kv: BOS, N pairs of "Kv ", N queries of "Kv "; needle: BOS, "#Kv", "#Kv" */
    return task == TTT_DEMO_KV ? 1 + 6 * p->n_pairs : 7;
}

/* Digits with about one space in five: text that holds no key, value or marker. */
static void noise(ttt_rng *r, int32_t *t, int n) {
    for (int i = 0; i < n; i++) {
        int x = (int)ttt_rng_range(r, 0, 49);
        t[i] = x < 10 ? ' ' : '0' + x % 10;
    }
}

static void make_kv(ttt_rng *r, int N, int L, int32_t *t, ttt_demo_sample *s) {
    int keys[TTT_DEMO_MAX_PAIRS], order[TTT_DEMO_MAX_PAIRS];
    int32_t vals[TTT_DEMO_MAX_PAIRS];
    ttt_rng_sample(r, 26, N, keys); /* N <= 26: cannot fail */
    for (int j = 0; j < N; j++) {
        vals[j] = 'a' + (int32_t)ttt_rng_range(r, 0, 25);
        order[j] = j;
    }
    ttt_rng_shuffle_int(r, order, (size_t)N);
    t[0] = TTT_BYTE_BOS;
    for (int j = 0; j < N; j++) {
        t[1 + 3 * j] = 'A' + keys[j];
        t[2 + 3 * j] = vals[j];
        t[3 + 3 * j] = ' ';
    }
    const int q0 = L - 3 * N;
    noise(r, t + 1 + 3 * N, q0 - 1 - 3 * N);
    for (int i = 0; i < N; i++) {
        int j = order[i], p = q0 + 3 * i;
        t[p] = 'A' + keys[j];
        t[p + 1] = vals[j];
        t[p + 2] = ' ';
        s->answer_pos[i] = p;
        s->answer[i] = vals[j];
    }
    s->n_answers = N;
    s->n_ctx = q0;
}

static void make_needle(ttt_rng *r, int L, int32_t *t, ttt_demo_sample *s) {
    const int32_t key = 'A' + (int32_t)ttt_rng_range(r, 0, 25);
    const int32_t val = 'a' + (int32_t)ttt_rng_range(r, 0, 25);
    const int q0 = L - 3, at = (int)ttt_rng_range(r, 1, q0 - 3); /* uniform depth */
    t[0] = TTT_BYTE_BOS;
    noise(r, t + 1, q0 - 1);
    t[at] = '#';
    t[at + 1] = key;
    t[at + 2] = val;
    t[q0] = '#';
    t[q0 + 1] = key;
    t[q0 + 2] = val;
    s->answer_pos[0] = q0 + 1;
    s->answer[0] = val;
    s->n_answers = 1;
    s->n_ctx = q0;
}

ttt_status ttt_demo_make(int task, const ttt_demo_params *p, int length, uint64_t seed,
                         uint64_t index, int32_t *tokens, ttt_demo_sample *out) {
    if (task < 0 || task >= TTT_DEMO_N_TASKS)
        return ttt_err(TTT_ERR_ARG, "demo: unknown task %d", task);
    if (p->n_pairs < 1 || p->n_pairs > TTT_DEMO_MAX_PAIRS)
        return ttt_err(TTT_ERR_ARG, "demo: %d pairs (1..%d)", p->n_pairs, TTT_DEMO_MAX_PAIRS);
    if (length < ttt_demo_min_length(task, p))
        return ttt_err(TTT_ERR_ARG, "demo: a %s sample of %d pairs needs at least %d tokens, "
                       "not %d", ttt_demo_task_name(task), p->n_pairs,
                       ttt_demo_min_length(task, p), length);
    ttt_rng r;
    const uint64_t w[4] = {seed, 0xde70ull + (uint64_t)task, (uint64_t)length, index};
    ttt_rng_seed(&r, w, 4);
    out->n = length;
    if (task == TTT_DEMO_KV) make_kv(&r, p->n_pairs, length, tokens, out);
    else make_needle(&r, length, tokens, out);
    return TTT_OK;
}

ttt_status ttt_demo_train_seq(const ttt_demo_params *p, int T, uint64_t seed, uint64_t index,
                              int32_t *tokens, int32_t *labels) {
    ttt_rng r;
    const uint64_t w[3] = {seed, 0x7a1aull, index};
    ttt_rng_seed(&r, w, 3);
    const int task = (int)ttt_rng_range(&r, 0, TTT_DEMO_N_TASKS - 1);
    const int lo = ttt_demo_min_length(task, p);
    if (T + 1 < lo)
        return ttt_err(TTT_ERR_ARG, "demo: training sequences of %d tokens are shorter than a "
                       "%s sample (%d)", T + 1, ttt_demo_task_name(task), lo);
    const int len = (int)ttt_rng_range(&r, lo, T + 1);
    ttt_demo_sample s;
    ttt_status st = ttt_demo_make(task, p, len, ttt_rng_u64(&r), index, tokens, &s);
    if (st != TTT_OK) return st;
    noise(&r, tokens + len, T + 1 - len);
    for (int i = 0; i < T; i++) labels[i] = TTT_MQAR_IGNORE;
    for (int i = 0; i < s.n_answers; i++) labels[s.answer_pos[i]] = s.answer[i];
    return TTT_OK;
}
