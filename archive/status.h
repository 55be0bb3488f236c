/*
 * What the agent reports about itself. The agent's threads publish their counters and states
 * (under the agent's lock); a snapshot of them is an AgentStatus, and the functions here turn a
 * snapshot into the RPO, the health verdict, the Prometheus text of /metrics and the JSON of
 * /status. Pure code: no clock, no locks, no I/O, so that the unit tests drive every rule.
 *
 * RPO (README, "RPO"): the age of the oldest transaction committed on the source that is not yet
 * durable in the archive (archive RPO) or on the agent's disk (spool RPO); 0 when there is none.
 * The candidates for "oldest" are, in stream order: sealed segments not yet archived, the open
 * segment (and, for the spool, its part not yet fsync'd), and transactions the agent may not have
 * received yet. The last are only possible when the stream is not fresh (disconnected, or silent
 * for longer than the heartbeat promises): then their commit time is at least the later of the
 * last instant the agent knew it was caught up (a heartbeat: the source had nothing more to send)
 * and the commit time of the last transaction received, and the RPO reported is the time since
 * then: an upper bound, since the agent cannot see what the source did meanwhile.
 */
#ifndef BV_ARCHIVE_STATUS_H
#define BV_ARCHIVE_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "binlog/event.h"
#include "common/buf.h"
#include "common/err.h"

typedef enum PurgeState { PURGE_OK = 0, PURGE_AT_RISK, PURGE_LOST } PurgeState;

/* A snapshot. Times are wall clock, microseconds since the epoch (0 = never / unknown). Strings
 * are fixed buffers, except the GTID states, which are allocated (agentStatusClear() frees them). */
typedef struct AgentStatus {
    uint64_t nowUs, startedUs;
    const char *version;
    char sourceUrl[320], archiveUrl[1100];
    int64_t heartbeatMs;

    /* The stream. */
    bool connected;
    uint64_t connectedSinceUs, disconnectedSinceUs; /* of the current state */
    uint64_t reconnects;                            /* streams started after the first */
    bool fresh;        /* connected and something (event or heartbeat) arrived recently */
    uint64_t silentMs; /* since anything arrived on the stream (while connected) */
    bool spoolFull;    /* the stream waits for the spool to drain */
    bool stopping;
    char recvFile[256]; /* where the next event is expected */
    uint64_t recvPos;
    char *recvGtid;     /* GTID state after the last transaction received */
    uint64_t recvBytes, recvEvents, recvTxns;
    uint64_t lastRecvCommitUs;   /* binlog commit time of the last transaction received */
    uint64_t segmentsSealed;
    uint64_t caughtUpUs;         /* last heartbeat: the source had nothing more to send */

    /* RPO inputs: estimated commit times (0 = none). */
    uint64_t unreceivedSinceUs;  /* lower bound of what may not be received (used when !fresh) */
    uint64_t oldestUnsealedUs;   /* first transaction of the open segment */
    uint64_t oldestUnsyncedUs;   /* first transaction not durable in the spool */
    uint64_t oldestUnarchivedUs; /* first transaction of the sealed segments not yet archived */

    /* The source, as sampled by the monitor connection. */
    bool sourceSampled;
    uint64_t sourceSampledUs;
    char sourceFile[256];
    uint64_t sourcePos;
    char *sourceGtid;
    int64_t lagBytes; /* -1 when unknown */
    PurgeState purge;
    /* The source's own replication when it is a replica (SHOW SLAVE STATUS, sampled). */
    bool replicaSampled;           /* false: not sampled yet, or the privilege lacks */
    bool replica;                  /* the source replicates from another server */
    bool replicaIoRunning, replicaSqlRunning;
    int64_t replicaLagS;           /* Seconds_Behind_Master; -1 when unknown (a thread stopped) */
    uint64_t replicaBehindSinceUs; /* RPO input: commit time from which the source's primary may
                                      hold transactions the source has not (0 = none) */
    char replicaError[512];

    /* Spool and uploads. */
    uint64_t spoolBytes, spoolMaxBytes, spoolSegments;
    uint64_t spoolFailingSinceUs; /* the spool cannot be written; the stream waits (0 = it works) */
    uint64_t spoolErrors;         /* failed spool writes (each pause and each failed retry) */
    uint64_t uploadedSegments, uploadedBytes, uploadErrors, uploadRetries;
    uint64_t backlogSegments, backlogBytes;
    uint64_t uploadFailingSinceUs;

    /* The archive. */
    uint64_t cpSeq;
    char cpFile[256];
    uint64_t cpEndPos;
    char *cpGtidEnd;
    char cpLastGtid[112];
    uint64_t cpLastTimeUs, cpCaughtUpUs, cpWrittenUs;
    uint64_t archiveFailingSinceUs; /* index / checkpoint writes failing */

    /* Semi-sync. */
    bool semiSync;       /* --semi-sync */
    bool semiSyncActive; /* the source asks for acknowledgements */
    uint64_t acks, journalSyncs;
    char ackFile[256];
    uint64_t ackPos;

    /* Timelines (failover): the current one, and the diverged branch of the last failover this
     * agent followed (transactions the old source archived that the new one never had). */
    uint32_t timeline;             /* 0: not known yet */
    uint64_t failovers;            /* new timelines started by this run */
    uint64_t divergedTransactions; /* of the last failover (0: none) */
    uint64_t divergedFoundUs;      /* when the agent found it */
    char diverged[1024];           /* it in words, "" when none */

    char lastError[1024];
    uint64_t lastErrorUs;
    char failure[1024]; /* the error the agent stops on (a refused source...), "" when none */
} AgentStatus;

