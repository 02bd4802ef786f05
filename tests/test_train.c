/* test_train.c - the trainer beyond the golden gradients: freeze policies (counts, no state
 * for frozen tensors, gradients that still flow through them), document-boundary reset,
 * gradient accumulation, the learning-rate schedule, exact resume from exported optimizer
 * state, bad input, and a small model overfitting a repeated batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ttt.h"

static char g_dir[512];

static ttt_trainer *make(ttt_model *m, ttt_train_policy pol, const char *re) {
    ttt_train_params p = ttt_train_default_params();
    p.policy = pol;
    p.regex = re;
    ttt_trainer *t = NULL;
    CHECK_OK(ttt_trainer_init(m, &p, &t));
    return t;
}

static double grad_of(ttt_trainer *t, const char *name, size_t i) {
    ttt_train_tensor x;
    if (ttt_trainer_find(t, name, &x) != TTT_OK || i >= x.n_elements) return NAN;
    return x.grad[i];
}

/* The golden qwen3 ids (T = 75) and their next-token labels. */
static int32_t g_ids[75], g_lab[75];

static void test_policies(ttt_model *m) {
    ttt_trainer *all = make(m, TTT_TRAIN_ALL, NULL);
    ttt_trainer *ad = make(m, TTT_TRAIN_ADAPTER, NULL);
    ttt_trainer *tt = make(m, TTT_TRAIN_TTT, NULL);
    ttt_trainer *re = make(m, TTT_TRAIN_REGEX, "(q|k)_proj");
    if (!all || !ad || !tt || !re) goto out;
    /* qwen3 golden: 4 layers, TTT layers 0 and 2 with proj */
    CHECK(ttt_trainer_n_tensors(all) == 51);
    CHECK(ttt_trainer_n_tensors(ad) == 6);
    CHECK(ttt_trainer_n_tensors(tt) == 4);
    CHECK(ttt_trainer_n_tensors(re) == 8);
    ttt_train_tensor x;
    CHECK_FAILS(ttt_trainer_find(ad, "model.layers.1.mlp.down_proj.weight", &x), TTT_ERR_ARG,
                "frozen");
    CHECK_OK(ttt_trainer_find(ad, "model.layers.2.mlp.down_proj.weight", &x));
    CHECK_FAILS(ttt_trainer_find(tt, "model.layers.2.mlp.down_proj.weight", &x), TTT_ERR_ARG,
                "frozen");
    CHECK_FAILS(ttt_trainer_find(all, "model.layers.9.mlp.up_proj.weight", &x), TTT_ERR_ARG,
                "no tensor");
    /* gradients of trainable tensors do not depend on what else is frozen */
    double la, lb, lc;
    CHECK_OK(ttt_trainer_step(all, g_ids, g_lab, NULL, 1, 75, &la));
    CHECK_OK(ttt_trainer_step(ad, g_ids, g_lab, NULL, 1, 75, &lb));
    CHECK_OK(ttt_trainer_step(re, g_ids, g_lab, NULL, 1, 75, &lc));
    CHECK(la == lb && la == lc);
    const char *names[] = {"model.layers.0.mlp.ttt_conv.weight",
                           "model.layers.0.mlp.ttt_proj.weight",
                           "model.layers.2.mlp.down_proj.weight"};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < 5; i++) {
            double a = grad_of(all, names[k], i * 7), b = grad_of(ad, names[k], i * 7);
            CHECK(fabs(a - b) <= 1e-6 * fabs(a) + 1e-12);
        }
    double a = grad_of(all, "model.layers.1.self_attn.k_proj.weight", 3);
    double c = grad_of(re, "model.layers.1.self_attn.k_proj.weight", 3);
    CHECK(a != 0 && fabs(a - c) <= 1e-6 * fabs(a));
out:
    ttt_trainer_free(all);
    ttt_trainer_free(ad);
    ttt_trainer_free(tt);
    ttt_trainer_free(re);
}

