/*
 * The agent's start-up: the archive as it is (catalog, segments stored but not indexed, the
 * checkpoint), the source's identity checked against the archive's (at start-up, and on every
 * connection with its history and replica state: agentCheckSource()), where the stream resumes
 * (spool, archive, or the start options), and the spool's sealed segments queued for upload
 * again, with the check that archive and spool together leave no gap.
 */
#include "agent/agent_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"
#include "archive/gap.h"
#include "archive/upgrade.h"
#include "binlog/gtid.h"
#include "binlog/pos.h"

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

/* Move the checkpoint over segment m, the next one indexed. */
static void
checkpointTake(ArchiveCheckpoint *cp, const SegmentMeta *m) {
    cp->seq = m->seq;
    snprintf(cp->file, sizeof(cp->file), "%s", m->file);
    cp->endPos = m->endPos;
    bvFree(cp->gtidEnd);
    cp->gtidEnd = bvStrdup(segmentMetaGtidEnd(m));
    if (m->transactions > 0) {
        snprintf(cp->lastGtid, sizeof(cp->lastGtid), "%s", m->lastGtid);
        cp->lastTimeUs = m->lastTimeUs;
    }
}

/* Open the archive's catalog: upgrade a format-1 archive, read the summaries and the tail only;
 * index segments that were stored but not indexed (a crash came in between); start the index
 * writer; take the checkpoint (its caught_up_us especially). a->catalog keeps the last segment, where
 * the stream resumes. */
static int
loadArchive(Agent *a, Err *err) {
    size_t indexed = 0;
    uint64_t lastSeq;
    ArchiveCheckpoint stored;
    const ArchiveCatalog *tail;
    ArchiveView *v;
    SegmentMeta last;
    Err e;

    if (archiveUpgradeOnOpen(a->archive, NULL, err) != 0 && err->code != ERR_NOTFOUND)
        return errPrefix(err, "unable to upgrade the archive '%s'", storageUrl(a->storage));
    if ((v = archiveViewOpen(a->archive, ARCHIVE_LOAD_DISCOVER, err)) == NULL)
        return errPrefix(err, "unable to read the archive '%s'", storageUrl(a->storage));
    for (size_t i = 0; i < archiveViewProblemCount(v); i++)
        logWarn("archive '%s': %s", storageUrl(a->storage), archiveViewProblem(v, i));
    archiveIndexWriterFree(a->indexWriter);
    if ((a->indexWriter = archiveIndexWriterNew(a->archive, v, err)) == NULL)
        goto fail;
    a->indexedSeq = archiveIndexWriterLastSeq(a->indexWriter);
    archiveCheckpointClear(&a->cp);
    if (archiveCheckpointFromView(v, &a->cp, err) != 0)
        goto fail;
    /* After the contiguous run: segments stored but not indexed are hashed (their index lines need
     * the object's sha256) and indexed as soon as they follow; the others wait for the spool to fill
     * the hole (a SIGKILL left the segment before them only in the spool). */
    tail = archiveViewTail(v);
    for (size_t i = 0; i < archiveCatalogCount(tail); i++) {
        SegmentMeta m;
        bool isIndexed = archiveCatalogIndexed(tail, i);

        if (archiveCatalogAt(tail, i)->seq <= a->indexedSeq)
            continue;
        segmentMetaCopy(&m, archiveCatalogAt(tail, i));
        if (!isIndexed && archiveSegmentHash(a->archive, &m, err) != 0) {
            segmentMetaClear(&m);
            goto fail;
        }
        if (m.seq == a->indexedSeq + 1) {
            if (archiveIndexWriterPut(a->indexWriter, &m, 1, err) != 0) {
                segmentMetaClear(&m);
                goto fail;
            }
            a->indexedSeq = m.seq;
            indexed += !isIndexed;
            checkpointTake(&a->cp, &m); /* the view's checkpoint ends before what is indexed here */
            segmentMetaClear(&m);
        } else {
            agentAddPending(a, &m, isIndexed, false);
        }
    }
    if (indexed > 0)
        logInfo("indexed %zu segments that an earlier run stored but did not index", indexed);
    if (agentLoadTimelines(a, err) != 0)
        goto fail;
    if (archiveCheckpointRead(a->archive, &stored, &e) == 0) {
        a->cp.caughtUpUs = stored.caughtUpUs;
        a->cpDirty = stored.seq != a->cp.seq;
        archiveCheckpointClear(&stored);
    } else {
        a->cpDirty = a->cp.seq > 0;
    }
    pthread_mutex_lock(&a->statLock);
    agentPublishCheckpointLocked(a);
    a->live.unreceivedSinceUs = a->cp.caughtUpUs > a->cp.lastTimeUs ? a->cp.caughtUpUs : a->cp.lastTimeUs;
    pthread_mutex_unlock(&a->statLock);
    archiveCatalogFree(a->catalog);
    a->catalog = archiveCatalogNew();
    lastSeq = archiveViewLastSeq(v);
    if (lastSeq > 0) {
        if (archiveViewGet(v, lastSeq, &last, err) != 0 || archiveCatalogAdd(a->catalog, &last, true, err) != 0) {
            segmentMetaClear(&last);
            goto fail;
        }
        a->cpEndsFile = last.endsFile;
        logInfo("archive '%s': segments up to %" PRIu64 ", complete up to %s:%" PRIu64 " (gtid '%s')",
                storageUrl(a->storage), lastSeq, last.file, last.endPos, last.lastGtid);
        segmentMetaClear(&last);
    } else {
        logInfo("archive '%s' is empty", storageUrl(a->storage));
    }
    archiveViewFree(v);
    return 0;
fail:
    archiveViewFree(v);
    return errPrefix(err, "unable to index the archive '%s'", storageUrl(a->storage));
}

