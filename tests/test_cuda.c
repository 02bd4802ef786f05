/* test_cuda.c - the CUDA backend against reference logits: the golden fixtures (PyTorch,
 * float32) and test_reference's bf16-weight model (its naive reference), over whole-sequence
 * prefill, token-by-token decode and calls of 7 tokens. The fp32 mode must be within 1e-4.
 * bf16 is held to looser bounds, measured rather than hoped for (docs/CUDA_VERIFY.md): on
 * these tiny random models with large TTT updates, rounding the weights to bf16 alone moves
 * the logits by 3e-2 to 5e-2 (PyTorch + HF in bf16 lands at 1.3e-2 to 3.3e-2), and bf16
 * activations alone by 3e-2 on the bf16-weight model; 1e-1 and 5e-2 still catch a wrong
 * kernel, whose errors are of order 1.
 * Without a GPU (or without the backend) it checks the error that explains why, then skips
 * (exit 77), as CI has nvcc but no GPU. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cpu/cpu.h"
#include "ttt.h"

static const char *golden(void) {
    const char *g = getenv("TTT_GOLDEN");
    return g && *g ? g : "../shared/golden";
}

/* Runs ids in calls of `step` tokens (0: all at once), all logits into out [T, V]. */
static ttt_status run(ttt_model *m, const int32_t *ids, int T, int V, int step, float *out) {
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = T;
    ttt_session *s;
    ttt_status st = ttt_session_init(m, &sp, &s);
    for (int pos = 0; st == TTT_OK && pos < T;) {
        int n = step > 0 && step < T - pos ? step : T - pos;
        ttt_eval_out o = {.logits = out + (size_t)pos * V, .logits_all = 1};
        st = ttt_session_eval(s, ids + pos, n, &o);
        pos += n;
    }
    ttt_session_free(s);
    return st;
}

/* Three sessions stepping through ids together (ttt_batch_decode), after prefills of 0, 9 and
 * 30 tokens; every row of every session into outs[k] [T, V]. */
static ttt_status run_batched(ttt_model *m, const int32_t *ids, int T, int V, float *outs[3]) {
    static const int pre[3] = {0, 9, 30};
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = T;
    ttt_session *s[3] = {0};
    ttt_batch *b = NULL;
    float *lg = malloc(sizeof(float) * 3 * (size_t)V);
    ttt_status st = lg ? ttt_batch_init(m, 3, &b) : TTT_ERR_NOMEM;
    for (int k = 0; k < 3 && st == TTT_OK; k++) {
        st = ttt_session_init(m, &sp, &s[k]);
        ttt_eval_out o = {.logits = outs[k], .logits_all = 1};
        if (st == TTT_OK && pre[k] > 0) st = ttt_session_eval(s[k], ids, pre[k], &o);
    }
    for (int step = 0; st == TTT_OK; step++) {
        ttt_session *run_s[3];
        int32_t tok[3];
        int n = 0;
        for (int k = 0; k < 3; k++)
            if (ttt_session_n_past(s[k]) < T) {
                run_s[n] = s[k];
                tok[n++] = ids[ttt_session_n_past(s[k])];
            }
        if (n == 0) break;
        st = ttt_batch_decode(b, run_s, n, tok, lg);
        for (int r = 0; st == TTT_OK && r < n; r++) {
            const int k = run_s[r] == s[0] ? 0 : run_s[r] == s[1] ? 1 : 2;
            memcpy(outs[k] + (size_t)(ttt_session_n_past(s[k]) - 1) * V, lg + (size_t)r * V,
                   sizeof(float) * V);
        }
    }
    for (int k = 0; k < 3; k++) ttt_session_free(s[k]);
    ttt_batch_free(b);
    free(lg);
    return st;
}

static void check_model(const char *dir, const char *name, int precision, double tol) {
    char path[4200];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    ttt_model_params mp = ttt_model_default_params();
    mp.device = TTT_DEVICE_CUDA;
    mp.precision = precision;
    ttt_model *m = NULL;
    ttt_tensors *exp = NULL;
    ttt_tensor_info ids_i, lg_i;
    CHECK_OK(ttt_model_load_ex(dir, &mp, &m));
    CHECK_OK(ttt_tensors_open(path, &exp));
    if (!m || !exp || ttt_tensors_find(exp, "input_ids", &ids_i) != TTT_OK ||
        ttt_tensors_find(exp, "logits", &lg_i) != TTT_OK || ids_i.dtype != TTT_DT_I32) {
        CHECK(0);
        ttt_tensors_close(exp);
        ttt_model_free(m);
        return;
    }
    ttt_model_info info;
    ttt_model_get_info(m, &info);
    const int T = (int)ids_i.n_elements, V = info.n_vocab;
    const int32_t *ids = ids_i.data;
    float *ref = malloc(sizeof(float) * (size_t)T * V), *got = malloc(sizeof(float) * (size_t)T * V);
    double *refd = malloc(sizeof(double) * (size_t)T * V);
    CHECK(ref && got && refd && lg_i.n_elements == (uint64_t)T * V);
    if (ref && got && refd && lg_i.n_elements == (uint64_t)T * V) {
        CHECK_OK(ttt_tensor_to_f32(&lg_i, ref));
        for (size_t i = 0; i < (size_t)T * V; i++) refd[i] = ref[i];
        const int steps[] = {0, 1, 7};
        for (int k = 0; k < 3; k++) {
            for (size_t i = 0; i < (size_t)T * V; i++) got[i] = NAN; /* every row written */
            CHECK_OK(run(m, ids, T, V, steps[k], got));
            double e = check_max_rel(got, refd, (size_t)T * V);
            printf("%s %s step %d: max rel err %.3e (tol %.0e)\n", name,
                   precision == TTT_PREC_F32 ? "f32" : "bf16", steps[k], e, tol);
            CHECK(e <= tol);
        }
        float *outs[3] = {got, malloc(sizeof(float) * (size_t)T * V),
                          malloc(sizeof(float) * (size_t)T * V)};
        CHECK(outs[1] && outs[2]);
        if (outs[1] && outs[2]) {
            for (size_t i = 0; i < (size_t)T * V; i++) got[i] = outs[1][i] = outs[2][i] = NAN;
            CHECK_OK(run_batched(m, ids, T, V, outs));
            for (int k = 0; k < 3; k++) {
                double e = check_max_rel(outs[k], refd, (size_t)T * V);
                printf("%s %s batched, session %d: max rel err %.3e (tol %.0e)\n", name,
                       precision == TTT_PREC_F32 ? "f32" : "bf16", k, e, tol);
                CHECK(e <= tol);
            }
        }
        free(outs[1]);
        free(outs[2]);
    }
    free(ref);
    free(got);
    free(refd);
    ttt_tensors_close(exp);
    ttt_model_free(m);
}

