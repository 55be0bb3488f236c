/*
 * binvault recover: bring a server restored from a base backup to a point in time, from the
 * archive alone. Plan from the index (recover/recover.h), then apply through the target's own
 * replication applier, with progress and a summary. docs/RECOVERY.md is the user's guide.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/backup.h"
#include "archive/catalog.h"
#include "archive/identity.h"
#include "archive/key.h"
#include "archive/outline.h"
#include "archive/timeline.h"
#include "binlog/pos.h"
#include "cmd/cmd.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/opt.h"
#include "common/time.h"
#include "common/url.h"
#include "recover/recover.h"
#include "recover/scope.h"

#define RECOVER_PASSWORD_ENV "BINVAULT_INTO_PASSWORD"
#define RECOVER_PASSWORD_FILE_MAX 4096
#define RECOVER_LOG_EVERY_S 10.0
#define RECOVER_LIST_SEGMENTS 20

typedef struct RecoverCmd {
    char *archive, *into, *password, *passwordFile, *sslMode, *sslCa;
    char *baseDir, *fromGtid, *untilGtid;
    BinlogPos fromPosition, untilPosition;
    OptTime untilTime;
    bool untilEnd, exclusive, allowTimeDisorder, dryRun, json;
    TimeZone tz;
    OptHostPort listen;
    char *connectionName, *tmpDir;
    int64_t connectTimeoutMs, parallel;
    int64_t timeline;
    const char *logLevel;
    StorageOptions storage;

    bool jsonStarted;        /* part of the JSON document is out already (jsonFlush()) */
    bool bar;                /* progress as a redrawn bar on stderr */
    double lastLog;          /* progress: when the last log line was written */
    unsigned width;
} RecoverCmd;

static atomic_bool recoverStop;

/* --dry-run on a terminal: how far the verification of the plan's segments is. */
static void
dryRunProgress(void *data, size_t done, size_t total, uint64_t bytes) {
    (void)data;
    if (done == total)
        fputs("\r\033[K", stderr);
    else
        fprintf(stderr, "\r\033[Kdry run: verifying segment %zu of %zu (%.1f MB read)", done + 1, total, (double)bytes / 1e6);
    fflush(stderr);
}

static void
recoverOnSignal(int sig) {
    (void)sig;
    atomic_store(&recoverStop, true);
}

/* --into-ssl-mode: the modes of sqlSslModeParse(), or "default". */
static int
checkIntoSslMode(const char *text, void *field, Err *err) {
    SqlSslMode mode;

    (void)field;
    return strcmp(text, "default") == 0 ? 0 : sqlSslModeParse(text, "--into-ssl-mode", &mode, err);
}

#define RECOVER_OPT(field) offsetof(RecoverCmd, field)
#define RECOVER_STORAGE(field) offsetof(RecoverCmd, storage.field)

