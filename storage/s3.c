/*
 * The S3 driver (storage/s3.h): HEAD, ranged GET, LIST and DELETE, the driver's function table
 * and opening. Its other jobs are files of their own (storage/s3_internal.h lists them).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/s3_internal.h"

/* --- HEAD --------------------------------------------------------------------------------- */

/* An HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT") as seconds since the epoch; 0 if malformed. */
static int64_t
s3HttpDate(const char *text) {
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return 0;
    return (int64_t)timegm(&tm);
}

/* A refused HEAD has no body to say why: ask for one byte with a GET, which gets the same
 * refusal with its S3 code (SignatureDoesNotMatch, AccessDenied, ...). */
static int
s3HeadFail(S3 *this, Http *http, const char *key, const HttpResponse *resp, Err *err) {
    S3Req r = {.method = "GET", .key = key};
    HttpResponse probe;
    Buf *sink;
    Err probeErr;

    /* Only refusals (4xx) are worth a second request; a busy store (5xx) is not asked again. */
    if (resp->status < 400 || resp->status > 499 || resp->status == 416)
        return s3ResponseFail(this, resp, NULL, err);
    sink = bufNew(0);
    s3ReqHeader(&r, "Range", "bytes=0-0");
    r.sink = ioWriteBufNew(sink, 1);
    httpResponseInit(&probe);
    if (s3Do(this, http, &r, &probe, &probeErr) == 0 && probe.status == resp->status &&
        probe.body->len > 0)
        s3ResponseFail(this, &probe, NULL, err);
    else
        s3ResponseFail(this, resp, NULL, err);
    httpResponseClear(&probe);
    ioWriteFree(r.sink);
    bufFree(sink);
    return -1;
}

int
s3HeadKey(S3 *this, Http *http, const char *key, S3Head *out, Err *err) {
    S3Req r = {.method = "HEAD", .key = key};
    HttpResponse resp;
    const char *value;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    httpResponseInit(&resp);
    if (s3Do(this, http, &r, &resp, err) != 0)
        goto out;
    if (resp.status == 404) {
        rc = 0;
        goto out;
    }
    if (!s3Ok(&resp)) {
        s3HeadFail(this, http, key, &resp, err);
        goto out;
    }
    value = httpResponseHeader(&resp, "content-length");
    if (value == NULL || s3ParseU64(value, &out->size) != 0) {
        errSet(err, ERR_STORAGE, "the HEAD response has no valid Content-Length");
        goto out;
    }
    out->exists = true;
    value = httpResponseHeader(&resp, "last-modified");
    out->mtime = value ? s3HttpDate(value) : 0;
    value = httpResponseHeader(&resp, "etag");
    if (value != NULL && s3Printable(value, S3_ETAG_MAX))
        snprintf(out->etag, sizeof(out->etag), "%s", value);
    value = httpResponseHeader(&resp, "x-amz-meta-sha256");
    if (value != NULL && strlen(value) == S3_HEX_SHA256 - 1 &&
        strspn(value, "0123456789abcdef") == S3_HEX_SHA256 - 1)
        snprintf(out->sha256, sizeof(out->sha256), "%s", value);
    rc = 0;
out:
    httpResponseClear(&resp);
    return rc;
}

static int
s3DriverHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    S3 *this = driver;
    char *key = s3Key(this, name);
    Http *http = httpPoolGet(this->pool, err);
    S3Head head;
    int rc = -1;

    if (http != NULL && s3HeadKey(this, http, key, &head, err) == 0) {
        out->exists = head.exists;
        out->size = head.size;
        out->mtime = head.mtime;
        rc = 0;
    }
    httpPoolPut(this->pool, http);
    bvFree(key);
    return rc;
}

/* --- GET ---------------------------------------------------------------------------------- */

/* A reader fetching the object in ranged GETs of S3_READ_CHUNK bytes: memory stays bounded
 * and each request is short, so a slow consumer never leaves a transfer stalled. The first GET
 * also says what a HEAD would (the object's size, its ETag): one request, not two, for an object
 * of up to S3_READ_CHUNK bytes. Its ETag is required (If-Match) of the next ones, so a replaced
 * object is not read half old, half new. */
