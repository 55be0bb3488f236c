/*
 * binvault backup: runs the backup tool (mariadb-backup --backup --stream=mbstream, or xtrabackup
 * --stream=xbstream for MySQL) on the database host, and stores its stream in the archive as it
 * comes (archive/backup_store.h): no local copy of the backup, memory bounded. The stream is read
 * through the mbstream parser (archive/mbstream.h), which checks each chunk's CRC32 and catches the
 * tool's binlog info: the point the backup is consistent at, recorded in the manifest.
 *
 * The password reaches the tool in a 0600 defaults file in the temporary directory (removed when
 * the tool ends), never on its command line. The tool's messages go to a log file beside it, shown
 * when the tool fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/upgrade.h"
#include "archive/backup.h"
#include "archive/backup_store.h"
#include "archive/catalog.h"
#include "archive/identity.h"
#include "archive/mbstream.h"
#include "archive/outline.h"
#include "cmd/cmd.h"
#include "common/buf.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/proc.h"
#include "common/url.h"
#include "mysql/client.h"

#define READ_BUF (256 * 1024)
#define LOG_TAIL 2048

typedef struct BackupOpts {
    char *archive;
    StorageOptions storage;
    char *source;
    char *password;
    CmdSsl ssl;
    char *datadir;
    char *tool;
    int64_t partSize;
    int64_t parallel;
    bool json;
    bool noProgress;
} BackupOpts;

#define F(field) offsetof(BackupOpts, field)
#define BACKUP_STORAGE(field) offsetof(BackupOpts, storage.field)
#define BACKUP_SSL(field) offsetof(BackupOpts, ssl.field)

static const OptDef backupDefs[] = {
    CMD_ARCHIVE_OPTDEFS(F(archive), BACKUP_STORAGE),
    {"source", OPT_URL, NULL, 0, 0, OPT_REQUIRED, F(source), NULL,
     "the server to back up, mysql://USER@HOST:PORT (docs/OPERATIONS.md lists the backup user's privileges)",
     cmdMysqlSchemes, NULL},
    {"source-password", OPT_STRING, NULL, 0, 0, OPT_SECRET, F(password), "BINVAULT_SOURCE_PASSWORD",
     "password of the source user", NULL, NULL},
    CMD_SSL_OPTDEFS(BACKUP_SSL),
    {"datadir", OPT_STRING, NULL, 0, 0, 0, F(datadir), NULL,
     "the server's data directory, when the tool cannot learn it from the server", NULL, NULL},
    {"tool", OPT_STRING, NULL, 0, 0, 0, F(tool), NULL,
     "the backup program (default: mariadb-backup for MariaDB, xtrabackup for MySQL)", NULL, NULL},
    {"part-size", OPT_SIZE, "64M", 64 * 1024, 1024LL * 1024 * 1024, 0, F(partSize), NULL,
     "bytes of the stream per stored part; the temporary directory holds up to (parallel + 1) parts", NULL, NULL},
    {"parallel", OPT_INT, "4", 1, 64, 0, F(parallel), NULL, "parts stored at once", NULL, NULL},
    {"json", OPT_BOOL, "false", 0, 0, 0, F(json), NULL, "print a JSON summary", NULL, NULL},
    {"no-progress", OPT_BOOL, "false", 0, 0, 0, F(noProgress), NULL,
     "no progress line on a terminal", NULL, NULL},
};

static const OptSet backupSet = {
    "backup",
    "binvault backup --archive URL --source mysql://USER@HOST:PORT [--datadir DIR] [options]",
    "Takes a base backup of the source with mariadb-backup (MariaDB) or xtrabackup (MySQL), run here on\n"
    "the database host, and stores its stream in the archive as it comes: cut into parts of\n"
    "--part-size bytes, each compressed, hashed (and encrypted in an encrypted archive) and stored,\n"
    "--parallel at a time, with no local copy of the backup. The manifest, written last, records the\n"
    "binlog position and GTID state the backup is consistent at; a backup without one is never\n"
    "used, and its objects are removed by the next backup or prune. The password comes from\n"
    "BINVAULT_SOURCE_PASSWORD or a 0600 config file, and reaches the tool in a 0600 file.\n\n" CMD_STORAGE_HELP,
    backupDefs,
    sizeof(backupDefs) / sizeof(backupDefs[0]),
    NULL,
    0,
    0,
};

/* What the source says about itself, over SQL, before the backup. */
typedef struct SourceInfo {
    bool mysql;
    uint32_t serverId;
    char uuid[64];
    char version[128];
} SourceInfo;

