/* mem.cu - the CUDA backend's device set-up, memory, copies, failure recording and the
 * ceiling probes. Every op runs on one stream; ops return nothing, so a failing call records
 * the first error and ttt_ops.sync reports it (as CUDA's own sticky errors do). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/common.cuh"

cu_state g_cu;

#define WS_BYTES ((size_t)32 << 20)
#define TRACK_SLOTS 16384 /* live allocations whose sizes the peak counter knows */

static struct {
    void *p;
    size_t bytes;
} g_track[TRACK_SLOTS];
static void *g_scratch[CU_SCRATCH_COUNT];
static size_t g_scratch_bytes[CU_SCRATCH_COUNT];

void cu_fail(ttt_status st, const char *what, cudaError_t e) {
    if (g_cu.fail != TTT_OK) return;
    g_cu.fail = st;
    if (e == cudaSuccess) snprintf(g_cu.msg, sizeof g_cu.msg, "cuda: %s failed", what);
    else snprintf(g_cu.msg, sizeof g_cu.msg, "cuda: %s failed: %s", what, cudaGetErrorString(e));
}

int cu_ok(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return 1;
    cu_fail(e == cudaErrorMemoryAllocation ? TTT_ERR_NOMEM : TTT_ERR_UNSUPPORTED, what, e);
    return 0;
}

static size_t slot_of(const void *p) { return ((size_t)p >> 8) % TRACK_SLOTS; }

static void track(void *p, size_t bytes) {
    g_cu.in_use += bytes;
    if (g_cu.in_use > g_cu.peak) g_cu.peak = g_cu.in_use;
    for (size_t i = 0, s = slot_of(p); i < TRACK_SLOTS; i++, s = (s + 1) % TRACK_SLOTS)
        if (!g_track[s].p) {
            g_track[s].p = p;
            g_track[s].bytes = bytes;
            return;
        }
}

static void untrack(void *p) {
    for (size_t i = 0, s = slot_of(p); i < TRACK_SLOTS; i++, s = (s + 1) % TRACK_SLOTS)
        if (g_track[s].p == p) {
            g_cu.in_use -= g_track[s].bytes;
            g_track[s].p = NULL;
            /* re-insert the rest of the probe run so lookups still find them */
            for (size_t t = (s + 1) % TRACK_SLOTS; g_track[t].p; t = (t + 1) % TRACK_SLOTS) {
                void *q = g_track[t].p;
                size_t b = g_track[t].bytes;
                g_track[t].p = NULL;
                g_cu.in_use -= b;
                track(q, b);
            }
            return;
        }
}

ttt_status cu_init(int precision) {
    g_cu.prec = precision == TTT_PREC_F32 ? TTT_PREC_F32 : TTT_PREC_BF16;
    if (g_cu.ready) return TTT_OK;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        cudaGetLastError();
        return ttt_err(TTT_ERR_UNSUPPORTED, "cuda: no usable GPU (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "no device found");
    }
    cudaDeviceProp prop;
    if ((e = cudaSetDevice(0)) != cudaSuccess || (e = cudaGetDeviceProperties(&prop, 0)) ||
        (e = cudaStreamCreateWithFlags(&g_cu.stream, cudaStreamNonBlocking)) != cudaSuccess)
        return ttt_err(TTT_ERR_UNSUPPORTED, "cuda: cannot start the GPU: %s", cudaGetErrorString(e));
    if (prop.major < 8)
        return ttt_err(TTT_ERR_UNSUPPORTED, "cuda: %s has compute capability %d.%d; bf16 needs 8.0",
                       prop.name, prop.major, prop.minor);
    g_cu.n_sm = prop.multiProcessorCount;
    if (cublasLtCreate(&g_cu.lt) != CUBLAS_STATUS_SUCCESS)
        return ttt_err(TTT_ERR_UNSUPPORTED, "cuda: cuBLASLt failed to start");
    if ((e = cudaMalloc(&g_cu.ws, WS_BYTES)) != cudaSuccess) {
        cudaGetLastError();
        return ttt_err(TTT_ERR_NOMEM, "cuda: no memory for the cuBLASLt workspace");
    }
    g_cu.ws_bytes = WS_BYTES;
    g_cu.wgmma = cu_flash_wg_probe();
    g_cu.ready = 1;
    return TTT_OK;
}

