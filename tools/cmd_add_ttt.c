/* cmd_add_ttt.c - `ttt add-ttt IN -o OUT --layers L`: a plain checkpoint gets TTT layers. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ttt.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt add-ttt IN_DIR -o OUT_DIR --layers LIST [options]\n"
            "\n"
            "Turns a plain Hugging Face checkpoint into an In-Place TTT one: the weights are\n"
            "copied (dtypes kept), each TTT layer gains ttt_conv = 0 and ttt_proj = a random\n"
            "diagonal (the official initialisation: the model's outputs are unchanged until\n"
            "it is trained), config.json gains the TTT fields, tokenizer files are copied.\n"
            "\n"
            "  --layers LIST      TTT layers, e.g. 0,6,12,18,24,30 (required)\n"
            "  --chunk C          chunk size (default 8192)\n"
            "  --lr ETA           inner learning rate (default 0.3)\n"
            "  --target T         hidden_states (default) or input_embed\n"
            "  --no-proj          no ttt_proj (V is the conv output)\n"
            "  --seed N           seed of ttt_proj's diagonal (default 42)\n"
            "  -o, --out DIR      output directory (created if missing; not IN_DIR)\n");
}

int cmd_add_ttt(int argc, char **argv) {
    ttt_add_ttt_params p = ttt_add_ttt_default_params();
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long x;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--layers")) {
            if (!(p.layers = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--chunk")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 24, &x)) return 2;
            p.chunk = (int)x;
        } else if (!strcmp(a, "--lr")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_float(a, v, &d)) return 2;
            if (!(d > 0)) return cli_usage_error("add-ttt", "--lr must be > 0");
            p.lr = (float)d;
        } else if (!strcmp(a, "--target")) {
            if (!(p.target = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--no-proj")) {
            p.no_proj = 1;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, INT64_MAX, &x)) return 2;
            p.seed = (uint64_t)x;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (!(out = cli_value(argc, argv, &i))) return 2;
        } else if (a[0] == '-') {
            fprintf(stderr, "ttt add-ttt: unknown option '%s' (see ttt add-ttt --help)\n", a);
            return 2;
        } else if (!in) {
            in = a;
        } else {
            return cli_usage_error("add-ttt", "more than one input directory");
        }
    }
    if (!in) return cli_usage_error("add-ttt", "no input directory");
    if (!out) return cli_usage_error("add-ttt", "no output directory (-o DIR)");
    if (!p.layers) return cli_usage_error("add-ttt", "no TTT layers (--layers 0,6,12)");
    double t0 = cli_now();
    if (ttt_checkpoint_add_ttt(in, out, &p) != TTT_OK) return cli_fail("add-ttt", ttt_last_error());
    fprintf(stderr, "ttt add-ttt: wrote %s in %.1f s\n", out, cli_now() - t0);
    return 0;
}
