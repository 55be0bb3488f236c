/*
 * The directory driver: each object is a regular file below the root directory, at the path of
 * its name. A put writes `name.tmp.<random>`, fsyncs it, and moves it into place: link(2) for an
 * immutable object, which fails rather than replace one (link is supported by every POSIX file
 * system, NFS included, where renameat2(RENAME_NOREPLACE) is not), rename(2) for a replaced one;
 * then the directory is fsynced. A sealed local file (storagePutSealedFile(): a spooled segment)
 * on the same file system is hard-linked into place instead: no copy, no read.
 *
 * Symbolic links are not objects and are never followed below the root (the root itself may be
 * one): a listing skips them with a warning, so it cannot loop or list another tree; a read, a
 * head, a put or a remove whose name passes through one is refused. There is no check apart
 * from the act, which others who can write in the archive could race (swap `segments/` for a
 * link between an lstat() and an unlink()): the root is opened once, every name is resolved one
 * directory at a time with openat(O_DIRECTORY | O_NOFOLLOW) from the root's descriptor
 * (storageFileWalk()), and the last component is acted on relative to its directory's
 * descriptor (openat, fstatat, linkat, renameat, unlinkat, fdopendir). So nothing outside the
 * root is ever read, written or deleted, whatever is swapped while an operation runs.
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
#define STORAGE_DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
/* Buffer of a put that copies: 64 KiB and room for a filter's framing, so that an encryptor's
 * 64 KiB chunk, sealed with its tag (after the object's header, at first), fits whole: the
 * encryptor seals it in place there, with no copy, and it goes to the file in one write. */
#define STORAGE_FILE_COPY_BUF (64 * 1024 + 4096)

typedef struct StorageFile {
    char *root; /* no trailing '/'; "" for the file system root */
    bool create; /* a writer's store: a root that went away is made again (as at creation) */
} StorageFile;

/* The root, opened by path for each operation (through a symbolic link if it is one): a root
 * removed, or a file system unmounted and mounted again, is found again as it was at creation,
 * and a writer's store makes a missing root again. Every name below it is resolved from this
 * descriptor without following links (storageFileWalk()). */
static int
storageFileOpenRoot(const StorageFile *this, Err *err) {
    const char *root = this->root[0] ? this->root : "/";
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT && this->create && fsMkdirP(root, 0750, err) == 0)
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        errSetSys(err, ERR_STORAGE, errno, "unable to open store directory '%s'", root);
    return fd;
}

static char *
storageFilePath(const StorageFile *this, const char *name) {
    return bvSprintf("%s/%s", this->root, name);
}

/* The directory part of `path` (a path of storageFilePath()), for messages. */
static char *
storageFileDirName(const char *path) {
    size_t len = (size_t)(strrchr(path, '/') - path);

    return len == 0 ? bvStrdup("/") : bvStrndup(path, len);
}

static int
storageFileSyncDir(int dirFd, const char *path, Err *err) {
    if (fsync(dirFd) != 0)
        return errSetSys(err, ERR_STORAGE, errno, "unable to fsync directory '%s'", path);
    return 0;
}

/* Open the directory `comp` of the directory open as `fd`, never through a symbolic link; `path`
 * names it in messages. Returns 0 with the descriptor in `*out`; 1 with ERR_STORAGE when `comp`
 * is a symbolic link; -1 with ERR_NOTFOUND when it is missing or not a directory (errno is then
 * ENOENT or ENOTDIR), ERR_STORAGE otherwise. */
static int
storageFileOpenDir(int fd, const char *comp, const char *path, int *out, Err *err) {
    struct stat st;
    int saved;

    if ((*out = openat(fd, comp, STORAGE_DIR_FLAGS)) >= 0)
        return 0;
    saved = errno;
    /* O_NOFOLLOW fails on a link with ELOOP (EMLINK on FreeBSD), O_DIRECTORY on a file with
     * ENOTDIR: ask which it was. */
    if (saved != ENOENT && fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        errSet(err, ERR_STORAGE, "'%s' is a symbolic link: the directory store never follows one "
               "below its root", path);
        return 1;
    }
    errSetSys(err, saved == ENOENT || saved == ENOTDIR ? ERR_NOTFOUND : ERR_STORAGE, saved,
              "unable to open directory '%s'", path);
    errno = saved;
    return -1;
}

/* storageFileOpenDir() of `comp`, made first (mode STORAGE_DIR_MODE, its parent `fd` fsynced,
 * as fsMkdirP() does) unless someone else just did. */
