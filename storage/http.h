/*
 * HTTP(S) requests: the one wrapper around libcurl (nothing else in binvault calls it).
 *
 * An Http is one curl easy handle; it keeps its connections (and TLS sessions, DNS answers)
 * from one request to the next, so reusing it saves the handshakes. It must be used by one
 * thread at a time: a worker keeps its own, or takes one from an HttpPool for each request.
 *
 * A request has a method, a URL, headers and a body of known length, either in memory or
 * streamed from readers made on demand (bounded memory for large files; made again when curl
 * must rewind, e.g. to retry on a fresh connection). The response gives the status, the headers
 * and the body: streamed into an IoWrite when the status is 2xx, or else kept in a bounded
 * buffer (error bodies are cut at HTTP_ERROR_BODY_MAX bytes).
 *
 * TLS certificates and host names are verified, always; plain http:// is refused unless the
 * options allow it (an endpoint the user wrote as http://). A transfer fails when the connection
 * cannot be made within the connect timeout, when it stalls (less than 1 byte per second for the
 * stall time), or when it takes longer than the total timeout if one is set.
 *
 * Transfer failures (no HTTP response) are reported as "curl error 7 (couldn't connect to
 * server): <details>": ERR_STORAGE for what may pass (DNS, connect, reset, timeout, TLS
 * handshake), ERR_CONFIG for what will not (certificate verification, malformed URL,
 * unsupported protocol); an error of the body reader or of the sink is returned unchanged.
 */
#ifndef BV_STORAGE_HTTP_H
#define BV_STORAGE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/io.h"

#define HTTP_CONNECT_TIMEOUT_DEFAULT 10 /* seconds */
#define HTTP_STALL_TIMEOUT_DEFAULT 60   /* seconds */
/* Error bodies (status other than 2xx) are kept up to this size; the rest is dropped. */
#define HTTP_ERROR_BODY_MAX (64 * 1024)
/* Response headers kept (more are ignored), and the longest header line kept. */
#define HTTP_HEADERS_MAX 100
#define HTTP_HEADER_LINE_MAX 8192

typedef struct Http Http;
typedef struct HttpPool HttpPool;

typedef struct HttpOptions {
    unsigned connectTimeoutSec; /* 0: HTTP_CONNECT_TIMEOUT_DEFAULT */
    unsigned stallTimeoutSec;   /* 0: HTTP_STALL_TIMEOUT_DEFAULT */
    unsigned totalTimeoutSec;   /* 0: no limit on the whole request */
    const char *caFile;         /* PEM bundle of the CAs to trust; NULL: the system's */
    bool allowHttp;             /* accept http:// URLs (only https:// otherwise) */
} HttpOptions;

/* Makes a new reader over the request body, from its start. */
typedef IoRead *HttpBodyOpen(void *ctx, Err *err);

typedef struct HttpRequest {
    const char *method; /* GET, HEAD, PUT, POST, DELETE */
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t headerCount;
    /* The body, if any: `bodyLen` bytes at `body`, or read from readers made by `bodyOpen`
     * (which must yield exactly `bodyLen` bytes; fewer is an error). With neither, a PUT or POST
     * sends an empty body. */
    const void *body;
    HttpBodyOpen *bodyOpen;
    void *bodyCtx;
    uint64_t bodyLen;
    /* Where a 2xx response body goes: into `sink` (not closed here) or, when it is NULL, into
     * the response's buffer up to `maxBody` bytes (more is ERR_LIMIT). */
    IoWrite *sink;
    size_t maxBody;
} HttpRequest;

typedef struct HttpHeader {
    char *name; /* lowercase */
    char *value; /* leading and trailing blanks removed */
} HttpHeader;

typedef struct HttpResponse {
    long status;
    HttpHeader *headers;
    size_t headerCount;
    Buf *body; /* the body when not streamed to a sink; always allocated */
} HttpResponse;

/* Start libcurl (curl_global_init, once per process; later calls only report its result).
 * httpNew() calls it; call it from main() first if other threads may already be running. */
int httpGlobalInit(Err *err);

/* A handle. ERR_INTERNAL when libcurl cannot be started. */
Http *httpNew(const HttpOptions *opts, Err *err);

/* Perform a request and fill `resp` (initialised with httpResponseInit(); cleared here first).
 * Returns 0 when a response arrived, whatever its status; -1 when there is none (see above). */
int httpRequest(Http *http, const HttpRequest *req, HttpResponse *resp, Err *err);

void httpFree(Http *http);

/* --- Responses ---------------------------------------------------------------------------- */

void httpResponseInit(HttpResponse *resp);

/* The value of response header `name` (any case), or NULL; the last one when repeated. */
const char *httpResponseHeader(const HttpResponse *resp, const char *name);

/* Free what the response holds; it can be reused after httpResponseInit(). */
void httpResponseClear(HttpResponse *resp);

/* --- Pool --------------------------------------------------------------------------------- */

/* Handles shared by threads: each takes one for a request (or a series of requests) and gives
 * it back, so connections are reused whichever thread runs next. Thread-safe. */
HttpPool *httpPoolNew(const HttpOptions *opts);

/* A free handle, or a new one when all are taken. */
Http *httpPoolGet(HttpPool *pool, Err *err);

/* Give a handle back (NULL is ignored). A handle whose last request failed may be given back:
 * curl drops a broken connection itself. A few idle handles are kept, the rest freed. */
void httpPoolPut(HttpPool *pool, Http *http);

/* Free the pool and its idle handles; every handle must have been given back. */
void httpPoolFree(HttpPool *pool);

#endif
