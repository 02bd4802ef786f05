/* cmd_demo.c - `ttt demo`: the whole pipeline on built-in data in a few minutes on a CPU. Two
 * models of one shape with sliding-window attention (window much shorter than the context),
 * one with TTT layers and one without, are trained from scratch on key-value recall and
 * needle tasks, checkpointed, and evaluated at several lengths in the three modes; the table
 * goes to the terminal, samples, summaries and SVG plots to OUT/eval (as `ttt eval`), the
 * settings and the accuracy grid to OUT/demo_summary.json. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "eval/report.h"
#include "io/file.h"
#include "util/err.h"
#include "util/mem.h"

typedef struct demo_preset {
    const char *name;
    ttt_demo_model shape;
    int steps, B, T, samples;
    double lr;
    const char *lengths;
} demo_preset;

/* small: the default, sized for about 5-8 minutes on two CPU cores (lr 5e-3: at 1e-2 the
 * outcome swung with the seed and with rounding, docs/DEMO.md); tiny: the smoke test; base: a
 * longer run for a GPU or a patient CPU. */
static const demo_preset PRESETS[] = {
    {"tiny", {64, 2, 2, 1, 32, 256, 16, 4096, "0", 16, 30.0, "input_embed"}, 30, 4, 96, 4, 1e-2,
     "64,128,256"},
    {"small", {128, 4, 4, 2, 32, 512, 32, 4096, "0", 16, 30.0, "input_embed"}, 1000, 8, 256, 32,
     5e-3, "64,128,256,512,1024"},
    {"base", {256, 6, 8, 2, 32, 1024, 64, 16384, "0", 32, 30.0, "input_embed"}, 3000, 16, 1024,
     100, 3e-3, "128,256,512,1024,2048,4096"},
};
#define N_PRESETS (int)(sizeof PRESETS / sizeof PRESETS[0])

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt demo [-o DIR] [--preset tiny|small|base] [--steps N] [options]\n"
            "\n"
            "Trains two small models of one shape from scratch, one with In-Place TTT layers\n"
            "and one without, on built-in synthetic recall tasks whose answers lie beyond the\n"
            "sliding attention window, checkpoints them, and evaluates both on held-out\n"
            "samples at several lengths in the modes in_context (TTT off), ttt and strict\n"
            "(read with TTT, drop the KV cache, answer from the fast weights alone). Nothing\n"
            "is downloaded. Output: a table here; DIR/eval (samples.jsonl, summary.json,\n"
            "results.md, plots/*.svg), DIR/demo_summary.json, checkpoints DIR/ttt and\n"
            "DIR/baseline (they load in `ttt run` and `ttt eval`).\n"
            "\n"
            "  -o, --out DIR        output directory (default demo-out)\n"
            "  --preset P           tiny (seconds), small (default, minutes on 2 cores), base\n"
            "  --steps N            optimizer steps per model\n"
            "  --batch B            sequences per step\n"
            "  --seq-len T          training sequence length\n"
            "  --lr LR              peak learning rate (cosine decay to a tenth)\n"
            "  --lengths L,L,...    evaluation lengths\n"
            "  --samples N          held-out samples per task, length and mode\n"
            "  --pairs N            key-value pairs per kv sample (default 8)\n"
            "  --window W           sliding attention window\n"
            "  --d-model D, --layers N, --ff F   model shape\n"
            "  --ttt-layers L,L     TTT layers of the TTT model\n"
            "  --ttt-chunk C        TTT chunk size\n"
            "  --ttt-lr ETA         TTT inner learning rate\n"
            "  --ttt-target T       hidden_states or input_embed\n"
            "  --conv-zero          ttt_conv starts at zero (official init; default N(0, 0.02^2))\n"
            "  --ttt-only           train and evaluate the TTT model alone (experiments)\n"
            "  --seed N             (default 1)\n"
            "  --device cpu|cuda    (default cpu)\n"
            "  -t, --threads N      CPU threads (default: all; with 2 or more the two models\n"
            "                       train at once, one thread each)\n"
            "  -q, --quiet          no progress lines\n");
}

