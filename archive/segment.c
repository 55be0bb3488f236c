#include "archive/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binlog/pos.h"
#include "binlog/reader.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"

/* Input chunk fed from the lz4 decoder to the binlog reader. */
#define SEGMENT_READ_CHUNK (64 * 1024)
/* The first read of the trailer takes this much of the object's end: trailers are a few hundred
 * bytes, so one ranged read usually serves it. */
#define SEGMENT_TAIL_READ (64 * 1024)

/* ---- names ----------------------------------------------------------------------------------- */

void
segmentName(uint64_t seq, const char *file, uint64_t startPos, char *out, size_t size) {
    snprintf(out, size, "segments/%016" PRIu64 "-%s-%010" PRIu64 ".bvs", seq, file, startPos);
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
segmentNameParse(const char *name, uint64_t *seq, char *file, size_t fileSize, uint64_t *startPos) {
    static const char prefix[] = "segments/", suffix[] = ".bvs";
    const char *p, *end, *dash;
    size_t len, fileLen;

    if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    p = name + sizeof(prefix) - 1;
    len = strlen(p);
    if (len < 16 + 1 + 1 + 1 + 10 + 4 || strcmp(p + len - 4, suffix) != 0 || p[16] != '-')
        return -1;
    if (!parseDigits(p, 16, seq))
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
        segmentName(m->seq, m->file, m->startPos, want, sizeof(want));
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

/* ---- writer ---------------------------------------------------------------------------------- */

/* Events are staged and pushed through the filter chain in blocks of this size: small events
 * (an OLTP binlog is mostly events of a few hundred bytes) would otherwise pay the per-call cost
 * of every filter (hashes, lz4, write) each.
 *
 * The chain (lz4, object hash, write) runs on a worker thread of the writer, one block behind
 * the caller: while it compresses block n, the caller (the agent's stream thread) hashes the
 * content and reads and frames the events of block n+1. Two blocks in memory, whatever the
 * segment size. */
#define SEGMENT_STAGE_SIZE (256 * 1024)

struct SegmentWriter {
    char *path;
    SegmentMeta meta;
    /* The content's SHA-256 is the caller's (it hashes each block before handing it over); the
     * chain, the worker's: lz4 -> tail -> object sha256 -> fd. */
    CryptoHash *contentHash;
    IoWrite *head, *tail, *objectHash;
    uint8_t *stage; /* content not yet handed to the worker (the caller's) */
    size_t staged;
    uint64_t contentBytes; /* content accepted so far (the caller's view) */
    uint64_t objectBytes;  /* bytes written to the object (the worker's until it is idle) */
    bool failed;
    bool sealed;

    /* The worker: under lock; `flight` is the block it writes, `flightLen` 0 when it is idle. */
    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint8_t *flight;
    size_t flightLen;
    bool workerStarted;
    bool workerStop;
    bool workerFailed;
    Err workerErr;
};

/* The filter between the lz4 compressor and the object: counts the object's bytes and, when the
 * chain closes (after the content hash is final and the lz4 frame ended), appends the trailer. */
typedef struct SegmentTail {
    IoWrite *next;
    SegmentWriter *w;
} SegmentTail;

static int
segmentTailWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    SegmentTail *this = ctx;

    this->w->objectBytes += len;
    return ioWrite(this->next, data, len, err);
}

static void
isoNow(char *out, size_t size) {
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
segmentTailClose(void *ctx, Err *err) {
    SegmentTail *this = ctx;
    SegmentWriter *w = this->w;
    Buf *trailer = bufNew(4096);
    uint8_t tail[SEGMENT_TAIL_LEN];
    int rc;

    /* contentLen and contentSha256 were set by segmentWriterSeal(). */
    isoNow(w->meta.created, sizeof(w->meta.created));
    segmentMetaToJson(&w->meta, false, trailer);
    BV_ASSERT(trailer->len <= SEGMENT_TRAILER_MAX);
    wrU32(tail, (uint32_t)trailer->len);
    wrU32(tail + 4, cryptoCrc32(0, trailer->data, trailer->len));
    memcpy(tail + 8, SEGMENT_END_MAGIC, 8);
    bufAppend(trailer, tail, sizeof(tail));
    rc = segmentTailWrite(this, trailer->data, trailer->len, err);
    bufFree(trailer);
    if (rc != 0)
        return -1;
    return ioWriteClose(this->next, err);
}

static void
segmentTailFree(void *ctx) {
    SegmentTail *this = ctx;

    ioWriteFree(this->next);
    bvFree(this);
}

static const IoWriteVt segmentTailVt = {
    .name = "segment-tail",
    .write = segmentTailWrite,
    .close = segmentTailClose,
    .free = segmentTailFree,
};

/* Replace a GTID state string, storing "" (unknown) for one above the limit. */
static void
setGtidState(char **dst, const char *state) {
    if (strlen(state) > SEGMENT_GTID_MAX) {
        logWarn("gtid state of %zu bytes is longer than the %d bytes segment metadata keeps; stored as unknown",
                strlen(state), SEGMENT_GTID_MAX);
        state = "";
    }
    bvFree(*dst);
    *dst = bvStrdup(state);
}

/* The worker: writes each block handed to it through the chain; stops at the first error (kept
 * for the caller) or when told to. */
static void *
segmentWorker(void *arg) {
    SegmentWriter *w = arg;
    Err err;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->flightLen == 0 && !w->workerStop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->flightLen == 0)
            break;
        pthread_mutex_unlock(&w->lock);
        errClear(&err);
        int rc = w->workerFailed ? 0 : ioWrite(w->head, w->flight, w->flightLen, &err);
        pthread_mutex_lock(&w->lock);
        if (rc != 0) {
            w->workerFailed = true;
            w->workerErr = err;
        }
        w->flightLen = 0;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

SegmentWriter *
segmentWriterNew(const char *path, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen, Err *err) {
    SegmentWriter *w;
    SegmentTail *tail;
    BinlogFormat fmt;
    uint8_t *copy;
    IoWrite *fdSink;
    int fd, rc;

    if (!segmentFileNameValid(meta->file)) {
        errSet(err, ERR_FORMAT, "invalid binlog file name '%s'", meta->file);
        return NULL;
    }
    if (meta->startPos < BINLOG_MAGIC_LEN || fdeLen < BINLOG_HEADER_LEN || fdeLen > UINT32_MAX ||
        fde[4] != BINLOG_FORMAT_DESCRIPTION || rdU32(fde + 9) != fdeLen) {
        errSet(err, ERR_FORMAT, "segment of '%s' at %" PRIu64 ": not a format description event of %zu bytes",
               meta->file, meta->startPos, fdeLen);
        return NULL;
    }
    if (binlogFormatFromFde(&fmt, fde, fdeLen, true, err) != 0) {
        errPrefix(err, "segment of '%s' at %" PRIu64, meta->file, meta->startPos);
        return NULL;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create '%s'", path);
        return NULL;
    }
    w = bvCalloc(1, sizeof(*w));
    w->path = bvStrdup(path);
    w->meta = *meta;
    w->meta.gtidStart = NULL;
    w->meta.gtidEnd = NULL;
    setGtidState(&w->meta.gtidStart, segmentMetaGtidStart(meta));
    setGtidState(&w->meta.gtidEnd, segmentMetaGtidStart(meta));
    snprintf(w->meta.serverVersion, sizeof(w->meta.serverVersion), "%s", fmt.serverVersion);
    w->meta.fdeLen = (uint32_t)fdeLen;
    w->meta.endPos = meta->startPos;
    w->meta.contentLen = 0;
    w->meta.contentSha256[0] = '\0';
    w->meta.firstGtid[0] = w->meta.lastGtid[0] = '\0';
    w->meta.firstTimeUs = w->meta.lastTimeUs = 0;
    w->meta.events = w->meta.transactions = 0;
    w->meta.endsFile = false;
    w->meta.name[0] = w->meta.sha256[0] = '\0';
    w->meta.size = 0;

    fdSink = ioWriteFdNew(fd, path, IO_FD_SYNC | IO_FD_CLOSE);
    w->objectHash = ioWriteHashNew(fdSink, CRYPTO_HASH_SHA256);
    tail = bvCalloc(1, sizeof(*tail));
    tail->next = w->objectHash;
    tail->w = w;
    w->tail = ioWriteNew(&segmentTailVt, tail);
    w->head = ioWriteLz4CompressNew(w->tail);
    w->contentHash = cryptoHashNew(CRYPTO_HASH_SHA256);
    w->stage = bvMalloc(SEGMENT_STAGE_SIZE);
    w->flight = bvMalloc(SEGMENT_STAGE_SIZE);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if ((rc = pthread_create(&w->worker, NULL, segmentWorker, w)) != 0) {
        errSetSys(err, ERR_INTERNAL, rc, "segment '%s': unable to start the compression thread", path);
        segmentWriterFree(w);
        return NULL;
    }
    w->workerStarted = true;

    /* The magic goes straight to the object; the FDE, with the in-use flag of an open file
     * cleared (its checksum is defined with the flag clear), opens the content. */
    copy = bvMalloc(fdeLen);
    memcpy(copy, fde, fdeLen);
    binlogFdeSetInUse(copy, false);
    rc = ioWrite(w->tail, SEGMENT_MAGIC, SEGMENT_MAGIC_LEN, err);
    if (rc == 0)
        rc = ioWrite(w->head, copy, fdeLen, err);
    cryptoHashUpdate(w->contentHash, copy, fdeLen);
    bvFree(copy);
    w->contentBytes = fdeLen;
    if (rc != 0) {
        segmentWriterFree(w);
        return NULL;
    }
    return w;
}

/* Wait until the worker is idle; -1 with its error when it failed. */
static int
workerWait(SegmentWriter *w, Err *err) {
    int rc = 0;

    pthread_mutex_lock(&w->lock);
    while (w->flightLen > 0)
        pthread_cond_wait(&w->cond, &w->lock);
    if (w->workerFailed) {
        *err = w->workerErr;
        rc = -1;
    }
    pthread_mutex_unlock(&w->lock);
    if (rc != 0)
        w->failed = true;
    return rc;
}

/* Hand the staged block to the worker (after the one it holds is written). */
static int
stageFlush(SegmentWriter *w, Err *err) {
    uint8_t *block;

    if (w->staged == 0)
        return 0;
    cryptoHashUpdate(w->contentHash, w->stage, w->staged);
    if (workerWait(w, err) != 0)
        return -1;
    pthread_mutex_lock(&w->lock);
    block = w->flight;
    w->flight = w->stage;
    w->flightLen = w->staged;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    w->stage = block;
    w->staged = 0;
    return 0;
}

int
segmentWriterAppend(SegmentWriter *w, const uint8_t *event, size_t len, uint64_t endPos, Err *err) {
    size_t done = 0;

    BV_ASSERT(!w->sealed);
    if (w->failed)
        return errSet(err, ERR_INTERNAL, "segment '%s' failed earlier", w->path);
    if (len < BINLOG_HEADER_LEN || rdU32(event + 9) != len)
        return errSet(err, ERR_FORMAT, "segment '%s': event of %zu bytes does not carry its own size", w->path, len);
    if (endPos != w->meta.endPos + len)
        return errSet(err, ERR_INTERNAL,
                      "segment '%s': event of %zu bytes ending at %" PRIu64 " does not follow the previous end %" PRIu64,
                      w->path, len, endPos, w->meta.endPos);
    /* An event larger than a block goes through in block-sized pieces. */
    while (done < len) {
        size_t n = len - done;

        if (n > SEGMENT_STAGE_SIZE - w->staged)
            n = SEGMENT_STAGE_SIZE - w->staged;
        memcpy(w->stage + w->staged, event + done, n);
        w->staged += n;
        done += n;
        if (w->staged == SEGMENT_STAGE_SIZE && stageFlush(w, err) != 0)
            return -1;
    }
    w->contentBytes += len;
    w->meta.endPos = endPos;
    w->meta.events++;
    return 0;
}

void
segmentWriterTransaction(SegmentWriter *w, const char *gtid, uint64_t commitTimeUs, const char *gtidStateAfter) {
    if (gtid == NULL)
        gtid = "";
    if (w->meta.transactions == 0) {
        snprintf(w->meta.firstGtid, sizeof(w->meta.firstGtid), "%s", gtid);
        w->meta.firstTimeUs = commitTimeUs;
    }
    snprintf(w->meta.lastGtid, sizeof(w->meta.lastGtid), "%s", gtid);
    w->meta.lastTimeUs = commitTimeUs;
    if (gtidStateAfter != NULL)
        setGtidState(&w->meta.gtidEnd, gtidStateAfter);
    w->meta.transactions++;
}

void
segmentWriterSetGtidEnd(SegmentWriter *w, const char *gtidState) {
    setGtidState(&w->meta.gtidEnd, gtidState);
}

void
segmentWriterSetGtidStart(SegmentWriter *w, const char *gtidState) {
    if (w->meta.transactions > 0)
        return;
    setGtidState(&w->meta.gtidStart, gtidState);
    setGtidState(&w->meta.gtidEnd, gtidState);
}

uint64_t
segmentWriterContentBytes(const SegmentWriter *w) {
    return w->contentBytes;
}

uint64_t
segmentWriterTransactions(const SegmentWriter *w) {
    return w->meta.transactions;
}

uint64_t
segmentWriterEvents(const SegmentWriter *w) {
    return w->meta.events;
}

uint64_t
segmentWriterEndPos(const SegmentWriter *w) {
    return w->meta.endPos;
}

int
segmentWriterSeal(SegmentWriter *w, bool endsFile, SegmentMeta *meta, Err *err) {
    BV_ASSERT(!w->sealed);
    if (w->failed)
        return errSet(err, ERR_INTERNAL, "segment '%s' failed earlier", w->path);
    w->meta.endsFile = endsFile;
    if (stageFlush(w, err) != 0 || workerWait(w, err) != 0)
        return errPrefix(err, "unable to seal segment '%s'", w->path);
    {
        uint8_t digest[CRYPTO_HASH_MAX_LEN];

        cryptoHashFinal(w->contentHash, digest, NULL);
        cryptoHexEncode(digest, CRYPTO_SHA256_LEN, w->meta.contentSha256);
        w->meta.contentLen = w->contentBytes;
    }
    if (ioWriteClose(w->head, err) != 0) {
        w->failed = true;
        return errPrefix(err, "unable to seal segment '%s'", w->path);
    }
    w->meta.size = w->objectBytes;
    snprintf(w->meta.sha256, sizeof(w->meta.sha256), "%s", ioWriteHashHex(w->objectHash));
    segmentName(w->meta.seq, w->meta.file, w->meta.startPos, w->meta.name, sizeof(w->meta.name));
    w->sealed = true;
    segmentMetaCopy(meta, &w->meta);
    return 0;
}

void
segmentWriterFree(SegmentWriter *w) {
    if (w == NULL)
        return;
    if (w->workerStarted) {
        pthread_mutex_lock(&w->lock);
        w->workerStop = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->worker, NULL);
    }
    if (w->flight != NULL) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
    }
    ioWriteFree(w->head);
    cryptoHashFree(w->contentHash);
    bvFree(w->stage);
    bvFree(w->flight);
    if (!w->sealed && unlink(w->path) != 0 && errno != ENOENT)
        logWarn("unable to remove the unfinished segment '%s': %s", w->path, strerror(errno));
    segmentMetaClear(&w->meta);
    bvFree(w->path);
    bvFree(w);
}

