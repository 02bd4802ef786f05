/* ceilings.c - the memory-bandwidth and sgemm probes that bench results are compared to.
 * Both use every thread the benchmark uses; their buffers are made once, so a sample costs
 * only its own run (tens of milliseconds) and can sit next to each repetition of a test. */
#include "ceilings.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define GEMM_M 512
#define GEMM_N 4096
#define GEMM_K 1024

typedef float v16 __attribute__((vector_size(64)));

struct bench_probe {
    v16 *buf;           /* read probe */
    size_t n;           /* vectors in buf */
    float *a, *b, *c;   /* sgemm operands */
    volatile float sink;
};

bench_probe *bench_probe_init(size_t bytes) {
    bench_probe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    bytes -= bytes % (4 * sizeof(v16));
    p->n = bytes / sizeof(v16);
    p->buf = aligned_alloc(64, bytes ? bytes : 256);
    p->a = malloc(sizeof(float) * GEMM_M * GEMM_K);
    p->b = malloc(sizeof(float) * GEMM_N * GEMM_K);
    p->c = malloc(sizeof(float) * GEMM_M * GEMM_N);
    if (!p->buf || !p->a || !p->b || !p->c) {
        bench_probe_free(p);
        return NULL;
    }
    memset(p->buf, 1, bytes);
    for (size_t i = 0; i < (size_t)GEMM_M * GEMM_K; i++) p->a[i] = (float)(i % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)GEMM_N * GEMM_K; i++) p->b[i] = (float)(i % 7) * 0.01f;
    bench_probe_sgemm(p); /* OpenBLAS sets up its buffers on the first call */
    return p;
}

void bench_probe_free(bench_probe *p) {
    if (!p) return;
    free(p->buf);
    free(p->a);
    free(p->b);
    free(p->c);
    free(p);
}

double bench_probe_bandwidth(bench_probe *p) {
    const v16 *buf = p->buf;
    const size_t n = p->n;
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
    p->sink += total;
    return n * sizeof(v16) / dt;
}

double bench_probe_sgemm(bench_probe *p) {
    double t0 = cli_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, GEMM_M, GEMM_N, GEMM_K, 1.0f, p->a,
                GEMM_K, p->b, GEMM_K, 0.0f, p->c, GEMM_N);
    double dt = cli_now() - t0;
    return 2.0 * GEMM_M * GEMM_N * GEMM_K / dt;
}
