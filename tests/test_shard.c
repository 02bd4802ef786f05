/* test_shard.c - token shards and `ttt data`: documents written come back exactly (ids,
 * boundaries, header fields at the documented offsets); every corruption of a shard (magic,
 * version, truncation, boundaries, counts, padding, ids, a flipped bit) is refused with a
 * message naming it; ids at or above a model's vocab are caught; .txt and .jsonl inputs are
 * split into documents as documented, bad lines are named, a failed run leaves no shards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "data/shard.h"
#include "io/file.h"
#include "util/err.h"

static const char *g_tmp;

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 8);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static void spit(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static void wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* The documented checksum, written out here independently of the library. */
static void reseal(uint8_t *b, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 64; i + 8 <= n; i += 8) h = (h ^ rd64(b + i)) * 0x100000001b3ull;
    for (size_t i = 0; i < 56; i += 8) h = (h ^ rd64(b + i)) * 0x100000001b3ull;
    wr64(b + 56, h);
}

/* docs: {3 ids}, {}, {1 id}, {2 ids}: the empty one is not kept */
static const int32_t D0[] = {5, 0, 9}, D2[] = {7}, D3[] = {1, 2};

static void write_sample(const char *path) {
    ttt_shard_writer *w;
    CHECK_OK(ttt_shard_writer_open(path, 10, 9, &w));
    if (!w) return;
    CHECK_OK(ttt_shard_writer_add(w, D0, 3));
    CHECK_OK(ttt_shard_writer_add(w, NULL, 0));
    CHECK_OK(ttt_shard_writer_add(w, D2, 1));
    CHECK_OK(ttt_shard_writer_add(w, D3, 2));
    CHECK(ttt_shard_writer_tokens(w) == 6);
    CHECK_OK(ttt_shard_writer_commit(w));
}

static void test_roundtrip(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/shard_rt.bin", g_tmp);
    write_sample(path);
    size_t n;
    uint8_t *b = slurp(path, &n);
    CHECK(b && n == 64 + 24 + 3 * 8);
    if (!b) return;
    /* the documented header, field by field */
    CHECK(!memcmp(b, "TTTSHARD", 8) && b[8] == 1 && b[12] == 10 && rd64(b + 16) == 6);
    CHECK(rd64(b + 24) == 3 && b[32] == 9);
    const uint32_t ids[6] = {5, 0, 9, 7, 1, 2};
    CHECK(!memcmp(b + 64, ids, sizeof ids));
    CHECK(rd64(b + 88) == 0 && rd64(b + 96) == 3 && rd64(b + 104) == 4);
    uint8_t copy[112];
    memcpy(copy, b, sizeof copy);
    reseal(copy, sizeof copy);
    CHECK(!memcmp(copy + 56, b + 56, 8));

    ttt_shard s;
    CHECK_OK(ttt_shard_open(path, &s));
    CHECK(s.n_tokens == 6 && s.n_docs == 3 && s.n_vocab == 10 && s.eos_id == 9 && s.max_id == 9);
    CHECK(s.ids && !memcmp(s.ids, ids, sizeof ids) && s.doc_start[2] == 4);
    CHECK_OK(ttt_shard_check_vocab(&s, 10));
    CHECK_FAILS(ttt_shard_check_vocab(&s, 9), TTT_ERR_FORMAT, "token 2 is 9, not below the "
                "model's vocab size 9");
    ttt_shard_close(&s);
    /* an odd id count: padding; a misaligned buffer: copied */
    uint8_t *mis = malloc(n + 1);
    memcpy(mis + 1, b, n);
    CHECK_OK(ttt_shard_parse(mis + 1, n, "mis", &s));
    CHECK(s.n_tokens == 6 && s.ids[5] == 2);
    ttt_shard_close(&s);
    free(mis);
    free(b);

    /* the writer refuses ids outside the vocab */
    ttt_shard_writer *w;
    snprintf(path, sizeof path, "%s/shard_badid.bin", g_tmp);
    CHECK_OK(ttt_shard_writer_open(path, 10, TTT_SHARD_NO_TOKEN, &w));
    const int32_t bad[] = {1, 10};
    CHECK_FAILS(ttt_shard_writer_add(w, bad, 2), TTT_ERR_ARG, "id 10 at 1 is outside [0, 10)");
    ttt_shard_writer_abort(w);
    CHECK(access(path, F_OK) != 0);
    CHECK_FAILS(ttt_shard_writer_open(path, 10, 10, &w), TTT_ERR_ARG, "EOS id 10");
}

