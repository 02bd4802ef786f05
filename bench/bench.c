/* bench.c - `ttt bench`: prefill and decode speed in the spirit of llama-bench, each result
 * next to the ceiling this machine allows, measured in the same run:
 *   prefill (ppN): sgemm FLOP/s over the FLOPs per token;
 *   decode (tgN, at depth d): read bandwidth over the bytes per token (weights + KV + fast
 *   weights read to produce one token).
 * FLOPs and bytes per token come from ttt_session_cost. A shared host's speed drifts by 2x
 * over minutes, so each repetition is bracketed by probe samples (three each time): the
 * ceiling of a test is the best sample taken around its own repetitions, and the best sample
 * of the whole run is reported beside it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ceilings.h"
#include "cli.h"
#include "ttt.h"

#define MAX_LIST 16

typedef struct bench_opts {
    const char *model_dir;
    int pp[MAX_LIST], n_pp;
    int tg[MAX_LIST], n_tg;
    int depth[MAX_LIST], n_depth;
    int np[MAX_LIST], n_np; /* sequences decoding together (ttt_batch) */
    int reps;
    int ttt[2], n_ttt; /* modes to run */
    int json;
    int threads;
    int n_batch;        /* tokens per forward step (0: 512 on the CPU, 4096 on cuda) */
    size_t probe_bytes; /* buffer of the bandwidth probe */
    ttt_model_params mp; /* device and precision */
} bench_opts;

typedef struct result {
    char test[48];
    int n_prompt, n_gen, depth, ttt, np;
    double tps, tps_sd, flops_per_token, bytes_per_token;
    double ceiling;     /* best probe sample around the repetitions (FLOP/s or bytes/s) */
    double ceiling_tps; /* ceiling / (FLOPs or bytes per token) */
    long long peak_rss;
} result;

typedef struct probes {
    bench_probe *p;
    int gpu; /* ceilings of the GPU: bf16 GEMM and device copy bandwidth */
    double best_bw, best_sgemm;
} probes;

/* The best of three samples of the ceiling a test is compared with (sgemm for prefill,
 * memory for decode). */
static double sample(probes *pr, int prefill) {
    double v = 0;
    for (int i = 0; i < 3; i++) {
        double x = 0, flops = 0, bw = 0;
        if (pr->gpu && ttt_device_probe(TTT_DEVICE_CUDA, &flops, &bw) == TTT_OK)
            x = prefill ? flops : bw;
        else if (!pr->gpu)
            x = prefill ? bench_probe_sgemm(pr->p) : bench_probe_bandwidth(pr->p);
        v = x > v ? x : v;
    }
    double *best = prefill ? &pr->best_sgemm : &pr->best_bw;
    *best = v > *best ? v : *best;
    return v;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt bench -m DIR [options]\n"
            "\n"
            "  -m DIR          model directory\n"
            "  -p LIST         prompt sizes to prefill (default 512,4096)\n"
            "  -n LIST         tokens to generate (default 128)\n"
            "  -d LIST         depths (tokens already in the context) for decode (default 0)\n"
            "  -np LIST        sequences decoding together, each with its own KV cache and\n"
            "                  fast weights (ttt_batch_decode; default 1); t/s counts the\n"
            "                  tokens of all of them\n"
            "  -r N            repetitions (default 3)\n"
            "  -b N            tokens per forward step (default 512; 4096 on cuda)\n"
            "  -t N            threads (default: all cores)\n"
            "  --ttt MODE      on, off or both (default both)\n"
            "  --json          one JSON object per line instead of a Markdown table\n"
            "  --probe-mib N   buffer of the bandwidth probe (default 1024; keep it far above\n"
            "                  the last-level cache)\n" CLI_MODEL_OPTIONS_HELP
            "On cuda the ceilings are cuBLASLt's bf16 GEMM rate and the device copy bandwidth,\n"
            "and the memory column is the peak of GPU memory held by ttt.\n");
}

static void tokens_fill(int32_t *t, int n, int vocab, unsigned seed) {
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        t[i] = (int32_t)((seed >> 8) % (unsigned)vocab);
    }
}

static void stats(const double *x, int n, double *mean, double *sd) {
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(ss / (n - 1)) : 0;
}