static int first_max(const float *l, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) b = l[i] > l[b] ? i : b;
    return b;
}

/* A GPU model with two sessions of n_ctx tokens and a batch of two: what the argmax and
 * top-k checks step. */
typedef struct gpu_pair {
    ttt_model *m;
    ttt_session *a, *b;
    ttt_batch *bt;
    int V;      /* vocabulary */
} gpu_pair;

/* 0 when the model did not load (nothing to free); else 1, with a, b, bt set or NULL. */
static int gpu_pair_open(const char *dir, int n_ctx, gpu_pair *g) {
    memset(g, 0, sizeof *g);
    ttt_model_params mp = ttt_model_default_params();
    mp.device = TTT_DEVICE_CUDA;
    CHECK_OK(ttt_model_load_ex(dir, &mp, &g->m));
    if (!g->m) return 0;
    ttt_model_info mi;
    ttt_model_get_info(g->m, &mi);
    g->V = mi.n_vocab;
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = n_ctx;
    CHECK_OK(ttt_session_init(g->m, &sp, &g->a));
    CHECK_OK(ttt_session_init(g->m, &sp, &g->b));
    CHECK_OK(ttt_batch_init(g->m, 2, &g->bt));
    return 1;
}

static void gpu_pair_close(gpu_pair *g) {
    ttt_batch_free(g->bt);
    ttt_session_free(g->a);
    ttt_session_free(g->b);
    ttt_model_free(g->m);
}

/* The argmax computed on the GPU (ttt_eval_out.argmax, ttt_batch_decode_argmax) against the
 * first maximum of the logits the GPU returns for the same rows. */
static void check_argmax(const char *dir) {
    enum { N = 24 };
    gpu_pair gp;
    if (!gpu_pair_open(dir, N + 2, &gp)) return;
    ttt_session *const a = gp.a, *const b = gp.b;
    ttt_batch *const bt = gp.bt;
    const int V = gp.V;
    int32_t tok[N], ids[N], bi[2];
    for (int i = 0; i < N; i++) tok[i] = (i * 37 + 5) % V;
    float *lg = malloc(sizeof(float) * (size_t)N * V);
    int bad = 0;
    if (lg && a && b && bt) {
        CHECK_OK(ttt_session_eval(a, tok, N, &(ttt_eval_out){.logits = lg, .logits_all = 1}));
        CHECK_OK(ttt_session_eval(b, tok, N, &(ttt_eval_out){.argmax = ids, .logits_all = 1}));
        for (int t = 0; t < N; t++) bad += ids[t] != first_max(lg + (size_t)t * V, V);
        const int32_t nt[2] = {3, 4};
        CHECK_OK(ttt_batch_decode_argmax(bt, (ttt_session *const[]){a, b}, 2, nt, lg, bi));
        for (int r = 0; r < 2; r++) bad += bi[r] != first_max(lg + (size_t)r * V, V);
    }
    printf("argmax on the GPU: %d of %d rows differ from the logits' first maximum\n", bad, N + 2);
    CHECK(bad == 0);
    free(lg);
    gpu_pair_close(&gp);
}

/* A model larger than the GPU and memory running out mid-run (the KV cache cannot grow):
 * clear NOMEM errors, and the session goes on once memory is back (TTT_CUDA_MEM_LIMIT_KB
 * caps what the backend may hold). */
static void check_out_of_memory(const char *dir) {
    ttt_model_params mp = ttt_model_default_params();
    mp.device = TTT_DEVICE_CUDA;
    ttt_model *m = NULL;
    setenv("TTT_CUDA_MEM_LIMIT_KB", "1", 1); /* the weights need more */
    CHECK_FAILS(ttt_model_load_ex(dir, &mp, &m), TTT_ERR_NOMEM, "out of device memory");
    CHECK(m == NULL);
    unsetenv("TTT_CUDA_MEM_LIMIT_KB");
    CHECK_OK(ttt_model_load_ex(dir, &mp, &m));
    if (!m) return;
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = 4096;
    sp.n_batch = 8;
    ttt_session *s = NULL;
    CHECK_OK(ttt_session_init(m, &sp, &s));
    uint64_t in_use = 0;
    CHECK_OK(ttt_device_memory(TTT_DEVICE_CUDA, &in_use, NULL, 0));
    int32_t tok[600];
    for (int i = 0; i < 600; i++) tok[i] = (i * 7 + 3) % 1000;
    char lim[32];
    snprintf(lim, sizeof lim, "%llu", (unsigned long long)(in_use >> 10) + 4);
    setenv("TTT_CUDA_MEM_LIMIT_KB", lim, 1); /* the KV cache cannot grow to 600 tokens */
    if (s) {
        CHECK_FAILS(ttt_session_eval(s, tok, 600, NULL), TTT_ERR_NOMEM, "KV cache");
        CHECK(ttt_session_n_past(s) == 0); /* the cache grows before any token runs */
        unsetenv("TTT_CUDA_MEM_LIMIT_KB");
        CHECK_OK(ttt_session_eval(s, tok, 600, NULL));
        CHECK(ttt_session_n_past(s) == 600);
    }
    unsetenv("TTT_CUDA_MEM_LIMIT_KB");
    ttt_session_free(s);
    ttt_model_free(m);
}

