/*
 * Storing objects in S3: a single PUT up to the multipart threshold, above it a multipart
 * upload (parts hashed and sent in turn, completed, or aborted on failure), both checked
 * against the StoragePutInfo of the caller and made conditional (If-None-Match) for immutable
 * objects; and the cleanup of multipart uploads an interrupted put left behind.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/s3_internal.h"

/* Hashing pass over a part: read size. */
#define S3_HASH_CHUNK (256 * 1024)

/* The bytes being stored: a local file or memory (read by offset, so parts can be read in any
 * order and more than once), or bytes made on demand by offset (putAt). */
typedef struct S3Source {
    StoragePutSourceAt file;
    const StoragePutAt *at; /* NULL: `file` */
    uint64_t size;
    char *what; /* "'path'", "the buffer" or the putAt source's name, for messages */
} S3Source;

static int
s3SourceOpen(S3Source *source, const StoragePutSource *src, const StoragePutInfo *info, Err *err) {
    source->size = info->size;
    source->what = src->path ? bvSprintf("'%s'", src->path) : bvStrdup("the buffer");
    return storagePutSourceOpenAt(src, info->size, &source->file, err);
}

static void
s3SourceClose(S3Source *source) {
    storagePutSourceCloseAt(&source->file);
    bvFree(source->what);
    source->what = NULL;
}

/* Up to `len` bytes at `offset`; short only at the end. */
static ssize_t
s3SourceRead(S3Source *source, uint8_t *buf, size_t len, uint64_t offset, Err *err) {
    if (source->at != NULL)
        return source->at->read(source->at->ctx, buf, len, offset, err);
    return storagePutSourceReadAt(&source->file, buf, len, offset, err);
}

/* After the last byte of the object: the source must end there. */
static int
s3SourceCheckEnd(S3Source *source, Err *err) {
    uint8_t extra;
    ssize_t n = s3SourceRead(source, &extra, 1, source->size, err);

    if (n < 0)
        return -1;
    if (n > 0)
        return errSet(err, ERR_CHECKSUM, "%s does not match its description: it is longer than %llu "
                      "bytes", source->what, (unsigned long long)source->size);
    return 0;
}

/* The body of one request: `len` bytes of the source at `offset`. */
typedef struct S3BodyCtx {
    S3Source *source;
    uint64_t offset;
    uint64_t len;
    bool last;             /* ends the object: nothing may follow in the source */
    const uint8_t *sha256; /* the bytes must have this SHA-256 */
    unsigned part;         /* for messages; 0: a single PUT */
    uint8_t md5[CRYPTO_MD5_LEN]; /* of the bytes sent, once md5Done */
    bool md5Done;
} S3BodyCtx;

typedef struct S3Body {
    S3BodyCtx *ctx;
    uint64_t done;
    CryptoHash *sha256;
    CryptoHash *md5;
} S3Body;

