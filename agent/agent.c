#include "agent/agent.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/archive.h"
#include "agent/segment.h"
#include "agent/segmenter.h"
#include "agent/spool.h"
#include "agent/uploader.h"
#include "binlog/client.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/url.h"
#include "common/version.h"
#include "upload/storage.h"

#define TIMER_MS 500
#define BACKOFF_MIN_MS 500

/* A stored segment waiting for the checkpoint; `indexed` when an index chunk already lists it
 * (found in the archive at start-up). */
typedef struct PendingSegment {
    SegmentMeta meta;
    bool indexed;
} PendingSegment;

typedef struct Agent {
    const AgentConfig *cfg;
    MysqlUrl *url;
    Storage *storage;
    Archive *archive;
    ArchiveCatalog *catalog; /* at start-up only: freed once the stream runs */
    Spool *spool;
    Uploader *uploader;
    Segmenter *segmenter; /* owned by the stream thread once it runs */
    struct event_base *base;
    struct event *wake;
    pthread_t streamThread;
    bool streamStarted;

    atomic_bool stop;      /* shutdown requested */
    atomic_bool streamDone;
    /* Fatal error of a thread; the first one wins. */
    pthread_mutex_t failLock;
    Err failure;
    bool failed;

    /* Source identity, known after the first connection. */
    BinlogFlavour flavour;
    uint32_t sourceServerId;
    char sourceUuid[37];
    char sourceVersion[51];

    /* Upload completions waiting for the archiver (main thread), under doneLock. */
    pthread_mutex_t doneLock;
    SegmentMeta *done;
    size_t doneCount, doneCap;
    /* Archiver state (main thread only): stored segments not yet covered by the checkpoint. */
    PendingSegment *pending;
    size_t pendingCount, pendingCap;
    SegmentMeta lastIndexed; /* the checkpoint's segment, kept to retry a failed checkpoint write */
    bool checkpointDirty;
    uint64_t indexedSeq; /* every segment up to here is stored and indexed */
    char checkpointFile[SEGMENT_FILE_MAX]; /* the binlog file the archive is complete up to */
    bool checkpointEndsFile;
    enum { PURGE_OK = 0, PURGE_AT_RISK, PURGE_LOST } purgeState;
    unsigned chunksSinceMerge;
    uint64_t lastPurgeCheckMs;
    SqlConn *guardConn;
} Agent;

static uint64_t
nowMs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
agentFail(Agent *a, const Err *err) {
    pthread_mutex_lock(&a->failLock);
    if (!a->failed) {
        a->failed = true;
        a->failure = *err;
    }
    pthread_mutex_unlock(&a->failLock);
    logError("%s", err->msg);
    atomic_store(&a->stop, true);
    spoolWake(a->spool);
    event_active(a->wake, EV_READ, 0);
}

/* Sleep up to ms unless the agent is stopping. */
static void
sleepUnlessStopping(Agent *a, uint64_t ms) {
    uint64_t end = nowMs() + ms;

    while (!atomic_load(&a->stop) && nowMs() < end) {
        struct timespec ts = {0, 50 * 1000000L};

        nanosleep(&ts, NULL);
    }
}

/* ---- sealing: segmenter sink ---- */

static void
sinkTmpPath(void *data, uint64_t seq, char *out, size_t size) {
    spoolOpenPath(((Agent *)data)->spool, seq, out, size);
}

static int
sinkSealed(void *data, const char *tmpPath, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
           const char *nextFile, Err *err) {
    Agent *a = data;
    SegmentMeta m;
    char path[4096];
    int rc;

    segmentMetaCopy(&m, meta);
    segmentName(m.seq, m.file, m.startPos, m.name, sizeof(m.name));
    rc = spoolCommit(a->spool, tmpPath, &m, fde, fdeLen, nextFile, err);
    if (rc == 0) {
        spoolReadyPath(a->spool, m.seq, path, sizeof(path));
        uploaderSubmit(a->uploader, &m, path);
        logDebug("segment %" PRIu64 " sealed: %s:%" PRIu64 "-%" PRIu64 ", %" PRIu64 " transactions, %" PRIu64
                 " bytes, last gtid '%s'", m.seq, m.file, m.startPos, m.endPos, m.transactions, m.size, m.lastGtid);
    }
    segmentMetaClear(&m);
    return rc;
}

/* ---- upload completions -> archiver ---- */

