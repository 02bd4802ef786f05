/* sample.c - token sampling from logits, in llama.cpp's order: repetition penalty, top-k,
 * top-p, min-p, temperature, then a draw from a seeded generator. Greedy (temp <= 0) is the
 * first index of the largest penalised logit, so it matches an argmax over the same logits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ttt.h"
#include "util/err.h"
#include "util/rng.h"

typedef struct cand {
    float logit;
    int32_t id;
} cand;

struct ttt_sampler {
    ttt_sampler_params p;
    int n_vocab;       /* V */
    cand *c;           /* [V] working candidates */
    int32_t *hist;     /* [hist_cap] ring of accepted tokens (repeat penalty) */
    int hist_cap;      /* repeat_last_n, at least 1 */
    int hist_n;        /* tokens in the ring */
    int hist_pos;      /* next write index */
    ttt_rng rng;       /* draws */
};

ttt_sampler_params ttt_sampler_default_params(void) {
    /* llama.cpp's defaults */
    ttt_sampler_params p = {.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                            .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0};
    return p;
}

void ttt_sampler_reset(ttt_sampler *s) {
    if (!s) return;
    ttt_rng_seed(&s->rng, &s->p.seed, 1);
    s->hist_n = s->hist_pos = 0;
}

ttt_status ttt_sampler_init(const ttt_sampler_params *p, int n_vocab, ttt_sampler **out) {
    if (!out) return ttt_err(TTT_ERR_ARG, "ttt_sampler_init: NULL out");
    *out = NULL;
    ttt_sampler_params def = ttt_sampler_default_params();
    if (!p) p = &def;
    if (n_vocab <= 0) return ttt_err(TTT_ERR_ARG, "sampler: vocabulary size %d", n_vocab);
    if (!(p->temp == p->temp) || !(p->top_p >= 0) || !(p->min_p >= 0) || p->min_p > 1 ||
        !(p->repeat_penalty > 0))
        return ttt_err(TTT_ERR_ARG,
                       "sampler: need temp a number, top_p >= 0, 0 <= min_p <= 1, "
                       "repeat_penalty > 0");
    ttt_sampler *s = calloc(1, sizeof *s);
    if (!s) return ttt_err(TTT_ERR_NOMEM, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->hist_cap = p->repeat_last_n > 0 ? p->repeat_last_n : 1;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->hist = malloc((size_t)s->hist_cap * sizeof *s->hist);
    if (!s->c || !s->hist) {
        ttt_sampler_free(s);
        return ttt_err(TTT_ERR_NOMEM, "sampler: out of memory");
    }
    ttt_sampler_reset(s);
    *out = s;
    return TTT_OK;
}

void ttt_sampler_free(ttt_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->hist);
    free(s);
}

void ttt_sampler_accept(ttt_sampler *s, int32_t token) {
    if (!s || s->p.repeat_last_n <= 0) return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_n < s->hist_cap) s->hist_n++;
}

static int cmp_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id < y->id ? -1 : x->id > y->id; /* ties: lower id first, as argmax */
}

/* the first head of candidates top-p looks at when no top-k bounds it */
#define NUCLEUS_HEAD 64