typedef struct S3Read {
    S3 *s3;
    char *key;
    char etag[S3_ETAG_MAX + 1];
    bool sized;      /* a GET said the object's size: the first one does */
    uint64_t size;   /* of the object, once sized */
    uint64_t length; /* asked for from the first byte read (0: to the end of the object) */
    uint64_t pos;    /* next byte to fetch */
    uint64_t end;    /* end of the range read, once sized */
    Buf *chunk;
    size_t chunkPos;
} S3Read;

int
s3ContentRangeTotal(const char *value, uint64_t *total) {
    const char *slash;

    if (value == NULL || strncmp(value, "bytes ", 6) != 0 || (slash = strchr(value, '/')) == NULL)
        return -1;
    return s3ParseU64(slash + 1, total);
}

/* What the reader's first GET, answered `resp`, says of the object: its size (the Content-Range
 * of a 206, the length of a 200 that sent it whole, or after a 416, a range past the end, a
 * HEAD's: the size says so, or at the end exactly the read is empty), the end of the range read,
 * checked against it, and the ETag the next GETs require. */
static int
s3ReadSize(S3Read *this, Http *http, const HttpResponse *resp, Err *err) {
    const char *etag = httpResponseHeader(resp, "etag");
    uint64_t offset = this->pos;
    S3Head head = {0};

    if (resp->status == 404)
        return errSet(err, ERR_NOTFOUND, "no such object");
    if (resp->status == 416) {
        if (s3HeadKey(this->s3, http, this->key, &head, err) != 0)
            return -1;
        if (!head.exists)
            return errSet(err, ERR_NOTFOUND, "no such object");
        this->size = head.size;
        etag = head.etag;
    } else if (resp->status == 206) {
        if (s3ContentRangeTotal(httpResponseHeader(resp, "content-range"), &this->size) != 0)
            return errSet(err, ERR_STORAGE, "the ranged GET response has no valid Content-Range");
    } else if (resp->status == 200) {
        this->size = this->chunk->len; /* its Content-Length, checked by s3ReadFetch() */
    } else {
        return s3ResponseFail(this->s3, resp, NULL, err);
    }
    if (offset > this->size || this->length > this->size - offset)
        return errSet(err, ERR_FORMAT, "range of %llu bytes from offset %llu is past the end (%llu bytes)",
                      (unsigned long long)this->length, (unsigned long long)offset,
                      (unsigned long long)this->size);
    this->end = this->length ? offset + this->length : this->size;
    if (etag != NULL && s3Printable(etag, S3_ETAG_MAX))
        snprintf(this->etag, sizeof(this->etag), "%s", etag);
    this->sized = true;
    return 0;
}

/* The reader's next ranged GET, of S3_READ_CHUNK bytes at most, into its chunk; the first one
 * sizes the reader (s3ReadSize()). A store that ignores the range is refused, unless it sent the
 * whole object from its first byte and that fit in the range asked for. */
