/* Unit tests of agent/fork.c: the new source's GTID history (MariaDB @@gtid_binlog_state with
 * server ids, MySQL gtid_executed) and the scan that finds the fork point and the diverged branch. */
#include <string.h>

#include "agent/fork.h"
#include "tests/test.h"

static BinlogTxn
txn(const char *gtid, uint64_t endPos, uint64_t us) {
    BinlogTxn t;

    memset(&t, 0, sizeof(t));
    snprintf(t.gtid, sizeof(t.gtid), "%s", gtid);
    t.endPos = endPos;
    t.commitTimeUs = us;
    return t;
}

static void
testMariaHistoryByServer(void) {
    Err err;
    ForkHistory *h = forkHistoryNew(BINLOG_FLAVOUR_MARIADB, "0-1-269,0-2-300,1-1-5", &err);
    bool has;

    REQUIRE(h != NULL);
    CHECK(forkHistoryHasGtid(h, "0-1-269"));
    CHECK(forkHistoryHasGtid(h, "0-1-1"));
    /* The old primary's 270 is not the new primary's, though domain 0 reached 300. */
    CHECK(!forkHistoryHasGtid(h, "0-1-270"));
    CHECK(forkHistoryHasGtid(h, "0-2-280"));
    CHECK(!forkHistoryHasGtid(h, "0-3-1"));
    CHECK(!forkHistoryHasGtid(h, "2-1-1"));
    CHECK(!forkHistoryHasGtid(h, "garbage"));
    CHECK(!forkHistoryHasGtid(h, ""));
    REQUIRE(forkHistoryHasState(h, "0-1-269,1-1-5", &has, &err) == 0);
    CHECK(has);
    REQUIRE(forkHistoryHasState(h, "0-1-276,1-1-5", &has, &err) == 0);
    CHECK(!has);
    REQUIRE(forkHistoryHasState(h, "", &has, &err) == 0);
    CHECK(has);
    CHECK(forkHistoryHasState(h, "0-x", &has, &err) != 0);
    forkHistoryFree(h);
    forkHistoryFree(NULL);
}

