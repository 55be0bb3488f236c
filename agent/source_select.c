/*
 * Which --source candidate the stream thread connects to (agent_internal.h agentSelectSource()).
 * With one --source the agent archives that address, wherever it points (a virtual IP or a proxy
 * that moves with the primary): every connection checks the server's identity, and a new server
 * is a new timeline (agent/failover.c). With several, the agent asks each what it is and archives
 * the one writable primary (read_only=OFF, no replication configured), so that it follows a
 * switchover or a failover among them; it never archives two servers at once (one stream), and
 * never a replica or a read-only server unless told so (--archive-replica). No primary, or two
 * (a split brain, or the instant of a switchover): nothing is chosen, the stream waits and asks
 * again with its backoff.
 */
#include "agent/agent_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/mem.h"

/* A probe's connection attempt waits at most this long: a dead candidate must not hold up the
 * others (the stream's own connection uses --connect-timeout). */
#define SELECT_CONNECT_MS 3000

static const char *
roleName(CandidateRole r) {
    switch (r) {
    case CANDIDATE_PRIMARY: return "the writable primary";
    case CANDIDATE_READ_ONLY: return "read-only";
    case CANDIDATE_REPLICA: return "a replica";
    default: return "unreachable";
    }
}

CandidateRole
agentCandidateRole(const SqlSourceInfo *info) {
    /* Without SLAVE MONITOR a replica cannot be told from a primary but by read_only. */
    if (info->replicaKnown && info->isReplica)
        return CANDIDATE_REPLICA;
    return info->readOnly ? CANDIDATE_READ_ONLY : CANDIDATE_PRIMARY;
}

int
agentCandidateChoose(const CandidateRole *roles, size_t n, size_t current, bool archiveReplica, size_t *chosen) {
    size_t primaries = 0, other = SIZE_MAX;

    *chosen = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (roles[i] == CANDIDATE_PRIMARY) {
            if (primaries++ == 0)
                *chosen = i;
        } else if (roles[i] != CANDIDATE_DOWN && (other == SIZE_MAX || i == current)) {
            other = i;
        }
    }
    if (primaries > 1) {
        *chosen = SIZE_MAX;
        return -(int)primaries;
    }
    if (primaries == 0 && archiveReplica)
        *chosen = other;
    return *chosen == SIZE_MAX ? 0 : 1;
}

/* What candidate i is now; what it is in words (for the log) or why it cannot be asked. */
static CandidateRole
probe(Agent *a, size_t i, char *why, size_t whySize) {
    SqlConnOpts o = agentCandidateConnOpts(a, i);
    SqlSourceInfo info;
    SqlConn *c;
    int major = 0, minor = 0, patch = 0;
    BinlogFlavour flavour;
    CandidateRole role;
    Err err;

    if (o.connectTimeoutMs == 0 || o.connectTimeoutMs > SELECT_CONNECT_MS)
        o.connectTimeoutMs = SELECT_CONNECT_MS;
    o.readTimeoutMs = SELECT_CONNECT_MS;
    if ((c = sqlConnect(&o, &err)) == NULL) {
        snprintf(why, whySize, "%.*s", (int)(whySize > 0 ? whySize - 1 : 0), err.msg);
        return CANDIDATE_DOWN;
    }
    binlogParseServerVersion(sqlConnServerVersion(c), &flavour, &major, &minor, &patch);
    if (sqlSourceInfoRead(c, flavour, (unsigned)(major * 10000 + minor * 100 + patch), &info, &err) != 0) {
        snprintf(why, whySize, "%.*s", (int)(whySize > 0 ? whySize - 1 : 0), err.msg);
        sqlConnFree(c);
        return CANDIDATE_DOWN;
    }
    sqlConnFree(c);
    role = agentCandidateRole(&info);
    snprintf(why, whySize, "server_id %" PRIu32 ", %s", info.serverId, roleName(role));
    return role;
}

static void
choose(Agent *a, size_t i, const char *what) {
    size_t was = atomic_load(&a->urlIdx);

    atomic_store(&a->urlIdx, i);
    agentPublishSourceUrl(a);
    if (was != i || !a->sourceChosen)
        logInfo("source: archiving candidate %zu of %zu, '%s' (%s)", i + 1, a->urlCount, a->cfg->sources.items[i],
                what);
    a->sourceChosen = true;
}

int
agentSelectSource(Agent *a, Err *err) {
    CandidateRole *roles;
    size_t chosen;
    char why[512], list[2048] = "";
    int rc;

    if (a->urlCount == 1) {
        choose(a, 0, "the one --source");
        return 0;
    }
    roles = bvCalloc(a->urlCount, sizeof(*roles));
    for (size_t i = 0; i < a->urlCount; i++) {
        size_t n = strlen(list);

        roles[i] = probe(a, i, why, sizeof(why));
        snprintf(list + n, sizeof(list) - n, "%s'%s': %s", n ? "; " : "", a->cfg->sources.items[i], why);
    }
    rc = agentCandidateChoose(roles, a->urlCount, atomic_load(&a->urlIdx), a->cfg->archiveReplica, &chosen);
    if (rc == 1)
        choose(a, chosen, roleName(roles[chosen]));
    bvFree(roles);
    if (rc < 0)
        return errSet(err, ERR_SOURCE, "%d candidates are writable primaries (%s): archiving neither until one is "
                      "left (a switchover in progress, or a split brain: set read_only=ON on the old primary)",
                      -rc, list);
    if (rc == 0)
        return errSet(err, ERR_SOURCE, "no candidate is a writable primary (%s)%s", list,
                      a->cfg->archiveReplica ? "" : "; add --archive-replica to archive a replica meanwhile");
    return 0;
}
