/* binvault list: an archive's segments, its gaps and its restorable window, from its index. */
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
    size_t count, incomplete;
} Backups;

static int
backupsLoad(Archive *a, const ArchiveCatalog *c, Backups *b, Err *err) {
    ArchiveBackupStarted *inc;

    memset(b, 0, sizeof(*b));
    if (archiveBackupList(a, &b->list, &b->count, err) != 0)
        return -1;
    if (archiveBackupListIncomplete(a, &inc, &b->incomplete, err) != 0)
        return -1;
    bvFree(inc);
    b->reach = bvCalloc(b->count + 1, sizeof(*b->reach));
    for (size_t i = 0; i < b->count; i++)
        if (archiveBackupReach(c, &b->list[i], &b->reach[i], err) != 0)
            return -1;
    return 0;
}

static void
backupsFree(Backups *b) {
    archiveBackupListFree(b->list, b->count);
    bvFree(b->reach);
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
                      k->streamLen, k->storedBytes, k->parts, archiveBackupReachName(r->kind));
        if (r->to != NULL) {
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

static void
listText(Archive *a, const ArchiveIdentity *id, bool haveId, const ArchiveCatalog *c, const Backups *b) {
    TimelineSet *set = NULL;
    TimelinePath *main = NULL;
    ArchiveGap *gaps;
    ArchiveWindow *windows;
    size_t ngaps = archiveCatalogGaps(c, &gaps), nwin = archiveCatalogWindows(c, &windows), unindexed = 0, missing = 0;
    uint64_t objects, content, txns = 0;
    char t1[40], t2[40];

    if (haveId)
        printf("archive %s: %s binlogs of server_id %" PRIu32 "%s%s (%s), source %s, created %s\n", archiveUrl(a),
               id->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb", id->serverId, id->serverUuid[0] ? " " : "",
               id->serverUuid, id->serverVersion, id->source, id->created);
    else
        printf("archive %s: no binvault.json\n", archiveUrl(a));
    cmdPrintPrune(c);
    if (archiveCatalogCount(c) == 0) {
        printf("no segments\n");
        backupsText(b);
        bvFree(gaps);
        bvFree(windows);
        return;
    }
    printf("%6s  %-22s %-23s  %-24s %-24s %-23s  %-23s  %6s  %10s\n", "SEQ", "FILE", "START-END", "FIRST GTID",
           "LAST GTID", "FIRST COMMIT", "LAST COMMIT", "TXNS", "SIZE");
    main = cmdMainLine(a, &set);
    for (size_t i = 0; i < archiveCatalogCount(c); i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);
        char range[48];
        const char *flag = "", *mark = cmdMainLineMark(main, m);

        snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, m->startPos, m->endPos);
        cmdFormatTime(m->firstTimeUs, t1, sizeof(t1));
        cmdFormatTime(m->lastTimeUs, t2, sizeof(t2));
        if (!archiveCatalogListed(c, i, NULL)) {
            flag = "  MISSING";
            missing++;
        } else if (!archiveCatalogIndexed(c, i)) {
            flag = "  (not indexed)";
            unindexed++;
        } else if (mark[0] != '\0') {
            flag = strcmp(mark, "fork") == 0 ? "  fork (on the main line up to it)" : "  diverged";
        }
        printf("%6" PRIu64 "  %-22s %-23s  %-24s %-24s %-23s  %-23s  %6" PRIu64 "  %10" PRIu64 "%s\n", m->seq, m->file,
               range, orDash(m->firstGtid), orDash(m->lastGtid), t1, t2, m->transactions, m->size, flag);
        txns += m->transactions;
    }
    for (size_t i = 0; i < ngaps; i++)
        printf("%s: %s\n", gaps[i].accepted ? "accepted gap" : "gap", gaps[i].message);
    for (size_t i = 0; i < archiveCatalogProblemCount(c); i++)
        printf("problem: %s\n", archiveCatalogProblem(c, i));
    archiveCatalogTotals(c, &objects, &content);
    printf("%zu segments, %" PRIu64 " bytes (%" PRIu64 " bytes of binlog), %" PRIu64 " transactions", archiveCatalogCount(c),
           objects, content, txns);
    if (unindexed > 0)
        printf(", %zu not yet indexed", unindexed);
    if (missing > 0)
        printf(", %zu MISSING from the store", missing);
    printf("\n");
    for (size_t i = 0; i < nwin; i++) {
        const ArchiveWindow *w = &windows[i];

        cmdFormatTime(w->firstTimeUs, t1, sizeof(t1));
        cmdFormatTime(w->lastTimeUs, t2, sizeof(t2));
        printf("%s seq %" PRIu64 "-%" PRIu64 ": %s:%" PRIu64 " .. %s:%" PRIu64 ", gtid %s .. %s, commits %s .. %s\n",
               nwin == 1 ? "window" : i + 1 == nwin ? "window (restorable, last)" : "window", w->from->seq, w->to->seq,
               w->from->file, w->from->startPos, w->to->file, w->to->endPos, orDash(w->firstGtid), orDash(w->lastGtid),
               t1, t2);
    }
    cmdTimelinesPrint(a, stdout);
    backupsText(b);
    timelinePathFree(main);
    timelineSetFree(set);
    bvFree(gaps);
    bvFree(windows);
}

