/* Unit tests of agent/spool.c: the semi-sync journal (append, sync, replay up to the last
 * transaction boundary, torn and corrupt tails, stale journals); commits that fail halfway (with
 * the segmenter that drives them), what no commit completed removed at open, the probe of a
 * spool after a failure, waiting for space. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/segmenter.h"
#include "agent/spool.h"
#include "binlog/reader.h"
#include "common/mem.h"
#include "tests/test.h"

typedef struct Seen {
    unsigned count;
    size_t lens[16];
    uint8_t first[16];
} Seen;

static int
collect(void *data, const uint8_t *event, size_t len, Err *err) {
    Seen *s = data;

    (void)err;
    if (s->count < 16) {
        s->lens[s->count] = len;
        s->first[s->count] = len ? event[0] : 0;
    }
    s->count++;
    return 0;
}

static SpoolJournal *
journalWith(Spool *sp, uint64_t seq, const size_t *lens, const bool *boundary, size_t n) {
    SpoolJournalHead h;
    SpoolJournal *j;
    Err err;

    memset(&h, 0, sizeof(h));
    h.seq = seq;
    h.flavour = BINLOG_FLAVOUR_MARIADB;
    h.serverId = 7;
    snprintf(h.file, sizeof(h.file), "mariadb-bin.000003");
    h.pos = 1234;
    j = spoolJournalCreate(sp, &h, &err);
    if (j == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint8_t *ev = bvMalloc(lens[i] + 1);

        memset(ev, (int)('a' + i), lens[i] + 1);
        if (spoolJournalAppend(j, ev, lens[i], boundary[i], &err) != 0)
            testFail(__FILE__, __LINE__, "append: %s", err.msg);
        bvFree(ev);
    }
    if (spoolJournalSync(j, &err) != 0)
        testFail(__FILE__, __LINE__, "sync: %s", err.msg);
    return j;
}

static void
testJournalReplay(void) {
    const size_t lens[5] = {30, 200000, 19, 45, 60};
    const bool boundary[5] = {false, true, false, true, false};
    Spool *sp;
    SpoolJournal *j;
    SpoolJournalHead h;
    Seen seen;
    uint64_t events, *seqs;
    size_t n;
    char path[1024];
    struct stat st;
    Err err;

    sp = spoolOpen(testTmpDir(), 0, &err);
    REQUIRE(sp != NULL);
    j = journalWith(sp, 5, lens, boundary, 5);
    REQUIRE(j != NULL);
    CHECK_INT(spoolJournalSeq(j), 5);
    CHECK(spoolJournalBytes(j) > 200000);
    spoolJournalClose(j, false);
    CHECK_INT(spoolJournalReadHead(sp, 5, &h, &err), 0);
    CHECK_INT(h.seq, 5);
    CHECK_INT(h.serverId, 7);
    CHECK_STR(h.file, "mariadb-bin.000003");
    CHECK_INT(h.pos, 1234);
    /* Up to the last boundary: the 5th event is the start of an unfinished transaction. */
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(spoolJournalReplay(sp, 5, &h, collect, &seen, &events, &err), 0);
    CHECK_INT(events, 4);
    CHECK_INT(seen.count, 4);
    CHECK_INT(seen.lens[1], 200000);
    CHECK_INT(seen.first[3], 'd');
    /* A torn tail: the file ends inside the 4th record; the 2nd is the last whole boundary. */
    snprintf(path, sizeof(path), "%s/journal/%016d.bvj", testTmpDir(), 5);
    REQUIRE(stat(path, &st) == 0);
    REQUIRE(truncate(path, st.st_size - 60 - 9 - 10) == 0);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(spoolJournalReplay(sp, 5, &h, collect, &seen, &events, &err), 0);
    CHECK_INT(seen.count, 2);
    /* A corrupt byte in the 2nd event: nothing whole before it ends a transaction. */
    {
        int fd = open(path, O_WRONLY);
        uint8_t x = 'Z';

        REQUIRE(fd >= 0);
        CHECK(pwrite(fd, &x, 1, st.st_size / 2) == 1);
        close(fd);
    }
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(spoolJournalReplay(sp, 5, &h, collect, &seen, &events, &err), 0);
    CHECK_INT(seen.count, 0);
    /* Listing, keeping a bad one aside, removing. */
    j = journalWith(sp, 6, lens, boundary, 1);
    spoolJournalClose(j, false);
    CHECK_INT(spoolJournalList(sp, &seqs, &n, &err), 0);
    CHECK_INT(n, 2);
    CHECK_INT(seqs[0], 5);
    CHECK_INT(seqs[1], 6);
    bvFree(seqs);
    CHECK_INT(spoolJournalRemove(sp, 5, "bad", &err), 0);
    CHECK_INT(spoolJournalRemove(sp, 6, NULL, &err), 0);
    CHECK_INT(spoolJournalRemove(sp, 6, NULL, &err), 0);
    CHECK_INT(spoolJournalList(sp, &seqs, &n, &err), 0);
    CHECK_INT(n, 0);
    bvFree(seqs);
    snprintf(path, sizeof(path), "%s/journal/%016d.bvj.bad", testTmpDir(), 5);
    CHECK(access(path, F_OK) == 0);
    /* A journal closed for good (its segment was sealed) is gone. */
    j = journalWith(sp, 7, lens, boundary, 2);
    spoolJournalClose(j, true);
    CHECK_INT(spoolJournalReadHead(sp, 7, &h, &err), -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    spoolClose(sp);
}

