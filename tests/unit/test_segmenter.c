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
    uint8_t fde[512]; /* the FDE handed with the last sealed segment */
    size_t fdeLen;
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

    if (s->count >= 512 || fdeLen > sizeof(s->fde))
        return errSet(err, ERR_INTERNAL, "too many segments, or too long an FDE");
    s->fdeLen = fde != NULL ? fdeLen : 0;
    if (fde != NULL)
        memcpy(s->fde, fde, fdeLen);
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
    /* What the stream received follows the ROTATE too (the name is copied only when it changes). */
    CHECK_STR(segmenterSourceFile(sg), "mariadb-bin.000002");
    CHECK_INT(segmenterSourcePos(sg), 4);
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

/* ---- a stream started from a GTID state (MariaDB @slave_connect_state) ---- */

#define GTID_FIXTURE "mariadb-10.11.19-compressed.000001.binlog"
#define GTID_FILE "mariadb-bin.000001"

typedef struct Stream {
    unsigned char *data;
    BinlogReader *reader;
    BinlogEvent ev[256];
    size_t count;
} Stream;

static void
streamLoadFile(Stream *st, const char *name) {
    char path[1024];
    size_t len;
    Err err;

    memset(st, 0, sizeof(*st));
    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), name);
    REQUIRE((st->data = testReadFile(path, &len)) != NULL);
    st->reader = binlogReaderNew(BINLOG_READER_FILE, 0);
    binlogReaderFeed(st->reader, st->data, len);
    while (st->count < 256 && binlogReaderNext(st->reader, &st->ev[st->count], &err) == 1)
        st->count++;
}

static void
streamLoad(Stream *st) {
    streamLoadFile(st, GTID_FIXTURE);
}

static void
streamFree(Stream *st) {
    binlogReaderFree(st->reader);
    free(st->data);
}

/* An artificial event of `type` as the server sends it: timestamp 0, flag 0x20, CRC32. */
static size_t
artificial(uint8_t *out, uint8_t type, uint32_t logPos, const uint8_t *body, size_t bodyLen) {
    size_t len = 19 + bodyLen + 4;

    memset(out, 0, 19);
    out[4] = type;
    wrU32(out + 5, 11);
    wrU32(out + 9, (uint32_t)len);
    wrU32(out + 13, logPos);
    wrU16(out + 17, BINLOG_FLAG_ARTIFICIAL);
    memcpy(out + 19, body, bodyLen);
    wrU32(out + 19 + bodyLen, binlogEventComputeChecksum(out, 19 + bodyLen));
    return len;
}

static int
pushRotate(Segmenter *sg, const char *file, Err *err) {
    uint8_t body[128], ev[160];
    size_t n = strlen(file);

    wrU64(body, 4);
    memcpy(body + 8, file, n);
    return segmenterPush(sg, ev, artificial(ev, BINLOG_ROTATE, 0, body, 8 + n), 1, err);
}

/* The artificial GTID_LIST sent once the server skipped what the state holds: 0-11-seq, ending
 * where the events continue. */
static int
pushResumeList(Segmenter *sg, uint32_t resumePos, uint64_t seq, Err *err) {
    uint8_t body[20], ev[64];

    wrU32(body, 1);
    wrU32(body + 4, 0);
    wrU32(body + 8, 11);
    wrU64(body + 12, seq);
    return segmenterPush(sg, ev, artificial(ev, BINLOG_MARIA_GTID_LIST, resumePos, body, sizeof(body)), 1, err);
}

/* What the server sends for a GTID start after 0-11-2 in the fixture: its ROTATE, the file's FDE,
 * GTID_LIST and BINLOG_CHECKPOINT, the resume GTID_LIST, then the events from 699 (0-11-3). */
static int
pushGtidStream(Segmenter *sg, const Stream *st, uint32_t resumePos, Err *err) {
    if (pushRotate(sg, GTID_FILE, err) != 0)
        return -1;
    for (size_t i = 0; i < 3; i++)
        if (segmenterPush(sg, st->ev[i].data, st->ev[i].h.size, 1, err) != 0)
            return -1;
    if (pushResumeList(sg, resumePos, 2, err) != 0)
        return -1;
    for (size_t i = 3; i < st->count; i++)
        if (st->ev[i].h.logPos > 699 && segmenterPush(sg, st->ev[i].data, st->ev[i].h.size, 1, err) != 0)
            return -1;
    return 0;
}

/* A segmenter and the fixture's events, for the GTID start cases. */
typedef struct GtidCase {
    Sink *sink;
    Segmenter *sg;
    Stream st;
} GtidCase;

