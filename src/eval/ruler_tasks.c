/* ruler_tasks.c - the 13 RULER tasks: names, per-task parameters, and each task's prompt at a
 * given haystack size (NVIDIA RULER, the 2024 generators of commit 860f2bd; differences in
 * docs/EVAL.md). Templates and answer prefixes are verbatim from RULER's constants.py. */
#include "eval/ruler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

static const char *const k_names[TTT_RULER_N_TASKS] = {
    "niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multikey_2",
    "niah_multikey_3", "niah_multivalue", "niah_multiquery", "vt", "cwe", "fwe", "qa_1", "qa_2",
};

const char *ttt_ruler_task_name(int task) {
    return task >= 0 && task < TTT_RULER_N_TASKS ? k_names[task] : "?";
}

ttt_status ttt_ruler_task_parse(const char *name, int *task) {
    for (int i = 0; i < TTT_RULER_N_TASKS; i++)
        if (!strcmp(name, k_names[i])) {
            *task = i;
            return TTT_OK;
        }
    char list[400];
    size_t o = 0;
    for (int i = 0; i < TTT_RULER_N_TASKS; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", k_names[i]);
    return ttt_err(TTT_ERR_ARG, "unknown task '%s' (known: %s)", name, list);
}

ttt_status ttt_ruler_task_list(const char *list, int *out, int *n) {
    *n = 0;
    if (!strcmp(list, "all")) {
        for (int i = 0; i < TTT_RULER_N_TASKS; i++) out[(*n)++] = i;
        return TTT_OK;
    }
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[64];
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, p, len);
        name[len] = '\0';
        int t = 0;
        ttt_status st = ttt_ruler_task_parse(name, &t);
        if (st != TTT_OK) return st;
        bool dup = false;
        for (int i = 0; i < *n; i++) dup |= out[i] == t;
        if (!dup) out[(*n)++] = t;
        p = comma ? comma + 1 : p + len;
    }
    if (*n == 0) return ttt_err(TTT_ERR_ARG, "empty task list");
    return TTT_OK;
}

int ttt_ruler_max_new_tokens(int task) {
    if (task <= TTT_RULER_NIAH_MULTIQUERY) return 128;
    switch (task) {
    case TTT_RULER_VT: return 30;
    case TTT_RULER_CWE: return 120;
    case TTT_RULER_FWE: return 50;
    default: return 32;
    }
}

/* ---- NIAH (scripts/synthetic.yaml) ---- */

static const ttt_niah_config k_niah[8] = {
    /* haystack, key, value, num_k, num_v, num_q */
    {TTT_HAY_NOISE, TTT_KV_WORDS, TTT_KV_NUMBERS, 1, 1, 1},
    {TTT_HAY_ESSAY, TTT_KV_WORDS, TTT_KV_NUMBERS, 1, 1, 1},
    {TTT_HAY_ESSAY, TTT_KV_WORDS, TTT_KV_UUIDS, 1, 1, 1},
    {TTT_HAY_ESSAY, TTT_KV_WORDS, TTT_KV_NUMBERS, 4, 1, 1},
    {TTT_HAY_NEEDLE, TTT_KV_WORDS, TTT_KV_NUMBERS, 1, 1, 1},
    {TTT_HAY_NEEDLE, TTT_KV_UUIDS, TTT_KV_UUIDS, 1, 1, 1},
    {TTT_HAY_ESSAY, TTT_KV_WORDS, TTT_KV_NUMBERS, 1, 4, 1},
    {TTT_HAY_ESSAY, TTT_KV_WORDS, TTT_KV_NUMBERS, 1, 1, 4},
};

const ttt_niah_config *ttt_niah_config_of(int task) {
    return task >= 0 && task <= TTT_RULER_NIAH_MULTIQUERY ? &k_niah[task] : NULL;
}

#define NIAH_MAX_NEEDLES 16

typedef struct needle_line_ctx {
    ttt_rng *r;
    const ttt_niah_config *cfg;
    const ttt_words *w;
    const char *type_v;
    char keys[NIAH_MAX_NEEDLES][TTT_KV_MAX]; /* the real keys, which distractors must avoid */
    int n_keys;
} needle_line_ctx;

static void noise_line(void *ctx, ttt_buf *b) {
    (void)ctx;
    ttt_buf_puts(b, TTT_NOISE_SENTENCE);
}

static void needle_line(void *ctx, ttt_buf *b) {
    needle_line_ctx *c = ctx;
    char key[TTT_KV_MAX], val[TTT_KV_MAX];
    bool clash;
    do {
        ttt_kv_random(c->r, c->cfg->key, c->w, key);
        clash = false;
        for (int i = 0; i < c->n_keys; i++) clash |= !strcmp(key, c->keys[i]);
    } while (clash);
    ttt_kv_random(c->r, c->cfg->value, c->w, val);
    ttt_buf_printf(b, "One of the special magic %s for %s is: %s.", c->type_v, key, val);
}

