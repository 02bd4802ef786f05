/* test_demo.c - the demo's data (layouts, answers, determinism, held-out seeds), its
 * tokenizer files (they load and map bytes to themselves), and a shortened `ttt demo` end to
 * end: table, plots, summary, and checkpoints that `ttt run` and `ttt eval` load. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "demo/demo.h"
#include "io/json.h"
#include "ttt.h"

static int is_key(int32_t t) { return t >= 'A' && t <= 'Z'; }
static int is_val(int32_t t) { return t >= 'a' && t <= 'z'; }
static int is_noise(int32_t t) { return t == ' ' || (t >= '0' && t <= '9'); }

/* kv: N distinct keys with values up front; the question asks each key once; the answer of a
 * query is the value that followed its key in the context; only noise in between. */
static void kv_layout(void) {
    ttt_demo_params p = {.n_pairs = 8};
    int32_t t[300];
    ttt_demo_sample s;
    CHECK(ttt_demo_min_length(TTT_DEMO_KV, &p) == 49);
    for (int idx = 0; idx < 20; idx++) {
        const int L = 49 + idx * 12;
        CHECK_OK(ttt_demo_make(TTT_DEMO_KV, &p, L, 7, (uint64_t)idx, t, &s));
        CHECK(s.n == L && s.n_answers == 8 && s.n_ctx == L - 24 && t[0] == TTT_BYTE_BOS);
        for (int j = 0; j < 8; j++) {
            CHECK(is_key(t[1 + 3 * j]) && is_val(t[2 + 3 * j]) && t[3 + 3 * j] == ' ');
            for (int k = 0; k < j; k++) CHECK(t[1 + 3 * k] != t[1 + 3 * j]);
        }
        for (int i = 25; i < s.n_ctx; i++) CHECK(is_noise(t[i]));
        for (int a = 0; a < 8; a++) {
            const int q = s.answer_pos[a];
            CHECK(q >= s.n_ctx && q + 1 < L && is_key(t[q]) && t[q + 1] == s.answer[a]);
            int found = 0;
            for (int j = 0; j < 8; j++)
                if (t[1 + 3 * j] == t[q]) found = t[2 + 3 * j] == s.answer[a];
            CHECK(found);
        }
    }
    CHECK_FAILS(ttt_demo_make(TTT_DEMO_KV, &p, 48, 7, 0, t, &s), TTT_ERR_ARG, "at least 49");
    p.n_pairs = 27;
    CHECK_FAILS(ttt_demo_make(TTT_DEMO_KV, &p, 200, 7, 0, t, &s), TTT_ERR_ARG, "27 pairs");
}

/* needle: one pair in the noise, asked at the very end; depths spread over the context. */
static void needle_layout(void) {
    ttt_demo_params p = {.n_pairs = 8};
    int32_t t[512];
    ttt_demo_sample s;
    int shallow = 0, deep = 0;
    for (int idx = 0; idx < 200; idx++) {
        CHECK_OK(ttt_demo_make(TTT_DEMO_NEEDLE, &p, 512, 3, (uint64_t)idx, t, &s));
        CHECK(s.n_answers == 1 && s.n_ctx == 509 && s.answer_pos[0] == 510);
        CHECK(is_key(t[510]) && t[511] == s.answer[0] && is_val(s.answer[0]));
        int keys = 0, at = -1;
        for (int i = 1; i < s.n_ctx; i++)
            if (is_key(t[i])) keys++, at = i;
            else CHECK(is_noise(t[i]) || (i == at + 1 && t[i] == s.answer[0]));
        CHECK(keys == 1 && at > 0 && t[at] == t[510] && t[at + 1] == s.answer[0]);
        shallow += at < 100;
        deep += at > 400;
    }
    CHECK(shallow > 10 && deep > 10);
}

/* Same (seed, index): same sample; another seed (the held-out stream): another sample. */
static void determinism(void) {
    ttt_demo_params p = {.n_pairs = 6};
    int32_t a[128], b[128], c[128];
    ttt_demo_sample sa, sb, sc;
    CHECK_OK(ttt_demo_make(TTT_DEMO_KV, &p, 128, 11, 5, a, &sa));
    CHECK_OK(ttt_demo_make(TTT_DEMO_KV, &p, 128, 11, 5, b, &sb));
    CHECK_OK(ttt_demo_make(TTT_DEMO_KV, &p, 128, 12, 5, c, &sc));
    CHECK(!memcmp(a, b, sizeof a) && !memcmp(&sa, &sb, sizeof sa));
    CHECK(memcmp(a, c, sizeof a) != 0);
}

