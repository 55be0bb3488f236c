/* The agent's HTTP endpoint (/metrics, /status, /healthz) on the event loop; agent/http.h. */
#include "agent/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/mem.h"
#include "common/url.h"

struct HttpServer {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    HttpSnapshotFn *fn;
    void *data;
    uint16_t port;
};

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

HttpServer *
httpServerNew(struct event_base *base, const char *addr, HttpSnapshotFn *fn, void *data, Err *err) {
    HttpServer *h;
    char host[256];
    uint16_t port;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (httpParseAddr(addr, host, sizeof(host), &port, err) != 0)
        return NULL;
    h = bvCalloc(1, sizeof(*h));
    h->fn = fn;
    h->data = data;
    h->http = evhttp_new(base);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
    evhttp_set_timeout(h->http, 10);
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
httpServerFree(HttpServer *h) {
    if (h == NULL)
        return;
    if (h->http)
        evhttp_free(h->http);
    bvFree(h);
}
