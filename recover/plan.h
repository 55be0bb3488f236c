/*
 * Recovery planning (docs/RECOVERY.md), for both flavours: over an ArchiveCatalog (a range that
 * fits a block or two, a forked archive's path), or over a long range of the catalog view read a
 * block at a time (recover/range.h: memory follows the number of blocks, not of segments).
 *
 *  - Where the target is: a GTID state (recoverChooseStart() weighs an explicit start against the
 *    target's own @@gtid_slave_pos), and where it must go (a RecoverTarget: a commit time, a GTID,
 *    a binlog position, or the end of the archive; inclusive, or exclusive).
 *  - recoverPlanNew() picks the segments from the index alone; the exact cut (the last
 *    transaction to apply and the GTID state after it, the UNTIL position) is then found by
 *    feeding the transactions of the segments recoverPlanNextScan() names to recoverPlanFeed():
 *    for a GTID or a position at most two (the one the start falls in and the one the target
 *    falls in); for a time every segment from the start's to the first the index proves holds a
 *    commit after the time, because commit times need not follow binlog order (SET TIMESTAMP, a
 *    clock stepped back) and only the transactions say where the first commit after it is.
 *    recoverPlanFinish() checks the range (continuity, every object present, target not before
 *    the start, start not before the archive, commit times that leave the time target ambiguous)
 *    and counts. The reading itself is recover/resolve.c (recoverPlanResolve()).
 *
 * GTID states are text: MariaDB positions (`0-1-100,1-1-7`, the last GTID of each domain) or
 * MySQL executed sets, compared as GtidStates (binlog/gtid.h).
 *
 * Errors: ERR_USAGE for a target before the start or malformed input, ERR_NOTFOUND for a target
 * outside the archive, ERR_GAP for a range that crosses a gap or a missing object, ERR_FORMAT for
 * a time target that commit times out of binlog order make ambiguous.
 */
#ifndef BV_RECOVER_PLAN_H
#define BV_RECOVER_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/lookup.h"
#include "binlog/txn.h"
#include "common/buf.h"
#include "common/err.h"
#include "recover/range.h"

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

typedef enum RecoverUntilKind {
    RECOVER_UNTIL_NONE = 0,
    RECOVER_UNTIL_TIME,     /* up to the first transaction, in binlog order, committed after timeUs
                             * (exclusive: at or after) */
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
    bool allowTimeDisorder;      /* TIME: plan even when commit times make the cut ambiguous */
} RecoverTarget;

/* A transaction whose commit time is out of binlog order near a time target's cut. */
typedef struct RecoverTimeNote {
    char gtid[BINLOG_TXN_GTID_MAX]; /* "" when the binlog has no GTIDs */
    char file[SEGMENT_FILE_MAX];
    uint64_t pos;                    /* its start (0 when known from the index only) */
    uint64_t timeUs;
    uint64_t priorUs;                /* the latest commit time before it in binlog order (0: n/a) */
    bool afterCut;                   /* not applied, though committed at or before the time */
} RecoverTimeNote;

#define RECOVER_TIME_NOTES 4

typedef struct RecoverPlan RecoverPlan;

/* What a finished plan says. Strings belong to the plan. */
typedef struct RecoverPlanInfo {
    BinlogFlavour flavour;
    const char *start;         /* GTID state the target has */
    const char *until;         /* GTID state after the last transaction to apply: the UNTIL position */
    size_t first, last;        /* indexes of the segments to stream in the plan's range (when segments > 0):
                                  catalog indexes, or seq - the range's first seq */
    uint64_t firstSeq, lastSeq; /* their seqs */
    size_t segments;           /* 0: nothing to apply (the target is already there) */
    uint64_t bytes;            /* object bytes of those segments */
    uint64_t contentBytes;     /* binlog bytes of those segments */
    uint64_t transactions;     /* to apply (gtidStateCount(start, until)) */
    const char *firstGtid;     /* the first transaction to apply ("" when none) */
    uint64_t firstTimeUs;
    const char *firstFile;
    uint64_t firstPos;         /* its start position */
    const char *lastGtid;      /* the last transaction to apply */
    uint64_t lastTimeUs;
    const char *lastFile;
    uint64_t lastEndPos;       /* its end position */
    /* TIME targets: commit times out of binlog order. */
    const char *cutGtid;       /* the first transaction committed after the time ("" when none) */
    uint64_t cutTimeUs;
    uint64_t timeBackwards;    /* applied transactions committed earlier than one before them */
    uint64_t timeAmbiguous;    /* transactions after the cut committed at or before the time */
    size_t notes;              /* the first of each, up to RECOVER_TIME_NOTES */
    const RecoverTimeNote *note;
} RecoverPlanInfo;

