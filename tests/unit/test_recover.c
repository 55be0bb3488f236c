/* Recovery: progress lines, the archive source over real segments (cut from a MariaDB fixture)
 * including a corrupted one, and the planner reading real segments. Times and positions:
 * test_when.c; base backups: test_backup_info.c; the pure planner: test_plan.c; GTID arithmetic:
 * test_gtid.c. The engine against live servers: tests/integration/recover.sh. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/backup.h"
#include "archive/catalog.h"
#include "archive/index.h"
#include "archive/segment.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/mem.h"
#include "recover/progress.h"
#include "recover/recover.h"
#include "recover/source.h"
#include "tests/test.h"

/* ---- progress -------------------------------------------------------------------------------------- */

static void
testProgress(void) {
    RecoverRate r = {0};
    RecoverProgress p = {0};
    char out[256];

    recoverFormatBytes(812, out, sizeof(out));
    CHECK_STR(out, "812 B");
    recoverFormatBytes(1536, out, sizeof(out));
    CHECK_STR(out, "1.50 KiB");
    recoverFormatBytes(35 * 1024 * 1024 + 100 * 1024, out, sizeof(out));
    CHECK_STR(out, "35.1 MiB");
    recoverFormatDuration(5, out, sizeof(out));
    CHECK_STR(out, "0:05");
    recoverFormatDuration(3723, out, sizeof(out));
    CHECK_STR(out, "1:02:03");
    recoverFormatDuration(-1, out, sizeof(out));
    CHECK_STR(out, "--:--");
    CHECK(recoverEta(100, 0) < 0);
    CHECK(recoverEta(0, 0) == 0);
    CHECK(recoverEta(1000, 100) == 10);

    recoverRateSample(&r, 0, 0);
    recoverRateSample(&r, 1, 1000);
    CHECK(r.rate == 1000);
    recoverRateSample(&r, 1.1, 5000); /* too close: ignored */
    CHECK(r.rate == 1000);
    recoverRateSample(&r, 2, 3000);
    CHECK(r.rate > 1000 && r.rate < 2000);

    p.phase = RECOVER_PHASE_APPLYING;
    p.transactions = 12345;
    p.transactionsTotal = 27000;
    p.bytes = 10 * 1024 * 1024;
    p.bytesTotal = 20 * 1024 * 1024;
    p.rate = 8000;
    p.position = "0-1-12345";
    recoverProgressFormat(&p, false, 0, out, sizeof(out));
    CHECK_STR(out, "applied 12345 of 27000 transactions (45%) and 10.0 MiB of 20.0 MiB of binlog, 8000 trx/s, 0:02 "
                   "left, at gtid 0-1-12345");
    recoverProgressFormat(&p, true, 100, out, sizeof(out));
    CHECK(out[0] == '[' && strstr(out, "]  45%  12345/27000 trx  10.0 MiB/20.0 MiB  8000 trx/s  ETA 0:02") != NULL);
    CHECK(strlen(out) <= 100);
    recoverProgressFormat(&p, true, 40, out, sizeof(out));
    CHECK(strlen(out) <= 40);
    p.phase = RECOVER_PHASE_CONNECTING;
    recoverProgressFormat(&p, false, 0, out, sizeof(out));
    CHECK_MSG(out, "waiting for the target");
}

/* ---- the source over real segments -------------------------------------------------------------- */

#define SRC_FIXTURE "mariadb-11.8.5-gtid-stmt.000005.binlog"
#define SRC_FILE "mariadb-repl-bin.000005"

typedef struct SrcArchive {
    Storage *storage;
    Archive *archive;
    SegmentMeta *metas;
    size_t n;
    uint8_t *file; /* the fixture */
    size_t fileLen;
    size_t fdeLen;
} SrcArchive;

