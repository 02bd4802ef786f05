/* ckpt.c - atomic training checkpoints (layout and guarantees: ckpt.h, docs/DATA.md). */
#include "io/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/init.h"
#include "util/err.h"
#include "util/mem.h"

#define DEFAULT_MAX_SHARD (UINT64_C(4) << 30)
#define MAX_COPY_BYTES ((size_t)1 << 30)
#define MAX_STATE_JSON ((size_t)64 << 20)
#define LATEST "latest"
#define PREFIX "checkpoint-"

static const char *const k_tokenizer_files[] = {
    "tokenizer.json", "tokenizer_config.json", "generation_config.json",
    "special_tokens_map.json", "tokenizer.model",
};

ttt_status ttt_ckpt_copy_tokenizer(const char *src_dir, const char *dst_dir) {
    ttt_status st = TTT_OK;
    for (size_t i = 0; i < sizeof k_tokenizer_files / sizeof *k_tokenizer_files && !st; i++) {
        char *src = ttt_path_join(src_dir, k_tokenizer_files[i]);
        char *dst = ttt_path_join(dst_dir, k_tokenizer_files[i]);
        char *data = NULL;
        size_t len = 0;
        if (!src || !dst) st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dst_dir);
        else if (access(src, F_OK) != 0 && errno == ENOENT) st = TTT_OK; /* optional */
        else if (!(st = ttt_read_file(src, MAX_COPY_BYTES, &data, &len)))
            st = ttt_write_file_atomic(dst, data, len);
        free(data);
        free(src);
        free(dst);
    }
    return st;
}

/* ---- tensors of the caller's memory into safetensors ---- */

typedef struct list_ctx {
    const ttt_ckpt_tensor *t;
} list_ctx;

static ttt_status fill_copy(void *ctx, int i, void *dst, size_t n_bytes) {
    const list_ctx *c = ctx;
    if (n_bytes && !c->t[i].data)
        return ttt_err(TTT_ERR_ARG, "tensor \"%s\" has no data", c->t[i].name);
    if (n_bytes) memcpy(dst, c->t[i].data, n_bytes);
    return TTT_OK;
}

static ttt_status make_descs(const ttt_ckpt_tensor *t, int n, ttt_st_desc **out) {
    *out = calloc(n > 0 ? (size_t)n : 1, sizeof **out);
    if (!*out) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        (*out)[i].name = t[i].name;
        (*out)[i].dtype = t[i].dtype;
        (*out)[i].ndim = t[i].ndim;
        memcpy((*out)[i].shape, t[i].shape, sizeof t[i].shape);
    }
    return TTT_OK;
}

static ttt_status save_model(const char *dir, const ttt_ckpt_save_params *p) {
    ttt_st_desc *d;
    ttt_status st = make_descs(p->weights, p->n_weights, &d);
    if (st) return st;
    list_ctx c = {p->weights};
    st = ttt_st_save(dir, d, p->n_weights, p->max_shard ? p->max_shard : DEFAULT_MAX_SHARD,
                     fill_copy, &c);
    free(d);
    return st;
}

/* trainer_state.safetensors: one file, tensors in the caller's order. */
static ttt_status save_state_tensors(const char *path, const ttt_ckpt_tensor *t, int n) {
    static const ttt_st_meta meta[] = {{"format", "pt"}};
    ttt_st_desc *d;
    ttt_status st = make_descs(t, n, &d);
    ttt_st_writer *w = NULL;
    if (!st) st = ttt_st_writer_open(path, d, n, meta, 1, &w);
    for (int i = 0; i < n && !st; i++) {
        uint64_t bytes = 0;
        ttt_st_desc_bytes(&d[i], &bytes); /* checked by the writer */
        if (bytes && !t[i].data) st = ttt_err(TTT_ERR_ARG, "%s: tensor \"%s\" has no data",
                                              path, t[i].name);
        else st = ttt_st_writer_put(w, t[i].data, (size_t)bytes);
    }
    free(d);
    if (st) {
        ttt_st_writer_abort(w);
        return st;
    }
    return ttt_st_writer_commit(w);
}

static ttt_status write_text(const char *dir, const char *name, const char *text) {
    char *path = ttt_path_join(dir, name);
    if (!path) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
    ttt_status st = ttt_write_file_atomic(path, text, strlen(text));
    free(path);
    return st;
}

/* ---- directories ---- */

