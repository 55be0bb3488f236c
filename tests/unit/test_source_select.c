/* Unit tests of the agent's source choice (agent/source_select.c: which --source candidate is the
 * writable primary) and of what a failover publishes (the timeline and the diverged branch in
 * /status, /metrics and /healthz, archive/status.c). */
#include <stdint.h>
#include <string.h>

#include "agent/agent_internal.h"
#include "common/json.h"
#include "common/mem.h"
#include "tests/test.h"

static SqlSourceInfo
info(bool replicaKnown, bool isReplica, bool readOnly) {
    SqlSourceInfo i;

    memset(&i, 0, sizeof(i));
    i.replicaKnown = replicaKnown;
    i.isReplica = isReplica;
    i.readOnly = readOnly;
    return i;
}

static void
testRoles(void) {
    SqlSourceInfo i = info(true, false, false);

    CHECK_INT(agentCandidateRole(&i), CANDIDATE_PRIMARY);
    i = info(true, false, true);
    CHECK_INT(agentCandidateRole(&i), CANDIDATE_READ_ONLY);
    /* A replica that someone left writable is still a replica. */
    i = info(true, true, false);
    CHECK_INT(agentCandidateRole(&i), CANDIDATE_REPLICA);
    /* Without SLAVE MONITOR, read_only alone decides. */
    i = info(false, false, false);
    CHECK_INT(agentCandidateRole(&i), CANDIDATE_PRIMARY);
    i = info(false, false, true);
    CHECK_INT(agentCandidateRole(&i), CANDIDATE_READ_ONLY);
}

static void
testChoose(void) {
    CandidateRole one[] = {CANDIDATE_REPLICA, CANDIDATE_PRIMARY, CANDIDATE_DOWN};
    CandidateRole none[] = {CANDIDATE_READ_ONLY, CANDIDATE_DOWN, CANDIDATE_REPLICA};
    CandidateRole two[] = {CANDIDATE_PRIMARY, CANDIDATE_REPLICA, CANDIDATE_PRIMARY};
    CandidateRole down[] = {CANDIDATE_DOWN, CANDIDATE_DOWN};
    size_t chosen;

    CHECK_INT(agentCandidateChoose(one, 3, 0, false, &chosen), 1);
    CHECK_INT(chosen, 1);
    /* The primary wins over the current candidate, even with --archive-replica. */
    CHECK_INT(agentCandidateChoose(one, 3, 0, true, &chosen), 1);
    CHECK_INT(chosen, 1);
    /* No primary: nothing, unless a replica may be archived (the current one first). */
    CHECK_INT(agentCandidateChoose(none, 3, 2, false, &chosen), 0);
    CHECK_INT(chosen, SIZE_MAX);
    CHECK_INT(agentCandidateChoose(none, 3, 2, true, &chosen), 1);
    CHECK_INT(chosen, 2);
    CHECK_INT(agentCandidateChoose(none, 3, 1, true, &chosen), 1);
    CHECK_INT(chosen, 0);
    /* Two writable primaries: neither (a split brain is never archived from). */
    CHECK_INT(agentCandidateChoose(two, 3, 0, true, &chosen), -2);
    CHECK_INT(chosen, SIZE_MAX);
    CHECK_INT(agentCandidateChoose(down, 2, 0, true, &chosen), 0);
}

static void
testDivergedPublished(void) {
    AgentStatus s;
    Buf *b = bufNew(4096);
    JsonValue *j;
    const JsonValue *tl;
    char reason[2048];
    uint64_t u;
    Err err;

    memset(&s, 0, sizeof(s));
    s.nowUs = s.startedUs = 1795231387000000ULL;
    s.version = "test";
    s.connected = s.fresh = true;
    s.lagBytes = -1;
    s.timeline = 1;
    /* Nothing diverged: plain ok, diverged null. */
    CHECK(agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_STR(reason, "ok");
    agentStatusJson(&s, b);
    REQUIRE((j = jsonParse((const char *)b->data, b->len, &err)) != NULL);
    tl = jsonGet(j, "timeline");
    CHECK(jsonU64(jsonGet(tl, "current"), &u) && u == 1);
    CHECK(jsonGet(tl, "diverged") != NULL && jsonStr(jsonGet(tl, "diverged"), NULL) == NULL);
    jsonFree(j);
    /* A failover lost 3 transactions: a warning, still healthy. */
    s.timeline = 2;
    s.failovers = 1;
    s.divergedTransactions = 3;
    s.divergedFoundUs = s.nowUs;
    snprintf(s.diverged, sizeof(s.diverged), "3 transactions committed on the old source were lost in the "
             "failover: 0-1-270..0-1-272");
    CHECK(agentStatusHealthy(&s, reason, sizeof(reason)));
    CHECK_MSG(reason, "ok (warning: 3 transactions committed on the old source were lost");
    bufClear(b);
    agentStatusJson(&s, b);
    REQUIRE((j = jsonParse((const char *)b->data, b->len, &err)) != NULL);
    tl = jsonGet(j, "timeline");
    CHECK(jsonU64(jsonGet(tl, "current"), &u) && u == 2);
    CHECK(jsonU64(jsonGet(tl, "failovers"), &u) && u == 1);
    CHECK(jsonU64(jsonGet(jsonGet(tl, "diverged"), "transactions"), &u) && u == 3);
    CHECK_MSG(jsonStr(jsonGet(jsonGet(tl, "diverged"), "message"), NULL), "0-1-270..0-1-272");
    jsonFree(j);
    bufClear(b);
    agentStatusMetrics(&s, b);
    bufAppend(b, "", 1);
    CHECK_MSG((const char *)b->data, "\nbinvault_diverged_transactions 3\n");
    CHECK_MSG((const char *)b->data, "\nbinvault_timeline 2\n");
    CHECK_MSG((const char *)b->data, "\nbinvault_failovers_total 1\n");
    CHECK_MSG((const char *)b->data, "\nbinvault_healthy 1\n");
    bufFree(b);
}

void suite_source_select(void);

void
suite_source_select(void) {
    testRun("source select: a candidate's role", testRoles);
    testRun("source select: the one writable primary, never two", testChoose);
    testRun("source select: a diverged branch is a warning in /healthz, in /status and /metrics",
            testDivergedPublished);
}
