#include "archive/archive.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "binlog/gtid.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"

struct Archive {
    Storage *storage;
};

typedef struct CatalogEntry {
    SegmentMeta meta;
    bool indexed;
    bool listed; /* seen in the listing of segments/ (ARCHIVE_LOAD_DISCOVER) */
    uint64_t listedSize;
    size_t order; /* load order: among duplicates, the first came from the widest chunk */
} CatalogEntry;

typedef struct CatalogChunk {
    uint64_t first, last;
    bool used;
} CatalogChunk;

struct ArchiveCatalog {
    bool discovered; /* loaded with ARCHIVE_LOAD_DISCOVER: `listed` is meaningful */
    uint64_t firstSeq; /* 1, or the first kept seq of the newest prune record */
    uint64_t *pruneRecords; /* first seqs of the prune records found, in listing order */
    ArchivePruneRecord prune; /* the newest prune record, when `pruned` */
    bool pruned;
    size_t pruneRecordCount, pruneRecordCap;
    char **leftovers; /* discover: segments below firstSeq still in the store */
    uint64_t *leftoverSizes;
    size_t leftoverCount, leftoverCap;
    CatalogEntry **entries; /* sorted by seq, unique */
    size_t count, cap;
    CatalogChunk *chunks;
    size_t chunkCount, chunkCap;
    char **problems;
    size_t problemCount, problemCap;
};

/* ---- small helpers ---------------------------------------------------------------------------- */

