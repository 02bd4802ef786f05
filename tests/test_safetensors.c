/* test_safetensors.c - the safetensors reader (every validation rule), the atomic writer,
 * sharded checkpoints, the public ttt_tensors API and conversion to float32. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "io/safetensors.h"
#include "ttt.h"
#include "util/err.h"
#include "util/fp.h"
#include "util/mem.h"
#include "util/utf8.h"

/* ---- scratch files ---- */

static char g_dir[600]; /* $TTT_TEST_TMP/st_<pid>, removed at the end */

/* g_dir/name into buf (a static ring, so a few may be live at once). */
static const char *tpath(const char *name) {
    static char ring[8][1024];
    static int k;
    char *p = ring[k++ % 8];
    snprintf(p, sizeof ring[0], "%s/%s", g_dir, name);
    return p;
}

static const char *tdir(const char *name) {
    const char *p = tpath(name);
    mkdir(p, 0755);
    return p;
}

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static int write_text(const char *path, const char *text) {
    return write_bytes(path, text, strlen(text));
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* the writer's temp name for path, as st_write.c forms it */
static int tmp_left(const char *path) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    return file_exists(tmp);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    if (buf) buf[fread(buf, 1, (1 << 16) - 1, f)] = '\0';
    fclose(f);
    return buf;
}

/* open descriptors, to catch a reader or writer that leaks one */
static int count_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* ---- in-memory images ---- */

/* A safetensors image: 8-byte length, the header (single quotes become double quotes, so the
 * JSON reads well in C), then the data. */
static uint8_t *image(const char *json, const void *data, size_t dlen, size_t *len) {
    size_t h = strlen(json);
    uint8_t *b = malloc(8 + h + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    for (size_t i = 0; i < h; i++) b[8 + i] = json[i] == '\'' ? '"' : (uint8_t)json[i];
    if (dlen) memcpy(b + 8 + h, data, dlen);
    *len = 8 + h + dlen;
    return b;
}

static const uint8_t k_zeros[256];

#define PARSE_FAILS(json, dlen, want, needle)                                \
    do {                                                                     \
        size_t n_;                                                           \
        uint8_t *b_ = image(json, k_zeros, dlen, &n_);                       \
        ttt_st_file f_;                                                      \
        CHECK_FAILS(ttt_st_parse(b_, n_, "mem.safetensors", &f_), want, needle); \
        CHECK(f_.n_tensors == 0 && f_.tensors == NULL && f_.label == NULL);  \
        ttt_st_close(&f_);                                                   \
        free(b_);                                                            \
    } while (0)

#define BYTES_FAIL(buf, len, want, needle)                                   \
    do {                                                                     \
        ttt_st_file f_;                                                      \
        CHECK_FAILS(ttt_st_parse(buf, len, "mem.safetensors", &f_), want, needle); \
        ttt_st_close(&f_);                                                   \
    } while (0)

/* ---- element types and UTF-8 ---- */

static void test_dtypes(void) {
    CHECK(ttt_dtype_size(TTT_DT_F32) == 4 && ttt_dtype_size(TTT_DT_BF16) == 2);
    CHECK(ttt_dtype_size(TTT_DT_F64) == 8 && ttt_dtype_size(TTT_DT_BOOL) == 1);
    CHECK(ttt_dtype_size((ttt_dtype)99) == 0);
    for (int t = 0; t < TTT_DT_COUNT; t++)
        CHECK(ttt_dtype_from_name(ttt_dtype_name((ttt_dtype)t)) == t);
    CHECK(ttt_dtype_from_name("F8_E4M3") == TTT_DT_F8_E4M3);
    CHECK(ttt_dtype_from_name("f32") == -1);
    CHECK(ttt_dtype_from_name("") == -1);
    CHECK(ttt_dtype_from_name(NULL) == -1);
}

static void test_utf8(void) {
    size_t at = 99;
    CHECK(ttt_utf8_valid("", 0, &at));
    CHECK(ttt_utf8_valid("plain ascii text, long enough for the fast path", 47, &at));
    CHECK(ttt_utf8_valid("\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80", 9, &at)); /* ä € 😀 */
    CHECK(ttt_utf8_valid("\xf4\x8f\xbf\xbf", 4, &at));                        /* U+10FFFF */
    CHECK(ttt_utf8_valid("\xed\x9f\xbf", 3, &at));                            /* U+D7FF */
    struct {
        const char *s;
        size_t n, at;
    } bad[] = {
        {"ab\xc0\xaf", 4, 2},              /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},            /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", 4, 0},        /* overlong, 4 bytes */
        {"x\xed\xa0\x80", 4, 1},           /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0},        /* U+110000 */
        {"\xf5\x80\x80\x80", 4, 0},        /* lead byte past F4 */
        {"abc\xe2\x82", 5, 3},             /* truncated at the end */
        {"\xe2\x28\xa1", 3, 0},            /* bad continuation */
        {"01234567\x80", 9, 8},            /* stray continuation after the fast path */
        {"\xff", 1, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        at = 99;
        CHECK(!ttt_utf8_valid(bad[i].s, bad[i].n, &at) && at == bad[i].at);
    }
}

/* ---- the reader, in memory ---- */

