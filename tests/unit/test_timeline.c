/* Unit tests of archive/timeline: records (and hostile ones), the store's rules, sets, the main
 * line and the views of each timeline, and the fork point found in real segments. */
#include <stdio.h>
#include <string.h>

#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/timeline.h"
#include "common/mem.h"
#include "storage/storage.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

/* A record of `timeline` (parent timeline - 1) forking at seq forkSeq:forkPos, its first seq
 * `first`, with a diverged branch of `diverged` transactions (0: none). */
static void
record(TimelineRecord *r, uint32_t timeline, uint64_t first, uint64_t forkSeq, uint64_t forkPos, uint64_t diverged) {
    memset(r, 0, sizeof(*r));
    r->timeline = timeline;
    r->firstSeq = first;
    r->source.flavour = BINLOG_FLAVOUR_MARIADB;
    r->source.serverId = timeline;
    snprintf(r->source.host, sizeof(r->source.host), "db%u:3306", timeline);
    snprintf(r->source.basename, sizeof(r->source.basename), "mariadb-bin");
    snprintf(r->source.serverVersion, sizeof(r->source.serverVersion), "10.11.19-MariaDB-log");
    snprintf(r->created, sizeof(r->created), "2026-12-06T14:03:09Z");
    if (timeline == 1)
        return;
    r->parent = timeline - 1;
    r->hasFork = true;
    r->fork.seq = forkSeq;
    snprintf(r->fork.file, sizeof(r->fork.file), "mariadb-bin.000012");
    r->fork.pos = forkPos;
    r->fork.gtidState = bvStrdup("0-1-269");
    snprintf(r->fork.gtid, sizeof(r->fork.gtid), "0-1-269");
    r->fork.timeUs = 1795231386000000ull;
    r->fork.transactions = 3;
    if (diverged > 0) {
        r->hasDiverged = true;
        r->diverged.firstSeq = forkSeq;
        r->diverged.lastSeq = first - 1;
        r->diverged.transactions = diverged;
        snprintf(r->diverged.firstGtid, sizeof(r->diverged.firstGtid), "0-1-270");
        snprintf(r->diverged.lastGtid, sizeof(r->diverged.lastGtid), "0-1-276");
        r->diverged.firstTimeUs = 1795231387000000ull;
        r->diverged.lastTimeUs = 1795231387210000ull;
    }
}

static int
parseText(const char *text, TimelineRecord *r, Err *err) {
    return timelineRecordParse(text, strlen(text), r, err);
}

static void
testRoundTrip(void) {
    TimelineRecord r, back;
    Buf *doc = bufNew(256), *again = bufNew(256);
    Err err = {0};

    record(&r, 2, 1042, 1038, 48811, 7);
    r.source.hasDomainId = true;
    r.source.domainId = 0;
    snprintf(r.reason, sizeof(r.reason), "source changed: server_id 1 -> 2 at db2:3306");
    timelineRecordToJson(&r, doc);
    REQUIRE(timelineRecordParse((const char *)doc->data, doc->len, &back, &err) == 0);
    timelineRecordToJson(&back, again);
    CHECK_INT(doc->len, again->len);
    CHECK(memcmp(doc->data, again->data, doc->len) == 0);
    CHECK_INT(back.fork.pos, 48811);
    CHECK_STR(back.fork.gtidState, "0-1-269");
    CHECK_INT(back.diverged.transactions, 7);
    CHECK(back.source.hasDomainId);
    timelineRecordClear(&back);
    timelineRecordClear(&r);

    /* The example of FORMAT.md, with the members this version writes. */
    REQUIRE(parseText("{\"version\": 2, \"timeline\": 1, \"parent\": 0, \"source\": {\"flavour\": \"mariadb\", "
                      "\"server_id\": 1, \"server_uuid\": \"\", \"host\": \"db1:3306\", \"basename\": \"mariadb-bin\", "
                      "\"server_version\": \"10.11.19-MariaDB-log\"}, \"first_seq\": 1, \"created\": "
                      "\"2026-12-06T14:03:09Z\", \"future\": [1]}",
                      &back, &err) == 0);
    CHECK(!back.hasFork && !back.hasDiverged);
    timelineRecordClear(&back);
    bufFree(doc);
    bufFree(again);
}