static const demo_preset *find_preset(const char *name) {
    for (int i = 0; i < N_PRESETS; i++)
        if (!strcmp(PRESETS[i].name, name)) return &PRESETS[i];
    return NULL;
}

static void apply_preset(demo_opts *o, const demo_preset *p) {
    o->preset = p->name;
    o->shape = p->shape;
    o->steps = p->steps;
    o->B = p->B;
    o->T = p->T;
    o->samples = p->samples;
    o->lr = p->lr;
    o->n_lengths = cli_int_list("--lengths", p->lengths, o->lengths, DEMO_MAX_LENGTHS);
}

static int parse(demo_opts *o, int argc, char **argv) {
    /* the preset first: the other options override it wherever they stand */
    const demo_preset *pre = find_preset("small");
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--preset") && !(pre = find_preset(argv[i + 1])))
            return cli_usage_error("demo", "--preset must be tiny, small or base");
    apply_preset(o, pre);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long long x;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) { CLI_VAL(2); o->out = v;
        } else if (!strcmp(a, "--preset")) { CLI_VAL(2);
        } else if (!strcmp(a, "--steps")) { CLI_INT(1, 1 << 24, 2); o->steps = (int)x;
        } else if (!strcmp(a, "--batch")) { CLI_INT(1, 4096, 2); o->B = (int)x;
        } else if (!strcmp(a, "--seq-len")) { CLI_INT(8, 1 << 20, 2); o->T = (int)x;
        } else if (!strcmp(a, "--lr")) { CLI_NUM(2); o->lr = d;
        } else if (!strcmp(a, "--lengths")) {
            CLI_VAL(2);
            o->n_lengths = cli_int_list(a, v, o->lengths, DEMO_MAX_LENGTHS);
            if (o->n_lengths <= 0) return 2;
        } else if (!strcmp(a, "--samples")) { CLI_INT(1, 1 << 20, 2); o->samples = (int)x;
        } else if (!strcmp(a, "--pairs")) { CLI_INT(1, TTT_DEMO_MAX_PAIRS, 2); o->data.n_pairs = (int)x;
        } else if (!strcmp(a, "--window")) { CLI_INT(1, 1 << 20, 2); o->shape.window = (int)x;
        } else if (!strcmp(a, "--d-model")) { CLI_INT(8, 1 << 14, 2); o->shape.d_model = (int)x;
        } else if (!strcmp(a, "--layers")) { CLI_INT(1, 64, 2); o->shape.n_layers = (int)x;
        } else if (!strcmp(a, "--ff")) { CLI_INT(8, 1 << 16, 2); o->shape.d_ff = (int)x;
        } else if (!strcmp(a, "--ttt-layers")) { CLI_VAL(2); o->shape.ttt_layers = v;
        } else if (!strcmp(a, "--ttt-chunk")) { CLI_INT(1, 1 << 20, 2); o->shape.ttt_chunk = (int)x;
        } else if (!strcmp(a, "--ttt-lr")) { CLI_NUM(2); o->shape.ttt_lr = d;
        } else if (!strcmp(a, "--ttt-target")) {
            CLI_VAL(2);
            if (strcmp(v, "hidden_states") && strcmp(v, "input_embed"))
                return cli_usage_error("demo", "--ttt-target must be hidden_states or input_embed");
            o->shape.ttt_target = v;
        } else if (!strcmp(a, "--ttt-only")) { o->skip_baseline = true;
        } else if (!strcmp(a, "--conv-zero")) { o->conv_zero = true;
        } else if (!strcmp(a, "--seed")) { CLI_INT(0, 1LL << 40, 2); o->seed = (uint64_t)x;
        } else if (!strcmp(a, "--device")) {
            CLI_VAL(2);
            if (strcmp(v, "cpu") && strcmp(v, "cuda"))
                return cli_usage_error("demo", "--device must be cpu or cuda");
            o->device = v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { CLI_INT(1, 4096, 2); ttt_set_threads((int)x);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) { o->quiet = true;
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option '%s'", a);
            return cli_usage_error("demo", msg);
        }
    }
    if (o->n_lengths <= 0) return 2;
    if (o->shape.d_model % o->shape.head_dim)
        return cli_usage_error("demo", "--d-model must be a multiple of the head size (32)");
    o->shape.n_head = o->shape.d_model / o->shape.head_dim;
    if (o->shape.n_head % o->shape.n_head_kv) o->shape.n_head_kv = 1;
    for (int l = 0; l < o->n_lengths; l++)
        if (o->lengths[l] + 1 > o->shape.max_pos) o->shape.max_pos = o->lengths[l] + 1;
    if (o->T + 1 > o->shape.max_pos) o->shape.max_pos = o->T + 1;
    return 0;
}

