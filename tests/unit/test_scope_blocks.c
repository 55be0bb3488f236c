/* Unit tests of recover/scope over many blocks: a format-2 archive of 20 summarised blocks and a
 * tail, with a GTID break (a gap) and a fork (timeline 2), planned from the range recoverScope
 * loads, by recoverScopePlan() (a long range a block at a time, recover/range.h) and from the whole
 * index followed along the same path: the plans must agree, to the segment, or refuse alike. And
 * a plan over many blocks holds at most two block catalogs, and one across a fork inside a block
 * and a diverged branch longer than a block is made a block at a time along the path. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/catalog.h"
#include "archive/identity.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "common/json.h"
#include "common/mem.h"
#include "recover/plan.h"
#include "recover/scope.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

#define BLOCKS 20
#define SEGMENTS (BLOCKS * ARCHIVE_BLOCK_SEGMENTS + 100) /* 20 summarised blocks and a tail */
#define GAP_AT 7000   /* its gtid_start is 1000 transactions past seq 6999's gtid_end */
#define FORK_SEQ 14990 /* timeline 2 leaves timeline 1 after this segment... */
#define TL2_FIRST 15000 /* ...and starts here: 14991-14999 diverged */

typedef struct Archived {
    Storage *storage;
    Archive *archive;
    bool ready;
    /* The whole index followed along timeline t (0: the main line), loaded once: the plans the
     * ranged ones must equal are made on it. */
    ArchiveCatalog *whole[2];
} Archived;

/* Seq's GTID states: one transaction each, 0-1-<seq> before the gap, 1000 later after it, and
 * timeline 2's from server 2, continuing the fork's state. */
static void
states(uint64_t seq, char *gs, char *ge, size_t size) {
    uint64_t shift = seq >= GAP_AT ? 1000 : 0;

    if (seq < TL2_FIRST) {
        snprintf(gs, size, "0-1-%" PRIu64, seq - 1 + shift);
        snprintf(ge, size, "0-1-%" PRIu64, seq + shift);
        return;
    }
    /* timeline 2: seq TL2_FIRST holds 0-2-<FORK_SEQ + 1001> */
    if (seq == TL2_FIRST)
        snprintf(gs, size, "0-1-%d", FORK_SEQ + 1000);
    else
        snprintf(gs, size, "0-2-%" PRIu64, seq - TL2_FIRST + FORK_SEQ + 1000);
    snprintf(ge, size, "0-2-%" PRIu64, seq - TL2_FIRST + FORK_SEQ + 1001);
}

static void
meta(SegmentMeta *m, uint64_t seq, char *gs, char *ge, size_t size) {
    states(seq, gs, ge, size);
    if (seq < TL2_FIRST) {
        fixtureCrafted(m, seq, "bin.000001", 256 + (seq - 1) * 100, 256 + seq * 100, gs, ge);
    } else {
        fixtureCrafted(m, seq, "bin.000002", 256 + (seq - TL2_FIRST) * 100, 256 + (seq - TL2_FIRST + 1) * 100, gs, ge);
        m->timeline = 2;
    }
}

/* An empty store under the test's directory `dir`, with the archive's identity. */
static void
storeOpen(Archived *ar, const char *dir) {
    ArchiveIdentity id = {.flavour = BINLOG_FLAVOUR_MARIADB, .serverId = 1};
    char root[1024];
    Err err = {0};

    memset(ar, 0, sizeof(*ar));
    snprintf(root, sizeof(root), "%s/%s", testTmpDir(), dir);
    REQUIRE(mkdir(root, 0700) == 0);
    REQUIRE((ar->storage = storageNew(root, &err)) != NULL);
    ar->archive = archiveNew(ar->storage);
    snprintf(id.source, sizeof(id.source), "test");
    REQUIRE(archiveIdentityEnsure(ar->archive, &id, NULL, &err) == 0);
}

/* The archive: identity at version 2, a chunk per block and the tail's, one level-1 summary of the
 * 20 blocks, the two timeline records. */
static void
archivedOpen(Archived *ar) {
    static SegmentMeta metas[SEGMENTS];
    static char gs[SEGMENTS][32], ge[SEGMENTS][32];
    Err err = {0};

    storeOpen(ar, "store");
    for (uint64_t seq = 1; seq <= SEGMENTS; seq++)
        meta(&metas[seq - 1], seq, gs[seq - 1], ge[seq - 1], sizeof(gs[0]));
    REQUIRE(fixtureIndexBlocks(ar->archive, ar->storage, metas, SEGMENTS, &err) == 0);
    REQUIRE(fixtureTimelinesWrite(ar->archive, FORK_SEQ, 256 + FORK_SEQ * 100, "0-1-15990", TL2_FIRST, "0-1-15991",
                                  "0-1-15999", &err) == 0);
    REQUIRE(archiveIdentitySetVersion2(ar->archive, &err) == 0);
    ar->ready = true;
}

/* An archive that never forked, of `blocks` summarised blocks and a tail of 10: seq s holds
 * transaction 0-1-s, commits at s seconds. */
