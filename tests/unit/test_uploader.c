/* Unit tests of the uploader (agent/uploader.c): a segment is stored with its seal's size and
 * SHA-256 (the directory store links the spooled file: the object is the same file); a spooled
 * file that is not the segment sealed is refused for good, never stored; a job without a SHA-256
 * is hashed first and copied. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/uploader.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/mem.h"
#include "storage/storage.h"
#include "tests/test.h"

void suite_uploader(void);

typedef struct Done {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned count;
    int rc;
    ErrCode code;
    char msg[2048];
} Done;

static void
onDone(void *data, const SegmentMeta *meta, int rc, const Err *err) {
    Done *d = data;

    (void)meta;
    pthread_mutex_lock(&d->lock);
    d->count++;
    d->rc = rc;
    d->code = rc == 0 ? ERR_NONE : err->code;
    snprintf(d->msg, sizeof(d->msg), "%s", rc == 0 ? "" : err->msg);
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/* Upload `content` from a spooled file as the segment `name`, its seal saying `size` bytes and
 * the content's SHA-256 (`withSha` false: no SHA-256 in the job); returns the callback's rc (99
 * when the file cannot be written). */
static int
uploadOne(Storage *storage, const char *local, const char *name, const char *content, uint64_t size,
          bool withSha, Done *d) {
    SegmentMeta meta;
    uint8_t sha[CRYPTO_SHA256_LEN];
    Uploader *u;
    Err err;

    if (fsWriteFileAtomic(local, content, strlen(content), 0640, &err) != 0)
        return 99;
    memset(&meta, 0, sizeof(meta));
    snprintf(meta.name, sizeof(meta.name), "%s", name);
    meta.size = size;
    cryptoSha256(content, strlen(content), sha);
    if (withSha)
        cryptoHexEncode(sha, sizeof(sha), meta.sha256);
    pthread_mutex_lock(&d->lock);
    d->count = 0;
    pthread_mutex_unlock(&d->lock);
    u = uploaderNew(storage, 1, onDone, d);
    uploaderSubmit(u, &meta, local);
    pthread_mutex_lock(&d->lock);
    while (d->count == 0)
        pthread_cond_wait(&d->cond, &d->lock);
    pthread_mutex_unlock(&d->lock);
    uploaderFree(u);
    return d->rc;
}

static void
testSealed(void) {
    Done d = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    char root[512], local[512], object[600], *url;
    struct stat st, obj;
    Storage *storage;
    Err err;

    snprintf(root, sizeof(root), "%s/archive", testTmpDir());
    url = bvSprintf("file://%s", root);
    storage = storageNew(url, &err);
    bvFree(url);
    REQUIRE(storage != NULL);
    snprintf(local, sizeof(local), "%s/0000000000000001.bvs", testTmpDir());

    /* Stored as sealed: linked, not copied. */
    CHECK_INT(uploadOne(storage, local, "segments/1.bvs", "segment one", 11, true, &d), 0);
    snprintf(object, sizeof(object), "%s/segments/1.bvs", root);
    REQUIRE(stat(local, &st) == 0 && stat(object, &obj) == 0);
    CHECK_INT(obj.st_ino, st.st_ino);

    /* The spool's disk changed the file since its seal: refused for good, nothing stored. */
    CHECK_INT(uploadOne(storage, local, "segments/2.bvs", "segment two, longer", 11, true, &d), -1);
    CHECK_INT(d.code, ERR_CHECKSUM);
    CHECK_MSG(d.msg, "is not the segment sealed");
    CHECK_MSG(d.msg, "19 bytes, expected 11 bytes");
    snprintf(object, sizeof(object), "%s/segments/2.bvs", root);
    CHECK(stat(object, &obj) != 0);

    /* No SHA-256 in the job: hashed here, then copied (its own file). */
    CHECK_INT(uploadOne(storage, local, "segments/3.bvs", "segment three", 13, false, &d), 0);
    snprintf(object, sizeof(object), "%s/segments/3.bvs", root);
    REQUIRE(stat(local, &st) == 0 && stat(object, &obj) == 0);
    CHECK(obj.st_ino != st.st_ino);
    CHECK_INT(obj.st_size, 13);
    storageFree(storage);
}

