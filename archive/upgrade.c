/*
 * The upgrade of a format-1 archive to format 2 (upgrade.h): one streaming pass over index/ (chunks
 * in name order, each read once, the lines of one block and one level-1 document in memory), then
 * binvault.json, then a second listing that deletes what the aligned chunks replace.
 */
#include "archive/upgrade.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/identity.h"
#include "archive/index.h"
#include "archive/internal.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/mem.h"

typedef struct Upgrader {
    Archive *a;
    bool dryRun;
    ArchiveUpgradeReport *rep;
    uint64_t firstSeq; /* the archive's first kept seq */
    uint64_t expect;   /* the next seq wanted from the chunks */
    Buf *run;          /* lines of seqs runFirst.. within one block */
    uint64_t runFirst, runLast;
    SegmentMeta before; /* the segment before the run (seq 0: unknown) */
    SegmentMeta prev;   /* the last segment taken */
    SegmentMeta first;  /* the archive's first kept segment (seq 0: none yet) */
    Buf *doc;           /* the level-1 document being built: blocks docFirst..docLast */
    uint64_t docFirst, docLast;
    Coverage canon;     /* seqs the aligned chunks cover */
    Interval *aligned;  /* the aligned chunks themselves (kept by step 5) */
    size_t alignedCount, alignedCap;
    Interval *docs;     /* the level-1 documents written */
    size_t docCount, docCap;
} Upgrader;

static void
intervalPush(Interval **iv, size_t *n, size_t *cap, uint64_t first, uint64_t last) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *iv = bvRealloc(*iv, *cap * sizeof(**iv));
    }
    (*iv)[*n].first = first;
    (*iv)[*n].last = last;
    (*n)++;
}

static int
flushDoc(Upgrader *u, Err *err) {
    char name[96];

    if (u->docFirst == 0)
        return 0;
    archiveSummaryName(u->docFirst, u->docLast, name, sizeof(name));
    if (!u->dryRun && storagePutBuf(u->a->storage, name, u->doc->data, u->doc->len, STORAGE_PUT_IMMUTABLE, err) != 0)
        return -1;
    u->rep->summaries++;
    intervalPush(&u->docs, &u->docCount, &u->docCap, u->docFirst, u->docLast);
    bufClear(u->doc);
    u->docFirst = u->docLast = 0;
    return 0;
}

/* The summary line of the whole block in u->run, added to the level-1 document. */
static int
summarise(Upgrader *u, Err *err) {
    SegmentMeta *metas;
    ArchiveSpan span;
    uint8_t sha[CRYPTO_SHA256_LEN];
    size_t n;

    if (archiveChunkParse(u->run->data, u->run->len, u->runFirst, u->runLast, &metas, &n, err) != 0)
        return -1;
    archiveSpanFromMetas(u->before.seq != 0 && u->before.seq + 1 == u->runFirst ? &u->before : NULL, metas, n, &span);
    archiveMetasFree(metas, n);
    archiveChunkName(u->runFirst, u->runLast, span.name, sizeof(span.name));
    span.size = u->run->len;
    cryptoSha256(u->run->data, u->run->len, sha);
    cryptoHexEncode(sha, sizeof(sha), span.sha256);
    if (u->docFirst != 0 &&
        (archiveSummaryGroupOf(u->docFirst) != archiveSummaryGroupOf(u->runFirst) || u->docLast + 1 != u->runFirst) &&
        flushDoc(u, err) != 0) {
        archiveSpanClear(&span);
        return -1;
    }
    if (u->docFirst == 0)
        u->docFirst = u->runFirst;
    u->docLast = u->runLast;
    archiveSpanToJson(&span, u->doc);
    bufAppend(u->doc, "\n", 1);
    archiveSpanClear(&span);
    return 0;
}

/* Store the run as an aligned chunk (a whole block: its block chunk and summary line). */
static int
flushRun(Upgrader *u, Err *err) {
    uint64_t block;
    char name[64];

    if (u->runFirst == 0)
        return 0;
    block = archiveBlockOf(u->runFirst);
    archiveChunkName(u->runFirst, u->runLast, name, sizeof(name));
    if (!u->dryRun && storagePutBuf(u->a->storage, name, u->run->data, u->run->len, STORAGE_PUT_IMMUTABLE, err) != 0)
        return -1;
    archiveCoverageAdd(&u->canon, u->runFirst, u->runLast);
    intervalPush(&u->aligned, &u->alignedCount, &u->alignedCap, u->runFirst, u->runLast);
    if (u->runFirst == archiveBlockFirst(block) && u->runLast == archiveBlockLast(block)) {
        u->rep->blocks++;
        u->rep->blockChunks++;
        if (summarise(u, err) != 0)
            return -1;
    } else if (flushDoc(u, err) != 0) {
        /* A block with a hole (or cut by a prune, or still open) has no summary line: the document
         * of the blocks before it ends there. */
        return -1;
    }
    bufClear(u->run);
    u->runFirst = u->runLast = 0;
    return 0;
}

