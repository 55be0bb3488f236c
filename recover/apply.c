/*
 * Applying a plan (recover/internal.h, "Serving and waiting"): the planned segments are verified
 * and served by a replication endpoint, and the target's applier is watched until it reaches the
 * plan's UNTIL position, with progress reported on the way.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "binlog/gtid.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/internal.h"

#define APPLY_DEFAULT_CONNECT_TIMEOUT_MS 60000
#define APPLY_DEFAULT_POLL_MS 250
/* After the stream stopped with an error, how long the applier may go without progress while
 * it applies what it received. */
#define APPLY_DRAIN_STALL_MS 120000

static double
since(const struct timespec *t0) {
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
sleepMs(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int
recoverRunServe(RecoverRun *run, Err *err) {
    const ArchiveCatalog *c = recoverPlanCatalog(run->plan);
    RecoverSourceOptions so = {0};
    ReplServerConfig cfg = {0};
    ReplServerSource iface;

    so.tmpDir = run->o->tmpDir;
    so.replicaServerId = run->link.serverId;
    if (c == NULL) {
        /* A long plan: the source reads its range a block at a time. */
        run->src = recoverSourceNewRange(run->a, recoverPlanRange(run->plan), run->info->firstSeq, run->info->segments,
                                         &so, err);
    } else {
        const SegmentMeta **segs = bvCalloc(run->info->segments, sizeof(*segs));

        for (size_t i = 0; i < run->info->segments; i++)
            segs[i] = archiveCatalogAt(c, run->info->first + i);
        run->src = recoverSourceNew(run->a, segs, run->info->segments, &so, err);
        bvFree((void *)segs);
    }
    if (run->src == NULL)
        return -1;
    if (replServerRandomPassword(run->password, 25, err) != 0)
        return -1;
    iface = recoverSourceInterface(run->src);
    cfg.listenHost = run->host;
    cfg.port = run->o->listenPort;
    cfg.user = RECOVER_APPLY_USER;
    cfg.password = run->password;
    cfg.serverId = run->link.serverId == REPL_SERVER_DEFAULT_ID ? REPL_SERVER_DEFAULT_ID - 1 : REPL_SERVER_DEFAULT_ID;
    if ((run->srv = replServerNew(&cfg, &iface, err)) == NULL)
        return errPrefix(err, "replication endpoint (--listen)");
    return replServerStart(run->srv, err);
}

void
recoverRunProgress(RecoverRun *run, RecoverPhase phase, uint64_t applied, uint64_t bytes, double seconds, double rate,
                   const char *pos) {
    RecoverProgress p = {0};

    run->lastApplied = applied;
    run->lastBytes = bytes;
    run->lastRate = rate;
    if (run->o->progress == NULL)
        return;
    p.phase = phase;
    p.transactions = applied;
    p.transactionsTotal = run->info->transactions;
    p.bytes = bytes;
    p.bytesTotal = run->bytesTotal;
    p.seconds = seconds;
    p.rate = rate;
    p.position = pos;
    run->o->progress(run->o->progressCtx, &p);
}

/* MariaDB position `state` contains `target` (false when either does not parse). */
static bool
reachedText(const char *state, const char *target) {
    bool reached = false;
    Err ignored;

    return gtidStateTextContains(BINLOG_FLAVOUR_MARIADB, state, target, &reached, &ignored) == 0 && reached;
}

int
recoverRunWait(RecoverRun *run, Err *err) {
    unsigned pollMs = run->o->pollMs ? run->o->pollMs : APPLY_DEFAULT_POLL_MS;
    double connectTimeout = (run->o->connectTimeoutMs ? run->o->connectTimeoutMs : APPLY_DEFAULT_CONNECT_TIMEOUT_MS) / 1000.0;
    RecoverRate rate = {0};
    Err pending = {0};
    bool connected = false, draining = false;
    double drainMark = 0;
    uint64_t drainApplied = 0;

    clock_gettime(CLOCK_MONOTONIC, &run->t0);
    run->started = true;
    for (;;) {
        RecoverSlaveRow mine;
        ReplServerStatus ss;
        RecoverSourceStats st;
        uint64_t applied = 0;
        double now;
        char *pos;

        /* Short recoveries are timed closely; long ones are not asked more than needed. */
        sleepMs(since(&run->t0) < 2.0 && pollMs > 50 ? 50 : pollMs);
        if (recoverLinkPoll(&run->link, &mine, &pos, err) != 0)
            return -1;
        now = since(&run->t0);
        replServerStatus(run->srv, &ss);
        recoverSourceStats(run->src, &st);
        gtidStateTextCount(BINLOG_FLAVOUR_MARIADB, run->info->start, pos, &applied, &(Err){0});
        connected = connected || ss.connections > 0;
        recoverRateSample(&rate, now, applied);
        recoverRunProgress(run, connected ? RECOVER_PHASE_APPLYING : RECOVER_PHASE_CONNECTING, applied,
                           recoverPlanBytes(run->plan, mine.execFile, mine.execPos), now, rate.rate, pos);
        if (reachedText(pos, run->info->until)) {
            run->stoppedAt = now;
            bvFree(pos);
            return 0;
        }
        if (run->o->stop != NULL && atomic_load(run->o->stop)) {
            bvFree(pos);
            return errSet(err, ERR_TARGET, "interrupted");
        }
        if (!mine.found) {
            bvFree(pos);
            return errSet(err, ERR_TARGET, "the replication connection '%s' disappeared from '%s' (removed by someone?)",
                          run->link.name, recoverIntoUrl(run->link.t));
        }
        if (mine.sqlErrno != 0 && strcmp(mine.sql, "No") == 0) {
            bvFree(pos);
            return errSet(err, ERR_TARGET, "the replication applier of '%s' stopped with error %u: %s",
                          recoverIntoUrl(run->link.t), mine.sqlErrno, mine.sqlError);
        }
        /* The I/O thread stops by itself once it received everything up to the UNTIL position. */
        if (!draining && strcmp(mine.io, "No") == 0 &&
            (st.failed || mine.ioErrno != 0 || !ss.untilReached || strcmp(mine.sql, "No") == 0)) {
            if (st.failed)
                errSet(&pending, st.failureCode ? st.failureCode : ERR_INTERNAL, "%s", st.failure);
            else if (mine.ioErrno != 0)
                errSet(&pending, ERR_TARGET, "the replication I/O thread of '%s' stopped with error %u: %s",
                       recoverIntoUrl(run->link.t), mine.ioErrno, mine.ioError);
            else
                errSet(&pending, ERR_TARGET,
                       "replication on '%s' was stopped before it reached the target position (STOP SLAVE by someone?)",
                       recoverIntoUrl(run->link.t));
            logWarn("the stream to '%s' stopped: waiting for it to apply the transactions it received",
                    recoverIntoUrl(run->link.t));
            draining = true;
            drainMark = now;
            drainApplied = applied;
        }
        if (draining) {
            /* Let the applier finish what it received: it holds whole transactions only. */
            if (applied != drainApplied) {
                drainApplied = applied;
                drainMark = now;
            }
            if (strcmp(mine.sql, "No") == 0 || reachedText(pos, mine.gtidIoPos) ||
                now - drainMark > APPLY_DRAIN_STALL_MS / 1000.0) {
                run->stoppedAt = now;
                *err = pending;
                bvFree(pos);
                return -1;
            }
        }
        if (!connected && now > connectTimeout) {
            bvFree(pos);
            return errSet(err, ERR_TARGET,
                          "'%s' did not connect to the replication endpoint %s:%u within %.0f s (its replication I/O "
                          "thread says: %s): --listen must be an address of this machine that the target can reach",
                          recoverIntoUrl(run->link.t), run->host, replServerPort(run->srv), connectTimeout,
                          mine.ioError[0] ? mine.ioError : "nothing");
        }
        bvFree(pos);
    }
}


double
recoverRunSeconds(const RecoverRun *run) {
    return since(&run->t0);
}

void
recoverRunStopServing(RecoverRun *run) {
    replServerStop(run->srv);
    replServerFree(run->srv);
    run->srv = NULL;
    recoverSourceFree(run->src);
    run->src = NULL;
}