static void
testJournalUnsyncedBufferKeptOnClose(void) {
    const size_t lens[2] = {10, 20};
    const bool boundary[2] = {true, true};
    Spool *sp;
    SpoolJournal *j;
    SpoolJournalHead h;
    Seen seen;
    uint64_t events;
    uint8_t ev[20] = {0};
    Err err;

    sp = spoolOpen(testTmpDir(), 0, &err);
    REQUIRE(sp != NULL);
    j = journalWith(sp, 1, lens, boundary, 2);
    REQUIRE(j != NULL);
    /* Appended after the last sync: written when the journal is closed without removal. */
    CHECK_INT(spoolJournalAppend(j, ev, sizeof(ev), true, &err), 0);
    spoolJournalClose(j, false);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(spoolJournalReplay(sp, 1, &h, collect, &seen, &events, &err), 0);
    CHECK_INT(seen.count, 3);
    spoolClose(sp);
}

/* A sealed segment of `content` in open/, committed as seq (fake metadata: the spool does not
 * read it). */
static int
commitFake(Spool *sp, uint64_t seq, const char *content, Err *err) {
    SegmentMeta m;
    char tmp[1024];
    FILE *f;

    memset(&m, 0, sizeof(m));
    m.seq = seq;
    m.flavour = BINLOG_FLAVOUR_MARIADB;
    snprintf(m.file, sizeof(m.file), "mariadb-bin.000001");
    m.startPos = m.endPos = 256 * seq;
    m.fdeLen = 19;
    m.contentLen = 19;
    segmentName(m.seq, m.file, m.startPos, SEGMENT_NAMING_GROUPED, m.name, sizeof(m.name));
    spoolOpenPath(sp, seq, tmp, sizeof(tmp));
    if ((f = fopen(tmp, "w")) == NULL)
        return errSet(err, ERR_IO, "unable to create '%s'", tmp);
    fprintf(f, "%s", content);
    fclose(f);
    return spoolCommit(sp, tmp, &m, NULL, 0, NULL, err);
}

static bool
readyExists(const char *dir, uint64_t seq, const char *ext) {
    char path[1024];

    snprintf(path, sizeof(path), "%s/ready/%016llu.%s", dir, (unsigned long long)seq, ext);
    return access(path, F_OK) == 0;
}

/* A segment left in ready/ that no state names and that could not be removed (a commit that
 * failed before its state moved, and whose undo failed too): the same seq is sealed again over
 * it, and counts once. */
static void
testCommitOverExisting(void) {
    const char *dir = testTmpDir();
    char path[1024];
    Spool *sp;
    Err err;
    FILE *f;

    sp = spoolOpen(dir, 0, &err);
    REQUIRE(sp != NULL);
    CHECK_INT(commitFake(sp, 2, "0123456789", &err), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/ready/%016d.%s", dir, 3, i ? "json" : "bvs");
        REQUIRE((f = fopen(path, "w")) != NULL);
        fprintf(f, "%s", i ? "{}" : "leftover!");
        fclose(f);
    }
    CHECK_INT(commitFake(sp, 3, "01234", &err), 0);
    CHECK_INT(spoolReadyCount(sp), 2);
    CHECK_INT(spoolBytes(sp), 15);
    CHECK_INT(spoolRemove(sp, 3, &err), 0);
    CHECK_INT(spoolRemove(sp, 2, &err), 0);
    CHECK_INT(spoolReadyCount(sp), 0);
    CHECK_INT(spoolBytes(sp), 0);
    spoolClose(sp);
}

