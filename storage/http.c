#include "storage/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/mem.h"
#include "common/version.h"

/* Idle handles an HttpPool keeps. */
#define HTTP_POOL_KEEP 16

struct Http {
    CURL *curl;
    char *caFile;
    long connectTimeout, stallTimeout, totalTimeout;
    bool allowHttp;
    char errBuf[CURL_ERROR_SIZE];
};

/* What the callbacks of one request share. */
typedef struct HttpTransfer {
    const HttpRequest *req;
    HttpResponse *resp;
    IoRead *body;     /* current body reader (bodyOpen) */
    uint64_t sent;    /* body bytes handed to curl since the last rewind */
    long status;      /* of the last status line seen */
    bool failed;      /* a callback failed: `cbErr` says why */
    Err cbErr;
} HttpTransfer;

/* --- Global init -------------------------------------------------------------------------- */

static pthread_once_t httpOnce = PTHREAD_ONCE_INIT;
static CURLcode httpGlobalResult;

static void
httpGlobalInitOnce(void) {
    httpGlobalResult = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
httpGlobalInit(Err *err) {
    pthread_once(&httpOnce, httpGlobalInitOnce);
    if (httpGlobalResult != CURLE_OK)
        return errSet(err, ERR_INTERNAL, "unable to initialise libcurl: %s",
                      curl_easy_strerror(httpGlobalResult));
    return 0;
}

/* --- Responses ---------------------------------------------------------------------------- */

void
httpResponseInit(HttpResponse *resp) {
    memset(resp, 0, sizeof(*resp));
}

void
httpResponseClear(HttpResponse *resp) {
    for (size_t i = 0; i < resp->headerCount; i++) {
        bvFree(resp->headers[i].name);
        bvFree(resp->headers[i].value);
    }
    bvFree(resp->headers);
    bufFree(resp->body);
    memset(resp, 0, sizeof(*resp));
}

const char *
httpResponseHeader(const HttpResponse *resp, const char *name) {
    for (size_t i = resp->headerCount; i > 0; i--)
        if (strcasecmp(resp->headers[i - 1].name, name) == 0)
            return resp->headers[i - 1].value;
    return NULL;
}

/* Forget the headers seen so far: a new status line starts a new response (after 100 Continue). */
static void
httpResponseDropHeaders(HttpResponse *resp) {
    for (size_t i = 0; i < resp->headerCount; i++) {
        bvFree(resp->headers[i].name);
        bvFree(resp->headers[i].value);
    }
    resp->headerCount = 0;
}

/* --- Callbacks ---------------------------------------------------------------------------- */

/* "HTTP/1.1 200 OK": the status, or 0. */
static long
httpParseStatus(const char *line, size_t len) {
    size_t i = 5;
    long status = 0;
    int digits = 0;

    while (i < len && line[i] != ' ')
        i++;
    while (i < len && line[i] == ' ')
        i++;
    for (; i < len && line[i] >= '0' && line[i] <= '9' && digits < 3; i++, digits++)
        status = status * 10 + (line[i] - '0');
    return digits == 3 ? status : 0;
}

static size_t
httpHeaderCb(char *data, size_t size, size_t nitems, void *ctx) {
    HttpTransfer *t = ctx;
    HttpResponse *resp = t->resp;
    size_t len = size * nitems, nameLen, start, end;
    const char *colon;

    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        t->status = httpParseStatus(data, len);
        httpResponseDropHeaders(resp);
        return len;
    }
    if (len > HTTP_HEADER_LINE_MAX || resp->headerCount >= HTTP_HEADERS_MAX)
        return len;
    colon = memchr(data, ':', len);
    if (colon == NULL || colon == data)
        return len;
    nameLen = (size_t)(colon - data);
    start = nameLen + 1;
    end = len;
    while (start < end && (data[start] == ' ' || data[start] == '\t'))
        start++;
    while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n' || data[end - 1] == ' ' ||
                           data[end - 1] == '\t'))
        end--;
    if (resp->headerCount % 16 == 0)
        resp->headers = bvRealloc(resp->headers, (resp->headerCount + 16) * sizeof(*resp->headers));
    resp->headers[resp->headerCount].name = bvStrndup(data, nameLen);
    for (char *p = resp->headers[resp->headerCount].name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    resp->headers[resp->headerCount].value = bvStrndup(data + start, end - start);
    resp->headerCount++;
    return len;
}

static size_t
httpWriteCb(char *data, size_t size, size_t nmemb, void *ctx) {
    HttpTransfer *t = ctx;
    size_t len = size * nmemb;
    bool ok = t->status >= 200 && t->status <= 299;

    if (ok && t->req->sink != NULL) {
        if (ioWrite(t->req->sink, data, len, &t->cbErr) != 0) {
            t->failed = true;
            return 0;
        }
        return len;
    }
    if (ok) {
        if (len > t->req->maxBody - t->resp->body->len) {
            errSet(&t->cbErr, ERR_LIMIT, "the response body is larger than %zu bytes",
                   t->req->maxBody);
            t->failed = true;
            return 0;
        }
        bufAppend(t->resp->body, data, len);
        return len;
    }
    if (t->resp->body->len < HTTP_ERROR_BODY_MAX) {
        size_t keep = HTTP_ERROR_BODY_MAX - t->resp->body->len;

        bufAppend(t->resp->body, data, len < keep ? len : keep);
    }
    return len;
}