static const OptDef recoverDefs[] = {
    CMD_ARCHIVE_OPTDEFS(RECOVER_OPT(archive), RECOVER_STORAGE),
    {"into", OPT_URL, NULL, 0, 0, 0, RECOVER_OPT(into), NULL,
     "the server to recover, mysql://USER@HOST:PORT or mysql://USER@localhost/?socket=PATH; its user needs REPLICATION "
     "SLAVE ADMIN, SLAVE MONITOR, RELOAD and REPLICATION MASTER ADMIN", cmdMysqlSchemes, NULL},
    {"into-password", OPT_STRING, NULL, 0, 0, OPT_SECRET | OPT_EMPTY, RECOVER_OPT(password), RECOVER_PASSWORD_ENV,
     "password of the --into user (set and empty: no password)", NULL, NULL},
    {"into-password-file", OPT_STRING, NULL, 0, 0, 0, RECOVER_OPT(passwordFile), NULL,
     "a file (mode 0600) whose first line is the password of the --into user", NULL, NULL},
    {"into-ssl-mode", OPT_STRING, NULL, 0, 0, 0, RECOVER_OPT(sslMode), NULL,
     "TLS to the target: disabled, preferred, required, verify-ca or verify-identity (verify modes check the "
     "certificate with --into-ssl-ca PEM)", NULL, checkIntoSslMode},
    {"into-ssl-ca", OPT_STRING, NULL, 0, 0, 0, RECOVER_OPT(sslCa), NULL,
     "CA certificate (PEM) that verifies the target (verify modes)", NULL, NULL},
    {"base-dir", OPT_STRING, NULL, 0, 0, 0, RECOVER_OPT(baseDir), NULL,
     "start: the prepared mariadb-backup / xtrabackup directory the target was restored from "
     "(xtrabackup_binlog_info or mariadb_backup_binlog_info)", NULL, NULL},
    {"from-gtid", OPT_STRING, NULL, 0, 0, 0, RECOVER_OPT(fromGtid), NULL, "start: the GTID state the target holds",
     NULL, cmdGtidCheck},
    {"from-position", OPT_POSITION, NULL, 0, 0, 0, RECOVER_OPT(fromPosition), NULL,
     "start: the binlog position the target holds (everything that ends at or before POS)", NULL, binlogPosOptParse},
    {"until-time", OPT_TIME, NULL, 0, 0, 0, RECOVER_OPT(untilTime), NULL,
     "target: every transaction committed at or before TIME, in --timezone", NULL, NULL},
    {"until-gtid", OPT_STRING, NULL, 0, 0, 0, RECOVER_OPT(untilGtid), NULL,
     "target: through that transaction (per domain for MariaDB)", NULL, cmdGtidCheck},
    {"until-position", OPT_POSITION, NULL, 0, 0, 0, RECOVER_OPT(untilPosition), NULL,
     "target: the transactions that end at or before POS", NULL, binlogPosOptParse},
    {"until-end", OPT_BOOL, NULL, 0, 0, 0, RECOVER_OPT(untilEnd), NULL, "target: everything archived", NULL, NULL},
    {"exclusive", OPT_BOOL, NULL, 0, 0, 0, RECOVER_OPT(exclusive), NULL,
     "stop just before the target instead: the usual way to skip the bad statement (--until-gtid of the DROP, or its "
     "end position)", NULL, NULL},
    {"timeline", OPT_INT, "0", 0, TIMELINE_MAX, 0, RECOVER_OPT(timeline), NULL,
     "follow timeline N back to the first: after a failover, N = the old primary's timeline reaches the "
     "transactions it committed that the new primary never had (0: the main line, the newest timeline's)", NULL,
     NULL},
    {"allow-time-disorder", OPT_BOOL, NULL, 0, 0, 0, RECOVER_OPT(allowTimeDisorder), NULL,
     "with --until-time: stop before the first transaction committed after TIME in binlog order even when later "
     "ones were committed before it (SET TIMESTAMP, a clock stepped back); without it that is refused", NULL, NULL},
    {"timezone", OPT_TIMEZONE, "UTC", 0, 0, 0, RECOVER_OPT(tz), NULL,
     "the zone of --until-time and of the times printed: UTC, +02:00, Europe/Paris", NULL, NULL},
    {"dry-run", OPT_BOOL, NULL, 0, 0, 0, RECOVER_OPT(dryRun), NULL,
     "print the plan (segments, bytes, transactions, first and last transaction, the UNTIL position) and change "
     "nothing", NULL, NULL},
    {"json", OPT_BOOL, NULL, 0, 0, 0, RECOVER_OPT(json), NULL, "print one JSON document (plan and result) on stdout",
     NULL, NULL},
    {"listen", OPT_HOSTPORT, "127.0.0.1:0", 0, 0, 0, RECOVER_OPT(listen), NULL,
     "the replication endpoint, an address of this machine the target reaches (port 0: a free one)", NULL, NULL},
    {"connection-name", OPT_STRING, "binvault", 0, 0, 0, RECOVER_OPT(connectionName), NULL,
     "the target's replication connection used", NULL, NULL},
    {"tmpdir", OPT_STRING, NULL, 0, 0, 0, RECOVER_OPT(tmpDir), "TMPDIR",
     "where verified segments wait to be served (default /tmp)", NULL, NULL},
    {"parallel", OPT_INT, "0", 0, RECOVER_PARALLEL_MAX, 0, RECOVER_OPT(parallel), NULL,
     "apply with the target's parallel replication: N threads (slave_parallel_threads), optimistic mode, restored "
     "after (0: its applier as configured)", NULL, NULL},
    {"connect-timeout", OPT_DURATION, "60s", 0, 86400000, 0, RECOVER_OPT(connectTimeoutMs), NULL,
     "how long the target may take to reach the endpoint", NULL, NULL},
    {"log-level", OPT_ENUM, NULL, 0, 0, 0, RECOVER_OPT(logLevel), "BINVAULT_LOG_LEVEL", "how much to log (default: info, warn with a "
     "progress bar)", cmdLogLevels, NULL},
};