/* A commit of seq that the spool must refuse (ERR_IO, "already committed"); its open file, which
 * stays the caller's, is removed. */
static void
checkCommitRefused(Spool *sp, uint64_t seq) {
    char path[1024];
    Err err;

    CHECK_INT(commitFake(sp, seq, "other content", &err), -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_MSG(err.msg, "already committed");
    spoolOpenPath(sp, seq, path, sizeof(path));
    unlink(path);
}

/* A seq the state already names is never committed again: after a commit whose state moved but
 * whose last directory sync failed, the caller thinks the seq unsealed and may seal it again with
 * other content (from a semi-sync journal, say); that would replace the committed segment in
 * ready/ while the state keeps the first one's end: a gap. The spool refuses (ERR_IO) until the
 * caller resyncs; the committed segment stays as it was. */
static void
testCommitRefusedAtOrBelowState(void) {
    const char *dir = testTmpDir();
    char path[1024];
    Spool *sp;
    Err err;
    size_t len;
    uint8_t *data;

    sp = spoolOpen(dir, 0, &err);
    REQUIRE(sp != NULL);
    CHECK_INT(commitFake(sp, 1, "0123456789", &err), 0);
    CHECK_INT(commitFake(sp, 2, "abc", &err), 0);
    checkCommitRefused(sp, 1);
    checkCommitRefused(sp, 2);
    snprintf(path, sizeof(path), "%s/ready/%016d.bvs", dir, 2);
    data = testReadFile(path, &len);
    REQUIRE(data != NULL);
    CHECK_INT(len, 3);
    CHECK(memcmp(data, "abc", 3) == 0);
    free(data);
    CHECK_INT(spoolReadyCount(sp), 2);
    CHECK_INT(spoolBytes(sp), 13);
    CHECK_INT(commitFake(sp, 3, "xyz", &err), 0);
    spoolClose(sp);
    /* The same after a restart: the state read at open is the limit. */
    sp = spoolOpen(dir, 0, &err);
    REQUIRE(sp != NULL);
    checkCommitRefused(sp, 3);
    CHECK_INT(commitFake(sp, 4, "next", &err), 0);
    spoolClose(sp);
}

/* A crash (or a failure) after a segment entered ready/ and before state.json moved: the next
 * open removes it (it is read again from the source) rather than upload what no commit names. */
static void
testOpenRemovesUncommitted(void) {
    const char *dir = testTmpDir();
    char from[1024], to[1024];
    Spool *sp;
    SpoolState st;
    Err err;

    sp = spoolOpen(dir, 0, &err);
    REQUIRE(sp != NULL);
    CHECK_INT(commitFake(sp, 1, "0123456789", &err), 0);
    spoolClose(sp);
    /* Segment 2 as step 2 of its commit left it: metadata and segment in ready/, state at 1. */
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s/ready/%016d.%s", dir, 1, i ? "json" : "bvs");
        snprintf(to, sizeof(to), "%s/ready/%016d.%s", dir, 2, i ? "json" : "bvs");
        REQUIRE(link(from, to) == 0);
    }
    sp = spoolOpen(dir, 0, &err);
    REQUIRE(sp != NULL);
    CHECK_INT(spoolReadyCount(sp), 1);
    CHECK_INT(spoolBytes(sp), 10);
    CHECK(!readyExists(dir, 2, "bvs"));
    CHECK(!readyExists(dir, 2, "json"));
    CHECK(readyExists(dir, 1, "bvs"));
    CHECK_INT(spoolReadState(sp, &st, &err), 0);
    CHECK(st.valid);
    CHECK_INT(st.seq, 1);
    spoolStateClear(&st);
    spoolClose(sp);
}

/* A commit failing at its metadata (step 1) or at the state (step 3, after the segment entered
 * ready/): undone, the spool's counts unchanged; the same seq commits once the disk works. */
