/* report.c - the records of an evaluation run: samples.jsonl (append + fsync per sample,
 * resumable), and the summaries, tables and plots made from it. */
#include "eval/report.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/eval.h"
#include "eval/report_int.h"
#include "io/file.h"
#include "io/json.h"
#include "util/err.h"
#include "util/mem.h"

struct ttt_eval_report {
    char *dir;          /* the output directory */
    char *jsonl;        /* dir/samples.jsonl */
    int fd;             /* samples.jsonl, O_APPEND */
    ttt_eval_group *groups; /* [n_groups] */
    int n_groups, cap_groups;
    char **done;        /* [cap_done] open-addressed set of sample keys (NULL: empty slot) */
    size_t n_done, cap_done;
    int resumed;        /* samples read back at open */
    long torn_bytes;    /* bytes of a torn last line cut off at open */
};

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* "model\x1ftask\x1flength\x1fmode\x1findex": fields cannot contain \x1f in practice, and a
 * clash would only skip a sample. */
static char *sample_key(const char *model, const char *task, int length, const char *mode,
                        int index) {
    ttt_buf b = {0};
    ttt_buf_printf(&b, "%s\x1f%s\x1f%d\x1f%s\x1f%d", model ? model : "", task, length, mode, index);
    return ttt_buf_take(&b);
}

static bool done_find(const ttt_eval_report *r, const char *key) {
    if (!r->cap_done) return false;
    for (size_t i = hash_str(key) & (r->cap_done - 1);; i = (i + 1) & (r->cap_done - 1)) {
        if (!r->done[i]) return false;
        if (!strcmp(r->done[i], key)) return true;
    }
}

static ttt_status done_add(ttt_eval_report *r, char *key) {
    if (done_find(r, key)) {
        free(key);
        return TTT_OK;
    }
    if ((r->n_done + 1) * 2 > r->cap_done) {
        size_t cap = r->cap_done ? r->cap_done * 2 : 1024;
        char **nd = calloc(cap, sizeof *nd);
        if (!nd) {
            free(key);
            return ttt_err(TTT_ERR_NOMEM, "out of memory");
        }
        for (size_t j = 0; j < r->cap_done; j++)
            if (r->done[j]) {
                size_t i = hash_str(r->done[j]) & (cap - 1);
                while (nd[i]) i = (i + 1) & (cap - 1);
                nd[i] = r->done[j];
            }
        free(r->done);
        r->done = nd;
        r->cap_done = cap;
    }
    size_t i = hash_str(key) & (r->cap_done - 1);
    while (r->done[i]) i = (i + 1) & (r->cap_done - 1);
    r->done[i] = key;
    r->n_done++;
    return TTT_OK;
}

static ttt_eval_group *find_group(ttt_eval_report *r, const char *model, const char *mode,
                         const char *task, int length) {
    model = model ? model : "";
    for (int i = 0; i < r->n_groups; i++) {
        ttt_eval_group *g = &r->groups[i];
        if (g->length == length && !strcmp(g->model, model) && !strcmp(g->mode, mode) &&
            !strcmp(g->task, task))
            return g;
    }
    if (r->n_groups == r->cap_groups) {
        int cap = r->cap_groups ? r->cap_groups * 2 : 64;
        ttt_eval_group *ng = realloc(r->groups, (size_t)cap * sizeof *ng);
        if (!ng) return NULL;
        r->groups = ng;
        r->cap_groups = cap;
    }
    ttt_eval_group *g = &r->groups[r->n_groups];
    memset(g, 0, sizeof *g);
    g->model = ttt_strdup(model);
    g->mode = ttt_strdup(mode);
    g->task = ttt_strdup(task);
    g->length = length;
    if (!g->model || !g->mode || !g->task) {
        free(g->model), free(g->mode), free(g->task);
        return NULL;
    }
    r->n_groups++;
    return g;
}

