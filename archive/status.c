#include "archive/status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "binlog/gtid.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/time.h"

/* Upload or archive writes failing for longer than this make the agent unhealthy (a retry that
 * succeeds soon is not worth a page). */
#define FAILING_GRACE_US (10 * 1000000ull)

void
agentStatusClear(AgentStatus *s) {
    bvFree(s->recvGtid);
    bvFree(s->sourceGtid);
    bvFree(s->cpGtidEnd);
    memset(s, 0, sizeof(*s));
}

const char *
purgeStateName(PurgeState p) {
    switch (p) {
    case PURGE_AT_RISK: return "at_risk";
    case PURGE_LOST: return "lost";
    default: return "ok";
    }
}

/* Seconds from the oldest non-zero candidate to now; 0 when there is none. */
static double
rpoOf(uint64_t nowUs, const uint64_t *candidates, size_t n) {
    uint64_t oldest = 0;

    for (size_t i = 0; i < n; i++)
        if (candidates[i] != 0 && (oldest == 0 || candidates[i] < oldest))
            oldest = candidates[i];
    return oldest == 0 || oldest >= nowUs ? 0.0 : (double)(nowUs - oldest) / 1e6;
}

/* The earliest commit time of what the agent may not have received: nothing while the stream is
 * fresh, else the later of the caught-up instant and the last transaction received (the start of
 * the agent when it knows neither). */
static uint64_t
unreceived(const AgentStatus *s) {
    if (s->fresh)
        return 0;
    return s->unreceivedSinceUs != 0 ? s->unreceivedSinceUs : s->startedUs;
}

double
agentStatusArchiveRpo(const AgentStatus *s) {
    uint64_t c[4] = {s->oldestUnarchivedUs, s->oldestUnsealedUs, unreceived(s), s->replicaBehindSinceUs};

    return rpoOf(s->nowUs, c, 4);
}

double
agentStatusSpoolRpo(const AgentStatus *s) {
    uint64_t c[3] = {s->oldestUnsyncedUs, unreceived(s), s->replicaBehindSinceUs};

    return rpoOf(s->nowUs, c, 3);
}

static void
isoTime(uint64_t us, char *out, size_t size) {
    if (us == 0)
        snprintf(out, size, "never");
    else
        timeFormatIso(us, out, size);
}

static double
secondsSince(const AgentStatus *s, uint64_t us) {
    return us == 0 || us >= s->nowUs ? 0.0 : (double)(s->nowUs - us) / 1e6;
}

