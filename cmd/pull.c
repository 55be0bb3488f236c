/*
 * binvault pull: copy a server's binlogs as raw files over the replication protocol, like
 * `mariadb-binlog --read-from-remote-server --raw`.
 *
 * Each file is written as on the server: the magic, the file's FORMAT_DESCRIPTION event, then
 * the events as streamed. Artificial events (the ROTATE that opens the stream, MariaDB's fake
 * GTID_LIST) and heartbeats are not part of a file and are skipped. A real ROTATE ends a file;
 * the next file starts with the FORMAT_DESCRIPTION that follows. A file is written as
 * NAME.tmp.<random> (fsCreateTemp(): created exclusively, never through a symbolic link, since DIR
 * may be writable by others) and renamed to NAME once complete (at its ROTATE, or at the end of
 * the stream).
 *
 * What differs from the server's own files (see docs in `binvault pull --help`): the server
 * clears the FDE's in-use flag (0x0001 of the header flags, byte 21 of the file) when it streams
 * it, so a file that is still open on the server has that bit set there and clear here; the
 * FDE's checksum is computed with the bit clear, so nothing else changes. A stream started inside
 * a file (FILE:POS with POS > 4) or from a GTID holds that file's FDE as the server rewrote it
 * (log_pos 0 and/or create time 0, checksum recomputed) followed by the events from the start
 * point: such a first file is shorter than the server's and its events sit at other offsets.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mysql/client.h"
#include "binlog/event.h"
#include "binlog/gtid.h"
#include "binlog/pos.h"
#include "cmd/cmd.h"
#include "common/bytes.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/url.h"

#define PULL_BUFFER (1024 * 1024)
#define PULL_HEARTBEAT_MS 5000
#define PULL_PASSWORD_ENV "BINVAULT_SOURCE_PASSWORD"

static volatile sig_atomic_t pullStopSignal;

typedef struct Pull {
    const char *dir;
    char pending[512]; /* file named by the last ROTATE, opened at the next FDE */
    char name[512];    /* file being written, "" when none */
    char *path, *tmpPath;
    int fd;
    uint8_t *buf;
    size_t used;
    uint64_t fileBytes;
    unsigned files;
    uint64_t bytes;
} Pull;

static void
pullOnSignal(int sig) {
    pullStopSignal = sig;
}

