/* ceilings.h - what this machine can do at best, measured in the benchmark's own run. */
#ifndef TTT_BENCH_CEILINGS_H
#define TTT_BENCH_CEILINGS_H

#include <stddef.h>

/* Read bandwidth in bytes/s: threads sum a buffer of `bytes` (default 1 GiB, far larger than
 * the caches), best of reps. */
double bench_mem_bandwidth(int reps, size_t bytes);
/* OpenBLAS sgemm rate in FLOP/s on a prefill-shaped product (512 x 4096 x 1024, best of
 * reps). */
double bench_sgemm_flops(int reps);

#endif
