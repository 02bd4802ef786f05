/* parallel.h - `ttt run -np N`: several continuations of one prompt decoded together. */
#ifndef TTT_TOOLS_PARALLEL_H
#define TTT_TOOLS_PARALLEL_H

#include "run_opts.h"

/* prompt_text: printed before each continuation (NULL with --ids). Returns 0, or -1 with an
 * error printed. */
int run_parallel(run_ctx *rc, run_opts *o, const int32_t *prompt, int n_prompt,
                 const char *prompt_text, int np);

#endif