/* Removes dir and the plain files in it (checkpoints hold nothing else). */
static ttt_status remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return TTT_OK;
        return ttt_err(TTT_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    }
    ttt_status st = TTT_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0)
            st = ttt_err(TTT_ERR_IO, "%s/%s: cannot remove: %s", dir, e->d_name,
                         strerror(errno));
    }
    closedir(d);
    if (!st && rmdir(dir) != 0)
        st = ttt_err(TTT_ERR_IO, "%s: cannot remove: %s", dir, strerror(errno));
    return st;
}

/* N of "checkpoint-N" (digits only, no leading zeros but for 0); -1 otherwise. */
static int parse_step(const char *name, uint64_t *step) {
    size_t k = strlen(PREFIX);
    if (strncmp(name, PREFIX, k) || !name[k] || (name[k] == '0' && name[k + 1])) return -1;
    uint64_t v = 0;
    for (const char *c = name + k; *c; c++) {
        if (*c < '0' || *c > '9' || v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    *step = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Deletes all but the newest keep checkpoints (by step); never the one just written. */
static ttt_status prune(const char *root, int keep, uint64_t current) {
    DIR *d = opendir(root);
    if (!d) return ttt_err(TTT_ERR_IO, "%s: cannot list: %s", root, strerror(errno));
    uint64_t *steps = NULL;
    size_t n = 0, cap = 0;
    ttt_status st = TTT_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t s;
        if (parse_step(e->d_name, &s)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            uint64_t *ns = realloc(steps, cap * sizeof *ns);
            if (!ns) {
                st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", root);
                break;
            }
            steps = ns;
        }
        steps[n++] = s;
    }
    closedir(d);
    if (!st) qsort(steps, n, sizeof *steps, cmp_u64);
    for (size_t i = 0; !st && n > (size_t)keep && i < n - (size_t)keep; i++) {
        if (steps[i] == current) continue;
        char name[64];
        snprintf(name, sizeof name, PREFIX "%" PRIu64, steps[i]);
        char *path = ttt_path_join(root, name);
        st = path ? remove_dir(path) : ttt_err(TTT_ERR_NOMEM, "%s: out of memory", root);
        free(path);
    }
    free(steps);
    if (!st) st = ttt_fsync_dir(root);
    return st;
}

/* ---- save ---- */

/* After failure st: removes dir (and fsyncs root when given), best effort; returns st with
 * its message, which is the one that matters. */
static ttt_status undo(const char *dir, const char *root, ttt_status st) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ttt_last_error());
    remove_dir(dir);
    if (root) ttt_fsync_dir(root);
    return ttt_err(st, "%s", msg);
}

/* Every tensor config c implies is among the weights, with its shape (as ttt_model_load
 * will demand); the dtype is the trainer's choice. */
static ttt_status check_weights(const ttt_config *c, const ttt_ckpt_tensor *w, int n,
                                const char *root) {
    ttt_tensor_list want;
    ttt_status st = ttt_tensor_list_make(c, TTT_DT_F32, &want);
    for (int i = 0; i < want.n && !st; i++) {
        const ttt_st_desc *d = &want.descs[i];
        int k = 0;
        while (k < n && (!w[k].name || strcmp(w[k].name, d->name))) k++;
        int same = k < n && w[k].ndim == d->ndim;
        for (int j = 0; same && j < d->ndim; j++) same = w[k].shape[j] == d->shape[j];
        if (k == n)
            st = ttt_err(TTT_ERR_ARG, "%s: checkpoint weights lack '%s', which config.json "
                         "implies", root, d->name);
        else if (!same)
            st = ttt_err(TTT_ERR_ARG, "%s: checkpoint weight '%s' does not have the shape "
                         "config.json implies", root, d->name);
    }
    ttt_tensor_list_free(&want);
    return st;
}

static ttt_status check_params(const ttt_ckpt_save_params *p) {
    if (!p || !p->root || !p->config_json || !p->state_json)
        return ttt_err(TTT_ERR_ARG, "checkpoint: missing root, config or trainer state");
    if ((p->n_weights > 0 && !p->weights) || (p->n_state > 0 && !p->state) ||
        p->n_weights < 0 || p->n_state < 0 || p->keep_last < 0)
        return ttt_err(TTT_ERR_ARG, "%s: bad tensor lists or keep_last", p->root);
    /* what is written must load again: a valid config, the weights it implies, a JSON
     * object of state */
    ttt_config cfg;
    ttt_status st = ttt_config_parse(p->config_json, strlen(p->config_json),
                                     "checkpoint config.json", &cfg);
    if (!st) st = check_weights(&cfg, p->weights, p->n_weights, p->root);
    if (st) return st;
    cJSON *o;
    st = ttt_json_parse_object(p->state_json, strlen(p->state_json), "trainer_state.json", &o);
    cJSON_Delete(o);
    return st;
}

