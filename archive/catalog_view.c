/*
 * The catalog opened by range (catalog.h, "ArchiveView"): the level-1 summaries, the prune and gap
 * records, and the tail; block chunks read on demand, one block held at a time.
 *
 * A view is made of parts in seq order: `head` (the kept seqs of a first block that a prune cut,
 * when that block is summarised), the summarised blocks (`spans`), and `tail` (everything after the
 * last of them). In a format-1 archive, or one with nothing summarised, the tail is the whole
 * archive, loaded as archiveCatalogLoad() loads it.
 */
#include "archive/catalog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/continuity.h"
#include "archive/identity.h"
#include "archive/internal.h"
#include "archive/lookup.h"
#include "archive/summary.h"
#include "binlog/gtid.h"
#include "common/mem.h"
#include "common/time.h"

/* Opens of a view whose objects keep vanishing under it before archiveViewOpen() gives up. */
#define VIEW_OPEN_ATTEMPTS 5

struct ArchiveView {
    Archive *a;
    unsigned flags;
    bool aligned; /* format 2: no chunk spans two blocks, so a block is listed from its first seq */
    ArchiveCatalog *head; /* NULL when the first kept block is not summarised */
    ArchiveSpan *spans;   /* summarised whole blocks after head, consecutive */
    size_t spanCount;
    ArchiveCatalog *tail; /* holds the prune state, gap records and problems of the view */
    uint64_t tailFrom;    /* the first seq of the tail: head and spans hold the seqs before it */
    ArchiveCatalog *block; /* the last block read (a cache of one) */
};

struct ArchiveCursor {
    ArchiveView *v;
    uint64_t next, last; /* the next seq to return, the last one */
    ArchiveCatalog *held; /* the block being read (owned), or NULL while reading head/tail */
    const ArchiveCatalog *cur;
    size_t idx;
};

/* ---- opening ---- */

typedef struct SummaryList {
    char **names;
    size_t count, cap;
    ArchiveCatalog *notes;
} SummaryList;

static int
listSummaryCb(const char *name, uint64_t size, void *data, Err *err) {
    SummaryList *l = data;
    uint64_t first, last;

    (void)size;
    (void)err;
    if (archiveSummaryNameParse(name, &first, &last) != 0) {
        archiveCatalogNote(l->notes, "unexpected object '%s' in %s (not a summary name)", name, ARCHIVE_SUMMARY1_PREFIX);
        return 0;
    }
    /* Documents of one group of blocks: the one reaching furthest wins (a crash between storing a
     * wider document and deleting the narrower one leaves both). */
    if (l->count > 0) {
        uint64_t pf, pl;

        if (archiveSummaryNameParse(l->names[l->count - 1], &pf, &pl) == 0 &&
            archiveSummaryGroupOf(pf) == archiveSummaryGroupOf(first)) {
            if (last > pl || (last == pl && first < pf)) {
                bvFree(l->names[l->count - 1]);
                l->names[l->count - 1] = bvStrdup(name);
            }
            return 0;
        }
    }
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->names = bvRealloc(l->names, l->cap * sizeof(*l->names));
    }
    l->names[l->count++] = bvStrdup(name);
    return 0;
}

/* Read the level-1 documents; keep the spans that follow each other from the first one. A document
 * that cannot be read ends the summarised range (what follows is read as tail). */
static int
readSummaries(ArchiveView *v, ArchiveSpan **spans, size_t *n, Err *err) {
    SummaryList l = {.notes = v->tail};
    size_t cap = 0;
    int rc = 0;

    *spans = NULL;
    *n = 0;
    if (storageList(v->a->storage, ARCHIVE_SUMMARY1_PREFIX, listSummaryCb, &l, err) != 0)
        rc = -1;
    for (size_t i = 0; i < l.count && rc == 0; i++) {
        uint64_t first, last;
        ArchiveSpan *doc;
        uint8_t *data;
        size_t len, ndoc;
        Err e = {0};

        archiveSummaryNameParse(l.names[i], &first, &last);
        if (*n > 0 && (*spans)[*n - 1].lastSeq + 1 != first)
            break;
        if (storageGetBuf(v->a->storage, l.names[i], ARCHIVE_SUMMARY_MAX_BYTES, &data, &len, &e) != 0 ||
            (archiveSummaryParse(data, len, first, last, &doc, &ndoc, &e) != 0 && (bvFree(data), data = NULL, true))) {
            if (e.code == ERR_NOTFOUND) {
                /* Replaced by a wider one since the listing. */
                *err = e;
                rc = -1;
                break;
            }
            archiveCatalogNote(v->tail, "catalog summary '%s' in '%s' is ignored (its blocks are read from the index): %s",
                               l.names[i], archiveUrl(v->a), e.msg);
            break;
        }
        bvFree(data);
        if (*n + ndoc > cap) {
            cap = (*n + ndoc) * 2;
            *spans = bvRealloc(*spans, cap * sizeof(**spans));
        }
        if (ndoc > 0)
            memcpy(*spans + *n, doc, ndoc * sizeof(*doc));
        *n += ndoc;
        bvFree(doc);
    }
    for (size_t i = 0; i < l.count; i++)
        bvFree(l.names[i]);
    bvFree(l.names);
    return rc;
}