/* A store that sends MD5s and records what the uploader gave it. */
typedef struct Recorder {
    unsigned puts;
    StoragePutInfo info;
} Recorder;

static int
recorderPut(void *driver, const char *name, const StoragePutSource *src, const StoragePutInfo *info,
            StoragePutMode mode, bool *existed, Err *err) {
    Recorder *r = driver;

    (void)name, (void)src, (void)mode, (void)err;
    r->puts++;
    r->info = *info;
    *existed = false;
    return 0;
}

static bool
recorderSendsMd5(void *driver) {
    (void)driver;
    return true;
}

static void
recorderFree(void *driver) {
    (void)driver;
}

static const StorageDriverVt recorderVt = {
    .put = recorderPut,
    .free = recorderFree,
    .sendsMd5 = recorderSendsMd5,
};

/* The seal's MD5 (taken by the writer for a store that sends it) goes to the store with the
 * size and SHA-256; a job without one leaves the MD5 to the store (noMd5). */
static void
testSealedMd5(void) {
    Done d = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    static const char content[] = "segment with its md5";
    char local[512];
    uint8_t md5[CRYPTO_MD5_LEN];
    Recorder rec = {0};
    Storage *storage = storageNewDriver(&recorderVt, &rec, "recorder://");
    Err err;

    CHECK(storageSendsMd5(storage));
    snprintf(local, sizeof(local), "%s/md5.bvs", testTmpDir());
    cryptoMd5(content, strlen(content), md5);
    for (int withMd5 = 0; withMd5 <= 1; withMd5++) {
        SegmentMeta meta;
        Uploader *u;

        REQUIRE(fsWriteFileAtomic(local, content, strlen(content), 0640, &err) == 0);
        memset(&meta, 0, sizeof(meta));
        snprintf(meta.name, sizeof(meta.name), "segments/md5-%d.bvs", withMd5);
        meta.size = strlen(content);
        {
            uint8_t sha[CRYPTO_SHA256_LEN];

            cryptoSha256(content, strlen(content), sha);
            cryptoHexEncode(sha, sizeof(sha), meta.sha256);
        }
        if (withMd5) {
            meta.hasMd5 = true;
            memcpy(meta.md5, md5, sizeof(md5));
        }
        pthread_mutex_lock(&d.lock);
        d.count = 0;
        pthread_mutex_unlock(&d.lock);
        u = uploaderNew(storage, 1, onDone, &d);
        uploaderSubmit(u, &meta, local);
        pthread_mutex_lock(&d.lock);
        while (d.count == 0)
            pthread_cond_wait(&d.cond, &d.lock);
        pthread_mutex_unlock(&d.lock);
        uploaderFree(u);
        CHECK_INT(d.rc, 0);
        CHECK_INT(rec.puts, (unsigned)withMd5 + 1);
        CHECK_INT(rec.info.size, strlen(content));
        CHECK(rec.info.noMd5 == !withMd5);
        if (withMd5)
            CHECK(memcmp(rec.info.md5, md5, sizeof(md5)) == 0);
    }
    storageFree(storage);
}

/* Only a store that sends MD5s asks for them: not the directory store. */
static void
testSendsMd5(void) {
    char *url = bvSprintf("file://%s/archive-md5", testTmpDir());
    Storage *storage;
    Err err;

    storage = storageNew(url, &err);
    bvFree(url);
    REQUIRE(storage != NULL);
    CHECK(!storageSendsMd5(storage));
    storageFree(storage);
}

void
suite_uploader(void) {
    testRun("uploader: stored as sealed (linked); a changed spooled file refused for good", testSealed);
    testRun("uploader: the seal's MD5 goes to a store that sends it", testSealedMd5);
    testRun("uploader: the directory store asks for no MD5", testSendsMd5);
}