/* Training sequences: every label is the next token, a value, whose key is right before it
 * and was given the same value earlier in the sequence (the answer is recoverable); all three
 * kinds occur. */
static void training_labels(void) {
    ttt_demo_params p = {.n_pairs = 8};
    enum { T = 256 };
    int32_t t[T + 1], lab[T];
    int dense = 0, sparse = 0;
    for (int idx = 0; idx < 60; idx++) {
        CHECK_OK(ttt_demo_train_seq(&p, T, 9, (uint64_t)idx, t, lab));
        CHECK(t[0] == TTT_BYTE_BOS);
        int n = 0;
        for (int i = 0; i < T; i++) {
            CHECK(t[i + 1] >= 0 && t[i + 1] < TTT_BYTE_VOCAB);
            if (lab[i] == -100) continue;
            n++;
            CHECK(lab[i] == t[i + 1] && is_val(lab[i]) && is_key(t[i]));
            int earlier = 0;
            for (int j = 1; j + 1 < i; j++) earlier |= t[j] == t[i] && t[j + 1] == lab[i];
            CHECK(earlier);
        }
        dense += n > 16;
        sparse += n >= 1 && n <= 8;
    }
    if (!(dense > 5 && sparse > 5)) fprintf(stderr, "dense %d sparse %d\n", dense, sparse);
    CHECK(dense > 5 && sparse > 5);
    CHECK_FAILS(ttt_demo_train_seq(&p, 20, 9, 0, t, lab), TTT_ERR_ARG, "shorter than");
}

/* The tokenizer files load; each byte is its own id, specials are 256..258; text round-trips. */
static void tokenizer(const char *tmp) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/demo_tok", tmp);
    CHECK_OK(ttt_demo_write_tokenizer(dir));
    ttt_tokenizer *tk = NULL;
    CHECK_OK(ttt_tokenizer_load(dir, &tk));
    if (!tk) return;
    const char text[] = "Qx Bm 31 9\n\xc3\xa9~";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(ttt_tokenize(tk, text, sizeof text - 1, 0, &ids, &n));
    CHECK(n == sizeof text - 1);
    for (size_t i = 0; ids && i < n && i < sizeof text - 1; i++)
        CHECK(ids[i] == (int32_t)(unsigned char)text[i]);
    char *back = NULL;
    size_t blen = 0;
    CHECK_OK(ttt_detokenize(tk, ids, n, 0, &back, &blen));
    CHECK(back && blen == n && !memcmp(back, text, n));
    CHECK(ttt_tokenizer_bos(tk) == TTT_BYTE_BOS && ttt_tokenizer_eos(tk) == TTT_BYTE_EOS);
    CHECK(ttt_tokenizer_find(tk, "<|pad|>") == TTT_BYTE_PAD);
    free(ids);
    free(back);
    ttt_tokenizer_free(tk);
}

static int exists(const char *dir, const char *name) {
    char path[2048];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &sb) == 0 && sb.st_size > 0;
}

