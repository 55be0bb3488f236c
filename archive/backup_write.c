/*
 * Writing a base backup into the archive (archive/backup_store.h): the stream is cut into parts;
 * each part is pushed, as it arrives, through lz4 -> trailer -> MD5 -> SHA-256 -> a local file,
 * while the content is hashed; a sealed part goes to the upload threads, which store it
 * (storagePutFile(), so an encrypted archive encrypts it as every object) with the one retry policy
 * and remove the file. The caller blocks when `parallel` parts wait or are being stored: the disk
 * holds at most parallel + 1 parts, the memory two lz4 contexts.
 */
#include "archive/backup_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/backup_internal.h"
#include "archive/internal.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/retry.h"
#include "common/time.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
/* Attempts at storing one part before the backup fails: a backup can be run again, an agent
 * cannot stop. */
#define PUT_ATTEMPTS 8

typedef struct PartJob {
    char *path;
    ArchiveBackupPart part;
    StoragePutInfo info;
    struct PartJob *next;
} PartJob;

struct ArchiveBackupWriter {
    Archive *archive;
    ArchiveBackupWriteOpts opts;
    char id[64];
    int64_t startUs;
    /* The part being written (the caller's). */
    char *path;
    IoWrite *head, *md5, *sha;
    CryptoHash *content;
    ArchiveBackupPart cur;
    uint64_t objectBytes; /* of the open part, as written so far */
    uint64_t streamBytes;
    uint32_t parts;
    /* Shared with the upload threads, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    PartJob *first, *last;
    unsigned pending; /* queued or being stored */
    bool stop, failed;
    Err failure;
    ArchiveBackupPart *stored;
    size_t storedCount, storedCap;
    _Atomic uint64_t storedBytes;
    pthread_t *threads;
    unsigned threadCount;
    bool finished;
};

/* The filter between lz4 and the object's hashes: at close, after the lz4 frame ended, appends the
 * part's trailer (the content hash is final by then). */
typedef struct PartTail {
    IoWrite *next;
    ArchiveBackupWriter *w;
} PartTail;

static int
partTailWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    PartTail *this = ctx;

    this->w->objectBytes += len;
    return ioWrite(this->next, data, len, err);
}

static int
partTailClose(void *ctx, Err *err) {
    PartTail *this = ctx;
    Buf *trailer = bufNew(512);
    int rc;

    archiveBackupPartToJson(this->w->id, &this->w->cur, false, trailer);
    segmentContainerTail(&archiveBackupPartContainer, trailer);
    rc = partTailWrite(this, trailer->data, trailer->len, err);
    bufFree(trailer);
    return rc != 0 ? -1 : ioWriteClose(this->next, err);
}

static void
partTailFree(void *ctx) {
    PartTail *this = ctx;

    ioWriteFree(this->next);
    bvFree(this);
}

static const IoWriteVt partTailVt = {
    .name = "backup-part-tail",
    .write = partTailWrite,
    .close = partTailClose,
    .free = partTailFree,
};

/* ---- upload threads ---------------------------------------------------------------------------- */

/* Sleep `ms`, waking up early when the writer stops; false when it stopped. */
static bool
backoff(ArchiveBackupWriter *w, uint64_t ms) {
    struct timespec until;
    bool stop;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &until) == 0)
        ;
    stop = w->stop;
    pthread_mutex_unlock(&w->lock);
    return !stop;
}

static int
storePart(ArchiveBackupWriter *w, PartJob *job, Err *err) {
    Storage *storage = w->archive->storage;
    Retry retry;

    retryInit(&retry, BACKOFF_MIN_MS, BACKOFF_MAX_MS, 0);
    for (unsigned attempt = 1;; attempt++) {
        if (storagePutFile(storage, job->part.name, job->path, &job->info, err) == 0)
            return 0;
        if (!retryErrTransient(err->code) || attempt == PUT_ATTEMPTS)
            return -1;
        {
            uint64_t delay = retryNext(&retry, retryNowMs());

            logWarn("unable to store backup part '%s' (attempt %u), retrying in %" PRIu64 " ms: %s", job->part.name,
                    attempt, delay, err->msg);
            if (!backoff(w, delay))
                return -1;
        }
    }
}

