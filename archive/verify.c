/* Verifying an archive: every segment through every layer, continuity, checkpoint.json. */
#include "archive/verify.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/backup_store.h"
#include "archive/checkpoint.h"
#include "archive/continuity.h"
#include "archive/identity.h"
#include "archive/internal.h"
#include "archive/labels.h"
#include "archive/outline.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "common/mem.h"

typedef struct Verify {
    Archive *archive;
    const ArchiveVerifyHooks *hooks;
    ArchiveVerifyResult *res;
    size_t cap;
    TimelineSet *set;   /* the timeline records (NULL: unreadable, setErr says why) */
    Err setErr;
    TimelineCheck *tl;  /* the segments against the records, fed by verifyAll() */
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

/* Open and read a segment to its verified end, checking its labels against its events
 * (archive/labels.h): 0 and the reader (at its end) in *r, what the labels disagree about in
 * `labelsMsg` ("" when nothing), or -1 (the reader freed). */
static int
readAll(Verify *v, const SegmentMeta *meta, SegmentReader **r, uint64_t *events, char *labelsMsg, size_t size,
        Err *err) {
    SegmentLabels *labels;
    BinlogEvent ev;
    uint64_t pos;
    int rc;

    *events = 0;
    labelsMsg[0] = '\0';
    if ((*r = archiveSegmentOpen(v->archive, meta, err)) == NULL)
        return -1;
    labels = segmentLabelsNew(segmentReaderMeta(*r));
    while ((rc = segmentReaderNext(*r, &ev, &pos, err)) == 1) {
        (*events)++;
        segmentLabelsPush(labels, segmentReaderFormat(*r), &ev, pos);
    }
    if (rc == 0)
        segmentLabelsFinish(labels, labelsMsg, size);
    segmentLabelsFree(labels);
    if (rc != 0) {
        segmentReaderFree(*r);
        *r = NULL;
        return -1;
    }
    return 0;
}

/* What a segment read to its end says against its index line and the archive's identity. */
static void
checkRead(Verify *v, const SegmentMeta *idx, bool indexed, bool sizeAgrees, SegmentReader *r, uint64_t events,
          const char *labelsMsg, const ArchiveIdentity *id, bool haveId) {
    const SegmentMeta *t = segmentReaderMeta(r);
    char msg[ERR_MSG_MAX + 256], diff[512];

    v->res->events += events;
    v->res->transactions += t->transactions;
    if (indexed && sizeAgrees && strcmp(segmentReaderSha256(r), idx->sha256) != 0) {
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
    if (labelsMsg[0] != '\0')
        addProblem(v, idx->name, idx->seq, "labels", labelsMsg);
    if (haveId && t->flavour != id->flavour) {
        snprintf(msg, sizeof(msg), "holds %s binlogs in a %s archive",
                 t->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb",
                 id->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
        addProblem(v, idx->name, idx->seq, "identity", msg);
    }
    if (!indexed) {
        snprintf(msg, sizeof(msg), "'%s' is stored and sound but not yet indexed", idx->name);
        note(v, msg);
    }
}

/* Read one segment through every layer: `idx` as the index (or, not indexed, its trailer) describes
 * it, `listed` whether the store holds it and its size there. */
static void
verifySegment(Verify *v, const SegmentMeta *idx, bool indexed, bool listed, uint64_t storedSize,
              const ArchiveIdentity *id, bool haveId) {
    SegmentMeta meta;
    SegmentReader *r;
    uint64_t events;
    Err err = {0};
    char msg[ERR_MSG_MAX + 256], labelsMsg[512];

    if (!listed) {
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
    if (readAll(v, &meta, &r, &events, labelsMsg, sizeof(labelsMsg), &err) != 0) {
        addProblem(v, idx->name, idx->seq, "segment", err.msg);
    } else {
        checkRead(v, idx, indexed, storedSize == idx->size, r, events, labelsMsg, id, haveId);
        segmentReaderFree(r);
    }
    v->res->bytes += meta.size;
    segmentMetaClear(&meta);
}

/* A segment no listing described (the view lists only its tail): the store is asked what it holds
 * (a HEAD, or a stat of a directory's file), so that a missing or resized object is told as a
 * listing would tell it, without holding a listing of the whole archive. */
static void
verifyUnlisted(Verify *v, const SegmentMeta *idx, bool indexed, const ArchiveIdentity *id, bool haveId) {
    StorageInfo info = {0};
    Err err = {0};

    if (storageHead(archiveStorage(v->archive), idx->name, &info, &err) != 0) {
        addProblem(v, idx->name, idx->seq, "segment", err.msg);
        return;
    }
    verifySegment(v, idx, indexed, info.exists, info.size, id, haveId);
}

/* checkpoint.json must not claim more than the index holds. `cp` was read (rc 0, else the error in
 * `cpErr`) before the index was listed: writers store index chunks before the checkpoint that
 * counts them, so this snapshot is consistent while an agent archives. */
static void
verifyCheckpoint(Verify *v, ArchiveView *view, int rc, const ArchiveCheckpoint *cp, const Err *cpErr) {
    char msg[ERR_MSG_MAX + 256];
    uint64_t contiguous = archiveViewContiguousSeq(view);
    SegmentMeta m;

    if (rc != 0) {
        if (cpErr->code == ERR_NOTFOUND) {
            if (archiveViewLastSeq(view) > 0)
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
    } else if (cp->seq > 0 && archiveViewGet(view, cp->seq, &m, &(Err){0}) == 0) {
        if (strcmp(m.file, cp->file) != 0 || m.endPos != cp->endPos || strcmp(segmentMetaGtidEnd(&m), cp->gtidEnd) != 0) {
            snprintf(msg, sizeof(msg), "says seq %" PRIu64 " ends at %s:%" PRIu64 " gtid %s, the index says %s:%" PRIu64 " gtid %s",
                     cp->seq, cp->file, cp->endPos, cp->gtidEnd, m.file, m.endPos, segmentMetaGtidEnd(&m));
            addProblem(v, ARCHIVE_CHECKPOINT_OBJECT, 0, "checkpoint", msg);
        }
        segmentMetaClear(&m);
    }
}

static void
timelineProblem(void *data, const char *object, uint64_t seq, const char *message) {
    addProblem(data, object, seq, "timeline", message);
}

/* The segments against the timeline records, fed segment by segment by verifyAll() (the diverged
 * branches are kept on purpose: not problems; cmd/ reports them), then the records' own checks; and
 * the outline's windows and breaks as the main line sees them in an archive that forked (the breaks
 * inside a diverged branch set apart: verifyGaps()). */
static void
verifyTimelines(Verify *v, ArchiveView *view, ArchiveOutline *o) {
    TimelinePath *main;
    Err err = {0};

    if (archiveViewLastSeq(view) == 0)
        return;
    if (v->set == NULL) {
        addProblem(v, NULL, 0, "timeline", v->setErr.msg);
        return;
    }
    timelineCheckFinish(v->tl);
    if (!timelineSetForked(v->set))
        return;
    if ((main = timelinePathNew(v->set, 0, &err)) == NULL || archiveOutlineFollow(o, view, v->set, main, &err) != 0)
        addProblem(v, NULL, 0, "timeline", err.msg);
    timelinePathFree(main);
}

static void
progress(Verify *v, size_t done, size_t total) {
    if (v->hooks->progress != NULL)
        v->hooks->progress(v->hooks->data, done, total, v->res->bytes);
}

void
archiveVerifySegments(Archive *a, const ArchiveCatalog *c, size_t first, size_t last, const ArchiveVerifyHooks *hooks,
                      ArchiveVerifyResult *res) {
    Verify v = {.archive = a, .hooks = hooks, .res = res};
    ArchiveIdentity id;
    Err idErr = {0};
    bool haveId = archiveIdentityRead(a, &id, &idErr) == 0;
    size_t n = last >= first ? last - first + 1 : 0;

    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < n; i++) {
        uint64_t size = 0;
        bool listed = archiveCatalogListed(c, first + i, &size);

        progress(&v, i, n);
        verifySegment(&v, archiveCatalogAt(c, first + i), archiveCatalogIndexed(c, first + i), listed, size, &id,
                      haveId);
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

/* Every segment, block by block through a cursor. Whether the store holds a segment is known for
 * the tail (the view listed it) and asked of the store for the rest (verifyUnlisted()): no listing
 * of the whole archive is held. A block chunk that cannot be read is a problem, and the
 * verification goes on with the next block. */
static int
verifyAll(Verify *v, ArchiveView *view, const ArchiveIdentity *id, bool haveId, Err *err) {
    const ArchiveCatalog *tail = archiveViewTail(view);
    uint64_t first = archiveViewFirstSeq(view), last = archiveViewLastSeq(view), segments, next;
    const SegmentMeta *m;
    bool indexed;
    size_t done = 0;

    if (last == 0)
        return 0;
    archiveViewTotals(view, &segments, NULL, NULL, NULL);
    for (next = first; next <= last;) {
        ArchiveCursor *cur = archiveViewCursor(view, next, last, err);
        Err e = {0};
        int rc;

        if (cur == NULL)
            return -1;
        while ((rc = archiveCursorNext(cur, &m, &indexed, &e)) == 1) {
            size_t at;
            uint64_t size = 0;

            progress(v, done, (size_t)segments);
            if (tail != NULL && archiveCatalogFind(tail, m->seq, &at)) {
                bool listed = archiveCatalogListed(tail, at, &size);

                verifySegment(v, m, indexed, listed, size, id, haveId);
            } else {
                verifyUnlisted(v, m, indexed, id, haveId);
            }
            if (v->tl != NULL)
                timelineCheckSegment(v->tl, m);
            v->res->segments++;
            done++;
            next = m->seq + 1;
        }
        archiveCursorFree(cur);
        if (rc == 0)
            break;
        addProblem(v, NULL, 0, "index", e.msg);
        next = archiveBlockLast(archiveBlockOf(next)) + 1;
    }
    progress(v, done, done);
    return 0;
}

/* A continuity break: an accepted gap is a note; `branch` names the branch off the main line that
 * holds it (NULL: a break of the archive's continuity). */
static void
verifyGap(Verify *v, ArchiveView *view, const ArchiveGap *g, const char *branch) {
    char msg[sizeof(g->message) + 160];
    SegmentMeta m;
    bool named;

    snprintf(msg, sizeof(msg), "%s%s", branch != NULL ? branch : "", g->message);
    if (g->accepted) {
        note(v, msg);
        return;
    }
    named = archiveViewGet(view, g->beforeSeq, &m, &(Err){0}) == 0;
    addProblem(v, named ? m.name : NULL, g->beforeSeq, "continuity", msg);
    if (named)
        segmentMetaClear(&m);
}

/* Continuity breaks, from the outline (followed along the main line: verifyTimelines()). A break
 * inside a diverged branch is archived data missing all the same, reported as that branch's: the
 * main line's windows do not split there. */
static void
verifyGaps(Verify *v, ArchiveView *view, const ArchiveOutline *o) {
    for (size_t i = 0; i < archiveOutlineGapCount(o); i++)
        verifyGap(v, view, archiveOutlineGapAt(o, i), NULL);
    for (size_t i = 0; i < archiveOutlineBranchGapCount(o); i++) {
        uint32_t timeline;
        const ArchiveGap *g = archiveOutlineBranchGapAt(o, i, &timeline);
        char branch[160];

        snprintf(branch, sizeof(branch), "in timeline %" PRIu32 "'s diverged branch (off the main line, not restored "
                 "by default): ", timeline);
        verifyGap(v, view, g, branch);
    }
}

int
archiveVerify(Archive *a, const ArchiveVerifyHooks *hooks, ArchiveVerifyResult *res, Err *err) {
    Verify v = {.archive = a, .hooks = hooks, .res = res};
    ArchiveView *view;
    ArchiveIdentity id;
    ArchiveCheckpoint cp;
    Err idErr = {0}, cpErr = {0};
    int cpRc, rc = -1;
    bool haveId;

    memset(res, 0, sizeof(*res));
    haveId = archiveIdentityRead(a, &id, &idErr) == 0;
    /* The checkpoint first, then the index (see verifyCheckpoint()). */
    cpRc = archiveCheckpointRead(a, &cp, &cpErr);
    if ((view = archiveViewOpen(a, ARCHIVE_LOAD_DISCOVER | ARCHIVE_LOAD_TOLERANT, err)) == NULL ||
        (res->outline = archiveOutlineNew(view, err)) == NULL ||
        (res->catalog = archiveViewLoadRange(view, archiveViewLastSeq(view), archiveViewLastSeq(view), err)) == NULL)
        goto done;
    rc = 0;
    if (!haveId && archiveViewLastSeq(view) == 0) {
        res->notArchive = true;
        goto done;
    }
    if (!haveId)
        addProblem(&v, ARCHIVE_IDENTITY_OBJECT, 0, "identity", idErr.msg);
    for (size_t i = 0; i < archiveViewProblemCount(view); i++)
        addProblem(&v, NULL, 0, "index", archiveViewProblem(view, i));
    if (timelineSetLoad(a, &v.set, &v.setErr) == 0)
        v.tl = timelineCheckNew(v.set, archiveViewFirstSeq(view), timelineProblem, &v);
    if (verifyAll(&v, view, &id, haveId, err) != 0) {
        rc = -1;
        goto done;
    }
    verifyTimelines(&v, view, res->outline);
    verifyGaps(&v, view, res->outline);
    verifyCheckpoint(&v, view, cpRc, &cp, &cpErr);
    verifyBackups(&v);
done:
    if (cpRc == 0)
        archiveCheckpointClear(&cp);
    timelineCheckFree(v.tl);
    timelineSetFree(v.set);
    archiveViewFree(view);
    return rc;
}

void
archiveVerifyResultClear(ArchiveVerifyResult *res) {
    for (size_t i = 0; i < res->problemCount; i++) {
        bvFree(res->problems[i].object);
        bvFree(res->problems[i].message);
    }
    bvFree(res->problems);
    archiveCatalogFree(res->catalog);
    archiveOutlineFree(res->outline);
    memset(res, 0, sizeof(*res));
}
