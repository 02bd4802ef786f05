/* cuda.h - the CUDA backend as the rest of the library sees it (C linkage). */
#ifndef TTT_CUDA_CUDA_H
#define TTT_CUDA_CUDA_H

#include <stdint.h>

#include "model/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const ttt_ops ttt_cuda_ops_table;

/* One sample each of the bf16 GEMM rate (FLOP/s) and the copy bandwidth (bytes/s). */
ttt_status ttt_cuda_probe(double *gemm_flops, double *copy_bytes_per_s);
/* Device bytes held through the backend's allocator, now and at the peak. */
void ttt_cuda_memory(uint64_t *in_use, uint64_t *peak, int reset_peak);
/* Graphs recorded and replayed so far, and the nodes of the last recorded (graph.cu). */
void ttt_cuda_graphs(uint64_t *recorded, uint64_t *replayed, uint64_t *last_nodes);

#ifdef __cplusplus
}
#endif

#endif