static int
s3ReadFetch(S3Read *this, Err *err) {
    S3 *s3 = this->s3;
    uint64_t left = this->sized ? this->end - this->pos : this->length;
    uint64_t want = left != 0 && left < S3_READ_CHUNK ? left : S3_READ_CHUNK, total, expect;
    char range[64];
    const char *value;
    S3Req r = {.method = "GET", .key = this->key};
    HttpResponse resp;
    Http *http;
    int rc = -1;

    bufClear(this->chunk);
    this->chunkPos = 0;
    snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)this->pos,
             (unsigned long long)(this->pos + want - 1));
    s3ReqHeader(&r, "Range", range);
    if (this->etag[0])
        s3ReqHeader(&r, "If-Match", this->etag);
    r.sink = ioWriteBufNew(this->chunk, (size_t)want);
    httpResponseInit(&resp);
    if ((http = httpPoolGet(s3->pool, err)) == NULL || s3Do(s3, http, &r, &resp, err) != 0)
        goto out;
    if (resp.status == 200) {
        value = httpResponseHeader(&resp, "content-length");
        if (this->pos != 0 || value == NULL || s3ParseU64(value, &total) != 0 || total != this->chunk->len ||
            (this->sized && total != this->size)) {
            errSet(err, ERR_STORAGE, "the store ignored the range %s", range);
            goto out;
        }
    } else if (resp.status == 412 && this->etag[0]) {
        errSet(err, ERR_STORAGE, "the object was replaced while being read");
        goto out;
    } else if (resp.status != 206 && this->sized) {
        s3ResponseFail(s3, &resp, NULL, err);
        goto out;
    }
    if (!this->sized && s3ReadSize(this, http, &resp, err) != 0)
        goto out;
    if (this->chunk->len > this->end - this->pos) /* a whole object longer than the range */
        this->chunk->len = (size_t)(this->end - this->pos);
    expect = this->end - this->pos < want ? this->end - this->pos : want;
    if (resp.status != 416 && this->chunk->len != expect) {
        errSet(err, ERR_STORAGE, "short response: %zu bytes of %llu from offset %llu", this->chunk->len,
               (unsigned long long)expect, (unsigned long long)this->pos);
        goto out;
    }
    this->pos += this->chunk->len;
    rc = 0;
out:
    httpPoolPut(s3->pool, http);
    httpResponseClear(&resp);
    ioWriteFree(r.sink);
    return rc;
}

static ssize_t
s3ReadRead(void *p, uint8_t *buf, size_t len, Err *err) {
    S3Read *this = p;
    size_t n;

    if (this->chunkPos == this->chunk->len) {
        if (this->pos == this->end)
            return 0;
        if (s3ReadFetch(this, err) != 0)
            return -1;
    }
    n = this->chunk->len - this->chunkPos;
    if (n > len)
        n = len;
    memcpy(buf, this->chunk->data + this->chunkPos, n);
    this->chunkPos += n;
    return (ssize_t)n;
}

static void
s3ReadFree(void *p) {
    S3Read *this = p;

    bufFree(this->chunk);
    bvFree(this->key);
    bvFree(this);
}

static const IoReadVt s3ReadVt = {
    .name = "s3",
    .read = s3ReadRead,
    .free = s3ReadFree,
};

static IoRead *
s3DriverOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err) {
    S3Read *reader = bvCalloc(1, sizeof(*reader));

    reader->s3 = driver;
    reader->key = s3Key(driver, name);
    reader->chunk = bufNew(0);
    reader->pos = offset;
    reader->length = length;
    if (s3ReadFetch(reader, err) != 0) {
        s3ReadFree(reader);
        return NULL;
    }
    return ioReadNew(&s3ReadVt, reader);
}

/* --- LIST, DELETE ------------------------------------------------------------------------- */