/* The model at dir on the GPU in a TTT_PREC_* mode, and its info (info may be NULL); NULL
 * (a failed check) when it does not load. */
static ttt_model *gpu_model(const char *dir, int precision, ttt_model_info *info) {
    ttt_model_params mp = ttt_model_default_params();
    mp.device = TTT_DEVICE_CUDA;
    mp.precision = precision;
    ttt_model *m = NULL;
    CHECK_OK(ttt_model_load_ex(dir, &mp, &m));
    if (m && info) ttt_model_get_info(m, info);
    return m;
}

/* Batched decode at contexts long enough for the attention to split its keys (one row's
 * range differs from another's) against the same tokens decoded one session at a time, in
 * the fp32 mode. */
static void check_batch_long(const char *dir) {
    ttt_model_info info;
    ttt_model *m = gpu_model(dir, TTT_PREC_F32, &info);
    if (!m) return;
    const int V = info.n_vocab, pre[2] = {700, 300}, steps = 5;
    int32_t tok[720];
    for (int i = 0; i < 720; i++) tok[i] = (i * 37 + 11) % V;
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = 1024;
    ttt_session *s[2] = {0}, *r[2] = {0};
    ttt_batch *b = NULL;
    float *lg = malloc(sizeof(float) * 2 * (size_t)V), *one = malloc(sizeof(float) * (size_t)V);
    double *refd = malloc(sizeof(double) * (size_t)V);
    CHECK_OK(ttt_batch_init(m, 2, &b));
    for (int k = 0; k < 2; k++) {
        CHECK_OK(ttt_session_init(m, &sp, &s[k]));
        CHECK_OK(ttt_session_init(m, &sp, &r[k]));
        if (!s[k] || !r[k]) goto out;
        CHECK_OK(ttt_session_eval(s[k], tok, pre[k], NULL));
        CHECK_OK(ttt_session_eval(r[k], tok, pre[k], NULL));
    }
    double worst = 0;
    for (int t = 0; b && lg && one && refd && t < steps; t++) {
        const int32_t bt[2] = {tok[pre[0] + t], tok[pre[1] + t]};
        CHECK_OK(ttt_batch_decode(b, s, 2, bt, lg));
        for (int k = 0; k < 2; k++) {
            CHECK_OK(ttt_session_eval(r[k], &bt[k], 1, &(ttt_eval_out){.logits = one}));
            for (int j = 0; j < V; j++) refd[j] = one[j];
            double e = check_max_rel(lg + (size_t)k * V, refd, (size_t)V);
            worst = e > worst ? e : worst;
        }
    }
    printf("batched decode at 700 and 300 tokens vs one session at a time: max rel err %.3e\n",
           worst);
    CHECK(worst < 1e-4);
out:
    for (int k = 0; k < 2; k++) {
        ttt_session_free(s[k]);
        ttt_session_free(r[k]);
    }
    ttt_batch_free(b);
    free(lg);
    free(one);
    free(refd);
    ttt_model_free(m);
}

/* A random bf16 checkpoint at dir from the config JSON (written to dir.json). */
static void make_model(const char *dir, const char *json) {
    char cfg[4300];
    snprintf(cfg, sizeof cfg, "%s.json", dir);
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(json, f);
    fclose(f);
    ttt_init_params ip = ttt_init_default_params();
    ip.config_path = cfg;
    ip.dtype = TTT_DT_BF16;
    CHECK_OK(ttt_checkpoint_init(dir, &ip));
}

/* Qwen3, 2 layers (TTT in layer 1, chunk 64), vocabulary 512, at tmp/dec_hd<hd>_g<G>. */
static void make_qwen(const char *tmp, int hd, int heads, int kv_heads, char *dir, size_t cap) {
    char json[1024];
    snprintf(dir, cap, "%s/dec_hd%d_g%d", tmp, hd, heads / kv_heads);
    snprintf(json, sizeof json,
             "{\"architectures\": [\"Qwen3ForCausalLM\"], \"model_type\": \"qwen3\", "
             "\"head_dim\": %d, \"hidden_size\": 256, \"intermediate_size\": 512, "
             "\"max_position_embeddings\": 4096, \"num_attention_heads\": %d, "
             "\"num_hidden_layers\": 2, \"num_key_value_heads\": %d, "
             "\"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, \"vocab_size\": 512, "
             "\"tie_word_embeddings\": true, \"ttt_layers\": [1], \"ttt_chunk\": 64, "
             "\"ttt_lr\": 0.3, \"ttt_target\": \"hidden_states\", \"ttt_proj\": true}\n",
             hd, heads, kv_heads);
    make_model(dir, json);
}

/* Gemma 3, 2 layers (a 200-token window in the first, TTT in the second, chunk 64),
 * vocabulary 512, at tmp/gemma3_hd<hd>_w200. */
static void make_gemma3(const char *tmp, int hd, int heads, int kv_heads, char *dir,
                        size_t cap) {
    char json[1400];
    snprintf(dir, cap, "%s/gemma3_hd%d_w200", tmp, hd);
    snprintf(json, sizeof json,
             "{\"architectures\": [\"Gemma3ForCausalLM\"], \"model_type\": \"gemma3_text\", "
             "\"head_dim\": %d, \"hidden_size\": 256, \"intermediate_size\": 512, "
             "\"hidden_activation\": \"gelu_pytorch_tanh\", \"max_position_embeddings\": 4096, "
             "\"num_attention_heads\": %d, \"num_hidden_layers\": 2, "
             "\"num_key_value_heads\": %d, \"query_pre_attn_scalar\": %d, "
             "\"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, "
             "\"rope_local_base_freq\": 10000.0, \"sliding_window\": 200, "
             "\"layer_types\": [\"sliding_attention\", \"full_attention\"], "
             "\"vocab_size\": 512, \"tie_word_embeddings\": true, \"ttt_layers\": [1], "
             "\"ttt_chunk\": 64, \"ttt_lr\": 0.3, \"ttt_target\": \"hidden_states\", "
             "\"ttt_proj\": true}\n",
             hd, heads, kv_heads, hd);
    make_model(dir, json);
}