/* Leftovers of an interrupted prune: the segments below the first seq, listed up to it only. */
typedef struct LeftoverCtx {
    ArchiveCatalog *c;
} LeftoverCtx;

static int
listLeftoverCb(const char *name, uint64_t size, void *data, Err *err) {
    ArchiveCatalog *c = ((LeftoverCtx *)data)->c;
    char file[SEGMENT_FILE_MAX];
    uint64_t seq, start;

    (void)err;
    if (segmentNameParse(name, &seq, file, sizeof(file), &start, NULL) != 0)
        return 0;
    if (seq >= c->firstSeq)
        return STORAGE_LIST_STOP;
    if (c->leftoverCount == c->leftoverCap) {
        c->leftoverCap = c->leftoverCap ? c->leftoverCap * 2 : 16;
        c->leftovers = bvRealloc(c->leftovers, c->leftoverCap * sizeof(*c->leftovers));
        c->leftoverSizes = bvRealloc(c->leftoverSizes, c->leftoverCap * sizeof(*c->leftoverSizes));
    }
    c->leftovers[c->leftoverCount] = bvStrdup(name);
    c->leftoverSizes[c->leftoverCount++] = size;
    return 0;
}

/* A catalog of the seqs from..to, with the prune state of the view. */
static ArchiveCatalog *
loadPart(ArchiveView *v, uint64_t from, uint64_t to, unsigned flags, bool *vanished, Err *err) {
    ArchiveCatalog *c = archiveCatalogNew();
    uint64_t listFrom = v->aligned ? archiveBlockFirst(archiveBlockOf(from)) : 1;

    c->firstSeq = v->tail != NULL ? v->tail->firstSeq : 1;
    if (archiveCatalogLoadSeqs(v->a, c, listFrom, from, to, flags, vanished, err) != 0) {
        archiveCatalogFree(c);
        return NULL;
    }
    return c;
}

static int
viewLoad(ArchiveView *v, bool *vanished, Err *err) {
    ArchiveIdentity id;
    ArchiveSpan *spans = NULL;
    size_t nspans = 0, keep = 0, at = 0;
    uint64_t firstSeq, tailFrom;
    int rc;

    *vanished = false;
    rc = archiveIdentityRead(v->a, &id, err);
    if (rc != 0 && err->code != ERR_NOTFOUND)
        return -1;
    v->aligned = rc == 0 && id.version >= ARCHIVE_IDENTITY_VERSION2;
    errClear(err);
    v->tail = archiveCatalogNew();
    if (v->aligned && readSummaries(v, &spans, &nspans, err) != 0) {
        *vanished = err->code == ERR_NOTFOUND;
        return -1;
    }
    /* A prune record past the end of the index is kept here (archiveCatalogLoad() ignores it): a
     * prune never writes one, and the view does not read the whole index to tell. */
    if (archiveCatalogLoadState(v->a, v->tail, UINT64_MAX, v->flags, err) != 0) {
        *vanished = err->code == ERR_NOTFOUND;
        archiveSpansFree(spans, nspans);
        return -1;
    }
    firstSeq = v->tail->firstSeq;
    /* The spans of kept blocks. The first kept block, when a prune cut it (or its summary is not
     * there), is read from its chunks as `head` if the block after it is summarised. */
    while (at < nspans && spans[at].lastSeq < firstSeq)
        at++;
    tailFrom = firstSeq;
    if (!(at < nspans && spans[at].firstSeq == firstSeq)) {
        uint64_t headLast = archiveBlockLast(archiveBlockOf(firstSeq));
        size_t next = at;

        while (next < nspans && spans[next].firstSeq <= headLast)
            next++;
        if (next < nspans && spans[next].firstSeq == headLast + 1) {
            v->head = loadPart(v, firstSeq, headLast, v->flags & ~(unsigned)ARCHIVE_LOAD_DISCOVER, vanished, err);
            if (v->head == NULL) {
                archiveSpansFree(spans, nspans);
                return -1;
            }
            tailFrom = headLast + 1;
            while (at < next)
                archiveSpanClear(&spans[at++]);
        }
    }
    while (at + keep < nspans && spans[at + keep].firstSeq == tailFrom) {
        tailFrom = spans[at + keep].lastSeq + 1;
        keep++;
    }
    /* The kept spans move to the front of the array read, which shrinks to them: one copy of
     * the summaries in memory at any time (30,000 spans for a year of 1 s segments). */
    for (size_t i = 0; i < nspans; i++)
        if (i >= at + keep || i < at)
            archiveSpanClear(&spans[i]);
    if (keep > 0 && at > 0)
        memmove(spans, spans + at, keep * sizeof(*spans));
    v->spans = bvRealloc(spans, (keep + 1) * sizeof(*spans));
    v->spanCount = keep;
    v->tailFrom = tailFrom;
    if (archiveCatalogLoadSeqs(v->a, v->tail, v->aligned ? archiveBlockFirst(archiveBlockOf(tailFrom)) : 1, tailFrom,
                               UINT64_MAX, v->flags, vanished, err) != 0)
        return -1;
    if ((v->flags & ARCHIVE_LOAD_DISCOVER) && firstSeq > 1 &&
        storageList(v->a->storage, ARCHIVE_SEGMENT_PREFIX, listLeftoverCb, &(LeftoverCtx){v->tail}, err) != 0)
        return -1;
    return 0;
}

