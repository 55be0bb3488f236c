/* The outline of a whole archive from its view: breaks, windows, where a GTID state stands. */
#include "archive/outline.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/backup.h"
#include "archive/internal.h"
#include "archive/summary.h"
#include "binlog/event.h"
#include "binlog/gtid.h"
#include "common/mem.h"

/* The GTIDs of a window's first and last transaction, copied: they may come from a range loaded
 * and freed while the window is filled. */
typedef char WindowGtids[2][BINLOG_TXN_GTID_MAX];

struct ArchiveOutline {
    ArchiveGap *gaps;
    size_t gapCount;
    ArchiveWindow *windows;
    SegmentMeta *ends; /* from and to of each window: ends[2i], ends[2i+1] */
    WindowGtids *gtids;
    size_t windowCount;
    uint64_t offPath; /* transactions off the path archiveOutlineFollow() was given */
    ArchiveGap *branchGaps; /* the breaks it took out of the path's, and their branches' timelines */
    uint32_t *branchTimelines;
    size_t branchGapCount;
};

/* A unit of the archive in seq order: a summarised block, or one segment of the tail. */
typedef struct Unit {
    uint64_t first, last;
    const ArchiveSpan *span; /* or */
    const SegmentMeta *meta;
} Unit;

/* Units in seq order: the spans and the tail entries merged (the tail may hold a partly pruned
 * first block before the spans, and holds what follows them). */
typedef struct Units {
    ArchiveView *v;
    const ArchiveCatalog *tail;
    size_t span, entry, spans, entries;
} Units;

static void
unitsStart(Units *u, ArchiveView *v) {
    memset(u, 0, sizeof(*u));
    u->v = v;
    u->tail = archiveViewTail(v);
    u->spans = archiveViewSpanCount(v);
    u->entries = u->tail != NULL ? archiveCatalogCount(u->tail) : 0;
}

static bool
unitsNext(Units *u, Unit *out) {
    const ArchiveSpan *s = u->span < u->spans ? archiveViewSpanAt(u->v, u->span) : NULL;
    const SegmentMeta *m = u->entry < u->entries ? archiveCatalogAt(u->tail, u->entry) : NULL;

    memset(out, 0, sizeof(*out));
    if (s != NULL && (m == NULL || s->firstSeq < m->seq)) {
        out->first = s->firstSeq;
        out->last = s->lastSeq;
        out->span = s;
        u->span++;
        return true;
    }
    if (m == NULL)
        return false;
    out->first = out->last = m->seq;
    out->meta = m;
    u->entry++;
    return true;
}

static const char *
unitGtidEnd(const Unit *u) {
    return u->span != NULL ? (u->span->gtidEnd != NULL ? u->span->gtidEnd : "") : segmentMetaGtidEnd(u->meta);
}

static uint64_t
unitTransactions(const Unit *u) {
    return u->span != NULL ? u->span->transactions : u->meta->transactions;
}

/* ---- windows ---- */

/* What a window holds between its ends: transactions, first and last. */
typedef struct WindowStats {
    ArchiveWindow *w;
    char *firstGtid, *lastGtid;
    bool haveFirst;
} WindowStats;

static void
statsAdd(WindowStats *st, uint64_t transactions, const char *firstGtid, uint64_t firstTimeUs, const char *lastGtid,
         uint64_t lastTimeUs) {
    ArchiveWindow *w = st->w;

    if (transactions == 0)
        return;
    w->transactions += transactions;
    if (!st->haveFirst) {
        st->haveFirst = true;
        snprintf(st->firstGtid, BINLOG_TXN_GTID_MAX, "%s", firstGtid);
        w->firstTimeUs = firstTimeUs;
    }
    snprintf(st->lastGtid, BINLOG_TXN_GTID_MAX, "%s", lastGtid);
    w->lastTimeUs = lastTimeUs;
}

static void
statsAddMeta(WindowStats *st, const SegmentMeta *m) {
    statsAdd(st, m->transactions, m->firstGtid, m->firstTimeUs, m->lastGtid, m->lastTimeUs);
}

static int
statsAddRange(ArchiveView *v, WindowStats *st, uint64_t first, uint64_t last, Err *err) {
    ArchiveCatalog *c = archiveViewLoadRange(v, first, last, err);

    if (c == NULL)
        return -1;
    for (size_t i = 0; i < archiveCatalogCount(c); i++)
        statsAddMeta(st, archiveCatalogAt(c, i));
    archiveCatalogFree(c);
    return 0;
}

