/* mem.h - overflow-checked sizes and aligned allocation. */
#ifndef TTT_UTIL_MEM_H
#define TTT_UTIL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* *out = a * b; false on overflow. */
static inline bool ttt_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool ttt_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool ttt_mul_size(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

/* 64-byte aligned, zero-filled; NULL on failure or overflow of n * size. */
void *ttt_calloc_aligned(size_t n, size_t size);
/* 64-byte aligned, uninitialised. */
void *ttt_malloc_aligned(size_t bytes);
void ttt_free_aligned(void *p);

char *ttt_strdup(const char *s);
/* Joins a directory and a file name with '/'; NULL on allocation failure. */
char *ttt_path_join(const char *dir, const char *name);

#endif
