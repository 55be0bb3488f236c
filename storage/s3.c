#include "storage/s3.h"

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
#include "storage/http.h"

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

/* A value that may be quoted in messages and requests: printable ASCII, not too long. */
static bool
s3Printable(const char *s, size_t max) {
    size_t len = strlen(s);

    if (len == 0 || len > max)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return false;
    return true;
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
        if (after <= len && memcmp(xml + at + 1, tag, tagLen) == 0 &&
            (after == len || xml[after] == '>' || xml[after] == '/' || xml[after] == ' ' ||
             xml[after] == '\t' || xml[after] == '\r' || xml[after] == '\n')) {
            gt = after < len ? memchr(xml + after, '>', len - after) : NULL;
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

/* --- Options ------------------------------------------------------------------------------ */

/* S3's rules for new buckets: 3 to 63 of [a-z0-9.-], starting and ending with a letter or digit. */
static bool
s3BucketValid(const char *bucket, size_t len) {
    if (len < 3 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = bucket[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

        if (!alnum && ((c != '.' && c != '-') || i == 0 || i == len - 1))
            return false;
    }
    return true;
}

int
s3UrlParse(const char *url, char **bucket, char **prefix, Err *err) {
    const char *rest, *slash;
    size_t bucketLen, prefixLen;
    Err nameErr;

    *bucket = *prefix = NULL;
    if (strncmp(url, "s3://", 5) != 0)
        return errSet(err, ERR_USAGE, "invalid s3 url '%s': expected 's3://bucket[/prefix]'", url);
    rest = url + 5;
    slash = strchr(rest, '/');
    bucketLen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!s3BucketValid(rest, bucketLen))
        return errSet(err, ERR_USAGE,
                      "invalid s3 url '%s': the bucket name must be 3 to 63 characters of a-z 0-9 "
                      ". -, starting and ending with a letter or digit", url);
    prefixLen = slash ? strlen(slash + 1) : 0;
    while (prefixLen > 0 && slash[prefixLen] == '/')
        prefixLen--;
    *prefix = bvStrndup(slash ? slash + 1 : "", prefixLen);
    if (prefixLen > 0 && storageNameValid(*prefix, &nameErr) != 0) {
        errSet(err, ERR_USAGE, "invalid s3 url '%s': the prefix is not a valid object name: %s",
               url, nameErr.msg);
        bvFree(*prefix);
        *prefix = NULL;
        return -1;
    }
    *bucket = bvStrndup(rest, bucketLen);
    return 0;
}

/* The value of an environment variable, NULL when unset or empty. */
static const char *
s3Env(const char *name) {
    const char *value = getenv(name);

    return value != NULL && value[0] != '\0' ? value : NULL;
}

/* "123", "64K", "16M", "1G" (binary units). */
static int
s3EnvSize(const char *name, uint64_t *out, Err *err) {
    const char *text = s3Env(name);
    char *end;
    unsigned long long v;
    uint64_t unit = 1;

    if (text == NULL)
        return 0;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (*end == 'K' || *end == 'k')
        unit = 1024;
    else if (*end == 'M' || *end == 'm')
        unit = 1024 * 1024;
    else if (*end == 'G' || *end == 'g')
        unit = 1024 * 1024 * 1024;
    if (unit > 1)
        end++;
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 || v == 0 ||
        v > UINT64_MAX / unit)
        return errSet(err, ERR_CONFIG, "invalid %s '%s': expected a size such as 16M", name, text);
    *out = v * unit;
    return 0;
}

int
s3OptionsFromEnv(S3Options *opts, const char *url, Err *err) {
    char *bucket, *prefix;
    const char *style, *page;
    uint64_t v = 0;

    memset(opts, 0, sizeof(*opts));
    if (s3UrlParse(url, &bucket, &prefix, err) != 0)
        return -1;
    opts->bucket = bucket;
    opts->prefix = prefix;
    opts->endpoint = s3Env("AWS_ENDPOINT_URL_S3") ? s3Env("AWS_ENDPOINT_URL_S3")
                                                  : s3Env("AWS_ENDPOINT_URL");
    opts->region = s3Env("AWS_REGION") ? s3Env("AWS_REGION") : s3Env("AWS_DEFAULT_REGION");
    opts->caFile = s3Env("BINVAULT_S3_CA_FILE") ? s3Env("BINVAULT_S3_CA_FILE")
                                                : s3Env("AWS_CA_BUNDLE");
    opts->accessKeyId = s3Env("AWS_ACCESS_KEY_ID");
    opts->secretAccessKey = s3Env("AWS_SECRET_ACCESS_KEY");
    opts->sessionToken = s3Env("AWS_SESSION_TOKEN");
    opts->credentialsFile = s3Env("BINVAULT_S3_CREDENTIALS_FILE");
    opts->profile = s3Env("AWS_PROFILE");
    style = s3Env("BINVAULT_S3_URI_STYLE");
    if (style != NULL) {
        if (strcmp(style, "path") == 0) {
            opts->uriStyle = S3_URI_STYLE_PATH;
        } else if (strcmp(style, "host") == 0) {
            opts->uriStyle = S3_URI_STYLE_HOST;
        } else {
            errSet(err, ERR_CONFIG, "invalid BINVAULT_S3_URI_STYLE '%s': expected 'path' or 'host'",
                   style);
            goto fail;
        }
    }
    if (s3EnvSize("BINVAULT_S3_MULTIPART_THRESHOLD", &opts->multipartThreshold, err) != 0 ||
        s3EnvSize("BINVAULT_S3_PART_SIZE", &opts->partSize, err) != 0)
        goto fail;
    page = s3Env("BINVAULT_S3_LIST_PAGE");
    if (page != NULL) {
        if (s3ParseU64(page, &v) != 0 || v < 1 || v > S3_LIST_PAGE_MAX) {
            errSet(err, ERR_CONFIG, "invalid BINVAULT_S3_LIST_PAGE '%s': expected 1 to %d", page,
                   S3_LIST_PAGE_MAX);
            goto fail;
        }
        opts->listPage = (unsigned)v;
    }
    page = s3Env("BINVAULT_S3_STALL_TIMEOUT");
    if (page != NULL) {
        if (s3ParseU64(page, &v) != 0 || v < 1 || v > 3600) {
            errSet(err, ERR_CONFIG, "invalid BINVAULT_S3_STALL_TIMEOUT '%s': expected 1 to 3600 seconds", page);
            goto fail;
        }
        opts->stallTimeoutSec = (unsigned)v;
    }
    return 0;
fail:
    s3OptionsFree(opts);
    return -1;
}

void
s3OptionsFree(S3Options *opts) {
    bvFree((char *)opts->bucket);
    bvFree((char *)opts->prefix);
    opts->bucket = opts->prefix = NULL;
}

/* --- Credentials -------------------------------------------------------------------------- */

typedef struct S3Credentials {
    char *accessKeyId;
    char *secretAccessKey;
    char *sessionToken;
} S3Credentials;

static void
s3SecretFree(char *secret) {
    if (secret != NULL) {
        explicit_bzero(secret, strlen(secret));
        bvFree(secret);
    }
}

static void
s3CredentialsClear(S3Credentials *cred) {
    s3SecretFree(cred->accessKeyId);
    s3SecretFree(cred->secretAccessKey);
    s3SecretFree(cred->sessionToken);
    memset(cred, 0, sizeof(*cred));
}

/* Trim blanks (and a CR) at both ends of [*s, *s + *len). */
static void
s3Trim(const char **s, size_t *len) {
    while (*len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\r'))
        (*len)--;
}

/* Read the credentials file: "name = value" lines of the wanted profile (or before any section).
 * Values are never quoted in messages. */
static int
s3CredentialsRead(const char *path, const char *profile, S3Credentials *cred, Err *err) {
    struct stat st;
    uint8_t *data = NULL;
    size_t len = 0, lineNo = 0;
    bool inProfile = true;
    const char *p, *end;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errSetSys(err, ERR_CONFIG, errno, "unable to open the credentials file '%s'", path);
    if (fstat(fd, &st) != 0) {
        errSetSys(err, ERR_CONFIG, errno, "unable to stat the credentials file '%s'", path);
        close(fd);
        return -1;
    }
    close(fd);
    if (!S_ISREG(st.st_mode))
        return errSet(err, ERR_CONFIG, "the credentials file '%s' is not a regular file", path);
    if ((st.st_mode & 077) != 0)
        return errSet(err, ERR_CONFIG,
                      "the credentials file '%s' is accessible by group or others (mode %04o): "
                      "it must be readable by its owner only (chmod 600 '%s')",
                      path, (unsigned)(st.st_mode & 07777), path);
    if (fsReadFile(path, S3_CREDENTIALS_MAX, &data, &len, err) != 0) {
        err->code = ERR_CONFIG;
        return errPrefix(err, "unable to read the credentials file '%s'", path);
    }
    p = (const char *)data;
    end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line = p, *eq;
        size_t lineLen = nl ? (size_t)(nl - p) : (size_t)(end - p);
        const char *name, *value;
        size_t nameLen, valueLen;
        char **slot = NULL;

        p = nl ? nl + 1 : end;
        lineNo++;
        s3Trim(&line, &lineLen);
        if (lineLen == 0 || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            const char *section = line + 1;
            size_t sectionLen = lineLen - 1;

            if (line[lineLen - 1] != ']') {
                errSet(err, ERR_CONFIG, "invalid line %zu of the credentials file '%s'", lineNo,
                       path);
                goto out;
            }
            sectionLen--;
            s3Trim(&section, &sectionLen);
            inProfile = sectionLen == strlen(profile) && memcmp(section, profile, sectionLen) == 0;
            continue;
        }
        eq = memchr(line, '=', lineLen);
        if (eq == NULL) {
            errSet(err, ERR_CONFIG, "invalid line %zu of the credentials file '%s': expected "
                   "'name = value'", lineNo, path);
            goto out;
        }
        if (!inProfile)
            continue;
        name = line;
        nameLen = (size_t)(eq - line);
        value = eq + 1;
        valueLen = lineLen - nameLen - 1;
        s3Trim(&name, &nameLen);
        s3Trim(&value, &valueLen);
        if (nameLen == strlen("aws_access_key_id") && memcmp(name, "aws_access_key_id", nameLen) == 0)
            slot = &cred->accessKeyId;
        else if (nameLen == strlen("aws_secret_access_key") &&
                 memcmp(name, "aws_secret_access_key", nameLen) == 0)
            slot = &cred->secretAccessKey;
        else if (nameLen == strlen("aws_session_token") &&
                 memcmp(name, "aws_session_token", nameLen) == 0)
            slot = &cred->sessionToken;
        if (slot == NULL || valueLen == 0)
            continue;
        s3SecretFree(*slot);
        *slot = bvStrndup(value, valueLen);
    }
    if (cred->accessKeyId == NULL || cred->secretAccessKey == NULL) {
        errSet(err, ERR_CONFIG,
               "the credentials file '%s' has no aws_access_key_id and aws_secret_access_key for "
               "profile '%s'", path, profile);
        goto out;
    }
    rc = 0;
out:
    explicit_bzero(data, len);
    bvFree(data);
    if (rc != 0)
        s3CredentialsClear(cred);
    return rc;
}

static int
s3CredentialsGet(const S3Options *opts, S3Credentials *cred, Err *err) {
    memset(cred, 0, sizeof(*cred));
    if (opts->accessKeyId != NULL) {
        if (opts->secretAccessKey == NULL)
            return errSet(err, ERR_CONFIG,
                          "an S3 access key id is set (AWS_ACCESS_KEY_ID) but no secret access "
                          "key (AWS_SECRET_ACCESS_KEY)");
        cred->accessKeyId = bvStrdup(opts->accessKeyId);
        cred->secretAccessKey = bvStrdup(opts->secretAccessKey);
        cred->sessionToken = opts->sessionToken ? bvStrdup(opts->sessionToken) : NULL;
        return 0;
    }
    if (opts->credentialsFile != NULL)
        return s3CredentialsRead(opts->credentialsFile, opts->profile ? opts->profile : "default",
                                 cred, err);
    return errSet(err, ERR_CONFIG,
                  "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and "
                  "AWS_SESSION_TOKEN for temporary credentials), or BINVAULT_S3_CREDENTIALS_FILE");
}

/* --- Driver ------------------------------------------------------------------------------- */

#define S3_REQ_HEADERS_MAX 6
#define S3_REQ_QUERY_MAX 6
#define S3_ETAG_MAX 128

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

static void
s3ReqQuery(S3Req *r, const char *name, const char *value) {
    BV_ASSERT(r->queryCount < S3_REQ_QUERY_MAX);
    r->query[r->queryCount].name = name;
    r->query[r->queryCount++].value = value;
}

static void
s3ReqHeader(S3Req *r, const char *name, const char *value) {
    BV_ASSERT(r->headerCount < S3_REQ_HEADERS_MAX);
    r->headers[r->headerCount].name = name;
    r->headers[r->headerCount++].value = value;
}

static char *
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

static int
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

static bool
s3Ok(const HttpResponse *resp) {
    return resp->status >= 200 && resp->status <= 299;
}

/* Describe an error response in `err`: "Code (status): Message; advice". Returns -1; the S3
 * code goes to *codeOut (allocated, NULL when none) when codeOut is not NULL. */
static int
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

static void
s3NoConditional(S3 *this) {
    if (!atomic_exchange(&this->noConditional, true))
        logWarn("'%s': the store does not implement conditional writes (If-None-Match): an "
                "object written by another writer between the existence check and the upload "
                "would be replaced", this->url);
}

/* --- HEAD --------------------------------------------------------------------------------- */

typedef struct S3Head {
    bool exists;
    uint64_t size;
    int64_t mtime;
    char etag[S3_ETAG_MAX + 1];
    char sha256[S3_HEX_SHA256]; /* x-amz-meta-sha256, "" when absent or malformed */
} S3Head;

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

static int
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

/* --- PUT ---------------------------------------------------------------------------------- */

/* The bytes being stored: a local file (read with pread, so parts can be read in any order and
 * more than once) or memory. */
typedef struct S3Source {
    const StoragePutSource *src;
    int fd; /* -1 for memory */
    uint64_t size;
    char *what; /* "'path'" or "the buffer", for messages */
} S3Source;

static int
s3SourceOpen(S3Source *source, const StoragePutSource *src, const StoragePutInfo *info, Err *err) {
    struct stat st;

    source->src = src;
    source->fd = -1;
    source->size = info->size;
    source->what = src->path ? bvSprintf("'%s'", src->path) : bvStrdup("the buffer");
    if (src->path == NULL) {
        if (src->len != info->size)
            return errSet(err, ERR_CHECKSUM, "the buffer does not match its description: %zu bytes, "
                          "expected %llu", src->len, (unsigned long long)info->size);
        return 0;
    }
    source->fd = open(src->path, O_RDONLY | O_CLOEXEC);
    if (source->fd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to open '%s'", src->path);
    if (fstat(source->fd, &st) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to stat '%s'", src->path);
    if ((uint64_t)st.st_size != info->size)
        return errSet(err, ERR_CHECKSUM, "'%s' does not match its description: %llu bytes, expected "
                      "%llu", src->path, (unsigned long long)st.st_size,
                      (unsigned long long)info->size);
    return 0;
}

static void
s3SourceClose(S3Source *source) {
    if (source->fd >= 0)
        close(source->fd);
    source->fd = -1;
    bvFree(source->what);
    source->what = NULL;
}

/* Up to `len` bytes at `offset`; short only at the end. */
static ssize_t
s3SourceRead(S3Source *source, uint8_t *buf, size_t len, uint64_t offset, Err *err) {
    ssize_t n;

    if (source->fd < 0) {
        if (offset >= source->src->len)
            return 0;
        if (len > source->src->len - offset)
            len = (size_t)(source->src->len - offset);
        memcpy(buf, (const uint8_t *)source->src->data + offset, len);
        return (ssize_t)len;
    }
    n = fsPreadAll(source->fd, buf, len, (off_t)offset);
    if (n < 0)
        errSetSys(err, ERR_IO, errno, "unable to read '%s'", source->src->path);
    return n;
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
    cryptoHashUpdate(this->sha256, buf, (size_t)n);
    cryptoHashUpdate(this->md5, buf, (size_t)n);
    this->done += (uint64_t)n;
    if (this->done < ctx->len)
        return n;
    /* The last bytes: check them before curl sends them, so that a body that does not match is
     * never complete on the server. */
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
    this->sha256 = cryptoHashNew(CRYPTO_HASH_SHA256);
    this->md5 = cryptoHashNew(CRYPTO_HASH_MD5);
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

/* Hash `len` bytes of the source at `offset` into the part's digests and `whole`. */
static int
s3PartHash(S3Source *source, uint64_t offset, uint64_t len, CryptoHash *whole, uint8_t *sha256,
           uint8_t *md5, Err *err) {
    CryptoHash *hs = cryptoHashNew(CRYPTO_HASH_SHA256), *hm = cryptoHashNew(CRYPTO_HASH_MD5);
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
        cryptoHashUpdate(hs, buf, (size_t)n);
        cryptoHashUpdate(hm, buf, (size_t)n);
        cryptoHashUpdate(whole, buf, (size_t)n);
        done += (uint64_t)n;
    }
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

        if (s3PartHash(source, offset, len, whole, partSha, partMd5, err) != 0)
            goto out;
        if (i + 1 == parts) {
            uint8_t got[CRYPTO_HASH_MAX_LEN];

            /* Before the last part goes: the object as a whole must be what was described. */
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

static int
s3DriverPut(void *driver, const char *name, const StoragePutSource *src, const StoragePutInfo *info,
            StoragePutMode mode, bool *existed, Err *err) {
    S3 *this = driver;
    char *key = s3Key(this, name);
    Http *http = httpPoolGet(this->pool, err);
    S3Source source = {.fd = -1};
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
    if (s3SourceOpen(&source, src, info, err) != 0)
        goto out;
    if (info->size > this->threshold)
        rc = s3PutMultipart(this, http, key, &source, info, conditional, existed, err);
    else
        rc = s3PutSingle(this, http, key, &source, info, conditional, existed, err);
out:
    s3SourceClose(&source);
    httpPoolPut(this->pool, http);
    bvFree(key);
    return rc;
}

/* --- GET ---------------------------------------------------------------------------------- */

/* A reader fetching the object in ranged GETs of S3_READ_CHUNK bytes: memory stays bounded
 * and each request is short, so a slow consumer never leaves a transfer stalled. The ETag of
 * the first HEAD is required (If-Match) so a replaced object is not read half old, half new. */
typedef struct S3Read {
    S3 *s3;
    char *key;
    char etag[S3_ETAG_MAX + 1];
    uint64_t size; /* of the object */
    uint64_t pos;  /* next byte to fetch */
    uint64_t end;  /* end of the range read */
    Buf *chunk;
    size_t chunkPos;
} S3Read;

static int
s3ReadFetch(S3Read *this, Err *err) {
    S3 *s3 = this->s3;
    uint64_t want = this->end - this->pos < S3_READ_CHUNK ? this->end - this->pos : S3_READ_CHUNK;
    char range[64];
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
    if (resp.status == 206 || (resp.status == 200 && this->pos == 0 && want == this->size)) {
        if (this->chunk->len != want) {
            errSet(err, ERR_STORAGE, "short response: %zu bytes of %llu from offset %llu",
                   this->chunk->len, (unsigned long long)want, (unsigned long long)this->pos);
            goto out;
        }
        this->pos += want;
        rc = 0;
    } else if (resp.status == 200) {
        errSet(err, ERR_STORAGE, "the store ignored the range %s", range);
    } else if (resp.status == 412) {
        errSet(err, ERR_STORAGE, "the object was replaced while being read");
    } else {
        s3ResponseFail(s3, &resp, NULL, err);
    }
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
    S3 *this = driver;
    char *key = s3Key(this, name);
    Http *http = httpPoolGet(this->pool, err);
    S3Read *reader;
    S3Head head;
    int rc = -1;

    if (http != NULL && s3HeadKey(this, http, key, &head, err) == 0) {
        if (!head.exists)
            errSet(err, ERR_NOTFOUND, "no such object");
        else if (offset > head.size || length > head.size - offset)
            errSet(err, ERR_FORMAT, "range of %llu bytes from offset %llu is past the end (%llu bytes)",
                   (unsigned long long)length, (unsigned long long)offset,
                   (unsigned long long)head.size);
        else
            rc = 0;
    }
    httpPoolPut(this->pool, http);
    if (rc != 0) {
        bvFree(key);
        return NULL;
    }
    reader = bvCalloc(1, sizeof(*reader));
    reader->s3 = this;
    reader->key = key;
    memcpy(reader->etag, head.etag, sizeof(reader->etag));
    reader->size = head.size;
    reader->pos = offset;
    reader->end = length ? offset + length : head.size;
    reader->chunk = bufNew(0);
    return ioReadNew(&s3ReadVt, reader);
}

/* --- LIST, DELETE ------------------------------------------------------------------------- */

static int
s3DriverList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    S3 *this = driver;
    char *keyPrefix = s3Key(this, prefix), *token = NULL, *last = NULL, page[16];
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
    return rc;
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

static int
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

static const StorageDriverVt s3Vt = {
    .put = s3DriverPut,
    .openRead = s3DriverOpenRead,
    .head = s3DriverHead,
    .list = s3DriverList,
    .remove = s3DriverRemove,
    .cleanTemp = s3DriverCleanTemp,
    .free = s3DriverFree,
};

/* Split "http(s)://authority[/path]" into the driver; the style decides the host of the URLs. */
static int
s3Endpoint(S3 *this, const char *endpoint, S3UriStyle style, Err *err) {
    const char *rest, *slash;
    size_t authLen, pathLen;
    char *authority;

    if (strncasecmp(endpoint, "https://", 8) == 0) {
        this->scheme = bvStrdup("https");
        rest = endpoint + 8;
    } else if (strncasecmp(endpoint, "http://", 7) == 0) {
        this->scheme = bvStrdup("http");
        rest = endpoint + 7;
    } else {
        return errSet(err, ERR_CONFIG, "invalid S3 endpoint '%s': expected "
                      "'https://host[:port][/path]' or 'http://...'", endpoint);
    }
    slash = strchr(rest, '/');
    authLen = slash ? (size_t)(slash - rest) : strlen(rest);
    pathLen = slash ? strlen(slash) : 0;
    while (pathLen > 0 && slash[pathLen - 1] == '/')
        pathLen--;
    if (authLen == 0 || strspn(rest, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789.-:[]") != authLen ||
        (pathLen > 0 && strspn(slash, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789-._~/") < pathLen))
        return errSet(err, ERR_CONFIG, "invalid S3 endpoint '%s': expected "
                      "'https://host[:port][/path]' (no user, query or special characters)",
                      endpoint);
    this->endpoint = bvStrdup(endpoint);
    this->basePath = bvStrndup(slash ? slash : "", pathLen);
    this->pathStyle = style == S3_URI_STYLE_PATH ||
                      (style == S3_URI_STYLE_AUTO &&
                       (strstr(this->endpoint, "amazonaws.com") == NULL ||
                        strchr(this->bucket, '.') != NULL));
    authority = bvStrndup(rest, authLen);
    this->authority = this->pathStyle ? bvStrdup(authority)
                                      : bvSprintf("%s.%s", this->bucket, authority);
    bvFree(authority);
    /* curl leaves a default port out of Host; the signature must match what is sent. */
    this->hostHeader = bvStrdup(this->authority);
    {
        size_t len = strlen(this->hostHeader);
        const char *dflt = strcmp(this->scheme, "https") == 0 ? ":443" : ":80";

        if (len > strlen(dflt) && strcmp(this->hostHeader + len - strlen(dflt), dflt) == 0)
            this->hostHeader[len - strlen(dflt)] = '\0';
    }
    return 0;
}

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
    if (s3Endpoint(this, endpoint, opts->uriStyle, err) != 0 ||
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
storageS3NewUrl(const char *url, Err *err) {
    S3Options opts;
    Storage *storage;

    if (s3OptionsFromEnv(&opts, url, err) != 0)
        return NULL;
    storage = storageS3New(&opts, err);
    s3OptionsFree(&opts);
    return storage;
}
