/* cmd_train.c - `ttt train`: continual pretraining or adapter training on token shards, with
 * a progress line, a JSONL log, validation, atomic checkpoints, exact resume and a checkpoint
 * on SIGINT/SIGTERM. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "data/labeled.h"
#include "data/loader.h"
#include "io/ckpt.h"
#include "io/file.h"
#include "io/json.h"
#include "util/err.h"
#include "ttt.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

typedef struct train_opts {
    const char *model, *data, *out, *log, *save_dtype;
    ttt_train_params tp;
    int T, B, steps, eval_every, val_batches, save_every, keep_last;
    double val_fraction;
    long long val_count;
    uint64_t seed;
    bool no_resume;
    bool T_set;             /* --seq-len given */
} train_opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: ttt train -m MODEL_DIR --data SHARD_DIR|FILE.safetensors -o OUT_DIR --steps N\n"
            "                 [options]\n"
            "\n"
            "Trains a model on token shards (`ttt data`), or on rows of inputs and labels (a\n"
            ".safetensors with I32 `inputs` and `labels` [n, L], labels -100 where nothing is\n"
            "predicted, as `ttt data --synthetic mqar` writes): exact fp32 forward and backward on\n"
            "the CPU, AdamW. Checkpoints go to OUT_DIR/checkpoint-N (Hugging Face layout plus\n"
            "the optimizer state); the same command again resumes from OUT_DIR/latest with\n"
            "bitwise the same losses as a run that was never stopped. Ctrl-C (or SIGTERM)\n"
            "saves a checkpoint, then exits.\n"
            "\n"
            "what learns:\n"
            "  --train P            all (default), adapter (ttt_conv, ttt_proj and down_proj\n"
            "                       of TTT layers), ttt (ttt_conv and ttt_proj)\n"
            "  --train-regex RE     tensors whose HF name matches RE (POSIX extended)\n"
            "batches:\n"
            "  --seq-len T          tokens per sequence (default 512)\n"
            "  --batch B            sequences per micro-step (default 8)\n"
            "  --grad-accum N       micro-steps per optimizer step (default 1)\n"
            "  --steps N            optimizer steps of the run\n"
            "  --doc-reset          restart the fast weights at each document start\n"
            "optimizer:\n"
            "  --lr LR              peak learning rate (default 1e-3)\n"
            "  --min-lr LR          floor of the decay (default 0)\n"
            "  --warmup-steps N     linear warm-up steps (default 0)\n"
            "  --warmup-ratio R     warm-up as a fraction of --steps\n"
            "  --decay D            constant (default), linear or cosine, after warm-up\n"
            "  --weight-decay W     decoupled weight decay (default 0.1)\n"
            "  --beta1 B, --beta2 B AdamW moments (default 0.9, 0.95)\n"
            "  --eps E              (default 1e-8)\n"
            "  --clip C             global gradient-norm clip; 0: off (default 1.0)\n"
            "validation and output:\n"
            "  --val-fraction F     share of sequences held out (default 0.01)\n"
            "  --val-count N        exactly N sequences held out instead\n"
            "  --eval-every N       validation loss every N steps (default 0: at the end only)\n"
            "  --val-batches N      validation batches per evaluation (default: all)\n"
            "  --save-every N       checkpoint every N steps (default 0: at the end only)\n"
            "  --keep-last K        keep the newest K checkpoints (default 0: all)\n"
            "  --save-dtype T       f32 (default: exact resume) or bf16 (half the size)\n"
            "  --log FILE           JSONL log (default OUT_DIR/train_log.jsonl)\n"
            "  --seed N             data order (default 42)\n"
            "  --no-resume          start afresh even if OUT_DIR has checkpoints\n"
            "  --device D           cpu (default) or cuda: where the float32 parameters, moments\n"
            "                       and activations live and the steps run\n"
            "  -t, --threads N      CPU threads (default: all)\n");
}

