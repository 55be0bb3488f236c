/* Unit tests of mysql/source_info.c: the replication state of a replica source from canned
 * SHOW SLAVE STATUS rows (MariaDB 10.11 and MySQL 8 columns). */
#include <string.h>

#include "mysql/client.h"
#include "tests/test.h"

/* A SHOW SLAVE STATUS row of 60 columns, all NULL but those set. */
typedef struct Row {
    const char *v[60];
} Row;

static void
rowSet(Row *r, const char *io, const char *sql, const char *lag, const char *ioError, const char *sqlError) {
    memset(r, 0, sizeof(*r));
    r->v[0] = "Waiting for master to send event";
    r->v[10] = io;
    r->v[11] = sql;
    r->v[32] = lag;
    r->v[35] = ioError;
    r->v[37] = sqlError;
}

static void
testReplicaRunning(void) {
    SqlSourceInfo info;
    Row r;
    Err err;

    memset(&info, 0, sizeof(info));
    sqlReplicaStatusInit(&info);
    CHECK(!info.isReplica);
    rowSet(&r, "Yes", "Yes", "3", "", "");
    REQUIRE(sqlReplicaStatusAdd(&info, 60, r.v, &err) == 0);
    CHECK(info.isReplica);
    CHECK(info.ioRunning && info.sqlRunning);
    CHECK_INT(info.lagSeconds, 3);
    CHECK_STR(info.replicaError, "");
    /* A second channel further behind: the largest lag counts. */
    rowSet(&r, "Yes", "Yes", "7", "", "");
    REQUIRE(sqlReplicaStatusAdd(&info, 60, r.v, &err) == 0);
    CHECK_INT(info.lagSeconds, 7);
}

static void
testReplicaStopped(void) {
    SqlSourceInfo info;
    Row r;
    Err err;

    memset(&info, 0, sizeof(info));
    sqlReplicaStatusInit(&info);
    rowSet(&r, "Yes", "No", NULL, "", "Could not execute Write_rows_v1 event on table f.t; Duplicate entry");
    REQUIRE(sqlReplicaStatusAdd(&info, 60, r.v, &err) == 0);
    CHECK(info.ioRunning);
    CHECK(!info.sqlRunning);
    CHECK_INT(info.lagSeconds, -1);
    CHECK_MSG(info.replicaError, "Duplicate entry");
    /* One stopped channel is enough: a running one after it does not hide it. */
    rowSet(&r, "Connecting", "Yes", "0", "error connecting to master", "");
    REQUIRE(sqlReplicaStatusAdd(&info, 60, r.v, &err) == 0);
    CHECK(!info.ioRunning);
    CHECK(!info.sqlRunning);
    CHECK_INT(info.lagSeconds, -1);
    CHECK_MSG(info.replicaError, "Duplicate entry");
}

static void
testReplicaRowTooShort(void) {
    SqlSourceInfo info;
    Row r;
    Err err;

    memset(&info, 0, sizeof(info));
    sqlReplicaStatusInit(&info);
    rowSet(&r, "Yes", "Yes", "0", "", "");
    CHECK(sqlReplicaStatusAdd(&info, 12, r.v, &err) != 0);
    CHECK_INT(err.code, ERR_SOURCE);
    CHECK_MSG(err.msg, "returned 12 columns");
}

void
suite_source_info(void) {
    testRun("source info: a running replica, lag of the furthest channel", testReplicaRunning);
    testRun("source info: a stopped replication thread, and its error", testReplicaStopped);
    testRun("source info: a SHOW SLAVE STATUS row with too few columns", testReplicaRowTooShort);
}
