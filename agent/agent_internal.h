/*
 * The agent's internals, shared by its files (one job each; agent/agent.h is the public API):
 *
 *   agent.c     wiring: configuration checks, the event loop (signals, timer, HTTP), start-up
 *               order, the threads' lifecycle and shutdown
 *   state.c     published state: errors, the RPO bookkeeping (unarchived segments, caught-up
 *               marks), the snapshot for /status, the shared sleeps
 *   startup.c   the archive at start-up (catalog, discovered segments, checkpoint), the source's
 *               identity and its check at every connection (server, history, replica), the resume
 *               point, the spool's segments queued again
 *   semisync.c  the semi-sync journal: recovery after a crash or a broken stream, journaling the
 *               open segment, the ACKs
 *   source_select.c  which --source candidate the stream connects to (the writable primary)
 *   failover.c  the current timeline and its source; a new source starts the next timeline at
 *               the fork point (agent/fork.h finds it by GTID), its record stored first
 *   stream.c    the stream thread (bv-stream): reading, sealing into the spool (the segmenter's
 *               sink), reconnecting, spool failures and backpressure
 *   archiver.c  upload completions -> index chunks and checkpoint (bv-archive)
 *   monitor.c   the source over SQL: position, lag, purge guard (bv-monitor)
 *
 * One Agent context is passed to every thread; what more than one thread touches is under one of
 * its locks or atomic (each field says whose it is).
 */
#ifndef BV_AGENT_AGENT_INTERNAL_H
#define BV_AGENT_AGENT_INTERNAL_H

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/http.h"
#include "agent/spool.h"
#include "agent/uploader.h"
#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "archive/identity.h"
#include "archive/index.h"
#include "archive/segment.h"
#include "archive/segmenter.h"
#include "archive/status.h"
#include "archive/timeline.h"
#include "common/retry.h"
#include "common/url.h"
#include "mysql/client.h"
#include "storage/storage.h"

/* The archiver's and the event loop's period. */
#define AGENT_TIMER_MS 500
/* First delay of every retry loop (source, archive, spool), up to --reconnect-max. */
#define AGENT_BACKOFF_MIN_MS 500
/* A spool failure this long after the last retry starts its backoff afresh. */
#define AGENT_SPOOL_CALM_MS 10000
/* A source stream failure this long after the last retry was due starts its backoff afresh. */
#define AGENT_STREAM_CALM_MS 60000
#define CAUGHT_UP_MARKS 256

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
    /* The --source candidates, and which one the stream thread connects to now (it chooses:
     * agent/source_select.c; the monitor reads it for its own connections). */
    MysqlUrl **urls;
    size_t urlCount;
    MysqlUrl *primaryUrl; /* --primary: the monitor measures the RPO against it; NULL = none */
    atomic_size_t urlIdx;
    Storage *storage;
    Archive *archive;
    ArchiveCatalog *catalog; /* at start-up only: freed once the stream has resumed from it */
    Spool *spool;
    Uploader *uploader;
    Segmenter *segmenter;  /* the thread sealing (the stream thread; at start-up the main thread) */
    SpoolJournal *journal; /* semi-sync: the open segment's journal (stream thread) */
    SegmentCompressor *compressor; /* the segments' compression and seal threads, for the agent's lifetime */
    HttpServer *http;
    struct event_base *base;
    struct event *wake;
    pthread_t streamThread, archiverThread, monitorThread;
    bool streamStarted, archiverStarted, monitorStarted;

    atomic_bool stop;       /* shutdown requested */
    atomic_bool streamDone;
    atomic_bool workersStop; /* archiver and monitor: stop now */
    atomic_bool reselect;    /* the monitor saw the source demoted: the stream chooses again */
    /* Fatal error of a thread; the first one wins. */
    pthread_mutex_t failLock;
    Err failure;
    bool failed;

    /* Source identity, known after the stream thread's first connection. */
    BinlogFlavour flavour;
    uint32_t sourceServerId;
    char sourceUuid[37];
    char sourceVersion[51];
    /* The archive's identity (binvault.json) as read at start-up: what every connection's source
     * is compared with (stream thread). */
    ArchiveIdentity archiveId;
    /* The timeline the stream writes and its source's identity (stream thread; at start-up the
     * main thread): the newest record's, or timeline 1's from binvault.json. tlFirstSeq is its
     * first segment, tlForkState the GTID state it starts after (NULL for timeline 1). */
    uint32_t timeline;
    TimelineSource tlSource;
    uint64_t tlFirstSeq;
    char *tlForkState;
    bool sourceChosen;  /* agentSelectSource() chose a candidate once (stream thread) */
    bool hostSaid;      /* the current source is reached at another address than its record's: said once */
    bool replicaWarned; /* the source's replication state cannot be read: said once */
    bool domainWarned;  /* the source's gtid_domain_id is not the one of its GTIDs: said once */
    /* The segmenter was set at --start-position / --start-gtid after segment startSeq: until a
     * segment is sealed after it, no history of this source is held. */
    bool startFromOption;
    uint64_t startSeq;

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
    ArchiveIndexWriter *indexWriter; /* created at start-up; the archiver's from then on */

    /* Stream thread only. */
    uint64_t unsyncedFirstUs; /* semi-sync: first transaction not yet fdatasync'd */
    uint64_t gtidPublishedMs;
    /* For stream.c's publishEvent(): when it last published, the transactions counted then, and
     * the commit time (estimated) of the last transaction that ended. */
    uint64_t recvPublishedMs, recvPublishedTxns, recvEndedTxnUs;
    Retry spoolRetry;         /* of spool failures; starts afresh after AGENT_SPOOL_CALM_MS */
    bool sourceEncryptsSaid;  /* the warning about a source with encrypted binlogs was given */

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