static int parse(train_opts *o, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        long long x;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) { CLI_VAL(2); o->model = v;
        } else if (!strcmp(a, "--data")) { CLI_VAL(2); o->data = v;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--out")) { CLI_VAL(2); o->out = v;
        } else if (!strcmp(a, "--log")) { CLI_VAL(2); o->log = v;
        } else if (!strcmp(a, "--train")) {
            CLI_VAL(2);
            if (!strcmp(v, "all")) o->tp.policy = TTT_TRAIN_ALL;
            else if (!strcmp(v, "adapter")) o->tp.policy = TTT_TRAIN_ADAPTER;
            else if (!strcmp(v, "ttt")) o->tp.policy = TTT_TRAIN_TTT;
            else return cli_usage_error("train", "--train must be all, adapter or ttt");
        } else if (!strcmp(a, "--train-regex")) {
            CLI_VAL(2);
            o->tp.policy = TTT_TRAIN_REGEX;
            o->tp.regex = v;
        } else if (!strcmp(a, "--seq-len")) { CLI_INT(1, 1 << 20, 2); o->T = (int)x; o->T_set = true;
        } else if (!strcmp(a, "--batch")) { CLI_INT(1, 1 << 16, 2); o->B = (int)x;
        } else if (!strcmp(a, "--grad-accum")) { CLI_INT(1, 1 << 16, 2); o->tp.grad_accum = (int)x;
        } else if (!strcmp(a, "--steps")) { CLI_INT(1, 1 << 30, 2); o->steps = (int)x;
        } else if (!strcmp(a, "--doc-reset")) { o->tp.doc_reset = 1;
        } else if (!strcmp(a, "--lr")) { CLI_NUM(2); o->tp.lr = d;
        } else if (!strcmp(a, "--min-lr")) { CLI_NUM(2); o->tp.lr_min = d;
        } else if (!strcmp(a, "--warmup-steps")) { CLI_INT(0, 1 << 30, 2); o->tp.warmup_steps = (int)x;
        } else if (!strcmp(a, "--warmup-ratio")) { CLI_NUM(2); o->tp.warmup_ratio = d;
        } else if (!strcmp(a, "--decay")) {
            CLI_VAL(2);
            if (!strcmp(v, "constant")) o->tp.decay = TTT_LR_CONSTANT;
            else if (!strcmp(v, "linear")) o->tp.decay = TTT_LR_LINEAR;
            else if (!strcmp(v, "cosine")) o->tp.decay = TTT_LR_COSINE;
            else return cli_usage_error("train", "--decay must be constant, linear or cosine");
        } else if (!strcmp(a, "--weight-decay")) { CLI_NUM(2); o->tp.weight_decay = d;
        } else if (!strcmp(a, "--beta1")) { CLI_NUM(2); o->tp.beta1 = d;
        } else if (!strcmp(a, "--beta2")) { CLI_NUM(2); o->tp.beta2 = d;
        } else if (!strcmp(a, "--eps")) { CLI_NUM(2); o->tp.eps = d;
        } else if (!strcmp(a, "--clip")) { CLI_NUM(2); o->tp.max_grad_norm = d;
        } else if (!strcmp(a, "--val-fraction")) { CLI_NUM(2); o->val_fraction = d;
        } else if (!strcmp(a, "--val-count")) { CLI_INT(1, 1LL << 40, 2); o->val_count = x;
        } else if (!strcmp(a, "--eval-every")) { CLI_INT(0, 1 << 30, 2); o->eval_every = (int)x;
        } else if (!strcmp(a, "--val-batches")) { CLI_INT(1, 1 << 30, 2); o->val_batches = (int)x;
        } else if (!strcmp(a, "--save-every")) { CLI_INT(0, 1 << 30, 2); o->save_every = (int)x;
        } else if (!strcmp(a, "--keep-last")) { CLI_INT(0, 1 << 20, 2); o->keep_last = (int)x;
        } else if (!strcmp(a, "--save-dtype")) {
            CLI_VAL(2);
            if (strcmp(v, "f32") && strcmp(v, "bf16"))
                return cli_usage_error("train", "--save-dtype must be f32 or bf16");
            o->save_dtype = v;
        } else if (!strcmp(a, "--seed")) { CLI_INT(0, INT64_MAX, 2); o->seed = (uint64_t)x;
        } else if (!strcmp(a, "--no-resume")) { o->no_resume = true;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { CLI_INT(1, 4096, 2); ttt_set_threads((int)x);
        } else if (!strcmp(a, "--device")) {
            CLI_VAL(2);
            if ((o->tp.device = ttt_device_from_name(v)) < 0)
                return cli_usage_error("train", "--device must be cpu or cuda");
        } else {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option '%s'", a);
            return cli_usage_error("train", msg);
        }
    }
    if (!o->model) return cli_usage_error("train", "missing -m MODEL_DIR");
    if (!o->data) return cli_usage_error("train", "missing --data SHARD_DIR");
    if (!o->out) return cli_usage_error("train", "missing -o OUT_DIR");
    if (!o->steps) return cli_usage_error("train", "missing --steps N");
    if (!(o->val_fraction >= 0 && o->val_fraction < 1))
        return cli_usage_error("train", "--val-fraction must be in [0, 1)");
    o->tp.total_steps = o->steps;
    return 0;
}

