/* demo_train.c - one demo model: config and tokenizer, random init, training on the built-in
 * recall tasks, checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "demo.h"
#include "io/ckpt.h"
#include "io/file.h"
#include "io/json.h"
#include "util/err.h"
#include "util/mem.h"

/* Seeds of the training and held-out streams: disjoint by construction. */
enum { SEED_TRAIN = 1, SEED_VAL = 2 };
#define VAL_BATCHES 4

static ttt_status make_model(const demo_opts *o, const ttt_demo_model *shape, const char *dir,
                             char **config) {
    char *text = NULL, *path = ttt_path_join(dir, "config.json");
    ttt_status st = path ? ttt_demo_config_json(shape, &text) : TTT_ERR_NOMEM;
    if (st == TTT_OK) st = ttt_demo_write_tokenizer(dir);
    if (st == TTT_OK) st = ttt_write_file_atomic(path, text, strlen(text));
    if (st == TTT_OK) {
        ttt_init_params ip = ttt_init_default_params();
        ip.config_path = path;
        ip.dtype = TTT_DT_F32;
        ip.seed = o->seed;
        st = ttt_checkpoint_init(dir, &ip);
    }
    size_t len;
    free(text);
    text = NULL;
    if (st == TTT_OK) st = ttt_read_file(path, 1u << 20, &text, &len);
    free(path);
    *config = text;
    return st;
}

/* B training (or held-out) sequences starting at sequence number first. */
static ttt_status batch(const demo_opts *o, uint64_t seed, uint64_t first, int32_t *tmp,
                        int32_t *in, int32_t *lab) {
    const int T = o->T;
    for (int b = 0; b < o->B; b++) {
        ttt_status st = ttt_demo_train_seq(&o->data, T, seed, first + (uint64_t)b, tmp,
                                           lab + (size_t)b * T);
        if (st != TTT_OK) return st;
        memcpy(in + (size_t)b * T, tmp, sizeof(int32_t) * (size_t)T);
    }
    return TTT_OK;
}

static ttt_status save(const demo_opts *o, ttt_trainer *tr, const char *root, const char *tok_dir,
                       const char *config, char **dir) {
    const int n = ttt_trainer_n_all(tr);
    ttt_ckpt_tensor *w = calloc((size_t)n, sizeof *w);
    if (!w) return ttt_err(TTT_ERR_NOMEM, "demo: out of memory");
    ttt_status st = TTT_OK;
    for (int i = 0; i < n && st == TTT_OK; i++) {
        ttt_train_tensor t;
        st = ttt_trainer_tensor_all(tr, i, &t);
        if (st != TTT_OK) break;
        w[i] = (ttt_ckpt_tensor){.name = t.name, .dtype = TTT_DT_F32, .ndim = t.ndim,
                                 .data = t.data};
        memcpy(w[i].shape, t.shape, sizeof(int64_t) * (size_t)t.ndim);
    }
    char json[256];
    snprintf(json, sizeof json, "{\"step\": %d, \"seq_len\": %d, \"batch\": %d, \"seed\": %llu, "
             "\"source\": \"ttt demo\"}\n", o->steps, o->T, o->B, (unsigned long long)o->seed);
    if (st == TTT_OK) {
        ttt_ckpt_save_params p = {.root = root, .step = (uint64_t)o->steps,
                                  .config_json = config, .tokenizer_dir = tok_dir, .weights = w,
                                  .n_weights = n, .state_json = json, .keep_last = 1};
        st = ttt_ckpt_save(&p, dir);
    }
    free(w);
    return st;
}

static void progress(const demo_opts *o, const char *name, int step, double loss, double dt) {
    const bool tty = isatty(2) && !o->parallel; /* two models' lines would overwrite */
    const int every = o->steps >= 10 ? o->steps / 10 : 1;
    if (o->quiet || (!tty && step % every && step != o->steps)) return;
    fprintf(stderr, "%s  %-8s step %4d/%d  answer loss %.3f  %.1f s%s", tty ? "\r\033[K" : "",
            name, step, o->steps, loss, dt, tty && step != o->steps ? "" : "\n");
}

