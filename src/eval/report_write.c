/* report_write.c - summary.json, summary.csv, results.md and plots/ from the run's records.
 * Accuracy is RULER's: the mean score x 100, rounded to 2 decimals; a length's average is the
 * mean over the tasks present (RULER's paper averages its 13). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "eval/report.h"
#include "eval/report_int.h"
#include "io/file.h"
#include "util/err.h"
#include "util/mem.h"

static double acc_of(const ttt_eval_group *g) { return round(g->score_sum / g->n * 1e4) / 100; }

static int task_rank(const char *t) {
    for (int i = 0; i < TTT_RULER_N_TASKS; i++)
        if (!strcmp(t, ttt_ruler_task_name(i))) return i;
    return TTT_RULER_N_TASKS;
}

/* The table axes: rows (model, mode) in order of appearance, tasks in RULER order then by
 * name, lengths ascending. */
typedef struct axes {
    const ttt_eval_group **rows; /* [n_rows] a group of each row */
    int n_rows;
    const char **tasks;          /* [n_tasks] */
    int n_tasks;
    int *lengths;                /* [n_lengths] */
    int n_lengths;
} axes;

static bool same_row(const ttt_eval_group *a, const ttt_eval_group *b) {
    return !strcmp(a->model, b->model) && !strcmp(a->mode, b->mode);
}

static int cmp_task(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int rx = task_rank(x), ry = task_rank(y);
    return rx != ry ? (rx < ry ? -1 : 1) : strcmp(x, y);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static ttt_status make_axes(const ttt_eval_group *g, int n, axes *a) {
    memset(a, 0, sizeof *a);
    size_t k = (size_t)(n ? n : 1);
    a->rows = malloc(k * sizeof *a->rows);
    a->tasks = malloc(k * sizeof *a->tasks);
    a->lengths = malloc(k * sizeof *a->lengths);
    if (!a->rows || !a->tasks || !a->lengths) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int j = 0; j < a->n_rows && !seen; j++) seen = same_row(a->rows[j], &g[i]);
        if (!seen) a->rows[a->n_rows++] = &g[i];
        seen = false;
        for (int j = 0; j < a->n_tasks && !seen; j++) seen = !strcmp(a->tasks[j], g[i].task);
        if (!seen) a->tasks[a->n_tasks++] = g[i].task;
        seen = false;
        for (int j = 0; j < a->n_lengths && !seen; j++) seen = a->lengths[j] == g[i].length;
        if (!seen) a->lengths[a->n_lengths++] = g[i].length;
    }
    qsort(a->tasks, (size_t)a->n_tasks, sizeof *a->tasks, cmp_task);
    qsort(a->lengths, (size_t)a->n_lengths, sizeof *a->lengths, cmp_int);
    return TTT_OK;
}

static void free_axes(axes *a) {
    free(a->rows);
    free(a->tasks);
    free(a->lengths);
}

static const ttt_eval_group *cell(const ttt_eval_group *g, int n, const ttt_eval_group *row,
                                  const char *task, int length) {
    for (int i = 0; i < n; i++)
        if (g[i].length == length && same_row(&g[i], row) && !strcmp(g[i].task, task)) return &g[i];
    return NULL;
}

/* Per (row, length): mean accuracy over tasks, mean latency per sample, peak memory. */
typedef struct row_stats {
    double acc;       /* NaN: no task */
    int n_tasks;
    double latency;   /* mean prefill + decode seconds per sample */
    double peak_gib;
} row_stats;

static row_stats stats(const ttt_eval_group *g, int n, const axes *a, const ttt_eval_group *row,
                       int length) {
    row_stats s = {.acc = NAN};
    double acc = 0, lat = 0;
    long samples = 0;
    uint64_t peak = 0;
    for (int t = 0; t < a->n_tasks; t++) {
        const ttt_eval_group *c = cell(g, n, row, a->tasks[t], length);
        if (!c) continue;
        acc += acc_of(c);
        s.n_tasks++;
        lat += c->prefill_sum + c->decode_sum;
        samples += c->n;
        if (c->peak_mem > peak) peak = c->peak_mem;
    }
    if (s.n_tasks) s.acc = round(acc / s.n_tasks * 100) / 100;
    s.latency = samples ? lat / (double)samples : NAN;
    s.peak_gib = s.n_tasks ? (double)peak / (double)(1ull << 30) : NAN;
    return s;
}