static ssize_t
s3BodyRead(void *p, uint8_t *buf, size_t len, Err *err) {
    S3Body *this = p;
    S3BodyCtx *ctx = this->ctx;
    uint64_t left = ctx->len - this->done;
    uint8_t sha256[CRYPTO_HASH_MAX_LEN];
    ssize_t n;

    if (left == 0)
        return 0;
    if (len > left)
        len = (size_t)left;
    n = s3SourceRead(ctx->source, buf, len, ctx->offset + this->done, err);
    if (n < 0)
        return -1;
    if (n == 0)
        return errSet(err, ERR_CHECKSUM, "%s does not match its description: it ends after %llu "
                      "bytes, expected %llu", ctx->source->what,
                      (unsigned long long)(ctx->offset + this->done),
                      (unsigned long long)ctx->source->size);
    if (this->sha256 != NULL) {
        cryptoHashUpdate(this->sha256, buf, (size_t)n);
        cryptoHashUpdate(this->md5, buf, (size_t)n);
    }
    this->done += (uint64_t)n;
    if (this->done < ctx->len)
        return n;
    /* The last bytes: check them before curl sends them, so that a body that does not match is
     * never complete on the server. A putAt source vouches for its bytes itself: they are those
     * its caller hashed, or its read fails (an encryptor compares every chunk it makes again with
     * the first pass's before it hands out a byte of it). */
    if (this->sha256 == NULL)
        return ctx->last && s3SourceCheckEnd(ctx->source, err) != 0 ? -1 : n;
    cryptoHashFinal(this->sha256, sha256, NULL);
    cryptoHashFinal(this->md5, ctx->md5, NULL);
    cryptoHashFree(this->sha256);
    cryptoHashFree(this->md5);
    this->sha256 = this->md5 = NULL;
    ctx->md5Done = true;
    if (ctx->last && s3SourceCheckEnd(ctx->source, err) != 0)
        return -1;
    if (memcmp(sha256, ctx->sha256, CRYPTO_SHA256_LEN) != 0) {
        char got[S3_HEX_SHA256], want[S3_HEX_SHA256];

        cryptoHexEncode(sha256, CRYPTO_SHA256_LEN, got);
        cryptoHexEncode(ctx->sha256, CRYPTO_SHA256_LEN, want);
        if (ctx->part > 0)
            return errSet(err, ERR_CHECKSUM, "%s changed while being uploaded: part %u has sha256 %s, "
                          "%s when hashed", ctx->source->what, ctx->part, got, want);
        return errSet(err, ERR_CHECKSUM, "%s does not match its description: sha256 %s, expected %s",
                      ctx->source->what, got, want);
    }
    return n;
}

static void
s3BodyFree(void *p) {
    S3Body *this = p;

    cryptoHashFree(this->sha256);
    cryptoHashFree(this->md5);
    bvFree(this);
}

static const IoReadVt s3BodyVt = {
    .name = "s3 body",
    .read = s3BodyRead,
    .free = s3BodyFree,
};

static IoRead *
s3BodyOpen(void *p, Err *err) {
    S3Body *this = bvCalloc(1, sizeof(*this));

    (void)err;
    this->ctx = p;
    this->ctx->md5Done = false;
    if (this->ctx->source->at == NULL) {
        this->sha256 = cryptoHashNew(CRYPTO_HASH_SHA256);
        this->md5 = cryptoHashNew(CRYPTO_HASH_MD5);
    }
    return ioReadNew(&s3BodyVt, this);
}

/* A refused PUT or part: a digest the store did not accept is our fault when the MD5 we sent is
 * not that of the bytes (ERR_CHECKSUM), damage in transit otherwise (ERR_STORAGE: retry). */
static int
s3PutFail(S3 *this, const HttpResponse *resp, const S3BodyCtx *body, const uint8_t *md5,
          Err *err) {
    char *code = NULL;

    s3ResponseFail(this, resp, &code, err);
    if (code != NULL && (strcmp(code, "BadDigest") == 0 || strcmp(code, "InvalidDigest") == 0 ||
                         strcmp(code, "XAmzContentSHA256Mismatch") == 0)) {
        if (body->md5Done && memcmp(body->md5, md5, CRYPTO_MD5_LEN) != 0) {
            char got[CRYPTO_MD5_LEN * 2 + 1], want[CRYPTO_MD5_LEN * 2 + 1];

            cryptoHexEncode(body->md5, CRYPTO_MD5_LEN, got);
            cryptoHexEncode(md5, CRYPTO_MD5_LEN, want);
            err->code = ERR_CHECKSUM;
            errPrefix(err, "%s does not match its description: md5 %s, expected %s",
                      body->source->what, got, want);
        } else {
            err->code = ERR_STORAGE;
            errPrefix(err, "the body was damaged on the way to the store");
        }
    }
    bvFree(code);
    return -1;
}

/* Warn once that immutability rests on the HEAD alone. */
static void
s3NoConditional(S3 *this) {
    if (!atomic_exchange(&this->noConditional, true))
        logWarn("'%s': the store does not implement conditional writes (If-None-Match): an "
                "object written by another writer between the existence check and the upload "
                "would be replaced", this->url);
}

static void
s3Base64Md5(const uint8_t *md5, char *out) {
    cryptoBase64Encode(md5, CRYPTO_MD5_LEN, out);
}

