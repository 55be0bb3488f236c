/* Unit tests of archive/segment_write.c's compression worker: one SegmentCompressor serving
 * segment after segment, a segment abandoned or sealed in the middle of the sequence, the
 * worker shut down while a segment is open, and segments sealed behind the caller: committed in
 * order, and after a failure (a commit, a write) nothing committed past it. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/segment.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/mem.h"
#include "tests/test.h"

#define FIXTURE_MARIA "mariadb-10.11.19-compressed.000001.binlog"
#define EVENT_SIZE 65536

/* The format description event of the MariaDB fixture, and a segment's identity after it. */
typedef struct Source {
    uint8_t *file;
    size_t fdeLen;
    uint64_t startPos;
} Source;

static void
sourceLoad(Source *s) {
    char path[1024];
    size_t len;

    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), FIXTURE_MARIA);
    s->file = testReadFile(path, &len);
    BV_ASSERT(s->file != NULL);
    s->fdeLen = rdU32(s->file + 4 + 9);
    s->startPos = 4 + s->fdeLen;
}

static void
sourceMeta(const Source *s, uint64_t seq, SegmentMeta *m) {
    memset(m, 0, sizeof(*m));
    m->seq = seq;
    m->flavour = BINLOG_FLAVOUR_MARIADB;
    m->serverId = 11;
    snprintf(m->file, sizeof(m->file), "mariadb-bin.000001");
    m->startPos = s->startPos;
}

/* Append `count` events of EVENT_SIZE bytes (content from `seed`) after endPos; the content is
 * also hashed into `content` when not NULL. -1 with err at the first refused event. */
static int
appendEvents(SegmentWriter *w, unsigned count, uint64_t seed, CryptoHash *content, Err *err) {
    uint8_t *ev = bvCalloc(1, EVENT_SIZE);
    uint64_t end = segmentWriterEndPos(w), rng = seed | 1;
    int rc = 0;

    for (unsigned n = 0; n < count && rc == 0; n++) {
        for (size_t i = 19; i + 8 <= EVENT_SIZE - 4; i += 8) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            /* Half random, half repetitive: lz4 has something to do. */
            memcpy(ev + i, (i / 4096) % 2 ? (const void *)"binvault" : (const void *)&rng, 8);
        }
        end += EVENT_SIZE;
        wrU32(ev, 1795231130);
        ev[4] = BINLOG_WRITE_ROWS;
        wrU32(ev + 5, 11);
        wrU32(ev + 9, EVENT_SIZE);
        wrU32(ev + 13, (uint32_t)end);
        wrU16(ev + 17, 0);
        wrU32(ev + EVENT_SIZE - 4, binlogEventComputeChecksum(ev, EVENT_SIZE - 4));
        rc = segmentWriterAppend(w, ev, EVENT_SIZE, end, err);
        if (rc == 0 && content != NULL)
            cryptoHashUpdate(content, ev, EVENT_SIZE);
    }
    bvFree(ev);
    return rc;
}

/* Read the sealed segment at `path` back: 0 when every layer verifies and it holds `events`
 * events ending at meta->endPos with the object hash of meta. */
static int
verifySealed(const char *path, const SegmentMeta *meta, uint64_t events) {
    SegmentReader *r;
    BinlogEvent ev;
    uint64_t at, n = 0, end = meta->startPos;
    Err err = {0};
    int rc;

    if ((r = segmentReaderNew(meta->name, segmentOpenPath, (void *)path, meta->size, &err)) == NULL) {
        fprintf(stderr, "    %s\n", err.msg);
        return -1;
    }
    while ((rc = segmentReaderNext(r, &ev, &at, &err)) == 1) {
        n++;
        end = at + ev.h.size;
    }
    if (rc != 0)
        fprintf(stderr, "    %s\n", err.msg);
    if (rc == 0 && (n != events || end != meta->endPos || segmentReaderSha256(r) == NULL ||
                    strcmp(segmentReaderSha256(r), meta->sha256) != 0))
        rc = -1;
    segmentReaderFree(r);
    return rc;
}

