/* ceilings.c - the memory-bandwidth and sgemm ceilings that bench results are compared to.
 * Both use every thread the benchmark uses. */
#include "ceilings.h"

#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"


typedef float v16 __attribute__((vector_size(64)));

/* Each thread sums its contiguous share of the buffer into four independent vector
 * accumulators, so the loads, not the adds, set the pace. */
double bench_mem_bandwidth(int reps, size_t bytes) {
    bytes -= bytes % 256;
    const size_t n = bytes / sizeof(v16);
    v16 *buf = aligned_alloc(64, bytes ? bytes : 256);
    if (!buf) return 0;
    memset(buf, 1, bytes);
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = cli_now();
        float total = 0;
#pragma omp parallel reduction(+ : total)
        {
            v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
#pragma omp for schedule(static)
            for (size_t i = 0; i < n; i += 4) {
                a0 += buf[i];
                a1 += buf[i + 1];
                a2 += buf[i + 2];
                a3 += buf[i + 3];
            }
            v16 s = a0 + a1 + a2 + a3;
            for (int j = 0; j < 16; j++) total += s[j];
        }
        double dt = cli_now() - t0;
        sink += total;
        if (bytes / dt > best) best = bytes / dt;
    }
    (void)sink;
    free(buf);
    return best;
}

double bench_sgemm_flops(int reps) {
    const int M = 512, N = 4096, K = 1024;
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K);
    float *c = malloc(sizeof(float) * M * N);
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)(i % 7) * 0.01f;
        for (int r = 0; r < reps + 1; r++) {
            double t0 = cli_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f,
                        c, N);
            double dt = cli_now() - t0;
            if (r > 0 && 2.0 * M * N * K / dt > best) best = 2.0 * M * N * K / dt;
        }
    }
    free(a);
    free(b);
    free(c);
    return best;
}
