/* Unit tests of archive/gap: accepted-gap records, as the catalog loads them and continuity reads them. */
#include <stdio.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/gap.h"
#include "archive/index.h"
#include "common/mem.h"
#include "storage/storage.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

/* An index of three segments: 1 ends in bin.000001, 2 starts in bin.000003 (bin.000002 was purged
 * before it was archived), 3 continues 2. */
static Archive *
gapArchive(Storage **storage) {
    SegmentMeta m[3];
    Err err = {0};
    char root[1024];
    Archive *a;

    snprintf(root, sizeof(root), "%s/gap-archive", testTmpDir());
    *storage = storageNew(root, &err);
    BV_ASSERT(*storage != NULL);
    a = archiveNew(*storage);
    fixtureCrafted(&m[0], 1, "bin.000001", 256, 1000, "0-1-1", "0-1-5");
    fixtureCrafted(&m[1], 2, "bin.000003", 256, 900, "0-1-9", "0-1-12");
    fixtureCrafted(&m[2], 3, "bin.000003", 900, 1200, "0-1-12", "0-1-13");
    BV_ASSERT(archiveIndexPut(a, NULL, m, 3, &err) == 0);
    return a;
}

static void
gapRecord(ArchiveGapRecord *rec, const char *fromFile, uint64_t fromPos, const char *toFile) {
    memset(rec, 0, sizeof(*rec));
    rec->afterSeq = 1;
    rec->beforeSeq = 2;
    snprintf(rec->from.file, sizeof(rec->from.file), "%s", fromFile);
    rec->from.pos = fromPos;
    rec->from.gtidState = bvStrdup("0-1-5");
    snprintf(rec->to.file, sizeof(rec->to.file), "%s", toFile);
    rec->to.pos = 4;
    rec->to.gtidState = bvStrdup("");
    snprintf(rec->reason, sizeof(rec->reason), "--accept-gap: the source purged bin.000002");
}

static size_t
loadGaps(Archive *a, ArchiveGap **gaps, size_t *windows, size_t *problems) {
    Err err = {0};
    ArchiveCatalog *c = archiveCatalogLoad(a, 0, &err);
    ArchiveWindow *w;
    size_t n;

    if (c == NULL) {
        testFail(__FILE__, __LINE__, "load: %s", err.msg);
        *gaps = NULL;
        return 0;
    }
    n = archiveCatalogGaps(c, gaps);
    *windows = archiveCatalogWindows(c, &w);
    *problems = archiveCatalogProblemCount(c);
    bvFree(w);
    archiveCatalogFree(c);
    return n;
}

/* Without a record the purge is a break; with one it is one accepted gap, which still splits the
 * windows (recovery never crosses it). */
static void
testAcceptedGap(void) {
    Storage *s;
    Archive *a = gapArchive(&s);
    ArchiveGapRecord rec;
    ArchiveGap *gaps;
    size_t n, nw, np;
    Err err = {0};

    n = loadGaps(a, &gaps, &nw, &np);
    CHECK(n >= 1);
    for (size_t i = 0; i < n; i++)
        CHECK(!gaps[i].accepted);
    bvFree(gaps);

    gapRecord(&rec, "bin.000001", 1000, "bin.000003");
    REQUIRE(archiveGapRecordWrite(a, &rec, &err) == 0);
    n = loadGaps(a, &gaps, &nw, &np);
    CHECK_INT(n, 1);
    CHECK_INT(np, 0);
    CHECK_INT(nw, 2);
    if (n == 1) {
        CHECK(gaps[0].accepted);
        CHECK_INT(gaps[0].kind, ARCHIVE_GAP_ACCEPTED);
        CHECK_STR(archiveGapKindName(gaps[0].kind), "accepted");
        CHECK_INT(gaps[0].afterSeq, 1);
        CHECK_INT(gaps[0].beforeSeq, 2);
        CHECK_MSG(gaps[0].message, "accepted gap");
        CHECK_MSG(gaps[0].message, "gaps/0000000000000002.json");
        CHECK_MSG(gaps[0].message, "from bin.000001:1000 (gtid state 0-1-5) to bin.000003:4");
        CHECK_MSG(gaps[0].message, "the source purged bin.000002");
    }
    bvFree(gaps);

    /* The same gap accepted again is fine; another start for the same seq is refused. */
    CHECK(archiveGapRecordWrite(a, &rec, &err) == 0);
    archiveGapRecordClear(&rec);
    gapRecord(&rec, "bin.000001", 1000, "bin.000004");
    CHECK(archiveGapRecordWrite(a, &rec, &err) == -1);
    CHECK_INT(err.code, ERR_EXISTS);
    CHECK_MSG(err.msg, "already accepts another gap");
    archiveGapRecordClear(&rec);
    archiveFree(a);
    storageFree(s);
}

