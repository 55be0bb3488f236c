/* The segmenter: raw binlog events in, sealed segments out, cut at transaction boundaries;
 * archive/segmenter.h. */
#include "archive/segmenter.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "binlog/gtid.h"
#include "binlog/txn.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/mem.h"

/* Where the stream restarts after the last sealed segment (the segmenter's, and a snapshot of it
 * before each seal behind the caller, to go back to when that seal fails). */
typedef struct SealedState {
    uint64_t lastSeq;
    char file[256];
    uint64_t pos;
    char *gtid;
    uint8_t *fde;
    size_t fdeLen;
    uint64_t firstEstUs;
} SealedState;

/* A segment sealed behind the caller (SegmenterOpts.asyncSeal): what its commit needs, the
 * segmenter's state before it, and whether the commit (on the compressor's bv-seal) took it. */
typedef struct PendingSeal {
    struct Segmenter *s;
    uint64_t ticket; /* over once segmentCompressorSealsDone() reaches it */
    uint64_t seq;
    uint64_t contentBytes;
    uint64_t firstEstUs;
    uint8_t *fde;
    size_t fdeLen;
    char *nextFile; /* NULL: none */
    SealedState before;
    bool committed; /* written on bv-seal, read once the ticket is over */
    struct PendingSeal *next;
} PendingSeal;

/* Where a stream started from a GTID state is (segmenterExpectGtidStart()). */
typedef enum GtidStart {
    GTID_START_OFF = 0,    /* events continue the expected position */
    GTID_START_WAIT_LIST,  /* nothing held: until the file's GTID_LIST says whether the server skips */
    GTID_START_SKIPPING,   /* until the artificial GTID_LIST names where the new events start */
    GTID_START_REPEATING,  /* the server sends the file from its start: drop what is held, until
                              the events (or its artificial GTID_LIST) reach the held end */
} GtidStart;

struct Segmenter {
    SegmenterOpts opts;
    GtidStart gtidStart;
    char serverUuid[37];
    SegmenterSink sink;
    BinlogFormat fmt;
    BinlogTxnFramer *framer;
    /* The stream: where the next event is expected. */
    char file[256];
    uint64_t pos;
    uint8_t *fde; /* the current file's FDE as in the file (in-use flag clear) */
    size_t fdeLen;
    char fdeFile[256];
    bool fdeGiven; /* segmenterSetFileFde() gave fde: it replaces the stream's next copy */
    /* The last sealed segment: where a restart resumes. */
    uint64_t lastSeq;
    char sealedFile[256];
    uint64_t sealedPos;
    char *sealedGtid;
    uint8_t *sealedFde;
    size_t sealedFdeLen;
    /* Segments sealed behind the caller and not known to be committed yet, oldest first, and
     * their content bytes. */
    PendingSeal *pendHead, *pendTail;
    uint64_t pendBytes;
    bool rolledBack; /* a seal failed and the state went back: until segmenterAbandon() */
    /* The open segment. */
    SegmentWriter *w;
    char tmpPath[4096];
    uint64_t firstMs; /* when its first event arrived (monotonic ms), 0 when empty */
    uint64_t openFirstEstUs; /* estimated commit time of its first transaction, 0 when none */
    uint64_t sealedFirstEstUs;
    uint64_t txnEstUs; /* of the transaction in progress or the last one */
    uint64_t clockUs;
    /* Observed. */
    char sourceFile[256];
    uint64_t sourcePos;
    /* sourceFile holds `file`: cleared wherever either is written, so that the event path copies
     * the name only when it changed (a strcmp() per event was 1-3% of the stream thread). */
    bool sourceIsFile;
    uint64_t events, txns, bytes, lastCommitUs;
};

Segmenter *
segmenterNew(const SegmenterOpts *opts, const SegmenterSink *sink) {
    Segmenter *s = bvCalloc(1, sizeof(*s));

    s->opts = *opts;
    snprintf(s->serverUuid, sizeof(s->serverUuid), "%s", opts->serverUuid ? opts->serverUuid : "");
    s->opts.serverUuid = s->serverUuid;
    s->sink = *sink;
    binlogFormatInit(&s->fmt);
    s->fmt.checksumAlg = opts->streamChecksum;
    s->fmt.flavour = opts->flavour;
    s->framer = binlogTxnFramerNew(0);
    binlogTxnFramerSkipTables(s->framer);
    s->sealedGtid = bvStrdup("");
    return s;
}

static void
setFde(uint8_t **dst, size_t *dstLen, const uint8_t *fde, size_t len) {
    bvFree(*dst);
    *dst = NULL;
    *dstLen = 0;
    if (fde != NULL) {
        *dst = bvMalloc(len);
        memcpy(*dst, fde, len);
        *dstLen = len;
    }
}

