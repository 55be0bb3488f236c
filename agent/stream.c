/*
 * The stream thread (bv-stream): identifies the source, resumes where the spool or the archive
 * ends, reads the binlog stream as a replica and pushes it through the segmenter, whose sink
 * seals each segment durably into the spool and queues it for upload. It reconnects with backoff
 * when the stream breaks (the open segment is read again), pauses while the spool is full
 * (backpressure) or failing (it resumes once the spool takes writes again), and publishes what it
 * received for /status.
 */
#include "agent/agent_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "binlog/gtid.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/time.h"

/* The source writes its binlogs encrypted (encrypt_binlog): what the archive stores is the
 * decrypted stream, secrets included (CREATE USER ... IDENTIFIED BY, row data). Said once per run
 * when the archive is not encrypted. */
static void
warnSourceEncrypts(Agent *a) {
    ArchiveIdentity id;
    Err err = {0};

    if (a->sourceEncryptsSaid)
        return;
    a->sourceEncryptsSaid = true;
    if (archiveIdentityRead(a->archive, &id, &err) != 0) {
        logWarn("the source encrypts its binlogs (encrypt_binlog=ON), and whether archive '%s' is encrypted could "
                "not be read: %s", archiveUrl(a->archive), err.msg);
    } else if (!id.encrypted) {
        logWarn("the source encrypts its binlogs (encrypt_binlog=ON) but archive '%s' is not encrypted: it holds "
                "the decrypted events, secrets included (CREATE USER ... IDENTIFIED BY, row data). Archive to an "
                "encrypted archive (--encrypt --key-file FILE, docs/OPERATIONS.md \"Encryption\")",
                archiveUrl(a->archive));
    } else {
        logInfo("the source encrypts its binlogs (encrypt_binlog=ON); the archive stores them encrypted with its "
                "own key");
    }
}

/* The received GTID state is published for /status at most this often (it is a string). */
#define GTID_PUBLISH_MS 200
/* What the stream received is published at most this often while events keep coming. */
#define RECV_PUBLISH_MS 20
/* Inside a transaction, the clocks are read every this many events. */
#define STREAM_CLOCK_EVENTS 64

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
        agentAddUnarchivedLocked(a, m->seq, firstUs ? firstUs : m->firstTimeUs);
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
    if (archiveSegmentSetName(a->archive, &m, err) != 0) {
        segmentMetaClear(&m);
        return -1;
    }
    logDebug("committing segment %" PRIu64 " (%s:%" PRIu64 "-%" PRIu64 ") to the spool", m.seq, m.file, m.startPos,
             m.endPos);
    rc = spoolCommit(a->spool, tmpPath, &m, fde, fdeLen, nextFile, err);
    if (rc != 0)
        logDebug("segment %" PRIu64 " not committed: %s", m.seq, err->msg);
    if (rc == 0)
        sealedSegment(a, &m, m.firstCommitEstUs);
    segmentMetaClear(&m);
    return rc;
}

Segmenter *
agentSegmenterNew(Agent *a, BinlogFlavour flavour, uint32_t serverId, const char *serverUuid, uint32_t timeline) {
    SegmenterSink sink = {sinkTmpPath, sinkSealed, a};
    SegmenterOpts sopts;

    memset(&sopts, 0, sizeof(sopts));
    sopts.segmentSize = (uint64_t)a->cfg->segmentSize;
    sopts.intervalMs = a->cfg->segmentIntervalMs;
    sopts.flavour = flavour;
    sopts.serverId = serverId;
    sopts.serverUuid = serverUuid;
    sopts.timeline = timeline;
    sopts.streamChecksum = BINLOG_CHECKSUM_CRC32;
    sopts.compressor = a->compressor;
    /* The seal's fsyncs and the spool's commit run on bv-seal while the stream reads on. Not with
     * semi-sync: a segment's journal is removed once the segmenter says it is sealed
     * (agentAfterSeal()), which must then mean committed. */
    sopts.asyncSeal = !a->cfg->semiSync;
    return segmenterNew(&sopts, &sink);
}

/* Errors that a reconnection cannot cure: the source refuses us (grant, password), no longer has
 * (or never had) the binlog the archive needs, or the archive refuses what came. Whether they come
 * when the stream starts or with its first read (the server answers COM_BINLOG_DUMP with the
 * error), the agent stops on them instead of reconnecting forever. */
