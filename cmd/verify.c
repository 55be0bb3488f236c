/*
 * binvault verify: re-read every segment of an archive through every layer (object sha256 against
 * the index, trailer CRC and content, lz4 frame and block checksums, content sha256, every event's
 * CRC), check the index against the trailers and the archive's continuity, and print the
 * restorable window. Exit 0 only when everything is sound.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "cmd/cmd.h"
#include "common/json.h"
#include "common/mem.h"

typedef struct Problem {
    char *object; /* NULL when it concerns no single object */
    uint64_t seq; /* 0 when none */
    const char *kind;
    char *message;
} Problem;

typedef struct Verify {
    Archive *archive;
    bool json;
    bool progress;
    Problem *problems;
    size_t count, cap;
    uint64_t segments, bytes, events, transactions;
    double started, shown;
} Verify;

static double
nowSeconds(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
addProblem(Verify *v, const char *object, uint64_t seq, const char *kind, const char *message) {
    if (v->count == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->problems = bvRealloc(v->problems, v->cap * sizeof(*v->problems));
    }
    v->problems[v->count].object = object ? bvStrdup(object) : NULL;
    v->problems[v->count].seq = seq;
    v->problems[v->count].kind = kind;
    v->problems[v->count].message = bvStrdup(message);
    v->count++;
    if (v->progress)
        fputs("\r\033[K", stderr);
    if (!v->json)
        printf("BAD %s: %s\n", object ? object : kind, message);
}

/* Members where the trailer and the index line disagree, comma-separated into out. */
static void
metaDiff(const SegmentMeta *t, const SegmentMeta *x, char *out, size_t size) {
    size_t len = 0;

#define DIFF(cond, name)                                                                           \
    do {                                                                                           \
        if (cond && len < size)                                                                    \
            len += (size_t)snprintf(out + len, size - len, "%s%s", len ? ", " : "", name);         \
    } while (0)
    out[0] = '\0';
    DIFF(t->seq != x->seq, "seq");
    DIFF(t->flavour != x->flavour, "flavour");
    DIFF(t->serverId != x->serverId, "server_id");
    DIFF(strcmp(t->serverUuid, x->serverUuid) != 0, "server_uuid");
    DIFF(strcmp(t->serverVersion, x->serverVersion) != 0, "server_version");
    DIFF(strcmp(t->file, x->file) != 0, "file");
    DIFF(t->startPos != x->startPos, "start_pos");
    DIFF(t->endPos != x->endPos, "end_pos");
    DIFF(t->fdeLen != x->fdeLen, "fde_len");
    DIFF(t->contentLen != x->contentLen, "content_len");
    DIFF(strcmp(t->contentSha256, x->contentSha256) != 0, "content_sha256");
    DIFF(strcmp(segmentMetaGtidStart(t), segmentMetaGtidStart(x)) != 0, "gtid_start");
    DIFF(strcmp(segmentMetaGtidEnd(t), segmentMetaGtidEnd(x)) != 0, "gtid_end");
    DIFF(strcmp(t->firstGtid, x->firstGtid) != 0, "first_gtid");
    DIFF(strcmp(t->lastGtid, x->lastGtid) != 0, "last_gtid");
    DIFF(t->firstTimeUs != x->firstTimeUs, "first_time_us");
    DIFF(t->lastTimeUs != x->lastTimeUs, "last_time_us");
    DIFF(t->events != x->events, "events");
    DIFF(t->transactions != x->transactions, "transactions");
    DIFF(t->endsFile != x->endsFile, "ends_file");
    DIFF(strcmp(t->created, x->created) != 0, "created");
#undef DIFF
}

static void
progress(Verify *v, size_t done, size_t total) {
    double now = nowSeconds();

    if (!v->progress || (done > 0 && now - v->shown < 0.2))
        return;
    v->shown = now;
    fprintf(stderr, "\r\033[Kverify: %zu/%zu segments, %.1f MB, %.0f s", done, total, (double)v->bytes / 1e6,
            now - v->started);
    fflush(stderr);
}

/* Read one segment through every layer. */
static void
verifySegment(Verify *v, const ArchiveCatalog *c, size_t i, const ArchiveIdentity *id, bool haveId) {
    const SegmentMeta *idx = archiveCatalogAt(c, i);
    SegmentMeta meta;
    SegmentReader *r;
    BinlogEvent ev;
    uint64_t pos, storedSize, events = 0;
    Err err = {0};
    char msg[ERR_MSG_MAX + 256], diff[512];
    int rc;

    if (!archiveCatalogListed(c, i, &storedSize)) {
        addProblem(v, idx->name, idx->seq, "segment", "missing from the store (the index describes it)");
        return;
    }
    segmentMetaCopy(&meta, idx);
    if (storedSize != idx->size) {
        snprintf(msg, sizeof(msg), "object is %" PRIu64 " bytes in the store, the index says %" PRIu64, storedSize,
                 idx->size);
        addProblem(v, idx->name, idx->seq, "segment", msg);
        meta.size = storedSize; /* read what is there, to say which layer is broken */
    }
    r = archiveSegmentOpen(v->archive, &meta, &err);
    if (r == NULL) {
        addProblem(v, idx->name, idx->seq, "segment", err.msg);
        segmentMetaClear(&meta);
        return;
    }
    while ((rc = segmentReaderNext(r, &ev, &pos, &err)) == 1)
        events++;
    v->bytes += meta.size;
    if (rc != 0) {
        addProblem(v, idx->name, idx->seq, "segment", err.msg);
    } else {
        const SegmentMeta *t = segmentReaderMeta(r);

        v->events += events;
        v->transactions += t->transactions;
        if (archiveCatalogIndexed(c, i) && storedSize == idx->size && strcmp(segmentReaderSha256(r), idx->sha256) != 0) {
            snprintf(msg, sizeof(msg), "object sha256 mismatch: computed %s, the index says %s", segmentReaderSha256(r),
                     idx->sha256);
            addProblem(v, idx->name, idx->seq, "segment", msg);
        }
        metaDiff(t, idx, diff, sizeof(diff));
        if (diff[0] != '\0') {
            snprintf(msg, sizeof(msg), "the trailer and the index disagree about %s", diff);
            addProblem(v, idx->name, idx->seq, "index", msg);
        }
        if (haveId && t->flavour != id->flavour) {
            snprintf(msg, sizeof(msg), "holds %s binlogs in a %s archive",
                     t->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb",
                     id->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
            addProblem(v, idx->name, idx->seq, "identity", msg);
        }
        if (!archiveCatalogIndexed(c, i) && !v->json)
            printf("note: '%s' is stored and sound but not yet indexed\n", idx->name);
    }
    segmentReaderFree(r);
    segmentMetaClear(&meta);
}

/* checkpoint.json must not claim more than the index holds. */
static void
verifyCheckpoint(Verify *v, const ArchiveCatalog *c) {
    ArchiveCheckpoint cp;
    Err err = {0};
    char msg[ERR_MSG_MAX + 256];
    uint64_t contiguous = archiveCatalogContiguousSeq(c);
    size_t at;

    if (archiveCheckpointRead(v->archive, &cp, &err) != 0) {
        if (err.code == ERR_NOTFOUND) {
            if (archiveCatalogCount(c) > 0 && !v->json)
                printf("note: the archive has no checkpoint.json yet\n");
            return;
        }
        addProblem(v, ARCHIVE_CHECKPOINT_OBJECT, 0, "checkpoint", err.msg);
        return;
    }
    if (cp.seq > contiguous) {
        snprintf(msg, sizeof(msg), "says seq 1-%" PRIu64 " are complete, the index is complete up to seq %" PRIu64, cp.seq,
                 contiguous);
        addProblem(v, ARCHIVE_CHECKPOINT_OBJECT, 0, "checkpoint", msg);
    } else if (cp.seq > 0 && archiveCatalogFind(c, cp.seq, &at)) {
        const SegmentMeta *m = archiveCatalogAt(c, at);

        if (strcmp(m->file, cp.file) != 0 || m->endPos != cp.endPos || strcmp(segmentMetaGtidEnd(m), cp.gtidEnd) != 0) {
            snprintf(msg, sizeof(msg), "says seq %" PRIu64 " ends at %s:%" PRIu64 " gtid %s, the index says %s:%" PRIu64 " gtid %s",
                     cp.seq, cp.file, cp.endPos, cp.gtidEnd, m->file, m->endPos, segmentMetaGtidEnd(m));
            addProblem(v, ARCHIVE_CHECKPOINT_OBJECT, 0, "checkpoint", msg);
        }
    }
    archiveCheckpointClear(&cp);
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

static void
report(Verify *v, const ArchiveCatalog *c) {
    ArchiveWindow *windows;
    size_t nwin = archiveCatalogWindows(c, &windows);

    if (v->json) {
        Buf *out = bufNew(4096);

        jsonBufPrintf(out, "{\"archive\":");
        jsonBufString(out, archiveUrl(v->archive), strlen(archiveUrl(v->archive)));
        jsonBufPrintf(out, ",\"ok\":%s,\"segments\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"events\":%" PRIu64
                           ",\"transactions\":%" PRIu64 ",\"seconds\":%.3f,\"problems\":[",
                      v->count == 0 ? "true" : "false", v->segments, v->bytes, v->events, v->transactions,
                      nowSeconds() - v->started);
        for (size_t i = 0; i < v->count; i++) {
            const Problem *p = &v->problems[i];

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
        cmdPruneJson(c, out);
        jsonBufPrintf(out, ",\"windows\":[");
        for (size_t i = 0; i < nwin; i++) {
            if (i > 0)
                bufAppend(out, ",", 1);
            archiveWindowToJson(&windows[i], out);
        }
        jsonBufPrintf(out, "]}\n");
        fwrite(out->data, 1, out->len, stdout);
        bufFree(out);
    } else {
        printf("verified %" PRIu64 " segments, %" PRIu64 " bytes, %" PRIu64 " events, %" PRIu64 " transactions in %.1f s: %s",
               v->segments, v->bytes, v->events, v->transactions, nowSeconds() - v->started,
               v->count == 0 ? "OK" : "FAILED");
        if (v->count > 0)
            printf(" (%zu problems)", v->count);
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
    "missing seq, no position gap, no GTID gap), the index chunks and checkpoint.json, names every bad\n"
    "object and what is wrong with it, and prints the restorable window: from which position, GTID\n"
    "and time to which. Exits 0 only when everything is sound, 65 otherwise. --json prints one JSON\n"
    "document. On a terminal, progress goes to stderr.\n\n" CMD_STORAGE_HELP,
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
    ArchiveCatalog *c;
    ArchiveIdentity id;
    ArchiveGap *gaps;
    size_t ngaps;
    bool haveId;
    Err err = {0};
    int rc;

    if ((storage = storageNewOpts(url, storageOpts, &err)) == NULL)
        return cmdFail(&err);
    v.archive = archiveNew(storage);
    v.started = nowSeconds();
    v.progress = !v.json && isatty(STDERR_FILENO);
    haveId = archiveIdentityRead(v.archive, &id, &err) == 0;
    c = archiveCatalogLoad(v.archive, ARCHIVE_LOAD_DISCOVER | ARCHIVE_LOAD_TOLERANT, &err);
    if (c == NULL) {
        archiveFree(v.archive);
        storageFree(storage);
        return cmdFail(&err);
    }
    if (!haveId && archiveCatalogCount(c) == 0) {
        /* Nothing that looks like an archive at all. */
        errSet(&err, ERR_NOTFOUND, "'%s' is not a binvault archive: no binvault.json and no segment", url);
        archiveCatalogFree(c);
        archiveFree(v.archive);
        storageFree(storage);
        return cmdFail(&err);
    }
    if (!haveId) {
        archiveIdentityRead(v.archive, &id, &err);
        addProblem(&v, ARCHIVE_IDENTITY_OBJECT, 0, "identity", err.msg);
    }
    for (size_t i = 0; i < archiveCatalogProblemCount(c); i++)
        addProblem(&v, NULL, 0, "index", archiveCatalogProblem(c, i));
    for (size_t i = 0; i < archiveCatalogCount(c); i++) {
        progress(&v, i, archiveCatalogCount(c));
        verifySegment(&v, c, i, &id, haveId);
        v.segments++;
    }
    if (v.progress)
        fputs("\r\033[K", stderr);
    ngaps = archiveCatalogGaps(c, &gaps);
    for (size_t i = 0; i < ngaps; i++) {
        size_t at;
        const char *object = NULL;

        if (archiveCatalogFind(c, gaps[i].beforeSeq, &at))
            object = archiveCatalogAt(c, at)->name;
        addProblem(&v, object, gaps[i].beforeSeq, "continuity", gaps[i].message);
    }
    bvFree(gaps);
    verifyCheckpoint(&v, c);
    report(&v, c);
    rc = v.count == 0 ? 0 : errExitCode(ERR_FORMAT);
    for (size_t i = 0; i < v.count; i++) {
        bvFree(v.problems[i].object);
        bvFree(v.problems[i].message);
    }
    bvFree(v.problems);
    archiveCatalogFree(c);
    archiveFree(v.archive);
    storageFree(storage);
    return rc;
}
