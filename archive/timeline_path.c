/*
 * Paths over a set of timeline records (docs/FORMAT.md "The main line"): the chain from one
 * timeline back to timeline 1, each parent up to its child's fork point, and what a segment is
 * on it. The main line is the path of the newest timeline.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/internal.h"
#include "archive/timeline.h"
#include "binlog/gtid.h"
#include "common/mem.h"

/* One timeline of a path, and where the path leaves it (the fork of its child on the path). */
typedef struct PathStep {
    uint32_t timeline;
    bool limited; /* false for the tip */
    uint64_t forkSeq, forkPos;
    const TimelineRecord *child; /* the record whose fork limits this step */
} PathStep;

struct TimelinePath {
    uint32_t tip;
    PathStep *steps; /* ascending timeline numbers: steps[0] is timeline 1, the last the tip */
    size_t n;
};

TimelinePath *
timelinePathNew(const TimelineSet *set, uint32_t tip, Err *err) {
    uint32_t newest = timelineSetNewest(set), t;
    TimelinePath *p;
    size_t n = 0;

    if (tip == 0)
        tip = newest;
    if (tip > newest) {
        errSet(err, ERR_NOTFOUND, "the archive has no timeline %" PRIu32 ": its timelines are 1 to %" PRIu32
               " ('binvault list' shows them)", tip, newest);
        return NULL;
    }
    /* Count the chain: each record names an earlier parent, so it ends. */
    for (t = tip; t > 1; t = timelineSetFind(set, t)->parent)
        n++;
    n++;
    p = bvCalloc(1, sizeof(*p));
    p->tip = tip;
    p->n = n;
    p->steps = bvCalloc(n, sizeof(*p->steps));
    t = tip;
    for (size_t i = n; i-- > 0;) {
        const TimelineRecord *rec = t > 1 ? timelineSetFind(set, t) : NULL;

        p->steps[i].timeline = t;
        if (i > 0) {
            p->steps[i - 1].limited = true;
            p->steps[i - 1].forkSeq = rec->fork.seq;
            p->steps[i - 1].forkPos = rec->fork.pos;
            p->steps[i - 1].child = rec;
            t = rec->parent;
        }
    }
    return p;
}

uint32_t
timelinePathTip(const TimelinePath *p) {
    return p->tip;
}

static const PathStep *
stepFind(const TimelinePath *p, uint32_t timeline) {
    size_t lo = 0, hi = p->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (p->steps[mid].timeline < timeline)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->n && p->steps[lo].timeline == timeline ? &p->steps[lo] : NULL;
}

TimelineOn
timelinePathSegment(const TimelinePath *p, const SegmentMeta *m, uint64_t *cutPos) {
    const PathStep *s = stepFind(p, segmentMetaTimeline(m));

    if (s == NULL)
        return TIMELINE_OFF;
    if (!s->limited || m->seq < s->forkSeq)
        return TIMELINE_WHOLE;
    if (m->seq > s->forkSeq)
        return TIMELINE_OFF;
    if (s->forkPos >= segmentMetaObjectEndPos(m))
        return TIMELINE_WHOLE;
    if (cutPos != NULL)
        *cutPos = s->forkPos;
    return TIMELINE_CUT;
}

int
timelinePathHoldsPoint(const TimelinePath *p, BinlogFlavour flavour, uint32_t timeline, const char *file, uint64_t pos,
                       const char *state, bool *on, Err *err) {
    const PathStep *s = stepFind(p, timeline > 0 ? timeline : 1);
    int cmp;

    *on = false;
    if (s == NULL)
        return 0;
    if (!s->limited) {
        *on = true;
        return 0;
    }
    /* The fork's state is the parent's after its last transaction that the child also holds: a
     * point at or before the fork is a state it contains. Positions are of the same server. */
    if (state != NULL && state[0] != '\0' && s->child->fork.gtidState != NULL && s->child->fork.gtidState[0] != '\0')
        return gtidStateTextContains(flavour, s->child->fork.gtidState, state, on, err);
    cmp = segmentFileCompare(file, s->child->fork.file);
    *on = cmp < 0 || (cmp == 0 && pos <= s->child->fork.pos);
    return 0;
}

void
timelinePathViewMeta(const TimelinePath *p, const SegmentMeta *m, SegmentMeta *out) {
    const PathStep *s = stepFind(p, segmentMetaTimeline(m));
    uint64_t cut;

    segmentMetaCopy(out, m);
    if (timelinePathSegment(p, m, &cut) != TIMELINE_CUT)
        return;
    out->objectEndPos = segmentMetaObjectEndPos(m);
    out->endPos = cut;
    out->contentLen = out->fdeLen + (cut > out->startPos ? cut - out->startPos : 0);
    bvFree(out->gtidEnd);
    out->gtidEnd = bvStrdup(s->child->fork.gtidState != NULL ? s->child->fork.gtidState : "");
    snprintf(out->lastGtid, sizeof(out->lastGtid), "%s", s->child->fork.gtid);
    out->lastTimeUs = s->child->fork.timeUs;
    if (s->child->fork.transactions <= out->transactions)
        out->transactions = s->child->fork.transactions;
    out->endsFile = false;
}

bool
timelinePathHolds(const TimelinePath *p, uint32_t timeline, uint64_t *forkSeq) {
    const PathStep *s = stepFind(p, timeline);

    if (s != NULL && forkSeq != NULL)
        *forkSeq = s->limited ? s->forkSeq : UINT64_MAX;
    return s != NULL;
}

uint64_t
timelinePathNextStart(const TimelinePath *p, uint64_t after) {
    /* Step i > 0 starts where the record limiting step i - 1 says; in ascending order. */
    for (size_t i = 0; i + 1 < p->n; i++)
        if (p->steps[i].child->firstSeq > after)
            return p->steps[i].child->firstSeq;
    return 0;
}

void
timelinePathFollowCatalog(const TimelinePath *p, ArchiveCatalog *c, void (*dropped)(void *data, uint64_t seq),
                          void *data) {
    size_t kept = 0;

    for (size_t i = 0; i < c->count; i++) {
        CatalogEntry *e = c->entries[i];
        TimelineOn on = timelinePathSegment(p, &e->meta, NULL);

        if (on == TIMELINE_OFF) {
            if (dropped != NULL)
                dropped(data, e->meta.seq);
            archiveEntryFree(e);
            continue;
        }
        if (on == TIMELINE_CUT) {
            SegmentMeta v;

            timelinePathViewMeta(p, &e->meta, &v);
            segmentMetaClear(&e->meta);
            e->meta = v;
        }
        c->entries[kept++] = e;
    }
    c->count = kept;
    c->timelineView = true;
}

void
timelinePathFree(TimelinePath *p) {
    if (p == NULL)
        return;
    bvFree(p->steps);
    bvFree(p);
}