typedef struct trainer_run {
    train_opts *o;
    ttt_model *model;
    ttt_model_info info;
    ttt_trainer *tr;
    ttt_loader *ld;        /* token shards, or */
    ttt_labeled *lset;     /* (inputs, labels) rows of a .safetensors file */
    int32_t *in, *lab;     /* [B, T] a labelled batch */
    FILE *log;
    char *config_json;
    const char *tok_dir;   /* where the tokenizer files come from */
    int32_t *tok;          /* [B, T+1] */
    uint8_t *doc;          /* [B, T+1] */
    uint8_t *docT;         /* [B, T] the inputs' flags */
} trainer_run;

/* The inputs' document-start flags out of the loader's [B, T+1] ones. */
static const uint8_t *doc_flags(trainer_run *r) {
    const int B = r->o->B, T = r->o->T;
    for (int b = 0; b < B; b++) memcpy(r->docT + (size_t)b * T, r->doc + (size_t)b * (T + 1), T);
    return r->docT;
}

static uint64_t n_val(const trainer_run *r) {
    return r->lset ? ttt_labeled_n_val(r->lset) : ttt_loader_n_val(r->ld);
}
static uint64_t n_train(const trainer_run *r) {
    return r->lset ? ttt_labeled_n_train(r->lset) : ttt_loader_n_train(r->ld);
}
static ttt_loader_pos get_pos(const trainer_run *r) {
    return r->lset ? ttt_labeled_get_pos(r->lset) : ttt_loader_get_pos(r->ld);
}

/* One micro-step on the next training batch. */
static ttt_status train_batch(trainer_run *r, double *loss) {
    const int B = r->o->B, T = r->o->T;
    ttt_status st;
    if (r->lset) {
        st = ttt_labeled_next(r->lset, B, r->in, r->lab);
        return st == TTT_OK ? ttt_trainer_step(r->tr, r->in, r->lab, NULL, B, T, loss) : st;
    }
    st = ttt_loader_next(r->ld, B, r->tok, r->doc);
    return st == TTT_OK ? ttt_trainer_step_tokens(r->tr, r->tok, doc_flags(r), B, T, loss) : st;
}

/* Loss of the n validation rows from `first` (n <= the batch size). */
static ttt_status val_batch(trainer_run *r, uint64_t first, int B, double *loss) {
    const int T = r->o->T;
    for (int b = 0; b < B; b++) {
        ttt_status st = r->lset ? ttt_labeled_val(r->lset, first + b, r->in + (size_t)b * T,
                                                  r->lab + (size_t)b * T)
                                : ttt_loader_val(r->ld, first + b, r->tok + (size_t)b * (T + 1),
                                                 r->doc + (size_t)b * (T + 1));
        if (st != TTT_OK) return st;
    }
    return r->lset ? ttt_trainer_eval(r->tr, r->in, r->lab, NULL, B, T, loss)
                   : ttt_trainer_eval_tokens(r->tr, r->tok, doc_flags(r), B, T, loss);
}

/* Mean loss over the held-out rows (the first --val-batches batches of them), the last
 * batch possibly short; each batch weighs by its rows. */
