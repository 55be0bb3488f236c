/*
 * Base backups stored in the archive (docs/FORMAT.md, "Base backups"): the stream of a backup
 * tool (mariadb-backup --stream=mbstream, xtrabackup --stream=xbstream) cut into parts, each a
 * segment container with its own magic (BVPRT), then parts.bvi and, last, manifest.json. A backup
 * is complete if and only if its manifest exists and verifies: readers use nothing else.
 *
 * Writing (backup_write.c): an ArchiveBackupWriter takes the stream in any pieces, cuts it into
 * parts of at most `partSize` bytes, compresses and hashes each into a local file of the temporary
 * directory and stores the parts from a few upload threads while the next part is being written:
 * memory stays at two lz4 contexts and a buffer per thread whatever the backup's size, and the disk
 * holds at most (parallel + 1) parts. Reading: the list of complete backups, incomplete ones and
 * deletion (backup_store.c), the stream of one written to a descriptor part by part with every
 * layer verified (backup_read.c).
 *
 * Objects of a backup are additive to a format-1 archive: format-1 readers list only index/,
 * segments/ and prune/, and never see backups/.
 */
#ifndef BV_ARCHIVE_BACKUP_STORE_H
#define BV_ARCHIVE_BACKUP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "common/err.h"

#define ARCHIVE_BACKUP_PREFIX "backups/"
#define ARCHIVE_BACKUP_VERSION 2
#define ARCHIVE_BACKUP_PART_MAGIC "BVPRT\x00\x02\n"
#define ARCHIVE_BACKUP_PART_END_MAGIC "BVPRTEND"
/* An id: 20261206T072630Z-5c1e02aa (the start time and 8 random hex digits). */
#define ARCHIVE_BACKUP_ID_LEN 25
/* Bounds a reader accepts: the part size a writer may use, parts per backup, parts.bvi's size. */
#define ARCHIVE_BACKUP_PART_MIN (64 * 1024)
#define ARCHIVE_BACKUP_PART_MAX (1024ULL * 1024 * 1024)
#define ARCHIVE_BACKUP_PARTS_MAX 10000000
#define ARCHIVE_BACKUP_INDEX_MAX (4ULL * 1024 * 1024 * 1024)

typedef struct ArchiveBackup {      /* a complete backup, as its manifest says */
    char id[64]; char tool[32]; char toolVersion[64]; char stream[16]; char flavour[16];
    uint32_t serverId; char serverUuid[64]; char host[256]; char serverVersion[128];
    uint32_t timeline; int64_t startUs, endUs;
    char file[256]; uint64_t pos; char *gtidState;   /* the consistent point */
    uint64_t archiveSeq, streamLen, storedBytes; uint32_t parts;
} ArchiveBackup;

/* Whether `id` has the form of a backup id. */
bool archiveBackupIdValid(const char *id);

/* ---- reading (backup_store.c; archiveBackupExtract() in backup_read.c) ---- */

/* The complete backups (manifest present and valid), oldest first. A manifest that exists but does
 * not parse is skipped with a warning in the log (verify reports it). */
int archiveBackupList(Archive *archive, ArchiveBackup **backups, size_t *count, Err *err);
void archiveBackupListFree(ArchiveBackup *backups, size_t count);

/* Write the backup's stream (verified part by part: stored sha256, content sha256, sizes, order) to fd,
   e.g. a pipe into `mbstream -x`; progress may be NULL. Memory bounded; parts fetched in parallel.
   Bytes reach fd as the lz4 frame's block checksums pass; a part whose object or content hash then
   does not match fails the extraction (ERR_CHECKSUM naming the part), and the caller discards what
   was written. fd == -1 verifies only (what `verify` does). */
typedef void (*ArchiveBackupProgressFn)(void *ctx, uint64_t done, uint64_t total);
int archiveBackupExtract(Archive *archive, const ArchiveBackup *backup, int fd,
                         ArchiveBackupProgressFn progress, void *ctx, Err *err);

/* A backup without a manifest: its started.json, when readable. */
typedef struct ArchiveBackupStarted {
    char id[64];
    char host[256];
    int64_t pid;
    int64_t startedUs;  /* 0 when started.json is missing or unreadable */
} ArchiveBackupStarted;

/* The backups that have objects but no manifest (in progress, or interrupted), by id. */
int archiveBackupListIncomplete(Archive *archive, ArchiveBackupStarted **out, size_t *count, Err *err);

/* Whether an incomplete backup is abandoned: started more than a day before `nowUs`, or started on
 * `thisHost` by a process that no longer runs (`pidAlive` says; NULL: not known), or without a
 * readable started.json and older than a day by its id. */
bool archiveBackupAbandoned(const ArchiveBackupStarted *s, int64_t nowUs, const char *thisHost,
                            bool (*pidAlive)(int64_t pid));

/* Which of the complete backups `list` (oldest first, n of them) retention keeps, into keep[n]:
 * with keepNewest >= 0 the keepNewest newest; with keepFromUs >= 0 every backup started at or after
 * it and the newest started before it (the one a restore to the start of that window needs); both:
 * the union; neither: all. */
