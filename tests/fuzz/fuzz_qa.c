/* fuzz_qa.c - libFuzzer target: SQuAD / HotpotQA parsing (the first byte picks the format)
 * must never crash, leak or read out of bounds, and a successful parse must give sorted unique
 * documents and questions whose document indices are in range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ttt_qa_kind kind = data[0] & 1 ? TTT_QA_HOTPOTQA : TTT_QA_SQUAD;
    ttt_qa_set q;
    if (ttt_qa_parse((const char *)data + 1, size - 1, kind, "fuzz", &q) != TTT_OK) return 0;
    for (int i = 1; i < q.n_docs; i++)
        if (strcmp(q.docs[i - 1], q.docs[i]) >= 0) abort();
    for (int i = 0; i < q.n_items; i++) {
        const ttt_qa_item *it = &q.items[i];
        if (!it->question || it->n_gold < 1 || it->n_answers < 1) abort();
        for (int j = 0; j < it->n_gold; j++)
            if (it->gold[j] < 0 || it->gold[j] >= q.n_docs) abort();
        for (int j = 0; j < it->n_more; j++)
            if (it->more[j] < 0 || it->more[j] >= q.n_docs) abort();
    }
    ttt_qa_free(&q);
    return 0;
}
