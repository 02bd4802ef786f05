/* test_tokenizer.c - whole tokenizers: small tokenizer.json files whose ids are worked out by
 * hand (merges in both forms, ignore_merges, byte fallback, unk, added tokens, the
 * post-processor), bad files and bad input, the streaming detokenizer on the golden
 * tokenizers, and model directories with tokenizer_config / generation_config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "tok/tok.h"
#include "util/utf8.h"

static const char *g_tmp;

static ttt_tokenizer *from_json(const char *json) {
    ttt_tokenizer *t = NULL;
    if (tok_from_json(json, strlen(json), "test.json", &t) != TTT_OK)
        fprintf(stderr, "load failed: %s\n", ttt_last_error());
    return t;
}

/* ids of text as "1 2 3" */
static const char *enc(const ttt_tokenizer *t, const char *text, int flags) {
    static char buf[4096];
    int32_t *ids;
    size_t n;
    if (!t || ttt_tokenize(t, text, strlen(text), flags, &ids, &n) != TTT_OK) return "ERROR";
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && o < sizeof buf - 16; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, i ? " %d" : "%d", (int)ids[i]);
    free(ids);
    return buf;
}

static const char *dec(const ttt_tokenizer *t, const int32_t *ids, size_t n, int flags) {
    static char buf[512];
    char *s;
    size_t len;
    if (!t || ttt_detokenize(t, ids, n, flags, &s, &len) != TTT_OK) return "ERROR";
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

#define MODEL(vocab, merges, extra) \
    "{\"model\": {\"type\": \"BPE\", \"vocab\": " vocab ", \"merges\": " merges extra "}"

static void test_merges(void) {
    /* (b, c) has the lower rank, so "abc" becomes a + bc although "ab" and "abc" exist */
    ttt_tokenizer *t1 = from_json(MODEL("{\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"bc\": 4, \"abc\": 5}",
                                        "[\"b c\", \"a b\", \"ab c\"]", "") "}");
    ttt_tokenizer *t2 = from_json(MODEL("{\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"bc\": 4, \"abc\": 5}",
                                        "[[\"b\", \"c\"], [\"a\", \"b\"], [\"ab\", \"c\"]]", "") "}");
    ttt_tokenizer *t3 = from_json(MODEL("{\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"bc\": 4, \"abc\": 5}",
                                        "[\"b c\", \"a b\", \"ab c\"]", ", \"ignore_merges\": true") "}");
    CHECK(!strcmp(enc(t1, "abc", 0), "0 4"));
    CHECK(!strcmp(enc(t2, "abc", 0), "0 4"));
    CHECK(!strcmp(enc(t1, "abab", 0), "3 3"));
    CHECK(!strcmp(enc(t1, "ababc", 0), "3 0 4")); /* b c first, then the left a b */
    CHECK(!strcmp(enc(t3, "abc", 0), "5"));        /* the whole word is in the vocabulary */
    CHECK(!strcmp(enc(t3, "cab", 0), "2 3"));
    CHECK(!strcmp(enc(t1, "", 0), ""));
    /* no decoder: tokens joined by spaces, as HF does */
    int32_t ids[] = {0, 4};
    CHECK(!strcmp(dec(t1, ids, 2, 0), "a bc"));
    CHECK(ttt_tokenizer_n_vocab(t1) == 6 && ttt_tokenizer_find(t1, "bc") == 4 &&
          !strcmp(ttt_tokenizer_token(t1, 5), "abc") && !ttt_tokenizer_token(t1, 6));
    ttt_tokenizer_free(t1);
    ttt_tokenizer_free(t2);
    ttt_tokenizer_free(t3);
}

/* Long words are cut where no token spans the cut; that must give the ids of the uncut word
 * (differential: the same tokenizer with the cut table removed). */
static void test_long_words(void) {
    ttt_tokenizer *t = from_json(MODEL(
        "{\"a\": 0, \"b\": 1, \"c\": 2, \"x\": 3, \"ab\": 4, \"bc\": 5, \"ca\": 6, "
        "\"abc\": 7, \"cab\": 8, \"xa\": 9, \"bcab\": 10}",
        "[\"a b\", \"c a\", \"b c\", \"ab c\", \"c ab\", \"x a\", \"bc ab\"]", "") "}");
    if (!t) return;
    uint64_t rng = 42;
    int same = 1;
    for (int trial = 0; trial < 50; trial++) {
        char w[400];
        size_t n = 64 + (size_t)(trial * 6);
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            w[i] = "abcxb"[(rng >> 33) % 5];
        }
        w[n] = '\0';
        char cut[4096], whole[4096];
        snprintf(cut, sizeof cut, "%s", enc(t, w, 0));
        tok_u64map saved = t->bpe.pairs;
        t->bpe.pairs.key = NULL;
        snprintf(whole, sizeof whole, "%s", enc(t, w, 0));
        t->bpe.pairs = saved;
        if (strcmp(cut, whole)) same = 0;
    }
    CHECK(same);
    ttt_tokenizer_free(t);
}