static int
sourceInfo(const BackupOpts *o, const MysqlUrl *url, SourceInfo *si, Err *err) {
    SqlConnOpts co = {0};
    SqlConn *c;
    char *v = NULL;
    int rc = -1;

    co.host = url->host;
    co.port = url->port;
    co.user = url->user;
    co.password = o->password;
    co.passwordFrom = "BINVAULT_SOURCE_PASSWORD";
    if (cmdSslApply(&o->ssl, &co, err) != 0 || (c = sqlConnect(&co, err)) == NULL)
        return -1;
    snprintf(si->version, sizeof(si->version), "%s", sqlConnServerVersion(c));
    si->mysql = strstr(si->version, "MariaDB") == NULL;
    if (sqlQueryValue(c, "SELECT @@log_bin", &v, err) != 0)
        goto out;
    if (v == NULL || strcmp(v, "1") != 0) {
        errSet(err, ERR_SOURCE, "binary logging is off on %s: a backup could not be placed in the archive's binlogs",
               sqlConnUrl(c));
        goto out;
    }
    bvFree(v);
    v = NULL;
    if (sqlQueryValue(c, "SELECT @@server_id", &v, err) != 0)
        goto out;
    si->serverId = v != NULL ? (uint32_t)strtoul(v, NULL, 10) : 0;
    bvFree(v);
    v = NULL;
    if (si->mysql) {
        if (sqlQueryValue(c, "SELECT @@server_uuid", &v, err) != 0)
            goto out;
        snprintf(si->uuid, sizeof(si->uuid), "%s", v != NULL ? v : "");
    }
    rc = 0;
out:
    bvFree(v);
    sqlConnFree(c);
    return rc;
}

/* The first line the tool prints for --version, e.g. "mariadb-backup based on MariaDB server
 * 10.11.6-MariaDB ...": its version is the first word starting with a digit. */