static void
sealedStateSave(const Segmenter *s, SealedState *st) {
    st->lastSeq = s->lastSeq;
    snprintf(st->file, sizeof(st->file), "%s", s->sealedFile);
    st->pos = s->sealedPos;
    st->gtid = bvStrdup(s->sealedGtid);
    st->fde = NULL;
    st->fdeLen = 0;
    setFde(&st->fde, &st->fdeLen, s->sealedFde, s->sealedFdeLen);
    st->firstEstUs = s->sealedFirstEstUs;
}

static void
sealedStateRestore(Segmenter *s, const SealedState *st) {
    s->lastSeq = st->lastSeq;
    snprintf(s->sealedFile, sizeof(s->sealedFile), "%s", st->file);
    s->sealedPos = st->pos;
    bvFree(s->sealedGtid);
    s->sealedGtid = bvStrdup(st->gtid);
    setFde(&s->sealedFde, &s->sealedFdeLen, st->fde, st->fdeLen);
    s->sealedFirstEstUs = st->firstEstUs;
}

static void
pendingFree(PendingSeal *p) {
    bvFree(p->before.gtid);
    bvFree(p->before.fde);
    bvFree(p->fde);
    bvFree(p->nextFile);
    bvFree(p);
}

/* Forget the seals that are over (all of them with `all`, after segmentCompressorSync()). The
 * first one not committed means the compressor failed: the segmenter goes back to where the
 * stream stood before it (every later one failed too), and true is returned. */
static bool
pendingReap(Segmenter *s, bool all) {
    uint64_t done = all ? UINT64_MAX : segmentCompressorSealsDone(s->opts.compressor);
    bool rolledBack = false;

    while (s->pendHead != NULL && s->pendHead->ticket <= done) {
        PendingSeal *p = s->pendHead;

        s->pendHead = p->next;
        if (s->pendHead == NULL)
            s->pendTail = NULL;
        s->pendBytes -= p->contentBytes;
        /* Once gone back, the later seals failed too (their snapshots are later): forgotten. */
        if (!p->committed && !s->rolledBack) {
            logWarn("segment %" PRIu64 " was not committed to the spool: the stream goes back to '%s':%" PRIu64
                    " (what follows is read again from the source)", p->seq, p->before.file, p->before.pos);
            sealedStateRestore(s, &p->before);
            s->rolledBack = rolledBack = true;
        }
        pendingFree(p);
    }
    return rolledBack;
}

/* Wait for every seal behind the caller; -1 with the compressor's failure. */
static int
pendingSync(Segmenter *s, Err *err) {
    int rc;

    if (!s->opts.asyncSeal || s->pendHead == NULL)
        return 0;
    rc = segmentCompressorSync(s->opts.compressor, err);
    pendingReap(s, true);
    return rc;
}

static int
resetFramer(Segmenter *s, Err *err) {
    binlogTxnFramerFree(s->framer);
    s->framer = binlogTxnFramerNew(0);
    binlogTxnFramerSkipTables(s->framer);
    if (s->sealedGtid[0] != '\0' &&
        binlogTxnFramerSetGtidState(s->framer, s->opts.flavour, s->sealedGtid, err) != 0)
        return errPrefix(err, "gtid state '%s'", s->sealedGtid);
    return 0;
}

int
segmenterResume(Segmenter *s, uint64_t lastSeq, const char *file, uint64_t pos, const char *gtidState,
                const uint8_t *fde, size_t fdeLen, Err *err) {
    s->lastSeq = lastSeq;
    snprintf(s->sealedFile, sizeof(s->sealedFile), "%s", file ? file : "");
    s->sealedPos = pos;
    bvFree(s->sealedGtid);
    s->sealedGtid = bvStrdup(gtidState ? gtidState : "");
    setFde(&s->sealedFde, &s->sealedFdeLen, fde, fdeLen);
    segmenterAbandon(s);
    return resetFramer(s, err);
}

void
segmenterAbandon(Segmenter *s) {
    Err err;

    segmentWriterFree(s->w); /* unlinks the open file */
    s->w = NULL;
    if (s->opts.asyncSeal) {
        /* The seals behind the caller end first: the committed ones stay, and after a failure
         * the position goes back to the last of them; then the compressor takes segments again. */
        if (segmentCompressorSync(s->opts.compressor, &err) != 0)
            logDebug("abandoning after a failed seal: %s", err.msg);
        pendingReap(s, true);
        s->rolledBack = false;
        segmentCompressorReset(s->opts.compressor);
    }
    s->firstMs = 0;
    s->openFirstEstUs = 0;
    s->gtidStart = GTID_START_OFF;
    snprintf(s->file, sizeof(s->file), "%s", s->sealedFile);
    s->sourceIsFile = false;
    s->pos = s->sealedPos;
    setFde(&s->fde, &s->fdeLen, s->sealedFde, s->sealedFdeLen);
    snprintf(s->fdeFile, sizeof(s->fdeFile), "%s", s->sealedFde ? s->sealedFile : "");
    s->fdeGiven = false;
    if (resetFramer(s, &err) != 0)
        logError("%s", err.msg);
}