static int
storageFileMakeDir(int fd, const char *comp, const char *path, int *out, Err *err) {
    if (mkdirat(fd, comp, STORAGE_DIR_MODE) == 0) {
        char *parent = storageFileDirName(path);
        int rc = storageFileSyncDir(fd, parent, err);

        bvFree(parent);
        if (rc != 0)
            return -1;
    } else if (errno != EEXIST) {
        return errSetSys(err, ERR_STORAGE, errno, "unable to create directory '%s'", path);
    }
    return storageFileOpenDir(fd, comp, path, out, err);
}

/* Open the directory that holds the last component of `name` (after its last '/'; a listing
 * passes a name ending with '/', whose last component is empty: the directory itself), one
 * component at a time from the root's descriptor with storageFileOpenDir(). With `create`, a
 * missing directory is made (mkdirat, then its parent is fsynced, as fsMkdirP() does). Returns 0
 * with the descriptor in `*dirFd` (a new one: close it) and the last component in `*last`; 1 with
 * ERR_STORAGE when a component is a symbolic link; -1 with ERR_NOTFOUND when one is missing or
 * not a directory and `create` is false (the message is the one an open of the whole path gives),
 * ERR_STORAGE otherwise. */
static int
storageFileWalk(const StorageFile *this, const char *name, bool create, int *dirFd,
                const char **last, Err *err) {
    char *path = storageFilePath(this, name);
    char *comp = path + strlen(this->root) + 1, *slash;
    int fd, next = -1, rc = 0;

    if ((fd = storageFileOpenRoot(this, err)) < 0) {
        bvFree(path);
        return -1;
    }

    for (; (slash = strchr(comp, '/')) != NULL; comp = slash + 1) {
        *slash = '\0';
        rc = storageFileOpenDir(fd, comp, path, &next, err);
        if (rc < 0 && err->code == ERR_NOTFOUND && errno == ENOENT && create)
            rc = storageFileMakeDir(fd, comp, path, &next, err);
        if (rc < 0 && err->code == ERR_NOTFOUND) {
            int saved = errno;
            char *full = storageFilePath(this, name), *dir = storageFileDirName(full);

            if (create && saved == ENOTDIR)
                errSet(err, ERR_STORAGE, "unable to create directory '%s': '%s' exists and is not a "
                       "directory", dir, path);
            else if (create)
                err->code = ERR_STORAGE;
            else
                errSetSys(err, ERR_NOTFOUND, saved, "unable to open '%s'", full);
            bvFree(dir);
            bvFree(full);
        }
        close(fd);
        if (rc != 0)
            goto out;
        fd = next;
    }
    *dirFd = fd;
    *last = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
out:
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
    uint8_t *buf = bvMalloc(STORAGE_FILE_COPY_BUF);
    uint64_t done = 0;
    ssize_t n;
    int rc = -1;

    /* Not ioCopy(): a read error is about the source, a write error about the store. */
    while ((n = ioRead(reader, buf, STORAGE_FILE_COPY_BUF, err)) > 0) {
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

/* An immutable put of a sealed local file (StoragePutSource.sealed: hashed as it was written)
 * without a copy: the file, whose size must be info->size, is fsynced (its data normally is
 * already: then this costs next to nothing) and hard-linked into place, then the directory is
 * fsynced. link(2) fails rather than replace an object, as the copy's own link does. Returns 0
 * (stored, or *existed), 1 when the file cannot be linked here (another file system, or one
 * without hard links: copy it), -1 on error. */
static int
storageFileLinkSealed(int dirFd, const char *last, const char *path, const char *dir,
                      const StoragePutSource *src, const StoragePutInfo *info, bool *existed,
                      Err *err) {
    struct stat st;
    int fd = open(src->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to open '%s'", src->path);
    if (fstat(fd, &st) != 0 || fsync(fd) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to stat and fsync '%s'", src->path);
        close(fd);
        return -1;
    }
    close(fd);
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != info->size)
        return errSet(err, ERR_CHECKSUM, "'%s' does not match its description: %llu bytes, expected %llu bytes",
                      src->path, (unsigned long long)st.st_size, (unsigned long long)info->size);
    if (linkat(AT_FDCWD, src->path, dirFd, last, 0) != 0) {
        if (errno == EEXIST) {
            *existed = true;
            return 0;
        }
        if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == EOPNOTSUPP)
            return 1;
        return errSetSys(err, ERR_STORAGE, errno, "unable to link '%s' to '%s'", src->path, path);
    }
    return storageFileSyncDir(dirFd, dir, err);
}

/* Store `size` bytes as `name`, from `stream` or, when it is NULL, from `src` described by
 * `info` (opened only once it is known to be needed): into a temporary file, then moved into
 * place (see the top of the file), all in the directory descriptor storageFileWalk() gave: what
 * the stream does meanwhile cannot move the object elsewhere. */
static int
storageFilePutFrom(StorageFile *this, const char *name, const StoragePutSource *src,
                   const StoragePutInfo *info, IoRead *stream, uint64_t size, StoragePutMode mode,
                   bool *existed, Err *err) {
    IoRead *opened = NULL;
    char *path = storageFilePath(this, name);
    char *dir = storageFileDirName(path);
    char *tmp = NULL, *tmpPath = NULL;
    const char *last;
    struct stat st;
    int dirFd = -1, fd, rc = -1;

    if (storageFileWalk(this, name, true, &dirFd, &last, err) != 0)
        goto out;
    /* Cheap early answer for a repeated put; linkat() below still guards against a race. */
    if (mode == STORAGE_PUT_IMMUTABLE && fstatat(dirFd, last, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        *existed = true;
        rc = 0;
        goto out;
    }
    if (stream == NULL && src->sealed && mode == STORAGE_PUT_IMMUTABLE &&
        (rc = storageFileLinkSealed(dirFd, last, path, dir, src, info, existed, err)) <= 0)
        goto out;
    rc = -1;
    if ((fd = fsCreateTempAt(dirFd, last, path, STORAGE_FILE_MODE, &tmp, err)) < 0) {
        storageFileFail(err);
        goto out;
    }
    tmpPath = bvSprintf("%s%s", path, tmp + strlen(last));
    if (stream == NULL && (stream = opened = storagePutSourceVerify(src, info, err)) == NULL) {
        close(fd);
        goto fail;
    }
    if (storageFileWriteTmp(fd, tmpPath, stream, size, err) != 0)
        goto fail;
    if (mode == STORAGE_PUT_REPLACE) {
        if (renameat(dirFd, tmp, dirFd, last) != 0) {
            errSetSys(err, ERR_STORAGE, errno, "unable to rename '%s' to '%s'", tmpPath, path);
            goto fail;
        }
    } else if (linkat(dirFd, tmp, dirFd, last, 0) != 0) {
        if (errno != EEXIST) {
            errSetSys(err, ERR_STORAGE, errno, "unable to link '%s' to '%s'", tmpPath, path);
            goto fail;
        }
        *existed = true;
        unlinkat(dirFd, tmp, 0);
        rc = 0;
        goto out;
    }
    if (storageFileSyncDir(dirFd, dir, err) != 0)
        goto fail;
    /* The object is durable; a temporary name left behind is only clutter for cleanTemp. */
    if (mode == STORAGE_PUT_IMMUTABLE && unlinkat(dirFd, tmp, 0) != 0)
        logWarn("unable to remove '%s': %s", tmpPath, strerror(errno));
    rc = 0;
    goto out;

fail:
    unlinkat(dirFd, tmp, 0);
out:
    if (dirFd >= 0)
        close(dirFd);
    ioReadFree(opened);
    bvFree(tmpPath);
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
    const char *last;
    struct stat st;
    int dirFd, fd;

    if (storageFileWalk(this, name, false, &dirFd, &last, err) != 0)
        goto out;
    fd = openat(dirFd, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            errSetSys(err, ERR_NOTFOUND, errno, "unable to open '%s'", path);
        else
            errSetSys(err, ERR_STORAGE, errno, "unable to open '%s'", path);
        close(dirFd);
        goto out;
    }
    close(dirFd);
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

/* storageFileWalk() for an operation on an object that may be missing: 0 with `*dirFd` set, or
 * with `*dirFd` -1 when a directory on the way is missing (nothing to do); -1 otherwise. */
static int
storageFileWalkExisting(const StorageFile *this, const char *name, int *dirFd, const char **last,
                        Err *err) {
    *dirFd = -1;
    if (storageFileWalk(this, name, false, dirFd, last, err) == 0)
        return 0;
    if (err->code != ERR_NOTFOUND)
        return -1;
    errClear(err);
    return 0;
}

static int
storageFileHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    StorageFile *this = driver;
    const char *last;
    struct stat st;
    int dirFd, rc;

    if ((rc = storageFileWalkExisting(this, name, &dirFd, &last, err)) != 0 || dirFd < 0)
        return rc;
    if (fstatat(dirFd, last, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            char *path = storageFilePath(this, name);

            rc = errSetSys(err, ERR_STORAGE, errno, "unable to stat '%s'", path);
            bvFree(path);
        }
    } else if (S_ISREG(st.st_mode)) {
        out->exists = true;
        out->size = (uint64_t)st.st_size;
        out->mtime = (int64_t)st.st_mtime;
    }
    close(dirFd);
    return rc;
}

/* --- Listing ------------------------------------------------------------------------------ */

/* A directory is listed in windows of at most this many names, the smallest after the last one
 * given, reading it once per window: memory stays bounded (a few MiB) in a directory of a million
 * segments (whose sorted names took 127 MiB), for one more read of its names per window. */
#define STORAGE_FILE_LIST_WINDOW 65536

typedef struct StorageFileEntry {
    char *key; /* the name, with '/' appended for a directory so that sorting the keys of one
                * directory gives the byte order of the full names below it */
    unsigned char type; /* DT_REG, DT_DIR or DT_LNK; a file is stat'ed when it is given */
} StorageFileEntry;

/* The names of one window: the smallest keys read so far, `bound` the largest kept once some were
 * dropped (NULL before), `more` when names past the window were left for another read. */
typedef struct StorageFileWindow {
    StorageFileEntry *entries;
    size_t count, cap;
    const char *bound;
    bool more;
} StorageFileWindow;

static int
storageFileEntryCmp(const void *a, const void *b) {
    return strcmp(((const StorageFileEntry *)a)->key, ((const StorageFileEntry *)b)->key);
}

/* Keep the STORAGE_FILE_LIST_WINDOW smallest keys of the window, dropping the others. */
static void
storageFileWindowTrim(StorageFileWindow *w) {
    if (w->count > 0)
        qsort(w->entries, w->count, sizeof(*w->entries), storageFileEntryCmp);
    if (w->count <= STORAGE_FILE_LIST_WINDOW)
        return;
    for (size_t i = STORAGE_FILE_LIST_WINDOW; i < w->count; i++)
        bvFree(w->entries[i].key);
    w->count = STORAGE_FILE_LIST_WINDOW;
    w->bound = w->entries[w->count - 1].key;
    w->more = true;
}

/* Add `key` (taken) to the window, trimming it when it holds twice the window's names. */
static void
storageFileWindowAdd(StorageFileWindow *w, char *key, unsigned char type) {
    if (w->bound != NULL && strcmp(key, w->bound) > 0) {
        w->more = true;
        bvFree(key);
        return;
    }
    if (w->count == w->cap) {
        if (w->cap >= 2 * STORAGE_FILE_LIST_WINDOW) {
            storageFileWindowTrim(w);
        } else {
            w->cap = w->cap ? w->cap * 2 : 64;
            w->entries = bvRealloc(w->entries, w->cap * sizeof(*w->entries));
        }
    }
    w->entries[w->count].key = key;
    w->entries[w->count].type = type;
    w->count++;
}

static void
storageFileWindowClear(StorageFileWindow *w) {
    for (size_t i = 0; i < w->count; i++)
        bvFree(w->entries[i].key);
    w->count = 0;
    w->bound = NULL;
    w->more = false;
}

/* Whether the file `name` of the directory `rel` is named up to `startAfter`. */
static bool
storageFileBefore(const char *rel, const char *name, const char *startAfter) {
    size_t relLen = strlen(rel);
    int c = strncmp(rel, startAfter, relLen);

    if (c != 0)
        return c < 0;
    return strcmp(name, startAfter + relLen) <= 0;
}

/* Read the directory `dir` (`rel` below the root) from its start into the window: the entries
 * starting with `filter`, after `startAfter` (NULL: all), whose keys come after `cursor` (NULL: all).
 * Only an entry whose type readdir does not give is stat'ed here. */
static int
storageFileReadWindow(DIR *dir, const char *dirPath, const char *rel, const char *filter, const char *startAfter,
                      const char *cursor, StorageFileWindow *w, Err *err) {
    size_t filterLen = strlen(filter);
    struct dirent *de;

    rewinddir(dir);
    for (;;) {
        unsigned char type;
        char *key;

        errno = 0;
        de = readdir(dir);
        if (de == NULL) {
            if (errno != 0)
                return errSetSys(err, ERR_STORAGE, errno, "unable to read directory '%s'", dirPath);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            strstr(de->d_name, STORAGE_TMP_MARK) != NULL ||
            strncmp(de->d_name, filter, filterLen) != 0)
            continue;
        type = de->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;

            if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT)
                    continue;
                return errSetSys(err, ERR_STORAGE, errno, "unable to stat '%s%s'", dirPath, de->d_name);
            }
            type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK
                                                                                                   : DT_UNKNOWN;
        }
        if (type == DT_DIR) {
            char *full = bvSprintf("%s%s/", rel, de->d_name);
            /* Names below it all start with it: all after startAfter, all up to it (skipped), or,
             * when startAfter is below it, some of each. */
            bool skip = startAfter != NULL && strncmp(startAfter, full, strlen(full)) != 0 &&
                        strcmp(full, startAfter) < 0;

            bvFree(full);
            if (skip)
                continue;
            key = bvSprintf("%s/", de->d_name);
        } else if (type == DT_REG || type == DT_LNK) {
            if (startAfter != NULL && storageFileBefore(rel, de->d_name, startAfter))
                continue;
            key = bvStrdup(de->d_name);
        } else {
            continue;
        }
        if (cursor != NULL && strcmp(key, cursor) <= 0) {
            bvFree(key);
            continue;
        }
        storageFileWindowAdd(w, key, type);
    }
    storageFileWindowTrim(w);
    return 0;
}

