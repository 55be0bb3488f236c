/* Unit tests of verify over a forked archive of many blocks (archive/verify.c, timelineCheck* of
 * archive/timeline_catalog.c): four summarised blocks and a tail, three timelines whose forks and
 * first segments fall in different blocks. The segments are checked against the records as the
 * cursor passes, block by block: the problems must be those of the whole index loaded and checked
 * at once, and the restorable window's transactions those of the main line. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/catalog.h"
#include "archive/identity.h"
#include "archive/outline.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "archive/verify.h"
#include "common/mem.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

#define SEGMENTS (4 * ARCHIVE_BLOCK_SEGMENTS + 100) /* four summarised blocks and a tail */
#define FORK2 1500 /* timeline 2 leaves timeline 1 after this segment (block 1)... */
#define TL2 1510   /* ...and starts here: 1501-1509 diverged */
#define FORK3 3490 /* timeline 3 leaves timeline 2 after this one (block 3)... */
#define TL3 3500   /* ...and starts here: 3491-3499 diverged */
#define DIVERGED ((TL2 - FORK2 - 1) + (TL3 - FORK3 - 1))

/* What to damage: nothing, or a label, a record and a first segment in each place. */
typedef struct Damage {
    uint64_t wrongLabelSeq;   /* labelled timeline 3 out of its seqs (0: none) */
    uint64_t unknownLabelSeq; /* labelled timeline 4, which does not exist (0: none) */
    bool forkElsewhere;       /* record 3's fork names another file */
    bool startElsewhere;      /* timeline 2's first segment starts past the fork's state */
} Damage;

/* Timeline t's GTID number of seq: one transaction per segment; each timeline continues its fork. */
static uint64_t
gno(uint64_t seq) {
    if (seq >= TL3)
        return seq - (TL3 - FORK3 - 1) - (TL2 - FORK2 - 1);
    if (seq >= TL2)
        return seq - (TL2 - FORK2 - 1);
    return seq;
}

static uint32_t
timelineOf(uint64_t seq) {
    return seq >= TL3 ? 3 : seq >= TL2 ? 2 : 1;
}

static void
meta(SegmentMeta *m, uint64_t seq, const Damage *d, char *gs, char *ge, size_t size) {
    uint32_t t = timelineOf(seq);
    uint64_t first = t == 3 ? TL3 : t == 2 ? TL2 : 1;
    char file[32];

    if (seq == TL2)
        snprintf(gs, size, "0-1-%d", d->startElsewhere ? FORK2 + 1 : FORK2);
    else if (seq == TL3)
        snprintf(gs, size, "0-2-%" PRIu64, gno(FORK3));
    else
        snprintf(gs, size, "0-%" PRIu32 "-%" PRIu64, t, gno(seq) - 1);
    snprintf(ge, size, "0-%" PRIu32 "-%" PRIu64, t, gno(seq));
    snprintf(file, sizeof(file), "bin.00000%" PRIu32, t);
    fixtureCrafted(m, seq, file, 256 + (seq - first) * 100, 256 + (seq - first + 1) * 100, gs, ge);
    m->timeline = t;
    if (seq == d->wrongLabelSeq)
        m->timeline = 3;
    if (seq == d->unknownLabelSeq)
        m->timeline = 4;
}

static void
record(Archive *a, uint32_t t, uint64_t forkSeq, uint64_t firstSeq, const char *forkFile, uint64_t forkPos) {
    TimelineRecord r;
    Err err = {0};
    char state[64];

    memset(&r, 0, sizeof(r));
    r.timeline = t;
    r.parent = t - 1;
    r.firstSeq = firstSeq;
    r.source.flavour = BINLOG_FLAVOUR_MARIADB;
    r.source.serverId = t;
    snprintf(r.source.host, sizeof(r.source.host), "db%" PRIu32 ":3306", t);
    snprintf(r.source.basename, sizeof(r.source.basename), "bin");
    snprintf(r.created, sizeof(r.created), "2026-12-06T00:00:00Z");
    if (t > 1) {
        snprintf(state, sizeof(state), "0-%" PRIu32 "-%" PRIu64, t - 1, gno(forkSeq));
        r.hasFork = true;
        r.fork.seq = forkSeq;
        snprintf(r.fork.file, sizeof(r.fork.file), "%s", forkFile);
        r.fork.pos = forkPos;
        r.fork.gtidState = bvStrdup(state);
        snprintf(r.fork.gtid, sizeof(r.fork.gtid), "%s", state);
        r.fork.timeUs = 1000000ull * forkSeq;
        r.fork.transactions = 1;
        r.hasDiverged = true;
        r.diverged.firstSeq = forkSeq + 1;
        r.diverged.lastSeq = firstSeq - 1;
        r.diverged.transactions = firstSeq - 1 - forkSeq;
    }
    REQUIRE(timelineRecordWrite(a, &r, &err) == 0);
    timelineRecordClear(&r);
}

typedef struct Archived {
    Storage *storage;
    Archive *archive;
} Archived;

/* The archive: identity at version 2, a chunk per block and the tail's, the level-1 summary of the
 * four blocks, three timeline records; no segment object (verify says each is missing). */
