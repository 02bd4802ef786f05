/* tokenizer.c - ttt_tokenizer_load: tokenizer.json, then tokenizer_config.json (bos / eos,
 * add_bos_token, chat_template) and generation_config.json (eos id list, sampling defaults)
 * when they sit beside it. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/json.h"
#include "tok/tok.h"
#include "util/err.h"
#include "util/mem.h"

#define NOMEM ttt_err(TTT_ERR_NOMEM, "tokenizer: out of memory")
#define CONFIG_MAX_BYTES ((size_t)64 << 20)

/* Reads dir/name when it exists: *obj NULL when absent. */
static ttt_status read_json(const char *dir, const char *name, cJSON **obj, char **path_out) {
    *obj = NULL;
    char *path = ttt_path_join(dir, name);
    if (!path) return NOMEM;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        free(path);
        return TTT_OK;
    }
    char *text;
    size_t len;
    ttt_status st = ttt_read_file(path, CONFIG_MAX_BYTES, &text, &len);
    if (st == TTT_OK) {
        st = ttt_json_parse_object(text, len, path, obj);
        free(text);
    }
    if (path_out && st == TTT_OK) *path_out = path;
    else free(path);
    return st;
}

/* bos_token / eos_token: a string, an AddedToken object {"content": ...}, or null. */
static ttt_status token_field(const ttt_tokenizer *t, const cJSON *cfg, const char *key,
                              const char *label, int32_t *id) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!v || cJSON_IsNull(v)) return TTT_OK;
    if (!cJSON_IsString(v))
        return ttt_err(TTT_ERR_CONFIG, "%s: field '%s' must be a token string", label, key);
    int32_t found = ttt_tokenizer_find(t, v->valuestring);
    if (found < 0)
        return ttt_err(TTT_ERR_CONFIG, "%s: %s '%s' is not a token of tokenizer.json", label,
                       key, v->valuestring);
    *id = found;
    return TTT_OK;
}

static ttt_status add_eos(ttt_tokenizer *t, double d, const char *label) {
    if (d < 0 || d >= t->n_ids || d != (double)(int32_t)d)
        return ttt_err(TTT_ERR_CONFIG, "%s: eos_token_id %g is not in the vocabulary", label, d);
    if (ttt_tokenizer_is_eog(t, (int32_t)d)) return TTT_OK;
    int32_t *p = realloc(t->eos_ids, (size_t)(t->n_eos + 1) * sizeof *p);
    if (!p) return NOMEM;
    t->eos_ids = p;
    t->eos_ids[t->n_eos++] = (int32_t)d;
    return TTT_OK;
}

static ttt_status tokenizer_config(ttt_tokenizer *t, const cJSON *cfg, const char *path) {
    const char *tmpl = NULL;
    ttt_status st;
    if ((st = token_field(t, cfg, "bos_token", path, &t->bos_id)) == TTT_OK &&
        (st = token_field(t, cfg, "eos_token", path, &t->eos_id)) == TTT_OK &&
        (st = ttt_json_bool(cfg, "add_bos_token", path, false, &t->add_bos)) == TTT_OK &&
        (st = ttt_json_bool(cfg, "add_eos_token", path, false, &t->add_eos)) == TTT_OK) {
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
        if (cJSON_IsString(ct)) tmpl = ct->valuestring;
        /* a list of named templates: the "default" one */
        for (const cJSON *c = cJSON_IsArray(ct) ? ct->child : NULL; c; c = c->next) {
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
            const cJSON *body = cJSON_GetObjectItemCaseSensitive(c, "template");
            if (cJSON_IsString(name) && cJSON_IsString(body) && !strcmp(name->valuestring, "default"))
                tmpl = body->valuestring;
        }
        if (tmpl && !(t->chat_template = ttt_strdup(tmpl))) st = NOMEM;
        if (st == TTT_OK && t->eos_id >= 0) st = add_eos(t, t->eos_id, path);
    }
    return st;
}

