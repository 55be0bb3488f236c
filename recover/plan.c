/*
 * Recovery planning (recover/plan.h): where a recovery starts, which segments it needs, where it
 * cuts. Code over the catalog (or a range of the view read a block at a time, recover/range.h)
 * and the transactions it is fed; unit-tested with crafted catalogs (tests/unit/test_plan.c) and
 * ranges (tests/unit/test_scope_blocks.c).
 */
#include "recover/plan.h"
#include "recover/plan_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/outline.h"
#include "archive/summary.h"
#include "binlog/gtid.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/time.h"

/* ---- GTID states ----------------------------------------------------------------------------- */

/* Parse a state; the error names `what` (when not NULL). */
static GtidState *
stateParse(BinlogFlavour flavour, const char *text, const char *what, Err *err) {
    GtidState *s = gtidStateParse(flavour, text, err);

    if (s == NULL && what != NULL)
        errPrefix(err, "%s", what);
    return s;
}

/* The transaction's own GTID as a state; NULL in *g for "" (an anonymous transaction, which is in
 * no state and reaches none). */
static int
txnGtid(BinlogFlavour flavour, const char *gtid, GtidState **g, Err *err) {
    *g = NULL;
    if (gtid[0] == '\0')
        return 0;
    return (*g = gtidStateParse(flavour, gtid, err)) != NULL ? 0 : -1;
}

/* Whether the transaction `gtid` is in state. */
static int
txnInState(const GtidState *state, const char *gtid, bool *in, Err *err) {
    GtidState *g;

    *in = false;
    if (txnGtid(gtidStateFlavour(state), gtid, &g, err) != 0)
        return -1;
    *in = g != NULL && gtidStateContains(state, g);
    gtidStateFree(g);
    return 0;
}

/* Whether the transaction `gtid` reaches target: MariaDB, it is at or past the target's GTID of
 * its domain; MySQL, it is one of the target's. */
static int
txnReaches(const GtidState *target, const char *gtid, bool *yes, Err *err) {
    GtidState *g;

    *yes = false;
    if (txnGtid(gtidStateFlavour(target), gtid, &g, err) != 0)
        return -1;
    *yes = g != NULL && gtidStateContainsAny(g, target);
    gtidStateFree(g);
    return 0;
}

/* ---- Where a recovery starts ---------------------------------------------------------------- */

int
recoverChooseStart(BinlogFlavour flavour, const char *explicitStart, const char *targetPos, const char *archiveEnd,
                   char **start, const char **why, Err *err) {
    GtidState *e, *t, *end;
    bool ahead;

    *start = NULL;
    if (targetPos == NULL)
        targetPos = "";
    if (explicitStart == NULL) {
        if (targetPos[0] == '\0')
            return errSet(err, ERR_USAGE,
                          "no start point: the target's gtid_slave_pos is empty (as on a server restored from a backup): "
                          "give --base-dir DIR (the prepared backup it was restored from), --from-gtid or --from-position");
        *start = bvStrdup(targetPos);
        *why = "the target's gtid_slave_pos: continuing an earlier recovery";
        return 0;
    }
    if ((e = stateParse(flavour, explicitStart, "start", err)) == NULL)
        return -1;
    *start = bvStrdup(explicitStart);
    *why = "the given start";
    /* An empty or unreadable position on the target is replaced by the start. */
    if (targetPos[0] == '\0' || (t = gtidStateParse(flavour, targetPos, err)) == NULL) {
        errClear(err);
        gtidStateFree(e);
        return 0;
    }
    if ((end = gtidStateParse(flavour, archiveEnd, err)) == NULL) {
        errClear(err);
        gtidStateFree(e);
        gtidStateFree(t);
        return 0;
    }
    /* Past the start along the archived history: an earlier run applied that far. A position
     * the archive never reached is stale (or foreign), and replaced. */
    ahead = gtidStateContains(t, e) && !gtidStateContains(e, t) && gtidStateContains(end, t);
    gtidStateFree(e);
    gtidStateFree(t);
    gtidStateFree(end);
    if (!ahead)
        return 0;
    bvFree(*start);
    *start = NULL;
    return errSet(err, ERR_USAGE,
                  "the target's gtid_slave_pos '%s' is past the given start '%s' along the archived history: an earlier "
                  "recovery applied up to there. To continue it, run the same command without --base-dir / --from-gtid "
                  "/ --from-position; to start over, restore the base backup again (or, if that position is stale, "
                  "clear it with SET GLOBAL gtid_slave_pos='')",
                  targetPos, explicitStart);
}

/* ---- Planning ------------------------------------------------------------------------------------ */

typedef enum Cut { CUT_INCLUDE = 0, CUT_INCLUDE_STOP, CUT_BEFORE } Cut;