/* The decode attention on the random bf16 model at dir (vocabulary 512): decode logits after
 * 700 tokens, alone and batched, against the CPU's float32 forward of the same weights, and
 * against the GPU's older kernels that read the same bf16 cache: the warp-per-slice one
 * (TTT_CUDA_OLD_DECODE) and the tiled CUDA-core one (TTT_CUDA_DEC_SIMT). The default, on the
 * tensor cores, rounds q and the probabilities to bf16, so it is held to 1e-2 against them;
 * the two older ones, float32 throughout, to 1e-3. */
static void check_decode_kernel(const char *dir, const char *name) {
    ttt_model_params mp = ttt_model_default_params();
    ttt_model *cpu = NULL, *gpu = NULL;
    CHECK_OK(ttt_model_load_ex(dir, &mp, &cpu));
    mp.device = TTT_DEVICE_CUDA;
    CHECK_OK(ttt_model_load_ex(dir, &mp, &gpu));
    if (!cpu || !gpu) {
        ttt_model_free(cpu);
        ttt_model_free(gpu);
        return;
    }
    enum { T0 = 700, STEPS = 4, V = 512 };
    int32_t tok[T0 + STEPS];
    for (int i = 0; i < T0 + STEPS; i++) tok[i] = (i * 131 + 7) % V;
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = 1024;
    ttt_session *c = NULL, *g[5] = {0};
    ttt_batch *b = NULL;
    CHECK_OK(ttt_session_init(cpu, &sp, &c));
    for (int k = 0; k < 5; k++) CHECK_OK(ttt_session_init(gpu, &sp, &g[k]));
    CHECK_OK(ttt_batch_init(gpu, 2, &b));
    if (!c || !g[0] || !g[1] || !g[2] || !g[3] || !g[4] || !b) goto out;
    CHECK_OK(ttt_session_eval(c, tok, T0, NULL));
    for (int k = 0; k < 3; k++) CHECK_OK(ttt_session_eval(g[k], tok, T0, NULL));
    CHECK_OK(ttt_session_eval(g[4], tok, T0, NULL));
    CHECK_OK(ttt_session_eval(g[3], tok, 300, NULL)); /* a batch neighbour elsewhere */
    double e_cpu = 0, e_old = 0, e_batch = 0, e_simt = 0;
    for (int t = 0; t < STEPS; t++) {
        float lc[V], ln[V], lo[V], ls[V], lb[2 * V];
        double ref[V], refn[V];
        CHECK_OK(ttt_session_eval(c, &tok[T0 + t], 1, &(ttt_eval_out){.logits = lc}));
        CHECK_OK(ttt_session_eval(g[0], &tok[T0 + t], 1, &(ttt_eval_out){.logits = ln}));
        setenv("TTT_CUDA_OLD_DECODE", "1", 1);
        CHECK_OK(ttt_session_eval(g[1], &tok[T0 + t], 1, &(ttt_eval_out){.logits = lo}));
        unsetenv("TTT_CUDA_OLD_DECODE");
        setenv("TTT_CUDA_DEC_SIMT", "1", 1);
        CHECK_OK(ttt_session_eval(g[4], &tok[T0 + t], 1, &(ttt_eval_out){.logits = ls}));
        unsetenv("TTT_CUDA_DEC_SIMT");
        const int32_t bt[2] = {tok[300 + t], tok[T0 + t]};
        CHECK_OK(ttt_batch_decode(b, (ttt_session *const[]){g[3], g[2]}, 2, bt, lb));
        for (int j = 0; j < V; j++) ref[j] = lc[j], refn[j] = ln[j];
        double ro[V];
        for (int j = 0; j < V; j++) ro[j] = lo[j];
        double x = check_max_rel(ln, ref, V), y = check_max_rel(lo, refn, V),
               z = check_max_rel(lb + V, refn, V), w = check_max_rel(ls, ro, V);
        e_simt = w > e_simt ? w : e_simt;
        e_cpu = x > e_cpu ? x : e_cpu;
        e_old = y > e_old ? y : e_old;
        e_batch = z > e_batch ? z : e_batch;
    }
    printf("decode attention %s, after %d tokens: vs CPU float32 %.3e, vs the warp-per-slice "
           "kernel %.3e, batched vs alone %.3e; CUDA-core tiled vs warp-per-slice %.3e\n", name,
           T0, e_cpu, e_old, e_batch, e_simt);
    CHECK(e_cpu < 5e-2);  /* bf16 weights, activations and cache against float32 */
    CHECK(e_old < 1e-2);  /* same bf16 cache; q and P in bf16 on the tensor cores */
    CHECK(e_simt < 1e-3); /* same bf16 cache, float32 arithmetic in another order */
    CHECK(e_batch < 1e-3);
out:
    ttt_session_free(c);
    for (int k = 0; k < 5; k++) ttt_session_free(g[k]);
    ttt_batch_free(b);
    ttt_model_free(cpu);
    ttt_model_free(gpu);
}

/* Decode steps replayed from CUDA graphs (src/model/batch.c, src/cuda/graph.cu) against the
 * same steps run kernel by kernel (TTT_CUDA_NO_GRAPH=1, the same kernels and key splits):
 * one session decoding across two chunk ends (chunk 64: the fast weight's update runs after
 * replayed layers) and a power of two (a new recording), with a batch of two stepped in
 * between, and a prefill longer than any before, which replaces the token scratch buffer:
 * the session's recording is then stale and must be made again rather than replayed. */
