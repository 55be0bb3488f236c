/*
 * The segments of a long recovery plan, read through the catalog view (archive/catalog.h) one
 * block at a time: a plan whose range spans many blocks holds its seq range and at most two block
 * catalogs (the most recently used), whatever the range's length (docs/DESIGN.md "Recovery
 * planning per block"). Shared by the plan (recover/plan.h), the dry run's verification and the
 * replication source (recover/source.h), which reads it from its own threads: every call takes
 * the range's lock, and the view is only used under it.
 */
#ifndef BV_RECOVER_RANGE_H
#define BV_RECOVER_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/catalog.h"
#include "common/err.h"

/* Block catalogs a range keeps loaded at most. */
#define RECOVER_RANGE_BLOCKS 2

typedef struct RecoverRange RecoverRange;

/* The seqs first..last of the view `v` (which must outlive the range, and which nobody else uses
 * while the range is shared between threads). `cut`: the seq the target's lookup named (the
 * block where a GTID target is reached, the segment of a time or position target), where the
 * plan looks for the target's segment. */
RecoverRange *recoverRangeNew(ArchiveView *v, uint64_t first, uint64_t last, uint64_t cut);

uint64_t recoverRangeFirst(const RecoverRange *r);
uint64_t recoverRangeLast(const RecoverRange *r);
uint64_t recoverRangeCut(const RecoverRange *r);
BinlogFlavour recoverRangeFlavour(RecoverRange *r);

/* A copy of segment `seq`'s metadata into *out (segmentMetaClear() it) and, when `listed` is not
 * NULL, whether the store holds its object (archiveCatalogListed()): 1, 0 when the archive has no
 * such seq (*out untouched), -1 when its block chunk cannot be read. */
int recoverRangeGet(RecoverRange *r, uint64_t seq, SegmentMeta *out, bool *listed, Err *err);

/* The catalog of the block holding `seq` (kept, or loaded in place of the least recently used;
 * valid until the next call on the range): for a caller that works a block at a time (the dry
 * run's verification) while no other thread uses the range. */
const ArchiveCatalog *recoverRangeBlock(RecoverRange *r, uint64_t seq, Err *err);

/* Whether the view summarises block `block` whole (a summary line of its every seq: not the head
 * a prune cut, nor the tail), and then the line's sums of object bytes and content bytes, read
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
