/* ceilings.h - what this machine can do at best, measured in the benchmark's own run. */
#ifndef TTT_BENCH_CEILINGS_H
#define TTT_BENCH_CEILINGS_H

/* Read bandwidth in bytes/s: threads sum a buffer far larger than the caches (best of reps). */
double bench_mem_bandwidth(void);
/* OpenBLAS sgemm rate in FLOP/s on a prefill-shaped product (512 x 4096 x 1024, best of reps). */
double bench_sgemm_flops(void);

#endif
