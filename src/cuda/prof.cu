/* prof.cu - optional GPU time per op kind (TTT_CUDA_PROFILE=1): events around each op,
 * summed at every sync and printed to stderr at exit. Off, it costs one branch per op. */
#include <stdio.h>
#include <stdlib.h>

#include "cuda/common.cuh"

#define MAX_EV 16384

static int g_on = -1;
static cudaEvent_t g_ev[MAX_EV][2];
static int g_ev_op[MAX_EV], g_n_ev, g_made;
static double g_ms[CU_OP_COUNT];
static long g_calls[CU_OP_COUNT];
static const char *const NAMES[CU_OP_COUNT] = {
    "embed", "rmsnorm", "matmul", "matmul_multi", "matmul_nt", "gemm (TTT)",
    "qk norm+rope+kv", "attention", "act_mul", "add/axpy", "softcap", "conv5", "to_f32", "copy"};

static void report(void) {
    double total = 0;
    for (int i = 0; i < CU_OP_COUNT; i++) total += g_ms[i];
    fprintf(stderr, "ttt cuda profile: GPU time by op (%.1f ms in all)\n", total);
    for (int i = 0; i < CU_OP_COUNT; i++)
        if (g_calls[i])
            fprintf(stderr, "  %-14s %10.2f ms %5.1f%% %8ld calls\n", NAMES[i], g_ms[i],
                    100 * g_ms[i] / (total > 0 ? total : 1), g_calls[i]);
}

int cu_prof_on(void) {
    if (g_on < 0) {
        const char *e = getenv("TTT_CUDA_PROFILE");
        g_on = e && *e && *e != '0';
        if (g_on) atexit(report);
    }
    return g_on;
}

int cu_prof_begin(int op) {
    if (!cu_prof_on()) return -1;
    if (g_n_ev == MAX_EV) cu_prof_flush();
    const int i = g_n_ev++;
    if (i >= g_made) {
        cudaEventCreate(&g_ev[i][0]);
        cudaEventCreate(&g_ev[i][1]);
        g_made = i + 1;
    }
    g_ev_op[i] = op;
    cudaEventRecord(g_ev[i][0], g_cu.stream);
    return i;
}

void cu_prof_end(int i) {
    if (i >= 0) cudaEventRecord(g_ev[i][1], g_cu.stream);
}

void cu_prof_flush(void) {
    if (g_on <= 0 || g_n_ev == 0) return;
    cudaStreamSynchronize(g_cu.stream);
    for (int i = 0; i < g_n_ev; i++) {
        float ms = 0;
        if (cudaEventElapsedTime(&ms, g_ev[i][0], g_ev[i][1]) == cudaSuccess)
            g_ms[g_ev_op[i]] += ms;
        g_calls[g_ev_op[i]]++;
    }
    g_n_ev = 0;
}