static void test_fallback_unk(void) {
    const char *vocab = "{\"<unk>\": 0, \"a\": 1, \"<0xC3>\": 2, \"<0xA9>\": 3, \"<0xE4>\": 4, "
                        "\"<0xB8>\": 5}";
    char json[1024];
    snprintf(json, sizeof json,
             "{\"model\": {\"type\": \"BPE\", \"vocab\": %s, \"merges\": [], \"unk_token\": "
             "\"<unk>\", \"byte_fallback\": true, \"fuse_unk\": %s}, \"decoder\": {\"type\": "
             "\"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}]}}",
             vocab, "true");
    ttt_tokenizer *t = from_json(json);
    CHECK(!strcmp(enc(t, "a\xc3\xa9" "a", 0), "1 2 3 1"));  /* é: its bytes */
    CHECK(!strcmp(enc(t, "a\xc3\xbc\xc3\xbc" "a", 0), "1 0 1")); /* ü: <0xBC> missing: unk, fused */
    int32_t ok[] = {1, 2, 3}, half[] = {4, 5, 1};
    CHECK(!strcmp(dec(t, ok, 3, 0), "a\xc3\xa9"));
    CHECK(!strcmp(dec(t, half, 3, 0), "\xef\xbf\xbd\xef\xbf\xbd" "a"));
    ttt_tokenizer_free(t);
    snprintf(json, sizeof json,
             "{\"model\": {\"type\": \"BPE\", \"vocab\": %s, \"merges\": [], \"unk_token\": "
             "\"<unk>\", \"byte_fallback\": false, \"fuse_unk\": false}}", vocab);
    t = from_json(json);
    CHECK(!strcmp(enc(t, "a\xc3\xa9\xc3\xbc", 0), "1 0 0"));
    ttt_tokenizer_free(t);
}

/* Added tokens before normalization, a normalized added token matched after it, the
 * post-processor and the special-token switches. */
static const char *ADDED_JSON =
    "{\"added_tokens\": ["
    "{\"id\": 10, \"content\": \"<s>\", \"special\": true, \"normalized\": false},"
    "{\"id\": 11, \"content\": \"a b\", \"special\": false, \"normalized\": true}],"
    "\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"},"
    "\"pre_tokenizer\": null,"
    "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"\xe2\x96\x81\": 2, \"x\": 3, "
    "\"<unk>\": 4}, \"merges\": [], \"unk_token\": \"<unk>\"},"
    "\"decoder\": {\"type\": \"Replace\", \"pattern\": {\"String\": \"\xe2\x96\x81\"}, \"content\": \" \"},"
    "\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, "
    "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", "
    "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], "
    "\"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [10], \"tokens\": [\"<s>\"]}}}]}}";

