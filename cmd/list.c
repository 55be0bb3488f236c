/* binvault list: an archive summarised from its catalog (last segments, gaps, windows, backups), or every segment. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/backup_store.h"
#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "archive/continuity.h"
#include "archive/gap.h"
#include "archive/identity.h"
#include "archive/key.h"
#include "archive/outline.h"
#include "cmd/cmd.h"
#include "cmd/timelines.h"
#include "common/json.h"
#include "common/mem.h"

static const char *
orDash(const char *s) {
    return s != NULL && s[0] != '\0' ? s : "-";
}


/* The complete backups of an archive, where its binlogs take each, and how many are incomplete. */
typedef struct Backups {
    ArchiveBackup *list;
    ArchiveBackupReach *reach;
    bool *offMain; /* taken on an old primary after a later timeline forked from it */
    size_t count, incomplete;
} Backups;

static int
backupsLoad(Archive *a, ArchiveView *v, const ArchiveOutline *o, Backups *b, Err *err) {
    ArchiveBackupStarted *inc;

    memset(b, 0, sizeof(*b));
    if (archiveBackupList(a, &b->list, &b->count, err) != 0)
        return -1;
    if (archiveBackupListIncomplete(a, &inc, &b->incomplete, err) != 0)
        return -1;
    bvFree(inc);
    b->reach = bvCalloc(b->count + 1, sizeof(*b->reach));
    b->offMain = bvCalloc(b->count + 1, sizeof(*b->offMain));
    for (size_t i = 0; i < b->count; i++)
        if (archiveOutlineBackupReach(v, o, &b->list[i], &b->reach[i], err) != 0)
            return -1;
    /* In a forked archive, a backup off the main line reaches the end only with --timeline. */
    if (b->count > 0) {
        TimelineSet *set = NULL;
        TimelinePath *main = cmdMainLine(a, &set);

        for (size_t i = 0; main != NULL && i < b->count; i++) {
            const ArchiveBackup *k = &b->list[i];
            bool on = true;
            Err e;

            if (timelinePathHoldsPoint(main, BINLOG_FLAVOUR_MARIADB, k->timeline, k->file, k->pos, k->gtidState, &on,
                                       &e) == 0)
                b->offMain[i] = !on;
        }
        timelinePathFree(main);
        timelineSetFree(set);
    }
    return 0;
}

static void
backupsFree(Backups *b) {
    archiveBackupListFree(b->list, b->count);
    bvFree(b->reach);
    bvFree(b->offMain);
}

static void
backupsText(const Backups *b) {
    char t1[40], t2[40];

    for (size_t i = 0; i < b->count; i++) {
        const ArchiveBackup *k = &b->list[i];
        const ArchiveBackupReach *r = &b->reach[i];

        cmdFormatTime((uint64_t)k->startUs, t1, sizeof(t1));
        printf("backup %s: %s %s, %s .. %s, %" PRIu64 " bytes in %" PRIu32 " parts (%" PRIu64
               " stored); consistent at %s:%" PRIu64 ", gtid %s; ",
               k->id, k->tool, k->toolVersion, t1, (cmdFormatTime((uint64_t)k->endUs, t2, sizeof(t2)), t2),
               k->streamLen, k->parts, k->storedBytes, k->file, k->pos, orDash(k->gtidState));
        if (b->offMain[i]) {
            printf("taken on timeline %" PRIu32 " after a later timeline forked from it: off the main line (restore "
                   "--timeline %" PRIu32 " uses it)\n", k->timeline ? k->timeline : 1, k->timeline ? k->timeline : 1);
            continue;
        }
        switch (r->kind) {
        case ARCHIVE_BACKUP_REACHES_END:
        case ARCHIVE_BACKUP_REACHES_GAP:
            cmdFormatTime(r->to->lastTimeUs, t1, sizeof(t1));
            printf("restorable from seq %" PRIu64 " to %s (seq %" PRIu64 ", %s:%" PRIu64 ", gtid %s, last commit %s)\n",
                   r->fromSeq, r->kind == ARCHIVE_BACKUP_REACHES_END ? "the archive's end" : "a gap", r->to->seq,
                   r->to->file, r->to->endPos, orDash(segmentMetaGtidEnd(r->to)), t1);
            break;
        case ARCHIVE_BACKUP_AHEAD:
            printf("the archive does not reach its point yet\n");
            break;
        default:
            printf("NOT restorable: the archive's binlogs do not continue from it\n");
            break;
        }
    }
    if (b->incomplete > 0)
        printf("%zu incomplete backups (in progress, or interrupted: the next backup or prune removes them)\n",
               b->incomplete);
}

