/* binvault list: an archive's segments, its gaps and its restorable window, from its index. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "archive/continuity.h"
#include "archive/gap.h"
#include "archive/identity.h"
#include "archive/key.h"
#include "cmd/cmd.h"
#include "common/json.h"
#include "common/mem.h"

static const char *
orDash(const char *s) {
    return s != NULL && s[0] != '\0' ? s : "-";
}

static void
listText(Archive *a, const ArchiveIdentity *id, bool haveId, const ArchiveCatalog *c) {
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
        bvFree(gaps);
        bvFree(windows);
        return;
    }
    printf("%6s  %-22s %-23s  %-24s %-24s %-23s  %-23s  %6s  %10s\n", "SEQ", "FILE", "START-END", "FIRST GTID",
           "LAST GTID", "FIRST COMMIT", "LAST COMMIT", "TXNS", "SIZE");
    for (size_t i = 0; i < archiveCatalogCount(c); i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);
        char range[48];
        const char *flag = "";

        snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, m->startPos, m->endPos);
        cmdFormatTime(m->firstTimeUs, t1, sizeof(t1));
        cmdFormatTime(m->lastTimeUs, t2, sizeof(t2));
        if (!archiveCatalogListed(c, i, NULL)) {
            flag = "  MISSING";
            missing++;
        } else if (!archiveCatalogIndexed(c, i)) {
            flag = "  (not indexed)";
            unindexed++;
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
    bvFree(gaps);
    bvFree(windows);
}

static void
listJson(Archive *a, const ArchiveIdentity *id, bool haveId, const ArchiveCatalog *c) {
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
        jsonBufPrintf(out, ",\"indexed\":%s,\"stored\":%s}", archiveCatalogIndexed(c, i) ? "true" : "false",
                      archiveCatalogListed(c, i, NULL) ? "true" : "false");
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
    jsonBufPrintf(out, "],\"problems\":[");
    for (size_t i = 0; i < archiveCatalogProblemCount(c); i++) {
        if (i > 0)
            bufAppend(out, ",", 1);
        jsonBufString(out, archiveCatalogProblem(c, i), strlen(archiveCatalogProblem(c, i)));
    }
    jsonBufPrintf(out, "]}\n");
    fwrite(out->data, 1, out->len, stdout);
    bufFree(out);
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
    "window (from which position, GTID and time to which). Segments are not read: 'binvault verify'\n"
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
    if (json)
        listJson(a, &id, haveId, c);
    else
        listText(a, &id, haveId, c);
    archiveCatalogFree(c);
    archiveFree(a);
    storageFree(storage);
    return 0;
}
