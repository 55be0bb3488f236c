/* Unit tests of the encrypting store on a driver that takes a source by offset (S3's putAt): the
 * encrypted object made twice with one header and no temporary copy; the bytes identical at every
 * read and described by the digests of the first pass; a source that changes underneath refused
 * before a byte of the changed chunk is handed out; a retried put with a fresh header. The driver
 * here is a fake one over a directory store that reads its source as S3 does (pieces, offsets,
 * again), so the tests need no S3. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/io.h"
#include "common/mem.h"
#include "tests/test.h"
#include "storage/storage.h"
#include "storage/storage_crypt.h"
#include "tests/unit/storage_wrap.h"

#define C STORAGE_CRYPT_CHUNK
/* The fake driver sends the MD5 of objects up to this size (S3: its multipart threshold). */
#define AT_WHOLE_MD5_MAX (2 * C)

/* The fake driver: puts go to a directory store; putAt reads its source the way S3 would. */
typedef struct AtDriver {
    Storage *inner; /* first: storage_wrap.h */
    /* Called once the source is open, before it is read (a source changed between the passes). */
    void (*beforeRead)(struct AtDriver *d);
    const char *tamperPath;
    unsigned failCalls; /* putAt calls to fail (ERR_STORAGE) after reading their source */
    unsigned calls;
    uint8_t headers[4][STORAGE_CRYPT_HEADER_LEN]; /* of the first calls */
    bool mismatch; /* two reads of one source differed, or did not match the digests */
    char readErr[sizeof(((Err *)0)->msg)];
} AtDriver;

static ssize_t
atReadAll(const StoragePutAt *src, uint64_t size, size_t step, uint64_t start, Buf *out, Err *err) {
    uint64_t offset = start;

    bufClear(out);
    while (offset < size) {
        ssize_t n = src->read(src->ctx, bufReserve(out, step), step, offset, err);

        if (n < 0)
            return -1;
        if (n == 0)
            break;
        out->len += (size_t)n;
        offset += (uint64_t)n;
    }
    /* At the end: nothing more. */
    return src->read(src->ctx, bufReserve(out, 1), 1, size, err) == 0 ? 0 : -1;
}

static int
atPutAt(void *driver, const char *name, const StoragePutAt *src, const StoragePutInfo *info,
        StoragePutMode mode, bool *existed, Err *err) {
    AtDriver *d = driver;
    Buf *whole = bufNew(0), *again = bufNew(0), *tail = bufNew(0);
    uint8_t sha[CRYPTO_SHA256_LEN], md5[CRYPTO_MD5_LEN];
    uint64_t mid = info->size / 2;
    int rc = -1;

    (void)existed;
    if (d->beforeRead != NULL)
        d->beforeRead(d);
    /* A body in small pieces, a multipart part hashed then sent from the middle, the body again
     * in large pieces (a retry on a new connection). */
    if (atReadAll(src, info->size, 1000, 0, whole, err) != 0 ||
        atReadAll(src, info->size, 70001, mid, tail, err) != 0 ||
        atReadAll(src, info->size, 3 * C + 7, 0, again, err) != 0) {
        snprintf(d->readErr, sizeof(d->readErr), "%s", err->msg);
        goto out;
    }
    if (d->calls < 4 && whole->len >= STORAGE_CRYPT_HEADER_LEN)
        memcpy(d->headers[d->calls], whole->data, STORAGE_CRYPT_HEADER_LEN);
    d->calls++;
    cryptoSha256(whole->data, whole->len, sha);
    cryptoMd5(whole->data, whole->len, md5);
    if (whole->len != info->size || again->len != whole->len || tail->len != whole->len - mid ||
        memcmp(whole->data, again->data, whole->len) != 0 ||
        memcmp(whole->data + mid, tail->data, tail->len) != 0 ||
        memcmp(sha, info->sha256, sizeof(sha)) != 0 ||
        info->noMd5 != (info->size > AT_WHOLE_MD5_MAX) ||
        (!info->noMd5 && memcmp(md5, info->md5, sizeof(md5)) != 0))
        d->mismatch = true;
    if (d->failCalls > 0) {
        d->failCalls--;
        errSet(err, ERR_STORAGE, "injected failure");
        goto out;
    }
    rc = storagePutBuf(d->inner, name, whole->data, whole->len, mode, err);
out:
    bufFree(whole);
    bufFree(again);
    bufFree(tail);
    return rc;
}

static int
atPut(void *driver, const char *name, const StoragePutSource *src, const StoragePutInfo *info,
      StoragePutMode mode, bool *existed, Err *err) {
    AtDriver *d = driver;

    (void)existed;
    if (src->path == NULL)
        return storagePutBuf(d->inner, name, src->data, src->len, mode, err);
    return storagePutFile(d->inner, name, src->path, info, err);
}

