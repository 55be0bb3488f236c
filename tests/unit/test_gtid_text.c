/* Unit tests of the text forms of GTID states (binlog/gtid.h gtidStateText*): both flavours compared. */
#include "binlog/gtid.h"
#include "tests/test.h"

static void
testGtidStates(void) {
    bool b = false;
    Err err = {0};

    REQUIRE(gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, "0-1-100,2-1-5", "0-1-100", &b, &err) == 0);
    CHECK(b);
    REQUIRE(gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, "0-1-100,2-1-5", "0-2-101", &b, &err) == 0);
    CHECK(!b);
    REQUIRE(gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, "0-1-100,2-1-5", "0-1-50,2-1-5", &b, &err) == 0);
    CHECK(b);
    REQUIRE(gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, "0-1-100", "3-1-1", &b, &err) == 0);
    CHECK(!b);
    CHECK(gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, "0-1-100", "x", &b, &err) != 0);
    REQUIRE(gtidStateTextContains(BINLOG_FLAVOUR_MYSQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-50",
                               "3e11fa47-71ca-11e1-9e33-c80aa9429562:23", &b, &err) == 0);
    CHECK(b);
    REQUIRE(gtidStateTextContains(BINLOG_FLAVOUR_MYSQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-50",
                               "3e11fa47-71ca-11e1-9e33-c80aa9429562:51", &b, &err) == 0);
    CHECK(!b);
    REQUIRE(gtidStateTextEqual(BINLOG_FLAVOUR_MARIADB, "2-1-5,0-1-100", "0-1-100,2-1-5", &b, &err) == 0);
    CHECK(b);
    REQUIRE(gtidStateTextEqual(BINLOG_FLAVOUR_MYSQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3:5",
                                  "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-2:3:5", &b, &err) == 0);
    CHECK(b);
    REQUIRE(gtidStateTextEqual(BINLOG_FLAVOUR_MARIADB, "0-1-100", "0-1-101", &b, &err) == 0);
    CHECK(!b);
}

void
suite_gtid_text(void) {
    testRun("archive: gtid states", testGtidStates);
}
