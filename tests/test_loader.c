/* test_loader.c - packing, split, order and resume of the training loader, against a stream
 * built here from the documents written: each sample is the documented slice of "documents
 * joined by EOS", the doc-start flags mark exactly the first tokens of documents, the held-out
 * sequences and the training ones partition the stream, orders are seeded permutations, and a
 * loader set to a saved position yields the same next batches as the one that saved it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/loader.h"
#include "data/shard.h"

#define T 7
#define W (T + 1)
#define EOS 99
#define MAXS 4096

static const char *g_tmp;
static char g_a[1024], g_b[1024];
static const char *g_paths[2] = {g_a, g_b};

/* the expected stream and its flags */
static int32_t g_stream[MAXS];
static uint8_t g_flag[MAXS];
static int g_len;

/* Shard k gets docs of lengths lens[] with ids counting up from base (mod 90). */
static void write_shard(const char *path, const int *lens, int n, int base, uint32_t eos) {
    ttt_shard_writer *w;
    CHECK_OK(ttt_shard_writer_open(path, 100, eos, &w));
    if (!w) return;
    int32_t ids[64];
    for (int d = 0; d < n; d++) {
        for (int i = 0; i < lens[d]; i++) {
            ids[i] = (base++) % 90;
            g_flag[g_len] = i == 0;
            g_stream[g_len++] = ids[i];
        }
        g_flag[g_len] = 0;
        g_stream[g_len++] = EOS;
        CHECK_OK(ttt_shard_writer_add(w, ids, (size_t)lens[d]));
    }
    CHECK_OK(ttt_shard_writer_commit(w));
}

static ttt_loader *open_loader(uint64_t seed, uint64_t val_count) {
    ttt_loader_params p = ttt_loader_default_params();
    p.seq_len = T;
    p.n_vocab = 100;
    p.seed = seed;
    p.val_count = val_count;
    ttt_loader *l = NULL;
    CHECK_OK(ttt_loader_open(g_paths, 2, &p, &l));
    return l;
}

