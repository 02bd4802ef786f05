/* dtype.c - element types as named and sized by the safetensors format. */
#include <string.h>

#include "ttt.h"

static const struct {
    const char *name;
    size_t size;
} k_dtypes[TTT_DT_COUNT] = {
    [TTT_DT_F64] = {"F64", 8},         [TTT_DT_F32] = {"F32", 4},
    [TTT_DT_F16] = {"F16", 2},         [TTT_DT_BF16] = {"BF16", 2},
    [TTT_DT_F8_E4M3] = {"F8_E4M3", 1}, [TTT_DT_F8_E5M2] = {"F8_E5M2", 1},
    [TTT_DT_I64] = {"I64", 8},         [TTT_DT_I32] = {"I32", 4},
    [TTT_DT_I16] = {"I16", 2},         [TTT_DT_I8] = {"I8", 1},
    [TTT_DT_U64] = {"U64", 8},         [TTT_DT_U32] = {"U32", 4},
    [TTT_DT_U16] = {"U16", 2},         [TTT_DT_U8] = {"U8", 1},
    [TTT_DT_BOOL] = {"BOOL", 1},
};

/* The enum comes from callers as well as from files: an out-of-range value must not index
 * past the table. */
static int dtype_ok(ttt_dtype t) { return (unsigned)t < (unsigned)TTT_DT_COUNT; }

size_t ttt_dtype_size(ttt_dtype t) { return dtype_ok(t) ? k_dtypes[t].size : 0; }

const char *ttt_dtype_name(ttt_dtype t) { return dtype_ok(t) ? k_dtypes[t].name : "?"; }

int ttt_dtype_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < TTT_DT_COUNT; i++)
        if (strcmp(name, k_dtypes[i].name) == 0) return i;
    return -1;
}
