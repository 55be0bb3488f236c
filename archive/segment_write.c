/*
 * The segment writer and its compression workers (archive/segment.h).
 *
 * Events are staged and pushed through the filter chain in blocks of SEGMENT_STAGE_SIZE: small
 * events (an OLTP binlog is mostly events of a few hundred bytes) would otherwise pay the
 * per-call cost of every filter (hashes, lz4, write) each.
 *
 * The caller (the agent's stream thread) stages events straight into the blocks of a ring of
 * SEGMENT_RING_BLOCKS, which the compressor's threads consume in order, behind it: `bv-compress`
 * writes each block through lz4 -> file, keeping the bytes it wrote in the entry, while `bv-hash`
 * adds the block to the content's SHA-256 and then, once bv-compress is past it, the entry's
 * written bytes to the object's SHA-256 (and MD5). The object's digests were bv-compress's until
 * the fifth round of issue #15: on small events lz4 plus the object's hashes made bv-compress the
 * thread behind at 99% of the ring-full waits while bv-hash idled; the same bytes are hashed in the
 * same order, one thread over. The caller waits only when the ring is full: with one spare block
 * it waited whenever a worker was a little behind (issue #15, fourth round). A segment is sealed
 * through the same ring: a close entry after its last block makes bv-hash finish the content
 * digest, bv-compress end the lz4 frame and write the trailer, bv-hash finish the object's
 * digests, then `bv-seal` fsyncs and closes the file and, for a segment sealed behind the caller
 * (segmentWriterSealAsync()), runs the caller's commit (the agent's spoolCommit()): the fsyncs of
 * one segment overlap the reading of the next. Segments are sealed in the order they were
 * handed over; the first failure (a write, an fsync, a commit) fails every segment after it
 * until the caller resets the compressor, so that nothing is committed past a segment that was
 * not. Memory: the ring, and the open segment's chain plus those of at most SEGMENT_SEALS_MAX
 * segments being sealed, whatever the segment size. The threads outlive segments (one
 * SegmentCompressor serves a stream of segments) and are stopped by a sentinel (`stop`, seen
 * once the work queued is done). Each thread waits on a condition of its own, signalled only by
 * what it waits for: with one condition broadcast at every block, each block woke all four
 * threads (kernel wake-ups were ~18% of the stream thread's profile), most to sleep again.
 */
#include "archive/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/mem.h"

#define SEGMENT_STAGE_SIZE (256 * 1024)
/* Blocks between the caller and the workers (2 MiB): enough to ride out a worker's pause (a
 * segment's close, a page-cache write that blocks) without the caller stopping. */
#define SEGMENT_RING_BLOCKS 8
/* Segments handed to segmentWriterSealAsync() and not yet committed: one more waits for them. */
#define SEGMENT_SEALS_MAX 4

/* One entry of the ring: a block of a segment's content, or the close of that segment. */
typedef struct RingEntry {
    SegmentWriter *w;
    uint8_t *block; /* the ring's own buffer for this entry */
    size_t len;
    bool close;
    /* The object's bytes bv-compress wrote for this entry (lz4 output, at a close the frame's end
     * and the trailer), for bv-hash's object digests. */
    Buf *out;
} RingEntry;

