/* binvault.json: reading, parsing and creating the archive's identity. */
#include "archive/identity.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/internal.h"
#include "common/time.h"
#include "common/log.h"
#include "common/mem.h"

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

int
archiveIdentityParse(const char *text, size_t len, ArchiveIdentity *id, Err *err) {
    JsonValue *doc = archiveDocParse(text, len, err);
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
    if (version < ARCHIVE_FORMAT_VERSION || version > ARCHIVE_IDENTITY_VERSION3) {
        errSet(err, ERR_FORMAT,
               "archive format version %" PRIu64 " is not supported (this binvault reads versions %d to %d: a newer "
               "binvault wrote it)", version, ARCHIVE_FORMAT_VERSION, ARCHIVE_IDENTITY_VERSION3);
        goto out;
    }
    id->version = (unsigned)version;
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
    id->encrypted = jsonGet(doc, "encryption") != NULL;
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
    if (rc == 0) {
        a->naming = id->version >= ARCHIVE_IDENTITY_VERSION3 ? SEGMENT_NAMING_GROUPED : SEGMENT_NAMING_FLAT;
        a->namingKnown = true;
    }
    return rc;
}

static int
identityCheck(Archive *a, const ArchiveIdentity *source, const ArchiveIdentity *stored, Err *err) {
    if (stored->flavour != source->flavour)
        return errSet(err, ERR_CONFIG, "archive '%s' holds %s binlogs (server_id %" PRIu32 ", %s); refusing to add %s binlogs to it",
                      archiveUrl(a), archiveFlavourName(stored->flavour), stored->serverId, stored->serverVersion,
                      archiveFlavourName(source->flavour));
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
        timeIsoNow(have.created, sizeof(have.created));
        doc = bufNew(512);
        jsonBufPrintf(doc, "{\"format\":\"%s\",\"version\":%d", ARCHIVE_FORMAT_NAME, ARCHIVE_IDENTITY_VERSION3);
        archiveJsonPutStr(doc, "created", have.created);
        jsonBufPrintf(doc, ",\"flavour\":\"%s\",\"server_id\":%" PRIu32, archiveFlavourName(have.flavour), have.serverId);
        archiveJsonPutStr(doc, "server_uuid", have.serverUuid);
        archiveJsonPutStr(doc, "server_version", have.serverVersion);
        archiveJsonPutStr(doc, "source", have.source);
        jsonBufPrintf(doc, "}\n");
        rc = storagePutBuf(a->storage, ARCHIVE_IDENTITY_OBJECT, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
        bufFree(doc);
        /* Another writer created it first: use theirs. */
        if (rc != 0 && err->code == ERR_EXISTS)
            rc = archiveIdentityRead(a, &have, err);
        if (rc != 0)
            return -1;
        if (!a->namingKnown) {
            a->naming = SEGMENT_NAMING_GROUPED;
            a->namingKnown = true;
        }
    }
    if (identityCheck(a, source, &have, err) != 0)
        return -1;
    if (stored != NULL)
        *stored = have;
    return 0;
}

/* What every binvault writes first in binvault.json; the version follows. */
#define IDENTITY_HEAD "{\"format\":\"" ARCHIVE_FORMAT_NAME "\",\"version\":"

int
archiveIdentitySetVersion2(Archive *a, Err *err) {
    ArchiveIdentity id;
    uint8_t *data;
    size_t len, head = strlen(IDENTITY_HEAD);
    Buf *doc;
    int rc;

    if (storageGetBuf(a->storage, ARCHIVE_IDENTITY_OBJECT, ARCHIVE_DOC_MAX, &data, &len, err) != 0)
        return -1;
    if (archiveIdentityParse((const char *)data, len, &id, err) != 0) {
        bvFree(data);
        return errPrefix(err, "'%s' in '%s'", ARCHIVE_IDENTITY_OBJECT, archiveUrl(a));
    }
    if (id.version >= ARCHIVE_IDENTITY_VERSION2) {
        bvFree(data);
        return 0;
    }
    if (len < head + 2 || memcmp(data, IDENTITY_HEAD, head) != 0 || data[head] != '1' || data[head + 1] != ',') {
        bvFree(data);
        return errSet(err, ERR_FORMAT,
                      "'%s' in '%s' is not laid out as binvault writes it: not upgraded (its version must be the "
                      "second member)",
                      ARCHIVE_IDENTITY_OBJECT, archiveUrl(a));
    }
    doc = bufNew(len);
    bufAppend(doc, data, head);
    bufAppend(doc, "2", 1);
    bufAppend(doc, data + head + 1, len - head - 1);
    bvFree(data);
    rc = storagePutBuf(a->storage, ARCHIVE_IDENTITY_OBJECT, doc->data, doc->len, STORAGE_PUT_REPLACE, err);
    bufFree(doc);
    return rc;
}
