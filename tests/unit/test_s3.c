/* Unit tests of storage/s3_request.c (error classification) and of the HTTP transport under it,
 * storage/http.c, against a canned local server. The requests themselves are tested live against
 * Swift (tests/integration/s3.sh). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/mem.h"
#include "storage/http.h"
#include "storage/s3.h"
#include "storage/s3_internal.h"
#include "common/retry.h"
#include "tests/test.h"

/* --- Errors ------------------------------------------------------------------------------- */

static void
testErrorClass(void) {
    Err err = {0};

    CHECK_INT(s3ErrorClass(403, "SignatureDoesNotMatch"), ERR_AUTH);
    CHECK_INT(s3ErrorClass(403, "AccessDenied"), ERR_AUTH);
    CHECK_INT(s3ErrorClass(403, "InvalidAccessKeyId"), ERR_AUTH);
    CHECK_INT(s3ErrorClass(400, "ExpiredToken"), ERR_AUTH);
    CHECK_INT(s3ErrorClass(403, NULL), ERR_AUTH); /* a refused HEAD */
    CHECK_INT(s3ErrorClass(404, "NoSuchBucket"), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(301, "PermanentRedirect"), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(301, NULL), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(400, "AuthorizationHeaderMalformed"), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(403, "RequestTimeTooSkewed"), ERR_CONFIG);
    CHECK_INT(s3ErrorClass(404, "NoSuchKey"), ERR_NOTFOUND);
    CHECK_INT(s3ErrorClass(404, NULL), ERR_NOTFOUND);
    CHECK_INT(s3ErrorClass(404, "NoSuchUpload"), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(500, "InternalError"), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(503, "SlowDown"), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(503, NULL), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(429, NULL), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(400, "RequestTimeout"), ERR_STORAGE);
    CHECK_INT(s3ErrorClass(400, "BadDigest"), ERR_STORAGE);

    /* What the uploader makes of them (common/retry): the store's transient failures are retried,
     * refused credentials and a wrong configuration are not. */
    CHECK(retryErrTransient(s3ErrorClass(503, "SlowDown")));
    CHECK(retryErrTransient(s3ErrorClass(500, NULL)));
    CHECK(!retryErrTransient(s3ErrorClass(403, "AccessDenied")));
    CHECK(!retryErrTransient(s3ErrorClass(301, NULL)));
    (void)err;
}

/* --- HTTP transport (storage/http.c) against a canned local server ------------------------- */

/* A server answering each connection with `reply` after reading the request (and its body, by
 * Content-Length), or holding it silent for `stallSec` seconds. */
typedef struct CannedServer {
    int listenFd;
    unsigned port;
    const char *reply;
    size_t replyLen;
    const char *const *script; /* when set, connection i is answered script[i] instead */
    unsigned stallSec;
    int connections;
    Buf *request; /* the last request received, headers and body */
    pthread_t thread;
} CannedServer;

static void *
cannedServe(void *arg) {
    CannedServer *srv = arg;

    for (int i = 0; i < srv->connections; i++) {
        int fd = accept(srv->listenFd, NULL, NULL);
        char buf[4096];
        size_t want = 0;
        const char *end;

        if (fd < 0)
            break;
        bufClear(srv->request);
        for (;;) {
            ssize_t n = read(fd, buf, sizeof(buf));

            if (n <= 0)
                break;
            bufAppend(srv->request, buf, (size_t)n);
            end = memmem(srv->request->data, srv->request->len, "\r\n\r\n", 4);
            if (end != NULL && want == 0) {
                const char *cl = memmem(srv->request->data, srv->request->len, "Content-Length: ", 16);

                want = (size_t)(end - (const char *)srv->request->data) + 4;
                if (cl != NULL && cl < end)
                    want += (size_t)strtoul(cl + 16, NULL, 10);
                if (memmem(srv->request->data, srv->request->len, "Expect: 100-continue", 20))
                    (void)!send(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25, MSG_NOSIGNAL);
            }
            if (want > 0 && srv->request->len >= want)
                break;
        }
        if (srv->stallSec > 0)
            sleep(srv->stallSec);
        else if (srv->script != NULL)
            (void)!send(fd, srv->script[i], strlen(srv->script[i]), MSG_NOSIGNAL); /* the client may be gone */
        else
            (void)!send(fd, srv->reply, srv->replyLen, MSG_NOSIGNAL);
        close(fd);
    }
    return NULL;
}

