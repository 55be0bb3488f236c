/*
 * binvault pull: copy a server's binlogs as raw files over the replication protocol, like
 * `mariadb-binlog --read-from-remote-server --raw`.
 *
 * Each file is written as on the server: the magic, the file's FORMAT_DESCRIPTION event, then
 * the events as streamed. Artificial events (the ROTATE that opens the stream, MariaDB's fake
 * GTID_LIST) and heartbeats are not part of a file and are skipped. A real ROTATE ends a file;
 * the next file starts with the FORMAT_DESCRIPTION that follows. A file is written as NAME.tmp and
 * renamed to NAME once complete (at its ROTATE, or at the end of the stream).
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
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mysql/client.h"
#include "binlog/event.h"
#include "binlog/gtid.h"
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
    p->tmpPath = bvSprintf("%s/%s.tmp", p->dir, name);
    if (stat(p->path, &st) == 0)
        return errSet(err, ERR_EXISTS, "'%s' already exists: pull into an empty directory or remove it", p->path);
    p->fd = open(p->tmpPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (p->fd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to create '%s'", p->tmpPath);
    p->fileBytes = 0;
    return pullWrite(p, (const uint8_t *)BINLOG_MAGIC, BINLOG_MAGIC_LEN, err);
}

/* Finish the current file: flush, fsync, close, rename NAME.tmp to NAME. */
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

static void
pullUsage(FILE *out) {
    fputs("usage: binvault pull --source mysql://USER@HOST[:PORT] --to DIR [--server-id N]\n"
          "                     [--start-position FILE[:POS] | --start-gtid GTID] [--stop-at-end]\n\n"
          "Connects as a replica and writes the server's binlogs into DIR as raw files named as on the\n"
          "server (like mariadb-binlog --read-from-remote-server --raw). The password is read from\n"
          "BINVAULT_SOURCE_PASSWORD; the user needs the REPLICATION SLAVE privilege.\n\n"
          "  --source URL            the server, mysql://USER@HOST[:PORT] (port 3306 by default)\n"
          "  --to DIR                output directory (created; existing files are never overwritten)\n"
          "  --server-id N           server id to replicate as (default 1073741824 + pid); must be\n"
          "                          unique among the server's replicas\n"
          "  --start-position F[:P]  start in binlog F at position P (default 4); default: the first\n"
          "                          binlog the server has\n"
          "  --start-gtid GTID       start after this GTID position (MariaDB '0-1-100,1-2-7') or GTID\n"
          "                          set (MySQL 'uuid:1-100')\n"
          "  --stop-at-end           stop at the server's current end instead of waiting for more\n\n"
          "Each completed file is printed as 'NAME<TAB>BYTES'; a file is written as NAME.tmp and\n"
          "renamed when complete. Files are byte-identical to the server's, except that the FDE's\n"
          "in-use flag (bit 0x01 of byte 21) is clear in a file that is still open on the server;\n"
          "a pull started inside a file or from a GTID begins that file with its FDE followed by the\n"
          "events from the start point. SIGINT/SIGTERM end the pull after the current event.\n",
          out);
    fputs(CMD_SSL_HELP, out);
}

static int
pullParseStart(const char *text, char **file, uint64_t *pos, Err *err) {
    const char *colon = strrchr(text, ':');
    char *end;
    unsigned long long v;

    *pos = 4;
    if (colon == NULL) {
        *file = bvStrdup(text);
    } else {
        errno = 0;
        v = strtoull(colon + 1, &end, 10);
        if (colon[1] == '\0' || *end != '\0' || errno != 0 || v < 4 || v > UINT32_MAX || colon[1] == '-')
            return errSet(err, ERR_USAGE, "invalid --start-position '%s': expected FILE:POS with POS from 4 to %u",
                          text, UINT32_MAX);
        *pos = v;
        *file = bvStrndup(text, (size_t)(colon - text));
    }
    if ((*file)[0] == '\0' || strchr(*file, '/') != NULL) {
        bvFree(*file);
        *file = NULL;
        return errSet(err, ERR_USAGE, "invalid --start-position '%s': expected a binlog file name", text);
    }
    return 0;
}

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