static void
testFailedCommitUndone(void) {
    const char *dir = testTmpDir();
    char path[1024], tmp[1024];
    Spool *sp;
    SpoolState st;
    Err err;

    sp = spoolOpen(dir, 0, &err);
    REQUIRE(sp != NULL);
    CHECK_INT(commitFake(sp, 1, "0123456789", &err), 0);
    /* Step 1 cannot write (a directory where its temporary file goes). */
    snprintf(path, sizeof(path), "%s/ready/%016d.json.tmp", dir, 2);
    REQUIRE(mkdir(path, 0700) == 0);
    CHECK_INT(commitFake(sp, 2, "abc", &err), -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK(!readyExists(dir, 2, "bvs"));
    spoolOpenPath(sp, 2, tmp, sizeof(tmp));
    CHECK(access(tmp, F_OK) == 0); /* the caller's to remove */
    unlink(tmp);
    REQUIRE(rmdir(path) == 0);
    /* Step 3 cannot write: the segment was in ready/ already, and is removed again. */
    snprintf(path, sizeof(path), "%s/state.json.tmp", dir);
    REQUIRE(mkdir(path, 0700) == 0);
    CHECK_INT(commitFake(sp, 2, "abc", &err), -1);
    CHECK_MSG(err.msg, "state.json.tmp");
    CHECK(!readyExists(dir, 2, "bvs"));
    CHECK(!readyExists(dir, 2, "json"));
    CHECK_INT(spoolReadyCount(sp), 1);
    CHECK_INT(spoolBytes(sp), 10);
    CHECK_INT(spoolReadState(sp, &st, &err), 0);
    CHECK_INT(st.seq, 1);
    spoolStateClear(&st);
    REQUIRE(rmdir(path) == 0);
    CHECK_INT(commitFake(sp, 2, "abcd", &err), 0);
    CHECK_INT(spoolReadyCount(sp), 2);
    CHECK_INT(spoolBytes(sp), 14);
    CHECK_INT(spoolReconcile(sp, &err), 0);
    CHECK_INT(spoolReadyCount(sp), 2);
    CHECK_INT(spoolBytes(sp), 14);
    spoolClose(sp);
}

/* The spool as the segmenter's sink, as in the agent. */
static void
sinkTmpPath(void *data, uint64_t seq, char *out, size_t size) {
    spoolOpenPath(data, seq, out, size);
}

static int
sinkCommit(void *data, const char *tmp, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
           const char *nextFile, Err *err) {
    return spoolCommit(data, tmp, meta, fde, fdeLen, nextFile, err);
}

/* Push the fixture's events through the segmenter; those ending at or before `from` are skipped
 * (a stream restarted there: the FDE, then what follows). */
static int
pushFixtureFrom(Segmenter *sg, const char *name, uint64_t from, Err *err) {
    char path[1024];
    size_t len;
    unsigned char *d;
    BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, 0);
    BinlogEvent ev;
    uint64_t t = 0;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), name);
    if ((d = testReadFile(path, &len)) == NULL) {
        binlogReaderFree(r);
        return errSet(err, ERR_IO, "cannot read %s", path);
    }
    binlogReaderFeed(r, d, len);
    while (rc == 0 && binlogReaderNext(r, &ev, err) == 1)
        if (ev.h.type == BINLOG_FORMAT_DESCRIPTION || ev.h.logPos > from)
            rc = segmenterPush(sg, ev.data, ev.h.size, t += 10, err);
    binlogReaderFree(r);
    free(d);
    return rc;
}

static int
pushFixture(Segmenter *sg, const char *name, Err *err) {
    return pushFixtureFrom(sg, name, 0, err);
}

/* The segmenter over a spool whose state cannot be written: the seal fails with ERR_IO, nothing
 * of the segment stays (neither in ready/ nor in open/, where the same seq is created again with
 * O_EXCL); after segmenterAbandon() the stream is pushed again and tiles the file. */
