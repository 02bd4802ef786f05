/* test_init.c - `ttt init`: presets carry the real shapes and the authors' TTT settings,
 * overrides apply, a seed gives the same bytes, values follow the documented distributions,
 * and the checkpoint loads and runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "model/config.h"
#include "model/init.h"

static const char *g_tmp;

static int preset_config(const char *name, ttt_config *c) {
    cJSON *o = ttt_preset_config(name);
    if (!o) return -1;
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    ttt_status st = ttt_config_parse(text, strlen(text), name, c);
    cJSON_free(text);
    return st == TTT_OK ? 0 : -1;
}

static void test_presets(void) {
    int n = 0;
    for (const char *const *p = ttt_presets(); *p; p++, n++) {
        ttt_config c;
        CHECK(preset_config(*p, &c) == 0);
    }
    CHECK(n == 6);
    ttt_config c;
    CHECK(preset_config("qwen3-4b", &c) == 0);
    CHECK(c.d_model == 2560 && c.d_ff == 9728 && c.n_layers == 36 && c.n_heads == 32);
    CHECK(c.n_kv_heads == 8 && c.head_dim == 128 && c.n_vocab == 151936 && c.tie_embeddings);
    CHECK(c.ttt_chunk == 4096 && c.ttt_lr == 3.0f && c.n_ttt_layers == 6);
    CHECK(c.layer_ttt[0] && c.layer_ttt[6] && c.layer_ttt[30] && !c.layer_ttt[35]);
    CHECK(preset_config("llama3.1-8b", &c) == 0);
    CHECK(c.arch == TTT_ARCH_LLAMA && c.rope_global.kind == TTT_ROPE_LLAMA3 && !c.tie_embeddings);
    CHECK(c.d_ff == 14336 && c.n_vocab == 128256 && c.n_ttt_layers == 6);
    CHECK(preset_config("gemma3-1b", &c) == 0);
    CHECK(c.arch == TTT_ARCH_GEMMA3 && c.n_layers == 26 && c.head_dim == 256 && c.n_kv_heads == 1);
    CHECK(c.sliding_window == 512 && c.layer_sliding[0] && !c.layer_sliding[5]);
    CHECK(c.ttt_chunk == 2048 && fabsf(c.ttt_lr - 0.3f) < 1e-7f && c.n_ttt_layers == 5);
    CHECK(ttt_preset_config("qwen9") == NULL);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n ? *n : 1);
    if (b && fread(b, 1, *n, f) != *n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    return b;
}

static const char *SMALL =
    "{\"architectures\": [\"Gemma3ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": "
    "96, \"num_hidden_layers\": 4, \"num_attention_heads\": 2, \"num_key_value_heads\": 1, "
    "\"head_dim\": 32, \"vocab_size\": 300, \"sliding_window\": 16, \"layer_types\": "
    "[\"sliding_attention\", \"full_attention\", \"sliding_attention\", \"full_attention\"], "
    "\"ttt_mode\": true, \"ttt_layers\": [1], \"ttt_chunk\": 32, \"ttt_lr\": 0.5}";

static void init_dir(const char *name, ttt_init_params *p, char *dir, size_t cap) {
    snprintf(dir, cap, "%s/init_%s", g_tmp, name);
    CHECK_OK(ttt_checkpoint_init(dir, p));
}

static void test_small(void) {
    char cfg_path[1024], a[1024], b[1024], c2[1024];
    snprintf(cfg_path, sizeof cfg_path, "%s/init_small_config.json", g_tmp);
    FILE *f = fopen(cfg_path, "w");
    fputs(SMALL, f);
    fclose(f);

    ttt_init_params p = ttt_init_default_params();
    p.config_path = cfg_path;
    p.seed = 5;
    p.ttt_chunk = 8;
    p.ttt_layers = "0,3";
    p.n_layers = 3; /* drops layer 3 and the last layer_types entry */
    init_dir("a", &p, a, sizeof a);
    init_dir("b", &p, b, sizeof b);
    p.seed = 6;
    init_dir("c", &p, c2, sizeof c2);

    char pa[1100], pb[1100], pc[1100];
    snprintf(pa, sizeof pa, "%s/model.safetensors", a);
    snprintf(pb, sizeof pb, "%s/model.safetensors", b);
    snprintf(pc, sizeof pc, "%s/model.safetensors", c2);
    size_t na, nb, nc;
    char *da = slurp(pa, &na), *db = slurp(pb, &nb), *dc = slurp(pc, &nc);
    CHECK(da && db && dc && na == nb && na == nc);
    if (da && db && dc && na == nb && na == nc) {
        CHECK(memcmp(da, db, na) == 0); /* same seed, same bytes */
        CHECK(memcmp(da, dc, na) != 0); /* another seed, other weights */
    }
    free(da);
    free(db);
    free(dc);

    ttt_model *m;
    CHECK_OK(ttt_model_load(a, &m));
    if (!m) return;
    ttt_model_info info;
    ttt_model_get_info(m, &info);
    CHECK(info.n_layers == 3 && info.ttt_chunk == 8 && info.n_ttt_layers == 1);
    CHECK(info.dtype == TTT_DT_BF16 && !strcmp(info.arch, "gemma3"));

    /* the distributions the README documents */
    ttt_tensors *t;
    CHECK_OK(ttt_tensors_open(a, &t));
    ttt_tensor_info ti;
    CHECK_OK(ttt_tensors_find(t, "model.embed_tokens.weight", &ti));
    float *v = malloc(sizeof(float) * ti.n_elements);
    ttt_tensor_to_f32(&ti, v);
    double s = 0, ss = 0;
    for (uint64_t i = 0; i < ti.n_elements; i++) {
        s += v[i];
        ss += (double)v[i] * v[i];
    }
    double sd = sqrt(ss / ti.n_elements - (s / ti.n_elements) * (s / ti.n_elements));
    CHECK(fabs(sd - 0.02) < 0.002 && fabs(s / ti.n_elements) < 0.001);
    free(v);
    CHECK_OK(ttt_tensors_find(t, "model.layers.0.input_layernorm.weight", &ti));
    float norm[64];
    ttt_tensor_to_f32(&ti, norm);
    CHECK(norm[0] == 0.0f && norm[63] == 0.0f); /* Gemma: (1 + w) with w = 0 */
    CHECK_OK(ttt_tensors_find(t, "model.layers.0.mlp.ttt_proj.weight", &ti));
    float *P = malloc(sizeof(float) * 64 * 64);
    ttt_tensor_to_f32(&ti, P);
    int off_diag_zero = 1, diag_nonzero = 0;
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++) {
            if (i != j && P[i * 64 + j] != 0.0f) off_diag_zero = 0;
            if (i == j && P[i * 64 + j] != 0.0f) diag_nonzero++;
        }
    CHECK(off_diag_zero && diag_nonzero == 64);
    free(P);
    CHECK(ttt_tensors_find(t, "model.layers.3.mlp.down_proj.weight", &ti) == TTT_ERR_FORMAT);
    ttt_tensors_close(t);

    /* and it runs */
    ttt_session *s1;
    CHECK_OK(ttt_session_init(m, NULL, &s1));
    int32_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = (i * 37) % 300;
    float logits[300];
    CHECK_OK(ttt_session_eval(s1, ids, 20, &(ttt_eval_out){.logits = logits}));
    int finite = 1;
    for (int i = 0; i < 300; i++) finite &= isfinite(logits[i]);
    CHECK(finite);
    ttt_session_free(s1);
    ttt_model_free(m);

    /* no TTT layers: ttt_mode goes off; missing parent directories are created */
    p.ttt_layers = "";
    init_dir("nested/deeper/none", &p, a, sizeof a);
    CHECK_OK(ttt_model_load(a, &m));
    if (m) {
        ttt_model_get_info(m, &info);
        CHECK(!info.ttt_enabled && info.n_ttt_layers == 0);
        ttt_model_free(m);
    }
}