static void
uploadDone(void *data, const SegmentMeta *meta, int rc, const Err *err) {
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
    pthread_mutex_unlock(&a->doneLock);
    event_active(a->wake, EV_READ, 0);
}

static int
cmpPending(const void *x, const void *y) {
    const PendingSegment *a = x, *b = y;

    return a->meta.seq < b->meta.seq ? -1 : a->meta.seq > b->meta.seq;
}

static void
addPending(Agent *a, const SegmentMeta *meta, bool indexed, bool copy) {
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
writeCheckpoint(Agent *a) {
    const SegmentMeta *last = &a->lastIndexed;
    ArchiveCheckpoint cp;
    Err err;

    memset(&cp, 0, sizeof(cp));
    cp.seq = last->seq;
    snprintf(cp.file, sizeof(cp.file), "%s", last->file);
    cp.endPos = last->endPos;
    cp.gtidEnd = last->gtidEnd;
    snprintf(cp.lastGtid, sizeof(cp.lastGtid), "%s", last->lastGtid);
    cp.lastTimeUs = last->lastTimeUs;
    a->checkpointDirty = archiveCheckpointWrite(a->archive, &cp, &err) != 0;
    if (a->checkpointDirty)
        logWarn("unable to write the archive checkpoint (will retry): %s", err.msg);
}

/* Index the contiguous run of stored segments after indexedSeq, move the checkpoint, and free
 * their spool space. Runs in the main thread; a failed store operation is retried next time. */
static void
advanceCheckpoint(Agent *a) {
    size_t n = 0, run, from;
    Err err;

    pthread_mutex_lock(&a->doneLock);
    for (size_t i = 0; i < a->doneCount; i++)
        addPending(a, &a->done[i], false, false);
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
    if (run == 0) {
        if (a->checkpointDirty)
            writeCheckpoint(a);
        return;
    }
    /* One index chunk per stretch of segments that no chunk lists yet. */
    for (from = 0; from < run;) {
        size_t to = from;

        if (a->pending[from].indexed) {
            from++;
            continue;
        }
        while (to < run && !a->pending[to].indexed)
            to++;
        SegmentMeta *metas = bvMalloc((to - from) * sizeof(*metas));

        for (size_t i = from; i < to; i++)
            metas[i - from] = a->pending[i].meta;
        int rc = archiveIndexPut(a->archive, NULL, metas, to - from, &err);

        bvFree(metas);
        if (rc != 0) {
            logWarn("unable to write the archive index (will retry): %s", err.msg);
            run = from; /* what is indexed so far still counts */
            break;
        }
        for (size_t i = from; i < to; i++)
            a->pending[i].indexed = true;
        from = to;
    }
    if (run == 0)
        return;
    segmentMetaClear(&a->lastIndexed);
    segmentMetaCopy(&a->lastIndexed, &a->pending[run - 1].meta);
    writeCheckpoint(a);
    a->indexedSeq = a->lastIndexed.seq;
    snprintf(a->checkpointFile, sizeof(a->checkpointFile), "%s", a->lastIndexed.file);
    a->checkpointEndsFile = a->lastIndexed.endsFile;
    a->chunksSinceMerge++;
    logInfo("archive complete up to segment %" PRIu64 " (%s:%" PRIu64 ", gtid '%s')", a->lastIndexed.seq,
            a->lastIndexed.file, a->lastIndexed.endPos, a->lastIndexed.lastGtid);
    for (size_t i = 0; i < run; i++) {
        if (spoolRemove(a->spool, a->pending[i].meta.seq, &err) != 0)
            logWarn("%s", err.msg);
        segmentMetaClear(&a->pending[i].meta);
    }
    memmove(a->pending, a->pending + run, (a->pendingCount - run) * sizeof(*a->pending));
    a->pendingCount -= run;
}

/* ---- purge guard ---- */

typedef struct Binlogs {
    char oldest[SEGMENT_FILE_MAX];
    char next[SEGMENT_FILE_MAX]; /* first file after `after` */
    const char *want, *after;
    bool found;
    unsigned count;
} Binlogs;

static int
binlogRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    Binlogs *b = data;

    (void)lengths;
    (void)err;
    if (nCols < 1 || values[0] == NULL)
        return 0;
    if (b->count++ == 0)
        snprintf(b->oldest, sizeof(b->oldest), "%s", values[0]);
    if (b->want && strcmp(values[0], b->want) == 0)
        b->found = true;
    if (b->after && b->next[0] == '\0' && segmentFileCompare(values[0], b->after) > 0)
        snprintf(b->next, sizeof(b->next), "%s", values[0]);
    return 0;
}

