/* Unit tests of the segmenter: cut rules, continuity, abandon/resume, on real binlog events. */
#include <stdlib.h>
#include <sys/stat.h>

#include "archive/segmenter.h"
#include "binlog/reader.h"
#include "common/bytes.h"
#include "common/mem.h"
#include "tests/test.h"

typedef struct Sink {
    char dir[512];
    size_t count;
    SegmentMeta metas[512];
    char paths[512][600];
    char nextFile[512][64];
} Sink;

static void
tmpPath(void *data, uint64_t seq, char *out, size_t size) {
    Sink *s = data;

    snprintf(out, size, "%s/%llu.tmp", s->dir, (unsigned long long)seq);
}

static int
sealed(void *data, const char *path, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen, const char *nextFile,
       Err *err) {
    Sink *s = data;

    (void)fde;
    (void)fdeLen;
    (void)err;
    if (s->count >= 512)
        return errSet(err, ERR_INTERNAL, "too many segments");
    segmentMetaCopy(&s->metas[s->count], meta);
    char seg[600];

    snprintf(seg, sizeof(seg), "%s/%llu.seg", s->dir, (unsigned long long)meta->seq);
    memcpy(s->paths[s->count], seg, sizeof(seg));
    s->nextFile[s->count][0] = '\0';
    if (nextFile != NULL)
        strncat(s->nextFile[s->count], nextFile, sizeof(s->nextFile[0]) - 1);
    if (rename(path, s->paths[s->count]) != 0)
        return errSet(err, ERR_IO, "rename failed");
    s->count++;
    return 0;
}

/* Push every event of a fixture file, as a stream would, at time t advancing 10 ms per event. */
static int
pushFile(Segmenter *sg, const char *name, uint64_t *t, Err *err) {
    char path[1024];
    size_t len;
    unsigned char *d;
    BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, 0);
    BinlogEvent ev;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), name);
    d = testReadFile(path, &len);
    if (d == NULL)
        return errSet(err, ERR_IO, "cannot read %s", path);
    binlogReaderFeed(r, d, len);
    while (rc == 0 && binlogReaderNext(r, &ev, err) == 1) {
        *t += 10;
        rc = segmenterPush(sg, ev.data, ev.h.size, *t, err);
    }
    binlogReaderFree(r);
    free(d);
    return rc;
}

static Segmenter *
newSegmenter(Sink *sink, uint64_t size, int64_t intervalMs) {
    SegmenterOpts o = {.segmentSize = size, .intervalMs = intervalMs, .flavour = BINLOG_FLAVOUR_MARIADB,
                       .serverId = 11, .streamChecksum = BINLOG_CHECKSUM_CRC32};
    SegmenterSink snk = {tmpPath, sealed, sink};

    snprintf(sink->dir, sizeof(sink->dir), "%s", testTmpDir());
    return segmenterNew(&o, &snk);
}

