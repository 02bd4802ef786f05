/* cmd_run.c - `ttt run`: generate a continuation of a prompt. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gen.h"
#include "parallel.h"
#include "run_opts.h"
#include "ttt.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt run -m DIR (-p TEXT | -f FILE | --ids LIST) [options]\n"
            "\n"
            "Continues a prompt with the model of DIR; the text is streamed to stdout, timings\n"
            "go to stderr at the end. The fast weights learn from the prompt and from the\n"
            "generated tokens, chunk by chunk, unless --no-ttt.\n"
            "\n"
            "  -m, --model DIR      Hugging Face checkpoint directory\n"
            "  -p, --prompt TEXT    prompt text\n"
            "  -f, --file FILE      read the prompt from FILE\n"
            "  --ids LIST           prompt as token ids (comma or space separated), no tokenizer\n"
            "  --ids-out            print generated token ids instead of text\n"
            "  --no-bos             do not add the tokenizer's BOS token\n"
            "  -np, --parallel N    N continuations decoded together, each in its own session\n"
            "                       (KV cache, fast weights), sequence i with seed + i; printed\n"
            "                       at the end, one block each (default 1: streamed)\n"
            RUN_OPTS_HELP);
}

int cmd_run(int argc, char **argv) {
    run_opts o;
    run_opts_defaults(&o);
    const char *prompt = NULL, *file = NULL, *ids = NULL;
    bool no_bos = false;
    int np = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = run_opts_parse(&o, argc, argv, &i);
        if (r == 1) continue;
        if (r < 0) return 2;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(prompt = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(file = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--ids")) {
            if (!(ids = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--ids-out")) {
            o.gen.ids_out = true;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = true;
        } else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) {
            const char *v = cli_value(argc, argv, &i);
            long long x;
            if (!v || !cli_int(a, v, 1, 256, &x)) return 2;
            np = (int)x;
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option '%s'", a);
            return cli_usage_error("run", msg);
        }
    }
    if (!o.model_dir) return cli_usage_error("run", "missing -m DIR");
    if (!!prompt + !!file + !!ids != 1)
        return cli_usage_error("run", "give exactly one of -p, -f and --ids");

    run_ctx rc;
    if (run_ctx_init(&rc, &o, "run", !ids) != 0) return 1;
    int status = 1;
    int32_t *toks = NULL;
    int n = 0;
    char *text = NULL;
    if (ids) {
        n = run_parse_ids(ids, rc.info.n_vocab, &toks);
        if (n < 0) goto done;
    } else {
        if (file) {
            size_t len;
            if (!cli_read_file("run", file, &text, &len)) goto done;
            prompt = text;
        }
        if (run_encode(&rc, prompt, !no_bos, &toks, &n) != 0) goto done;
    }
    if (n == 0) {
        cli_fail("run", "the prompt has no tokens");
        goto done;
    }
    if (n > ttt_session_n_ctx(rc.sess)) {
        fprintf(stderr, "ttt run: the prompt (%d tokens) does not fit the context of %d (-c)\n",
                n, ttt_session_n_ctx(rc.sess));
        goto done;
    }
    if (np > 1) {
        status = run_parallel(&rc, &o, toks, n, ids || o.gen.ids_out ? NULL : prompt, np) ? 1 : 0;
        goto done;
    }
    if (!o.gen.ids_out && !ids) fwrite(prompt, 1, strlen(prompt), stdout);
    gen_stats st;
    ttt_status s = gen_run(rc.sess, rc.smp, toks, n, &o.gen, rc.decode, rc.decode_ctx, stdout,
                           &st);
    if (s != TTT_OK) {
        cli_fail("run", ttt_last_error());
        goto done;
    }
    if (!o.gen.ids_out && !ids) fputc('\n', stdout);
    gen_print_stats(&st);
    if (!o.seed_set && o.sp.temp > 0)
        fprintf(stderr, "seed: %llu (--seed repeats this run)\n",
                (unsigned long long)o.sp.seed);
    status = 0;
done:
    free(toks);
    free(text);
    run_ctx_free(&rc);
    return status;
}
