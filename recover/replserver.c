/*
 * The replication endpoint's server (see replserver.h, "The server"): the listening socket, the
 * one serving thread that accepts a replica and runs its session (repl_session.c), refusing
 * others meanwhile, the status snapshot and the stop request. The files of the endpoint are
 * listed in repl_internal.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/repl_internal.h"
#include "recover/replserver.h"

#define DEFAULT_TIMEOUT_MS (10 * 60 * 1000)

void
replServerSetError(ReplServer *srv, const Err *err) {
    pthread_mutex_lock(&srv->lock);
    snprintf(srv->status.lastError, sizeof(srv->status.lastError), "%s", err->msg);
    pthread_mutex_unlock(&srv->lock);
}

/* The replica's I/O thread takes ER_CON_COUNT_ERROR as a network error and retries. */
void
replServerRefuse(ReplServer *srv) {
    int fd = accept4(srv->listenFd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    Buf *p, *out;
    uint8_t seq = 0;
    ssize_t n;

    if (fd < 0)
        return;
    p = bufNew(128);
    out = bufNew(160);
    /* Before the handshake the client does not expect a SQLSTATE. */
    replErrEncode(p, ER_CON_COUNT_ERROR, NULL, "binvault serves one replica at a time and one is connected");
    replPacketAppend(out, &seq, p->data, p->len, NULL, 0);
    n = send(fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    close(fd);
    bufFree(p);
    bufFree(out);
    pthread_mutex_lock(&srv->lock);
    srv->status.refused++;
    pthread_mutex_unlock(&srv->lock);
    logInfo("refused a second replica connection: one is being served");
}

static void *
serverThread(void *arg) {
    ReplServer *srv = arg;

    while (!atomic_load(&srv->stopping)) {
        struct pollfd pfd[2] = {{srv->listenFd, POLLIN, 0}, {srv->stopPipe[0], POLLIN, 0}};
        struct sockaddr_storage addr;
        socklen_t alen = sizeof(addr);
        int fd;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            logError("poll on the replication endpoint failed: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents)
            break;
        if (!(pfd[0].revents & POLLIN))
            continue;
        fd = accept4(srv->listenFd, (struct sockaddr *)&addr, &alen, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                logWarn("accept on the replication endpoint failed: %s", strerror(errno));
            continue;
        }
        replSessionRun(srv, fd, &addr);
    }
    pthread_mutex_lock(&srv->lock);
    srv->status.running = false;
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

ReplServer *
replServerNew(const ReplServerConfig *cfg, const ReplServerSource *source, Err *err) {
    struct addrinfo hints = {0}, *ai = NULL;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    const char *host = cfg->listenHost ? cfg->listenHost : "127.0.0.1";
    char portText[8];
    ReplServer *srv;
    int one = 1, rc;

    if (cfg->user == NULL || cfg->user[0] == '\0' || strlen(cfg->user) > REPL_NAME_MAX) {
        errSet(err, ERR_USAGE, "the replication endpoint needs a user name of 1 to %d characters", REPL_NAME_MAX);
        return NULL;
    }
    if (cfg->password == NULL) {
        errSet(err, ERR_USAGE, "the replication endpoint needs a password");
        return NULL;
    }
    if (source == NULL || source->open == NULL || source->next == NULL || source->file == NULL) {
        errSet(err, ERR_INTERNAL, "the replication endpoint needs a complete event source");
        return NULL;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    snprintf(portText, sizeof(portText), "%u", cfg->port);
    if ((rc = getaddrinfo(host, portText, &hints, &ai)) != 0) {
        errSet(err, ERR_USAGE, "invalid listen address '%s': %s (expected a numeric IPv4 or IPv6 address)", host,
               gai_strerror(rc));
        return NULL;
    }
    srv = bvCalloc(1, sizeof(*srv));
    srv->listenFd = -1;
    srv->stopPipe[0] = srv->stopPipe[1] = -1;
    pthread_mutex_init(&srv->lock, NULL);
    srv->listenHost = bvStrdup(host);
    srv->user = bvStrdup(cfg->user);
    srv->version = bvStrdup(cfg->version ? cfg->version : REPL_SERVER_VERSION);
    replNativePasswordHash(cfg->password, srv->stage2);
    srv->emptyPassword = cfg->password[0] == '\0';
    srv->serverId = cfg->serverId ? cfg->serverId : REPL_SERVER_DEFAULT_ID;
    srv->idleTimeoutMs = cfg->idleTimeoutMs ? cfg->idleTimeoutMs : DEFAULT_TIMEOUT_MS;
    srv->writeTimeoutMs = cfg->writeTimeoutMs ? cfg->writeTimeoutMs : DEFAULT_TIMEOUT_MS;
    srv->source = *source;
    if (pipe2(srv->stopPipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to create a pipe");
        goto fail;
    }
    srv->listenFd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (srv->listenFd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create a socket for '%s'", host);
        goto fail;
    }
    setsockopt(srv->listenFd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(srv->listenFd, ai->ai_addr, ai->ai_addrlen) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to listen on '%s' port %u", host, cfg->port);
        goto fail;
    }
    if (listen(srv->listenFd, 8) != 0 || getsockname(srv->listenFd, (struct sockaddr *)&bound, &blen) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to listen on '%s' port %u", host, cfg->port);
        goto fail;
    }
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    freeaddrinfo(ai);
    if (srv->emptyPassword)
        logWarn("the replication endpoint accepts '%s' without a password", srv->user);
    return srv;
fail:
    freeaddrinfo(ai);
    replServerFree(srv);
    return NULL;
}

uint16_t
replServerPort(const ReplServer *s) {
    return s->port;
}

int
replServerStart(ReplServer *s, Err *err) {
    int rc;

    if (s->threadStarted)
        return errSet(err, ERR_INTERNAL, "replication endpoint started twice");
    pthread_mutex_lock(&s->lock);
    s->status.running = true;
    pthread_mutex_unlock(&s->lock);
    if ((rc = pthread_create(&s->thread, NULL, serverThread, s)) != 0) {
        pthread_mutex_lock(&s->lock);
        s->status.running = false;
        pthread_mutex_unlock(&s->lock);
        return errSetSys(err, ERR_INTERNAL, rc, "unable to start the replication endpoint thread");
    }
    pthread_setname_np(s->thread, "bv-replserver");
    s->threadStarted = true;
    logInfo("replication endpoint listening on %s port %u (server_id %" PRIu32 ", version '%s')", s->listenHost,
            s->port, s->serverId, s->version);
    return 0;
}

void
replServerStatus(ReplServer *s, ReplServerStatus *out) {
    pthread_mutex_lock(&s->lock);
    *out = s->status;
    pthread_mutex_unlock(&s->lock);
}

void
replServerStop(ReplServer *s) {
    if (s == NULL)
        return;
    if (!atomic_exchange(&s->stopping, true)) {
        ssize_t n;

        /* Refuse new connections first: a replica that reconnects when its connection closes then
         * gets a refusal and retries, instead of waiting on a connection no one will accept. */
        if (s->listenFd >= 0)
            shutdown(s->listenFd, SHUT_RDWR);
        n = write(s->stopPipe[1], "x", 1);
        (void)n; /* the pipe is empty: a one-byte write cannot fail but for a closed pipe */
    }
    if (s->threadStarted) {
        pthread_join(s->thread, NULL);
        s->threadStarted = false;
    }
    if (s->listenFd >= 0) {
        close(s->listenFd);
        s->listenFd = -1;
    }
}

void
replServerFree(ReplServer *s) {
    if (s == NULL)
        return;
    replServerStop(s);
    if (s->stopPipe[0] >= 0)
        close(s->stopPipe[0]);
    if (s->stopPipe[1] >= 0)
        close(s->stopPipe[1]);
    pthread_mutex_destroy(&s->lock);
    bvFree(s->listenHost);
    bvFree(s->user);
    bvFree(s->version);
    bvFree(s);
}