static void test_bad_input(ttt_model *m) {
    ttt_train_params p = ttt_train_default_params();
    ttt_trainer *t = NULL;
    p.policy = TTT_TRAIN_REGEX;
    p.regex = "(";
    CHECK_FAILS(ttt_trainer_init(m, &p, &t), TTT_ERR_ARG, "bad regex");
    p.regex = "^nothing$";
    CHECK_FAILS(ttt_trainer_init(m, &p, &t), TTT_ERR_ARG, "no tensor to train");
    p = ttt_train_default_params();
    p.beta2 = 1.0;
    CHECK_FAILS(ttt_trainer_init(m, &p, &t), TTT_ERR_ARG, "betas");
    CHECK(t == NULL);
    t = make(m, TTT_TRAIN_TTT, NULL);
    if (!t) return;
    int32_t lab[75];
    memcpy(lab, g_lab, sizeof lab);
    lab[3] = 5000;
    double loss;
    CHECK_FAILS(ttt_trainer_step(t, g_ids, lab, NULL, 1, 75, &loss), TTT_ERR_ARG, "label 5000");
    lab[3] = -1;
    CHECK_FAILS(ttt_trainer_step(t, g_ids, lab, NULL, 1, 75, &loss), TTT_ERR_ARG, "column 3");
    CHECK_FAILS(ttt_trainer_step(t, g_ids, g_lab, NULL, 0, 75, &loss), TTT_ERR_ARG, "B=0");
    ttt_trainer_free(t);
}

/* Mean CE of stored logits [T, V] against labels (-100 skipped), in double. */
static double ce(const float *logits, const int32_t *lab, int T, int V) {
    double tot = 0;
    int n = 0;
    for (int t = 0; t < T; t++) {
        if (lab[t] == -100) continue;
        const float *l = logits + (size_t)t * V;
        double mx = l[0], s = 0;
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < V; j++) s += exp(l[j] - mx);
        tot += mx + log(s) - l[lab[t]];
        n++;
    }
    return tot / n;
}

/* Directional derivative of the loss along the gradient, against central differences of
 * the fp32 loss: checks the backward of whatever segmentation the step uses. */
static void fd_check(ttt_trainer *t, const int32_t *in, const int32_t *lab,
                     const uint8_t *doc, int B, int T) {
    double l0;
    ttt_trainer_zero_grad(t);
    CHECK_OK(ttt_trainer_step(t, in, lab, doc, B, T, &l0));
    const int n = ttt_trainer_n_tensors(t);
    double gg = 0;
    for (int i = 0; i < n; i++) {
        ttt_train_tensor x;
        ttt_trainer_tensor(t, i, &x);
        for (size_t e = 0; e < x.n_elements; e++) gg += (double)x.grad[e] * x.grad[e];
    }
    const double h = 3e-3 / sqrt(gg);
    double lp, lm;
    for (int sgn = 1; sgn >= -1; sgn -= 2) {
        for (int i = 0; i < n; i++) {
            ttt_train_tensor x;
            ttt_trainer_tensor(t, i, &x);
            for (size_t e = 0; e < x.n_elements; e++)
                x.data[e] += (float)(sgn * h * x.grad[e]);
        }
        /* grads stay as they were: steps below add into a copy we do not read */
        double *out = sgn == 1 ? &lp : &lm;
        float **save = calloc(n > 0 ? (size_t)n : 1, sizeof *save);
        for (int i = 0; i < n; i++) {
            ttt_train_tensor x;
            ttt_trainer_tensor(t, i, &x);
            save[i] = malloc(sizeof(float) * x.n_elements);
            memcpy(save[i], x.grad, sizeof(float) * x.n_elements);
        }
        CHECK_OK(ttt_trainer_step(t, in, lab, doc, B, T, out));
        for (int i = 0; i < n; i++) {
            ttt_train_tensor x;
            ttt_trainer_tensor(t, i, &x);
            memcpy(x.grad, save[i], sizeof(float) * x.n_elements);
            free(save[i]);
            /* undo this side's shift (the next side shifts from the original point) */
            for (size_t e = 0; e < x.n_elements; e++) x.data[e] -= (float)(sgn * h * x.grad[e]);
        }
        free(save);
    }
    const double fd = (lp - lm) / (2 * h), an = gg;
    if (!(fabs(fd - an) < 2e-3 * fabs(an)))
        fprintf(stderr, "directional derivative: finite differences %.6g, backward %.6g\n", fd,
                an);
    CHECK(fabs(fd - an) < 2e-3 * fabs(an));
}