static const OptSet recoverSet = {
    "recover",
    "binvault recover --archive URL --into mysql://USER@HOST:PORT\n"
    "           [--base-dir DIR | --from-gtid GTIDSET | --from-position FILE:POS]\n"
    "           (--until-time 'YYYY-MM-DD HH:MM:SS[.ffffff]' | --until-gtid GTIDSET |\n"
    "            --until-position FILE:POS | --until-end) [--exclusive] [--allow-time-disorder]\n"
    "           [--parallel N] [--dry-run] [--json]",
    "Brings the server at --into, restored from a base backup, to a point in time by applying the\n"
    "archived transactions through its own replication applier: binvault serves the planned\n"
    "segments, each verified whole before any of its events is sent, over the MariaDB replication\n"
    "protocol on a loopback port, and drives the target (gtid_slave_pos, CHANGE MASTER on its own\n"
    "connection name, START SLAVE UNTIL master_gtid_pos), then removes what it configured.\n\n"
    "Start (what the target already has): --base-dir, --from-gtid or --from-position; with none, the\n"
    "target's @@gtid_slave_pos: continues an earlier recovery. Target: exactly one of --until-time,\n"
    "--until-gtid, --until-position and --until-end. A target outside the archive, before the start,\n"
    "or across a gap is refused before anything is applied, and the archive's restorable window is\n"
    "printed.\n\n"
    "The target user needs REPLICATION SLAVE ADMIN, SLAVE MONITOR, RELOAD and, when the target has\n"
    "the archived events' server_id (a restored server), REPLICATION MASTER ADMIN (SUPER stands for\n"
    "all but RELOAD before MariaDB 11.0); they are checked before anything changes, --dry-run too.\n"
    "Its password comes from BINVAULT_INTO_PASSWORD (set and empty: none) or --into-password-file\n"
    "FILE (mode 0600), never the command line; through a socket, unix_socket authentication needs\n"
    "none. A cleanup that fails exits 79 with the statements to run.\n\n" CMD_STORAGE_HELP,
    recoverDefs,
    sizeof(recoverDefs) / sizeof(recoverDefs[0]),
    NULL,
    0,
    0,
};

/* The first line of a file only its owner can read. */
static int
readPasswordFile(const char *path, char **password, Err *err) {
    struct stat st;
    uint8_t *data;
    size_t len;
    char *nl;

    if (stat(path, &st) != 0)
        return errSetSys(err, ERR_CONFIG, errno, "--into-password-file '%s'", path);
    if ((st.st_mode & 077) != 0)
        return errSet(err, ERR_CONFIG, "--into-password-file '%s' can be read by others (mode %03o): run 'chmod 600 %s'",
                      path, (unsigned)(st.st_mode & 0777), path);
    if (fsReadFile(path, RECOVER_PASSWORD_FILE_MAX, &data, &len, err) != 0)
        return errPrefix(err, "--into-password-file");
    if ((nl = strpbrk((char *)data, "\r\n")) != NULL)
        *nl = '\0';
    *password = (char *)data;
    return 0;
}

static const char *
orDash(const char *s) {
    return s != NULL && s[0] != '\0' ? s : "-";
}

static void
showTime(const RecoverCmd *rc, uint64_t us, char *out, size_t size) {
    cmdShowTime(us, &rc->tz, out, size);
}

/* What a time target found about commit times out of binlog order. */
static void
printTimeOrder(const RecoverCmd *rc, const RecoverPlanInfo *in) {
    char t1[64], t2[64];

    if (in->timeBackwards == 0 && in->timeAmbiguous == 0)
        return;
    showTime(rc, in->cutTimeUs, t1, sizeof(t1));
    printf("time order: commit times go backwards around the cut (%" PRIu64 " applied transaction(s) committed "
           "before an earlier one; %" PRIu64 " after the cut committed at or before the time, not applied)%s\n",
           in->timeBackwards, in->timeAmbiguous, in->timeAmbiguous > 0 ? ": --allow-time-disorder" : "");
    if (in->cutGtid[0] != '\0' || in->cutTimeUs != 0)
        printf("  the cut: before %s committed %s\n", orDash(in->cutGtid), t1);
    for (size_t i = 0; i < in->notes; i++) {
        const RecoverTimeNote *n = &in->note[i];

        showTime(rc, n->timeUs, t1, sizeof(t1));
        showTime(rc, n->priorUs, t2, sizeof(t2));
        printf("  %s %s committed %s in %s, %s %s\n", n->afterCut ? "not applied:" : "applied:    ", orDash(n->gtid), t1,
               n->file, n->afterCut ? "after the cut committed" : "after one committed", t2);
    }
}

