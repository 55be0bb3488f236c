/*
 * The archive catalog (docs/FORMAT.md): an Archive wraps a Storage and knows the archive's
 * objects - identity (binvault.json), segments, index chunks, checkpoint.json - and an
 * ArchiveCatalog is the archive's index loaded into memory: the ordered list of SegmentMeta with
 * the questions the agent (resume, checkpoint), recovery (planning) and status ask of it.
 *
 * Every catalog question (continuity, windows, which segment holds a time / GTID / position) is
 * answered from the index alone: no segment is read. Only archiveCatalogLoad() with
 * ARCHIVE_LOAD_DISCOVER reads segment trailers, of segments that no index chunk describes yet.
 *
 * Errors name the object and the store. Memory: a catalog holds one SegmentMeta per segment
 * (about 1.3 KiB plus its GTID states); an index chunk is read whole (at most
 * ARCHIVE_CHUNK_MAX_BYTES); segments are only streamed. An Archive holds no mutable state; a
 * catalog is not synchronised: one thread at a time.
 */
#ifndef BV_ARCHIVE_ARCHIVE_H
#define BV_ARCHIVE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/segment.h"
#include "common/err.h"
#include "storage/storage.h"

#define ARCHIVE_FORMAT_NAME "binvault-archive"
#define ARCHIVE_FORMAT_VERSION 1
#define ARCHIVE_IDENTITY_OBJECT "binvault.json"
#define ARCHIVE_CHECKPOINT_OBJECT "checkpoint.json"
#define ARCHIVE_SEGMENT_PREFIX "segments/"
#define ARCHIVE_INDEX_PREFIX "index/"
#define ARCHIVE_PRUNE_PREFIX "prune/"
/* Largest binvault.json / checkpoint.json read. */
#define ARCHIVE_DOC_MAX (1024 * 1024)
/* Largest index chunk object read. */
#define ARCHIVE_CHUNK_MAX_BYTES (256u * 1024 * 1024)
/* archiveIndexMerge() merges adjacent chunks narrower than this into chunks of at most this many
 * segments. */
#define ARCHIVE_CHUNK_TARGET 1024

/* ---- the archive and its objects ------------------------------------------------------------- */

typedef struct Archive Archive;

/* binvault.json. */
typedef struct ArchiveIdentity {
    BinlogFlavour flavour;
    uint32_t serverId;
    char serverUuid[37];
    char serverVersion[51];
    char source[256]; /* where the binlogs come from: "host:port", "import" */
    char created[32]; /* ISO-8601 UTC, set when the identity is written */
} ArchiveIdentity;

/* checkpoint.json. */
typedef struct ArchiveCheckpoint {
    uint64_t seq; /* every segment 1..seq is stored and indexed; 0: none */
    char file[SEGMENT_FILE_MAX];
    uint64_t endPos;
    char *gtidEnd; /* allocated; "" when unknown */
    char lastGtid[BINLOG_TXN_GTID_MAX];
    uint64_t lastTimeUs;
    uint64_t caughtUpUs; /* 0 when never confirmed */
    char updated[32];    /* ISO-8601 UTC, set by archiveCheckpointWrite() */
} ArchiveCheckpoint;

/* An archive on `storage`, which the caller keeps and frees after the archive. */
Archive *archiveNew(Storage *storage);
Storage *archiveStorage(const Archive *a);
const char *archiveUrl(const Archive *a);

/* Read binvault.json. ERR_NOTFOUND when the archive has none (empty or not an archive),
 * ERR_FORMAT for a document that is not an archive identity or of an unknown format version. */
int archiveIdentityRead(Archive *a, ArchiveIdentity *id, Err *err);
/* Parse the text of a binvault.json (`len` bytes, any content): what archiveIdentityRead() does
 * with the object, without naming it in messages. ERR_FORMAT. */
int archiveIdentityParse(const char *text, size_t len, ArchiveIdentity *id, Err *err);
/* The identity of an archive about to receive binlogs of `source`: read it, or write it (created
 * = now) when the archive has none. A stored identity of another flavour is refused (ERR_CONFIG,
 * naming both). *stored (may be NULL) receives what the archive holds. */
