/* test_tok_cli.c - `ttt tokenize` end to end on a golden tokenizer: text -> ids -> text
 * through the shell, --add-special and --chat, and bad input (invalid UTF-8, bad ids,
 * unknown tokens, a broken tokenizer.json): one line naming the problem, exit 1, no
 * sanitizer report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char *g_bin, *g_tok;
static char g_dir[900];

static void spit(const char *name, const char *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, len, f);
    fclose(f);
}

static char g_out[8192], g_err[8192];

static void slurp(const char *name, char *buf, size_t cap) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
}

/* `ttt tokenize ARGS < stdin_file`; exit status (-1 when killed), stdout and stderr kept. */
static int run(const char *args, const char *stdin_file) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ASAN_OPTIONS=exitcode=99 UBSAN_OPTIONS=exitcode=99:halt_on_error=1 "
             "'%s' tokenize %s < %s > out.txt 2> err.txt",
             g_dir, g_bin, args, stdin_file ? stdin_file : "/dev/null");
    int st = system(cmd);
    slurp("out.txt", g_out, sizeof g_out);
    slurp("err.txt", g_err, sizeof g_err);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_error(const char *args, const char *stdin_file, const char *needle) {
    int rc = run(args, stdin_file);
    int lines = 0;
    for (const char *p = g_err; *p; p++) lines += *p == '\n';
    check_count++;
    if (rc != 1 || lines != 1 || !strstr(g_err, needle)) {
        check_failures++;
        fprintf(stderr, "FAIL tokenize %s: exit %d, stderr \"%s\", want \"%s\"\n", args, rc,
                g_err, needle);
    }
}

int main(void) {
    g_bin = getenv("TTT_BIN");
    const char *tmp = getenv("TTT_TEST_TMP"), *golden = getenv("TTT_GOLDEN");
    if (!g_bin || !tmp) {
        fprintf(stderr, "test_tok_cli: set TTT_BIN and TTT_TEST_TMP\n");
        return 1;
    }
    char tok[1024];
    snprintf(tok, sizeof tok, "%s/tokenizers/qwen2", golden ? golden : "");
    struct stat sb;
    if (!golden || stat(tok, &sb) != 0) {
        fprintf(stderr, "test_tok_cli: golden tokenizers not found (TTT_GOLDEN): skipped\n");
        return 77;
    }
    g_tok = tok;
    snprintf(g_dir, sizeof g_dir, "%s/tok_cli_%d", tmp, (int)getpid());
    mkdir(g_dir, 0755);
    char args[2048];

    /* the golden case "Hello world" -> 42 71 363 81 1438, and back */
    spit("in.txt", "Hello world", 11);
    snprintf(args, sizeof args, "--tokenizer '%s' -f in.txt", g_tok);
    CHECK(run(args, NULL) == 0 && !strcmp(g_out, "42 71 363 81 1438\n"));
    snprintf(args, sizeof args, "--tokenizer '%s'", g_tok);
    CHECK(run(args, "in.txt") == 0 && !strcmp(g_out, "42 71 363 81 1438\n"));
    spit("ids.txt", "42 71 363\n81 1438\n", 18);
    snprintf(args, sizeof args, "--tokenizer '%s' --decode", g_tok);
    CHECK(run(args, "ids.txt") == 0 && !strcmp(g_out, "Hello world"));
    /* special tokens: one id each, or plain text with --no-special; skipped on decode */
    spit("sp.txt", "a<|endoftext|>b", 15);
    snprintf(args, sizeof args, "--tokenizer '%s/tokenizer.json'", g_tok);
    CHECK(run(args, "sp.txt") == 0 && !strcmp(g_out, "67 0 68\n"));
    snprintf(args, sizeof args, "--tokenizer '%s' --no-special", g_tok);
    CHECK(run(args, "sp.txt") == 0 && !strstr(g_out, " 0 "));
    spit("ids2.txt", "67 0 68", 7);
    snprintf(args, sizeof args, "--tokenizer '%s' --decode --skip-special", g_tok);
    CHECK(run(args, "ids2.txt") == 0 && !strcmp(g_out, "ab"));
    /* the golden check mode */
    snprintf(args, sizeof args, "--check '%s'", g_tok);
    CHECK(run(args, NULL) == 0 && strstr(g_out, "24 cases, 0 failed"));
    /* a chat prompt through a template file */
    spit("msgs.json", "[{\"role\": \"user\", \"content\": \"Hi\"}]", 35);
    spit("tmpl.jinja", "{{ '<|im_start|>' + role }} enable_thinking", 43);
    snprintf(args, sizeof args, "--tokenizer '%s' --chat msgs.json --template tmpl.jinja --no-think", g_tok);
    CHECK(run(args, NULL) == 0 &&
          !strcmp(g_out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"));

    snprintf(args, sizeof args, "--tokenizer '%s' --chat msgs.json --template tmpl.jinja --ids", g_tok);
    CHECK(run(args, NULL) == 0 && !strncmp(g_out, "1 ", 2) && strstr(g_out, " 2 "));

    spit("bad.txt", "ok \xff", 4);
    snprintf(args, sizeof args, "--tokenizer '%s'", g_tok);
    expect_error(args, "bad.txt", "not valid UTF-8 at byte offset 3");
    spit("badids.txt", "1 2 x3", 6);
    snprintf(args, sizeof args, "--tokenizer '%s' --decode", g_tok);
    expect_error(args, "badids.txt", "input byte 4: not an integer id");
    spit("bigids.txt", "1 99999", 7);
    expect_error(args, "bigids.txt", "id 99999 at position 1 is not in the vocabulary");
    spit("tokenizer.json", "{\"model\": {\"type\": \"WordPiece\"}}", 32);
    expect_error("--tokenizer tokenizer.json", "in.txt", "model type 'WordPiece' is not supported");
    spit("tmpl2.jinja", "{{ messages }}", 14);
    snprintf(args, sizeof args, "--tokenizer '%s' --chat msgs.json --template tmpl2.jinja", g_tok);
    expect_error(args, NULL, "none of the built-in formats");
    expect_error("--tokenizer /nonexistent", "in.txt", "/nonexistent");
    CHECK(run("-f in.txt", NULL) == 2);
    return check_summary("test_tok_cli");
}