static void
viewClear(ArchiveView *v) {
    archiveCatalogFree(v->head);
    archiveCatalogFree(v->tail);
    archiveCatalogFree(v->block);
    archiveSpansFree(v->spans, v->spanCount);
    v->head = v->tail = v->block = NULL;
    v->spans = NULL;
    v->spanCount = 0;
}

ArchiveView *
archiveViewOpen(Archive *a, unsigned flags, Err *err) {
    ArchiveView *v = bvCalloc(1, sizeof(*v));

    v->a = a;
    v->flags = flags;
    for (int attempt = 1;; attempt++) {
        bool vanished = false;

        if (viewLoad(v, &vanished, err) == 0)
            return v;
        viewClear(v);
        if (!vanished || attempt == VIEW_OPEN_ATTEMPTS) {
            bvFree(v);
            return NULL;
        }
    }
}

void
archiveViewFree(ArchiveView *v) {
    if (v == NULL)
        return;
    viewClear(v);
    bvFree(v);
}

/* ---- what the parts say ---- */

uint64_t
archiveViewFirstSeq(const ArchiveView *v) {
    return v->tail->firstSeq;
}

uint64_t
archiveViewLastSeq(const ArchiveView *v) {
    if (v->tail->count > 0)
        return v->tail->entries[v->tail->count - 1]->meta.seq;
    if (v->spanCount > 0)
        return v->spans[v->spanCount - 1].lastSeq;
    if (v->head != NULL && v->head->count > 0)
        return v->head->entries[v->head->count - 1]->meta.seq;
    return 0;
}

/* Highest seq of c's entries following `seq` without a hole, all indexed. */
static uint64_t
contiguousIn(const ArchiveCatalog *c, uint64_t seq) {
    for (size_t i = archiveCatalogLowerBound(c, seq + 1); i < c->count; i++) {
        if (c->entries[i]->meta.seq != seq + 1 || !c->entries[i]->indexed)
            break;
        seq++;
    }
    return seq;
}

uint64_t
archiveViewContiguousSeq(const ArchiveView *v) {
    uint64_t seq = v->tail->firstSeq - 1;

    if (v->head != NULL)
        seq = contiguousIn(v->head, seq);
    for (size_t i = 0; i < v->spanCount && v->spans[i].firstSeq == seq + 1; i++)
        seq = v->spans[i].lastSeq;
    seq = contiguousIn(v->tail, seq);
    return seq >= v->tail->firstSeq ? seq : 0;
}

BinlogFlavour
archiveViewFlavour(const ArchiveView *v) {
    if (v->head != NULL && v->head->count > 0)
        return archiveCatalogFlavour(v->head);
    if (v->spanCount > 0)
        return v->spans[0].flavour;
    return archiveCatalogFlavour(v->tail);
}

