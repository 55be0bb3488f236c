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

typedef enum CandidateRole { ROLE_DOWN = 0, ROLE_PRIMARY, ROLE_READ_ONLY, ROLE_REPLICA } CandidateRole;

static const char *
roleName(CandidateRole r) {
    switch (r) {
    case ROLE_PRIMARY: return "the writable primary";
    case ROLE_READ_ONLY: return "read-only";
    case ROLE_REPLICA: return "a replica";
    default: return "unreachable";
    }
}

/* What candidate i is now; why (for the log) when it cannot be asked. */
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
        return ROLE_DOWN;
    }
    binlogParseServerVersion(sqlConnServerVersion(c), &flavour, &major, &minor, &patch);
    if (sqlSourceInfoRead(c, flavour, (unsigned)(major * 10000 + minor * 100 + patch), &info, &err) != 0) {
        snprintf(why, whySize, "%.*s", (int)(whySize > 0 ? whySize - 1 : 0), err.msg);
        sqlConnFree(c);
        return ROLE_DOWN;
    }
    sqlConnFree(c);
    /* Without SLAVE MONITOR a replica cannot be told from a primary but by read_only. */
    if (info.replicaKnown && info.isReplica)
        role = ROLE_REPLICA;
    else
        role = info.readOnly ? ROLE_READ_ONLY : ROLE_PRIMARY;
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
    size_t primary = SIZE_MAX, other = SIZE_MAX, primaries = 0, current = atomic_load(&a->urlIdx);
    char why[512], list[2048] = "", otherWhy[512] = "";

    if (a->urlCount == 1) {
        choose(a, 0, "the one --source");
        return 0;
    }
    for (size_t i = 0; i < a->urlCount; i++) {
        CandidateRole role = probe(a, i, why, sizeof(why));
        size_t n = strlen(list);

        snprintf(list + n, sizeof(list) - n, "%s'%s': %s", n ? "; " : "", a->cfg->sources.items[i], why);
        if (role == ROLE_PRIMARY) {
            primaries++;
            if (primary == SIZE_MAX)
                primary = i;
        } else if (role != ROLE_DOWN && (other == SIZE_MAX || i == current)) {
            other = i;
            snprintf(otherWhy, sizeof(otherWhy), "%s", why);
        }
    }
    if (primaries > 1)
        return errSet(err, ERR_SOURCE, "%zu candidates are writable primaries (%s): archiving neither until one is "
                      "left (a switchover in progress, or a split brain: set read_only=ON on the old primary)",
                      primaries, list);
    if (primaries == 1) {
        choose(a, primary, "the writable primary");
        return 0;
    }
    if (a->cfg->archiveReplica && other != SIZE_MAX) {
        choose(a, other, otherWhy);
        return 0;
    }
    return errSet(err, ERR_SOURCE, "no candidate is a writable primary (%s)%s", list,
                  a->cfg->archiveReplica ? "" : "; add --archive-replica to archive a replica meanwhile");
}
