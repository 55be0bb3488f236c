/* binvault status: how much is not yet archived (RPO), from the archive's checkpoint alone or
 * compared with the live source, with monitoring-plugin exit codes. The verdict rules are in
 * archive/status.h (statusEvaluate()). */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/backup_store.h"
#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "archive/identity.h"
#include "archive/key.h"
#include "archive/status.h"
#include "mysql/client.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"
#include "cmd/timelines.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/url.h"
#include "common/time.h"

/* Read at most this much of the source's binlog looking for the end of the oldest transaction not
 * archived; past it, its first event's time stands for its commit time. */
#define PROBE_READ_MAX (64u * 1024 * 1024)

/* What the source says, compared with the checkpoint. */
typedef struct Probe {
    bool ok;
    Err err;
    char url[320];
    char file[SEGMENT_FILE_MAX];
    uint64_t pos;
    char *gtid;
    int64_t txns, bytes; /* not archived; -1 unknown */
    uint64_t oldestUs;   /* commit time of the oldest transaction not archived, 0 unknown */
    char oldestGtid[BINLOG_TXN_GTID_MAX];
    bool gap;            /* the binlog the archive continues with is purged */
    char gapFile[SEGMENT_FILE_MAX];
} Probe;

typedef struct Logs {
    const char *from, *to;
    uint64_t fromPos, toPos, bytes;
    bool fromFound;
    char oldest[SEGMENT_FILE_MAX];
    unsigned count;
} Logs;

static int
logsRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    Logs *l = data;
    uint64_t size;

    (void)lengths;
    (void)err;
    if (nCols < 2 || values[0] == NULL || values[1] == NULL)
        return 0;
    if (l->count++ == 0)
        snprintf(l->oldest, sizeof(l->oldest), "%s", values[0]);
    size = strtoull(values[1], NULL, 10);
    if (strcmp(values[0], l->from) == 0) {
        l->fromFound = true;
        l->bytes += size > l->fromPos ? size - l->fromPos : 0;
    } else if (strcmp(values[0], l->to) == 0) {
        l->bytes += l->toPos;
    } else if (segmentFileCompare(values[0], l->from) > 0 && segmentFileCompare(values[0], l->to) < 0) {
        l->bytes += size;
    }
    return 0;
}


/* Read the source's binlog from where the archive ends to the end of the first transaction: its
 * commit time is the RPO's origin. */
static void
probeOldest(const SqlConnOpts *conn, uint32_t serverId, BinlogFlavour flavour, const ArchiveCheckpoint *cp,
            Probe *p) {
    BinlogClientOpts o;
    BinlogClient *c;
    BinlogTxnFramer *f = binlogTxnFramerNew(0);
    BinlogFormat fmt;
    const uint8_t *ev;
    size_t len, read = 0;
    uint64_t firstUs = 0;
    Err err;
    int rc;

    binlogClientOptsInit(&o);
    o.conn = *conn;
    o.serverId = serverId;
    o.nonBlocking = true;
    c = binlogClientNew(&o);
    if (binlogClientConnect(c, &err) != 0)
        goto done;
    binlogFormatInit(&fmt);
    fmt.flavour = flavour;
    fmt.checksumAlg = binlogClientChecksumAlg(c);
    if (flavour == BINLOG_FLAVOUR_MARIADB && cp->gtidEnd != NULL && cp->gtidEnd[0] != '\0')
        rc = binlogClientStartMariaGtid(c, cp->gtidEnd, &err);
    else
        rc = binlogClientStartFile(c, cp->file, cp->endPos, &err);
    if (rc != 0)
        goto done;
    while (read < PROBE_READ_MAX && binlogClientRead(c, &ev, &len, &err) == 1) {
        BinlogEvent e;
        int st;

        read += len;
        if (ev[4] == BINLOG_FORMAT_DESCRIPTION) {
            if (binlogFormatFromFde(&fmt, ev, len, true, &err) != 0)
                break;
            continue;
        }
        if (binlogEventParse(&fmt, ev, len, true, &e, &err) != 0)
            break;
        if ((e.h.flags & BINLOG_FLAG_ARTIFICIAL) || e.h.logPos == 0 || e.h.type == BINLOG_HEARTBEAT ||
            e.h.type == BINLOG_HEARTBEAT_V2 || e.h.type == BINLOG_ROTATE)
            continue;
        if ((st = binlogTxnFramerPush(f, &fmt, &e, (uint64_t)e.h.logPos - e.h.size, &err)) < 0)
            break;
        if ((st & 0x0f) != BINLOG_TXN_OUTSIDE && firstUs == 0)
            firstUs = (uint64_t)e.h.timestamp * 1000000u;
        if ((st & 0x0f) == BINLOG_TXN_END) {
            const BinlogTxn *t = binlogTxnFramerDone(f);

            p->oldestUs = t->commitTimeUs;
            snprintf(p->oldestGtid, sizeof(p->oldestGtid), "%s", t->gtid);
            break;
        }
    }
    if (p->oldestUs == 0)
        p->oldestUs = firstUs;
done:
    binlogTxnFramerFree(f);
    binlogClientFree(c);
}

