/* checkpoint.json: reading, parsing, writing, and the checkpoint a catalog supports. */
#include "archive/checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "archive/internal.h"
#include "archive/summary.h"
#include "common/time.h"
#include "common/mem.h"

/* "2026-11-21T04:31:00Z" (what archiveCheckpointWrite() stores) as microseconds; 0 otherwise. */
static uint64_t
updatedUs(const char *iso) {
    struct tm tm;
    char tail = 0;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &tail) != 7 || tail != 'Z')
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    if ((t = timegm(&tm)) <= 0)
        return 0;
    return (uint64_t)t * 1000000u;
}

int
archiveCheckpointParse(const char *text, size_t len, ArchiveCheckpoint *cp, Err *err) {
    JsonValue *doc = archiveDocParseVersion(text, len, "checkpoint", err);
    const char *gtid;
    size_t glen;
    int rc = -1;

    memset(cp, 0, sizeof(*cp));
    if (doc == NULL)
        return -1;
    if (jsonReqU64(doc, "seq", &cp->seq, err) != 0 || jsonReqStrCopy(doc, "file", cp->file, sizeof(cp->file), err) != 0 ||
        jsonReqU64(doc, "end_pos", &cp->endPos, err) != 0 ||
        jsonReqStrCopy(doc, "last_gtid", cp->lastGtid, sizeof(cp->lastGtid), err) != 0 ||
        jsonReqU64(doc, "last_time_us", &cp->lastTimeUs, err) != 0 ||
        jsonReqU64(doc, "caught_up_us", &cp->caughtUpUs, err) != 0 ||
        jsonReqStrCopy(doc, "updated", cp->updated, sizeof(cp->updated), err) != 0)
        goto out;
    if ((gtid = jsonStr(jsonGet(doc, "gtid_end"), &glen)) == NULL || glen > SEGMENT_GTID_MAX || strlen(gtid) != glen) {
        errSet(err, ERR_FORMAT, "missing or invalid field 'gtid_end'");
        goto out;
    }
    /* Added later: absent in checkpoints of older writers. */
    if (jsonGet(doc, "confirmed_us") != NULL && !jsonU64(jsonGet(doc, "confirmed_us"), &cp->confirmedUs)) {
        errSet(err, ERR_FORMAT, "invalid field 'confirmed_us'");
        goto out;
    }
    cp->updatedUs = updatedUs(cp->updated);
    cp->gtidEnd = bvStrdup(gtid);
    rc = 0;
out:
    jsonFree(doc);
    return rc;
}

int
archiveCheckpointRead(Archive *a, ArchiveCheckpoint *cp, Err *err) {
    uint8_t *data;
    size_t len;
    int rc;

    memset(cp, 0, sizeof(*cp));
    if (storageGetBuf(a->storage, ARCHIVE_CHECKPOINT_OBJECT, ARCHIVE_DOC_MAX, &data, &len, err) != 0)
        return -1;
    rc = archiveCheckpointParse((const char *)data, len, cp, err);
    bvFree(data);
    if (rc != 0 && err->code == ERR_FORMAT)
        errPrefix(err, "'%s' in '%s'", ARCHIVE_CHECKPOINT_OBJECT, archiveUrl(a));
    return rc;
}

