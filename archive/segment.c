/*
 * Segment names and metadata: the object name of a segment, binlog file names and their order,
 * and the metadata JSON shared by the trailer of a segment and the lines of the index
 * (docs/FORMAT.md, "Segments"). The writer is segment_write.c, the reader segment_read.c.
 */
#include "archive/segment.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "binlog/pos.h"
#include "common/json.h"
#include "common/mem.h"

/* ---- names ----------------------------------------------------------------------------------- */
void
segmentName(uint64_t seq, const char *file, uint64_t startPos, SegmentNaming naming, char *out, size_t size) {
    if (naming == SEGMENT_NAMING_GROUPED)
        snprintf(out, size, "segments/%012" PRIu64 "/%016" PRIu64 "-%s-%010" PRIu64 ".bvs", seq / SEGMENT_GROUP_SEQS,
                 seq, file, startPos);
    else
        snprintf(out, size, "segments/%016" PRIu64 "-%s-%010" PRIu64 ".bvs", seq, file, startPos);
}

void
segmentListAfter(uint64_t from, SegmentNaming naming, char *out, size_t size) {
    /* '~' sorts after the '-' that follows the seq in every name of seq from - 1. */
    if (from <= 1)
        out[0] = '\0';
    else if (naming == SEGMENT_NAMING_GROUPED)
        snprintf(out, size, "segments/%012" PRIu64 "/%016" PRIu64 "~", (from - 1) / SEGMENT_GROUP_SEQS, from - 1);
    else
        snprintf(out, size, "segments/%016" PRIu64 "~", from - 1);
}

bool
segmentFileNameValid(const char *file) {
    return strlen(file) < SEGMENT_FILE_MAX && binlogFileNameValid(file);
}