static void
probeSource(const char *sourceUrl, const char *password, uint32_t serverId, BinlogFlavour flavour,
            const ArchiveCheckpoint *cp, Probe *p) {
    MysqlUrl *url;
    SqlConnOpts o;
    SqlConn *conn = NULL;
    SqlMasterStatus m;
    Logs l;

    memset(&m, 0, sizeof(m));
    p->txns = p->bytes = -1;
    if ((url = urlMysqlNew(sourceUrl, &p->err)) == NULL) {
        errPrefix(&p->err, "invalid --source");
        return;
    }
    snprintf(p->url, sizeof(p->url), "mysql://%s@%s:%u", url->user ? url->user : "", url->host, url->port);
    memset(&o, 0, sizeof(o));
    o.host = url->host;
    o.port = url->port;
    o.socket = url->socket;
    o.user = url->user;
    o.password = password;
    o.passwordFrom = "BINVAULT_SOURCE_PASSWORD";
    o.connectTimeoutMs = 5000;
    o.readTimeoutMs = 10000;
    if ((conn = sqlConnect(&o, &p->err)) == NULL)
        goto done;
    if (sqlMasterStatus(conn, &m, &p->err) != 0)
        goto done;
    if (!m.found) {
        errSet(&p->err, ERR_SOURCE, "'%s' has binary logging off (SHOW MASTER STATUS is empty)", p->url);
        goto done;
    }
    snprintf(p->file, sizeof(p->file), "%s", m.file);
    p->pos = m.pos;
    if (flavour == BINLOG_FLAVOUR_MYSQL) {
        p->gtid = m.gtid ? m.gtid : bvStrdup("");
        m.gtid = NULL;
    } else if (sqlQueryValue(conn, "SELECT @@global.gtid_binlog_pos", &p->gtid, &p->err) != 0) {
        goto done;
    }
    if (p->gtid == NULL)
        p->gtid = bvStrdup("");
    if (cp->gtidEnd != NULL && cp->gtidEnd[0] != '\0' && p->gtid[0] != '\0') {
        Err e;

        if (statusUnarchivedTxns(flavour, p->gtid, cp->gtidEnd, &p->txns, &e) != 0)
            p->txns = -1;
    }
    if (cp->file[0] != '\0' && strcmp(cp->file, p->file) == 0) {
        p->bytes = p->pos > cp->endPos ? (int64_t)(p->pos - cp->endPos) : 0;
    } else if (cp->file[0] != '\0') {
        memset(&l, 0, sizeof(l));
        l.from = cp->file;
        l.fromPos = cp->endPos;
        l.to = p->file;
        l.toPos = p->pos;
        if (sqlQuery(conn, "SHOW BINARY LOGS", logsRow, &l, &p->err) != 0)
            goto done;
        if (l.fromFound) {
            p->bytes = (int64_t)l.bytes;
        } else if (l.count > 0 && segmentFileCompare(cp->file, l.oldest) < 0) {
            /* The archive ends in a binlog the source no longer has: unless the archive holds its
             * end (then the next file is complete on the source), something is lost. */
            p->gap = p->txns != 0;
            snprintf(p->gapFile, sizeof(p->gapFile), "%s", cp->file);
        }
    }
    if (p->txns != 0 && !p->gap && (cp->file[0] != '\0' || (cp->gtidEnd != NULL && cp->gtidEnd[0] != '\0')))
        probeOldest(&o, serverId, flavour, cp, p);
    p->ok = true;
done:
    bvFree(m.gtid);
    sqlConnFree(conn);
    urlMysqlFree(url);
}

