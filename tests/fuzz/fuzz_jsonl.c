/* fuzz_jsonl.c - libFuzzer target: resuming from a samples.jsonl (an earlier run's records,
 * maybe torn or edited) must never crash or leak; whatever loads must be usable. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "eval/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[64], path[96];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_jsonl_%d", (int)getpid());
        snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    }
    ttt_eval_report *r;
    if (ttt_eval_report_open(dir, &r) == TTT_OK) ttt_eval_report_free(r); /* creates dir */
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    if (ttt_eval_report_open(dir, &r) != TTT_OK) return 0;
    if (ttt_eval_report_torn_bytes(r) < 0 || (size_t)ttt_eval_report_torn_bytes(r) > size) abort();
    (void)ttt_eval_report_done(r, "", "vt", 4096, "ttt", 0);
    ttt_eval_report_free(r);
    return 0;
}