const SegmentMeta *
planSegAt(const RecoverPlan *p, size_t i) {
    PlanRead *r = p->read;
    int got;

    if (p->range == NULL)
        return archiveCatalogAt(p->c, i);
    if (r->have && r->m.seq == recoverRangeSeqAt(p->range, i))
        return &r->m;
    if (r->failed)
        return NULL;
    r->have = false;
    if ((got = recoverRangeGet(p->range, recoverRangeSeqAt(p->range, i), &r->m, NULL, &r->err)) < 0)
        r->failed = true;
    r->have = got == 1;
    return r->have ? &r->m : NULL;
}

int
planReadFailed(const RecoverPlan *p, Err *err) {
    *err = p->read->err;
    return -1;
}

/* "time 2026-11-21 14:03:00 UTC (exclusive)" and the like, for messages. */
static void
targetDescribe(const RecoverTarget *t, char *out, size_t size) {
    char when[48];

    switch (t->kind) {
    case RECOVER_UNTIL_TIME:
        timeFormatUtc(t->timeUs, true, when, sizeof(when));
        snprintf(out, size, "time %s", when);
        break;
    case RECOVER_UNTIL_GTID: snprintf(out, size, "gtid '%s'", t->gtid ? t->gtid : ""); break;
    case RECOVER_UNTIL_POSITION: snprintf(out, size, "position %s:%" PRIu64, t->file, t->pos); break;
    case RECOVER_UNTIL_END: snprintf(out, size, "the end of the archive"); break;
    default: snprintf(out, size, "no target"); break;
    }
    if (t->exclusive && t->kind != RECOVER_UNTIL_END)
        snprintf(out + strlen(out), size - strlen(out), ", exclusive");
}

static int
segmentState(const RecoverPlan *p, const SegmentMeta *m, bool end, GtidState **g, Err *err) {
    if ((*g = gtidStateParse(p->flavour, end ? segmentMetaGtidEnd(m) : segmentMetaGtidStart(m), err)) == NULL)
        return errPrefix(err, "segment '%s': gtid_%s", m->name, end ? "end" : "start");
    return 0;
}

/* The first segment holding a transaction that the start does not. */
static int
locateFirst(RecoverPlan *p, Err *err) {
    p->first = p->n;
    for (size_t i = 0; i < p->n; i++) {
        const SegmentMeta *m = planSegAt(p, i);
        GtidState *end;
        bool held;

        if (m == NULL) {
            if (p->read->failed)
                return planReadFailed(p, err);
            continue;
        }
        if (segmentMetaGtidEnd(m)[0] == '\0') {
            if (m->transactions == 0)
                continue;
            p->first = i;
            return 0;
        }
        if (segmentState(p, m, true, &end, err) != 0)
            return -1;
        held = gtidStateContains(p->startState, end);
        gtidStateFree(end);
        if (!held) {
            p->first = i;
            return 0;
        }
    }
    return 0;
}

/* Where the target's segment is looked for: the whole catalog, or in range mode from the block the
 * lookup named (recoverRangeCut()): no segment before it reaches the target. */
static size_t
searchFrom(const RecoverPlan *p) {
    uint64_t seq;
    size_t i;

    if (p->range == NULL)
        return 0;
    seq = archiveBlockFirst(archiveBlockOf(recoverRangeCut(p->range)));
    if (seq <= p->seq0)
        return 0;
    recoverRangeIndexOf(p->range, seq, &i); /* a seq off the path: from the next one on it */
    return i;
}

static int
locateGtid(RecoverPlan *p, Err *err) {
    const SegmentMeta *m;

    for (size_t i = searchFrom(p); i < p->n; i++) {
        GtidState *end;
        bool hit;

        if ((m = planSegAt(p, i)) == NULL) {
            if (p->read->failed)
                return planReadFailed(p, err);
            continue;
        }
        if (segmentMetaGtidEnd(m)[0] == '\0')
            continue;
        if (segmentState(p, m, true, &end, err) != 0)
            return -1;
        hit = p->target.exclusive ? gtidStateContainsAny(end, p->targetState) : gtidStateContains(end, p->targetState);
        gtidStateFree(end);
        if (hit) {
            p->boundary = i;
            return 0;
        }
    }
    if ((m = planSegAt(p, p->n - 1)) == NULL && p->read->failed)
        return planReadFailed(p, err);
    return errSet(err, ERR_NOTFOUND, "gtid '%s' is after the end of the archive, which ends at gtid state '%s'",
                  p->target.gtid, m != NULL ? segmentMetaGtidEnd(m) : "");
}

/* Seq `seq` that a lookup named (`what`), as an index of the range: ERR_INTERNAL when the range
 * does not hold it (outside, or off its path: the scope looked the target up along the path). */
