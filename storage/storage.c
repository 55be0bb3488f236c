/*
 * The generic layer of the store (storage/storage.h): names, immutability (comparing what a put
 * found stored), error context naming the object and the store, and opening a store by URL.
 */
#include "storage/storage.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/s3.h"

#define STORAGE_STR_(x) #x
#define STORAGE_STR(x) STORAGE_STR_(x)

struct Storage {
    const StorageDriverVt *vt;
    void *driver;
    char *url;
    /* Counted with atomics: a store is shared by the agent's threads. */
    _Atomic uint64_t lists, listed, reads, puts, removes;
};

void
storageCountersGet(const Storage *storage, StorageCounters *out) {
    out->lists = atomic_load(&storage->lists);
    out->listed = atomic_load(&storage->listed);
    out->reads = atomic_load(&storage->reads);
    out->puts = atomic_load(&storage->puts);
    out->removes = atomic_load(&storage->removes);
}

Storage *
storageNewDriver(const StorageDriverVt *vt, void *driver, const char *url) {
    Storage *storage = bvCalloc(1, sizeof(*storage));

    storage->vt = vt;
    storage->driver = driver;
    storage->url = bvStrdup(url);
    return storage;
}

bool
storageSendsMd5(const Storage *storage) {
    return storage->vt->sendsMd5 != NULL && storage->vt->sendsMd5(storage->driver);
}

void
storageUnwrap(Storage *storage, const StorageDriverVt **vt, void **driver) {
    *vt = storage->vt;
    *driver = storage->driver;
    bvFree(storage->url);
    bvFree(storage);
}

const char *
storageUrl(const Storage *storage) {
    return storage->url;
}

void
storageFree(Storage *storage) {
    if (storage == NULL)
        return;
    storage->vt->free(storage->driver);
    bvFree(storage->url);
    bvFree(storage);
}

/* --- Names -------------------------------------------------------------------------------- */

/* What is wrong with `name`, or NULL. A list prefix may be empty, may end with '/', and its last
 * component may be any partial component. */
static const char *
storageNameProblem(const char *name, bool prefix) {
    size_t len = strlen(name);
    const char *component = name;

    if (len == 0)
        return prefix ? NULL : "empty name";
    if (len > STORAGE_NAME_MAX)
        return "longer than " STORAGE_STR(STORAGE_NAME_MAX) " bytes";
    if (name[0] == '/')
        return "leading '/'";
    if (strstr(name, ".tmp.") != NULL)
        return "'.tmp.' is reserved for temporary files";
    for (const char *p = name;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t clen = (size_t)(p - component);

            if (clen == 0 && !(prefix && *p == '\0'))
                return "empty component";
            if (clen > STORAGE_NAME_COMPONENT_MAX)
                return "component longer than " STORAGE_STR(STORAGE_NAME_COMPONENT_MAX) " bytes";
            if ((clen == 1 && component[0] == '.') ||
                (clen == 2 && component[0] == '.' && component[1] == '.'))
                return "'.' or '..' component";
            if (*p == '\0')
                return NULL;
            component = p + 1;
        } else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-')) {
            return "only A-Z a-z 0-9 . _ - / are allowed";
        }
    }
}

int
storageNameValid(const char *name, Err *err) {
    const char *problem = storageNameProblem(name, false);

    if (problem != NULL)
        return errSet(err, ERR_USAGE, "invalid object name '%s': %s", name, problem);
    return 0;
}

static int
storageNameCheck(const Storage *storage, const char *name, bool prefix, Err *err) {
    const char *problem = storageNameProblem(name, prefix);

    if (problem != NULL)
        return errSet(err, ERR_USAGE, "invalid object %s '%s' for '%s': %s",
                      prefix ? "prefix" : "name", name, storage->url, problem);
    return 0;
}

/* --- Reading ------------------------------------------------------------------------------ */

/* Reader wrapper naming the object and the store in errors. */
typedef struct StorageRead {
    IoRead *src;
    char *name;
    const char *url;
} StorageRead;

