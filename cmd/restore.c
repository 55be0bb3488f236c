/*
 * binvault restore: a data directory at a point in time, from the archive alone, in one command:
 * the backup (from the archive, or an mbstream file), unpacked, prepared, recovered to the target
 * by a private server and left ready for `mariadbd --datadir DIR` (recover/restore.h). Options,
 * progress and the report; docs/RECOVERY.md is the user's guide.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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
#include "archive/backup_store.h"
#include "archive/catalog.h"
#include "archive/identity.h"
#include "archive/outline.h"
#include "archive/timeline.h"
#include "binlog/pos.h"
#include "cmd/cmd.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/opt.h"
#include "common/time.h"
#include "common/url.h"
#include "recover/restore.h"
#include "recover/scope.h"

#define RESTORE_PRIMARY_PASSWORD_ENV "BINVAULT_PRIMARY_PASSWORD"
#define RESTORE_LOG_EVERY_S 10.0
#define RESTORE_DRAW_EVERY_S 0.2

typedef struct RestoreCmd {
    char *archive, *datadir, *streamFile, *backupId, *untilGtid, *user, *tmpDir;
    char *replicateFrom, *primaryPassword;
    BinlogPos untilPosition;
    OptTime untilTime;
    bool untilEnd, exclusive, allowTimeDisorder, dryRun;
    TimeZone tz;
    OptHostPort listen;
    int64_t connectTimeoutMs, timeline;
    const char *logLevel;
    StorageOptions storage;

    bool bar;          /* progress as a redrawn line on stderr */
    unsigned width;
    RestorePhase shown; /* the phase of the last progress output */
    double lastLog;     /* the phase's seconds at the last log line */
    double lastDraw;    /* ... at the last redraw of the bar */
} RestoreCmd;

static atomic_bool restoreStop;

static void
restoreOnSignal(int sig) {
    (void)sig;
    atomic_store(&restoreStop, true);
}

#define RESTORE_OPT(field) offsetof(RestoreCmd, field)
#define RESTORE_STORAGE(field) offsetof(RestoreCmd, storage.field)

