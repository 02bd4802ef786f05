/* test_ckpt.c - training checkpoints: a saved checkpoint loads as a model (single file and
 * sharded) with the same bytes, the trainer state comes back, `latest` names the newest,
 * --keep-last prunes only after a save completes, a leftover temp directory is replaced, and
 * a full disk at every single write of a save leaves an error, no new checkpoint, `latest`
 * unchanged and the previous checkpoints byte for byte intact. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/ckpt.h"
#include "io/file.h"
#include "io/json.h"
#include "io/safetensors.h"

static const char *g_tmp, *g_golden;
static char g_root[1024];
static char *g_config;
static ttt_ckpt_tensor *g_w;
static int g_nw;
static ttt_st_file g_model;

static float g_m[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
static uint16_t g_v[5] = {0x3f80, 0x4000, 0x4040, 0x4080, 0x40a0}; /* bf16 1..5 */
static const ttt_ckpt_tensor g_state[] = {
    {.name = "adam.m.embed", .dtype = TTT_DT_F32, .ndim = 2, .shape = {3, 4}, .data = g_m},
    {.name = "adam.v.norm", .dtype = TTT_DT_BF16, .ndim = 1, .shape = {5}, .data = g_v},
};
static const char *STATE = "{\"step\": 10, \"data\": {\"epoch\": 0, \"index\": 17}, "
                           "\"rng\": [1, 2, 3, 4]}";

/* All files of dir (sorted names and contents) in one buffer, to compare byte for byte. */
static char *dir_image(const char *dir, size_t *len) {
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, alphasort);
    *len = 0;
    if (n < 0) return NULL;
    char *img = NULL;
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
        struct stat sb;
        char *data = NULL;
        size_t dn = 0;
        if (ents[i]->d_name[0] != '.' && !stat(path, &sb) && S_ISREG(sb.st_mode))
            ttt_read_file(path, (size_t)1 << 26, &data, &dn);
        size_t nl = strlen(ents[i]->d_name) + 1;
        img = realloc(img, *len + nl + dn);
        memcpy(img + *len, ents[i]->d_name, nl);
        if (dn) memcpy(img + *len + nl, data, dn);
        *len += nl + dn;
        free(data);
        free(ents[i]);
    }
    free(ents);
    return img;
}

static int exists(const char *root, const char *name) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", root, name);
    return access(path, F_OK) == 0;
}

static ttt_ckpt_save_params params(uint64_t step) {
    return (ttt_ckpt_save_params){.root = g_root, .step = step, .config_json = g_config,
                                  .weights = g_w, .n_weights = g_nw, .state = g_state,
                                  .n_state = 2, .state_json = STATE, .keep_last = 2};
}

static void check_loads(const char *dir) {
    ttt_model *m = NULL;
    CHECK_OK(ttt_model_load(dir, &m));
    ttt_model_free(m);
    ttt_tensors *t = NULL;
    CHECK_OK(ttt_tensors_open(dir, &t));
    if (!t) return;
    int same = ttt_tensors_count(t) == g_nw;
    for (int i = 0; i < g_nw && same; i++) {
        ttt_tensor_info ti;
        const ttt_st_tensor *src = ttt_st_find(&g_model, g_w[i].name);
        same = !ttt_tensors_find(t, g_w[i].name, &ti) && ti.n_bytes == src->end - src->begin &&
               !memcmp(ti.data, src->data, ti.n_bytes);
    }
    CHECK(same);
    ttt_tensors_close(t);
}