static void
cannedStart(CannedServer *srv, const char *reply, size_t replyLen, int connections) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);

    srv->listenFd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BV_ASSERT(srv->listenFd >= 0);
    BV_ASSERT(bind(srv->listenFd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    BV_ASSERT(listen(srv->listenFd, 4) == 0);
    BV_ASSERT(getsockname(srv->listenFd, (struct sockaddr *)&addr, &len) == 0);
    srv->port = ntohs(addr.sin_port);
    srv->reply = reply;
    srv->replyLen = replyLen;
    srv->connections = connections;
    srv->request = bufNew(0);
    BV_ASSERT(pthread_create(&srv->thread, NULL, cannedServe, srv) == 0);
}

static void
cannedStop(CannedServer *srv) {
    pthread_join(srv->thread, NULL);
    close(srv->listenFd);
    bufFree(srv->request);
}

static int
httpGet(Http *http, unsigned port, const char *method, size_t maxBody, HttpResponse *resp,
        Err *err) {
    char url[64];
    const char *headers[] = {"X-Mine: 1"};
    HttpRequest req = {.method = method, .url = url, .headers = headers, .headerCount = 1,
                       .maxBody = maxBody};

    snprintf(url, sizeof(url), "http://127.0.0.1:%u/b/k", port);
    return httpRequest(http, &req, resp, err);
}

static void
testHttpResponses(void) {
    static const char ok[] = "HTTP/1.1 200 OK\r\nX-Test:  a b \r\nETag: \"e\"\r\nContent-Length: 5\r\n"
                             "\r\nhello";
    HttpOptions opts = {.allowHttp = true};
    Http *http;
    HttpResponse resp;
    CannedServer srv = {0};
    Err err = {0};

    http = httpNew(&opts, &err);
    REQUIRE(http != NULL);
    httpResponseInit(&resp);
    cannedStart(&srv, ok, sizeof(ok) - 1, 2);
    REQUIRE(httpGet(http, srv.port, "GET", 100, &resp, &err) == 0);
    CHECK_INT(resp.status, 200);
    CHECK_STR(httpResponseHeader(&resp, "x-test"), "a b");
    CHECK_STR(httpResponseHeader(&resp, "ETAG"), "\"e\"");
    CHECK(httpResponseHeader(&resp, "x-none") == NULL);
    CHECK_INT(resp.body->len, 5);
    CHECK(memcmp(resp.body->data, "hello", 5) == 0);
    CHECK(memmem(srv.request->data, srv.request->len, "GET /b/k HTTP/1.1\r\n", 19) != NULL);
    CHECK(memmem(srv.request->data, srv.request->len, "X-Mine: 1\r\n", 11) != NULL);
    /* A 2xx body larger than the caller allows. */
    CHECK_INT(httpGet(http, srv.port, "GET", 3, &resp, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    cannedStop(&srv);
    httpResponseClear(&resp);
    httpFree(http);
}

static void
testHttpErrorBody(void) {
    size_t bodyLen = 3 * HTTP_ERROR_BODY_MAX;
    char *reply = bvMalloc(bodyLen + 100);
    int head = snprintf(reply, 100, "HTTP/1.1 503 Slow Down\r\nContent-Length: %zu\r\n\r\n", bodyLen);
    HttpOptions opts = {.allowHttp = true};
    Http *http;
    HttpResponse resp;
    CannedServer srv = {0};
    Err err = {0};

    memset(reply + head, 'e', bodyLen);
    http = httpNew(&opts, &err);
    REQUIRE(http != NULL);
    httpResponseInit(&resp);
    cannedStart(&srv, reply, (size_t)head + bodyLen, 1);
    REQUIRE(httpGet(http, srv.port, "GET", 10, &resp, &err) == 0);
    CHECK_INT(resp.status, 503);
    CHECK_INT(resp.body->len, HTTP_ERROR_BODY_MAX);
    cannedStop(&srv);
    httpResponseClear(&resp);
    httpFree(http);
    bvFree(reply);
}

/* A body reader that fails after some bytes. */
typedef struct FailingBody {
    int opened;
} FailingBody;

static ssize_t
failingRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    (void)ctx;
    (void)buf;
    (void)len;
    return errSet(err, ERR_CHECKSUM, "the body does not match its description");
}

static void
failingFree(void *ctx) {
    (void)ctx;
}

static const IoReadVt failingVt = {.name = "failing", .read = failingRead, .free = failingFree};

static IoRead *
failingOpen(void *ctx, Err *err) {
    FailingBody *fb = ctx;

    (void)err;
    fb->opened++;
    return ioReadNew(&failingVt, fb);
}

static void
testHttpBodies(void) {
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    HttpOptions opts = {.allowHttp = true};
    Http *http;
    HttpResponse resp;
    CannedServer srv = {0};
    FailingBody fb = {0};
    char url[64];
    Err err = {0};

    http = httpNew(&opts, &err);
    REQUIRE(http != NULL);
    httpResponseInit(&resp);
    cannedStart(&srv, ok, sizeof(ok) - 1, 2);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/b/k", srv.port);
    {
        HttpRequest req = {.method = "PUT", .url = url, .body = "0123456789", .bodyLen = 10};

        REQUIRE(httpRequest(http, &req, &resp, &err) == 0);
        CHECK_INT(resp.status, 200);
        CHECK(memmem(srv.request->data, srv.request->len, "PUT /b/k HTTP/1.1\r\n", 19) != NULL);
        CHECK(memmem(srv.request->data, srv.request->len, "Content-Length: 10\r\n", 20) != NULL);
        CHECK(srv.request->len > 10 &&
              memcmp(srv.request->data + srv.request->len - 10, "0123456789", 10) == 0);
    }
    {
        /* The reader's error comes back unchanged: the caller knows what it means. */
        HttpRequest req = {.method = "POST", .url = url, .bodyOpen = failingOpen, .bodyCtx = &fb,
                           .bodyLen = 100};

        CHECK_INT(httpRequest(http, &req, &resp, &err), -1);
        CHECK_INT(err.code, ERR_CHECKSUM);
        CHECK_STR(err.msg, "the body does not match its description");
        CHECK_INT(fb.opened, 1);
    }
    cannedStop(&srv);
    httpResponseClear(&resp);
    httpFree(http);
}

static void
testHttpTransportErrors(void) {
    HttpOptions opts = {.allowHttp = true, .stallTimeoutSec = 1};
    HttpOptions httpsOnly = {0};
    HttpResponse resp;
    CannedServer srv = {0};
    Http *http;
    Err err = {0};
    int fd;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    unsigned closedPort;

    /* A port nobody listens on: bound, then closed. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    BV_ASSERT(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
    BV_ASSERT(getsockname(fd, (struct sockaddr *)&addr, &len) == 0);
    closedPort = ntohs(addr.sin_port);
    close(fd);

    httpResponseInit(&resp);
    http = httpNew(&opts, &err);
    REQUIRE(http != NULL);
    CHECK_INT(httpGet(http, closedPort, "GET", 10, &resp, &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK(strncmp(err.msg, "curl error 7 (couldn't connect to server): ", 43) == 0);
    /* A server that accepts and says nothing: the stall limit ends the wait. */
    srv.stallSec = 2;
    cannedStart(&srv, "", 0, 1);
    CHECK_INT(httpGet(http, srv.port, "GET", 10, &resp, &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK(strncmp(err.msg, "curl error 28 ", 14) == 0);
    cannedStop(&srv);
    httpFree(http);

    /* Plain http is refused unless the endpoint asked for it. */
    http = httpNew(&httpsOnly, &err);
    REQUIRE(http != NULL);
    CHECK_INT(httpGet(http, closedPort, "GET", 10, &resp, &err), -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK(strncmp(err.msg, "curl error 1 ", 13) == 0);
    httpFree(http);
    httpResponseClear(&resp);
}

static void
testHttpPool(void) {
    HttpOptions opts = {0};
    HttpPool *pool = httpPoolNew(&opts);
    Http *a, *b, *c;
    Err err = {0};

    a = httpPoolGet(pool, &err);
    b = httpPoolGet(pool, &err);
    REQUIRE(a != NULL && b != NULL);
    CHECK(a != b);
    httpPoolPut(pool, a);
    c = httpPoolGet(pool, &err);
    CHECK(c == a); /* reused: its connections with it */
    httpPoolPut(pool, b);
    httpPoolPut(pool, c);
    httpPoolPut(pool, NULL);
    httpPoolFree(pool);
}

/* --- object reads (storage/s3.c) against the canned server ---------------------------------- */

/* An S3 store on the canned server's port (path style, fixed credentials). */
static Storage *
cannedStore(const CannedServer *srv) {
    char endpoint[64];
    StorageOptions o = {0};
    Storage *st;
    Err err = {0};

    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", srv->port);
    o.s3Endpoint = endpoint;
    o.s3UriStyle = "path";
    o.s3AccessKeyId = "AKIDEXAMPLE";
    o.s3SecretAccessKey = "secret";
    st = storageS3NewUrl("s3://bucket/prefix", &o, &err);
    BV_ASSERT(st != NULL);
    return st;
}

/* Open `length` bytes (0: all) of object "obj" from `offset` on a server that answers the
 * `connections` replies of `script` in turn; what it read goes to `buf` (*n bytes), the last
 * request it got to `request` (a Buf the caller frees). The reader's open returns -1 with `err`
 * set. */
static int
cannedReadScript(const char *const *script, int connections, uint64_t offset, uint64_t length, uint8_t *buf,
                 size_t size, ssize_t *n, Buf **request, Err *err) {
    CannedServer srv = {0};
    Storage *st;
    IoRead *r;

    srv.script = script;
    cannedStart(&srv, NULL, 0, connections);
    st = cannedStore(&srv);
    *n = -1;
    if ((r = storageOpenRead(st, "obj", offset, length, err)) != NULL) {
        *n = ioReadFull(r, buf, size, err);
        ioReadFree(r);
    }
    storageFree(st);
    /* The connections served: one more request would find nobody answering. */
    pthread_join(srv.thread, NULL);
    close(srv.listenFd);
    *request = srv.request;
    return r != NULL ? 0 : -1;
}

/* The same, on a server that answers `reply` once. */
static int
cannedRead(const char *reply, uint64_t offset, uint8_t *buf, size_t size, ssize_t *n, Buf **request, Err *err) {
    return cannedReadScript(&reply, 1, offset, 0, buf, size, n, request, err);
}

/* A read asks once: its first ranged GET says the object's size (Content-Range) and ETag, where a
 * HEAD came first before (two requests per object read). A missing object, a response without
 * Content-Range and a store that sends the whole object instead of the range. */
static void
testReadOneRequest(void) {
    uint8_t buf[32];
    ssize_t n;
    Buf *req;
    Err err = {0};

    CHECK(cannedRead("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 2-9/10\r\nContent-Length: 8\r\n"
                     "ETag: \"e1\"\r\nConnection: close\r\n\r\n23456789",
                     2, buf, sizeof(buf), &n, &req, &err) == 0);
    CHECK_INT(n, 8);
    CHECK(n == 8 && memcmp(buf, "23456789", 8) == 0);
    bufAppend(req, "", 1);
    CHECK(strncmp((const char *)req->data, "GET /bucket/prefix/obj ", 23) == 0);
    CHECK(strcasestr((const char *)req->data, "range: bytes=2-8388609\r\n") != NULL);
    bufFree(req);

    CHECK(cannedRead("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0, buf,
                     sizeof(buf), &n, &req, &err) == -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    bufFree(req);
    errClear(&err);

    CHECK(cannedRead("HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", 0, buf,
                     sizeof(buf), &n, &req, &err) == -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK_MSG(err.msg, "no valid Content-Range");
    bufFree(req);
    errClear(&err);

    CHECK(cannedRead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", 0, buf, sizeof(buf),
                     &n, &req, &err) == 0);
    CHECK_INT(n, 3);
    bufFree(req);

    /* An object shorter than the first range: all of it in that one response. */
    CHECK(cannedRead("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-2/3\r\nContent-Length: 3\r\n"
                     "Connection: close\r\n\r\nabc",
                     0, buf, sizeof(buf), &n, &req, &err) == 0);
    CHECK_INT(n, 3);
    bufFree(req);
}

/* A read past the first chunk: the next ranged GET asks for the rest with the first one's ETag
 * (If-Match), and is refused when the object was replaced (412), when the store ignores the
 * range and when it sends less than asked for. */
static void
testReadChunks(void) {
    size_t size = S3_READ_CHUNK + 2, headLen;
    char *first = bvMalloc(S3_READ_CHUNK + 256);
    uint8_t *buf = bvMalloc(size + 1);
    const char *script[2] = {first, NULL};
    ssize_t n;
    Buf *req;
    Err err = {0};

    headLen = (size_t)snprintf(first, 256, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-%u/%zu\r\n"
                                           "Content-Length: %u\r\nETag: \"e1\"\r\nConnection: close\r\n\r\n",
                               S3_READ_CHUNK - 1, size, S3_READ_CHUNK);
    memset(first + headLen, 'a', S3_READ_CHUNK);
    first[headLen + S3_READ_CHUNK] = '\0';

    script[1] = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 8388608-8388609/8388610\r\n"
                "Content-Length: 2\r\nConnection: close\r\n\r\nzz";
    CHECK(cannedReadScript(script, 2, 0, 0, buf, size + 1, &n, &req, &err) == 0);
    CHECK_INT(n, size);
    CHECK(n == (ssize_t)size && buf[0] == 'a' && buf[S3_READ_CHUNK - 1] == 'a' &&
          memcmp(buf + S3_READ_CHUNK, "zz", 2) == 0);
    bufAppend(req, "", 1);
    CHECK(strcasestr((const char *)req->data, "range: bytes=8388608-8388609\r\n") != NULL);
    CHECK(strcasestr((const char *)req->data, "if-match: \"e1\"\r\n") != NULL);
    bufFree(req);

    script[1] = "HTTP/1.1 412 Precondition Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    CHECK(cannedReadScript(script, 2, 0, 0, buf, size + 1, &n, &req, &err) == 0);
    CHECK_INT(n, -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK_MSG(err.msg, "the object was replaced while being read");
    bufFree(req);
    errClear(&err);

    script[1] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nzz";
    CHECK(cannedReadScript(script, 2, 0, 0, buf, size + 1, &n, &req, &err) == 0);
    CHECK_INT(n, -1);
    CHECK_MSG(err.msg, "the store ignored the range bytes=8388608-8388609");
    bufFree(req);
    errClear(&err);

    script[1] = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 8388608-8388609/8388610\r\n"
                "Content-Length: 1\r\nConnection: close\r\n\r\nz";
    CHECK(cannedReadScript(script, 2, 0, 0, buf, size + 1, &n, &req, &err) == 0);
    CHECK_INT(n, -1);
    CHECK_MSG(err.msg, "short response: 1 bytes of 2 from offset 8388608");
    bufFree(req);
    errClear(&err);
    bvFree(first);
    bvFree(buf);
}

/* A first range past the end (416): a HEAD says the size, for an empty read at the end exactly
 * and a refusal past it; a store that sends the whole object for a range from its middle; a
 * length within the object and one past its end. */
static void
testReadEnds(void) {
    const char *script[2] = {"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"e1\"\r\nConnection: close\r\n\r\n"};
    uint8_t buf[16];
    ssize_t n;
    Buf *req;
    Err err = {0};

    CHECK(cannedReadScript(script, 2, 5, 0, buf, sizeof(buf), &n, &req, &err) == 0);
    CHECK_INT(n, 0);
    bufAppend(req, "", 1);
    CHECK(strncmp((const char *)req->data, "HEAD /bucket/prefix/obj ", 24) == 0);
    bufFree(req);

    CHECK(cannedReadScript(script, 2, 7, 0, buf, sizeof(buf), &n, &req, &err) == -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "past the end (5 bytes)");
    bufFree(req);
    errClear(&err);

    CHECK(cannedRead("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc", 1, buf, sizeof(buf),
                     &n, &req, &err) == -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK_MSG(err.msg, "the store ignored the range bytes=1-");
    bufFree(req);
    errClear(&err);

    /* A length: the range asked for and no more, or refused past the end. */
    script[0] = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 2-4/10\r\nContent-Length: 3\r\n"
                "Connection: close\r\n\r\n234";
    CHECK(cannedReadScript(script, 1, 2, 3, buf, sizeof(buf), &n, &req, &err) == 0);
    CHECK(n == 3 && memcmp(buf, "234", 3) == 0);
    bufAppend(req, "", 1);
    CHECK(strcasestr((const char *)req->data, "range: bytes=2-4\r\n") != NULL);
    bufFree(req);
    CHECK(cannedReadScript(script, 1, 2, 20, buf, sizeof(buf), &n, &req, &err) == -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "range of 20 bytes from offset 2 is past the end (10 bytes)");
    bufFree(req);
}

static void
testContentRange(void) {
    uint64_t total = 0;

    CHECK(s3ContentRangeTotal("bytes 0-9/10", &total) == 0 && total == 10);
    CHECK(s3ContentRangeTotal("bytes */4096", &total) == 0 && total == 4096);
    CHECK(s3ContentRangeTotal("bytes 0-9/*", &total) == -1);
    CHECK(s3ContentRangeTotal("bytes 0-9", &total) == -1);
    CHECK(s3ContentRangeTotal("items 0-9/10", &total) == -1);
    CHECK(s3ContentRangeTotal("bytes 0-9/-1", &total) == -1);
    CHECK(s3ContentRangeTotal(NULL, &total) == -1);
}

void
suite_s3(void) {
    testRun("s3: error classes", testErrorClass);
    testRun("s3: http responses", testHttpResponses);
    testRun("s3: http error body", testHttpErrorBody);
    testRun("s3: http request bodies", testHttpBodies);
    testRun("s3: http transport errors", testHttpTransportErrors);
    testRun("s3: http handle pool", testHttpPool);
    testRun("s3: an object read is one request", testReadOneRequest);
    testRun("s3: an object read past its first chunk", testReadChunks);
    testRun("s3: an object read at or past its end", testReadEnds);
    testRun("s3: Content-Range", testContentRange);
}
