/* test_add_ttt.c - `ttt add-ttt` on plain checkpoints made here from the golden models (TTT
 * fields and tensors stripped) and from `ttt init` (bf16): with the official initialisation
 * the TTT model's logits with TTT on equal, bit for bit, those with TTT off and those of the
 * plain model; the config keeps every input field and gains the TTT ones; tokenizer files are
 * copied byte for byte; the new tensors have the documented values; bad input fails with a
 * message naming the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/json.h"
#include "io/safetensors.h"

#define T 21 /* five chunks of 4 and one token: every fast-weight update runs */

static const char *g_tmp, *g_golden;

static char *slurp(const char *path, size_t *n) {
    char *text = NULL;
    *n = 0;
    if (ttt_read_file(path, (size_t)1 << 28, &text, n) != TTT_OK) return NULL;
    return text;
}

static void spit(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static int same_file(const char *a_dir, const char *b_dir, const char *name) {
    char a[2048], b[2048];
    snprintf(a, sizeof a, "%s/%s", a_dir, name);
    snprintf(b, sizeof b, "%s/%s", b_dir, name);
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static const ttt_st_file *g_src; /* the golden model.safetensors being copied */
static const ttt_st_desc *g_descs;

static ttt_status copy_fill(void *ctx, int i, void *dst, size_t n) {
    (void)ctx;
    memcpy(dst, ttt_st_find(g_src, g_descs[i].name)->data, n);
    return TTT_OK;
}

/* A plain checkpoint from a golden model: config.json without the ttt_* fields, weights
 * without the ttt tensors, and tokenizer files. */
static int make_plain(const char *model, const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/config.json", g_golden, model);
    size_t n;
    char *text = slurp(path, &n);
    cJSON *o = NULL;
    if (!text || ttt_json_parse_object(text, n, path, &o) != TTT_OK) return -1;
    free(text);
    static const char *const ttt_keys[] = {"ttt_mode", "ttt_layers", "ttt_chunk", "ttt_lr",
                                           "ttt_target", "ttt_proj"};
    for (size_t k = 0; k < 6; k++) cJSON_DeleteItemFromObjectCaseSensitive(o, ttt_keys[k]);
    mkdir(dir, 0755);
    text = cJSON_Print(o);
    spit(dir, "config.json", text);
    cJSON_free(text);
    cJSON_Delete(o);

    ttt_st_file f;
    snprintf(path, sizeof path, "%s/%s/model.safetensors", g_golden, model);
    if (ttt_st_open(path, &f) != TTT_OK) return -1;
    ttt_st_desc *d = calloc((size_t)f.n_tensors, sizeof *d);
    int k = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const ttt_st_tensor *t = &f.tensors[i];
        if (strstr(t->name, ".ttt_")) continue;
        d[k] = (ttt_st_desc){.name = t->name, .dtype = t->dtype, .ndim = t->ndim};
        memcpy(d[k].shape, t->shape, sizeof t->shape);
        k++;
    }
    g_src = &f;
    g_descs = d;
    ttt_status st = ttt_st_save(dir, d, k, UINT64_MAX, copy_fill, NULL);
    free(d);
    ttt_st_close(&f);
    snprintf(path, sizeof path, "%s/tokenizers/qwen2/tokenizer.json", g_golden);
    text = slurp(path, &n);
    if (text) spit(dir, "tokenizer.json", text);
    free(text);
    spit(dir, "tokenizer_config.json", "{\"model_max_length\": 4096, \"eos_token\": \"<e>\"}\n");
    spit(dir, "generation_config.json", "{\"do_sample\": false}\n");
    spit(dir, "special_tokens_map.json", "{\"eos_token\": \"<e>\"}\n");
    return st == TTT_OK ? 0 : -1;
}

/* Logits of every position of a fixed sequence, in a fresh session of mode. */
static float *logits_of(ttt_model *m, int mode) {
    ttt_model_info info;
    ttt_model_get_info(m, &info);
    int32_t ids[T];
    for (int i = 0; i < T; i++) ids[i] = (i * 97 + 13) % info.n_vocab;
    ttt_session_params p = ttt_session_default_params();
    p.n_ctx = T;
    p.ttt_mode = mode;
    ttt_session *s;
    float *out = malloc(sizeof(float) * T * (size_t)info.n_vocab);
    if (ttt_session_init(m, &p, &s) != TTT_OK) {
        free(out);
        return NULL;
    }
    /* two calls: prefill, then the rest, so incremental state carries the updates too */
    ttt_status st = ttt_session_eval(s, ids, 9, &(ttt_eval_out){.logits = out, .logits_all = 1});
    if (!st)
        st = ttt_session_eval(s, ids + 9, T - 9, &(ttt_eval_out){.logits = out + 9 * info.n_vocab,
                                                                 .logits_all = 1});
    ttt_session_free(s);
    if (st) {
        free(out);
        return NULL;
    }
    return out;
}

/* TTT on, TTT off and the plain model: the same bits. */
static void check_same_logits(const char *plain, const char *out) {
    ttt_model *mp = NULL, *mt = NULL;
    CHECK_OK(ttt_model_load(plain, &mp));
    CHECK_OK(ttt_model_load(out, &mt));
    if (!mp || !mt) goto done;
    ttt_model_info info;
    ttt_model_get_info(mt, &info);
    CHECK(info.ttt_enabled && info.n_ttt_layers == 2 && info.ttt_chunk == 4);
    float *on = logits_of(mt, TTT_MODE_ON), *off = logits_of(mt, TTT_MODE_OFF);
    float *base = logits_of(mp, TTT_MODE_ON);
    size_t bytes = sizeof(float) * T * (size_t)info.n_vocab;
    CHECK(on && off && base);
    if (on && off && base) {
        CHECK(memcmp(on, off, bytes) == 0);
        CHECK(memcmp(on, base, bytes) == 0);
        int finite = 1;
        for (size_t i = 0; i < bytes / sizeof(float); i++) finite &= isfinite(on[i]);
        CHECK(finite);
    }
    free(on);
    free(off);
    free(base);
done:
    ttt_model_free(mp);
    ttt_model_free(mt);
}

/* Every field of the input config is kept; the TTT fields are the ones asked for. */
static void check_config(const char *plain, const char *out, const char *layers_json,
                         const char *target, int proj) {
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/config.json", plain);
    snprintf(b, sizeof b, "%s/config.json", out);
    size_t na, nb;
    char *ta = slurp(a, &na), *tb = slurp(b, &nb);
    cJSON *ca = NULL, *cb = NULL;
    CHECK(ta && tb && !ttt_json_parse_object(ta, na, a, &ca) &&
          !ttt_json_parse_object(tb, nb, b, &cb));
    if (ca && cb) {
        const cJSON *v;
        int kept = 1, n_a = 0, n_b = 0;
        cJSON_ArrayForEach(v, ca) {
            if (!strncmp(v->string, "ttt_", 4)) continue;
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(cb, v->string);
            if (!w || !cJSON_Compare(v, w, 1)) kept = 0;
            n_a++;
        }
        cJSON_ArrayForEach(v, cb) n_b += strncmp(v->string, "ttt_", 4) != 0;
        CHECK(kept && n_a == n_b && n_a > 20);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cb, "ttt_mode")));
        cJSON *want = cJSON_Parse(layers_json);
        CHECK(cJSON_Compare(want, cJSON_GetObjectItemCaseSensitive(cb, "ttt_layers"), 1));
        cJSON_Delete(want);
        CHECK(cJSON_GetObjectItemCaseSensitive(cb, "ttt_chunk")->valuedouble == 4);
        CHECK(cJSON_GetObjectItemCaseSensitive(cb, "ttt_lr")->valuedouble == 3);
        CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(cb, "ttt_target")->valuestring, target));
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cb, "ttt_proj")) == proj);
    }
    cJSON_Delete(ca);
    cJSON_Delete(cb);
    free(ta);
    free(tb);
}

