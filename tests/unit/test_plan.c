/* Unit tests of recover/plan.c: where a recovery starts, and the planner over crafted catalogs
 * (the planner over real segments: test_recover.c, "plan resolve"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/segment.h"
#include "binlog/txn.h"
#include "common/json.h"
#include "common/mem.h"
#include "recover/plan.h"
#include "tests/test.h"

/* ---- where a recovery starts ---------------------------------------------------------------------- */

static void
testChooseStart(void) {
    const char *end = "0-1-500,1-1-20";
    char *start = NULL;
    const char *why = NULL;
    Err err = {0};

    /* A restored server: empty gtid_slave_pos; the backup decides. */
    REQUIRE(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, "0-1-360", "", end, &start, &why, &err) == 0);
    CHECK_STR(start, "0-1-360");
    bvFree(start);
    /* No start at all. */
    CHECK(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, NULL, "", end, &start, &why, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "--base-dir");
    /* Continuing: the target's position. */
    REQUIRE(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, NULL, "0-1-400", end, &start, &why, &err) == 0);
    CHECK_STR(start, "0-1-400");
    CHECK_MSG(why, "continuing");
    bvFree(start);
    /* A stale position behind the backup is replaced. */
    REQUIRE(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, "0-1-360", "0-1-12", end, &start, &why, &err) == 0);
    CHECK_STR(start, "0-1-360");
    bvFree(start);
    /* ... and so is one the archive never reached (another server's, a domain it does not have). */
    REQUIRE(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, "0-1-360", "0-1-360,5-9-100", end, &start, &why, &err) == 0);
    CHECK_STR(start, "0-1-360");
    bvFree(start);
    REQUIRE(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, "0-1-360", "0-1-9000", end, &start, &why, &err) == 0);
    CHECK_STR(start, "0-1-360");
    bvFree(start);
    /* Past the backup along the archive: an earlier run applied more; starting over would apply
     * it twice. Also when the progress is in a domain the backup did not have yet. */
    CHECK(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, "0-1-360", "0-1-400", end, &start, &why, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "without --base-dir");
    CHECK(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, "0-1-360", "0-1-360,1-1-3", end, &start, &why, &err) != 0);
    /* The same position is fine. */
    REQUIRE(recoverChooseStart(BINLOG_FLAVOUR_MARIADB, "0-1-360", "0-1-360", end, &start, &why, &err) == 0);
    bvFree(start);
}

/* ---- the planner over crafted catalogs ------------------------------------------------------------ */

/* Segment seq of file `file` [start, end), states gs -> ge, transactions first..last at times. */
static void
crafted(SegmentMeta *m, uint64_t seq, const char *file, uint64_t start, uint64_t end, const char *gs, const char *ge,
        const char *firstGtid, const char *lastGtid, uint64_t firstS, uint64_t lastS, uint64_t txns) {
    memset(m, 0, sizeof(*m));
    m->seq = seq;
    m->flavour = BINLOG_FLAVOUR_MARIADB;
    m->serverId = 1;
    snprintf(m->file, sizeof(m->file), "%s", file);
    m->startPos = start;
    m->endPos = end;
    m->fdeLen = 252;
    m->contentLen = 252 + end - start;
    memset(m->contentSha256, 'a', 64);
    m->gtidStart = (char *)gs;
    m->gtidEnd = (char *)ge;
    snprintf(m->firstGtid, sizeof(m->firstGtid), "%s", firstGtid);
    snprintf(m->lastGtid, sizeof(m->lastGtid), "%s", lastGtid);
    m->firstTimeUs = firstS * 1000000ull;
    m->lastTimeUs = lastS * 1000000ull;
    m->transactions = txns;
    segmentName(seq, file, start, SEGMENT_NAMING_GROUPED, m->name, sizeof(m->name));
    memset(m->sha256, 'b', 64);
    m->size = 100 * seq;
}

/* Four segments of bin.000001 (from 256), then bin.000002 (from 256); 10 transactions of domain
 * 0 each (gtids 0-1-1 ..), 100 bytes each, one per second from t=1000; domain 1 has one
 * transaction, 1-1-1, as the 5th transaction of segment 3. */
