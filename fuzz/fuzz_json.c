/*
 * libFuzzer target for common/json.h: jsonParse() on any bytes, then every accessor on every
 * value of the tree, and two properties: a parsed string written back with jsonBufString() parses
 * to the same bytes, and jsonBufString() of any bytes is valid JSON.
 * Seeds: fuzz/seeds-json/ (segment trailers, index lines, checkpoint and identity documents).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
checkStringRoundTrip(const char *s, size_t len) {
    Buf *b = bufNew(len + 8);
    JsonValue *v;
    Err err;
    const char *back;
    size_t backLen;

    jsonBufString(b, s, len);
    v = jsonParse((const char *)b->data, b->len, &err);
    if (v == NULL)
        abort(); /* jsonBufString() wrote invalid JSON */
    back = jsonStr(v, &backLen);
    if (back == NULL)
        abort();
    jsonFree(v);
    bufFree(b);
}

static void
walk(const JsonValue *v, int depth) {
    uint64_t u;
    int64_t i;
    bool b;
    size_t len;
    const char *s;

    if (depth > JSON_MAX_DEPTH + 1)
        abort(); /* the parser let a deeper document through */
    jsonU64(v, &u);
    jsonI64(v, &i);
    jsonBool(v, &b);
    if ((s = jsonStr(v, &len)) != NULL) {
        Buf *out = bufNew(len + 8);
        JsonValue *again;
        Err err;
        const char *back;
        size_t backLen;

        /* A string the parser accepted is valid UTF-8: written back, it reads back identical. */
        jsonBufString(out, s, len);
        again = jsonParse((const char *)out->data, out->len, &err);
        if (again == NULL || (back = jsonStr(again, &backLen)) == NULL || backLen != len || memcmp(back, s, len) != 0)
            abort();
        jsonFree(again);
        bufFree(out);
    }
    for (size_t k = 0; k < jsonLen(v); k++) {
        const char *key = jsonKeyAt(v, k);

        if (key != NULL)
            jsonGet(v, key);
        walk(jsonAt(v, k), depth + 1);
    }
    jsonAt(v, jsonLen(v));
    jsonKeyAt(v, jsonLen(v));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Err err;
    JsonValue *v = jsonParse((const char *)data, size, &err);
    const char *req;
    uint64_t u;

    if (v != NULL) {
        walk(v, 1);
        jsonReqStr(v, "name", &req, &err);
        jsonReqU64(v, "seq", &u, &err);
        jsonFree(v);
    }
    checkStringRoundTrip((const char *)data, size < 4096 ? size : 4096);
    return 0;
}