/* A shortened demo on a device: its table, outputs and checkpoints. */
static void end_to_end(const char *bin, const char *tmp, const char *device) {
    char out[1024], cmd[4096];
    snprintf(out, sizeof out, "%s/demo_smoke_%s", tmp, device);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && '%s' demo --preset tiny --steps 6 --batch 2 "
             "--seq-len 64 --pairs 4 --samples 2 --lengths 32,64 -t 2 -q --device %s -o '%s' "
             "> '%s.txt' 2>&1", out, bin, device, out, out);
    CHECK(system(cmd) == 0);
    char *table = NULL, path[2048];
    size_t len = 0;
    snprintf(path, sizeof path, "%s.txt", out);
    CHECK_OK(ttt_read_file(path, 1 << 20, &table, &len));
    CHECK(table && strstr(table, "| model / mode | 32 | 64 |"));
    CHECK(table && strstr(table, "| ttt / strict |") && strstr(table, "| baseline / in_context |"));
    free(table);
    const char *files[] = {"demo_summary.json", "eval/samples.jsonl", "eval/summary.json",
                           "eval/results.md", "eval/plots/accuracy_kv.svg",
                           "eval/plots/accuracy_needle.svg", "ttt/latest", "baseline/latest",
                           "ttt/checkpoint-6/tokenizer.json",
                           "baseline/checkpoint-6/model.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (!exists(out, files[i])) fprintf(stderr, "test_demo: missing %s\n", files[i]);
        CHECK(exists(out, files[i]));
    }
    /* the summary: both models, 2 tasks x 3 modes x 2 lengths of accuracies in [0, 100] */
    char *js = NULL;
    snprintf(path, sizeof path, "%s/demo_summary.json", out);
    CHECK_OK(ttt_read_file(path, 1 << 20, &js, &len));
    cJSON *root = js ? cJSON_Parse(js) : NULL;
    const cJSON *dev = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "settings"), "device");
    CHECK(cJSON_IsString(dev) && !strcmp(dev->valuestring, device));
    const char *models[2] = {"ttt", "baseline"}, *modes[3] = {"in_context", "ttt", "strict"};
    for (int m = 0; m < 2; m++) {
        cJSON *mj = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "models"), models[m]);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(mj, "parameters")));
        cJSON *acc = cJSON_GetObjectItem(mj, "accuracy");
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < 3; k++) {
                cJSON *arr = cJSON_GetObjectItem(cJSON_GetObjectItem(acc, t ? "needle" : "kv"),
                                                 modes[k]);
                CHECK(cJSON_GetArraySize(arr) == 2);
                for (cJSON *v = arr ? arr->child : NULL; v; v = v->next)
                    CHECK(cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 100);
            }
    }
    cJSON_Delete(root);
    free(js);
    /* the checkpoints: the TTT one has TTT layers, the baseline none; both run and evaluate */
    const char *ck[2] = {"ttt/checkpoint-6", "baseline/checkpoint-6"};
    for (int m = 0; m < 2; m++) {
        char dir[2048];
        snprintf(dir, sizeof dir, "%s/%s", out, ck[m]);
        ttt_model *mod = NULL;
        CHECK_OK(ttt_model_load(dir, &mod));
        ttt_model_info mi = {0};
        if (mod) ttt_model_get_info(mod, &mi);
        CHECK(mi.n_vocab == TTT_BYTE_VOCAB && mi.ttt_enabled == (m == 0));
        ttt_model_free(mod);
        snprintf(cmd, sizeof cmd, "'%s' run -m '%s' -p 'Qx Bm 31 Q' -n 4 -t 1 > /dev/null 2>&1",
                 bin, dir);
        CHECK(system(cmd) == 0);
        snprintf(cmd, sizeof cmd, "'%s' eval -m '%s' --tasks mqar --lengths 64 --samples 1 "
                 "-t 1 -o '%s/eval_%d' > /dev/null 2>&1", bin, dir, out, m);
        CHECK(system(cmd) == 0);
    }
}

/* Bad flags: one line naming the fault, non-zero exit, nothing trained. */
static void bad_flags(const char *bin, const char *tmp) {
    double gemm, copy;
    /* without a usable GPU (CI has none) --device cuda fails up front, CUDA build or not */
    const int gpu = ttt_device_probe(TTT_DEVICE_CUDA, &gemm, &copy) == TTT_OK;
    const char *cases[][2] = {
        {gpu ? "--preset huge" : "--device cuda", gpu ? "--preset must be" : "--device cuda: "},
        {"--preset huge", "--preset must be tiny, small or base"},
        {"--lengths 20", "--lengths: each must hold a kv sample"},
        {"--ttt-layers 9", "--ttt-layers '9': layer 9 of a 2-layer model"},
        {"--ttt-target embed", "--ttt-target must be hidden_states or input_embed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char cmd[2048], path[1024], *text = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/demo_bad.txt", tmp);
        snprintf(cmd, sizeof cmd, "'%s' demo --preset tiny -q -o '%s/demo_bad' %s > '%s' 2>&1",
                 bin, tmp, cases[i][0], path);
        CHECK(system(cmd) != 0);
        CHECK_OK(ttt_read_file(path, 1 << 16, &text, &len));
        if (!text || !strstr(text, cases[i][1]))
            fprintf(stderr, "test_demo: '%s' printed: %s\n", cases[i][0], text ? text : "");
        CHECK(text && strstr(text, cases[i][1]));
        free(text);
    }
}

int main(void) {
    kv_layout();
    needle_layout();
    determinism();
    training_labels();
    const char *tmp = getenv("TTT_TEST_TMP"), *bin = getenv("TTT_BIN");
    if (tmp) tokenizer(tmp);
    if (tmp && bin) bad_flags(bin, tmp);
    double gemm, copy;
    if (tmp && bin) {
        end_to_end(bin, tmp, "cpu");
        /* the same on a GPU where there is one (the trainer and the evaluation on CUDA) */
        if (ttt_device_probe(TTT_DEVICE_CUDA, &gemm, &copy) == TTT_OK)
            end_to_end(bin, tmp, "cuda");
    } else fprintf(stderr, "test_demo: TTT_BIN / TTT_TEST_TMP unset: end-to-end part skipped\n");
    return check_summary("test_demo");
}