static int
s3PutSingle(S3 *this, Http *http, const char *key, S3Source *source, const StoragePutInfo *info,
            bool conditional, bool *existed, Err *err) {
    char sha256[S3_HEX_SHA256], md5[CRYPTO_BASE64_SIZE(CRYPTO_MD5_LEN)];
    S3BodyCtx body = {.source = source, .len = info->size, .last = true, .sha256 = info->sha256};
    HttpResponse resp;
    int rc = -1;

    cryptoHexEncode(info->sha256, CRYPTO_SHA256_LEN, sha256);
    s3Base64Md5(info->md5, md5);
    httpResponseInit(&resp);
    for (;;) {
        S3Req r = {.method = "PUT", .key = key, .payloadHash = sha256, .bodyOpen = s3BodyOpen,
                   .bodyCtx = &body, .bodyLen = info->size};

        s3ReqHeader(&r, "Content-MD5", md5);
        s3ReqHeader(&r, "x-amz-meta-sha256", sha256);
        if (conditional)
            s3ReqHeader(&r, "If-None-Match", "*");
        if (s3Do(this, http, &r, &resp, err) != 0)
            break;
        if (s3Ok(&resp)) {
            rc = 0;
        } else if (conditional && resp.status == 412) {
            *existed = true;
            rc = 0;
        } else if (conditional && resp.status == 501) {
            s3NoConditional(this);
            conditional = false;
            continue;
        } else {
            s3PutFail(this, &resp, &body, info->md5, err);
        }
        break;
    }
    httpResponseClear(&resp);
    return rc;
}

/* Hash `len` bytes of the source at `offset` into the part's digests and `whole` (`sha256` and
 * `whole` NULL: the MD5 alone). */
static int
s3PartHash(S3Source *source, uint64_t offset, uint64_t len, CryptoHash *whole, uint8_t *sha256,
           uint8_t *md5, Err *err) {
    CryptoHash *hs = sha256 ? cryptoHashNew(CRYPTO_HASH_SHA256) : NULL, *hm = cryptoHashNew(CRYPTO_HASH_MD5);
    uint8_t *buf = bvMalloc(S3_HASH_CHUNK);
    uint64_t done = 0;
    int rc = -1;

    while (done < len) {
        size_t want = len - done < S3_HASH_CHUNK ? (size_t)(len - done) : S3_HASH_CHUNK;
        ssize_t n = s3SourceRead(source, buf, want, offset + done, err);

        if (n < 0)
            goto out;
        if (n == 0) {
            errSet(err, ERR_CHECKSUM, "%s does not match its description: it ends after %llu bytes, "
                   "expected %llu", source->what, (unsigned long long)(offset + done),
                   (unsigned long long)source->size);
            goto out;
        }
        if (hs != NULL)
            cryptoHashUpdate(hs, buf, (size_t)n);
        cryptoHashUpdate(hm, buf, (size_t)n);
        if (whole != NULL)
            cryptoHashUpdate(whole, buf, (size_t)n);
        done += (uint64_t)n;
    }
    if (hs != NULL)
        cryptoHashFinal(hs, sha256, NULL);
    cryptoHashFinal(hm, md5, NULL);
    rc = 0;
out:
    cryptoHashFree(hs);
    cryptoHashFree(hm);
    bvFree(buf);
    return rc;
}

/* Abort a multipart upload (its parts are deleted); a failure is only logged: the upload is
 * then left for cleanTemp. Returns whether it is gone. */
static bool
s3Abort(S3 *this, Http *http, const char *key, const char *uploadId) {
    S3Req r = {.method = "DELETE", .key = key};
    HttpResponse resp;
    bool done = false;
    Err err;

    s3ReqQuery(&r, "uploadId", uploadId);
    httpResponseInit(&resp);
    if (s3Do(this, http, &r, &resp, &err) == 0) {
        if (s3Ok(&resp) || resp.status == 404)
            done = true;
        else
            s3ResponseFail(this, &resp, NULL, &err);
    }
    if (!done)
        logWarn("unable to abort the multipart upload of '%s' to '%s': %s", key, this->url,
                err.msg);
    httpResponseClear(&resp);
    return done;
}