/* A progress line on a terminal: the test, its repetition, the last rate, ETA. */
static void progress(const char *what, int rep, int reps, double tps, double rep_seconds) {
    if (!isatty(2)) return;
    if (rep < 0)
        fprintf(stderr, "\r\033[K  %s  warm-up", what);
    else
        fprintf(stderr, "\r\033[K  %s  %d/%d  %.2f t/s  ETA %.0f s", what, rep + 1, reps, tps,
                rep_seconds * (reps - rep));
    fflush(stderr);
}

#define BENCH_TOP_K 40 /* llama.cpp's default top_k */

/* np sessions decode n_gen tokens together after depth tokens each (their own tokens);
 * returns tokens/s over all sequences, the bytes read per token in *bytes (the shared weights
 * once per step, each sequence's KV cache and fast weights) and FLOPs per token in *flops. */
static double batch_decode(ttt_session **ss, int np, ttt_batch *b, const int32_t *tok,
                           int depth, int n_gen, const ttt_eval_out *out, double *flops,
                           double *bytes) {
    int32_t *t = malloc(sizeof(int32_t) * (size_t)np);
    if (!t) return -1;
    /* the weights alone: what a token of an empty sequence reads; a step reads them once */
    ttt_cost w;
    ttt_session_reset(ss[0]);
    ttt_session_cost(ss[0], 1, 1, &w);
    for (int k = 0; k < np; k++) {
        ttt_session_reset(ss[k]);
        /* each sequence its own tokens: a rotation of the same stream */
        if (depth > 0 && ttt_session_eval(ss[k], tok + k, depth, NULL) != TTT_OK) {
            free(t);
            return -1;
        }
    }
    double f = 0, by = 0, t0 = cli_now();
    for (int i = 0; i < n_gen; i++) {
        for (int k = 0; k < np; k++) {
            ttt_cost c;
            ttt_session_cost(ss[k], 1, 1, &c);
            f += c.flops;
            by += c.bytes - (k > 0 ? w.bytes : 0);
            t[k] = tok[k + depth + i];
        }
        if (ttt_batch_decode_out(b, ss, np, t, out) != TTT_OK) {
            free(t);
            return -1;
        }
    }
    double dt = cli_now() - t0;
    free(t);
    *flops = f / ((double)np * n_gen);
    *bytes = by / ((double)np * n_gen);
    return (double)np * n_gen / dt;
}