static size_t
httpReadCb(char *buf, size_t size, size_t nitems, void *ctx) {
    HttpTransfer *t = ctx;
    const HttpRequest *req = t->req;
    uint64_t left = req->bodyLen - t->sent;
    size_t want = size * nitems;
    ssize_t n;

    if (left == 0 || want == 0)
        return 0;
    if (want > left)
        want = (size_t)left;
    if (req->bodyOpen == NULL) {
        memcpy(buf, (const uint8_t *)req->body + t->sent, want);
        t->sent += want;
        return want;
    }
    if (t->body == NULL && (t->body = req->bodyOpen(req->bodyCtx, &t->cbErr)) == NULL) {
        t->failed = true;
        return CURL_READFUNC_ABORT;
    }
    n = ioRead(t->body, buf, want, &t->cbErr);
    if (n < 0) {
        t->failed = true;
        return CURL_READFUNC_ABORT;
    }
    if (n == 0) {
        errSet(&t->cbErr, ERR_IO, "the request body ended after %llu of %llu bytes",
               (unsigned long long)t->sent, (unsigned long long)req->bodyLen);
        t->failed = true;
        return CURL_READFUNC_ABORT;
    }
    t->sent += (uint64_t)n;
    return (size_t)n;
}

/* curl rewinds the body to send it again (a retry on a fresh connection). */
static int
httpSeekCb(void *ctx, curl_off_t offset, int origin) {
    HttpTransfer *t = ctx;

    if (offset != 0 || origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    ioReadFree(t->body);
    t->body = NULL;
    t->sent = 0;
    return CURL_SEEKFUNC_OK;
}

/* --- Requests ----------------------------------------------------------------------------- */

Http *
httpNew(const HttpOptions *opts, Err *err) {
    Http *http;

    if (httpGlobalInit(err) != 0)
        return NULL;
    http = bvCalloc(1, sizeof(*http));
    http->curl = curl_easy_init();
    if (http->curl == NULL) {
        bvFree(http);
        errSet(err, ERR_INTERNAL, "unable to create a curl handle");
        return NULL;
    }
    http->caFile = opts->caFile ? bvStrdup(opts->caFile) : NULL;
    http->connectTimeout = opts->connectTimeoutSec ? (long)opts->connectTimeoutSec
                                                   : HTTP_CONNECT_TIMEOUT_DEFAULT;
    http->stallTimeout = opts->stallTimeoutSec ? (long)opts->stallTimeoutSec
                                               : HTTP_STALL_TIMEOUT_DEFAULT;
    http->totalTimeout = (long)opts->totalTimeoutSec;
    http->allowHttp = opts->allowHttp;
    return http;
}

void
httpFree(Http *http) {
    if (http == NULL)
        return;
    curl_easy_cleanup(http->curl);
    bvFree(http->caFile);
    bvFree(http);
}

/* Whether a curl failure may pass if the request is made again. */
static bool
httpCurlTransient(CURLcode code) {
    switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_SEND_FAIL_REWIND:
    case CURLE_AGAIN:
        return true;
    default:
        return false;
    }
}

/* "curl error 7 (couldn't connect to server): <details>" */
static int
httpCurlFail(Http *http, CURLcode code, Err *err) {
    char what[128];
    size_t len;

    snprintf(what, sizeof(what), "%s", curl_easy_strerror(code));
    what[0] = (char)tolower((unsigned char)what[0]);
    len = strlen(http->errBuf);
    while (len > 0 && (http->errBuf[len - 1] == '\n' || http->errBuf[len - 1] == '\r'))
        http->errBuf[--len] = '\0';
    return errSet(err, httpCurlTransient(code) ? ERR_STORAGE : ERR_CONFIG, "curl error %d (%s)%s%s",
                  (int)code, what, len ? ": " : "", http->errBuf);
}

