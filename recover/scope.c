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
scopeRange(ArchiveView *v, const char *start, const RecoverTarget *target, uint64_t *lo, uint64_t *hi, uint64_t *cutSeq,
           Err *err) {
    uint64_t first = archiveViewFirstSeq(v), last = archiveViewLastSeq(v), startSeq, cut, extra;

    if (last == 0)
        return errSet(err, ERR_NOTFOUND, "the archive holds no segment");
    if (archiveOutlineFirstNotHeld(v, start != NULL ? start : "", &startSeq, err) != 0 ||
        targetSeq(v, target, &cut, err) != 0)
        return -1;
    *cutSeq = cut;
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
    uint64_t lo, hi, cut;

    if (scopeRange(v, start, target, &lo, &hi, &cut, err) != 0)
        return NULL;
    return archiveViewLoadRange(v, lo, hi, err);
}

/* The last seq of the path whose tip is `tip`: a timeline's segments run up to the next one's
 * first. */
static uint64_t
pathLast(const ArchiveView *v, const TimelineSet *set, uint32_t tip) {
    const TimelineRecord *next = timelineSetFind(set, tip + 1);

    return next != NULL && next->firstSeq > 1 && next->firstSeq - 1 < archiveViewLastSeq(v) ? next->firstSeq - 1
                                                                                           : archiveViewLastSeq(v);
}

/* A range's ends moved out of diverged segments (between a fork and its timeline's first
 * segment): its first to the fork segment, its last to the timeline's first, so that after the
 * path is followed the range still holds the segment before the start and the one after the
 * target. */
static void
pathWiden(const TimelineSet *set, uint64_t *lo, uint64_t *hi) {
    for (size_t i = 0; i < timelineSetCount(set); i++) {
        const TimelineRecord *rec = timelineSetAt(set, i);

        if (!rec->hasFork)
            continue;
        if (*lo > rec->fork.seq && *lo < rec->firstSeq)
            *lo = rec->fork.seq;
        if (*hi > rec->fork.seq && *hi < rec->firstSeq)
            *hi = rec->firstSeq;
    }
}

/* The target's cut along the path, each kind searched along it (archiveOutlinePath*()); a target
 * the path does not hold gives the seq from which the plan refuses it in the words it uses on the
 * followed catalog, and *refused: the refusal names what the whole path holds (its first and
 * last commit, a file's positions), so the range must run from the archive's first seq (a block
 * at a time when it is long). *scoped is always true: nothing needs the whole archive loaded. */
static int
pathTargetSeq(ArchiveView *v, const TimelinePath *path, const RecoverTarget *t, uint64_t last, uint64_t *cut,
              bool *scoped, bool *refused, Err *err) {
    SegmentMeta m;
    Err e = {0};

    *cut = last;
    *scoped = false;
    *refused = false;
    switch (t->kind) {
    case RECOVER_UNTIL_END: *scoped = true; return 0;
    case RECOVER_UNTIL_GTID:
        if (t->gtid == NULL)
            return 0;
        if (archiveOutlinePathReaching(v, path, t->gtid, t->exclusive, cut, err) != 0)
            return -1;
        /* Not reached on the path: the plan says so from the path's last segment ("after the
         * end of the archive, which ends at ..."), as on the followed catalog. */
        if (*cut == 0)
            *cut = last;
        *scoped = true;
        return 0;
    case RECOVER_UNTIL_TIME:
        /* Searched along the path, block by block. A time before its first commit or after its
         * last: the plan refuses it in the same words over the path up to its end. */
        if (archiveOutlinePathFindTime(v, path, t->timeUs, t->exclusive, cut, &e) != 0) {
            if (e.code != ERR_NOTFOUND) {
                *err = e;
                return -1;
            }
            /* Before the path's first commit or after its last: the plan refuses it from the end
             * that applies (as targetSeq()), searching the path in range mode. */
            if (archiveViewGet(v, last, &m, err) != 0)
                return -1;
            *cut = m.transactions > 0 && t->timeUs >= m.lastTimeUs ? last : archiveViewFirstSeq(v);
            segmentMetaClear(&m);
            *refused = true;
        }
        *scoped = *cut <= last;
        return 0;
    case RECOVER_UNTIL_POSITION: {
        uint64_t limit = t->exclusive ? t->pos - 1 : t->pos;

        /* Searched along the path. A position before the file's first event, or one the path does
         * not hold: the plan refuses it in the same words, before it reads a segment. */
        *scoped = true;
        if (limit <= BINLOG_MAGIC_LEN)
            return 0;
        if (archiveOutlinePathFindPosition(v, path, t->file, limit - 1, cut, &e) != 0) {
            if (e.code != ERR_NOTFOUND) {
                *err = e;
                return -1;
            }
            *cut = last;
            *refused = true;
        }
        return 0;
    }
    default: *scoped = true; return 0; /* the plan refuses it */
    }
}