static int
rangeIndex(const RecoverPlan *p, uint64_t seq, const char *what, size_t *idx, Err *err) {
    if (seq < p->seq0 || seq > recoverRangeLast(p->range) || !recoverRangeIndexOf(p->range, seq, idx))
        return errSet(err, ERR_INTERNAL, "the %s lookup answered seq %" PRIu64 ", not one of the plan's seqs %" PRIu64
                      "-%" PRIu64 "%s", what, seq, p->seq0, recoverRangeLast(p->range),
                      seq >= p->seq0 && seq <= recoverRangeLast(p->range) ? " (off its timeline's path)" : "");
    return 0;
}

/* archiveCatalogFindTime() or, in range mode, archiveViewFindTime() (the same rules and errors) as
 * an index of the range. */
static int
findTime(RecoverPlan *p, size_t *idx, Err *err) {
    uint64_t seq;
    int rc;

    if (p->range == NULL)
        return archiveCatalogFindTime(p->c, p->target.timeUs, p->target.exclusive, idx, err);
    /* Along a path: its first commit after the time, as on the followed catalog. */
    rc = recoverRangePath(p->range) != NULL
             ? archiveOutlinePathFindTime(recoverRangeViewLock(p->range), recoverRangePath(p->range), p->target.timeUs,
                                          p->target.exclusive, &seq, err)
             : archiveViewFindTime(recoverRangeViewLock(p->range), p->target.timeUs, p->target.exclusive, &seq, err);
    recoverRangeViewUnlock(p->range);
    if (rc != 0)
        return -1;
    return rangeIndex(p, seq, "time", idx, err);
}

static int
locateTime(RecoverPlan *p, Err *err) {
    const SegmentMeta *m = NULL;
    uint64_t last = 0;

    if (findTime(p, &p->hi, err) == 0) {
        /* Segments the start holds entirely are not read: their order is the start's past. */
        p->boundary = p->hi;
        p->lo = p->first < p->hi ? p->first : p->hi;
        p->scanTime = true;
        p->scanNext = p->lo;
        p->timeSeg = SIZE_MAX;
        return 0;
    }
    if (err->code == ERR_INTERNAL)
        return -1;
    /* The last commit archived, from the last segment holding a transaction. */
    for (size_t i = p->n; i-- > 0;) {
        if ((m = planSegAt(p, i)) == NULL && p->read->failed)
            return planReadFailed(p, err);
        if (m != NULL && m->transactions > 0) {
            last = m->lastTimeUs;
            break;
        }
    }
    if (last != 0 && p->target.timeUs > last)
        errAppend(err, " (--until-end recovers everything archived)");
    return -1;
}

/* The last byte a transaction may end at to be applied. */
static uint64_t
positionLimit(const RecoverTarget *t) {
    return t->exclusive ? t->pos - 1 : t->pos;
}

static int
locatePosition(RecoverPlan *p, Err *err) {
    uint64_t limit;

    if (p->target.pos <= BINLOG_MAGIC_LEN + (p->target.exclusive ? 1u : 0u))
        return errSet(err, ERR_NOTFOUND, "position %s:%" PRIu64 " is before the file's first event", p->target.file,
                      p->target.pos);
    limit = positionLimit(&p->target);
    /* The segment holding the last byte a transaction may end at. */
    if (p->range == NULL)
        return archiveCatalogFindPosition(p->c, p->target.file, limit - 1, &p->boundary, err);
    {
        uint64_t seq;
        int rc = recoverRangePath(p->range) != NULL
                     ? archiveOutlinePathFindPosition(recoverRangeViewLock(p->range), recoverRangePath(p->range),
                                                      p->target.file, limit - 1, &seq, err)
                     : archiveViewFindPosition(recoverRangeViewLock(p->range), p->target.file, limit - 1, &seq, err);

        recoverRangeViewUnlock(p->range);
        if (rc != 0)
            return -1;
        return rangeIndex(p, seq, "position", &p->boundary, err);
    }
}

static RecoverPlan *planInit(RecoverPlan *p, const char *start, const RecoverTarget *target, Err *err);

RecoverPlan *
recoverPlanNew(const ArchiveCatalog *c, const char *start, const RecoverTarget *target, Err *err) {
    RecoverPlan *p;

    if (archiveCatalogCount(c) == 0) {
        errSet(err, ERR_NOTFOUND, "the archive holds no segment");
        return NULL;
    }
    p = bvCalloc(1, sizeof(*p));
    p->c = c;
    p->n = archiveCatalogCount(c);
    p->flavour = archiveCatalogFlavour(c);
    return planInit(p, start, target, err);
}