static int
windowFill(ArchiveView *v, uint64_t first, uint64_t last, ArchiveWindow *w, SegmentMeta *ends, WindowGtids gtids,
           Err *err) {
    WindowStats st = {.w = w, .firstGtid = gtids[0], .lastGtid = gtids[1]};
    Units u;
    Unit unit;

    memset(w, 0, sizeof(*w));
    if (archiveViewGet(v, first, &ends[0], err) != 0 || archiveViewGet(v, last, &ends[1], err) != 0)
        return -1;
    w->from = &ends[0];
    w->to = &ends[1];
    w->firstGtid = gtids[0];
    w->lastGtid = gtids[1];
    /* The first kept block that a prune cut (the view's head) is neither a span nor in the tail:
     * its segments come before every unit. */
    if (archiveViewSpanCount(v) > 0) {
        const ArchiveCatalog *tail = archiveViewTail(v);
        uint64_t headLast = archiveViewSpanAt(v, 0)->firstSeq - 1;
        uint64_t lo = first > archiveViewFirstSeq(v) ? first : archiveViewFirstSeq(v), hi = last < headLast ? last : headLast;
        bool inTail = tail != NULL && archiveCatalogCount(tail) > 0 && archiveCatalogAt(tail, 0)->seq <= headLast;

        if (lo <= hi && !inTail && statsAddRange(v, &st, lo, hi, err) != 0)
            return -1;
    }
    unitsStart(&u, v);
    while (unitsNext(&u, &unit)) {
        if (unit.last < first || unit.first > last)
            continue;
        if (unit.meta != NULL)
            statsAddMeta(&st, unit.meta);
        else if (unit.first >= first && unit.last <= last)
            statsAdd(&st, unit.span->transactions, unit.span->firstGtid, unit.span->firstTimeUs, unit.span->lastGtid,
                     unit.span->lastTimeUs);
        else if (statsAddRange(v, &st, unit.first > first ? unit.first : first, unit.last < last ? unit.last : last,
                               err) != 0)
            return -1;
    }
    return 0;
}

ArchiveOutline *
archiveOutlineNew(ArchiveView *v, Err *err) {
    ArchiveOutline *o = bvCalloc(1, sizeof(*o));
    uint64_t start = archiveViewFirstSeq(v), lastSeq = archiveViewLastSeq(v);

    if (archiveViewGaps(v, &o->gaps, &o->gapCount, err) != 0) {
        archiveOutlineFree(o);
        return NULL;
    }
    if (lastSeq == 0)
        return o;
    o->windows = bvCalloc(o->gapCount + 1, sizeof(*o->windows));
    o->ends = bvCalloc(2 * (o->gapCount + 1), sizeof(*o->ends));
    o->gtids = bvCalloc(o->gapCount + 1, sizeof(*o->gtids));
    for (size_t g = 0; g <= o->gapCount; g++) {
        uint64_t end = g < o->gapCount ? o->gaps[g].afterSeq : lastSeq;
        size_t n = o->windowCount;

        if (g < o->gapCount && o->gaps[g].afterSeq == 0) {
            start = o->gaps[g].beforeSeq; /* seqs missing before the first segment */
            continue;
        }
        if (end < start) /* several breaks between the same two segments */
            continue;
        if (windowFill(v, start, end, &o->windows[n], &o->ends[2 * n], o->gtids[n], err) != 0) {
            o->windowCount = n + 1; /* its ends are freed with the rest */
            archiveOutlineFree(o);
            return NULL;
        }
        o->windowCount++;
        if (g < o->gapCount)
            start = o->gaps[g].beforeSeq;
    }
    return o;
}

size_t
archiveOutlineGapCount(const ArchiveOutline *o) {
    return o->gapCount;
}

const ArchiveGap *
archiveOutlineGapAt(const ArchiveOutline *o, size_t i) {
    return &o->gaps[i];
}

size_t
archiveOutlineWindowCount(const ArchiveOutline *o) {
    return o->windowCount;
}

const ArchiveWindow *
archiveOutlineWindowAt(const ArchiveOutline *o, size_t i) {
    return &o->windows[i];
}

/* Count `n` transactions of segment seq out of the window holding it. */
static void
windowsCountOut(ArchiveOutline *o, uint64_t seq, uint64_t n) {
    for (size_t i = 0; i < o->windowCount; i++) {
        ArchiveWindow *w = &o->windows[i];

        if (w->from->seq <= seq && seq <= w->to->seq) {
            w->transactions -= n < w->transactions ? n : w->transactions;
            return;
        }
    }
}

/* The windows' from, to and GTIDs point into ends[] and gtids[] at their index. */
static void
windowsPoint(ArchiveOutline *o) {
    for (size_t i = 0; i < o->windowCount; i++) {
        o->windows[i].from = &o->ends[2 * i];
        o->windows[i].to = &o->ends[2 * i + 1];
        o->windows[i].firstGtid = o->gtids[i][0];
        o->windows[i].lastGtid = o->gtids[i][1];
    }
}