static SqlConnOpts
sourceConnOpts(const Agent *a) {
    SqlConnOpts o;

    memset(&o, 0, sizeof(o));
    o.host = a->url->host;
    o.port = a->url->port;
    o.user = a->url->user;
    o.password = a->cfg->password;
    o.passwordFrom = "BINVAULT_SOURCE_PASSWORD";
    o.connectTimeoutMs = (unsigned)a->cfg->connectTimeoutMs;
    o.readTimeoutMs = 30000;
    return o;
}

/* Compare what the source still has with what the archive holds: warn when the binlog the
 * archive needs next is the oldest on the server (the next purge or expiry loses it), and say so
 * loudly when it is already gone. */
static void
purgeGuard(Agent *a) {
    SqlConnOpts o = sourceConnOpts(a);
    const char *need;
    Binlogs b;
    Err err;

    if (a->checkpointFile[0] == '\0')
        return;
    if (a->guardConn == NULL && (a->guardConn = sqlConnect(&o, &err)) == NULL) {
        logWarn("purge guard: %s", err.msg);
        return;
    }
    memset(&b, 0, sizeof(b));
    /* The archive is complete up to the end of checkpointFile, or up to the end of the whole file
     * (then the next file is needed). */
    if (a->checkpointEndsFile)
        b.after = a->checkpointFile;
    else
        b.want = a->checkpointFile;
    if (sqlQuery(a->guardConn, "SHOW BINARY LOGS", binlogRow, &b, &err) != 0) {
        logWarn("purge guard: %s", err.msg);
        sqlConnFree(a->guardConn);
        a->guardConn = NULL;
        return;
    }
    need = a->checkpointEndsFile ? b.next : a->checkpointFile;
    if (b.count == 0 || need[0] == '\0') {
        a->purgeState = PURGE_OK;
        return;
    }
    if (!a->checkpointEndsFile && !b.found && segmentFileCompare(need, b.oldest) < 0) {
        if (a->purgeState != PURGE_LOST)
            logError("purge guard: the source has purged binlog '%s', which is not archived yet (its oldest binlog "
                     "is now '%s'): the archive will have a gap there", need, b.oldest);
        a->purgeState = PURGE_LOST;
    } else if (strcmp(need, b.oldest) == 0 && b.count > 1) {
        if (a->purgeState != PURGE_AT_RISK)
            logWarn("purge guard: binlog '%s' is the oldest the source still has and is not fully archived yet: "
                    "a PURGE BINARY LOGS or binlog expiry now would lose it", need);
        a->purgeState = PURGE_AT_RISK;
    } else {
        a->purgeState = PURGE_OK;
    }
}

/* ---- the stream thread ---- */

static int
startStream(Agent *a, BinlogClient *c, bool first, Err *err) {
    const char *file = segmenterFile(a->segmenter);

    if (segmenterLastSeq(a->segmenter) == 0 && first && a->cfg->startGtid) {
        if (binlogClientFlavour(c) == BINLOG_FLAVOUR_MARIADB)
            return binlogClientStartMariaGtid(c, a->cfg->startGtid, err);
        return errSet(err, ERR_USAGE, "--start-gtid with a MySQL source is not supported yet; use --start-position");
    }
    logInfo("streaming from %s at '%s':%" PRIu64, binlogClientUrl(c), file[0] ? file : "(oldest binlog)",
            segmenterPos(a->segmenter));
    return binlogClientStartFile(c, file[0] ? file : NULL, file[0] ? segmenterPos(a->segmenter) : 4, err);
}

