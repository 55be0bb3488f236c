/*
 * binvault restore (recover/restore.h): the choice of the backup for a target, the checks on DIR,
 * and the run of the phases, from the backup's stream to a data directory at the target.
 */
#include "recover/restore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "archive/segment.h"
#include "binlog/gtid.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/retry.h"
#include "common/time.h"
#include "mysql/client.h"
#include "recover/backup_info.h"
#include "recover/private_server.h"
#include "recover/scope.h"

#define RESTORE_SPACE_MARGIN_MIN (64u * 1024u * 1024u)
#define RESTORE_COPY_BLOCK (256u * 1024u)
#define RESTORE_LOG_NAME "binvault-restore.log"
#define RESTORE_BACKUP_CNF_MAX (64u * 1024u)

/* ---- Choosing the backup -------------------------------------------------------------------- */

/* Whether recovery from a backup whose GTID state is `point` can reach a GTID target: in every
 * domain the target names, the backup's seq is not past it. */
static int
gtidReachable(const char *point, const RecoverTarget *t, bool *ok, Err *err) {
    MariaGtidPos *have = mariaGtidPosNew(), *want = mariaGtidPosNew();
    int res = -1;

    if (mariaGtidPosParse(want, t->gtid, err) != 0) {
        errPrefix(err, "--until-gtid");
        goto done;
    }
    if (mariaGtidPosParse(have, point, err) != 0) {
        errPrefix(err, "a backup's gtid state");
        goto done;
    }
    *ok = true;
    for (size_t i = 0; i < mariaGtidPosCount(want); i++) {
        MariaGtid w, h;

        mariaGtidPosAt(want, i, &w);
        if (mariaGtidPosGet(have, w.domain, &h) && (t->exclusive ? h.seq >= w.seq : h.seq > w.seq))
            *ok = false;
    }
    res = 0;
done:
    mariaGtidPosFree(have);
    mariaGtidPosFree(want);
    return res;
}

static int
reachable(const RestorePoint *p, const RecoverTarget *t, bool *ok, Err *err) {
    int cmp;

    *ok = false;
    switch (t->kind) {
    case RECOVER_UNTIL_TIME:
        *ok = t->exclusive ? p->endUs < t->timeUs : p->endUs <= t->timeUs;
        return 0;
    case RECOVER_UNTIL_GTID:
        return gtidReachable(p->gtidState != NULL ? p->gtidState : "", t, ok, err);
    case RECOVER_UNTIL_POSITION:
        if (p->file == NULL || p->file[0] == '\0')
            return 0;
        cmp = segmentFileCompare(p->file, t->file);
        *ok = cmp < 0 || (cmp == 0 && (t->exclusive ? p->pos < t->pos : p->pos <= t->pos));
        return 0;
    case RECOVER_UNTIL_END:
        *ok = true;
        return 0;
    case RECOVER_UNTIL_NONE:
        break;
    }
    return errSet(err, ERR_USAGE, "no recovery target given");
}

void
restoreDescribeBackups(const RestorePoint *points, size_t count, Buf *out) {
    char line[1024], when[64];

    for (size_t i = 0; i < count; i++) {
        const RestorePoint *p = &points[i];

        timeFormatUtc(p->endUs, false, when, sizeof(when));
        snprintf(line, sizeof(line), "  %s: ended %s, at %s:%" PRIu64 ", gtid state '%s'\n", p->id, when,
                 p->file != NULL && p->file[0] != '\0' ? p->file : "-", p->pos, p->gtidState != NULL ? p->gtidState : "");
        bufAppend(out, line, strlen(line));
    }
}