static bool
streamErrPermanent(ErrCode code) {
    return code == ERR_AUTH || code == ERR_GAP || code == ERR_USAGE || code == ERR_NOTFOUND || code == ERR_CONFIG ||
           code == ERR_EXISTS;
}

/* Stop the agent on a permanent stream error, saying what to do about a missing binlog. A GTID
 * the source never had is another server's history, or transactions a failover lost; the
 * segmenter's and agentCheckSource()'s refusals (ERR_GAP naming the history) say it already. */
static void
streamFail(Agent *a, Err *err, bool byGtid) {
    if (byGtid && err->code == ERR_GAP)
        errAppend(err, " (the archive ends in '%s' at position %" PRIu64 ")", segmenterFile(a->segmenter),
                  segmenterPos(a->segmenter));
    if (byGtid && err->code == ERR_NOTFOUND)
        errPrefix(err, "the source's history does not contain the GTID state the archive continues from (a server "
                       "whose GTIDs collide with the archive's but not its transactions, or binlogs purged since; see "
                       "docs/OPERATIONS.md \"Failover\")");
    else if ((err->code == ERR_GAP || err->code == ERR_NOTFOUND) && strstr(err->msg, "history") == NULL)
        errAppend(err, ". The archive cannot continue from there. Put the binlog back on the source if you "
                       "still have it; or accept the gap on purpose (recovery will not cross it): restart the "
                       "agent once with '--accept-gap --start-position FILE:4' naming the oldest binlog the "
                       "source has (SHOW BINARY LOGS), see docs/OPERATIONS.md \"A purged binlog\"");
    agentFail(a, err);
}

/* MySQL: COM_BINLOG_DUMP_GTID with the GTID set held. */
static int
startMysqlGtid(BinlogClient *c, const char *gtid, Err *err) {
    GtidState *state = gtidStateParse(BINLOG_FLAVOUR_MYSQL, gtid, err);
    uint8_t *enc;
    size_t len;
    int rc;

    if (state == NULL)
        return errPrefix(err, "the GTID set to resume after");
    enc = gtidSetEncode(gtidStateSet(state), &len);
    rc = binlogClientStartMysqlGtid(c, enc, len, err);
    bvFree(enc);
    gtidStateFree(state);
    return rc;
}

/* Check the source, then start the stream after the archive's end. On MariaDB the end's GTID
 * state decides: where the source has the archive's end position at that very state
 * (agentCheckSource() proved it, server ids included), the stream continues there, which keeps
 * the rest of the archive's last file (its ROTATE, STOP, BINLOG_CHECKPOINT events: a GTID dump
 * starts in the file the server picks and skips them). Otherwise (that binlog purged) the stream
 * starts after the GTID state (MariaDB strictly, MySQL COM_BINLOG_DUMP_GTID with the set held),
 * and the segmenter frames from where the server resumes; it also does for --start-gtid. MySQL
 * continues by position where the same server (server_uuid) still has the file. Without a GTID
 * state (nothing archived has one yet, --start-position), by position; from the oldest binlog on
 * an empty archive. *byGtid says which. */
static int
startStream(Agent *a, BinlogClient *c, bool *byGtid, Err *err) {
    const char *file;
    bool proven;
    char *gtid;
    int rc;

    *byGtid = false;
    if (agentCheckSource(a, c, &proven, err) != 0)
        return -1;
    file = segmenterFile(a->segmenter);
    if (segmenterResumesByGtid(a->segmenter) && !proven) {
        gtid = segmenterGtidState(a->segmenter);
        logInfo("streaming from %s after GTID state '%s' (the archive ends at '%s':%" PRIu64 ")%s", binlogClientUrl(c),
                gtid, file[0] ? file : "-", segmenterPos(a->segmenter), a->cfg->semiSync ? " as a semi-sync replica" : "");
        segmenterExpectGtidStart(a->segmenter);
        *byGtid = true;
        rc = a->flavour == BINLOG_FLAVOUR_MARIADB ? binlogClientStartMariaGtid(c, gtid, err) : startMysqlGtid(c, gtid, err);
        bvFree(gtid);
        return rc;
    }
    logInfo("streaming from %s at '%s':%" PRIu64 "%s%s", binlogClientUrl(c), file[0] ? file : "(oldest binlog)",
            segmenterPos(a->segmenter), proven ? " (the source's GTID state there is where the archive resumes)" : "",
            a->cfg->semiSync ? " as a semi-sync replica" : "");
    return binlogClientStartFile(c, file[0] ? file : NULL, file[0] ? segmenterPos(a->segmenter) : 4, err);
}

