/*
 * binvault prune: retention. Deletes the oldest segments of an archive - those that neither the
 * kept window (--keep-days / --before-time / --before-gtid) nor a kept base backup (--base-dir)
 * needs - through archivePrune(), whose order of writes and deletions leaves an archive that
 * verify accepts after a crash at any point (FORMAT.md "Pruning"). A second run finishes an
 * interrupted one.
 *
 * Test hook (not documented for users): BINVAULT_TEST_PRUNE_CRASH_AFTER=N kills the process with
 * SIGKILL right after its N-th change to the store, to test recovery from a crash mid-prune.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/backup.h"
#include "archive/backup_store.h"
#include "archive/catalog.h"
#include "archive/identity.h"
#include "archive/key.h"
#include "archive/lookup.h"
#include "archive/outline.h"
#include "archive/prune.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "archive/upgrade.h"
#include "cmd/cmd.h"
#include "common/json.h"
#include "common/mem.h"

#define PRUNE_BASES_MAX 64
#define DAY_US 86400000000LL

typedef struct PruneCmd {
    bool dryRun;
    size_t changes;     /* objects stored or removed */
    size_t crashAfter;  /* test hook; 0: never */
    uint64_t segments, segmentBytes;
    size_t chunksWritten, chunksRemoved, records;
} PruneCmd;

typedef struct PruneOpts {
    char *archive;
    StorageOptions storage;
    int64_t keepDays; /* -1: not given */
    int64_t keepBackups; /* -1: not given */
    OptTime beforeTime;
    char *beforeGtid;
    OptList baseDirs;
    bool dryRun;
    bool dropDiverged;
} PruneOpts;

#define PRUNE_OPT(field) offsetof(PruneOpts, field)
#define PRUNE_STORAGE(field) offsetof(PruneOpts, storage.field)

static const OptDef pruneDefs[] = {
    CMD_ARCHIVE_OPTDEFS(PRUNE_OPT(archive), PRUNE_STORAGE),
    {"keep-days", OPT_INT, NULL, 0, 36500, 0, PRUNE_OPT(keepDays), NULL,
     "keep every segment with a transaction committed in the last N days (and all after it)", NULL, NULL},
    {"keep-backups", OPT_INT, NULL, 1, 100000, 0, PRUNE_OPT(keepBackups), NULL,
     "keep the N newest base backups of the archive ('binvault backup') and every segment the oldest of them needs to "
     "reach the archive's end; older backups are deleted", NULL, NULL},
    {"before-time", OPT_TIME, NULL, 0, 0, 0, PRUNE_OPT(beforeTime), NULL,
     "delete what was committed before T, UTC: 2026-11-21T04:30:00Z, '2026-11-21 04:30:00' or 2026-11-21", NULL, NULL},
    {"before-gtid", OPT_STRING, NULL, 0, 0, 0, PRUNE_OPT(beforeGtid), NULL,
     "delete what comes before the transaction GTID (MariaDB d-s-n, MySQL uuid:n)", NULL, cmdGtidCheck},
    {"base-dir", OPT_STRING, NULL, 0, 0, OPT_REPEAT, PRUNE_OPT(baseDirs), NULL,
     "a prepared mariadb-backup / xtrabackup directory to keep restorable: every segment from its binlog position on "
     "(mariadb_backup_binlog_info or xtrabackup_binlog_info: file, position, GTID) is kept", NULL, NULL},
    {"drop-diverged", OPT_BOOL, NULL, 0, 0, 0, PRUNE_OPT(dropDiverged), NULL,
     "also delete the segments of diverged branches (transactions an old primary archived after a failover, which "
     "the main line does not hold) that the prune reaches: without it such a prune is refused", NULL, NULL},
    {"dry-run", OPT_BOOL, NULL, 0, 0, 0, PRUNE_OPT(dryRun), NULL, "print what would be deleted, change nothing", NULL,
     NULL},
};

