/*
 * The continuity checks of a recovery plan (recover/plan_internal.h): the archive's breaks inside
 * the plan's segments, each timeline's join to its parent's fork along a path, and the message of
 * a segment the store lacks. Over the catalog, or a range read a block at a time.
 */
#include <inttypes.h>

#include "binlog/gtid.h"
#include "common/mem.h"
#include "recover/plan_internal.h"

int
planSegmentMissing(const SegmentMeta *m, Err *err) {
    return errSet(err, ERR_GAP,
                  "segment '%s' (seq %" PRIu64 ") is in the index but not in the store: the recovery cannot go past %s:%"
                  PRIu64 " (gtid state '%s')", m->name, m->seq, m->file, m->startPos, segmentMetaGtidStart(m));
}

/* The breaks of the archive (archiveCatalogGaps(), or in range mode archiveViewGaps()). */
static int
planGaps(RecoverPlan *p, ArchiveGap **gaps, size_t *n, Err *err) {
    int rc;

    if (p->range == NULL) {
        *n = archiveCatalogGaps(p->c, gaps);
        return 0;
    }
    rc = archiveViewGaps(recoverRangeViewLock(p->range), gaps, n, err);
    recoverRangeViewUnlock(p->range);
    return rc;
}

/* Whether a break of the whole archive is one of the plan's: in range mode along a path, between
 * two segments the path holds (one off it is a diverged branch or another timeline, which the
 * plan does not cross). */
static bool
gapOnPath(const RecoverPlan *p, const ArchiveGap *g) {
    size_t i;

    return p->range == NULL ||
           (recoverRangeIndexOf(p->range, g->afterSeq, &i) && recoverRangeIndexOf(p->range, g->beforeSeq, &i));
}

/* The path a range-mode plan follows, NULL when none. */
static const TimelinePath *
pathOf(const RecoverPlan *p) {
    return p->range != NULL ? recoverRangePath(p->range) : NULL;
}

/* Along a path, where a timeline starting at seq `seq` joins the segment before it on the path
 * (its parent's fork segment, cut at the fork): their GTID states must meet, as the followed
 * catalog's continuity checks (archiveCatalogGaps() of a timeline view); the whole archive's
 * breaks do not compare different timelines. */
static int
checkJoin(RecoverPlan *p, uint64_t seq, Err *err) {
    const SegmentMeta *m;
    char *aName, *aEnd;
    bool equal = false;
    size_t i;
    Err e = {0};
    int rc = 0;

    if (!recoverRangeIndexOf(p->range, seq, &i) || i == 0)
        return 0;
    if ((m = planSegAt(p, i - 1)) == NULL)
        return p->read->failed ? planReadFailed(p, err) : 0;
    aName = bvStrdup(m->name);
    aEnd = bvStrdup(segmentMetaGtidEnd(m));
    if ((m = planSegAt(p, i)) == NULL) {
        rc = p->read->failed ? planReadFailed(p, err) : 0;
    } else if (aEnd[0] != '\0' && segmentMetaGtidStart(m)[0] != '\0') {
        if (gtidStateTextEqual(p->flavour, aEnd, segmentMetaGtidStart(m), &equal, &e) != 0)
            rc = errSet(err, ERR_GAP, "the recovery crosses a gap in the archive: gtid states of '%s' and '%s' cannot be "
                        "compared: %s", aName, m->name, e.msg);
        else if (!equal)
            rc = errSet(err, ERR_GAP, "the recovery crosses a gap in the archive: gtid gap: '%s' ends at gtid state %s, "
                        "'%s' starts at %s", aName, aEnd, m->name, segmentMetaGtidStart(m));
    }
    bvFree(aName);
    bvFree(aEnd);
    return rc;
}

int
planCheckContinuous(RecoverPlan *p, size_t first, size_t last, Err *err) {
    uint64_t a = p->range != NULL ? recoverRangeSeqAt(p->range, first) : archiveCatalogAt(p->c, first)->seq;
    uint64_t b = p->range != NULL ? recoverRangeSeqAt(p->range, last) : archiveCatalogAt(p->c, last)->seq;
    ArchiveGap *gaps = NULL;
    size_t ngaps = 0;
    int rc = planGaps(p, &gaps, &ngaps, err);

    for (size_t i = 0; i < ngaps && rc == 0; i++)
        if (gaps[i].afterSeq >= a && gaps[i].beforeSeq <= b && gapOnPath(p, &gaps[i]))
            rc = gaps[i].accepted
                     ? errSet(err, ERR_GAP,
                              "the recovery crosses a gap accepted with --accept-gap, which no recovery can cross "
                              "(the source purged those transactions before they were archived): %s; recover up to "
                              "the end of seq %" PRIu64 " at most, or restore a base backup taken after the gap and "
                              "recover from there",
                              gaps[i].message, gaps[i].afterSeq)
                     : errSet(err, ERR_GAP, "the recovery crosses a gap in the archive: %s", gaps[i].message);
    bvFree(gaps);
    for (uint64_t s = pathOf(p) != NULL ? timelinePathNextStart(pathOf(p), a) : 0; rc == 0 && s != 0 && s <= b;
         s = timelinePathNextStart(pathOf(p), s))
        rc = checkJoin(p, s, err);
    /* Range mode: whether each object is stored is asked while the range streams (rangeWalk()). */
    for (size_t i = first; p->range == NULL && i <= last && rc == 0; i++)
        if (!archiveCatalogListed(p->c, i, NULL))
            rc = planSegmentMissing(archiveCatalogAt(p->c, i), err);
    return rc;
}
