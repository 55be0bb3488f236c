/* Unit tests of archive/outline (the whole archive from its catalog view) and recover/scope (the
 * range a recovery plan loads), over a format-2 archive of crafted index lines: two summarised
 * blocks and a tail, with a GTID break inside the second block. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/identity.h"
#include "archive/outline.h"
#include "archive/summary.h"
#include "common/mem.h"
#include "recover/scope.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

#define SEGMENTS 2100 /* blocks 1-1024 and 1025-2048 summarised, 2049-2100 the tail */
#define BREAK_AT 1500 /* its gtid_start does not continue seq 1499 */

typedef struct Crafted {
    Storage *storage;
    Archive *archive;
    char root[1024];
    bool ready;
} Crafted;

/* Segment seq's metadata: one transaction 0-1-<seq>, 100 bytes of binlog each in one file; seq
 * BREAK_AT starts at a state 1000 transactions later. */
static void
crafted(SegmentMeta *m, uint64_t seq, char *gs, char *ge, size_t size) {
    uint64_t shift = seq >= BREAK_AT ? 1000 : 0;

    snprintf(gs, size, "0-1-%" PRIu64, seq - 1 + shift);
    snprintf(ge, size, "0-1-%" PRIu64, seq + shift);
    fixtureCrafted(m, seq, "bin.000001", 256 + (seq - 1) * 100, 256 + seq * 100, gs, ge);
}

/* The archive: identity at version 2, the chunks of both blocks and of the tail, the level-1
 * summary of the two blocks. */
static void
craftedOpen(Crafted *c) {
    static SegmentMeta metas[SEGMENTS];
    static char gs[SEGMENTS][32], ge[SEGMENTS][32];
    ArchiveIdentity id = {.flavour = BINLOG_FLAVOUR_MARIADB, .serverId = 1};
    Err err = {0};

    memset(c, 0, sizeof(*c));
    snprintf(c->root, sizeof(c->root), "%s/store", testTmpDir());
    REQUIRE(mkdir(c->root, 0700) == 0);
    REQUIRE((c->storage = storageNew(c->root, &err)) != NULL);
    c->archive = archiveNew(c->storage);
    snprintf(id.source, sizeof(id.source), "test");
    REQUIRE(archiveIdentityEnsure(c->archive, &id, NULL, &err) == 0);
    for (uint64_t seq = 1; seq <= SEGMENTS; seq++)
        crafted(&metas[seq - 1], seq, gs[seq - 1], ge[seq - 1], sizeof(gs[0]));
    REQUIRE(fixtureIndexBlocks(c->archive, c->storage, metas, SEGMENTS, &err) == 0);
    REQUIRE(archiveIdentitySetVersion2(c->archive, &err) == 0);
    c->ready = true;
}

static void
craftedClose(Crafted *c) {
    archiveFree(c->archive);
    storageFree(c->storage);
}

/* The outline says what archiveCatalogWindows() of the whole index says, from two summary lines,
 * the tail and the block holding the break. */
static void
testOutlineWindows(void) {
    Crafted cr;
    ArchiveView *v;
    ArchiveOutline *o;
    ArchiveCatalog *all;
    ArchiveWindow *w;
    size_t nw;
    Err err = {0};

    craftedOpen(&cr);
    REQUIRE(cr.ready);
    REQUIRE((v = archiveViewOpen(cr.archive, 0, &err)) != NULL);
    CHECK_INT(archiveViewSpanCount(v), 2);
    REQUIRE((o = archiveOutlineNew(v, &err)) != NULL);
    REQUIRE((all = archiveCatalogLoad(cr.archive, 0, &err)) != NULL);
    nw = archiveCatalogWindows(all, &w);
    REQUIRE(nw == 2);
    CHECK_INT(archiveOutlineWindowCount(o), 2);
    CHECK_INT(archiveOutlineGapCount(o), 1);
    CHECK_INT(archiveOutlineGapAt(o, 0)->kind, ARCHIVE_GAP_GTID);
    CHECK_INT(archiveOutlineGapAt(o, 0)->beforeSeq, BREAK_AT);
    for (size_t i = 0; i < nw && i < archiveOutlineWindowCount(o); i++) {
        const ArchiveWindow *a = archiveOutlineWindowAt(o, i);

        CHECK_INT(a->from->seq, w[i].from->seq);
        CHECK_INT(a->to->seq, w[i].to->seq);
        CHECK_STR(a->firstGtid, w[i].firstGtid);
        CHECK_STR(a->lastGtid, w[i].lastGtid);
        CHECK_INT(a->firstTimeUs, w[i].firstTimeUs);
        CHECK_INT(a->lastTimeUs, w[i].lastTimeUs);
        CHECK_INT(a->transactions, w[i].transactions);
    }
    bvFree(w);
    archiveCatalogFree(all);
    archiveOutlineFree(o);
    archiveViewFree(v);
    craftedClose(&cr);
}

