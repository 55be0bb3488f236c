/* Retention: prune records, the first seq a rule keeps, and the prune procedure. */
#include "archive/prune.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "binlog/gtid.h"
#include "archive/index.h"
#include "archive/internal.h"
#include "archive/lookup.h"
#include "archive/outline.h"
#include "archive/summary.h"
#include "archive/segment.h"
#include "common/time.h"
#include "common/mem.h"

/* ---- prune records ---- */

void
archivePruneName(uint64_t firstSeq, char *out, size_t size) {
    snprintf(out, size, ARCHIVE_PRUNE_PREFIX "%016" PRIu64 ".json", firstSeq);
}

int
archivePruneNameParse(const char *name, uint64_t *firstSeq) {
    /* prune/ + 16 digits + .json */
    if (strlen(name) != 6 + 16 + 5 || strncmp(name, ARCHIVE_PRUNE_PREFIX, 6) != 0 || strcmp(name + 22, ".json") != 0)
        return -1;
    if (!archiveDigits(name + 6, 16, firstSeq) || *firstSeq < 2)
        return -1;
    return 0;
}

int
archivePruneRecordParse(const char *text, size_t len, ArchivePruneRecord *rec, Err *err) {
    JsonValue *doc = archiveDocParseVersion(text, len, "prune record", err);
    const char *gtid, *reason;
    size_t glen;
    int rc = -1;

    memset(rec, 0, sizeof(*rec));
    if (doc == NULL)
        return -1;
    if (jsonReqU64(doc, "first_seq", &rec->firstSeq, err) != 0 ||
        jsonReqStrCopy(doc, "file", rec->file, sizeof(rec->file), err) != 0 ||
        jsonReqU64(doc, "start_pos", &rec->startPos, err) != 0 ||
        jsonReqStrCopy(doc, "created", rec->created, sizeof(rec->created), err) != 0)
        goto out;
    if (rec->firstSeq < 2) {
        errSet(err, ERR_FORMAT, "field 'first_seq' is %" PRIu64 ": a prune keeps seq 2 or later", rec->firstSeq);
        goto out;
    }
    if (!segmentFileNameValid(rec->file)) {
        errSet(err, ERR_FORMAT, "field 'file' is not a valid binlog file name: '%s'", rec->file);
        goto out;
    }
    if ((gtid = jsonStr(jsonGet(doc, "gtid_start"), &glen)) == NULL || glen > SEGMENT_GTID_MAX || strlen(gtid) != glen) {
        errSet(err, ERR_FORMAT, "missing or invalid field 'gtid_start'");
        goto out;
    }
    /* Optional members. */
    if (jsonGet(doc, "first_time_us") != NULL && !jsonU64(jsonGet(doc, "first_time_us"), &rec->firstTimeUs)) {
        errSet(err, ERR_FORMAT, "invalid field 'first_time_us'");
        goto out;
    }
    if ((reason = jsonStr(jsonGet(doc, "reason"), NULL)) != NULL)
        snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
    rec->gtidStart = bvStrdup(gtid);
    rc = 0;
out:
    jsonFree(doc);
    return rc;
}

void
archivePruneRecordToJson(const ArchivePruneRecord *rec, Buf *out) {
    jsonBufPrintf(out, "{\"version\":%d,\"first_seq\":%" PRIu64, ARCHIVE_FORMAT_VERSION, rec->firstSeq);
    archiveJsonPutStr(out, "file", rec->file);
    jsonBufPrintf(out, ",\"start_pos\":%" PRIu64, rec->startPos);
    archiveJsonPutStr(out, "gtid_start", rec->gtidStart != NULL ? rec->gtidStart : "");
    jsonBufPrintf(out, ",\"first_time_us\":%" PRIu64, rec->firstTimeUs);
    archiveJsonPutStr(out, "created", rec->created);
    archiveJsonPutStr(out, "reason", rec->reason);
    bufAppend(out, "}", 1);
}

const ArchivePruneRecord *
archiveCatalogPrune(const ArchiveCatalog *c) {
    return c->pruned ? &c->prune : NULL;
}

void
archivePruneRecordClear(ArchivePruneRecord *rec) {
    bvFree(rec->gtidStart);
    rec->gtidStart = NULL;
}

/* ---- what a retention keeps ---- */

