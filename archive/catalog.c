/*
 * The catalog in memory (entries in seq order, chunks, problems) and its loading from the store:
 * index chunks, prune records, and with ARCHIVE_LOAD_DISCOVER the segments no chunk describes.
 */
#include "archive/catalog.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/index.h"
#include "archive/internal.h"
#include "common/mem.h"

ArchiveCatalog *
archiveCatalogNew(void) {
    ArchiveCatalog *c = bvCalloc(1, sizeof(ArchiveCatalog));

    c->firstSeq = 1;
    return c;
}

void
archiveCatalogNote(ArchiveCatalog *c, const char *fmt, ...) {
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->problemCount == c->problemCap) {
        c->problemCap = c->problemCap ? c->problemCap * 2 : 8;
        c->problems = bvRealloc(c->problems, c->problemCap * sizeof(*c->problems));
    }
    c->problems[c->problemCount++] = bvStrdup(msg);
}

/* Index of the first entry with seq >= `seq`. */
size_t
archiveCatalogLowerBound(const ArchiveCatalog *c, uint64_t seq) {
    size_t lo = 0, hi = c->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->entries[mid]->meta.seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void
archiveCatalogReserve(ArchiveCatalog *c) {
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->entries = bvRealloc(c->entries, c->cap * sizeof(*c->entries));
    }
}

CatalogEntry *
archiveEntryNew(const SegmentMeta *meta, bool indexed, size_t order) {
    CatalogEntry *e = bvCalloc(1, sizeof(*e));

    segmentMetaCopy(&e->meta, meta);
    e->indexed = indexed;
    e->order = order;
    return e;
}

void
archiveEntryFree(CatalogEntry *e) {
    if (e == NULL)
        return;
    segmentMetaClear(&e->meta);
    bvFree(e);
}

/* Same object: same name and, when both know it, same sha256 and size. */
bool
archiveSameObject(const SegmentMeta *a, const SegmentMeta *b) {
    if (strcmp(a->name, b->name) != 0)
        return false;
    if (a->sha256[0] != '\0' && b->sha256[0] != '\0' && (strcmp(a->sha256, b->sha256) != 0 || a->size != b->size))
        return false;
    return true;
}

int
archiveCatalogAdd(ArchiveCatalog *c, const SegmentMeta *meta, bool indexed, Err *err) {
    size_t at = archiveCatalogLowerBound(c, meta->seq);

    if (at < c->count && c->entries[at]->meta.seq == meta->seq) {
        CatalogEntry *e = c->entries[at];

        if (!archiveSameObject(&e->meta, meta))
            return errSet(err, ERR_EXISTS, "seq %" PRIu64 " is already '%s'%s%s, not '%s'%s%s", meta->seq, e->meta.name,
                          e->meta.sha256[0] ? " sha256 " : "", e->meta.sha256, meta->name,
                          meta->sha256[0] ? " sha256 " : "", meta->sha256);
        if (indexed)
            e->indexed = true;
        if (e->meta.sha256[0] == '\0' && meta->sha256[0] != '\0') {
            snprintf(e->meta.sha256, sizeof(e->meta.sha256), "%s", meta->sha256);
            e->meta.size = meta->size;
        }
        return 0;
    }
    archiveCatalogReserve(c);
    memmove(c->entries + at + 1, c->entries + at, (c->count - at) * sizeof(*c->entries));
    c->entries[at] = archiveEntryNew(meta, indexed, c->count);
    c->count++;
    return 0;
}

size_t
archiveCatalogCount(const ArchiveCatalog *c) {
    return c->count;
}

const SegmentMeta *
archiveCatalogAt(const ArchiveCatalog *c, size_t i) {
    BV_ASSERT(i < c->count);
    return &c->entries[i]->meta;
}

bool
archiveCatalogIndexed(const ArchiveCatalog *c, size_t i) {
    BV_ASSERT(i < c->count);
    return c->entries[i]->indexed;
}

bool
archiveCatalogListed(const ArchiveCatalog *c, size_t i, uint64_t *size) {
    BV_ASSERT(i < c->count);
    if (!c->discovered) {
        if (size != NULL)
            *size = c->entries[i]->meta.size;
        return true;
    }
    if (size != NULL)
        *size = c->entries[i]->listedSize;
    return c->entries[i]->listed;
}

