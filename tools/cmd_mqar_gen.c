/* cmd_mqar_gen.c - `ttt mqar-gen`: MQAR training or test data as a safetensors file with
 * "inputs" and "labels" (I32 [n, seq_len]; labels -100 where not a query). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval/eval.h"
#include "io/safetensors.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt mqar-gen -o FILE [options]\n"
            "\n"
            "Writes Zoology MQAR sequences: inputs and labels, I32 [n, seq_len].\n"
            "\n"
            "  -o, --out FILE       output .safetensors\n"
            "  -n N                 examples (default 1000)\n"
            "  --vocab V            vocabulary size (default 8192)\n"
            "  --kv N               key-value pairs (default 8)\n"
            "  --seq-len L          sequence length, even (default 64)\n"
            "  --power-a A          query gap distribution exponent (default 0.01)\n"
            "  --passes P           repeats of the key-value block (default 1)\n"
            "  --no-random-fill     leave 0 between queries (Zoology's random_non_queries off)\n"
            "  -s, --seed N         random seed (default 0)\n"
            "  --first N            index of the first example (default 0)\n");
}

int cmd_mqar_gen(int argc, char **argv) {
    ttt_mqar_params p = ttt_mqar_default_params();
    const char *out = NULL, *v;
    long long n = 1000, seed = 0, first = 0, x;
    double d;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (!(out = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-n")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 26, &n)) return 2;
        } else if (!strcmp(a, "--vocab")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 4, 1 << 30, &x)) return 2;
            p.vocab_size = (int)x;
        } else if (!strcmp(a, "--kv")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 24, &x)) return 2;
            p.n_kv = (int)x;
        } else if (!strcmp(a, "--seq-len")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 2, 1 << 24, &x)) return 2;
            p.seq_len = (int)x;
        } else if (!strcmp(a, "--passes")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 64, &x)) return 2;
            p.num_passes = (int)x;
        } else if (!strcmp(a, "--power-a")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_float(a, v, &d)) return 2;
            p.power_a = d;
        } else if (!strcmp(a, "--no-random-fill")) {
            p.random_non_queries = false;
        } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, INT64_MAX, &seed)) return 2;
        } else if (!strcmp(a, "--first")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, INT64_MAX / 2, &first)) return 2;
        } else {
            fprintf(stderr, "ttt mqar-gen: unknown option '%s' (see ttt mqar-gen --help)\n", a);
            return 2;
        }
    }
    if (!out) return cli_usage_error("mqar-gen", "-o FILE is required");
    /* parameters checked before anything is written */
    int32_t probe_in[2], probe_lab[2];
    if (ttt_mqar_generate(&p, (uint64_t)seed, first, 0, probe_in, probe_lab) != TTT_OK)
        return cli_usage_error("mqar-gen", ttt_last_error());
    ttt_st_desc desc[2] = {{.name = "inputs", .dtype = TTT_DT_I32, .ndim = 2, .shape = {n, p.seq_len}},
                           {.name = "labels", .dtype = TTT_DT_I32, .ndim = 2, .shape = {n, p.seq_len}}};
    char meta_v[5][32];
    snprintf(meta_v[0], 32, "%d", p.vocab_size);
    snprintf(meta_v[1], 32, "%d", p.n_kv);
    snprintf(meta_v[2], 32, "%lld", seed);
    snprintf(meta_v[3], 32, "%g", p.power_a);
    snprintf(meta_v[4], 32, "%lld", first);
    ttt_st_meta meta[5] = {{"vocab_size", meta_v[0]}, {"num_kv_pairs", meta_v[1]},
                           {"seed", meta_v[2]}, {"power_a", meta_v[3]}, {"first", meta_v[4]}};
    ttt_st_writer *w;
    if (ttt_st_writer_open(out, desc, 2, meta, 5, &w) != TTT_OK) return cli_fail("mqar-gen", ttt_last_error());
    /* in chunks: memory stays bounded whatever n; both tensors are written by two passes */
    const int chunk = 4096;
    int32_t *in = malloc(sizeof(int32_t) * (size_t)chunk * (size_t)p.seq_len);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)chunk * (size_t)p.seq_len);
    ttt_status st = in && lab ? TTT_OK : TTT_ERR_NOMEM;
    for (int which = 0; which < 2 && st == TTT_OK; which++)
        for (long long e = 0; e < n && st == TTT_OK; e += chunk) {
            int k = (int)(n - e < chunk ? n - e : chunk);
            st = ttt_mqar_generate(&p, (uint64_t)seed, first + e, k, in, lab);
            if (st == TTT_OK)
                st = ttt_st_writer_put(w, which ? lab : in, sizeof(int32_t) * (size_t)k * (size_t)p.seq_len);
        }
    free(in);
    free(lab);
    if (st != TTT_OK) {
        ttt_st_writer_abort(w);
        return cli_fail("mqar-gen", st == TTT_ERR_NOMEM ? "out of memory" : ttt_last_error());
    }
    if (ttt_st_writer_commit(w) != TTT_OK) return cli_fail("mqar-gen", ttt_last_error());
    fprintf(stderr, "ttt mqar-gen: %lld examples of %d tokens to %s\n", n, p.seq_len, out);
    return 0;
}
