/*
 * The S3 driver's signing: AWS Signature Version 4 (header form) and the URI encoding it
 * wants. Pure: strings in, strings out, no clock and no I/O (storage/s3.h documents the API,
 * tests/unit/test_s3_sign.c runs the AWS test suite against it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/mem.h"
#include "storage/s3_internal.h"

void
s3Cat(Buf *buf, const char *s) {
    bufAppend(buf, s, strlen(s));
}

char *
s3BufString(Buf *buf) {
    return (char *)bufDetach(buf, NULL);
}

static bool
s3Unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

char *
s3UriEncode(const char *s, bool keepSlash) {
    static const char hex[] = "0123456789ABCDEF";
    Buf *buf = bufNew(strlen(s) + 1);

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (s3Unreserved(*p) || (keepSlash && *p == '/')) {
            bufAppend(buf, p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 0x0f]};

            bufAppend(buf, esc, 3);
        }
    }
    return s3BufString(buf);
}

typedef struct S3Pair {
    char *name;
    char *value;
    size_t order; /* position in the input: keeps repeated header values in order */
} S3Pair;

static int
s3PairCmp(const void *a, const void *b) {
    const S3Pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    c = strcmp(x->value, y->value);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Header pairs compare by name, then input order (values of a repeated header keep theirs). */
static int
s3HeaderCmp(const void *a, const void *b) {
    const S3Pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static void
s3PairsFree(S3Pair *pairs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        bvFree(pairs[i].name);
        bvFree(pairs[i].value);
    }
    bvFree(pairs);
}

char *
s3CanonicalQuery(const S3KeyValue *query, size_t n) {
    S3Pair *pairs = bvCalloc(n ? n : 1, sizeof(*pairs));
    Buf *buf = bufNew(64);

    for (size_t i = 0; i < n; i++) {
        pairs[i].name = s3UriEncode(query[i].name, false);
        pairs[i].value = s3UriEncode(query[i].value ? query[i].value : "", false);
        pairs[i].order = i;
    }
    qsort(pairs, n, sizeof(*pairs), s3PairCmp);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            s3Cat(buf, "&");
        s3Cat(buf, pairs[i].name);
        s3Cat(buf, "=");
        s3Cat(buf, pairs[i].value);
    }
    s3PairsFree(pairs, n);
    return s3BufString(buf);
}

/* A header value as signed: blanks trimmed, runs of blanks inside made one space. */
static char *
s3HeaderValue(const char *value) {
    Buf *buf = bufNew(strlen(value) + 1);
    bool blank = false;

    while (*value == ' ' || *value == '\t')
        value++;
    for (const char *p = value; *p; p++) {
        if (*p == ' ' || *p == '\t') {
            blank = true;
            continue;
        }
        if (blank)
            s3Cat(buf, " ");
        blank = false;
        bufAppend(buf, p, 1);
    }
    return s3BufString(buf);
}

static void
s3Hmac(const void *key, size_t keyLen, const char *data, uint8_t out[CRYPTO_SHA256_LEN]) {
    cryptoHmacSha256(key, keyLen, data, strlen(data), out);
}

void
s3Sign(const S3SignInput *in, S3Signature *out) {
    S3Pair *headers = bvCalloc(in->headerCount ? in->headerCount : 1, sizeof(*headers));
    char *query = s3CanonicalQuery(in->query, in->queryCount);
    Buf *creq = bufNew(512), *signedHeaders = bufNew(64);
    uint8_t hash[CRYPTO_SHA256_LEN], key[CRYPTO_SHA256_LEN];
    char hex[S3_HEX_SHA256], day[9], *scope, *secret;

    for (size_t i = 0; i < in->headerCount; i++) {
        headers[i].name = bvStrdup(in->headers[i].name);
        for (char *p = headers[i].name; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        headers[i].value = s3HeaderValue(in->headers[i].value);
        headers[i].order = i;
    }
    qsort(headers, in->headerCount, sizeof(*headers), s3HeaderCmp);

    s3Cat(creq, in->method);
    s3Cat(creq, "\n");
    s3Cat(creq, in->path);
    s3Cat(creq, "\n");
    s3Cat(creq, query);
    s3Cat(creq, "\n");
    for (size_t i = 0; i < in->headerCount; i++) {
        bool repeat = i > 0 && strcmp(headers[i].name, headers[i - 1].name) == 0;

        if (repeat) {
            s3Cat(creq, ",");
        } else {
            if (i > 0) {
                s3Cat(creq, "\n");
                s3Cat(signedHeaders, ";");
            }
            s3Cat(creq, headers[i].name);
            s3Cat(creq, ":");
            s3Cat(signedHeaders, headers[i].name);
        }
        s3Cat(creq, headers[i].value);
    }
    s3Cat(creq, in->headerCount ? "\n\n" : "\n");
    bufAppend(creq, signedHeaders->data, signedHeaders->len);
    s3Cat(creq, "\n");
    s3Cat(creq, in->payloadHash);
    out->canonicalRequest = s3BufString(creq);
    out->signedHeaders = s3BufString(signedHeaders);

    snprintf(day, sizeof(day), "%.8s", in->amzDate);
    scope = bvSprintf("%s/%s/%s/aws4_request", day, in->region, in->service);
    cryptoSha256(out->canonicalRequest, strlen(out->canonicalRequest), hash);
    cryptoHexEncode(hash, sizeof(hash), hex);
    out->stringToSign = bvSprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", in->amzDate, scope, hex);

    secret = bvSprintf("AWS4%s", in->secretAccessKey);
    s3Hmac(secret, strlen(secret), day, key);
    explicit_bzero(secret, strlen(secret));
    bvFree(secret);
    s3Hmac(key, sizeof(key), in->region, key);
    s3Hmac(key, sizeof(key), in->service, key);
    s3Hmac(key, sizeof(key), "aws4_request", key);
    s3Hmac(key, sizeof(key), out->stringToSign, hash);
    explicit_bzero(key, sizeof(key));
    cryptoHexEncode(hash, sizeof(hash), out->signature);
    out->authorization =
        bvSprintf("AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                  in->accessKeyId, scope, out->signedHeaders, out->signature);
    bvFree(scope);
    bvFree(query);
    s3PairsFree(headers, in->headerCount);
}

void
s3SignatureClear(S3Signature *sig) {
    bvFree(sig->canonicalRequest);
    bvFree(sig->stringToSign);
    bvFree(sig->signedHeaders);
    bvFree(sig->authorization);
    memset(sig, 0, sizeof(*sig));
}
