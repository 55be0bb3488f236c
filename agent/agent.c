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

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "archive/identity.h"
#include "archive/index.h"
#include "agent/http.h"
#include "archive/segment.h"
#include "archive/segmenter.h"
#include "binlog/pos.h"
#include "agent/spool.h"
#include "archive/status.h"
#include "agent/uploader.h"
#include "archive/key.h"
#include "mysql/client.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/url.h"
#include "common/version.h"
#include "storage/storage.h"

#define TIMER_MS 500
#define BACKOFF_MIN_MS 500
/* While caught up and idle, the checkpoint's caught_up_us is refreshed this often, so that
 * `binvault status` (from the archive alone) sees an idle source as RPO ~0, not as silence. */
#define CHECKPOINT_REFRESH_MS 5000
/* The received GTID state is published for /status at most this often (it is a string). */
#define GTID_PUBLISH_MS 200
/* What the stream received is published at most this often while events keep coming. */
#define RECV_PUBLISH_MS 20
#define CAUGHT_UP_MARKS 256
#define MONITOR_TIMEOUT_MS 5000
/* A spool failure this long after the last one starts its backoff afresh. */
#define SPOOL_CALM_MS 10000

/* A heartbeat at `atUs` found the stream caught up: the archive holds everything the source had
 * written then once every segment up to `seq` is archived. */
typedef struct CaughtUpMark {
    uint64_t atUs;
    uint64_t seq;
} CaughtUpMark;

/* A stored segment waiting for the checkpoint; `indexed` when an index chunk already lists it
 * (found in the archive at start-up, beyond a hole that the spool fills). */
typedef struct PendingSegment {
    SegmentMeta meta;
    bool indexed;
} PendingSegment;

/* A sealed segment not yet archived, for the RPO: the estimated commit time of its first
 * transaction (0: it has none). */
typedef struct Unarchived {
    uint64_t seq;
    uint64_t firstUs;
} Unarchived;

typedef struct Agent {
    const AgentConfig *cfg;
    SqlSslMode sslMode; /* parsed --ssl-mode */
    MysqlUrl *url;
    Storage *storage;
    Archive *archive;
    ArchiveCatalog *catalog; /* at start-up only: freed once the stream has resumed from it */
    Spool *spool;
    Uploader *uploader;
    Segmenter *segmenter;  /* the thread sealing (the stream thread; at start-up the main thread) */
    SpoolJournal *journal; /* semi-sync: the open segment's journal (stream thread) */
    HttpServer *http;
    struct event_base *base;
    struct event *wake;
    pthread_t streamThread, archiverThread, monitorThread;
    bool streamStarted, archiverStarted, monitorStarted;

    atomic_bool stop;       /* shutdown requested */
    atomic_bool streamDone;
    atomic_bool workersStop; /* archiver and monitor: stop now */
    /* Fatal error of a thread; the first one wins. */
    pthread_mutex_t failLock;
    Err failure;
    bool failed;

    /* Source identity, known after the stream thread's first connection. */
    BinlogFlavour flavour;
    uint32_t sourceServerId;
    char sourceUuid[37];
    char sourceVersion[51];

    /* Upload completions waiting for the archiver, under doneLock; doneCond wakes the archiver
     * and the monitor (their sleeps). */
    pthread_mutex_t doneLock;
    pthread_cond_t doneCond;
    SegmentMeta *done;
    size_t doneCount, doneCap;
    /* Archiver state (archiver thread; the main thread once it is joined): stored segments not yet
     * covered by the checkpoint. */
    PendingSegment *pending;
    size_t pendingCount, pendingCap;
    uint64_t indexedSeq;   /* every segment up to here is stored and indexed */
    ArchiveCheckpoint cp;  /* as last written (or read at start-up) */
    bool cpDirty;          /* cp has news not written yet */
    uint64_t cpWrittenMs;
    unsigned chunksSinceMerge;

    /* Stream thread only. */
    uint64_t unsyncedFirstUs; /* semi-sync: first transaction not yet fdatasync'd */
    uint64_t gtidPublishedMs;
    /* The stream thread's, for publishEvent(): when it last published, the transactions counted
     * then, and the commit time (estimated) of the last transaction that ended. */
    uint64_t recvPublishedMs, recvPublishedTxns, recvEndedTxnUs;
    unsigned seed;            /* jitter of the backoffs */
    uint64_t spoolBackoff;    /* of spool failures; grows while they come within SPOOL_CALM_MS */
    uint64_t spoolFailedMs;   /* when the spool was last retried after one */

    /* Published state, under statLock: read by the HTTP snapshot, the archiver, the monitor. */
    pthread_mutex_t statLock;
    AgentStatus live;
    bool flavourKnown;
    bool cpEndsFile;
    uint64_t lastRecvMs; /* monotonic: when anything last arrived on the stream */
    Unarchived *unarchived;
    size_t unarchivedCount, unarchivedCap;
    CaughtUpMark marks[CAUGHT_UP_MARKS];
    size_t markCount;
    /* The spool could not be written and the stream waits for it: what /healthz and /status say
     * then (the error, and, when space lacks, "spool full"). */
    uint64_t spoolFailingSinceUs; /* 0 while the spool works */
    bool spoolNoSpace;
    char spoolError[1024];
    uint64_t spoolErrorUs, spoolErrors;
} Agent;

static uint64_t
nowMs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
wallUs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Remember an error for /status (the caller logs it). */
static void
noteError(Agent *a, const char *msg) {
    pthread_mutex_lock(&a->statLock);
    snprintf(a->live.lastError, sizeof(a->live.lastError), "%.*s", (int)sizeof(a->live.lastError) - 1, msg);
    a->live.lastErrorUs = wallUs();
    pthread_mutex_unlock(&a->statLock);
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
    noteError(a, err->msg);
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

/* The next step of a capped exponential backoff (0 starts it), and the delay to wait: a random
 * point in its upper half (jitter, so that agents cut off together do not retry together). */
static uint64_t
backoffNext(Agent *a, uint64_t *backoff) {
    *backoff = *backoff ? *backoff * 2 : BACKOFF_MIN_MS;
    if (*backoff > (uint64_t)a->cfg->reconnectMaxMs)
        *backoff = (uint64_t)a->cfg->reconnectMaxMs;
    return *backoff / 2 + (uint64_t)rand_r(&a->seed) % (*backoff / 2 + 1);
}

/* Wait on doneCond for up to ms (archiver, monitor). */
static void
workerSleep(Agent *a, uint64_t ms) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->doneLock);
    if (a->doneCount == 0 && !atomic_load(&a->workersStop))
        pthread_cond_timedwait(&a->doneCond, &a->doneLock, &ts);
    pthread_mutex_unlock(&a->doneLock);
}

/* ---- published state (statLock held) ---- */

static void
addUnarchivedLocked(Agent *a, uint64_t seq, uint64_t firstUs) {
    for (size_t i = 0; i < a->unarchivedCount; i++)
        if (a->unarchived[i].seq == seq) {
            if (firstUs != 0 && (a->unarchived[i].firstUs == 0 || firstUs < a->unarchived[i].firstUs))
                a->unarchived[i].firstUs = firstUs;
            return;
        }
    if (a->unarchivedCount == a->unarchivedCap) {
        a->unarchivedCap = a->unarchivedCap ? a->unarchivedCap * 2 : 64;
        a->unarchived = bvRealloc(a->unarchived, a->unarchivedCap * sizeof(*a->unarchived));
    }
    a->unarchived[a->unarchivedCount++] = (Unarchived){seq, firstUs};
}

static void
addMarkLocked(Agent *a, uint64_t atUs, uint64_t seq) {
    if (a->markCount > 0 && a->marks[a->markCount - 1].seq == seq) {
        a->marks[a->markCount - 1].atUs = atUs;
        return;
    }
    if (a->markCount == CAUGHT_UP_MARKS) {
        memmove(a->marks, a->marks + 1, (CAUGHT_UP_MARKS - 1) * sizeof(*a->marks));
        a->markCount--;
    }
    a->marks[a->markCount++] = (CaughtUpMark){atUs, seq};
}

static void
setStringLocked(char **dst, char *src) {
    bvFree(*dst);
    *dst = src;
}

/* ---- sealing: segmenter sink ---- */

static void
sinkTmpPath(void *data, uint64_t seq, char *out, size_t size) {
    spoolOpenPath(((Agent *)data)->spool, seq, out, size);
}

/* A segment is committed to the spool: count it for the RPO (its first transaction committed at
 * firstUs, 0: unknown) and queue it for upload. */