/* Everything into the temp directory; each file fsync'd and renamed in it. */
static ttt_status fill_dir(const char *tmp, const ttt_ckpt_save_params *p) {
    ttt_status st = save_model(tmp, p);
    if (!st) st = write_text(tmp, "config.json", p->config_json);
    if (!st && p->tokenizer_dir) st = ttt_ckpt_copy_tokenizer(p->tokenizer_dir, tmp);
    if (!st) {
        char *path = ttt_path_join(tmp, "trainer_state.safetensors");
        st = path ? save_state_tensors(path, p->state, p->n_state)
                  : ttt_err(TTT_ERR_NOMEM, "out of memory");
        free(path);
    }
    if (!st) st = write_text(tmp, "trainer_state.json", p->state_json);
    if (!st) st = ttt_fsync_dir(tmp);
    return st;
}

ttt_status ttt_ckpt_save(const ttt_ckpt_save_params *p, char **out_dir) {
    if (out_dir) *out_dir = NULL;
    ttt_status st = check_params(p);
    if (st) return st;
    char name[64], tmp_name[80];
    snprintf(name, sizeof name, PREFIX "%" PRIu64, p->step);
    snprintf(tmp_name, sizeof tmp_name, "%s.tmp", name);
    char *final = ttt_path_join(p->root, name), *tmp = ttt_path_join(p->root, tmp_name);
    if (!final || !tmp) {
        st = ttt_err(TTT_ERR_NOMEM, "out of memory");
        goto done;
    }
    st = ttt_mkdir_p(p->root);
    struct stat sb;
    if (!st && lstat(final, &sb) == 0)
        st = ttt_err(TTT_ERR_ARG, "%s: already exists (a checkpoint of step %" PRIu64 ")",
                     final, p->step);
    /* a temp directory left by a crash is incomplete by construction */
    if (!st) st = remove_dir(tmp);
    if (!st && mkdir(tmp, 0755) != 0)
        st = ttt_err(TTT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    if (st) goto done;
    st = fill_dir(tmp, p);
    if (!st && rename(tmp, final) != 0)
        st = ttt_err(TTT_ERR_IO, "%s: cannot rename %s onto it: %s", final, tmp,
                     strerror(errno));
    if (st) {
        st = undo(tmp, NULL, st);
        goto done;
    }
    st = ttt_fsync_dir(p->root);
    if (!st) {
        char text[80];
        snprintf(text, sizeof text, "%s\n", name);
        st = write_text(p->root, LATEST, text);
    }
    if (st) {
        /* `latest` still names the previous checkpoint: take the new one back out, so the
         * root is as it was and a retry of this step can write it */
        st = undo(final, p->root, st);
        goto done;
    }
    if (!st && p->keep_last > 0) st = prune(p->root, p->keep_last, p->step);
    if (!st && out_dir) {
        *out_dir = final;
        final = NULL;
    }
done:
    free(final);
    free(tmp);
    return st;
}

ttt_status ttt_ckpt_latest(const char *root, char **dir) {
    if (!root || !dir) return ttt_err(TTT_ERR_ARG, "ttt_ckpt_latest: NULL argument");
    *dir = NULL;
    char *path = ttt_path_join(root, LATEST), *text = NULL;
    size_t len = 0;
    if (!path) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_status st = ttt_read_file(path, 256, &text, &len);
    if (!st) {
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
        uint64_t step;
        if (parse_step(text, &step) != 0)
            st = ttt_err(TTT_ERR_FORMAT, "%s: does not name a checkpoint-N directory", path);
        else if (!(*dir = ttt_path_join(root, text)))
            st = ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    free(text);
    free(path);
    return st;
}

ttt_status ttt_ckpt_load_state(const char *dir, ttt_tensors **tensors, char **json) {
    if (!dir || !tensors || !json) return ttt_err(TTT_ERR_ARG, "ttt_ckpt_load_state: NULL");
    *tensors = NULL;
    *json = NULL;
    char *tp = ttt_path_join(dir, "trainer_state.safetensors");
    char *jp = ttt_path_join(dir, "trainer_state.json");
    ttt_status st = tp && jp ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "out of memory");
    size_t len = 0;
    if (!st) st = ttt_read_file(jp, MAX_STATE_JSON, json, &len);
    cJSON *o = NULL;
    if (!st) st = ttt_json_parse_object(*json, len, jp, &o);
    cJSON_Delete(o);
    if (!st) st = ttt_tensors_open(tp, tensors);
    if (st) {
        free(*json);
        *json = NULL;
    }
    free(tp);
    free(jp);
    return st;
}
