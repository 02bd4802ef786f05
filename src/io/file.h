/* file.h - atomic file writes (temp file, fsync, rename, fsync of the directory). */
#ifndef TTT_IO_FILE_H
#define TTT_IO_FILE_H

#include <stddef.h>

#include "ttt.h"

/* A file on its way to path: written under tmp, renamed by ttt_tmpfile_commit. */
typedef struct ttt_tmpfile {
    char *tmp; /* "path.tmp.<pid>", owned */
    int fd;
} ttt_tmpfile;

/* Creates path's temp file (O_NOFOLLOW: a planted symlink cannot redirect the write). */
ttt_status ttt_tmpfile_open(const char *path, ttt_tmpfile *t);
/* fsync, close, rename onto path, fsync the directory; on failure the temp file is gone and
 * path is as it was. */
ttt_status ttt_tmpfile_commit(ttt_tmpfile *t, const char *path);
/* Closes and removes the temp file. */
void ttt_tmpfile_discard(ttt_tmpfile *t);

/* Writes all n bytes (retrying short writes and EINTR); path names the file in errors. */
ttt_status ttt_file_write_all(int fd, const void *data, size_t n, const char *path);
/* Test-only fault injection: the n-th call of ttt_file_write_all from now fails as a full
 * disk would (ENOSPC) without writing; 0 disarms. Every writer of the library goes through
 * ttt_file_write_all, so tests can fail any write of a multi-file save. */
void ttt_file_fail_nth_write(long n);

/* Writes data to path atomically. */
ttt_status ttt_write_file_atomic(const char *path, const void *data, size_t len);

/* Creates dir and any missing parents (mkdir -p); an existing directory is fine. */
ttt_status ttt_mkdir_p(const char *dir);
/* The directory part of path ("." when none); NULL when out of memory. */
char *ttt_file_dir_of(const char *path);
/* Makes renames and unlinks in dir durable (file systems that cannot are not an error). */
ttt_status ttt_fsync_dir(const char *dir);
ttt_status ttt_fsync_dir_of(const char *path);

#endif