void
archiveViewTotals(const ArchiveView *v, uint64_t *segments, uint64_t *transactions, uint64_t *objectBytes,
                  uint64_t *contentBytes) {
    uint64_t n = 0, t = 0, ob = 0, cb = 0;
    const ArchiveCatalog *parts[2] = {v->head, v->tail};

    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; parts[p] != NULL && i < parts[p]->count; i++) {
            n++;
            t += parts[p]->entries[i]->meta.transactions;
            ob += parts[p]->entries[i]->meta.size;
            cb += parts[p]->entries[i]->meta.contentLen;
        }
    for (size_t i = 0; i < v->spanCount; i++) {
        n += v->spans[i].segments;
        t += v->spans[i].transactions;
        ob += v->spans[i].bytes;
        cb += v->spans[i].contentBytes;
    }
    if (segments != NULL)
        *segments = n;
    if (transactions != NULL)
        *transactions = t;
    if (objectBytes != NULL)
        *objectBytes = ob;
    if (contentBytes != NULL)
        *contentBytes = cb;
}

const ArchivePruneRecord *
archiveViewPrune(const ArchiveView *v) {
    return archiveCatalogPrune(v->tail);
}

size_t
archiveViewProblemCount(const ArchiveView *v) {
    return v->tail->problemCount;
}

const char *
archiveViewProblem(const ArchiveView *v, size_t i) {
    return archiveCatalogProblem(v->tail, i);
}

size_t
archiveViewSpanCount(const ArchiveView *v) {
    return v->spanCount;
}

const ArchiveSpan *
archiveViewSpanAt(const ArchiveView *v, size_t i) {
    BV_ASSERT(i < v->spanCount);
    return &v->spans[i];
}

const ArchiveCatalog *
archiveViewTail(const ArchiveView *v) {
    return v->tail;
}

/* ---- blocks ---- */