static void
testCutsTileTheFile(void) {
    Sink *sink = calloc(1, sizeof(*sink));
    Segmenter *sg = newSegmenter(sink, 600, 0);
    uint64_t t = 0, txns = 0;
    Err err;

    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    if (pushFile(sg, "mariadb-10.11.19-compressed.000001.binlog", &t, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    CHECK(sink->count >= 4);
    for (size_t i = 0; i < sink->count; i++) {
        const SegmentMeta *m = &sink->metas[i];

        CHECK_INT(m->seq, i + 1);
        CHECK_STR(m->file, "mariadb-bin.000001");
        if (i > 0) {
            CHECK_INT(m->startPos, sink->metas[i - 1].endPos);
            CHECK_STR(m->gtidStart, sink->metas[i - 1].gtidEnd);
        }
        txns += m->transactions;
    }
    CHECK_INT(sink->metas[0].startPos, 256);
    CHECK_INT(sink->metas[sink->count - 1].endPos, 3687);
    CHECK(sink->metas[sink->count - 1].endsFile);
    CHECK_STR(sink->nextFile[sink->count - 1], "mariadb-bin.000002");
    CHECK_INT(txns, 11);
    CHECK_STR(sink->metas[sink->count - 1].gtidEnd, "0-11-9,2-11-2");
    CHECK_STR(segmenterFile(sg), "mariadb-bin.000002");
    CHECK_INT(segmenterPos(sg), 4);
    for (size_t i = 0; i < sink->count; i++)
        segmentMetaClear(&sink->metas[i]);
    segmenterFree(sg);
    free(sink);
}

static void
testIntervalCut(void) {
    Sink *sink = calloc(1, sizeof(*sink));
    Segmenter *sg = newSegmenter(sink, 1 << 30, 1000);
    uint64_t t = 0;
    Err err;

    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    if (pushFile(sg, "mariadb-10.11.19-compressed.000001.binlog", &t, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    /* 49 events at 10 ms each: one interval cut after the first transaction ended (+1 s), then
     * the rotation. */
    CHECK_INT(sink->count, 1);
    CHECK(sink->metas[0].endsFile);
    for (size_t i = 0; i < sink->count; i++)
        segmentMetaClear(&sink->metas[i]);
    segmenterFree(sg);
    free(sink);

    sink = calloc(1, sizeof(*sink));
    sg = newSegmenter(sink, 1 << 30, 100);
    t = 0;
    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    if (pushFile(sg, "mariadb-10.11.19-compressed.000001.binlog", &t, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    CHECK(sink->count > 1);
    for (size_t i = 0; i < sink->count; i++)
        segmentMetaClear(&sink->metas[i]);
    segmenterFree(sg);
    free(sink);
}

/* The deadline of the interval cut, for a stream that waits on its socket: none inside a
 * transaction or without an open segment; first event + interval otherwise; a tick then cuts. */
static void
testCutDeadline(void) {
    Sink *sink = calloc(1, sizeof(*sink));
    Segmenter *sg = newSegmenter(sink, 1 << 30, 1000);
    char path[1024];
    size_t len;
    unsigned char *d;
    BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, 0);
    BinlogEvent ev;
    uint64_t t = 0, first = 0, due = 0;
    bool sawInTxn = false;
    Err err;

    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    CHECK_INT(segmenterCutDueMs(sg), 0);
    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), "mariadb-10.11.19-compressed.000001.binlog");
    REQUIRE((d = testReadFile(path, &len)) != NULL);
    binlogReaderFeed(r, d, len);
    /* Up to the end of the first transaction. */
    while (binlogReaderNext(r, &ev, &err) == 1) {
        t += 10;
        REQUIRE(segmenterPush(sg, ev.data, ev.h.size, t, &err) == 0);
        if (first == 0 && segmenterOpenBytes(sg) > 0)
            first = t;
        if (segmenterInTxn(sg)) {
            sawInTxn = true;
            CHECK_INT(segmenterCutDueMs(sg), 0);
        } else if (sawInTxn) {
            break;
        }
    }
    CHECK(sawInTxn);
    REQUIRE(first != 0);
    due = segmenterCutDueMs(sg);
    CHECK_INT(due, first + 1000);
    CHECK_INT(segmenterTick(sg, due - 1, &err), 0);
    CHECK_INT(sink->count, 0);
    CHECK_INT(segmenterTick(sg, due, &err), 0);
    CHECK_INT(sink->count, 1);
    CHECK_INT(segmenterCutDueMs(sg), 0);
    binlogReaderFree(r);
    free(d);
    for (size_t i = 0; i < sink->count; i++)
        segmentMetaClear(&sink->metas[i]);
    segmenterFree(sg);
    free(sink);
}

static void
testDiscontinuityRefused(void) {
    Sink *sink = calloc(1, sizeof(*sink));
    Segmenter *sg = newSegmenter(sink, 600, 0);
    uint64_t t = 0;
    Err err;

    /* The stream claims to continue at 1208, but the file's events start at 256. */
    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 1208, "", NULL, 0, &err) == 0);
    CHECK_INT(pushFile(sg, "mariadb-10.11.19-compressed.000001.binlog", &t, &err), -1);
    CHECK_MSG(err.msg, "does not start where the previous event ended");
    segmenterFree(sg);
    free(sink);
}

/* Commit-time estimates for the RPO: the binlog's second refined by the receive clock. */
static void
testCommitEstimates(void) {
    Sink *sink = calloc(1, sizeof(*sink));
    Segmenter *sg = newSegmenter(sink, 1 << 30, 0);
    uint64_t t = 0;
    Err err;

    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    /* A receive clock far after the binlog's times: the estimate is the binlog second + 0.999999 s. */
    segmenterSetClock(sg, 4000000000000000ull);
    if (pushFile(sg, "mariadb-10.11.19-compressed.000001.binlog", &t, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    CHECK_INT(sink->count, 1);
    CHECK(segmenterSealedFirstCommitUs(sg) != 0);
    CHECK_INT(segmenterSealedFirstCommitUs(sg) % 1000000u, 999999);
    CHECK(segmenterSealedFirstCommitUs(sg) - 999999 <= sink->metas[0].firstTimeUs);
    CHECK_INT(segmenterOpenFirstCommitUs(sg), 0);
    CHECK(segmenterTxnCommitUs(sg) >= segmenterSealedFirstCommitUs(sg));
    for (size_t i = 0; i < sink->count; i++)
        segmentMetaClear(&sink->metas[i]);
    segmenterFree(sg);
    free(sink);

    /* A receive clock within the binlog's second: the receipt bounds the commit. */
    sink = calloc(1, sizeof(*sink));
    sg = newSegmenter(sink, 1 << 30, 0);
    t = 0;
    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    segmenterSetClock(sg, 1);
    if (pushFile(sg, "mariadb-10.11.19-compressed.000001.binlog", &t, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    CHECK_INT(segmenterSealedFirstCommitUs(sg), 1);
    {
        char *state = segmenterGtidState(sg);

        CHECK_STR(state, "0-11-9,2-11-2");
        bvFree(state);
    }
    for (size_t i = 0; i < sink->count; i++)
        segmentMetaClear(&sink->metas[i]);
    segmenterFree(sg);
    free(sink);
}

/* As in the agent: every segment of the stream written on one compression worker, which outlives
 * the segmenter; the segments are those of a segmenter whose segments each start their own. */
static void
testSharedCompressor(void) {
    Sink *own = calloc(1, sizeof(*own)), *shared = calloc(1, sizeof(*shared));
    SegmenterOpts o = {.segmentSize = 600, .flavour = BINLOG_FLAVOUR_MARIADB, .serverId = 11,
                       .streamChecksum = BINLOG_CHECKSUM_CRC32};
    SegmenterSink snk = {tmpPath, sealed, shared};
    Segmenter *a = newSegmenter(own, 600, 0), *b;
    uint64_t t = 0;
    Err err;

    REQUIRE(segmenterResume(a, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    REQUIRE(pushFile(a, "mariadb-10.11.19-compressed.000001.binlog", &t, &err) == 0);
    segmenterFree(a);
    o.compressor = segmentCompressorNew(&err);
    REQUIRE(o.compressor != NULL);
    snprintf(shared->dir, sizeof(shared->dir), "%s/shared", testTmpDir());
    REQUIRE(mkdir(shared->dir, 0700) == 0);
    b = segmenterNew(&o, &snk);
    t = 0;
    REQUIRE(segmenterResume(b, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    REQUIRE(pushFile(b, "mariadb-10.11.19-compressed.000001.binlog", &t, &err) == 0);
    segmenterFree(b);
    segmentCompressorFree(o.compressor);
    CHECK(shared->count >= 4);
    CHECK_INT(shared->count, own->count);
    for (size_t i = 0; i < shared->count && i < own->count; i++) {
        CHECK_INT(shared->metas[i].seq, own->metas[i].seq);
        CHECK_INT(shared->metas[i].endPos, own->metas[i].endPos);
        CHECK_INT(shared->metas[i].size, own->metas[i].size);
        CHECK_STR(shared->metas[i].contentSha256, own->metas[i].contentSha256);
    }
    for (size_t i = 0; i < shared->count; i++)
        segmentMetaClear(&shared->metas[i]);
    for (size_t i = 0; i < own->count; i++)
        segmentMetaClear(&own->metas[i]);
    free(own);
    free(shared);
}

/* A 40-byte START_ENCRYPTION ending at `logPos` (0: as sent when a stream starts mid-file), its
 * flags `flags`, with a valid CRC32. */
static void
startEncryption(uint8_t ev[40], uint32_t logPos, uint16_t flags) {
    memset(ev, 0, 40);
    wrU32(ev, 1796553597);
    ev[4] = BINLOG_MARIA_START_ENCRYPTION;
    wrU32(ev + 5, 11);
    wrU32(ev + 9, 40);
    wrU32(ev + 13, logPos);
    wrU16(ev + 17, flags);
    ev[19] = 1;     /* scheme */
    wrU32(ev + 20, 1); /* key version; 12 bytes of nonce follow */
    memset(ev + 24, 0x5a, 12);
    wrU32(ev + 36, binlogEventComputeChecksum(ev, 36));
}

/* Push a fixture file as an encrypting source's stream gives it: its FDE, a START_ENCRYPTION
 * flagged `flags` ending at 296, then the file's events 40 bytes later (`resent`: a second
 * START_ENCRYPTION with log_pos 0 after the FDE, as a stream that starts mid-file sends it). */
static int
pushEncryptedFile(Segmenter *sg, const char *name, uint16_t flags, bool resent, Err *err) {
    char path[1024];
    size_t len;
    unsigned char *d;
    BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, 0);
    BinlogEvent ev;
    uint64_t t = 0;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), name);
    if ((d = testReadFile(path, &len)) == NULL)
        return errSet(err, ERR_IO, "cannot read %s", path);
    binlogReaderFeed(r, d, len);
    while (rc == 0 && binlogReaderNext(r, &ev, err) == 1) {
        uint8_t *copy = bvMalloc(ev.h.size);

        memcpy(copy, ev.data, ev.h.size);
        if (ev.h.type != BINLOG_FORMAT_DESCRIPTION && ev.h.logPos != 0) {
            wrU32(copy + 13, ev.h.logPos + 40);
            wrU32(copy + ev.h.size - 4, binlogEventComputeChecksum(copy, ev.h.size - 4));
        }
        rc = segmenterPush(sg, copy, ev.h.size, t += 10, err);
        bvFree(copy);
        if (rc == 0 && ev.h.type == BINLOG_FORMAT_DESCRIPTION) {
            uint8_t se[40];

            startEncryption(se, 296, flags);
            rc = segmenterPush(sg, se, sizeof(se), t += 10, err);
            if (rc == 0 && resent) {
                startEncryption(se, 0, flags);
                rc = segmenterPush(sg, se, sizeof(se), t += 10, err);
            }
        }
    }
    binlogReaderFree(r);
    free(d);
    return rc;
}

static void
testSourceEncrypted(void) {
    Sink *sink = calloc(1, sizeof(*sink));
    Segmenter *sg = newSegmenter(sink, 600, 0);
    SegmentReader *rd;
    BinlogEvent ev;
    uint64_t pos, objLen;
    struct stat sb;
    Err err;
    int rc;

    /* The stream's START_ENCRYPTION (flagged ignorable) becomes an ignorable event of type 28, of
     * the same length, at the same position, in a segment marked source_encrypted. */
    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    if (pushEncryptedFile(sg, "mariadb-10.11.19-compressed.000001.binlog", BINLOG_FLAG_IGNORABLE, true, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    REQUIRE(sink->count >= 4);
    CHECK_INT(sink->metas[0].startPos, 256);
    CHECK(sink->metas[0].sourceEncrypted);
    for (size_t i = 1; i < sink->count; i++)
        CHECK(!sink->metas[i].sourceEncrypted);
    CHECK_INT(sink->metas[sink->count - 1].endPos, 3687 + 40);
    REQUIRE(stat(sink->paths[0], &sb) == 0);
    objLen = (uint64_t)sb.st_size;
    rd = segmentReaderNew(sink->metas[0].name, segmentOpenPath, sink->paths[0], objLen, &err);
    if (rd == NULL)
        testFail(__FILE__, __LINE__, "open: %s", err.msg);
    REQUIRE(rd != NULL);
    REQUIRE(segmentReaderNext(rd, &ev, &pos, &err) == 1);
    CHECK_INT(pos, 256);
    CHECK_INT(ev.h.type, BINLOG_IGNORABLE);
    CHECK_INT(ev.h.size, 40);
    CHECK_INT(ev.h.logPos, 296);
    CHECK(ev.h.flags & BINLOG_FLAG_IGNORABLE);
    CHECK(ev.hasChecksum && ev.checksum == binlogEventComputeChecksum(ev.data, 36));
    while ((rc = segmentReaderNext(rd, &ev, &pos, &err)) == 1)
        ;
    CHECK_INT(rc, 0);
    CHECK(segmentReaderMeta(rd)->sourceEncrypted);
    segmentReaderFree(rd);
    for (size_t i = 0; i < sink->count; i++)
        segmentMetaClear(&sink->metas[i]);
    segmenterFree(sg);

    /* A file's own START_ENCRYPTION (unflagged: ciphertext follows) is refused. */
    memset(sink, 0, sizeof(*sink));
    sg = newSegmenter(sink, 600, 0);
    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    CHECK_INT(pushEncryptedFile(sg, "mariadb-10.11.19-compressed.000001.binlog", 0, false, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "encrypt_binlog=ON");
    CHECK_INT(sink->count, 0);
    segmenterFree(sg);
    free(sink);
}

/* A reader refuses the ciphertext of an encrypted file (import, or a segment holding one). */
static void
testReaderRefusesEncrypted(void) {
    BinlogReader *r = binlogReaderNew(BINLOG_READER_STREAM, 0);
    uint8_t se[40];
    BinlogEvent ev;
    Err err;

    startEncryption(se, 296, BINLOG_FLAG_IGNORABLE);
    binlogReaderFeed(r, se, sizeof(se));
    CHECK_INT(binlogReaderNext(r, &ev, &err), 1);
    startEncryption(se, 336, 0);
    binlogReaderFeed(r, se, sizeof(se));
    CHECK_INT(binlogReaderNext(r, &ev, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "START_ENCRYPTION event at offset 40");
    binlogReaderFree(r);
}

void
suite_segmenter(void) {
    testRun("segmenter: commit-time estimates for the RPO", testCommitEstimates);
    testRun("segmenter: segments tile the file, cut at transaction boundaries", testCutsTileTheFile);
    testRun("segmenter: interval cuts", testIntervalCut);
    testRun("segmenter: the interval cut's deadline", testCutDeadline);
    testRun("segmenter: discontinuity is refused", testDiscontinuityRefused);
    testRun("segmenter: every segment on one long-lived compression worker", testSharedCompressor);
    testRun("segmenter: a source's START_ENCRYPTION stored as an ignorable event", testSourceEncrypted);
    testRun("segmenter: a reader refuses an encrypted file's events", testReaderRefusesEncrypted);
}
