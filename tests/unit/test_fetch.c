/* Unit tests of archive/fetch: ranges located and written back out as the server's binlog files. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/fetch.h"
#include "common/mem.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

static bool
sameFile(const char *a, const char *b) {
    size_t la, lb;
    unsigned char *da = testReadFile(a, &la), *db = testReadFile(b, &lb);
    bool same = da != NULL && db != NULL && la == lb && memcmp(da, db, la) == 0;

    bvFree(da);
    bvFree(db);
    return same;
}

static ArchiveFetchPoint
position(const char *file, uint64_t pos) {
    ArchiveFetchPoint p = {.type = ARCHIVE_FETCH_POSITION, .pos = pos};

    snprintf(p.file, sizeof(p.file), "%s", file);
    return p;
}

/* The fixture binlogs imported (1 KiB segments) and the archive's catalog. */
static ArchiveCatalog *
importedCatalog(ArchiveFixture *f) {
    ArchiveCatalog *c;
    Err err = {0};

    if (fixtureOpen(f, 1024) != 0 || fixtureImportAll(f) != 0)
        return NULL;
    if ((c = archiveCatalogLoad(f->archive, 0, &err)) == NULL)
        testFail(__FILE__, __LINE__, "archiveCatalogLoad: %s", err.msg);
    return c;
}

static void
testFetchWhole(void) {
    ArchiveFixture f;
    ArchiveCatalog *c;
    ArchiveFetchPoint none = {0};
    ArchiveFetchRange range;
    ArchiveFetchResult res;
    char dir[1024];
    Err err = {0};

    c = importedCatalog(&f);
    REQUIRE(c != NULL);
    REQUIRE(archiveFetchLocate(c, &none, &none, &range, &err) == 0);
    CHECK_INT(range.first, 0);
    CHECK_INT(range.last, archiveCatalogCount(c) - 1);
    snprintf(dir, sizeof(dir), "%s/out", testTmpDir());
    REQUIRE(archiveFetchWrite(f.archive, c, &range, dir, &res, &err) == 0);
    CHECK_INT(res.fileCount, FIXTURE_FILES);
    CHECK_INT(res.events, 75);
    CHECK_INT(res.transactions, 14);
    CHECK_INT(res.startPos, 256);
    CHECK_STR(res.endFile, "mariadb-bin.000004");
    CHECK_INT(res.endPos, 412);
    /* The server's files, byte for byte. */
    for (size_t i = 0; i < res.fileCount && i < FIXTURE_FILES; i++) {
        CHECK_MSG(res.paths[i], strrchr(f.files[i], '/') + 1);
        CHECK(sameFile(res.paths[i], f.files[i]));
    }
    archiveFetchResultClear(&res);
    /* Never over an existing file; nothing of the run is left. */
    CHECK(archiveFetchWrite(f.archive, c, &range, dir, &res, &err) != 0);
    CHECK_INT(err.code, ERR_EXISTS);
    archiveCatalogFree(c);
    fixtureClose(&f);
}

static void
testFetchRange(void) {
    ArchiveFixture f;
    ArchiveCatalog *c;
    ArchiveFetchPoint from = position("mariadb-bin.000001", 1300), until = {.type = ARCHIVE_FETCH_GTID, .gtid = "0-11-10"};
    ArchiveFetchRange range;
    ArchiveFetchResult res;
    char dir[1024];
    Err err = {0};

    c = importedCatalog(&f);
    REQUIRE(c != NULL);
    REQUIRE(archiveFetchLocate(c, &from, &until, &range, &err) == 0);
    snprintf(dir, sizeof(dir), "%s/out", testTmpDir());
    REQUIRE(archiveFetchWrite(f.archive, c, &range, dir, &res, &err) == 0);
    /* From the transaction holding byte 1300 (it starts at 1208) through 0-11-10's in the third file. */
    CHECK_INT(res.startPos, 1208);
    CHECK_INT(res.fileCount, 3);
    CHECK_STR(res.endFile, "mariadb-bin.000003");
    CHECK(res.endPos > 256 && res.endPos < 1255);
    CHECK_INT(res.transactions, 9); /* 0-11-4 .. 0-11-9 and 2-11-1, 2-11-2 of the first file, 0-11-10 */
    archiveFetchResultClear(&res);
    archiveCatalogFree(c);
    fixtureClose(&f);
}

static void
testFetchRefusals(void) {
    ArchiveFixture f;
    ArchiveCatalog *c;
    ArchiveFetchPoint none = {0}, p, q;
    ArchiveFetchRange range;
    Err err = {0};

    c = importedCatalog(&f);
    REQUIRE(c != NULL);
    p = position("mariadb-bin.000009", 300);
    CHECK(archiveFetchLocate(c, &p, &none, &range, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "from: binlog file 'mariadb-bin.000009' is not in the archive");
    q = (ArchiveFetchPoint){.type = ARCHIVE_FETCH_GTID, .gtid = "0-11-99"};
    CHECK(archiveFetchLocate(c, &none, &q, &range, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "until: ");
    p = position("mariadb-bin.000003", 300);
    q = position("mariadb-bin.000001", 300);
    CHECK(archiveFetchLocate(c, &p, &q, &range, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "is after the until point");
    archiveCatalogFree(c);
    fixtureClose(&f);
}

void
suite_fetch(void) {
    testRun("fetch: the whole archive, byte for byte the server's files", testFetchWhole);
    testRun("fetch: a range from a position to a gtid", testFetchRange);
    testRun("fetch: ranges outside the archive or reversed", testFetchRefusals);
}