/* Every member removed, or replaced by a value of the wrong type or out of range, is refused. */
static void
testHostile(void) {
    static const char *const bad[][2] = {
        {"not json", "json"},
        {"[1]", "object"},
        {"{\"version\":3}", "version 3"},
        {"{\"version\":2,\"timeline\":0,\"parent\":0,\"first_seq\":1,\"created\":\"x\"}", "timeline"},
        {"{\"version\":2,\"timeline\":2,\"parent\":2,\"first_seq\":5,\"created\":\"x\",\"source\":{\"flavour\":"
         "\"mariadb\",\"server_id\":1,\"server_uuid\":\"\",\"host\":\"h\",\"basename\":\"b\",\"server_version\":\"v\"}}",
         "parent"},
        {"{\"version\":2,\"timeline\":2,\"parent\":1,\"first_seq\":5,\"created\":\"x\",\"source\":{\"flavour\":"
         "\"mariadb\",\"server_id\":1,\"server_uuid\":\"\",\"host\":\"h\",\"basename\":\"b\",\"server_version\":\"v\"}}",
         "fork"},
        {"{\"version\":2,\"timeline\":1,\"parent\":0,\"first_seq\":1,\"created\":\"x\",\"source\":{\"flavour\":"
         "\"oracle\",\"server_id\":1,\"server_uuid\":\"\",\"host\":\"h\",\"basename\":\"b\",\"server_version\":\"v\"}}",
         "flavour"},
        {"{\"version\":2,\"timeline\":1,\"parent\":0,\"first_seq\":1,\"created\":\"x\",\"source\":{\"flavour\":"
         "\"mariadb\",\"server_id\":5000000000,\"server_uuid\":\"\",\"host\":\"h\",\"basename\":\"b\","
         "\"server_version\":\"v\"}}",
         "server_id"},
        {"{\"version\":2,\"timeline\":1,\"parent\":0,\"first_seq\":1,\"created\":\"x\",\"source\":{\"flavour\":"
         "\"mariadb\",\"server_id\":1,\"server_uuid\":\"\",\"host\":\"h\",\"basename\":\"../b\",\"server_version\":"
         "\"v\"}}",
         "basename"},
        {"{\"version\":2,\"timeline\":1,\"parent\":0,\"first_seq\":1,\"created\":\"x\",\"source\":{\"flavour\":"
         "\"mariadb\",\"server_id\":1,\"server_uuid\":\"\",\"host\":\"h\",\"basename\":\"b\",\"server_version\":\"v\"},"
         "\"fork\":{}}",
         "timeline 1"},
    };
    TimelineRecord r, good;
    Buf *doc = bufNew(512);
    Err err = {0};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(parseText(bad[i][0], &r, &err) != 0);
        CHECK_INT(err.code, ERR_FORMAT);
        CHECK_MSG(err.msg, bad[i][1]);
    }
    /* Rules between members of a record otherwise well formed. */
    record(&good, 3, 20, 20, 500, 0); /* fork not before the first seq */
    timelineRecordToJson(&good, doc);
    CHECK(timelineRecordParse((const char *)doc->data, doc->len, &r, &err) != 0);
    CHECK_MSG(err.msg, "not before the timeline's first seq");
    timelineRecordClear(&good);
    record(&good, 3, 20, 10, 500, 4);
    good.diverged.lastSeq = 25; /* past the new timeline's start */
    bufClear(doc);
    timelineRecordToJson(&good, doc);
    CHECK(timelineRecordParse((const char *)doc->data, doc->len, &r, &err) != 0);
    CHECK_MSG(err.msg, "diverged");
    good.diverged.lastSeq = 19;
    good.diverged.transactions = 0;
    bufClear(doc);
    timelineRecordToJson(&good, doc);
    CHECK(timelineRecordParse((const char *)doc->data, doc->len, &r, &err) != 0);
    CHECK_MSG(err.msg, "'transactions' is 0");
    good.hasDiverged = false;
    bvFree(good.fork.gtidState);
    good.fork.gtidState = NULL; /* an empty fork state */
    bufClear(doc);
    timelineRecordToJson(&good, doc);
    CHECK(timelineRecordParse((const char *)doc->data, doc->len, &r, &err) != 0);
    CHECK_MSG(err.msg, "gtid_state");
    /* Every prefix of a good document is refused, never over-read. */
    timelineRecordClear(&good);
    record(&good, 2, 10, 8, 500, 2);
    bufClear(doc);
    timelineRecordToJson(&good, doc);
    for (size_t len = 0; len < doc->len; len++)
        CHECK(timelineRecordParse((const char *)doc->data, len, &r, &err) != 0);
    timelineRecordClear(&good);
    bufFree(doc);
}

static void
testNames(void) {
    char name[64];
    uint32_t tl;

    timelineName(7, name, sizeof(name));
    CHECK_STR(name, "timelines/00000007.json");
    CHECK(timelineNameParse(name, &tl) == 0 && tl == 7);
    CHECK(timelineNameParse("timelines/00000000.json", &tl) != 0);
    CHECK(timelineNameParse("timelines/0000007.json", &tl) != 0);
    CHECK(timelineNameParse("timelines/0000000a.json", &tl) != 0);
    CHECK(timelineNameParse("segments/00000001.json", &tl) != 0);
    timelineBasename("mariadb-bin.000012", name, sizeof(name));
    CHECK_STR(name, "mariadb-bin");
}

