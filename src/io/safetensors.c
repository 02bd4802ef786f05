/* safetensors.c - the validating reader: one file (a read-only mapping or the caller's
 * buffer) and checkpoints made of shards listed by a Hugging Face index.
 *
 * Every byte comes from an untrusted file, so each step checks before it trusts: sizes,
 * then the header text (UTF-8, no control bytes), then the JSON shape and types, then the
 * arithmetic (with overflow checks), then the layout of the data buffer. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json.h"
#include "util/err.h"
#include "util/mem.h"
#include "util/utf8.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "safetensors data is little-endian and ttt reads it in place");

/* cJSON keeps numbers as doubles: above 2^53 they no longer name one integer. */
#define ST_MAX_JSON_INT 9007199254740992.0

#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"

/* ---- small helpers ---- */

static uint64_t st_u64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static const char *st_json_type(const cJSON *v) {
    if (cJSON_IsObject(v)) return "object";
    if (cJSON_IsArray(v)) return "array";
    if (cJSON_IsString(v)) return "string";
    if (cJSON_IsNumber(v)) return "number";
    if (cJSON_IsBool(v)) return "boolean";
    if (cJSON_IsNull(v)) return "null";
    return "invalid value";
}

static bool st_is_json_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* "[2, 3, 4]" into buf, for messages. */
static const char *st_shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

static int st_cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const ttt_st_tensor *)a)->name, ((const ttt_st_tensor *)b)->name);
}

static int st_cmp_meta_key(const void *a, const void *b) {
    return strcmp(((const ttt_st_meta *)a)->key, ((const ttt_st_meta *)b)->key);
}

/* Data-buffer order; ties (zero-size tensors) broken by end, then name, for stable
 * messages. */
static int st_cmp_tensor_offset(const void *a, const void *b) {
    const ttt_st_tensor *x = *(const ttt_st_tensor *const *)a;
    const ttt_st_tensor *y = *(const ttt_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* ---- JSON text ---- */

/* Checks and parses n bytes of JSON that must hold one object (plus whitespace padding).
 * file_off is where the bytes start in the file, so messages give file offsets; what names
 * the part ("header", "index"). */
static ttt_status st_json_object(const uint8_t *bytes, size_t n, size_t file_off,
                                 const char *label, const char *what, cJSON **out) {
    *out = NULL;
    size_t bad;
    if (!ttt_utf8_valid(bytes, n, &bad))
        return ttt_err(TTT_ERR_FORMAT, "%s: %s is not valid UTF-8 (byte 0x%02x at file offset %zu)",
                       label, what, bytes[bad], file_off + bad);
    /* JSON allows no raw control bytes; cJSON would accept them, and a NUL would silently cut
     * a tensor name short. */
    for (size_t i = 0; i < n; i++)
        if (bytes[i] < 0x20 && !st_is_json_space(bytes[i]))
            return ttt_err(TTT_ERR_FORMAT,
                           "%s: %s has control byte 0x%02x at file offset %zu, not valid JSON",
                           label, what, bytes[i], file_off + i);
    /* nor an escaped NUL, which cJSON would decode into a shorter name */
    if (ttt_json_find_escaped_nul((const char *)bytes, n, &bad))
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: %s has an escaped NUL (\\u0000) at file offset %zu", label, what,
                       file_off + bad);
    /* A private NUL-terminated copy: the mapping ends where the file does, and cJSON must
     * never be able to step past it. */
    char *text = malloc(n + 1);
    if (!text) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for a %zu-byte %s", label, n, what);
    memcpy(text, bytes, n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        size_t at = (end && end >= text && end <= text + n) ? (size_t)(end - text) : 0;
        free(text);
        return ttt_err(TTT_ERR_FORMAT, "%s: %s is not valid JSON (error near file offset %zu)",
                       label, what, file_off + at);
    }
    size_t stop = (end && end >= text && end <= text + n) ? (size_t)(end - text) : n;
    for (size_t i = stop; i < n; i++) {
        if (!st_is_json_space((unsigned char)text[i])) {
            free(text);
            cJSON_Delete(root);
            return ttt_err(TTT_ERR_FORMAT,
                           "%s: %s has bytes after its JSON value, at file offset %zu",
                           label, what, file_off + i);
        }
    }
    free(text);
    if (!cJSON_IsObject(root)) {
        ttt_status st = ttt_err(TTT_ERR_FORMAT, "%s: %s's top level is a JSON %s, not an object",
                                label, what, st_json_type(root));
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return TTT_OK;
}

/* A non-negative integral JSON number that a double holds exactly. */
static ttt_status st_json_uint(const cJSON *v, const char *label, const char *tensor,
                               const char *field, int i, uint64_t *out) {
    if (!cJSON_IsNumber(v))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": %s[%d] is a %s, not an integer", label,
                       tensor, field, i, st_json_type(v));
    double d = v->valuedouble;
    if (d < 0)
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": %s[%d] is negative (%g)", label,
                       tensor, field, i, d);
    if (!(d <= ST_MAX_JSON_INT))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": %s[%d] = %g is above 2^53", label,
                       tensor, field, i, d);
    uint64_t u = (uint64_t)d;
    if ((double)u != d)
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": %s[%d] = %g is not an integer", label,
                       tensor, field, i, d);
    *out = u;
    return TTT_OK;
}

