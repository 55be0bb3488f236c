/* Continuity of a catalog: gaps between consecutive segments, and the windows between them. */
#include "archive/continuity.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "binlog/gtid.h"
#include "archive/gap.h"
#include "archive/internal.h"
#include "common/mem.h"

static void
gapAdd(ArchiveGap **gaps, size_t *n, size_t *cap, ArchiveGapKind kind, uint64_t after, uint64_t before,
       const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void
gapAdd(ArchiveGap **gaps, size_t *n, size_t *cap, ArchiveGapKind kind, uint64_t after, uint64_t before,
       const char *fmt, ...) {
    va_list ap;
    ArchiveGap *g;

    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *gaps = bvRealloc(*gaps, *cap * sizeof(**gaps));
    }
    g = &(*gaps)[(*n)++];
    g->kind = kind;
    g->accepted = kind == ARCHIVE_GAP_ACCEPTED;
    g->afterSeq = after;
    g->beforeSeq = before;
    va_start(ap, fmt);
    vsnprintf(g->message, sizeof(g->message), fmt, ap);
    va_end(ap);
}

size_t
archiveCatalogGaps(const ArchiveCatalog *c, ArchiveGap **gaps) {
    size_t n = 0, cap = 0;

    *gaps = NULL;
    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *b = &c->entries[i]->meta, *a;
        const ArchiveGapRecord *rec;
        const char *aEnd, *bStart;
        int cmp;

        if (i == 0) {
            if (b->seq > c->firstSeq) {
                char range[64];

                if (b->seq - c->firstSeq >= 2)
                    snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, c->firstSeq, b->seq - 1);
                else
                    snprintf(range, sizeof(range), "%" PRIu64, b->seq - 1);
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_MISSING, 0, b->seq,
                       "seq %s missing before '%s' (starts at %s:%" PRIu64 ")%s", range, b->name, b->file, b->startPos,
                       c->firstSeq > 1 ? "; the archive was pruned to start at that seq" : "");
            }
            continue;
        }
        a = &c->entries[i - 1]->meta;
        if (b->seq == a->seq + 1 && (rec = archiveCatalogGapRecordFind(c, b->seq)) != NULL) {
            char name[64], what[2200];

            archiveGapName(b->seq, name, sizeof(name));
            if (strcmp(rec->from.file, a->file) == 0 && rec->from.pos == a->endPos) {
                archiveGapRecordDescribe(rec, what, sizeof(what));
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_ACCEPTED, a->seq, b->seq,
                       "accepted gap between '%s' and '%s' (%s, %s%s%s): %s; the transactions in between are not "
                       "in the archive",
                       a->name, b->name, name, rec->created, rec->reason[0] ? ": " : "", rec->reason, what);
                continue;
            }
            gapAdd(gaps, &n, &cap, ARCHIVE_GAP_POSITION, a->seq, b->seq,
                   "gap record '%s' says the gap starts at %s:%" PRIu64 ", but '%s' ends at %s:%" PRIu64
                   ": the record is ignored",
                   name, rec->from.file, rec->from.pos, a->name, a->file, a->endPos);
        }
        /* A new timeline (archive/timeline.h): positions of different sources are never compared.
         * In the whole catalog it follows its parent's last segment, which may have diverged: its
         * record says where it continues (timelineCheckCatalog()); in a timeline view it follows
         * the fork, and the GTID states must meet. */
        if (segmentMetaTimeline(a) != segmentMetaTimeline(b) && !c->timelineView)
            continue;
        if (b->seq != a->seq + 1 && segmentMetaTimeline(a) == segmentMetaTimeline(b)) {
            char range[64];

            if (b->seq - a->seq == 2)
                snprintf(range, sizeof(range), "%" PRIu64, a->seq + 1);
            else
                snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, a->seq + 1, b->seq - 1);
            gapAdd(gaps, &n, &cap, ARCHIVE_GAP_MISSING, a->seq, b->seq,
                   "seq %s missing between '%s' (ends at %s:%" PRIu64 ", gtid %s) and '%s' (starts at %s:%" PRIu64
                   ", gtid %s)",
                   range, a->name, a->file, a->endPos, segmentMetaGtidEnd(a)[0] ? segmentMetaGtidEnd(a) : "unknown",
                   b->name, b->file, b->startPos, segmentMetaGtidStart(b)[0] ? segmentMetaGtidStart(b) : "unknown");
            continue;
        }
        if (a->flavour != b->flavour) {
            gapAdd(gaps, &n, &cap, ARCHIVE_GAP_FLAVOUR, a->seq, b->seq, "'%s' holds %s binlogs, '%s' %s binlogs",
                   a->name, archiveFlavourName(a->flavour), b->name, archiveFlavourName(b->flavour));
            continue;
        }
        cmp = segmentFileCompare(b->file, a->file);
        if (segmentMetaTimeline(a) == segmentMetaTimeline(b)) {
            if (cmp == 0 && b->startPos != a->endPos)
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_POSITION, a->seq, b->seq,
                       "position %s in %s: '%s' ends at %" PRIu64 ", '%s' starts at %" PRIu64,
                       b->startPos > a->endPos ? "gap" : "overlap", a->file, a->name, a->endPos, b->name, b->startPos);
            else if (cmp < 0)
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_FILE, a->seq, b->seq, "'%s' is in %s, before the file %s of '%s'",
                       b->name, b->file, a->file, a->name);
            else if (cmp > 0 && b->startPos != BINLOG_MAGIC_LEN + (uint64_t)b->fdeLen)
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_FILE, a->seq, b->seq,
                       "the start of %s is missing: '%s' follows '%s' (%s) but starts at %" PRIu64 ", not at the file's first event %" PRIu64,
                       b->file, b->name, a->name, a->file, b->startPos, BINLOG_MAGIC_LEN + (uint64_t)b->fdeLen);
        }
        aEnd = segmentMetaGtidEnd(a);
        bStart = segmentMetaGtidStart(b);
        if (aEnd[0] != '\0' && bStart[0] != '\0') {
            bool equal = false;
            Err err;

            if (gtidStateTextEqual(a->flavour, aEnd, bStart, &equal, &err) != 0)
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_GTID, a->seq, b->seq, "gtid states of '%s' and '%s' cannot be compared: %s",
                       a->name, b->name, err.msg);
            else if (!equal)
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_GTID, a->seq, b->seq,
                       "gtid gap: '%s' ends at gtid state %s, '%s' starts at %s", a->name, aEnd, b->name, bStart);
        }
    }
    return n;
}

