/* demo.h - `ttt demo`: two small sliding-window models, one with TTT layers and one without,
 * trained from scratch on the built-in recall tasks (src/demo), checkpointed, evaluated at
 * several lengths in the three modes, with a table, SVG plots and a JSON summary. */
#ifndef TTT_TOOLS_DEMO_H
#define TTT_TOOLS_DEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "demo/demo.h"
#include "eval_run.h"
#include "ttt.h"

#define DEMO_MAX_LENGTHS 16

typedef struct demo_opts {
    const char *out;          /* output directory */
    const char *preset;       /* tiny, small, base */
    const char *device;       /* cpu or cuda */
    ttt_demo_model shape;     /* the TTT model; the baseline is the same without TTT layers */
    ttt_demo_params data;
    int steps, B, T;          /* optimizer steps per model, batch, sequence length */
    double lr;                /* peak learning rate */
    int warmup;               /* warm-up steps */
    int lengths[DEMO_MAX_LENGTHS];
    int n_lengths;
    int samples;              /* held-out samples per (task, length, mode) */
    uint64_t seed;
    bool skip_baseline;       /* experiments: train and evaluate the TTT model only */
    bool conv_zero;           /* ttt_conv starts at zero (the official init) */
    bool quiet;
    bool parallel;            /* the two models train at once, one thread each */
} demo_opts;

/* What training one model produced. */
typedef struct demo_trained {
    char *ckpt;               /* checkpoint directory (malloc'ed) */
    uint64_t n_params;
    double seconds;           /* wall time of the training loop */
    double first_loss;        /* mean answer loss of the first 10 % of steps */
    double final_loss;        /* of the last 10 % */
    double val_loss;          /* held-out sequences */
    double tokens_per_s;
} demo_trained;

/* Creates the model `name` (shape, random init) under o->out, trains it, checkpoints it. */
ttt_status demo_train(const demo_opts *o, const char *name, const ttt_demo_model *shape,
                      demo_trained *out);

/* Accuracy grid of one model: [task][length][mode], percent; NaN where not run. */
typedef struct demo_scores {
    double acc[TTT_DEMO_N_TASKS][DEMO_MAX_LENGTHS][EVAL_MODE_COUNT];
    double seconds;
} demo_scores;

/* Loads the checkpoint and evaluates it on held-out samples, adding each sample to the
 * report under the label `name`. */
struct ttt_eval_report;
ttt_status demo_eval(const demo_opts *o, const char *name, const char *ckpt,
                     struct ttt_eval_report *rep, demo_scores *out);

#endif