static void
testSourceCompare(void) {
    TimelineRecord a, b;
    char why[256];

    record(&a, 1, 1, 0, 0, 0);
    record(&b, 1, 1, 0, 0, 0);
    CHECK(timelineSourceCompare(&a.source, &b.source, why, sizeof(why)) == 1);
    snprintf(b.source.serverVersion, sizeof(b.source.serverVersion), "10.11.20"); /* an upgrade: same source */
    CHECK(timelineSourceCompare(&a.source, &b.source, why, sizeof(why)) == 1);
    b.source.serverId = 2;
    CHECK(timelineSourceCompare(&a.source, &b.source, why, sizeof(why)) == 0);
    CHECK_STR(why, "server_id 1 -> 2");
    b.source.serverId = 1;
    snprintf(b.source.host, sizeof(b.source.host), "db2:3306");
    CHECK(timelineSourceCompare(&a.source, &b.source, why, sizeof(why)) == 0);
    CHECK_MSG(why, "host 'db1:3306' -> 'db2:3306'");
    snprintf(b.source.host, sizeof(b.source.host), "%s", a.source.host);
    snprintf(b.source.basename, sizeof(b.source.basename), "other-bin");
    CHECK(timelineSourceCompare(&a.source, &b.source, why, sizeof(why)) == 0);
    snprintf(b.source.basename, sizeof(b.source.basename), "%s", a.source.basename);
    a.source.hasDomainId = b.source.hasDomainId = true;
    b.source.domainId = 3;
    CHECK(timelineSourceCompare(&a.source, &b.source, why, sizeof(why)) == 0);
    CHECK_MSG(why, "gtid_domain_id 0 -> 3");
    b.source.hasDomainId = false; /* unknown on one side: not compared */
    CHECK(timelineSourceCompare(&a.source, &b.source, why, sizeof(why)) == 1);
}

/* A set: 1 (seqs 1..), 2 forks at seq 5 pos 700 (seq 5 ends at 900; 6..7 diverged), starts at
 * 8; 3 forks at seq 9 (end of it) cleanly, starts at 10; 4 forks back into... seq 11 at 300. */
static TimelineSet *
threeForks(void) {
    TimelineSet *set = timelineSetNew();
    TimelineRecord r;
    Err err = {0};

    record(&r, 1, 1, 0, 0, 0);
    BV_ASSERT(timelineSetAdd(set, &r, &err) == 0);
    record(&r, 2, 8, 5, 700, 3);
    BV_ASSERT(timelineSetAdd(set, &r, &err) == 0);
    timelineRecordClear(&r);
    record(&r, 3, 10, 9, 900, 0);
    BV_ASSERT(timelineSetAdd(set, &r, &err) == 0);
    timelineRecordClear(&r);
    record(&r, 4, 12, 11, 300, 1);
    r.fork.transactions = 1;
    BV_ASSERT(timelineSetAdd(set, &r, &err) == 0);
    timelineRecordClear(&r);
    return set;
}

static SegmentMeta
seg(uint64_t seq, uint32_t timeline) {
    SegmentMeta m;

    fixtureCrafted(&m, seq, "mariadb-bin.000012", 100, 900, "0-1-1", "0-1-300");
    m.timeline = timeline;
    m.transactions = 5;
    return m;
}

static void
testMainLine(void) {
    /* timeline of seq 1..13: 1 1 1 1 1 1 1 2 2 3 3 4 4 */
    static const uint32_t tl[] = {0, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4};
    /* on the main line (path of 4): 1-4 whole, 5 cut at 700, 6-7 off, 8-9 whole (9 ends at 900,
     * fork of 3 at 900), 10 whole, 11 cut at 300, 12-13 whole */
    static const TimelineOn main4[] = {0, TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_WHOLE,
                                       TIMELINE_CUT, TIMELINE_OFF, TIMELINE_OFF, TIMELINE_WHOLE, TIMELINE_WHOLE,
                                       TIMELINE_WHOLE, TIMELINE_CUT, TIMELINE_WHOLE, TIMELINE_WHOLE};
    /* --timeline 1: 1-7 whole, nothing else */
    static const TimelineOn view1[] = {0, TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_WHOLE,
                                       TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_OFF, TIMELINE_OFF,
                                       TIMELINE_OFF, TIMELINE_OFF, TIMELINE_OFF, TIMELINE_OFF};
    /* --timeline 3: 1-4, 5 cut, 8-9, 10-11 whole (3 is the tip), not 12-13 */
    static const TimelineOn view3[] = {0, TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_WHOLE,
                                       TIMELINE_CUT, TIMELINE_OFF, TIMELINE_OFF, TIMELINE_WHOLE, TIMELINE_WHOLE,
                                       TIMELINE_WHOLE, TIMELINE_WHOLE, TIMELINE_OFF, TIMELINE_OFF};
    TimelineSet *set = threeForks();
    TimelinePath *p0 = timelinePathNew(set, 0, NULL), *p1, *p3, *p9;
    Err err = {0};
    uint64_t cut = 0;

    REQUIRE(p0 != NULL);
    CHECK_INT(timelinePathTip(p0), 4);
    CHECK_INT(timelineSetNewest(set), 4);
    CHECK(timelineSetForked(set));
    p1 = timelinePathNew(set, 1, &err);
    p3 = timelinePathNew(set, 3, &err);
    REQUIRE(p1 != NULL && p3 != NULL);
    for (uint64_t s = 1; s <= 13; s++) {
        SegmentMeta m = seg(s, tl[s]);

        CHECK_INT(timelinePathSegment(p0, &m, NULL), main4[s]);
        CHECK_INT(timelinePathSegment(p1, &m, NULL), view1[s]);
        CHECK_INT(timelinePathSegment(p3, &m, NULL), view3[s]);
    }
    {
        SegmentMeta m = seg(5, 1), v;

        CHECK_INT(timelinePathSegment(p0, &m, &cut), TIMELINE_CUT);
        CHECK_INT(cut, 700);
        timelinePathViewMeta(p0, &m, &v);
        CHECK_INT(v.endPos, 700);
        CHECK_INT(v.objectEndPos, 900);
        CHECK_INT(segmentMetaObjectEndPos(&v), 900);
        CHECK_STR(segmentMetaGtidEnd(&v), "0-1-269");
        CHECK_STR(v.lastGtid, "0-1-269");
        CHECK_INT(v.transactions, 3);
        CHECK_INT(v.contentLen, 252 + 600);
        CHECK(!v.endsFile);
        segmentMetaClear(&v);
        /* the whole segment under timeline 1's view */
        timelinePathViewMeta(p1, &m, &v);
        CHECK_INT(v.endPos, 900);
        CHECK_INT(v.objectEndPos, 0);
        segmentMetaClear(&v);
    }
    p9 = timelinePathNew(set, 9, &err);
    CHECK(p9 == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "no timeline 9");
    timelinePathFree(p0);
    timelinePathFree(p1);
    timelinePathFree(p3);
    timelineSetFree(set);
}