static void *
streamMain(void *arg) {
    Agent *a = arg;
    BinlogClientOpts opts;
    uint64_t backoff = 0;
    bool first = true;
    unsigned seed = (unsigned)time(NULL);
    Err err;

    binlogClientOptsInit(&opts);
    opts.conn = sourceConnOpts(a);
    opts.conn.readTimeoutMs = 0; /* three heartbeat periods */
    opts.serverId = (uint32_t)a->cfg->serverId;
    opts.heartbeatMs = (unsigned)a->cfg->heartbeatMs;

    while (!atomic_load(&a->stop)) {
        BinlogClient *c = binlogClientNew(&opts);
        bool stopping = false;
        uint64_t stopAt = 0;
        int rc;

        if (binlogClientConnect(c, &err) != 0 || startStream(a, c, first, &err) != 0) {
            binlogClientFree(c);
            if (err.code == ERR_AUTH || err.code == ERR_GAP || err.code == ERR_USAGE || err.code == ERR_NOTFOUND) {
                agentFail(a, &err);
                break;
            }
            goto retry;
        }
        first = false;
        backoff = 0;
        for (;;) {
            const uint8_t *ev;
            size_t len;

            if (atomic_load(&a->stop) && !stopping) {
                stopping = true;
                stopAt = nowMs() + (uint64_t)a->cfg->shutdownGraceMs;
            }
            if (stopping && (!segmenterInTxn(a->segmenter) || nowMs() > stopAt))
                break;
            if (!segmenterInTxn(a->segmenter) && spoolMaxBytes(a->spool) > 0 &&
                spoolBytes(a->spool) >= spoolMaxBytes(a->spool)) {
                /* Seal what is open so that it can drain, then wait: backpressure. */
                if (segmenterCut(a->segmenter, &err) < 0) {
                    agentFail(a, &err);
                    break;
                }
                if (spoolBytes(a->spool) >= spoolMaxBytes(a->spool)) {
                    logWarn("spool is full (%" PRIu64 " of %" PRIu64 " bytes): pausing the stream until uploads "
                            "catch up", spoolBytes(a->spool), spoolMaxBytes(a->spool));
                    spoolWaitBelow(a->spool, &a->stop);
                    if (!atomic_load(&a->stop))
                        logInfo("spool has room again: resuming the stream");
                    continue;
                }
            }
            rc = binlogClientRead(c, &ev, &len, &err);
            if (rc <= 0) {
                if (rc == 0)
                    errSet(&err, ERR_SOURCE, "the source ended the binlog stream");
                break;
            }
            if (segmenterPush(a->segmenter, ev, len, nowMs(), &err) != 0)
                break;
            spoolSetOpenBytes(a->spool, segmenterOpenBytes(a->segmenter));
        }
        binlogClientFree(c);
        if (stopping && !segmenterInTxn(a->segmenter)) {
            if (segmenterCut(a->segmenter, &err) < 0)
                agentFail(a, &err);
            break;
        }
        if (err.code == ERR_IO || err.code == ERR_EXISTS) {
            agentFail(a, &err);
            break;
        }
        if (!stopping)
            logWarn("source stream interrupted: %s", err.msg);
        segmenterAbandon(a->segmenter);
        spoolSetOpenBytes(a->spool, 0);
        if (stopping)
            break;
    retry:
        if (atomic_load(&a->stop))
            break;
        backoff = backoff ? backoff * 2 : BACKOFF_MIN_MS;
        if (backoff > (uint64_t)a->cfg->reconnectMaxMs)
            backoff = (uint64_t)a->cfg->reconnectMaxMs;
        uint64_t delay = backoff / 2 + (uint64_t)rand_r(&seed) % (backoff / 2 + 1);

        logWarn("reconnecting to the source in %" PRIu64 " ms: %s", delay, err.msg);
        sleepUnlessStopping(a, delay);
    }
    if (segmenterHasOpen(a->segmenter))
        segmenterAbandon(a->segmenter);
    atomic_store(&a->streamDone, true);
    event_active(a->wake, EV_READ, 0);
    return NULL;
}

/* ---- main loop ---- */

/* Compact the index now and then (each checkpoint advance writes a small chunk). */
static void
mergeIndex(Agent *a) {
    ArchiveCatalog *c;
    Err err;

    if (a->chunksSinceMerge < 64)
        return;
    a->chunksSinceMerge = 0;
    if ((c = archiveCatalogLoad(a->archive, 0, &err)) == NULL || archiveIndexMerge(a->archive, c, NULL, NULL, &err) != 0)
        logWarn("unable to compact the archive index (will retry): %s", err.msg);
    archiveCatalogFree(c);
}

static void
onWake(evutil_socket_t fd, short what, void *arg) {
    Agent *a = arg;

    (void)fd;
    (void)what;
    advanceCheckpoint(a);
    if (atomic_load(&a->streamDone))
        event_base_loopbreak(a->base);
}

