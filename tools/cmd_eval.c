/* cmd_eval.c - `ttt eval`: RULER (and MQAR) at several lengths in the three TTT modes, with
 * per-sample JSONL, summaries, tables and plots; a rerun resumes. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "eval/eval.h"
#include "eval/report.h"
#include "eval_data.h"
#include "eval_run.h"
#include "ttt.h"
#include "util/err.h"

#define MAX_LENGTHS 32

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt eval -m DIR [options]\n"
            "\n"
            "Long-context evaluation: RULER tasks (and MQAR) at each length, in each mode:\n"
            "  in_context  TTT off: the model as a plain long-context model\n"
            "  ttt         TTT on while reading and answering (the paper's evaluation)\n"
            "  strict      read the context with TTT, fold the partial chunk in, drop the KV\n"
            "              cache, answer the question alone with the fast weights frozen\n"
            "Writes OUT/samples.jsonl (one line per sample, as it goes), summary.json,\n"
            "summary.csv, results.md and plots/*.svg. The same command again resumes.\n"
            "\n"
            "  -m, --model DIR    Hugging Face checkpoint directory (with its tokenizer)\n"
            "  --tasks LIST       RULER tasks (niah_single_1..3, niah_multikey_1..3,\n"
            "                     niah_multivalue, niah_multiquery, vt, cwe, fwe, qa_1, qa_2),\n"
            "                     all, and/or mqar (default: all)\n"
            "  --lengths LIST     target lengths in tokens, prompt + answer (default 4k)\n"
            "  --modes LIST       in_context, ttt, strict (default: all three)\n"
            "  --samples N        samples per task, length and mode (default 10)\n"
            "  --seed N           random seed of the generators (default 42)\n"
            "  -o, --out DIR      output directory (default eval-out)\n"
            "  --chat             wrap prompts in the model's chat format\n"
            "  --label NAME       model name in the outputs (default: the directory's name)\n"
            "  --mqar-kv N        MQAR key-value pairs (default: length / 32, at least 4)\n"
            "  -t, --threads N    CPU threads (default: all)\n"
            "  -b, --batch-size N tokens per forward step (default 512)\n"
            CLI_MODEL_OPTIONS_HELP EVAL_DATA_HELP);
}

typedef struct ev {
    ttt_model *model;
    ttt_model_info info;
    ttt_tokenizer *tok;
    ttt_session *sess;
    ttt_eval_report *rep;
    const char *label;
    int modes[EVAL_MODE_COUNT], n_modes;
    int samples;
    uint64_t seed;
    bool chat;
    int n_text;            /* ids the tokenizer can decode (the model may pad its vocab) */
    /* progress */
    long total, done, ran;
    double t0;
    double acc_sum;
} ev;

static ttt_status count_tokens(void *ctx, const char *text, size_t len, int *n) {
    int32_t *ids = NULL;
    size_t k = 0;
    ttt_status st = ttt_tokenize(ctx, text, len, 0, &ids, &k);
    free(ids);
    *n = (int)(k > (size_t)1 << 30 ? 1 << 30 : k);
    return st;
}

static void progress(ev *e, const char *task, int length, const char *mode) {
    if (!isatty(2)) return;
    double dt = cli_now() - e->t0;
    double eta = e->ran > 0 ? dt / (double)e->ran * (double)(e->total - e->done) : 0;
    fprintf(stderr, "\r\033[K  [%ld/%ld] %s %d %s  mean score %.1f  %.1f s/sample  ETA %.0f s",
            e->done, e->total, task, length, mode, e->ran ? 100 * e->acc_sum / e->ran : 0.0,
            e->ran ? dt / e->ran : 0.0, eta);
}

