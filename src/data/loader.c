/* loader.c - packed, shuffled, resumable training samples over token shards (loader.h).
 * Only indices are held in memory (two uint64 per sequence); tokens are read from the mapped
 * shards when a sample is asked for. */
#include "data/loader.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/shard.h"
#include "util/err.h"
#include "util/rng.h"
#include "util/mem.h"

struct ttt_loader {
    ttt_loader_params p;
    int n_shards;
    ttt_shard *shards;     /* [n_shards] */
    uint64_t *stream0;     /* [n_shards + 1] stream offset of each shard (its docs + EOSes) */
    uint32_t eos;
    uint64_t n_seq;        /* sequences in the stream */
    uint64_t n_val;
    uint64_t *val;         /* [n_val] stream sequence indices, ascending */
    uint64_t n_train;
    uint64_t *train;       /* [n_train] stream sequence indices, ascending */
    uint64_t *order;       /* [n_train] the current epoch's permutation of train */
    uint64_t order_epoch;  /* epoch that order holds */
    ttt_loader_pos pos;
};

ttt_loader_params ttt_loader_default_params(void) {
    return (ttt_loader_params){.eos_id = -1, .split_seed = 0x5eed5eedull};
}

/* ---- deterministic random numbers (splitmix64: same stream on every platform) ---- */

/* uniform in [0, bound), bound > 0, without modulo bias */
static uint64_t below(uint64_t *s, uint64_t bound) {
    uint64_t threshold = (0 - bound) % bound, r;
    do r = ttt_splitmix64(s);
    while (r < threshold);
    return r % bound;
}

static void shuffle(uint64_t *v, uint64_t n, uint64_t seed) {
    uint64_t s = seed;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = below(&s, i);
        uint64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the stream ---- */

/* Token and doc-start flag at stream offset q (q < stream length). */
static void stream_at(const ttt_loader *l, uint64_t q, int32_t *tok, uint8_t *flag) {
    int lo = 0, hi = l->n_shards - 1;
    while (lo < hi) { /* last shard with stream0 <= q */
        int mid = (lo + hi + 1) / 2;
        if (l->stream0[mid] <= q) lo = mid;
        else hi = mid - 1;
    }
    const ttt_shard *s = &l->shards[lo];
    uint64_t r = q - l->stream0[lo];
    /* document k begins at stream offset doc_start[k] + k (k EOSes before it) */
    uint64_t a = 0, b = s->n_docs - 1;
    while (a < b) {
        uint64_t mid = a + (b - a + 1) / 2;
        if (s->doc_start[mid] + mid <= r) a = mid;
        else b = mid - 1;
    }
    uint64_t t = r - a; /* token index, or the doc's end for its EOS */
    uint64_t end = a + 1 < s->n_docs ? s->doc_start[a + 1] : s->n_tokens;
    if (t < end) {
        *tok = (int32_t)s->ids[t];
        *flag = t == s->doc_start[a];
    } else {
        *tok = (int32_t)l->eos;
        *flag = 0;
    }
}

ttt_status ttt_loader_sequence(const ttt_loader *l, uint64_t k, int32_t *tokens,
                               uint8_t *doc_start) {
    if (!l || !tokens) return ttt_err(TTT_ERR_ARG, "ttt_loader_sequence: NULL argument");
    if (k >= l->n_seq)
        return ttt_err(TTT_ERR_ARG, "loader: sequence %" PRIu64 " of %" PRIu64, k, l->n_seq);
    const uint64_t n = (uint64_t)l->p.seq_len + 1;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t f;
        stream_at(l, k * n + i, &tokens[i], &f);
        if (doc_start) doc_start[i] = f;
    }
    return TTT_OK;
}

/* ---- opening ---- */

static ttt_status check_params(const ttt_loader_params *p) {
    if (p->seq_len < 1) return ttt_err(TTT_ERR_ARG, "loader: sequence length %d", p->seq_len);
    if (p->n_vocab == 0) return ttt_err(TTT_ERR_ARG, "loader: the model's vocab size is 0");
    if (!(p->val_fraction >= 0 && p->val_fraction < 1))
        return ttt_err(TTT_ERR_ARG, "loader: validation fraction %g is outside [0, 1)",
                       p->val_fraction);
    if (p->eos_id >= 0 && (uint32_t)p->eos_id >= p->n_vocab)
        return ttt_err(TTT_ERR_ARG, "loader: EOS id %" PRId32 " is not below the vocab size %"
                       PRIu32, p->eos_id, p->n_vocab);
    return TTT_OK;
}