int
cmdPull(int argc, char **argv) {
    static const struct option longOpts[] = {
        {"source", required_argument, NULL, 's'},         {"to", required_argument, NULL, 't'},
        {"server-id", required_argument, NULL, 'i'},      {"start-position", required_argument, NULL, 'p'},
        {"start-gtid", required_argument, NULL, 'g'},     {"stop-at-end", no_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},                 CMD_SSL_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    CmdSsl ssl = {0};
    const char *source = NULL, *to = NULL, *startText = NULL, *startGtid = NULL;
    char *startFile = NULL;
    uint64_t startPos = 4;
    uint32_t serverId = 0x40000000u + ((uint32_t)getpid() & 0x3fffffffu);
    bool stopAtEnd = false;
    BinlogClientOpts opts;
    BinlogClient *client;
    MysqlUrl *url;
    Pull p = {0};
    struct sigaction sa;
    Err err;
    int c, rc;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longOpts, NULL)) != -1) {
        switch (c) {
        case 's': source = optarg; break;
        case 't': to = optarg; break;
        case 'p': startText = optarg; break;
        case 'g': startGtid = optarg; break;
        case 'e': stopAtEnd = true; break;
        case 'i': {
            char *end;
            unsigned long long v;

            errno = 0;
            v = strtoull(optarg, &end, 10);
            if (optarg[0] == '\0' || optarg[0] == '-' || *end != '\0' || errno != 0 || v == 0 || v > UINT32_MAX) {
                errSet(&err, ERR_USAGE, "invalid --server-id '%s': expected 1 to %u", optarg, UINT32_MAX);
                return cmdFail(&err);
            }
            serverId = (uint32_t)v;
            break;
        }
        case 'h': pullUsage(stdout); return 0;
        default:
            if (cmdSslOption(c, optarg, &ssl))
                break;
            pullUsage(stderr);
            return 64;
        }
    }
    if (optind < argc || source == NULL || to == NULL) {
        pullUsage(stderr);
        return 64;
    }
    if (startText != NULL && startGtid != NULL) {
        errSet(&err, ERR_USAGE, "--start-position and --start-gtid exclude each other");
        return cmdFail(&err);
    }
    if (startText != NULL && pullParseStart(startText, &startFile, &startPos, &err) != 0)
        return cmdFail(&err);
    if ((url = urlMysqlNew(source, &err)) == NULL) {
        bvFree(startFile);
        return cmdFail(&err);
    }
    if (url->user == NULL) {
        errSet(&err, ERR_USAGE, "--source '%s' names no user: expected mysql://USER@HOST[:PORT]", source);
        urlMysqlFree(url);
        bvFree(startFile);
        return cmdFail(&err);
    }
    if (fsMkdirP(to, 0750, &err) != 0) {
        urlMysqlFree(url);
        bvFree(startFile);
        return cmdFail(&err);
    }

    binlogClientOptsInit(&opts);
    opts.conn.host = url->host;
    opts.conn.port = url->port;
    opts.conn.user = url->user;
    opts.conn.password = getenv(PULL_PASSWORD_ENV);
    opts.conn.passwordFrom = PULL_PASSWORD_ENV;
    opts.serverId = serverId;
    opts.heartbeatMs = PULL_HEARTBEAT_MS;
    opts.nonBlocking = stopAtEnd;
    if (cmdSslApply(&ssl, &opts.conn, &err) != 0) {
        urlMysqlFree(url);
        bvFree(startFile);
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
        /* Keep what was received, as NAME.tmp: whole events up to the failure. */
        Err ignored;

        if (pullFlush(&p, &ignored) == 0)
            logWarn("kept the incomplete '%s'", p.tmpPath);
        close(p.fd);
    }
    bvFree(p.path);
    bvFree(p.tmpPath);
    bvFree(p.buf);
    bvFree(startFile);
    binlogClientFree(client);
    if (rc != 0)
        return cmdFail(&err);
    logInfo("pulled %u files, %" PRIu64 " bytes into '%s'", p.files, p.bytes, to);
    return 0;
}
