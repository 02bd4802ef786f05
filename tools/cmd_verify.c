/* cmd_verify.c - `ttt verify DIR`: runs a golden directory's model and compares with the
 * reference outputs: the full forward (logits, hidden states, loss), TTT off (logits_no_ttt),
 * and incremental schedules (prefill in pieces, then token by token). Error measure: max
 * relative error, max|a - b| / max|b| over a tensor. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ttt.h"
#include "verify_train.h"

#define MAX_PIECES 64

typedef struct verify {
    const char *dir;
    double tol;
    ttt_model *model;
    ttt_model_info info;
    ttt_tensors *exp;
    int T;
    int32_t *ids;      /* [T] */
    float *ref_logits; /* [T, V] */
    int failures;
} verify;

/* A schedule: call sizes; a size of 0 means "the rest". */
typedef struct schedule {
    char name[64];
    int n;
    int pieces[MAX_PIECES];
    int then_each; /* after the pieces, calls of this size until the end (0: none) */
} schedule;

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt verify DIR [--tol X] [-t N] [--schedule LIST] [--grads] [--adamw]\n"
            "                      [--device D] [--precision P]\n"
            "\n"
            "DIR holds config.json, model.safetensors, expected.safetensors and expected.json.\n"
            "Runs the full forward, TTT off and each incremental schedule named in\n"
            "expected.json (infer_vs_train_maxrel: \"pN_then_M\", \"mixed\"), prints the max\n"
            "relative error of each check and exits 0 only when all are below --tol (1e-4;\n"
            "2e-2 on cuda in bf16).\n"
            "  --schedule LIST  an extra schedule of call sizes, e.g. 5,30,1,rest\n"
            "  --grads          instead: compare every gradient of the mean next-token loss\n"
            "                   with DIR/grads.safetensors (the float32 trainer, on --device)\n"
            "  --adamw          instead: replay expected.json's adamw_trajectory (10 AdamW\n"
            "                   steps per freeze policy: losses and grad norms; on --device)\n"
            "  -t N             threads\n" CLI_MODEL_OPTIONS_HELP);
}

double verify_max_rel(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > num || d != d) num = d != d ? INFINITY : d;
        if (fabs((double)b[i]) > den) den = fabs((double)b[i]);
    }
    return den > 0 ? num / den : num;
}

static void report(verify *v, const char *check, double err) {
    int ok = err < v->tol;
    if (!ok) v->failures++;
    printf("  %-28s max rel err %.3e  %s\n", check, err, ok ? "ok" : "FAIL");
}

static int load_ref(verify *v, const char *name, size_t want, float **out) {
    ttt_tensor_info ti;
    *out = NULL;
    if (ttt_tensors_find(v->exp, name, &ti) != TTT_OK) return -1;
    if (ti.n_elements != want) {
        fprintf(stderr, "ttt verify: %s/expected.safetensors: '%s' has %llu elements, want %zu\n",
                v->dir, name, (unsigned long long)ti.n_elements, want);
        return -2;
    }
    *out = malloc(sizeof(float) * (want ? want : 1));
    if (!*out || ttt_tensor_to_f32(&ti, *out) != TTT_OK) {
        free(*out);
        *out = NULL;
        return -2;
    }
    return 0;
}

/* Token ids as stored (I32 or I64), each checked against the vocabulary. */
static int read_ids(const ttt_tensor_info *t, int32_t *out, int vocab) {
    if (t->n_elements > (1u << 30)) return -1;
    for (uint64_t i = 0; i < t->n_elements; i++) {
        int64_t id;
        if (t->dtype == TTT_DT_I32) {
            int32_t x;
            memcpy(&x, (const char *)t->data + 4 * i, 4);
            id = x;
        } else if (t->dtype == TTT_DT_I64) {
            memcpy(&id, (const char *)t->data + 8 * i, 8);
        } else {
            return -1;
        }
        if (id < 0 || id >= vocab) return -1;
        out[i] = (int32_t)id;
    }
    return 0;
}

