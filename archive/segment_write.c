/*
 * The segment writer and its compression worker (archive/segment.h).
 *
 * Events are staged and pushed through the filter chain in blocks of SEGMENT_STAGE_SIZE: small
 * events (an OLTP binlog is mostly events of a few hundred bytes) would otherwise pay the
 * per-call cost of every filter (hashes, lz4, write) each.
 *
 * The byte work of a block runs on the compressor's two worker threads, one block behind the
 * caller: `bv-compress` writes it through lz4 -> object hash -> file while `bv-hash` adds it to
 * the content's SHA-256 (both only read the block: the two are independent, and the content hash
 * was a quarter of the one worker's time, the one that bounded a catch-up), and the caller (the
 * agent's stream thread) reads and frames the events of block n+1. Two blocks in memory, whatever
 * the segment size. The workers outlive segments: one SegmentCompressor serves each segment of a
 * stream in turn (a thread per segment would be created and joined every few seconds), and is
 * stopped by a sentinel (`stop`, seen once the block in flight is done).
 */
#include "archive/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/mem.h"

#define SEGMENT_STAGE_SIZE (256 * 1024)

struct SegmentCompressor {
    pthread_t thread, hashThread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* Under lock. The block in flight, written through `chain` by bv-compress (until it clears
     * `compressing`) and added to `contentHash` by bv-hash (until it clears `hashing`); the
     * compressor is idle when both are clear. */
    IoWrite *chain;
    CryptoHash *contentHash;
    const uint8_t *block;
    size_t len;
    bool compressing, hashing;
    bool stop;      /* the sentinel: exit once idle */
    bool failed;    /* a block of the current segment failed: the segment's later blocks are skipped */
    Err err;        /* why */
    SegmentWriter *writer; /* the segment served now, NULL between segments */
    int lz4Acceleration;   /* of the segments opened from now on */
    bool objectMd5;        /* the same: their object's MD5 is taken */
};

struct SegmentWriter {
    char *path;
    SegmentMeta meta;
    /* The worker's while a block is in flight (the caller's only when the worker is idle: the
     * FDE at the start, the digest at the seal): the content's SHA-256 and the chain, lz4 ->
     * tail -> object sha256 -> [object md5 ->] fd. */
    CryptoHash *contentHash;
    IoWrite *head, *tail, *objectHash;
    IoWrite *objectMd5; /* NULL when the MD5 is not taken */
    uint8_t *stage; /* content not yet handed to the worker (the caller's) */
    size_t staged;
    uint8_t *spare; /* the block the worker writes (or wrote last) */
    uint64_t contentBytes; /* content accepted so far (the caller's view) */
    uint64_t objectBytes;  /* bytes written to the object (the worker's until it is idle) */
    bool failed;
    bool sealed;
    /* NULL once sealed, or once the compressor was shut down under the open segment. */
    SegmentCompressor *compressor;
    bool ownCompressor; /* segmentWriterNew(): started for this segment, stopped with it */
};

/* bv-compress: writes each block handed to it through the chain of the segment it serves; after
 * the segment's first error (kept for the caller) it skips that segment's blocks. */
static void *
compressorMain(void *arg) {
    SegmentCompressor *c = arg;
    Err err;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->compressing && !c->stop)
            pthread_cond_wait(&c->cond, &c->lock);
        if (!c->compressing)
            break;
        IoWrite *chain = c->chain;
        const uint8_t *block = c->block;
        size_t len = c->len;
        bool skip = c->failed;

        pthread_mutex_unlock(&c->lock);
        errClear(&err);
        int rc = skip ? 0 : ioWrite(chain, block, len, &err);
        pthread_mutex_lock(&c->lock);
        if (rc != 0) {
            c->failed = true;
            c->err = err;
        }
        c->compressing = false;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* bv-hash: adds each block to the content's SHA-256, beside bv-compress. */
static void *
hasherMain(void *arg) {
    SegmentCompressor *c = arg;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->hashing && !c->stop)
            pthread_cond_wait(&c->cond, &c->lock);
        if (!c->hashing)
            break;
        CryptoHash *contentHash = c->contentHash;
        const uint8_t *block = c->block;
        size_t len = c->len;
        bool skip = c->failed;

        pthread_mutex_unlock(&c->lock);
        if (!skip)
            cryptoHashUpdate(contentHash, block, len);
        pthread_mutex_lock(&c->lock);
        c->hashing = false;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Stop and join the workers started (the compressor is idle). */