/* Window k+1 joined to window k: no break of the path is left between them. */
static void
windowsJoin(ArchiveOutline *o, size_t k) {
    ArchiveWindow *w = &o->windows[k], *next = &o->windows[k + 1];

    if (w->transactions == 0) {
        w->firstTimeUs = next->firstTimeUs;
        memcpy(o->gtids[k][0], o->gtids[k + 1][0], sizeof(o->gtids[k][0]));
    }
    if (next->transactions > 0) {
        w->lastTimeUs = next->lastTimeUs;
        memcpy(o->gtids[k][1], o->gtids[k + 1][1], sizeof(o->gtids[k][1]));
    }
    w->transactions += next->transactions;
    segmentMetaClear(&o->ends[2 * k + 1]);
    segmentMetaClear(&o->ends[2 * k + 2]);
    o->ends[2 * k + 1] = o->ends[2 * k + 3];
    memmove(&o->ends[2 * k + 2], &o->ends[2 * k + 4], (2 * (o->windowCount - k - 2)) * sizeof(*o->ends));
    memmove(&o->gtids[k + 1], &o->gtids[k + 2], (o->windowCount - k - 2) * sizeof(*o->gtids));
    memmove(&o->windows[k + 1], &o->windows[k + 2], (o->windowCount - k - 2) * sizeof(*o->windows));
    o->windowCount--;
    memset(&o->ends[2 * o->windowCount], 0, 2 * sizeof(*o->ends));
    windowsPoint(o);
}

/* The timeline of the branch off the path that break g lies in: a break between a fork on the
 * path (or a segment after it) and its timeline's first segment (or one before it) is among the
 * segments the path leaves out (the diverged branch, a timeline it does not take). 0 when none. */
static uint32_t
gapBranch(const ArchiveGap *g, const TimelineSet *set, const TimelinePath *path) {
    for (size_t i = 0; i < timelineSetCount(set); i++) {
        const TimelineRecord *r = timelineSetAt(set, i);

        if (r->hasFork && g->afterSeq != 0 && r->fork.seq <= g->afterSeq && g->beforeSeq <= r->firstSeq &&
            timelinePathHolds(path, r->timeline, NULL))
            return r->parent;
    }
    return 0;
}

/* The breaks inside branches off the path moved to branchGaps, and the windows they split joined
 * (unless another break of the path lies between the same two segments). */
static void
gapsFollow(ArchiveOutline *o, const TimelineSet *set, const TimelinePath *path) {
    size_t kept = 0;

    for (size_t i = 0; i < o->gapCount; i++) {
        uint32_t tl = gapBranch(&o->gaps[i], set, path);

        if (tl == 0) {
            o->gaps[kept++] = o->gaps[i];
            continue;
        }
        o->branchGaps = bvRealloc(o->branchGaps, (o->branchGapCount + 1) * sizeof(*o->branchGaps));
        o->branchTimelines = bvRealloc(o->branchTimelines, (o->branchGapCount + 1) * sizeof(*o->branchTimelines));
        o->branchGaps[o->branchGapCount] = o->gaps[i];
        o->branchTimelines[o->branchGapCount++] = tl;
    }
    o->gapCount = kept;
    for (size_t k = 0; k + 1 < o->windowCount;) {
        bool split = false;

        for (size_t i = 0; i < o->gapCount && !split; i++)
            split = o->gaps[i].afterSeq >= o->windows[k].to->seq && o->gaps[i].beforeSeq <= o->windows[k + 1].from->seq;
        if (split)
            k++;
        else
            windowsJoin(o, k);
    }
}

int
archiveOutlineFollow(ArchiveOutline *o, ArchiveView *v, const TimelineSet *set, const TimelinePath *path, Err *err) {
    uint64_t total = 0, first = archiveViewFirstSeq(v);

    if (timelineSetForked(set))
        gapsFollow(o, set, path);

    for (size_t i = 0; i < timelineSetCount(set); i++) {
        const TimelineRecord *r = timelineSetAt(set, i);
        ArchiveCatalog *c;

        if (!r->hasFork || r->firstSeq <= first)
            continue;
        if ((c = archiveViewLoadRange(v, r->fork.seq > first ? r->fork.seq : first, r->firstSeq - 1, err)) == NULL)
            return -1;
        for (size_t j = 0; j < archiveCatalogCount(c); j++) {
            const SegmentMeta *m = archiveCatalogAt(c, j);
            TimelineOn on = timelinePathSegment(path, m, NULL);
            uint64_t n = 0;

            if (on == TIMELINE_OFF) {
                n = m->transactions;
            } else if (on == TIMELINE_CUT) {
                SegmentMeta seen;

                timelinePathViewMeta(path, m, &seen);
                n = m->transactions > seen.transactions ? m->transactions - seen.transactions : 0;
                segmentMetaClear(&seen);
            }
            windowsCountOut(o, m->seq, n);
            total += n;
        }
        archiveCatalogFree(c);
    }
    o->offPath = total;
    return 0;
}

uint64_t
archiveOutlineOffPath(const ArchiveOutline *o) {
    return o->offPath;
}