static bool
atSendsWholeMd5(void *driver, uint64_t size) {
    (void)driver;
    return size <= AT_WHOLE_MD5_MAX;
}

static void
atFree(void *driver) {
    AtDriver *d = driver;

    storageFree(d->inner);
    bvFree(d);
}

static const StorageDriverVt atVt = {
    .put = atPut,
    .putAt = atPutAt,
    .openRead = wrapOpenRead,
    .head = wrapHead,
    .list = wrapList,
    .remove = wrapRemove,
    .cleanTemp = wrapCleanTemp,
    .free = atFree,
    .sendsWholeMd5 = atSendsWholeMd5,
};

/* An encrypting store over a fake driver on "<tmp>/<dir>"; `*driver` is the driver. */
static Storage *
openAt(const char *dir, AtDriver **driver) {
    char *root = bvSprintf("%s/%s", testTmpDir(), dir);
    AtDriver *d = bvCalloc(1, sizeof(*d));
    StorageCryptKey key;
    Err err = {0};

    mkdir(root, 0700);
    d->inner = storageNew(root, &err);
    BV_ASSERT(d->inner != NULL);
    bvFree(root);
    memset(&key, 0x5a, sizeof(key));
    *driver = d;
    return storageCryptNew(storageNewDriver(&atVt, d, "at://x"), &key, "binvault.json", NULL);
}

/* Deterministic filler (xorshift). */
static uint8_t *
pattern(size_t len, uint32_t seed) {
    uint8_t *data = bvMalloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (uint8_t)x;
    }
    return data;
}

static char *
sourceFile(const char *name, const uint8_t *data, size_t len) {
    char *dir = bvSprintf("%s/src", testTmpDir());
    char *path = bvSprintf("%s/%s", dir, name);
    int fd;

    mkdir(dir, 0700);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    BV_ASSERT(fd >= 0);
    BV_ASSERT(len == 0 || write(fd, data, len) == (ssize_t)len);
    close(fd);
    bvFree(dir);
    return path;
}

static int
dirEntries(const char *path) {
    DIR *d = opendir(path);
    struct dirent *de;
    int entries = 0;

    BV_ASSERT(d != NULL);
    while ((de = readdir(d)) != NULL)
        entries += de->d_name[0] != '.';
    closedir(d);
    return entries;
}

static int
readBack(Storage *s, const char *name, Buf *out, Err *err) {
    IoRead *r = storageOpenRead(s, name, 0, 0, err);
    ssize_t n;

    bufClear(out);
    if (r == NULL)
        return -1;
    while ((n = ioRead(r, bufReserve(out, 8192), 8192, err)) > 0)
        out->len += (size_t)n;
    ioReadFree(r);
    return n < 0 ? -1 : 0;
}

/* Sealed files and buffers of every size around the chunks: the driver reads identical bytes in
 * every way it reads them, described by the digests it was given (the MD5 only for an object
 * whose whole MD5 it sends); the object decrypts to the source; no temporary copy is made beside
 * the source. */