static int
printPlan(const RecoverCmd *rc, const RecoverPlan *plan, const char *startWhy, Err *err) {
    const RecoverPlanInfo *in = recoverPlanInfo(plan);
    char t1[64], t2[64], b1[32], b2[32];
    SegmentMeta m = {0};

    printf("start: gtid state '%s' (%s)\n", in->start, startWhy);
    printTimeOrder(rc, in);
    if (in->segments == 0) {
        printf("plan: nothing to apply: the target is already at gtid state '%s'\n", in->until);
        return 0;
    }
    recoverFormatBytes(in->bytes, b1, sizeof(b1));
    recoverFormatBytes(in->contentBytes, b2, sizeof(b2));
    showTime(rc, in->firstTimeUs, t1, sizeof(t1));
    showTime(rc, in->lastTimeUs, t2, sizeof(t2));
    if (in->segments == 1)
        printf("plan: 1 segment (seq %" PRIu64 "), %s (%s of binlog), %" PRIu64 " transactions\n", in->firstSeq, b1, b2,
               in->transactions);
    else
        printf("plan: %zu segments (seq %" PRIu64 "-%" PRIu64 "), %s (%s of binlog), %" PRIu64 " transactions\n",
               in->segments, in->firstSeq, in->lastSeq, b1, b2, in->transactions);
    printf("  first transaction: %s committed %s at %s:%" PRIu64 "\n", orDash(in->firstGtid), t1, orDash(in->firstFile),
           in->firstPos);
    printf("  last transaction:  %s committed %s, ends at %s:%" PRIu64 "\n", orDash(in->lastGtid), t2,
           orDash(in->lastFile), in->lastEndPos);
    printf("  until gtid position: '%s'\n", in->until);
    for (size_t i = 0; i < in->segments; i++) {
        int got;

        if (in->segments > RECOVER_LIST_SEGMENTS && i == RECOVER_LIST_SEGMENTS / 2) {
            printf("  ... %zu more segments ...\n", in->segments - RECOVER_LIST_SEGMENTS);
            i = in->segments - RECOVER_LIST_SEGMENTS / 2 - 1;
            continue;
        }
        if ((got = recoverPlanSegment(plan, in->first + i, &m, err)) < 0) {
            segmentMetaClear(&m);
            return -1;
        }
        if (got == 1)
            printf("  seq %-6" PRIu64 " %s  %" PRIu64 " bytes, %" PRIu64 " transactions\n", m.seq, m.name, m.size,
                   m.transactions);
    }
    segmentMetaClear(&m);
    return 0;
}

/* recoverPlanToJson()'s flush: the document goes out while the plan's segments stream. */
static int
jsonFlush(void *data, Buf *out, Err *err) {
    bool *started = data;

    if (out->len > 0 && fwrite(out->data, 1, out->len, stdout) != out->len)
        return errSetSys(err, ERR_IO, errno, "unable to write the plan to stdout");
    *started = true;
    bufClear(out);
    return 0;
}