/* ttt_conv all zero; ttt_proj zero but for a diagonal of about N(0, 0.02^2); copied tensors
 * equal to the input's. Returns the diagonal's first value (to compare seeds). */
static float check_tensors(const char *plain, const char *out, int layer, ttt_dtype dt) {
    ttt_tensors *to = NULL, *tp = NULL;
    CHECK_OK(ttt_tensors_open(out, &to));
    CHECK_OK(ttt_tensors_open(plain, &tp));
    float first = NAN;
    if (!to || !tp) goto done;
    int same = 1;
    for (int i = 0; i < ttt_tensors_count(tp); i++) {
        ttt_tensor_info a, b;
        ttt_tensors_get(tp, i, &a);
        if (ttt_tensors_find(to, a.name, &b) || a.dtype != b.dtype || a.n_bytes != b.n_bytes ||
            memcmp(a.data, b.data, a.n_bytes))
            same = 0;
    }
    CHECK(same);
    CHECK(ttt_tensors_count(to) == ttt_tensors_count(tp) + 4);
    char name[128];
    ttt_tensor_info ti;
    snprintf(name, sizeof name, "model.layers.%d.mlp.ttt_conv.weight", layer);
    CHECK_OK(ttt_tensors_find(to, name, &ti));
    if (ti.data) {
        CHECK(ti.dtype == dt && ti.ndim == 3 && ti.shape[1] == 1 && ti.shape[2] == 5);
        int zero = 1;
        for (uint64_t k = 0; k < ti.n_bytes; k++) zero &= ((const uint8_t *)ti.data)[k] == 0;
        CHECK(zero);
    }
    snprintf(name, sizeof name, "model.layers.%d.mlp.ttt_proj.weight", layer);
    memset(&ti, 0, sizeof ti);
    CHECK_OK(ttt_tensors_find(to, name, &ti));
    if (ti.data) {
        int64_t D = ti.shape[0];
        CHECK(ti.dtype == dt && ti.ndim == 2 && ti.shape[1] == D);
        float *P = malloc(sizeof(float) * ti.n_elements);
        ttt_tensor_to_f32(&ti, P);
        int off_zero = 1, diag_nonzero = 0;
        double ss = 0;
        for (int64_t i = 0; i < D; i++)
            for (int64_t j = 0; j < D; j++) {
                float v = P[i * D + j];
                if (i != j) off_zero &= v == 0.0f;
                else diag_nonzero += v != 0.0f, ss += (double)v * v;
            }
        CHECK(off_zero && diag_nonzero == D);
        double sd = sqrt(ss / (double)D); /* 64 samples: within 40 % of 0.02 */
        CHECK(sd > 0.012 && sd < 0.028);
        first = P[0];
        free(P);
    }
done:
    ttt_tensors_close(to);
    ttt_tensors_close(tp);
    return first;
}

