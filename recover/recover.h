/*
 * Point-in-time recovery: plan from the archive's index, then apply through the target server's
 * own replication applier (docs/RECOVERY.md). The public API of recover/, one header per job:
 *
 *  - recover/backup_info.h: where a base backup leaves the binlog (the usual start);
 *  - recover/plan.h: planning, pure code over the catalog (start, segments, the cut);
 *  - recover/target.h: the target server, reached over SQL;
 *  - this header: applying a plan to the target, recoverApply(), which serves the planned
 *    segments over the replication protocol (recover/source.h, recover/replserver.h) and drives
 *    the target: gtid_slave_pos, CHANGE MASTER on a dedicated connection name, START SLAVE UNTIL
 *    master_gtid_pos, wait, clean up. How: recover/recover.c ties together recover/apply.c
 *    (serving and waiting) and recover/target.c (every statement sent to the target), which share
 *    recover/internal.h.
 *
 * Planning works for both flavours; applying needs a MariaDB target and a MariaDB archive (the
 * replication endpoint speaks MariaDB's protocol).
 *
 * Errors: ERR_USAGE for a target before the start or malformed input, ERR_NOTFOUND for a target
 * outside the archive, ERR_GAP for a range that crosses a gap or a missing object, ERR_TARGET /
 * ERR_AUTH for the target server, ERR_CLEANUP when the settings a recovery made on the target could
 * not be undone (RecoverResult.cleanup says what to run), and whatever reading a segment gives
 * (ERR_CHECKSUM, ...).
 */
#ifndef BV_RECOVER_RECOVER_H
#define BV_RECOVER_RECOVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/backup.h"
#include "archive/catalog.h"
#include "binlog/txn.h"
#include "common/buf.h"
#include "mysql/client.h"
#include "common/err.h"
#include "recover/backup_info.h"
#include "recover/plan.h"
#include "recover/progress.h"
#include "recover/target.h"

typedef void (*RecoverProgressFn)(void *ctx, const RecoverProgress *p);

/* Most threads --parallel gives the target's applier (the server's own limit is 16383). */
#define RECOVER_PARALLEL_MAX 256

typedef struct RecoverApplyOptions {
    const char *listenHost;     /* the endpoint's address, as the target reaches it; NULL = 127.0.0.1 */
    uint16_t listenPort;        /* 0 = a free port */
    const char *connectionName; /* the target's replication connection; NULL = "binvault" */
    const char *tmpDir;         /* verified segments are spooled here; NULL = $TMPDIR or /tmp */
    unsigned connectTimeoutMs;  /* the target must reach the endpoint within this; 0 = 60 s */
    unsigned pollMs;            /* how often the target is asked how far it is; 0 = 250 ms */
    unsigned parallel;          /* 0: the target's applier as configured; N (to RECOVER_PARALLEL_MAX): its
                                   parallel applier, slave_parallel_threads = N and the connection's
                                   slave_parallel_mode = optimistic, restored after */
    RecoverProgressFn progress; /* called after each poll; may be NULL */
    void *progressCtx;
    atomic_bool *stop;          /* set from a signal handler to stop (the target is cleaned up and
                                   the error says how far it got); may be NULL */
} RecoverApplyOptions;

typedef struct RecoverResult {
    char *startPos;        /* the target's gtid_slave_pos before (allocated) */
    char *finalPos;        /* after: how far the target got (allocated; NULL when unknown) */
    uint64_t transactions; /* applied */
    uint64_t bytes;        /* binlog bytes applied (as far as the target's applier position tells) */
    double seconds;        /* from START SLAVE to the target's stop */
    bool reached;          /* the target reached the plan's UNTIL position */
    uint32_t serverIdUsed; /* the target's @@server_id while applying (its own unless changed) */
    char cleanup[512];     /* when cleaning up the target failed: what to run by hand */
} RecoverResult;

/*
 * Apply the plan to the target: verify and stream the planned segments through a replication
 * endpoint, set @@gtid_slave_pos to the plan's start, and, on the connection name, CHANGE MASTER
 * ... MASTER_USE_GTID=slave_pos and START SLAVE UNTIL master_gtid_pos = the plan's until. When
 * the target's @@server_id is one the archived events carry (a server restored from a backup
 * keeps the source's), the replica would skip those events as its own: @@server_id is changed
 * for the duration and restored; so is @@slave_parallel_threads with o->parallel. Waits until the
 * target reaches the position, stops, fails or `stop` is set; then stops the connection, removes
 * it (RESET SLAVE ... ALL) and restores what it changed. The result (filled in every case) says how far the target got; an error names
 * what failed (a segment that did not verify, the target's applier error, ...) and that
 * position. When the cleanup failed (r->cleanup holds the statements to run by hand), the code is
 * ERR_CLEANUP, also after a recovery that reached its position.
 */
int recoverApply(RecoverInto *t, Archive *a, const RecoverPlan *plan, const RecoverApplyOptions *o, RecoverResult *r,
                 Err *err);

/* The @@server_id the target applies the plan with: its own, unless the planned events carry it
 * (a server restored from a backup keeps the source's): then one just below
 * 4294967280 that they do not carry. */
uint32_t recoverApplyServerId(const RecoverInto *t, Archive *a, const RecoverPlan *plan);

void recoverResultClear(RecoverResult *r);

#endif
