/*
 * The catalog: an archive's index loaded into memory, the ordered list of SegmentMeta with the
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

#endif
