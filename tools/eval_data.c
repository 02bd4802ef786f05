/* eval_data.c - data options of the RULER commands. */
#include "eval_data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "io/json.h"

int eval_data_parse(eval_data *d, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char **dst = !strcmp(a, "--words")      ? &d->words_dir
                       : !strcmp(a, "--haystack") ? &d->haystack
                       : !strcmp(a, "--squad")    ? &d->squad
                       : !strcmp(a, "--hotpotqa") ? &d->hotpotqa
                                                  : NULL;
    if (!strcmp(a, "--ruler-version")) {
        const char *v = cli_value(argc, argv, i);
        long long y;
        if (!v || !cli_int(a, v, 2024, 2025, &y)) return -1;
        d->version = (int)y;
        return 1;
    }
    if (!dst) return 0;
    return (*dst = cli_value(argc, argv, i)) ? 1 : -1;
}

int eval_data_load(eval_data *d, const char *cmd, ttt_ruler_config *cfg) {
    ttt_words_builtin(&d->words);
    ttt_status st = TTT_OK;
    if (d->words_dir) st = ttt_words_load(d->words_dir, &d->words);
    if (st == TTT_OK && d->haystack)
        st = ttt_read_file(d->haystack, (size_t)1 << 30, &d->essay, &d->essay_len);
    if (st == TTT_OK && d->squad) st = ttt_qa_load(d->squad, TTT_QA_SQUAD, &d->sq);
    if (st == TTT_OK && d->hotpotqa) st = ttt_qa_load(d->hotpotqa, TTT_QA_HOTPOTQA, &d->hq);
    if (st != TTT_OK) {
        cli_fail(cmd, ttt_last_error());
        return -1;
    }
    cfg->words = &d->words;
    cfg->essay = d->essay;
    cfg->essay_len = d->essay_len;
    cfg->squad = d->squad ? &d->sq : NULL;
    cfg->hotpotqa = d->hotpotqa ? &d->hq : NULL;
    cfg->version = d->version;
    return 0;
}

void eval_data_free(eval_data *d) {
    ttt_words_free(&d->words);
    ttt_qa_free(&d->sq);
    ttt_qa_free(&d->hq);
    free(d->essay);
    d->essay = NULL;
}

int eval_parse_lengths(const char *opt, const char *s, int *out, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end != p && (*end == 'k' || *end == 'K')) {
            v *= 1024;
            end++;
        }
        if (end == p || errno || v < 1 || v > (1 << 24) || (*end && *end != ',') || n == max) {
            fprintf(stderr, "ttt: option %s: '%s' is not a list of up to %d lengths (e.g. "
                            "4k,8k,16384)\n", opt, s, max);
            return -1;
        }
        out[n++] = (int)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0) fprintf(stderr, "ttt: option %s: no lengths\n", opt);
    return n ? n : -1;
}
