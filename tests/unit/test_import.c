/* Unit tests of archive/import: binlog files archived through the segmenter, resumed, refused. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "archive/continuity.h"
#include "archive/identity.h"
#include "archive/import.h"
#include "common/mem.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

static void
testImportWhole(void) {
    ArchiveFixture r;
    ArchiveImportResult res;
    ArchiveCatalog *c;
    ArchiveCheckpoint cp;
    ArchiveIdentity id;
    ArchiveGap *gaps;
    char *files[FIXTURE_FILES];
    Err err = {0};

    REQUIRE(fixtureOpen(&r, 64 * 1024 * 1024) == 0);
    /* Given out of order: taken in binlog order. */
    files[0] = r.argv[2];
    files[1] = r.argv[0];
    files[2] = r.argv[3];
    files[3] = r.argv[1];
    REQUIRE(archiveImport(r.archive, &r.opts, files, FIXTURE_FILES, &res, &err) == 0);
    CHECK_INT(res.files, 4);
    CHECK_INT(res.segments, 4); /* one per file: each ends with a ROTATE, or before the next file */
    CHECK_INT(res.transactions, 14);
    CHECK_INT(r.noticeCount, 0);
    REQUIRE(archiveIdentityRead(r.archive, &id, &err) == 0);
    CHECK_INT(id.flavour, BINLOG_FLAVOUR_MARIADB);
    CHECK_STR(id.source, "import");
    c = archiveCatalogLoad(r.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    REQUIRE(archiveCatalogCount(c) == 4);
    for (size_t i = 0; i < 4; i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);

        CHECK_INT(m->seq, i + 1);
        CHECK(archiveCatalogIndexed(c, i));
        CHECK(m->endsFile);
        CHECK_INT(m->startPos, 256);
    }
    CHECK_STR(archiveCatalogAt(c, 0)->file, "mariadb-bin.000001");
    CHECK_STR(segmentMetaGtidEnd(archiveCatalogAt(c, 3)), "0-11-11,2-11-3");
    /* The file after the first starts where the first ends: its GTID_LIST state. */
    CHECK_STR(segmentMetaGtidStart(archiveCatalogAt(c, 1)), "0-11-9,2-11-2");
    CHECK_INT(archiveCatalogGaps(c, &gaps), 0);
    bvFree(gaps);
    REQUIRE(archiveCheckpointRead(r.archive, &cp, &err) == 0);
    CHECK_INT(cp.seq, 4);
    CHECK_STR(cp.file, "mariadb-bin.000004");
    CHECK_INT(cp.endPos, 412);
    archiveCheckpointClear(&cp);
    archiveCatalogFree(c);
    /* Again: nothing new, every file skipped. */
    REQUIRE(archiveImport(r.archive, &r.opts, r.argv, FIXTURE_FILES, &res, &err) == 0);
    CHECK_INT(res.segments, 0);
    CHECK_INT(r.noticeCount, 4);
    CHECK_MSG(r.notices, "skipping '");
    CHECK_MSG(r.notices, "the archive already holds it");
    fixtureClose(&r);
}

/* The segmenter's cut policy: at the segment size, at a transaction boundary only. */
static void
testImportCuts(void) {
    ArchiveFixture r;
    ArchiveImportResult res;
    ArchiveCatalog *c;
    ArchiveGap *gaps;
    Err err = {0};
    uint64_t txns = 0;

    REQUIRE(fixtureOpen(&r, 1024) == 0);
    REQUIRE(archiveImport(r.archive, &r.opts, r.argv, FIXTURE_FILES, &res, &err) == 0);
    c = archiveCatalogLoad(r.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogCount(c), res.segments);
    CHECK(res.segments > 4);
    for (size_t i = 0; i < archiveCatalogCount(c); i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);

        txns += m->transactions;
        /* A segment closed before its file's end was cut once it held the segment size. */
        if (i + 1 < archiveCatalogCount(c) && strcmp(archiveCatalogAt(c, i + 1)->file, m->file) == 0) {
            CHECK(!m->endsFile);
            CHECK(m->contentLen >= 1024);
        }
    }
    CHECK_INT(txns, 14);
    CHECK_INT(archiveCatalogGaps(c, &gaps), 0);
    bvFree(gaps);
    archiveCatalogFree(c);
    fixtureClose(&r);
}

/* A file still being written: imported up to its last whole transaction, then resumed. */
static void
testImportResume(void) {
    ArchiveFixture r;
    ArchiveImportResult res;
    ArchiveCatalog *c;
    ArchiveWindow w;
    char part[1024];
    char *files[1];
    unsigned char *data;
    size_t len;
    FILE *f;
    Err err = {0};

    REQUIRE(fixtureOpen(&r, 64 * 1024 * 1024) == 0);
    data = testReadFile(r.files[0], &len);
    REQUIRE(data != NULL && len > 2000);
    snprintf(part, sizeof(part), "%s/part", testTmpDir());
    REQUIRE(mkdir(part, 0700) == 0);
    snprintf(part + strlen(part), sizeof(part) - strlen(part), "/mariadb-bin.000001");
    f = fopen(part, "wb");
    REQUIRE(f != NULL);
    fwrite(data, 1, 2000, f);
    fclose(f);
    bvFree(data);
    files[0] = part;
    REQUIRE(archiveImport(r.archive, &r.opts, files, 1, &res, &err) == 0);
    CHECK_INT(res.segments, 1);
    CHECK_MSG(r.notices, "ends inside an event at offset 1923; importing up to 1881");
    r.notices[0] = '\0';
    REQUIRE(archiveImport(r.archive, &r.opts, r.argv, FIXTURE_FILES, &res, &err) == 0);
    CHECK_INT(res.files, 4);
    c = archiveCatalogLoad(r.archive, 0, &err);
    REQUIRE(c != NULL);
    REQUIRE(archiveCatalogCount(c) >= 2);
    CHECK_INT(archiveCatalogAt(c, 0)->endPos, 1881);
    CHECK(!archiveCatalogAt(c, 0)->endsFile);
    CHECK_INT(archiveCatalogAt(c, 1)->startPos, 1881);
    REQUIRE(archiveCatalogWindow(c, &w, &err) == 0);
    CHECK_INT(w.first, 0);
    CHECK_INT(w.transactions, 14);
    archiveCatalogFree(c);
    fixtureClose(&r);
}