static void
windowFill(const ArchiveCatalog *c, size_t first, size_t last, ArchiveWindow *w) {
    memset(w, 0, sizeof(*w));
    w->first = first;
    w->last = last;
    w->from = &c->entries[first]->meta;
    w->to = &c->entries[last]->meta;
    w->firstGtid = w->lastGtid = "";
    for (size_t i = first; i <= last; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;

        if (m->transactions == 0)
            continue;
        if (w->transactions == 0) {
            w->firstGtid = m->firstGtid;
            w->firstTimeUs = m->firstTimeUs;
        }
        w->lastGtid = m->lastGtid;
        w->lastTimeUs = m->lastTimeUs;
        w->transactions += m->transactions;
    }
}

size_t
archiveCatalogWindows(const ArchiveCatalog *c, ArchiveWindow **windows) {
    ArchiveGap *gaps;
    size_t ngaps = archiveCatalogGaps(c, &gaps), n = 0, start = 0, g = 0;

    *windows = NULL;
    if (c->count == 0) {
        bvFree(gaps);
        return 0;
    }
    *windows = bvCalloc(ngaps + 1, sizeof(**windows));
    for (size_t i = 1; i <= c->count; i++) {
        bool brk = i == c->count;

        while (!brk && g < ngaps && gaps[g].beforeSeq <= c->entries[i]->meta.seq) {
            if (gaps[g].beforeSeq == c->entries[i]->meta.seq && gaps[g].afterSeq != 0)
                brk = true;
            g++;
        }
        if (brk) {
            windowFill(c, start, i - 1, &(*windows)[n++]);
            start = i;
        }
    }
    bvFree(gaps);
    return n;
}

const char *
archiveGapKindName(ArchiveGapKind kind) {
    static const char *const names[] = {"missing", "position", "file", "gtid", "flavour", "accepted"};

    return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

void
archiveWindowToJson(const ArchiveWindow *w, Buf *out) {
    jsonBufPrintf(out, "{\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"from_file\":", w->from->seq, w->to->seq);
    jsonBufString(out, w->from->file, strlen(w->from->file));
    jsonBufPrintf(out, ",\"from_pos\":%" PRIu64, w->from->startPos);
    archiveJsonPutStr(out, "gtid_start", segmentMetaGtidStart(w->from));
    archiveJsonPutStr(out, "to_file", w->to->file);
    jsonBufPrintf(out, ",\"to_pos\":%" PRIu64, w->to->endPos);
    archiveJsonPutStr(out, "gtid_end", segmentMetaGtidEnd(w->to));
    archiveJsonPutStr(out, "first_gtid", w->firstGtid);
    archiveJsonPutStr(out, "last_gtid", w->lastGtid);
    jsonBufPrintf(out, ",\"first_time_us\":%" PRIu64 ",\"last_time_us\":%" PRIu64 ",\"transactions\":%" PRIu64 "}",
                  w->firstTimeUs, w->lastTimeUs, w->transactions);
}

int
archiveCatalogWindow(const ArchiveCatalog *c, ArchiveWindow *window, Err *err) {
    ArchiveWindow *all;
    size_t n = archiveCatalogWindows(c, &all);

    if (n == 0) {
        bvFree(all);
        return errSet(err, ERR_NOTFOUND, "the archive holds no segment");
    }
    *window = all[n - 1];
    bvFree(all);
    return 0;
}
