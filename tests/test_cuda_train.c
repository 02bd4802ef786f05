/* test_cuda_train.c - the GPU trainer against the CPU trainer (which the golden gradients and
 * AdamW trajectories check): on every golden model and on test_reference's gradient cases
 * (tied embedding with chunk 4, causal conv with clipping and no projection, Gemma with the
 * embedding target), two sequences with a document start inside one (doc_reset), gradient
 * accumulation over two micro-steps, three AdamW steps. Both compute in float32, so only
 * summation order differs: every loss and gradient norm, every gradient of the first step and
 * both moments after the first AdamW step must agree to 1e-4 (max relative error per
 * tensor), and so must the loss after the steps. The values themselves are not compared
 * element by element: Adam moves an element whose gradient is at rounding level by a full
 * step of either sign, so they differ by up to lr there on any two machines. Also: what the
 * caller writes into the host mirrors reaches the GPU, two GPU trainers given the same
 * batches agree bit for bit (no sum depends on scheduling), and running out of GPU memory is
 * a clear error the trainer recovers from. Without a GPU it checks the error and skips
 * (exit 77). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ttt.h"

#define B 2
#define T 37
#define TOL 1e-4

static const char *golden(void) {
    const char *g = getenv("TTT_GOLDEN");
    return g && *g ? g : "../shared/golden";
}

static double max_rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= num)) num = d != d ? INFINITY : d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

static ttt_trainer *make(ttt_model *m, int device) {
    ttt_train_params p = ttt_train_default_params();
    p.device = device;
    p.grad_accum = 2;
    p.doc_reset = 1;
    p.lr = 3e-3;
    p.max_grad_norm = 0.5; /* the clip is active on these models */
    ttt_trainer *t = NULL;
    CHECK_OK(ttt_trainer_init(m, &p, &t));
    return t;
}

/* Every trainable tensor's field (0 value, 1 gradient, 2 m, 3 v) on both trainers; the worst
 * max relative error. */
