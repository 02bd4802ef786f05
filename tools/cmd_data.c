/* cmd_data.c - `ttt data FILES -o DIR`: tokenizes .txt / .jsonl files into token shards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ttt.h"

#define MAX_INPUTS 4096

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt data FILE... -o DIR --tokenizer DIR|FILE|byte [options]\n"
            "\n"
            "Tokenizes .txt and .jsonl files into binary token shards (DIR/shard-00000.bin,\n"
            "...; format: docs/DATA.md) for training.\n"
            "\n"
            "  --tokenizer T      a model directory or tokenizer.json (its eos_token separates\n"
            "                     documents), or byte: the built-in byte-level tokenizer (ids\n"
            "                     0..255, BOS 256, EOS 257, PAD 258; vocab 259)\n"
            "  --text-key KEY     .jsonl: the string field of each line (default text)\n"
            "  --txt-docs M       file (default): a .txt file is one document; line: each\n"
            "                     non-empty line is one\n"
            "  --shard-tokens N   tokens per shard before the next begins (default 268435456)\n"
            "  -o, --out DIR      output directory (created if missing; must hold no shards)\n"
            "\n"
            "ttt data --synthetic mqar -o FILE.safetensors [-n N] [--vocab V] [--kv N]\n"
            "         [--seq-len L] [-s SEED]   (see ttt mqar-gen --help)\n"
            "writes multi-query associative recall rows (inputs, labels) that `ttt train`\n"
            "takes as --data FILE.safetensors.\n");
}

/* A document's ids with the model's tokenizer: no BOS (documents are joined with EOS). */
static ttt_status encode_tok(void *ctx, const char *text, size_t len, int32_t **ids, int *n) {
    size_t k = 0;
    *n = 0;
    ttt_status st = ttt_tokenize(ctx, text, len, 0, ids, &k);
    if (st == TTT_OK && k > (size_t)1 << 30) {
        free(*ids);
        *ids = NULL;
        return TTT_ERR_ARG;
    }
    *n = (int)k;
    return st;
}

/* `ttt data --synthetic mqar [mqar-gen options]`: the same as `ttt mqar-gen`. */
static int synthetic(int argc, char **argv, int at) {
    const char *kind = at + 1 < argc ? argv[at + 1] : "";
    if (strcmp(kind, "mqar"))
        return cli_usage_error("data", "--synthetic takes mqar (multi-query associative recall)");
    char **rest = malloc(sizeof *rest * (size_t)argc);
    if (!rest) return cli_fail("data", "out of memory");
    int n = 0;
    for (int i = 0; i < argc; i++)
        if (i != at && i != at + 1) rest[n++] = argv[i];
    int rc = cmd_mqar_gen(n, rest);
    free(rest);
    return rc;
}

int cmd_data(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--synthetic")) return synthetic(argc, argv, i);
    static const char *inputs[MAX_INPUTS];
    ttt_data_params p = {.eos_id = -1, .inputs = inputs};
    const char *tok = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--tokenizer")) {
            if (!(tok = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--text-key")) {
            if (!(p.text_key = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--txt-docs")) {
            if (!(v = cli_value(argc, argv, &i))) return 2;
            if (!strcmp(v, "file")) p.txt_docs = TTT_DATA_TXT_FILE;
            else if (!strcmp(v, "line")) p.txt_docs = TTT_DATA_TXT_LINE;
            else return cli_usage_error("data", "--txt-docs must be file or line");
        } else if (!strcmp(a, "--shard-tokens")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, INT64_MAX, &x)) return 2;
            p.shard_tokens = (uint64_t)x;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (!(p.out_dir = cli_value(argc, argv, &i))) return 2;
        } else if (a[0] == '-') {
            fprintf(stderr, "ttt data: unknown option '%s' (see ttt data --help)\n", a);
            return 2;
        } else if (p.n_inputs == MAX_INPUTS) {
            return cli_usage_error("data", "too many input files (4096 at most)");
        } else {
            inputs[p.n_inputs++] = a;
        }
    }
    if (!p.out_dir) return cli_usage_error("data", "no output directory (-o DIR)");
    if (p.n_inputs == 0) return cli_usage_error("data", "no input files");
    if (!tok) return cli_usage_error("data", "no tokenizer (--tokenizer byte)");
    ttt_tokenizer *tk = NULL;
    if (!strcmp(tok, "byte")) {
        p.encode = ttt_data_byte_encode;
        p.n_vocab = TTT_BYTE_VOCAB;
        p.eos_id = TTT_BYTE_EOS;
    } else {
        if (ttt_tokenizer_load(tok, &tk) != TTT_OK) return cli_fail("data", ttt_last_error());
        p.encode = encode_tok;
        p.encode_ctx = tk;
        p.n_vocab = (uint32_t)ttt_tokenizer_n_vocab(tk);
        p.eos_id = ttt_tokenizer_eos(tk);
        if (p.eos_id < 0) {
            ttt_tokenizer_free(tk);
            return cli_fail("data", "the tokenizer has no eos_token (tokenizer_config.json): "
                                    "documents need one between them");
        }
    }
    double t0 = cli_now();
    ttt_data_stats s;
    ttt_status st = ttt_data_prepare(&p, &s);
    ttt_tokenizer_free(tk);
    if (st != TTT_OK) return cli_fail("data", ttt_last_error());
    double dt = cli_now() - t0;
    fprintf(stderr,
            "ttt data: %llu documents, %llu tokens (%.2f bytes/token) in %d shard%s of %s, "
            "%.1f s (%.1f MB/s of text)\n",
            (unsigned long long)s.n_docs, (unsigned long long)s.n_tokens,
            s.n_tokens ? (double)s.n_bytes / (double)s.n_tokens : 0.0, s.n_shards,
            s.n_shards == 1 ? "" : "s", p.out_dir, dt, dt > 0 ? s.n_bytes / dt / 1e6 : 0.0);
    return 0;
}