/* One corruption of the sample shard; reseal: fix the checksum so the field's own check is
 * what fires. */
static void corrupt(const uint8_t *good, size_t n, size_t new_len, void (*edit)(uint8_t *),
                    int reseal_it, ttt_status want, const char *needle) {
    uint8_t *b = calloc(1, n + 64);
    memcpy(b, good, n);
    if (edit) edit(b);
    if (reseal_it) reseal(b, new_len);
    ttt_shard s;
    CHECK_FAILS(ttt_shard_parse(b, new_len, "bad.bin", &s), want, needle);
    CHECK(s.ids == NULL && s.label == NULL);
    free(b);
}

static void e_magic(uint8_t *b) { b[3] = 'X'; }
static void e_version(uint8_t *b) { wr32(b + 8, 2); }
static void e_vocab0(uint8_t *b) { wr32(b + 12, 0); }
static void e_eos(uint8_t *b) { wr32(b + 32, 10); }
static void e_reserved(uint8_t *b) { b[40] = 1; }
static void e_count(uint8_t *b) { wr64(b + 16, 7); }
static void e_docs(uint8_t *b) { wr64(b + 24, 4); }
static void e_huge(uint8_t *b) { wr64(b + 16, UINT64_MAX / 2); }
static void e_first(uint8_t *b) { wr64(b + 88, 1); }
static void e_order(uint8_t *b) { wr64(b + 104, 3); }
static void e_range(uint8_t *b) { wr64(b + 104, 6); }
static void e_id(uint8_t *b) { wr32(b + 64 + 4, 10); }
static void e_flip(uint8_t *b) { b[64 + 4] ^= 1; } /* 0 -> 1: in range, only the sum sees it */

static void test_corrupt(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/shard_rt.bin", g_tmp);
    size_t n;
    uint8_t *g = slurp(path, &n);
    if (!g) return;
    corrupt(g, n, 10, NULL, 0, TTT_ERR_FORMAT, "truncated: 10 bytes, the header alone is 64");
    corrupt(g, n, n, e_magic, 0, TTT_ERR_FORMAT, "bad magic at byte 0");
    corrupt(g, n, n, e_version, 1, TTT_ERR_UNSUPPORTED, "version 2 (byte 8)");
    corrupt(g, n, n, e_vocab0, 1, TTT_ERR_FORMAT, "vocab size 0 (byte 12)");
    corrupt(g, n, n, e_eos, 1, TTT_ERR_FORMAT, "EOS id 10 (byte 32)");
    corrupt(g, n, n, e_reserved, 1, TTT_ERR_FORMAT, "reserved byte 40");
    corrupt(g, n, n - 8, NULL, 0, TTT_ERR_FORMAT, "truncated: 104 bytes");
    corrupt(g, n, n - 30, NULL, 0, TTT_ERR_FORMAT, "truncated");
    corrupt(g, n, n + 8, NULL, 0, TTT_ERR_FORMAT, "trailing bytes: 120 bytes");
    corrupt(g, n, n, e_count, 1, TTT_ERR_FORMAT, "token count 7 (byte 16)");
    corrupt(g, n, n, e_docs, 1, TTT_ERR_FORMAT, "document count 4 (byte 24)");
    corrupt(g, n, n, e_huge, 1, TTT_ERR_FORMAT, "overflow");
    corrupt(g, n, n, e_first, 1, TTT_ERR_FORMAT, "document 0 starts at 1 (byte 88)");
    corrupt(g, n, n, e_order, 1, TTT_ERR_FORMAT, "document 2 starts at token 3 (byte 104), "
            "not after document 1");
    corrupt(g, n, n, e_range, 1, TTT_ERR_FORMAT, "document 2 starts at token 6 (byte 104), out "
            "of range");
    corrupt(g, n, n, e_id, 1, TTT_ERR_FORMAT, "token 1 (byte 68) is 10, not below the vocab");
    corrupt(g, n, n, e_flip, 0, TTT_ERR_FORMAT, "checksum mismatch");
    free(g);

    /* 5 ids: 4 bytes of padding that must be zero */
    ttt_shard_writer *w;
    snprintf(path, sizeof path, "%s/shard_odd.bin", g_tmp);
    CHECK_OK(ttt_shard_writer_open(path, 10, 9, &w));
    CHECK_OK(ttt_shard_writer_add(w, D0, 3));
    CHECK_OK(ttt_shard_writer_add(w, D3, 2));
    CHECK_OK(ttt_shard_writer_commit(w));
    g = slurp(path, &n);
    CHECK(g && n == 64 + 24 + 16);
    if (g) {
        ttt_shard s;
        CHECK_OK(ttt_shard_parse(g, n, "odd", &s));
        ttt_shard_close(&s);
        g[64 + 20] = 1;
        reseal(g, n);
        CHECK_FAILS(ttt_shard_parse(g, n, "odd", &s), TTT_ERR_FORMAT, "padding byte 84");
    }
    free(g);
    ttt_shard s;
    CHECK_FAILS(ttt_shard_open("/nonexistent.bin", &s), TTT_ERR_IO, "/nonexistent.bin");
}

