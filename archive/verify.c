/* Verifying an archive: every segment through every layer, continuity, checkpoint.json. */
#include "archive/verify.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/backup_store.h"
#include "archive/checkpoint.h"
#include "archive/continuity.h"
#include "archive/identity.h"
#include "archive/labels.h"
#include "archive/timeline.h"
#include "common/mem.h"

typedef struct Verify {
    Archive *archive;
    const ArchiveVerifyHooks *hooks;
    ArchiveVerifyResult *res;
    size_t cap;
} Verify;

static void
addProblem(Verify *v, const char *object, uint64_t seq, const char *kind, const char *message) {
    ArchiveVerifyResult *res = v->res;
    ArchiveVerifyProblem *p;

    if (res->problemCount == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        res->problems = bvRealloc(res->problems, v->cap * sizeof(*res->problems));
    }
    p = &res->problems[res->problemCount++];
    p->object = object ? bvStrdup(object) : NULL;
    p->seq = seq;
    p->kind = kind;
    p->message = bvStrdup(message);
    if (v->hooks->problem != NULL)
        v->hooks->problem(v->hooks->data, p);
}

static void
note(Verify *v, const char *message) {
    if (v->hooks->note != NULL)
        v->hooks->note(v->hooks->data, message);
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
    DIFF(t->timeline != x->timeline, "timeline");
    DIFF((t->minTimeUs != x->minTimeUs || t->maxTimeUs != x->maxTimeUs), "min_time_us/max_time_us");
#undef DIFF
}