/* ---- one tensor entry ---- */

typedef struct st_fields {
    const cJSON *dtype, *shape, *offsets;
} st_fields;

static ttt_status st_entry_fields(const cJSON *e, const char *label, st_fields *fl) {
    const char *name = e->string;
    memset(fl, 0, sizeof *fl);
    if (!cJSON_IsObject(e))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": entry is a JSON %s, not an object",
                       label, name, st_json_type(e));
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = NULL;
        if (strcmp(c->string, "dtype") == 0) slot = &fl->dtype;
        else if (strcmp(c->string, "shape") == 0) slot = &fl->shape;
        else if (strcmp(c->string, "data_offsets") == 0) slot = &fl->offsets;
        /* other fields are ignored, as the reference implementation (serde) does */
        if (!slot) continue;
        if (*slot)
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": duplicate field \"%s\"", label, name,
                           c->string);
        *slot = c;
    }
    const char *missing = !fl->dtype     ? "dtype"
                          : !fl->shape   ? "shape"
                          : !fl->offsets ? "data_offsets"
                                         : NULL;
    if (missing)
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": missing field \"%s\"", label, name,
                       missing);
    return TTT_OK;
}

static ttt_status st_entry_dtype(const cJSON *v, const char *label, ttt_st_tensor *t) {
    if (!cJSON_IsString(v))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": dtype is a JSON %s, not a string", label,
                       t->name, st_json_type(v));
    int dt = ttt_dtype_from_name(v->valuestring);
    if (dt < 0)
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": unknown dtype \"%s\"", label, t->name,
                       v->valuestring);
    t->dtype = (ttt_dtype)dt;
    return TTT_OK;
}

static ttt_status st_entry_shape(const cJSON *v, const char *label, ttt_st_tensor *t) {
    if (!cJSON_IsArray(v))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": shape is a JSON %s, not an array", label,
                       t->name, st_json_type(v));
    int nd = 0;
    for (const cJSON *c = v->child; c; c = c->next, nd++) {
        if (nd == TTT_MAX_DIMS)
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": shape has more than %d dims", label,
                           t->name, TTT_MAX_DIMS);
        uint64_t d = 0;
        ttt_status st = st_json_uint(c, label, t->name, "shape", nd, &d);
        if (st) return st;
        t->shape[nd] = (int64_t)d;
    }
    t->ndim = nd;
    uint64_t count = 1;
    for (int i = 0; i < nd; i++) {
        if (!ttt_mul_u64(count, (uint64_t)t->shape[i], &count)) {
            char sb[256];
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": element count of shape %s overflows",
                           label, t->name, st_shape_str(t->shape, nd, sb, sizeof sb));
        }
    }
    t->n_elements = count;
    return TTT_OK;
}

static ttt_status st_entry_offsets(const cJSON *v, const char *label, ttt_st_tensor *t) {
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n != 2)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor \"%s\": data_offsets must be an array of two integers", label,
                       t->name);
    ttt_status st = st_json_uint(v->child, label, t->name, "data_offsets", 0, &t->begin);
    if (!st) st = st_json_uint(v->child->next, label, t->name, "data_offsets", 1, &t->end);
    if (st) return st;
    if (t->begin > t->end)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] begin > end",
                       label, t->name, t->begin, t->end);
    return TTT_OK;
}