/* ---- reader ---------------------------------------------------------------------------------- */

IoRead *
segmentOpenPath(void *data, uint64_t offset, uint64_t length, Err *err) {
    const char *path = data;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        errSetSys(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "unable to open '%s'", path);
        return NULL;
    }
    return ioReadFdNew(fd, path, offset, length, IO_FD_CLOSE);
}

/* Read exactly `len` bytes at `offset` of the object. */
static int
readRange(SegmentOpenFn *open, void *data, uint64_t offset, uint8_t *buf, size_t len, Err *err) {
    IoRead *in = open(data, offset, len, err);
    ssize_t n;

    if (in == NULL)
        return -1;
    n = ioReadFull(in, buf, len, err);
    ioReadFree(in);
    if (n < 0)
        return -1;
    if ((size_t)n != len)
        return errSet(err, ERR_FORMAT, "object ended after %zd of the %zu bytes at offset %" PRIu64, n, len, offset);
    return 0;
}

static int
checkHeadMagic(const uint8_t *magic, Err *err) {
    if (memcmp(magic, SEGMENT_MAGIC, SEGMENT_MAGIC_LEN) == 0)
        return 0;
    if (memcmp(magic, SEGMENT_MAGIC, 6) == 0 && magic[7] == '\n')
        return errSet(err, ERR_FORMAT, "magic: segment format version %u is not supported (this binvault reads version %d)",
                      magic[6], SEGMENT_FORMAT_VERSION);
    return errSet(err, ERR_FORMAT, "magic: not a segment: the first 8 bytes are %02x %02x %02x %02x %02x %02x %02x %02x",
                  magic[0], magic[1], magic[2], magic[3], magic[4], magic[5], magic[6], magic[7]);
}

