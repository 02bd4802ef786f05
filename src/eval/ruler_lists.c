/* ruler_lists.c - the RULER tasks over word lists and documents: common words extraction
 * (cwe), frequent words extraction (fwe) and QA (qa_1 SQuAD, qa_2 HotpotQA). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/ruler.h"
#include "util/err.h"

void ttt_prompt_add_ref(ttt_prompt *p, const char *ref) {
    char **r = realloc(p->refs, (size_t)(p->n_refs + 1) * sizeof *r);
    char *s = r ? strdup(ref) : NULL;
    if (r) p->refs = r;
    if (!s) {
        p->oom = true;
        return;
    }
    p->refs[p->n_refs++] = s;
}

void ttt_prompt_free(ttt_prompt *p) {
    ttt_buf_free(&p->text);
    for (int i = 0; i < p->n_refs; i++) free(p->refs[i]);
    free(p->refs);
    memset(p, 0, sizeof *p);
}

/* ---- CWE (freq_cw 30, freq_ucw 3, num_cw 10; below 4096: 6 and 1) ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

ttt_status ttt_cwe_pool(const ttt_words *w, long n_extra, uint64_t seed, const char ***out,
                        long *n, char **extra) {
    long base = (long)w->n_nouns + w->n_adjectives + w->n_verbs;
    const char **pool = malloc((size_t)(base + n_extra + 1) * sizeof *pool);
    char *store = malloc((size_t)n_extra * 8 + 1);
    if (!pool || !store) {
        free(pool);
        free(store);
        return ttt_err(TTT_ERR_NOMEM, "cwe: out of memory for %ld words", base + n_extra);
    }
    long k = 0;
    for (int i = 0; i < w->n_nouns; i++) pool[k++] = w->nouns[i];
    for (int i = 0; i < w->n_adjectives; i++) pool[k++] = w->adjectives[i];
    for (int i = 0; i < w->n_verbs; i++) pool[k++] = w->verbs[i];
    qsort(pool, (size_t)k, sizeof *pool, cmp_str);
    long u = 0;
    for (long i = 0; i < k; i++)
        if (u == 0 || strcmp(pool[u - 1], pool[i])) pool[u++] = pool[i];
    long n_list = u;
    /* made-up words beyond the lists: 7 random letters, unlike any list word or each other */
    ttt_rng r;
    uint64_t sw[2] = {seed, 0xc3e0ull};
    ttt_rng_seed(&r, sw, 2);
    for (long i = 0; i < n_extra; i++) {
        char *s = store + i * 8;
        for (;;) {
            for (int c = 0; c < 7; c++) s[c] = (char)('a' + ttt_rng_range(&r, 0, 25));
            s[7] = '\0';
            const char *key = s;
            if (bsearch(&key, pool, (size_t)n_list, sizeof *pool, cmp_str)) continue;
            break;
        }
        pool[u++] = s;
    }
    /* drop repeats among the made-up words (rare: 26^7 choices) */
    if (n_extra) {
        qsort(pool + n_list, (size_t)n_extra, sizeof *pool, cmp_str);
        long v = n_list;
        for (long i = n_list; i < u; i++)
            if (v == n_list || strcmp(pool[v - 1], pool[i])) pool[v++] = pool[i];
        u = v;
    }
    *out = pool;
    *n = u;
    *extra = store;
    return TTT_OK;
}

/* "1. w 2. w ..." of words[0..n) */
static void numbered(ttt_buf *b, const char *const *words, long n) {
    for (long i = 0; i < n; i++) ttt_buf_printf(b, "%s%ld. %s", i ? " " : "", i + 1, words[i]);
}

/* One CWE list: n_words pool words, the first 10 repeated `common` times, the rest `rare`
 * times, shuffled; answer[10] gets the common ones. */
static ttt_status cwe_list(const ttt_ruler_ctx *g, ttt_rng *r, long n_words, int common, int rare,
                           ttt_buf *b, const char **answer) {
    if (n_words < 10 || n_words > g->n_cwe_pool || n_words > INT32_MAX / 64)
        return ttt_err(TTT_ERR_ARG, "cwe: %ld words out of range [10, %ld]", n_words,
                       g->n_cwe_pool);
    int *pick = malloc((size_t)n_words * sizeof *pick);
    long total = 10L * common + (n_words - 10) * rare;
    const char **list = malloc((size_t)(total ? total : 1) * sizeof *list);
    ttt_status st = pick && list ? ttt_rng_sample(r, (int)g->n_cwe_pool, (int)n_words, pick)
                                 : ttt_err(TTT_ERR_NOMEM, "cwe: out of memory");
    if (st == TTT_OK) {
        long k = 0;
        for (long i = 0; i < n_words; i++) {
            int reps = i < 10 ? common : rare;
            for (int j = 0; j < reps; j++) list[k++] = g->cwe_pool[pick[i]];
        }
        ttt_rng_shuffle_ptr(r, list, (size_t)total);
        numbered(b, list, total);
        for (int i = 0; i < 10; i++) answer[i] = g->cwe_pool[pick[i]];
    }
    free(pick);
    free(list);
    return st;
}