static void test_doc_reset(ttt_model *m, const float *logits_no_ttt, int V) {
    ttt_train_params p = ttt_train_default_params();
    p.doc_reset = 1;
    ttt_trainer *t = NULL;
    CHECK_OK(ttt_trainer_init(m, &p, &t));
    if (!t) return;
    /* a document start at every chunk (C = 16): S never leaves W_down, so the model is the
     * one without TTT and conv/proj get no gradient */
    uint8_t doc[75] = {0};
    for (int i = 0; i < 75; i += 16) doc[i] = 1;
    double loss;
    CHECK_OK(ttt_trainer_step(t, g_ids, g_lab, doc, 1, 75, &loss));
    const double want = ce(logits_no_ttt, g_lab, 75, V);
    CHECK(fabs(loss - want) < 1e-5 * want);
    CHECK(grad_of(t, "model.layers.0.mlp.ttt_conv.weight", 0) == 0);
    CHECK(grad_of(t, "model.layers.2.mlp.ttt_proj.weight", 17) == 0);
    /* without doc_reset the same flags change nothing */
    ttt_trainer *t2 = make(m, TTT_TRAIN_ALL, NULL);
    double l2, l3;
    CHECK_OK(ttt_trainer_step(t2, g_ids, g_lab, doc, 1, 75, &l2));
    CHECK_OK(ttt_trainer_step(t2, g_ids, g_lab, NULL, 1, 75, &l3));
    CHECK(l2 == l3 && fabs(l2 - loss) > 1e-3);
    ttt_trainer_free(t2);
    /* misaligned documents (chunks restart at 10 and 41), two sequences: the backward agrees
     * with finite differences */
    int32_t in[150], lab[150];
    uint8_t d2[150] = {0};
    memcpy(in, g_ids, sizeof g_ids);
    memcpy(lab, g_lab, sizeof g_lab);
    for (int i = 0; i < 75; i++) {
        in[75 + i] = g_ids[74 - i];
        lab[75 + i] = g_ids[(74 - i + 5) % 75];
    }
    d2[10] = d2[41] = d2[75 + 30] = 1;
    ttt_trainer_free(t);
    /* along the gradient of the TTT tensors alone, and of the TTT layers' gate and up (which
     * see S_j through dZ): the rest of the model would dilute their errors */
    const char *sets[] = {NULL, "layers\\.[02]\\.mlp\\.(gate|up)_proj"};
    for (int k = 0; k < 2; k++) {
        p.policy = sets[k] ? TTT_TRAIN_REGEX : TTT_TRAIN_ADAPTER;
        p.regex = sets[k];
        t = NULL;
        CHECK_OK(ttt_trainer_init(m, &p, &t));
        if (t) fd_check(t, in, lab, d2, 2, 75);
        ttt_trainer_free(t);
    }
}

/* Two micro-steps of one sequence each with grad_accum = 2 give the gradient of one step
 * over both (equal label counts: the mean of the means is the mean). */
