/* threads.c - the worker-thread count shared by the OpenMP kernels and OpenBLAS. OpenMP keeps
 * its count per calling thread, so every entry point re-applies the library-wide setting. */
#include <cblas.h>
#include <omp.h>

#include "model/model.h"

static _Atomic int g_threads; /* set by one thread, read by every caller */

void ttt_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    g_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int ttt_get_threads(void) { return g_threads > 0 ? g_threads : omp_get_max_threads(); }

void ttt_threads_apply(void) {
    if (g_threads > 0 && omp_get_max_threads() != g_threads) omp_set_num_threads(g_threads);
}