void agentStatusClear(AgentStatus *s);

/* RPO in seconds: archive (durable in the archive) and spool (durable on the agent's disk). */
double agentStatusArchiveRpo(const AgentStatus *s);
double agentStatusSpoolRpo(const AgentStatus *s);

/* True when streaming and archiving work; otherwise false and `reason` says what does not. */
bool agentStatusHealthy(const AgentStatus *s, char *reason, size_t size);

/* The Prometheus text exposition format (version 0.0.4) of /metrics, and the JSON of /status. */
void agentStatusMetrics(const AgentStatus *s, Buf *out);
void agentStatusJson(const AgentStatus *s, Buf *out);

const char *purgeStateName(PurgeState p);

/* ---- `binvault status`: a verdict from the archive alone, or with the source ----------------
 *
 * From the archive alone, checkpoint.json says the archive held everything the source had written
 * at caught_up_us, and every transaction up to the one committed at last_time_us: whatever is
 * missing was committed after the later of the two, so the RPO is at most the time since then
 * (an idle source whose agent keeps refreshing caught_up_us stays near 0). last_time_us is the
 * binlog's, which a client sets (SET TIMESTAMP) to any value, even the future: that instant is
 * never taken later than the agent's own clock when it last wrote the checkpoint while it saw
 * the source (confirmed_us), nor later than the checkpoint's `updated` (older agents), so a
 * stopped agent's bound grows whatever the data says. With the source, the
 * number of transactions not archived is known (GTID states) and, when there are some, the commit
 * time of the oldest one read from the source's binlog: the RPO is then measured, not bounded. */

#define STATUS_OK 0
#define STATUS_WARNING 1
#define STATUS_CRITICAL 2
#define STATUS_UNKNOWN 3

typedef struct StatusInput {
    uint64_t nowUs;
    uint64_t lastTimeUs, caughtUpUs; /* of checkpoint.json */
    uint64_t confirmedUs, updatedUs; /* of checkpoint.json; 0 when absent */
    bool sourceAsked;                /* --source given */
    bool sourceOk;                   /* and it answered */
    int64_t unarchivedTxns;          /* -1 when unknown */
    uint64_t oldestUnarchivedUs;     /* commit time of the oldest, read from the source; 0 unknown */
    bool gap;                        /* the source purged binlogs the archive does not hold */
    double warnRpo, maxRpo;          /* seconds */
    /* Base backups in the archive, checked when `backupsChecked`: */
    bool backupsChecked;
    uint64_t newestBackupUs;         /* end of the newest complete backup; 0: none */
    bool backupRestorable;           /* some backup is restorable to the archive's end */
    double warnBackupAge;            /* seconds; 0: no age check */
} StatusInput;

typedef struct StatusVerdict {
    int code;   /* STATUS_* */
    double rpo; /* seconds; < 0 when unknown */
    bool exact; /* measured from the source rather than bounded from the checkpoint */
    bool futureCommit; /* a commit time after now (checkpoint or source) was not trusted */
    bool backupOld;    /* no complete backup, or the newest is warnBackupAge old or more */
    bool backupNone;   /* no backup is restorable to the archive's end */
} StatusVerdict;

/* The RPO bound from the checkpoint alone (seconds; < 0 when it has no commit or caught-up
 * time): the time since the later of lastTimeUs and caughtUpUs, that instant capped by
 * confirmedUs and updatedUs (when known) and by nowUs. */
double statusArchiveBound(const StatusInput *in);

/* Thresholds: RPO >= maxRpo is CRITICAL, >= warnRpo WARNING; an unknown RPO is UNKNOWN; a gap is
 * CRITICAL; a source that was asked for and did not answer is at least WARNING. With backupsChecked,
 * a newest backup warnBackupAge old or more (or none), and no backup restorable to the archive's
 * end, are at least WARNING too. */
void statusEvaluate(const StatusInput *in, StatusVerdict *out);
const char *statusCodeName(int code);

/* Transactions in `sourceState` that `archivedState` does not hold: gtidStateCount(archived,
 * source) (MariaDB positions: the difference of sequence numbers per domain; MySQL: the size of
 * the set difference); a flavour not known yet reads MariaDB positions. ERR_FORMAT. */
int statusUnarchivedTxns(BinlogFlavour flavour, const char *sourceState, const char *archivedState, int64_t *n,
                         Err *err);

#endif
