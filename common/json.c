#include "common/json.h"

#include <string.h>

void
jsonEscape(char *dst, size_t size, const char *src) {
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)src; *p && o + 7 < size; p++) {
        switch (*p) {
        case '"': dst[o++] = '\\'; dst[o++] = '"'; break;
        case '\\': dst[o++] = '\\'; dst[o++] = '\\'; break;
        case '\n': dst[o++] = '\\'; dst[o++] = 'n'; break;
        case '\r': dst[o++] = '\\'; dst[o++] = 'r'; break;
        case '\t': dst[o++] = '\\'; dst[o++] = 't'; break;
        default:
            if (*p < 0x20) {
                static const char hex[] = "0123456789abcdef";

                dst[o++] = '\\'; dst[o++] = 'u'; dst[o++] = '0'; dst[o++] = '0';
                dst[o++] = hex[*p >> 4]; dst[o++] = hex[*p & 15];
            } else {
                dst[o++] = (char)*p;
            }
        }
    }
    dst[o] = '\0';
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not valid. */
static size_t
utf8Len(const unsigned char *p, size_t avail) {
    size_t n;
    unsigned cp;

    if (p[0] < 0x80)
        return 1;
    if ((p[0] & 0xe0) == 0xc0) { n = 2; cp = p[0] & 0x1f; }
    else if ((p[0] & 0xf0) == 0xe0) { n = 3; cp = p[0] & 0x0f; }
    else if ((p[0] & 0xf8) == 0xf0) { n = 4; cp = p[0] & 0x07; }
    else return 0;
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void
jsonPutString(FILE *out, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    fputc('"', out);
    while (i < len) {
        unsigned char c = p[i];
        size_t n;

        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            i++;
        } else if (c == '\n') {
            fputs("\\n", out);
            i++;
        } else if (c == '\t') {
            fputs("\\t", out);
            i++;
        } else if (c == '\r') {
            fputs("\\r", out);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
            i++;
        } else if ((n = utf8Len(p + i, len - i)) > 0) {
            fwrite(p + i, 1, n, out);
            i += n;
        } else {
            fprintf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
            i++;
        }
    }
    fputc('"', out);
}