static void
jobFree(PartJob *job) {
    if (unlink(job->path) != 0 && errno != ENOENT)
        logWarn("unable to remove '%s': %s", job->path, strerror(errno));
    bvFree(job->path);
    bvFree(job);
}

static void *
uploadMain(void *arg) {
    ArchiveBackupWriter *w = arg;

    for (;;) {
        PartJob *job;
        Err err = {0};
        int rc;

        pthread_mutex_lock(&w->lock);
        while (w->first == NULL && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->stop || w->failed) {
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        job = w->first;
        w->first = job->next;
        if (w->first == NULL)
            w->last = NULL;
        pthread_mutex_unlock(&w->lock);

        rc = storePart(w, job, &err);
        pthread_mutex_lock(&w->lock);
        if (rc == 0) {
            if (w->storedCount == w->storedCap) {
                w->storedCap = w->storedCap ? w->storedCap * 2 : 64;
                w->stored = bvRealloc(w->stored, w->storedCap * sizeof(*w->stored));
            }
            w->stored[w->storedCount++] = job->part;
            atomic_fetch_add(&w->storedBytes, job->part.size);
        } else if (!w->failed) {
            w->failed = true;
            w->failure = err;
        }
        w->pending--;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        jobFree(job);
    }
}

/* ---- parts ------------------------------------------------------------------------------------- */

static int
partOpen(ArchiveBackupWriter *w, Err *err) {
    char path[4096];
    PartTail *tail;
    IoWrite *chain;
    int fd;

    snprintf(path, sizeof(path), "%s/binvault-backup-%s-%08" PRIu32 ".bvp", w->opts.tmpDir, w->id, w->parts + 1);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to create '%s'", path);
    memset(&w->cur, 0, sizeof(w->cur));
    w->objectBytes = 0;
    w->cur.part = w->parts + 1;
    w->cur.offset = w->streamBytes;
    archiveBackupPartName(w->id, w->cur.part, w->cur.name, sizeof(w->cur.name));
    w->path = bvStrdup(path);
    chain = ioWriteFdNew(fd, path, IO_FD_SYNC | IO_FD_CLOSE);
    w->sha = ioWriteHashNew(chain, CRYPTO_HASH_SHA256);
    w->md5 = ioWriteHashNew(w->sha, CRYPTO_HASH_MD5);
    tail = bvCalloc(1, sizeof(*tail));
    tail->next = w->md5;
    tail->w = w;
    chain = ioWriteNew(&partTailVt, tail);
    w->head = ioWriteLz4CompressNew(chain);
    w->content = cryptoHashNew(CRYPTO_HASH_SHA256);
    if (ioWrite(chain, ARCHIVE_BACKUP_PART_MAGIC, SEGMENT_MAGIC_LEN, err) != 0)
        return errPrefix(err, "backup part '%s'", path);
    return 0;
}

static void
partDiscard(ArchiveBackupWriter *w) {
    if (w->head == NULL)
        return;
    ioWriteFree(w->head);
    cryptoHashFree(w->content);
    if (unlink(w->path) != 0 && errno != ENOENT)
        logWarn("unable to remove '%s': %s", w->path, strerror(errno));
    bvFree(w->path);
    w->head = NULL;
    w->content = NULL;
    w->path = NULL;
}

/* Seal the open part and queue it for the upload threads, after waiting for room. */
static int
partSeal(ArchiveBackupWriter *w, Err *err) {
    uint8_t digest[CRYPTO_HASH_MAX_LEN];
    PartJob *job;
    size_t len;

    cryptoHashFinal(w->content, digest, NULL);
    cryptoHexEncode(digest, CRYPTO_SHA256_LEN, w->cur.contentSha256);
    if (ioWriteClose(w->head, err) != 0) {
        partDiscard(w);
        return errPrefix(err, "unable to seal backup part %" PRIu32, w->cur.part);
    }
    job = bvCalloc(1, sizeof(*job));
    ioWriteHashResult(w->sha, job->info.sha256, &len);
    ioWriteHashResult(w->md5, job->info.md5, &len);
    cryptoHexEncode(job->info.sha256, CRYPTO_SHA256_LEN, w->cur.sha256);
    job->path = w->path;
    job->part = w->cur;
    ioWriteFree(w->head);
    cryptoHashFree(w->content);
    w->head = NULL;
    w->content = NULL;
    w->path = NULL;
    job->info.size = w->objectBytes;
    job->part.size = job->info.size;
    w->parts++;
    pthread_mutex_lock(&w->lock);
    while (w->pending >= w->opts.parallel && !w->failed)
        pthread_cond_wait(&w->cond, &w->lock);
    if (w->failed) {
        *err = w->failure;
        pthread_mutex_unlock(&w->lock);
        jobFree(job);
        return -1;
    }
    if (w->last != NULL)
        w->last->next = job;
    else
        w->first = job;
    w->last = job;
    w->pending++;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* ---- the writer -------------------------------------------------------------------------------- */

static int
newId(char *out, size_t size, int64_t *startUs, Err *err) {
    struct timespec now;
    struct tm tm;
    uint8_t rnd[4];
    char stamp[32];

    if (cryptoRandom(rnd, sizeof(rnd), err) != 0)
        return errPrefix(err, "unable to make a backup id");
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, size, "%s-%02x%02x%02x%02x", stamp, rnd[0], rnd[1], rnd[2], rnd[3]);
    *startUs = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    return 0;
}

ArchiveBackupWriter *
archiveBackupWriterNew(Archive *archive, const ArchiveBackupWriteOpts *opts, Err *err) {
    ArchiveBackupWriter *w;
    char name[STORAGE_NAME_MAX], iso[32];
    Buf *doc;
    int rc;

    if (opts->partSize < ARCHIVE_BACKUP_PART_MIN || opts->partSize > ARCHIVE_BACKUP_PART_MAX || opts->parallel < 1 ||
        opts->parallel > 64) {
        errSet(err, ERR_USAGE, "part size %" PRIu64 " or parallel %u out of range (64K..1G, 1..64)", opts->partSize,
               opts->parallel);
        return NULL;
    }
    w = bvCalloc(1, sizeof(*w));
    w->archive = archive;
    w->opts = *opts;
    w->opts.tmpDir = bvStrdup(opts->tmpDir);
    w->opts.host = bvStrdup(opts->host);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (newId(w->id, sizeof(w->id), &w->startUs, err) != 0) {
        w->finished = true;
        archiveBackupWriterFree(w);
        return NULL;
    }
    doc = bufNew(256);
    timeFormatIso((uint64_t)w->startUs, iso, sizeof(iso));
    jsonBufPrintf(doc, "{\"version\":%d", ARCHIVE_BACKUP_VERSION);
    archiveJsonPutStr(doc, "id", w->id);
    archiveJsonPutStr(doc, "host", opts->host);
    jsonBufPrintf(doc, ",\"pid\":%" PRId64, opts->pid);
    archiveJsonPutStr(doc, "started", iso);
    jsonBufPrintf(doc, ",\"started_us\":%" PRId64 "}", w->startUs);
    archiveBackupObjectName(w->id, "started.json", name, sizeof(name));
    rc = storagePutBuf(archive->storage, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    bufFree(doc);
    if (rc != 0) {
        w->finished = true;
        archiveBackupWriterFree(w);
        return NULL;
    }
    w->threads = bvCalloc(opts->parallel, sizeof(*w->threads));
    for (unsigned i = 0; i < opts->parallel; i++) {
        if ((rc = pthread_create(&w->threads[i], NULL, uploadMain, w)) != 0) {
            errSetSys(err, ERR_INTERNAL, rc, "unable to start a backup upload thread");
            archiveBackupWriterFree(w);
            return NULL;
        }
        pthread_setname_np(w->threads[i], "bv-upload");
        w->threadCount++;
    }
    return w;
}

const char *
archiveBackupWriterId(const ArchiveBackupWriter *w) {
    return w->id;
}

int64_t
archiveBackupWriterStartUs(const ArchiveBackupWriter *w) {
    return w->startUs;
}

uint64_t
archiveBackupWriterStreamBytes(const ArchiveBackupWriter *w) {
    return w->streamBytes;
}

uint64_t
archiveBackupWriterStoredBytes(const ArchiveBackupWriter *w) {
    return atomic_load(&((ArchiveBackupWriter *)w)->storedBytes);
}

int
archiveBackupWriterAppend(ArchiveBackupWriter *w, const void *data, size_t len, Err *err) {
    const uint8_t *p = data;

    BV_ASSERT(!w->finished);
    while (len > 0) {
        size_t n;

        if (w->head == NULL && partOpen(w, err) != 0) {
            partDiscard(w);
            return -1;
        }
        n = w->opts.partSize - w->cur.contentLen < len ? (size_t)(w->opts.partSize - w->cur.contentLen) : len;
        cryptoHashUpdate(w->content, p, n);
        if (ioWrite(w->head, p, n, err) != 0) {
            partDiscard(w);
            return errPrefix(err, "backup part %" PRIu32, w->cur.part);
        }
        w->cur.contentLen += n;
        w->streamBytes += n;
        p += n;
        len -= n;
        if (w->cur.contentLen == w->opts.partSize && partSeal(w, err) != 0)
            return -1;
    }
    return 0;
}

static int
partCompare(const void *a, const void *b) {
    const ArchiveBackupPart *x = a, *y = b;

    return x->part < y->part ? -1 : x->part > y->part;
}

int
archiveBackupWriterFinish(ArchiveBackupWriter *w, ArchiveBackup *desc, Err *err) {
    char name[STORAGE_NAME_MAX], hex[CRYPTO_HASH_HEX_MAX];
    uint8_t digest[CRYPTO_SHA256_LEN];
    Buf *index, *manifest;
    uint64_t stored = 0;
    int rc;

    BV_ASSERT(!w->finished);
    if (w->head != NULL && partSeal(w, err) != 0)
        return -1;
    pthread_mutex_lock(&w->lock);
    while (w->pending > 0 && !w->failed)
        pthread_cond_wait(&w->cond, &w->lock);
    if (w->failed) {
        *err = w->failure;
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    pthread_mutex_unlock(&w->lock);
    if (w->streamBytes == 0)
        return errSet(err, ERR_FORMAT, "backup '%s': the backup tool's stream is empty", w->id);
    BV_ASSERT(w->storedCount == w->parts);
    qsort(w->stored, w->storedCount, sizeof(*w->stored), partCompare);
    index = bufNew(256 * w->storedCount + 1);
    for (size_t i = 0; i < w->storedCount; i++) {
        archiveBackupPartToJson(w->id, &w->stored[i], true, index);
        bufAppend(index, "\n", 1);
        stored += w->stored[i].size;
    }
    archiveBackupObjectName(w->id, "parts.bvi", name, sizeof(name));
    rc = storagePutBuf(w->archive->storage, name, index->data, index->len, STORAGE_PUT_IMMUTABLE, err);
    cryptoSha256(index->data, index->len, digest);
    cryptoHexEncode(digest, CRYPTO_SHA256_LEN, hex);
    desc->storedBytes = stored + index->len;
    manifest = bufNew(1024);
    snprintf(desc->id, sizeof(desc->id), "%s", w->id);
    desc->startUs = w->startUs;
    desc->streamLen = w->streamBytes;
    desc->parts = w->parts;
    archiveBackupManifestToJson(desc, hex, index->len, manifest);
    bufFree(index);
    if (rc == 0) {
        archiveBackupObjectName(w->id, "manifest.json", name, sizeof(name));
        rc = storagePutBuf(w->archive->storage, name, manifest->data, manifest->len, STORAGE_PUT_IMMUTABLE, err);
    }
    bufFree(manifest);
    if (rc != 0)
        return errPrefix(err, "backup '%s'", w->id);
    w->finished = true;
    return 0;
}

void
archiveBackupWriterFree(ArchiveBackupWriter *w) {
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->threadCount; i++)
        pthread_join(w->threads[i], NULL);
    while (w->first != NULL) {
        PartJob *job = w->first;

        w->first = job->next;
        jobFree(job);
    }
    partDiscard(w);
    if (!w->finished) {
        Err err = {0};

        if (archiveBackupDelete(w->archive, w->id, NULL, &err) != 0)
            logWarn("the objects of the unfinished backup '%s' are left for the next backup or prune to remove: %s",
                    w->id, err.msg);
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    bvFree(w->stored);
    bvFree(w->threads);
    bvFree((char *)w->opts.tmpDir);
    bvFree((char *)w->opts.host);
    bvFree(w);
}