/* Where GTID states and commit times stand: the block (or tail segment) that holds them. */
static void
testOutlineLookups(void) {
    Crafted cr;
    ArchiveView *v;
    uint64_t seq;
    Err err = {0};

    craftedOpen(&cr);
    REQUIRE(cr.ready);
    REQUIRE((v = archiveViewOpen(cr.archive, 0, &err)) != NULL);
    CHECK(archiveOutlineFirstNotHeld(v, "0-1-700", &seq, &err) == 0);
    CHECK_INT(seq, 1); /* block 1 holds 0-1-701 */
    CHECK(archiveOutlineFirstNotHeld(v, "0-1-1100", &seq, &err) == 0);
    CHECK_INT(seq, 1025);
    CHECK(archiveOutlineFirstNotHeld(v, "0-1-3060", &seq, &err) == 0);
    CHECK_INT(seq, 2061); /* in the tail: the segment itself */
    CHECK(archiveOutlineFirstNotHeld(v, "0-1-9999", &seq, &err) == 0);
    CHECK_INT(seq, 0);
    CHECK(archiveOutlineReaching(v, "0-1-1100", false, &seq, &err) == 0);
    CHECK_INT(seq, 2048);
    CHECK(archiveOutlineReaching(v, "0-1-3090", false, &seq, &err) == 0);
    CHECK_INT(seq, 2090);
    CHECK(archiveOutlineReaching(v, "0-1-9999", false, &seq, &err) == 0);
    CHECK_INT(seq, 0);
    CHECK(archiveOutlineFirstNotHeld(v, "garbage", &seq, &err) != 0);
    /* Commits at seq seconds: the first block after seq 100 with one at or before 50 s: none; at
     * or before 1100 s: the second block. */
    CHECK_INT(archiveOutlineCommittedBy(v, 100, 50 * 1000000ull, false), 0);
    CHECK_INT(archiveOutlineCommittedBy(v, 1024, 1100 * 1000000ull, false), 2048);
    archiveViewFree(v);
    craftedClose(&cr);
}

/* Which seqs the store holds, from a listing that starts at the first one asked for. */
static void
testOutlineStored(void) {
    Crafted cr;
    uint8_t *present;
    char name[SEGMENT_NAME_MAX];
    Err err = {0};

    craftedOpen(&cr);
    REQUIRE(cr.ready);
    for (uint64_t seq = 4; seq <= 8; seq += 2) {
        segmentName(seq, "bin.000001", 256 + (seq - 1) * 100, SEGMENT_NAMING_GROUPED, name, sizeof(name));
        REQUIRE(storagePutBuf(cr.storage, name, "abc", seq == 6 ? 0 : 3, STORAGE_PUT_IMMUTABLE, &err) == 0);
    }
    REQUIRE(archiveOutlineStored(cr.archive, 5, 8, &present, &err) == 0);
    CHECK(!archiveOutlineHolds(present, 5, 4));
    CHECK(!archiveOutlineHolds(present, 5, 5));
    CHECK(archiveOutlineHolds(present, 5, 6));
    CHECK(!archiveOutlineHolds(present, 5, 7));
    CHECK(archiveOutlineHolds(present, 5, 8));
    CHECK(!archiveOutlineHolds(NULL, 5, 8));
    bvFree(present);
    craftedClose(&cr);
}

/* A plan's range: from the block where the start stops holding to just past the target, far less
 * than the archive, and enough for the plan's checks. */
static void
testScopeRange(void) {
    Crafted cr;
    ArchiveView *v;
    ArchiveCatalog *c;
    RecoverTarget t = {.kind = RECOVER_UNTIL_GTID, .gtid = "0-1-1800"};
    Err err = {0};

    craftedOpen(&cr);
    REQUIRE(cr.ready);
    REQUIRE((v = archiveViewOpen(cr.archive, 0, &err)) != NULL);
    REQUIRE((c = recoverScopeLoad(v, "0-1-1100", &t, &err)) != NULL);
    CHECK(archiveCatalogAt(c, 0)->seq <= 1100);
    CHECK(archiveCatalogLast(c)->seq >= 1800);
    CHECK(archiveCatalogCount(c) < SEGMENTS / 2 + 100);
    archiveCatalogFree(c);
    /* A target after the end: the plan is given the end, to refuse it in its own words. */
    t.gtid = "0-1-9999";
    REQUIRE((c = recoverScopeLoad(v, "0-1-3000", &t, &err)) != NULL);
    CHECK_INT(archiveCatalogLast(c)->seq, SEGMENTS);
    archiveCatalogFree(c);
    /* A position: the block holding it. */
    t.kind = RECOVER_UNTIL_POSITION;
    snprintf(t.file, sizeof(t.file), "bin.000001");
    t.pos = 256 + 600 * 100;
    REQUIRE((c = recoverScopeLoad(v, "0-1-500", &t, &err)) != NULL);
    CHECK(archiveCatalogAt(c, 0)->seq <= 500 && archiveCatalogLast(c)->seq >= 600 && archiveCatalogLast(c)->seq <= 602);
    archiveCatalogFree(c);
    /* Along a path: the same range in an archive that never forked, with --timeline 1 too; a
     * timeline it does not have refused. */
    {
        TimelineSet *set = timelineSetNew();
        size_t ranged;

        REQUIRE((c = recoverScopeLoadPath(cr.archive, v, set, 0, "0-1-500", &t, &err)) != NULL);
        ranged = archiveCatalogCount(c);
        CHECK(ranged < SEGMENTS / 2);
        archiveCatalogFree(c);
        REQUIRE((c = recoverScopeLoadPath(cr.archive, v, set, 1, "0-1-500", &t, &err)) != NULL);
        CHECK_INT(archiveCatalogCount(c), ranged);
        archiveCatalogFree(c);
        CHECK(recoverScopeLoadPath(cr.archive, v, set, 2, "0-1-500", &t, &err) == NULL);
        CHECK_INT(err.code, ERR_NOTFOUND);
        timelineSetFree(set);
    }
    archiveViewFree(v);
    craftedClose(&cr);
}

void
suite_outline(void) {
    testRun("outline: windows and breaks from the summaries", testOutlineWindows);
    testRun("outline: where a gtid state and a commit time stand", testOutlineLookups);
    testRun("outline: which segments the store holds", testOutlineStored);
    testRun("scope: the range a recovery plan loads", testScopeRange);
}
