/*
 * The agent's published state: what the threads report for /status, /metrics and /healthz (under
 * statLock), the RPO bookkeeping (segments sealed but not archived, caught-up marks), the first
 * fatal error, and the sleeps every thread shares (they end early at shutdown).
 */
#include "agent/agent_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"

uint64_t
agentWallUs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Remember an error for /status (the caller logs it). */
void
agentNoteError(Agent *a, const char *msg) {
    pthread_mutex_lock(&a->statLock);
    snprintf(a->live.lastError, sizeof(a->live.lastError), "%.*s", (int)sizeof(a->live.lastError) - 1, msg);
    a->live.lastErrorUs = agentWallUs();
    pthread_mutex_unlock(&a->statLock);
}

void
agentFail(Agent *a, const Err *err) {
    pthread_mutex_lock(&a->failLock);
    if (!a->failed) {
        a->failed = true;
        a->failure = *err;
    }
    pthread_mutex_unlock(&a->failLock);
    logError("%s", err->msg);
    agentNoteError(a, err->msg);
    atomic_store(&a->stop, true);
    spoolWake(a->spool);
    event_active(a->wake, EV_READ, 0);
}

/* Sleep up to ms unless the agent is stopping. */
void
agentSleep(Agent *a, uint64_t ms) {
    uint64_t end = retryNowMs() + ms;

    while (!atomic_load(&a->stop) && retryNowMs() < end) {
        struct timespec ts = {0, 50 * 1000000L};

        nanosleep(&ts, NULL);
    }
}

/* Wait on doneCond for up to ms, or until the workers stop; with untilDone (the archiver), also
 * until an upload is done. The monitor waits the whole period: it returned at once while
 * doneCount was above 0, so each finished upload made it spin until the archiver took the
 * segment (a checkpoint's fsyncs later), 3% of the agent's CPU in a catch-up (issue #15). */
void
agentWorkerSleep(Agent *a, uint64_t ms, bool untilDone) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->doneLock);
    while (!(untilDone && a->doneCount > 0) && !atomic_load(&a->workersStop))
        if (pthread_cond_timedwait(&a->doneCond, &a->doneLock, &ts) != 0)
            break;
    pthread_mutex_unlock(&a->doneLock);
}

void
agentRetryInit(const Agent *a, Retry *r, uint64_t calmMs) {
    uint64_t maxMs = (uint64_t)a->cfg->reconnectMaxMs;

    /* --reconnect-max may be set below the first step: then every delay is that maximum. */
    retryInit(r, AGENT_BACKOFF_MIN_MS < maxMs ? AGENT_BACKOFF_MIN_MS : maxMs, maxMs, calmMs);
}

void
agentAddUnarchivedLocked(Agent *a, uint64_t seq, uint64_t firstUs) {
    uint64_t now = agentWallUs();

    /* It was committed before it was received: a commit dated in the future (SET TIMESTAMP)
     * counts as now, so that it cannot hide the segment from the RPO. */
    if (firstUs > now)
        firstUs = now;
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

void
agentAddMarkLocked(Agent *a, uint64_t atUs, uint64_t seq) {
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

void
agentSetStringLocked(char **dst, char *src) {
    bvFree(*dst);
    *dst = src;
}

void
agentPublishCheckpointLocked(Agent *a) {
    a->live.cpSeq = a->cp.seq;
    snprintf(a->live.cpFile, sizeof(a->live.cpFile), "%s", a->cp.file);
    a->live.cpEndPos = a->cp.endPos;
    agentSetStringLocked(&a->live.cpGtidEnd, bvStrdup(a->cp.gtidEnd ? a->cp.gtidEnd : ""));
    snprintf(a->live.cpLastGtid, sizeof(a->live.cpLastGtid), "%s", a->cp.lastGtid);
    a->live.cpLastTimeUs = a->cp.lastTimeUs;
    a->live.cpCaughtUpUs = a->cp.caughtUpUs;
}

void
agentPublishSourceUrl(Agent *a) {
    const MysqlUrl *u = agentSourceUrl(a);
    char *text = u->socket ? urlMysqlFormatSocket(u->user, u->socket) : urlMysqlFormat(u->user, u->host, u->port);

    pthread_mutex_lock(&a->statLock);
    snprintf(a->live.sourceUrl, sizeof(a->live.sourceUrl), "%s", text);
    pthread_mutex_unlock(&a->statLock);
    bvFree(text);
}

bool
agentStreamFreshLocked(const Agent *a, uint64_t nowMs) {
    uint64_t freshMs = (uint64_t)a->cfg->heartbeatMs * 2 + 1000;

    return a->live.connected && (nowMs <= a->lastRecvMs || nowMs - a->lastRecvMs <= freshMs);
}

/* A snapshot for the HTTP endpoint (main thread). */
void
agentSnapshot(void *data, AgentStatus *out) {
    Agent *a = data;
    UploaderStats us;
    uint64_t now = retryNowMs();

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
    out->fresh = agentStreamFreshLocked(a, now);
    pthread_mutex_unlock(&a->statLock);
    out->nowUs = agentWallUs();
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
    pthread_mutex_lock(&a->failLock);
    if (a->failed)
        snprintf(out->failure, sizeof(out->failure), "%.*s", (int)sizeof(out->failure) - 1, a->failure.msg);
    pthread_mutex_unlock(&a->failLock);
}