static void test_save_load(void) {
    char *dir = NULL, tok[1024];
    ttt_ckpt_save_params p = params(10);
    snprintf(tok, sizeof tok, "%s/tokenizers/qwen2", g_golden);
    p.tokenizer_dir = tok;
    CHECK_OK(ttt_ckpt_save(&p, &dir));
    CHECK(dir && strstr(dir, "/checkpoint-10") && exists(dir, "tokenizer.json"));
    CHECK(!exists(dir, "tokenizer.model") && exists(dir, "config.json"));
    if (dir) check_loads(dir);
    free(dir);
    char *latest = NULL;
    CHECK_OK(ttt_ckpt_latest(g_root, &latest));
    CHECK(latest && strstr(latest, "checkpoint-10"));
    ttt_tensors *st = NULL;
    char *json = NULL;
    if (latest) CHECK_OK(ttt_ckpt_load_state(latest, &st, &json));
    CHECK(json && !strcmp(json, STATE));
    if (st) {
        ttt_tensor_info ti;
        CHECK_OK(ttt_tensors_find(st, "adam.m.embed", &ti));
        CHECK(ti.dtype == TTT_DT_F32 && ti.shape[0] == 3 && !memcmp(ti.data, g_m, sizeof g_m));
        CHECK_OK(ttt_tensors_find(st, "adam.v.norm", &ti));
        CHECK(ti.dtype == TTT_DT_BF16 && !memcmp(ti.data, g_v, sizeof g_v));
        ttt_tensors_close(st);
    }
    free(json);
    free(latest);

    /* sharded above max_shard; keep_last 2 removes checkpoint-10 once 30 is complete */
    p = params(20);
    p.max_shard = 400000;
    CHECK_OK(ttt_ckpt_save(&p, &dir));
    CHECK(dir && exists(dir, "model.safetensors.index.json") && !exists(dir, "model.safetensors"));
    if (dir) check_loads(dir);
    free(dir);
    CHECK(exists(g_root, "checkpoint-10"));
    p = params(30);
    CHECK_OK(ttt_ckpt_save(&p, NULL));
    CHECK(!exists(g_root, "checkpoint-10") && exists(g_root, "checkpoint-20"));
    CHECK_FAILS(ttt_ckpt_save(&p, NULL), TTT_ERR_ARG, "checkpoint-30: already exists");
}

/* A full disk at write n of a save, for every n until the save gets through. */
static void test_full_disk(void) {
    size_t n20, n30, nl;
    char d20[1100], d30[1100], lp[1100];
    snprintf(d20, sizeof d20, "%s/checkpoint-20", g_root);
    snprintf(d30, sizeof d30, "%s/checkpoint-30", g_root);
    snprintf(lp, sizeof lp, "%s/latest", g_root);
    char *i20 = dir_image(d20, &n20), *i30 = dir_image(d30, &n30), *il = NULL;
    ttt_read_file(lp, 100, &il, &nl);
    CHECK(i20 && i30 && il && !strcmp(il, "checkpoint-30\n"));
    int failures = 0, intact = 1, clean = 1, named = 1;
    for (long k = 1; k < 200; k++) {
        ttt_ckpt_save_params p = params(40);
        p.max_shard = 400000; /* several shards: writes between files too */
        ttt_file_fail_nth_write(k);
        ttt_status st = ttt_ckpt_save(&p, NULL);
        ttt_file_fail_nth_write(0);
        if (st == TTT_OK) break;
        failures++;
        named &= st == TTT_ERR_IO && strstr(ttt_last_error(), "No space left on device") != NULL;
        size_t a, b, c;
        char *x = dir_image(d20, &a), *y = dir_image(d30, &b), *z = NULL;
        ttt_read_file(lp, 100, &z, &c);
        intact &= x && y && z && a == n20 && b == n30 && !memcmp(x, i20, a) &&
                  !memcmp(y, i30, b) && !strcmp(z, il);
        clean &= !exists(g_root, "checkpoint-40") && !exists(g_root, "checkpoint-40.tmp");
        free(x);
        free(y);
        free(z);
    }
    CHECK(failures > 20); /* every tensor, the header, each small file */
    CHECK(named);
    CHECK(intact);
    CHECK(clean);
    /* then it went through: 40 is latest, 20 pruned */
    char *latest = NULL;
    CHECK_OK(ttt_ckpt_latest(g_root, &latest));
    CHECK(latest && strstr(latest, "checkpoint-40"));
    free(latest);
    CHECK(!exists(g_root, "checkpoint-20") && exists(g_root, "checkpoint-30"));
    free(i20);
    free(i30);
    free(il);
}

