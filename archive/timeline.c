/*
 * Timeline records (docs/FORMAT.md "Timeline records"): names, the strict parser, the JSON
 * writer, the create-exclusive store, the source identity, and the set of an archive's records.
 * Paths over the set (the main line) are timeline_path.c; the fork point and the diverged branch,
 * found by reading the parent's segments, are timeline_fork.c.
 */
#include "archive/timeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/internal.h"
#include "common/mem.h"
#include "common/time.h"

/* The version of the record documents (format 2). */
#define TIMELINE_DOC_VERSION 2

/* ---- names ---- */

void
timelineName(uint32_t timeline, char *out, size_t size) {
    snprintf(out, size, TIMELINE_PREFIX "%08" PRIu32 ".json", timeline);
}

int
timelineNameParse(const char *name, uint32_t *timeline) {
    size_t prefix = strlen(TIMELINE_PREFIX);
    uint64_t v;

    if (strlen(name) != prefix + 8 + 5 || strncmp(name, TIMELINE_PREFIX, prefix) != 0 ||
        strcmp(name + prefix + 8, ".json") != 0 || !archiveDigits(name + prefix, 8, &v) || v == 0)
        return -1;
    *timeline = (uint32_t)v;
    return 0;
}

/* ---- parse ---- */

static int
sourceParse(const JsonValue *doc, TimelineSource *s, Err *err) {
    const JsonValue *v = archiveJsonReqObject(doc, "source", err);
    char flavour[16];

    if (v == NULL)
        return -1;
    if (jsonReqStrCopy(v, "flavour", flavour, sizeof(flavour), err) != 0 || archiveJsonReqU32(v, "server_id", &s->serverId, err) != 0 ||
        jsonReqStrCopy(v, "server_uuid", s->serverUuid, sizeof(s->serverUuid), err) != 0 ||
        jsonReqStrCopy(v, "host", s->host, sizeof(s->host), err) != 0 ||
        jsonReqStrCopy(v, "basename", s->basename, sizeof(s->basename), err) != 0 ||
        jsonReqStrCopy(v, "server_version", s->serverVersion, sizeof(s->serverVersion), err) != 0)
        return errPrefix(err, "field 'source'");
    if (strcmp(flavour, "mariadb") == 0)
        s->flavour = BINLOG_FLAVOUR_MARIADB;
    else if (strcmp(flavour, "mysql") == 0)
        s->flavour = BINLOG_FLAVOUR_MYSQL;
    else
        return errSet(err, ERR_FORMAT, "field 'source': 'flavour' is '%s', expected 'mariadb' or 'mysql'", flavour);
    if (s->basename[0] != '\0' && !segmentFileNameValid(s->basename))
        return errSet(err, ERR_FORMAT, "field 'source': 'basename' is not a valid binlog base name: '%s'", s->basename);
    if (jsonGet(v, "gtid_domain_id") != NULL) {
        if (archiveJsonReqU32(v, "gtid_domain_id", &s->domainId, err) != 0)
            return errPrefix(err, "field 'source'");
        s->hasDomainId = true;
    }
    return 0;
}