int
archiveRetentionSeq(const ArchiveCatalog *c, const ArchiveRetention *r, uint64_t *firstSeq, Err *err) {
    uint64_t keep = UINT64_MAX;
    size_t idx;

    *firstSeq = c->count > 0 ? c->entries[0]->meta.seq : c->firstSeq;
    if (c->count == 0)
        return 0;
    if (r->beforeGtid != NULL) {
        const SegmentMeta *first = &c->entries[0]->meta;
        bool before = false;

        if (segmentMetaGtidStart(first)[0] != '\0' &&
            gtidStateTextContains(archiveCatalogFlavour(c), segmentMetaGtidStart(first), r->beforeGtid, &before, err) != 0)
            return errPrefix(err, "gtid '%s'", r->beforeGtid);
        if (before)
            keep = first->seq;
        else if (archiveCatalogFindGtid(c, r->beforeGtid, &idx, err) != 0)
            return errPrefix(err, "--before-gtid");
        else
            keep = c->entries[idx]->meta.seq;
    } else {
        /* The first segment with a commit at or after the time; only the last one when none.
         * Its first or its last: commit times need not follow binlog order (SET TIMESTAMP), and
         * a back-dated last commit must not get recent ones pruned. */
        keep = c->entries[c->count - 1]->meta.seq;
        for (size_t i = 0; i < c->count; i++) {
            const SegmentMeta *m = &c->entries[i]->meta;

            if (m->transactions > 0 && (m->lastTimeUs >= r->keepFromUs || m->firstTimeUs >= r->keepFromUs)) {
                keep = m->seq;
                break;
            }
        }
    }
    for (size_t b = 0; b < r->baseCount; b++) {
        uint64_t need;

        if (archiveBaseNeededSeq(c, &r->bases[b], &need, err) != 0)
            return -1;
        if (need < keep)
            keep = need;
    }
    /* The first kept segment must be indexed: step back over segments only found in the store. */
    if (!archiveCatalogFind(c, keep, &idx))
        return errSet(err, ERR_INTERNAL, "retention point seq %" PRIu64 " is not in the catalog", keep);
    while (idx > 0 && !c->entries[idx]->indexed)
        idx--;
    if (!c->entries[idx]->indexed)
        idx = 0;
    *firstSeq = c->entries[idx]->meta.seq;
    return 0;
}

int
archivePruneTarget(const ArchiveCatalog *c, const ArchiveRetention *r, uint64_t *firstSeq, Err *err) {
    BV_ASSERT(c->count > 0);
    if (archiveRetentionSeq(c, r, firstSeq, err) != 0)
        return -1;
    if (*firstSeq <= c->entries[0]->meta.seq)
        *firstSeq = c->firstSeq;
    return 0;
}

ArchivePruneDiverged
archivePruneDivergedFate(const TimelineRecord *r, uint64_t archiveFirst, uint64_t firstSeq) {
    if (!r->hasDiverged)
        return ARCHIVE_PRUNE_DIVERGED_KEPT;
    if (r->diverged.lastSeq < archiveFirst)
        return ARCHIVE_PRUNE_DIVERGED_GONE;
    if (r->diverged.firstSeq >= firstSeq)
        return ARCHIVE_PRUNE_DIVERGED_KEPT;
    return r->diverged.lastSeq < firstSeq ? ARCHIVE_PRUNE_DIVERGED_DROPPED : ARCHIVE_PRUNE_DIVERGED_CUT;
}

/* ---- the prune procedure ---- */

typedef struct PruneRun {
    Archive *a;
    bool dryRun;
    ArchivePruneStepFn *step;
    void *data;
} PruneRun;

static int
pruneStep(PruneRun *run, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err) {
    return run->step != NULL ? run->step(run->data, action, object, bytes, err) : 0;
}

static int
pruneRemove(PruneRun *run, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err) {
    if (!run->dryRun && storageRemove(run->a->storage, object, err) != 0)
        return -1;
    return pruneStep(run, action, object, bytes, err);
}

