/*
 * checkpoint.json (docs/FORMAT.md "Checkpoint"): how far the archive is complete and indexed, and
 * where its binlogs end.
 */
#ifndef BV_ARCHIVE_CHECKPOINT_H
#define BV_ARCHIVE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/catalog.h"

typedef struct ArchiveCheckpoint {
    uint64_t seq; /* every segment 1..seq is stored and indexed; 0: none */
    char file[SEGMENT_FILE_MAX];
    uint64_t endPos;
    char *gtidEnd; /* allocated; "" when unknown */
    char lastGtid[BINLOG_TXN_GTID_MAX];
    uint64_t lastTimeUs;
    uint64_t caughtUpUs; /* 0 when never confirmed */
    /* The agent's own clock when it last wrote the checkpoint while its stream from the source
     * was fresh (0: never, or an older writer). Unlike lastTimeUs, which is the binlog's and a
     * client can set to any value, it bounds what the archive-only RPO may claim. */
    uint64_t confirmedUs;
    char updated[32];    /* ISO-8601 UTC, set by archiveCheckpointWrite() */
    uint64_t updatedUs;  /* `updated` read back by archiveCheckpointParse() (0 when unreadable) */
} ArchiveCheckpoint;

/* checkpoint.json: read (ERR_NOTFOUND when absent) and replace (updated = now; confirmed_us is
 * written when not 0). */
int archiveCheckpointRead(Archive *a, ArchiveCheckpoint *cp, Err *err);
/* Parse the text of a checkpoint.json (`len` bytes, any content). ERR_FORMAT. Free with
 * archiveCheckpointClear(). */
int archiveCheckpointParse(const char *text, size_t len, ArchiveCheckpoint *cp, Err *err);
int archiveCheckpointWrite(Archive *a, const ArchiveCheckpoint *cp, Err *err);
/* The checkpoint the catalog supports: seq = archiveCatalogContiguousSeq(), and the file, end
 * position, GTID state and last transaction of that segment (all zero / "" when seq is 0).
 * caughtUpUs is left 0. Free with archiveCheckpointClear(). */
void archiveCheckpointFromCatalog(const ArchiveCatalog *c, ArchiveCheckpoint *cp);
/* The same from a view (catalog.h): seq = archiveViewContiguousSeq(), reading that segment's block
 * and, for the last transaction, the segments or summary lines before it. */
int archiveCheckpointFromView(ArchiveView *v, ArchiveCheckpoint *cp, Err *err);
void archiveCheckpointClear(ArchiveCheckpoint *cp); /* frees gtidEnd */

#endif
