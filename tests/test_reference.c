/* test_reference.c - the engine against a naive model written straight from the spec.
 *
 * The reference below is deliberately simple and shares no code with src/model or src/cpu:
 * double precision, the full T x T attention, and In-Place TTT exactly as spec section 3 states
 * it (pad to chunks, conv per chunk, materialise every S_i = W_down + eta * sum_{j<i} dW_j).
 * Tiny checkpoints of many shapes are written with strong TTT weights, so a mistake in the
 * fast-weight path moves the logits far beyond the tolerance. The engine must match the
 * reference for a single call and for split schedules (prefill in pieces, token by token),
 * in f32, bf16 and f16 storage. Each case also writes a directory in the golden layout that a
 * CTest case then checks with `ttt verify` (fixture "refdirs"). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/init.h"
#include "util/fp.h"
#include "util/mem.h"

#define T_SEQ 41
#define FREEZE_AT 23 /* position where the "frozen midway" runs stop learning */

typedef struct ref_case {
    const char *name;
    const char *config; /* config.json text */
    ttt_dtype dtype;
    int grads;          /* also write grads.safetensors (finite differences of the loss) */
} ref_case;

/* ---------------- writing the test checkpoint ---------------- */

static uint64_t rng_state;
static double rnd_normal(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u1 = ((rng_state >> 11) + 1.0) / 9007199254740993.0;
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    double u2 = (rng_state >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

typedef struct ckpt {
    const ttt_tensor_list *list;
    int norm_plus1;
} ckpt;

/* Strong, non-trivial values everywhere: norms away from 1, dense W_target, large conv. */
static ttt_status fill(void *ctx, int t, void *dst, size_t n_bytes) {
    const ckpt *k = ctx;
    const ttt_st_desc *d = &k->list->descs[t];
    size_t n = n_bytes / ttt_dtype_size(d->dtype);
    for (size_t i = 0; i < n; i++) {
        double v;
        switch (k->list->roles[t]) {
        case TTT_ROLE_NORM: v = (k->norm_plus1 ? 0.0 : 1.0) + 0.2 * rnd_normal(); break;
        case TTT_ROLE_TTT_CONV: v = 0.5 * rnd_normal(); break;
        case TTT_ROLE_TTT_PROJ: v = 0.3 * rnd_normal(); break;
        default: v = 0.15 * rnd_normal(); break;
        }
        if (d->dtype == TTT_DT_F32) ((float *)dst)[i] = (float)v;
        else if (d->dtype == TTT_DT_BF16) ((uint16_t *)dst)[i] = ttt_f32_to_bf16((float)v);
        else ((uint16_t *)dst)[i] = ttt_f32_to_f16((float)v);
    }
    return TTT_OK;
}

static int write_model(const char *dir, const ref_case *rc, ttt_config *cfg) {
    mkdir(dir, 0755);
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(rc->config, f);
    fclose(f);
    if (ttt_config_load(path, cfg) != TTT_OK) {
        fprintf(stderr, "%s: %s\n", rc->name, ttt_last_error());
        return -1;
    }
    ttt_tensor_list list;
    if (ttt_tensor_list_make(cfg, rc->dtype, &list) != TTT_OK) return -1;
    ckpt k = {.list = &list, .norm_plus1 = cfg->norm_plus1};
    rng_state = 0x1234567ull + strlen(rc->name);
    ttt_status st = ttt_st_save(dir, list.descs, list.n, 1ull << 40, fill, &k);
    ttt_tensor_list_free(&list);
    return st == TTT_OK ? 0 : -1;
}

/* ---------------- the naive reference ---------------- */

typedef struct ref {
    const ttt_config *c;
    ttt_tensors *w;
    const char *pert; /* NULL, or a tensor whose element pidx reads as value + ph */
    size_t pidx;
    double ph;
} ref;

/* A weight as doubles (caller frees); NULL when absent. */
__attribute__((format(printf, 2, 3))) static double *W(ref *r, const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    ttt_tensor_info ti;
    if (ttt_tensors_find(r->w, name, &ti) != TTT_OK) return NULL;
    float *f = malloc(sizeof(float) * ti.n_elements);
    double *d = malloc(sizeof(double) * ti.n_elements);
    ttt_tensor_to_f32(&ti, f);
    for (uint64_t i = 0; i < ti.n_elements; i++) d[i] = f[i];
    free(f);
    if (r->pert && !strcmp(r->pert, name)) d[r->pidx] += r->ph;
    return d;
}

/* y[T, N] = x[T, K] M^T, M = [N, K] */
static void linear(double *y, const double *x, const double *M, int T, int N, int K) {
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += x[(size_t)t * K + k] * M[(size_t)n * K + k];
            y[(size_t)t * N + n] = s;
        }
}

static void rmsnorm(double *y, const double *x, const double *w, int rows, int dim, double eps,
                    int plus1) {
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int d = 0; d < dim; d++) ss += x[(size_t)r * dim + d] * x[(size_t)r * dim + d];
        double inv = 1 / sqrt(ss / dim + eps);
        for (int d = 0; d < dim; d++)
            y[(size_t)r * dim + d] = x[(size_t)r * dim + d] * inv * (plus1 ? 1 + w[d] : w[d]);
    }
}