static void
archivedOpenPlain(Archived *ar, size_t blocks) {
    size_t n = blocks * ARCHIVE_BLOCK_SEGMENTS + 10;
    SegmentMeta *metas = bvCalloc(n, sizeof(*metas));
    char (*gs)[32] = bvCalloc(n, sizeof(*gs)), (*ge)[32] = bvCalloc(n, sizeof(*ge));
    Err err = {0};

    storeOpen(ar, "plain");
    for (uint64_t seq = 1; seq <= n; seq++) {
        snprintf(gs[seq - 1], sizeof(gs[0]), "0-1-%" PRIu64, seq - 1);
        snprintf(ge[seq - 1], sizeof(ge[0]), "0-1-%" PRIu64, seq);
        fixtureCrafted(&metas[seq - 1], seq, "bin.000001", 256 + (seq - 1) * 100, 256 + seq * 100, gs[seq - 1],
                       ge[seq - 1]);
    }
    REQUIRE(fixtureIndexBlocks(ar->archive, ar->storage, metas, n, &err) == 0);
    REQUIRE(archiveIdentitySetVersion2(ar->archive, &err) == 0);
    bvFree(metas);
    bvFree(gs);
    bvFree(ge);
    ar->ready = true;
}

/* A forked archive of 12 summarised blocks and a tail of 10: timeline 1's seq s holds 0-1-s;
 * timeline 2 leaves it inside seq FORK2_SEQ (the segment is cut at its middle), seqs FORK2_SEQ+1 to
 * TL2B_FIRST-1 diverged (over two blocks: the fifth is all of them), and timeline 2's seq s
 * holds 0-2-<s - TL2B_FIRST + FORK2_SEQ + 1>, in its own file; its first starts at `tl2Start` (the
 * fork's state, 0-1-3500, or not: a break where it joins the fork). In the test's directory `dir`. */
#define FORKED_BLOCKS 12
#define FORKED_SEGMENTS (FORKED_BLOCKS * ARCHIVE_BLOCK_SEGMENTS + 10)
#define FORK2_SEQ 3500
#define TL2B_FIRST 6000

static void
archivedOpenForked(Archived *ar, const char *dir, const char *tl2Start) {
    SegmentMeta *metas = bvCalloc(FORKED_SEGMENTS, sizeof(*metas));
    char (*gs)[32] = bvCalloc(FORKED_SEGMENTS, sizeof(*gs)), (*ge)[32] = bvCalloc(FORKED_SEGMENTS, sizeof(*ge));
    Err err = {0};

    storeOpen(ar, dir);
    for (uint64_t seq = 1; seq <= FORKED_SEGMENTS; seq++) {
        SegmentMeta *m = &metas[seq - 1];

        if (seq < TL2B_FIRST) {
            snprintf(gs[seq - 1], sizeof(gs[0]), "0-1-%" PRIu64, seq - 1);
            snprintf(ge[seq - 1], sizeof(ge[0]), "0-1-%" PRIu64, seq);
            fixtureCrafted(m, seq, "bin.000001", 256 + (seq - 1) * 100, 256 + seq * 100, gs[seq - 1], ge[seq - 1]);
            continue;
        }
        if (seq == TL2B_FIRST)
            snprintf(gs[seq - 1], sizeof(gs[0]), "%s", tl2Start);
        else
            snprintf(gs[seq - 1], sizeof(gs[0]), "0-2-%" PRIu64, seq - TL2B_FIRST + FORK2_SEQ);
        snprintf(ge[seq - 1], sizeof(ge[0]), "0-2-%" PRIu64, seq - TL2B_FIRST + FORK2_SEQ + 1);
        fixtureCrafted(m, seq, "bin.000002", 256 + (seq - TL2B_FIRST) * 100, 256 + (seq - TL2B_FIRST + 1) * 100,
                       gs[seq - 1], ge[seq - 1]);
        m->timeline = 2;
    }
    REQUIRE(fixtureIndexBlocks(ar->archive, ar->storage, metas, FORKED_SEGMENTS, &err) == 0);
    /* The fork inside its segment: the segment is cut. */
    REQUIRE(fixtureTimelinesWrite(ar->archive, FORK2_SEQ, 256 + (FORK2_SEQ - 1) * 100 + 50, "0-1-3500", TL2B_FIRST,
                                  "0-1-3501", "0-1-5999", &err) == 0);
    REQUIRE(archiveIdentitySetVersion2(ar->archive, &err) == 0);
    bvFree(metas);
    bvFree(gs);
    bvFree(ge);
    ar->ready = true;
}

/* The archive's view and timeline records, for the plans. */
static void
archivedView(Archived *ar, ArchiveView **v, TimelineSet **set) {
    Err err = {0};

    REQUIRE((*v = archiveViewOpen(ar->archive, 0, &err)) != NULL);
    REQUIRE(timelineSetLoad(ar->archive, set, &err) == 0);
}

static void
archivedClose(Archived *ar, ArchiveView *v, TimelineSet *set) {
    for (size_t t = 0; t < sizeof(ar->whole) / sizeof(ar->whole[0]); t++)
        archiveCatalogFree(ar->whole[t]);
    timelineSetFree(set);
    archiveViewFree(v);
    archiveFree(ar->archive);
    storageFree(ar->storage);
}

/* What a plan says, or how it refuses. */
typedef struct Outcome {
    int code;
    char msg[2048];
    size_t segments, loaded; /* loaded: the entries of the range the plan was made on */
    size_t objects;          /* in its JSON */
    uint64_t objectSeqs;     /* a digest of their seqs, in order */
    size_t held;             /* block catalogs a per-block plan held at most (0: made on a catalog) */
    uint64_t applied, appliedHalf; /* recoverPlanBytes(): all, and before the middle segment's end */
    uint64_t appliedInside;        /* ... and before a byte inside it */
    uint64_t firstSeq, lastSeq, bytes, contentBytes, transactions;
    char until[64], firstGtid[64], lastGtid[64];
} Outcome;

