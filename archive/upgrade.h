/*
 * The upgrade of a format-1 archive to format 2, in place (docs/FORMAT.md "Upgrade of a format-1
 * archive"), in the crash-safe order: (1) timelines/00000001.json, (2) the block chunks of the
 * complete blocks, (3) their summaries, (4) binvault.json at version 2, (5) deletion of the chunks
 * the block chunks cover. A crash anywhere leaves an archive that format-1 (before step 4) and
 * format-2 readers accept; running the upgrade again completes it. The index is read once,
 * streaming, one block at a time.
 */
#ifndef BV_ARCHIVE_UPGRADE_H
#define BV_ARCHIVE_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"

/* What an upgrade did (or, dry run, would do). */
typedef struct ArchiveUpgradeReport {
    unsigned fromVersion;    /* binvault.json's version before: 1 or 2 */
    size_t blocks;           /* complete blocks */
    size_t blockChunks;      /* block chunks written (already there: not counted) */
    size_t summaries;        /* level-1 documents written */
    size_t chunksRemoved;    /* index chunks deleted (covered by block chunks) */
    bool identityWritten;    /* binvault.json moved to version 2 */
} ArchiveUpgradeReport;

/* Upgrade the archive (a format-2 archive is completed the same way: blocks that completed without
 * a block chunk or a summary get them). With `dryRun`, nothing is written: the report says what
 * would be. ERR_NOTFOUND for an archive without binvault.json; ERR_FORMAT for an index chunk that
 * cannot be read (nothing past step 1 is done then, and the archive stays as it was). */
int archiveUpgrade(Archive *a, bool dryRun, ArchiveUpgradeReport *report, Err *err);

/* What a writer (agent, import, prune, backup) calls when it opens an archive: archiveUpgrade()
 * when binvault.json is at version 1, nothing otherwise (at version 2, or no binvault.json yet: a new
 * archive). *upgraded (may be NULL) receives whether it upgraded. */
int archiveUpgradeOnOpen(Archive *a, bool *upgraded, Err *err);

#endif