static int
forkParse(const JsonValue *doc, TimelineFork *f, Err *err) {
    const JsonValue *v = archiveJsonReqObject(doc, "fork", err);
    const char *state;
    size_t len;

    if (v == NULL)
        return -1;
    if (jsonReqU64(v, "seq", &f->seq, err) != 0 || jsonReqStrCopy(v, "file", f->file, sizeof(f->file), err) != 0 ||
        jsonReqU64(v, "pos", &f->pos, err) != 0 || jsonReqStrCopy(v, "gtid", f->gtid, sizeof(f->gtid), err) != 0 ||
        jsonReqU64(v, "time_us", &f->timeUs, err) != 0 || jsonReqU64(v, "transactions", &f->transactions, err) != 0)
        return errPrefix(err, "field 'fork'");
    if (f->transactions == 0)
        return errSet(err, ERR_FORMAT, "field 'fork': 'transactions' is 0 (the fork's segment holds the fork)");
    if ((state = jsonStr(jsonGet(v, "gtid_state"), &len)) == NULL || len > SEGMENT_GTID_MAX || strlen(state) != len)
        return errSet(err, ERR_FORMAT, "field 'fork': missing or invalid field 'gtid_state'");
    if (f->seq == 0)
        return errSet(err, ERR_FORMAT, "field 'fork': 'seq' is 0 (sequence numbers start at 1)");
    if (!segmentFileNameValid(f->file))
        return errSet(err, ERR_FORMAT, "field 'fork': 'file' is not a valid binlog file name: '%s'", f->file);
    if (f->pos <= BINLOG_MAGIC_LEN)
        return errSet(err, ERR_FORMAT, "field 'fork': 'pos' %" PRIu64 " is not the end of a transaction", f->pos);
    if (len == 0)
        return errSet(err, ERR_FORMAT, "field 'fork': 'gtid_state' is empty (a fork is found by its GTID state)");
    f->gtidState = bvStrndup(state, len);
    return 0;
}

static int
divergedParse(const JsonValue *doc, const TimelineRecord *rec, TimelineDiverged *d, Err *err) {
    const JsonValue *v = archiveJsonReqObject(doc, "diverged", err);

    if (v == NULL)
        return -1;
    if (jsonReqU64(v, "first_seq", &d->firstSeq, err) != 0 || jsonReqU64(v, "last_seq", &d->lastSeq, err) != 0 ||
        jsonReqU64(v, "transactions", &d->transactions, err) != 0 ||
        jsonReqStrCopy(v, "first_gtid", d->firstGtid, sizeof(d->firstGtid), err) != 0 ||
        jsonReqStrCopy(v, "last_gtid", d->lastGtid, sizeof(d->lastGtid), err) != 0 ||
        jsonReqU64(v, "first_time_us", &d->firstTimeUs, err) != 0 ||
        jsonReqU64(v, "last_time_us", &d->lastTimeUs, err) != 0)
        return errPrefix(err, "field 'diverged'");
    if (d->firstSeq < rec->fork.seq || d->firstSeq > d->lastSeq || d->lastSeq >= rec->firstSeq)
        return errSet(err, ERR_FORMAT,
                      "field 'diverged': seqs %" PRIu64 "-%" PRIu64 " are not between the fork's seq %" PRIu64
                      " and the timeline's first seq %" PRIu64,
                      d->firstSeq, d->lastSeq, rec->fork.seq, rec->firstSeq);
    if (d->transactions == 0)
        return errSet(err, ERR_FORMAT, "field 'diverged': 'transactions' is 0 (a branch without transactions is "
                                       "written as no 'diverged' member)");
    return 0;
}