/* The trailer: checks and parses it into *meta, and hands the raw trailer with its 16-byte tail
 * to the caller (*raw, *rawLen). Messages are not prefixed with the segment name. */
static int
readTrailer(SegmentOpenFn *open, void *data, uint64_t size, SegmentMeta *meta, uint8_t **raw, size_t *rawLen,
            Err *err) {
    uint8_t magic[SEGMENT_MAGIC_LEN], *buf = NULL, *tail;
    size_t have, need;
    uint32_t tlen, crcStored, crcComputed;
    int rc = -1;

    memset(meta, 0, sizeof(*meta));
    if (size < SEGMENT_MAGIC_LEN + SEGMENT_TAIL_LEN + 1)
        return errSet(err, ERR_FORMAT, "object of %" PRIu64 " bytes is too small to be a segment", size);
    if (readRange(open, data, 0, magic, sizeof(magic), err) != 0 || checkHeadMagic(magic, err) != 0)
        return -1;
    have = size - SEGMENT_MAGIC_LEN < SEGMENT_TAIL_READ ? (size_t)(size - SEGMENT_MAGIC_LEN) : SEGMENT_TAIL_READ;
    buf = bvMalloc(have);
    if (readRange(open, data, size - have, buf, have, err) != 0)
        goto out;
    tail = buf + have - SEGMENT_TAIL_LEN;
    if (memcmp(tail + 8, SEGMENT_END_MAGIC, 8) != 0) {
        errSet(err, ERR_FORMAT, "trailer: end magic 'BVSEGEND' missing (object truncated, or not a segment)");
        goto out;
    }
    tlen = rdU32(tail);
    crcStored = rdU32(tail + 4);
    if (tlen == 0 || tlen > SEGMENT_TRAILER_MAX) {
        errSet(err, tlen == 0 ? ERR_FORMAT : ERR_LIMIT, "trailer: length %" PRIu32 " is %s", tlen,
               tlen == 0 ? "zero" : "above the limit of 1048576 bytes");
        goto out;
    }
    if ((uint64_t)tlen > size - SEGMENT_MAGIC_LEN - SEGMENT_TAIL_LEN - 1) {
        errSet(err, ERR_FORMAT, "trailer: length %" PRIu32 " does not fit in the %" PRIu64 "-byte object", tlen, size);
        goto out;
    }
    need = (size_t)tlen + SEGMENT_TAIL_LEN;
    if (need > have) {
        uint8_t *whole = bvMalloc(need);

        memcpy(whole + need - have, buf, have);
        bvFree(buf);
        buf = whole;
        if (readRange(open, data, size - need, buf, need - have, err) != 0)
            goto out;
    } else if (need < have) {
        memmove(buf, buf + have - need, need);
    }
    crcComputed = cryptoCrc32(0, buf, tlen);
    if (crcComputed != crcStored) {
        errSet(err, ERR_CHECKSUM, "trailer: crc32 mismatch: stored 0x%08" PRIx32 ", computed 0x%08" PRIx32, crcStored,
               crcComputed);
        goto out;
    }
    if (segmentMetaFromJson((const char *)buf, tlen, false, meta, err) != 0) {
        errPrefix(err, "trailer");
        goto out;
    }
    *raw = buf;
    *rawLen = need;
    buf = NULL;
    rc = 0;
out:
    bvFree(buf);
    return rc;
}