static void test_added_post(void) {
    ttt_tokenizer *t = from_json(ADDED_JSON);
    CHECK(!strcmp(enc(t, "x a b<s>a", 0), "3 2 11 10 0"));
    CHECK(!strcmp(enc(t, "x a b<s>a", TTT_TOK_ADD_SPECIAL), "10 3 2 11 10 0"));
    CHECK(!strcmp(enc(t, "x a b<s>a", TTT_TOK_NO_SPECIAL), "3 2 11 4 4 4 0"));
    CHECK(!strcmp(enc(t, "", TTT_TOK_ADD_SPECIAL), "10"));
    int32_t ids[] = {3, 2, 11, 10, 0};
    CHECK(!strcmp(dec(t, ids, 5, 0), "x a b<s>a"));
    CHECK(!strcmp(dec(t, ids, 5, TTT_TOK_SKIP_SPECIAL), "x a ba"));
    CHECK(ttt_tokenizer_is_special(t, 10) && !ttt_tokenizer_is_special(t, 11) &&
          !ttt_tokenizer_is_special(t, 99) && ttt_tokenizer_n_vocab(t) == 12);
    /* ids 5..9 are holes: neither model nor added tokens */
    int32_t hole[] = {0, 7}, big[] = {0, 12}, neg[] = {-1};
    char *s;
    size_t len;
    CHECK_FAILS(ttt_detokenize(t, hole, 2, 0, &s, &len), TTT_ERR_ARG, "id 7 at position 1");
    CHECK_FAILS(ttt_detokenize(t, big, 2, 0, &s, &len), TTT_ERR_ARG, "id 12 at position 1");
    CHECK_FAILS(ttt_detokenize(t, neg, 1, 0, &s, &len), TTT_ERR_ARG, "id -1 at position 0");
    int32_t *out;
    size_t n;
    CHECK_FAILS(ttt_tokenize(t, "ab\xff" "cd", 5, 0, &out, &n), TTT_ERR_ARG, "byte offset 2");
    CHECK_FAILS(ttt_tokenize(t, "a\xed\xa0\x80", 4, 0, &out, &n), TTT_ERR_ARG, "byte offset 1");
    CHECK_FAILS(ttt_tokenize(t, "a\xe4\xb8", 3, 0, &out, &n), TTT_ERR_ARG, "byte offset 1");
    ttt_tokenizer_free(t);
}

static void test_bad_files(void) {
    ttt_tokenizer *t;
#define BAD(json, st, needle) CHECK_FAILS(tok_from_json(json, strlen(json), "t.json", &t), st, needle)
    BAD("{\"model\": ", TTT_ERR_FORMAT, "t.json");
    BAD("[1, 2]", TTT_ERR_FORMAT, "t.json");
    BAD("{}", TTT_ERR_FORMAT, "model");
    BAD("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", TTT_ERR_UNSUPPORTED,
        "model type 'Unigram' is not supported");
    BAD(MODEL("{\"a\": 0}", "[\"a b\"]", "") "}", TTT_ERR_FORMAT, "merges[0]: 'b' is not in the vocabulary");
    BAD(MODEL("{\"a\": 0, \"aa\": 1}", "[\"a a a\"]", "") "}", TTT_ERR_FORMAT,
        "merges[0]: 'a a a' is not two tokens");
    BAD(MODEL("{\"a\": 0, \"aa\": 1}", "[[\"a\"]]", "") "}", TTT_ERR_FORMAT, "merges[0]");
    BAD(MODEL("{\"a\": 0}", "[\"a a\"]", "") "}", TTT_ERR_FORMAT, "'aa' is not in the vocabulary");
    BAD(MODEL("{\"a\": 0, \"b\": 0}", "[]", "") "}", TTT_ERR_FORMAT, "id 0 is given to both");
    BAD(MODEL("{\"a\": -1}", "[]", "") "}", TTT_ERR_FORMAT, "'a' must map to an id");
    BAD(MODEL("{\"a\": 4000000}", "[]", "") "}", TTT_ERR_FORMAT, "ids go up to 4000000");
    BAD(MODEL("{\"a\": 0}", "[]", ", \"unk_token\": \"<unk>\"") "}", TTT_ERR_FORMAT,
        "unk_token '<unk>' is not in the vocabulary");
    BAD(MODEL("{\"a\": 0}", "[]", ", \"dropout\": 0.1") "}", TTT_ERR_UNSUPPORTED, "dropout");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"normalizer\": {\"type\": \"Lowercase\"}}",
        TTT_ERR_UNSUPPORTED, "normalizer: normalizer type 'Lowercase' is not supported");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"pre_tokenizer\": {\"type\": \"Sequence\", "
        "\"pretokenizers\": [{\"type\": \"ByteLevel\"}, {\"type\": \"Whitespace\"}]}}",
        TTT_ERR_UNSUPPORTED, "pretokenizers[1]: pre-tokenizer type 'Whitespace' is not supported");
    const char *digits = MODEL("{\"1\": 0, \"2\": 1, \"12\": 2}", "[\"1 2\"]", "")
        ", \"pre_tokenizer\": {\"type\": \"Digits\", \"individual_digits\": true}}";
    CHECK_OK(tok_from_json(digits, strlen(digits), "t.json", &t));
    if (t) CHECK(!strcmp(enc(t, "12", 0), "0 1")); /* one digit per pre-token: no merge */
    ttt_tokenizer_free(t);
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"decoder\": {\"type\": \"WordPiece\"}}",
        TTT_ERR_UNSUPPORTED, "decoder type 'WordPiece'");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"post_processor\": {\"type\": \"BertProcessing\"}}",
        TTT_ERR_UNSUPPORTED, "post-processor type 'BertProcessing'");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
        "{\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}", TTT_ERR_UNSUPPORTED, "regex '('");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": "
        "{\"Regex\": \"a\"}, \"behavior\": \"Sideways\"}}", TTT_ERR_UNSUPPORTED, "'Sideways'");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"pre_tokenizer\": {\"type\": \"Metaspace\", "
        "\"replacement\": \"ab\"}}", TTT_ERR_FORMAT, "one character");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"decoder\": {\"type\": \"Strip\", \"start\": 1, "
        "\"stop\": 0}}", TTT_ERR_CONFIG, "decoder: missing field 'content'");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"added_tokens\": [{\"content\": \"x\"}]}",
        TTT_ERR_CONFIG, "added_tokens[0]: missing field 'id'");
    BAD(MODEL("{\"a\": 0}", "[]", "") ", \"post_processor\": {\"type\": \"TemplateProcessing\", "
        "\"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}}], \"special_tokens\": {}}}",
        TTT_ERR_FORMAT, "special token '<s>' has no ids");
    BAD("{\"model\": {\"vocab\": {\"\xff\": 0}, \"merges\": []}}", TTT_ERR_FORMAT,
        "not valid UTF-8 at byte offset 22");
    /* Sequences nested past the limit */
    char deep[2048] = MODEL("{\"a\": 0}", "[]", "") ", \"normalizer\": ";
    for (int i = 0; i < 12; i++) strcat(deep, "{\"type\": \"Sequence\", \"normalizers\": [");
    strcat(deep, "{\"type\": \"NFC\"}");
    for (int i = 0; i < 12; i++) strcat(deep, "]}");
    strcat(deep, "}");
    BAD(deep, TTT_ERR_FORMAT, "nested too deeply");