static ttt_status st_entry_size(const char *label, const ttt_st_tensor *t) {
    char sb[256];
    uint64_t bytes;
    if (!ttt_mul_u64(t->n_elements, ttt_dtype_size(t->dtype), &bytes))
        return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\": byte size of %s %s overflows", label,
                       t->name, ttt_dtype_name(t->dtype),
                       st_shape_str(t->shape, t->ndim, sb, sizeof sb));
    if (bytes != t->end - t->begin)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor \"%s\": dtype/shape mismatch: %s %s needs %" PRIu64
                       " bytes but data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64,
                       label, t->name, ttt_dtype_name(t->dtype),
                       st_shape_str(t->shape, t->ndim, sb, sizeof sb), bytes, t->begin, t->end,
                       t->end - t->begin);
    return TTT_OK;
}

static ttt_status st_parse_entry(const cJSON *e, const char *label, uint64_t data_len,
                                 ttt_st_tensor *t) {
    st_fields fl;
    ttt_status st = st_entry_fields(e, label, &fl);
    if (!st) st = st_entry_dtype(fl.dtype, label, t);
    if (!st) st = st_entry_shape(fl.shape, label, t);
    if (!st) st = st_entry_offsets(fl.offsets, label, t);
    if (!st) st = st_entry_size(label, t);
    if (st) return st;
    if (t->end > data_len)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: tensor \"%s\": data_offsets [%" PRIu64 ", %" PRIu64
                       "] run past the end of the data buffer (%" PRIu64 " bytes)",
                       label, t->name, t->begin, t->end, data_len);
    return TTT_OK;
}

/* ---- the header object ---- */

static ttt_status st_parse_meta(const cJSON *m, const char *label, ttt_st_file *f) {
    if (!cJSON_IsObject(m))
        return ttt_err(TTT_ERR_FORMAT, "%s: __metadata__ is a JSON %s, not an object of strings",
                       label, st_json_type(m));
    size_t n = 0;
    for (const cJSON *c = m->child; c; c = c->next) n++;
    if (n > INT_MAX) return ttt_err(TTT_ERR_FORMAT, "%s: __metadata__ has too many fields", label);
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for __metadata__", label);
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return ttt_err(TTT_ERR_FORMAT,
                           "%s: __metadata__ field \"%s\" is a JSON %s, not a string", label,
                           c->string, st_json_type(c));
        ttt_st_meta *kv = &f->meta[f->n_meta];
        kv->key = ttt_strdup(c->string);
        kv->value = kv->key ? ttt_strdup(c->valuestring) : NULL;
        if (kv->key) f->n_meta++;
        if (!kv->value) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for __metadata__", label);
    }
    qsort(f->meta, (size_t)f->n_meta, sizeof *f->meta, st_cmp_meta_key);
    for (int i = 1; i < f->n_meta; i++)
        if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0)
            return ttt_err(TTT_ERR_FORMAT, "%s: __metadata__ has duplicate key \"%s\"", label,
                           f->meta[i].key);
    return TTT_OK;
}

static ttt_status st_parse_root(const cJSON *root, const char *label, uint64_t data_len,
                                ttt_st_file *f) {
    const cJSON *meta = NULL;
    size_t n = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") != 0) {
            n++;
        } else if (meta) {
            return ttt_err(TTT_ERR_FORMAT, "%s: duplicate key \"__metadata__\"", label);
        } else {
            meta = c;
        }
    }
    if (n > INT_MAX) return ttt_err(TTT_ERR_FORMAT, "%s: too many tensors (%zu)", label, n);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for %zu tensors", label, n);
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta) continue;
        ttt_st_tensor *t = &f->tensors[f->n_tensors];
        t->name = ttt_strdup(c->string);
        if (!t->name) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
        f->n_tensors++; /* from here on close() frees the name */
        ttt_status st = st_parse_entry(c, label, data_len, t);
        if (st) return st;
    }
    if (meta) return st_parse_meta(meta, label, f);
    return TTT_OK;
}

/* ---- the data buffer ---- */

