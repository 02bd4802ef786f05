/* bench_train.c - `ttt bench-train`: training speed (forward, loss, backward and the AdamW
 * step on B sequences of T tokens) next to this machine's sgemm ceiling, measured in the same
 * run. Model FLOPs utilisation = training FLOPs per step (6 per parameter per token for the
 * matrices, plus attention and the TTT chunk products: ttt_trainer_flops) / step time, over
 * the best sgemm rate sampled around the repetitions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ceilings.h"
#include "cli.h"
#include "ttt.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt bench-train -m DIR [options]\n"
            "\n"
            "  -m DIR          model directory\n"
            "  -b N            sequences per step (default 1)\n"
            "  -T N            tokens per sequence (default 512)\n"
            "  -r N            timed steps (default 2, after one warm-up step)\n"
            "  -t N            threads (default: all cores)\n"
            "  --train WHAT    all, adapter, ttt or a regex over tensor names (default all)\n"
            "  --device D      cpu (default) or cuda; on cuda the ceiling is the GPU's bf16\n"
            "                  GEMM rate (the trainer computes in float32)\n"
            "  --json          one JSON object instead of text\n");
}

int cmd_bench_train(int argc, char **argv) {
    const char *dir = NULL, *what = "all";
    long long B = 1, T = 512, reps = 2, threads = 0;
    int json = 0, device = TTT_DEVICE_CPU;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m")) {
            if (!(dir = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-b")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 4096, &B)) return 2;
        } else if (!strcmp(a, "-T")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 2, 1 << 20, &T)) return 2;
        } else if (!strcmp(a, "-r")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1000, &reps)) return 2;
        } else if (!strcmp(a, "-t")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1024, &threads)) return 2;
        } else if (!strcmp(a, "--train")) {
            if (!(what = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--device")) {
            if (!(v = cli_value(argc, argv, &i))) return 2;
            if ((device = ttt_device_from_name(v)) < 0)
                return cli_usage_error("bench-train", "--device must be cpu or cuda");
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "ttt bench-train: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!dir) return cli_usage_error("bench-train", "no model directory (-m DIR)");
    ttt_set_threads((int)threads);
    ttt_train_params p = ttt_train_default_params();
    if (!strcmp(what, "all")) p.policy = TTT_TRAIN_ALL;
    else if (!strcmp(what, "adapter")) p.policy = TTT_TRAIN_ADAPTER;
    else if (!strcmp(what, "ttt")) p.policy = TTT_TRAIN_TTT;
    else p.policy = TTT_TRAIN_REGEX, p.regex = what;
    p.device = device;

    ttt_model *m = NULL;
    ttt_trainer *t = NULL;
    bench_probe *pr = NULL;
    int32_t *tok = NULL;
    int rc = 1;
    if (ttt_model_load(dir, &m) != TTT_OK || ttt_trainer_init(m, &p, &t) != TTT_OK) {
        rc = cli_fail("bench-train", ttt_last_error());
        goto out;
    }
    ttt_model_info info;
    ttt_model_get_info(m, &info);
    const size_t n_tok = (size_t)B * (size_t)(T + 1);
    tok = malloc(sizeof(int32_t) * n_tok);
    pr = device == TTT_DEVICE_CPU ? bench_probe_init((size_t)64 << 20) : NULL;
    if (!tok || (device == TTT_DEVICE_CPU && !pr)) {
        rc = cli_fail("bench-train", "out of memory");
        goto out;
    }
    uint64_t x = 12345;
    for (size_t i = 0; i < n_tok; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((x >> 33) % (uint64_t)info.n_vocab);
    }
    double loss, norm, ceiling = 0;
    /* warm-up: allocations and first touches */
    if (ttt_trainer_step_tokens(t, tok, NULL, (int)B, (int)T, &loss) != TTT_OK ||
        ttt_trainer_apply(t, &norm, NULL) != TTT_OK) {
        rc = cli_fail("bench-train", ttt_last_error());
        goto out;
    }
    double best = 1e300, total = 0;
    for (int r = 0; r < reps; r++) {
        double s = 0;
        if (pr) s = bench_probe_sgemm(pr);
        else if (ttt_device_probe(device, &s, NULL) != TTT_OK) s = 0;
        ceiling = s > ceiling ? s : ceiling;
        double t0 = cli_now();
        if (ttt_trainer_step_tokens(t, tok, NULL, (int)B, (int)T, &loss) != TTT_OK ||
            ttt_trainer_apply(t, &norm, NULL) != TTT_OK) {
            rc = cli_fail("bench-train", ttt_last_error());
            goto out;
        }
        double dt = cli_now() - t0;
        best = dt < best ? dt : best;
        total += dt;
        if (pr) s = bench_probe_sgemm(pr);
        ceiling = s > ceiling ? s : ceiling;
    }
    const char *ceil_name = pr ? "sgemm" : "bf16 GEMM";
    const double flops = ttt_trainer_flops(t, (int)B, (int)T);
    const double tps = (double)B * T / best, mfu = ceiling > 0 ? flops / best / ceiling : 0;
    if (json) {
        printf("{\"model\": \"%s\", \"arch\": \"%s\", \"train\": \"%s\", \"device\": \"%s\", "
               "\"batch\": %lld, \"seq\": %lld, \"threads\": %d, \"step_seconds\": %.4f, "
               "\"mean_step_seconds\": %.4f, \"tokens_per_second\": %.2f, \"flops_per_step\": "
               "%.4e, \"achieved_gflops\": %.2f, \"ceiling\": \"%s\", \"sgemm_gflops\": %.2f, "
               "\"mfu\": %.4f, \"loss\": %.5f}\n", dir, info.arch, what, ttt_device_name(device),
               B, T, ttt_get_threads(), best, total / reps, tps, flops, flops / best / 1e9,
               ceil_name, ceiling / 1e9, mfu, loss);
    } else {
        printf("model %s (%s, %.0fM parameters), train %s on %s, B=%lld T=%lld, %d threads\n",
               dir, info.arch, info.n_params / 1e6, what, ttt_device_name(device), B, T,
               ttt_get_threads());
        printf("  step %.3f s (best of %lld; mean %.3f s), %.1f tokens/s, loss %.4f\n", best,
               reps, total / reps, tps, loss);
        printf("  %.3e FLOPs per step: %.1f GFLOP/s achieved, %s ceiling %.1f GFLOP/s\n",
               flops, flops / best / 1e9, ceil_name, ceiling / 1e9);
        printf("  model FLOPs utilisation %.1f%% of the %s ceiling\n", 100 * mfu, ceil_name);
    }
    rc = 0;
out:
    free(tok);
    bench_probe_free(pr);
    ttt_trainer_free(t);
    ttt_model_free(m);
    return rc;
}
