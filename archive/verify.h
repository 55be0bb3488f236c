/*
 * Verifying an archive: every segment re-read through every layer (the object's SHA-256 against
 * the index, trailer CRC and metadata against the index line, lz4 frame and block checksums,
 * content SHA-256, every event's CRC), then continuity, the index chunks and checkpoint.json.
 * A gap accepted on purpose (a gap record, archive/gap.h) is a note, not a problem. Then every
 * complete base backup (archive/backup_store.h): its manifest, parts.bvi and every part read through
 * every layer; a manifest that does not parse is a problem, an incomplete backup a note.
 * What `binvault verify` does; it prints what the hooks report.
 */
#ifndef BV_ARCHIVE_VERIFY_H
#define BV_ARCHIVE_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/catalog.h"

/* One thing wrong with the archive. */
typedef struct ArchiveVerifyProblem {
    char *object;  /* the object concerned; NULL when it concerns no single object */
    uint64_t seq;  /* the segment concerned; 0 when none */
    const char *kind; /* "segment", "index", "identity", "continuity", "checkpoint" or "backup" */
    char *message;
} ArchiveVerifyProblem;

/* Reports while the verification runs, in order; each may be NULL. */
typedef struct ArchiveVerifyHooks {
    /* A problem, as soon as it is found. */
    void (*problem)(void *data, const ArchiveVerifyProblem *p);
    /* Something sound but worth saying, e.g. "'segments/...' is stored and sound but not yet
     * indexed", "the archive has no checkpoint.json yet". */
    void (*note)(void *data, const char *message);
    /* Before segment `done` of `total` is read (`bytes` read so far), and once with done == total
     * when every segment is read. */
    void (*progress)(void *data, size_t done, size_t total, uint64_t bytes);
    void *data;
} ArchiveVerifyHooks;

typedef struct ArchiveVerifyResult {
    bool notArchive;                /* neither binvault.json nor any segment: nothing was verified */
    ArchiveCatalog *catalog;        /* the archive's last segment, with its prune record (cmdPrintPrune()) */
    struct ArchiveOutline *outline; /* its breaks and windows (archive/outline.h); in an archive that
                                     * forked, the windows' counts as the main line sees them */
    uint64_t segments, bytes, events, transactions; /* read */
    uint64_t backups, backupBytes; /* complete base backups read, and their stream bytes */
    ArchiveVerifyProblem *problems; /* in the order found */
    size_t problemCount;
} ArchiveVerifyResult;

/* Verify the archive, streaming: its catalog opened by range (summaries and tail), then every
 * segment block by block through a cursor, memory bounded whatever the archive's size (whether the
 * store holds a segment, and its size, is asked of the store per segment outside the tail), each
 * also checked against the timeline records as it passes (a forked archive too: never loaded
 * whole). A block chunk that cannot be read is a problem. -1 when the catalog cannot be opened. Otherwise 0, and the
 * archive is sound when res->problemCount is 0 and res->notArchive is false. Free with
 * archiveVerifyResultClear(). */
int archiveVerify(Archive *a, const ArchiveVerifyHooks *hooks, ArchiveVerifyResult *res, Err *err);
void archiveVerifyResultClear(ArchiveVerifyResult *res);

/* Verify the catalog's segments `first`..`last` (catalog indexes) as archiveVerify() does, each
 * through every layer and against its index line: what `recover --dry-run` does for the segments
 * of its plan, so that it accepts nothing that applying would refuse. res->catalog stays NULL. */
void archiveVerifySegments(Archive *a, const ArchiveCatalog *c, size_t first, size_t last,
                           const ArchiveVerifyHooks *hooks, ArchiveVerifyResult *res);

#endif