/* A base backup's point against a path: on it up to the fork of the next timeline on the path
 * (by GTID state, or by position without one), off it after (taken on the old primary). */
static void
testHoldsPoint(void) {
    TimelineSet *set = threeForks();
    TimelinePath *p0 = timelinePathNew(set, 0, NULL), *p1 = timelinePathNew(set, 1, NULL);
    Err err = {0};
    bool on = false;

    REQUIRE(p0 != NULL && p1 != NULL);
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 1, "mariadb-bin.000012", 400, "0-1-200", &on, &err) == 0);
    CHECK(on);
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 1, "mariadb-bin.000012", 700, "0-1-269", &on, &err) == 0);
    CHECK(on);
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 1, "mariadb-bin.000012", 800, "0-1-272", &on, &err) == 0);
    CHECK(!on);
    /* format-1 backups say timeline 0: timeline 1 */
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 0, "mariadb-bin.000012", 800, "0-1-272", &on, &err) == 0);
    CHECK(!on);
    /* without a state, by position in the timeline's binlog */
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 1, "mariadb-bin.000012", 650, "", &on, &err) == 0);
    CHECK(on);
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 1, "mariadb-bin.000012", 701, NULL, &on, &err) == 0);
    CHECK(!on);
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 1, "mariadb-bin.000013", 4, NULL, &on, &err) == 0);
    CHECK(!on);
    /* the tip holds every point of its timeline */
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 4, "mariadb-bin.000020", 9999, "0-4-900", &on, &err) == 0);
    CHECK(on);
    /* --timeline 1: timeline 1 is the tip, the later timelines are off it */
    CHECK(timelinePathHoldsPoint(p1, BINLOG_FLAVOUR_MARIADB, 1, "mariadb-bin.000012", 800, "0-1-272", &on, &err) == 0);
    CHECK(on);
    CHECK(timelinePathHoldsPoint(p1, BINLOG_FLAVOUR_MARIADB, 2, "mariadb-bin.000001", 400, "0-2-270", &on, &err) == 0);
    CHECK(!on);
    CHECK(timelinePathHoldsPoint(p0, BINLOG_FLAVOUR_MARIADB, 1, "mariadb-bin.000012", 400, "junk", &on, &err) != 0);
    CHECK_INT(err.code, ERR_FORMAT);
    timelinePathFree(p0);
    timelinePathFree(p1);
    timelineSetFree(set);
}

/* A format-1 archive: no record, one implicit timeline, every segment whole on it. */
static void
testImplicit(void) {
    TimelineSet *set = timelineSetNew();
    TimelinePath *p = timelinePathNew(set, 0, NULL);
    SegmentMeta m = seg(3, 1);
    Err err = {0};

    REQUIRE(p != NULL);
    CHECK(!timelineSetForked(set));
    CHECK_INT(timelinePathSegment(p, &m, NULL), TIMELINE_WHOLE);
    m.timeline = 2; /* a label no record explains: not on the path */
    CHECK_INT(timelinePathSegment(p, &m, NULL), TIMELINE_OFF);
    timelinePathFree(p);
    CHECK(timelinePathNew(set, 2, &err) == NULL);
    timelineSetFree(set);
}