static double compare(ttt_trainer *g, ttt_trainer *c, int field, const char *what,
                      const char *name) {
    double worst = 0;
    for (int i = 0; i < ttt_trainer_n_tensors(c); i++) {
        ttt_train_tensor x, y;
        CHECK_OK(ttt_trainer_tensor(c, i, &x));
        CHECK_OK(ttt_trainer_tensor(g, i, &y));
        if (!x.name || !y.name || strcmp(x.name, y.name) || x.n_elements != y.n_elements) {
            CHECK(0);
            continue;
        }
        const float *a = field == 0 ? y.data : field == 1 ? y.grad : field == 2 ? y.m : y.v;
        const float *b = field == 0 ? x.data : field == 1 ? x.grad : field == 2 ? x.m : x.v;
        const double e = max_rel(a, b, x.n_elements);
        if (e >= TOL) fprintf(stderr, "test_cuda_train: %s: %s %s max rel err %.3e\n", name, x.name, what, e);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static void fill(int32_t *tok, int n, int V, uint64_t seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (int i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((x >> 33) % (uint64_t)V);
    }
}

static void check_dir(const char *dir, const char *name) {
    ttt_model *m = NULL;
    if (ttt_model_load(dir, &m) != TTT_OK) {
        fprintf(stderr, "test_cuda_train: %s: %s\n", dir, ttt_last_error());
        CHECK(0);
        return;
    }
    ttt_model_info mi;
    ttt_model_get_info(m, &mi);
    ttt_trainer *g = make(m, TTT_DEVICE_CUDA), *c = make(m, TTT_DEVICE_CPU);
    ttt_trainer *g2 = make(m, TTT_DEVICE_CUDA);
    int same = g2 != NULL;
    int32_t tok[B * (T + 1)];
    uint8_t doc[B * T] = {0};
    doc[T + 20] = 1; /* sequence 1 holds two documents */
    double worst_loss = 0, worst_norm = 0, worst_grad = 0, em = 0, ev = 0;
    for (int step = 0; g && c && step < 3; step++) {
        for (int micro = 0; micro < 2; micro++) {
            double lg = 0, lc = 0;
            fill(tok, B * (T + 1), mi.n_vocab, (uint64_t)(step * 2 + micro));
            double l2 = 0;
            CHECK_OK(ttt_trainer_step_tokens(g, tok, doc, B, T, &lg));
            CHECK_OK(ttt_trainer_step_tokens(c, tok, doc, B, T, &lc));
            if (g2) CHECK_OK(ttt_trainer_step_tokens(g2, tok, doc, B, T, &l2));
            same &= l2 == lg;
            worst_loss = fmax(worst_loss, fabs(lg - lc) / fabs(lc));
        }
        if (step == 0) worst_grad = compare(g, c, 1, "gradient", name);
        double ng = 0, nc = 0;
        CHECK_OK(ttt_trainer_apply(g, &ng, NULL));
        CHECK_OK(ttt_trainer_apply(c, &nc, NULL));
        if (g2) CHECK_OK(ttt_trainer_apply(g2, NULL, NULL));
        worst_norm = fmax(worst_norm, fabs(ng - nc) / nc);
        if (step == 0) em = compare(g, c, 2, "m", name), ev = compare(g, c, 3, "v", name);
    }
    /* the two GPU runs: every value, bit for bit */
    for (int i = 0; g && g2 && i < ttt_trainer_n_tensors(g); i++) {
        ttt_train_tensor x, y;
        CHECK_OK(ttt_trainer_tensor(g, i, &x));
        CHECK_OK(ttt_trainer_tensor(g2, i, &y));
        same &= x.data && y.data && !memcmp(x.data, y.data, sizeof(float) * x.n_elements);
    }
    CHECK(same);
    ttt_trainer_free(g2);
    /* a write into the mirrors (as a resume does) reaches the GPU: the final norm's scale
     * (w or, in Gemma, 1 + w) about three times larger on both changes the loss, identically */
    double le = 0, lg = 0, lc = 0, before = 0;
    fill(tok, B * (T + 1), mi.n_vocab, 99);
    if (g && c) CHECK_OK(ttt_trainer_eval_tokens(c, tok, doc, B, T, &before));
    for (int k = 0; g && c && k < 2; k++) {
        ttt_train_tensor x;
        CHECK_OK(ttt_trainer_find(k ? c : g, "model.norm.weight", &x));
        for (size_t i = 0; x.data && i < x.n_elements; i++) x.data[i] = 3.0f * x.data[i] + 2.0f;
    }
    if (g && c) {
        CHECK_OK(ttt_trainer_eval_tokens(g, tok, doc, B, T, &lg));
        CHECK_OK(ttt_trainer_eval_tokens(c, tok, doc, B, T, &lc));
        le = fabs(lg - lc) / fabs(lc);
        CHECK(fabs(lc - before) > 1e-2 * fabs(before));
    }
    printf("%-36s loss %.1e  grad norm %.1e  grads %.1e  m %.1e  v %.1e  loss after a host "
           "write %.1e  two GPU runs %s\n", name, worst_loss, worst_norm, worst_grad, em, ev, le,
           same ? "identical" : "DIFFER");
    CHECK(worst_loss < TOL && worst_norm < TOL && worst_grad < TOL);
    CHECK(em < TOL && ev < TOL && le < TOL);
    ttt_trainer_free(g);
    ttt_trainer_free(c);
    ttt_model_free(m);
}

/* GPU memory running out (TTT_CUDA_MEM_LIMIT_KB caps what the backend may hold): at
 * ttt_trainer_init a clear NOMEM error; in a step (the activations do not fit) the same, and
 * the trainer steps again once memory is back. */
static void check_out_of_memory(const char *dir) {
    ttt_model *m = NULL;
    CHECK_OK(ttt_model_load(dir, &m));
    if (!m) return;
    ttt_train_params p = ttt_train_default_params();
    p.device = TTT_DEVICE_CUDA;
    ttt_trainer *t = NULL;
    uint64_t in_use = 0;
    CHECK_OK(ttt_device_memory(TTT_DEVICE_CUDA, &in_use, NULL, 0));
    char lim[32];
    snprintf(lim, sizeof lim, "%llu", (unsigned long long)(in_use >> 10) + 16);
    setenv("TTT_CUDA_MEM_LIMIT_KB", lim, 1); /* 16 KB more: not the parameters */
    CHECK_FAILS(ttt_trainer_init(m, &p, &t), TTT_ERR_NOMEM, "GPU");
    CHECK(t == NULL);
    unsetenv("TTT_CUDA_MEM_LIMIT_KB");
    CHECK_OK(ttt_trainer_init(m, &p, &t));
    ttt_model_info mi;
    ttt_model_get_info(m, &mi);
    int32_t tok[2 * 65];
    fill(tok, 2 * 65, mi.n_vocab, 7);
    double loss = 0, again = 0;
    if (t) {
        CHECK_OK(ttt_device_memory(TTT_DEVICE_CUDA, &in_use, NULL, 0));
        snprintf(lim, sizeof lim, "%llu", (unsigned long long)(in_use >> 10) + 16);
        setenv("TTT_CUDA_MEM_LIMIT_KB", lim, 1); /* parameters in, activations not */
        CHECK_FAILS(ttt_trainer_step_tokens(t, tok, NULL, 2, 64, &loss), TTT_ERR_NOMEM,
                    "activations");
        unsetenv("TTT_CUDA_MEM_LIMIT_KB");
        CHECK_OK(ttt_trainer_step_tokens(t, tok, NULL, 2, 64, &loss));
        CHECK_OK(ttt_trainer_eval_tokens(t, tok, NULL, 2, 64, &again));
        CHECK(isfinite(loss) && loss > 0 && fabs(again - loss) < 1e-5 * loss);
    }
    printf("out of GPU memory: init and step fail with NOMEM, then a step gives loss %.4f\n", loss);
    ttt_trainer_free(t);
    ttt_model_free(m);
}

int main(void) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/qwen3", golden());
    ttt_model *m = NULL;
    CHECK_OK(ttt_model_load(dir, &m));
    ttt_train_params p = ttt_train_default_params();
    p.device = TTT_DEVICE_CUDA;
    ttt_trainer *t = NULL;
    ttt_status st = m ? ttt_trainer_init(m, &p, &t) : TTT_ERR_ARG;
    ttt_trainer_free(t);
    ttt_model_free(m);
    if (st != TTT_OK) {
        /* no backend or no GPU: the error must say so, and the test is skipped */
        CHECK(st == TTT_ERR_UNSUPPORTED);
        CHECK(strstr(ttt_last_error(), ttt_cuda_compiled() ? "cuda: no usable GPU"
                                                            : "no CUDA backend") != NULL);
        check_summary("test_cuda_train");
        fprintf(stderr, "test_cuda_train: skipped: %s\n", ttt_last_error());
        return check_failures ? 1 : 77;
    }
    check_out_of_memory(dir);
    const char *models[] = {"qwen3", "qwen3_embed_tied", "llama3", "gemma3"};
    for (int i = 0; i < 4; i++) {
        snprintf(dir, sizeof dir, "%s/%s", golden(), models[i]);
        check_dir(dir, models[i]);
    }
    const char *tmp = getenv("TTT_TEST_TMP");
    const char *refs[] = {"ref_grad_qwen3_tied_c4", "ref_grad_llama_causal_clip_noproj",
                          "ref_grad_gemma3_embed"};
    for (int i = 0; i < 3; i++) {
        snprintf(dir, sizeof dir, "%s/%s", tmp ? tmp : "tmp", refs[i]);
        check_dir(dir, refs[i]);
    }
    return check_summary("test_cuda_train");
}