static double inv_freq(const ttt_rope *rp, int j, int hd) {
    double f = pow(rp->theta, -2.0 * j / hd);
    if (rp->kind == TTT_ROPE_LINEAR) return f / rp->factor;
    if (rp->kind != TTT_ROPE_LLAMA3) return f;
    double wavelen = 2 * M_PI / f;
    if (wavelen < rp->orig_max_pos / rp->high_freq_factor) return f;
    if (wavelen > rp->orig_max_pos / rp->low_freq_factor) return f / rp->factor;
    double s = (rp->orig_max_pos / wavelen - rp->low_freq_factor) /
               (rp->high_freq_factor - rp->low_freq_factor);
    return (1 - s) * f / rp->factor + s * f;
}

static void rope(double *x, int T, int nh, int hd, const ttt_rope *rp) {
    for (int t = 0; t < T; t++)
        for (int h = 0; h < nh; h++)
            for (int j = 0; j < hd / 2; j++) {
                double a = (float)((float)t * (float)inv_freq(rp, j, hd));
                double *v = x + ((size_t)t * nh + h) * hd;
                double x1 = v[j], x2 = v[j + hd / 2];
                v[j] = x1 * cos(a) - x2 * sin(a);
                v[j + hd / 2] = x2 * cos(a) + x1 * sin(a);
            }
}

static double act(const ttt_config *c, double g) {
    if (c->act == TTT_ACT_SILU) return g / (1 + exp(-g));
    return 0.5 * g * (1 + tanh(sqrt(2 / M_PI) * (g + 0.044715 * g * g * g)));
}

/* Spec section 3 for one layer: out[T, D] from Z[T, F] and target t[T, D]. Chunks that end
 * after position `freeze` contribute no update (the session was frozen there). */
