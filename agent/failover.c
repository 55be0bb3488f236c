/*
 * Following the primary through a failover (docs/OPERATIONS.md "Failover", docs/FORMAT.md
 * "Timelines"): the agent's current timeline and its source identity, and what a connection to
 * another source does. A source whose identity is not the current timeline's (or whose history
 * does not hold the archive's end) starts the next timeline: the fork point is found by GTID
 * (agent/fork.h) in what the archive holds, the transactions the old source archived after it are
 * the diverged branch (logged loudly, published for /status, /metrics and /healthz), the timeline
 * record is stored, and only then does the stream continue from the new source, strictly after
 * the fork's GTID state: no gap, no duplicate, nothing of the new source stored without its
 * record.
 */
#include "agent/agent_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/fork.h"
#include "archive/summary.h"
#include "binlog/txn.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/time.h"

/* The archive's current timeline at start-up: the newest record, or timeline 1 from
 * binvault.json (its binlog base name from where the archive ends). A newest timeline without a
 * segment yet (the agent stopped between its record and its first segment) resumes at its fork. */
int
agentLoadTimelines(Agent *a, Err *err) {
    TimelineSet *set;
    const TimelineRecord *rec;

    if (timelineSetLoad(a->archive, &set, err) != 0)
        return errPrefix(err, "unable to read the timelines of '%s'", storageUrl(a->storage));
    a->timeline = timelineSetNewest(set);
    rec = timelineSetFind(set, a->timeline);
    memset(&a->tlSource, 0, sizeof(a->tlSource));
    bvFree(a->tlForkState);
    a->tlForkState = NULL;
    if (rec != NULL) {
        a->tlSource = rec->source;
        a->tlFirstSeq = rec->firstSeq;
        if (rec->hasFork)
            a->tlForkState = bvStrdup(rec->fork.gtidState ? rec->fork.gtidState : "");
    } else {
        ArchiveIdentity id;
        Err e;

        /* No identity yet (an empty archive): the first source is timeline 1's. */
        if (archiveIdentityRead(a->archive, &id, &e) == 0) {
            a->tlSource.flavour = id.flavour;
            a->tlSource.serverId = id.serverId;
            snprintf(a->tlSource.serverUuid, sizeof(a->tlSource.serverUuid), "%s", id.serverUuid);
            snprintf(a->tlSource.host, sizeof(a->tlSource.host), "%s", id.source);
        }
        a->tlFirstSeq = 1;
    }
    timelineSetFree(set);
    pthread_mutex_lock(&a->statLock);
    a->live.timeline = a->timeline;
    pthread_mutex_unlock(&a->statLock);
    return 0;
}

void
agentTimelineResume(Agent *a, Segmenter *seg) {
    uint64_t last = segmenterLastSeq(seg);
    Err err;

    if (a->timeline <= 1 || a->tlFirstSeq <= last || a->tlForkState == NULL || a->tlForkState[0] == '\0')
        return;
    /* Nothing of the newest timeline is sealed: it starts at its fork, from its source. */
    if (segmenterResume(seg, last, "", 0, a->tlForkState, NULL, 0, &err) == 0)
        logInfo("timeline %" PRIu32 " has no segment yet: it starts after GTID state '%s' (its fork point)",
                a->timeline, a->tlForkState);
    else
        logWarn("unable to resume timeline %" PRIu32 " at its fork: %s", a->timeline, err.msg);
}

/* The identity of the source behind this connection. */
static void
sourceOf(Agent *a, BinlogClient *c, const SqlSourceInfo *info, TimelineSource *out) {
    const MysqlUrl *url = agentSourceUrl(a);

    memset(out, 0, sizeof(*out));
    out->flavour = a->flavour;
    out->serverId = info->serverId;
    snprintf(out->serverUuid, sizeof(out->serverUuid), "%s", info->serverUuid);
    snprintf(out->host, sizeof(out->host), "%s:%u", url->host, url->port);
    snprintf(out->basename, sizeof(out->basename), "%s", info->binlogBasename);
    snprintf(out->serverVersion, sizeof(out->serverVersion), "%s", binlogClientServerVersion(c));
    out->hasDomainId = info->domainKnown;
    out->domainId = info->gtidDomainId;
}

