/* The timelines and diverged branches of an archive, printed (cmd/timelines.h). */
#include "cmd/timelines.h"

#include <inttypes.h>
#include <string.h>

#include "archive/prune.h"
#include "archive/timeline.h"
#include "common/json.h"

static int
pruneSeqCb(const char *name, uint64_t size, void *data, Err *err) {
    uint64_t seq;

    (void)size;
    (void)err;
    if (archivePruneNameParse(name, &seq) == 0 && seq > *(uint64_t *)data)
        *(uint64_t *)data = seq;
    return 0;
}

/* The archive's first seq from its prune records (prune/ holds one or two objects), to tell a
 * diverged branch a prune deleted (--drop-diverged) from one still kept: 1 when never pruned. */
static uint64_t
firstSeq(Archive *a) {
    uint64_t seq = 1;
    Err err = {0};

    if (storageList(archiveStorage(a), ARCHIVE_PRUNE_PREFIX, pruneSeqCb, &seq, &err) != 0)
        return 1;
    return seq;
}

static bool
pruned(const TimelineRecord *r, uint64_t first) {
    return archivePruneDivergedFate(r, first, first) == ARCHIVE_PRUNE_DIVERGED_GONE;
}

size_t
cmdTimelinesPrint(Archive *a, FILE *out) {
    TimelineSet *set;
    Err err = {0};
    char text[2048];
    uint64_t first;
    size_t n = 0;

    if (timelineSetLoad(a, &set, &err) != 0) {
        fprintf(out, "warning: %s\n", err.msg);
        return 0;
    }
    if (timelineSetForked(set)) {
        for (size_t i = 0; i < timelineSetCount(set); i++) {
            const TimelineRecord *r = timelineSetAt(set, i);

            fprintf(out, "timeline %" PRIu32 ": server_id %" PRIu32 " at %s from seq %" PRIu64, r->timeline,
                    r->source.serverId, r->source.host, r->firstSeq);
            if (r->hasFork)
                fprintf(out, " (forks from timeline %" PRIu32 " at %s:%" PRIu64 ", gtid state %s)", r->parent,
                        r->fork.file, r->fork.pos, r->fork.gtidState);
            fputc('\n', out);
        }
        fprintf(out, "main line: timeline %" PRIu32 "\n", timelineSetNewest(set));
    }
    first = firstSeq(a);
    for (size_t i = 0; i < timelineSetDivergedCount(set); i++) {
        const TimelineRecord *r = timelineSetDivergedAt(set, i);

        if (pruned(r, first)) {
            fprintf(out, "note: the diverged branch of timeline %" PRIu32 " at the fork of timeline %" PRIu32 " (%" PRIu64
                         " transactions, seqs %" PRIu64 "-%" PRIu64 ") was pruned\n",
                    r->parent, r->timeline, r->diverged.transactions, r->diverged.firstSeq, r->diverged.lastSeq);
            continue;
        }
        timelineDescribeDiverged(r, text, sizeof(text));
        fprintf(out, "warning: %s\n", text);
        n++;
    }
    timelineSetFree(set);
    return n;
}

void
cmdTimelinesJson(Archive *a, Buf *out) {
    TimelineSet *set;
    Err err = {0};
    char text[2048];
    uint64_t first;

    if (timelineSetLoad(a, &set, &err) != 0) {
        jsonBufPrintf(out, ",\"timelines_error\":");
        jsonBufString(out, err.msg, strlen(err.msg));
        return;
    }
    if (!timelineSetForked(set)) {
        timelineSetFree(set);
        return;
    }
    jsonBufPrintf(out, ",\"main_timeline\":%" PRIu32 ",\"timelines\":[", timelineSetNewest(set));
    for (size_t i = 0; i < timelineSetCount(set); i++) {
        if (i > 0)
            bufAppend(out, ",", 1);
        timelineRecordToJson(timelineSetAt(set, i), out);
    }
    jsonBufPrintf(out, "],\"diverged\":[");
    first = firstSeq(a);
    for (size_t i = 0; i < timelineSetDivergedCount(set); i++) {
        const TimelineRecord *r = timelineSetDivergedAt(set, i);
        const TimelineDiverged *d = &r->diverged;

        timelineDescribeDiverged(r, text, sizeof(text));
        jsonBufPrintf(out, "%s{\"timeline\":%" PRIu32 ",\"parent\":%" PRIu32 ",\"transactions\":%" PRIu64
                           ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"first_time_us\":%" PRIu64
                           ",\"last_time_us\":%" PRIu64 ",\"first_gtid\":",
                      i ? "," : "", r->timeline, r->parent, d->transactions, d->firstSeq, d->lastSeq, d->firstTimeUs,
                      d->lastTimeUs);
        jsonBufString(out, d->firstGtid, strlen(d->firstGtid));
        jsonBufPrintf(out, ",\"last_gtid\":");
        jsonBufString(out, d->lastGtid, strlen(d->lastGtid));
        jsonBufPrintf(out, ",\"message\":");
        jsonBufString(out, text, strlen(text));
        jsonBufPrintf(out, ",\"pruned\":%s}", pruned(r, first) ? "true" : "false");
    }
    bufAppend(out, "]", 1);
    timelineSetFree(set);
}

int
cmdTimelinesSummary(Archive *a, char *out, size_t size) {
    TimelineSet *set;
    Err err = {0};
    uint64_t txns = 0, first;
    uint32_t last = 0;
    size_t n = 0;
    int len = 0;

    if (size == 0)
        return 0;
    out[0] = '\0';
    if (timelineSetLoad(a, &set, &err) != 0)
        return snprintf(out, size, "; timelines not read: %s", err.msg);
    first = firstSeq(a);
    for (size_t i = 0; i < timelineSetDivergedCount(set); i++) {
        if (pruned(timelineSetDivergedAt(set, i), first))
            continue;
        txns += timelineSetDivergedAt(set, i)->diverged.transactions;
        last = timelineSetDivergedAt(set, i)->timeline;
        n++;
    }
    if (n > 0)
        len = snprintf(out, size,
                       "; warning: %" PRIu64 " transaction%s of an old primary diverged at %zu failover%s (the last "
                       "to timeline %" PRIu32 "): kept apart from the main line, 'binvault list' names them",
                       txns, txns == 1 ? "" : "s", n, n == 1 ? "" : "s", last);
    timelineSetFree(set);
    return len < 0 ? 0 : (size_t)len < size ? len : (int)size - 1;
}

TimelinePath *
cmdMainLine(Archive *a, TimelineSet **set) {
    TimelinePath *p = NULL;
    Err err = {0};

    *set = NULL;
    if (timelineSetLoad(a, set, &err) != 0)
        return NULL;
    if (timelineSetForked(*set))
        p = timelinePathNew(*set, 0, &err);
    if (p == NULL) {
        timelineSetFree(*set);
        *set = NULL;
    }
    return p;
}

const char *
cmdMainLineMark(const TimelinePath *main, const SegmentMeta *m) {
    if (main == NULL)
        return "";
    switch (timelinePathSegment(main, m, NULL)) {
    case TIMELINE_OFF: return "diverged";
    case TIMELINE_CUT: return "fork";
    default: return "";
    }
}
