/* device.c - which backends this build has, and the public device queries. Without CUDA the
 * CUDA entries answer with a clear TTT_ERR_UNSUPPORTED. */
#include <string.h>

#include "model/backend.h"
#include "util/err.h"

#ifdef TTT_CUDA
#include "cuda/cuda.h"
const ttt_ops *const ttt_cuda_ops = &ttt_cuda_ops_table;
#else
const ttt_ops *const ttt_cuda_ops = NULL;
#endif

int ttt_cuda_compiled(void) { return ttt_cuda_ops != NULL; }

int ttt_device_from_name(const char *name) {
    if (!name) return -1;
    if (!strcmp(name, "cpu")) return TTT_DEVICE_CPU;
    if (!strcmp(name, "cuda") || !strcmp(name, "gpu")) return TTT_DEVICE_CUDA;
    return -1;
}

const char *ttt_device_name(int device) {
    return device == TTT_DEVICE_CPU ? "cpu" : device == TTT_DEVICE_CUDA ? "cuda" : "unknown";
}

static ttt_status need_cuda(int device, const char *fn) {
    if (device != TTT_DEVICE_CUDA)
        return ttt_err(TTT_ERR_ARG, "%s: only the cuda device has this query", fn);
    if (!ttt_cuda_ops) return ttt_err(TTT_ERR_UNSUPPORTED, "this build of ttt has no CUDA backend");
    return TTT_OK;
}

ttt_status ttt_device_probe(int device, double *gemm_flops, double *copy_bytes_per_s) {
    ttt_status st = need_cuda(device, "ttt_device_probe");
#ifdef TTT_CUDA
    if (st == TTT_OK) st = ttt_cuda_probe(gemm_flops, copy_bytes_per_s);
#else
    (void)gemm_flops;
    (void)copy_bytes_per_s;
#endif
    return st;
}

ttt_status ttt_device_memory(int device, uint64_t *in_use, uint64_t *peak, int reset_peak) {
    ttt_status st = need_cuda(device, "ttt_device_memory");
#ifdef TTT_CUDA
    if (st == TTT_OK) ttt_cuda_memory(in_use, peak, reset_peak);
#else
    (void)in_use;
    (void)peak;
    (void)reset_peak;
#endif
    return st;
}

ttt_status ttt_device_graphs(int device, uint64_t *recorded, uint64_t *replayed,
                             uint64_t *last_nodes) {
    ttt_status st = need_cuda(device, "ttt_device_graphs");
#ifdef TTT_CUDA
    if (st == TTT_OK) ttt_cuda_graphs(recorded, replayed, last_nodes);
#else
    (void)recorded;
    (void)replayed;
    (void)last_nodes;
#endif
    return st;
}