RecoverPlan *
recoverPlanNewRange(RecoverRange *range, const char *start, const RecoverTarget *target, Err *err) {
    RecoverPlan *p;

    if (recoverRangeCount(range) == 0 || recoverRangeFirst(range) == 0) {
        errSet(err, ERR_NOTFOUND, "the archive holds no segment");
        recoverRangeFree(range);
        return NULL;
    }
    p = bvCalloc(1, sizeof(*p));
    p->range = range;
    p->seq0 = recoverRangeFirst(range);
    p->n = recoverRangeCount(range);
    p->archiveFirst = archiveViewFirstSeq(recoverRangeViewLock(range));
    recoverRangeViewUnlock(range);
    p->flavour = recoverRangeFlavour(range);
    return planInit(p, start, target, err);
}

/* What both constructors share: the start and the target parsed, step 1. Frees p on failure. */
static RecoverPlan *
planInit(RecoverPlan *p, const char *start, const RecoverTarget *target, Err *err) {
    int rc = -1;

    p->read = bvCalloc(1, sizeof(*p->read));
    p->start = bvStrdup(start ? start : "");
    p->target = *target;
    if (target->gtid != NULL) {
        p->targetGtid = bvStrdup(target->gtid);
        p->target.gtid = p->targetGtid;
    }
    if ((p->startState = stateParse(p->flavour, p->start, "start gtid state", err)) == NULL)
        goto done;
    switch (p->target.kind) {
    case RECOVER_UNTIL_GTID:
        if (p->targetGtid == NULL || strspn(p->targetGtid, " \t\n,") == strlen(p->targetGtid)) {
            errSet(err, ERR_USAGE, "empty --until-gtid");
            goto done;
        }
        if ((p->targetState = stateParse(p->flavour, p->targetGtid, "--until-gtid", err)) == NULL)
            goto done;
        break;
    case RECOVER_UNTIL_TIME:
    case RECOVER_UNTIL_POSITION:
    case RECOVER_UNTIL_END: break;
    default:
        errSet(err, ERR_USAGE, "no target: give --until-time, --until-gtid, --until-position or --until-end");
        goto done;
    }
    if (locateFirst(p, err) != 0)
        goto done;
    switch (p->target.kind) {
    case RECOVER_UNTIL_GTID: rc = locateGtid(p, err); break;
    case RECOVER_UNTIL_TIME: rc = locateTime(p, err); break;
    case RECOVER_UNTIL_POSITION: rc = locatePosition(p, err); break;
    default: p->boundary = p->n - 1; rc = 0; break;
    }
    if (rc != 0)
        goto done;
    p->scanBoundary = p->target.kind != RECOVER_UNTIL_END && !p->scanTime;
    /* The first segment is read to find the first transaction to apply, unless the cut comes
     * before it anyway (the target is then before the start). */
    p->scanFirst = p->first < p->n && p->first <= p->boundary;
done:
    if (rc != 0) {
        recoverPlanFree(p);
        return NULL;
    }
    return p;
}

bool
recoverPlanNextScan(RecoverPlan *p, size_t *idx) {
    if (p->scanTime) {
        if (p->scanNext > p->hi)
            return false;
        *idx = p->scanNext++;
        return true;
    }
    while (p->scanStep < 2) {
        size_t step = p->scanStep++;

        if (step == 0 && p->scanFirst) {
            *idx = p->first;
            return true;
        }
        if (step == 1 && p->scanBoundary && !(p->scanFirst && p->first == p->boundary)) {
            *idx = p->boundary;
            return true;
        }
    }
    return false;
}

/* The transaction is applied: so far the last one, and the cut is after it. */
static void
includeTxn(RecoverPlan *p, const SegmentMeta *m, const BinlogTxn *t, const char *stateAfter) {
    p->included = true;
    bvFree(p->cutState);
    p->cutState = bvStrdup(stateAfter ? stateAfter : "");
    p->haveLast = true;
    snprintf(p->lastGtid, sizeof(p->lastGtid), "%s", t->gtid);
    snprintf(p->lastFile, sizeof(p->lastFile), "%s", m->file);
    p->lastTimeUs = t->commitTimeUs;
    p->lastEndPos = t->endPos;
}

static bool
timeAfter(const RecoverTarget *tg, uint64_t us) {
    return tg->exclusive ? us >= tg->timeUs : us > tg->timeUs;
}

static void
timeNote(RecoverPlan *p, const char *gtid, const char *file, uint64_t pos, uint64_t us, uint64_t priorUs, bool afterCut) {
    RecoverTimeNote *n;

    if (afterCut ? p->ambiguousNotes == RECOVER_TIME_NOTES / 2 : p->backwardNotes == RECOVER_TIME_NOTES / 2)
        return;
    n = &p->note[p->notes++];
    if (afterCut)
        p->ambiguousNotes++;
    else
        p->backwardNotes++;
    snprintf(n->gtid, sizeof(n->gtid), "%s", gtid);
    snprintf(n->file, sizeof(n->file), "%s", file);
    n->pos = pos;
    n->timeUs = us;
    n->priorUs = priorUs;
    n->afterCut = afterCut;
}