static void test_parse_good(void) {
    float v[3] = {1.5f, -2.0f, 3.25f};
    uint8_t d[12 + 2];
    memcpy(d, v, 12);
    d[12] = 1;
    d[13] = 0;
    size_t n;
    uint8_t *b = image("{'__metadata__':{'format':'pt','k':'v'},"
                       "'w':{'dtype':'F32','shape':[3],'data_offsets':[0,12]},"
                       "'e':{'dtype':'F16','shape':[0,5],'data_offsets':[12,12]},"
                       "'s':{'dtype':'BOOL','shape':[],'data_offsets':[12,13]},"
                       "'u':{'dtype':'U8','shape':[1],'data_offsets':[13,14],'extra':1}}    ",
                       d, sizeof d, &n);
    ttt_st_file f;
    CHECK_OK(ttt_st_parse(b, n, "mem", &f));
    CHECK(f.n_tensors == 4 && f.n_meta == 2);
    const ttt_st_tensor *w = ttt_st_find(&f, "w");
    CHECK(w && w->dtype == TTT_DT_F32 && w->ndim == 1 && w->shape[0] == 3 && w->n_elements == 3);
    CHECK(w && memcmp(w->data, v, 12) == 0);
    const ttt_st_tensor *e = ttt_st_find(&f, "e");
    CHECK(e && e->n_elements == 0 && e->ndim == 2 && e->begin == e->end);
    const ttt_st_tensor *s = ttt_st_find(&f, "s");
    CHECK(s && s->ndim == 0 && s->n_elements == 1 && *(const uint8_t *)s->data == 1);
    CHECK(ttt_st_find(&f, "x") == NULL && ttt_st_find(&f, "") == NULL);
    CHECK(strcmp(f.tensors[0].name, "e") == 0 && strcmp(f.tensors[3].name, "w") == 0);
    int found = 0;
    for (int i = 0; i < f.n_meta; i++)
        found += strcmp(f.meta[i].key, "k") == 0 && strcmp(f.meta[i].value, "v") == 0;
    CHECK(found == 1);
    ttt_st_close(&f);
    free(b);

    /* no tensors, no data: a valid (empty) file */
    b = image("{}", NULL, 0, &n);
    CHECK_OK(ttt_st_parse(b, n, "mem", &f));
    CHECK(f.n_tensors == 0);
    ttt_st_close(&f);
    free(b);
}

/* A header whose length is 1 mod 4 puts F32 data off its alignment: it must load through an
 * aligned copy with the same values, while aligned data is used in place. */
static void test_parse_misaligned(void) {
    float v[4] = {0.5f, -1.25f, 1e-3f, 42.0f};
    uint16_t h[2] = {0x3f80, 0xc000};
    uint8_t d[20];
    memcpy(d, v, 16);
    memcpy(d + 16, h, 4);
    const char *json = "{'a':{'dtype':'F32','shape':[2,2],'data_offsets':[0,16]},"
                       "'b':{'dtype':'U8','shape':[4],'data_offsets':[16,20]}} ";
    char padded[256];
    snprintf(padded, sizeof padded, "%s", json);
    while (strlen(padded) % 4 != 1) strcat(padded, " ");
    size_t n;
    uint8_t *b = image(padded, d, sizeof d, &n);
    ttt_st_file f;
    CHECK_OK(ttt_st_parse(b, n, "mem", &f));
    const ttt_st_tensor *a = ttt_st_find(&f, "a");
    CHECK(a && (uintptr_t)a->data % 4 == 0 && memcmp(a->data, v, 16) == 0);
    CHECK(a && ((const uint8_t *)a->data < b || (const uint8_t *)a->data >= b + n));
    CHECK(f.n_copies == 1);
    const ttt_st_tensor *u = ttt_st_find(&f, "b");
    CHECK(u && (const uint8_t *)u->data == b + 8 + f.header_len + 16); /* bytes: no copy */
    ttt_st_close(&f);

    /* the same through mmap */
    const char *path = tpath("misaligned.safetensors");
    CHECK(write_bytes(path, b, n) == 0);
    CHECK_OK(ttt_st_open(path, &f));
    a = ttt_st_find(&f, "a");
    CHECK(a && (uintptr_t)a->data % 4 == 0 && memcmp(a->data, v, 16) == 0 && f.n_copies == 1);
    ttt_st_close(&f);
    free(b);
}

static void test_parse_sizes(void) {
    uint8_t b[64] = {0};
    BYTES_FAIL(b, 0, TTT_ERR_FORMAT, "empty file (0 bytes)");
    BYTES_FAIL(b, 5, TTT_ERR_FORMAT, "truncated: 5 bytes, shorter than the 8-byte header length");

    /* header length 1000 in an 18-byte file */
    b[0] = 0xe8;
    b[1] = 0x03;
    BYTES_FAIL(b, 18, TTT_ERR_FORMAT,
               "header length 1000 runs past the end of the file (18 bytes)");
    /* 100,000,001: one past the format's limit */
    uint64_t big = 100000001;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(big >> (8 * i));
    BYTES_FAIL(b, sizeof b, TTT_ERR_FORMAT, "header length 100000001 exceeds the format's limit");
    memset(b, 0xff, 8);
    BYTES_FAIL(b, sizeof b, TTT_ERR_FORMAT, "header length 18446744073709551615 exceeds");
    memset(b, 0, 8); /* header length 0: no JSON at all */
    BYTES_FAIL(b, sizeof b, TTT_ERR_FORMAT, "header is not valid JSON");
}

static void test_parse_header_text(void) {
    /* the overlong C0 AF sits at header byte 2, file offset 10 */
    PARSE_FAILS("{'\xc0\xaf':{'dtype':'F32','shape':[],'data_offsets':[0,4]}}", 4,
                TTT_ERR_FORMAT, "header is not valid UTF-8 (byte 0xc0 at file offset 10)");
    PARSE_FAILS("{'\xed\xa0\x80':{}}", 0, TTT_ERR_FORMAT, "not valid UTF-8");
    PARSE_FAILS("{'a\x01':{}}", 0, TTT_ERR_FORMAT, "control byte 0x01 at file offset 11");
    PARSE_FAILS("{'a':{'dtype':'F32',", 0, TTT_ERR_FORMAT, "header is not valid JSON");
    PARSE_FAILS("{'a':1,}", 0, TTT_ERR_FORMAT, "header is not valid JSON");
    PARSE_FAILS("[1,2]", 0, TTT_ERR_FORMAT, "header's top level is a JSON array, not an object");
    PARSE_FAILS("'x'", 0, TTT_ERR_FORMAT, "top level is a JSON string");
    PARSE_FAILS("\xef\xbb\xbf{}", 0, TTT_ERR_FORMAT, "header starts with a UTF-8 byte order mark");
    PARSE_FAILS("{} {}", 0, TTT_ERR_FORMAT,
                "header has bytes after its JSON value, at file offset 11");
}