/* Options every request starts from (curl_easy_reset() keeps connections and caches). */
static CURLcode
httpSetup(Http *http, HttpTransfer *t, struct curl_slist *headers) {
    const HttpRequest *req = t->req;
    CURL *c = http->curl;
    CURLcode rc = CURLE_OK;

#define HTTP_SET(opt, val)                                                                         \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(c, opt, val);                                                    \
    } while (0)

    curl_easy_reset(c);
    http->errBuf[0] = '\0';
    HTTP_SET(CURLOPT_ERRORBUFFER, http->errBuf);
    HTTP_SET(CURLOPT_URL, req->url);
    HTTP_SET(CURLOPT_PROTOCOLS_STR, http->allowHttp ? "http,https" : "https");
    HTTP_SET(CURLOPT_NOSIGNAL, 1L);
    HTTP_SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    HTTP_SET(CURLOPT_PATH_AS_IS, 1L);
    HTTP_SET(CURLOPT_FOLLOWLOCATION, 0L);
    HTTP_SET(CURLOPT_TCP_KEEPALIVE, 1L);
    HTTP_SET(CURLOPT_USERAGENT, "binvault/" BV_VERSION);
    HTTP_SET(CURLOPT_SSL_VERIFYPEER, 1L);
    HTTP_SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (http->caFile != NULL)
        HTTP_SET(CURLOPT_CAINFO, http->caFile);
    HTTP_SET(CURLOPT_CONNECTTIMEOUT, http->connectTimeout);
    HTTP_SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
    HTTP_SET(CURLOPT_LOW_SPEED_TIME, http->stallTimeout);
    if (http->totalTimeout > 0)
        HTTP_SET(CURLOPT_TIMEOUT, http->totalTimeout);
    HTTP_SET(CURLOPT_HTTPHEADER, headers);
    HTTP_SET(CURLOPT_HEADERFUNCTION, httpHeaderCb);
    HTTP_SET(CURLOPT_HEADERDATA, t);
    HTTP_SET(CURLOPT_WRITEFUNCTION, httpWriteCb);
    HTTP_SET(CURLOPT_WRITEDATA, t);

    if (strcmp(req->method, "HEAD") == 0) {
        HTTP_SET(CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") == 0) {
        HTTP_SET(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
        /* Both as an upload of known length, streamed by httpReadCb. curl sends "Expect:
         * 100-continue" with a large body, so a request refused for its signature or bucket is
         * refused before the body is sent. */
        HTTP_SET(CURLOPT_UPLOAD, 1L);
        HTTP_SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->bodyLen);
        HTTP_SET(CURLOPT_READFUNCTION, httpReadCb);
        HTTP_SET(CURLOPT_READDATA, t);
        HTTP_SET(CURLOPT_SEEKFUNCTION, httpSeekCb);
        HTTP_SET(CURLOPT_SEEKDATA, t);
        if (strcmp(req->method, "POST") == 0)
            HTTP_SET(CURLOPT_CUSTOMREQUEST, "POST");
    } else {
        HTTP_SET(CURLOPT_CUSTOMREQUEST, req->method);
    }
#undef HTTP_SET
    return rc;
}

int
httpRequest(Http *http, const HttpRequest *req, HttpResponse *resp, Err *err) {
    HttpTransfer t = {.req = req, .resp = resp};
    struct curl_slist *headers = NULL;
    CURLcode rc;
    int result = -1;

    BV_ASSERT(req->body == NULL || req->bodyOpen == NULL);
    BV_ASSERT(req->bodyLen == 0 || req->body != NULL || req->bodyOpen != NULL);
    httpResponseClear(resp);
    resp->body = bufNew(0);
    for (size_t i = 0; i < req->headerCount; i++) {
        struct curl_slist *next = curl_slist_append(headers, req->headers[i]);

        if (next == NULL) {
            errSet(err, ERR_INTERNAL, "out of memory building the headers of a request");
            goto out;
        }
        headers = next;
    }
    rc = httpSetup(http, &t, headers);
    if (rc != CURLE_OK) {
        errSet(err, ERR_INTERNAL, "unable to set up a curl request: %s", curl_easy_strerror(rc));
        goto out;
    }
    rc = curl_easy_perform(http->curl);
    if (t.failed) {
        *err = t.cbErr;
        goto out;
    }
    if (rc != CURLE_OK) {
        httpCurlFail(http, rc, err);
        goto out;
    }
    curl_easy_getinfo(http->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    result = 0;
out:
    /* Drop the options that point into this request before the handle is idle. */
    curl_easy_setopt(http->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(http->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    ioReadFree(t.body);
    return result;
}

/* --- Pool --------------------------------------------------------------------------------- */

struct HttpPool {
    pthread_mutex_t lock;
    HttpOptions opts;
    char *caFile;
    Http *idle[HTTP_POOL_KEEP];
    size_t idleCount;
};

HttpPool *
httpPoolNew(const HttpOptions *opts) {
    HttpPool *pool = bvCalloc(1, sizeof(*pool));
    int rc = pthread_mutex_init(&pool->lock, NULL);

    BV_ASSERT(rc == 0);
    pool->opts = *opts;
    pool->caFile = opts->caFile ? bvStrdup(opts->caFile) : NULL;
    pool->opts.caFile = pool->caFile;
    return pool;
}

Http *
httpPoolGet(HttpPool *pool, Err *err) {
    Http *http = NULL;

    pthread_mutex_lock(&pool->lock);
    if (pool->idleCount > 0)
        http = pool->idle[--pool->idleCount];
    pthread_mutex_unlock(&pool->lock);
    return http != NULL ? http : httpNew(&pool->opts, err);
}

void
httpPoolPut(HttpPool *pool, Http *http) {
    if (http == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    if (pool->idleCount < HTTP_POOL_KEEP) {
        pool->idle[pool->idleCount++] = http;
        http = NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    httpFree(http);
}

void
httpPoolFree(HttpPool *pool) {
    if (pool == NULL)
        return;
    for (size_t i = 0; i < pool->idleCount; i++)
        httpFree(pool->idle[i]);
    pthread_mutex_destroy(&pool->lock);
    bvFree(pool->caFile);
    bvFree(pool);
}