/* The FDE as it is in the file: in-use flag clear, end position 4 + len, checksum recomputed
 * (a stream that starts mid-file sends it with log_pos 0). */
static void
normaliseFde(Segmenter *s, const char *file, const BinlogEvent *ev) {
    uint8_t *f = bvMalloc(ev->h.size);

    memcpy(f, ev->data, ev->h.size);
    binlogFdeSetInUse(f, false);
    wrU32(f + 13, 4 + ev->h.size);
    if (ev->hasChecksum)
        wrU32(f + ev->h.size - 4, binlogEventComputeChecksum(f, ev->h.size - 4));
    bvFree(s->fde);
    s->fde = f;
    s->fdeLen = ev->h.size;
    snprintf(s->fdeFile, sizeof(s->fdeFile), "%s", file);
}

int
segmenterSetFileFde(Segmenter *s, const char *file, const uint8_t *fde, size_t len, Err *err) {
    BinlogFormat fmt;
    BinlogEvent ev;

    if (binlogFormatFromFde(&fmt, fde, len, true, err) != 0 || binlogEventParse(&fmt, fde, len, true, &ev, err) != 0)
        return errPrefix(err, "the format description event read from the start of '%s'", file);
    normaliseFde(s, file, &ev);
    s->fdeGiven = true;
    return 0;
}

bool
segmenterHasFileFde(const Segmenter *s, const char *file) {
    return s->fde != NULL && strcmp(s->fdeFile, file) == 0;
}

/* The commit of a segment sealed behind the caller, on bv-seal: the sink's. */
static int
pendingCommit(void *data, const char *path, const SegmentMeta *meta, Err *err) {
    PendingSeal *p = data;
    Segmenter *s = p->s;
    SegmentMeta m;
    int rc;

    segmentMetaCopy(&m, meta);
    m.firstCommitEstUs = p->firstEstUs;
    rc = s->sink.sealed(s->sink.data, path, &m, p->fde, p->fdeLen, p->nextFile, err);
    segmentMetaClear(&m);
    if (rc == 0)
        p->committed = true;
    return rc;
}

/* Hand the open segment to the compressor to seal and commit behind the caller; the segmenter
 * moves on as if it were committed (pendingReap() goes back if it is not). */
static int
sealAsync(Segmenter *s, bool endsFile, const char *nextFile, Err *err) {
    PendingSeal *p = bvCalloc(1, sizeof(*p));
    SegmentWriter *w = s->w;
    uint64_t seq = s->lastSeq + 1;

    /* At most a few seals are queued: forget those that are over. One that failed is returned
     * (the open segment is then abandoned by the caller). */
    if (segmentCompressorFailed(s->opts.compressor) || pendingReap(s, false)) {
        bvFree(p);
        if (pendingSync(s, err) == 0)
            errSet(err, ERR_INTERNAL, "segment %" PRIu64 ": an earlier seal was not committed", seq);
        return -1;
    }
    p->s = s;
    p->seq = seq;
    p->contentBytes = segmentWriterContentBytes(w);
    p->firstEstUs = s->openFirstEstUs;
    setFde(&p->fde, &p->fdeLen, s->fde, s->fdeLen);
    p->nextFile = nextFile ? bvStrdup(nextFile) : NULL;
    sealedStateSave(s, &p->before);
    s->w = NULL;
    s->firstMs = 0;
    s->sealedFirstEstUs = s->openFirstEstUs;
    s->openFirstEstUs = 0;
    s->lastSeq = seq;
    snprintf(s->sealedFile, sizeof(s->sealedFile), "%s", s->file);
    s->sealedPos = segmentWriterEndPos(w);
    bvFree(s->sealedGtid);
    s->sealedGtid = bvStrdup(segmentWriterGtidEnd(w));
    setFde(&s->sealedFde, &s->sealedFdeLen, s->fde, s->fdeLen);
    if (segmentWriterSealAsync(w, endsFile, pendingCommit, p, &p->ticket, err) != 0) {
        sealedStateRestore(s, &p->before);
        pendingFree(p);
        return errPrefix(err, "unable to seal segment %" PRIu64, seq);
    }
    if (s->pendTail != NULL)
        s->pendTail->next = p;
    else
        s->pendHead = p;
    s->pendTail = p;
    s->pendBytes += p->contentBytes;
    return 0;
}

