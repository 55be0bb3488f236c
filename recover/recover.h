/*
 * Point-in-time recovery: plan from the archive's index, then apply through the target server's
 * own replication applier (docs/RECOVERY.md).
 *
 *  - Inputs: where the target is (a GTID state: from a base backup's binlog info file, a GTID
 *    given by the user, a binlog position resolved through the archive, or the target's own
 *    @@gtid_slave_pos when a recovery continues), and where it must go (a commit time, a GTID,
 *    a binlog position, or the end of the archive; inclusive, or --exclusive).
 *  - Planning: pure code over an ArchiveCatalog. recoverPlanNew() picks the segments from the
 *    index alone; the exact cut (the last transaction to apply and the GTID state after it, the
 *    UNTIL position) is then found by feeding the transactions of at most two segments (the one
 *    the start falls in and the one the target falls in) to recoverPlanFeed();
 *    recoverPlanFinish() checks the range (continuity, every object present, target not before
 *    the start, start not before the archive) and counts. recoverPlanResolve() does the reading.
 *  - Applying: recoverApply() serves the planned segments over the replication protocol
 *    (recover/source.h, recover/replserver.h) and drives the target: gtid_slave_pos, CHANGE
 *    MASTER on a dedicated connection name, START SLAVE UNTIL master_gtid_pos, wait, clean up.
 *
 * GTID states are text: MariaDB positions (`0-1-100,1-1-7`, the last GTID of each domain) or
 * MySQL executed sets. Planning works for both flavours; applying needs a MariaDB target and a
 * MariaDB archive (the replication endpoint speaks MariaDB's protocol).
 *
 * Errors: ERR_USAGE for a target before the start or malformed input, ERR_NOTFOUND for a target
 * outside the archive, ERR_GAP for a range that crosses a gap or a missing object, ERR_TARGET /
 * ERR_AUTH for the target server, and whatever reading a segment gives (ERR_CHECKSUM, ...).
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
#include "mysql/client.h"
#include "binlog/txn.h"
#include "common/buf.h"
#include "common/err.h"
#include "recover/progress.h"

/* ---- Times and positions ---------------------------------------------------------------------- */

typedef enum RecoverTzKind { RECOVER_TZ_UTC = 0, RECOVER_TZ_OFFSET, RECOVER_TZ_NAMED } RecoverTzKind;

/* The time zone in which the user's times are read and printed. */
typedef struct RecoverTz {
    RecoverTzKind kind;
    int offsetSeconds; /* OFFSET: east of UTC */
    char name[128];    /* NAMED: a zone of the tz database, e.g. Europe/Paris; the text otherwise */
} RecoverTz;

/* Parse "UTC" (or NULL / "" / "Z"), a fixed offset "+02:00" / "-0530", or a tz database name
 * ("Europe/Paris", which must exist under $TZDIR or /usr/share/zoneinfo). ERR_USAGE otherwise. */
int recoverTzParse(const char *text, RecoverTz *tz, Err *err);

/* Parse 'YYYY-MM-DD HH:MM:SS[.ffffff]' (a 'T' between date and time is accepted) in zone tz into
 * microseconds since the epoch. A local time that a DST change makes ambiguous or skips is resolved
 * as mktime(3) does. Named zones switch the process's TZ for the call: not thread-safe, call before
 * starting threads. ERR_USAGE naming the expected form. */
int recoverTimeParse(const char *text, const RecoverTz *tz, uint64_t *us, Err *err);

/* "YYYY-MM-DD HH:MM:SS" (with ".ffffff" when micro) in zone tz. Same thread caveat. */
void recoverTimeFormat(uint64_t us, const RecoverTz *tz, bool micro, char *out, size_t size);

/* Parse FILE:POS (a valid binlog file name, POS decimal). ERR_USAGE. */
int recoverPositionParse(const char *text, char *file, size_t fileSize, uint64_t *pos, Err *err);

/* ---- Base backups -------------------------------------------------------------------------- */

