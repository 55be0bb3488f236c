/* Recovery: times and positions, base backups, GTID arithmetic, the pure planner over crafted
 * catalogs, progress lines, and the archive source over real segments (cut from a MariaDB
 * fixture) including a corrupted one. The engine against live servers: tests/integration/recover.sh. */
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

/* ---- times, positions, base backups --------------------------------------------------------------- */

static void
testTimes(void) {
    RecoverTz tz;
    uint64_t us = 0;
    char out[64];
    Err err = {0};

    REQUIRE(recoverTzParse(NULL, &tz, &err) == 0);
    CHECK_INT(tz.kind, RECOVER_TZ_UTC);
    REQUIRE(recoverTimeParse("2026-11-21 14:02:59", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000000ull);
    REQUIRE(recoverTimeParse("2026-11-21T14:02:59.5", &tz, &us, &err) == 0);
    CHECK(us == 1795269779500000ull);
    REQUIRE(recoverTimeParse("2026-11-21 14:02:59.000001", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000001ull);
    recoverTimeFormat(us, &tz, true, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59.000001");
    recoverTimeFormat(us, &tz, false, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59");

    REQUIRE(recoverTzParse("+02:00", &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, 7200);
    REQUIRE(recoverTimeParse("2026-11-21 16:02:59", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000000ull);
    recoverTimeFormat(us, &tz, false, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 16:02:59");
    REQUIRE(recoverTzParse("-0530", &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, -(5 * 3600 + 30 * 60));
    REQUIRE(recoverTzParse("-05", &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, -5 * 3600);
    if (access("/usr/share/zoneinfo/Europe/Paris", R_OK) == 0 && getenv("TZDIR") == NULL) {
        REQUIRE(recoverTzParse("Europe/Paris", &tz, &err) == 0);
        CHECK_INT(tz.kind, RECOVER_TZ_NAMED);
        /* CET in November: UTC+1. */
        REQUIRE(recoverTimeParse("2026-11-21 15:02:59", &tz, &us, &err) == 0);
        CHECK(us == 1795269779000000ull);
        recoverTimeFormat(us, &tz, false, out, sizeof(out));
        CHECK_STR(out, "2026-11-21 15:02:59");
        /* CEST in July: UTC+2. */
        REQUIRE(recoverTimeParse("2026-07-01 12:00:00", &tz, &us, &err) == 0);
        CHECK(us == 1782900000000000ull);
        CHECK(getenv("TZ") == NULL || strcmp(getenv("TZ"), "Europe/Paris") != 0);
    }
    CHECK(recoverTzParse("Mars/Olympus", &tz, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK(recoverTzParse("+25:00", &tz, &err) != 0);
    CHECK(recoverTzParse("../etc/passwd", &tz, &err) != 0);

    recoverTzParse("UTC", &tz, &err);
    CHECK(recoverTimeParse("2026-11-21", &tz, &us, &err) != 0);
    CHECK_MSG(err.msg, "YYYY-MM-DD HH:MM:SS");
    CHECK(recoverTimeParse("2026-02-30 00:00:00", &tz, &us, &err) != 0);
    CHECK_MSG(err.msg, "no such date");
    CHECK(recoverTimeParse("2028-02-29 00:00:00", &tz, &us, &err) == 0);
    CHECK(recoverTimeParse("2026-11-21 24:00:00", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("2026-11-21 14:02:59.1234567", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("2026-11-21 14:02:59.", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("2026-11-21 14:02:59 UTC", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("1969-12-31 23:59:59", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("2026-1-21 14:02:59", &tz, &us, &err) != 0);
}

static void
testPositions(void) {
    char file[SEGMENT_FILE_MAX];
    uint64_t pos = 0;
    Err err = {0};

    REQUIRE(recoverPositionParse("mariadb-bin.000003:256", file, sizeof(file), &pos, &err) == 0);
    CHECK_STR(file, "mariadb-bin.000003");
    CHECK(pos == 256);
    CHECK(recoverPositionParse("mariadb-bin.000003", file, sizeof(file), &pos, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK(recoverPositionParse("mariadb-bin.000003:", file, sizeof(file), &pos, &err) != 0);
    CHECK(recoverPositionParse(":256", file, sizeof(file), &pos, &err) != 0);
    CHECK(recoverPositionParse("a/b:256", file, sizeof(file), &pos, &err) != 0);
    CHECK(recoverPositionParse("bin.1:-5", file, sizeof(file), &pos, &err) != 0);
    CHECK(recoverPositionParse("bin.1:99999999999999999999999", file, sizeof(file), &pos, &err) != 0);
}

static void
writeText(const char *dir, const char *name, const char *text) {
    char path[1024];
    Err err = {0};

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    BV_ASSERT(fsWriteFileAtomic(path, text, strlen(text), 0600, &err) == 0);
}

static void
testBaseDir(void) {
    char dir[1024];
    ArchiveBasePoint bp;
    const char *source = NULL;
    Err err = {0};

    snprintf(dir, sizeof(dir), "%s/none", testTmpDir());
    CHECK(recoverBaseDirRead(dir, &bp, &source, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    BV_ASSERT(mkdir(dir, 0700) == 0);
    CHECK(recoverBaseDirRead(dir, &bp, &source, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK(strstr(err.msg, "xtrabackup_binlog_info") != NULL && strstr(err.msg, "mariadb_backup_binlog_info") != NULL);

    /* What mariadb-backup 10.11 writes; the InnoDB-only file is never read. */
    writeText(dir, "xtrabackup_binlog_pos_innodb", "binlog.000001\t4\n");
    writeText(dir, "xtrabackup_binlog_info", "binlog.000015\t38395403\t0-1-360\n");
    REQUIRE(recoverBaseDirRead(dir, &bp, &source, &err) == 0);
    CHECK_STR(bp.file, "binlog.000015");
    CHECK(bp.pos == 38395403);
    CHECK_STR(bp.gtid, "0-1-360");
    CHECK_STR(source, "xtrabackup_binlog_info");
    archiveBasePointClear(&bp);
    /* Later versions' name; both agreeing is fine, disagreeing is refused. */
    writeText(dir, "mariadb_backup_binlog_info", "binlog.000015\t38395403\t0-1-360\n");
    REQUIRE(recoverBaseDirRead(dir, &bp, &source, &err) == 0);
    archiveBasePointClear(&bp);
    writeText(dir, "mariadb_backup_binlog_info", "binlog.000015\t38395999\t0-1-361\n");
    CHECK(recoverBaseDirRead(dir, &bp, &source, &err) != 0);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "38395999");
    snprintf(dir, sizeof(dir), "%s/new", testTmpDir());
    BV_ASSERT(mkdir(dir, 0700) == 0);
    writeText(dir, "mariadb_backup_binlog_info", "mariadb-bin.000002\t1234\t0-1-5,1-2-7\n");
    REQUIRE(recoverBaseDirRead(dir, &bp, &source, &err) == 0);
    CHECK_STR(bp.gtid, "0-1-5,1-2-7");
    CHECK_STR(source, "mariadb_backup_binlog_info");
    archiveBasePointClear(&bp);
    writeText(dir, "mariadb_backup_binlog_info", "garbage\n");
    CHECK(recoverBaseDirRead(dir, &bp, &source, &err) != 0);
    CHECK_INT(err.code, ERR_FORMAT);
}

static void
testGtidCount(void) {
    uint64_t n = 0;
    Err err = {0};

    REQUIRE(recoverGtidCount(BINLOG_FLAVOUR_MARIADB, "0-1-100,1-1-5", "0-1-150,1-1-5,2-1-3", &n, &err) == 0);
    CHECK(n == 53);
    REQUIRE(recoverGtidCount(BINLOG_FLAVOUR_MARIADB, "0-1-150", "0-1-100", &n, &err) == 0);
    CHECK(n == 0);
    REQUIRE(recoverGtidCount(BINLOG_FLAVOUR_MARIADB, "", "0-2-7", &n, &err) == 0);
    CHECK(n == 7);
    REQUIRE(recoverGtidCount(BINLOG_FLAVOUR_MYSQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10",
                             "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-25", &n, &err) == 0);
    CHECK(n == 15);
    CHECK(recoverGtidCount(BINLOG_FLAVOUR_MARIADB, "x", "0-1-1", &n, &err) != 0);
}

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
    segmentName(seq, file, start, m->name, sizeof(m->name));
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

/* Plan, feed the scans, finish; NULL on failure (err set). */
static RecoverPlan *
plan(const ArchiveCatalog *c, const char *start, const RecoverTarget *t, Err *err) {
    RecoverPlan *p = recoverPlanNew(c, start, t, err);
    size_t scans[2], n;

    if (p == NULL)
        return NULL;
    n = recoverPlanScans(p, scans);
    for (size_t i = 0; i < n; i++)
        if (feedSegment(p, c, scans[i], err) < 0) {
            recoverPlanFree(p);
            return NULL;
        }
    if (recoverPlanFinish(p, err) != 0) {
        recoverPlanFree(p);
        return NULL;
    }
    return p;
}

static void
testPlanTargets(void) {
    ArchiveCatalog *c = plannedCatalog();
    RecoverTarget t;
    RecoverPlan *p;
    const RecoverPlanInfo *in;
    size_t scans[2];
    Err err = {0};

    /* Time, inclusive: t=1015 is the 6th transaction of segment 2 (0-1-16). */
    memset(&t, 0, sizeof(t));
    t.kind = RECOVER_UNTIL_TIME;
    t.timeUs = 1015 * 1000000ull;
    p = recoverPlanNew(c, "0-1-5", &t, &err);
    REQUIRE(p != NULL);
    CHECK_INT(recoverPlanScans(p, scans), 2);
    CHECK_INT(scans[0], 0);
    CHECK_INT(scans[1], 1);
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
    recoverPlanToJson(p, out);
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
    CHECK(st.segmentsVerified == a.n);
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
    mariaGtidPosFree(from);
    recoverSourceFree(s);

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
    testRun("times", testTimes);
    testRun("positions", testPositions);
    testRun("base dir", testBaseDir);
    testRun("gtid count", testGtidCount);
    testRun("choose start", testChooseStart);
    testRun("plan targets", testPlanTargets);
    testRun("plan refusals", testPlanRefusals);
    testRun("plan json", testPlanJson);
    testRun("progress", testProgress);
    testRun("source", testSource);
    testRun("plan resolve", testPlanResolve);
}