static const OptDef restoreDefs[] = {
    CMD_ARCHIVE_OPTDEFS(RESTORE_OPT(archive), RESTORE_STORAGE),
    {"datadir", OPT_STRING, NULL, 0, 0, OPT_REQUIRED, RESTORE_OPT(datadir), NULL,
     "the data directory to create: empty or new, on a file system with room for the backup", NULL, NULL},
    {"backup", OPT_STRING, NULL, 0, 0, 0, RESTORE_OPT(backupId), NULL,
     "the backup of the archive to restore (an id of 'binvault list'); default: the newest from which the archive "
     "reaches the target", NULL, NULL},
    {"stream-file", OPT_STRING, NULL, 0, 0, 0, RESTORE_OPT(streamFile), NULL,
     "restore this mbstream file (mariadb-backup --backup --stream=mbstream) instead of a backup of the archive; "
     "the archive's binlogs bring it to the target", NULL, NULL},
    {"until-time", OPT_TIME, NULL, 0, 0, 0, RESTORE_OPT(untilTime), NULL,
     "target: every transaction committed at or before TIME, in --timezone", NULL, NULL},
    {"until-gtid", OPT_STRING, NULL, 0, 0, 0, RESTORE_OPT(untilGtid), NULL,
     "target: through that transaction (per domain)", NULL, cmdGtidCheck},
    {"until-position", OPT_POSITION, NULL, 0, 0, 0, RESTORE_OPT(untilPosition), NULL,
     "target: the transactions that end at or before POS", NULL, binlogPosOptParse},
    {"until-end", OPT_BOOL, NULL, 0, 0, 0, RESTORE_OPT(untilEnd), NULL, "target: everything archived", NULL, NULL},
    {"exclusive", OPT_BOOL, NULL, 0, 0, 0, RESTORE_OPT(exclusive), NULL,
     "stop just before the target instead (--until-gtid of the bad statement)", NULL, NULL},
    {"timeline", OPT_INT, "0", 0, TIMELINE_MAX, 0, RESTORE_OPT(timeline), NULL,
     "follow timeline N back to the first (0: the main line, the newest timeline's); see recover --timeline", NULL,
     NULL},
    {"allow-time-disorder", OPT_BOOL, NULL, 0, 0, 0, RESTORE_OPT(allowTimeDisorder), NULL,
     "with --until-time: plan even when commit times out of binlog order make the cut ambiguous", NULL, NULL},
    {"timezone", OPT_TIMEZONE, "UTC", 0, 0, 0, RESTORE_OPT(tz), NULL,
     "the zone of --until-time and of the times printed", NULL, NULL},
    {"dry-run", OPT_BOOL, NULL, 0, 0, 0, RESTORE_OPT(dryRun), NULL,
     "print the plan (the backup, the transactions to apply) and change nothing", NULL, NULL},
    {"user", OPT_STRING, NULL, 0, 0, 0, RESTORE_OPT(user), NULL,
     "when run as root: the account that owns DIR and runs the server (default: DIR's owner, else mysql)", NULL,
     NULL},
    {"replicate-from", OPT_URL, NULL, 0, 0, 0, RESTORE_OPT(replicateFrom), NULL,
     "with --until-end: the live primary, mysql://USER@HOST:PORT, that the restored server replicates from by GTID "
     "once started (password: " RESTORE_PRIMARY_PASSWORD_ENV ")", cmdMysqlSchemes, NULL},
    {"primary-password", OPT_STRING, NULL, 0, 0, OPT_SECRET | OPT_EMPTY, RESTORE_OPT(primaryPassword),
     RESTORE_PRIMARY_PASSWORD_ENV, "password of the --replicate-from user", NULL, NULL},
    {"tmpdir", OPT_STRING, NULL, 0, 0, 0, RESTORE_OPT(tmpDir), "TMPDIR",
     "the private server's directory and the segments waiting to be served (default /tmp)", NULL, NULL},
    {"listen", OPT_HOSTPORT, "127.0.0.1:0", 0, 0, 0, RESTORE_OPT(listen), NULL,
     "the replication endpoint the private server reads the archive from (port 0: a free one)", NULL, NULL},
    {"connect-timeout", OPT_DURATION, "60s", 0, 86400000, 0, RESTORE_OPT(connectTimeoutMs), NULL,
     "how long the private server may take to reach the endpoint", NULL, NULL},
    {"log-level", OPT_ENUM, NULL, 0, 0, 0, RESTORE_OPT(logLevel), "BINVAULT_LOG_LEVEL",
     "how much to log (default: info, warn with a progress bar)", cmdLogLevels, NULL},
};

static const OptSet restoreSet = {
    "restore",
    "binvault restore --archive URL --datadir DIR\n"
    "           (--until-time 'YYYY-MM-DD HH:MM:SS[.ffffff]' | --until-gtid GTID | --until-position FILE:POS |\n"
    "            --until-end) [--exclusive] [--stream-file FILE] [--replicate-from mysql://USER@HOST:PORT]\n"
    "           [--dry-run]",
    "Leaves DIR ready for 'mariadbd --datadir DIR' at the target: unpacks the backup into DIR\n"
    "(mbstream -x), prepares it (mariadb-backup --prepare), starts a private server on it (its own\n"
    "temporary configuration, a unix socket only), applies the archived transactions up to the target\n"
    "through its replication applier as 'binvault recover' does, and shuts it down cleanly. DIR must\n"
    "be empty or new. A target outside the archive is refused before DIR is touched. Ctrl-C stops the\n"
    "server cleanly and says what DIR holds.\n\n"
    "mariadbd, mariadb-backup and mbstream must be in PATH. " CMD_STORAGE_HELP,
    restoreDefs,
    sizeof(restoreDefs) / sizeof(restoreDefs[0]),
    NULL,
    0,
    0,
};

static int
buildTarget(const RestoreCmd *rc, RecoverTarget *t, Err *err) {
    if (rc->replicateFrom != NULL && !rc->untilEnd)
        return errSet(err, ERR_USAGE, "--replicate-from goes with --until-end only (a replica continues from the end)");
    return cmdRecoverTarget(&rc->untilTime, rc->untilGtid, &rc->untilPosition, rc->untilEnd, rc->exclusive,
                            rc->allowTimeDisorder, t, err);
}

