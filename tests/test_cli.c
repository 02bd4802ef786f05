/* test_cli.c - the `ttt` command on bad input: every case must exit non-zero (not by a
 * signal or a sanitizer report) and print exactly one line that names the problem.
 * The bad directories are made by corrupting a copy of a golden model in precise ways. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "ttt.h"

#define SANITIZER_EXIT 99

static const char *g_bin, *g_tmp;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static void spit(const char *dir, const char *name, const void *data, size_t len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, len, f);
    fclose(f);
}

/* Runs `ttt args...`, returns its exit status (-1 if killed) and its stderr. */
static int run_ttt(const char *const *args, char *err, size_t errcap) {
    char errpath[1024];
    snprintf(errpath, sizeof errpath, "%s/cli_stderr.%d", g_tmp, (int)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        dup2(nul, 1);
        setenv("ASAN_OPTIONS", "exitcode=99", 1);
        setenv("UBSAN_OPTIONS", "exitcode=99:halt_on_error=1", 1);
        const char *argv[16] = {g_bin};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        execv(g_bin, (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    size_t n = 0;
    char *text = slurp(errpath, &n);
    snprintf(err, errcap, "%s", text ? text : "");
    free(text);
    unlink(errpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The command must fail cleanly with one line of stderr containing needle. */
static void expect_error(const char *what, const char *const *args, const char *needle) {
    char err[8192];
    int rc = run_ttt(args, err, sizeof err);
    int lines = 0;
    for (const char *p = err; *p; p++) lines += *p == '\n';
    int ok = rc > 0 && rc != SANITIZER_EXIT && lines == 1 && strstr(err, needle);
    check_count++;
    if (!ok) {
        check_failures++;
        fprintf(stderr, "FAIL %s: exit %d, %d lines, want \"%s\":\n%s\n", what, rc, lines,
                needle, err);
    }
}

/* A golden model copied into a fresh directory, for corrupting. */
typedef struct model_copy {
    char dir[900];
    char *config, *weights;
    size_t config_len, weights_len;
} model_copy;

static int copy_model(model_copy *mc, const char *golden, const char *name) {
    char path[1024];
    snprintf(mc->dir, sizeof mc->dir, "%s/cli_%s", g_tmp, name);
    mkdir(mc->dir, 0755);
    mc->config = mc->weights = NULL;
    if (snprintf(path, sizeof path, "%s/config.json", golden) >= (int)sizeof path) return -1;
    mc->config = slurp(path, &mc->config_len);
    if (snprintf(path, sizeof path, "%s/model.safetensors", golden) >= (int)sizeof path)
        return -1;
    mc->weights = slurp(path, &mc->weights_len);
    return mc->config && mc->weights ? 0 : -1;
}

static void write_copy(const model_copy *mc, const char *config, const char *weights,
                       size_t weights_len) {
    spit(mc->dir, "config.json", config, strlen(config));
    spit(mc->dir, "model.safetensors", weights, weights_len);
}

/* Replaces the first `from` by `to` (same length) in a copy of buf. */
static char *patched(const char *buf, size_t len, const char *from, const char *to) {
    char *out = malloc(len + 1);
    memcpy(out, buf, len);
    out[len] = 0;
    size_t n = strlen(from);
    if (strlen(to) != n) {
        CHECK(!"patched: from and to must have the same length");
        return out;
    }
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(out + i, from, n)) {
            memcpy(out + i, to, n);
            return out;
        }
    fprintf(stderr, "test_cli: '%s' not found to patch\n", from);
    return out;
}

/* A config with one field's text replaced: "key": value -> "key": repl */
static char *config_with(const char *config, const char *key, const char *repl) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *at = strstr(config, pat);
    if (!at) return strdup(config);
    const char *v = at + strlen(pat), *end = v;
    while (*end && *end != ',' && *end != '\n' && *end != '}') {
        if (*end == '[') end = strchr(end, ']');
        end++;
    }
    size_t n = strlen(config) + strlen(repl) + 4;
    char *out = malloc(n);
    snprintf(out, n, "%.*s %s%s", (int)(v - config), config, repl, end);
    return out;
}

static void bad_weights(model_copy *mc) {
    const char *args[] = {"verify", mc->dir, NULL};
    char *w;

    write_copy(mc, mc->config, mc->weights, mc->weights_len / 2);
    expect_error("truncated file", args, "model.safetensors");

    write_copy(mc, mc->config, mc->weights, 5);
    expect_error("file shorter than its header length", args, "model.safetensors");

    w = malloc(mc->weights_len);
    memcpy(w, mc->weights, mc->weights_len);
    w[0] = (char)0xff, w[1] = (char)0xff, w[2] = (char)0xff;
    write_copy(mc, mc->config, w, mc->weights_len);
    expect_error("header length past the end", args, "header");
    free(w);

    w = patched(mc->weights, mc->weights_len, "model.norm.weight", "model.norX.weight");
    write_copy(mc, mc->config, w, mc->weights_len);
    expect_error("missing tensor", args, "'model.norm.weight' is missing");
    free(w);

    w = patched(mc->weights, mc->weights_len, "model.norm.weight", "model.norm.w\xff\xfeght");
    write_copy(mc, mc->config, w, mc->weights_len);
    expect_error("non-UTF-8 header", args, "UTF-8");
    free(w);

    /* [64] -> [65]: the byte length no longer matches the shape */
    w = patched(mc->weights, mc->weights_len, "\"shape\":[64],", "\"shape\":[65],");
    write_copy(mc, mc->config, w, mc->weights_len);
    expect_error("dtype/shape mismatch", args, "bytes");
    free(w);

    /* "F32" -> "I32" on the first tensor keeps the sizes but is not a float type */
    w = patched(mc->weights, mc->weights_len, "\"dtype\":\"F32\"", "\"dtype\":\"I32\"");
    write_copy(mc, mc->config, w, mc->weights_len);
    expect_error("integer weights", args, "I32");
    free(w);

    /* a huge shape whose element count overflows 64 bits */
    w = patched(mc->weights, mc->weights_len, "\"shape\":[1024,64]", "\"shape\":[8e9,9e9]");
    write_copy(mc, mc->config, w, mc->weights_len);
    expect_error("shape overflow", args, "shape");
    free(w);
}

static void bad_offsets(model_copy *mc) {
    const char *args[] = {"verify", mc->dir, NULL};
    /* shift the end of the first tensor: leaves a gap before the next one */
    char *w = patched(mc->weights, mc->weights_len, "\"data_offsets\":[0,262144]",
                      "\"data_offsets\":[4,262144]");
    write_copy(mc, mc->config, w, mc->weights_len);
    expect_error("gapped offsets", args, "offset");
    free(w);
    w = patched(mc->weights, mc->weights_len, "\"data_offsets\":[262144,524288]",
                "\"data_offsets\":[262140,524284]");
    write_copy(mc, mc->config, w, mc->weights_len);
    expect_error("overlapping offsets", args, "overlap");
    free(w);
}

static void bad_config(model_copy *mc) {
    const char *args[] = {"verify", mc->dir, NULL};
    struct {
        const char *what, *key, *value, *needle;
    } cases[] = {
        {"ttt_chunk 0", "ttt_chunk", "0", "'ttt_chunk' = 0"},
        {"negative layer index", "ttt_layers", "[0, -2]", "ttt_layers[1] = -2 is negative"},
        {"string for an integer", "hidden_size", "\"64\"", "'hidden_size' must be an integer"},
        {"wrong bool type", "ttt_mode", "\"yes\"", "'ttt_mode' must be true or false"},
        {"shape disagrees with config", "intermediate_size", "128", "config.json implies"},
        {"unknown architecture", "architectures", "[\"FooForCausalLM\"]", "FooForCausalLM"},
        {"unsupported rope", "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}", "yarn"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *cfg = config_with(mc->config, cases[i].key, cases[i].value);
        write_copy(mc, cfg, mc->weights, mc->weights_len);
        expect_error(cases[i].what, args, cases[i].needle);
        free(cfg);
    }
    write_copy(mc, "{\"architectures\": [", mc->weights, mc->weights_len);
    expect_error("invalid JSON", args, "invalid JSON");
}

static void bad_commands(void) {
    const char *a1[] = {"verify", "/nonexistent/model", NULL};
    expect_error("missing directory", a1, "/nonexistent/model");
    const char *a2[] = {"init", "--preset", "qwen9-1t", "-o", "/tmp/x", NULL};
    expect_error("unknown preset", a2, "unknown preset 'qwen9-1t'");
    const char *a3[] = {"bench", "-m", "/nonexistent/model", NULL};
    expect_error("bench without a model", a3, "/nonexistent/model");
    const char *a4[] = {"init", "--preset", "qwen3-0.6b", "-o", "/tmp/x", "--ttt-layers", "1,x",
                        NULL};
    expect_error("bad layer list", a4, "--ttt-layers");
    const char *a5[] = {"init", "--preset", "qwen3-0.6b", "-o", "/tmp/x", "--layers", "99", NULL};
    expect_error("more layers than the preset", a5, "only 28 layers");
    const char *a6[] = {"init", "--preset", "qwen3-0.6b", "-o", "/tmp/x", "--dtype", "q4", NULL};
    expect_error("unknown dtype", a6, "--dtype");
    const char *a7[] = {"bench", "-m", "/tmp/x", "--ttt", "maybe", NULL};
    expect_error("bench bad --ttt", a7, "--ttt must be on, off or both");
    const char *a8[] = {"bench", "-m", "/tmp/x", "-r", "0", NULL};
    expect_error("bench zero repetitions", a8, "-r");
    const char *a9[] = {"verify", "/tmp/x", "--tol", "nan", NULL};
    expect_error("verify NaN tolerance", a9, "--tol");
    const char *a10[] = {"frobnicate", NULL};
    expect_error("unknown command", a10, "unknown command 'frobnicate'");
    const char *a11[] = {"bench-train", "-m", "/nonexistent/model", NULL};
    expect_error("bench-train without a model", a11, "/nonexistent/model");
    const char *a12[] = {"bench-train", "-m", "/tmp/x", "-T", "1", NULL};
    expect_error("bench-train one-token sequences", a12, "-T");
}

/* Training on a good model with bad requests. */
static void bad_training(const char *golden_model) {
    const char *a1[] = {"bench-train", "-m", golden_model, "--train", "(", NULL};
    expect_error("bench-train bad regex", a1, "bad regex '('");
    const char *a2[] = {"bench-train", "-m", golden_model, "--train", "^nothing$", NULL};
    expect_error("bench-train regex matching nothing", a2, "no tensor to train");
}

int main(void) {
    g_bin = getenv("TTT_BIN");
    g_tmp = getenv("TTT_TEST_TMP");
    const char *golden = getenv("TTT_GOLDEN");
    if (!g_bin || !g_tmp) {
        fprintf(stderr, "test_cli: set TTT_BIN and TTT_TEST_TMP\n");
        return 1;
    }
    bad_commands();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/qwen3", golden ? golden : "");
    model_copy mc;
    if (!golden || copy_model(&mc, dir, "qwen3")) {
        fprintf(stderr, "test_cli: golden fixtures not found (TTT_GOLDEN): skipping the "
                        "corrupted-model cases\n");
        return check_summary("test_cli") ? 1 : 77;
    }
    bad_training(dir);
    bad_weights(&mc);
    bad_offsets(&mc);
    bad_config(&mc);
    free(mc.config);
    free(mc.weights);
    return check_summary("test_cli");
}