bool
archiveCatalogFind(const ArchiveCatalog *c, uint64_t seq, size_t *idx) {
    size_t at = archiveCatalogLowerBound(c, seq);

    if (at < c->count && c->entries[at]->meta.seq == seq) {
        *idx = at;
        return true;
    }
    return false;
}

const SegmentMeta *
archiveCatalogLast(const ArchiveCatalog *c) {
    return c->count ? &c->entries[c->count - 1]->meta : NULL;
}

BinlogFlavour
archiveCatalogFlavour(const ArchiveCatalog *c) {
    return c->count ? c->entries[0]->meta.flavour : BINLOG_FLAVOUR_UNKNOWN;
}

uint64_t
archiveCatalogContiguousSeq(const ArchiveCatalog *c) {
    uint64_t seq = c->firstSeq - 1;
    bool any = false;

    for (size_t i = 0; i < c->count; i++) {
        if (c->entries[i]->meta.seq != seq + 1 || !c->entries[i]->indexed)
            break;
        seq++;
        any = true;
    }
    return any ? seq : 0;
}

uint64_t
archiveCatalogFirstSeq(const ArchiveCatalog *c) {
    return c->firstSeq;
}

size_t
archiveCatalogLeftoverCount(const ArchiveCatalog *c) {
    return c->leftoverCount;
}

const char *
archiveCatalogLeftover(const ArchiveCatalog *c, size_t i, uint64_t *size) {
    BV_ASSERT(i < c->leftoverCount);
    if (size != NULL)
        *size = c->leftoverSizes[i];
    return c->leftovers[i];
}

void
archiveCatalogTotals(const ArchiveCatalog *c, uint64_t *objectBytes, uint64_t *contentBytes) {
    *objectBytes = *contentBytes = 0;
    for (size_t i = 0; i < c->count; i++) {
        *objectBytes += c->entries[i]->meta.size;
        *contentBytes += c->entries[i]->meta.contentLen;
    }
}

size_t
archiveCatalogProblemCount(const ArchiveCatalog *c) {
    return c->problemCount;
}

const char *
archiveCatalogProblem(const ArchiveCatalog *c, size_t i) {
    BV_ASSERT(i < c->problemCount);
    return c->problems[i];
}

size_t
archiveCatalogChunkCount(const ArchiveCatalog *c) {
    return c->chunkCount;
}

void
archiveCatalogChunkAt(const ArchiveCatalog *c, size_t i, uint64_t *first, uint64_t *last, bool *used) {
    BV_ASSERT(i < c->chunkCount);
    *first = c->chunks[i].first;
    *last = c->chunks[i].last;
    *used = c->chunks[i].used;
}

void
archiveCatalogChunkAdd(ArchiveCatalog *c, uint64_t first, uint64_t last, bool used) {
    for (size_t i = 0; i < c->chunkCount; i++)
        if (c->chunks[i].first == first && c->chunks[i].last == last) {
            c->chunks[i].used = c->chunks[i].used || used;
            return;
        }
    if (c->chunkCount == c->chunkCap) {
        c->chunkCap = c->chunkCap ? c->chunkCap * 2 : 16;
        c->chunks = bvRealloc(c->chunks, c->chunkCap * sizeof(*c->chunks));
    }
    c->chunks[c->chunkCount].first = first;
    c->chunks[c->chunkCount].last = last;
    c->chunks[c->chunkCount].used = used;
    c->chunkCount++;
}

void
archiveCatalogChunkRemove(ArchiveCatalog *c, uint64_t first, uint64_t last) {
    for (size_t i = 0; i < c->chunkCount; i++)
        if (c->chunks[i].first == first && c->chunks[i].last == last) {
            c->chunks[i] = c->chunks[--c->chunkCount];
            return;
        }
}

void
archiveCatalogFree(ArchiveCatalog *c) {
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        archiveEntryFree(c->entries[i]);
    for (size_t i = 0; i < c->problemCount; i++)
        bvFree(c->problems[i]);
    for (size_t i = 0; i < c->leftoverCount; i++)
        bvFree(c->leftovers[i]);
    bvFree(c->leftovers);
    bvFree(c->leftoverSizes);
    bvFree(c->pruneRecords);
    archivePruneRecordClear(&c->prune);
    for (size_t i = 0; i < c->gapRecordCount; i++)
        archiveGapRecordClear(&c->gapRecords[i]);
    bvFree(c->gapRecords);
    bvFree(c->entries);
    bvFree(c->chunks);
    bvFree(c->problems);
    bvFree(c);
}