size_t
archiveOutlineBranchGapCount(const ArchiveOutline *o) {
    return o->branchGapCount;
}

const ArchiveGap *
archiveOutlineBranchGapAt(const ArchiveOutline *o, size_t i, uint32_t *timeline) {
    if (timeline != NULL)
        *timeline = o->branchTimelines[i];
    return &o->branchGaps[i];
}

void
archiveOutlineFree(ArchiveOutline *o) {
    if (o == NULL)
        return;
    for (size_t i = 0; i < 2 * o->windowCount; i++)
        segmentMetaClear(&o->ends[i]);
    bvFree(o->ends);
    bvFree(o->gtids);
    bvFree(o->windows);
    bvFree(o->gaps);
    bvFree(o->branchGaps);
    bvFree(o->branchTimelines);
    bvFree(o);
}

ArchiveCatalog *
archiveOutlineBaseRange(ArchiveView *v, const ArchiveBasePoint *bp, Err *err) {
    uint64_t byGtid = 0, byPos = 0, lo, first = archiveViewFirstSeq(v), last = archiveViewLastSeq(v), hi;
    Err e = {0};

    if (bp->gtid != NULL && bp->gtid[0] != '\0' && archiveOutlineFirstNotHeld(v, bp->gtid, &byGtid, err) != 0)
        return NULL;
    if (archiveViewFindPosition(v, bp->file, bp->pos, &byPos, &e) != 0)
        byPos = 0;
    /* Neither: nothing the archive holds is after the point, or it cannot be placed; the catalog
     * functions tell which from the archive's last block. */
    lo = byGtid == 0 ? byPos : byPos == 0 ? byGtid : byGtid < byPos ? byGtid : byPos;
    if (lo == 0)
        lo = last;
    hi = archiveBlockLast(archiveBlockOf(lo));
    lo = archiveBlockFirst(archiveBlockOf(lo));
    if (lo > first)
        lo--; /* the segment before: whether the point's state holds what precedes the block */
    return archiveViewLoadRange(v, lo < first ? first : lo, hi < last ? hi : last, err);
}

int
archiveOutlineBackupReach(ArchiveView *v, const ArchiveOutline *o, const ArchiveBackup *b, ArchiveBackupReach *r,
                          Err *err) {
    ArchiveBasePoint bp = {.pos = b->pos, .gtid = b->gtidState};
    ArchiveCatalog *c;
    int rc;

    memset(r, 0, sizeof(*r));
    snprintf(bp.file, sizeof(bp.file), "%s", b->file);
    if (archiveViewLastSeq(v) == 0) {
        r->kind = ARCHIVE_BACKUP_UNPLACED;
        return 0;
    }
    if ((c = archiveOutlineBaseRange(v, &bp, err)) == NULL)
        return errPrefix(err, "backup '%s'", b->id);
    rc = archiveBackupReach(c, b, r, err);
    archiveCatalogFree(c);
    if (rc != 0 || (r->kind != ARCHIVE_BACKUP_REACHES_END && r->kind != ARCHIVE_BACKUP_REACHES_GAP))
        return rc;
    /* The range's windows end with the range: the archive's say how far the backup reaches. */
    r->to = NULL;
    r->kind = ARCHIVE_BACKUP_UNPLACED;
    for (size_t i = 0; i < o->windowCount; i++)
        if (o->windows[i].from->seq <= r->fromSeq && r->fromSeq <= o->windows[i].to->seq) {
            r->kind = i + 1 == o->windowCount ? ARCHIVE_BACKUP_REACHES_END : ARCHIVE_BACKUP_REACHES_GAP;
            r->to = o->windows[i].to;
        }
    if (r->to == NULL)
        r->fromSeq = 0;
    return 0;
}

/* ---- what the store holds ---- */

typedef struct Stored {
    uint64_t first, last;
    uint8_t *present;
} Stored;

static int
storedCb(const char *name, uint64_t size, void *data, Err *err) {
    Stored *st = data;
    uint64_t seq, pos;
    char file[SEGMENT_FILE_MAX];

    (void)size;
    (void)err;
    if (segmentNameParse(name, &seq, file, sizeof(file), &pos, NULL) != 0)
        return 0;
    if (seq > st->last)
        return STORAGE_LIST_STOP;
    if (seq >= st->first)
        st->present[(seq - st->first) / 8] |= (uint8_t)(1u << ((seq - st->first) % 8));
    return 0;
}

int
archiveOutlineStored(Archive *a, uint64_t first, uint64_t last, uint8_t **present, Err *err) {
    Stored st = {first, last, NULL};
    char after[SEGMENT_NAME_MAX] = "";

    *present = NULL;
    if (last < first)
        return 0;
    if (archiveSegmentListAfter(a, first, after, sizeof(after), err) != 0)
        return -1;
    st.present = bvCalloc((last - first) / 8 + 1, 1);
    if (storageListFrom(archiveStorage(a), ARCHIVE_SEGMENT_PREFIX, after, storedCb, &st, err) != 0) {
        bvFree(st.present);
        return -1;
    }
    *present = st.present;
    return 0;
}