/* Parse exactly `len` decimal digits at p. */
static bool
parseDigits(const char *p, size_t len, uint64_t *out) {
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        if (v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

int
segmentNameParse(const char *name, uint64_t *seq, char *file, size_t fileSize, uint64_t *startPos,
                 SegmentNaming *naming) {
    static const char prefix[] = "segments/", suffix[] = ".bvs";
    const char *p, *end, *dash;
    uint64_t group = 0;
    bool grouped;
    size_t len, fileLen;

    if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    p = name + sizeof(prefix) - 1;
    /* Format 3: the 12-digit group directory first. */
    grouped = strlen(p) > 12 && p[12] == '/';
    if (grouped) {
        if (!parseDigits(p, 12, &group))
            return -1;
        p += 13;
    }
    len = strlen(p);
    if (len < 16 + 1 + 1 + 1 + 10 + 4 || strcmp(p + len - 4, suffix) != 0 || p[16] != '-')
        return -1;
    if (!parseDigits(p, 16, seq) || (grouped && *seq / SEGMENT_GROUP_SEQS != group))
        return -1;
    end = p + len - 4;
    for (dash = end; dash > p + 17 && dash[-1] != '-'; dash--)
        ;
    if (dash <= p + 17 || end - dash < 10 || !parseDigits(dash, (size_t)(end - dash), startPos))
        return -1;
    fileLen = (size_t)(dash - 1 - (p + 17));
    if (fileLen == 0 || fileLen >= fileSize)
        return -1;
    memcpy(file, p + 17, fileLen);
    file[fileLen] = '\0';
    if (naming != NULL)
        *naming = grouped ? SEGMENT_NAMING_GROUPED : SEGMENT_NAMING_FLAT;
    return segmentFileNameValid(file) ? 0 : -1;
}

/* Compare two decimal digit strings by value. */
static int
compareNumbers(const char *a, size_t alen, const char *b, size_t blen) {
    while (alen > 1 && *a == '0')
        a++, alen--;
    while (blen > 1 && *b == '0')
        b++, blen--;
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

static bool
allDigits(const char *p, size_t len) {
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

int
segmentFileCompare(const char *a, const char *b) {
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');

    if (da != NULL && db != NULL && da - a == db - b && memcmp(a, b, (size_t)(da - a)) == 0 &&
        allDigits(da + 1, strlen(da + 1)) && allDigits(db + 1, strlen(db + 1)))
        return compareNumbers(da + 1, strlen(da + 1), db + 1, strlen(db + 1));
    return strcmp(a, b);
}

/* ---- metadata -------------------------------------------------------------------------------- */

static const char *
flavourName(BinlogFlavour flavour) {
    return flavour == BINLOG_FLAVOUR_MARIADB ? "mariadb" : flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "unknown";
}

uint32_t
segmentMetaTimeline(const SegmentMeta *m) {
    return m->timeline != 0 ? m->timeline : 1;
}

uint64_t
segmentMetaObjectEndPos(const SegmentMeta *m) {
    return m->objectEndPos != 0 ? m->objectEndPos : m->endPos;
}

const char *
segmentMetaGtidStart(const SegmentMeta *m) {
    return m->gtidStart != NULL ? m->gtidStart : "";
}

const char *
segmentMetaGtidEnd(const SegmentMeta *m) {
    return m->gtidEnd != NULL ? m->gtidEnd : "";
}

static void
putStr(Buf *out, const char *key, const char *value) {
    jsonBufPrintf(out, ",\"%s\":", key);
    jsonBufString(out, value, strlen(value));
}

void
segmentMetaToJson(const SegmentMeta *m, bool withObject, Buf *out) {
    bufAppend(out, "{", 1);
    if (withObject) {
        jsonBufPrintf(out, "\"name\":");
        jsonBufString(out, m->name, strlen(m->name));
        jsonBufPrintf(out, ",\"size\":%" PRIu64 ",\"sha256\":\"%s\",", m->size, m->sha256);
    }
    jsonBufPrintf(out, "\"version\":%d,\"seq\":%" PRIu64 ",\"flavour\":\"%s\",\"server_id\":%" PRIu32,
                  SEGMENT_FORMAT_VERSION, m->seq, flavourName(m->flavour), m->serverId);
    putStr(out, "server_uuid", m->serverUuid);
    putStr(out, "server_version", m->serverVersion);
    putStr(out, "file", m->file);
    jsonBufPrintf(out, ",\"start_pos\":%" PRIu64 ",\"end_pos\":%" PRIu64 ",\"fde_len\":%" PRIu32
                       ",\"content_len\":%" PRIu64,
                  m->startPos, m->endPos, m->fdeLen, m->contentLen);
    putStr(out, "content_sha256", m->contentSha256);
    putStr(out, "gtid_start", segmentMetaGtidStart(m));
    putStr(out, "gtid_end", segmentMetaGtidEnd(m));
    putStr(out, "first_gtid", m->firstGtid);
    putStr(out, "last_gtid", m->lastGtid);
    jsonBufPrintf(out, ",\"first_time_us\":%" PRIu64 ",\"last_time_us\":%" PRIu64 ",\"events\":%" PRIu64
                       ",\"transactions\":%" PRIu64 ",\"ends_file\":%s",
                  m->firstTimeUs, m->lastTimeUs, m->events, m->transactions, m->endsFile ? "true" : "false");
    /* Format 2's members (format-1 readers ignore them); a format-1 segment read back has none,
     * and is written back as it was. */
    if (!m->timesInexact)
        jsonBufPrintf(out, ",\"timeline\":%" PRIu32 ",\"min_time_us\":%" PRIu64 ",\"max_time_us\":%" PRIu64,
                      segmentMetaTimeline(m), m->minTimeUs, m->maxTimeUs);
    if (m->sourceEncrypted)
        jsonBufPrintf(out, ",\"source_encrypted\":true");
    putStr(out, "created", m->created);
    bufAppend(out, "}", 1);
}

static int
reqGtidState(const JsonValue *obj, const char *key, char **dst, Err *err) {
    const char *s;
    size_t len;

    if ((s = jsonStr(jsonGet(obj, key), &len)) == NULL)
        return errSet(err, ERR_FORMAT, "missing or invalid field '%s'", key);
    if (len > SEGMENT_GTID_MAX || strlen(s) != len)
        return errSet(err, ERR_FORMAT, "field '%s' is longer than %d bytes or holds a NUL", key, SEGMENT_GTID_MAX);
    *dst = bvStrndup(s, len);
    return 0;
}

static bool
isSha256Hex(const char *s) {
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* timeline, min_time_us, max_time_us: all three or none (a format-1 segment: timeline 1, the
 * first and last commit times as bounds, inexact). */
static int
formatTwoFromValue(const JsonValue *obj, SegmentMeta *m, Err *err) {
    uint64_t timeline;

    if (jsonGet(obj, "timeline") == NULL && jsonGet(obj, "min_time_us") == NULL && jsonGet(obj, "max_time_us") == NULL) {
        m->timeline = 1;
        m->minTimeUs = m->firstTimeUs < m->lastTimeUs ? m->firstTimeUs : m->lastTimeUs;
        m->maxTimeUs = m->firstTimeUs < m->lastTimeUs ? m->lastTimeUs : m->firstTimeUs;
        m->timesInexact = true;
        return 0;
    }
    if (jsonReqU64(obj, "timeline", &timeline, err) != 0 || jsonReqU64(obj, "min_time_us", &m->minTimeUs, err) != 0 ||
        jsonReqU64(obj, "max_time_us", &m->maxTimeUs, err) != 0)
        return -1;
    if (timeline == 0 || timeline > UINT32_MAX)
        return errSet(err, ERR_FORMAT, "field 'timeline' is %" PRIu64 ", expected 1 to 4294967295", timeline);
    m->timeline = (uint32_t)timeline;
    if (m->minTimeUs > m->maxTimeUs)
        return errSet(err, ERR_FORMAT, "field 'min_time_us' %" PRIu64 " is above 'max_time_us' %" PRIu64, m->minTimeUs,
                      m->maxTimeUs);
    return 0;
}

static int
metaFromValue(const JsonValue *obj, bool withObject, SegmentMeta *m, Err *err) {
    char flavour[16];
    uint64_t version, serverId, fdeLen;

    if (jsonType(obj) != JSON_OBJECT)
        return errSet(err, ERR_FORMAT, "not a JSON object");
    if (jsonReqU64(obj, "version", &version, err) != 0)
        return -1;
    if (version != SEGMENT_FORMAT_VERSION)
        return errSet(err, ERR_FORMAT, "segment format version %" PRIu64 " is not supported (this binvault reads version %d)",
                      version, SEGMENT_FORMAT_VERSION);
    if (jsonReqU64(obj, "seq", &m->seq, err) != 0 || jsonReqStrCopy(obj, "flavour", flavour, sizeof(flavour), err) != 0 ||
        jsonReqU64(obj, "server_id", &serverId, err) != 0 ||
        jsonReqStrCopy(obj, "server_uuid", m->serverUuid, sizeof(m->serverUuid), err) != 0 ||
        jsonReqStrCopy(obj, "server_version", m->serverVersion, sizeof(m->serverVersion), err) != 0 ||
        jsonReqStrCopy(obj, "file", m->file, sizeof(m->file), err) != 0 ||
        jsonReqU64(obj, "start_pos", &m->startPos, err) != 0 || jsonReqU64(obj, "end_pos", &m->endPos, err) != 0 ||
        jsonReqU64(obj, "fde_len", &fdeLen, err) != 0 || jsonReqU64(obj, "content_len", &m->contentLen, err) != 0 ||
        jsonReqStrCopy(obj, "content_sha256", m->contentSha256, sizeof(m->contentSha256), err) != 0 ||
        reqGtidState(obj, "gtid_start", &m->gtidStart, err) != 0 ||
        reqGtidState(obj, "gtid_end", &m->gtidEnd, err) != 0 ||
        jsonReqStrCopy(obj, "first_gtid", m->firstGtid, sizeof(m->firstGtid), err) != 0 ||
        jsonReqStrCopy(obj, "last_gtid", m->lastGtid, sizeof(m->lastGtid), err) != 0 ||
        jsonReqU64(obj, "first_time_us", &m->firstTimeUs, err) != 0 ||
        jsonReqU64(obj, "last_time_us", &m->lastTimeUs, err) != 0 || jsonReqU64(obj, "events", &m->events, err) != 0 ||
        jsonReqU64(obj, "transactions", &m->transactions, err) != 0 ||
        jsonReqStrCopy(obj, "created", m->created, sizeof(m->created), err) != 0)
        return -1;
    if (!jsonBool(jsonGet(obj, "ends_file"), &m->endsFile))
        return errSet(err, ERR_FORMAT, "missing or invalid field 'ends_file'");
    if (formatTwoFromValue(obj, m, err) != 0)
        return -1;
    /* Optional (absent: false). */
    if (jsonGet(obj, "source_encrypted") != NULL && !jsonBool(jsonGet(obj, "source_encrypted"), &m->sourceEncrypted))
        return errSet(err, ERR_FORMAT, "invalid field 'source_encrypted' (expected true or false)");
    if (strcmp(flavour, "mariadb") == 0)
        m->flavour = BINLOG_FLAVOUR_MARIADB;
    else if (strcmp(flavour, "mysql") == 0)
        m->flavour = BINLOG_FLAVOUR_MYSQL;
    else
        return errSet(err, ERR_FORMAT, "field 'flavour' is '%s', expected 'mariadb' or 'mysql'", flavour);
    if (serverId > UINT32_MAX)
        return errSet(err, ERR_FORMAT, "field 'server_id' is above 4294967295");
    m->serverId = (uint32_t)serverId;
    if (m->seq == 0)
        return errSet(err, ERR_FORMAT, "field 'seq' is 0 (sequence numbers start at 1)");
    if (!segmentFileNameValid(m->file))
        return errSet(err, ERR_FORMAT, "field 'file' is not a valid binlog file name: '%s'", m->file);
    if (fdeLen < BINLOG_HEADER_LEN || fdeLen > UINT32_MAX)
        return errSet(err, ERR_FORMAT, "field 'fde_len' is %" PRIu64 ", not the length of an event", fdeLen);
    m->fdeLen = (uint32_t)fdeLen;
    if (m->startPos < BINLOG_MAGIC_LEN || m->endPos < m->startPos)
        return errSet(err, ERR_FORMAT, "byte range %" PRIu64 "-%" PRIu64 " of the file is not valid", m->startPos,
                      m->endPos);
    if (m->endPos - m->startPos > UINT64_MAX - fdeLen || m->contentLen != fdeLen + (m->endPos - m->startPos))
        return errSet(err, ERR_FORMAT, "field 'content_len' is %" PRIu64 ", expected fde_len + end_pos - start_pos = %" PRIu64,
                      m->contentLen, fdeLen + (m->endPos - m->startPos));
    if (!isSha256Hex(m->contentSha256))
        return errSet(err, ERR_FORMAT, "field 'content_sha256' is not 64 lowercase hex digits");
    if (withObject) {
        char want[SEGMENT_NAME_MAX];

        if (jsonReqStrCopy(obj, "name", m->name, sizeof(m->name), err) != 0 || jsonReqU64(obj, "size", &m->size, err) != 0 ||
            jsonReqStrCopy(obj, "sha256", m->sha256, sizeof(m->sha256), err) != 0)
            return -1;
        SegmentNaming naming;
        uint64_t seq, start;
        char file[SEGMENT_FILE_MAX];

        /* Either naming (the line does not say its archive's format): what it says must be the
         * seq, file and start_pos of the line. */
        if (segmentNameParse(m->name, &seq, file, sizeof(file), &start, &naming) != 0)
            naming = SEGMENT_NAMING_GROUPED;
        segmentName(m->seq, m->file, m->startPos, naming, want, sizeof(want));
        if (strcmp(want, m->name) != 0)
            return errSet(err, ERR_FORMAT, "field 'name' is '%s', expected '%s' from seq, file and start_pos", m->name,
                          want);
        if (!isSha256Hex(m->sha256))
            return errSet(err, ERR_FORMAT, "field 'sha256' is not 64 lowercase hex digits");
        if (m->size < SEGMENT_MAGIC_LEN + SEGMENT_TAIL_LEN)
            return errSet(err, ERR_FORMAT, "field 'size' is %" PRIu64 ", too small for a segment", m->size);
    }
    return 0;
}

int
segmentMetaFromJson(const char *json, size_t len, bool withObject, SegmentMeta *m, Err *err) {
    JsonValue *root = jsonParse(json, len, err);
    int rc;

    memset(m, 0, sizeof(*m));
    if (root == NULL)
        return -1;
    rc = metaFromValue(root, withObject, m, err);
    jsonFree(root);
    if (rc != 0)
        segmentMetaClear(m);
    return rc;
}

void
segmentMetaCopy(SegmentMeta *dst, const SegmentMeta *src) {
    *dst = *src;
    dst->gtidStart = bvStrdup(segmentMetaGtidStart(src));
    dst->gtidEnd = bvStrdup(segmentMetaGtidEnd(src));
}

void
segmentMetaClear(SegmentMeta *m) {
    bvFree(m->gtidStart);
    bvFree(m->gtidEnd);
    m->gtidStart = m->gtidEnd = NULL;
}
