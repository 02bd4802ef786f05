/* test_tok_parts.c - the tokenizer's stages one at a time, against results written out by
 * hand from HF tokenizers' documented behaviour (its own unit tests where it has them). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tok/tok.h"

/* The pieces of a list joined by '|'. */
static const char *joined(const tok_list *l) {
    static char buf[1024];
    size_t o = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t a = tok_list_start(l, i), n = l->end[i] - a;
        if (i) buf[o++] = '|';
        memcpy(buf + o, l->text.p + a, n);
        o += n;
    }
    buf[o] = '\0';
    return buf;
}

static ttt_status collect(void *ctx, const char *s, size_t n, bool first) {
    return tok_list_push(ctx, s, n, first) ? TTT_OK : TTT_ERR_NOMEM;
}

static const char *pretok(tok_pretok *st, const char *text, bool first) {
    tok_list out = {0};
    tok_pre_scratch scr = {0};
    tok_match_ctx c;
    tok_match_ctx_init(&c);
    ttt_status r = tok_pretokenize(st, 1, &c, &scr, text, strlen(text), first, collect, &out);
    const char *res = r == TTT_OK ? joined(&out) : "ERROR";
    tok_list_free(&out);
    tok_pre_scratch_free(&scr);
    tok_match_ctx_free(&c);
    return res;
}

static const char *split(const char *pat, bool regex, tok_split_behavior b, bool invert,
                         const char *text) {
    tok_pretok st = {.kind = TOK_PRE_SPLIT, .behavior = b, .invert = invert};
    if (tok_pattern_init(&st.pat, pat, regex, "test") != TTT_OK) return "BADPATTERN";
    const char *r = pretok(&st, text, true);
    tok_pattern_free(&st.pat);
    return r;
}

static void test_split(void) {
    /* HF's NormalizedString::split test on "The-final--countdown" */
    const char *s = "The-final--countdown";
    CHECK(!strcmp(split("-", false, TOK_SPLIT_REMOVED, false, s), "The|final|countdown"));
    CHECK(!strcmp(split("-", false, TOK_SPLIT_ISOLATED, false, s), "The|-|final|-|-|countdown"));
    CHECK(!strcmp(split("-", false, TOK_SPLIT_MERGED_PREV, false, s), "The-|final-|-|countdown"));
    CHECK(!strcmp(split("-", false, TOK_SPLIT_MERGED_NEXT, false, s), "The|-final|-|-countdown"));
    CHECK(!strcmp(split("-", false, TOK_SPLIT_CONTIGUOUS, false, s), "The|-|final|--|countdown"));
    /* invert: the words are the matches */
    CHECK(!strcmp(split("\\w+", true, TOK_SPLIT_REMOVED, true, s), "The|final|countdown"));
    CHECK(!strcmp(split("-", false, TOK_SPLIT_REMOVED, true, s), "-|-|-"));
    /* Unicode properties, case-insensitive group and look-ahead of the Qwen2 / Llama-3 regex */
    const char *qwen = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                       "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    CHECK(!strcmp(split(qwen, true, TOK_SPLIT_ISOLATED, false, "It'S  12 café!\n"),
                  "It|'S| | |1|2| café|!\n"));
    CHECK(!strcmp(split("(", true, TOK_SPLIT_ISOLATED, false, "x"), "BADPATTERN"));
    /* an empty literal matches nothing; an empty regex matches between characters */
    CHECK(!strcmp(split("", false, TOK_SPLIT_ISOLATED, false, "ab"), "ab"));
    CHECK(!strcmp(split("", true, TOK_SPLIT_ISOLATED, false, "ab\xc3\xa9"), "a|b|\xc3\xa9"));
    /* HF's Digits pre-tokenizer test: "Hey 123 friend!" */
    CHECK(!strcmp(split("\\p{N}", true, TOK_SPLIT_ISOLATED, false, "Hey 123 friend!"),
                  "Hey |1|2|3| friend!"));
    CHECK(!strcmp(split("\\p{N}", true, TOK_SPLIT_CONTIGUOUS, false, "Hey 123 friend!"),
                  "Hey |123| friend!"));
}