/* Step 1, from the index alone: the segment holding the first transaction not in `start` and
 * the one holding the cut. ERR_NOTFOUND for a target outside the archive (after its end, before
 * its first commit, a file or position it does not hold); ERR_FORMAT / ERR_USAGE for malformed
 * GTIDs. The catalog must outlive the plan. */
RecoverPlan *recoverPlanNew(const ArchiveCatalog *c, const char *start, const RecoverTarget *target, Err *err);

/* The same over the seqs of `range` (taken: freed with the plan, or on failure), read a block at
 * a time; range mode. The target's segment is looked for from the block of recoverRangeCut(), a
 * time or position target through the view's lookups (archiveViewFindTime(),
 * archiveViewFindPosition()); every check and message is recoverPlanNew()'s, the breaks from
 * archiveViewGaps(), and recoverPlanFinish() streams the range once (objects stored, sizes). */
RecoverPlan *recoverPlanNewRange(RecoverRange *range, const char *start, const RecoverTarget *target, Err *err);

/* The index of the next segment to read for step 2 (in order; false when no more is
 * needed). Call it again after feeding that segment: what a segment holds decides whether the
 * next one is read (a time target). */
bool recoverPlanNextScan(RecoverPlan *p, size_t *idx);

/* Step 2: feed, in order, every transaction of segment `idx` (the one recoverPlanNextScan()
 * named, recoverPlanSegment()) with the GTID state after it. Returns 0 to go on, 1 when nothing more is needed from this
 * segment, -1 on error (a malformed GTID). */
int recoverPlanFeed(RecoverPlan *p, size_t idx, const BinlogTxn *t, const char *stateAfter, Err *err);

/* Step 3: place the cut (at the end of the target's segment when the feed did not), and check
 * the range: ERR_USAGE when the target is before the start (or not on its history), ERR_NOTFOUND
 * when the start is before the archive, ERR_GAP when the range crosses a gap or a segment whose
 * object is not in the store (after a load with ARCHIVE_LOAD_DISCOVER), ERR_FORMAT for a time
 * target when a transaction after the cut was committed at or before the time (read in the cut's
 * segment or the next one, or a later segment's first or last commit in the index), naming the
 * transactions, unless allowTimeDisorder. */
int recoverPlanFinish(RecoverPlan *p, Err *err);

/* The plan, once finished. */
const RecoverPlanInfo *recoverPlanInfo(const RecoverPlan *p);

/* Where recoverPlanToJson() hands what it wrote so far: write out->data and empty it; -1 on error. */
typedef int (*RecoverJsonFlush)(void *data, Buf *out, Err *err);

/* The plan as a JSON object: start, until, segments (seq, name, size), bytes, transactions,
 * first / last transaction (gtid, time, position); for a time target, time_order (the cut, how
 * many transactions go backwards or are ambiguous, the first of them). The segments are listed as
 * the range streams: with `flush` (may be NULL), `out` is handed over every 64 KiB. -1 when a block
 * cannot be read or flush fails. */
int recoverPlanToJson(const RecoverPlan *p, Buf *out, RecoverJsonFlush flush, void *data, Err *err);

/* The catalog the plan was made from (NULL in range mode), or its range (NULL in catalog mode). */
const ArchiveCatalog *recoverPlanCatalog(const RecoverPlan *p);
RecoverRange *recoverPlanRange(const RecoverPlan *p);

/* A copy of the plan's segment `idx` (an index as in RecoverPlanInfo) into *out (segmentMetaClear()
 * it): 1, 0 when the range has no such seq, -1 when its block cannot be read. */