/* Sorted by begin, the tensors must cover [0, data_len) with neither holes nor overlaps. */
static ttt_status st_check_tiling(const ttt_st_file *f, uint64_t data_len) {
    if (f->n_tensors == 0) {
        if (data_len == 0) return TTT_OK;
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: %" PRIu64 " bytes left over in the data buffer, which no tensor uses",
                       f->label, data_len);
    }
    const ttt_st_tensor **order = malloc((size_t)f->n_tensors * sizeof *order);
    if (!order) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", f->label);
    for (int i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->n_tensors, sizeof *order, st_cmp_tensor_offset);
    ttt_status st = TTT_OK;
    uint64_t at = 0;
    const ttt_st_tensor *prev = NULL;
    for (int i = 0; i < f->n_tensors && !st; i++) {
        const ttt_st_tensor *t = order[i];
        if (t->begin > at)
            st = ttt_err(TTT_ERR_FORMAT,
                         "%s: gap in the data buffer: bytes [%" PRIu64 ", %" PRIu64
                         ") belong to no tensor (tensor \"%s\" begins at offset %" PRIu64 ")",
                         f->label, at, t->begin, t->name, t->begin);
        else if (t->begin < at)
            st = ttt_err(TTT_ERR_FORMAT,
                         "%s: tensors \"%s\" [%" PRIu64 ", %" PRIu64 ") and \"%s\" [%" PRIu64
                         ", %" PRIu64 ") overlap",
                         f->label, prev->name, prev->begin, prev->end, t->name, t->begin, t->end);
        at = t->end;
        prev = t;
    }
    if (!st && at != data_len)
        st = ttt_err(TTT_ERR_FORMAT,
                     "%s: %" PRIu64 " bytes left over in the data buffer after the last tensor "
                     "(\"%s\" ends at %" PRIu64 " of %" PRIu64 ")",
                     f->label, data_len - at, prev->name, at, data_len);
    free(order);
    return st;
}

/* Points each tensor at its bytes; those not aligned to their element size (a header length
 * that is not a multiple of 8 does that) get an aligned copy, so kernels may load them as
 * typed arrays. */
static ttt_status st_bind_data(ttt_st_file *f, const uint8_t *data) {
    int n_copy = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const ttt_st_tensor *t = &f->tensors[i];
        if ((uintptr_t)(data + t->begin) % ttt_dtype_size(t->dtype) != 0) n_copy++;
    }
    if (n_copy > 0) {
        f->copies = calloc((size_t)n_copy, sizeof *f->copies);
        if (!f->copies) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", f->label);
    }
    for (int i = 0; i < f->n_tensors; i++) {
        ttt_st_tensor *t = &f->tensors[i];
        const uint8_t *src = data + t->begin;
        if ((uintptr_t)src % ttt_dtype_size(t->dtype) == 0) {
            t->data = src;
            continue;
        }
        uint64_t bytes = t->end - t->begin;
        void *copy = bytes <= SIZE_MAX ? ttt_malloc_aligned((size_t)bytes) : NULL;
        if (!copy)
            return ttt_err(TTT_ERR_NOMEM,
                           "%s: tensor \"%s\": out of memory for an aligned copy of %" PRIu64
                           " bytes",
                           f->label, t->name, bytes);
        memcpy(copy, src, (size_t)bytes);
        f->copies[f->n_copies++] = copy;
        t->data = copy;
    }
    return TTT_OK;
}

/* ---- files ---- */

static ttt_status st_check_sizes(const uint8_t *buf, size_t len, const char *label,
                                 uint64_t *header_len) {
    if (len == 0)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: empty file (0 bytes), not a safetensors file", label);
    if (len < 8)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: truncated: %zu bytes, shorter than the 8-byte header length", label,
                       len);
    uint64_t n = st_u64le(buf);
    if (n > TTT_ST_MAX_HEADER)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: header length %" PRIu64 " exceeds the format's limit of %llu bytes",
                       label, n, TTT_ST_MAX_HEADER);
    if (n > len - 8)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                       label, n, len);
    *header_len = n;
    return TTT_OK;
}

static ttt_status st_parse_checked(const uint8_t *buf, size_t len, ttt_st_file *f) {
    ttt_status st = st_check_sizes(buf, len, f->label, &f->header_len);
    if (st) return st;
    size_t hlen = (size_t)f->header_len;
    uint64_t data_len = len - 8 - hlen;
    /* cJSON skips a byte order mark; the reference reader (serde_json) refuses one */
    if (hlen >= 3 && memcmp(buf + 8, "\xef\xbb\xbf", 3) == 0)
        return ttt_err(TTT_ERR_FORMAT, "%s: header starts with a UTF-8 byte order mark, not JSON",
                       f->label);
    cJSON *root = NULL;
    st = st_json_object(buf + 8, hlen, 8, f->label, "header", &root);
    if (st) return st;
    st = st_parse_root(root, f->label, data_len, f);
    cJSON_Delete(root);
    if (st) return st;
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, st_cmp_tensor_name);
    for (int i = 1; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0)
            return ttt_err(TTT_ERR_FORMAT, "%s: duplicate tensor name \"%s\"", f->label,
                           f->tensors[i].name);
    st = st_check_tiling(f, data_len);
    if (st) return st;
    return st_bind_data(f, buf + 8 + hlen);
}