static void row_name(char *out, size_t n, const ttt_eval_group *row) {
    if (row->model[0]) snprintf(out, n, "%s / %s", row->model, row->mode);
    else snprintf(out, n, "%s", row->mode);
}

static void len_name(char *out, size_t n, int len) {
    if (len >= 1024 && len % 1024 == 0) snprintf(out, n, "%dk", len / 1024);
    else snprintf(out, n, "%d", len);
}

static void md_header(ttt_buf *b, const axes *a, const char *first) {
    ttt_buf_printf(b, "| %s |", first);
    for (int l = 0; l < a->n_lengths; l++) {
        char ln[32];
        len_name(ln, sizeof ln, a->lengths[l]);
        ttt_buf_printf(b, " %s |", ln);
    }
    ttt_buf_puts(b, "\n|---|");
    for (int l = 0; l < a->n_lengths; l++) ttt_buf_puts(b, "---:|");
    ttt_buf_puts(b, "\n");
}

static ttt_status write_buf(const char *dir, const char *name, ttt_buf *b) {
    char *path = ttt_path_join(dir, name);
    ttt_status st = !path || b->oom ? ttt_err(TTT_ERR_NOMEM, "%s: out of memory", name)
                                    : ttt_write_file_atomic(path, b->p ? b->p : "", b->len);
    free(path);
    ttt_buf_free(b);
    return st;
}

enum { TABLE_AVERAGE, TABLE_LATENCY, TABLE_MEMORY, TABLE_TASK };

/* One Markdown table, rows (model, mode) by lengths; most: the largest task count of an
 * average cell (fewer are marked). */
static void md_table(ttt_buf *b, const ttt_eval_group *g, int n, const axes *a, int kind,
                     const char *task, int most) {
    md_header(b, a, "model / mode");
    for (int r = 0; r < a->n_rows; r++) {
        char rn[256];
        row_name(rn, sizeof rn, a->rows[r]);
        ttt_buf_printf(b, "| %s |", rn);
        for (int l = 0; l < a->n_lengths; l++) {
            if (kind == TABLE_TASK) {
                const ttt_eval_group *c = cell(g, n, a->rows[r], task, a->lengths[l]);
                if (c) ttt_buf_printf(b, " %.2f |", acc_of(c));
                else ttt_buf_puts(b, " - |");
                continue;
            }
            row_stats s = stats(g, n, a, a->rows[r], a->lengths[l]);
            double v = kind == TABLE_AVERAGE ? s.acc : kind == TABLE_LATENCY ? s.latency : s.peak_gib;
            if (isnan(v)) ttt_buf_puts(b, " - |");
            else if (kind == TABLE_AVERAGE && s.n_tasks < most)
                ttt_buf_printf(b, " %.2f (%d) |", v, s.n_tasks);
            else ttt_buf_printf(b, kind == TABLE_LATENCY ? " %.3f |" : " %.2f |", v);
        }
        ttt_buf_puts(b, "\n");
    }
}