int
restoreChooseBackup(const RestorePoint *points, size_t count, const RecoverTarget *target, size_t *chosen, Err *err) {
    Buf *list;
    bool ok;

    if (count == 0)
        return errSet(err, ERR_NOTFOUND, "the archive holds no complete backup: run 'binvault backup' first, or "
                                         "restore a backup yourself and use 'binvault recover'");
    for (size_t i = count; i-- > 0;) {
        if (reachable(&points[i], target, &ok, err) != 0)
            return -1;
        if (ok) {
            *chosen = i;
            return 0;
        }
    }
    list = bufNew(256);
    restoreDescribeBackups(points, count, list);
    errSet(err, ERR_USAGE, "the target is before every backup in the archive; the archive holds:\n%.*s", (int)list->len,
           (const char *)list->data);
    while (err->msg[0] != '\0' && err->msg[strlen(err->msg) - 1] == '\n')
        err->msg[strlen(err->msg) - 1] = '\0';
    bufFree(list);
    return -1;
}

/* ---- Checks --------------------------------------------------------------------------------- */

int
restoreCheckDir(const char *dir, uint64_t need, Err *err) {
    struct statvfs vfs;
    struct stat st;
    struct dirent *e;
    uint64_t margin, avail;
    DIR *d;

    if (stat(dir, &st) != 0) {
        if (errno != ENOENT)
            return errSetSys(err, ERR_IO, errno, "data directory '%s'", dir);
        if (mkdir(dir, 0750) != 0)
            return errSetSys(err, errno == ENOENT ? ERR_CONFIG : ERR_IO, errno, "unable to create data directory '%s'",
                             dir);
    } else if (!S_ISDIR(st.st_mode)) {
        return errSet(err, ERR_CONFIG, "data directory '%s' exists and is not a directory", dir);
    }
    if ((d = opendir(dir)) == NULL)
        return errSetSys(err, ERR_IO, errno, "unable to read data directory '%s'", dir);
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        errSet(err, ERR_CONFIG,
               "data directory '%s' is not empty (it holds '%s'): restore writes only into an empty or new directory",
               dir, e->d_name);
        closedir(d);
        return -1;
    }
    closedir(d);
    if (statvfs(dir, &vfs) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to read the free space of '%s'", dir);
    margin = need / 10 > RESTORE_SPACE_MARGIN_MIN ? need / 10 : RESTORE_SPACE_MARGIN_MIN;
    avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (avail < need + margin) {
        char n[32], a[32];

        recoverFormatBytes(need + margin, n, sizeof(n));
        recoverFormatBytes(avail, a, sizeof(a));
        return errSet(err, ERR_IO, "not enough space for the restore in '%s': %s needed (the backup and a margin), %s free",
                      dir, n, a);
    }
    return 0;
}

/* The server runs as uid/gid: every existing directory above DIR must let it through (search
 * permission by the mode bits; ACLs and supplementary groups, which can only allow more, are not
 * read), or it fails only once started, after the unpack and the prepare. */
static int
dirReachable(const char *dir, const char *user, uid_t uid, gid_t gid, Err *err) {
    char cwd[4096];
    char *path;
    int rc = 0;

    if (uid == 0)
        return 0;
    if (dir[0] == '/')
        path = bvStrdup(dir);
    else if (getcwd(cwd, sizeof(cwd)) != NULL)
        path = bvSprintf("%s/%s", cwd, dir);
    else
        return 0;
    for (char *slash = path; rc == 0 && (slash = strchr(slash + 1, '/')) != NULL;) {
        struct stat st;
        mode_t bit;

        *slash = '\0';
        if (stat(path, &st) != 0) {
            *slash = '/';
            break; /* made by restore from here on */
        }
        bit = st.st_uid == uid ? S_IXUSR : st.st_gid == gid ? S_IXGRP : S_IXOTH;
        if (S_ISDIR(st.st_mode) && !(st.st_mode & bit))
            rc = errSet(err, ERR_CONFIG,
                        "the restored server runs as '%s' (the account the data directory is given to), which cannot "
                        "reach '%s': '%s' is mode %04o and owned by uid %u; restore into a directory '%s' can reach, "
                        "make '%s' searchable for it (chmod o+x), or give --user",
                        user, dir, path, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, user, path);
        *slash = '/';
    }
    bvFree(path);
    return rc;
}