/* The Markdown table of one task: rows model / mode, columns lengths. */
static void print_table(FILE *f, const demo_opts *o, int task, const char *const *names,
                        const demo_scores *sc, int n_models) {
    fprintf(f, "\n%s (accuracy %%, %d held-out samples per cell; window %d)\n\n| model / mode |",
            ttt_demo_task_name(task), o->samples, o->shape.window);
    for (int l = 0; l < o->n_lengths; l++) fprintf(f, " %d |", o->lengths[l]);
    fprintf(f, "\n| --- |");
    for (int l = 0; l < o->n_lengths; l++) fprintf(f, " ---: |");
    fprintf(f, "\n");
    for (int m = 0; m < n_models; m++)
        for (int mode = 0; mode < EVAL_MODE_COUNT; mode++) {
            fprintf(f, "| %s / %s |", names[m], eval_mode_name((eval_mode)mode));
            for (int l = 0; l < o->n_lengths; l++) {
                double a = sc[m].acc[task][l][mode];
                if (isnan(a)) fprintf(f, " - |");
                else fprintf(f, " %.1f |", a);
            }
            fprintf(f, "\n");
        }
}

static cJSON *grid_json(const demo_opts *o, const demo_scores *sc) {
    cJSON *g = cJSON_CreateObject();
    for (int t = 0; t < TTT_DEMO_N_TASKS; t++) {
        cJSON *tj = cJSON_AddObjectToObject(g, ttt_demo_task_name(t));
        for (int mode = 0; mode < EVAL_MODE_COUNT; mode++) {
            cJSON *arr = cJSON_AddArrayToObject(tj, eval_mode_name((eval_mode)mode));
            for (int l = 0; l < o->n_lengths; l++) {
                double a = sc->acc[t][l][mode];
                cJSON_AddItemToArray(arr, isnan(a) ? cJSON_CreateNull() : cJSON_CreateNumber(a));
            }
        }
    }
    return g;
}