/* Give one entry of a window of the directory `dir`: a file to `cb` (stat'ed for its size; gone or
 * no longer a file since it was read: skipped), a directory listed recursively. */
static int
storageFileListEntry(StorageFile *this, DIR *dir, const char *dirPath, const char *rel, const StorageFileEntry *e,
                     const char *startAfter, StorageListCb *cb, void *data, Err *err);

/* List the directory open as `fd` (closed here), `rel` ("" or ending with '/') below the root,
 * entries starting with `filter`, recursively, those after `startAfter` only (NULL: all; a file named
 * up to it is skipped before it is even stat'ed), window after window. It stays open while the
 * directories below it are listed, opened from it with storageFileOpenDir(): one swapped for a
 * symbolic link meanwhile is skipped with a warning, as one found there. */
static int
storageFileListDir(StorageFile *this, int fd, const char *rel, const char *filter, const char *startAfter,
                   StorageListCb *cb, void *data, Err *err) {
    char *dirPath = bvSprintf("%s/%s", this->root, rel), *cursor = NULL;
    StorageFileWindow w = {0};
    DIR *dir = fdopendir(fd);
    int rc = -1;

    if (dir == NULL) {
        errSetSys(err, ERR_STORAGE, errno, "unable to read directory '%s'", dirPath);
        close(fd);
        goto out;
    }
    do {
        storageFileWindowClear(&w);
        if (storageFileReadWindow(dir, dirPath, rel, filter, startAfter, cursor, &w, err) != 0)
            goto out;
        for (size_t i = 0; i < w.count; i++) {
            int failed = storageFileListEntry(this, dir, dirPath, rel, &w.entries[i], startAfter, cb, data, err);

            if (failed != 0)
                goto out;
        }
        if (w.count > 0) {
            bvFree(cursor);
            cursor = bvStrdup(w.entries[w.count - 1].key);
        }
    } while (w.more);
    rc = 0;
out:
    if (dir != NULL)
        closedir(dir);
    storageFileWindowClear(&w);
    bvFree(w.entries);
    bvFree(cursor);
    bvFree(dirPath);
    return rc;
}

