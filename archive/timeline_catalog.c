/*
 * Timelines over a catalog: a loaded catalog cut down to one timeline's path (what recover, fetch
 * and log follow), and the checks verify makes of the segments against the records, fed one
 * segment at a time (a cursor over the whole archive) or from a loaded catalog.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/internal.h"
#include "archive/timeline.h"
#include "binlog/gtid.h"
#include "common/mem.h"

int
archiveCatalogFollowTimeline(Archive *a, ArchiveCatalog *c, uint32_t tip, TimelineSet **setOut, Err *err) {
    TimelineSet *set;
    TimelinePath *p;

    if (setOut != NULL)
        *setOut = NULL;
    if (timelineSetLoad(a, &set, err) != 0)
        return -1;
    if (!timelineSetForked(set) && tip <= 1) {
        if (setOut != NULL)
            *setOut = set;
        else
            timelineSetFree(set);
        return 0;
    }
    if ((p = timelinePathNew(set, tip, err)) == NULL) {
        timelineSetFree(set);
        return -1;
    }
    timelinePathFollowCatalog(p, c, NULL, NULL);
    timelinePathFree(p);
    if (setOut != NULL)
        *setOut = set;
    else
        timelineSetFree(set);
    return 0;
}

/* The seqs timeline t's segments may have: [first_seq(t), first_seq(t + 1)). */
static void
timelineSeqs(const TimelineSet *set, uint32_t t, uint64_t *lo, uint64_t *hi) {
    const TimelineRecord *r = timelineSetFind(set, t), *next = timelineSetFind(set, t + 1);

    *lo = r != NULL ? r->firstSeq : 1;
    *hi = next != NULL ? next->firstSeq - 1 : UINT64_MAX;
}

/* A segment a record names: the fork's (isFork) or its timeline's first. */
typedef struct Wanted {
    uint64_t seq;
    size_t record; /* index in the set */
    bool isFork;
} Wanted;

/* What the records' checks found of the segments they name, kept until timelineCheckFinish(). */
typedef struct RecordSeen {
    bool fork, first; /* the segment was seen */
    char *forkMsg, *firstMsg; /* its problem, NULL when none */
} RecordSeen;

struct TimelineCheck {
    const TimelineSet *set;
    uint64_t firstSeq;
    TimelineProblemFn *problem;
    void *data;
    Wanted *wanted; /* by seq */
    size_t wantedCount;
    RecordSeen *seen; /* per record of the set */
    bool any;
    uint64_t lastSeq; /* the highest seq seen */
};

static int
cmpWanted(const void *x, const void *y) {
    const Wanted *a = x, *b = y;

    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return a->record < b->record ? -1 : a->record > b->record;
}

TimelineCheck *
timelineCheckNew(const TimelineSet *set, uint64_t firstSeq, TimelineProblemFn *problem, void *data) {
    TimelineCheck *chk = bvCalloc(1, sizeof(*chk));
    size_t n = timelineSetCount(set);

    chk->set = set;
    chk->firstSeq = firstSeq;
    chk->problem = problem;
    chk->data = data;
    chk->seen = bvCalloc(n + 1, sizeof(*chk->seen));
    chk->wanted = bvCalloc(2 * n + 1, sizeof(*chk->wanted));
    for (size_t i = 0; i < n; i++) {
        const TimelineRecord *r = timelineSetAt(set, i);

        if (!r->hasFork)
            continue;
        chk->wanted[chk->wantedCount++] = (Wanted){r->fork.seq, i, true};
        chk->wanted[chk->wantedCount++] = (Wanted){r->firstSeq, i, false};
    }
    qsort(chk->wanted, chk->wantedCount, sizeof(*chk->wanted), cmpWanted);
    return chk;
}

/* Segment m's timeline label against its timeline's seqs. */
static void
checkLabel(TimelineCheck *chk, const SegmentMeta *m) {
    uint32_t newest = timelineSetNewest(chk->set);
    uint64_t lo, hi;
    char msg[512];

    if (segmentMetaTimeline(m) > newest) {
        snprintf(msg, sizeof(msg), "labelled timeline %" PRIu32 ", but the archive's timelines are 1 to %" PRIu32,
                 segmentMetaTimeline(m), newest);
        chk->problem(chk->data, m->name, m->seq, msg);
        return;
    }
    timelineSeqs(chk->set, segmentMetaTimeline(m), &lo, &hi);
    if (m->seq < lo || m->seq > hi) {
        if (hi == UINT64_MAX)
            snprintf(msg, sizeof(msg), "labelled timeline %" PRIu32 ", whose segments start at seq %" PRIu64,
                     segmentMetaTimeline(m), lo);
        else
            snprintf(msg, sizeof(msg), "labelled timeline %" PRIu32 ", whose segments are seqs %" PRIu64 "-%" PRIu64,
                     segmentMetaTimeline(m), lo, hi);
        chk->problem(chk->data, m->name, m->seq, msg);
    }
}

