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
static const char *g_stdin; /* a file the next command reads as stdin (NULL: none) */

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

/* Runs `ttt args...`, returns its exit status (-1 if killed), its stderr and (out != NULL)
 * its stdout. */
static int run_ttt_io(const char *const *args, char *err, size_t errcap, char *out,
                      size_t outcap) {
    char errpath[1024], outpath[1024];
    snprintf(errpath, sizeof errpath, "%s/cli_stderr.%d", g_tmp, (int)getpid());
    snprintf(outpath, sizeof outpath, "%s/cli_stdout.%d", g_tmp, (int)getpid());
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = out ? open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644)
                      : open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        dup2(nul, 1);
        if (g_stdin) {
            int in = open(g_stdin, O_RDONLY);
            dup2(in, 0);
        }
        setenv("ASAN_OPTIONS", "exitcode=99", 1);
        setenv("UBSAN_OPTIONS", "exitcode=99:halt_on_error=1", 1);
        const char *argv[48] = {g_bin};
        for (int i = 0; args[i] && i < 46; i++) argv[i + 1] = args[i];
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
    if (out) {
        text = slurp(outpath, &n);
        snprintf(out, outcap, "%s", text ? text : "");
        free(text);
        unlink(outpath);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_ttt(const char *const *args, char *err, size_t errcap) {
    return run_ttt_io(args, err, errcap, NULL, 0);
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

/* `ttt run` on token ids: greedy output is the argmax of the golden logits at the prompt's
 * last position; a seed gives the same tokens every time; bad ids and options fail cleanly. */
static void run_command(const char *golden) {
    char dir[1024], exp[1100], err[8192], out[8192], out2[8192], ids[512] = "";
    snprintf(dir, sizeof dir, "%s/qwen3", golden);
    snprintf(exp, sizeof exp, "%s/expected.safetensors", dir);
    ttt_tensors *e = NULL;
    ttt_tensor_info ti, lg;
    if (ttt_tensors_open(exp, &e) != TTT_OK || ttt_tensors_find(e, "input_ids", &ti) != TTT_OK ||
        ttt_tensors_find(e, "logits", &lg) != TTT_OK || ti.dtype != TTT_DT_I32) {
        check_count++, check_failures++;
        fprintf(stderr, "FAIL run: cannot read %s\n", exp);
        ttt_tensors_close(e);
        return;
    }
    const int n = 10, V = (int)(lg.n_elements / ti.n_elements);
    for (int i = 0; i < n; i++)
        snprintf(ids + strlen(ids), sizeof ids - strlen(ids), "%s%d", i ? "," : "",
                 (int)((const int32_t *)ti.data)[i]);
    float *l = malloc(sizeof(float) * lg.n_elements);
    ttt_tensor_to_f32(&lg, l);
    int best = 0;
    for (int j = 1; j < V; j++) best = l[(size_t)(n - 1) * V + j] > l[(size_t)(n - 1) * V + best] ? j : best;
    free(l);
    ttt_tensors_close(e);
    const char *a1[] = {"run", "-m", dir, "--ids", ids, "-n", "1", "--temp", "0", NULL};
    int rc = run_ttt_io(a1, err, sizeof err, out, sizeof out);
    check_count++;
    if (rc != 0 || atoi(out) != best) {
        check_failures++;
        fprintf(stderr, "FAIL run greedy: exit %d, got '%s', want %d\n%s\n", rc, out, best, err);
    }
    const char *a2[] = {"run", "-m", dir, "--ids", ids, "-n", "8", "--temp", "1.5", "--seed", "5",
                        "--top-k", "0", NULL};
    run_ttt_io(a2, err, sizeof err, out, sizeof out);
    run_ttt_io(a2, err, sizeof err, out2, sizeof out2);
    CHECK(strlen(out) > 8 && !strcmp(out, out2));
    a2[10] = "6";
    run_ttt_io(a2, err, sizeof err, out2, sizeof out2);
    CHECK(strcmp(out, out2) != 0);
    /* -np 3 decodes three sequences together (ttt_batch): sequence i samples with seed + i,
     * so sequences 0 and 1 must print the runs with seeds 5 and 6 above */
    const char *a3[] = {"run", "-m", dir, "--ids", ids, "-n", "8", "--temp", "1.5", "--seed", "5",
                        "--top-k", "0", "-np", "3", NULL};
    char out3[8192];
    rc = run_ttt_io(a3, err, sizeof err, out3, sizeof out3);
    const char *s0 = strstr(out3, "--- sequence 0 (seed 5, "), *s1 = strstr(out3, "--- sequence 1 (seed 6, ");
    const char *e0 = s0 ? strchr(s0, '\n') : NULL, *e1 = s1 ? strchr(s1, '\n') : NULL;
    check_count++;
    if (rc != 0 || !e0 || !e1 || strncmp(e0 + 1, out, strlen(out)) ||
        strncmp(e1 + 1, out2, strlen(out2)) || !strstr(out3, "--- sequence 2 (seed 7, ")) {
        check_failures++;
        fprintf(stderr, "FAIL run -np 3: exit %d\n%s\nwant seed 5: %s seed 6: %s\n%s\n", rc, out3,
                out, out2, err);
    }
    const char *b1[] = {"run", "--ids", "1", NULL};
    expect_error("run without a model", b1, "missing -m");
    const char *b2[] = {"run", "-m", dir, "--ids", "1", "-p", "x", NULL};
    expect_error("run with two prompts", b2, "exactly one of -p, -f and --ids");
    const char *b3[] = {"run", "-m", dir, "--ids", "1,99999", NULL};
    expect_error("run with an id out of range", b3, "token id '99999' at byte 2");
    const char *b4[] = {"run", "-m", dir, "-p", "hello", NULL};
    expect_error("run text without a tokenizer", b4, "tokenizer");
    const char *b5[] = {"run", "-m", dir, "--ids", "1", "--top-p", "2", NULL};
    expect_error("run bad --top-p", b5, "--top-p");
    const char *b6[] = {"run", "-m", dir, "--ids", "1,2,3", "-c", "2", NULL};
    expect_error("run prompt longer than the context", b6, "does not fit");
    /* without a usable GPU (CI has none): a clear error whether or not CUDA is compiled in */
    const char *b7[] = {"run", "-m", dir, "--ids", "1,2,3", "--device", "cuda", NULL};
    double gemm_rate, copy_rate;
    if (ttt_device_probe(TTT_DEVICE_CUDA, &gemm_rate, &copy_rate) != TTT_OK)
        expect_error("run on a missing GPU", b7, "cuda");
    const char *b8[] = {"eval", "-m", dir, "--device", "tpu", NULL};
    expect_error("eval on an unknown device", b8, "--device must be cpu or cuda, not 'tpu'");
}

static int count_lines(const char *path) {
    size_t n = 0;
    char *t = slurp(path, &n);
    int lines = 0;
    for (size_t i = 0; t && i < n; i++) lines += t[i] == '\n';
    free(t);
    return t ? lines : -1;
}

/* `ttt eval` end to end at length 512: every mode, two RULER tasks and MQAR; the output files
 * and their fields; a rerun resumes; a torn last line is redone; bad input fails cleanly. */
static void eval_command(const char *model) {
    char out[1024], err[8192], path[1200];
    snprintf(out, sizeof out, "%s/evalout", g_tmp);
    snprintf(path, sizeof path, "rm -rf '%s'", out);
    CHECK(system(path) == 0);
    const char *a[] = {"eval", "-m", model, "--tasks", "niah_single_1,niah_multikey_2,mqar",
                       "--lengths", "512", "--samples", "2", "-o", out, NULL};
    int rc = run_ttt(a, err, sizeof err);
    check_count++;
    if (rc != 0) {
        check_failures++;
        fprintf(stderr, "FAIL eval: exit %d\n%s\n", rc, err);
        return;
    }
    /* 2 RULER tasks x 3 modes x 2 samples, MQAR x 2 modes (no strict) x 2 samples */
    snprintf(path, sizeof path, "%s/samples.jsonl", out);
    CHECK(count_lines(path) == 16);
    size_t n;
    char *jl = slurp(path, &n);
    const char *fields[] = {"\"task\":", "\"length\":512", "\"mode\":\"strict\"",
                            "\"prediction\":", "\"references\":", "\"score\":",
                            "\"prompt_tokens\":", "\"prefill_s\":", "\"decode_s\":",
                            "\"peak_mem_bytes\":"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        check_count++;
        if (!jl || !strstr(jl, fields[i])) {
            check_failures++;
            fprintf(stderr, "FAIL eval: samples.jsonl lacks %s\n", fields[i]);
        }
    }
    free(jl);
    const char *files[] = {"summary.json", "summary.csv", "results.md", "plots/latency.svg",
                           "plots/memory.svg", "plots/accuracy_niah_single_1.svg",
                           "plots/accuracy_mqar.svg"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", out, files[i]);
        char *t = slurp(path, &n);
        check_count++;
        if (!t || n < 20) {
            check_failures++;
            fprintf(stderr, "FAIL eval: %s missing or empty\n", files[i]);
        }
        free(t);
    }
    snprintf(path, sizeof path, "%s/summary.csv", out);
    char *csv = slurp(path, &n);
    CHECK(csv && strstr(csv, "niah_multikey_2") && strstr(csv, "in_context") && strstr(csv, "strict"));
    free(csv);
    /* rerun: nothing left to do */
    rc = run_ttt(a, err, sizeof err);
    CHECK(rc == 0 && strstr(err, "16 samples already"));
    snprintf(path, sizeof path, "%s/samples.jsonl", out);
    CHECK(count_lines(path) == 16);
    /* an interrupted run: a torn last line is dropped and that sample run again */
    jl = slurp(path, &n);
    if (jl && n > 10) {
        FILE *f = fopen(path, "wb");
        fwrite(jl, 1, n - 10, f);
        fclose(f);
        rc = run_ttt(a, err, sizeof err);
        CHECK(rc == 0 && strstr(err, "torn"));
        CHECK(count_lines(path) == 16);
    }
    free(jl);
    const char *b1[] = {"eval", "-m", model, "--tasks", "niah_single_9", "-o", out, NULL};
    expect_error("eval unknown task", b1, "niah_single_9");
    const char *b2[] = {"eval", "-m", model, "--modes", "ttt,sometimes", "-o", out, NULL};
    expect_error("eval unknown mode", b2, "unknown mode 'sometimes'");
    const char *b3[] = {"eval", "-m", model, "--tasks", "vt", "--lengths", "64", "-o", out, NULL};
    expect_error("eval length below the template", b3, "too small");
    const char *b4[] = {"eval", "-m", model, "--tasks", "qa_1", "--squad", "/nonexistent/squad.json",
                        "-o", out, NULL};
    expect_error("eval missing QA file", b4, "/nonexistent/squad.json");
    const char *b5[] = {"eval", "-m", model, "--lengths", "4q", "-o", out, NULL};
    expect_error("eval bad lengths", b5, "--lengths");
    const char *b6[] = {"eval", "-m", model, "--tasks", "mqar", "--lengths", "2k", "-o", out, NULL};
    expect_error("eval MQAR longer than the vocabulary allows", b6, "must exceed seq_len 2048");
}

/* The log line of a step ("{\"step\": N, \"loss\": ...") as its loss text, last occurrence. */
static void loss_of_step(const char *log, int step, char *out, size_t cap) {
    char key[64];
    snprintf(key, sizeof key, "{\"step\": %d, \"loss\": ", step);
    out[0] = 0;
    for (const char *p = log; p && (p = strstr(p, key)); p++)
        snprintf(out, cap, "%.*s", (int)strcspn(p + strlen(key), ","), p + strlen(key));
}

/* `ttt train`: a run killed with SIGKILL and resumed logs bitwise the losses of a run never
 * stopped; SIGINT saves a checkpoint and exits 130; checkpoints load in `ttt run`;
 * --keep-last; bad input. */
static void train_commands(const char *golden) {
    char m[512], txt[512], sh[512], cfgp[512], small[512], err[8192], path[4096];
    char runs[3][512];
    snprintf(m, sizeof m, "%s/train_model", g_tmp);
    snprintf(txt, sizeof txt, "%s/train_text.txt", g_tmp);
    snprintf(sh, sizeof sh, "%s/train_shards", g_tmp);
    snprintf(small, sizeof small, "%s/train_model_v200", g_tmp);
    for (int i = 0; i < 3; i++) snprintf(runs[i], sizeof runs[i], "%s/train_run%d", g_tmp, i);
    snprintf(path, sizeof path, "rm -rf '%s' '%s' '%s' '%s' '%s' '%s'", m, sh, small, runs[0],
             runs[1], runs[2]);
    CHECK(system(path) == 0);
    FILE *f = fopen(txt, "w");
    unsigned x = 7;
    static const char *w[] = {"alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"};
    for (int line = 0; f && line < 200; line++, fputc('\n', f))
        for (int k = 0; k < 30; k++) {
            x = x * 1103515245u + 12345u;
            fprintf(f, "%s%s", k ? " " : "", w[(x >> 16) % 8]);
        }
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/qwen3/config.json", golden);
    const char *i1[] = {"init", "--config", path, "-o", m, "--dtype", "f32", NULL};
    const char *d1[] = {"data", txt, "-o", sh, "--tokenizer", "byte", "--txt-docs", "line", NULL};
    CHECK(run_ttt(i1, err, sizeof err) == 0);
    CHECK(run_ttt(d1, err, sizeof err) == 0);
#define TRAIN(run, ...) \
    {"train", "-m", m, "--data", sh, "-o", run, "--steps", "6", "--seq-len", "32", "--batch", \
     "2", "--save-every", "2", __VA_ARGS__, NULL}
    const char *a[] = TRAIN(runs[0], "--lr", "1e-3");
    CHECK(run_ttt(a, err, sizeof err) == 0);
    const char *b[] = TRAIN(runs[1], "--lr", "1e-3");
    setenv("TTT_TEST_KILL_AT_STEP", "5", 1);
    int rc = run_ttt(b, err, sizeof err);
    unsetenv("TTT_TEST_KILL_AT_STEP");
    CHECK(rc == -1); /* killed */
    rc = run_ttt(b, err, sizeof err);
    CHECK(rc == 0 && strstr(err, "resuming from") && strstr(err, "checkpoint-4 at step 4"));
    size_t n;
    snprintf(path, sizeof path, "%s/train_log.jsonl", runs[0]);
    char *la = slurp(path, &n);
    snprintf(path, sizeof path, "%s/train_log.jsonl", runs[1]);
    char *lb = slurp(path, &n);
    for (int s = 1; s <= 6 && la && lb; s++) {
        char x1[64], x2[64];
        loss_of_step(la, s, x1, sizeof x1);
        loss_of_step(lb, s, x2, sizeof x2);
        check_count++;
        if (!*x1 || strcmp(x1, x2)) {
            check_failures++;
            fprintf(stderr, "FAIL train resume: step %d loss '%s' vs uninterrupted '%s'\n", s, x2,
                    x1);
        }
    }
    free(la);
    free(lb);
    /* Ctrl-C after step 3: a checkpoint of step 3, exit 130; the run then finishes */
    const char *c[] = TRAIN(runs[2], "--keep-last", "1");
    setenv("TTT_TEST_SIGINT_AT_STEP", "3", 1);
    rc = run_ttt(c, err, sizeof err);
    unsetenv("TTT_TEST_SIGINT_AT_STEP");
    CHECK(rc == 130 && strstr(err, "stopped by signal 2") && strstr(err, "checkpoint-3"));
    CHECK(run_ttt(c, err, sizeof err) == 0 && strstr(err, "at step 3"));
    snprintf(path, sizeof path, "%s/checkpoint-2", runs[2]);
    CHECK(access(path, F_OK) != 0); /* --keep-last 1 */
    snprintf(path, sizeof path, "%s/checkpoint-6", runs[2]);
    const char *r1[] = {"run", "-m", path, "--ids", "1,2,3", "-n", "2", "--temp", "0", NULL};
    CHECK(run_ttt(r1, err, sizeof err) == 0);
    /* resuming with another batch shape, shards with ids beyond the model's vocabulary */
    const char *e1[] = {"train", "-m", m, "--data", sh, "-o", runs[1], "--steps", "8",
                        "--seq-len", "16", "--batch", "2", NULL};
    expect_error("train resume with another shape", e1, "--seq-len 32 --batch 2");
    snprintf(path, sizeof path, "%s/qwen3/config.json", golden);
    char *cfg = slurp(path, &n), *cfg2 = cfg ? patched(cfg, n, "\"vocab_size\": 1024",
                                                        "\"vocab_size\":  200") : NULL;
    snprintf(cfgp, sizeof cfgp, "%s/train_v200.json", g_tmp);
    f = fopen(cfgp, "w");
    if (f && cfg2) fputs(cfg2, f);
    if (f) fclose(f);
    free(cfg);
    free(cfg2);
    const char *i2[] = {"init", "--config", cfgp, "-o", small, "--dtype", "f32", NULL};
    CHECK(run_ttt(i2, err, sizeof err) == 0);
    const char *e2[] = {"train", "-m", small, "--data", sh, "-o", runs[1], "--steps", "1",
                        "--no-resume", NULL};
    expect_error("train on shards beyond the vocabulary", e2, "200");
    const char *e3[] = {"train", "-m", m, "--data", sh, "-o", runs[1], NULL};
    expect_error("train without --steps", e3, "--steps");
    /* labelled rows: MQAR from `ttt data --synthetic mqar`, loss on the answers only */
    char mq[600], mqbig[600];
    snprintf(mq, sizeof mq, "%s/train_mqar.safetensors", g_tmp);
    snprintf(mqbig, sizeof mqbig, "%s/train_mqar_v2048.safetensors", g_tmp);
    const char *g1[] = {"data", "--synthetic", "mqar", "-o", mq, "-n", "40", "--seq-len", "32",
                        "--kv", "4", "--vocab", "64", NULL};
    const char *g2[] = {"data", "--synthetic", "mqar", "-o", mqbig, "-n", "40", "--seq-len",
                        "32", "--kv", "4", "--vocab", "2048", NULL};
    CHECK(run_ttt(g1, err, sizeof err) == 0);
    CHECK(run_ttt(g2, err, sizeof err) == 0);
    const char *t1[] = {"train", "-m", m, "--data", mq, "-o", runs[2], "--steps", "2", "--batch",
                        "4", "--val-count", "4", "--no-resume", NULL};
    CHECK(run_ttt(t1, err, sizeof err) == 0 && strstr(err, "36 training / 4 validation") &&
          strstr(err, "validation loss"));
    const char *t2[] = {"train", "-m", m, "--data", mqbig, "-o", runs[2], "--steps", "2",
                        "--no-resume", NULL};
    expect_error("train on rows beyond the vocabulary", t2, "not below the model's vocab size 1024");
    const char *t3[] = {"train", "-m", m, "--data", mq, "-o", runs[2], "--steps", "2",
                        "--seq-len", "16", "--no-resume", NULL};
    expect_error("train rows of another length", t3, "rows of 32 tokens, not --seq-len 16");
#undef TRAIN
}

/* A small model with the golden Qwen2 tokenizer and a ChatML template: `ttt run` on text
 * streams the same text as decoding its ids; stop strings cut the output; `ttt chat` carries a
 * conversation and /reset starts it afresh. */
static void text_commands(const char *golden) {
    char dir[1024], cfgp[1100], tokp[1100], err[8192], out[8192], ids[8192], dec[8192];
    snprintf(dir, sizeof dir, "%s/textmodel", g_tmp);
    snprintf(cfgp, sizeof cfgp, "%s/textmodel.json", g_tmp);
    snprintf(tokp, sizeof tokp, "%s/tokenizers/qwen2/tokenizer.json", golden);
    size_t n;
    char *cfg = NULL, *tok = NULL, path[1100];
    snprintf(path, sizeof path, "%s/qwen3/config.json", golden);
    cfg = slurp(path, &n);
    char *cfg2 = cfg ? patched(cfg, n, "\"vocab_size\": 1024", "\"vocab_size\": 1503") : NULL;
    tok = slurp(tokp, &n);
    check_count++;
    if (!cfg2 || !tok) {
        check_failures++;
        fprintf(stderr, "FAIL text commands: fixtures\n");
        goto out;
    }
    FILE *f = fopen(cfgp, "w");
    if (f) fputs(cfg2, f), fclose(f);
    const char *init[] = {"init", "--config", cfgp, "-o", dir, "--dtype", "f32", NULL};
    CHECK(run_ttt(init, err, sizeof err) == 0);
    spit(dir, "tokenizer.json", tok, n);
    const char *tc = "{\"eos_token\": \"<|im_end|>\", \"chat_template\": \"{% for m in messages "
                     "%}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}{% "
                     "endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\\n'}}{% "
                     "endif %}\"}";
    spit(dir, "tokenizer_config.json", tc, strlen(tc));

    const char *r1[] = {"run", "-m", dir, "-p", "Hello world", "-n", "12", "--temp", "0",
                        "--ignore-eos", NULL};
    CHECK(run_ttt_io(r1, err, sizeof err, out, sizeof out) == 0);
    const char *r2[] = {"run", "-m", dir, "-p", "Hello world", "-n", "12", "--temp", "0",
                        "--ignore-eos", "--ids-out", NULL};
    CHECK(run_ttt_io(r2, err, sizeof err, ids, sizeof ids) == 0);
    char idsp[1100];
    snprintf(idsp, sizeof idsp, "%s/textmodel.ids", g_tmp);
    f = fopen(idsp, "w");
    if (f) fputs(ids, f), fclose(f);
    g_stdin = idsp;
    const char *d1[] = {"tokenize", "--tokenizer", dir, "--decode", NULL};
    CHECK(run_ttt_io(d1, err, sizeof err, dec, sizeof dec) == 0);
    g_stdin = NULL;
    size_t ld = strlen(dec);
    if (ld && dec[ld - 1] == '\n') dec[--ld] = 0;
    char want[8300];
    snprintf(want, sizeof want, "Hello world%s\n", dec);
    check_count++;
    if (strcmp(out, want)) {
        check_failures++;
        fprintf(stderr, "FAIL run text: got '%s', want '%s' (ids %s)\n", out, want, ids);
    }
    /* a stop string taken from the middle of that output: everything before it, nothing after */
    if (ld >= 6) {
        char stop[8] = {0};
        memcpy(stop, dec + 3, 3);
        const char *r3[] = {"run", "-m", dir, "-p", "Hello world", "-n", "12", "--temp", "0",
                            "--ignore-eos", "--stop", stop, NULL};
        CHECK(run_ttt_io(r3, err, sizeof err, out, sizeof out) == 0);
        const char *at = strstr(dec, stop);
        snprintf(want, sizeof want, "Hello world%.*s\n", (int)(at - dec), dec);
        check_count++;
        if (strcmp(out, want)) {
            check_failures++;
            fprintf(stderr, "FAIL run --stop '%s': got '%s', want '%s'\n", stop, out, want);
        }
    }
    /* chat: the same first message after /reset gets the same reply */
    char inp[1100];
    snprintf(inp, sizeof inp, "%s/chat.in", g_tmp);
    f = fopen(inp, "w");
    if (f) fputs("hi there\nwhat next\n/reset\nhi there\n", f), fclose(f);
    g_stdin = inp;
    const char *c1[] = {"chat", "-m", dir, "-n", "6", "--temp", "0", "--ignore-eos", NULL};
    int rc = run_ttt_io(c1, err, sizeof err, out, sizeof out);
    g_stdin = NULL;
    char *l2 = strchr(out, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
    char *l4 = l3 ? strchr(l3 + 1, '\n') : NULL;
    check_count++;
    if (rc != 0 || !l4 || l2 - out != l4 - l3 - 1 || strncmp(out, l3 + 1, (size_t)(l2 - out))) {
        check_failures++;
        fprintf(stderr, "FAIL chat: exit %d, output '%s'\n%s\n", rc, out, err);
    }
    snprintf(path, sizeof path, "%s/qwen3", golden);
    const char *c2[] = {"chat", "-m", path, NULL};
    expect_error("chat without a tokenizer", c2, "tokenizer.json");
    eval_command(dir);
    /* ttt data with the model's tokenizer: the shard holds the tokenizer's ids */
    char jl[1000], sd[1000];
    snprintf(jl, sizeof jl, "%s/tokdata.jsonl", g_tmp);
    snprintf(sd, sizeof sd, "%s/tokdata", g_tmp);
    snprintf(path, sizeof path, "rm -rf '%s'", sd);
    CHECK(system(path) == 0);
    f = fopen(jl, "w");
    if (f) fputs("{\"text\": \"Hello world\"}\n{\"text\": \"again\"}\n", f), fclose(f);
    const char *dd[] = {"data", jl, "-o", sd, "--tokenizer", dir, NULL};
    CHECK(run_ttt(dd, err, sizeof err) == 0 && strstr(err, "2 documents"));
    const char *nt = strstr(err, "documents, ");
    CHECK(nt && atoi(nt + 11) > 0 && atoi(nt + 11) < 16); /* subwords, not the 16 bytes */
out:
    free(cfg);
    free(cfg2);
    free(tok);
}

/* `ttt add-ttt` and `ttt data` on bad input */
static void bad_data_commands(void) {
    const char *a1[] = {"add-ttt", "/nonexistent/model", "-o", "/tmp/x", NULL};
    expect_error("add-ttt without layers", a1, "no TTT layers (--layers");
    const char *a2[] = {"add-ttt", "/nonexistent/model", "-o", "/tmp/x", "--layers", "0", NULL};
    expect_error("add-ttt missing input", a2, "/nonexistent/model");
    const char *a3[] = {"add-ttt", "/tmp", "--layers", "0", NULL};
    expect_error("add-ttt without output", a3, "no output directory");
    const char *a4[] = {"add-ttt", "/nonexistent", "-o", "/tmp/x", "--lr", "-1", "--layers",
                        "0", NULL};
    expect_error("add-ttt negative lr", a4, "--lr must be > 0");
    char out[1024], jsonl[1024];
    snprintf(out, sizeof out, "%s/cli_data_out", g_tmp);
    snprintf(jsonl, sizeof jsonl, "%s/cli_data.jsonl", g_tmp);
    const char *text = "{\"text\": \"fine\"}\n{\"txt\": \"typo\"}\n";
    spit(g_tmp, "cli_data.jsonl", text, strlen(text));
    const char *b1[] = {"data", jsonl, "-o", out, NULL};
    expect_error("data without tokenizer", b1, "no tokenizer (--tokenizer byte)");
    const char *b2[] = {"data", jsonl, "-o", out, "--tokenizer", "/models/qwen3", NULL};
    expect_error("data with a missing tokenizer", b2, "/models/qwen3");
    const char *b3[] = {"data", jsonl, "-o", out, "--tokenizer", "byte", NULL};
    expect_error("data bad jsonl line", b3, "cli_data.jsonl:2: no string field 'text'");
    const char *b4[] = {"data", "x.csv", "-o", out, "--tokenizer", "byte", NULL};
    expect_error("data unknown input", b4, "x.csv: unknown input type");
    const char *b5[] = {"data", jsonl, "-o", out, "--tokenizer", "byte", "--txt-docs", "para",
                        NULL};
    expect_error("data bad --txt-docs", b5, "--txt-docs must be file or line");
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
    bad_data_commands();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/qwen3", golden ? golden : "");
    model_copy mc;
    if (!golden || copy_model(&mc, dir, "qwen3")) {
        fprintf(stderr, "test_cli: golden fixtures not found (TTT_GOLDEN): skipping the "
                        "corrupted-model cases\n");
        return check_summary("test_cli") ? 1 : 77;
    }
    run_command(golden);
    text_commands(golden);
    bad_training(dir);
    train_commands(golden);
    bad_weights(&mc);
    bad_offsets(&mc);
    bad_config(&mc);
    free(mc.config);
    free(mc.weights);
    return check_summary("test_cli");
}