/* Escape & < > for an XML text node. */
static void
s3XmlEscape(Buf *buf, const char *text) {
    for (const char *p = text; *p; p++) {
        if (*p == '&')
            s3Cat(buf, "&amp;");
        else if (*p == '<')
            s3Cat(buf, "&lt;");
        else if (*p == '>')
            s3Cat(buf, "&gt;");
        else
            bufAppend(buf, p, 1);
    }
}

/* A 2xx response of CompleteMultipartUpload may still carry an <Error>. */
static int
s3CompleteCheck(S3 *this, const HttpResponse *resp, Err *err) {
    const char *body = (const char *)resp->body->data;

    if (memmem(body, resp->body->len, "<Error>", 7) != NULL) {
        HttpResponse copy = *resp;

        copy.status = 200;
        return s3ResponseFail(this, &copy, NULL, err);
    }
    if (memmem(body, resp->body->len, "<CompleteMultipartUploadResult", 30) == NULL)
        return errSet(err, ERR_STORAGE, "unexpected response to CompleteMultipartUpload");
    return 0;
}

static int
s3PutMultipart(S3 *this, Http *http, const char *key, S3Source *source, const StoragePutInfo *info,
               bool conditional, bool *existed, Err *err) {
    uint64_t partSize = this->partSize, minPart = (info->size + S3_PARTS_MAX - 1) / S3_PARTS_MAX;
    unsigned parts;
    char sha256[S3_HEX_SHA256], *uploadId = NULL, **etags = NULL;
    CryptoHash *whole = cryptoHashNew(CRYPTO_HASH_SHA256);
    HttpResponse resp;
    Buf *xml = NULL;
    int rc = -1;

    if (partSize < minPart)
        partSize = (minPart + 1024 * 1024 - 1) / (1024 * 1024) * (1024 * 1024);
    if (partSize > S3_PUT_MAX) {
        cryptoHashFree(whole);
        return errSet(err, ERR_LIMIT, "%s is too large for S3 (%llu bytes)", source->what,
                      (unsigned long long)info->size);
    }
    parts = (unsigned)((info->size + partSize - 1) / partSize);
    etags = bvCalloc(parts, sizeof(*etags));
    cryptoHexEncode(info->sha256, CRYPTO_SHA256_LEN, sha256);
    httpResponseInit(&resp);
    {
        S3Req r = {.method = "POST", .key = key};
        int found;

        s3ReqQuery(&r, "uploads", "");
        s3ReqHeader(&r, "x-amz-meta-sha256", sha256);
        if (s3Do(this, http, &r, &resp, err) != 0)
            goto out;
        if (!s3Ok(&resp)) {
            s3ResponseFail(this, &resp, NULL, err);
            goto out;
        }
        found = s3XmlText((const char *)resp.body->data, resp.body->len, "UploadId", &uploadId, err);
        if (found <= 0 || !s3Printable(uploadId, 1024)) {
            if (found >= 0)
                errSet(err, ERR_STORAGE, "the response to CreateMultipartUpload has no valid "
                       "<UploadId>");
            bvFree(uploadId);
            uploadId = NULL;
            goto out;
        }
    }
    logDebug("s3: uploading '%s' in %u parts of %llu bytes", key, parts,
             (unsigned long long)partSize);
    for (unsigned i = 0; i < parts; i++) {
        uint64_t offset = (uint64_t)i * partSize;
        uint64_t len = info->size - offset < partSize ? info->size - offset : partSize;
        uint8_t partSha[CRYPTO_SHA256_LEN], partMd5[CRYPTO_MD5_LEN];
        char partShaHex[S3_HEX_SHA256], partMd5B64[CRYPTO_BASE64_SIZE(CRYPTO_MD5_LEN)], number[16];
        S3BodyCtx body = {.source = source, .offset = offset, .len = len, .last = i + 1 == parts,
                          .sha256 = partSha, .part = i + 1};
        S3Req r = {.method = "PUT", .key = key, .payloadHash = partShaHex, .bodyOpen = s3BodyOpen,
                   .bodyCtx = &body, .bodyLen = len};
        const char *etag;

        if (s3PartHash(source, offset, len, source->at == NULL ? whole : NULL, partSha, partMd5, err) != 0)
            goto out;
        if (i + 1 == parts && source->at == NULL) {
            uint8_t got[CRYPTO_HASH_MAX_LEN];

            /* Before the last part goes: the object as a whole must be what was described (a
             * putAt source vouches for it: see s3BodyRead()). */
            cryptoHashFinal(whole, got, NULL);
            if (s3SourceCheckEnd(source, err) != 0)
                goto out;
            if (memcmp(got, info->sha256, CRYPTO_SHA256_LEN) != 0) {
                char gotHex[S3_HEX_SHA256];

                cryptoHexEncode(got, CRYPTO_SHA256_LEN, gotHex);
                errSet(err, ERR_CHECKSUM, "%s does not match its description: sha256 %s, expected %s",
                       source->what, gotHex, sha256);
                goto out;
            }
        }
        cryptoHexEncode(partSha, sizeof(partSha), partShaHex);
        s3Base64Md5(partMd5, partMd5B64);
        snprintf(number, sizeof(number), "%u", i + 1);
        s3ReqQuery(&r, "partNumber", number);
        s3ReqQuery(&r, "uploadId", uploadId);
        s3ReqHeader(&r, "Content-MD5", partMd5B64);
        if (s3Do(this, http, &r, &resp, err) != 0)
            goto out;
        if (!s3Ok(&resp)) {
            s3PutFail(this, &resp, &body, partMd5, err);
            errPrefix(err, "part %u of %u", i + 1, parts);
            goto out;
        }
        etag = httpResponseHeader(&resp, "etag");
        if (etag == NULL || !s3Printable(etag, S3_ETAG_MAX)) {
            errSet(err, ERR_STORAGE, "the response to part %u of %u has no valid ETag", i + 1, parts);
            goto out;
        }
        etags[i] = bvStrdup(etag);
    }

    xml = bufNew(parts * 80 + 64);
    s3Cat(xml, "<CompleteMultipartUpload>");
    for (unsigned i = 0; i < parts; i++) {
        char number[16];

        snprintf(number, sizeof(number), "%u", i + 1);
        s3Cat(xml, "<Part><PartNumber>");
        s3Cat(xml, number);
        s3Cat(xml, "</PartNumber><ETag>");
        s3XmlEscape(xml, etags[i]);
        s3Cat(xml, "</ETag></Part>");
    }
    s3Cat(xml, "</CompleteMultipartUpload>");
    for (;;) {
        uint8_t xmlSha[CRYPTO_SHA256_LEN], xmlMd5[CRYPTO_MD5_LEN];
        char xmlShaHex[S3_HEX_SHA256], xmlMd5B64[CRYPTO_BASE64_SIZE(CRYPTO_MD5_LEN)];
        S3Req r = {.method = "POST", .key = key, .payloadHash = xmlShaHex, .body = xml->data,
                   .bodyLen = xml->len};

        cryptoSha256(xml->data, xml->len, xmlSha);
        cryptoMd5(xml->data, xml->len, xmlMd5);
        cryptoHexEncode(xmlSha, sizeof(xmlSha), xmlShaHex);
        s3Base64Md5(xmlMd5, xmlMd5B64);
        s3ReqQuery(&r, "uploadId", uploadId);
        s3ReqHeader(&r, "Content-MD5", xmlMd5B64);
        if (conditional)
            s3ReqHeader(&r, "If-None-Match", "*");
        if (s3Do(this, http, &r, &resp, err) != 0)
            goto out;
        if (s3Ok(&resp)) {
            if (s3CompleteCheck(this, &resp, err) != 0)
                goto out;
            rc = 0;
        } else if (conditional && resp.status == 412) {
            *existed = true;
            rc = 0;
            s3Abort(this, http, key, uploadId);
        } else if (conditional && resp.status == 501) {
            s3NoConditional(this);
            conditional = false;
            continue;
        } else {
            s3ResponseFail(this, &resp, NULL, err);
            errPrefix(err, "CompleteMultipartUpload");
        }
        break;
    }
out:
    if (rc != 0 && uploadId != NULL)
        s3Abort(this, http, key, uploadId);
    httpResponseClear(&resp);
    for (unsigned i = 0; i < parts; i++)
        bvFree(etags[i]);
    bvFree(etags);
    bvFree(uploadId);
    bufFree(xml);
    cryptoHashFree(whole);
    return rc;
}