static void
backupsJson(const Backups *b, Buf *out) {
    jsonBufPrintf(out, ",\"backups\":[");
    for (size_t i = 0; i < b->count; i++) {
        const ArchiveBackup *k = &b->list[i];
        const ArchiveBackupReach *r = &b->reach[i];

        jsonBufPrintf(out, "%s{\"id\":", i ? "," : "");
        jsonBufString(out, k->id, strlen(k->id));
        jsonBufPrintf(out, ",\"tool\":");
        jsonBufString(out, k->tool, strlen(k->tool));
        jsonBufPrintf(out, ",\"tool_version\":");
        jsonBufString(out, k->toolVersion, strlen(k->toolVersion));
        jsonBufPrintf(out, ",\"start_us\":%" PRId64 ",\"end_us\":%" PRId64 ",\"server_id\":%" PRIu32 ",\"host\":",
                      k->startUs, k->endUs, k->serverId);
        jsonBufString(out, k->host, strlen(k->host));
        jsonBufPrintf(out, ",\"file\":");
        jsonBufString(out, k->file, strlen(k->file));
        jsonBufPrintf(out, ",\"pos\":%" PRIu64 ",\"gtid_state\":", k->pos);
        jsonBufString(out, k->gtidState, strlen(k->gtidState));
        jsonBufPrintf(out, ",\"stream_len\":%" PRIu64 ",\"stored_bytes\":%" PRIu64 ",\"parts\":%" PRIu32
                           ",\"restorable\":{\"kind\":\"%s\"",
                      k->streamLen, k->storedBytes, k->parts,
                      b->offMain[i] ? "off_main_line" : archiveBackupReachName(r->kind));
        if (r->to != NULL && !b->offMain[i]) {
            jsonBufPrintf(out, ",\"from_seq\":%" PRIu64 ",\"to_seq\":%" PRIu64 ",\"to_file\":", r->fromSeq,
                          r->to->seq);
            jsonBufString(out, r->to->file, strlen(r->to->file));
            jsonBufPrintf(out, ",\"to_pos\":%" PRIu64 ",\"to_gtid\":", r->to->endPos);
            jsonBufString(out, segmentMetaGtidEnd(r->to), strlen(segmentMetaGtidEnd(r->to)));
            jsonBufPrintf(out, ",\"to_time_us\":%" PRIu64, r->to->lastTimeUs);
        }
        jsonBufPrintf(out, "}}");
    }
    jsonBufPrintf(out, "],\"incomplete_backups\":%zu", b->incomplete);
}

/* Segments the summary shows, the last ones: what an operator checks first. */
#define LIST_RECENT 10

/* The flag of a segment that is stored and indexed: off the main line (diverged) or its fork. */
static const char *
lineFlag(const TimelinePath *main, const SegmentMeta *m) {
    const char *mark = cmdMainLineMark(main, m);

    return mark[0] == '\0' ? "" : strcmp(mark, "fork") == 0 ? "  fork (on the main line up to it)" : "  diverged";
}

static void
segmentsHeader(void) {
    printf("%6s  %-22s %-23s  %-24s %-24s %-23s  %-23s  %6s  %10s\n", "SEQ", "FILE", "START-END", "FIRST GTID",
           "LAST GTID", "FIRST COMMIT", "LAST COMMIT", "TXNS", "SIZE");
}

