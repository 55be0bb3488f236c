/* The segments of a long recovery plan, a block at a time (recover/range.h). */
#include "recover/range.h"

#include <pthread.h>
#include <string.h>

#include <inttypes.h>

#include "archive/summary.h"
#include "common/mem.h"

typedef struct RangeSlot {
    uint64_t block;
    ArchiveCatalog *c; /* NULL: free */
    uint64_t used;     /* when last used, for least-recently-used */
} RangeSlot;

/* Seqs off the path: seq..seq+count-1, with `before` such seqs in the runs before it. */
typedef struct RangeRun {
    uint64_t seq, count, before;
} RangeRun;

struct RecoverRange {
    ArchiveView *v;
    uint64_t first, last, cut;
    TimelinePath *path; /* NULL: every seq */
    RangeRun *runs;     /* in seq order, none adjacent */
    size_t nruns, capRuns;
    uint64_t off;       /* seqs in all runs */
    bool runsFull;      /* more than RECOVER_RANGE_RUNS_MAX runs */
    pthread_mutex_t lock; /* guards the view and what follows */
    RangeSlot slot[RECOVER_RANGE_BLOCKS];
    uint64_t tick, loads;
    size_t heldMax;
};

RecoverRange *
recoverRangeNew(ArchiveView *v, uint64_t first, uint64_t last, uint64_t cut) {
    RecoverRange *r = bvCalloc(1, sizeof(*r));

    r->v = v;
    r->first = first;
    r->last = last;
    r->cut = cut;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static const ArchiveCatalog *blockLoad(RecoverRange *r, uint64_t seq, bool collect, Err *err);

/* Add the seqs from..to (after every run so far) to the runs off the path. */
static void
runAdd(RecoverRange *r, uint64_t from, uint64_t to) {
    RangeRun *last = r->nruns > 0 ? &r->runs[r->nruns - 1] : NULL;

    r->off += to - from + 1;
    if (last != NULL && last->seq + last->count == from) {
        last->count += to - from + 1;
        return;
    }
    if (r->nruns == RECOVER_RANGE_RUNS_MAX) {
        r->runsFull = true;
        return;
    }
    if (r->nruns == r->capRuns) {
        r->capRuns = r->capRuns ? r->capRuns * 2 : 8;
        r->runs = bvRealloc(r->runs, r->capRuns * sizeof(*r->runs));
    }
    r->runs[r->nruns++] = (RangeRun){from, to - from + 1, r->off - (to - from + 1)};
}

/* The summary line covering seqs from..to whole, NULL when none (the head, the tail). */
static const ArchiveSpan *
spanOf(ArchiveView *v, uint64_t from, uint64_t to) {
    size_t lo = 0, hi = archiveViewSpanCount(v);

    /* The summarised blocks are in seq order: the first whose last seq reaches `from`. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (archiveViewSpanAt(v, mid)->lastSeq < from)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == archiveViewSpanCount(v))
        return NULL;
    return archiveViewSpanAt(v, lo)->firstSeq <= from && archiveViewSpanAt(v, lo)->lastSeq >= to ? archiveViewSpanAt(v, lo)
                                                                                                : NULL;
}

/* The runs off the path of seqs from..to of one block: from its summary line when its segments
 * are all of one timeline (the path's facts by seq then say), else from the block read. */
static int
runsOfBlock(RecoverRange *r, uint64_t from, uint64_t to, Err *err) {
    const ArchiveSpan *s = spanOf(r->v, from, to);
    uint64_t fork;

    if (s == NULL || s->timelineMin != s->timelineMax)
        return blockLoad(r, from, true, err) != NULL ? 0 : -1;
    if (!timelinePathHolds(r->path, s->timelineMin, &fork))
        runAdd(r, from, to);
    else if (fork < to)
        runAdd(r, fork + 1 > from ? fork + 1 : from, to);
    return 0;
}

RecoverRange *
recoverRangeNewPath(ArchiveView *v, TimelinePath *path, uint64_t first, uint64_t last, uint64_t cut, Err *err) {
    RecoverRange *r = recoverRangeNew(v, first, last, cut);

    r->path = path;
    for (uint64_t seq = first; first != 0 && seq <= last && seq >= first;) {
        uint64_t end = archiveBlockLast(archiveBlockOf(seq)) < last ? archiveBlockLast(archiveBlockOf(seq)) : last;

        if (runsOfBlock(r, seq, end, err) != 0) {
            recoverRangeFree(r);
            return NULL;
        }
        if (r->runsFull) {
            errSet(err, ERR_FORMAT,
                   "seqs %" PRIu64 "-%" PRIu64 " hold more than %d runs of segments off timeline %" PRIu32
                   "'s path: their timeline labels do not follow the timeline records ('binvault verify' says where)",
                   first, last, RECOVER_RANGE_RUNS_MAX, timelinePathTip(path));
            recoverRangeFree(r);
            return NULL;
        }
        seq = end + 1;
    }
    return r;
}

size_t
recoverRangeCount(const RecoverRange *r) {
    return r->last < r->first ? 0 : (size_t)(r->last - r->first + 1 - r->off);
}

uint64_t
recoverRangeSeqAt(const RecoverRange *r, size_t i) {
    size_t lo = 0, hi = r->nruns;

    /* The last run with fewer segments on the path before it than i + 1. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (r->runs[mid].seq - r->first - r->runs[mid].before <= i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? r->first + i : r->first + i + r->runs[lo - 1].before + r->runs[lo - 1].count;
}

bool
recoverRangeIndexOf(const RecoverRange *r, uint64_t seq, size_t *i) {
    size_t lo = 0, hi = r->nruns;
    const RangeRun *run;

    /* The last run starting at or before seq. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (r->runs[mid].seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) {
        *i = (size_t)(seq - r->first);
        return true;
    }
    run = &r->runs[lo - 1];
    if (seq < run->seq + run->count) {
        *i = (size_t)(run->seq - r->first - run->before);
        return false;
    }
    *i = (size_t)(seq - r->first - run->before - run->count);
    return true;
}

const TimelinePath *
recoverRangePath(const RecoverRange *r) {
    return r->path;
}

uint64_t
recoverRangeFirst(const RecoverRange *r) {
    return r->first;
}

uint64_t
recoverRangeLast(const RecoverRange *r) {
    return r->last;
}

uint64_t
recoverRangeCut(const RecoverRange *r) {
    return r->cut;
}

BinlogFlavour
recoverRangeFlavour(RecoverRange *r) {
    BinlogFlavour f;

    pthread_mutex_lock(&r->lock);
    f = archiveViewFlavour(r->v);
    pthread_mutex_unlock(&r->lock);
    return f;
}

/* runAdd() of one seq a block load dropped, when inside the range. */
static void
runDropped(void *data, uint64_t seq) {
    RecoverRange *r = data;

    if (seq >= r->first && seq <= r->last)
        runAdd(r, seq, seq);
}

/* The block of `seq`, under the lock: kept, or loaded in place of the least recently used; along a
 * path, followed (the seqs it drops added to the runs when `collect`). */
static const ArchiveCatalog *
blockLoad(RecoverRange *r, uint64_t seq, bool collect, Err *err) {
    uint64_t block = archiveBlockOf(seq), first = archiveBlockFirst(block);
    RangeSlot *victim = &r->slot[0];
    ArchiveCatalog *c;
    size_t held = 1;

    for (size_t i = 0; i < RECOVER_RANGE_BLOCKS; i++) {
        RangeSlot *s = &r->slot[i];

        if (s->c != NULL && s->block == block) {
            s->used = ++r->tick;
            return s->c;
        }
        if (s->c == NULL || (victim->c != NULL && s->used < victim->used))
            victim = s;
    }
    /* Freed first: never more than RECOVER_RANGE_BLOCKS at once, even while loading. */
    archiveCatalogFree(victim->c);
    victim->c = NULL;
    if (first < archiveViewFirstSeq(r->v))
        first = archiveViewFirstSeq(r->v);
    if ((c = archiveViewLoadRange(r->v, first, archiveBlockLast(block), err)) == NULL)
        return NULL;
    if (r->path != NULL)
        timelinePathFollowCatalog(r->path, c, collect ? runDropped : NULL, r);
    victim->c = c;
    victim->block = block;
    victim->used = ++r->tick;
    r->loads++;
    for (size_t i = 0; i < RECOVER_RANGE_BLOCKS; i++)
        held += r->slot[i].c != NULL && &r->slot[i] != victim;
    if (held > r->heldMax)
        r->heldMax = held;
    return c;
}

static const ArchiveCatalog *
blockLocked(RecoverRange *r, uint64_t seq, Err *err) {
    return blockLoad(r, seq, false, err);
}

int
recoverRangeGet(RecoverRange *r, uint64_t seq, SegmentMeta *out, bool *listed, Err *err) {
    const ArchiveCatalog *c;
    size_t idx;
    int rc = 0;

    pthread_mutex_lock(&r->lock);
    if ((c = blockLocked(r, seq, err)) == NULL) {
        rc = -1;
    } else if (archiveCatalogFind(c, seq, &idx)) {
        segmentMetaClear(out);
        segmentMetaCopy(out, archiveCatalogAt(c, idx));
        if (listed != NULL)
            *listed = archiveCatalogListed(c, idx, NULL);
        rc = 1;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

const ArchiveCatalog *
recoverRangeBlock(RecoverRange *r, uint64_t seq, Err *err) {
    const ArchiveCatalog *c;

    pthread_mutex_lock(&r->lock);
    c = blockLocked(r, seq, err);
    pthread_mutex_unlock(&r->lock);
    return c;
}

int
recoverRangeBlockPart(RecoverRange *r, uint64_t *seq, uint64_t last, const ArchiveCatalog **c, size_t *i0, size_t *i1,
                      Err *err) {
    uint64_t from = *seq, to = archiveBlockLast(archiveBlockOf(from)) < last ? archiveBlockLast(archiveBlockOf(from)) : last;
    size_t a, b;

    *seq = to + 1;
    /* The part's first and last segments on the path, and how many it has. */
    recoverRangeIndexOf(r, from, &a);
    if (!recoverRangeIndexOf(r, to, &b))
        b--;
    if (b + 1 <= a)
        return 0;
    if ((*c = recoverRangeBlock(r, from, err)) == NULL)
        return -1;
    /* Every seq there: a dry run's finish took a summarised block's from its summary line. */
    if (!archiveCatalogFind(*c, recoverRangeSeqAt(r, a), i0) || !archiveCatalogFind(*c, recoverRangeSeqAt(r, b), i1) ||
        *i1 - *i0 != b - a)
        return errSet(err, ERR_GAP, "seqs %" PRIu64 "-%" PRIu64 " of the plan are not all in the archive", from, to);
    return 1;
}

bool
recoverRangeBlockSums(RecoverRange *r, uint64_t block, uint64_t *bytes, uint64_t *contentBytes) {
    uint64_t first = archiveBlockFirst(block), last = archiveBlockLast(block), fork;
    const ArchiveSpan *s;
    bool whole;

    pthread_mutex_lock(&r->lock);
    s = spanOf(r->v, first, last);
    whole = s != NULL && s->firstSeq == first && s->lastSeq == last && s->segments == last - first + 1;
    /* Along a path: only a block whose every segment the path takes as it is. */
    if (whole && r->path != NULL)
        whole = s->timelineMin == s->timelineMax && timelinePathHolds(r->path, s->timelineMin, &fork) && last < fork;
    if (whole) {
        *bytes = s->bytes;
        *contentBytes = s->contentBytes;
    }
    pthread_mutex_unlock(&r->lock);
    return whole;
}

ArchiveView *
recoverRangeViewLock(RecoverRange *r) {
    pthread_mutex_lock(&r->lock);
    return r->v;
}

void
recoverRangeViewUnlock(RecoverRange *r) {
    pthread_mutex_unlock(&r->lock);
}

void
recoverRangeStats(RecoverRange *r, size_t *heldMax, uint64_t *loads) {
    pthread_mutex_lock(&r->lock);
    if (heldMax != NULL)
        *heldMax = r->heldMax;
    if (loads != NULL)
        *loads = r->loads;
    pthread_mutex_unlock(&r->lock);
}

void
recoverRangeFree(RecoverRange *r) {
    if (r == NULL)
        return;
    for (size_t i = 0; i < RECOVER_RANGE_BLOCKS; i++)
        archiveCatalogFree(r->slot[i].c);
    timelinePathFree(r->path);
    bvFree(r->runs);
    pthread_mutex_destroy(&r->lock);
    bvFree(r);
}
