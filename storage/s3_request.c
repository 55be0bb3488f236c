/*
 * One S3 request: the URL of a key, SigV4 headers over it (s3_sign.c), the exchange through
 * storage/http.h, and what a failure means: the error code of an S3 error response and the
 * codes the uploader's retry rule reads (common/retry.h retryErrTransient()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/mem.h"
#include "storage/s3_internal.h"

bool
s3Printable(const char *s, size_t max) {
    size_t len = strlen(s);

    if (len == 0 || len > max)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return false;
    return true;
}

void
s3ReqQuery(S3Req *r, const char *name, const char *value) {
    BV_ASSERT(r->queryCount < S3_REQ_QUERY_MAX);
    r->query[r->queryCount].name = name;
    r->query[r->queryCount++].value = value;
}

void
s3ReqHeader(S3Req *r, const char *name, const char *value) {
    BV_ASSERT(r->headerCount < S3_REQ_HEADERS_MAX);
    r->headers[r->headerCount].name = name;
    r->headers[r->headerCount++].value = value;
}

char *
s3Key(const S3 *this, const char *name) {
    return this->prefix[0] ? bvSprintf("%s/%s", this->prefix, name) : bvStrdup(name);
}

/* The URL path (encoded), which is also the canonical URI: S3 wants it encoded once. */
static char *
s3Path(const S3 *this, const char *key) {
    char *encoded = key ? s3UriEncode(key, true) : bvStrdup("");
    char *path;

    if (this->pathStyle)
        path = bvSprintf("%s/%s%s%s", this->basePath, this->bucket, key ? "/" : "", encoded);
    else
        path = bvSprintf("%s/%s", this->basePath, encoded);
    bvFree(encoded);
    return path;
}

int
s3Do(S3 *this, Http *http, const S3Req *r, HttpResponse *resp, Err *err) {
    S3KeyValue signHeaders[S3_REQ_HEADERS_MAX + 4];
    char *lines[S3_REQ_HEADERS_MAX + 5];
    size_t n = 0, lineCount = 0;
    char amzDate[17], *path, *query, *url;
    time_t now = time(NULL);
    struct tm tm;
    S3Signature sig;
    S3SignInput in;
    HttpRequest hr;
    int rc;

    gmtime_r(&now, &tm);
    strftime(amzDate, sizeof(amzDate), "%Y%m%dT%H%M%SZ", &tm);
    path = s3Path(this, r->key);
    query = s3CanonicalQuery(r->query, r->queryCount);
    url = bvSprintf("%s://%s%s%s%s", this->scheme, this->authority, path, query[0] ? "?" : "",
                    query);
    signHeaders[n++] = (S3KeyValue){"Host", this->hostHeader};
    signHeaders[n++] = (S3KeyValue){"x-amz-date", amzDate};
    signHeaders[n++] =
        (S3KeyValue){"x-amz-content-sha256", r->payloadHash ? r->payloadHash : S3_EMPTY_SHA256};
    if (this->cred.sessionToken != NULL)
        signHeaders[n++] = (S3KeyValue){"x-amz-security-token", this->cred.sessionToken};
    for (size_t i = 0; i < r->headerCount; i++)
        signHeaders[n++] = r->headers[i];
    in = (S3SignInput){
        .method = r->method,
        .path = path,
        .query = r->query,
        .queryCount = r->queryCount,
        .headers = signHeaders,
        .headerCount = n,
        .payloadHash = r->payloadHash ? r->payloadHash : S3_EMPTY_SHA256,
        .amzDate = amzDate,
        .region = this->region,
        .service = "s3",
        .accessKeyId = this->cred.accessKeyId,
        .secretAccessKey = this->cred.secretAccessKey,
    };
    s3Sign(&in, &sig);
    for (size_t i = 0; i < n; i++)
        lines[lineCount++] = bvSprintf("%s: %s", signHeaders[i].name, signHeaders[i].value);
    lines[lineCount++] = bvSprintf("Authorization: %s", sig.authorization);
    hr = (HttpRequest){
        .method = r->method,
        .url = url,
        .headers = (const char *const *)lines,
        .headerCount = lineCount,
        .body = r->body,
        .bodyOpen = r->bodyOpen,
        .bodyCtx = r->bodyCtx,
        .bodyLen = r->bodyLen,
        .sink = r->sink,
        .maxBody = r->maxBody ? r->maxBody : S3_XML_MAX,
    };
    rc = httpRequest(http, &hr, resp, err);
    if (rc == 0)
        logDebug("s3: %s %s: HTTP %ld", r->method, url, resp->status);
    else
        logDebug("s3: %s %s: %s", r->method, url, err->msg);
    for (size_t i = 0; i < lineCount; i++) {
        explicit_bzero(lines[i], strlen(lines[i])); /* the session token is a credential */
        bvFree(lines[i]);
    }
    s3SignatureClear(&sig);
    bvFree(url);
    bvFree(query);
    bvFree(path);
    return rc;
}

