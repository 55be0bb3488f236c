/*
 * Base backups in the archive, the reading side (archive/backup_store.h): manifests, the list of
 * complete backups, parts.bvi, the verified stream of a backup, incomplete backups and deletion.
 * The writer is backup_write.c; what both share is in backup_internal.h.
 */
#include "archive/backup_store.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/backup.h"
#include "archive/backup_internal.h"
#include "archive/catalog.h"
#include "archive/continuity.h"
#include "binlog/gtid.h"
#include "archive/internal.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/time.h"

#define DAY_US (24LL * 3600 * 1000000)

const SegmentContainer archiveBackupPartContainer = {"backup part", ARCHIVE_BACKUP_PART_MAGIC,
                                                     ARCHIVE_BACKUP_PART_END_MAGIC, ARCHIVE_BACKUP_VERSION};

bool
archiveBackupIdValid(const char *id) {
    static const char form[] = "ddddddddTddddddZ-xxxxxxxx";

    if (strlen(id) != ARCHIVE_BACKUP_ID_LEN)
        return false;
    for (size_t i = 0; i < ARCHIVE_BACKUP_ID_LEN; i++) {
        char c = id[i];
        bool digit = c >= '0' && c <= '9';

        if ((form[i] == 'd' && !digit) || (form[i] == 'x' && !digit && !(c >= 'a' && c <= 'f')) ||
            (form[i] != 'd' && form[i] != 'x' && c != form[i]))
            return false;
    }
    return true;
}

void
archiveBackupObjectName(const char *id, const char *leaf, char *out, size_t size) {
    snprintf(out, size, ARCHIVE_BACKUP_PREFIX "%s/%s", id, leaf);
}

void
archiveBackupPartName(const char *id, uint32_t part, char *out, size_t size) {
    snprintf(out, size, ARCHIVE_BACKUP_PREFIX "%s/parts/%08" PRIu32 ".bvp", id, part);
}

/* ---- manifest ---------------------------------------------------------------------------------- */

static void
putUs(Buf *out, const char *key, int64_t us) {
    char iso[32];

    timeFormatIso((uint64_t)us, iso, sizeof(iso));
    archiveJsonPutStr(out, key, iso);
}

void
archiveBackupManifestToJson(const ArchiveBackup *b, const char *partsIndexSha256, uint64_t partsIndexSize, Buf *out) {
    char name[STORAGE_NAME_MAX], created[32];

    jsonBufPrintf(out, "{\"version\":%d", ARCHIVE_BACKUP_VERSION);
    archiveJsonPutStr(out, "id", b->id);
    archiveJsonPutStr(out, "tool", b->tool);
    archiveJsonPutStr(out, "tool_version", b->toolVersion);
    archiveJsonPutStr(out, "stream", b->stream);
    archiveJsonPutStr(out, "flavour", b->flavour);
    jsonBufPrintf(out, ",\"source\":{\"server_id\":%" PRIu32, b->serverId);
    archiveJsonPutStr(out, "server_uuid", b->serverUuid);
    archiveJsonPutStr(out, "host", b->host);
    archiveJsonPutStr(out, "server_version", b->serverVersion);
    jsonBufPrintf(out, "},\"timeline\":%" PRIu32, b->timeline);
    putUs(out, "start", b->startUs);
    putUs(out, "end", b->endUs);
    jsonBufPrintf(out, ",\"start_us\":%" PRId64 ",\"end_us\":%" PRId64, b->startUs, b->endUs);
    jsonBufPrintf(out, ",\"binlog\":{");
    jsonBufPrintf(out, "\"file\":");
    jsonBufString(out, b->file, strlen(b->file));
    jsonBufPrintf(out, ",\"pos\":%" PRIu64, b->pos);
    archiveJsonPutStr(out, "gtid_state", b->gtidState != NULL ? b->gtidState : "");
    jsonBufPrintf(out, "},\"archive\":{\"seq\":%" PRIu64 "}", b->archiveSeq);
    jsonBufPrintf(out, ",\"stream_len\":%" PRIu64 ",\"stored_bytes\":%" PRIu64 ",\"parts\":%" PRIu32, b->streamLen,
                  b->storedBytes, b->parts);
    archiveBackupObjectName(b->id, "parts.bvi", name, sizeof(name));
    jsonBufPrintf(out, ",\"parts_index\":{\"name\":");
    jsonBufString(out, name, strlen(name));
    jsonBufPrintf(out, ",\"size\":%" PRIu64, partsIndexSize);
    archiveJsonPutStr(out, "sha256", partsIndexSha256);
    jsonBufPrintf(out, "}");
    archiveJsonPutStr(out, "compression", "lz4");
    timeIsoNow(created, sizeof(created));
    archiveJsonPutStr(out, "created", created);
    jsonBufPrintf(out, "}");
}

