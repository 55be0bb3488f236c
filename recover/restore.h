/*
 * binvault restore (docs/RECOVERY.md): from an empty directory to a data directory that
 * `mariadbd --datadir DIR` starts at a point in time, in one run. The phases: check DIR (empty,
 * enough free space), unpack the backup's mbstream into it (`mbstream -x`, fed with the verified
 * stream), prepare it (`mariadb-backup --prepare`), start a private server on it
 * (recover/private_server.h), recover it to the target through its replication applier exactly
 * as `binvault recover` does (recoverApply()), optionally point it at a live primary, and shut the
 * server down cleanly. A failure or a Ctrl-C stops the server cleanly and the report says what
 * DIR then holds.
 *
 * Choosing the backup for a target is pure code: restoreChooseBackup().
 *
 * Errors: ERR_USAGE for a target before every backup (the message lists them), ERR_CONFIG for a
 * DIR that is not empty, ERR_IO for local files and too little space, ERR_TARGET for the tools and
 * the private server, and what planning and applying give (recover/recover.h).
 */
#ifndef BV_RECOVER_RESTORE_H
#define BV_RECOVER_RESTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "archive/archive.h"
#include "archive/backup_store.h"
#include "archive/catalog.h"
#include "archive/timeline.h"
#include "common/buf.h"
#include "common/err.h"
#include "recover/plan.h"
#include "recover/progress.h"
#include "recover/recover.h"

/* ---- Choosing the backup (pure) ------------------------------------------------------------- */

/* A complete backup's consistent point, as its manifest says. */
typedef struct RestorePoint {
    const char *id;
    uint64_t endUs;        /* when the backup ended: every commit it holds is at or before it */
    const char *file;      /* the binlog position of the consistent point */
    uint64_t pos;
    const char *gtidState; /* MariaDB GTID position at the consistent point ("" when none) */
} RestorePoint;

/* The newest of `points` (oldest first) from which recovery can reach `target`: TIME, its end at
 * or before the time (before it with exclusive); GTID, in every domain the target names a seq not
 * past the target's (before it with exclusive); POSITION, its position at or before the target's
 * (before it with exclusive) in the binlog order of segmentFileCompare(); END, the newest.
 * ERR_NOTFOUND when there is no backup; ERR_USAGE when the target is before every backup, the
 * message listing them (restoreDescribeBackups()); ERR_FORMAT for a malformed GTID. */
int restoreChooseBackup(const RestorePoint *points, size_t count, const RecoverTarget *target, size_t *chosen,
                        Err *err);

/* One line per backup: "  ID: ended T UTC, at FILE:POS, gtid state 'G'". */
void restoreDescribeBackups(const RestorePoint *points, size_t count, Buf *out);

/* ---- Checks before anything is written ------------------------------------------------------ */

/* DIR must be an empty directory, or not exist (its parent must; it is then created, mode 0750),
 * on a file system with `need` bytes free plus a margin (a tenth, at least 64 MiB). ERR_CONFIG for
 * a DIR that is not empty or not a directory, ERR_IO for too little space (the message says how
 * much is needed and free). */
int restoreCheckDir(const char *dir, uint64_t need, Err *err);

/* The account the private server runs as when binvault runs as root: `name` when given; else the
 * owner of DIR when it exists and is not root; else "mysql" when that account exists; else root.
 * Fills *uid / *gid and the name (at most size bytes). ERR_CONFIG for an unknown account, and for
 * one that cannot search a directory above DIR (the server would fail only once started). */
int restoreResolveUser(const char *name, const char *dir, char *out, size_t size, uid_t *uid, gid_t *gid, Err *err);

/* ---- The run -------------------------------------------------------------------------------- */

typedef enum RestorePhase {
    RESTORE_PHASE_CHECK = 0, /* DIR and free space */
    RESTORE_PHASE_UNPACK,    /* the stream into DIR */
    RESTORE_PHASE_PREPARE,   /* mariadb-backup --prepare */
    RESTORE_PHASE_START,     /* the private server starts (crash recovery of the prepared copy) */
    RESTORE_PHASE_RECOVER,   /* the archived transactions are applied */
    RESTORE_PHASE_STOP,      /* the private server shuts down */
    RESTORE_PHASE_DONE,
} RestorePhase;

/* What DIR holds after a run (or where a failed run left it). */
typedef enum RestoreDirState {
    RESTORE_DIR_UNTOUCHED = 0, /* nothing was written */
    RESTORE_DIR_PARTIAL,       /* an incomplete unpack or prepare: to be emptied */
    RESTORE_DIR_PREPARED,      /* the prepared backup, nothing applied */
    RESTORE_DIR_RECOVERED,     /* some of the plan applied (finalGtid), the server stopped cleanly */
    RESTORE_DIR_READY,         /* at the target, the server stopped cleanly */
    RESTORE_DIR_UNCLEAN,       /* the server could not be stopped cleanly: crash recovery at next start */
} RestoreDirState;

