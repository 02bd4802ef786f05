/* fuzz_shard.c - libFuzzer target for the token-shard reader: any input must either parse into
 * a shard whose every promise holds (sizes, boundaries, ids below the vocab) or fail with a
 * message, never crash, leak or read outside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/shard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ttt_shard s;
    if (ttt_shard_parse(data, size, "fuzz", &s) != TTT_OK) {
        if (s.ids || s.label || s.copy || s.n_tokens) abort();
        if (ttt_last_error()[0] == '\0') abort();
        return 0;
    }
    if (s.size != size || s.n_vocab == 0) abort();
    if (s.n_docs > s.n_tokens || (s.n_docs == 0) != (s.n_tokens == 0)) abort();
    if (memcmp(s.base, data, size) != 0) abort();
    uint32_t max = 0;
    for (uint64_t i = 0; i < s.n_tokens; i++) {
        if (s.ids[i] >= s.n_vocab) abort();
        if (s.ids[i] > max) max = s.ids[i];
    }
    if (max != s.max_id) abort();
    for (uint64_t k = 0; k < s.n_docs; k++) {
        if (s.doc_start[k] >= s.n_tokens) abort();
        if (k == 0 ? s.doc_start[0] != 0 : s.doc_start[k] <= s.doc_start[k - 1]) abort();
    }
    if (ttt_shard_check_vocab(&s, s.max_id + 1) != TTT_OK) abort();
    if (s.max_id > 0 && ttt_shard_check_vocab(&s, s.max_id) == TTT_OK) abort();
    ttt_shard_close(&s);
    return 0;
}