int archiveIdentityEnsure(Archive *a, const ArchiveIdentity *source, ArchiveIdentity *stored, Err *err);

/* Store a sealed segment file (segmentWriterSeal()) under meta->name. The file is read once to
 * compute what the store checks (size, SHA-256, MD5); a file that no longer matches meta->size /
 * meta->sha256 is refused (ERR_CHECKSUM). Storing an identical segment again is a no-op. */
int archiveSegmentPut(Archive *a, const char *localPath, const SegmentMeta *meta, Err *err);
/* Read the trailer of the stored segment `name` of `size` bytes (ranged reads). */
int archiveSegmentReadMeta(Archive *a, const char *name, uint64_t size, SegmentMeta *meta, Err *err);
/* Stream a stored segment, verifying every layer (segmentReaderNew()). meta->name and meta->size
 * say which object; after the verified end, compare segmentReaderSha256() with meta->sha256. */
SegmentReader *archiveSegmentOpen(Archive *a, const SegmentMeta *meta, Err *err);
/* Read a whole stored segment through the verifying reader and set meta->sha256 (and check
 * meta->size): what indexing a segment found in the store needs. */
int archiveSegmentHash(Archive *a, SegmentMeta *meta, Err *err);

/* Index chunk names: index/<first>-<last>.bvi (16-digit numbers). Parse: -1 when not one. */
void archiveChunkName(uint64_t first, uint64_t last, char *out, size_t size);
int archiveChunkNameParse(const char *name, uint64_t *first, uint64_t *last);

/* Parse the lines of an index chunk of seqs first..last (`len` bytes, any content): exactly one
 * valid index line per seq, in order. *metas (n entries; free each with segmentMetaClear() and
 * the array with bvFree()) on success; messages name the line. ERR_FORMAT. */
int archiveChunkParse(const uint8_t *data, size_t len, uint64_t first, uint64_t last, SegmentMeta **metas, size_t *n,
                      Err *err);

/* checkpoint.json: read (ERR_NOTFOUND when absent) and replace (updated = now). */
int archiveCheckpointRead(Archive *a, ArchiveCheckpoint *cp, Err *err);
/* Parse the text of a checkpoint.json (`len` bytes, any content). ERR_FORMAT. Free with
 * archiveCheckpointClear(). */
int archiveCheckpointParse(const char *text, size_t len, ArchiveCheckpoint *cp, Err *err);
int archiveCheckpointWrite(Archive *a, const ArchiveCheckpoint *cp, Err *err);
void archiveCheckpointClear(ArchiveCheckpoint *cp); /* frees gtidEnd */

/* ---- the catalog ------------------------------------------------------------------------------ */

typedef struct ArchiveCatalog ArchiveCatalog;

/* archiveCatalogLoad() flags. */
#define ARCHIVE_LOAD_DISCOVER 0x1 /* also list segments/: read the trailers of segments that no chunk
                                   * describes (entries not indexed), and record for every entry
                                   * whether its object is there (archiveCatalogListed()) */
#define ARCHIVE_LOAD_TOLERANT 0x2 /* a chunk or trailer that cannot be read or parsed is a problem
                                   * noted in the catalog (archiveCatalogProblem()), not a failure */

/* Load the index: list index/, then prune/ (the newest prune record sets the first seq: seqs below
 * it are pruned and ignored, FORMAT.md "Pruning"), read for each seq the widest chunk that covers
 * it (a chunk wholly covered by wider ones is not read; a chunk that reaches into pruned seqs
 * counts for its kept seqs only and loses ties), check every line (seq order and range, name,
 * metadata), and note overlapping chunks that disagree. Without ARCHIVE_LOAD_TOLERANT an
 * unreadable chunk or prune record fails the load (ERR_FORMAT naming the object and line). With
 * ARCHIVE_LOAD_DISCOVER, stored segments below the first seq are not read: they are leftovers of
 * a prune that did not finish (archiveCatalogLeftover()). An object listed but gone when read (a
 * merge or a prune ran meanwhile) makes it list and load again, a few times. */
