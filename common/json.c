#include "common/json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

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
jsonBufString(Buf *buf, const char *s, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    bufAppend(buf, "\"", 1);
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        char esc[7];

        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            bufAppend(buf, esc, 2);
            i++;
        } else if (c == '\n') {
            bufAppend(buf, "\\n", 2);
            i++;
        } else if (c == '\t') {
            bufAppend(buf, "\\t", 2);
            i++;
        } else if (c == '\r') {
            bufAppend(buf, "\\r", 2);
            i++;
        } else if (c >= 0x20 && c != 0x7f && (n = utf8Len(p + i, len - i)) > 0) {
            bufAppend(buf, p + i, n);
            i += n;
        } else {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            bufAppend(buf, esc, 6);
            i++;
        }
    }
    bufAppend(buf, "\"", 1);
}

void
jsonPutString(FILE *out, const char *s, size_t len) {
    Buf *b = bufNew(len + 16);

    jsonBufString(b, s, len);
    fwrite(b->data, 1, b->len, out);
    bufFree(b);
}

void
jsonBufPrintf(Buf *buf, const char *fmt, ...) {
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *dst = (char *)bufReserve(buf, (size_t)n + 1);

    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}

/* ---- parser ---- */

struct JsonValue {
    JsonType type;
    bool boolean;
    char *str;  /* string value, or number text */
    size_t strLen;
    size_t count;
    char **keys;
    JsonValue **items;
};

typedef struct Parser {
    const char *p, *start, *end;
    int depth;
    Err *err;
} Parser;

static int
perr(Parser *ps, const char *what) {
    return errSet(ps->err, ERR_FORMAT, "invalid json at byte %zu: %s", (size_t)(ps->p - ps->start), what);
}

static void
skipWs(Parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static JsonValue *parseValue(Parser *ps);

static int
hex4(Parser *ps, unsigned *out) {
    unsigned v = 0;

    if (ps->end - ps->p < 4)
        return perr(ps, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];

        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return perr(ps, "bad \\u escape");
    }
    ps->p += 4;
    *out = v;
    return 0;
}

static int
parseString(Parser *ps, char **out, size_t *outLen) {
    Buf *b = bufNew(32);

    ps->p++; /* opening quote */
    for (;;) {
        unsigned char c;

        if (ps->p >= ps->end) {
            bufFree(b);
            return perr(ps, "unterminated string");
        }
        c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            break;
        }
        if (c < 0x20) {
            bufFree(b);
            return perr(ps, "control character in string");
        }
        if (c != '\\') {
            const char *run = ps->p;
            size_t n;

            /* A run of plain ASCII is appended at once (a catalog is mostly names, hashes and
             * GTIDs: appending byte by byte was most of the time spent opening a large one). */
            while (run < ps->end && (unsigned char)*run >= 0x20 && (unsigned char)*run < 0x80 && *run != '"' && *run != '\\')
                run++;
            if (run > ps->p) {
                bufAppend(b, ps->p, (size_t)(run - ps->p));
                ps->p = run;
                continue;
            }
            n = utf8Len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));

            if (n == 0) {
                bufFree(b);
                return perr(ps, "invalid utf-8 in string");
            }
            bufAppend(b, ps->p, n);
            ps->p += n;
            continue;
        }
        if (++ps->p >= ps->end) {
            bufFree(b);
            return perr(ps, "unterminated escape");
        }
        c = (unsigned char)*ps->p++;
        switch (c) {
        case '"': case '\\': case '/': bufAppend(b, &c, 1); break;
        case 'b': bufAppend(b, "\b", 1); break;
        case 'f': bufAppend(b, "\f", 1); break;
        case 'n': bufAppend(b, "\n", 1); break;
        case 'r': bufAppend(b, "\r", 1); break;
        case 't': bufAppend(b, "\t", 1); break;
        case 'u': {
            unsigned cp, lo;
            uint8_t u[4];
            size_t n;

            if (hex4(ps, &cp) != 0) {
                bufFree(b);
                return -1;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                    bufFree(b);
                    return perr(ps, "unpaired surrogate");
                }
                ps->p += 2;
                if (hex4(ps, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                    bufFree(b);
                    return perr(ps, "unpaired surrogate");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                bufFree(b);
                return perr(ps, "unpaired surrogate");
            }
            if (cp < 0x80) { u[0] = (uint8_t)cp; n = 1; }
            else if (cp < 0x800) { u[0] = (uint8_t)(0xc0 | (cp >> 6)); u[1] = (uint8_t)(0x80 | (cp & 0x3f)); n = 2; }
            else if (cp < 0x10000) {
                u[0] = (uint8_t)(0xe0 | (cp >> 12)); u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (uint8_t)(0x80 | (cp & 0x3f)); n = 3;
            } else {
                u[0] = (uint8_t)(0xf0 | (cp >> 18)); u[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
                u[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)); u[3] = (uint8_t)(0x80 | (cp & 0x3f)); n = 4;
            }
            bufAppend(b, u, n);
            break;
        }
        default:
            bufFree(b);
            return perr(ps, "unknown escape");
        }
    }
    *out = (char *)bufDetach(b, outLen);
    return 0;
}