static void
sealedSegment(Agent *a, const SegmentMeta *m, uint64_t firstUs) {
    char path[4096];

    pthread_mutex_lock(&a->statLock);
    if (m->transactions > 0)
        addUnarchivedLocked(a, m->seq, firstUs ? firstUs : m->firstTimeUs);
    a->live.segmentsSealed++;
    pthread_mutex_unlock(&a->statLock);
    spoolReadyPath(a->spool, m->seq, path, sizeof(path));
    if (a->uploader)
        uploaderSubmit(a->uploader, m, path);
    logDebug("segment %" PRIu64 " sealed: %s:%" PRIu64 "-%" PRIu64 ", %" PRIu64 " transactions, %" PRIu64
             " bytes, last gtid '%s'", m->seq, m->file, m->startPos, m->endPos, m->transactions, m->size, m->lastGtid);
}

static int
sinkSealed(void *data, const char *tmpPath, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
           const char *nextFile, Err *err) {
    Agent *a = data;
    SegmentMeta m;
    int rc;

    segmentMetaCopy(&m, meta);
    segmentName(m.seq, m.file, m.startPos, m.name, sizeof(m.name));
    logDebug("committing segment %" PRIu64 " (%s:%" PRIu64 "-%" PRIu64 ") to the spool", m.seq, m.file, m.startPos,
             m.endPos);
    rc = spoolCommit(a->spool, tmpPath, &m, fde, fdeLen, nextFile, err);
    if (rc != 0)
        logDebug("segment %" PRIu64 " not committed: %s", m.seq, err->msg);
    /* The segmenter still describes the segment being sealed. */
    if (rc == 0)
        sealedSegment(a, &m, a->segmenter ? segmenterOpenFirstCommitUs(a->segmenter) : 0);
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
    pthread_cond_broadcast(&a->doneCond);
    pthread_mutex_unlock(&a->doneLock);
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
archiveFailing(Agent *a, const char *msg) {
    pthread_mutex_lock(&a->statLock);
    if (a->live.archiveFailingSinceUs == 0)
        a->live.archiveFailingSinceUs = wallUs();
    pthread_mutex_unlock(&a->statLock);
    noteError(a, msg);
}

/* Write a->cp with the latest archived caught-up instant. */
static void
writeCheckpoint(Agent *a) {
    Err err;

    if (archiveCheckpointWrite(a->archive, &a->cp, &err) != 0) {
        logWarn("unable to write the archive checkpoint (will retry): %s", err.msg);
        archiveFailing(a, err.msg);
        a->cpDirty = true;
        return;
    }
    a->cpDirty = false;
    a->cpWrittenMs = nowMs();
    pthread_mutex_lock(&a->statLock);
    a->live.archiveFailingSinceUs = 0;
    a->live.cpSeq = a->cp.seq;
    snprintf(a->live.cpFile, sizeof(a->live.cpFile), "%s", a->cp.file);
    a->live.cpEndPos = a->cp.endPos;
    setStringLocked(&a->live.cpGtidEnd, bvStrdup(a->cp.gtidEnd ? a->cp.gtidEnd : ""));
    snprintf(a->live.cpLastGtid, sizeof(a->live.cpLastGtid), "%s", a->cp.lastGtid);
    a->live.cpLastTimeUs = a->cp.lastTimeUs;
    a->live.cpCaughtUpUs = a->cp.caughtUpUs;
    a->live.cpWrittenUs = wallUs();
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
    /* One index chunk per stretch of segments that no chunk lists yet. */
    for (from = 0; from < run;) {
        size_t to = from;
        SegmentMeta *metas;
        int rc;

        if (a->pending[from].indexed) {
            from++;
            continue;
        }
        while (to < run && !a->pending[to].indexed)
            to++;
        metas = bvMalloc((to - from) * sizeof(*metas));
        for (size_t i = from; i < to; i++)
            metas[i - from] = a->pending[i].meta;
        rc = archiveIndexPut(a->archive, NULL, metas, to - from, &err);
        bvFree(metas);
        if (rc != 0) {
            logWarn("unable to write the archive index (will retry): %s", err.msg);
            archiveFailing(a, err.msg);
            run = from; /* what is indexed so far still counts */
            break;
        }
        for (size_t i = from; i < to; i++)
            a->pending[i].indexed = true;
        from = to;
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
        writeCheckpoint(a);
        a->chunksSinceMerge++;
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

/* Compact the index now and then (each checkpoint advance writes a small chunk). */
static void
mergeIndex(Agent *a) {
    ArchiveCatalog *c;
    Err err;

    if (a->chunksSinceMerge < 64)
        return;
    a->chunksSinceMerge = 0;
    if ((c = archiveCatalogLoad(a->archive, 0, &err)) == NULL ||
        archiveIndexMerge(a->archive, c, NULL, NULL, &err) != 0)
        logWarn("unable to compact the archive index (will retry): %s", err.msg);
    archiveCatalogFree(c);
}

/* While nothing new is archived, caught-up instants still complete (an idle source): refresh the
 * checkpoint now and then, and retry a write that failed. */
static void
refreshCheckpoint(Agent *a) {
    archivedUpTo(a, a->indexedSeq);
    if (a->cpDirty && (a->cpWrittenMs == 0 || nowMs() - a->cpWrittenMs >= CHECKPOINT_REFRESH_MS))
        writeCheckpoint(a);
}

static void *
archiverMain(void *arg) {
    Agent *a = arg;

    while (!atomic_load(&a->workersStop)) {
        workerSleep(a, TIMER_MS);
        advanceCheckpoint(a);
        mergeIndex(a);
        refreshCheckpoint(a);
    }
    return NULL;
}

/* ---- the monitor: the source over SQL (position, lag, purge guard) ---- */

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
    o.sslMode = a->sslMode;
    o.sslCa = a->cfg->sslCa;
    o.sslCert = a->cfg->sslCert;
    o.sslKey = a->cfg->sslKey;
    return o;
}

typedef struct Binlogs {
    char oldest[SEGMENT_FILE_MAX];
    char next[SEGMENT_FILE_MAX]; /* first file after `after` */
    const char *want, *after;
    bool found;
    unsigned count;
    /* Bytes from `from`:fromPos to `to`:toPos, for the lag. */
    const char *from, *to;
    uint64_t fromPos, toPos, bytes;
} Binlogs;

static int
binlogRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    Binlogs *b = data;
    uint64_t size;

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
    if (b->from && nCols >= 2 && values[1] != NULL) {
        size = strtoull(values[1], NULL, 10);
        if (strcmp(values[0], b->from) == 0)
            b->bytes += size > b->fromPos ? size - b->fromPos : 0;
        else if (strcmp(values[0], b->to) == 0)
            b->bytes += b->toPos;
        else if (segmentFileCompare(values[0], b->from) > 0 && segmentFileCompare(values[0], b->to) < 0)
            b->bytes += size;
    }
    return 0;
}


static bool
monitorConnect(Agent *a, SqlConn **conn, bool *warned) {
    SqlConnOpts o = sourceConnOpts(a);
    Err err;

    if (*conn != NULL)
        return true;
    if (o.connectTimeoutMs > MONITOR_TIMEOUT_MS)
        o.connectTimeoutMs = MONITOR_TIMEOUT_MS;
    o.readTimeoutMs = MONITOR_TIMEOUT_MS;
    if ((*conn = sqlConnect(&o, &err)) == NULL) {
        if (!*warned)
            logWarn("source monitor: %s", err.msg);
        *warned = true;
        return false;
    }
    return true;
}

/* The monitor's connection failed: drop it (the next round reconnects); warn once per streak. */
static void
monitorLost(SqlConn **conn, const Err *err, bool *warned) {
    if (!*warned)
        logWarn("source monitor: %s", err->msg);
    *warned = true;
    sqlConnFree(*conn);
    *conn = NULL;
}

/* The source's own position and GTID state, and how many bytes of binlog we have not received. */
static void
sampleSource(Agent *a, SqlConn **conn, bool *warned) {
    SqlMasterStatus m;
    Binlogs b;
    char recvFile[SEGMENT_FILE_MAX];
    uint64_t recvPos;
    int64_t lag = -1;
    char *gtid = NULL;
    bool maria;
    Err err;

    pthread_mutex_lock(&a->statLock);
    snprintf(recvFile, sizeof(recvFile), "%s", a->live.recvFile);
    recvPos = a->live.recvPos;
    maria = !a->flavourKnown || a->flavour != BINLOG_FLAVOUR_MYSQL;
    pthread_mutex_unlock(&a->statLock);
    memset(&m, 0, sizeof(m));
    if (sqlMasterStatus(*conn, &m, &err) != 0 ||
        (maria && sqlQueryValue(*conn, "SELECT @@global.gtid_binlog_pos", &gtid, &err) != 0)) {
        bvFree(m.gtid);
        monitorLost(conn, &err, warned);
        return;
    }
    if (!m.found) {
        bvFree(m.gtid);
        bvFree(gtid);
        return; /* binary logging is off: nothing to compare */
    }
    if (gtid == NULL)
        gtid = m.gtid ? m.gtid : bvStrdup("");
    else
        bvFree(m.gtid);
    if (recvFile[0] != '\0' && strcmp(recvFile, m.file) == 0) {
        lag = m.pos > recvPos ? (int64_t)(m.pos - recvPos) : 0;
    } else if (recvFile[0] != '\0') {
        memset(&b, 0, sizeof(b));
        b.from = recvFile;
        b.fromPos = recvPos;
        b.to = m.file;
        b.toPos = m.pos;
        if (sqlQuery(*conn, "SHOW BINARY LOGS", binlogRow, &b, &err) != 0) {
            bvFree(gtid);
            monitorLost(conn, &err, warned);
            return;
        }
        lag = segmentFileCompare(recvFile, m.file) > 0 ? 0 : (int64_t)b.bytes;
    }
    pthread_mutex_lock(&a->statLock);
    a->live.sourceSampled = true;
    a->live.sourceSampledUs = wallUs();
    snprintf(a->live.sourceFile, sizeof(a->live.sourceFile), "%s", m.file);
    a->live.sourcePos = m.pos;
    setStringLocked(&a->live.sourceGtid, gtid);
    a->live.lagBytes = lag;
    pthread_mutex_unlock(&a->statLock);
    *warned = false;
}

/* Compare what the source still has with what the archive holds: warn when the binlog the
 * archive needs next is the oldest on the server (the next purge or expiry loses it), and say so
 * loudly when it is already gone. */
static void
purgeGuard(Agent *a, SqlConn **conn, bool *warned) {
    char cpFile[SEGMENT_FILE_MAX];
    bool endsFile;
    const char *need;
    PurgeState state, before;
    Binlogs b;
    Err err;

    pthread_mutex_lock(&a->statLock);
    snprintf(cpFile, sizeof(cpFile), "%s", a->live.cpFile);
    endsFile = a->cpEndsFile;
    before = a->live.purge;
    pthread_mutex_unlock(&a->statLock);
    if (cpFile[0] == '\0')
        return;
    memset(&b, 0, sizeof(b));
    /* The archive is complete up to the end of cpFile, or up to the end of the whole file (then
     * the next file is needed). */
    if (endsFile)
        b.after = cpFile;
    else
        b.want = cpFile;
    if (sqlQuery(*conn, "SHOW BINARY LOGS", binlogRow, &b, &err) != 0) {
        monitorLost(conn, &err, warned);
        return;
    }
    need = endsFile ? b.next : cpFile;
    state = PURGE_OK;
    if (b.count > 0 && need[0] != '\0') {
        if (!endsFile && !b.found && segmentFileCompare(need, b.oldest) < 0) {
            if (before != PURGE_LOST) {
                char msg[1024];

                snprintf(msg, sizeof(msg), "purge guard: the source has purged binlog '%s', which is not archived "
                         "yet (its oldest binlog is now '%s'): the archive will have a gap there", need, b.oldest);
                logError("%s", msg);
                noteError(a, msg);
            }
            state = PURGE_LOST;
        } else if (strcmp(need, b.oldest) == 0 && b.count > 1) {
            if (before != PURGE_AT_RISK)
                logWarn("purge guard: binlog '%s' is the oldest the source still has and is not fully archived yet: "
                        "a PURGE BINARY LOGS or binlog expiry now would lose it", need);
            state = PURGE_AT_RISK;
        }
    }
    pthread_mutex_lock(&a->statLock);
    a->live.purge = state;
    pthread_mutex_unlock(&a->statLock);
    *warned = false;
}

static void *
monitorMain(void *arg) {
    Agent *a = arg;
    SqlConn *conn = NULL;
    uint64_t lastSample = 0, lastPurge = 0;
    bool warned = false;

    while (!atomic_load(&a->workersStop)) {
        uint64_t now = nowMs();
        bool sample = a->cfg->sourcePollMs > 0 && now - lastSample >= (uint64_t)a->cfg->sourcePollMs;
        bool purge = a->cfg->purgeCheckMs > 0 && now - lastPurge >= (uint64_t)a->cfg->purgeCheckMs;

        if ((sample || purge) && monitorConnect(a, &conn, &warned)) {
            if (sample) {
                lastSample = now;
                sampleSource(a, &conn, &warned);
            }
            if (purge && conn != NULL) {
                lastPurge = now;
                purgeGuard(a, &conn, &warned);
            }
        }
        workerSleep(a, 200);
    }
    sqlConnFree(conn);
    return NULL;
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
 * between); compact the index; take the checkpoint (its caught_up_us especially). */
static int
loadArchive(Agent *a, Err *err) {
    size_t indexed = 0, written = 0, removed = 0;
    const SegmentMeta *last;
    ArchiveCheckpoint stored;
    Err e;

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

        if (m->seq > a->indexedSeq)
            addPending(a, m, true, true);
    }
    archiveCheckpointClear(&a->cp);
    archiveCheckpointFromCatalog(a->catalog, &a->cp);
    if (archiveCheckpointRead(a->archive, &stored, &e) == 0) {
        a->cp.caughtUpUs = stored.caughtUpUs;
        a->cpDirty = stored.seq != a->cp.seq;
        archiveCheckpointClear(&stored);
    } else {
        a->cpDirty = a->cp.seq > 0;
    }
    pthread_mutex_lock(&a->statLock);
    a->live.cpSeq = a->cp.seq;
    snprintf(a->live.cpFile, sizeof(a->live.cpFile), "%s", a->cp.file);
    a->live.cpEndPos = a->cp.endPos;
    setStringLocked(&a->live.cpGtidEnd, bvStrdup(a->cp.gtidEnd ? a->cp.gtidEnd : ""));
    snprintf(a->live.cpLastGtid, sizeof(a->live.cpLastGtid), "%s", a->cp.lastGtid);
    a->live.cpLastTimeUs = a->cp.lastTimeUs;
    a->live.cpCaughtUpUs = a->cp.caughtUpUs;
    a->live.unreceivedSinceUs = a->cp.caughtUpUs > a->cp.lastTimeUs ? a->cp.caughtUpUs : a->cp.lastTimeUs;
    pthread_mutex_unlock(&a->statLock);
    if ((last = archiveCatalogLast(a->catalog)) != NULL) {
        a->cpEndsFile = last->endsFile;
        logInfo("archive '%s': %zu segments, complete up to %s:%" PRIu64 " (gtid '%s')", storageUrl(a->storage),
                archiveCatalogCount(a->catalog), last->file, last->endPos, last->lastGtid);
    } else {
        logInfo("archive '%s' is empty", storageUrl(a->storage));
    }
    return 0;
}

