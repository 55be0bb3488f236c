/* Unit tests of archive/status.c: the RPO rules, the health verdict, the /metrics and /status
 * renderings, and the verdict of `binvault status`. */
#include <math.h>
#include <stdlib.h>

#include "archive/status.h"
#include "common/json.h"
#include "common/mem.h"
#include "tests/test.h"

#define S(x) ((uint64_t)(x) * 1000000u)
#define NOW S(1800000000)

static void
baseStatus(AgentStatus *s) {
    memset(s, 0, sizeof(*s));
    s->nowUs = NOW;
    s->startedUs = NOW - S(3600);
    s->version = "9.9.9";
    snprintf(s->sourceUrl, sizeof(s->sourceUrl), "mysql://repl@db:3306");
    snprintf(s->archiveUrl, sizeof(s->archiveUrl), "file:///a");
    s->heartbeatMs = 1000;
    s->connected = true;
    s->fresh = true;
    s->lagBytes = -1;
}

static bool
near(double a, double b) {
    return fabs(a - b) < 1e-6;
}

static void
testRpoRules(void) {
    AgentStatus s;

    baseStatus(&s);
    /* Caught up, nothing open: 0. */
    CHECK(near(agentStatusArchiveRpo(&s), 0));
    CHECK(near(agentStatusSpoolRpo(&s), 0));
    /* An open segment whose first transaction committed 0.7 s ago. */
    s.oldestUnsealedUs = s.oldestUnsyncedUs = NOW - 700000;
    CHECK(near(agentStatusArchiveRpo(&s), 0.7));
    CHECK(near(agentStatusSpoolRpo(&s), 0.7));
    /* A sealed segment not yet archived is older: the archive RPO follows it, not the spool's. */
    s.oldestUnarchivedUs = NOW - S(3);
    CHECK(near(agentStatusArchiveRpo(&s), 3));
    CHECK(near(agentStatusSpoolRpo(&s), 0.7));
    /* Semi-sync: everything received is fsync'd, the spool RPO is 0. */
    s.oldestUnsyncedUs = 0;
    CHECK(near(agentStatusSpoolRpo(&s), 0));
    /* The stream is not fresh: whatever came after the last caught-up instant may be missing. */
    baseStatus(&s);
    s.fresh = false;
    s.connected = false;
    s.unreceivedSinceUs = NOW - S(12);
    CHECK(near(agentStatusArchiveRpo(&s), 12));
    CHECK(near(agentStatusSpoolRpo(&s), 12));
    /* ... but older data in hand still counts. */
    s.oldestUnarchivedUs = NOW - S(20);
    CHECK(near(agentStatusArchiveRpo(&s), 20));
    /* Knowing nothing: since the agent started. */
    baseStatus(&s);
    s.fresh = false;
    CHECK(near(agentStatusArchiveRpo(&s), 3600));
    /* A source clock ahead of ours is not a negative RPO. */
    baseStatus(&s);
    s.oldestUnsealedUs = NOW + S(5);
    CHECK(near(agentStatusArchiveRpo(&s), 0));
}

static void
testHealth(void) {
    AgentStatus s;
    char reason[2048];

    baseStatus(&s);
    CHECK(agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_STR(reason, "ok");
    s.connected = false;
    s.fresh = false;
    snprintf(s.lastError, sizeof(s.lastError), "connection refused");
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "not connected to the source mysql://repl@db:3306");
    CHECK_MSG(reason, "connection refused");
    baseStatus(&s);
    s.fresh = false;
    s.silentMs = 4200;
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "nothing received from the source for 4.2 s");
    baseStatus(&s);
    s.spoolFull = true;
    s.fresh = false;
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "spool is full");
    /* A spool that cannot be written is named as such, also while the stream is down for it. */
    baseStatus(&s);
    s.spoolFailingSinceUs = NOW - S(7);
    s.connected = false;
    snprintf(s.lastError, sizeof(s.lastError), "spool '/var/spool' failed: Input/output error");
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "the spool cannot be written");
    CHECK_MSG(reason, "7 s");
    CHECK_MSG(reason, "Input/output error");
    s.spoolFailingSinceUs = 0;
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "not connected to the source");
    /* Upload failures: a blip is tolerated, a run of 10 s is not. */
    baseStatus(&s);
    s.uploadFailingSinceUs = NOW - S(2);
    CHECK(agentStatusHealthy(&s, reason, sizeof(reason)));
    s.uploadFailingSinceUs = NOW - S(11);
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "uploads to file:///a failing since");
    baseStatus(&s);
    s.archiveFailingSinceUs = NOW - S(30);
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    baseStatus(&s);
    s.purge = PURGE_AT_RISK;
    CHECK(agentStatusHealthy(&s, reason, sizeof(reason)));
    s.purge = PURGE_LOST;
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    baseStatus(&s);
    s.stopping = true;
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_STR(reason, "shutting down");
}

