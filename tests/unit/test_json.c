/* Unit tests of the JSON writer helpers and the strict parser. */
#include "common/json.h"
#include "common/mem.h"
#include "tests/test.h"

static JsonValue *
parse(const char *s, Err *err) {
    return jsonParse(s, strlen(s), err);
}

static void
testParseValues(void) {
    Err err;
    JsonValue *v = parse(" {\"a\": 18446744073709551615, \"b\": \"x\\u00e9\\ud83d\\ude00\\n\", \"c\": [1, -2, true, null],"
                         " \"d\": {\"e\": false}, \"f\": 1.5e3} ", &err);
    uint64_t u;
    int64_t i;
    bool b;
    size_t len;

    REQUIRE(v != NULL);
    CHECK(jsonU64(jsonGet(v, "a"), &u) && u == UINT64_MAX);
    CHECK_STR(jsonStr(jsonGet(v, "b"), &len), "x\xc3\xa9\xf0\x9f\x98\x80\n");
    CHECK_INT(len, 8);
    CHECK_INT(jsonLen(jsonGet(v, "c")), 4);
    CHECK(jsonI64(jsonAt(jsonGet(v, "c"), 1), &i) && i == -2);
    CHECK(jsonBool(jsonAt(jsonGet(v, "c"), 2), &b) && b);
    CHECK_INT(jsonType(jsonAt(jsonGet(v, "c"), 3)), JSON_NULL);
    CHECK(jsonBool(jsonGet(jsonGet(v, "d"), "e"), &b) && !b);
    CHECK(!jsonU64(jsonGet(v, "f"), &u)); /* not an integer */
    CHECK(jsonGet(v, "missing") == NULL);
    CHECK_STR(jsonKeyAt(v, 0), "a");
    CHECK_INT(jsonReqU64(v, "b", &u, &err), -1);
    CHECK_MSG(err.msg, "'b'");
    jsonFree(v);
}

static void
testRejects(void) {
    const char *bad[] = {"", "{", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "-", "\"\\x\"", "\"a", "tru",
                         "[1] 2", "\"\\ud800\"", "\"\x01\"", "\"\xff\"", "{1:2}", "nul", "1e", "[[[[[[[[[[[[[[[[[[[["
                         "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"};
    Err err;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        JsonValue *v = parse(bad[i], &err);

        if (v != NULL) {
            testFail(__FILE__, __LINE__, "accepted bad json '%s'", bad[i]);
            jsonFree(v);
        } else {
            CHECK_MSG(err.msg, "invalid json at byte");
        }
    }
    uint64_t u;
    JsonValue *v = parse("18446744073709551616", &err);

    REQUIRE(v != NULL);
    CHECK(!jsonU64(v, &u)); /* overflow is refused, not wrapped */
    jsonFree(v);
}

static void
testWriterRoundTrip(void) {
    const char raw[] = "quote\" back\\ nl\n tab\t ctl\x01 bad\xff utf8 \xc3\xa9";
    Buf *b = bufNew(16);
    Err err;
    JsonValue *v;
    size_t len;

    jsonBufString(b, raw, sizeof(raw) - 1);
    v = jsonParse((const char *)b->data, b->len, &err);
    REQUIRE(v != NULL);
    /* Everything round-trips except the invalid byte, which becomes U+00FF. */
    CHECK(strncmp(jsonStr(v, &len), "quote\" back\\ nl\n tab\t ctl\x01 bad\xc3\xbf utf8 \xc3\xa9", len) == 0);
    jsonFree(v);
    bufFree(b);
}

void
suite_json(void) {
    testRun("json: parse values", testParseValues);
    testRun("json: rejects malformed input", testRejects);
    testRun("json: writer output parses back", testWriterRoundTrip);
}
