/*
 * libFuzzer target for the archive's metadata documents (archive/archive.h), which come from the
 * store and may be corrupt or hostile. The first byte picks what the rest is:
 *  0: binvault.json (archiveIdentityParse)
 *  1: checkpoint.json (archiveCheckpointParse)
 *  2: an index chunk: its object name on the first line, then its content (archiveChunkNameParse,
 *     archiveChunkParse), optionally followed by a NUL and a base backup's binlog info. What
 *     parses becomes a catalog (archiveCatalogAdd) on which every catalog question is asked:
 *     continuity and windows (GTID state comparisons of the lines' states), the lookups by GTID,
 *     position and time, the checkpoint it supports, and the retention point of a prune (by time,
 *     by GTID, with the base backup).
 *  3: a prune record (archivePruneRecordParse) and prune record names.
 *  4: a base backup's binlog info (archiveBasePointParse).
 *  5: a catalog summary: its object name on the first line, then its content
 *     (archiveSummaryNameParse, archiveSummaryParse); each span that parses must cover one whole
 *     block, follow the one before, and read back the same from its own JSON line.
 * Seeds: fuzz/seeds-index/ (documents of archives of the fixture binlogs; see docs/FUZZING.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive/backup.h"
#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "archive/continuity.h"
#include "archive/identity.h"
#include "archive/index.h"
#include "archive/lookup.h"
#include "archive/prune.h"
#include "archive/summary.h"
#include "common/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
questions(ArchiveCatalog *c, const ArchiveBasePoint *bp) {
    ArchiveGap *gaps;
    ArchiveWindow *windows, w;
    ArchiveCheckpoint cp;
    size_t n = archiveCatalogCount(c), idx;
    uint64_t objectBytes, contentBytes, seq, first = archiveCatalogAt(c, 0)->seq, last = archiveCatalogLast(c)->seq;
    Buf *out = bufNew(256);
    Err err;

    archiveCatalogGaps(c, &gaps);
    bvFree(gaps);
    archiveCatalogWindows(c, &windows);
    bvFree(windows);
    if (archiveCatalogWindow(c, &w, &err) == 0) {
        if (w.to != archiveCatalogLast(c))
            abort(); /* the restorable window ends with the last segment */
        archiveWindowToJson(&w, out);
    }
    archiveCatalogTotals(c, &objectBytes, &contentBytes);
    archiveCatalogFlavour(c);
    if (archiveCatalogContiguousSeq(c) > last)
        abort();
    archiveCheckpointFromCatalog(c, &cp);
    archiveCheckpointClear(&cp);
    for (size_t i = 0; i < n; i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);

        if (m->firstGtid[0] != '\0')
            archiveCatalogFindGtid(c, m->firstGtid, &idx, &err);
        if (m->lastGtid[0] != '\0')
            archiveCatalogFindGtid(c, m->lastGtid, &idx, &err);
        if (archiveCatalogFindPosition(c, m->file, m->startPos, &idx, &err) == 0 && idx >= n)
            abort();
        archiveCatalogFindPosition(c, m->file, m->endPos, &idx, &err);
        archiveCatalogFindTime(c, m->firstTimeUs, false, &idx, &err);
        if (i == n / 2) {
            ArchiveRetention r = {.keepFromUs = m->lastTimeUs, .bases = bp, .baseCount = bp != NULL};

            if (archiveRetentionSeq(c, &r, &seq, &err) == 0 && (seq < first || seq > last))
                abort(); /* never past the last segment */
            if (m->lastGtid[0] != '\0') {
                r.beforeGtid = m->lastGtid;
                if (archiveRetentionSeq(c, &r, &seq, &err) == 0 && (seq < first || seq > last))
                    abort();
            }
        }
    }
    if (bp != NULL)
        archiveBaseNeededSeq(c, bp, &seq, &err);
    bufFree(out);
}

