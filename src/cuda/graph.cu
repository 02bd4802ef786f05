/* graph.cu - recording a run of ops once and replaying it (CUDA graphs), for the decode
 * steps of src/model/batch.c: a step's few hundred small kernels go to the GPU in one launch
 * instead of one launch each.
 *
 * A recording holds the device addresses its kernels were given. The model code keys it on
 * what it passes (buffers, fast weights, row count); what the backend chooses itself, the
 * scratch buffers, is covered here by an epoch that moves whenever one of them is replaced:
 * a recording of an older epoch is not replayed. */
#include <stdlib.h>

#include "cuda/common.cuh"

static uint64_t g_recorded, g_replayed, g_last_nodes;

void ttt_cuda_graphs(uint64_t *recorded, uint64_t *replayed, uint64_t *last_nodes) {
    if (recorded) *recorded = g_recorded;
    if (replayed) *replayed = g_replayed;
    if (last_nodes) *last_nodes = g_last_nodes;
}

typedef struct cu_rec {
    cudaGraphExec_t exec;
    unsigned epoch; /* g_cu.scratch_epoch when recorded */
} cu_rec;

/* TTT_CUDA_NO_GRAPH=1 runs every op as it comes (A/B measurements, tests); read per call. */
static int graphs_off(void) {
    const char *e = getenv("TTT_CUDA_NO_GRAPH");
    return e && *e && *e != '0';
}

int cu_rec_begin(void) {
    /* a failure pending from before must reach sync, not be lost with a failed recording;
     * the profiler's events and flushes do not belong in a graph */
    if (graphs_off() || g_cu.fail != TTT_OK || cu_prof_on()) return 0;
    if (cudaStreamBeginCapture(g_cu.stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    g_cu.capturing = 1;
    g_cu.capture_broken = 0;
    return 1;
}

void *cu_rec_end(void) {
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(g_cu.stream, &graph);
    g_cu.capturing = 0;
    cu_rec *r = NULL;
    if (e == cudaSuccess && graph && !g_cu.capture_broken && g_cu.fail == TTT_OK &&
        (r = (cu_rec *)calloc(1, sizeof *r)) != NULL &&
        cudaGraphInstantiate(&r->exec, graph, 0) == cudaSuccess) {
        r->epoch = g_cu.scratch_epoch;
        g_recorded++;
        size_t nodes = 0;
        if (cudaGraphGetNodes(graph, NULL, &nodes) == cudaSuccess) g_last_nodes = nodes;
    } else {
        free(r);
        r = NULL;
        /* what failed while recording ran nothing: the caller runs the ops itself, and a
         * real failure then recurs and is reported */
        cudaGetLastError();
        g_cu.fail = TTT_OK;
    }
    if (graph) cudaGraphDestroy(graph);
    return r;
}

int cu_replay(void *rec) {
    cu_rec *r = (cu_rec *)rec;
    if (!r || r->epoch != g_cu.scratch_epoch) return 0;
    if (cu_ok(cudaGraphLaunch(r->exec, g_cu.stream), "graph launch")) g_replayed++;
    return 1;
}

void cu_rec_free(void *rec) {
    cu_rec *r = (cu_rec *)rec;
    if (!r) return;
    cudaGraphExecDestroy(r->exec);
    free(r);
}