static ArchiveCatalog *
plannedCatalog(void) {
    ArchiveCatalog *c = archiveCatalogNew();
    SegmentMeta m;
    Err err = {0};

    crafted(&m, 1, "bin.000001", 256, 1256, "", "0-1-10", "0-1-1", "0-1-10", 1000, 1009, 10);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    crafted(&m, 2, "bin.000001", 1256, 2256, "0-1-10", "0-1-20", "0-1-11", "0-1-20", 1010, 1019, 10);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    crafted(&m, 3, "bin.000001", 2256, 3356, "0-1-20", "0-1-30,1-1-1", "0-1-21", "0-1-30", 1020, 1030, 11);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    crafted(&m, 4, "bin.000001", 3356, 4356, "0-1-30,1-1-1", "0-1-40,1-1-1", "0-1-31", "0-1-40", 1031, 1040, 10);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    crafted(&m, 5, "bin.000002", 256, 1256, "0-1-40,1-1-1", "0-1-50,1-1-1", "0-1-41", "0-1-50", 1041, 1050, 10);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    return c;
}

/* Feed the transactions of catalog entry idx as plannedCatalog() describes them. */
static int
feedSegment(RecoverPlan *p, const ArchiveCatalog *c, size_t idx, Err *err) {
    const SegmentMeta *m = archiveCatalogAt(c, idx);
    uint64_t first = strtoull(strrchr(m->firstGtid, '-') + 1, NULL, 10);
    uint64_t pos = m->startPos, t = m->firstTimeUs / 1000000u;
    bool domain1 = false;

    for (uint64_t i = 0; i < m->transactions; i++) {
        BinlogTxn txn;
        char state[64];
        uint64_t seq0 = first + i - (domain1 ? 1 : 0);
        int rc;

        memset(&txn, 0, sizeof(txn));
        txn.startPos = pos;
        txn.endPos = pos + 100;
        txn.commitTimeUs = t++ * 1000000u;
        txn.statement = "";
        if (m->seq == 3 && i == 5) {
            snprintf(txn.gtid, sizeof(txn.gtid), "1-1-1");
            domain1 = true;
            snprintf(state, sizeof(state), "0-1-%llu,1-1-1", (unsigned long long)(seq0 - 1));
        } else {
            snprintf(txn.gtid, sizeof(txn.gtid), "0-1-%llu", (unsigned long long)seq0);
            if (domain1 || m->seq > 3)
                snprintf(state, sizeof(state), "0-1-%llu,1-1-1", (unsigned long long)seq0);
            else
                snprintf(state, sizeof(state), "0-1-%llu", (unsigned long long)seq0);
        }
        pos += 100;
        rc = recoverPlanFeed(p, idx, &txn, state, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}

typedef int FeedFn(RecoverPlan *p, const ArchiveCatalog *c, size_t idx, Err *err);

/* Plan, feed the scans with `feed`, finish; NULL on failure (err set). *reads counts the
 * segments read (when not NULL). */
static RecoverPlan *
planWith(const ArchiveCatalog *c, const char *start, const RecoverTarget *t, FeedFn *feed, size_t *reads, Err *err) {
    RecoverPlan *p = recoverPlanNew(c, start, t, err);
    size_t idx;

    if (reads != NULL)
        *reads = 0;
    if (p == NULL)
        return NULL;
    while (recoverPlanNextScan(p, &idx)) {
        if (reads != NULL)
            (*reads)++;
        if (feed(p, c, idx, err) < 0) {
            recoverPlanFree(p);
            return NULL;
        }
    }
    if (recoverPlanFinish(p, err) != 0) {
        recoverPlanFree(p);
        return NULL;
    }
    return p;
}

static RecoverPlan *
plan(const ArchiveCatalog *c, const char *start, const RecoverTarget *t, Err *err) {
    return planWith(c, start, t, feedSegment, NULL, err);
}

static void
testPlanTargets(void) {
    ArchiveCatalog *c = plannedCatalog();
    RecoverTarget t;
    RecoverPlan *p;
    const RecoverPlanInfo *in;
    size_t scans[8], nscans = 0, idx;
    Err err = {0};

    /* Time, inclusive: t=1015 is the 6th transaction of segment 2 (0-1-16). */
    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_TIME;
    t.timeUs = 1015 * 1000000ull;
    p = recoverPlanNew(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    while (nscans < 8 && recoverPlanNextScan(p, &idx)) {
        scans[nscans++] = idx;
        REQUIRE(feedSegment(p, c, idx, &err) == 0);
    }
    /* The start's segment, the cut's, and the one after it (commits dated before the time). */
    CHECK_INT(nscans, 3);
    CHECK_INT(scans[0], 0);
    CHECK_INT(scans[1], 1);
    CHECK_INT(scans[2], 2);
    recoverPlanFree(p);
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    in = recoverPlanInfo(p);
    CHECK_STR(in->until, "0-1-16");
    CHECK_INT(in->first, 0);
    CHECK_INT(in->last, 1);
    CHECK_INT(in->segments, 2);
    CHECK(in->transactions == 11);
    CHECK_STR(in->firstGtid, "0-1-6");
    CHECK(in->firstPos == 756);
    CHECK_STR(in->lastGtid, "0-1-16");
    CHECK(in->lastEndPos == 1856);
    CHECK(in->bytes == 300);
    recoverPlanFree(p);
    /* ... exclusive: the transaction committed at 1015 is left out. */
    t.exclusive = true;
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-15");
    recoverPlanFree(p);
    /* A time between two segments' commits: the cut is at the end of the earlier one. */
    t.exclusive = false;
    t.timeUs = 1019 * 1000000ull + 500000;
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-20");
    CHECK_INT(recoverPlanInfo(p)->last, 1);
    recoverPlanFree(p);
    /* Exclusive of the first commit of a segment: the cut is before the segment. */
    t.exclusive = true;
    t.timeUs = 1020 * 1000000ull;
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-20");
    CHECK_INT(recoverPlanInfo(p)->last, 1);
    CHECK_STR(recoverPlanInfo(p)->lastGtid, "0-1-20");
    recoverPlanFree(p);

    /* GTID, exclusive (skip the bad statement): every domain's state before it. */
    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_GTID;
    t.gtid = "0-1-28";
    t.exclusive = true;
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-27,1-1-1");
    CHECK_INT(recoverPlanInfo(p)->last, 2);
    recoverPlanFree(p);
    t.exclusive = false;
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-28,1-1-1");
    recoverPlanFree(p);
    /* Inclusive stops right after it: not the domain-1 transaction that follows. */
    t.gtid = "0-1-25";
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-25");
    recoverPlanFree(p);
    t.gtid = "1-1-1";
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-25,1-1-1");
    recoverPlanFree(p);
    /* A set, per domain: inclusive stops once every GTID is in; exclusive before the first. */
    t.gtid = "0-1-22,1-1-1";
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-25,1-1-1");
    recoverPlanFree(p);
    t.exclusive = true;
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-21");
    recoverPlanFree(p);

    /* Position: transactions that end at or before it (exclusive: before it). */
    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_POSITION;
    snprintf(t.file, sizeof(t.file), "bin.000001");
    t.pos = 1856; /* the end of 0-1-16 */
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-16");
    recoverPlanFree(p);
    t.exclusive = true;
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-15");
    recoverPlanFree(p);
    t.exclusive = false;
    t.pos = 1800; /* inside 0-1-16 */
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-15");
    recoverPlanFree(p);
    t.pos = 1256; /* a segment boundary */
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-10");
    CHECK_INT(recoverPlanInfo(p)->last, 0);
    recoverPlanFree(p);

    /* The end, across the file boundary; a start inside a segment. */
    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_END;
    p = plan(c, "0-1-33,1-1-1", &t, &err);
    REQUIRE(p != NULL);
    in = recoverPlanInfo(p);
    CHECK_STR(in->until, "0-1-50,1-1-1");
    CHECK_INT(in->first, 3);
    CHECK_INT(in->last, 4);
    CHECK(in->transactions == 17);
    CHECK_STR(in->firstGtid, "0-1-34");
    CHECK_STR(in->lastGtid, "0-1-50");
    CHECK_STR(in->lastFile, "bin.000002");
    recoverPlanFree(p);
    /* Already there. */
    p = plan(c, "0-1-50,1-1-1", &t, &err);
    REQUIRE(p != NULL);
    CHECK_INT(recoverPlanInfo(p)->segments, 0);
    CHECK(recoverPlanInfo(p)->transactions == 0);
    recoverPlanFree(p);
    /* From the very start (an empty state). */
    p = plan(c, "", &t, &err);
    REQUIRE(p != NULL);
    CHECK_INT(recoverPlanInfo(p)->segments, 5);
    CHECK(recoverPlanInfo(p)->transactions == 51);
    recoverPlanFree(p);
    archiveCatalogFree(c);
}

static void
testPlanRefusals(void) {
    ArchiveCatalog *c = plannedCatalog();
    RecoverTarget t;
    RecoverPlan *p;
    SegmentMeta m;
    Err err = {0};

    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_GTID;
    t.gtid = "0-1-12";
    CHECK(plan(c, "0-1-25", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "before the start");
    t.gtid = "0-1-99";
    CHECK(plan(c, "0-1-25", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "after the end");
    t.gtid = "garbage";
    CHECK(plan(c, "0-1-25", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    t.gtid = "";
    CHECK(plan(c, "0-1-25", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);

    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_TIME;
    t.timeUs = 999 * 1000000ull;
    CHECK(plan(c, "0-1-5", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "before the first archived commit");
    t.timeUs = 2000 * 1000000ull;
    CHECK(plan(c, "0-1-5", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "after the last archived commit");

    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_POSITION;
    snprintf(t.file, sizeof(t.file), "bin.000009");
    t.pos = 400;
    CHECK(plan(c, "0-1-5", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);
    t.kind = RECOVER_UNTIL_NONE;
    CHECK(plan(c, "0-1-5", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    archiveCatalogFree(c);

    /* A gap in the range (seq 3 missing), and a start before the archive. */
    c = archiveCatalogNew();
    crafted(&m, 1, "bin.000001", 256, 1256, "0-1-100", "0-1-110", "0-1-101", "0-1-110", 1000, 1009, 10);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    crafted(&m, 2, "bin.000001", 1256, 2256, "0-1-110", "0-1-120", "0-1-111", "0-1-120", 1010, 1019, 10);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    crafted(&m, 4, "bin.000001", 3256, 4256, "0-1-130", "0-1-140", "0-1-131", "0-1-140", 1030, 1039, 10);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_END;
    CHECK(plan(c, "0-1-105", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_GAP);
    CHECK_MSG(err.msg, "seq 3 missing");
    CHECK(plan(c, "0-1-50", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "before the archive");
    /* Within the first window, it is fine. */
    t.kind = RECOVER_UNTIL_GTID;
    t.gtid = "0-1-115";
    p = plan(c, "0-1-105", &t, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-115");
    recoverPlanFree(p);
    archiveCatalogFree(c);
}

static void
testPlanJson(void) {
    ArchiveCatalog *c = plannedCatalog();
    RecoverTarget t = {.kind = RECOVER_UNTIL_END};
    RecoverPlan *p;
    Buf *out = bufNew(256);
    JsonValue *v;
    Err err = {0};

    p = plan(c, "0-1-33,1-1-1", &t, &err);
    REQUIRE(p != NULL);
    REQUIRE(recoverPlanToJson(p, out, NULL, NULL, &err) == 0);
    v = jsonParse((const char *)out->data, out->len, &err);
    REQUIRE(v != NULL);
    CHECK_STR(jsonStr(jsonGet(v, "until"), NULL), "0-1-50,1-1-1");
    CHECK_INT(jsonLen(jsonGet(v, "objects")), 2);
    CHECK_STR(jsonStr(jsonGet(jsonGet(v, "target"), "kind"), NULL), "end");
    jsonFree(v);
    bufClear(out);
    recoverDescribeWindows(c, out);
    bufAppend(out, "", 1);
    CHECK(strstr((const char *)out->data, "restorable window seq 1-5: bin.000001:256") != NULL);
    bufFree(out);
    recoverPlanFree(p);
    archiveCatalogFree(c);
}

/* Binlog bytes of a plan before the applier's position, for progress. */
static void
testPlanBytes(void) {
    ArchiveCatalog *c = plannedCatalog();
    RecoverTarget t;
    RecoverPlan *p;
    Err err = {0};

    /* From 0-1-6 (bin.000001:756) through 0-1-16 (ends at bin.000001:1856), across segments 1-2. */
    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_TIME;
    t.timeUs = 1015 * 1000000ull;
    p = recoverPlanNew(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK(!recoverPlanFinished(p));
    recoverPlanFree(p);
    p = plan(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK(recoverPlanFinished(p));
    CHECK(recoverPlanCatalog(p) == c);
    CHECK(recoverPlanBytes(p, NULL, 0) == 1100);
    CHECK(recoverPlanBytes(p, "", 0) == 0);
    CHECK(recoverPlanBytes(p, "bin.000001", 756) == 0);
    CHECK(recoverPlanBytes(p, "bin.000001", 1000) == 244);
    CHECK(recoverPlanBytes(p, "bin.000001", 1256) == 500);
    CHECK(recoverPlanBytes(p, "bin.000001", 1356) == 600);
    /* Past the last transaction, or in a later file: all of it. */
    CHECK(recoverPlanBytes(p, "bin.000001", 2000) == 1100);
    CHECK(recoverPlanBytes(p, "bin.000002", 300) == 1100);
    recoverPlanFree(p);
    archiveCatalogFree(c);
}

/* ---- a time target when commit times do not follow binlog order (issue 14) ---------------------- */

/* Commit times (seconds) of the transactions 0-1-1.. of three segments: segment 2 starts with a
 * commit back-dated before segment 1's, then 0-1-5 is the DROP at 1010; segment 3 starts with a
 * session's SET TIMESTAMP commit at 900. */
static const uint64_t disorderTimes[3][3] = {{1000, 1001, 1002}, {995, 1010, 0}, {900, 1011, 1012}};
static const uint64_t disorderCount[3] = {3, 2, 3};

static ArchiveCatalog *
disorderCatalog(void) {
    ArchiveCatalog *c = archiveCatalogNew();
    static const char *const states[] = {"", "0-1-3", "0-1-5", "0-1-8"};
    uint64_t pos = 256, n = 1;
    SegmentMeta m;
    Err err = {0};

    for (uint64_t s = 0; s < 3; s++) {
        char fg[16], lg[16];
        uint64_t k = disorderCount[s];

        snprintf(fg, sizeof(fg), "0-1-%llu", (unsigned long long)n);
        snprintf(lg, sizeof(lg), "0-1-%llu", (unsigned long long)(n + k - 1));
        crafted(&m, s + 1, "bin.000001", pos, pos + 100 * k, states[s], states[s + 1], fg, lg, disorderTimes[s][0],
                disorderTimes[s][k - 1], k);
        BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
        pos += 100 * k;
        n += k;
    }
    return c;
}

/* Feed the transactions of entry idx of disorderCatalog(). */
static int
feedDisorder(RecoverPlan *p, const ArchiveCatalog *c, size_t idx, Err *err) {
    const SegmentMeta *m = archiveCatalogAt(c, idx);
    uint64_t n = strtoull(strrchr(m->firstGtid, '-') + 1, NULL, 10);

    for (uint64_t i = 0; i < disorderCount[idx]; i++) {
        BinlogTxn txn;
        char state[32];

        memset(&txn, 0, sizeof(txn));
        txn.startPos = m->startPos + 100 * i;
        txn.endPos = txn.startPos + 100;
        txn.commitTimeUs = disorderTimes[idx][i] * 1000000ull;
        txn.statement = "";
        snprintf(txn.gtid, sizeof(txn.gtid), "0-1-%llu", (unsigned long long)(n + i));
        snprintf(state, sizeof(state), "0-1-%llu", (unsigned long long)(n + i));
        if (recoverPlanFeed(p, idx, &txn, state, err) < 0)
            return -1;
    }
    return 0;
}

static RecoverPlan *
disorderPlan(const ArchiveCatalog *c, const RecoverTarget *t, size_t *reads, Err *err) {
    return planWith(c, "0-1-1", t, feedDisorder, reads, err);
}

static void
testPlanTimeDisorder(void) {
    ArchiveCatalog *c = disorderCatalog();
    RecoverTarget t;
    RecoverPlan *p;
    const RecoverPlanInfo *in;
    size_t reads;
    Buf *out;
    JsonValue *v;
    Err err = {0};

    /* Just before the DROP (0-1-5 at 1010). Segment 3 starts at 900, so trusting the segments'
     * first commits put the cut in segment 3 and applied the DROP. The cut is before 0-1-5, and
     * since 0-1-6 (900) comes after it, the time is ambiguous: refused, naming both. */
    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_TIME;
    t.timeUs = 1009 * 1000000ull;
    CHECK(disorderPlan(c, &t, &reads, &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "'0-1-5'");
    CHECK_MSG(err.msg, "'0-1-6'");
    CHECK_MSG(err.msg, "--allow-time-disorder");
    /* Allowed: stops before the DROP, and says why. */
    t.allowTimeDisorder = true;
    p = disorderPlan(c, &t, &reads, &err);
    REQUIRE(p != NULL);
    in = recoverPlanInfo(p);
    CHECK_STR(in->until, "0-1-4");
    CHECK_INT(in->last, 1);
    CHECK_STR(in->lastGtid, "0-1-4");
    CHECK_STR(in->cutGtid, "0-1-5");
    CHECK(in->cutTimeUs == 1010 * 1000000ull);
    CHECK(in->timeBackwards == 1); /* 0-1-4 at 995 after 0-1-3 at 1002 */
    CHECK(in->timeAmbiguous == 1);
    CHECK_INT(reads, 3); /* segment 3, after the cut's, is read for commits dated before the time */
    out = bufNew(256);
    REQUIRE(recoverPlanToJson(p, out, NULL, NULL, &err) == 0);
    v = jsonParse((const char *)out->data, out->len, &err);
    REQUIRE(v != NULL);
    CHECK_STR(jsonStr(jsonGet(jsonGet(jsonGet(v, "time_order"), "cut"), "gtid"), NULL), "0-1-5");
    CHECK_INT(jsonLen(jsonGet(jsonGet(v, "time_order"), "notes")), 2);
    jsonFree(v);
    bufFree(out);
    recoverPlanFree(p);
    /* --exclusive at the DROP's second: the same cut. */
    t.timeUs = 1010 * 1000000ull;
    t.exclusive = true;
    p = disorderPlan(c, &t, &reads, &err);
    REQUIRE(p != NULL);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-4");
    recoverPlanFree(p);
    /* After every back-dated commit: segment 3 is read too, nothing is ambiguous, and the
     * backwards steps are reported. */
    t.exclusive = t.allowTimeDisorder = false;
    t.timeUs = 1011 * 1000000ull;
    p = disorderPlan(c, &t, &reads, &err);
    REQUIRE(p != NULL);
    in = recoverPlanInfo(p);
    CHECK_STR(in->until, "0-1-7");
    CHECK(in->timeBackwards == 2 && in->timeAmbiguous == 0);
    CHECK_INT(reads, 3);
    recoverPlanFree(p);
    /* Before the first commit of the archive: outside it, as before. */
    t.timeUs = 999 * 1000000ull;
    CHECK(recoverPlanNew(c, "0-1-1", &t, &err) == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);
    archiveCatalogFree(c);
}

/* Feed entry idx: its transactions one per second from its first commit (none for an empty one). */
static int
feedSparse(RecoverPlan *p, const ArchiveCatalog *c, size_t idx, Err *err) {
    const SegmentMeta *m = archiveCatalogAt(c, idx);

    for (uint64_t i = 0; i < m->transactions; i++) {
        uint64_t n = strtoull(strrchr(m->firstGtid, '-') + 1, NULL, 10) + i;
        BinlogTxn txn;
        char state[32];

        memset(&txn, 0, sizeof(txn));
        txn.startPos = m->startPos + 100 * i;
        txn.endPos = txn.startPos + 100;
        txn.commitTimeUs = m->firstTimeUs + i * 1000000ull;
        txn.statement = "";
        snprintf(txn.gtid, sizeof(txn.gtid), "0-1-%llu", (unsigned long long)n);
        snprintf(state, sizeof(state), "0-1-%llu", (unsigned long long)n);
        if (recoverPlanFeed(p, idx, &txn, state, err) < 0)
            return -1;
    }
    return 0;
}

/* A segment without transactions (a rotation, heartbeats) in the range read for a time. */
static void
testPlanTimeEmptySegment(void) {
    ArchiveCatalog *c = archiveCatalogNew();
    RecoverTarget t = {.kind = RECOVER_UNTIL_TIME, .timeUs = 1005 * 1000000ull};
    RecoverPlan *p;
    SegmentMeta m;
    size_t reads;
    Err err = {0};

    crafted(&m, 1, "bin.000001", 256, 556, "", "0-1-3", "0-1-1", "0-1-3", 1000, 1002, 3);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    crafted(&m, 2, "bin.000001", 556, 600, "0-1-3", "0-1-3", "", "", 0, 0, 0);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    crafted(&m, 3, "bin.000001", 600, 800, "0-1-3", "0-1-5", "0-1-4", "0-1-5", 1005, 1006, 2);
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    p = planWith(c, "0-1-1", &t, feedSparse, &reads, &err);
    REQUIRE(p != NULL);
    CHECK_INT(reads, 3);
    CHECK_STR(recoverPlanInfo(p)->until, "0-1-4");
    CHECK_INT(recoverPlanInfo(p)->segments, 3);
    recoverPlanFree(p);
    archiveCatalogFree(c);
}

void suite_plan(void);

void
suite_plan(void) {
    testRun("choose start", testChooseStart);
    testRun("plan targets", testPlanTargets);
    testRun("plan refusals", testPlanRefusals);
    testRun("plan json", testPlanJson);
    testRun("plan bytes before a position", testPlanBytes);
    testRun("plan: --until-time when commit times go backwards", testPlanTimeDisorder);
    testRun("plan: --until-time over a segment without transactions", testPlanTimeEmptySegment);
}