static void
testMariaHistoryHostile(void) {
    Err err;
    ForkHistory *h;

    CHECK(forkHistoryNew(BINLOG_FLAVOUR_MARIADB, "0-1-2,,", &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK(forkHistoryNew(BINLOG_FLAVOUR_MARIADB, "0-1", &err) == NULL);
    CHECK_MSG(err.msg, "invalid gtid history");
    CHECK(forkHistoryNew(BINLOG_FLAVOUR_MARIADB, "0-1-99999999999999999999999", &err) == NULL);
    /* Empty: nothing is in it, the empty state is. */
    h = forkHistoryNew(BINLOG_FLAVOUR_MARIADB, "", &err);
    REQUIRE(h != NULL);
    CHECK(!forkHistoryHasGtid(h, "0-1-1"));
    forkHistoryFree(h);
    /* A pair named twice keeps the higher seq. */
    h = forkHistoryNew(BINLOG_FLAVOUR_MARIADB, "0-1-5,0-1-9", &err);
    REQUIRE(h != NULL);
    CHECK(forkHistoryHasGtid(h, "0-1-9"));
    forkHistoryFree(h);
}

#define UUID_A "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define UUID_B "8a94f357-aab4-11df-86ab-c80aa9429562"

static void
testMysqlHistory(void) {
    Err err;
    ForkHistory *h = forkHistoryNew(BINLOG_FLAVOUR_MYSQL, UUID_A ":1-269," UUID_B ":1-30", &err);
    bool has;

    REQUIRE(h != NULL);
    CHECK(forkHistoryHasGtid(h, UUID_A ":269"));
    CHECK(!forkHistoryHasGtid(h, UUID_A ":270"));
    CHECK(forkHistoryHasGtid(h, UUID_B ":7"));
    REQUIRE(forkHistoryHasState(h, UUID_A ":1-200", &has, &err) == 0);
    CHECK(has);
    /* GTID_SUBSET() of the archived set: one transaction more and it is not. */
    REQUIRE(forkHistoryHasState(h, UUID_A ":1-270", &has, &err) == 0);
    CHECK(!has);
    forkHistoryFree(h);
    CHECK(forkHistoryNew(BINLOG_FLAVOUR_MYSQL, "not-a-uuid:1", &err) == NULL);
}

/* The old primary archived 0-1-268..0-1-272 over two segments; the new one has up to 0-1-269. */
static void
testForkInsideSegment(void) {
    Err err;
    ForkHistory *h = forkHistoryNew(BINLOG_FLAVOUR_MARIADB, "0-1-269,0-2-275", &err);
    ForkPoint p;
    BinlogTxn t;
    char what[512];

    REQUIRE(h != NULL);
    forkPointStart(&p, 6, "mariadb-bin.000002", 256, "0-1-267");
    t = txn("0-1-268", 600, 1000000);
    forkPointAdd(&p, h, 7, "mariadb-bin.000002", &t, "0-1-268");
    t = txn("0-1-269", 900, 2000000);
    forkPointAdd(&p, h, 7, "mariadb-bin.000002", &t, "0-1-269");
    t = txn("0-1-270", 1200, 3000000);
    forkPointAdd(&p, h, 7, "mariadb-bin.000002", &t, "0-1-270");
    t = txn("0-1-271", 1500, 5000000);
    forkPointAdd(&p, h, 8, "mariadb-bin.000002", &t, "0-1-271");
    t = txn("0-1-272", 1800, 4000000);
    forkPointAdd(&p, h, 8, "mariadb-bin.000002", &t, "0-1-272");
    CHECK(p.found);
    CHECK_INT(p.seq, 7);
    CHECK_INT(p.pos, 900);
    CHECK_STR(p.file, "mariadb-bin.000002");
    CHECK_STR(p.gtidState, "0-1-269");
    CHECK_INT(p.transactions, 3);
    CHECK_INT(p.firstSeq, 7);
    CHECK_INT(p.lastSeq, 8);
    CHECK_STR(p.firstGtid, "0-1-270");
    CHECK_STR(p.lastGtid, "0-1-272");
    CHECK_INT(p.firstTimeUs, 3000000);
    CHECK_INT(p.lastTimeUs, 5000000);
    forkPointDescribe(&p, what, sizeof(what));
    CHECK_MSG(what, "3 transactions committed on the old source were lost in the failover: 0-1-270..0-1-272");
    forkPointClear(&p);
    forkHistoryFree(h);
}

/* A transaction the history holds after a diverged one does not move the fork back. */
static void
testForkStaysAtFirstBreak(void) {
    Err err;
    ForkHistory *h = forkHistoryNew(BINLOG_FLAVOUR_MARIADB, "0-1-10,1-1-50", &err);
    ForkPoint p;
    BinlogTxn t;
    char what[256];

    REQUIRE(h != NULL);
    forkPointStart(&p, 1, "b.000001", 4, "");
    t = txn("0-1-10", 100, 1);
    forkPointAdd(&p, h, 1, "b.000001", &t, "0-1-10");
    t = txn("0-1-11", 200, 2);
    forkPointAdd(&p, h, 1, "b.000001", &t, "0-1-11");
    t = txn("1-1-50", 300, 3);
    forkPointAdd(&p, h, 2, "b.000001", &t, "0-1-11,1-1-50");
    CHECK_INT(p.pos, 100);
    CHECK_STR(p.gtidState, "0-1-10");
    CHECK_INT(p.transactions, 2);
    CHECK_STR(p.lastGtid, "1-1-50");
    forkPointClear(&p);
    /* Nothing diverged: a clean switchover. */
    forkPointStart(&p, 3, "b.000001", 300, "0-1-10");
    forkPointDescribe(&p, what, sizeof(what));
    CHECK_STR(what, "no transaction was lost");
    CHECK_INT(p.seq, 3);
    forkPointClear(&p);
    forkHistoryFree(h);
}

void suite_fork(void);

void
suite_fork(void) {
    testRun("fork: mariadb history by domain and server id", testMariaHistoryByServer);
    testRun("fork: hostile mariadb history", testMariaHistoryHostile);
    testRun("fork: mysql history (gtid_subset)", testMysqlHistory);
    testRun("fork: fork inside a segment, diverged branch over two", testForkInsideSegment);
    testRun("fork: the fork stays at the first break", testForkStaysAtFirstBreak);
}