ttt_status ttt_st_parse(const uint8_t *buf, size_t len, const char *label, ttt_st_file *f) {
    if (!f) return ttt_err(TTT_ERR_ARG, "ttt_st_parse: NULL file");
    memset(f, 0, sizeof *f);
    if (!label) label = "<memory>";
    if (!buf && len > 0) return ttt_err(TTT_ERR_ARG, "%s: NULL buffer", label);
    f->label = ttt_strdup(label);
    if (!f->label) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
    f->base = buf;
    f->size = len;
    ttt_status st = st_parse_checked(buf, len, f);
    if (st) ttt_st_close(f);
    return st;
}

ttt_status ttt_st_open(const char *path, ttt_st_file *f) {
    if (!f) return ttt_err(TTT_ERR_ARG, "ttt_st_open: NULL file");
    memset(f, 0, sizeof *f);
    if (!path) return ttt_err(TTT_ERR_ARG, "ttt_st_open: NULL path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        ttt_status st = ttt_err(TTT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ttt_err(TTT_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ttt_err(TTT_ERR_NOMEM, "%s: too large to map", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) { /* nothing to map (mmap refuses 0 bytes); the parser words the error */
        close(fd);
        static const uint8_t none[8];
        return ttt_st_parse(none, size, path, f);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED)
        return ttt_err(TTT_ERR_IO, "%s: cannot mmap %zu bytes: %s", path, size,
                       strerror(map_errno));
    ttt_status st = ttt_st_parse(map, size, path, f);
    if (st) {
        munmap(map, size);
        return st;
    }
    f->map = map;
    return TTT_OK;
}

void ttt_st_close(ttt_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    for (int i = 0; i < f->n_copies; i++) ttt_free_aligned(f->copies[i]);
    free(f->copies);
    free(f->label);
    if (f->map) munmap(f->map, f->size);
    memset(f, 0, sizeof *f);
}

static int st_cmp_key_tensor(const void *key, const void *elem) {
    return strcmp((const char *)key, ((const ttt_st_tensor *)elem)->name);
}

const ttt_st_tensor *ttt_st_find(const ttt_st_file *f, const char *name) {
    if (!f || !name || f->n_tensors <= 0) return NULL;
    return bsearch(name, f->tensors, (size_t)f->n_tensors, sizeof *f->tensors,
                   st_cmp_key_tensor);
}

/* ---- sets: one file or an index of shards ---- */

static int st_cmp_tensor_ptr_name(const void *a, const void *b) {
    return strcmp((*(const ttt_st_tensor *const *)a)->name,
                  (*(const ttt_st_tensor *const *)b)->name);
}

static const ttt_st_file *st_set_owner(const ttt_st_set *s, const ttt_st_tensor *t) {
    for (int i = 0; i < s->n_files; i++) {
        const ttt_st_file *f = &s->files[i];
        if (f->n_tensors > 0 && t >= f->tensors && t < f->tensors + f->n_tensors) return f;
    }
    return NULL;
}

/* The sorted index over every tensor of every file; a name in two files is an error. */
static ttt_status st_set_build_index(ttt_st_set *s, const char *label) {
    size_t total = 0;
    for (int i = 0; i < s->n_files; i++) total += (size_t)s->files[i].n_tensors;
    if (total > INT_MAX) return ttt_err(TTT_ERR_FORMAT, "%s: too many tensors", label);
    s->index = malloc((total ? total : 1) * sizeof *s->index);
    if (!s->index) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
    size_t k = 0;
    for (int i = 0; i < s->n_files; i++)
        for (int j = 0; j < s->files[i].n_tensors; j++) s->index[k++] = &s->files[i].tensors[j];
    s->n_tensors = (int)total;
    qsort(s->index, total, sizeof *s->index, st_cmp_tensor_ptr_name);
    for (size_t i = 1; i < total; i++) {
        if (strcmp(s->index[i - 1]->name, s->index[i]->name) == 0) {
            const ttt_st_file *a = st_set_owner(s, s->index[i - 1]);
            const ttt_st_file *b = st_set_owner(s, s->index[i]);
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\" is in two shards: %s and %s", label,
                           s->index[i]->name, a ? a->label : "?", b ? b->label : "?");
        }
    }
    return TTT_OK;
}