static int
seal(Segmenter *s, bool endsFile, const char *nextFile, Err *err) {
    SegmentMeta meta;
    int rc;

    memset(&meta, 0, sizeof(meta));
    if (segmentWriterTransactions(s->w) > 0) {
        char *state = binlogTxnFramerGtidState(s->framer);

        segmentWriterSetGtidEnd(s->w, state);
        bvFree(state);
    }
    if (s->opts.asyncSeal)
        return sealAsync(s, endsFile, nextFile, err);
    if (segmentWriterSeal(s->w, endsFile, &meta, err) != 0) {
        segmentMetaClear(&meta);
        return errPrefix(err, "unable to seal segment %" PRIu64, s->lastSeq + 1);
    }
    meta.firstCommitEstUs = s->openFirstEstUs;
    rc = s->sink.sealed(s->sink.data, s->tmpPath, &meta, s->fde, s->fdeLen, nextFile, err);
    segmentWriterFree(s->w);
    s->w = NULL;
    s->firstMs = 0;
    if (rc != 0) {
        /* Not committed: the file must not stay in the way of the same seq sealed again. */
        if (unlink(s->tmpPath) != 0 && errno != ENOENT)
            logWarn("unable to remove the unfinished segment '%s': %s", s->tmpPath, strerror(errno));
        segmentMetaClear(&meta);
        return -1;
    }
    s->sealedFirstEstUs = s->openFirstEstUs;
    s->openFirstEstUs = 0;
    s->lastSeq = meta.seq;
    snprintf(s->sealedFile, sizeof(s->sealedFile), "%s", meta.file);
    s->sealedPos = meta.endPos;
    bvFree(s->sealedGtid);
    s->sealedGtid = bvStrdup(meta.gtidEnd ? meta.gtidEnd : "");
    setFde(&s->sealedFde, &s->sealedFdeLen, s->fde, s->fdeLen);
    segmentMetaClear(&meta);
    return 0;
}

static int
openSegment(Segmenter *s, Err *err) {
    SegmentMeta meta;
    char *state;

    if (s->fde == NULL || strcmp(s->fdeFile, s->file) != 0)
        return errSet(err, ERR_SOURCE, "event at '%s':%" PRIu64 " arrived before the file's format description event",
                      s->file, s->pos);
    memset(&meta, 0, sizeof(meta));
    meta.seq = s->lastSeq + 1;
    meta.flavour = s->opts.flavour;
    meta.serverId = s->opts.serverId;
    meta.timeline = s->opts.timeline ? s->opts.timeline : 1;
    snprintf(meta.serverUuid, sizeof(meta.serverUuid), "%s", s->serverUuid);
    snprintf(meta.file, sizeof(meta.file), "%s", s->file);
    meta.startPos = s->pos;
    state = binlogTxnFramerGtidState(s->framer);
    meta.gtidStart = state;
    s->sink.tmpPath(s->sink.data, meta.seq, s->tmpPath, sizeof(s->tmpPath));
    if (s->opts.compressor != NULL)
        s->w = segmentWriterOpen(s->opts.compressor, s->tmpPath, &meta, s->fde, s->fdeLen, err);
    else
        s->w = segmentWriterNew(s->tmpPath, &meta, s->fde, s->fdeLen, err);
    bvFree(state);
    return s->w ? 0 : -1;
}

static bool
cutDue(const Segmenter *s, uint64_t nowMs) {
    if (s->w == NULL || binlogTxnFramerInTxn(s->framer))
        return false;
    if (segmentWriterContentBytes(s->w) >= s->opts.segmentSize)
        return true;
    return s->opts.intervalMs > 0 && s->firstMs != 0 && nowMs - s->firstMs >= (uint64_t)s->opts.intervalMs;
}