ArchiveCatalog *archiveCatalogLoad(Archive *a, unsigned flags, Err *err);
/* An empty catalog, to fill with archiveCatalogAdd() (the agent's view of what it stored). */
ArchiveCatalog *archiveCatalogNew(void);
/* Add a copy of a segment's metadata. A seq already present is refused (ERR_EXISTS) unless the
 * entry describes the same object (same name and, when both are known, sha256), in which case it
 * is only marked indexed when `indexed`. */
int archiveCatalogAdd(ArchiveCatalog *c, const SegmentMeta *meta, bool indexed, Err *err);

/* Segments in seq order. */
size_t archiveCatalogCount(const ArchiveCatalog *c);
const SegmentMeta *archiveCatalogAt(const ArchiveCatalog *c, size_t i);
/* Whether entry i is described by an index chunk (false: found in segments/ only). */
bool archiveCatalogIndexed(const ArchiveCatalog *c, size_t i);
/* After a load with ARCHIVE_LOAD_DISCOVER: whether entry i's object is in the store, and its size
 * there (*size may be NULL). Always true (with the indexed size) otherwise. */
bool archiveCatalogListed(const ArchiveCatalog *c, size_t i, uint64_t *size);
/* The entry of `seq`: true and *idx, or false. */
bool archiveCatalogFind(const ArchiveCatalog *c, uint64_t seq, size_t *idx);
/* The entry with the highest seq, NULL when empty. */
const SegmentMeta *archiveCatalogLast(const ArchiveCatalog *c);
/* Flavour of the archived binlogs (of the first segment); UNKNOWN when empty. */
BinlogFlavour archiveCatalogFlavour(const ArchiveCatalog *c);
/* Highest seq such that every segment first..seq is in the catalog and indexed, first being
 * archiveCatalogFirstSeq(); 0 when none. */
uint64_t archiveCatalogContiguousSeq(const ArchiveCatalog *c);
/* The seq the archive starts at: 1, or the first kept seq of its newest prune record. */
uint64_t archiveCatalogFirstSeq(const ArchiveCatalog *c);
/* After a load with ARCHIVE_LOAD_DISCOVER: segments below the first seq still in the store (a
 * prune was interrupted; the next one deletes them), their names and sizes. */
size_t archiveCatalogLeftoverCount(const ArchiveCatalog *c);
const char *archiveCatalogLeftover(const ArchiveCatalog *c, size_t i, uint64_t *size);
/* Sum of the object sizes and of the content lengths. */
void archiveCatalogTotals(const ArchiveCatalog *c, uint64_t *objectBytes, uint64_t *contentBytes);

/* What the load noticed that belongs to no entry: unreadable chunks or trailers (tolerant load),
 * chunks that disagree, unexpected objects in index/ or segments/ (discover). Each is one message
 * naming the objects. */
size_t archiveCatalogProblemCount(const ArchiveCatalog *c);
const char *archiveCatalogProblem(const ArchiveCatalog *c, size_t i);

/* Index chunks the load found: [first, last] and whether any seq was taken from it (false: it is
 * wholly covered by wider chunks and only waits for deletion). */
size_t archiveCatalogChunkCount(const ArchiveCatalog *c);
void archiveCatalogChunkAt(const ArchiveCatalog *c, size_t i, uint64_t *first, uint64_t *last, bool *used);

/* ---- continuity (FORMAT.md "Continuity") ---------------------------------------------------- */

typedef enum ArchiveGapKind {
    ARCHIVE_GAP_MISSING = 0, /* seq numbers missing (after the first seq, before the first segment,
                              * or between two) */
    ARCHIVE_GAP_POSITION,    /* same file, but b does not start where a ends */
    ARCHIVE_GAP_FILE,        /* b is in an earlier file, or in a later one but not at its start */
    ARCHIVE_GAP_GTID,        /* b.gtid_start differs from a.gtid_end */
    ARCHIVE_GAP_FLAVOUR,     /* a and b come from servers of different flavours */
} ArchiveGapKind;