/* A stream that starts inside a binlog file (a GTID start, a new timeline, --start-position on
 * an empty archive) receives that file's FORMAT_DESCRIPTION rewritten: its 'created' field
 * zeroed (and log_pos 0 when by position). The file's own is read by a second, short dump of the file from offset
 * 4, through a server id one apart from the agent's (a dump under the stream's id would end the
 * stream), and given to the segmenter. When that fails (file purged, no privilege), the archive
 * keeps the rewritten copy, and the log says so. */
static void
useFileFde(Agent *a, const BinlogClientOpts *streamOpts, const char *file) {
    BinlogClientOpts opts = *streamOpts;
    BinlogClient *c;
    const uint8_t *ev = NULL;
    size_t len = 0;
    unsigned events = 0;
    Err err;
    int rc = -1;

    opts.serverId = streamOpts->serverId > 1 ? streamOpts->serverId - 1 : streamOpts->serverId + 1;
    opts.heartbeatMs = 0;
    opts.semiSync = false;
    opts.nonBlocking = true;
    opts.conn.readTimeoutMs = 10000;
    c = binlogClientNew(&opts);
    if (binlogClientConnect(c, &err) == 0 && binlogClientStartFile(c, file, 4, &err) == 0) {
        /* The dump opens with an artificial ROTATE, then the file's first event, its FDE. */
        while (events++ < 4 && (rc = binlogClientRead(c, &ev, &len, &err)) == 1 && ev[4] != BINLOG_FORMAT_DESCRIPTION)
            ;
        if (rc == 1 && ev[4] == BINLOG_FORMAT_DESCRIPTION)
            rc = segmenterSetFileFde(a->segmenter, file, ev, len, &err);
        else if (rc >= 0)
            rc = errSet(&err, ERR_SOURCE, "the dump of '%s' from offset 4 sent no format description event", file);
    }
    binlogClientFree(c);
    if (rc != 0)
        logWarn("the archive keeps the format description event of '%s' as the stream sent it, its 'created' "
                "field zeroed: 'binvault fetch' gives that file with these 4 bytes and its checksum unlike the "
                "server's (reading the file's own failed: %s)",
                file, err.msg);
}

static void
publishConnected(Agent *a, bool connected, bool first) {
    pthread_mutex_lock(&a->statLock);
    if (connected) {
        a->live.connectedSinceUs = agentWallUs();
        a->lastRecvMs = retryNowMs();
        if (!first)
            a->live.reconnects++;
    } else {
        a->live.disconnectedSinceUs = agentWallUs();
        a->live.semiSyncActive = false;
    }
    a->live.connected = connected;
    pthread_mutex_unlock(&a->statLock);
}

/* Publish what the stream thread knows, after an event: at once after a heartbeat or when
 * nothing more waits on the connection (the stream is idle, so the published state is exact),
 * otherwise at most every RECV_PUBLISH_MS (and with `force`, when the stream ends). A catch-up
 * of millions of events pays the locks and the copies once per batch, not once per event: the
 * open segment's size in the spool's accounting moves here too (and at every seal, so that a
 * sealed segment is never counted twice). `now` is the caller's retryNowCoarseMs() and `wall` its
 * timeNowCoarseUs() (0: not read for this event). */