static int
pushStored(Segmenter *s, const BinlogEvent *ev, uint64_t nowMs, Err *err) {
    /* An event inside a transaction of MariaDB 11.4+ (binlog_legacy_event_pos=OFF) has log_pos 0:
     * it ends where it is, right after the previous one. Every other says where it ends. */
    uint64_t end = ev->h.logPos != 0 ? ev->h.logPos : s->pos + ev->h.size;
    uint64_t start = end - ev->h.size;
    int st;

    if (end < ev->h.size || start != s->pos)
        return errSet(err, ERR_SOURCE,
                      "%s event ending at '%s':%u does not start where the previous event ended (%" PRIu64 ")",
                      binlogEventTypeName(ev->h.type), s->file, ev->h.logPos, s->pos);
    if (s->w == NULL && openSegment(s, err) != 0)
        return -1;
    if (segmentWriterAppend(s->w, ev->data, ev->h.size, end, err) != 0)
        return -1;
    if (s->firstMs == 0)
        s->firstMs = nowMs ? nowMs : 1;
    s->pos = end;
    s->bytes += ev->h.size;
    bool wasInTxn = binlogTxnFramerInTxn(s->framer);

    if ((st = binlogTxnFramerPush(s->framer, &s->fmt, ev, start, err)) < 0)
        return errPrefix(err, "event at '%s':%" PRIu64, s->file, start);
    if ((st & 0x0f) != BINLOG_TXN_OUTSIDE && !wasInTxn) {
        /* The first event of a transaction: it was committed on the source before we got it. */
        uint64_t binlogUs = (uint64_t)ev->h.timestamp * 1000000u;

        if (s->clockUs == 0)
            s->txnEstUs = binlogUs;
        else
            s->txnEstUs = s->clockUs < binlogUs + 999999u ? s->clockUs : binlogUs + 999999u;
        if (s->openFirstEstUs == 0)
            s->openFirstEstUs = s->txnEstUs;
    }
    if ((st & 0x0f) == BINLOG_TXN_END) {
        const BinlogTxn *t = binlogTxnFramerDone(s->framer);

        /* The GTID state is formatted once, when the segment is sealed. */
        segmentWriterTransaction(s->w, t->gtid, t->commitTimeUs, NULL);
        s->txns++;
        s->lastCommitUs = t->commitTimeUs;
    }
    if (ev->h.type == BINLOG_ROTATE) {
        BinlogRotate r;
        char next[256];

        if (binlogDecodeRotate(&s->fmt, ev, &r, err) != 0)
            return -1;
        snprintf(next, sizeof(next), "%.*s", (int)r.fileLen, r.file);
        if (seal(s, true, next, err) != 0)
            return -1;
        /* The file is over: a restart resumes at the start of the next one. */
        snprintf(s->file, sizeof(s->file), "%s", next);
        s->sourceIsFile = false;
        s->pos = r.position;
        snprintf(s->sealedFile, sizeof(s->sealedFile), "%s", next);
        s->sealedPos = r.position;
        setFde(&s->sealedFde, &s->sealedFdeLen, NULL, 0);
        return 0;
    }
    if (ev->h.type == BINLOG_STOP)
        return seal(s, true, NULL, err);
    return cutDue(s, nowMs) ? seal(s, false, NULL, err) : 0;
}

void
segmenterExpectGtidStart(Segmenter *s) {
    BV_ASSERT(s->w == NULL);
    /* Once something is held, the stream must continue it exactly: whatever the server skips,
     * it resumes at the held end (or says so with its artificial GTID_LIST). Nothing held: the
     * file's GTID_LIST tells whether it skips. */
    s->gtidStart = s->sealedFile[0] != '\0' ? GTID_START_REPEATING : GTID_START_WAIT_LIST;
}

bool
segmenterResumesByGtid(const Segmenter *s) {
    return s->sealedGtid[0] != '\0';
}

/* A stream started from a GTID state resumes at `pos` of the current file: where the segmenter
 * expects it, or, when nothing is held before (a first start from --start-gtid), anywhere. */
static int
gtidStartAt(Segmenter *s, uint64_t pos, const char *what, Err *err) {
    s->gtidStart = GTID_START_OFF;
    if (pos == s->pos)
        return 0;
    if (s->sealedFile[0] == '\0') {
        s->pos = pos;
        return 0;
    }
    return errSet(err, ERR_GAP,
                  "the source's history does not contain the archive's end '%s' at '%s':%" PRIu64 ": asked to "
                  "continue after that GTID state, it %s at '%s':%" PRIu64 " (a different server, or a failover "
                  "that lost transactions)",
                  s->sealedGtid, s->sealedFile, s->sealedPos, what, s->file, pos);
}

/* The file's own GTID state at its start (MariaDB GTID_LIST, MySQL PREVIOUS_GTIDS) at the start
 * of a GTID stream: the server skips what the resume state holds unless that state is the file's. */
