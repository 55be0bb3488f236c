/*
 * The directory driver: each object is a regular file below the root directory, at the path of
 * its name. A put writes `name.tmp.<random>`, fsyncs it, and moves it into place: link(2) for an
 * immutable object, which fails rather than replace one (link is supported by every POSIX file
 * system, NFS included, where renameat2(RENAME_NOREPLACE) is not), rename(2) for a replaced one;
 * then the directory is fsynced. Symbolic links are not objects and are never followed below the
 * root (the root itself may be one): a listing skips them with a warning, so it cannot loop or
 * list another tree; a read, a head, a put or a remove whose name passes through one is refused
 * (storageFileNoLink()), so that nothing outside the root is ever read, written or deleted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/storage.h"

#define STORAGE_FILE_MODE 0640
#define STORAGE_DIR_MODE 0750
#define STORAGE_TMP_MARK FS_TMP_MARK

typedef struct StorageFile {
    char *root; /* no trailing '/'; "" for the file system root */
} StorageFile;

static char *
storageFilePath(const StorageFile *this, const char *name) {
    return bvSprintf("%s/%s", this->root, name);
}

/* Refuse `name` when a directory on its way below the root is a symbolic link (the object itself
 * is never followed either: O_NOFOLLOW, lstat(), and unlink() removes a link): returns 1 with
 * ERR_STORAGE in `err`, -1 when a component cannot be examined, 0 otherwise. A missing component
 * is not an error: the operation that follows reports it as it would anyway. */
static int
storageFileNoLink(const StorageFile *this, const char *name, Err *err) {
    char *path = storageFilePath(this, name);
    size_t start = strlen(this->root) + 1;
    struct stat st;
    int rc = 0;

    for (size_t i = start;; i++) {
        if (path[i] == '\0')
            break;
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        if (lstat(path, &st) != 0) {
            if (errno != ENOENT && errno != ENOTDIR)
                rc = errSetSys(err, ERR_STORAGE, errno, "unable to stat '%s'", path);
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            errSet(err, ERR_STORAGE, "'%s' is a symbolic link: the directory store never follows one "
                   "below its root", path);
            rc = 1;
            break;
        }
        path[i] = '/';
    }
    bvFree(path);
    return rc;
}

/* A failure underneath is a failure of the store. */
static int
storageFileFail(Err *err) {
    if (err->code == ERR_IO)
        err->code = ERR_STORAGE;
    return -1;
}

/* Copy `reader` into the open file `tmp` (closed here, fsynced); it must hold exactly `size` bytes.
 * An error reading it keeps its code (about the source), an error writing is ERR_STORAGE. */
static int
storageFileWriteTmp(int fd, const char *tmp, IoRead *reader, uint64_t size, Err *err) {
    IoWrite *writer = ioWriteFdNew(fd, tmp, IO_FD_SYNC | IO_FD_CLOSE);
    uint8_t *buf = bvMalloc(64 * 1024);
    uint64_t done = 0;
    ssize_t n;
    int rc = -1;

    /* Not ioCopy(): a read error is about the source, a write error about the store. */
    while ((n = ioRead(reader, buf, 64 * 1024, err)) > 0) {
        done += (uint64_t)n;
        if (ioWrite(writer, buf, (size_t)n, err) != 0) {
            storageFileFail(err);
            goto out;
        }
    }
    if (n < 0)
        goto out;
    if (done != size) {
        errSet(err, ERR_CHECKSUM, "the stream holds %llu bytes, expected %llu",
               (unsigned long long)done, (unsigned long long)size);
        goto out;
    }
    if (ioWriteClose(writer, err) != 0) {
        storageFileFail(err);
        goto out;
    }
    rc = 0;
out:
    bvFree(buf);
    ioWriteFree(writer);
    return rc;
}

/* Store `size` bytes as `name`, from `stream` or, when it is NULL, from `src` described by
 * `info` (opened only once it is known to be needed): into a temporary file, then moved into
 * place (see the top of the file). */