static int
reqI64(const JsonValue *obj, const char *key, int64_t *out, Err *err) {
    if (!jsonI64(jsonGet(obj, key), out) || *out < 0)
        return errSet(err, ERR_FORMAT, "missing or invalid field '%s'", key);
    return 0;
}

int
archiveBackupManifestParse(const char *text, size_t len, ArchiveBackup *b, ArchiveBackupIndexRef *idx, Err *err) {
    JsonValue *doc = archiveDocParse(text, len, err);
    const JsonValue *source, *binlog, *archive, *index;
    const char *gtid;
    uint64_t version;
    int rc = -1;

    memset(b, 0, sizeof(*b));
    if (doc == NULL)
        return -1;
    if (jsonReqU64(doc, "version", &version, err) != 0)
        goto out;
    if (version != ARCHIVE_BACKUP_VERSION) {
        errSet(err, ERR_FORMAT, "backup manifest version %" PRIu64 " is not supported", version);
        goto out;
    }
    if (jsonReqStrCopy(doc, "id", b->id, sizeof(b->id), err) != 0 ||
        jsonReqStrCopy(doc, "tool", b->tool, sizeof(b->tool), err) != 0 ||
        jsonReqStrCopy(doc, "tool_version", b->toolVersion, sizeof(b->toolVersion), err) != 0 ||
        jsonReqStrCopy(doc, "stream", b->stream, sizeof(b->stream), err) != 0 ||
        jsonReqStrCopy(doc, "flavour", b->flavour, sizeof(b->flavour), err) != 0 ||
        (source = archiveJsonReqObject(doc, "source", err)) == NULL || archiveJsonReqU32(source, "server_id", &b->serverId, err) != 0 ||
        jsonReqStrCopy(source, "server_uuid", b->serverUuid, sizeof(b->serverUuid), err) != 0 ||
        jsonReqStrCopy(source, "host", b->host, sizeof(b->host), err) != 0 ||
        jsonReqStrCopy(source, "server_version", b->serverVersion, sizeof(b->serverVersion), err) != 0 ||
        archiveJsonReqU32(doc, "timeline", &b->timeline, err) != 0 || reqI64(doc, "start_us", &b->startUs, err) != 0 ||
        reqI64(doc, "end_us", &b->endUs, err) != 0 || (binlog = archiveJsonReqObject(doc, "binlog", err)) == NULL ||
        jsonReqStrCopy(binlog, "file", b->file, sizeof(b->file), err) != 0 ||
        jsonReqU64(binlog, "pos", &b->pos, err) != 0 || jsonReqStr(binlog, "gtid_state", &gtid, err) != 0 ||
        (archive = archiveJsonReqObject(doc, "archive", err)) == NULL || jsonReqU64(archive, "seq", &b->archiveSeq, err) != 0 ||
        jsonReqU64(doc, "stream_len", &b->streamLen, err) != 0 ||
        jsonReqU64(doc, "stored_bytes", &b->storedBytes, err) != 0 || archiveJsonReqU32(doc, "parts", &b->parts, err) != 0 ||
        (index = archiveJsonReqObject(doc, "parts_index", err)) == NULL ||
        jsonReqStrCopy(index, "name", idx->name, sizeof(idx->name), err) != 0 ||
        jsonReqU64(index, "size", &idx->size, err) != 0 ||
        jsonReqStrCopy(index, "sha256", idx->sha256, sizeof(idx->sha256), err) != 0)
        goto out;
    if (!archiveBackupIdValid(b->id)) {
        errSet(err, ERR_FORMAT, "invalid backup id '%s'", b->id);
        goto out;
    }
    if (b->file[0] != '\0' && !segmentFileNameValid(b->file)) {
        errSet(err, ERR_FORMAT, "invalid binlog file name '%s'", b->file);
        goto out;
    }
    if (strlen(gtid) > SEGMENT_GTID_MAX) {
        errSet(err, ERR_LIMIT, "gtid_state is longer than %d bytes", SEGMENT_GTID_MAX);
        goto out;
    }
    if (strcmp(b->flavour, "mariadb") != 0 && strcmp(b->flavour, "mysql") != 0) {
        errSet(err, ERR_FORMAT, "flavour '%s' is neither mariadb nor mysql", b->flavour);
        goto out;
    }
    /* Readers compare it with the archive's states: a malformed one is refused here, once. */
    if (gtid[0] != '\0') {
        GtidState *state = gtidStateParse(strcmp(b->flavour, "mysql") == 0 ? BINLOG_FLAVOUR_MYSQL : BINLOG_FLAVOUR_MARIADB,
                                          gtid, err);

        if (state == NULL) {
            errPrefix(err, "gtid_state");
            goto out;
        }
        gtidStateFree(state);
    }
    if (b->parts == 0 || b->parts > ARCHIVE_BACKUP_PARTS_MAX || b->streamLen == 0 ||
        idx->size > ARCHIVE_BACKUP_INDEX_MAX || strlen(idx->sha256) != 64) {
        errSet(err, ERR_FORMAT, "parts, stream_len or parts_index out of range");
        goto out;
    }
    {
        char expect[STORAGE_NAME_MAX];

        archiveBackupObjectName(b->id, "parts.bvi", expect, sizeof(expect));
        if (strcmp(expect, idx->name) != 0) {
            errSet(err, ERR_FORMAT, "parts_index names '%s', not '%s'", idx->name, expect);
            goto out;
        }
    }
    b->gtidState = bvStrdup(gtid);
    rc = 0;
out:
    jsonFree(doc);
    return rc;
}