static void test_bad(void) {
    /* a temp directory left by a crash is replaced */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s/checkpoint-50.tmp", g_root);
    mkdir(tmp, 0755);
    char junk[1200];
    snprintf(junk, sizeof junk, "%s/model.safetensors", tmp);
    FILE *f = fopen(junk, "w");
    if (f) fputs("torn", f), fclose(f);
    ttt_ckpt_save_params p = params(50);
    CHECK_OK(ttt_ckpt_save(&p, NULL));
    CHECK(!exists(g_root, "checkpoint-50.tmp") && exists(g_root, "checkpoint-50"));

    p = params(60);
    p.state_json = "[1, 2]";
    CHECK_FAILS(ttt_ckpt_save(&p, NULL), TTT_ERR_FORMAT, "trainer_state.json: top level");
    p = params(60);
    p.config_json = "{\"architectures\": [\"Qwen3ForCausalLM\"]}";
    CHECK_FAILS(ttt_ckpt_save(&p, NULL), TTT_ERR_CONFIG, "num_hidden_layers");
    /* weights that would not load under the config */
    p = params(60);
    p.n_weights = g_nw - 1;
    CHECK_FAILS(ttt_ckpt_save(&p, NULL), TTT_ERR_ARG, "checkpoint weights lack '");
    ttt_ckpt_tensor *w = malloc(sizeof *w * (size_t)g_nw);
    memcpy(w, g_w, sizeof *w * (size_t)g_nw);
    w[0].shape[0]--;
    p = params(60);
    p.weights = w;
    CHECK_FAILS(ttt_ckpt_save(&p, NULL), TTT_ERR_ARG, "does not have the shape config.json");
    free(w);
    p = params(60);
    ttt_ckpt_tensor dup[2] = {g_state[0], g_state[0]};
    p.state = dup;
    CHECK_FAILS(ttt_ckpt_save(&p, NULL), TTT_ERR_ARG, "duplicate tensor name \"adam.m.embed\"");
    CHECK(!exists(g_root, "checkpoint-60") && !exists(g_root, "checkpoint-60.tmp"));
    char *latest = NULL;
    CHECK_OK(ttt_ckpt_latest(g_root, &latest));
    CHECK(latest && strstr(latest, "checkpoint-50"));
    free(latest);
    CHECK_FAILS(ttt_ckpt_latest("/nonexistent", &latest), TTT_ERR_IO, "/nonexistent/latest");
    char lp[1100];
    snprintf(lp, sizeof lp, "%s/latest", g_root);
    f = fopen(lp, "w");
    if (f) fputs("../etc\n", f), fclose(f);
    CHECK_FAILS(ttt_ckpt_latest(g_root, &latest), TTT_ERR_FORMAT, "does not name");
}

int main(void) {
    g_tmp = getenv("TTT_TEST_TMP");
    if (!g_tmp) g_tmp = "/tmp";
    g_golden = getenv("TTT_GOLDEN");
    char path[1024];
    snprintf(path, sizeof path, "%s/qwen3/model.safetensors", g_golden ? g_golden : "");
    if (!g_golden || ttt_st_open(path, &g_model) != TTT_OK) {
        fprintf(stderr, "test_ckpt: golden fixtures not found (TTT_GOLDEN): skipped\n");
        return 77;
    }
    snprintf(path, sizeof path, "%s/qwen3/config.json", g_golden);
    size_t n;
    ttt_read_file(path, 1 << 20, &g_config, &n);
    g_nw = g_model.n_tensors;
    g_w = calloc((size_t)g_nw, sizeof *g_w);
    for (int i = 0; i < g_nw; i++) {
        const ttt_st_tensor *t = &g_model.tensors[i];
        g_w[i] = (ttt_ckpt_tensor){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
                                   .data = t->data};
        memcpy(g_w[i].shape, t->shape, sizeof t->shape);
    }
    snprintf(g_root, sizeof g_root, "%s/ckpt_root", g_tmp);
    /* a clean root: earlier runs' checkpoints would collide */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0) return 1;
    test_save_load();
    test_full_disk();
    test_bad();
    free(g_w);
    free(g_config);
    ttt_st_close(&g_model);
    return check_summary("test_ckpt");
}