static void test_golden(void) {
    char plain[1024], out[1024], out2[1024];
    snprintf(plain, sizeof plain, "%s/addttt_plain_qwen3", g_tmp);
    snprintf(out, sizeof out, "%s/addttt_qwen3", g_tmp);
    snprintf(out2, sizeof out2, "%s/addttt_qwen3_seed8", g_tmp);
    CHECK(make_plain("qwen3", plain) == 0);
    ttt_add_ttt_params p = ttt_add_ttt_default_params();
    p.layers = "0,2";
    p.chunk = 4;
    p.lr = 3.0f;
    p.seed = 7;
    p.max_shard = 300000; /* sharded output, with an index */
    CHECK_OK(ttt_checkpoint_add_ttt(plain, out, &p));
    char idx[1100];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", out);
    CHECK(access(idx, F_OK) == 0);
    check_same_logits(plain, out);
    check_config(plain, out, "[0, 2]", "hidden_states", 1);
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json",
                                        "generation_config.json", "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) CHECK(same_file(plain, out, files[i]));
    char tm[1100];
    snprintf(tm, sizeof tm, "%s/tokenizer.model", out);
    CHECK(access(tm, F_OK) != 0); /* absent in the input: not made up */
    float d7 = check_tensors(plain, out, 2, TTT_DT_F32);
    p.seed = 8;
    p.max_shard = 0;
    CHECK_OK(ttt_checkpoint_add_ttt(plain, out2, &p));
    float d8 = check_tensors(plain, out2, 2, TTT_DT_F32);
    CHECK(d7 == d7 && d8 == d8 && d7 != d8); /* the seed picks the diagonal */
}