bool
agentSourceChanged(Agent *a, BinlogClient *c, const SqlSourceInfo *info, char *why, size_t size) {
    TimelineSource was = a->tlSource, now;

    sourceOf(a, c, info, &now);
    if (was.flavour == BINLOG_FLAVOUR_UNKNOWN) {
        /* The archive's first source: timeline 1's. */
        a->tlSource = now;
        return false;
    }
    /* Timeline 1 of an archive without records: its base name is where the archive ends. */
    if (was.basename[0] == '\0' && segmenterFile(a->segmenter)[0] != '\0') {
        timelineBasename(segmenterFile(a->segmenter), a->tlSource.basename, sizeof(a->tlSource.basename));
        was = a->tlSource;
    }
    /* The same server reached at another address (a virtual IP, a proxy, DNS) is not a new
     * timeline: its history decides (checkHistory()). */
    was.host[0] = now.host[0] = '\0';
    /* A deliberate change of gtid_domain_id on the same server goes on, with a warning
     * (checkDomain()). */
    was.hasDomainId = now.hasDomainId = false;
    if (was.basename[0] == '\0')
        now.basename[0] = '\0';
    return timelineSourceCompare(&was, &now, why, size) == 0;
}

/* The catalog's segments of the current main line, oldest first (pointers into `cat`); *set and
 * *path are the caller's to free. */
static const SegmentMeta **
mainLine(Agent *a, ArchiveCatalog *cat, TimelineSet **set, TimelinePath **path, size_t *n, Err *err) {
    const SegmentMeta **segs;

    *n = 0;
    if (timelineSetLoad(a->archive, set, err) != 0 || (*path = timelinePathNew(*set, 0, err)) == NULL)
        return NULL;
    segs = bvCalloc(archiveCatalogCount(cat) + 1, sizeof(*segs));
    for (size_t i = 0; i < archiveCatalogCount(cat); i++)
        if (timelinePathSegment(*path, archiveCatalogAt(cat, i), NULL) != TIMELINE_OFF)
            segs[(*n)++] = archiveCatalogAt(cat, i);
    return segs;
}

/* Scan segment m's transactions (up to its cut on the main line) into the fork point. */
static int
scanSegment(Agent *a, const TimelinePath *path, const SegmentMeta *m, const ForkHistory *h, ForkPoint *p, Err *err) {
    uint64_t cut = 0;
    TimelineOn on = timelinePathSegment(path, m, &cut);
    SegmentReader *r = archiveSegmentOpen(a->archive, m, err);
    BinlogTxnFramer *framer;
    BinlogEvent ev;
    uint64_t pos;
    int rc;

    if (r == NULL)
        return -1;
    framer = binlogTxnFramerNew(0);
    if (binlogTxnFramerSetGtidState(framer, m->flavour, segmentMetaGtidStart(m), err) != 0) {
        rc = -1;
        goto done;
    }
    while ((rc = segmentReaderNext(r, &ev, &pos, err)) == 1) {
        int st = binlogTxnFramerPush(framer, segmentReaderFormat(r), &ev, pos, err);

        if (st < 0) {
            rc = errPrefix(err, "segment '%s': event at %s:%" PRIu64, m->name, m->file, pos);
            break;
        }
        if ((st & 0x0f) == BINLOG_TXN_END) {
            const BinlogTxn *t = binlogTxnFramerDone(framer);
            char *after;

            if (on == TIMELINE_CUT && t->endPos > cut)
                break;
            after = binlogTxnFramerGtidState(framer);
            forkPointAdd(p, h, m->seq, m->file, t, after);
            bvFree(after);
        }
    }
done:
    binlogTxnFramerFree(framer);
    segmentReaderFree(r);
    return rc < 0 ? -1 : 0;
}

/* The first seq findFork() reads: the first seq of the block before the newest summarised block
 * whose first segment's GTID state the new source's history holds; the archive's first seq when
 * none is (the fork is in the first blocks, or nowhere). */
static int
forkRangeStart(ArchiveView *v, const ForkHistory *h, uint64_t *lo, Err *err) {
    size_t n = archiveViewSpanCount(v);

    *lo = archiveViewFirstSeq(v);
    for (size_t i = n; i > 0; i--) {
        const ArchiveSpan *s = archiveViewSpanAt(v, i - 1);
        bool has = false;

        if (s->gtidStart == NULL || s->gtidStart[0] == '\0')
            continue;
        if (forkHistoryHasState(h, s->gtidStart, &has, err) != 0)
            return -1;
        if (has) {
            if (i >= 2)
                *lo = archiveViewSpanAt(v, i - 2)->firstSeq;
            return 0;
        }
    }
    /* No block's start is held: the fork is before the first block, or nowhere. A history holds
     * every state before one it holds, so when it does not hold where the archive starts, it holds
     * nothing of the archive: say so without reading the archive (*lo = 0). */
    if (n > 0) {
        SegmentMeta first;
        bool has = false;
        int rc;

        bool known;

        if (archiveViewGet(v, archiveViewFirstSeq(v), &first, err) != 0)
            return -1;
        known = segmentMetaGtidStart(&first)[0] != '\0';
        rc = known ? forkHistoryHasState(h, segmentMetaGtidStart(&first), &has, err) : 0;
        segmentMetaClear(&first);
        if (rc != 0)
            return -1;
        if (known && !has)
            *lo = 0;
    }
    return 0;
}

