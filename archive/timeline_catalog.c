/*
 * Timelines over a loaded catalog: the catalog cut down to one timeline's path (what recover,
 * fetch and log follow), and the checks verify makes of the segments against the records.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/internal.h"
#include "archive/timeline.h"
#include "binlog/gtid.h"
#include "common/mem.h"

int
archiveCatalogFollowTimeline(Archive *a, ArchiveCatalog *c, uint32_t tip, TimelineSet **setOut, Err *err) {
    TimelineSet *set;
    TimelinePath *p;
    size_t kept = 0;

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
    for (size_t i = 0; i < c->count; i++) {
        CatalogEntry *e = c->entries[i];
        TimelineOn on = timelinePathSegment(p, &e->meta, NULL);

        if (on == TIMELINE_OFF) {
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

static void
checkSegments(const TimelineSet *set, const ArchiveCatalog *c, TimelineProblemFn *problem, void *data) {
    uint32_t newest = timelineSetNewest(set);
    char msg[512];

    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;
        uint64_t lo, hi;

        if (segmentMetaTimeline(m) > newest) {
            snprintf(msg, sizeof(msg), "labelled timeline %" PRIu32 ", but the archive's timelines are 1 to %" PRIu32,
                     segmentMetaTimeline(m), newest);
            problem(data, m->name, m->seq, msg);
            continue;
        }
        timelineSeqs(set, segmentMetaTimeline(m), &lo, &hi);
        if (m->seq < lo || m->seq > hi) {
            if (hi == UINT64_MAX)
                snprintf(msg, sizeof(msg), "labelled timeline %" PRIu32 ", whose segments start at seq %" PRIu64,
                         segmentMetaTimeline(m), lo);
            else
                snprintf(msg, sizeof(msg), "labelled timeline %" PRIu32 ", whose segments are seqs %" PRIu64 "-%" PRIu64,
                         segmentMetaTimeline(m), lo, hi);
            problem(data, m->name, m->seq, msg);
        }
    }
}

/* Where record r says its timeline leaves its parent, and where it starts. */
static void
checkRecord(const TimelineRecord *r, const ArchiveCatalog *c, TimelineProblemFn *problem, void *data) {
    char name[64], msg[SEGMENT_GTID_MAX > 4096 ? 4096 : SEGMENT_GTID_MAX];
    size_t at;
    bool equal = false;
    Err err;

    timelineName(r->timeline, name, sizeof(name));
    if (r->fork.seq >= c->firstSeq) {
        if (!archiveCatalogFind(c, r->fork.seq, &at)) {
            snprintf(msg, sizeof(msg), "its fork is in seq %" PRIu64 ", which the archive does not hold", r->fork.seq);
            problem(data, name, r->fork.seq, msg);
        } else {
            const SegmentMeta *m = &c->entries[at]->meta;

            if (segmentMetaTimeline(m) != r->parent || strcmp(m->file, r->fork.file) != 0 || r->fork.pos <= m->startPos ||
                r->fork.pos > segmentMetaObjectEndPos(m)) {
                snprintf(msg, sizeof(msg),
                         "its fork (timeline %" PRIu32 ", %s:%" PRIu64 ") is not in '%s' (timeline %" PRIu32
                         ", %s:%" PRIu64 "-%" PRIu64 ")",
                         r->parent, r->fork.file, r->fork.pos, m->name, segmentMetaTimeline(m), m->file, m->startPos,
                         segmentMetaObjectEndPos(m));
                problem(data, name, r->fork.seq, msg);
            }
        }
    }
    if (!archiveCatalogFind(c, r->firstSeq, &at)) {
        /* Below the first seq: a prune deleted it (a timeline's start is pruned like any segment). */
        if (r->firstSeq >= c->firstSeq && c->count > 0 && c->entries[c->count - 1]->meta.seq > r->firstSeq) {
            snprintf(msg, sizeof(msg), "its first segment, seq %" PRIu64 ", is not in the archive", r->firstSeq);
            problem(data, name, r->firstSeq, msg);
        }
        return;
    }
    {
        const SegmentMeta *m = &c->entries[at]->meta;

        if (segmentMetaTimeline(m) != r->timeline) {
            snprintf(msg, sizeof(msg), "its first segment '%s' is labelled timeline %" PRIu32, m->name, segmentMetaTimeline(m));
            problem(data, name, r->firstSeq, msg);
        } else if (segmentMetaGtidStart(m)[0] != '\0' &&
                   (gtidStateTextEqual(m->flavour, segmentMetaGtidStart(m), r->fork.gtidState, &equal, &err) != 0 ||
                    !equal)) {
            snprintf(msg, sizeof(msg), "its first segment '%s' starts at gtid state '%.1000s', not at the fork's '%.1000s'",
                     m->name, segmentMetaGtidStart(m), r->fork.gtidState);
            problem(data, name, r->firstSeq, msg);
        }
    }
}

void
timelineCheckCatalog(const TimelineSet *set, const ArchiveCatalog *c, TimelineProblemFn *problem, void *data) {
    checkSegments(set, c, problem, data);
    for (size_t i = 0; i < timelineSetCount(set); i++) {
        const TimelineRecord *r = timelineSetAt(set, i);

        if (r->hasFork)
            checkRecord(r, c, problem, data);
    }
}