static double loss_of(const float *logits, const int32_t *ids, int T, int V) {
    double total = 0;
    for (int t = 0; t + 1 < T; t++) {
        const float *l = logits + (size_t)t * V;
        double mx = l[0], s = 0;
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < V; j++) s += exp(l[j] - mx);
        total += mx + log(s) - l[ids[t + 1]];
    }
    return T > 1 ? total / (T - 1) : 0;
}

/* Runs the tokens in calls of the schedule's sizes, collecting every token's logits. */
static ttt_status run_schedule(verify *v, const schedule *sc, int mode, float *logits,
                               float *hidden) {
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = v->T;
    sp.ttt_mode = mode;
    ttt_session *s;
    ttt_status st = ttt_session_init(v->model, &sp, &s);
    if (st != TTT_OK) return st;
    const size_t V = (size_t)v->info.n_vocab;
    int pos = 0, k = 0;
    while (pos < v->T && st == TTT_OK) {
        int n;
        if (sc && k < sc->n) n = sc->pieces[k++] ? sc->pieces[k - 1] : v->T - pos;
        else if (sc && sc->then_each) n = sc->then_each;
        else n = v->T - pos;
        if (n > v->T - pos) n = v->T - pos;
        ttt_eval_out out = {.logits = logits + pos * V, .logits_all = 1,
                            .hidden = sc ? NULL : hidden};
        st = ttt_session_eval(s, v->ids + pos, n, &out);
        pos += n;
    }
    ttt_session_free(s);
    return st;
}

/* "p37_then_1", "mixed", or a list "5,30,1,rest". */
static int parse_schedule(const char *name, schedule *sc) {
    memset(sc, 0, sizeof *sc);
    snprintf(sc->name, sizeof sc->name, "%s", name);
    int a, b;
    char tail;
    if (!strcmp(name, "mixed")) {
        const int p[] = {5, 30, 1, 1, 20, 3, 0};
        sc->n = 7;
        memcpy(sc->pieces, p, sizeof p);
        return 0;
    }
    if (sscanf(name, "p%d_then_%d%c", &a, &b, &tail) == 2 && a > 0 && b > 0) {
        sc->n = 1;
        sc->pieces[0] = a;
        sc->then_each = b;
        return 0;
    }
    const char *p = name;
    while (*p && sc->n < MAX_PIECES) {
        if (!strncmp(p, "rest", 4)) {
            sc->pieces[sc->n++] = 0;
            p += 4;
        } else {
            char *end;
            long x = strtol(p, &end, 10);
            if (end == p || x <= 0 || x > 1 << 24) return -1;
            sc->pieces[sc->n++] = (int)x;
            p = end;
        }
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    return sc->n > 0 && !*p ? 0 : -1;
}

/* The schedules named in expected.json's infer_vs_train_maxrel; the two of the golden README
 * when the file or the field is absent. -1 (after a message) when it is unreadable. */
static int read_schedules(verify *v, schedule *out, int max) {
    char path[4096];
    snprintf(path, sizeof path, "%s/expected.json", v->dir);
    FILE *f = fopen(path, "rb");
    const int have_file = f != NULL;
    cJSON *root = NULL;
    if (f) {
        char *text = malloc(1 << 20);
        size_t len = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
        int big = !feof(f);
        fclose(f);
        if (text && !big) {
            text[len] = 0;
            root = cJSON_Parse(text);
        }
        free(text);
        if (!cJSON_IsObject(root)) {
            fprintf(stderr, "ttt verify: %s: not a JSON object (or larger than 1 MiB)\n", path);
            cJSON_Delete(root);
            return -1;
        }
    }
    int n = 0;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "infer_vs_train_maxrel");
    const cJSON *it;
    if (cJSON_IsObject(m)) {
        cJSON_ArrayForEach(it, m) {
            if (n == max) break;
            if (parse_schedule(it->string, &out[n])) {
                fprintf(stderr, "ttt verify: %s: unknown schedule '%s' (known: pN_then_M, mixed, "
                        "or a list like 5,30,rest)\n", path, it->string);
                n = -1;
                break;
            }
            n++;
        }
    } else {
        printf("  (%s: %s; running p37_then_1 and mixed)\n", path,
               have_file ? "no infer_vs_train_maxrel" : "absent");
        parse_schedule("p37_then_1", &out[n++]);
        parse_schedule("mixed", &out[n++]);
    }
    cJSON_Delete(root);
    return n;
}