static const OptSet pruneSet = {
    "prune",
    "binvault prune --archive URL [--keep-backups N] [--keep-days N | --before-time T | --before-gtid GTID]\n"
    "                      [--base-dir DIR ...] [--drop-diverged] [--dry-run]",
    "Deletes the oldest segments of the archive: those before the kept window that no kept base backup\n"
    "needs. The archive's end (its last segment) is always kept. The index is rewritten so that a crash at\n"
    "any point leaves an archive that 'binvault verify' accepts; running prune again finishes the work.\n\n"
    "Base backups stored in the archive ('binvault backup') are kept by --keep-backups N (the N newest)\n"
    "and by --keep-days N (those taken in the window, and the newest taken before it, which a restore\n"
    "to the window's start needs); the others are deleted, manifest first, before any segment. Every\n"
    "segment a kept backup needs to reach the archive's end is kept. With --keep-backups alone, the\n"
    "archive keeps what the oldest kept backup needs, and nothing before. Interrupted backups are\n"
    "removed.\n\n"
    "A diverged branch (what an old primary archived after a failover, off the main line) is never\n"
    "deleted silently: a prune that reaches one of its segments is refused, naming it, unless\n"
    "--drop-diverged is given; then it says which branch it deletes.\n\n"
    CMD_STORAGE_HELP,
    pruneDefs,
    sizeof(pruneDefs) / sizeof(pruneDefs[0]),
    NULL,
    0,
    0,
};

static const char *
actionText(ArchivePruneAction action) {
    switch (action) {
    case ARCHIVE_PRUNE_WRITE_RECORD: return "write prune record";
    case ARCHIVE_PRUNE_WRITE_CHUNK: return "write index chunk";
    case ARCHIVE_PRUNE_REMOVE_CHUNK: return "delete index chunk";
    case ARCHIVE_PRUNE_REMOVE_SEGMENT: return "delete segment";
    case ARCHIVE_PRUNE_REMOVE_RECORD: return "delete old prune record";
    case ARCHIVE_PRUNE_REMOVE_SUMMARY: return "delete catalog summary";
    case ARCHIVE_PRUNE_REMOVE_BLOCK: return "delete the 1024 segments of block";
    }
    return "?";
}

static int
pruneStep(void *data, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err) {
    PruneCmd *p = data;

    (void)err;
    switch (action) {
    case ARCHIVE_PRUNE_WRITE_RECORD: p->records++; break;
    case ARCHIVE_PRUNE_WRITE_CHUNK: p->chunksWritten++; break;
    case ARCHIVE_PRUNE_REMOVE_CHUNK: p->chunksRemoved++; break;
    case ARCHIVE_PRUNE_REMOVE_SEGMENT:
        p->segments++;
        p->segmentBytes += bytes;
        break;
    case ARCHIVE_PRUNE_REMOVE_BLOCK:
        p->segments += ARCHIVE_BLOCK_SEGMENTS;
        p->segmentBytes += bytes;
        break;
    case ARCHIVE_PRUNE_REMOVE_RECORD:
    case ARCHIVE_PRUNE_REMOVE_SUMMARY: break;
    }
    printf("%s%s %s\n", p->dryRun ? "would " : "", actionText(action), object);
    if (!p->dryRun && ++p->changes == p->crashAfter) {
        fflush(stdout);
        kill(getpid(), SIGKILL);
    }
    return 0;
}

/* Where the archive starts (or would) at seq: its first segment from seq on, and its first commit. */
static void
printStart(ArchiveView *v, uint64_t seq, const char *label) {
    ArchiveCursor *cur = archiveViewCursor(v, seq, archiveViewLastSeq(v), &(Err){0});
    const SegmentMeta *m;
    SegmentMeta start = {0};
    uint64_t firstCommit = 0;
    bool have = false;
    char t[40];

    while (cur != NULL && archiveCursorNext(cur, &m, NULL, &(Err){0}) == 1) {
        if (!have)
            segmentMetaCopy(&start, m);
        have = true;
        if (m->transactions > 0) {
            firstCommit = m->firstTimeUs;
            break;
        }
    }
    archiveCursorFree(cur);
    if (!have)
        return;
    cmdFormatTime(firstCommit, t, sizeof(t));
    printf("%s seq %" PRIu64 ": %s:%" PRIu64 ", gtid state %s, first commit %s\n", label, start.seq, start.file,
           start.startPos, segmentMetaGtidStart(&start)[0] ? segmentMetaGtidStart(&start) : "(unknown)", t);
    segmentMetaClear(&start);
}