static ssize_t
storageReadRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    StorageRead *this = ctx;
    ssize_t n = ioRead(this->src, buf, len, err);

    if (n < 0) {
        if (err->code == ERR_IO)
            err->code = ERR_STORAGE;
        errPrefix(err, "unable to read '%s' from '%s'", this->name, this->url);
    }
    return n;
}

static void
storageReadFree(void *ctx) {
    StorageRead *this = ctx;

    ioReadFree(this->src);
    bvFree(this->name);
    bvFree(this);
}

static const IoReadVt storageReadVt = {
    .name = "storage",
    .read = storageReadRead,
    .free = storageReadFree,
};

IoRead *
storageOpenRead(Storage *storage, const char *name, uint64_t offset, uint64_t length, Err *err) {
    StorageRead *this;
    IoRead *src;

    if (storageNameCheck(storage, name, false, err) != 0)
        return NULL;
    atomic_fetch_add(&storage->reads, 1);
    src = storage->vt->openRead(storage->driver, name, offset, length, err);
    if (src == NULL) {
        errPrefix(err, "unable to read '%s' from '%s'", name, storage->url);
        return NULL;
    }
    this = bvCalloc(1, sizeof(*this));
    this->src = src;
    this->name = bvStrdup(name);
    this->url = storage->url;
    return ioReadNew(&storageReadVt, this);
}

int
storageGetBuf(Storage *storage, const char *name, size_t maxLen, uint8_t **data, size_t *len,
              Err *err) {
    IoRead *reader = storageOpenRead(storage, name, 0, 0, err);
    Buf *buf;

    if (reader == NULL)
        return -1;
    buf = bufNew(0);
    /* Read at most maxLen + 1 bytes: enough to tell that the object is too large. */
    for (;;) {
        /* Written so that maxLen == SIZE_MAX cannot wrap to a zero-length read. */
        size_t left = maxLen - buf->len, want = left >= 1024 * 1024 ? 1024 * 1024 : left + 1;
        ssize_t n;

        n = ioRead(reader, bufReserve(buf, want), want, err);
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        buf->len += (size_t)n;
        if (buf->len > maxLen) {
            errSet(err, ERR_LIMIT, "object '%s' in '%s' is larger than the limit of %zu bytes", name,
                   storage->url, maxLen);
            goto fail;
        }
    }
    ioReadFree(reader);
    *data = bufDetach(buf, len);
    return 0;

fail:
    ioReadFree(reader);
    bufFree(buf);
    return -1;
}

int
storageHead(Storage *storage, const char *name, StorageInfo *out, Err *err) {
    if (storageNameCheck(storage, name, false, err) != 0)
        return -1;
    memset(out, 0, sizeof(*out));
    atomic_fetch_add(&storage->reads, 1);
    if (storage->vt->head(storage->driver, name, out, err) != 0)
        return errPrefix(err, "unable to stat '%s' in '%s'", name, storage->url);
    return 0;
}

/* --- Writing ------------------------------------------------------------------------------ */

IoRead *
storagePutSourceOpen(const StoragePutSource *src, Err *err) {
    int fd;

    if (src->path == NULL)
        return ioReadMemNew(src->data, src->len);
    fd = open(src->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to open '%s'", src->path);
        return NULL;
    }
    return ioReadFdNew(fd, src->path, 0, 0, IO_FD_CLOSE);
}

IoRead *
storagePutSourceVerify(const StoragePutSource *src, const StoragePutInfo *info, Err *err) {
    IoRead *reader = storagePutSourceOpen(src, err);
    char *what;

    if (reader == NULL)
        return NULL;
    what = src->path ? bvSprintf("'%s'", src->path) : bvStrdup("the buffer");
    reader = ioReadVerifyNew(reader, info->size, src->sealed ? NULL : info->sha256, what);
    bvFree(what);
    return reader;
}

