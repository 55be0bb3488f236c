/*
 * Continuity of a catalog (docs/FORMAT.md "Continuity"): the breaks between consecutive segments,
 * and the continuous runs between them (windows): what can be restored without a break.
 */
#ifndef BV_ARCHIVE_CONTINUITY_H
#define BV_ARCHIVE_CONTINUITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/catalog.h"
#include "common/buf.h"

typedef enum ArchiveGapKind {
    ARCHIVE_GAP_MISSING = 0, /* seq numbers missing (after the first seq, before the first segment,
                              * or between two) */
    ARCHIVE_GAP_POSITION,    /* same file, but b does not start where a ends */
    ARCHIVE_GAP_FILE,        /* b is in an earlier file, or in a later one but not at its start */
    ARCHIVE_GAP_GTID,        /* b.gtid_start differs from a.gtid_end */
    ARCHIVE_GAP_FLAVOUR,     /* a and b come from servers of different flavours */
    ARCHIVE_GAP_ACCEPTED,    /* a gap record (gaps/<b>.json, archive/gap.h) joins a and b: a gap
                              * accepted on purpose, not a problem, but still a break */
} ArchiveGapKind;

typedef struct ArchiveGap {
    ArchiveGapKind kind;
    uint64_t afterSeq;  /* the segment before the break; 0 before the first */
    uint64_t beforeSeq; /* the segment after it */
    bool accepted;      /* kind ARCHIVE_GAP_ACCEPTED: reported, not a problem; windows still
                         * split there and recovery never crosses it */
    char message[1024]; /* e.g. "seq 5-7 missing between 'segments/...' (ends at
                         * mariadb-bin.000002:1234) and 'segments/...'" */
} ArchiveGap;

/* Check every pair of consecutive entries; *gaps (bvFree() it; NULL when none) receives one
 * ArchiveGap per break, in seq order (a pair may break several rules: each is reported). A pair
 * that a gap record joins (its from matching where the first segment ends) is one accepted gap
 * and nothing else; a record that does not match is reported with the pair's breaks. */
size_t archiveCatalogGaps(const ArchiveCatalog *c, ArchiveGap **gaps);
/* Short stable name of a gap kind ("missing", "position", "file", "gtid", "flavour", "accepted"). */
const char *archiveGapKindName(ArchiveGapKind kind);

/* A continuous run of segments: what can be restored without a break. */
typedef struct ArchiveWindow {
    size_t first, last;         /* catalog indexes */
    const SegmentMeta *from;    /* first segment: from->file:from->startPos, from->gtidStart */
    const SegmentMeta *to;      /* last segment: to->file:to->endPos, to->gtidEnd */
    const char *firstGtid;      /* GTID of the first transaction ("" when none / anonymous) */
    const char *lastGtid;       /* GTID of the last transaction */
    uint64_t firstTimeUs;       /* commit time of the first transaction (0: no transaction) */
    uint64_t lastTimeUs;        /* commit time of the last transaction */
    uint64_t transactions;
} ArchiveWindow;

/* The continuous runs in seq order (split at every gap); *windows bvFree()d by the caller. Pointers
 * refer to the catalog. */
size_t archiveCatalogWindows(const ArchiveCatalog *c, ArchiveWindow **windows);
/* The restorable window: the run that ends with the last segment. ERR_NOTFOUND when empty. */
int archiveCatalogWindow(const ArchiveCatalog *c, ArchiveWindow *window, Err *err);
/* A window as a JSON object: first_seq, last_seq, from_file, from_pos, gtid_start, to_file, to_pos,
 * gtid_end, first_gtid, last_gtid, first_time_us, last_time_us, transactions. */
void archiveWindowToJson(const ArchiveWindow *w, Buf *out);

#endif