static void
testSetRules(void) {
    TimelineSet *set = timelineSetNew();
    TimelineRecord r;
    Err err = {0};

    record(&r, 3, 10, 5, 700, 0);
    CHECK(timelineSetAdd(set, &r, &err) != 0); /* 3 cannot follow nothing */
    CHECK_MSG(err.msg, "does not follow");
    timelineRecordClear(&r);
    record(&r, 2, 10, 5, 700, 0); /* 2 may: timeline 1 is implicit */
    CHECK(timelineSetAdd(set, &r, &err) == 0);
    CHECK(timelineSetFind(set, 1) == NULL && timelineSetFind(set, 2) != NULL);
    CHECK(timelineSetAdd(set, &r, &err) != 0); /* twice */
    timelineRecordClear(&r);
    record(&r, 3, 12, 11, 100, 2);
    r.parent = 0;
    CHECK(timelineSetAdd(set, &r, &err) != 0);
    r.parent = 2;
    CHECK(timelineSetAdd(set, &r, &err) == 0);
    CHECK_INT(timelineSetDivergedCount(set), 1);
    CHECK_INT(timelineSetDivergedAt(set, 0)->timeline, 3);
    timelineRecordClear(&r);
    timelineSetFree(set);
}

static void
testDescribe(void) {
    TimelineRecord r;
    char text[1024];

    record(&r, 2, 1042, 1038, 48811, 7);
    timelineDescribeDiverged(&r, text, sizeof(text));
    CHECK_MSG(text, "7 transactions of timeline 1 committed after the fork at '0-1-269'");
    CHECK_MSG(text, "0-1-270..0-1-276");
    CHECK_MSG(text, "seqs 1038-1041");
    CHECK_MSG(text, "recover --timeline 1");
    r.hasDiverged = false;
    timelineDescribeDiverged(&r, text, sizeof(text));
    CHECK_STR(text, "");
    timelineRecordClear(&r);
}

/* Stored records: consecutive numbers, immutable, the same one again is a no-op. */
static void
testStore(void) {
    ArchiveFixture f;
    TimelineRecord r1, r2, r3, other;
    TimelineSet *set;
    Err err = {0};

    REQUIRE(fixtureOpen(&f, 1 << 20) == 0);
    record(&r1, 1, 1, 0, 0, 0);
    record(&r2, 2, 8, 5, 700, 3);
    record(&r3, 3, 10, 9, 100, 0);
    CHECK(timelineRecordWrite(f.archive, &r3, &err) != 0); /* skips 2 */
    CHECK_MSG(err.msg, "does not follow");
    CHECK(timelineRecordWrite(f.archive, &r1, &err) == 0);
    CHECK(timelineRecordWrite(f.archive, &r1, &err) == 0); /* again: no-op */
    CHECK(timelineRecordWrite(f.archive, &r2, &err) == 0);
    record(&other, 2, 9, 5, 700, 0);
    CHECK(timelineRecordWrite(f.archive, &other, &err) != 0);
    CHECK_INT(err.code, ERR_EXISTS);
    CHECK_MSG(err.msg, "already holds another timeline 2");
    CHECK(timelineRecordWrite(f.archive, &r3, &err) == 0);
    REQUIRE(timelineSetLoad(f.archive, &set, &err) == 0);
    CHECK_INT(timelineSetCount(set), 3);
    CHECK_INT(timelineSetNewest(set), 3);
    CHECK_INT(timelineSetFind(set, 2)->fork.pos, 700);
    timelineSetFree(set);
    /* A hole in the numbers is refused on load, naming the object. */
    REQUIRE(storageRemove(f.storage, "timelines/00000002.json", &err) == 0);
    CHECK(timelineSetLoad(f.archive, &set, &err) != 0);
    CHECK_MSG(err.msg, "timelines/00000003.json");
    timelineRecordClear(&r2);
    timelineRecordClear(&r3);
    timelineRecordClear(&other);
    fixtureClose(&f);
}

/* The fork point and the diverged branch, read from real segments: one segment per file, each
 * state after a transaction found at that transaction's end. */