static void ttt_mlp(ref *r, int l, const double *Z, const double *tgt, double *out, int T,
                    int freeze) {
    const ttt_config *c = r->c;
    const int D = c->d_model, F = c->d_ff, C = c->ttt_chunk;
    const int N = (T + C - 1) / C;
    double *Wd = W(r, "model.layers.%d.mlp.down_proj.weight", l);
    double *conv = W(r, "model.layers.%d.mlp.ttt_conv.weight", l); /* [D, 1, 5] */
    double *P = c->ttt_proj ? W(r, "model.layers.%d.mlp.ttt_proj.weight", l) : NULL;
    double *Zp = calloc((size_t)N * C * F, sizeof(double)); /* zero-padded to N chunks */
    double *tp = calloc((size_t)N * C * D, sizeof(double));
    memcpy(Zp, Z, sizeof(double) * T * F);
    memcpy(tp, tgt, sizeof(double) * T * D);
    double *dW = calloc((size_t)N * D * F, sizeof(double));
    double *U = malloc(sizeof(double) * C * D), *V = malloc(sizeof(double) * C * D);
    const int left = c->ttt_conv_causal ? 4 : 2;
    for (int i = 0; i < N; i++) {
        const double *ti = tp + (size_t)i * C * D, *Zi = Zp + (size_t)i * C * F;
        for (int cc = 0; cc < C; cc++)
            for (int d = 0; d < D; d++) {
                double s = 0;
                for (int k = 0; k < 5; k++) {
                    int src = cc + k - left;
                    if (src >= 0 && src < C) s += conv[(size_t)d * 5 + k] * ti[(size_t)src * D + d];
                }
                U[(size_t)cc * D + d] = s;
            }
        for (int cc = 0; cc < C; cc++)
            for (int e = 0; e < D; e++) {
                double s = 0;
                if (!P) s = U[(size_t)cc * D + e];
                else
                    for (int d = 0; d < D; d++) s += U[(size_t)cc * D + d] * P[(size_t)d * D + e];
                V[(size_t)cc * D + e] = s;
            }
        double *dWi = dW + (size_t)i * D * F, norm = 0;
        for (int e = 0; e < D; e++)
            for (int f = 0; f < F; f++) {
                double s = 0;
                for (int cc = 0; cc < C; cc++) s += V[(size_t)cc * D + e] * Zi[(size_t)cc * F + f];
                dWi[(size_t)e * F + f] = s;
                norm += s * s;
            }
        norm = sqrt(norm);
        if (c->ttt_clip > 0 && norm > c->ttt_clip)
            for (size_t k = 0; k < (size_t)D * F; k++) dWi[k] *= c->ttt_clip / norm;
    }
    double *S = malloc(sizeof(double) * D * F);
    for (int i = 0; i < N; i++) {
        for (size_t k = 0; k < (size_t)D * F; k++) {
            double s = Wd[k];
            for (int j = 0; j < i; j++)
                if ((j + 1) * C <= freeze) s += c->ttt_lr * dW[(size_t)j * D * F + k];
            S[k] = s;
        }
        for (int cc = 0; cc < C && i * C + cc < T; cc++) {
            const double *z = Zp + ((size_t)i * C + cc) * F;
            for (int e = 0; e < D; e++) {
                double s = 0;
                for (int f = 0; f < F; f++) s += z[f] * S[(size_t)e * F + f];
                out[((size_t)i * C + cc) * D + e] = s;
            }
        }
    }
    free(S);
    free(U);
    free(V);
    free(dW);
    free(Zp);
    free(tp);
    free(Wd);
    free(conv);
    free(P);
}

static void attention(ref *r, const double *q, const double *k, const double *v, double *out,
                      int T, int window) {
    const ttt_config *c = r->c;
    const int H = c->n_heads, Hkv = c->n_kv_heads, hd = c->head_dim, G = H / Hkv;
    double *s = malloc(sizeof(double) * T);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < T; i++) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < T; j++) {
                int visible = j <= i && (window == 0 || i - j < window);
                if (!visible) {
                    s[j] = -INFINITY;
                    continue;
                }
                double d = 0;
                for (int e = 0; e < hd; e++)
                    d += q[((size_t)i * H + h) * hd + e] * k[((size_t)j * Hkv + h / G) * hd + e];
                d *= c->attn_scale;
                if (c->attn_softcap > 0) d = c->attn_softcap * tanh(d / c->attn_softcap);
                s[j] = d;
                mx = d > mx ? d : mx;
            }
            for (int j = 0; j < T; j++) sum += s[j] == -INFINITY ? 0 : exp(s[j] - mx);
            for (int e = 0; e < hd; e++) {
                double o = 0;
                for (int j = 0; j < T; j++)
                    if (s[j] != -INFINITY)
                        o += exp(s[j] - mx) / sum * v[((size_t)j * Hkv + h / G) * hd + e];
                out[((size_t)i * H + h) * hd + e] = o;
            }
        }
    free(s);
}