static ttt_status write_markdown(const char *dir, const ttt_eval_group *g, int n, const axes *a) {
    int most = 0;
    for (int r = 0; r < a->n_rows; r++)
        for (int l = 0; l < a->n_lengths; l++) {
            row_stats s = stats(g, n, a, a->rows[r], a->lengths[l]);
            if (s.n_tasks > most) most = s.n_tasks;
        }
    ttt_buf b = {0};
    ttt_buf_puts(&b, "# Long-context evaluation\n\n## Average accuracy over tasks (%)\n\n"
                     "The shape of the paper's Table 1: rows are models and modes, columns "
                     "lengths. A cell averages the tasks it has; `(k)` marks a cell with k tasks "
                     "when others have more.\n\n");
    md_table(&b, g, n, a, TABLE_AVERAGE, NULL, most);
    ttt_buf_puts(&b, "\n## Mean latency per sample (s, prefill + decode)\n\n");
    md_table(&b, g, n, a, TABLE_LATENCY, NULL, most);
    ttt_buf_puts(&b, "\n## Peak memory (GiB)\n\n");
    md_table(&b, g, n, a, TABLE_MEMORY, NULL, most);
    for (int t = 0; t < a->n_tasks; t++) {
        ttt_buf_printf(&b, "\n## %s (accuracy %%)\n\n", a->tasks[t]);
        md_table(&b, g, n, a, TABLE_TASK, a->tasks[t], most);
    }
    return write_buf(dir, "results.md", &b);
}

static void csv_field(ttt_buf *b, const char *s) {
    ttt_buf_put(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"') ttt_buf_put(b, "\"\"", 2);
        else ttt_buf_put(b, s, 1);
    }
    ttt_buf_puts(b, "\",");
}

static ttt_status write_csv_json(const char *dir, const ttt_eval_group *g, int n, const axes *a) {
    ttt_buf b = {0};
    ttt_buf_puts(&b, "model,mode,task,length,n,accuracy,mean_prefill_s,mean_decode_s,"
                     "mean_latency_s,peak_mem_bytes\n");
    cJSON *root = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(root, "groups");
    cJSON *avg = cJSON_AddArrayToObject(root, "average");
    for (int r = 0; r < a->n_rows; r++)
        for (int t = 0; t < a->n_tasks; t++)
            for (int l = 0; l < a->n_lengths; l++) {
                const ttt_eval_group *c = cell(g, n, a->rows[r], a->tasks[t], a->lengths[l]);
                if (!c) continue;
                double pf = c->prefill_sum / c->n, dc = c->decode_sum / c->n;
                /* model, mode and task are user labels: quoted for CSV */
                csv_field(&b, c->model);
                csv_field(&b, c->mode);
                csv_field(&b, c->task);
                ttt_buf_printf(&b, "%d,%ld,%.2f,%.6f,%.6f,%.6f,%llu\n", c->length,
                               c->n, acc_of(c), pf, dc, pf + dc, (unsigned long long)c->peak_mem);
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "model", c->model);
                cJSON_AddStringToObject(o, "mode", c->mode);
                cJSON_AddStringToObject(o, "task", c->task);
                cJSON_AddNumberToObject(o, "length", c->length);
                cJSON_AddNumberToObject(o, "n", (double)c->n);
                cJSON_AddNumberToObject(o, "accuracy", acc_of(c));
                cJSON_AddNumberToObject(o, "mean_prefill_s", pf);
                cJSON_AddNumberToObject(o, "mean_decode_s", dc);
                cJSON_AddNumberToObject(o, "mean_latency_s", pf + dc);
                cJSON_AddNumberToObject(o, "peak_mem_bytes", (double)c->peak_mem);
                cJSON_AddItemToArray(arr, o);
            }
    for (int r = 0; r < a->n_rows; r++)
        for (int l = 0; l < a->n_lengths; l++) {
            row_stats s = stats(g, n, a, a->rows[r], a->lengths[l]);
            if (!s.n_tasks) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", a->rows[r]->model);
            cJSON_AddStringToObject(o, "mode", a->rows[r]->mode);
            cJSON_AddNumberToObject(o, "length", a->lengths[l]);
            cJSON_AddNumberToObject(o, "n_tasks", s.n_tasks);
            cJSON_AddNumberToObject(o, "accuracy", s.acc);
            cJSON_AddItemToArray(avg, o);
        }
    char *json = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    ttt_status st = write_buf(dir, "summary.csv", &b);
    if (st == TTT_OK) {
        char *path = ttt_path_join(dir, "summary.json");
        st = json && path ? ttt_write_file_atomic(path, json, strlen(json))
                          : ttt_err(TTT_ERR_NOMEM, "summary.json: out of memory");
        free(path);
    }
    free(json);
    return st;
}

