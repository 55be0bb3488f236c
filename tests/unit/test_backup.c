/* Unit tests of archive/backup: where a base backup lies in the archive, and what it keeps. */
#include <stdio.h>
#include <sys/stat.h>

#include "archive/backup.h"
#include "archive/catalog.h"
#include "archive/lookup.h"
#include "archive/prune.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

/* Seqs 1-2 of bin.000001 and 3-4 of bin.000002, MariaDB states 0-1-1 .. 0-1-20; seq n committed at
 * n seconds. */
static ArchiveCatalog *
craftedCatalog(void) {
    static const struct {
        const char *file;
        uint64_t start, end;
        const char *gs, *ge;
    } segs[] = {{"bin.000001", 256, 1000, "0-1-1", "0-1-5"},
                {"bin.000001", 1000, 2000, "0-1-5", "0-1-9"},
                {"bin.000002", 256, 500, "0-1-9", "0-1-12"},
                {"bin.000002", 500, 900, "0-1-12", "0-1-20"}};
    ArchiveCatalog *c = archiveCatalogNew();
    SegmentMeta m;
    Err err = {0};

    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
        fixtureCrafted(&m, i + 1, segs[i].file, segs[i].start, segs[i].end, segs[i].gs, segs[i].ge);
        if (archiveCatalogAdd(c, &m, true, &err) != 0) {
            testFail(__FILE__, __LINE__, "archiveCatalogAdd: %s", err.msg);
            archiveCatalogFree(c);
            return NULL;
        }
    }
    return c;
}

/* Where replay from a base backup starts, by position and by GTID state. */
static void
testPruneBases(void) {
    ArchiveCatalog *c = craftedCatalog();
    ArchiveBasePoint bp = {{0}, 0, NULL};
    ArchiveRetention r = {0};
    uint64_t seq;
    Err err = {0};

    REQUIRE(c != NULL);
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

/* The binlog info file of a backup directory: mariadb-backup's name first, then xtrabackup's. */
static void
testBaseRead(void) {
    ArchiveBasePoint bp;
    char dir[1024], path[1200];
    FILE *f;
    Err err = {0};

    snprintf(dir, sizeof(dir), "%s/backup", testTmpDir());
    REQUIRE(mkdir(dir, 0700) == 0);
    CHECK(archiveBasePointRead(dir, &bp, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "has neither mariadb_backup_binlog_info nor xtrabackup_binlog_info");
    snprintf(path, sizeof(path), "%s/xtrabackup_binlog_info", dir);
    REQUIRE((f = fopen(path, "w")) != NULL);
    fputs("bin.000002\t1234\t0-1-7\n", f);
    fclose(f);
    REQUIRE(archiveBasePointRead(dir, &bp, &err) == 0);
    CHECK_STR(bp.file, "bin.000002");
    CHECK_INT(bp.pos, 1234);
    CHECK_STR(bp.gtid, "0-1-7");
    archiveBasePointClear(&bp);
    snprintf(path, sizeof(path), "%s/mariadb_backup_binlog_info", dir);
    REQUIRE((f = fopen(path, "w")) != NULL);
    fputs("nonsense", f);
    fclose(f);
    CHECK(archiveBasePointRead(dir, &bp, &err) != 0);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "mariadb_backup_binlog_info");
}

/* The seq a prune is given: the retention's, or the first seq when that deletes nothing. */
static void
testPruneTarget(void) {
    ArchiveCatalog *c = craftedCatalog();
    ArchiveRetention r = {0};
    uint64_t seq;
    Err err = {0};

    REQUIRE(c != NULL);
    r.keepFromUs = 2000000; /* seq 2 committed at 2 s */
    REQUIRE(archivePruneTarget(c, &r, &seq, &err) == 0);
    CHECK_INT(seq, 2);
    r.keepFromUs = 0; /* keeps everything: the archive's first seq */
    REQUIRE(archivePruneTarget(c, &r, &seq, &err) == 0);
    CHECK_INT(seq, archiveCatalogFirstSeq(c));
    CHECK_INT(archiveCatalogFirstCommitFrom(c, 1), 2000000);
    archiveCatalogFree(c);
}

void
suite_backup(void) {
    testRun("archive: retention point with base backups", testPruneBases);
    testRun("backup: the binlog info file of a backup directory", testBaseRead);
    testRun("backup: the seq a prune is given", testPruneTarget);
}