static int run(verify *v, const char *extra) {
    const size_t T = (size_t)v->T, V = (size_t)v->info.n_vocab, D = (size_t)v->info.n_embd;
    const size_t L = (size_t)v->info.n_layers;
    float *ref_hidden = NULL, *ref_no_ttt = NULL, *ref_loss = NULL;
    int has_hidden = load_ref(v, "hidden_states", (L + 1) * T * D, &ref_hidden);
    int has_no_ttt = load_ref(v, "logits_no_ttt", T * V, &ref_no_ttt);
    int has_loss = load_ref(v, "loss", 1, &ref_loss);
    float *logits = malloc(sizeof(float) * T * V);
    float *hidden = malloc(sizeof(float) * (L + 1) * T * D);
    int rc = 1;
    if (has_hidden == -2 || has_no_ttt == -2 || has_loss == -2) goto done;
    if (!logits || !hidden) {
        fprintf(stderr, "ttt verify: out of memory for %zu tokens of logits\n", T);
        goto done;
    }

    printf("%s: %s, %zu layers, %d TTT layers, chunk %d, eta %g, %zu tokens\n", v->dir,
           v->info.arch, L, v->info.n_ttt_layers, v->info.ttt_chunk, v->info.ttt_lr, T);
    if (run_schedule(v, NULL, TTT_MODE_ON, logits, hidden) != TTT_OK) goto fail;
    report(v, "logits (full forward)", verify_max_rel(logits, v->ref_logits, T * V));
    if (has_hidden == 0) {
        double worst = 0;
        for (size_t k = 0; k <= L; k++) {
            double e = verify_max_rel(hidden + k * T * D, ref_hidden + k * T * D, T * D);
            worst = e > worst ? e : worst;
        }
        report(v, "hidden states (worst layer)", worst);
    }
    if (has_loss == 0) {
        double ours = loss_of(logits, v->ids, v->T, (int)V);
        report(v, "loss", fabs(ours - ref_loss[0]) / fabs(ref_loss[0]));
    }
    if (has_no_ttt == 0) {
        if (run_schedule(v, NULL, TTT_MODE_OFF, logits, NULL) != TTT_OK) goto fail;
        report(v, "logits_no_ttt (TTT off)", verify_max_rel(logits, ref_no_ttt, T * V));
    }
    schedule sc[9];
    int ns = read_schedules(v, sc, 8);
    if (ns < 0) goto done;
    if (extra) {
        if (parse_schedule(extra, &sc[ns])) {
            fprintf(stderr, "ttt verify: --schedule '%s' is not a list like 5,30,rest\n", extra);
            goto done;
        }
        ns++;
    }
    for (int i = 0; i < ns; i++) {
        memset(logits, 0, sizeof(float) * T * V);
        if (run_schedule(v, &sc[i], TTT_MODE_ON, logits, NULL) != TTT_OK) goto fail;
        char label[128];
        snprintf(label, sizeof label, "logits (schedule %.63s)", sc[i].name);
        report(v, label, verify_max_rel(logits, v->ref_logits, T * V));
    }
    printf("%s: %s\n", v->dir, v->failures ? "FAILED" : "all checks passed");
    rc = v->failures ? 1 : 0;
    goto done;
fail:
    fprintf(stderr, "ttt verify: %s\n", ttt_last_error());
done:
    free(ref_hidden);
    free(ref_no_ttt);
    free(ref_loss);
    free(logits);
    free(hidden);
    return rc;
}