/* One chart: a line per row over the lengths; what: 0 accuracy of task (NULL: average),
 * 1 latency, 2 memory. */
static ttt_status plot(const char *dir, const char *file, const ttt_svg_chart *c,
                       const ttt_eval_group *g, int n, const axes *a, const char *task, int what) {
    int R = a->n_rows, L = a->n_lengths;
    double *x = malloc((size_t)L * sizeof *x), *y = malloc((size_t)(R * L) * sizeof *y);
    ttt_svg_series *s = malloc((size_t)R * sizeof *s);
    char (*names)[256] = malloc((size_t)R * sizeof *names);
    char *path = ttt_path_join(dir, file);
    ttt_status st = TTT_OK;
    if (!x || !y || !s || !names || !path) st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", file);
    for (int r = 0; st == TTT_OK && r < R; r++) {
        for (int l = 0; l < L; l++) {
            x[l] = a->lengths[l];
            double v;
            if (task) {
                const ttt_eval_group *cc = cell(g, n, a->rows[r], task, a->lengths[l]);
                v = cc ? acc_of(cc) : NAN;
            } else {
                row_stats rs = stats(g, n, a, a->rows[r], a->lengths[l]);
                v = what == 0 ? rs.acc : what == 1 ? rs.latency : rs.peak_gib;
            }
            y[r * L + l] = v;
        }
        row_name(names[r], sizeof names[r], a->rows[r]);
        s[r] = (ttt_svg_series){.name = names[r], .x = x, .y = y + r * L, .n = L};
    }
    if (st == TTT_OK) st = ttt_svg_line_chart(path, c, s, R);
    free(x), free(y), free(s), free(names), free(path);
    return st;
}

static ttt_status write_plots(const char *dir, const ttt_eval_group *g, int n, const axes *a) {
    char *pdir = ttt_path_join(dir, "plots");
    ttt_status st = pdir ? ttt_mkdir_p(pdir) : ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_svg_chart acc = {.x_label = "sequence length (tokens)", .y_label = "accuracy (%)",
                         .log2_x = true, .y_from_zero = true, .y_max = 100};
    if (st == TTT_OK) {
        acc.title = "RULER average accuracy";
        st = plot(pdir, "accuracy_average.svg", &acc, g, n, a, NULL, 0);
    }
    for (int t = 0; st == TTT_OK && t < a->n_tasks; t++) {
        char file[160], title[160];
        snprintf(file, sizeof file, "accuracy_%s.svg", a->tasks[t]);
        for (char *p = file; *p; p++)
            if (*p == '/' || *p == '\\') *p = '_'; /* task names are labels, not paths */
        snprintf(title, sizeof title, "%s accuracy", a->tasks[t]);
        acc.title = title;
        st = plot(pdir, file, &acc, g, n, a, a->tasks[t], 0);
    }
    ttt_svg_chart lat = {.title = "Mean latency per sample (prefill + decode)",
                         .x_label = "sequence length (tokens)", .y_label = "seconds",
                         .log2_x = true, .y_from_zero = true};
    if (st == TTT_OK) st = plot(pdir, "latency.svg", &lat, g, n, a, NULL, 1);
    ttt_svg_chart mem = {.title = "Peak memory", .x_label = "sequence length (tokens)",
                         .y_label = "GiB", .log2_x = true, .y_from_zero = true};
    if (st == TTT_OK) st = plot(pdir, "memory.svg", &mem, g, n, a, NULL, 2);
    free(pdir);
    return st;
}

ttt_status ttt_eval_report_write_groups(const char *dir, const ttt_eval_group *g, int n) {
    axes a;
    ttt_status st = make_axes(g, n, &a);
    if (st == TTT_OK) st = write_csv_json(dir, g, n, &a);
    if (st == TTT_OK) st = write_markdown(dir, g, n, &a);
    if (st == TTT_OK) st = write_plots(dir, g, n, &a);
    free_axes(&a);
    return st;
}