bool
agentStatusHealthy(const AgentStatus *s, char *reason, size_t size) {
    char t[32];

    if (s->stopping) {
        snprintf(reason, size, "%s%s", s->failure[0] ? "stopping on an error: " : "shutting down", s->failure);
        return false;
    }
    if (s->spoolFailingSinceUs != 0) {
        isoTime(s->spoolFailingSinceUs, t, sizeof(t));
        snprintf(reason, size, "the spool cannot be written (since %s, %.0f s); the stream waits for it: %s", t,
                 secondsSince(s, s->spoolFailingSinceUs), s->lastError);
        return false;
    }
    if (!s->connected) {
        isoTime(s->disconnectedSinceUs, t, sizeof(t));
        snprintf(reason, size, "not connected to the source %s (since %s, %.0f s)%s%s", s->sourceUrl, t,
                 secondsSince(s, s->disconnectedSinceUs), s->lastError[0] ? ": " : "", s->lastError);
        return false;
    }
    if (s->spoolFull) {
        snprintf(reason, size, "the spool is full (%" PRIu64 " of %" PRIu64 " bytes): the stream waits for uploads",
                 s->spoolBytes, s->spoolMaxBytes);
        return false;
    }
    if (!s->fresh) {
        snprintf(reason, size, "nothing received from the source for %.1f s (heartbeat every %" PRId64 " ms)",
                 (double)s->silentMs / 1000.0, s->heartbeatMs);
        return false;
    }
    if (s->uploadFailingSinceUs != 0 && s->nowUs - s->uploadFailingSinceUs >= FAILING_GRACE_US) {
        isoTime(s->uploadFailingSinceUs, t, sizeof(t));
        snprintf(reason, size, "uploads to %s failing since %s: %s", s->archiveUrl, t, s->lastError);
        return false;
    }
    if (s->archiveFailingSinceUs != 0 && s->nowUs - s->archiveFailingSinceUs >= FAILING_GRACE_US) {
        isoTime(s->archiveFailingSinceUs, t, sizeof(t));
        snprintf(reason, size, "unable to write the index or checkpoint of %s since %s: %s", s->archiveUrl, t,
                 s->lastError);
        return false;
    }
    if (s->replicaSampled && s->replica && (!s->replicaIoRunning || !s->replicaSqlRunning)) {
        isoTime(s->replicaBehindSinceUs, t, sizeof(t));
        snprintf(reason, size, "the source is a replica whose replication is stopped (IO thread %s, SQL thread %s, "
                 "since %s)%s%s: what its primary commits does not reach the archive",
                 s->replicaIoRunning ? "running" : "stopped", s->replicaSqlRunning ? "running" : "stopped", t,
                 s->replicaError[0] ? ": " : "", s->replicaError);
        return false;
    }
    if (s->purge == PURGE_LOST) {
        snprintf(reason, size, "the source purged binlogs that were not archived yet: the archive has a gap");
        return false;
    }
    /* Transactions lost in a failover are a warning: the archive works, a person must look. */
    if (s->diverged[0] != '\0')
        snprintf(reason, size, "ok (warning: %s)", s->diverged);
    else
        snprintf(reason, size, "ok");
    return true;
}

/* ---- /metrics ---- */

static void
metricHead(Buf *out, const char *name, const char *type, const char *help) {
    jsonBufPrintf(out, "# HELP binvault_%s %s\n# TYPE binvault_%s %s\n", name, help, name, type);
}

static void
gaugeF(Buf *out, const char *name, const char *help, double v) {
    metricHead(out, name, "gauge", help);
    jsonBufPrintf(out, "binvault_%s %.6f\n", name, v);
}

/* A gauge whose value may be unknown (negative): NaN then. */
static void
gaugeKnown(Buf *out, const char *name, const char *help, int64_t v) {
    metricHead(out, name, "gauge", help);
    if (v >= 0)
        jsonBufPrintf(out, "binvault_%s %" PRId64 "\n", name, v);
    else
        jsonBufPrintf(out, "binvault_%s NaN\n", name);
}

static void
gaugeU(Buf *out, const char *name, const char *help, uint64_t v) {
    metricHead(out, name, "gauge", help);
    jsonBufPrintf(out, "binvault_%s %" PRIu64 "\n", name, v);
}

static void
counter(Buf *out, const char *name, const char *help, uint64_t v) {
    metricHead(out, name, "counter", help);
    jsonBufPrintf(out, "binvault_%s %" PRIu64 "\n", name, v);
}

/* A label value: backslash, double quote and newline escaped. */
static void
labelValue(Buf *out, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            jsonBufPrintf(out, "\\%c", *v);
        else if (*v == '\n')
            jsonBufPrintf(out, "\\n");
        else
            bufAppend(out, v, 1);
    }
}