static void
archivedOpen(Archived *ar, const char *name, const Damage *d) {
    static SegmentMeta metas[SEGMENTS];
    static char gs[SEGMENTS][32], ge[SEGMENTS][32];
    ArchiveIdentity id = {.flavour = BINLOG_FLAVOUR_MARIADB, .serverId = 1};
    char root[1024];
    Err err = {0};

    snprintf(root, sizeof(root), "%s/%s", testTmpDir(), name);
    REQUIRE(mkdir(root, 0700) == 0);
    REQUIRE((ar->storage = storageNew(root, &err)) != NULL);
    ar->archive = archiveNew(ar->storage);
    snprintf(id.source, sizeof(id.source), "test");
    REQUIRE(archiveIdentityEnsure(ar->archive, &id, NULL, &err) == 0);
    for (uint64_t seq = 1; seq <= SEGMENTS; seq++)
        meta(&metas[seq - 1], seq, d, gs[seq - 1], ge[seq - 1], sizeof(gs[0]));
    REQUIRE(fixtureIndexBlocks(ar->archive, ar->storage, metas, SEGMENTS, &err) == 0);
    record(ar->archive, 1, 0, 1, NULL, 0);
    record(ar->archive, 2, FORK2, TL2, "bin.000001", 256 + FORK2 * 100);
    record(ar->archive, 3, FORK3, TL3, d->forkElsewhere ? "bin.000009" : "bin.000002", 256 + (FORK3 - TL2 + 1) * 100);
    REQUIRE(archiveIdentitySetVersion2(ar->archive, &err) == 0);
}

static void
archivedClose(Archived *ar) {
    archiveFree(ar->archive);
    storageFree(ar->storage);
}

static void
appendLine(char *out, size_t size, const char *object, uint64_t seq, const char *message) {
    size_t len = strlen(out);

    if (len < size)
        snprintf(out + len, size - len, "%s@%" PRIu64 ": %s\n", object ? object : "-", seq, message);
}

/* verify's timeline problems, one line each. */
static void
onProblem(void *data, const ArchiveVerifyProblem *p) {
    if (strcmp(p->kind, "timeline") == 0)
        appendLine(data, 16384, p->object, p->seq, p->message);
}

static void
wholeProblem(void *data, const char *object, uint64_t seq, const char *message) {
    appendLine(data, 16384, object, seq, message);
}

/* The timeline problems verify finds streaming, those of the whole index checked at once, and the
 * restorable window's transactions. */
static void
problemsOf(Archived *ar, char *streamed, char *whole, uint64_t *windowTxns) {
    ArchiveVerifyResult res;
    ArchiveCatalog *c;
    TimelineSet *set;
    Err err = {0};

    streamed[0] = whole[0] = '\0';
    REQUIRE(archiveVerify(ar->archive, &(ArchiveVerifyHooks){onProblem, NULL, NULL, streamed}, &res, &err) == 0);
    REQUIRE(archiveOutlineWindowCount(res.outline) >= 1);
    *windowTxns = archiveOutlineWindowAt(res.outline, archiveOutlineWindowCount(res.outline) - 1)->transactions;
    CHECK_INT(res.segments, SEGMENTS);
    archiveVerifyResultClear(&res);
    REQUIRE((c = archiveCatalogLoad(ar->archive, ARCHIVE_LOAD_TOLERANT, &err)) != NULL);
    REQUIRE(archiveCatalogCount(c) == SEGMENTS);
    REQUIRE(timelineSetLoad(ar->archive, &set, &err) == 0);
    timelineCheckCatalog(set, c, wholeProblem, whole);
    timelineSetFree(set);
    archiveCatalogFree(c);
}

/* A sound forked archive: no timeline problem either way; the window counts the main line. */
static void
testForkedSound(void) {
    static char streamed[16384], whole[16384];
    Archived ar;
    uint64_t txns;

    archivedOpen(&ar, "sound", &(Damage){0});
    problemsOf(&ar, streamed, whole, &txns);
    CHECK_STR(streamed, "");
    CHECK_STR(whole, "");
    CHECK_INT(txns, SEGMENTS - DIVERGED);
    archivedClose(&ar);
}

/* Problems in the first block, the tail, a record's fork and a timeline's first segment: the same
 * lines, in the same order, as the whole index gives. */
static void
testForkedDamaged(void) {
    static char streamed[16384], whole[16384];
    Damage d = {.wrongLabelSeq = 10, .unknownLabelSeq = SEGMENTS - 5, .forkElsewhere = true, .startElsewhere = true};
    Archived ar;
    uint64_t txns;

    archivedOpen(&ar, "damaged", &d);
    problemsOf(&ar, streamed, whole, &txns);
    CHECK_MSG(streamed, "labelled timeline 3, whose segments start at seq 3500");
    CHECK_MSG(streamed, "labelled timeline 4, but the archive's timelines are 1 to 3");
    CHECK_MSG(streamed, "timelines/00000003.json@3490: its fork (timeline 2, bin.000009:");
    CHECK_MSG(streamed, "timelines/00000002.json@1510: its first segment "
                        "'segments/000000000000/0000000000001510-bin.000002-0000000256.bvs' starts at gtid state '0-1-1501', not "
                        "at the fork's '0-1-1500'");
    CHECK_STR(streamed, whole);
    archivedClose(&ar);
}

void suite_verify_blocks(void);

void
suite_verify_blocks(void) {
    testRun("verify blocks: a forked archive of many blocks, sound, its window on the main line", testForkedSound);
    testRun("verify blocks: its problems found block by block are the whole index's", testForkedDamaged);
}
