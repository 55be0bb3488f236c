/*
 * Retention (docs/FORMAT.md "Pruning"): prune records (prune/<first seq>.json say that segments
 * below first_seq were deleted on purpose), what a retention rule keeps, and the prune procedure,
 * whose order of writes and deletions leaves a consistent archive after a crash at any point.
 */
#ifndef BV_ARCHIVE_PRUNE_H
#define BV_ARCHIVE_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/backup.h"
#include "archive/catalog.h"
#include "archive/timeline.h"
#include "common/buf.h"

/* Longest reason kept in a prune record, with its NUL. */
#define ARCHIVE_PRUNE_REASON_MAX 1024

/* prune/<first seq>.json: segments below first_seq were deleted on purpose. */
typedef struct ArchivePruneRecord {
    uint64_t firstSeq;
    char file[SEGMENT_FILE_MAX]; /* where the kept archive starts: file, start_pos, gtid_start */
    uint64_t startPos;
    char *gtidStart;             /* allocated; "" when unknown */
    uint64_t firstTimeUs;        /* first kept commit (0: none, or not recorded) */
    char created[32];
    char reason[ARCHIVE_PRUNE_REASON_MAX]; /* "" when not recorded */
} ArchivePruneRecord;

/* Prune record names: prune/<first seq, 16 digits>.json; parse: -1 when not one (or seq < 2). */
void archivePruneName(uint64_t firstSeq, char *out, size_t size);
int archivePruneNameParse(const char *name, uint64_t *firstSeq);
/* Parse a prune record's text (`len` bytes, any content). ERR_FORMAT. */
int archivePruneRecordParse(const char *text, size_t len, ArchivePruneRecord *rec, Err *err);
void archivePruneRecordClear(ArchivePruneRecord *rec);
/* The record as its JSON document (FORMAT.md "Pruning"), without a newline. */
void archivePruneRecordToJson(const ArchivePruneRecord *rec, Buf *out);
/* The newest prune record of a loaded catalog; NULL when the archive was never pruned. */
const ArchivePruneRecord *archiveCatalogPrune(const ArchiveCatalog *c);

/* What to keep. */
typedef struct ArchiveRetention {
    const char *beforeGtid;  /* keep from the segment holding this GTID's transaction, or NULL: */
    uint64_t keepFromUs;     /* keep from the first segment with a commit at or after this time */
    const ArchiveBasePoint *bases; /* and everything these base backups need */
    size_t baseCount;
} ArchiveRetention;

/* The first seq to keep: the lowest of what the rule and each base backup need, never above the
 * last segment (the archive's end is always kept; with nothing committed since the time, only the
 * last segment is), stepped back to an indexed segment. *firstSeq equal to the archive's first
 * segment: nothing to prune. ERR_NOTFOUND for a GTID after the archive or a backup that cannot be
 * placed, ERR_FORMAT for malformed GTIDs. */
int archiveRetentionSeq(const ArchiveCatalog *c, const ArchiveRetention *r, uint64_t *firstSeq, Err *err);
/* The seq to give archivePrune() for a retention: archiveRetentionSeq(), or, when that deletes
 * nothing, the archive's first seq (which finishes an interrupted prune, and is a no-op
 * otherwise). The catalog must not be empty. */
int archivePruneTarget(const ArchiveCatalog *c, const ArchiveRetention *r, uint64_t *firstSeq, Err *err);

/* What a prune to firstSeq, of an archive that starts at archiveFirst, does to the diverged branch
 * of timeline record r (docs/FORMAT.md "The main line": never deleted silently). */
typedef enum ArchivePruneDiverged {
    ARCHIVE_PRUNE_DIVERGED_KEPT = 0, /* none of its segments is deleted (or it has no branch) */
    ARCHIVE_PRUNE_DIVERGED_GONE,     /* already pruned: no segment of it is left */
    ARCHIVE_PRUNE_DIVERGED_CUT,      /* some of its segments are deleted, the later ones kept */
    ARCHIVE_PRUNE_DIVERGED_DROPPED,  /* every segment of it left is deleted */
} ArchivePruneDiverged;

ArchivePruneDiverged archivePruneDivergedFate(const TimelineRecord *r, uint64_t archiveFirst, uint64_t firstSeq);