static bool
exists(const char *path) {
    struct stat st;

    return stat(path, &st) == 0;
}

/* Four segments, one after the other, on one worker: each is what a writer with a worker of its
 * own writes (same content hash, same size), and reads back whole. A sealed segment lets the
 * next one open before it is freed; an empty one (the FDE alone) goes through too. */
static void
testSeveralSegments(void) {
    static const unsigned counts[] = {12, 0, 3, 20}; /* events of 64 KiB: several 256 KiB blocks */
    Source src;
    SegmentCompressor *c;
    SegmentWriter *prev = NULL;
    Err err = {0};

    sourceLoad(&src);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        char path[1024], refPath[1024], contentHex[65];
        uint8_t digest[CRYPTO_HASH_MAX_LEN];
        CryptoHash *content = cryptoHashNew(CRYPTO_HASH_SHA256);
        SegmentMeta m, sealed, ref;
        SegmentWriter *w, *r;

        sourceMeta(&src, i + 1, &m);
        snprintf(path, sizeof(path), "%s/shared-%u.tmp", testTmpDir(), i);
        snprintf(refPath, sizeof(refPath), "%s/own-%u.tmp", testTmpDir(), i);
        w = segmentWriterOpen(c, path, &m, src.file + 4, src.fdeLen, &err);
        REQUIRE(w != NULL);
        /* The previous segment, sealed, no longer holds the worker. */
        segmentWriterFree(prev);
        cryptoHashUpdate(content, src.file + 4, src.fdeLen);
        REQUIRE(appendEvents(w, counts[i], 1000 + i, content, &err) == 0);
        segmentWriterTransaction(w, "0-11-1", 1795231130000000ull, "0-11-1");
        REQUIRE(segmentWriterSeal(w, i == 3, &sealed, &err) == 0);
        prev = w;

        r = segmentWriterNew(refPath, &m, src.file + 4, src.fdeLen, &err);
        REQUIRE(r != NULL);
        REQUIRE(appendEvents(r, counts[i], 1000 + i, NULL, &err) == 0);
        segmentWriterTransaction(r, "0-11-1", 1795231130000000ull, "0-11-1");
        REQUIRE(segmentWriterSeal(r, i == 3, &ref, &err) == 0);
        segmentWriterFree(r);

        cryptoHashFinal(content, digest, NULL);
        cryptoHashFree(content);
        cryptoHexEncode(digest, CRYPTO_SHA256_LEN, contentHex);
        CHECK_STR(sealed.contentSha256, contentHex);
        CHECK_STR(sealed.contentSha256, ref.contentSha256);
        CHECK_INT(sealed.size, ref.size);
        CHECK_INT(sealed.events, counts[i]);
        CHECK_INT(sealed.seq, i + 1);
        CHECK(verifySealed(path, &sealed, counts[i]) == 0);
        CHECK(verifySealed(refPath, &ref, counts[i]) == 0);
        unlink(path);
        unlink(refPath);
        segmentMetaClear(&sealed);
        segmentMetaClear(&ref);
    }
    segmentWriterFree(prev);
    segmentCompressorFree(c);
    bvFree(src.file);
}

/* A segment's first and last GTIDs and commit times over its transactions; a GTID longer than the
 * metadata keeps is cut to its first BINLOG_TXN_GTID_MAX - 1 bytes, as "%s" would be. */
