/*
 * Applying a plan to the target (recover/recover.h): the entry point that ties the plan, the
 * target (recover/target.c) and the replication endpoint (recover/apply.c) together, and makes
 * sure the target is cleaned up whatever happens.
 *
 * Why the target's own replication applier: it applies binlog events as events (row images,
 * no re-parsing of SQL text), in one server-side thread, with the GTIDs preserved in
 * gtid_slave_pos, several times faster than piping mariadb-binlog into a client
 * (docs/BENCHMARKS.md), and it stops exactly at START SLAVE UNTIL master_gtid_pos.
 */
#include "recover/recover.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/continuity.h"
#include "binlog/gtid.h"
#include "archive/identity.h"
#include "archive/lookup.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/internal.h"

void
recoverResultClear(RecoverResult *r) {
    bvFree(r->startPos);
    bvFree(r->finalPos);
    r->startPos = r->finalPos = NULL;
}

/* The server_ids the planned events carry, as far as the index and the identity tell: the
 * target must not use one of them while it applies (a replica skips events of its own id). The
 * source checks every event too (RecoverSourceOptions.replicaServerId). */
uint32_t
recoverApplyServerId(const RecoverInto *t, Archive *a, const RecoverPlan *plan) {
    const RecoverPlanInfo *info = recoverPlanInfo(plan);
    const RecoverServerIds *planned = recoverPlanServerIds(plan);
    RecoverServerIds ids = {0};
    ArchiveIdentity id;
    SegmentMeta m = {0};
    uint32_t pick;
    Err ignored;

    if (info->segments == 0)
        return recoverIntoServerId(t);
    if (archiveIdentityRead(a, &id, &ignored) == 0)
        recoverServerIdsAdd(&ids, id.serverId);
    recoverServerIdsAddState(&ids, info->start);
    recoverServerIdsAddState(&ids, info->until);
    /* Gathered by the plan's finish (a long plan), or streamed; a block that cannot be read now
     * fails the recovery when its segments are fetched, and each event is checked then. */
    for (size_t i = 0; planned != NULL && i < planned->n; i++)
        recoverServerIdsAdd(&ids, planned->ids[i]);
    for (size_t i = info->first; planned == NULL && i <= info->last; i++) {
        int got = recoverPlanSegment(plan, i, &m, &ignored);

        if (got < 0)
            break;
        if (got == 1)
            recoverServerIdsAddSegment(&ids, &m);
    }
    segmentMetaClear(&m);
    pick = recoverIntoServerId(t);
    if (recoverServerIdsHas(&ids, pick)) {
        pick = RECOVER_TEMP_SERVER_ID;
        while (recoverServerIdsHas(&ids, pick) || pick == REPL_SERVER_DEFAULT_ID)
            pick--;
    }
    bvFree(ids.ids);
    return pick;
}