/* What a prepared mariadb-backup / xtrabackup directory says about the binlog at the backup:
 * `xtrabackup_binlog_info` (what mariadb-backup 10.11 writes, e.g. `binlog.000015<TAB>38395403
 * <TAB>0-1-360`) or `mariadb_backup_binlog_info` (later versions), parsed with
 * archiveBasePointParse(); when both exist they must agree. `xtrabackup_binlog_pos_innodb` is
 * never used (InnoDB's view only, wrong for other engines). *bp is freed with
 * archiveBasePointClear(); *source names the file read. ERR_NOTFOUND (naming both files) when
 * neither exists, ERR_CONFIG when they disagree, ERR_FORMAT for a malformed file. */
int recoverBaseDirRead(const char *dir, ArchiveBasePoint *bp, const char **source, Err *err);

/* ---- GTID states ---------------------------------------------------------------------------- */

/* Transactions in state `to` that are not in state `from`: MariaDB, the sum over the domains of
 * to's seq minus from's (0 for a domain absent from from; nothing when from is ahead); MySQL, the
 * size of the set difference. */
int recoverGtidCount(BinlogFlavour flavour, const char *from, const char *to, uint64_t *count, Err *err);

/* Where a recovery starts: the explicit start (a base backup, --from-gtid, a resolved
 * --from-position; NULL when none), the target's current @@gtid_slave_pos and the GTID state at
 * the archive's end. Without an explicit start the target's position is taken (a recovery that
 * continues an earlier one; an empty position is refused: ERR_USAGE asking for --base-dir).
 * With one, the target's position is replaced by it (a restored server's gtid_slave_pos is
 * empty, or stale), except when it is past the start along the archived history (it contains the
 * start, differs from it, and the archive's end contains it): an earlier run applied up to there,
 * and starting over would apply those transactions twice; that is refused (ERR_USAGE saying how
 * to continue or start over). *start is allocated; *why (static text) says which was chosen. */
int recoverChooseStart(BinlogFlavour flavour, const char *explicitStart, const char *targetPos, const char *archiveEnd,
                       char **start, const char **why, Err *err);

/* ---- Planning ---------------------------------------------------------------------------------- */

typedef enum RecoverUntilKind {
    RECOVER_UNTIL_NONE = 0,
    RECOVER_UNTIL_TIME,     /* every transaction committed at or before timeUs (exclusive: before) */
    RECOVER_UNTIL_GTID,     /* through the transaction of each GTID (exclusive: up to the first) */
    RECOVER_UNTIL_POSITION, /* transactions that end at or before file:pos (exclusive: before pos) */
    RECOVER_UNTIL_END,      /* everything the archive holds */
} RecoverUntilKind;

typedef struct RecoverTarget {
    RecoverUntilKind kind;
    bool exclusive;
    uint64_t timeUs;             /* TIME: microseconds since the epoch */
    const char *gtid;            /* GTID: a MariaDB GTID or position (d-s-n,...) or a MySQL set */
    char file[SEGMENT_FILE_MAX]; /* POSITION */
    uint64_t pos;
} RecoverTarget;

typedef struct RecoverPlan RecoverPlan;

/* What a finished plan says. Strings belong to the plan. */
typedef struct RecoverPlanInfo {
    BinlogFlavour flavour;
    const char *start;         /* GTID state the target has */
    const char *until;         /* GTID state after the last transaction to apply: the UNTIL position */
    size_t first, last;        /* catalog indexes of the segments to stream (when segments > 0) */
    size_t segments;           /* 0: nothing to apply (the target is already there) */
    uint64_t bytes;            /* object bytes of those segments */
    uint64_t contentBytes;     /* binlog bytes of those segments */
    uint64_t transactions;     /* to apply (recoverGtidCount(start, until)) */
    const char *firstGtid;     /* the first transaction to apply ("" when none) */
    uint64_t firstTimeUs;
    const char *firstFile;
    uint64_t firstPos;         /* its start position */
    const char *lastGtid;      /* the last transaction to apply */
    uint64_t lastTimeUs;
    const char *lastFile;
    uint64_t lastEndPos;       /* its end position */
} RecoverPlanInfo;

/* Step 1, from the index alone: the segment holding the first transaction not in `start` and
 * the one holding the cut. ERR_NOTFOUND for a target outside the archive (after its end, before
 * its first commit, a file or position it does not hold); ERR_FORMAT / ERR_USAGE for malformed
 * GTIDs. The catalog must outlive the plan. */
RecoverPlan *recoverPlanNew(const ArchiveCatalog *c, const char *start, const RecoverTarget *target, Err *err);

