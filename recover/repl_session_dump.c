/*
 * A session's replication commands: COM_REGISTER_SLAVE, and COM_BINLOG_DUMP, which streams the
 * source's events through a ReplStream (repl_stream.c) to the replica, with heartbeats while the
 * source has nothing, until the replica leaves, reaches its UNTIL position or the server stops.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "binlog/event.h"
#include "binlog/gtid.h"
#include "common/buf.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/repl_internal.h"
#include "recover/replserver.h"

#define SOURCE_RETRY_MS 100
#define DIRECT_EVENT (1024 * 1024) /* larger events are written without a copy */
#define DUMP_FLAG_NON_BLOCK 0x01
#define DUMP_FLAG_ANNOTATE_ROWS 0x02
#define MARIA_SLAVE_CAPABILITY_GTID 4

/* ---- COM_REGISTER_SLAVE ---- */

/* A length-prefixed (u8) string of COM_REGISTER_SLAVE. */
static bool
takeShortString(const uint8_t *p, size_t len, size_t *off, char *out, size_t size) {
    size_t n;

    if (*off >= len)
        return false;
    n = p[(*off)++];
    if (n > len - *off)
        return false;
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), (const char *)p + *off);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
    *off += n;
    return true;
}

int
replRegisterSlaveParse(const uint8_t *p, size_t len, ReplRegisterSlave *r, Err *err) {
    char password[8];
    size_t off = 4;

    memset(r, 0, sizeof(*r));
    if (len < 4 || !takeShortString(p, len, &off, r->host, sizeof(r->host)) ||
        !takeShortString(p, len, &off, r->user, sizeof(r->user)) ||
        !takeShortString(p, len, &off, password, sizeof(password)) || len - off < 2 + 4 + 4)
        return errSet(err, ERR_FORMAT, "malformed COM_REGISTER_SLAVE (%zu bytes)", len);
    r->serverId = rdU32(p);
    r->port = rdU16(p + off);
    return 0;
}

int
replSessionRegister(ReplSession *s, const uint8_t *p, size_t len, Err *err) {
    ReplRegisterSlave r;

    if (replRegisterSlaveParse(p, len, &r, err) != 0) {
        replSessionSendErr(s, ER_MASTER_FATAL_ERROR_READING_BINLOG, "HY000", "malformed COM_REGISTER_SLAVE", &(Err){0});
        return errSet(err, ERR_FORMAT, "malformed COM_REGISTER_SLAVE from the replica at %s", s->peer);
    }
    s->replicaServerId = r.serverId;
    logInfo("replica registered: server_id %" PRIu32 ", report host '%s', port %u", s->replicaServerId, r.host, r.port);
    pthread_mutex_lock(&s->srv->lock);
    s->srv->status.replicaServerId = s->replicaServerId;
    pthread_mutex_unlock(&s->srv->lock);
    return replSessionSendOk(s, err);
}

/* ---- COM_BINLOG_DUMP ---- */

int
replBinlogDumpParse(const uint8_t *p, size_t len, ReplBinlogDump *d, Err *err) {
    memset(d, 0, sizeof(*d));
    if (len < 10 || len - 10 >= sizeof(d->file))
        return errSet(err, ERR_FORMAT, "malformed COM_BINLOG_DUMP (%zu bytes)", len);
    d->startPos = rdU32(p);
    d->flags = rdU16(p + 4);
    d->serverId = rdU32(p + 6);
    memcpy(d->file, p + 10, len - 10);
    d->file[len - 10] = '\0';
    if (strlen(d->file) != len - 10 || strchr(d->file, '/') != NULL)
        return errSet(err, ERR_FORMAT, "COM_BINLOG_DUMP names an invalid binlog file");
    return 0;
}

/* Write framed bytes of a large event: small pieces (packet headers) through the output buffer,
 * the event's bytes straight from the source's buffer, so that nothing of it is copied. */