static void
usTime(uint64_t us, char *out, size_t size) {
    if (us == 0)
        snprintf(out, size, "never");
    else
        timeFormatUtc(us, false, out, size);
}

static double
ago(uint64_t nowUs, uint64_t us) {
    return us == 0 || us >= nowUs ? 0.0 : (double)(nowUs - us) / 1e6;
}

static void
jsonNum(Buf *b, const char *key, int64_t v) {
    if (v < 0)
        jsonBufPrintf(b, ",\"%s\":null", key);
    else
        jsonBufPrintf(b, ",\"%s\":%" PRId64, key, v);
}

static void
jsonText(Buf *b, const char *key, const char *v) {
    jsonBufPrintf(b, ",\"%s\":", key);
    jsonBufString(b, v ? v : "", v ? strlen(v) : 0);
}

typedef struct StatusOpts {
    char *archive;
    StorageOptions storage;
    char *source, *password;
    int64_t warnRpoMs, maxRpoMs, serverId, warnBackupAgeMs;
    bool json;
} StatusOpts;

#define O(field) offsetof(StatusOpts, field)
#define S(field) offsetof(StatusOpts, storage.field)

static const OptDef statusDefs[] = {
    CMD_ARCHIVE_OPTDEFS(O(archive), S),
    {"source", OPT_URL, NULL, 0, 0, 0, O(source), NULL,
     "also ask this live server, mysql://USER@HOST:PORT, what is not archived yet", cmdMysqlSchemes, NULL},
    {"source-password", OPT_STRING, NULL, 0, 0, OPT_SECRET, O(password), "BINVAULT_SOURCE_PASSWORD",
     "password of the source user", NULL, NULL},
    {"warn-rpo", OPT_DURATION, "60", 0, 1000000000000LL, 0, O(warnRpoMs), NULL,
     "exit 1 WARNING when the RPO reaches this (a bare number is seconds)", NULL, NULL},
    {"max-rpo", OPT_DURATION, "300", 0, 1000000000000LL, 0, O(maxRpoMs), NULL,
     "exit 2 CRITICAL when the RPO reaches this (a bare number is seconds)", NULL, NULL},
    {"warn-backup-age", OPT_DURATION, NULL, 1, 1000000000000LL, 0, O(warnBackupAgeMs), NULL,
     "exit 1 WARNING when the newest base backup in the archive ('binvault backup') is this old, or there is none "
     "(24h, 2d...; a bare number is seconds)", NULL, NULL},
    {"server-id", OPT_INT, NULL, 1, 4294967295LL, 0, O(serverId), NULL,
     "server id to read the source's binlog as (default a random one in 4123456700-4123456788)", NULL, NULL},
    {"json", OPT_BOOL, NULL, 0, 0, 0, O(json), NULL, "print one JSON document instead", NULL, NULL},
};