static void test_parse_entries(void) {
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                "'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}",
                8, TTT_ERR_FORMAT, "duplicate tensor name \"a\"");
    PARSE_FAILS("{'__metadata__':{},'__metadata__':{}}", 0, TTT_ERR_FORMAT,
                "duplicate key \"__metadata__\"");
    PARSE_FAILS("{'a':[1]}", 0, TTT_ERR_FORMAT,
                "tensor \"a\": entry is a JSON array, not an object");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1]}}", 4, TTT_ERR_FORMAT,
                "tensor \"a\": missing field \"data_offsets\"");
    PARSE_FAILS("{'a':{'dtype':'F32','dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 4,
                TTT_ERR_FORMAT, "tensor \"a\": duplicate field \"dtype\"");
    PARSE_FAILS("{'a':{'DType':'F32','shape':[1],'data_offsets':[0,4]}}", 4, TTT_ERR_FORMAT,
                "missing field \"dtype\"");
    PARSE_FAILS("{'a':{'dtype':'F31','shape':[1],'data_offsets':[0,4]}}", 4, TTT_ERR_FORMAT,
                "tensor \"a\": unknown dtype \"F31\"");
    PARSE_FAILS("{'a':{'dtype':4,'shape':[1],'data_offsets':[0,4]}}", 4, TTT_ERR_FORMAT,
                "dtype is a JSON number, not a string");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':4,'data_offsets':[0,4]}}", 4, TTT_ERR_FORMAT,
                "shape is a JSON number, not an array");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':['1'],'data_offsets':[0,4]}}", 4, TTT_ERR_FORMAT,
                "tensor \"a\": shape[0] is a string, not an integer");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[2,-1],'data_offsets':[0,4]}}", 4, TTT_ERR_FORMAT,
                "tensor \"a\": shape[1] is negative");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1.5],'data_offsets':[0,4]}}", 4, TTT_ERR_FORMAT,
                "shape[0] = 1.5 is not an integer");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1e20],'data_offsets':[0,4]}}", 4, TTT_ERR_FORMAT,
                "shape[0] = 1e+20 is above 2^53");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1,1,1,1,1,1,1,1,1],'data_offsets':[0,4]}}", 4,
                TTT_ERR_FORMAT, "tensor \"a\": shape has more than 8 dims");
    PARSE_FAILS("{'a':{'dtype':'U8','shape':[1099511627776,1099511627776,1099511627776],"
                "'data_offsets':[0,4]}}",
                4, TTT_ERR_FORMAT,
                "element count of shape [1099511627776, 1099511627776, 1099511627776] overflows");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[2147483648,2147483648],'data_offsets':[0,4]}}", 4,
                TTT_ERR_FORMAT, "byte size of F32 [2147483648, 2147483648] overflows");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[3],'data_offsets':[0,8]}}", 8, TTT_ERR_FORMAT,
                "tensor \"a\": dtype/shape mismatch: F32 [3] needs 12 bytes but data_offsets "
                "[0, 8] hold 8");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0]}}", 4, TTT_ERR_FORMAT,
                "data_offsets must be an array of two integers");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4,8]}}", 8, TTT_ERR_FORMAT,
                "data_offsets must be an array of two integers");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,'4']}}", 4, TTT_ERR_FORMAT,
                "data_offsets[1] is a string, not an integer");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1],'data_offsets':[8,4]}}", 8, TTT_ERR_FORMAT,
                "tensor \"a\": data_offsets [8, 4] begin > end");
    PARSE_FAILS("{'__metadata__':{'k':1}}", 0, TTT_ERR_FORMAT,
                "__metadata__ field \"k\" is a JSON number, not a string");
    PARSE_FAILS("{'__metadata__':['k']}", 0, TTT_ERR_FORMAT,
                "__metadata__ is a JSON array, not an object of strings");
    PARSE_FAILS("{'__metadata__':{'k':'a','k':'b'}}", 0, TTT_ERR_FORMAT,
                "__metadata__ has duplicate key \"k\"");
}

static void test_parse_layout(void) {
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
                "'b':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}}",
                12, TTT_ERR_FORMAT,
                "gap in the data buffer: bytes [4, 8) belong to no tensor (tensor \"b\" begins "
                "at offset 8)");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8, TTT_ERR_FORMAT,
                "bytes [0, 4) belong to no tensor");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
                "'b':{'dtype':'F32','shape':[2],'data_offsets':[4,12]}}",
                12, TTT_ERR_FORMAT, "tensors \"a\" [0, 8) and \"b\" [4, 12) overlap");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
                "'z':{'dtype':'F32','shape':[0],'data_offsets':[4,4]}}",
                8, TTT_ERR_FORMAT, "tensors \"a\" [0, 8) and \"z\" [4, 4) overlap");
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]}}", 8, TTT_ERR_FORMAT,
                "4 bytes left over in the data buffer after the last tensor");
    PARSE_FAILS("{}", 3, TTT_ERR_FORMAT, "3 bytes left over in the data buffer");
    /* offsets past the end: also what a file cut short looks like */
    PARSE_FAILS("{'a':{'dtype':'F32','shape':[4],'data_offsets':[0,16]}}", 8, TTT_ERR_FORMAT,
                "tensor \"a\": data_offsets [0, 16] run past the end of the data buffer (8 bytes)");
}

/* ---- the reader, on disk ---- */

static void test_open_files(void) {
    ttt_st_file f;
    const char *empty = tpath("empty.safetensors");
    CHECK(write_bytes(empty, "", 0) == 0);
    CHECK_FAILS(ttt_st_open(empty, &f), TTT_ERR_FORMAT, "empty.safetensors: empty file (0 bytes)");
    const char *tiny = tpath("tiny.safetensors");
    CHECK(write_bytes(tiny, "\x10\0\0", 3) == 0);
    CHECK_FAILS(ttt_st_open(tiny, &f), TTT_ERR_FORMAT, "tiny.safetensors: truncated: 3 bytes");
    CHECK_FAILS(ttt_st_open(tpath("absent.safetensors"), &f), TTT_ERR_IO,
                "absent.safetensors: cannot open: No such file or directory");
    CHECK_FAILS(ttt_st_open(g_dir, &f), TTT_ERR_IO, "not a regular file");

    /* a good header whose data buffer was cut short */
    size_t n;
    uint8_t *b = image("{'a':{'dtype':'F32','shape':[4],'data_offsets':[0,16]}}", k_zeros, 16, &n);
    const char *cut = tpath("cut.safetensors");
    CHECK(write_bytes(cut, b, n - 6) == 0);
    CHECK_FAILS(ttt_st_open(cut, &f), TTT_ERR_FORMAT,
                "cut.safetensors: tensor \"a\": data_offsets [0, 16] run past the end of the "
                "data buffer (10 bytes)");
    CHECK(f.map == NULL && f.n_tensors == 0);
    free(b);
}