/* The EOS id: the caller's, else the shards' (which must agree). */
static ttt_status pick_eos(ttt_loader *l) {
    if (l->p.eos_id >= 0) {
        l->eos = (uint32_t)l->p.eos_id;
        return TTT_OK;
    }
    uint32_t e = l->shards[0].eos_id;
    for (int i = 1; i < l->n_shards; i++)
        if (l->shards[i].eos_id != e)
            return ttt_err(TTT_ERR_FORMAT, "%s: EOS id %" PRIu32 ", but %s has %" PRIu32
                           " (shards of different tokenizers?)", l->shards[i].label,
                           l->shards[i].eos_id, l->shards[0].label, e);
    if (e == TTT_SHARD_NO_TOKEN)
        return ttt_err(TTT_ERR_ARG, "%s: the shards have no EOS id; give one",
                       l->shards[0].label);
    if (e >= l->p.n_vocab)
        return ttt_err(TTT_ERR_FORMAT, "%s: EOS id %" PRIu32 " is not below the model's vocab "
                       "size %" PRIu32, l->shards[0].label, e, l->p.n_vocab);
    l->eos = e;
    return TTT_OK;
}

/* Sequence count, the held-out split and the first epoch's order. */
static ttt_status plan(ttt_loader *l) {
    uint64_t total = l->stream0[l->n_shards], n = (uint64_t)l->p.seq_len + 1;
    l->n_seq = total / n;
    uint64_t n_val = l->p.val_count ? l->p.val_count
                                    : (uint64_t)(l->p.val_fraction * (double)l->n_seq);
    if (l->n_seq == 0 || n_val >= l->n_seq)
        return ttt_err(TTT_ERR_ARG,
                       "loader: %" PRIu64 " tokens make %" PRIu64 " sequences of %" PRIu64
                       ", %" PRIu64 " of them held out: none left to train on", total,
                       l->n_seq, n, n_val);
    if (l->n_seq > SIZE_MAX / 32) return ttt_err(TTT_ERR_NOMEM, "loader: too many sequences");
    uint64_t *all = malloc((size_t)l->n_seq * sizeof *all);
    l->order = malloc((size_t)l->n_seq * sizeof *l->order);
    if (!all || !l->order) {
        free(all);
        return ttt_err(TTT_ERR_NOMEM, "loader: out of memory for %" PRIu64 " sequences",
                       l->n_seq);
    }
    for (uint64_t k = 0; k < l->n_seq; k++) all[k] = k;
    shuffle(all, l->n_seq, l->p.split_seed);
    qsort(all, (size_t)n_val, sizeof *all, cmp_u64);
    qsort(all + n_val, (size_t)(l->n_seq - n_val), sizeof *all, cmp_u64);
    l->val = all; /* one block: val, then train */
    l->n_val = n_val;
    l->train = all + n_val;
    l->n_train = l->n_seq - n_val;
    l->order_epoch = UINT64_MAX;
    return ttt_loader_set_pos(l, (ttt_loader_pos){0, 0});
}

ttt_status ttt_loader_open(const char *const *paths, int n_paths, const ttt_loader_params *p,
                           ttt_loader **out) {
    if (!out || !p || (n_paths > 0 && !paths))
        return ttt_err(TTT_ERR_ARG, "ttt_loader_open: NULL argument");
    *out = NULL;
    ttt_status st = check_params(p);
    if (st) return st;
    if (n_paths <= 0) return ttt_err(TTT_ERR_ARG, "loader: no shards");
    ttt_loader *l = calloc(1, sizeof *l);
    if (!l) return ttt_err(TTT_ERR_NOMEM, "loader: out of memory");
    l->p = *p;
    l->shards = calloc((size_t)n_paths, sizeof *l->shards);
    l->stream0 = calloc((size_t)n_paths + 1, sizeof *l->stream0);
    if (!l->shards || !l->stream0) st = ttt_err(TTT_ERR_NOMEM, "loader: out of memory");
    for (int i = 0; i < n_paths && !st; i++) {
        st = ttt_shard_open(paths[i], &l->shards[i]);
        if (st) break;
        l->n_shards = i + 1;
        st = ttt_shard_check_vocab(&l->shards[i], p->n_vocab);
        const ttt_shard *s = &l->shards[i];
        if (!st && s->n_tokens == 0)
            st = ttt_err(TTT_ERR_FORMAT, "%s: the shard holds no tokens", s->label);
        /* sizes come from mapped files, so the sum cannot overflow; checked all the same */
        if (!st && !ttt_add_u64(l->stream0[i], s->n_tokens + s->n_docs, &l->stream0[i + 1]))
            st = ttt_err(TTT_ERR_FORMAT, "%s: token count overflows", s->label);
    }
    if (!st) st = pick_eos(l);
    if (!st) st = plan(l);
    if (st) {
        ttt_loader_free(l);
        return st;
    }
    *out = l;
    return TTT_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_shard_name(const char *s) {
    unsigned k;
    char tail[8];
    return strlen(s) == 15 && sscanf(s, "shard-%5u%4s", &k, tail) == 2 && !strcmp(tail, ".bin");
}

ttt_status ttt_loader_open_dir(const char *dir, const ttt_loader_params *p, ttt_loader **out) {
    if (!dir || !out) return ttt_err(TTT_ERR_ARG, "ttt_loader_open_dir: NULL argument");
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return ttt_err(TTT_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    ttt_status st = TTT_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)) != NULL) {
        if (!is_shard_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) {
                st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
                break;
            }
            names = nn;
        }
        names[n] = ttt_path_join(dir, e->d_name);
        if (!names[n]) st = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
        else n++;
    }
    closedir(d);
    if (!st && n == 0) st = ttt_err(TTT_ERR_IO, "%s: no shard-NNNNN.bin files", dir);
    if (!st) {
        qsort(names, (size_t)n, sizeof *names, cmp_str);
        st = ttt_loader_open((const char *const *)names, n, p, out);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
}