/* The fixture cut into segments of `per` transactions, stored and indexed in a directory. */
static int
srcArchive(SrcArchive *s, unsigned per) {
    char path[1024], root[1024];
    BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, 0);
    BinlogTxnFramer *framer = binlogTxnFramerNew(64);
    SegmentWriter *w = NULL;
    const uint8_t *fde = NULL;
    BinlogEvent ev;
    size_t cap = 0;
    Err err = {0};
    int got, rc = 0;

    memset(s, 0, sizeof(*s));
    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), SRC_FIXTURE);
    s->file = testReadFile(path, &s->fileLen);
    BV_ASSERT(s->file != NULL);
    snprintf(root, sizeof(root), "%s/store", testTmpDir());
    BV_ASSERT(mkdir(root, 0700) == 0);
    s->storage = storageNew(root, &err);
    BV_ASSERT(s->storage != NULL);
    s->archive = archiveNew(s->storage);
    binlogReaderFeed(r, s->file, s->fileLen);
    while (rc == 0 && (got = binlogReaderNext(r, &ev, &err)) == 1) {
        uint64_t pos = binlogReaderEventOffset(r);
        const BinlogFormat *fmt = binlogReaderFormat(r);
        int st;

        if (fde == NULL) {
            fde = s->file + BINLOG_MAGIC_LEN;
            s->fdeLen = ev.h.size;
            continue;
        }
        if (w == NULL) {
            SegmentMeta m = {0};
            char *state = binlogTxnFramerGtidState(framer);

            m.seq = s->n + 1;
            m.flavour = fmt->flavour;
            m.serverId = ev.h.serverId;
            snprintf(m.file, sizeof(m.file), SRC_FILE);
            m.startPos = pos;
            m.gtidStart = state;
            snprintf(path, sizeof(path), "%s/spool-%zu", testTmpDir(), s->n + 1);
            w = segmentWriterNew(path, &m, fde, s->fdeLen, &err);
            bvFree(state);
            BV_ASSERT(w != NULL);
        }
        BV_ASSERT(segmentWriterAppend(w, ev.data, ev.h.size, pos + ev.h.size, &err) == 0);
        st = binlogTxnFramerPush(framer, fmt, &ev, pos, &err);
        BV_ASSERT(st >= 0);
        if (ev.h.type == BINLOG_MARIA_GTID_LIST) {
            char *state = binlogTxnFramerGtidState(framer);

            segmentWriterSetGtidStart(w, state);
            bvFree(state);
        }
        if ((st & 0x0f) == BINLOG_TXN_END) {
            const BinlogTxn *t = binlogTxnFramerDone(framer);
            char *state = binlogTxnFramerGtidState(framer);

            segmentWriterTransaction(w, t->gtid, t->commitTimeUs, state);
            bvFree(state);
        }
        if (((st & 0x0f) == BINLOG_TXN_END && segmentWriterTransactions(w) >= per) || binlogReaderPending(r) == 0) {
            if (s->n == cap) {
                cap = cap ? cap * 2 : 8;
                s->metas = bvRealloc(s->metas, cap * sizeof(*s->metas));
            }
            snprintf(path, sizeof(path), "%s/spool-%zu", testTmpDir(), s->n + 1);
            if (segmentWriterSeal(w, binlogReaderPending(r) == 0, &s->metas[s->n], &err) != 0 ||
                archiveSegmentPut(s->archive, path, &s->metas[s->n], &err) != 0)
                rc = -1;
            s->n++;
            segmentWriterFree(w);
            w = NULL;
            unlink(path);
        }
    }
    segmentWriterFree(w);
    binlogReaderFree(r);
    binlogTxnFramerFree(framer);
    if (rc != 0)
        testFail(__FILE__, __LINE__, "archiving the fixture: %s", err.msg);
    return rc;
}

static void
srcArchiveFree(SrcArchive *s) {
    for (size_t i = 0; i < s->n; i++)
        segmentMetaClear(&s->metas[i]);
    bvFree(s->metas);
    archiveFree(s->archive);
    storageFree(s->storage);
    bvFree(s->file);
}

/* Pull events until the source says 0 several times in a row (the fetch thread is done) or
 * fails; the bytes go to `out`. Returns the last result. */
static int
srcDrain(ReplServerSource *src, Buf *out, unsigned *fdes, Err *err) {
    int zeros = 0;

    *fdes = 0;
    for (int i = 0; i < 1000000; i++) {
        const uint8_t *ev;
        size_t len;
        int rc = src->next(src->data, &ev, &len, err);

        if (rc < 0)
            return -1;
        if (rc == 0) {
            RecoverSourceStats st;

            recoverSourceStats(src->data, &st);
            if (st.endOfPlan || ++zeros > 50)
                return 0;
            continue;
        }
        zeros = 0;
        CHECK_STR(src->file(src->data), SRC_FILE);
        if (ev[4] == BINLOG_FORMAT_DESCRIPTION)
            (*fdes)++;
        bufAppend(out, ev, len);
    }
    return 0;
}

