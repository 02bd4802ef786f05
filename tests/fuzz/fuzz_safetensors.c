/* fuzz_safetensors.c - libFuzzer target for the safetensors reader: any input must either
 * parse into a consistent index or fail with a message, never crash, leak or read outside the
 * input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Everything a successful parse promises, checked against the input it came from. */
static void check_tensor(const ttt_st_file *f, const ttt_st_tensor *t, const uint8_t *data,
                         size_t size) {
    if (ttt_st_find(f, t->name) != t) abort();
    size_t esize = ttt_dtype_size(t->dtype);
    if (esize == 0 || (uintptr_t)t->data % esize != 0) abort();
    uint64_t bytes = t->end - t->begin;
    if (8 + f->header_len + t->end > size) abort();
    if (bytes > 0 && memcmp(t->data, data + 8 + f->header_len + t->begin, (size_t)bytes) != 0)
        abort();
    if (t->n_elements > 4096) return;
    ttt_tensor_info info = {.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
                            .n_elements = t->n_elements, .n_bytes = bytes, .data = t->data};
    float out[4096];
    if (ttt_tensor_to_f32(&info, out) != TTT_OK) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ttt_st_file f;
    if (ttt_st_parse(data, size, "fuzz", &f) != TTT_OK) {
        /* a failure leaves f empty and says why */
        if (f.tensors || f.n_tensors || f.meta || f.copies || f.label) abort();
        if (ttt_last_error()[0] == '\0') abort();
        return 0;
    }
    for (int i = 0; i < f.n_tensors; i++) {
        check_tensor(&f, &f.tensors[i], data, size);
        if (i > 0 && strcmp(f.tensors[i - 1].name, f.tensors[i].name) >= 0) abort();
    }
    for (int i = 0; i < f.n_meta; i++)
        if (!f.meta[i].key || !f.meta[i].value) abort();
    if (ttt_st_find(&f, "\x01 absent") != NULL) abort();
    ttt_st_close(&f);
    return 0;
}
