/* file.c - atomic file writes: a temp file in the target's directory, fsync'd, renamed over
 * the target, then the directory fsync'd, so a crash or a failed write leaves the old file or
 * the new one, never a torn mix. */
#include "io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/mem.h"

/* Calls of ttt_file_write_all left before the injected failure; 0: none armed. Atomic, so
 * writers on several threads count each call once. */
static long g_fail_in;

void ttt_file_fail_nth_write(long n) {
    __atomic_store_n(&g_fail_in, n > 0 ? n : 0, __ATOMIC_SEQ_CST);
}

/* true when this call is the armed one (disarming it: one failure per arming) */
static int fault_fires(void) {
    long left = __atomic_load_n(&g_fail_in, __ATOMIC_SEQ_CST);
    while (left > 0) {
        if (__atomic_compare_exchange_n(&g_fail_in, &left, left - 1, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST))
            return left == 1;
    }
    return 0;
}

ttt_status ttt_file_write_all(int fd, const void *data, size_t n, const char *path) {
    if (fault_fires())
        return ttt_err(TTT_ERR_IO, "%s: write failed: %s", path, strerror(ENOSPC));
    const uint8_t *p = data;
    while (n > 0) {
        /* Linux moves at most ~2 GiB per call; smaller requests keep each one well-defined */
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t k = write(fd, p, chunk);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return ttt_err(TTT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        if (k == 0) return ttt_err(TTT_ERR_IO, "%s: write failed: %s", path, strerror(ENOSPC));
        p += k;
        n -= (size_t)k;
    }
    return TTT_OK;
}

char *ttt_file_dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return ttt_strdup(".");
    if (slash == path) return ttt_strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* Makes renames and unlinks in the directory durable. */
ttt_status ttt_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ttt_err(TTT_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    int rc;
    do rc = fsync(fd);
    while (rc != 0 && errno == EINTR);
    int e = errno;
    close(fd);
    /* some file systems cannot fsync a directory, and say so with EINVAL */
    if (rc != 0 && e != EINVAL && e != ENOTSUP)
        return ttt_err(TTT_ERR_IO, "%s: fsync of the directory failed: %s", dir, strerror(e));
    return TTT_OK;
}

ttt_status ttt_fsync_dir_of(const char *path) {
    char *dir = ttt_file_dir_of(path);
    if (!dir) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    ttt_status st = ttt_fsync_dir(dir);
    free(dir);
    return st;
}

ttt_status ttt_tmpfile_open(const char *path, ttt_tmpfile *t) {
    t->fd = -1;
    size_t n = strlen(path) + 32;
    t->tmp = malloc(n);
    if (!t->tmp) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    snprintf(t->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    /* O_NOFOLLOW: a planted symlink must not redirect the write elsewhere */
    t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (t->fd < 0) {
        ttt_status st = ttt_err(TTT_ERR_IO, "%s: cannot create temp file %s: %s", path, t->tmp,
                                strerror(errno));
        free(t->tmp);
        t->tmp = NULL;
        return st;
    }
    return TTT_OK;
}

void ttt_tmpfile_discard(ttt_tmpfile *t) {
    if (t->fd >= 0) close(t->fd);
    if (t->tmp) unlink(t->tmp);
    free(t->tmp);
    t->tmp = NULL;
    t->fd = -1;
}

/* fsync, close, rename onto path, fsync the directory; on failure the temp file is gone and
 * path is as it was. */
ttt_status ttt_tmpfile_commit(ttt_tmpfile *t, const char *path) {
    int rc;
    do rc = fsync(t->fd);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        ttt_status st = ttt_err(TTT_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
        ttt_tmpfile_discard(t);
        return st;
    }
    /* close reports delayed write errors on some file systems (NFS) */
    rc = close(t->fd);
    t->fd = -1;
    if (rc != 0) {
        ttt_status st = ttt_err(TTT_ERR_IO, "%s: close failed: %s", path, strerror(errno));
        ttt_tmpfile_discard(t);
        return st;
    }
    if (rename(t->tmp, path) != 0) {
        ttt_status st = ttt_err(TTT_ERR_IO, "%s: cannot rename %s onto it: %s", path, t->tmp,
                                strerror(errno));
        ttt_tmpfile_discard(t);
        return st;
    }
    free(t->tmp);
    t->tmp = NULL;
    return ttt_fsync_dir_of(path);
}

ttt_status ttt_write_file_atomic(const char *path, const void *data, size_t n) {
    ttt_tmpfile t;
    ttt_status st = ttt_tmpfile_open(path, &t);
    if (st) return st;
    st = ttt_file_write_all(t.fd, data, n, path);
    if (st) {
        ttt_tmpfile_discard(&t);
        return st;
    }
    return ttt_tmpfile_commit(&t, path);
}

ttt_status ttt_mkdir_p(const char *dir) {
    char *p = ttt_strdup(dir);
    if (!p) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", dir);
    ttt_status st = TTT_OK;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0') continue;
        char keep = *c;
        *c = '\0';
        struct stat sb;
        if (mkdir(p, 0755) && errno != EEXIST)
            st = ttt_err(TTT_ERR_IO, "%s: cannot create: %s", p, strerror(errno));
        else if (stat(p, &sb) || !S_ISDIR(sb.st_mode))
            st = ttt_err(TTT_ERR_IO, "%s: exists and is not a directory", p);
        *c = keep;
        if (st != TTT_OK || keep == '\0') break;
    }
    free(p);
    return st;
}
