/* cmd_ruler_gen.c - `ttt ruler-gen`: prints RULER prompts as the evaluation would build them,
 * or times their building (--time). Tokens are counted with the whitespace/punctuation test
 * counter until a model tokenizer is plugged in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "eval/eval.h"
#include "eval_data.h"
#include "io/json.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt ruler-gen --task NAME[,NAME...|all] -c LENGTH[,LENGTH...] [options]\n"
            "\n"
            "Prints generated RULER samples (context, question, references), or with --time the\n"
            "time to build them.\n"
            "\n"
            "  --task LIST        tasks: niah_single_1..3, niah_multikey_1..3, niah_multivalue,\n"
            "                     niah_multiquery, vt, cwe, fwe, qa_1, qa_2, or all\n"
            "  -c, --length LIST  target sequence lengths in tokens (prompt + answer)\n"
            "  -s, --seed N       random seed (default 42, as RULER)\n"
            "  --index I          first sample (default 0)\n"
            "  --samples N        samples per task and length (default 1)\n"
            "  --chat-user S      chat template text before the user message (\\n for newline)\n"
            "  --chat-assistant S chat template text between the user message and the answer\n"
            "  --time             build all samples, print time and counter work, not the text\n"
            EVAL_DATA_HELP);
}

/* Options take "\\n" and "\\t" for newline and tab (chat templates are multi-line). */
static char *unescape(const char *s) {
    char *d = malloc(strlen(s) + 1), *o = d;
    if (!d) return NULL;
    for (; *s; s++) {
        if (s[0] == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            *o++ = s[1] == 'n' ? '\n' : s[1] == 't' ? '\t' : '\\';
            s++;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return d;
}

static void print_sample(const ttt_eval_sample *s) {
    printf("== %s length %d sample %d: %d prompt tokens (budget %d), haystack size %ld, "
           "max_new_tokens %d, %s\n",
           ttt_ruler_task_name(s->task), s->length, s->index, s->prompt_tokens,
           s->length - s->max_new_tokens, s->size, s->max_new_tokens,
           ttt_eval_scorer_name(s->scorer));
    printf("-- context --\n%s\n-- question --\n%s\n-- answer prefix --\n%s\n-- references --\n",
           s->context, s->question, s->answer_prefix);
    for (int i = 0; i < s->n_refs; i++) printf("%s\n", s->refs[i]);
}

int cmd_ruler_gen(int argc, char **argv) {
    const char *tasks_arg = NULL, *lengths_arg = NULL, *chat_user = NULL, *chat_asst = NULL, *v;
    long long seed = 42, first = 0, samples = 1;
    bool timing = false;
    eval_data d = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = eval_data_parse(&d, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--task")) {
            if (!(tasks_arg = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--length")) {
            if (!(lengths_arg = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, INT64_MAX, &seed)) return 2;
        } else if (!strcmp(a, "--index")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, 1 << 30, &first)) return 2;
        } else if (!strcmp(a, "--samples")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 20, &samples)) return 2;
        } else if (!strcmp(a, "--chat-user")) {
            if (!(chat_user = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--chat-assistant")) {
            if (!(chat_asst = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--time")) {
            timing = true;
        } else {
            fprintf(stderr, "ttt ruler-gen: unknown option '%s' (see ttt ruler-gen --help)\n", a);
            return 2;
        }
    }
    if (!tasks_arg) return cli_usage_error("ruler-gen", "--task is required");
    if (!lengths_arg) return cli_usage_error("ruler-gen", "--length is required");
    int tasks[TTT_RULER_N_TASKS], n_tasks, lengths[64];
    if (ttt_ruler_task_list(tasks_arg, tasks, &n_tasks) != TTT_OK)
        return cli_usage_error("ruler-gen", ttt_last_error());
    int n_len = eval_parse_lengths("--length", lengths_arg, lengths, 64);
    if (n_len <= 0) return 2;
    ttt_ruler_config cfg = {.count = ttt_eval_count_words, .seed = (uint64_t)seed};
    int rc = eval_data_load(&d, "ruler-gen", &cfg) ? 1 : 0;
    char *cu = chat_user ? unescape(chat_user) : NULL, *ca = chat_asst ? unescape(chat_asst) : NULL;
    cfg.chat_user = cu;
    cfg.chat_assistant = ca;
    double total = 0;
    for (int li = 0; !rc && li < n_len; li++)
        for (int ti = 0; !rc && ti < n_tasks; ti++) {
            double t0 = cli_now();
            ttt_ruler_gen *g;
            ttt_status st = ttt_ruler_gen_init(&cfg, tasks[ti], lengths[li], &g);
            if (st == TTT_ERR_UNSUPPORTED) {
                fprintf(stderr, "ttt ruler-gen: %s\n", ttt_last_error());
                continue;
            }
            if (st != TTT_OK) {
                rc = cli_fail("ruler-gen", ttt_last_error());
                break;
            }
            int min_t = 1 << 30, max_t = 0;
            for (long long k = 0; k < samples; k++) {
                ttt_eval_sample s;
                if (ttt_ruler_gen_sample(g, (int)(first + k), &s) != TTT_OK) {
                    rc = cli_fail("ruler-gen", ttt_last_error());
                    break;
                }
                if (!timing) print_sample(&s);
                if (s.prompt_tokens < min_t) min_t = s.prompt_tokens;
                if (s.prompt_tokens > max_t) max_t = s.prompt_tokens;
                ttt_eval_sample_free(&s);
            }
            double dt = cli_now() - t0;
            total += dt;
            long calls;
            uint64_t bytes;
            ttt_ruler_gen_stats(g, &calls, &bytes);
            if (timing && !rc)
                printf("%-16s %7d  %lld samples  %8.3f s  %5.1f ms/sample  %4ld counts  "
                       "%7.1f MB counted  prompt tokens %d..%d (budget %d)\n",
                       ttt_ruler_task_name(tasks[ti]), lengths[li], samples, dt,
                       1e3 * dt / (double)samples, calls, (double)bytes / 1e6, min_t, max_t,
                       lengths[li] - ttt_ruler_max_new_tokens(tasks[ti]));
            ttt_ruler_gen_free(g);
        }
    if (timing && !rc) printf("total %.3f s\n", total);
    eval_data_free(&d);
    free(cu);
    free(ca);
    return rc;
}