static int
s3DriverListFrom(void *driver, const char *prefix, const char *startAfter, StorageListCb *cb, void *data, Err *err) {
    S3 *this = driver;
    char *keyPrefix = s3Key(this, prefix), *keyAfter = startAfter ? s3Key(this, startAfter) : NULL;
    char *token = NULL, *last = NULL, page[16];
    size_t strip = this->prefix[0] ? strlen(this->prefix) + 1 : 0;
    Http *http = httpPoolGet(this->pool, err);
    HttpResponse resp;
    S3ListPage list = {0};
    int rc = -1;

    httpResponseInit(&resp);
    snprintf(page, sizeof(page), "%u", this->listPage);
    if (http == NULL)
        goto out;
    for (;;) {
        S3Req r = {.method = "GET"};

        s3ReqQuery(&r, "list-type", "2");
        s3ReqQuery(&r, "prefix", keyPrefix);
        s3ReqQuery(&r, "max-keys", page);
        if (token != NULL)
            s3ReqQuery(&r, "continuation-token", token);
        else if (keyAfter != NULL)
            s3ReqQuery(&r, "start-after", keyAfter);
        if (s3Do(this, http, &r, &resp, err) != 0)
            goto out;
        if (!s3Ok(&resp)) {
            s3ResponseFail(this, &resp, NULL, err);
            goto out;
        }
        if (s3ListParse((const char *)resp.body->data, resp.body->len, &list, err) != 0)
            goto out;
        for (size_t i = 0; i < list.count; i++) {
            const char *key = list.entries[i].key, *name;
            Err nameErr;

            if (strncmp(key, keyPrefix, strlen(keyPrefix)) != 0) {
                errSet(err, ERR_FORMAT, "the listing returned a key outside the prefix asked for");
                goto out;
            }
            name = key + strip;
            if (storageNameValid(name, &nameErr) != 0) {
                if (s3Printable(key, STORAGE_NAME_MAX + strip))
                    logWarn("'%s': ignoring the object '%s': %s", this->url, key, nameErr.msg);
                else
                    logWarn("'%s': ignoring an object whose key is not a valid name", this->url);
                continue;
            }
            if (last != NULL && strcmp(name, last) <= 0) {
                errSet(err, ERR_FORMAT, "the listing is not in order: '%s' after '%s'", name, last);
                goto out;
            }
            bvFree(last);
            last = bvStrdup(name);
            if (cb(name, list.entries[i].size, data, err) != 0)
                goto out;
        }
        if (!list.truncated)
            break;
        if (token != NULL && strcmp(token, list.nextToken) == 0) {
            errSet(err, ERR_FORMAT, "the listing returned the same continuation token twice");
            goto out;
        }
        bvFree(token);
        token = list.nextToken;
        list.nextToken = NULL;
        s3ListPageClear(&list);
    }
    rc = 0;
out:
    s3ListPageClear(&list);
    httpResponseClear(&resp);
    httpPoolPut(this->pool, http);
    bvFree(token);
    bvFree(last);
    bvFree(keyPrefix);
    bvFree(keyAfter);
    return rc;
}

static int
s3DriverList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    return s3DriverListFrom(driver, prefix, NULL, cb, data, err);
}

static int
s3DriverRemove(void *driver, const char *name, Err *err) {
    S3 *this = driver;
    char *key = s3Key(this, name), *code = NULL;
    Http *http = httpPoolGet(this->pool, err);
    S3Req r = {.method = "DELETE", .key = key};
    HttpResponse resp;
    int rc = -1;

    httpResponseInit(&resp);
    if (http != NULL && s3Do(this, http, &r, &resp, err) == 0) {
        if (s3Ok(&resp))
            rc = 0;
        else if (s3ResponseFail(this, &resp, &code, err) != 0 && resp.status == 404 &&
                 (code == NULL || strcmp(code, "NoSuchKey") == 0))
            rc = 0;
    }
    bvFree(code);
    httpResponseClear(&resp);
    httpPoolPut(this->pool, http);
    bvFree(key);
    return rc;
}

/* --- Opening ------------------------------------------------------------------------------ */

static void
s3DriverFree(void *driver) {
    S3 *this = driver;

    httpPoolFree(this->pool);
    s3CredentialsClear(&this->cred);
    bvFree(this->bucket);
    bvFree(this->prefix);
    bvFree(this->scheme);
    bvFree(this->authority);
    bvFree(this->hostHeader);
    bvFree(this->basePath);
    bvFree(this->endpoint);
    bvFree(this->region);
    bvFree(this->url);
    bvFree(this);
}

/* Every PUT and part carries a Content-MD5. */
static bool
s3DriverSendsMd5(void *driver) {
    (void)driver;
    return true;
}

static bool
s3DriverSendsWholeMd5(void *driver, uint64_t size) {
    return size <= ((S3 *)driver)->threshold;
}

static const StorageDriverVt s3Vt = {
    .put = s3DriverPut,
    .putAt = s3DriverPutAt,
    .openRead = s3DriverOpenRead,
    .head = s3DriverHead,
    .list = s3DriverList,
    .listFrom = s3DriverListFrom,
    .remove = s3DriverRemove,
    .cleanTemp = s3DriverCleanTemp,
    .free = s3DriverFree,
    .sendsMd5 = s3DriverSendsMd5,
    .sendsWholeMd5 = s3DriverSendsWholeMd5,
};