/* A time target: the cut is before the first transaction committed after the time in binlog
 * order; the rest of its segment and the next segment are read for transactions after the cut
 * committed before the time (the target is then ambiguous), and commit times going backwards
 * before the cut are noted. */
static void
timeFeed(RecoverPlan *p, size_t idx, const SegmentMeta *m, const BinlogTxn *t, const char *stateAfter) {
    bool after = timeAfter(&p->target, t->commitTimeUs);

    if (idx != p->timeSeg) {
        p->timeSeg = idx;
        if (!p->cutDone) {
            p->boundary = idx;
            p->included = false;
        }
    }
    if (p->cutDone) {
        if (!after) {
            p->ambiguous++;
            timeNote(p, t->gtid, m->file, t->startPos, t->commitTimeUs, p->cutTimeUs, true);
        }
        return;
    }
    if (after) {
        p->cutDone = true;
        p->hi = idx + 1 < p->n ? idx + 1 : idx;
        snprintf(p->cutGtid, sizeof(p->cutGtid), "%s", t->gtid);
        snprintf(p->cutFile, sizeof(p->cutFile), "%s", m->file);
        p->cutTimeUs = t->commitTimeUs;
        p->cutPos = t->startPos;
        return;
    }
    if (t->commitTimeUs < p->maxUs) {
        p->backwards++;
        timeNote(p, t->gtid, m->file, t->startPos, t->commitTimeUs, p->maxUs, false);
    }
    if (t->commitTimeUs > p->maxUs)
        p->maxUs = t->commitTimeUs;
    includeTxn(p, m, t, stateAfter);
}

static int
cutDecide(RecoverPlan *p, const SegmentMeta *m, const BinlogTxn *t, const char *stateAfter, Cut *cut, Err *err) {
    const RecoverTarget *tg = &p->target;
    bool yes;

    *cut = CUT_INCLUDE;
    switch (tg->kind) {
    case RECOVER_UNTIL_POSITION: {
        int cmp = segmentFileCompare(m->file, tg->file);

        if (cmp > 0 || (cmp == 0 && t->endPos > positionLimit(tg)))
            *cut = CUT_BEFORE;
        return 0;
    }
    case RECOVER_UNTIL_GTID:
        if (tg->exclusive) {
            if (txnReaches(p->targetState, t->gtid, &yes, err) != 0)
                return errPrefix(err, "transaction gtid");
            if (yes)
                *cut = CUT_BEFORE;
            return 0;
        }
        {
            GtidState *after = stateParse(p->flavour, stateAfter, "gtid state", err);

            if (after == NULL)
                return -1;
            if (gtidStateContains(after, p->targetState))
                *cut = CUT_INCLUDE_STOP;
            gtidStateFree(after);
        }
        return 0;
    default: return 0;
    }
}

int
recoverPlanFeed(RecoverPlan *p, size_t idx, const BinlogTxn *t, const char *stateAfter, Err *err) {
    const SegmentMeta *m = planSegAt(p, idx);

    if (m == NULL)
        return p->read->failed ? planReadFailed(p, err)
                               : errSet(err, ERR_INTERNAL, "segment %zu of the plan fed, which it does not hold", idx);
    if (p->scanFirst && idx == p->first && !p->haveFirst) {
        bool held;

        if (txnInState(p->startState, t->gtid, &held, err) != 0)
            return errPrefix(err, "segment '%s': transaction gtid", m->name);
        if (!held) {
            p->haveFirst = true;
            snprintf(p->firstGtid, sizeof(p->firstGtid), "%s", t->gtid);
            snprintf(p->firstFile, sizeof(p->firstFile), "%s", m->file);
            p->firstTimeUs = t->commitTimeUs;
            p->firstPos = t->startPos;
        }
    }
    if (p->scanTime) {
        if (idx >= p->lo && idx <= p->hi)
            timeFeed(p, idx, m, t, stateAfter);
        return 0; /* every transaction of the segment counts */
    }
    if (p->scanBoundary && idx == p->boundary && !p->cutDone) {
        Cut cut;

        if (cutDecide(p, m, t, stateAfter, &cut, err) != 0)
            return errPrefix(err, "segment '%s'", m->name);
        if (cut != CUT_BEFORE)
            includeTxn(p, m, t, stateAfter);
        if (cut != CUT_INCLUDE)
            p->cutDone = true;
    }
    if ((!p->scanFirst || idx != p->first || p->haveFirst) && (!p->scanBoundary || idx != p->boundary || p->cutDone))
        return 1;
    return 0;
}