/* ---- writer + reader ---- */

static void fill_pattern(uint8_t *p, size_t n, int seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 31u + (unsigned)seed * 7u + 1u);
}

static void test_roundtrip(void) {
    const ttt_st_desc descs[] = {
        {"layer.weight", TTT_DT_F32, 2, {2, 3}},
        {"bf", TTT_DT_BF16, 1, {5}},
        {"half", TTT_DT_F16, 1, {3}},
        {"ids", TTT_DT_I32, 2, {2, 2}},
        {"bytes", TTT_DT_U8, 1, {7}},
        {"dbl", TTT_DT_F64, 1, {2}},
        {"i64", TTT_DT_I64, 0, {0}},
        {"mask", TTT_DT_BOOL, 1, {3}},
        {"empty", TTT_DT_F32, 2, {0, 4}},
        {"na\xc3\xafve \"quoted\" \\ name", TTT_DT_I16, 1, {3}},
    };
    const int nd = (int)(sizeof descs / sizeof descs[0]);
    const ttt_st_meta meta[] = {{"format", "pt"}, {"note", "line\nbreak \"q\""}};
    const char *path = tpath("roundtrip.safetensors");
    ttt_st_writer *w = NULL;
    CHECK_OK(ttt_st_writer_open(path, descs, nd, meta, 2, &w));
    uint8_t *bufs[16];
    uint64_t sizes[16];
    for (int i = 0; i < nd && w; i++) {
        CHECK(ttt_st_desc_bytes(&descs[i], &sizes[i]));
        bufs[i] = malloc(sizes[i] + 1);
        fill_pattern(bufs[i], sizes[i], i);
        /* odd splits: the writer must not care how the bytes arrive */
        size_t half = sizes[i] / 3;
        CHECK_OK(ttt_st_writer_put(w, bufs[i], half));
        CHECK_OK(ttt_st_writer_put(w, bufs[i] + half, sizes[i] - half));
    }
    CHECK_OK(ttt_st_writer_commit(w));
    CHECK(!tmp_left(path));

    ttt_st_file f;
    CHECK_OK(ttt_st_open(path, &f));
    CHECK(f.n_tensors == nd && f.n_meta == 2 && f.header_len % 8 == 0);
    for (int i = 0; i < nd && f.n_tensors == nd; i++) {
        const ttt_st_tensor *t = ttt_st_find(&f, descs[i].name);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK(t->dtype == descs[i].dtype && t->ndim == descs[i].ndim);
        for (int k = 0; k < t->ndim; k++) CHECK(t->shape[k] == descs[i].shape[k]);
        CHECK(t->end - t->begin == sizes[i]);
        CHECK(sizes[i] == 0 || memcmp(t->data, bufs[i], sizes[i]) == 0);
        /* data lands in desc order, so some of it is off its alignment (the "bytes" U8[7]
         * shifts what follows): those load through aligned copies, the rest in place */
        const uint8_t *in_file = f.base + 8 + f.header_len + t->begin;
        size_t esize = ttt_dtype_size(t->dtype);
        CHECK((uintptr_t)t->data % esize == 0);
        CHECK((uintptr_t)in_file % esize != 0 || (const uint8_t *)t->data == in_file);
    }
    CHECK(f.n_copies > 0);
    int note = 0;
    for (int i = 0; i < f.n_meta; i++)
        note += strcmp(f.meta[i].key, "note") == 0 && strcmp(f.meta[i].value, meta[1].value) == 0;
    CHECK(note == 1);
    ttt_st_close(&f);
    for (int i = 0; i < nd; i++) free(bufs[i]);
}