static int
gtidStartFileState(Segmenter *s, const BinlogEvent *ev, Err *err) {
    char *text = NULL;
    bool equal = false;
    Err e;

    if (ev->h.type == BINLOG_MARIA_GTID_LIST) {
        MariaGtid *list;
        size_t count;
        uint32_t flags;
        MariaGtidPos *pos;

        if (mariaGtidListDecode(ev->body, ev->bodyLen, &list, &count, &flags, err) != 0)
            return errPrefix(err, "gtid list event of '%s'", s->file);
        pos = mariaGtidPosFromList(list, count);
        text = mariaGtidPosFormat(pos);
        mariaGtidPosFree(pos);
        bvFree(list);
    } else {
        GtidSet *set = gtidSetNew();

        if (gtidSetDecode(set, ev->body, ev->bodyLen, err) != 0) {
            gtidSetFree(set);
            return errPrefix(err, "previous gtids event of '%s'", s->file);
        }
        text = gtidSetFormatSep(set, ",");
        gtidSetFree(set);
    }
    if (gtidStateTextEqual(s->opts.flavour, text, s->sealedGtid, &equal, &e) != 0)
        equal = false;
    bvFree(text);
    s->gtidStart = equal ? GTID_START_REPEATING : GTID_START_SKIPPING;
    return 0;
}

/* The first event of a transaction: MariaDB's GTID, MySQL's GTID events. */
static bool
txnStart(uint8_t type) {
    return type == BINLOG_MARIA_GTID || type == BINLOG_GTID || type == BINLOG_ANONYMOUS_GTID ||
           type == BINLOG_GTID_TAGGED;
}

/* The filter of a GTID stream's first events: 1 to drop the event (what the archive holds, what
 * the server sends while it skips), 0 to store it, -1 when the stream does not continue the
 * archive. */
static int
gtidStartFilter(Segmenter *s, const BinlogEvent *ev, Err *err) {
    uint64_t end = ev->h.logPos, start = end - ev->h.size;

    if (ev->h.type == BINLOG_MARIA_GTID_LIST && (ev->h.flags & BINLOG_FLAG_ARTIFICIAL))
        /* Sent once the skipping is over: its end position is where the events continue. */
        return gtidStartAt(s, end, "resumes", err) == 0 ? 1 : -1;
    if ((ev->h.flags & BINLOG_FLAG_ARTIFICIAL) || end == 0)
        return 1;
    if (s->gtidStart == GTID_START_WAIT_LIST) {
        bool list = ev->h.type == BINLOG_MARIA_GTID_LIST || ev->h.type == BINLOG_PREVIOUS_GTIDS;

        if (list && gtidStartFileState(s, ev, err) != 0)
            return -1;
        if (!list)
            s->gtidStart = GTID_START_REPEATING;
    }
    if (s->gtidStart == GTID_START_SKIPPING) {
        /* The server skips transactions, not the events between them: only a transaction's
         * start says that the skipping is over (when no artificial GTID_LIST said so; MySQL
         * never does). */
        if (!txnStart(ev->h.type))
            return 1;
        return gtidStartAt(s, start, "resumes", err) == 0 ? 0 : -1;
    }
    /* Repeating: the server sends the file from its start; what ends before the expected
     * position is held already. */
    if (end <= s->pos)
        return 1;
    return gtidStartAt(s, start, start < s->pos ? "sends an event across that position, starting" : "skips to an event",
                       err) == 0 ? 0 : -1;
}

/*
 * A START_ENCRYPTION event: the source writes this file encrypted (encrypt_binlog). The
 * replication stream decrypts every event after it and sends it flagged ignorable; a file read
 * from disk (import) holds it unflagged, followed by ciphertext that only the server's key opens.
 * The stored copy becomes an ignorable event of type BINLOG_IGNORABLE and the same length: every
 * reader (a server, mariadb-binlog, recover's endpoint) then takes the plaintext events that
 * follow as they are, and every position stays the server's.
 */