static ttt_status val_loss(trainer_run *r, double *loss) {
    const uint64_t B = (uint64_t)r->o->B;
    uint64_t n = n_val(r);
    if (r->o->val_batches > 0 && n > (uint64_t)r->o->val_batches * B) n = r->o->val_batches * B;
    double sum = 0;
    *loss = NAN;
    for (uint64_t at = 0; at < n; at += B) {
        int b = (int)(n - at < B ? n - at : B);
        double l;
        ttt_status st = val_batch(r, at, b, &l);
        if (st != TTT_OK) return st;
        sum += l * b;
    }
    if (n) *loss = sum / (double)n;
    return TTT_OK;
}

static ttt_status save(trainer_run *r, int64_t step, char **dir) {
    const int n_all = ttt_trainer_n_all(r->tr), n_tr = ttt_trainer_n_tensors(r->tr);
    const bool bf16 = r->o->save_dtype && !strcmp(r->o->save_dtype, "bf16");
    ttt_ckpt_tensor *w = calloc((size_t)n_all, sizeof *w), *s = calloc((size_t)2 * n_tr, sizeof *s);
    char **names = calloc((size_t)2 * n_tr, sizeof *names);
    uint16_t **conv = bf16 ? calloc((size_t)n_all, sizeof *conv) : NULL;
    ttt_status st = w && s && names && (!bf16 || conv) ? TTT_OK
                                                      : ttt_err(TTT_ERR_NOMEM, "train: out of memory");
    for (int i = 0; st == TTT_OK && i < n_all; i++) {
        ttt_train_tensor t;
        st = ttt_trainer_tensor_all(r->tr, i, &t);
        if (st != TTT_OK) break;
        w[i] = (ttt_ckpt_tensor){.name = t.name, .dtype = TTT_DT_F32, .ndim = t.ndim, .data = t.data};
        memcpy(w[i].shape, t.shape, sizeof(int64_t) * (size_t)t.ndim);
        if (bf16) {
            conv[i] = malloc(2 * t.n_elements);
            if (!conv[i]) {
                st = ttt_err(TTT_ERR_NOMEM, "train: out of memory");
                break;
            }
            for (size_t k = 0; k < t.n_elements; k++) {
                uint32_t u;
                memcpy(&u, &t.data[k], 4);
                u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
                conv[i][k] = (uint16_t)(u >> 16);
            }
            w[i].dtype = TTT_DT_BF16;
            w[i].data = conv[i];
        }
        if (i < n_tr) {
            size_t ln = strlen(t.name) + 16;
            names[2 * i] = malloc(ln);
            names[2 * i + 1] = malloc(ln);
            if (!names[2 * i] || !names[2 * i + 1]) {
                st = ttt_err(TTT_ERR_NOMEM, "train: out of memory");
                break;
            }
            snprintf(names[2 * i], ln, "%s.exp_avg", t.name);
            snprintf(names[2 * i + 1], ln, "%s.exp_avg_sq", t.name);
            s[2 * i] = w[i];
            s[2 * i].dtype = TTT_DT_F32;
            s[2 * i].name = names[2 * i];
            s[2 * i].data = t.m;
            s[2 * i + 1] = s[2 * i];
            s[2 * i + 1].name = names[2 * i + 1];
            s[2 * i + 1].data = t.v;
        }
    }
    char json[512];
    ttt_loader_pos pos = get_pos(r);
    snprintf(json, sizeof json,
             "{\"step\": %lld, \"epoch\": %llu, \"index\": %llu, \"seed\": %llu, "
             "\"seq_len\": %d, \"batch\": %d, \"grad_accum\": %d}\n",
             (long long)step, (unsigned long long)pos.epoch, (unsigned long long)pos.index,
             (unsigned long long)r->o->seed, r->o->T, r->o->B, r->o->tp.grad_accum);
    if (st == TTT_OK) {
        ttt_ckpt_save_params p = {.root = r->o->out, .step = (uint64_t)step,
                                  .config_json = r->config_json, .tokenizer_dir = r->tok_dir,
                                  .weights = w, .n_weights = n_all, .state = s,
                                  .n_state = 2 * n_tr, .state_json = json,
                                  .keep_last = r->o->keep_last};
        st = ttt_ckpt_save(&p, dir);
    }
    for (int i = 0; i < 2 * n_tr && names; i++) free(names[i]);
    for (int i = 0; conv && i < n_all; i++) free(conv[i]);
    free(conv);
    free(names);
    free(w);
    free(s);
    return st;
}