static const char k_cwe_head[] = "Below is a numbered list of words. In these words, some appear "
                                 "more often than others. Memorize the ones that appear most often.\n";
static const char k_cwe_question[] =
    "Question: What are the 10 most common words in the above list?";
static const char k_cwe_prefix[] = " Answer: The top 10 words that appear most often in the list are:";

ttt_status ttt_ruler_build_cwe(const ttt_ruler_ctx *g, ttt_rng *r, long size, ttt_prompt *p) {
    bool small = g->length < 4096;
    const char *ex_answer[10], *answer[10];
    ttt_buf *b = &p->text;
    /* the one example: the whole template, its answer, then '\n' and the real prompt */
    ttt_buf_puts(b, g->chat_user);
    ttt_buf_puts(b, k_cwe_head);
    ttt_status st = cwe_list(g, r, small ? 20 : 40, small ? 3 : 10, small ? 1 : 3, b, ex_answer);
    if (st != TTT_OK) return st;
    ttt_buf_printf(b, "\n%s%s%s", k_cwe_question, g->chat_assistant, k_cwe_prefix);
    if (g->v2025) ttt_buf_put(b, " ", 1); /* 2024: no space after "are:" */
    numbered(b, ex_answer, 10);
    ttt_buf_printf(b, "\n%s%s", g->chat_user, k_cwe_head);
    st = cwe_list(g, r, size, small ? 6 : 30, small ? 1 : 3, b, answer);
    if (st != TTT_OK) return st;
    ttt_buf_put(b, "\n", 1);
    p->split = b->len;
    ttt_buf_puts(b, k_cwe_question);
    ttt_buf_puts(b, g->chat_assistant);
    p->prefix = b->len;
    ttt_buf_puts(b, k_cwe_prefix);
    for (int i = 0; i < 10; i++) ttt_prompt_add_ref(p, answer[i]);
    return TTT_OK;
}

/* ---- FWE (alpha 2, 6-letter coded words, vocabulary length / 50) ---- */

#define FWE_ZETA2 1.6449340668482264 /* zeta(2) = pi^2 / 6 */

static void fwe_word(ttt_rng *r, char *s) {
    for (int c = 0; c < 6; c++) s[c] = (char)('a' + ttt_rng_range(r, 0, 25));
    s[6] = '\0';
}

ttt_status ttt_ruler_build_fwe(const ttt_ruler_ctx *g, ttt_rng *r, long size, ttt_prompt *p) {
    /* 2025 leaves the tokens to generate out of the vocabulary's share */
    long vs = (g->length - (g->v2025 ? ttt_ruler_max_new_tokens(TTT_RULER_FWE) : 0)) / 50;
    if (vs < 4) vs = 4;
    char *vocab = malloc((size_t)vs * 7);
    const char **v = malloc((size_t)vs * sizeof *v);
    int *counts = malloc((size_t)vs * sizeof *counts);
    ttt_status st = TTT_OK;
    if (!vocab || !v || !counts) st = ttt_err(TTT_ERR_NOMEM, "fwe: out of memory");
    for (long i = 0; st == TTT_OK && i < vs; i++) {
        fwe_word(r, vocab + i * 7);
        v[i] = vocab + i * 7;
    }
    /* distinct words: redraw repeats until none is left (rare: 26^6 choices) */
    for (bool dup = st == TTT_OK; dup;) {
        qsort(v, (size_t)vs, sizeof *v, cmp_str);
        dup = false;
        for (long i = 1; i < vs; i++)
            if (!strcmp(v[i - 1], v[i])) {
                fwe_word(r, vocab + (v[i] - vocab));
                dup = true;
            }
    }
    long total = 0;
    if (st == TTT_OK) {
        ttt_rng_shuffle_ptr(r, v, (size_t)vs);
        v[0] = "..."; /* the top rank is noise */
        for (long k = 0; k < vs; k++) {
            counts[k] = (int)((double)size / ((double)(k + 1) * (double)(k + 1)) / FWE_ZETA2);
            total += counts[k];
        }
    }
    const char **text = st == TTT_OK ? malloc((size_t)(total ? total : 1) * sizeof *text) : NULL;
    if (st == TTT_OK && !text) st = ttt_err(TTT_ERR_NOMEM, "fwe: out of memory");
    if (st == TTT_OK) {
        long t = 0;
        for (long k = 0; k < vs; k++)
            for (int j = 0; j < counts[k]; j++) text[t++] = v[k];
        ttt_rng_shuffle_ptr(r, text, (size_t)total);
        ttt_buf *b = &p->text;
        ttt_buf_puts(b, g->chat_user);
        ttt_buf_puts(b, "Read the following coded text and track the frequency of each coded word. "
                        "Find the three most frequently appeared coded words. ");
        for (long i = 0; i < total; i++) {
            if (i) ttt_buf_put(b, " ", 1);
            ttt_buf_puts(b, text[i]);
        }
        ttt_buf_put(b, "\n", 1);
        p->split = b->len;
        ttt_buf_puts(b, "Question: Do not provide any explanation. Please ignore the dots '....'. "
                        "What are the three most frequently appeared words in the above coded "
                        "text?");
        ttt_buf_puts(b, g->chat_assistant);
        p->prefix = b->len;
        ttt_buf_puts(b, " Answer: According to the coded text above, the three most frequently "
                        "appeared words are:");
        for (int k = 1; k <= 3; k++) ttt_prompt_add_ref(p, v[k]);
    }
    free(text);
    free(vocab);
    free(v);
    free(counts);
    return st;
}