static void
testTransactionGtids(void) {
    char path[1024], longGtid[BINLOG_TXN_GTID_MAX + 40];
    Source src;
    SegmentMeta m, sealed;
    SegmentWriter *w;
    Err err = {0};

    sourceLoad(&src);
    sourceMeta(&src, 1, &m);
    snprintf(path, sizeof(path), "%s/gtids.tmp", testTmpDir());
    memset(longGtid, '7', sizeof(longGtid) - 1);
    longGtid[sizeof(longGtid) - 1] = '\0';
    w = segmentWriterNew(path, &m, src.file + 4, src.fdeLen, &err);
    REQUIRE(w != NULL);
    REQUIRE(appendEvents(w, 2, 7, NULL, &err) == 0);
    segmentWriterTransaction(w, "0-11-1", 1795231130000000ull, NULL);
    segmentWriterTransaction(w, "0-11-22", 1795231129000000ull, NULL);
    segmentWriterTransaction(w, "0-11-333", 1795231131000000ull, "0-11-333");
    REQUIRE(segmentWriterSeal(w, false, &sealed, &err) == 0);
    CHECK_STR(sealed.firstGtid, "0-11-1");
    CHECK_STR(sealed.lastGtid, "0-11-333");
    CHECK_INT(sealed.transactions, 3);
    CHECK_INT(sealed.minTimeUs, 1795231129000000ull);
    CHECK_INT(sealed.maxTimeUs, 1795231131000000ull);
    CHECK_INT(sealed.lastTimeUs, 1795231131000000ull);
    segmentMetaClear(&sealed);
    segmentWriterFree(w);
    unlink(path);

    w = segmentWriterNew(path, &m, src.file + 4, src.fdeLen, &err);
    REQUIRE(w != NULL);
    REQUIRE(appendEvents(w, 1, 8, NULL, &err) == 0);
    segmentWriterTransaction(w, "0-11-1", 1795231130000000ull, NULL);
    segmentWriterTransaction(w, longGtid, 1795231130000000ull, NULL);
    REQUIRE(segmentWriterSeal(w, false, &sealed, &err) == 0);
    CHECK_INT(strlen(sealed.lastGtid), BINLOG_TXN_GTID_MAX - 1);
    CHECK(strncmp(sealed.lastGtid, longGtid, BINLOG_TXN_GTID_MAX - 1) == 0);
    segmentMetaClear(&sealed);
    segmentWriterFree(w);
    unlink(path);
    bvFree(src.file);
}

/* Write a segment of `count` events (content from `seed`) at `path` on `c` and seal it into
 * `sealed`; -1 with err at the first failure. */
static int
writeSealed(SegmentCompressor *c, const Source *src, uint64_t seq, const char *path, unsigned count,
            uint64_t seed, SegmentMeta *sealed, Err *err) {
    SegmentMeta m;
    SegmentWriter *w;
    int rc;

    sourceMeta(src, seq, &m);
    /* What the caller passes is not taken for what the writer computes. */
    m.hasMd5 = true;
    if ((w = segmentWriterOpen(c, path, &m, src->file + 4, src->fdeLen, err)) == NULL)
        return -1;
    rc = appendEvents(w, count, seed, NULL, err);
    if (rc == 0)
        rc = segmentWriterSeal(w, false, sealed, err);
    segmentWriterFree(w);
    return rc;
}

#define LZ4_FLG_CONTENT_CHECKSUM 0x04
#define LZ4_FLG_BLOCK_CHECKSUM 0x10

/* The FLG byte of the lz4 frame of the segment at `path` (after the segment's magic and the
 * frame's). */
static unsigned
frameFlags(const char *path) {
    size_t len;
    uint8_t *file = testReadFile(path, &len);
    unsigned flags;

    BV_ASSERT(file != NULL && len > SEGMENT_MAGIC_LEN + 4);
    flags = file[SEGMENT_MAGIC_LEN + 4];
    bvFree(file);
    return flags;
}

/* The same content at lz4 accelerations 1, 2 (the default) and 8: each segment reads back whole
 * with the same content hash, its frame with block checksums and no content checksum (the
 * content's SHA-256 is the check); a higher acceleration never stores fewer bytes here, and 8 stores
 * more than 1 (lz4 skips ahead faster where it finds no match). */
