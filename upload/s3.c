#include "upload/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "upload/http.h"

#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Largest XML response read into memory: a page of 1000 keys of 1 KiB is about 1.5 MiB. */
#define S3_XML_MAX (16u * 1024 * 1024)
/* Largest object of a single PUT (S3's limit) and largest part. */
#define S3_PUT_MAX (5ull * 1024 * 1024 * 1024)
/* Hashing pass over a part: read size. */
#define S3_HASH_CHUNK (256 * 1024)
/* A credentials file larger than this is not one. */
#define S3_CREDENTIALS_MAX (64 * 1024)
/* Longest S3 error message quoted in our messages. */
#define S3_MESSAGE_MAX 400
#define S3_HEX_SHA256 (CRYPTO_SHA256_LEN * 2 + 1)

/* --- Strings ------------------------------------------------------------------------------ */

static void
s3Cat(Buf *buf, const char *s) {
    bufAppend(buf, s, strlen(s));
}

static char *
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

/* --- SigV4 -------------------------------------------------------------------------------- */

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

/* --- XML ---------------------------------------------------------------------------------- */

int
s3XmlNext(const char *xml, size_t len, const char *tag, size_t *pos, const char **content,
          size_t *contentLen, Err *err) {
    size_t tagLen = strlen(tag), i = *pos;

    while (i < len) {
        const char *lt = memchr(xml + i, '<', len - i);
        size_t at, after;
        const char *gt;

        if (lt == NULL)
            return 0;
        at = (size_t)(lt - xml);
        after = at + 1 + tagLen;
        if (after < len && memcmp(xml + at + 1, tag, tagLen) == 0 &&
            (xml[after] == '>' || xml[after] == '/' || xml[after] == ' ' || xml[after] == '\t' ||
             xml[after] == '\r' || xml[after] == '\n')) {
            gt = memchr(xml + after, '>', len - after);
            if (gt == NULL)
                return errSet(err, ERR_FORMAT, "unterminated <%s> in an XML response", tag);
            if (gt[-1] == '/') { /* <Tag/> */
                *content = gt + 1;
                *contentLen = 0;
                *pos = (size_t)(gt - xml) + 1;
                return 1;
            }
            for (size_t j = (size_t)(gt - xml) + 1; j + tagLen + 3 <= len; j++) {
                if (xml[j] == '<' && xml[j + 1] == '/' && memcmp(xml + j + 2, tag, tagLen) == 0 &&
                    xml[j + 2 + tagLen] == '>') {
                    *content = gt + 1;
                    *contentLen = j - (size_t)(gt - xml) - 1;
                    *pos = j + tagLen + 3;
                    return 1;
                }
            }
            return errSet(err, ERR_FORMAT, "element <%s> is not closed in an XML response", tag);
        }
        i = at + 1;
    }
    return 0;
}

/* Append the UTF-8 encoding of code point `cp`. */
static void
s3Utf8(Buf *buf, unsigned long cp) {
    uint8_t b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    bufAppend(buf, b, n);
}

/* Decode the text of a leaf element. */
static int
s3XmlDecode(const char *text, size_t len, const char *tag, char **out, Err *err) {
    Buf *buf;

    if (len > S3_XML_TEXT_MAX * 8)
        return errSet(err, ERR_FORMAT, "<%s> of %zu bytes in an XML response is too long", tag, len);
    buf = bufNew(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];

        if (c == '<') {
            errSet(err, ERR_FORMAT, "unexpected markup inside <%s> in an XML response", tag);
            goto fail;
        }
        if (c == '\0') {
            errSet(err, ERR_FORMAT, "NUL byte inside <%s> in an XML response", tag);
            goto fail;
        }
        if (c != '&') {
            bufAppend(buf, &c, 1);
            continue;
        }
        {
            const char *semi = memchr(text + i, ';', len - i < 12 ? len - i : 12);
            size_t elen;
            const char *e = text + i + 1;

            if (semi == NULL) {
                errSet(err, ERR_FORMAT, "bad entity inside <%s> in an XML response", tag);
                goto fail;
            }
            elen = (size_t)(semi - e);
            if (elen == 2 && memcmp(e, "lt", 2) == 0) {
                s3Cat(buf, "<");
            } else if (elen == 2 && memcmp(e, "gt", 2) == 0) {
                s3Cat(buf, ">");
            } else if (elen == 3 && memcmp(e, "amp", 3) == 0) {
                s3Cat(buf, "&");
            } else if (elen == 4 && memcmp(e, "quot", 4) == 0) {
                s3Cat(buf, "\"");
            } else if (elen == 4 && memcmp(e, "apos", 4) == 0) {
                s3Cat(buf, "'");
            } else if (elen >= 2 && e[0] == '#') {
                bool hexForm = e[1] == 'x' || e[1] == 'X';
                size_t k = hexForm ? 2 : 1;
                unsigned long cp = 0;

                if (k >= elen) {
                    errSet(err, ERR_FORMAT, "bad entity inside <%s> in an XML response", tag);
                    goto fail;
                }
                for (; k < elen; k++) {
                    int d;

                    if (e[k] >= '0' && e[k] <= '9')
                        d = e[k] - '0';
                    else if (hexForm && e[k] >= 'a' && e[k] <= 'f')
                        d = e[k] - 'a' + 10;
                    else if (hexForm && e[k] >= 'A' && e[k] <= 'F')
                        d = e[k] - 'A' + 10;
                    else
                        d = -1;
                    if (d < 0 || cp > 0x10ffff) {
                        errSet(err, ERR_FORMAT, "bad entity inside <%s> in an XML response", tag);
                        goto fail;
                    }
                    cp = cp * (hexForm ? 16 : 10) + (unsigned long)d;
                }
                if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                    errSet(err, ERR_FORMAT, "bad character reference inside <%s> in an XML response",
                           tag);
                    goto fail;
                }
                s3Utf8(buf, cp);
            } else {
                errSet(err, ERR_FORMAT, "unknown entity inside <%s> in an XML response", tag);
                goto fail;
            }
            i = (size_t)(semi - text);
        }
        if (buf->len > S3_XML_TEXT_MAX) {
            errSet(err, ERR_FORMAT, "<%s> in an XML response is longer than %d bytes", tag,
                   S3_XML_TEXT_MAX);
            goto fail;
        }
    }
    if (buf->len > S3_XML_TEXT_MAX) {
        errSet(err, ERR_FORMAT, "<%s> in an XML response is longer than %d bytes", tag,
               S3_XML_TEXT_MAX);
        goto fail;
    }
    *out = s3BufString(buf);
    return 0;