static int
toolVersion(const char *tool, char *out, size_t size, Err *err) {
    const char *argv[] = {tool, "--version", NULL};
    int fds[2], status;
    pid_t pid;
    char buf[1024], *p, *end;
    ssize_t n;
    size_t len = 0;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to create a pipe");
    pid = procSpawn(argv, -1, fds[1], fds[1], 0, err);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    while (len < sizeof(buf) - 1 && (n = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    buf[len] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return errSet(err, ERR_CONFIG, "the backup tool '%s' cannot be run (exit %d); install it or give --tool PATH",
                      tool, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    for (p = buf; *p != '\0'; p++)
        if (*p >= '0' && *p <= '9' && (p == buf || p[-1] == ' ' || p[-1] == '\t'))
            break;
    for (end = p; *end != '\0' && *end != ' ' && *end != '\n' && *end != ',' && *end != '-'; end++)
        ;
    snprintf(out, size, "%.*s", (int)(end - p), p);
    if (out[0] == '\0')
        snprintf(out, size, "unknown");
    return 0;
}

/* The defaults file that hands the password to the tool: mode 0600, in the temporary directory. */
static int
writeDefaults(const char *path, const char *password, Err *err) {
    Buf *b;
    int fd, rc = 0;

    if (password != NULL && strpbrk(password, "\n\r") != NULL)
        return errSet(err, ERR_CONFIG, "the source password holds a line break, which the backup tool's option file "
                                       "cannot carry");
    b = bufNew(256);
    bufAppend(b, "[client]\npassword=\"", 19);
    for (const char *p = password != NULL ? password : ""; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            bufAppend(b, "\\", 1);
        bufAppend(b, p, 1);
    }
    bufAppend(b, "\"\n", 2);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to create '%s'", path);
    else if (fsWriteAll(fd, b->data, b->len) != 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to write '%s'", path);
    if (fd >= 0)
        close(fd);
    bufFree(b);
    return rc;
}

typedef struct Run {
    const BackupOpts *o;
    const MysqlUrl *url;
    const char *tool;
    bool mysql;
    char defaults[4096], log[4096], work[4096];
    pid_t pid;
} Run;

static int
spawnTool(Run *r, int *out, Err *err) {
    char defaultsArg[4200], targetArg[4200], userArg[512], hostArg[512], portArg[64], datadirArg[4200];
    char *argv[16];
    int fds[2], logFd, n = 0;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to create a pipe");
    if ((logFd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        close(fds[0]);
        close(fds[1]);
        return errSetSys(err, ERR_IO, errno, "unable to create '%s'", r->log);
    }
    snprintf(defaultsArg, sizeof(defaultsArg), "--defaults-extra-file=%s", r->defaults);
    snprintf(targetArg, sizeof(targetArg), "--target-dir=%s", r->work);
    snprintf(userArg, sizeof(userArg), "--user=%s", r->url->user != NULL ? r->url->user : "");
    snprintf(hostArg, sizeof(hostArg), "--host=%s", r->url->host);
    snprintf(portArg, sizeof(portArg), "--port=%u", r->url->port);
    argv[n++] = (char *)r->tool;
    argv[n++] = defaultsArg; /* must come first */
    argv[n++] = "--backup";
    argv[n++] = r->mysql ? "--stream=xbstream" : "--stream=mbstream";
    argv[n++] = targetArg;
    argv[n++] = userArg;
    argv[n++] = hostArg;
    argv[n++] = portArg;
    argv[n++] = "--protocol=tcp";
    if (r->o->datadir != NULL) {
        snprintf(datadirArg, sizeof(datadirArg), "--datadir=%s", r->o->datadir);
        argv[n++] = datadirArg;
    }
    argv[n] = NULL;
    /* The tool dies with binvault: a backup nobody stores is of no use. */
    r->pid = procSpawn((const char *const *)argv, -1, fds[1], logFd, PROC_DIE_WITH_PARENT, err);
    close(fds[1]);
    close(logFd);
    if (r->pid < 0) {
        r->pid = 0;
        close(fds[0]);
        return -1;
    }
    *out = fds[0];
    return 0;
}

static void
progressLine(uint64_t read, uint64_t stored, int64_t startUs, bool done) {
    struct timespec now;
    double secs;

    clock_gettime(CLOCK_REALTIME, &now);
    secs = (double)((int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000 - startUs) / 1e6;
    fprintf(stderr, "\rbackup: %.1f MiB read, %.1f MiB stored, %.0f s%s", (double)read / 1048576.0,
            (double)stored / 1048576.0, secs, done ? "\n" : "   ");
    fflush(stderr);
}

/* An interrupted backup's objects are gone: remove what it left here too (parts being compressed,
 * its log, the tool's work directory, a defaults file it did not get to remove). */
static void
abandonedRemoved(void *data, const char *id, uint64_t objects) {
    const char *tmpDir = data;
    char pattern[4200];
    glob_t g;

    fprintf(stderr, "binvault: removed the interrupted backup '%s' (%" PRIu64 " objects)\n", id, objects);
    snprintf(pattern, sizeof(pattern), "%s/binvault-backup-%s[-.]*", tmpDir, id);
    if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        Err err = {0};

        if (fsRemoveTree(g.gl_pathv[i], &err) != 0)
            logWarn("%s", err.msg);
    }
    globfree(&g);
}

/* Remove the objects of backups that an interrupted run left behind, and their local files. */
static void
cleanAbandoned(Archive *archive, const char *host, const char *tmpDir) {
    struct timespec now;
    Err err = {0};

    clock_gettime(CLOCK_REALTIME, &now);
    if (archiveBackupRemoveAbandoned(archive, (int64_t)now.tv_sec * 1000000, host, archiveBackupPidAlive,
                                     abandonedRemoved, (void *)tmpDir, &err) != 0)
        logWarn("unable to remove interrupted backups: %s", err.msg);
}

/* The segment of the archive that holds the backup's point, when the archive has it: a hint. */
static uint64_t
archiveSeqOf(Archive *archive, const ArchiveBasePoint *bp) {
    ArchiveView *v;
    ArchiveCatalog *c = NULL;
    uint64_t seq = 0;
    Err err = {0};

    /* The catalog opened by range, and only the blocks around the point. */
    if ((v = archiveViewOpen(archive, ARCHIVE_LOAD_TOLERANT, &err)) == NULL)
        return 0;
    if (archiveViewLastSeq(v) == 0 || (c = archiveOutlineBaseRange(v, bp, &err)) == NULL ||
        archiveCatalogCount(c) == 0 || archiveBaseNeededSeq(c, bp, &seq, &err) != 0 || seq == UINT64_MAX)
        seq = 0;
    archiveCatalogFree(c);
    archiveViewFree(v);
    return seq;
}

/* The archive must hold the binlogs of the server backed up: a backup is only of use with them. */
static int
checkIdentity(Archive *archive, const SourceInfo *si, Err *err) {
    ArchiveIdentity id;

    if (archiveIdentityRead(archive, &id, err) != 0) {
        if (err->code == ERR_NOTFOUND)
            errAppend(err, "; start 'binvault agent' on the server first: a backup is rolled forward with the "
                           "archive's binlogs");
        return errPrefix(err, "archive '%s'", archiveUrl(archive));
    }
    if ((id.flavour == BINLOG_FLAVOUR_MYSQL) != si->mysql || id.serverId != si->serverId)
        return errSet(err, ERR_CONFIG,
                      "archive '%s' holds the binlogs of %s server_id %" PRIu32 ", not of the source (%s server_id %" PRIu32
                      "): a backup there could not be rolled forward",
                      archiveUrl(archive), id.flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb", id.serverId,
                      si->mysql ? "mysql" : "mariadb", si->serverId);
    return 0;
}

typedef struct Result {
    ArchiveBackup b;
    double seconds;
} Result;

static int
backupRun(const BackupOpts *o, Archive *archive, Result *res, Err *err) {
    MysqlUrl *url = urlMysqlNew(o->source, err);
    const char *tmpDir = o->storage.tmpDir != NULL ? o->storage.tmpDir : "/tmp";
    ArchiveBackupWriteOpts wo = {0};
    ArchiveBackupWriter *w = NULL;
    Mbstream *ms = NULL;
    SourceInfo si = {0};
    ArchiveBasePoint bp = {0};
    Run r = {0};
    char host[256] = "", version[64];
    uint8_t *buf = NULL;
    bool progress = !o->noProgress && !o->json && isatty(2), defaultsGone = false;
    int in = -1, status = 0, rc = -1;
    time_t lastProgress = 0;
    struct timespec end;

    if (url == NULL)
        return -1;
    r.o = o;
    r.url = url;
    if (sourceInfo(o, url, &si, err) != 0 || checkIdentity(archive, &si, err) != 0)
        goto out;
    r.mysql = si.mysql;
    r.tool = o->tool != NULL ? o->tool : si.mysql ? "xtrabackup" : "mariadb-backup";
    if (toolVersion(r.tool, version, sizeof(version), err) != 0)
        goto out;
    gethostname(host, sizeof(host) - 1);
    cleanAbandoned(archive, host, tmpDir);
    wo.partSize = (uint64_t)o->partSize;
    wo.parallel = (unsigned)o->parallel;
    wo.tmpDir = tmpDir;
    wo.host = host;
    wo.pid = getpid();
    if ((w = archiveBackupWriterNew(archive, &wo, err)) == NULL)
        goto out;
    snprintf(r.defaults, sizeof(r.defaults), "%s/binvault-backup-%s.cnf", tmpDir, archiveBackupWriterId(w));
    snprintf(r.log, sizeof(r.log), "%s/binvault-backup-%s.log", tmpDir, archiveBackupWriterId(w));
    snprintf(r.work, sizeof(r.work), "%s/binvault-backup-%s.work", tmpDir, archiveBackupWriterId(w));
    if (writeDefaults(r.defaults, o->password, err) != 0 || spawnTool(&r, &in, err) != 0)
        goto out;
    ms = mbstreamNew();
    mbstreamWatch(ms, "mariadb_backup_binlog_info");
    mbstreamWatch(ms, "xtrabackup_binlog_info");
    buf = bvMalloc(READ_BUF);
    for (;;) {
        ssize_t n = read(in, buf, READ_BUF);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errSetSys(err, ERR_IO, errno, "unable to read the stream of '%s'", r.tool);
            goto out;
        }
        if (n == 0)
            break;
        /* The tool read its options long before it streams: the password leaves the disk now. */
        if (!defaultsGone) {
            unlink(r.defaults);
            defaultsGone = true;
        }
        if (mbstreamFeed(ms, buf, (size_t)n, err) != 0) {
            errPrefix(err, "the stream of '%s'", r.tool);
            goto out;
        }
        if (archiveBackupWriterAppend(w, buf, (size_t)n, err) != 0)
            goto out;
        if (progress && time(NULL) != lastProgress) {
            lastProgress = time(NULL);
            progressLine(archiveBackupWriterStreamBytes(w), archiveBackupWriterStoredBytes(w),
                         archiveBackupWriterStartUs(w), false);
        }
    }
    close(in);
    in = -1;
    while (waitpid(r.pid, &status, 0) < 0 && errno == EINTR)
        ;
    r.pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char tail[LOG_TAIL];

        procLogTail(r.log, 20, '\n', tail, sizeof(tail));
        errSet(err, ERR_SOURCE, "'%s' failed (%s %d); the end of its log:\n%s", r.tool,
               WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail);
        goto out;
    }
    if (mbstreamFinish(ms, err) != 0) {
        errPrefix(err, "the stream of '%s'", r.tool);
        goto out;
    }
    {
        size_t len;
        const uint8_t *info = mbstreamFile(ms, "mariadb_backup_binlog_info", &len);

        if (info == NULL)
            info = mbstreamFile(ms, "xtrabackup_binlog_info", &len);
        if (info == NULL) {
            errSet(err, ERR_SOURCE, "the backup of '%s' holds no binlog info (mariadb_backup_binlog_info or "
                                    "xtrabackup_binlog_info): it could not be placed in the archive's binlogs",
                   r.tool);
            goto out;
        }
        if (archiveBasePointParse((const char *)info, len, &bp, err) != 0) {
            errPrefix(err, "the backup's binlog info");
            goto out;
        }
    }
    if (progress)
        progressLine(archiveBackupWriterStreamBytes(w), archiveBackupWriterStoredBytes(w),
                     archiveBackupWriterStartUs(w), true);
    memset(&res->b, 0, sizeof(res->b));
    snprintf(res->b.tool, sizeof(res->b.tool), "%s", si.mysql ? "xtrabackup" : "mariadb-backup");
    snprintf(res->b.toolVersion, sizeof(res->b.toolVersion), "%s", version);
    snprintf(res->b.stream, sizeof(res->b.stream), "%s", si.mysql ? "xbstream" : "mbstream");
    snprintf(res->b.flavour, sizeof(res->b.flavour), "%s", si.mysql ? "mysql" : "mariadb");
    res->b.serverId = si.serverId;
    snprintf(res->b.serverUuid, sizeof(res->b.serverUuid), "%s", si.uuid);
    {
        char *h = urlMysqlFormat(NULL, url->host, url->port);

        snprintf(res->b.host, sizeof(res->b.host), "%s", h + strlen("mysql://"));
        bvFree(h);
    }
    snprintf(res->b.serverVersion, sizeof(res->b.serverVersion), "%s", si.version);
    res->b.timeline = 1; /* format 1 archives have one timeline */
    snprintf(res->b.file, sizeof(res->b.file), "%s", bp.file);
    res->b.pos = bp.pos;
    res->b.gtidState = bvStrdup(bp.gtid);
    res->b.archiveSeq = archiveSeqOf(archive, &bp);
    clock_gettime(CLOCK_REALTIME, &end);
    res->b.endUs = (int64_t)end.tv_sec * 1000000 + end.tv_nsec / 1000;
    if (archiveBackupWriterFinish(w, &res->b, err) != 0)
        goto out;
    res->seconds = (double)(res->b.endUs - res->b.startUs) / 1e6;
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (r.pid > 0) {
        kill(r.pid, SIGKILL);
        waitpid(r.pid, NULL, 0);
    }
    if (r.defaults[0] != '\0')
        unlink(r.defaults);
    if (r.work[0] != '\0') {
        Err e;

        fsRemoveTree(r.work, &e);
    }
    if (r.log[0] != '\0') {
        if (rc == 0)
            unlink(r.log);
        else
            fprintf(stderr, "binvault: the backup tool's log is kept in '%s'\n", r.log);
    }
    /* An unfinished backup is removed by the writer. */
    archiveBackupWriterFree(w);
    archiveBasePointClear(&bp);
    mbstreamFree(ms);
    bvFree(buf);
    urlMysqlFree(url);
    return rc;
}

static void
printResult(const Result *res, const char *url, bool json) {
    const ArchiveBackup *b = &res->b;

    if (json) {
        Buf *out = bufNew(1024);
        struct rusage ru;

        /* binvault's own peak, not the tool's: what --part-size and --parallel bound. */
        getrusage(RUSAGE_SELF, &ru);

        jsonBufPrintf(out, "{\"id\":");
        jsonBufString(out, b->id, strlen(b->id));
        jsonBufPrintf(out, ",\"archive\":");
        jsonBufString(out, url, strlen(url));
        jsonBufPrintf(out, ",\"tool\":");
        jsonBufString(out, b->tool, strlen(b->tool));
        jsonBufPrintf(out, ",\"tool_version\":");
        jsonBufString(out, b->toolVersion, strlen(b->toolVersion));
        jsonBufPrintf(out, ",\"binlog\":{\"file\":");
        jsonBufString(out, b->file, strlen(b->file));
        jsonBufPrintf(out, ",\"pos\":%" PRIu64 ",\"gtid_state\":", b->pos);
        jsonBufString(out, b->gtidState, strlen(b->gtidState));
        jsonBufPrintf(out, "},\"archive_seq\":%" PRIu64 ",\"stream_len\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
                           ",\"parts\":%" PRIu32 ",\"seconds\":%.1f,\"peak_rss_kib\":%ld}\n",
                      b->archiveSeq, b->streamLen, b->storedBytes, b->parts, res->seconds, ru.ru_maxrss);
        fwrite(out->data, 1, out->len, stdout);
        bufFree(out);
        return;
    }
    printf("backup %s stored in %s: %" PRIu64 " bytes of %s stream in %" PRIu32 " parts (%" PRIu64
           " bytes stored) in %.1f s; consistent at %s:%" PRIu64 ", gtid state %s\n",
           b->id, url, b->streamLen, b->stream, b->parts, b->storedBytes, res->seconds, b->file, b->pos,
           b->gtidState[0] ? b->gtidState : "(none)");
}

int
cmdBackup(int argc, char **argv) {
    BackupOpts o = {0};
    Result res = {0};
    Storage *storage;
    Archive *archive;
    Err err = {0};
    int rc;

    if (!cmdOptions(&backupSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    rc = 0;
    if ((storage = cmdOpenArchive(o.archive, &o.storage, &err)) == NULL) {
        rc = cmdFail(&err);
    } else {
        archive = archiveNew(storage);
        if (archiveUpgradeOnOpen(archive, NULL, &err) != 0 || backupRun(&o, archive, &res, &err) != 0)
            rc = cmdFail(&err);
        else
            printResult(&res, o.archive, o.json);
        bvFree(res.b.gtidState);
        archiveFree(archive);
        storageFree(storage);
    }
    optFree(&backupSet, &o);
    return rc;
}