static void
testLz4Acceleration(void) {
    static const int accelerations[] = {1, SEGMENT_LZ4_ACCELERATION_DEFAULT, 8};
    uint64_t sizes[3];
    char contents[3][65];
    Source src;
    SegmentCompressor *c;
    Err err = {0};

    sourceLoad(&src);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    for (unsigned i = 0; i < 3; i++) {
        char path[1024];
        SegmentMeta sealed;

        segmentCompressorSetLz4Acceleration(c, accelerations[i]);
        snprintf(path, sizeof(path), "%s/accel-%d.tmp", testTmpDir(), accelerations[i]);
        REQUIRE(writeSealed(c, &src, i + 1, path, 10, 42, &sealed, &err) == 0);
        CHECK(verifySealed(path, &sealed, 10) == 0);
        CHECK_INT(frameFlags(path) & (LZ4_FLG_CONTENT_CHECKSUM | LZ4_FLG_BLOCK_CHECKSUM), LZ4_FLG_BLOCK_CHECKSUM);
        sizes[i] = sealed.size;
        snprintf(contents[i], sizeof(contents[i]), "%s", sealed.contentSha256);
        unlink(path);
        segmentMetaClear(&sealed);
    }
    CHECK_STR(contents[1], contents[0]);
    CHECK_STR(contents[2], contents[0]);
    CHECK(sizes[0] <= sizes[1]);
    CHECK(sizes[1] <= sizes[2]);
    CHECK(sizes[0] < sizes[2]);
    segmentCompressorFree(c);
    bvFree(src.file);
}

/* Asked to, the writer takes the object's MD5 as it writes it: the MD5 of the file's bytes;
 * otherwise none. */
static void
testObjectMd5(void) {
    Source src;
    SegmentCompressor *c;
    Err err = {0};

    sourceLoad(&src);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    for (int on = 1; on >= 0; on--) {
        char path[1024];
        uint8_t md5[CRYPTO_MD5_LEN];
        SegmentMeta sealed;
        uint8_t *file;
        size_t len;

        segmentCompressorSetObjectMd5(c, on);
        snprintf(path, sizeof(path), "%s/md5-%d.tmp", testTmpDir(), on);
        REQUIRE(writeSealed(c, &src, 1, path, 6, 9, &sealed, &err) == 0);
        file = testReadFile(path, &len);
        REQUIRE(file != NULL);
        CHECK_INT(len, sealed.size);
        cryptoMd5(file, len, md5);
        CHECK(sealed.hasMd5 == on);
        if (on)
            CHECK(memcmp(sealed.md5, md5, sizeof(md5)) == 0);
        bvFree(file);
        unlink(path);
        segmentMetaClear(&sealed);
    }
    segmentCompressorFree(c);
    bvFree(src.file);
}

/* A segment abandoned with blocks handed to the worker: its file goes, and the next segment on
 * the same worker is whole (nothing of the abandoned one leaks into it). */
static void
testAbandonedThenNext(void) {
    char path[1024];
    Source src;
    SegmentCompressor *c;
    SegmentWriter *w;
    SegmentMeta m, sealed;
    Err err = {0};

    sourceLoad(&src);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    sourceMeta(&src, 1, &m);
    snprintf(path, sizeof(path), "%s/abandoned.tmp", testTmpDir());
    w = segmentWriterOpen(c, path, &m, src.file + 4, src.fdeLen, &err);
    REQUIRE(w != NULL);
    REQUIRE(appendEvents(w, 9, 7, NULL, &err) == 0);
    segmentWriterFree(w);
    CHECK(!exists(path));

    w = segmentWriterOpen(c, path, &m, src.file + 4, src.fdeLen, &err);
    REQUIRE(w != NULL);
    REQUIRE(appendEvents(w, 5, 8, NULL, &err) == 0);
    REQUIRE(segmentWriterSeal(w, false, &sealed, &err) == 0);
    segmentWriterFree(w);
    CHECK_INT(sealed.events, 5);
    CHECK(verifySealed(path, &sealed, 5) == 0);
    unlink(path);
    segmentMetaClear(&sealed);
    segmentCompressorFree(c);
    bvFree(src.file);
}