/* Continue after the spool's last sealed segment. */
static int
resumeFromState(Segmenter *seg, const SpoolState *st, Err *err) {
    const char *file = st->endsFile && st->nextFile[0] ? st->nextFile : st->file;
    uint64_t pos = st->endsFile && st->nextFile[0] ? 4 : st->endPos;

    return segmenterResume(seg, st->seq, file, pos, st->gtidEnd, pos > 4 ? st->fde : NULL, pos > 4 ? st->fdeLen : 0,
                           err);
}

/* Where to resume: the spool's last sealed segment, else the archive's last segment, else the
 * start option, else the oldest binlog on the source. */
static int
resume(Agent *a, Segmenter *seg, Err *err) {
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
        rc = resumeFromState(seg, &st, err);
    } else if (last != NULL) {
        uint8_t *fde = NULL;
        size_t fdeLen = 0;

        if (!last->endsFile && readFde(a, last, &fde, &fdeLen, err) != 0)
            goto done;
        rc = segmenterResume(seg, last->seq, last->file, last->endPos, last->gtidEnd, fde, fdeLen, err);
        bvFree(fde);
    } else if (a->cfg->startPosition) {
        BinlogPos start;

        if (binlogPosOptParseStart(a->cfg->startPosition, &start, err) != 0) {
            errPrefix(err, "--start-position");
            goto done;
        }
        rc = segmenterResume(seg, 0, start.file, start.pos, "", NULL, 0, err);
    } else if (a->cfg->startGtid) {
        rc = segmenterResume(seg, 0, "", 0, a->cfg->startGtid, NULL, 0, err);
    } else {
        rc = segmenterResume(seg, 0, "", 4, "", NULL, 0, err);
    }
done:
    spoolStateClear(&st);
    return rc;
}

/* ---- semi-sync journal recovery ---- */

typedef struct Replay {
    Segmenter *seg;
} Replay;

