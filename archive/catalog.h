/*
 * The catalog. Two ways to read it:
 * - ArchiveView (format 2, below): the catalog opened by range. Opening reads the catalog/
 *   summaries and the tail (what no summary covers yet); lookups read O(1) block chunks; a cursor
 *   streams a seq range block by block. Memory follows the range asked for, not the archive.
 * - ArchiveCatalog: an archive's index loaded into memory, the ordered list of SegmentMeta with the
 * questions the agent (resume, checkpoint), recovery (planning) and status ask of it; continuity.h,
 * lookup.h, backup.h and prune.h ask the rest.
 *
 * Every catalog question is answered from the index alone: no segment is read. Only
 * archiveCatalogLoad() with ARCHIVE_LOAD_DISCOVER reads segment trailers, of segments that no
 * index chunk describes yet. Memory: a catalog holds one SegmentMeta per segment (about 1.3 KiB
 * plus its GTID states); an index chunk is read whole (at most ARCHIVE_CHUNK_MAX_BYTES). A catalog
 * is not synchronised: one thread at a time.
 */
#ifndef BV_ARCHIVE_CATALOG_H
#define BV_ARCHIVE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"

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
 * ARCHIVE_LOAD_DISCOVER, a stored segment that no chunk names and whose trailer cannot be read, and
 * any object whose name is not a segment's, is a problem (archiveCatalogProblem()) in either mode:
 * it is not part of the archive. Stored segments below the first seq are not read: they are leftovers of
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

void archiveCatalogFree(ArchiveCatalog *c);

/* ---- the catalog opened by range (catalog_view.c) ----
 *
 * A view holds: the prune state (first seq), the accepted-gap records, one ArchiveSpan per block
 * that a summary line describes (about 450 bytes per 1024 segments, 1 KiB more for a block with 64
 * breaks: 15 MiB for a year of 1 s segments), and the *tail*: the segments after
 * the last summarised block (at most a block, plus what is not indexed yet), found by listing
 * index/ (and segments/ with ARCHIVE_LOAD_DISCOVER) *after* the last summarised block's names, not
 * from the start. The first kept block, when a prune cut it (the prune chunk [K, end of block]), is
 * read from its chunks the same way (the "head").
 * An archive without summaries (format 1 not upgraded yet, or a block whose summary a crash left
 * unwritten) has its unsummarised blocks in the tail: correct, only slower, until a writer (or
 * `binvault upgrade`) summarises them. Not synchronised: one thread at a time. */
typedef struct ArchiveView ArchiveView;
/* Defined in summary.h, prune.h and continuity.h (which include this header). */
typedef struct ArchiveSpan ArchiveSpan;
typedef struct ArchivePruneRecord ArchivePruneRecord;
typedef struct ArchiveGap ArchiveGap;

/* Open the catalog: list catalog/, prune/ and gaps/, read the level-1 documents (per group of
 * blocks, the one reaching furthest: a crash leaves overlap), then the head and the tail as
 * archiveCatalogLoad() loads their seqs, with the same flags (ARCHIVE_LOAD_DISCOVER: the segments not indexed yet, and leftovers of
 * a prune; ARCHIVE_LOAD_TOLERANT: an unreadable summary, chunk or trailer is a problem, not a
 * failure; a summary that cannot be read makes its blocks part of the tail). Unlike
 * archiveCatalogLoad(), a prune record past the end of the index is not second-guessed: a prune
 * never writes one. A format-1 archive is read whole, into the tail. */
ArchiveView *archiveViewOpen(Archive *a, unsigned flags, Err *err);

/* The first seq (1, or that of the newest prune record) and the highest seq known (0: empty). */
uint64_t archiveViewFirstSeq(const ArchiveView *v);
uint64_t archiveViewLastSeq(const ArchiveView *v);
/* Highest seq such that every segment from the first seq to it is indexed (0: none): what a
 * checkpoint may claim. */
