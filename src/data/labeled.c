/* labeled.c - fixed-length (inputs, labels) training rows from a safetensors file. */
#include "data/labeled.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/rng.h"

struct ttt_labeled {
    ttt_tensors *file;
    const int32_t *in;    /* [n, L] (copied when the file's data is not 4-byte aligned) */
    const int32_t *lab;   /* [n, L] */
    int32_t *copy;        /* owned aligned copy of both, or NULL */
    int L;                /* row length */
    uint64_t n_train;     /* rows 0 .. n_train-1 train */
    uint64_t n_val;       /* the last n_val rows validate */
    uint64_t seed;
    uint64_t *order;      /* [n_train] this epoch's order */
    ttt_loader_pos pos;
};

/* Epoch e's order: Fisher-Yates from (seed, e). */
static void make_order(ttt_labeled *d, uint64_t epoch) {
    uint64_t x = d->seed ^ (epoch * 0xD1B54A32D192ED03ull);
    for (uint64_t i = 0; i < d->n_train; i++) d->order[i] = i;
    for (uint64_t i = d->n_train; i > 1; i--) {
        uint64_t j = ttt_splitmix64(&x) % i, t = d->order[i - 1];
        d->order[i - 1] = d->order[j];
        d->order[j] = t;
    }
}

static ttt_status find_rows(ttt_tensors *f, const char *path, const char *name,
                            ttt_tensor_info *ti) {
    if (ttt_tensors_find(f, name, ti) != TTT_OK)
        return ttt_err(TTT_ERR_FORMAT, "%s: no tensor '%s' (want inputs and labels, I32 [n, L])",
                       path, name);
    if (ti->dtype != TTT_DT_I32 || ti->ndim != 2 || ti->shape[0] < 1 || ti->shape[1] < 1 ||
        ti->shape[1] > (1 << 24))
        return ttt_err(TTT_ERR_FORMAT, "%s: '%s' must be I32 [n, L] with n, L >= 1", path, name);
    return TTT_OK;
}

ttt_status ttt_labeled_open(const char *path, uint32_t n_vocab, uint64_t seed,
                            double val_fraction, uint64_t val_count, ttt_labeled **out) {
    *out = NULL;
    if (!(val_fraction >= 0 && val_fraction < 1))
        return ttt_err(TTT_ERR_ARG, "validation fraction %g is not in [0, 1)", val_fraction);
    ttt_labeled *d = calloc(1, sizeof *d);
    if (!d) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    ttt_tensor_info ti, tl;
    ttt_status st = ttt_tensors_open(path, &d->file);
    if (st == TTT_OK) st = find_rows(d->file, path, "inputs", &ti);
    if (st == TTT_OK) st = find_rows(d->file, path, "labels", &tl);
    if (st == TTT_OK && (ti.shape[0] != tl.shape[0] || ti.shape[1] != tl.shape[1]))
        st = ttt_err(TTT_ERR_FORMAT, "%s: inputs and labels differ in shape", path);
    if (st != TTT_OK) {
        ttt_labeled_free(d);
        return st;
    }
    const uint64_t n = (uint64_t)ti.shape[0];
    d->L = (int)ti.shape[1];
    const size_t cells = (size_t)ti.n_elements;
    d->in = ti.data;
    d->lab = tl.data;
    if (((uintptr_t)ti.data | (uintptr_t)tl.data) % sizeof(int32_t)) {
        d->copy = malloc(2 * cells * sizeof(int32_t));
        if (!d->copy) {
            ttt_labeled_free(d);
            return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
        }
        memcpy(d->copy, ti.data, cells * sizeof(int32_t));
        memcpy(d->copy + cells, tl.data, cells * sizeof(int32_t));
        d->in = d->copy;
        d->lab = d->copy + cells;
    }
    for (size_t k = 0; k < cells; k++) {
        int32_t x = d->in[k], y = d->lab[k];
        bool bad_x = x < 0 || (uint32_t)x >= n_vocab;
        if (bad_x || (y != -100 && (y < 0 || (uint32_t)y >= n_vocab))) {
            size_t L = (size_t)d->L;
            ttt_labeled_free(d);
            return ttt_err(TTT_ERR_FORMAT, "%s: row %zu, column %zu: %s %d is not below the "
                           "model's vocab size %u", path, k / L, k % L,
                           bad_x ? "input" : "label", bad_x ? x : y, n_vocab);
        }
    }
    d->n_val = val_count ? val_count : (uint64_t)(val_fraction * (double)n);
    if (val_fraction > 0 && d->n_val == 0) d->n_val = 1;
    if (d->n_val >= n) {
        unsigned long long v = d->n_val;
        ttt_labeled_free(d);
        return ttt_err(TTT_ERR_ARG, "%s: %llu rows cannot hold out %llu for validation", path,
                       (unsigned long long)n, v);
    }
    d->n_train = n - d->n_val;
    d->seed = seed;
    d->order = malloc(d->n_train * sizeof *d->order);
    if (!d->order) {
        ttt_labeled_free(d);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    make_order(d, 0);
    *out = d;
    return TTT_OK;
}

void ttt_labeled_free(ttt_labeled *d) {
    if (!d) return;
    ttt_tensors_close(d->file);
    free(d->copy);
    free(d->order);
    free(d);
}

int ttt_labeled_seq_len(const ttt_labeled *d) { return d->L; }
uint64_t ttt_labeled_n_train(const ttt_labeled *d) { return d->n_train; }
uint64_t ttt_labeled_n_val(const ttt_labeled *d) { return d->n_val; }

static void row(const ttt_labeled *d, uint64_t r, int32_t *in, int32_t *lab) {
    memcpy(in, d->in + r * (uint64_t)d->L, sizeof(int32_t) * (size_t)d->L);
    memcpy(lab, d->lab + r * (uint64_t)d->L, sizeof(int32_t) * (size_t)d->L);
}

ttt_status ttt_labeled_next(ttt_labeled *d, int n, int32_t *inputs, int32_t *labels) {
    for (int b = 0; b < n; b++) {
        if (d->pos.index == d->n_train) {
            d->pos.index = 0;
            make_order(d, ++d->pos.epoch);
        }
        row(d, d->order[d->pos.index++], inputs + (size_t)b * d->L, labels + (size_t)b * d->L);
    }
    return TTT_OK;
}

ttt_status ttt_labeled_val(const ttt_labeled *d, uint64_t i, int32_t *inputs, int32_t *labels) {
    if (i >= d->n_val)
        return ttt_err(TTT_ERR_ARG, "validation row %llu of %llu", (unsigned long long)i,
                       (unsigned long long)d->n_val);
    row(d, d->n_train + i, inputs, labels);
    return TTT_OK;
}

ttt_loader_pos ttt_labeled_get_pos(const ttt_labeled *d) { return d->pos; }

ttt_status ttt_labeled_set_pos(ttt_labeled *d, ttt_loader_pos pos) {
    if (pos.index > d->n_train)
        return ttt_err(TTT_ERR_ARG, "data position %llu is past the %llu training rows",
                       (unsigned long long)pos.index, (unsigned long long)d->n_train);
    d->pos = pos;
    make_order(d, pos.epoch);
    return TTT_OK;
}