/* The trailer of a segment must describe the object it is in: its name, when it is one. */
static int
checkName(const char *name, const SegmentMeta *m, Err *err) {
    uint64_t seq, start;
    char file[SEGMENT_FILE_MAX];

    if (segmentNameParse(name, &seq, file, sizeof(file), &start) != 0)
        return 0;
    if (seq != m->seq || strcmp(file, m->file) != 0 || start != m->startPos)
        return errSet(err, ERR_FORMAT, "trailer: describes seq %" PRIu64 " of '%s' at %" PRIu64 ", not what the name says",
                      m->seq, m->file, m->startPos);
    return 0;
}

int
segmentReadMeta(const char *name, SegmentOpenFn *open, void *data, uint64_t size, SegmentMeta *meta, Err *err) {
    uint8_t *raw = NULL;
    size_t rawLen;

    if (readTrailer(open, data, size, meta, &raw, &rawLen, err) != 0 || checkName(name, meta, err) != 0) {
        segmentMetaClear(meta);
        return errPrefix(err, "segment '%s'", name);
    }
    bvFree(raw);
    snprintf(meta->name, sizeof(meta->name), "%s", name);
    meta->size = size;
    meta->sha256[0] = '\0';
    return 0;
}

/* A window of `left` bytes of a reader it does not own: the lz4 frame within the object. */
typedef struct SegmentWindow {
    IoRead *src;
    uint64_t left;
} SegmentWindow;

