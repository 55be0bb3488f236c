/*
 * Fetching: an archived range written back out as ordinary binlog files, named as on the server.
 * Each file starts with the binlog magic and its FORMAT_DESCRIPTION event (in-use flag clear),
 * followed by the archived bytes of the range, byte-identical to the server's file over that
 * range. The range is cut at transaction boundaries: from the start of the transaction that holds
 * the from point, through the end of the transaction that holds (or ends at) the until point.
 * Every segment read is verified through every layer, its object SHA-256 against the index
 * included; nothing is left in the directory unless the whole range verified. What
 * `binvault fetch` does.
 */
#ifndef BV_ARCHIVE_FETCH_H
#define BV_ARCHIVE_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/catalog.h"

typedef enum ArchiveFetchPointType {
    ARCHIVE_FETCH_NONE = 0, /* the archive's first (from) or last (until) segment */
    ARCHIVE_FETCH_GTID,     /* the transaction of a GTID (MariaDB d-s-n: the first of domain d with a
                             * sequence number of at least n) */
    ARCHIVE_FETCH_POSITION, /* from: the transaction, or event outside any, holding the byte at
                             * file:pos; until: every event that starts before it, and the rest of
                             * its transaction */
} ArchiveFetchPointType;

typedef struct ArchiveFetchPoint {
    ArchiveFetchPointType type;
    const char *gtid;
    char file[SEGMENT_FILE_MAX];
    uint64_t pos;
} ArchiveFetchPoint;

/* A range located in a catalog. */
typedef struct ArchiveFetchRange {
    ArchiveFetchPoint from, until;
    size_t first, last; /* catalog indexes of the segments holding the from and until points */
} ArchiveFetchRange;

typedef struct ArchiveFetchResult {
    char **paths;       /* the files written, in order */
    size_t fileCount;
    uint64_t events, transactions, bytes;
    uint64_t startPos;   /* where the range starts in the first segment's file */
    const char *endFile; /* where its last event ends (points into the catalog) */
    uint64_t endPos;
} ArchiveFetchResult;

/* The segments holding the from and until points of a non-empty catalog. ERR_NOTFOUND for a
 * point outside the archive (prefixed "from" / "until"), ERR_USAGE for a from point after the
 * until point, ERR_GAP for a range that crosses a gap. */
int archiveFetchLocate(const ArchiveCatalog *c, const ArchiveFetchPoint *from, const ArchiveFetchPoint *until,
                       ArchiveFetchRange *range, Err *err);
/* Write the range into `dir` (created if needed; existing files are never overwritten:
 * ERR_EXISTS). On failure nothing this call created is left. Free with
 * archiveFetchResultClear(). */
int archiveFetchWrite(Archive *a, const ArchiveCatalog *c, const ArchiveFetchRange *range, const char *dir,
                      ArchiveFetchResult *res, Err *err);
void archiveFetchResultClear(ArchiveFetchResult *res);

#endif