static int
recordFromDoc(const JsonValue *doc, TimelineRecord *rec, Err *err) {
    uint64_t version;
    const char *reason;

    if (jsonReqU64(doc, "version", &version, err) != 0)
        return -1;
    if (version != TIMELINE_DOC_VERSION)
        return errSet(err, ERR_FORMAT, "timeline record version %" PRIu64 " is not supported (this binvault reads %d)",
                      version, TIMELINE_DOC_VERSION);
    if (archiveJsonReqU32(doc, "timeline", &rec->timeline, err) != 0 || archiveJsonReqU32(doc, "parent", &rec->parent, err) != 0 ||
        jsonReqU64(doc, "first_seq", &rec->firstSeq, err) != 0 ||
        jsonReqStrCopy(doc, "created", rec->created, sizeof(rec->created), err) != 0)
        return -1;
    if (rec->timeline == 0 || rec->timeline > TIMELINE_MAX)
        return errSet(err, ERR_FORMAT, "field 'timeline' is %" PRIu32 ", expected 1 to %u", rec->timeline, TIMELINE_MAX);
    if (rec->firstSeq == 0)
        return errSet(err, ERR_FORMAT, "field 'first_seq' is 0 (sequence numbers start at 1)");
    if (sourceParse(doc, &rec->source, err) != 0)
        return -1;
    if (rec->timeline == 1) {
        if (rec->parent != 0 || jsonGet(doc, "fork") != NULL || jsonGet(doc, "diverged") != NULL)
            return errSet(err, ERR_FORMAT, "timeline 1 has a parent, a fork or a diverged branch");
    } else {
        if (rec->parent == 0 || rec->parent >= rec->timeline)
            return errSet(err, ERR_FORMAT, "field 'parent' is %" PRIu32 ", expected an earlier timeline than %" PRIu32,
                          rec->parent, rec->timeline);
        if (forkParse(doc, &rec->fork, err) != 0)
            return -1;
        rec->hasFork = true;
        if (rec->fork.seq >= rec->firstSeq)
            return errSet(err, ERR_FORMAT, "field 'fork': 'seq' %" PRIu64 " is not before the timeline's first seq %" PRIu64,
                          rec->fork.seq, rec->firstSeq);
        if (jsonGet(doc, "diverged") != NULL) {
            if (divergedParse(doc, rec, &rec->diverged, err) != 0)
                return -1;
            rec->hasDiverged = true;
        }
    }
    if ((reason = jsonStr(jsonGet(doc, "reason"), NULL)) != NULL)
        snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
    return 0;
}

int
timelineRecordParse(const char *text, size_t len, TimelineRecord *rec, Err *err) {
    JsonValue *doc = archiveDocParse(text, len, err);
    int rc;

    memset(rec, 0, sizeof(*rec));
    if (doc == NULL)
        return -1;
    rc = recordFromDoc(doc, rec, err);
    jsonFree(doc);
    if (rc != 0)
        timelineRecordClear(rec);
    return rc;
}

/* ---- write ---- */

static void
sourceToJson(const TimelineSource *s, Buf *out) {
    jsonBufPrintf(out, ",\"source\":{\"flavour\":\"%s\",\"server_id\":%" PRIu32, archiveFlavourName(s->flavour),
                  s->serverId);
    archiveJsonPutStr(out, "server_uuid", s->serverUuid);
    archiveJsonPutStr(out, "host", s->host);
    archiveJsonPutStr(out, "basename", s->basename);
    archiveJsonPutStr(out, "server_version", s->serverVersion);
    if (s->hasDomainId)
        jsonBufPrintf(out, ",\"gtid_domain_id\":%" PRIu32, s->domainId);
    bufAppend(out, "}", 1);
}

void
timelineRecordToJson(const TimelineRecord *rec, Buf *out) {
    jsonBufPrintf(out, "{\"version\":%d,\"timeline\":%" PRIu32 ",\"parent\":%" PRIu32, TIMELINE_DOC_VERSION,
                  rec->timeline, rec->parent);
    sourceToJson(&rec->source, out);
    jsonBufPrintf(out, ",\"first_seq\":%" PRIu64, rec->firstSeq);
    if (rec->hasFork) {
        const TimelineFork *f = &rec->fork;

        jsonBufPrintf(out, ",\"fork\":{\"seq\":%" PRIu64, f->seq);
        archiveJsonPutStr(out, "file", f->file);
        jsonBufPrintf(out, ",\"pos\":%" PRIu64, f->pos);
        archiveJsonPutStr(out, "gtid_state", f->gtidState != NULL ? f->gtidState : "");
        archiveJsonPutStr(out, "gtid", f->gtid);
        jsonBufPrintf(out, ",\"time_us\":%" PRIu64 ",\"transactions\":%" PRIu64 "}", f->timeUs, f->transactions);
    }
    if (rec->hasDiverged) {
        const TimelineDiverged *d = &rec->diverged;

        jsonBufPrintf(out, ",\"diverged\":{\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"transactions\":%" PRIu64,
                      d->firstSeq, d->lastSeq, d->transactions);
        archiveJsonPutStr(out, "first_gtid", d->firstGtid);
        archiveJsonPutStr(out, "last_gtid", d->lastGtid);
        jsonBufPrintf(out, ",\"first_time_us\":%" PRIu64 ",\"last_time_us\":%" PRIu64 "}", d->firstTimeUs,
                      d->lastTimeUs);
    }
    archiveJsonPutStr(out, "created", rec->created);
    archiveJsonPutStr(out, "reason", rec->reason);
    bufAppend(out, "}", 1);
}