static int
storageFilePutFrom(StorageFile *this, const char *name, const StoragePutSource *src,
                   const StoragePutInfo *info, IoRead *stream, uint64_t size, StoragePutMode mode,
                   bool *existed, Err *err) {
    IoRead *opened = NULL;
    char *path = storageFilePath(this, name);
    char *dir = bvStrndup(path, (size_t)(strrchr(path, '/') - path));
    char *tmp = NULL;
    struct stat st;
    int fd, rc = -1;

    if (storageFileNoLink(this, name, err) != 0)
        goto out;
    /* Cheap early answer for a repeated put; link() below still guards against a race. */
    if (mode == STORAGE_PUT_IMMUTABLE && lstat(path, &st) == 0) {
        *existed = true;
        rc = 0;
        goto out;
    }
    if (fsMkdirP(dir[0] ? dir : "/", STORAGE_DIR_MODE, err) != 0) {
        storageFileFail(err);
        goto out;
    }
    if ((fd = fsCreateTemp(path, STORAGE_FILE_MODE, &tmp, err)) < 0) {
        storageFileFail(err);
        goto out;
    }
    if (stream == NULL && (stream = opened = storagePutSourceVerify(src, info, err)) == NULL) {
        close(fd);
        goto fail;
    }
    if (storageFileWriteTmp(fd, tmp, stream, size, err) != 0)
        goto fail;
    if (mode == STORAGE_PUT_REPLACE) {
        if (rename(tmp, path) != 0) {
            errSetSys(err, ERR_STORAGE, errno, "unable to rename '%s' to '%s'", tmp, path);
            goto fail;
        }
    } else if (link(tmp, path) != 0) {
        if (errno != EEXIST) {
            errSetSys(err, ERR_STORAGE, errno, "unable to link '%s' to '%s'", tmp, path);
            goto fail;
        }
        *existed = true;
        unlink(tmp);
        rc = 0;
        goto out;
    }
    if (fsSyncDir(dir[0] ? dir : "/", err) != 0) {
        storageFileFail(err);
        goto fail;
    }
    /* The object is durable; a temporary name left behind is only clutter for cleanTemp. */
    if (mode == STORAGE_PUT_IMMUTABLE && unlink(tmp) != 0)
        logWarn("unable to remove '%s': %s", tmp, strerror(errno));
    rc = 0;
    goto out;

fail:
    unlink(tmp);
out:
    ioReadFree(opened);
    bvFree(tmp);
    bvFree(dir);
    bvFree(path);
    return rc;
}

static int
storageFilePut(void *driver, const char *name, const StoragePutSource *src,
               const StoragePutInfo *info, StoragePutMode mode, bool *existed, Err *err) {
    return storageFilePutFrom(driver, name, src, info, NULL, info->size, mode, existed, err);
}

static int
storageFilePutRead(void *driver, const char *name, IoRead *src, uint64_t size, StoragePutMode mode,
                   bool *existed, Err *err) {
    return storageFilePutFrom(driver, name, NULL, NULL, src, size, mode, existed, err);
}

static IoRead *
storageFileOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err) {
    StorageFile *this = driver;
    char *path = storageFilePath(this, name);
    IoRead *reader = NULL;
    struct stat st;
    int fd;

    if (storageFileNoLink(this, name, err) != 0)
        goto out;
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            errSetSys(err, ERR_NOTFOUND, errno, "unable to open '%s'", path);
        else
            errSetSys(err, ERR_STORAGE, errno, "unable to open '%s'", path);
        goto out;
    }
    if (fstat(fd, &st) != 0) {
        errSetSys(err, ERR_STORAGE, errno, "unable to stat '%s'", path);
        close(fd);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        errSet(err, ERR_NOTFOUND, "'%s' is not a regular file", path);
        close(fd);
        goto out;
    }
    if (offset > (uint64_t)st.st_size || length > (uint64_t)st.st_size - offset) {
        errSet(err, ERR_FORMAT, "range of %llu bytes from offset %llu is past the end (%llu bytes)",
               (unsigned long long)length, (unsigned long long)offset,
               (unsigned long long)st.st_size);
        close(fd);
        goto out;
    }
    reader = ioReadFdNew(fd, path, offset, length, IO_FD_CLOSE);
out:
    bvFree(path);
    return reader;
}

static int
storageFileHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    StorageFile *this = driver;
    char *path = storageFilePath(this, name);
    struct stat st;
    int rc = 0;

    if (storageFileNoLink(this, name, err) != 0)
        rc = -1;
    else if (lstat(path, &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = errSetSys(err, ERR_STORAGE, errno, "unable to stat '%s'", path);
    } else if (S_ISREG(st.st_mode)) {
        out->exists = true;
        out->size = (uint64_t)st.st_size;
        out->mtime = (int64_t)st.st_mtime;
    }
    bvFree(path);
    return rc;
}

