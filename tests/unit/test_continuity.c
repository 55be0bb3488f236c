/* Unit tests of archive/continuity: the continuity rules and windows, over crafted metadata. */
#include "archive/catalog.h"
#include "archive/continuity.h"
#include "common/mem.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

static void
testContinuity(void) {
    ArchiveCatalog *c = archiveCatalogNew();
    SegmentMeta m;
    ArchiveGap *gaps;
    ArchiveWindow *windows;
    size_t n, nw;
    Err err = {0};

    fixtureCrafted(&m, 2, "bin.000001", 256, 1000, "0-1-1", "0-1-5");
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 3, "bin.000001", 1000, 2000, "0-1-5", "0-1-9");          /* fine */
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 4, "bin.000001", 2100, 2200, "0-1-9", "0-1-10");         /* position gap */
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 5, "bin.000002", 256, 500, "0-1-10", "0-1-11");          /* later file, fine */
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 6, "bin.000002", 500, 600, "0-1-12", "0-1-13");          /* gtid gap */
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 9, "bin.000002", 600, 700, "0-1-13", "0-1-14");          /* 7-8 missing */
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 10, "bin.000003", 900, 1000, "0-1-14", "0-1-15");        /* later file, not at start */
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 11, "bin.000001", 256, 300, "0-1-15", "0-1-16");         /* earlier file */
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 12, "bin.000001", 300, 400, "0-1-16", "0-1-17");
    REQUIRE(archiveCatalogAdd(c, &m, false, &err) == 0);
    /* Adding the same seq again: same object is fine, another is refused. */
    fixtureCrafted(&m, 3, "bin.000001", 1000, 2000, "0-1-5", "0-1-9");
    CHECK(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 3, "bin.000001", 1001, 2000, "0-1-5", "0-1-9");
    CHECK(archiveCatalogAdd(c, &m, true, &err) != 0);
    CHECK_INT(err.code, ERR_EXISTS);

    n = archiveCatalogGaps(c, &gaps);
    REQUIRE(n == 6);
    CHECK_INT(gaps[0].kind, ARCHIVE_GAP_MISSING);
    CHECK_INT(gaps[0].afterSeq, 0);
    CHECK_MSG(gaps[0].message, "seq 1 missing before");
    CHECK_INT(gaps[1].kind, ARCHIVE_GAP_POSITION);
    CHECK_INT(gaps[1].afterSeq, 3);
    CHECK(strstr(gaps[1].message, "position gap in bin.000001") != NULL && strstr(gaps[1].message, "2100") != NULL);
    CHECK_INT(gaps[2].kind, ARCHIVE_GAP_GTID);
    CHECK(strstr(gaps[2].message, "0-1-11") != NULL && strstr(gaps[2].message, "0-1-12") != NULL);
    CHECK_INT(gaps[3].kind, ARCHIVE_GAP_MISSING);
    CHECK_MSG(gaps[3].message, "seq 7-8 missing between");
    CHECK_INT(gaps[4].kind, ARCHIVE_GAP_FILE);
    CHECK_MSG(gaps[4].message, "start of bin.000003 is missing");
    CHECK_INT(gaps[5].kind, ARCHIVE_GAP_FILE);
    CHECK_INT(gaps[5].beforeSeq, 11);
    bvFree(gaps);

    nw = archiveCatalogWindows(c, &windows);
    REQUIRE(nw == 6);
    CHECK_INT(windows[0].from->seq, 2);
    CHECK_INT(windows[0].to->seq, 3);
    CHECK_INT(windows[1].from->seq, 4);
    CHECK_INT(windows[1].to->seq, 5);
    CHECK_INT(windows[2].from->seq, 6);
    CHECK_INT(windows[5].from->seq, 11);
    CHECK_INT(windows[5].to->seq, 12);
    CHECK_INT(windows[5].transactions, 2);
    CHECK_STR(windows[5].lastGtid, "0-1-17");
    bvFree(windows);
    CHECK_INT(archiveCatalogContiguousSeq(c), 0);
    archiveCatalogFree(c);

    /* A file boundary with the same GTID state is continuous even when the file did not end. */
    c = archiveCatalogNew();
    fixtureCrafted(&m, 1, "bin.000001", 256, 1000, "", "0-1-5");
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 2, "bin.000002", 256, 400, "0-1-5", "0-1-6");
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    CHECK_INT(archiveCatalogGaps(c, &gaps), 0);
    bvFree(gaps);
    CHECK_INT(archiveCatalogContiguousSeq(c), 2);
    archiveCatalogFree(c);
}

void
suite_continuity(void) {
    testRun("archive: continuity rules and windows", testContinuity);
}
