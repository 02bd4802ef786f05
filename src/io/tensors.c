/* tensors.c - the public tensor-file API over ttt_st_set, and conversion to float32. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "util/err.h"
#include "util/fp.h"
#include "util/mem.h"

struct ttt_tensors {
    char *path; /* for messages */
    ttt_st_set set;
};

ttt_status ttt_tensors_open(const char *path, ttt_tensors **out) {
    if (!out) return ttt_err(TTT_ERR_ARG, "ttt_tensors_open: NULL out");
    *out = NULL;
    if (!path) return ttt_err(TTT_ERR_ARG, "ttt_tensors_open: NULL path");
    ttt_tensors *t = calloc(1, sizeof *t);
    if (t) t->path = ttt_strdup(path);
    if (!t || !t->path) {
        free(t);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    ttt_status st = ttt_st_set_open(path, &t->set);
    if (st) {
        free(t->path);
        free(t);
        return st;
    }
    *out = t;
    return TTT_OK;
}

void ttt_tensors_close(ttt_tensors *t) {
    if (!t) return;
    ttt_st_set_close(&t->set);
    free(t->path);
    free(t);
}

int ttt_tensors_count(const ttt_tensors *t) { return t ? t->set.n_tensors : 0; }

static void tensors_info(const ttt_st_tensor *src, ttt_tensor_info *info) {
    memset(info, 0, sizeof *info);
    info->name = src->name;
    info->dtype = src->dtype;
    info->ndim = src->ndim;
    memcpy(info->shape, src->shape, sizeof info->shape);
    info->n_elements = src->n_elements;
    info->n_bytes = src->end - src->begin;
    info->data = src->data;
}

ttt_status ttt_tensors_get(const ttt_tensors *t, int i, ttt_tensor_info *info) {
    if (!t || !info) return ttt_err(TTT_ERR_ARG, "ttt_tensors_get: NULL argument");
    if (i < 0 || i >= t->set.n_tensors)
        return ttt_err(TTT_ERR_ARG, "%s: tensor index %d is outside 0..%d", t->path, i,
                       t->set.n_tensors - 1);
    tensors_info(t->set.index[i], info);
    return TTT_OK;
}

ttt_status ttt_tensors_find(const ttt_tensors *t, const char *name, ttt_tensor_info *info) {
    if (!t || !name || !info) return ttt_err(TTT_ERR_ARG, "ttt_tensors_find: NULL argument");
    const ttt_st_tensor *src = ttt_st_set_find(&t->set, name);
    if (!src) return ttt_err(TTT_ERR_FORMAT, "%s: no tensor named \"%s\"", t->path, name);
    tensors_info(src, info);
    return TTT_OK;
}

/* float8 e4m3fn (bias 7, no infinities; S.1111.111 is NaN) */
static float f8_e4m3_to_f32(uint8_t b) {
    uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    uint32_t exp = (b >> 3) & 0xfu, man = b & 0x7u;
    float f;
    if (exp == 0xf && man == 0x7) {
        uint32_t u = sign | 0x7fc00000u;
        memcpy(&f, &u, 4);
    } else if (exp == 0) { /* subnormal: man * 2^-9 */
        f = (float)man * (1.0f / 512.0f);
        if (sign) f = -f;
    } else {
        uint32_t u = sign | ((exp - 7 + 127) << 23) | (man << 20);
        memcpy(&f, &u, 4);
    }
    return f;
}

/* float8 e5m2 is the top byte of an IEEE half */
static float f8_e5m2_to_f32(uint8_t b) { return ttt_f16_to_f32((uint16_t)(b << 8)); }

/* The data pointer is aligned to the element size (the reader guarantees it), so the bytes
 * are read as typed arrays. */
#define TENSORS_CONVERT(T, EXPR)                            \
    do {                                                    \
        const T *s = (const T *)info->data;                 \
        for (uint64_t i = 0; i < n; i++) dst[i] = (EXPR);   \
    } while (0)

ttt_status ttt_tensor_to_f32(const ttt_tensor_info *info, float *dst) {
    if (!info) return ttt_err(TTT_ERR_ARG, "ttt_tensor_to_f32: NULL info");
    const char *name = info->name ? info->name : "?";
    uint64_t n = info->n_elements;
    if (n > 0 && (!dst || !info->data))
        return ttt_err(TTT_ERR_ARG, "ttt_tensor_to_f32: tensor \"%s\": NULL data or dst", name);
    if (info->n_bytes / (ttt_dtype_size(info->dtype) ? ttt_dtype_size(info->dtype) : 1) < n)
        return ttt_err(TTT_ERR_ARG,
                       "ttt_tensor_to_f32: tensor \"%s\": %" PRIu64 " bytes cannot hold %" PRIu64
                       " elements",
                       name, info->n_bytes, n);
    switch (info->dtype) {
    case TTT_DT_F64: TENSORS_CONVERT(double, (float)s[i]); break;
    case TTT_DT_F32: memcpy(dst, info->data, (size_t)n * sizeof(float)); break;
    case TTT_DT_F16: TENSORS_CONVERT(uint16_t, ttt_f16_to_f32(s[i])); break;
    case TTT_DT_BF16: TENSORS_CONVERT(uint16_t, ttt_bf16_to_f32(s[i])); break;
    case TTT_DT_F8_E4M3: TENSORS_CONVERT(uint8_t, f8_e4m3_to_f32(s[i])); break;
    case TTT_DT_F8_E5M2: TENSORS_CONVERT(uint8_t, f8_e5m2_to_f32(s[i])); break;
    case TTT_DT_I64: TENSORS_CONVERT(int64_t, (float)s[i]); break;
    case TTT_DT_I32: TENSORS_CONVERT(int32_t, (float)s[i]); break;
    case TTT_DT_I16: TENSORS_CONVERT(int16_t, (float)s[i]); break;
    case TTT_DT_I8: TENSORS_CONVERT(int8_t, (float)s[i]); break;
    case TTT_DT_U64: TENSORS_CONVERT(uint64_t, (float)s[i]); break;
    case TTT_DT_U32: TENSORS_CONVERT(uint32_t, (float)s[i]); break;
    case TTT_DT_U16: TENSORS_CONVERT(uint16_t, (float)s[i]); break;
    case TTT_DT_U8: TENSORS_CONVERT(uint8_t, (float)s[i]); break;
    case TTT_DT_BOOL: TENSORS_CONVERT(uint8_t, s[i] ? 1.0f : 0.0f); break;
    default:
        return ttt_err(TTT_ERR_UNSUPPORTED, "ttt_tensor_to_f32: tensor \"%s\": bad dtype %d", name,
                       (int)info->dtype);
    }
    return TTT_OK;
}