/* A step on the store failed at start: whether to try it again (a transient store error, while the
 * agent is not stopping), after saying what failed; *delay is the wait before the next try. */
static bool
storeRetryDue(Agent *a, Retry *retry, const char *what, const Err *err, uint64_t *delay) {
    if (err->code != ERR_STORAGE || atomic_load(&a->stop))
        return false;
    *delay = retryNext(retry, retryNowMs());
    logWarn("unable to %s, retrying in %" PRIu64 " ms: %s", what, *delay, err->msg);
    agentNoteError(a, err->msg);
    return true;
}

int
agentLoadArchive(Agent *a, Err *err) {
    Retry retry;

    agentRetryInit(a, &retry, 0);
    while (loadArchive(a, err) != 0) {
        uint64_t delay;

        if (!storeRetryDue(a, &retry, "read the archive", err, &delay))
            return -1;
        archiveCatalogFree(a->catalog);
        a->catalog = NULL;
        for (size_t i = 0; i < a->pendingCount; i++)
            segmentMetaClear(&a->pending[i].meta);
        a->pendingCount = 0;
        /* The loop is not running yet: a signal is seen through the loop only once it runs. */
        event_base_loop(a->base, EVLOOP_NONBLOCK);
        agentSleep(a, delay);
        event_base_loop(a->base, EVLOOP_NONBLOCK);
    }
    return 0;
}

/* Continue after the spool's last sealed segment. */
int
agentResumeFromState(Segmenter *seg, const SpoolState *st, Err *err) {
    const char *file = st->endsFile && st->nextFile[0] ? st->nextFile : st->file;
    uint64_t pos = st->endsFile && st->nextFile[0] ? 4 : st->endPos;

    return segmenterResume(seg, st->seq, file, pos, st->gtidEnd, pos > 4 ? st->fde : NULL, pos > 4 ? st->fdeLen : 0,
                           err);
}

/* Where to resume: the spool's last sealed segment, else the archive's last segment, else the
 * start option, else the oldest binlog on the source. */