static void test_bad(void) {
    ttt_init_params p = ttt_init_default_params();
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/init_bad", g_tmp);
    p.preset = "qwen9-1t";
    CHECK_FAILS(ttt_checkpoint_init(dir, &p), TTT_ERR_ARG, "qwen3-0.6b");
    p.preset = NULL;
    CHECK_FAILS(ttt_checkpoint_init(dir, &p), TTT_ERR_ARG, "preset or a config");
    p.preset = "qwen3-0.6b";
    p.ttt_layers = "1,,x";
    CHECK_FAILS(ttt_checkpoint_init(dir, &p), TTT_ERR_ARG, "--ttt-layers");
    p.ttt_layers = NULL;
    p.dtype = TTT_DT_I8;
    CHECK_FAILS(ttt_checkpoint_init(dir, &p), TTT_ERR_ARG, "dtype");
    p.dtype = TTT_DT_BF16;
    p.n_layers = 1;
    char file[1100];
    snprintf(file, sizeof file, "%s/init_a_file", g_tmp);
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    snprintf(dir, sizeof dir, "%s/init_a_file/model", g_tmp);
    CHECK_FAILS(ttt_checkpoint_init(dir, &p), TTT_ERR_IO, "init_a_file");
    p.preset = NULL;
    p.config_path = "/nonexistent/config.json";
    CHECK_FAILS(ttt_checkpoint_init(dir, &p), TTT_ERR_IO, "/nonexistent/config.json");
}

int main(void) {
    g_tmp = getenv("TTT_TEST_TMP");
    if (!g_tmp) g_tmp = "/tmp";
    test_presets();
    test_small();
    test_bad();
    return check_summary("test_init");
}