ttt_status ttt_ruler_build_niah(const ttt_ruler_ctx *g, ttt_rng *r, long size, ttt_prompt *p) {
    const ttt_niah_config *cfg = &k_niah[g->task];
    int nk = cfg->num_k > cfg->num_q ? cfg->num_k : cfg->num_q;
    int nv = cfg->num_v, n_needles = nk * nv;
    const char *type_v = cfg->value == TTT_KV_UUIDS ? "uuids" : "numbers";
    bool singular = cfg->num_q * cfg->num_v == 1;
    needle_line_ctx lc = {.r = r, .cfg = cfg, .w = g->words, .type_v = type_v, .n_keys = nk};
    char values[NIAH_MAX_NEEDLES][TTT_KV_MAX];
    char needle_text[NIAH_MAX_NEEDLES][2 * TTT_KV_MAX + 64];
    const char *needles[NIAH_MAX_NEEDLES];
    for (int k = 0; k < nk; k++) {
        bool dup;
        do { /* distinct keys, so each query has one answer set */
            ttt_kv_random(r, cfg->key, g->words, lc.keys[k]);
            dup = false;
            for (int j = 0; j < k; j++) dup |= !strcmp(lc.keys[j], lc.keys[k]);
        } while (dup);
        for (int v = 0; v < nv; v++) {
            int i = k * nv + v;
            ttt_kv_random(r, cfg->value, g->words, values[i]);
            snprintf(needle_text[i], sizeof needle_text[i],
                     "One of the special magic %s for %s is: %s.", type_v, lc.keys[k], values[i]);
            needles[i] = needle_text[i];
        }
    }
    ttt_rng_shuffle_ptr(r, needles, (size_t)n_needles);
    int qi[NIAH_MAX_NEEDLES];
    ttt_status st = ttt_rng_sample(r, nk, cfg->num_q, qi);
    if (st != TTT_OK) return st;
    /* query string: "a, b, and c" */
    ttt_buf q = {0};
    for (int i = 0; i < cfg->num_q; i++) {
        if (i) ttt_buf_puts(&q, i + 1 == cfg->num_q ? ", and " : ", ");
        ttt_buf_puts(&q, lc.keys[qi[i]]);
    }
    for (int i = 0; i < cfg->num_q; i++)
        for (int v = 0; v < nv; v++) ttt_prompt_add_ref(p, values[qi[i] * nv + v]);
    const char *tv = singular ? (cfg->value == TTT_KV_UUIDS ? "uuid" : "number") : type_v;
    ttt_buf *b = &p->text;
    ttt_buf_puts(b, g->chat_user);
    if (singular)
        ttt_buf_printf(b, "A special magic %s is hidden within the following text. Make sure to "
                          "memorize it. I will quiz you about the %s afterwards.\n", tv, tv);
    else
        ttt_buf_printf(b, "Some special magic %s are hidden within the following text. Make sure "
                          "to memorize it. I will quiz you about the %s afterwards.\n", tv, tv);
    if (cfg->haystack == TTT_HAY_ESSAY)
        st = ttt_essay_put(b, g->essay, size, r, needles, n_needles);
    else
        st = ttt_lines_put(b, size, cfg->haystack == TTT_HAY_NOISE ? noise_line : needle_line, &lc,
                           r, needles, n_needles);
    ttt_buf_put(b, "\n", 1);
    p->split = b->len;
    const char *qs = q.p ? q.p : "";
    ttt_buf_printf(b, "What %s the special magic %s for %s mentioned in the provided text?",
                   singular ? "is" : "are all", tv, qs);
    ttt_buf_puts(b, g->chat_assistant);
    p->prefix = b->len;
    ttt_buf_printf(b, " The special magic %s for %s mentioned in the provided text %s", tv, qs,
                   singular ? "is" : "are");
    ttt_buf_free(&q);
    return st;
}

/* ---- variable tracking (1 chain, 4 hops, noise) ---- */

#define VT_HOPS 4
#define VT_VARS (VT_HOPS + 1)

/* 2024: the noise unit ends in '\n' and units and statements are joined by ' ';
 * 2025: noise sentences and statements are lines joined by '\n'. */
static void vt_context(ttt_buf *b, long n_noises, const int *pos, char names[VT_VARS][8],
                       int value, bool v2025) {
    const char *sep = v2025 ? "\n" : " ";
    int k = 0;
    bool first = true;
    for (long i = 0; i < n_noises; i++) {
        while (k < VT_VARS && pos[k] == i) {
            if (!first) ttt_buf_puts(b, sep);
            first = false;
            if (k == 0) ttt_buf_printf(b, "VAR %s = %d", names[0], value);
            else ttt_buf_printf(b, "VAR %s = VAR %s ", names[k], names[k - 1]);
            k++;
        }
        if (!first) ttt_buf_puts(b, sep);
        first = false;
        ttt_buf_puts(b, v2025 ? TTT_NOISE_SENTENCE : TTT_NOISE_SENTENCE "\n");
    }
}