static ttt_status account(ttt_eval_report *r, const ttt_eval_record *rec) {
    ttt_eval_group *g = find_group(r, rec->model, rec->mode, rec->task, rec->length);
    if (!g) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    g->n++;
    g->score_sum += rec->score;
    g->prefill_sum += rec->prefill_s;
    g->decode_sum += rec->decode_s;
    if (rec->peak_mem_bytes > g->peak_mem) g->peak_mem = rec->peak_mem_bytes;
    char *key = sample_key(rec->model, rec->task, rec->length, rec->mode, rec->index);
    if (!key) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    return done_add(r, key);
}

/* One line of an earlier run back into a record (strings point into obj). */
static ttt_status parse_line(const cJSON *obj, const char *label, ttt_eval_record *rec) {
    memset(rec, 0, sizeof *rec);
    long long len, idx, toks, mem;
    ttt_status st;
    if ((st = ttt_json_str(obj, "model", label, false, "", &rec->model)) ||
        (st = ttt_json_str(obj, "task", label, true, NULL, &rec->task)) ||
        (st = ttt_json_str(obj, "mode", label, true, NULL, &rec->mode)) ||
        (st = ttt_json_int(obj, "length", label, true, 0, 1, INT32_MAX, &len)) ||
        (st = ttt_json_int(obj, "index", label, true, 0, 0, INT32_MAX, &idx)) ||
        (st = ttt_json_num(obj, "score", label, true, 0, &rec->score)) ||
        (st = ttt_json_int(obj, "prompt_tokens", label, false, 0, 0, INT32_MAX, &toks)) ||
        (st = ttt_json_num(obj, "prefill_s", label, false, 0, &rec->prefill_s)) ||
        (st = ttt_json_num(obj, "decode_s", label, false, 0, &rec->decode_s)) ||
        (st = ttt_json_int(obj, "peak_mem_bytes", label, false, 0, 0, INT64_MAX, &mem)))
        return st;
    if (!(rec->score >= 0 && rec->score <= 1))
        return ttt_err(TTT_ERR_FORMAT, "%s: score %g out of [0, 1]", label, rec->score);
    rec->length = (int)len;
    rec->index = (int)idx;
    rec->prompt_tokens = (int)toks;
    rec->peak_mem_bytes = (uint64_t)mem;
    return TTT_OK;
}

/* Reads an earlier samples.jsonl; a torn last line (no newline, or not JSON) is cut off. */
static ttt_status load_existing(ttt_eval_report *r) {
    char *text;
    size_t len;
    if (access(r->jsonl, F_OK) != 0) return TTT_OK;
    ttt_status st = ttt_read_file(r->jsonl, (size_t)4 << 30, &text, &len);
    if (st != TTT_OK) return st;
    size_t pos = 0, good_end = 0;
    long line = 0;
    while (pos < len && st == TTT_OK) {
        line++;
        char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        bool last = !nl || end + 1 >= len;
        char label[600];
        snprintf(label, sizeof label, "%s: line %ld", r->jsonl, line);
        size_t n = end - pos;
        while (n && (text[pos + n - 1] == '\r' || text[pos + n - 1] == ' ')) n--;
        if (n == 0 && nl) {
            pos = end + 1;
            good_end = pos;
            continue;
        }
        cJSON *obj = NULL;
        st = nl ? ttt_json_parse_object(text + pos, n, label, &obj)
                : ttt_err(TTT_ERR_FORMAT, "%s: no newline", label);
        if (st != TTT_OK && last) {
            /* the write an interruption cut short: drop it, the sample runs again */
            r->torn_bytes = (long)(len - pos);
            ttt_err_clear();
            st = TTT_OK;
            break;
        }
        if (st == TTT_OK) {
            ttt_eval_record rec;
            st = parse_line(obj, label, &rec);
            if (st == TTT_OK) st = account(r, &rec);
            if (st == TTT_OK) r->resumed++;
        }
        cJSON_Delete(obj);
        pos = end + 1;
        if (st == TTT_OK) good_end = pos > len ? len : pos;
    }
    free(text);
    if (st == TTT_OK && good_end < len && truncate(r->jsonl, (off_t)good_end) != 0)
        st = ttt_err(TTT_ERR_IO, "%s: cannot cut the torn last line: %s", r->jsonl, strerror(errno));
    return st;
}

