/* Unit tests of agent/http.c: address parsing, and the endpoint served on a real loopback socket
 * (an event loop in the test, a client in a thread). */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/http.h"
#include "common/mem.h"
#include "tests/test.h"

static void
testParseAddr(void) {
    char host[64];
    uint16_t port;
    Err err;

    CHECK_INT(httpParseAddr("127.0.0.1:9180", host, sizeof(host), &port, &err), 0);
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, 9180);
    CHECK_INT(httpParseAddr("[::1]:0", host, sizeof(host), &port, &err), 0);
    CHECK_STR(host, "::1");
    CHECK_INT(port, 0);
    CHECK_INT(httpParseAddr("0.0.0.0:65535", host, sizeof(host), &port, &err), 0);
    CHECK_INT(httpParseAddr("localhost", host, sizeof(host), &port, &err), -1);
    CHECK_MSG(err.msg, "expected ADDR:PORT");
    CHECK_INT(httpParseAddr("127.0.0.1:65536", host, sizeof(host), &port, &err), -1);
    CHECK_INT(httpParseAddr("127.0.0.1:", host, sizeof(host), &port, &err), -1);
    CHECK_INT(httpParseAddr(":80", host, sizeof(host), &port, &err), -1);
    CHECK_INT(httpParseAddr("::1:80", host, sizeof(host), &port, &err), -1);
    CHECK_INT(httpParseAddr("[::1]80", host, sizeof(host), &port, &err), -1);
    CHECK_INT(err.code, ERR_USAGE);
}

typedef struct Fixture {
    bool healthy;
    unsigned snapshots;
} Fixture;

static void
fakeSnapshot(void *data, AgentStatus *out) {
    Fixture *f = data;

    f->snapshots++;
    out->nowUs = 1800000000000000ull;
    out->startedUs = out->nowUs - 1000000;
    out->version = "1.2.3";
    snprintf(out->sourceUrl, sizeof(out->sourceUrl), "mysql://r@h:1");
    out->connected = f->healthy;
    out->fresh = f->healthy;
    out->lagBytes = 5;
    out->recvGtid = bvStrdup("0-1-1");
}

typedef struct Client {
    uint16_t port;
    const char *request;
    char response[65536];
    struct event_base *base;
} Client;

static void *
clientMain(void *arg) {
    Client *c = arg;
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t got = 0;
    ssize_t n;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(c->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, c->request, strlen(c->request)) == (ssize_t)strlen(c->request))
        while (got < sizeof(c->response) - 1 && (n = read(fd, c->response + got, sizeof(c->response) - 1 - got)) > 0)
            got += (size_t)n;
    c->response[got] = '\0';
    if (fd >= 0)
        close(fd);
    event_base_loopbreak(c->base);
    return NULL;
}

/* Send one request and run the loop until the client has the whole answer. */
static void
request(struct event_base *base, uint16_t port, const char *req, char *out, size_t size) {
    Client *c = calloc(1, sizeof(*c));
    pthread_t t;

    c->port = port;
    c->request = req;
    c->base = base;
    pthread_create(&t, NULL, clientMain, c);
    event_base_dispatch(base);
    pthread_join(t, NULL);
    snprintf(out, size, "%s", c->response);
    free(c);
}

