/* mem.c - aligned allocation and small string helpers. */
#include "util/mem.h"

#include <stdlib.h>
#include <string.h>

void *ttt_malloc_aligned(size_t bytes) {
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) return NULL;
    return aligned_alloc(64, rounded);
}

void *ttt_calloc_aligned(size_t n, size_t size) {
    size_t bytes;
    if (!ttt_mul_size(n, size, &bytes)) return NULL;
    void *p = ttt_malloc_aligned(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void ttt_free_aligned(void *p) { free(p); }

char *ttt_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *ttt_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}