static void check_graphs(const char *dir) {
    ttt_model *m = gpu_model(dir, TTT_PREC_DEFAULT, NULL);
    if (!m) return;
    enum { T0 = 100, STEPS = 100, LONG = 4000, V = 512 };
    int32_t *tok = malloc(sizeof(int32_t) * LONG);
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = 4096;
    ttt_session *a = NULL, *r = NULL, *c = NULL, *d = NULL;
    ttt_batch *b = NULL;
    CHECK_OK(ttt_session_init(m, &sp, &a));
    CHECK_OK(ttt_session_init(m, &sp, &r));
    CHECK_OK(ttt_session_init(m, &sp, &d));
    sp.n_batch = LONG; /* one step of LONG tokens: larger scratch than any call before */
    CHECK_OK(ttt_session_init(m, &sp, &c));
    CHECK_OK(ttt_batch_init(m, 2, &b));
    uint64_t rec0 = 0, rep0 = 0, rec1 = 0, rep1 = 0;
    double worst = 0;
    if (!tok || !a || !r || !c || !d || !b) goto out;
    for (int i = 0; i < LONG; i++) tok[i] = (i * 89 + 3) % V;
    CHECK_OK(ttt_session_eval(a, tok, T0, NULL));
    CHECK_OK(ttt_session_eval(r, tok, T0, NULL));
    /* the batch's rows stay below 16 tokens: one key split, so its second step records */
    CHECK_OK(ttt_session_eval(c, tok, 8, NULL));
    CHECK_OK(ttt_session_eval(d, tok, 8, NULL));
    CHECK_OK(ttt_device_graphs(TTT_DEVICE_CUDA, &rec0, &rep0, NULL));
    for (int t = 0; t < STEPS; t++) {
        float la[V], lr[V];
        double ref[V];
        CHECK_OK(ttt_session_eval(a, &tok[T0 + t], 1, &(ttt_eval_out){.logits = la}));
        setenv("TTT_CUDA_NO_GRAPH", "1", 1);
        CHECK_OK(ttt_session_eval(r, &tok[T0 + t], 1, &(ttt_eval_out){.logits = lr}));
        unsetenv("TTT_CUDA_NO_GRAPH");
        for (int j = 0; j < V; j++) ref[j] = lr[j];
        const double e = check_max_rel(la, ref, V);
        worst = e > worst ? e : worst;
        if (t == STEPS / 2) {
            for (int k = 0; k < 3; k++)
                CHECK_OK(ttt_batch_decode(b, (ttt_session *const[]){c, d}, 2,
                                          (const int32_t[]){tok[k], tok[k + 1]}, NULL));
            CHECK_OK(ttt_session_eval(c, tok, LONG - 16, NULL));
        }
    }
    CHECK_OK(ttt_device_graphs(TTT_DEVICE_CUDA, &rec1, &rep1, NULL));
    printf("decode from graphs vs kernel by kernel, %d steps from %d tokens: max rel err %.3e; "
           "%llu graphs recorded, %llu replayed\n", STEPS, T0, worst,
           (unsigned long long)(rec1 - rec0), (unsigned long long)(rep1 - rep0));
    CHECK(worst <= 1e-6);
    /* the session: one per power of two and one after the stale one; the batch: one */
    CHECK(rec1 - rec0 == 4);
    CHECK(rep1 - rep0 >= STEPS - 4);
out:
    ttt_session_free(a);
    ttt_session_free(r);
    ttt_session_free(c);
    ttt_session_free(d);
    ttt_batch_free(b);
    ttt_model_free(m);
    free(tok);
}

/* A fusion of decode kernels against the same step without it (env set to 1 for the second
 * session), over STEPS one-token steps from T0 tokens: the logits agree within tol, and each
 * recorded step is per_layer kernels per layer shorter. "off" is set for both sessions (to
 * check one fusion without the other). */
static void check_fusion(const char *dir, const char *name, const char *what, const char *env,
                         const char *off, int per_layer, double tol) {
    ttt_model_info info;
    ttt_model *m = gpu_model(dir, TTT_PREC_DEFAULT, &info);
    if (!m) return;
    const int V = info.n_vocab;
    enum { T0 = 20, STEPS = 16 }; /* a 16-token chunk completes at 32, inside the steps */
    int32_t tok[T0 + STEPS];
    for (int i = 0; i < T0 + STEPS; i++) tok[i] = (i * 53 + 1) % V;
    if (off) setenv(off, "1", 1);
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = 64;
    ttt_session *a = NULL, *u = NULL;
    CHECK_OK(ttt_session_init(m, &sp, &a));
    CHECK_OK(ttt_session_init(m, &sp, &u));
    float *la = malloc(sizeof(float) * V), *lu = malloc(sizeof(float) * V);
    double *ref = malloc(sizeof(double) * V), worst = 0;
    uint64_t nodes_fused = 0, nodes_plain = 0;
    if (!a || !u || !la || !lu || !ref) goto out;
    CHECK_OK(ttt_session_eval(a, tok, T0, NULL));
    CHECK_OK(ttt_session_eval(u, tok, T0, NULL));
    for (int t = 0; t < STEPS; t++) {
        CHECK_OK(ttt_session_eval(a, &tok[T0 + t], 1, &(ttt_eval_out){.logits = la}));
        if (t == 1) CHECK_OK(ttt_device_graphs(TTT_DEVICE_CUDA, NULL, NULL, &nodes_fused));
        setenv(env, "1", 1);
        CHECK_OK(ttt_session_eval(u, &tok[T0 + t], 1, &(ttt_eval_out){.logits = lu}));
        unsetenv(env);
        if (t == 1) CHECK_OK(ttt_device_graphs(TTT_DEVICE_CUDA, NULL, NULL, &nodes_plain));
        for (int j = 0; j < V; j++) ref[j] = lu[j];
        const double e = check_max_rel(la, ref, (size_t)V);
        worst = e > worst ? e : worst;
    }
    printf("%s: %s vs one by one, %d steps: max rel err %.3e; %llu vs %llu operations per "
           "recorded step\n", name, what, STEPS, worst, (unsigned long long)nodes_fused,
           (unsigned long long)nodes_plain);
    CHECK(worst <= tol);
    CHECK(nodes_plain - nodes_fused == (uint64_t)per_layer * info.n_layers);
out:
    if (off) unsetenv(off);
    ttt_session_free(a);
    ttt_session_free(u);
    free(la);
    free(lu);
    free(ref);
    ttt_model_free(m);
}