static const OptSet statusSet = {
    "status",
    "binvault status --archive URL [--source mysql://USER@HOST:PORT] [--warn-rpo SECONDS] [--max-rpo SECONDS]\n"
    "                       [--warn-backup-age DURATION] [--server-id N] [--json]",
    "How much the archive is missing, for monitoring. From the archive alone (no agent needed):\n"
    "checkpoint.json says when the archive last held everything the source had written and its\n"
    "last transaction; the RPO is at most the time since the later of the two. With --source it\n"
    "also asks the live server (SHOW MASTER STATUS, @@gtid_binlog_pos) how many transactions and\n"
    "bytes are not archived yet, and reads the oldest of them from its binlog (as a replica with\n"
    "--server-id, default a random one in 4123456700-4123456788, non-blocking): the RPO is then\n"
    "its age, 0 when nothing is missing. The password comes from BINVAULT_SOURCE_PASSWORD.\n\n"
    "The first line is a summary: 'BINVAULT OK: archive RPO 0.4 s ... | perfdata'. Exit codes\n"
    "(monitoring plugins): 0 OK, 1 WARNING (RPO >= --warn-rpo, default 60; or the source did not\n"
    "answer), 2 CRITICAL (RPO >= --max-rpo, default 300; or the source purged binlogs not\n"
    "archived), 3 UNKNOWN (the archive cannot be read, or has no checkpoint). --json prints one\n"
    "JSON document instead.\n\n"
    "Base backups stored in the archive are checked when it holds any, or with --warn-backup-age:\n"
    "WARNING when no backup is restorable to the archive's end (its binlogs do not continue from\n"
    "any), and when the newest is --warn-backup-age old or more. The summary also says when no backup\n"
    "reaches the archive's start (its oldest segments precede every backup; not a warning: prune\n"
    "--keep-backups deletes them).\n\n" CMD_STORAGE_HELP,
    statusDefs,
    sizeof(statusDefs) / sizeof(statusDefs[0]),
    NULL,
    0,
    0,
};

/* Print the UNKNOWN verdict for an archive that cannot be read. */
static int
unknown(bool json, const char *url, const char *why) {
    if (json) {
        Buf *b = bufNew(512);

        jsonBufPrintf(b, "{\"status\":\"UNKNOWN\",\"exit\":3");
        jsonText(b, "archive", url);
        jsonText(b, "summary", why);
        jsonBufPrintf(b, "}\n");
        fwrite(b->data, 1, b->len, stdout);
        bufFree(b);
    } else {
        printf("BINVAULT UNKNOWN: %s\n", why);
    }
    return STATUS_UNKNOWN;
}

/* The base backups of the archive, for the verdict: checked when it holds any, or when an age is
 * asked for. */
static int
backupsProbe(Archive *a, StatusInput *in, size_t *count, uint64_t *firstSeq, uint64_t *fromSeq, Err *err) {
    ArchiveBackup *list;
    ArchiveCatalog *c = NULL;
    int rc = 0;

    *firstSeq = *fromSeq = 0;
    if (archiveBackupList(a, &list, count, err) != 0)
        return -1;
    in->backupsChecked = *count > 0 || in->warnBackupAge > 0;
    if (*count > 0 && (c = archiveCatalogLoad(a, ARCHIVE_LOAD_TOLERANT, err)) == NULL)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < *count; i++) {
        ArchiveBackupReach r;

        if ((uint64_t)list[i].endUs > in->newestBackupUs)
            in->newestBackupUs = (uint64_t)list[i].endUs;
        if (archiveBackupReach(c, &list[i], &r, err) != 0)
            rc = -1;
        else if (r.kind == ARCHIVE_BACKUP_REACHES_END) {
            in->backupRestorable = true;
            if (*fromSeq == 0 || r.fromSeq < *fromSeq)
                *fromSeq = r.fromSeq;
        }
    }
    if (c != NULL && archiveCatalogCount(c) > 0)
        *firstSeq = archiveCatalogAt(c, 0)->seq;
    archiveCatalogFree(c);
    archiveBackupListFree(list, *count);
    return rc;
}