static ssize_t
segmentWindowRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    SegmentWindow *this = ctx;
    ssize_t n;

    if (this->left == 0)
        return 0;
    if (len > this->left)
        len = (size_t)this->left;
    n = ioRead(this->src, buf, len, err);
    if (n == 0)
        return errSet(err, ERR_FORMAT, "object ended %" PRIu64 " bytes before the end of its lz4 frame", this->left);
    if (n > 0)
        this->left -= (uint64_t)n;
    return n;
}

static const IoReadVt segmentWindowVt = {
    .name = "segment-window",
    .read = segmentWindowRead,
    .free = bvFree,
};

struct SegmentReader {
    char *name;
    SegmentMeta meta;
    uint8_t *trailer; /* raw trailer and tail, read again at the end and compared */
    size_t trailerLen;
    IoRead *object; /* sha256 observer over the whole object */
    IoRead *lz4;    /* decompressor over a window of `object` */
    BinlogReader *binlog;
    CryptoHash *contentHash;
    uint64_t contentBytes;
    uint8_t *fde;
    size_t fdeLen;
    BinlogFormat fmt;
    uint64_t events;
    bool lz4Done;
    int state; /* 0 reading, 1 verified end, -1 failed */
    Err failure;
    char sha256[65];
};

static int
readerFail(SegmentReader *r, Err *err) {
    errPrefix(err, "segment '%s'", r->name);
    r->state = -1;
    r->failure = *err;
    return -1;
}

