/*
 * Reading archived segments for a plan (recover/plan.h, "Reading segments for the plan"): the
 * transactions of a segment, framed, with the GTID state after each, fed to the planner or used
 * to find the state at a position. The only part of planning that does I/O.
 */
#include "recover/plan.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "archive/summary.h"
#include "archive/verify.h"
#include "binlog/txn.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/plan_internal.h"

/* Statement text is not needed to plan: only GTIDs, times and positions. */
#define PLAN_TEXT_MAX 64

typedef int (*ScanFn)(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err);

/* Frame the transactions of a segment, with the GTID state after each; fn returns 1 to stop. */
static int
scanSegment(Archive *a, const SegmentMeta *m, BinlogFlavour flavour, ScanFn fn, void *ctx, Err *err) {
    SegmentReader *r = archiveSegmentOpen(a, m, err);
    BinlogTxnFramer *f;
    BinlogEvent ev;
    uint64_t pos;
    bool stopped = false;
    int rc;

    if (r == NULL)
        return -1;
    f = binlogTxnFramerNew(PLAN_TEXT_MAX);
    rc = segmentMetaGtidStart(m)[0] ? binlogTxnFramerSetGtidState(f, flavour, segmentMetaGtidStart(m), err) : 0;
    if (rc != 0)
        errPrefix(err, "segment '%s': gtid_start", m->name);
    while (rc == 0 && !stopped && (rc = segmentReaderNext(r, &ev, &pos, err)) == 1) {
        int st = binlogTxnFramerPush(f, segmentReaderFormat(r), &ev, pos, err);

        rc = 0;
        if (st < 0) {
            rc = errPrefix(err, "segment '%s': event at %s:%" PRIu64, m->name, m->file, pos);
            break;
        }
        if ((st & 0x0f) == BINLOG_TXN_END && binlogTxnFramerDone(f)->endPos > m->endPos) {
            stopped = true; /* past the fork of the timeline the plan follows (archive/timeline.h) */
        } else if ((st & 0x0f) == BINLOG_TXN_END) {
            char *state = binlogTxnFramerGtidState(f);
            int got = fn(ctx, binlogTxnFramerDone(f), state, err);

            bvFree(state);
            if (got < 0)
                rc = -1;
            stopped = got == 1;
        }
    }
    if (rc == 0 && !stopped && m->sha256[0] != '\0' && strcmp(segmentReaderSha256(r), m->sha256) != 0)
        rc = errSet(err, ERR_CHECKSUM, "segment '%s': object sha256 mismatch: computed %s, the index says %s", m->name,
                    segmentReaderSha256(r), m->sha256);
    binlogTxnFramerFree(f);
    segmentReaderFree(r);
    return rc < 0 ? -1 : 0;
}

/* archive/verify.h's progress over a block, said over the whole plan. */
static void
blockProgress(void *data, size_t done, size_t total, uint64_t bytes) {
    PlanVerify *pv = data;
    size_t planTotal = pv->total;

    pv->blockBytes = bytes;
    /* A block's end is the next one's start: said once, at the plan's end. */
    if (done == total && pv->done + done < planTotal)
        return;
    pv->progress(pv->data, pv->done + done, planTotal, pv->bytes + bytes);
}

void
planVerifyBlock(PlanVerify *pv, const ArchiveCatalog *c, size_t i0, size_t i1) {
    ArchiveVerifyHooks hooks = {.progress = pv->progress ? blockProgress : NULL, .data = pv};
    ArchiveVerifyResult res;

    archiveVerifySegments(pv->a, c, i0, i1, &hooks, &res);
    for (size_t k = 0; k < res.problemCount && pv->firstProblem == NULL; k++) {
        const ArchiveVerifyProblem *pr = &res.problems[k];
        size_t len = strlen(pr->message) + (pr->object ? strlen(pr->object) : 12) + 8;

        pv->firstProblem = bvMalloc(len);
        snprintf(pv->firstProblem, len, "%s: %s", pr->object ? pr->object : "(no object)", pr->message);
    }
    pv->problems += res.problemCount;
    archiveVerifyResultClear(&res);
    pv->done += i1 - i0 + 1;
    pv->bytes += pv->blockBytes;
    pv->blockBytes = 0;
}

/* Verify the segments of a range-mode plan block by block (the block's catalog from the range,
 * one at a time), into *pv. */
static int
verifyBlocks(const RecoverPlan *p, PlanVerify *pv, Err *err) {
    const RecoverPlanInfo *info = recoverPlanInfo(p);
    RecoverRange *range = recoverPlanRange(p);
    uint64_t seq = info->firstSeq;

    while (seq <= info->lastSeq) {
        const ArchiveCatalog *c;
        size_t i0, i1;
        int got = recoverRangeBlockPart(range, &seq, info->lastSeq, &c, &i0, &i1, err);

        if (got < 0)
            return -1;
        if (got == 1)
            planVerifyBlock(pv, c, i0, i1);
    }
    return 0;
}

