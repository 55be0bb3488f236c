/* The segments of a long recovery plan, a block at a time (recover/range.h). */
#include "recover/range.h"

#include <pthread.h>
#include <string.h>

#include "archive/summary.h"
#include "common/mem.h"

typedef struct RangeSlot {
    uint64_t block;
    ArchiveCatalog *c; /* NULL: free */
    uint64_t used;     /* when last used, for least-recently-used */
} RangeSlot;

struct RecoverRange {
    ArchiveView *v;
    uint64_t first, last, cut;
    pthread_mutex_t lock; /* guards the view and what follows */
    RangeSlot slot[RECOVER_RANGE_BLOCKS];
    uint64_t tick, loads;
    size_t heldMax;
};

RecoverRange *
recoverRangeNew(ArchiveView *v, uint64_t first, uint64_t last, uint64_t cut) {
    RecoverRange *r = bvCalloc(1, sizeof(*r));

    r->v = v;
    r->first = first;
    r->last = last;
    r->cut = cut;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

uint64_t
recoverRangeFirst(const RecoverRange *r) {
    return r->first;
}

uint64_t
recoverRangeLast(const RecoverRange *r) {
    return r->last;
}

uint64_t
recoverRangeCut(const RecoverRange *r) {
    return r->cut;
}

BinlogFlavour
recoverRangeFlavour(RecoverRange *r) {
    BinlogFlavour f;

    pthread_mutex_lock(&r->lock);
    f = archiveViewFlavour(r->v);
    pthread_mutex_unlock(&r->lock);
    return f;
}

/* The block of `seq`, under the lock: kept, or loaded in place of the least recently used. */
static const ArchiveCatalog *
blockLocked(RecoverRange *r, uint64_t seq, Err *err) {
    uint64_t block = archiveBlockOf(seq), first = archiveBlockFirst(block);
    RangeSlot *victim = &r->slot[0];
    ArchiveCatalog *c;
    size_t held = 1;

    for (size_t i = 0; i < RECOVER_RANGE_BLOCKS; i++) {
        RangeSlot *s = &r->slot[i];

        if (s->c != NULL && s->block == block) {
            s->used = ++r->tick;
            return s->c;
        }
        if (s->c == NULL || (victim->c != NULL && s->used < victim->used))
            victim = s;
    }
    /* Freed first: never more than RECOVER_RANGE_BLOCKS at once, even while loading. */
    archiveCatalogFree(victim->c);
    victim->c = NULL;
    if (first < archiveViewFirstSeq(r->v))
        first = archiveViewFirstSeq(r->v);
    if ((c = archiveViewLoadRange(r->v, first, archiveBlockLast(block), err)) == NULL)
        return NULL;
    victim->c = c;
    victim->block = block;
    victim->used = ++r->tick;
    r->loads++;
    for (size_t i = 0; i < RECOVER_RANGE_BLOCKS; i++)
        held += r->slot[i].c != NULL && &r->slot[i] != victim;
    if (held > r->heldMax)
        r->heldMax = held;
    return c;
}

int
recoverRangeGet(RecoverRange *r, uint64_t seq, SegmentMeta *out, bool *listed, Err *err) {
    const ArchiveCatalog *c;
    size_t idx;
    int rc = 0;

    pthread_mutex_lock(&r->lock);
    if ((c = blockLocked(r, seq, err)) == NULL) {
        rc = -1;
    } else if (archiveCatalogFind(c, seq, &idx)) {
        segmentMetaClear(out);
        segmentMetaCopy(out, archiveCatalogAt(c, idx));
        if (listed != NULL)
            *listed = archiveCatalogListed(c, idx, NULL);
        rc = 1;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

const ArchiveCatalog *
recoverRangeBlock(RecoverRange *r, uint64_t seq, Err *err) {
    const ArchiveCatalog *c;

    pthread_mutex_lock(&r->lock);
    c = blockLocked(r, seq, err);
    pthread_mutex_unlock(&r->lock);
    return c;
}

bool
recoverRangeBlockSums(RecoverRange *r, uint64_t block, uint64_t *bytes, uint64_t *contentBytes) {
    uint64_t first = archiveBlockFirst(block), last = archiveBlockLast(block);
    bool whole = false;
    size_t lo = 0, hi;

    pthread_mutex_lock(&r->lock);
    /* The summarised blocks are in seq order: the first whose last seq reaches the block's. */
    hi = archiveViewSpanCount(r->v);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (archiveViewSpanAt(r->v, mid)->lastSeq < first)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < archiveViewSpanCount(r->v)) {
        const ArchiveSpan *s = archiveViewSpanAt(r->v, lo);

        whole = s->firstSeq == first && s->lastSeq == last && s->segments == last - first + 1;
        if (whole) {
            *bytes = s->bytes;
            *contentBytes = s->contentBytes;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return whole;
}

ArchiveView *
recoverRangeViewLock(RecoverRange *r) {
    pthread_mutex_lock(&r->lock);
    return r->v;
}

void
recoverRangeViewUnlock(RecoverRange *r) {
    pthread_mutex_unlock(&r->lock);
}

void
recoverRangeStats(RecoverRange *r, size_t *heldMax, uint64_t *loads) {
    pthread_mutex_lock(&r->lock);
    if (heldMax != NULL)
        *heldMax = r->heldMax;
    if (loads != NULL)
        *loads = r->loads;
    pthread_mutex_unlock(&r->lock);
}

void
recoverRangeFree(RecoverRange *r) {
    if (r == NULL)
        return;
    for (size_t i = 0; i < RECOVER_RANGE_BLOCKS; i++)
        archiveCatalogFree(r->slot[i].c);
    pthread_mutex_destroy(&r->lock);
    bvFree(r);
}
