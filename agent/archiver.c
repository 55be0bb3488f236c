/*
 * The archiver (thread bv-archive; the main thread once it is joined): upload completions become
 * index chunks over the contiguous run of stored segments, the checkpoint (checkpoint.json) moves
 * over them and their spool space is freed; then the index writer compacts in short steps (block
 * chunks and catalog summaries: the index is never reloaded), and while the source is idle the
 * checkpoint's caught-up instant is refreshed.
 */
#include "agent/agent_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

/* While caught up and idle, the checkpoint's caught_up_us is refreshed this often, so that
 * `binvault status` (from the archive alone) sees an idle source as RPO ~0, not as silence. */
#define CHECKPOINT_REFRESH_MS 5000

void
agentUploadDone(void *data, const SegmentMeta *meta, int rc, const Err *err) {
    Agent *a = data;

    if (rc != 0) {
        Err e = *err;

        errPrefix(&e, "unable to store segment '%s' in '%s'", meta->name, storageUrl(a->storage));
        agentFail(a, &e);
        return;
    }
    pthread_mutex_lock(&a->doneLock);
    if (a->doneCount == a->doneCap) {
        a->doneCap = a->doneCap ? a->doneCap * 2 : 16;
        a->done = bvRealloc(a->done, a->doneCap * sizeof(*a->done));
    }
    segmentMetaCopy(&a->done[a->doneCount++], meta);
    pthread_cond_broadcast(&a->doneCond);
    pthread_mutex_unlock(&a->doneLock);
}

static int
cmpPending(const void *x, const void *y) {
    const PendingSegment *a = x, *b = y;

    return a->meta.seq < b->meta.seq ? -1 : a->meta.seq > b->meta.seq;
}

void
agentAddPending(Agent *a, const SegmentMeta *meta, bool indexed, bool copy) {
    if (a->pendingCount == a->pendingCap) {
        a->pendingCap = a->pendingCap ? a->pendingCap * 2 : 16;
        a->pending = bvRealloc(a->pending, a->pendingCap * sizeof(*a->pending));
    }
    if (copy)
        segmentMetaCopy(&a->pending[a->pendingCount].meta, meta);
    else
        a->pending[a->pendingCount].meta = *meta;
    a->pending[a->pendingCount++].indexed = indexed;
}

static void
archiveFailing(Agent *a, const char *msg) {
    pthread_mutex_lock(&a->statLock);
    if (a->live.archiveFailingSinceUs == 0)
        a->live.archiveFailingSinceUs = agentWallUs();
    pthread_mutex_unlock(&a->statLock);
    agentNoteError(a, msg);
}

/* Write a->cp with the latest archived caught-up instant; while the stream from the source is
 * fresh, the agent's clock now confirms it (confirmed_us: what `binvault status` trusts instead
 * of commit times, which a client can date in the future). */
void
agentWriteCheckpoint(Agent *a) {
    bool fresh;
    Err err;

    pthread_mutex_lock(&a->statLock);
    fresh = agentStreamFreshLocked(a, retryNowMs());
    pthread_mutex_unlock(&a->statLock);
    if (fresh)
        a->cp.confirmedUs = agentWallUs();
    if (archiveCheckpointWrite(a->archive, &a->cp, &err) != 0) {
        logWarn("unable to write the archive checkpoint (will retry): %s", err.msg);
        archiveFailing(a, err.msg);
        a->cpDirty = true;
        return;
    }
    a->cpDirty = false;
    a->cpWrittenMs = retryNowMs();
    pthread_mutex_lock(&a->statLock);
    a->live.archiveFailingSinceUs = 0;
    agentPublishCheckpointLocked(a);
    a->live.cpWrittenUs = agentWallUs();
    pthread_mutex_unlock(&a->statLock);
}

/* The archive now holds every segment up to indexedSeq: forget them for the RPO, and take the
 * caught-up instants they complete. */
static void
archivedUpTo(Agent *a, uint64_t seq) {
    size_t keep = 0, used = 0;
    uint64_t caughtUp = 0;

    pthread_mutex_lock(&a->statLock);
    for (size_t i = 0; i < a->unarchivedCount; i++)
        if (a->unarchived[i].seq > seq)
            a->unarchived[keep++] = a->unarchived[i];
    a->unarchivedCount = keep;
    while (used < a->markCount && a->marks[used].seq <= seq)
        caughtUp = a->marks[used++].atUs;
    memmove(a->marks, a->marks + used, (a->markCount - used) * sizeof(*a->marks));
    a->markCount -= used;
    a->live.cpSeq = seq;
    pthread_mutex_unlock(&a->statLock);
    if (caughtUp > a->cp.caughtUpUs) {
        a->cp.caughtUpUs = caughtUp;
        a->cpDirty = true;
    }
}

/* Index the contiguous run of stored segments after indexedSeq, move the checkpoint, and free
 * their spool space. Runs in the archiver thread (in the main thread once it is joined); a failed
 * store operation is retried next time. */