static ttt_status write_summary(const demo_opts *o, const char *const *names,
                                const demo_trained *tr, const demo_scores *sc, int n_models,
                                double total_s) {
    cJSON *root = cJSON_CreateObject();
    cJSON *s = cJSON_AddObjectToObject(root, "settings");
    cJSON_AddStringToObject(s, "preset", o->preset);
    cJSON_AddNumberToObject(s, "steps", o->steps);
    cJSON_AddNumberToObject(s, "batch", o->B);
    cJSON_AddNumberToObject(s, "seq_len", o->T);
    cJSON_AddNumberToObject(s, "lr", o->lr);
    cJSON_AddNumberToObject(s, "d_model", o->shape.d_model);
    cJSON_AddNumberToObject(s, "layers", o->shape.n_layers);
    cJSON_AddNumberToObject(s, "d_ff", o->shape.d_ff);
    cJSON_AddNumberToObject(s, "window", o->shape.window);
    cJSON_AddStringToObject(s, "ttt_layers", o->shape.ttt_layers);
    cJSON_AddNumberToObject(s, "ttt_chunk", o->shape.ttt_chunk);
    cJSON_AddNumberToObject(s, "ttt_lr", o->shape.ttt_lr);
    cJSON_AddStringToObject(s, "ttt_target", o->shape.ttt_target);
    cJSON_AddStringToObject(s, "ttt_conv_init", o->conv_zero ? "zero" : "normal(0, 0.02)");
    cJSON_AddNumberToObject(s, "pairs", o->data.n_pairs);
    cJSON_AddNumberToObject(s, "samples", o->samples);
    cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    cJSON_AddNumberToObject(s, "threads", ttt_get_threads());
    cJSON_AddStringToObject(s, "device", o->device);
    cJSON *lens = cJSON_AddArrayToObject(s, "lengths");
    for (int l = 0; l < o->n_lengths; l++) cJSON_AddItemToArray(lens, cJSON_CreateNumber(o->lengths[l]));
    cJSON *ms = cJSON_AddObjectToObject(root, "models");
    for (int m = 0; m < n_models; m++) {
        cJSON *mj = cJSON_AddObjectToObject(ms, names[m]);
        cJSON_AddStringToObject(mj, "checkpoint", tr[m].ckpt);
        cJSON_AddNumberToObject(mj, "parameters", (double)tr[m].n_params);
        cJSON_AddNumberToObject(mj, "train_seconds", tr[m].seconds);
        cJSON_AddNumberToObject(mj, "train_tokens_per_second", tr[m].tokens_per_s);
        cJSON_AddNumberToObject(mj, "loss_first_tenth", tr[m].first_loss);
        cJSON_AddNumberToObject(mj, "loss_last_tenth", tr[m].final_loss);
        cJSON_AddNumberToObject(mj, "heldout_loss", tr[m].val_loss);
        cJSON_AddNumberToObject(mj, "eval_seconds", sc[m].seconds);
        cJSON_AddItemToObject(mj, "accuracy", grid_json(o, &sc[m]));
    }
    cJSON_AddNumberToObject(root, "total_seconds", total_s);
    char *text = cJSON_Print(root), *path = ttt_path_join(o->out, "demo_summary.json");
    cJSON_Delete(root);
    ttt_status st = text && path ? ttt_write_file_atomic(path, text, strlen(text))
                                 : ttt_err(TTT_ERR_NOMEM, "demo: out of memory");
    cJSON_free(text);
    free(path);
    return st;
}