int
archiveCheckpointWrite(Archive *a, const ArchiveCheckpoint *cp, Err *err) {
    Buf *doc = bufNew(512);
    char updated[32];
    int rc;

    timeIsoNow(updated, sizeof(updated));
    jsonBufPrintf(doc, "{\"version\":%d,\"seq\":%" PRIu64, ARCHIVE_FORMAT_VERSION, cp->seq);
    archiveJsonPutStr(doc, "file", cp->file);
    jsonBufPrintf(doc, ",\"end_pos\":%" PRIu64, cp->endPos);
    archiveJsonPutStr(doc, "gtid_end", cp->gtidEnd != NULL ? cp->gtidEnd : "");
    archiveJsonPutStr(doc, "last_gtid", cp->lastGtid);
    jsonBufPrintf(doc, ",\"last_time_us\":%" PRIu64 ",\"caught_up_us\":%" PRIu64, cp->lastTimeUs, cp->caughtUpUs);
    if (cp->confirmedUs != 0)
        jsonBufPrintf(doc, ",\"confirmed_us\":%" PRIu64, cp->confirmedUs);
    archiveJsonPutStr(doc, "updated", updated);
    jsonBufPrintf(doc, "}\n");
    rc = storagePutBuf(a->storage, ARCHIVE_CHECKPOINT_OBJECT, doc->data, doc->len, STORAGE_PUT_REPLACE, err);
    bufFree(doc);
    return rc;
}

void
archiveCheckpointClear(ArchiveCheckpoint *cp) {
    bvFree(cp->gtidEnd);
    cp->gtidEnd = NULL;
}

void
archiveCheckpointFromCatalog(const ArchiveCatalog *c, ArchiveCheckpoint *cp) {
    uint64_t seq = archiveCatalogContiguousSeq(c);
    size_t idx;

    memset(cp, 0, sizeof(*cp));
    if (seq == 0 || !archiveCatalogFind(c, seq, &idx)) {
        cp->gtidEnd = bvStrdup("");
        return;
    }
    cp->seq = seq;
    snprintf(cp->file, sizeof(cp->file), "%s", c->entries[idx]->meta.file);
    cp->endPos = c->entries[idx]->meta.endPos;
    cp->gtidEnd = bvStrdup(segmentMetaGtidEnd(&c->entries[idx]->meta));
    /* The last transaction may be in an earlier segment than the last one. */
    for (size_t i = idx + 1; i-- > 0;)
        if (c->entries[i]->meta.transactions > 0) {
            snprintf(cp->lastGtid, sizeof(cp->lastGtid), "%s", c->entries[i]->meta.lastGtid);
            cp->lastTimeUs = c->entries[i]->meta.lastTimeUs;
            break;
        }
}

int
archiveCheckpointFromView(ArchiveView *v, ArchiveCheckpoint *cp, Err *err) {
    uint64_t seq = archiveViewContiguousSeq(v);
    size_t spans = archiveViewSpanCount(v);
    SegmentMeta m;

    memset(cp, 0, sizeof(*cp));
    if (seq == 0) {
        cp->gtidEnd = bvStrdup("");
        return 0;
    }
    if (archiveViewGet(v, seq, &m, err) != 0)
        return -1;
    cp->seq = seq;
    snprintf(cp->file, sizeof(cp->file), "%s", m.file);
    cp->endPos = m.endPos;
    cp->gtidEnd = bvStrdup(segmentMetaGtidEnd(&m));
    /* The last transaction may be in an earlier segment: the segments after the summarised blocks
     * one by one, then the blocks' summary lines. */
    for (uint64_t s = seq; s >= archiveViewFirstSeq(v) && s > 0; s--) {
        if (spans > 0 && s <= archiveViewSpanAt(v, spans - 1)->lastSeq) {
            for (size_t i = spans; i-- > 0;) {
                const ArchiveSpan *span = archiveViewSpanAt(v, i);

                if (span->lastSeq <= s && span->transactions > 0) {
                    snprintf(cp->lastGtid, sizeof(cp->lastGtid), "%s", span->lastGtid);
                    cp->lastTimeUs = span->lastTimeUs;
                    break;
                }
            }
            break;
        }
        if (s != seq) {
            segmentMetaClear(&m);
            if (archiveViewGet(v, s, &m, err) != 0) {
                archiveCheckpointClear(cp);
                return -1;
            }
        }
        if (m.transactions > 0) {
            snprintf(cp->lastGtid, sizeof(cp->lastGtid), "%s", m.lastGtid);
            cp->lastTimeUs = m.lastTimeUs;
            break;
        }
    }
    segmentMetaClear(&m);
    return 0;
}
