/* fuzz_tokenizer.c - libFuzzer target for the encoder: arbitrary text through a golden
 * tokenizer (TTT_FUZZ_TOKENIZER: a directory or tokenizer.json; scripts/fuzz.sh sets the
 * Qwen2 one). The first byte picks the flags. Encoding must never crash; valid UTF-8 must
 * come back exactly from a lossless (byte-level, no normalizer) tokenizer; the streaming
 * detokenizer must agree with the whole decode; ids from the input bytes must decode or fail
 * cleanly. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ttt_tokenizer *g_tok;
static bool g_lossless; /* byte-level with the whole alphabet, no normalizer, ByteLevel decoder */

static void load(void) {
    const char *path = getenv("TTT_FUZZ_TOKENIZER");
    if (!path || ttt_tokenizer_load(path, &g_tok) != TTT_OK) {
        fprintf(stderr, "fuzz_tokenizer: set TTT_FUZZ_TOKENIZER to a tokenizer (%s)\n",
                ttt_last_error());
        abort();
    }
    const tok_bytechar *tab = tok_bytelevel_table();
    g_lossless = g_tok->n_norm == 0 && g_tok->n_pre > 0 &&
                 g_tok->pre[g_tok->n_pre - 1].kind == TOK_PRE_BYTELEVEL && g_tok->n_dec == 1 &&
                 g_tok->dec[0].kind == TOK_DEC_BYTELEVEL;
    for (int b = 0; b < 256 && g_lossless; b++)
        if (tok_strmap_get(&g_tok->bpe.vocab, tab[b].s, tab[b].len) < 0) g_lossless = false;
}

static void stream_matches(const int32_t *ids, size_t n, const char *want, size_t want_len) {
    ttt_detok *d;
    if (ttt_detok_init(g_tok, 0, &d) != TTT_OK) abort();
    char *acc = malloc(want_len + 1);
    size_t len = 0;
    for (size_t i = 0; i <= n; i++) {
        const char *p;
        size_t pl;
        ttt_status st = i < n ? ttt_detok_push(d, ids[i], &p, &pl) : ttt_detok_flush(d, &p, &pl);
        if (st != TTT_OK || len + pl > want_len) abort();
        memcpy(acc + len, p, pl);
        len += pl;
    }
    if (len != want_len || memcmp(acc, want, len)) abort();
    free(acc);
    ttt_detok_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_tok) load();
    if (size == 0) return 0;
    int flags = data[0] & (TTT_TOK_ADD_SPECIAL | TTT_TOK_NO_SPECIAL);
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids;
    size_t n;
    ttt_status st = ttt_tokenize(g_tok, text, len, flags, &ids, &n);
    bool valid = ttt_utf8_valid(text, len, NULL);
    if (valid != (st == TTT_OK)) abort();
    if (st == TTT_OK) {
        char *back;
        size_t blen;
        if (ttt_detokenize(g_tok, ids, n, 0, &back, &blen) != TTT_OK) abort();
        bool lossless = g_lossless && !(flags & TTT_TOK_ADD_SPECIAL);
        if (lossless && (blen != len || memcmp(back, text, len))) abort();
        if (!ttt_utf8_valid(back, blen, NULL)) abort();
        stream_matches(ids, n, back, blen);
        free(back);
        free(ids);
    }
    /* the bytes as ids, some out of range */
    size_t nid = size / 2;
    int32_t *raw = malloc((nid + 1) * sizeof *raw);
    for (size_t i = 0; i < nid; i++)
        raw[i] = (int32_t)((data[2 * i] | data[2 * i + 1] << 8) % (ttt_tokenizer_n_vocab(g_tok) + 8)) - 4;
    char *s;
    size_t sl;
    if (ttt_detokenize(g_tok, raw, nid, TTT_TOK_SKIP_SPECIAL, &s, &sl) == TTT_OK) {
        if (!ttt_utf8_valid(s, sl, NULL)) abort();
        free(s);
    }
    free(raw);
    return 0;
}