#undef BAD
    CHECK_FAILS(ttt_tokenizer_load("/nonexistent/tok", &t), TTT_ERR_IO, "/nonexistent/tok");
}

/* The golden tokenizers: every case through the API (the sanitizer build runs this too), and
 * the streaming detokenizer handing out only whole characters. */
static void test_golden(const char *golden) {
    const char *dirs[] = {"qwen2", "llama3", "spm_bytefallback"};
    for (int d = 0; d < 3; d++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tokenizers/%s", golden, dirs[d]);
        ttt_tokenizer *t;
        CHECK_OK(ttt_tokenizer_load(path, &t));
        if (!t) continue;
        /* 😀🎉 then 中文: multi-byte characters split over byte tokens */
        const char *text = "emoji \xf0\x9f\x98\x80\xf0\x9f\x8e\x89 \xe4\xb8\xad\xe6\x96\x87 <|im_start|>ok";
        int32_t *ids;
        size_t n;
        CHECK_OK(ttt_tokenize(t, text, strlen(text), 0, &ids, &n));
        ttt_detok *st;
        CHECK_OK(ttt_detok_init(t, 0, &st));
        char acc[256] = "";
        size_t len = 0;
        int pieces_ok = 1;
        for (size_t i = 0; i <= n; i++) {
            const char *piece;
            size_t pl;
            ttt_status r = i < n ? ttt_detok_push(st, ids[i], &piece, &pl)
                                 : ttt_detok_flush(st, &piece, &pl);
            if (r != TTT_OK || len + pl >= sizeof acc || !ttt_utf8_valid(piece, pl, NULL) ||
                strstr(piece, "\xef\xbf\xbd")) {
                pieces_ok = 0;
                break;
            }
            memcpy(acc + len, piece, pl + 1);
            len += pl;
        }
        CHECK(pieces_ok);
        CHECK(!strcmp(acc, text));
        ttt_detok_free(st);
        free(ids);
        ttt_tokenizer_free(t);
    }
}

/* Byte tokens that never form a character: the stream hands out their U+FFFDs before the
 * end instead of holding a growing window. */