ttt_status demo_train(const demo_opts *o, const char *name, const ttt_demo_model *shape,
                      demo_trained *out) {
    memset(out, 0, sizeof *out);
    char *root = ttt_path_join(o->out, name), *init_dir = root ? ttt_path_join(root, "init") : NULL;
    char *config = NULL, *log_path = root ? ttt_path_join(root, "train_log.jsonl") : NULL;
    const size_t nt = (size_t)o->B * o->T;
    int32_t *in = malloc(sizeof(int32_t) * nt), *lab = malloc(sizeof(int32_t) * nt);
    int32_t *tmp = malloc(sizeof(int32_t) * ((size_t)o->T + 1));
    ttt_model *m = NULL;
    ttt_trainer *tr = NULL;
    FILE *log = NULL;
    ttt_status st = init_dir && log_path && in && lab && tmp
                        ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "demo: out of memory");
    if (st == TTT_OK) st = ttt_mkdir_p(init_dir);
    if (st == TTT_OK) st = make_model(o, shape, init_dir, &config);
    if (st == TTT_OK) st = ttt_model_load(init_dir, &m);
    if (st == TTT_OK) {
        ttt_model_info mi;
        ttt_model_get_info(m, &mi);
        out->n_params = mi.n_params;
        ttt_train_params tp = ttt_train_default_params();
        tp.lr = o->lr;
        tp.warmup_steps = o->warmup < o->steps ? o->warmup : 0;
        tp.total_steps = o->steps;
        tp.decay = TTT_LR_COSINE;
        tp.lr_min = o->lr * 0.1;
        tp.weight_decay = 0.01;
        tp.device = ttt_device_from_name(o->device);
        st = ttt_trainer_init(m, &tp, &tr);
    }
    for (int l = 0; st == TTT_OK && o->conv_zero && l < shape->n_layers; l++) {
        char conv[96];
        ttt_train_tensor t;
        snprintf(conv, sizeof conv, "model.layers.%d.mlp.ttt_conv.weight", l);
        if (ttt_trainer_find(tr, conv, &t) == TTT_OK) memset(t.data, 0, sizeof(float) * t.n_elements);
    }
    if (st == TTT_OK && !(log = fopen(log_path, "w")))
        st = ttt_err(TTT_ERR_IO, "%s: cannot open for writing", log_path);
    const int tenth = o->steps >= 10 ? o->steps / 10 : 1;
    double t0 = cli_now(), first = 0, last = 0;
    for (int s = 0; s < o->steps && st == TTT_OK; s++) {
        double loss, gn, lr;
        st = batch(o, o->seed * 1000 + SEED_TRAIN, (uint64_t)s * o->B, tmp, in, lab);
        if (st == TTT_OK) st = ttt_trainer_step(tr, in, lab, NULL, o->B, o->T, &loss);
        if (st == TTT_OK) st = ttt_trainer_apply(tr, &gn, &lr);
        if (st != TTT_OK) break;
        if (s < tenth) first += loss / tenth;
        if (s >= o->steps - tenth) last += loss / tenth;
        fprintf(log, "{\"step\": %d, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6g, "
                     "\"elapsed_s\": %.3f}\n", s + 1, loss, lr, gn, cli_now() - t0);
        fflush(log);
        progress(o, name, s + 1, loss, cli_now() - t0);
    }
    out->seconds = cli_now() - t0;
    out->first_loss = first;
    out->final_loss = last;
    out->tokens_per_s = (double)o->steps * (double)nt / out->seconds;
    /* held-out answer loss: forward only */
    double val = 0;
    for (int k = 0; k < VAL_BATCHES && st == TTT_OK; k++) {
        double l = 0;
        st = batch(o, o->seed * 1000 + SEED_VAL, (uint64_t)k * o->B, tmp, in, lab);
        if (st == TTT_OK) st = ttt_trainer_eval(tr, in, lab, NULL, o->B, o->T, &l);
        val += l / VAL_BATCHES;
    }
    out->val_loss = val;
    if (log) {
        if (st == TTT_OK) fprintf(log, "{\"step\": %d, \"val_loss\": %.6f}\n", o->steps, val);
        fclose(log);
    }
    if (st == TTT_OK) st = save(o, tr, root, init_dir, config, &out->ckpt);
    ttt_trainer_free(tr);
    ttt_model_free(m);
    free(config);
    free(in);
    free(lab);
    free(tmp);
    free(log_path);
    free(init_dir);
    free(root);
    return st;
}