/* ---- listing ----------------------------------------------------------------------------------- */

/* The ids under backups/, each once, with whether a manifest and a started.json were listed. */
typedef struct IdList {
    ArchiveBackupStarted *items;
    bool *hasManifest;
    size_t count, cap;
} IdList;

static int
listIds(const char *name, uint64_t size, void *data, Err *err) {
    IdList *l = data;
    const char *p = name + strlen(ARCHIVE_BACKUP_PREFIX), *slash = strchr(p, '/');
    char id[64];

    (void)size;
    (void)err;
    if (slash == NULL || (size_t)(slash - p) >= sizeof(id))
        return 0;
    memcpy(id, p, (size_t)(slash - p));
    id[slash - p] = '\0';
    if (!archiveBackupIdValid(id))
        return 0;
    if (l->count == 0 || strcmp(l->items[l->count - 1].id, id) != 0) {
        if (l->count == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 16;
            l->items = bvRealloc(l->items, l->cap * sizeof(*l->items));
            l->hasManifest = bvRealloc(l->hasManifest, l->cap * sizeof(*l->hasManifest));
        }
        memset(&l->items[l->count], 0, sizeof(l->items[0]));
        snprintf(l->items[l->count].id, sizeof(l->items[0].id), "%s", id);
        l->hasManifest[l->count] = false;
        l->count++;
    }
    if (strcmp(slash + 1, "manifest.json") == 0)
        l->hasManifest[l->count - 1] = true;
    return 0;
}