bool
archiveOutlineHolds(const uint8_t *present, uint64_t first, uint64_t seq) {
    return present != NULL && seq >= first && (present[(seq - first) / 8] & (1u << ((seq - first) % 8))) != 0;
}

/* ---- where a GTID state stands ---- */

/* The first unit (in seq order) that `hit` says stands at `state` against its gtid_end; *seq its
 * first seq or, with `last`, its last one; 0 when none. A unit without gtid_end is a hit when
 * `unknownHits` and it holds transactions. */
typedef bool StateHitFn(const GtidState *state, const GtidState *end, bool any);

static bool
notHeld(const GtidState *state, const GtidState *end, bool any) {
    (void)any;
    return !gtidStateContains(state, end);
}

static bool
reaching(const GtidState *state, const GtidState *end, bool any) {
    return any ? gtidStateContainsAny(end, state) : gtidStateContains(end, state);
}

/* Whether `unit` stands at `st` (stateScan()). */
static int
unitHits(BinlogFlavour flavour, const Unit *unit, const GtidState *st, StateHitFn *hit, bool any, bool unknownHits,
         bool *found, Err *err) {
    const char *end = unitGtidEnd(unit);
    GtidState *e;

    if (end[0] == '\0') {
        *found = unknownHits && unitTransactions(unit) > 0;
        return 0;
    }
    if ((e = gtidStateParse(flavour, end, err)) == NULL)
        return errPrefix(err, "gtid_end of seq %" PRIu64 "-%" PRIu64, unit->first, unit->last);
    *found = hit(st, e, any);
    gtidStateFree(e);
    return 0;
}

static int
stateScan(ArchiveView *v, const char *state, StateHitFn *hit, bool any, bool unknownHits, bool last, uint64_t *seq,
          Err *err) {
    BinlogFlavour flavour = archiveViewFlavour(v);
    GtidState *st;
    Units u;
    Unit unit;
    int rc = 0;

    *seq = 0;
    if (archiveViewLastSeq(v) == 0)
        return 0;
    if ((st = gtidStateParse(flavour, state, err)) == NULL)
        return errPrefix(err, "gtid state '%s'", state);
    unitsStart(&u, v);
    while (*seq == 0 && unitsNext(&u, &unit)) {
        bool found;

        if ((rc = unitHits(flavour, &unit, st, hit, any, unknownHits, &found, err)) != 0)
            break;
        if (found)
            *seq = last ? unit.last : unit.first;
    }
    gtidStateFree(st);
    return rc;
}

int
archiveOutlineFirstNotHeld(ArchiveView *v, const char *state, uint64_t *seq, Err *err) {
    return stateScan(v, state, notHeld, false, true, false, seq, err);
}

int
archiveOutlineReaching(ArchiveView *v, const char *state, bool any, uint64_t *seq, Err *err) {
    return stateScan(v, state, reaching, any, false, true, seq, err);
}

static bool
committedBy(uint64_t us, uint64_t timeUs, bool exclusive) {
    return us != 0 && (exclusive ? us < timeUs : us <= timeUs);
}

/* Whether `unit`, wholly after seq `after`, holds a commit at or before timeUs (the index's first
 * and last commit of a segment, the lowest of a block). */
static bool
unitCommittedBy(const Unit *unit, uint64_t after, uint64_t timeUs, bool exclusive) {
    if (unit->first <= after || unitTransactions(unit) == 0)
        return false;
    return unit->span != NULL ? committedBy(unit->span->minTimeUs, timeUs, exclusive)
                              : committedBy(unit->meta->firstTimeUs, timeUs, exclusive) ||
                                    committedBy(unit->meta->lastTimeUs, timeUs, exclusive);
}

uint64_t
archiveOutlineCommittedBy(ArchiveView *v, uint64_t after, uint64_t timeUs, bool exclusive) {
    Units u;
    Unit unit;

    unitsStart(&u, v);
    while (unitsNext(&u, &unit))
        if (unitCommittedBy(&unit, after, timeUs, exclusive))
            return unit.last;
    return 0;
}

/* ---- along a path (the main line or --timeline of a forked archive) ---- */

/* Where a summarised block stands on a path: its segments all on it whole, all off it, or some of
 * each (it holds a fork, diverged segments or segments of a timeline off the path): a timeline's
 * segments on a path are one seq interval, so its first and last segment say it, a fork segment
 * counting as cut whatever its end. */