static int
replayEvent(void *data, const uint8_t *ev, size_t len, Err *err) {
    Replay *r = data;

    /* A constant clock: no interval cut while replaying; commit times from the binlog. */
    segmenterSetClock(r->seg, 0);
    return segmenterPush(r->seg, ev, len, 1, err);
}

/* Seal what a journal holds of the open segment after the last sealed one: every event up to
 * the last transaction boundary on disk, which includes everything acknowledged. Journals of
 * segments already sealed are stale and removed. A journal that cannot be replayed is kept as
 * journal/SEQ.bvj.bad and reported: it holds acknowledged transactions. */
static int
recoverJournal(Agent *a, Segmenter *seg, Err *err) {
    uint64_t *seqs = NULL;
    size_t n = 0;
    int rc = 0;

    if (spoolJournalList(a->spool, &seqs, &n, err) != 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        SpoolJournalHead head;
        Replay r = {seg};
        uint64_t events = 0, before = segmenterLastSeq(seg);
        Err e;

        if (seqs[i] != before + 1) {
            logDebug("removing the stale semi-sync journal of segment %" PRIu64 " (segment %" PRIu64 " is sealed)",
                     seqs[i], before);
            rc = spoolJournalRemove(a->spool, seqs[i], NULL, err);
            continue;
        }
        logDebug("replaying the semi-sync journal of segment %" PRIu64 " after %s:%" PRIu64, seqs[i], segmenterFile(seg),
                 segmenterPos(seg));
        if (spoolJournalReplay(a->spool, seqs[i], &head, replayEvent, &r, &events, &e) != 0 ||
            segmenterCut(seg, &e) < 0) {
            char msg[ERR_MSG_MAX + 256];

            if (e.code == ERR_IO) {
                /* The spool failed, not the journal: it stays, to be sealed once the spool works. */
                segmenterAbandon(seg);
                *err = e;
                rc = -1;
                break;
            }
            segmenterAbandon(seg);
            snprintf(msg, sizeof(msg), "unable to recover segment %" PRIu64 " from the semi-sync journal (kept as "
                     "journal/%016" PRIu64 ".bvj.bad): %s", seqs[i], seqs[i], e.msg);
            logError("%s", msg);
            noteError(a, msg);
            rc = spoolJournalRemove(a->spool, seqs[i], "bad", err);
            continue;
        }
        if (segmenterLastSeq(seg) != before)
            logInfo("recovered %" PRIu64 " events of the open segment from the semi-sync journal: segments %" PRIu64
                    "-%" PRIu64 ", up to %s:%" PRIu64, events, before + 1, segmenterLastSeq(seg), segmenterFile(seg),
                    segmenterPos(seg));
        else
            segmenterAbandon(seg); /* nothing whole to seal: back to the last sealed segment */
        rc = spoolJournalRemove(a->spool, seqs[i], NULL, err);
    }
    bvFree(seqs);
    return rc;
}

/* Before anything else: recover a journal left by a crash, with a segmenter of the identity the
 * journal names (the source need not be reachable). */
static int
recoverAtStart(Agent *a, Err *err) {
    uint64_t *seqs = NULL;
    size_t n = 0;
    SpoolJournalHead head;
    SegmenterOpts sopts;
    SegmenterSink sink = {sinkTmpPath, sinkSealed, a};
    Segmenter *seg;
    int rc;

    if (spoolJournalList(a->spool, &seqs, &n, err) != 0)
        return -1;
    if (n == 0)
        return 0;
    /* Any journal tells the identity: they all come from this source. A journal without a valid
     * head holds nothing (the head is written before any event). */
    memset(&head, 0, sizeof(head));
    for (size_t i = 0; i < n; i++) {
        Err e;

        if (spoolJournalReadHead(a->spool, seqs[i], &head, &e) == 0)
            break;
        logWarn("removing a semi-sync journal that holds nothing: %s", e.msg);
        if (spoolJournalRemove(a->spool, seqs[i], NULL, err) != 0) {
            bvFree(seqs);
            return -1;
        }
    }
    bvFree(seqs);
    if (head.seq == 0)
        return 0;
    memset(&sopts, 0, sizeof(sopts));
    sopts.segmentSize = (uint64_t)a->cfg->segmentSize;
    sopts.intervalMs = a->cfg->segmentIntervalMs;
    sopts.flavour = head.flavour;
    sopts.serverId = head.serverId;
    sopts.serverUuid = head.serverUuid;
    sopts.streamChecksum = BINLOG_CHECKSUM_CRC32;
    seg = segmenterNew(&sopts, &sink);
    a->segmenter = seg;
    rc = resume(a, seg, err);
    if (rc == 0 && (rc = recoverJournal(a, seg, err)) != 0 && err->code == ERR_IO)
        errPrefix(err, "unable to seal the semi-sync journal into spool '%s' (it is kept; the next start retries)",
                  spoolDir(a->spool));
    a->segmenter = NULL;
    segmenterFree(seg);
    return rc;
}

/* The identity of an archive that has none yet, from a spooled segment: the spool can be
 * archived before the source is reachable (or, with --drain, without it). */
static int
identityFromSpool(Agent *a, const SegmentMeta *m, Err *err) {
    ArchiveIdentity id;

    memset(&id, 0, sizeof(id));
    id.flavour = m->flavour;
    id.serverId = m->serverId;
    snprintf(id.serverUuid, sizeof(id.serverUuid), "%s", m->serverUuid);
    snprintf(id.serverVersion, sizeof(id.serverVersion), "%s", m->serverVersion);
    snprintf(id.source, sizeof(id.source), "%s:%u", a->url->host, a->url->port);
    return archiveIdentityEnsure(a->archive, &id, NULL, err);
}

/* Segments sealed by an earlier run and not yet archived go to the uploader first (and count
 * for the RPO). Together, the archive and the spool must hold every segment after the
 * checkpoint: a hole in both is a gap. */