typedef enum ArchivePruneAction {
    ARCHIVE_PRUNE_WRITE_RECORD = 0, /* prune/<seq>.json stored */
    ARCHIVE_PRUNE_WRITE_CHUNK,      /* a chunk of the kept lines of one that reaches into pruned seqs */
    ARCHIVE_PRUNE_REMOVE_CHUNK,
    ARCHIVE_PRUNE_REMOVE_SEGMENT,
    ARCHIVE_PRUNE_REMOVE_RECORD,    /* an older prune record */
    ARCHIVE_PRUNE_REMOVE_SUMMARY,   /* a catalog summary document of pruned blocks only */
    ARCHIVE_PRUNE_REMOVE_BLOCK,     /* dry run over the view: the segments of a summarised block, said
                                     * at once from its summary line (object: its block chunk; bytes:
                                     * the block's; ARCHIVE_BLOCK_SEGMENTS segments) */
} ArchivePruneAction;

/* Called after each object stored or removed (before it, with dryRun), with its size when known;
 * returning -1 stops the prune with that error. */
typedef int ArchivePruneStepFn(void *data, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err);

/* The whole-index prune (what archivePruneOverView() is tested against; commands run the latter).
 * Delete every segment below firstSeq (an indexed segment of the catalog, or the current first
 * seq to finish an interrupted prune), in an order that leaves a consistent archive after a crash
 * at any point: (1) store prune/<firstSeq>.json, (2) write the kept lines of every chunk that
 * reaches below firstSeq as a chunk starting at firstSeq (unless chunks already cover them),
 * (3) delete the chunks that reach below firstSeq, (4) delete the segments below firstSeq, oldest
 * first, those the catalog's load found left over included, then the catalog summary documents
 * whose blocks are all below firstSeq, (5) delete older prune records.
 * `reason` is recorded. The catalog (loaded with ARCHIVE_LOAD_DISCOVER) is updated. With dryRun
 * nothing changes: `step` is called with what would be done. ERR_NOTFOUND, before anything is
 * written, when segment firstSeq is not in the store. */
int archivePrune(Archive *a, ArchiveCatalog *c, uint64_t firstSeq, const char *reason, bool dryRun,
                 ArchivePruneStepFn *step, void *data, Err *err);
/* ---- over the view (the catalog opened by range): what `binvault prune` runs ----
 *
 * The same rules and the same order of writes as above, with memory bounded by a block chunk
 * whatever the archive's size. */

/* archivePruneTarget() over the view: the time rule reads the summary lines and only the blocks
 * whose commit times reach the time; --before-gtid a lookup; each base backup the blocks around its
 * point (archiveOutlineBaseRange()). The same answer as on the whole index (test_catalog checks it). */
int archiveViewRetentionSeq(ArchiveView *v, const ArchiveRetention *r, uint64_t *firstSeq, Err *err);
/* archivePrune() over the view: (1) the record, (2) the kept lines of the chunks that reach over
 * firstSeq, from one listing of index/ that stops past them, (3, 4) chunk after chunk, oldest first:
 * the chunk is read, deleted, then the segments it names below firstSeq (a crash in between leaves
 * leftovers, which the next prune deletes), then the leftovers the view found, the summary documents
 * of pruned blocks, (5) the older records. A dry run says each summarised block at once
 * (ARCHIVE_PRUNE_REMOVE_BLOCK) without reading its chunk. The view is not updated: open it again. */
int archivePruneOverView(Archive *a, ArchiveView *v, uint64_t firstSeq, const char *reason, bool dryRun,
                     ArchivePruneStepFn *step, void *data, Err *err);
/* archivePruneOverView() next to a running agent, which compacts the index concurrently: an index
 * chunk read from one listing may be gone a moment later (replaced by a wider one). Every step of
 * a prune can be repeated, so on ERR_NOTFOUND *v is opened again (ARCHIVE_LOAD_DISCOVER) and the
 * prune goes on, a few times. *v stays the caller's. */
int archivePruneOverViewRetrying(Archive *a, ArchiveView **v, uint64_t firstSeq, const char *reason, bool dryRun,
                             ArchivePruneStepFn *step, void *data, Err *err);

#endif
