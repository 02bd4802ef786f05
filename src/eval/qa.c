/* qa.c - RULER's QA data: SQuAD v2 dev (qa_1) and HotpotQA dev-distractor (qa_2), read as
 * RULER's qa.py does (documents sorted and unique; answerable questions in file order). The
 * files are untrusted: every field is type-checked and errors name its path in the JSON. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "io/json.h"
#include "util/err.h"
#include "util/utf8.h"

/* A bump allocator: everything of a set is freed at once. */
typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) char data[];
} arena_block;

static void *arena_alloc(void **arena, size_t n) {
    arena_block *b = *arena;
    n = (n + 15) & ~(size_t)15;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ((size_t)1 << 20) ? n : ((size_t)1 << 20);
        arena_block *nb = malloc(sizeof *nb + cap);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        *arena = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

static char *arena_str(void **arena, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = arena_alloc(arena, n);
    if (d) memcpy(d, s, n);
    return d;
}

void ttt_qa_free(ttt_qa_set *q) {
    arena_block *b = q->arena;
    while (b) {
        arena_block *n = b->next;
        free(b);
        b = n;
    }
    free((void *)q->docs);
    free(q->items);
    memset(q, 0, sizeof *q);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The state of a two-pass load; errors name the field's JSON path, e.g.
 * "data[3].paragraphs[0].context". */
typedef struct loader {
    const char *label;
    ttt_qa_set *q;
    const char **all;  /* [n_all] every document occurrence (sorted, then made unique) */
    long n_all, cap_all;
    ttt_qa_item *items;
    long n_items, cap_items;
    ttt_buf scratch;   /* a HotpotQA document being assembled */
} loader;

static ttt_status need(const cJSON *v, int type_ok, const char *label, const char *what) {
    if (!type_ok) return ttt_err(TTT_ERR_FORMAT, "%s: %s: wrong type or missing", label, what);
    (void)v;
    return TTT_OK;
}

static ttt_status add_doc(loader *L, const char *doc) {
    if (L->n_all == L->cap_all) {
        long cap = L->cap_all ? L->cap_all * 2 : 1024;
        const char **p = realloc(L->all, (size_t)cap * sizeof *p);
        if (!p) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", L->label);
        L->all = p;
        L->cap_all = cap;
    }
    L->all[L->n_all++] = doc;
    return TTT_OK;
}

static ttt_qa_item *add_item(loader *L) {
    if (L->n_items == L->cap_items) {
        long cap = L->cap_items ? L->cap_items * 2 : 1024;
        ttt_qa_item *p = realloc(L->items, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        L->items = p;
        L->cap_items = cap;
    }
    ttt_qa_item *it = &L->items[L->n_items++];
    memset(it, 0, sizeof *it);
    return it;
}

static int doc_index(const ttt_qa_set *q, const char *doc) {
    if (q->n_docs == 0) return -1;
    const char **hit = bsearch(&doc, q->docs, (size_t)q->n_docs, sizeof *q->docs, cmp_str);
    return hit ? (int)(hit - q->docs) : -1;
}

/* HotpotQA's document into out: "title\nsentence sentence..." (sentences joined with
 * nothing, as RULER does). */
static ttt_status hotpot_doc(ttt_buf *out, const cJSON *entry, const char *label, long qi,
                             int ci) {
    const cJSON *title = cJSON_GetArrayItem(entry, 0), *sents = cJSON_GetArrayItem(entry, 1), *s;
    if (!cJSON_IsArray(entry) || !cJSON_IsString(title) || !cJSON_IsArray(sents))
        return ttt_err(TTT_ERR_FORMAT, "%s: [%ld].context[%d]: want [title, [sentences]]", label,
                       qi, ci);
    out->len = 0;
    ttt_buf_puts(out, title->valuestring);
    ttt_buf_put(out, "\n", 1);
    cJSON_ArrayForEach(s, sents) {
        if (!cJSON_IsString(s))
            return ttt_err(TTT_ERR_FORMAT, "%s: [%ld].context[%d]: a sentence is not a string",
                           label, qi, ci);
        ttt_buf_puts(out, s->valuestring);
    }
    return out->oom ? ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label) : TTT_OK;
}

/* Pass 1 collects documents; pass 2 (after sorting) makes the items with indices. */
static ttt_status squad_pass(loader *L, const cJSON *root, int pass) {
    const char *label = L->label;
    ttt_qa_set *q = L->q;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    ttt_status st = need(data, cJSON_IsArray(data), label, "data");
    const cJSON *art;
    long ai = -1;
    cJSON_ArrayForEach(art, data) {
        ai++;
        if (st != TTT_OK) break;
        char what[128];
        snprintf(what, sizeof what, "data[%ld].paragraphs", ai);
        const cJSON *paras = cJSON_GetObjectItemCaseSensitive(art, "paragraphs");
        if ((st = need(paras, cJSON_IsArray(paras), label, what)) != TTT_OK) break;
        int n_par = cJSON_GetArraySize(paras), *idx = NULL;
        if (pass == 2 && !(idx = malloc((size_t)(n_par ? n_par : 1) * sizeof *idx)))
            return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
        const cJSON *par;
        int pi = -1;
        cJSON_ArrayForEach(par, paras) {
            pi++;
            const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(par, "context");
            snprintf(what, sizeof what, "data[%ld].paragraphs[%d].context", ai, pi);
            if ((st = need(ctx, cJSON_IsString(ctx), label, what)) != TTT_OK) break;
            if (pass == 1) {
                char *d = arena_str(&q->arena, ctx->valuestring);
                st = d ? add_doc(L, d) : ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
                if (st != TTT_OK) break;
            } else {
                idx[pi] = doc_index(q, ctx->valuestring);
            }
        }
        for (pi = 0; pass == 2 && st == TTT_OK && pi < n_par; pi++) {
            par = cJSON_GetArrayItem(paras, pi);
            const cJSON *qas = cJSON_GetObjectItemCaseSensitive(par, "qas"), *qa;
            snprintf(what, sizeof what, "data[%ld].paragraphs[%d].qas", ai, pi);
            if ((st = need(qas, cJSON_IsArray(qas), label, what)) != TTT_OK) break;
            int qi = -1;
            cJSON_ArrayForEach(qa, qas) {
                qi++;
                snprintf(what, sizeof what, "data[%ld].paragraphs[%d].qas[%d]", ai, pi, qi);
                const cJSON *imp = cJSON_GetObjectItemCaseSensitive(qa, "is_impossible");
                if (imp && !cJSON_IsBool(imp)) {
                    st = ttt_err(TTT_ERR_FORMAT, "%s: %s.is_impossible: not a boolean", label, what);
                    break;
                }
                if (cJSON_IsTrue(imp)) continue;
                const cJSON *question = cJSON_GetObjectItemCaseSensitive(qa, "question");
                const cJSON *answers = cJSON_GetObjectItemCaseSensitive(qa, "answers"), *a;
                if (!cJSON_IsString(question) || !cJSON_IsArray(answers) ||
                    cJSON_GetArraySize(answers) == 0) {
                    st = ttt_err(TTT_ERR_FORMAT, "%s: %s: want a question and answers", label, what);
                    break;
                }
                ttt_qa_item *it = add_item(L);
                int na = cJSON_GetArraySize(answers);
                if (it) {
                    it->question = arena_str(&q->arena, question->valuestring);
                    it->answers = arena_alloc(&q->arena, (size_t)na * sizeof *it->answers);
                    it->gold = arena_alloc(&q->arena, sizeof *it->gold);
                    it->more = arena_alloc(&q->arena, (size_t)(n_par ? n_par : 1) * sizeof *it->more);
                }
                if (!it || !it->question || !it->answers || !it->gold || !it->more) {
                    st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
                    break;
                }
                cJSON_ArrayForEach(a, answers) {
                    const cJSON *text = cJSON_GetObjectItemCaseSensitive(a, "text");
                    if (!cJSON_IsString(text)) {
                        st = ttt_err(TTT_ERR_FORMAT, "%s: %s.answers: text is not a string", label, what);
                        break;
                    }
                    if (!(it->answers[it->n_answers++] = arena_str(&q->arena, text->valuestring)))
                        st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
                }
                if (st != TTT_OK) break;
                it->gold[0] = idx[pi];
                it->n_gold = 1;
                for (int j = 0; j < n_par; j++)
                    if (idx[j] != idx[pi]) it->more[it->n_more++] = idx[j];
            }
        }
        free(idx);
    }
    return st;
}

static ttt_status hotpot_pass(loader *L, const cJSON *root, int pass) {
    const char *label = L->label;
    ttt_qa_set *q = L->q;
    if (!cJSON_IsArray(root)) return ttt_err(TTT_ERR_FORMAT, "%s: want a JSON array", label);
    ttt_status st = TTT_OK;
    const cJSON *ex;
    long qi = -1;
    cJSON_ArrayForEach(ex, root) {
        qi++;
        const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(ex, "context"), *entry;
        const cJSON *question = cJSON_GetObjectItemCaseSensitive(ex, "question");
        const cJSON *answer = cJSON_GetObjectItemCaseSensitive(ex, "answer");
        if (!cJSON_IsArray(ctx) || !cJSON_IsString(question) || !cJSON_IsString(answer))
            return ttt_err(TTT_ERR_FORMAT, "%s: [%ld]: want question, answer and context", label,
                           qi);
        if (cJSON_GetArraySize(ctx) == 0)
            return ttt_err(TTT_ERR_FORMAT, "%s: [%ld].context: no documents", label, qi);
        ttt_qa_item *it = NULL;
        int nc = cJSON_GetArraySize(ctx), ci = -1;
        if (pass == 2) {
            it = add_item(L);
            if (it) {
                it->question = arena_str(&q->arena, question->valuestring);
                it->answers = arena_alloc(&q->arena, sizeof *it->answers);
                it->gold = arena_alloc(&q->arena, (size_t)(nc ? nc : 1) * sizeof *it->gold);
            }
            if (!it || !it->question || !it->answers || !it->gold)
                return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
            if (!(it->answers[0] = arena_str(&q->arena, answer->valuestring)))
                return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
            it->n_answers = 1;
        }
        cJSON_ArrayForEach(entry, ctx) {
            ci++;
            st = hotpot_doc(&L->scratch, entry, label, qi, ci);
            if (st != TTT_OK) return st;
            if (pass == 1) {
                char *d = arena_str(&q->arena, L->scratch.p);
                st = d ? add_doc(L, d) : ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
            } else {
                it->gold[it->n_gold++] = doc_index(q, L->scratch.p);
            }
            if (st != TTT_OK) return st;
        }
    }
    return st;
}

ttt_status ttt_qa_parse(const char *text, size_t len, ttt_qa_kind kind, const char *label,
                        ttt_qa_set *out) {
    memset(out, 0, sizeof *out);
    size_t at;
    if (!ttt_utf8_valid(text, len, &at))
        return ttt_err(TTT_ERR_FORMAT, "%s: not UTF-8 at byte %zu", label, at);
    if (ttt_json_find_escaped_nul(text, len, &at))
        return ttt_err(TTT_ERR_FORMAT, "%s: escaped NUL at byte %zu", label, at);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        return ttt_err(TTT_ERR_FORMAT, "%s: malformed JSON near byte %zu", label, off);
    }
    loader L = {.label = label, .q = out};
    ttt_status st = kind == TTT_QA_SQUAD ? squad_pass(&L, root, 1) : hotpot_pass(&L, root, 1);
    if (st == TTT_OK) {
        if (L.n_all) qsort(L.all, (size_t)L.n_all, sizeof *L.all, cmp_str);
        long u = 0;
        for (long i = 0; i < L.n_all; i++)
            if (u == 0 || strcmp(L.all[u - 1], L.all[i])) L.all[u++] = L.all[i];
        if (u > INT32_MAX) st = ttt_err(TTT_ERR_FORMAT, "%s: too many documents", label);
        out->docs = L.all;
        out->n_docs = (int)u;
        L.all = NULL;
        if (st == TTT_OK)
            st = kind == TTT_QA_SQUAD ? squad_pass(&L, root, 2) : hotpot_pass(&L, root, 2);
    }
    cJSON_Delete(root);
    free(L.all);
    ttt_buf_free(&L.scratch);
    out->items = L.items;
    out->n_items = L.n_items > INT32_MAX ? INT32_MAX : (int)L.n_items;
    if (st == TTT_OK && out->n_items == 0)
        st = ttt_err(TTT_ERR_FORMAT, "%s: no answerable questions", label);
    if (st != TTT_OK) ttt_qa_free(out);
    return st;
}

ttt_status ttt_qa_load(const char *path, ttt_qa_kind kind, ttt_qa_set *out) {
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    ttt_status st = ttt_read_file(path, (size_t)1 << 30, &text, &len);
    if (st != TTT_OK) return st;
    st = ttt_qa_parse(text, len, kind, path, out);
    free(text);
    return st;
}