fail:
    bufFree(buf);
    return -1;
}

int
s3XmlText(const char *xml, size_t len, const char *tag, char **out, Err *err) {
    const char *content;
    size_t contentLen, pos = 0;
    int rc = s3XmlNext(xml, len, tag, &pos, &content, &contentLen, err);

    if (rc <= 0)
        return rc;
    return s3XmlDecode(content, contentLen, tag, out, err) == 0 ? 1 : -1;
}

/* A decimal size of at most 20 digits that fits 64 bits. */
static int
s3ParseU64(const char *text, uint64_t *out) {
    uint64_t v = 0;

    if (text[0] == '\0')
        return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return 0;
}

void
s3ListPageClear(S3ListPage *page) {
    for (size_t i = 0; i < page->count; i++)
        bvFree(page->entries[i].key);
    bvFree(page->entries);
    bvFree(page->nextToken);
    memset(page, 0, sizeof(*page));
}

int
s3ListParse(const char *xml, size_t len, S3ListPage *page, Err *err) {
    const char *content;
    size_t contentLen, pos = 0;
    char *text = NULL;
    int rc;

    memset(page, 0, sizeof(*page));
    if (memmem(xml, len, "<ListBucketResult", strlen("<ListBucketResult")) == NULL)
        return errSet(err, ERR_FORMAT, "the listing response is not a ListBucketResult");
    while ((rc = s3XmlNext(xml, len, "Contents", &pos, &content, &contentLen, err)) == 1) {
        S3ListEntry entry = {0};

        if (s3XmlText(content, contentLen, "Key", &entry.key, err) != 1) {
            if (err->code != ERR_FORMAT)
                errSet(err, ERR_FORMAT, "a <Contents> of the listing has no <Key>");
            goto fail;
        }
        rc = s3XmlText(content, contentLen, "Size", &text, err);
        if (rc != 1 || s3ParseU64(text, &entry.size) != 0) {
            if (rc >= 0)
                errSet(err, ERR_FORMAT, "the size of '%s' in the listing is missing or invalid",
                       entry.key);
            bvFree(entry.key);
            goto fail;
        }
        bvFree(text);
        text = NULL;
        if (page->count % 64 == 0)
            page->entries = bvRealloc(page->entries, (page->count + 64) * sizeof(*page->entries));
        page->entries[page->count++] = entry;
    }
    if (rc < 0)
        goto fail;
    rc = s3XmlText(xml, len, "IsTruncated", &text, err);
    if (rc < 0)
        goto fail;
    if (rc == 1) {
        if (strcmp(text, "true") == 0) {
            page->truncated = true;
        } else if (strcmp(text, "false") != 0) {
            errSet(err, ERR_FORMAT, "invalid <IsTruncated> in the listing");
            goto fail;
        }
    }
    if (page->truncated) {
        rc = s3XmlText(xml, len, "NextContinuationToken", &page->nextToken, err);
        if (rc < 0)
            goto fail;
        if (rc == 0 || page->nextToken[0] == '\0') {
            errSet(err, ERR_FORMAT, "a truncated listing has no <NextContinuationToken>");
            goto fail;
        }
    }
    bvFree(text);
    return 0;
fail:
    bvFree(text);
    s3ListPageClear(page);
    return -1;
}

/* Printable ASCII only, at most S3_MESSAGE_MAX bytes: the text came from the network. */
static void
s3Sanitize(char *s) {
    size_t len = strlen(s);

    if (len > S3_MESSAGE_MAX)
        strcpy(s + S3_MESSAGE_MAX - 3, "...");
    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
}

void
s3ErrorParse(const char *xml, size_t len, char **code, char **message) {
    Err ignored;

    *code = *message = NULL;
    if (s3XmlText(xml, len, "Code", code, &ignored) == 1)
        s3Sanitize(*code);
    if (s3XmlText(xml, len, "Message", message, &ignored) == 1)
        s3Sanitize(*message);
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

bool
storageErrorRetryable(const Err *err) {
    return err->code == ERR_STORAGE;
}
