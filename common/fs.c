#include "common/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/mem.h"

int
fsWriteAll(int fd, const void *buf, size_t len) {
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        /* write(2) returns 0 only for a zero length; guard against looping for ever. */
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t
fsPreadAll(int fd, void *buf, size_t len, off_t offset) {
    uint8_t *p = buf;
    size_t done = 0;

    if (len > SSIZE_MAX)
        len = SSIZE_MAX;
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, offset + (off_t)done);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* The directory part of a path, as dirname(3) would give, in a new string. */
static char *
fsDirName(const char *path) {
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return bvStrdup(".");
    while (slash > path && slash[-1] == '/')
        slash--;
    if (slash == path)
        return bvStrdup("/");
    return bvStrndup(path, (size_t)(slash - path));
}

int
fsSyncDir(const char *dir, Err *err) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to open directory '%s'", dir);
    if (fsync(fd) != 0) {
        int saved = errno;

        close(fd);
        return errSetSys(err, ERR_IO, saved, "unable to fsync directory '%s'", dir);
    }
    if (close(fd) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to close directory '%s'", dir);
    return 0;
}

int
fsRenameDurable(const char *from, const char *to, Err *err) {
    char *fromDir, *toDir;
    int rc;

    if (rename(from, to) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to rename '%s' to '%s'", from, to);
    fromDir = fsDirName(from);
    toDir = fsDirName(to);
    rc = fsSyncDir(toDir, err);
    if (rc == 0 && strcmp(fromDir, toDir) != 0)
        rc = fsSyncDir(fromDir, err);
    bvFree(fromDir);
    bvFree(toDir);
    return rc;
}

int
fsCreateExclusiveAt(int dirFd, const char *name, const char *path, mode_t mode, Err *err) {
    int fd = openat(dirFd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

    if (fd < 0)
        return errSetSys(err, errno == EEXIST ? ERR_EXISTS : ERR_IO, errno, "unable to create '%s'", path);
    return fd;
}

int
fsCreateExclusive(const char *path, mode_t mode, Err *err) {
    return fsCreateExclusiveAt(AT_FDCWD, path, path, mode, err);
}

int
fsCreateTempAt(int dirFd, const char *name, const char *path, mode_t mode, char **tmp, Err *err) {
    uint8_t rnd[8];
    char hex[sizeof(rnd) * 2 + 1];
    char *tmpName, *tmpPath;
    int fd;

    if (cryptoRandom(rnd, sizeof(rnd), err) != 0)
        return -1;
    cryptoHexEncode(rnd, sizeof(rnd), hex);
    tmpName = bvSprintf("%s" FS_TMP_MARK "%s", name, hex);
    tmpPath = bvSprintf("%s" FS_TMP_MARK "%s", path, hex);
    fd = fsCreateExclusiveAt(dirFd, tmpName, tmpPath, mode, err);
    bvFree(tmpPath);
    if (fd < 0) {
        bvFree(tmpName);
        return -1;
    }
    *tmp = tmpName;
    return fd;
}

int
fsCreateTemp(const char *path, mode_t mode, char **tmp, Err *err) {
    return fsCreateTempAt(AT_FDCWD, path, path, mode, tmp, err);
}

int
fsWriteFileAtomic(const char *path, const void *data, size_t len, mode_t mode, Err *err) {
    char *tmp = bvSprintf("%s.tmp", path);
    int fd, rc = -1;

    /* A temporary file left by a crash is removed first: unlink(2) removes a symbolic link
     * itself, and the exclusive create below refuses anything put back in between. */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        errSetSys(err, ERR_IO, errno, "unable to remove '%s'", tmp);
        goto out;
    }
    if ((fd = fsCreateExclusive(tmp, mode, err)) < 0)
        goto out;
    if (fchmod(fd, mode) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to set the mode of '%s'", tmp);
        goto fail;
    }
    if (fsWriteAll(fd, data, len) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to write '%s'", tmp);
        goto fail;
    }
    if (fsync(fd) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to fsync '%s'", tmp);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        errSetSys(err, ERR_IO, errno, "unable to close '%s'", tmp);
        goto fail;
    }
    fd = -1;
    if (fsRenameDurable(tmp, path, err) != 0)
        goto fail;
    rc = 0;
    goto out;

fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    bvFree(tmp);
    return rc;
}

int
fsMkdirP(const char *path, mode_t mode, Err *err) {
    struct stat st;
    char *p;
    size_t len = strlen(path);
    int rc = -1;

    if (len == 0)
        return errSet(err, ERR_IO, "unable to create directory '': empty path");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    p = bvStrdup(path);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    /* Walk the components; `end` is where the current prefix ends. */
    for (size_t end = 1; end <= len; end++) {
        if (end < len && p[end] != '/')
            continue;
        if (end < len && p[end - 1] == '/')
            continue;
        p[end] = '\0';
        if (mkdir(p, mode) == 0) {
            char *parent = fsDirName(p);
            int synced = fsSyncDir(parent, err);

            bvFree(parent);
            if (synced != 0)
                goto out;
        } else if (errno == EEXIST) {
            if (stat(p, &st) != 0) {
                errSetSys(err, ERR_IO, errno, "unable to stat '%s'", p);
                goto out;
            }
            if (!S_ISDIR(st.st_mode)) {
                errSet(err, ERR_IO, "unable to create directory '%s': '%s' exists and is not a directory",
                       path, p);
                goto out;
            }
        } else {
            errSetSys(err, ERR_IO, errno, "unable to create directory '%s'", p);
            goto out;
        }
        if (end < len)
            p[end] = '/';
    }
    rc = 0;
out:
    bvFree(p);
    return rc;
}

int
fsReadFile(const char *path, size_t maxLen, uint8_t **data, size_t *len, Err *err) {
    struct stat st;
    Buf *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errSetSys(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "unable to open '%s'",
                         path);
    if (fstat(fd, &st) != 0) {
        int saved = errno;

        close(fd);
        return errSetSys(err, ERR_IO, saved, "unable to stat '%s'", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return errSet(err, ERR_IO, "unable to read '%s': not a regular file", path);
    }
    if ((uint64_t)st.st_size > maxLen) {
        close(fd);
        return errSet(err, ERR_LIMIT, "file '%s' is larger than the limit of %zu bytes (%lld bytes)",
                      path, maxLen, (long long)st.st_size);
    }
    buf = bufNew((size_t)st.st_size + 1);
    /* The file may grow after fstat(): read until end of file but never more than maxLen + 1. */
    for (;;) {
        /* Written so that maxLen == SIZE_MAX cannot wrap to a zero-length read. */
        size_t left = maxLen - buf->len, want = left >= 1024 * 1024 ? 1024 * 1024 : left + 1;
        ssize_t n;

        n = read(fd, bufReserve(buf, want), want);
        if (n < 0) {
            int saved = errno;

            if (saved == EINTR)
                continue;
            close(fd);
            bufFree(buf);
            return errSetSys(err, ERR_IO, saved, "unable to read '%s'", path);
        }
        if (n == 0)
            break;
        buf->len += (size_t)n;
        if (buf->len > maxLen) {
            close(fd);
            bufFree(buf);
            return errSet(err, ERR_LIMIT, "file '%s' is larger than the limit of %zu bytes", path,
                          maxLen);
        }
    }
    if (close(fd) != 0) {
        int saved = errno;

        bufFree(buf);
        return errSetSys(err, ERR_IO, saved, "unable to close '%s'", path);
    }
    *data = bufDetach(buf, len);
    return 0;
}

/* Remove everything inside the directory open as `dirFd` (closed here); `path` is its name for
 * messages. */
static int
fsRemoveContent(int dirFd, const char *path, Err *err) {
    DIR *dir = fdopendir(dirFd);
    struct dirent *de;
    int rc = 0;

    if (dir == NULL) {
        int saved = errno;

        close(dirFd);
        return errSetSys(err, ERR_IO, saved, "unable to read directory '%s'", path);
    }
    for (;;) {
        struct stat st;
        char *sub;

        errno = 0;
        de = readdir(dir);
        if (de == NULL) {
            if (errno != 0)
                rc = errSetSys(err, ERR_IO, errno, "unable to read directory '%s'", path);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        sub = bvSprintf("%s/%s", path, de->d_name);
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                rc = errSetSys(err, ERR_IO, errno, "unable to stat '%s'", sub);
        } else if (S_ISDIR(st.st_mode)) {
            int subFd = openat(dirfd(dir), de->d_name,
                               O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

            if (subFd < 0)
                rc = errSetSys(err, ERR_IO, errno, "unable to open directory '%s'", sub);
            else if ((rc = fsRemoveContent(subFd, sub, err)) == 0 &&
                     unlinkat(dirfd(dir), de->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT)
                rc = errSetSys(err, ERR_IO, errno, "unable to remove directory '%s'", sub);
        } else if (unlinkat(dirfd(dir), de->d_name, 0) != 0 && errno != ENOENT) {
            rc = errSetSys(err, ERR_IO, errno, "unable to remove '%s'", sub);
        }
        bvFree(sub);
        if (rc != 0)
            break;
    }
    closedir(dir);
    return rc;
}

int
fsRemoveTree(const char *path, Err *err) {
    struct stat st;
    int fd;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return errSetSys(err, ERR_IO, errno, "unable to stat '%s'", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0 && errno != ENOENT)
            return errSetSys(err, ERR_IO, errno, "unable to remove '%s'", path);
        return 0;
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to open directory '%s'", path);
    if (fsRemoveContent(fd, path, err) != 0)
        return -1;
    if (rmdir(path) != 0 && errno != ENOENT)
        return errSetSys(err, ERR_IO, errno, "unable to remove directory '%s'", path);
    return 0;
}
