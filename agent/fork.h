/*
 * The fork point of a new timeline (docs/FORMAT.md "Timeline records"): which of the archive's
 * transactions the new source's history also holds, and which are a diverged branch (committed
 * on the old source after the fork, never received by the new one). Pure code: the agent feeds
 * it the new source's GTID history and the archived transactions, oldest first, from a segment
 * whose start the new source holds; agent/failover.c does the I/O.
 *
 * The history is what the new source's binlogs hold, by GTID:
 *   MariaDB: @@gtid_binlog_state, the last seq of every (domain, server id) pair it logged
 *            ("0-1-269,0-2-300"). Transaction d-s-n is in it when the pair (d, s) is there with a
 *            seq >= n: under gtid_strict_mode a domain's seqs only grow, so a server's GTIDs in a
 *            domain are in its history up to the last one logged. Unlike @@gtid_binlog_pos (one
 *            GTID per domain, whatever the server), this tells the old primary's 0-1-276 from
 *            the new primary's 0-2-280.
 *   MySQL:   @@gtid_executed; a transaction is in it when its GTID is (GTID_SUBSET()).
 */
#ifndef BV_AGENT_FORK_H
#define BV_AGENT_FORK_H

#include <stdbool.h>
#include <stdint.h>

#include "binlog/event.h"
#include "binlog/txn.h"
#include "common/err.h"

typedef struct ForkHistory ForkHistory;

/* Parse the new source's history (text as above; "" = an empty history). ERR_FORMAT (the text
 * quoted) when it is not one; ERR_LIMIT for more than 65536 MariaDB entries. */
ForkHistory *forkHistoryNew(BinlogFlavour flavour, const char *state, Err *err);

/* Whether the transaction with this GTID ("0-1-42", "uuid:7", "uuid:tag:7") is in the history.
 * A GTID that does not parse is in no history. */
bool forkHistoryHasGtid(const ForkHistory *h, const char *gtid);

/* Whether every transaction up to a GTID state of the archive (MariaDB "0-1-269,1-2-7": each
 * domain's last GTID, server ids included; MySQL a set) is in the history; "" always is. */
int forkHistoryHasState(const ForkHistory *h, const char *state, bool *has, Err *err);

void forkHistoryFree(ForkHistory *h);

/* The result of a scan: the fork point and the diverged branch after it. */
typedef struct ForkPoint {
    bool found;            /* some archived transaction (or the scan's start state) is in the history */
    uint64_t seq;          /* the segment holding the fork's transaction (or the one before the scan's start) */
    char file[256];        /* the old source's binlog file and the end of that transaction in it */
    uint64_t pos;
    char *gtidState;       /* the GTID state after it (allocated; "" when none) */
    char gtid[BINLOG_TXN_GTID_MAX]; /* the fork's transaction: its GTID, commit time, and its rank in */
    uint64_t timeUs;                /* segment `seq` (the segment's transactions up to it, itself */
    uint64_t inSegment;             /* included); 0 while no transaction was scanned */
    uint64_t transactions; /* diverged transactions after the fork */
    uint64_t firstSeq, lastSeq; /* the segments holding them */
    char firstGtid[BINLOG_TXN_GTID_MAX], lastGtid[BINLOG_TXN_GTID_MAX];
    uint64_t firstTimeUs, lastTimeUs; /* their commit times, lowest and highest */
    uint64_t scanSeq, scanCount;      /* the scan's current segment and its transactions so far */
} ForkPoint;

/* Start a scan at the end of segment `seq` (file:pos, GTID state `state`), which the caller
 * checked the history holds (forkHistoryHasState()). */
void forkPointStart(ForkPoint *p, uint64_t seq, const char *file, uint64_t pos, const char *state);

/* The next archived transaction, in stream order: `seq` and `file` of its segment, `stateAfter`
 * the GTID state after it. Until a transaction is not in the history it moves the fork; from
 * then on every transaction counts as diverged (one the history holds after a diverged one is
 * diverged too: the fork stays at the first break). */
void forkPointAdd(ForkPoint *p, const ForkHistory *h, uint64_t seq, const char *file, const BinlogTxn *t,
                  const char *stateAfter);

/* "3 transactions committed on the old source were lost in the failover: 0-1-270..0-1-272
 * (committed 14:03:07..14:03:09 UTC)", or "no transaction was lost". */
void forkPointDescribe(const ForkPoint *p, char *out, size_t size);

void forkPointClear(ForkPoint *p);

#endif