static void
segmentRow(const SegmentMeta *m, const char *flag) {
    char range[48], t1[40], t2[40];

    snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, m->startPos, m->endPos);
    cmdFormatTime(m->firstTimeUs, t1, sizeof(t1));
    cmdFormatTime(m->lastTimeUs, t2, sizeof(t2));
    printf("%6" PRIu64 "  %-22s %-23s  %-24s %-24s %-23s  %-23s  %6" PRIu64 "  %10" PRIu64 "%s\n", m->seq, m->file, range,
           orDash(m->firstGtid), orDash(m->lastGtid), t1, t2, m->transactions, m->size, flag);
}

/* Segments of the tail (the only ones a view knows to be unindexed, or indexed but not stored). */
static void
tailCounts(const ArchiveView *v, size_t *unindexed, size_t *missing) {
    const ArchiveCatalog *t = archiveViewTail(v);

    *unindexed = *missing = 0;
    for (size_t i = 0; t != NULL && i < archiveCatalogCount(t); i++) {
        if (!archiveCatalogListed(t, i, NULL))
            (*missing)++;
        else if (!archiveCatalogIndexed(t, i))
            (*unindexed)++;
    }
}

static void
identityText(Archive *a, const ArchiveIdentity *id, bool haveId) {
    if (haveId)
        printf("archive %s: %s binlogs of server_id %" PRIu32 "%s%s (%s), source %s, created %s\n", archiveUrl(a),
               id->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb", id->serverId, id->serverUuid[0] ? " " : "",
               id->serverUuid, id->serverVersion, id->source, id->created);
    else
        printf("archive %s: no binvault.json\n", archiveUrl(a));
}

/* Gaps, problems, totals, windows and backups: the end of both text listings. */
static void
outlineText(Archive *a, const ArchiveView *v, const ArchiveOutline *o, const Backups *b, size_t unindexed,
            size_t missing) {
    uint64_t segments, txns, objects, content;
    size_t nwin = archiveOutlineWindowCount(o);
    char t1[40], t2[40];

    for (size_t i = 0; i < archiveOutlineGapCount(o); i++) {
        const ArchiveGap *g = archiveOutlineGapAt(o, i);

        printf("%s: %s\n", g->accepted ? "accepted gap" : "gap", g->message);
    }
    for (size_t i = 0; i < archiveOutlineBranchGapCount(o); i++) {
        uint32_t tl;
        const ArchiveGap *g = archiveOutlineBranchGapAt(o, i, &tl);

        printf("%s in timeline %" PRIu32 "'s diverged branch: %s\n", g->accepted ? "accepted gap" : "gap", tl,
               g->message);
    }
    for (size_t i = 0; i < archiveViewProblemCount(v); i++)
        printf("problem: %s\n", archiveViewProblem(v, i));
    archiveViewTotals(v, &segments, &txns, &objects, &content);
    printf("%" PRIu64 " segments, %" PRIu64 " bytes (%" PRIu64 " bytes of binlog), %" PRIu64 " transactions", segments,
           objects, content, txns);
    if (archiveOutlineOffPath(o) > 0)
        printf(" (%" PRIu64 " on the main line, %" PRIu64 " on diverged branches)", txns - archiveOutlineOffPath(o),
               archiveOutlineOffPath(o));
    if (unindexed > 0)
        printf(", %zu not yet indexed", unindexed);
    if (missing > 0)
        printf(", %zu MISSING from the store", missing);
    printf("\n");
    for (size_t i = 0; i < nwin; i++) {
        const ArchiveWindow *w = archiveOutlineWindowAt(o, i);

        cmdFormatTime(w->firstTimeUs, t1, sizeof(t1));
        cmdFormatTime(w->lastTimeUs, t2, sizeof(t2));
        printf("%s seq %" PRIu64 "-%" PRIu64 ": %s:%" PRIu64 " .. %s:%" PRIu64 ", gtid %s .. %s, commits %s .. %s",
               nwin == 1 ? "window" : i + 1 == nwin ? "window (restorable, last)" : "window", w->from->seq, w->to->seq,
               w->from->file, w->from->startPos, w->to->file, w->to->endPos, orDash(w->firstGtid), orDash(w->lastGtid),
               t1, t2);
        /* Only where it differs from the totals (the output of an archive that never diverged stays
         * what it was). */
        if (archiveOutlineOffPath(o) > 0)
            printf(", %" PRIu64 " transactions of the main line", w->transactions);
        printf("\n");
    }
    cmdTimelinesPrint(a, stdout);
    backupsText(b);
}