/* Read one segment through every layer. */
static void
verifySegment(Verify *v, const ArchiveCatalog *c, size_t i, const ArchiveIdentity *id, bool haveId) {
    const SegmentMeta *idx = archiveCatalogAt(c, i);
    SegmentMeta meta;
    SegmentReader *r;
    SegmentLabels *labels;
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
    labels = segmentLabelsNew(segmentReaderMeta(r));
    while ((rc = segmentReaderNext(r, &ev, &pos, &err)) == 1) {
        events++;
        segmentLabelsPush(labels, segmentReaderFormat(r), &ev, pos);
    }
    v->res->bytes += meta.size;
    if (rc != 0) {
        addProblem(v, idx->name, idx->seq, "segment", err.msg);
    } else {
        const SegmentMeta *t = segmentReaderMeta(r);

        v->res->events += events;
        v->res->transactions += t->transactions;
        if (archiveCatalogIndexed(c, i) && storedSize == idx->size && strcmp(segmentReaderSha256(r), idx->sha256) != 0) {
            snprintf(msg, sizeof(msg), "object sha256 mismatch: computed %s, the index says %s", segmentReaderSha256(r),
                     idx->sha256);
            addProblem(v, idx->name, idx->seq, "segment", msg);
        }
        /* A timeline view's fork segment (archive/timeline.h) describes the object only up to its
         * fork: there is no whole line to compare. */
        if (idx->objectEndPos == 0) {
            metaDiff(t, idx, diff, sizeof(diff));
            if (diff[0] != '\0') {
                snprintf(msg, sizeof(msg), "the trailer and the index disagree about %s", diff);
                addProblem(v, idx->name, idx->seq, "index", msg);
            }
        }
        segmentLabelsFinish(labels, msg, sizeof(msg));
        if (msg[0] != '\0')
            addProblem(v, idx->name, idx->seq, "labels", msg);
        if (haveId && t->flavour != id->flavour) {
            snprintf(msg, sizeof(msg), "holds %s binlogs in a %s archive",
                     t->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb",
                     id->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
            addProblem(v, idx->name, idx->seq, "identity", msg);
        }
        if (!archiveCatalogIndexed(c, i)) {
            snprintf(msg, sizeof(msg), "'%s' is stored and sound but not yet indexed", idx->name);
            note(v, msg);
        }
    }
    segmentLabelsFree(labels);
    segmentReaderFree(r);
    segmentMetaClear(&meta);
}

/* checkpoint.json must not claim more than the index holds. `cp` was read (rc 0, else the error in
 * `cpErr`) before the index was listed: writers store index chunks before the checkpoint that
 * counts them, so this snapshot is consistent while an agent archives. */
static void
verifyCheckpoint(Verify *v, const ArchiveCatalog *c, int rc, const ArchiveCheckpoint *cp, const Err *cpErr) {
    char msg[ERR_MSG_MAX + 256];
    uint64_t contiguous = archiveCatalogContiguousSeq(c);
    size_t at;

    if (rc != 0) {
        if (cpErr->code == ERR_NOTFOUND) {
            if (archiveCatalogCount(c) > 0)
                note(v, "the archive has no checkpoint.json yet");
            return;
        }
        addProblem(v, ARCHIVE_CHECKPOINT_OBJECT, 0, "checkpoint", cpErr->msg);
        return;
    }
    if (cp->seq > contiguous) {
        snprintf(msg, sizeof(msg), "says seq 1-%" PRIu64 " are complete, the index is complete up to seq %" PRIu64, cp->seq,
                 contiguous);
        addProblem(v, ARCHIVE_CHECKPOINT_OBJECT, 0, "checkpoint", msg);
    } else if (cp->seq > 0 && archiveCatalogFind(c, cp->seq, &at)) {
        const SegmentMeta *m = archiveCatalogAt(c, at);

        if (strcmp(m->file, cp->file) != 0 || m->endPos != cp->endPos || strcmp(segmentMetaGtidEnd(m), cp->gtidEnd) != 0) {
            snprintf(msg, sizeof(msg), "says seq %" PRIu64 " ends at %s:%" PRIu64 " gtid %s, the index says %s:%" PRIu64 " gtid %s",
                     cp->seq, cp->file, cp->endPos, cp->gtidEnd, m->file, m->endPos, segmentMetaGtidEnd(m));
            addProblem(v, ARCHIVE_CHECKPOINT_OBJECT, 0, "checkpoint", msg);
        }
    }
}

static void
timelineProblem(void *data, const char *object, uint64_t seq, const char *message) {
    addProblem(data, object, seq, "timeline", message);
}

/* The segments against the timeline records (the diverged branches are kept on purpose: not
 * problems; cmd/ reports them). */
static void
verifyTimelines(Verify *v, const ArchiveCatalog *c) {
    TimelineSet *set;
    Err err = {0};

    if (timelineSetLoad(v->archive, &set, &err) != 0) {
        addProblem(v, NULL, 0, "timeline", err.msg);
        return;
    }
    timelineCheckCatalog(set, c, timelineProblem, v);
    timelineSetFree(set);
}

static void
progress(Verify *v, size_t done, size_t total) {
    if (v->hooks->progress != NULL)
        v->hooks->progress(v->hooks->data, done, total, v->res->bytes);
}

void
archiveVerifySegments(Archive *a, const ArchiveCatalog *c, size_t first, size_t last, const ArchiveVerifyHooks *hooks,
                      ArchiveVerifyResult *res) {
    Verify v = {a, hooks, res, 0};
    ArchiveIdentity id;
    Err idErr = {0};
    bool haveId = archiveIdentityRead(a, &id, &idErr) == 0;
    size_t n = last >= first ? last - first + 1 : 0;

    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        progress(&v, i, n);
        verifySegment(&v, c, first + i, &id, haveId);
        res->segments++;
    }
    progress(&v, n, n);
}

static void
badManifest(void *data, const char *id, const Err *why) {
    char object[STORAGE_NAME_MAX];

    snprintf(object, sizeof(object), ARCHIVE_BACKUP_PREFIX "%s/manifest.json", id);
    addProblem(data, object, 0, "backup", why->msg);
}

