/* cmd_eval_report.c - `ttt eval-report DIR`: rewrites summary.json, summary.csv, results.md and
 * plots/ from DIR/samples.jsonl (after an interrupted run, or with lines from other runs). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eval/report.h"

int cmd_eval_report(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ttt eval-report DIR\n\n"
                   "Rewrites DIR's summary.json, summary.csv, results.md and plots/*.svg from\n"
                   "DIR/samples.jsonl (a torn last line is cut off).\n");
            return 0;
        }
        if (argv[i][0] == '-' || dir) {
            fprintf(stderr, "ttt eval-report: unexpected argument '%s' (see ttt eval-report --help)\n",
                    argv[i]);
            return 2;
        }
        dir = argv[i];
    }
    if (!dir) return cli_usage_error("eval-report", "DIR is required");
    ttt_eval_report *r;
    if (ttt_eval_report_open(dir, &r) != TTT_OK) return cli_fail("eval-report", ttt_last_error());
    int n = ttt_eval_report_resumed(r);
    long torn = ttt_eval_report_torn_bytes(r);
    ttt_status st = ttt_eval_report_write(r);
    ttt_eval_report_free(r);
    if (st != TTT_OK) return cli_fail("eval-report", ttt_last_error());
    if (torn) fprintf(stderr, "ttt eval-report: cut a torn last line (%ld bytes)\n", torn);
    printf("%s: %d samples summarised\n", dir, n);
    return 0;
}