int
agentResume(Agent *a, Segmenter *seg, Err *err) {
    SpoolState st;
    const SegmentMeta *last = archiveCatalogLast(a->catalog);
    uint64_t archiveSeq = last ? last->seq : 0;
    int rc = -1;

    if (spoolReadState(a->spool, &st, err) != 0)
        return -1;
    /* With --accept-gap the start options apply after what is sealed (agentResumeAcrossGap()). */
    if ((st.valid || archiveSeq > 0) && (a->cfg->startGtid || a->cfg->startPosition) && !a->cfg->acceptGap) {
        errSet(err, ERR_USAGE, "the archive (or spool) already holds segments up to %" PRIu64 " (%s:%" PRIu64
               "): remove --start-gtid/--start-position to resume from there (or, if the source no longer has "
               "that binlog, add --accept-gap to go on from the start option and record the gap)",
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
        rc = agentResumeFromState(seg, &st, err);
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
        a->startFromOption = true;
    } else if (a->cfg->startGtid) {
        rc = segmenterResume(seg, 0, "", 0, a->cfg->startGtid, NULL, 0, err);
        a->startFromOption = true;
    } else {
        rc = segmenterResume(seg, 0, "", 4, "", NULL, 0, err);
    }
done:
    spoolStateClear(&st);
    return rc;
}

int
agentResumeAcrossGap(Agent *a, Segmenter *seg, Err *err) {
    SpoolState st;
    const SegmentMeta *last = archiveCatalogLast(a->catalog);
    ArchiveGapRecord rec;
    BinlogPos start;
    char name[64], what[2200];
    int rc = -1;

    memset(&rec, 0, sizeof(rec));
    memset(&start, 0, sizeof(start));
    if (spoolReadState(a->spool, &st, err) != 0)
        return -1;
    if (a->cfg->startPosition == NULL && a->cfg->startGtid == NULL) {
        errSet(err, ERR_USAGE, "--accept-gap needs --start-position FILE:POS or --start-gtid GTID: where the stream "
                               "starts again after the gap");
        goto done;
    }
    /* The gap starts where the last sealed segment ends: the spool's, else the archive's. */
    if (st.valid && (last == NULL || st.seq >= last->seq)) {
        rec.afterSeq = st.seq;
        snprintf(rec.from.file, sizeof(rec.from.file), "%s", st.file);
        rec.from.pos = st.endPos;
        rec.from.gtidState = bvStrdup(st.gtidEnd ? st.gtidEnd : "");
    } else if (last != NULL) {
        rec.afterSeq = last->seq;
        snprintf(rec.from.file, sizeof(rec.from.file), "%s", last->file);
        rec.from.pos = last->endPos;
        rec.from.gtidState = bvStrdup(segmentMetaGtidEnd(last));
    } else {
        errSet(err, ERR_USAGE, "--accept-gap: the archive '%s' and the spool '%s' are empty, there is no gap to "
               "accept: remove --accept-gap", storageUrl(a->storage), spoolDir(a->spool));
        goto done;
    }
    rec.beforeSeq = rec.afterSeq + 1;
    if (a->cfg->startPosition != NULL) {
        int cmp;

        if (binlogPosOptParseStart(a->cfg->startPosition, &start, err) != 0) {
            errPrefix(err, "--start-position");
            goto done;
        }
        cmp = segmentFileCompare(start.file, rec.from.file);
        if (cmp < 0 || (cmp == 0 && start.pos <= rec.from.pos)) {
            errSet(err, ERR_USAGE, "--start-position %s:%" PRIu64 " is not after the end of what is archived (%s:%" PRIu64
                   "): there is no gap to accept; remove --accept-gap and --start-position to resume from there",
                   start.file, start.pos, rec.from.file, rec.from.pos);
            goto done;
        }
        snprintf(rec.to.file, sizeof(rec.to.file), "%s", start.file);
        rec.to.pos = start.pos;
        rec.to.gtidState = bvStrdup("");
    } else {
        bool contains = false;

        if (rec.from.gtidState[0] != '\0' &&
            gtidStateTextContains(a->flavour, rec.from.gtidState, a->cfg->startGtid, &contains, err) != 0) {
            errPrefix(err, "--start-gtid");
            goto done;
        }
        if (contains) {
            errSet(err, ERR_USAGE, "--start-gtid '%s' is already archived (the archive ends at gtid state '%s'): there "
                   "is no gap to accept; remove --accept-gap and --start-gtid to resume from there",
                   a->cfg->startGtid, rec.from.gtidState);
            goto done;
        }
        rec.to.gtidState = bvStrdup(a->cfg->startGtid);
    }
    archiveGapRecordDescribe(&rec, what, sizeof(what));
    snprintf(rec.reason, sizeof(rec.reason), "--accept-gap: the source no longer had what came after %s:%" PRIu64,
             rec.from.file, rec.from.pos);
    /* Recorded before anything after it is stored: a reader never sees the new segments without it. */
    if (archiveGapRecordWrite(a->archive, &rec, err) != 0) {
        errPrefix(err, "unable to record the accepted gap");
        goto done;
    }
    archiveGapName(rec.beforeSeq, name, sizeof(name));
    logWarn("accepting a gap after segment %" PRIu64 ": %s; recorded as '%s' (verify accepts it, recovery will not "
            "cross it)", rec.afterSeq, what, name);
    rc = segmenterResume(seg, rec.afterSeq, start.file, start.file[0] ? start.pos : 0,
                         a->cfg->startPosition ? "" : a->cfg->startGtid, NULL, 0, err);
    a->startFromOption = true;
    a->startSeq = rec.afterSeq;
done:
    archiveGapRecordClear(&rec);
    spoolStateClear(&st);
    return rc;
}

/* The archive's identity is this source's: written when the archive has none, checked otherwise. */
static int
ensureIdentity(Agent *a, BinlogFlavour flavour, uint32_t serverId, const char *uuid, const char *version, Err *err) {
    ArchiveIdentity id;

    memset(&id, 0, sizeof(id));
    id.flavour = flavour;
    id.serverId = serverId;
    snprintf(id.serverUuid, sizeof(id.serverUuid), "%s", uuid);
    snprintf(id.serverVersion, sizeof(id.serverVersion), "%s", version);
    snprintf(id.source, sizeof(id.source), "%s:%u", agentSourceUrl(a)->host, agentSourceUrl(a)->port);
    return archiveIdentityEnsure(a->archive, &id, &a->archiveId, err);
}

/* The identity of an archive that has none yet, from a spooled segment: the spool can be
 * archived before the source is reachable (or, with --drain, without it). */
static int
identityFromSpool(Agent *a, const SegmentMeta *m, Err *err) {
    return ensureIdentity(a, m->flavour, m->serverId, m->serverUuid, m->serverVersion, err);
}

/* Segments sealed by an earlier run and not yet archived go to the uploader first (and count
 * for the RPO). Together, the archive and the spool must hold every segment after the
 * checkpoint: a hole in both is a gap. */
int
agentResubmitSpool(Agent *a, Err *err) {
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
            /* Named as this archive names its segments, whatever the spool's writer said. */
            if ((rc = archiveSegmentSetName(a->archive, &metas[i], err)) != 0)
                break;
            pthread_mutex_lock(&a->statLock);
            if (metas[i].transactions > 0)
                agentAddUnarchivedLocked(a, metas[i].seq, metas[i].firstTimeUs);
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
 * the source or the store cannot be reached. */
int
agentIdentify(Agent *a, Err *err) {
    BinlogClientOpts opts;
    BinlogClient *c;
    Retry retry;

    binlogClientOptsInit(&opts);
    opts.serverId = (uint32_t)a->cfg->serverId;
    agentRetryInit(a, &retry, 0);
    for (;;) {
        uint64_t delay;

        if (agentSelectSource(a, err) == 0) {
            opts.conn = agentSourceConnOpts(a);
            c = binlogClientNew(&opts);
            if (binlogClientConnect(c, err) == 0)
                break;
            binlogClientFree(c);
        }
        if (err->code != ERR_SOURCE || atomic_load(&a->stop))
            return -1;
        delay = retryNext(&retry, retryNowMs());
        logWarn("unable to reach the source, retrying in %" PRIu64 " ms: %s", delay, err->msg);
        agentNoteError(a, err->msg);
        agentSleep(a, delay);
    }
    a->flavour = binlogClientFlavour(c);
    a->sourceServerId = binlogClientServerId(c);
    snprintf(a->sourceUuid, sizeof(a->sourceUuid), "%s", binlogClientServerUuid(c) ? binlogClientServerUuid(c) : "");
    snprintf(a->sourceVersion, sizeof(a->sourceVersion), "%s", binlogClientServerVersion(c));
    pthread_mutex_lock(&a->statLock);
    a->flavourKnown = true;
    pthread_mutex_unlock(&a->statLock);
    binlogClientFree(c);
    /* The archive's identity is read (and written once) on the store: a store that fails now (a
     * reset connection, an outage) is waited for, as at the archive's first read. */
    agentRetryInit(a, &retry, 0);
    while (ensureIdentity(a, a->flavour, a->sourceServerId, a->sourceUuid, a->sourceVersion, err) != 0) {
        uint64_t delay;

        if (!storeRetryDue(a, &retry, "check the archive's identity", err, &delay))
            return -1;
        agentSleep(a, delay);
    }
    return 0;
}

/* ERR_GAP: the source cannot be archived into this archive; what is wrong, and what to do. */
static int
refuseSource(Agent *a, BinlogClient *c, const char *what, Err *err) {
    return errSet(err, ERR_GAP,
                  "refusing to archive '%s' into '%s': %s. The archive would mix two servers' histories: archive it "
                  "into a new archive (or point the agent back at the original source), see docs/OPERATIONS.md "
                  "\"Failover\"", binlogClientUrl(c), storageUrl(a->storage), what);
}

/* MariaDB: the archive's end holds GTIDs this server wrote in another gtid_domain_id than its
 * own now. A deliberate change is allowed (said once); after a failover it is one more hint. */
static void
checkDomain(Agent *a, BinlogClient *c, const SqlSourceInfo *info) {
    char *end = segmenterGtidState(a->segmenter);
    MariaGtidPos *pos = mariaGtidPosNew();
    bool own = false, same = false;
    Err e;

    if (info->domainKnown && end[0] != '\0' && mariaGtidPosParse(pos, end, &e) == 0) {
        for (size_t i = 0; i < mariaGtidPosCount(pos); i++) {
            MariaGtid g;

            mariaGtidPosAt(pos, i, &g);
            own |= g.server == info->serverId;
            same |= g.server == info->serverId && g.domain == info->gtidDomainId;
        }
        if (own && !same && !a->domainWarned) {
            logWarn("source '%s' writes in gtid_domain_id %" PRIu32 ", but the archive's end '%s' has its GTIDs in "
                    "other domains: was gtid_domain_id changed?", binlogClientUrl(c), info->gtidDomainId, end);
            a->domainWarned = true;
        }
    }
    mariaGtidPosFree(pos);
    bvFree(end);
}

/* Whether the source is the current timeline's server (agentSourceChanged()); *why says what
 * changed when it is not. */
static bool
sameSource(Agent *a, BinlogClient *c, const SqlSourceInfo *info, char *why, size_t size) {
    char here[300];

    if (agentSourceChanged(a, c, info, why, size))
        return false;
    checkDomain(a, c, info);
    /* The same server may be reached by another name or address (a virtual IP, DNS). */
    snprintf(here, sizeof(here), "%s:%u", agentSourceUrl(a)->host, agentSourceUrl(a)->port);
    if (strcmp(a->tlSource.host, here) != 0 && strcmp(a->tlSource.host, "import") != 0 && !a->hostSaid) {
        logInfo("source '%s' is timeline %" PRIu32 "'s server_id %" PRIu32 " (reached at '%s' before)", here,
                a->timeline, info->serverId, a->tlSource.host);
        a->hostSaid = true;
    }
    return true;
}

/* The source's binlogs hold the archive's end: its GTID state is in the source's (@@gtid_binlog_pos,
 * MySQL @@gtid_executed), and on MariaDB, where the source still has the file, BINLOG_GTID_POS()
 * at the archive's end position is that state, server ids included. *proven: the stream may
 * continue at the archive's end position (MariaDB: that state is there; MySQL: the server, by its
 * server_uuid, still has the file). */
static int
checkHistory(Agent *a, BinlogClient *c, SqlConn *sql, bool held, bool *proven, char *what, size_t whatSize,
             Err *err) {
    const char *file = segmenterFile(a->segmenter);
    uint64_t pos = segmenterPos(a->segmenter);
    char *end = segmenterGtidState(a->segmenter), *state = NULL, *at = NULL;
    bool contains = true, equal = true;
    int rc = -1;

    if (!held) {
        bvFree(end);
        return 0;
    }
    if (end[0] != '\0') {
        if (sqlBinlogGtidState(sql, a->flavour, &state, err) != 0 ||
            gtidStateTextContains(a->flavour, state, end, &contains, err) != 0)
            goto done;
        if (!contains) {
            snprintf(what, whatSize, "its history does not contain the archive's end '%s' (its binlogs end at '%s')",
                     end, state);
            rc = 0;
            goto done;
        }
    }
    /* MySQL has no BINLOG_GTID_POS(): its position is not proven (the stream continues by it). */
    if (a->flavour == BINLOG_FLAVOUR_MARIADB && file[0] != '\0' && sqlBinlogGtidPos(sql, file, pos, &at, err) != 0)
        goto done;
    if (at != NULL && end[0] != '\0' && gtidStateTextEqual(a->flavour, at, end, &equal, err) != 0)
        goto done;
    if (!equal) {
        snprintf(what, whatSize, "its history does not contain the archive's end '%s': at '%s':%" PRIu64 " its "
                 "binlogs are at GTID state '%s'", end, file, pos, at);
        rc = 0;
        goto done;
    }
    *proven = at != NULL && end[0] != '\0';
    /* MySQL: the same server_uuid (checkIdentity()) still has the file, with the end's GTIDs. */
    if (a->flavour == BINLOG_FLAVOUR_MYSQL && end[0] != '\0' && file[0] != '\0' && sqlBinlogHas(sql, file, proven, err) != 0)
        goto done;
    /* A file the source no longer has is the stream's to report (a purged binlog). */
    if (a->flavour == BINLOG_FLAVOUR_MARIADB && at == NULL && file[0] != '\0' && end[0] == '\0')
        logWarn("'%s' has no binlog position '%s':%" PRIu64 " (purged, or a different server): its history cannot be "
                "checked against the archive's", binlogClientUrl(c), file, pos);
    rc = 0;
done:
    bvFree(state);
    bvFree(at);
    bvFree(end);
    return rc;
}

/* A replica source must log what it replicates, or the archive misses those transactions. */
static int
checkReplica(Agent *a, BinlogClient *c, const SqlSourceInfo *info, Err *err) {
    if (!info->replicaKnown) {
        if (!a->replicaWarned)
            logWarn("source '%s': %s", binlogClientUrl(c), info->replicaWarning);
        a->replicaWarned = true;
        return 0;
    }
    if (info->isReplica && !info->logReplicaUpdates)
        return errSet(err, ERR_CONFIG,
                      "source '%s' is a replica with %s=OFF: the transactions it replicates are not in its binlogs, "
                      "so the archive would miss them while reporting healthy; set %s=ON on it (and restart it), "
                      "or archive its primary", binlogClientUrl(c),
                      a->flavour == BINLOG_FLAVOUR_MARIADB ? "log_slave_updates" : "log_replica_updates",
                      a->flavour == BINLOG_FLAVOUR_MARIADB ? "log_slave_updates" : "log_replica_updates");
    return 0;
}

/* --start-position on MariaDB: the segmenter takes the GTID state there (the first segment's
 * gtid_start); *proven: the source has that position, the stream starts there. */
static int
takeStartState(Agent *a, BinlogClient *c, SqlConn *sql, bool *proven, Err *err) {
    const char *file = segmenterFile(a->segmenter);
    uint64_t pos = segmenterPos(a->segmenter);
    char *at = NULL, fileCopy[SEGMENT_FILE_MAX];
    int rc;

    if (sqlBinlogGtidPos(sql, file, pos, &at, err) != 0)
        return -1;
    /* No such position: the stream's start says why (a file the source does not have, a
     * position past its end). */
    if (at == NULL)
        return 0;
    snprintf(fileCopy, sizeof(fileCopy), "%s", file);
    rc = segmenterResume(a->segmenter, segmenterLastSeq(a->segmenter), fileCopy, pos, at, NULL, 0, err);
    *proven = rc == 0;
    if (rc == 0)
        logInfo("--start-position '%s':%" PRIu64 " is at GTID state '%s' on '%s'", fileCopy, pos, at,
                binlogClientUrl(c));
    bvFree(at);
    return rc;
}

int
agentCheckSource(Agent *a, BinlogClient *c, bool *proven, Err *err) {
    SqlConn *sql = binlogClientSql(c);
    /* Until a first segment is sealed after a start option, nothing of this source is held. */
    bool fromOption = a->startFromOption && segmenterLastSeq(a->segmenter) == a->startSeq;
    bool held = !fromOption && (segmenterFile(a->segmenter)[0] != '\0' || segmenterLastSeq(a->segmenter) > 0);
    SqlSourceInfo info;
    char why[1536] = "";

    *proven = false;
    if (sql == NULL)
        return errSet(err, ERR_INTERNAL, "source checked before connecting");
    if (binlogClientFlavour(c) != a->flavour)
        return refuseSource(a, c, "it is not of the archive's flavour", err);
    if (sqlSourceInfoRead(sql, a->flavour, binlogClientServerVersionId(c), &info, err) != 0 ||
        checkReplica(a, c, &info, err) != 0)
        return -1;
    if (fromOption && a->cfg->startPosition != NULL && a->flavour == BINLOG_FLAVOUR_MARIADB)
        return takeStartState(a, c, sql, proven, err);
    if (!held) {
        /* Nothing of this source is held yet: binvault.json still names the server an archive follows. */
        if (!sameSource(a, c, &info, why, sizeof(why)))
            return refuseSource(a, c, why, err);
        return 0;
    }
    /* Another server, or the same one without the archive's end (it lost transactions): the
     * next timeline, from the fork point. */
    if (sameSource(a, c, &info, why, sizeof(why))) {
        if (checkHistory(a, c, sql, held, proven, why, sizeof(why), err) != 0)
            return -1;
        if (why[0] == '\0')
            return 0;
        *proven = false;
    }
    return agentStartTimeline(a, c, sql, &info, why, err);
}