static void test_to_f32(void) {
    const ttt_st_desc descs[] = {
        {"bf16", TTT_DT_BF16, 1, {4}}, {"f16", TTT_DT_F16, 1, {4}},  {"i32", TTT_DT_I32, 1, {3}},
        {"f64", TTT_DT_F64, 1, {2}},   {"u8", TTT_DT_U8, 1, {2}},    {"bool", TTT_DT_BOOL, 1, {2}},
        {"i64", TTT_DT_I64, 1, {2}},   {"e4m3", TTT_DT_F8_E4M3, 1, {3}},
        {"e5m2", TTT_DT_F8_E5M2, 1, {2}},
    };
    uint16_t bf[4] = {ttt_f32_to_bf16(1.5f), ttt_f32_to_bf16(-2.0f), ttt_f32_to_bf16(0.1f), 0};
    uint16_t hf[4] = {ttt_f32_to_f16(0.5f), ttt_f32_to_f16(-3.0f), ttt_f32_to_f16(65504.0f), 1};
    int32_t i32[3] = {-7, 0, 123456};
    double f64[2] = {0.25, -1e3};
    uint8_t u8[2] = {0, 255}, bl[2] = {0, 3};
    int64_t i64[2] = {-5, 1LL << 40};
    uint8_t e4[3] = {0x38, 0xc0, 0x01}; /* 1.0, -2.0, 2^-9 */
    uint8_t e5[2] = {0x3c, 0xc0};       /* 1.0, -2.0 */
    const void *src[] = {bf, hf, i32, f64, u8, bl, i64, e4, e5};
    const char *path = tpath("convert.safetensors");
    ttt_st_writer *w = NULL;
    CHECK_OK(ttt_st_writer_open(path, descs, 9, NULL, 0, &w));
    for (int i = 0; i < 9 && w; i++) {
        uint64_t b;
        ttt_st_desc_bytes(&descs[i], &b);
        CHECK_OK(ttt_st_writer_put(w, src[i], (size_t)b));
    }
    CHECK_OK(ttt_st_writer_commit(w));

    ttt_tensors *t = NULL;
    CHECK_OK(ttt_tensors_open(path, &t));
    ttt_tensor_info info;
    float out[8];
    CHECK_OK(ttt_tensors_find(t, "bf16", &info));
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == 1.5f && out[1] == -2.0f && out[2] == ttt_bf16_to_f32(bf[2]) && out[3] == 0.0f);
    CHECK(out[2] > 0.099f && out[2] < 0.101f);
    CHECK_OK(ttt_tensors_find(t, "f16", &info));
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == 0.5f && out[1] == -3.0f && out[2] == 65504.0f && out[3] == 0x1p-24f);
    CHECK_OK(ttt_tensors_find(t, "i32", &info));
    CHECK(info.n_elements == 3 && info.n_bytes == 12 && info.dtype == TTT_DT_I32);
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == -7.0f && out[1] == 0.0f && out[2] == 123456.0f);
    CHECK_OK(ttt_tensors_find(t, "f64", &info));
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == 0.25f && out[1] == -1000.0f);
    CHECK_OK(ttt_tensors_find(t, "u8", &info));
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == 0.0f && out[1] == 255.0f);
    CHECK_OK(ttt_tensors_find(t, "bool", &info));
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == 0.0f && out[1] == 1.0f);
    CHECK_OK(ttt_tensors_find(t, "i64", &info));
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == -5.0f && out[1] == 0x1p40f);
    CHECK_OK(ttt_tensors_find(t, "e4m3", &info));
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0x1p-9f);
    CHECK_OK(ttt_tensors_find(t, "e5m2", &info));
    CHECK_OK(ttt_tensor_to_f32(&info, out));
    CHECK(out[0] == 1.0f && out[1] == -2.0f);
    info.n_bytes = 1; /* a lying info must not make it read past the data */
    CHECK_FAILS(ttt_tensor_to_f32(&info, out), TTT_ERR_ARG, "cannot hold");
    ttt_tensors_close(t);
}

/* ---- checkpoints: single file and shards ---- */

static const ttt_st_desc k_ckpt[] = {
    {"model.embed.weight", TTT_DT_F32, 1, {16}}, /* 64 bytes */
    {"model.norm.weight", TTT_DT_BF16, 1, {16}}, /* 32 */
    {"model.l0.weight", TTT_DT_F32, 2, {4, 4}},  /* 64 */
    {"model.l0.bias", TTT_DT_F16, 1, {16}},      /* 32 */
    {"lm_head.weight", TTT_DT_F32, 1, {16}},     /* 64 */
};
#define N_CKPT 5
#define CKPT_BYTES 256

static ttt_status fill_ckpt(void *ctx, int i, void *dst, size_t n) {
    int *calls = ctx;
    (*calls)++;
    fill_pattern(dst, n, 100 + i);
    return TTT_OK;
}

static ttt_status fill_fails(void *ctx, int i, void *dst, size_t n) {
    (void)ctx;
    if (i == 3) return ttt_err(TTT_ERR_CONFIG, "synthetic failure");
    fill_pattern(dst, n, 100 + i);
    return TTT_OK;
}

/* Every tensor of k_ckpt is there with the bytes fill_ckpt made. */
static void check_ckpt(const char *path, int want_files) {
    ttt_st_set s;
    CHECK_OK(ttt_st_set_open(path, &s));
    CHECK(s.n_files == want_files && s.n_tensors == N_CKPT);
    /* ttt_st_save orders each file's data so that nothing needs an aligned copy */
    for (int i = 0; i < s.n_files; i++) CHECK(s.files[i].n_copies == 0);
    for (int i = 0; i < N_CKPT; i++) {
        const ttt_st_tensor *t = ttt_st_set_find(&s, k_ckpt[i].name);
        CHECK(t != NULL);
        if (!t) continue;
        uint8_t want[64];
        uint64_t n = t->end - t->begin;
        fill_pattern(want, (size_t)n, 100 + i);
        CHECK(n <= 64 && memcmp(t->data, want, (size_t)n) == 0);
    }
    for (int i = 1; i < s.n_tensors; i++) CHECK(strcmp(s.index[i - 1]->name, s.index[i]->name) < 0);
    CHECK(ttt_st_set_find(&s, "missing.weight") == NULL);
    ttt_st_set_close(&s);

    ttt_tensors *t = NULL;
    CHECK_OK(ttt_tensors_open(path, &t));
    CHECK(ttt_tensors_count(t) == N_CKPT);
    ttt_tensor_info info;
    CHECK_OK(ttt_tensors_get(t, 0, &info));
    CHECK(strcmp(info.name, "lm_head.weight") == 0 && info.n_bytes == 64 && info.n_elements == 16);
    CHECK_OK(ttt_tensors_find(t, "model.l0.weight", &info));
    CHECK(info.ndim == 2 && info.shape[0] == 4 && info.shape[1] == 4 && info.dtype == TTT_DT_F32);
    CHECK_FAILS(ttt_tensors_find(t, "missing.weight", &info), TTT_ERR_FORMAT,
                "no tensor named \"missing.weight\"");
    CHECK_FAILS(ttt_tensors_get(t, N_CKPT, &info), TTT_ERR_ARG, "tensor index 5 is outside 0..4");
    ttt_tensors_close(t);
}

