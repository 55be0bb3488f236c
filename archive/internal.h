/*
 * Declarations shared by the files of archive/ and by nothing else: the layout of an Archive and
 * of an ArchiveCatalog (loaded by catalog.c, extended by index.c, cut by prune.c), and the small
 * helpers those files have in common. Callers outside archive/ use the public headers.
 */
#ifndef BV_ARCHIVE_INTERNAL_H
#define BV_ARCHIVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/gap.h"
#include "archive/prune.h"
#include "common/buf.h"
#include "common/json.h"

struct Archive {
    Storage *storage;
    bool namingKnown; /* `naming` read from binvault.json (archiveIdentityRead()) */
    SegmentNaming naming;
};

typedef struct CatalogEntry {
    SegmentMeta meta;
    bool indexed;
    bool listed; /* seen in the listing of segments/ (ARCHIVE_LOAD_DISCOVER) */
    uint64_t listedSize;
    size_t order; /* load order: among duplicates, the first came from the widest chunk */
} CatalogEntry;

typedef struct CatalogChunk {
    uint64_t first, last;
    bool used;
} CatalogChunk;

struct ArchiveCatalog {
    bool discovered; /* loaded with ARCHIVE_LOAD_DISCOVER: `listed` is meaningful */
    bool timelineView; /* holds one timeline's path only (archiveCatalogFollowTimeline()) */
    uint64_t firstSeq; /* 1, or the first kept seq of the newest prune record */
    uint64_t *pruneRecords; /* first seqs of the prune records found, in listing order */
    ArchivePruneRecord prune; /* the newest prune record, when `pruned` */
    bool pruned;
    size_t pruneRecordCount, pruneRecordCap;
    ArchiveGapRecord *gapRecords; /* accepted gaps after the first seq, by before seq */
    size_t gapRecordCount, gapRecordCap;
    char **leftovers; /* discover: segments below firstSeq still in the store */
    uint64_t *leftoverSizes;
    size_t leftoverCount, leftoverCap;
    CatalogEntry **entries; /* sorted by seq, unique */
    size_t count, cap;
    CatalogChunk *chunks;
    size_t chunkCount, chunkCap;
    char **problems;
    size_t problemCount, problemCap;
};

/* ---- helpers (archive.c) ---- */

/* "mariadb", "mysql" or "unknown". */
const char *archiveFlavourName(BinlogFlavour flavour);
/* A required member that is a number of at most 32 bits / an object (ERR_FORMAT naming it). */
int archiveJsonReqU32(const JsonValue *obj, const char *key, uint32_t *out, Err *err);
const JsonValue *archiveJsonReqObject(const JsonValue *obj, const char *key, Err *err);
/* Store an immutable document (`doc`, its whole text) under `name`: 0 stored (or the same bytes
 * were there), 1 when another document is there (*existing, bvFree() it, holds its *len bytes:
 * the caller decides whether it is the same record), -1 on an error. */
int archiveDocPutOnce(Archive *a, const char *name, const Buf *doc, uint8_t **existing, size_t *len, Err *err);
/* Append ,"key":"value" (escaped) to a JSON object being written. */
void archiveJsonPutStr(Buf *out, const char *key, const char *value);
/* A document's text as a JSON object (ERR_FORMAT otherwise); jsonFree() it. */
JsonValue *archiveDocParse(const char *text, size_t len, Err *err);
/* archiveDocParse() of a document with a required `version` this binvault writes (ERR_FORMAT
 * "WHAT version N is not supported" otherwise). */
JsonValue *archiveDocParseVersion(const char *text, size_t len, const char *what, Err *err);
/* The n decimal digits at p as a number: false when one is not a digit. */
bool archiveDigits(const char *p, size_t n, uint64_t *out);

/* ---- the catalog's entries and chunks (catalog.c) ---- */

/* Note a problem of the load (archiveCatalogProblem()). */
void archiveCatalogNote(ArchiveCatalog *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Index of the first entry with seq >= `seq`. */
size_t archiveCatalogLowerBound(const ArchiveCatalog *c, uint64_t seq);
/* Room for one more entry. */
void archiveCatalogReserve(ArchiveCatalog *c);
CatalogEntry *archiveEntryNew(const SegmentMeta *meta, bool indexed, size_t order);
void archiveEntryFree(CatalogEntry *e);
/* Same object: same name and, when both know it, same sha256 and size. */
bool archiveSameObject(const SegmentMeta *a, const SegmentMeta *b);
/* Record the chunk [first, last] (used: some seq was taken from it); forget one. */
void archiveCatalogChunkAdd(ArchiveCatalog *c, uint64_t first, uint64_t last, bool used);
void archiveCatalogChunkRemove(ArchiveCatalog *c, uint64_t first, uint64_t last);
/* Clear n metas and free the array. */
void archiveMetasFree(SegmentMeta *metas, size_t n);

/* Read the prune records and gap records into `c` (firstSeq, prune, gap records), as
 * archiveCatalogLoad() does; maxLast is the highest seq the index describes (a prune record past it
 * is ignored). ERR_NOTFOUND when a record vanished while read (load again). */
int archiveCatalogLoadState(Archive *a, ArchiveCatalog *c, uint64_t maxLast, unsigned flags, Err *err);
/* Load into `c` (its prune state set) the seqs from..to (to may be UINT64_MAX): list index/ from the
 * chunks that start at `listFrom` (<= from) on, and with ARCHIVE_LOAD_DISCOVER segments/ from `from`
 * on, stopping past `to`; read the chunks that hold seqs of the range. A chunk that starts before
 * listFrom is not seen: listFrom is 1 in a format-1 archive, the first seq of from's block in format
 * 2 (where no chunk spans two blocks). *vanished: an object was gone when read (load again). */
int archiveCatalogLoadSeqs(Archive *a, ArchiveCatalog *c, uint64_t listFrom, uint64_t from, uint64_t to,
                           unsigned flags, bool *vanished, Err *err);

/* ---- lookups (lookup.c) ---- */

/* Whether the first transaction committed after timeUs (at or after it when `exclusive`) is in an
 * archive whose commits (`any`: there are some) start at firstUs, in binlog order, and reach maxUs
 * at the latest: 0, or ERR_NOTFOUND saying it is before or after the archive. */
int archiveTimeInRange(uint64_t timeUs, bool exclusive, bool any, uint64_t firstUs, uint64_t maxUs, Err *err);

/* Seqs covered by a set of chunks: sorted, disjoint, not adjacent intervals. */
typedef struct Interval {
    uint64_t first, last;
} Interval;

typedef struct Coverage {
    Interval *iv;
    size_t n, cap;
} Coverage;

/* Whether one interval holds all of [first, last]; add [first, last]. bvFree(cov->iv) at the end. */
bool archiveCoverageHas(const Coverage *cov, uint64_t first, uint64_t last);
void archiveCoverageAdd(Coverage *cov, uint64_t first, uint64_t last);

/* ---- index chunks (index.c) ---- */

/* Parse a name <prefix><16 digits>-<16 digits><suffix> with 1 <= first <= last; -1 when not one. */
int archiveRangeNameParse(const char *name, const char *prefix, const char *suffix, uint64_t *first, uint64_t *last);

/* Append to `out`, byte for byte, the lines of the stored chunk [first, last] that describe seq
 * *expect, *expect + 1 ..., advancing *expect past each: what rewriting chunks (merge, prune)
 * copies. The caller checks that *expect reached the end it wants. */
int archiveChunkCopyLines(Archive *a, uint64_t first, uint64_t last, uint64_t *expect, Buf *out, Err *err);

#endif
