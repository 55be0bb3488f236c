/*
 * Reading archived segments for a plan (recover/plan.h, "Reading segments for the plan"): the
 * transactions of a segment, framed, with the GTID state after each, fed to the planner or used
 * to find the state at a position. The only part of planning that does I/O.
 */
#include "recover/plan.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "archive/verify.h"
#include "binlog/txn.h"
#include "common/log.h"
#include "common/mem.h"

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

int
recoverPlanVerify(const RecoverPlan *p, Archive *a, const ArchiveCatalog *c,
                  void (*progress)(void *data, size_t done, size_t total, uint64_t bytes), void *data, Err *err) {
    const RecoverPlanInfo *info = recoverPlanInfo(p);
    ArchiveVerifyHooks hooks = {.progress = progress, .data = data};
    ArchiveVerifyResult res;
    int rc = 0;

    if (info->segments == 0)
        return 0;
    archiveVerifySegments(a, c, info->first, info->last, &hooks, &res);
    if (res.problemCount > 0) {
        const ArchiveVerifyProblem *first = &res.problems[0];

        rc = errSet(err, ERR_CHECKSUM,
                    "%zu of the plan's %zu segments do not verify, first %s: %s; applying would stop there "
                    "(run 'binvault verify' for the whole archive)",
                    res.problemCount, info->segments, first->object ? first->object : "(no object)", first->message);
    }
    archiveVerifyResultClear(&res);
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
    const ArchiveCatalog *c = recoverPlanCatalog(p);
    size_t idx;

    while (recoverPlanNextScan(p, &idx)) {
        PlanScan ps = {p, idx};

        logInfo("planning: reading segment '%s'", archiveCatalogAt(c, idx)->name);
        if (scanSegment(a, archiveCatalogAt(c, idx), archiveCatalogFlavour(c), planScanTxn, &ps, err) != 0)
            return -1;
    }
    return recoverPlanFinish(p, err);
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