/* The span holding seq, or -1. */
static ptrdiff_t
spanFind(const ArchiveView *v, uint64_t seq) {
    size_t lo = 0, hi = v->spanCount;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (v->spans[mid].lastSeq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->spanCount && v->spans[lo].firstSeq <= seq ? (ptrdiff_t)lo : -1;
}

/* Read span i's block chunk into a catalog (owned by the caller). */
static ArchiveCatalog *
blockLoad(ArchiveView *v, size_t i, Err *err) {
    const ArchiveSpan *s = &v->spans[i];

    for (int attempt = 1;; attempt++) {
        bool vanished = false;
        ArchiveCatalog *c = loadPart(v, s->firstSeq, s->lastSeq, 0, &vanished, err);

        if (c != NULL && c->count != s->segments) {
            errSet(err, ERR_FORMAT, "index of seqs %" PRIu64 "-%" PRIu64 " in '%s' holds %zu segments, its summary %" PRIu64,
                   s->firstSeq, s->lastSeq, archiveUrl(v->a), c->count, s->segments);
            archiveCatalogFree(c);
            return NULL;
        }
        if (c != NULL || !vanished || attempt == VIEW_OPEN_ATTEMPTS)
            return c;
    }
}

/* The catalog that holds seq (head, tail, or the block read into the view's cache), or NULL. */
static const ArchiveCatalog *
partOf(ArchiveView *v, uint64_t seq, Err *err) {
    ptrdiff_t i = spanFind(v, seq);

    errClear(err);
    if (i < 0)
        return v->head != NULL && v->head->count > 0 && seq <= v->head->entries[v->head->count - 1]->meta.seq ? v->head
                                                                                                             : v->tail;
    if (v->block != NULL && v->block->count > 0 && v->block->entries[0]->meta.seq == v->spans[i].firstSeq)
        return v->block;
    archiveCatalogFree(v->block);
    v->block = blockLoad(v, (size_t)i, err);
    return v->block;
}

int
archiveViewGet(ArchiveView *v, uint64_t seq, SegmentMeta *out, Err *err) {
    const ArchiveCatalog *c = partOf(v, seq, err);
    size_t idx;

    if (c == NULL)
        return -1;
    if (!archiveCatalogFind(c, seq, &idx))
        return errSet(err, ERR_NOTFOUND, "segment %" PRIu64 " is not in the archive '%s'", seq, archiveUrl(v->a));
    segmentMetaCopy(out, &c->entries[idx]->meta);
    return 0;
}

/* ---- lookups ---- */

/* The last gtid_end known in a catalog, "" when none. */
static const char *
catalogEnd(const ArchiveCatalog *c) {
    for (size_t i = c->count; i-- > 0;)
        if (segmentMetaGtidEnd(&c->entries[i]->meta)[0] != '\0')
            return segmentMetaGtidEnd(&c->entries[i]->meta);
    return "";
}

/* Whether a part that ends at GTID state `end` can hold gtid: it does when `end` contains it, and
 * may when `end` is unknown. */
static int
mayHold(BinlogFlavour flavour, const char *end, const char *gtid, bool *may, Err *err) {
    if (end[0] == '\0') {
        *may = true;
        return 0;
    }
    return gtidStateTextContains(flavour, end, gtid, may, err);
}

int
archiveViewFindGtid(ArchiveView *v, const char *gtid, uint64_t *seq, Err *err) {
    BinlogFlavour flavour = archiveViewFlavour(v);
    const char *lastEnd = "";
    bool may;
    size_t idx;

    if (gtid[0] == '\0' || strspn(gtid, " \t\n") == strlen(gtid))
        return errSet(err, ERR_FORMAT, "empty gtid");
    /* The first part whose end holds the gtid holds its transaction (or says it is before). */
    if (v->head != NULL && v->head->count > 0) {
        if (mayHold(flavour, catalogEnd(v->head), gtid, &may, err) != 0)
            return errPrefix(err, "gtid '%s'", gtid);
        lastEnd = catalogEnd(v->head);
        if (may) {
            if (archiveCatalogFindGtid(v->head, gtid, &idx, err) == 0) {
                *seq = v->head->entries[idx]->meta.seq;
                return 0;
            }
            if (lastEnd[0] != '\0')
                return -1; /* the head's end holds it: what its catalog says is the answer */
        }
    }
    for (size_t i = 0; i < v->spanCount; i++) {
        const ArchiveCatalog *c;

        if (mayHold(flavour, v->spans[i].gtidEnd, gtid, &may, err) != 0)
            return errPrefix(err, "gtid '%s'", gtid);
        if (v->spans[i].gtidEnd[0] != '\0')
            lastEnd = v->spans[i].gtidEnd;
        if (!may)
            continue;
        if ((c = partOf(v, v->spans[i].firstSeq, err)) == NULL)
            return -1;
        if (archiveCatalogFindGtid(c, gtid, &idx, err) == 0) {
            *seq = c->entries[idx]->meta.seq;
            return 0;
        }
        if (v->spans[i].gtidEnd[0] != '\0')
            return -1; /* the block's end holds it: what its catalog says is the answer */
    }
    if (v->tail->count > 0 || lastEnd[0] == '\0') {
        if (archiveCatalogFindGtid(v->tail, gtid, &idx, err) == 0) {
            *seq = v->tail->entries[idx]->meta.seq;
            return 0;
        }
        if (v->tail->count > 0 || v->spanCount == 0)
            return -1;
    }
    return errSet(err, ERR_NOTFOUND, "gtid '%s' is after the archived range, which ends at gtid state %s", gtid, lastEnd);
}

/* Whether file:pos can lie in a span (its files bracket it). */
static bool
spanMayHoldPosition(const ArchiveSpan *s, const char *file) {
    return segmentFileCompare(file, s->startFile) >= 0 && segmentFileCompare(file, s->endFile) <= 0;
}

int
archiveViewFindPosition(ArchiveView *v, const char *file, uint64_t pos, uint64_t *seq, Err *err) {
    const ArchiveCatalog *c;
    size_t idx;
    Err first = {0};

    if (v->head != NULL && archiveCatalogFindPosition(v->head, file, pos, &idx, err) == 0) {
        *seq = v->head->entries[idx]->meta.seq;
        return 0;
    }
    for (size_t i = 0; i < v->spanCount; i++) {
        if (!spanMayHoldPosition(&v->spans[i], file))
            continue;
        if ((c = partOf(v, v->spans[i].firstSeq, err)) == NULL)
            return -1;
        if (archiveCatalogFindPosition(c, file, pos, &idx, err) == 0) {
            *seq = c->entries[idx]->meta.seq;
            return 0;
        }
        if (first.code == ERR_NONE)
            first = *err;
    }
    if (archiveCatalogFindPosition(v->tail, file, pos, &idx, err) == 0) {
        *seq = v->tail->entries[idx]->meta.seq;
        return 0;
    }
    /* The message of the part that holds the file says what the archive holds of it. */
    if (first.code != ERR_NONE && strstr(err->msg, "is not in the archive") != NULL)
        *err = first;
    return -1;
}

/* The time predicate of archiveCatalogFindTime(). */
static bool
timeAfter(uint64_t t, uint64_t timeUs, bool exclusive) {
    return exclusive ? t >= timeUs : t > timeUs;
}

/* Whether a segment may hold a commit after the target: its first, last or (format 2) highest
 * commit time passes it. */
static bool
segmentPasses(const SegmentMeta *m, uint64_t timeUs, bool exclusive) {
    return timeAfter(m->firstTimeUs, timeUs, exclusive) || timeAfter(m->lastTimeUs, timeUs, exclusive) ||
           timeAfter(m->maxTimeUs, timeUs, exclusive);
}

int
archiveViewFindTime(ArchiveView *v, uint64_t timeUs, bool exclusive, uint64_t *seq, Err *err) {
    bool any = false, found = false;
    uint64_t firstUs = 0, maxUs = 0, lastTxnSeq = 0, foundSeq = 0;
    ptrdiff_t foundSpan = -1, lastSpan = -1;
    const ArchiveCatalog *parts[2] = {v->head, v->tail};

    /* head, spans, tail in seq order: part 0, the spans, then part 1. */
    for (size_t p = 0; p < 2; p++) {
        const ArchiveCatalog *c = parts[p];

        if (p == 1)
            for (size_t i = 0; i < v->spanCount; i++) {
                const ArchiveSpan *s = &v->spans[i];

                if (s->transactions == 0)
                    continue;
                if (!any)
                    firstUs = s->firstTimeUs;
                any = true;
                maxUs = s->maxTimeUs > maxUs ? s->maxTimeUs : maxUs;
                lastSpan = (ptrdiff_t)i;
                lastTxnSeq = 0;
                if (!found && timeAfter(s->maxTimeUs, timeUs, exclusive)) {
                    found = true;
                    foundSpan = (ptrdiff_t)i;
                }
            }
        for (size_t i = 0; c != NULL && i < c->count; i++) {
            const SegmentMeta *m = &c->entries[i]->meta;

            if (m->transactions == 0)
                continue;
            if (!any)
                firstUs = m->firstTimeUs;
            any = true;
            maxUs = m->firstTimeUs > maxUs ? m->firstTimeUs : maxUs;
            maxUs = m->lastTimeUs > maxUs ? m->lastTimeUs : maxUs;
            maxUs = m->maxTimeUs > maxUs ? m->maxTimeUs : maxUs;
            lastTxnSeq = m->seq;
            if (!found && (segmentPasses(m, timeUs, exclusive))) {
                found = true;
                foundSeq = m->seq;
            }
        }
    }
    if (archiveTimeInRange(timeUs, exclusive, any, firstUs, maxUs, err) != 0)
        return -1;
    if (found && foundSpan < 0) {
        *seq = foundSeq;
        return 0;
    }
    if (!found && lastTxnSeq != 0) {
        *seq = lastTxnSeq;
        return 0;
    }
    /* In a block: its first segment whose commit times pass the target (or, none passing, its last
     * with transactions). */
    {
        size_t i = (size_t)(found ? foundSpan : lastSpan);
        const ArchiveCatalog *c = partOf(v, v->spans[i].firstSeq, err);
        uint64_t last = 0;

        if (c == NULL)
            return -1;
        for (size_t k = 0; k < c->count; k++) {
            const SegmentMeta *m = &c->entries[k]->meta;

            if (m->transactions == 0)
                continue;
            last = m->seq;
            if (found && (segmentPasses(m, timeUs, exclusive))) {
                *seq = m->seq;
                return 0;
            }
        }
        if (last == 0)
            return errSet(err, ERR_FORMAT, "the index of seqs %" PRIu64 "-%" PRIu64 " does not agree with its summary",
                          v->spans[i].firstSeq, v->spans[i].lastSeq);
        *seq = last;
        return 0;
    }
}

/* ---- ranges ---- */

/* Load first..last (first <= last) into c: the seqs of head and spans from their chunks alone,
 * those of the tail (from v->tailFrom on) with the view's flags. Discovery lists segments/ from
 * the tail on, or from the last summarised block (a listing of at most a block more): a
 * summarised block is indexed whole (its summary counts its segments), so there is nothing in it
 * to discover, and listing from an earlier one would make the store read every name after it (the
 * directory store sorts them all: 1 M names at 1 M segments). */
static int
loadRangeParts(ArchiveView *v, ArchiveCatalog *c, uint64_t first, uint64_t last, bool *vanished, Err *err) {
    uint64_t indexedLast = last < v->tailFrom ? last : v->tailFrom - 1;

    if (first + ARCHIVE_BLOCK_SEGMENTS >= v->tailFrom)
        return archiveCatalogLoadSeqs(v->a, c, v->aligned ? archiveBlockFirst(archiveBlockOf(first)) : 1, first, last,
                                      v->flags, vanished, err);
    if (first < v->tailFrom &&
        archiveCatalogLoadSeqs(v->a, c, v->aligned ? archiveBlockFirst(archiveBlockOf(first)) : 1, first, indexedLast,
                               v->flags & ~(unsigned)ARCHIVE_LOAD_DISCOVER, vanished, err) != 0)
        return -1;
    /* Entries of summarised blocks count as listed: their objects are checked when read (every
     * reader verifies a segment read to its end; `verify` stats each one). */
    for (size_t i = 0; i < c->count; i++) {
        c->entries[i]->listed = true;
        c->entries[i]->listedSize = c->entries[i]->meta.size;
    }
    if (last < v->tailFrom) {
        c->discovered = (v->flags & ARCHIVE_LOAD_DISCOVER) != 0;
        return 0;
    }
    if (first < v->tailFrom)
        first = v->tailFrom;
    return archiveCatalogLoadSeqs(v->a, c, v->aligned ? archiveBlockFirst(archiveBlockOf(first)) : 1, first, last,
                                  v->flags, vanished, err);
}

ArchiveCatalog *
archiveViewLoadRange(ArchiveView *v, uint64_t first, uint64_t last, Err *err) {
    ArchiveCatalog *c = archiveCatalogNew();

    if (archiveCatalogLoadState(v->a, c, UINT64_MAX, v->flags, err) != 0) {
        archiveCatalogFree(c);
        return NULL;
    }
    if (first < c->firstSeq)
        first = c->firstSeq;
    for (int attempt = 1; first <= last; attempt++) {
        bool vanished = false;

        if (loadRangeParts(v, c, first, last, &vanished, err) == 0)
            break;
        if (!vanished || attempt == VIEW_OPEN_ATTEMPTS) {
            archiveCatalogFree(c);
            return NULL;
        }
        for (size_t i = 0; i < c->count; i++)
            archiveEntryFree(c->entries[i]);
        c->count = 0;
    }
    return c;
}

/* Append to *out the breaks among the segments lo..hi whose second segment is at or after keepFrom
 * (the archive's first seq: also the seqs missing before the first segment). */
static void
gapsAppend(ArchiveView *v, const ArchiveCatalog *c, uint64_t keepFrom, ArchiveGap **out, size_t *count, size_t *cap) {
    ArchiveGap *g = NULL;
    size_t ng = archiveCatalogGaps(c, &g);

    for (size_t j = 0; j < ng; j++) {
        if (g[j].beforeSeq < keepFrom || (g[j].afterSeq == 0 && keepFrom != archiveViewFirstSeq(v)))
            continue;
        if (*count == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *out = bvRealloc(*out, *cap * sizeof(**out));
        }
        (*out)[(*count)++] = g[j];
    }
    bvFree(g);
}

static int
gapsIn(ArchiveView *v, uint64_t lo, uint64_t hi, uint64_t keepFrom, ArchiveGap **out, size_t *count, size_t *cap,
       Err *err) {
    ArchiveCatalog *c = archiveViewLoadRange(v, lo, hi, err);

    if (c == NULL)
        return -1;
    gapsAppend(v, c, keepFrom, out, count, cap);
    archiveCatalogFree(c);
    return 0;
}

/* gapsIn() for a part the view holds (its head or its tail): the part's entries, after segment
 * `before` when not 0 (read with archiveViewGet()), with the prune state and gap records, checked
 * as one catalog. Loading the range again would list segments/ again (a whole directory read in a
 * directory store), which the view's open has just done. */
static int
gapsOfPart(ArchiveView *v, const ArchiveCatalog *part, uint64_t before, uint64_t keepFrom, ArchiveGap **out,
           size_t *count, size_t *cap, Err *err) {
    ArchiveCatalog *c = archiveCatalogNew();
    int rc = archiveCatalogLoadState(v->a, c, UINT64_MAX, v->flags & ~(unsigned)ARCHIVE_LOAD_DISCOVER, err);

    if (rc == 0 && before != 0) {
        SegmentMeta m = {0};

        rc = archiveViewGet(v, before, &m, err);
        if (rc == 0) {
            rc = archiveCatalogAdd(c, &m, true, err);
        } else if (err->code == ERR_NOTFOUND) { /* a hole before the part: the part's own start tells */
            rc = 0;
            errClear(err);
        }
        segmentMetaClear(&m);
    }
    for (size_t i = 0; part != NULL && i < part->count && rc == 0; i++)
        rc = archiveCatalogAdd(c, &part->entries[i]->meta, part->entries[i]->indexed, err);
    if (rc == 0)
        gapsAppend(v, c, keepFrom, out, count, cap);
    archiveCatalogFree(c);
    return rc;
}

int
archiveViewGaps(ArchiveView *v, ArchiveGap **gaps, size_t *n, Err *err) {
    uint64_t first = archiveViewFirstSeq(v), tailFrom = first;
    ArchiveGap *out = NULL;
    size_t count = 0, cap = 0;
    int rc = 0;

    *gaps = NULL;
    *n = 0;
    /* Each break is told by continuity.h from a catalog of its segments and the one before. */
    if (v->head != NULL && v->head->count > 0) {
        tailFrom = v->head->entries[v->head->count - 1]->meta.seq + 1;
        rc = gapsOfPart(v, v->head, 0, first, &out, &count, &cap, err);
    }
    for (size_t i = 0; i < v->spanCount && rc == 0; i++) {
        const ArchiveSpan *s = &v->spans[i];

        tailFrom = s->lastSeq + 1;
        if (s->breakCount > ARCHIVE_SPAN_BREAKS_MAX) {
            rc = gapsIn(v, s->firstSeq > first ? s->firstSeq - 1 : first, s->lastSeq, s->firstSeq == first ? first : s->firstSeq,
                        &out, &count, &cap, err);
            continue;
        }
        for (size_t k = 0; k < s->breakCount && rc == 0; k++) {
            if (s->breaks[k].beforeSeq < first)
                continue;
            rc = gapsIn(v, s->breaks[k].afterSeq, s->breaks[k].beforeSeq,
                        s->breaks[k].beforeSeq == first ? first : s->breaks[k].beforeSeq, &out, &count, &cap, err);
        }
    }
    if (rc == 0)
        rc = gapsOfPart(v, v->tail, tailFrom > first ? tailFrom - 1 : 0, tailFrom > first ? tailFrom : first, &out, &count,
                        &cap, err);
    if (rc != 0) {
        bvFree(out);
        return -1;
    }
    *gaps = out;
    *n = count;
    return 0;
}

/* ---- cursor ---- */

ArchiveCursor *
archiveViewCursor(ArchiveView *v, uint64_t firstSeq, uint64_t lastSeq, Err *err) {
    ArchiveCursor *cur = bvCalloc(1, sizeof(*cur));

    (void)err;
    cur->v = v;
    cur->next = firstSeq > archiveViewFirstSeq(v) ? firstSeq : archiveViewFirstSeq(v);
    cur->last = lastSeq;
    return cur;
}

int
archiveCursorNext(ArchiveCursor *cur, const SegmentMeta **meta, bool *indexed, Err *err) {
    ArchiveView *v = cur->v;

    for (;;) {
        ptrdiff_t span;

        if (cur->next > cur->last || cur->next == 0)
            return 0;
        if (cur->cur != NULL && cur->idx < cur->cur->count) {
            const CatalogEntry *e = cur->cur->entries[cur->idx];

            if (e->meta.seq < cur->next) {
                cur->idx++;
                continue;
            }
            if (e->meta.seq > cur->last)
                return 0;
            cur->idx++;
            cur->next = e->meta.seq + 1;
            *meta = &e->meta;
            if (indexed != NULL)
                *indexed = e->indexed;
            return 1;
        }
        /* Move to the part holding cur->next, or past the end of the one just read. */
        if (cur->cur != NULL) {
            uint64_t end = cur->cur->count ? cur->cur->entries[cur->cur->count - 1]->meta.seq : cur->next;

            if (cur->cur == v->tail)
                return 0;
            if (cur->held != NULL)
                end = v->spans[spanFind(v, cur->held->entries[0]->meta.seq)].lastSeq;
            else if (v->spanCount > 0 && end < v->spans[0].firstSeq)
                end = v->spans[0].firstSeq - 1;
            cur->next = end + 1 > cur->next ? end + 1 : cur->next;
            archiveCatalogFree(cur->held);
            cur->held = NULL;
            cur->cur = NULL;
            continue;
        }
        span = spanFind(v, cur->next);
        if (span >= 0) {
            if ((cur->held = blockLoad(v, (size_t)span, err)) == NULL)
                return -1;
            cur->cur = cur->held;
        } else if (v->head != NULL && v->head->count > 0 &&
                   cur->next <= v->head->entries[v->head->count - 1]->meta.seq) {
            cur->cur = v->head;
        } else {
            cur->cur = v->tail;
        }
        cur->idx = archiveCatalogLowerBound(cur->cur, cur->next);
    }
}

void
archiveCursorFree(ArchiveCursor *cur) {
    if (cur == NULL)
        return;
    archiveCatalogFree(cur->held);
    bvFree(cur);
}