void
agentStatusMetrics(const AgentStatus *s, Buf *out) {
    char reason[2048];
    bool healthy = agentStatusHealthy(s, reason, sizeof(reason));

    metricHead(out, "build_info", "gauge", "Version of the running binvault agent (always 1).");
    jsonBufPrintf(out, "binvault_build_info{version=\"");
    labelValue(out, s->version);
    jsonBufPrintf(out, "\"} 1\n");
    gaugeF(out, "start_time_seconds", "When the agent started, seconds since the epoch.", (double)s->startedUs / 1e6);
    gaugeF(out, "archive_rpo_seconds",
           "Age of the oldest transaction committed on the source that is not yet durable in the archive (0: none).",
           agentStatusArchiveRpo(s));
    gaugeF(out, "spool_rpo_seconds",
           "Age of the oldest transaction committed on the source that is not yet durable in the agent's spool or the "
           "archive (0: none).",
           agentStatusSpoolRpo(s));
    gaugeF(out, "last_archived_commit_timestamp_seconds",
           "Commit time (binlog) of the last transaction of the archive's checkpoint, seconds since the epoch.",
           (double)s->cpLastTimeUs / 1e6);
    gaugeF(out, "caught_up_timestamp_seconds",
           "When the agent last confirmed that the source had nothing more to send, seconds since the epoch.",
           (double)s->caughtUpUs / 1e6);
    gaugeF(out, "archive_caught_up_timestamp_seconds",
           "Checkpoint caught_up_us: the archive held everything the source had written at this time.",
           (double)s->cpCaughtUpUs / 1e6);
    gaugeU(out, "archive_checkpoint_seq", "Every segment up to this sequence number is stored and indexed.", s->cpSeq);
    gaugeU(out, "source_connected", "1 while the replication stream from the source is up.", s->connected ? 1 : 0);
    gaugeKnown(out, "source_lag_bytes",
               "Binlog bytes the source has written that the agent has not received (sampled; NaN when unknown).",
               s->lagBytes);
    if (s->replicaSampled && s->replica) {
        gaugeU(out, "source_replica_io_running", "1 while the source's own replication IO thread runs (a replica).",
               s->replicaIoRunning ? 1 : 0);
        gaugeU(out, "source_replica_sql_running", "1 while the source's own replication SQL thread runs (a replica).",
               s->replicaSqlRunning ? 1 : 0);
        gaugeKnown(out, "source_replica_lag_seconds",
                   "Seconds_Behind_Master of the source, a replica (NaN when a thread is stopped).", s->replicaLagS);
    }
    counter(out, "source_reconnects_total", "Replication streams started after the first one.", s->reconnects);
    counter(out, "received_bytes_total", "Binlog bytes received and stored in segments.", s->recvBytes);
    counter(out, "received_events_total", "Binlog events received (heartbeats included).", s->recvEvents);
    counter(out, "received_transactions_total", "Transactions received.", s->recvTxns);
    counter(out, "segments_sealed_total", "Segments sealed into the spool.", s->segmentsSealed);
    counter(out, "uploaded_segments_total", "Segments stored in the archive.", s->uploadedSegments);
    counter(out, "uploaded_bytes_total", "Bytes of segments stored in the archive.", s->uploadedBytes);
    counter(out, "upload_errors_total", "Failed attempts to store a segment.", s->uploadErrors);
    counter(out, "upload_retries_total", "Attempts to store a segment after a failure.", s->uploadRetries);
    gaugeU(out, "upload_backlog_segments", "Sealed segments waiting for or in upload.", s->backlogSegments);
    gaugeU(out, "upload_backlog_bytes", "Bytes of sealed segments waiting for or in upload.", s->backlogBytes);
    gaugeU(out, "spool_bytes", "Bytes in the spool: sealed segments, the open segment and the journal.", s->spoolBytes);
    gaugeU(out, "spool_max_bytes", "The spool's bound (--spool-max-bytes).", s->spoolMaxBytes);
    gaugeU(out, "spool_full", "1 while the stream waits for the spool to drain.", s->spoolFull ? 1 : 0);
    gaugeU(out, "spool_failing", "1 while the spool cannot be written and the stream waits for it.",
           s->spoolFailingSinceUs != 0 ? 1 : 0);
    counter(out, "spool_errors_total", "Failed writes to the spool (each pause of the stream and each failed retry).",
            s->spoolErrors);
    metricHead(out, "purge_guard_state", "gauge",
               "1 for the purge guard's current state: ok, at_risk (the oldest binlog on the source is not fully "
               "archived), lost (purged before it was archived).");
    for (PurgeState p = PURGE_OK; p <= PURGE_LOST; p++)
        jsonBufPrintf(out, "binvault_purge_guard_state{state=\"%s\"} %d\n", purgeStateName(p), s->purge == p);
    gaugeU(out, "semi_sync_enabled", "1 when the agent runs as a semi-synchronous replica (--semi-sync).",
           s->semiSync ? 1 : 0);
    gaugeU(out, "semi_sync_active", "1 when the source asks this agent for semi-sync acknowledgements.",
           s->semiSyncActive ? 1 : 0);
    counter(out, "semi_sync_acks_total", "Semi-sync acknowledgements sent (each after an fdatasync of the spool).",
            s->acks);
    counter(out, "journal_syncs_total", "fdatasync calls of the spool's semi-sync journal.", s->journalSyncs);
    gaugeU(out, "timeline", "The archive's timeline the agent writes (a failover starts the next one; 0: not known yet).",
           s->timeline);
    counter(out, "failovers_total", "New timelines started by this agent: the source changed (a failover).",
            s->failovers);
    gaugeU(out, "diverged_transactions",
           "Transactions the old source archived that the new one never had, at the last failover (0: none).",
           s->divergedTransactions);
    gaugeU(out, "healthy", "1 when /healthz answers 200.", healthy ? 1 : 0);
    gaugeF(out, "last_error_timestamp_seconds", "When the last error was logged, seconds since the epoch (0: none).",
           (double)s->lastErrorUs / 1e6);
}