static int
resubmitSpool(Agent *a, Err *err) {
    SegmentMeta *metas;
    size_t n, queued = 0, ai = 0;
    uint64_t expect = a->indexedSeq + 1;
    int rc = 0;

    if (spoolReadyList(a->spool, &metas, &n, err) != 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        bool archived;

        for (; ai < a->pendingCount && a->pending[ai].meta.seq < metas[i].seq; ai++)
            ;
        archived = ai < a->pendingCount && a->pending[ai].meta.seq == metas[i].seq;
        if (metas[i].seq <= a->indexedSeq) {
            if (spoolRemove(a->spool, metas[i].seq, err) != 0)
                logWarn("%s", err->msg);
        } else if (!archived) {
            if (queued == 0 && (rc = identityFromSpool(a, &metas[i], err)) != 0)
                break;
            pthread_mutex_lock(&a->statLock);
            if (metas[i].transactions > 0)
                addUnarchivedLocked(a, metas[i].seq, metas[i].firstTimeUs);
            if (metas[i].lastTimeUs > a->live.unreceivedSinceUs)
                a->live.unreceivedSinceUs = metas[i].lastTimeUs;
            pthread_mutex_unlock(&a->statLock);
            spoolReadyPath(a->spool, metas[i].seq, path, sizeof(path));
            uploaderSubmit(a->uploader, &metas[i], path);
            queued++;
        }
    }
    /* Walk both, in seq order, from the checkpoint. */
    for (size_t si = 0, pi = 0; rc == 0;) {
        uint64_t sq = si < n ? metas[si].seq : UINT64_MAX, pq = pi < a->pendingCount ? a->pending[pi].meta.seq : UINT64_MAX;
        uint64_t next = sq < pq ? sq : pq;

        if (next == UINT64_MAX)
            break;
        if (next < expect) {
            si += sq == next;
            pi += pq == next;
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

/* Connect once to learn the source's identity, and check it against the archive's. Retries while
 * the source cannot be reached. */
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
        noteError(a, err->msg);
        sleepUnlessStopping(a, backoff);
        backoff = backoff * 2 > (uint64_t)a->cfg->reconnectMaxMs ? (uint64_t)a->cfg->reconnectMaxMs : backoff * 2;
        binlogClientFree(c);
        c = binlogClientNew(&opts);
    }
    a->flavour = binlogClientFlavour(c);
    a->sourceServerId = binlogClientServerId(c);
    snprintf(a->sourceUuid, sizeof(a->sourceUuid), "%s", binlogClientServerUuid(c) ? binlogClientServerUuid(c) : "");
    snprintf(a->sourceVersion, sizeof(a->sourceVersion), "%s", binlogClientServerVersion(c));
    pthread_mutex_lock(&a->statLock);
    a->flavourKnown = true;
    pthread_mutex_unlock(&a->statLock);
    memset(&id, 0, sizeof(id));
    id.flavour = a->flavour;
    id.serverId = a->sourceServerId;
    snprintf(id.serverUuid, sizeof(id.serverUuid), "%s", a->sourceUuid);
    snprintf(id.serverVersion, sizeof(id.serverVersion), "%s", a->sourceVersion);
    snprintf(id.source, sizeof(id.source), "%s:%u", a->url->host, a->url->port);
    binlogClientFree(c);
    return archiveIdentityEnsure(a->archive, &id, NULL, err);
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
    logInfo("streaming from %s at '%s':%" PRIu64 "%s", binlogClientUrl(c), file[0] ? file : "(oldest binlog)",
            segmenterPos(a->segmenter), a->cfg->semiSync ? " as a semi-sync replica" : "");
    return binlogClientStartFile(c, file[0] ? file : NULL, file[0] ? segmenterPos(a->segmenter) : 4, err);
}

static void
publishConnected(Agent *a, bool connected, bool first) {
    pthread_mutex_lock(&a->statLock);
    if (connected) {
        a->live.connectedSinceUs = wallUs();
        a->lastRecvMs = nowMs();
        if (!first)
            a->live.reconnects++;
    } else {
        a->live.disconnectedSinceUs = wallUs();
        a->live.semiSyncActive = false;
    }
    a->live.connected = connected;
    pthread_mutex_unlock(&a->statLock);
}

/* After a segmenter call that may have sealed: a sealed segment is durable in ready/, its journal
 * is done with. */
static void
afterSeal(Agent *a, uint64_t seqBefore) {
    if (segmenterLastSeq(a->segmenter) == seqBefore)
        return;
    if (a->journal != NULL) {
        spoolJournalClose(a->journal, true);
        a->journal = NULL;
    }
    if (!segmenterInTxn(a->segmenter))
        a->unsyncedFirstUs = 0;
}

/* Semi-sync: keep the event in the open segment's journal (not heartbeats: they are not stored). */
static int
journalEvent(Agent *a, const uint8_t *ev, size_t len, bool heartbeat, uint64_t seqBefore, Err *err) {
    Segmenter *s = a->segmenter;

    if (heartbeat || segmenterLastSeq(s) != seqBefore)
        return 0; /* nothing to keep, or the event is in a sealed segment */
    if (a->journal == NULL) {
        SpoolJournalHead head;

        memset(&head, 0, sizeof(head));
        head.seq = segmenterLastSeq(s) + 1;
        head.flavour = a->flavour;
        head.serverId = a->sourceServerId;
        snprintf(head.serverUuid, sizeof(head.serverUuid), "%s", a->sourceUuid);
        snprintf(head.file, sizeof(head.file), "%s", segmenterFile(s));
        head.pos = segmenterPos(s);
        if ((a->journal = spoolJournalCreate(a->spool, &head, err)) == NULL)
            return -1;
    }
    return spoolJournalAppend(a->journal, ev, len, !segmenterInTxn(s), err);
}

/* The source waits for our ACK of file:pos: make everything received durable, then send it. */
static int
acknowledge(Agent *a, BinlogClient *c, const char *file, uint64_t pos, Err *err) {
    bool synced = false;

    if (a->journal != NULL) {
        if (spoolJournalSync(a->journal, err) != 0)
            return -1;
        synced = true;
    }
    if (binlogClientSemiSyncAck(c, file, pos, err) != 0)
        return -1;
    a->unsyncedFirstUs = segmenterInTxn(a->segmenter) ? segmenterTxnCommitUs(a->segmenter) : 0;
    pthread_mutex_lock(&a->statLock);
    a->live.acks++;
    a->live.journalSyncs += synced;
    a->live.semiSyncActive = true;
    snprintf(a->live.ackFile, sizeof(a->live.ackFile), "%s", file);
    a->live.ackPos = pos;
    pthread_mutex_unlock(&a->statLock);
    return 0;
}

/* Publish what the stream thread knows, after an event: at once after a heartbeat or when
 * nothing more waits on the connection (the stream is idle, so the published state is exact),
 * otherwise at most every RECV_PUBLISH_MS (and with `force`, when the stream ends). A catch-up
 * of millions of events pays the lock and the copies once per batch, not once per event. */
static void
publishEvent(Agent *a, BinlogClient *c, bool heartbeat, bool force, uint64_t wall) {
    Segmenter *s = a->segmenter;
    uint64_t now = nowMs();
    bool txnEnded;
    char *gtid = NULL;

    if (!heartbeat && !force && now - a->recvPublishedMs < RECV_PUBLISH_MS && binlogClientPending(c))
        return;
    a->recvPublishedMs = now;
    txnEnded = segmenterTransactions(s) != a->recvPublishedTxns;
    a->recvPublishedTxns = segmenterTransactions(s);

    if ((txnEnded || heartbeat) && now - a->gtidPublishedMs >= GTID_PUBLISH_MS) {
        gtid = segmenterGtidState(s);
        a->gtidPublishedMs = now;
    }
    pthread_mutex_lock(&a->statLock);
    a->lastRecvMs = now;
    a->live.recvEvents = segmenterEvents(s);
    a->live.recvBytes = segmenterBytes(s);
    a->live.recvTxns = segmenterTransactions(s);
    a->live.lastRecvCommitUs = segmenterLastCommitUs(s);
    snprintf(a->live.recvFile, sizeof(a->live.recvFile), "%s", segmenterSourceFile(s));
    a->live.recvPos = segmenterSourcePos(s);
    if (gtid != NULL)
        setStringLocked(&a->live.recvGtid, gtid);
    if (heartbeat) {
        /* The source had nothing more to send: caught up now. */
        a->live.caughtUpUs = wall;
        if (wall > a->live.unreceivedSinceUs)
            a->live.unreceivedSinceUs = wall;
        addMarkLocked(a, wall, segmenterLastSeq(s) + (segmenterOpenFirstCommitUs(s) != 0));
    } else if (txnEnded && a->recvEndedTxnUs > a->live.unreceivedSinceUs) {
        a->live.unreceivedSinceUs = a->recvEndedTxnUs;
    }
    a->live.oldestUnsealedUs = segmenterOpenFirstCommitUs(s);
    a->live.oldestUnsyncedUs = a->cfg->semiSync ? a->unsyncedFirstUs : a->live.oldestUnsealedUs;
    pthread_mutex_unlock(&a->statLock);
}

/* The stream broke (or stops inside a transaction): the open segment is dropped, except, with
 * semi-sync, what its journal holds up to the last transaction boundary, which is sealed now.
 * What is dropped will be read again; until then it counts as not received. -1 when the journal
 * could not be sealed (the spool failed: ERR_IO; the journal stays). */
static int
dropOpen(Agent *a, Err *err) {
    Segmenter *s = a->segmenter;
    uint64_t dropped;
    Err journalErr;
    int rc;

    if (a->cfg->semiSync)
        dropped = segmenterInTxn(s) ? segmenterTxnCommitUs(s) : 0;
    else
        dropped = segmenterOpenFirstCommitUs(s);
    segmenterAbandon(s);
    if (a->journal != NULL) {
        spoolJournalClose(a->journal, false);
        a->journal = NULL;
    }
    /* After a spool failure, that failure is what the log and /healthz say, not the journal's
     * (which then fails the same way, or is refused until the spool's state is read again). */
    if ((rc = recoverJournal(a, s, &journalErr)) != 0) {
        if (err->code == ERR_IO)
            logDebug("the semi-sync journal is sealed once the spool works: %s", journalErr.msg);
        else
            *err = journalErr;
    }
    a->unsyncedFirstUs = 0;
    spoolSetOpenBytes(a->spool, 0);
    pthread_mutex_lock(&a->statLock);
    if (dropped != 0 && dropped < a->live.unreceivedSinceUs)
        a->live.unreceivedSinceUs = dropped;
    /* Caught-up marks that counted on the dropped open segment no longer hold. */
    while (a->markCount > 0 && a->marks[a->markCount - 1].seq > segmenterLastSeq(s))
        a->markCount--;
    a->live.oldestUnsealedUs = 0;
    a->live.oldestUnsyncedUs = 0;
    snprintf(a->live.recvFile, sizeof(a->live.recvFile), "%s", segmenterFile(s));
    a->live.recvPos = segmenterPos(s);
    pthread_mutex_unlock(&a->statLock);
    return rc;
}

static void
setSpoolFull(Agent *a, bool full) {
    pthread_mutex_lock(&a->statLock);
    a->live.spoolFull = full;
    pthread_mutex_unlock(&a->statLock);
}

static void
publishSpoolFailing(Agent *a, bool failing, bool noSpace, const char *msg) {
    pthread_mutex_lock(&a->statLock);
    if (!failing)
        a->spoolFailingSinceUs = 0;
    else if (a->spoolFailingSinceUs == 0)
        a->spoolFailingSinceUs = wallUs();
    a->spoolNoSpace = failing && noSpace;
    if (failing) {
        snprintf(a->spoolError, sizeof(a->spoolError), "%.*s", (int)sizeof(a->spoolError) - 1, msg);
        a->spoolErrorUs = wallUs();
        a->spoolErrors++;
    }
    pthread_mutex_unlock(&a->statLock);
    if (failing)
        noteError(a, msg);
}

/* Before the stream resumes after a spool failure: the spool takes writes, ready/ agrees with
 * state.json, and the segmenter with the state. A commit of which only the last directory sync
 * failed did move the state: that segment is sealed after all, and queued like any other. With
 * --semi-sync, the journal of the dropped open segment is then sealed. */
static int
spoolResync(Agent *a, bool *noSpace, Err *err) {
    SpoolState st;
    SegmentMeta *metas = NULL;
    size_t n = 0;
    uint64_t last = segmenterLastSeq(a->segmenter);
    int rc = -1;

    if (spoolProbe(a->spool, noSpace, err) != 0 || spoolReconcile(a->spool, err) != 0 ||
        spoolReadState(a->spool, &st, err) != 0)
        return -1;
    logDebug("spool state: segment %" PRIu64 " ends at %s:%" PRIu64 "; the last sealed is %" PRIu64 " (%s:%" PRIu64 ")",
             st.valid ? st.seq : 0, st.valid ? st.file : "-", st.valid ? st.endPos : 0, last,
             segmenterFile(a->segmenter), segmenterPos(a->segmenter));
    if (st.valid && st.seq < last) {
        errSet(err, ERR_INTERNAL, "spool state '%s/state.json' names segment %" PRIu64 " but segment %" PRIu64
               " was sealed", spoolDir(a->spool), st.seq, last);
        goto done;
    }
    if (st.valid && st.seq > last) {
        if (spoolReadyList(a->spool, &metas, &n, err) != 0)
            goto done;
        for (size_t i = 0; i < n; i++)
            if (metas[i].seq > last && metas[i].seq <= st.seq) {
                logInfo("segment %" PRIu64 " is in the spool after all (only a directory sync after its state "
                        "failed): queued for upload", metas[i].seq);
                sealedSegment(a, &metas[i], metas[i].firstTimeUs);
            }
        if (resumeFromState(a->segmenter, &st, err) != 0)
            goto done;
    }
    rc = recoverJournal(a, a->segmenter, err);
done:
    for (size_t i = 0; i < n; i++)
        segmentMetaClear(&metas[i]);
    bvFree(metas);
    spoolStateClear(&st);
    return rc;
}

/* The spool could not be written (ERR_IO in `err`: its disk full, a write or an fsync failed).
 * Nothing that is not durable was recorded: the open segment was dropped, and is read again
 * from the source. Report it, then wait with backoff, waking early when an upload frees space,
 * until the spool takes writes again. 0 to resume the stream (or when stopping), -1 for what
 * waiting cannot fix. */
static int
spoolRecover(Agent *a, Err *err) {
    uint64_t backoff = a->spoolFailedMs != 0 && nowMs() - a->spoolFailedMs < SPOOL_CALM_MS ? a->spoolBackoff : 0;
    /* Whether space is what lacks: the error says so, or the probe. */
    bool noSpace = strstr(err->msg, strerror(ENOSPC)) != NULL;
    Err probe;

    if (!noSpace)
        (void)spoolProbe(a->spool, &noSpace, &probe);
    for (;;) {
        char msg[ERR_MSG_MAX + 512];
        uint64_t delay;

        delay = backoffNext(a, &backoff);
        snprintf(msg, sizeof(msg), "spool '%s' failed%s: %s; the stream is paused (what was not sealed is read "
                 "again from the source), retrying in %" PRIu64 " ms", spoolDir(a->spool),
                 noSpace ? " (no space left)" : "", err->msg, delay);
        logWarn("%s", msg);
        publishSpoolFailing(a, true, noSpace, msg);
        /* Space comes back when uploads free some: no need to wait longer then. */
        if (noSpace)
            spoolWaitRemoval(a->spool, delay, &a->stop);
        else
            sleepUnlessStopping(a, delay);
        if (atomic_load(&a->stop))
            break;
        a->spoolBackoff = backoff;
        a->spoolFailedMs = nowMs();
        if (spoolResync(a, &noSpace, err) == 0) {
            logInfo("spool '%s' takes writes again: resuming the stream", spoolDir(a->spool));
            break;
        }
        noSpace |= strstr(err->msg, strerror(ENOSPC)) != NULL;
        if (err->code != ERR_IO) {
            publishSpoolFailing(a, false, false, NULL);
            return -1;
        }
    }
    publishSpoolFailing(a, false, false, NULL);
    return 0;
}

/* Identify the source, set up the segmenter and find where to resume. */
static int
streamSetup(Agent *a, Err *err) {
    SegmenterOpts sopts;
    SegmenterSink sink = {sinkTmpPath, sinkSealed, a};
    int rc;

    if (identify(a, err) != 0)
        return -1;
    memset(&sopts, 0, sizeof(sopts));
    sopts.segmentSize = (uint64_t)a->cfg->segmentSize;
    sopts.intervalMs = a->cfg->segmentIntervalMs;
    sopts.flavour = a->flavour;
    sopts.serverId = a->sourceServerId;
    sopts.serverUuid = a->sourceUuid;
    sopts.streamChecksum = BINLOG_CHECKSUM_CRC32;
    a->segmenter = segmenterNew(&sopts, &sink);
    rc = resume(a, a->segmenter, err);
    archiveCatalogFree(a->catalog);
    a->catalog = NULL;
    if (rc != 0)
        return -1;
    pthread_mutex_lock(&a->statLock);
    snprintf(a->live.recvFile, sizeof(a->live.recvFile), "%s", segmenterFile(a->segmenter));
    a->live.recvPos = segmenterPos(a->segmenter);
    pthread_mutex_unlock(&a->statLock);
    return 0;
}

static void *
streamMain(void *arg) {
    Agent *a = arg;
    BinlogClientOpts opts;
    uint64_t backoff = 0;
    bool first = true;
    Err err;

    a->seed = (unsigned)time(NULL);
    if (streamSetup(a, &err) != 0) {
        if (!atomic_load(&a->stop))
            agentFail(a, &err);
        goto out;
    }
    binlogClientOptsInit(&opts);
    opts.conn = sourceConnOpts(a);
    opts.conn.readTimeoutMs = 0; /* three heartbeat periods */
    opts.serverId = (uint32_t)a->cfg->serverId;
    /* Heartbeats also pace the segment-interval cuts of an idle stream: at least two per interval. */
    opts.heartbeatMs = (unsigned)(a->cfg->heartbeatMs < a->cfg->segmentIntervalMs / 2 ? a->cfg->heartbeatMs
                                                                                       : a->cfg->segmentIntervalMs / 2);
    opts.semiSync = a->cfg->semiSync;

    while (!atomic_load(&a->stop)) {
        BinlogClient *c = binlogClientNew(&opts);
        bool stopping = false;
        uint64_t stopAt = 0;
        int rc;

        if (binlogClientConnect(c, &err) != 0 || startStream(a, c, first, &err) != 0) {
            binlogClientFree(c);
            if (err.code == ERR_AUTH || err.code == ERR_GAP || err.code == ERR_USAGE || err.code == ERR_NOTFOUND ||
                err.code == ERR_CONFIG) {
                agentFail(a, &err);
                break;
            }
            noteError(a, err.msg);
            goto retry;
        }
        publishConnected(a, true, first);
        first = false;
        backoff = 0;
        /* Semi-sync: the latest position the source asked an ACK for and not yet acknowledged.
         * ACKs are grouped: while more packets are already waiting, they are read first, then one
         * fdatasync and one ACK (for the latest position) cover them all. */
        bool ackOwed = false;
        char ackFile[SEGMENT_FILE_MAX];
        uint64_t ackPos = 0;

        for (;;) {
            const uint8_t *ev;
            size_t len;
            bool heartbeat, ackWanted;
            uint64_t seqBefore, txnsBefore, wall, due;

            if (atomic_load(&a->stop) && !stopping) {
                stopping = true;
                stopAt = nowMs() + (uint64_t)a->cfg->shutdownGraceMs;
            }
            if (stopping && (!segmenterInTxn(a->segmenter) || nowMs() > stopAt))
                break;
            if (!segmenterInTxn(a->segmenter) && spoolMaxBytes(a->spool) > 0 &&
                spoolBytes(a->spool) >= spoolMaxBytes(a->spool)) {
                /* Seal what is open so that it can drain, then wait: backpressure. */
                seqBefore = segmenterLastSeq(a->segmenter);
                rc = segmenterCut(a->segmenter, &err);
                afterSeal(a, seqBefore);
                if (rc < 0)
                    break;
                if (spoolBytes(a->spool) >= spoolMaxBytes(a->spool)) {
                    logWarn("spool is full (%" PRIu64 " of %" PRIu64 " bytes): pausing the stream until uploads "
                            "catch up", spoolBytes(a->spool), spoolMaxBytes(a->spool));
                    setSpoolFull(a, true);
                    spoolWaitBelow(a->spool, &a->stop);
                    setSpoolFull(a, false);
                    if (!atomic_load(&a->stop))
                        logInfo("spool has room again: resuming the stream");
                    continue;
                }
            }
            /* Cut at the interval's end even if nothing arrives (heartbeats alone would cut up
             * to half an interval later). */
            if ((due = segmenterCutDueMs(a->segmenter)) != 0) {
                uint64_t now = nowMs();

                if (now >= due || !binlogClientWait(c, (int)(due - now < 1000 ? due - now : 1000))) {
                    seqBefore = segmenterLastSeq(a->segmenter);
                    rc = segmenterTick(a->segmenter, nowMs(), &err);
                    afterSeal(a, seqBefore);
                    if (rc < 0)
                        break;
                    if (segmenterLastSeq(a->segmenter) != seqBefore)
                        publishEvent(a, c, false, true, wallUs());
                    continue;
                }
            }
            rc = binlogClientRead(c, &ev, &len, &err);
            if (rc <= 0) {
                if (rc == 0)
                    errSet(&err, ERR_SOURCE, "the source ended the binlog stream");
                break;
            }
            wall = wallUs();
            heartbeat = ev[4] == BINLOG_HEARTBEAT || ev[4] == BINLOG_HEARTBEAT_V2;
            ackWanted = a->cfg->semiSync && binlogClientAckRequested(c);
            if (ackWanted) {
                snprintf(ackFile, sizeof(ackFile), "%s", binlogClientFile(c));
                ackPos = binlogClientPosition(c);
            }
            seqBefore = segmenterLastSeq(a->segmenter);
            txnsBefore = segmenterTransactions(a->segmenter);
            segmenterSetClock(a->segmenter, wall);
            if (segmenterPush(a->segmenter, ev, len, nowMs(), &err) != 0)
                break;
            if (a->cfg->semiSync) {
                if (journalEvent(a, ev, len, heartbeat, seqBefore, &err) != 0)
                    break;
                afterSeal(a, seqBefore);
                if (a->unsyncedFirstUs == 0 && segmenterLastSeq(a->segmenter) == seqBefore &&
                    (segmenterInTxn(a->segmenter) || segmenterTransactions(a->segmenter) != txnsBefore))
                    a->unsyncedFirstUs = segmenterTxnCommitUs(a->segmenter);
                ackOwed |= ackWanted;
                if (ackOwed && !binlogClientPending(c)) {
                    if (acknowledge(a, c, ackFile, ackPos, &err) != 0)
                        break;
                    ackOwed = false;
                }
            }
            if (segmenterTransactions(a->segmenter) != txnsBefore)
                a->recvEndedTxnUs = segmenterTxnCommitUs(a->segmenter);
            publishEvent(a, c, heartbeat, false, wall);
            spoolSetOpenBytes(a->spool, segmenterOpenBytes(a->segmenter) +
                                            (a->journal ? spoolJournalBytes(a->journal) : 0));
        }
        publishEvent(a, c, false, true, wallUs()); /* what the last batch left unpublished */
        binlogClientFree(c);
        publishConnected(a, false, false);
        if (stopping && !segmenterInTxn(a->segmenter)) {
            uint64_t seqBefore = segmenterLastSeq(a->segmenter);

            rc = segmenterCut(a->segmenter, &err);
            afterSeal(a, seqBefore);
            if (rc < 0) {
                /* Nothing is lost: the next run reads it again from the source. */
                logError("unable to seal the open segment at shutdown (it is read again from the source at the "
                         "next start): %s", err.msg);
                noteError(a, err.msg);
                dropOpen(a, &err);
            }
            break;
        }
        if (stopping) {
            if (dropOpen(a, &err) != 0)
                logError("%s", err.msg);
            break;
        }
        if (err.code == ERR_EXISTS) {
            agentFail(a, &err);
            break;
        }
        /* ERR_IO is the spool's (the stream's own errors are ERR_SOURCE): the open segment is
         * dropped and the stream waits until the spool works again. */
        bool spoolFailed = err.code == ERR_IO;

        if (!spoolFailed) {
            logWarn("source stream interrupted: %s", err.msg);
            noteError(a, err.msg);
        }
        if (dropOpen(a, &err) != 0)
            spoolFailed = true;
        if (spoolFailed) {
            if (err.code != ERR_IO || spoolRecover(a, &err) != 0) {
                agentFail(a, &err);
                break;
            }
            backoff = 0;
            continue;
        }
    retry:
        if (atomic_load(&a->stop))
            break;
        uint64_t delay = backoffNext(a, &backoff);

        logWarn("reconnecting to the source in %" PRIu64 " ms: %s", delay, err.msg);
        sleepUnlessStopping(a, delay);
    }
    if (a->segmenter != NULL && segmenterHasOpen(a->segmenter))
        segmenterAbandon(a->segmenter);
    if (a->journal != NULL) {
        spoolJournalClose(a->journal, false);
        a->journal = NULL;
    }
out:
    atomic_store(&a->streamDone, true);
    event_active(a->wake, EV_READ, 0);
    return NULL;
}

/* ---- main loop ---- */

/* A snapshot for the HTTP endpoint (main thread). */
static void
snapshot(void *data, AgentStatus *out) {
    Agent *a = data;
    UploaderStats us;
    uint64_t now = nowMs(), freshMs = (uint64_t)a->cfg->heartbeatMs * 2 + 1000;

    memset(&us, 0, sizeof(us));
    if (a->uploader)
        uploaderStats(a->uploader, &us);
    pthread_mutex_lock(&a->statLock);
    *out = a->live;
    out->recvGtid = bvStrdup(a->live.recvGtid ? a->live.recvGtid : "");
    out->sourceGtid = bvStrdup(a->live.sourceGtid ? a->live.sourceGtid : "");
    out->cpGtidEnd = bvStrdup(a->live.cpGtidEnd ? a->live.cpGtidEnd : "");
    out->oldestUnarchivedUs = 0;
    for (size_t i = 0; i < a->unarchivedCount; i++)
        if (a->unarchived[i].seq > a->live.cpSeq && a->unarchived[i].firstUs != 0 &&
            (out->oldestUnarchivedUs == 0 || a->unarchived[i].firstUs < out->oldestUnarchivedUs))
            out->oldestUnarchivedUs = a->unarchived[i].firstUs;
    out->silentMs = a->live.connected && now > a->lastRecvMs ? now - a->lastRecvMs : 0;
    out->fresh = a->live.connected && out->silentMs <= freshMs;
    pthread_mutex_unlock(&a->statLock);
    out->nowUs = wallUs();
    out->stopping = atomic_load(&a->stop);
    out->spoolBytes = spoolBytes(a->spool);
    out->spoolSegments = spoolReadyCount(a->spool);
    out->uploadedSegments = us.segments;
    out->uploadedBytes = us.bytes;
    out->uploadErrors = us.errors;
    out->uploadRetries = us.retries;
    out->backlogSegments = us.queued;
    out->backlogBytes = us.queuedBytes;
    out->uploadFailingSinceUs = us.failingSinceUs;
    if (us.lastErrorUs > out->lastErrorUs) {
        snprintf(out->lastError, sizeof(out->lastError), "%s", us.lastError);
        out->lastErrorUs = us.lastErrorUs;
    }
    /* While the stream waits for a failing spool, that is the error that matters (/healthz says
     * the stream is down, and why), and a spool out of space is full. */
    pthread_mutex_lock(&a->statLock);
    if (a->spoolFailingSinceUs != 0) {
        snprintf(out->lastError, sizeof(out->lastError), "%s", a->spoolError);
        out->lastErrorUs = a->spoolErrorUs;
        out->spoolFull |= a->spoolNoSpace;
        out->spoolFailingSinceUs = a->spoolFailingSinceUs;
    }
    out->spoolErrors = a->spoolErrors;
    pthread_mutex_unlock(&a->statLock);
}

static void
onWake(evutil_socket_t fd, short what, void *arg) {
    Agent *a = arg;

    (void)fd;
    (void)what;
    if (atomic_load(&a->streamDone) || (a->cfg->drain && atomic_load(&a->stop)))
        event_base_loopbreak(a->base);
}

static void
onTimer(evutil_socket_t fd, short what, void *arg) {
    Agent *a = arg;

    (void)fd;
    (void)what;
    /* --drain: done once the spool is empty (every segment archived and removed). */
    if (a->cfg->drain && spoolReadyCount(a->spool) == 0)
        event_base_loopbreak(a->base);
}

static void
onSignal(evutil_socket_t sig, short what, void *arg) {
    Agent *a = arg;

    (void)what;
    if (sig == SIGHUP) {
        if (logReopen() != 0)
            logWarn("unable to reopen the log file: %s", strerror(errno));
        else
            logInfo("log file reopened (SIGHUP)");
        return;
    }
    if (!atomic_load(&a->stop))
        logInfo("received %s: sealing the open segment and shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&a->stop, true);
    spoolWake(a->spool);
    if (a->cfg->drain)
        event_base_loopbreak(a->base);
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

static bool
httpEnabled(const AgentConfig *cfg) {
    return cfg->http != NULL && cfg->http[0] != '\0' && strcmp(cfg->http, "off") != 0;
}

static int
startThread(pthread_t *t, void *(*fn)(void *), Agent *a, const char *name, Err *err) {
    int rc = pthread_create(t, NULL, fn, a);

    if (rc != 0)
        return errSetSys(err, ERR_INTERNAL, rc, "unable to start the %s thread", name);
    pthread_setname_np(*t, name);
    return 0;
}

int
agentRun(const AgentConfig *cfg, Err *err) {
    Agent a;
    struct event *timer = NULL, *sigs[3] = {NULL, NULL, NULL};
    int rc = -1;

    memset(&a, 0, sizeof(a));
    a.cfg = cfg;
    pthread_mutex_init(&a.failLock, NULL);
    pthread_mutex_init(&a.doneLock, NULL);
    pthread_cond_init(&a.doneCond, NULL);
    pthread_mutex_init(&a.statLock, NULL);
    a.live.startedUs = wallUs();
    a.live.disconnectedSinceUs = a.live.startedUs;
    a.live.version = BV_VERSION;
    a.live.heartbeatMs = cfg->heartbeatMs;
    a.live.semiSync = cfg->semiSync;
    a.live.spoolMaxBytes = (uint64_t)cfg->spoolMaxBytes;
    a.live.lagBytes = -1;
    if (cfg->sslMode != NULL && sqlSslModeParse(cfg->sslMode, "--ssl-mode", &a.sslMode, err) != 0)
        goto early;
    if ((a.sslMode == SQL_SSL_VERIFY || a.sslMode == SQL_SSL_VERIFY_CA) && cfg->sslCa == NULL) {
        errSet(err, ERR_USAGE, "--ssl-mode %s needs --ssl-ca PEM (the CA that signed the source's certificate)",
               cfg->sslMode);
        goto early;
    }
    if (setupLogging(cfg, err) != 0)
        goto early;
    if ((a.url = urlMysqlNew(cfg->source, err)) == NULL) {
        errPrefix(err, "invalid --source");
        goto early;
    }
    if (a.url->user == NULL) {
        errSet(err, ERR_USAGE, "--source '%s' names no user: use mysql://USER@HOST:PORT", cfg->source);
        goto early;
    }
    if (httpEnabled(cfg)) {
        char host[256];
        uint16_t port;

        if (httpParseAddr(cfg->http, host, sizeof(host), &port, err) != 0)
            goto early;
    }
    snprintf(a.live.sourceUrl, sizeof(a.live.sourceUrl), "mysql://%s@%s:%u", a.url->user, a.url->host, a.url->port);
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
    a.base = event_base_new();
    a.wake = event_new(a.base, -1, EV_READ, onWake, &a);
    if ((a.storage = archiveKeyOpenStore(cfg->archive, cfg->storage, err)) == NULL)
        goto done;
    snprintf(a.live.archiveUrl, sizeof(a.live.archiveUrl), "%s", storageUrl(a.storage));
    if ((a.spool = spoolOpen(cfg->spool, (uint64_t)cfg->spoolMaxBytes, err)) == NULL)
        goto done;
    a.archive = archiveNew(a.storage);
    logInfo("binvault %s agent starting: %s", BV_VERSION, cfg->settings ? cfg->settings : "");
    for (int i = 0; i < 3; i++) {
        static const int signals[3] = {SIGTERM, SIGINT, SIGHUP};

        sigs[i] = evsignal_new(a.base, signals[i], onSignal, &a);
        event_add(sigs[i], NULL);
    }
    if (httpEnabled(cfg)) {
        Err e;

        /* Archiving matters more than its monitoring: an endpoint that cannot listen is an error in
         * the log, not a reason to stop. */
        if ((a.http = httpServerNew(a.base, cfg->http, snapshot, &a, &e)) == NULL) {
            logError("%s: /metrics, /status and /healthz are not served", e.msg);
            noteError(&a, e.msg);
        } else {
            logInfo("serving /metrics, /status and /healthz on http://%s (port %u)", cfg->http,
                    (unsigned)httpServerPort(a.http));
        }
    }
    for (uint64_t backoff = BACKOFF_MIN_MS; loadArchive(&a, err) != 0;) {
        if (err->code != ERR_STORAGE || atomic_load(&a.stop))
            goto done;
        logWarn("unable to read the archive, retrying in %" PRIu64 " ms: %s", backoff, err->msg);
        noteError(&a, err->msg);
        archiveCatalogFree(a.catalog);
        a.catalog = NULL;
        for (size_t i = 0; i < a.pendingCount; i++)
            segmentMetaClear(&a.pending[i].meta);
        a.pendingCount = 0;
        /* The loop is not running yet: a signal is seen through the loop only once it runs. */
        event_base_loop(a.base, EVLOOP_NONBLOCK);
        sleepUnlessStopping(&a, backoff);
        event_base_loop(a.base, EVLOOP_NONBLOCK);
        backoff = backoff * 2 > (uint64_t)cfg->reconnectMaxMs ? (uint64_t)cfg->reconnectMaxMs : backoff * 2;
    }
    if (recoverAtStart(&a, err) != 0)
        goto done;
    a.uploader = uploaderNew(a.storage, (unsigned)cfg->uploadWorkers, uploadDone, &a);
    if (resubmitSpool(&a, err) != 0)
        goto done;
    if (startThread(&a.archiverThread, archiverMain, &a, "bv-archive", err) != 0)
        goto done;
    a.archiverStarted = true;
    if (cfg->drain) {
        logInfo("--drain: archiving what the spool holds, without connecting to the source");
    } else {
        if (startThread(&a.monitorThread, monitorMain, &a, "bv-monitor", err) != 0)
            goto done;
        a.monitorStarted = true;
        if (startThread(&a.streamThread, streamMain, &a, "bv-stream", err) != 0)
            goto done;
        a.streamStarted = true;
    }
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
    if (a.uploader)
        uploaderStop(a.uploader, cfg->shutdownGraceMs);
    pthread_mutex_lock(&a.doneLock);
    atomic_store(&a.workersStop, true);
    pthread_cond_broadcast(&a.doneCond);
    pthread_mutex_unlock(&a.doneLock);
    if (a.archiverStarted)
        pthread_join(a.archiverThread, NULL);
    if (a.monitorStarted)
        pthread_join(a.monitorThread, NULL);
    if (a.archiverStarted) {
        advanceCheckpoint(&a);
        refreshCheckpoint(&a);
        if (a.cpDirty)
            writeCheckpoint(&a);
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
    httpServerFree(a.http);
    uploaderFree(a.uploader);
    for (size_t i = 0; i < a.pendingCount; i++)
        segmentMetaClear(&a.pending[i].meta);
    for (size_t i = 0; i < a.doneCount; i++)
        segmentMetaClear(&a.done[i]);
    bvFree(a.pending);
    bvFree(a.done);
    bvFree(a.unarchived);
    segmenterFree(a.segmenter);
    archiveCatalogFree(a.catalog);
    archiveCheckpointClear(&a.cp);
    archiveFree(a.archive);
    spoolClose(a.spool);
    storageFree(a.storage);
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    if (timer)
        event_free(timer);
    if (a.wake)
        event_free(a.wake);
    if (a.base)
        event_base_free(a.base);
early:
    urlMysqlFree(a.url);
    agentStatusClear(&a.live);
    pthread_mutex_destroy(&a.failLock);
    pthread_mutex_destroy(&a.doneLock);
    pthread_cond_destroy(&a.doneCond);
    pthread_mutex_destroy(&a.statLock);
    return rc;
}