/* Moments, step and data position of a checkpoint (its weights were loaded as the model). */
static ttt_status restore(trainer_run *r, const char *dir, int64_t *step) {
    ttt_tensors *ts = NULL;
    char *json = NULL;
    cJSON *root = NULL;
    ttt_status st = ttt_ckpt_load_state(dir, &ts, &json);
    if (st == TTT_OK) st = ttt_json_parse_object(json, strlen(json), dir, &root);
    long long s = 0, ep = 0, ix = 0, T = 0, B = 0, ga = 0;
    if (st == TTT_OK) st = ttt_json_int(root, "step", dir, true, 0, 0, INT64_MAX, &s);
    if (st == TTT_OK) st = ttt_json_int(root, "epoch", dir, true, 0, 0, INT64_MAX, &ep);
    if (st == TTT_OK) st = ttt_json_int(root, "index", dir, true, 0, 0, INT64_MAX, &ix);
    if (st == TTT_OK) st = ttt_json_int(root, "seq_len", dir, true, 0, 1, INT64_MAX, &T);
    if (st == TTT_OK) st = ttt_json_int(root, "batch", dir, true, 0, 1, INT64_MAX, &B);
    if (st == TTT_OK) st = ttt_json_int(root, "grad_accum", dir, true, 0, 1, INT64_MAX, &ga);
    if (st == TTT_OK && (T != r->o->T || B != r->o->B || ga != r->o->tp.grad_accum))
        st = ttt_err(TTT_ERR_ARG,
                     "%s was trained with --seq-len %lld --batch %lld --grad-accum %lld; resume "
                     "with the same (or --no-resume)", dir, T, B, ga);
    for (int i = 0; st == TTT_OK && i < ttt_trainer_n_tensors(r->tr); i++) {
        ttt_train_tensor t;
        ttt_tensor_info mi, vi;
        char name[256];
        st = ttt_trainer_tensor(r->tr, i, &t);
        if (st != TTT_OK) break;
        snprintf(name, sizeof name, "%s.exp_avg", t.name);
        if (ttt_tensors_find(ts, name, &mi) != TTT_OK || mi.n_elements != t.n_elements) {
            st = ttt_err(TTT_ERR_FORMAT, "%s/trainer_state.safetensors: no '%s' of %zu elements "
                         "(was it trained with another --train policy?)", dir, name, t.n_elements);
            break;
        }
        snprintf(name, sizeof name, "%s.exp_avg_sq", t.name);
        if (ttt_tensors_find(ts, name, &vi) != TTT_OK || vi.n_elements != t.n_elements) {
            st = ttt_err(TTT_ERR_FORMAT, "%s/trainer_state.safetensors: no '%s' of %zu elements",
                         dir, name, t.n_elements);
            break;
        }
        st = ttt_tensor_to_f32(&mi, t.m);
        if (st == TTT_OK) st = ttt_tensor_to_f32(&vi, t.v);
    }
    ttt_loader_pos at = {.epoch = (uint64_t)ep, .index = (uint64_t)ix};
    if (st == TTT_OK)
        st = r->lset ? ttt_labeled_set_pos(r->lset, at) : ttt_loader_set_pos(r->ld, at);
    if (st == TTT_OK) {
        ttt_trainer_set_step(r->tr, s);
        *step = s;
    }
    cJSON_Delete(root);
    free(json);
    ttt_tensors_close(ts);
    return st;
}

static void progress(const train_opts *o, int64_t step, double loss, double lr, double gn,
                     double tps, double eta) {
    if (!isatty(2)) return;
    fprintf(stderr, "\r\033[K  step %lld/%d  loss %.4f  lr %.3g  grad norm %.3g  %.0f tok/s  "
                    "ETA %.0f s", (long long)step, o->steps, loss, lr, gn, tps, eta);
}