static TimelineOn
spanOnPath(const ArchiveSpan *s, const TimelinePath *p) {
    SegmentMeta m;
    TimelineOn first, last;

    if (s->timelineMin != s->timelineMax)
        return TIMELINE_CUT;
    memset(&m, 0, sizeof(m));
    m.timeline = s->timelineMin;
    m.endPos = UINT64_MAX;
    m.seq = s->firstSeq;
    first = timelinePathSegment(p, &m, NULL);
    m.seq = s->lastSeq;
    last = timelinePathSegment(p, &m, NULL);
    return first == last && first != TIMELINE_CUT ? first : TIMELINE_CUT;
}

/* Called for each unit on the path in seq order: a block wholly on it, or a segment as the path
 * sees it. 1 stops the walk, -1 fails it. */
typedef int PathUnitFn(void *data, const Unit *unit, Err *err);

/* A segment on the path, as the path sees it (a fork segment ends at the fork). */
static int
pathSegment(const TimelinePath *p, const SegmentMeta *m, PathUnitFn *fn, void *data, Err *err) {
    TimelineOn on = timelinePathSegment(p, m, NULL);
    SegmentMeta view;
    Unit unit = {.first = m->seq, .last = m->seq, .meta = m};
    int rc;

    if (on == TIMELINE_OFF)
        return 0;
    if (on == TIMELINE_WHOLE)
        return fn(data, &unit, err);
    timelinePathViewMeta(p, m, &view);
    unit.meta = &view;
    rc = fn(data, &unit, err);
    segmentMetaClear(&view);
    return rc;
}

/* The units of the path from seq `from` on: blocks on it whole from their summary lines, the
 * others loaded and walked segment by segment (one block's entries at a time). */
static int
pathWalk(ArchiveView *v, const TimelinePath *p, uint64_t from, PathUnitFn *fn, void *data, Err *err) {
    Units u;
    Unit unit;
    int rc = 0;

    unitsStart(&u, v);
    while (rc == 0 && unitsNext(&u, &unit)) {
        TimelineOn on;
        ArchiveCatalog *block;

        if (unit.last < from)
            continue;
        if (unit.meta != NULL) {
            rc = pathSegment(p, unit.meta, fn, data, err);
            continue;
        }
        if ((on = spanOnPath(unit.span, p)) == TIMELINE_OFF)
            continue;
        if (on == TIMELINE_WHOLE) {
            rc = fn(data, &unit, err);
            continue;
        }
        if ((block = archiveViewLoadRange(v, unit.first, unit.last, err)) == NULL)
            return -1;
        for (size_t i = 0; rc == 0 && i < archiveCatalogCount(block); i++)
            rc = pathSegment(p, archiveCatalogAt(block, i), fn, data, err);
        archiveCatalogFree(block);
    }
    return rc < 0 ? -1 : 0;
}

typedef struct PathStateScan {
    BinlogFlavour flavour;
    GtidState *st;
    StateHitFn *hit;
    bool any, unknownHits, last;
    uint64_t seq;
} PathStateScan;

static int
pathStateUnit(void *data, const Unit *unit, Err *err) {
    PathStateScan *ps = data;
    bool found;

    if (unitHits(ps->flavour, unit, ps->st, ps->hit, ps->any, ps->unknownHits, &found, err) != 0)
        return -1;
    if (!found)
        return 0;
    ps->seq = ps->last ? unit->last : unit->first;
    return 1;
}

static int
pathStateScan(ArchiveView *v, const TimelinePath *p, const char *state, StateHitFn *hit, bool any, bool unknownHits,
              bool last, uint64_t *seq, Err *err) {
    PathStateScan ps = {.flavour = archiveViewFlavour(v), .hit = hit, .any = any, .unknownHits = unknownHits,
                        .last = last};
    int rc;

    *seq = 0;
    if (archiveViewLastSeq(v) == 0)
        return 0;
    if ((ps.st = gtidStateParse(ps.flavour, state, err)) == NULL)
        return errPrefix(err, "gtid state '%s'", state);
    rc = pathWalk(v, p, 0, pathStateUnit, &ps, err);
    gtidStateFree(ps.st);
    *seq = ps.seq;
    return rc;
}

int
archiveOutlinePathFirstNotHeld(ArchiveView *v, const TimelinePath *p, const char *state, uint64_t *seq, Err *err) {
    return pathStateScan(v, p, state, notHeld, false, true, false, seq, err);
}

int
archiveOutlinePathReaching(ArchiveView *v, const TimelinePath *p, const char *state, bool any, uint64_t *seq,
                           Err *err) {
    return pathStateScan(v, p, state, reaching, any, false, true, seq, err);
}

typedef struct PathCommitted {
    uint64_t after, timeUs, seq;
    bool exclusive;
} PathCommitted;

static int
pathCommittedUnit(void *data, const Unit *unit, Err *err) {
    PathCommitted *pc = data;

    (void)err;
    if (!unitCommittedBy(unit, pc->after, pc->timeUs, pc->exclusive))
        return 0;
    pc->seq = unit->last;
    return 1;
}