/* Every complete backup read through every layer; a storage failure stops it (as a problem). */
static void
verifyBackups(Verify *v) {
    ArchiveBackup *list;
    ArchiveBackupStarted *inc;
    size_t n, ninc;
    Err err = {0};
    char msg[512];

    if (archiveBackupListChecked(v->archive, &list, &n, badManifest, v, &err) != 0) {
        addProblem(v, NULL, 0, "backup", err.msg);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char object[STORAGE_NAME_MAX];

        snprintf(object, sizeof(object), ARCHIVE_BACKUP_PREFIX "%s/", list[i].id);
        if (archiveBackupExtract(v->archive, &list[i], -1, NULL, NULL, &err) != 0)
            addProblem(v, object, 0, "backup", err.msg);
        v->res->backups++;
        v->res->backupBytes += list[i].streamLen;
    }
    archiveBackupListFree(list, n);
    if (archiveBackupListIncomplete(v->archive, &inc, &ninc, &err) != 0) {
        addProblem(v, NULL, 0, "backup", err.msg);
        return;
    }
    for (size_t i = 0; i < ninc; i++) {
        snprintf(msg, sizeof(msg),
                 "backup '%s' is incomplete (no manifest: in progress, or interrupted); it is never used, and the "
                 "next backup or prune removes it",
                 inc[i].id);
        note(v, msg);
    }
    bvFree(inc);
}

int
archiveVerify(Archive *a, const ArchiveVerifyHooks *hooks, ArchiveVerifyResult *res, Err *err) {
    Verify v = {a, hooks, res, 0};
    ArchiveCatalog *c;
    ArchiveIdentity id;
    ArchiveGap *gaps;
    ArchiveCheckpoint cp;
    Err idErr = {0}, cpErr = {0};
    size_t ngaps, n;
    int cpRc;
    bool haveId;

    memset(res, 0, sizeof(*res));
    haveId = archiveIdentityRead(a, &id, &idErr) == 0;
    /* The checkpoint first, then the index (see verifyCheckpoint()). */
    cpRc = archiveCheckpointRead(a, &cp, &cpErr);
    c = archiveCatalogLoad(a, ARCHIVE_LOAD_DISCOVER | ARCHIVE_LOAD_TOLERANT, err);
    if (c == NULL) {
        if (cpRc == 0)
            archiveCheckpointClear(&cp);
        return -1;
    }
    res->catalog = c;
    if (!haveId && archiveCatalogCount(c) == 0) {
        res->notArchive = true;
        if (cpRc == 0)
            archiveCheckpointClear(&cp);
        return 0;
    }
    if (!haveId)
        addProblem(&v, ARCHIVE_IDENTITY_OBJECT, 0, "identity", idErr.msg);
    for (size_t i = 0; i < archiveCatalogProblemCount(c); i++)
        addProblem(&v, NULL, 0, "index", archiveCatalogProblem(c, i));
    n = archiveCatalogCount(c);
    for (size_t i = 0; i < n; i++) {
        progress(&v, i, n);
        verifySegment(&v, c, i, &id, haveId);
        res->segments++;
    }
    progress(&v, n, n);
    ngaps = archiveCatalogGaps(c, &gaps);
    for (size_t i = 0; i < ngaps; i++) {
        size_t at;
        const char *object = NULL;

        if (gaps[i].accepted) {
            note(&v, gaps[i].message);
            continue;
        }
        if (archiveCatalogFind(c, gaps[i].beforeSeq, &at))
            object = archiveCatalogAt(c, at)->name;
        addProblem(&v, object, gaps[i].beforeSeq, "continuity", gaps[i].message);
    }
    bvFree(gaps);
    verifyTimelines(&v, c);
    verifyCheckpoint(&v, c, cpRc, &cp, &cpErr);
    if (cpRc == 0)
        archiveCheckpointClear(&cp);
    verifyBackups(&v);
    return 0;
}

void
archiveVerifyResultClear(ArchiveVerifyResult *res) {
    for (size_t i = 0; i < res->problemCount; i++) {
        bvFree(res->problems[i].object);
        bvFree(res->problems[i].message);
    }
    bvFree(res->problems);
    archiveCatalogFree(res->catalog);
    memset(res, 0, sizeof(*res));
}
