/*
 * The S3 driver: an archive in a bucket of Amazon S3 or of a compatible store (MinIO, Ceph RGW,
 * Swift s3api, ...), behind the storage interface of storage/storage.h, as a peer of the
 * directory driver. URL: s3://BUCKET or s3://BUCKET/PREFIX; object NAME is stored under the key
 * PREFIX/NAME.
 *
 * Requests are signed with AWS Signature Version 4 (header form), the payload hash included:
 * every PUT carries x-amz-content-sha256 (the real SHA-256 of the body, known in advance from
 * StoragePutInfo) and Content-MD5, so the store rejects a body damaged on the way. Bodies are
 * streamed from the file; an object above the multipart threshold is sent in parts (each with its
 * own hashes), completed with CompleteMultipartUpload or aborted on failure. Object reads are
 * ranged GETs of S3_READ_CHUNK bytes, so an open reader holds at most one chunk; the first one,
 * sent when the reader opens, also gives the object's size (Content-Range) and the ETag that the
 * next ones require (If-Match): one request for an object of up to a chunk.
 *
 * Immutability: before storing, the object is looked up (HEAD). If it exists with the same size
 * and the same SHA-256 (kept as the user metadata x-amz-meta-sha256 at PUT) the put is a no-op
 * success - which is also how a PUT whose response was lost is recognised when retried; with
 * other content it is ERR_EXISTS and the object is left alone; without that metadata (written by
 * another tool) the generic layer reads it back to compare. The PUT itself carries
 * "If-None-Match: *" so that S3 refuses to replace an object written meanwhile; a store that
 * does not implement conditional writes (Swift answers 501) is then written without it, after
 * a warning, and immutability rests on the HEAD alone. STORAGE_PUT_REPLACE is a plain PUT.
 *
 * Errors: an error response is reported with its S3 code, status and message, e.g.
 * "SignatureDoesNotMatch (403): The request signature we calculated does not match ...", with
 * advice when the cause is on our side. Codes: ERR_AUTH for refused credentials (403
 * AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, expired tokens); ERR_CONFIG for a
 * missing bucket, a wrong region or endpoint, a clock too far off, TLS verification failures;
 * ERR_NOTFOUND for a missing object; ERR_EXISTS as above; ERR_CHECKSUM when the file does not
 * match its StoragePutInfo; ERR_STORAGE for everything that may pass if tried again (5xx, 429
 * and SlowDown, timeouts, resets, DNS and connect failures, a body damaged in transit, and any
 * other 4xx). The uploader retries by the code (retryErrTransient(), common/retry.h).
 *
 * The driver is safe for concurrent use: each operation takes a curl handle from a pool and
 * gives it back, so connections are reused across operations and threads.
 *
 * Settings: the S3 members of StorageOptions (storage/storage.h), values given by the caller;
 * the driver never reads the environment. The commands fill what their command line left unset
 * from these environment variables (declared in the option tables, CMD_ARCHIVE_OPTDEFS in cmd/cmd.h):
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN   credentials
 *   BINVAULT_S3_CREDENTIALS_FILE  file with the credentials, used when no access key id is
 *                                 given; must not be readable by group or others (chmod 600).
 *                                 Lines "aws_access_key_id = ...", "aws_secret_access_key = ...",
 *                                 optional "aws_session_token = ..."; '#' and ';' start
 *                                 comments; "[section]" lines select the profile: AWS_PROFILE
 *                                 or "default" (so ~/.aws/credentials works)
 *   AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL   endpoint (--s3-endpoint), e.g.
 *                                 "https://minio.example:9000"; only an endpoint written http://
 *                                 is spoken to in plain HTTP. Default:
 *                                 https://s3.REGION.amazonaws.com
 *   AWS_REGION, AWS_DEFAULT_REGION   region (--s3-region; default us-east-1)
 *   BINVAULT_S3_URI_STYLE         (--s3-uri-style) "path" (https://endpoint/bucket/key) or "host"
 *                                 (https://bucket.endpoint/key); default: host for AWS, path
 *                                 for another endpoint or a bucket name with a dot
 *   BINVAULT_S3_CA_FILE, AWS_CA_BUNDLE   (--s3-ca-file) PEM file of the CAs to trust (default:
 *                                 the system's)
 *   BINVAULT_S3_MULTIPART_THRESHOLD   objects larger than this are sent in parts (bytes, or
 *                                 with a K/M/G suffix; default 64M)
 *   BINVAULT_S3_PART_SIZE         part size (at least 5M, default 16M; raised when an object
 *                                 would need more than 10000 parts)
 *   BINVAULT_S3_STALL_TIMEOUT     seconds without progress before a transfer is abandoned and
 *                                 retried (1-3600, default 60)
 *   BINVAULT_S3_LIST_PAGE         keys asked for per ListObjectsV2 request (1-1000, default
 *                                 1000)
 * Messages about a bad value name the variable (or the flag) it is set with.
 * Credentials never come from the command line and never appear in messages or logs.
 */