static void
abandonedRemoved(void *data, const char *id, uint64_t objects) {
    (void)data;
    printf("removed the interrupted backup %s (%" PRIu64 " objects)\n", id, objects);
}

/* The base backups stored in the archive: which retention keeps (printed), and the points of the
 * kept ones appended to *bases. pruneBackupsDelete() deletes the others. */
static int
pruneBackups(Archive *a, ArchiveView *v, const ArchiveOutline *outline, const PruneOpts *o, ArchiveBackup **backups,
             size_t *nbackups, bool **keep, ArchiveBasePoint **bases, size_t *nbases, Buf *reason, Err *err) {
    int64_t keepFromUs = -1;
    char t[40];
    const char *oldest = "";
    size_t kept = 0;

    if (archiveBackupList(a, backups, nbackups, err) != 0)
        return -1;
    if (o->keepDays >= 0)
        keepFromUs = (int64_t)time(NULL) * 1000000 - o->keepDays * DAY_US;
    *keep = bvCalloc(*nbackups + 1, sizeof(**keep));
    archiveBackupKeep(*backups, *nbackups, o->keepBackups, keepFromUs, *keep);
    *bases = bvRealloc(*bases, (PRUNE_BASES_MAX + *nbackups) * sizeof(**bases));
    for (size_t i = 0; i < *nbackups; i++) {
        const ArchiveBackup *b = &(*backups)[i];
        ArchiveBackupReach r;

        cmdFormatTime((uint64_t)b->startUs, t, sizeof(t));
        if (!(*keep)[i])
            continue;
        if (archiveOutlineBackupReach(v, outline, b, &r, err) != 0)
            return -1;
        if (r.kind == ARCHIVE_BACKUP_UNPLACED) {
            printf("note: kept backup %s (taken %s) is not restorable with this archive (its binlogs do not continue "
                   "from it): it keeps no segment\n", b->id, t);
            continue;
        }
        if (r.kind == ARCHIVE_BACKUP_AHEAD) {
            printf("backup %s (taken %s) needs nothing the archive holds yet\n", b->id, t);
            continue;
        }
        if (kept == 0)
            oldest = b->id;
        printf("backup %s (taken %s, at %s:%" PRIu64 ") needs seq %" PRIu64 " and later\n", b->id, t, b->file, b->pos,
               r.fromSeq);
        memset(&(*bases)[*nbases], 0, sizeof(**bases));
        snprintf((*bases)[*nbases].file, sizeof((*bases)[*nbases].file), "%s", b->file);
        (*bases)[*nbases].pos = b->pos;
        (*bases)[*nbases].gtid = b->gtidState;
        (*nbases)++;
        kept++;
    }
    if (kept > 0)
        jsonBufPrintf(reason, "; %zu base backups kept, the oldest %s", kept, oldest);
    return 0;
}

/* The backups retention does not keep deleted (manifest first, before any segment, so that a crash
 * leaves segments they needed, which the next run prunes), and the interrupted ones removed. */
static int
pruneBackupsDelete(Archive *a, const PruneCmd *p, const ArchiveBackup *backups, size_t nbackups, const bool *keep,
                   Err *err) {
    char host[256] = "", t[40];

    for (size_t i = 0; i < nbackups; i++) {
        uint64_t removed = 0;

        if (keep[i])
            continue;
        cmdFormatTime((uint64_t)backups[i].startUs, t, sizeof(t));
        printf("%sdelete backup %s (taken %s)\n", p->dryRun ? "would " : "", backups[i].id, t);
        if (!p->dryRun && archiveBackupDelete(a, backups[i].id, &removed, err) != 0)
            return -1;
    }
    if (!p->dryRun) {
        struct timespec now;

        gethostname(host, sizeof(host) - 1);
        clock_gettime(CLOCK_REALTIME, &now);
        if (archiveBackupRemoveAbandoned(a, (int64_t)now.tv_sec * 1000000, host, archiveBackupPidAlive, abandonedRemoved,
                                         NULL, err) != 0)
            return -1;
    }
    return 0;
}