/* The outcome of plan p (NULL: it failed with err), from the index alone (no segment is read:
 * each end's cut falls at its segment's end). */
static void
outcome(RecoverPlan *p, Err *err, Outcome *o) {
    memset(o, 0, sizeof(*o));
    if (p == NULL || recoverPlanFinish(p, err) != 0) {
        o->code = err->code;
        snprintf(o->msg, sizeof(o->msg), "%s", err->msg);
    } else {
        const RecoverPlanInfo *in = recoverPlanInfo(p);
        Buf *json = bufNew(1024);
        JsonValue *v;
        SegmentMeta mid = {0};

        o->segments = in->segments;
        if (in->segments > 0) {
            o->firstSeq = in->firstSeq;
            o->lastSeq = in->lastSeq;
            REQUIRE(recoverPlanSegment(p, in->first + in->segments / 2, &mid, err) == 1);
            o->applied = recoverPlanBytes(p, NULL, 0);
            o->appliedHalf = recoverPlanBytes(p, mid.file, mid.endPos);
            o->appliedInside = recoverPlanBytes(p, mid.file, mid.startPos + (mid.endPos - mid.startPos) / 2);
            segmentMetaClear(&mid);
        }
        o->bytes = in->bytes;
        o->contentBytes = in->contentBytes;
        o->transactions = in->transactions;
        snprintf(o->until, sizeof(o->until), "%s", in->until);
        snprintf(o->firstGtid, sizeof(o->firstGtid), "%s", in->firstGtid);
        snprintf(o->lastGtid, sizeof(o->lastGtid), "%s", in->lastGtid);
        REQUIRE(recoverPlanToJson(p, json, NULL, NULL, err) == 0);
        REQUIRE((v = jsonParse((const char *)json->data, json->len, err)) != NULL);
        o->objects = jsonLen(jsonGet(v, "objects"));
        for (size_t i = 0; i < o->objects; i++) {
            uint64_t seq = 0;

            REQUIRE(jsonU64(jsonGet(jsonAt(jsonGet(v, "objects"), i), "seq"), &seq));
            o->objectSeqs = o->objectSeqs * 1000003u + seq;
        }
        jsonFree(v);
        bufFree(json);
        o->held = recoverPlanBlocksHeld(p);
    }
    recoverPlanFree(p);
}

static void
plan(const ArchiveCatalog *c, const char *start, const RecoverTarget *t, Outcome *o) {
    Err err = {0};

    outcome(recoverPlanNew(c, start, t, &err), &err, o);
}

static void
same(const Outcome *a, const Outcome *b) {
    CHECK_INT(a->code, b->code);
    CHECK_STR(a->msg, b->msg);
    CHECK_INT(a->segments, b->segments);
    CHECK_INT(a->firstSeq, b->firstSeq);
    CHECK_INT(a->lastSeq, b->lastSeq);
    CHECK_INT(a->bytes, b->bytes);
    CHECK_INT(a->contentBytes, b->contentBytes);
    CHECK_INT(a->transactions, b->transactions);
    CHECK_STR(a->until, b->until);
    CHECK_STR(a->firstGtid, b->firstGtid);
    CHECK_STR(a->lastGtid, b->lastGtid);
    CHECK_INT(a->objects, b->objects);
    CHECK(a->objectSeqs == b->objectSeqs);
    CHECK_INT(a->applied, b->applied);
    CHECK_INT(a->appliedHalf, b->appliedHalf);
    CHECK_INT(a->appliedInside, b->appliedInside);
}

/* Plan `start` to `t` along `timeline` (0: the main line) both ways and compare; the ranged plan's
 * outcome in *out. */
static void
compare(Archived *ar, ArchiveView *v, const TimelineSet *set, uint32_t timeline, const char *start,
        const RecoverTarget *t, Outcome *out) {
    ArchiveCatalog *ranged, *c = NULL;
    RecoverPlan *p;
    Outcome w, scoped, dry;
    Err err = {0};

    REQUIRE(timeline < sizeof(ar->whole) / sizeof(ar->whole[0]));
    if (ar->whole[timeline] == NULL) {
        REQUIRE((ar->whole[timeline] = archiveCatalogLoad(ar->archive, 0, &err)) != NULL);
        REQUIRE(archiveCatalogFollowTimeline(ar->archive, ar->whole[timeline], timeline, NULL, &err) == 0);
    }
    plan(ar->whole[timeline], start, t, &w);
    REQUIRE((ranged = recoverScopeLoadPath(ar->archive, v, set, timeline, start, t, &err)) != NULL);
    plan(ranged, start, t, out);
    out->loaded = archiveCatalogCount(ranged);
    archiveCatalogFree(ranged);
    same(out, &w);
    /* recoverScopePlan(): the same plan, a long range a block at a time. */
    outcome(recoverScopePlan(ar->archive, v, set, timeline, start, t, &c, &err), &err, &scoped);
    archiveCatalogFree(c);
    same(&scoped, &w);
    out->held = scoped.held;
    /* A dry run's plan: the blocks it covers whole counted from their summary lines, the same. */
    c = NULL;
    if ((p = recoverScopePlan(ar->archive, v, set, timeline, start, t, &c, &err)) != NULL)
        recoverPlanDryRun(p, ar->archive, NULL, NULL);
    outcome(p, &err, &dry);
    archiveCatalogFree(c);
    same(&dry, &w);
}

