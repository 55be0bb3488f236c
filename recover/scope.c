/* The part of an archive a recovery reads, through the catalog view (recover/scope.h). */
#include "recover/scope.h"

#include <inttypes.h>

#include "archive/summary.h"
#include "binlog/event.h"
#include "common/mem.h"

static uint64_t
blockStart(const ArchiveView *v, uint64_t seq) {
    uint64_t first = archiveBlockFirst(archiveBlockOf(seq));

    return first < archiveViewFirstSeq(v) ? archiveViewFirstSeq(v) : first;
}

/* The segment holding the target's cut, or the one from which the plan refuses the target (the
 * first or the last segment, for a target outside the archive); the last one for --until-end. */
static int
targetSeq(ArchiveView *v, const RecoverTarget *t, uint64_t *seq, Err *err) {
    uint64_t last = archiveViewLastSeq(v);

    *seq = last;
    switch (t->kind) {
    case RECOVER_UNTIL_GTID:
        if (t->gtid == NULL)
            return 0; /* the plan refuses it */
        if (archiveOutlineReaching(v, t->gtid, t->exclusive, seq, err) != 0)
            return -1;
        if (*seq == 0)
            *seq = last; /* after the end: the plan says so from the last segment */
        return 0;
    case RECOVER_UNTIL_TIME: {
        Err e = {0};

        if (archiveViewFindTime(v, t->timeUs, t->exclusive, seq, &e) != 0) {
            uint64_t lastCommit, txns;
            SegmentMeta m;

            if (e.code != ERR_NOTFOUND) {
                *err = e;
                return -1;
            }
            /* Before the first commit or after the last: the plan refuses it from the end that
             * applies, with its own words. */
            if (archiveViewGet(v, last, &m, err) != 0)
                return -1;
            lastCommit = m.lastTimeUs;
            txns = m.transactions;
            segmentMetaClear(&m);
            *seq = txns > 0 && t->timeUs >= lastCommit ? last : archiveViewFirstSeq(v);
            return 0;
        }
        return 0;
    }
    case RECOVER_UNTIL_POSITION: {
        uint64_t limit = t->exclusive ? t->pos - 1 : t->pos;

        if (limit <= BINLOG_MAGIC_LEN)
            return 0; /* the plan refuses it */
        return archiveViewFindPosition(v, t->file, limit - 1, seq, err);
    }
    default: return 0;
    }
}

/* The seqs lo..hi of the range a plan from `start` to `target` needs (recoverScopeLoad()). */
static int
scopeRange(ArchiveView *v, const char *start, const RecoverTarget *target, uint64_t *lo, uint64_t *hi, Err *err) {
    uint64_t first = archiveViewFirstSeq(v), last = archiveViewLastSeq(v), startSeq, cut, extra;

    if (last == 0)
        return errSet(err, ERR_NOTFOUND, "the archive holds no segment");
    if (archiveOutlineFirstNotHeld(v, start != NULL ? start : "", &startSeq, err) != 0 ||
        targetSeq(v, target, &cut, err) != 0)
        return -1;
    *hi = cut < last ? cut + 1 : last;
    if (target->kind == RECOVER_UNTIL_TIME) {
        /* The plan checks every later segment for a commit at or before the time: the cut's
         * block in full, then the first later block whose summary shows one. */
        *hi = archiveBlockLast(archiveBlockOf(*hi)) < last ? archiveBlockLast(archiveBlockOf(*hi)) : last;
        extra = archiveOutlineCommittedBy(v, *hi, target->timeUs, target->exclusive);
        if (extra > *hi)
            *hi = extra;
    }
    /* From the segment before the first one the start lacks (so that a break right there is a
     * gap, not the archive's start), unless the start holds everything up to the target: then
     * the plan only needs the target's block to say so. */
    if (startSeq != 0 && startSeq <= cut + 1)
        *lo = startSeq > first ? startSeq - 1 : first;
    else
        *lo = blockStart(v, cut);
    return 0;
}

ArchiveCatalog *
recoverScopeLoad(ArchiveView *v, const char *start, const RecoverTarget *target, Err *err) {
    uint64_t lo, hi;

    if (scopeRange(v, start, target, &lo, &hi, err) != 0)
        return NULL;
    return archiveViewLoadRange(v, lo, hi, err);
}

