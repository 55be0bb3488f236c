/*
 * The Archive object (its store) and its segment objects; and the helpers the other files of
 * archive/ share (internal.h).
 */
#include "archive/archive.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "archive/identity.h"
#include "archive/internal.h"
#include "common/crypto.h"
#include "common/mem.h"

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

int
archiveSegmentNaming(Archive *a, SegmentNaming *naming, Err *err) {
    ArchiveIdentity id;

    if (!a->namingKnown && archiveIdentityRead(a, &id, err) != 0) {
        if (err->code != ERR_NOTFOUND)
            return -1;
        errClear(err);
        *naming = SEGMENT_NAMING_GROUPED;
        return 0;
    }
    *naming = a->naming;
    return 0;
}

int
archiveSegmentSetName(Archive *a, SegmentMeta *meta, Err *err) {
    SegmentNaming naming;

    if (archiveSegmentNaming(a, &naming, err) != 0)
        return -1;
    segmentName(meta->seq, meta->file, meta->startPos, naming, meta->name, sizeof(meta->name));
    return 0;
}

int
archiveSegmentListAfter(Archive *a, uint64_t from, char *out, size_t size, Err *err) {
    SegmentNaming naming;

    if (archiveSegmentNaming(a, &naming, err) != 0)
        return -1;
    segmentListAfter(from, naming, out, size);
    return 0;
}

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

/* ---- helpers of archive/ (internal.h) ---- */

const char *
archiveFlavourName(BinlogFlavour flavour) {
    return flavour == BINLOG_FLAVOUR_MARIADB ? "mariadb" : flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "unknown";
}

int
archiveJsonReqU32(const JsonValue *obj, const char *key, uint32_t *out, Err *err) {
    uint64_t v;

    if (jsonReqU64(obj, key, &v, err) != 0)
        return -1;
    if (v > UINT32_MAX)
        return errSet(err, ERR_FORMAT, "field '%s' is out of range (above 4294967295)", key);
    *out = (uint32_t)v;
    return 0;
}

const JsonValue *
archiveJsonReqObject(const JsonValue *obj, const char *key, Err *err) {
    const JsonValue *v = jsonGet(obj, key);

    if (v == NULL || jsonType(v) != JSON_OBJECT) {
        errSet(err, ERR_FORMAT, "missing or invalid field '%s' (expected an object)", key);
        return NULL;
    }
    return v;
}

int
archiveDocPutOnce(Archive *a, const char *name, const Buf *doc, uint8_t **existing, size_t *len, Err *err) {
    if (storagePutBuf(a->storage, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err) == 0)
        return 0;
    if (err->code != ERR_EXISTS || storageGetBuf(a->storage, name, ARCHIVE_DOC_MAX, existing, len, err) != 0)
        return -1;
    return 1;
}

void
archiveJsonPutStr(Buf *out, const char *key, const char *value) {
    jsonBufPrintf(out, ",\"%s\":", key);
    jsonBufString(out, value, strlen(value));
}

JsonValue *
archiveDocParse(const char *text, size_t len, Err *err) {
    JsonValue *doc = jsonParse(text, len, err);

    if (doc != NULL && jsonType(doc) != JSON_OBJECT) {
        jsonFree(doc);
        errSet(err, ERR_FORMAT, "not a JSON object");
        return NULL;
    }
    return doc;
}

JsonValue *
archiveDocParseVersion(const char *text, size_t len, const char *what, Err *err) {
    JsonValue *doc = archiveDocParse(text, len, err);
    uint64_t version;

    if (doc == NULL)
        return NULL;
    if (jsonReqU64(doc, "version", &version, err) != 0) {
        jsonFree(doc);
        return NULL;
    }
    if (version != ARCHIVE_FORMAT_VERSION) {
        jsonFree(doc);
        errSet(err, ERR_FORMAT, "%s version %" PRIu64 " is not supported", what, version);
        return NULL;
    }
    return doc;
}

bool
archiveDigits(const char *p, size_t n, uint64_t *out) {
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return true;
}