typedef struct ArchiveGap {
    ArchiveGapKind kind;
    uint64_t afterSeq;  /* the segment before the break; 0 before the first */
    uint64_t beforeSeq; /* the segment after it */
    char message[1024]; /* e.g. "seq 5-7 missing between 'segments/...' (ends at
                         * mariadb-bin.000002:1234) and 'segments/...'" */
} ArchiveGap;

/* Check every pair of consecutive entries; *gaps (bvFree() it; NULL when none) receives one
 * ArchiveGap per break, in seq order (a pair may break several rules: each is reported). */
size_t archiveCatalogGaps(const ArchiveCatalog *c, ArchiveGap **gaps);

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

/* Short stable name of a gap kind ("missing", "position", "file", "gtid", "flavour"). */
const char *archiveGapKindName(ArchiveGapKind kind);

/* The continuous runs in seq order (split at every gap); *windows bvFree()d by the caller. Pointers
 * refer to the catalog. */
size_t archiveCatalogWindows(const ArchiveCatalog *c, ArchiveWindow **windows);
/* The restorable window: the run that ends with the last segment. ERR_NOTFOUND when empty. */
int archiveCatalogWindow(const ArchiveCatalog *c, ArchiveWindow *window, Err *err);
/* A window as a JSON object: first_seq, last_seq, from_file, from_pos, gtid_start, to_file, to_pos,
 * gtid_end, first_gtid, last_gtid, first_time_us, last_time_us, transactions. */
void archiveWindowToJson(const ArchiveWindow *w, Buf *out);

/* ---- lookups --------------------------------------------------------------------------------- */

/* The segment holding the transaction of `gtid` (MariaDB `d-s-n`: the first transaction of
 * domain d with a seq >= n; MySQL `uuid[:tag]:n`): the first segment whose gtid_end contains it
 * and whose gtid_start does not. ERR_NOTFOUND saying whether it is before the archive (already
 * in the first gtid_start), after it, or undecidable (segments without GTID state); ERR_FORMAT
 * for a malformed gtid. */
int archiveCatalogFindGtid(const ArchiveCatalog *c, const char *gtid, size_t *idx, Err *err);
/* The segment holding the event at file:pos (start_pos <= pos < end_pos); a position in a
 * file's header (4 <= pos < start_pos of the file's first segment, when that segment starts at
 * the file's first event) maps to that segment. ERR_NOTFOUND naming the archived range of the
 * file, or saying the file is not archived. */
int archiveCatalogFindPosition(const ArchiveCatalog *c, const char *file, uint64_t pos, size_t *idx, Err *err);
/* The segment holding the last transaction committed at or before timeUs (microseconds since the
 * epoch): the last segment with transactions whose first_time_us <= timeUs. ERR_NOTFOUND when
 * timeUs is before the first or after the last archived commit. */
int archiveCatalogFindTime(const ArchiveCatalog *c, uint64_t timeUs, size_t *idx, Err *err);

/* ---- GTID states ---------------------------------------------------------------------------- */

/* Whether `state` (a MariaDB position `0-1-100,1-2-7` or a MySQL set) includes every transaction
 * of `target` (a single GTID, or a position / set). ERR_FORMAT for malformed text. */
int archiveGtidReached(BinlogFlavour flavour, const char *state, const char *target, bool *reached, Err *err);
/* Whether two states are the same (MariaDB: same GTID per domain; MySQL: same set). */
int archiveGtidStateEqual(BinlogFlavour flavour, const char *a, const char *b, bool *equal, Err *err);

/* ---- writing the index ----------------------------------------------------------------------- */

/* Write the chunk index/<first>-<last>.bvi for `n` segments of consecutive seqs, all stored and
 * with sha256 known. With `c`, the segments are added to it (or marked indexed) and the chunk
 * recorded. */
int archiveIndexPut(Archive *a, ArchiveCatalog *c, const SegmentMeta *metas, size_t n, Err *err);
/* Index the catalog's entries that no chunk describes (found by ARCHIVE_LOAD_DISCOVER): read each
 * through the verifying reader for its sha256, then write one chunk per run of consecutive seqs.
 * *indexed (may be NULL) receives the number of segments indexed. */
