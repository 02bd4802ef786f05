/* count.c - the deterministic test token counter (words and punctuation), which stands in for
 * a model tokenizer in tests and `ttt ruler-gen`. */
#include "eval/eval.h"
#include "util/err.h"

static bool is_punct(unsigned char c) {
    return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
           (c >= 0x7b && c <= 0x7e);
}

static bool is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

ttt_status ttt_eval_count_words(void *ctx, const char *text, size_t len, int *n_tokens) {
    (void)ctx;
    long long n = 0;
    bool in_word = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (is_space(c)) {
            in_word = false;
        } else if (is_punct(c)) {
            n++;
            in_word = false;
        } else if (!in_word) {
            n++;
            in_word = true;
        }
    }
    if (n > INT32_MAX) return ttt_err(TTT_ERR_ARG, "text of %zu bytes has too many tokens", len);
    *n_tokens = (int)n;
    return TTT_OK;
}