static void test_accumulation(ttt_model *m) {
    ttt_train_params p = ttt_train_default_params();
    ttt_trainer *one = make(m, TTT_TRAIN_ALL, NULL), *acc = NULL;
    p.grad_accum = 2;
    CHECK_OK(ttt_trainer_init(m, &p, &acc));
    if (!one || !acc) goto out;
    int32_t in[150], lab[150];
    memcpy(in, g_ids, sizeof g_ids);
    memcpy(lab, g_lab, sizeof g_lab);
    for (int i = 0; i < 75; i++) {
        in[75 + i] = g_ids[(i * 3) % 75];
        lab[75 + i] = g_ids[(i * 5) % 75];
    }
    lab[149] = -100; /* 74 labels in each half, as in g_lab */
    double l, l1, l2;
    CHECK_OK(ttt_trainer_step(one, in, lab, NULL, 2, 75, &l));
    CHECK_OK(ttt_trainer_step(acc, in, lab, NULL, 1, 75, &l1));
    CHECK_OK(ttt_trainer_step(acc, in + 75, lab + 75, NULL, 1, 75, &l2));
    CHECK(fabs(l - (l1 + l2) / 2) < 1e-6 * l);
    double worst = 0, gmax = 0;
    for (int i = 0; i < ttt_trainer_n_tensors(one); i++) {
        ttt_train_tensor a, b;
        ttt_trainer_tensor(one, i, &a);
        ttt_trainer_tensor(acc, i, &b);
        for (size_t e = 0; e < a.n_elements; e++) {
            worst = fmax(worst, fabs((double)a.grad[e] - b.grad[e]));
            gmax = fmax(gmax, fabs((double)a.grad[e]));
        }
    }
    CHECK(worst < 1e-5 * gmax);
    double n1, n2;
    CHECK_OK(ttt_trainer_apply(one, &n1, NULL));
    CHECK_OK(ttt_trainer_apply(acc, &n2, NULL));
    CHECK(fabs(n1 - n2) < 1e-5 * n1);
out:
    ttt_trainer_free(one);
    ttt_trainer_free(acc);
}

static void test_schedule(ttt_model *m) {
    ttt_train_params p = ttt_train_default_params();
    p.lr = 1.0;
    p.lr_min = 0.1;
    p.warmup_steps = 4;
    p.total_steps = 14;
    p.decay = TTT_LR_COSINE;
    p.policy = TTT_TRAIN_TTT;
    ttt_trainer *t = NULL;
    CHECK_OK(ttt_trainer_init(m, &p, &t));
    if (!t) return;
    CHECK(fabs(ttt_trainer_lr_at(t, 0) - 0.25) < 1e-12);
    CHECK(fabs(ttt_trainer_lr_at(t, 3) - 1.0) < 1e-12);
    CHECK(fabs(ttt_trainer_lr_at(t, 4) - 1.0) < 1e-12);
    CHECK(fabs(ttt_trainer_lr_at(t, 9) - (0.1 + 0.9 * 0.5)) < 1e-12); /* half way: cos = 0 */
    CHECK(fabs(ttt_trainer_lr_at(t, 14) - 0.1) < 1e-12);
    CHECK(fabs(ttt_trainer_lr_at(t, 40) - 0.1) < 1e-12);
    ttt_trainer_free(t);
    p.decay = TTT_LR_LINEAR;
    p.warmup_steps = 0;
    p.warmup_ratio = 0.1; /* ceil(1.4) = 2 steps */
    CHECK_OK(ttt_trainer_init(m, &p, &t));
    if (!t) return;
    CHECK(fabs(ttt_trainer_lr_at(t, 0) - 0.5) < 1e-12);
    CHECK(fabs(ttt_trainer_lr_at(t, 2) - 1.0) < 1e-12);
    CHECK(fabs(ttt_trainer_lr_at(t, 8) - (0.1 + 0.9 * 0.5)) < 1e-12);
    ttt_trainer_free(t);
    p.decay = TTT_LR_CONSTANT;
    p.warmup_ratio = 0;
    CHECK_OK(ttt_trainer_init(m, &p, &t));
    CHECK(t && ttt_trainer_lr_at(t, 0) == 1.0 && ttt_trainer_lr_at(t, 100) == 1.0);
    ttt_trainer_free(t);
}

/* Three steps straight equal two steps, an export of values, moments and step into a fresh
 * trainer, and one more step: bit for bit. */