/* The last transaction of the segments up to `upto`, from the index. */
static int
lastFromIndex(RecoverPlan *p, size_t upto, Err *err) {
    for (size_t i = upto + 1; i-- > 0;) {
        const SegmentMeta *m = planSegAt(p, i);

        if (m == NULL && p->read->failed)
            return planReadFailed(p, err);
        if (m == NULL || m->transactions == 0)
            continue;
        p->haveLast = true;
        snprintf(p->lastGtid, sizeof(p->lastGtid), "%s", m->lastGtid);
        snprintf(p->lastFile, sizeof(p->lastFile), "%s", m->file);
        p->lastTimeUs = m->lastTimeUs;
        p->lastEndPos = m->endPos;
        return 0;
    }
    return 0;
}

/* The first transaction of the segments from `from` on, from the index. */
static int
firstFromIndex(RecoverPlan *p, size_t from, size_t to, Err *err) {
    for (size_t i = from; i <= to && i < p->n; i++) {
        const SegmentMeta *m = planSegAt(p, i);

        if (m == NULL && p->read->failed)
            return planReadFailed(p, err);
        if (m == NULL || m->transactions == 0)
            continue;
        p->haveFirst = true;
        snprintf(p->firstGtid, sizeof(p->firstGtid), "%s", m->firstGtid);
        snprintf(p->firstFile, sizeof(p->firstFile), "%s", m->file);
        p->firstTimeUs = m->firstTimeUs;
        p->firstPos = m->startPos;
        return 0;
    }
    return 0;
}

/* The start must be in the archive: the first segment to stream starts at a state the start
 * already holds (nothing between the start and the archive is missing). */
static int
checkStartCovered(RecoverPlan *p, Err *err) {
    const SegmentMeta *m = planSegAt(p, p->first);
    GtidState *st;
    bool held;

    if (m == NULL)
        return planReadFailed(p, err);
    if (segmentMetaGtidStart(m)[0] == '\0')
        return 0;
    if (segmentState(p, m, false, &st, err) != 0)
        return -1;
    held = gtidStateContains(p->startState, st);
    gtidStateFree(st);
    if (held)
        return 0;
    if (p->first == 0 && p->seq0 <= p->archiveFirst)
        return errSet(err, ERR_NOTFOUND,
                      "the start '%s' is before the archive: its first segment '%s' starts at gtid state '%s', so the "
                      "transactions in between were never archived (is the base backup older than the archive?)",
                      p->start, m->name, segmentMetaGtidStart(m));
    return errSet(err, ERR_GAP,
                  "the start '%s' is not in the archive: segment '%s' starts at gtid state '%s' and the transactions "
                  "between are missing (a gap)", p->start, m->name, segmentMetaGtidStart(m));
}

void
planSegmentApplied(const RecoverPlan *p, const SegmentMeta *m, size_t i, uint64_t *from, uint64_t *to) {
    const RecoverPlanInfo *in = &p->info;

    *from = m->startPos;
    *to = m->endPos;
    if (i == in->first && strcmp(m->file, in->firstFile) == 0 && in->firstPos > *from && in->firstPos <= *to)
        *from = in->firstPos;
    if (i == in->last && strcmp(m->file, in->lastFile) == 0 && in->lastEndPos >= *from && in->lastEndPos < *to)
        *to = in->lastEndPos;
}

/* Range mode, once the first and last transaction are known: stream the plan's segments a block at
 * a time, each stored (ERR_GAP as in the catalog), none missing, and count bytes, in all and per
 * block (p->blocks, for recoverPlanBytes()). A dry run's plan (p->verify) takes the blocks it
 * covers whole from their summary lines instead (a summarised block holds its every seq, and its
 * objects count as stored: archiveViewLoadRange()), and keeps no per-block bytes. */
static int
rangeWalk(RecoverPlan *p, Err *err) {
    RecoverPlanInfo *info = &p->info;
    size_t cap = 0;

    for (size_t i = info->first; i <= info->last; i++) {
        uint64_t seq = recoverRangeSeqAt(p->range, i), from, to, bytes, contentBytes;
        SegmentMeta *m = &p->read->m;
        PlanBlock *blk;
        bool listed = false;
        int got;

        if (p->verify != NULL && seq == archiveBlockFirst(archiveBlockOf(seq)) &&
            archiveBlockLast(archiveBlockOf(seq)) <= info->lastSeq &&
            recoverRangeBlockSums(p->range, archiveBlockOf(seq), &bytes, &contentBytes)) {
            info->bytes += bytes;
            info->contentBytes += contentBytes;
            i += (size_t)(archiveBlockLast(archiveBlockOf(seq)) - seq);
            continue;
        }
        p->read->have = false;
        if ((got = recoverRangeGet(p->range, seq, m, &listed, err)) < 0)
            return -1;
        if (got == 0)
            return errSet(err, ERR_GAP, "seq %" PRIu64 " is in neither the index nor the store: the recovery cannot "
                          "cross it", seq);
        p->read->have = true;
        if (!listed)
            return planSegmentMissing(m, err);
        info->bytes += m->size;
        info->contentBytes += m->contentLen;
        if (p->verify != NULL)
            continue;
        recoverServerIdsAddSegment(&p->ids, m);
        planSegmentApplied(p, m, i, &from, &to);
        if (p->nblocks == 0 || archiveBlockOf(seq) != archiveBlockOf(p->blocks[p->nblocks - 1].lastSeq)) {
            if (p->nblocks == cap) {
                cap = cap ? cap * 2 : 16;
                p->blocks = bvRealloc(p->blocks, cap * sizeof(*p->blocks));
            }
            memset(&p->blocks[p->nblocks], 0, sizeof(*p->blocks));
            p->blocks[p->nblocks].firstFrom = from;
            p->blocks[p->nblocks].oneFile = true;
            snprintf(p->blocks[p->nblocks].lastFile, sizeof(p->blocks[0].lastFile), "%s", m->file);
            p->blocks[p->nblocks++].lastTo = from;
        }
        blk = &p->blocks[p->nblocks - 1];
        blk->oneFile = blk->oneFile && blk->lastTo == from && strcmp(blk->lastFile, m->file) == 0;
        blk->lastSeq = seq;
        blk->binlog += to - from;
        snprintf(blk->lastFile, sizeof(blk->lastFile), "%s", m->file);
        blk->lastTo = to;
    }
    return 0;
}