static bool
nameValid(const char *name) {
    size_t n = strlen(name);

    if (n == 0 || n > RECOVER_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}

int
recoverApply(RecoverInto *t, Archive *a, const RecoverPlan *plan, const RecoverApplyOptions *o, RecoverResult *r,
             Err *err) {
    const RecoverPlanInfo *info = recoverPlanInfo(plan);
    RecoverRun run = {0};
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->startPos = bvStrdup(recoverIntoGtidSlavePos(t));
    r->serverIdUsed = recoverIntoServerId(t);
    run.a = a;
    run.plan = plan;
    run.info = info;
    run.o = o;
    run.host = o->listenHost ? o->listenHost : "127.0.0.1";
    run.link.t = t;
    run.link.name = o->connectionName ? o->connectionName : "binvault";
    run.link.password = run.password;
    run.link.parallel = o->parallel;
    if (!recoverPlanFinished(plan))
        return errSet(err, ERR_INTERNAL, "recovery applied before its plan was finished");
    if (info->flavour != BINLOG_FLAVOUR_MARIADB)
        return errSet(err, ERR_USAGE,
                      "the archive holds MySQL binlogs: binvault recover applies through a MariaDB replica; write the "
                      "range out with 'binvault fetch' and apply it with mysqlbinlog");
    if (info->segments == 0) {
        r->finalPos = bvStrdup(recoverIntoGtidSlavePos(t));
        r->reached = true;
        return 0;
    }
    if (o->parallel > RECOVER_PARALLEL_MAX)
        return errSet(err, ERR_USAGE, "invalid --parallel %u: at most %d threads (0: the target's applier as it is)",
                      o->parallel, RECOVER_PARALLEL_MAX);
    if (!nameValid(run.link.name))
        return errSet(err, ERR_USAGE, "invalid connection name '%s': 1 to %d letters, digits or '_'", run.link.name,
                      RECOVER_NAME_MAX);
    if (strcmp(run.host, "0.0.0.0") == 0 || strcmp(run.host, "::") == 0)
        return errSet(err, ERR_USAGE,
                      "--listen '%s' is a wildcard: give the address of this machine that the target connects to",
                      run.host);
    if (recoverIntoRefresh(t, err) != 0)
        return -1;
    run.link.origPos = bvStrdup(recoverIntoGtidSlavePos(t));
    run.bytesTotal = recoverPlanBytes(plan, NULL, 0);
    run.link.serverId = recoverApplyServerId(t, a, plan);
    r->serverIdUsed = run.link.serverId;
    if (recoverLinkPreflight(&run.link, err) == 0 && recoverRunServe(&run, err) == 0 &&
        recoverLinkStart(&run.link, run.host, replServerPort(run.srv), info->start, info->until, err) == 0)
        rc = recoverRunWait(&run, err);
    if (run.started)
        r->seconds = run.stoppedAt > 0 ? run.stoppedAt : recoverRunSeconds(&run);
    if (o->progress != NULL && run.started)
        recoverRunProgress(&run, RECOVER_PHASE_FINISHING, run.lastApplied, run.lastBytes, r->seconds, run.lastRate, "");
    recoverLinkCleanup(&run.link, info->start, &r->finalPos, r->cleanup, sizeof(r->cleanup));
    recoverRunStopServing(&run);
    if (r->cleanup[0] != '\0')
        logError("the recovery could not undo its settings on '%s': run %s", recoverIntoUrl(t), r->cleanup);
    if (r->finalPos != NULL) {
        bool reached = false;

        gtidStateTextCount(BINLOG_FLAVOUR_MARIADB, info->start, r->finalPos, &r->transactions, &(Err){0});
        r->reached = gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, r->finalPos, info->until, &reached, &(Err){0}) == 0 &&
                     reached;
    }
    r->bytes = r->reached ? run.bytesTotal : run.lastBytes;
    if (rc == 0 && !r->reached)
        rc = errSet(err, ERR_TARGET, "the target stopped before its target position '%s'", info->until);
    /* Settings left on the target (a replication connection, a server_id) must be seen to, even
     * after a recovery that reached its target: its own code, and the statements. */
    if (r->cleanup[0] != '\0' && rc == 0)
        rc = errSet(err, ERR_CLEANUP, "'%s' reached the target position, but binvault could not undo its settings there",
                    recoverIntoUrl(t));
    else if (r->cleanup[0] != '\0')
        err->code = ERR_CLEANUP;
    if (rc != 0) {
        if (r->finalPos != NULL)
            errAppend(err, "; '%s' stopped at gtid_slave_pos '%s' (%" PRIu64 " of %" PRIu64 " transactions applied)",
                      recoverIntoUrl(t), r->finalPos, r->transactions, info->transactions);
        else
            errAppend(err, "; how far '%s' got is unknown: see SELECT @@gtid_slave_pos there", recoverIntoUrl(t));
    }
    memset(run.password, 0, sizeof(run.password));
    recoverLinkClear(&run.link);
    return rc;
}