/* scopeRange() along the path of a forked archive: the start's and the target's segments found
 * on the path (archiveOutlinePath*()), blocks off the path skipped and those holding a fork read
 * segment by segment. *scoped false when the whole archive must be loaded (pathTargetSeq()). */
static int
pathRange(ArchiveView *v, const TimelineSet *set, const TimelinePath *path, const char *start,
          const RecoverTarget *target, uint64_t *lo, uint64_t *hi, uint64_t *cutSeq, bool *scoped, Err *err) {
    uint64_t first = archiveViewFirstSeq(v), last = pathLast(v, set, timelinePathTip(path)), startSeq, cut, extra;
    bool refused;

    if (archiveOutlinePathFirstNotHeld(v, path, start != NULL ? start : "", &startSeq, err) != 0 ||
        pathTargetSeq(v, path, target, last, &cut, scoped, &refused, err) != 0)
        return -1;
    if (!*scoped)
        return 0;
    *cutSeq = cut;
    *hi = cut < last ? cut + 1 : last;
    if (target->kind == RECOVER_UNTIL_TIME) {
        *hi = archiveBlockLast(archiveBlockOf(*hi)) < last ? archiveBlockLast(archiveBlockOf(*hi)) : last;
        if (archiveOutlinePathCommittedBy(v, path, *hi, target->timeUs, target->exclusive, &extra, err) != 0)
            return -1;
        if (extra > *hi)
            *hi = extra;
    }
    if (refused)
        *lo = first;
    else if (startSeq != 0 && startSeq <= cut + 1)
        *lo = startSeq > first ? startSeq - 1 : first;
    else
        *lo = blockStart(v, cut);
    pathWiden(set, lo, hi);
    return 0;
}

/* The range a plan needs along the path of `timeline`: *scoped false when every segment must be
 * loaded (recoverScopeLoadPath()); *cut the seq the target's lookup named. */
static int
scopeFind(ArchiveView *v, const TimelineSet *set, uint32_t timeline, const char *start, const RecoverTarget *target,
          uint64_t *lo, uint64_t *hi, uint64_t *cut, bool *scoped, Err *err) {
    TimelinePath *path;
    Err scopeErr = {0};

    *lo = *hi = *cut = 0;
    *scoped = false;
    /* A timeline the archive does not have is refused here, as archiveCatalogFollowTimeline()
     * would after loading. */
    if ((path = timelinePathNew(set, timeline, err)) == NULL)
        return -1;
    if (!timelineSetForked(set)) {
        /* --timeline 1 of an archive that never forked: the range, followed. */
        timelinePathFree(path);
        *scoped = scopeRange(v, start, target, lo, hi, cut, &scopeErr) == 0;
        return 0;
    }
    /* A lookup that fails here (a state that does not parse, the start's or a segment's) is the
     * plan's to refuse in its own words, from every segment: the whole archive is loaded for it,
     * since a plan over a part could pass the unparsable segment by. */
    if (pathRange(v, set, path, start, target, lo, hi, cut, scoped, &scopeErr) != 0)
        *scoped = false;
    timelinePathFree(path);
    return 0;
}