/* Record r's fork is in m: its parent's, in its file, the position inside it. */
static char *
checkFork(const TimelineRecord *r, const SegmentMeta *m) {
    char msg[2048];

    if (segmentMetaTimeline(m) == r->parent && strcmp(m->file, r->fork.file) == 0 && r->fork.pos > m->startPos &&
        r->fork.pos <= segmentMetaObjectEndPos(m))
        return NULL;
    snprintf(msg, sizeof(msg),
             "its fork (timeline %" PRIu32 ", %s:%" PRIu64 ") is not in '%s' (timeline %" PRIu32 ", %s:%" PRIu64
             "-%" PRIu64 ")",
             r->parent, r->fork.file, r->fork.pos, m->name, segmentMetaTimeline(m), m->file, m->startPos,
             segmentMetaObjectEndPos(m));
    return bvStrdup(msg);
}

/* Record r's timeline starts with m: labelled with it, at the fork's GTID state. */
static char *
checkFirst(const TimelineRecord *r, const SegmentMeta *m) {
    char msg[SEGMENT_GTID_MAX > 4096 ? 4096 : SEGMENT_GTID_MAX];
    bool equal = false;
    Err err;

    if (segmentMetaTimeline(m) != r->timeline) {
        snprintf(msg, sizeof(msg), "its first segment '%s' is labelled timeline %" PRIu32, m->name, segmentMetaTimeline(m));
        return bvStrdup(msg);
    }
    if (segmentMetaGtidStart(m)[0] != '\0' &&
        (gtidStateTextEqual(m->flavour, segmentMetaGtidStart(m), r->fork.gtidState, &equal, &err) != 0 || !equal)) {
        snprintf(msg, sizeof(msg), "its first segment '%s' starts at gtid state '%.1000s', not at the fork's '%.1000s'",
                 m->name, segmentMetaGtidStart(m), r->fork.gtidState);
        return bvStrdup(msg);
    }
    return NULL;
}

void
timelineCheckSegment(TimelineCheck *chk, const SegmentMeta *m) {
    size_t lo = 0, hi = chk->wantedCount;

    checkLabel(chk, m);
    if (!chk->any || m->seq > chk->lastSeq)
        chk->lastSeq = m->seq;
    chk->any = true;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (chk->wanted[mid].seq < m->seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < chk->wantedCount && chk->wanted[lo].seq == m->seq; lo++) {
        const Wanted *w = &chk->wanted[lo];
        const TimelineRecord *r = timelineSetAt(chk->set, w->record);
        RecordSeen *s = &chk->seen[w->record];

        if (w->isFork && !s->fork && r->fork.seq >= chk->firstSeq) {
            s->fork = true;
            s->forkMsg = checkFork(r, m);
        } else if (!w->isFork && !s->first) {
            s->first = true;
            s->firstMsg = checkFirst(r, m);
        }
    }
}

void
timelineCheckFinish(TimelineCheck *chk) {
    char name[64], msg[256];

    for (size_t i = 0; i < timelineSetCount(chk->set); i++) {
        const TimelineRecord *r = timelineSetAt(chk->set, i);
        const RecordSeen *s = &chk->seen[i];

        if (!r->hasFork)
            continue;
        timelineName(r->timeline, name, sizeof(name));
        if (r->fork.seq >= chk->firstSeq) {
            if (!s->fork) {
                snprintf(msg, sizeof(msg), "its fork is in seq %" PRIu64 ", which the archive does not hold", r->fork.seq);
                chk->problem(chk->data, name, r->fork.seq, msg);
            } else if (s->forkMsg != NULL) {
                chk->problem(chk->data, name, r->fork.seq, s->forkMsg);
            }
        }
        if (s->firstMsg != NULL) {
            chk->problem(chk->data, name, r->firstSeq, s->firstMsg);
        } else if (!s->first && r->firstSeq >= chk->firstSeq && chk->any && chk->lastSeq > r->firstSeq) {
            /* Below the first seq: a prune deleted it (a timeline's start is pruned like any segment). */
            snprintf(msg, sizeof(msg), "its first segment, seq %" PRIu64 ", is not in the archive", r->firstSeq);
            chk->problem(chk->data, name, r->firstSeq, msg);
        }
    }
}

void
timelineCheckFree(TimelineCheck *chk) {
    if (chk == NULL)
        return;
    for (size_t i = 0; i < timelineSetCount(chk->set); i++) {
        bvFree(chk->seen[i].forkMsg);
        bvFree(chk->seen[i].firstMsg);
    }
    bvFree(chk->seen);
    bvFree(chk->wanted);
    bvFree(chk);
}

void
timelineCheckCatalog(const TimelineSet *set, const ArchiveCatalog *c, TimelineProblemFn *problem, void *data) {
    TimelineCheck *chk = timelineCheckNew(set, c->firstSeq, problem, data);

    for (size_t i = 0; i < c->count; i++)
        timelineCheckSegment(chk, &c->entries[i]->meta);
    timelineCheckFinish(chk);
    timelineCheckFree(chk);
}
