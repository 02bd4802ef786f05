/* cli.h - shared helpers of the ttt command-line tool. */
#ifndef TTT_TOOLS_CLI_H
#define TTT_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

/* Subcommands: return the process exit status. */
int cmd_verify(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

/* tok_bench.c: deterministic mixed text of mb megabytes on stdout; encode speed of a file. */
int tok_bench_text(double mb);
struct ttt_tokenizer;
int tok_bench(const struct ttt_tokenizer *t, const char *path, int reps);
int cmd_ruler_gen(int argc, char **argv);
int cmd_mqar_gen(int argc, char **argv);
int cmd_add_ttt(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_bench_train(int argc, char **argv);
int cmd_eval_report(int argc, char **argv);
int cmd_demo(int argc, char **argv);

/* Parses an integer / float option value; prints an error naming the option on failure. */
bool cli_int(const char *opt, const char *val, long long min, long long max, long long *out);
bool cli_float(const char *opt, const char *val, double *out);
/* Value of option argv[*i] (advancing *i); prints an error and returns NULL when missing. */
const char *cli_value(int argc, char **argv, int *i);
/* Comma-separated non-negative integers into out[max]; returns the count, -1 on error. */
int cli_int_list(const char *opt, const char *val, int *out, int max);

/* --device cpu|cuda and --precision bf16|f32 (argv[*i], advancing *i over the value): 1 when
 * argv[*i] is one of them, 0 when not, -1 after an error message. */
#define CLI_MODEL_OPTIONS_HELP                                                             \
    "  --device D       cpu (default) or cuda\n"                                            \
    "  --precision P    cuda: bf16 (default) or f32 (float32 weights and GEMMs, for tests)\n"
int cli_model_option(int argc, char **argv, int *i, ttt_model_params *p);

/* Option loops: with the option `a`, its value `v`, `x` (long long), `d` (double), argc, argv
 * and the index `i` in scope, take the option's value as text, as an integer in [lo, hi] or
 * as a number, or print why not and `return fail`. */
#define CLI_VAL(fail)                                     \
    do {                                                  \
        if (!(v = cli_value(argc, argv, &i))) return fail; \
    } while (0)
#define CLI_INT(lo, hi, fail)                                \
    do {                                                     \
        CLI_VAL(fail);                                       \
        if (!cli_int(a, v, (lo), (hi), &x)) return fail;     \
    } while (0)
#define CLI_NUM(fail)                                \
    do {                                             \
        CLI_VAL(fail);                               \
        if (!cli_float(a, v, &d)) return fail;       \
    } while (0)

double cli_now(void);
/* Peak resident memory in bytes since the last cli_rss_reset (Linux VmHWM; -1 if unknown). */
void cli_rss_reset(void);
long long cli_rss_peak(void);
/* Reads a whole file (NUL-terminated; binary NULs kept, see *len); prints an error naming the
 * file and returns false on failure. */
bool cli_read_file(const char *cmd, const char *path, char **out, size_t *len);
/* Prints an error line "ttt <cmd>: <msg>" to stderr; returns the exit status 1. */
int cli_fail(const char *cmd, const char *msg);
/* A usage error: one line naming it and where help is; returns the exit status 2. */
int cli_usage_error(const char *cmd, const char *msg);

#endif
