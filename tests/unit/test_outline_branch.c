/* Unit tests of archive/outline's windows of a forked archive whose diverged branch has a break (and
 * whose main line has one before the fork): followed along the main line, the branch's break is the
 * branch's (archiveOutlineBranchGapAt()) and splits no window of the main line; along timeline 1,
 * which holds the branch, it splits the window. And
 * `verify` (archive/verify.h) reports it as a problem of the branch, with the main line's windows. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/identity.h"
#include "archive/outline.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "archive/verify.h"
#include "common/mem.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

#define SEGMENTS (3 * ARCHIVE_BLOCK_SEGMENTS + 10) /* three summarised blocks and a tail */
#define FORK_SEQ 1500   /* timeline 2 leaves timeline 1 after this segment... */
#define TL2_FIRST 2100  /* ...and starts here: 1501-2099 diverged */
#define BRANCH_GAP 1800 /* a diverged segment whose gtid_start skips 100 transactions */
#define MAIN_GAP 500    /* and one of the main line, before the fork, skipping 10 */

typedef struct Forked {
    Storage *storage;
    Archive *archive;
    bool ready;
} Forked;

/* Seq's GTID states: timeline 1's seq s holds 0-1-s (10 later from MAIN_GAP on, 110 from
 * BRANCH_GAP on), timeline 2's 0-2-<s - TL2_FIRST + FORK_SEQ + 11>, its first continuing the fork's
 * state. */
static void
states(uint64_t seq, char *gs, char *ge, size_t size) {
    uint64_t shift = (seq >= MAIN_GAP ? 10 : 0) + (seq >= BRANCH_GAP ? 100 : 0);

    if (seq < TL2_FIRST) {
        snprintf(gs, size, "0-1-%" PRIu64, seq - 1 + shift);
        snprintf(ge, size, "0-1-%" PRIu64, seq + shift);
        return;
    }
    if (seq == TL2_FIRST)
        snprintf(gs, size, "0-1-%d", FORK_SEQ + 10);
    else
        snprintf(gs, size, "0-2-%" PRIu64, seq - TL2_FIRST + FORK_SEQ + 10);
    snprintf(ge, size, "0-2-%" PRIu64, seq - TL2_FIRST + FORK_SEQ + 11);
}

static void
forkedOpen(Forked *f) {
    static SegmentMeta metas[SEGMENTS];
    static char gs[SEGMENTS][32], ge[SEGMENTS][32];
    ArchiveIdentity id = {.flavour = BINLOG_FLAVOUR_MARIADB, .serverId = 1};
    char root[1024];
    Err err = {0};

    memset(f, 0, sizeof(*f));
    snprintf(root, sizeof(root), "%s/forked", testTmpDir());
    REQUIRE(mkdir(root, 0700) == 0);
    REQUIRE((f->storage = storageNew(root, &err)) != NULL);
    f->archive = archiveNew(f->storage);
    snprintf(id.source, sizeof(id.source), "test");
    REQUIRE(archiveIdentityEnsure(f->archive, &id, NULL, &err) == 0);
    for (uint64_t seq = 1; seq <= SEGMENTS; seq++) {
        SegmentMeta *m = &metas[seq - 1];

        states(seq, gs[seq - 1], ge[seq - 1], sizeof(gs[0]));
        if (seq < TL2_FIRST) {
            fixtureCrafted(m, seq, "bin.000001", 256 + (seq - 1) * 100, 256 + seq * 100, gs[seq - 1], ge[seq - 1]);
            continue;
        }
        fixtureCrafted(m, seq, "bin.000002", 256 + (seq - TL2_FIRST) * 100, 256 + (seq - TL2_FIRST + 1) * 100,
                       gs[seq - 1], ge[seq - 1]);
        m->timeline = 2;
    }
    REQUIRE(fixtureIndexBlocks(f->archive, f->storage, metas, SEGMENTS, &err) == 0);
    REQUIRE(fixtureTimelinesWrite(f->archive, FORK_SEQ, 256 + FORK_SEQ * 100, "0-1-1510", TL2_FIRST, "0-1-1511",
                                  "0-1-2209", &err) == 0);
    REQUIRE(archiveIdentitySetVersion2(f->archive, &err) == 0);
    f->ready = true;
}

static void
forkedClose(Forked *f) {
    archiveFree(f->archive);
    storageFree(f->storage);
}

/* The outline of the whole archive has both breaks and three windows; along the main line the
 * branch's break is timeline 1's branch's, and the main line's second window runs from its break to
 * the last segment, the diverged transactions counted out; along timeline 1 both breaks are its
 * own and split its window. */