/* The verdict, printed; the exit code. */
static int
statusRun(const StatusOpts *o, uint32_t serverId) {
    const char *url = o->archive, *source = o->source;
    bool json = o->json;
    double warnRpo = (double)o->warnRpoMs / 1000.0, maxRpo = (double)o->maxRpoMs / 1000.0;
    Storage *storage;
    Archive *a;
    ArchiveIdentity id;
    ArchiveCheckpoint cp;
    Probe probe;
    StatusInput in;
    StatusVerdict v;
    char summary[2048], t1[40], t2[40], why[ERR_MSG_MAX + 128];
    size_t nbackups = 0;
    uint64_t firstSeq = 0, fromSeq = 0; /* the archive's first segment; the first one a backup reaches from */
    Err err = {0}, backupErr = {0};

    if ((storage = cmdOpenArchive(url, &o->storage, &err)) == NULL) {
        if (err.code == ERR_NOTFOUND)
            snprintf(why, sizeof(why), "no archive at '%s': %s", url, err.msg);
        else
            snprintf(why, sizeof(why), "archive '%s' cannot be opened: %s", url, err.msg);
        return unknown(json, url, why);
    }
    a = archiveNew(storage);
    if (archiveIdentityRead(a, &id, &err) != 0) {
        if (err.code == ERR_NOTFOUND)
            snprintf(why, sizeof(why), "no archive at '%s' (no binvault.json)", storageUrl(storage));
        else
            snprintf(why, sizeof(why), "archive '%s' cannot be read: %s", storageUrl(storage), err.msg);
        archiveFree(a);
        storageFree(storage);
        return unknown(json, url, why);
    }
    if (archiveCheckpointRead(a, &cp, &err) != 0) {
        if (err.code == ERR_NOTFOUND)
            snprintf(why, sizeof(why), "archive '%s' has no checkpoint.json yet: nothing is archived", storageUrl(storage));
        else
            snprintf(why, sizeof(why), "checkpoint of '%s' cannot be read: %s", storageUrl(storage), err.msg);
        archiveFree(a);
        storageFree(storage);
        return unknown(json, url, why);
    }
    memset(&probe, 0, sizeof(probe));
    probe.txns = probe.bytes = -1;
    if (source != NULL)
        probeSource(source, o->password, serverId, id.flavour, &cp, &probe);
    memset(&in, 0, sizeof(in));
    {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        in.nowUs = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    }
    in.lastTimeUs = cp.lastTimeUs;
    in.caughtUpUs = cp.caughtUpUs;
    in.confirmedUs = cp.confirmedUs;
    in.updatedUs = cp.updatedUs;
    in.sourceAsked = source != NULL;
    in.sourceOk = probe.ok;
    in.unarchivedTxns = probe.txns;
    in.oldestUnarchivedUs = probe.oldestUs;
    in.gap = probe.gap;
    in.warnRpo = warnRpo;
    in.maxRpo = maxRpo;
    in.warnBackupAge = (double)o->warnBackupAgeMs / 1000.0;
    if (backupsProbe(a, &in, &nbackups, &firstSeq, &fromSeq, &backupErr) != 0)
        in.backupsChecked = false;
    statusEvaluate(&in, &v);

    /* The one-line summary (monitoring plugins: STATUS: text | perfdata). */
    {
        int n;

        if (v.rpo < 0)
            n = snprintf(summary, sizeof(summary), "BINVAULT %s: archive RPO unknown (the checkpoint has no commit or "
                         "caught-up time)", statusCodeName(v.code));
        else
            n = snprintf(summary, sizeof(summary), "BINVAULT %s: archive RPO %s%.1f s (warn %.0f s, critical %.0f s)",
                         statusCodeName(v.code), v.exact ? "" : "<= ", v.rpo, warnRpo, maxRpo);
        if (probe.ok && probe.txns >= 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, ", %" PRId64 " transactions", probe.txns);
        if (probe.ok && probe.bytes >= 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, ", %" PRId64 " bytes", probe.bytes);
        if (probe.ok && (probe.txns >= 0 || probe.bytes >= 0) && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, " not archived");
        if (probe.gap && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, "; the source purged '%s' before it was archived",
                          probe.gapFile);
        if (source != NULL && !probe.ok && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, "; source not checked: %s", probe.err.msg);
        if (v.backupOld && (size_t)n < sizeof(summary)) {
            if (in.newestBackupUs == 0)
                n += snprintf(summary + n, sizeof(summary) - (size_t)n, "; no base backup in the archive");
            else
                n += snprintf(summary + n, sizeof(summary) - (size_t)n, "; newest base backup %.1f h old (warn %.1f h)",
                              ago(in.nowUs, in.newestBackupUs) / 3600.0, in.warnBackupAge / 3600.0);
        }
        if (in.backupsChecked && v.backupNone && nbackups > 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n,
                          "; no base backup is restorable to the archive's end");
        /* Not a WARNING: binlogs older than every backup are only of no use (prune deletes them). */
        if (in.backupsChecked && fromSeq > firstSeq && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n,
                          "; no base backup reaches the archive's start: segments before seq %" PRIu64
                          " precede every backup", fromSeq);
        if (backupErr.code != ERR_NONE && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, "; base backups not checked: %s", backupErr.msg);
        if (v.futureCommit && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n,
                          "; a commit time is in the future (SET TIMESTAMP or a clock ahead): not trusted");
        if ((size_t)n < sizeof(summary))
            n += cmdTimelinesSummary(a, summary + n, sizeof(summary) - (size_t)n);
        if ((size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, " | rpo=%.3fs;%.0f;%.0f;0", v.rpo < 0 ? 0 : v.rpo,
                          warnRpo, maxRpo);
        if (probe.ok && probe.txns >= 0 && (size_t)n < sizeof(summary))
            n += snprintf(summary + n, sizeof(summary) - (size_t)n, " unarchived_transactions=%" PRId64, probe.txns);
        if (probe.ok && probe.bytes >= 0 && (size_t)n < sizeof(summary))
            snprintf(summary + n, sizeof(summary) - (size_t)n, " unarchived_bytes=%" PRId64 "B", probe.bytes);
    }
    if (json) {
        Buf *b = bufNew(2048);

        jsonBufPrintf(b, "{\"status\":\"%s\",\"exit\":%d", statusCodeName(v.code), v.code);
        if (v.rpo < 0)
            jsonBufPrintf(b, ",\"rpo_seconds\":null");
        else
            jsonBufPrintf(b, ",\"rpo_seconds\":%.3f", v.rpo);
        jsonBufPrintf(b, ",\"rpo_exact\":%s,\"future_commit\":%s", v.exact ? "true" : "false",
                      v.futureCommit ? "true" : "false");
        jsonBufPrintf(b, ",\"warn_rpo\":%.3f,\"max_rpo\":%.3f", warnRpo, maxRpo);
        jsonText(b, "summary", summary);
        if (in.backupsChecked)
            jsonBufPrintf(b, ",\"backups\":{\"count\":%zu,\"newest_end_us\":%" PRIu64
                             ",\"restorable\":%s,\"old\":%s,\"reaches_archive_start\":%s,\"first_restorable_seq\":%" PRIu64 "}",
                          nbackups, in.newestBackupUs, in.backupRestorable ? "true" : "false",
                          v.backupOld ? "true" : "false", fromSeq != 0 && fromSeq <= firstSeq ? "true" : "false",
                          fromSeq);
        jsonText(b, "archive", storageUrl(storage));
        jsonText(b, "flavour", id.flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
        jsonBufPrintf(b, ",\"server_id\":%" PRIu32, id.serverId);
        jsonText(b, "archived_source", id.source);
        jsonBufPrintf(b, ",\"checkpoint\":{\"seq\":%" PRIu64, cp.seq);
        jsonText(b, "file", cp.file);
        jsonBufPrintf(b, ",\"end_pos\":%" PRIu64, cp.endPos);
        jsonText(b, "gtid_end", cp.gtidEnd);
        jsonText(b, "last_gtid", cp.lastGtid);
        jsonBufPrintf(b, ",\"last_time_us\":%" PRIu64 ",\"caught_up_us\":%" PRIu64, cp.lastTimeUs, cp.caughtUpUs);
        jsonBufPrintf(b, ",\"confirmed_us\":%" PRIu64, cp.confirmedUs);
        jsonText(b, "updated", cp.updated);
        jsonBufPrintf(b, "}");
        if (source != NULL) {
            jsonBufPrintf(b, ",\"source\":{\"ok\":%s", probe.ok ? "true" : "false");
            jsonText(b, "url", probe.url);
            if (probe.ok) {
                jsonText(b, "file", probe.file);
                jsonBufPrintf(b, ",\"pos\":%" PRIu64, probe.pos);
                jsonText(b, "gtid", probe.gtid);
                jsonNum(b, "unarchived_transactions", probe.txns);
                jsonNum(b, "unarchived_bytes", probe.bytes);
                jsonBufPrintf(b, ",\"oldest_unarchived_time_us\":%" PRIu64, probe.oldestUs);
                jsonText(b, "oldest_unarchived_gtid", probe.oldestGtid);
                jsonBufPrintf(b, ",\"gap\":%s", probe.gap ? "true" : "false");
            } else {
                jsonText(b, "error", probe.err.msg);
            }
            jsonBufPrintf(b, "}");
        }
        cmdTimelinesJson(a, b);
        jsonBufPrintf(b, "}\n");
        fwrite(b->data, 1, b->len, stdout);
        bufFree(b);
    } else {
        printf("%s\n", summary);
        printf("archive     %s: %s binlogs of server_id %" PRIu32 " from %s\n", storageUrl(storage),
               id.flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb", id.serverId, id.source);
        usTime(cp.lastTimeUs, t1, sizeof(t1));
        printf("checkpoint  seq %" PRIu64 ", %s:%" PRIu64 ", gtid '%s', last commit %s (%.1f s ago), written %s\n", cp.seq,
               cp.file[0] ? cp.file : "-", cp.endPos, cp.gtidEnd ? cp.gtidEnd : "", t1, ago(in.nowUs, cp.lastTimeUs),
               cp.updated);
        usTime(cp.caughtUpUs, t2, sizeof(t2));
        printf("caught up   %s (%.1f s ago): the archive held everything the source had written then\n", t2,
               ago(in.nowUs, cp.caughtUpUs));
        if (cp.confirmedUs != 0) {
            usTime(cp.confirmedUs, t2, sizeof(t2));
            printf("confirmed   %s (%.1f s ago): the agent's clock when it last wrote this checkpoint seeing the "
                   "source\n", t2, ago(in.nowUs, cp.confirmedUs));
        }
        if (source != NULL && probe.ok) {
            printf("source      %s at %s:%" PRIu64 ", gtid '%s'\n", probe.url, probe.file, probe.pos, probe.gtid);
            if (probe.oldestUs != 0) {
                usTime(probe.oldestUs, t1, sizeof(t1));
                printf("oldest      transaction not archived: '%s' committed %s (%.1f s ago)\n",
                       probe.oldestGtid[0] ? probe.oldestGtid : "?", t1, ago(in.nowUs, probe.oldestUs));
            }
        } else if (source != NULL) {
            printf("source      not checked: %s\n", probe.err.msg);
        }
        cmdTimelinesPrint(a, stdout);
    }
    bvFree(probe.gtid);
    archiveCheckpointClear(&cp);
    archiveFree(a);
    storageFree(storage);
    return v.code;
}

int
cmdStatus(int argc, char **argv) {
    StatusOpts o = {0};
    int rc;

    if (!cmdOptions(&statusSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    rc = statusRun(&o, o.serverId != 0 ? (uint32_t)o.serverId : 4123456700u + (uint32_t)(getpid() % 89));
    optFree(&statusSet, &o);
    return rc;
}