/* logits[T, V] of the whole sequence; ttt = 0 runs every MLP with W_down; the fast weights
 * stop learning at position freeze (T: never). */
static void reference(ref *r, const int32_t *ids, int T, int ttt, int freeze, double *logits) {
    const ttt_config *c = r->c;
    const int D = c->d_model, F = c->d_ff, H = c->n_heads, Hkv = c->n_kv_heads;
    const int hd = c->head_dim, V = c->n_vocab, gemma = c->arch == TTT_ARCH_GEMMA3;
    double *x = malloc(sizeof(double) * T * D), *emb = malloc(sizeof(double) * T * D);
    double *h = malloc(sizeof(double) * T * D), *o = malloc(sizeof(double) * T * D);
    double *q = malloc(sizeof(double) * T * H * hd), *a = malloc(sizeof(double) * T * H * hd);
    double *k = malloc(sizeof(double) * T * Hkv * hd), *v = malloc(sizeof(double) * T * Hkv * hd);
    double *g = malloc(sizeof(double) * T * F), *u = malloc(sizeof(double) * T * F);
    double *E = W(r, "model.embed_tokens.weight");
    for (int t = 0; t < T; t++)
        for (int d = 0; d < D; d++)
            emb[(size_t)t * D + d] = x[(size_t)t * D + d] =
                E[(size_t)ids[t] * D + d] * (double)c->embed_scale;
    for (int l = 0; l < c->n_layers; l++) {
        double *w = W(r, "model.layers.%d.input_layernorm.weight", l);
        rmsnorm(h, x, w, T, D, c->norm_eps, gemma);
        free(w);
        double *M = W(r, "model.layers.%d.self_attn.q_proj.weight", l);
        linear(q, h, M, T, H * hd, D);
        free(M);
        M = W(r, "model.layers.%d.self_attn.k_proj.weight", l);
        linear(k, h, M, T, Hkv * hd, D);
        free(M);
        M = W(r, "model.layers.%d.self_attn.v_proj.weight", l);
        linear(v, h, M, T, Hkv * hd, D);
        free(M);
        if (c->qk_norm) {
            w = W(r, "model.layers.%d.self_attn.q_norm.weight", l);
            rmsnorm(q, q, w, T * H, hd, c->norm_eps, gemma);
            free(w);
            w = W(r, "model.layers.%d.self_attn.k_norm.weight", l);
            rmsnorm(k, k, w, T * Hkv, hd, c->norm_eps, gemma);
            free(w);
        }
        const ttt_rope *rp = c->layer_sliding[l] ? &c->rope_local : &c->rope_global;
        rope(q, T, H, hd, rp);
        rope(k, T, Hkv, hd, rp);
        attention(r, q, k, v, a, T, c->layer_sliding[l] ? c->sliding_window : 0);
        M = W(r, "model.layers.%d.self_attn.o_proj.weight", l);
        linear(o, a, M, T, D, H * hd);
        free(M);
        if (gemma) {
            w = W(r, "model.layers.%d.post_attention_layernorm.weight", l);
            rmsnorm(o, o, w, T, D, c->norm_eps, 1);
            free(w);
        }
        for (size_t i = 0; i < (size_t)T * D; i++) x[i] += o[i];
        w = W(r, gemma ? "model.layers.%d.pre_feedforward_layernorm.weight"
                       : "model.layers.%d.post_attention_layernorm.weight", l);
        rmsnorm(h, x, w, T, D, c->norm_eps, gemma);
        free(w);
        M = W(r, "model.layers.%d.mlp.gate_proj.weight", l);
        linear(g, h, M, T, F, D);
        free(M);
        M = W(r, "model.layers.%d.mlp.up_proj.weight", l);
        linear(u, h, M, T, F, D);
        free(M);
        for (size_t i = 0; i < (size_t)T * F; i++) g[i] = act(c, g[i]) * u[i];
        if (ttt && c->layer_ttt[l]) {
            ttt_mlp(r, l, g, c->ttt_target == TTT_TARGET_EMBED ? emb : h, o, T, freeze);
        } else {
            M = W(r, "model.layers.%d.mlp.down_proj.weight", l);
            linear(o, g, M, T, D, F);
            free(M);
        }
        if (gemma) {
            w = W(r, "model.layers.%d.post_feedforward_layernorm.weight", l);
            rmsnorm(o, o, w, T, D, c->norm_eps, 1);
            free(w);
        }
        for (size_t i = 0; i < (size_t)T * D; i++) x[i] += o[i];
    }
    double *w = W(r, "model.norm.weight");
    rmsnorm(h, x, w, T, D, c->norm_eps, gemma);
    free(w);
    double *head = c->tie_embeddings ? E : W(r, "lm_head.weight");
    linear(logits, h, head, T, V, D);
    if (c->final_softcap > 0)
        for (size_t i = 0; i < (size_t)T * V; i++)
            logits[i] = c->final_softcap * tanh(logits[i] / c->final_softcap);
    if (head != E) free(head);
    free(E);
    free(x);
    free(emb);
    free(h);
    free(o);
    free(q);
    free(a);
    free(k);
    free(v);
    free(g);
    free(u);
}

