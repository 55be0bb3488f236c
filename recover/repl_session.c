/*
 * One replica connection (see repl_internal.h): non-blocking socket I/O with poll timeouts that
 * also watch the stop request and refuse other connections, the login, the session's user
 * variables, and the command loop that dispatches to the queries (repl_session_sql.c) and the
 * replication commands (repl_session_dump.c). Runs in the server's thread.
 *
 * Protocol references (learned from, not copied): the MariaDB client/server protocol pages
 * (handshake v10, HandshakeResponse41, AuthSwitchRequest, command phase).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/retry.h"
#include "recover/repl_internal.h"
#include "recover/replserver.h"

#define HANDSHAKE_TIMEOUT_MS 10000

/* ---- Socket I/O ---- */

ReplWait
replSessionWait(ReplSession *s, short events, int timeoutMs) {
    uint64_t deadline = timeoutMs < 0 ? 0 : retryNowMs() + (uint64_t)timeoutMs;
    nfds_t nfds = 3;

    for (;;) {
        struct pollfd pfd[3] = {
            {s->fd, (short)(events | POLLRDHUP), 0},
            {s->srv->stopPipe[0], POLLIN, 0},
            {s->srv->listenFd, POLLIN, 0},
        };
        int wait = -1, rc;

        if (timeoutMs >= 0) {
            uint64_t now = retryNowMs();

            wait = now >= deadline ? 0 : (int)(deadline - now);
        }
        rc = poll(pfd, nfds, wait);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            logError("poll failed: %s", strerror(errno));
            return REPL_WAIT_GONE;
        }
        if (pfd[1].revents)
            return REPL_WAIT_STOP;
        if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
            return REPL_WAIT_GONE;
        /* A half-closed socket is still read to its end (POLLIN is set with POLLRDHUP). */
        if (pfd[0].revents & (events | POLLRDHUP))
            return (pfd[0].revents & events) ? REPL_WAIT_READY : REPL_WAIT_GONE;
        if (nfds == 3 && (pfd[2].revents & POLLIN))
            replServerRefuse(s->srv);
        else if (nfds == 3 && pfd[2].revents)
            nfds = 2; /* a listening socket in error: serve this replica, refuse nothing */
        if (rc == 0 || (timeoutMs >= 0 && retryNowMs() >= deadline))
            return REPL_WAIT_TIMEOUT;
    }
}

int
replSessionFlush(ReplSession *s, Err *err) {
    while (s->outSent < s->out->len) {
        ssize_t n = send(s->fd, s->out->data + s->outSent, s->out->len - s->outSent, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            s->outSent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ReplWait w = replSessionWait(s, POLLOUT, (int)s->srv->writeTimeoutMs);

            if (w == REPL_WAIT_READY)
                continue;
            s->gone = true;
            if (w == REPL_WAIT_STOP)
                return errSet(err, ERR_TARGET, "the server is stopping");
            if (w == REPL_WAIT_TIMEOUT)
                return errSet(err, ERR_TARGET, "the replica at %s read nothing for %u ms", s->peer,
                              s->srv->writeTimeoutMs);
            return errSet(err, ERR_TARGET, "the replica at %s closed the connection", s->peer);
        }
        s->gone = true;
        return errSetSys(err, ERR_TARGET, errno, "unable to send to the replica at %s", s->peer);
    }
    pthread_mutex_lock(&s->srv->lock);
    s->srv->status.bytesSent += s->outSent;
    pthread_mutex_unlock(&s->srv->lock);
    if (s->outSent > 0)
        clock_gettime(CLOCK_MONOTONIC, &s->lastSend);
    bufClear(s->out);
    s->outSent = 0;
    return 0;
}

void
replSessionPacket(ReplSession *s, const uint8_t *head, size_t headLen, const uint8_t *body, size_t bodyLen) {
    replPacketAppend(s->out, &s->seq, head, headLen, body, bodyLen);
}

