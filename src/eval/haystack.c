/* haystack.c - RULER's haystacks: the noise sentence repeated, an essay corpus cut to a word
 * count and split into sentences, and lines of distractor needles; plus needle keys/values. */
#include "eval/haystack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/utf8.h"

static bool ws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

ttt_status ttt_essay_init(ttt_essay *e, const char *text, size_t len) {
    memset(e, 0, sizeof *e);
    size_t bad;
    /* prompts go to a tokenizer that takes UTF-8 only: say so here, where the file is known */
    if (!ttt_utf8_valid(text, len, &bad))
        return ttt_err(TTT_ERR_FORMAT, "essay haystack: not UTF-8 at byte %zu", bad);
    e->text = malloc(len + 1);
    size_t words = 0;
    for (size_t i = 0; i < len; i++) words += !ws((unsigned char)text[i]) && (i == 0 || ws((unsigned char)text[i - 1]));
    e->ends = malloc((words ? words : 1) * sizeof *e->ends);
    if (!e->text || !e->ends) {
        ttt_essay_free(e);
        return ttt_err(TTT_ERR_NOMEM, "essay haystack: out of memory (%zu bytes)", len);
    }
    size_t o = 0;
    long k = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && ws((unsigned char)text[i])) i++;
        if (i == len) break;
        if (k) e->text[o++] = ' ';
        while (i < len && !ws((unsigned char)text[i])) {
            /* a NUL would end the prompt string early */
            e->text[o++] = text[i] ? text[i] : ' ';
            i++;
        }
        e->ends[k++] = o;
    }
    e->text[o] = '\0';
    e->len = o;
    e->n_words = k;
    if (k == 0) {
        ttt_essay_free(e);
        return ttt_err(TTT_ERR_FORMAT, "essay haystack: no words");
    }
    return TTT_OK;
}

void ttt_essay_free(ttt_essay *e) {
    free(e->text);
    free(e->ends);
    memset(e, 0, sizeof *e);
}

void ttt_kv_random(ttt_rng *r, ttt_kv_kind kind, const ttt_words *w, char out[TTT_KV_MAX]) {
    if (kind == TTT_KV_NUMBERS) {
        snprintf(out, TTT_KV_MAX, "%d", (int)ttt_rng_range(r, 1000000, 9999999));
    } else if (kind == TTT_KV_UUIDS) {
        uint8_t b[16];
        uint64_t x = ttt_rng_u64(r), y = ttt_rng_u64(r);
        for (int i = 0; i < 8; i++) b[i] = (uint8_t)(x >> (8 * i)), b[8 + i] = (uint8_t)(y >> (8 * i));
        b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
        b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        static const char hex[] = "0123456789abcdef";
        int o = 0;
        for (int i = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
            out[o++] = hex[b[i] >> 4];
            out[o++] = hex[b[i] & 15];
        }
        out[o] = '\0';
    } else {
        const char *a = w->adjectives[ttt_rng_range(r, 0, w->n_adjectives - 1)];
        const char *n = w->nouns[ttt_rng_range(r, 0, w->n_nouns - 1)];
        snprintf(out, TTT_KV_MAX, "%s-%s", a, n);
    }
}

/* Sentence ends: a word ending in . ! or ? (closing quotes and brackets allowed after it),
 * except initials ("J.") and common abbreviations. RULER uses NLTK punkt, which learns more of
 * them; only needle boundaries can differ. */
static bool sentence_end(const char *w, size_t n) {
    static const char *const abbrev[] = {"Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "St.", "Jr.",
                                         "Sr.", "vs.", "e.g.", "i.e.", "cf.", "Inc.", "Co.",
                                         "U.S.", "a.m.", "p.m.", "No."};
    while (n && (w[n - 1] == '"' || w[n - 1] == '\'' || w[n - 1] == ')' || w[n - 1] == ']')) n--;
    if (!n || (w[n - 1] != '.' && w[n - 1] != '!' && w[n - 1] != '?')) return false;
    if (w[n - 1] != '.') return true;
    size_t s = 0; /* skip opening quotes and brackets */
    while (s < n && (w[s] == '"' || w[s] == '\'' || w[s] == '(' || w[s] == '[')) s++;
    if (n - s == 2 && w[s] >= 'A' && w[s] <= 'Z') return false;
    for (size_t i = 0; i < sizeof abbrev / sizeof *abbrev; i++)
        if (strlen(abbrev[i]) == n - s && !memcmp(abbrev[i], w + s, n - s)) return false;
    return true;
}

