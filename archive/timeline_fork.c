/*
 * The fork point of a new timeline and the diverged branch of its parent (docs/FORMAT.md
 * "Timeline records"), found in the parent's archived segments by GTID state: the index says which
 * segment can hold the point, and that one segment is read through the verifying reader.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/timeline.h"
#include "binlog/gtid.h"
#include "common/mem.h"

/* Statement text is not needed: GTIDs, times and positions. */
#define FORK_TEXT_MAX 64

typedef int (*TxnFn)(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err);

/* Frame the transactions of segment m with the GTID state after each; fn returns 1 to stop. */
static int
scanTxns(Archive *a, const SegmentMeta *m, TxnFn fn, void *ctx, Err *err) {
    SegmentReader *r = archiveSegmentOpen(a, m, err);
    BinlogTxnFramer *f;
    BinlogEvent ev;
    uint64_t pos;
    int rc = 0, st = 0, got = 0;

    if (r == NULL)
        return -1;
    f = binlogTxnFramerNew(FORK_TEXT_MAX);
    if (segmentMetaGtidStart(m)[0] != '\0' &&
        binlogTxnFramerSetGtidState(f, m->flavour, segmentMetaGtidStart(m), err) != 0)
        rc = errPrefix(err, "segment '%s': gtid_start", m->name);
    while (rc == 0 && got == 0 && (st = segmentReaderNext(r, &ev, &pos, err)) == 1) {
        int pushed = binlogTxnFramerPush(f, segmentReaderFormat(r), &ev, pos, err);

        if (pushed < 0) {
            rc = errPrefix(err, "segment '%s': event at %s:%" PRIu64, m->name, m->file, pos);
        } else if ((pushed & 0x0f) == BINLOG_TXN_END) {
            char *state = binlogTxnFramerGtidState(f);

            got = fn(ctx, binlogTxnFramerDone(f), state, err);
            bvFree(state);
            if (got < 0)
                rc = -1;
        }
    }
    if (rc == 0 && got == 0 && st < 0)
        rc = -1;
    if (rc == 0 && got == 0 && m->sha256[0] != '\0' && strcmp(segmentReaderSha256(r), m->sha256) != 0)
        rc = errSet(err, ERR_CHECKSUM, "segment '%s': object sha256 mismatch: computed %s, the index says %s", m->name,
                    segmentReaderSha256(r), m->sha256);
    binlogTxnFramerFree(f);
    segmentReaderFree(r);
    return rc;
}

typedef struct ForkScan {
    const GtidState *want;
    BinlogFlavour flavour;
    uint64_t count;
    bool found;
    TimelineFork *fork;
    const SegmentMeta *m;
} ForkScan;

static int
forkTxn(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err) {
    ForkScan *fs = ctx;
    GtidState *g;
    bool equal;

    (void)err;
    fs->count++;
    if (stateAfter[0] == '\0')
        return 0;
    if ((g = gtidStateParse(fs->flavour, stateAfter, err)) == NULL)
        return errPrefix(err, "segment '%s': the gtid state after the transaction ending at %" PRIu64, fs->m->name,
                         t->endPos);
    equal = gtidStateEqual(g, fs->want);
    gtidStateFree(g);
    if (!equal)
        return 0;
    fs->found = true;
    fs->fork->seq = fs->m->seq;
    snprintf(fs->fork->file, sizeof(fs->fork->file), "%s", fs->m->file);
    fs->fork->pos = t->endPos;
    bvFree(fs->fork->gtidState);
    fs->fork->gtidState = bvStrdup(stateAfter);
    snprintf(fs->fork->gtid, sizeof(fs->fork->gtid), "%s", t->gtid);
    fs->fork->timeUs = t->commitTimeUs;
    fs->fork->transactions = fs->count;
    return 1; /* states only grow: no later transaction has it */
}

/* Whether a segment's state (gtid_start or gtid_end) text is known and satisfies pred. */
static int
stateIs(BinlogFlavour flavour, const char *text, const GtidState *want, bool contains, bool *yes, Err *err) {
    GtidState *g;

    *yes = false;
    if (text[0] == '\0')
        return 0;
    if ((g = gtidStateParse(flavour, text, err)) == NULL)
        return -1;
    *yes = contains ? gtidStateContains(g, want) : gtidStateEqual(g, want);
    gtidStateFree(g);
    return 0;
}

