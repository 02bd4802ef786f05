/* shard.c - reading and writing token shards (format: shard.h, docs/DATA.md). Every shard is
 * untrusted: sizes are checked with overflow checks before any array is touched, the
 * document boundaries and ids are bounds-checked one by one, and the checksum catches the
 * rest (a flipped bit in an id that is still in range). */
#include "data/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/file.h"
#include "util/err.h"
#include "util/mem.h"

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define WRITE_BUF_IDS (1u << 18) /* ids buffered per write: 1 MiB */

/* FNV-1a over n 64-bit little-endian words: a change to any one word always changes the
 * result (each step is a bijection of the running value). */
static uint64_t hash_words(uint64_t h, const uint8_t *p, size_t n_words) {
    for (size_t i = 0; i < n_words; i++) {
        uint64_t w;
        memcpy(&w, p + 8 * i, 8);
        h = (h ^ w) * FNV_PRIME;
    }
    return h;
}

static uint32_t rd32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* bytes of the id array with its padding, and of the whole file; false on overflow */
static bool shard_sizes(uint64_t n_tokens, uint64_t n_docs, uint64_t *ids_bytes,
                        uint64_t *file_bytes) {
    uint64_t a, b, t;
    if (!ttt_mul_u64(n_tokens, 4, &a) || !ttt_add_u64(a, 7, &a)) return false;
    a &= ~(uint64_t)7;
    if (!ttt_mul_u64(n_docs, 8, &b) || !ttt_add_u64(a, b, &t) ||
        !ttt_add_u64(t, TTT_SHARD_HEADER, &t))
        return false;
    *ids_bytes = a;
    *file_bytes = t;
    return true;
}

static ttt_status check_header(const uint8_t *b, size_t len, const char *label) {
    if (len < TTT_SHARD_HEADER)
        return ttt_err(TTT_ERR_FORMAT, "%s: truncated: %zu bytes, the header alone is %u",
                       label, len, TTT_SHARD_HEADER);
    if (memcmp(b, TTT_SHARD_MAGIC, 8) != 0)
        return ttt_err(TTT_ERR_FORMAT, "%s: not a ttt token shard (bad magic at byte 0)", label);
    uint32_t version = rd32(b + 8);
    if (version != TTT_SHARD_VERSION)
        return ttt_err(TTT_ERR_UNSUPPORTED,
                       "%s: shard format version %" PRIu32 " (byte 8); this build reads %u",
                       label, version, TTT_SHARD_VERSION);
    uint32_t vocab = rd32(b + 12), eos = rd32(b + 32);
    if (vocab == 0) return ttt_err(TTT_ERR_FORMAT, "%s: vocab size 0 (byte 12)", label);
    if (eos != TTT_SHARD_NO_TOKEN && eos >= vocab)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: EOS id %" PRIu32 " (byte 32) is not below the vocab size %" PRIu32,
                       label, eos, vocab);
    for (size_t i = 36; i < 56; i++)
        if (b[i]) return ttt_err(TTT_ERR_FORMAT, "%s: reserved byte %zu is not zero", label, i);
    return TTT_OK;
}

/* Sizes, boundaries, ids, checksum: in that order, so a corrupted field gets its own message
 * rather than a checksum mismatch. */
static ttt_status check_body(const uint8_t *b, size_t len, const char *label, ttt_shard *s) {
    uint64_t n = rd64(b + 16), d = rd64(b + 24), ids_bytes, want;
    if (!shard_sizes(n, d, &ids_bytes, &want))
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: token count %" PRIu64 " (byte 16) and document count %" PRIu64
                       " (byte 24) overflow the file size", label, n, d);
    if (want != len)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: %s: %zu bytes, but the token count %" PRIu64
                       " (byte 16) and document count %" PRIu64 " (byte 24) make %" PRIu64,
                       label, want > len ? "truncated" : "trailing bytes", len, n, d, want);
    if ((n == 0) != (d == 0) || d > n)
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: %" PRIu64 " documents for %" PRIu64
                       " tokens (every document holds at least one token)", label, d, n);
    const uint8_t *ids = b + TTT_SHARD_HEADER, *starts = ids + ids_bytes;
    for (uint64_t k = 4 * n; k < ids_bytes; k++)
        if (ids[k])
            return ttt_err(TTT_ERR_FORMAT, "%s: padding byte %" PRIu64 " is not zero", label,
                           TTT_SHARD_HEADER + k);
    for (uint64_t k = 0; k < d; k++) {
        uint64_t at = rd64(starts + 8 * k), prev = k ? rd64(starts + 8 * (k - 1)) : 0;
        uint64_t off = TTT_SHARD_HEADER + ids_bytes + 8 * k;
        if (k == 0 && at != 0)
            return ttt_err(TTT_ERR_FORMAT, "%s: document 0 starts at %" PRIu64
                           " (byte %" PRIu64 "), not 0", label, at, off);
        if (at >= n)
            return ttt_err(TTT_ERR_FORMAT, "%s: document %" PRIu64 " starts at token %" PRIu64
                           " (byte %" PRIu64 "), out of range (%" PRIu64 " tokens)",
                           label, k, at, off, n);
        if (k > 0 && at <= prev)
            return ttt_err(TTT_ERR_FORMAT, "%s: document %" PRIu64 " starts at token %" PRIu64
                           " (byte %" PRIu64 "), not after document %" PRIu64 " (%" PRIu64 ")",
                           label, k, at, off, k - 1, prev);
    }
    uint32_t vocab = rd32(b + 12), max_id = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t v = rd32(ids + 4 * i);
        if (v >= vocab)
            return ttt_err(TTT_ERR_FORMAT,
                           "%s: token %" PRIu64 " (byte %" PRIu64 ") is %" PRIu32
                           ", not below the vocab size %" PRIu32, label, i,
                           TTT_SHARD_HEADER + 4 * i, v, vocab);
        if (v > max_id) max_id = v;
    }
    uint64_t h = hash_words(FNV_OFFSET, ids, (len - TTT_SHARD_HEADER) / 8);
    h = hash_words(h, b, 7);
    if (h != rd64(b + 56))
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: checksum mismatch (byte 56: stored %016" PRIx64 ", computed %016"
                       PRIx64 "): the file is corrupt", label, rd64(b + 56), h);
    s->n_vocab = vocab;
    s->eos_id = rd32(b + 32);
    s->n_tokens = n;
    s->n_docs = d;
    s->ids = (const uint32_t *)(const void *)ids;
    s->doc_start = (const uint64_t *)(const void *)starts;
    s->max_id = max_id;
    return TTT_OK;
}

