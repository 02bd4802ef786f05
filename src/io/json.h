/* json.h - typed access to cJSON objects from untrusted files: each getter checks the type
 * and range and, on failure, sets a message naming the file (label) and the field. */
#ifndef TTT_IO_JSON_H
#define TTT_IO_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "ttt.h"

/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer. */
ttt_status ttt_read_file(const char *path, size_t max_bytes, char **out, size_t *len);
/* True when the JSON text has a \u0000 escape (cJSON would end the string there); *at is
 * its byte offset. */
bool ttt_json_find_escaped_nul(const char *text, size_t len, size_t *at);
/* Parses len bytes of JSON (no NUL needed); the result must be an object, with nothing but
 * white space after it, no duplicate keys and no escaped NULs. */
ttt_status ttt_json_parse_object(const char *text, size_t len, const char *label, cJSON **out);

/* Absent or null fields give *out = def and TTT_OK (unless required). */
ttt_status ttt_json_int(const cJSON *obj, const char *key, const char *label, bool required,
                        long long def, long long min, long long max, long long *out);
ttt_status ttt_json_num(const cJSON *obj, const char *key, const char *label, bool required,
                        double def, double *out);
ttt_status ttt_json_bool(const cJSON *obj, const char *key, const char *label, bool def,
                         bool *out);
/* *out points into obj (no copy); def may be NULL. */
ttt_status ttt_json_str(const cJSON *obj, const char *key, const char *label, bool required,
                        const char *def, const char **out);
/* Replaces (or adds) key in o; o takes v. */
void ttt_json_set(cJSON *o, const char *key, cJSON *v);
/* true when key is present and not null */
bool ttt_json_has(const cJSON *obj, const char *key);

#endif