/* ---- ttt data ---- */

static void write_text(const char *path, const char *text) { spit(path, text, strlen(text)); }

/* Reads back all ids of a shard as a string (the byte tokenizer's ids are the bytes), with
 * '|' between documents. */
static void shard_text(const char *path, char *out, size_t cap) {
    ttt_shard s;
    out[0] = '\0';
    if (ttt_shard_open(path, &s) != TTT_OK) return;
    size_t k = 0;
    for (uint64_t d = 0; d < s.n_docs && k + 2 < cap; d++) {
        uint64_t end = d + 1 < s.n_docs ? s.doc_start[d + 1] : s.n_tokens;
        if (d) out[k++] = '|';
        for (uint64_t i = s.doc_start[d]; i < end && k + 2 < cap; i++) out[k++] = (char)s.ids[i];
    }
    out[k] = '\0';
    CHECK(s.n_vocab == TTT_BYTE_VOCAB && s.eos_id == TTT_BYTE_EOS);
    ttt_shard_close(&s);
}

static void test_prepare(void) {
    char a[1024], b[1024], c[1024], out[1024], sh[1100], text[512];
    snprintf(a, sizeof a, "%s/data_a.txt", g_tmp);
    snprintf(b, sizeof b, "%s/data_b.jsonl", g_tmp);
    snprintf(c, sizeof c, "%s/data_c.jsonl", g_tmp);
    write_text(a, "one\n\ntwo\r\n");
    write_text(b, "{\"text\": \"x\\u00e9\", \"body\": \"B1\"}\n  \n{\"text\": \"\", \"body\": \"B2\"}\n");
    const char *inputs[] = {a, b};
    ttt_data_params p = {.inputs = inputs, .n_inputs = 2, .encode = ttt_data_byte_encode,
                         .n_vocab = TTT_BYTE_VOCAB, .eos_id = TTT_BYTE_EOS};
    ttt_data_stats st;
    for (int mode = 0; mode < 2; mode++) {
        snprintf(out, sizeof out, "%s/data_out%d", g_tmp, mode);
        snprintf(sh, sizeof sh, "%s/shard-00000.bin", out);
        unlink(sh);
        p.out_dir = out;
        p.txt_docs = mode;
        CHECK_OK(ttt_data_prepare(&p, &st));
        shard_text(sh, text, sizeof text);
        /* the empty jsonl text is no document; é is two UTF-8 bytes */
        CHECK(!strcmp(text, mode ? "one|two|x\xc3\xa9" : "one\n\ntwo\r\n|x\xc3\xa9"));
        CHECK(st.n_docs == (mode ? 3u : 2u) && st.n_shards == 1);
        CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_ARG, "already holds shards");
    }
    /* another key, and small shards: documents are never split */
    snprintf(out, sizeof out, "%s/data_small", g_tmp);
    for (int k = 0; k < 3; k++) {
        snprintf(sh, sizeof sh, "%s/shard-%05d.bin", out, k);
        unlink(sh);
    }
    p.out_dir = out;
    p.text_key = "body";
    p.inputs = (const char *[]){b};
    p.n_inputs = 1;
    p.shard_tokens = 1;
    CHECK_OK(ttt_data_prepare(&p, &st));
    CHECK(st.n_shards == 2 && st.n_tokens == 4);
    snprintf(sh, sizeof sh, "%s/shard-00001.bin", out);
    shard_text(sh, text, sizeof text);
    CHECK(!strcmp(text, "B2"));

    /* bad lines name the file and line; nothing is left behind */
    write_text(c, "{\"body\": \"ok\"}\n{\"body\": 5}\n");
    snprintf(out, sizeof out, "%s/data_bad", g_tmp);
    p.out_dir = out;
    p.inputs = (const char *[]){c};
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_FORMAT, "data_c.jsonl:2: no string field "
                "'body'");
    snprintf(sh, sizeof sh, "%s/shard-00000.bin", out);
    CHECK(access(sh, F_OK) != 0);
    write_text(c, "{\"body\": \"ok\"}\n{\"body\": \"a\"} x\n");
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_FORMAT, "data_c.jsonl:2: bytes after");
    write_text(c, "{\"body\": \"ok\", \"body\": \"no\"}\n");
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_FORMAT, "data_c.jsonl:1: duplicate field");
    p.inputs = (const char *[]){"/nonexistent.jsonl"};
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_IO, "/nonexistent.jsonl");
    p.inputs = (const char *[]){"data.csv"};
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_ARG, "data.csv: unknown input type");
    /* a full disk midway: an error, and no shard left */
    p.inputs = (const char *[]){b};
    ttt_file_fail_nth_write(2);
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_IO, "No space left on device");
    ttt_file_fail_nth_write(0);
    CHECK(access(sh, F_OK) != 0);
}

