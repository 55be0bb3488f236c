/*
 * Internals shared by the files of recover/ that apply a plan: recover.c (recoverApply(), which
 * ties the plan, the target and the endpoint together), target.c (every statement sent to the
 * target) and apply.c (serving the segments and waiting for the target). Not for use outside
 * recover/.
 */
#ifndef BV_RECOVER_INTERNAL_H
#define BV_RECOVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "archive/segment.h"
#include "recover/recover.h"
#include "recover/replserver.h"
#include "recover/source.h"

/* The user the target logs into the endpoint as. */
#define RECOVER_APPLY_USER "binvault"
/* @@server_id for the target while it applies, when its own is one the archived events carry;
 * the ids just below it are taken when the archive carries this one too. */
#define RECOVER_TEMP_SERVER_ID 4294967280u
/* Longest replication connection name. */
#define RECOVER_NAME_MAX 64

/* ---- The target's replication connection (target.c) --------------------------------------------- */

/* The recovery's replication connection on the target, from SHOW ALL SLAVES STATUS. */
typedef struct RecoverSlaveRow {
    bool found;
    char io[16], sql[16]; /* Slave_IO_Running (Yes, No, Connecting, Preparing), Slave_SQL_Running */
    unsigned ioErrno, sqlErrno;
    char ioError[1024], sqlError[1024];
    char gtidIoPos[4096];
    char execFile[SEGMENT_FILE_MAX]; /* where the applier is in the source's binlog */
    uint64_t execPos;
} RecoverSlaveRow;

/* One recovery's hold on the target: the replication connection it creates and what it changes,
 * so that the cleanup undoes exactly that. */
typedef struct RecoverLink {
    RecoverInto *t;
    const char *name;     /* the replication connection */
    const char *password; /* the endpoint's: masked from every message ("" until chosen) */
    uint32_t serverId;    /* @@server_id while applying: the target's own unless it must change */
    char *origPos;        /* @@gtid_slave_pos before (allocated; recoverLinkClear() frees it) */
    unsigned parallel;    /* the applier's threads while applying; 0 = as the target has it */
    unsigned long origThreads; /* @@slave_parallel_threads before, when changedThreads */
    bool changedPos, changedId, changedThreads, created;
} RecoverLink;

/* Read the target's @@server_id and @@gtid_slave_pos again (recoverIntoServerId(),
 * recoverIntoGtidSlavePos()). */
int recoverIntoRefresh(RecoverInto *t, Err *err);

/* Before anything changes on the target: refuse a target left with the temporary server_id by a
 * killed recovery, a running connection of l->name, or any other running replication connection
 * (gtid_slave_pos can only be set with every connection stopped); remove a stopped leftover of
 * l->name. ERR_TARGET. */
int recoverLinkPreflight(RecoverLink *l, Err *err);

/* Point the target at the endpoint host:port and start it: @@gtid_slave_pos = start (unless it
 * is that already), @@server_id = l->serverId (unless it is the target's own), CHANGE MASTER on
 * l->name with MASTER_USE_GTID = slave_pos, with l->parallel @@slave_parallel_threads (unless it
 * is that already) and the connection's slave_parallel_mode = optimistic, START SLAVE UNTIL
 * master_gtid_pos = until. Records in l what it changed, also when a later step fails. */
int recoverLinkStart(RecoverLink *l, const char *host, unsigned port, const char *start, const char *until, Err *err);

/* The connection's status (the replication threads' state is read first: a thread seen stopped
 * has applied all it will by the time the position is read) and @@gtid_slave_pos (*pos
 * allocated). */
int recoverLinkPoll(RecoverLink *l, RecoverSlaveRow *row, char **pos, Err *err);

/* Undo what l records, keeping what the target applied: STOP SLAVE, read @@gtid_slave_pos into
 * *finalPos (allocated; NULL when unknown), RESET SLAVE ... ALL, the target's own server_id and
 * @@slave_parallel_threads back, and the original @@gtid_slave_pos when nothing was applied (the
 * position is still `start`).
 * Reconnects once when the connection is gone. What it could not undo is appended to `manual`
 * (statements to run by hand). */
void recoverLinkCleanup(RecoverLink *l, const char *start, char **finalPos, char *manual, size_t manualSize);

void recoverLinkClear(RecoverLink *l);

/* ---- Serving and waiting (apply.c) ----------------------------------------------------------- */

/* One run of recoverApply(). */
typedef struct RecoverRun {
    Archive *a;
    const RecoverPlan *plan;
    const RecoverPlanInfo *info;
    const RecoverApplyOptions *o;
    const char *host;                /* the endpoint's address, as the target reaches it */
    char password[32];               /* the endpoint's, random */
    RecoverLink link;
    RecoverSource *src;
    ReplServer *srv;
    struct timespec t0;              /* START SLAVE */
    bool started;
    double stoppedAt;                /* seconds after t0 when the target stopped; 0 when unknown */
    uint64_t bytesTotal;             /* binlog bytes to apply */
    uint64_t lastApplied, lastBytes; /* last progress shown */
    double lastRate;
} RecoverRun;

/* Verify and spool the planned segments (recover/source.h) and start the replication endpoint
 * that serves them, with a random password, for the target to connect to. */
int recoverRunServe(RecoverRun *run, Err *err);

/* Right after START SLAVE: time the run from now, and wait, reporting progress, until the target
 * reaches the plan's UNTIL position (0), or fails: its applier's error, the stream's (the
 * applier is first let apply what it received), no connection to the endpoint in time, the
 * connection removed, a stop request (ERR_TARGET, or the stream's error code). */
int recoverRunWait(RecoverRun *run, Err *err);

/* Seconds since START SLAVE. */
double recoverRunSeconds(const RecoverRun *run);

/* Tell o->progress (when set) how far the target is, and remember it. */
void recoverRunProgress(RecoverRun *run, RecoverPhase phase, uint64_t applied, uint64_t bytes, double seconds,
                        double rate, const char *pos);

/* Stop the endpoint and free the source. */
void recoverRunStopServing(RecoverRun *run);

#endif