void
timelineRecordCopy(TimelineRecord *dst, const TimelineRecord *src) {
    *dst = *src;
    dst->fork.gtidState = src->fork.gtidState != NULL ? bvStrdup(src->fork.gtidState) : NULL;
}

void
timelineRecordClear(TimelineRecord *rec) {
    timelineForkClear(&rec->fork);
}

void
timelineForkClear(TimelineFork *fork) {
    bvFree(fork->gtidState);
    fork->gtidState = NULL;
}

/* The same record but for the time it was written. */
static bool
recordSame(const TimelineRecord *a, const TimelineRecord *b) {
    Buf *x = bufNew(512), *y = bufNew(512);
    TimelineRecord ca = *a, cb = *b;
    bool same;

    ca.created[0] = cb.created[0] = '\0';
    timelineRecordToJson(&ca, x);
    timelineRecordToJson(&cb, y);
    same = x->len == y->len && memcmp(x->data, y->data, x->len) == 0;
    bufFree(x);
    bufFree(y);
    return same;
}

int
timelineRecordWrite(Archive *a, TimelineRecord *rec, Err *err) {
    TimelineSet *set;
    TimelineRecord old;
    char name[64];
    uint8_t *data;
    size_t len;
    Buf *doc;
    int rc;

    timelineName(rec->timeline, name, sizeof(name));
    if (timelineSetLoad(a, &set, err) != 0)
        return errPrefix(err, "unable to store timeline %" PRIu32 " in '%s'", rec->timeline, archiveUrl(a));
    if (timelineSetFind(set, rec->timeline) == NULL) {
        rc = timelineSetAdd(set, rec, err); /* the numbering and parent rules, against what is stored */
        timelineSetFree(set);
        if (rc != 0)
            return errPrefix(err, "unable to store timeline %" PRIu32 " in '%s'", rec->timeline, archiveUrl(a));
    } else {
        timelineSetFree(set);
    }
    if (rec->created[0] == '\0')
        timeIsoNow(rec->created, sizeof(rec->created));
    doc = bufNew(1024);
    timelineRecordToJson(rec, doc);
    bufAppend(doc, "\n", 1);
    rc = archiveDocPutOnce(a, name, doc, &data, &len, err);
    bufFree(doc);
    if (rc <= 0)
        return rc;
    rc = timelineRecordParse((const char *)data, len, &old, err);
    bvFree(data);
    if (rc != 0)
        return errPrefix(err, "timeline record '%s' in '%s'", name, archiveUrl(a));
    rc = recordSame(&old, rec) ? 0
                               : errSet(err, ERR_EXISTS,
                                        "timeline record '%s' in '%s' already holds another timeline %" PRIu32
                                        " (source server_id %" PRIu32 " at '%s', first seq %" PRIu64
                                        "): another writer started it; not storing server_id %" PRIu32 " at '%s'",
                                        name, archiveUrl(a), old.timeline, old.source.serverId, old.source.host,
                                        old.firstSeq, rec->source.serverId, rec->source.host);
    if (rc == 0)
        snprintf(rec->created, sizeof(rec->created), "%s", old.created);
    timelineRecordClear(&old);
    return rc;
}

/* ---- the source identity ---- */

void
timelineBasename(const char *file, char *out, size_t size) {
    const char *dot = strrchr(file, '.');
    size_t n = dot != NULL && dot != file ? (size_t)(dot - file) : strlen(file);

    if (size == 0)
        return;
    if (n >= size)
        n = size - 1;
    memcpy(out, file, n);
    out[n] = '\0';
}