void
agentAdvanceCheckpoint(Agent *a) {
    size_t n = 0, run;
    Err err;

    pthread_mutex_lock(&a->doneLock);
    for (size_t i = 0; i < a->doneCount; i++)
        agentAddPending(a, &a->done[i], false, false);
    a->doneCount = 0;
    pthread_mutex_unlock(&a->doneLock);
    if (a->pendingCount > 1)
        qsort(a->pending, a->pendingCount, sizeof(*a->pending), cmpPending);
    /* Drop what the checkpoint already covers, and duplicates (a segment found in the archive at
     * start-up and uploaded again from the spool). */
    for (size_t i = 0; i < a->pendingCount; i++) {
        PendingSegment *p = &a->pending[i];

        if (p->meta.seq <= a->indexedSeq || (n > 0 && a->pending[n - 1].meta.seq == p->meta.seq)) {
            if (n > 0 && a->pending[n - 1].meta.seq == p->meta.seq)
                a->pending[n - 1].indexed |= p->indexed;
            segmentMetaClear(&p->meta);
            continue;
        }
        a->pending[n++] = *p;
    }
    a->pendingCount = n;
    for (run = 0; run < a->pendingCount && a->pending[run].meta.seq == a->indexedSeq + 1 + run; run++)
        ;
    /* The index writer takes the whole run (it keeps the open block's lines, so segments indexed
     * by an earlier run are given again: their small chunk overlaps the old one, same lines). */
    if (run > 0) {
        SegmentMeta *metas = bvMalloc(run * sizeof(*metas));
        int rc;

        for (size_t i = 0; i < run; i++)
            metas[i] = a->pending[i].meta;
        rc = archiveIndexWriterPut(a->indexWriter, metas, run, &err);
        bvFree(metas);
        if (rc != 0) {
            logWarn("unable to write the archive index (will retry): %s", err.msg);
            archiveFailing(a, err.msg);
            run = (size_t)(archiveIndexWriterLastSeq(a->indexWriter) - a->indexedSeq); /* what is indexed counts */
        }
    }
    if (run == 0)
        return;
    {
        const SegmentMeta *last = &a->pending[run - 1].meta;

        a->cp.seq = last->seq;
        snprintf(a->cp.file, sizeof(a->cp.file), "%s", last->file);
        a->cp.endPos = last->endPos;
        bvFree(a->cp.gtidEnd);
        a->cp.gtidEnd = bvStrdup(segmentMetaGtidEnd(last));
        for (size_t i = run; i-- > 0;)
            if (a->pending[i].meta.transactions > 0) {
                snprintf(a->cp.lastGtid, sizeof(a->cp.lastGtid), "%s", a->pending[i].meta.lastGtid);
                a->cp.lastTimeUs = a->pending[i].meta.lastTimeUs;
                break;
            }
        a->indexedSeq = last->seq;
        a->cpDirty = true;
        pthread_mutex_lock(&a->statLock);
        a->cpEndsFile = last->endsFile;
        pthread_mutex_unlock(&a->statLock);
        archivedUpTo(a, a->indexedSeq);
        agentWriteCheckpoint(a);
        logDebug("archive complete up to segment %" PRIu64 " (%s:%" PRIu64 ", gtid '%s')", last->seq, last->file,
                 last->endPos, last->lastGtid);
    }
    for (size_t i = 0; i < run; i++) {
        if (spoolRemove(a->spool, a->pending[i].meta.seq, &err) != 0)
            logWarn("%s", err.msg);
        segmentMetaClear(&a->pending[i].meta);
    }
    memmove(a->pending, a->pending + run, (a->pendingCount - run) * sizeof(*a->pending));
    a->pendingCount -= run;
}

/* The index writer's compaction (block chunks, summaries, deletion of the small chunks they
 * replace), in steps of at most COMPACT_BUDGET_MS after each checkpoint advance: it never holds the
 * checkpoint back longer than that, and its work per segment is constant. */
#define COMPACT_BUDGET_MS 100

void
agentCompactIndex(Agent *a, unsigned budgetMs) {
    Err err;

    if (a->indexWriter == NULL || !archiveIndexWriterPending(a->indexWriter))
        return;
    if (archiveIndexWriterCompact(a->indexWriter, budgetMs, NULL, &err) != 0)
        logWarn("unable to compact the archive index (will retry): %s", err.msg);
}

/* While nothing new is archived, caught-up instants still complete (an idle source): refresh the
 * checkpoint now and then, and retry a write that failed. */
void
agentRefreshCheckpoint(Agent *a) {
    archivedUpTo(a, a->indexedSeq);
    if (a->cpDirty && (a->cpWrittenMs == 0 || retryNowMs() - a->cpWrittenMs >= CHECKPOINT_REFRESH_MS))
        agentWriteCheckpoint(a);
}

void *
agentArchiverMain(void *arg) {
    Agent *a = arg;

    while (!atomic_load(&a->workersStop)) {
        agentWorkerSleep(a, AGENT_TIMER_MS, true);
        agentAdvanceCheckpoint(a);
        agentCompactIndex(a, COMPACT_BUDGET_MS);
        agentRefreshCheckpoint(a);
    }
    return NULL;
}