static int
storageFileListEntry(StorageFile *this, DIR *dir, const char *dirPath, const char *rel, const StorageFileEntry *e,
                     const char *startAfter, StorageListCb *cb, void *data, Err *err) {
    size_t nameLen = strlen(e->key) - (e->type == DT_DIR ? 1 : 0);
    char *name = bvStrndup(e->key, nameLen), *full = bvSprintf("%s%s", rel, name);
    Err nameErr;
    int failed = 0;

    if (storageNameValid(full, &nameErr) != 0) {
        logWarn("ignoring '%s%s': %s", dirPath, name, nameErr.msg);
    } else if (e->type == DT_LNK) {
        logWarn("ignoring '%s%s': a symbolic link, never followed below the store's root", dirPath, name);
    } else if (e->type == DT_DIR) {
        char *subFull = bvSprintf("%s/", full), *subPath = bvSprintf("%s%s", dirPath, name);
        bool below = startAfter != NULL && strncmp(startAfter, subFull, strlen(subFull)) == 0;
        int subFd, opened = storageFileOpenDir(dirfd(dir), name, subPath, &subFd, err);

        if (opened == 0) {
            failed = storageFileListDir(this, subFd, subFull, "", below ? startAfter : NULL, cb, data, err);
        } else if (opened == 1 || err->code == ERR_NOTFOUND) {
            /* Swapped for a link, gone or no longer a directory since it was read: nothing of
             * the store to list there. */
            if (opened == 1)
                logWarn("not listing '%s/': %s", subPath, err->msg);
            errClear(err);
        } else {
            failed = -1;
        }
        bvFree(subPath);
        bvFree(subFull);
    } else {
        struct stat st;

        if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                failed = errSetSys(err, ERR_STORAGE, errno, "unable to stat '%s%s'", dirPath, name);
        } else if (S_ISLNK(st.st_mode)) {
            logWarn("ignoring '%s%s': a symbolic link, never followed below the store's root", dirPath, name);
        } else if (S_ISREG(st.st_mode)) {
            failed = cb(full, (uint64_t)st.st_size, data, err);
        }
    }
    bvFree(full);
    bvFree(name);
    return failed;
}

