/* tok_bench.c - `ttt tokenize --bench-text MB` (a deterministic mix of prose, code, CJK,
 * numbers, emoji and other scripts) and `--bench FILE` (single-threaded encode MB/s). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ttt.h"

static uint64_t g_rng = 0x2545f4914f6cdd1dull;

static uint32_t rnd(uint32_t n) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)((g_rng >> 11) % n);
}

#define PICK(arr) (arr)[rnd(sizeof(arr) / sizeof *(arr))]

static const char *const WORDS[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "I", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "model",
    "training", "license", "software", "distribution", "permission", "warranty", "copyright",
    "notice", "provided", "conditions", "following", "source", "binary", "redistribution",
    "tokenizer", "attention", "weights", "gradient", "sequence", "don't", "it's", "we'll",
    "they've", "naïve", "café", "résumé", "coöperate", "Zürich", "São", "Paulo", "Ångström"};
static const char *const CODE[] = {
    "def ", "return ", "for ", "in range(", "if ", "else:", "self.", "import ", "from ",
    "print(", "    ", "        ", "{", "}", "();", "->", "=>", "==", "!=", "+=", "[i]",
    "std::vector<int>", "#include <stdio.h>", "fn main() {", "let mut ", "const ", "null",
    "true", "false", "0x7f", "__init__", "**kwargs", "*args", "// TODO", "/* why */", "\t",
    "\n", "\n", "\n"};
static const char *const CJK[] = {
    "日", "本", "語", "の", "テ", "キ", "ス", "ト", "中", "文", "测", "试", "我", "们", "是",
    "在", "有", "这", "个", "人", "大", "学", "生", "时", "年", "月", "天", "한", "국", "어",
    "。", "、", "「", "」", "，", "的", "了", "和", "不", "上"};
static const char *const EMOJI[] = {
    "😀", "🎉", "👍", "🚀", "❤️", "🔥", "✨", "🤖", "👨‍👩‍👧", "🇫🇷", "😂", "🙏", "💡"};
static const char *const OTHER[] = {
    "Ελληνικά", "русский", "язык", "مرحبا", "שלום", "हिन्दी", "ไทย", "Ωμέγα", "١٢٣",
    "ｆｕｌｌｗｉｄｔｈ", "Ǆemal", "ﬁne"};

static void emit_chunk(FILE *f) {
    uint32_t kind = rnd(100);
    int n = 4 + (int)rnd(24);
    if (kind < 50) {
        for (int i = 0; i < n; i++) {
            const char *w = PICK(WORDS);
            if (i == 0) fprintf(f, "%c%s", w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0], w + 1);
            else fputs(w, f);
            fputs(rnd(12) == 0 ? ", " : " ", f);
        }
        fputs(rnd(4) ? ". " : ".\n\n", f);
    } else if (kind < 70) {
        for (int i = 0; i < n; i++) {
            fputs(PICK(CODE), f);
            if (rnd(3) == 0) fprintf(f, "x%u", rnd(100));
        }
        fputs("\n", f);
    } else if (kind < 80) {
        for (int i = 0; i < 2 * n; i++) fputs(PICK(CJK), f);
        fputs(rnd(2) ? " " : "\n", f);
    } else if (kind < 90) {
        for (int i = 0; i < n / 2; i++)
            fprintf(f, rnd(2) ? "%u " : "%u.%02u ", rnd(1000000), rnd(100));
        fprintf(f, "2026-%02u-%02u\n", 1 + rnd(12), 1 + rnd(28));
    } else if (kind < 95) {
        for (int i = 0; i < n / 3 + 1; i++) fputs(PICK(EMOJI), f);
        fputs(" ", f);
    } else {
        for (int i = 0; i < n / 3 + 1; i++) fprintf(f, "%s ", PICK(OTHER));
    }
}

int tok_bench_text(double mb) {
    /* write to a memory stream first, then cut at the size on a line boundary */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return cli_fail("tokenize", "out of memory");
    size_t want = (size_t)(mb * 1e6);
    while ((size_t)ftell(m) < want) emit_chunk(m);
    fclose(m);
    size_t cut = want < len ? want : len;
    while (cut > 0 && buf[cut - 1] != '\n') cut--;
    if (cut == 0) cut = len;
    int rc = fwrite(buf, 1, cut, stdout) == cut ? 0 : 1;
    free(buf);
    return rc;
}

/* CPU time of this process: on a shared machine, wall time also counts the neighbours. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int tok_bench(const ttt_tokenizer *t, const char *path, int reps) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail("tokenize", "cannot open the --bench file");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = sz > 0 ? malloc((size_t)sz) : NULL;
    size_t len = text ? fread(text, 1, (size_t)sz, f) : 0;
    fclose(f);
    if (!text || len != (size_t)sz) {
        free(text);
        return cli_fail("tokenize", "cannot read the --bench file (empty?)");
    }
    double best = 1e30, best_cpu = 1e30;
    size_t n_ids = 0;
    for (int r = 0; r < reps; r++) {
        int32_t *ids;
        double t0 = cli_now(), c0 = cpu_now();
        if (ttt_tokenize(t, text, len, 0, &ids, &n_ids) != TTT_OK) {
            fprintf(stderr, "ttt tokenize: %s\n", ttt_last_error());
            free(text);
            return 1;
        }
        double dt = cli_now() - t0, dc = cpu_now() - c0;
        free(ids);
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    /* the decode direction, once, for scale */
    int32_t *ids;
    ttt_tokenize(t, text, len, 0, &ids, &n_ids);
    char *back;
    size_t blen;
    double t0 = cli_now();
    ttt_status st = ttt_detokenize(t, ids, n_ids, 0, &back, &blen);
    double dt_dec = cli_now() - t0;
    printf("%s: %zu bytes, %zu tokens (%.2f bytes/token)\n", path, len, n_ids,
           n_ids ? (double)len / (double)n_ids : 0.0);
    printf("encode: %.2f MB/s (best of %d, %.3f s), 1 thread; %.2f MB/s of CPU time\n",
           len / best / 1e6, reps, best, len / best_cpu / 1e6);
    if (st == TTT_OK)
        printf("decode: %.2f MB/s (%.3f s), round trip %s\n", blen / dt_dec / 1e6, dt_dec,
               blen == len && !memcmp(back, text, len) ? "exact" : "differs");
    free(back);
    free(ids);
    free(text);
    return 0;
}