typedef struct RestoreProgress {
    RestorePhase phase;
    uint64_t done, total;           /* UNPACK: stream bytes */
    double seconds;                 /* since the phase began */
    const RecoverProgress *recover; /* RECOVER: the applier's progress */
} RestoreProgress;

typedef void (*RestoreProgressFn)(void *ctx, const RestoreProgress *p);
typedef void (*RestoreStreamProgressFn)(void *ctx, uint64_t done, uint64_t total);
/* Write the backup's whole mbstream, verified, to fd, reporting progress. */
typedef int (*RestoreStreamFn)(void *ctx, int fd, RestoreStreamProgressFn progress, void *progressCtx, Err *err);

/* A live primary the restored server replicates from once started (--replicate-from). */
typedef struct RestoreReplicateFrom {
    const char *host;
    uint16_t port;
    const char *user;
    const char *password; /* stored in DIR's master.info, as CHANGE MASTER does */
} RestoreReplicateFrom;

typedef struct RestoreOptions {
    const char *datadir;       /* absolute */
    const char *tmpDir;        /* the private server's directory and spooled segments; NULL = /tmp */
    const char *user;          /* when root: the server's account (restoreResolveUser()) */
    uid_t uid;
    gid_t gid;
    uint32_t serverId;         /* the source's */
    uint64_t streamBytes;      /* the stream's size, for the space check and progress */
    RestoreStreamFn stream;
    void *streamCtx;
    const char *backupGtid;    /* the consistent point the plan starts at (NULL: read it in DIR) */
    Archive *archive;
    const ArchiveCatalog *catalog; /* what the plan is made on; NULL: planned on `view` once DIR is
                                      prepared and the start known (recoverScopePlan(): a long range
                                      a block at a time) */
    ArchiveView *view;             /* the catalog opened by range, when catalog is NULL (it must
                                      outlive the report) */
    const TimelineSet *timelines;  /* the archive's timeline records, when catalog is NULL */
    uint32_t timeline;             /* the path followed (0: the main line), when catalog is NULL */
    const RecoverTarget *target;
    RecoverPlan *plan;         /* made beforehand from backupGtid, or NULL to plan once DIR is
                                  prepared (from its binlog info); the run owns it either way */
    const char *listenHost;    /* recoverApply()'s endpoint */
    uint16_t listenPort;
    unsigned connectTimeoutMs;
    const RestoreReplicateFrom *replicateFrom; /* may be NULL */
    RestoreProgressFn progress;
    void *progressCtx;
    atomic_bool *stop;         /* set on Ctrl-C */
} RestoreOptions;

typedef struct RestoreReport {
    RestorePhase phase;        /* the phase reached (failed in, or DONE) */
    RestoreDirState state;
    char *startGtid;           /* the prepared backup's GTID state (allocated) */
    RecoverPlan *plan;         /* the plan applied (owned by the report) */
    ArchiveCatalog *catalog;   /* the range loaded for it when the options had no catalog (owned;
                                  NULL when the plan reads its range a block at a time) */
    RecoverResult result;      /* recoverApply()'s */
    char *finalGtid;           /* the server's gtid_slave_pos at the end (allocated) */
    bool replicating;          /* --replicate-from was configured */
    double seconds[RESTORE_PHASE_DONE];
} RestoreReport;

/* Run the phases. On error the report still says the phase and what DIR holds. */
int restoreRun(const RestoreOptions *o, RestoreReport *r, Err *err);

/* What DIR holds and what to do next, for the user (a few lines). */
void restoreDescribeState(const RestoreReport *r, const char *dir, Buf *out);

/* A RestoreStreamFn over a local mbstream file (ctx: its path). */
int restoreStreamFile(void *ctx, int fd, RestoreStreamProgressFn progress, void *progressCtx, Err *err);

/* A RestoreStreamFn over a backup of the archive (ctx: a RestoreArchiveStream): its parts fetched
 * and verified by archiveBackupExtract(); a damaged part fails it (ERR_CHECKSUM naming the part). */
typedef struct RestoreArchiveStream {
    Archive *archive;
    const ArchiveBackup *backup;
} RestoreArchiveStream;
int restoreStreamBackup(void *ctx, int fd, RestoreStreamProgressFn progress, void *progressCtx, Err *err);

/* The consistent points of backups, for restoreChooseBackup(): points[i] refers to backups[i]'s
 * strings (they must outlive it). Allocated (bvFree() it). */
RestorePoint *restorePointsOf(const ArchiveBackup *backups, size_t count);

/* The phase's name ("unpack", ...). */
const char *restorePhaseName(RestorePhase phase);

void restoreReportClear(RestoreReport *r);

#endif