/* An object is there already: the same content is success, other content ERR_EXISTS; with no
 * SHA-256 metadata to tell, *existed sends the generic layer to compare the bytes. */
static int
s3PutExisting(S3 *this, const char *key, const S3Head *head, const StoragePutInfo *info,
              bool *existed, Err *err) {
    char want[S3_HEX_SHA256];

    cryptoHexEncode(info->sha256, CRYPTO_SHA256_LEN, want);
    if (head->size != info->size)
        return errSet(err, ERR_EXISTS, "the object already exists with different content (%llu "
                      "bytes vs %llu, sha256 %s vs %s)", (unsigned long long)head->size,
                      (unsigned long long)info->size, head->sha256[0] ? head->sha256 : "unknown",
                      want);
    if (head->sha256[0] == '\0') {
        *existed = true;
        return 0;
    }
    if (strcmp(head->sha256, want) != 0)
        return errSet(err, ERR_EXISTS, "the object already exists with different content (sha256 "
                      "%s vs %s)", head->sha256, want);
    logDebug("'%s' is already in '%s' with identical content", key, this->url);
    return 0;
}

/* Store `source` (opened by the caller, closed here) as `name`, described by `info`. */
static int
s3PutSource(S3 *this, const char *name, S3Source *source, const StoragePutSource *src,
            const StoragePutInfo *info, StoragePutMode mode, bool *existed, Err *err) {
    char *key = s3Key(this, name);
    Http *http = httpPoolGet(this->pool, err);
    bool conditional = mode == STORAGE_PUT_IMMUTABLE && !atomic_load(&this->noConditional);
    int rc = -1;

    if (http == NULL)
        goto out;
    if (mode == STORAGE_PUT_IMMUTABLE) {
        S3Head head;

        if (s3HeadKey(this, http, key, &head, err) != 0)
            goto out;
        if (head.exists) {
            rc = s3PutExisting(this, key, &head, info, existed, err);
            goto out;
        }
    }
    if (info->size > S3_PUT_MAX * S3_PARTS_MAX) {
        errSet(err, ERR_LIMIT, "the object is too large for S3 (%llu bytes)",
               (unsigned long long)info->size);
        goto out;
    }
    if (src != NULL && s3SourceOpen(source, src, info, err) != 0)
        goto out;
    if (info->size > this->threshold) {
        rc = s3PutMultipart(this, http, key, source, info, conditional, existed, err);
    } else {
        /* A sealed file written without its MD5 (spooled before a restart): read once for it. */
        StoragePutInfo withMd5 = *info;

        if (info->noMd5 && s3PartHash(source, 0, info->size, NULL, NULL, withMd5.md5, err) != 0)
            goto out;
        withMd5.noMd5 = false;
        rc = s3PutSingle(this, http, key, source, &withMd5, conditional, existed, err);
    }
out:
    s3SourceClose(source);
    httpPoolPut(this->pool, http);
    bvFree(key);
    return rc;
}