static void
compressorStop(SegmentCompressor *c, bool hasher) {
    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    if (hasher)
        pthread_join(c->hashThread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
}

SegmentCompressor *
segmentCompressorNew(Err *err) {
    SegmentCompressor *c = bvCalloc(1, sizeof(*c));
    int rc;

    c->lz4Acceleration = SEGMENT_LZ4_ACCELERATION_DEFAULT;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if ((rc = pthread_create(&c->thread, NULL, compressorMain, c)) != 0) {
        errSetSys(err, ERR_INTERNAL, rc, "unable to start the segment compression thread");
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        bvFree(c);
        return NULL;
    }
    pthread_setname_np(c->thread, "bv-compress");
    if ((rc = pthread_create(&c->hashThread, NULL, hasherMain, c)) != 0) {
        errSetSys(err, ERR_INTERNAL, rc, "unable to start the segment hash thread");
        compressorStop(c, false);
        bvFree(c);
        return NULL;
    }
    pthread_setname_np(c->hashThread, "bv-hash");
    return c;
}

void
segmentCompressorSetLz4Acceleration(SegmentCompressor *c, int acceleration) {
    BV_ASSERT(acceleration >= 1 && acceleration <= IO_LZ4_ACCELERATION_MAX);
    c->lz4Acceleration = acceleration;
}

void
segmentCompressorSetObjectMd5(SegmentCompressor *c, bool on) {
    c->objectMd5 = on;
}

void
segmentCompressorFree(SegmentCompressor *c) {
    if (c == NULL)
        return;
    compressorStop(c, true);
    /* A segment still open fails from now on; freeing it still removes its file. */
    if (c->writer != NULL)
        c->writer->compressor = NULL;
    bvFree(c);
}

/* Wait until the worker is idle; -1 with its error when a block of this segment failed, or when
 * the compressor is gone. */
static int
workerWait(SegmentWriter *w, Err *err) {
    SegmentCompressor *c = w->compressor;
    int rc = 0;

    if (c == NULL) {
        w->failed = true;
        return errSet(err, ERR_INTERNAL, "segment '%s': the compression worker was shut down", w->path);
    }
    pthread_mutex_lock(&c->lock);
    while (c->compressing || c->hashing)
        pthread_cond_wait(&c->cond, &c->lock);
    if (c->failed) {
        *err = c->err;
        rc = -1;
    }
    pthread_mutex_unlock(&c->lock);
    if (rc != 0)
        w->failed = true;
    return rc;
}

/* The segment no longer needs the worker (sealed, or being freed): wait until it is idle, then
 * let the next segment have it. */
static void
writerDetach(SegmentWriter *w) {
    SegmentCompressor *c = w->compressor;

    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    while (c->compressing || c->hashing)
        pthread_cond_wait(&c->cond, &c->lock);
    c->writer = NULL;
    c->failed = false;
    pthread_mutex_unlock(&c->lock);
    w->compressor = NULL;
    if (w->ownCompressor)
        segmentCompressorFree(c);
}

/* Hand the staged block to the worker (after the one it holds is written). */
static int
stageFlush(SegmentWriter *w, Err *err) {
    SegmentCompressor *c = w->compressor;
    uint8_t *block;

    if (w->staged == 0)
        return 0;
    if (workerWait(w, err) != 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    c->chain = w->head;
    c->contentHash = w->contentHash;
    c->block = w->stage;
    c->len = w->staged;
    c->compressing = c->hashing = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    block = w->spare;
    w->spare = w->stage;
    w->stage = block;
    w->staged = 0;
    return 0;
}

/* The filter between the lz4 compressor and the object: counts the object's bytes and, when the
 * chain closes (after the content hash is final and the lz4 frame ended), appends the trailer. */
typedef struct SegmentTail {
    IoWrite *next;
    SegmentWriter *w;
} SegmentTail;

static int
segmentTailWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    SegmentTail *this = ctx;

    this->w->objectBytes += len;
    return ioWrite(this->next, data, len, err);
}

static void
isoNow(char *out, size_t size) {
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
segmentTailClose(void *ctx, Err *err) {
    SegmentTail *this = ctx;
    SegmentWriter *w = this->w;
    Buf *trailer = bufNew(4096);
    int rc;

    /* contentLen and contentSha256 were set by segmentWriterSeal(). */
    isoNow(w->meta.created, sizeof(w->meta.created));
    segmentMetaToJson(&w->meta, false, trailer);
    segmentContainerTail(&segmentContainerSegment, trailer);
    rc = segmentTailWrite(this, trailer->data, trailer->len, err);
    bufFree(trailer);
    if (rc != 0)
        return -1;
    return ioWriteClose(this->next, err);
}

static void
segmentTailFree(void *ctx) {
    SegmentTail *this = ctx;

    ioWriteFree(this->next);
    bvFree(this);
}

static const IoWriteVt segmentTailVt = {
    .name = "segment-tail",
    .write = segmentTailWrite,
    .close = segmentTailClose,
    .free = segmentTailFree,
};

/* Replace a GTID state string, storing "" (unknown) for one above the limit. */
static void
setGtidState(char **dst, const char *state) {
    if (strlen(state) > SEGMENT_GTID_MAX) {
        logWarn("gtid state of %zu bytes is longer than the %d bytes segment metadata keeps; stored as unknown",
                strlen(state), SEGMENT_GTID_MAX);
        state = "";
    }
    bvFree(*dst);
    *dst = bvStrdup(state);
}

SegmentWriter *
segmentWriterOpen(SegmentCompressor *c, const char *path, const SegmentMeta *meta, const uint8_t *fde,
                  size_t fdeLen, Err *err) {
    SegmentWriter *w;
    SegmentTail *tail;
    BinlogFormat fmt;
    uint8_t *copy;
    IoWrite *fdSink;
    int fd, rc;

    if (!segmentFileNameValid(meta->file)) {
        errSet(err, ERR_FORMAT, "invalid binlog file name '%s'", meta->file);
        return NULL;
    }
    if (meta->startPos < BINLOG_MAGIC_LEN || fdeLen < BINLOG_HEADER_LEN || fdeLen > UINT32_MAX ||
        fde[4] != BINLOG_FORMAT_DESCRIPTION || rdU32(fde + 9) != fdeLen) {
        errSet(err, ERR_FORMAT, "segment of '%s' at %" PRIu64 ": not a format description event of %zu bytes",
               meta->file, meta->startPos, fdeLen);
        return NULL;
    }
    if (binlogFormatFromFde(&fmt, fde, fdeLen, true, err) != 0) {
        errPrefix(err, "segment of '%s' at %" PRIu64, meta->file, meta->startPos);
        return NULL;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create '%s'", path);
        return NULL;
    }
    w = bvCalloc(1, sizeof(*w));
    w->path = bvStrdup(path);
    w->meta = *meta;
    w->meta.gtidStart = NULL;
    w->meta.gtidEnd = NULL;
    setGtidState(&w->meta.gtidStart, segmentMetaGtidStart(meta));
    setGtidState(&w->meta.gtidEnd, segmentMetaGtidStart(meta));
    snprintf(w->meta.serverVersion, sizeof(w->meta.serverVersion), "%s", fmt.serverVersion);
    w->meta.fdeLen = (uint32_t)fdeLen;
    w->meta.endPos = meta->startPos;
    w->meta.contentLen = 0;
    w->meta.contentSha256[0] = '\0';
    w->meta.firstGtid[0] = w->meta.lastGtid[0] = '\0';
    w->meta.firstTimeUs = w->meta.lastTimeUs = 0;
    w->meta.minTimeUs = w->meta.maxTimeUs = 0;
    w->meta.timesInexact = false;
    w->meta.objectEndPos = 0;
    w->meta.timeline = meta->timeline ? meta->timeline : 1;
    w->meta.events = w->meta.transactions = 0;
    w->meta.endsFile = false;
    w->meta.name[0] = w->meta.sha256[0] = '\0';
    w->meta.size = 0;
    w->meta.hasMd5 = false;

    fdSink = ioWriteFdNew(fd, path, IO_FD_SYNC | IO_FD_CLOSE);
    if (c->objectMd5)
        fdSink = w->objectMd5 = ioWriteHashNew(fdSink, CRYPTO_HASH_MD5);
    w->objectHash = ioWriteHashNew(fdSink, CRYPTO_HASH_SHA256);
    tail = bvCalloc(1, sizeof(*tail));
    tail->next = w->objectHash;
    tail->w = w;
    w->tail = ioWriteNew(&segmentTailVt, tail);
    /* No frame content checksum: the content's SHA-256 (bv-hash, in the trailer) is the check of
     * record of the same bytes, and the XXH32 over them cost 0.25 CPU-s per GB of small-event
     * binlog. The block checksums stay: a reader stops at the first corrupt block. */
    w->head = ioWriteLz4CompressOptNew(w->tail, &(IoLz4Options){.acceleration = c->lz4Acceleration,
                                                                .contentChecksum = false});
    w->contentHash = cryptoHashNew(CRYPTO_HASH_SHA256);
    w->stage = bvMalloc(SEGMENT_STAGE_SIZE);
    w->spare = bvMalloc(SEGMENT_STAGE_SIZE);
    pthread_mutex_lock(&c->lock);
    BV_ASSERT(c->writer == NULL && !c->compressing && !c->hashing);
    c->writer = w;
    c->failed = false;
    pthread_mutex_unlock(&c->lock);
    w->compressor = c;

    /* The magic goes straight to the object; the FDE, with the in-use flag of an open file
     * cleared (its checksum is defined with the flag clear), opens the content. The worker is
     * idle: nothing was handed to it yet. */
    copy = bvMalloc(fdeLen);
    memcpy(copy, fde, fdeLen);
    binlogFdeSetInUse(copy, false);
    rc = ioWrite(w->tail, SEGMENT_MAGIC, SEGMENT_MAGIC_LEN, err);
    if (rc == 0)
        rc = ioWrite(w->head, copy, fdeLen, err);
    cryptoHashUpdate(w->contentHash, copy, fdeLen);
    bvFree(copy);
    w->contentBytes = fdeLen;
    if (rc != 0) {
        segmentWriterFree(w);
        return NULL;
    }
    return w;
}

SegmentWriter *
segmentWriterNew(const char *path, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen, Err *err) {
    SegmentCompressor *c = segmentCompressorNew(err);
    SegmentWriter *w;

    if (c == NULL) {
        errPrefix(err, "segment '%s'", path);
        return NULL;
    }
    if ((w = segmentWriterOpen(c, path, meta, fde, fdeLen, err)) == NULL) {
        segmentCompressorFree(c);
        return NULL;
    }
    w->ownCompressor = true;
    return w;
}

int
segmentWriterAppend(SegmentWriter *w, const uint8_t *event, size_t len, uint64_t endPos, Err *err) {
    size_t done = 0;

    BV_ASSERT(!w->sealed);
    if (w->failed)
        return errSet(err, ERR_INTERNAL, "segment '%s' failed earlier", w->path);
    if (len < BINLOG_HEADER_LEN || rdU32(event + 9) != len)
        return errSet(err, ERR_FORMAT, "segment '%s': event of %zu bytes does not carry its own size", w->path, len);
    if (endPos != w->meta.endPos + len)
        return errSet(err, ERR_INTERNAL,
                      "segment '%s': event of %zu bytes ending at %" PRIu64 " does not follow the previous end %" PRIu64,
                      w->path, len, endPos, w->meta.endPos);
    /* An event larger than a block goes through in block-sized pieces. */
    while (done < len) {
        size_t n = len - done;

        if (n > SEGMENT_STAGE_SIZE - w->staged)
            n = SEGMENT_STAGE_SIZE - w->staged;
        memcpy(w->stage + w->staged, event + done, n);
        w->staged += n;
        done += n;
        if (w->staged == SEGMENT_STAGE_SIZE && stageFlush(w, err) != 0)
            return -1;
    }
    w->contentBytes += len;
    w->meta.endPos = endPos;
    w->meta.events++;
    return 0;
}

void
segmentWriterTransaction(SegmentWriter *w, const char *gtid, uint64_t commitTimeUs, const char *gtidStateAfter) {
    if (gtid == NULL)
        gtid = "";
    if (w->meta.transactions == 0) {
        snprintf(w->meta.firstGtid, sizeof(w->meta.firstGtid), "%s", gtid);
        w->meta.firstTimeUs = w->meta.minTimeUs = w->meta.maxTimeUs = commitTimeUs;
    }
    if (commitTimeUs < w->meta.minTimeUs)
        w->meta.minTimeUs = commitTimeUs;
    if (commitTimeUs > w->meta.maxTimeUs)
        w->meta.maxTimeUs = commitTimeUs;
    snprintf(w->meta.lastGtid, sizeof(w->meta.lastGtid), "%s", gtid);
    w->meta.lastTimeUs = commitTimeUs;
    if (gtidStateAfter != NULL)
        setGtidState(&w->meta.gtidEnd, gtidStateAfter);
    w->meta.transactions++;
}

void
segmentWriterSetGtidEnd(SegmentWriter *w, const char *gtidState) {
    setGtidState(&w->meta.gtidEnd, gtidState);
}

void
segmentWriterSetSourceEncrypted(SegmentWriter *w) {
    w->meta.sourceEncrypted = true;
}

void
segmentWriterSetGtidStart(SegmentWriter *w, const char *gtidState) {
    if (w->meta.transactions > 0)
        return;
    setGtidState(&w->meta.gtidStart, gtidState);
    setGtidState(&w->meta.gtidEnd, gtidState);
}

uint64_t
segmentWriterContentBytes(const SegmentWriter *w) {
    return w->contentBytes;
}

uint64_t
segmentWriterTransactions(const SegmentWriter *w) {
    return w->meta.transactions;
}

uint64_t
segmentWriterEvents(const SegmentWriter *w) {
    return w->meta.events;
}

uint64_t
segmentWriterEndPos(const SegmentWriter *w) {
    return w->meta.endPos;
}

int
segmentWriterSeal(SegmentWriter *w, bool endsFile, SegmentMeta *meta, Err *err) {
    BV_ASSERT(!w->sealed);
    if (w->failed)
        return errSet(err, ERR_INTERNAL, "segment '%s' failed earlier", w->path);
    w->meta.endsFile = endsFile;
    if (stageFlush(w, err) != 0 || workerWait(w, err) != 0)
        return errPrefix(err, "unable to seal segment '%s'", w->path);
    /* Everything is written: the rest (lz4 frame end, trailer, fsync) runs here, and the next
     * segment may have the worker. */
    writerDetach(w);
    {
        uint8_t digest[CRYPTO_HASH_MAX_LEN];

        cryptoHashFinal(w->contentHash, digest, NULL);
        cryptoHexEncode(digest, CRYPTO_SHA256_LEN, w->meta.contentSha256);
        w->meta.contentLen = w->contentBytes;
    }
    if (ioWriteClose(w->head, err) != 0) {
        w->failed = true;
        return errPrefix(err, "unable to seal segment '%s'", w->path);
    }
    w->meta.size = w->objectBytes;
    snprintf(w->meta.sha256, sizeof(w->meta.sha256), "%s", ioWriteHashHex(w->objectHash));
    if (w->objectMd5 != NULL) {
        ioWriteHashResult(w->objectMd5, w->meta.md5, NULL);
        w->meta.hasMd5 = true;
    }
    segmentName(w->meta.seq, w->meta.file, w->meta.startPos, w->meta.name, sizeof(w->meta.name));
    w->sealed = true;
    segmentMetaCopy(meta, &w->meta);
    return 0;
}

void
segmentWriterFree(SegmentWriter *w) {
    if (w == NULL)
        return;
    /* The worker may still be writing a block of this segment into its chain. */
    writerDetach(w);
    ioWriteFree(w->head);
    cryptoHashFree(w->contentHash);
    bvFree(w->stage);
    bvFree(w->spare);
    if (!w->sealed && unlink(w->path) != 0 && errno != ENOENT)
        logWarn("unable to remove the unfinished segment '%s': %s", w->path, strerror(errno));
    segmentMetaClear(&w->meta);
    bvFree(w->path);
    bvFree(w);
}