uint64_t archiveViewContiguousSeq(const ArchiveView *v);
/* The flavour of the archived binlogs; UNKNOWN when empty. */
BinlogFlavour archiveViewFlavour(const ArchiveView *v);
/* Segments, transactions, object bytes and content bytes of the whole archive (kept seqs), from
 * the summaries and the tail. Any pointer may be NULL. */
void archiveViewTotals(const ArchiveView *v, uint64_t *segments, uint64_t *transactions, uint64_t *objectBytes,
                       uint64_t *contentBytes);
/* The newest prune record, NULL when the archive was never pruned. */
const ArchivePruneRecord *archiveViewPrune(const ArchiveView *v);
/* Problems the open noticed (as archiveCatalogProblem()). */
size_t archiveViewProblemCount(const ArchiveView *v);
const char *archiveViewProblem(const ArchiveView *v, size_t i);

/* The summarised blocks in seq order, after the first kept block when a prune cut it (that block,
 * the "head", is read from its chunks: archiveViewCursor() and archiveViewLoadRange() include it):
 * what `list` and `status` print per range without reading any chunk. */
size_t archiveViewSpanCount(const ArchiveView *v);
const ArchiveSpan *archiveViewSpanAt(const ArchiveView *v, size_t i);
/* The tail: the segments after the last summarised block (the whole archive when nothing is
 * summarised), as a catalog: entries indexed or not, listed (ARCHIVE_LOAD_DISCOVER), leftovers of
 * an interrupted prune, problems, the prune and gap records. Owned by the view. */
const ArchiveCatalog *archiveViewTail(const ArchiveView *v);

/* The metadata of segment `seq` (reads at most one block chunk). ERR_NOTFOUND when the archive
 * does not hold it. `out` is overwritten; segmentMetaClear() it. */
int archiveViewGet(ArchiveView *v, uint64_t seq, SegmentMeta *out, Err *err);
/* Lookups, as archiveCatalogFindGtid(), archiveCatalogFindPosition() and archiveCatalogFindTime()
 * (lookup.h) with the same rules and errors, answering a seq: the summaries say which block, and
 * only that block's chunk is read. A time target is exact when commit times go backwards: the
 * first block whose max commit time passes the target is the one read. */
int archiveViewFindGtid(ArchiveView *v, const char *gtid, uint64_t *seq, Err *err);
int archiveViewFindPosition(ArchiveView *v, const char *file, uint64_t pos, uint64_t *seq, Err *err);
int archiveViewFindTime(ArchiveView *v, uint64_t timeUs, bool exclusive, uint64_t *seq, Err *err);

/* A catalog of the kept segments first..last (clamped to the archive), with the prune state and
 * the gap records of that range: every catalog function (continuity.h, lookup.h, prune.h) works on
 * it. Memory is that of last - first + 1 entries: for small ranges (the last hour, a window's
 * edges); stream larger ones with a cursor. */
ArchiveCatalog *archiveViewLoadRange(ArchiveView *v, uint64_t first, uint64_t last, Err *err);

/* The continuity breaks of the whole archive, in seq order, from the summaries' breaks and the
 * tail, each loaded from its two segments to say its kind and message (continuity.h); *gaps
 * (bvFree(); NULL when none). The restorable window starts after the last one. */
int archiveViewGaps(ArchiveView *v, ArchiveGap **gaps, size_t *n, Err *err);

/* A cursor over the segments firstSeq..lastSeq (clamped to the archive) in seq order, holding one
 * block's entries at a time: what verify, log and a recovery plan over a long range read. */
typedef struct ArchiveCursor ArchiveCursor;

ArchiveCursor *archiveViewCursor(ArchiveView *v, uint64_t firstSeq, uint64_t lastSeq, Err *err);
/* 1 and the next segment (valid until the next call; `indexed` may be NULL), 0 at the end, -1 when
 * a block chunk cannot be read (ERR_FORMAT / ERR_STORAGE naming the chunk). Missing seqs are
 * skipped. */
int archiveCursorNext(ArchiveCursor *cur, const SegmentMeta **meta, bool *indexed, Err *err);
void archiveCursorFree(ArchiveCursor *cur);

void archiveViewFree(ArchiveView *v);

#endif