/* One test: prefill n_prompt tokens, or generate n_gen after depth tokens (np sequences). */
static int run_test(ttt_model *m, const bench_opts *o, probes *pr, int ttt, int n_prompt,
                    int n_gen, int depth, int np, result *r) {
    ttt_model_info info;
    ttt_model_get_info(m, &info);
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = depth + n_prompt + n_gen + 1;
    sp.ttt_mode = ttt ? TTT_MODE_ON : TTT_MODE_OFF;
    sp.n_batch = o->n_batch > 0 ? o->n_batch : o->mp.device == TTT_DEVICE_CUDA ? 4096 : 512;
    if (np > 1 && sp.n_batch > 512) sp.n_batch = 512; /* step buffers of np sessions */
    int total = n_prompt > 0 ? n_prompt : depth + n_gen + np;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)(total > 0 ? total : 1));
    /* each step returns what llama.cpp's default sampler needs: every row's 40 largest
     * logits (selected where the model runs) */
    float *top_logit = malloc(sizeof(float) * BENCH_TOP_K * np);
    int32_t *top_id = malloc(sizeof(int32_t) * BENCH_TOP_K * np);
    ttt_session **ss = calloc((size_t)np, sizeof *ss);
    ttt_batch *bt = NULL;
    double times[64];
    int reps = o->reps < 64 ? o->reps : 64;
    ttt_session *s = NULL;
    memset(r, 0, sizeof *r);
    r->n_prompt = n_prompt;
    r->n_gen = n_gen;
    r->depth = depth;
    r->ttt = ttt;
    r->np = np;
    char npx[16] = "";
    if (np > 1) snprintf(npx, sizeof npx, " x%d", np);
    if (n_prompt > 0) snprintf(r->test, sizeof r->test, "pp%d", n_prompt);
    else if (depth > 0) snprintf(r->test, sizeof r->test, "tg%d @ d%d%s", n_gen, depth, npx);
    else snprintf(r->test, sizeof r->test, "tg%d%s", n_gen, npx);
    if (!tok || !top_logit || !top_id || !ss) goto fail;
    for (int k = 0; k < np; k++)
        if (ttt_session_init(m, &sp, &ss[k]) != TTT_OK) goto fail;
    s = ss[0];
    if (np > 1 && ttt_batch_init(m, np, &bt) != TTT_OK) goto fail;
    tokens_fill(tok, total, info.n_vocab, 1234u + (unsigned)total);
    cli_rss_reset();
    if (pr->gpu) ttt_device_memory(TTT_DEVICE_CUDA, NULL, NULL, 1);
    double flops = 0, bytes = 0, last_tps = 0, last_seconds = 0;
    for (int rep = -1; rep < reps; rep++) { /* rep -1 warms caches and page mappings */
        if (rep >= 0) r->ceiling = fmax(r->ceiling, sample(pr, n_prompt > 0));
        progress(r->test, rep, reps, last_tps, last_seconds);
        double rep_t0 = cli_now();
        ttt_session_reset(s);
        const ttt_eval_out out = {.top_k = info.n_vocab < BENCH_TOP_K ? info.n_vocab : BENCH_TOP_K,
                                  .top_logit = top_logit,
                                  .top_id = top_id};
        if (n_prompt > 0) {
            ttt_cost c;
            ttt_session_cost(s, n_prompt, 1, &c);
            double t0 = cli_now();
            if (ttt_session_eval(s, tok, n_prompt, &out) != TTT_OK) goto fail;
            last_tps = n_prompt / (cli_now() - t0);
            flops = c.flops / n_prompt;
            bytes = c.bytes / n_prompt;
        } else if (np > 1) {
            if ((last_tps = batch_decode(ss, np, bt, tok, depth, n_gen, &out, &flops,
                                         &bytes)) < 0)
                goto fail;
        } else {
            if (depth > 0 && ttt_session_eval(s, tok, depth, NULL) != TTT_OK) goto fail;
            double f = 0, b = 0, t0 = cli_now();
            for (int i = 0; i < n_gen; i++) {
                ttt_cost c;
                ttt_session_cost(s, 1, 1, &c);
                f += c.flops;
                b += c.bytes;
                if (ttt_session_eval(s, tok + depth + i, 1, &out) != TTT_OK) goto fail;
            }
            last_tps = n_gen / (cli_now() - t0);
            flops = f / n_gen;
            bytes = b / n_gen;
        }
        if (rep >= 0) times[rep] = last_tps;
        last_seconds = cli_now() - rep_t0;
    }
    r->ceiling = fmax(r->ceiling, sample(pr, n_prompt > 0));
    if (isatty(2)) fprintf(stderr, "\r\033[K");
    stats(times, reps, &r->tps, &r->tps_sd);
    r->ceiling_tps = r->ceiling / (n_prompt > 0 ? flops : bytes);
    r->flops_per_token = flops;
    r->bytes_per_token = bytes;
    /* the probe's buffer is resident for the whole run: not the model's memory */
    r->peak_rss = cli_rss_peak() - (long long)o->probe_bytes;
    if (pr->gpu) {
        uint64_t peak = 0;
        ttt_device_memory(TTT_DEVICE_CUDA, NULL, &peak, 0);
        r->peak_rss = (long long)peak;
    }
    for (int k = 0; k < np; k++) ttt_session_free(ss[k]);
    ttt_batch_free(bt);
    free(ss);
    free(tok);
    free(top_logit);
    free(top_id);
    return 0;
fail:
    fprintf(stderr, "ttt bench: %s: %s\n", r->test, ttt_last_error());
    for (int k = 0; ss && k < np; k++) ttt_session_free(ss[k]);
    ttt_batch_free(bt);
    free(ss);
    free(tok);
    free(top_logit);
    free(top_id);
    return -1;
}