static void test_save(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tdir("ckpt"));
    char p1[1100], p2[1100], p3[1100], idx[1100], single[1100];
    snprintf(p1, sizeof p1, "%s/model-00001-of-00003.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/model-00002-of-00003.safetensors", dir);
    snprintf(p3, sizeof p3, "%s/model-00003-of-00003.safetensors", dir);
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    snprintf(single, sizeof single, "%s/model.safetensors", dir);

    /* 64+32 | 64+32 | 64 under a 100-byte limit: three shards */
    int calls = 0;
    CHECK_OK(ttt_st_save(dir, k_ckpt, N_CKPT, 100, fill_ckpt, &calls));
    CHECK(calls == N_CKPT);
    CHECK(file_exists(p1) && file_exists(p2) && file_exists(p3) && file_exists(idx));
    CHECK(!file_exists(single));
    char *text = read_text(idx);
    CHECK(text && strstr(text, "\"total_size\": 256"));
    CHECK(text && strstr(text, "\"model.l0.bias\": \"model-00002-of-00003.safetensors\""));
    free(text);
    check_ckpt(dir, 3);
    ttt_st_file f;
    CHECK_OK(ttt_st_open(p3, &f));
    CHECK(f.n_tensors == 1 && ttt_st_find(&f, "lm_head.weight") && f.n_meta == 1 &&
          strcmp(f.meta[0].key, "format") == 0 && strcmp(f.meta[0].value, "pt") == 0);
    ttt_st_close(&f);

    /* the same tensors in one file: the old index and shards must go */
    calls = 0;
    CHECK_OK(ttt_st_save(dir, k_ckpt, N_CKPT, 1000, fill_ckpt, &calls));
    CHECK(file_exists(single) && !file_exists(idx));
    CHECK(!file_exists(p1) && !file_exists(p2) && !file_exists(p3));
    check_ckpt(dir, 1);
    check_ckpt(single, 1);

    /* back to shards (now two): model.safetensors must go, or transformers would load it */
    CHECK_OK(ttt_st_save(dir, k_ckpt, N_CKPT, 160, fill_ckpt, &calls));
    CHECK(!file_exists(single) && file_exists(idx));
    CHECK(file_exists(tpath("ckpt/model-00002-of-00002.safetensors")));
    check_ckpt(dir, 2);

    /* exactly the limit: still one file */
    char dir2[1024];
    snprintf(dir2, sizeof dir2, "%s", tdir("ckpt_exact"));
    CHECK_OK(ttt_st_save(dir2, k_ckpt, N_CKPT, CKPT_BYTES, fill_ckpt, &calls));
    CHECK(file_exists(tpath("ckpt_exact/model.safetensors")));
    check_ckpt(dir2, 1);

    /* a failing fill: the error comes back, the shards it had made are gone and the previous
     * checkpoint stays readable */
    CHECK_FAILS(ttt_st_save(dir, k_ckpt, N_CKPT, 100, fill_fails, NULL), TTT_ERR_CONFIG,
                "tensor \"model.l0.bias\": synthetic failure");
    check_ckpt(dir, 2);
    CHECK(!file_exists(p1) && !file_exists(p2) && !file_exists(p3));

    const ttt_st_desc dup[] = {{"a", TTT_DT_F32, 0, {0}}, {"a", TTT_DT_F32, 0, {0}}};
    CHECK_FAILS(ttt_st_save(dir, dup, 2, 100, fill_ckpt, &calls), TTT_ERR_ARG,
                "duplicate tensor name \"a\"");
    ttt_tensors *none = NULL;
    CHECK_FAILS(ttt_tensors_open(tdir("ckpt_none"), &none), TTT_ERR_IO,
                "neither model.safetensors.index.json nor model.safetensors exists");
    CHECK(none == NULL);
}

/* ---- indexes ---- */

static void write_shard(const char *path, const char *const *names, int n) {
    ttt_st_desc d[4];
    for (int i = 0; i < n; i++) d[i] = (ttt_st_desc){names[i], TTT_DT_F32, 1, {2}};
    ttt_st_writer *w = NULL;
    CHECK_OK(ttt_st_writer_open(path, d, n, NULL, 0, &w));
    for (int i = 0; i < n && w; i++) CHECK_OK(ttt_st_writer_put(w, k_zeros, 8));
    CHECK_OK(ttt_st_writer_commit(w));
}

static void index_case(const char *dirname, const char *index_json, ttt_status want,
                       const char *needle, int line) {
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", tdir(dirname));
    char json[1024];
    size_t k = 0;
    for (; index_json[k] && k + 1 < sizeof json; k++)
        json[k] = index_json[k] == '\'' ? '"' : index_json[k];
    json[k] = '\0';
    CHECK(write_text(path, json) == 0);
    ttt_st_set s;
    ttt_status st = ttt_st_set_open(tpath(dirname), &s);
    check_count++;
    if (st != want || !strstr(ttt_last_error(), needle)) {
        check_failures++;
        fprintf(stderr, "%s:%d: index %s: got %d \"%s\"; want %d and \"%s\"\n", __FILE__, line,
                index_json, st, ttt_last_error(), want, needle);
    }
    CHECK(s.n_files == 0 && s.files == NULL && s.index == NULL);
    ttt_st_set_close(&s);
}