void ttt_eval_report_free(ttt_eval_report *r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    for (int i = 0; i < r->n_groups; i++) {
        free(r->groups[i].model);
        free(r->groups[i].mode);
        free(r->groups[i].task);
    }
    free(r->groups);
    for (size_t i = 0; i < r->cap_done; i++) free(r->done[i]);
    free(r->done);
    free(r->dir);
    free(r->jsonl);
    free(r);
}

ttt_status ttt_eval_report_open(const char *dir, ttt_eval_report **out) {
    *out = NULL;
    ttt_eval_report *r = calloc(1, sizeof *r);
    if (!r) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    r->fd = -1;
    r->dir = ttt_strdup(dir);
    r->jsonl = ttt_path_join(dir, "samples.jsonl");
    ttt_status st = r->dir && r->jsonl ? ttt_mkdir_p(dir) : ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (st == TTT_OK) st = load_existing(r);
    if (st == TTT_OK) {
        r->fd = open(r->jsonl, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (r->fd < 0) st = ttt_err(TTT_ERR_IO, "%s: cannot open: %s", r->jsonl, strerror(errno));
    }
    if (st != TTT_OK) {
        ttt_eval_report_free(r);
        return st;
    }
    *out = r;
    return TTT_OK;
}

int ttt_eval_report_resumed(const ttt_eval_report *r) { return r->resumed; }

long ttt_eval_report_torn_bytes(const ttt_eval_report *r) { return r->torn_bytes; }

bool ttt_eval_report_done(const ttt_eval_report *r, const char *model, const char *task,
                          int length, const char *mode, int index) {
    char *key = sample_key(model, task, length, mode, index);
    bool d = key && done_find(r, key);
    free(key);
    return d;
}

ttt_status ttt_eval_report_add(ttt_eval_report *r, const ttt_eval_record *rec) {
    if (!rec->task || !rec->mode || rec->length < 1 || rec->index < 0 ||
        !(rec->score >= 0 && rec->score <= 1))
        return ttt_err(TTT_ERR_ARG, "eval record: task, mode, length >= 1, index >= 0 and "
                                    "score in [0, 1] are required");
    cJSON *o = cJSON_CreateObject(), *refs = cJSON_CreateArray();
    if (o && refs) {
        cJSON_AddStringToObject(o, "model", rec->model ? rec->model : "");
        cJSON_AddStringToObject(o, "task", rec->task);
        cJSON_AddNumberToObject(o, "length", rec->length);
        cJSON_AddStringToObject(o, "mode", rec->mode);
        cJSON_AddNumberToObject(o, "index", rec->index);
        cJSON_AddStringToObject(o, "prediction", rec->prediction ? rec->prediction : "");
        for (int i = 0; i < rec->n_refs; i++)
            cJSON_AddItemToArray(refs, cJSON_CreateString(rec->refs[i] ? rec->refs[i] : ""));
        cJSON_AddItemToObject(o, "references", refs);
        refs = NULL;
        cJSON_AddNumberToObject(o, "score", rec->score);
        cJSON_AddNumberToObject(o, "prompt_tokens", rec->prompt_tokens);
        cJSON_AddNumberToObject(o, "prefill_s", rec->prefill_s);
        cJSON_AddNumberToObject(o, "decode_s", rec->decode_s);
        cJSON_AddNumberToObject(o, "decode_tokens", rec->decode_tokens);
        cJSON_AddNumberToObject(o, "peak_mem_bytes", (double)rec->peak_mem_bytes);
    }
    char *line = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    cJSON_Delete(refs);
    if (!line) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", r->jsonl);
    size_t n = strlen(line);
    line[n] = '\n'; /* cJSON's buffer has room: the NUL's byte */
    ttt_status st = ttt_file_write_all(r->fd, line, n + 1, r->jsonl);
    free(line);
    if (st == TTT_OK && fsync(r->fd) != 0)
        st = ttt_err(TTT_ERR_IO, "%s: fsync failed: %s", r->jsonl, strerror(errno));
    if (st == TTT_OK) st = account(r, rec);
    return st;
}

ttt_status ttt_eval_report_write(ttt_eval_report *r) {
    return ttt_eval_report_write_groups(r->dir, r->groups, r->n_groups);
}