static ttt_status st_read_small_file(const char *path, size_t max, uint8_t **out, size_t *len) {
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    ttt_status st = TTT_OK;
    if (fstat(fd, &sb) != 0)
        st = ttt_err(TTT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = ttt_err(TTT_ERR_IO, "%s: not a regular file", path);
    else if ((uint64_t)sb.st_size > max)
        st = ttt_err(TTT_ERR_FORMAT, "%s: %lld bytes, more than the %zu allowed", path,
                     (long long)sb.st_size, max);
    size_t size = st ? 0 : (size_t)sb.st_size;
    uint8_t *buf = st ? NULL : malloc(size + 1);
    if (!st && !buf) st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    size_t got = 0;
    while (!st && got < size) {
        ssize_t k = read(fd, buf + got, size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) st = ttt_err(TTT_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        else if (k == 0) st = ttt_err(TTT_ERR_IO, "%s: file shrank while being read", path);
        else got += (size_t)k;
    }
    close(fd);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *len = size;
    return TTT_OK;
}

/* A name that stays inside the index's directory. */
static bool st_plain_name(const char *s) {
    return s[0] != '\0' && !strchr(s, '/') && !strchr(s, '\\') && strcmp(s, ".") != 0 &&
           strcmp(s, "..") != 0;
}

typedef struct st_wm_entry {
    const char *tensor, *shard; /* point into the parsed index */
} st_wm_entry;

static int st_cmp_wm_tensor(const void *a, const void *b) {
    return strcmp(((const st_wm_entry *)a)->tensor, ((const st_wm_entry *)b)->tensor);
}

static int st_cmp_wm_shard(const void *a, const void *b) {
    const st_wm_entry *x = a, *y = b;
    int c = strcmp(x->shard, y->shard);
    return c ? c : strcmp(x->tensor, y->tensor);
}

/* The weight_map's (tensor, shard) pairs, checked, sorted by shard. */
static ttt_status st_index_entries(const cJSON *root, const char *label, st_wm_entry **out,
                                   size_t *n_out) {
    const cJSON *wm = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "weight_map") != 0) continue;
        if (wm) return ttt_err(TTT_ERR_FORMAT, "%s: duplicate key \"weight_map\"", label);
        wm = c;
    }
    if (!wm) return ttt_err(TTT_ERR_FORMAT, "%s: missing field \"weight_map\"", label);
    if (!cJSON_IsObject(wm))
        return ttt_err(TTT_ERR_FORMAT, "%s: weight_map is a JSON %s, not an object", label,
                       st_json_type(wm));
    size_t n = 0;
    for (const cJSON *c = wm->child; c; c = c->next) n++;
    st_wm_entry *e = malloc((n ? n : 1) * sizeof *e);
    if (!e) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
    size_t k = 0;
    ttt_status st = TTT_OK;
    for (const cJSON *c = wm->child; c && !st; c = c->next) {
        if (!cJSON_IsString(c))
            st = ttt_err(TTT_ERR_FORMAT, "%s: weight_map[\"%s\"] is a JSON %s, not a file name",
                         label, c->string, st_json_type(c));
        else if (!st_plain_name(c->valuestring))
            st = ttt_err(TTT_ERR_FORMAT,
                         "%s: weight_map[\"%s\"] = \"%s\" is not a plain file name in the "
                         "index's directory",
                         label, c->string, c->valuestring);
        else
            e[k++] = (st_wm_entry){c->string, c->valuestring};
    }
    if (!st) {
        qsort(e, k, sizeof *e, st_cmp_wm_tensor);
        for (size_t i = 1; i < k && !st; i++)
            if (strcmp(e[i - 1].tensor, e[i].tensor) == 0)
                st = ttt_err(TTT_ERR_FORMAT, "%s: weight_map lists tensor \"%s\" twice", label,
                             e[i].tensor);
    }
    if (st) {
        free(e);
        return st;
    }
    qsort(e, k, sizeof *e, st_cmp_wm_shard);
    *out = e;
    *n_out = k;
    return TTT_OK;
}

/* Opens each distinct shard once (e is sorted by shard) and checks that it holds the tensors
 * the weight_map puts there. */
