/* fuzz_config.c - libFuzzer target: config.json parsing must never crash, leak or read out of
 * bounds, and a successful parse must describe a model the loader can size. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ttt_config c;
    if (ttt_config_parse((const char *)data, size, "fuzz", &c) != TTT_OK) return 0;
    if (c.n_layers < 1 || c.n_layers > TTT_MAX_LAYERS || c.d_model < 1 || c.d_ff < 1 ||
        c.n_heads < 1 || c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads || c.head_dim < 2 ||
        c.head_dim > TTT_MAX_HEAD_DIM || c.head_dim % 2 || c.n_vocab < 1 || c.ttt_chunk < 1)
        abort();
    int n = 0;
    for (int i = 0; i < c.n_layers; i++) n += c.layer_ttt[i];
    if (n != c.n_ttt_layers) abort();
    return 0;
}
