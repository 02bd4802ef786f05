/* score.c - RULER's scorers (string_match_all / string_match_part) on one output. */
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

const char *ttt_eval_scorer_name(ttt_eval_scorer s) {
    return s == TTT_SCORE_MATCH_PART ? "string_match_part" : "string_match_all";
}

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

/* Python's str.strip(): white space and the separators \x1c-\x1f */
static bool py_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

/* Case-insensitive search of needle in hay (ASCII folding; RULER's str.lower() also folds
 * non-ASCII letters, which the references of the synthetic tasks never contain). */
static bool contains(const char *hay, size_t n, const char *needle) {
    size_t m = strlen(needle);
    if (m == 0) return true;
    if (m > n) return false;
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && lower(hay[i + j]) == lower(needle[j])) j++;
        if (j == m) return true;
    }
    return false;
}

double ttt_eval_score(ttt_eval_scorer s, const char *prediction, const char *const *refs,
                      int n_refs) {
    if (n_refs <= 0) return 0;
    /* RULER's postprocess: strip, control characters to '\n', strip (the second strip only
     * removes what the first would have: control characters are white space or \x1c-\x1f) */
    const char *p = prediction ? prediction : "";
    size_t n = strlen(p);
    while (n && py_space((unsigned char)*p)) p++, n--;
    while (n && py_space((unsigned char)p[n - 1])) n--;
    char *norm = malloc(n + 1);
    if (!norm) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        norm[i] = c < 0x20 ? '\n' : (char)c;
    }
    norm[n] = '\0';
    int found = 0;
    for (int i = 0; i < n_refs; i++) found += contains(norm, n, refs[i] ? refs[i] : "");
    free(norm);
    if (s == TTT_SCORE_MATCH_PART) return found > 0 ? 1.0 : 0.0;
    return (double)found / n_refs;
}
