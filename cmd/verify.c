/*
 * binvault verify: archiveVerify() re-reads every segment of an archive through every layer and
 * checks the index, continuity and checkpoint (archive/verify.h); this prints what it finds as it
 * goes, then the summary and the restorable windows. Exit 0 only when everything is sound.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/continuity.h"
#include "archive/key.h"
#include "archive/outline.h"
#include "archive/timeline.h"
#include "archive/verify.h"
#include "cmd/cmd.h"
#include "cmd/timelines.h"
#include "common/json.h"
#include "common/mem.h"

typedef struct Verify {
    Archive *archive;
    bool json;
    bool progress;
    ArchiveVerifyResult res;
    double started, shown;
} Verify;

static double
nowSeconds(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
onProblem(void *data, const ArchiveVerifyProblem *p) {
    Verify *v = data;

    if (v->progress)
        fputs("\r\033[K", stderr);
    if (!v->json)
        printf("BAD %s: %s\n", p->object ? p->object : p->kind, p->message);
}

static void
onNote(void *data, const char *message) {
    Verify *v = data;

    if (!v->json)
        printf("note: %s\n", message);
}

static void
onProgress(void *data, size_t done, size_t total, uint64_t bytes) {
    Verify *v = data;
    double now = nowSeconds();

    if (!v->progress)
        return;
    if (done == total) {
        fputs("\r\033[K", stderr);
        return;
    }
    if (done > 0 && now - v->shown < 0.2)
        return;
    v->shown = now;
    fprintf(stderr, "\r\033[Kverify: %zu/%zu segments, %.1f MB, %.0f s", done, total, (double)bytes / 1e6,
            now - v->started);
    fflush(stderr);
}

static void
printWindow(const ArchiveWindow *w, const char *label) {
    char t1[40], t2[40];

    cmdFormatTime(w->firstTimeUs, t1, sizeof(t1));
    cmdFormatTime(w->lastTimeUs, t2, sizeof(t2));
    printf("%s: seq %" PRIu64 "-%" PRIu64 ", %" PRIu64 " transactions\n", label, w->from->seq, w->to->seq, w->transactions);
    printf("  from %s:%" PRIu64 ", gtid state %s; first transaction %s at %s\n", w->from->file, w->from->startPos,
           segmentMetaGtidStart(w->from)[0] ? segmentMetaGtidStart(w->from) : "(unknown)",
           w->firstGtid[0] ? w->firstGtid : "-", t1);
    printf("  to   %s:%" PRIu64 ", gtid state %s; last transaction %s at %s\n", w->to->file, w->to->endPos,
           segmentMetaGtidEnd(w->to)[0] ? segmentMetaGtidEnd(w->to) : "(unknown)", w->lastGtid[0] ? w->lastGtid : "-",
           t2);
}

/* The restorable windows are those of the main line: a diverged branch is not restored by default
 * (what cannot be read as timelines was reported as a problem). archiveVerify() counted the
 * outline's windows as the main line sees them. */
static size_t
windowsOf(const ArchiveOutline *o, ArchiveWindow **windows) {
    size_t n = archiveOutlineWindowCount(o);

    *windows = bvCalloc(n + 1, sizeof(**windows));
    for (size_t i = 0; i < n; i++)
        (*windows)[i] = *archiveOutlineWindowAt(o, i);
    return n;
}

static void
report(Verify *v, const ArchiveCatalog *c, const ArchiveOutline *o) {
    ArchiveWindow *windows;
    size_t nwin = windowsOf(o, &windows);

    if (v->json) {
        Buf *out = bufNew(4096);

        jsonBufPrintf(out, "{\"archive\":");
        jsonBufString(out, archiveUrl(v->archive), strlen(archiveUrl(v->archive)));
        jsonBufPrintf(out, ",\"ok\":%s,\"segments\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"events\":%" PRIu64
                           ",\"transactions\":%" PRIu64 ",\"seconds\":%.3f,\"problems\":[",
                      v->res.problemCount == 0 ? "true" : "false", v->res.segments, v->res.bytes, v->res.events, v->res.transactions,
                      nowSeconds() - v->started);
        for (size_t i = 0; i < v->res.problemCount; i++) {
            const ArchiveVerifyProblem *p = &v->res.problems[i];

            jsonBufPrintf(out, "%s{\"kind\":\"%s\",\"object\":", i ? "," : "", p->kind);
            if (p->object)
                jsonBufString(out, p->object, strlen(p->object));
            else
                jsonBufPrintf(out, "null");
            if (p->seq)
                jsonBufPrintf(out, ",\"seq\":%" PRIu64, p->seq);
            jsonBufPrintf(out, ",\"message\":");
            jsonBufString(out, p->message, strlen(p->message));
            bufAppend(out, "}", 1);
        }
        jsonBufPrintf(out, "]");
        /* Only with backups: the document of an archive without any stays what it was. */
        if (v->res.backups > 0)
            jsonBufPrintf(out, ",\"backups\":%" PRIu64 ",\"backup_bytes\":%" PRIu64, v->res.backups,
                          v->res.backupBytes);
        cmdPruneJson(c, out);
        jsonBufPrintf(out, ",\"windows\":[");
        for (size_t i = 0; i < nwin; i++) {
            if (i > 0)
                bufAppend(out, ",", 1);
            archiveWindowToJson(&windows[i], out);
        }
        jsonBufPrintf(out, "]");
        cmdTimelinesJson(v->archive, out);
        jsonBufPrintf(out, "}\n");
        fwrite(out->data, 1, out->len, stdout);
        bufFree(out);
    } else {
        printf("verified %" PRIu64 " segments, %" PRIu64 " bytes, %" PRIu64 " events, %" PRIu64 " transactions in %.1f s: %s",
               v->res.segments, v->res.bytes, v->res.events, v->res.transactions, nowSeconds() - v->started,
               v->res.problemCount == 0 ? "OK" : "FAILED");
        if (v->res.backups > 0)
            printf("; %" PRIu64 " base backups, %" PRIu64 " bytes", v->res.backups, v->res.backupBytes);
        if (v->res.problemCount > 0)
            printf(" (%zu problems)", v->res.problemCount);
        printf("\n");
        cmdPrintPrune(c);
        if (nwin == 0)
            printf("restorable window: none (no segment)\n");
        for (size_t i = 0; i < nwin; i++) {
            char label[96];

            if (nwin == 1)
                snprintf(label, sizeof(label), "restorable window");
            else
                snprintf(label, sizeof(label), "%s %zu of %zu", i + 1 == nwin ? "restorable window (last)" : "window",
                         i + 1, nwin);
            printWindow(&windows[i], label);
        }
        cmdTimelinesPrint(v->archive, stdout);
    }
    bvFree(windows);
}

