/* ceilings.c - the memory-bandwidth and sgemm ceilings that bench results are compared to.
 * Both use every thread the benchmark uses. */
#include "ceilings.h"

#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define BW_BYTES (1ull << 30) /* far beyond any last-level cache */
#define REPS 7

/* 64 KiB blocks dealt round-robin to the threads: on the VMs we measured, neighbouring
 * streams read faster than one half of the buffer per thread. */
#define BW_BLOCK (16384 / 64)

typedef float v16 __attribute__((vector_size(64)));

double bench_mem_bandwidth(void) {
    const size_t n = BW_BYTES / sizeof(v16);
    v16 *buf = aligned_alloc(64, BW_BYTES);
    if (!buf) return 0;
    float *f = (float *)buf;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n * 16; i++) f[i] = (float)(i & 7);
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < REPS; r++) {
        double t0 = cli_now();
        float total = 0;
        for (int pass = 0; pass < 4; pass++) {
#pragma omp parallel reduction(+ : total)
            {
                v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
#pragma omp for schedule(static, 1)
                for (size_t b = 0; b < n / BW_BLOCK; b++)
                    for (size_t i = b * BW_BLOCK; i < (b + 1) * BW_BLOCK; i += 4) {
                        a0 += buf[i];
                        a1 += buf[i + 1];
                        a2 += buf[i + 2];
                        a3 += buf[i + 3];
                    }
                v16 s = a0 + a1 + a2 + a3;
                for (int j = 0; j < 16; j++) total += s[j];
            }
        }
        double dt = cli_now() - t0;
        sink += total;
        if (4.0 * BW_BYTES / dt > best) best = 4.0 * BW_BYTES / dt;
    }
    (void)sink;
    free(buf);
    return best;
}

double bench_sgemm_flops(void) {
    const int M = 512, N = 4096, K = 1024;
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K);
    float *c = malloc(sizeof(float) * M * N);
    double best = 0;
    if (a && b && c) {
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)(i % 7) * 0.01f;
        for (int r = 0; r < REPS + 1; r++) {
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