/* The diverged branches a prune to firstSeq reaches (docs/FORMAT.md "The main line"): refused
 * (exit 64) unless --drop-diverged, which says which it deletes and records it in the reason. The
 * exit code (0: go on). */
static int
pruneDiverged(Archive *a, const PruneOpts *o, uint64_t archiveFirst, uint64_t firstSeq, Buf *reason) {
    TimelineSet *set = NULL;
    char text[2048];
    Err err = {0};
    int rc = 0;

    if (timelineSetLoad(a, &set, &err) != 0)
        return cmdFail(&err);
    for (size_t i = 0; i < timelineSetDivergedCount(set); i++) {
        const TimelineRecord *r = timelineSetDivergedAt(set, i);
        ArchivePruneDiverged fate = archivePruneDivergedFate(r, archiveFirst, firstSeq);
        const char *what = fate == ARCHIVE_PRUNE_DIVERGED_CUT ? "part of the diverged branch" : "the diverged branch";

        if (fate != ARCHIVE_PRUNE_DIVERGED_CUT && fate != ARCHIVE_PRUNE_DIVERGED_DROPPED)
            continue;
        timelineDescribeDiverged(r, text, sizeof(text));
        if (!o->dropDiverged) {
            fprintf(stderr,
                    "binvault: prune to seq %" PRIu64 " would delete %s of timeline %" PRIu32 " (seqs %" PRIu64
                    "-%" PRIu64 "): %s; nothing was deleted: give --drop-diverged to delete it, or keep it with a "
                    "rule that keeps seq %" PRIu64 " (recover --timeline %" PRIu32 " reads it)\n",
                    firstSeq, what, r->parent, r->diverged.firstSeq, r->diverged.lastSeq, text, r->diverged.firstSeq,
                    r->parent);
            rc = 64;
            continue;
        }
        printf("%sdelete %s of timeline %" PRIu32 " (seqs %" PRIu64 "-%" PRIu64 "%s): %s\n", o->dryRun ? "would " : "",
               what, r->parent, r->diverged.firstSeq, r->diverged.lastSeq,
               fate == ARCHIVE_PRUNE_DIVERGED_CUT ? ", those below the new start" : "", text);
        jsonBufPrintf(reason, "; --drop-diverged: %s of timeline %" PRIu32 " (seqs %" PRIu64 "-%" PRIu64 ")", what,
                      r->parent, r->diverged.firstSeq, r->diverged.lastSeq);
    }
    timelineSetFree(set);
    return rc;
}

static int pruneRun(const PruneOpts *o);