/* A tokenizer through the callback: one id per word (its length), none for a comment line,
 * a failure on "FAIL". */
static ttt_status word_encode(void *ctx, const char *text, size_t len, int32_t **ids, int *n) {
    int *calls = ctx;
    ++*calls;
    *ids = malloc(sizeof **ids * (len + 1));
    *n = 0;
    if (len >= 4 && !memcmp(text, "FAIL", 4)) return ttt_err(TTT_ERR_ARG, "word: refused");
    if (text[0] == '#') return TTT_OK;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && text[j] != ' ') j++;
        if (j > i) (*ids)[(*n)++] = (int32_t)(j - i);
        i = j + 1;
    }
    return TTT_OK;
}

static void test_callback(void) {
    char in[1024], out[1024], sh[1100];
    snprintf(in, sizeof in, "%s/data_words.txt", g_tmp);
    snprintf(out, sizeof out, "%s/data_words", g_tmp);
    snprintf(sh, sizeof sh, "%s/shard-00000.bin", out);
    unlink(sh);
    write_text(in, "# a comment\nab cde f\n# another\n");
    int calls = 0;
    const char *inputs[] = {in};
    ttt_data_params p = {.inputs = inputs, .n_inputs = 1, .out_dir = out, .encode = word_encode,
                         .encode_ctx = &calls, .n_vocab = 8, .eos_id = 0,
                         .txt_docs = TTT_DATA_TXT_LINE};
    ttt_data_stats st;
    CHECK_OK(ttt_data_prepare(&p, &st));
    CHECK(calls == 3 && st.n_docs == 1 && st.n_tokens == 3 && st.n_shards == 1);
    ttt_shard s;
    CHECK_OK(ttt_shard_open(sh, &s));
    CHECK(s.n_tokens == 3 && s.ids[0] == 2 && s.ids[1] == 3 && s.ids[2] == 1 && s.eos_id == 0);
    ttt_shard_close(&s);
    unlink(sh);
    write_text(in, "# only a comment\n");
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_ARG, "the inputs hold no text");
    CHECK(access(sh, F_OK) != 0);
    write_text(in, "ok\nFAIL here\n");
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_ARG, "data_words.txt:2: word: refused");
    CHECK(access(sh, F_OK) != 0);
    write_text(in, "a bcdefghij\n"); /* a word of 9 letters: id 9, outside the vocab of 8 */
    CHECK_FAILS(ttt_data_prepare(&p, &st), TTT_ERR_ARG, "data_words.txt:1: ");
}

int main(void) {
    g_tmp = getenv("TTT_TEST_TMP");
    if (!g_tmp) g_tmp = "/tmp";
    test_roundtrip();
    test_corrupt();
    test_prepare();
    test_callback();
    return check_summary("test_shard");
}