/* The worker shut down (its sentinel) while a segment is open, with a block in flight: the
 * worker finishes and exits; the segment fails with a clear error from then on, and freeing it
 * still removes its file. A sealed segment stays whole. */
static void
testShutdownWithSegmentOpen(void) {
    char path[1024], sealedPath[1024];
    Source src;
    SegmentCompressor *c;
    SegmentWriter *w, *done;
    SegmentMeta m, sealed, out;
    Err err = {0};

    sourceLoad(&src);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    sourceMeta(&src, 1, &m);
    snprintf(sealedPath, sizeof(sealedPath), "%s/before-shutdown.tmp", testTmpDir());
    done = segmentWriterOpen(c, sealedPath, &m, src.file + 4, src.fdeLen, &err);
    REQUIRE(done != NULL);
    REQUIRE(appendEvents(done, 6, 3, NULL, &err) == 0);
    REQUIRE(segmentWriterSeal(done, false, &sealed, &err) == 0);

    sourceMeta(&src, 2, &m);
    snprintf(path, sizeof(path), "%s/open-at-shutdown.tmp", testTmpDir());
    w = segmentWriterOpen(c, path, &m, src.file + 4, src.fdeLen, &err);
    REQUIRE(w != NULL);
    /* 5 events of 64 KiB: a 256 KiB block handed over, the next one staged. */
    REQUIRE(appendEvents(w, 5, 4, NULL, &err) == 0);
    segmentCompressorFree(c);
    CHECK(appendEvents(w, 8, 5, NULL, &err) != 0);
    CHECK_MSG(err.msg, "compression worker was shut down");
    CHECK(segmentWriterSeal(w, false, &out, &err) != 0);
    CHECK(exists(path));
    segmentWriterFree(w);
    CHECK(!exists(path));

    segmentWriterFree(done);
    CHECK(verifySealed(sealedPath, &sealed, 6) == 0);
    unlink(sealedPath);
    segmentMetaClear(&sealed);
    segmentCompressorFree(NULL);
    bvFree(src.file);
}

/* The commits of segments sealed behind the caller (segmentWriterSealAsync()): each takes the
 * file to `<path>.committed`, records the seq and the meta; the one of seq `failSeq` fails, after
 * waiting for `gate` when it is set. */
typedef struct Commits {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t seqs[8];
    SegmentMeta metas[8];
    unsigned count;
    uint64_t failSeq;
    bool gate, released;
} Commits;

static int
commitSegment(void *data, const char *path, const SegmentMeta *meta, Err *err) {
    Commits *k = data;
    char to[1100];

    pthread_mutex_lock(&k->lock);
    while (k->gate && meta->seq == k->failSeq && !k->released)
        pthread_cond_wait(&k->cond, &k->lock);
    BV_ASSERT(k->count < 8);
    k->seqs[k->count] = meta->seq;
    segmentMetaCopy(&k->metas[k->count], meta);
    k->count++;
    pthread_mutex_unlock(&k->lock);
    if (meta->seq == k->failSeq)
        return errSet(err, ERR_IO, "unable to commit segment %" PRIu64 " (injected)", meta->seq);
    snprintf(to, sizeof(to), "%s.committed", path);
    if (rename(path, to) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to rename '%s'", path);
    return 0;
}

static void
commitsInit(Commits *k, uint64_t failSeq) {
    memset(k, 0, sizeof(*k));
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->cond, NULL);
    k->failSeq = failSeq;
}

static void
commitsFree(Commits *k) {
    for (unsigned i = 0; i < k->count; i++)
        segmentMetaClear(&k->metas[i]);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->lock);
}