static void
testSource(void) {
    SrcArchive a;
    const SegmentMeta **segs;
    RecoverSourceOptions o = {0};
    RecoverSource *s;
    ReplServerSource src;
    RecoverSourceStats st;
    MariaGtidPos *from;
    Buf *out = bufNew(128 * 1024);
    unsigned fdes;
    Err err = {0};

    REQUIRE(srcArchive(&a, 10) == 0);
    REQUIRE(a.n >= 8);
    segs = bvCalloc(a.n, sizeof(*segs));
    for (size_t i = 0; i < a.n; i++)
        segs[i] = &a.metas[i];
    o.tmpDir = testTmpDir();
    s = recoverSourceNew(a.archive, segs, a.n, &o, &err);
    REQUIRE(s != NULL);
    src = recoverSourceInterface(s);

    /* A fresh replica gets the whole file: its FDE once, then every event, byte for byte. */
    REQUIRE(src.open(src.data, NULL, &err) == 0);
    REQUIRE(srcDrain(&src, out, &fdes, &err) == 0);
    CHECK_INT(fdes, 1);
    CHECK(out->len == a.fileLen - BINLOG_MAGIC_LEN);
    CHECK(out->len > a.fdeLen && memcmp(out->data + a.fdeLen, a.file + BINLOG_MAGIC_LEN + a.fdeLen,
                                        a.fileLen - BINLOG_MAGIC_LEN - a.fdeLen) == 0);
    recoverSourceStats(s, &st);
    CHECK(st.endOfPlan);
    CHECK_INT(st.segmentsVerified, a.n);
    CHECK(!st.failed);

    /* A replica that has the first segments starts at the newest one it has the start of. */
    from = mariaGtidPosNew();
    REQUIRE(mariaGtidPosParse(from, segmentMetaGtidStart(&a.metas[3]), &err) == 0);
    bufClear(out);
    REQUIRE(src.open(src.data, from, &err) == 0);
    REQUIRE(srcDrain(&src, out, &fdes, &err) == 0);
    CHECK_INT(fdes, 1);
    CHECK(out->len == a.fdeLen + a.fileLen - a.metas[3].startPos);
    CHECK(memcmp(out->data + a.fdeLen, a.file + a.metas[3].startPos, a.fileLen - a.metas[3].startPos) == 0);
    recoverSourceFree(s);

    /* The same over the catalog view a block at a time (a long plan's source): the whole file,
     * and from the newest segment the replica has the start of, found by halving. */
    {
        ArchiveView *v = archiveViewOpen(a.archive, ARCHIVE_LOAD_DISCOVER, &err);
        RecoverRange *r;

        REQUIRE(v != NULL);
        r = recoverRangeNew(v, a.metas[0].seq, a.metas[a.n - 1].seq, a.metas[a.n - 1].seq);
        REQUIRE((s = recoverSourceNewRange(a.archive, r, a.metas[0].seq, a.n, &o, &err)) != NULL);
        src = recoverSourceInterface(s);
        bufClear(out);
        REQUIRE(src.open(src.data, NULL, &err) == 0);
        REQUIRE(srcDrain(&src, out, &fdes, &err) == 0);
        CHECK_INT(fdes, 1);
        CHECK(out->len == a.fileLen - BINLOG_MAGIC_LEN);
        bufClear(out);
        REQUIRE(src.open(src.data, from, &err) == 0);
        REQUIRE(srcDrain(&src, out, &fdes, &err) == 0);
        CHECK(out->len == a.fdeLen + a.fileLen - a.metas[3].startPos);
        CHECK(memcmp(out->data + a.fdeLen, a.file + a.metas[3].startPos, a.fileLen - a.metas[3].startPos) == 0);
        recoverSourceStats(s, &st);
        CHECK(st.endOfPlan && !st.failed);
        recoverSourceFree(s);
        recoverRangeFree(r);
        archiveViewFree(v);
    }
    mariaGtidPosFree(from);

    /* A corrupted segment: everything before it, then its name; nothing of it. */
    {
        char path[1024];
        FILE *f;

        snprintf(path, sizeof(path), "%s/store/%s", testTmpDir(), a.metas[4].name);
        f = fopen(path, "r+b");
        REQUIRE(f != NULL);
        fseek(f, 300, SEEK_SET);
        fputc('X', f);
        fputc('Y', f);
        fclose(f);
    }
    o.ahead = 1;
    s = recoverSourceNew(a.archive, segs, a.n, &o, &err);
    REQUIRE(s != NULL);
    src = recoverSourceInterface(s);
    bufClear(out);
    REQUIRE(src.open(src.data, NULL, &err) == 0);
    CHECK(srcDrain(&src, out, &fdes, &err) == -1);
    CHECK(strstr(err.msg, a.metas[4].name) != NULL);
    CHECK(out->len == a.metas[4].startPos - BINLOG_MAGIC_LEN);
    recoverSourceStats(s, &st);
    CHECK(st.failed);
    CHECK(strstr(st.failure, a.metas[4].name) != NULL);
    recoverSourceFree(s);

    /* Events of the replica's own server_id are refused (it would skip them). */
    o.replicaServerId = a.metas[0].serverId;
    s = recoverSourceNew(a.archive, segs, 2, &o, &err);
    REQUIRE(s != NULL);
    src = recoverSourceInterface(s);
    bufClear(out);
    REQUIRE(src.open(src.data, NULL, &err) == 0);
    CHECK(srcDrain(&src, out, &fdes, &err) == -1);
    CHECK_INT(err.code, ERR_TARGET);
    CHECK_MSG(err.msg, "the target's own");
    CHECK(out->len == 0);
    recoverSourceFree(s);

    /* An unusable temporary directory is refused up front. */
    o.tmpDir = "/nonexistent/binvault";
    CHECK(recoverSourceNew(a.archive, segs, a.n, &o, &err) == NULL);
    CHECK_INT(err.code, ERR_IO);
    bvFree((void *)segs);
    bufFree(out);
    srcArchiveFree(&a);
}