/* A record that does not match the segment before it, or cannot be read, accepts nothing. */
static void
testGapRecordMismatch(void) {
    Storage *s;
    Archive *a = gapArchive(&s);
    ArchiveGapRecord rec;
    ArchiveGap *gaps;
    size_t n, nw, np;
    bool ignored = false;
    Err err = {0};

    gapRecord(&rec, "bin.000001", 999, "bin.000003");
    REQUIRE(archiveGapRecordWrite(a, &rec, &err) == 0);
    archiveGapRecordClear(&rec);
    n = loadGaps(a, &gaps, &nw, &np);
    CHECK(n >= 2);
    for (size_t i = 0; i < n; i++) {
        CHECK(!gaps[i].accepted);
        ignored |= strstr(gaps[i].message, "the record is ignored") != NULL;
    }
    CHECK(ignored);
    CHECK_INT(np, 0);
    bvFree(gaps);
    /* A malformed record is a problem of the load, and accepts nothing. */
    REQUIRE(storagePutBuf(s, "gaps/0000000000000003.json", "{\"version\":1}", 13, STORAGE_PUT_IMMUTABLE, &err) == 0);
    n = loadGaps(a, &gaps, &nw, &np);
    CHECK_INT(np, 1);
    for (size_t i = 0; i < n; i++)
        CHECK(!gaps[i].accepted);
    bvFree(gaps);
    archiveFree(a);
    storageFree(s);
}

static void
testGapRecordParse(void) {
    ArchiveGapRecord rec;
    Err err = {0};
    uint64_t seq;
    const char *good = "{\"version\":1,\"after_seq\":4411,\"before_seq\":4412,"
                       "\"from\":{\"file\":\"mariadb-bin.000031\",\"pos\":1337,\"gtid_state\":\"0-1-9000\"},"
                       "\"to\":{\"file\":\"mariadb-bin.000033\",\"pos\":4,\"gtid_state\":\"\"},"
                       "\"created\":\"2026-12-06T08:00:00Z\",\"reason\":\"r\",\"unknown\":1}";
    const char *notConsecutive = "{\"version\":1,\"after_seq\":4411,\"before_seq\":4413,"
                                 "\"from\":{\"file\":\"b.000001\",\"pos\":4,\"gtid_state\":\"\"},"
                                 "\"to\":{\"file\":\"b.000002\",\"pos\":4,\"gtid_state\":\"\"},\"created\":\"x\"}";
    const char *noTo = "{\"version\":1,\"after_seq\":1,\"before_seq\":2,"
                       "\"from\":{\"file\":\"b.000001\",\"pos\":4,\"gtid_state\":\"\"},\"created\":\"x\"}";
    const char *v2 = "{\"version\":2,\"after_seq\":1,\"before_seq\":2}";
    char name[64];

    REQUIRE(archiveGapRecordParse(good, strlen(good), &rec, &err) == 0);
    CHECK_INT(rec.afterSeq, 4411);
    CHECK_INT(rec.beforeSeq, 4412);
    CHECK_STR(rec.from.file, "mariadb-bin.000031");
    CHECK_INT(rec.from.pos, 1337);
    CHECK_STR(rec.from.gtidState, "0-1-9000");
    CHECK_STR(rec.to.file, "mariadb-bin.000033");
    CHECK_STR(rec.reason, "r");
    archiveGapRecordClear(&rec);
    CHECK(archiveGapRecordParse(notConsecutive, strlen(notConsecutive), &rec, &err) == -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "not consecutive");
    CHECK(archiveGapRecordParse(noTo, strlen(noTo), &rec, &err) == -1);
    CHECK_MSG(err.msg, "'to'");
    CHECK(archiveGapRecordParse(v2, strlen(v2), &rec, &err) == -1);
    CHECK_MSG(err.msg, "version 2 is not supported");
    archiveGapName(12, name, sizeof(name));
    CHECK_STR(name, "gaps/0000000000000012.json");
    CHECK(archiveGapNameParse(name, &seq) == 0 && seq == 12);
    CHECK(archiveGapNameParse("gaps/12.json", &seq) == -1);
    CHECK(archiveGapNameParse("gaps/0000000000000001.json", &seq) == -1);
}

void suite_gap(void);

void
suite_gap(void) {
    testRun("gap: a gap record turns a break into one accepted gap", testAcceptedGap);
    testRun("gap: a record that does not match accepts nothing", testGapRecordMismatch);
    testRun("gap: record documents and names", testGapRecordParse);
}