/* Decompress the next chunk of content into the binlog reader: 1, 0 at the end of the frame, -1. */
static int
readerFill(SegmentReader *r, Err *err) {
    size_t avail;
    uint8_t *space = binlogReaderSpace(r->binlog, SEGMENT_READ_CHUNK, &avail);
    ssize_t n;

    if (avail > SEGMENT_READ_CHUNK)
        avail = SEGMENT_READ_CHUNK;
    n = ioRead(r->lz4, space, avail, err);
    if (n < 0)
        return errPrefix(err, "lz4 frame");
    if (n == 0) {
        r->lz4Done = true;
        return 0;
    }
    cryptoHashUpdate(r->contentHash, space, (size_t)n);
    r->contentBytes += (uint64_t)n;
    if (r->contentBytes > r->meta.contentLen)
        return errSet(err, ERR_FORMAT, "content: longer than the %" PRIu64 " bytes the trailer declares",
                      r->meta.contentLen);
    binlogReaderCommit(r->binlog, (size_t)n);
    return 1;
}

/* The end of the content: lengths, hashes, counts, and the trailer read again. */
static int
readerFinish(SegmentReader *r, Err *err) {
    uint8_t digest[CRYPTO_HASH_MAX_LEN], *again;
    char hex[CRYPTO_HASH_HEX_MAX];
    ssize_t n;
    uint8_t extra;

    if (binlogReaderPending(r->binlog) > 0)
        return errSet(err, ERR_FORMAT, "content: ends inside the event at offset %" PRIu64 " of '%s' (%zu bytes of it)",
                      binlogReaderOffset(r->binlog), r->meta.file, binlogReaderPending(r->binlog));
    if (r->contentBytes != r->meta.contentLen)
        return errSet(err, ERR_FORMAT, "content: %" PRIu64 " bytes, the trailer declares %" PRIu64, r->contentBytes,
                      r->meta.contentLen);
    cryptoHashFinal(r->contentHash, digest, NULL);
    cryptoHashFree(r->contentHash);
    r->contentHash = NULL;
    cryptoHexEncode(digest, CRYPTO_SHA256_LEN, hex);
    if (strcmp(hex, r->meta.contentSha256) != 0)
        return errSet(err, ERR_CHECKSUM, "content sha256 mismatch: computed %s, the trailer says %s", hex,
                      r->meta.contentSha256);
    if (r->events != r->meta.events)
        return errSet(err, ERR_FORMAT, "content: %" PRIu64 " events, the trailer declares %" PRIu64, r->events,
                      r->meta.events);
    again = bvMalloc(r->trailerLen);
    n = ioReadFull(r->object, again, r->trailerLen, err);
    if (n >= 0 && (size_t)n == r->trailerLen && memcmp(again, r->trailer, r->trailerLen) != 0)
        n = errSet(err, ERR_FORMAT, "trailer: changed between two reads of the object");
    else if (n >= 0 && (size_t)n != r->trailerLen)
        n = errSet(err, ERR_FORMAT, "object: ended inside the trailer");
    bvFree(again);
    if (n < 0)
        return -1;
    /* Reaching the end completes the object hash. */
    n = ioRead(r->object, &extra, 1, err);
    if (n < 0)
        return -1;
    if (n > 0)
        return errSet(err, ERR_FORMAT, "object: bytes after the trailer");
    snprintf(r->sha256, sizeof(r->sha256), "%s", ioReadHashHex(r->object));
    return 0;
}

