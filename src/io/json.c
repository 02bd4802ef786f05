/* json.c - typed, range-checked getters over cJSON for untrusted files. */
#include "io/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

ttt_status ttt_read_file(const char *path, size_t max_bytes, char **out, size_t *len) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(f);
                return ttt_err(TTT_ERR_FORMAT, "%s: larger than %zu bytes", path, max_bytes);
            }
            cap = cap * 2 > max_bytes ? max_bytes : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ttt_err(TTT_ERR_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return TTT_OK;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate keys would be read as the first value here and the last one by Python's json
 * (what wrote the file): refuse them, in every object. */
static ttt_status check_duplicates(const cJSON *v, const char *label, int depth) {
    if (depth > 64) return ttt_err(TTT_ERR_FORMAT, "%s: JSON nested too deeply", label);
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return TTT_OK;
    int n = cJSON_GetArraySize(v);
    const cJSON *c;
    if (cJSON_IsObject(v) && n > 1) {
        const char **names = malloc(sizeof *names * (size_t)n);
        if (!names) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
        int k = 0;
        cJSON_ArrayForEach(c, v) names[k++] = c->string ? c->string : "";
        qsort(names, (size_t)k, sizeof *names, cmp_names);
        for (int i = 1; i < k; i++)
            if (!strcmp(names[i - 1], names[i])) {
                ttt_status st = ttt_err(TTT_ERR_FORMAT, "%s: duplicate field '%s'", label,
                                        names[i]);
                free(names);
                return st;
            }
        free(names);
    }
    cJSON_ArrayForEach(c, v) {
        ttt_status st = check_duplicates(c, label, depth + 1);
        if (st != TTT_OK) return st;
    }
    return TTT_OK;
}

bool ttt_json_find_escaped_nul(const char *text, size_t len, size_t *at) {
    /* a backslash escapes the next byte, so skipping it keeps "\\u0000" (a literal
     * backslash, then text) apart from the escape */
    for (size_t i = 0; i + 1 < len; i++) {
        if (text[i] != '\\') continue;
        if (text[i + 1] == 'u' && i + 5 < len && !memcmp(text + i + 2, "0000", 4)) {
            *at = i;
            return true;
        }
        i++;
    }
    return false;
}

ttt_status ttt_json_parse_object(const char *text, size_t len, const char *label, cJSON **out) {
    *out = NULL;
    size_t at;
    if (ttt_json_find_escaped_nul(text, len, &at))
        return ttt_err(TTT_ERR_FORMAT, "%s: escaped NUL (\\u0000) at byte %zu", label, at);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root) {
        size_t off = end && end >= text ? (size_t)(end - text) : 0;
        const char *err = cJSON_GetErrorPtr();
        if (err && err >= text && err <= text + len) off = (size_t)(err - text);
        return ttt_err(TTT_ERR_FORMAT, "%s: invalid JSON near byte %zu", label, off);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ttt_err(TTT_ERR_FORMAT, "%s: top level is not a JSON object", label);
    }
    /* Python's json refuses anything but white space after the value, and so do we */
    for (const char *p = end; p && p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return ttt_err(TTT_ERR_FORMAT, "%s: bytes after the JSON object, at byte %zu", label,
                           (size_t)(p - text));
        }
    ttt_status st = check_duplicates(root, label, 0);
    if (st != TTT_OK) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return TTT_OK;
}

static const char *type_name(const cJSON *v) {
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsNull(v)) return "null";
    return "invalid";
}

bool ttt_json_has(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v && !cJSON_IsNull(v);
}

static const cJSON *field(const cJSON *obj, const char *key, const char *label, bool required,
                          ttt_status *st) {
    *st = TTT_OK;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) *st = ttt_err(TTT_ERR_CONFIG, "%s: missing field '%s'", label, key);
        return NULL;
    }
    return v;
}

ttt_status ttt_json_int(const cJSON *obj, const char *key, const char *label, bool required,
                        long long def, long long min, long long max, long long *out) {
    ttt_status st;
    const cJSON *v = field(obj, key, label, required, &st);
    *out = def;
    if (!v) return st;
    if (!cJSON_IsNumber(v))
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' must be an integer, got %s", label, key,
                       type_name(v));
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' must be an integer, got %g", label, key,
                       d);
    long long x = (long long)d;
    if (x < min || x > max)
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' = %lld is out of range [%lld, %lld]",
                       label, key, x, min, max);
    *out = x;
    return TTT_OK;
}

ttt_status ttt_json_num(const cJSON *obj, const char *key, const char *label, bool required,
                        double def, double *out) {
    ttt_status st;
    const cJSON *v = field(obj, key, label, required, &st);
    *out = def;
    if (!v) return st;
    if (!cJSON_IsNumber(v))
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' must be a number, got %s", label, key,
                       type_name(v));
    if (!isfinite(v->valuedouble))
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' must be finite", label, key);
    *out = v->valuedouble;
    return TTT_OK;
}

ttt_status ttt_json_bool(const cJSON *obj, const char *key, const char *label, bool def,
                         bool *out) {
    ttt_status st;
    const cJSON *v = field(obj, key, label, false, &st);
    *out = def;
    if (!v) return st;
    if (!cJSON_IsBool(v))
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' must be true or false, got %s", label,
                       key, type_name(v));
    *out = cJSON_IsTrue(v);
    return TTT_OK;
}

ttt_status ttt_json_str(const cJSON *obj, const char *key, const char *label, bool required,
                        const char *def, const char **out) {
    ttt_status st;
    const cJSON *v = field(obj, key, label, required, &st);
    *out = def;
    if (!v) return st;
    if (!cJSON_IsString(v))
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' must be a string, got %s", label, key,
                       type_name(v));
    *out = v->valuestring;
    return TTT_OK;
}

void ttt_json_set(cJSON *o, const char *key, cJSON *v) {
    if (cJSON_GetObjectItemCaseSensitive(o, key)) cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else cJSON_AddItemToObject(o, key, v);
}
