/* verify_train.h - the training checks of `ttt verify` (--grads, --adamw). */
#ifndef TTT_TOOLS_VERIFY_TRAIN_H
#define TTT_TOOLS_VERIFY_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

/* max|a - b| / max|b| (NaN counts as infinite) */
double verify_max_rel(const float *a, const float *b, size_t n);

/* Each prints its checks and returns the exit status (0: all below tol); the trainer runs on
 * `device` (TTT_DEVICE_*). */
int verify_grads(const char *dir, ttt_model *m, const int32_t *ids, int T, double tol,
                 int device);
int verify_adamw(const char *dir, ttt_model *m, const int32_t *ids, int T, double tol,
                 int device);

#endif