SegmentReader *
segmentReaderNew(const char *name, SegmentOpenFn *open, void *data, uint64_t size, Err *err) {
    SegmentReader *r = bvCalloc(1, sizeof(*r));
    uint8_t magic[SEGMENT_MAGIC_LEN];
    SegmentWindow *window;
    IoRead *src;
    BinlogEvent ev;
    ssize_t n;

    r->name = bvStrdup(name);
    if (readTrailer(open, data, size, &r->meta, &r->trailer, &r->trailerLen, err) != 0 ||
        checkName(name, &r->meta, err) != 0)
        goto fail;
    snprintf(r->meta.name, sizeof(r->meta.name), "%s", name);
    r->meta.size = size;
    if ((src = open(data, 0, size, err)) == NULL)
        goto fail;
    r->object = ioReadHashNew(src, CRYPTO_HASH_SHA256);
    n = ioReadFull(r->object, magic, sizeof(magic), err);
    if (n < 0)
        goto fail;
    if ((size_t)n != sizeof(magic) || checkHeadMagic(magic, err) != 0) {
        if ((size_t)n != sizeof(magic))
            errSet(err, ERR_FORMAT, "object: ended inside the magic");
        goto fail;
    }
    window = bvCalloc(1, sizeof(*window));
    window->src = r->object;
    window->left = size - SEGMENT_MAGIC_LEN - r->trailerLen;
    r->lz4 = ioReadLz4DecompressNew(ioReadNew(&segmentWindowVt, window));
    r->binlog = binlogReaderNew(BINLOG_READER_STREAM, 0);
    r->contentHash = cryptoHashNew(CRYPTO_HASH_SHA256);
    /* The FDE that opens the content sets the format of the events after it. */
    for (;;) {
        int rc = binlogReaderNext(r->binlog, &ev, err);

        if (rc < 0) {
            errPrefix(err, "content: format description event");
            goto fail;
        }
        if (rc == 1)
            break;
        rc = readerFill(r, err);
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            errSet(err, ERR_FORMAT, "content: ends before its format description event");
            goto fail;
        }
    }
    if (ev.h.type != BINLOG_FORMAT_DESCRIPTION || ev.h.size != r->meta.fdeLen) {
        errSet(err, ERR_FORMAT, "content: starts with a %s event of %" PRIu32 " bytes, not the %" PRIu32
                                "-byte format description event the trailer declares",
               binlogEventTypeName(ev.h.type), ev.h.size, r->meta.fdeLen);
        goto fail;
    }
    r->fdeLen = ev.h.size;
    r->fde = bvMalloc(r->fdeLen);
    memcpy(r->fde, ev.data, r->fdeLen);
    r->fmt = *binlogReaderFormat(r->binlog);
    /* From here on the reader's offsets are offsets in the binlog file. */
    binlogReaderSetOffset(r->binlog, r->meta.startPos);
    return r;