static void
publishEvent(Agent *a, BinlogClient *c, bool heartbeat, bool force, uint64_t wall, uint64_t now) {
    Segmenter *s = a->segmenter;
    bool txnEnded;
    char *gtid = NULL;

    if (!heartbeat && !force && now - a->recvPublishedMs < RECV_PUBLISH_MS && binlogClientPending(c))
        return;
    spoolSetOpenBytes(a->spool, segmenterOpenBytes(s) + (a->journal ? spoolJournalBytes(a->journal) : 0));
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
        agentSetStringLocked(&a->live.recvGtid, gtid);
    if (heartbeat) {
        /* The source had nothing more to send: caught up now. */
        a->live.caughtUpUs = wall;
        if (wall > a->live.unreceivedSinceUs)
            a->live.unreceivedSinceUs = wall;
        agentAddMarkLocked(a, wall, segmenterLastSeq(s) + (segmenterOpenFirstCommitUs(s) != 0));
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
    if ((rc = agentRecoverJournal(a, s, &journalErr)) != 0) {
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
        a->spoolFailingSinceUs = agentWallUs();
    a->spoolNoSpace = failing && noSpace;
    if (failing) {
        snprintf(a->spoolError, sizeof(a->spoolError), "%.*s", (int)sizeof(a->spoolError) - 1, msg);
        a->spoolErrorUs = agentWallUs();
        a->spoolErrors++;
    }
    pthread_mutex_unlock(&a->statLock);
    if (failing)
        agentNoteError(a, msg);
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
        if (agentResumeFromState(a->segmenter, &st, err) != 0)
            goto done;
    }
    rc = agentRecoverJournal(a, a->segmenter, err);
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
    /* Whether space is what lacks: the error says so, or the probe. */
    bool noSpace = strstr(err->msg, strerror(ENOSPC)) != NULL;
    Err probe;

    if (!noSpace)
        (void)spoolProbe(a->spool, &noSpace, &probe);
    for (;;) {
        char msg[ERR_MSG_MAX + 512];
        uint64_t delay;

        delay = retryNext(&a->spoolRetry, retryNowMs());
        snprintf(msg, sizeof(msg), "spool '%s' failed%s: %s; the stream is paused (what was not sealed is read "
                 "again from the source), retrying in %" PRIu64 " ms", spoolDir(a->spool),
                 noSpace ? " (no space left)" : "", err->msg, delay);
        logWarn("%s", msg);
        publishSpoolFailing(a, true, noSpace, msg);
        /* Space comes back when uploads free some: no need to wait longer then. */
        if (noSpace)
            spoolWaitRemoval(a->spool, delay, &a->stop);
        else
            agentSleep(a, delay);
        if (atomic_load(&a->stop))
            break;
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
    int rc;

    if (agentIdentify(a, err) != 0)
        return -1;
    a->segmenter = agentSegmenterNew(a, a->flavour, a->sourceServerId, a->sourceUuid, a->timeline);
    rc = a->cfg->acceptGap ? agentResumeAcrossGap(a, a->segmenter, err) : agentResume(a, a->segmenter, err);
    if (rc == 0)
        agentTimelineResume(a, a->segmenter);
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

void *
agentStreamMain(void *arg) {
    Agent *a = arg;
    BinlogClientOpts opts;
    Retry retry;
    bool first = true;
    Err err;

    /* A stream that fails at once keeps backing off; one that ran AGENT_STREAM_CALM_MS starts
     * afresh. */
    agentRetryInit(a, &retry, AGENT_STREAM_CALM_MS);
    agentRetryInit(a, &a->spoolRetry, AGENT_SPOOL_CALM_MS);
    if (streamSetup(a, &err) != 0) {
        if (!atomic_load(&a->stop))
            agentFail(a, &err);
        goto out;
    }
    binlogClientOptsInit(&opts);
    opts.serverId = (uint32_t)a->cfg->serverId;
    /* Heartbeats also pace the segment-interval cuts of an idle stream: at least two per interval. */
    opts.heartbeatMs = (unsigned)(a->cfg->heartbeatMs < a->cfg->segmentIntervalMs / 2 ? a->cfg->heartbeatMs
                                                                                       : a->cfg->segmentIntervalMs / 2);
    opts.semiSync = a->cfg->semiSync;

    while (!atomic_load(&a->stop)) {
        BinlogClient *c;
        bool stopping = false, byGtid = false;
        uint64_t stopAt = 0;
        int rc;

        if (agentSelectSource(a, &err) != 0) {
            agentNoteError(a, err.msg);
            goto retry;
        }
        opts.conn = agentSourceConnOpts(a);
        opts.conn.readTimeoutMs = 0; /* three heartbeat periods */
        c = binlogClientNew(&opts);
        if (binlogClientConnect(c, &err) != 0 || startStream(a, c, &byGtid, &err) != 0) {
            binlogClientFree(c);
            if (streamErrPermanent(err.code)) {
                streamFail(a, &err, byGtid);
                break;
            }
            agentNoteError(a, err.msg);
            goto retry;
        }
        /* A demotion the monitor saw before this stream started is the previous source's. */
        atomic_store(&a->reselect, false);
        publishConnected(a, true, first);
        first = false;
        /* No retryReset() here: a source that accepts the connection and then fails the stream
         * must keep backing off; the retry's calm period starts afresh after a healthy run. */
        /* Semi-sync: the latest position the source asked an ACK for and not yet acknowledged.
         * ACKs are grouped: while more packets are already waiting, they are read first, then one
         * fdatasync and one ACK (for the latest position) cover them all. */
        bool ackOwed = false;
        char ackFile[SEGMENT_FILE_MAX];
        uint64_t ackPos = 0;
        uint64_t now = 0; /* retryNowCoarseMs(), read where a transaction may start (below) */
        unsigned eventsSinceClock = 0;
        bool firstFde = true;

        for (;;) {
            const uint8_t *ev;
            size_t len;
            bool heartbeat, ackWanted;
            uint64_t seqBefore, txnsBefore, wall, due;

            if (atomic_load(&a->stop) && !stopping) {
                stopping = true;
                stopAt = retryNowMs() + (uint64_t)a->cfg->shutdownGraceMs;
            }
            if (stopping && (!segmenterInTxn(a->segmenter) || retryNowMs() > stopAt))
                break;
            /* A plain load per event; the exchange only once the monitor set it. */
            if (atomic_load_explicit(&a->reselect, memory_order_relaxed) && !segmenterInTxn(a->segmenter) &&
                atomic_exchange(&a->reselect, false)) {
                errSet(&err, ERR_SOURCE, "the source is no longer the writable primary");
                break;
            }
            if (!segmenterInTxn(a->segmenter) && spoolMaxBytes(a->spool) > 0 &&
                spoolBytes(a->spool) >= spoolMaxBytes(a->spool)) {
                /* Seal what is open so that it can drain, then wait: backpressure. */
                seqBefore = segmenterLastSeq(a->segmenter);
                rc = segmenterCut(a->segmenter, &err);
                agentAfterSeal(a, seqBefore);
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
             * to half an interval later). While events wait to be read before the previous
             * one's clock reading says the interval is over, the next push decides: no clock
             * read here. */
            if ((due = segmenterCutDueMs(a->segmenter)) != 0 && !(now < due && binlogClientPending(c))) {
                now = retryNowCoarseMs();
                if (now >= due || !binlogClientWait(c, (int)(due - now < 1000 ? due - now : 1000))) {
                    seqBefore = segmenterLastSeq(a->segmenter);
                    rc = segmenterTick(a->segmenter, retryNowCoarseMs(), &err);
                    agentAfterSeal(a, seqBefore);
                    if (rc < 0)
                        break;
                    if (segmenterLastSeq(a->segmenter) != seqBefore)
                        publishEvent(a, c, false, true, timeNowCoarseUs(), retryNowCoarseMs());
                    continue;
                }
            }
            rc = binlogClientRead(c, &ev, &len, &err);
            if (rc <= 0) {
                if (rc == 0)
                    errSet(&err, ERR_SOURCE, "the source ended the binlog stream");
                break;
            }
            heartbeat = ev[4] == BINLOG_HEARTBEAT || ev[4] == BINLOG_HEARTBEAT_V2;
            /* The clocks are read where a transaction may start, for a heartbeat, and every
             * STREAM_CLOCK_EVENTS events inside a transaction, not for every event: the
             * segmenter cuts only between transactions, a transaction's commit time is estimated
             * at its first event, and the published state needs no finer time than its batches
             * (RECV_PUBLISH_MS). The segmenter's interval and the published state share the
             * monotonic reading. Both clocks are the coarse ones (the last kernel tick, 4 ms here):
             * a VM's precise read (kvm-clock) was 6% of this thread on small events, twice per
             * transaction, and what they time needs no finer: a cut at the interval's end (200 ms
             * by default) a tick late, a state published a tick late, and a transaction's commit
             * estimated (segmenterSetClock()) up to a tick early, so an RPO a tick longer. All the
             * loop's monotonic readings are coarse, so none is later than the next one. */
            bool clockDue = heartbeat || !segmenterInTxn(a->segmenter) || ++eventsSinceClock >= STREAM_CLOCK_EVENTS;

            if (clockDue) {
                now = retryNowCoarseMs();
                eventsSinceClock = 0;
            }
            ackWanted = a->cfg->semiSync && binlogClientAckRequested(c);
            if (ackWanted) {
                snprintf(ackFile, sizeof(ackFile), "%s", binlogClientFile(c));
                ackPos = binlogClientPosition(c);
            }
            seqBefore = segmenterLastSeq(a->segmenter);
            txnsBefore = segmenterTransactions(a->segmenter);
            wall = 0;
            if (clockDue) {
                wall = timeNowCoarseUs();
                segmenterSetClock(a->segmenter, wall);
            }
            /* The stream's first FDE is rewritten when it starts mid-file: by GTID, or by
             * position past offset 4 (then with log_pos 0). */
            if (ev[4] == BINLOG_FORMAT_DESCRIPTION && firstFde) {
                firstFde = false;
                if ((byGtid || (len >= 19 && rdU32(ev + 13) == 0)) && binlogClientFile(c)[0] != '\0' &&
                    !segmenterHasFileFde(a->segmenter, binlogClientFile(c)))
                    useFileFde(a, &opts, binlogClientFile(c));
            }
            if (segmenterPush(a->segmenter, ev, len, now, &err) != 0)
                break;
            if (ev[4] == BINLOG_MARIA_START_ENCRYPTION)
                warnSourceEncrypts(a);
            if (a->cfg->semiSync) {
                if (agentJournalEvent(a, ev, len, heartbeat, seqBefore, &err) != 0)
                    break;
                agentAfterSeal(a, seqBefore);
                if (a->unsyncedFirstUs == 0 && segmenterLastSeq(a->segmenter) == seqBefore &&
                    (segmenterInTxn(a->segmenter) || segmenterTransactions(a->segmenter) != txnsBefore))
                    a->unsyncedFirstUs = segmenterTxnCommitUs(a->segmenter);
                ackOwed |= ackWanted;
                if (ackOwed && !binlogClientPending(c)) {
                    if (agentAcknowledge(a, c, ackFile, ackPos, &err) != 0)
                        break;
                    ackOwed = false;
                }
            }
            if (segmenterTransactions(a->segmenter) != txnsBefore)
                a->recvEndedTxnUs = segmenterTxnCommitUs(a->segmenter);
            publishEvent(a, c, heartbeat, segmenterLastSeq(a->segmenter) != seqBefore, wall, now);
        }
        publishEvent(a, c, false, true, timeNowCoarseUs(), retryNowCoarseMs()); /* what the last batch left unpublished */
        binlogClientFree(c);
        publishConnected(a, false, false);
        if (stopping && !segmenterInTxn(a->segmenter)) {
            uint64_t seqBefore = segmenterLastSeq(a->segmenter);

            rc = segmenterCut(a->segmenter, &err);
            agentAfterSeal(a, seqBefore);
            if (rc < 0) {
                /* Nothing is lost: the next run reads it again from the source. */
                logError("unable to seal the open segment at shutdown (it is read again from the source at the "
                         "next start): %s", err.msg);
                agentNoteError(a, err.msg);
                dropOpen(a, &err);
            }
            break;
        }
        if (stopping) {
            if (dropOpen(a, &err) != 0)
                logError("%s", err.msg);
            break;
        }
        /* The source is gone (maybe for good: a dead primary): the whole transactions received are
         * sealed now rather than dropped to be read again, so that the archive holds them at once.
         * Semi-sync seals its journal up to the last boundary in dropOpen(). */
        if (err.code != ERR_IO && !a->cfg->semiSync && !segmenterInTxn(a->segmenter)) {
            uint64_t seqBefore = segmenterLastSeq(a->segmenter);
            Err sealErr = {0};

            if (segmenterCut(a->segmenter, &sealErr) < 0) {
                logError("unable to seal the transactions received before the stream broke (they are read again "
                         "from the source when it is back): %s", sealErr.msg);
                agentNoteError(a, sealErr.msg);
            }
            agentAfterSeal(a, seqBefore);
        }
        if (streamErrPermanent(err.code)) {
            streamFail(a, &err, byGtid);
            break;
        }
        /* ERR_IO is the spool's (the stream's own errors are ERR_SOURCE): the open segment is
         * dropped and the stream waits until the spool works again. */
        bool spoolFailed = err.code == ERR_IO;

        if (!spoolFailed) {
            logWarn("source stream interrupted: %s", err.msg);
            agentNoteError(a, err.msg);
        }
        if (dropOpen(a, &err) != 0)
            spoolFailed = true;
        if (spoolFailed) {
            if (err.code != ERR_IO || spoolRecover(a, &err) != 0) {
                agentFail(a, &err);
                break;
            }
            retryReset(&retry);
            continue;
        }
    retry:
        if (atomic_load(&a->stop))
            break;
        uint64_t delay = retryNext(&retry, retryNowMs());

        logWarn("reconnecting to the source in %" PRIu64 " ms: %s", delay, err.msg);
        agentSleep(a, delay);
    }
    /* Also waits for the segments sealed behind the stream: committed (and queued for upload)
     * before the uploader stops. */
    if (a->segmenter != NULL)
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
