/* report_int.h - the aggregates shared by report.c (records) and report_write.c (outputs). */
#ifndef TTT_EVAL_REPORT_INT_H
#define TTT_EVAL_REPORT_INT_H

#include <stdint.h>

#include "ttt.h"

/* Aggregates of one (model, mode, task, length). */
typedef struct ttt_eval_group {
    char *model, *mode, *task; /* owned */
    int length;
    long n;                    /* samples */
    double score_sum;          /* sum of scores in [0, 1] */
    double prefill_sum, decode_sum;
    uint64_t peak_mem;         /* max over samples */
} ttt_eval_group;

ttt_status ttt_eval_report_write_groups(const char *dir, const ttt_eval_group *g, int n);

#endif