static void
chunk(const uint8_t *p, size_t len) {
    const uint8_t *end = p + len, *nl = memchr(p, '\n', len), *body, *nul;
    char *name;
    uint64_t first, last;
    SegmentMeta *metas;
    size_t n, bodyLen;
    ArchiveBasePoint bp;
    bool haveBp = false;
    Err err;

    if (nl == NULL)
        return;
    name = bvStrndup((const char *)p, (size_t)(nl - p));
    if (archiveChunkNameParse(name, &first, &last) != 0) {
        bvFree(name);
        return;
    }
    bvFree(name);
    body = nl + 1;
    bodyLen = (size_t)(end - body);
    if ((nul = memchr(body, '\0', bodyLen)) != NULL) {
        bodyLen = (size_t)(nul - body);
        haveBp = archiveBasePointParse((const char *)nul + 1, (size_t)(end - nul - 1), &bp, &err) == 0;
    }
    if (archiveChunkParse(body, bodyLen, first, last, &metas, &n, &err) == 0) {
        ArchiveCatalog *c = archiveCatalogNew();

        if (n != last - first + 1)
            abort();
        for (size_t i = 0; i < n; i++)
            if (metas[i].seq != first + i || archiveCatalogAdd(c, &metas[i], true, &err) != 0)
                abort();
        questions(c, haveBp ? &bp : NULL);
        archiveCatalogFree(c);
        for (size_t i = 0; i < n; i++)
            segmentMetaClear(&metas[i]);
        bvFree(metas);
    }
    if (haveBp)
        archiveBasePointClear(&bp);
}

static void
prune(const uint8_t *p, size_t len) {
    ArchivePruneRecord rec;
    char *text = bvStrndup((const char *)p, len), name[64];
    uint64_t seq;
    Err err;

    if (archivePruneRecordParse((const char *)p, len, &rec, &err) == 0) {
        archivePruneName(rec.firstSeq, name, sizeof(name));
        if (rec.firstSeq < 10000000000000000ull && (archivePruneNameParse(name, &seq) != 0 || seq != rec.firstSeq))
            abort();
        archivePruneRecordClear(&rec);
    }
    archivePruneNameParse(text, &seq);
    bvFree(text);
}

static void
summary(const uint8_t *p, size_t len) {
    const uint8_t *nl = memchr(p, '\n', len);
    uint64_t first, last, expect;
    ArchiveSpan *spans;
    char *name;
    size_t n;
    Err err;

    if (nl == NULL)
        return;
    name = bvStrndup((const char *)p, (size_t)(nl - p));
    if (archiveSummaryNameParse(name, &first, &last) != 0) {
        bvFree(name);
        return;
    }
    bvFree(name);
    if (archiveSummaryParse(nl + 1, len - (size_t)(nl + 1 - p), first, last, &spans, &n, &err) != 0)
        return;
    expect = first;
    for (size_t i = 0; i < n; i++) {
        ArchiveSpan back;
        Buf *line = bufNew(1024);

        if (spans[i].firstSeq != expect || spans[i].lastSeq != archiveBlockLast(archiveBlockOf(expect)) ||
            spans[i].minTimeUs > spans[i].maxTimeUs)
            abort();
        expect = spans[i].lastSeq + 1;
        archiveSpanToJson(&spans[i], line);
        if (archiveSpanParse((const char *)line->data, line->len, &back, &err) != 0 ||
            back.lastSeq != spans[i].lastSeq || back.breakCount != spans[i].breakCount ||
            strcmp(back.gtidEnd, spans[i].gtidEnd) != 0)
            abort();
        archiveSpanClear(&back);
        bufFree(line);
    }
    if (expect != last + 1)
        abort();
    archiveSpansFree(spans, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ArchiveIdentity id;
    ArchiveCheckpoint cp;
    ArchiveBasePoint bp;
    Err err;

    if (size == 0)
        return 0;
    switch (data[0] % 6) {
    case 0: archiveIdentityParse((const char *)data + 1, size - 1, &id, &err); break;
    case 1:
        if (archiveCheckpointParse((const char *)data + 1, size - 1, &cp, &err) == 0)
            archiveCheckpointClear(&cp);
        break;
    case 2: chunk(data + 1, size - 1); break;
    case 3: prune(data + 1, size - 1); break;
    case 5: summary(data + 1, size - 1); break;
    default:
        if (archiveBasePointParse((const char *)data + 1, size - 1, &bp, &err) == 0) {
            if (!segmentFileNameValid(bp.file) || bp.pos < 4 || bp.gtid == NULL)
                abort();
            archiveBasePointClear(&bp);
        }
        break;
    }
    return 0;
}
