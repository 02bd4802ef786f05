/* cmd_init.c - `ttt init`: a random-weight checkpoint for benchmarks and tests. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ttt.h"

/* A progress line on a terminal: percent, rate, ETA. */
static void progress(void *ctx, uint64_t done, uint64_t total) {
    const double *t0 = ctx;
    if (!isatty(2) || total == 0) return;
    double dt = cli_now() - *t0, rate = dt > 0 ? done / dt : 0;
    double eta = rate > 0 ? (total - done) / rate : 0;
    fprintf(stderr, "\r\033[K  writing %5.1f%%  %.0f MB/s  ETA %.0f s", 100.0 * done / total,
            rate / 1e6, eta);
    if (done == total) fputs("\r\033[K", stderr);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt init (--preset NAME | --config FILE) -o DIR [options]\n"
            "\n"
            "Writes config.json and model.safetensors (sharded above 4 GiB) with random weights\n"
            "of real shapes and TTT layers.\n"
            "\n"
            "  --preset NAME      model shapes and the authors' TTT settings; --list-presets\n"
            "  --config FILE      take the shapes (and TTT fields) from a config.json\n"
            "  -o, --out DIR      output directory (created if missing)\n"
            "  --dtype T          bf16 (default), f32 or f16\n"
            "  --seed N           random seed (default 42)\n"
            "  --ttt-chunk C      override the chunk size\n"
            "  --ttt-lr ETA       override the inner learning rate\n"
            "  --ttt-layers LIST  override the TTT layers, e.g. 0,6,12 (\"\" for none)\n"
            "  --layers N         keep only the first N layers (small test models)\n");
}

int cmd_init(int argc, char **argv) {
    ttt_init_params p = ttt_init_default_params();
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long x;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--list-presets")) {
            for (const char *const *n = ttt_presets(); *n; n++) printf("%s\n", *n);
            return 0;
        } else if (!strcmp(a, "--preset")) {
            if (!(p.preset = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--config")) {
            if (!(p.config_path = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (!(out = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--dtype")) {
            if (!(v = cli_value(argc, argv, &i))) return 2;
            if (!strcmp(v, "bf16")) p.dtype = TTT_DT_BF16;
            else if (!strcmp(v, "f32")) p.dtype = TTT_DT_F32;
            else if (!strcmp(v, "f16")) p.dtype = TTT_DT_F16;
            else return cli_usage_error("init", "--dtype must be bf16, f32 or f16");
        } else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, INT64_MAX, &x)) return 2;
            p.seed = (uint64_t)x;
        } else if (!strcmp(a, "--ttt-chunk")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 24, &x)) return 2;
            p.ttt_chunk = (int)x;
        } else if (!strcmp(a, "--ttt-lr")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_float(a, v, &d)) return 2;
            if (!(d > 0)) return cli_usage_error("init", "--ttt-lr must be > 0");
            p.ttt_lr = (float)d;
        } else if (!strcmp(a, "--ttt-layers")) {
            if (!(p.ttt_layers = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--layers")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 512, &x)) return 2;
            p.n_layers = (int)x;
        } else {
            fprintf(stderr, "ttt init: unknown option '%s' (see ttt init --help)\n", a);
            return 2;
        }
    }
    if (!out) return cli_usage_error("init", "no output directory (-o DIR)");
    if (!p.preset == !p.config_path)
        return cli_usage_error("init", "give one of --preset NAME or --config FILE");
    double t0 = cli_now();
    p.progress = progress;
    p.progress_ctx = &t0;
    ttt_status st = ttt_checkpoint_init(out, &p);
    if (st != TTT_OK) return cli_fail("init", ttt_last_error());
    fprintf(stderr, "ttt init: wrote %s in %.1f s\n", out, cli_now() - t0);
    return 0;
}