/* The summary: identity, prune point, the last LIST_RECENT segments, then the outline. The last
 * segments come from the view's tail when it holds them (no index chunk read, no listing again). */
static int
listSummary(Archive *a, const ArchiveIdentity *id, bool haveId, ArchiveView *v, const ArchiveOutline *o,
            const Backups *b, Err *err) {
    uint64_t last = archiveViewLastSeq(v), first = archiveViewFirstSeq(v), segments;
    const ArchiveCatalog *tail = archiveViewTail(v), *recent = tail;
    ArchiveCatalog *loaded = NULL;
    TimelineSet *set = NULL;
    TimelinePath *main;
    size_t unindexed, missing, from = 0, n;

    identityText(a, id, haveId);
    if (tail == NULL || (archiveCatalogCount(tail) < LIST_RECENT && archiveViewSpanCount(v) > 0)) {
        if ((loaded = archiveViewLoadRange(v, last >= first + LIST_RECENT ? last - LIST_RECENT + 1 : first, last,
                                           err)) == NULL)
            return -1;
        recent = loaded;
    }
    n = archiveCatalogCount(recent);
    if (n > LIST_RECENT)
        from = n - LIST_RECENT;
    cmdPrintPrune(recent);
    if (n == 0) {
        printf("no segments\n");
        backupsText(b);
        archiveCatalogFree(loaded);
        return 0;
    }
    archiveViewTotals(v, &segments, NULL, NULL, NULL);
    if (segments > n - from)
        printf("the last %zu of %" PRIu64 " segments ('list --all' prints every one):\n", n - from, segments);
    segmentsHeader();
    main = cmdMainLine(a, &set);
    for (size_t i = from; i < n; i++)
        segmentRow(archiveCatalogAt(recent, i), !archiveCatalogListed(recent, i, NULL)   ? "  MISSING"
                                                 : !archiveCatalogIndexed(recent, i) ? "  (not indexed)"
                                                                                     : lineFlag(main, archiveCatalogAt(recent, i)));
    timelinePathFree(main);
    timelineSetFree(set);
    archiveCatalogFree(loaded);
    tailCounts(v, &unindexed, &missing);
    outlineText(a, v, o, b, unindexed, missing);
    return 0;
}

/* Every segment, streamed block by block through a cursor. */
static int
listAll(Archive *a, const ArchiveIdentity *id, bool haveId, ArchiveView *v, const ArchiveOutline *o, const Backups *b,
        Err *err) {
    ArchiveCatalog *edge;
    ArchiveCursor *cur;
    uint8_t *present = NULL;
    uint64_t first = archiveViewFirstSeq(v);
    const SegmentMeta *m;
    bool indexed;
    size_t unindexed = 0, missing = 0;
    TimelineSet *set = NULL;
    TimelinePath *main;
    int rc;

    identityText(a, id, haveId);
    if ((edge = archiveViewLoadRange(v, archiveViewLastSeq(v), archiveViewLastSeq(v), err)) == NULL)
        return -1;
    cmdPrintPrune(edge);
    archiveCatalogFree(edge);
    if (archiveViewLastSeq(v) == 0) {
        printf("no segments\n");
        backupsText(b);
        return 0;
    }
    if (archiveOutlineStored(a, first, archiveViewLastSeq(v), &present, err) != 0 ||
        (cur = archiveViewCursor(v, first, archiveViewLastSeq(v), err)) == NULL) {
        bvFree(present);
        return -1;
    }
    segmentsHeader();
    main = cmdMainLine(a, &set);
    while ((rc = archiveCursorNext(cur, &m, &indexed, err)) == 1) {
        const char *flag = lineFlag(main, m);

        if (!archiveOutlineHolds(present, first, m->seq)) {
            flag = "  MISSING";
            missing++;
        } else if (!indexed) {
            flag = "  (not indexed)";
            unindexed++;
        }
        segmentRow(m, flag);
    }
    timelinePathFree(main);
    timelineSetFree(set);
    archiveCursorFree(cur);
    bvFree(present);
    if (rc != 0)
        return -1;
    outlineText(a, v, o, b, unindexed, missing);
    return 0;
}