/* Every sample line of the exposition: a binvault_ name with HELP and TYPE before it, counters
 * ending in _total, a number (or NaN) as value. */
static void
testMetricsText(void) {
    AgentStatus s;
    Buf *b = bufNew(4096);
    char *text, *line, *save = NULL;
    char help[128] = "", type[128] = "", typeKind[32] = "";
    unsigned samples = 0;

    baseStatus(&s);
    s.oldestUnarchivedUs = NOW - S(2);
    s.recvTxns = 42;
    s.purge = PURGE_AT_RISK;
    agentStatusMetrics(&s, b);
    bufAppend(b, "", 1);
    text = (char *)b->data;
    CHECK_MSG(text, "binvault_build_info{version=\"9.9.9\"} 1\n");
    CHECK_MSG(text, "binvault_archive_rpo_seconds 2.000000\n");
    CHECK_MSG(text, "binvault_received_transactions_total 42\n");
    CHECK_MSG(text, "binvault_source_lag_bytes NaN\n");
    CHECK_MSG(text, "binvault_purge_guard_state{state=\"at_risk\"} 1\n");
    CHECK_MSG(text, "binvault_purge_guard_state{state=\"ok\"} 0\n");
    CHECK_MSG(text, "binvault_healthy 1\n");
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char name[128];

        if (strncmp(line, "# HELP ", 7) == 0) {
            sscanf(line + 7, "%127s", help);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            sscanf(line + 7, "%127s %31s", type, typeKind);
            CHECK_STR(type, help);
            continue;
        }
        samples++;
        CHECK(strncmp(line, "binvault_", 9) == 0);
        snprintf(name, sizeof(name), "%.*s", (int)strcspn(line, "{ "), line);
        CHECK_STR(name, type);
        if (strcmp(typeKind, "counter") == 0)
            CHECK(strlen(name) > 6 && strcmp(name + strlen(name) - 6, "_total") == 0);
        else
            CHECK_STR(typeKind, "gauge");
        {
            const char *v = strrchr(line, ' ') + 1;
            char *end;

            if (strcmp(v, "NaN") != 0) {
                strtod(v, &end);
                CHECK(*end == '\0');
            }
        }
    }
    CHECK(samples >= 30);
    bufFree(b);
}

static void
testStatusJson(void) {
    AgentStatus s;
    Buf *b = bufNew(4096);
    JsonValue *j;
    Err err;
    bool flag;
    uint64_t u;

    baseStatus(&s);
    s.recvGtid = bvStrdup("0-1-7,2-1-\"9");
    s.cpGtidEnd = bvStrdup("0-1-5");
    s.cpSeq = 3;
    s.sourceSampled = true;
    snprintf(s.sourceFile, sizeof(s.sourceFile), "mariadb-bin.000002");
    s.sourcePos = 1234;
    s.sourceGtid = bvStrdup("0-1-9");
    s.lagBytes = 77;
    s.lastErrorUs = NOW - S(1);
    snprintf(s.lastError, sizeof(s.lastError), "it \"broke\"\n");
    agentStatusJson(&s, b);
    j = jsonParse((const char *)b->data, b->len, &err);
    REQUIRE(j != NULL);
    CHECK(jsonBool(jsonGet(j, "healthy"), &flag) && flag);
    CHECK_STR(jsonStr(jsonGet(jsonGet(j, "received"), "gtid"), NULL), "0-1-7,2-1-\"9");
    CHECK(jsonU64(jsonGet(jsonGet(jsonGet(j, "archive"), "checkpoint"), "seq"), &u) && u == 3);
    CHECK_STR(jsonStr(jsonGet(jsonGet(j, "source"), "file"), NULL), "mariadb-bin.000002");
    CHECK(jsonU64(jsonGet(jsonGet(j, "source"), "lag_bytes"), &u) && u == 77);
    CHECK_STR(jsonStr(jsonGet(jsonGet(j, "last_error"), "message"), NULL), "it \"broke\"\n");
    CHECK(jsonGet(jsonGet(j, "rpo"), "archive_seconds") != NULL);
    jsonFree(j);
    bufFree(b);
    agentStatusClear(&s);
}