static JsonValue *
newValue(JsonType type) {
    JsonValue *v = bvCalloc(1, sizeof(*v));

    v->type = type;
    return v;
}

static JsonValue *
parseNumber(Parser *ps) {
    const char *s = ps->p;
    JsonValue *v;

    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
        perr(ps, "bad number");
        return NULL;
    }
    if (*ps->p == '0')
        ps->p++;
    else
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
            perr(ps, "bad number");
            return NULL;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
            perr(ps, "bad number");
            return NULL;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    v = newValue(JSON_NUMBER);
    v->str = bvStrndup(s, (size_t)(ps->p - s));
    v->strLen = (size_t)(ps->p - s);
    return v;
}

static bool
literal(Parser *ps, const char *word) {
    size_t n = strlen(word);

    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static void
addItem(JsonValue *v, char *key, JsonValue *item) {
    if ((v->count & (v->count - 1)) == 0) {
        size_t cap = v->count ? v->count * 2 : 1;

        v->items = bvRealloc(v->items, cap * sizeof(*v->items));
        if (v->type == JSON_OBJECT)
            v->keys = bvRealloc(v->keys, cap * sizeof(*v->keys));
    }
    if (v->type == JSON_OBJECT)
        v->keys[v->count] = key;
    v->items[v->count++] = item;
}

static JsonValue *
parseContainer(Parser *ps, bool object) {
    JsonValue *v = newValue(object ? JSON_OBJECT : JSON_ARRAY);
    char close = object ? '}' : ']';

    if (++ps->depth > JSON_MAX_DEPTH) {
        perr(ps, "nested too deeply");
        goto fail;
    }
    ps->p++;
    skipWs(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        ps->depth--;
        return v;
    }
    for (;;) {
        char *key = NULL;
        size_t keyLen;
        JsonValue *item;

        skipWs(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                perr(ps, "expected a member name");
                goto fail;
            }
            if (parseString(ps, &key, &keyLen) != 0)
                goto fail;
            skipWs(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                bvFree(key);
                perr(ps, "expected ':'");
                goto fail;
            }
            ps->p++;
        }
        if ((item = parseValue(ps)) == NULL) {
            bvFree(key);
            goto fail;
        }
        addItem(v, key, item);
        skipWs(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            break;
        }
        perr(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        goto fail;
    }
    ps->depth--;
    return v;
fail:
    jsonFree(v);
    return NULL;
}

static JsonValue *
parseValue(Parser *ps) {
    JsonValue *v;

    skipWs(ps);
    if (ps->p >= ps->end) {
        perr(ps, "unexpected end");
        return NULL;
    }
    switch (*ps->p) {
    case '{': return parseContainer(ps, true);
    case '[': return parseContainer(ps, false);
    case '"':
        v = newValue(JSON_STRING);
        if (parseString(ps, &v->str, &v->strLen) != 0) {
            jsonFree(v);
            return NULL;
        }
        return v;
    case 't':
    case 'f':
        if (literal(ps, "true") || literal(ps, "false")) {
            v = newValue(JSON_BOOL);
            v->boolean = ps->p[-1] == 'e' && ps->p[-2] == 'u';
            return v;
        }
        break;
    case 'n':
        if (literal(ps, "null"))
            return newValue(JSON_NULL);
        break;
    default:
        return parseNumber(ps);
    }
    perr(ps, "unexpected character");
    return NULL;
}

JsonValue *
jsonParse(const char *text, size_t len, Err *err) {
    Parser ps = {.p = text, .start = text, .end = text + len, .err = err};
    JsonValue *v = parseValue(&ps);

    if (v == NULL)
        return NULL;
    skipWs(&ps);
    if (ps.p != ps.end) {
        perr(&ps, "trailing characters");
        jsonFree(v);
        return NULL;
    }
    return v;
}

JsonType
jsonType(const JsonValue *v) {
    return v->type;
}

const JsonValue *
jsonGet(const JsonValue *v, const char *key) {
    if (v == NULL || v->type != JSON_OBJECT)
        return NULL;
    for (size_t i = 0; i < v->count; i++)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

size_t
jsonLen(const JsonValue *v) {
    return v != NULL && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->count : 0;
}

const JsonValue *
jsonAt(const JsonValue *v, size_t i) {
    return i < jsonLen(v) ? v->items[i] : NULL;
}

const char *
jsonKeyAt(const JsonValue *v, size_t i) {
    return v != NULL && v->type == JSON_OBJECT && i < v->count ? v->keys[i] : NULL;
}

const char *
jsonStr(const JsonValue *v, size_t *len) {
    if (v == NULL || v->type != JSON_STRING)
        return NULL;
    if (len)
        *len = v->strLen;
    return v->str;
}

bool
jsonU64(const JsonValue *v, uint64_t *out) {
    uint64_t n = 0;

    if (v == NULL || v->type != JSON_NUMBER || v->strLen == 0 || v->str[0] == '-')
        return false;
    for (size_t i = 0; i < v->strLen; i++) {
        unsigned d = (unsigned)(v->str[i] - '0');

        if (d > 9 || n > (UINT64_MAX - d) / 10)
            return false;
        n = n * 10 + d;
    }
    *out = n;
    return true;
}

bool
jsonI64(const JsonValue *v, int64_t *out) {
    uint64_t n;

    if (v != NULL && v->type == JSON_NUMBER && v->strLen > 1 && v->str[0] == '-') {
        JsonValue pos = *v;

        pos.str = v->str + 1;
        pos.strLen = v->strLen - 1;
        if (!jsonU64(&pos, &n) || n > (uint64_t)INT64_MAX + 1)
            return false;
        *out = n == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)n;
        return true;
    }
    if (!jsonU64(v, &n) || n > INT64_MAX)
        return false;
    *out = (int64_t)n;
    return true;
}

bool
jsonBool(const JsonValue *v, bool *out) {
    if (v == NULL || v->type != JSON_BOOL)
        return false;
    *out = v->boolean;
    return true;
}

int
jsonReqStr(const JsonValue *obj, const char *key, const char **out, Err *err) {
    if ((*out = jsonStr(jsonGet(obj, key), NULL)) == NULL)
        return errSet(err, ERR_FORMAT, "missing or invalid field '%s'", key);
    return 0;
}

int
jsonReqU64(const JsonValue *obj, const char *key, uint64_t *out, Err *err) {
    if (!jsonU64(jsonGet(obj, key), out))
        return errSet(err, ERR_FORMAT, "missing or invalid field '%s'", key);
    return 0;
}

int
jsonReqStrCopy(const JsonValue *obj, const char *key, char *dst, size_t size, Err *err) {
    const char *s;
    size_t len;

    if ((s = jsonStr(jsonGet(obj, key), &len)) == NULL)
        return errSet(err, ERR_FORMAT, "missing or invalid field '%s'", key);
    if (len >= size || strlen(s) != len)
        return errSet(err, ERR_FORMAT, "field '%s' is longer than %zu bytes or holds a NUL", key, size - 1);
    memcpy(dst, s, len + 1);
    return 0;
}

void
jsonFree(JsonValue *v) {
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->count; i++) {
        if (v->keys)
            bvFree(v->keys[i]);
        jsonFree(v->items[i]);
    }
    bvFree(v->keys);
    bvFree(v->items);
    bvFree(v->str);
    bvFree(v);
}