/* The gated MLP's input in one GEMV kernel (act(x W_gate^T) * (x W_up^T), ttt_ops.matmul_act)
 * against the product and the activation one by one (TTT_CUDA_NO_FUSE=1): the same decode
 * logits (the same float operations), one kernel per layer fewer. */
static void check_fused(const char *dir, const char *name) {
    check_fusion(dir, name, "gate/up GEMV with the activation", "TTT_CUDA_NO_FUSE",
                 "TTT_CUDA_NO_NORM_FUSE", 1, 1e-6);
}

/* The two RMSNorms of a layer inside the GEMVs that read them (ttt_ops.matmul_normed) against
 * the norm kernels (TTT_CUDA_NO_NORM_FUSE=1): two kernels per layer fewer, and the logits
 * equal up to float32 reassociation (the sums are scaled after the products instead of x
 * before them), through a chunk update whose targets (TTT target hidden_states) the gate/up
 * GEMV wrote. */
static void check_norm_fused(const char *dir, const char *name, double tol) {
    check_fusion(dir, name, "RMSNorms inside the GEMVs", "TTT_CUDA_NO_NORM_FUSE", NULL, 2, tol);
}

/* Prefill attention over T tokens in three calls (so p0 > 0), all logits: the default kernel
 * (wgmma with a TMA producer where the build and GPU have it) against the CPU's float32,
 * against the CUDA-core kernel (TTT_CUDA_NO_FLASH: float32 arithmetic on the same bf16
 * cache), against the mma.sync kernel (TTT_CUDA_NO_WGMMA: the same roundings of q and P to
 * bf16), and against the wgmma kernel whose threads copy the tiles (TTT_CUDA_NO_TMA: the same
 * arithmetic in the same order, so the same logits). */
static void check_prefill_kernel(const char *dir, const char *name, int T, double tol) {
    ttt_model_params mp = ttt_model_default_params();
    ttt_model *cpu = NULL, *gpu = NULL;
    CHECK_OK(ttt_model_load_ex(dir, &mp, &cpu));
    mp.device = TTT_DEVICE_CUDA;
    CHECK_OK(ttt_model_load_ex(dir, &mp, &gpu));
    ttt_model_info mi;
    if (cpu) ttt_model_get_info(cpu, &mi);
    const size_t n = cpu ? (size_t)T * mi.n_vocab : 0;
    float *lc = malloc(sizeof(float) * n), *l2 = malloc(sizeof(float) * n),
          *l1 = malloc(sizeof(float) * n), *l3 = malloc(sizeof(float) * n),
          *l4 = malloc(sizeof(float) * n);
    double *r2 = calloc(n ? n : 1, sizeof(double)), *rc = calloc(n ? n : 1, sizeof(double));
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)T);
    if (cpu && gpu && lc && l2 && l1 && l3 && l4 && r2 && rc && tok) {
        const int V = mi.n_vocab, step = T / 3 + 1;
        for (int i = 0; i < T; i++) tok[i] = (i * 131 + 7) % V;
        CHECK_OK(run(cpu, tok, T, V, step, lc));
        CHECK_OK(run(gpu, tok, T, V, step, l2));
        setenv("TTT_CUDA_NO_FLASH", "1", 1);
        CHECK_OK(run(gpu, tok, T, V, step, l1));
        unsetenv("TTT_CUDA_NO_FLASH");
        setenv("TTT_CUDA_NO_WGMMA", "1", 1);
        CHECK_OK(run(gpu, tok, T, V, step, l3));
        unsetenv("TTT_CUDA_NO_WGMMA");
        setenv("TTT_CUDA_NO_TMA", "1", 1);
        CHECK_OK(run(gpu, tok, T, V, step, l4));
        unsetenv("TTT_CUDA_NO_TMA");
        for (size_t i = 0; i < n; i++) r2[i] = l4[i];
        const double e_tma = check_max_rel(l2, r2, n);
        for (size_t i = 0; i < n; i++) rc[i] = lc[i], r2[i] = l1[i];
        const double e_cpu = check_max_rel(l2, rc, n), e_simt = check_max_rel(l2, r2, n);
        for (size_t i = 0; i < n; i++) r2[i] = l3[i];
        const double e_mma = check_max_rel(l2, r2, n);
        printf("prefill attention %s, %d tokens in calls of %d: vs CPU float32 %.3e, vs the "
               "CUDA-core kernel %.3e, vs the mma.sync kernel %.3e, vs copies by the threads "
               "%.3e\n", name, T, step, e_cpu, e_simt, e_mma, e_tma);
        CHECK(e_cpu < 5e-2);  /* bf16 weights, activations and cache against float32 */
        CHECK(e_simt < tol); /* same bf16 cache; q and P rounded to bf16 */
        CHECK(e_mma < tol);  /* the same roundings, sums in another order */
        CHECK(e_tma <= 1e-6); /* the same sums in the same order */
    }
    free(lc);
    free(l2);
    free(l1);
    free(l3);
    free(l4);
    free(r2);
    free(rc);
    free(tok);
    ttt_model_free(cpu);
    ttt_model_free(gpu);
}

/* The RMSNorm op against the CPU's on random rows: few rows (a block per row) and many (a warp
 * per row, the row in registers), widths a multiple of 4 and not, in place as well. */