static ttt_status generation_config(ttt_tokenizer *t, const cJSON *cfg, const char *path) {
    ttt_status st = TTT_OK;
    const cJSON *eos = cJSON_GetObjectItemCaseSensitive(cfg, "eos_token_id");
    if (cJSON_IsNumber(eos)) st = add_eos(t, eos->valuedouble, path);
    for (const cJSON *c = cJSON_IsArray(eos) ? eos->child : NULL; c && st == TTT_OK; c = c->next)
        st = cJSON_IsNumber(c) ? add_eos(t, c->valuedouble, path)
                               : ttt_err(TTT_ERR_CONFIG, "%s: eos_token_id must hold ids", path);
    if (st == TTT_OK && eos && !cJSON_IsNull(eos) && !cJSON_IsNumber(eos) && !cJSON_IsArray(eos))
        st = ttt_err(TTT_ERR_CONFIG, "%s: eos_token_id must be an id or a list of ids", path);
    long long v;
    double d;
    if (st == TTT_OK && t->bos_id < 0 &&
        (st = ttt_json_int(cfg, "bos_token_id", path, false, -1, -1, t->n_ids - 1, &v)) == TTT_OK)
        t->bos_id = (int32_t)v;
    if (st == TTT_OK && ttt_json_has(cfg, "temperature") &&
        (st = ttt_json_num(cfg, "temperature", path, false, 1, &d)) == TTT_OK) {
        t->temperature = (float)d;
        t->gen_flags |= 1;
    }
    if (st == TTT_OK && ttt_json_has(cfg, "top_p") &&
        (st = ttt_json_num(cfg, "top_p", path, false, 1, &d)) == TTT_OK) {
        t->top_p = (float)d;
        t->gen_flags |= 2;
    }
    if (st == TTT_OK && ttt_json_has(cfg, "top_k") &&
        (st = ttt_json_int(cfg, "top_k", path, false, 0, 0, 1 << 30, &v)) == TTT_OK) {
        t->top_k = (int)v;
        t->gen_flags |= 4;
    }
    return st;
}

/* Runs fn on dir/name when that file exists. */
static ttt_status with_config(ttt_tokenizer *t, const char *dir, const char *name,
                              ttt_status (*fn)(ttt_tokenizer *, const cJSON *, const char *)) {
    cJSON *cfg;
    char *path = NULL;
    ttt_status st = read_json(dir, name, &cfg, &path);
    if (st != TTT_OK || !cfg) return st;
    st = fn(t, cfg, path);
    cJSON_Delete(cfg);
    free(path);
    return st;
}

/* transformers >= 4.43 saves the template as chat_template.jinja beside the configs */
static ttt_status load_jinja(ttt_tokenizer *t, const char *dir) {
    if (t->chat_template) return TTT_OK;
    char *path = ttt_path_join(dir, "chat_template.jinja");
    if (!path) return NOMEM;
    struct stat sb;
    ttt_status st = TTT_OK;
    if (stat(path, &sb) == 0) {
        size_t len;
        st = ttt_read_file(path, CONFIG_MAX_BYTES, &t->chat_template, &len);
    }
    free(path);
    return st;
}

static ttt_tokenizer *tokenizer_new(void) {
    ttt_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->bos_id = t->eos_id = -1;
    t->temperature = 1.0f;
    t->top_p = 1.0f;
    return t;
}

ttt_status tok_from_json(const char *text, size_t len, const char *label, ttt_tokenizer **out) {
    *out = NULL;
    ttt_tokenizer *t = tokenizer_new();
    if (!t) return NOMEM;
    ttt_status st = tok_load_json(t, text, len, label);
    if (st != TTT_OK) {
        ttt_tokenizer_free(t);
        return st;
    }
    *out = t;
    return TTT_OK;
}

ttt_status ttt_tokenizer_load(const char *path, ttt_tokenizer **out) {
    *out = NULL;
    if (!path) return ttt_err(TTT_ERR_ARG, "tokenizer: NULL path");
    struct stat sb;
    if (stat(path, &sb) != 0) return ttt_err(TTT_ERR_IO, "%s: no such file or directory", path);
    bool is_dir = S_ISDIR(sb.st_mode);
    char *json_path = is_dir ? ttt_path_join(path, "tokenizer.json") : ttt_strdup(path);
    char *dir = is_dir ? ttt_strdup(path) : NULL;
    if (!is_dir) {
        const char *slash = strrchr(path, '/');
        dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : ttt_strdup(".");
    }
    ttt_tokenizer *t = tokenizer_new();
    char *text = NULL;
    size_t len;
    ttt_status st = (!json_path || !dir || !t) ? NOMEM : TTT_OK;
    if (st == TTT_OK) st = ttt_read_file(json_path, TOK_MAX_FILE_BYTES, &text, &len);
    if (st == TTT_OK) st = tok_load_json(t, text, len, json_path);
    free(text);
    if (st == TTT_OK) st = with_config(t, dir, "tokenizer_config.json", tokenizer_config);
    if (st == TTT_OK) st = with_config(t, dir, "generation_config.json", generation_config);
    if (st == TTT_OK) st = load_jinja(t, dir);
    if (st == TTT_OK && t->chat_template &&
        tok_chat_detect(t->chat_template, &t->chat_format, &t->chat_flags, NULL) != TTT_OK)
        t->chat_format = TTT_CHAT_NONE; /* reported when a chat prompt is asked for */
    free(json_path);
    free(dir);
    if (st != TTT_OK) {
        ttt_tokenizer_free(t);
        return st;
    }
    *out = t;
    return TTT_OK;
}

void ttt_tokenizer_free(ttt_tokenizer *t) {
    if (!t) return;
    tok_components_free(t);
    free(t);
}
