/* Unit tests of archive/backup: where a base backup lies in the archive, and what it keeps. */
#include "archive/backup.h"
#include "archive/catalog.h"
#include "archive/prune.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

/* Where replay from a base backup starts, by position and by GTID state. */
static void
testPruneBases(void) {
    ArchiveCatalog *c = archiveCatalogNew();
    SegmentMeta m;
    ArchiveBasePoint bp = {{0}, 0, NULL};
    ArchiveRetention r = {0};
    uint64_t seq;
    Err err = {0};

    fixtureCrafted(&m, 1, "bin.000001", 256, 1000, "0-1-1", "0-1-5");
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 2, "bin.000001", 1000, 2000, "0-1-5", "0-1-9");
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 3, "bin.000002", 256, 500, "0-1-9", "0-1-12");
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    fixtureCrafted(&m, 4, "bin.000002", 500, 900, "0-1-12", "0-1-20");
    REQUIRE(archiveCatalogAdd(c, &m, true, &err) == 0);
    bp.gtid = "";
    snprintf(bp.file, sizeof(bp.file), "bin.000001");
    bp.pos = 1500;
    REQUIRE(archiveBaseNeededSeq(c, &bp, &seq, &err) == 0);
    CHECK_INT(seq, 2);
    bp.pos = 2000; /* at the end of the file's last segment: the next file */
    REQUIRE(archiveBaseNeededSeq(c, &bp, &seq, &err) == 0);
    CHECK_INT(seq, 3);
    snprintf(bp.file, sizeof(bp.file), "bin.000000"); /* older than the archive */
    REQUIRE(archiveBaseNeededSeq(c, &bp, &seq, &err) == 0);
    CHECK_INT(seq, 1);
    snprintf(bp.file, sizeof(bp.file), "bin.000003"); /* newer */
    REQUIRE(archiveBaseNeededSeq(c, &bp, &seq, &err) == 0);
    CHECK(seq == UINT64_MAX);
    snprintf(bp.file, sizeof(bp.file), "other-bin.000002"); /* another server's binlogs */
    CHECK(archiveBaseNeededSeq(c, &bp, &seq, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    bp.gtid = "0-1-12"; /* by GTID: replay starts with 0-1-13, in seq 4 */
    REQUIRE(archiveBaseNeededSeq(c, &bp, &seq, &err) == 0);
    CHECK_INT(seq, 4);
    snprintf(bp.file, sizeof(bp.file), "bin.000001"); /* both: the lower one */
    bp.pos = 1500;
    REQUIRE(archiveBaseNeededSeq(c, &bp, &seq, &err) == 0);
    CHECK_INT(seq, 2);
    bp.gtid = "garbage";
    CHECK(archiveBaseNeededSeq(c, &bp, &seq, &err) != 0);
    CHECK_INT(err.code, ERR_FORMAT);
    /* The rule keeps from seq 4, the base backup needs seq 2. */
    bp.gtid = "0-1-5";
    r.keepFromUs = 4000000;
    REQUIRE(archiveRetentionSeq(c, &r, &seq, &err) == 0);
    CHECK_INT(seq, 4);
    r.bases = &bp;
    r.baseCount = 1;
    REQUIRE(archiveRetentionSeq(c, &r, &seq, &err) == 0);
    CHECK_INT(seq, 2);
    archiveCatalogFree(c);
}

void
suite_backup(void) {
    testRun("archive: retention point with base backups", testPruneBases);
}
