/* A segment's labels checked against its content (labels.h). */
#include "archive/labels.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "binlog/gtid.h"
#include "binlog/txn.h"
#include "common/mem.h"

/* GTIDs, times and positions only. */
#define LABELS_TEXT_MAX 64
/* The writer's commit time is the binlog's (whole seconds on MariaDB) refined by when the agent
 * received it: at most this much later. */
#define LABELS_TIME_SLACK_US 1000000ull

struct SegmentLabels {
    SegmentMeta t;
    BinlogTxnFramer *framer;
    uint64_t transactions;
    char firstGtid[BINLOG_TXN_GTID_MAX], lastGtid[BINLOG_TXN_GTID_MAX];
    uint64_t firstUs, lastUs; /* binlog commit times */
    char *fileStart;          /* the state a GTID_LIST / PREVIOUS_GTIDS gave before any transaction */
    char failed[ERR_MSG_MAX + 512]; /* framing failed */
};

SegmentLabels *
segmentLabelsNew(const SegmentMeta *trailer) {
    SegmentLabels *l = bvCalloc(1, sizeof(*l));
    Err err;

    segmentMetaCopy(&l->t, trailer);
    l->framer = binlogTxnFramerNew(LABELS_TEXT_MAX);
    if (segmentMetaGtidStart(trailer)[0] != '\0' &&
        binlogTxnFramerSetGtidState(l->framer, trailer->flavour, segmentMetaGtidStart(trailer), &err) != 0)
        snprintf(l->failed, sizeof(l->failed), "gtid_start '%s' cannot be read: %s", segmentMetaGtidStart(trailer),
                 err.msg);
    return l;
}

void
segmentLabelsPush(SegmentLabels *l, const BinlogFormat *fmt, const BinlogEvent *ev, uint64_t pos) {
    Err err;
    int st;

    if (l->failed[0] != '\0')
        return;
    st = binlogTxnFramerPush(l->framer, fmt, ev, pos, &err);
    if (st < 0) {
        snprintf(l->failed, sizeof(l->failed), "the event at %" PRIu64 " cannot be framed: %s", pos, err.msg);
        return;
    }
    if (l->transactions == 0 && l->fileStart == NULL &&
        (ev->h.type == BINLOG_MARIA_GTID_LIST || ev->h.type == BINLOG_PREVIOUS_GTIDS))
        l->fileStart = binlogTxnFramerGtidState(l->framer);
    if ((st & 0x0f) == BINLOG_TXN_END) {
        const BinlogTxn *t = binlogTxnFramerDone(l->framer);

        if (l->transactions++ == 0) {
            snprintf(l->firstGtid, sizeof(l->firstGtid), "%s", t->gtid);
            l->firstUs = t->commitTimeUs;
        }
        snprintf(l->lastGtid, sizeof(l->lastGtid), "%s", t->gtid);
        l->lastUs = t->commitTimeUs;
    }
}

static void
say(char *out, size_t size, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
say(char *out, size_t size, size_t *len, const char *fmt, ...) {
    va_list ap;
    int n;

    if (*len + 3 >= size)
        return;
    if (*len > 0) {
        memcpy(out + *len, "; ", 2);
        *len += 2;
    }
    va_start(ap, fmt);
    n = vsnprintf(out + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < size ? *len + (size_t)n : size - 1;
}

/* Whether two state texts are the same state; a text that does not parse is not. */
static bool
sameState(BinlogFlavour flavour, const char *a, const char *b) {
    bool equal = false;
    Err err;

    return gtidStateTextEqual(flavour, a, b, &equal, &err) == 0 && equal;
}

static bool
timeFits(uint64_t label, uint64_t binlogUs) {
    return label >= binlogUs && label < binlogUs + LABELS_TIME_SLACK_US;
}

void
segmentLabelsFinish(SegmentLabels *l, char *out, size_t size) {
    const SegmentMeta *t = &l->t;
    size_t len = 0;
    char *end;

    out[0] = '\0';
    if (l->failed[0] != '\0') {
        say(out, size, &len, "%s", l->failed);
        return;
    }
    end = binlogTxnFramerGtidState(l->framer);
    if (l->fileStart != NULL && segmentMetaGtidStart(t)[0] != '\0' &&
        !sameState(t->flavour, l->fileStart, segmentMetaGtidStart(t)))
        say(out, size, &len, "gtid_start says '%s' but the file's gtid list says '%s'", segmentMetaGtidStart(t),
            l->fileStart[0] ? l->fileStart : "(empty)");
    if (segmentMetaGtidEnd(t)[0] != '\0' && end[0] != '\0' && !sameState(t->flavour, end, segmentMetaGtidEnd(t)))
        say(out, size, &len, "gtid_end says '%s' but its transactions end at '%s'", segmentMetaGtidEnd(t), end);
    if (l->transactions != t->transactions)
        say(out, size, &len, "transactions says %" PRIu64 " but it holds %" PRIu64, t->transactions, l->transactions);
    if (strcmp(l->firstGtid, t->firstGtid) != 0)
        say(out, size, &len, "first_gtid says '%s' but its first transaction is '%s'", t->firstGtid, l->firstGtid);
    if (strcmp(l->lastGtid, t->lastGtid) != 0)
        say(out, size, &len, "last_gtid says '%s' but its last transaction is '%s'", t->lastGtid, l->lastGtid);
    if (l->transactions > 0 && !timeFits(t->firstTimeUs, l->firstUs))
        say(out, size, &len, "first_time_us says %" PRIu64 " but its first transaction was committed at %" PRIu64,
            t->firstTimeUs, l->firstUs);
    if (l->transactions > 0 && !timeFits(t->lastTimeUs, l->lastUs))
        say(out, size, &len, "last_time_us says %" PRIu64 " but its last transaction was committed at %" PRIu64,
            t->lastTimeUs, l->lastUs);
    bvFree(end);
}

void
segmentLabelsFree(SegmentLabels *l) {
    if (l == NULL)
        return;
    segmentMetaClear(&l->t);
    binlogTxnFramerFree(l->framer);
    bvFree(l->fileStart);
    bvFree(l);
}
