/* Unit tests of common/time (times in a time zone) and binlog/pos (FILE:POS positions), the one
 * parser of each form that every command uses. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "binlog/pos.h"
#include "common/time.h"
#include "tests/test.h"

static void
utc(uint64_t us, bool micro, char *out, size_t size) {
    timeFormatUtc(us, micro, out, size);
}

static void
testTimes(void) {
    TimeZone tz;
    uint64_t us = 0;
    char out[64];
    Err err = {0};

    REQUIRE(timeZoneParse(NULL, NULL, &tz, &err) == 0);
    CHECK_INT(tz.kind, TIME_ZONE_UTC);
    REQUIRE(timeParse("2026-11-21 14:02:59", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000000ull);
    REQUIRE(timeParse("2026-11-21T14:02:59.5", &tz, &us, &err) == 0);
    CHECK(us == 1795269779500000ull);
    REQUIRE(timeParse("2026-11-21 14:02:59.000001", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000001ull);
    timeFormat(us, &tz, true, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59.000001");
    timeFormat(us, &tz, false, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59");

    REQUIRE(timeZoneParse("+02:00", NULL, &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, 7200);
    REQUIRE(timeParse("2026-11-21 16:02:59", &tz, &us, &err) == 0);
    CHECK(us == 1795269779000000ull);
    timeFormat(us, &tz, false, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 16:02:59");
    REQUIRE(timeZoneParse("-0530", NULL, &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, -(5 * 3600 + 30 * 60));
    REQUIRE(timeZoneParse("-05", NULL, &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, -5 * 3600);
    if (access("/usr/share/zoneinfo/Europe/Paris", R_OK) == 0 && getenv("TZDIR") == NULL) {
        REQUIRE(timeZoneParse("Europe/Paris", NULL, &tz, &err) == 0);
        CHECK_INT(tz.kind, TIME_ZONE_NAMED);
        /* CET in November: UTC+1. */
        REQUIRE(timeParse("2026-11-21 15:02:59", &tz, &us, &err) == 0);
        CHECK(us == 1795269779000000ull);
        timeFormat(us, &tz, false, out, sizeof(out));
        CHECK_STR(out, "2026-11-21 15:02:59");
        /* CEST in July: UTC+2. */
        REQUIRE(timeParse("2026-07-01 12:00:00", &tz, &us, &err) == 0);
        CHECK(us == 1782900000000000ull);
        CHECK(getenv("TZ") == NULL || strcmp(getenv("TZ"), "Europe/Paris") != 0);
    }
    CHECK(timeZoneParse("Mars/Olympus", NULL, &tz, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK(timeZoneParse("+25:00", NULL, &tz, &err) != 0);
    CHECK(timeZoneParse("../etc/passwd", NULL, &tz, &err) != 0);

    timeZoneParse("UTC", NULL, &tz, &err);
    /* A date alone is its midnight (every command accepts it since they share one parser). */
    REQUIRE(timeParse("2026-11-21", &tz, &us, &err) == 0);
    CHECK(us == 1795219200000000ull);
    CHECK(timeParse("2026-11-21 14", &tz, &us, &err) != 0);
    CHECK_MSG(err.msg, "YYYY-MM-DD HH:MM:SS");
    utc(1795269779000001ull, true, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59.000001 UTC");
    utc(1795269779000000ull, true, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59 UTC");
    utc(1795269779000001ull, false, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59 UTC");
    utc(0, true, out, sizeof(out));
    CHECK_STR(out, "-");
    CHECK(timeParse("2026-02-30 00:00:00", &tz, &us, &err) != 0);
    CHECK_MSG(err.msg, "no such date");
    CHECK(timeParse("2028-02-29 00:00:00", &tz, &us, &err) == 0);
    CHECK(timeParse("2026-11-21 24:00:00", &tz, &us, &err) != 0);
    CHECK(timeParse("2026-11-21 14:02:59.1234567", &tz, &us, &err) != 0);
    CHECK(timeParse("2026-11-21 14:02:59.", &tz, &us, &err) != 0);
    CHECK(timeParse("2026-11-21 14:02:59 UTC", &tz, &us, &err) != 0);
    CHECK(timeParse("1969-12-31 23:59:59", &tz, &us, &err) != 0);
    CHECK(timeParse("2026-1-21 14:02:59", &tz, &us, &err) != 0);
}

static void
testPositions(void) {
    BinlogPos p;
    Err err = {0};

    REQUIRE(binlogPosParse("mariadb-bin.000003:256", false, &p, &err) == 0);
    CHECK_STR(p.file, "mariadb-bin.000003");
    CHECK(p.pos == 256);
    CHECK(binlogPosParse("mariadb-bin.000003", false, &p, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK(binlogPosParse("mariadb-bin.000003:", false, &p, &err) != 0);
    CHECK(binlogPosParse(":256", false, &p, &err) != 0);
    CHECK(binlogPosParse("a/b:256", false, &p, &err) != 0);
    CHECK(binlogPosParse("bin.1:-5", false, &p, &err) != 0);
    CHECK(binlogPosParse("bin.1:99999999999999999999999", false, &p, &err) != 0);
}

void suite_time(void);

/* The coarse wall clock is the wall clock at the last tick: not ahead of it, not far behind. */
static void
testCoarseWallClock(void) {
    struct timespec ts;
    uint64_t before, coarse, after;

    clock_gettime(CLOCK_REALTIME, &ts);
    before = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    coarse = timeNowCoarseUs();
    clock_gettime(CLOCK_REALTIME, &ts);
    after = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    CHECK(coarse <= after);
    CHECK(coarse + 100000 >= before);
}

void
suite_time(void) {
    testRun("time: times in a time zone, parsed and printed", testTimes);
    testRun("time: FILE:POS positions", testPositions);
    testRun("time: the coarse wall clock trails the precise one by at most a tick", testCoarseWallClock);
}