/* Open segment `seq` at testTmpDir()/async-<seq>.tmp with `count` events; NULL with err. */
static SegmentWriter *
openWith(SegmentCompressor *c, const Source *src, uint64_t seq, unsigned count, char *path, size_t size, Err *err) {
    SegmentMeta m;
    SegmentWriter *w;

    sourceMeta(src, seq, &m);
    snprintf(path, size, "%s/async-%" PRIu64 ".tmp", testTmpDir(), seq);
    if ((w = segmentWriterOpen(c, path, &m, src->file + 4, src->fdeLen, err)) == NULL)
        return NULL;
    if (appendEvents(w, count, seq * 100, NULL, err) != 0) {
        segmentWriterFree(w);
        return NULL;
    }
    return w;
}

/* The object's SHA-256 and MD5, taken by bv-hash from what bv-compress wrote entry by entry, are
 * those of the file's bytes: for a segment of the FDE alone, one of a partial block, and ones
 * longer than the ring (40 events of 64 KiB: ten blocks), one after the other on one compressor. */
static void
testObjectDigestsAcrossRing(void) {
    static const unsigned counts[] = {0, 1, 40, 3, 40};
    Source src;
    SegmentCompressor *c;
    Err err = {0};

    sourceLoad(&src);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    segmentCompressorSetObjectMd5(c, true);
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        char path[1024], hex[2 * CRYPTO_SHA256_LEN + 1];
        uint8_t sha[CRYPTO_SHA256_LEN], md5[CRYPTO_MD5_LEN];
        SegmentMeta sealed;
        SegmentWriter *w;
        uint8_t *file;
        size_t len;

        REQUIRE((w = openWith(c, &src, i + 1, counts[i], path, sizeof(path), &err)) != NULL);
        REQUIRE(segmentWriterSeal(w, false, &sealed, &err) == 0);
        segmentWriterFree(w);
        CHECK(verifySealed(path, &sealed, counts[i]) == 0);
        file = testReadFile(path, &len);
        REQUIRE(file != NULL);
        CHECK_INT(len, sealed.size);
        cryptoSha256(file, len, sha);
        cryptoHexEncode(sha, sizeof(sha), hex);
        CHECK_STR(sealed.sha256, hex);
        cryptoMd5(file, len, md5);
        CHECK(sealed.hasMd5 && memcmp(sealed.md5, md5, sizeof(md5)) == 0);
        bvFree(file);
        unlink(path);
        segmentMetaClear(&sealed);
    }
    segmentCompressorFree(c);
    bvFree(src.file);
}

/* Three segments sealed behind the caller, each opened as soon as the previous one is handed
 * over: committed in order, whole (what the commit saw reads back), the tickets over once the
 * compressor is synced; a seal still queued when the compressor stops is committed first. */
static void
testSealAsyncInOrder(void) {
    static const unsigned counts[] = {9, 1, 14};
    Source src;
    SegmentCompressor *c;
    Commits k;
    uint64_t tickets[3];
    Err err = {0};

    sourceLoad(&src);
    commitsInit(&k, 0);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    for (unsigned i = 0; i < 3; i++) {
        char path[1024];
        SegmentWriter *w = openWith(c, &src, i + 1, counts[i], path, sizeof(path), &err);

        REQUIRE(w != NULL);
        REQUIRE(segmentWriterSealAsync(w, false, commitSegment, &k, &tickets[i], &err) == 0);
        if (i == 1) {
            CHECK_INT(segmentCompressorSync(c, &err), 0);
            CHECK(segmentCompressorSealsDone(c) >= tickets[1]);
            CHECK_INT(k.count, 2);
        }
    }
    CHECK(tickets[0] < tickets[1] && tickets[1] < tickets[2]);
    segmentCompressorFree(c);
    REQUIRE(k.count == 3);
    for (unsigned i = 0; i < 3; i++) {
        char path[1100];

        CHECK_INT(k.seqs[i], i + 1);
        snprintf(path, sizeof(path), "%s/async-%u.tmp", testTmpDir(), i + 1);
        CHECK(!exists(path));
        snprintf(path, sizeof(path), "%s/async-%u.tmp.committed", testTmpDir(), i + 1);
        CHECK(verifySealed(path, &k.metas[i], counts[i]) == 0);
        unlink(path);
    }
    commitsFree(&k);
    bvFree(src.file);
}