/* ---- /status ---- */

static void
jStr(Buf *out, const char *key, const char *v, bool comma) {
    jsonBufPrintf(out, "%s\"%s\":", comma ? "," : "", key);
    jsonBufString(out, v ? v : "", v ? strlen(v) : 0);
}

static void
jTime(Buf *out, const char *key, uint64_t us) {
    char t[32];

    if (us == 0) {
        jsonBufPrintf(out, ",\"%s\":null", key);
        return;
    }
    isoTime(us, t, sizeof(t));
    jStr(out, key, t, true);
}

void
agentStatusJson(const AgentStatus *s, Buf *out) {
    char reason[2048];
    bool healthy = agentStatusHealthy(s, reason, sizeof(reason));

    jsonBufPrintf(out, "{");
    jStr(out, "version", s->version, false);
    jTime(out, "now", s->nowUs);
    jTime(out, "started", s->startedUs);
    jsonBufPrintf(out, ",\"healthy\":%s", healthy ? "true" : "false");
    jStr(out, "health", reason, true);
    jsonBufPrintf(out, ",\"rpo\":{\"archive_seconds\":%.3f,\"spool_seconds\":%.3f}", agentStatusArchiveRpo(s),
                  agentStatusSpoolRpo(s));

    jsonBufPrintf(out, ",\"source\":{");
    jStr(out, "url", s->sourceUrl, false);
    jsonBufPrintf(out, ",\"connected\":%s", s->connected ? "true" : "false");
    jTime(out, s->connected ? "connected_since" : "disconnected_since",
          s->connected ? s->connectedSinceUs : s->disconnectedSinceUs);
    jsonBufPrintf(out, ",\"reconnects\":%" PRIu64, s->reconnects);
    if (s->sourceSampled) {
        jStr(out, "file", s->sourceFile, true);
        jsonBufPrintf(out, ",\"pos\":%" PRIu64, s->sourcePos);
        jStr(out, "gtid", s->sourceGtid, true);
        jTime(out, "sampled", s->sourceSampledUs);
    } else {
        jsonBufPrintf(out, ",\"file\":null,\"pos\":null,\"gtid\":null,\"sampled\":null");
    }
    if (s->lagBytes >= 0)
        jsonBufPrintf(out, ",\"lag_bytes\":%" PRId64, s->lagBytes);
    else
        jsonBufPrintf(out, ",\"lag_bytes\":null");
    jStr(out, "purge_guard", purgeStateName(s->purge), true);
    if (!s->replicaSampled) {
        jsonBufPrintf(out, ",\"replica\":null");
    } else if (!s->replica) {
        jsonBufPrintf(out, ",\"replica\":false");
    } else {
        jsonBufPrintf(out, ",\"replica\":{\"io_running\":%s,\"sql_running\":%s", s->replicaIoRunning ? "true" : "false",
                      s->replicaSqlRunning ? "true" : "false");
        if (s->replicaLagS >= 0)
            jsonBufPrintf(out, ",\"lag_seconds\":%" PRId64, s->replicaLagS);
        else
            jsonBufPrintf(out, ",\"lag_seconds\":null");
        jStr(out, "error", s->replicaError, true);
        jsonBufPrintf(out, "}");
    }
    jsonBufPrintf(out, "}");

    jsonBufPrintf(out, ",\"received\":{");
    jStr(out, "file", s->recvFile, false);
    jsonBufPrintf(out, ",\"pos\":%" PRIu64, s->recvPos);
    jStr(out, "gtid", s->recvGtid, true);
    jsonBufPrintf(out, ",\"bytes\":%" PRIu64 ",\"events\":%" PRIu64 ",\"transactions\":%" PRIu64, s->recvBytes,
                  s->recvEvents, s->recvTxns);
    jsonBufPrintf(out, ",\"last_commit_time_us\":%" PRIu64, s->lastRecvCommitUs);
    jTime(out, "caught_up", s->caughtUpUs);
    jsonBufPrintf(out, ",\"segments_sealed\":%" PRIu64 "}", s->segmentsSealed);

    jsonBufPrintf(out, ",\"spool\":{\"bytes\":%" PRIu64 ",\"max_bytes\":%" PRIu64 ",\"segments\":%" PRIu64
                  ",\"full\":%s,\"errors\":%" PRIu64, s->spoolBytes, s->spoolMaxBytes, s->spoolSegments,
                  s->spoolFull ? "true" : "false", s->spoolErrors);
    jTime(out, "failing_since", s->spoolFailingSinceUs);
    jsonBufPrintf(out, "}");
    jsonBufPrintf(out, ",\"upload\":{\"segments\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64
                  ",\"retries\":%" PRIu64 ",\"backlog_segments\":%" PRIu64 ",\"backlog_bytes\":%" PRIu64,
                  s->uploadedSegments, s->uploadedBytes, s->uploadErrors, s->uploadRetries, s->backlogSegments,
                  s->backlogBytes);
    jTime(out, "failing_since", s->uploadFailingSinceUs);
    jsonBufPrintf(out, "}");

    jsonBufPrintf(out, ",\"archive\":{");
    jStr(out, "url", s->archiveUrl, false);
    jsonBufPrintf(out, ",\"checkpoint\":{\"seq\":%" PRIu64, s->cpSeq);
    jStr(out, "file", s->cpFile, true);
    jsonBufPrintf(out, ",\"end_pos\":%" PRIu64, s->cpEndPos);
    jStr(out, "gtid_end", s->cpGtidEnd, true);
    jStr(out, "last_gtid", s->cpLastGtid, true);
    jsonBufPrintf(out, ",\"last_time_us\":%" PRIu64 ",\"caught_up_us\":%" PRIu64 "}", s->cpLastTimeUs,
                  s->cpCaughtUpUs);
    jTime(out, "checkpoint_written", s->cpWrittenUs);
    jTime(out, "failing_since", s->archiveFailingSinceUs);
    jsonBufPrintf(out, "}");

    jsonBufPrintf(out, ",\"semi_sync\":{\"enabled\":%s,\"active\":%s,\"acks\":%" PRIu64 ",\"journal_syncs\":%" PRIu64,
                  s->semiSync ? "true" : "false", s->semiSyncActive ? "true" : "false", s->acks, s->journalSyncs);
    jStr(out, "last_ack_file", s->ackFile, true);
    jsonBufPrintf(out, ",\"last_ack_pos\":%" PRIu64 "}", s->ackPos);

    jsonBufPrintf(out, ",\"timeline\":{\"current\":%" PRIu32 ",\"failovers\":%" PRIu64, s->timeline, s->failovers);
    if (s->diverged[0] != '\0') {
        jsonBufPrintf(out, ",\"diverged\":{\"transactions\":%" PRIu64, s->divergedTransactions);
        jTime(out, "found", s->divergedFoundUs);
        jStr(out, "message", s->diverged, true);
        jsonBufPrintf(out, "}}");
    } else {
        jsonBufPrintf(out, ",\"diverged\":null}");
    }

    if (s->lastErrorUs != 0) {
        jsonBufPrintf(out, ",\"last_error\":{");
        jStr(out, "message", s->lastError, false);
        jTime(out, "time", s->lastErrorUs);
        jsonBufPrintf(out, "}");
    } else {
        jsonBufPrintf(out, ",\"last_error\":null");
    }
    jsonBufPrintf(out, "}\n");
}