static void
isoNow(char *out, size_t size) {
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
isoTime(uint64_t us, char *out, size_t size) {
    time_t sec = (time_t)(us / 1000000u);
    struct tm tm;

    gmtime_r(&sec, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *
flavourName(BinlogFlavour flavour) {
    return flavour == BINLOG_FLAVOUR_MARIADB ? "mariadb" : flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "unknown";
}

static int
flavourParse(const char *text, BinlogFlavour *flavour, Err *err) {
    if (strcmp(text, "mariadb") == 0)
        *flavour = BINLOG_FLAVOUR_MARIADB;
    else if (strcmp(text, "mysql") == 0)
        *flavour = BINLOG_FLAVOUR_MYSQL;
    else
        return errSet(err, ERR_FORMAT, "field 'flavour' is '%s', expected 'mariadb' or 'mysql'", text);
    return 0;
}

static void
putStr(Buf *out, const char *key, const char *value) {
    jsonBufPrintf(out, ",\"%s\":", key);
    jsonBufString(out, value, strlen(value));
}

/* ---- the archive -------------------------------------------------------------------------------- */

Archive *
archiveNew(Storage *storage) {
    Archive *a = bvCalloc(1, sizeof(*a));

    a->storage = storage;
    return a;
}

Storage *
archiveStorage(const Archive *a) {
    return a->storage;
}

const char *
archiveUrl(const Archive *a) {
    return storageUrl(a->storage);
}

void
archiveFree(Archive *a) {
    bvFree(a);
}

/* A document's text as a JSON object. */
static JsonValue *
parseDoc(const char *text, size_t len, Err *err) {
    JsonValue *doc = jsonParse(text, len, err);

    if (doc != NULL && jsonType(doc) != JSON_OBJECT) {
        jsonFree(doc);
        errSet(err, ERR_FORMAT, "not a JSON object");
        return NULL;
    }
    return doc;
}

int
archiveIdentityParse(const char *text, size_t len, ArchiveIdentity *id, Err *err) {
    JsonValue *doc = parseDoc(text, len, err);
    const char *format;
    char flavour[16];
    uint64_t version, serverId;
    int rc = -1;

    memset(id, 0, sizeof(*id));
    if (doc == NULL)
        return -1;
    if (jsonReqStr(doc, "format", &format, err) != 0 || jsonReqU64(doc, "version", &version, err) != 0)
        goto out;
    if (strcmp(format, ARCHIVE_FORMAT_NAME) != 0) {
        errSet(err, ERR_FORMAT, "field 'format' is '%s', expected '%s'", format, ARCHIVE_FORMAT_NAME);
        goto out;
    }
    if (version != ARCHIVE_FORMAT_VERSION) {
        errSet(err, ERR_FORMAT, "archive format version %" PRIu64 " is not supported (this binvault reads version %d)",
               version, ARCHIVE_FORMAT_VERSION);
        goto out;
    }
    if (jsonReqStrCopy(doc, "flavour", flavour, sizeof(flavour), err) != 0 || flavourParse(flavour, &id->flavour, err) != 0 ||
        jsonReqU64(doc, "server_id", &serverId, err) != 0 ||
        jsonReqStrCopy(doc, "server_uuid", id->serverUuid, sizeof(id->serverUuid), err) != 0 ||
        jsonReqStrCopy(doc, "server_version", id->serverVersion, sizeof(id->serverVersion), err) != 0 ||
        jsonReqStrCopy(doc, "source", id->source, sizeof(id->source), err) != 0 ||
        jsonReqStrCopy(doc, "created", id->created, sizeof(id->created), err) != 0)
        goto out;
    if (serverId > UINT32_MAX) {
        errSet(err, ERR_FORMAT, "field 'server_id' is above 4294967295");
        goto out;
    }
    id->serverId = (uint32_t)serverId;
    rc = 0;
out:
    jsonFree(doc);
    return rc;
}

int
archiveIdentityRead(Archive *a, ArchiveIdentity *id, Err *err) {
    uint8_t *data;
    size_t len;
    int rc;

    memset(id, 0, sizeof(*id));
    if (storageGetBuf(a->storage, ARCHIVE_IDENTITY_OBJECT, ARCHIVE_DOC_MAX, &data, &len, err) != 0) {
        if (err->code == ERR_NOTFOUND)
            errSet(err, ERR_NOTFOUND, "'%s' has no %s: it is empty or not a binvault archive", archiveUrl(a),
                   ARCHIVE_IDENTITY_OBJECT);
        return -1;
    }
    rc = archiveIdentityParse((const char *)data, len, id, err);
    bvFree(data);
    if (rc != 0 && err->code == ERR_FORMAT)
        errPrefix(err, "'%s' in '%s'", ARCHIVE_IDENTITY_OBJECT, archiveUrl(a));
    return rc;
}

static int
identityCheck(Archive *a, const ArchiveIdentity *source, const ArchiveIdentity *stored, Err *err) {
    if (stored->flavour != source->flavour)
        return errSet(err, ERR_CONFIG, "archive '%s' holds %s binlogs (server_id %" PRIu32 ", %s); refusing to add %s binlogs to it",
                      archiveUrl(a), flavourName(stored->flavour), stored->serverId, stored->serverVersion,
                      flavourName(source->flavour));
    if (stored->serverId != source->serverId || strcmp(stored->serverUuid, source->serverUuid) != 0)
        logInfo("archive '%s' was created for server_id %" PRIu32 " '%s'; now receiving binlogs of server_id %" PRIu32 " '%s'",
                archiveUrl(a), stored->serverId, stored->serverUuid, source->serverId, source->serverUuid);
    return 0;
}

int
archiveIdentityEnsure(Archive *a, const ArchiveIdentity *source, ArchiveIdentity *stored, Err *err) {
    ArchiveIdentity have;
    Buf *doc;
    int rc;

    if (source->flavour != BINLOG_FLAVOUR_MARIADB && source->flavour != BINLOG_FLAVOUR_MYSQL)
        return errSet(err, ERR_INTERNAL, "archive identity of an unknown flavour");
    rc = archiveIdentityRead(a, &have, err);
    if (rc != 0 && err->code != ERR_NOTFOUND)
        return -1;
    if (rc != 0) {
        have = *source;
        isoNow(have.created, sizeof(have.created));
        doc = bufNew(512);
        jsonBufPrintf(doc, "{\"format\":\"%s\",\"version\":%d", ARCHIVE_FORMAT_NAME, ARCHIVE_FORMAT_VERSION);
        putStr(doc, "created", have.created);
        jsonBufPrintf(doc, ",\"flavour\":\"%s\",\"server_id\":%" PRIu32, flavourName(have.flavour), have.serverId);
        putStr(doc, "server_uuid", have.serverUuid);
        putStr(doc, "server_version", have.serverVersion);
        putStr(doc, "source", have.source);
        jsonBufPrintf(doc, "}\n");
        rc = storagePutBuf(a->storage, ARCHIVE_IDENTITY_OBJECT, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
        bufFree(doc);
        /* Another writer created it first: use theirs. */
        if (rc != 0 && err->code == ERR_EXISTS)
            rc = archiveIdentityRead(a, &have, err);
        if (rc != 0)
            return -1;
    }
    if (identityCheck(a, source, &have, err) != 0)
        return -1;
    if (stored != NULL)
        *stored = have;
    return 0;
}

/* ---- segments ------------------------------------------------------------------------------------ */

typedef struct StoredObject {
    Storage *storage;
    const char *name;
} StoredObject;

static IoRead *
openStored(void *data, uint64_t offset, uint64_t length, Err *err) {
    StoredObject *o = data;

    return storageOpenRead(o->storage, o->name, offset, length, err);
}

int
archiveSegmentPut(Archive *a, const char *localPath, const SegmentMeta *meta, Err *err) {
    StoragePutInfo info;
    char hex[CRYPTO_HASH_HEX_MAX];

    if (storagePutInfoFromFile(localPath, &info, err) != 0)
        return -1;
    cryptoHexEncode(info.sha256, CRYPTO_SHA256_LEN, hex);
    if (info.size != meta->size || (meta->sha256[0] != '\0' && strcmp(hex, meta->sha256) != 0))
        return errSet(err, ERR_CHECKSUM,
                      "segment file '%s' changed since it was sealed: %" PRIu64 " bytes with sha256 %s, sealed as %" PRIu64
                      " bytes with sha256 %s",
                      localPath, info.size, hex, meta->size, meta->sha256);
    return storagePutFile(a->storage, meta->name, localPath, &info, err);
}

int
archiveSegmentReadMeta(Archive *a, const char *name, uint64_t size, SegmentMeta *meta, Err *err) {
    StoredObject o = {a->storage, name};

    return segmentReadMeta(name, openStored, &o, size, meta, err);
}

SegmentReader *
archiveSegmentOpen(Archive *a, const SegmentMeta *meta, Err *err) {
    StoredObject o = {a->storage, meta->name};

    return segmentReaderNew(meta->name, openStored, &o, meta->size, err);
}

int
archiveSegmentHash(Archive *a, SegmentMeta *meta, Err *err) {
    SegmentReader *r = archiveSegmentOpen(a, meta, err);
    BinlogEvent ev;
    uint64_t pos;
    int rc;

    if (r == NULL)
        return -1;
    while ((rc = segmentReaderNext(r, &ev, &pos, err)) == 1)
        ;
    if (rc == 0)
        snprintf(meta->sha256, sizeof(meta->sha256), "%s", segmentReaderSha256(r));
    segmentReaderFree(r);
    return rc;
}

/* ---- index chunk names, checkpoint ---------------------------------------------------------------- */

void
archiveChunkName(uint64_t first, uint64_t last, char *out, size_t size) {
    snprintf(out, size, "index/%016" PRIu64 "-%016" PRIu64 ".bvi", first, last);
}

static bool
digits(const char *p, size_t n, uint64_t *out) {
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}

int
archiveChunkNameParse(const char *name, uint64_t *first, uint64_t *last) {
    /* index/ + 16 digits + '-' + 16 digits + .bvi */
    if (strlen(name) != 6 + 16 + 1 + 16 + 4 || strncmp(name, "index/", 6) != 0 || name[22] != '-' ||
        strcmp(name + 39, ".bvi") != 0)
        return -1;
    if (!digits(name + 6, 16, first) || !digits(name + 23, 16, last) || *first == 0 || *last < *first)
        return -1;
    return 0;
}

int
archiveCheckpointParse(const char *text, size_t len, ArchiveCheckpoint *cp, Err *err) {
    JsonValue *doc = parseDoc(text, len, err);
    uint64_t version;
    const char *gtid;
    size_t glen;
    int rc = -1;

    memset(cp, 0, sizeof(*cp));
    if (doc == NULL)
        return -1;
    if (jsonReqU64(doc, "version", &version, err) != 0)
        goto out;
    if (version != ARCHIVE_FORMAT_VERSION) {
        errSet(err, ERR_FORMAT, "checkpoint version %" PRIu64 " is not supported", version);
        goto out;
    }
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

    isoNow(updated, sizeof(updated));
    jsonBufPrintf(doc, "{\"version\":%d,\"seq\":%" PRIu64, ARCHIVE_FORMAT_VERSION, cp->seq);
    putStr(doc, "file", cp->file);
    jsonBufPrintf(doc, ",\"end_pos\":%" PRIu64, cp->endPos);
    putStr(doc, "gtid_end", cp->gtidEnd != NULL ? cp->gtidEnd : "");
    putStr(doc, "last_gtid", cp->lastGtid);
    jsonBufPrintf(doc, ",\"last_time_us\":%" PRIu64 ",\"caught_up_us\":%" PRIu64, cp->lastTimeUs, cp->caughtUpUs);
    putStr(doc, "updated", updated);
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

/* ---- catalog basics ------------------------------------------------------------------------------- */

ArchiveCatalog *
archiveCatalogNew(void) {
    ArchiveCatalog *c = bvCalloc(1, sizeof(ArchiveCatalog));

    c->firstSeq = 1;
    return c;
}

static void
problem(ArchiveCatalog *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
problem(ArchiveCatalog *c, const char *fmt, ...) {
    char msg[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->problemCount == c->problemCap) {
        c->problemCap = c->problemCap ? c->problemCap * 2 : 8;
        c->problems = bvRealloc(c->problems, c->problemCap * sizeof(*c->problems));
    }
    c->problems[c->problemCount++] = bvStrdup(msg);
}

/* Index of the first entry with seq >= `seq`. */
static size_t
lowerBound(const ArchiveCatalog *c, uint64_t seq) {
    size_t lo = 0, hi = c->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->entries[mid]->meta.seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void
entriesReserve(ArchiveCatalog *c) {
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->entries = bvRealloc(c->entries, c->cap * sizeof(*c->entries));
    }
}

static CatalogEntry *
entryNew(const SegmentMeta *meta, bool indexed, size_t order) {
    CatalogEntry *e = bvCalloc(1, sizeof(*e));

    segmentMetaCopy(&e->meta, meta);
    e->indexed = indexed;
    e->order = order;
    return e;
}

static void
entryFree(CatalogEntry *e) {
    if (e == NULL)
        return;
    segmentMetaClear(&e->meta);
    bvFree(e);
}

/* Same object: same name and, when both know it, same sha256 and size. */
static bool
sameObject(const SegmentMeta *a, const SegmentMeta *b) {
    if (strcmp(a->name, b->name) != 0)
        return false;
    if (a->sha256[0] != '\0' && b->sha256[0] != '\0' && (strcmp(a->sha256, b->sha256) != 0 || a->size != b->size))
        return false;
    return true;
}

int
archiveCatalogAdd(ArchiveCatalog *c, const SegmentMeta *meta, bool indexed, Err *err) {
    size_t at = lowerBound(c, meta->seq);

    if (at < c->count && c->entries[at]->meta.seq == meta->seq) {
        CatalogEntry *e = c->entries[at];

        if (!sameObject(&e->meta, meta))
            return errSet(err, ERR_EXISTS, "seq %" PRIu64 " is already '%s'%s%s, not '%s'%s%s", meta->seq, e->meta.name,
                          e->meta.sha256[0] ? " sha256 " : "", e->meta.sha256, meta->name,
                          meta->sha256[0] ? " sha256 " : "", meta->sha256);
        if (indexed)
            e->indexed = true;
        if (e->meta.sha256[0] == '\0' && meta->sha256[0] != '\0') {
            snprintf(e->meta.sha256, sizeof(e->meta.sha256), "%s", meta->sha256);
            e->meta.size = meta->size;
        }
        return 0;
    }
    entriesReserve(c);
    memmove(c->entries + at + 1, c->entries + at, (c->count - at) * sizeof(*c->entries));
    c->entries[at] = entryNew(meta, indexed, c->count);
    c->count++;
    return 0;
}

size_t
archiveCatalogCount(const ArchiveCatalog *c) {
    return c->count;
}

const SegmentMeta *
archiveCatalogAt(const ArchiveCatalog *c, size_t i) {
    BV_ASSERT(i < c->count);
    return &c->entries[i]->meta;
}

bool
archiveCatalogIndexed(const ArchiveCatalog *c, size_t i) {
    BV_ASSERT(i < c->count);
    return c->entries[i]->indexed;
}

bool
archiveCatalogListed(const ArchiveCatalog *c, size_t i, uint64_t *size) {
    BV_ASSERT(i < c->count);
    if (!c->discovered) {
        if (size != NULL)
            *size = c->entries[i]->meta.size;
        return true;
    }
    if (size != NULL)
        *size = c->entries[i]->listedSize;
    return c->entries[i]->listed;
}

bool
archiveCatalogFind(const ArchiveCatalog *c, uint64_t seq, size_t *idx) {
    size_t at = lowerBound(c, seq);

    if (at < c->count && c->entries[at]->meta.seq == seq) {
        *idx = at;
        return true;
    }
    return false;
}

const SegmentMeta *
archiveCatalogLast(const ArchiveCatalog *c) {
    return c->count ? &c->entries[c->count - 1]->meta : NULL;
}

BinlogFlavour
archiveCatalogFlavour(const ArchiveCatalog *c) {
    return c->count ? c->entries[0]->meta.flavour : BINLOG_FLAVOUR_UNKNOWN;
}

uint64_t
archiveCatalogContiguousSeq(const ArchiveCatalog *c) {
    uint64_t seq = c->firstSeq - 1;
    bool any = false;

    for (size_t i = 0; i < c->count; i++) {
        if (c->entries[i]->meta.seq != seq + 1 || !c->entries[i]->indexed)
            break;
        seq++;
        any = true;
    }
    return any ? seq : 0;
}

uint64_t
archiveCatalogFirstSeq(const ArchiveCatalog *c) {
    return c->firstSeq;
}

size_t
archiveCatalogLeftoverCount(const ArchiveCatalog *c) {
    return c->leftoverCount;
}

const char *
archiveCatalogLeftover(const ArchiveCatalog *c, size_t i, uint64_t *size) {
    BV_ASSERT(i < c->leftoverCount);
    if (size != NULL)
        *size = c->leftoverSizes[i];
    return c->leftovers[i];
}

void
archiveCatalogTotals(const ArchiveCatalog *c, uint64_t *objectBytes, uint64_t *contentBytes) {
    *objectBytes = *contentBytes = 0;
    for (size_t i = 0; i < c->count; i++) {
        *objectBytes += c->entries[i]->meta.size;
        *contentBytes += c->entries[i]->meta.contentLen;
    }
}

size_t
archiveCatalogProblemCount(const ArchiveCatalog *c) {
    return c->problemCount;
}

const char *
archiveCatalogProblem(const ArchiveCatalog *c, size_t i) {
    BV_ASSERT(i < c->problemCount);
    return c->problems[i];
}

size_t
archiveCatalogChunkCount(const ArchiveCatalog *c) {
    return c->chunkCount;
}

void
archiveCatalogChunkAt(const ArchiveCatalog *c, size_t i, uint64_t *first, uint64_t *last, bool *used) {
    BV_ASSERT(i < c->chunkCount);
    *first = c->chunks[i].first;
    *last = c->chunks[i].last;
    *used = c->chunks[i].used;
}

static void
chunkAdd(ArchiveCatalog *c, uint64_t first, uint64_t last, bool used) {
    for (size_t i = 0; i < c->chunkCount; i++)
        if (c->chunks[i].first == first && c->chunks[i].last == last) {
            c->chunks[i].used = c->chunks[i].used || used;
            return;
        }
    if (c->chunkCount == c->chunkCap) {
        c->chunkCap = c->chunkCap ? c->chunkCap * 2 : 16;
        c->chunks = bvRealloc(c->chunks, c->chunkCap * sizeof(*c->chunks));
    }
    c->chunks[c->chunkCount].first = first;
    c->chunks[c->chunkCount].last = last;
    c->chunks[c->chunkCount].used = used;
    c->chunkCount++;
}

static void
chunkRemove(ArchiveCatalog *c, uint64_t first, uint64_t last) {
    for (size_t i = 0; i < c->chunkCount; i++)
        if (c->chunks[i].first == first && c->chunks[i].last == last) {
            c->chunks[i] = c->chunks[--c->chunkCount];
            return;
        }
}

void
archiveCatalogFree(ArchiveCatalog *c) {
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        entryFree(c->entries[i]);
    for (size_t i = 0; i < c->problemCount; i++)
        bvFree(c->problems[i]);
    for (size_t i = 0; i < c->leftoverCount; i++)
        bvFree(c->leftovers[i]);
    bvFree(c->leftovers);
    bvFree(c->leftoverSizes);
    bvFree(c->pruneRecords);
    archivePruneRecordClear(&c->prune);
    bvFree(c->entries);
    bvFree(c->chunks);
    bvFree(c->problems);
    bvFree(c);
}

/* ---- loading ------------------------------------------------------------------------------------ */

/* Loads of a catalog whose objects keep vanishing under it before archiveCatalogLoad() gives up. */
#define ARCHIVE_LOAD_ATTEMPTS 5

int
archiveChunkParse(const uint8_t *data, size_t len, uint64_t first, uint64_t last, SegmentMeta **metas, size_t *n,
                  Err *err) {
    size_t cap = 0, line = 0, pos = 0;
    SegmentMeta *out = NULL;
    uint64_t expect = first;

    *n = 0;
    if (first == 0 || last < first || last == UINT64_MAX)
        return errSet(err, ERR_FORMAT, "seqs %" PRIu64 "-%" PRIu64 " are not a chunk's range", first, last);
    while (pos < len) {
        const uint8_t *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;

        line++;
        if (expect > last) {
            errSet(err, ERR_FORMAT, "line %zu: more lines than seqs %" PRIu64 "-%" PRIu64, line, first, last);
            goto fail;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            out = bvRealloc(out, cap * sizeof(*out));
        }
        if (segmentMetaFromJson((const char *)data + pos, end - pos, true, &out[*n], err) != 0) {
            errPrefix(err, "line %zu", line);
            goto fail;
        }
        (*n)++;
        if (out[*n - 1].seq != expect) {
            errSet(err, ERR_FORMAT, "line %zu: describes seq %" PRIu64 ", expected seq %" PRIu64, line, out[*n - 1].seq,
                   expect);
            goto fail;
        }
        expect++;
        pos = end + 1;
    }
    if (expect != last + 1) {
        errSet(err, ERR_FORMAT, "holds %zu lines, its name says seqs %" PRIu64 "-%" PRIu64, line, first, last);
        goto fail;
    }
    *metas = out;
    return 0;
fail:
    for (size_t i = 0; i < *n; i++)
        segmentMetaClear(&out[i]);
    bvFree(out);
    *n = 0;
    return -1;
}

static void
metasFree(SegmentMeta *metas, size_t n) {
    for (size_t i = 0; i < n; i++)
        segmentMetaClear(&metas[i]);
    bvFree(metas);
}

static int
chunkRead(Archive *a, uint64_t first, uint64_t last, SegmentMeta **metas, size_t *n, Err *err) {
    char name[64];
    uint8_t *data;
    size_t len;
    int rc;

    archiveChunkName(first, last, name, sizeof(name));
    if (storageGetBuf(a->storage, name, ARCHIVE_CHUNK_MAX_BYTES, &data, &len, err) != 0)
        return -1;
    rc = archiveChunkParse(data, len, first, last, metas, n, err);
    bvFree(data);
    if (rc != 0)
        errPrefix(err, "index chunk '%s' in '%s'", name, archiveUrl(a));
    return rc;
}

typedef struct Interval {
    uint64_t first, last;
} Interval;

typedef struct Coverage {
    Interval *iv; /* sorted, disjoint, not adjacent */
    size_t n, cap;
} Coverage;

static bool
coverageHas(const Coverage *cov, uint64_t first, uint64_t last) {
    for (size_t i = 0; i < cov->n; i++)
        if (cov->iv[i].first <= first && cov->iv[i].last >= last)
            return true;
    return false;
}

static void
coverageAdd(Coverage *cov, uint64_t first, uint64_t last) {
    size_t i = 0, j;

    while (i < cov->n && cov->iv[i].last + 1 < first)
        i++;
    /* Merge every interval that overlaps or touches [first, last] into it. */
    j = i;
    while (j < cov->n && cov->iv[j].first <= last + 1) {
        if (cov->iv[j].first < first)
            first = cov->iv[j].first;
        if (cov->iv[j].last > last)
            last = cov->iv[j].last;
        j++;
    }
    if (j == i) {
        if (cov->n == cov->cap) {
            cov->cap = cov->cap ? cov->cap * 2 : 16;
            cov->iv = bvRealloc(cov->iv, cov->cap * sizeof(*cov->iv));
        }
        memmove(cov->iv + i + 1, cov->iv + i, (cov->n - i) * sizeof(*cov->iv));
        cov->n++;
    } else if (j > i + 1) {
        memmove(cov->iv + i + 1, cov->iv + j, (cov->n - j) * sizeof(*cov->iv));
        cov->n -= j - i - 1;
    }
    cov->iv[i].first = first;
    cov->iv[i].last = last;
}

typedef struct LoadCtx {
    ArchiveCatalog *c;
    Interval *chunks;
    size_t chunkCount, chunkCap;
    /* discovered segments: name and size */
    char **names;
    uint64_t *sizes;
    size_t found, foundCap;
    bool vanished; /* a listed object was gone when read: a concurrent merge or prune; load again */
} LoadCtx;

static int
listIndexCb(const char *name, uint64_t size, void *data, Err *err) {
    LoadCtx *ctx = data;
    uint64_t first, last;

    (void)size;
    (void)err;
    if (archiveChunkNameParse(name, &first, &last) != 0) {
        problem(ctx->c, "unexpected object '%s' in index/ (not an index chunk name)", name);
        return 0;
    }
    if (ctx->chunkCount == ctx->chunkCap) {
        ctx->chunkCap = ctx->chunkCap ? ctx->chunkCap * 2 : 16;
        ctx->chunks = bvRealloc(ctx->chunks, ctx->chunkCap * sizeof(*ctx->chunks));
    }
    ctx->chunks[ctx->chunkCount].first = first;
    ctx->chunks[ctx->chunkCount].last = last;
    ctx->chunkCount++;
    return 0;
}

/* A chunk to load: its seqs first..last, of which from..last are kept (from = the first seq of a
 * pruned archive when the chunk starts before it). */
typedef struct ChunkRef {
    uint64_t first, last, from;
} ChunkRef;

/* Widest kept range first; among equals, a chunk that starts at `from` (not one that reaches into
 * the pruned seqs, which a prune replaces and deletes), then the lowest first. */
static int
chunkOrder(const void *pa, const void *pb) {
    const ChunkRef *a = pa, *b = pb;
    uint64_t wa = a->last - a->from, wb = b->last - b->from;
    bool sa = a->first < a->from, sb = b->first < b->from;

    if (wa != wb)
        return wa > wb ? -1 : 1;
    if (sa != sb)
        return sa ? 1 : -1;
    return a->first < b->first ? -1 : a->first > b->first;
}

/* By seq, then load order. */
static int
entryOrder(const void *pa, const void *pb) {
    const CatalogEntry *a = *(CatalogEntry *const *)pa, *b = *(CatalogEntry *const *)pb;

    if (a->meta.seq != b->meta.seq)
        return a->meta.seq < b->meta.seq ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Sort the appended entries and keep the first of each seq, noting chunks that disagree. */
static void
sortEntries(ArchiveCatalog *c) {
    size_t out = 0;

    if (c->count > 1)
        qsort(c->entries, c->count, sizeof(*c->entries), entryOrder);
    for (size_t i = 0; i < c->count; i++) {
        CatalogEntry *e = c->entries[i];

        if (out > 0 && c->entries[out - 1]->meta.seq == e->meta.seq) {
            const SegmentMeta *keep = &c->entries[out - 1]->meta;

            if (!sameObject(keep, &e->meta) || keep->endPos != e->meta.endPos ||
                strcmp(keep->contentSha256, e->meta.contentSha256) != 0)
                problem(c, "index chunks disagree about seq %" PRIu64 ": '%s' sha256 %s in the widest chunk, '%s' sha256 %s in another",
                        keep->seq, keep->name, keep->sha256, e->meta.name, e->meta.sha256);
            entryFree(e);
            continue;
        }
        c->entries[out++] = e;
    }
    c->count = out;
    for (size_t i = 0; i < c->count; i++)
        c->entries[i]->order = i;
}

static int
listPruneCb(const char *name, uint64_t size, void *data, Err *err) {
    ArchiveCatalog *c = data;
    uint64_t seq;

    (void)size;
    (void)err;
    if (archivePruneNameParse(name, &seq) != 0) {
        problem(c, "unexpected object '%s' in %s (not a prune record name)", name, ARCHIVE_PRUNE_PREFIX);
        return 0;
    }
    if (c->pruneRecordCount == c->pruneRecordCap) {
        c->pruneRecordCap = c->pruneRecordCap ? c->pruneRecordCap * 2 : 4;
        c->pruneRecords = bvRealloc(c->pruneRecords, c->pruneRecordCap * sizeof(*c->pruneRecords));
    }
    c->pruneRecords[c->pruneRecordCount++] = seq;
    return 0;
}

/* The prune records: the newest one sets firstSeq. It must be readable and say what its name says,
 * and no index may end before it (a prune keeps an indexed segment). `maxLast` is the highest seq
 * the index chunks describe. */
static int
loadPrune(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, uint64_t maxLast, unsigned flags, Err *err) {
    ArchivePruneRecord rec;
    uint64_t newest = 0;
    char name[64];
    uint8_t *data;
    size_t len;
    int rc;

    if (storageList(a->storage, ARCHIVE_PRUNE_PREFIX, listPruneCb, c, err) != 0)
        return -1;
    for (size_t i = 0; i < c->pruneRecordCount; i++)
        if (c->pruneRecords[i] > newest)
            newest = c->pruneRecords[i];
    if (newest <= 1)
        return 0;
    archivePruneName(newest, name, sizeof(name));
    if (newest > maxLast) {
        errSet(err, ERR_FORMAT,
               "prune record '%s' in '%s' says the archive starts at seq %" PRIu64 ", but its index ends at seq %" PRIu64
               ": the record is ignored",
               name, archiveUrl(a), newest, maxLast);
        goto bad;
    }
    c->firstSeq = newest;
    if (storageGetBuf(a->storage, name, ARCHIVE_DOC_MAX, &data, &len, err) != 0) {
        if (err->code == ERR_NOTFOUND) {
            ctx->vanished = true; /* deleted by a newer prune since the listing */
            return -1;
        }
        goto bad;
    }
    rc = archivePruneRecordParse((const char *)data, len, &rec, err);
    bvFree(data);
    if (rc == 0 && rec.firstSeq != newest)
        rc = errSet(err, ERR_FORMAT, "field 'first_seq' is %" PRIu64 ", its name says %" PRIu64, rec.firstSeq, newest);
    if (rc != 0) {
        archivePruneRecordClear(&rec);
        errPrefix(err, "prune record '%s' in '%s'", name, archiveUrl(a));
        goto bad;
    }
    archivePruneRecordClear(&c->prune);
    c->prune = rec;
    c->pruned = true;
    return 0;
bad:
    if (!(flags & ARCHIVE_LOAD_TOLERANT))
        return -1;
    problem(c, "%s", err->msg);
    return 0;
}

static int
loadIndex(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, unsigned flags, Err *err) {
    Coverage cov = {0};
    ChunkRef *refs;
    size_t nrefs = 0;
    uint64_t maxLast = 0;
    int rc = 0;

    /* index/ before prune/: a prune writes its record before the chunks that start at its first
     * seq, so a listing that shows such a chunk is followed by one that shows the record. */
    if (storageList(a->storage, ARCHIVE_INDEX_PREFIX, listIndexCb, ctx, err) != 0)
        return -1;
    for (size_t i = 0; i < ctx->chunkCount; i++)
        if (ctx->chunks[i].last > maxLast)
            maxLast = ctx->chunks[i].last;
    if (loadPrune(a, c, ctx, maxLast, flags, err) != 0)
        return -1;
    refs = bvCalloc(ctx->chunkCount + 1, sizeof(*refs));
    for (size_t i = 0; i < ctx->chunkCount; i++) {
        uint64_t first = ctx->chunks[i].first, last = ctx->chunks[i].last;

        if (last < c->firstSeq) {
            chunkAdd(c, first, last, false); /* wholly pruned: waits for deletion */
            continue;
        }
        refs[nrefs].first = first;
        refs[nrefs].last = last;
        refs[nrefs].from = first < c->firstSeq ? c->firstSeq : first;
        nrefs++;
    }
    if (nrefs > 1)
        qsort(refs, nrefs, sizeof(*refs), chunkOrder);
    for (size_t i = 0; i < nrefs; i++) {
        uint64_t first = refs[i].first, last = refs[i].last;
        SegmentMeta *metas;
        size_t n;

        if (coverageHas(&cov, refs[i].from, last)) {
            chunkAdd(c, first, last, false);
            continue;
        }
        if (chunkRead(a, first, last, &metas, &n, err) != 0) {
            if (err->code == ERR_NOTFOUND)
                ctx->vanished = true;
            if (ctx->vanished || !(flags & ARCHIVE_LOAD_TOLERANT)) {
                rc = -1;
                break;
            }
            problem(c, "%s", err->msg);
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            if (metas[j].seq < c->firstSeq)
                continue;
            entriesReserve(c);
            c->entries[c->count] = entryNew(&metas[j], true, c->count);
            c->count++;
        }
        metasFree(metas, n);
        coverageAdd(&cov, refs[i].from, last);
        chunkAdd(c, first, last, true);
    }
    bvFree(refs);
    bvFree(cov.iv);
    sortEntries(c);
    return rc;
}

static int
listSegmentsCb(const char *name, uint64_t size, void *data, Err *err) {
    LoadCtx *ctx = data;
    ArchiveCatalog *c = ctx->c;
    char file[SEGMENT_FILE_MAX];
    uint64_t seq, start;
    size_t at;

    (void)err;
    if (segmentNameParse(name, &seq, file, sizeof(file), &start) != 0) {
        problem(c, "unexpected object '%s' in segments/ (not a segment name)", name);
        return 0;
    }
    if (seq < c->firstSeq) {
        /* Pruned: a prune that did not finish left it; the next one deletes it. */
        if (c->leftoverCount == c->leftoverCap) {
            c->leftoverCap = c->leftoverCap ? c->leftoverCap * 2 : 16;
            c->leftovers = bvRealloc(c->leftovers, c->leftoverCap * sizeof(*c->leftovers));
            c->leftoverSizes = bvRealloc(c->leftoverSizes, c->leftoverCap * sizeof(*c->leftoverSizes));
        }
        c->leftovers[c->leftoverCount] = bvStrdup(name);
        c->leftoverSizes[c->leftoverCount++] = size;
        return 0;
    }
    if (archiveCatalogFind(c, seq, &at)) {
        CatalogEntry *e = c->entries[at];

        if (strcmp(e->meta.name, name) != 0) {
            problem(c, "object '%s' has the seq of the indexed segment '%s'", name, e->meta.name);
            return 0;
        }
        e->listed = true;
        e->listedSize = size;
        return 0;
    }
    if (ctx->found > 0) {
        uint64_t prevSeq, prevStart;
        char prevFile[SEGMENT_FILE_MAX];

        if (segmentNameParse(ctx->names[ctx->found - 1], &prevSeq, prevFile, sizeof(prevFile), &prevStart) == 0 &&
            prevSeq == seq) {
            problem(c, "objects '%s' and '%s' have the same seq and neither is indexed", ctx->names[ctx->found - 1], name);
            return 0;
        }
    }
    if (ctx->found == ctx->foundCap) {
        ctx->foundCap = ctx->foundCap ? ctx->foundCap * 2 : 16;
        ctx->names = bvRealloc(ctx->names, ctx->foundCap * sizeof(*ctx->names));
        ctx->sizes = bvRealloc(ctx->sizes, ctx->foundCap * sizeof(*ctx->sizes));
    }
    ctx->names[ctx->found] = bvStrdup(name);
    ctx->sizes[ctx->found] = size;
    ctx->found++;
    return 0;
}

static int
discover(Archive *a, ArchiveCatalog *c, LoadCtx *ctx, unsigned flags, Err *err) {
    if (storageList(a->storage, ARCHIVE_SEGMENT_PREFIX, listSegmentsCb, ctx, err) != 0)
        return -1;
    c->discovered = true;
    for (size_t i = 0; i < ctx->found; i++) {
        SegmentMeta meta;

        if (archiveSegmentReadMeta(a, ctx->names[i], ctx->sizes[i], &meta, err) != 0) {
            if (err->code == ERR_NOTFOUND)
                ctx->vanished = true;
            if (ctx->vanished || !(flags & ARCHIVE_LOAD_TOLERANT))
                return -1;
            problem(c, "%s", err->msg);
            continue;
        }
        entriesReserve(c);
        c->entries[c->count] = entryNew(&meta, false, c->count);
        c->entries[c->count]->listed = true;
        c->entries[c->count]->listedSize = ctx->sizes[i];
        c->count++;
        segmentMetaClear(&meta);
    }
    sortEntries(c);
    return 0;
}

ArchiveCatalog *
archiveCatalogLoad(Archive *a, unsigned flags, Err *err) {
    /* An object listed but gone when read was merged or pruned meanwhile (an agent or a prune
     * runs): what replaced it is in a newer listing. */
    for (int attempt = 1;; attempt++) {
        ArchiveCatalog *c = archiveCatalogNew();
        LoadCtx ctx = {.c = c};
        int rc;

        rc = loadIndex(a, c, &ctx, flags, err);
        if (rc == 0 && (flags & ARCHIVE_LOAD_DISCOVER))
            rc = discover(a, c, &ctx, flags, err);
        bvFree(ctx.chunks);
        for (size_t i = 0; i < ctx.found; i++)
            bvFree(ctx.names[i]);
        bvFree(ctx.names);
        bvFree(ctx.sizes);
        if (rc == 0)
            return c;
        archiveCatalogFree(c);
        if (!ctx.vanished || attempt == ARCHIVE_LOAD_ATTEMPTS)
            return NULL;
    }
}

/* ---- GTID states -------------------------------------------------------------------------------- */

/* Parse two GTID states of a flavour and compare them: `reached` = b is contained in a,
 * otherwise equality. */
static int
gtidCompare(BinlogFlavour flavour, const char *a, const char *b, bool reached, bool *out, Err *err) {
    int rc = 0;

    if (flavour == BINLOG_FLAVOUR_MARIADB) {
        MariaGtidPos *pa = mariaGtidPosNew(), *pb = mariaGtidPosNew();

        if (mariaGtidPosParse(pa, a, err) != 0 || mariaGtidPosParse(pb, b, err) != 0)
            rc = -1;
        else
            *out = reached ? mariaGtidPosReached(pa, pb) : mariaGtidPosEqual(pa, pb);
        mariaGtidPosFree(pa);
        mariaGtidPosFree(pb);
        return rc;
    }
    if (flavour == BINLOG_FLAVOUR_MYSQL) {
        GtidSet *sa = gtidSetNew(), *sb = gtidSetNew();

        if (gtidSetParse(sa, a, err) != 0 || gtidSetParse(sb, b, err) != 0)
            rc = -1;
        else
            *out = reached ? gtidSetIsSubset(sb, sa) : gtidSetEqual(sa, sb);
        gtidSetFree(sa);
        gtidSetFree(sb);
        return rc;
    }
    return errSet(err, ERR_INTERNAL, "gtid comparison of an unknown flavour");
}

int
archiveGtidReached(BinlogFlavour flavour, const char *state, const char *target, bool *reached, Err *err) {
    return gtidCompare(flavour, state, target, true, reached, err);
}

int
archiveGtidStateEqual(BinlogFlavour flavour, const char *a, const char *b, bool *equal, Err *err) {
    return gtidCompare(flavour, a, b, false, equal, err);
}

/* ---- continuity and windows --------------------------------------------------------------------- */

static void
gapAdd(ArchiveGap **gaps, size_t *n, size_t *cap, ArchiveGapKind kind, uint64_t after, uint64_t before,
       const char *fmt, ...) __attribute__((format(printf, 7, 8)));

static void
gapAdd(ArchiveGap **gaps, size_t *n, size_t *cap, ArchiveGapKind kind, uint64_t after, uint64_t before,
       const char *fmt, ...) {
    va_list ap;
    ArchiveGap *g;

    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        *gaps = bvRealloc(*gaps, *cap * sizeof(**gaps));
    }
    g = &(*gaps)[(*n)++];
    g->kind = kind;
    g->afterSeq = after;
    g->beforeSeq = before;
    va_start(ap, fmt);
    vsnprintf(g->message, sizeof(g->message), fmt, ap);
    va_end(ap);
}

size_t
archiveCatalogGaps(const ArchiveCatalog *c, ArchiveGap **gaps) {
    size_t n = 0, cap = 0;

    *gaps = NULL;
    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *b = &c->entries[i]->meta, *a;
        const char *aEnd, *bStart;
        int cmp;

        if (i == 0) {
            if (b->seq > c->firstSeq) {
                char range[64];

                if (b->seq - c->firstSeq >= 2)
                    snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, c->firstSeq, b->seq - 1);
                else
                    snprintf(range, sizeof(range), "%" PRIu64, b->seq - 1);
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_MISSING, 0, b->seq,
                       "seq %s missing before '%s' (starts at %s:%" PRIu64 ")%s", range, b->name, b->file, b->startPos,
                       c->firstSeq > 1 ? "; the archive was pruned to start at that seq" : "");
            }
            continue;
        }
        a = &c->entries[i - 1]->meta;
        if (b->seq != a->seq + 1) {
            char range[64];

            if (b->seq - a->seq == 2)
                snprintf(range, sizeof(range), "%" PRIu64, a->seq + 1);
            else
                snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, a->seq + 1, b->seq - 1);
            gapAdd(gaps, &n, &cap, ARCHIVE_GAP_MISSING, a->seq, b->seq,
                   "seq %s missing between '%s' (ends at %s:%" PRIu64 ", gtid %s) and '%s' (starts at %s:%" PRIu64
                   ", gtid %s)",
                   range, a->name, a->file, a->endPos, segmentMetaGtidEnd(a)[0] ? segmentMetaGtidEnd(a) : "unknown",
                   b->name, b->file, b->startPos, segmentMetaGtidStart(b)[0] ? segmentMetaGtidStart(b) : "unknown");
            continue;
        }
        if (a->flavour != b->flavour) {
            gapAdd(gaps, &n, &cap, ARCHIVE_GAP_FLAVOUR, a->seq, b->seq, "'%s' holds %s binlogs, '%s' %s binlogs",
                   a->name, flavourName(a->flavour), b->name, flavourName(b->flavour));
            continue;
        }
        cmp = segmentFileCompare(b->file, a->file);
        if (cmp == 0 && b->startPos != a->endPos)
            gapAdd(gaps, &n, &cap, ARCHIVE_GAP_POSITION, a->seq, b->seq,
                   "position %s in %s: '%s' ends at %" PRIu64 ", '%s' starts at %" PRIu64,
                   b->startPos > a->endPos ? "gap" : "overlap", a->file, a->name, a->endPos, b->name, b->startPos);
        else if (cmp < 0)
            gapAdd(gaps, &n, &cap, ARCHIVE_GAP_FILE, a->seq, b->seq, "'%s' is in %s, before the file %s of '%s'",
                   b->name, b->file, a->file, a->name);
        else if (cmp > 0 && b->startPos != BINLOG_MAGIC_LEN + (uint64_t)b->fdeLen)
            gapAdd(gaps, &n, &cap, ARCHIVE_GAP_FILE, a->seq, b->seq,
                   "the start of %s is missing: '%s' follows '%s' (%s) but starts at %" PRIu64 ", not at the file's first event %" PRIu64,
                   b->file, b->name, a->name, a->file, b->startPos, BINLOG_MAGIC_LEN + (uint64_t)b->fdeLen);
        aEnd = segmentMetaGtidEnd(a);
        bStart = segmentMetaGtidStart(b);
        if (aEnd[0] != '\0' && bStart[0] != '\0') {
            bool equal = false;
            Err err;

            if (archiveGtidStateEqual(a->flavour, aEnd, bStart, &equal, &err) != 0)
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_GTID, a->seq, b->seq, "gtid states of '%s' and '%s' cannot be compared: %s",
                       a->name, b->name, err.msg);
            else if (!equal)
                gapAdd(gaps, &n, &cap, ARCHIVE_GAP_GTID, a->seq, b->seq,
                       "gtid gap: '%s' ends at gtid state %s, '%s' starts at %s", a->name, aEnd, b->name, bStart);
        }
    }
    return n;
}

static void
windowFill(const ArchiveCatalog *c, size_t first, size_t last, ArchiveWindow *w) {
    memset(w, 0, sizeof(*w));
    w->first = first;
    w->last = last;
    w->from = &c->entries[first]->meta;
    w->to = &c->entries[last]->meta;
    w->firstGtid = w->lastGtid = "";
    for (size_t i = first; i <= last; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;

        if (m->transactions == 0)
            continue;
        if (w->transactions == 0) {
            w->firstGtid = m->firstGtid;
            w->firstTimeUs = m->firstTimeUs;
        }
        w->lastGtid = m->lastGtid;
        w->lastTimeUs = m->lastTimeUs;
        w->transactions += m->transactions;
    }
}

size_t
archiveCatalogWindows(const ArchiveCatalog *c, ArchiveWindow **windows) {
    ArchiveGap *gaps;
    size_t ngaps = archiveCatalogGaps(c, &gaps), n = 0, start = 0, g = 0;

    *windows = NULL;
    if (c->count == 0) {
        bvFree(gaps);
        return 0;
    }
    *windows = bvCalloc(ngaps + 1, sizeof(**windows));
    for (size_t i = 1; i <= c->count; i++) {
        bool brk = i == c->count;

        while (!brk && g < ngaps && gaps[g].beforeSeq <= c->entries[i]->meta.seq) {
            if (gaps[g].beforeSeq == c->entries[i]->meta.seq && gaps[g].afterSeq != 0)
                brk = true;
            g++;
        }
        if (brk) {
            windowFill(c, start, i - 1, &(*windows)[n++]);
            start = i;
        }
    }
    bvFree(gaps);
    return n;
}

const char *
archiveGapKindName(ArchiveGapKind kind) {
    static const char *const names[] = {"missing", "position", "file", "gtid", "flavour"};

    return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

void
archiveWindowToJson(const ArchiveWindow *w, Buf *out) {
    jsonBufPrintf(out, "{\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"from_file\":", w->from->seq, w->to->seq);
    jsonBufString(out, w->from->file, strlen(w->from->file));
    jsonBufPrintf(out, ",\"from_pos\":%" PRIu64, w->from->startPos);
    putStr(out, "gtid_start", segmentMetaGtidStart(w->from));
    putStr(out, "to_file", w->to->file);
    jsonBufPrintf(out, ",\"to_pos\":%" PRIu64, w->to->endPos);
    putStr(out, "gtid_end", segmentMetaGtidEnd(w->to));
    putStr(out, "first_gtid", w->firstGtid);
    putStr(out, "last_gtid", w->lastGtid);
    jsonBufPrintf(out, ",\"first_time_us\":%" PRIu64 ",\"last_time_us\":%" PRIu64 ",\"transactions\":%" PRIu64 "}",
                  w->firstTimeUs, w->lastTimeUs, w->transactions);
}

int
archiveCatalogWindow(const ArchiveCatalog *c, ArchiveWindow *window, Err *err) {
    ArchiveWindow *all;
    size_t n = archiveCatalogWindows(c, &all);

    if (n == 0) {
        bvFree(all);
        return errSet(err, ERR_NOTFOUND, "the archive holds no segment");
    }
    *window = all[n - 1];
    bvFree(all);
    return 0;
}

/* ---- lookups ------------------------------------------------------------------------------------- */

int
archiveCatalogFindGtid(const ArchiveCatalog *c, const char *gtid, size_t *idx, Err *err) {
    BinlogFlavour flavour = archiveCatalogFlavour(c);
    bool unknown = false;

    if (c->count == 0)
        return errSet(err, ERR_NOTFOUND, "gtid '%s' is not in the archive: it holds no segment", gtid);
    if (gtid[0] == '\0' || strspn(gtid, " \t\n") == strlen(gtid))
        return errSet(err, ERR_FORMAT, "empty gtid");
    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;
        const char *start = segmentMetaGtidStart(m), *end = segmentMetaGtidEnd(m);
        bool reached = false;

        if (end[0] == '\0') {
            unknown = true;
            continue;
        }
        if (archiveGtidReached(flavour, end, gtid, &reached, err) != 0)
            return errPrefix(err, "gtid '%s'", gtid);
        if (!reached)
            continue;
        if (start[0] != '\0') {
            bool before = false;

            if (archiveGtidReached(flavour, start, gtid, &before, err) != 0)
                return errPrefix(err, "gtid '%s'", gtid);
            if (before)
                return errSet(err, ERR_NOTFOUND,
                              "gtid '%s' is before the archived range: '%s' already starts at gtid state %s", gtid,
                              m->name, start);
        }
        *idx = i;
        return 0;
    }
    if (unknown)
        return errSet(err, ERR_NOTFOUND, "gtid '%s' not found: some segments have no gtid state", gtid);
    return errSet(err, ERR_NOTFOUND, "gtid '%s' is after the archived range, which ends at gtid state %s", gtid,
                  segmentMetaGtidEnd(&c->entries[c->count - 1]->meta));
}

int
archiveCatalogFindPosition(const ArchiveCatalog *c, const char *file, uint64_t pos, size_t *idx, Err *err) {
    bool seen = false;
    uint64_t lo = 0, hi = 0;

    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;

        if (strcmp(m->file, file) != 0)
            continue;
        if (!seen && pos >= BINLOG_MAGIC_LEN && pos < m->startPos &&
            m->startPos == BINLOG_MAGIC_LEN + (uint64_t)m->fdeLen) {
            *idx = i;
            return 0;
        }
        if (pos >= m->startPos && pos < m->endPos) {
            *idx = i;
            return 0;
        }
        if (!seen || m->startPos < lo)
            lo = m->startPos;
        if (!seen || m->endPos > hi)
            hi = m->endPos;
        seen = true;
    }
    if (!seen)
        return errSet(err, ERR_NOTFOUND, "binlog file '%s' is not in the archive", file);
    return errSet(err, ERR_NOTFOUND, "position %s:%" PRIu64 " is not archived: the archive holds %s:%" PRIu64 "-%" PRIu64
                                     "%s",
                  file, pos, file, lo, hi, pos > lo && pos < hi ? " with a gap" : "");
}