static int add_record(ev *e, const char *task, int length, const char *mode, int index,
                      const char *pred, const char *const *refs, int n_refs, double score,
                      const eval_result *r) {
    ttt_eval_record rec = {.model = e->label, .task = task, .length = length, .mode = mode,
                           .index = index, .prediction = pred, .refs = refs,
                           .n_refs = n_refs, .score = score, .prompt_tokens = r->n_prompt,
                           .prefill_s = r->t_prefill, .decode_s = r->t_decode,
                           .decode_tokens = r->n_gen,
                           .peak_mem_bytes = r->peak_rss > 0 ? (uint64_t)r->peak_rss : 0};
    if (ttt_eval_report_add(e->rep, &rec) != TTT_OK) return cli_fail("eval", ttt_last_error());
    e->done++, e->ran++;
    e->acc_sum += score;
    progress(e, task, length, mode);
    return 0;
}

/* Text to ids; a fresh sequence gets the tokenizer's BOS unless the chat format put one in. */
static int encode(ev *e, const char *a, const char *b, int32_t **ids, int *n) {
    size_t la = strlen(a), lb = b ? strlen(b) : 0, k = 0;
    char *t = malloc(la + lb + 1);
    if (!t) return cli_fail("eval", "out of memory");
    memcpy(t, a, la);
    if (b) memcpy(t + la, b, lb);
    t[la + lb] = 0;
    ttt_status st = ttt_tokenize(e->tok, t, la + lb, e->chat ? 0 : TTT_TOK_ADD_SPECIAL, ids, &k);
    free(t);
    if (st != TTT_OK) return cli_fail("eval", ttt_last_error());
    *n = (int)k;
    return 0;
}

static int ruler_sample(ev *e, const ttt_eval_sample *s) {
    const char *task = ttt_ruler_task_name(s->task);
    int32_t *full = NULL, *ctx = NULL, *quest = NULL;
    int nf = 0, nc = 0, nq = 0, rc = 0;
    const int32_t *eog;
    int n_eog = ttt_tokenizer_eog_ids(e->tok, &eog);
    for (int mi = 0; mi < e->n_modes && !rc; mi++) {
        const char *mode = eval_mode_name(e->modes[mi]);
        if (ttt_eval_report_done(e->rep, e->label, task, s->length, mode, s->index)) {
            e->done++;
            continue;
        }
        if (!full && (encode(e, s->context, s->question, &full, &nf) ||
                      encode(e, s->context, NULL, &ctx, &nc) ||
                      encode(e, s->question, NULL, &quest, &nq))) {
            rc = 1;
            break;
        }
        eval_prompt p = {.full = full, .n_full = nf, .ctx = ctx, .n_ctx = nc, .quest = quest,
                         .n_quest = nq};
        eval_result r;
        ttt_status st = eval_run_sample(e->sess, e->modes[mi], &p, s->max_new_tokens, eog, n_eog,
                                        e->n_text, &r);
        char *pred = NULL;
        size_t len;
        if (st == TTT_OK)
            st = ttt_detokenize(e->tok, r.gen, (size_t)r.n_gen, TTT_TOK_SKIP_SPECIAL, &pred, &len);
        if (st != TTT_OK) {
            rc = cli_fail("eval", ttt_last_error());
        } else {
            double score = ttt_eval_score(s->scorer, pred, (const char *const *)s->refs, s->n_refs);
            rc = add_record(e, task, s->length, mode, s->index, pred,
                            (const char *const *)s->refs, s->n_refs, score, &r);
        }
        free(pred);
        free(r.gen);
    }
    free(full);
    free(ctx);
    free(quest);
    return rc;
}

/* MQAR: teacher-forced argmax at the query positions, in pieces so the logits stay small. */
/* MQAR's parameters at a length: the model's vocabulary (at most 8192 ids), length / 32 pairs
 * unless --mqar-kv; checked by making the first example, so a length the vocabulary cannot
 * serve fails before any model work. */
static ttt_status mqar_params(const ev *e, int length, int n_kv, ttt_mqar_params *p) {
    *p = ttt_mqar_default_params();
    p->vocab_size = e->info.n_vocab < 8192 ? e->info.n_vocab & ~1 : 8192;
    p->seq_len = length & ~1;
    p->n_kv = n_kv > 0 ? n_kv : (length / 32 > 4 ? length / 32 : 4);
    int32_t *in = malloc(sizeof(int32_t) * (size_t)p->seq_len * 2);
    if (!in) return ttt_err(TTT_ERR_NOMEM, "mqar: out of memory");
    ttt_status st = ttt_mqar_generate(p, e->seed, 0, 1, in, in + p->seq_len);
    free(in);
    return st;
}