static void
testImportRefusals(void) {
    ArchiveFixture r;
    ArchiveImportResult res;
    char path[1024], dir[1024];
    char *files[2];
    Err err = {0};

    REQUIRE(fixtureOpen(&r, 64 * 1024 * 1024) == 0);
    snprintf(dir, sizeof(dir), "%s/other", testTmpDir());
    REQUIRE(mkdir(dir, 0700) == 0);
    /* Not a binlog file name. */
    fixtureAs(dir, fixtureMariaName(0), "mariadb bin+1", path, sizeof(path));
    files[0] = path;
    CHECK(archiveImport(r.archive, &r.opts, files, 1, &res, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    /* Two files of the same name. */
    fixtureAs(dir, fixtureMariaName(1), "mariadb-bin.000001", path, sizeof(path));
    files[0] = r.argv[0];
    files[1] = path;
    CHECK(archiveImport(r.archive, &r.opts, files, 2, &res, &err) != 0);
    CHECK_MSG(err.msg, "have the same binlog file name");
    /* A file whose GTID state does not follow the archive's end: the binlogs between are missing
     * (here: the third file again, after the fourth). */
    REQUIRE(archiveImport(r.archive, &r.opts, r.argv, FIXTURE_FILES, &res, &err) == 0);
    fixtureAs(dir, fixtureMariaName(2), "mariadb-bin.000007", path, sizeof(path));
    files[0] = path;
    CHECK(archiveImport(r.archive, &r.opts, files, 1, &res, &err) != 0);
    CHECK_INT(err.code, ERR_GAP);
    CHECK_MSG(err.msg, "the binlogs between them are missing");
    /* Another server's binlog that would continue the archive by name: refused by its server_id
     * (and its GTID state, which starts empty after an archive with GTIDs). */
    fixtureAs(dir, "mariadb-10.5.15-gtid-annotate-rows.binlog", "mariadb-bin.000009", path, sizeof(path));
    CHECK(archiveImport(r.archive, &r.opts, files, 1, &res, &err) != 0);
    CHECK_INT(err.code, ERR_GAP);
    CHECK_MSG(err.msg, "was written by server_id 1 but the archive holds the binlogs of server_id 11");
    /* Another flavour. */
    fixtureAs(dir, "mysql-8.0.45-gtid.000001.binlog", "mariadb-bin.000008", path, sizeof(path));
    CHECK(archiveImport(r.archive, &r.opts, files, 1, &res, &err) != 0);
    CHECK_INT(err.code, ERR_CONFIG);
    fixtureClose(&r);
}

/* MariaDB 11.4 and later write the events inside a transaction with log_pos 0
 * (binlog_legacy_event_pos=OFF): a real 11.8 binlog is archived whole, every event, and reads back
 * byte for byte. */
static void
testImportZeroLogPos(void) {
    ArchiveFixture r;
    ArchiveImportResult res;
    ArchiveCatalog *c;
    char path[4096], *files[1] = {path};
    const char *dir;
    unsigned char *orig;
    size_t origLen = 0;
    Err err = {0};

    REQUIRE(fixtureOpen(&r, 64 * 1024 * 1024) == 0);
    dir = testTmpDir();
    fixtureAs(dir, "mariadb-11.8.5-gtid-stmt.000005.binlog", "mariadb-bin.000005", path, sizeof(path));
    REQUIRE(archiveImport(r.archive, &r.opts, files, 1, &res, &err) == 0);
    CHECK_INT(res.transactions, 87);
    CHECK_INT(res.segments, 1);
    c = archiveCatalogLoad(r.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL && archiveCatalogCount(c) == 1);
    orig = testReadFile(path, &origLen);
    REQUIRE(orig != NULL);
    CHECK_INT(archiveCatalogAt(c, 0)->endPos, origLen);
    CHECK_INT(archiveCatalogAt(c, 0)->events, 526); /* all 527 events of MANIFEST.md but the FDE */
    bvFree(orig);
    archiveCatalogFree(c);
    fixtureClose(&r);
}

void
suite_import(void) {
    testRun("import: whole files, one segment each, in binlog order", testImportWhole);
    testRun("import: the segmenter cuts at the segment size", testImportCuts);
    testRun("import: a file that ends inside an event, resumed", testImportResume);
    testRun("import: refusals", testImportRefusals);
    testRun("import: MariaDB 11.4+ events with log_pos 0 inside transactions", testImportZeroLogPos);
}