/* Later segments the index shows committing at or before the time: not read, but after the cut. */
static int
timeIndexAfterCut(RecoverPlan *p, Err *err) {
    for (size_t i = p->hi + 1; p->cutDone && i < p->n; i++) {
        const SegmentMeta *m = planSegAt(p, i);

        if (m == NULL && p->read->failed)
            return planReadFailed(p, err);
        if (m == NULL || m->transactions == 0)
            continue;
        if (!timeAfter(&p->target, m->firstTimeUs)) {
            p->ambiguous++;
            timeNote(p, m->firstGtid, m->file, m->startPos, m->firstTimeUs, p->cutTimeUs, true);
        } else if (!timeAfter(&p->target, m->lastTimeUs)) {
            p->ambiguous++;
            timeNote(p, m->lastGtid, m->file, 0, m->lastTimeUs, p->cutTimeUs, true);
        }
    }
    return 0;
}

/* A time target is ambiguous when a transaction after the cut was committed at or before the
 * time: refused unless allowed, naming the cut and the first such transaction. */
static int
timeDisorderCheck(RecoverPlan *p, Err *err) {
    char when[48], cutAt[48], noteAt[48];
    const RecoverTimeNote *n = NULL;

    if (!p->scanTime || p->ambiguous == 0 || p->target.allowTimeDisorder)
        return 0;
    for (size_t i = 0; i < p->notes && n == NULL; i++)
        if (p->note[i].afterCut)
            n = &p->note[i];
    BV_ASSERT(n != NULL);
    timeFormatUtc(p->target.timeUs, true, when, sizeof(when));
    timeFormatUtc(p->cutTimeUs, true, cutAt, sizeof(cutAt));
    timeFormatUtc(n->timeUs, true, noteAt, sizeof(noteAt));
    return errSet(err, ERR_FORMAT,
                  "--until-time %s is ambiguous: commit times do not follow binlog order. The recovery stops before "
                  "the first transaction committed %s it, '%s' (committed %s, at %s:%" PRIu64 "), but %" PRIu64
                  " transaction(s) after that one in the binlog were committed %s it, the first '%s' (committed %s, "
                  "in %s%s), and would not be applied (a session with SET TIMESTAMP, or a clock stepped back). Give "
                  "--until-gtid or --until-position (binvault log shows the transactions), or --allow-time-disorder "
                  "to stop before '%s' anyway",
                  when, p->target.exclusive ? "at or after" : "after", p->cutGtid, cutAt, p->cutFile, p->cutPos,
                  p->ambiguous, p->target.exclusive ? "before" : "at or before", n->gtid, noteAt, n->file,
                  n->pos == 0 ? ", from the index" : "", p->cutGtid);
}

/* The time target's findings, for the plan's info. */
static void
timeInfo(RecoverPlan *p, RecoverPlanInfo *info) {
    info->cutGtid = p->cutGtid;
    info->cutTimeUs = p->cutTimeUs;
    info->timeBackwards = p->backwards;
    info->timeAmbiguous = p->ambiguous;
    info->notes = p->notes;
    info->note = p->note;
}