/* Whether every segment of lo..hi is whole on the path of `tip`, and the whole archive's lookups
 * are the path's there: lo..hi lies before the first fork of any timeline (segments every path
 * holds), or within the tip's own segments. A lookup answers the first segment in seq order that
 * matches, and the path's segments are a subset in the same order: when that first segment is one
 * of these, it is the path's answer too (a diverged branch could only have answered earlier). */
static bool
scopeOnPath(const TimelineSet *set, uint32_t tip, uint64_t lo, uint64_t hi) {
    uint64_t firstFork = UINT64_MAX, tipFirst = 0, tipLast = UINT64_MAX;
    const TimelineRecord *rec, *next;

    for (size_t i = 0; i < timelineSetCount(set); i++) {
        rec = timelineSetAt(set, i);
        if (rec->hasFork && rec->fork.seq < firstFork)
            firstFork = rec->fork.seq;
    }
    if (hi < firstFork)
        return true;
    if ((rec = timelineSetFind(set, tip)) != NULL)
        tipFirst = rec->firstSeq;
    if ((next = timelineSetFind(set, tip + 1)) != NULL)
        tipLast = next->firstSeq - 1;
    return (rec != NULL || tip == 1) && lo >= tipFirst && hi <= tipLast;
}

ArchiveCatalog *
recoverScopeLoadPath(Archive *a, ArchiveView *v, const TimelineSet *set, uint32_t timeline, const char *start,
                     const RecoverTarget *target, Err *err) {
    uint32_t tip = timeline > 0 ? timeline : timelineSetNewest(set);
    uint64_t lo = 0, hi = 0;
    ArchiveCatalog *c;
    Err scopeErr = {0};
    bool scoped;

    if (!timelineSetForked(set) && timeline == 0)
        return recoverScopeLoad(v, start, target, err);
    /* The range the whole archive's lookups give, when the path sees it unchanged; else every
     * segment (a lookup that fails here is the plan's to refuse in its own words). */
    scoped = scopeRange(v, start, target, &lo, &hi, &scopeErr) == 0 && scopeOnPath(set, tip, lo, hi);
    c = scoped ? archiveViewLoadRange(v, lo, hi, err)
               : archiveViewLoadRange(v, archiveViewFirstSeq(v), archiveViewLastSeq(v), err);
    if (c == NULL)
        return NULL;
    if (archiveCatalogFollowTimeline(a, c, timeline, NULL, err) != 0) {
        archiveCatalogFree(c);
        return NULL;
    }
    if (archiveCatalogCount(c) == 0) {
        errSet(err, ERR_NOTFOUND, "archive '%s' holds no segment on that timeline", archiveUrl(a));
        archiveCatalogFree(c);
        return NULL;
    }
    return c;
}

int
recoverScopeStateAtPosition(Archive *a, ArchiveView *v, const char *file, uint64_t pos, char **state, Err *err) {
    ArchiveCatalog *c;
    uint64_t seq;
    int rc;

    *state = NULL;
    if (archiveViewFindPosition(v, file, pos, &seq, err) != 0) {
        Err again = {0};

        /* The end of the last archived segment of the file is a position too. */
        if (pos <= BINLOG_MAGIC_LEN || archiveViewFindPosition(v, file, pos - 1, &seq, &again) != 0)
            return -1;
        errClear(err);
    }
    if ((c = archiveViewLoadRange(v, seq > 1 ? seq - 1 : seq, seq + 1, err)) == NULL)
        return -1;
    rc = recoverStateAtPosition(a, c, file, pos, state, err);
    archiveCatalogFree(c);
    return rc;
}

void
recoverDescribeOutline(const ArchiveOutline *o, Buf *out) {
    size_t n = archiveOutlineWindowCount(o);
    ArchiveWindow *w = bvCalloc(n + 1, sizeof(*w));

    for (size_t i = 0; i < n; i++)
        w[i] = *archiveOutlineWindowAt(o, i);
    recoverDescribeWindowList(w, n, out);
    bvFree(w);
}