static void
gtidCaseOpen(GtidCase *c) {
    c->sink = calloc(1, sizeof(*c->sink));
    c->sg = newSegmenter(c->sink, 1 << 20, 0);
    streamLoad(&c->st);
}

static void
gtidCaseClose(GtidCase *c) {
    for (size_t i = 0; i < c->sink->count; i++)
        segmentMetaClear(&c->sink->metas[i]);
    streamFree(&c->st);
    segmenterFree(c->sg);
    free(c->sink);
}

/* The case's segmenter resumes after segment `seq` at the fixture's 699 (after 0-11-2) and
 * expects a GTID start. */
static void
gtidCaseResume(GtidCase *c, uint64_t seq) {
    Err err;

    REQUIRE(segmenterResume(c->sg, seq, GTID_FILE, 699, "0-11-2", c->st.ev[0].data, c->st.ev[0].h.size, &err) == 0);
    segmenterExpectGtidStart(c->sg);
}

static void
testGtidStartEmpty(void) {
    GtidCase c;
    Err err;

    gtidCaseOpen(&c);
    REQUIRE(segmenterResume(c.sg, 0, "", 0, "0-11-2", NULL, 0, &err) == 0);
    CHECK(segmenterResumesByGtid(c.sg));
    segmenterExpectGtidStart(c.sg);
    if (pushGtidStream(c.sg, &c.st, 699, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    /* The file ends with its ROTATE: one segment, sealed there. */
    REQUIRE(c.sink->count == 1);
    CHECK(c.sink->metas[0].endsFile);
    CHECK_STR(c.sink->metas[0].file, GTID_FILE);
    CHECK_INT(c.sink->metas[0].startPos, 699);
    CHECK_STR(c.sink->metas[0].gtidStart, "0-11-2");
    CHECK_STR(c.sink->metas[0].firstGtid, "0-11-3");
    CHECK_STR(segmenterFile(c.sg), "mariadb-bin.000002");
    gtidCaseClose(&c);
}

static void
testGtidResumeContinues(void) {
    GtidCase c;
    Err err;

    gtidCaseOpen(&c);
    gtidCaseResume(&c, 5);
    if (pushGtidStream(c.sg, &c.st, 699, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    REQUIRE(c.sink->count == 1);
    CHECK_INT(c.sink->metas[0].seq, 6);
    CHECK_INT(c.sink->metas[0].startPos, 699);
    CHECK_STR(c.sink->metas[0].firstGtid, "0-11-3");
    /* Abandoning ends the GTID start: a stream by position continues strictly again. */
    segmenterAbandon(c.sg);
    CHECK(segmenterPush(c.sg, c.st.ev[2].data, c.st.ev[2].h.size, 1, &err) != 0);
    gtidCaseClose(&c);
}

static void
testGtidResumeElsewhereRefused(void) {
    GtidCase c;
    Err err;

    gtidCaseOpen(&c);
    /* The archive ends at 699 after 0-11-2; the source resumes that state at 741: another
     * history with the same file names. */
    gtidCaseResume(&c, 5);
    CHECK(pushGtidStream(c.sg, &c.st, 741, &err) != 0);
    CHECK_INT(err.code, ERR_GAP);
    CHECK_MSG(err.msg, "the source's history does not contain the archive's end '0-11-2'");
    CHECK_INT(c.sink->count, 0);
    segmenterAbandon(c.sg);
    /* The stream starting in an earlier file than the archive's end. */
    REQUIRE(segmenterResume(c.sg, 5, "mariadb-bin.000002", 454, "0-11-9", NULL, 0, &err) == 0);
    segmenterExpectGtidStart(c.sg);
    CHECK(pushRotate(c.sg, GTID_FILE, &err) != 0);
    CHECK_INT(err.code, ERR_GAP);
    CHECK_MSG(err.msg, "starts in the earlier file 'mariadb-bin.000001'");
    gtidCaseClose(&c);
}

/* Without a resume GTID_LIST, the server sends the file from its start: what the archive holds is
 * dropped, the rest continues it. */
static void
testGtidRepeatDropsHeld(void) {
    GtidCase c;
    Err err;

    gtidCaseOpen(&c);
    gtidCaseResume(&c, 2);
    REQUIRE(pushRotate(c.sg, GTID_FILE, &err) == 0);
    for (size_t i = 0; i < c.st.count; i++)
        if (segmenterPush(c.sg, c.st.ev[i].data, c.st.ev[i].h.size, 1, &err) != 0)
            testFail(__FILE__, __LINE__, "push %zu: %s", i, err.msg);
    REQUIRE(c.sink->count == 1);
    CHECK_INT(c.sink->metas[0].startPos, 699);
    CHECK_STR(c.sink->metas[0].firstGtid, "0-11-3");
    gtidCaseClose(&c);
}

/* MySQL COM_BINLOG_DUMP_GTID: the server skips the transactions of the set without saying where
 * it resumes. The fixture: FDE, PREVIOUS_GTIDS (126-157, empty), then transactions starting with
 * their GTID event at 157, 365, 642, 919... */
#define MYSQL_FIXTURE "mysql-8.0.45-gtid.000001.binlog"

typedef struct MysqlCase {
    Sink *sink;
    Segmenter *sg;
    Stream st;
    char state2[128]; /* the set after the first two transactions, "uuid:1-2" */
} MysqlCase;

static void
mysqlCaseOpen(MysqlCase *c) {
    SegmenterOpts o = {.segmentSize = 1 << 20, .flavour = BINLOG_FLAVOUR_MYSQL, .serverId = 1,
                       .streamChecksum = BINLOG_CHECKSUM_CRC32};
    SegmenterSink snk = {tmpPath, sealed, NULL};
    Segmenter *probe;
    char *state;
    Err err;

    c->sink = calloc(1, sizeof(*c->sink));
    snprintf(c->sink->dir, sizeof(c->sink->dir), "%s", testTmpDir());
    snk.data = c->sink;
    streamLoadFile(&c->st, MYSQL_FIXTURE);
    /* The GTID set at 642, from a segmenter that reads the file up to there. */
    probe = segmenterNew(&o, &snk);
    REQUIRE(segmenterResume(probe, 0, "binlog.000001", 4, "", NULL, 0, &err) == 0);
    for (size_t i = 0; i < c->st.count && c->st.ev[i].h.logPos <= 642; i++)
        REQUIRE(segmenterPush(probe, c->st.ev[i].data, c->st.ev[i].h.size, 1, &err) == 0);
    state = segmenterGtidState(probe);
    snprintf(c->state2, sizeof(c->state2), "%s", state);
    bvFree(state);
    segmenterAbandon(probe);
    segmenterFree(probe);
    c->sg = segmenterNew(&o, &snk);
}

static void
mysqlCaseClose(MysqlCase *c) {
    for (size_t i = 0; i < c->sink->count; i++)
        segmentMetaClear(&c->sink->metas[i]);
    streamFree(&c->st);
    segmenterFree(c->sg);
    free(c->sink);
}

/* The dump after the first two transactions: ROTATE, FDE, PREVIOUS_GTIDS, then from `from`. */
static int
pushMysqlStream(MysqlCase *c, uint32_t from, Err *err) {
    if (pushRotate(c->sg, "binlog.000001", err) != 0)
        return -1;
    for (size_t i = 0; i < c->st.count; i++)
        if ((i < 2 || c->st.ev[i].h.logPos > from) &&
            segmenterPush(c->sg, c->st.ev[i].data, c->st.ev[i].h.size, 1, err) != 0)
            return -1;
    return segmenterCut(c->sg, err) < 0 ? -1 : 0;
}

/* Where an FDE's 'created' field is: header, binlog version, server version. */
#define FDE_CREATED (19 + 2 + 50)

/* A stream that starts inside a file (here by GTID) sends the file's FDE rewritten: log_pos 0,
 * 'created' zeroed. The segments keep the file's own FDE when segmenterSetFileFde() gave it, and
 * the rewritten copy (with the file's end position and checksum) otherwise. */
static void
testMidFileStartKeepsFileFde(void) {
    for (int given = 0; given < 2; given++) {
        GtidCase c;
        uint8_t own[256], *sent;
        size_t len;
        Err err;

        gtidCaseOpen(&c);
        sent = (uint8_t *)c.st.ev[0].data;
        len = c.st.ev[0].h.size;
        REQUIRE(c.st.ev[0].h.type == BINLOG_FORMAT_DESCRIPTION && len <= sizeof(own));
        memcpy(own, sent, len);
        wrU32(own + FDE_CREATED, 1700000000);
        wrU32(own + len - 4, binlogEventComputeChecksum(own, len - 4));
        wrU32(sent + 13, 0);
        wrU32(sent + FDE_CREATED, 0);
        wrU32(sent + len - 4, binlogEventComputeChecksum(sent, len - 4));

        REQUIRE(segmenterResume(c.sg, 0, "", 0, "0-11-2", NULL, 0, &err) == 0);
        segmenterExpectGtidStart(c.sg);
        CHECK(!segmenterHasFileFde(c.sg, GTID_FILE));
        if (given) {
            CHECK(segmenterSetFileFde(c.sg, GTID_FILE, own, len - 1, &err) != 0);
            CHECK_MSG(err.msg, "read from the start of '" GTID_FILE "'");
            REQUIRE(segmenterSetFileFde(c.sg, GTID_FILE, own, len, &err) == 0);
            CHECK(segmenterHasFileFde(c.sg, GTID_FILE));
            CHECK(!segmenterHasFileFde(c.sg, "mariadb-bin.000002"));
        }
        if (pushGtidStream(c.sg, &c.st, 699, &err) != 0)
            testFail(__FILE__, __LINE__, "push: %s", err.msg);
        REQUIRE(c.sink->count == 1);
        REQUIRE(c.sink->fdeLen == len);
        CHECK_INT(rdU32(c.sink->fde + 13), 4 + len);
        CHECK_INT(rdU32(c.sink->fde + FDE_CREATED), given ? 1700000000 : 0);
        CHECK_INT(rdU32(c.sink->fde + len - 4), binlogEventComputeChecksum(c.sink->fde, len - 4));
        if (given)
            CHECK(memcmp(c.sink->fde, own, len) == 0);
        gtidCaseClose(&c);
    }
}

static void
testMysqlGtidStart(void) {
    MysqlCase c;
    Err err;

    mysqlCaseOpen(&c);
    CHECK_MSG(c.state2, ":1-2");
    /* An empty archive, --start-gtid uuid:1-2: the first segment starts at the third transaction. */
    REQUIRE(segmenterResume(c.sg, 0, "", 0, c.state2, NULL, 0, &err) == 0);
    segmenterExpectGtidStart(c.sg);
    if (pushMysqlStream(&c, 642, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    REQUIRE(c.sink->count >= 1);
    CHECK_INT(c.sink->metas[0].startPos, 642);
    CHECK_STR(c.sink->metas[0].gtidStart, c.state2);
    CHECK_MSG(c.sink->metas[0].firstGtid, ":3");
    mysqlCaseClose(&c);
}

static void
testMysqlGtidResume(void) {
    MysqlCase c;
    Err err;

    mysqlCaseOpen(&c);
    /* The archive ends at 642 with uuid:1-2: the stream continues it. */
    REQUIRE(segmenterResume(c.sg, 4, "binlog.000001", 642, c.state2, c.st.ev[0].data, c.st.ev[0].h.size, &err) == 0);
    segmenterExpectGtidStart(c.sg);
    if (pushMysqlStream(&c, 642, &err) != 0)
        testFail(__FILE__, __LINE__, "push: %s", err.msg);
    REQUIRE(c.sink->count >= 1);
    CHECK_INT(c.sink->metas[0].seq, 5);
    CHECK_INT(c.sink->metas[0].startPos, 642);
    /* The server skipped a transaction the archive does not hold: refused. */
    segmenterAbandon(c.sg);
    for (size_t i = 0; i < c.sink->count; i++)
        segmentMetaClear(&c.sink->metas[i]);
    c.sink->count = 0;
    REQUIRE(segmenterResume(c.sg, 4, "binlog.000001", 642, c.state2, c.st.ev[0].data, c.st.ev[0].h.size, &err) == 0);
    segmenterExpectGtidStart(c.sg);
    CHECK(pushMysqlStream(&c, 919, &err) != 0);
    CHECK_INT(err.code, ERR_GAP);
    CHECK_MSG(err.msg, "skips to an event at 'binlog.000001':919");
    CHECK_INT(c.sink->count, 0);
    mysqlCaseClose(&c);
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
    testRun("segmenter: a --start-gtid stream frames from where the server resumes", testGtidStartEmpty);
    testRun("segmenter: a GTID resume continues the archive exactly", testGtidResumeContinues);
    testRun("segmenter: a GTID resume elsewhere than the archive's end is refused", testGtidResumeElsewhereRefused);
    testRun("segmenter: a GTID stream from the file's start drops what is held", testGtidRepeatDropsHeld);
    testRun("segmenter: a mid-file start keeps the file's own FDE when given", testMidFileStartKeepsFileFde);
    testRun("segmenter: a MySQL COM_BINLOG_DUMP_GTID stream from an empty archive", testMysqlGtidStart);
    testRun("segmenter: a MySQL GTID resume continues the archive, or is refused", testMysqlGtidResume);
}