static void
testSegmenterOverFailingSpool(void) {
    const char *dir = testTmpDir(), *fixture = "mariadb-10.11.19-compressed.000001.binlog";
    SegmenterOpts o = {.segmentSize = 600, .flavour = BINLOG_FLAVOUR_MARIADB, .serverId = 11,
                       .streamChecksum = BINLOG_CHECKSUM_CRC32};
    char path[1024], tmp[1024];
    SegmenterSink sink;
    Segmenter *sg;
    Spool *sp;
    SpoolState st;
    Err err;

    sp = spoolOpen(dir, 0, &err);
    REQUIRE(sp != NULL);
    sink = (SegmenterSink){sinkTmpPath, sinkCommit, sp};
    sg = segmenterNew(&o, &sink);
    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    snprintf(path, sizeof(path), "%s/state.json.tmp", dir);
    REQUIRE(mkdir(path, 0700) == 0);
    CHECK_INT(pushFixture(sg, fixture, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_INT(segmenterLastSeq(sg), 0);
    CHECK_INT(spoolReadyCount(sp), 0);
    CHECK(!readyExists(dir, 1, "bvs"));
    spoolOpenPath(sp, 1, tmp, sizeof(tmp));
    CHECK(access(tmp, F_OK) != 0);
    segmenterAbandon(sg);
    CHECK_INT(segmenterPos(sg), 4);
    REQUIRE(rmdir(path) == 0);
    if (pushFixture(sg, fixture, &err) != 0)
        testFail(__FILE__, __LINE__, "push after abandon: %s", err.msg);
    CHECK(segmenterLastSeq(sg) >= 4);
    CHECK_INT(spoolReadyCount(sp), segmenterLastSeq(sg));
    CHECK_INT(spoolReadState(sp, &st, &err), 0);
    CHECK_INT(st.seq, segmenterLastSeq(sg));
    CHECK_INT(st.endPos, 3687);
    spoolStateClear(&st);
    segmenterFree(sg);
    spoolClose(sp);
}

/* A spool whose commit of segment `failSeq` fails (ERR_IO), as its disk would. */
typedef struct FailingSpool {
    Spool *sp;
    uint64_t failSeq;
} FailingSpool;

static int
sinkCommitFailing(void *data, const char *tmp, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
                  const char *nextFile, Err *err) {
    FailingSpool *f = data;

    if (meta->seq == f->failSeq)
        return errSet(err, ERR_IO, "unable to fsync directory of segment %" PRIu64 " (injected)", meta->seq);
    return spoolCommit(f->sp, tmp, meta, fde, fdeLen, nextFile, err);
}

static void
sinkTmpPathFailing(void *data, uint64_t seq, char *out, size_t size) {
    spoolOpenPath(((FailingSpool *)data)->sp, seq, out, size);
}

static unsigned
filesIn(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    unsigned n = 0;

    BV_ASSERT(d != NULL);
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Segments sealed behind the stream (asyncSeal) over a spool whose commit of segment 2 fails:
 * segment 1 stays, nothing after 2 is committed (the segments queued behind it neither, and no
 * file of theirs stays in open/), the failure reaches the caller with its ERR_IO, and after
 * segmenterAbandon() the segmenter stands at the end of segment 1, as the spool's state says; the
 * stream pushed again from there tiles the file. */
static void
testSegmenterAsyncOverFailingSpool(void) {
    const char *dir = testTmpDir(), *fixture = "mariadb-10.11.19-compressed.000001.binlog";
    SegmenterOpts o = {.segmentSize = 600, .flavour = BINLOG_FLAVOUR_MARIADB, .serverId = 11,
                       .streamChecksum = BINLOG_CHECKSUM_CRC32, .asyncSeal = true};
    char open[1024];
    FailingSpool f;
    SegmenterSink sink;
    Segmenter *sg;
    SpoolState st;
    Err err;
    int rc;

    f.sp = spoolOpen(dir, 0, &err);
    REQUIRE(f.sp != NULL);
    f.failSeq = 2;
    o.compressor = segmentCompressorNew(&err);
    REQUIRE(o.compressor != NULL);
    sink = (SegmenterSink){sinkTmpPathFailing, sinkCommitFailing, &f};
    sg = segmenterNew(&o, &sink);
    REQUIRE(segmenterResume(sg, 0, "mariadb-bin.000001", 4, "", NULL, 0, &err) == 0);
    rc = pushFixture(sg, fixture, &err);
    /* The failure comes back with a later push, or at the latest when the caller waits. */
    if (rc == 0)
        rc = segmenterCut(sg, &err);
    CHECK_INT(rc, -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_MSG(err.msg, "segment 2 (injected)");
    segmenterAbandon(sg);
    CHECK_INT(segmenterLastSeq(sg), 1);
    CHECK_INT(spoolReadyCount(f.sp), 1);
    CHECK(readyExists(dir, 1, "bvs"));
    CHECK(!readyExists(dir, 2, "bvs"));
    CHECK(!readyExists(dir, 3, "bvs"));
    snprintf(open, sizeof(open), "%s/open", dir);
    CHECK_INT(filesIn(open), 0);
    CHECK_INT(spoolReadState(f.sp, &st, &err), 0);
    CHECK_INT(st.seq, 1);
    CHECK_INT(segmenterPos(sg), st.endPos);
    CHECK_STR(segmenterFile(sg), st.file);
    spoolStateClear(&st);

    f.failSeq = 0;
    if (pushFixtureFrom(sg, fixture, segmenterPos(sg), &err) != 0 || segmenterCut(sg, &err) < 0)
        testFail(__FILE__, __LINE__, "push after abandon: %s", err.msg);
    CHECK(segmenterLastSeq(sg) >= 4);
    CHECK_INT(spoolReadyCount(f.sp), segmenterLastSeq(sg));
    CHECK_INT(spoolReadState(f.sp, &st, &err), 0);
    CHECK_INT(st.seq, segmenterLastSeq(sg));
    CHECK_INT(st.endPos, 3687);
    spoolStateClear(&st);
    segmenterFree(sg);
    segmentCompressorFree(o.compressor);
    spoolClose(f.sp);
}

typedef struct Remover {
    Spool *sp;
    uint64_t seq;
} Remover;

static void *
removeLater(void *arg) {
    Remover *r = arg;
    struct timespec ts = {0, 100 * 1000000L};
    Err err;

    nanosleep(&ts, NULL);
    spoolRemove(r->sp, r->seq, &err);
    return NULL;
}

static uint64_t
monoMs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* After a failure: the probe of a working spool passes; a wait for space ends at the timeout, or
 * as soon as a segment is removed. */
static void
testProbeAndWaitRemoval(void) {
    Spool *sp;
    Remover r;
    pthread_t t;
    atomic_bool stop = false;
    bool noSpace = true;
    uint64_t start;
    Err err;

    sp = spoolOpen(testTmpDir(), 0, &err);
    REQUIRE(sp != NULL);
    CHECK_INT(spoolProbe(sp, &noSpace, &err), 0);
    CHECK(!noSpace);
    CHECK_INT(commitFake(sp, 1, "0123456789", &err), 0);
    start = monoMs();
    spoolWaitRemoval(sp, 150, &stop);
    CHECK(monoMs() - start >= 140);
    r = (Remover){sp, 1};
    REQUIRE(pthread_create(&t, NULL, removeLater, &r) == 0);
    start = monoMs();
    spoolWaitRemoval(sp, 10000, &stop);
    CHECK(monoMs() - start < 5000);
    pthread_join(t, NULL);
    CHECK_INT(spoolReadyCount(sp), 0);
    atomic_store(&stop, true);
    start = monoMs();
    spoolWaitRemoval(sp, 10000, &stop);
    CHECK(monoMs() - start < 1000);
    spoolClose(sp);
}

void
suite_spool(void) {
    testRun("spool: a leftover segment above the state is sealed over and counts once", testCommitOverExisting);
    testRun("spool: a seq the state names is never committed again (no gap after a failed directory sync)",
            testCommitRefusedAtOrBelowState);
    testRun("spool: semi-sync journal replays whole transactions; torn and corrupt tails", testJournalReplay);
    testRun("spool: semi-sync journal close keeps what was buffered", testJournalUnsyncedBufferKeptOnClose);
    testRun("spool: segments above state.json are removed at open", testOpenRemovesUncommitted);
    testRun("spool: a commit failing halfway is undone; the same seq commits later", testFailedCommitUndone);
    testRun("spool: the segmenter over a failing spool: nothing left in the way, sealed again after abandon",
            testSegmenterOverFailingSpool);
    testRun("spool: segments sealed behind the stream over a spool failing at segment 2: nothing past it",
            testSegmenterAsyncOverFailingSpool);
    testRun("spool: probe after a failure; waiting for space ends on a removal", testProbeAndWaitRemoval);
}