void
archiveMetasFree(SegmentMeta *metas, size_t n) {
    for (size_t i = 0; i < n; i++)
        segmentMetaClear(&metas[i]);
    bvFree(metas);
}

/* ---- loading ---- */

/* Loads of a catalog whose objects keep vanishing under it before archiveCatalogLoad() gives up. */
#define ARCHIVE_LOAD_ATTEMPTS 5

static int
chunkRead(Archive *a, uint64_t first, uint64_t last, SegmentMeta **metas, size_t *n, Err *err) {
    char name[64];
    uint8_t *data;
    size_t len;
    int rc;

    archiveChunkName(first, last, name, sizeof(name));
    if (storageGetBuf(a->storage, name, ARCHIVE_CHUNK_MAX_BYTES, &data, &len, err) != 0)
        return -1;
    rc = archiveChunkParse(data, len, first, last, metas, n, err);
    bvFree(data);
    if (rc != 0)
        errPrefix(err, "index chunk '%s' in '%s'", name, archiveUrl(a));
    return rc;
}

bool
archiveCoverageHas(const Coverage *cov, uint64_t first, uint64_t last) {
    for (size_t i = 0; i < cov->n; i++)
        if (cov->iv[i].first <= first && cov->iv[i].last >= last)
            return true;
    return false;
}

void
archiveCoverageAdd(Coverage *cov, uint64_t first, uint64_t last) {
    size_t i = 0, j;

    while (i < cov->n && cov->iv[i].last + 1 < first)
        i++;
    /* Merge every interval that overlaps or touches [first, last] into it. */
    j = i;
    while (j < cov->n && cov->iv[j].first <= last + 1) {
        if (cov->iv[j].first < first)
            first = cov->iv[j].first;
        if (cov->iv[j].last > last)
            last = cov->iv[j].last;
        j++;
    }
    if (j == i) {
        if (cov->n == cov->cap) {
            cov->cap = cov->cap ? cov->cap * 2 : 16;
            cov->iv = bvRealloc(cov->iv, cov->cap * sizeof(*cov->iv));
        }
        memmove(cov->iv + i + 1, cov->iv + i, (cov->n - i) * sizeof(*cov->iv));
        cov->n++;
    } else if (j > i + 1) {
        memmove(cov->iv + i + 1, cov->iv + j, (cov->n - j) * sizeof(*cov->iv));
        cov->n -= j - i - 1;
    }
    cov->iv[i].first = first;
    cov->iv[i].last = last;
}

typedef struct LoadCtx {
    ArchiveCatalog *c;
    Interval *chunks;
    size_t chunkCount, chunkCap;
    /* discovered segments: name and size */
    char **names;
    uint64_t *sizes;
    size_t found, foundCap;
    bool vanished; /* a listed object was gone when read: a concurrent merge or prune; load again */
    uint64_t from; /* segments/ is listed from this seq: a name of a lower seq is skipped */
    uint64_t to;   /* the listings stop after this seq (UINT64_MAX: they go to the end) */
} LoadCtx;

static int
listIndexCb(const char *name, uint64_t size, void *data, Err *err) {
    LoadCtx *ctx = data;
    uint64_t first, last;

    (void)size;
    (void)err;
    if (archiveChunkNameParse(name, &first, &last) != 0) {
        archiveCatalogNote(ctx->c, "unexpected object '%s' in index/ (not an index chunk name)", name);
        return 0;
    }
    if (first > ctx->to)
        return STORAGE_LIST_STOP;
    if (ctx->chunkCount == ctx->chunkCap) {
        ctx->chunkCap = ctx->chunkCap ? ctx->chunkCap * 2 : 16;
        ctx->chunks = bvRealloc(ctx->chunks, ctx->chunkCap * sizeof(*ctx->chunks));
    }
    ctx->chunks[ctx->chunkCount].first = first;
    ctx->chunks[ctx->chunkCount].last = last;
    ctx->chunkCount++;
    return 0;
}

/* A chunk to load: its seqs first..last, of which from..last are kept (from = the first seq of a
 * pruned archive when the chunk starts before it). */
typedef struct ChunkRef {
    uint64_t first, last, from;
} ChunkRef;

/* Widest kept range first; among equals, a chunk that starts at `from` (not one that reaches into
 * the pruned seqs, which a prune replaces and deletes), then the lowest first. */
