/* The agent's HTTP endpoint (/metrics, /status, /healthz) on the event loop; agent/http.h. */
#include "agent/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/url.h"

/* One accepted connection. evhttp (libevent 2.1) tells nothing when it accepts or frees a
 * connection, so the server creates each connection's bufferevent itself (evhttp_set_bevcb()) and
 * holds a reference on it: the bufferevent stays valid, and its descriptor open, until the server
 * lets go. evhttp's bufferevent_free() clears the callbacks, which is how a closed connection is
 * recognised (httpReap()). */
typedef struct HttpConn {
    struct bufferevent *bev;
    bool admitted; /* httpAdmit() has decided on it */
} HttpConn;

struct HttpServer {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct event *admit; /* run right after an accept: keep or close the new connection */
    struct event *reaper; /* each second: let go of the connections evhttp closed */
    HttpSnapshotFn *fn;
    void *data;
    uint16_t port;
    HttpConn *conns;
    size_t count, cap;
    size_t pending; /* accepted, not yet admitted */
    bool paused;    /* the listener is disabled until httpAdmit() has run */
    unsigned maxConnections;
    uint64_t refused;
};

/* Whether evhttp still owns the connection; its evhttp_connection in `*evcon`. */
static bool
httpConnLive(const HttpConn *c, struct evhttp_connection **evcon) {
    bufferevent_data_cb readcb, writecb;
    bufferevent_event_cb eventcb;
    void *arg = NULL;

    bufferevent_getcb(c->bev, &readcb, &writecb, &eventcb, &arg);
    *evcon = arg;
    return readcb != NULL || writecb != NULL || eventcb != NULL;
}

/* Let go of every connection evhttp has freed: the last reference closes its descriptor. */
static void
httpReap(HttpServer *h) {
    size_t kept = 0;

    for (size_t i = 0; i < h->count; i++) {
        struct evhttp_connection *evcon;

        if (httpConnLive(&h->conns[i], &evcon))
            h->conns[kept++] = h->conns[i];
        else
            bufferevent_decref(h->conns[i].bev);
    }
    h->count = kept;
}

static void
httpReapCb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    httpReap(arg);
}

/* The first descriptor number a connection may not use: HTTP_FD_RESERVE below the soft limit on
 * open files (read each time: the limit can change while the agent runs). */
static int
httpFdCeiling(void) {
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX)
        return INT_MAX;
    return (int)rl.rlim_cur > 2 * HTTP_FD_RESERVE ? (int)rl.rlim_cur - HTTP_FD_RESERVE : (int)rl.rlim_cur / 2;
}

/* Keep or close the connections accepted since the last run: evhttp has set them up by now
 * (their callbacks name their evhttp_connection), and nothing has been read from them yet. */
static void
httpAdmit(evutil_socket_t fd, short what, void *arg) {
    HttpServer *h = arg;
    unsigned live = 0;
    int ceiling = httpFdCeiling();

    (void)fd;
    (void)what;
    httpReap(h);
    for (size_t i = 0; i < h->count; i++)
        live += h->conns[i].admitted;
    for (size_t i = 0; i < h->count; i++) {
        HttpConn *c = &h->conns[i];
        struct evhttp_connection *evcon;
        int sock;

        if (c->admitted)
            continue;
        c->admitted = true;
        if (!httpConnLive(c, &evcon) || evcon == NULL)
            continue;
        sock = bufferevent_getfd(c->bev);
        if (live < h->maxConnections && sock < ceiling) {
            live++;
            continue;
        }
        h->refused++;
        /* Constant texts, so that the log's repeat limiter folds a flood into a line a second. */
        if (live >= h->maxConnections)
            logWarn("closing a new HTTP connection: %u connections are open (the limit)", live);
        else
            logWarn("closing a new HTTP connection: fewer than %d descriptors are left below the limit on "
                    "open files", HTTP_FD_RESERVE);
        evhttp_connection_free(evcon);
    }
    httpReap(h);
    h->pending = 0;
    if (h->paused && h->sock != NULL) {
        evconnlistener_enable(evhttp_bound_socket_get_listener(h->sock));
        h->paused = false;
    }
}

