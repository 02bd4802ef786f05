/* test_eval_report.c - run records: JSONL lines appended and read back, resume skipping
 * finished samples, a torn last line cut off, a malformed middle line refused with its line
 * number, and the summaries (accuracies worked out by hand here), Markdown tables and SVG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "eval/report.h"

static char g_dir[900];

static char *slurp(const char *dir, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

static void append_raw(const char *dir, const char *text) {
    char path[1200];
    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    FILE *f = fopen(path, "ab");
    fputs(text, f);
    fclose(f);
}

static long file_size(const char *dir, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static ttt_eval_record rec(const char *mode, const char *task, int len, int idx, double score,
                           double pf, double dc, uint64_t mem) {
    static const char *refs[2] = {"a\"quoted\"", "b"};
    return (ttt_eval_record){.model = "m1", .task = task, .length = len, .mode = mode,
                             .index = idx, .prediction = "line1\nline2 \"q\"", .refs = refs,
                             .n_refs = 2, .score = score, .prompt_tokens = len - 100,
                             .prefill_s = pf, .decode_s = dc, .decode_tokens = 5,
                             .peak_mem_bytes = mem};
}

static void test_records(void) {
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    CHECK(system(cmd) == 0);
    ttt_eval_report *r;
    CHECK_OK(ttt_eval_report_open(g_dir, &r));
    if (!r) return;
    CHECK(ttt_eval_report_resumed(r) == 0 && ttt_eval_report_torn_bytes(r) == 0);
    ttt_eval_record a = rec("ttt", "niah_single_1", 4096, 0, 1.0, 1.0, 0.5, 1ull << 30);
    CHECK_OK(ttt_eval_report_add(r, &a));
    a = rec("ttt", "niah_single_1", 4096, 1, 0.5, 3.0, 0.5, 3ull << 30);
    CHECK_OK(ttt_eval_report_add(r, &a));
    a = rec("ttt", "vt", 4096, 0, 0.25, 1.0, 1.0, 1ull << 30);
    CHECK_OK(ttt_eval_report_add(r, &a));
    a = rec("ttt", "niah_single_1", 8192, 0, 0.0, 2.0, 2.0, 2ull << 30);
    CHECK_OK(ttt_eval_report_add(r, &a));
    a = rec("in_context", "niah_single_1", 4096, 0, 1.0, 1.0, 1.0, 1ull << 30);
    CHECK_OK(ttt_eval_report_add(r, &a));
    CHECK(ttt_eval_report_done(r, "m1", "niah_single_1", 4096, "ttt", 1));
    CHECK(!ttt_eval_report_done(r, "m1", "niah_single_1", 4096, "ttt", 2));
    CHECK(!ttt_eval_report_done(r, "m1", "niah_single_1", 4096, "strict", 0));
    a.score = 1.5;
    CHECK_FAILS(ttt_eval_report_add(r, &a), TTT_ERR_ARG, "score in [0, 1]");
    CHECK_OK(ttt_eval_report_write(r));
    ttt_eval_report_free(r);

    char *jsonl = slurp(g_dir, "samples.jsonl");
    CHECK(jsonl && strstr(jsonl, "\"prediction\":\"line1\\nline2 \\\"q\\\"\""));
    CHECK(jsonl && strstr(jsonl, "\"references\":[\"a\\\"quoted\\\"\",\"b\"]"));
    CHECK(jsonl && strstr(jsonl, "\"task\":\"niah_single_1\",\"length\":4096,\"mode\":\"ttt\",\"index\":1"));
    free(jsonl);
    /* ttt niah_single_1 4096: scores 1 and 0.5 -> 75.00; latency (1.5 + 3.5) / 2 = 2.5 */
    char *csv = slurp(g_dir, "summary.csv");
    CHECK(csv && strstr(csv, "\"m1\",\"ttt\",\"niah_single_1\",4096,2,75.00,2.000000,0.500000,2.500000,3221225472\n"));
    CHECK(csv && strstr(csv, "\"m1\",\"ttt\",\"vt\",4096,1,25.00,"));
    CHECK(csv && strstr(csv, "\"m1\",\"in_context\",\"niah_single_1\",4096,1,100.00,"));
    free(csv);
    char *json = slurp(g_dir, "summary.json");
    CHECK(json && strstr(json, "\"accuracy\":\t75"));
    /* the average of niah_single_1 (75) and vt (25) at 4k */
    CHECK(json && strstr(json, "\"n_tasks\":\t2,\n\t\t\t\"accuracy\":\t50"));
    free(json);
    char *md = slurp(g_dir, "results.md");
    CHECK(md && strstr(md, "| model / mode | 4k | 8k |\n|---|---:|---:|\n"));
    CHECK(md && strstr(md, "| m1 / ttt | 50.00 | 0.00 (1) |\n"));
    CHECK(md && strstr(md, "| m1 / in_context | 100.00 (1) | - |\n"));
    CHECK(md && strstr(md, "## vt (accuracy %)\n\n| model / mode | 4k | 8k |\n|---|---:|---:|\n| m1 / ttt | 25.00 | - |\n"));
    /* peak memory: the max over samples, 3 GiB at 4k */
    CHECK(md && strstr(md, "## Peak memory (GiB)\n\n| model / mode | 4k | 8k |\n|---|---:|---:|\n| m1 / ttt | 3.00 | 2.00 |\n"));
    /* latency at 4k over all ttt samples: (1.5 + 3.5 + 2.0) / 3 */
    CHECK(md && strstr(md, "| m1 / ttt | 2.333 | 4.000 |\n"));
    free(md);
    char *svg = slurp(g_dir, "plots/accuracy_niah_single_1.svg");
    CHECK(svg && strncmp(svg, "<svg ", 5) == 0 && strstr(svg, "</svg>\n"));
    CHECK(svg && strstr(svg, ">m1 / ttt</text>") && strstr(svg, ">m1 / in_context</text>"));
    CHECK(svg && strstr(svg, ">4k</text>") && strstr(svg, ">8k</text>"));
    CHECK(svg && strstr(svg, "<polyline"));
    free(svg);
    CHECK(file_size(g_dir, "plots/accuracy_average.svg") > 0);
    CHECK(file_size(g_dir, "plots/accuracy_vt.svg") > 0);
    CHECK(file_size(g_dir, "plots/latency.svg") > 0);
    CHECK(file_size(g_dir, "plots/memory.svg") > 0);

    /* an interrupted run: a torn last line is dropped, finished samples are skipped */
    long before = file_size(g_dir, "samples.jsonl");
    append_raw(g_dir, "{\"model\":\"m1\",\"task\":\"vt\",\"length\":4096,\"mo");
    CHECK_OK(ttt_eval_report_open(g_dir, &r));
    if (!r) return;
    CHECK(ttt_eval_report_resumed(r) == 5);
    CHECK(ttt_eval_report_torn_bytes(r) == 43); /* the bytes appended */
    CHECK(file_size(g_dir, "samples.jsonl") == before);
    CHECK(ttt_eval_report_done(r, "m1", "vt", 4096, "ttt", 0));
    CHECK(!ttt_eval_report_done(r, "m1", "vt", 4096, "ttt", 1));
    a = rec("ttt", "vt", 4096, 1, 0.75, 1.0, 1.0, 1ull << 30);
    CHECK_OK(ttt_eval_report_add(r, &a));
    CHECK_OK(ttt_eval_report_write(r));
    ttt_eval_report_free(r);
    csv = slurp(g_dir, "summary.csv");
    CHECK(csv && strstr(csv, "\"m1\",\"ttt\",\"vt\",4096,2,50.00,")); /* (0.25 + 0.75) / 2 */
    free(csv);
    /* a complete line that is not JSON, not at the end: refused, naming the line */
    append_raw(g_dir, "not json\n");
    a = rec("ttt", "vt", 4096, 2, 0.75, 1.0, 1.0, 1ull << 30);
    append_raw(g_dir, "{\"task\":\"vt\",\"length\":4096,\"mode\":\"ttt\",\"index\":9,\"score\":1}\n");
    CHECK_FAILS(ttt_eval_report_open(g_dir, &r), TTT_ERR_FORMAT, "samples.jsonl: line 7");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    CHECK(system(cmd) == 0);
    /* a line with a bad field */
    CHECK_OK(ttt_eval_report_open(g_dir, &r));
    ttt_eval_report_free(r);
    append_raw(g_dir, "{\"task\":\"vt\",\"length\":\"big\",\"mode\":\"ttt\",\"index\":0,\"score\":1}\n{}\n");
    CHECK_FAILS(ttt_eval_report_open(g_dir, &r), TTT_ERR_CONFIG, "line 1");
}

