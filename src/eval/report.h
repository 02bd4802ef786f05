/* report.h - results of an evaluation run: one JSONL line per sample (appended and fsync'd as
 * the run goes, so an interrupted run resumes), and at the end summary.json, summary.csv,
 * results.md (the paper's Table 1 shape plus per-task tables) and SVG plots. */
#ifndef TTT_EVAL_REPORT_H
#define TTT_EVAL_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "ttt.h"

/* One finished sample, as the runner reports it. */
typedef struct ttt_eval_record {
    const char *model;             /* a label for the model ("" or NULL: none) */
    const char *task;              /* e.g. "niah_single_1" or "mqar" */
    int length;                    /* target sequence length */
    const char *mode;              /* "in_context", "ttt", "strict", ... */
    int index;                     /* sample number */
    const char *prediction;        /* the model's output */
    const char *const *refs;       /* [n_refs] references */
    int n_refs;
    double score;                  /* in [0, 1] */
    int prompt_tokens;
    double prefill_s, decode_s;    /* latencies, seconds */
    int decode_tokens;             /* tokens generated */
    uint64_t peak_mem_bytes;       /* peak memory of the sample */
} ttt_eval_record;

typedef struct ttt_eval_report ttt_eval_report;

/* Opens (creating) dir and dir/samples.jsonl. Finished samples already in the file are
 * loaded (see ttt_eval_report_done); a torn last line from an interrupted run is cut off. A
 * malformed line elsewhere is an error naming its line number. */
ttt_status ttt_eval_report_open(const char *dir, ttt_eval_report **out);
/* Samples loaded from an earlier run. */
int ttt_eval_report_resumed(const ttt_eval_report *r);
/* Bytes of a torn last line cut off at open (0: none), for the runner to report. */
long ttt_eval_report_torn_bytes(const ttt_eval_report *r);
/* True when the sample (model, task, length, mode, index) is already in the file. */
bool ttt_eval_report_done(const ttt_eval_report *r, const char *model, const char *task,
                          int length, const char *mode, int index);
/* Appends the record's line and fsyncs it. */
ttt_status ttt_eval_report_add(ttt_eval_report *r, const ttt_eval_record *rec);
/* Writes summary.json, summary.csv, results.md and plots/ *.svg (each atomically). */
ttt_status ttt_eval_report_write(ttt_eval_report *r);
void ttt_eval_report_free(ttt_eval_report *r);

/* ---- SVG line charts (svg.c) ---- */
typedef struct ttt_svg_series {
    const char *name; /* legend text */
    const double *x;  /* [n] */
    const double *y;  /* [n]; NaN: no point */
    int n;
} ttt_svg_series;

typedef struct ttt_svg_chart {
    const char *title, *x_label, *y_label;
    bool log2_x;      /* x is a length: log2 axis with ticks at powers of two */
    bool y_from_zero; /* y axis starts at 0 (accuracy, memory) */
    double y_max;     /* > 0: fixed top of the y axis (100 for accuracy) */
} ttt_svg_chart;

/* Writes the chart to path atomically. */
ttt_status ttt_svg_line_chart(const char *path, const ttt_svg_chart *c, const ttt_svg_series *s,
                              int n_series);

#endif