typedef struct VerifyOpts {
    char *archive;
    StorageOptions storage;
    bool json;
} VerifyOpts;

#define VERIFY_STORAGE(field) offsetof(VerifyOpts, storage.field)

static const OptDef verifyDefs[] = {
    CMD_ARCHIVE_OPTDEFS(offsetof(VerifyOpts, archive), VERIFY_STORAGE),
    {"json", OPT_BOOL, NULL, 0, 0, 0, offsetof(VerifyOpts, json), NULL, "print one JSON document", NULL, NULL},
};

static const OptSet verifySet = {
    "verify",
    "binvault verify --archive URL [--json]",
    "Re-reads every segment of the archive and checks every layer: the object's SHA-256 against the\n"
    "index, the trailer (CRC32, metadata, agreement with the index), the lz4 frame and its checksums,\n"
    "the content's length and SHA-256, and the CRC32 of every binlog event. Then checks continuity (no\n"
    "missing seq, no position gap, no GTID gap), every segment's labels against its content (GTID\n"
    "states with their server ids, first and last GTID, counts, commit times), the timelines (each\n"
    "segment in its timeline's seqs, each fork in its parent), the index chunks and checkpoint.json,\n"
    "names every bad\n"
    "object and what is wrong with it, and prints the restorable window: from which position, GTID\n"
    "and time to which. Exits 0 only when everything is sound, 65 otherwise. --json prints one JSON\n"
    "document. On a terminal, progress goes to stderr. The diverged branches of an archive that\n"
    "followed a failover (transactions of an old primary the new one never had) are printed as\n"
    "warnings: kept on purpose, they do not fail it.\n\n" CMD_STORAGE_HELP,
    verifyDefs,
    sizeof(verifyDefs) / sizeof(verifyDefs[0]),
    NULL,
    0,
    0,
};

/* The verification of the archive at url, printed; the exit code. */
static int verifyRun(const char *url, const StorageOptions *storageOpts, bool json);

int
cmdVerify(int argc, char **argv) {
    VerifyOpts o = {0};
    int rc;

    if (!cmdOptions(&verifySet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    rc = verifyRun(o.archive, &o.storage, o.json);
    optFree(&verifySet, &o);
    return rc;
}

static int
verifyRun(const char *url, const StorageOptions *storageOpts, bool json) {
    Verify v = {.json = json};
    Storage *storage;
    Err err = {0};
    int rc;

    if ((storage = cmdOpenArchive(url, storageOpts, &err)) == NULL)
        return cmdFail(&err);
    v.archive = archiveNew(storage);
    v.started = nowSeconds();
    v.progress = !v.json && isatty(STDERR_FILENO);
    if (archiveVerify(v.archive, &(ArchiveVerifyHooks){onProblem, onNote, onProgress, &v}, &v.res, &err) != 0) {
        archiveFree(v.archive);
        storageFree(storage);
        return cmdFail(&err);
    }
    if (v.res.notArchive) {
        errSet(&err, ERR_NOTFOUND, "'%s' is not a binvault archive: no binvault.json and no segment", url);
        rc = cmdFail(&err);
    } else {
        report(&v, v.res.catalog, v.res.outline);
        rc = v.res.problemCount == 0 ? 0 : errExitCode(ERR_FORMAT);
    }
    archiveVerifyResultClear(&v.res);
    archiveFree(v.archive);
    storageFree(storage);
    return rc;
}