static void test_svg(void) {
    char path[1000];
    snprintf(path, sizeof path, "%s/chart.svg", g_dir);
    double x[3] = {4096, 8192, 131072}, y[3] = {90, 0.0 / 0.0, 40};
    ttt_svg_series s = {.name = "a<b", .x = x, .y = y, .n = 3};
    ttt_svg_chart c = {.title = "t & u", .x_label = "len", .y_label = "acc", .log2_x = true,
                       .y_from_zero = true, .y_max = 100};
    CHECK_OK(ttt_svg_line_chart(path, &c, &s, 1));
    char *svg = slurp(g_dir, "chart.svg");
    CHECK(svg && strstr(svg, ">a&lt;b</text>") && strstr(svg, ">t &amp; u</text>"));
    CHECK(svg && strstr(svg, ">128k</text>") && strstr(svg, ">16k</text>")); /* log2 ticks */
    CHECK(svg && strstr(svg, ">100</text>") && strstr(svg, ">0</text>"));
    /* two points (the NaN is skipped) */
    int circles = 0;
    for (const char *p = svg; p && (p = strstr(p, "<circle")); p++) circles++;
    CHECK(circles == 2);
    free(svg);
}

int main(void) {
    const char *tmp = getenv("TTT_TEST_TMP");
    snprintf(g_dir, sizeof g_dir, "%s/eval_report_%d", tmp ? tmp : "/tmp", (int)getpid());
    test_records();
    test_svg();
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return check_summary("test_eval_report");
}