static void vt_names(ttt_rng *r, int len, char names[VT_VARS][8]) {
    for (int i = 0; i < VT_VARS; i++) {
        bool dup;
        do {
            for (int c = 0; c < len; c++) names[i][c] = (char)('A' + ttt_rng_range(r, 0, 25));
            names[i][len] = '\0';
            dup = false;
            for (int j = 0; j < i; j++) dup |= !strcmp(names[i], names[j]);
        } while (dup);
    }
}

static ttt_status vt_positions(ttt_rng *r, long n_noises, int *pos) {
    if (n_noises < VT_VARS || n_noises > INT32_MAX)
        return ttt_err(TTT_ERR_ARG, "vt: %ld noise units cannot hold %d statements", n_noises,
                       VT_VARS);
    ttt_status st = ttt_rng_sample(r, (int)n_noises, VT_VARS, pos);
    ttt_sort_small(pos, VT_VARS);
    return st;
}

static const char k_vt_head[] =
    "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n";

/* The bare task text (no chat wrapper) with its answer prefix. */
static void vt_task(ttt_buf *b, bool v2025, long n, const int *pos, char names[VT_VARS][8],
                    int value, const char *mid, size_t *split, size_t *prefix) {
    ttt_buf_puts(b, k_vt_head);
    vt_context(b, n, pos, names, value, v2025);
    ttt_buf_put(b, "\n", 1);
    if (split) *split = b->len;
    ttt_buf_printf(b, "Question: Find all variables that are assigned the value %d in the text "
                      "above.", value);
    ttt_buf_puts(b, mid);
    if (prefix) *prefix = b->len;
    /* "assgined": the 2024 spelling, which the published numbers were made with */
    ttt_buf_printf(b, " Answer: According to the chain(s) of variable assignment in the text "
                      "above, %d variables are %s the value %d, they are: ", VT_VARS,
                   v2025 ? "assigned" : "assgined", value);
}

/* The one-shot example at n_noises: its layout and value come from a stream of their own (one
 * example per run, as in RULER); names NULL keeps that stream's names, else the sample's;
 * value > 0 replaces the value (2025 draws one per sample). */
static ttt_status vt_icl_put(const ttt_ruler_ctx *g, long n_noises, char (*names)[8],
                             int new_value, ttt_buf *b) {
    ttt_rng r;
    uint64_t seed[3] = {g->seed, (uint64_t)TTT_RULER_VT, 0x1c1ull};
    ttt_rng_seed(&r, seed, 3);
    int pos[VT_VARS];
    char fixed[VT_VARS][8];
    vt_names(&r, 3, fixed);
    int value = (int)ttt_rng_range(&r, 10000, 99998);
    ttt_status st = vt_positions(&r, n_noises, pos);
    if (st != TTT_OK) return st;
    if (!names) names = fixed;
    if (new_value > 0) value = new_value;
    vt_task(b, g->v2025, n_noises, pos, names, value, "", NULL, NULL);
    for (int i = 0; i < VT_VARS; i++) ttt_buf_printf(b, " %s", names[i]);
    return TTT_OK;
}

ttt_status ttt_ruler_vt_icl_probe(const ttt_ruler_ctx *g, long n_noises, ttt_buf *b) {
    return vt_icl_put(g, n_noises, NULL, 0, b);
}

ttt_status ttt_ruler_build_vt(const ttt_ruler_ctx *g, ttt_rng *r, long size, ttt_prompt *p) {
    char names[VT_VARS][8], icl_names[VT_VARS][8];
    vt_names(r, 5, names);
    int value = (int)ttt_rng_range(r, 10000, 99998), pos[VT_VARS];
    /* the one-shot example: a fixed layout, names (2024) or names and value (2025) fresh for
     * every sample; then a blank line (2024: two) */
    vt_names(r, 3, icl_names);
    int icl_value = g->v2025 ? (int)ttt_rng_range(r, 10000, 99998) : 0;
    ttt_buf *b = &p->text;
    ttt_buf_puts(b, g->chat_user);
    ttt_status st = vt_icl_put(g, g->vt_icl_noises, icl_names, icl_value, b);
    if (st != TTT_OK) return st;
    ttt_buf_puts(b, g->v2025 ? "\n\n" : "\n\n\n\n");
    st = vt_positions(r, size, pos);
    if (st != TTT_OK) return st;
    vt_task(b, g->v2025, size, pos, names, value, g->chat_assistant, &p->split, &p->prefix);
    for (int i = 0; i < VT_VARS; i++) ttt_prompt_add_ref(p, names[i]);
    return TTT_OK;
}
