/* Unit tests of binlog/gtid.c: MySQL GTID sets (text, algebra, binary) and MariaDB positions; and of
 * binlog/gtid_state.c: GTID states of either flavour. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog/gtid.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/mem.h"
#include "tests/test.h"

#define U1 "10440e47-3885-11eb-ac5b-0242ac110002"
#define U2 "2174b383-5441-11e8-b90a-c80aa9429562"
#define U3 "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define UTAG "55778904-0299-11f1-b1b8-4ef0c4956feb"

/* Parse text into a fresh set; NULL (and a failed check) when it does not parse. */
static GtidSet *
setOf(const char *text) {
    GtidSet *set = gtidSetNew();
    Err err = {0};

    if (gtidSetParse(set, text, &err) != 0) {
        testFail(__FILE__, __LINE__, "parse '%s': %s", text, err.msg);
        gtidSetFree(set);
        return NULL;
    }
    return set;
}

/* Format with "," between uuids into a static buffer, for CHECK_STR. */
static const char *
line(const GtidSet *set) {
    static char buf[4096];
    char *s = gtidSetFormatSep(set, ",");

    snprintf(buf, sizeof(buf), "%s", s);
    bvFree(s);
    return buf;
}

/* Parse and print back on one line. */
static const char *
roundTrip(const char *text) {
    static char buf[4096];
    GtidSet *set = setOf(text);

    if (set == NULL)
        return "(parse failed)";
    snprintf(buf, sizeof(buf), "%s", line(set));
    gtidSetFree(set);
    return buf;
}

/* The error message of parsing text, "" when it parses. */
static const char *
parseErr(const char *text) {
    static Err err;
    GtidSet *set = gtidSetNew();
    int rc = gtidSetParse(set, text, &err);

    gtidSetFree(set);
    if (rc == 0)
        return "";
    if (err.code != ERR_FORMAT)
        return "(wrong error code)";
    return err.msg;
}

/* The error message of decoding len bytes, "" when they decode. The bytes are copied to a buffer
 * of exactly len bytes so that ASan sees any over-read. */
static const char *
decodeErr(const uint8_t *p, size_t len) {
    static Err err;
    GtidSet *set = gtidSetNew();
    uint8_t *copy = bvMalloc(len ? len : 1);
    int rc;

    memcpy(copy, p, len);
    rc = gtidSetDecode(set, copy, len, &err);
    bvFree(copy);
    gtidSetFree(set);
    if (rc == 0)
        return "";
    if (err.code != ERR_FORMAT)
        return "(wrong error code)";
    return err.msg;
}

/* The body (after the 19-byte header, without the 4-byte CRC32) of the first event of type `type`
 * in a fixture; NULL when absent. */
static uint8_t *
fixtureBody(const char *name, uint8_t type, size_t *len) {
    char path[1024];
    size_t size, pos = 4;
    unsigned char *file;
    uint8_t *body = NULL;

    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), name);
    file = testReadFile(path, &size);
    if (file == NULL) {
        testFail(__FILE__, __LINE__, "cannot read fixture '%s'", path);
        return NULL;
    }
    while (size >= 19 && pos <= size - 19) {
        uint32_t evSize = rdU32(file + pos + 9);

        if (evSize < 19 + 4 || evSize > size - pos)
            break;
        if (file[pos + 4] == type) {
            *len = evSize - 19 - 4;
            body = bvMalloc(*len ? *len : 1);
            memcpy(body, file + pos + 19, *len);
            break;
        }
        pos += evSize;
    }
    free(file);
    return body;
}

static void
testUuid(void) {
    uint8_t u[16];
    char text[GTID_UUID_TEXT_LEN + 1];

    CHECK_INT(gtidUuidParse("3E11FA47-71CA-11E1-9E33-C80AA9429562", u), 0);
    CHECK_INT(u[0], 0x3e);
    CHECK_INT(u[15], 0x62);
    gtidUuidFormat(u, text);
    CHECK_STR(text, U3);
    CHECK_INT(gtidUuidParse(U3 " ", u), -1);
    CHECK_INT(gtidUuidParse("3e11fa47-71ca-11e1-9e33-c80aa942956", u), -1);
    CHECK_INT(gtidUuidParse("3e11fa4771ca-11e1-9e33-c80aa9429562a", u), -1);
    CHECK_INT(gtidUuidParse("3e11fa47-71ca-11e1-9e33-c80aa942956g", u), -1);
    CHECK_INT(gtidUuidParse("3e11fa4771ca11e19e33c80aa9429562", u), -1);
    CHECK_INT(gtidUuidParse("", u), -1);
}

static void
testFormatServerStyle(void) {
    GtidSet *set = setOf(" 3E11FA47-71CA-11E1-9E33-C80AA9429562:23, " U3 ":1-5 ,\n " U2 ":1-3:7\n");
    char *text;

    REQUIRE(set != NULL);
    text = gtidSetFormat(set);
    CHECK_STR(text, U2 ":1-3:7,\n" U3 ":1-5:23");
    bvFree(text);
    CHECK_STR(line(set), U2 ":1-3:7," U3 ":1-5:23");
    text = gtidSetFormatSep(set, ", ");
    CHECK_STR(text, U2 ":1-3:7, " U3 ":1-5:23");
    bvFree(text);
    CHECK_INT(gtidSetCount(set), 4 + 6);

    /* the server's own multi-line output parses back to the same set */
    GtidSet *again = setOf(U2 ":1-3:7,\n" U3 ":1-5:23");
    REQUIRE(again != NULL);
    CHECK(gtidSetEqual(set, again));
    gtidSetFree(again);
    gtidSetFree(set);

    set = gtidSetNew();
    text = gtidSetFormat(set);
    CHECK_STR(text, "");
    bvFree(text);
    CHECK(gtidSetIsEmpty(set));
    gtidSetFree(set);
}

static void
testMerge(void) {
    CHECK_STR(roundTrip(U1 ":1-3:4-6:8:7:10-12:11"), U1 ":1-8:10-12");
    CHECK_STR(roundTrip(U1 ":5-10:1-6"), U1 ":1-10");
    CHECK_STR(roundTrip(U1 ":1:2:3"), U1 ":1-3");
    CHECK_STR(roundTrip(U1 ":3:1"), U1 ":1:3");
    CHECK_STR(roundTrip(U1 ":1-2," U1 ":3-4"), U1 ":1-4");
    CHECK_STR(roundTrip(U1 ":7-7"), U1 ":7");
    CHECK_STR(roundTrip(U1 ":1-100:20-30:50"), U1 ":1-100");
    CHECK_STR(roundTrip(U1 ":10-20:1-5:30:6-9"), U1 ":1-20:30");
    CHECK_STR(roundTrip(U1 " : 1 - 3 : 5 "), U1 ":1-3:5");
    CHECK_STR(roundTrip(U1 ":9223372036854775806"), U1 ":9223372036854775806");
    CHECK_STR(roundTrip(U1 ":9223372036854775805-9223372036854775806:1"),
              U1 ":1:9223372036854775805-9223372036854775806");
    CHECK_STR(roundTrip(U1 ":007"), U1 ":7");
    CHECK_STR(roundTrip(""), "");
    CHECK_STR(roundTrip(" \n\t "), "");
}