/* Where the new source's history leaves the archive's main line: the archive's end when the new
 * source holds it (a clean switchover), else found in the segments from the last one whose start
 * it holds. ERR_GAP when it holds none of what the archive holds. */
static int
findFork(Agent *a, BinlogClient *c, const ForkHistory *h, ForkPoint *p, Err *err) {
    char *end = segmenterGtidState(a->segmenter);
    ArchiveView *v = NULL;
    ArchiveCatalog *cat = NULL;
    TimelineSet *set = NULL;
    TimelinePath *path = NULL;
    const SegmentMeta **segs = NULL;
    size_t n = 0, from;
    uint64_t lo;
    bool has = false, started = false;
    int rc = -1;

    /* Only the end of the archive is read: from the block before the newest summarised block whose
     * start the new source holds (a fork is found near the end; its segments up to the end are the
     * diverged branch), whatever the archive's size. */
    if ((v = archiveViewOpen(a->archive, 0, err)) == NULL || forkRangeStart(v, h, &lo, err) != 0)
        goto done;
    if (lo == 0) /* it holds nothing of the archive */
        n = 0;
    else if ((cat = archiveViewLoadRange(v, lo, archiveViewLastSeq(v), err)) == NULL ||
             (segs = mainLine(a, cat, &set, &path, &n, err)) == NULL)
        goto done;
    for (from = n; from > 0; from--) {
        if (forkHistoryHasState(h, segmentMetaGtidStart(segs[from - 1]), &has, err) != 0)
            goto done;
        if (has)
            break;
    }
    /* From the segment before, back to one with a transaction: the fork is a transaction (its
     * record names it), maybe the last one before that segment's start. */
    if (from > 0) {
        started = true;
        from--;
        if (from > 0)
            from--;
        while (from > 0 && segs[from]->transactions == 0)
            from--;
        forkPointStart(p, segs[from]->seq - 1, segs[from]->file, segs[from]->startPos, segmentMetaGtidStart(segs[from]));
        for (size_t i = from; i < n; i++)
            if (scanSegment(a, path, segs[i], h, p, err) != 0)
                goto done;
    }
    /* A fork before any GTID: the new source holds nothing of the archive. */
    if (!started || p->inSegment == 0) {
        errSet(err, ERR_GAP, "refusing to archive '%s' into '%s': its history holds none of the transactions the "
               "archive holds (the archive ends at GTID state '%s'): it is not a server of this archive's "
               "replication topology; archive it into a new archive", binlogClientUrl(c), storageUrl(a->storage),
               end);
        goto done;
    }
    rc = 0;
done:
    bvFree(segs);
    timelinePathFree(path);
    timelineSetFree(set);
    archiveCatalogFree(cat);
    archiveViewFree(v);
    bvFree(end);
    return rc;
}

/* Until every sealed segment is in the archive (and indexed), the fork cannot be looked for in
 * it: wait (the uploads retry on their own). */
static int
waitArchived(Agent *a, Err *err) {
    uint64_t want = segmenterLastSeq(a->segmenter);
    bool said = false;

    for (;;) {
        uint64_t have;

        pthread_mutex_lock(&a->statLock);
        have = a->live.cpSeq;
        pthread_mutex_unlock(&a->statLock);
        if (have >= want)
            return 0;
        if (atomic_load(&a->stop))
            return errSet(err, ERR_SOURCE, "stopping before the new source was followed");
        if (!said)
            logInfo("the source changed: waiting until the archive holds every sealed segment (up to %" PRIu64
                    ", %" PRIu64 " now) to find the fork point", want, have);
        said = true;
        agentSleep(a, 100);
    }
}

static void
publishTimeline(Agent *a, const ForkPoint *p, const char *what) {
    pthread_mutex_lock(&a->statLock);
    a->live.timeline = a->timeline;
    a->live.failovers++;
    a->live.divergedTransactions = p->transactions;
    a->live.divergedFoundUs = p->transactions ? agentWallUs() : 0;
    snprintf(a->live.diverged, sizeof(a->live.diverged), "%s", p->transactions ? what : "");
    pthread_mutex_unlock(&a->statLock);
}