ttt_status ttt_shard_parse(const uint8_t *buf, size_t len, const char *label, ttt_shard *s) {
    memset(s, 0, sizeof *s);
    if (!label) label = "shard";
    if (!buf && len) return ttt_err(TTT_ERR_ARG, "%s: NULL buffer", label);
    ttt_status st = check_header(buf, len, label);
    if (st) return st;
    /* the arrays are read in place: an 8-aligned start makes them aligned */
    const uint8_t *b = buf;
    void *copy = NULL;
    if ((uintptr_t)buf % 8) {
        copy = ttt_malloc_aligned(len);
        if (!copy) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", label);
        memcpy(copy, buf, len);
        b = copy;
    }
    s->label = ttt_strdup(label);
    st = s->label ? check_body(b, len, label, s) : ttt_err(TTT_ERR_NOMEM, "out of memory");
    if (st) {
        free(s->label);
        ttt_free_aligned(copy);
        memset(s, 0, sizeof *s);
        return st;
    }
    s->base = b;
    s->size = len;
    s->copy = copy;
    return TTT_OK;
}

ttt_status ttt_shard_open(const char *path, ttt_shard *s) {
    memset(s, 0, sizeof *s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ttt_err(TTT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ttt_err(TTT_ERR_IO, "%s: not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return ttt_err(TTT_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
    }
    close(fd);
    static const uint8_t empty[8];
    ttt_status st = ttt_shard_parse(map ? map : empty, len, path, s);
    if (st) {
        if (map) munmap(map, len);
        return st;
    }
    s->map = map;
    return TTT_OK;
}

void ttt_shard_close(ttt_shard *s) {
    if (!s) return;
    if (s->map) munmap(s->map, s->size);
    ttt_free_aligned(s->copy);
    free(s->label);
    memset(s, 0, sizeof *s);
}

ttt_status ttt_shard_check_vocab(const ttt_shard *s, uint32_t n_vocab) {
    if (s->max_id < n_vocab) return TTT_OK;
    for (uint64_t i = 0; i < s->n_tokens; i++)
        if (s->ids[i] >= n_vocab)
            return ttt_err(TTT_ERR_FORMAT,
                           "%s: token %" PRIu64 " is %" PRIu32 ", not below the model's vocab "
                           "size %" PRIu32 " (was the shard made with another tokenizer?)",
                           s->label, i, s->ids[i], n_vocab);
    return TTT_OK;
}

/* ---- writer ---- */

struct ttt_shard_writer {
    char *path;
    ttt_tmpfile tmp;
    uint32_t n_vocab, eos_id;
    uint64_t n_tokens;
    uint64_t *starts;   /* [n_docs] */
    uint64_t n_docs, cap_docs;
    uint32_t *buf;      /* [WRITE_BUF_IDS] ids not yet written */
    size_t n_buf;
    uint64_t hash;      /* over the words written so far */
    ttt_status failed;  /* a failed write poisons the commit */
};

/* Writes the buffered ids; all but an odd last one when !final (hashing goes by words). */
static ttt_status flush_ids(ttt_shard_writer *w, bool final) {
    size_t n = final ? w->n_buf : w->n_buf & ~(size_t)1;
    if (final && n % 2) w->buf[n++] = 0; /* the padding */
    w->hash = hash_words(w->hash, (const uint8_t *)w->buf, n / 2);
    ttt_status st = ttt_file_write_all(w->tmp.fd, w->buf, n * 4, w->path);
    if (st) return w->failed = st;
    if (!final && w->n_buf % 2) w->buf[0] = w->buf[w->n_buf - 1];
    w->n_buf = final ? 0 : w->n_buf % 2;
    return TTT_OK;
}

ttt_status ttt_shard_writer_open(const char *path, uint32_t n_vocab, uint32_t eos_id,
                                 ttt_shard_writer **out) {
    if (!out || !path) return ttt_err(TTT_ERR_ARG, "ttt_shard_writer_open: NULL argument");
    *out = NULL;
    if (n_vocab == 0 || (eos_id != TTT_SHARD_NO_TOKEN && eos_id >= n_vocab))
        return ttt_err(TTT_ERR_ARG, "%s: bad vocab size %" PRIu32 " or EOS id %" PRIu32, path,
                       n_vocab, eos_id);
    ttt_shard_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->path = ttt_strdup(path);
        w->buf = malloc(WRITE_BUF_IDS * sizeof *w->buf);
    }
    if (!w || !w->path || !w->buf) {
        if (w) free(w->path), free(w->buf);
        free(w);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    w->tmp.fd = -1;
    w->n_vocab = n_vocab;
    w->eos_id = eos_id;
    w->hash = FNV_OFFSET;
    static const uint8_t zero[TTT_SHARD_HEADER];
    ttt_status st = ttt_tmpfile_open(path, &w->tmp);
    if (!st) st = ttt_file_write_all(w->tmp.fd, zero, sizeof zero, path); /* header: last */
    if (st) {
        ttt_shard_writer_abort(w);
        return st;
    }
    *out = w;
    return TTT_OK;
}

ttt_status ttt_shard_writer_add(ttt_shard_writer *w, const int32_t *ids, size_t n) {
    if (!w) return ttt_err(TTT_ERR_ARG, "ttt_shard_writer_add: NULL writer");
    if (w->failed) return ttt_err(w->failed, "%s: an earlier write failed", w->path);
    if (n == 0) return TTT_OK;
    if (!ids) return ttt_err(TTT_ERR_ARG, "%s: NULL ids", w->path);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= w->n_vocab)
            return ttt_err(TTT_ERR_ARG,
                           "%s: document %" PRIu64 ": id %" PRId32 " at %zu is outside [0, %"
                           PRIu32 ")", w->path, w->n_docs, ids[i], i, w->n_vocab);
    if (w->n_docs == w->cap_docs) {
        uint64_t cap = w->cap_docs ? 2 * w->cap_docs : 1024;
        uint64_t *p = cap <= SIZE_MAX / 8 ? realloc(w->starts, (size_t)cap * 8) : NULL;
        if (!p) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", w->path);
        w->starts = p;
        w->cap_docs = cap;
    }
    w->starts[w->n_docs++] = w->n_tokens;
    for (size_t i = 0; i < n; i++) {
        w->buf[w->n_buf++] = (uint32_t)ids[i];
        if (w->n_buf == WRITE_BUF_IDS) {
            ttt_status st = flush_ids(w, false);
            if (st) return st;
        }
    }
    w->n_tokens += n;
    return TTT_OK;
}

uint64_t ttt_shard_writer_tokens(const ttt_shard_writer *w) { return w ? w->n_tokens : 0; }

ttt_status ttt_shard_writer_commit(ttt_shard_writer *w) {
    if (!w) return ttt_err(TTT_ERR_ARG, "ttt_shard_writer_commit: NULL writer");
    ttt_status st = w->failed ? ttt_err(w->failed, "%s: not written, an earlier write failed",
                                        w->path)
                              : flush_ids(w, true);
    if (!st && w->n_docs) {
        w->hash = hash_words(w->hash, (const uint8_t *)w->starts, (size_t)w->n_docs);
        st = ttt_file_write_all(w->tmp.fd, w->starts, (size_t)w->n_docs * 8, w->path);
    }
    if (!st) {
        uint8_t h[TTT_SHARD_HEADER] = {0};
        memcpy(h, TTT_SHARD_MAGIC, 8);
        uint32_t version = TTT_SHARD_VERSION;
        memcpy(h + 8, &version, 4);
        memcpy(h + 12, &w->n_vocab, 4);
        memcpy(h + 16, &w->n_tokens, 8);
        memcpy(h + 24, &w->n_docs, 8);
        memcpy(h + 32, &w->eos_id, 4);
        uint64_t sum = hash_words(w->hash, h, 7);
        memcpy(h + 56, &sum, 8);
        if (lseek(w->tmp.fd, 0, SEEK_SET) != 0)
            st = ttt_err(TTT_ERR_IO, "%s: seek failed: %s", w->path, strerror(errno));
        else
            st = ttt_file_write_all(w->tmp.fd, h, sizeof h, w->path);
    }
    if (st) {
        ttt_shard_writer_abort(w);
        return st;
    }
    st = ttt_tmpfile_commit(&w->tmp, w->path);
    free(w->starts);
    free(w->buf);
    free(w->path);
    free(w);
    return st;
}

void ttt_shard_writer_abort(ttt_shard_writer *w) {
    if (!w) return;
    ttt_tmpfile_discard(&w->tmp);
    free(w->starts);
    free(w->buf);
    free(w->path);
    free(w);
}