int archiveIndexDiscovered(Archive *a, ArchiveCatalog *c, size_t *indexed, Err *err);
/* Compact the index: write one chunk for each run of adjacent chunks narrower than
 * ARCHIVE_CHUNK_TARGET (at most that wide, lines copied byte for byte), then delete the chunks it
 * replaces and the chunks wholly covered by wider ones. A crash in between leaves overlapping,
 * never missing, coverage. *written / *removed (may be NULL) receive the counts. */
int archiveIndexMerge(Archive *a, ArchiveCatalog *c, size_t *written, size_t *removed, Err *err);

/* The checkpoint the catalog supports: seq = archiveCatalogContiguousSeq(), and the file, end
 * position, GTID state and last transaction of that segment (all zero / "" when seq is 0).
 * caughtUpUs is left 0. Free with archiveCheckpointClear(). */
void archiveCheckpointFromCatalog(const ArchiveCatalog *c, ArchiveCheckpoint *cp);

/* ---- retention (FORMAT.md "Pruning") -------------------------------------------------------- */

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

/* Where replay from a base backup starts: its binlog file, position and GTID state. */
typedef struct ArchiveBasePoint {
    char file[SEGMENT_FILE_MAX];
    uint64_t pos;
    char *gtid; /* allocated; "" when the backup recorded none */
} ArchiveBasePoint;

/* Parse a mariadb-backup / xtrabackup binlog info file (xtrabackup_binlog_info,
 * mariadb_backup_binlog_info): `FILE<TAB>POS[<TAB>GTID]`, a MySQL GTID set possibly continued on
 * the next lines. ERR_FORMAT for anything else. Free with archiveBasePointClear(). */
int archiveBasePointParse(const char *text, size_t len, ArchiveBasePoint *bp, Err *err);
void archiveBasePointClear(ArchiveBasePoint *bp);
/* The lowest seq that replay from the base backup may read: the lower of the first segment
 * holding bytes at or after its file:pos (binlog files of the archive's series only) and the
 * first segment that ends with a transaction its GTID state lacks (or whose state is unknown).
 * UINT64_MAX when the archive holds nothing it needs (the backup is newer than the archive).
 * ERR_NOTFOUND when it can be placed neither way; ERR_FORMAT for a malformed GTID state. */
int archiveBaseNeededSeq(const ArchiveCatalog *c, const ArchiveBasePoint *bp, uint64_t *seq, Err *err);

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

typedef enum ArchivePruneAction {
    ARCHIVE_PRUNE_WRITE_RECORD = 0, /* prune/<seq>.json stored */
    ARCHIVE_PRUNE_WRITE_CHUNK,      /* a chunk of the kept lines of one that reaches into pruned seqs */
    ARCHIVE_PRUNE_REMOVE_CHUNK,
    ARCHIVE_PRUNE_REMOVE_SEGMENT,
    ARCHIVE_PRUNE_REMOVE_RECORD,    /* an older prune record */
} ArchivePruneAction;

/* Called after each object stored or removed (before it, with dryRun), with its size when known;
 * returning -1 stops the prune with that error. */
typedef int ArchivePruneStepFn(void *data, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err);

/* Delete every segment below firstSeq (an indexed segment of the catalog, or the current first
 * seq to finish an interrupted prune), in an order that leaves a consistent archive after a crash
 * at any point: (1) store prune/<firstSeq>.json, (2) write the kept lines of every chunk that
 * reaches below firstSeq as a chunk starting at firstSeq (unless chunks already cover them),
 * (3) delete the chunks that reach below firstSeq, (4) delete the segments below firstSeq, oldest
 * first, those the catalog's load found left over included, (5) delete older prune records.
 * `reason` is recorded. The catalog (loaded with ARCHIVE_LOAD_DISCOVER) is updated. With dryRun
 * nothing changes: `step` is called with what would be done. */
int archivePrune(Archive *a, ArchiveCatalog *c, uint64_t firstSeq, const char *reason, bool dryRun,
                 ArchivePruneStepFn *step, void *data, Err *err);

void archiveCatalogFree(ArchiveCatalog *c);
void archiveFree(Archive *a);

#endif