void
recoverPlanDryRun(RecoverPlan *p, Archive *a, void (*progress)(void *data, size_t done, size_t total, uint64_t bytes),
                  void *data) {
    if (p->verify == NULL)
        p->verify = bvCalloc(1, sizeof(*p->verify));
    bvFree(p->verify->firstProblem);
    memset(p->verify, 0, sizeof(*p->verify));
    p->verify->a = a;
    p->verify->progress = progress;
    p->verify->data = data;
}

int
recoverPlanVerify(const RecoverPlan *p, Archive *a, void (*progress)(void *data, size_t done, size_t total, uint64_t bytes),
                  void *data, Err *err) {
    const RecoverPlanInfo *info = recoverPlanInfo(p);
    PlanVerify mine = {.a = a, .progress = progress, .data = data, .total = info->segments};
    const PlanVerify *pv = p->verify;
    int rc = 0;

    if (info->segments == 0)
        return 0;
    if (pv == NULL || !pv->walked) {
        /* Not verified while the plan was listed (a dry run's recoverPlanToJson()): now. */
        pv = &mine;
        if (recoverPlanRange(p) == NULL)
            planVerifyBlock(&mine, recoverPlanCatalog(p), info->first, info->last);
        else if (verifyBlocks(p, &mine, err) != 0)
            rc = -1;
    }
    if (rc == 0 && pv->problems > 0)
        rc = errSet(err, ERR_CHECKSUM,
                    "%zu of the plan's %zu segments do not verify, first %s; applying would stop there "
                    "(run 'binvault verify' for the whole archive)",
                    pv->problems, info->segments, pv->firstProblem);
    bvFree(mine.firstProblem);
    return rc;
}

typedef struct PlanScan {
    RecoverPlan *p;
    size_t idx;
} PlanScan;

static int
planScanTxn(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err) {
    PlanScan *ps = ctx;

    return recoverPlanFeed(ps->p, ps->idx, t, stateAfter, err);
}

int
recoverPlanResolve(RecoverPlan *p, Archive *a, Err *err) {
    BinlogFlavour flavour = recoverPlanRange(p) != NULL ? recoverRangeFlavour(recoverPlanRange(p))
                                                        : archiveCatalogFlavour(recoverPlanCatalog(p));
    SegmentMeta m = {0};
    size_t idx;
    int rc = 0;

    while (rc == 0 && recoverPlanNextScan(p, &idx)) {
        PlanScan ps = {p, idx};
        int got = recoverPlanSegment(p, idx, &m, err);

        if (got < 0) {
            rc = -1;
        } else if (got == 1) {
            logInfo("planning: reading segment '%s'", m.name);
            rc = scanSegment(a, &m, flavour, planScanTxn, &ps, err);
        }
    }
    segmentMetaClear(&m);
    return rc == 0 ? recoverPlanFinish(p, err) : -1;
}


typedef struct PosScan {
    uint64_t pos;
    char *state;
} PosScan;

static int
posScanTxn(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err) {
    PosScan *ps = ctx;

    (void)err;
    if (t->endPos > ps->pos)
        return 1;
    bvFree(ps->state);
    ps->state = bvStrdup(stateAfter);
    return 0;
}

int
recoverStateAtPosition(Archive *a, const ArchiveCatalog *c, const char *file, uint64_t pos, char **state, Err *err) {
    PosScan ps = {pos, NULL};
    const SegmentMeta *m;
    size_t idx;

    *state = NULL;
    if (archiveCatalogFindPosition(c, file, pos, &idx, err) != 0) {
        Err again = {0};

        /* The end of the last archived segment of the file is a position too. */
        if (pos <= BINLOG_MAGIC_LEN || archiveCatalogFindPosition(c, file, pos - 1, &idx, &again) != 0 ||
            archiveCatalogAt(c, idx)->endPos != pos)
            return -1;
        errClear(err);
        *state = bvStrdup(segmentMetaGtidEnd(archiveCatalogAt(c, idx)));
        return 0;
    }
    m = archiveCatalogAt(c, idx);
    if (pos <= m->startPos) {
        *state = bvStrdup(segmentMetaGtidStart(m));
        return 0;
    }
    ps.state = bvStrdup(segmentMetaGtidStart(m));
    if (scanSegment(a, m, archiveCatalogFlavour(c), posScanTxn, &ps, err) != 0) {
        bvFree(ps.state);
        return errPrefix(err, "position %s:%" PRIu64, file, pos);
    }
    *state = ps.state;
    return 0;
}

