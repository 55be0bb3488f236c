/*
 * The index writer of a growing archive (index.h, "ArchiveIndexWriter"): small chunks as segments
 * are indexed, and compaction jobs, done in bounded steps: the open block's chunk widened now and
 * then, a completed block's chunk and its summary line, and the deletion of what they replace.
 */
#include "archive/index.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/internal.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/retry.h"

/* The open block's chunk is rewritten (wider) every this many segments, so that a reader of the
 * tail reads a few chunks, not one per checkpoint advance. */
#define WRITER_WIDEN_EVERY 64

/* A compaction job: store the chunk [first, last] (lines, byte for byte), for a whole block also
 * its summary line, then delete the chunks it covers. */
typedef struct WriterJob {
    uint64_t first, last;
    Buf *lines;
    bool block;
    SegmentMeta before; /* the segment before the block (seq 0: unknown) */
    int step;           /* 0: store the chunk, 1: the summary, 2: list what it replaces, 3: delete */
    char **doomed;      /* step 3: names to delete */
    size_t doomedCount, doomedAt;
    struct WriterJob *next;
} WriterJob;

struct ArchiveIndexWriter {
    Archive *a;
    uint64_t lastSeq;   /* last seq indexed */
    uint64_t linesFrom; /* first seq of `lines` (0: none) */
    Buf *lines;         /* index lines of the open block, linesFrom..lastSeq */
    SegmentMeta prevLast; /* the last segment of the block before the open one (seq 0: unknown) */
    /* the open level-1 document: its lines and range (sumFirst 0: none stored yet) */
    Buf *sum;
    uint64_t sumFirst, sumLast;
    WriterJob *jobs, *jobsTail;
};

static void
jobFree(WriterJob *j) {
    bufFree(j->lines);
    segmentMetaClear(&j->before);
    for (size_t i = 0; i < j->doomedCount; i++)
        bvFree(j->doomed[i]);
    bvFree(j->doomed);
    bvFree(j);
}

static void
queueJob(ArchiveIndexWriter *w, uint64_t first, uint64_t last, bool block) {
    WriterJob *j = bvCalloc(1, sizeof(*j));

    j->first = first;
    j->last = last;
    j->block = block;
    j->lines = bufNew(w->lines->len);
    bufAppend(j->lines, w->lines->data, w->lines->len);
    if (block && w->prevLast.seq != 0)
        segmentMetaCopy(&j->before, &w->prevLast);
    if (w->jobsTail != NULL)
        w->jobsTail->next = j;
    else
        w->jobs = j;
    w->jobsTail = j;
}

/* Append the index lines of metas to the open block, completing blocks on the way. */
static void
addLines(ArchiveIndexWriter *w, const SegmentMeta *m) {
    uint64_t block = archiveBlockOf(m->seq);

    if (w->linesFrom == 0)
        w->linesFrom = m->seq;
    segmentMetaToJson(m, true, w->lines);
    bufAppend(w->lines, "\n", 1);
    w->lastSeq = m->seq;
    if (m->seq == archiveBlockLast(block)) {
        /* A whole block gets a block chunk and a summary line; a block a prune cut gets its chunk. */
        queueJob(w, w->linesFrom, m->seq, w->linesFrom == archiveBlockFirst(block));
        segmentMetaClear(&w->prevLast);
        segmentMetaCopy(&w->prevLast, m);
        bufClear(w->lines);
        w->linesFrom = 0;
    } else if ((m->seq - w->linesFrom + 1) % WRITER_WIDEN_EVERY == 0) {
        queueJob(w, w->linesFrom, m->seq, false);
    }
}

/* Copy the stored lines of the tail's open block, and queue the tail's whole blocks that are not
 * compacted yet. */