static void
testParseErrors(void) {
    CHECK_STR(parseErr("not-a-uuid:1"), "invalid gtid set 'not-a-uuid:1': 'not-a-uuid' is not a uuid");
    CHECK_STR(parseErr(U1 "0:1"), "invalid gtid set '" U1 "0:1': '" U1 "0' is not a uuid");
    CHECK_STR(parseErr(U1 ":0"),
              "invalid gtid set '" U1 ":0': gno '0' is out of range (1-9223372036854775806)");
    CHECK_STR(parseErr(U1 ":9223372036854775807"),
              "invalid gtid set '" U1 ":9223372036854775807': gno '9223372036854775807' is out of range "
              "(1-9223372036854775806)");
    CHECK_STR(parseErr(U1 ":1-99999999999999999999"),
              "invalid gtid set '" U1 ":1-99999999999999999999': gno '99999999999999999999' is out of range "
              "(1-9223372036854775806)");
    CHECK_STR(parseErr(U1 ":5-3"), "invalid gtid set '" U1 ":5-3': interval '5-3' ends before it starts");
    CHECK_STR(parseErr(U1), "invalid gtid set '" U1 "': '" U1 "' has no interval");
    CHECK_STR(parseErr(U1 ",  " U2 ":1"), "invalid gtid set '" U1 ",  " U2 ":1': '" U1 "' has no interval");
    CHECK_STR(parseErr(U1 ":1,," U2 ":1"), "invalid gtid set '" U1 ":1,," U2 ":1': empty entry before ','");
    CHECK_STR(parseErr(U1 ":1,\n"), "invalid gtid set '" U1 ":1, ': empty entry after the last ','");
    CHECK_STR(parseErr(","), "invalid gtid set ',': empty entry before ','");
    CHECK_STR(parseErr(U1 ":1-"), "invalid gtid set '" U1 ":1-': expected a number after '1-', found ''");
    CHECK_STR(parseErr(U1 ":1-x"), "invalid gtid set '" U1 ":1-x': expected a number after '1-', found 'x'");
    CHECK_STR(parseErr(U1 ":"), "invalid gtid set '" U1 ":': missing number or tag after ':'");
    CHECK_STR(parseErr(U1 "::1"), "invalid gtid set '" U1 "::1': missing number or tag after ':'");
    CHECK_STR(parseErr(U1 ":-1"), "invalid gtid set '" U1 ":-1': '-1' is neither a number nor a tag");
    CHECK_STR(parseErr(U1 ":1x"), "invalid gtid set '" U1 ":1x': unexpected 'x'");
    CHECK_STR(parseErr(U1 ":1 2"), "invalid gtid set '" U1 ":1 2': unexpected '2'");
    CHECK_STR(parseErr(U1 ";1"), "invalid gtid set '" U1 ";1': unexpected ';1' after a uuid");
    CHECK_STR(parseErr(U1 ":tag"), "invalid gtid set '" U1 ":tag': tag 'tag' has no interval");
    CHECK_STR(parseErr(U1 ":t1:t2:1"), "invalid gtid set '" U1 ":t1:t2:1': tag 't1' has no interval");
    CHECK_STR(parseErr(U1 ":1:T1," U2 ":1"),
              "invalid gtid set '" U1 ":1:T1," U2 ":1': tag 't1' has no interval");
    CHECK_STR(parseErr(U1 ":tag-x:1"), "invalid gtid set '" U1 ":tag-x:1': 'tag-x' is not a valid tag");
    CHECK_STR(parseErr(U1 ":aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1"),
              "invalid gtid set '" U1 ":aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1': "
              "tag 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is longer than 32 characters");
    CHECK_STR(parseErr(U1 ":aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1"), "");
    /* a long text is cut in the message */
    CHECK_STR(parseErr(U1 ":1," U2 ":1," U3 ":#"),
              "invalid gtid set '" U1 ":1," U2 ":1,3e...': '#' is neither a number nor a tag");
}

static void
testParseErrorLeavesSet(void) {
    GtidSet *set = setOf(U1 ":1-5");
    Err err = {0};

    REQUIRE(set != NULL);
    CHECK_INT(gtidSetParse(set, U2 ":1-3," U3 ":0", &err), -1);
    CHECK_STR(line(set), U1 ":1-5");
    CHECK_INT(gtidSetParse(set, U2 ":1-3," U1 ":6", &err), 0);
    CHECK_STR(line(set), U1 ":1-6," U2 ":1-3");
    gtidSetFree(set);
}

static void
testTagged(void) {
    CHECK_STR(roundTrip(U1 ":TAG_B:5," U1 ":1-3," U1 ":tag_a:1-2:4"), U1 ":1-3:tag_a:1-2:4:tag_b:5");
    CHECK_STR(roundTrip(U1 ":1-5:tag1:1-3:tag2:4"), U1 ":1-5:tag1:1-3:tag2:4");
    CHECK_STR(roundTrip(U1 ":tag1:1-3"), U1 ":tag1:1-3");
    CHECK_STR(roundTrip(U1 ": _x9 :1"), U1 ":_x9:1");
    CHECK_STR(roundTrip(U2 ":b:1," U1 ":a:1:2:3,\n" U1 ":2"), U1 ":2:a:1-3," U2 ":b:1");

    GtidSet *set = setOf(U1 ":1-5:tag1:1-3:tag2:4");
    char *text;
    uint8_t u1[16], u2[16];

    REQUIRE(set != NULL);
    REQUIRE(gtidUuidParse(U1, u1) == 0 && gtidUuidParse(U2, u2) == 0);
    text = gtidSetFormat(set);
    CHECK_STR(text, U1 ":1-5:tag1:1-3:tag2:4");
    bvFree(text);
    CHECK(gtidSetContainsGtid(set, u1, NULL, 5));
    CHECK(gtidSetContainsGtid(set, u1, "", 5));
    CHECK(!gtidSetContainsGtid(set, u1, NULL, 6));
    CHECK(gtidSetContainsGtid(set, u1, "tag1", 3));
    CHECK(gtidSetContainsGtid(set, u1, "TAG1", 3));
    CHECK(!gtidSetContainsGtid(set, u1, "tag1", 4));
    CHECK(gtidSetContainsGtid(set, u1, "tag2", 4));
    CHECK(!gtidSetContainsGtid(set, u1, "tag3", 1));
    CHECK(!gtidSetContainsGtid(set, u1, "bad-tag", 1));
    CHECK(!gtidSetContainsGtid(set, u2, "tag1", 1));
    CHECK_INT(gtidSetCount(set), 9);

    /* a tagged GTID is not the untagged one */
    GtidSet *untagged = setOf(U1 ":1-5");
    REQUIRE(untagged != NULL);
    CHECK(gtidSetIsSubset(untagged, set));
    CHECK(!gtidSetIsSubset(set, untagged));
    gtidSetSubtract(set, untagged);
    CHECK_STR(line(set), U1 ":tag1:1-3:tag2:4");
    gtidSetFree(untagged);
    gtidSetFree(set);
}

static void
testUnion(void) {
    GtidSet *a = setOf(U1 ":1-10:20-30," U2 ":5");
    GtidSet *b = setOf(U1 ":11-19:31:40," U3 ":1");
    GtidSet *empty = gtidSetNew();

    REQUIRE(a != NULL && b != NULL);
    gtidSetUnion(a, b);
    CHECK_STR(line(a), U1 ":1-31:40," U2 ":5," U3 ":1");
    CHECK_STR(line(b), U1 ":11-19:31:40," U3 ":1");
    gtidSetUnion(a, a);
    CHECK_STR(line(a), U1 ":1-31:40," U2 ":5," U3 ":1");
    gtidSetUnion(a, empty);
    CHECK_STR(line(a), U1 ":1-31:40," U2 ":5," U3 ":1");
    gtidSetUnion(empty, b);
    CHECK(gtidSetEqual(empty, b));
    gtidSetFree(a);
    gtidSetFree(b);
    gtidSetFree(empty);

    /* overlapping from both sides, an interval of src bridging several of dst */
    a = setOf(U1 ":1-2:5-6:9-10:20");
    b = setOf(U1 ":3-4:7:12-19:21-22");
    REQUIRE(a != NULL && b != NULL);
    gtidSetUnion(a, b);
    CHECK_STR(line(a), U1 ":1-7:9-10:12-22");
    gtidSetFree(a);
    gtidSetFree(b);
    a = setOf(U1 ":2:4:6:8");
    b = setOf(U1 ":1-9");
    REQUIRE(a != NULL && b != NULL);
    gtidSetUnion(a, b);
    CHECK_STR(line(a), U1 ":1-9");
    gtidSetFree(a);
    gtidSetFree(b);
}