int cmd_verify(int argc, char **argv) {
    verify v = {.tol = 0};
    const char *extra = NULL;
    int grads = 0, adamw = 0;
    ttt_model_params mp = ttt_model_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        long long x;
        int mo = cli_model_option(argc, argv, &i, &mp);
        if (mo < 0) return 2;
        if (mo > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tol")) {
            if (!(val = cli_value(argc, argv, &i)) || !cli_float(a, val, &v.tol)) return 2;
            if (!(v.tol > 0) || !isfinite(v.tol))
                return cli_usage_error("verify", "--tol must be a finite number > 0");
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(val = cli_value(argc, argv, &i)) || !cli_int(a, val, 1, 1024, &x)) return 2;
            ttt_set_threads((int)x);
        } else if (!strcmp(a, "--grads")) {
            grads = 1;
        } else if (!strcmp(a, "--adamw")) {
            adamw = 1;
        } else if (!strcmp(a, "--schedule")) {
            if (!(extra = cli_value(argc, argv, &i))) return 2;
        } else if (a[0] == '-') {
            fprintf(stderr, "ttt verify: unknown option '%s' (see ttt verify --help)\n", a);
            return 2;
        } else if (!v.dir) {
            v.dir = a;
        } else {
            return cli_usage_error("verify", "one directory only");
        }
    }
    if (!v.dir) return cli_usage_error("verify", "no directory given");
    /* --grads and --adamw check the trainer (float32 on either device) on a model read on the
     * CPU; the inference checks run the model on the device */
    const int train_device = mp.device;
    if (grads || adamw) mp.device = TTT_DEVICE_CPU;
    /* bf16 on a GPU: the bound the golden README gives for a bf16 compute path */
    const int bf16 = mp.device == TTT_DEVICE_CUDA && mp.precision != TTT_PREC_F32;
    if (v.tol == 0) v.tol = bf16 ? 2e-2 : 1e-4;
    if (ttt_model_load_ex(v.dir, &mp, &v.model) != TTT_OK)
        return cli_fail("verify", ttt_last_error());
    printf("device %s, %s compute, tolerance %g\n", ttt_device_name(train_device),
           bf16 ? "bf16" : "float32", v.tol);
    ttt_model_get_info(v.model, &v.info);
    char *path = malloc(strlen(v.dir) + 32);
    int rc = 1;
    ttt_tensor_info ids;
    if (!path) goto out;
    sprintf(path, "%s/expected.safetensors", v.dir);
    if (ttt_tensors_open(path, &v.exp) != TTT_OK ||
        ttt_tensors_find(v.exp, "input_ids", &ids) != TTT_OK ||
        ttt_tensors_find(v.exp, "logits", &(ttt_tensor_info){0}) != TTT_OK) {
        rc = cli_fail("verify", ttt_last_error());
        goto out;
    }
    v.T = (int)ids.n_elements;
    if (v.T == 0) {
        rc = cli_fail("verify", "expected.safetensors: input_ids is empty");
        goto out;
    }
    v.ids = malloc(sizeof(int32_t) * (ids.n_elements ? ids.n_elements : 1));
    if (v.ids && read_ids(&ids, v.ids, v.info.n_vocab) == 0) {
        if (grads || adamw) {
            rc = grads ? verify_grads(v.dir, v.model, v.ids, v.T, v.tol, train_device) : 0;
            if (adamw) rc |= verify_adamw(v.dir, v.model, v.ids, v.T, v.tol, train_device);
        } else if (load_ref(&v, "logits", (size_t)v.T * v.info.n_vocab, &v.ref_logits) == 0)
            rc = run(&v, extra);
        else
            fprintf(stderr, "ttt verify: %s: bad logits\n", path);
    } else {
        fprintf(stderr, "ttt verify: %s: input_ids must be I32 or I64 ids below %d\n", path,
                v.info.n_vocab);
    }
out:
    free(path);
    free(v.ids);
    free(v.ref_logits);
    ttt_tensors_close(v.exp);
    ttt_model_free(v.model);
    return rc;
}
