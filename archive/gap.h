/*
 * Accepted gaps (docs/FORMAT.md "Accepted gaps"): gaps/<before seq>.json says that the break
 * between segments after_seq and before_seq was accepted on purpose (the source had purged what
 * came between, and the agent was told to go on with --accept-gap). Continuity reports the pair as
 * an accepted gap instead of a break (verify and list accept it), and recovery refuses to cross it.
 */
#ifndef BV_ARCHIVE_GAP_H
#define BV_ARCHIVE_GAP_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "common/buf.h"

#define ARCHIVE_GAP_PREFIX "gaps/"
/* Longest reason kept in a gap record, with its NUL. */
#define ARCHIVE_GAP_REASON_MAX 1024

/* One side of an accepted gap: a binlog position and the GTID state there ("" when unknown). */
typedef struct ArchiveGapPoint {
    char file[SEGMENT_FILE_MAX]; /* "" when the side is given by its GTID state only */
    uint64_t pos;
    char *gtidState; /* allocated */
} ArchiveGapPoint;

typedef struct ArchiveGapRecord {
    uint64_t afterSeq;   /* the last segment before the gap */
    uint64_t beforeSeq;  /* afterSeq + 1: the first segment after it */
    ArchiveGapPoint from; /* where segment afterSeq ends */
    ArchiveGapPoint to;   /* where the stream started again */
    char created[32];
    char reason[ARCHIVE_GAP_REASON_MAX]; /* "" when not recorded */
} ArchiveGapRecord;

/* Gap record names: gaps/<before seq, 16 digits>.json; parse: -1 when not one (or seq < 2). */
void archiveGapName(uint64_t beforeSeq, char *out, size_t size);
int archiveGapNameParse(const char *name, uint64_t *beforeSeq);
/* Parse a gap record's text (`len` bytes, any content). ERR_FORMAT naming the member. */
int archiveGapRecordParse(const char *text, size_t len, ArchiveGapRecord *rec, Err *err);
/* The record as its JSON document (FORMAT.md "Accepted gaps"), without a newline. */
void archiveGapRecordToJson(const ArchiveGapRecord *rec, Buf *out);
/* "from FILE:POS (gtid state G) to FILE:POS (gtid state G)", for messages. */
void archiveGapRecordDescribe(const ArchiveGapRecord *rec, char *out, size_t size);
/* Store rec (created is set now) as gaps/<beforeSeq>.json, immutable. A record already there for
 * the same pair and the same `to` is success (a start that crashed and is run again); another is
 * ERR_EXISTS naming both starts. */
int archiveGapRecordWrite(Archive *a, ArchiveGapRecord *rec, Err *err);
void archiveGapRecordClear(ArchiveGapRecord *rec);

/* The gap records of a loaded catalog (those of pruned seqs left out), by before seq. */
size_t archiveCatalogGapRecordCount(const ArchiveCatalog *c);
const ArchiveGapRecord *archiveCatalogGapRecordAt(const ArchiveCatalog *c, size_t i);
/* The record whose before seq is `beforeSeq`, NULL when none. */
const ArchiveGapRecord *archiveCatalogGapRecordFind(const ArchiveCatalog *c, uint64_t beforeSeq);

#endif