static void
onProgress(void *ctx, const RecoverProgress *p) {
    RecoverCmd *rc = ctx;
    char line[512];

    if (rc->bar) {
        recoverProgressFormat(p, true, rc->width, line, sizeof(line));
        fprintf(stderr, "\r%s\033[K", line);
        if (p->phase == RECOVER_PHASE_FINISHING)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    if (p->phase != RECOVER_PHASE_FINISHING && p->seconds - rc->lastLog < RECOVER_LOG_EVERY_S)
        return;
    rc->lastLog = p->seconds;
    recoverProgressFormat(p, false, 0, line, sizeof(line));
    logInfo("%s", line);
}

/* Print the error, and for refusals of the plan what the archive can restore. */
static int
failWith(const RecoverCmd *rc, const Err *err, ArchiveView *v, const RecoverResult *res, Buf *json) {
    Buf *windows = bufNew(512);

    if (v != NULL && (err->code == ERR_NOTFOUND || err->code == ERR_GAP || err->code == ERR_USAGE)) {
        ArchiveOutline *o = archiveOutlineNew(v, &(Err){0});

        if (o != NULL)
            recoverDescribeOutline(o, windows);
        archiveOutlineFree(o);
    }
    if (rc->json) {
        if (json == NULL)
            json = bufNew(256);
        else
            bufAppend(json, ",", 1);
        jsonBufPrintf(json, "\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":", errCodeName(err->code));
        jsonBufString(json, err->msg, strlen(err->msg));
        jsonBufPrintf(json, ",\"windows\":");
        jsonBufString(json, (const char *)windows->data, windows->len);
        if (res != NULL && res->cleanup[0] != '\0') {
            jsonBufPrintf(json, ",\"cleanup\":");
            jsonBufString(json, res->cleanup, strlen(res->cleanup));
        }
        jsonBufPrintf(json, "}}\n");
        if (!rc->jsonStarted && json->data[0] != '{')
            printf("{");
        fwrite(json->data, 1, json->len, stdout);
        fflush(stdout);
    }
    fprintf(stderr, "binvault: %s\n", err->msg);
    if (windows->len > 0)
        fprintf(stderr, "binvault: the archive holds:\n%.*s", (int)windows->len, (const char *)windows->data);
    if (res != NULL && res->cleanup[0] != '\0')
        fprintf(stderr, "binvault: binvault could not undo its settings on the target: run %s\n", res->cleanup);
    bufFree(windows);
    return errExitCode(err->code);
}

/* The explicit start, as a GTID state (NULL without one); *why says where it comes from. */
static int
explicitStart(RecoverCmd *rc, Archive *a, ArchiveView *v, char **start, char *why, size_t whySize, Err *err) {
    *start = NULL;
    if (rc->baseDir != NULL) {
        ArchiveBasePoint bp;
        const char *source = "";

        if (recoverBaseDirRead(rc->baseDir, &bp, &source, err) != 0)
            return -1;
        snprintf(why, whySize, "%s in --base-dir %s: %s:%" PRIu64 " gtid '%s'", source, rc->baseDir, bp.file, bp.pos,
                 bp.gtid);
        if (bp.gtid[0] != '\0') {
            *start = bp.gtid;
            return 0;
        }
        archiveBasePointClear(&bp);
        if (recoverScopeStateAtPosition(a, v, bp.file, bp.pos, start, err) != 0)
            return errPrefix(err, "--base-dir '%s' has no gtid: its position", rc->baseDir);
        return 0;
    }
    if (rc->fromGtid != NULL) {
        snprintf(why, whySize, "--from-gtid");
        *start = bvStrdup(rc->fromGtid);
        return 0;
    }
    if (rc->fromPosition.file[0] != '\0') {
        if (recoverScopeStateAtPosition(a, v, rc->fromPosition.file, rc->fromPosition.pos, start, err) != 0)
            return errPrefix(err, "--from-position");
        snprintf(why, whySize, "--from-position %s:%" PRIu64, rc->fromPosition.file, rc->fromPosition.pos);
    }
    return 0;
}

static int
buildTarget(RecoverCmd *rc, RecoverTarget *t, Err *err) {
    return cmdRecoverTarget(&rc->untilTime, rc->untilGtid, &rc->untilPosition, rc->untilEnd, rc->exclusive,
                            rc->allowTimeDisorder, t, err);
}

static int
connectInto(RecoverCmd *rc, RecoverInto **into, Err *err) {
    SqlConnOpts o = {0};
    MysqlUrl *url;
    char *password = NULL;
    int res;

    if ((url = urlMysqlNew(rc->into, err)) == NULL)
        return errPrefix(err, "--into");
    if (url->user == NULL) {
        urlMysqlFree(url);
        return errSet(err, ERR_USAGE, "--into '%s' names no user: expected mysql://USER@HOST:PORT", rc->into);
    }
    if (rc->password != NULL) {
        password = bvStrdup(rc->password);
        o.passwordFrom = rc->password[0] != '\0' ? RECOVER_PASSWORD_ENV : RECOVER_PASSWORD_ENV " (set, empty)";
    } else if (rc->passwordFile != NULL) {
        if (readPasswordFile(rc->passwordFile, &password, err) != 0) {
            urlMysqlFree(url);
            return -1;
        }
        o.passwordFrom = rc->passwordFile;
    } else {
        o.passwordFrom = RECOVER_PASSWORD_ENV " (not set)";
    }
    o.host = url->host;
    o.port = url->port;
    o.socket = url->socket;
    o.user = url->user;
    o.password = password;
    o.failCode = ERR_TARGET;
    o.sslCa = rc->sslCa;
    if (rc->sslMode == NULL || strcmp(rc->sslMode, "default") == 0)
        o.sslMode = SQL_SSL_DEFAULT;
    else if (sqlSslModeParse(rc->sslMode, "--into-ssl-mode", &o.sslMode, err) != 0) {
        urlMysqlFree(url);
        bvFree(password);
        return -1;
    }
    *into = recoverIntoConnect(&o, err);
    res = *into != NULL ? 0 : -1;
    if (password != NULL)
        memset(password, 0, strlen(password));
    bvFree(password);
    urlMysqlFree(url);
    return res;
}

static void
resultJson(const RecoverResult *r, Buf *out) {
    jsonBufPrintf(out, ",\"result\":{\"reached\":%s,\"transactions\":%" PRIu64 ",\"bytes\":%" PRIu64
                       ",\"seconds\":%.3f,\"rate\":%.1f,\"server_id_used\":%" PRIu32 ",\"start_gtid_pos\":",
                  r->reached ? "true" : "false", r->transactions, r->bytes, r->seconds,
                  r->seconds > 0 ? (double)r->transactions / r->seconds : 0.0, r->serverIdUsed);
    jsonBufString(out, r->startPos ? r->startPos : "", r->startPos ? strlen(r->startPos) : 0);
    jsonBufPrintf(out, ",\"final_gtid_pos\":");
    if (r->finalPos != NULL)
        jsonBufString(out, r->finalPos, strlen(r->finalPos));
    else
        jsonBufPrintf(out, "null");
    jsonBufPrintf(out, "}");
}

/* The rules between options that the table cannot say. */
static int
checkArgs(const RecoverCmd *rc, Err *err) {
    int starts;

    if (rc->into == NULL && !rc->dryRun)
        return errSet(err, ERR_USAGE, "missing --into mysql://USER@HOST:PORT, the server to recover");
    starts = (rc->baseDir != NULL) + (rc->fromGtid != NULL) + (rc->fromPosition.file[0] != '\0');
    if (starts > 1)
        return errSet(err, ERR_USAGE, "give one start: --base-dir, --from-gtid or --from-position");
    if (rc->into == NULL && starts == 0)
        return errSet(err, ERR_USAGE, "--dry-run without --into needs a start: --base-dir, --from-gtid or --from-position");
    return 0;
}

/* The last segment of the path of `timeline` (0: the main line) into *end, when it is a segment
 * of the path's tip read from the view: the archive's last one, or that of timeline N's own
 * segments when N is not the newest. False (nothing in *end) otherwise: pathLastSegment() looks
 * for it. */
static bool
pathEnd(ArchiveView *v, const TimelineSet *set, uint32_t timeline, SegmentMeta *end) {
    uint32_t tip = timeline > 0 ? timeline : timelineSetNewest(set);
    const TimelineRecord *next = timelineSetFind(set, tip + 1);
    uint64_t seq = next != NULL ? next->firstSeq - 1 : archiveViewLastSeq(v);
    Err err = {0};

    if (tip > timelineSetNewest(set) || seq == 0 || archiveViewGet(v, seq, end, &err) != 0)
        return false;
    if (segmentMetaTimeline(end) != tip) {
        segmentMetaClear(end);
        return false;
    }
    return true;
}

/* The path's last segment into *end when its tip holds none (pathEnd() false): looked for
 * backwards from where the tip's segments would end, a block at a time. ERR_NOTFOUND for a
 * timeline the archive does not have, or a path without a segment. */
static int
pathLastSegment(Archive *a, ArchiveView *v, const TimelineSet *set, uint32_t timeline, SegmentMeta *end, Err *err) {
    TimelinePath *p = timelinePathNew(set, timeline, err);
    const TimelineRecord *next;
    int found;

    if (p == NULL)
        return -1;
    next = timelineSetFind(set, timelinePathTip(p) + 1);
    found = archiveOutlinePathLast(v, p, next != NULL && next->firstSeq > 1 ? next->firstSeq - 1 : archiveViewLastSeq(v),
                                   end, err);
    timelinePathFree(p);
    if (found == 0)
        errSet(err, ERR_NOTFOUND, "archive '%s' holds no segment on that timeline", archiveUrl(a));
    return found == 1 ? 0 : -1;
}

int
cmdRecover(int argc, char **argv) {
    RecoverCmd rc = {0};
    RecoverTarget target;
    RecoverApplyOptions ao = {0};
    RecoverResult res = {0};
    Storage *storage = NULL;
    Archive *a = NULL;
    ArchiveView *v = NULL;
    ArchiveCatalog *c = NULL; /* what the plan is made on */
    TimelineSet *timelines = NULL;
    RecoverPlan *plan = NULL;
    RecoverInto *into = NULL;
    SegmentMeta end = {0};
    ArchiveIdentity id;
    char *explicit = NULL, *start = NULL;
    char why[1024] = "", startWhy[1200];
    const char *chosen = "";
    Buf *json = NULL;
    LogLevel level;
    Err err = {0};
    int code = 0;

    if (!cmdOptions(&recoverSet, &rc, argc, argv, NULL, NULL, &code))
        return code;
    if (checkArgs(&rc, &err) != 0) {
        code = cmdFail(&err);
        optFree(&recoverSet, &rc);
        return code;
    }
    rc.bar = !rc.json && isatty(STDERR_FILENO);
    if (rc.bar) {
        struct winsize ws;

        rc.width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 100;
    }
    logLevelParse(rc.logLevel ? rc.logLevel : rc.bar ? "warn" : "info", &level);
    logSetLevel(level);
    if (buildTarget(&rc, &target, &err) != 0)
        goto fail;

    /* The archive and its catalog, opened by range. */
    if ((storage = cmdOpenArchive(rc.archive, &rc.storage, &err)) == NULL)
        goto fail;
    a = archiveNew(storage);
    if ((v = archiveViewOpen(a, ARCHIVE_LOAD_DISCOVER, &err)) == NULL || timelineSetLoad(a, &timelines, &err) != 0)
        goto fail;
    cmdViewWarn(v);
    if (archiveViewLastSeq(v) == 0) {
        errSet(&err, ERR_NOTFOUND, "archive '%s' holds no segment", archiveUrl(a));
        goto fail;
    }
    /* The plan is made on the range it needs (recover/scope.h), loaded once the start is known,
     * as the path of the timeline followed sees it (archive/timeline.h). The end of that path is
     * the archive's last segment, or with --timeline N below the newest the last of N's own;
     * when the path's tip holds no segment, the path's last one, looked for backwards a block at a
     * time (N not a timeline is refused). */
    if (!pathEnd(v, timelines, (uint32_t)rc.timeline, &end) &&
        pathLastSegment(a, v, timelines, (uint32_t)rc.timeline, &end, &err) != 0)
        goto fail;

    /* Where the target is. */
    if (explicitStart(&rc, a, v, &explicit, why, sizeof(why), &err) != 0)
        goto fail;
    if (rc.into != NULL && connectInto(&rc, &into, &err) != 0)
        goto fail;
    if (into != NULL) {
        if (recoverChooseStart(archiveViewFlavour(v), explicit, recoverIntoGtidSlavePos(into), segmentMetaGtidEnd(&end),
                               &start, &chosen, &err) != 0)
            goto fail;
    } else {
        start = bvStrdup(explicit);
        chosen = "the given start";
    }
    if (explicit != NULL && why[0] != '\0' && strcmp(start, explicit) == 0)
        snprintf(startWhy, sizeof(startWhy), "%s: %s", chosen, why);
    else
        snprintf(startWhy, sizeof(startWhy), "%s", chosen);

    /* The plan, on the part of the archive it needs: a long range a block at a time. */
    plan = recoverScopePlan(a, v, timelines, (uint32_t)rc.timeline, start, &target, &c, &err);
    if (plan == NULL)
        goto fail;
    if (rc.dryRun) /* each block of a long plan read once: listed and verified together */
        recoverPlanDryRun(plan, a, rc.bar ? dryRunProgress : NULL, NULL);
    if (recoverPlanResolve(plan, a, &err) != 0)
        goto fail;
    if (rc.json) {
        json = bufNew(4096);
        jsonBufPrintf(json, "{\"archive\":");
        jsonBufString(json, archiveUrl(a), strlen(archiveUrl(a)));
        jsonBufPrintf(json, ",\"into\":");
        if (into != NULL)
            jsonBufString(json, recoverIntoUrl(into), strlen(recoverIntoUrl(into)));
        else
            jsonBufPrintf(json, "null");
        jsonBufPrintf(json, ",\"dry_run\":%s,\"start_from\":", rc.dryRun ? "true" : "false");
        jsonBufString(json, startWhy, strlen(startWhy));
        jsonBufPrintf(json, ",\"plan\":");
        if (recoverPlanToJson(plan, json, jsonFlush, &rc.jsonStarted, &err) != 0)
            goto fail;
    } else {
        if (archiveIdentityRead(a, &id, &(Err){0}) == 0)
            printf("archive %s: %s binlogs of server_id %" PRIu32 " (%s)\n", archiveUrl(a),
                   id.flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb", id.serverId, id.serverVersion);
        if (timelineSetForked(timelines))
            printf("timelines: following %s, timeline %" PRIu32 " and its parents up to their forks ('binvault "
                   "list' shows the diverged branches)\n",
                   rc.timeline == 0 ? "the main line" : "--timeline", rc.timeline == 0 ? timelineSetNewest(timelines)
                                                                                      : (uint32_t)rc.timeline);
        if (into != NULL)
            printf("target %s: %s, server_id %" PRIu32 ", gtid_slave_pos '%s'\n", recoverIntoUrl(into),
                   recoverIntoVersion(into), recoverIntoServerId(into), recoverIntoGtidSlavePos(into));
        if (printPlan(&rc, plan, startWhy, &err) != 0)
            goto fail;
        fflush(stdout);
    }
    /* Every privilege the run needs, checked at once, before anything changes on the target. */
    if (into != NULL && recoverPlanInfo(plan)->segments > 0) {
        RecoverGrantCheck grants;
        bool swap = recoverApplyServerId(into, a, plan) != recoverIntoServerId(into);

        if (recoverIntoCheckGrants(into, swap, &grants, &err) != 0)
            goto fail;
        if (rc.json) {
            jsonBufPrintf(json, ",\"privileges\":{\"account\":");
            jsonBufString(json, grants.account, strlen(grants.account));
            jsonBufPrintf(json, ",\"needed\":");
            jsonBufString(json, grants.needed, strlen(grants.needed));
            jsonBufPrintf(json, "}");
        } else {
            printf("privileges: user %s holds what the recovery needs (%s)\n", grants.account, grants.needed);
            fflush(stdout);
        }
    }
    if (rc.dryRun) {
        if (recoverPlanVerify(plan, a, rc.bar ? dryRunProgress : NULL, NULL, &err) != 0)
            goto fail;
        if (rc.json) {
            jsonBufPrintf(json, ",\"ok\":true}\n");
            fwrite(json->data, 1, json->len, stdout);
        } else {
            printf("dry run: every segment of the plan verified; nothing was changed\n");
        }
        goto done;
    }

    /* Apply. */
    {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = recoverOnSignal;
        sa.sa_flags = SA_RESETHAND; /* a second signal kills as usual */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    ao.listenHost = rc.listen.host;
    ao.listenPort = rc.listen.port;
    ao.connectionName = rc.connectionName;
    ao.tmpDir = rc.tmpDir;
    ao.connectTimeoutMs = (unsigned)rc.connectTimeoutMs;
    ao.parallel = (unsigned)rc.parallel;
    ao.progress = onProgress;
    ao.progressCtx = &rc;
    ao.stop = &recoverStop;
    if (recoverApply(into, a, plan, &ao, &res, &err) != 0) {
        if (json != NULL)
            resultJson(&res, json);
        code = failWith(&rc, &err, NULL, &res, json);
        json = NULL;
        if (res.transactions > 0 && !res.reached)
            fprintf(stderr, "binvault: what was applied stays; to go on from there once the cause is fixed, run the "
                            "command again without --base-dir / --from-gtid / --from-position\n");
        goto done;
    }
    if (rc.json) {
        resultJson(&res, json);
        jsonBufPrintf(json, ",\"ok\":true}\n");
        fwrite(json->data, 1, json->len, stdout);
    } else if (recoverPlanInfo(plan)->segments == 0) {
        printf("nothing applied: '%s' is already at gtid_slave_pos '%s'\n", recoverIntoUrl(into), orDash(res.finalPos));
    } else {
        char bytes[32];

        recoverFormatBytes(res.bytes, bytes, sizeof(bytes));
        printf("recovered: %" PRIu64 " transactions (%s of binlog) in %.2f s, %.0f transactions/s; '%s' is at gtid_slave_pos "
               "'%s'\n",
               res.transactions, bytes, res.seconds, res.seconds > 0 ? (double)res.transactions / res.seconds : 0.0,
               recoverIntoUrl(into), orDash(res.finalPos));
        if (res.serverIdUsed != recoverIntoServerId(into))
            printf("its server_id was %" PRIu32 " while it applied, and is %" PRIu32 " again\n", res.serverIdUsed,
                   recoverIntoServerId(into));
    }
    goto done;
fail:
    code = failWith(&rc, &err, v, NULL, json);
    json = NULL;
done:
    bufFree(json);
    recoverResultClear(&res);
    recoverPlanFree(plan);
    recoverIntoFree(into);
    bvFree(explicit);
    bvFree(start);
    archiveCatalogFree(c);
    segmentMetaClear(&end);
    archiveViewFree(v);
    timelineSetFree(timelines);
    archiveFree(a);
    storageFree(storage);
    optFree(&recoverSet, &rc);
    return code;
}