int
cmdPrune(int argc, char **argv) {
    PruneOpts o = {.keepDays = -1, .keepBackups = -1};
    int rc;

    if (!cmdOptions(&pruneSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    if ((o.keepDays >= 0) + (o.beforeTime.text != NULL) + (o.beforeGtid != NULL) > 1 ||
        (o.keepDays < 0 && o.beforeTime.text == NULL && o.beforeGtid == NULL && o.keepBackups < 0)) {
        fprintf(stderr, "binvault: prune needs exactly one of --keep-days N, --before-time T or --before-gtid GTID, "
                        "or --keep-backups N (alone or with one of them)\n");
        rc = 64;
    } else if (o.baseDirs.count > PRUNE_BASES_MAX) {
        fprintf(stderr, "binvault: at most %d --base-dir\n", PRUNE_BASES_MAX);
        rc = 64;
    } else {
        rc = pruneRun(&o);
    }
    optFree(&pruneSet, &o);
    return rc;
}

/* The prune the options ask for, printed; the exit code. */
static int
pruneRun(const PruneOpts *o) {
    PruneCmd p = {.dryRun = o->dryRun};
    bool byDays = o->keepDays >= 0, byTime = o->beforeTime.text != NULL;
    const char *const *baseDirs = (const char *const *)o->baseDirs.items;
    ArchiveBasePoint *bases = bvCalloc(PRUNE_BASES_MAX, sizeof(*bases));
    ArchiveRetention retention = {0};
    size_t nbases = o->baseDirs.count, nread = 0, nbackups = 0, ndirs = o->baseDirs.count;
    ArchiveBackup *backups = NULL;
    bool *keep = NULL, onlyBackups = o->keepDays < 0 && o->beforeTime.text == NULL && o->beforeGtid == NULL;
    Storage *storage = NULL;
    Archive *a = NULL;
    ArchiveView *v = NULL, *after = NULL;
    ArchiveOutline *outline = NULL;
    ArchiveIdentity id;
    Buf *reason = NULL;
    uint64_t firstSeq, ruleSeq, days = 0;
    const char *hook;
    Err err = {0};
    int rc = 0;

    reason = bufNew(256);
    if (onlyBackups) {
        /* No window: a time after every commit keeps only the end, and the kept backups decide. */
        retention.keepFromUs = UINT64_MAX;
        jsonBufPrintf(reason, "--keep-backups %" PRId64, o->keepBackups);
    } else if (byDays) {
        days = (uint64_t)o->keepDays;
        retention.keepFromUs = (uint64_t)time(NULL) * 1000000u;
        retention.keepFromUs = days * 86400000000u > retention.keepFromUs ? 0 : retention.keepFromUs - days * 86400000000u;
        jsonBufPrintf(reason, "--keep-days %" PRIu64, days);
    } else if (byTime) {
        retention.keepFromUs = o->beforeTime.us;
        jsonBufPrintf(reason, "--before-time %s", o->beforeTime.text);
    } else {
        retention.beforeGtid = o->beforeGtid;
        jsonBufPrintf(reason, "--before-gtid %s", o->beforeGtid);
    }
    if ((hook = getenv("BINVAULT_TEST_PRUNE_CRASH_AFTER")) != NULL)
        p.crashAfter = (size_t)strtoull(hook, NULL, 10);
    for (; nread < nbases; nread++) {
        if (archiveBasePointRead(baseDirs[nread], &bases[nread], &err) != 0) {
            rc = cmdFail(&err);
            goto out;
        }
        jsonBufPrintf(reason, "; base backup %s at %s:%" PRIu64 "%s%s", baseDirs[nread], bases[nread].file,
                      bases[nread].pos, bases[nread].gtid[0] ? " gtid " : "", bases[nread].gtid);
    }
    if ((storage = cmdOpenArchive(o->archive, &o->storage, &err)) == NULL) {
        rc = cmdFail(&err);
        goto out;
    }
    a = archiveNew(storage);
    if ((!p.dryRun && archiveUpgradeOnOpen(a, NULL, &err) != 0) || archiveIdentityRead(a, &id, &err) != 0 ||
        (v = archiveViewOpen(a, ARCHIVE_LOAD_DISCOVER, &err)) == NULL || (outline = archiveOutlineNew(v, &err)) == NULL) {
        rc = cmdFail(&err);
        goto out;
    }
    for (size_t i = 0; i < archiveViewProblemCount(v); i++)
        printf("note: %s\n", archiveViewProblem(v, i));
    if (archiveViewLastSeq(v) == 0) {
        printf("nothing to prune: the archive holds no segment\n");
        goto out;
    }
    /* What each constraint keeps, so that the operator sees which one decided. */
    retention.bases = NULL;
    retention.baseCount = 0;
    if (archiveViewRetentionSeq(v, &retention, &ruleSeq, &err) != 0) {
        rc = cmdFail(&err);
        goto out;
    }
    if (!onlyBackups)
        printf("%s keeps from seq %" PRIu64 "\n", byDays ? "--keep-days" : byTime ? "--before-time" : "--before-gtid",
               ruleSeq);
    if (o->keepBackups >= 0)
        jsonBufPrintf(reason, "%s--keep-backups %" PRId64, onlyBackups ? "" : "; ", o->keepBackups);
    if (pruneBackups(a, v, outline, o, &backups, &nbackups, &keep, &bases, &nbases, reason, &err) != 0) {
        rc = cmdFail(&err);
        goto out;
    }
    if (onlyBackups && nbases == 0) {
        if (pruneBackupsDelete(a, &p, backups, nbackups, keep, &err) != 0) {
            rc = cmdFail(&err);
            goto out;
        }
        printf("nothing to prune: no kept base backup needs a segment the archive holds, and --keep-backups alone "
               "keeps the segments of base backups only\n");
        goto out;
    }
    for (size_t i = 0; i < ndirs; i++) {
        uint64_t need;

        ArchiveCatalog *around = archiveOutlineBaseRange(v, &bases[i], &err);

        if (around == NULL || archiveBaseNeededSeq(around, &bases[i], &need, &err) != 0) {
            archiveCatalogFree(around);
            errPrefix(&err, "base backup '%s'", baseDirs[i]);
            rc = cmdFail(&err);
            goto out;
        }
        if (need == UINT64_MAX)
            printf("base backup %s (%s:%" PRIu64 "%s%s) needs nothing the archive holds yet\n", baseDirs[i], bases[i].file,
                   bases[i].pos, bases[i].gtid[0] ? ", gtid " : "", bases[i].gtid);
        else
            printf("base backup %s (%s:%" PRIu64 "%s%s) needs seq %" PRIu64 " and later\n", baseDirs[i], bases[i].file,
                   bases[i].pos, bases[i].gtid[0] ? ", gtid " : "", bases[i].gtid, need);
        archiveCatalogFree(around);
    }
    retention.bases = bases;
    retention.baseCount = nbases;
    if (archiveViewRetentionSeq(v, &retention, &firstSeq, &err) != 0) {
        rc = cmdFail(&err);
        goto out;
    }
    if ((rc = pruneDiverged(a, o, archiveViewFirstSeq(v), firstSeq, reason)) != 0)
        goto out;
    if (pruneBackupsDelete(a, &p, backups, nbackups, keep, &err) != 0) {
        rc = cmdFail(&err);
        goto out;
    }
    if (firstSeq > archiveViewFirstSeq(v)) {
        printStart(v, firstSeq, p.dryRun ? "the archive would start at" : "pruning: the archive will start at");
        if (nbases == 0)
            printf("note: no --base-dir given: only a base backup taken at or after that point can be rolled forward "
                   "with this archive\n");
    }
    if (archivePruneOverViewRetrying(a, &v, firstSeq, (const char *)reason->data, p.dryRun, pruneStep, &p, &err) != 0) {
        rc = cmdFail(&err);
        goto out;
    }
    if (p.records + p.chunksWritten + p.chunksRemoved + p.segments == 0) {
        printf("nothing to prune: ");
        printStart(v, archiveViewFirstSeq(v), "the archive starts at");
    } else {
        printf("%s %" PRIu64 " segments (%" PRIu64 " bytes), %zu index chunks written, %zu deleted\n",
               p.dryRun ? "would delete" : "deleted", p.segments, p.segmentBytes, p.chunksWritten, p.chunksRemoved);
        if (!p.dryRun && (after = archiveViewOpen(a, 0, &err)) != NULL)
            printStart(after, archiveViewFirstSeq(after), "the archive now starts at");
    }
out:
    for (size_t i = 0; i < nread; i++)
        archiveBasePointClear(&bases[i]);
    /* The points of kept backups share the backups' GTID strings. */
    bvFree(bases);
    bvFree(keep);
    archiveBackupListFree(backups, nbackups);
    archiveOutlineFree(outline);
    archiveViewFree(after);
    archiveViewFree(v);
    archiveFree(a);
    storageFree(storage);
    bufFree(reason);
    return rc;
}
