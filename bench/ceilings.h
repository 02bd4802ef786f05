/* ceilings.h - what this machine can do at best, measured in the benchmark's own run, next to
 * the measurements they bound. */
#ifndef TTT_BENCH_CEILINGS_H
#define TTT_BENCH_CEILINGS_H

#include <stddef.h>

typedef struct bench_probe bench_probe;

/* Allocates and touches the probes' buffers once (bytes: the read probe's buffer). */
bench_probe *bench_probe_init(size_t bytes);
void bench_probe_free(bench_probe *p);
/* One sample of the read bandwidth in bytes/s: all threads sum the buffer, each its
 * contiguous share, into four independent vector accumulators. */
double bench_probe_bandwidth(bench_probe *p);
/* One sample of the OpenBLAS sgemm rate in FLOP/s on a prefill-shaped product
 * (512 x 4096 x 1024, all threads). */
double bench_probe_sgemm(bench_probe *p);

#endif