/* ---------------- engine vs reference ---------------- */

/* Runs the tokens as calls of sizes pieces[] (0: the rest), then calls of `each`. */
static ttt_status engine(ttt_model *m, const int32_t *ids, int T, int mode, int n_batch,
                         const int *pieces, int n_pieces, int each, int freeze, float *logits,
                         int V) {
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = T;
    sp.n_batch = n_batch;
    sp.ttt_mode = mode;
    ttt_session *s;
    ttt_status st = ttt_session_init(m, &sp, &s);
    if (st != TTT_OK) return st;
    int pos = 0, k = 0;
    while (pos < T && st == TTT_OK) {
        int n = k < n_pieces ? (pieces[k] ? pieces[k] : T - pos) : (each ? each : T - pos);
        k++;
        n = n < T - pos ? n : T - pos;
        if (pos < freeze && pos + n > freeze) n = freeze - pos;
        if (pos == freeze) ttt_session_set_ttt(s, TTT_MODE_FROZEN);
        ttt_eval_out out = {.logits = logits + (size_t)pos * V, .logits_all = 1};
        st = ttt_session_eval(s, ids + pos, n, &out);
        pos += n;
    }
    ttt_session_free(s);
    return st;
}

/* The golden layout, with the reference as the expected output, for `ttt verify`. */
static void write_golden(const char *dir, const int32_t *ids, const double *lr,
                         const double *lr0, int T, int V) {
    float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
    for (size_t i = 0; i < (size_t)T * V; i++) {
        a[i] = (float)lr[i];
        b[i] = (float)lr0[i];
    }
    ttt_st_desc d[3] = {
        {.name = "input_ids", .dtype = TTT_DT_I32, .ndim = 2, .shape = {1, T}},
        {.name = "logits", .dtype = TTT_DT_F32, .ndim = 3, .shape = {1, T, V}},
        {.name = "logits_no_ttt", .dtype = TTT_DT_F32, .ndim = 3, .shape = {1, T, V}},
    };
    char path[600];
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    ttt_st_writer *w;
    CHECK_OK(ttt_st_writer_open(path, d, 3, NULL, 0, &w));
    if (w) {
        CHECK_OK(ttt_st_writer_put(w, ids, sizeof(int32_t) * T));
        CHECK_OK(ttt_st_writer_put(w, a, sizeof(float) * T * V));
        CHECK_OK(ttt_st_writer_put(w, b, sizeof(float) * T * V));
        CHECK_OK(ttt_st_writer_commit(w));
    }
    snprintf(path, sizeof path, "%s/expected.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"infer_vs_train_maxrel\": {\"p17_then_1\": 0, \"mixed\": 0, \"2,9,1,rest\": 0}}",
              f);
        fclose(f);
    }
    free(a);
    free(b);
}