/* One index line of seq `seq`, `raw` its bytes. */
static int
takeLine(Upgrader *u, const SegmentMeta *m, const uint8_t *raw, size_t len, Err *err) {
    if (m->seq < u->expect)
        return 0;
    if (m->seq > u->expect && flushRun(u, err) != 0) /* seqs the index does not describe */
        return -1;
    if (u->first.seq == 0)
        segmentMetaCopy(&u->first, m);
    if (u->runFirst == 0) {
        u->runFirst = m->seq;
        segmentMetaClear(&u->before);
        segmentMetaCopy(&u->before, &u->prev);
    }
    bufAppend(u->run, raw, len);
    bufAppend(u->run, "\n", 1);
    u->runLast = m->seq;
    u->expect = m->seq + 1;
    segmentMetaClear(&u->prev);
    segmentMetaCopy(&u->prev, m);
    if (m->seq == archiveBlockLast(archiveBlockOf(m->seq)))
        return flushRun(u, err);
    return 0;
}

static int
listChunkCb(const char *name, uint64_t size, void *data, Err *err) {
    Upgrader *u = data;
    uint64_t first, last;
    uint8_t *text;
    size_t len, pos = 0;
    int rc = 0;

    (void)size;
    if (archiveChunkNameParse(name, &first, &last) != 0 || last < u->expect)
        return 0;
    if (storageGetBuf(u->a->storage, name, ARCHIVE_CHUNK_MAX_BYTES, &text, &len, err) != 0)
        return errPrefix(err, "index chunk '%s' in '%s'", name, archiveUrl(u->a));
    while (pos < len && rc == 0) {
        const uint8_t *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        SegmentMeta m;

        if (segmentMetaFromJson((const char *)text + pos, end - pos, true, &m, err) != 0) {
            rc = errPrefix(err, "index chunk '%s' in '%s'", name, archiveUrl(u->a));
            break;
        }
        rc = takeLine(u, &m, text + pos, end - pos, err);
        segmentMetaClear(&m);
        pos = end + 1;
    }
    bvFree(text);
    return rc;
}

/* Step 1: the record of timeline 1, when the archive has none. */
static int
timelineOne(Upgrader *u, const ArchiveIdentity *id, Err *err) {
    TimelineSet *set;
    TimelineRecord rec;
    size_t count;
    int rc;

    if (timelineSetLoad(u->a, &set, err) != 0)
        return -1;
    count = timelineSetCount(set);
    timelineSetFree(set);
    if (count > 0 || u->first.seq == 0 || u->dryRun)
        return 0;
    memset(&rec, 0, sizeof(rec));
    rec.timeline = 1;
    rec.source.flavour = id->flavour;
    rec.source.serverId = id->serverId;
    snprintf(rec.source.serverUuid, sizeof(rec.source.serverUuid), "%s", id->serverUuid);
    snprintf(rec.source.host, sizeof(rec.source.host), "%s", id->source);
    snprintf(rec.source.serverVersion, sizeof(rec.source.serverVersion), "%s", id->serverVersion);
    timelineBasename(u->first.file, rec.source.basename, sizeof(rec.source.basename));
    rec.firstSeq = u->first.seq;
    snprintf(rec.reason, sizeof(rec.reason), "%s", "upgrade of a format-1 archive");
    rc = timelineRecordWrite(u->a, &rec, err);
    timelineRecordClear(&rec);
    return rc;
}

/* The first kept segment's line, for timeline 1's record (one chunk read). */
static int
firstLineCb(const char *name, uint64_t size, void *data, Err *err) {
    Upgrader *u = data;
    uint64_t first, last;
    SegmentMeta *metas;
    uint8_t *text;
    size_t len, n;
    int rc;

    (void)size;
    if (archiveChunkNameParse(name, &first, &last) != 0 || last < u->firstSeq)
        return 0;
    if (storageGetBuf(u->a->storage, name, ARCHIVE_CHUNK_MAX_BYTES, &text, &len, err) != 0)
        return -1;
    rc = archiveChunkParse(text, len, first, last, &metas, &n, err);
    bvFree(text);
    if (rc != 0)
        return errPrefix(err, "index chunk '%s' in '%s'", name, archiveUrl(u->a));
    for (size_t i = 0; i < n && u->first.seq == 0; i++)
        if (metas[i].seq >= u->firstSeq)
            segmentMetaCopy(&u->first, &metas[i]);
    archiveMetasFree(metas, n);
    return STORAGE_LIST_STOP;
}