int cmd_train(int argc, char **argv) {
    train_opts o = {.T = 512, .B = 8, .val_fraction = 0.01, .seed = 42,
                    .tp = ttt_train_default_params()};
    int pr = parse(&o, argc, argv);
    if (pr) return pr == 1 ? 0 : pr;
    trainer_run r = {.o = &o, .tok_dir = o.model};
    char *resume_dir = NULL, *log_path = NULL;
    int rc = 1;
    int64_t step = 0;
    size_t len;
    if (!o.no_resume && ttt_ckpt_latest(o.out, &resume_dir) != TTT_OK) resume_dir = NULL;
    const char *load_from = resume_dir ? resume_dir : o.model;
    char cfgp[4096];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", load_from);
    if (!cli_read_file("train", cfgp, &r.config_json, &len)) goto out;
    if (ttt_model_load(load_from, &r.model) != TTT_OK) {
        cli_fail("train", ttt_last_error());
        goto out;
    }
    ttt_model_get_info(r.model, &r.info);
    ttt_loader_params lp = ttt_loader_default_params();
    lp.seq_len = o.T;
    lp.n_vocab = (uint32_t)r.info.n_vocab;
    lp.seed = o.seed;
    lp.val_fraction = o.val_fraction;
    lp.val_count = (uint64_t)o.val_count;
    size_t dl = strlen(o.data);
    ttt_status ost;
    if (dl > 12 && !strcmp(o.data + dl - 12, ".safetensors")) {
        ost = ttt_labeled_open(o.data, lp.n_vocab, o.seed, o.val_fraction,
                               (uint64_t)o.val_count, &r.lset);
        if (ost == TTT_OK && o.T_set && o.T != ttt_labeled_seq_len(r.lset)) {
            fprintf(stderr, "ttt train: %s has rows of %d tokens, not --seq-len %d\n", o.data,
                    ttt_labeled_seq_len(r.lset), o.T);
            goto out;
        }
        if (ost == TTT_OK) o.T = ttt_labeled_seq_len(r.lset);
    } else {
        ost = ttt_loader_open_dir(o.data, &lp, &r.ld);
    }
    if (ost != TTT_OK || ttt_trainer_init(r.model, &o.tp, &r.tr) != TTT_OK) {
        cli_fail("train", ttt_last_error());
        goto out;
    }
    if (n_train(&r) < (uint64_t)o.B) {
        fprintf(stderr, "ttt train: %s holds %llu training sequences of %d tokens, fewer than a "
                        "batch of %d\n", o.data, (unsigned long long)n_train(&r), o.T, o.B);
        goto out;
    }
    if (resume_dir) {
        if (restore(&r, resume_dir, &step) != TTT_OK) {
            cli_fail("train", ttt_last_error());
            goto out;
        }
        r.tok_dir = resume_dir;
        fprintf(stderr, "ttt train: resuming from %s at step %lld\n", resume_dir, (long long)step);
    }
    if (step >= o.steps) {
        fprintf(stderr, "ttt train: %s is already at step %lld of %d\n", o.out, (long long)step,
                o.steps);
        rc = 0;
        goto out;
    }
    size_t nb = (size_t)o.B * (o.T + 1);
    r.tok = malloc(nb * sizeof *r.tok);
    r.doc = malloc(nb);
    r.docT = malloc((size_t)o.B * o.T);
    r.in = malloc((size_t)o.B * o.T * sizeof *r.in);
    r.lab = malloc((size_t)o.B * o.T * sizeof *r.lab);
    if (!o.log) {
        log_path = malloc(strlen(o.out) + 32);
        if (log_path) sprintf(log_path, "%s/train_log.jsonl", o.out);
    }
    if (ttt_mkdir_p(o.out) != TTT_OK) {
        cli_fail("train", ttt_last_error());
        goto out;
    }
    r.log = fopen(o.log ? o.log : log_path, "a");
    if (!r.tok || !r.doc || !r.docT || !r.in || !r.lab || !r.log) {
        fprintf(stderr, "ttt train: %s\n", !r.log ? "cannot open the log file" : "out of memory");
        goto out;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* tests: SIGKILL (as a crash would) or SIGINT (as Ctrl-C) right after that step */
    const char *kill_at = getenv("TTT_TEST_KILL_AT_STEP");
    const char *int_at = getenv("TTT_TEST_SIGINT_AT_STEP");
    fprintf(stderr, "ttt train: %s; %d trainable tensors; %llu training / %llu validation "
                    "sequences of %d tokens; %.3g GFLOP per step\n",
            ttt_device_name(o.tp.device), ttt_trainer_n_tensors(r.tr), (unsigned long long)n_train(&r),
            (unsigned long long)n_val(&r), o.T,
            ttt_trainer_flops(r.tr, o.B, o.T) * o.tp.grad_accum / 1e9);
    double t0 = cli_now();
    int64_t first = step;
    ttt_status st = TTT_OK;
    while (step < o.steps && st == TTT_OK && !g_stop) {
        double loss = 0, l, gn = 0, lr = 0;
        for (int k = 0; k < o.tp.grad_accum && st == TTT_OK; k++) {
            st = train_batch(&r, &l);
            loss += l / o.tp.grad_accum;
        }
        if (st == TTT_OK) st = ttt_trainer_apply(r.tr, &gn, &lr);
        if (st != TTT_OK) break;
        step++;
        double dt = cli_now() - t0;
        double tps = (double)(step - first) * o.B * o.T * o.tp.grad_accum / dt;
        fprintf(r.log, "{\"step\": %lld, \"loss\": %.17g, \"lr\": %.9g, \"grad_norm\": %.17g, "
                       "\"tokens\": %lld, \"tokens_per_s\": %.1f, \"elapsed_s\": %.3f}\n",
                (long long)step, loss, lr, gn, (long long)step * o.B * o.T * o.tp.grad_accum,
                tps, dt);
        fflush(r.log);
        progress(&o, step, loss, lr, gn, tps, dt / (double)(step - first) * (o.steps - step));
        bool last = step == o.steps;
        if ((o.eval_every && step % o.eval_every == 0) || last) {
            double vl;
            st = val_loss(&r, &vl);
            if (st != TTT_OK) break;
            if (!isnan(vl)) {
                fprintf(r.log, "{\"step\": %lld, \"val_loss\": %.9g}\n", (long long)step, vl);
                fflush(r.log);
                fprintf(stderr, "%sstep %lld: validation loss %.4f\n", isatty(2) ? "\r\033[K" : "",
                        (long long)step, vl);
            }
        }
        if ((o.save_every && step % o.save_every == 0) || last) {
            char *dir = NULL;
            st = save(&r, step, &dir);
            if (st == TTT_OK && last)
                fprintf(stderr, "%sttt train: saved %s\n", isatty(2) ? "\r\033[K" : "", dir);
            free(dir);
        }
        if (kill_at && step == atoll(kill_at)) raise(SIGKILL);
        if (int_at && step == atoll(int_at)) raise(SIGINT);
    }
    if (st == TTT_OK && g_stop && step < o.steps) {
        char *dir = NULL;
        st = save(&r, step, &dir);
        if (st == TTT_OK)
            fprintf(stderr, "%sttt train: stopped by signal %d; saved %s (the same command "
                            "resumes)\n", isatty(2) ? "\r\033[K" : "", (int)g_stop, dir);
        free(dir);
    }
    if (st != TTT_OK) {
        fprintf(stderr, "%s", isatty(2) ? "\r\033[K" : "");
        cli_fail("train", ttt_last_error());
    } else {
        rc = g_stop ? 130 : 0;
    }
out:
    if (r.log) fclose(r.log);
    free(log_path);
    free(r.tok);
    free(r.doc);
    free(r.docT);
    free(r.in);
    free(r.lab);
    ttt_labeled_free(r.lset);
    free(r.config_json);
    free(resume_dir);
    ttt_trainer_free(r.tr);
    ttt_loader_free(r.ld);
    ttt_model_free(r.model);
    return rc;
}