/* The commit of segment 2 fails while segment 3 is queued behind it: segment 1 stays committed,
 * 3 is never committed, neither file stays; the compressor returns the failure and refuses the
 * next segment until it is reset, after which it writes whole segments again. */
static void
testSealAsyncCommitFails(void) {
    char path[1024], p1[1100];
    Source src;
    SegmentCompressor *c;
    SegmentWriter *w;
    SegmentMeta sealed;
    Commits k;
    uint64_t ticket;
    Err err = {0};

    sourceLoad(&src);
    commitsInit(&k, 2);
    k.gate = true;
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        REQUIRE((w = openWith(c, &src, seq, 5, path, sizeof(path), &err)) != NULL);
        REQUIRE(segmentWriterSealAsync(w, false, commitSegment, &k, &ticket, &err) == 0);
    }
    /* Segment 3 is queued behind 2, whose commit waits: now it fails. */
    pthread_mutex_lock(&k.lock);
    k.released = true;
    pthread_cond_broadcast(&k.cond);
    pthread_mutex_unlock(&k.lock);
    CHECK_INT(segmentCompressorSync(c, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_MSG(err.msg, "unable to commit segment 2 (injected)");
    CHECK(segmentCompressorFailed(c));
    CHECK_INT(segmentCompressorSealsDone(c), ticket);
    REQUIRE(k.count == 2);
    CHECK_INT(k.seqs[0], 1);
    CHECK_INT(k.seqs[1], 2);
    snprintf(p1, sizeof(p1), "%s/async-1.tmp.committed", testTmpDir());
    CHECK(verifySealed(p1, &k.metas[0], 5) == 0);
    unlink(p1);
    for (unsigned seq = 2; seq <= 3; seq++) {
        snprintf(path, sizeof(path), "%s/async-%u.tmp", testTmpDir(), seq);
        CHECK(!exists(path));
    }
    /* Nothing is written past the failure until the caller has dropped what followed it. */
    CHECK(openWith(c, &src, 4, 1, path, sizeof(path), &err) == NULL);
    CHECK_MSG(err.msg, "unable to commit segment 2 (injected)");
    CHECK(!exists(path));
    segmentCompressorReset(c);
    CHECK(!segmentCompressorFailed(c));
    REQUIRE((w = openWith(c, &src, 2, 4, path, sizeof(path), &err)) != NULL);
    REQUIRE(segmentWriterSeal(w, false, &sealed, &err) == 0);
    CHECK(verifySealed(path, &sealed, 4) == 0);
    segmentWriterFree(w);
    unlink(path);
    segmentMetaClear(&sealed);
    segmentCompressorFree(c);
    commitsFree(&k);
    bvFree(src.file);
}

/* A write fails (the file size limit: EFBIG) in the middle of a segment sealed behind the caller
 * while the next one is open: the failing segment is never committed and its file goes, the open
 * one fails at its next call, and after the reset segments are whole again. */
static void
testSealAsyncWriteFails(void) {
    char path[1024], next[1100];
    Source src;
    SegmentCompressor *c;
    SegmentWriter *w;
    SegmentMeta sealed;
    Commits k;
    struct rlimit saved, small;
    void (*prevHandler)(int);
    uint64_t ticket;
    Err err = {0};
    int rc;

    sourceLoad(&src);
    commitsInit(&k, 0);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    prevHandler = signal(SIGXFSZ, SIG_IGN);
    small = saved;
    small.rlim_cur = 256 * 1024;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    /* 40 events of 64 KiB: about 1.3 MB compressed, past the limit after a few blocks. */
    w = openWith(c, &src, 1, 40, path, sizeof(path), &err);
    rc = w != NULL ? segmentWriterSealAsync(w, false, commitSegment, &k, &ticket, &err) : -1;
    if (rc == 0) {
        /* Queued: the next segment finds the failure at its first block, or its seal. */
        SegmentWriter *n = openWith(c, &src, 2, 8, next, sizeof(next), &err);

        if (n != NULL) {
            CHECK(segmentWriterSeal(n, false, &sealed, &err) != 0);
            segmentWriterFree(n);
        }
        CHECK(!exists(next));
        CHECK_INT(segmentCompressorSync(c, &err), -1);
    }
    REQUIRE(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    signal(SIGXFSZ, prevHandler);
    CHECK_INT(err.code, ERR_IO);
    CHECK_MSG(err.msg, strerror(EFBIG));
    CHECK_INT(k.count, 0);
    CHECK(!exists(path));
    segmentCompressorReset(c);
    REQUIRE((w = openWith(c, &src, 1, 12, path, sizeof(path), &err)) != NULL);
    REQUIRE(segmentWriterSealAsync(w, true, commitSegment, &k, &ticket, &err) == 0);
    CHECK_INT(segmentCompressorSync(c, &err), 0);
    REQUIRE(k.count == 1);
    snprintf(next, sizeof(next), "%s.committed", path);
    CHECK(verifySealed(next, &k.metas[0], 12) == 0);
    CHECK(k.metas[0].endsFile);
    unlink(next);
    segmentCompressorFree(c);
    commitsFree(&k);
    bvFree(src.file);
}

/* A write failing in a segment sealed in line (segmentWriterSeal(), as with --semi-sync) fails
 * that segment alone: the next one on the same compressor is written whole, no reset needed. */
static void
testSealInLineWriteFails(void) {
    char path[1024];
    Source src;
    SegmentCompressor *c;
    SegmentWriter *w;
    SegmentMeta sealed;
    struct rlimit saved, small;
    void (*prevHandler)(int);
    Err err = {0};
    int rc;

    sourceLoad(&src);
    c = segmentCompressorNew(&err);
    REQUIRE(c != NULL);
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    prevHandler = signal(SIGXFSZ, SIG_IGN);
    small = saved;
    small.rlim_cur = 256 * 1024;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    w = openWith(c, &src, 1, 40, path, sizeof(path), &err);
    rc = w != NULL ? segmentWriterSeal(w, false, &sealed, &err) : -1;
    segmentWriterFree(w);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    signal(SIGXFSZ, prevHandler);
    CHECK_INT(rc, -1);
    CHECK_MSG(err.msg, strerror(EFBIG));
    CHECK(!exists(path));
    REQUIRE((w = openWith(c, &src, 1, 12, path, sizeof(path), &err)) != NULL);
    REQUIRE(segmentWriterSeal(w, true, &sealed, &err) == 0);
    CHECK(verifySealed(path, &sealed, 12) == 0);
    segmentWriterFree(w);
    unlink(path);
    segmentMetaClear(&sealed);
    segmentCompressorFree(c);
    bvFree(src.file);
}

void
suite_segment_write(void) {
    testRun("segment writer: several segments through one compression worker", testSeveralSegments);
    testRun("segment writer: lz4 accelerations 1, 2 and 8 of the same content", testLz4Acceleration);
    testRun("segment writer: the first and last GTIDs and times of a segment's transactions", testTransactionGtids);
    testRun("segment writer: the object's MD5 taken as it is written, when asked", testObjectMd5);
    testRun("segment writer: the object's digests, over segments longer than the ring", testObjectDigestsAcrossRing);
    testRun("segment writer: an abandoned segment, then the next on the same worker", testAbandonedThenNext);
    testRun("segment writer: worker shut down with a segment open", testShutdownWithSegmentOpen);
    testRun("segment writer: segments sealed behind the caller are committed in order", testSealAsyncInOrder);
    testRun("segment writer: a failed commit fails the segments queued after it, until reset",
            testSealAsyncCommitFails);
    testRun("segment writer: a write failing in a segment sealed behind the caller", testSealAsyncWriteFails);
    testRun("segment writer: a write failing in a segment sealed in line fails it alone", testSealInLineWriteFails);
}