/* Mean next-token cross-entropy of the reference (labels = ids shifted by one). */
static double ref_loss(ref *r, const int32_t *ids, int T, double *logits) {
    const int V = r->c->n_vocab;
    reference(r, ids, T, 1, T, logits);
    double total = 0;
    for (int t = 0; t + 1 < T; t++) {
        const double *l = logits + (size_t)t * V;
        double mx = l[0], s = 0;
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < V; j++) s += exp(l[j] - mx);
        total += mx + log(s) - l[ids[t + 1]];
    }
    return total / (T - 1);
}

/* grads.safetensors from central differences of the double-precision loss, every element of
 * every tensor (small models only: two forwards per parameter). */
static void write_grads(const char *dir, const ref *r0, const int32_t *ids, int T) {
    const int n = ttt_tensors_count(r0->w);
    ttt_st_desc *d = calloc((size_t)n, sizeof *d);
    float **g = calloc((size_t)n, sizeof *g);
    for (int i = 0; i < n; i++) {
        ttt_tensor_info ti;
        CHECK_OK(ttt_tensors_get(r0->w, i, &ti));
        d[i] = (ttt_st_desc){.name = ti.name, .dtype = TTT_DT_F32, .ndim = ti.ndim};
        memcpy(d[i].shape, ti.shape, sizeof ti.shape);
        g[i] = malloc(sizeof(float) * ti.n_elements);
        const double h = 1e-5;
#pragma omp parallel for schedule(dynamic)
        for (uint64_t e = 0; e < ti.n_elements; e++) {
            double *logits = malloc(sizeof(double) * T * r0->c->n_vocab);
            ref r = *r0;
            r.pert = ti.name;
            r.pidx = e;
            r.ph = h;
            double lp = ref_loss(&r, ids, T, logits);
            r.ph = -h;
            double lm = ref_loss(&r, ids, T, logits);
            g[i][e] = (float)((lp - lm) / (2 * h));
            free(logits);
        }
    }
    char path[600];
    snprintf(path, sizeof path, "%s/grads.safetensors", dir);
    ttt_st_writer *w;
    CHECK_OK(ttt_st_writer_open(path, d, n, NULL, 0, &w));
    for (int i = 0; w && i < n; i++) {
        ttt_tensor_info ti;
        ttt_tensors_get(r0->w, i, &ti);
        CHECK_OK(ttt_st_writer_put(w, g[i], sizeof(float) * ti.n_elements));
    }
    if (w) CHECK_OK(ttt_st_writer_commit(w));
    for (int i = 0; i < n; i++) free(g[i]);
    free(g);
    free(d);
}