int
timelineSourceCompare(const TimelineSource *was, const TimelineSource *now, char *why, size_t whySize) {
    if (was->flavour != now->flavour)
        snprintf(why, whySize, "flavour %s -> %s", archiveFlavourName(was->flavour), archiveFlavourName(now->flavour));
    else if (was->serverId != now->serverId)
        snprintf(why, whySize, "server_id %" PRIu32 " -> %" PRIu32, was->serverId, now->serverId);
    else if (strcmp(was->serverUuid, now->serverUuid) != 0)
        snprintf(why, whySize, "server_uuid '%s' -> '%s'", was->serverUuid, now->serverUuid);
    else if (strcmp(was->host, now->host) != 0)
        snprintf(why, whySize, "host '%s' -> '%s'", was->host, now->host);
    else if (strcmp(was->basename, now->basename) != 0)
        snprintf(why, whySize, "binlog base name '%s' -> '%s'", was->basename, now->basename);
    else if (was->hasDomainId && now->hasDomainId && was->domainId != now->domainId)
        snprintf(why, whySize, "gtid_domain_id %" PRIu32 " -> %" PRIu32, was->domainId, now->domainId);
    else
        return 1;
    return 0;
}

void
timelineDescribeDiverged(const TimelineRecord *rec, char *out, size_t size) {
    const TimelineDiverged *d = &rec->diverged;
    char first[40], last[40];

    if (size == 0)
        return;
    out[0] = '\0';
    if (!rec->hasDiverged)
        return;
    timeFormatUtc(d->firstTimeUs, true, first, sizeof(first));
    timeFormatUtc(d->lastTimeUs, true, last, sizeof(last));
    snprintf(out, size,
             "%" PRIu64 " transaction%s of timeline %" PRIu32 " committed after the fork at '%s' were lost when timeline "
             "%" PRIu32 " (server_id %" PRIu32 " at '%s') started at %s: %s..%s, committed %s .. %s, seqs %" PRIu64
             "-%" PRIu64 " (recover --timeline %" PRIu32 " reaches them)",
             d->transactions, d->transactions == 1 ? "" : "s", rec->parent,
             rec->fork.gtidState != NULL ? rec->fork.gtidState : "", rec->timeline, rec->source.serverId,
             rec->source.host, rec->created, d->firstGtid[0] ? d->firstGtid : "(no gtid)",
             d->lastGtid[0] ? d->lastGtid : "(no gtid)", first, last, d->firstSeq, d->lastSeq, rec->parent);
}

/* ---- sets ---- */

struct TimelineSet {
    TimelineRecord *recs; /* by timeline: recs[i].timeline == base + i */
    size_t n, cap;
};

TimelineSet *
timelineSetNew(void) {
    return bvCalloc(1, sizeof(TimelineSet));
}

int
timelineSetAdd(TimelineSet *set, const TimelineRecord *rec, Err *err) {
    uint32_t want = set->n == 0 ? (rec->timeline <= 2 ? rec->timeline : 1) : set->recs[set->n - 1].timeline + 1;

    if (rec->timeline != want)
        return errSet(err, ERR_FORMAT, "timeline %" PRIu32 " does not follow %s %" PRIu32 " (numbers run 1, 2, 3 ...)",
                      rec->timeline, set->n == 0 ? "the implicit timeline" : "timeline", want - 1);
    if (rec->timeline > 1 ? rec->parent == 0 || rec->parent >= rec->timeline || !rec->hasFork : rec->parent != 0)
        return errSet(err, ERR_FORMAT, "timeline %" PRIu32 " has parent %" PRIu32 ", not an earlier timeline",
                      rec->timeline, rec->parent);
    if (set->n == TIMELINE_SET_MAX)
        return errSet(err, ERR_LIMIT, "more than %d timelines", TIMELINE_SET_MAX);
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 8;
        set->recs = bvRealloc(set->recs, set->cap * sizeof(*set->recs));
    }
    timelineRecordCopy(&set->recs[set->n++], rec);
    return 0;
}