static void check_rmsnorm(void) {
    const ttt_ops *o = ttt_cuda_ops;
    const int shapes[][2] = {{3, 2560}, {100, 2560}, {100, 100}, {70, 4096}, {80, 4098}};
    double worst = 0;
    for (size_t c = 0; o && c < sizeof shapes / sizeof shapes[0]; c++) {
        const int rows = shapes[c][0], dim = shapes[c][1];
        const size_t n = (size_t)rows * dim;
        float *x = malloc(sizeof(float) * n), *w = malloc(sizeof(float) * dim),
              *ref = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
        double *refd = malloc(sizeof(double) * n);
        float *dx = o->alloc(sizeof(float) * n), *dw = o->alloc(sizeof(float) * dim),
              *dy = o->alloc(sizeof(float) * n);
        CHECK(x && w && ref && got && refd && dx && dw && dy);
        if (x && w && ref && got && refd && dx && dw && dy) {
            unsigned h = 7u + (unsigned)c;
            for (size_t i = 0; i < n; i++) {
                h = h * 1103515245u + 12345u;
                x[i] = (float)((int)((h >> 8) % 20001u) - 10000) / 1000.0f;
            }
            for (int i = 0; i < dim; i++) w[i] = 0.5f + (float)(i % 7) / 4.0f;
            ttt_cpu_ops.rmsnorm(ref, x, w, rows, dim, 1e-6f);
            for (size_t i = 0; i < n; i++) refd[i] = ref[i];
            o->to_backend(dx, x, sizeof(float) * n);
            o->to_backend(dw, w, sizeof(float) * dim);
            o->rmsnorm(dy, dx, dw, rows, dim, 1e-6f);
            o->rmsnorm(dx, dx, dw, rows, dim, 1e-6f); /* in place */
            CHECK_OK(o->sync());
            for (int pass = 0; pass < 2; pass++) {
                o->to_host(got, pass ? dx : dy, sizeof(float) * n);
                const double e = check_max_rel(got, refd, n);
                worst = e > worst ? e : worst;
            }
        }
        o->free(dx);
        o->free(dw);
        o->free(dy);
        free(x);
        free(w);
        free(ref);
        free(got);
        free(refd);
    }
    printf("rmsnorm on the GPU vs the CPU, 5 shapes from 3 x 2560 to 100 x 100: max rel err "
           "%.3e\n", worst);
    CHECK(worst < 1e-5);
}

/* Top-k on the GPU against the CPU's selection on the same logits: through a session and a
 * batch (the logits the GPU returns in the same call), and the op alone on vocabulary-sized
 * rows full of ties, NaN, +-0 and infinities, for k up to TTT_TOP_K_MAX and below a limit. */
static void check_topk(const char *dir) {
    enum { N = 20, K = 50, RV = 151936, RN = 3 };
    gpu_pair gp;
    if (!gpu_pair_open(dir, N + 2, &gp)) return;
    ttt_session *const a = gp.a, *const b = gp.b;
    ttt_batch *const bt = gp.bt;
    const int V = gp.V;
    int32_t tok[N], *id = malloc(sizeof(int32_t) * RN * TTT_TOP_K_MAX),
                    *cid = malloc(sizeof(int32_t) * RN * TTT_TOP_K_MAX);
    float *val = malloc(sizeof(float) * RN * TTT_TOP_K_MAX),
          *cval = malloc(sizeof(float) * RN * TTT_TOP_K_MAX);
    for (int i = 0; i < N; i++) tok[i] = (i * 41 + 7) % V;
    float *lg = malloc(sizeof(float) * (size_t)RN * RV);
    int bad = 0, cases = 0;
    if (lg && id && val && cid && cval && a && b && bt) {
        CHECK_OK(ttt_session_eval(a, tok, N, &(ttt_eval_out){.logits = lg, .logits_all = 1,
                                                            .top_k = K, .top_logit = val,
                                                            .top_id = id}));
        ttt_cpu_topk(cval, cid, NULL, lg, N, V, V, K);
        bad += memcmp(id, cid, sizeof(int32_t) * N * K) != 0;
        bad += memcmp(val, cval, sizeof(float) * N * K) != 0;
        /* the logits kept on the GPU (ttt_session_logits) are those the candidates came from:
         * after a prefill and after a one-token step (a recorded batch of one) */
        for (int step = 0; step < 2; step++) {
            CHECK_OK(ttt_session_eval(b, step ? tok : tok + 1, step ? 1 : N - 1,
                                      &(ttt_eval_out){.top_k = K, .top_logit = cval,
                                                      .top_id = cid}));
            CHECK_OK(ttt_session_logits(b, lg));
            bad += cid[0] != first_max(lg, V) || cval[0] != lg[cid[0]];
            cases++;
        }
        const int32_t nt[2] = {3, 4};
        CHECK_OK(ttt_batch_decode_out(bt, (ttt_session *const[]){a, b}, 2, nt,
                                      &(ttt_eval_out){.logits = lg, .top_k = K,
                                                      .top_logit = val, .top_id = id}));
        ttt_cpu_topk(cval, cid, NULL, lg, 2, V, V, K);
        bad += memcmp(id, cid, sizeof(int32_t) * 2 * K) != 0;
        cases += 2;

        /* the op alone: quarter steps in [-8, 8] (thousands of ties per value) */
        unsigned h = 12345u;
        for (size_t i = 0; i < (size_t)RN * RV; i++) {
            h = h * 1103515245u + 12345u;
            lg[i] = (float)((int)((h >> 16) % 64u) - 32) / 4.0f;
        }
        const float sp_v[] = {NAN, -0.0f, 0.0f, INFINITY, -INFINITY, 8.0f, NAN, 7.75f};
        for (int r = 1; r < RN; r++)
            for (int j = 0; j < 8; j++) lg[(size_t)r * RV + (size_t)(j * 9973 + r * 31) % RV] = sp_v[j];
        const ttt_ops *o = ttt_cuda_ops;
        float *d = o ? o->alloc(sizeof(float) * (size_t)RN * RV) : NULL;
        CHECK(d != NULL);
        if (d) {
            o->to_backend(d, lg, sizeof(float) * (size_t)RN * RV);
            /* k <= 64: the merge of sorted segments; above: the radix select */
            const int ks[] = {1, 40, 64, 65, 257, TTT_TOP_K_MAX}, lims[] = {RV, 100000};
            for (int li = 0; li < 2; li++)
                for (int ki = 0; ki < 6; ki++) {
                    float lse[RN], clse[RN];
                    o->topk(val, id, lse, d, RN, RV, lims[li], ks[ki]);
                    CHECK_OK(o->sync());
                    ttt_cpu_topk(cval, cid, clse, lg, RN, RV, lims[li], ks[ki]);
                    const size_t c = (size_t)RN * ks[ki];
                    bad += memcmp(id, cid, sizeof(int32_t) * c) != 0;
                    bad += memcmp(val, cval, sizeof(float) * c) != 0;
                    /* the row's log-sum-exp: float sums on the GPU, double on the CPU */
                    for (int r = 0; r < RN; r++)
                        bad += !(lse[r] == clse[r] ||
                                 fabsf(lse[r] - clse[r]) <= 1e-5f * fabsf(clse[r]));
                    cases++;
                }
            o->free(d);
        }
    }
    printf("top-k on the GPU: %d of %d cases differ from the CPU's selection\n", bad, cases);
    CHECK(bad == 0 && cases == 16);
    free(lg);
    free(id);
    free(cid);
    free(val);
    free(cval);
    gpu_pair_close(&gp);
}

