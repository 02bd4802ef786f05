/* fuzz_tokenizer_json.c - libFuzzer target: tokenizer.json itself. Loading must never crash
 * or leak; a tokenizer that loads must encode and decode a fixed mixed text (errors allowed,
 * crashes and invalid UTF-8 out not). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ttt_tokenizer *t;
    if (tok_from_json((const char *)data, size, "fuzz", &t) != TTT_OK) return 0;
    static const char text[] = "Hello  world! 123 caf\xc3\xa9 \xe4\xb8\xad\xf0\x9f\x98\x80\n<s>x";
    for (int flags = 0; flags < 4; flags++) {
        int32_t *ids;
        size_t n;
        if (ttt_tokenize(t, text, sizeof text - 1, flags, &ids, &n) != TTT_OK) continue;
        char *back;
        size_t blen;
        if (ttt_detokenize(t, ids, n, 0, &back, &blen) == TTT_OK) {
            if (!ttt_utf8_valid(back, blen, NULL)) abort();
            free(back);
        }
        free(ids);
    }
    ttt_tokenizer_free(t);
    return 0;
}