/* The path's catalog of lo..hi (everything when not scoped), followed. */
static ArchiveCatalog *
scopeLoad(Archive *a, ArchiveView *v, uint32_t timeline, uint64_t lo, uint64_t hi, bool scoped, Err *err) {
    ArchiveCatalog *c = scoped ? archiveViewLoadRange(v, lo, hi, err)
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

ArchiveCatalog *
recoverScopeLoadPath(Archive *a, ArchiveView *v, const TimelineSet *set, uint32_t timeline, const char *start,
                     const RecoverTarget *target, Err *err) {
    uint64_t lo, hi, cut;
    bool scoped;

    if (!timelineSetForked(set) && timeline == 0)
        return recoverScopeLoad(v, start, target, err);
    if (scopeFind(v, set, timeline, start, target, &lo, &hi, &cut, &scoped, err) != 0)
        return NULL;
    return scopeLoad(a, v, timeline, lo, hi, scoped, err);
}

/* Whether the plan of lo..hi is made a block at a time: a range over more than two blocks. Along
 * a path (a forked archive, or --timeline) the range follows it (recoverRangeNewPath()): the
 * same segments as the range loaded and followed (archiveCatalogFollowTimeline()). */
static bool
perBlock(uint64_t lo, uint64_t hi) {
    return archiveBlockOf(hi) - archiveBlockOf(lo) >= 2;
}

/* The range lo..hi for a plan a block at a time: along the path of `timeline` when the archive
 * forked or a timeline is given; ERR_NOTFOUND as scopeLoad() when the path holds none of it. */
static RecoverRange *
scopeRangeNew(Archive *a, ArchiveView *v, const TimelineSet *set, uint32_t timeline, uint64_t lo, uint64_t hi,
              uint64_t cut, Err *err) {
    TimelinePath *path;
    RecoverRange *r;

    if (!timelineSetForked(set) && timeline <= 1)
        return recoverRangeNew(v, lo, hi, cut);
    if ((path = timelinePathNew(set, timeline, err)) == NULL ||
        (r = recoverRangeNewPath(v, path, lo, hi, cut, err)) == NULL)
        return NULL;
    if (recoverRangeCount(r) == 0) {
        errSet(err, ERR_NOTFOUND, "archive '%s' holds no segment on that timeline", archiveUrl(a));
        recoverRangeFree(r);
        return NULL;
    }
    return r;
}

/* The view's tail when it holds every seq from its first to hi, lo..hi among them: what its open
 * read (the tail's index chunks, the prune and gap records), which a load of the range would read
 * again; NULL otherwise (a tail that also holds a partly pruned first block is not one run). A plan
 * on it is the plan on lo..hi: the segments before lo are the start's, as on the whole index. */
static const ArchiveCatalog *
tailHolding(const ArchiveView *v, uint64_t lo, uint64_t hi) {
    const ArchiveCatalog *tail = archiveViewTail(v);
    uint64_t first;

    if (tail == NULL || archiveCatalogCount(tail) == 0 || (first = archiveCatalogAt(tail, 0)->seq) > lo || hi < lo ||
        hi - first >= archiveCatalogCount(tail))
        return NULL;
    return archiveCatalogAt(tail, hi - first)->seq == hi ? tail : NULL;
}

RecoverPlan *
recoverScopePlan(Archive *a, ArchiveView *v, const TimelineSet *set, uint32_t timeline, const char *start,
                 const RecoverTarget *target, ArchiveCatalog **c, Err *err) {
    uint64_t lo, hi, cut;
    bool scoped;
    RecoverPlan *p;

    *c = NULL;
    if (!timelineSetForked(set) && timeline == 0) {
        if (scopeRange(v, start, target, &lo, &hi, &cut, err) != 0)
            return NULL;
        scoped = true;
    } else if (scopeFind(v, set, timeline, start, target, &lo, &hi, &cut, &scoped, err) != 0) {
        return NULL;
    }
    if (scoped && perBlock(lo, hi)) {
        RecoverRange *r = scopeRangeNew(a, v, set, timeline, lo, hi, cut, err);

        return r != NULL ? recoverPlanNewRange(r, start, target, err) : NULL;
    }
    if (!timelineSetForked(set) && timeline == 0) {
        const ArchiveCatalog *tail = tailHolding(v, lo, hi);

        if (tail != NULL)
            return recoverPlanNew(tail, start, target, err);
        *c = archiveViewLoadRange(v, lo, hi, err);
    } else {
        *c = scopeLoad(a, v, timeline, lo, hi, scoped, err);
    }
    if (*c == NULL)
        return NULL;
    if ((p = recoverPlanNew(*c, start, target, err)) == NULL) {
        archiveCatalogFree(*c);
        *c = NULL;
    }
    return p;
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
