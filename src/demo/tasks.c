/* tasks.c - the demo's synthetic recall tasks (layouts in demo.h). */
#include "demo/demo.h"

#include <string.h>

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
    t[at] = ' ';
    t[at + 1] = key;
    t[at + 2] = val;
    t[q0] = ' ';
    t[q0 + 1] = key;
    t[q0 + 2] = val;
    s->answer_pos[0] = q0 + 1;
    s->answer[0] = val;
    s->n_answers = 1;
    s->n_ctx = q0;
}

/* Training only: pairs of a few keys (4..12) of one random key -> value map, scattered
 * through noise runs of random length; every value whose key came before is an answer. About
 * one token in ten is an answer (a kv or needle sample has a few), some within the window,
 * many beyond. */
static void make_stream(ttt_rng *r, int n, int32_t *t, int32_t *labels) {
    int keys[26];
    int32_t map[26];
    uint8_t seen[26] = {0};
    const int n_keys = (int)ttt_rng_range(r, 4, 12);
    ttt_rng_sample(r, 26, n_keys, keys);
    for (int k = 0; k < n_keys; k++) map[k] = 'a' + (int32_t)ttt_rng_range(r, 0, 25);
    t[0] = TTT_BYTE_BOS;
    int p = 1;
    while (p < n) {
        if (ttt_rng_range(r, 0, 3) == 0) { /* a noise run, now and then a long one */
            int len = (int)ttt_rng_range(r, 1, ttt_rng_range(r, 0, 7) ? 16 : 96);
            if (len > n - p) len = n - p;
            noise(r, t + p, len);
            p += len;
        } else if (p + 3 <= n) {
            int k = (int)ttt_rng_range(r, 0, n_keys - 1);
            t[p] = 'A' + keys[k];
            t[p + 1] = map[k];
            t[p + 2] = ' ';
            if (seen[k] && p < n - 1) labels[p] = map[k];
            seen[k] = 1;
            p += 3;
        } else {
            noise(r, t + p, n - p);
            p = n;
        }
    }
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
    memset(out, 0, sizeof *out);
    out->n = length;
    if (task == TTT_DEMO_KV) make_kv(&r, p->n_pairs, length, tokens, out);
    else make_needle(&r, length, tokens, out);
    return TTT_OK;
}

ttt_status ttt_demo_train_seq(const ttt_demo_params *p, int T, uint64_t seed, uint64_t index,
                              int32_t *tokens, int32_t *labels) {
    for (int k = 0; k < TTT_DEMO_N_TASKS; k++)
        if (T + 1 < ttt_demo_min_length(k, p))
            return ttt_err(TTT_ERR_ARG, "demo: training sequences of %d tokens are shorter than "
                           "a %s sample (%d)", T + 1, ttt_demo_task_name(k),
                           ttt_demo_min_length(k, p));
    ttt_rng r;
    const uint64_t w[3] = {seed, 0x7a1aull, index};
    ttt_rng_seed(&r, w, 3);
    for (int i = 0; i < T; i++) labels[i] = TTT_MQAR_IGNORE;
    /* a third each: streams (many answers), kv and needle samples (the evaluated layouts) */
    const int task = (int)ttt_rng_range(&r, 0, TTT_DEMO_N_TASKS);
    if (task == TTT_DEMO_N_TASKS) {
        make_stream(&r, T + 1, tokens, labels);
        return TTT_OK;
    }
    const int lo = ttt_demo_min_length(task, p);
    const int len = (int)ttt_rng_range(&r, lo, T + 1);
    ttt_demo_sample s;
    ttt_status st = ttt_demo_make(task, p, len, ttt_rng_u64(&r), index, tokens, &s);
    if (st != TTT_OK) return st;
    noise(&r, tokens + len, T + 1 - len);
    for (int i = 0; i < s.n_answers; i++) labels[s.answer_pos[i]] = s.answer[i];
    return TTT_OK;
}