/* recoverPlanToJson()'s flush in a test: counted, and dropped. */
static int
countFlush(void *data, Buf *out, Err *err) {
    (void)err;
    (*(size_t *)data)++;
    bufClear(out);
    return 0;
}

/* Plans within blocks, across many blocks, across the gap and across the fork, to each kind of
 * target, on the main line and on timeline 1: the ranged plan is the whole index's. */
static void
testPlanOverBlocks(void) {
    Archived ar;
    ArchiveView *v;
    TimelineSet *set;
    RecoverTarget t;
    Outcome o;

    archivedOpen(&ar);
    REQUIRE(ar.ready);
    archivedView(&ar, &v, &set);
    CHECK_INT(archiveViewSpanCount(v), BLOCKS);
    REQUIRE(timelineSetForked(set));

    /* Within the first window, over four blocks. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-1-5000"};
    compare(&ar, v, set, 0, "0-1-1100", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.firstSeq, 1101);
    CHECK_INT(o.lastSeq, 5000);
    CHECK(o.loaded < 4200);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS); /* four blocks: a block at a time */
    CHECK_INT(o.segments, 3900);
    CHECK_INT(o.transactions, 3900);
    /* Across the gap: refused alike, over seven blocks before the fork and to the end across the
     * fork (both a block at a time). */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-1-9000"};
    compare(&ar, v, set, 0, "0-1-1100", &t, &o);
    CHECK_INT(o.code, ERR_GAP);
    CHECK_MSG(o.msg, "crosses a gap");
    t = (RecoverTarget){.kind = RECOVER_UNTIL_END};
    compare(&ar, v, set, 0, "0-1-1100", &t, &o);
    CHECK_INT(o.code, ERR_GAP);
    CHECK_MSG(o.msg, "crosses a gap");
    /* After the gap, to the end of the main line (timeline 2): across the fork, 14 blocks. */
    compare(&ar, v, set, 0, "0-1-8000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.firstSeq, 7001);
    CHECK_INT(o.lastSeq, SEGMENTS);
    CHECK_INT(o.segments, SEGMENTS - 7000 - (TL2_FIRST - 1 - FORK_SEQ));
    CHECK(o.loaded < SEGMENTS - 6000);
    /* ... and to the end of timeline 1: the diverged branch. */
    compare(&ar, v, set, 1, "0-1-8000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, TL2_FIRST - 1);
    /* A GTID of timeline 2 from before the fork; one of timeline 1's diverged branch is not on
     * the main line. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-2-17000"};
    compare(&ar, v, set, 0, "0-1-9000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 17000 - FORK_SEQ - 1001 + TL2_FIRST);
    CHECK(o.loaded < 9300); /* across the fork, not the whole index */
    t.gtid = "0-1-15995";
    compare(&ar, v, set, 1, "0-1-9000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 14995);
    CHECK(o.loaded < 8000);
    compare(&ar, v, set, 0, "0-1-9000", &t, &o);
    /* A time, in the middle of the archive; past the fork on the main line. Unread, the segment
     * holding the first commit after the time ends the plan (its transactions decide the cut). */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_TIME, .timeUs = 12000ull * 1000000};
    compare(&ar, v, set, 0, "0-1-8000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 12001);
    t.timeUs = 18000ull * 1000000;
    compare(&ar, v, set, 0, "0-1-8000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 18001);
    CHECK(o.loaded < 12400);
    /* A position in the first file, and in timeline 2's. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_POSITION, .file = "bin.000001", .pos = 256 + 10000 * 100};
    compare(&ar, v, set, 0, "0-1-8000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 10000);
    t = (RecoverTarget){.kind = RECOVER_UNTIL_POSITION, .file = "bin.000002", .pos = 256 + 3000 * 100};
    compare(&ar, v, set, 0, "0-1-8000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, TL2_FIRST + 2999);
    CHECK(o.loaded < 12000);
    /* In timeline 2's own segments, and from before the fork on timeline 1: a few blocks. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-2-17100"};
    compare(&ar, v, set, 0, "0-2-17000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.segments, 100);
    CHECK(o.loaded <= 2 * ARCHIVE_BLOCK_SEGMENTS);
    t.gtid = "0-1-15999";
    compare(&ar, v, set, 1, "0-1-15900", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, TL2_FIRST - 1);
    CHECK(o.loaded <= 2 * ARCHIVE_BLOCK_SEGMENTS);
    /* A start before the gap's end that no segment after it continues. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-1-9000"};
    compare(&ar, v, set, 0, "0-1-6500", &t, &o);
    CHECK_INT(o.code, ERR_GAP);
    archivedClose(&ar, v, set);
}

/* A plan from the archive's second block to its end, over many blocks (MANY_BLOCKS - 1 and the
 * tail, a few times RECOVER_RANGE_BLOCKS: more would check nothing more, and cost minutes under
 * the sanitizers): made a block at a time, it holds at most two block catalogs, and says what the
 * whole index's plan says; so do ones to a GTID and a position in the middle. */
#define MANY_BLOCKS 12
#define MANY_SEGMENTS (MANY_BLOCKS * ARCHIVE_BLOCK_SEGMENTS + 10)

static void
testPlanOverManyBlocks(void) {
    Archived ar;
    ArchiveView *v;
    TimelineSet *set;
    ArchiveCatalog *c = NULL;
    RecoverPlan *p;
    RecoverTarget t = {.kind = RECOVER_UNTIL_END};
    Buf *json = bufNew(1024);
    Outcome o;
    Err err = {0};

    archivedOpenPlain(&ar, MANY_BLOCKS);
    REQUIRE(ar.ready);
    archivedView(&ar, &v, &set);
    CHECK_INT(archiveViewSpanCount(v), MANY_BLOCKS);
    compare(&ar, v, set, 0, "0-1-1100", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.firstSeq, 1101);
    CHECK_INT(o.lastSeq, MANY_SEGMENTS);
    CHECK_INT(o.objects, o.segments);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    /* --timeline 1 of an archive that never forked is its main line: a block at a time too. */
    compare(&ar, v, set, 1, "0-1-1100", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, MANY_SEGMENTS);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-1-9000"};
    compare(&ar, v, set, 0, "0-1-100", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 9000);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-1-99999"};
    compare(&ar, v, set, 0, "0-1-100", &t, &o);
    CHECK_INT(o.code, ERR_NOTFOUND);
    CHECK_MSG(o.msg, "after the end of the archive");
    t = (RecoverTarget){.kind = RECOVER_UNTIL_POSITION, .file = "bin.000001", .pos = 256 + 7000 * 100};
    compare(&ar, v, set, 0, "0-1-100", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 7000);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);

    /* The JSON goes out while the range streams: handed over 64 KiB at a time. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_END};
    REQUIRE((p = recoverScopePlan(ar.archive, v, set, 0, "0-1-1100", &t, &c, &err)) != NULL);
    CHECK(c == NULL);
    REQUIRE(recoverPlanFinish(p, &err) == 0);
    {
        size_t flushes = 0;

        CHECK(recoverPlanToJson(p, json, countFlush, &flushes, &err) == 0);
        CHECK(flushes > 10);
        CHECK(json->len < 2 * 64 * 1024);
    }
    CHECK(recoverPlanBlocksHeld(p) <= RECOVER_RANGE_BLOCKS);
    {
        uint64_t loads = 0;

        recoverRangeStats(recoverPlanRange(p), NULL, &loads);
        CHECK(loads >= MANY_BLOCKS - 1); /* every block read once at least, two at most held */
    }
    {
        /* The applier's progress, polled four times a second, reads no block: the blocks of
         * one binlog file's contiguous bytes. */
        uint64_t before = 0, after = 0, last = 0;
        bool rising = true;

        recoverRangeStats(recoverPlanRange(p), NULL, &before);
        for (uint64_t seq = 1200; seq <= MANY_BLOCKS * ARCHIVE_BLOCK_SEGMENTS; seq += 997) {
            uint64_t b = recoverPlanBytes(p, "bin.000001", 256 + (seq - 1) * 100 + 50);

            rising = rising && b > last && b == (seq - 1101) * 100 + 50;
            last = b;
        }
        recoverRangeStats(recoverPlanRange(p), NULL, &after);
        CHECK(rising);
        CHECK_INT(after, before);
    }
    {
        /* The server_ids the recovery must not apply with, gathered by that one pass: the
         * crafted segments' (0) and their GTIDs' (0-1-s). */
        const RecoverServerIds *ids = recoverPlanServerIds(p);

        REQUIRE(ids != NULL);
        CHECK_INT(ids->n, 2);
        CHECK(recoverServerIdsHas(ids, 0) && recoverServerIdsHas(ids, 1));
    }
    recoverPlanFree(p);

    /* A dry run reads each block once: listed in the JSON and verified together (the crafted
     * segments have no object: each is a problem), then recoverPlanVerify() reads nothing. */
    for (int withJson = 0; withJson <= 1; withJson++) {
        uint64_t loads = 0, listed = 0;
        SegmentMeta m = {0};
        char want[128];

        REQUIRE((p = recoverScopePlan(ar.archive, v, set, 0, "0-1-1100", &t, &c, &err)) != NULL);
        recoverPlanDryRun(p, ar.archive, NULL, NULL);
        REQUIRE(recoverPlanFinish(p, &err) == 0);
        recoverRangeStats(recoverPlanRange(p), NULL, &loads);
        CHECK(loads <= 3); /* around the range's ends; the blocks between from their summary lines */
        CHECK(recoverPlanServerIds(p) == NULL); /* not read: a dry run applies nothing */
        if (withJson) {
            bufClear(json);
            CHECK(recoverPlanToJson(p, json, countFlush, &listed, &err) == 0);
        } else {
            /* What `recover --dry-run` prints: the first and last segments. */
            CHECK_INT(recoverPlanSegment(p, recoverPlanInfo(p)->first, &m, &err), 1);
            CHECK_INT(recoverPlanSegment(p, recoverPlanInfo(p)->last, &m, &err), 1);
            segmentMetaClear(&m);
        }
        CHECK(recoverPlanVerify(p, ar.archive, NULL, NULL, &err) != 0);
        CHECK_INT(err.code, ERR_CHECKSUM);
        snprintf(want, sizeof(want), "%d of the plan's %d segments do not verify", MANY_SEGMENTS - 1100,
                 MANY_SEGMENTS - 1100);
        CHECK_MSG(err.msg, want);
        recoverRangeStats(recoverPlanRange(p), NULL, &loads);
        CHECK(loads >= MANY_BLOCKS && loads <= MANY_BLOCKS + 3); /* blocks 2 to MANY_BLOCKS and the tail's */
        recoverPlanFree(p);
    }
    bufFree(json);
    archivedClose(&ar, v, set);
}

/* Plans across a fork inside a block, past a diverged branch longer than a block, made a block at
 * a time along the path: the followed whole index's plan (segments, cut, bytes, the JSON's
 * objects), with two block catalogs held at most. */
static void
testPlanAcrossFork(void) {
    Archived ar;
    ArchiveView *v;
    TimelineSet *set;
    ArchiveCatalog *c = NULL;
    RecoverPlan *p;
    RecoverTarget t = {.kind = RECOVER_UNTIL_END};
    Outcome o;
    Err err = {0};

    archivedOpenForked(&ar, "forked", "0-1-3500");
    REQUIRE(ar.ready);
    archivedView(&ar, &v, &set);
    CHECK_INT(archiveViewSpanCount(v), FORKED_BLOCKS);
    REQUIRE(timelineSetForked(set));

    /* From the first block to the end of the main line. */
    compare(&ar, v, set, 0, "0-1-100", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.firstSeq, 101);
    CHECK_INT(o.lastSeq, FORKED_SEGMENTS);
    CHECK_INT(o.segments, FORKED_SEGMENTS - 100 - (TL2B_FIRST - 1 - FORK2_SEQ));
    CHECK_INT(o.objects, o.segments);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    /* The fork segment as the path sees it: cut at the fork, half its bytes. */
    CHECK_INT(o.applied, (uint64_t)o.segments * 100 - 50);
    /* To a GTID of timeline 2, and to a time after the fork. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-2-9000"};
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 9000 - FORK2_SEQ - 1 + TL2B_FIRST);
    CHECK_STR(o.until, "0-2-9000");
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    t = (RecoverTarget){.kind = RECOVER_UNTIL_TIME, .timeUs = 10500ull * 1000000};
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 10501);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    /* A time between the fork and the failover: the first commit after it in the whole archive is
     * on the diverged branch, on the main line it is timeline 2's first; searched along the path,
     * not loaded whole. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_TIME, .timeUs = 4000ull * 1000000};
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, TL2B_FIRST);
    CHECK(o.loaded < 4 * ARCHIVE_BLOCK_SEGMENTS);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    /* ... and on timeline 1, the diverged segment. */
    compare(&ar, v, set, 1, "0-1-1200", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 4001);
    /* Before the first commit, after the last: refused alike. */
    t.timeUs = 500000;
    compare(&ar, v, set, 0, "", &t, &o);
    CHECK_INT(o.code, ERR_NOTFOUND);
    CHECK_MSG(o.msg, "before the first archived commit");
    t.timeUs = 20000ull * 1000000;
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, ERR_NOTFOUND);
    CHECK_MSG(o.msg, "after the last archived commit");
    CHECK(o.loaded < FORKED_SEGMENTS - 1000);
    /* A position in timeline 2's file. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_POSITION, .file = "bin.000002", .pos = 256 + 4000 * 100};
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, TL2B_FIRST + 3999);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    /* A position of timeline 1 on the path, one on its diverged branch (not the main line's: the
     * refusal names what the path holds of the file, up to the fork), and a GTID the main line
     * never reaches: searched along the path, refused alike. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_POSITION, .file = "bin.000001", .pos = 256 + 2000 * 100};
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 2000);
    t.pos = 256 + 4000 * 100 + 10;
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, ERR_NOTFOUND);
    CHECK_MSG(o.msg, "the archive holds bin.000001:256-350206");
    compare(&ar, v, set, 1, "0-1-1200", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 4001);
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-1-99999"};
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, ERR_NOTFOUND);
    CHECK_MSG(o.msg, "after the end of the archive");
    /* Timeline 1 to its end: the diverged branch, timeline 2 not read. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_END};
    compare(&ar, v, set, 1, "0-1-100", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, TL2B_FIRST - 1);
    CHECK_INT(o.segments, TL2B_FIRST - 1 - 100);
    CHECK(o.held >= 1 && o.held <= RECOVER_RANGE_BLOCKS);
    /* A start past the fork: the main line from timeline 2's first segment. */
    compare(&ar, v, set, 0, "0-1-3500", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.firstSeq, TL2B_FIRST);

    /* The dry run over the main line: the blocks of one timeline on the path from their summary
     * lines, the diverged block 5 skipped unread, the blocks holding the fork or timeline 2's start
     * read; the listing and the verification read each block once more. */
    REQUIRE((p = recoverScopePlan(ar.archive, v, set, 0, "0-1-100", &t, &c, &err)) != NULL);
    CHECK(c == NULL);
    recoverPlanDryRun(p, ar.archive, NULL, NULL);
    REQUIRE(recoverPlanFinish(p, &err) == 0);
    {
        Buf *json = bufNew(1024);
        uint64_t loads = 0;
        size_t held = 0;
        char want[128];

        CHECK(recoverPlanToJson(p, json, NULL, NULL, &err) == 0);
        CHECK(recoverPlanVerify(p, ar.archive, NULL, NULL, &err) != 0);
        CHECK_INT(err.code, ERR_CHECKSUM);
        snprintf(want, sizeof(want), "%d of the plan's %d segments do not verify", FORKED_SEGMENTS - 100 - (TL2B_FIRST - 1 - FORK2_SEQ),
                 FORKED_SEGMENTS - 100 - (TL2B_FIRST - 1 - FORK2_SEQ));
        CHECK_MSG(err.msg, want);
        recoverRangeStats(recoverPlanRange(p), &held, &loads);
        CHECK(held <= RECOVER_RANGE_BLOCKS);
        /* About a read per block: the listing's 12 (the diverged one skipped), and a few around
         * the ends, the fork and timeline 2's start (the runs off the path, the join). */
        CHECK(loads <= FORKED_BLOCKS + 10);
        bufFree(json);
    }
    recoverPlanFree(p);
    archivedClose(&ar, v, set);
}

/* Timeline 2's first segment does not start at the fork's state: a break the whole archive's
 * breaks do not show (they never compare two timelines), refused alike along the path. */
static void
testPlanAcrossBrokenJoin(void) {
    Archived ar;
    ArchiveView *v;
    TimelineSet *set;
    RecoverTarget t = {.kind = RECOVER_UNTIL_END};
    Outcome o;

    archivedOpenForked(&ar, "broken", "0-1-3400");
    REQUIRE(ar.ready);
    archivedView(&ar, &v, &set);
    compare(&ar, v, set, 0, "0-1-100", &t, &o);
    CHECK_INT(o.code, ERR_GAP);
    CHECK_MSG(o.msg, "gtid gap: 'segments/000000000000/0000000000003500-");
    /* Timeline 1 alone does not cross it. */
    compare(&ar, v, set, 1, "0-1-100", &t, &o);
    CHECK_INT(o.code, 0);
    archivedClose(&ar, v, set);
}

/* A copy of the forked archive of `src` (archivedOpenForked()) in the test's directory `dir`, its
 * segments' metadata changed by `tweak` (which must leave their strings alone) before they are
 * indexed (a segment's name follows its start: segmentName()): a corner case the crafted fixture does not have. */
static void
archivedRetweak(Archived *src, const char *dir, void (*tweak)(SegmentMeta *metas, size_t n), Archived *ar) {
    ArchiveCatalog *whole;
    SegmentMeta *metas;
    size_t n;
    Err err = {0};

    REQUIRE((whole = archiveCatalogLoad(src->archive, 0, &err)) != NULL);
    n = archiveCatalogCount(whole);
    metas = bvCalloc(n, sizeof(*metas));
    for (size_t i = 0; i < n; i++)
        segmentMetaCopy(&metas[i], archiveCatalogAt(whole, i));
    archiveCatalogFree(whole);
    tweak(metas, n);
    storeOpen(ar, dir);
    REQUIRE(fixtureIndexBlocks(ar->archive, ar->storage, metas, n, &err) == 0);
    REQUIRE(fixtureTimelinesWrite(ar->archive, FORK2_SEQ, 256 + (FORK2_SEQ - 1) * 100 + 50, "0-1-3500", TL2B_FIRST,
                                  "0-1-3501", "0-1-5999", &err) == 0);
    REQUIRE(archiveIdentitySetVersion2(ar->archive, &err) == 0);
    for (size_t i = 0; i < n; i++)
        segmentMetaClear(&metas[i]);
    bvFree(metas);
    ar->ready = true;
}

/* Timeline 2's file goes backwards inside block 8 (seqs 8193-9216): its segments 8193-8699 lie
 * 1,000,000 bytes further on (a gap after 8192), then 8700 continues where 8699 would have ended
 * without the shift (an overlap): the block's summary line starts past the positions it holds. */
#define BACK_FROM 8193
#define BACK_TO 8700

static void
positionsBackwards(SegmentMeta *metas, size_t n) {
    for (uint64_t seq = BACK_FROM; seq < BACK_TO && seq <= n; seq++) {
        metas[seq - 1].startPos += 1000000;
        metas[seq - 1].endPos += 1000000;
        segmentName(seq, metas[seq - 1].file, metas[seq - 1].startPos, SEGMENT_NAMING_GROUPED, metas[seq - 1].name,
                    sizeof(metas[0].name));
    }
}

/* Segment 11000 (block 10, timeline 2's, on the main line whole) holds a commit at 20,000 s
 * between its first and last (at 11,000 s): the archive's latest commit, the block's max_time_us,
 * later than the tail's. */
#define LATE_SEQ 11000
#define LATE_US (20000ull * 1000000)

static void
commitLate(SegmentMeta *metas, size_t n) {
    REQUIRE(n >= LATE_SEQ);
    metas[LATE_SEQ - 1].minTimeUs = metas[LATE_SEQ - 1].firstTimeUs;
    metas[LATE_SEQ - 1].maxTimeUs = LATE_US;
}

/* Fork-plan corner cases, both ways: a position in the part of a block where its file's positions
 * went backwards (the block's summary line does not bracket it), and a time target at a block's
 * max_time_us that no segment's first or last commit reaches. */
static void
testPlanForkCorners(void) {
    Archived base, ar;
    ArchiveView *v;
    TimelineSet *set;
    RecoverTarget t;
    Outcome o;

    archivedOpenForked(&base, "corners", "0-1-3500");
    REQUIRE(base.ready);

    archivedRetweak(&base, "backwards", positionsBackwards, &ar);
    REQUIRE(ar.ready);
    archivedView(&ar, &v, &set);
    /* bin.000002:280000 is only in seq 8797, after the file went backwards in block 8. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_POSITION, .file = "bin.000002", .pos = 280000};
    compare(&ar, v, set, 0, "0-2-5300", &t, &o);
    CHECK_INT(o.code, ERR_GAP);
    compare(&ar, v, set, 0, "0-2-6250", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 8797);
    /* In the shifted part, and past every position the file holds. */
    t.pos = 1000000 + 256 + 2500 * 100;
    compare(&ar, v, set, 0, "0-2-5300", &t, &o);
    CHECK_INT(o.code, ERR_GAP);
    t.pos = 5000000;
    compare(&ar, v, set, 0, "0-2-6250", &t, &o);
    CHECK_INT(o.code, ERR_NOTFOUND);
    CHECK_MSG(o.msg, "is not archived");
    archivedClose(&ar, v, set);

    archivedRetweak(&base, "late", commitLate, &ar);
    REQUIRE(ar.ready);
    archivedView(&ar, &v, &set);
    /* At the late commit, before it, and after it; exclusive at it. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_TIME, .timeUs = LATE_US};
    compare(&ar, v, set, 0, "0-1-1200", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, FORKED_SEGMENTS);
    compare(&ar, v, set, 0, "0-2-8000", &t, &o);
    CHECK_INT(o.code, 0);
    t.timeUs = LATE_US - 1000000;
    compare(&ar, v, set, 0, "0-2-8000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, LATE_SEQ);
    t.timeUs = LATE_US + 1;
    compare(&ar, v, set, 0, "0-2-8000", &t, &o);
    CHECK_INT(o.code, ERR_NOTFOUND);
    CHECK_MSG(o.msg, "after the last archived commit (1970-01-01 05:33:20 UTC)");
    t = (RecoverTarget){.kind = RECOVER_UNTIL_TIME, .timeUs = LATE_US, .exclusive = true};
    compare(&ar, v, set, 0, "0-2-8000", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, LATE_SEQ);
    /* ... on timeline 1, which does not hold it. */
    t.exclusive = false;
    compare(&ar, v, set, 1, "0-1-1200", &t, &o);
    CHECK_INT(o.code, ERR_NOTFOUND);
    archivedClose(&ar, v, set);
    archivedClose(&base, NULL, NULL);
}

/* A short plan inside the tail of an archive that never forked is made on the view's tail, which
 * its open read (no load of the range: *c stays NULL), and says what the whole index says. */
static void
testPlanInTail(void) {
    Archived ar;
    ArchiveView *v;
    TimelineSet *set;
    ArchiveCatalog *c = NULL;
    RecoverPlan *p;
    RecoverTarget t = {.kind = RECOVER_UNTIL_END};
    Outcome o;
    Err err = {0};

    archivedOpenPlain(&ar, 2);
    REQUIRE(ar.ready);
    archivedView(&ar, &v, &set);
    compare(&ar, v, set, 0, "0-1-2050", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.firstSeq, 2051);
    CHECK_INT(o.lastSeq, 2 * ARCHIVE_BLOCK_SEGMENTS + 10);
    REQUIRE((p = recoverScopePlan(ar.archive, v, set, 0, "0-1-2050", &t, &c, &err)) != NULL);
    CHECK(c == NULL);
    CHECK_INT(recoverPlanBlocksHeld(p), 0);
    recoverPlanFree(p);
    t = (RecoverTarget){.kind = RECOVER_UNTIL_GTID, .gtid = "0-1-2055"};
    compare(&ar, v, set, 0, "0-1-2050", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 2055);
    t = (RecoverTarget){.kind = RECOVER_UNTIL_TIME, .timeUs = 2054ull * 1000000};
    compare(&ar, v, set, 0, "0-1-2050", &t, &o);
    CHECK_INT(o.code, 0);
    t = (RecoverTarget){.kind = RECOVER_UNTIL_POSITION, .file = "bin.000001", .pos = 256 + 2053 * 100};
    compare(&ar, v, set, 0, "0-1-2050", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.lastSeq, 2053);
    /* A start the tail does not reach back to: loaded as before. */
    t = (RecoverTarget){.kind = RECOVER_UNTIL_END};
    compare(&ar, v, set, 0, "0-1-2040", &t, &o);
    CHECK_INT(o.code, 0);
    CHECK_INT(o.firstSeq, 2041);
    archivedClose(&ar, v, set);
}

void
suite_scope_blocks(void) {
    testRun("scope: plans over 20 blocks with a gap and a fork, as on the whole index", testPlanOverBlocks);
    testRun("scope: a plan over many blocks holds two block catalogs at most", testPlanOverManyBlocks);
    testRun("scope: plans across a fork inside a block, a block at a time along the path", testPlanAcrossFork);
    testRun("scope: a timeline that does not start at its fork's state is refused along the path",
            testPlanAcrossBrokenJoin);
    testRun("scope: fork plans with positions going backwards in a block, and a late commit, as on the whole index",
            testPlanForkCorners);
    testRun("scope: a short plan in the tail is made on the view's tail, as on the whole index", testPlanInTail);
}