static ttt_status st_open_shards(const char *dir, const char *label, const st_wm_entry *e,
                                 size_t n, ttt_st_set *s) {
    size_t n_shards = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(e[i - 1].shard, e[i].shard) != 0) n_shards++;
    if (n_shards > INT_MAX) return ttt_err(TTT_ERR_FORMAT, "%s: too many shards", label);
    s->files = calloc(n_shards ? n_shards : 1, sizeof *s->files);
    if (!s->files) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(e[i - 1].shard, e[i].shard) != 0) {
            char *path = ttt_path_join(dir, e[i].shard);
            if (!path) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
            ttt_status st = ttt_st_open(path, &s->files[s->n_files]);
            free(path);
            if (st) {
                ttt_err_prefix("%s: shard \"%s\"", label, e[i].shard);
                return st;
            }
            s->n_files++;
        }
        const ttt_st_file *f = &s->files[s->n_files - 1];
        if (!ttt_st_find(f, e[i].tensor))
            return ttt_err(TTT_ERR_FORMAT,
                           "%s: tensor \"%s\" of the weight_map is absent from its shard %s",
                           label, e[i].tensor, f->label);
    }
    return TTT_OK;
}

static ttt_status st_set_open_index(const char *dir, const char *index_path, ttt_st_set *s) {
    uint8_t *text;
    size_t len;
    ttt_status st = st_read_small_file(index_path, (size_t)TTT_ST_MAX_HEADER, &text, &len);
    if (st) return st;
    cJSON *root = NULL;
    st = st_json_object(text, len, 0, index_path, "index", &root);
    free(text);
    if (st) return st;
    st_wm_entry *e = NULL;
    size_t n = 0;
    st = st_index_entries(root, index_path, &e, &n);
    if (!st) st = st_open_shards(dir, index_path, e, n, s);
    free(e);
    cJSON_Delete(root);
    if (!st) st = st_set_build_index(s, index_path);
    return st;
}

static ttt_status st_set_open_single(const char *path, ttt_st_set *s) {
    s->files = calloc(1, sizeof *s->files);
    if (!s->files) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    ttt_status st = ttt_st_open(path, &s->files[0]);
    if (st) return st;
    s->n_files = 1;
    return st_set_build_index(s, path);
}

static bool st_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static ttt_status st_set_open_dir(const char *dir, ttt_st_set *s) {
    char *index_path = ttt_path_join(dir, ST_INDEX_NAME);
    char *single = ttt_path_join(dir, ST_SINGLE_NAME);
    ttt_status st;
    if (!index_path || !single)
        st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
    else if (st_exists(index_path))
        st = st_set_open_index(dir, index_path, s);
    else if (st_exists(single))
        st = st_set_open_single(single, s);
    else
        st = ttt_err(TTT_ERR_IO, "%s: neither " ST_INDEX_NAME " nor " ST_SINGLE_NAME " exists",
                     dir);
    free(index_path);
    free(single);
    return st;
}

ttt_status ttt_st_set_open(const char *path, ttt_st_set *s) {
    if (!s) return ttt_err(TTT_ERR_ARG, "ttt_st_set_open: NULL set");
    memset(s, 0, sizeof *s);
    if (!path) return ttt_err(TTT_ERR_ARG, "ttt_st_set_open: NULL path");
    struct stat sb;
    if (stat(path, &sb) != 0) return ttt_err(TTT_ERR_IO, "%s: %s", path, strerror(errno));
    ttt_status st;
    if (S_ISDIR(sb.st_mode))
        st = st_set_open_dir(path, s);
    else if (S_ISREG(sb.st_mode))
        st = st_set_open_single(path, s);
    else
        st = ttt_err(TTT_ERR_IO, "%s: neither a file nor a directory", path);
    if (st) ttt_st_set_close(s);
    return st;
}

void ttt_st_set_close(ttt_st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) ttt_st_close(&s->files[i]);
    free(s->files);
    free(s->index);
    memset(s, 0, sizeof *s);
}

static int st_cmp_key_tensor_ptr(const void *key, const void *elem) {
    return strcmp((const char *)key, (*(const ttt_st_tensor *const *)elem)->name);
}

const ttt_st_tensor *ttt_st_set_find(const ttt_st_set *s, const char *name) {
    if (!s || !name || s->n_tensors <= 0) return NULL;
    const ttt_st_tensor *const *p = bsearch(name, s->index, (size_t)s->n_tensors,
                                            sizeof *s->index, st_cmp_key_tensor_ptr);
    return p ? *p : NULL;
}