#ifndef BV_STORAGE_S3_H
#define BV_STORAGE_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "storage/storage.h"

#define S3_PART_MIN (5ull * 1024 * 1024)
#define S3_PARTS_MAX 10000
#define S3_MULTIPART_THRESHOLD_DEFAULT (64ull * 1024 * 1024)
#define S3_PART_SIZE_DEFAULT (16ull * 1024 * 1024)
#define S3_LIST_PAGE_MAX 1000
#define S3_READ_CHUNK (8u * 1024 * 1024)
#define S3_REGION_DEFAULT "us-east-1"

typedef enum S3UriStyle {
    S3_URI_STYLE_AUTO = 0, /* host for AWS, path for another endpoint or a dotted bucket */
    S3_URI_STYLE_PATH,
    S3_URI_STYLE_HOST,
} S3UriStyle;

/* Everything the driver needs; strings are copied by storageS3New(). */
typedef struct S3Options {
    const char *bucket;             /* required */
    const char *prefix;             /* key prefix without leading or trailing '/'; NULL or "" */
    const char *endpoint;           /* "https://host[:port][/path]"; NULL: AWS for the region */
    const char *region;             /* NULL: S3_REGION_DEFAULT */
    S3UriStyle uriStyle;
    const char *caFile;             /* NULL: the system's CAs */
    const char *accessKeyId;        /* NULL: read `credentialsFile` */
    const char *secretAccessKey;
    const char *sessionToken;       /* NULL: none */
    const char *credentialsFile;    /* used when accessKeyId is NULL */
    const char *profile;            /* section of the credentials file; NULL: "default" */
    uint64_t multipartThreshold;    /* 0: default */
    uint64_t partSize;              /* 0: default */
    unsigned listPage;              /* 0: S3_LIST_PAGE_MAX */
    unsigned connectTimeoutSec;     /* 0: HTTP_CONNECT_TIMEOUT_DEFAULT */
    unsigned stallTimeoutSec;       /* 0: HTTP_STALL_TIMEOUT_DEFAULT */
} S3Options;

/* Split "s3://bucket[/prefix]" into newly allocated strings (prefix "" when none; trailing '/'
 * dropped). ERR_USAGE for anything else, a bucket name S3 would refuse, or a prefix that is not
 * a valid object name (see storage.h). */
int s3UrlParse(const char *url, char **bucket, char **prefix, Err *err);

/* Fill `opts` (zeroed first) from the S3 members of `storageOpts` (NULL: none set, every
 * default and no credentials); the strings point into `storageOpts` or into `url`'s split, which
 * the caller frees with s3OptionsFree(). ERR_USAGE/ERR_CONFIG for a bad URL or value. */
int s3OptionsFromStorage(S3Options *opts, const char *url, const StorageOptions *storageOpts,
                         Err *err);

/* Free the strings s3OptionsFromStorage() allocated. */
void s3OptionsFree(S3Options *opts);

/* Open the store. Checks the options and reads the credentials (ERR_CONFIG when there are none,
 * or the credentials file is unreadable, malformed or readable by others); makes no request. */