/* TTT_CUDA_MEM_LIMIT_KB caps the bytes held through the backend (tests: a model larger than
 * the GPU, running out of memory mid-run); read at each allocation so a test can move it. */
static size_t mem_limit(void) {
    const char *e = getenv("TTT_CUDA_MEM_LIMIT_KB");
    return e && *e ? (size_t)strtoull(e, NULL, 10) << 10 : 0;
}

void *cu_alloc(size_t bytes) {
    void *p = NULL;
    if (bytes == 0) bytes = 1;
    const size_t limit = mem_limit();
    if (limit && g_cu.in_use + bytes > limit) return NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* out of memory is not sticky: the caller reports it */
        return NULL;
    }
    if (!cu_ok(cudaMemsetAsync(p, 0, bytes, g_cu.stream), "cudaMemset")) {
        cudaFree(p);
        return NULL;
    }
    track(p, bytes);
    return p;
}

void cu_free(void *p) {
    if (!p) return;
    untrack(p);
    cudaFree(p);
}

void cu_copy(void *dst, const void *src, size_t bytes) {
    if (bytes) cu_ok(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_cu.stream),
                     "device copy");
}

void cu_zero(void *dst, size_t bytes) {
    if (bytes) cu_ok(cudaMemsetAsync(dst, 0, bytes, g_cu.stream), "cudaMemset");
}

/* Pinned host memory for the small copies of a decode step (its row descriptors up, its
 * top-k candidates down), so that they need no wait each: a stream synchronisation per copy
 * left the GPU idle between steps. Handed out front to back and taken back whole whenever
 * the stream has been synchronised (every copy through it has then completed). */
#define PIN_BYTES ((size_t)256 << 10)
#define PIN_MAX ((size_t)64 << 10) /* larger copies go the plain way */
static char *g_pin;
static size_t g_pin_used;

static void *pin_take(size_t bytes) {
    if (bytes > PIN_MAX || g_cu.capturing) return NULL;
    if (!g_pin) {
        if (cudaMallocHost((void **)&g_pin, PIN_BYTES) != cudaSuccess) {
            cudaGetLastError();
            g_pin = NULL;
            return NULL;
        }
    }
    const size_t at = (g_pin_used + 255) & ~(size_t)255;
    if (at + bytes > PIN_BYTES) return NULL;
    g_pin_used = at + bytes;
    return g_pin + at;
}

static int stream_sync(const char *what) {
    if (!cu_ok(cudaStreamSynchronize(g_cu.stream), what)) return 0;
    g_pin_used = 0;
    return 1;
}

void cu_to_host(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    cu_ok(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_cu.stream), "copy to host");
    stream_sync("copy to host");
}

void cu_to_host_n(int count, void *const *dst, const void *const *src, const size_t *bytes) {
    void *p[4];
    int pinned = count <= 4;
    for (int i = 0; i < count && pinned; i++) pinned = !bytes[i] || (p[i] = pin_take(bytes[i]));
    if (!pinned) {
        for (int i = 0; i < count; i++) cu_to_host(dst[i], src[i], bytes[i]);
        return;
    }
    for (int i = 0; i < count; i++)
        if (bytes[i] && !cu_ok(cudaMemcpyAsync(p[i], src[i], bytes[i], cudaMemcpyDeviceToHost,
                                               g_cu.stream),
                               "copy to host"))
            return;
    if (!stream_sync("copy to host")) return;
    for (int i = 0; i < count; i++)
        if (bytes[i]) memcpy(dst[i], p[i], bytes[i]);
}

void cu_to_backend(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    void *p = pin_take(bytes);
    if (p) { /* the caller may reuse src at once: the copy reads the pinned one */
        memcpy(p, src, bytes);
        cu_ok(cudaMemcpyAsync(dst, p, bytes, cudaMemcpyHostToDevice, g_cu.stream), "upload");
        return;
    }
    cu_ok(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_cu.stream), "upload");
    /* pageable source: the copy is staged, but the caller may reuse src right away */
    stream_sync("upload");
}

