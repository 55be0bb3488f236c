/*
 * Internals of the S3 driver (storage/s3.h), shared by its files and by nothing else. One file
 * per job:
 *   s3_sign.c     SigV4 signing and URI encoding (pure)
 *   s3_xml.c      the XML of S3's responses (pure)
 *   s3_config.c   settings: the URL, the StorageOptions of a store, the endpoint and URI
 *                 style, the credentials (given or read from a credentials file)
 *   s3_request.c  one signed request through storage/http.h, and what its failure means
 *                 (the error codes, which say whether trying again may help)
 *   s3_put.c      single and multipart PUT, and cleanup of interrupted multipart uploads
 *   s3.c          the driver: HEAD, GET, LIST, DELETE, the function table and opening
 */
#ifndef BV_STORAGE_S3_INTERNAL_H
#define BV_STORAGE_S3_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/io.h"
#include "storage/http.h"
#include "storage/s3.h"
#include "storage/storage.h"

#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Largest XML response read into memory: a page of 1000 keys of 1 KiB is about 1.5 MiB. */
#define S3_XML_MAX (16u * 1024 * 1024)
/* Largest object of a single PUT (S3's limit) and largest part. */
#define S3_PUT_MAX (5ull * 1024 * 1024 * 1024)
#define S3_HEX_SHA256 (CRYPTO_SHA256_LEN * 2 + 1)
#define S3_REQ_HEADERS_MAX 6
#define S3_REQ_QUERY_MAX 6
#define S3_ETAG_MAX 128

/* The credentials a store signs with: secrets, wiped when freed, never put in a message. */
typedef struct S3Credentials {
    char *accessKeyId;
    char *secretAccessKey;
    char *sessionToken;
} S3Credentials;

/* The driver: immutable after storageS3New() but for `noConditional`. */
typedef struct S3 {
    char *bucket;
    char *prefix;     /* "" or "a/b" */
    char *scheme;     /* "https" or "http" */
    char *authority;  /* host[:port] of the URLs ("bucket.host" in host style) */
    char *hostHeader; /* the same without a default port */
    char *basePath;   /* "" or "/path" of the endpoint */
    char *endpoint;   /* for messages */
    bool pathStyle;
    char *region;
    S3Credentials cred;
    uint64_t threshold;
    uint64_t partSize;
    unsigned listPage;
    HttpPool *pool;
    atomic_bool noConditional; /* the store answered 501 to If-None-Match */
    char *url;
} S3;

/* One request to make with s3Do(). */
typedef struct S3Req {
    const char *method;
    const char *key; /* NULL: the bucket */
    S3KeyValue query[S3_REQ_QUERY_MAX];
    size_t queryCount;
    S3KeyValue headers[S3_REQ_HEADERS_MAX]; /* sent and signed */
    size_t headerCount;
    const char *payloadHash; /* NULL: that of an empty body */
    const void *body;
    HttpBodyOpen *bodyOpen;
    void *bodyCtx;
    uint64_t bodyLen;
    IoWrite *sink;
    size_t maxBody; /* 0: S3_XML_MAX */
} S3Req;

/* What a HEAD tells of an object. */
typedef struct S3Head {
    bool exists;
    uint64_t size;
    int64_t mtime;
    char etag[S3_ETAG_MAX + 1];
    char sha256[S3_HEX_SHA256]; /* x-amz-meta-sha256, "" when absent or malformed */
} S3Head;

/* --- s3_sign.c ---------------------------------------------------------------------------- */

/* Append a C string to `buf`. */
void s3Cat(Buf *buf, const char *s);

/* The content of `buf` as an allocated C string; `buf` is freed. */
char *s3BufString(Buf *buf);

/* --- s3_xml.c ----------------------------------------------------------------------------- */

/* A decimal number of digits only (no sign, no blanks) that fits 64 bits; -1 otherwise. */
int s3ParseU64(const char *text, uint64_t *out);

/* --- s3_config.c -------------------------------------------------------------------------- */

/* S3's rules for new buckets: 3 to 63 of [a-z0-9.-], starting and ending with a letter or digit. */
bool s3BucketValid(const char *bucket, size_t len);

/* Set the URL parts of `this` (scheme, authority, Host header, base path, path style) from
 * "http(s)://authority[/path]" and the URI style; `this->bucket` must be set. ERR_CONFIG for an
 * endpoint of another form. */
int s3EndpointSet(S3 *this, const char *endpoint, S3UriStyle style, Err *err);

/* The credentials of `opts`: the access key given, or else those of the credentials file.
 * ERR_CONFIG, naming where credentials may come from, when there are none. */
int s3CredentialsGet(const S3Options *opts, S3Credentials *cred, Err *err);

/* Wipe and free the credentials. */
void s3CredentialsClear(S3Credentials *cred);

/* --- s3_request.c ------------------------------------------------------------------------- */

/* A value that may be quoted in messages and requests: printable ASCII, 1 to `max` bytes. */
bool s3Printable(const char *s, size_t max);

/* Add a query parameter or a header (sent and signed) to a request; the strings must outlive it. */
void s3ReqQuery(S3Req *r, const char *name, const char *value);
void s3ReqHeader(S3Req *r, const char *name, const char *value);

/* The key of object `name`: PREFIX/NAME. Allocated. */
char *s3Key(const S3 *this, const char *name);

/* Sign and send a request on `http`. 0 when a response arrived, whatever its status (see
 * httpRequest()). */
int s3Do(S3 *this, Http *http, const S3Req *r, HttpResponse *resp, Err *err);

/* Whether the status is 2xx. */
bool s3Ok(const HttpResponse *resp);

/* Describe an error response in `err`: "Code (status): Message; advice", coded by
 * s3ErrorClass(). Returns -1; the S3 code goes to *codeOut (allocated, NULL when none) when
 * codeOut is not NULL. */
int s3ResponseFail(S3 *this, const HttpResponse *resp, char **codeOut, Err *err);

/* --- s3.c --------------------------------------------------------------------------------- */

/* The object's size in a Content-Range header ("bytes A-B/TOTAL", or a 416's with an asterisk for
 * the range): -1 when absent, malformed or unknown (an asterisk for the size). */
int s3ContentRangeTotal(const char *value, uint64_t *total);

/* HEAD of `key`: out->exists false when there is none. A refused HEAD is described with the
 * S3 code a one-byte GET gets. */
int s3HeadKey(S3 *this, Http *http, const char *key, S3Head *out, Err *err);

/* --- s3_put.c ----------------------------------------------------------------------------- */

/* The driver's put, putAt and cleanTemp (StorageDriverVt). put and putAt share every check: the
 * existence check, the single PUT and the multipart upload. */
int s3DriverPut(void *driver, const char *name, const StoragePutSource *src,
                const StoragePutInfo *info, StoragePutMode mode, bool *existed, Err *err);
int s3DriverPutAt(void *driver, const char *name, const StoragePutAt *src, const StoragePutInfo *info,
                  StoragePutMode mode, bool *existed, Err *err);
int s3DriverCleanTemp(void *driver, unsigned minAgeSec, unsigned *removed, Err *err);

#endif
