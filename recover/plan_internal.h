/*
 * Internals of recovery planning shared by recover/plan.c (planning) and recover/plan_report.c
 * (what a finished plan says: its JSON, its bytes, its segments). Not for use outside them.
 */
#ifndef BV_RECOVER_PLAN_INTERNAL_H
#define BV_RECOVER_PLAN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "binlog/gtid.h"
#include "recover/plan.h"

/* A plan over a range (recoverPlanNewRange()): what it keeps per block of the streamed segments,
 * for recoverPlanBytes() (about 300 bytes a block). */
typedef struct PlanBlock {
    uint64_t lastSeq;  /* the block's last streamed seq */
    uint64_t binlog;   /* binlog bytes the block's streamed segments apply */
    char lastFile[SEGMENT_FILE_MAX];
    uint64_t lastTo;   /* where they end in lastFile */
    uint64_t firstFrom; /* where they start */
    bool oneFile;      /* all in lastFile, each from where the one before ends: the bytes before a
                        * position inside are its distance from firstFrom (no read) */
} PlanBlock;

/* The segment a plan looked at last (range mode: a copy), and the first error reading a block. */
typedef struct PlanRead {
    SegmentMeta m;
    bool have;
    Err err;
    bool failed;
} PlanRead;

/* A dry run's plan (recoverPlanDryRun()): what verifying it needs, and what the walk that listed
 * the segments (recoverPlanToJson()) found verifying them, for recoverPlanVerify() to answer. */
typedef struct PlanVerify {
    Archive *a;
    void (*progress)(void *data, size_t done, size_t total, uint64_t bytes);
    void *data;
    size_t total;       /* the plan's segments */
    size_t done;        /* segments verified, in the plan */
    uint64_t bytes;     /* read before the block being verified */
    uint64_t blockBytes;
    size_t problems;
    char *firstProblem; /* "object: message" of the first */
    bool walked;        /* every segment of the plan verified */
} PlanVerify;

struct RecoverPlan {
    const ArchiveCatalog *c; /* catalog mode: the plan's segments; NULL in range mode */
    RecoverRange *range;     /* range mode (owned): index i is seq seq0 + i */
    uint64_t seq0;           /* range mode; 0 in catalog mode */
    uint64_t archiveFirst;   /* range mode: the archive's first seq; 0 in catalog mode */
    PlanRead *read;
    PlanVerify *verify;      /* a dry run's (recoverPlanDryRun()); NULL otherwise */
    PlanBlock *blocks;       /* range mode, once finished (not in a dry run) */
    size_t nblocks;
    RecoverServerIds ids;    /* range mode, once finished (not in a dry run): of every segment */
    bool haveIds;
    BinlogFlavour flavour;
    RecoverTarget target;
    char *targetGtid;
    char *start;
    GtidState *startState;
    GtidState *targetState; /* GTID targets */
    size_t n;
    size_t first;       /* segment of the first transaction not in start; n when none */
    size_t boundary;    /* segment of the cut */
    bool scanFirst, scanBoundary;
    size_t scanStep;    /* recoverPlanNextScan(): GTID and position targets */

    /* TIME targets: segments lo..hi are read in order until the one holding the first
     * transaction committed after the time (hi: the first the index proves holds one), and the
     * one after it, for commits after the cut dated before the time (then hi is that one). */
    bool scanTime;
    size_t lo, hi;
    size_t scanNext;    /* recoverPlanNextScan()'s next segment */
    size_t timeSeg;     /* the segment being fed; SIZE_MAX before the first */
    uint64_t maxUs;     /* the latest commit time before the cut */
    char cutGtid[BINLOG_TXN_GTID_MAX];
    char cutFile[SEGMENT_FILE_MAX];
    uint64_t cutTimeUs, cutPos;
    uint64_t backwards, ambiguous;
    size_t notes, backwardNotes, ambiguousNotes;
    RecoverTimeNote note[RECOVER_TIME_NOTES];

    bool haveFirst;     /* the first transaction to apply, found by the scan */
    char firstGtid[BINLOG_TXN_GTID_MAX];
    char firstFile[SEGMENT_FILE_MAX];
    uint64_t firstTimeUs, firstPos;

    bool cutDone;       /* the scan placed the cut */
    bool included;      /* ... after at least one transaction of the boundary segment */
    char *cutState;     /* GTID state after the last transaction included */
    bool haveLast;
    char lastGtid[BINLOG_TXN_GTID_MAX];
    char lastFile[SEGMENT_FILE_MAX];
    uint64_t lastTimeUs, lastEndPos;

    bool finished;
    char *until;
    RecoverPlanInfo info;
};

/* Segment i of the plan's range: NULL for a seq the archive lacks (range mode), or when its block
 * cannot be read (p->read->failed, planReadFailed()). Range mode: valid until the next call. */
const SegmentMeta *planSegAt(const RecoverPlan *p, size_t i);
/* The error of a block that could not be read, into err: -1. */
int planReadFailed(const RecoverPlan *p, Err *err);
/* The binlog bytes of segment m (index i) that the plan applies, [*from, *to) of its file: all of
 * it, but from the first transaction in the first segment and to the last one's end in the last. */
void planSegmentApplied(const RecoverPlan *p, const SegmentMeta *m, size_t i, uint64_t *from, uint64_t *to);

/* ERR_GAP: segment m is in the index but not in the store (plan_check.c). */
int planSegmentMissing(const SegmentMeta *m, Err *err);
/* The plan's segments first..last cross no break of the archive (in range mode along a path, none
 * between two segments on it, and each timeline joins its parent's fork by GTID state) and, over a
 * catalog, each is stored; ERR_GAP otherwise (plan_check.c). */
int planCheckContinuous(RecoverPlan *p, size_t first, size_t last, Err *err);

/* Verify entries i0..i1 of block catalog `c` (the plan's, in its order), counted in *pv (total set). */
void planVerifyBlock(PlanVerify *pv, const ArchiveCatalog *c, size_t i0, size_t i1);

#endif