struct SegmentCompressor {
    pthread_t thread, hashThread, sealThread;
    pthread_mutex_t lock;
    /* Under lock, each a waiter's own: compressCond (bv-compress: an entry, the content digest
     * at a close), hashCond (bv-hash: an entry, bv-compress past one), sealCond (bv-seal: a
     * segment to seal), callerCond (the caller and segmentCompressorSync(): room in the ring, a
     * seal over). */
    pthread_cond_t compressCond, hashCond, sealCond, callerCond;
    /* Under lock. Entry i is ring[i % SEGMENT_RING_BLOCKS]; bv-hash is past its content at
     * contentHashed, past its object bytes at hashed (hashed <= compressed, contentHashed); the
     * caller fills entry `produced` once hashed > produced - SEGMENT_RING_BLOCKS. */
    RingEntry ring[SEGMENT_RING_BLOCKS];
    uint64_t produced, compressed, contentHashed, hashed;
    /* Under lock: the caller waits until `hashed` reaches it (0: it does not wait on bv-hash);
     * bv-hash wakes it then, not at every entry. */
    uint64_t callerWaitHashed;
    /* Under lock. Segments whose object is whole, waiting for bv-seal (linked by sealNext), and
     * the count of segments handed to seal and done with. */
    SegmentWriter *sealHead, *sealTail;
    uint64_t sealsQueued, sealsDone;
    unsigned asyncQueued; /* of those, sealed behind the caller and not done */
    bool stop; /* the sentinel: exit once the work queued is done */
    /* Set (under lock) at the first failure; read without it by segmentCompressorFailed(). The
     * work queued after it is skipped. `latched`: it came while a segment was sealed behind the
     * caller, so only segmentCompressorReset() clears it (a segment opened next must not be
     * committed after one that was not); otherwise the next segment clears it. */
    atomic_bool failed;
    bool latched;
    Err err; /* why, under lock */
    SegmentWriter *writer; /* the open segment (the caller's), NULL between segments */
    int lz4Acceleration;   /* of the segments opened from now on */
    bool objectMd5;        /* the same: their object's MD5 is taken */
};

struct SegmentWriter {
    char *path;
    int fd; /* closed by bv-seal after its fsync */
    SegmentMeta meta;
    /* The caller's until its first block is in the ring, then the workers' (bv-hash: the
     * content's SHA-256 and the object's digests; bv-compress: the chain, lz4 -> tail -> fd). */
    CryptoHash *contentHash;
    IoWrite *head, *tail;
    CryptoHash *objectHash, *objectMd5; /* objectMd5: NULL when the MD5 is not taken */
    /* bv-compress's: the entry whose `out` takes what the tail writes; NULL (the caller's writes
     * at the open) hashes them at once. */
    Buf *capture;
    uint8_t *stage; /* the ring entry being filled (NULL: none taken yet) */
    size_t staged;
    uint64_t contentBytes; /* content accepted so far (the caller's view) */
    uint64_t objectBytes;  /* bytes written to the object (bv-compress's) */
    uint64_t lastEntry;    /* one past its last entry in the ring */
    bool failed;
    bool sealed;    /* the caller's: sealed (the file is whole at `path`, or committed away) */
    /* The seal (set by the caller before the close entry; then the compressor's). */
    bool closing, async;
    SegmentSealedFn *sealedFn;
    void *sealedData;
    SegmentWriter *sealNext;
    /* NULL once sealed, or once the compressor was shut down under the open segment. */
    SegmentCompressor *compressor;
    bool ownCompressor; /* segmentWriterNew(): started for this segment, stopped with it */
};

/* The first failure, under lock: the work queued after it is skipped. */
static void
compressorFailLocked(SegmentCompressor *c, bool async, const Err *err) {
    if (atomic_load(&c->failed))
        return;
    c->err = *err;
    c->latched = async || c->asyncQueued > 0;
    atomic_store(&c->failed, true);
}

/* Under lock, on the caller (one thread: the writer's): wait until bv-hash is past entry
 * `until` - 1. */
static void
callerWaitHashed(SegmentCompressor *c, uint64_t until) {
    if (c->hashed >= until)
        return;
    c->callerWaitHashed = until;
    while (c->hashed < until)
        pthread_cond_wait(&c->callerCond, &c->lock);
    c->callerWaitHashed = 0;
}

/* The end of a segment's object, on bv-compress once bv-hash finished its content digest: the
 * lz4 frame's end and the trailer; the object's size and digests into its meta. */
