/* Unit tests of recover/when.c: times in a time zone and FILE:POS positions. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "archive/segment.h"
#include "recover/when.h"
#include "tests/test.h"

static void
testTimes(void) {
    RecoverTz tz;
    uint64_t us = 0;
    char out[64];
    Err err = {0};

    REQUIRE(recoverTzParse(NULL, &tz, &err) == 0);
    CHECK_INT(tz.kind, RECOVER_TZ_UTC);
    REQUIRE(recoverTimeParse("2026-11-21 14:02:59", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000000ull);
    REQUIRE(recoverTimeParse("2026-11-21T14:02:59.5", &tz, &us, &err) == 0);
    CHECK(us == 1795269779500000ull);
    REQUIRE(recoverTimeParse("2026-11-21 14:02:59.000001", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000001ull);
    recoverTimeFormat(us, &tz, true, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59.000001");
    recoverTimeFormat(us, &tz, false, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59");

    REQUIRE(recoverTzParse("+02:00", &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, 7200);
    REQUIRE(recoverTimeParse("2026-11-21 16:02:59", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000000ull);
    recoverTimeFormat(us, &tz, false, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 16:02:59");
    REQUIRE(recoverTzParse("-0530", &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, -(5 * 3600 + 30 * 60));
    REQUIRE(recoverTzParse("-05", &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, -5 * 3600);
    if (access("/usr/share/zoneinfo/Europe/Paris", R_OK) == 0 && getenv("TZDIR") == NULL) {
        REQUIRE(recoverTzParse("Europe/Paris", &tz, &err) == 0);
        CHECK_INT(tz.kind, RECOVER_TZ_NAMED);
        /* CET in November: UTC+1. */
        REQUIRE(recoverTimeParse("2026-11-21 15:02:59", &tz, &us, &err) == 0);
        CHECK(us == 1795269779000000ull);
        recoverTimeFormat(us, &tz, false, out, sizeof(out));
        CHECK_STR(out, "2026-11-21 15:02:59");
        /* CEST in July: UTC+2. */
        REQUIRE(recoverTimeParse("2026-07-01 12:00:00", &tz, &us, &err) == 0);
        CHECK(us == 1782900000000000ull);
        CHECK(getenv("TZ") == NULL || strcmp(getenv("TZ"), "Europe/Paris") != 0);
    }
    CHECK(recoverTzParse("Mars/Olympus", &tz, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK(recoverTzParse("+25:00", &tz, &err) != 0);
    CHECK(recoverTzParse("../etc/passwd", &tz, &err) != 0);

    recoverTzParse("UTC", &tz, &err);
    CHECK(recoverTimeParse("2026-11-21", &tz, &us, &err) != 0);
    CHECK_MSG(err.msg, "YYYY-MM-DD HH:MM:SS");
    CHECK(recoverTimeParse("2026-02-30 00:00:00", &tz, &us, &err) != 0);
    CHECK_MSG(err.msg, "no such date");
    CHECK(recoverTimeParse("2028-02-29 00:00:00", &tz, &us, &err) == 0);
    CHECK(recoverTimeParse("2026-11-21 24:00:00", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("2026-11-21 14:02:59.1234567", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("2026-11-21 14:02:59.", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("2026-11-21 14:02:59 UTC", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("1969-12-31 23:59:59", &tz, &us, &err) != 0);
    CHECK(recoverTimeParse("2026-1-21 14:02:59", &tz, &us, &err) != 0);
}

static void
testPositions(void) {
    char file[SEGMENT_FILE_MAX];
    uint64_t pos = 0;
    Err err = {0};

    REQUIRE(recoverPositionParse("mariadb-bin.000003:256", file, sizeof(file), &pos, &err) == 0);
    CHECK_STR(file, "mariadb-bin.000003");
    CHECK(pos == 256);
    CHECK(recoverPositionParse("mariadb-bin.000003", file, sizeof(file), &pos, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK(recoverPositionParse("mariadb-bin.000003:", file, sizeof(file), &pos, &err) != 0);
    CHECK(recoverPositionParse(":256", file, sizeof(file), &pos, &err) != 0);
    CHECK(recoverPositionParse("a/b:256", file, sizeof(file), &pos, &err) != 0);
    CHECK(recoverPositionParse("bin.1:-5", file, sizeof(file), &pos, &err) != 0);
    CHECK(recoverPositionParse("bin.1:99999999999999999999999", file, sizeof(file), &pos, &err) != 0);
}

void suite_when(void);

void
suite_when(void) {
    testRun("times", testTimes);
    testRun("positions", testPositions);
}
