/* Accepted-gap records: names, parsing, writing, and the catalog's view of them. */
#include "archive/gap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/internal.h"
#include "common/mem.h"
#include "common/time.h"

void
archiveGapName(uint64_t beforeSeq, char *out, size_t size) {
    snprintf(out, size, ARCHIVE_GAP_PREFIX "%016" PRIu64 ".json", beforeSeq);
}

int
archiveGapNameParse(const char *name, uint64_t *beforeSeq) {
    /* gaps/ + 16 digits + .json */
    size_t prefix = strlen(ARCHIVE_GAP_PREFIX);

    if (strlen(name) != prefix + 16 + 5 || strncmp(name, ARCHIVE_GAP_PREFIX, prefix) != 0 ||
        strcmp(name + prefix + 16, ".json") != 0)
        return -1;
    if (!archiveDigits(name + prefix, 16, beforeSeq) || *beforeSeq < 2)
        return -1;
    return 0;
}

static int
pointParse(const JsonValue *doc, const char *key, bool needFile, ArchiveGapPoint *p, Err *err) {
    const JsonValue *v = jsonGet(doc, key);
    const char *gtid;
    size_t glen;

    if (v == NULL || jsonType(v) != JSON_OBJECT)
        return errSet(err, ERR_FORMAT, "missing or invalid field '%s'", key);
    if (jsonReqStrCopy(v, "file", p->file, sizeof(p->file), err) != 0 || jsonReqU64(v, "pos", &p->pos, err) != 0)
        return errPrefix(err, "field '%s'", key);
    if ((gtid = jsonStr(jsonGet(v, "gtid_state"), &glen)) == NULL || glen > SEGMENT_GTID_MAX || strlen(gtid) != glen)
        return errSet(err, ERR_FORMAT, "field '%s': missing or invalid field 'gtid_state'", key);
    if ((p->file[0] != '\0' || needFile) && !segmentFileNameValid(p->file))
        return errSet(err, ERR_FORMAT, "field '%s': 'file' is not a valid binlog file name: '%s'", key, p->file);
    if (p->file[0] == '\0' && gtid[0] == '\0')
        return errSet(err, ERR_FORMAT, "field '%s' names neither a file nor a gtid state", key);
    p->gtidState = bvStrdup(gtid);
    return 0;
}

int
archiveGapRecordParse(const char *text, size_t len, ArchiveGapRecord *rec, Err *err) {
    JsonValue *doc = archiveDocParseVersion(text, len, "gap record", err);
    const char *reason;
    int rc = -1;

    memset(rec, 0, sizeof(*rec));
    if (doc == NULL)
        return -1;
    if (jsonReqU64(doc, "after_seq", &rec->afterSeq, err) != 0 || jsonReqU64(doc, "before_seq", &rec->beforeSeq, err) != 0 ||
        jsonReqStrCopy(doc, "created", rec->created, sizeof(rec->created), err) != 0)
        goto out;
    if (rec->afterSeq < 1 || rec->beforeSeq != rec->afterSeq + 1) {
        errSet(err, ERR_FORMAT, "fields 'after_seq' %" PRIu64 " and 'before_seq' %" PRIu64 " are not consecutive seqs",
               rec->afterSeq, rec->beforeSeq);
        goto out;
    }
    if (pointParse(doc, "from", true, &rec->from, err) != 0 || pointParse(doc, "to", false, &rec->to, err) != 0)
        goto out;
    if ((reason = jsonStr(jsonGet(doc, "reason"), NULL)) != NULL)
        snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
    rc = 0;
out:
    if (rc != 0)
        archiveGapRecordClear(rec);
    jsonFree(doc);
    return rc;
}

static void
pointToJson(const char *key, const ArchiveGapPoint *p, Buf *out) {
    jsonBufPrintf(out, ",\"%s\":{\"file\":", key);
    jsonBufString(out, p->file, strlen(p->file));
    jsonBufPrintf(out, ",\"pos\":%" PRIu64, p->pos);
    archiveJsonPutStr(out, "gtid_state", p->gtidState != NULL ? p->gtidState : "");
    bufAppend(out, "}", 1);
}