Storage *
storageS3New(const S3Options *opts, Err *err) {
    S3 *this;
    Storage *storage;
    const char *region = opts->region ? opts->region : S3_REGION_DEFAULT;
    const char *prefix = opts->prefix ? opts->prefix : "";
    char *endpoint;
    HttpOptions http = {0};
    Err nameErr;

    if (httpGlobalInit(err) != 0)
        return NULL;
    if (opts->bucket == NULL || !s3BucketValid(opts->bucket, strlen(opts->bucket))) {
        errSet(err, ERR_USAGE, "invalid S3 bucket name '%s'", opts->bucket ? opts->bucket : "");
        return NULL;
    }
    if (prefix[0] != '\0' && storageNameValid(prefix, &nameErr) != 0) {
        errSet(err, ERR_USAGE, "invalid S3 prefix '%s': %s", prefix, nameErr.msg);
        return NULL;
    }
    if (region[0] == '\0' || strlen(region) > 64 ||
        strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region)) {
        errSet(err, ERR_CONFIG, "invalid S3 region '%s'", region);
        return NULL;
    }
    if (opts->partSize != 0 && (opts->partSize < S3_PART_MIN || opts->partSize > S3_PUT_MAX)) {
        errSet(err, ERR_CONFIG, "invalid S3 part size %llu: it must be from 5 MiB to 5 GiB",
               (unsigned long long)opts->partSize);
        return NULL;
    }
    if (opts->multipartThreshold > S3_PUT_MAX) {
        errSet(err, ERR_CONFIG, "invalid S3 multipart threshold %llu: at most 5 GiB",
               (unsigned long long)opts->multipartThreshold);
        return NULL;
    }
    if (opts->listPage > S3_LIST_PAGE_MAX) {
        errSet(err, ERR_CONFIG, "invalid S3 listing page size %u: at most %d", opts->listPage,
               S3_LIST_PAGE_MAX);
        return NULL;
    }
    if (opts->caFile != NULL && access(opts->caFile, R_OK) != 0) {
        errSetSys(err, ERR_CONFIG, errno, "unable to read the CA file '%s'", opts->caFile);
        return NULL;
    }

    this = bvCalloc(1, sizeof(*this));
    this->bucket = bvStrdup(opts->bucket);
    this->prefix = bvStrdup(prefix);
    this->region = bvStrdup(region);
    atomic_init(&this->noConditional, false);
    endpoint = opts->endpoint ? bvStrdup(opts->endpoint)
                              : bvSprintf("https://s3.%s.amazonaws.com", region);
    if (s3EndpointSet(this, endpoint, opts->uriStyle, err) != 0 ||
        s3CredentialsGet(opts, &this->cred, err) != 0) {
        bvFree(endpoint);
        s3DriverFree(this);
        return NULL;
    }
    bvFree(endpoint);
    this->threshold = opts->multipartThreshold ? opts->multipartThreshold
                                               : S3_MULTIPART_THRESHOLD_DEFAULT;
    this->partSize = opts->partSize ? opts->partSize : S3_PART_SIZE_DEFAULT;
    this->listPage = opts->listPage ? opts->listPage : S3_LIST_PAGE_MAX;
    http.caFile = opts->caFile;
    http.allowHttp = strcmp(this->scheme, "http") == 0;
    http.connectTimeoutSec = opts->connectTimeoutSec;
    http.stallTimeoutSec = opts->stallTimeoutSec;
    this->pool = httpPoolNew(&http);
    this->url = prefix[0] ? bvSprintf("s3://%s/%s", this->bucket, prefix)
                          : bvSprintf("s3://%s", this->bucket);
    storage = storageNewDriver(&s3Vt, this, this->url);
    return storage;
}

Storage *
storageS3NewUrl(const char *url, const StorageOptions *storageOpts, Err *err) {
    S3Options opts;
    Storage *storage;

    if (s3OptionsFromStorage(&opts, url, storageOpts, err) != 0)
        return NULL;
    storage = storageS3New(&opts, err);
    s3OptionsFree(&opts);
    return storage;
}