static int mqar_length(ev *e, int length, int n_kv) {
    ttt_mqar_params p;
    if (mqar_params(e, length, n_kv, &p) != TTT_OK) return cli_fail("eval", ttt_last_error());
    const int L = p.seq_len, V = e->info.n_vocab, PIECE = 256;
    int32_t *in = malloc(sizeof(int32_t) * L), *lab = malloc(sizeof(int32_t) * L);
    int32_t *pred = malloc(sizeof(int32_t) * L);
    float *logits = malloc(sizeof(float) * (size_t)PIECE * V);
    int rc = !in || !lab || !pred || !logits ? cli_fail("eval", "out of memory") : 0;
    for (int idx = 0; idx < e->samples && !rc; idx++) {
        if (ttt_mqar_generate(&p, e->seed, idx, 1, in, lab) != TTT_OK) {
            rc = cli_fail("eval", ttt_last_error());
            break;
        }
        for (int mi = 0; mi < e->n_modes && !rc; mi++) {
            const char *mode = eval_mode_name(e->modes[mi]);
            if (e->modes[mi] == EVAL_MODE_STRICT ||
                ttt_eval_report_done(e->rep, e->label, "mqar", length, mode, idx)) {
                e->done++;
                continue;
            }
            ttt_session_reset(e->sess);
            ttt_status st = ttt_session_set_ttt(
                e->sess, e->modes[mi] == EVAL_MODE_TTT ? TTT_MODE_ON : TTT_MODE_OFF);
            cli_rss_reset();
            double t0 = cli_now();
            for (int pos = 0; pos < L && st == TTT_OK; pos += PIECE) {
                int n = L - pos < PIECE ? L - pos : PIECE;
                st = ttt_session_eval(e->sess, in + pos, n,
                                      &(ttt_eval_out){.logits = logits, .logits_all = 1});
                for (int t = 0; t < n && st == TTT_OK; t++) {
                    const float *l = logits + (size_t)t * V;
                    int b = 0;
                    for (int j = 1; j < V; j++) b = l[j] > l[b] ? j : b;
                    pred[pos + t] = b;
                }
            }
            if (st != TTT_OK) {
                rc = cli_fail("eval", ttt_last_error());
                break;
            }
            eval_result r = {.n_prompt = L, .t_prefill = cli_now() - t0,
                             .peak_rss = cli_rss_peak()};
            double acc = ttt_mqar_accuracy(lab, pred, 1, L);
            char desc[64];
            snprintf(desc, sizeof desc, "%d kv pairs, accuracy %.4f", p.n_kv, acc);
            rc = add_record(e, "mqar", length, mode, idx, desc, NULL, 0, acc, &r);
        }
    }
    free(in);
    free(lab);
    free(pred);
    free(logits);
    return rc;
}

/* The chat format's text before and after a user message (RULER's template split). */
static int chat_parts(ev *e, char **user, char **asst) {
    static const char MARK[] = "\x01ttt-user\x01";
    ttt_chat_msg m = {.role = "user", .content = MARK};
    ttt_chat_params cp = ttt_chat_default_params();
    cp.add_generation_prompt = 1;
    char *t;
    if (ttt_chat_apply(e->tok, &m, 1, &cp, &t) != TTT_OK) return cli_fail("eval", ttt_last_error());
    char *at = strstr(t, MARK);
    if (!at) {
        free(t);
        return cli_fail("eval", "the chat format lost the user message");
    }
    *at = 0;
    *user = t;
    *asst = strdup(at + sizeof MARK - 1);
    return *asst ? 0 : cli_fail("eval", "out of memory");
}