/* A bf16 Gemma3 (input_embed target, no ttt_proj) made by `ttt init` without TTT layers. */
static void test_bf16_gemma(void) {
    char cfg[1024], plain[1024], out[1024];
    snprintf(cfg, sizeof cfg, "%s/gemma3/config.json", g_golden);
    snprintf(plain, sizeof plain, "%s/addttt_plain_gemma_bf16", g_tmp);
    snprintf(out, sizeof out, "%s/addttt_gemma_bf16", g_tmp);
    ttt_init_params ip = ttt_init_default_params();
    ip.config_path = cfg;
    ip.ttt_layers = "";
    CHECK_OK(ttt_checkpoint_init(plain, &ip));
    ttt_add_ttt_params p = ttt_add_ttt_default_params();
    p.layers = "1,4";
    p.chunk = 4;
    p.lr = 3.0f;
    p.no_proj = 1;
    p.target = "input_embed";
    CHECK_OK(ttt_checkpoint_add_ttt(plain, out, &p));
    check_same_logits(plain, out);
    check_config(plain, out, "[1, 4]", "input_embed", 0);
    ttt_tensors *t = NULL;
    CHECK_OK(ttt_tensors_open(out, &t));
    ttt_tensor_info ti;
    CHECK_OK(ttt_tensors_find(t, "model.layers.4.mlp.ttt_conv.weight", &ti));
    CHECK(ti.dtype == TTT_DT_BF16);
    CHECK(ttt_tensors_find(t, "model.layers.4.mlp.ttt_proj.weight", &ti) == TTT_ERR_FORMAT);
    ttt_tensors_close(t);
}

static void test_bad(void) {
    char plain[1024], out[1024], golden[1024];
    snprintf(plain, sizeof plain, "%s/addttt_plain_qwen3", g_tmp);
    snprintf(out, sizeof out, "%s/addttt_bad", g_tmp);
    snprintf(golden, sizeof golden, "%s/qwen3", g_golden);
    ttt_add_ttt_params p = ttt_add_ttt_default_params();
    p.layers = "0,4";
    CHECK_FAILS(ttt_checkpoint_add_ttt(plain, out, &p), TTT_ERR_ARG, "layer 4, but");
    p.layers = "1,1";
    CHECK_FAILS(ttt_checkpoint_add_ttt(plain, out, &p), TTT_ERR_ARG, "named twice");
    p.layers = "x";
    CHECK_FAILS(ttt_checkpoint_add_ttt(plain, out, &p), TTT_ERR_ARG, "--layers");
    p.layers = "1";
    p.target = "logits";
    CHECK_FAILS(ttt_checkpoint_add_ttt(plain, out, &p), TTT_ERR_ARG, "--target 'logits'");
    p.target = NULL;
    CHECK_FAILS(ttt_checkpoint_add_ttt(golden, out, &p), TTT_ERR_ARG, "TTT layers already");
    CHECK_FAILS(ttt_checkpoint_add_ttt(plain, plain, &p), TTT_ERR_ARG, "is the input");
    CHECK_FAILS(ttt_checkpoint_add_ttt("/nonexistent/model", out, &p), TTT_ERR_IO,
                "/nonexistent/model");
    /* a config that disagrees with the weights is refused before anything is written */
    char bad[1024];
    snprintf(bad, sizeof bad, "%s/addttt_plain_badshape", g_tmp);
    CHECK(make_plain("qwen3", bad) == 0);
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", bad);
    size_t n;
    char *text = slurp(path, &n);
    cJSON *o = NULL;
    CHECK(text && !ttt_json_parse_object(text, n, path, &o));
    free(text);
    ttt_json_set(o, "intermediate_size", cJSON_CreateNumber(128));
    text = cJSON_Print(o);
    spit(bad, "config.json", text);
    cJSON_free(text);
    cJSON_Delete(o);
    snprintf(path, sizeof path, "%s/config.json", out);
    unlink(path); /* of an earlier run */
    CHECK_FAILS(ttt_checkpoint_add_ttt(bad, out, &p), TTT_ERR_FORMAT,
                "does not have the shape config.json implies");
    /* and ttt_model_load refuses such a directory too (the loader's own check) */
    ttt_model *m = NULL;
    CHECK_FAILS(ttt_model_load(bad, &m), TTT_ERR_FORMAT, "config.json implies [128, 64]");
    CHECK(m == NULL);
    CHECK(access(path, F_OK) != 0);
}

int main(void) {
    g_tmp = getenv("TTT_TEST_TMP");
    if (!g_tmp) g_tmp = "/tmp";
    g_golden = getenv("TTT_GOLDEN");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/qwen3/model.safetensors", g_golden ? g_golden : "");
    if (!g_golden || access(probe, R_OK) != 0) {
        fprintf(stderr, "test_add_ttt: golden fixtures not found (TTT_GOLDEN): skipped\n");
        return 77;
    }
    test_golden();
    test_bf16_gemma();
    test_bad();
    return check_summary("test_add_ttt");
}