/* ---- state.c: published state ---- */

/* Wall clock, microseconds since the epoch. */
uint64_t agentWallUs(void);
/* Remember an error for /status (the caller logs it). */
void agentNoteError(Agent *a, const char *msg);
/* A fatal error of any thread (the first one wins): log it, stop the agent. */
void agentFail(Agent *a, const Err *err);
/* Sleep up to ms unless the agent is stopping. */
void agentSleep(Agent *a, uint64_t ms);
/* Wait on doneCond for up to ms (archiver, monitor): returns at shutdown and, with untilDone, once
 * an upload is done (doneCount > 0). */
void agentWorkerSleep(Agent *a, uint64_t ms, bool untilDone);
/* The agent's retry policy (AGENT_BACKOFF_MIN_MS up to --reconnect-max) with this calmMs. */
void agentRetryInit(const Agent *a, Retry *r, uint64_t calmMs);
/* Under statLock: a sealed segment not archived yet, whose first transaction committed at
 * firstUs (0: none); a seq already listed keeps the earlier time. */
void agentAddUnarchivedLocked(Agent *a, uint64_t seq, uint64_t firstUs);
/* Under statLock: the stream was caught up at atUs once every segment up to seq is archived. */
void agentAddMarkLocked(Agent *a, uint64_t atUs, uint64_t seq);
/* Under statLock: replace an allocated string of the published state (takes src). */
void agentSetStringLocked(char **dst, char *src);
/* Publish the current source's URL (takes statLock). */
void agentPublishSourceUrl(Agent *a);
/* Under statLock: publish the checkpoint a->cp. */
void agentPublishCheckpointLocked(Agent *a);
/* Whether the stream is fresh at monotonic nowMs: connected, and something (an event or a
 * heartbeat) arrived within twice the heartbeat plus a second. Under statLock. */
bool agentStreamFreshLocked(const Agent *a, uint64_t nowMs);
/* The HTTP endpoint's snapshot (archive/status.h; main thread). */
void agentSnapshot(void *data, AgentStatus *out);

/* ---- agent.c ---- */