static void
testForkFind(void) {
    ArchiveFixture f;
    ArchiveCatalog *c;
    SegmentMeta *small;
    const SegmentMeta **segs;
    size_t n, ns, found = 0;
    Err err = {0};

    /* A segment per transaction first: where each transaction ends, and the state after it. */
    REQUIRE(fixtureOpen(&f, 1) == 0);
    REQUIRE(fixtureImportAll(&f) == 0);
    REQUIRE((c = archiveCatalogLoad(f.archive, 0, &err)) != NULL);
    ns = archiveCatalogCount(c);
    small = bvCalloc(ns, sizeof(*small));
    for (size_t i = 0; i < ns; i++)
        segmentMetaCopy(&small[i], archiveCatalogAt(c, i));
    archiveCatalogFree(c);
    fixtureClose(&f);
    {
        char from[1100], to[1100];

        /* The next fixture is made in the same places. */
        snprintf(from, sizeof(from), "%s/store", testTmpDir());
        snprintf(to, sizeof(to), "%s/store-small", testTmpDir());
        REQUIRE(rename(from, to) == 0);
        snprintf(from, sizeof(from), "%s/binlogs", testTmpDir());
        snprintf(to, sizeof(to), "%s/binlogs-small", testTmpDir());
        REQUIRE(rename(from, to) == 0);
    }

    REQUIRE(fixtureOpen(&f, 64 << 20) == 0);
    REQUIRE(fixtureImportAll(&f) == 0);
    REQUIRE((c = archiveCatalogLoad(f.archive, 0, &err)) != NULL);
    n = archiveCatalogCount(c);
    segs = bvCalloc(n, sizeof(*segs));
    for (size_t i = 0; i < n; i++) {
        segs[i] = archiveCatalogAt(c, i);
        /* the writer's bounds */
        CHECK(segs[i]->timeline == 1 && !segs[i]->timesInexact);
        CHECK(segs[i]->transactions == 0 || (segs[i]->minTimeUs <= segs[i]->firstTimeUs && segs[i]->minTimeUs > 0 &&
                                             segs[i]->maxTimeUs >= segs[i]->lastTimeUs));
    }
    for (size_t i = 0; i < ns; i++) {
        const SegmentMeta *m = &small[i];
        TimelineFork fork;
        TimelineRecord rec;
        uint64_t after = 0;

        if (m->transactions != 1 || m->lastGtid[0] == '\0')
            continue;
        if (timelineForkFind(f.archive, segs, n, segmentMetaGtidEnd(m), &fork, &err) != 0) {
            testFail(__FILE__, __LINE__, "fork at '%s': %s", segmentMetaGtidEnd(m), err.msg);
            continue;
        }
        found++;
        CHECK_STR(fork.file, m->file);
        CHECK_INT(fork.pos, m->endPos);
        CHECK_STR(fork.gtid, m->lastGtid);
        CHECK_INT(fork.timeUs, m->lastTimeUs);
        /* What the archive holds after that point is the diverged branch. */
        memset(&rec, 0, sizeof(rec));
        rec.fork = fork;
        rec.firstSeq = n + 1;
        REQUIRE(timelineDivergedFill(f.archive, segs, n, &rec, &err) == 0);
        for (size_t k = i + 1; k < ns; k++)
            after += small[k].transactions;
        CHECK_INT(rec.diverged.transactions, after);
        CHECK(rec.hasDiverged == (after > 0));
        timelineForkClear(&fork);
    }
    CHECK(found >= 10);
    {
        TimelineFork fork;

        CHECK(timelineForkFind(f.archive, segs, n, "0-1-999999", &fork, &err) != 0);
        CHECK_INT(err.code, ERR_NOTFOUND);
        CHECK(timelineForkFind(f.archive, segs, n, "garbage", &fork, &err) != 0);
    }
    for (size_t i = 0; i < ns; i++)
        segmentMetaClear(&small[i]);
    bvFree(small);
    bvFree(segs);
    archiveCatalogFree(c);
    fixtureClose(&f);
}

/* Segments and index lines carry their timeline and commit-time bounds; format-1 lines without
 * them are timeline 1 with first/last as inexact bounds. */
static void
testSegmentMembers(void) {
    SegmentMeta m, back;
    Buf *json = bufNew(1024);
    Err err = {0};
    char *p;

    fixtureCrafted(&m, 4, "mariadb-bin.000002", 256, 900, "0-1-1", "0-1-5");
    m.timeline = 3;
    m.firstTimeUs = 2000;
    m.lastTimeUs = 1000; /* went backwards */
    m.minTimeUs = 500;
    m.maxTimeUs = 2500;
    segmentMetaToJson(&m, true, json);
    bufAppend(json, "", 1);
    REQUIRE(segmentMetaFromJson((const char *)json->data, json->len - 1, true, &back, &err) == 0);
    CHECK_INT(back.timeline, 3);
    CHECK_INT(back.minTimeUs, 500);
    CHECK_INT(back.maxTimeUs, 2500);
    CHECK(!back.timesInexact);
    segmentMetaClear(&back);
    /* A format-1 line: the members cut out. */
    p = strstr((char *)json->data, ",\"timeline\":");
    REQUIRE(p != NULL);
    memmove(p, strstr(p, ",\"created\""), strlen(strstr(p, ",\"created\"")) + 1);
    REQUIRE(segmentMetaFromJson((const char *)json->data, strlen((char *)json->data), true, &back, &err) == 0);
    CHECK_INT(back.timeline, 1);
    CHECK_INT(back.minTimeUs, 1000);
    CHECK_INT(back.maxTimeUs, 2000);
    CHECK(back.timesInexact);
    segmentMetaClear(&back);
    /* Hostile: one member alone, a timeline 0, bounds the wrong way round. */
    bufClear(json);
    m.minTimeUs = 3000;
    segmentMetaToJson(&m, true, json);
    CHECK(segmentMetaFromJson((const char *)json->data, json->len, true, &back, &err) != 0);
    CHECK_MSG(err.msg, "min_time_us");
    bufClear(json);
    m.minTimeUs = 500;
    m.timeline = 0; /* written as 1 */
    segmentMetaToJson(&m, true, json);
    REQUIRE(segmentMetaFromJson((const char *)json->data, json->len, true, &back, &err) == 0);
    CHECK_INT(back.timeline, 1);
    segmentMetaClear(&back);
    p = strstr((char *)json->data, "\"timeline\":1");
    REQUIRE(p != NULL);
    p[11] = '0';
    CHECK(segmentMetaFromJson((const char *)json->data, json->len, true, &back, &err) != 0);
    CHECK_MSG(err.msg, "'timeline' is 0");
    bufFree(json);
}