static void test_index(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", tdir("idx"));
    const char *s1[] = {"w", "v"}, *s2[] = {"x", "w"}, *s3[] = {"y"};
    write_shard(tpath("idx/s1.safetensors"), s1, 2);
    write_shard(tpath("idx/s2.safetensors"), s2, 2);
    write_shard(tpath("idx/s3.safetensors"), s3, 1);

    /* good: v in s1 is not listed, but HF tolerates that */
    CHECK(write_text(tpath("idx/model.safetensors.index.json"),
                     "{\"metadata\":{\"total_size\":24},"
                     "\"weight_map\":{\"w\":\"s1.safetensors\",\"y\":\"s3.safetensors\"}}") == 0);
    ttt_st_set s;
    CHECK_OK(ttt_st_set_open(dir, &s));
    CHECK(s.n_files == 2 && s.n_tensors == 3);
    CHECK(ttt_st_set_find(&s, "v") && ttt_st_set_find(&s, "y") && !ttt_st_set_find(&s, "x"));
    ttt_st_set_close(&s);

#define INDEX_FAILS(json, want, needle) index_case("idx", json, want, needle, __LINE__)
    INDEX_FAILS("{'weight_map':{'w':'../x.safetensors'}}", TTT_ERR_FORMAT,
                "weight_map[\"w\"] = \"../x.safetensors\" is not a plain file name");
    INDEX_FAILS("{'weight_map':{'w':'a/b.safetensors'}}", TTT_ERR_FORMAT,
                "\"a/b.safetensors\" is not a plain file name");
    INDEX_FAILS("{'weight_map':{'w':'a\\\\b.safetensors'}}", TTT_ERR_FORMAT,
                "is not a plain file name");
    INDEX_FAILS("{'weight_map':{'w':'..'}}", TTT_ERR_FORMAT, "not a plain file name");
    INDEX_FAILS("{'weight_map':{'w':''}}", TTT_ERR_FORMAT, "not a plain file name");
    INDEX_FAILS("{'weight_map':{'w':'missing.safetensors'}}", TTT_ERR_IO,
                "shard \"missing.safetensors\": ");
    INDEX_FAILS("{'weight_map':{'w':'missing.safetensors'}}", TTT_ERR_IO,
                "missing.safetensors: cannot open: No such file or directory");
    INDEX_FAILS("{'weight_map':{'w':'s1.safetensors','q':'s1.safetensors'}}", TTT_ERR_FORMAT,
                "tensor \"q\" of the weight_map is absent from its shard");
    INDEX_FAILS("{'weight_map':{'w':'s1.safetensors','x':'s2.safetensors'}}", TTT_ERR_FORMAT,
                "tensor \"w\" is in two shards");
    INDEX_FAILS("{'weight_map':{'w':'s1.safetensors','w':'s1.safetensors'}}", TTT_ERR_FORMAT,
                "weight_map lists tensor \"w\" twice");
    INDEX_FAILS("{'weight_map':{'w':7}}", TTT_ERR_FORMAT,
                "weight_map[\"w\"] is a JSON number, not a file name");
    INDEX_FAILS("{'metadata':{}}", TTT_ERR_FORMAT, "missing field \"weight_map\"");
    INDEX_FAILS("{'weight_map':[]}", TTT_ERR_FORMAT, "weight_map is a JSON array, not an object");
    INDEX_FAILS("{'weight_map':{}", TTT_ERR_FORMAT, "index is not valid JSON");
    INDEX_FAILS("[]", TTT_ERR_FORMAT, "index's top level is a JSON array");
    INDEX_FAILS("{'weight_map':{'w':'s1.safetensors'}}\xff", TTT_ERR_FORMAT,
                "index is not valid UTF-8");
    /* a broken shard: its own message, with the index and shard named */
    CHECK(write_bytes(tpath("idx/bad.safetensors"), "\x02\0\0\0\0\0\0\0[]", 10) == 0);
    INDEX_FAILS("{'weight_map':{'w':'bad.safetensors'}}", TTT_ERR_FORMAT,
                "shard \"bad.safetensors\": ");
#undef INDEX_FAILS
}

/* ---- writer failures ---- */

static void write_small(const char *path, float value) {
    const ttt_st_desc d = {"v", TTT_DT_F32, 1, {2}};
    float data[2] = {value, value};
    ttt_st_writer *w = NULL;
    CHECK_OK(ttt_st_writer_open(path, &d, 1, NULL, 0, &w));
    CHECK_OK(ttt_st_writer_put(w, data, sizeof data));
    CHECK_OK(ttt_st_writer_commit(w));
}

static int holds_value(const char *path, float value) {
    ttt_st_file f;
    if (ttt_st_open(path, &f) != TTT_OK) return 0;
    const ttt_st_tensor *t = ttt_st_find(&f, "v");
    int ok = t && t->n_elements == 2 && ((const float *)t->data)[0] == value &&
             ((const float *)t->data)[1] == value;
    ttt_st_close(&f);
    return ok;
}

static void test_writer_failures(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s", tpath("keep.safetensors"));
    write_small(path, 1.0f);
    CHECK(holds_value(path, 1.0f));

    const ttt_st_desc d[] = {{"v", TTT_DT_F32, 1, {2}}, {"u", TTT_DT_F32, 1, {4}}};
    ttt_st_writer *w = NULL;
    /* too few bytes */
    CHECK_OK(ttt_st_writer_open(path, d, 2, NULL, 0, &w));
    CHECK(tmp_left(path));
    CHECK_OK(ttt_st_writer_put(w, k_zeros, 20));
    CHECK_FAILS(ttt_st_writer_commit(w), TTT_ERR_ARG, "only 20 of the 24 data bytes came");
    CHECK(holds_value(path, 1.0f) && !tmp_left(path));

    /* too many */
    CHECK_OK(ttt_st_writer_open(path, d, 2, NULL, 0, &w));
    CHECK_FAILS(ttt_st_writer_put(w, k_zeros, 25), TTT_ERR_ARG,
                "25 more bytes than the header declares");
    CHECK_FAILS(ttt_st_writer_commit(w), TTT_ERR_ARG, "an earlier write failed");
    CHECK(holds_value(path, 1.0f) && !tmp_left(path));

    /* abort */
    CHECK_OK(ttt_st_writer_open(path, d, 2, NULL, 0, &w));
    ttt_st_writer_abort(w);
    ttt_st_writer_abort(NULL);
    CHECK(holds_value(path, 1.0f) && !tmp_left(path));

    /* bad descriptions are refused before anything is written */
    const ttt_st_desc dup[] = {{"v", TTT_DT_F32, 1, {2}}, {"v", TTT_DT_F32, 1, {2}}};
    CHECK_FAILS(ttt_st_writer_open(path, dup, 2, NULL, 0, &w), TTT_ERR_ARG,
                "duplicate tensor name \"v\"");
    CHECK(w == NULL);
    const ttt_st_desc neg = {"v", TTT_DT_F32, 1, {-2}};
    CHECK_FAILS(ttt_st_writer_open(path, &neg, 1, NULL, 0, &w), TTT_ERR_ARG,
                "shape[0] = -2 is out of range");
    const ttt_st_desc meta_name = {"__metadata__", TTT_DT_F32, 0, {0}};
    CHECK_FAILS(ttt_st_writer_open(path, &meta_name, 1, NULL, 0, &w), TTT_ERR_ARG,
                "is not a valid tensor name");
    const ttt_st_desc huge = {"h", TTT_DT_F64, 3, {1 << 30, 1 << 30, 1 << 30}};
    CHECK_FAILS(ttt_st_writer_open(path, &huge, 1, NULL, 0, &w), TTT_ERR_ARG,
                "byte size overflows");
    uint64_t bytes;
    CHECK(!ttt_st_desc_bytes(&huge, &bytes));
    const ttt_st_meta dm[] = {{"k", "a"}, {"k", "b"}};
    CHECK_FAILS(ttt_st_writer_open(path, d, 1, dm, 2, &w), TTT_ERR_ARG,
                "duplicate metadata key \"k\"");
    CHECK(holds_value(path, 1.0f));

    /* unwritable places */
    CHECK_FAILS(ttt_st_writer_open(tpath("no/such/dir/x.safetensors"), d, 1, NULL, 0, &w),
                TTT_ERR_IO, "cannot create temp file");
    CHECK_FAILS(ttt_st_writer_open(tpath("no/such/dir/x.safetensors"), d, 1, NULL, 0, &w),
                TTT_ERR_IO, "No such file or directory");
    CHECK_FAILS(ttt_st_writer_open(tpath("keep.safetensors/x.safetensors"), d, 1, NULL, 0, &w),
                TTT_ERR_IO, "Not a directory");
    CHECK_FAILS(ttt_st_save(tpath("no/such/dir"), d, 1, 100, fill_ckpt, NULL), TTT_ERR_IO,
                "no/such/dir/model.safetensors: cannot create temp file");
    /* no one, root included, may create files in /proc */
    CHECK_FAILS(ttt_st_writer_open("/proc/ttt_test.safetensors", d, 1, NULL, 0, &w), TTT_ERR_IO,
                "/proc/ttt_test.safetensors: cannot create temp file");
    if (geteuid() != 0) { /* root writes through a 0555 directory */
        const char *ro = tdir("readonly");
        chmod(ro, 0555);
        CHECK_FAILS(ttt_st_writer_open(tpath("readonly/x.safetensors"), d, 1, NULL, 0, &w),
                    TTT_ERR_IO, "Permission denied");
        chmod(ro, 0755);
    }
}