/* SQL connection options for the current source (the stream and the monitor each open their own). */
SqlConnOpts agentSourceConnOpts(const Agent *a);
/* SQL connection options for candidate i. */
SqlConnOpts agentCandidateConnOpts(const Agent *a, size_t i);
/* The current source's URL. */
const MysqlUrl *agentSourceUrl(const Agent *a);

/* ---- source_select.c ---- */

/* What a --source candidate is now. */
typedef enum CandidateRole {
    CANDIDATE_DOWN = 0,  /* unreachable, or it did not answer */
    CANDIDATE_PRIMARY,   /* writable (read_only=OFF) and not replicating */
    CANDIDATE_READ_ONLY, /* read_only=ON, not replicating */
    CANDIDATE_REPLICA,   /* replicating (SHOW SLAVE STATUS has a row) */
} CandidateRole;

/* The role of a server from what agentCheckSource()'s queries read (SLAVE MONITOR lacking: by
 * read_only alone). */
CandidateRole agentCandidateRole(const SqlSourceInfo *info);
/* Which candidate to archive (pure): the one writable primary (1, *chosen); with
 * archiveReplica and no primary, a reachable candidate, `current` first (1); none (0); or minus
 * the number of writable primaries when there are several (nothing chosen). */
int agentCandidateChoose(const CandidateRole *roles, size_t n, size_t current, bool archiveReplica, size_t *chosen);

/* Choose the candidate the next connection goes to (stream thread): the one --source, or among
 * several the one writable primary (with --archive-replica, else a reachable replica or read-only
 * server, the current one first). ERR_SOURCE (worth a retry) when there is none, or more than one
 * writable primary. */
int agentSelectSource(Agent *a, Err *err);

/* ---- failover.c ---- */

/* The archive's current timeline and its source (a->timeline, a->tlSource): the newest timeline
 * record, or timeline 1 from binvault.json. */
int agentLoadTimelines(Agent *a, Err *err);
/* After the resume point is set: when the newest timeline has no segment yet (the agent stopped
 * between its record and its first segment), `seg` resumes at its fork's GTID state. */
void agentTimelineResume(Agent *a, Segmenter *seg);
/* Whether the source behind this connection is not the current timeline's (server_id,
 * server_uuid, binlog base name, gtid_domain_id: the address it is reached at does not count);
 * *why says what changed ("server_id 1 -> 2"). */
bool agentSourceChanged(Agent *a, BinlogClient *c, const SqlSourceInfo *info, char *why, size_t size);
/* Start the next timeline from this source (stream thread, before the stream starts): wait until
 * the archive holds every sealed segment, find the fork point by GTID (the new source's
 * @@gtid_binlog_state / gtid_executed against the archive's main line), store the timeline record
 * with the diverged branch, report the branch (log, /status, /metrics, /healthz), and set a new
 * segmenter after the fork's GTID state. ERR_GAP when the source holds nothing of the archive. */
int agentStartTimeline(Agent *a, BinlogClient *c, SqlConn *sql, const SqlSourceInfo *info, const char *why,
                       Err *err);

/* ---- startup.c ---- */

/* Read the archive's catalog (kept in a->catalog until the stream resumes from it), index what an
 * earlier run stored but did not index, take the checkpoint. Retries while the store fails. */
int agentLoadArchive(Agent *a, Err *err);
/* Connect once to learn the source's identity and check it against the archive's; retries while
 * the source cannot be reached. */
int agentIdentify(Agent *a, Err *err);
/* On every connection, before the stream starts (stream thread): the source is the one whose
 * history the archive holds (server_id, server_uuid, binlog base name; compared with binvault.json
 * and where the segmenter resumes) and holds the archive's end (its GTID state is in the source's,
 * and BINLOG_GTID_POS() at the archive's end position is that state, server ids included); a
 * replica source logs what it replicates. A different source or history is refused with ERR_GAP
 * saying what changed (following a new primary needs timelines), a replica without
 * log_slave_updates with ERR_CONFIG. *proven: on MariaDB, the source has the archive's end
 * position at the archive's end state (the stream may continue by position). With
 * --start-position on MariaDB, the segmenter takes the GTID state at that position (and *proven
 * says the source has it). */
