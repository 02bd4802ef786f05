/* scratch.c - per-thread reusable buffers and the CPU backend's sticky failure. */
#include <stdio.h>

#include "cpu/cpu.h"
#include "util/err.h"
#include "util/mem.h"

#define SLOTS 4

static _Thread_local float *g_buf[SLOTS];
static _Thread_local size_t g_cap[SLOTS];
static _Thread_local ttt_status g_fail;
static _Thread_local char g_what[128];

void ttt_cpu_fail(ttt_status st, const char *what) {
    if (g_fail != TTT_OK) return;
    g_fail = st;
    snprintf(g_what, sizeof g_what, "%s", what);
}

ttt_status ttt_cpu_sync(void) {
    ttt_status st = g_fail;
    g_fail = TTT_OK;
    if (st != TTT_OK) return ttt_err(st, "cpu backend: out of memory in %s", g_what);
    return TTT_OK;
}

float *ttt_cpu_scratch(int slot, size_t n) {
    if (n <= g_cap[slot]) return g_buf[slot];
    ttt_free_aligned(g_buf[slot]);
    g_buf[slot] = ttt_calloc_aligned(n, sizeof(float));
    g_cap[slot] = g_buf[slot] ? n : 0;
    if (!g_buf[slot]) ttt_cpu_fail(TTT_ERR_NOMEM, "a scratch buffer");
    return g_buf[slot];
}

void ttt_cpu_scratch_release(void) {
    for (int i = 0; i < SLOTS; i++) {
        ttt_free_aligned(g_buf[i]);
        g_buf[i] = NULL;
        g_cap[i] = 0;
    }
}