static void
testServe(void) {
    struct event_base *base;
    HttpServer *h;
    Fixture f = {true, 0};
    char *resp = malloc(65536);
    Err err;

    evthread_use_pthreads();
    base = event_base_new();
    h = httpServerNew(base, "127.0.0.1:0", fakeSnapshot, &f, &err);
    REQUIRE(h != NULL);
    CHECK(httpServerPort(h) != 0);
    request(base, httpServerPort(h), "GET /healthz HTTP/1.0\r\n\r\n", resp, 65536);
    CHECK(strncmp(resp, "HTTP/1.0 200", 12) == 0 || strncmp(resp, "HTTP/1.1 200", 12) == 0);
    CHECK_MSG(resp, "\r\n\r\nok\n");
    f.healthy = false;
    request(base, httpServerPort(h), "GET /healthz HTTP/1.0\r\n\r\n", resp, 65536);
    CHECK_MSG(resp, " 503 ");
    CHECK_MSG(resp, "not connected to the source mysql://r@h:1");
    request(base, httpServerPort(h), "GET /metrics?x=1 HTTP/1.0\r\n\r\n", resp, 65536);
    CHECK_MSG(resp, " 200 ");
    CHECK_MSG(resp, "Content-Type: text/plain; version=0.0.4");
    CHECK_MSG(resp, "binvault_build_info{version=\"1.2.3\"} 1");
    CHECK_MSG(resp, "binvault_source_lag_bytes 5");
    request(base, httpServerPort(h), "GET /status HTTP/1.0\r\n\r\n", resp, 65536);
    CHECK_MSG(resp, "application/json");
    CHECK_MSG(resp, "\"version\":\"1.2.3\"");
    request(base, httpServerPort(h), "GET /nope HTTP/1.0\r\n\r\n", resp, 65536);
    CHECK_MSG(resp, " 404 ");
    request(base, httpServerPort(h), "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", resp, 65536);
    CHECK_MSG(resp, " 405 ");
    CHECK_INT(f.snapshots, 4);
    /* The port is taken now: a second server cannot listen there. */
    {
        char addr[64];
        HttpServer *h2;

        snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)httpServerPort(h));
        h2 = httpServerNew(base, addr, fakeSnapshot, &f, &err);
        CHECK(h2 == NULL);
        CHECK_INT(err.code, ERR_CONFIG);
        CHECK_MSG(err.msg, "unable to listen for HTTP on");
    }
    httpServerFree(h);
    event_base_free(base);
    free(resp);
}

/* Open a loopback connection to `port` that sends nothing. */
static int
idleConnect(uint16_t port) {
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Whether the server has closed `fd` (end of file or reset, nothing pending). */
static bool
closedByServer(int fd) {
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static void
runFor(struct event_base *base, long ms) {
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Issue 14: idle connections exhausted the agent's descriptors. Beyond the limit a new connection
 * is closed at once; idle ones are closed after the idle timeout; then the endpoint answers. */
static void
testConnectionLimit(void) {
    struct event_base *base;
    HttpServer *h;
    Fixture f = {true, 0};
    char *resp = malloc(65536);
    int fds[20], closed = 0;
    Err err;

    evthread_use_pthreads();
    base = event_base_new();
    h = httpServerNew(base, "127.0.0.1:0", fakeSnapshot, &f, &err);
    REQUIRE(h != NULL);
    httpServerSetLimits(h, 4, 1);
    for (int i = 0; i < 20; i++) {
        fds[i] = idleConnect(httpServerPort(h));
        REQUIRE(fds[i] >= 0);
        runFor(base, 10);
    }
    runFor(base, 100);
    CHECK_INT(httpServerConnections(h), 4);
    CHECK_INT(httpServerRefused(h), 16);
    for (int i = 0; i < 20; i++)
        closed += closedByServer(fds[i]);
    CHECK_INT(closed, 16);
    for (int i = 0; i < 4; i++)
        CHECK(!closedByServer(fds[i]));

    /* The idle timeout frees the slots; a request is answered again. */
    runFor(base, 2500);
    CHECK_INT(httpServerConnections(h), 0);
    for (int i = 0; i < 4; i++)
        CHECK(closedByServer(fds[i]));
    request(base, httpServerPort(h), "GET /healthz HTTP/1.0\r\n\r\n", resp, 65536);
    CHECK_MSG(resp, "\r\n\r\nok\n");
    for (int i = 0; i < 20; i++)
        close(fds[i]);
    httpServerFree(h);
    event_base_free(base);
    free(resp);
}

void
suite_http(void) {
    testRun("http: ADDR:PORT parsing", testParseAddr);
    testRun("http: /metrics, /status, /healthz (200/503), 404, 405 on a live socket", testServe);
    testRun("http: connection limit and idle timeout", testConnectionLimit);
}
