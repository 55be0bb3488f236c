/*
 * Semi-sync: the open segment is journaled (spool journal/) as it is received, and the source's
 * ACK requests are answered once the journal is synced, so that every acknowledged transaction
 * survives a crash. What a journal holds up to its last transaction boundary is sealed after a
 * crash (at start-up) or when the stream breaks; a journal that cannot be replayed is kept as
 * .bad and reported.
 */
#include "agent/agent_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

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
int
agentRecoverJournal(Agent *a, Segmenter *seg, Err *err) {
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
        /* The journal holds the stream as received: from a GTID state, the segmenter frames it
         * as it did live (agent/stream.c startStream()). */
        if (segmenterResumesByGtid(seg))
            segmenterExpectGtidStart(seg);
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
            agentNoteError(a, msg);
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
int
agentRecoverAtStart(Agent *a, Err *err) {
    uint64_t *seqs = NULL;
    size_t n = 0;
    SpoolJournalHead head;
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
    seg = agentSegmenterNew(a, head.flavour, head.serverId, head.serverUuid, a->timeline);
    a->segmenter = seg;
    rc = agentResume(a, seg, err);
    if (rc == 0 && (rc = agentRecoverJournal(a, seg, err)) != 0 && err->code == ERR_IO)
        errPrefix(err, "unable to seal the semi-sync journal into spool '%s' (it is kept; the next start retries)",
                  spoolDir(a->spool));
    a->segmenter = NULL;
    segmenterFree(seg);
    return rc;
}

/* After a segmenter call that may have sealed: a sealed segment is durable in ready/, its journal
 * is done with. */
void
agentAfterSeal(Agent *a, uint64_t seqBefore) {
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
int
agentJournalEvent(Agent *a, const uint8_t *ev, size_t len, bool heartbeat, uint64_t seqBefore, Err *err) {
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
int
agentAcknowledge(Agent *a, BinlogClient *c, const char *file, uint64_t pos, Err *err) {
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