static void
identityJson(Archive *a, const ArchiveIdentity *id, bool haveId, Buf *out) {
    jsonBufPrintf(out, "{\"archive\":");
    jsonBufString(out, archiveUrl(a), strlen(archiveUrl(a)));
    jsonBufPrintf(out, ",\"identity\":");
    if (haveId) {
        jsonBufPrintf(out, "{\"flavour\":\"%s\",\"server_id\":%" PRIu32 ",\"server_uuid\":",
                      id->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb", id->serverId);
        jsonBufString(out, id->serverUuid, strlen(id->serverUuid));
        jsonBufPrintf(out, ",\"server_version\":");
        jsonBufString(out, id->serverVersion, strlen(id->serverVersion));
        jsonBufPrintf(out, ",\"source\":");
        jsonBufString(out, id->source, strlen(id->source));
        jsonBufPrintf(out, ",\"created\":");
        jsonBufString(out, id->created, strlen(id->created));
        jsonBufPrintf(out, "}");
    } else {
        jsonBufPrintf(out, "null");
    }
}

static void
flush(Buf *out) {
    fwrite(out->data, 1, out->len, stdout);
    bufClear(out);
}

/* The whole document, as it always was, written as it is made: one segment at a time. */
static int
listJson(Archive *a, const ArchiveIdentity *id, bool haveId, ArchiveView *v, const ArchiveOutline *o, const Backups *b,
         Err *err) {
    Buf *out = bufNew(4096);
    TimelineSet *set = NULL;
    TimelinePath *main = cmdMainLine(a, &set);
    ArchiveCatalog *edge;
    ArchiveCursor *cur = NULL;
    uint8_t *present = NULL;
    uint64_t first = archiveViewFirstSeq(v);
    const SegmentMeta *m;
    bool indexed;
    uint64_t segments, txns, objects, content;
    size_t nwin = archiveOutlineWindowCount(o), ngaps = archiveOutlineGapCount(o), n = 0;
    int rc = 0;

    identityJson(a, id, haveId, out);
    if ((edge = archiveViewLoadRange(v, archiveViewLastSeq(v), archiveViewLastSeq(v), err)) == NULL) {
        bufFree(out);
        return -1;
    }
    cmdPruneJson(edge, out);
    jsonBufPrintf(out, ",\"segments\":[");
    if (archiveViewLastSeq(v) > 0 &&
        (archiveOutlineStored(a, first, archiveViewLastSeq(v), &present, err) != 0 ||
         (cur = archiveViewCursor(v, first, archiveViewLastSeq(v), err)) == NULL))
        rc = -1;
    while (rc == 0 && cur != NULL && (rc = archiveCursorNext(cur, &m, &indexed, err)) == 1) {
        if (n++ > 0)
            bufAppend(out, ",", 1);
        segmentMetaToJson(m, true, out);
        out->len--; /* reopen the object */
        jsonBufPrintf(out, ",\"indexed\":%s,\"stored\":%s", indexed ? "true" : "false",
                      archiveOutlineHolds(present, first, m->seq) ? "true" : "false");
        if (main != NULL)
            jsonBufPrintf(out, ",\"main_line\":\"%s\"", cmdMainLineMark(main, m)[0] ? cmdMainLineMark(main, m) : "on");
        bufAppend(out, "}", 1);
        if (out->len > 64 * 1024)
            flush(out);
        rc = 0;
    }
    archiveCursorFree(cur);
    bvFree(present);
    timelinePathFree(main);
    timelineSetFree(set);
    if (rc != 0) {
        archiveCatalogFree(edge);
        bufFree(out);
        return -1;
    }
    archiveViewTotals(v, &segments, &txns, &objects, &content);
    jsonBufPrintf(out, "],\"summary\":{\"segments\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"content_bytes\":%" PRIu64
                       ",\"transactions\":%" PRIu64, segments, objects, content, txns);
    if (archiveOutlineOffPath(o) > 0)
        jsonBufPrintf(out, ",\"main_line_transactions\":%" PRIu64, txns - archiveOutlineOffPath(o));
    jsonBufPrintf(out, ",\"contiguous_seq\":%" PRIu64 "},\"windows\":[", archiveViewContiguousSeq(v));
    for (size_t i = 0; i < nwin; i++) {
        if (i > 0)
            bufAppend(out, ",", 1);
        archiveWindowToJson(archiveOutlineWindowAt(o, i), out);
    }
    jsonBufPrintf(out, "],\"gaps\":[");
    for (size_t i = 0; i < ngaps; i++) {
        const ArchiveGap *g = archiveOutlineGapAt(o, i);
        ArchiveCatalog *pair = g->accepted ? archiveViewLoadRange(v, g->afterSeq, g->beforeSeq, err) : NULL;
        const ArchiveGapRecord *rec = pair != NULL ? archiveCatalogGapRecordFind(pair, g->beforeSeq) : NULL;

        jsonBufPrintf(out, "%s{\"kind\":\"%s\",\"after_seq\":%" PRIu64 ",\"before_seq\":%" PRIu64
                           ",\"accepted\":%s,\"message\":",
                      i ? "," : "", archiveGapKindName(g->kind), g->afterSeq, g->beforeSeq,
                      g->accepted ? "true" : "false");
        jsonBufString(out, g->message, strlen(g->message));
        if (rec != NULL) {
            jsonBufPrintf(out, ",\"record\":");
            archiveGapRecordToJson(rec, out);
        }
        archiveCatalogFree(pair);
        bufAppend(out, "}", 1);
    }
    jsonBufPrintf(out, "]");
    /* Only when a diverged branch has a break: the document stays what it was otherwise. */
    for (size_t i = 0; i < archiveOutlineBranchGapCount(o); i++) {
        uint32_t tl;
        const ArchiveGap *g = archiveOutlineBranchGapAt(o, i, &tl);

        jsonBufPrintf(out, "%s{\"timeline\":%" PRIu32 ",\"kind\":\"%s\",\"after_seq\":%" PRIu64
                           ",\"before_seq\":%" PRIu64 ",\"accepted\":%s,\"message\":",
                      i ? "," : ",\"branch_gaps\":[", tl, archiveGapKindName(g->kind), g->afterSeq, g->beforeSeq,
                      g->accepted ? "true" : "false");
        jsonBufString(out, g->message, strlen(g->message));
        bufAppend(out, "}", 1);
    }
    if (archiveOutlineBranchGapCount(o) > 0)
        jsonBufPrintf(out, "]");
    cmdTimelinesJson(a, out);
    jsonBufPrintf(out, ",\"problems\":[");
    for (size_t i = 0; i < archiveViewProblemCount(v); i++) {
        if (i > 0)
            bufAppend(out, ",", 1);
        jsonBufString(out, archiveViewProblem(v, i), strlen(archiveViewProblem(v, i)));
    }
    jsonBufPrintf(out, "]");
    /* Only with backups: the document of an archive without any stays what it was. */
    if (b->count > 0 || b->incomplete > 0)
        backupsJson(b, out);
    jsonBufPrintf(out, "}\n");
    flush(out);
    bufFree(out);
    archiveCatalogFree(edge);
    return 0;
}

typedef struct ListOpts {
    char *archive;
    StorageOptions storage;
    bool json;
    bool all;
} ListOpts;

#define LIST_STORAGE(field) offsetof(ListOpts, storage.field)

static const OptDef listDefs[] = {
    CMD_ARCHIVE_OPTDEFS(offsetof(ListOpts, archive), LIST_STORAGE),
    {"all", OPT_BOOL, NULL, 0, 0, 0, offsetof(ListOpts, all), NULL, "print every segment, not the last ones", NULL,
     NULL},
    {"json", OPT_BOOL, NULL, 0, 0, 0, offsetof(ListOpts, json), NULL,
     "print one JSON document instead, with every segment", NULL, NULL},
};

static const OptSet listSet = {
    "list",
    "binvault list --archive URL [--all] [--json]",
    "Summarises an archive from its catalog: the last segments (seq, binlog file, start-end\n"
    "positions, first and last GTID, first and last commit time in UTC, transactions, object size),\n"
    "the gaps in its continuity, its size, its windows with the restorable one (from which position,\n"
    "GTID and time to which), the point it was pruned to, and the complete base backups, each with the\n"
    "point it is consistent at and how far the archive's binlogs take it (restorable to the archive's\n"
    "end, to a gap, not yet, or not at all). It reads the catalog's summaries and a few index chunks,\n"
    "whatever the archive's size. --all lists every segment (streamed, block by block), flagging those\n"
    "not indexed yet or missing from the store. Segments are not read: 'binvault verify' does that.\n"
    "--json prints one JSON document instead, with every segment.\n\n" CMD_STORAGE_HELP,
    listDefs,
    sizeof(listDefs) / sizeof(listDefs[0]),
    NULL,
    0,
    0,
};

/* The listing of the archive at url, printed; the exit code. */
static int listRun(const ListOpts *o);

int
cmdList(int argc, char **argv) {
    ListOpts o = {0};
    int rc;

    if (!cmdOptions(&listSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    rc = listRun(&o);
    optFree(&listSet, &o);
    return rc;
}

/* The windows of a forked archive as the main line sees them (a diverged branch is not restored by
 * default): its transactions counted out. */
static int
followMainLine(Archive *a, ArchiveView *v, ArchiveOutline *o, Err *err) {
    TimelineSet *set = NULL;
    TimelinePath *main = cmdMainLine(a, &set);
    int rc = main != NULL ? archiveOutlineFollow(o, v, set, main, err) : 0;

    timelinePathFree(main);
    timelineSetFree(set);
    return rc;
}

static int
listRun(const ListOpts *o) {
    bool haveId;
    Storage *storage;
    Archive *a;
    ArchiveIdentity id;
    ArchiveView *v = NULL;
    ArchiveOutline *outline = NULL;
    Backups b = {0};
    Err err = {0};
    int rc = -1;

    if ((storage = cmdOpenArchive(o->archive, &o->storage, &err)) == NULL)
        return cmdFail(&err);
    a = archiveNew(storage);
    haveId = archiveIdentityRead(a, &id, &err) == 0;
    if (haveId || err.code == ERR_NOTFOUND) {
        errClear(&err);
        if ((v = archiveViewOpen(a, ARCHIVE_LOAD_DISCOVER | ARCHIVE_LOAD_TOLERANT, &err)) != NULL &&
            (outline = archiveOutlineNew(v, &err)) != NULL && followMainLine(a, v, outline, &err) == 0 &&
            backupsLoad(a, v, outline, &b, &err) == 0)
            rc = o->json  ? listJson(a, &id, haveId, v, outline, &b, &err)
                 : o->all ? listAll(a, &id, haveId, v, outline, &b, &err)
                          : listSummary(a, &id, haveId, v, outline, &b, &err);
    }
    fflush(stdout);
    backupsFree(&b);
    archiveOutlineFree(outline);
    archiveViewFree(v);
    archiveFree(a);
    storageFree(storage);
    return rc == 0 ? 0 : cmdFail(&err);
}