static int
chunkOrder(const void *pa, const void *pb) {
    const ChunkRef *a = pa, *b = pb;
    uint64_t wa = a->last - a->from, wb = b->last - b->from;
    bool sa = a->first < a->from, sb = b->first < b->from;

    if (wa != wb)
        return wa > wb ? -1 : 1;
    if (sa != sb)
        return sa ? 1 : -1;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* By seq, then load order. */
static int
entryOrder(const void *pa, const void *pb) {
    const CatalogEntry *a = *(CatalogEntry *const *)pa, *b = *(CatalogEntry *const *)pb;

    if (a->meta.seq != b->meta.seq)
        return a->meta.seq < b->meta.seq ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Sort the appended entries and keep the first of each seq, noting chunks that disagree. */
static void
sortEntries(ArchiveCatalog *c) {
    size_t out = 0;

    if (c->count > 1)
        qsort(c->entries, c->count, sizeof(*c->entries), entryOrder);
    for (size_t i = 0; i < c->count; i++) {
        CatalogEntry *e = c->entries[i];

        if (out > 0 && c->entries[out - 1]->meta.seq == e->meta.seq) {
            const SegmentMeta *keep = &c->entries[out - 1]->meta;

            if (!archiveSameObject(keep, &e->meta) || keep->endPos != e->meta.endPos ||
                strcmp(keep->contentSha256, e->meta.contentSha256) != 0)
                archiveCatalogNote(c, "index chunks disagree about seq %" PRIu64 ": '%s' sha256 %s in the widest chunk, '%s' sha256 %s in another",
                        keep->seq, keep->name, keep->sha256, e->meta.name, e->meta.sha256);
            archiveEntryFree(e);
            continue;
        }
        c->entries[out++] = e;
    }
    c->count = out;
    for (size_t i = 0; i < c->count; i++)
        c->entries[i]->order = i;
}

static int
listPruneCb(const char *name, uint64_t size, void *data, Err *err) {
    ArchiveCatalog *c = data;
    uint64_t seq;

    (void)size;
    (void)err;
    if (archivePruneNameParse(name, &seq) != 0) {
        archiveCatalogNote(c, "unexpected object '%s' in %s (not a prune record name)", name, ARCHIVE_PRUNE_PREFIX);
        return 0;
    }
    if (c->pruneRecordCount == c->pruneRecordCap) {
        c->pruneRecordCap = c->pruneRecordCap ? c->pruneRecordCap * 2 : 4;
        c->pruneRecords = bvRealloc(c->pruneRecords, c->pruneRecordCap * sizeof(*c->pruneRecords));
    }
    c->pruneRecords[c->pruneRecordCount++] = seq;
    return 0;
}

/* The prune records: the newest one sets firstSeq. It must be readable and say what its name says,
 * and no index may end before it (a prune keeps an indexed segment). `maxLast` is the highest seq
 * the index chunks describe. */
static int
loadPrune(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, uint64_t maxLast, unsigned flags, Err *err) {
    ArchivePruneRecord rec;
    uint64_t newest = 0;
    char name[64];
    uint8_t *data;
    size_t len;
    int rc;

    if (storageList(a->storage, ARCHIVE_PRUNE_PREFIX, listPruneCb, c, err) != 0)
        return -1;
    for (size_t i = 0; i < c->pruneRecordCount; i++)
        if (c->pruneRecords[i] > newest)
            newest = c->pruneRecords[i];
    if (newest <= 1)
        return 0;
    archivePruneName(newest, name, sizeof(name));
    if (newest > maxLast) {
        /* A prune never writes one (FORMAT.md "Pruning"): every reader ignores it alike and says so,
         * rather than some refusing the whole archive. */
        archiveCatalogNote(c,
                           "prune record '%s' in '%s' says the archive starts at seq %" PRIu64 ", but its index ends "
                           "at seq %" PRIu64 ": the record is ignored",
                           name, archiveUrl(a), newest, maxLast);
        return 0;
    }
    c->firstSeq = newest;
    if (storageGetBuf(a->storage, name, ARCHIVE_DOC_MAX, &data, &len, err) != 0) {
        if (err->code == ERR_NOTFOUND) {
            ctx->vanished = true; /* deleted by a newer prune since the listing */
            return -1;
        }
        goto bad;
    }
    rc = archivePruneRecordParse((const char *)data, len, &rec, err);
    bvFree(data);
    if (rc == 0 && rec.firstSeq != newest)
        rc = errSet(err, ERR_FORMAT, "field 'first_seq' is %" PRIu64 ", its name says %" PRIu64, rec.firstSeq, newest);
    if (rc != 0) {
        archivePruneRecordClear(&rec);
        errPrefix(err, "prune record '%s' in '%s'", name, archiveUrl(a));
        goto bad;
    }
    archivePruneRecordClear(&c->prune);
    c->prune = rec;
    c->pruned = true;
    return 0;
bad:
    if (!(flags & ARCHIVE_LOAD_TOLERANT))
        return -1;
    archiveCatalogNote(c, "%s", err->msg);
    return 0;
}

typedef struct GapListCtx {
    Archive *a;
    ArchiveCatalog *c;
} GapListCtx;

static int
listGapCb(const char *name, uint64_t size, void *data, Err *err) {
    ArchiveCatalog *c = ((GapListCtx *)data)->c;
    ArchiveGapRecord rec;
    uint64_t seq;
    uint8_t *text;
    size_t len;
    Err e = {0};

    (void)size;
    (void)err;
    if (archiveGapNameParse(name, &seq) != 0) {
        archiveCatalogNote(c, "unexpected object '%s' in %s (not a gap record name)", name, ARCHIVE_GAP_PREFIX);
        return 0;
    }
    if (seq <= c->firstSeq)
        return 0; /* its pair was pruned */
    /* A record that cannot be read accepts nothing: the gap stays a break, which verify reports. */
    if (storageGetBuf(((GapListCtx *)data)->a->storage, name, ARCHIVE_DOC_MAX, &text, &len, &e) != 0) {
        archiveCatalogNote(c, "gap record '%s': %s", name, e.msg);
        return 0;
    }
    if (archiveGapRecordParse((const char *)text, len, &rec, &e) == 0 && rec.beforeSeq != seq) {
        errSet(&e, ERR_FORMAT, "field 'before_seq' is %" PRIu64 ", its name says %" PRIu64, rec.beforeSeq, seq);
        archiveGapRecordClear(&rec);
        rec.beforeSeq = 0;
    }
    bvFree(text);
    if (e.code != ERR_NONE) {
        archiveCatalogNote(c, "gap record '%s' is ignored: %s", name, e.msg);
        return 0;
    }
    if (c->gapRecordCount == c->gapRecordCap) {
        c->gapRecordCap = c->gapRecordCap ? c->gapRecordCap * 2 : 4;
        c->gapRecords = bvRealloc(c->gapRecords, c->gapRecordCap * sizeof(*c->gapRecords));
    }
    c->gapRecords[c->gapRecordCount++] = rec;
    return 0;
}

static int loadChunks(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, uint64_t from, unsigned flags, Err *err);

static int
loadIndex(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, unsigned flags, Err *err) {
    uint64_t maxLast = 0;

    /* index/ before prune/: a prune writes its record before the chunks that start at its first
     * seq, so a listing that shows such a chunk is followed by one that shows the record. */
    if (storageList(a->storage, ARCHIVE_INDEX_PREFIX, listIndexCb, ctx, err) != 0)
        return -1;
    for (size_t i = 0; i < ctx->chunkCount; i++)
        if (ctx->chunks[i].last > maxLast)
            maxLast = ctx->chunks[i].last;
    if (archiveCatalogLoadState(a, c, maxLast, flags, err) != 0) {
        if (err->code == ERR_NOTFOUND)
            ctx->vanished = true;
        return -1;
    }
    return loadChunks(a, c, ctx, 1, flags, err);
}

int
archiveCatalogLoadState(Archive *a, ArchiveCatalog *c, uint64_t maxLast, unsigned flags, Err *err) {
    LoadCtx ctx = {.c = c};

    if (loadPrune(a, c, &ctx, maxLast, flags, err) != 0)
        return ctx.vanished ? errSet(err, ERR_NOTFOUND, "%s", "a prune record vanished while read") : -1;
    /* gaps/ after index/, as prune/: the agent stores a record before the segment after it. */
    return storageList(a->storage, ARCHIVE_GAP_PREFIX, listGapCb, &(GapListCtx){a, c}, err);
}

/* Read the chunks ctx->chunks lists for the seqs from `from` on (and up to ctx->to). */
static int
loadChunks(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, uint64_t from, unsigned flags, Err *err) {
    Coverage cov = {0};
    ChunkRef *refs;
    size_t nrefs = 0;
    uint64_t keepFrom = from > c->firstSeq ? from : c->firstSeq;
    int rc = 0;

    refs = bvCalloc(ctx->chunkCount + 1, sizeof(*refs));
    for (size_t i = 0; i < ctx->chunkCount; i++) {
        uint64_t first = ctx->chunks[i].first, last = ctx->chunks[i].last;

        if (last < keepFrom) {
            if (last < c->firstSeq)
                archiveCatalogChunkAdd(c, first, last, false); /* wholly pruned: waits for deletion */
            continue;
        }
        refs[nrefs].first = first;
        refs[nrefs].last = last;
        refs[nrefs].from = first < keepFrom ? keepFrom : first;
        nrefs++;
    }
    if (nrefs > 1)
        qsort(refs, nrefs, sizeof(*refs), chunkOrder);
    for (size_t i = 0; i < nrefs; i++) {
        uint64_t first = refs[i].first, last = refs[i].last;
        SegmentMeta *metas;
        size_t n;

        if (archiveCoverageHas(&cov, refs[i].from, last)) {
            archiveCatalogChunkAdd(c, first, last, false);
            continue;
        }
        if (chunkRead(a, first, last, &metas, &n, err) != 0) {
            if (err->code == ERR_NOTFOUND)
                ctx->vanished = true;
            if (ctx->vanished || !(flags & ARCHIVE_LOAD_TOLERANT)) {
                rc = -1;
                break;
            }
            archiveCatalogNote(c, "%s", err->msg);
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            if (metas[j].seq < keepFrom || metas[j].seq > ctx->to)
                continue;
            archiveCatalogReserve(c);
            c->entries[c->count] = archiveEntryNew(&metas[j], true, c->count);
            c->count++;
        }
        archiveMetasFree(metas, n);
        archiveCoverageAdd(&cov, refs[i].from, last);
        archiveCatalogChunkAdd(c, first, last, true);
    }
    bvFree(refs);
    bvFree(cov.iv);
    sortEntries(c);
    return rc;
}

static int
listSegmentsCb(const char *name, uint64_t size, void *data, Err *err) {
    LoadCtx *ctx = data;
    ArchiveCatalog *c = ctx->c;
    char file[SEGMENT_FILE_MAX];
    uint64_t seq, start;
    size_t at;

    (void)err;
    if (segmentNameParse(name, &seq, file, sizeof(file), &start, NULL) != 0) {
        archiveCatalogNote(c, "unexpected object '%s' in segments/ (not a segment name)", name);
        return 0;
    }
    if (seq > ctx->to)
        return STORAGE_LIST_STOP;
    if (seq < ctx->from)
        return 0;
    if (seq < c->firstSeq) {
        /* Pruned: a prune that did not finish left it; the next one deletes it. */
        if (c->leftoverCount == c->leftoverCap) {
            c->leftoverCap = c->leftoverCap ? c->leftoverCap * 2 : 16;
            c->leftovers = bvRealloc(c->leftovers, c->leftoverCap * sizeof(*c->leftovers));
            c->leftoverSizes = bvRealloc(c->leftoverSizes, c->leftoverCap * sizeof(*c->leftoverSizes));
        }
        c->leftovers[c->leftoverCount] = bvStrdup(name);
        c->leftoverSizes[c->leftoverCount++] = size;
        return 0;
    }
    if (archiveCatalogFind(c, seq, &at)) {
        CatalogEntry *e = c->entries[at];

        if (strcmp(e->meta.name, name) != 0) {
            archiveCatalogNote(c, "object '%s' has the seq of the indexed segment '%s'", name, e->meta.name);
            return 0;
        }
        e->listed = true;
        e->listedSize = size;
        return 0;
    }
    if (ctx->found > 0) {
        uint64_t prevSeq, prevStart;
        char prevFile[SEGMENT_FILE_MAX];

        if (segmentNameParse(ctx->names[ctx->found - 1], &prevSeq, prevFile, sizeof(prevFile), &prevStart, NULL) == 0 &&
            prevSeq == seq) {
            archiveCatalogNote(c, "objects '%s' and '%s' have the same seq and neither is indexed", ctx->names[ctx->found - 1], name);
            return 0;
        }
    }
    if (ctx->found == ctx->foundCap) {
        ctx->foundCap = ctx->foundCap ? ctx->foundCap * 2 : 16;
        ctx->names = bvRealloc(ctx->names, ctx->foundCap * sizeof(*ctx->names));
        ctx->sizes = bvRealloc(ctx->sizes, ctx->foundCap * sizeof(*ctx->sizes));
    }
    ctx->names[ctx->found] = bvStrdup(name);
    ctx->sizes[ctx->found] = size;
    ctx->found++;
    return 0;
}

/* Read the trailers of the segments the listing found that no chunk describes. */
static int
discoverFound(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, Err *err) {
    c->discovered = true;
    for (size_t i = 0; i < ctx->found; i++) {
        SegmentMeta meta;

        /* An object no index chunk names is not part of the archive yet: one that cannot be read
         * is a problem to report, never a reason to refuse reading what the index holds. */
        if (archiveSegmentReadMeta(a, ctx->names[i], ctx->sizes[i], &meta, err) != 0) {
            if (err->code == ERR_NOTFOUND)
                ctx->vanished = true;
            if (ctx->vanished)
                return -1;
            archiveCatalogNote(c, "%s (not indexed: ignored)", err->msg);
            continue;
        }
        archiveCatalogReserve(c);
        c->entries[c->count] = archiveEntryNew(&meta, false, c->count);
        c->entries[c->count]->listed = true;
        c->entries[c->count]->listedSize = ctx->sizes[i];
        c->count++;
        segmentMetaClear(&meta);
    }
    sortEntries(c);
    return 0;
}

static int
discover(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, Err *err) {
    if (storageList(a->storage, ARCHIVE_SEGMENT_PREFIX, listSegmentsCb, ctx, err) != 0)
        return -1;
    return discoverFound(a, c, ctx, err);
}

ArchiveCatalog *
archiveCatalogLoad(Archive *a, unsigned flags, Err *err) {
    /* An object listed but gone when read was merged or pruned meanwhile (an agent or a prune
     * runs): what replaced it is in a newer listing. */
    for (int attempt = 1;; attempt++) {
        ArchiveCatalog *c = archiveCatalogNew();
        LoadCtx ctx = {.c = c, .to = UINT64_MAX};
        int rc;

        rc = loadIndex(a, c, &ctx, flags, err);
        if (rc == 0 && (flags & ARCHIVE_LOAD_DISCOVER))
            rc = discover(a, c, &ctx, err);
        bvFree(ctx.chunks);
        for (size_t i = 0; i < ctx.found; i++)
            bvFree(ctx.names[i]);
        bvFree(ctx.names);
        bvFree(ctx.sizes);
        if (rc == 0)
            return c;
        archiveCatalogFree(c);
        if (!ctx.vanished || attempt == ARCHIVE_LOAD_ATTEMPTS)
            return NULL;
    }
}

/* A listing's start-after name for the objects of seqs from `from` on: "<prefix><from-1>~" sorts
 * after every name of seq from-1 ("-" < "~") and before those of seq `from`. */
static void
startAfterName(const char *prefix, uint64_t from, char *out, size_t size) {
    if (from <= 1)
        out[0] = '\0';
    else
        snprintf(out, size, "%s%016" PRIu64 "~", prefix, from - 1);
}

int
archiveCatalogLoadSeqs(Archive *a, ArchiveCatalog *c, uint64_t listFrom, uint64_t from, uint64_t to, unsigned flags,
                       bool *vanished, Err *err) {
    LoadCtx ctx = {.c = c, .to = to};
    char after[64];
    int rc;

    *vanished = false;
    startAfterName(ARCHIVE_INDEX_PREFIX, listFrom, after, sizeof(after));
    rc = storageListFrom(a->storage, ARCHIVE_INDEX_PREFIX, after, listIndexCb, &ctx, err);
    if (rc == 0)
        rc = loadChunks(a, c, &ctx, from, flags, err);
    if (rc == 0 && (flags & ARCHIVE_LOAD_DISCOVER)) {
        ctx.from = from;
        rc = archiveSegmentListAfter(a, from, after, sizeof(after), err);
        if (rc == 0)
            rc = storageListFrom(a->storage, ARCHIVE_SEGMENT_PREFIX, after, listSegmentsCb, &ctx, err);
        if (rc == 0)
            rc = discoverFound(a, c, &ctx, err);
    }
    *vanished = ctx.vanished;
    bvFree(ctx.chunks);
    for (size_t i = 0; i < ctx.found; i++)
        bvFree(ctx.names[i]);
    bvFree(ctx.names);
    bvFree(ctx.sizes);
    return rc;
}