static int
storageFileListFrom(void *driver, const char *prefix, const char *startAfter, StorageListCb *cb, void *data,
                    Err *err) {
    StorageFile *this = driver;
    const char *slash = strrchr(prefix, '/');
    char *rel = slash ? bvStrndup(prefix, (size_t)(slash - prefix + 1)) : bvStrdup("");
    const char *last;
    int fd, rc = storageFileWalk(this, rel, false, &fd, &last, err);

    if (rc == 0) {
        rc = storageFileListDir(this, fd, rel, slash ? slash + 1 : prefix, startAfter, cb, data, err);
    } else if (rc == 1) {
        /* Not an error: like a listing that meets the link, the prefix simply lists nothing. */
        logWarn("not listing '%s/%s': %s", this->root, rel, err->msg);
        errClear(err);
        rc = 0;
    } else if (err->code == ERR_NOTFOUND) {
        /* Nothing under a prefix whose directory does not exist. */
        errClear(err);
        rc = 0;
    }
    bvFree(rel);
    return rc;
}

static int
storageFileList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    return storageFileListFrom(driver, prefix, NULL, cb, data, err);
}

static int
storageFileRemove(void *driver, const char *name, Err *err) {
    StorageFile *this = driver;
    const char *last;
    int dirFd, rc;

    if ((rc = storageFileWalkExisting(this, name, &dirFd, &last, err)) != 0 || dirFd < 0)
        return rc;
    if (unlinkat(dirFd, last, 0) != 0 && errno != ENOENT && errno != ENOTDIR) {
        char *path = storageFilePath(this, name);

        rc = errSetSys(err, ERR_STORAGE, errno, "unable to remove '%s'", path);
        bvFree(path);
    }
    close(dirFd);
    return rc;
}

