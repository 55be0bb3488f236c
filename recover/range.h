/*
 * The segments of a long recovery plan, read through the catalog view (archive/catalog.h) one
 * block at a time: a plan whose range spans many blocks holds its seq range and at most two block
 * catalogs (the most recently used), whatever the range's length (docs/DESIGN.md "Recovery
 * planning per block"). Shared by the plan (recover/plan.h), the dry run's verification and the
 * replication source (recover/source.h), which reads it from its own threads: every call takes
 * the range's lock, and the view is only used under it.
 *
 * A range may follow a timeline's path (recoverRangeNewPath()): its segments are then those the
 * path holds, as archiveCatalogFollowTimeline() would leave them in a loaded catalog (segments off
 * the path skipped, the fork segments cut), read a block at a time all the same. Its segments are
 * numbered 0..recoverRangeCount()-1 in seq order (without a path, index i is seq first + i).
 */
#ifndef BV_RECOVER_RANGE_H
#define BV_RECOVER_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/catalog.h"
#include "archive/timeline.h"
#include "common/err.h"

/* Block catalogs a range keeps loaded at most. */
#define RECOVER_RANGE_BLOCKS 2
/* Runs of seqs off the path a range keeps at most: a well-formed archive has at most two per
 * timeline record (a diverged branch, a timeline the path does not take). */
#define RECOVER_RANGE_RUNS_MAX (2 * TIMELINE_SET_MAX + 2)

typedef struct RecoverRange RecoverRange;

/* The seqs first..last of the view `v` (which must outlive the range, and which nobody else uses
 * while the range is shared between threads). `cut`: the seq the target's lookup named (the
 * block where a GTID target is reached, the segment of a time or position target), where the
 * plan looks for the target's segment. */
RecoverRange *recoverRangeNew(ArchiveView *v, uint64_t first, uint64_t last, uint64_t cut);

/* recoverRangeNew() along `path` (owned by the range from now on, even on failure; its set must
 * outlive the range): the seqs of first..last off the path are found now, from the summary lines of
 * the blocks of one timeline and by reading the others (at most RECOVER_RANGE_BLOCKS held), and
 * kept as runs (a few per fork). ERR_FORMAT when the timeline labels make more than
 * RECOVER_RANGE_RUNS_MAX runs (they do not follow the records: 'binvault verify' says where); the
 * errors of reading a block. */
RecoverRange *recoverRangeNewPath(ArchiveView *v, TimelinePath *path, uint64_t first, uint64_t last, uint64_t cut,
                                  Err *err);

/* The path the range follows, NULL when none. */
const TimelinePath *recoverRangePath(const RecoverRange *r);
uint64_t recoverRangeFirst(const RecoverRange *r);
uint64_t recoverRangeLast(const RecoverRange *r);
uint64_t recoverRangeCut(const RecoverRange *r);
BinlogFlavour recoverRangeFlavour(RecoverRange *r);

/* The range's segments: first..last less the seqs off the path (a seq the archive lacks counts).
 * These three read only what the constructor found: no lock, any thread. */
size_t recoverRangeCount(const RecoverRange *r);
/* The seq of segment `i` (< recoverRangeCount()). */
uint64_t recoverRangeSeqAt(const RecoverRange *r, size_t i);
/* The index of seq (first..last) into *i; false for a seq off the path, *i then the index of the
 * next segment on it (recoverRangeCount() when none). */
bool recoverRangeIndexOf(const RecoverRange *r, uint64_t seq, size_t *i);

/* A copy of segment `seq`'s metadata into *out (segmentMetaClear() it) and, when `listed` is not
 * NULL, whether the store holds its object (archiveCatalogListed()): 1, 0 when the archive has no
 * such seq (*out untouched), -1 when its block chunk cannot be read. */
int recoverRangeGet(RecoverRange *r, uint64_t seq, SegmentMeta *out, bool *listed, Err *err);

/* The catalog of the block holding `seq` (kept, or loaded in place of the least recently used;
 * valid until the next call on the range; along a path, as the path sees it): for a caller that
 * works a block at a time (the dry run's verification) while no other thread uses the range. */
const ArchiveCatalog *recoverRangeBlock(RecoverRange *r, uint64_t seq, Err *err);

/* The range's segments from *seq to the end of its block or `last`, whichever comes first, in the
 * block's catalog (recoverRangeBlock()): *c and its entries *i0..*i1; *seq then moves to the next
 * block. 1 when there are some, 0 when that part is all off the path, -1 on a read error, or
 * ERR_GAP when a seq of the range in it is not in the archive. */
int recoverRangeBlockPart(RecoverRange *r, uint64_t *seq, uint64_t last, const ArchiveCatalog **c, size_t *i0,
                          size_t *i1, Err *err);

/* Whether the view summarises block `block` whole (a summary line of its every seq: not the head
 * a prune cut, nor the tail) and, along a path, the path takes its every segment as it is (the
 * line's one timeline is on the path, the block before its fork), and then the line's sums of object bytes and content bytes, read
 * without loading the block. */
bool recoverRangeBlockSums(RecoverRange *r, uint64_t block, uint64_t *bytes, uint64_t *contentBytes);

/* The view, locked, for a lookup (archiveViewFind*(), archiveViewGaps()); unlock it after. */
ArchiveView *recoverRangeViewLock(RecoverRange *r);
void recoverRangeViewUnlock(RecoverRange *r);

/* The block catalogs the range held at most at once (what tests bound; may be NULL), and how many
 * block loads it made (may be NULL). */
void recoverRangeStats(RecoverRange *r, size_t *heldMax, uint64_t *loads);

void recoverRangeFree(RecoverRange *r);

#endif