static void test_bytelevel_metaspace(void) {
    tok_pretok bl = {.kind = TOK_PRE_BYTELEVEL, .add_prefix_space = true, .use_regex = true};
    tok_pattern_init(&bl.pat, "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+"
                              "|\\s+(?!\\S)|\\s+", true, "test");
    /* GPT-2: "Hello world" -> "ĠHello", "Ġworld"; newline is Ċ */
    CHECK(!strcmp(pretok(&bl, "Hello world\n", true), "\xc4\xa0Hello|\xc4\xa0world|\xc4\x8a"));
    bl.add_prefix_space = false;
    CHECK(!strcmp(pretok(&bl, "Hi", true), "Hi"));
    tok_pattern_free(&bl.pat);
    CHECK(tok_bytelevel_byte(0x120) == ' ' && tok_bytelevel_byte('A') == 'A' &&
          tok_bytelevel_byte(0x100) == 0 && tok_bytelevel_byte(0xad) == -1);

    tok_pretok ms = {.kind = TOK_PRE_METASPACE, .replacement = "\xe2\x96\x81",
                     .prepend = TOK_PREPEND_ALWAYS, .split = true};
    CHECK(!strcmp(pretok(&ms, "Hey friend", true), "\xe2\x96\x81Hey|\xe2\x96\x81" "friend"));
    CHECK(!strcmp(pretok(&ms, " Hey", true), "\xe2\x96\x81Hey"));
    ms.prepend = TOK_PREPEND_FIRST;
    CHECK(!strcmp(pretok(&ms, "Hey friend", false), "Hey|\xe2\x96\x81" "friend"));
    CHECK(!strcmp(pretok(&ms, "Hey", true), "\xe2\x96\x81Hey"));
    ms.prepend = TOK_PREPEND_NEVER;
    ms.split = false;
    CHECK(!strcmp(pretok(&ms, "Hey friend", true), "Hey\xe2\x96\x81" "friend"));
}

static const char *normalize(tok_norm *st, int n, const char *text) {
    static char out[256];
    tok_buf o = {0}, tmp = {0};
    tok_match_ctx c;
    tok_match_ctx_init(&c);
    ttt_status r = tok_normalize(st, n, &c, text, strlen(text), &o, &tmp);
    snprintf(out, sizeof out, "%s", r == TTT_OK ? o.p : "ERROR");
    tok_buf_free(&o);
    tok_buf_free(&tmp);
    tok_match_ctx_free(&c);
    return out;
}

static void test_normalizers(void) {
    tok_norm nfc = {.kind = TOK_NORM_NFC}, nfd = {.kind = TOK_NORM_NFD},
             nfkc = {.kind = TOK_NORM_NFKC};
    CHECK(!strcmp(normalize(&nfc, 1, "e\xcc\x81"), "\xc3\xa9"));  /* e + U+0301 -> é */
    CHECK(!strcmp(normalize(&nfd, 1, "\xc3\xa9"), "e\xcc\x81"));
    CHECK(!strcmp(normalize(&nfkc, 1, "\xef\xac\x81"), "fi"));    /* U+FB01 ligature */
    /* an ASCII base takes the combining marks after it; text around stays as it is */
    CHECK(!strcmp(normalize(&nfc, 1, "cafe\xcc\x81 ok \xe4\xb8\xad"), "caf\xc3\xa9 ok \xe4\xb8\xad"));
    CHECK(!strcmp(normalize(&nfkc, 1, "a\xef\xac\x81x"), "afix"));
    tok_norm seq[2] = {{.kind = TOK_NORM_REPLACE, .content = "\xe2\x96\x81"},
                       {.kind = TOK_NORM_PREPEND, .content = "\xe2\x96\x81"}};
    tok_pattern_init(&seq[0].pat, " ", false, "test");
    CHECK(!strcmp(normalize(seq, 2, "a b"), "\xe2\x96\x81" "a\xe2\x96\x81" "b"));
    CHECK(!strcmp(normalize(seq, 2, ""), "")); /* Prepend leaves empty text alone */
    tok_pattern_free(&seq[0].pat);
    tok_norm re = {.kind = TOK_NORM_REPLACE, .content = "_"};
    tok_pattern_init(&re.pat, " +", true, "test");
    CHECK(!strcmp(normalize(&re, 1, "a  b   c"), "a_b_c"));
    tok_pattern_free(&re.pat);
}

static const char *decode(tok_dec *st, int n, const char *const *toks, int nt) {
    static char out[256];
    tok_list l = {0}, tmp = {0};
    tok_match_ctx c;
    tok_match_ctx_init(&c);
    for (int i = 0; i < nt; i++) tok_list_push(&l, toks[i], strlen(toks[i]), false);
    ttt_status r = tok_decode_chain(st, n, &c, &l, &tmp);
    snprintf(out, sizeof out, "%s", r == TTT_OK ? joined(&l) : "ERROR");
    tok_list_free(&l);
    tok_list_free(&tmp);
    tok_match_ctx_free(&c);
    return out;
}

