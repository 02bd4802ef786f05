/* scratch.c - per-thread reusable buffers (freed when the thread ends) and the CPU backend's
 * sticky failure. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu/cpu.h"
#include "util/err.h"
#include "util/mem.h"

#define SLOTS 4

typedef struct scratch {
    float *buf[SLOTS];
    size_t cap[SLOTS]; /* floats */
} scratch;

static pthread_key_t g_key;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_key_ok;

static _Thread_local ttt_status g_fail;
static _Thread_local char g_what[128];

static void scratch_destroy(void *p) {
    scratch *s = p;
    for (int i = 0; i < SLOTS; i++) ttt_free_aligned(s->buf[i]);
    free(s);
}

static void make_key(void) { g_key_ok = pthread_key_create(&g_key, scratch_destroy) == 0; }

static scratch *scratch_get(int create) {
    pthread_once(&g_once, make_key);
    if (!g_key_ok) return NULL;
    scratch *s = pthread_getspecific(g_key);
    if (!s && create) {
        s = calloc(1, sizeof *s);
        if (s && pthread_setspecific(g_key, s)) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

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
    scratch *s = scratch_get(1);
    if (!s) {
        ttt_cpu_fail(TTT_ERR_NOMEM, "a scratch buffer");
        return NULL;
    }
    if (n <= s->cap[slot]) return s->buf[slot];
    ttt_free_aligned(s->buf[slot]);
    size_t bytes;
    s->buf[slot] = ttt_mul_size(n, sizeof(float), &bytes) ? ttt_malloc_aligned(bytes) : NULL;
    s->cap[slot] = s->buf[slot] ? n : 0;
    if (!s->buf[slot]) ttt_cpu_fail(TTT_ERR_NOMEM, "a scratch buffer");
    return s->buf[slot];
}

void ttt_cpu_scratch_release(void) {
    scratch *s = scratch_get(0);
    if (!s) return;
    pthread_setspecific(g_key, NULL);
    scratch_destroy(s);
}