/* A catalog of crafted segments: seqs 1-3 timeline 1 (3 holds the fork at 700 and diverged
 * transactions after it), 4-5 timeline 2 from the fork's state. */
static ArchiveCatalog *
forkedCatalog(const char *secondStart) {
    ArchiveCatalog *c = archiveCatalogNew();
    SegmentMeta m;
    Err err = {0};

    fixtureCrafted(&m, 1, "mariadb-bin.000012", 256, 400, "0-1-1", "0-1-200");
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 2, "mariadb-bin.000012", 400, 500, "0-1-200", "0-1-260");
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 3, "mariadb-bin.000012", 500, 900, "0-1-260", "0-1-276");
    m.transactions = 10;
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 4, "mariadb-bin.000003", 256, 600, secondStart, "0-2-280");
    m.timeline = 2;
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 5, "mariadb-bin.000003", 600, 800, "0-2-280", "0-2-290");
    m.timeline = 2;
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
    return c;
}

static void
noteProblem(void *data, const char *object, uint64_t seq, const char *message) {
    char *out = data;
    size_t len = strlen(out);

    snprintf(out + len, 4096 - len, "%s@%" PRIu64 ": %s\n", object, seq, message);
}

/* The catalog followed on the main line, continuity across the fork, and verify's checks. */
static void
testCatalogView(void) {
    ArchiveFixture f;
    TimelineRecord r;
    TimelineSet *set;
    ArchiveCatalog *c;
    ArchiveGap *gaps;
    Err err = {0};
    char problems[4096] = "";

    REQUIRE(fixtureOpen(&f, 1 << 20) == 0);
    record(&r, 2, 4, 3, 700, 7);
    r.diverged.firstSeq = 3;
    r.diverged.lastSeq = 3;
    REQUIRE(timelineRecordWrite(f.archive, &r, &err) == 0);
    REQUIRE(timelineSetLoad(f.archive, &set, &err) == 0);

    /* The whole catalog: no break across the timeline boundary, and verify finds nothing. */
    c = forkedCatalog("0-1-269");
    CHECK_INT(archiveCatalogGaps(c, &gaps), 0);
    bvFree(gaps);
    timelineCheckCatalog(set, c, noteProblem, problems);
    CHECK_STR(problems, "");
    /* The main line: 1, 2, 3 cut at the fork, 4, 5; one history. */
    REQUIRE(archiveCatalogFollowTimeline(f.archive, c, 0, NULL, &err) == 0);
    CHECK_INT(archiveCatalogCount(c), 5);
    CHECK_INT(archiveCatalogAt(c, 2)->endPos, 700);
    CHECK_STR(segmentMetaGtidEnd(archiveCatalogAt(c, 2)), "0-1-269");
    CHECK_INT(archiveCatalogGaps(c, &gaps), 0);
    bvFree(gaps);
    archiveCatalogFree(c);
    /* Timeline 1: 1-3 whole, not 4-5. */
    c = forkedCatalog("0-1-269");
    REQUIRE(archiveCatalogFollowTimeline(f.archive, c, 1, NULL, &err) == 0);
    CHECK_INT(archiveCatalogCount(c), 3);
    CHECK_INT(archiveCatalogAt(c, 2)->endPos, 900);
    archiveCatalogFree(c);
    c = forkedCatalog("0-1-269");
    CHECK(archiveCatalogFollowTimeline(f.archive, c, 3, NULL, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    archiveCatalogFree(c);

    /* The new timeline starting elsewhere than its fork: a break in the view, a problem for verify. */
    c = forkedCatalog("0-1-270");
    timelineCheckCatalog(set, c, noteProblem, problems);
    CHECK_MSG(problems, "starts at gtid state '0-1-270', not at the fork's '0-1-269'");
    REQUIRE(archiveCatalogFollowTimeline(f.archive, c, 0, NULL, &err) == 0);
    CHECK_INT(archiveCatalogGaps(c, &gaps), 1);
    CHECK_INT(gaps[0].kind, ARCHIVE_GAP_GTID);
    bvFree(gaps);
    archiveCatalogFree(c);

    /* Labels outside their timeline's seqs, and a fork outside its segment. */
    problems[0] = '\0';
    c = archiveCatalogNew();
    {
        SegmentMeta m;

        fixtureCrafted(&m, 2, "mariadb-bin.000012", 400, 500, "0-1-200", "0-1-260");
        m.timeline = 2; /* timeline 2 starts at seq 4 */
        REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
        fixtureCrafted(&m, 3, "mariadb-bin.000012", 500, 650, "0-1-260", "0-1-276");
        REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
        fixtureCrafted(&m, 4, "mariadb-bin.000003", 256, 600, "0-1-269", "0-2-280");
        m.timeline = 3; /* no such timeline */
        REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    }
    timelineCheckCatalog(set, c, noteProblem, problems);
    CHECK_MSG(problems, "labelled timeline 2, whose segments start at seq 4");
    CHECK_MSG(problems, "labelled timeline 3, but the archive's timelines are 1 to 2");
    CHECK_MSG(problems, "its fork (timeline 1, mariadb-bin.000012:700) is not in");
    CHECK_MSG(problems, "its first segment 'segments/000000000000/0000000000000004-mariadb-bin.000003-0000000256.bvs' is labelled "
                        "timeline 3");
    archiveCatalogFree(c);
    timelineRecordClear(&r);
    timelineSetFree(set);
    fixtureClose(&f);
}

/* import --new-timeline on the fixture binlogs (file 1: 11 transactions, 2: none, 3: three, 4:
 * none; each file starts where the one before ends): timeline 1 holds files 1-3; file 3 again,
 * as another server's, starts timeline 2 at the end of file 1, and file 3's 3 transactions of
 * timeline 1 are its diverged branch; file 4 continues timeline 2. A file whose state the
 * archive never reached cannot start a timeline. */
static void
testImportNewTimeline(void) {
    ArchiveFixture f;
    ArchiveImportResult res;
    ArchiveCatalog *c;
    TimelineSet *set;
    const TimelineRecord *r;
    uint32_t started = 0;
    char diverged[1024] = "";
    Err err = {0};

    REQUIRE(fixtureOpen(&f, 1 << 20) == 0);
    REQUIRE(archiveImport(f.archive, &f.opts, f.argv, 1, &res, &err) == 0);
    f.opts.newTimeline = true;
    CHECK(archiveImport(f.archive, &f.opts, f.argv + 3, 1, &res, &err) != 0); /* file 4: after file 3 */
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "cannot start timeline 2");
    f.opts.newTimeline = false;
    REQUIRE(archiveImport(f.archive, &f.opts, f.argv + 1, 2, &res, &err) == 0);
    f.opts.newTimeline = true;
    f.opts.sourceHost = "db2:3306";
    f.opts.startedTimeline = &started;
    f.opts.divergedText = diverged;
    f.opts.divergedTextSize = sizeof(diverged);
    REQUIRE(archiveImport(f.archive, &f.opts, f.argv + 2, 1, &res, &err) == 0);
    CHECK_INT(started, 2);
    CHECK_MSG(diverged, "3 transactions of timeline 1 committed after the fork at '0-11-9,2-11-2'");
    CHECK_MSG(diverged, "0-11-10..2-11-3");
    f.opts.newTimeline = false;
    f.opts.startedTimeline = NULL;
    REQUIRE(archiveImport(f.archive, &f.opts, f.argv + 3, 1, &res, &err) == 0);
    CHECK_INT(res.segments, 1);
    REQUIRE(timelineSetLoad(f.archive, &set, &err) == 0);
    CHECK_INT(timelineSetNewest(set), 2);
    REQUIRE((r = timelineSetFind(set, 2)) != NULL);
    CHECK_STR(r->source.host, "db2:3306");
    CHECK_STR(r->source.basename, "mariadb-bin");
    CHECK_STR(r->fork.gtid, "0-11-9");
    CHECK_INT(r->fork.seq, 1);
    CHECK_INT(r->firstSeq, 4);
    CHECK(r->hasDiverged && r->diverged.transactions == 3 && r->diverged.firstSeq == 3);
    REQUIRE((c = archiveCatalogLoad(f.archive, 0, &err)) != NULL);
    CHECK_INT(archiveCatalogCount(c), 5);
    for (size_t i = 0; i < archiveCatalogCount(c); i++)
        CHECK_INT(archiveCatalogAt(c, i)->timeline, archiveCatalogAt(c, i)->seq >= 4 ? 2 : 1);
    CHECK_STR(segmentMetaGtidStart(archiveCatalogAt(c, 3)), "0-11-9,2-11-2");
    /* The main line: file 1, then timeline 2's files 3 and 4; timeline 1's file 2 and 3 are off. */
    REQUIRE(archiveCatalogFollowTimeline(f.archive, c, 0, NULL, &err) == 0);
    CHECK_INT(archiveCatalogCount(c), 3);
    archiveCatalogFree(c);
    timelineSetFree(set);
    fixtureClose(&f);
}

void suite_timeline(void);

void
suite_timeline(void) {
    testRun("timeline: a record and its JSON", testRoundTrip);
    testRun("timeline: a backup's point on a path or after its fork", testHoldsPoint);
    testRun("timeline: segments carry their timeline and commit-time bounds", testSegmentMembers);
    testRun("timeline: hostile records are refused", testHostile);
    testRun("timeline: record names and base names", testNames);
    testRun("timeline: the source identity", testSourceCompare);
    testRun("timeline: the main line and the view of each timeline, with three forks", testMainLine);
    testRun("timeline: an archive without records has one timeline", testImplicit);
    testRun("timeline: numbers run 1, 2, 3 and parents come first", testSetRules);
    testRun("timeline: a diverged branch in words", testDescribe);
    testRun("timeline: records are stored once, in order", testStore);
    testRun("timeline: the fork point and the diverged branch in real segments", testForkFind);
    testRun("timeline: a catalog on the main line, on one timeline, and checked", testCatalogView);
    testRun("timeline: import --new-timeline", testImportNewTimeline);
}