void ttt_loader_free(ttt_loader *l) {
    if (!l) return;
    for (int i = 0; i < l->n_shards; i++) ttt_shard_close(&l->shards[i]);
    free(l->shards);
    free(l->stream0);
    free(l->val);
    free(l->order);
    free(l);
}

uint64_t ttt_loader_n_train(const ttt_loader *l) { return l ? l->n_train : 0; }
uint64_t ttt_loader_n_val(const ttt_loader *l) { return l ? l->n_val : 0; }

/* ---- positions and batches ---- */

static void make_order(ttt_loader *l, uint64_t epoch) {
    if (l->order_epoch == epoch) return;
    memcpy(l->order, l->train, (size_t)l->n_train * sizeof *l->order);
    uint64_t s = l->p.seed;
    uint64_t key = ttt_splitmix64(&s) ^ epoch;
    shuffle(l->order, l->n_train, ttt_splitmix64(&key));
    l->order_epoch = epoch;
}

ttt_loader_pos ttt_loader_get_pos(const ttt_loader *l) {
    return l ? l->pos : (ttt_loader_pos){0, 0};
}

ttt_status ttt_loader_set_pos(ttt_loader *l, ttt_loader_pos pos) {
    if (!l) return ttt_err(TTT_ERR_ARG, "ttt_loader_set_pos: NULL loader");
    if (pos.index >= l->n_train)
        return ttt_err(TTT_ERR_ARG, "loader: position %" PRIu64 " is past the %" PRIu64
                       " training sequences of an epoch (another data set?)", pos.index,
                       l->n_train);
    make_order(l, pos.epoch);
    l->pos = pos;
    return TTT_OK;
}

ttt_status ttt_loader_train_sequence(ttt_loader *l, ttt_loader_pos at, uint64_t *k) {
    if (!l || !k) return ttt_err(TTT_ERR_ARG, "ttt_loader_train_sequence: NULL argument");
    if (at.index >= l->n_train)
        return ttt_err(TTT_ERR_ARG, "loader: index %" PRIu64 " of %" PRIu64, at.index,
                       l->n_train);
    make_order(l, at.epoch);
    *k = l->order[at.index];
    make_order(l, l->pos.epoch);
    return TTT_OK;
}

ttt_status ttt_loader_next(ttt_loader *l, int n, int32_t *tokens, uint8_t *doc_start) {
    if (!l || (n > 0 && !tokens)) return ttt_err(TTT_ERR_ARG, "ttt_loader_next: NULL argument");
    const size_t w = (size_t)l->p.seq_len + 1;
    for (int b = 0; b < n; b++) {
        ttt_status st = ttt_loader_sequence(l, l->order[l->pos.index], tokens + (size_t)b * w,
                                            doc_start ? doc_start + (size_t)b * w : NULL);
        if (st) return st;
        if (++l->pos.index == l->n_train) {
            l->pos.index = 0;
            make_order(l, ++l->pos.epoch);
        }
    }
    return TTT_OK;
}

ttt_status ttt_loader_val(const ttt_loader *l, uint64_t i, int32_t *tokens, uint8_t *doc_start) {
    if (!l || !tokens) return ttt_err(TTT_ERR_ARG, "ttt_loader_val: NULL argument");
    if (i >= l->n_val)
        return ttt_err(TTT_ERR_ARG, "loader: validation sample %" PRIu64 " of %" PRIu64, i,
                       l->n_val);
    return ttt_loader_sequence(l, l->val[i], tokens, doc_start);
}