ttt_status cu_sync(void) {
    stream_sync("a kernel");
    cu_ok(cudaGetLastError(), "a kernel");
    ttt_status st = g_cu.fail;
    if (st != TTT_OK) ttt_err(st, "%s", g_cu.msg);
    g_cu.fail = TTT_OK;
    return st;
}

size_t cu_kv_elem_size(void) { return g_cu.prec == TTT_PREC_F32 ? sizeof(float) : 2; }

void *cu_scratch(int slot, size_t bytes) {
    if (g_scratch_bytes[slot] >= bytes) return g_scratch[slot];
    if (g_cu.capturing) {
        /* growing would wait for the stream, which a recording cannot do; the caller skips
         * its op and the recording is dropped (the ops then run as they come) */
        g_cu.capture_broken = 1;
        return NULL;
    }
    g_cu.scratch_epoch++; /* recordings that hold the old buffer are stale */
    size_t want = bytes + bytes / 4;
    if (g_scratch[slot]) {
        cudaStreamSynchronize(g_cu.stream); /* earlier ops may still read it */
        cu_free(g_scratch[slot]);
    }
    g_scratch[slot] = cu_alloc(want);
    g_scratch_bytes[slot] = g_scratch[slot] ? want : 0;
    if (!g_scratch[slot]) cu_fail(TTT_ERR_NOMEM, "a scratch buffer", cudaErrorMemoryAllocation);
    return g_scratch[slot];
}

void ttt_cuda_memory(uint64_t *in_use, uint64_t *peak, int reset_peak) {
    if (in_use) *in_use = g_cu.in_use;
    if (peak) *peak = g_cu.peak;
    if (reset_peak) g_cu.peak = g_cu.in_use;
}

/* Times fn over reps runs with events; seconds per run, or -1. */
static float event_time(cudaEvent_t a, cudaEvent_t b) {
    float ms = -1;
    if (cudaEventSynchronize(b) != cudaSuccess || cudaEventElapsedTime(&ms, a, b) != cudaSuccess)
        return -1;
    return ms / 1e3f;
}

ttt_status ttt_cuda_probe(double *gemm_flops, double *copy_bytes_per_s) {
    ttt_status st = cu_init(g_cu.ready ? g_cu.prec : TTT_PREC_BF16);
    if (st != TTT_OK) return st;
    const int N = 4096, reps = 10;
    const size_t copy_bytes = (size_t)1 << 30;
    __nv_bfloat16 *a = (__nv_bfloat16 *)cu_alloc(sizeof(__nv_bfloat16) * (size_t)N * N * 2);
    float *c = (float *)cu_alloc(sizeof(float) * (size_t)N * N);
    char *buf = (char *)cu_alloc(copy_bytes * 2);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    if (a && c && buf) {
        /* random-looking data: zeros run faster than real inputs */
        float *f = (float *)buf;
        size_t nf = (size_t)N * N * 2;
        cu_fill_random(f, nf, 1u);
        cu_f32_to_bf16(a, f, nf);
        for (int r = -1; r < reps; r++) {
            if (r == 0) cudaEventRecord(e0, g_cu.stream);
            cu_lt_matmul(1, 0, N, N, N, 1.0f, a, CUDA_R_16BF, N, a + (size_t)N * N, CUDA_R_16BF,
                         N, 0.0f, c, N, 0);
        }
        cudaEventRecord(e1, g_cu.stream);
        float t = event_time(e0, e1);
        if (gemm_flops) *gemm_flops = t > 0 ? 2.0 * N * N * (double)N * reps / t : 0;
        for (int r = -1; r < reps; r++) {
            if (r == 0) cudaEventRecord(e0, g_cu.stream);
            cu_copy(buf + copy_bytes, buf, copy_bytes);
        }
        cudaEventRecord(e1, g_cu.stream);
        t = event_time(e0, e1);
        if (copy_bytes_per_s) *copy_bytes_per_s = t > 0 ? 2.0 * copy_bytes * reps / t : 0;
    } else {
        cu_fail(TTT_ERR_NOMEM, "the probes' buffers", cudaErrorMemoryAllocation);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cu_free(a);
    cu_free(c);
    cu_free(buf);
    return cu_sync();
}

int cu_pdl_on(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("TTT_CUDA_NO_PDL");
        on = !(e && *e && *e != '0');
    }
    return on;
}
