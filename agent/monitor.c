/*
 * The monitor (thread bv-monitor): samples the source over its own SQL connection: its position
 * and GTID state and the bytes of binlog not received yet (lag), and the purge guard (a warning
 * when the binlog the archive needs next is the oldest the source still has, an error once it is
 * gone), and, when the source is itself a replica, its replication threads and lag (a stopped
 * thread is not an idle primary: /healthz fails and the RPO counts from when it stopped). A lost
 * connection is reopened at the next round; each streak of failures is logged once.
 */
#include "agent/agent_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog/gtid.h"
#include "common/log.h"
#include "common/mem.h"

#define MONITOR_TIMEOUT_MS 5000

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
    SqlConnOpts o = agentSourceConnOpts(a);
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
    a->live.sourceSampledUs = agentWallUs();
    snprintf(a->live.sourceFile, sizeof(a->live.sourceFile), "%s", m.file);
    a->live.sourcePos = m.pos;
    agentSetStringLocked(&a->live.sourceGtid, gtid);
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
                agentNoteError(a, msg);
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

/* The source's own replication (SHOW SLAVE STATUS): running, lag, since when it is behind.
 * *denied: the privilege lacks (the stream thread said so); not asked again. */
static void
sampleReplica(Agent *a, SqlConn **conn, bool *warned, bool *denied) {
    SqlSourceInfo info;
    BinlogFlavour flavour;
    int major = 0, minor = 0, patch = 0;
    uint64_t now = agentWallUs();
    Err err;

    binlogParseServerVersion(sqlConnServerVersion(*conn), &flavour, &major, &minor, &patch);
    if (sqlSourceInfoRead(*conn, flavour, (unsigned)(major * 10000 + minor * 100 + patch), &info, &err) != 0) {
        monitorLost(conn, &err, warned);
        return;
    }
    *denied = !info.replicaKnown;
    /* Among several candidates the agent archives the writable primary only: one that was
     * demoted (a switchover) makes the stream choose again. */
    if (a->urlCount > 1 && !a->cfg->archiveReplica && (info.readOnly || info.isReplica) &&
        !atomic_exchange(&a->reselect, true))
        logInfo("source '%s' is no longer the writable primary (%s): choosing among the candidates again",
                sqlConnUrl(*conn), info.isReplica ? "it replicates" : "read_only=ON");
    pthread_mutex_lock(&a->statLock);
    a->live.replicaSampled = info.replicaKnown;
    a->live.replica = info.isReplica;
    a->live.replicaIoRunning = info.ioRunning;
    a->live.replicaSqlRunning = info.sqlRunning;
    a->live.replicaLagS = info.lagSeconds;
    snprintf(a->live.replicaError, sizeof(a->live.replicaError), "%s", info.replicaError);
    if (!info.replicaKnown || !info.isReplica)
        a->live.replicaBehindSinceUs = 0;
    else if (!info.ioRunning || !info.sqlRunning || info.lagSeconds < 0)
        /* Stopped: what the primary commits from now on does not come; keep the first instant. */
        a->live.replicaBehindSinceUs = a->live.replicaBehindSinceUs ? a->live.replicaBehindSinceUs : now;
    else
        a->live.replicaBehindSinceUs = info.lagSeconds > 0 ? now - (uint64_t)info.lagSeconds * 1000000u : 0;
    pthread_mutex_unlock(&a->statLock);
}

/* --primary: what the source's own primary committed that the stream has not received (its GTID
 * state is not in the received one). The RPO then counts from the last sample that found
 * everything received: a bound that holds whatever the source says of its replication. */
static void
samplePrimary(Agent *a, SqlConn **conn, uint64_t *caughtUpUs, bool *warned) {
    SqlConnOpts o = agentSourceConnOpts(a);
    char *pos = NULL, *recv;
    BinlogFlavour flavour;
    bool known, contains = false;
    uint64_t now = agentWallUs();
    Err err;

    o.host = a->primaryUrl->host;
    o.port = a->primaryUrl->port;
    o.socket = a->primaryUrl->socket;
    o.user = a->primaryUrl->user ? a->primaryUrl->user : o.user;
    if (o.connectTimeoutMs > MONITOR_TIMEOUT_MS)
        o.connectTimeoutMs = MONITOR_TIMEOUT_MS;
    o.readTimeoutMs = MONITOR_TIMEOUT_MS;
    pthread_mutex_lock(&a->statLock);
    known = a->flavourKnown;
    flavour = a->flavour;
    recv = bvStrdup(a->live.recvGtid ? a->live.recvGtid : "");
    pthread_mutex_unlock(&a->statLock);
    if (!known || (*conn == NULL && (*conn = sqlConnect(&o, &err)) == NULL) ||
        sqlBinlogGtidState(*conn, flavour, &pos, &err) != 0 ||
        gtidStateTextContains(flavour, recv, pos, &contains, &err) != 0) {
        if (known && !*warned)
            logWarn("--primary: %s", err.msg);
        *warned = known;
        if (*conn != NULL && known) {
            sqlConnFree(*conn);
            *conn = NULL;
        }
        bvFree(pos);
        bvFree(recv);
        return;
    }
    *warned = false;
    if (contains || *caughtUpUs == 0)
        *caughtUpUs = now;
    pthread_mutex_lock(&a->statLock);
    a->live.replicaBehindSinceUs = contains ? 0 : *caughtUpUs;
    pthread_mutex_unlock(&a->statLock);
    bvFree(pos);
    bvFree(recv);
}

void *
agentMonitorMain(void *arg) {
    Agent *a = arg;
    SqlConn *conn = NULL, *primary = NULL;
    uint64_t lastSample = 0, lastPurge = 0, primaryCaughtUpUs = 0;
    bool warned = false, replicaDenied = false, primaryWarned = false;
    uint64_t connFor = 0;

    while (!atomic_load(&a->workersStop)) {
        uint64_t now = retryNowMs();
        uint64_t source;

        /* The stream moved to another candidate or another server (a new timeline): the
         * monitor follows it. */
        pthread_mutex_lock(&a->statLock);
        source = (uint64_t)atomic_load(&a->urlIdx) << 32 | a->live.timeline;
        pthread_mutex_unlock(&a->statLock);
        if (conn != NULL && source != connFor) {
            sqlConnFree(conn);
            conn = NULL;
            replicaDenied = false;
        }
        connFor = source;
        bool sample = a->cfg->sourcePollMs > 0 && now - lastSample >= (uint64_t)a->cfg->sourcePollMs;
        bool purge = a->cfg->purgeCheckMs > 0 && now - lastPurge >= (uint64_t)a->cfg->purgeCheckMs;

        if ((sample || purge) && monitorConnect(a, &conn, &warned)) {
            if (sample) {
                lastSample = now;
                sampleSource(a, &conn, &warned);
                if (conn != NULL && !replicaDenied)
                    sampleReplica(a, &conn, &warned, &replicaDenied);
                if (a->primaryUrl != NULL)
                    samplePrimary(a, &primary, &primaryCaughtUpUs, &primaryWarned);
            }
            if (purge && conn != NULL) {
                lastPurge = now;
                purgeGuard(a, &conn, &warned);
            }
        }
        agentWorkerSleep(a, 200, false);
    }
    sqlConnFree(conn);
    sqlConnFree(primary);
    return NULL;
}