static int
pushStartEncryption(Segmenter *s, const BinlogEvent *ev, uint64_t nowMs, Err *err) {
    BinlogEvent stored;
    uint8_t *copy;
    int rc;

    if ((ev->h.flags & BINLOG_FLAG_ARTIFICIAL) || ev->h.logPos == 0 || (ev->h.logPos <= s->pos && s->pos > 4))
        return 0; /* not part of the file, or sent again where the stream resumed */
    if (!(ev->h.flags & BINLOG_FLAG_IGNORABLE))
        return errSet(err, ERR_FORMAT,
                      "'%s' is encrypted (START_ENCRYPTION event ending at %u; the source has encrypt_binlog=ON): "
                      "its events can be read only with the server's key. Archive this server with "
                      "'binvault agent', which receives its events decrypted",
                      s->file, ev->h.logPos);
    copy = bvMalloc(ev->h.size);
    memcpy(copy, ev->data, ev->h.size);
    binlogEventMakeIgnorable(copy, ev->h.size, ev->hasChecksum);
    rc = binlogEventParse(&s->fmt, copy, ev->h.size, true, &stored, err);
    /* At a GTID start, it is stored only where the server sends the file from its start and the
     * archive expects it (repeating); before the file's GTID_LIST says whether the server skips,
     * or while it skips, where the events will continue is not known yet: the first segment then
     * starts after it. */
    if (rc == 0 && s->gtidStart != GTID_START_OFF) {
        int drop = s->gtidStart == GTID_START_REPEATING ? gtidStartFilter(s, &stored, err) : 1;

        if (drop != 0) {
            bvFree(copy);
            return drop < 0 ? -1 : 0;
        }
    }
    /* Opened first, so that the segment holding the event is marked even if the event cuts it. */
    if (rc == 0 && s->w == NULL && ev->h.logPos - ev->h.size == s->pos)
        rc = openSegment(s, err);
    if (rc == 0 && s->w != NULL)
        segmentWriterSetSourceEncrypted(s->w);
    if (rc == 0)
        rc = pushStored(s, &stored, nowMs, err);
    bvFree(copy);
    return rc;
}

int
segmenterPush(Segmenter *s, const uint8_t *data, size_t len, uint64_t nowMs, Err *err) {
    BinlogEvent ev;

    /* A seal behind the caller failed: the caller stops at once, as when a seal fails in line. */
    if (s->pendHead != NULL && segmentCompressorFailed(s->opts.compressor) && pendingSync(s, err) != 0)
        return -1;
    if (binlogEventParse(&s->fmt, data, len, true, &ev, err) != 0)
        return errPrefix(err, "event after '%s':%" PRIu64, s->file, s->pos);
    s->events++;
    switch (ev.h.type) {
    case BINLOG_HEARTBEAT:
    case BINLOG_HEARTBEAT_V2: {
        const char *file;
        size_t fileLen;
        uint64_t pos;

        if (binlogDecodeHeartbeat(&ev, &file, &fileLen, &pos, err) == 0 && fileLen < sizeof(s->sourceFile)) {
            snprintf(s->sourceFile, sizeof(s->sourceFile), "%.*s", (int)fileLen, file);
            s->sourceIsFile = false;
            s->sourcePos = pos;
        }
        return segmenterTick(s, nowMs, err);
    }
    case BINLOG_FORMAT_DESCRIPTION: {
        BinlogFormat fmt;

        if (binlogFormatFromFde(&fmt, data, len, true, err) != 0)
            return errPrefix(err, "format description event of '%s'", s->file);
        s->fmt = fmt;
        /* Keep the FDE held for a file we are continuing, or the one segmenterSetFileFde()
         * gave: the stream sends a rewritten copy ('created' zeroed) when it starts mid-file;
         * take the stream's when it starts the file. */
        if (!segmenterHasFileFde(s, s->file) || (s->pos <= 4 && !s->fdeGiven))
            normaliseFde(s, s->file, &ev);
        s->fdeGiven = false;
        if (s->pos <= 4)
            s->pos = 4 + ev.h.size;
        return 0;
    }
    case BINLOG_ROTATE:
        if ((ev.h.flags & BINLOG_FLAG_ARTIFICIAL) || ev.h.logPos == 0) {
            BinlogRotate r;
            char next[256];

            if (binlogDecodeRotate(&s->fmt, &ev, &r, err) != 0)
                return -1;
            snprintf(next, sizeof(next), "%.*s", (int)r.fileLen, r.file);
            if (s->gtidStart != GTID_START_OFF && s->sealedFile[0] != '\0' && segmentFileCompare(next, s->file) < 0)
                return errSet(err, ERR_GAP,
                              "the source's history does not contain the archive's end '%s' at '%s':%" PRIu64
                              ": asked to continue after that GTID state, it starts in the earlier file '%s' (a "
                              "different server, or a failover that lost transactions)",
                              s->sealedGtid, s->sealedFile, s->sealedPos, next);
            if (strcmp(next, s->file) != 0) {
                /* The stream moved to another file without a ROTATE in the old one (the server
                 * crashed there): the old file ends with the open segment. */
                if (s->w != NULL && seal(s, true, next, err) != 0)
                    return -1;
                snprintf(s->file, sizeof(s->file), "%s", next);
                s->sourceIsFile = false;
                s->pos = r.position;
            } else if (r.position != s->pos && r.position > 4) {
                return errSet(err, ERR_SOURCE, "stream restarts at '%s':%" PRIu64 ", expected position %" PRIu64,
                              next, r.position, s->pos);
            }
            snprintf(s->sourceFile, sizeof(s->sourceFile), "%s", next);
            s->sourceIsFile = false;
            return 0;
        }
        break;
    case BINLOG_MARIA_START_ENCRYPTION:
        if (pushStartEncryption(s, &ev, nowMs, err) != 0)
            return -1;
        snprintf(s->sourceFile, sizeof(s->sourceFile), "%s", s->file);
        s->sourceIsFile = true;
        s->sourcePos = s->pos;
        return 0;
    default:
        /* Artificial (the stream's fake GTID_LIST ...): not part of the binlog. log_pos 0 inside a
         * transaction is MariaDB 11.4+'s way of writing its events (pushStored()). A GTID stream's
         * first events go through its own filter (the artificial GTID_LIST says where it starts). */
        if (s->gtidStart == GTID_START_OFF &&
            ((ev.h.flags & BINLOG_FLAG_ARTIFICIAL) || (ev.h.logPos == 0 && !binlogTxnFramerInTxn(s->framer))))
            return 0;
        break;
    }
    if (s->gtidStart != GTID_START_OFF) {
        int drop = gtidStartFilter(s, &ev, err);

        if (drop != 0)
            return drop < 0 ? -1 : 0;
    }
    if (pushStored(s, &ev, nowMs, err) != 0)
        return -1;
    /* Per event: copied only when the file changed (a formatted copy was a tenth of the stream
     * thread's time). */
    if (!s->sourceIsFile) {
        snprintf(s->sourceFile, sizeof(s->sourceFile), "%s", s->file);
        s->sourceIsFile = true;
    }
    s->sourcePos = s->pos;
    return 0;
}