void
archiveGapRecordToJson(const ArchiveGapRecord *rec, Buf *out) {
    jsonBufPrintf(out, "{\"version\":%d,\"after_seq\":%" PRIu64 ",\"before_seq\":%" PRIu64, ARCHIVE_FORMAT_VERSION,
                  rec->afterSeq, rec->beforeSeq);
    pointToJson("from", &rec->from, out);
    pointToJson("to", &rec->to, out);
    archiveJsonPutStr(out, "created", rec->created);
    archiveJsonPutStr(out, "reason", rec->reason);
    bufAppend(out, "}", 1);
}

static size_t
pointDescribe(const ArchiveGapPoint *p, char *out, size_t size) {
    const char *g = p->gtidState != NULL && p->gtidState[0] ? p->gtidState : "unknown";
    int n = p->file[0] ? snprintf(out, size, "%s:%" PRIu64 " (gtid state %s)", p->file, p->pos, g)
                       : snprintf(out, size, "gtid state %s", g);

    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

void
archiveGapRecordDescribe(const ArchiveGapRecord *rec, char *out, size_t size) {
    size_t n = (size_t)snprintf(out, size, "from ");

    if (n >= size)
        return;
    n += pointDescribe(&rec->from, out + n, size - n);
    if (n + 4 >= size)
        return;
    n += (size_t)snprintf(out + n, size - n, " to ");
    pointDescribe(&rec->to, out + n, size - n);
}

static bool
pointSame(const ArchiveGapPoint *a, const ArchiveGapPoint *b) {
    return strcmp(a->file, b->file) == 0 && a->pos == b->pos &&
           strcmp(a->gtidState ? a->gtidState : "", b->gtidState ? b->gtidState : "") == 0;
}

int
archiveGapRecordWrite(Archive *a, ArchiveGapRecord *rec, Err *err) {
    ArchiveGapRecord old;
    char name[64], was[1024], now[1024];
    uint8_t *data;
    size_t len;
    Buf *doc = bufNew(512);
    int rc;

    archiveGapName(rec->beforeSeq, name, sizeof(name));
    timeIsoNow(rec->created, sizeof(rec->created));
    archiveGapRecordToJson(rec, doc);
    bufAppend(doc, "\n", 1);
    rc = archiveDocPutOnce(a, name, doc, &data, &len, err);
    bufFree(doc);
    if (rc <= 0)
        return rc;
    /* The same gap accepted again (the first start stopped before its segment was archived). */
    rc = archiveGapRecordParse((const char *)data, len, &old, err);
    bvFree(data);
    if (rc != 0)
        return errPrefix(err, "gap record '%s' in '%s'", name, archiveUrl(a));
    if (old.afterSeq == rec->afterSeq && pointSame(&old.from, &rec->from) && pointSame(&old.to, &rec->to)) {
        archiveGapRecordClear(&old);
        return 0;
    }
    archiveGapRecordDescribe(&old, was, sizeof(was));
    archiveGapRecordDescribe(rec, now, sizeof(now));
    archiveGapRecordClear(&old);
    return errSet(err, ERR_EXISTS,
                  "gap record '%s' in '%s' already accepts another gap (%s), not %s: start from where that record "
                  "says, or without --accept-gap",
                  name, archiveUrl(a), was, now);
}

void
archiveGapRecordClear(ArchiveGapRecord *rec) {
    bvFree(rec->from.gtidState);
    bvFree(rec->to.gtidState);
    rec->from.gtidState = rec->to.gtidState = NULL;
}

size_t
archiveCatalogGapRecordCount(const ArchiveCatalog *c) {
    return c->gapRecordCount;
}

const ArchiveGapRecord *
archiveCatalogGapRecordAt(const ArchiveCatalog *c, size_t i) {
    return i < c->gapRecordCount ? &c->gapRecords[i] : NULL;
}

const ArchiveGapRecord *
archiveCatalogGapRecordFind(const ArchiveCatalog *c, uint64_t beforeSeq) {
    for (size_t i = 0; i < c->gapRecordCount; i++)
        if (c->gapRecords[i].beforeSeq == beforeSeq)
            return &c->gapRecords[i];
    return NULL;
}