static void
listJson(Archive *a, const ArchiveIdentity *id, bool haveId, const ArchiveCatalog *c, const Backups *b) {
    TimelineSet *set;
    TimelinePath *main = cmdMainLine(a, &set);
    Buf *out = bufNew(4096);
    ArchiveGap *gaps;
    ArchiveWindow *windows;
    size_t ngaps = archiveCatalogGaps(c, &gaps), nwin = archiveCatalogWindows(c, &windows);
    uint64_t objects, content, txns = 0;

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
    cmdPruneJson(c, out);
    jsonBufPrintf(out, ",\"segments\":[");
    for (size_t i = 0; i < archiveCatalogCount(c); i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);

        if (i > 0)
            bufAppend(out, ",", 1);
        segmentMetaToJson(m, true, out);
        out->len--; /* reopen the object */
        jsonBufPrintf(out, ",\"indexed\":%s,\"stored\":%s", archiveCatalogIndexed(c, i) ? "true" : "false",
                      archiveCatalogListed(c, i, NULL) ? "true" : "false");
        if (main != NULL)
            jsonBufPrintf(out, ",\"main_line\":\"%s\"", cmdMainLineMark(main, m)[0] ? cmdMainLineMark(main, m) : "on");
        bufAppend(out, "}", 1);
        txns += m->transactions;
    }
    archiveCatalogTotals(c, &objects, &content);
    jsonBufPrintf(out, "],\"summary\":{\"segments\":%zu,\"bytes\":%" PRIu64 ",\"content_bytes\":%" PRIu64
                       ",\"transactions\":%" PRIu64 ",\"contiguous_seq\":%" PRIu64 "},\"windows\":[",
                  archiveCatalogCount(c), objects, content, txns, archiveCatalogContiguousSeq(c));
    for (size_t i = 0; i < nwin; i++) {
        if (i > 0)
            bufAppend(out, ",", 1);
        archiveWindowToJson(&windows[i], out);
    }
    jsonBufPrintf(out, "],\"gaps\":[");
    for (size_t i = 0; i < ngaps; i++) {
        const ArchiveGapRecord *rec = gaps[i].accepted ? archiveCatalogGapRecordFind(c, gaps[i].beforeSeq) : NULL;

        jsonBufPrintf(out, "%s{\"kind\":\"%s\",\"after_seq\":%" PRIu64 ",\"before_seq\":%" PRIu64
                           ",\"accepted\":%s,\"message\":",
                      i ? "," : "", archiveGapKindName(gaps[i].kind), gaps[i].afterSeq, gaps[i].beforeSeq,
                      gaps[i].accepted ? "true" : "false");
        jsonBufString(out, gaps[i].message, strlen(gaps[i].message));
        if (rec != NULL) {
            jsonBufPrintf(out, ",\"record\":");
            archiveGapRecordToJson(rec, out);
        }
        bufAppend(out, "}", 1);
    }
    jsonBufPrintf(out, "]");
    cmdTimelinesJson(a, out);
    jsonBufPrintf(out, ",\"problems\":[");
    for (size_t i = 0; i < archiveCatalogProblemCount(c); i++) {
        if (i > 0)
            bufAppend(out, ",", 1);
        jsonBufString(out, archiveCatalogProblem(c, i), strlen(archiveCatalogProblem(c, i)));
    }
    jsonBufPrintf(out, "]");
    /* Only with backups: the document of an archive without any stays what it was. */
    if (b->count > 0 || b->incomplete > 0)
        backupsJson(b, out);
    jsonBufPrintf(out, "}\n");
    fwrite(out->data, 1, out->len, stdout);
    bufFree(out);
    timelinePathFree(main);
    timelineSetFree(set);
    bvFree(gaps);
    bvFree(windows);
}