int
segmenterTick(Segmenter *s, uint64_t nowMs, Err *err) {
    return cutDue(s, nowMs) ? seal(s, false, NULL, err) : 0;
}

uint64_t
segmenterCutDueMs(const Segmenter *s) {
    if (s->w == NULL || binlogTxnFramerInTxn(s->framer) || s->opts.intervalMs <= 0 || s->firstMs == 0)
        return 0;
    return s->firstMs + (uint64_t)s->opts.intervalMs;
}

int
segmenterCut(Segmenter *s, Err *err) {
    int rc = 0;

    if (s->w != NULL && !binlogTxnFramerInTxn(s->framer) && segmentWriterContentBytes(s->w) > s->fdeLen)
        rc = seal(s, false, NULL, err) == 0 ? 1 : -1;
    if (rc >= 0 && pendingSync(s, err) != 0)
        rc = -1;
    return rc;
}

bool
segmenterInTxn(const Segmenter *s) {
    return binlogTxnFramerInTxn(s->framer);
}

bool
segmenterHasOpen(const Segmenter *s) {
    return s->w != NULL;
}

uint64_t
segmenterOpenBytes(const Segmenter *s) {
    return (s->w ? segmentWriterContentBytes(s->w) : 0) + s->pendBytes;
}

const char *
segmenterFile(const Segmenter *s) {
    return s->sealedFile;
}

uint64_t
segmenterPos(const Segmenter *s) {
    return s->sealedPos;
}

uint64_t
segmenterLastSeq(const Segmenter *s) {
    return s->lastSeq;
}

const char *
segmenterSourceFile(const Segmenter *s) {
    return s->sourceFile;
}

uint64_t
segmenterSourcePos(const Segmenter *s) {
    return s->sourcePos;
}

uint64_t
segmenterEvents(const Segmenter *s) {
    return s->events;
}

uint64_t
segmenterTransactions(const Segmenter *s) {
    return s->txns;
}

uint64_t
segmenterBytes(const Segmenter *s) {
    return s->bytes;
}

uint64_t
segmenterLastCommitUs(const Segmenter *s) {
    return s->lastCommitUs;
}

void
segmenterSetClock(Segmenter *s, uint64_t wallUs) {
    s->clockUs = wallUs;
}

uint64_t
segmenterOpenFirstCommitUs(const Segmenter *s) {
    return s->openFirstEstUs;
}

uint64_t
segmenterSealedFirstCommitUs(const Segmenter *s) {
    return s->sealedFirstEstUs;
}

uint64_t
segmenterTxnCommitUs(const Segmenter *s) {
    return s->txnEstUs;
}

char *
segmenterGtidState(const Segmenter *s) {
    return binlogTxnFramerGtidState(s->framer);
}

void
segmenterFree(Segmenter *s) {
    Err err;

    if (s == NULL)
        return;
    segmentWriterFree(s->w);
    if (pendingSync(s, &err) != 0)
        logWarn("%s", err.msg);
    binlogTxnFramerFree(s->framer);
    bvFree(s->fde);
    bvFree(s->sealedFde);
    bvFree(s->sealedGtid);
    bvFree(s);
}