int
storagePutSourceOpenAt(const StoragePutSource *src, uint64_t size, StoragePutSourceAt *at, Err *err) {
    struct stat st;

    at->src = src;
    at->fd = -1;
    at->size = size;
    if (src->path == NULL) {
        if (src->len != size)
            return errSet(err, ERR_CHECKSUM, "the buffer does not match its description: %zu bytes, "
                          "expected %llu", src->len, (unsigned long long)size);
        return 0;
    }
    at->fd = open(src->path, O_RDONLY | O_CLOEXEC);
    if (at->fd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to open '%s'", src->path);
    if (fstat(at->fd, &st) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to stat '%s'", src->path);
    if ((uint64_t)st.st_size != size)
        return errSet(err, ERR_CHECKSUM, "'%s' does not match its description: %llu bytes, expected "
                      "%llu", src->path, (unsigned long long)st.st_size, (unsigned long long)size);
    return 0;
}

ssize_t
storagePutSourceReadAt(StoragePutSourceAt *at, void *buf, size_t len, uint64_t offset, Err *err) {
    ssize_t n;

    if (at->fd < 0) {
        if (offset >= at->src->len)
            return 0;
        if (len > at->src->len - offset)
            len = (size_t)(at->src->len - offset);
        memcpy(buf, (const uint8_t *)at->src->data + offset, len);
        return (ssize_t)len;
    }
    n = fsPreadAll(at->fd, buf, len, (off_t)offset);
    if (n < 0)
        errSetSys(err, ERR_IO, errno, "unable to read '%s'", at->src->path);
    return n;
}

void
storagePutSourceCloseAt(StoragePutSourceAt *at) {
    if (at->fd >= 0)
        close(at->fd);
    at->fd = -1;
}

int
storagePutInfoFromFile(const char *path, StoragePutInfo *info, Err *err) {
    StoragePutSource src = {.path = path};
    IoRead *file = storagePutSourceOpen(&src, err);
    IoRead *sha256, *md5;
    uint8_t *buf;
    ssize_t n;

    if (file == NULL)
        return -1;
    memset(info, 0, sizeof(*info)); /* every member: noMd5 false, the MD5 is computed here */
    sha256 = ioReadHashNew(file, CRYPTO_HASH_SHA256);
    md5 = ioReadHashNew(sha256, CRYPTO_HASH_MD5);
    buf = bvMalloc(64 * 1024);
    info->size = 0;
    while ((n = ioRead(md5, buf, 64 * 1024, err)) > 0)
        info->size += (uint64_t)n;
    bvFree(buf);
    if (n == 0) {
        ioReadHashResult(sha256, info->sha256, NULL);
        ioReadHashResult(md5, info->md5, NULL);
    }
    ioReadFree(md5);
    return n == 0 ? 0 : -1;
}

/* Size and SHA-256 of a stored object, read through the driver. */
static int
storageObjectSha256(Storage *storage, const char *name, uint64_t *size, uint8_t *sha256,
                    Err *err) {
    IoRead *object = storageOpenRead(storage, name, 0, 0, err);
    IoRead *hash;
    uint8_t *buf;
    ssize_t n;

    if (object == NULL)
        return -1;
    hash = ioReadHashNew(object, CRYPTO_HASH_SHA256);
    buf = bvMalloc(64 * 1024);
    *size = 0;
    while ((n = ioRead(hash, buf, 64 * 1024, err)) > 0)
        *size += (uint64_t)n;
    bvFree(buf);
    if (n == 0)
        ioReadHashResult(hash, sha256, NULL);
    ioReadFree(hash);
    return n == 0 ? 0 : -1;
}

static int
storagePut(Storage *storage, const char *name, const StoragePutSource *src,
           const StoragePutInfo *info, StoragePutMode mode, Err *err) {
    uint8_t sha256[CRYPTO_SHA256_LEN];
    char stored[CRYPTO_SHA256_LEN * 2 + 1], wanted[CRYPTO_SHA256_LEN * 2 + 1];
    uint64_t size;
    bool existed = false;

    if (storageNameCheck(storage, name, false, err) != 0)
        return -1;
    atomic_fetch_add(&storage->puts, 1);
    if (storage->vt->put(storage->driver, name, src, info, mode, &existed, err) != 0)
        return errPrefix(err, "unable to put '%s' in '%s'", name, storage->url);
    if (!existed)
        return 0;
    BV_ASSERT(mode == STORAGE_PUT_IMMUTABLE);
    if (storageObjectSha256(storage, name, &size, sha256, err) != 0)
        return -1;
    if (size == info->size && memcmp(sha256, info->sha256, sizeof(sha256)) == 0) {
        logDebug("object '%s' is already in '%s' with identical content", name, storage->url);
        return 0;
    }
    cryptoHexEncode(sha256, sizeof(sha256), stored);
    cryptoHexEncode(info->sha256, sizeof(info->sha256), wanted);
    return errSet(err, ERR_EXISTS,
                  "archive object '%s' already exists in '%s' with different content (sha256 %s vs "
                  "%s)",
                  name, storage->url, stored, wanted);
}

int
storagePutFile(Storage *storage, const char *name, const char *localPath,
               const StoragePutInfo *info, Err *err) {
    StoragePutSource src = {.path = localPath};

    return storagePut(storage, name, &src, info, STORAGE_PUT_IMMUTABLE, err);
}

int
storagePutSealedFile(Storage *storage, const char *name, const char *localPath,
                     const StoragePutInfo *info, Err *err) {
    StoragePutSource src = {.path = localPath, .sealed = true};

    return storagePut(storage, name, &src, info, STORAGE_PUT_IMMUTABLE, err);
}

int
storagePutBuf(Storage *storage, const char *name, const void *data, size_t len,
              StoragePutMode mode, Err *err) {
    StoragePutSource src = {.data = data, .len = len};
    StoragePutInfo info = {.size = len};

    cryptoSha256(data, len, info.sha256);
    cryptoMd5(data, len, info.md5);
    return storagePut(storage, name, &src, &info, mode, err);
}

/* --- Listing, removal --------------------------------------------------------------------- */

/* Passes the caller's callback through the driver, remembering whether an error came from it so
 * that it is returned unchanged, skipping names up to `startAfter` for a driver that cannot, and
 * ending the listing early (STORAGE_LIST_STOP) through the driver's error path. */
typedef struct StorageListCtx {
    Storage *storage;
    StorageListCb *cb;
    void *data;
    const char *startAfter; /* NULL: the driver skipped them */
    bool cbFailed, stopped;
} StorageListCtx;

static int
storageListCb(const char *name, uint64_t size, void *data, Err *err) {
    StorageListCtx *ctx = data;
    int rc;

    if (ctx->startAfter != NULL && strcmp(name, ctx->startAfter) <= 0)
        return 0;
    atomic_fetch_add(&ctx->storage->listed, 1);
    rc = ctx->cb(name, size, ctx->data, err);
    if (rc == STORAGE_LIST_STOP) {
        ctx->stopped = true;
        return errSet(err, ERR_INTERNAL, "listing stopped");
    }
    if (rc != 0) {
        ctx->cbFailed = true;
        return -1;
    }
    return 0;
}

int
storageListFrom(Storage *storage, const char *prefix, const char *startAfter, StorageListCb *cb, void *data,
                Err *err) {
    StorageListCtx ctx = {.storage = storage, .cb = cb, .data = data};
    int rc;

    if (storageNameCheck(storage, prefix, true, err) != 0)
        return -1;
    if (startAfter != NULL && startAfter[0] == '\0')
        startAfter = NULL;
    atomic_fetch_add(&storage->lists, 1);
    if (startAfter == NULL) {
        rc = storage->vt->list(storage->driver, prefix, storageListCb, &ctx, err);
    } else if (storage->vt->listFrom != NULL) {
        rc = storage->vt->listFrom(storage->driver, prefix, startAfter, storageListCb, &ctx, err);
    } else {
        ctx.startAfter = startAfter;
        rc = storage->vt->list(storage->driver, prefix, storageListCb, &ctx, err);
    }
    if (rc != 0) {
        if (ctx.stopped) {
            errClear(err);
            return 0;
        }
        if (ctx.cbFailed)
            return -1;
        return errPrefix(err, "unable to list '%s' in '%s'", prefix, storage->url);
    }
    return 0;
}

int
storageList(Storage *storage, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    return storageListFrom(storage, prefix, NULL, cb, data, err);
}

int
storageRemove(Storage *storage, const char *name, Err *err) {
    if (storageNameCheck(storage, name, false, err) != 0)
        return -1;
    atomic_fetch_add(&storage->removes, 1);
    if (storage->vt->remove(storage->driver, name, err) != 0)
        return errPrefix(err, "unable to remove '%s' from '%s'", name, storage->url);
    return 0;
}

int
storageCleanTemp(Storage *storage, unsigned minAgeSec, unsigned *removed, Err *err) {
    unsigned count = 0;

    if (storage->vt->cleanTemp(storage->driver, minAgeSec, &count, err) != 0)
        return errPrefix(err, "unable to remove temporary files from '%s'", storage->url);
    if (removed != NULL)
        *removed = count;
    return 0;
}

/* --- Opening ------------------------------------------------------------------------------ */

/* Length of a "scheme://" prefix of `url`, or 0. */
static size_t
storageSchemeLen(const char *url) {
    size_t i = 0;

    if (!((url[0] >= 'a' && url[0] <= 'z') || (url[0] >= 'A' && url[0] <= 'Z')))
        return 0;
    while ((url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z') ||
           (url[i] >= '0' && url[i] <= '9') || url[i] == '+' || url[i] == '.' || url[i] == '-')
        i++;
    return strncmp(url + i, "://", 3) == 0 ? i + 3 : 0;
}

/* storageNew(), creating a missing directory only when `create` is set. */
static Storage *
storageOpen(const char *url, bool create, Err *err) {
    size_t schemeLen;
    char *path;
    Storage *storage;

    if (url == NULL || url[0] == '\0') {
        errSet(err, ERR_USAGE, "empty storage url: expected 'file:///path', a local path or "
                               "'s3://bucket/prefix'");
        return NULL;
    }
    schemeLen = storageSchemeLen(url);
    if (schemeLen == 0) {
        if (url[0] == '/') {
            path = bvStrdup(url);
        } else {
            char *cwd = getcwd(NULL, 0);

            if (cwd == NULL) {
                errSetSys(err, ERR_IO, errno, "unable to resolve storage path '%s'", url);
                return NULL;
            }
            path = bvSprintf("%s/%s", cwd, url);
            free(cwd);
        }
    } else if (schemeLen == strlen("file://") && strncmp(url, "file://", schemeLen) == 0) {
        if (url[schemeLen] != '/') {
            errSet(err, ERR_USAGE, "invalid storage url '%s': expected 'file:///absolute/path'", url);
            return NULL;
        }
        path = bvStrdup(url + schemeLen);
    } else if (schemeLen == strlen("s3://") && strncmp(url, "s3://", schemeLen) == 0) {
        return storageS3NewUrl(url, NULL, err);
    } else {
        errSet(err, ERR_USAGE, "unsupported storage url '%s': expected 'file:///path', a local path "
                               "or 's3://bucket/prefix'", url);
        return NULL;
    }
    for (size_t len = strlen(path); len > 1 && path[len - 1] == '/'; len--)
        path[len - 1] = '\0';
    storage = storageFileNew(path, create, err);
    bvFree(path);
    return storage;
}

Storage *
storageNew(const char *url, Err *err) {
    return storageOpen(url, true, err);
}

Storage *
storageNewOpts(const char *url, const StorageOptions *opts, Err *err) {
    if (url != NULL && strncmp(url, "s3://", 5) == 0)
        return storageS3NewUrl(url, opts, err);
    return storageOpen(url, opts == NULL || opts->create, err);
}