static void test_resume(ttt_model *m) {
    ttt_trainer *a = make(m, TTT_TRAIN_ADAPTER, NULL), *b = make(m, TTT_TRAIN_ADAPTER, NULL);
    if (!a || !b) goto out;
    double la[3], lb, n;
    for (int s = 0; s < 3; s++) {
        CHECK_OK(ttt_trainer_step(a, g_ids, g_lab, NULL, 1, 75, &la[s]));
        CHECK_OK(ttt_trainer_apply(a, &n, NULL));
        if (s == 1) {
            for (int i = 0; i < ttt_trainer_n_tensors(a); i++) {
                ttt_train_tensor x, y;
                ttt_trainer_tensor(a, i, &x);
                CHECK_OK(ttt_trainer_find(b, x.name, &y));
                memcpy(y.data, x.data, sizeof(float) * x.n_elements);
                memcpy(y.m, x.m, sizeof(float) * x.n_elements);
                memcpy(y.v, x.v, sizeof(float) * x.n_elements);
            }
            ttt_trainer_set_step(b, ttt_trainer_get_step(a));
        }
    }
    CHECK(ttt_trainer_get_step(a) == 3);
    CHECK_OK(ttt_trainer_step(b, g_ids, g_lab, NULL, 1, 75, &lb));
    CHECK(lb == la[2]);
    CHECK_OK(ttt_trainer_apply(b, &n, NULL));
    double l4a, l4b;
    CHECK_OK(ttt_trainer_step(a, g_ids, g_lab, NULL, 1, 75, &l4a));
    CHECK_OK(ttt_trainer_step(b, g_ids, g_lab, NULL, 1, 75, &l4b));
    CHECK(l4a == l4b && l4a < la[0]);
out:
    ttt_trainer_free(a);
    ttt_trainer_free(b);
}

/* A small model memorises one repeated batch. */
static void test_overfit(ttt_model *m) {
    ttt_train_params p = ttt_train_default_params();
    p.lr = 1e-2;
    p.weight_decay = 0;
    ttt_trainer *t = NULL;
    CHECK_OK(ttt_trainer_init(m, &p, &t));
    if (!t) return;
    double loss = 0, first = 0, norm;
    int step = 0;
    for (; step < 300; step++) {
        CHECK_OK(ttt_trainer_step(t, g_ids, g_lab, NULL, 1, 75, &loss));
        if (step == 0) first = loss;
        if (loss < 0.1) break;
        CHECK_OK(ttt_trainer_apply(t, &norm, NULL));
    }
    fprintf(stderr, "overfit: loss %.3f -> %.4f after %d steps\n", first, loss, step);
    CHECK(first > 5 && loss < 0.1);
    ttt_trainer_free(t);
}

int main(void) {
    const char *golden = getenv("TTT_GOLDEN");
    if (!golden) golden = "../../shared/golden";
    snprintf(g_dir, sizeof g_dir, "%s/qwen3", golden);
    /* tiny model: one thread (the golden gradient tests run the threaded paths) */
    ttt_set_threads(1);
    ttt_model *m = NULL;
    ttt_tensors *exp = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/expected.safetensors", g_dir);
    if (ttt_model_load(g_dir, &m) != TTT_OK || ttt_tensors_open(path, &exp) != TTT_OK) {
        fprintf(stderr, "test_train: golden qwen3 not found (%s): skipped\n", ttt_last_error());
        ttt_model_free(m);
        return 77;
    }
    ttt_tensor_info ids, lg;
    CHECK_OK(ttt_tensors_find(exp, "input_ids", &ids));
    CHECK_OK(ttt_tensors_find(exp, "logits_no_ttt", &lg));
    CHECK(ids.n_elements == 75 && ids.dtype == TTT_DT_I32);
    memcpy(g_ids, ids.data, sizeof g_ids);
    for (int i = 0; i < 74; i++) g_lab[i] = g_ids[i + 1];
    g_lab[74] = -100;
    float *no_ttt = malloc(sizeof(float) * lg.n_elements);
    CHECK_OK(ttt_tensor_to_f32(&lg, no_ttt));

    test_policies(m);
    test_bad_input(m);
    test_doc_reset(m, no_ttt, 1024);
    test_accumulation(m);
    test_schedule(m);
    test_resume(m);
    test_overfit(m);

    free(no_ttt);
    ttt_tensors_close(exp);
    ttt_model_free(m);
    return check_summary("test_train");
}