/* The catalog indexes of the segments to read for step 2 (0 to 2 of them, in order). */
size_t recoverPlanScans(const RecoverPlan *p, size_t out[2]);

/* Step 2: feed, in order, every transaction of segment `idx` (one recoverPlanScans() named) with
 * the GTID state after it. Returns 0 to go on, 1 when nothing more is needed from this segment,
 * -1 on error (a malformed GTID). */
int recoverPlanFeed(RecoverPlan *p, size_t idx, const BinlogTxn *t, const char *stateAfter, Err *err);

/* Step 3: place the cut (at the end of the target's segment when the feed did not), and check
 * the range: ERR_USAGE when the target is before the start (or not on its history), ERR_NOTFOUND
 * when the start is before the archive, ERR_GAP when the range crosses a gap or a segment whose
 * object is not in the store (after a load with ARCHIVE_LOAD_DISCOVER). */
int recoverPlanFinish(RecoverPlan *p, Err *err);

/* Steps 2 and 3, reading the segments from the archive through the verifying reader (the whole
 * object is checked when a segment is read to its end; a scan stops as soon as it has what it
 * needs). */
int recoverPlanResolve(RecoverPlan *p, Archive *a, Err *err);

/* The plan, once finished. */
const RecoverPlanInfo *recoverPlanInfo(const RecoverPlan *p);

/* The plan as a JSON object: start, until, segments (seq, name, size), bytes, transactions,
 * first / last transaction (gtid, time, position). */
void recoverPlanToJson(const RecoverPlan *p, Buf *out);

void recoverPlanFree(RecoverPlan *p);

/* The GTID state at file:pos: the state after every transaction that ends at or before pos
 * (read from the segment holding pos). For --from-position. */
int recoverStateAtPosition(Archive *a, const ArchiveCatalog *c, const char *file, uint64_t pos, char **state,
                           Err *err);

/* What the archive can restore, for refusals: one line per window ("seq 1-40: FILE:POS (gtid
 * state X) .. FILE:POS (gtid state Y), commits T1 .. T2 UTC"). */
void recoverDescribeWindows(const ArchiveCatalog *c, Buf *out);

/* ---- Applying ---------------------------------------------------------------------------------- */

typedef struct RecoverInto RecoverInto;

/* Connect to the target (opts->failCode is forced to ERR_TARGET) and read what recovery needs:
 * version, @@server_id, @@gtid_slave_pos. A MySQL server is refused (ERR_TARGET): binvault
 * applies through a MariaDB replica. A refused login is ERR_AUTH naming opts->passwordFrom. */
RecoverInto *recoverIntoConnect(const SqlConnOpts *opts, Err *err);
const char *recoverIntoUrl(const RecoverInto *t);
const char *recoverIntoVersion(const RecoverInto *t);
uint32_t recoverIntoServerId(const RecoverInto *t);
/* @@gtid_slave_pos when connecting ("" when empty, as on a server restored from a backup). */
const char *recoverIntoGtidSlavePos(const RecoverInto *t);
void recoverIntoFree(RecoverInto *t);

typedef void (*RecoverProgressFn)(void *ctx, const RecoverProgress *p);

typedef struct RecoverApplyOptions {
    const char *listenHost;     /* the endpoint's address, as the target reaches it; NULL = 127.0.0.1 */
    uint16_t listenPort;        /* 0 = a free port */
    const char *connectionName; /* the target's replication connection; NULL = "binvault" */
    const char *tmpDir;         /* verified segments are spooled here; NULL = $TMPDIR or /tmp */
    unsigned connectTimeoutMs;  /* the target must reach the endpoint within this; 0 = 60 s */
    unsigned pollMs;            /* how often the target is asked how far it is; 0 = 250 ms */
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
 * for the duration and restored. Waits until the target reaches the position, stops, fails or
 * `stop` is set; then stops the connection, removes it (RESET SLAVE ... ALL) and restores what
 * it changed. The result (filled in every case) says how far the target got; an error names
 * what failed (a segment that did not verify, the target's applier error, ...) and that
 * position.
 */
int recoverApply(RecoverInto *t, Archive *a, const RecoverPlan *plan, const RecoverApplyOptions *o, RecoverResult *r,
                 Err *err);

void recoverResultClear(RecoverResult *r);

#endif