fail:
    errPrefix(err, "segment '%s'", name);
    segmentReaderFree(r);
    return NULL;
}

const SegmentMeta *
segmentReaderMeta(const SegmentReader *r) {
    return &r->meta;
}

const uint8_t *
segmentReaderFde(const SegmentReader *r, size_t *len) {
    *len = r->fdeLen;
    return r->fde;
}

const BinlogFormat *
segmentReaderFormat(const SegmentReader *r) {
    return &r->fmt;
}

int
segmentReaderNext(SegmentReader *r, BinlogEvent *ev, uint64_t *pos, Err *err) {
    if (r->state < 0) {
        *err = r->failure;
        return -1;
    }
    if (r->state > 0)
        return 0;
    for (;;) {
        int rc = binlogReaderNext(r->binlog, ev, err);

        if (rc < 0) {
            errPrefix(err, "'%s'", r->meta.file);
            return readerFail(r, err);
        }
        if (rc == 1) {
            r->events++;
            *pos = binlogReaderEventOffset(r->binlog);
            return 1;
        }
        if (r->lz4Done) {
            if (readerFinish(r, err) != 0)
                return readerFail(r, err);
            r->state = 1;
            return 0;
        }
        if (readerFill(r, err) < 0)
            return readerFail(r, err);
    }
}

const char *
segmentReaderSha256(const SegmentReader *r) {
    return r->state > 0 ? r->sha256 : NULL;
}

void
segmentReaderFree(SegmentReader *r) {
    if (r == NULL)
        return;
    ioReadFree(r->lz4);
    ioReadFree(r->object);
    binlogReaderFree(r->binlog);
    cryptoHashFree(r->contentHash);
    segmentMetaClear(&r->meta);
    bvFree(r->trailer);
    bvFree(r->fde);
    bvFree(r->name);
    bvFree(r);
}