int
agentStartTimeline(Agent *a, BinlogClient *c, SqlConn *sql, const SqlSourceInfo *info, const char *why, Err *err) {
    char *history = NULL, what[1024], at[32];
    ForkHistory *h = NULL;
    ForkPoint p;
    TimelineRecord rec;
    Segmenter *seg;
    int rc = -1;

    memset(&p, 0, sizeof(p));
    memset(&rec, 0, sizeof(rec));
    if (waitArchived(a, err) != 0 || sqlBinlogGtidHistory(sql, a->flavour, &history, err) != 0)
        goto done;
    if ((h = forkHistoryNew(a->flavour, history, err)) == NULL) {
        errPrefix(err, "the GTID history of '%s'", binlogClientUrl(c));
        goto done;
    }
    if (findFork(a, c, h, &p, err) != 0)
        goto done;
    rec.timeline = a->timeline + 1;
    rec.parent = a->timeline;
    sourceOf(a, c, info, &rec.source);
    rec.firstSeq = segmenterLastSeq(a->segmenter) + 1;
    rec.hasFork = true;
    rec.fork.seq = p.seq;
    snprintf(rec.fork.file, sizeof(rec.fork.file), "%s", p.file);
    rec.fork.pos = p.pos;
    rec.fork.gtidState = bvStrdup(p.gtidState);
    snprintf(rec.fork.gtid, sizeof(rec.fork.gtid), "%s", p.gtid);
    rec.fork.timeUs = p.timeUs;
    rec.fork.transactions = p.inSegment;
    if (p.transactions > 0) {
        rec.hasDiverged = true;
        rec.diverged.firstSeq = p.firstSeq;
        rec.diverged.lastSeq = p.lastSeq;
        rec.diverged.transactions = p.transactions;
        snprintf(rec.diverged.firstGtid, sizeof(rec.diverged.firstGtid), "%s", p.firstGtid);
        snprintf(rec.diverged.lastGtid, sizeof(rec.diverged.lastGtid), "%s", p.lastGtid);
        rec.diverged.firstTimeUs = p.firstTimeUs;
        rec.diverged.lastTimeUs = p.lastTimeUs;
    }
    snprintf(rec.reason, sizeof(rec.reason), "source changed: %s at %s", why, rec.source.host);
    /* Stored before anything of the new source: a reader never sees its segments without it. */
    if (timelineRecordWrite(a->archive, &rec, err) != 0) {
        errPrefix(err, "unable to store the record of timeline %" PRIu32, rec.timeline);
        goto done;
    }
    seg = agentSegmenterNew(a, a->flavour, info->serverId, info->serverUuid, rec.timeline);
    if (segmenterResume(seg, segmenterLastSeq(a->segmenter), "", 0, p.gtidState, NULL, 0, err) != 0) {
        segmenterFree(seg);
        goto done;
    }
    segmenterFree(a->segmenter);
    a->segmenter = seg;
    a->timeline = rec.timeline;
    a->tlSource = rec.source;
    a->tlFirstSeq = rec.firstSeq;
    bvFree(a->tlForkState);
    a->tlForkState = bvStrdup(p.gtidState);
    a->sourceServerId = info->serverId;
    snprintf(a->sourceUuid, sizeof(a->sourceUuid), "%s", info->serverUuid);
    a->startFromOption = false;
    forkPointDescribe(&p, what, sizeof(what));
    timeFormatUtc(agentWallUs(), false, at, sizeof(at));
    logWarn("following a new source: timeline %" PRIu32 " from '%s' (%s) forks from timeline %" PRIu32
            " after GTID state '%s' (segment %" PRIu64 ", '%s':%" PRIu64 ")", rec.timeline, binlogClientUrl(c), why,
            rec.parent, p.gtidState, p.seq, p.file, p.pos);
    if (p.transactions > 0) {
        char loud[1200];

        snprintf(loud, sizeof(loud), "%s (failover at %s UTC); the archive keeps them as a diverged branch of "
                 "timeline %" PRIu32 ", off the main line (recover --timeline %" PRIu32 " reaches them)",
                 what, at, rec.parent, rec.parent);
        logError("%s", loud);
        agentNoteError(a, loud);
    }
    publishTimeline(a, &p, what);
    rc = 0;
done:
    timelineRecordClear(&rec);
    forkPointClear(&p);
    forkHistoryFree(h);
    bvFree(history);
    return rc;
}