int agentCheckSource(Agent *a, BinlogClient *c, bool *proven, Err *err);
/* Set `seg` at the resume point: the spool's last sealed segment, else the archive's last
 * segment, else --start-position / --start-gtid, else the oldest binlog on the source. */
int agentResume(Agent *a, Segmenter *seg, Err *err);
/* --accept-gap: set `seg` at --start-position / --start-gtid, after the spool's or the archive's
 * last segment, once the gap between is recorded in the archive (gaps/<seq>.json). ERR_USAGE when
 * there is nothing to skip (an empty archive, a start that is not after its end). */
int agentResumeAcrossGap(Agent *a, Segmenter *seg, Err *err);
/* Continue after the spool's last sealed segment. */
int agentResumeFromState(Segmenter *seg, const SpoolState *st, Err *err);
/* Queue for upload what an earlier run sealed and did not archive; ERR_GAP when a segment after
 * the checkpoint is neither in the archive nor in the spool. */
int agentResubmitSpool(Agent *a, Err *err);

/* ---- semisync.c ---- */

/* Before anything else: seal what a journal left by a crash holds (the source need not be
 * reachable). */
int agentRecoverAtStart(Agent *a, Err *err);
/* Seal what the journal of the open segment after the last sealed one holds, up to its last
 * transaction boundary; stale journals are removed, one that cannot be replayed is kept as .bad.
 * -1 with ERR_IO when the spool failed (the journal stays). */
int agentRecoverJournal(Agent *a, Segmenter *seg, Err *err);
/* Keep an event of the open segment in its journal (heartbeats and sealed events are not). */
int agentJournalEvent(Agent *a, const uint8_t *ev, size_t len, bool heartbeat, uint64_t seqBefore, Err *err);
/* The source waits for an ACK of file:pos: sync the journal, then send it. */
int agentAcknowledge(Agent *a, BinlogClient *c, const char *file, uint64_t pos, Err *err);
/* After a segmenter call that may have sealed: a sealed segment's journal is done with. */
void agentAfterSeal(Agent *a, uint64_t seqBefore);

/* ---- stream.c ---- */

/* A segmenter for this source identity and timeline whose sink is the spool, writing on
 * a->compressor; without --semi-sync it seals behind the stream (the commits on bv-seal). */
Segmenter *agentSegmenterNew(Agent *a, BinlogFlavour flavour, uint32_t serverId, const char *serverUuid,
                             uint32_t timeline);
/* The stream thread (bv-stream). */
void *agentStreamMain(void *arg);

/* ---- archiver.c ---- */

/* Uploader completion (an upload thread): queue it for the archiver, or fail the agent. */
void agentUploadDone(void *data, const SegmentMeta *meta, int rc, const Err *err);
/* A stored segment waiting for the checkpoint (copied when `copy`, otherwise taken). */
void agentAddPending(Agent *a, const SegmentMeta *meta, bool indexed, bool copy);
/* Index the contiguous run of stored segments, move the checkpoint, free their spool space. */
void agentAdvanceCheckpoint(Agent *a);
/* Take caught-up instants that completed, write the checkpoint when it is due. */
void agentRefreshCheckpoint(Agent *a);
/* Do the index writer's queued compaction for about budgetMs (after each checkpoint advance; at
 * shutdown, what is left, within the shutdown grace). */
void agentCompactIndex(Agent *a, unsigned budgetMs);
/* Write a->cp now. */
void agentWriteCheckpoint(Agent *a);
/* The archiver thread (bv-archive). */
void *agentArchiverMain(void *arg);

/* ---- monitor.c ---- */

/* The monitor thread (bv-monitor). */
void *agentMonitorMain(void *arg);

#endif