int
s3DriverPut(void *driver, const char *name, const StoragePutSource *src, const StoragePutInfo *info,
            StoragePutMode mode, bool *existed, Err *err) {
    S3Source source = {.file.fd = -1};

    return s3PutSource(driver, name, &source, src, info, mode, existed, err);
}

int
s3DriverPutAt(void *driver, const char *name, const StoragePutAt *src, const StoragePutInfo *info,
              StoragePutMode mode, bool *existed, Err *err) {
    S3Source source = {.file.fd = -1, .at = src, .size = info->size, .what = bvStrdup(src->what)};

    return s3PutSource(driver, name, &source, NULL, info, mode, existed, err);
}

/* --- Interrupted multipart uploads -------------------------------------------------------- */

/* "2024-05-01T12:00:00.000Z" as seconds since the epoch; -1 if malformed. */
static int64_t
s3IsoDate(const char *text) {
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return -1;
    if (*end == '.')
        for (end++; *end >= '0' && *end <= '9'; end++)
            ;
    if (strcmp(end, "Z") != 0)
        return -1;
    return (int64_t)timegm(&tm);
}

int
s3DriverCleanTemp(void *driver, unsigned minAgeSec, unsigned *removed, Err *err) {
    S3 *this = driver;
    char *keyPrefix = this->prefix[0] ? bvSprintf("%s/", this->prefix) : bvStrdup("");
    char *keyMarker = NULL, *idMarker = NULL;
    Http *http = httpPoolGet(this->pool, err);
    int64_t before = (int64_t)time(NULL) - (int64_t)minAgeSec;
    HttpResponse resp;
    int rc = -1;

    httpResponseInit(&resp);
    if (http == NULL)
        goto out;
    for (;;) {
        S3Req r = {.method = "GET"};
        const char *xml, *content;
        size_t len, contentLen, pos = 0;
        char *text = NULL;
        bool truncated;
        int found;

        s3ReqQuery(&r, "uploads", "");
        s3ReqQuery(&r, "prefix", keyPrefix);
        if (keyMarker != NULL) {
            s3ReqQuery(&r, "key-marker", keyMarker);
            s3ReqQuery(&r, "upload-id-marker", idMarker ? idMarker : "");
        }
        if (s3Do(this, http, &r, &resp, err) != 0)
            goto out;
        if (!s3Ok(&resp)) {
            s3ResponseFail(this, &resp, NULL, err);
            goto out;
        }
        xml = (const char *)resp.body->data;
        len = resp.body->len;
        while ((found = s3XmlNext(xml, len, "Upload", &pos, &content, &contentLen, err)) == 1) {
            char *key = NULL, *id = NULL, *initiated = NULL;
            int64_t when;

            if (s3XmlText(content, contentLen, "Key", &key, err) != 1 ||
                s3XmlText(content, contentLen, "UploadId", &id, err) != 1 ||
                s3XmlText(content, contentLen, "Initiated", &initiated, err) != 1 ||
                !s3Printable(key, STORAGE_NAME_MAX * 2) || !s3Printable(id, 1024) ||
                !s3Printable(initiated, 64)) {
                if (err->code != ERR_FORMAT)
                    errSet(err, ERR_FORMAT, "an <Upload> of the listing of multipart uploads is "
                           "incomplete");
                bvFree(key);
                bvFree(id);
                bvFree(initiated);
                goto out;
            }
            when = s3IsoDate(initiated);
            if (strncmp(key, keyPrefix, strlen(keyPrefix)) == 0 &&
                (minAgeSec == 0 || (when >= 0 && when <= before)) &&
                s3Abort(this, http, key, id)) {
                logInfo("aborted the interrupted multipart upload of '%s' to '%s' started %s", key,
                        this->url, initiated);
                (*removed)++;
            }
            bvFree(key);
            bvFree(id);
            bvFree(initiated);
        }
        if (found < 0)
            goto out;
        found = s3XmlText(xml, len, "IsTruncated", &text, err);
        if (found < 0)
            goto out;
        truncated = found == 1 && strcmp(text, "true") == 0;
        bvFree(text);
        if (!truncated)
            break;
        bvFree(keyMarker);
        bvFree(idMarker);
        keyMarker = idMarker = NULL;
        if (s3XmlText(xml, len, "NextKeyMarker", &keyMarker, err) != 1 ||
            s3XmlText(xml, len, "NextUploadIdMarker", &idMarker, err) < 0) {
            if (err->code != ERR_FORMAT)
                errSet(err, ERR_FORMAT, "a truncated listing of multipart uploads has no "
                       "<NextKeyMarker>");
            goto out;
        }
    }
    rc = 0;
out:
    httpResponseClear(&resp);
    httpPoolPut(this->pool, http);
    bvFree(keyMarker);
    bvFree(idMarker);
    bvFree(keyPrefix);
    return rc;
}