Storage *storageS3New(const S3Options *opts, Err *err);

/* storageS3New() with the options of s3OptionsFromStorage(): what storageNew() (`storageOpts`
 * NULL) and storageNewOpts() call for "s3://". */
Storage *storageS3NewUrl(const char *url, const StorageOptions *storageOpts, Err *err);

/* --- SigV4 and XML, exposed for the unit tests -------------------------------------------- */

typedef struct S3KeyValue {
    const char *name;
    const char *value;
} S3KeyValue;

/* A request to sign. Query names and values are raw (encoded here); header names any case,
 * values raw (trimmed, inner blanks collapsed, repeated names joined with ',' in order). */
typedef struct S3SignInput {
    const char *method;
    const char *path; /* canonical URI, already URI-encoded ("/bucket/key") */
    const S3KeyValue *query;
    size_t queryCount;
    const S3KeyValue *headers; /* every header to sign, host included */
    size_t headerCount;
    const char *payloadHash; /* hex SHA-256 of the body */
    const char *amzDate;     /* "YYYYMMDDTHHMMSSZ" */
    const char *region;
    const char *service; /* "s3" */
    const char *accessKeyId;
    const char *secretAccessKey;
} S3SignInput;

typedef struct S3Signature {
    char *canonicalRequest;
    char *stringToSign;
    char *signedHeaders; /* "host;x-amz-date" */
    char *authorization; /* the Authorization header value */
    char signature[65];
} S3Signature;

/* Sign: fills `out` (free with s3SignatureClear()). */
void s3Sign(const S3SignInput *in, S3Signature *out);
void s3SignatureClear(S3Signature *sig);

/* URI-encode as SigV4 wants: unreserved bytes (A-Z a-z 0-9 - . _ ~) as is, '/' as is when
 * `keepSlash`, every other byte as %XX (uppercase hex). Allocated. */
char *s3UriEncode(const char *s, bool keepSlash);

/* The canonical query string: names and values encoded, sorted by name then value, joined as
 * "a=1&b=2" (a value-less parameter as "name="). Allocated; "" when n is 0. */
char *s3CanonicalQuery(const S3KeyValue *query, size_t n);

/* XML extraction for S3 responses, safe on any input: no recursion, no allocation beyond the
 * value returned, entities decoded (&lt; &gt; &amp; &quot; &apos; &#N; &#xN;), no DTD. A leaf's
 * text longer than S3_XML_TEXT_MAX, containing markup, or with a bad entity is ERR_FORMAT. */
#define S3_XML_TEXT_MAX 4096

/* The text of the first element `tag` in `xml`: 1 with *out allocated, 0 when absent, -1. */
int s3XmlText(const char *xml, size_t len, const char *tag, char **out, Err *err);

/* The next element `tag` at or after *pos: 1 with its content (raw, undecoded) in
 * [*content, *content + *contentLen) and *pos past it, 0 when there is none, -1 when it is not
 * closed. */
int s3XmlNext(const char *xml, size_t len, const char *tag, size_t *pos, const char **content,
              size_t *contentLen, Err *err);

/* One page of ListObjectsV2. */
typedef struct S3ListEntry {
    char *key;
    uint64_t size;
} S3ListEntry;

typedef struct S3ListPage {
    S3ListEntry *entries;
    size_t count;
    bool truncated;
    char *nextToken; /* NULL when not truncated */
} S3ListPage;

/* Parse a ListBucketResult. ERR_FORMAT for a malformed page, a <Contents> without a key or a
 * valid size, or a truncated page without a continuation token. */
int s3ListParse(const char *xml, size_t len, S3ListPage *page, Err *err);
void s3ListPageClear(S3ListPage *page);

/* The <Code> and <Message> of an error body (either may come back NULL). */
void s3ErrorParse(const char *xml, size_t len, char **code, char **message);

/* The error code for an S3 error response with HTTP `status` and S3 `code` (NULL when the body
 * had none, as with HEAD). */
ErrCode s3ErrorClass(long status, const char *code);

#endif