int cmd_demo(int argc, char **argv) {
    demo_opts o = {.out = "demo-out", .device = "cpu", .seed = 1, .data = {.n_pairs = 8}};
    int pr = parse(&o, argc, argv);
    if (pr) return pr == 1 ? 0 : pr;
    if (!strcmp(o.device, "cuda")) { /* before anything is written: the GPU must be there */
        double gemm, copy;
        if (ttt_device_probe(TTT_DEVICE_CUDA, &gemm, &copy) != TTT_OK) {
            char msg[640];
            snprintf(msg, sizeof msg, "--device cuda: %s", ttt_last_error());
            return cli_fail("demo", msg);
        }
    }
    for (int l = 0; l < o.n_lengths; l++)
        if (o.lengths[l] < ttt_demo_min_length(TTT_DEMO_KV, &o.data))
            return cli_usage_error("demo", "--lengths: each must hold a kv sample (1 + 6 x pairs)");
    if (o.T + 1 < ttt_demo_min_length(TTT_DEMO_KV, &o.data))
        return cli_usage_error("demo", "--seq-len must hold a kv sample (6 x pairs)");
    const double t0 = cli_now();
    const char *names[2] = {"ttt", "baseline"};
    ttt_demo_model shapes[2] = {o.shape, o.shape};
    shapes[1].ttt_layers = "";
    const int n_models = o.skip_baseline ? 1 : 2;
    demo_trained tr[2] = {{0}};
    demo_scores *sc = calloc(2, sizeof *sc);
    ttt_eval_report *rep = NULL;
    char *eval_dir = ttt_path_join(o.out, "eval"), *jsonl = NULL;
    ttt_status st = sc && eval_dir ? ttt_mkdir_p(o.out) : ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (st == TTT_OK) {
        const int cuda = !strcmp(o.device, "cuda");
        char where[64];
        if (cuda) snprintf(where, sizeof where, "on the GPU");
        else snprintf(where, sizeof where, "%d threads", ttt_get_threads());
        printf("ttt demo: preset %s, %d steps of %d x %d tokens per model, window %d, TTT layers "
               "%s (chunk %d, eta %g), %s%s\n", o.preset, o.steps, o.B, o.T,
               o.shape.window, o.shape.ttt_layers, o.shape.ttt_chunk, o.shape.ttt_lr, where,
               !cuda && n_models == 2 && ttt_get_threads() >= 2
                   ? " (the two models train at once, one thread each)" : "");
        fflush(stdout);
    }
    /* With two or more threads the models train at once, one thread each: small matrices
     * gain little from a second thread, and a team of two loses much when another job takes
     * a core (every barrier waits for it). */
    ttt_status mst[2] = {TTT_OK, TTT_OK};
    char merr[2][512] = {"", ""};
    o.parallel = st == TTT_OK && n_models == 2 && ttt_get_threads() >= 2 &&
                 strcmp(o.device, "cuda") != 0; /* one GPU stream: one model at a time */
#pragma omp parallel for num_threads(2) schedule(static, 1) if (o.parallel)
    for (int m = 0; m < n_models; m++) {
        if (st != TTT_OK) continue;
        mst[m] = demo_train(&o, names[m], &shapes[m], &tr[m]);
        if (mst[m] != TTT_OK) snprintf(merr[m], sizeof merr[m], "%s", ttt_last_error());
    }
    for (int m = 0; m < n_models && st == TTT_OK; m++) {
        if (mst[m] != TTT_OK) {
            st = ttt_err(mst[m], "%s", merr[m]);
            break;
        }
        printf("  %-8s %.2fM parameters, %.0f s (%.0f tokens/s); answer loss %.3f -> %.3f, "
               "held-out %.3f; checkpoint %s\n", names[m], tr[m].n_params / 1e6,
               tr[m].seconds, tr[m].tokens_per_s, tr[m].first_loss, tr[m].final_loss,
               tr[m].val_loss, tr[m].ckpt);
        fflush(stdout);
    }
    /* a fresh evaluation each run: the report would otherwise resume an older one */
    if (st == TTT_OK && (jsonl = ttt_path_join(eval_dir, "samples.jsonl"))) unlink(jsonl);
    if (st == TTT_OK) st = ttt_eval_report_open(eval_dir, &rep);
    for (int m = 0; m < n_models && st == TTT_OK; m++)
        st = demo_eval(&o, names[m], tr[m].ckpt, rep, &sc[m]);
    if (st == TTT_OK) st = ttt_eval_report_write(rep);
    if (st == TTT_OK) {
        for (int t = 0; t < TTT_DEMO_N_TASKS; t++) print_table(stdout, &o, t, names, sc, n_models);
        st = write_summary(&o, names, tr, sc, n_models, cli_now() - t0);
    }
    if (st == TTT_OK)
        printf("\nttt demo: %.0f s in all; plots and tables in %s, summary %s/demo_summary.json\n",
               cli_now() - t0, eval_dir, o.out);
    ttt_eval_report_free(rep);
    for (int m = 0; m < 2; m++) free(tr[m].ckpt);
    free(sc);
    free(jsonl);
    free(eval_dir);
    if (st != TTT_OK) return cli_fail("demo", ttt_last_error());
    return 0;
}