static void test_packing(void) {
    ttt_loader *l = open_loader(1, 0);
    if (!l) return;
    int n_seq = g_len / W;
    CHECK(ttt_loader_n_train(l) == (uint64_t)n_seq && ttt_loader_n_val(l) == 0);
    int ok = 1;
    for (int k = 0; k < n_seq; k++) {
        int32_t tok[W];
        uint8_t fl[W];
        CHECK_OK(ttt_loader_sequence(l, (uint64_t)k, tok, fl));
        ok &= !memcmp(tok, g_stream + k * W, sizeof tok) && !memcmp(fl, g_flag + k * W, W);
    }
    CHECK(ok);
    int32_t tok[W];
    CHECK_FAILS(ttt_loader_sequence(l, (uint64_t)n_seq, tok, NULL), TTT_ERR_ARG, "sequence");
    ttt_loader_free(l);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Stream index of each validation sample, found by content (sequences here are distinct). */
static uint64_t seq_of(const int32_t *tok) {
    for (int k = 0; k < g_len / W; k++)
        if (!memcmp(tok, g_stream + k * W, W * sizeof *tok)) return (uint64_t)k;
    return UINT64_MAX;
}

static void test_split_and_order(void) {
    ttt_loader *l = open_loader(1, 3), *l2 = open_loader(2, 3);
    if (!l || !l2) goto done;
    uint64_t n_seq = (uint64_t)(g_len / W), n_train = ttt_loader_n_train(l);
    CHECK(ttt_loader_n_val(l) == 3 && n_train == n_seq - 3);
    uint64_t all[MAXS / W];
    int32_t tok[W];
    for (uint64_t i = 0; i < 3; i++) {
        CHECK_OK(ttt_loader_val(l, i, tok, NULL));
        all[i] = seq_of(tok);
        int32_t tok2[W];
        CHECK_OK(ttt_loader_val(l2, i, tok2, NULL)); /* another seed, the same held-out set */
        CHECK(!memcmp(tok, tok2, sizeof tok));
    }
    CHECK(all[0] < all[1] && all[1] < all[2]);
    CHECK_FAILS(ttt_loader_val(l, 3, tok, NULL), TTT_ERR_ARG, "validation sample 3 of 3");
    /* epoch 0 and 1: permutations of the training sequences, different from each other and
     * from another seed's */
    uint64_t e0[MAXS / W], e1[MAXS / W], o2[MAXS / W];
    for (uint64_t i = 0; i < n_train; i++) {
        CHECK_OK(ttt_loader_train_sequence(l, (ttt_loader_pos){0, i}, &e0[i]));
        CHECK_OK(ttt_loader_train_sequence(l, (ttt_loader_pos){1, i}, &e1[i]));
        CHECK_OK(ttt_loader_train_sequence(l2, (ttt_loader_pos){0, i}, &o2[i]));
        all[3 + i] = e0[i];
    }
    CHECK(memcmp(e0, e1, n_train * 8) != 0 && memcmp(e0, o2, n_train * 8) != 0);
    qsort(all, n_seq, sizeof *all, cmp_u64);
    int partition = 1;
    for (uint64_t k = 0; k < n_seq; k++) partition &= all[k] == k;
    CHECK(partition);
    qsort(e1, n_train, 8, cmp_u64);
    qsort(o2, n_train, 8, cmp_u64);
    uint64_t s0[MAXS / W];
    memcpy(s0, e0, n_train * 8);
    qsort(s0, n_train, 8, cmp_u64);
    CHECK(!memcmp(s0, e1, n_train * 8) && !memcmp(s0, o2, n_train * 8));
    /* next() follows the order: the first batch is e0[0..] */
    int32_t batch[2 * W];
    uint8_t fl[2 * W];
    CHECK_OK(ttt_loader_next(l, 2, batch, fl));
    CHECK(!memcmp(batch, g_stream + e0[0] * W, W * 4) && !memcmp(batch + W, g_stream + e0[1] * W,
                                                                 W * 4));
    CHECK(!memcmp(fl + W, g_flag + e0[1] * W, W));
    /* a fraction: rounded down */
    ttt_loader_params p = ttt_loader_default_params();
    p.seq_len = T;
    p.n_vocab = 100;
    p.val_fraction = 0.25;
    ttt_loader *l3 = NULL;
    CHECK_OK(ttt_loader_open(g_paths, 2, &p, &l3));
    CHECK(ttt_loader_n_val(l3) == n_seq / 4);
    ttt_loader_free(l3);
done:
    ttt_loader_free(l);
    ttt_loader_free(l2);
}

static void test_resume(void) {
    ttt_loader *a = open_loader(5, 2), *b = open_loader(5, 2);
    if (!a || !b) goto done;
    uint64_t n_train = ttt_loader_n_train(a);
    int32_t x[W * 64], y[W * 64];
    uint8_t fx[W * 64], fy[W * 64];
    int first = (int)n_train - 2, then = 7; /* the second batch crosses into epoch 1 */
    CHECK_OK(ttt_loader_next(a, first, x, fx));
    ttt_loader_pos pos = ttt_loader_get_pos(a);
    CHECK(pos.epoch == 0 && pos.index == (uint64_t)first);
    CHECK_OK(ttt_loader_next(a, then, x, fx));
    CHECK(ttt_loader_get_pos(a).epoch == 1 && ttt_loader_get_pos(a).index == 5);
    CHECK_OK(ttt_loader_set_pos(b, pos));
    CHECK_OK(ttt_loader_next(b, then, y, fy));
    CHECK(!memcmp(x, y, sizeof(int32_t) * W * (size_t)then));
    CHECK(!memcmp(fx, fy, (size_t)W * (size_t)then));
    /* the same as reading straight through */
    ttt_loader *c = open_loader(5, 2);
    if (c) {
        int32_t z[W * 64];
        CHECK_OK(ttt_loader_next(c, first, z, NULL));
        CHECK_OK(ttt_loader_next(c, then, z, NULL));
        CHECK(!memcmp(x, z, sizeof(int32_t) * W * (size_t)then));
        ttt_loader_free(c);
    }
    CHECK_FAILS(ttt_loader_set_pos(b, (ttt_loader_pos){0, n_train}), TTT_ERR_ARG,
                "past the");
done:
    ttt_loader_free(a);
    ttt_loader_free(b);
}

static void test_bad(void) {
    ttt_loader_params p = ttt_loader_default_params();
    p.seq_len = T;
    p.n_vocab = 90; /* ids go to 89 and EOS is 99 */
    ttt_loader *l = NULL;
    CHECK_FAILS(ttt_loader_open(g_paths, 2, &p, &l), TTT_ERR_FORMAT, "EOS id 99 is not below "
                "the model's vocab size 90");
    p.n_vocab = 50;
    CHECK_FAILS(ttt_loader_open(g_paths, 2, &p, &l), TTT_ERR_FORMAT, "not below the model's "
                "vocab size 50");
    p.n_vocab = 100;
    p.seq_len = 100000;
    CHECK_FAILS(ttt_loader_open(g_paths, 2, &p, &l), TTT_ERR_ARG, "none left to train on");
    p.seq_len = T;
    p.val_count = 1000;
    CHECK_FAILS(ttt_loader_open(g_paths, 2, &p, &l), TTT_ERR_ARG, "none left to train on");
    p.val_count = 0;
    p.val_fraction = 1.0;
    CHECK_FAILS(ttt_loader_open(g_paths, 2, &p, &l), TTT_ERR_ARG, "outside [0, 1)");
    p.val_fraction = 0;
    /* shards without EOS need one from the caller; shards must agree on it */
    char c[1024];
    snprintf(c, sizeof c, "%s/loader_c.bin", g_tmp);
    int save = g_len;
    write_shard(c, (const int[]){4}, 1, 0, TTT_SHARD_NO_TOKEN);
    g_len = save;
    const char *one[] = {c}, *mixed[] = {g_a, c};
    CHECK_FAILS(ttt_loader_open(one, 1, &p, &l), TTT_ERR_ARG, "no EOS id");
    CHECK_FAILS(ttt_loader_open(mixed, 2, &p, &l), TTT_ERR_FORMAT, "EOS id");
    p.eos_id = 3;
    p.seq_len = 2;
    CHECK_OK(ttt_loader_open(one, 1, &p, &l));
    ttt_loader_free(l);
    l = NULL;
    CHECK_FAILS(ttt_loader_open_dir("/nonexistent", &p, &l), TTT_ERR_IO, "/nonexistent");
    CHECK_FAILS(ttt_loader_open_dir(g_tmp, &p, &l), TTT_ERR_IO, "no shard-NNNNN.bin files");
    CHECK(l == NULL);
}

int main(void) {
    g_tmp = getenv("TTT_TEST_TMP");
    if (!g_tmp) g_tmp = "/tmp";
    snprintf(g_a, sizeof g_a, "%s/loader_a.bin", g_tmp);
    snprintf(g_b, sizeof g_b, "%s/loader_b.bin", g_tmp);
    /* lengths that put boundaries everywhere: single tokens, exact sequence fits, long ones */
    static const int la[] = {1, 7, 8, 15, 3, 1, 1, 22, 5};
    static const int lb[] = {9, 2, 30, 6, 1, 12};
    write_shard(g_a, la, 9, 0, EOS);
    write_shard(g_b, lb, 6, 40, EOS);
    test_packing();
    test_split_and_order();
    test_resume();
    test_bad();
    return check_summary("test_loader");
}