static void
testTwoPasses(void) {
    static const size_t sizes[] = {0, 1, C - 1, C, C + 1, 3 * C + 5, 10 * 1024 * 1024 + 3};
    AtDriver *d;
    Storage *s = openAt("at", &d);
    char *srcDir = bvSprintf("%s/src", testTmpDir());
    Buf *got = bufNew(0);
    Err err = {0};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *plain = pattern(sizes[i], (uint32_t)i + 3);
        char name[64], file[32], *path;
        StoragePutInfo info;

        snprintf(file, sizeof(file), "seg%zu", i);
        path = sourceFile(file, plain, sizes[i]);
        REQUIRE(storagePutInfoFromFile(path, &info, &err) == 0);
        info.noMd5 = true;
        snprintf(name, sizeof(name), "segments/%04zu.bvs", i);
        CHECK(storagePutSealedFile(s, name, path, &info, &err) == 0);
        CHECK(readBack(s, name, got, &err) == 0);
        CHECK(got->len == sizes[i] && memcmp(got->data, plain, sizes[i]) == 0);
        /* The same content as a buffer (the index, the checkpoint). */
        snprintf(name, sizeof(name), "index/%04zu", i);
        CHECK(storagePutBuf(s, name, plain, sizes[i], STORAGE_PUT_IMMUTABLE, &err) == 0);
        CHECK(readBack(s, name, got, &err) == 0);
        CHECK(got->len == sizes[i] && memcmp(got->data, plain, sizes[i]) == 0);
        bvFree(path);
        bvFree(plain);
    }
    CHECK(!d->mismatch);
    CHECK_INT(d->calls, 2 * sizeof(sizes) / sizeof(sizes[0]));
    CHECK_INT(dirEntries(srcDir), (int)(sizeof(sizes) / sizeof(sizes[0])));
    /* A second put of the same plaintext is a no-op success (compared decrypted). */
    {
        uint8_t *plain = pattern(C + 1, 7);
        unsigned calls = d->calls;

        CHECK(storagePutBuf(s, "index/0004", plain, C + 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
        CHECK_INT(d->calls, calls);
        plain[5] ^= 1;
        CHECK(storagePutBuf(s, "index/0004", plain, C + 1, STORAGE_PUT_IMMUTABLE, &err) == -1);
        CHECK_INT(err.code, ERR_EXISTS);
        bvFree(plain);
    }
    storageFree(s);
    bufFree(got);
    bvFree(srcDir);
}

static void
flipChunk1(AtDriver *d) {
    int fd = open(d->tamperPath, O_RDWR);
    uint8_t b;

    BV_ASSERT(fd >= 0);
    BV_ASSERT(pread(fd, &b, 1, C + 10) == 1);
    b ^= 0x40;
    BV_ASSERT(pwrite(fd, &b, 1, C + 10) == 1);
    close(fd);
}

static void
appendByte(AtDriver *d) {
    int fd = open(d->tamperPath, O_WRONLY | O_APPEND);

    BV_ASSERT(fd >= 0);
    BV_ASSERT(write(fd, "x", 1) == 1);
    close(fd);
}

/* The source changes between the first pass and the driver's reads: the read of the changed chunk
 * fails (ERR_CHECKSUM) before a byte of it is handed out, and nothing is stored. A source not as
 * described fails the first pass, before the driver is called. */
static void
testSourceChanged(void) {
    uint8_t *plain = pattern(3 * C + 5, 9);
    AtDriver *d;
    Storage *s = openAt("changed", &d);
    char *path = sourceFile("changed", plain, 3 * C + 5);
    StoragePutInfo info;
    StorageInfo head;
    Err err = {0};

    REQUIRE(storagePutInfoFromFile(path, &info, &err) == 0);
    d->tamperPath = path;
    d->beforeRead = flipChunk1;
    CHECK(storagePutSealedFile(s, "segments/a.bvs", path, &info, &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_MSG(err.msg, "the plaintext of chunk 1 changed while it was being stored");
    CHECK_MSG(d->readErr, "chunk 1 changed");
    CHECK_INT(d->calls, 0);
    CHECK(storageHead(s, "segments/a.bvs", &head, &err) == 0 && !head.exists);

    /* Longer than described by the time the driver reads the final chunk. */
    flipChunk1(d);
    d->beforeRead = appendByte;
    CHECK(storagePutSealedFile(s, "segments/b.bvs", path, &info, &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_MSG(err.msg, "longer than its");
    CHECK(storageHead(s, "segments/b.bvs", &head, &err) == 0 && !head.exists);

    /* Not as described at all: the size of a sealed file, the SHA-256 of another. */
    d->beforeRead = NULL;
    CHECK(storagePutSealedFile(s, "segments/c.bvs", path, &info, &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_MSG(err.msg, "does not match its description");
    REQUIRE(truncate(path, (off_t)info.size) == 0);
    info.sha256[0] ^= 1;
    CHECK(storagePutFile(s, "segments/c.bvs", path, &info, &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_MSG(err.msg, "the plaintext has sha256");
    CHECK_INT(d->calls, 0);
    CHECK(storageHead(s, "segments/c.bvs", &head, &err) == 0 && !head.exists);
    storageFree(s);
    bvFree(path);
    bvFree(plain);
}

/* A put that fails in the driver and is tried again (the uploader's retry) takes a fresh header:
 * each attempt's bytes are consistent, the two attempts' are not the same object. */
static void
testRetry(void) {
    uint8_t *plain = pattern(2 * C + 1, 11);
    AtDriver *d;
    Storage *s = openAt("retry", &d);
    char *path = sourceFile("retry", plain, 2 * C + 1);
    StoragePutInfo info;
    Buf *got = bufNew(0);
    Err err = {0};

    REQUIRE(storagePutInfoFromFile(path, &info, &err) == 0);
    d->failCalls = 1;
    CHECK(storagePutSealedFile(s, "segments/r.bvs", path, &info, &err) == -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK(storagePutSealedFile(s, "segments/r.bvs", path, &info, &err) == 0);
    CHECK_INT(d->calls, 2);
    CHECK(!d->mismatch);
    CHECK(memcmp(d->headers[0], d->headers[1], 20) == 0);
    CHECK(memcmp(d->headers[0] + 20, d->headers[1] + 20, 23) != 0);
    CHECK(readBack(s, "segments/r.bvs", got, &err) == 0);
    CHECK(got->len == 2 * C + 1 && memcmp(got->data, plain, got->len) == 0);
    storageFree(s);
    bufFree(got);
    bvFree(path);
    bvFree(plain);
}

void
suite_storage_crypt_at(void) {
    testRun("two passes, one header, identical bytes", testTwoPasses);
    testRun("a source changed underneath is refused", testSourceChanged);
    testRun("a retried put takes a fresh header", testRetry);
}