static void test_stream_invalid(const char *golden) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizers/spm_bytefallback", golden);
    ttt_tokenizer *t;
    CHECK_OK(ttt_tokenizer_load(path, &t));
    if (!t) return;
    int32_t e4 = ttt_tokenizer_find(t, "<0xE4>");
    CHECK(e4 >= 0);
    ttt_detok *d;
    CHECK_OK(ttt_detok_init(t, 0, &d));
    size_t total = 0, before_flush;
    const char *piece;
    size_t pl;
    for (int i = 0; i < 100; i++) {
        CHECK_OK(ttt_detok_push(d, e4, &piece, &pl));
        total += pl;
    }
    before_flush = total;
    CHECK_OK(ttt_detok_flush(d, &piece, &pl));
    total += pl;
    CHECK(before_flush > 0 && total == 100 * 3); /* one U+FFFD per byte token */
    ttt_detok_free(d);
    ttt_tokenizer_free(t);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_model_dir(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tokdir_%d", g_tmp, (int)getpid());
    mkdir(dir, 0755);
    write_file(dir, "tokenizer.json", ADDED_JSON);
    write_file(dir, "tokenizer_config.json",
               "{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"x\", "
               "\"add_bos_token\": true, \"chat_template\": \"{% for m in messages %}"
               "<|im_start|>{{ m.role }}...{% if enable_thinking %}{% endif %}\"}");
    write_file(dir, "generation_config.json",
               "{\"eos_token_id\": [3, 11], \"temperature\": 0.6, \"top_k\": 20, \"top_p\": 0.95}");
    ttt_tokenizer *t;
    CHECK_OK(ttt_tokenizer_load(dir, &t));
    if (t) {
        CHECK(ttt_tokenizer_bos(t) == 10 && ttt_tokenizer_eos(t) == 3);
        const int32_t *eog;
        CHECK(ttt_tokenizer_eog_ids(t, &eog) == 2 && eog[0] == 3 && eog[1] == 11);
        CHECK(ttt_tokenizer_is_eog(t, 11) && !ttt_tokenizer_is_eog(t, 10));
        ttt_gen_defaults g;
        ttt_tokenizer_gen_defaults(t, &g);
        CHECK(g.has_temperature && g.has_top_k && g.has_top_p && g.top_k == 20 &&
              g.temperature == 0.6f && g.top_p == 0.95f);
        CHECK(ttt_tokenizer_chat_format(t) == TTT_CHAT_CHATML);
        ttt_tokenizer_free(t);
    }
    /* a tokenizer.json path finds the configs beside it */
    char file[1100];
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    CHECK_OK(ttt_tokenizer_load(file, &t));
    if (t) CHECK(ttt_tokenizer_bos(t) == 10);
    ttt_tokenizer_free(t);
    write_file(dir, "generation_config.json", "{\"eos_token_id\": [3, 99]}");
    CHECK_FAILS(ttt_tokenizer_load(dir, &t), TTT_ERR_CONFIG, "eos_token_id 99");
    write_file(dir, "generation_config.json", "{}");
    write_file(dir, "tokenizer_config.json", "{\"eos_token\": \"</s>\"}");
    CHECK_FAILS(ttt_tokenizer_load(dir, &t), TTT_ERR_CONFIG, "eos_token '</s>' is not a token");
    write_file(dir, "tokenizer_config.json", "{\"eos_token\": \"x\"");
    CHECK_FAILS(ttt_tokenizer_load(dir, &t), TTT_ERR_FORMAT, "tokenizer_config.json");
    write_file(dir, "tokenizer_config.json", "{}");
    CHECK_OK(ttt_tokenizer_load(dir, &t));
    if (t) {
        /* no template: a clear error, not a guessed format */
        ttt_chat_msg m = {"user", "hi"};
        char *p;
        CHECK_FAILS(ttt_chat_apply(t, &m, 1, NULL, &p), TTT_ERR_UNSUPPORTED, "no chat template");
        /* the post-processor adds BOS */
        CHECK(!strcmp(enc(t, "x", TTT_TOK_ADD_SPECIAL), "10 3"));
        ttt_tokenizer_free(t);
    }
}

int main(void) {
    g_tmp = getenv("TTT_TEST_TMP");
    if (!g_tmp) g_tmp = "/tmp";
    test_merges();
    test_long_words();
    test_fallback_unk();
    test_added_post();
    test_bad_files();
    test_model_dir();
    const char *golden = getenv("TTT_GOLDEN");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/tokenizers/qwen2/tokenizer.json", golden ? golden : "");
    struct stat sb;
    if (golden && stat(probe, &sb) == 0) {
        test_golden(golden);
        test_stream_invalid(golden);
    }
    else fprintf(stderr, "test_tokenizer: golden tokenizers not found, their part skipped\n");
    return check_summary("test_tokenizer");
}