int
archiveBackupReadManifest(Archive *a, const char *id, ArchiveBackup *b, ArchiveBackupIndexRef *idx, Err *err) {
    char name[STORAGE_NAME_MAX];
    uint8_t *data;
    size_t len;
    int rc;

    archiveBackupObjectName(id, "manifest.json", name, sizeof(name));
    if (storageGetBuf(a->storage, name, ARCHIVE_DOC_MAX, &data, &len, err) != 0)
        return -1;
    rc = archiveBackupManifestParse((const char *)data, len, b, idx, err);
    bvFree(data);
    if (rc == 0 && strcmp(b->id, id) != 0) {
        bvFree(b->gtidState);
        b->gtidState = NULL;
        rc = errSet(err, ERR_FORMAT, "it describes backup '%s'", b->id);
    }
    if (rc != 0)
        errPrefix(err, "backup manifest '%s'", name);
    return rc;
}

int
archiveBackupList(Archive *archive, ArchiveBackup **backups, size_t *count, Err *err) {
    return archiveBackupListChecked(archive, backups, count, NULL, NULL, err);
}

int
archiveBackupListChecked(Archive *archive, ArchiveBackup **backups, size_t *count, ArchiveBackupBadFn bad,
                         void *data, Err *err) {
    IdList l = {0};
    ArchiveBackup *out = NULL;
    size_t n = 0;

    *backups = NULL;
    *count = 0;
    if (storageList(archive->storage, ARCHIVE_BACKUP_PREFIX, listIds, &l, err) != 0)
        return errPrefix(err, "unable to list the backups of '%s'", storageUrl(archive->storage));
    for (size_t i = 0; i < l.count; i++) {
        ArchiveBackupIndexRef idx;
        Err e = {0};

        if (!l.hasManifest[i])
            continue;
        out = bvRealloc(out, (n + 1) * sizeof(*out));
        if (archiveBackupReadManifest(archive, l.items[i].id, &out[n], &idx, &e) != 0) {
            if (e.code == ERR_STORAGE) {
                *err = e;
                archiveBackupListFree(out, n);
                bvFree(l.items);
                bvFree(l.hasManifest);
                return -1;
            }
            if (bad != NULL)
                bad(data, l.items[i].id, &e);
            else
                logWarn("%s; the backup is not used ('binvault verify' reports it)", e.msg);
            continue;
        }
        n++;
    }
    bvFree(l.items);
    bvFree(l.hasManifest);
    *backups = out;
    *count = n;
    return 0;
}

void
archiveBackupListFree(ArchiveBackup *backups, size_t count) {
    for (size_t i = 0; i < count; i++)
        bvFree(backups[i].gtidState);
    bvFree(backups);
}

static int
readStarted(Archive *a, ArchiveBackupStarted *s, Err *err) {
    char name[STORAGE_NAME_MAX];
    uint8_t *data;
    size_t len;
    JsonValue *doc;

    archiveBackupObjectName(s->id, "started.json", name, sizeof(name));
    if (storageGetBuf(a->storage, name, ARCHIVE_DOC_MAX, &data, &len, err) != 0)
        return -1;
    doc = archiveDocParse((const char *)data, len, err);
    bvFree(data);
    if (doc == NULL)
        return -1;
    if (jsonReqStrCopy(doc, "host", s->host, sizeof(s->host), err) != 0 || !jsonI64(jsonGet(doc, "pid"), &s->pid) ||
        !jsonI64(jsonGet(doc, "started_us"), &s->startedUs)) {
        jsonFree(doc);
        s->startedUs = 0;
        return errSet(err, ERR_FORMAT, "started.json of backup '%s' is malformed", s->id);
    }
    jsonFree(doc);
    return 0;
}