static void
onTimer(evutil_socket_t fd, short what, void *arg) {
    Agent *a = arg;
    uint64_t now = nowMs();

    (void)fd;
    (void)what;
    advanceCheckpoint(a);
    mergeIndex(a);
    if (a->cfg->purgeCheckMs > 0 && now - a->lastPurgeCheckMs >= (uint64_t)a->cfg->purgeCheckMs) {
        a->lastPurgeCheckMs = now;
        purgeGuard(a);
    }
}

static void
onSignal(evutil_socket_t sig, short what, void *arg) {
    Agent *a = arg;

    (void)what;
    if (sig == SIGHUP) {
        if (logReopen() != 0)
            logWarn("unable to reopen the log file: %s", strerror(errno));
        return;
    }
    if (!atomic_load(&a->stop))
        logInfo("received %s: sealing the open segment and shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&a->stop, true);
    spoolWake(a->spool);
}

/* ---- start-up ---- */

/* The FORMAT_DESCRIPTION event at the start of an archived segment's content. */
static int
readFde(Agent *a, const SegmentMeta *meta, uint8_t **fde, size_t *len, Err *err) {
    SegmentReader *r = archiveSegmentOpen(a->archive, meta, err);
    const uint8_t *p;

    if (r == NULL)
        return -1;
    p = segmentReaderFde(r, len);
    *fde = bvMalloc(*len);
    memcpy(*fde, p, *len);
    segmentReaderFree(r);
    return 0;
}

/* Read the archive's catalog; index segments that were stored but not indexed (a crash came in
 * between); compact the index. */
static int
loadArchive(Agent *a, Err *err) {
    size_t indexed = 0, written = 0, removed = 0;
    const SegmentMeta *last;

    if ((a->catalog = archiveCatalogLoad(a->archive, ARCHIVE_LOAD_DISCOVER, err)) == NULL)
        return errPrefix(err, "unable to read the archive '%s'", storageUrl(a->storage));
    if (archiveIndexDiscovered(a->archive, a->catalog, &indexed, err) != 0)
        return errPrefix(err, "unable to index the archive '%s'", storageUrl(a->storage));
    if (indexed > 0)
        logInfo("indexed %zu segments that an earlier run stored but did not index", indexed);
    if (archiveIndexMerge(a->archive, a->catalog, &written, &removed, err) != 0)
        logWarn("unable to compact the archive index (continuing): %s", err->msg);
    a->indexedSeq = archiveCatalogContiguousSeq(a->catalog);
    /* Segments stored beyond a hole (a SIGKILL left the segment before them only in the spool):
     * the checkpoint moves over them once the spool fills the hole. */
    for (size_t i = 0; i < archiveCatalogCount(a->catalog); i++) {
        const SegmentMeta *m = archiveCatalogAt(a->catalog, i);

        if (m->seq == a->indexedSeq)
            segmentMetaCopy(&a->lastIndexed, m);
        if (m->seq > a->indexedSeq)
            addPending(a, m, true, true);
    }
    if ((last = archiveCatalogLast(a->catalog)) != NULL) {
        snprintf(a->checkpointFile, sizeof(a->checkpointFile), "%s", last->file);
        a->checkpointEndsFile = last->endsFile;
        logInfo("archive '%s': %zu segments, complete up to %s:%" PRIu64 " (gtid '%s')", storageUrl(a->storage),
                archiveCatalogCount(a->catalog), last->file, last->endPos, last->lastGtid);
    } else {
        logInfo("archive '%s' is empty", storageUrl(a->storage));
    }
    return 0;
}


/* Where to resume: the spool's last sealed segment, else the archive's last segment, else the
 * start option, else the oldest binlog on the source. */
static int
resume(Agent *a, Err *err) {
    SpoolState st;
    const SegmentMeta *last = archiveCatalogLast(a->catalog);
    uint64_t archiveSeq = last ? last->seq : 0;
    int rc = -1;

    if (spoolReadState(a->spool, &st, err) != 0)
        return -1;
    if ((st.valid || archiveSeq > 0) && (a->cfg->startGtid || a->cfg->startPosition)) {
        errSet(err, ERR_USAGE, "the archive (or spool) already holds segments up to %" PRIu64 " (%s:%" PRIu64
               "): remove --start-gtid/--start-position to resume from there",
               st.valid && st.seq > archiveSeq ? st.seq : archiveSeq, st.valid ? st.file : last->file,
               st.valid ? st.endPos : last->endPos);
        goto done;
    }
    if (st.valid && st.seq < archiveSeq) {
        errSet(err, ERR_CONFIG, "spool '%s' ends at segment %" PRIu64 " but the archive already has segment %" PRIu64
               ": the spool belongs to another archive or is stale; point --spool at an empty directory to resume "
               "from the archive", spoolDir(a->spool), st.seq, archiveSeq);
        goto done;
    }
    if (st.valid) {
        const char *file = st.endsFile && st.nextFile[0] ? st.nextFile : st.file;
        uint64_t pos = st.endsFile && st.nextFile[0] ? 4 : st.endPos;

        rc = segmenterResume(a->segmenter, st.seq, file, pos, st.gtidEnd, pos > 4 ? st.fde : NULL,
                             pos > 4 ? st.fdeLen : 0, err);
    } else if (last != NULL) {
        uint8_t *fde = NULL;
        size_t fdeLen = 0;

        if (!last->endsFile && readFde(a, last, &fde, &fdeLen, err) != 0)
            goto done;
        rc = segmenterResume(a->segmenter, last->seq, last->file, last->endPos, last->gtidEnd, fde, fdeLen, err);
        bvFree(fde);
    } else if (a->cfg->startPosition) {
        char file[256];
        const char *colon = strrchr(a->cfg->startPosition, ':');
        char *end;
        unsigned long long pos;

        if (colon == NULL || colon == a->cfg->startPosition || (size_t)(colon - a->cfg->startPosition) >= sizeof(file)) {
            errSet(err, ERR_USAGE, "invalid --start-position '%s': expected FILE:POS", a->cfg->startPosition);
            goto done;
        }
        errno = 0;
        pos = strtoull(colon + 1, &end, 10);
        if (errno != 0 || *end != '\0' || pos < 4) {
            errSet(err, ERR_USAGE, "invalid --start-position '%s': POS must be a number of at least 4",
                   a->cfg->startPosition);
            goto done;
        }
        snprintf(file, sizeof(file), "%.*s", (int)(colon - a->cfg->startPosition), a->cfg->startPosition);
        rc = segmenterResume(a->segmenter, 0, file, pos, "", NULL, 0, err);
    } else if (a->cfg->startGtid) {
        rc = segmenterResume(a->segmenter, 0, "", 0, a->cfg->startGtid, NULL, 0, err);
    } else {
        rc = segmenterResume(a->segmenter, 0, "", 4, "", NULL, 0, err);
    }
done:
    spoolStateClear(&st);
    return rc;
}

/* Segments sealed by an earlier run and not yet archived go to the uploader first. Together, the
 * archive and the spool must hold every segment after the checkpoint: a hole in both is a gap. */
static int
resubmitSpool(Agent *a, Err *err) {
    SegmentMeta *metas;
    size_t n, queued = 0, ai = 0;
    uint64_t expect = a->indexedSeq + 1;
    int rc = 0;

    if (spoolReadyList(a->spool, &metas, &n, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        bool archived = false;

        for (; ai < a->pendingCount && a->pending[ai].meta.seq < metas[i].seq; ai++)
            ;
        archived = ai < a->pendingCount && a->pending[ai].meta.seq == metas[i].seq;
        if (metas[i].seq <= a->indexedSeq) {
            if (spoolRemove(a->spool, metas[i].seq, err) != 0)
                logWarn("%s", err->msg);
        } else if (!archived) {
            spoolReadyPath(a->spool, metas[i].seq, path, sizeof(path));
            uploaderSubmit(a->uploader, &metas[i], path);
            queued++;
        }
    }
    /* Walk both, in seq order, from the checkpoint. */
    for (size_t si = 0, pi = 0; rc == 0;) {
        uint64_t s = si < n ? metas[si].seq : UINT64_MAX, p = pi < a->pendingCount ? a->pending[pi].meta.seq : UINT64_MAX;
        uint64_t next = s < p ? s : p;

        if (next == UINT64_MAX)
            break;
        if (next < expect) {
            si += s == next;
            pi += p == next;
            continue;
        }
        if (next != expect)
            rc = errSet(err, ERR_GAP, "segment %" PRIu64 " is neither in the archive '%s' nor in the spool '%s': the "
                        "archive has a gap there; run 'binvault verify --archive %s' to see it", expect,
                        storageUrl(a->storage), spoolDir(a->spool), storageUrl(a->storage));
        expect = next + 1;
    }
    for (size_t i = 0; i < n; i++)
        segmentMetaClear(&metas[i]);
    if (queued > 0)
        logInfo("%zu segments from the spool queued for upload", queued);
    bvFree(metas);
    return rc;
}

/* Connect once to learn the source's identity, and check it against the archive's. */
static int
identify(Agent *a, Err *err) {
    BinlogClientOpts opts;
    BinlogClient *c;
    ArchiveIdentity id;

    binlogClientOptsInit(&opts);
    opts.conn = sourceConnOpts(a);
    opts.serverId = (uint32_t)a->cfg->serverId;
    c = binlogClientNew(&opts);
    for (uint64_t backoff = BACKOFF_MIN_MS; binlogClientConnect(c, err) != 0;) {
        if (err->code != ERR_SOURCE || atomic_load(&a->stop)) {
            binlogClientFree(c);
            return -1;
        }
        logWarn("unable to reach the source, retrying in %" PRIu64 " ms: %s", backoff, err->msg);
        sleepUnlessStopping(a, backoff);
        backoff = backoff * 2 > (uint64_t)a->cfg->reconnectMaxMs ? (uint64_t)a->cfg->reconnectMaxMs : backoff * 2;
        binlogClientFree(c);
        c = binlogClientNew(&opts);
    }
    a->flavour = binlogClientFlavour(c);
    a->sourceServerId = binlogClientServerId(c);
    snprintf(a->sourceUuid, sizeof(a->sourceUuid), "%s", binlogClientServerUuid(c) ? binlogClientServerUuid(c) : "");
    snprintf(a->sourceVersion, sizeof(a->sourceVersion), "%s", binlogClientServerVersion(c));
    memset(&id, 0, sizeof(id));
    id.flavour = a->flavour;
    id.serverId = a->sourceServerId;
    snprintf(id.serverUuid, sizeof(id.serverUuid), "%s", a->sourceUuid);
    snprintf(id.serverVersion, sizeof(id.serverVersion), "%s", a->sourceVersion);
    snprintf(id.source, sizeof(id.source), "%s:%u", a->url->host, a->url->port);
    binlogClientFree(c);
    return archiveIdentityEnsure(a->archive, &id, NULL, err);
}

static int
setupLogging(const AgentConfig *cfg, Err *err) {
    LogLevel level;

    if (logLevelParse(cfg->logLevel, &level) != 0)
        return errSet(err, ERR_USAGE, "invalid --log-level '%s': expected error, warn, info, debug or trace",
                      cfg->logLevel);
    logSetLevel(level);
    if (strcmp(cfg->logFormat, "json") == 0)
        logSetFormat(LOG_FORMAT_JSON);
    else if (strcmp(cfg->logFormat, "text") == 0)
        logSetFormat(LOG_FORMAT_TEXT);
    else
        return errSet(err, ERR_USAGE, "invalid --log-format '%s': expected text or json", cfg->logFormat);
    if (cfg->logFile && cfg->logFile[0] && logSetFile(cfg->logFile) != 0)
        return errSetSys(err, ERR_CONFIG, errno, "unable to open log file '%s'", cfg->logFile);
    return 0;
}

int
agentRun(const AgentConfig *cfg, Err *err) {
    Agent a;
    SegmenterOpts sopts;
    SegmenterSink sink = {sinkTmpPath, sinkSealed, &a};
    struct event *timer = NULL, *sigs[3] = {NULL, NULL, NULL};
    int rc = -1;

    memset(&a, 0, sizeof(a));
    a.cfg = cfg;
    pthread_mutex_init(&a.failLock, NULL);
    pthread_mutex_init(&a.doneLock, NULL);
    if (setupLogging(cfg, err) != 0)
        return -1;
    if ((a.url = urlMysqlNew(cfg->source, err)) == NULL)
        return errPrefix(err, "invalid --source");
    if (a.url->user == NULL) {
        urlMysqlFree(a.url);
        return errSet(err, ERR_USAGE, "--source '%s' names no user: use mysql://USER@HOST:PORT", cfg->source);
    }
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
    a.base = event_base_new();
    a.wake = event_new(a.base, -1, EV_READ, onWake, &a);
    {
        StorageOptions so = {.s3Endpoint = cfg->s3Endpoint, .s3Region = cfg->s3Region, .s3CaFile = cfg->s3CaFile,
                             .s3UriStyle = cfg->s3UriStyle};

        if ((a.storage = storageNewOpts(cfg->archive, &so, err)) == NULL)
            goto done;
    }
    if ((a.spool = spoolOpen(cfg->spool, (uint64_t)cfg->spoolMaxBytes, err)) == NULL)
        goto done;
    a.archive = archiveNew(a.storage);
    for (uint64_t backoff = BACKOFF_MIN_MS; loadArchive(&a, err) != 0;) {
        if (err->code != ERR_STORAGE || atomic_load(&a.stop))
            goto done;
        logWarn("unable to read the archive, retrying in %" PRIu64 " ms: %s", backoff, err->msg);
        archiveCatalogFree(a.catalog);
        a.catalog = NULL;
        for (size_t i = 0; i < a.pendingCount; i++)
            segmentMetaClear(&a.pending[i].meta);
        a.pendingCount = 0;
        sleepUnlessStopping(&a, backoff);
        backoff = backoff * 2 > (uint64_t)cfg->reconnectMaxMs ? (uint64_t)cfg->reconnectMaxMs : backoff * 2;
    }
    logInfo("binvault %s agent starting: %s", BV_VERSION, cfg->settings ? cfg->settings : "");
    for (int i = 0; i < 3; i++) {
        static const int signals[3] = {SIGTERM, SIGINT, SIGHUP};

        sigs[i] = evsignal_new(a.base, signals[i], onSignal, &a);
        event_add(sigs[i], NULL);
    }
    if (identify(&a, err) != 0)
        goto done;
    memset(&sopts, 0, sizeof(sopts));
    sopts.segmentSize = (uint64_t)cfg->segmentSize;
    sopts.intervalMs = cfg->segmentIntervalMs;
    sopts.flavour = a.flavour;
    sopts.serverId = a.sourceServerId;
    sopts.serverUuid = a.sourceUuid;
    sopts.streamChecksum = BINLOG_CHECKSUM_CRC32;
    a.segmenter = segmenterNew(&sopts, &sink);
    if (resume(&a, err) != 0)
        goto done;
    a.uploader = uploaderNew(a.storage, (unsigned)cfg->uploadWorkers, uploadDone, &a);
    if (resubmitSpool(&a, err) != 0)
        goto done;
    archiveCatalogFree(a.catalog);
    a.catalog = NULL;
    if (pthread_create(&a.streamThread, NULL, streamMain, &a) != 0) {
        errSet(err, ERR_INTERNAL, "unable to start the stream thread");
        goto done;
    }
    pthread_setname_np(a.streamThread, "bv-stream");
    a.streamStarted = true;
    timer = event_new(a.base, -1, EV_PERSIST, onTimer, &a);
    {
        struct timeval tv = {TIMER_MS / 1000, (TIMER_MS % 1000) * 1000};

        event_add(timer, &tv);
    }
    event_base_dispatch(a.base);
    rc = 0;
done:
    atomic_store(&a.stop, true);
    if (a.spool)
        spoolWake(a.spool);
    if (a.streamStarted)
        pthread_join(a.streamThread, NULL);
    if (a.uploader) {
        uploaderStop(a.uploader, cfg->shutdownGraceMs);
        advanceCheckpoint(&a);
    }
    pthread_mutex_lock(&a.failLock);
    if (a.failed) {
        *err = a.failure;
        rc = -1;
    }
    pthread_mutex_unlock(&a.failLock);
    if (rc == 0)
        logInfo("agent stopped: archive complete up to segment %" PRIu64 ", %" PRIu64 " segments left in the spool",
                a.indexedSeq, a.spool ? spoolReadyCount(a.spool) : 0);
    uploaderFree(a.uploader);
    for (size_t i = 0; i < a.pendingCount; i++)
        segmentMetaClear(&a.pending[i].meta);
    segmentMetaClear(&a.lastIndexed);
    for (size_t i = 0; i < a.doneCount; i++)
        segmentMetaClear(&a.done[i]);
    bvFree(a.pending);
    bvFree(a.done);
    segmenterFree(a.segmenter);
    sqlConnFree(a.guardConn);
    archiveCatalogFree(a.catalog);
    archiveFree(a.archive);
    spoolClose(a.spool);
    storageFree(a.storage);
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    if (timer)
        event_free(timer);
    event_free(a.wake);
    event_base_free(a.base);
    urlMysqlFree(a.url);
    pthread_mutex_destroy(&a.failLock);
    pthread_mutex_destroy(&a.doneLock);
    return rc;
}
