/* Unit tests of archive/checkpoint: checkpoint.json written, read, replaced. */
#include "archive/archive.h"
#include "archive/checkpoint.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

static void
testCheckpoint(void) {
    ArchiveFixture s;
    ArchiveCheckpoint cp = {0}, got;
    Err err = {0};

    REQUIRE(fixtureOpen(&s, 0) == 0);
    CHECK(archiveCheckpointRead(s.archive, &got, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    cp.seq = 42;
    snprintf(cp.file, sizeof(cp.file), "mariadb-bin.000003");
    cp.endPos = 98765;
    cp.gtidEnd = "0-1-150,2-1-3";
    snprintf(cp.lastGtid, sizeof(cp.lastGtid), "0-1-150");
    cp.lastTimeUs = 1795231130000000ull;
    cp.caughtUpUs = 1795231135000000ull;
    REQUIRE(archiveCheckpointWrite(s.archive, &cp, &err) == 0);
    REQUIRE(archiveCheckpointRead(s.archive, &got, &err) == 0);
    CHECK_INT(got.seq, 42);
    CHECK_STR(got.file, "mariadb-bin.000003");
    CHECK_INT(got.endPos, 98765);
    CHECK_STR(got.gtidEnd, "0-1-150,2-1-3");
    CHECK_STR(got.lastGtid, "0-1-150");
    CHECK_INT(got.caughtUpUs, 1795231135000000ull);
    CHECK(got.updated[0] != '\0');
    CHECK_INT(got.confirmedUs, 0); /* not written when unknown */
    CHECK(got.updatedUs > 1700000000000000ull);
    archiveCheckpointClear(&got);
    /* The agent's own clock survives the round trip. */
    cp.confirmedUs = 1795231136000000ull;
    REQUIRE(archiveCheckpointWrite(s.archive, &cp, &err) == 0);
    REQUIRE(archiveCheckpointRead(s.archive, &got, &err) == 0);
    CHECK_INT(got.confirmedUs, 1795231136000000ull);
    archiveCheckpointClear(&got);
    /* Replaced. */
    cp.seq = 43;
    REQUIRE(archiveCheckpointWrite(s.archive, &cp, &err) == 0);
    REQUIRE(archiveCheckpointRead(s.archive, &got, &err) == 0);
    CHECK_INT(got.seq, 43);
    archiveCheckpointClear(&got);
    fixtureClose(&s);
}

/* A checkpoint of an older writer (no confirmed_us) reads; `updated` is read back as a time. */
static void
testCheckpointParse(void) {
    static const char old[] = "{\"version\":1,\"seq\":42,\"file\":\"mariadb-bin.000003\",\"end_pos\":98765,"
                              "\"gtid_end\":\"0-1-150\",\"last_gtid\":\"0-1-150\",\"last_time_us\":1795231130000000,"
                              "\"caught_up_us\":1795231135000000,\"updated\":\"2026-11-21T04:31:00Z\"}\n";
    ArchiveCheckpoint cp;
    Err err = {0};

    REQUIRE(archiveCheckpointParse(old, sizeof(old) - 1, &cp, &err) == 0);
    CHECK_INT(cp.confirmedUs, 0);
    CHECK_INT(cp.updatedUs, 1795235460000000ull);
    archiveCheckpointClear(&cp);
}

void
suite_checkpoint(void) {
    testRun("archive: checkpoint of an older writer", testCheckpointParse);
    testRun("archive: checkpoint", testCheckpoint);
}