int
archiveBackupListIncomplete(Archive *archive, ArchiveBackupStarted **out, size_t *count, Err *err) {
    IdList l = {0};
    size_t n = 0;

    *out = NULL;
    *count = 0;
    if (storageList(archive->storage, ARCHIVE_BACKUP_PREFIX, listIds, &l, err) != 0)
        return errPrefix(err, "unable to list the backups of '%s'", storageUrl(archive->storage));
    for (size_t i = 0; i < l.count; i++) {
        Err e = {0};

        if (l.hasManifest[i])
            continue;
        l.items[n] = l.items[i];
        if (readStarted(archive, &l.items[n], &e) != 0 && e.code == ERR_STORAGE) {
            *err = e;
            bvFree(l.items);
            bvFree(l.hasManifest);
            return -1;
        }
        n++;
    }
    bvFree(l.hasManifest);
    *out = l.items;
    *count = n;
    return 0;
}

/* The start time an id says (its first 16 characters), in microseconds; 0 when it does not read. */
static int64_t
idTimeUs(const char *id) {
    struct tm tm = {0};

    if (sscanf(id, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000000;
}

bool
archiveBackupAbandoned(const ArchiveBackupStarted *s, int64_t nowUs, const char *thisHost,
                       bool (*pidAlive)(int64_t pid)) {
    int64_t started = s->startedUs != 0 ? s->startedUs : idTimeUs(s->id);

    if (started != 0 && nowUs - started > DAY_US)
        return true;
    if (s->startedUs != 0 && pidAlive != NULL && thisHost != NULL && strcmp(s->host, thisHost) == 0)
        return !pidAlive(s->pid);
    return false;
}

void
archiveBackupKeep(const ArchiveBackup *list, size_t n, int64_t keepNewest, int64_t keepFromUs, bool *keep) {
    size_t newestBefore = SIZE_MAX;

    for (size_t i = 0; i < n; i++) {
        keep[i] = keepNewest < 0 && keepFromUs < 0;
        if (keepNewest >= 0 && n - i <= (uint64_t)keepNewest)
            keep[i] = true;
        if (keepFromUs >= 0) {
            if (list[i].startUs >= keepFromUs)
                keep[i] = true;
            else
                newestBefore = i;
        }
    }
    if (newestBefore != SIZE_MAX)
        keep[newestBefore] = true;
}

bool
archiveBackupPidAlive(int64_t pid) {
    return pid > 0 && pid <= INT32_MAX && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int
archiveBackupRemoveAbandoned(Archive *archive, int64_t nowUs, const char *thisHost, bool (*pidAlive)(int64_t pid),
                             void (*removed)(void *data, const char *id, uint64_t objects), void *data, Err *err) {
    ArchiveBackupStarted *inc;
    size_t n;
    int rc = 0;

    if (archiveBackupListIncomplete(archive, &inc, &n, err) != 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t objects;

        if (!archiveBackupAbandoned(&inc[i], nowUs, thisHost, pidAlive))
            continue;
        if ((rc = archiveBackupDelete(archive, inc[i].id, &objects, err)) == 0 && removed != NULL)
            removed(data, inc[i].id, objects);
    }
    bvFree(inc);
    return rc;
}

typedef struct NameList {
    char **names;
    size_t count, cap;
} NameList;

static int
collectName(const char *name, uint64_t size, void *data, Err *err) {
    NameList *l = data;

    (void)size;
    (void)err;
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->names = bvRealloc(l->names, l->cap * sizeof(*l->names));
    }
    l->names[l->count++] = bvStrdup(name);
    return 0;
}

int
archiveBackupDelete(Archive *archive, const char *id, uint64_t *removed, Err *err) {
    char name[STORAGE_NAME_MAX], prefix[STORAGE_NAME_MAX];
    NameList l = {0};
    int rc = 0;

    if (removed != NULL)
        *removed = 0;
    if (!archiveBackupIdValid(id))
        return errSet(err, ERR_USAGE, "invalid backup id '%s'", id);
    /* The manifest first: from then on no reader uses the backup. */
    archiveBackupObjectName(id, "manifest.json", name, sizeof(name));
    if (storageRemove(archive->storage, name, err) != 0)
        return -1;
    archiveBackupObjectName(id, "", prefix, sizeof(prefix));
    if (storageList(archive->storage, prefix, collectName, &l, err) != 0)
        rc = -1;
    /* started.json last: what is left after a crash is still recognised as a backup. */
    for (size_t pass = 0; pass < 2 && rc == 0; pass++)
        for (size_t i = 0; i < l.count && rc == 0; i++) {
            bool started = strcmp(l.names[i] + strlen(prefix), "started.json") == 0;

            if (started != (pass == 1))
                continue;
            if (storageRemove(archive->storage, l.names[i], err) != 0)
                rc = -1;
            else if (removed != NULL)
                (*removed)++;
        }
    for (size_t i = 0; i < l.count; i++)
        bvFree(l.names[i]);
    bvFree(l.names);
    if (rc != 0)
        errPrefix(err, "unable to delete backup '%s'", id);
    return rc;
}

/* ---- parts --------------------------------------------------------------------------------------- */

void
archiveBackupPartToJson(const char *id, const ArchiveBackupPart *p, bool withObject, Buf *out) {
    if (withObject) {
        jsonBufPrintf(out, "{\"name\":");
        jsonBufString(out, p->name, strlen(p->name));
        jsonBufPrintf(out, ",\"part\":%" PRIu32 ",\"offset\":%" PRIu64 ",\"content_len\":%" PRIu64
                           ",\"size\":%" PRIu64,
                      p->part, p->offset, p->contentLen, p->size);
        archiveJsonPutStr(out, "sha256", p->sha256);
        archiveJsonPutStr(out, "content_sha256", p->contentSha256);
        jsonBufPrintf(out, "}");
        return;
    }
    {
        char created[32];

        jsonBufPrintf(out, "{\"version\":%d", ARCHIVE_BACKUP_VERSION);
        archiveJsonPutStr(out, "backup", id);
        jsonBufPrintf(out, ",\"part\":%" PRIu32 ",\"offset\":%" PRIu64 ",\"content_len\":%" PRIu64, p->part,
                      p->offset, p->contentLen);
        archiveJsonPutStr(out, "content_sha256", p->contentSha256);
        timeIsoNow(created, sizeof(created));
        archiveJsonPutStr(out, "created", created);
        jsonBufPrintf(out, "}");
    }
}

static bool
hexValid(const char *s) {
    if (strlen(s) != 64)
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

int
archiveBackupPartParse(const char *id, const char *text, size_t len, bool withObject, ArchiveBackupPart *p,
                       Err *err) {
    JsonValue *doc = archiveDocParse(text, len, err);
    int rc = -1;

    memset(p, 0, sizeof(*p));
    if (doc == NULL)
        return -1;
    if (archiveJsonReqU32(doc, "part", &p->part, err) != 0 || jsonReqU64(doc, "offset", &p->offset, err) != 0 ||
        jsonReqU64(doc, "content_len", &p->contentLen, err) != 0 ||
        jsonReqStrCopy(doc, "content_sha256", p->contentSha256, sizeof(p->contentSha256), err) != 0)
        goto out;
    if (withObject) {
        char expect[STORAGE_NAME_MAX];

        if (jsonReqStrCopy(doc, "name", p->name, sizeof(p->name), err) != 0 ||
            jsonReqU64(doc, "size", &p->size, err) != 0 ||
            jsonReqStrCopy(doc, "sha256", p->sha256, sizeof(p->sha256), err) != 0)
            goto out;
        archiveBackupPartName(id, p->part, expect, sizeof(expect));
        if (strcmp(expect, p->name) != 0 || !hexValid(p->sha256)) {
            errSet(err, ERR_FORMAT, "part %" PRIu32 " is named '%s', not '%s', or its sha256 is malformed", p->part,
                   p->name, expect);
            goto out;
        }
    } else {
        uint64_t version;
        const char *backup;

        if (jsonReqU64(doc, "version", &version, err) != 0 || jsonReqStr(doc, "backup", &backup, err) != 0)
            goto out;
        if (version != ARCHIVE_BACKUP_VERSION || strcmp(backup, id) != 0) {
            errSet(err, ERR_FORMAT, "trailer of version %" PRIu64 " of backup '%s', not of version %d of '%s'", version,
                   backup, ARCHIVE_BACKUP_VERSION, id);
            goto out;
        }
    }
    if (p->part == 0 || p->contentLen == 0 || p->contentLen > ARCHIVE_BACKUP_PART_MAX || !hexValid(p->contentSha256)) {
        errSet(err, ERR_FORMAT, "part %" PRIu32 ": part number, content_len or content_sha256 out of range", p->part);
        goto out;
    }
    rc = 0;
out:
    jsonFree(doc);
    return rc;
}

/* ---- reach ----------------------------------------------------------------------------------- */

const char *
archiveBackupReachName(ArchiveBackupReachKind kind) {
    static const char *const names[] = {"end", "gap", "ahead", "unplaced"};

    return (unsigned)kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "unknown";
}

int
archiveBackupReach(const ArchiveCatalog *c, const ArchiveBackup *b, ArchiveBackupReach *r, Err *err) {
    ArchiveBasePoint bp;
    ArchiveWindow *windows;
    size_t nwin, at;
    const SegmentMeta *first;
    uint64_t seq;
    Err e = {0};

    memset(r, 0, sizeof(*r));
    memset(&bp, 0, sizeof(bp));
    snprintf(bp.file, sizeof(bp.file), "%s", b->file);
    bp.pos = b->pos;
    bp.gtid = b->gtidState;
    if (archiveBaseNeededSeq(c, &bp, &seq, &e) != 0) {
        if (e.code != ERR_NOTFOUND) {
            *err = e;
            return -1;
        }
        r->kind = ARCHIVE_BACKUP_UNPLACED;
        return 0;
    }
    if (seq == UINT64_MAX) {
        r->kind = ARCHIVE_BACKUP_AHEAD;
        return 0;
    }
    if (!archiveCatalogFind(c, seq, &at)) {
        r->kind = ARCHIVE_BACKUP_UNPLACED;
        return 0;
    }
    /* The backup must hold everything before the first segment it needs: else what lies between
     * was pruned, or never archived. */
    first = archiveCatalogAt(c, at);
    if (segmentMetaGtidStart(first)[0] != '\0' && b->gtidState[0] != '\0') {
        bool holds = false;

        if (gtidStateTextContains(archiveCatalogFlavour(c), b->gtidState, segmentMetaGtidStart(first), &holds, err) != 0)
            return errPrefix(err, "backup '%s'", b->id);
        if (!holds) {
            r->kind = ARCHIVE_BACKUP_UNPLACED;
            return 0;
        }
    } else if (strcmp(first->file, b->file) != 0 || first->startPos > b->pos) {
        r->kind = ARCHIVE_BACKUP_UNPLACED;
        return 0;
    }
    nwin = archiveCatalogWindows(c, &windows);
    r->kind = ARCHIVE_BACKUP_UNPLACED;
    for (size_t i = 0; i < nwin; i++)
        if (windows[i].first <= at && at <= windows[i].last) {
            r->kind = i + 1 == nwin ? ARCHIVE_BACKUP_REACHES_END : ARCHIVE_BACKUP_REACHES_GAP;
            r->fromSeq = seq;
            r->to = windows[i].to;
        }
    bvFree(windows);
    return 0;
}