/* Now, thresholds 60 s and 300 s, nothing known of the source. */
static void
verdictInput(StatusInput *in) {
    memset(in, 0, sizeof(*in));
    in->nowUs = NOW;
    in->warnRpo = 60;
    in->maxRpo = 300;
    in->unarchivedTxns = -1;
}

static void
testStatusVerdict(void) {
    StatusInput in;
    StatusVerdict v;

    verdictInput(&in);
    /* Archive alone: bounded by the later of the caught-up instant and the last commit. */
    in.lastTimeUs = NOW - S(100);
    in.caughtUpUs = NOW - S(2);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_OK);
    CHECK(near(v.rpo, 2) && !v.exact);
    in.caughtUpUs = NOW - S(61);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_WARNING);
    in.caughtUpUs = 0;
    in.lastTimeUs = NOW - S(400);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_CRITICAL);
    in.lastTimeUs = 0;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_UNKNOWN);
    CHECK(v.rpo < 0);
    /* With the source: nothing missing is exactly 0, whatever the checkpoint's age. */
    in.lastTimeUs = NOW - S(1000);
    in.sourceAsked = in.sourceOk = true;
    in.unarchivedTxns = 0;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_OK);
    CHECK(near(v.rpo, 0) && v.exact);
    /* Missing transactions: the age of the oldest, read from the source. */
    in.unarchivedTxns = 5;
    in.oldestUnarchivedUs = NOW - S(70);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_WARNING);
    CHECK(near(v.rpo, 70) && v.exact);
    /* The source purged what the archive needs: critical. */
    in.gap = true;
    in.oldestUnarchivedUs = NOW - S(1);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_CRITICAL);
    /* The source asked for did not answer: at least a warning, from the checkpoint. */
    memset(&in, 0, sizeof(in));
    in.nowUs = NOW;
    in.warnRpo = 60;
    in.maxRpo = 300;
    in.caughtUpUs = NOW - S(1);
    in.sourceAsked = true;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_WARNING);
    CHECK(near(v.rpo, 1));
    CHECK_STR(statusCodeName(STATUS_CRITICAL), "CRITICAL");
}

/* Issue 14: one commit dated a day ahead (SET TIMESTAMP) must not make a stopped agent's archive
 * look current: the bound never starts later than the agent's own clock at its last confirmed
 * checkpoint, nor than the checkpoint's own age. */
static void
testStatusFutureCommit(void) {
    StatusInput in;
    StatusVerdict v;

    verdictInput(&in);
    in.lastTimeUs = NOW + S(86400);
    in.caughtUpUs = NOW - S(500);
    in.confirmedUs = NOW - S(120);
    in.updatedUs = NOW - S(120);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_WARNING);
    CHECK(near(v.rpo, 120) && !v.exact && v.futureCommit);
    /* An older agent wrote no confirmed_us: the checkpoint's age bounds it. */
    in.confirmedUs = 0;
    in.updatedUs = NOW - S(400);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_CRITICAL);
    CHECK(near(v.rpo, 400));
    /* Nothing to cap with: never below 0, never trusted beyond now. */
    in.updatedUs = 0;
    statusEvaluate(&in, &v);
    CHECK(near(v.rpo, 0));
    /* A running agent refreshing its checkpoint: honest times are used as before. */
    in.lastTimeUs = NOW - S(3);
    in.caughtUpUs = 0;
    in.confirmedUs = in.updatedUs = NOW - S(1);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_OK);
    CHECK(near(v.rpo, 3) && !v.futureCommit);
    /* With the source: the oldest missing transaction dated in the future is no measure; the
     * checkpoint's bound holds. */
    in.lastTimeUs = NOW + S(86400);
    in.confirmedUs = in.updatedUs = NOW - S(90);
    in.sourceAsked = in.sourceOk = true;
    in.unarchivedTxns = 3;
    in.oldestUnarchivedUs = NOW + S(86400);
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_WARNING);
    CHECK(near(v.rpo, 90) && !v.exact && v.futureCommit);
}