int cmd_eval(int argc, char **argv) {
    const char *model_dir = NULL, *tasks_arg = "all", *lengths_arg = "4k", *out = "eval-out",
               *modes_arg = "in_context,ttt,strict", *v;
    ev e = {.samples = 10, .seed = 42};
    eval_data d = {0};
    long long x;
    int n_batch = 0, mqar_kv = 0;
    ttt_model_params mp = ttt_model_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = eval_data_parse(&d, argc, argv, &i);
        if (!r) r = cli_model_option(argc, argv, &i, &mp);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model_dir = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--tasks")) {
            if (!(tasks_arg = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--lengths")) {
            if (!(lengths_arg = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--modes")) {
            if (!(modes_arg = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) {
            if (!(out = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--label")) {
            if (!(e.label = cli_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--chat")) {
            e.chat = true;
        } else if (!strcmp(a, "--samples")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 20, &x)) return 2;
            e.samples = (int)x;
        } else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 0, INT64_MAX, &x)) return 2;
            e.seed = (uint64_t)x;
        } else if (!strcmp(a, "--mqar-kv")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 20, &x)) return 2;
            mqar_kv = (int)x;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 4096, &x)) return 2;
            ttt_set_threads((int)x);
        } else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size")) {
            if (!(v = cli_value(argc, argv, &i)) || !cli_int(a, v, 1, 1 << 20, &x)) return 2;
            n_batch = (int)x;
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option '%s'", a);
            return cli_usage_error("eval", msg);
        }
    }
    if (!model_dir) return cli_usage_error("eval", "missing -m DIR");

    /* tasks: RULER names, "all", and "mqar" */
    int tasks[TTT_RULER_N_TASKS], n_tasks = 0, lengths[MAX_LENGTHS];
    bool mqar = false;
    char *rest = malloc(strlen(tasks_arg) + 1), *save = NULL;
    char *list = strdup(tasks_arg);
    if (!rest || !list) return cli_fail("eval", "out of memory");
    rest[0] = 0;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "mqar")) {
            mqar = true;
            continue;
        }
        if (*rest) strcat(rest, ",");
        strcat(rest, t);
    }
    free(list);
    if (*rest && ttt_ruler_task_list(rest, tasks, &n_tasks) != TTT_OK) {
        free(rest);
        return cli_usage_error("eval", ttt_last_error());
    }
    free(rest);
    if (!n_tasks && !mqar) return cli_usage_error("eval", "--tasks names no task");
    int n_len = eval_parse_lengths("--lengths", lengths_arg, lengths, MAX_LENGTHS);
    if (n_len < 0) return 2;
    char *ml = strdup(modes_arg);
    for (char *t = ml ? strtok_r(ml, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
        int m = eval_mode_parse(t);
        if (m < 0) {
            fprintf(stderr, "ttt eval: unknown mode '%s' (in_context, ttt, strict)\n", t);
            free(ml);
            return 2;
        }
        bool dup = false;
        for (int k = 0; k < e.n_modes; k++) dup |= e.modes[k] == m;
        if (!dup) e.modes[e.n_modes++] = m;
    }
    free(ml);
    if (!e.n_modes) return cli_usage_error("eval", "--modes names no mode");

    int rc = 1, max_len = 0;
    char *dir_copy = strdup(model_dir), *chat_user = NULL, *chat_asst = NULL;
    if (!e.label) e.label = dir_copy ? basename(dir_copy) : "model";
    for (int i = 0; i < n_len; i++) max_len = lengths[i] > max_len ? lengths[i] : max_len;
    ttt_ruler_config cfg = {.seed = e.seed};
    if (n_tasks && eval_data_load(&d, "eval", &cfg)) goto out;
    if (ttt_model_load_ex(model_dir, &mp, &e.model) != TTT_OK ||
        ttt_tokenizer_load(model_dir, &e.tok) != TTT_OK) {
        cli_fail("eval", ttt_last_error());
        goto out;
    }
    ttt_model_get_info(e.model, &e.info);
    e.n_text = ttt_tokenizer_n_vocab(e.tok) < e.info.n_vocab ? ttt_tokenizer_n_vocab(e.tok)
                                                             : e.info.n_vocab;
    if (e.chat && chat_parts(&e, &chat_user, &chat_asst)) goto out;
    cfg.chat_user = chat_user;
    cfg.chat_assistant = chat_asst;
    cfg.count = count_tokens;
    cfg.count_ctx = e.tok;
    ttt_session_params sp = ttt_session_default_params();
    sp.n_ctx = max_len + 64;
    if (n_batch) sp.n_batch = n_batch;
    /* every generator first: a length too small for a template fails before any model work */
    ttt_ruler_gen *gens[MAX_LENGTHS][TTT_RULER_N_TASKS] = {{0}};
    double t_gen = 0, t0 = cli_now();
    e.total = (long)n_len * mqar * e.samples * e.n_modes;
    rc = 0;
    for (int li = 0; li < n_len && !rc; li++)
        for (int ti = 0; ti < n_tasks && !rc; ti++) {
            ttt_status st = ttt_ruler_gen_init(&cfg, tasks[ti], lengths[li], &gens[li][ti]);
            if (st == TTT_ERR_UNSUPPORTED) {
                if (li == 0)
                    fprintf(stderr, "ttt eval: skipping %s: %s\n",
                            ttt_ruler_task_name(tasks[ti]), ttt_last_error());
            } else if (st != TTT_OK) {
                rc = cli_fail("eval", ttt_last_error());
            } else {
                e.total += (long)e.samples * e.n_modes;
            }
        }
    for (int li = 0; mqar && li < n_len && !rc; li++) {
        ttt_mqar_params p;
        if (mqar_params(&e, lengths[li], mqar_kv, &p) != TTT_OK)
            rc = cli_fail("eval", ttt_last_error());
    }
    t_gen += cli_now() - t0;
    if (!rc && (ttt_session_init(e.model, &sp, &e.sess) != TTT_OK ||
                ttt_eval_report_open(out, &e.rep) != TTT_OK))
        rc = cli_fail("eval", ttt_last_error());
    if (!rc && ttt_eval_report_resumed(e.rep))
        fprintf(stderr, "ttt eval: resuming: %d samples already in %s/samples.jsonl\n",
                ttt_eval_report_resumed(e.rep), out);
    if (!rc && ttt_eval_report_torn_bytes(e.rep))
        fprintf(stderr, "ttt eval: dropped a torn last line (%ld bytes) of an interrupted run\n",
                ttt_eval_report_torn_bytes(e.rep));
    e.t0 = cli_now();
    for (int li = 0; li < n_len && !rc; li++) {
        for (int ti = 0; ti < n_tasks && !rc; ti++) {
            for (int k = 0; gens[li][ti] && k < e.samples && !rc; k++) {
                ttt_eval_sample s;
                t0 = cli_now();
                ttt_status st = ttt_ruler_gen_sample(gens[li][ti], k, &s);
                t_gen += cli_now() - t0;
                if (st != TTT_OK) {
                    rc = cli_fail("eval", ttt_last_error());
                    break;
                }
                rc = ruler_sample(&e, &s);
                ttt_eval_sample_free(&s);
            }
        }
        if (mqar && !rc) rc = mqar_length(&e, lengths[li], mqar_kv);
    }
    for (int li = 0; li < n_len; li++)
        for (int ti = 0; ti < n_tasks; ti++) ttt_ruler_gen_free(gens[li][ti]);
    if (isatty(2)) fputs("\r\033[K", stderr);
    if (!rc && ttt_eval_report_write(e.rep) != TTT_OK) rc = cli_fail("eval", ttt_last_error());
    if (!rc) {
        char path[4096];
        snprintf(path, sizeof path, "%s/results.md", out);
        char *md;
        size_t len;
        if (cli_read_file("eval", path, &md, &len)) {
            fwrite(md, 1, len, stdout);
            free(md);
        }
        double dt = cli_now() - e.t0;
        fprintf(stderr, "ttt eval: %ld samples run in %.1f s (prompt building %.2f s, %.1f%%); "
                        "results in %s\n",
                e.ran, dt, t_gen, dt > 0 ? 100 * t_gen / dt : 0.0, out);
    }
out:
    ttt_eval_report_free(e.rep);
    ttt_session_free(e.sess);
    ttt_tokenizer_free(e.tok);
    ttt_model_free(e.model);
    eval_data_free(&d);
    free(chat_user);
    free(chat_asst);
    free(dir_copy);
    return rc;
}