/* --- Listing ------------------------------------------------------------------------------ */

typedef struct StorageFileEntry {
    char *key; /* the name, with '/' appended for a directory so that sorting the keys of one
                * directory gives the byte order of the full names below it */
    uint64_t size;
    bool dir;
} StorageFileEntry;

static int
storageFileEntryCmp(const void *a, const void *b) {
    return strcmp(((const StorageFileEntry *)a)->key, ((const StorageFileEntry *)b)->key);
}

/* List the directory `rel` ("" or ending with '/') below the root, entries starting with
 * `filter`, recursively. */
static int
storageFileListDir(StorageFile *this, const char *rel, const char *filter, StorageListCb *cb,
                   void *data, Err *err) {
    char *dirPath = bvSprintf("%s/%s", this->root, rel);
    StorageFileEntry *entries = NULL;
    size_t count = 0, cap = 0, filterLen = strlen(filter);
    struct dirent *de;
    DIR *dir = NULL;
    int rc = -1;

    if (rel[0] != '\0' && (rc = storageFileNoLink(this, rel, err)) != 0) {
        if (rc == 1) {
            logWarn("not listing '%s': %s", dirPath, err->msg);
            rc = 0;
        }
        goto out;
    }
    rc = -1;
    if ((dir = opendir(dirPath)) == NULL) {
        /* Nothing under a prefix whose directory does not exist. */
        if (rel[0] != '\0' && (errno == ENOENT || errno == ENOTDIR))
            rc = 0;
        else
            errSetSys(err, ERR_STORAGE, errno, "unable to open directory '%s'", dirPath);
        goto out;
    }
    for (;;) {
        struct stat st;
        char *full;
        Err nameErr;

        errno = 0;
        de = readdir(dir);
        if (de == NULL) {
            if (errno != 0) {
                errSetSys(err, ERR_STORAGE, errno, "unable to read directory '%s'", dirPath);
                goto out;
            }
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strstr(de->d_name, STORAGE_TMP_MARK) != NULL ||
            strncmp(de->d_name, filter, filterLen) != 0)
            continue;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue;
            errSetSys(err, ERR_STORAGE, errno, "unable to stat '%s%s'", dirPath, de->d_name);
            goto out;
        }
        if (S_ISLNK(st.st_mode))
            logWarn("ignoring '%s%s': a symbolic link, never followed below the store's root", dirPath,
                    de->d_name);
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
            continue;
        full = bvSprintf("%s%s", rel, de->d_name);
        if (storageNameValid(full, &nameErr) != 0) {
            logWarn("ignoring '%s%s': %s", dirPath, de->d_name, nameErr.msg);
            bvFree(full);
            continue;
        }
        bvFree(full);
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            entries = bvRealloc(entries, cap * sizeof(*entries));
        }
        entries[count].dir = S_ISDIR(st.st_mode);
        entries[count].key = bvSprintf("%s%s", de->d_name, entries[count].dir ? "/" : "");
        entries[count].size = (uint64_t)st.st_size;
        count++;
    }
    closedir(dir);
    dir = NULL;
    if (count > 0)
        qsort(entries, count, sizeof(*entries), storageFileEntryCmp);
    for (size_t i = 0; i < count; i++) {
        char *full = bvSprintf("%s%s", rel, entries[i].key);
        int failed = entries[i].dir ? storageFileListDir(this, full, "", cb, data, err)
                                    : cb(full, entries[i].size, data, err);

        bvFree(full);
        if (failed != 0)
            goto out;
    }
    rc = 0;
out:
    if (dir != NULL)
        closedir(dir);
    for (size_t i = 0; i < count; i++)
        bvFree(entries[i].key);
    bvFree(entries);
    bvFree(dirPath);
    return rc;
}

static int
storageFileList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    const char *slash = strrchr(prefix, '/');
    char *rel = slash ? bvStrndup(prefix, (size_t)(slash - prefix + 1)) : bvStrdup("");
    int rc = storageFileListDir(driver, rel, slash ? slash + 1 : prefix, cb, data, err);

    bvFree(rel);
    return rc;
}