static void test_decoders(void) {
    tok_dec bl = {.kind = TOK_DEC_BYTELEVEL};
    const char *t1[] = {"\xc4\xa0hello", "\xc4\xa0"};
    CHECK(!strcmp(decode(&bl, 1, t1, 2), " hello "));
    /* "æ" is byte E6 and "Ĺ" byte 0x97 (an incomplete character: one U+FFFD), and a token
     * outside the alphabet is kept as its own text */
    const char *t2[] = {"\xc3\xa6\xc4\xb9", "A", "\xe4\xb8\xad"};
    CHECK(!strcmp(decode(&bl, 1, t2, 3), "\xef\xbf\xbd" "A\xe4\xb8\xad"));

    tok_dec bf[2] = {{.kind = TOK_DEC_BYTEFALLBACK}, {.kind = TOK_DEC_FUSE}};
    const char *t3[] = {"a", "<0xE4>", "<0xB8>", "<0xAD>", "b"};
    CHECK(!strcmp(decode(bf, 2, t3, 5), "a\xe4\xb8\xad" "b"));
    /* invalid bytes: one U+FFFD per byte token (not per maximal subpart) */
    const char *t4[] = {"<0xE4>", "<0xB8>", "x", "<0xzz>"};
    CHECK(!strcmp(decode(bf, 2, t4, 4), "\xef\xbf\xbd\xef\xbf\xbdx<0xzz>"));

    tok_dec strip = {.kind = TOK_DEC_STRIP, .ch = " ", .start = 1, .stop = 0};
    const char *t5[] = {" hi", "  x", ""};
    CHECK(!strcmp(decode(&strip, 1, t5, 3), "hi| x|"));

    tok_dec ms = {.kind = TOK_DEC_METASPACE, .ch = "\xe2\x96\x81", .prepend = TOK_PREPEND_ALWAYS};
    const char *t6[] = {"\xe2\x96\x81Hey", "\xe2\x96\x81" "friend"};
    CHECK(!strcmp(decode(&ms, 1, t6, 2), "Hey| friend"));
    ms.prepend = TOK_PREPEND_NEVER;
    CHECK(!strcmp(decode(&ms, 1, t6, 2), " Hey| friend"));

    tok_dec rep = {.kind = TOK_DEC_REPLACE, .content = " "};
    tok_pattern_init(&rep.pat, "\xe2\x96\x81", false, "test");
    CHECK(!strcmp(decode(&rep, 1, t6, 2), " Hey| friend"));
    tok_pattern_free(&rep.pat);
}

static const char *lossy(const char *s, size_t n) {
    static char out[64];
    tok_buf b = {0};
    tok_utf8_lossy(&b, (const uint8_t *)s, n);
    snprintf(out, sizeof out, "%s", b.p ? b.p : "");
    tok_buf_free(&b);
    return out;
}

static void test_lossy(void) {
    /* Rust's String::from_utf8_lossy: one U+FFFD per maximal ill-formed subpart */
    CHECK(!strcmp(lossy("\xe6\x97", 2), "\xef\xbf\xbd"));
    CHECK(!strcmp(lossy("\xf0\x9f\x98" "A", 4), "\xef\xbf\xbd" "A"));
    CHECK(!strcmp(lossy("\xc0\x80", 2), "\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(!strcmp(lossy("\xed\xa0\x80", 3), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"));
    CHECK(!strcmp(lossy("ok\xf0\x9f\x98\x80", 6), "ok\xf0\x9f\x98\x80"));
}

/* ---- added tokens ---- */
static char g_segs[512];
static ttt_status record(void *ctx, const char *s, size_t n, int added, bool first) {
    size_t o = strlen(g_segs);
    snprintf(g_segs + o, sizeof g_segs - o, "%s%s%.*s%s", o ? "|" : "", added >= 0 ? "[" : "",
             (int)n, s, added >= 0 ? "]" : "");
    return TTT_OK;
}

static const char *added_split(tok_added *a, int n, const char *text, bool skip_special) {
    tok_trie t;
    tok_trie_build(&t, a, n, false);
    g_segs[0] = '\0';
    tok_added_split(&t, a, text, strlen(text), true, skip_special, record, NULL);
    tok_trie_free(&t);
    return g_segs;
}

static void test_added(void) {
    tok_added a[3] = {{.content = "<m>", .len = 3, .id = 7},
                      {.content = "<m>x", .len = 4, .id = 8},
                      {.content = "<s>", .len = 3, .id = 9, .special = true}};
    CHECK(!strcmp(added_split(a, 3, "a<m>xy<m>", false), "a|[<m>x]|y|[<m>]"));
    CHECK(!strcmp(added_split(a, 3, "a<s>b", false), "a|[<s>]|b"));
    CHECK(!strcmp(added_split(a, 3, "a<s>b", true), "a<s>b"));
    a[0].lstrip = true;
    CHECK(!strcmp(added_split(a, 1, "a  <m>b", false), "a|[  <m>]|b"));
    a[0].lstrip = false;
    a[0].rstrip = true;
    CHECK(!strcmp(added_split(a, 1, "a<m> \n b", false), "a|[<m> \n ]|b"));
    a[0].rstrip = false;
    a[0].single_word = true;
    CHECK(!strcmp(added_split(a, 1, "a<m>b", false), "a<m>b"));
    CHECK(!strcmp(added_split(a, 1, "a <m>, b", false), "a |[<m>]|, b"));
    CHECK(!strcmp(added_split(a, 1, "<m>", false), "[<m>]"));
}

int main(void) {
    test_split();
    test_bytelevel_metaspace();
    test_normalizers();
    test_decoders();
    test_lossy();
    test_added();
    return check_summary("test_tok_parts");
}