int main(void) {
    ttt_model_params mp = ttt_model_default_params();
    mp.device = TTT_DEVICE_CUDA;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/qwen3", golden());
    ttt_model *m = NULL;
    ttt_status st = ttt_model_load_ex(dir, &mp, &m);
    if (st != TTT_OK) {
        /* no backend or no GPU: the error must say so, and the test is skipped */
        CHECK(st == TTT_ERR_UNSUPPORTED);
        CHECK(strstr(ttt_last_error(), ttt_cuda_compiled() ? "cuda: no usable GPU"
                                                            : "no CUDA backend") != NULL);
        check_summary("test_cuda");
        fprintf(stderr, "test_cuda: skipped: %s\n", ttt_last_error());
        return check_failures ? 1 : 77;
    }
    ttt_model_free(m);
    check_rmsnorm();
    check_argmax(dir);
    check_topk(dir);
    check_out_of_memory(dir);
    check_batch_long(dir);
    const char *models[] = {"qwen3", "qwen3_embed_tied", "llama3", "gemma3"};
    for (int i = 0; i < 4; i++) {
        snprintf(dir, sizeof dir, "%s/%s", golden(), models[i]);
        check_model(dir, models[i], TTT_PREC_F32, 1e-4);
        check_model(dir, models[i], TTT_PREC_BF16, 1e-1);
    }
    const char *tmp = getenv("TTT_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/ref_qwen3_bf16_c5", tmp ? tmp : "tmp");
    check_model(dir, "ref_qwen3_bf16_c5", TTT_PREC_F32, 1e-4);
    check_model(dir, "ref_qwen3_bf16_c5", TTT_PREC_BF16, 5e-2);
    make_qwen(tmp ? tmp : "tmp", 128, 8, 2, dir, sizeof dir);
    check_decode_kernel(dir, "hd 128, 8:2 heads");
    make_qwen(tmp ? tmp : "tmp", 64, 4, 2, dir, sizeof dir);
    check_decode_kernel(dir, "hd 64, 4:2 heads");
    /* sliding windows on the tensor-core kernels: Gemma 3 with hd 128 (no soft-cap) and a
     * 200-token window in its first layer, so that the wgmma prefill kernel masks inside and
     * across 128-key tiles and the decode kernel's slices start at the window's edge */
    make_gemma3(tmp ? tmp : "tmp", 128, 8, 2, dir, sizeof dir);
    check_decode_kernel(dir, "gemma3 hd 128, window 200");
    check_prefill_kernel(dir, "gemma3 hd 128, window 200", 700, 1e-2);
    /* Gemma 3's own head size, 256 (gemma3-1b: 4 query heads on 1 KV head), with the same
     * window: the mma.sync prefill kernel with one row tile per warp, and the tensor-core
     * decode kernel (before, both fell back to the CUDA-core kernels) */
    make_gemma3(tmp ? tmp : "tmp", 256, 4, 1, dir, sizeof dir);
    check_decode_kernel(dir, "gemma3 hd 256, window 200");
    check_prefill_kernel(dir, "gemma3 hd 256, window 200", 700, 1e-2);
    snprintf(dir, sizeof dir, "%s/dec_hd128_g4", tmp ? tmp : "tmp");
    check_graphs(dir);
    check_fused(dir, "qwen3 hd 128 (SiLU)");
    /* measured 4.7e-4: q moves by float32 reassociation, and some of its roundings to bf16
     * in the attention flip */
    check_norm_fused(dir, "qwen3 hd 128", 3e-3);
    snprintf(dir, sizeof dir, "%s/gemma3", golden());
    check_fused(dir, "gemma3 (GELU)");
    check_norm_fused(dir, "gemma3", 1e-4);
    const char *norm_models[] = {"qwen3", "qwen3_embed_tied", "llama3"};
    for (int i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "%s/%s", golden(), norm_models[i]);
        check_norm_fused(dir, norm_models[i], 1e-4);
    }
    /* the models make_qwen made, and gemma3's sliding window (8) over many tiles */
    snprintf(dir, sizeof dir, "%s/dec_hd128_g4", tmp ? tmp : "tmp");
    check_prefill_kernel(dir, "hd 128, 8:2 heads", 700, 1e-2);
    snprintf(dir, sizeof dir, "%s/dec_hd64_g2", tmp ? tmp : "tmp");
    check_prefill_kernel(dir, "hd 64, 4:2 heads", 700, 1e-2);
    snprintf(dir, sizeof dir, "%s/gemma3", golden());
    /* measured 1.8e-2: the tiny model's large TTT updates amplify bf16 rounding (the first
     * flash kernel gave bit-identical logits) */
    check_prefill_kernel(dir, "gemma3 (hd 16, window 8)", 400, 5e-2);
    return check_summary("test_cuda");
}