/* DIR as an absolute path (mariadbd and mbstream run elsewhere); allocated. */
static char *
absoluteDir(const char *dir) {
    char cwd[PATH_MAX];

    if (dir[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return bvStrdup(dir);
    return bvSprintf("%s/%s", cwd, dir);
}

static void
showTime(const RestoreCmd *rc, uint64_t us, char *out, size_t size) {
    cmdShowTime(us, &rc->tz, out, size);
}

static const char *
orDash(const char *s) {
    return s != NULL && s[0] != '\0' ? s : "-";
}

static void
printPlan(const RestoreCmd *rc, const RecoverPlan *plan) {
    const RecoverPlanInfo *in = recoverPlanInfo(plan);
    char t[64], b[32];

    if (in->segments == 0) {
        printf("plan: nothing to apply: the backup is at the target, gtid state '%s'\n", in->until);
        return;
    }
    recoverFormatBytes(in->contentBytes, b, sizeof(b));
    showTime(rc, in->lastTimeUs, t, sizeof(t));
    printf("plan: %" PRIu64 " transactions (%s of binlog) in %zu segment(s), from gtid state '%s' to '%s'\n",
           in->transactions, b, in->segments, in->start, in->until);
    printf("  last transaction: %s committed %s, ends at %s:%" PRIu64 "\n", orDash(in->lastGtid), t,
           orDash(in->lastFile), in->lastEndPos);
}

static void
onProgress(void *ctx, const RestoreProgress *p) {
    RestoreCmd *rc = ctx;
    char line[512], a[32], b[32];
    bool first = p->phase != rc->shown;

    if (rc->bar && !first && p->phase == RESTORE_PHASE_UNPACK && p->done < p->total &&
        p->seconds - rc->lastDraw < RESTORE_DRAW_EVERY_S)
        return;
    rc->lastDraw = first ? 0 : p->seconds;
    if (p->phase == RESTORE_PHASE_RECOVER && p->recover != NULL) {
        recoverProgressFormat(p->recover, rc->bar, rc->bar ? rc->width - 10 : 0, line, sizeof(line));
    } else if (p->phase == RESTORE_PHASE_UNPACK && p->total > 0) {
        recoverFormatBytes(p->done, a, sizeof(a));
        recoverFormatBytes(p->total, b, sizeof(b));
        snprintf(line, sizeof(line), "%3d%%  %s of %s", (int)(p->done * 100 / p->total), a, b);
    } else {
        static const char *const what[] = {"checking the data directory", "unpacking the backup",
                                           "preparing the backup (mariadb-backup --prepare)",
                                           "starting the private server", "applying the archived transactions",
                                           "shutting the private server down"};

        snprintf(line, sizeof(line), "%s", p->phase < RESTORE_PHASE_DONE ? what[p->phase] : "");
    }
    if (rc->bar) {
        fprintf(stderr, "%s[%-7s] %s\033[K", first && rc->shown != RESTORE_PHASE_CHECK ? "\n" : "\r",
                restorePhaseName(p->phase), line);
        fflush(stderr);
    } else if (first || p->seconds - rc->lastLog >= RESTORE_LOG_EVERY_S) {
        rc->lastLog = first ? 0 : p->seconds;
        logInfo("%s: %s", restorePhaseName(p->phase), line);
    }
    rc->shown = p->phase;
}

static int
replicateSettings(const RestoreCmd *rc, MysqlUrl **url, RestoreReplicateFrom *rf, Err *err) {
    if ((*url = urlMysqlNew(rc->replicateFrom, err)) == NULL)
        return errPrefix(err, "--replicate-from");
    if ((*url)->user == NULL || (*url)->socket != NULL)
        return errSet(err, ERR_USAGE, "--replicate-from '%s': expected mysql://USER@HOST:PORT (the restored server "
                                      "connects to it over TCP)", rc->replicateFrom);
    rf->host = (*url)->host;
    rf->port = (uint16_t)(*url)->port;
    rf->user = (*url)->user;
    rf->password = rc->primaryPassword;
    return 0;
}

static void
printReport(const RestoreCmd *rc, const RestoreReport *r, const char *dir, bool ok) {
    Buf *b = bufNew(512);

    if (ok && r->plan != NULL) {
        const RecoverPlanInfo *in = recoverPlanInfo(r->plan);
        char t[64];

        showTime(rc, in->lastTimeUs, t, sizeof(t));
        printf("restored: '%s' at gtid state '%s'", dir, orDash(r->finalGtid));
        if (in->segments > 0)
            printf(", %" PRIu64 " transactions applied; the last: %s committed %s", r->result.transactions,
                   orDash(in->lastGtid), t);
        printf("\n  unpack %.1f s, prepare %.1f s, server start %.1f s, recover %.1f s, stop %.1f s\n",
               r->seconds[RESTORE_PHASE_UNPACK], r->seconds[RESTORE_PHASE_PREPARE], r->seconds[RESTORE_PHASE_START],
               r->seconds[RESTORE_PHASE_RECOVER], r->seconds[RESTORE_PHASE_STOP]);
    }
    restoreDescribeState(r, dir, b);
    if (ok)
        printf("%.*s", (int)b->len, (const char *)b->data);
    else
        fprintf(stderr, "binvault: %.*s", (int)b->len, (const char *)b->data);
    bufFree(b);
}

/* Which backups are on the history followed (`path`): a backup taken on an old primary after a
 * later timeline forked from it holds transactions that history never had. on[i] for backups[i]. */
static int
backupsOnPath(const ArchiveBackup *backups, size_t count, const TimelinePath *path, bool *on, Err *err) {
    for (size_t i = 0; i < count; i++)
        if (timelinePathHoldsPoint(path, BINLOG_FLAVOUR_MARIADB, backups[i].timeline, backups[i].file, backups[i].pos,
                                   backups[i].gtidState, &on[i], err) != 0)
            return errPrefix(err, "backup '%s'", backups[i].id);
    return 0;
}

/* The backup for the target: --backup ID, or the newest on the followed history that the archive
 * reaches the target from (newer ones off that history are skipped with a note). */
static int
chooseBackup(const RestoreCmd *rc, Archive *a, const TimelinePath *path, const RecoverTarget *target,
             ArchiveBackup **backups, size_t *count, const ArchiveBackup **chosen, Err *err) {
    ArchiveBackup *kept;
    RestorePoint *points;
    size_t i = 0, nkept = 0, *map;
    bool *on;
    int res = 0;

    if (archiveBackupList(a, backups, count, err) != 0)
        return errPrefix(err, "listing the archive's backups");
    on = bvCalloc(*count + 1, sizeof(*on));
    if (backupsOnPath(*backups, *count, path, on, err) != 0) {
        bvFree(on);
        return -1;
    }
    if (rc->backupId != NULL) {
        points = restorePointsOf(*backups, *count);
        while (i < *count && strcmp((*backups)[i].id, rc->backupId) != 0)
            i++;
        if (i == *count) {
            Buf *list = bufNew(256);

            restoreDescribeBackups(points, *count, list);
            res = errSet(err, ERR_NOTFOUND, "--backup '%s': the archive holds no complete backup of that id%s%.*s",
                         rc->backupId, list->len > 0 ? "; it holds:\n" : "", (int)list->len,
                         (const char *)list->data);
            bufFree(list);
        } else if (!on[i]) {
            res = errSet(err, ERR_USAGE,
                         "--backup '%s' was taken on timeline %" PRIu32 " after the history followed (timeline %" PRIu32
                         ") left it: it holds transactions that history never had; give --timeline %" PRIu32
                         " to restore that timeline, or another backup",
                         rc->backupId, (*backups)[i].timeline > 0 ? (*backups)[i].timeline : 1, timelinePathTip(path),
                         (*backups)[i].timeline > 0 ? (*backups)[i].timeline : 1);
        }
        bvFree(points);
        bvFree(on);
        if (res == 0)
            *chosen = &(*backups)[i];
        return res;
    }
    kept = bvCalloc(*count + 1, sizeof(*kept));
    map = bvCalloc(*count + 1, sizeof(*map));
    for (size_t k = 0; k < *count; k++)
        if (on[k]) {
            map[nkept] = k;
            kept[nkept++] = (*backups)[k];
        }
    points = restorePointsOf(kept, nkept);
    res = restoreChooseBackup(points, nkept, target, &i, err);
    if (res == 0) {
        *chosen = &(*backups)[map[i]];
        for (size_t k = map[i] + 1; k < *count; k++)
            if (!on[k])
                printf("note: backup %s skipped: taken on timeline %" PRIu32 " after the history followed (timeline %" PRIu32
                       ") left it\n",
                       (*backups)[k].id, (*backups)[k].timeline > 0 ? (*backups)[k].timeline : 1, timelinePathTip(path));
    } else if (nkept < *count && err->code == ERR_NOTFOUND) {
        res = errSet(err, ERR_NOTFOUND, "the archive holds no complete backup on the history followed (timeline %" PRIu32
                     "): its %zu backup(s) were taken on a diverged branch; give --timeline N to restore one of them",
                     timelinePathTip(path), *count);
    }
    bvFree(points);
    bvFree(map);
    bvFree(kept);
    bvFree(on);
    return res;
}

static void
printBackup(const ArchiveBackup *b) {
    char when[64], size[32];

    cmdFormatTime(b->endUs > 0 ? (uint64_t)b->endUs : 0, when, sizeof(when));
    recoverFormatBytes(b->streamLen, size, sizeof(size));
    printf("backup %s: %s %s of %s, ended %s, at %s:%" PRIu64 " gtid state '%s', %s\n", b->id, b->tool, b->toolVersion,
           b->host, when, b->file, b->pos, b->gtidState != NULL ? b->gtidState : "", size);
}

/* The archive's restorable windows after a refused plan. */
static void
printWindows(ArchiveView *v, const Err *err) {
    ArchiveOutline *o;
    Buf *w;

    if (v == NULL || (err->code != ERR_NOTFOUND && err->code != ERR_GAP && err->code != ERR_USAGE))
        return;
    if ((o = archiveOutlineNew(v, &(Err){0})) == NULL)
        return;
    w = bufNew(512);
    recoverDescribeOutline(o, w);
    archiveOutlineFree(o);
    if (w->len > 0)
        fprintf(stderr, "binvault: the archive holds:\n%.*s", (int)w->len, (const char *)w->data);
    bufFree(w);
}

int
cmdRestore(int argc, char **argv) {
    RestoreCmd rc = {0};
    RecoverTarget target;
    RestoreOptions ro = {0};
    RestoreReport report = {0};
    RestoreReplicateFrom rf = {0};
    MysqlUrl *primary = NULL;
    Storage *storage = NULL;
    Archive *a = NULL;
    ArchiveView *v = NULL;
    ArchiveCatalog *c = NULL; /* what the plan is made on */
    TimelineSet *timelines = NULL;
    ArchiveIdentity id;
    ArchiveBackup *backups = NULL;
    const ArchiveBackup *chosen = NULL;
    size_t nbackups = 0;
    RestoreArchiveStream source = {0};
    RecoverPlan *plan = NULL;
    struct stat st;
    char user[256] = "", *dir = NULL;
    LogLevel level;
    Err err = {0};
    int code = 0;

    if (!cmdOptions(&restoreSet, &rc, argc, argv, NULL, NULL, &code))
        return code;
    rc.bar = isatty(STDERR_FILENO);
    if (rc.bar) {
        struct winsize ws;

        rc.width = ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 40 ? ws.ws_col : 100;
    }
    logLevelParse(rc.logLevel ? rc.logLevel : rc.bar ? "warn" : "info", &level);
    logSetLevel(level);
    if (buildTarget(&rc, &target, &err) != 0)
        goto fail;
    if (rc.replicateFrom != NULL && replicateSettings(&rc, &primary, &rf, &err) != 0)
        goto fail;
    if (rc.streamFile != NULL && rc.backupId != NULL) {
        errSet(&err, ERR_USAGE, "give --backup ID or --stream-file FILE, not both");
        goto fail;
    }
    if (rc.streamFile != NULL && stat(rc.streamFile, &st) != 0) {
        errSetSys(&err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "--stream-file '%s'", rc.streamFile);
        goto fail;
    }
    dir = absoluteDir(rc.datadir);

    /* The archive. */
    if ((storage = cmdOpenArchive(rc.archive, &rc.storage, &err)) == NULL)
        goto fail;
    a = archiveNew(storage);
    if (archiveIdentityRead(a, &id, &err) != 0)
        goto fail;
    if (id.flavour != BINLOG_FLAVOUR_MARIADB) {
        errSet(&err, ERR_USAGE, "archive '%s' holds MySQL binlogs: restore applies through MariaDB's replica only",
               archiveUrl(a));
        goto fail;
    }
    if ((v = archiveViewOpen(a, ARCHIVE_LOAD_DISCOVER, &err)) == NULL || timelineSetLoad(a, &timelines, &err) != 0)
        goto fail;
    cmdViewWarn(v);
    printf("archive %s: mariadb binlogs of server_id %" PRIu32 " (%s)\n", archiveUrl(a), id.serverId, id.serverVersion);
    if (rc.streamFile != NULL) {
        printf("backup: the stream file '%s' (%" PRIu64 " bytes); the plan is made once it is prepared\n",
               rc.streamFile, (uint64_t)st.st_size);
        ro.stream = restoreStreamFile;
        ro.streamCtx = rc.streamFile;
        ro.streamBytes = (uint64_t)st.st_size;
        ro.serverId = id.serverId;
        /* The start is known once the stream is prepared: the run loads the range then. */
        ro.view = v;
        ro.timelines = timelines;
        ro.timeline = (uint32_t)rc.timeline;
    } else {
        const char *from;
        int res;

        TimelinePath *path = timelinePathNew(timelines, (uint32_t)rc.timeline, &err);

        if (path == NULL)
            goto fail;
        res = chooseBackup(&rc, a, path, &target, &backups, &nbackups, &chosen, &err);
        timelinePathFree(path);
        if (res != 0)
            goto fail;
        from = chosen->gtidState != NULL ? chosen->gtidState : "";
        if ((plan = recoverScopePlan(a, v, timelines, (uint32_t)rc.timeline, from, &target, &c, &err)) == NULL)
            goto fail;
        if (rc.dryRun)
            recoverPlanDryRun(plan, a, NULL, NULL);
        if (recoverPlanResolve(plan, a, &err) != 0)
            goto fail;
        printBackup(chosen);
        printPlan(&rc, plan);
        source.archive = a;
        source.backup = chosen;
        ro.stream = restoreStreamBackup;
        ro.streamCtx = &source;
        ro.streamBytes = chosen->streamLen;
        ro.serverId = chosen->serverId;
        ro.backupGtid = chosen->gtidState != NULL ? chosen->gtidState : "";
        ro.plan = plan;
    }
    if (geteuid() == 0 && restoreResolveUser(rc.user, dir, user, sizeof(user), &ro.uid, &ro.gid, &err) != 0)
        goto fail;
    if (rc.dryRun) {
        /* What applying would read of the archive, read now (the backup's parts are verified as
         * they are unpacked, before a server is started). */
        if (plan != NULL && recoverPlanVerify(plan, a, NULL, NULL, &err) != 0)
            goto fail;
        printf("dry run: nothing was changed\n");
        goto done;
    }
    fflush(stdout);

    {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = restoreOnSignal;
        sa.sa_flags = SA_RESETHAND; /* a second signal kills as usual */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN); /* a tool that stops reading is an error of the write, not a kill */
    }
    ro.datadir = dir;
    ro.tmpDir = rc.tmpDir;
    ro.user = user[0] != '\0' ? user : NULL;
    ro.archive = a;
    ro.catalog = c;
    ro.target = &target;
    ro.listenHost = rc.listen.host;
    ro.listenPort = rc.listen.port;
    ro.connectTimeoutMs = (unsigned)rc.connectTimeoutMs;
    ro.replicateFrom = primary != NULL ? &rf : NULL;
    ro.progress = onProgress;
    ro.progressCtx = &rc;
    ro.stop = &restoreStop;
    plan = NULL; /* the run owns it from here */
    if (restoreRun(&ro, &report, &err) != 0) {
        if (rc.bar)
            fputc('\n', stderr);
        code = cmdFail(&err);
        printWindows(v, &err);
        printReport(&rc, &report, dir, false);
        goto done;
    }
    if (rc.bar)
        fputc('\n', stderr);
    if (rc.streamFile != NULL)
        printPlan(&rc, report.plan);
    printReport(&rc, &report, dir, true);
    goto done;
fail:
    code = cmdFail(&err);
    printWindows(v, &err);
done:
    restoreReportClear(&report);
    recoverPlanFree(plan);
    archiveBackupListFree(backups, nbackups);
    urlMysqlFree(primary);
    archiveCatalogFree(c);
    archiveViewFree(v);
    timelineSetFree(timelines);
    archiveFree(a);
    storageFree(storage);
    bvFree(dir);
    optFree(&restoreSet, &rc);
    return code;
}