/* ---- QA ---- */

static const char k_qa_instr[] = "Answer the question based on the given documents. Only give me "
                                 "the answer and do not output any other words.";

ttt_status ttt_ruler_build_qa(const ttt_ruler_ctx *g, ttt_rng *r, int index, long size,
                              ttt_prompt *p) {
    const ttt_qa_set *q = g->qa;
    if (index < 0 || index >= q->n_items)
        return ttt_err(TTT_ERR_ARG, "%s: sample %d, but the file has %d answerable questions",
                       ttt_ruler_task_name(g->task), index, q->n_items);
    const ttt_qa_item *it = &q->items[index];
    long nd = size < q->n_docs ? size : q->n_docs;
    if (nd < it->n_gold) nd = it->n_gold;
    int *docs = malloc((size_t)(q->n_docs + 1) * sizeof *docs);
    char *mark = calloc((size_t)q->n_docs + 1, 1);
    if (!docs || !mark) {
        free(docs);
        free(mark);
        return ttt_err(TTT_ERR_NOMEM, "qa: out of memory");
    }
    ttt_status st = TTT_OK;
    long k = 0;
    if (nd >= q->n_docs) {
        for (int i = 0; i < q->n_docs; i++) docs[k++] = i;
    } else {
        for (int i = 0; i < it->n_gold; i++) docs[k++] = it->gold[i], mark[it->gold[i]] = 1;
        long want = nd - it->n_gold;
        if (want > it->n_more) {
            for (int i = 0; i < it->n_more; i++)
                if (!mark[it->more[i]]) docs[k++] = it->more[i], mark[it->more[i]] = 1;
            /* top up from the other documents (their positions in the unmarked list) */
            int n_other = 0;
            for (int i = 0; i < q->n_docs; i++) n_other += !mark[i];
            long need = nd - k;
            if (need > n_other) need = n_other;
            int *pick = malloc((size_t)(need ? need : 1) * sizeof *pick);
            int *other = malloc((size_t)(n_other ? n_other : 1) * sizeof *other);
            if (!pick || !other) st = ttt_err(TTT_ERR_NOMEM, "qa: out of memory");
            else {
                int o = 0;
                for (int i = 0; i < q->n_docs; i++)
                    if (!mark[i]) other[o++] = i;
                st = ttt_rng_sample(r, n_other, (int)need, pick);
                for (long i = 0; st == TTT_OK && i < need; i++) docs[k++] = other[pick[i]];
            }
            free(pick);
            free(other);
        } else if (want > 0) {
            int *pk = malloc((size_t)want * sizeof *pk);
            if (!pk) st = ttt_err(TTT_ERR_NOMEM, "qa: out of memory");
            else st = ttt_rng_sample(r, it->n_more, (int)want, pk);
            for (long i = 0; st == TTT_OK && i < want; i++) docs[k++] = it->more[pk[i]];
            free(pk);
        }
    }
    if (st == TTT_OK) {
        ttt_rng_shuffle_int(r, docs, (size_t)k);
        ttt_buf *b = &p->text;
        ttt_buf_puts(b, g->chat_user);
        ttt_buf_printf(b, "%s\n\nThe following are given documents.\n\n", k_qa_instr);
        for (long i = 0; i < k; i++)
            ttt_buf_printf(b, "%sDocument %ld:\n%s", i ? "\n\n" : "", i + 1, q->docs[docs[i]]);
        ttt_buf_puts(b, "\n\n");
        p->split = b->len;
        ttt_buf_printf(b, "%s\n\nQuestion: %s", k_qa_instr, it->question);
        ttt_buf_puts(b, g->chat_assistant);
        p->prefix = b->len;
        ttt_buf_puts(b, " Answer:");
        for (int i = 0; i < it->n_answers; i++) ttt_prompt_add_ref(p, it->answers[i]);
    }
    free(docs);
    free(mark);
    return st;
}