/* evhttp's hook for a new connection's bufferevent (see HttpConn). */
static struct bufferevent *
httpNewConn(struct event_base *base, void *arg) {
    HttpServer *h = arg;
    struct bufferevent *bev;

    httpReap(h);
    /* NULL lets evhttp make its own: that connection is served but not counted. */
    if ((bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL)
        return NULL;
    bufferevent_incref(bev);
    if (h->count == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->conns = bvRealloc(h->conns, h->cap * sizeof(*h->conns));
    }
    h->conns[h->count++] = (HttpConn){.bev = bev, .admitted = false};
    event_active(h->admit, EV_TIMEOUT, 0);
    /* libevent accepts in a loop until the backlog is empty: under a flood (and a slow process)
     * that loop could take every descriptor before httpAdmit() closes a connection. Pause the
     * listener after a burst; the kernel's backlog keeps the rest until it is resumed. */
    if (++h->pending >= HTTP_ACCEPT_BURST && !h->paused && h->sock != NULL) {
        evconnlistener_disable(evhttp_bound_socket_get_listener(h->sock));
        h->paused = true;
    }
    return bev;
}

int
httpParseAddr(const char *text, char *host, size_t hostSize, uint16_t *port, Err *err) {
    char *parsed;

    if (text == NULL || text[0] == '\0')
        return errSet(err, ERR_USAGE, "empty --http address: expected ADDR:PORT");
    if (urlHostPortParse(text, "--http address", &parsed, port, err) != 0)
        return -1;
    if (strlen(parsed) >= hostSize) {
        bvFree(parsed);
        return errSet(err, ERR_USAGE, "invalid --http address '%s': the address is too long", text);
    }
    snprintf(host, hostSize, "%s", parsed);
    bvFree(parsed);
    return 0;
}

static void
reply(struct evhttp_request *req, int code, const char *reason, const char *type, const Buf *body) {
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

    if (body != NULL)
        evbuffer_add(b, body->data, body->len);
    evhttp_add_header(hdr, "Content-Type", type);
    evhttp_add_header(hdr, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void
handle(struct evhttp_request *req, void *arg) {
    HttpServer *h = arg;
    const char *uri = evhttp_request_get_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    char path[64];
    size_t n;
    AgentStatus st;
    Buf *body;

    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        Buf *m = bufNew(64);

        bufAppend(m, "method not allowed\n", 19);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        reply(req, 405, "Method Not Allowed", "text/plain; charset=utf-8", m);
        bufFree(m);
        return;
    }
    /* The path without a query string. */
    n = strcspn(uri ? uri : "", "?#");
    snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1), uri ? uri : "");
    if (strcmp(path, "/metrics") != 0 && strcmp(path, "/status") != 0 && strcmp(path, "/healthz") != 0) {
        Buf *m = bufNew(128);
        const char *text = "not found: binvault serves /metrics, /status and /healthz\n";

        bufAppend(m, text, strlen(text));
        reply(req, 404, "Not Found", "text/plain; charset=utf-8", m);
        bufFree(m);
        return;
    }
    memset(&st, 0, sizeof(st));
    h->fn(h->data, &st);
    body = bufNew(8192);
    if (strcmp(path, "/metrics") == 0) {
        agentStatusMetrics(&st, body);
        reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
    } else if (strcmp(path, "/status") == 0) {
        agentStatusJson(&st, body);
        reply(req, 200, "OK", "application/json", body);
    } else {
        char reason[2048];
        bool ok = agentStatusHealthy(&st, reason, sizeof(reason));

        bufAppend(body, reason, strlen(reason));
        bufAppend(body, "\n", 1);
        reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "text/plain; charset=utf-8", body);
    }
    bufFree(body);
    agentStatusClear(&st);
}

/* libevent's own messages (an accept(2) failing, say) go through the log module, so that they are
 * rate-limited like every other line instead of written to stderr once per loop. */
static void
httpLibeventLog(int severity, const char *msg) {
    if (severity >= EVENT_LOG_ERR)
        logError("libevent: %s", msg);
    else if (severity == EVENT_LOG_WARN)
        logWarn("libevent: %s", msg);
    else
        logDebug("libevent: %s", msg);
}

HttpServer *
httpServerNew(struct event_base *base, const char *addr, HttpSnapshotFn *fn, void *data, Err *err) {
    HttpServer *h;
    char host[256];
    uint16_t port;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (httpParseAddr(addr, host, sizeof(host), &port, err) != 0)
        return NULL;
    event_set_log_callback(httpLibeventLog);
    h = bvCalloc(1, sizeof(*h));
    h->fn = fn;
    h->data = data;
    h->maxConnections = HTTP_MAX_CONNECTIONS;
    h->admit = event_new(base, -1, 0, httpAdmit, h);
    h->reaper = event_new(base, -1, EV_PERSIST, httpReapCb, h);
    h->http = evhttp_new(base);
    if (h->admit == NULL || h->reaper == NULL || h->http == NULL ||
        event_add(h->reaper, &(struct timeval){.tv_sec = 1}) != 0) {
        errSet(err, ERR_INTERNAL, "unable to set up the HTTP endpoint");
        httpServerFree(h);
        return NULL;
    }
    evhttp_set_bevcb(h->http, httpNewConn, h);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(h->http, HTTP_IDLE_TIMEOUT_SEC);
    evhttp_set_max_headers_size(h->http, 16384);
    evhttp_set_max_body_size(h->http, 4096);
    evhttp_set_gencb(h->http, handle, h);
    errno = 0;
    if ((h->sock = evhttp_bind_socket_with_handle(h->http, host, port)) == NULL) {
        /* libevent resolves the address itself and leaves errno alone when that fails. */
        if (errno == 0)
            errSet(err, ERR_CONFIG, "unable to listen for HTTP on '%s': '%s' is not an address of this machine",
                   addr, host);
        else
            errSetSys(err, ERR_CONFIG, errno, "unable to listen for HTTP on '%s'", addr);
        httpServerFree(h);
        return NULL;
    }
    h->port = port;
    if (getsockname(evhttp_bound_socket_get_fd(h->sock), (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            h->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return h;
}

uint16_t
httpServerPort(const HttpServer *h) {
    return h->port;
}

void
httpServerSetLimits(HttpServer *h, unsigned maxConnections, unsigned idleSec) {
    h->maxConnections = maxConnections;
    evhttp_set_timeout(h->http, (int)idleSec);
}

unsigned
httpServerConnections(HttpServer *h) {
    httpReap(h);
    return (unsigned)h->count;
}

uint64_t
httpServerRefused(const HttpServer *h) {
    return h->refused;
}

void
httpServerFree(HttpServer *h) {
    if (h == NULL)
        return;
    /* evhttp_free() frees every connection; then the last references go. */
    if (h->http)
        evhttp_free(h->http);
    for (size_t i = 0; i < h->count; i++)
        bufferevent_decref(h->conns[i].bev);
    bvFree(h->conns);
    if (h->admit)
        event_free(h->admit);
    if (h->reaper)
        event_free(h->reaper);
    bvFree(h);
}