int recoverPlanSegment(const RecoverPlan *p, size_t idx, SegmentMeta *out, Err *err);

/* A small set of server_ids: the ones a plan's events carry (recoverApplyServerId()). */
typedef struct RecoverServerIds {
    uint32_t *ids; /* bvFree() */
    size_t n;
} RecoverServerIds;

bool recoverServerIdsHas(const RecoverServerIds *s, uint32_t id);
void recoverServerIdsAdd(RecoverServerIds *s, uint32_t id);
/* The server_ids of a MariaDB GTID state's GTIDs (nothing for other text). */
void recoverServerIdsAddState(RecoverServerIds *s, const char *state);
/* Those of a segment's metadata: its server_id, and the servers of its states and GTIDs. */
void recoverServerIdsAddSegment(RecoverServerIds *s, const SegmentMeta *m);

/* Range mode, finished, not a dry run: the server_ids of the plan's segments, gathered while its
 * finish read them (so that nobody reads the range again for them); NULL otherwise. */
const RecoverServerIds *recoverPlanServerIds(const RecoverPlan *p);

/* Range mode: the most block catalogs the plan's range held at once (at most
 * RECOVER_RANGE_BLOCKS, whatever the range's length); 0 in catalog mode. */
size_t recoverPlanBlocksHeld(const RecoverPlan *p);

/* True once recoverPlanFinish() succeeded. */
bool recoverPlanFinished(const RecoverPlan *p);

/* Binlog bytes of a finished plan before file:pos, counted from its first transaction (what the
 * target's applier has done when it is at file:pos; 0 for file ""); with file NULL, all of them
 * (up to the end of its last transaction). Range mode: whole blocks from what recoverPlanFinish()
 * kept of them, and the block holding file:pos read (what is counted so far when it cannot be). */
uint64_t recoverPlanBytes(const RecoverPlan *p, const char *file, uint64_t pos);

void recoverPlanFree(RecoverPlan *p);

/* What the archive can restore, for refusals: one line per window ("seq 1-40: FILE:POS (gtid
 * state X) .. FILE:POS (gtid state Y), commits T1 .. T2 UTC"). */
void recoverDescribeWindows(const ArchiveCatalog *c, Buf *out);
/* The same lines for `n` windows (archiveCatalogWindows(), or an archive's outline). */
void recoverDescribeWindowList(const ArchiveWindow *w, size_t n, Buf *out);

/* ---- Reading segments for the plan (recover/resolve.c) ------------------------------------------ */

/* Steps 2 and 3, reading the segments from the archive through the verifying reader (the whole
 * object is checked when a segment is read to its end; a scan stops as soon as it has what it
 * needs). */
int recoverPlanResolve(RecoverPlan *p, Archive *a, Err *err);

/* What --dry-run does before saying the plan would work: every segment the plan streams is read
 * and verified as applying would (archiveVerifySegments(); in range mode a block at a time), so
 * that a dry run never accepts what applying then refuses. ERR_CHECKSUM naming the first segment
 * that does not verify (and how many do not), `progress` (may be NULL) as archive/verify.h's hook
 * over the whole plan; -1 too when a block chunk cannot be read. */
int recoverPlanVerify(const RecoverPlan *p, Archive *a,
                      void (*progress)(void *data, size_t done, size_t total, uint64_t bytes), void *data, Err *err);

/* Before recoverPlanResolve(): the plan is a dry run's, verified and never applied. Its finish
 * takes the bytes of the blocks it covers whole from their summary lines (no block read: the
 * range's ends and tail are), its recoverPlanToJson() verifies each block as it lists it (one read
 * of each block for both), and recoverPlanVerify() then answers from what that found (or, without
 * the JSON, verifies then). recoverPlanBytes() of such a plan reads its range. */
void recoverPlanDryRun(RecoverPlan *p, Archive *a,
                       void (*progress)(void *data, size_t done, size_t total, uint64_t bytes), void *data);

/* The GTID state at file:pos: the state after every transaction that ends at or before pos
 * (read from the segment holding pos). For --from-position. */
int recoverStateAtPosition(Archive *a, const ArchiveCatalog *c, const char *file, uint64_t pos, char **state,
                           Err *err);

#endif