int
recoverPlanFinish(RecoverPlan *p, Err *err) {
    RecoverPlanInfo *info = &p->info;
    const SegmentMeta *m;
    size_t last = 0;
    bool none = false, startHasUntil, untilHasStart;
    GtidState *u;
    uint64_t transactions;
    char what[512];

    if (p->finished)
        return 0;
    if (p->target.kind == RECOVER_UNTIL_END || !p->cutDone) {
        last = p->boundary;
        if ((m = planSegAt(p, last)) == NULL)
            return planReadFailed(p, err);
        p->until = bvStrdup(segmentMetaGtidEnd(m));
        if (!p->included && lastFromIndex(p, last, err) != 0)
            return -1;
    } else if (p->included) {
        last = p->boundary;
        p->until = bvStrdup(p->cutState);
    } else {
        /* The cut comes before the boundary segment's first transaction. */
        if ((m = planSegAt(p, p->boundary)) == NULL)
            return planReadFailed(p, err);
        p->until = bvStrdup(segmentMetaGtidStart(m));
        none = p->boundary == 0;
        last = none ? 0 : p->boundary - 1;
        p->haveLast = false;
        if (!none && lastFromIndex(p, last, err) != 0)
            return -1;
    }
    if ((u = stateParse(p->flavour, p->until, "until gtid state", err)) == NULL)
        return -1;
    if (p->scanTime && timeIndexAfterCut(p, err) != 0) {
        gtidStateFree(u);
        return -1;
    }
    startHasUntil = gtidStateContains(p->startState, u);
    untilHasStart = gtidStateContains(u, p->startState);
    transactions = gtidStateCount(p->startState, u);
    gtidStateFree(u);
    targetDescribe(&p->target, what, sizeof(what));
    memset(info, 0, sizeof(*info));
    info->flavour = p->flavour;
    info->start = p->start;
    info->until = p->until;
    info->firstGtid = info->lastGtid = info->firstFile = info->lastFile = "";
    timeInfo(p, info);
    if (startHasUntil && untilHasStart) {
        if (timeDisorderCheck(p, err) != 0)
            return -1;
        p->finished = true; /* nothing to apply */
        return 0;
    }
    if (!untilHasStart)
        return errSet(err, ERR_USAGE,
                      startHasUntil ? "the target (%s) is before the start: there the gtid state is '%s', which the start "
                                      "'%s' already holds; nothing can be undone by applying binlogs"
                                    : "the target (%s) is not on the start's history: there the gtid state is '%s', which "
                                      "lacks part of the start '%s'",
                      what, p->until, p->start);
    if (none || p->first > last || p->first >= p->n)
        return errSet(err, ERR_USAGE, "the start '%s' is not a gtid state of the archived history before the target (%s)",
                      p->start, what);
    if (checkStartCovered(p, err) != 0 || planCheckContinuous(p, p->first, last, err) != 0)
        return -1;
    info->first = p->first;
    info->last = last;
    info->segments = last - p->first + 1;
    for (size_t i = p->first; p->range == NULL && i <= last; i++) {
        info->bytes += archiveCatalogAt(p->c, i)->size;
        info->contentBytes += archiveCatalogAt(p->c, i)->contentLen;
    }
    info->transactions = transactions;
    if (!p->haveFirst && firstFromIndex(p, p->first, last, err) != 0)
        return -1;
    info->firstGtid = p->firstGtid;
    info->firstTimeUs = p->firstTimeUs;
    info->firstFile = p->firstFile;
    info->firstPos = p->firstPos;
    info->lastGtid = p->lastGtid;
    info->lastTimeUs = p->lastTimeUs;
    info->lastFile = p->lastFile;
    info->lastEndPos = p->lastEndPos;
    if (p->range != NULL) {
        info->firstSeq = recoverRangeSeqAt(p->range, info->first);
        info->lastSeq = recoverRangeSeqAt(p->range, info->last);
        if (rangeWalk(p, err) != 0)
            return -1;
        p->haveIds = p->verify == NULL;
    } else {
        info->firstSeq = archiveCatalogAt(p->c, info->first)->seq;
        info->lastSeq = archiveCatalogAt(p->c, info->last)->seq;
    }
    if (timeDisorderCheck(p, err) != 0)
        return -1;
    p->finished = true;
    return 0;
}

void
recoverPlanFree(RecoverPlan *p) {
    if (p == NULL)
        return;
    gtidStateFree(p->startState);
    gtidStateFree(p->targetState);
    bvFree(p->targetGtid);
    bvFree(p->start);
    bvFree(p->cutState);
    bvFree(p->until);
    if (p->read != NULL)
        segmentMetaClear(&p->read->m);
    bvFree(p->read);
    if (p->range != NULL) {
        size_t held = 0;
        uint64_t loads = 0;

        recoverRangeStats(p->range, &held, &loads);
        logDebug("plan over seqs %" PRIu64 "-%" PRIu64 ": %" PRIu64 " block chunk reads, %zu held at most",
                 recoverRangeFirst(p->range), recoverRangeLast(p->range), loads, held);
    }
    bvFree(p->blocks);
    bvFree(p->ids.ids);
    if (p->verify != NULL)
        bvFree(p->verify->firstProblem);
    bvFree(p->verify);
    recoverRangeFree(p->range);
    bvFree(p);
}