/* The planner over the same real segments, read through the archive (recoverPlanResolve). */
static void
testPlanResolve(void) {
    SrcArchive a;
    ArchiveCatalog *c;
    RecoverTarget t = {0};
    RecoverPlan *p;
    char *state = NULL;
    Err err = {0};

    REQUIRE(srcArchive(&a, 10) == 0);
    REQUIRE(archiveIndexPut(a.archive, NULL, a.metas, a.n, &err) == 0);
    c = archiveCatalogLoad(a.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    t.kind = RECOVER_UNTIL_GTID;
    t.gtid = "0-10-262630";
    t.exclusive = true;
    p = recoverPlanNew(c, "0-10-262600", &t, &err);
    REQUIRE(p != NULL);
    REQUIRE(recoverPlanResolve(p, a.archive, &err) == 0);
    CHECK_STR(recoverPlanInfo(p)->until, "0-10-262629");
    CHECK_STR(recoverPlanInfo(p)->firstGtid, "0-10-262601");
    CHECK_STR(recoverPlanInfo(p)->lastGtid, "0-10-262629");
    CHECK(recoverPlanInfo(p)->transactions == 29);
    recoverPlanFree(p);
    /* The state at a position: after every transaction that ends at or before it. */
    REQUIRE(recoverStateAtPosition(a.archive, c, SRC_FILE, 2093, &state, &err) == 0);
    CHECK_STR(state, "0-10-262582");
    bvFree(state);
    REQUIRE(recoverStateAtPosition(a.archive, c, SRC_FILE, 2100, &state, &err) == 0);
    CHECK_STR(state, "0-10-262582");
    bvFree(state);
    REQUIRE(recoverStateAtPosition(a.archive, c, SRC_FILE, a.metas[a.n - 1].endPos, &state, &err) == 0);
    CHECK_STR(state, segmentMetaGtidEnd(&a.metas[a.n - 1]));
    bvFree(state);
    CHECK(recoverStateAtPosition(a.archive, c, "other-bin.000001", 400, &state, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    archiveCatalogFree(c);
    srcArchiveFree(&a);
}

void
suite_recover(void) {
    testRun("progress", testProgress);
    testRun("source", testSource);
    testRun("plan resolve", testPlanResolve);
}