static int
adoptTail(ArchiveIndexWriter *w, const ArchiveCatalog *tail, uint64_t upTo, Err *err) {
    size_t i = 0;

    while (i < tail->count && tail->entries[i]->meta.seq <= upTo) {
        uint64_t block = archiveBlockOf(tail->entries[i]->meta.seq);
        uint64_t first = tail->entries[i]->meta.seq, last = first, expect = first;
        size_t j = i;

        while (j < tail->count && tail->entries[j]->meta.seq <= upTo &&
               archiveBlockOf(tail->entries[j]->meta.seq) == block)
            last = tail->entries[j++]->meta.seq;
        w->linesFrom = first;
        bufClear(w->lines);
        /* Lines copied byte for byte from the chunks that hold them, widest first as loaded. */
        for (size_t k = 0; k < tail->chunkCount && expect <= last; k++) {
            const CatalogChunk *ch = &tail->chunks[k];

            if (!ch->used || ch->first > expect || ch->last < expect)
                continue;
            if (archiveChunkCopyLines(w->a, ch->first, ch->last, &expect, w->lines, err) != 0)
                return -1;
            k = (size_t)-1; /* the next seq may be in a chunk listed earlier */
        }
        if (expect != last + 1)
            return errSet(err, ERR_FORMAT, "the index chunks of '%s' do not describe seq %" PRIu64, archiveUrl(w->a),
                          expect);
        w->lastSeq = last;
        if (last == archiveBlockLast(block)) {
            queueJob(w, first, last, first == archiveBlockFirst(block));
            segmentMetaClear(&w->prevLast);
            segmentMetaCopy(&w->prevLast, &tail->entries[j - 1]->meta);
            bufClear(w->lines);
            w->linesFrom = 0;
        }
        i = j;
    }
    return 0;
}

/* The last segment of a summarised block as far as continuity looks at it (seq, flavour, where it
 * ends): what the next block's summary line compares its first segment with, without reading the
 * block chunk. */
static void
spanEnd(const ArchiveSpan *s, SegmentMeta *m) {
    memset(m, 0, sizeof(*m));
    m->seq = s->lastSeq;
    m->flavour = s->flavour;
    m->timeline = s->endTimeline;
    snprintf(m->file, sizeof(m->file), "%s", s->endFile);
    m->endPos = s->endPos;
    m->endsFile = s->endsFile;
    m->gtidEnd = bvStrdup(s->gtidEnd ? s->gtidEnd : "");
    m->gtidStart = bvStrdup("");
    snprintf(m->name, sizeof(m->name), "the last segment of %s", s->name);
}

ArchiveIndexWriter *
archiveIndexWriterNew(Archive *a, ArchiveView *v, Err *err) {
    ArchiveIndexWriter *w = bvCalloc(1, sizeof(*w));
    const ArchiveCatalog *tail = archiveViewTail(v);
    uint64_t contiguous = archiveViewContiguousSeq(v);
    size_t spans = archiveViewSpanCount(v);

    w->a = a;
    w->lines = bufNew(0);
    w->sum = bufNew(0);
    w->lastSeq = contiguous;
    if (spans > 0) {
        const ArchiveSpan *lastSpan = archiveViewSpanAt(v, spans - 1);
        uint64_t group = archiveSummaryGroupOf(lastSpan->firstSeq);

        /* The open level-1 document is the last group's: its lines again, as stored. */
        for (size_t i = spans; i-- > 0 && archiveSummaryGroupOf(archiveViewSpanAt(v, i)->firstSeq) == group;)
            w->sumFirst = archiveViewSpanAt(v, i)->firstSeq;
        for (size_t i = 0; i < spans; i++) {
            const ArchiveSpan *s = archiveViewSpanAt(v, i);

            if (s->firstSeq < w->sumFirst)
                continue;
            archiveSpanToJson(s, w->sum);
            bufAppend(w->sum, "\n", 1);
        }
        w->sumLast = lastSpan->lastSeq;
        spanEnd(lastSpan, &w->prevLast);
    }
    if (adoptTail(w, tail, contiguous, err) != 0)
        goto fail;
    return w;
fail:
    archiveIndexWriterFree(w);
    return NULL;
}