static void print_json(const bench_opts *o, const ttt_model_info *info, const result *r,
                       const probes *pr) {
    const int pp = r->n_prompt > 0;
    const double best = pp ? pr->best_sgemm / r->flops_per_token : pr->best_bw / r->bytes_per_token;
    printf("{\"model\": \"%s\", \"arch\": \"%s\", \"n_params\": %llu, \"weight_bytes\": %llu, "
           "\"dtype\": \"%s\", \"threads\": %d, \"test\": \"%s\", \"n_prompt\": %d, "
           "\"n_gen\": %d, \"n_depth\": %d, \"n_seqs\": %d, \"ttt\": %s, \"ttt_chunk\": %d, "
           "\"tokens_per_second\": %.3f, \"stddev\": %.3f, \"ceiling_tokens_per_second\": %.3f, "
           "\"ceiling\": \"%s\", \"fraction_of_ceiling\": %.4f, "
           "\"best_ceiling_tokens_per_second\": %.3f, \"flops_per_token\": %.6g, "
           "\"bytes_per_token\": %.6g, \"%s\": %.6g, \"peak_rss_bytes\": %lld, \"device\": \"%s\"}\n",
           o->model_dir, info->arch, (unsigned long long)info->n_params,
           (unsigned long long)info->weight_bytes, ttt_dtype_name(info->dtype), o->threads,
           r->test, r->n_prompt, r->n_gen, r->depth, r->np, r->ttt ? "true" : "false", info->ttt_chunk,
           r->tps, r->tps_sd, r->ceiling_tps, pp ? "sgemm" : "memory", r->tps / r->ceiling_tps,
           best, r->flops_per_token, r->bytes_per_token,
           pp ? "sgemm_flops" : "mem_bandwidth_bytes", r->ceiling, r->peak_rss,
           ttt_device_name(o->mp.device));
    fflush(stdout);
}

static void print_row(const ttt_model_info *info, const bench_opts *o, const result *r) {
    printf("| %-6s | %7.2f GiB | %6.2f B | %-4s | %7d | %-4s | %15s | %8.2f ± %6.2f | %9.2f | "
           "%5.1f%% | %7.2f GiB |\n",
           info->arch, info->weight_bytes / 1073741824.0, info->n_params / 1e9,
           ttt_dtype_name(info->dtype), o->threads, r->ttt ? "on" : "off", r->test, r->tps,
           r->tps_sd, r->ceiling_tps, 100.0 * r->tps / r->ceiling_tps, r->peak_rss / 1073741824.0);
    fflush(stdout);
}