/* A write the kernel refuses half-way (the file size limit stands in for a full disk): a clean
 * I/O error naming the file and errno, no temp file left, the old file intact. */
static void test_write_error(void) {
    const char *path = tpath("limited.safetensors");
    write_small(path, 2.0f);
    struct rlimit old;
    if (getrlimit(RLIMIT_FSIZE, &old) != 0) return;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = 4096;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);

    const ttt_st_desc d = {"v", TTT_DT_F32, 1, {16384}};
    ttt_st_writer *w = NULL;
    float *big = calloc(16384, sizeof *big);
    CHECK_OK(ttt_st_writer_open(path, &d, 1, NULL, 0, &w));
    CHECK_FAILS(ttt_st_writer_put(w, big, 16384 * sizeof *big), TTT_ERR_IO,
                "limited.safetensors: write failed: File too large");
    CHECK_FAILS(ttt_st_writer_commit(w), TTT_ERR_IO, "an earlier write failed");

    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, prev);
    free(big);
    CHECK(holds_value(path, 2.0f) && !tmp_left(path));
}

/* ---- a real checkpoint written by PyTorch, when the fixtures are at hand ---- */

static void test_golden(void) {
    const char *g = getenv("TTT_GOLDEN");
    char path[1024];
    snprintf(path, sizeof path, "%s/qwen3/model.safetensors", g ? g : "../shared/golden");
    if (!file_exists(path)) {
        fprintf(stderr, "test_safetensors: %s absent, golden round trip skipped\n", path);
        return;
    }
    ttt_st_file f;
    CHECK_OK(ttt_st_open(path, &f));
    CHECK(f.n_tensors > 0 && ttt_st_find(&f, "lm_head.weight") != NULL);
    /* rewrite it with our writer and compare tensor by tensor */
    ttt_st_desc *d = calloc((size_t)f.n_tensors + 1, sizeof *d);
    for (int i = 0; i < f.n_tensors; i++) {
        const ttt_st_tensor *t = &f.tensors[i];
        d[i] = (ttt_st_desc){t->name, t->dtype, t->ndim, {0}};
        memcpy(d[i].shape, t->shape, sizeof d[i].shape);
    }
    const char *out = tpath("golden_copy.safetensors");
    ttt_st_writer *w = NULL;
    CHECK_OK(ttt_st_writer_open(out, d, f.n_tensors, f.meta, f.n_meta, &w));
    for (int i = 0; i < f.n_tensors && w; i++)
        CHECK_OK(ttt_st_writer_put(w, f.tensors[i].data, f.tensors[i].end - f.tensors[i].begin));
    CHECK_OK(ttt_st_writer_commit(w));
    ttt_st_file g2;
    CHECK_OK(ttt_st_open(out, &g2));
    CHECK(g2.n_tensors == f.n_tensors);
    for (int i = 0; i < f.n_tensors && g2.n_tensors == f.n_tensors; i++) {
        const ttt_st_tensor *a = &f.tensors[i], *b = &g2.tensors[i];
        CHECK(strcmp(a->name, b->name) == 0 && a->end - a->begin == b->end - b->begin &&
              memcmp(a->data, b->data, a->end - a->begin) == 0);
    }
    ttt_st_close(&g2);
    free(d);
    ttt_st_close(&f);
}

int main(void) {
    const char *base = getenv("TTT_TEST_TMP");
    snprintf(g_dir, sizeof g_dir, "%s/st_%ld", base && base[0] ? base : "/tmp", (long)getpid());
    if (mkdir(g_dir, 0755) != 0) {
        fprintf(stderr, "test_safetensors: cannot create %s: %s\n", g_dir, strerror(errno));
        return 1;
    }
    int fds = count_fds();
    test_dtypes();
    test_utf8();
    test_parse_good();
    test_parse_misaligned();
    test_parse_sizes();
    test_parse_header_text();
    test_parse_entries();
    test_parse_layout();
    test_open_files();
    test_roundtrip();
    test_to_f32();
    test_save();
    test_index();
    test_writer_failures();
    test_write_error();
    test_golden();
    CHECK(count_fds() == fds);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_safetensors");
}