int
restoreResolveUser(const char *name, const char *dir, char *out, size_t size, uid_t *uid, gid_t *gid, Err *err) {
    struct passwd *pw = NULL;
    struct stat st;

    if (name != NULL) {
        if ((pw = getpwnam(name)) == NULL)
            return errSet(err, ERR_CONFIG, "--user '%s': no such account on this machine", name);
    } else if (stat(dir, &st) == 0 && st.st_uid != 0 && (pw = getpwuid(st.st_uid)) != NULL) {
        /* the owner of DIR */
    } else if ((pw = getpwnam("mysql")) == NULL && (pw = getpwuid(0)) == NULL) {
        return errSet(err, ERR_CONFIG, "no account for the server: give --user");
    }
    snprintf(out, size, "%s", pw->pw_name);
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return dirReachable(dir, out, *uid, *gid, err);
}

/* ---- Streams -------------------------------------------------------------------------------- */

int
restoreStreamFile(void *ctx, int fd, RestoreStreamProgressFn progress, void *progressCtx, Err *err) {
    const char *path = ctx;
    uint8_t *buf = bvMalloc(RESTORE_COPY_BLOCK);
    uint64_t done = 0, total = 0;
    struct stat st;
    int in, res = 0;

    if ((in = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        bvFree(buf);
        return errSetSys(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "backup stream '%s'", path);
    }
    if (fstat(in, &st) == 0 && S_ISREG(st.st_mode))
        total = (uint64_t)st.st_size;
    for (;;) {
        ssize_t n = read(in, buf, RESTORE_COPY_BLOCK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            res = errSetSys(err, ERR_IO, errno, "unable to read backup stream '%s'", path);
            break;
        }
        if (n == 0)
            break;
        if (fsWriteAll(fd, buf, (size_t)n) != 0) {
            res = errSetSys(err, ERR_TARGET, errno, "mbstream stopped reading the backup stream");
            break;
        }
        done += (uint64_t)n;
        if (progress != NULL)
            progress(progressCtx, done, total > done ? total : done);
    }
    close(in);
    bvFree(buf);
    return res;
}

int
restoreStreamBackup(void *ctx, int fd, RestoreStreamProgressFn progress, void *progressCtx, Err *err) {
    const RestoreArchiveStream *s = ctx;

    return archiveBackupExtract(s->archive, s->backup, fd, progress, progressCtx, err);
}

RestorePoint *
restorePointsOf(const ArchiveBackup *backups, size_t count) {
    RestorePoint *p = bvCalloc(count > 0 ? count : 1, sizeof(*p));

    for (size_t i = 0; i < count; i++) {
        p[i].id = backups[i].id;
        p[i].endUs = backups[i].endUs > 0 ? (uint64_t)backups[i].endUs : 0;
        p[i].file = backups[i].file;
        p[i].pos = backups[i].pos;
        p[i].gtidState = backups[i].gtidState != NULL ? backups[i].gtidState : "";
    }
    return p;
}

/* ---- The run -------------------------------------------------------------------------------- */

const char *
restorePhaseName(RestorePhase phase) {
    static const char *const names[] = {"check", "unpack", "prepare", "start", "recover", "stop", "done"};

    return phase <= RESTORE_PHASE_DONE ? names[phase] : "?";
}

typedef struct RunCtx {
    const RestoreOptions *o;
    RestoreReport *r;
    double phaseStart;
    PrivateTool *tool; /* the tool the stream is written to */
} RunCtx;

static void
enterPhase(RunCtx *rc, RestorePhase phase) {
    double now = (double)retryNowMs() / 1000.0;
    RestoreProgress p = {0};

    if (rc->r->phase < RESTORE_PHASE_DONE && rc->phaseStart > 0)
        rc->r->seconds[rc->r->phase] = now - rc->phaseStart;
    rc->r->phase = phase;
    rc->phaseStart = now;
    if (rc->o->progress != NULL && phase < RESTORE_PHASE_DONE) {
        p.phase = phase;
        rc->o->progress(rc->o->progressCtx, &p);
    }
}

static void
onStreamProgress(void *ctx, uint64_t done, uint64_t total) {
    RunCtx *rc = ctx;
    RestoreProgress p = {0};

    if (rc->o->stop != NULL && atomic_load(rc->o->stop) && rc->tool != NULL)
        privateToolTerminate(rc->tool); /* the stream's next write fails: the unpack stops */
    if (rc->o->progress == NULL)
        return;
    p.phase = RESTORE_PHASE_UNPACK;
    p.done = done;
    p.total = total;
    p.seconds = (double)retryNowMs() / 1000.0 - rc->phaseStart;
    rc->o->progress(rc->o->progressCtx, &p);
}

static void
onRecoverProgress(void *ctx, const RecoverProgress *rp) {
    RunCtx *rc = ctx;
    RestoreProgress p = {0};

    p.phase = RESTORE_PHASE_RECOVER;
    p.recover = rp;
    p.seconds = (double)retryNowMs() / 1000.0 - rc->phaseStart;
    rc->o->progress(rc->o->progressCtx, &p);
}

static bool
stopped(const RestoreOptions *o, Err *err) {
    if (o->stop == NULL || !atomic_load(o->stop))
        return false;
    errSet(err, ERR_TARGET, "interrupted");
    return true;
}

static int
unpack(RunCtx *rc, const char *log, Err *err) {
    const RestoreOptions *o = rc->o;
    const char *argv[] = {"mbstream", "-x", "-C", o->datadir, NULL};
    Err ignored = {0};

    if ((rc->tool = privateToolStart(argv, true, log, err)) == NULL)
        return -1;
    if (o->stream(o->streamCtx, privateToolStdin(rc->tool), onStreamProgress, rc, err) != 0) {
        privateToolTerminate(rc->tool);
        privateToolFinish(rc->tool, NULL, &ignored);
        rc->tool = NULL;
        return errPrefix(err, "unpacking the backup into '%s'", o->datadir);
    }
    if (privateToolFinish(rc->tool, o->stop, err) != 0) {
        rc->tool = NULL;
        return errPrefix(err, "unpacking the backup into '%s'", o->datadir);
    }
    rc->tool = NULL;
    return 0;
}

static int
runTool(const char *const *argv, const char *log, atomic_bool *stop, Err *err) {
    PrivateTool *t = privateToolStart(argv, false, log, err);

    return t == NULL ? -1 : privateToolFinish(t, stop, err);
}

/* Give a directory's tree to the server's account (binvault unpacked it as root); symbolic links
 * are changed themselves, never followed. */
static int
chownTree(const char *dir, uid_t uid, gid_t gid, Err *err) {
    struct dirent *e;
    DIR *d;
    int res = 0;

    if (lchown(dir, uid, gid) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to give '%s' to the server's account (uid %u)", dir, (unsigned)uid);
    if ((d = opendir(dir)) == NULL)
        return errSetSys(err, ERR_IO, errno, "unable to read '%s'", dir);
    while (res == 0 && (e = readdir(d)) != NULL) {
        char *path;
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        path = bvSprintf("%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0)
            res = errSetSys(err, ERR_IO, errno, "unable to read '%s'", path);
        else if (S_ISDIR(st.st_mode))
            res = chownTree(path, uid, gid, err);
        else if (lchown(path, uid, gid) != 0)
            res = errSetSys(err, ERR_IO, errno, "unable to give '%s' to the server's account (uid %u)", path,
                            (unsigned)uid);
        bvFree(path);
    }
    closedir(d);
    return res;
}

/* The prepared backup's GTID state, from its binlog info (or, without a GTID in it, from the
 * archive at its position). */
static int
preparedGtid(const RestoreOptions *o, char **gtid, Err *err) {
    ArchiveBasePoint bp;
    const char *source = "";

    if (recoverBaseDirRead(o->datadir, &bp, &source, err) != 0)
        return -1;
    if (bp.gtid[0] != '\0') {
        *gtid = bp.gtid;
        return 0;
    }
    archiveBasePointClear(&bp);
    if ((o->catalog != NULL ? recoverStateAtPosition(o->archive, o->catalog, bp.file, bp.pos, gtid, err)
                            : recoverScopeStateAtPosition(o->archive, o->view, bp.file, bp.pos, gtid, err)) != 0)
        return errPrefix(err, "the backup's %s has no gtid: its position", source);
    return 0;
}

/* The backup's own server settings that its data needs (backup-my.cnf), allocated. */
static char *
backupConfig(const char *dir) {
    char *path = bvSprintf("%s/backup-my.cnf", dir), *out;
    uint8_t *data = NULL;
    size_t len = 0;
    Err ignored = {0};

    if (fsReadFile(path, RESTORE_BACKUP_CNF_MAX, &data, &len, &ignored) != 0)
        out = bvStrdup("");
    else
        out = privateServerBackupConfig((const char *)data, len);
    bvFree(data);
    bvFree(path);
    return out;
}

/* binvault's SQL connections to the private server: through its socket, as any user
 * (skip-grant-tables). */
static void
privateConnOpts(const PrivateServer *ps, SqlConnOpts *so) {
    memset(so, 0, sizeof(*so));
    so->socket = privateServerSocket(ps);
    so->user = "root";
    so->passwordFrom = "the private server (skip-grant-tables)";
    so->sslMode = SQL_SSL_DISABLED;
    so->failCode = ERR_TARGET;
}

static RecoverInto *
connectPrivate(PrivateServer *ps, Err *err) {
    SqlConnOpts so;

    privateConnOpts(ps, &so);
    return recoverIntoConnect(&so, err);
}

/* Point the restored server at the live primary: CHANGE MASTER on the default connection, by GTID
 * from its gtid_slave_pos; the replica starts when the server is next started. */
static int
replicateFrom(const RestoreOptions *o, const PrivateServer *ps, Err *err) {
    const RestoreReplicateFrom *f = o->replicateFrom;
    SqlConnOpts so;
    SqlConn *c;
    char *host, *user, *password, *sql;
    int res;

    privateConnOpts(ps, &so);
    if ((c = sqlConnect(&so, err)) == NULL)
        return -1;
    host = sqlEscape(c, f->host);
    user = sqlEscape(c, f->user);
    password = sqlEscape(c, f->password != NULL ? f->password : "");
    sql = bvSprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%u, MASTER_USER='%s', MASTER_PASSWORD='%s', "
                    "MASTER_USE_GTID=slave_pos",
                    host, (unsigned)f->port, user, password);
    res = sqlExec(c, sql, err);
    memset(sql, 0, strlen(sql));
    memset(password, 0, strlen(password));
    bvFree(sql);
    bvFree(host);
    bvFree(user);
    bvFree(password);
    sqlConnFree(c);
    return res != 0 ? errPrefix(err, "configuring replication from '%s:%u'", f->host, (unsigned)f->port) : 0;
}

/* Remove the private server's relay log and relay-log.info: the replica that --replicate-from
 * configured resumes by GTID (MASTER_USE_GTID=slave_pos, kept in master.info), and a relay log
 * named by the private server's configuration would stop the user's server from starting its
 * replica ("Could not find target log during relay log initialization"). */
static int
forgetRelayLog(const char *dir, Err *err) {
    const char *prefix = PRIVATE_SERVER_RELAY_LOG ".";
    struct dirent *e;
    DIR *d;
    int res = 0;

    if ((d = opendir(dir)) == NULL)
        return errSetSys(err, ERR_IO, errno, "unable to read '%s'", dir);
    while (res == 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 || strcmp(e->d_name, "relay-log.info") == 0) {
            char *path = bvSprintf("%s/%s", dir, e->d_name);

            if (unlink(path) != 0)
                res = errSetSys(err, ERR_IO, errno, "unable to remove the private server's '%s'", path);
            bvFree(path);
        }
    }
    closedir(d);
    return res;
}

int
restoreRun(const RestoreOptions *o, RestoreReport *r, Err *err) {
    RunCtx rc = {o, r, 0, NULL};
    PrivateServerOptions pso = {0};
    PrivateServer *ps = NULL;
    RecoverInto *into = NULL;
    RecoverApplyOptions ao = {0};
    char *log = bvSprintf("%s/" RESTORE_LOG_NAME, o->datadir), *extra = NULL;
    bool root = geteuid() == 0;
    int res = -1;

    memset(r, 0, sizeof(*r));
    r->plan = o->plan;
    enterPhase(&rc, RESTORE_PHASE_CHECK);
    if (restoreCheckDir(o->datadir, o->streamBytes, err) != 0)
        goto done;

    enterPhase(&rc, RESTORE_PHASE_UNPACK);
    r->state = RESTORE_DIR_PARTIAL;
    if (unpack(&rc, log, err) != 0)
        goto done;
    if (stopped(o, err))
        goto done;

    enterPhase(&rc, RESTORE_PHASE_PREPARE);
    {
        const char *argv[] = {"mariadb-backup", "--prepare", "--target-dir", o->datadir, NULL};

        if (runTool(argv, log, o->stop, err) != 0) {
            errPrefix(err, "preparing the backup in '%s'", o->datadir);
            goto done;
        }
    }
    if (stopped(o, err))
        goto done;
    r->state = RESTORE_DIR_PREPARED;
    if (preparedGtid(o, &r->startGtid, err) != 0)
        goto done;
    if (o->backupGtid != NULL) {
        bool same = false;

        if (gtidStateTextEqual(BINLOG_FLAVOUR_MARIADB, r->startGtid, o->backupGtid, &same, err) != 0)
            goto done;
        if (!same) {
            errSet(err, ERR_FORMAT, "the prepared backup in '%s' is at gtid state '%s', its manifest says '%s'",
                   o->datadir, r->startGtid, o->backupGtid);
            goto done;
        }
    }
    if (r->plan == NULL) {
        /* The start is known now: plan on the range it needs (a long one a block at a time). */
        r->plan = o->catalog != NULL ? recoverPlanNew(o->catalog, r->startGtid, o->target, err)
                                     : recoverScopePlan(o->archive, o->view, o->timelines, o->timeline, r->startGtid,
                                                        o->target, &r->catalog, err);
        if (r->plan == NULL || recoverPlanResolve(r->plan, o->archive, err) != 0)
            goto done;
    }
    if (root && o->uid != 0 && chownTree(o->datadir, o->uid, o->gid, err) != 0)
        goto done;

    enterPhase(&rc, RESTORE_PHASE_START);
    extra = backupConfig(o->datadir);
    pso.datadir = o->datadir;
    pso.tmpDir = o->tmpDir;
    pso.user = root ? o->user : NULL;
    pso.serverId = o->serverId;
    pso.extraConfig = extra;
    pso.errorLog = log;
    pso.stop = o->stop;
    if ((ps = privateServerStart(&pso, err)) == NULL || (into = connectPrivate(ps, err)) == NULL)
        goto done;

    enterPhase(&rc, RESTORE_PHASE_RECOVER);
    ao.listenHost = o->listenHost;
    ao.listenPort = o->listenPort;
    ao.tmpDir = o->tmpDir;
    ao.connectTimeoutMs = o->connectTimeoutMs;
    ao.progress = o->progress != NULL ? onRecoverProgress : NULL;
    ao.progressCtx = &rc;
    ao.stop = o->stop;
    res = recoverApply(into, o->archive, r->plan, &ao, &r->result, err);
    if (r->result.finalPos != NULL)
        r->finalGtid = bvStrdup(r->result.finalPos);
    if (res == 0)
        r->state = RESTORE_DIR_READY;
    else if (r->result.transactions > 0)
        r->state = RESTORE_DIR_RECOVERED;
    if (res == 0 && o->replicateFrom != NULL) {
        if ((res = replicateFrom(o, ps, err)) == 0)
            r->replicating = true;
        else
            r->state = RESTORE_DIR_RECOVERED; /* at the target, but not the replica asked for */
    }
    if (res != 0)
        goto done;
    res = -1;

    enterPhase(&rc, RESTORE_PHASE_STOP);
    recoverIntoFree(into);
    into = NULL;
    if (privateServerStop(ps, 0, err) != 0) {
        r->state = RESTORE_DIR_UNCLEAN;
        goto done;
    }
    if (forgetRelayLog(o->datadir, err) != 0)
        goto done;
    enterPhase(&rc, RESTORE_PHASE_DONE);
    res = 0;
done:
    recoverIntoFree(into);
    if (ps != NULL) {
        Err stopErr = {0};

        /* Only on the way out of a failure: a successful run has stopped it already. */
        if (privateServerStop(ps, 0, &stopErr) != 0) {
            r->state = RESTORE_DIR_UNCLEAN;
            errAppend(err, "; then %s", stopErr.msg);
        }
        privateServerFree(ps);
    }
    if (r->phase < RESTORE_PHASE_DONE)
        r->seconds[r->phase] = (double)retryNowMs() / 1000.0 - rc.phaseStart;
    bvFree(extra);
    bvFree(log);
    return res;
}

void
restoreDescribeState(const RestoreReport *r, const char *dir, Buf *out) {
    char *text = NULL;

    switch (r->state) {
    case RESTORE_DIR_UNTOUCHED:
        text = bvSprintf("'%s' was not changed.\n", dir);
        break;
    case RESTORE_DIR_PARTIAL:
        text = bvSprintf("'%s' holds an incomplete %s of the backup (see %s/" RESTORE_LOG_NAME
                         "): empty it (rm -rf '%s'/*) before running restore again.\n",
                         dir, r->phase == RESTORE_PHASE_PREPARE ? "prepare" : "unpack", dir, dir);
        break;
    case RESTORE_DIR_PREPARED:
        text = bvSprintf("'%s' holds the prepared backup at gtid state '%s', nothing applied. Run restore again "
                         "into an empty directory, or start a server on it and run 'binvault recover --from-gtid "
                         "%s' (docs/RECOVERY.md).\n",
                         dir, r->startGtid != NULL ? r->startGtid : "?", r->startGtid != NULL ? r->startGtid : "?");
        break;
    case RESTORE_DIR_RECOVERED:
        text = bvSprintf("'%s' holds the backup recovered up to gtid state '%s' (gtid_slave_pos), the server stopped "
                         "cleanly. To go on: start a server on it and run 'binvault recover' without a start (it "
                         "continues from gtid_slave_pos), or run restore again into an empty directory.\n",
                         dir, r->finalGtid != NULL ? r->finalGtid : "?");
        break;
    case RESTORE_DIR_READY:
        text = bvSprintf("'%s' is ready: start it with 'mariadbd --datadir %s' (with your configuration: keep the "
                         "source's innodb settings of %s/backup-my.cnf). Its gtid_slave_pos is '%s'.%s\n",
                         dir, dir, dir, r->finalGtid != NULL ? r->finalGtid : "",
                         r->replicating ? " It replicates from the primary as soon as it starts: give it a server_id of "
                                          "its own (not the primary's) first, or skip-slave-start to hold it."
                                        : " To make it a replica: CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos.");
        break;
    case RESTORE_DIR_UNCLEAN:
        text = bvSprintf("'%s': the private server did not stop cleanly; its next start runs crash recovery. It "
                         "holds the backup recovered up to gtid state '%s' at least.\n",
                         dir, r->finalGtid != NULL ? r->finalGtid : r->startGtid != NULL ? r->startGtid : "?");
        break;
    }
    bufAppend(out, text, strlen(text));
    bvFree(text);
}

void
restoreReportClear(RestoreReport *r) {
    bvFree(r->startGtid);
    bvFree(r->finalGtid);
    recoverPlanFree(r->plan);
    archiveCatalogFree(r->catalog);
    recoverResultClear(&r->result);
    memset(r, 0, sizeof(*r));
}