typedef struct ListOpts {
    char *archive;
    StorageOptions storage;
    bool json;
} ListOpts;

#define LIST_STORAGE(field) offsetof(ListOpts, storage.field)

static const OptDef listDefs[] = {
    CMD_ARCHIVE_OPTDEFS(offsetof(ListOpts, archive), LIST_STORAGE),
    {"json", OPT_BOOL, NULL, 0, 0, 0, offsetof(ListOpts, json), NULL, "print one JSON document instead", NULL, NULL},
};

static const OptSet listSet = {
    "list",
    "binvault list --archive URL [--json]",
    "Lists the segments of an archive from its index (and the segments stored but not yet indexed):\n"
    "seq, binlog file, start-end positions, first and last GTID, first and last commit time (UTC),\n"
    "transactions and object size; then the gaps in its continuity and a summary with the restorable\n"
    "window (from which position, GTID and time to which); then the complete base backups, each with\n"
    "the point it is consistent at and how far the archive's binlogs take it (restorable to the\n"
    "archive's end, to a gap, not yet, or not at all). Segments are not read: 'binvault verify'\n"
    "does that. --json prints one JSON document instead.\n\n" CMD_STORAGE_HELP,
    listDefs,
    sizeof(listDefs) / sizeof(listDefs[0]),
    NULL,
    0,
    0,
};

/* The listing of the archive at url, printed; the exit code. */
static int listRun(const char *url, const StorageOptions *storageOpts, bool json);

int
cmdList(int argc, char **argv) {
    ListOpts o = {0};
    int rc;

    if (!cmdOptions(&listSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    rc = listRun(o.archive, &o.storage, o.json);
    optFree(&listSet, &o);
    return rc;
}

static int
listRun(const char *url, const StorageOptions *storageOpts, bool json) {
    bool haveId;
    Storage *storage;
    Archive *a;
    ArchiveIdentity id;
    ArchiveCatalog *c;
    Backups b;
    Err err = {0};

    if ((storage = cmdOpenArchive(url, storageOpts, &err)) == NULL)
        return cmdFail(&err);
    a = archiveNew(storage);
    haveId = archiveIdentityRead(a, &id, &err) == 0;
    if (!haveId && err.code != ERR_NOTFOUND) {
        archiveFree(a);
        storageFree(storage);
        return cmdFail(&err);
    }
    c = archiveCatalogLoad(a, ARCHIVE_LOAD_DISCOVER | ARCHIVE_LOAD_TOLERANT, &err);
    if (c == NULL) {
        archiveFree(a);
        storageFree(storage);
        return cmdFail(&err);
    }
    if (backupsLoad(a, c, &b, &err) != 0) {
        backupsFree(&b);
        archiveCatalogFree(c);
        archiveFree(a);
        storageFree(storage);
        return cmdFail(&err);
    }
    if (json)
        listJson(a, &id, haveId, c, &b);
    else
        listText(a, &id, haveId, c, &b);
    backupsFree(&b);
    archiveCatalogFree(c);
    archiveFree(a);
    storageFree(storage);
    return 0;
}