int
replSessionSendErr(ReplSession *s, uint16_t code, const char *state, const char *msg, Err *err) {
    Buf *p = bufNew(128);

    replErrEncode(p, code, state, msg);
    replSessionPacket(s, p->data, p->len, NULL, 0);
    bufFree(p);
    return replSessionFlush(s, err);
}

int
replSessionSendOk(ReplSession *s, Err *err) {
    Buf *p = bufNew(16);

    replOkEncode(p, 0, REPL_STATUS_AUTOCOMMIT);
    replSessionPacket(s, p->data, p->len, NULL, 0);
    bufFree(p);
    return replSessionFlush(s, err);
}

int
replSessionRead(ReplSession *s, int timeoutMs, size_t max, Err *err) {
    for (;;) {
        size_t consumed;
        uint8_t seq;
        int rc;
        ssize_t n;
        ReplWait w;

        bufClear(s->payload);
        rc = replPacketTake(s->in->data, s->in->len, max, s->payload, &seq, &consumed, err);
        if (rc < 0)
            return errPrefix(err, "from the replica at %s", s->peer);
        if (rc == 1) {
            memmove(s->in->data, s->in->data + consumed, s->in->len - consumed);
            s->in->len -= consumed;
            s->seq = (uint8_t)(seq + 1);
            return 1;
        }
        n = recv(s->fd, bufReserve(s->in, REPL_READ_CHUNK), REPL_READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            s->in->len += (size_t)n;
            continue;
        }
        if (n == 0) {
            s->gone = true;
            errSet(err, ERR_TARGET, "the replica at %s closed the connection", s->peer);
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            s->gone = true;
            errSetSys(err, ERR_TARGET, errno, "unable to read from the replica at %s", s->peer);
            return 0;
        }
        w = replSessionWait(s, POLLIN, timeoutMs);
        if (w == REPL_WAIT_READY)
            continue;
        s->gone = true;
        if (w == REPL_WAIT_STOP)
            errSet(err, ERR_TARGET, "the server is stopping");
        else if (w == REPL_WAIT_TIMEOUT)
            errSet(err, ERR_TARGET, "the replica at %s sent nothing for %d ms", s->peer, timeoutMs);
        else
            errSet(err, ERR_TARGET, "the replica at %s closed the connection", s->peer);
        return 0;
    }
}

int
replSessionSendEof(ReplSession *s, Err *err) {
    Buf *eof = bufNew(8);

    replEofEncode(eof, REPL_STATUS_AUTOCOMMIT);
    replSessionPacket(s, eof->data, eof->len, NULL, 0);
    bufFree(eof);
    return replSessionFlush(s, err);
}

/* ---- User variables ---- */

static ReplUserVar *
varFind(ReplSession *s, const char *name) {
    for (size_t i = 0; i < s->nVars; i++)
        if (strcmp(s->vars[i].name, name) == 0)
            return &s->vars[i];
    return NULL;
}

bool
replSessionVarSet(ReplSession *s, const char *name, const char *value) {
    ReplUserVar *v = varFind(s, name);

    if (value != NULL && strlen(value) > REPL_USER_VAR_VALUE_MAX)
        return false;
    if (v == NULL) {
        if (s->nVars == REPL_USER_VARS_MAX)
            return false;
        v = &s->vars[s->nVars++];
        v->name = bvStrdup(name);
        v->value = NULL;
    }
    bvFree(v->value);
    v->value = value ? bvStrdup(value) : NULL;
    return true;
}

const char *
replSessionVarGet(ReplSession *s, const char *name, bool *present) {
    ReplUserVar *v = varFind(s, name);

    if (present != NULL)
        *present = v != NULL && v->value != NULL;
    return v ? v->value : NULL;
}

/* ---- Login ---- */

