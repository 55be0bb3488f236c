/*
 * The XML of S3's responses: element extraction, ListObjectsV2 pages and error bodies. Pure and
 * safe on any input (no recursion, bounded text, no DTD): it is what the fuzzer
 * fuzz/fuzz_s3xml.c feeds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/mem.h"
#include "storage/s3_internal.h"

/* Longest S3 error message quoted in our messages. */
#define S3_MESSAGE_MAX 400

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

int
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