/* Moves the k largest candidates to the front, sorted (quickselect, then sort the head). */
static void top_k_sort(cand *c, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi && k < n) {
        cand pivot = c[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (cmp_desc(&c[i], &pivot) < 0) i++;
            while (cmp_desc(&c[j], &pivot) > 0) j--;
            if (i <= j) {
                cand t = c[i];
                c[i++] = c[j];
                c[j--] = t;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
    qsort(c, (size_t)k, sizeof *c, cmp_desc);
}

int ttt_sampler_is_greedy(const ttt_sampler *s) {
    return s && s->p.temp <= 0 && s->p.repeat_penalty == 1.0f;
}

/* Index of token t among the m candidates, or -1. The whole row (by_id) is indexed by id. */
static int find(const cand *c, int m, int by_id, int32_t t) {
    if (by_id) return t;
    for (int i = 0; i < m; i++)
        if (c[i].id == t) return i;
    return -1;
}

/* The draw from m candidates holding raw logits: the whole row (m == V), or the m largest of
 * it with m >= ttt_sampler_top_k. The filters only ever look at the top_k largest penalised
 * logits, which the m largest raw ones contain when the penalty only lowers logits. With lse
 * (the whole row's log-sum-exp; top-p without top-k or penalty) the m largest hold the nucleus
 * if their share of the row's mass reaches top_p; -1, drawing nothing, if it does not. */
static int32_t sample_cands(ttt_sampler *s, cand *c, int m, int by_id, const float *lse) {
    const int V = s->n_vocab;
    if (s->p.repeat_penalty != 1.0f) {
        /* each distinct recent token once, as llama.cpp's penalty */
        for (int h = 0; h < s->hist_n; h++) {
            int32_t t = s->hist[h];
            if (t < 0 || t >= V) continue;
            int seen = 0;
            for (int g = 0; g < h && !seen; g++) seen = s->hist[g] == t;
            const int i = seen ? -1 : find(c, m, by_id, t);
            if (i < 0) continue;
            float l = c[i].logit;
            c[i].logit = l > 0 ? l / s->p.repeat_penalty : l * s->p.repeat_penalty;
        }
    }
    if (s->p.temp <= 0) {
        int best = 0;
        for (int i = 1; i < m; i++) /* never NaN; the lower id on ties */
            if (c[i].logit > c[best].logit ||
                (c[i].logit == c[best].logit && c[i].id < c[best].id))
                best = i;
        return c[best].id;
    }
    int n = m;
    if (s->p.top_k > 0 && s->p.top_k < n) n = s->p.top_k;
    /* probabilities at temperature 1 for the filters (llama.cpp applies temp last) */
    double mx, z = 0;
    if (lse) {
        int sorted = 1; /* as the model returns them: then no sort */
        for (int i = 1; i < m && sorted; i++) sorted = cmp_desc(&c[i - 1], &c[i]) <= 0;
        if (!sorted) top_k_sort(c, m, m);
        mx = c[0].logit;
        z = exp((double)*lse - mx); /* the row's mass, in units of its largest logit's */
        double cum = 0;
        int keep = 0;
        for (int i = 0; i < m && !keep; i++) {
            cum += exp((double)c[i].logit - mx) / z;
            if (cum >= s->p.top_p) keep = i + 1;
        }
        if (!keep) return -1;
        n = keep;
    } else if (n == m && s->p.top_p < 1.0f && m > NUCLEUS_HEAD) {
        /* top-p over the whole row: its mass first, then ever larger heads of the largest
         * candidates until one holds top_p of it - sorting all 152K logits of a vocabulary
         * took milliseconds per token, and the nucleus is usually a few dozen */
        mx = c[0].logit;
        for (int i = 1; i < m; i++) mx = c[i].logit > mx ? c[i].logit : mx;
        for (int i = 0; i < m; i++) z += exp((double)c[i].logit - mx);
        int k = NUCLEUS_HEAD;
        for (;;) {
            top_k_sort(c, m, k);
            double cum = 0;
            for (int i = 0; i < k; i++) cum += exp((double)c[i].logit - mx) / z;
            if (cum >= s->p.top_p || k == m) break;
            k = k < m / 4 ? 4 * k : m;
        }
        n = k;
    } else {
        top_k_sort(c, m, n);
        mx = c[0].logit;
        for (int i = 0; i < n; i++) z += exp((double)c[i].logit - mx);
    }
    if (s->p.top_p < 1.0f && !lse) {
        double cum = 0;
        int keep = n;
        for (int i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - mx) / z;
            if (cum >= s->p.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (s->p.min_p > 0) {
        /* p_i >= min_p * p_max  <=>  logit_i >= max + log(min_p) */
        double cut = mx + log((double)s->p.min_p);
        int keep = 1;
        while (keep < n && c[keep].logit >= cut) keep++;
        n = keep;
    }
    double zt = 0;
    for (int i = 0; i < n; i++) zt += exp(((double)c[i].logit - mx) / s->p.temp);
    double r = ttt_rng_unit(&s->rng) * zt, cum = 0;
    for (int i = 0; i < n; i++) {
        cum += exp(((double)c[i].logit - mx) / s->p.temp);
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}

int32_t ttt_sampler_sample(ttt_sampler *s, const float *logits) {
    const int V = s->n_vocab;
    for (int i = 0; i < V; i++) s->c[i] = (cand){logits[i], i};
    return sample_cands(s, s->c, V, 1, NULL);
}

int ttt_sampler_top_k(const ttt_sampler *s) {
    if (!s || s->p.repeat_penalty < 1.0f) return 0;
    long k = s->p.temp <= 0 ? 1 : s->p.top_k;
    if (k <= 0) return 0;
    if (s->p.repeat_penalty != 1.0f) k += s->hist_n; /* at most this many distinct tokens */
    return k < s->n_vocab && k <= TTT_TOP_K_MAX ? (int)k : 0;
}

/* The caller's (logit, id) pairs into the working candidates, ids out of range dropped. */
static int load_cands(ttt_sampler *s, const float *logit, const int32_t *id, int n) {
    int m = 0;
    for (int i = 0; i < n && m < s->n_vocab; i++)
        if (id[i] >= 0 && id[i] < s->n_vocab) s->c[m++] = (cand){logit[i], id[i]};
    return m;
}

int32_t ttt_sampler_sample_top(ttt_sampler *s, const float *logit, const int32_t *id, int n) {
    const int m = load_cands(s, logit, id, n);
    return m > 0 ? sample_cands(s, s->c, m, 0, NULL) : 0;
}

int ttt_sampler_nucleus_k(const ttt_sampler *s) {
    if (!s || s->p.temp <= 0 || s->p.repeat_penalty != 1.0f || s->p.top_k > 0 ||
        !(s->p.top_p < 1.0f) || s->n_vocab <= TTT_TOP_K_MAX)
        return 0;
    return TTT_TOP_K_MAX;
}

int32_t ttt_sampler_sample_nucleus(ttt_sampler *s, const float *logit, const int32_t *id, int n,
                                   float lse) {
    if (!ttt_sampler_nucleus_k(s) || !logit || !id || n <= 0 || !isfinite(lse)) return -1;
    const int m = load_cands(s, logit, id, n);
    return m > 0 ? sample_cands(s, s->c, m, 0, &lse) : -1;
}

int ttt_sampler_n_vocab(const ttt_sampler *s) {
    return s ? s->n_vocab : 0;
}