/* ---- binvault status ---- */

const char *
statusCodeName(int code) {
    switch (code) {
    case STATUS_OK: return "OK";
    case STATUS_WARNING: return "WARNING";
    case STATUS_CRITICAL: return "CRITICAL";
    default: return "UNKNOWN";
    }
}

static uint64_t
capAt(uint64_t us, uint64_t cap) {
    return cap != 0 && us > cap ? cap : us;
}

double
statusArchiveBound(const StatusInput *in) {
    uint64_t since = in->lastTimeUs > in->caughtUpUs ? in->lastTimeUs : in->caughtUpUs;

    if (since == 0)
        return -1;
    since = capAt(capAt(capAt(since, in->confirmedUs), in->updatedUs), in->nowUs);
    return (double)(in->nowUs - since) / 1e6;
}

void
statusEvaluate(const StatusInput *in, StatusVerdict *out) {
    memset(out, 0, sizeof(*out));
    out->rpo = -1;
    out->futureCommit = in->lastTimeUs > in->nowUs;
    if (in->sourceOk && in->unarchivedTxns == 0) {
        out->rpo = 0;
        out->exact = true;
    } else if (in->sourceOk && in->unarchivedTxns > 0 && in->oldestUnarchivedUs != 0 &&
               in->oldestUnarchivedUs <= in->nowUs) {
        out->rpo = (double)(in->nowUs - in->oldestUnarchivedUs) / 1e6;
        out->exact = true;
    } else {
        /* A missing transaction dated in the future says nothing about when it was committed:
         * the checkpoint's bound holds. */
        out->futureCommit |= in->sourceOk && in->unarchivedTxns > 0 && in->oldestUnarchivedUs > in->nowUs;
        out->rpo = statusArchiveBound(in);
    }
    if (out->rpo < 0)
        out->code = STATUS_UNKNOWN;
    else if (in->gap || out->rpo >= in->maxRpo)
        out->code = STATUS_CRITICAL;
    else if (out->rpo >= in->warnRpo)
        out->code = STATUS_WARNING;
    else
        out->code = STATUS_OK;
    if (in->sourceAsked && !in->sourceOk && out->code == STATUS_OK)
        out->code = STATUS_WARNING;
    if (in->backupsChecked) {
        out->backupOld = in->warnBackupAge > 0 &&
                         (in->newestBackupUs == 0 ||
                          (in->nowUs > in->newestBackupUs && (double)(in->nowUs - in->newestBackupUs) / 1e6 >= in->warnBackupAge));
        out->backupNone = !in->backupRestorable;
        if ((out->backupOld || out->backupNone) && out->code == STATUS_OK)
            out->code = STATUS_WARNING;
    }
}

int
statusUnarchivedTxns(BinlogFlavour flavour, const char *sourceState, const char *archivedState, int64_t *n,
                     Err *err) {
    uint64_t count = 0;
    /* States of an archive whose flavour is not known yet are read as MariaDB positions. */
    int rc = gtidStateTextCount(flavour == BINLOG_FLAVOUR_MYSQL ? BINLOG_FLAVOUR_MYSQL : BINLOG_FLAVOUR_MARIADB,
                                archivedState, sourceState, &count, err);

    *n = (int64_t)count;
    return rc;
}
