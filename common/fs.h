/*
 * Durable local files. A file that must survive a crash is written as `name.tmp`, fsynced,
 * closed, renamed over `name`, and the directory is fsynced (pgBackRest storage/posix/write.c).
 * Every system call is checked; messages name the path and the reason, e.g.
 * "unable to fsync '/x/y.tmp': No space left on device". Local file errors are ERR_IO.
 */
#ifndef BV_COMMON_FS_H
#define BV_COMMON_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* Write all `len` bytes, retrying on EINTR and short writes. Returns 0, or -1 with errno set
 * (the caller knows the path and builds the message). */
int fsWriteAll(int fd, const void *buf, size_t len);

/* Read up to `len` bytes at `offset`, retrying on EINTR and short reads; returns the number of
 * bytes read, which is less than `len` only at end of file, or -1 with errno set. */
ssize_t fsPreadAll(int fd, void *buf, size_t len, off_t offset);

/* Create `path` as a new regular file open for writing (O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC),
 * with permissions `mode` less the umask, as open(2) does. Never opens an existing file and never
 * follows a symbolic link, so a name planted in a directory others can write cannot redirect the
 * write: every file binvault creates outside a directory it owns alone goes through here or
 * fsCreateTemp(). Returns the descriptor, or -1: ERR_EXISTS when the name exists (a symbolic link
 * included), ERR_IO otherwise. */
int fsCreateExclusive(const char *path, mode_t mode, Err *err);

/* Create a new temporary file beside `path` with fsCreateExclusive(), named
 * `path.tmp.<16 random hex digits>` (`FS_TMP_MARK`): the name cannot be guessed, so nothing planted
 * in advance is in the way. `*tmp` receives the name (bvFree() it); it is set only on success.
 * Returns the descriptor or -1. */
#define FS_TMP_MARK ".tmp."
int fsCreateTemp(const char *path, mode_t mode, char **tmp, Err *err);

/* fsCreateExclusive() and fsCreateTemp() of `name` in the directory open as `dirFd` (openat(2)),
 * for a caller that resolved the directory itself and must not have it resolved again; `path`
 * names `name` in messages. fsCreateTempAt() sets `*tmp` to the temporary name relative to
 * `dirFd`. */
int fsCreateExclusiveAt(int dirFd, const char *name, const char *path, mode_t mode, Err *err);
int fsCreateTempAt(int dirFd, const char *name, const char *path, mode_t mode, char **tmp, Err *err);

/* Replace `path` atomically and durably with `len` bytes of `data` and permissions `mode`
 * (exactly, regardless of the umask): write `path.tmp`, fsync, close, rename, fsync the
 * directory. On failure `path` is untouched and the temporary file is removed. A `path.tmp` left by
 * a crash is unlinked (a symbolic link there is removed, never followed) and created again with
 * fsCreateExclusive(). */
int fsWriteFileAtomic(const char *path, const void *data, size_t len, mode_t mode, Err *err);

/* fsync a directory so that entries created, renamed or removed in it are durable. */
int fsSyncDir(const char *dir, Err *err);

/* rename(2) then fsync the directory of `to` (and that of `from` when it differs). */
int fsRenameDurable(const char *from, const char *to, Err *err);

/* Create `path` and any missing parents with `mode`; the parent of every directory created is
 * fsynced. An existing directory is fine; an existing non-directory is an error. */
int fsMkdirP(const char *path, mode_t mode, Err *err);

/* Read a whole regular file into a new buffer (free with bvFree()); one byte more than `*len` is
 * allocated and set to NUL so text can be used as a C string. ERR_LIMIT when the file is larger
 * than `maxLen`, ERR_NOTFOUND when it does not exist. */
int fsReadFile(const char *path, size_t maxLen, uint8_t **data, size_t *len, Err *err);

/* Remove `path` and, when it is a directory, everything below it, without following symbolic
 * links. A missing path is fine. */
int fsRemoveTree(const char *path, Err *err);

#endif