static int
sessionLogin(ReplSession *s, Err *err) {
    ReplServer *srv = s->srv;
    ReplHandshakeResponse r;
    Buf *p = bufNew(128);
    const uint8_t *token;
    size_t tokenLen;
    char msg[REPL_NAME_MAX + 160];
    int rc = -1;

    /* 20 printable bytes: the scramble is also read as a NUL-terminated string. */
    if (cryptoRandom(s->scramble, sizeof(s->scramble), err) != 0)
        goto done;
    for (size_t i = 0; i < sizeof(s->scramble); i++)
        s->scramble[i] = (uint8_t)(33 + s->scramble[i] % 94);
    replHandshakeEncode(p, srv->version, s->connectionId, s->scramble);
    s->seq = 0;
    replSessionPacket(s, p->data, p->len, NULL, 0);
    if (replSessionFlush(s, err) != 0 || replSessionRead(s, HANDSHAKE_TIMEOUT_MS, 64 * 1024, err) != 1)
        goto done;
    if (replHandshakeResponseParse(s->payload->data, s->payload->len, &r, err) != 0) {
        errPrefix(err, "replica at %s", s->peer);
        replSessionSendErr(s, ER_HANDSHAKE_ERROR, "08S01", "Bad handshake", &(Err){0});
        goto done;
    }
    if (r.sslRequest) {
        errSet(err, ERR_TARGET, "the replica at %s asked for TLS, which binvault's loopback endpoint does not offer",
               s->peer);
        /* The client now expects a TLS handshake; the plain ERR packet tells it why it fails. */
        replSessionSendErr(s, ER_HANDSHAKE_ERROR, "08S01",
                           "binvault's replication endpoint does not support TLS: use MASTER_SSL=0 (loopback only)",
                           &(Err){0});
        goto done;
    }
    snprintf(s->user, sizeof(s->user), "%s", r.user);
    token = r.auth;
    tokenLen = r.authLen;
    if ((r.caps & REPL_CLIENT_PLUGIN_AUTH) && r.plugin[0] != '\0' && strcmp(r.plugin, REPL_NATIVE_PASSWORD) != 0) {
        /* AuthSwitchRequest to mysql_native_password with the same scramble. */
        bufClear(p);
        bufAppend(p, "\xfe", 1);
        bufAppend(p, REPL_NATIVE_PASSWORD, sizeof(REPL_NATIVE_PASSWORD));
        bufAppend(p, s->scramble, sizeof(s->scramble));
        bufAppend(p, "\0", 1);
        replSessionPacket(s, p->data, p->len, NULL, 0);
        if (replSessionFlush(s, err) != 0 || replSessionRead(s, HANDSHAKE_TIMEOUT_MS, 1024, err) != 1)
            goto done;
        token = s->payload->data;
        tokenLen = s->payload->len;
    }
    if (strcmp(r.user, srv->user) != 0 ||
        !replNativePasswordVerify(srv->stage2, srv->emptyPassword, s->scramble, token, tokenLen)) {
        snprintf(msg, sizeof(msg), "Access denied for user '%s'@'%s' (using password: %s)", r.user, s->peer,
                 tokenLen ? "YES" : "NO");
        errSet(err, ERR_AUTH, "replica login refused: %s", msg);
        replSessionSendErr(s, ER_ACCESS_DENIED_ERROR, "28000", msg, &(Err){0});
        goto done;
    }
    rc = replSessionSendOk(s, err);
done:
    bufFree(p);
    return rc;
}

/* ---- The command loop ---- */