void archiveBackupKeep(const ArchiveBackup *list, size_t n, int64_t keepNewest, int64_t keepFromUs, bool *keep);

/* Whether process `pid` runs on this machine (kill(pid, 0)): the usual `pidAlive`. */
bool archiveBackupPidAlive(int64_t pid);

/* Delete the incomplete backups that archiveBackupAbandoned() says are abandoned (at `nowUs`, on
 * `thisHost`, pidAlive as there), calling `removed` (may be NULL) after each with its id and the
 * number of objects removed. The first failure stops it. */
int archiveBackupRemoveAbandoned(Archive *archive, int64_t nowUs, const char *thisHost, bool (*pidAlive)(int64_t pid),
                                 void (*removed)(void *data, const char *id, uint64_t objects), void *data, Err *err);

/* Delete a backup: its manifest first (it is incomplete from then on), then parts.bvi, its parts and
 * started.json. Safe to repeat after a crash. `removed` (may be NULL) counts the objects removed. */
int archiveBackupDelete(Archive *archive, const char *id, uint64_t *removed, Err *err);

/* Where the archive's binlogs take a backup (the restorable window per backup). */
typedef enum ArchiveBackupReachKind {
    ARCHIVE_BACKUP_REACHES_END = 0, /* the binlogs continue from the backup's point to the archive's end */
    ARCHIVE_BACKUP_REACHES_GAP,     /* they continue from it, but only up to a gap */
    ARCHIVE_BACKUP_AHEAD,           /* the archive does not reach the backup's point yet */
    ARCHIVE_BACKUP_UNPLACED,        /* the archive starts after the point (pruned), or holds other binlogs */
} ArchiveBackupReachKind;

typedef struct ArchiveBackupReach {
    ArchiveBackupReachKind kind;
    uint64_t fromSeq;       /* the first segment replay from the backup reads (REACHES_*), else 0 */
    const SegmentMeta *to;  /* the last segment it reaches (REACHES_*), else NULL; points into the catalog */
} ArchiveBackupReach;

struct ArchiveCatalog;
/* Where the binlogs of catalog `c` take backup `b`: from archiveBaseNeededSeq(), then the window
 * (archiveCatalogWindows()) that holds that segment; a first needed segment whose GTID state the
 * backup does not hold (its start was pruned, or never archived) is UNPLACED. ERR_FORMAT for a
 * malformed GTID state. */
int archiveBackupReach(const struct ArchiveCatalog *c, const ArchiveBackup *b, ArchiveBackupReach *r, Err *err);
/* "end", "gap", "ahead", "unplaced". */
const char *archiveBackupReachName(ArchiveBackupReachKind kind);

/* archiveBackupList(), and each manifest that is present but unreadable or invalid reported to
 * `bad` (its id and why) instead of the log: for verify. */
typedef void (*ArchiveBackupBadFn)(void *data, const char *id, const Err *why);
int archiveBackupListChecked(Archive *archive, ArchiveBackup **backups, size_t *count, ArchiveBackupBadFn bad,
                             void *data, Err *err);

/* ---- writing (backup_write.c) ---- */

typedef struct ArchiveBackupWriter ArchiveBackupWriter;

typedef struct ArchiveBackupWriteOpts {
    uint64_t partSize;   /* stream bytes per part (ARCHIVE_BACKUP_PART_MIN..MAX) */
    unsigned parallel;   /* upload threads, 1..64 */
    const char *tmpDir;  /* where parts are compressed before they are stored */
    const char *host;    /* this machine's name, for started.json */
    int64_t pid;         /* this process, for started.json */
} ArchiveBackupWriteOpts;

/* Start a backup: a new id (from the current time), started.json stored, the upload threads
 * running. */
ArchiveBackupWriter *archiveBackupWriterNew(Archive *archive, const ArchiveBackupWriteOpts *opts, Err *err);
const char *archiveBackupWriterId(const ArchiveBackupWriter *w);
int64_t archiveBackupWriterStartUs(const ArchiveBackupWriter *w);
/* Append stream bytes. Fails with the error of a failed upload as soon as it is known. */
int archiveBackupWriterAppend(ArchiveBackupWriter *w, const void *data, size_t len, Err *err);
/* Stream bytes appended, and stored bytes of the parts uploaded so far (for progress). */
uint64_t archiveBackupWriterStreamBytes(const ArchiveBackupWriter *w);
uint64_t archiveBackupWriterStoredBytes(const ArchiveBackupWriter *w);
/* Finish: the last part, every upload waited for, parts.bvi, then manifest.json from `desc` (tool,
 * toolVersion, stream, flavour, source identity, timeline, consistent point, archiveSeq, endUs; id,
 * startUs, streamLen, storedBytes and parts are the writer's and are filled into `desc`). An empty
 * stream is ERR_FORMAT. Once finished the backup is complete. */
int archiveBackupWriterFinish(ArchiveBackupWriter *w, ArchiveBackup *desc, Err *err);
/* Free the writer. A backup not finished is abandoned: the uploads are stopped and its objects
 * removed (best effort: what remains is cleaned up by the next backup or prune). NULL: no-op. */
void archiveBackupWriterFree(ArchiveBackupWriter *w);

#endif