static int
writerCloseChain(SegmentWriter *w, Err *err) {
    if (ioWriteClose(w->head, err) != 0)
        return -1;
    w->meta.size = w->objectBytes;
    /* The current format's name; the archive's writer names it for an older archive
     * (archiveSegmentSetName()). */
    segmentName(w->meta.seq, w->meta.file, w->meta.startPos, SEGMENT_NAMING_GROUPED, w->meta.name,
                sizeof(w->meta.name));
    return 0;
}

/* Object bytes to its digests. */
static void
writerHashObject(SegmentWriter *w, const uint8_t *data, size_t len) {
    cryptoHashUpdate(w->objectHash, data, len);
    if (w->objectMd5 != NULL)
        cryptoHashUpdate(w->objectMd5, data, len);
}

/* The object's digests into its meta, on bv-hash once the close entry's bytes are hashed. */
static void
writerObjectDigests(SegmentWriter *w) {
    uint8_t digest[CRYPTO_HASH_MAX_LEN];

    cryptoHashFinal(w->objectHash, digest, NULL);
    cryptoHexEncode(digest, CRYPTO_SHA256_LEN, w->meta.sha256);
    if (w->objectMd5 != NULL) {
        cryptoHashFinal(w->objectMd5, w->meta.md5, NULL);
        w->meta.hasMd5 = true;
    }
}

/* bv-compress: writes each block of the ring through its segment's chain, keeping what reaches
 * the file in the entry for bv-hash; at a segment's close entry, once bv-hash finished the content
 * digest (the trailer holds it), ends its object. */
