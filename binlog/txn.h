/*
 * Transaction framing: groups the events of a binlog into transactions (GTID ... XID / COMMIT /
 * XA PREPARE, a standalone DDL or statement, or BEGIN ... COMMIT without GTIDs), with positions,
 * GTID, commit time, tables and statement text, and keeps the GTID state (MariaDB position or
 * MySQL executed set) after each transaction. Later stages cut segments only at the boundaries
 * found here. Pure code; memory is bounded whatever the transaction size.
 */
#ifndef BV_BINLOG_TXN_H
#define BV_BINLOG_TXN_H

#include "binlog/event.h"

#define BINLOG_TXN_GTID_MAX 112
#define BINLOG_TXN_TABLES_MAX 1024

typedef enum BinlogTxnKind {
    BINLOG_TXN_KIND_TRANSACTION = 0, /* BEGIN/GTID ... XID or COMMIT */
    BINLOG_TXN_KIND_STATEMENT,       /* standalone statement: DDL or non-transactional */
    BINLOG_TXN_KIND_XA_PREPARE,      /* ends with XA PREPARE; its commit is a later transaction */
    BINLOG_TXN_KIND_ROLLBACK,        /* ends with ROLLBACK (non-transactional changes kept) */
} BinlogTxnKind;

typedef struct BinlogTxn {
    uint64_t startPos;  /* offset of its first event */
    uint64_t endPos;    /* offset after its last event */
    BinlogFlavour flavour;
    char gtid[BINLOG_TXN_GTID_MAX]; /* "0-1-42", "uuid:7", "uuid:tag:7"; "" when the binlog has none */
    uint64_t commitTimeUs; /* microseconds since the epoch */
    uint32_t events;
    BinlogTxnKind kind;
    bool ddl;
    bool incomplete; /* cut off by the end of its file, a rotation or a new GTID */
    char tables[BINLOG_TXN_TABLES_MAX]; /* "db.t1,db.t2" (",..." when more did not fit) */
    const char *statement; /* statement text where the binlog has it, at most maxText bytes */
} BinlogTxn;

/* Push results. */
#define BINLOG_TXN_OUTSIDE 0 /* the event belongs to no transaction (FDE, ROTATE, GTID_LIST, ...) */
#define BINLOG_TXN_INSIDE 1  /* the event is part of the open transaction */
#define BINLOG_TXN_END 2     /* the event ends a transaction: binlogTxnFramerDone() */
#define BINLOG_TXN_ABORTED 0x10 /* flag: an unfinished transaction was closed before this event
                                 * (binlogTxnFramerAborted()) */

typedef struct BinlogTxnFramer BinlogTxnFramer;

/* maxText bounds the statement text kept per transaction. */
BinlogTxnFramer *binlogTxnFramerNew(size_t maxText);

/* The transactions' tables are not collected (BinlogTxn.tables stays ""), for a caller that needs
 * only their bounds and GTIDs (the agent's segmenter: listing the tables of every row event was
 * ~1.5% of its CPU on small events). Table maps are still decoded: one that cannot be fails the
 * push as before. */
void binlogTxnFramerSkipTables(BinlogTxnFramer *f);

/* Feed the next event (at file offset `offset`) under the format fmt. Returns the
 * BINLOG_TXN_* result (maybe with BINLOG_TXN_ABORTED), or -1 on an event that cannot be
 * decoded. */
int binlogTxnFramerPush(BinlogTxnFramer *f, const BinlogFormat *fmt, const BinlogEvent *ev, uint64_t offset,
                        Err *err);

/* Close an open transaction at the end of input: returns true and binlogTxnFramerAborted() when
 * there was one. */
bool binlogTxnFramerFinish(BinlogTxnFramer *f);

bool binlogTxnFramerInTxn(const BinlogTxnFramer *f);
/* The last transaction ended, and the last one closed unfinished: valid until the next push (the
 * framer's slots trade places). */
const BinlogTxn *binlogTxnFramerDone(const BinlogTxnFramer *f);
const BinlogTxn *binlogTxnFramerAborted(const BinlogTxnFramer *f);

/* GTID state after the last finished transaction: MariaDB "d-s-n,..." or MySQL set text
 * (single-line); "" when none is known. Allocated. */
char *binlogTxnFramerGtidState(const BinlogTxnFramer *f);
/* Set the GTID state (e.g. from an archive's checkpoint) before feeding events. */
int binlogTxnFramerSetGtidState(BinlogTxnFramer *f, BinlogFlavour flavour, const char *state, Err *err);

void binlogTxnFramerFree(BinlogTxnFramer *f);

#endif
