/* mqar.c - Zoology's multi-query associative recall (zoology/data/multiquery_ar.py): a block
 * of key-value pairs, then a query region where the keys come back at gaps that cluster early;
 * a query's target is its value, every other position is ignored. Deterministic per seed (our
 * generator, not numpy's: same distribution, other sequences). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "util/err.h"

ttt_mqar_params ttt_mqar_default_params(void) {
    return (ttt_mqar_params){.vocab_size = 8192, .n_kv = 8, .seq_len = 64, .power_a = 0.01,
                             .num_passes = 1, .random_non_queries = true};
}

static ttt_status check(const ttt_mqar_params *p, int n) {
    if (n < 0) return ttt_err(TTT_ERR_ARG, "mqar: %d examples", n);
    if (p->seq_len < 2 || p->seq_len % 2)
        return ttt_err(TTT_ERR_ARG, "mqar: seq_len %d must be even and >= 2", p->seq_len);
    if (p->vocab_size <= p->seq_len)
        return ttt_err(TTT_ERR_ARG, "mqar: vocab_size %d must exceed seq_len %d", p->vocab_size,
                       p->seq_len);
    if (p->n_kv < 1 || p->num_passes < 1)
        return ttt_err(TTT_ERR_ARG, "mqar: n_kv %d and num_passes %d must be >= 1", p->n_kv,
                       p->num_passes);
    long long need = 2LL * p->n_kv * p->num_passes + 2LL * p->n_kv;
    if (need > p->seq_len)
        return ttt_err(TTT_ERR_ARG, "mqar: %d pairs x %d passes need seq_len >= %lld, not %d",
                       p->n_kv, p->num_passes, need, p->seq_len);
    if (p->n_kv > p->vocab_size / 2 - 1)
        return ttt_err(TTT_ERR_ARG, "mqar: %d keys do not fit in vocab_size %d", p->n_kv,
                       p->vocab_size);
    if (!(p->power_a > 0) || !(p->power_a <= 1))
        return ttt_err(TTT_ERR_ARG, "mqar: power_a %g must be in (0, 1]", p->power_a);
    return TTT_OK;
}

ttt_status ttt_mqar_generate(const ttt_mqar_params *p, uint64_t seed, int64_t first, int n,
                             int32_t *inputs, int32_t *labels) {
    ttt_status st = first < 0 ? ttt_err(TTT_ERR_ARG, "mqar: first example %lld < 0", (long long)first)
                              : check(p, n);
    if (st != TTT_OK) return st;
    const int L = p->seq_len, N = p->n_kv, V = p->vocab_size;
    const int C = 2 * N * p->num_passes, space = (L - C) / 2;
    int *keys = malloc((size_t)N * sizeof *keys), *vals = malloc((size_t)N * sizeof *vals);
    int *gaps = malloc((size_t)N * sizeof *gaps);
    double *w = malloc((size_t)space * sizeof *w);
    if (!keys || !vals || !gaps || !w) {
        st = ttt_err(TTT_ERR_NOMEM, "mqar: out of memory");
        goto done;
    }
    for (int i = 0; i < space; i++) w[i] = p->power_a * pow(i + 1.0, p->power_a - 1.0);
    for (int e = 0; e < n && st == TTT_OK; e++) {
        ttt_rng r;
        uint64_t sw[3] = {seed, 0x3a5ull, (uint64_t)(first + e)};
        ttt_rng_seed(&r, sw, 3);
        int32_t *in = inputs + (size_t)e * L, *lab = labels + (size_t)e * L;
        st = ttt_rng_sample(&r, V / 2 - 1, N, keys);
        if (st == TTT_OK) st = ttt_rng_sample(&r, V - V / 2, N, vals);
        if (st != TTT_OK) break;
        for (int j = 0; j < N; j++) keys[j] += 1, vals[j] += V / 2;
        /* gaps without replacement, each draw proportional to the weights left */
        double left = 0;
        for (int i = 0; i < space; i++) left += w[i];
        for (int j = 0; j < N; j++) {
            double x = ttt_rng_unit(&r) * left, acc = 0;
            int pick = -1;
            for (int i = 0; i < space; i++) {
                bool used = false;
                for (int k = 0; k < j && !used; k++) used = gaps[k] == i;
                if (used) continue;
                acc += w[i];
                pick = i;
                if (x < acc) break;
            }
            gaps[j] = pick;
            left -= w[pick];
        }
        for (int pass = 0; pass < p->num_passes; pass++)
            for (int j = 0; j < N; j++) {
                in[pass * 2 * N + 2 * j] = keys[j];
                in[pass * 2 * N + 2 * j + 1] = vals[j];
            }
        for (int i = C; i < L; i++) in[i] = 0;
        for (int i = 0; i < L; i++) lab[i] = TTT_MQAR_IGNORE;
        /* key j sits at C + 2 gap_j; its label (the next token's target) is v_j */
        for (int j = 0; j < N; j++) {
            in[C + 2 * gaps[j]] = keys[j];
            lab[C + 2 * gaps[j]] = vals[j];
        }
        if (p->random_non_queries)
            for (int i = C; i < L; i++)
                if (in[i] == 0) in[i] = (int32_t)ttt_rng_range(&r, 0, V - 1);
    }
done:
    free(keys);
    free(vals);
    free(gaps);
    free(w);
    return st;
}

double ttt_mqar_accuracy(const int32_t *labels, const int32_t *preds, int n, int seq_len) {
    double sum = 0;
    int counted = 0;
    for (int e = 0; e < n; e++) {
        int hit = 0, tot = 0;
        for (int i = 0; i < seq_len; i++) {
            size_t k = (size_t)e * seq_len + i;
            if (labels[k] == TTT_MQAR_IGNORE) continue;
            tot++;
            hit += preds[k] == labels[k];
        }
        if (tot) sum += (double)hit / tot, counted++;
    }
    return counted ? sum / counted : 0;
}