int
archiveOutlinePathCommittedBy(ArchiveView *v, const TimelinePath *p, uint64_t after, uint64_t timeUs, bool exclusive,
                              uint64_t *seq, Err *err) {
    PathCommitted pc = {.after = after, .timeUs = timeUs, .exclusive = exclusive};
    int rc = pathWalk(v, p, after + 1, pathCommittedUnit, &pc, err);

    *seq = pc.seq;
    return rc;
}

/* A lookup's look at one segment of the path (of a block on it whole, or as the path sees it):
 * true when it found its answer, which stops the scan. */
typedef bool PathSegmentFn(void *data, const SegmentMeta *m);

/* The segments of `unit` given to `fn` in seq order until it finds: a tail segment, or the
 * entries of a block read from the view (one block at a time). 1 when found, 0 when not, -1 when
 * the block cannot be read. */
static int
unitScan(ArchiveView *v, const Unit *unit, PathSegmentFn *fn, void *data, Err *err) {
    ArchiveCatalog *block;
    bool found = false;

    if (unit->meta != NULL)
        return fn(data, unit->meta) ? 1 : 0;
    if ((block = archiveViewLoadRange(v, unit->first, unit->last, err)) == NULL)
        return -1;
    for (size_t i = 0; !found && i < archiveCatalogCount(block); i++)
        found = fn(data, archiveCatalogAt(block, i));
    archiveCatalogFree(block);
    return found ? 1 : 0;
}

/* archiveOutlinePathFindTime(): the first commit time on the path, the latest so far, and the
 * segment found (before it is, the last segment with a transaction, or the block holding it:
 * archiveCatalogFindTime() answers that one when no commit passes the time but the last is at it). */
typedef struct PathTime {
    ArchiveView *v;
    uint64_t timeUs, firstUs, maxUs, seq;
    uint64_t spanFirst, spanLast; /* seq 0: in this block, read only if needed */
    bool exclusive, any, found;
} PathTime;

static bool
timePasses(const PathTime *pt, uint64_t us) {
    return pt->exclusive ? us >= pt->timeUs : us > pt->timeUs;
}

/* A segment of the path, as archiveCatalogFindTime() looks at each entry. */
static bool
pathTimeSegment(void *data, const SegmentMeta *m) {
    PathTime *pt = data;

    if (m->transactions == 0)
        return false;
    if (!pt->any)
        pt->firstUs = m->firstTimeUs;
    pt->any = true;
    pt->maxUs = m->firstTimeUs > pt->maxUs ? m->firstTimeUs : pt->maxUs;
    pt->maxUs = m->lastTimeUs > pt->maxUs ? m->lastTimeUs : pt->maxUs;
    pt->maxUs = m->maxTimeUs > pt->maxUs ? m->maxTimeUs : pt->maxUs;
    if (!pt->found) {
        pt->found = timePasses(pt, m->firstTimeUs) || timePasses(pt, m->lastTimeUs) || timePasses(pt, m->maxTimeUs);
        pt->seq = m->seq;
    }
    return pt->found;
}

static int
pathTimeUnit(void *data, const Unit *unit, Err *err) {
    PathTime *pt = data;

    if (unit->meta != NULL)
        return unitScan(pt->v, unit, pathTimeSegment, pt, err);
    if (unit->span->transactions == 0)
        return 0;
    /* A block on the path whole whose commits all come at or before the time: its summary line. */
    if (!timePasses(pt, unit->span->maxTimeUs)) {
        if (!pt->any)
            pt->firstUs = unit->span->firstTimeUs;
        pt->any = true;
        pt->maxUs = unit->span->maxTimeUs > pt->maxUs ? unit->span->maxTimeUs : pt->maxUs;
        pt->seq = 0;
        pt->spanFirst = unit->first;
        pt->spanLast = unit->last;
        return 0;
    }
    return unitScan(pt->v, unit, pathTimeSegment, pt, err);
}

/* The last segment with a transaction (never found: the scan goes to the end). */
static bool
lastTransaction(void *data, const SegmentMeta *m) {
    if (m->transactions > 0)
        *(uint64_t *)data = m->seq;
    return false;
}

int
archiveOutlinePathFindTime(ArchiveView *v, const TimelinePath *p, uint64_t timeUs, bool exclusive, uint64_t *seq,
                           Err *err) {
    PathTime pt = {.v = v, .timeUs = timeUs, .exclusive = exclusive};

    *seq = 0;
    if (pathWalk(v, p, 0, pathTimeUnit, &pt, err) != 0)
        return -1;
    if (archiveTimeInRange(timeUs, exclusive, pt.any, pt.firstUs, pt.maxUs, err) != 0)
        return -1;
    if (pt.seq == 0) {
        /* No commit after the time, the last at it: the last segment with a transaction, in the
         * block whose summary line said so. */
        Unit block = {.first = pt.spanFirst, .last = pt.spanLast};

        if (unitScan(v, &block, lastTransaction, &pt.seq, err) < 0)
            return -1;
    }
    *seq = pt.seq;
    return 0;
}