/* The i-th word of the repeated corpus: [start, end) into e->text. */
static void word_span(const ttt_essay *e, long i, size_t *start, size_t *end) {
    long j = i % e->n_words;
    *start = j ? e->ends[j - 1] + 1 : 0;
    *end = e->ends[j];
}

ttt_status ttt_essay_put(ttt_buf *b, const ttt_essay *e, long n_words, ttt_rng *r,
                         const char *const *needles, int n_needles) {
    /* sentence starts (word indices) of the first n_words words */
    long cap = 64, n_sent = 0;
    long *starts = malloc((size_t)cap * sizeof *starts);
    if (!starts) return ttt_err(TTT_ERR_NOMEM, "essay haystack: out of memory");
    for (long i = 0; i < n_words; i++) {
        size_t s, t;
        bool begins = i == 0;
        if (i > 0) {
            word_span(e, i - 1, &s, &t);
            begins = sentence_end(e->text + s, t - s);
        }
        if (!begins) continue;
        if (n_sent == cap) {
            long *p = realloc(starts, (size_t)(cap *= 2) * sizeof *starts);
            if (!p) {
                free(starts);
                return ttt_err(TTT_ERR_NOMEM, "essay haystack: out of memory");
            }
            starts = p;
        }
        starts[n_sent++] = i;
    }
    /* RULER: DEPTHS = round(linspace(0, 100, 40)); positions int(n_sent * depth / 100) */
    int pick[8], pos[8];
    if (n_needles > 8) n_needles = 8;
    ttt_status st = ttt_rng_sample(r, 40, n_needles, pick);
    if (st != TTT_OK) {
        free(starts);
        return st;
    }
    for (int k = 0; k < n_needles; k++) {
        long depth = (long)(100.0 * pick[k] / 39.0 + 0.5);
        pos[k] = (int)(n_sent * depth / 100);
    }
    ttt_sort_small(pos, n_needles);
    /* RULER joins the sentence runs and needles with ' ', empty runs included */
    long prev = 0;
    for (int k = 0; k <= n_needles; k++) {
        long upto = k < n_needles ? pos[k] : n_sent;
        long w0 = prev < n_sent ? starts[prev] : n_words;
        long w1 = upto < n_sent ? starts[upto] : n_words;
        if (k) ttt_buf_put(b, " ", 1);
        for (long i = w0; i < w1; i++) {
            size_t s, t;
            word_span(e, i, &s, &t);
            if (i > w0) ttt_buf_put(b, " ", 1);
            ttt_buf_put(b, e->text + s, t - s);
        }
        if (k < n_needles) {
            ttt_buf_put(b, " ", 1);
            ttt_buf_puts(b, needles[k]);
        }
        prev = upto;
    }
    free(starts);
    return TTT_OK;
}

ttt_status ttt_lines_put(ttt_buf *b, long n, ttt_line_fn line, void *ctx, ttt_rng *r,
                         const char *const *needles, int n_needles) {
    if (n < n_needles || n > INT32_MAX)
        return ttt_err(TTT_ERR_ARG, "haystack of %ld lines cannot hold %d needles", n, n_needles);
    int pos[8];
    if (n_needles > 8) n_needles = 8;
    ttt_status st = ttt_rng_sample(r, (int)n, n_needles, pos);
    if (st != TTT_OK) return st;
    ttt_sort_small(pos, n_needles);
    int k = 0;
    for (long i = 0; i < n; i++) {
        while (k < n_needles && pos[k] == i) {
            ttt_buf_puts(b, needles[k++]);
            ttt_buf_put(b, "\n", 1);
        }
        line(ctx, b);
        if (i + 1 < n) ttt_buf_put(b, "\n", 1);
    }
    return TTT_OK;
}