static int
sockWriteFn(void *ctx, const void *data, size_t len, Err *err) {
    ReplSession *s = ctx;
    const uint8_t *p = data;

    if (len < REPL_READ_CHUNK) {
        bufAppend(s->out, data, len);
        return s->out->len >= REPL_FLUSH_AT ? replSessionFlush(s, err) : 0;
    }
    if (replSessionFlush(s, err) != 0)
        return -1;
    while (len > 0) {
        ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        ReplWait w;

        if (n > 0) {
            p += n;
            len -= (size_t)n;
            pthread_mutex_lock(&s->srv->lock);
            s->srv->status.bytesSent += (uint64_t)n;
            pthread_mutex_unlock(&s->srv->lock);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            s->gone = true;
            return errSetSys(err, ERR_TARGET, errno, "unable to send to the replica at %s", s->peer);
        }
        if ((w = replSessionWait(s, POLLOUT, (int)s->srv->writeTimeoutMs)) != REPL_WAIT_READY) {
            s->gone = true;
            return errSet(err, ERR_TARGET, "%s",
                          w == REPL_WAIT_STOP      ? "the server is stopping"
                          : w == REPL_WAIT_TIMEOUT ? "the replica read nothing for the write timeout"
                                                   : "the replica closed the connection");
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &s->lastSend);
    return 0;
}

static int
emitEvent(void *ctx, const uint8_t *ev, size_t len, Err *err) {
    ReplSession *s = ctx;
    static const uint8_t ok = 0x00;

    if (len >= DIRECT_EVENT) {
        if (replSessionFlush(s, err) != 0)
            return -1;
        return replPacketWrite(sockWriteFn, s, &s->seq, &ok, 1, ev, len, err);
    }
    replSessionPacket(s, &ok, 1, ev, len);
    return s->out->len >= REPL_FLUSH_AT ? replSessionFlush(s, err) : 0;
}

/* What a COM_BINLOG_DUMP asks for, with the session variables set before it. */
typedef struct DumpRequest {
    ReplStreamConfig cfg;
    MariaGtidPos *connect; /* empty in position mode */
    MariaGtidPos *until;   /* NULL without UNTIL */
    char file[256];
    uint16_t flags;
    uint64_t heartbeatMs;  /* 0 = none */
} DumpRequest;

static void
dumpRequestClear(DumpRequest *r) {
    mariaGtidPosFree(r->connect);
    mariaGtidPosFree(r->until);
    r->connect = r->until = NULL;
}

static int
dumpRequestParse(ReplSession *s, const uint8_t *p, size_t len, DumpRequest *r, Err *err) {
    const char *v;
    bool present;
    ReplBinlogDump dump;

    memset(r, 0, sizeof(*r));
    if (replBinlogDumpParse(p, len, &dump, err) != 0)
        return errPrefix(err, "from the replica at %s", s->peer);
    r->cfg.startPos = dump.startPos;
    r->flags = dump.flags;
    s->replicaServerId = dump.serverId;
    memcpy(r->file, dump.file, sizeof(r->file));
    v = replSessionVarGet(s, "mariadb_slave_capability", &present);
    if (!present || strtoll(v, NULL, 10) < MARIA_SLAVE_CAPABILITY_GTID)
        return errSet(err, ERR_TARGET,
                      "binvault serves MariaDB GTID binlogs and needs a replica that announces GTID support "
                      "(@mariadb_slave_capability=4, MariaDB 10.0 or later); it announced %s",
                      present ? v : "nothing");
    v = replSessionVarGet(s, "master_binlog_checksum", &present);
    if (!present)
        r->cfg.connectAlg = BINLOG_CHECKSUM_UNDEF;
    else if (strcasecmp(v, "CRC32") == 0)
        r->cfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    else if (strcasecmp(v, "NONE") == 0)
        r->cfg.connectAlg = BINLOG_CHECKSUM_OFF;
    else
        return errSet(err, ERR_TARGET, "unknown @master_binlog_checksum '%s' (expected CRC32 or NONE)", v);
    r->connect = mariaGtidPosNew();
    v = replSessionVarGet(s, "slave_connect_state", &present);
    if (present) {
        if (mariaGtidPosParse(r->connect, v, err) != 0)
            return errPrefix(err, "@slave_connect_state");
        r->cfg.gtidMode = true;
        r->cfg.connect = r->connect;
        v = replSessionVarGet(s, "slave_until_gtid", &present);
        if (present) {
            r->until = mariaGtidPosNew();
            if (mariaGtidPosParse(r->until, v, err) != 0)
                return errPrefix(err, "@slave_until_gtid");
            r->cfg.until = r->until;
        }
    }
    v = replSessionVarGet(s, "master_heartbeat_period", &present);
    if (present)
        r->heartbeatMs = strtoull(v, NULL, 10) / 1000000u;
    r->cfg.serverId = s->srv->serverId;
    r->cfg.startFile = r->file;
    r->cfg.sendAnnotateRows = (r->flags & DUMP_FLAG_ANNOTATE_ROWS) != 0;
    r->cfg.skipReplication = s->skipReplication;
    r->cfg.replicaServerId = s->replicaServerId;
    return 0;
}

static void
dumpLogStart(const ReplSession *s, const DumpRequest *r) {
    char *from = mariaGtidPosFormat(r->connect);
    char *to = r->until ? mariaGtidPosFormat(r->until) : NULL;

    if (r->cfg.gtidMode)
        logInfo("replica server_id %" PRIu32 " asks for the binlog stream after gtid '%s'%s%s%s, heartbeat %" PRIu64
                " ms", s->replicaServerId, from, to ? " until '" : "", to ? to : "", to ? "'" : "", r->heartbeatMs);
    else
        logInfo("replica server_id %" PRIu32 " asks for the binlog stream at '%s':%" PRIu32 ", heartbeat %" PRIu64
                " ms", s->replicaServerId, r->file[0] ? r->file : "(first)", r->cfg.startPos, r->heartbeatMs);
    bvFree(from);
    bvFree(to);
}

/* Publish the stream's position and counters (the part not published yet). */
static void
dumpPublish(ReplSession *s, const ReplStream *st, bool endOfSource, uint64_t *sentDone, uint64_t *skippedDone) {
    ReplServerStatus *status = &s->srv->status;
    uint64_t sent = replStreamEventsSent(st), skipped = replStreamGroupsSkipped(st);

    pthread_mutex_lock(&s->srv->lock);
    snprintf(status->file, sizeof(status->file), "%s", replStreamFile(st));
    status->pos = replStreamPos(st);
    status->endOfSource = endOfSource;
    status->eventsSent += sent - *sentDone;
    status->groupsSkipped += skipped - *skippedDone;
    pthread_mutex_unlock(&s->srv->lock);
    *sentDone = sent;
    *skippedDone = skipped;
}

/* The source has nothing now: a heartbeat when one is due, then wait a little, watching the
 * replica (which sends nothing during a dump but to leave) and the stop request. */
static int
dumpIdle(ReplSession *s, ReplStream *st, uint64_t heartbeatMs, Err *err) {
    struct timespec now;
    uint64_t idle, wait = SOURCE_RETRY_MS;
    ReplWait w;

    clock_gettime(CLOCK_MONOTONIC, &now);
    idle = (uint64_t)(now.tv_sec - s->lastSend.tv_sec) * 1000u +
           (uint64_t)((now.tv_nsec - s->lastSend.tv_nsec) / 1000000);
    if (heartbeatMs > 0 && idle >= heartbeatMs) {
        if (replStreamHeartbeat(st, err) != 0 || replSessionFlush(s, err) != 0)
            return -1;
        idle = 0;
    }
    if (heartbeatMs > 0 && heartbeatMs - idle < wait)
        wait = heartbeatMs - idle;
    w = replSessionWait(s, POLLIN, (int)wait);
    if (w == REPL_WAIT_TIMEOUT)
        return 0;
    s->gone = true;
    if (w == REPL_WAIT_READY && replSessionRead(s, 1000, REPL_COMMAND_MAX, err) == 1)
        return errSet(err, ERR_TARGET, "the replica at %s sent command 0x%02x during the binlog dump", s->peer,
                      s->payload->len ? s->payload->data[0] : 0);
    if (w == REPL_WAIT_STOP)
        return errSet(err, ERR_TARGET, "the server is stopping");
    if (w == REPL_WAIT_GONE)
        return errSet(err, ERR_TARGET, "the replica at %s closed the connection", s->peer);
    return -1; /* replSessionRead() said why */
}

/* The dump failed: tell the replica (it stops with error 1236) and the caller. */
static int
dumpFail(ReplSession *s, Err *err) {
    if (!s->gone)
        replSessionSendErr(s, ER_MASTER_FATAL_ERROR_READING_BINLOG, "HY000", err->msg, &(Err){0});
    return -1;
}

int
replSessionDump(ReplSession *s, const uint8_t *p, size_t len, Err *err) {
    ReplServer *srv = s->srv;
    DumpRequest req;
    ReplStream *st = NULL;
    uint64_t sentDone = 0, skippedDone = 0;
    bool atEnd = false;
    int rc = -1;

    if (dumpRequestParse(s, p, len, &req, err) != 0)
        goto done;
    dumpLogStart(s, &req);
    pthread_mutex_lock(&srv->lock);
    srv->status.streaming = true;
    srv->status.untilReached = false;
    srv->status.dumps++;
    srv->status.replicaServerId = s->replicaServerId;
    pthread_mutex_unlock(&srv->lock);

    st = replStreamNew(&req.cfg, emitEvent, s);
    if (srv->source.open(srv->source.data, req.connect, err) != 0) {
        errPrefix(err, "unable to start the binlog stream");
        goto done;
    }
    for (uint64_t n = 1;; n++) {
        const uint8_t *ev;
        size_t evLen;
        int got, fed;

        if (atomic_load(&srv->stopping)) {
            s->gone = true;
            errSet(err, ERR_TARGET, "the server is stopping");
            goto done;
        }
        got = srv->source.next(srv->source.data, &ev, &evLen, err);
        if (got < 0) {
            errPrefix(err, "binlog source");
            goto done;
        }
        atEnd = got == 0;
        if (got == 0) {
            if (replSessionFlush(s, err) != 0)
                goto done;
            dumpPublish(s, st, true, &sentDone, &skippedDone);
            if (req.flags & DUMP_FLAG_NON_BLOCK) {
                rc = replSessionSendEof(s, err);
                goto done;
            }
            if (dumpIdle(s, st, req.heartbeatMs, err) != 0)
                goto done;
            continue;
        }
        fed = replStreamFeed(st, srv->source.file(srv->source.data), ev, evLen, err);
        if (fed < 0)
            goto done;
        if (fed == 1) {
            logInfo("replica server_id %" PRIu32 " reached its UNTIL position at '%s':%" PRIu64, s->replicaServerId,
                    replStreamFile(st), replStreamPos(st));
            pthread_mutex_lock(&srv->lock);
            srv->status.untilReached = true;
            pthread_mutex_unlock(&srv->lock);
            rc = replSessionSendEof(s, err);
            goto done;
        }
        if ((n & 63) == 0)
            dumpPublish(s, st, false, &sentDone, &skippedDone);
    }
done:
    if (rc != 0)
        dumpFail(s, err);
    if (st != NULL) {
        dumpPublish(s, st, atEnd, &sentDone, &skippedDone);
        logInfo("binlog stream to replica server_id %" PRIu32 " ended at '%s':%" PRIu64 ": %" PRIu64
                " events sent, %" PRIu64 " groups skipped", s->replicaServerId, replStreamFile(st), replStreamPos(st),
                replStreamEventsSent(st), replStreamGroupsSkipped(st));
    }
    pthread_mutex_lock(&srv->lock);
    srv->status.streaming = false;
    pthread_mutex_unlock(&srv->lock);
    replStreamFree(st);
    dumpRequestClear(&req);
    return rc;
}