/* archiveOutlinePathFindPosition(): the file's segments seen on the path so far (their lowest
 * start and highest end, for the refusal), and the segment found. */
typedef struct PathPosition {
    ArchiveView *v;
    const char *file;
    uint64_t pos, lo, hi, seq;
    bool seen, found;
} PathPosition;

/* A segment of the path, as archiveCatalogFindPosition() looks at each entry. */
static bool
pathPositionSegment(void *data, const SegmentMeta *m) {
    PathPosition *pp = data;

    if (strcmp(m->file, pp->file) != 0)
        return false;
    if ((!pp->seen && pp->pos >= BINLOG_MAGIC_LEN && pp->pos < m->startPos &&
         m->startPos == BINLOG_MAGIC_LEN + (uint64_t)m->fdeLen) ||
        (pp->pos >= m->startPos && pp->pos < m->endPos)) {
        pp->found = true;
        pp->seq = m->seq;
        return true;
    }
    if (!pp->seen || m->startPos < pp->lo)
        pp->lo = m->startPos;
    if (!pp->seen || m->endPos > pp->hi)
        pp->hi = m->endPos;
    pp->seen = true;
    return false;
}

static int
pathPositionUnit(void *data, const Unit *unit, Err *err) {
    PathPosition *pp = data;
    const ArchiveSpan *s = unit->span;

    if (unit->meta != NULL)
        return unitScan(pp->v, unit, pathPositionSegment, pp, err);
    /* A block on the path whole: its files run from startFile to endFile. Read only when it may
     * hold the position: it holds the file, and not all of it from the summary line, or the
     * position is in its range, or it may start the file. Its range is startPos..endPos only
     * without a break: positions that go backwards in the file (an overlap) or jump (a gap) are
     * breaks, and the line's ends then do not bracket what it holds. */
    if (segmentFileCompare(pp->file, s->startFile) < 0 || segmentFileCompare(pp->file, s->endFile) > 0)
        return 0;
    if (strcmp(s->startFile, pp->file) == 0 && strcmp(s->endFile, pp->file) == 0 && pp->seen && s->breakCount == 0 &&
        (pp->pos < s->startPos || pp->pos >= s->endPos)) {
        pp->lo = s->startPos < pp->lo ? s->startPos : pp->lo;
        pp->hi = s->endPos > pp->hi ? s->endPos : pp->hi;
        return 0;
    }
    return unitScan(pp->v, unit, pathPositionSegment, pp, err);
}

int
archiveOutlinePathFindPosition(ArchiveView *v, const TimelinePath *p, const char *file, uint64_t pos, uint64_t *seq,
                               Err *err) {
    PathPosition pp = {.v = v, .file = file, .pos = pos};

    *seq = 0;
    if (pathWalk(v, p, 0, pathPositionUnit, &pp, err) != 0)
        return -1;
    if (pp.found) {
        *seq = pp.seq;
        return 0;
    }
    if (!pp.seen)
        return errSet(err, ERR_NOTFOUND, "binlog file '%s' is not in the archive", file);
    return errSet(err, ERR_NOTFOUND, "position %s:%" PRIu64 " is not archived: the archive holds %s:%" PRIu64 "-%" PRIu64
                                     "%s",
                  file, pos, file, pp.lo, pp.hi, pos > pp.lo && pos < pp.hi ? " with a gap" : "");
}

int
archiveOutlinePathLast(ArchiveView *v, const TimelinePath *p, uint64_t upto, SegmentMeta *out, Err *err) {
    uint64_t first = archiveViewFirstSeq(v);

    if (upto > archiveViewLastSeq(v))
        upto = archiveViewLastSeq(v);
    /* Block by block backwards: the first holding a segment of the path is the one. */
    for (uint64_t block = upto >= first && upto > 0 ? archiveBlockOf(upto) + 1 : 0; block-- > 0;) {
        uint64_t lo = archiveBlockFirst(block) > first ? archiveBlockFirst(block) : first,
                 hi = archiveBlockLast(block) < upto ? archiveBlockLast(block) : upto;
        ArchiveCatalog *c;

        if (hi < lo)
            break;
        if ((c = archiveViewLoadRange(v, lo, hi, err)) == NULL)
            return -1;
        timelinePathFollowCatalog(p, c, NULL, NULL);
        if (archiveCatalogCount(c) > 0) {
            segmentMetaClear(out);
            segmentMetaCopy(out, archiveCatalogLast(c));
            archiveCatalogFree(c);
            return 1;
        }
        archiveCatalogFree(c);
        if (lo == first)
            break;
    }
    return 0;
}