int
archiveIndexWriterPut(ArchiveIndexWriter *w, const SegmentMeta *metas, size_t n, Err *err) {
    size_t from = 0;

    BV_ASSERT(n > 0);
    if (metas[0].seq != w->lastSeq + 1)
        return errSet(err, ERR_INTERNAL, "index of seq %" PRIu64 " after seq %" PRIu64, metas[0].seq, w->lastSeq);
    /* One small chunk per block the segments fall in: no chunk spans two blocks. */
    while (from < n) {
        uint64_t blockLast = archiveBlockLast(archiveBlockOf(metas[from].seq));
        size_t to = from;

        while (to < n && metas[to].seq <= blockLast)
            to++;
        if (archiveIndexPut(w->a, NULL, metas + from, to - from, err) != 0)
            return -1;
        for (size_t i = from; i < to; i++)
            addLines(w, &metas[i]);
        from = to;
    }
    return 0;
}

uint64_t
archiveIndexWriterLastSeq(const ArchiveIndexWriter *w) {
    return w->lastSeq;
}

bool
archiveIndexWriterPending(const ArchiveIndexWriter *w) {
    return w->jobs != NULL;
}

/* Store the level-1 document widened by the block's span, then delete the narrower one. */
static int
storeSummary(ArchiveIndexWriter *w, WriterJob *j, Err *err) {
    SegmentMeta *metas;
    size_t n;
    ArchiveSpan span;
    char name[96], old[96];
    uint8_t sha[CRYPTO_SHA256_LEN];
    Buf *line;
    size_t kept;
    int rc;

    if (archiveChunkParse(j->lines->data, j->lines->len, j->first, j->last, &metas, &n, err) != 0)
        return errPrefix(err, "block of seqs %" PRIu64 "-%" PRIu64, j->first, j->last);
    archiveSpanFromMetas(j->before.seq + 1 == j->first ? &j->before : NULL, metas, n, &span);
    archiveMetasFree(metas, n);
    archiveChunkName(j->first, j->last, span.name, sizeof(span.name));
    span.size = j->lines->len;
    cryptoSha256(j->lines->data, j->lines->len, sha);
    cryptoHexEncode(sha, sizeof(sha), span.sha256);
    line = bufNew(1024);
    archiveSpanToJson(&span, line);
    bufAppend(line, "\n", 1);
    archiveSpanClear(&span);
    /* A new group, or a document that does not end right before this block (a crash, a prune):
     * start from this block. */
    if (w->sumFirst == 0 || archiveSummaryGroupOf(w->sumFirst) != archiveSummaryGroupOf(j->first) ||
        w->sumLast + 1 != j->first) {
        bufClear(w->sum);
        w->sumFirst = j->first;
        w->sumLast = 0;
    }
    old[0] = '\0';
    if (w->sumLast != 0)
        archiveSummaryName(w->sumFirst, w->sumLast, old, sizeof(old));
    kept = w->sum->len;
    bufAppend(w->sum, line->data, line->len);
    bufFree(line);
    archiveSummaryName(w->sumFirst, j->last, name, sizeof(name));
    rc = storagePutBuf(w->a->storage, name, w->sum->data, w->sum->len, STORAGE_PUT_IMMUTABLE, err);
    if (rc != 0) {
        w->sum->len = kept; /* retried from the document as it was */
        return -1;
    }
    w->sumLast = j->last;
    if (old[0] != '\0' && storageRemove(w->a->storage, old, err) != 0)
        logWarn("unable to remove the narrower catalog summary (the next compaction retries): %s", err->msg);
    return 0;
}

typedef struct DoomCtx {
    WriterJob *j;
} DoomCtx;

static int
listDoomedCb(const char *name, uint64_t size, void *data, Err *err) {
    WriterJob *j = ((DoomCtx *)data)->j;
    uint64_t first, last;

    (void)size;
    (void)err;
    if (archiveChunkNameParse(name, &first, &last) != 0)
        return 0;
    if (first > j->last)
        return STORAGE_LIST_STOP;
    if (first < j->first || last > j->last || (first == j->first && last == j->last))
        return 0;
    j->doomed = bvRealloc(j->doomed, (j->doomedCount + 1) * sizeof(*j->doomed));
    j->doomed[j->doomedCount++] = bvStrdup(name);
    return 0;
}