static void
testUnarchivedTxns(void) {
    int64_t n;
    Err err;

    CHECK_INT(statusUnarchivedTxns(BINLOG_FLAVOUR_MARIADB, "0-1-150,2-1-9", "0-1-100,2-1-9", &n, &err), 0);
    CHECK_INT(n, 50);
    /* A domain the archive has never seen: all of its transactions. */
    CHECK_INT(statusUnarchivedTxns(BINLOG_FLAVOUR_MARIADB, "0-1-10,3-1-4", "0-1-10", &n, &err), 0);
    CHECK_INT(n, 4);
    CHECK_INT(statusUnarchivedTxns(BINLOG_FLAVOUR_MARIADB, "0-1-10", "0-1-10", &n, &err), 0);
    CHECK_INT(n, 0);
    CHECK_INT(statusUnarchivedTxns(BINLOG_FLAVOUR_MARIADB, "nonsense", "0-1-10", &n, &err), -1);
    CHECK_INT(statusUnarchivedTxns(BINLOG_FLAVOUR_MYSQL, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-100",
                                   "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-90", &n, &err), 0);
    CHECK_INT(n, 10);
}

/* The source is a replica: a stopped replication thread is not an idle primary. */
static void
testReplicaSource(void) {
    AgentStatus s;
    char reason[1024];
    Buf *out = bufNew(4096);

    baseStatus(&s);
    s.replicaSampled = true;
    s.replica = true;
    s.replicaIoRunning = s.replicaSqlRunning = true;
    s.replicaLagS = 0;
    CHECK(agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK(near(agentStatusArchiveRpo(&s), 0));
    s.replicaSqlRunning = false;
    s.replicaLagS = -1;
    s.replicaBehindSinceUs = NOW - S(30);
    snprintf(s.replicaError, sizeof(s.replicaError), "Duplicate entry");
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "the source is a replica whose replication is stopped (IO thread running, SQL thread stopped");
    CHECK_MSG(reason, "Duplicate entry");
    CHECK(near(agentStatusArchiveRpo(&s), 30));
    CHECK(near(agentStatusSpoolRpo(&s), 30));
    /* Stopping on an error: /healthz says which. */
    s.stopping = true;
    snprintf(s.failure, sizeof(s.failure), "refusing to archive 'mysql://repl@db:3306'");
    CHECK(!agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "stopping on an error: refusing to archive");
    s.stopping = false;
    agentStatusMetrics(&s, out);
    bufAppend(out, "", 1);
    CHECK_MSG((const char *)out->data, "binvault_source_replica_sql_running 0\n");
    CHECK_MSG((const char *)out->data, "binvault_source_replica_lag_seconds NaN\n");
    out->len = 0;
    agentStatusJson(&s, out);
    bufAppend(out, "", 1);
    CHECK_MSG((const char *)out->data, "\"replica\":{\"io_running\":true,\"sql_running\":false,\"lag_seconds\":null");
    bufFree(out);
}

void
suite_status(void) {
    testRun("status: RPO rules (archive, spool, unreceived, clock skew)", testRpoRules);
    testRun("status: health verdict and reasons", testHealth);
    testRun("status: /metrics is Prometheus text with HELP and TYPE", testMetricsText);
    testRun("status: /status is valid JSON with the checkpoint and last error", testStatusJson);
    testRun("status: binvault status verdict and exit codes", testStatusVerdict);
    testRun("status: a future commit time never shortens the RPO", testStatusFutureCommit);
    testRun("status: transactions not archived from GTID states", testUnarchivedTxns);
    testRun("status: a replica source whose replication stopped", testReplicaSource);
}