static void run_case(const ref_case *rc, const char *tmp) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ref_%s", tmp, rc->name);
    ttt_config cfg;
    if (write_model(dir, rc, &cfg)) {
        CHECK(!"writing the test model");
        return;
    }
    ttt_model *m;
    CHECK_OK(ttt_model_load(dir, &m));
    if (check_failures) return;
    ref r = {.c = &cfg};
    CHECK_OK(ttt_tensors_open(dir, &r.w));
    const int T = T_SEQ, V = cfg.n_vocab;
    int32_t ids[T_SEQ];
    for (int i = 0; i < T; i++) ids[i] = (int32_t)((i * 7919u + 13u) % (unsigned)V);
    double *lr = malloc(sizeof(double) * T * V), *lr0 = malloc(sizeof(double) * T * V);
    float *le = malloc(sizeof(float) * T * V);
    double *lrf = malloc(sizeof(double) * T * V);
    reference(&r, ids, T, 1, T, lr);
    reference(&r, ids, T, 0, T, lr0);
    reference(&r, ids, T, 1, FREEZE_AT, lrf);

    /* the test is only meaningful if TTT moves the logits a lot */
    float *tmpf = malloc(sizeof(float) * T * V);
    for (size_t i = 0; i < (size_t)T * V; i++) tmpf[i] = (float)lr0[i];
    double effect = check_max_rel(tmpf, lr, (size_t)T * V);
    free(tmpf);
    if (cfg.n_ttt_layers > 0 && cfg.ttt_chunk < T) CHECK(effect > 0.05);

    const int mixed[] = {5, 30, 1, 1, 20, 3, 0};
    const int pieces[] = {3, 1, 10, 1, 1, 0};
    struct {
        const char *what;
        int mode, n_batch, n_pieces, each, freeze;
        const int *pieces;
        const double *want;
    } runs[] = {
        {"one call", TTT_MODE_ON, 512, 0, 0, T, NULL, lr},
        {"steps of 4", TTT_MODE_ON, 4, 0, 0, T, NULL, lr},
        {"token by token", TTT_MODE_ON, 512, 0, 1, T, NULL, lr},
        {"p17 then 1", TTT_MODE_ON, 512, 1, 1, T, (const int[]){17}, lr},
        {"mixed", TTT_MODE_ON, 512, 7, 0, T, mixed, lr},
        {"pieces, steps of 3", TTT_MODE_ON, 3, 6, 0, T, pieces, lr},
        {"TTT off", TTT_MODE_OFF, 512, 0, 0, T, NULL, lr0},
        {"TTT off, token by token", TTT_MODE_OFF, 512, 0, 1, T, NULL, lr0},
        {"frozen from the start", TTT_MODE_FROZEN, 512, 0, 0, T, NULL, lr0},
        {"frozen midway", TTT_MODE_ON, 512, 0, 0, FREEZE_AT, NULL, lrf},
        {"frozen midway, mixed", TTT_MODE_ON, 512, 7, 0, FREEZE_AT, mixed, lrf},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        memset(le, 0, sizeof(float) * T * V);
        CHECK_OK(engine(m, ids, T, runs[i].mode, runs[i].n_batch, runs[i].pieces,
                        runs[i].n_pieces, runs[i].each, runs[i].freeze, le, V));
        double err = check_max_rel(le, runs[i].want, (size_t)T * V);
        if (!(err < 1e-4))
            fprintf(stderr, "%s, %s: max rel err %.3e\n", rc->name, runs[i].what, err);
        CHECK(err < 1e-4);
    }
    write_golden(dir, ids, lr, lr0, T, V);
    if (rc->grads) write_grads(dir, &r, ids, T);
    fprintf(stderr, "%s: TTT effect %.3f, engine matches the reference\n", rc->name, effect);
    free(lr);
    free(lr0);
    free(lrf);
    free(le);
    ttt_tensors_close(r.w);
    ttt_model_free(m);
}

#define SHAPE(extra)                                                                          \
    "\"hidden_size\": 32, \"intermediate_size\": 48, \"num_hidden_layers\": 3, "              \
    "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 8, "               \
    "\"vocab_size\": 97, \"rms_norm_eps\": 1e-6, \"ttt_mode\": true, \"ttt_lr\": 0.5" extra "}"

/* small enough for finite-difference gradients of every parameter */
#define SMALL(extra)                                                                          \
    "\"hidden_size\": 16, \"intermediate_size\": 24, \"num_hidden_layers\": 2, "              \
    "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"head_dim\": 4, "               \
    "\"vocab_size\": 23, \"rms_norm_eps\": 1e-6, \"ttt_mode\": true, \"ttt_lr\": 0.5" extra "}"