static int
scanFor(Archive *a, const SegmentMeta *m, const GtidState *want, TimelineFork *fork, bool *found, Err *err) {
    ForkScan fs = {.want = want, .flavour = m->flavour, .fork = fork, .m = m};

    if (scanTxns(a, m, forkTxn, &fs, err) != 0)
        return -1;
    *found = fs.found;
    return 0;
}

int
timelineForkFind(Archive *a, const SegmentMeta *const *segs, size_t n, const char *state, TimelineFork *fork,
                 Err *err) {
    GtidState *want;
    int rc = -1;

    memset(fork, 0, sizeof(*fork));
    if (n == 0)
        return errSet(err, ERR_NOTFOUND, "the parent timeline holds no segment to fork from");
    if ((want = gtidStateParse(segs[0]->flavour, state, err)) == NULL)
        return errPrefix(err, "the gtid state '%s' the new timeline starts from", state);
    for (size_t i = 0; i < n; i++) {
        const SegmentMeta *m = segs[i];
        bool contains, startsThere, found;

        if (m->transactions == 0)
            continue;
        if (stateIs(m->flavour, segmentMetaGtidEnd(m), want, true, &contains, err) != 0)
            goto out;
        if (!contains)
            continue;
        /* The first segment whose end reaches the state holds the transaction that makes it, or
         * starts right after it. */
        if (scanFor(a, m, want, fork, &found, err) != 0)
            goto out;
        if (found) {
            rc = 0;
            goto out;
        }
        if (stateIs(m->flavour, segmentMetaGtidStart(m), want, false, &startsThere, err) != 0)
            goto out;
        for (size_t k = i; startsThere && k-- > 0;) {
            if (segs[k]->transactions == 0)
                continue;
            if (scanFor(a, segs[k], want, fork, &found, err) != 0)
                goto out;
            if (found) {
                rc = 0;
                goto out;
            }
            break;
        }
        break;
    }
    rc = errSet(err, ERR_NOTFOUND,
                "no archived transaction of the parent timeline ends at the gtid state '%s': the new source's history "
                "does not continue the archived one",
                state);
out:
    if (rc != 0)
        timelineForkClear(fork);
    gtidStateFree(want);
    return rc;
}

typedef struct DivergedScan {
    uint64_t forkPos;
    TimelineDiverged *d;
} DivergedScan;

static void
divergedAdd(TimelineDiverged *d, uint64_t seq, const char *firstGtid, uint64_t firstUs, const char *lastGtid,
            uint64_t lastUs, uint64_t count) {
    if (d->transactions == 0) {
        d->firstSeq = seq;
        snprintf(d->firstGtid, sizeof(d->firstGtid), "%s", firstGtid);
        d->firstTimeUs = firstUs;
    }
    d->lastSeq = seq;
    snprintf(d->lastGtid, sizeof(d->lastGtid), "%s", lastGtid);
    d->lastTimeUs = lastUs;
    d->transactions += count;
}

static int
divergedTxn(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err) {
    DivergedScan *ds = ctx;

    (void)stateAfter;
    (void)err;
    if (t->endPos > ds->forkPos)
        divergedAdd(ds->d, ds->d->lastSeq, t->gtid, t->commitTimeUs, t->gtid, t->commitTimeUs, 1);
    return 0;
}

int
timelineDivergedFill(Archive *a, const SegmentMeta *const *segs, size_t n, TimelineRecord *rec, Err *err) {
    TimelineDiverged *d = &rec->diverged;

    memset(d, 0, sizeof(*d));
    rec->hasDiverged = false;
    for (size_t i = 0; i < n; i++) {
        const SegmentMeta *m = segs[i];

        if (m->seq < rec->fork.seq || m->seq >= rec->firstSeq || m->transactions == 0)
            continue;
        if (m->seq == rec->fork.seq) {
            DivergedScan ds = {.forkPos = rec->fork.pos, .d = d};

            if (m->transactions <= rec->fork.transactions)
                continue; /* the fork is its last transaction */
            d->lastSeq = m->seq;
            if (scanTxns(a, m, divergedTxn, &ds, err) != 0)
                return errPrefix(err, "the transactions after the fork in '%s'", m->name);
            continue;
        }
        divergedAdd(d, m->seq, m->firstGtid, m->firstTimeUs, m->lastGtid, m->lastTimeUs, m->transactions);
    }
    rec->hasDiverged = d->transactions > 0;
    if (!rec->hasDiverged)
        memset(d, 0, sizeof(*d));
    return 0;
}