void
replSessionRun(ReplServer *srv, int fd, const struct sockaddr_storage *addr) {
    ReplSession s = {0};
    Err err = {0};
    char host[INET6_ADDRSTRLEN] = "?";
    int one = 1;

    s.srv = srv;
    s.fd = fd;
    s.in = bufNew(REPL_READ_CHUNK);
    s.payload = bufNew(1024);
    s.out = bufNew(REPL_FLUSH_AT + 64 * 1024);
    clock_gettime(CLOCK_MONOTONIC, &s.lastSend);
    if (addr->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, host, sizeof(host));
    else if (addr->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, host, sizeof(host));
    snprintf(s.peer, sizeof(s.peer), "%s", host);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s.connectionId = ++srv->connectionIds;
    logInfo("replica connected from %s (connection %" PRIu32 ")", s.peer, s.connectionId);
    pthread_mutex_lock(&srv->lock);
    srv->status.connected = true;
    srv->status.replicaServerId = 0;
    pthread_mutex_unlock(&srv->lock);

    if (sessionLogin(&s, &err) != 0) {
        pthread_mutex_lock(&srv->lock);
        srv->status.refused++;
        pthread_mutex_unlock(&srv->lock);
        logWarn("%s", err.msg);
        replServerSetError(srv, &err);
        goto done;
    }
    logInfo("replica at %s logged in as '%s'", s.peer, s.user);
    pthread_mutex_lock(&srv->lock);
    srv->status.connections++;
    pthread_mutex_unlock(&srv->lock);
    for (;;) {
        const uint8_t *p;
        size_t len;
        int rc;

        if (replSessionRead(&s, (int)srv->idleTimeoutMs, REPL_COMMAND_MAX, &err) != 1) {
            if (!s.gone) {
                logWarn("%s", err.msg);
                replServerSetError(srv, &err);
            } else {
                logInfo("%s", err.msg);
            }
            break;
        }
        p = s.payload->data;
        len = s.payload->len;
        if (len == 0) {
            logWarn("empty command packet from the replica at %s", s.peer);
            break;
        }
        switch (p[0]) {
        case COM_QUIT:
            logInfo("replica at %s quit", s.peer);
            goto done;
        case COM_PING:
        case COM_INIT_DB:
            rc = replSessionSendOk(&s, &err);
            break;
        case COM_QUERY:
            rc = replSessionQuery(&s, p + 1, len - 1, &err);
            break;
        case COM_REGISTER_SLAVE:
            rc = replSessionRegister(&s, p + 1, len - 1, &err);
            break;
        case COM_BINLOG_DUMP:
            if (replSessionDump(&s, p + 1, len - 1, &err) != 0) {
                if (s.gone)
                    logInfo("binlog stream ended: %s", err.msg);
                else {
                    logError("binlog stream failed: %s", err.msg);
                    replServerSetError(srv, &err);
                }
            }
            /* As on a real primary, the connection ends with the dump. */
            goto done;
        case COM_BINLOG_DUMP_GTID:
            rc = replSessionSendErr(
                &s, ER_UNKNOWN_COM_ERROR, "08S01",
                "COM_BINLOG_DUMP_GTID is MySQL's: binvault serves MariaDB replicas (MASTER_USE_GTID)", &err);
            logWarn("the replica at %s sent MySQL's COM_BINLOG_DUMP_GTID", s.peer);
            break;
        default:
            logWarn("unsupported command 0x%02x from the replica at %s", p[0], s.peer);
            {
                char msg[96];

                snprintf(msg, sizeof(msg), "binvault's replication endpoint does not support command 0x%02x", p[0]);
                rc = replSessionSendErr(&s, ER_UNKNOWN_COM_ERROR, "08S01", msg, &err);
            }
            break;
        }
        if (rc != 0) {
            if (s.gone)
                logInfo("connection to the replica at %s ended: %s", s.peer, err.msg);
            else
                logWarn("connection to the replica at %s ended: %s", s.peer, err.msg);
            break;
        }
    }
done:
    close(fd);
    for (size_t i = 0; i < s.nVars; i++) {
        bvFree(s.vars[i].name);
        bvFree(s.vars[i].value);
    }
    bufFree(s.in);
    bufFree(s.payload);
    bufFree(s.out);
    pthread_mutex_lock(&srv->lock);
    srv->status.connected = false;
    srv->status.streaming = false;
    pthread_mutex_unlock(&srv->lock);
    logInfo("replica at %s disconnected (connection %" PRIu32 ")", s.peer, s.connectionId);
}