/* Drop the lines of seqs below keepFrom from `lines`, which start at *first. */
static void
trimLines(Buf *lines, uint64_t *first, uint64_t keepFrom) {
    size_t pos = 0;

    while (*first < keepFrom && pos < lines->len) {
        const uint8_t *nl = memchr(lines->data + pos, '\n', lines->len - pos);

        pos = nl ? (size_t)(nl - lines->data) + 1 : lines->len;
        (*first)++;
    }
    memmove(lines->data, lines->data + pos, lines->len - pos);
    lines->len -= pos;
}

/* A prune may have run since the lines were taken (it may run while the agent archives): the
 * chunks written from now on start at its first seq, and a block it cut gets no summary line. */
static int
followPrune(ArchiveIndexWriter *w, WriterJob *j, Err *err) {
    ArchiveCatalog *state = archiveCatalogNew();
    uint64_t keepFrom;

    if (archiveCatalogLoadState(w->a, state, UINT64_MAX, 0, err) != 0) {
        archiveCatalogFree(state);
        return -1;
    }
    keepFrom = state->firstSeq;
    archiveCatalogFree(state);
    if (keepFrom > j->first) {
        if (keepFrom > j->last)
            keepFrom = j->last + 1;
        trimLines(j->lines, &j->first, keepFrom);
        j->block = false;
    }
    if (w->linesFrom != 0 && keepFrom > w->linesFrom)
        trimLines(w->lines, &w->linesFrom, keepFrom);
    return 0;
}

/* One store operation of job j; *finished when the job is done. */
static int
jobStep(ArchiveIndexWriter *w, WriterJob *j, bool *finished, Err *err) {
    char name[64], after[64];

    *finished = false;
    switch (j->step) {
    case 0:
        if (followPrune(w, j, err) != 0)
            return -1;
        if (j->first > j->last) {
            *finished = true; /* all pruned */
            return 0;
        }
        archiveChunkName(j->first, j->last, name, sizeof(name));
        if (storagePutBuf(w->a->storage, name, j->lines->data, j->lines->len, STORAGE_PUT_IMMUTABLE, err) != 0) {
            if (err->code != ERR_EXISTS)
                return -1;
            /* Written meanwhile by another writer of these seqs (a prune's rewrite): readers take
             * either; what differs, verify reports. */
            logWarn("%s", err->msg);
            errClear(err);
        }
        j->step = j->block ? 1 : 2;
        return 0;
    case 1:
        if (storeSummary(w, j, err) != 0)
            return -1;
        j->step = 2;
        return 0;
    case 2:
        snprintf(after, sizeof(after), "%s%016" PRIu64 "~", ARCHIVE_INDEX_PREFIX, j->first - 1);
        if (storageListFrom(w->a->storage, ARCHIVE_INDEX_PREFIX, j->first > 1 ? after : NULL, listDoomedCb,
                            &(DoomCtx){j}, err) != 0)
            return -1;
        j->step = 3;
        return 0;
    default:
        if (j->doomedAt == j->doomedCount) {
            *finished = true;
            return 0;
        }
        if (storageRemove(w->a->storage, j->doomed[j->doomedAt], err) != 0)
            return -1;
        j->doomedAt++;
        *finished = j->doomedAt == j->doomedCount;
        return 0;
    }
}

int
archiveIndexWriterCompact(ArchiveIndexWriter *w, unsigned budgetMs, bool *done, Err *err) {
    uint64_t start = retryNowMs();

    while (w->jobs != NULL) {
        WriterJob *j = w->jobs;
        bool finished;

        if (budgetMs > 0 && retryNowMs() - start >= budgetMs)
            break;
        if (jobStep(w, j, &finished, err) != 0) {
            if (done != NULL)
                *done = false;
            return -1;
        }
        if (!finished)
            continue;
        w->jobs = j->next;
        if (w->jobs == NULL)
            w->jobsTail = NULL;
        jobFree(j);
    }
    if (done != NULL)
        *done = w->jobs == NULL;
    return 0;
}

void
archiveIndexWriterFree(ArchiveIndexWriter *w) {
    if (w == NULL)
        return;
    while (w->jobs != NULL) {
        WriterJob *j = w->jobs;

        w->jobs = j->next;
        jobFree(j);
    }
    bufFree(w->lines);
    bufFree(w->sum);
    segmentMetaClear(&w->prevLast);
    bvFree(w);
}