/* The chunk [k, last] from the lines of the chunk [first, last], copied byte for byte. */
static int
pruneChunk(PruneRun *run, uint64_t first, uint64_t last, uint64_t k, Err *err) {
    char name[64], newName[64];
    Buf *doc;
    uint64_t expect = k;
    int rc;

    archiveChunkName(first, last, name, sizeof(name));
    archiveChunkName(k, last, newName, sizeof(newName));
    if (run->dryRun)
        return pruneStep(run, ARCHIVE_PRUNE_WRITE_CHUNK, newName, 0, err);
    doc = bufNew(0);
    rc = archiveChunkCopyLines(run->a, first, last, &expect, doc, err);
    if (rc == 0 && expect != last + 1)
        rc = errSet(err, ERR_FORMAT, "index chunk '%s' does not describe seq %" PRIu64, name, expect);
    if (rc == 0)
        rc = storagePutBuf(run->a->storage, newName, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    if (rc == 0)
        rc = pruneStep(run, ARCHIVE_PRUNE_WRITE_CHUNK, newName, doc->len, err);
    bufFree(doc);
    return rc;
}

static int
pruneRecordWrite(PruneRun *run, const SegmentMeta *first, uint64_t firstTimeUs, const char *reason, Err *err) {
    ArchivePruneRecord rec;
    char name[64];
    Buf *doc;
    int rc;

    archivePruneName(first->seq, name, sizeof(name));
    if (run->dryRun)
        return pruneStep(run, ARCHIVE_PRUNE_WRITE_RECORD, name, 0, err);
    memset(&rec, 0, sizeof(rec));
    rec.firstSeq = first->seq;
    snprintf(rec.file, sizeof(rec.file), "%s", first->file);
    rec.startPos = first->startPos;
    rec.gtidStart = (char *)segmentMetaGtidStart(first);
    rec.firstTimeUs = firstTimeUs;
    timeIsoNow(rec.created, sizeof(rec.created));
    snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
    doc = bufNew(512);
    archivePruneRecordToJson(&rec, doc);
    bufAppend(doc, "\n", 1);
    /* Immutable: a repeated prune to the same seq after a crash finds its own record (same
     * content only if created is the same second; another one is as good). */
    rc = storagePutBuf(run->a->storage, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    if (rc != 0 && err->code == ERR_EXISTS)
        rc = 0;
    if (rc == 0)
        rc = pruneStep(run, ARCHIVE_PRUNE_WRITE_RECORD, name, doc->len, err);
    bufFree(doc);
    return rc;
}

typedef struct SummaryNames {
    uint64_t firstSeq;
    char (*names)[64];
    size_t count;
} SummaryNames;

static int
summaryBelow(const char *name, uint64_t size, void *data, Err *err) {
    SummaryNames *s = data;
    uint64_t first, last;

    (void)size;
    (void)err;
    if (archiveSummaryNameParse(name, &first, &last) != 0)
        return 0;
    if (first >= s->firstSeq)
        return STORAGE_LIST_STOP;
    if (last < s->firstSeq) {
        s->names = bvRealloc(s->names, (s->count + 1) * sizeof(*s->names));
        snprintf(s->names[s->count++], sizeof(*s->names), "%s", name);
    }
    return 0;
}

/* The level-1 documents wholly below firstSeq (one per 1,048,576 segments: a short list). */
static int
pruneSummaries(PruneRun *run, uint64_t firstSeq, Err *err) {
    SummaryNames s = {firstSeq, NULL, 0};
    int rc = storageList(run->a->storage, ARCHIVE_SUMMARY1_PREFIX, summaryBelow, &s, err);

    for (size_t i = 0; i < s.count && rc == 0; i++)
        rc = pruneRemove(run, ARCHIVE_PRUNE_REMOVE_SUMMARY, s.names[i], 0, err);
    bvFree(s.names);
    return rc;
}

static void
catalogDropBelow(ArchiveCatalog *c, uint64_t seq) {
    size_t n = archiveCatalogLowerBound(c, seq);

    for (size_t i = 0; i < n; i++)
        archiveEntryFree(c->entries[i]);
    memmove(c->entries, c->entries + n, (c->count - n) * sizeof(*c->entries));
    c->count -= n;
    for (size_t i = 0; i < c->count; i++)
        c->entries[i]->order = i;
}

int
archivePrune(Archive *a, ArchiveCatalog *c, uint64_t firstSeq, const char *reason, bool dryRun,
             ArchivePruneStepFn *step, void *data, Err *err) {
    PruneRun run = {a, dryRun, step, data};
    Coverage cov = {0};
    CatalogChunk *chunks;
    size_t nchunks, idx, ndel = 0;
    char **delNames = NULL;
    uint64_t *delSizes = NULL;
    int rc = 0;

    if (firstSeq < c->firstSeq)
        return errSet(err, ERR_INTERNAL, "prune to seq %" PRIu64 ": the archive already starts at seq %" PRIu64, firstSeq,
                      c->firstSeq);
    if (firstSeq > c->firstSeq &&
        (!archiveCatalogFind(c, firstSeq, &idx) || !c->entries[idx]->indexed))
        return errSet(err, ERR_INTERNAL, "prune to seq %" PRIu64 ", which is not an indexed segment", firstSeq);
    /* The first kept segment must be in the store: a record in front of a missing one would make
     * the archive start with a hole that nothing can fill. */
    if (firstSeq > c->firstSeq) {
        StorageInfo info = {0};

        if (storageHead(a->storage, c->entries[idx]->meta.name, &info, err) != 0)
            return -1;
        if (!info.exists)
            return errSet(err, ERR_NOTFOUND,
                          "segment '%s' (seq %" PRIu64 "), the first one the prune would keep, is not in '%s': "
                          "nothing was deleted; 'binvault verify' shows what is missing",
                          c->entries[idx]->meta.name, firstSeq, archiveUrl(a));
    }
    /* 1. The record: from now on readers ignore every seq below firstSeq. */
    if (firstSeq > c->firstSeq) {
        if (pruneRecordWrite(&run, &c->entries[idx]->meta, archiveCatalogFirstCommitFrom(c, idx), reason, err) != 0)
            return -1;
    }
    /* 2. Chunks that reach into pruned seqs: their kept lines in a new chunk, unless chunks that
     * start at or after firstSeq already cover them. Widest first. */
    nchunks = c->chunkCount;
    chunks = bvCalloc(nchunks + 1, sizeof(*chunks));
    memcpy(chunks, c->chunks, nchunks * sizeof(*chunks));
    for (size_t i = 0; i < nchunks; i++)
        if (chunks[i].first >= firstSeq)
            archiveCoverageAdd(&cov, chunks[i].first, chunks[i].last);
    for (size_t pass = 0; pass < nchunks && rc == 0; pass++) {
        size_t best = nchunks;

        for (size_t i = 0; i < nchunks; i++)
            if (chunks[i].first < firstSeq && chunks[i].last >= firstSeq && !archiveCoverageHas(&cov, firstSeq, chunks[i].last) &&
                (best == nchunks || chunks[i].last > chunks[best].last))
                best = i;
        if (best == nchunks)
            break;
        rc = pruneChunk(&run, chunks[best].first, chunks[best].last, firstSeq, err);
        if (rc == 0) {
            archiveCoverageAdd(&cov, firstSeq, chunks[best].last);
            if (!dryRun)
                archiveCatalogChunkAdd(c, firstSeq, chunks[best].last, true);
        }
    }
    /* 3. The chunks that reach into pruned seqs. */
    for (size_t i = 0; i < nchunks && rc == 0; i++) {
        char name[64];

        if (chunks[i].first >= firstSeq)
            continue;
        archiveChunkName(chunks[i].first, chunks[i].last, name, sizeof(name));
        rc = pruneRemove(&run, ARCHIVE_PRUNE_REMOVE_CHUNK, name, 0, err);
        if (rc == 0 && !dryRun)
            archiveCatalogChunkRemove(c, chunks[i].first, chunks[i].last);
    }
    bvFree(chunks);
    bvFree(cov.iv);
    if (rc != 0)
        return -1;
    /* 4. The segments, oldest first: those of the catalog, then those an earlier prune left. */
    for (size_t i = 0; i < c->count && c->entries[i]->meta.seq < firstSeq; i++) {
        delNames = bvRealloc(delNames, (ndel + 1) * sizeof(*delNames));
        delSizes = bvRealloc(delSizes, (ndel + 1) * sizeof(*delSizes));
        delNames[ndel] = bvStrdup(c->entries[i]->meta.name);
        delSizes[ndel++] = c->entries[i]->meta.size;
    }
    for (size_t i = 0; i < c->leftoverCount; i++) {
        delNames = bvRealloc(delNames, (ndel + 1) * sizeof(*delNames));
        delSizes = bvRealloc(delSizes, (ndel + 1) * sizeof(*delSizes));
        delNames[ndel] = bvStrdup(c->leftovers[i]);
        delSizes[ndel++] = c->leftoverSizes[i];
    }
    if (!dryRun) {
        c->firstSeq = firstSeq;
        catalogDropBelow(c, firstSeq);
    }
    for (size_t i = 0; i < ndel && rc == 0; i++)
        rc = pruneRemove(&run, ARCHIVE_PRUNE_REMOVE_SEGMENT, delNames[i], delSizes[i], err);
    for (size_t i = 0; i < ndel; i++)
        bvFree(delNames[i]);
    bvFree(delNames);
    bvFree(delSizes);
    if (rc != 0)
        return -1;
    if (!dryRun) {
        for (size_t i = 0; i < c->leftoverCount; i++)
            bvFree(c->leftovers[i]);
        c->leftoverCount = 0;
    }
    /* 4b. Summary documents of blocks that are all pruned: readers ignore them already. */
    if (pruneSummaries(&run, firstSeq, err) != 0)
        return -1;
    /* 5. Older prune records: the newest one says it all. */
    for (size_t i = 0; i < c->pruneRecordCount && rc == 0; i++) {
        char name[64];

        if (c->pruneRecords[i] >= firstSeq)
            continue;
        archivePruneName(c->pruneRecords[i], name, sizeof(name));
        rc = pruneRemove(&run, ARCHIVE_PRUNE_REMOVE_RECORD, name, 0, err);
    }
    if (rc == 0 && !dryRun) {
        size_t keep = 0;

        for (size_t i = 0; i < c->pruneRecordCount; i++)
            if (c->pruneRecords[i] >= firstSeq)
                c->pruneRecords[keep++] = c->pruneRecords[i];
        c->pruneRecordCount = keep;
        if (firstSeq > 1 && (keep == 0 || c->pruneRecords[keep - 1] != firstSeq)) {
            if (c->pruneRecordCount == c->pruneRecordCap) {
                c->pruneRecordCap = c->pruneRecordCap ? c->pruneRecordCap * 2 : 4;
                c->pruneRecords = bvRealloc(c->pruneRecords, c->pruneRecordCap * sizeof(*c->pruneRecords));
            }
            c->pruneRecords[c->pruneRecordCount++] = firstSeq;
        }
    }
    return rc;
}

/* Prunes over a view whose objects keep vanishing under it before archivePruneOverViewRetrying()
 * gives up. */
#define ARCHIVE_PRUNE_ATTEMPTS 5

/* ---- over the view: retention and prune with memory bounded by a block ---- */

/* Whether segment m holds a commit the time rule keeps (its first or its last: archiveRetentionSeq()). */
static bool
keepsTime(const SegmentMeta *m, uint64_t keepFromUs) {
    return m->transactions > 0 && (m->lastTimeUs >= keepFromUs || m->firstTimeUs >= keepFromUs);
}

/* The first segment of first..last the time rule keeps: *seq, 0 when none. */
static int
viewScanTime(ArchiveView *v, uint64_t first, uint64_t last, uint64_t keepFromUs, uint64_t *seq, Err *err) {
    ArchiveCursor *cur;
    const SegmentMeta *m;
    int rc;

    *seq = 0;
    if (first > last)
        return 0;
    if ((cur = archiveViewCursor(v, first, last, err)) == NULL)
        return -1;
    while ((rc = archiveCursorNext(cur, &m, NULL, err)) == 1) {
        if (keepsTime(m, keepFromUs)) {
            *seq = m->seq;
            rc = 0;
            break;
        }
    }
    archiveCursorFree(cur);
    return rc < 0 ? -1 : 0;
}

/* The time rule over the view: a summarised block is read only when its highest commit time
 * reaches the time (a segment's first and last commit are among its block's). */
static int
viewTimeSeq(ArchiveView *v, uint64_t keepFromUs, uint64_t *seq, Err *err) {
    uint64_t from = archiveViewFirstSeq(v);

    *seq = 0;
    for (size_t i = 0; i < archiveViewSpanCount(v) && *seq == 0; i++) {
        const ArchiveSpan *s = archiveViewSpanAt(v, i);

        if (from < s->firstSeq && viewScanTime(v, from, s->firstSeq - 1, keepFromUs, seq, err) != 0)
            return -1;
        if (*seq == 0 && s->transactions > 0 && s->maxTimeUs >= keepFromUs &&
            viewScanTime(v, s->firstSeq, s->lastSeq, keepFromUs, seq, err) != 0)
            return -1;
        from = s->lastSeq + 1;
    }
    if (*seq == 0 && viewScanTime(v, from, archiveViewLastSeq(v), keepFromUs, seq, err) != 0)
        return -1;
    if (*seq == 0)
        *seq = archiveViewLastSeq(v);
    return 0;
}

/* The first commit time from segment seq on (0: none), as archiveCatalogFirstCommitFrom(). */
static int
viewFirstCommitFrom(ArchiveView *v, uint64_t seq, uint64_t *us, Err *err) {
    ArchiveCursor *cur = archiveViewCursor(v, seq, archiveViewLastSeq(v), err);
    const SegmentMeta *m;
    int rc;

    *us = 0;
    if (cur == NULL)
        return -1;
    while ((rc = archiveCursorNext(cur, &m, NULL, err)) == 1) {
        if (m->transactions > 0) {
            *us = m->firstTimeUs;
            rc = 0;
            break;
        }
    }
    archiveCursorFree(cur);
    return rc < 0 ? -1 : 0;
}

/* The first segment the view holds, copied into *out (segmentMetaClear() it). */
static int
viewFirstMeta(ArchiveView *v, SegmentMeta *out, Err *err) {
    ArchiveCursor *cur = archiveViewCursor(v, archiveViewFirstSeq(v), archiveViewLastSeq(v), err);
    const SegmentMeta *m;
    int rc;

    if (cur == NULL)
        return -1;
    rc = archiveCursorNext(cur, &m, NULL, err);
    if (rc == 1)
        segmentMetaCopy(out, m);
    else if (rc == 0)
        rc = errSet(err, ERR_NOTFOUND, "the archive holds no segment");
    archiveCursorFree(cur);
    return rc == 1 ? 0 : -1;
}

int
archiveViewRetentionSeq(ArchiveView *v, const ArchiveRetention *r, uint64_t *firstSeq, Err *err) {
    const ArchiveCatalog *tail = archiveViewTail(v);
    SegmentMeta first;
    uint64_t keep;
    size_t idx;

    *firstSeq = archiveViewFirstSeq(v);
    if (archiveViewLastSeq(v) == 0)
        return 0;
    if (viewFirstMeta(v, &first, err) != 0)
        return -1;
    if (r->beforeGtid != NULL) {
        bool before = false;

        if (segmentMetaGtidStart(&first)[0] != '\0' &&
            gtidStateTextContains(first.flavour, segmentMetaGtidStart(&first), r->beforeGtid, &before, err) != 0) {
            segmentMetaClear(&first);
            return errPrefix(err, "gtid '%s'", r->beforeGtid);
        }
        if (before)
            keep = first.seq;
        else if (archiveViewFindGtid(v, r->beforeGtid, &keep, err) != 0) {
            segmentMetaClear(&first);
            return errPrefix(err, "--before-gtid");
        }
    } else if (viewTimeSeq(v, r->keepFromUs, &keep, err) != 0) {
        segmentMetaClear(&first);
        return -1;
    }
    for (size_t b = 0; b < r->baseCount; b++) {
        ArchiveCatalog *around = archiveOutlineBaseRange(v, &r->bases[b], err);
        uint64_t need;
        int rc;

        if (around == NULL) {
            segmentMetaClear(&first);
            return -1;
        }
        rc = archiveBaseNeededSeq(around, &r->bases[b], &need, err);
        archiveCatalogFree(around);
        if (rc != 0) {
            segmentMetaClear(&first);
            return -1;
        }
        if (need < keep)
            keep = need;
    }
    /* The first kept segment must be indexed: only the tail holds segments that are not. */
    if (tail != NULL && archiveCatalogFind(tail, keep, &idx)) {
        while (idx > 0 && !archiveCatalogIndexed(tail, idx))
            idx--;
        if (archiveCatalogIndexed(tail, idx))
            keep = archiveCatalogAt(tail, idx)->seq;
        else if (archiveViewSpanCount(v) > 0)
            keep = archiveViewSpanAt(v, archiveViewSpanCount(v) - 1)->lastSeq;
        else
            keep = first.seq;
    }
    *firstSeq = keep <= first.seq ? archiveViewFirstSeq(v) : keep;
    segmentMetaClear(&first);
    return 0;
}

/* The chunks that start below the first kept seq, and the coverage of those that start at or after
 * it up to the end of the widest of them: one listing of index/ that stops there. */
typedef struct ChunkScan {
    uint64_t firstSeq, reach;
    CatalogChunk *below;
    size_t count;
    Coverage cov;
} ChunkScan;

static int
chunkScanCb(const char *name, uint64_t size, void *data, Err *err) {
    ChunkScan *s = data;
    uint64_t first, last;

    (void)size;
    (void)err;
    if (archiveChunkNameParse(name, &first, &last) != 0)
        return 0;
    if (first < s->firstSeq) {
        s->below = bvRealloc(s->below, (s->count + 1) * sizeof(*s->below));
        memset(&s->below[s->count], 0, sizeof(*s->below));
        s->below[s->count].first = first;
        s->below[s->count++].last = last;
        if (last > s->reach)
            s->reach = last;
        return 0;
    }
    if (first > s->reach)
        return STORAGE_LIST_STOP;
    archiveCoverageAdd(&s->cov, first, last);
    return 0;
}

/* The segments of chunk [first, last] below firstSeq and after *done, oldest first: deleted (or, in
 * a dry run, said), *done advanced. */
static int
pruneChunkSegments(PruneRun *run, uint64_t first, uint64_t last, uint64_t firstSeq, uint64_t *done, Err *err) {
    SegmentMeta *metas = NULL;
    uint8_t *data = NULL;
    size_t len, n = 0;
    char name[64];
    int rc;

    archiveChunkName(first, last, name, sizeof(name));
    rc = storageGetBuf(run->a->storage, name, ARCHIVE_CHUNK_MAX_BYTES, &data, &len, err);
    if (rc == 0 && (rc = archiveChunkParse(data, len, first, last, &metas, &n, err)) != 0)
        errPrefix(err, "index chunk '%s'", name);
    bvFree(data);
    /* The chunk first (FORMAT.md "Pruning", step 3), then the segments it named (step 4): a crash
     * in between leaves segments below the first seq, which the next prune finds as leftovers. */
    if (rc == 0)
        rc = pruneRemove(run, ARCHIVE_PRUNE_REMOVE_CHUNK, name, 0, err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (metas[i].seq >= firstSeq || metas[i].seq <= *done)
            continue;
        rc = pruneRemove(run, ARCHIVE_PRUNE_REMOVE_SEGMENT, metas[i].name, metas[i].size, err);
        *done = metas[i].seq;
    }
    for (size_t i = 0; i < n; i++)
        segmentMetaClear(&metas[i]);
    bvFree(metas);
    return rc;
}

/* A dry run of a chunk that is a summarised block's chunk: the block said at once, from its
 * summary line (no chunk read: a dry run of a million segments reads the summaries only). */
static const ArchiveSpan *
summarisedBlock(ArchiveView *v, uint64_t first, uint64_t last) {
    for (size_t i = 0; i < archiveViewSpanCount(v); i++) {
        const ArchiveSpan *s = archiveViewSpanAt(v, i);

        if (s->firstSeq == first && s->lastSeq == last)
            return s;
        if (s->firstSeq > first)
            break;
    }
    return NULL;
}

typedef struct RecordScan {
    uint64_t firstSeq;
    uint64_t *below;
    size_t count;
} RecordScan;

static int
recordScanCb(const char *name, uint64_t size, void *data, Err *err) {
    RecordScan *s = data;
    uint64_t seq;

    (void)size;
    (void)err;
    if (archivePruneNameParse(name, &seq) != 0 || seq >= s->firstSeq)
        return 0;
    s->below = bvRealloc(s->below, (s->count + 1) * sizeof(*s->below));
    s->below[s->count++] = seq;
    return 0;
}

/* Store prune/<firstSeq>.json from the view (step 1). */
static int
viewRecordWrite(PruneRun *run, ArchiveView *v, uint64_t firstSeq, const char *reason, Err *err) {
    const ArchiveCatalog *tail = archiveViewTail(v);
    StorageInfo info = {0};
    uint64_t firstCommit;
    SegmentMeta kept;
    size_t idx;
    int rc;

    if ((tail != NULL && archiveCatalogFind(tail, firstSeq, &idx) && !archiveCatalogIndexed(tail, idx)) ||
        archiveViewGet(v, firstSeq, &kept, err) != 0)
        return errSet(err, ERR_INTERNAL, "prune to seq %" PRIu64 ", which is not an indexed segment", firstSeq);
    /* The first kept segment must be in the store: a record in front of a missing one would make
     * the archive start with a hole that nothing can fill. */
    rc = storageHead(run->a->storage, kept.name, &info, err);
    if (rc == 0 && !info.exists)
        rc = errSet(err, ERR_NOTFOUND,
                    "segment '%s' (seq %" PRIu64 "), the first one the prune would keep, is not in '%s': nothing was "
                    "deleted; 'binvault verify' shows what is missing",
                    kept.name, firstSeq, archiveUrl(run->a));
    if (rc == 0)
        rc = viewFirstCommitFrom(v, firstSeq, &firstCommit, err);
    if (rc == 0)
        rc = pruneRecordWrite(run, &kept, firstCommit, reason, err);
    segmentMetaClear(&kept);
    return rc;
}

/* Step 2 over the listed chunks: the kept lines of each chunk that reaches over firstSeq, widest
 * first, unless chunks that start at or after it cover them. */
static int
viewKeptChunks(PruneRun *run, ChunkScan *scan, Err *err) {
    for (size_t pass = 0; pass < scan->count; pass++) {
        size_t best = scan->count;

        for (size_t i = 0; i < scan->count; i++) {
            const CatalogChunk *ch = &scan->below[i];

            if (ch->last >= scan->firstSeq && !archiveCoverageHas(&scan->cov, scan->firstSeq, ch->last) &&
                (best == scan->count || ch->last > scan->below[best].last))
                best = i;
        }
        if (best == scan->count)
            return 0;
        if (pruneChunk(run, scan->below[best].first, scan->below[best].last, scan->firstSeq, err) != 0)
            return -1;
        archiveCoverageAdd(&scan->cov, scan->firstSeq, scan->below[best].last);
    }
    return 0;
}

int
archivePruneOverView(Archive *a, ArchiveView *v, uint64_t firstSeq, const char *reason, bool dryRun,
                 ArchivePruneStepFn *step, void *data, Err *err) {
    PruneRun run = {a, dryRun, step, data};
    uint64_t start = archiveViewFirstSeq(v), done = 0;
    const ArchiveCatalog *tail = archiveViewTail(v);
    ChunkScan scan = {.firstSeq = firstSeq};
    RecordScan records = {.firstSeq = firstSeq};
    int rc = 0;

    if (firstSeq < start)
        return errSet(err, ERR_INTERNAL, "prune to seq %" PRIu64 ": the archive already starts at seq %" PRIu64, firstSeq,
                      start);
    /* 1. The record: from now on readers ignore every seq below firstSeq. */
    if (firstSeq > start && viewRecordWrite(&run, v, firstSeq, reason, err) != 0)
        return -1;
    /* 2. The kept lines of the chunks that reach over firstSeq. */
    if (storageList(a->storage, ARCHIVE_INDEX_PREFIX, chunkScanCb, &scan, err) != 0 || viewKeptChunks(&run, &scan, err) != 0)
        rc = -1;
    /* 3 and 4, chunk after chunk, oldest first: its segments are read from it, so memory holds one
     * chunk, whatever the number of segments deleted. */
    for (size_t i = 0; i < scan.count && rc == 0; i++) {
        const CatalogChunk *ch = &scan.below[i];
        const ArchiveSpan *span = dryRun ? summarisedBlock(v, ch->first, ch->last) : NULL;
        char name[64];

        if (span != NULL && span->lastSeq < firstSeq && span->firstSeq > done) {
            archiveChunkName(ch->first, ch->last, name, sizeof(name));
            rc = pruneStep(&run, ARCHIVE_PRUNE_REMOVE_CHUNK, name, 0, err);
            if (rc == 0)
                rc = pruneStep(&run, ARCHIVE_PRUNE_REMOVE_BLOCK, name, span->bytes, err);
            done = span->lastSeq;
            continue;
        }
        rc = pruneChunkSegments(&run, ch->first, ch->last, firstSeq, &done, err);
    }
    bvFree(scan.below);
    bvFree(scan.cov.iv);
    /* Then the leftovers of an interrupted prune (below the archive's first seq, not indexed). */
    for (size_t i = 0; tail != NULL && i < archiveCatalogLeftoverCount(tail) && rc == 0; i++) {
        uint64_t size;
        const char *name = archiveCatalogLeftover(tail, i, &size);

        rc = pruneRemove(&run, ARCHIVE_PRUNE_REMOVE_SEGMENT, name, size, err);
    }
    if (rc == 0)
        rc = pruneSummaries(&run, firstSeq, err);
    /* 5. Older prune records. */
    if (rc == 0)
        rc = storageList(a->storage, ARCHIVE_PRUNE_PREFIX, recordScanCb, &records, err);
    for (size_t i = 0; i < records.count && rc == 0; i++) {
        char name[64];

        archivePruneName(records.below[i], name, sizeof(name));
        rc = pruneRemove(&run, ARCHIVE_PRUNE_REMOVE_RECORD, name, 0, err);
    }
    bvFree(records.below);
    return rc;
}

int
archivePruneOverViewRetrying(Archive *a, ArchiveView **v, uint64_t firstSeq, const char *reason, bool dryRun,
                             ArchivePruneStepFn *step, void *data, Err *err) {
    for (int attempt = 1; archivePruneOverView(a, *v, firstSeq, reason, dryRun, step, data, err) != 0; attempt++) {
        ArchiveView *fresh;

        if (err->code != ERR_NOTFOUND || attempt >= ARCHIVE_PRUNE_ATTEMPTS ||
            (fresh = archiveViewOpen(a, ARCHIVE_LOAD_DISCOVER, err)) == NULL)
            return -1;
        archiveViewFree(*v);
        *v = fresh;
    }
    return 0;
}