static int parse(int argc, char **argv, bench_opts *o) {
    o->pp[0] = 512;
    o->pp[1] = 4096;
    o->n_pp = 2;
    o->tg[0] = 128;
    o->n_tg = 1;
    o->n_depth = 1;
    o->np[0] = 1;
    o->n_np = 1;
    o->reps = 3;
    o->ttt[0] = 1;
    o->ttt[1] = 0;
    o->n_ttt = 2;
    o->probe_bytes = (size_t)1 << 30;
    o->mp = ttt_model_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long x;
        int mo = cli_model_option(argc, argv, &i, &o->mp);
        if (mo < 0) return -1;
        if (mo > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(o->model_dir = cli_value(argc, argv, &i))) return -1;
        } else if (!strcmp(a, "-p")) {
            if (!(v = cli_value(argc, argv, &i))) return -1;
            if ((o->n_pp = cli_int_list(a, v, o->pp, MAX_LIST)) < 0) return -1;
        } else if (!strcmp(a, "-n")) {
            if (!(v = cli_value(argc, argv, &i))) return -1;
            if ((o->n_tg = cli_int_list(a, v, o->tg, MAX_LIST)) < 0) return -1;
        } else if (!strcmp(a, "-d")) {
            if (!(v = cli_value(argc, argv, &i))) return -1;
            if ((o->n_depth = cli_int_list(a, v, o->depth, MAX_LIST)) < 0) return -1;
        } else if (!strcmp(a, "-np")) {
            if (!(v = cli_value(argc, argv, &i))) return -1;
            if ((o->n_np = cli_int_list(a, v, o->np, MAX_LIST)) < 0) return -1;
            for (int k = 0; k < o->n_np; k++)
                if (o->np[k] < 1 || o->np[k] > 4096) {
                    cli_usage_error("bench", "-np values must be 1 to 4096");
                    return -1;
                }
        } else if (!strcmp(a, "-r")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 64, &x)) return -1;
            o->reps = (int)x;
        } else if (!strcmp(a, "-b")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 20, &x)) return -1;
            o->n_batch = (int)x;
        } else if (!strcmp(a, "-t")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1024, &x)) return -1;
            o->threads = (int)x;
        } else if (!strcmp(a, "--ttt")) {
            if (!(v = cli_value(argc, argv, &i))) return -1;
            if (!strcmp(v, "on")) o->n_ttt = 1;
            else if (!strcmp(v, "off")) o->ttt[0] = 0, o->n_ttt = 1;
            else if (strcmp(v, "both")) {
                cli_usage_error("bench", "--ttt must be on, off or both");
                return -1;
            }
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--probe-mib")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 20, &x)) return -1;
            o->probe_bytes = (size_t)x << 20;
        } else {
            fprintf(stderr, "ttt bench: unknown option '%s' (see ttt bench --help)\n", a);
            return -1;
        }
    }
    if (!o->model_dir) {
        cli_usage_error("bench", "no model directory (-m DIR)");
        return -1;
    }
    /* every test's context must fit an int */
    for (int i = 0; i < o->n_tg; i++)
        for (int j = 0; j < o->n_depth; j++)
            if ((long long)o->tg[i] + o->depth[j] + 4097 > (1LL << 30)) {
                cli_usage_error("bench", "-n plus -d exceeds 2^30 tokens");
                return -1;
            }
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = {0};
    if (parse(argc, argv, &o)) return 2;
    ttt_set_threads(o.threads);
    o.threads = ttt_get_threads();
    ttt_model *m;
    if (ttt_model_load_ex(o.model_dir, &o.mp, &m) != TTT_OK)
        return cli_fail("bench", ttt_last_error());
    ttt_model_info info;
    ttt_model_get_info(m, &info);
    if (!info.ttt_enabled) { /* a model without TTT layers: TTT on equals off */
        o.ttt[0] = 0;
        o.n_ttt = 1;
    }
    const int gpu = o.mp.device == TTT_DEVICE_CUDA;
    if (gpu) o.probe_bytes = 0; /* no host probe buffer */
    probes pr = {.p = gpu ? NULL : bench_probe_init(o.probe_bytes), .gpu = gpu};
    const int n_dec = o.n_tg * o.n_depth * o.n_np;
    result *res = calloc((size_t)o.n_ttt * (o.n_pp + n_dec), sizeof *res);
    if ((!pr.p && !gpu) || !res) {
        bench_probe_free(pr.p);
        free(res);
        ttt_model_free(m);
        return cli_fail("bench", "out of memory for the probes");
    }
    int n_res = 0, rc = 0;
    sample(&pr, 0); /* both best-of-run figures exist whatever the tests */
    sample(&pr, 1);
    if (!o.json)
        printf("| model  |        size |   params | type | threads | ttt  |            test |"
               "               t/s | ceiling t/s | of ceil. |    peak RSS |\n"
               "| ------ | ----------: | -------: | ---- | ------: | ---- | --------------: |"
               " ----------------: | ----------: | -------: | ----------: |\n");
    for (int k = 0; k < o.n_ttt; k++) {
        for (int i = 0; i < o.n_pp + n_dec; i++) {
            const int pp = i < o.n_pp, j = i - o.n_pp;
            const int n_prompt = pp ? o.pp[i] : 0;
            const int n_gen = pp ? 0 : o.tg[j / (o.n_depth * o.n_np)];
            const int depth = pp ? 0 : o.depth[j / o.n_np % o.n_depth];
            const int np = pp ? 1 : o.np[j % o.n_np];
            if (n_prompt + n_gen <= 0) continue;
            result *r = &res[n_res];
            if (run_test(m, &o, &pr, o.ttt[k], n_prompt, n_gen, depth, np, r)) {
                rc = 1;
                continue;
            }
            n_res++;
            if (o.json) print_json(&o, &info, r, &pr);
            else print_row(&info, &o, r);
        }
    }
    if (gpu)
        fprintf(stderr, "ttt bench: cuda; best samples of the run: device copy %.1f GB/s, "
                "bf16 GEMM %.1f TFLOP/s\n", pr.best_bw / 1e9, pr.best_sgemm / 1e12);
    else
        fprintf(stderr, "ttt bench: %d threads; best samples of the run: memory read %.1f GB/s, "
                "sgemm %.1f GFLOP/s\n", o.threads, pr.best_bw / 1e9, pr.best_sgemm / 1e9);
    bench_probe_free(pr.p);
    free(res);
    ttt_model_free(m);
    return rc;
}