typedef struct NameList {
    uint32_t *tl;
    size_t n, cap;
    bool tooMany;
} NameList;

static int
listName(const char *name, uint64_t size, void *data, Err *err) {
    NameList *l = data;
    uint32_t tl;

    (void)size;
    (void)err;
    if (timelineNameParse(name, &tl) != 0)
        return 0; /* not a record: ignored, as readers ignore objects they do not know */
    if (l->n == TIMELINE_SET_MAX) {
        l->tooMany = true;
        return 0;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->tl = bvRealloc(l->tl, l->cap * sizeof(*l->tl));
    }
    l->tl[l->n++] = tl;
    return 0;
}

static int
cmpU32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

int
timelineSetLoad(Archive *a, TimelineSet **out, Err *err) {
    NameList l = {0};
    TimelineSet *set = timelineSetNew();
    int rc = -1;

    *out = NULL;
    if (storageList(a->storage, TIMELINE_PREFIX, listName, &l, err) != 0) {
        errPrefix(err, "unable to list the timelines of '%s'", archiveUrl(a));
        goto out;
    }
    if (l.tooMany) {
        errSet(err, ERR_LIMIT, "'%s' holds more than %d timeline records", archiveUrl(a), TIMELINE_SET_MAX);
        goto out;
    }
    if (l.n > 1)
        qsort(l.tl, l.n, sizeof(*l.tl), cmpU32);
    for (size_t i = 0; i < l.n; i++) {
        TimelineRecord rec;
        char name[64];
        uint8_t *data;
        size_t len;
        int prc;

        timelineName(l.tl[i], name, sizeof(name));
        if (storageGetBuf(a->storage, name, ARCHIVE_DOC_MAX, &data, &len, err) != 0) {
            errPrefix(err, "timeline record '%s' in '%s'", name, archiveUrl(a));
            goto out;
        }
        prc = timelineRecordParse((const char *)data, len, &rec, err);
        bvFree(data);
        if (prc == 0 && rec.timeline != l.tl[i])
            prc = errSet(err, ERR_FORMAT, "it holds timeline %" PRIu32, rec.timeline);
        if (prc == 0)
            prc = timelineSetAdd(set, &rec, err);
        timelineRecordClear(&rec);
        if (prc != 0) {
            errPrefix(err, "timeline record '%s' in '%s'", name, archiveUrl(a));
            goto out;
        }
    }
    *out = set;
    set = NULL;
    rc = 0;
out:
    bvFree(l.tl);
    timelineSetFree(set);
    return rc;
}

size_t
timelineSetCount(const TimelineSet *set) {
    return set->n;
}

const TimelineRecord *
timelineSetAt(const TimelineSet *set, size_t i) {
    return i < set->n ? &set->recs[i] : NULL;
}

const TimelineRecord *
timelineSetFind(const TimelineSet *set, uint32_t timeline) {
    uint32_t base;

    if (set->n == 0 || timeline == 0)
        return NULL;
    base = set->recs[0].timeline;
    if (timeline < base || timeline - base >= set->n)
        return NULL;
    return &set->recs[timeline - base];
}

uint32_t
timelineSetNewest(const TimelineSet *set) {
    return set->n == 0 ? 1 : set->recs[set->n - 1].timeline;
}

bool
timelineSetForked(const TimelineSet *set) {
    return timelineSetNewest(set) > 1;
}

size_t
timelineSetDivergedCount(const TimelineSet *set) {
    size_t n = 0;

    for (size_t i = 0; i < set->n; i++)
        n += set->recs[i].hasDiverged;
    return n;
}

const TimelineRecord *
timelineSetDivergedAt(const TimelineSet *set, size_t i) {
    for (size_t k = 0; k < set->n; k++)
        if (set->recs[k].hasDiverged && i-- == 0)
            return &set->recs[k];
    return NULL;
}

void
timelineSetFree(TimelineSet *set) {
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        timelineRecordClear(&set->recs[i]);
    bvFree(set->recs);
    bvFree(set);
}