static const ref_case CASES[] = {
    {"grad_qwen3_tied_c4", "{\"architectures\": [\"Qwen3ForCausalLM\"], " SMALL(
         ", \"ttt_layers\": [0, 1], \"ttt_chunk\": 4, \"tie_word_embeddings\": true"),
     TTT_DT_F32, 1},
    {"grad_llama_causal_clip_noproj", "{\"architectures\": [\"LlamaForCausalLM\"], " SMALL(
         ", \"ttt_layers\": [1], \"ttt_chunk\": 6, \"ttt_conv_causal\": true, \"ttt_clip\": "
         "0.5, \"ttt_proj\": false, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": "
         "4, \"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\":"
         " 16}"), TTT_DT_F32, 1},
    {"grad_gemma3_embed", "{\"architectures\": [\"Gemma3ForCausalLM\"], " SMALL(
         ", \"ttt_layers\": [0, 1], \"ttt_chunk\": 5, \"ttt_target\": \"input_embed\", "
         "\"sliding_window\": 6, \"sliding_window_pattern\": 2, \"query_pre_attn_scalar\": 8, "
         "\"attn_logit_softcapping\": 3.0, \"final_logit_softcapping\": 5.0"), TTT_DT_BF16, 1},
    {"qwen3_bf16_c5", "{\"architectures\": [\"Qwen3ForCausalLM\"], " SHAPE(
         ", \"ttt_layers\": [0, 2], \"ttt_chunk\": 5"), TTT_DT_BF16, 0},
    {"qwen3_noproj_c1", "{\"architectures\": [\"Qwen3ForCausalLM\"], " SHAPE(
         ", \"ttt_layers\": [1], \"ttt_chunk\": 1, \"ttt_proj\": false, \"tie_word_embeddings\": "
         "true"), TTT_DT_F32, 0},
    {"qwen3_swa_hd12", "{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 32, "
                       "\"intermediate_size\": 40, \"num_hidden_layers\": 2, "
                       "\"num_attention_heads\": 3, \"num_key_value_heads\": 1, \"head_dim\": 12, "
                       "\"vocab_size\": 61, \"use_sliding_window\": true, \"sliding_window\": 7, "
                       "\"max_window_layers\": 1, \"ttt_mode\": true, \"ttt_layers\": [0, 1], "
                       "\"ttt_chunk\": 16, \"ttt_lr\": 1.0}", TTT_DT_F32, 0},
    {"llama_rope3_causal_clip", "{\"architectures\": [\"LlamaForCausalLM\"], " SHAPE(
         ", \"ttt_layers\": [0, 1, 2], \"ttt_chunk\": 7, \"ttt_conv_causal\": true, \"ttt_clip\": "
         "2.0, \"rope_theta\": 10000, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": "
         "4, \"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\":"
         " 16}"), TTT_DT_F32, 0},
    {"gemma3_f16_embed", "{\"architectures\": [\"Gemma3ForCausalLM\"], " SHAPE(
         ", \"ttt_layers\": [0, 2], \"ttt_chunk\": 8, \"ttt_target\": \"input_embed\", "
         "\"sliding_window\": 6, \"sliding_window_pattern\": 2, \"query_pre_attn_scalar\": 16, "
         "\"attn_logit_softcapping\": 3.0, \"final_logit_softcapping\": 5.0, \"rope_scaling\": "
         "{\"rope_type\": \"linear\", \"factor\": 2}"), TTT_DT_F16, 0},
    {"qwen3_long_chunk", "{\"architectures\": [\"Qwen3ForCausalLM\"], " SHAPE(
         ", \"ttt_layers\": [0], \"ttt_chunk\": 64"), TTT_DT_BF16, 0},
};

int main(void) {
    const char *tmp = getenv("TTT_TEST_TMP");
    if (!tmp) tmp = "/tmp";
    ttt_set_threads(2);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run_case(&CASES[i], tmp);
    return check_summary("test_reference");
}