/* A file name the server may send: no path separator, not hidden, printable. */
static int
pullCheckName(const char *name, Err *err) {
    if (name[0] == '\0' || name[0] == '.')
        return errSet(err, ERR_FORMAT, "the source named an invalid binlog file '%s'", name);
    for (const char *p = name; *p; p++)
        if (!(((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
               *p == '-' || *p == '_')))
            return errSet(err, ERR_FORMAT, "the source named an invalid binlog file '%s'", name);
    return 0;
}

static int
pullFlush(Pull *p, Err *err) {
    if (p->used > 0 && fsWriteAll(p->fd, p->buf, p->used) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to write '%s'", p->tmpPath);
    p->used = 0;
    return 0;
}

static int
pullWrite(Pull *p, const uint8_t *data, size_t len, Err *err) {
    if (p->used + len > PULL_BUFFER) {
        if (pullFlush(p, err) != 0)
            return -1;
        if (len > PULL_BUFFER) {
            if (fsWriteAll(p->fd, data, len) != 0)
                return errSetSys(err, ERR_IO, errno, "unable to write '%s'", p->tmpPath);
            p->fileBytes += len;
            return 0;
        }
    }
    memcpy(p->buf + p->used, data, len);
    p->used += len;
    p->fileBytes += len;
    return 0;
}

static int
pullOpen(Pull *p, const char *name, Err *err) {
    struct stat st;

    if (pullCheckName(name, err) != 0)
        return -1;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->path = bvSprintf("%s/%s", p->dir, name);
    if (lstat(p->path, &st) == 0)
        return errSet(err, ERR_EXISTS, "'%s' already exists: pull into an empty directory or remove it", p->path);
    if ((p->fd = fsCreateTemp(p->path, 0640, &p->tmpPath, err)) < 0)
        return -1;
    p->fileBytes = 0;
    return pullWrite(p, (const uint8_t *)BINLOG_MAGIC, BINLOG_MAGIC_LEN, err);
}

/* Finish the current file: flush, fsync, close, rename the temporary file to NAME. */
static int
pullClose(Pull *p, Err *err) {
    int rc = 0;

    if (p->fd < 0)
        return 0;
    if (pullFlush(p, err) != 0)
        rc = -1;
    else if (fsync(p->fd) != 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to fsync '%s'", p->tmpPath);
    if (close(p->fd) != 0 && rc == 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to close '%s'", p->tmpPath);
    p->fd = -1;
    if (rc == 0)
        rc = fsRenameDurable(p->tmpPath, p->path, err);
    if (rc == 0) {
        printf("%s\t%" PRIu64 "\n", p->name, p->fileBytes);
        fflush(stdout);
        p->files++;
        p->bytes += p->fileBytes;
    }
    p->name[0] = '\0';
    bvFree(p->path);
    bvFree(p->tmpPath);
    p->path = p->tmpPath = NULL;
    return rc;
}

static int
pullEvent(Pull *p, BinlogClient *client, const uint8_t *ev, size_t len, Err *err) {
    uint8_t type = ev[4];
    uint16_t flags = rdU16(ev + 17);
    const char *file = binlogClientFile(client);

    if (type == BINLOG_HEARTBEAT || type == BINLOG_HEARTBEAT_V2)
        return 0;
    if (type == BINLOG_ROTATE) {
        if (flags & BINLOG_FLAG_ARTIFICIAL) {
            /* Names the file the stream is in: a new one unless it is the file being written. */
            if (p->fd >= 0 && strcmp(p->name, file) == 0)
                return 0;
            if (pullClose(p, err) != 0)
                return -1;
        } else {
            /* The last event of a file: it belongs to it. */
            if (p->fd < 0)
                return errSet(err, ERR_FORMAT, "the source sent a ROTATE outside any binlog file");
            if (pullWrite(p, ev, len, err) != 0 || pullClose(p, err) != 0)
                return -1;
        }
        snprintf(p->pending, sizeof(p->pending), "%s", file);
        return 0;
    }
    if (type == BINLOG_FORMAT_DESCRIPTION && p->pending[0] != '\0') {
        if (pullClose(p, err) != 0 || pullOpen(p, p->pending, err) != 0)
            return -1;
        p->pending[0] = '\0';
        return pullWrite(p, ev, len, err);
    }
    if (flags & BINLOG_FLAG_ARTIFICIAL)
        return 0;
    if (p->fd < 0)
        return errSet(err, ERR_FORMAT, "the source sent an event (type %u) before naming its binlog file", type);
    return pullWrite(p, ev, len, err);
}

typedef struct PullOpts {
    char *source, *password, *to, *startGtid;
    BinlogPos startPosition;
    int64_t serverId; /* 0: not given */
    bool stopAtEnd;
    CmdSsl ssl;
} PullOpts;

#define PULL_OPT(field) offsetof(PullOpts, field)
#define PULL_SSL(field) offsetof(PullOpts, ssl.field)

static const OptDef pullDefs[] = {
    {"source", OPT_URL, NULL, 0, 0, OPT_REQUIRED, PULL_OPT(source), NULL,
     "the server, mysql://USER@HOST[:PORT] (port 3306 by default)", cmdMysqlSchemes, NULL},
    {"source-password", OPT_STRING, NULL, 0, 0, OPT_SECRET, PULL_OPT(password), PULL_PASSWORD_ENV,
     "password of the source user", NULL, NULL},
    {"to", OPT_STRING, NULL, 0, 0, OPT_REQUIRED, PULL_OPT(to), NULL,
     "output directory (created; existing files are never overwritten)", NULL, NULL},
    {"server-id", OPT_INT, NULL, 1, UINT32_MAX, 0, PULL_OPT(serverId), NULL,
     "server id to replicate as (default 1073741824 + pid); must be unique among the server's replicas", NULL, NULL},
    {"start-position", OPT_POSITION, NULL, 0, 0, 0, PULL_OPT(startPosition), NULL,
     "start in binlog FILE at position POS (default 4); default: the first binlog the server has", NULL,
     binlogPosOptParseStart},
    {"start-gtid", OPT_STRING, NULL, 0, 0, 0, PULL_OPT(startGtid), NULL,
     "start after this GTID position (MariaDB '0-1-100,1-2-7') or GTID set (MySQL 'uuid:1-100')", NULL, NULL},
    {"stop-at-end", OPT_BOOL, NULL, 0, 0, 0, PULL_OPT(stopAtEnd), NULL,
     "stop at the server's current end instead of waiting for more", NULL, NULL},
    CMD_SSL_OPTDEFS(PULL_SSL),
};

static const OptSet pullSet = {
    "pull",
    "binvault pull --source mysql://USER@HOST[:PORT] --to DIR [--server-id N]\n"
    "                     [--start-position FILE[:POS] | --start-gtid GTID] [--stop-at-end]",
    "Connects as a replica and writes the server's binlogs into DIR as raw files named as on the\n"
    "server (like mariadb-binlog --read-from-remote-server --raw). The password is read from\n"
    "BINVAULT_SOURCE_PASSWORD; the user needs the REPLICATION SLAVE privilege.\n\n"
    "Each completed file is printed as 'NAME<TAB>BYTES'; a file is written as NAME.tmp and\n"
    "renamed when complete. Files are byte-identical to the server's, except that the FDE's\n"
    "in-use flag (bit 0x01 of byte 21) is clear in a file that is still open on the server;\n"
    "a pull started inside a file or from a GTID begins that file with its FDE followed by the\n"
    "events from the start point. SIGINT/SIGTERM end the pull after the current event.",
    pullDefs,
    sizeof(pullDefs) / sizeof(pullDefs[0]),
    NULL,
    0,
    0,
};

static int
pullStart(BinlogClient *client, const char *startFile, uint64_t startPos, const char *startGtid, Err *err) {
    if (startGtid == NULL)
        return binlogClientStartFile(client, startFile, startPos, err);
    if (binlogClientFlavour(client) == BINLOG_FLAVOUR_MARIADB) {
        MariaGtidPos *pos = mariaGtidPosNew();
        int rc = mariaGtidPosParse(pos, startGtid, err);

        mariaGtidPosFree(pos);
        if (rc != 0) {
            err->code = ERR_USAGE;
            return errPrefix(err, "--start-gtid");
        }
        return binlogClientStartMariaGtid(client, startGtid, err);
    } else {
        GtidSet *set = gtidSetNew();
        uint8_t *enc;
        size_t len;
        int rc;

        if (gtidSetParse(set, startGtid, err) != 0) {
            gtidSetFree(set);
            err->code = ERR_USAGE;
            return errPrefix(err, "--start-gtid");
        }
        enc = gtidSetEncode(set, &len);
        gtidSetFree(set);
        rc = binlogClientStartMysqlGtid(client, enc, len, err);
        bvFree(enc);
        return rc;
    }
}

static int
pullRun(Pull *p, BinlogClient *client, const char *startFile, uint64_t startPos, const char *startGtid, Err *err) {
    const uint8_t *ev;
    size_t len;
    int rc;

    if (binlogClientConnect(client, err) != 0 || pullStart(client, startFile, startPos, startGtid, err) != 0)
        return -1;
    while ((rc = binlogClientRead(client, &ev, &len, err)) == 1) {
        if (pullEvent(p, client, ev, len, err) != 0)
            return -1;
        if (pullStopSignal)
            break;
    }
    if (rc < 0) {
        if (!pullStopSignal)
            return -1;
        logInfo("pull interrupted by signal %d", (int)pullStopSignal);
    }
    return pullClose(p, err);
}

static int pullMain(const PullOpts *o);

int
cmdPull(int argc, char **argv) {
    PullOpts o = {0};
    int rc;

    if (!cmdOptions(&pullSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    rc = pullMain(&o);
    optFree(&pullSet, &o);
    return rc;
}

/* The pull the options ask for; the exit code. */
static int
pullMain(const PullOpts *o) {
    const char *source = o->source, *to = o->to, *startGtid = o->startGtid;
    const char *startFile = o->startPosition.file[0] != '\0' ? o->startPosition.file : NULL;
    uint64_t startPos = o->startPosition.file[0] != '\0' ? o->startPosition.pos : 4;
    uint32_t serverId = o->serverId != 0 ? (uint32_t)o->serverId : 0x40000000u + ((uint32_t)getpid() & 0x3fffffffu);
    BinlogClientOpts opts;
    BinlogClient *client;
    MysqlUrl *url;
    Pull p = {0};
    struct sigaction sa;
    Err err;
    int rc;

    if (startFile != NULL && startGtid != NULL) {
        errSet(&err, ERR_USAGE, "--start-position and --start-gtid exclude each other");
        return cmdFail(&err);
    }
    if ((url = urlMysqlNew(source, &err)) == NULL)
        return cmdFail(&err);
    if (url->user == NULL) {
        errSet(&err, ERR_USAGE, "--source '%s' names no user: expected mysql://USER@HOST[:PORT]", source);
        urlMysqlFree(url);
        return cmdFail(&err);
    }
    if (fsMkdirP(to, 0750, &err) != 0) {
        urlMysqlFree(url);
        return cmdFail(&err);
    }

    binlogClientOptsInit(&opts);
    opts.conn.host = url->host;
    opts.conn.port = url->port;
    opts.conn.socket = url->socket;
    opts.conn.user = url->user;
    opts.conn.password = o->password;
    opts.conn.passwordFrom = PULL_PASSWORD_ENV;
    opts.serverId = serverId;
    opts.heartbeatMs = PULL_HEARTBEAT_MS;
    opts.nonBlocking = o->stopAtEnd;
    if (cmdSslApply(&o->ssl, &opts.conn, &err) != 0) {
        urlMysqlFree(url);
        return cmdFail(&err);
    }
    client = binlogClientNew(&opts);
    urlMysqlFree(url);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = pullOnSignal;
    sa.sa_flags = SA_RESETHAND; /* a second signal kills as usual */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        logWarn("unable to catch SIGINT/SIGTERM: %s", strerror(errno));

    p.dir = to;
    p.fd = -1;
    p.buf = bvMalloc(PULL_BUFFER);
    rc = pullRun(&p, client, startFile, startPos, startGtid, &err);
    if (rc != 0 && p.fd >= 0) {
        /* Keep what was received, as the temporary file: whole events up to the failure. */
        Err ignored;

        if (pullFlush(&p, &ignored) == 0)
            logWarn("kept the incomplete '%s'", p.tmpPath);
        close(p.fd);
    }
    bvFree(p.path);
    bvFree(p.tmpPath);
    bvFree(p.buf);
    binlogClientFree(client);
    if (rc != 0)
        return cmdFail(&err);
    logInfo("pulled %u files, %" PRIu64 " bytes into '%s'", p.files, p.bytes, to);
    return 0;
}