static void
testSubtract(void) {
    static const struct {
        const char *a, *b, *want;
    } cases[] = {
        {U1 ":1-10:20-30," U2 ":5", U1 ":5-25", U1 ":1-4:26-30," U2 ":5"},
        {U1 ":1-10," U2 ":5", U2 ":1-100", U1 ":1-10"},
        {U1 ":1-10", U1 ":4-6", U1 ":1-3:7-10"},
        {U1 ":1-10", U1 ":1", U1 ":2-10"},
        {U1 ":1-10", U1 ":10", U1 ":1-9"},
        {U1 ":1-10", U1 ":2:4:6:8", U1 ":1:3:5:7:9-10"},
        {U1 ":1-3:5-7:9-11", U1 ":2-10", U1 ":1:11"},
        {U1 ":1-10", U2 ":1-10", U1 ":1-10"},
        {U1 ":1-10", U1 ":11-20", U1 ":1-10"},
        {U1 ":1-10", U1 ":1-10", ""},
        {U1 ":5", U1 ":1-4:6-9", U1 ":5"},
        {U1 ":1-5:tag:1-5", U1 ":tag:2-9", U1 ":1-5:tag:1"},
        {"", U1 ":1", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        GtidSet *a = setOf(cases[i].a), *b = setOf(cases[i].b);

        REQUIRE(a != NULL && b != NULL);
        gtidSetSubtract(a, b);
        CHECK_STR(line(a), cases[i].want);
        gtidSetFree(a);
        gtidSetFree(b);
    }

    GtidSet *a = setOf(U1 ":1-10," U2 ":3");
    REQUIRE(a != NULL);
    gtidSetSubtract(a, a);
    CHECK(gtidSetIsEmpty(a));
    CHECK_STR(line(a), "");
    gtidSetFree(a);
}

static void
testContainsSubsetEqualCount(void) {
    GtidSet *set = setOf(U1 ":1-10:20-30," U2 ":5");
    uint8_t u1[16], u2[16], u3[16];

    REQUIRE(set != NULL);
    REQUIRE(gtidUuidParse(U1, u1) == 0 && gtidUuidParse(U2, u2) == 0 && gtidUuidParse(U3, u3) == 0);
    CHECK(gtidSetContainsGtid(set, u1, NULL, 1));
    CHECK(gtidSetContainsGtid(set, u1, NULL, 10));
    CHECK(!gtidSetContainsGtid(set, u1, NULL, 11));
    CHECK(!gtidSetContainsGtid(set, u1, NULL, 19));
    CHECK(gtidSetContainsGtid(set, u1, NULL, 20));
    CHECK(gtidSetContainsGtid(set, u1, NULL, 30));
    CHECK(!gtidSetContainsGtid(set, u1, NULL, 31));
    CHECK(!gtidSetContainsGtid(set, u1, NULL, 0));
    CHECK(!gtidSetContainsGtid(set, u1, NULL, -1));
    CHECK(!gtidSetContainsGtid(set, u2, NULL, 4));
    CHECK(gtidSetContainsGtid(set, u2, NULL, 5));
    CHECK(!gtidSetContainsGtid(set, u3, NULL, 5));
    CHECK_INT(gtidSetCount(set), 22);

    static const struct {
        const char *a, *b;
        bool subset;
    } cases[] = {
        {"", "", true},
        {"", U1 ":1", true},
        {U1 ":1", "", false},
        {U1 ":1-5", U1 ":1-10", true},
        {U1 ":1-10", U1 ":1-10", true},
        {U1 ":1-11", U1 ":1-10", false},
        {U1 ":1-5:7", U1 ":1-6", false},
        {U1 ":2:4:6", U1 ":1-6", true},
        {U1 ":5-12", U1 ":1-10:12", false},
        {U1 ":1," U2 ":1", U1 ":1-3", false},
        {U2 ":2", U1 ":1-3," U2 ":1-3," U3 ":1", true},
        {U1 ":t:1", U1 ":1", false},
        {U1 ":1", U1 ":T:1", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        GtidSet *a = setOf(cases[i].a), *b = setOf(cases[i].b);

        REQUIRE(a != NULL && b != NULL);
        if (gtidSetIsSubset(a, b) != cases[i].subset)
            testFail(__FILE__, __LINE__, "subset('%s', '%s') != %d", cases[i].a, cases[i].b, cases[i].subset);
        gtidSetFree(a);
        gtidSetFree(b);
    }

    GtidSet *same = setOf(U2 ":5," U1 ":20-30:1-5:6-10");
    GtidSet *other = setOf(U1 ":1-10:20-30," U2 ":5-6");
    GtidSet *dup = gtidSetDup(set);
    REQUIRE(same != NULL && other != NULL);
    CHECK(gtidSetEqual(set, same));
    CHECK(gtidSetEqual(set, dup));
    CHECK(!gtidSetEqual(set, other));
    gtidSetUnion(dup, other);
    CHECK(!gtidSetEqual(set, dup));
    CHECK_STR(line(set), U1 ":1-10:20-30," U2 ":5");
    gtidSetFree(same);
    gtidSetFree(other);
    gtidSetFree(dup);
    gtidSetFree(set);

    /* 2 * (2^63 - 2) fits in 64 bits, a third uuid saturates */
    set = setOf(U1 ":1-9223372036854775806," U2 ":1-9223372036854775806");
    REQUIRE(set != NULL);
    CHECK(gtidSetCount(set) == UINT64_C(18446744073709551612));
    gtidSetFree(set);
    set = setOf(U1 ":1-9223372036854775806," U2 ":1-9223372036854775806," U3 ":1-9223372036854775806");
    REQUIRE(set != NULL);
    CHECK(gtidSetCount(set) == UINT64_MAX);
    gtidSetFree(set);
}

static void
testAdd(void) {
    GtidSet *set = gtidSetNew();
    uint8_t u1[16], u2[16];
    Err err = {0};

    REQUIRE(gtidUuidParse(U1, u1) == 0 && gtidUuidParse(U2, u2) == 0);
    for (int64_t g = 1; g <= 1000; g++)
        CHECK_INT(gtidSetAddGtid(set, u1, NULL, g, &err), 0);
    CHECK_STR(line(set), U1 ":1-1000");
    CHECK_INT(gtidSetAddGtid(set, u1, NULL, 1002, &err), 0);
    CHECK_INT(gtidSetAddGtid(set, u2, "Blue", 7, &err), 0);
    CHECK_STR(line(set), U1 ":1-1000:1002," U2 ":blue:7");
    CHECK_INT(gtidSetAddGtid(set, u1, NULL, 1001, &err), 0);
    CHECK_STR(line(set), U1 ":1-1002," U2 ":blue:7");
    CHECK_INT(gtidSetAddInterval(set, u2, NULL, 3, 9, &err), 0);
    CHECK_INT(gtidSetAddInterval(set, u2, NULL, 1, 1, &err), 0);
    CHECK_STR(line(set), U1 ":1-1002," U2 ":1:3-9:blue:7");
    CHECK_INT(gtidSetAddInterval(set, u2, NULL, 2, 2, &err), 0);
    CHECK_STR(line(set), U1 ":1-1002," U2 ":1-9:blue:7");

    CHECK_INT(gtidSetAddGtid(set, u1, NULL, 0, &err), -1);
    CHECK_STR(err.msg, "invalid gtid interval '" U1 ":0-0': gno out of range (1-9223372036854775806)");
    CHECK_INT(gtidSetAddGtid(set, u1, NULL, INT64_MAX, &err), -1);
    CHECK_INT(gtidSetAddGtid(set, u1, "9lives", 1, &err), -1);
    CHECK_STR(err.msg, "invalid gtid '" U1 ":9lives': invalid tag");
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_INT(gtidSetAddInterval(set, u1, NULL, 5, 4, &err), -1);
    CHECK_STR(err.msg, "invalid gtid interval '" U1 ":5-4': ends before it starts");
    CHECK_STR(line(set), U1 ":1-1002," U2 ":1-9:blue:7");
    gtidSetFree(set);
    gtidSetFree(NULL);

    /* descending single adds: each one lands in front */
    set = gtidSetNew();
    for (int64_t g = 9999; g >= 1; g -= 2)
        gtidSetAddGtid(set, u1, NULL, g, &err);
    CHECK_INT(gtidSetCount(set), 5000);
    CHECK(gtidSetContainsGtid(set, u1, NULL, 4999));
    CHECK(!gtidSetContainsGtid(set, u1, NULL, 5000));
    for (int64_t g = 2; g <= 9998; g += 2)
        gtidSetAddGtid(set, u1, NULL, g, &err);
    CHECK_STR(line(set), U1 ":1-9999");
    gtidSetFree(set);
}

static void
testLargeSets(void) {
    enum { N = 50000 };
    size_t cap = (size_t)N * 24 + 64, o = 0;
    char *text = bvMalloc(cap);
    GtidSet *odd, *even, *all;
    uint8_t *enc;
    size_t encLen;
    Err err = {0};

    /* odd gnos in descending order: parsing must not insert one by one into a sorted array */
    o += (size_t)snprintf(text + o, cap - o, "%s", U1);
    for (int i = N - 1; i >= 0; i--)
        o += (size_t)snprintf(text + o, cap - o, ":%d", 2 * i + 1);
    odd = setOf(text);
    o = (size_t)snprintf(text, cap, "%s", U1);
    for (int i = 1; i <= N; i++)
        o += (size_t)snprintf(text + o, cap - o, ":%d", 2 * i);
    even = setOf(text);
    REQUIRE(odd != NULL && even != NULL);
    CHECK_INT(gtidSetCount(odd), N);
    CHECK(!gtidSetEqual(odd, even));

    enc = gtidSetEncode(odd, &encLen);
    CHECK_INT(encLen, 8 + 16 + 8 + 16 * (size_t)N);
    all = gtidSetNew();
    CHECK_INT(gtidSetDecode(all, enc, encLen, &err), 0);
    CHECK(gtidSetEqual(all, odd));
    bvFree(enc);

    gtidSetUnion(all, even);
    CHECK_STR(line(all), U1 ":1-100000");
    gtidSetSubtract(all, even);
    CHECK(gtidSetEqual(all, odd));
    CHECK(gtidSetIsSubset(odd, even) == false);
    gtidSetUnion(all, even);
    CHECK(gtidSetIsSubset(odd, all));
    gtidSetFree(odd);
    gtidSetFree(even);
    gtidSetFree(all);
    bvFree(text);
}

static void
testDecodeFixture57(void) {
    size_t len = 0, encLen = 0;
    uint8_t *body = fixtureBody("mysql-5.7.32-gtid-rows.binlog", 35, &len);
    GtidSet *set = gtidSetNew();
    Err err = {0};
    uint8_t *enc;
    char *text;

    REQUIRE(body != NULL);
    CHECK_INT(len, 48);
    CHECK_INT(gtidSetDecode(set, body, len, &err), 0);
    text = gtidSetFormat(set);
    CHECK_STR(text, U1 ":1-5");
    bvFree(text);
    enc = gtidSetEncode(set, &encLen);
    CHECK_INT(encLen, len);
    CHECK(encLen == len && memcmp(enc, body, len) == 0);
    bvFree(enc);
    gtidSetFree(set);
    bvFree(body);
}

static void
testDecodeFixtureTagged(void) {
    size_t len = 0, encLen = 0;
    uint8_t *body = fixtureBody("mysql-9.6.0-gtid-tagged.binlog", 35, &len);
    GtidSet *set = gtidSetNew();
    Err err = {0};
    uint8_t *enc, u[16];
    char *text;

    REQUIRE(body != NULL);
    /* the sid count word: format 1, 2 TSIDs (the untagged uuid and uuid:mytag) */
    CHECK(rdU64(body) == UINT64_C(0x0100000000000201));
    CHECK_INT(gtidSetDecode(set, body, len, &err), 0);
    text = gtidSetFormat(set);
    CHECK_STR(text, UTAG ":1-13:mytag:1-2");
    bvFree(text);
    REQUIRE(gtidUuidParse(UTAG, u) == 0);
    CHECK(gtidSetContainsGtid(set, u, "mytag", 2));
    CHECK(!gtidSetContainsGtid(set, u, "mytag", 3));
    CHECK_INT(gtidSetCount(set), 15);
    enc = gtidSetEncode(set, &encLen);
    CHECK_INT(encLen, len);
    CHECK(encLen == len && memcmp(enc, body, len) == 0);
    bvFree(enc);
    gtidSetFree(set);
    bvFree(body);
}

static void
testEncodeRoundTrip(void) {
    static const char *const texts[] = {
        "",
        U1 ":1",
        U1 ":1-5:7:9-9223372036854775806," U2 ":3," U3 ":1-100",
        U1 ":1-5:a:1:b_2:2-3," U2 ":x:7," U3 ":1",
        U2 ":only_tagged:1-4",
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        GtidSet *set = setOf(texts[i]), *back = gtidSetNew();
        Err err = {0};
        size_t len;
        uint8_t *enc;

        REQUIRE(set != NULL);
        enc = gtidSetEncode(set, &len);
        CHECK_INT(gtidSetDecode(back, enc, len, &err), 0);
        CHECK(gtidSetEqual(set, back));
        char *want = gtidSetFormat(set), *got = gtidSetFormat(back);
        CHECK_STR(got, want);
        bvFree(want);
        bvFree(got);
        bvFree(enc);
        gtidSetFree(set);
        gtidSetFree(back);
    }

    /* exact bytes: the empty set, and a tagged set (untagged TSID gets an empty tag) */
    GtidSet *set = gtidSetNew();
    size_t len;
    uint8_t *enc = gtidSetEncode(set, &len);
    static const uint8_t zero8[8] = {0};
    CHECK_INT(len, 8);
    CHECK(memcmp(enc, zero8, 8) == 0);
    bvFree(enc);
    gtidSetFree(set);

    set = setOf(U1 ":ab:3," U1 ":1");
    REQUIRE(set != NULL);
    enc = gtidSetEncode(set, &len);
    CHECK_INT(len, 8 + (16 + 1 + 8 + 16) + (16 + 1 + 2 + 8 + 16));
    CHECK(rdU64(enc) == UINT64_C(0x0100000000000201));
    CHECK_INT(enc[8 + 16], 0x00);
    CHECK(rdU64(enc + 8 + 17) == 1 && rdU64(enc + 8 + 25) == 1 && rdU64(enc + 8 + 33) == 2);
    CHECK_INT(enc[8 + 41 + 16], 0x04);
    CHECK(memcmp(enc + 8 + 41 + 17, "ab", 2) == 0);
    CHECK(rdU64(enc + 8 + 41 + 19) == 1 && rdU64(enc + 8 + 41 + 27) == 3 && rdU64(enc + 8 + 41 + 35) == 4);
    bvFree(enc);
    gtidSetFree(set);
}

/* Build an untagged encoding of one uuid with the given [start, end) pairs. */
static size_t
encodeRaw(uint8_t *buf, uint64_t nSids, uint64_t nIntervals, const int64_t *pairs, size_t nPairs) {
    size_t o = 0;

    wrU64(buf, nSids);
    o += 8;
    memset(buf + o, 0xab, 16);
    o += 16;
    wrU64(buf + o, nIntervals);
    o += 8;
    for (size_t i = 0; i < nPairs; i++) {
        wrU64(buf + o, (uint64_t)pairs[2 * i]);
        wrU64(buf + o + 8, (uint64_t)pairs[2 * i + 1]);
        o += 16;
    }
    return o;
}

static void
testDecodeHostile(void) {
    uint8_t buf[256];
    size_t n;
    static const int64_t good[] = {1, 6, 8, 9};

    n = encodeRaw(buf, 1, 2, good, 2);
    CHECK_STR(decodeErr(buf, n), "");
    /* every truncation is an error, never an over-read */
    for (size_t cut = 0; cut < n; cut++)
        if (decodeErr(buf, cut)[0] == '\0')
            testFail(__FILE__, __LINE__, "truncated to %zu bytes decoded", cut);
    CHECK_STR(decodeErr(buf, 0), "invalid gtid set encoding: 0 bytes, need at least 8 for the sid count");
    CHECK_STR(decodeErr(buf, 20), "invalid gtid set encoding: 1 sids do not fit in 12 bytes");
    CHECK_STR(decodeErr(buf, n - 1),
              "invalid gtid set encoding: sid 0: 2 intervals do not fit in the 31 bytes left");

    n = encodeRaw(buf, UINT64_C(0x00ffffffffffffff), 2, good, 2);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: 72057594037927935 sids do not fit in 56 bytes");
    n = encodeRaw(buf, 1, UINT64_MAX, good, 2);
    CHECK_STR(decodeErr(buf, n),
              "invalid gtid set encoding: sid 0: 18446744073709551615 intervals do not fit in the "
              "32 bytes left");
    n = encodeRaw(buf, 2, 2, good, 2);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: sid 1 at offset 64: truncated uuid");
    n = encodeRaw(buf, 3, 2, good, 2);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: 3 sids do not fit in 56 bytes");
    n = encodeRaw(buf, 0, 2, good, 2);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: 56 trailing bytes after 0 sids");
    CHECK_STR(decodeErr(buf, 8), "");

    static const int64_t zeroStart[] = {0, 5};
    n = encodeRaw(buf, 1, 1, zeroStart, 1);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: sid 0 interval 0: [0, 5) starts below 1");
    static const int64_t negative[] = {-5, 5};
    n = encodeRaw(buf, 1, 1, negative, 1);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: sid 0 interval 0: [-5, 5) starts below 1");
    static const int64_t empty[] = {5, 5};
    n = encodeRaw(buf, 1, 1, empty, 1);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: sid 0 interval 0: [5, 5) is empty or reversed");
    static const int64_t reversed[] = {7, 3};
    n = encodeRaw(buf, 1, 1, reversed, 1);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: sid 0 interval 0: [7, 3) is empty or reversed");
    static const int64_t unordered[] = {10, 12, 1, 3};
    n = encodeRaw(buf, 1, 2, unordered, 2);
    CHECK_STR(decodeErr(buf, n),
              "invalid gtid set encoding: sid 0 interval 1: [1, 3) does not start after the "
              "previous interval");
    static const int64_t touching[] = {1, 3, 3, 5};
    n = encodeRaw(buf, 1, 2, touching, 2);
    CHECK_STR(decodeErr(buf, n),
              "invalid gtid set encoding: sid 0 interval 1: [3, 5) does not start after the "
              "previous interval");
    static const int64_t maxEnd[] = {1, INT64_MAX};
    n = encodeRaw(buf, 1, 1, maxEnd, 1);
    CHECK_STR(decodeErr(buf, n), "");

    /* format word */
    n = encodeRaw(buf, UINT64_C(0x0200000000000102), 1, good, 1);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: unknown format 2");
    n = encodeRaw(buf, UINT64_C(0x0100000000000100), 1, good, 1);
    CHECK_STR(decodeErr(buf, n),
              "invalid gtid set encoding: tagged sid count word 0x0100000000000100 does not end "
              "with the format byte 1");

    /* the same uuid twice: merged, as the server does */
    uint8_t two[8 + 2 * 40];
    wrU64(two, 2);
    for (int i = 0; i < 2; i++) {
        memset(two + 8 + 40 * i, 0x11, 16);
        wrU64(two + 8 + 40 * i + 16, 1);
        wrU64(two + 8 + 40 * i + 24, (uint64_t)(i == 0 ? 3 : 1));
        wrU64(two + 8 + 40 * i + 32, (uint64_t)(i == 0 ? 5 : 3));
    }
    GtidSet *set = gtidSetNew();
    Err err = {0};
    CHECK_INT(gtidSetDecode(set, two, sizeof(two), &err), 0);
    CHECK_STR(line(set), "11111111-1111-1111-1111-111111111111:1-4");
    /* a failed decode leaves the set as it was */
    CHECK_INT(gtidSetDecode(set, two, sizeof(two) - 1, &err), -1);
    CHECK_STR(line(set), "11111111-1111-1111-1111-111111111111:1-4");
    gtidSetFree(set);
}

/* A tagged encoding of one TSID with a raw tag-length prefix and tag bytes. */
static size_t
encodeTagged(uint8_t *buf, const uint8_t *tagBytes, size_t tagBytesLen) {
    size_t o = 0;

    wrU64(buf, UINT64_C(0x0100000000000101));
    o += 8;
    memset(buf + o, 0x22, 16);
    o += 16;
    memcpy(buf + o, tagBytes, tagBytesLen);
    o += tagBytesLen;
    wrU64(buf + o, 1);
    wrU64(buf + o + 8, 4);
    wrU64(buf + o + 16, 5);
    return o + 24;
}

static void
testDecodeTaggedHostile(void) {
    uint8_t buf[256];
    size_t n;

    n = encodeTagged(buf, (const uint8_t *)"\x06" "AbC", 4);
    CHECK_STR(decodeErr(buf, n), "");
    for (size_t cut = 0; cut < n; cut++)
        if (decodeErr(buf, cut)[0] == '\0')
            testFail(__FILE__, __LINE__, "truncated to %zu bytes decoded", cut);
    n = encodeTagged(buf, (const uint8_t *)"\x40" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 33);
    CHECK_STR(decodeErr(buf, 8 + 16 + 1 + 10),
              "invalid gtid set encoding: sid 0 at offset 25: truncated tag of 32 bytes");
    n = encodeTagged(buf, (const uint8_t *)"\x06" "AbC", 4);
    {
        GtidSet *set = gtidSetNew();
        Err err = {0};

        CHECK_INT(gtidSetDecode(set, buf, n, &err), 0);
        CHECK_STR(line(set), "22222222-2222-2222-2222-222222222222:abc:4");
        gtidSetFree(set);
    }
    /* a two-byte varlen (non-minimal) length of 5 is still 5 */
    n = encodeTagged(buf, (const uint8_t *)"\x15\x00" "hello", 7);
    {
        GtidSet *set = gtidSetNew();
        Err err = {0};

        CHECK_INT(gtidSetDecode(set, buf, n, &err), 0);
        CHECK_STR(line(set), "22222222-2222-2222-2222-222222222222:hello:4");
        gtidSetFree(set);
    }
    n = encodeTagged(buf, (const uint8_t *)"\x42" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 34);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: sid 0: tag length 33 exceeds 32");
    n = encodeTagged(buf, (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    CHECK_STR(decodeErr(buf, n),
              "invalid gtid set encoding: sid 0: tag length 18446744073709551615 exceeds 32");
    n = encodeTagged(buf, (const uint8_t *)"\x06" "a-b", 4);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: sid 0 at offset 25: invalid tag of 3 bytes");
    n = encodeTagged(buf, (const uint8_t *)"\x04" "1a", 3);
    CHECK_STR(decodeErr(buf, n), "invalid gtid set encoding: sid 0 at offset 25: invalid tag of 2 bytes");
    /* the varlen length claims more bytes than there are */
    uint8_t cut[8 + 16 + 1];
    wrU64(cut, UINT64_C(0x0100000000000101));
    memset(cut + 8, 0x22, 16);
    cut[24] = 0x03;
    CHECK_STR(decodeErr(cut, sizeof(cut)), "invalid gtid set encoding: 1 sids do not fit in 17 bytes");
    /* two sids pass the size check, but the first one's long tag leaves the second's varlen
     * length (0xff: 8 more bytes) 2 bytes */
    uint8_t cut2[8 + (16 + 33 + 8) + 16 + 3];
    wrU64(cut2, UINT64_C(0x0100000000000201));
    memset(cut2 + 8, 0x22, 16);
    cut2[24] = 0x40;
    memset(cut2 + 25, 'a', 32);
    wrU64(cut2 + 57, 0);
    memset(cut2 + 65, 0x33, 16);
    cut2[81] = 0xff;
    cut2[82] = cut2[83] = 0;
    CHECK_STR(decodeErr(cut2, sizeof(cut2)),
              "invalid gtid set encoding: sid 1 at offset 81: truncated tag length");
}

static void
testMariaGtid(void) {
    MariaGtid g;
    Err err = {0};
    char text[MARIA_GTID_TEXT_MAX];

    CHECK_INT(mariaGtidParse("0-1-100", &g, &err), 0);
    CHECK_INT(g.domain, 0);
    CHECK_INT(g.server, 1);
    CHECK(g.seq == 100);
    CHECK_INT(mariaGtidParse(" 4294967295-4294967295-18446744073709551615 ", &g, &err), 0);
    CHECK(g.domain == UINT32_MAX && g.server == UINT32_MAX && g.seq == UINT64_MAX);
    mariaGtidFormat(&g, text);
    CHECK_STR(text, "4294967295-4294967295-18446744073709551615");
    mariaGtidFormat(&(MariaGtid){0, 0, 0}, text);
    CHECK_STR(text, "0-0-0");
    mariaGtidFormat(&(MariaGtid){10, 1, 1000000}, text);
    CHECK_STR(text, "10-1-1000000");

    CHECK_INT(mariaGtidParse("4294967296-1-1", &g, &err), -1);
    CHECK_STR(err.msg,
              "invalid mariadb gtid '4294967296-1-1': domain '4294967296' is out of range (0-4294967295)");
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_INT(mariaGtidParse("1-4294967296-1", &g, &err), -1);
    CHECK_STR(err.msg,
              "invalid mariadb gtid '1-4294967296-1': server '4294967296' is out of range (0-4294967295)");
    CHECK_INT(mariaGtidParse("1-1-18446744073709551616", &g, &err), -1);
    CHECK_STR(err.msg,
              "invalid mariadb gtid '1-1-18446744073709551616': seq '18446744073709551616' is out of range "
              "(0-18446744073709551615)");
    CHECK_INT(mariaGtidParse("1-2", &g, &err), -1);
    CHECK_STR(err.msg, "invalid mariadb gtid '1-2': expected '-' before the seq at ''");
    CHECK_INT(mariaGtidParse("a-1-1", &g, &err), -1);
    CHECK_STR(err.msg, "invalid mariadb gtid 'a-1-1': expected a domain number at 'a-1-1'");
    CHECK_INT(mariaGtidParse("1-1-1x", &g, &err), -1);
    CHECK_STR(err.msg, "invalid mariadb gtid '1-1-1x': unexpected 'x' after the gtid");
    CHECK_INT(mariaGtidParse("1--1-1", &g, &err), -1);
    CHECK_STR(err.msg, "invalid mariadb gtid '1--1-1': expected a server number at '-1-1'");
    CHECK_INT(mariaGtidParse("", &g, &err), -1);
    CHECK_STR(err.msg, "invalid mariadb gtid '': expected a domain number at ''");
    CHECK_INT(mariaGtidParse("1-2-3,4-5-6", &g, &err), -1);
    CHECK_STR(err.msg, "invalid mariadb gtid '1-2-3,4-5-6': unexpected ',4-5-6' after the gtid");
}

static const char *
posLine(const MariaGtidPos *pos) {
    static char buf[1024];
    char *s = mariaGtidPosFormat(pos);

    snprintf(buf, sizeof(buf), "%s", s);
    bvFree(s);
    return buf;
}

static void
testMariaPos(void) {
    MariaGtidPos *pos = mariaGtidPosNew(), *target, *dup;
    MariaGtid g;
    Err err = {0};

    CHECK_INT(mariaGtidPosParse(pos, "", &err), 0);
    CHECK_INT(mariaGtidPosCount(pos), 0);
    CHECK_STR(posLine(pos), "");
    CHECK_INT(mariaGtidPosParse(pos, "1-2-7, 0-1-100 ,\n 5-3-1", &err), 0);
    CHECK_STR(posLine(pos), "0-1-100,1-2-7,5-3-1");
    CHECK_INT(mariaGtidPosCount(pos), 3);
    mariaGtidPosAt(pos, 1, &g);
    CHECK(g.domain == 1 && g.server == 2 && g.seq == 7);
    CHECK(mariaGtidPosGet(pos, 5, &g));
    CHECK(g.domain == 5 && g.server == 3 && g.seq == 1);
    CHECK(!mariaGtidPosGet(pos, 2, &g));

    CHECK_INT(mariaGtidPosParse(pos, "0-1-1,3-1-1,0-2-2", &err), -1);
    CHECK_STR(err.msg, "invalid gtid position '0-1-1,3-1-1,0-2-2': domain 0 appears more than once");
    CHECK_INT(mariaGtidPosParse(pos, "0-1-1,", &err), -1);
    CHECK_STR(err.msg, "invalid gtid position '0-1-1,': empty entry after the last ','");
    CHECK_INT(mariaGtidPosParse(pos, ",0-1-1", &err), -1);
    CHECK_STR(err.msg, "invalid gtid position ',0-1-1': empty entry before ','");
    CHECK_INT(mariaGtidPosParse(pos, "0-1-1 2-1-1", &err), -1);
    CHECK_STR(err.msg, "invalid gtid position '0-1-1 2-1-1': unexpected '2-1-1'");
    CHECK_INT(mariaGtidPosParse(pos, "0-1-1,9-9", &err), -1);
    CHECK_STR(err.msg, "invalid gtid position '0-1-1,9-9': expected '-' before the seq at ''");
    CHECK_STR(posLine(pos), "0-1-100,1-2-7,5-3-1");

    /* parse sets the domains it names, like updates */
    CHECK_INT(mariaGtidPosParse(pos, "1-9-3,2-1-1", &err), 0);
    CHECK_STR(posLine(pos), "0-1-100,1-9-3,2-1-1,5-3-1");
    mariaGtidPosUpdate(pos, &(MariaGtid){0, 4, 50});
    mariaGtidPosUpdate(pos, &(MariaGtid){4294967295u, 1, 1});
    CHECK_STR(posLine(pos), "0-4-50,1-9-3,2-1-1,5-3-1,4294967295-1-1");

    CHECK(mariaGtidPosContains(pos, &(MariaGtid){0, 4, 50}));
    CHECK(mariaGtidPosContains(pos, &(MariaGtid){0, 99, 49}));
    CHECK(!mariaGtidPosContains(pos, &(MariaGtid){0, 4, 51}));
    CHECK(!mariaGtidPosContains(pos, &(MariaGtid){3, 1, 0}));

    target = mariaGtidPosNew();
    CHECK(mariaGtidPosReached(pos, target));
    CHECK_INT(mariaGtidPosParse(target, "0-1-50,5-3-1", &err), 0);
    CHECK(mariaGtidPosReached(pos, target));
    mariaGtidPosUpdate(target, &(MariaGtid){2, 1, 2});
    CHECK(!mariaGtidPosReached(pos, target));
    mariaGtidPosUpdate(target, &(MariaGtid){2, 1, 1});
    mariaGtidPosUpdate(target, &(MariaGtid){6, 1, 1});
    CHECK(!mariaGtidPosReached(pos, target));

    dup = mariaGtidPosDup(pos);
    CHECK(mariaGtidPosEqual(pos, dup));
    mariaGtidPosUpdate(dup, &(MariaGtid){2, 7, 1});
    CHECK(!mariaGtidPosEqual(pos, dup));
    mariaGtidPosUpdate(dup, &(MariaGtid){2, 1, 1});
    CHECK(mariaGtidPosEqual(pos, dup));
    CHECK(!mariaGtidPosEqual(pos, target));

    mariaGtidPosFree(dup);
    mariaGtidPosFree(target);
    mariaGtidPosFree(pos);
    mariaGtidPosFree(NULL);
}

static void
testMariaGtidList(void) {
    uint8_t body[4 + 3 * 16 + 2];
    MariaGtid *list = NULL;
    size_t count = 99;
    uint32_t flags = 99;
    Err err = {0};
    MariaGtidPos *pos;

    wrU32(body, 3 | MARIA_GTID_LIST_FLAG_UNTIL_REACHED);
    wrU32(body + 4, 0);
    wrU32(body + 8, 1);
    wrU64(body + 12, 100);
    wrU32(body + 20, 0);
    wrU32(body + 24, 2);
    wrU64(body + 28, 120);
    wrU32(body + 36, 7);
    wrU32(body + 40, 1);
    wrU64(body + 44, UINT64_MAX);
    body[52] = body[53] = 0;
    CHECK_INT(mariaGtidListDecode(body, 52, &list, &count, &flags, &err), 0);
    CHECK_INT(count, 3);
    CHECK(flags == MARIA_GTID_LIST_FLAG_UNTIL_REACHED);
    REQUIRE(list != NULL);
    CHECK(list[1].domain == 0 && list[1].server == 2 && list[1].seq == 120);
    CHECK(list[2].domain == 7 && list[2].seq == UINT64_MAX);
    pos = mariaGtidPosFromList(list, count);
    CHECK_STR(posLine(pos), "0-2-120,7-1-18446744073709551615");
    mariaGtidPosFree(pos);
    bvFree(list);

    /* trailing bytes are ignored, as by the server (empty lists are padded) */
    CHECK_INT(mariaGtidListDecode(body, sizeof(body), &list, &count, &flags, &err), 0);
    CHECK_INT(count, 3);
    bvFree(list);

    /* highest seq wins, whatever the order */
    MariaGtid several[] = {{1, 5, 9}, {1, 6, 3}, {0, 1, 4}, {1, 7, 9}};
    pos = mariaGtidPosFromList(several, 4);
    CHECK_STR(posLine(pos), "0-1-4,1-7-9");
    mariaGtidPosFree(pos);

    CHECK_INT(mariaGtidListDecode(body, 51, &list, &count, &flags, &err), -1);
    CHECK_STR(err.msg, "invalid gtid list: 3 entries need 52 bytes, the body has 51");
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_INT(mariaGtidListDecode(body, 3, &list, &count, &flags, &err), -1);
    CHECK_STR(err.msg, "invalid gtid list: 3 bytes, need at least 4 for the count");
    wrU32(body, 0x0fffffff | MARIA_GTID_LIST_FLAG_IGN_GTIDS);
    CHECK_INT(mariaGtidListDecode(body, sizeof(body), &list, &count, &flags, &err), -1);
    CHECK_STR(err.msg, "invalid gtid list: 268435455 entries need 4294967284 bytes, the body has 54");
    wrU32(body, MARIA_GTID_LIST_FLAG_IGN_GTIDS);
    CHECK_INT(mariaGtidListDecode(body, 4, &list, &count, &flags, &err), 0);
    CHECK_INT(count, 0);
    CHECK(list == NULL);
    CHECK(flags == MARIA_GTID_LIST_FLAG_IGN_GTIDS);
}

/* Decode the GTID_LIST of a fixture and return its position text. */
static const char *
fixtureList(const char *name, size_t *count) {
    static char buf[4096];
    size_t len = 0;
    uint8_t *body = fixtureBody(name, 163, &len);
    MariaGtid *list = NULL;
    uint32_t flags = 99;
    Err err = {0};
    MariaGtidPos *pos;

    if (body == NULL)
        return "(no gtid list)";
    if (mariaGtidListDecode(body, len, &list, count, &flags, &err) != 0) {
        bvFree(body);
        snprintf(buf, sizeof(buf), "(%s)", err.msg);
        return buf;
    }
    CHECK_INT(flags, 0);
    pos = mariaGtidPosFromList(list, *count);
    snprintf(buf, sizeof(buf), "%s", posLine(pos));
    mariaGtidPosFree(pos);
    bvFree(list);
    bvFree(body);
    return buf;
}

static void
testMariaGtidListFixtures(void) {
    size_t count = 99;

    /* empty list, padded with 2 zero bytes by the server */
    CHECK_STR(fixtureList("mariadb-11.8.5-gtid-domain1.000002.binlog", &count), "");
    CHECK_INT(count, 0);
    CHECK_STR(fixtureList("mariadb-11.8.5-gtid-stmt.000005.binlog", &count), "0-10-262580");
    CHECK_INT(count, 1);
    CHECK_STR(fixtureList("mariadb-10.11.19-compressed.000002.binlog", &count), "0-11-9,2-11-2");
    CHECK_INT(count, 2);
}

/* ---- GTID states of either flavour ------------------------------------------------------------ */

/* Parse a state; NULL (and a failed check) when it does not parse. */
static GtidState *
stateOf(BinlogFlavour flavour, const char *text) {
    Err err = {0};
    GtidState *s = gtidStateParse(flavour, text, &err);

    if (s == NULL)
        testFail(__FILE__, __LINE__, "parse '%s': %s", text ? text : "(null)", err.msg);
    return s;
}

/* The text form of a state, in a static buffer. */
static const char *
stateText(const GtidState *s) {
    static char buf[512];
    char *t = gtidStateFormat(s);

    snprintf(buf, sizeof(buf), "%s", t);
    bvFree(t);
    return buf;
}

static void
testStateParseFormat(void) {
    GtidState *s;
    Err err = {0};

    REQUIRE((s = stateOf(BINLOG_FLAVOUR_MARIADB, " 1-2-7 , 0-1-100")) != NULL);
    CHECK_INT(gtidStateFlavour(s), BINLOG_FLAVOUR_MARIADB);
    CHECK(gtidStateMaria(s) != NULL && gtidStateSet(s) == NULL);
    CHECK(!gtidStateIsEmpty(s));
    CHECK_STR(stateText(s), "0-1-100,1-2-7");
    gtidStateFree(s);
    REQUIRE((s = stateOf(BINLOG_FLAVOUR_MYSQL, U3 ":7,\n" U1 ":1-5:3")) != NULL);
    CHECK_INT(gtidStateFlavour(s), BINLOG_FLAVOUR_MYSQL);
    CHECK(gtidStateMaria(s) == NULL && gtidStateSet(s) != NULL);
    /* One line, as the archive stores states. */
    CHECK_STR(stateText(s), U1 ":1-5," U3 ":7");
    gtidStateFree(s);
    /* NULL and blank text are the empty state. */
    REQUIRE((s = stateOf(BINLOG_FLAVOUR_MARIADB, NULL)) != NULL);
    CHECK(gtidStateIsEmpty(s));
    CHECK_STR(stateText(s), "");
    gtidStateFree(s);
    REQUIRE((s = stateOf(BINLOG_FLAVOUR_MYSQL, "  ")) != NULL);
    CHECK(gtidStateIsEmpty(s));
    CHECK_STR(stateText(s), "");
    gtidStateFree(s);
    s = gtidStateNew(BINLOG_FLAVOUR_MYSQL);
    CHECK(gtidStateIsEmpty(s));
    gtidStateFree(s);
    gtidStateFree(NULL);

    /* Each flavour's own parser and its messages; the other flavour's text is refused. */
    CHECK(gtidStateParse(BINLOG_FLAVOUR_MARIADB, "0-1-5,0-1-6", &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "invalid gtid position '0-1-5,0-1-6'");
    CHECK(gtidStateParse(BINLOG_FLAVOUR_MARIADB, U1 ":1-5", &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK(gtidStateParse(BINLOG_FLAVOUR_MYSQL, "0-1-5", &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "invalid gtid set '0-1-5'");
    CHECK(gtidStateParse(BINLOG_FLAVOUR_UNKNOWN, "0-1-5", &err) == NULL);
    CHECK_INT(err.code, ERR_INTERNAL);
    CHECK_MSG(err.msg, "unknown flavour");
}

static void
testStateEqualContains(void) {
    GtidState *a = stateOf(BINLOG_FLAVOUR_MARIADB, "0-1-100,2-1-5");
    GtidState *b = stateOf(BINLOG_FLAVOUR_MARIADB, "2-1-5,0-1-100");
    GtidState *other = stateOf(BINLOG_FLAVOUR_MARIADB, "0-2-100,2-1-5");
    GtidState *one = stateOf(BINLOG_FLAVOUR_MARIADB, "0-2-101");
    GtidState *older = stateOf(BINLOG_FLAVOUR_MARIADB, "0-1-50");
    GtidState *empty = gtidStateNew(BINLOG_FLAVOUR_MARIADB), *d;

    REQUIRE(a && b && other && one && older);
    CHECK(gtidStateEqual(a, b));
    /* Equal as states: the server ids count. */
    CHECK(!gtidStateEqual(a, other));
    /* Contained: the server ids do not. */
    CHECK(gtidStateContains(a, other) && gtidStateContains(other, a));
    CHECK(gtidStateContains(a, older) && !gtidStateContains(older, a));
    CHECK(!gtidStateContains(a, one));
    CHECK(gtidStateContains(a, empty) && gtidStateContains(empty, empty));
    CHECK(!gtidStateContainsAny(a, empty));
    /* Some of a domain reached is enough for "any". */
    d = stateOf(BINLOG_FLAVOUR_MARIADB, "0-1-100,3-1-1");
    CHECK(gtidStateContainsAny(a, d) && !gtidStateContains(a, d));
    CHECK(!gtidStateContainsAny(older, d));
    gtidStateFree(d);
    d = gtidStateDup(a);
    CHECK(gtidStateEqual(a, d));
    gtidStateFree(d);
    gtidStateFree(a);
    gtidStateFree(b);
    gtidStateFree(other);
    gtidStateFree(one);
    gtidStateFree(older);
    gtidStateFree(empty);

    a = stateOf(BINLOG_FLAVOUR_MYSQL, U3 ":1-50");
    b = stateOf(BINLOG_FLAVOUR_MYSQL, U3 ":1-3:4-50");
    one = stateOf(BINLOG_FLAVOUR_MYSQL, U3 ":51");
    d = stateOf(BINLOG_FLAVOUR_MYSQL, U3 ":50-51");
    REQUIRE(a && b && one && d);
    CHECK(gtidStateEqual(a, b));
    CHECK(gtidStateContains(a, b));
    CHECK(!gtidStateContains(a, one) && !gtidStateContainsAny(a, one));
    CHECK(!gtidStateContains(a, d) && gtidStateContainsAny(a, d));
    gtidStateFree(d);
    d = stateOf(BINLOG_FLAVOUR_MYSQL, U3 ":7");
    CHECK(gtidStateContains(a, d) && gtidStateContainsAny(a, d));
    gtidStateFree(a);
    gtidStateFree(b);
    gtidStateFree(one);
    gtidStateFree(d);
}

static void
testStateCountSubtract(void) {
    uint64_t n = 99;
    bool yes = false;
    Err err = {0};
    GtidState *a, *b;

    /* Per domain, to's seq minus from's; a domain from lacks counts whole; from ahead counts 0. */
    REQUIRE(gtidStateTextCount(BINLOG_FLAVOUR_MARIADB, "0-1-100,1-1-5", "0-1-150,1-1-5,2-1-3", &n, &err) == 0);
    CHECK(n == 53);
    REQUIRE(gtidStateTextCount(BINLOG_FLAVOUR_MARIADB, "0-1-150", "0-1-100", &n, &err) == 0);
    CHECK(n == 0);
    REQUIRE(gtidStateTextCount(BINLOG_FLAVOUR_MARIADB, "", "0-2-7", &n, &err) == 0);
    CHECK(n == 7);
    REQUIRE(gtidStateTextCount(BINLOG_FLAVOUR_MYSQL, U3 ":1-10", U3 ":1-25", &n, &err) == 0);
    CHECK(n == 15);
    REQUIRE(gtidStateTextCount(BINLOG_FLAVOUR_MYSQL, U3 ":1-10", U3 ":5-12," U1 ":1-3", &n, &err) == 0);
    CHECK(n == 5);
    n = 99;
    CHECK(gtidStateTextCount(BINLOG_FLAVOUR_MARIADB, "x", "0-1-1", &n, &err) != 0);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK(n == 0);
    CHECK(gtidStateTextCount(BINLOG_FLAVOUR_MARIADB, "0-1-1", "x", &n, &err) != 0);
    CHECK(gtidStateTextContains(BINLOG_FLAVOUR_MYSQL, U3 ":1-5", "bad", &yes, &err) != 0);

    REQUIRE(gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, "0-1-100,2-1-5", "0-1-50,2-1-5", &yes, &err) == 0);
    CHECK(yes);
    REQUIRE(gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, "0-1-100", "3-1-1", &yes, &err) == 0);
    CHECK(!yes);
    REQUIRE(gtidStateTextEqual(BINLOG_FLAVOUR_MARIADB, "2-1-5,0-1-100", "0-1-100,2-1-5", &yes, &err) == 0);
    CHECK(yes);
    REQUIRE(gtidStateTextEqual(BINLOG_FLAVOUR_MARIADB, "0-1-100", "0-1-101", &yes, &err) == 0);
    CHECK(!yes);
    REQUIRE(gtidStateTextEqual(BINLOG_FLAVOUR_MYSQL, U3 ":1-3:5", U3 ":5,\n" U3 ":1-3", &yes, &err) == 0);
    CHECK(yes);

    /* MariaDB: the domains src has not reached stay, whole. */
    a = stateOf(BINLOG_FLAVOUR_MARIADB, "0-1-100,1-1-5,2-1-9");
    b = stateOf(BINLOG_FLAVOUR_MARIADB, "0-1-40,1-2-5,3-1-1");
    REQUIRE(a && b);
    gtidStateSubtract(a, b);
    CHECK_STR(stateText(a), "0-1-100,2-1-9");
    gtidStateSubtract(a, a);
    CHECK(gtidStateIsEmpty(a));
    gtidStateFree(a);
    gtidStateFree(b);
    /* MySQL: the set difference. */
    a = stateOf(BINLOG_FLAVOUR_MYSQL, U3 ":1-50," U1 ":1-3");
    b = stateOf(BINLOG_FLAVOUR_MYSQL, U3 ":10-20," U1 ":1-3");
    REQUIRE(a && b);
    gtidStateSubtract(a, b);
    CHECK_STR(stateText(a), U3 ":1-9:21-50");
    CHECK(gtidStateCount(b, a) == 39);
    gtidStateFree(a);
    gtidStateFree(b);
}

void suite_gtid(void);

void
suite_gtid(void) {
    testRun("gtid uuid parse and format", testUuid);
    testRun("gtid set format as the server prints it", testFormatServerStyle);
    testRun("gtid set merges adjacent and overlapping intervals", testMerge);
    testRun("gtid set parse errors name the offending part", testParseErrors);
    testRun("gtid set parse error leaves the set unchanged", testParseErrorLeavesSet);
    testRun("gtid set tagged text", testTagged);
    testRun("gtid set union", testUnion);
    testRun("gtid set subtract", testSubtract);
    testRun("gtid set contains, subset, equal, count", testContainsSubsetEqualCount);
    testRun("gtid set add gtid and interval", testAdd);
    testRun("gtid set large sets", testLargeSets);
    testRun("gtid decode previous_gtids of mysql 5.7.32", testDecodeFixture57);
    testRun("gtid decode tagged previous_gtids of mysql 9.6.0", testDecodeFixtureTagged);
    testRun("gtid encode and decode round trip", testEncodeRoundTrip);
    testRun("gtid decode rejects hostile input", testDecodeHostile);
    testRun("gtid decode rejects hostile tagged input", testDecodeTaggedHostile);
    testRun("gtid mariadb gtid parse and format", testMariaGtid);
    testRun("gtid mariadb position", testMariaPos);
    testRun("gtid mariadb gtid list decode", testMariaGtidList);
    testRun("gtid mariadb gtid list of fixtures", testMariaGtidListFixtures);
    testRun("gtid state parse and format of either flavour", testStateParseFormat);
    testRun("gtid state equal, contains and contains any", testStateEqualContains);
    testRun("gtid state count and subtract", testStateCountSubtract);
}