static void
testBranchGapFollowed(void) {
    Forked f;
    ArchiveView *v;
    TimelineSet *set;
    TimelinePath *path;
    ArchiveOutline *o;
    uint32_t timeline = 0;
    Err err = {0};

    forkedOpen(&f);
    REQUIRE(f.ready);
    REQUIRE((v = archiveViewOpen(f.archive, 0, &err)) != NULL);
    REQUIRE(timelineSetLoad(f.archive, &set, &err) == 0);

    REQUIRE((o = archiveOutlineNew(v, &err)) != NULL);
    CHECK_INT(archiveOutlineGapCount(o), 2);
    CHECK_INT(archiveOutlineWindowCount(o), 3);
    REQUIRE((path = timelinePathNew(set, 0, &err)) != NULL);
    CHECK(archiveOutlineFollow(o, v, set, path, &err) == 0);
    CHECK_INT(archiveOutlineGapCount(o), 1);
    CHECK_INT(archiveOutlineBranchGapCount(o), 1);
    if (archiveOutlineBranchGapCount(o) == 1) {
        const ArchiveGap *g = archiveOutlineBranchGapAt(o, 0, &timeline);

        CHECK_INT(timeline, 1);
        CHECK_INT(g->afterSeq, BRANCH_GAP - 1);
        CHECK_INT(g->beforeSeq, BRANCH_GAP);
    }
    REQUIRE(archiveOutlineWindowCount(o) == 2);
    CHECK_INT(archiveOutlineWindowAt(o, 0)->to->seq, MAIN_GAP - 1);
    CHECK_INT(archiveOutlineWindowAt(o, 1)->from->seq, MAIN_GAP);
    CHECK_INT(archiveOutlineWindowAt(o, 1)->to->seq, SEGMENTS);
    CHECK_STR(archiveOutlineWindowAt(o, 1)->firstGtid, "0-1-510");
    CHECK_STR(archiveOutlineWindowAt(o, 1)->lastGtid, "0-2-2493"); /* SEGMENTS - TL2_FIRST + FORK_SEQ + 11 */
    CHECK_INT(archiveOutlineWindowAt(o, 1)->firstTimeUs, 1000000ull * MAIN_GAP);
    CHECK_INT(archiveOutlineWindowAt(o, 1)->lastTimeUs, 1000000ull * SEGMENTS);
    CHECK_INT(archiveOutlineWindowAt(o, 1)->transactions, SEGMENTS - (MAIN_GAP - 1) - (TL2_FIRST - 1 - FORK_SEQ));
    timelinePathFree(path);
    archiveOutlineFree(o);

    /* Timeline 1 holds the branch: its break splits its window. */
    REQUIRE((o = archiveOutlineNew(v, &err)) != NULL);
    REQUIRE((path = timelinePathNew(set, 1, &err)) != NULL);
    CHECK(archiveOutlineFollow(o, v, set, path, &err) == 0);
    CHECK_INT(archiveOutlineGapCount(o), 2);
    CHECK_INT(archiveOutlineBranchGapCount(o), 0);
    CHECK_INT(archiveOutlineWindowCount(o), 3);
    timelinePathFree(path);
    archiveOutlineFree(o);

    timelineSetFree(set);
    archiveViewFree(v);
    forkedClose(&f);
}

typedef struct Seen {
    size_t branchProblems, otherContinuity;
} Seen;

static void
onProblem(void *data, const ArchiveVerifyProblem *p) {
    Seen *s = data;

    if (strcmp(p->kind, "continuity") != 0)
        return;
    if (strstr(p->message, "in timeline 1's diverged branch") != NULL)
        s->branchProblems++;
    else
        s->otherContinuity++;
}

/* verify: the branch's break is a problem named as the branch's, the main line's break as before,
 * and the main line's windows split at its own break only. */
static void
testVerifyBranchGap(void) {
    Forked f;
    ArchiveVerifyResult res;
    Seen seen = {0};
    Err err = {0};

    forkedOpen(&f);
    REQUIRE(f.ready);
    REQUIRE(archiveVerify(f.archive, &(ArchiveVerifyHooks){.problem = onProblem, .data = &seen}, &res, &err) == 0);
    CHECK_INT(seen.branchProblems, 1);
    CHECK_INT(seen.otherContinuity, 1);
    CHECK(res.problemCount > 0); /* the crafted segments have no object: problems too */
    REQUIRE(res.outline != NULL);
    CHECK_INT(archiveOutlineWindowCount(res.outline), 2);
    CHECK_INT(archiveOutlineWindowAt(res.outline, 1)->from->seq, MAIN_GAP);
    CHECK_INT(archiveOutlineWindowAt(res.outline, 1)->to->seq, SEGMENTS);
    archiveVerifyResultClear(&res);
    forkedClose(&f);
}

void
suite_outline_branch(void) {
    testRun("outline: a break in a diverged branch is the branch's, not the main line's window's",
            testBranchGapFollowed);
    testRun("verify: a break in a diverged branch is reported as the branch's", testVerifyBranchGap);
}