static int
storageFileRemove(void *driver, const char *name, Err *err) {
    StorageFile *this = driver;
    char *path = storageFilePath(this, name);
    int rc = 0;

    if (storageFileNoLink(this, name, err) != 0)
        rc = -1;
    else if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR)
        rc = errSetSys(err, ERR_STORAGE, errno, "unable to remove '%s'", path);
    bvFree(path);
    return rc;
}

/* --- Temporary files ---------------------------------------------------------------------- */

static int
storageFileCleanDir(const char *path, time_t before, unsigned *removed, Err *err) {
    struct dirent *de;
    DIR *dir = opendir(path);
    int rc = 0;

    if (dir == NULL)
        return errSetSys(err, ERR_STORAGE, errno, "unable to open directory '%s'", path);
    for (;;) {
        struct stat st;

        errno = 0;
        de = readdir(dir);
        if (de == NULL) {
            if (errno != 0)
                rc = errSetSys(err, ERR_STORAGE, errno, "unable to read directory '%s'", path);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue;
            rc = errSetSys(err, ERR_STORAGE, errno, "unable to stat '%s/%s'", path, de->d_name);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            char *sub = bvSprintf("%s/%s", path, de->d_name);

            rc = storageFileCleanDir(sub, before, removed, err);
            bvFree(sub);
            if (rc != 0)
                break;
        } else if (S_ISREG(st.st_mode) && strstr(de->d_name, STORAGE_TMP_MARK) != NULL &&
                   st.st_mtime <= before) {
            if (unlinkat(dirfd(dir), de->d_name, 0) != 0 && errno != ENOENT) {
                rc = errSetSys(err, ERR_STORAGE, errno, "unable to remove '%s/%s'", path,
                               de->d_name);
                break;
            }
            logInfo("removed the temporary file '%s/%s' of an interrupted put", path, de->d_name);
            (*removed)++;
        }
    }
    closedir(dir);
    return rc;
}

static int
storageFileCleanTemp(void *driver, unsigned minAgeSec, unsigned *removed, Err *err) {
    StorageFile *this = driver;

    /* Age 0 means every temporary file: file system timestamps come from a coarse clock that can
     * be a second ahead of time(). */
    time_t before = minAgeSec == 0 ? (time_t)INT64_MAX : time(NULL) - (time_t)minAgeSec;

    return storageFileCleanDir(this->root[0] ? this->root : "/", before, removed, err);
}

static void
storageFileFree(void *driver) {
    StorageFile *this = driver;

    bvFree(this->root);
    bvFree(this);
}

static const StorageDriverVt storageFileVt = {
    .put = storageFilePut,
    .putRead = storageFilePutRead,
    .openRead = storageFileOpenRead,
    .head = storageFileHead,
    .list = storageFileList,
    .remove = storageFileRemove,
    .cleanTemp = storageFileCleanTemp,
    .free = storageFileFree,
};

Storage *
storageFileNew(const char *path, bool create, Err *err) {
    StorageFile *this;
    Storage *storage;
    char *url = bvSprintf("file://%s", path);
    struct stat st;

    BV_ASSERT(path[0] == '/');
    /* A directory archive is created by the writer that uses it first, like a bucket prefix; a
     * reader never creates anything, and a missing archive is a mistake to report. */
    if (stat(path, &st) != 0 && errno == ENOENT) {
        if (!create) {
            errSet(err, ERR_NOTFOUND, "archive '%s' does not exist", url);
            bvFree(url);
            return NULL;
        }
        if (fsMkdirP(path, 0750, err) != 0) {
            errPrefix(err, "unable to create store '%s'", url);
            bvFree(url);
            return NULL;
        }
    }
    if (stat(path, &st) != 0) {
        errSetSys(err, errno == ENOTDIR ? ERR_CONFIG : ERR_STORAGE, errno, "unable to open store '%s'", url);
        bvFree(url);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        errSet(err, ERR_CONFIG, "unable to open store '%s': not a directory", url);
        bvFree(url);
        return NULL;
    }
    this = bvCalloc(1, sizeof(*this));
    this->root = bvStrdup(strcmp(path, "/") == 0 ? "" : path);
    storage = storageNewDriver(&storageFileVt, this, url);
    bvFree(url);
    return storage;
}