bool
s3Ok(const HttpResponse *resp) {
    return resp->status >= 200 && resp->status <= 299;
}

int
s3ResponseFail(S3 *this, const HttpResponse *resp, char **codeOut, Err *err) {
    char *code = NULL, *message = NULL, *advice = NULL;
    ErrCode ec;

    if (resp->body != NULL && resp->body->len > 0)
        s3ErrorParse((const char *)resp->body->data, resp->body->len, &code, &message);
    ec = s3ErrorClass(resp->status, code);
    if (ec == ERR_AUTH) {
        advice = bvSprintf("check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
                           "AWS_SESSION_TOKEN or the credentials file), their rights on bucket "
                           "'%s', and the region ('%s')", this->bucket, this->region);
    } else if (code != NULL && strcmp(code, "NoSuchBucket") == 0) {
        advice = bvSprintf("check the bucket name ('%s'), the endpoint ('%s') and the region "
                           "('%s')", this->bucket, this->endpoint, this->region);
    } else if (resp->status == 301 || (code != NULL && strcmp(code, "PermanentRedirect") == 0)) {
        const char *where = httpResponseHeader(resp, "x-amz-bucket-region");

        if (where != NULL && s3Printable(where, 63))
            advice = bvSprintf("bucket '%s' is in region '%s', not '%s': set AWS_REGION",
                               this->bucket, where, this->region);
        else
            advice = bvSprintf("bucket '%s' is not in region '%s' or not at endpoint '%s'",
                               this->bucket, this->region, this->endpoint);
    } else if (code != NULL && strcmp(code, "AuthorizationHeaderMalformed") == 0) {
        advice = bvSprintf("check the region ('%s')", this->region);
    } else if (code != NULL && strcmp(code, "RequestTimeTooSkewed") == 0) {
        advice = bvStrdup("check the system clock");
    }
    /* "Message.; advice" reads badly: the advice follows the message's own sentence. */
    if (advice != NULL && message != NULL && message[0] != '\0' &&
        message[strlen(message) - 1] == '.')
        message[strlen(message) - 1] = '\0';
    if (code != NULL)
        errSet(err, ec, "%s (%ld): %s%s%s", code, resp->status, message ? message : "no message",
               advice ? "; " : "", advice ? advice : "");
    else
        errSet(err, ec, "HTTP %ld%s%s", resp->status, advice ? "; " : "", advice ? advice : "");
    if (codeOut != NULL)
        *codeOut = code;
    else
        bvFree(code);
    bvFree(message);
    bvFree(advice);
    return -1;
}

static bool
s3CodeIn(const char *code, const char *const *list) {
    for (; *list; list++)
        if (strcmp(code, *list) == 0)
            return true;
    return false;
}

ErrCode
s3ErrorClass(long status, const char *code) {
    static const char *const authCodes[] = {
        "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
        "InvalidToken", "TokenRefreshRequired", "InvalidSecurity", "AccountProblem",
        "AllAccessDisabled", "NotSignedUp", "InvalidPayer", NULL,
    };
    static const char *const configCodes[] = {
        "NoSuchBucket", "PermanentRedirect", "AuthorizationHeaderMalformed",
        "IllegalLocationConstraintException", "InvalidBucketName", "RequestTimeTooSkewed",
        "InvalidRegion", "MethodNotAllowed", NULL,
    };

    if (code != NULL && code[0] != '\0') {
        if (s3CodeIn(code, authCodes))
            return ERR_AUTH;
        if (s3CodeIn(code, configCodes))
            return ERR_CONFIG;
        if (strcmp(code, "NoSuchKey") == 0)
            return ERR_NOTFOUND;
        return ERR_STORAGE;
    }
    if (status == 401 || status == 403)
        return ERR_AUTH;
    if (status == 404)
        return ERR_NOTFOUND;
    if (status == 301)
        return ERR_CONFIG;
    return ERR_STORAGE;
}