/* --- Temporary files ---------------------------------------------------------------------- */

/* Remove the temporary files older than `before` in the directory open as `fd` (closed here),
 * `path` in messages, and below it; a directory is entered with storageFileOpenDir(), so one
 * swapped for a symbolic link is not. */
static int
storageFileCleanDir(int fd, const char *path, time_t before, unsigned *removed, Err *err) {
    struct dirent *de;
    DIR *dir = fdopendir(fd);
    int rc = 0;

    if (dir == NULL) {
        rc = errSetSys(err, ERR_STORAGE, errno, "unable to read directory '%s'", path);
        close(fd);
        return rc;
    }
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
            int subFd;

            rc = storageFileOpenDir(dirfd(dir), de->d_name, sub, &subFd, err);
            if (rc == 0) {
                rc = storageFileCleanDir(subFd, sub, before, removed, err);
            } else if (rc == 1 || err->code == ERR_NOTFOUND) {
                /* Swapped for a link or removed since it was read: not a directory of the store. */
                errClear(err);
                rc = 0;
            }
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
    const char *last;
    int fd;

    /* Age 0 means every temporary file: file system timestamps come from a coarse clock that can
     * be a second ahead of time(). */
    time_t before = minAgeSec == 0 ? (time_t)INT64_MAX : time(NULL) - (time_t)minAgeSec;

    if (storageFileWalk(this, "", false, &fd, &last, err) != 0)
        return -1;
    return storageFileCleanDir(fd, this->root[0] ? this->root : "/", before, removed, err);
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
    .listFrom = storageFileListFrom,
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
    this->create = create;
    storage = storageNewDriver(&storageFileVt, this, url);
    bvFree(url);
    return storage;
}