static bool
isAligned(const Upgrader *u, uint64_t first, uint64_t last) {
    for (size_t i = 0; i < u->alignedCount; i++)
        if (u->aligned[i].first == first && u->aligned[i].last == last)
            return true;
    return false;
}

/* Step 5: delete the chunks the aligned ones cover, and level-1 documents a wider one replaces. */
static int
removeCb(const char *name, uint64_t size, void *data, Err *err) {
    Upgrader *u = data;
    uint64_t first, last;

    (void)size;
    if (archiveSummaryNameParse(name, &first, &last) == 0) {
        for (size_t i = 0; i < u->docCount; i++)
            if (u->docs[i].first <= first && u->docs[i].last >= last &&
                (u->docs[i].first != first || u->docs[i].last != last)) {
                u->rep->chunksRemoved++;
                return u->dryRun ? 0 : storageRemove(u->a->storage, name, err);
            }
        return 0;
    }
    if (archiveChunkNameParse(name, &first, &last) != 0 || first < u->firstSeq || isAligned(u, first, last) ||
        !archiveCoverageHas(&u->canon, first, last))
        return 0;
    u->rep->chunksRemoved++;
    return u->dryRun ? 0 : storageRemove(u->a->storage, name, err);
}

int
archiveUpgrade(Archive *a, bool dryRun, ArchiveUpgradeReport *report, Err *err) {
    Upgrader u = {.a = a, .dryRun = dryRun, .rep = report};
    ArchiveCatalog *state = archiveCatalogNew();
    ArchiveIdentity id;
    int rc = -1;

    memset(report, 0, sizeof(*report));
    u.run = bufNew(0);
    u.doc = bufNew(0);
    if (archiveIdentityRead(a, &id, err) != 0)
        goto out;
    report->fromVersion = id.version;
    if (archiveCatalogLoadState(a, state, UINT64_MAX, 0, err) != 0)
        goto out;
    u.firstSeq = u.expect = state->firstSeq;
    if (storageList(a->storage, ARCHIVE_INDEX_PREFIX, firstLineCb, &u, err) != 0 || timelineOne(&u, &id, err) != 0)
        goto out;
    segmentMetaClear(&u.first);
    memset(&u.first, 0, sizeof(u.first));
    /* Steps 2 and 3, one group of blocks at a time: a block's chunk before its summary line. */
    if (storageList(a->storage, ARCHIVE_INDEX_PREFIX, listChunkCb, &u, err) != 0 || flushRun(&u, err) != 0 ||
        flushDoc(&u, err) != 0)
        goto out;
    if (id.version < ARCHIVE_IDENTITY_VERSION2) {
        if (!dryRun && archiveIdentitySetVersion2(a, err) != 0)
            goto out;
        report->identityWritten = true;
    }
    if (storageList(a->storage, ARCHIVE_INDEX_PREFIX, removeCb, &u, err) != 0 ||
        storageList(a->storage, ARCHIVE_SUMMARY1_PREFIX, removeCb, &u, err) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        errPrefix(err, "unable to upgrade the archive '%s' to format 2", archiveUrl(a));
    archiveCatalogFree(state);
    bufFree(u.run);
    bufFree(u.doc);
    segmentMetaClear(&u.before);
    segmentMetaClear(&u.prev);
    segmentMetaClear(&u.first);
    bvFree(u.canon.iv);
    bvFree(u.aligned);
    bvFree(u.docs);
    return rc;
}

int
archiveUpgradeOnOpen(Archive *a, bool *upgraded, Err *err) {
    ArchiveUpgradeReport rep;
    ArchiveIdentity id;

    if (upgraded != NULL)
        *upgraded = false;
    if (archiveIdentityRead(a, &id, err) != 0) {
        if (err->code != ERR_NOTFOUND)
            return -1;
        errClear(err);
        return 0; /* a new archive: its writer creates binvault.json */
    }
    if (id.version >= ARCHIVE_IDENTITY_VERSION2)
        return 0;
    logInfo("upgrading the archive '%s' to format 2 (docs/FORMAT.md \"Format 2\")", archiveUrl(a));
    if (archiveUpgrade(a, false, &rep, err) != 0)
        return -1;
    logInfo("archive '%s' upgraded to format 2: %zu blocks, %zu summaries, %zu index chunks removed", archiveUrl(a),
            rep.blocks, rep.summaries, rep.chunksRemoved);
    if (upgraded != NULL)
        *upgraded = true;
    return 0;
}