int
archiveCatalogFindTime(const ArchiveCatalog *c, uint64_t timeUs, size_t *idx, Err *err) {
    bool found = false, any = false;
    uint64_t firstUs = 0, lastUs = 0;
    char when[32], bound[32];

    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;

        if (m->transactions == 0)
            continue;
        if (!any)
            firstUs = m->firstTimeUs;
        any = true;
        lastUs = m->lastTimeUs;
        if (m->firstTimeUs <= timeUs) {
            *idx = i;
            found = true;
        }
    }
    isoTime(timeUs, when, sizeof(when));
    if (!any)
        return errSet(err, ERR_NOTFOUND, "time %s is not in the archive: it holds no transaction", when);
    if (!found || timeUs < firstUs) {
        isoTime(firstUs, bound, sizeof(bound));
        return errSet(err, ERR_NOTFOUND, "time %s is before the first archived commit (%s)", when, bound);
    }
    if (timeUs > lastUs) {
        isoTime(lastUs, bound, sizeof(bound));
        return errSet(err, ERR_NOTFOUND, "time %s is after the last archived commit (%s)", when, bound);
    }
    return 0;
}

/* ---- writing the index --------------------------------------------------------------------------- */

int
archiveIndexPut(Archive *a, ArchiveCatalog *c, const SegmentMeta *metas, size_t n, Err *err) {
    char name[64];
    Buf *doc;
    int rc;

    BV_ASSERT(n > 0);
    for (size_t i = 0; i < n; i++) {
        if (metas[i].seq != metas[0].seq + i)
            return errSet(err, ERR_INTERNAL, "index chunk of seqs that do not follow each other (%" PRIu64 " after %" PRIu64 ")",
                          metas[i].seq, metas[0].seq);
        if (metas[i].sha256[0] == '\0' || metas[i].name[0] == '\0')
            return errSet(err, ERR_INTERNAL, "index chunk entry for seq %" PRIu64 " without object name or sha256",
                          metas[i].seq);
    }
    archiveChunkName(metas[0].seq, metas[n - 1].seq, name, sizeof(name));
    doc = bufNew(n * 1024);
    for (size_t i = 0; i < n; i++) {
        segmentMetaToJson(&metas[i], true, doc);
        bufAppend(doc, "\n", 1);
    }
    rc = storagePutBuf(a->storage, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    bufFree(doc);
    if (rc != 0 || c == NULL)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (archiveCatalogAdd(c, &metas[i], true, err) != 0)
            return errPrefix(err, "index chunk '%s'", name);
    chunkAdd(c, metas[0].seq, metas[n - 1].seq, true);
    return 0;
}

int
archiveIndexDiscovered(Archive *a, ArchiveCatalog *c, size_t *indexed, Err *err) {
    size_t done = 0, i = 0;

    while (i < c->count) {
        SegmentMeta *run;
        size_t n = 0, j;
        int rc = 0;

        if (c->entries[i]->indexed) {
            i++;
            continue;
        }
        for (j = i; j < c->count && !c->entries[j]->indexed &&
                    (j == i || c->entries[j]->meta.seq == c->entries[j - 1]->meta.seq + 1);
             j++)
            ;
        run = bvCalloc(j - i, sizeof(*run));
        for (size_t k = i; k < j && rc == 0; k++) {
            segmentMetaCopy(&run[n], &c->entries[k]->meta);
            n++;
            rc = archiveSegmentHash(a, &run[n - 1], err);
        }
        if (rc == 0)
            rc = archiveIndexPut(a, c, run, n, err);
        metasFree(run, n);
        if (rc != 0)
            return -1;
        done += j - i;
        i = j;
    }
    if (indexed != NULL)
        *indexed = done;
    return 0;
}

static int
chunkByFirst(const void *pa, const void *pb) {
    const CatalogChunk *a = pa, *b = pb;

    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return a->last < b->last ? -1 : a->last > b->last;
}

/* Write one chunk of seqs first..last from the lines of `group` chunks, copied byte for byte. */
static int
mergeGroup(Archive *a, const CatalogChunk *group, size_t n, Err *err) {
    uint64_t first = group[0].first, last = group[n - 1].last, expect = first;
    char name[64];
    Buf *doc = bufNew(0);
    int rc = 0;

    for (size_t i = 1; i < n; i++)
        if (group[i].last > last)
            last = group[i].last;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint8_t *data;
        size_t len, pos = 0;

        archiveChunkName(group[i].first, group[i].last, name, sizeof(name));
        if (storageGetBuf(a->storage, name, ARCHIVE_CHUNK_MAX_BYTES, &data, &len, err) != 0) {
            rc = -1;
            break;
        }
        while (pos < len) {
            const uint8_t *nl = memchr(data + pos, '\n', len - pos);
            size_t end = nl ? (size_t)(nl - data) : len;
            SegmentMeta m;

            if (segmentMetaFromJson((const char *)data + pos, end - pos, true, &m, err) != 0) {
                errPrefix(err, "index chunk '%s'", name);
                rc = -1;
                break;
            }
            if (m.seq == expect) {
                bufAppend(doc, data + pos, end - pos);
                bufAppend(doc, "\n", 1);
                expect++;
            }
            segmentMetaClear(&m);
            pos = end + 1;
        }
        bvFree(data);
    }
    if (rc == 0 && expect != last + 1)
        rc = errSet(err, ERR_FORMAT, "index chunks of seqs %" PRIu64 "-%" PRIu64 " do not describe seq %" PRIu64, first,
                    last, expect);
    if (rc == 0) {
        archiveChunkName(first, last, name, sizeof(name));
        rc = storagePutBuf(a->storage, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    }
    bufFree(doc);
    return rc;
}

static int
chunkDelete(Archive *a, ArchiveCatalog *c, uint64_t first, uint64_t last, Err *err) {
    char name[64];

    archiveChunkName(first, last, name, sizeof(name));
    if (storageRemove(a->storage, name, err) != 0)
        return -1;
    chunkRemove(c, first, last);
    return 0;
}

int
archiveIndexMerge(Archive *a, ArchiveCatalog *c, size_t *written, size_t *removed, Err *err) {
    CatalogChunk *used;
    size_t nused = 0, nwritten = 0, nremoved = 0, i = 0;
    int rc = 0;

    /* Chunks wholly covered by wider ones: their content is in the wider chunk already. */
    for (size_t k = 0; k < c->chunkCount;) {
        if (!c->chunks[k].used) {
            if (chunkDelete(a, c, c->chunks[k].first, c->chunks[k].last, err) != 0)
                return -1;
            nremoved++;
            continue;
        }
        k++;
    }
    used = bvCalloc(c->chunkCount + 1, sizeof(*used));
    /* A chunk that reaches into pruned seqs is not merged: the prune replaces and deletes it. */
    for (size_t k = 0; k < c->chunkCount; k++)
        if (c->chunks[k].first >= c->firstSeq)
            used[nused++] = c->chunks[k];
    if (nused > 1)
        qsort(used, nused, sizeof(*used), chunkByFirst);
    while (i < nused && rc == 0) {
        size_t j = i + 1;
        uint64_t last = used[i].last;

        if (used[i].last - used[i].first + 1 >= ARCHIVE_CHUNK_TARGET) {
            i++;
            continue;
        }
        while (j < nused && used[j].first <= last + 1 && used[j].last - used[j].first + 1 < ARCHIVE_CHUNK_TARGET &&
               (used[j].last > last ? used[j].last : last) - used[i].first + 1 <= ARCHIVE_CHUNK_TARGET) {
            if (used[j].last > last)
                last = used[j].last;
            j++;
        }
        if (j - i >= 2) {
            /* The wide chunk first, then the narrow ones go: coverage never has a hole. */
            rc = mergeGroup(a, used + i, j - i, err);
            if (rc == 0) {
                chunkAdd(c, used[i].first, last, true);
                nwritten++;
                for (size_t k = i; k < j && rc == 0; k++) {
                    rc = chunkDelete(a, c, used[k].first, used[k].last, err);
                    nremoved += rc == 0;
                }
            }
        }
        i = j;
    }
    bvFree(used);
    if (written != NULL)
        *written = nwritten;
    if (removed != NULL)
        *removed = nremoved;
    return rc;
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

/* ---- retention (prune) ------------------------------------------------------------------------ */

void
archivePruneName(uint64_t firstSeq, char *out, size_t size) {
    snprintf(out, size, ARCHIVE_PRUNE_PREFIX "%016" PRIu64 ".json", firstSeq);
}

int
archivePruneNameParse(const char *name, uint64_t *firstSeq) {
    /* prune/ + 16 digits + .json */
    if (strlen(name) != 6 + 16 + 5 || strncmp(name, ARCHIVE_PRUNE_PREFIX, 6) != 0 || strcmp(name + 22, ".json") != 0)
        return -1;
    if (!digits(name + 6, 16, firstSeq) || *firstSeq < 2)
        return -1;
    return 0;
}

int
archivePruneRecordParse(const char *text, size_t len, ArchivePruneRecord *rec, Err *err) {
    JsonValue *doc = parseDoc(text, len, err);
    const char *gtid, *reason;
    size_t glen;
    uint64_t version;
    int rc = -1;

    memset(rec, 0, sizeof(*rec));
    if (doc == NULL)
        return -1;
    if (jsonReqU64(doc, "version", &version, err) != 0)
        goto out;
    if (version != ARCHIVE_FORMAT_VERSION) {
        errSet(err, ERR_FORMAT, "prune record version %" PRIu64 " is not supported", version);
        goto out;
    }
    if (jsonReqU64(doc, "first_seq", &rec->firstSeq, err) != 0 ||
        jsonReqStrCopy(doc, "file", rec->file, sizeof(rec->file), err) != 0 ||
        jsonReqU64(doc, "start_pos", &rec->startPos, err) != 0 ||
        jsonReqStrCopy(doc, "created", rec->created, sizeof(rec->created), err) != 0)
        goto out;
    if (rec->firstSeq < 2) {
        errSet(err, ERR_FORMAT, "field 'first_seq' is %" PRIu64 ": a prune keeps seq 2 or later", rec->firstSeq);
        goto out;
    }
    if (!segmentFileNameValid(rec->file)) {
        errSet(err, ERR_FORMAT, "field 'file' is not a valid binlog file name: '%s'", rec->file);
        goto out;
    }
    if ((gtid = jsonStr(jsonGet(doc, "gtid_start"), &glen)) == NULL || glen > SEGMENT_GTID_MAX || strlen(gtid) != glen) {
        errSet(err, ERR_FORMAT, "missing or invalid field 'gtid_start'");
        goto out;
    }
    /* Optional members. */
    if (jsonGet(doc, "first_time_us") != NULL && !jsonU64(jsonGet(doc, "first_time_us"), &rec->firstTimeUs)) {
        errSet(err, ERR_FORMAT, "invalid field 'first_time_us'");
        goto out;
    }
    if ((reason = jsonStr(jsonGet(doc, "reason"), NULL)) != NULL)
        snprintf(rec->reason, sizeof(rec->reason), "%s", reason);
    rec->gtidStart = bvStrdup(gtid);
    rc = 0;
out:
    jsonFree(doc);
    return rc;
}

void
archivePruneRecordToJson(const ArchivePruneRecord *rec, Buf *out) {
    jsonBufPrintf(out, "{\"version\":%d,\"first_seq\":%" PRIu64, ARCHIVE_FORMAT_VERSION, rec->firstSeq);
    putStr(out, "file", rec->file);
    jsonBufPrintf(out, ",\"start_pos\":%" PRIu64, rec->startPos);
    putStr(out, "gtid_start", rec->gtidStart != NULL ? rec->gtidStart : "");
    jsonBufPrintf(out, ",\"first_time_us\":%" PRIu64, rec->firstTimeUs);
    putStr(out, "created", rec->created);
    putStr(out, "reason", rec->reason);
    bufAppend(out, "}", 1);
}

const ArchivePruneRecord *
archiveCatalogPrune(const ArchiveCatalog *c) {
    return c->pruned ? &c->prune : NULL;
}

void
archivePruneRecordClear(ArchivePruneRecord *rec) {
    bvFree(rec->gtidStart);
    rec->gtidStart = NULL;
}

/* ---- base backups ---- */

int
archiveBasePointParse(const char *text, size_t len, ArchiveBasePoint *bp, Err *err) {
    const char *p = text, *end = text + len, *f;
    size_t flen;
    uint64_t pos = 0;
    Buf *gtid;

    memset(bp, 0, sizeof(*bp));
    if (memchr(text, '\0', len) != NULL)
        return errSet(err, ERR_FORMAT, "binlog info holds a NUL byte");
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    for (f = p; p < end && *p != '\t' && *p != ' ' && *p != '\n' && *p != '\r'; p++)
        ;
    flen = (size_t)(p - f);
    if (flen == 0 || flen >= sizeof(bp->file))
        return errSet(err, ERR_FORMAT, "binlog info does not start with a binlog file name");
    memcpy(bp->file, f, flen);
    bp->file[flen] = '\0';
    if (!segmentFileNameValid(bp->file))
        return errSet(err, ERR_FORMAT, "binlog info names an invalid binlog file '%s'", bp->file);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p < '0' || *p > '9')
        return errSet(err, ERR_FORMAT, "binlog info has no position after the file name '%s'", bp->file);
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (pos > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return errSet(err, ERR_FORMAT, "binlog info position is too large");
        pos = pos * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
        return errSet(err, ERR_FORMAT, "binlog info position is not a number");
    if (pos < BINLOG_MAGIC_LEN)
        return errSet(err, ERR_FORMAT, "binlog info position %" PRIu64 " is before the first event", pos);
    bp->pos = pos;
    /* The GTID state is the rest: MariaDB's on the same line, MySQL's executed set may be split
     * after its commas over several lines. Blanks are dropped. */
    gtid = bufNew(64);
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            bufAppend(gtid, p, 1);
    if (gtid->len > SEGMENT_GTID_MAX) {
        bufFree(gtid);
        return errSet(err, ERR_FORMAT, "binlog info GTID state is longer than %d bytes", SEGMENT_GTID_MAX);
    }
    bp->gtid = (char *)bufDetach(gtid, NULL);
    return 0;
}

void
archiveBasePointClear(ArchiveBasePoint *bp) {
    bvFree(bp->gtid);
    bp->gtid = NULL;
}

/* Binlog file names `a` and `b` of one series (same text before their last '.'). */
static bool
sameSeries(const char *a, const char *b) {
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');

    if (da == NULL || db == NULL)
        return strcmp(a, b) == 0;
    return da - a == db - b && memcmp(a, b, (size_t)(da - a)) == 0;
}

int
archiveBaseNeededSeq(const ArchiveCatalog *c, const ArchiveBasePoint *bp, uint64_t *seq, Err *err) {
    BinlogFlavour flavour = archiveCatalogFlavour(c);
    bool placed = false, series = false;
    uint64_t byPos = UINT64_MAX, byGtid = UINT64_MAX;

    *seq = UINT64_MAX;
    if (c->count == 0)
        return 0;
    /* By position: the first segment holding bytes at or after file:pos. */
    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;
        int cmp;

        if (!sameSeries(m->file, bp->file))
            continue;
        series = true;
        cmp = segmentFileCompare(m->file, bp->file);
        if (cmp > 0 || (cmp == 0 && m->endPos > bp->pos)) {
            byPos = m->seq;
            break;
        }
    }
    if (series)
        placed = true;
    /* By GTID: the first segment that ends with a transaction the backup does not hold. A segment
     * without a known state may hold one. */
    if (bp->gtid != NULL && bp->gtid[0] != '\0') {
        for (size_t i = 0; i < c->count; i++) {
            const SegmentMeta *m = &c->entries[i]->meta;
            const char *end = segmentMetaGtidEnd(m);
            bool reached = false;

            if (end[0] != '\0' && archiveGtidReached(flavour, bp->gtid, end, &reached, err) != 0)
                return errPrefix(err, "base backup gtid '%s'", bp->gtid);
            if (end[0] == '\0' || !reached) {
                byGtid = m->seq;
                break;
            }
        }
        placed = true;
    }
    if (!placed)
        return errSet(err, ERR_NOTFOUND,
                      "the base backup at %s:%" PRIu64 " has no GTID state and its binlog file is not of the archive's "
                      "series (%s): it cannot be placed in the archive",
                      bp->file, bp->pos, c->entries[0]->meta.file);
    *seq = byPos < byGtid ? byPos : byGtid;
    return 0;
}

int
archiveRetentionSeq(const ArchiveCatalog *c, const ArchiveRetention *r, uint64_t *firstSeq, Err *err) {
    uint64_t keep = UINT64_MAX;
    size_t idx;

    *firstSeq = c->count > 0 ? c->entries[0]->meta.seq : c->firstSeq;
    if (c->count == 0)
        return 0;
    if (r->beforeGtid != NULL) {
        const SegmentMeta *first = &c->entries[0]->meta;
        bool before = false;

        if (segmentMetaGtidStart(first)[0] != '\0' &&
            archiveGtidReached(archiveCatalogFlavour(c), segmentMetaGtidStart(first), r->beforeGtid, &before, err) != 0)
            return errPrefix(err, "gtid '%s'", r->beforeGtid);
        if (before)
            keep = first->seq;
        else if (archiveCatalogFindGtid(c, r->beforeGtid, &idx, err) != 0)
            return errPrefix(err, "--before-gtid");
        else
            keep = c->entries[idx]->meta.seq;
    } else {
        /* The first segment with a commit at or after the time; only the last one when none. */
        keep = c->entries[c->count - 1]->meta.seq;
        for (size_t i = 0; i < c->count; i++) {
            const SegmentMeta *m = &c->entries[i]->meta;

            if (m->transactions > 0 && m->lastTimeUs >= r->keepFromUs) {
                keep = m->seq;
                break;
            }
        }
    }
    for (size_t b = 0; b < r->baseCount; b++) {
        uint64_t need;

        if (archiveBaseNeededSeq(c, &r->bases[b], &need, err) != 0)
            return -1;
        if (need < keep)
            keep = need;
    }
    /* The first kept segment must be indexed: step back over segments only found in the store. */
    if (!archiveCatalogFind(c, keep, &idx))
        return errSet(err, ERR_INTERNAL, "retention point seq %" PRIu64 " is not in the catalog", keep);
    while (idx > 0 && !c->entries[idx]->indexed)
        idx--;
    if (!c->entries[idx]->indexed)
        idx = 0;
    *firstSeq = c->entries[idx]->meta.seq;
    return 0;
}

/* ---- pruning ---- */

typedef struct PruneRun {
    Archive *a;
    bool dryRun;
    ArchivePruneStepFn *step;
    void *data;
} PruneRun;

static int
pruneStep(PruneRun *run, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err) {
    return run->step != NULL ? run->step(run->data, action, object, bytes, err) : 0;
}

static int
pruneRemove(PruneRun *run, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err) {
    if (!run->dryRun && storageRemove(run->a->storage, object, err) != 0)
        return -1;
    return pruneStep(run, action, object, bytes, err);
}

/* The chunk [k, last] from the lines of the chunk [first, last], copied byte for byte. */
static int
pruneChunk(PruneRun *run, uint64_t first, uint64_t last, uint64_t k, Err *err) {
    char name[64], newName[64];
    uint8_t *data;
    size_t len, pos = 0;
    Buf *doc;
    uint64_t expect = k;
    int rc = 0;

    archiveChunkName(first, last, name, sizeof(name));
    archiveChunkName(k, last, newName, sizeof(newName));
    if (run->dryRun)
        return pruneStep(run, ARCHIVE_PRUNE_WRITE_CHUNK, newName, 0, err);
    if (storageGetBuf(run->a->storage, name, ARCHIVE_CHUNK_MAX_BYTES, &data, &len, err) != 0)
        return -1;
    doc = bufNew(len);
    while (pos < len && rc == 0) {
        const uint8_t *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        SegmentMeta m;

        if (segmentMetaFromJson((const char *)data + pos, end - pos, true, &m, err) != 0) {
            rc = errPrefix(err, "index chunk '%s'", name);
            break;
        }
        if (m.seq == expect) {
            bufAppend(doc, data + pos, end - pos);
            bufAppend(doc, "\n", 1);
            expect++;
        }
        segmentMetaClear(&m);
        pos = end + 1;
    }
    bvFree(data);
    if (rc == 0 && expect != last + 1)
        rc = errSet(err, ERR_FORMAT, "index chunk '%s' does not describe seq %" PRIu64, name, expect);
    if (rc == 0)
        rc = storagePutBuf(run->a->storage, newName, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    if (rc == 0)
        rc = pruneStep(run, ARCHIVE_PRUNE_WRITE_CHUNK, newName, doc->len, err);
    bufFree(doc);
    return rc;
}

static int
pruneRecordWrite(PruneRun *run, const SegmentMeta *first, uint64_t firstTimeUs, const char *reason, Err *err) {
    ArchivePruneRecord rec;
    char name[64];
    Buf *doc;
    int rc;

    archivePruneName(first->seq, name, sizeof(name));
    if (run->dryRun)
        return pruneStep(run, ARCHIVE_PRUNE_WRITE_RECORD, name, 0, err);
    memset(&rec, 0, sizeof(rec));
    rec.firstSeq = first->seq;
    snprintf(rec.file, sizeof(rec.file), "%s", first->file);
    rec.startPos = first->startPos;
    rec.gtidStart = (char *)segmentMetaGtidStart(first);
    rec.firstTimeUs = firstTimeUs;
    isoNow(rec.created, sizeof(rec.created));
    snprintf(rec.reason, sizeof(rec.reason), "%s", reason);
    doc = bufNew(512);
    archivePruneRecordToJson(&rec, doc);
    bufAppend(doc, "\n", 1);
    /* Immutable: a repeated prune to the same seq after a crash finds its own record (same
     * content only if created is the same second; another one is as good). */
    rc = storagePutBuf(run->a->storage, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    if (rc != 0 && err->code == ERR_EXISTS)
        rc = 0;
    if (rc == 0)
        rc = pruneStep(run, ARCHIVE_PRUNE_WRITE_RECORD, name, doc->len, err);
    bufFree(doc);
    return rc;
}

static void
catalogDropBelow(ArchiveCatalog *c, uint64_t seq) {
    size_t n = lowerBound(c, seq);

    for (size_t i = 0; i < n; i++)
        entryFree(c->entries[i]);
    memmove(c->entries, c->entries + n, (c->count - n) * sizeof(*c->entries));
    c->count -= n;
    for (size_t i = 0; i < c->count; i++)
        c->entries[i]->order = i;
}

int
archivePrune(Archive *a, ArchiveCatalog *c, uint64_t firstSeq, const char *reason, bool dryRun,
             ArchivePruneStepFn *step, void *data, Err *err) {
    PruneRun run = {a, dryRun, step, data};
    Coverage cov = {0};
    CatalogChunk *chunks;
    size_t nchunks, idx, ndel = 0;
    char **delNames = NULL;
    uint64_t *delSizes = NULL, firstTimeUs = 0;
    int rc = 0;

    if (firstSeq < c->firstSeq)
        return errSet(err, ERR_INTERNAL, "prune to seq %" PRIu64 ": the archive already starts at seq %" PRIu64, firstSeq,
                      c->firstSeq);
    if (firstSeq > c->firstSeq &&
        (!archiveCatalogFind(c, firstSeq, &idx) || !c->entries[idx]->indexed))
        return errSet(err, ERR_INTERNAL, "prune to seq %" PRIu64 ", which is not an indexed segment", firstSeq);
    /* 1. The record: from now on readers ignore every seq below firstSeq. */
    if (firstSeq > c->firstSeq) {
        for (size_t i = idx; i < c->count; i++)
            if (c->entries[i]->meta.transactions > 0) {
                firstTimeUs = c->entries[i]->meta.firstTimeUs;
                break;
            }
        if (pruneRecordWrite(&run, &c->entries[idx]->meta, firstTimeUs, reason, err) != 0)
            return -1;
    }
    /* 2. Chunks that reach into pruned seqs: their kept lines in a new chunk, unless chunks that
     * start at or after firstSeq already cover them. Widest first. */
    nchunks = c->chunkCount;
    chunks = bvCalloc(nchunks + 1, sizeof(*chunks));
    memcpy(chunks, c->chunks, nchunks * sizeof(*chunks));
    for (size_t i = 0; i < nchunks; i++)
        if (chunks[i].first >= firstSeq)
            coverageAdd(&cov, chunks[i].first, chunks[i].last);
    for (size_t pass = 0; pass < nchunks && rc == 0; pass++) {
        size_t best = nchunks;

        for (size_t i = 0; i < nchunks; i++)
            if (chunks[i].first < firstSeq && chunks[i].last >= firstSeq && !coverageHas(&cov, firstSeq, chunks[i].last) &&
                (best == nchunks || chunks[i].last > chunks[best].last))
                best = i;
        if (best == nchunks)
            break;
        rc = pruneChunk(&run, chunks[best].first, chunks[best].last, firstSeq, err);
        if (rc == 0) {
            coverageAdd(&cov, firstSeq, chunks[best].last);
            if (!dryRun)
                chunkAdd(c, firstSeq, chunks[best].last, true);
        }
    }
    /* 3. The chunks that reach into pruned seqs. */
    for (size_t i = 0; i < nchunks && rc == 0; i++) {
        char name[64];

        if (chunks[i].first >= firstSeq)
            continue;
        archiveChunkName(chunks[i].first, chunks[i].last, name, sizeof(name));
        rc = pruneRemove(&run, ARCHIVE_PRUNE_REMOVE_CHUNK, name, 0, err);
        if (rc == 0 && !dryRun)
            chunkRemove(c, chunks[i].first, chunks[i].last);
    }
    bvFree(chunks);
    bvFree(cov.iv);
    if (rc != 0)
        return -1;
    /* 4. The segments, oldest first: those of the catalog, then those an earlier prune left. */
    for (size_t i = 0; i < c->count && c->entries[i]->meta.seq < firstSeq; i++) {
        delNames = bvRealloc(delNames, (ndel + 1) * sizeof(*delNames));
        delSizes = bvRealloc(delSizes, (ndel + 1) * sizeof(*delSizes));
        delNames[ndel] = bvStrdup(c->entries[i]->meta.name);
        delSizes[ndel++] = c->entries[i]->meta.size;
    }
    for (size_t i = 0; i < c->leftoverCount; i++) {
        delNames = bvRealloc(delNames, (ndel + 1) * sizeof(*delNames));
        delSizes = bvRealloc(delSizes, (ndel + 1) * sizeof(*delSizes));
        delNames[ndel] = bvStrdup(c->leftovers[i]);
        delSizes[ndel++] = c->leftoverSizes[i];
    }
    if (!dryRun) {
        c->firstSeq = firstSeq;
        catalogDropBelow(c, firstSeq);
    }
    for (size_t i = 0; i < ndel && rc == 0; i++)
        rc = pruneRemove(&run, ARCHIVE_PRUNE_REMOVE_SEGMENT, delNames[i], delSizes[i], err);
    for (size_t i = 0; i < ndel; i++)
        bvFree(delNames[i]);
    bvFree(delNames);
    bvFree(delSizes);
    if (rc != 0)
        return -1;
    if (!dryRun) {
        for (size_t i = 0; i < c->leftoverCount; i++)
            bvFree(c->leftovers[i]);
        c->leftoverCount = 0;
    }
    /* 5. Older prune records: the newest one says it all. */
    for (size_t i = 0; i < c->pruneRecordCount && rc == 0; i++) {
        char name[64];

        if (c->pruneRecords[i] >= firstSeq)
            continue;
        archivePruneName(c->pruneRecords[i], name, sizeof(name));
        rc = pruneRemove(&run, ARCHIVE_PRUNE_REMOVE_RECORD, name, 0, err);
    }
    if (rc == 0 && !dryRun) {
        size_t keep = 0;

        for (size_t i = 0; i < c->pruneRecordCount; i++)
            if (c->pruneRecords[i] >= firstSeq)
                c->pruneRecords[keep++] = c->pruneRecords[i];
        c->pruneRecordCount = keep;
        if (firstSeq > 1 && (keep == 0 || c->pruneRecords[keep - 1] != firstSeq)) {
            if (c->pruneRecordCount == c->pruneRecordCap) {
                c->pruneRecordCap = c->pruneRecordCap ? c->pruneRecordCap * 2 : 4;
                c->pruneRecords = bvRealloc(c->pruneRecords, c->pruneRecordCap * sizeof(*c->pruneRecords));
            }
            c->pruneRecords[c->pruneRecordCount++] = firstSeq;
        }
    }
    return rc;
}