static void *
compressorMain(void *arg) {
    SegmentCompressor *c = arg;
    Err err;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (c->compressed == c->produced && !c->stop)
            pthread_cond_wait(&c->compressCond, &c->lock);
        if (c->compressed == c->produced)
            break;
        RingEntry *e = &c->ring[c->compressed % SEGMENT_RING_BLOCKS];
        SegmentWriter *w = e->w;

        while (e->close && c->contentHashed <= c->compressed)
            pthread_cond_wait(&c->compressCond, &c->lock);
        bool skip = atomic_load(&c->failed);
        int rc = 0;

        pthread_mutex_unlock(&c->lock);
        errClear(&err);
        bufClear(e->out);
        w->capture = e->out;
        ioWriteLz4CompressSetOut(w->head, e->out);
        if (!skip)
            rc = e->close ? writerCloseChain(w, &err) : ioWrite(w->head, e->block, e->len, &err);
        pthread_mutex_lock(&c->lock);
        if (rc != 0)
            compressorFailLocked(c, w->async, &err);
        c->compressed++;
        pthread_cond_signal(&c->hashCond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* bv-hash: adds each block to its segment's content SHA-256, beside bv-compress, and what
 * bv-compress wrote for each entry to the object's digests, behind it. At a close entry the
 * content digest goes into the segment's meta (for its trailer), then, once the trailer is
 * written, the object's digests; the segment goes to bv-seal. Both cursors move in order; the
 * object's bytes come first, as they free the entry for the caller. */
static void *
hasherMain(void *arg) {
    SegmentCompressor *c = arg;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        bool object = c->hashed < c->compressed && c->hashed < c->contentHashed;

        if (!object && c->contentHashed == c->produced) {
            if (c->stop && c->hashed == c->produced)
                break;
            pthread_cond_wait(&c->hashCond, &c->lock);
            continue;
        }
        RingEntry *e = &c->ring[(object ? c->hashed : c->contentHashed) % SEGMENT_RING_BLOCKS];
        SegmentWriter *w = e->w;
        bool skip = atomic_load(&c->failed);

        pthread_mutex_unlock(&c->lock);
        if (object) {
            if (!skip)
                writerHashObject(w, e->out->data, e->out->len);
            if (e->close)
                writerObjectDigests(w);
        } else if (e->close) {
            uint8_t digest[CRYPTO_HASH_MAX_LEN];

            cryptoHashFinal(w->contentHash, digest, NULL);
            cryptoHexEncode(digest, CRYPTO_SHA256_LEN, w->meta.contentSha256);
            w->meta.contentLen = w->contentBytes;
        } else if (!skip) {
            cryptoHashUpdate(w->contentHash, e->block, e->len);
        }
        pthread_mutex_lock(&c->lock);
        if (!object) {
            c->contentHashed++;
            if (e->close)
                pthread_cond_signal(&c->compressCond);
            continue;
        }
        if (e->close) {
            if (c->sealTail != NULL)
                c->sealTail->sealNext = w;
            else
                c->sealHead = w;
            c->sealTail = w;
            pthread_cond_signal(&c->sealCond);
        }
        c->hashed++;
        if (c->callerWaitHashed != 0 && c->hashed >= c->callerWaitHashed)
            pthread_cond_broadcast(&c->callerCond);
    }
    /* bv-seal stops once nothing more can reach it. */
    pthread_cond_signal(&c->sealCond);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* The file's data made durable, then closed; -1 with ERR_IO. */
static int
writerSync(SegmentWriter *w, Err *err) {
    int rc = 0;

    if (fsync(w->fd) != 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to fsync '%s'", w->path);
    /* The descriptor is released even when close(2) fails, so it is never closed twice. */
    if (close(w->fd) != 0 && rc == 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to close '%s'", w->path);
    w->fd = -1;
    return rc;
}

static void writerRelease(SegmentWriter *w);

/* bv-seal: for each segment closed, in order: fsync and close its file, then, for a segment sealed
 * behind the caller, its commit, after which it is freed here. After a failure the segments
 * queued are not committed (their files are removed as they are freed). */
static void *
sealerMain(void *arg) {
    SegmentCompressor *c = arg;
    Err err;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (c->sealHead == NULL && !(c->stop && c->hashed == c->produced))
            pthread_cond_wait(&c->sealCond, &c->lock);
        if (c->sealHead == NULL)
            break;
        SegmentWriter *w = c->sealHead;
        bool skip = atomic_load(&c->failed), async = w->async;
        int rc = 0;

        c->sealHead = w->sealNext;
        if (c->sealHead == NULL)
            c->sealTail = NULL;
        pthread_mutex_unlock(&c->lock);
        errClear(&err);
        if (!skip)
            rc = writerSync(w, &err);
        if (async) {
            if (!skip && rc == 0 && w->sealedFn(w->sealedData, w->path, &w->meta, &err) != 0)
                rc = -1;
            /* Not committed: the file must not stay in the way of the same seq sealed again. */
            w->sealed = !skip && rc == 0;
            writerRelease(w);
        }
        pthread_mutex_lock(&c->lock);
        if (rc != 0)
            compressorFailLocked(c, async, &err);
        c->asyncQueued -= async;
        c->sealsDone++;
        pthread_cond_broadcast(&c->callerCond);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Stop and join the threads started (`started` of them, in the order created). */
static void
compressorStop(SegmentCompressor *c, int started) {
    pthread_t *threads[] = {&c->thread, &c->hashThread, &c->sealThread};

    pthread_cond_t *conds[] = {&c->compressCond, &c->hashCond, &c->sealCond, &c->callerCond};

    pthread_mutex_lock(&c->lock);
    c->stop = true;
    for (int i = 0; i < 4; i++)
        pthread_cond_broadcast(conds[i]);
    pthread_mutex_unlock(&c->lock);
    for (int i = 0; i < started; i++)
        pthread_join(*threads[i], NULL);
    for (int i = 0; i < 4; i++)
        pthread_cond_destroy(conds[i]);
    pthread_mutex_destroy(&c->lock);
    for (int i = 0; i < SEGMENT_RING_BLOCKS; i++) {
        bvFree(c->ring[i].block);
        bufFree(c->ring[i].out);
    }
}

SegmentCompressor *
segmentCompressorNew(Err *err) {
    static const struct {
        void *(*main)(void *);
        const char *name, *what;
    } threads[] = {
        {compressorMain, "bv-compress", "compression"},
        {hasherMain, "bv-hash", "hash"},
        {sealerMain, "bv-seal", "seal"},
    };
    SegmentCompressor *c = bvCalloc(1, sizeof(*c));
    pthread_t *ids[] = {&c->thread, &c->hashThread, &c->sealThread};

    c->lz4Acceleration = SEGMENT_LZ4_ACCELERATION_DEFAULT;
    atomic_init(&c->failed, false);
    for (int i = 0; i < SEGMENT_RING_BLOCKS; i++) {
        c->ring[i].block = bvMalloc(SEGMENT_STAGE_SIZE);
        /* A block's lz4 output (at most the block and 12 bytes), or at a close the frame's end
         * and the trailer, without growing. */
        c->ring[i].out = bufNew(SEGMENT_STAGE_SIZE + 16 * 1024);
    }
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->compressCond, NULL);
    pthread_cond_init(&c->hashCond, NULL);
    pthread_cond_init(&c->sealCond, NULL);
    pthread_cond_init(&c->callerCond, NULL);
    for (int i = 0; i < 3; i++) {
        int rc = pthread_create(ids[i], NULL, threads[i].main, c);

        if (rc != 0) {
            errSetSys(err, ERR_INTERNAL, rc, "unable to start the segment %s thread", threads[i].what);
            compressorStop(c, i);
            bvFree(c);
            return NULL;
        }
        pthread_setname_np(*ids[i], threads[i].name);
    }
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

bool
segmentCompressorFailed(SegmentCompressor *c) {
    return atomic_load_explicit(&c->failed, memory_order_relaxed);
}

int
segmentCompressorSync(SegmentCompressor *c, Err *err) {
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    while (c->sealsDone != c->sealsQueued)
        pthread_cond_wait(&c->callerCond, &c->lock);
    if (atomic_load(&c->failed)) {
        *err = c->err;
        rc = -1;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

uint64_t
segmentCompressorSealsDone(SegmentCompressor *c) {
    uint64_t done;

    pthread_mutex_lock(&c->lock);
    done = c->sealsDone;
    pthread_mutex_unlock(&c->lock);
    return done;
}

void
segmentCompressorReset(SegmentCompressor *c) {
    pthread_mutex_lock(&c->lock);
    BV_ASSERT(c->writer == NULL);
    callerWaitHashed(c, c->produced);
    while (c->sealsDone != c->sealsQueued)
        pthread_cond_wait(&c->callerCond, &c->lock);
    atomic_store(&c->failed, false);
    c->latched = false;
    pthread_mutex_unlock(&c->lock);
}

void
segmentCompressorFree(SegmentCompressor *c) {
    if (c == NULL)
        return;
    /* The threads finish the work queued: the segments sealed behind the caller are committed
     * (or dropped after a failure) before they exit. */
    compressorStop(c, 3);
    /* A segment still open fails from now on; freeing it still removes its file. */
    if (c->writer != NULL) {
        c->writer->compressor = NULL;
        c->writer->stage = NULL;
    }
    bvFree(c);
}

/* The error of the compressor's failure, or of its absence; -1. */
static int
writerFailed(SegmentWriter *w, Err *err) {
    SegmentCompressor *c = w->compressor;

    w->failed = true;
    if (c == NULL)
        return errSet(err, ERR_INTERNAL, "segment '%s': the compression worker was shut down", w->path);
    pthread_mutex_lock(&c->lock);
    *err = c->err;
    pthread_mutex_unlock(&c->lock);
    return -1;
}

/* Take the next ring entry for the caller (waiting while the ring is full): *entry. -1 when the
 * compressor failed. */
static int
ringTake(SegmentWriter *w, RingEntry **entry, Err *err) {
    SegmentCompressor *c = w->compressor;

    if (c == NULL || atomic_load(&c->failed))
        return writerFailed(w, err);
    pthread_mutex_lock(&c->lock);
    /* A full ring is left to drain to half before the caller goes on: it then stages half a ring
     * at one go rather than waking for each block freed (an event of 1 MB is four blocks). */
    if (c->produced - c->hashed >= SEGMENT_RING_BLOCKS)
        callerWaitHashed(c, c->produced - SEGMENT_RING_BLOCKS / 2);
    *entry = &c->ring[c->produced % SEGMENT_RING_BLOCKS];
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* Hand the entry taken to the workers. */
static void
ringPut(SegmentWriter *w, RingEntry *e, size_t len, bool close) {
    SegmentCompressor *c = w->compressor;

    pthread_mutex_lock(&c->lock);
    e->w = w;
    e->len = len;
    e->close = close;
    c->produced++;
    w->lastEntry = c->produced;
    pthread_cond_signal(&c->compressCond);
    pthread_cond_signal(&c->hashCond);
    pthread_mutex_unlock(&c->lock);
}

/* Hand the staged block to the workers. */
static int
stageFlush(SegmentWriter *w, Err *err) {
    SegmentCompressor *c = w->compressor;

    if (w->staged == 0)
        return 0;
    if (c == NULL || atomic_load(&c->failed))
        return writerFailed(w, err);
    ringPut(w, &c->ring[c->produced % SEGMENT_RING_BLOCKS], w->staged, false);
    w->stage = NULL;
    w->staged = 0;
    return 0;
}

/* The segment no longer needs the ring (being freed, or sealed): wait until the workers are past
 * its entries, then let the next segment have the compressor. */
static void
writerDetach(SegmentWriter *w) {
    SegmentCompressor *c = w->compressor;

    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    callerWaitHashed(c, w->lastEntry);
    if (c->writer == w)
        c->writer = NULL;
    pthread_mutex_unlock(&c->lock);
    w->compressor = NULL;
    w->stage = NULL;
    if (w->ownCompressor)
        segmentCompressorFree(c);
}

/* The filter between the lz4 compressor and the object: counts the object's bytes and, when the
 * chain closes (after the content hash is final and the lz4 frame ended), appends the trailer. */
typedef struct SegmentTail {
    IoWrite *next;
    SegmentWriter *w;
} SegmentTail;

/* Whether `data` lies in buf's bytes: lz4's output, compressed into the entry already
 * (ioWriteLz4CompressSetOut()), against the trailer, which is not. */
static bool
bytesInBuf(const Buf *buf, const uint8_t *data) {
    uintptr_t p = (uintptr_t)data, start = (uintptr_t)buf->data;

    return p >= start && p - start < buf->len;
}

static int
segmentTailWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    SegmentTail *this = ctx;
    SegmentWriter *w = this->w;

    w->objectBytes += len;
    if (w->capture == NULL)
        writerHashObject(w, data, len);
    else if (!bytesInBuf(w->capture, data))
        bufAppend(w->capture, data, len);
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
    RingEntry *first;
    IoWrite *fdSink;
    int fd;

    if (!segmentFileNameValid(meta->file)) {
        errSet(err, ERR_FORMAT, "invalid binlog file name '%s'", meta->file);
        return NULL;
    }
    if (meta->startPos < BINLOG_MAGIC_LEN || fdeLen < BINLOG_HEADER_LEN || fdeLen > SEGMENT_STAGE_SIZE ||
        fde[4] != BINLOG_FORMAT_DESCRIPTION || rdU32(fde + 9) != fdeLen) {
        errSet(err, ERR_FORMAT, "segment of '%s' at %" PRIu64 ": not a format description event of %zu bytes",
               meta->file, meta->startPos, fdeLen);
        return NULL;
    }
    if (binlogFormatFromFde(&fmt, fde, fdeLen, true, err) != 0) {
        errPrefix(err, "segment of '%s' at %" PRIu64, meta->file, meta->startPos);
        return NULL;
    }
    /* After a failure while a segment was sealed behind the caller, nothing is written until the
     * caller has dropped what followed it (segmentCompressorReset()). */
    pthread_mutex_lock(&c->lock);
    BV_ASSERT(c->writer == NULL);
    if (atomic_load(&c->failed) && c->latched) {
        *err = c->err;
        pthread_mutex_unlock(&c->lock);
        return NULL;
    }
    pthread_mutex_unlock(&c->lock);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create '%s'", path);
        return NULL;
    }
    w = bvCalloc(1, sizeof(*w));
    w->path = bvStrdup(path);
    w->fd = fd;
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
    w->meta.firstCommitEstUs = 0;

    /* No fsync or close in the chain: bv-seal does both once the object is whole. */
    fdSink = ioWriteFdNew(fd, path, 0);
    w->objectHash = cryptoHashNew(CRYPTO_HASH_SHA256);
    if (c->objectMd5)
        w->objectMd5 = cryptoHashNew(CRYPTO_HASH_MD5);
    tail = bvCalloc(1, sizeof(*tail));
    tail->next = fdSink;
    tail->w = w;
    w->tail = ioWriteNew(&segmentTailVt, tail);
    /* No frame content checksum: the content's SHA-256 (bv-hash, in the trailer) is the check of
     * record of the same bytes, and the XXH32 over them cost 0.25 CPU-s per GB of small-event
     * binlog. The block checksums stay: a reader stops at the first corrupt block. Independent
     * blocks: every ring block but a segment's last is one whole lz4 block (the FDE is staged in
     * the first), which lz4 then compresses in the ring, where linked blocks made it copy each
     * block into its own buffer and save a 64 KiB dictionary after it (issue #15, eighth round). */
    w->head = ioWriteLz4CompressOptNew(w->tail, &(IoLz4Options){.acceleration = c->lz4Acceleration,
                                                                .contentChecksum = false,
                                                                .independentBlocks = true});
    w->contentHash = cryptoHashNew(CRYPTO_HASH_SHA256);
    pthread_mutex_lock(&c->lock);
    c->writer = w;
    /* A failure of the previous segment alone was its own: this one starts clean. */
    if (!c->latched)
        atomic_store(&c->failed, false);
    w->lastEntry = c->produced;
    pthread_mutex_unlock(&c->lock);
    w->compressor = c;

    /* The magic goes straight to the object (the chain is the caller's until the first block of
     * this segment is in the ring); the FDE, with the in-use flag of an open file cleared (its
     * checksum is defined with the flag clear), opens the content: staged as the first bytes of
     * the first block, so that the segment's blocks stay aligned on lz4's. */
    if (ioWrite(w->tail, SEGMENT_MAGIC, SEGMENT_MAGIC_LEN, err) != 0 || ringTake(w, &first, err) != 0) {
        segmentWriterFree(w);
        return NULL;
    }
    w->stage = first->block;
    memcpy(w->stage, fde, fdeLen);
    binlogFdeSetInUse(w->stage, false);
    w->staged = fdeLen;
    w->contentBytes = fdeLen;
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

    BV_ASSERT(!w->sealed && !w->closing);
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

        if (w->stage == NULL) {
            RingEntry *e;

            if (ringTake(w, &e, err) != 0)
                return -1;
            w->stage = e->block;
        }
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
    size_t n;

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
    /* Copied by hand, not snprintf(): this runs for every transaction (an snprintf() here was 4%
     * of the stream thread on small events). Truncated as "%s" would be. */
    n = strnlen(gtid, sizeof(w->meta.lastGtid) - 1);
    memcpy(w->meta.lastGtid, gtid, n);
    w->meta.lastGtid[n] = '\0';
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

const char *
segmentWriterGtidEnd(const SegmentWriter *w) {
    return segmentMetaGtidEnd(&w->meta);
}

/* Queue the segment's close after its last block: bv-hash finishes its content digest,
 * bv-compress its object, bv-seal fsyncs it (and, `async`, commits it through fn and frees the
 * writer: the caller may not touch `w` after an async close). *ticket: the seal's ticket, which
 * sealsDone reaches once the seal is over. */
static int
writerClose(SegmentWriter *w, bool endsFile, bool async, SegmentSealedFn *fn, void *data, uint64_t *ticket,
            Err *err) {
    SegmentCompressor *c = w->compressor;
    RingEntry *e;

    BV_ASSERT(!w->sealed && !w->closing);
    if (w->failed)
        return errSet(err, ERR_INTERNAL, "segment '%s' failed earlier", w->path);
    w->meta.endsFile = endsFile;
    if (stageFlush(w, err) != 0 || ringTake(w, &e, err) != 0)
        return -1;
    pthread_mutex_lock(&c->lock);
    /* At most SEGMENT_SEALS_MAX segments behind the caller: their chains are what they hold. */
    while (async && c->sealsQueued - c->sealsDone >= SEGMENT_SEALS_MAX)
        pthread_cond_wait(&c->callerCond, &c->lock);
    w->closing = true;
    w->async = async;
    w->sealedFn = fn;
    w->sealedData = data;
    *ticket = ++c->sealsQueued;
    c->asyncQueued += async;
    if (c->writer == w)
        c->writer = NULL;
    pthread_mutex_unlock(&c->lock);
    ringPut(w, e, 0, true);
    return 0;
}

int
segmentWriterSeal(SegmentWriter *w, bool endsFile, SegmentMeta *meta, Err *err) {
    SegmentCompressor *c = w->compressor;
    uint64_t ticket;
    int rc = 0;

    if (writerClose(w, endsFile, false, NULL, NULL, &ticket, err) != 0)
        return errPrefix(err, "unable to seal segment '%s'", w->path);
    pthread_mutex_lock(&c->lock);
    while (c->sealsDone < ticket)
        pthread_cond_wait(&c->callerCond, &c->lock);
    if (atomic_load(&c->failed)) {
        *err = c->err;
        rc = -1;
    }
    pthread_mutex_unlock(&c->lock);
    writerDetach(w);
    if (rc != 0) {
        w->failed = true;
        return errPrefix(err, "unable to seal segment '%s'", w->path);
    }
    w->sealed = true;
    segmentMetaCopy(meta, &w->meta);
    return 0;
}

int
segmentWriterSealAsync(SegmentWriter *w, bool endsFile, SegmentSealedFn *fn, void *data, uint64_t *ticket,
                       Err *err) {
    BV_ASSERT(!w->ownCompressor);
    /* Once queued, bv-seal may have committed and freed the writer: the ticket is taken in the
     * close, under the lock, never read from `w` afterwards. */
    if (writerClose(w, endsFile, true, fn, data, ticket, err) != 0) {
        errPrefix(err, "unable to seal segment '%s'", w->path);
        segmentWriterFree(w);
        return -1;
    }
    return 0;
}

/* Free what the writer holds, removing its file unless it was sealed (any thread: the workers are
 * done with it). */
static void
writerRelease(SegmentWriter *w) {
    ioWriteFree(w->head);
    cryptoHashFree(w->contentHash);
    cryptoHashFree(w->objectHash);
    cryptoHashFree(w->objectMd5);
    if (w->fd >= 0)
        close(w->fd);
    if (!w->sealed && unlink(w->path) != 0 && errno != ENOENT)
        logWarn("unable to remove the unfinished segment '%s': %s", w->path, strerror(errno));
    segmentMetaClear(&w->meta);
    bvFree(w->path);
    bvFree(w);
}

void
segmentWriterFree(SegmentWriter *w) {
    if (w == NULL)
        return;
    BV_ASSERT(!w->closing || !w->async);
    /* The workers may still be writing blocks of this segment into its chain. */
    writerDetach(w);
    writerRelease(w);
}
