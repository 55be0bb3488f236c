/*
 * The outline of a whole archive, from its catalog opened by range (ArchiveView, catalog.h): its
 * continuity breaks, its windows (continuity.h's ArchiveWindow, as archiveCatalogWindows() gives
 * them), and where a GTID state stands in it. Answered from the summaries (one line per 1024
 * segments), the tail and at most a few block chunks per break: what list, status, recover,
 * restore and prune say about the whole archive without loading its index. Memory: the view's,
 * plus one block's entries at a time.
 */
#ifndef BV_ARCHIVE_OUTLINE_H
#define BV_ARCHIVE_OUTLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/backup.h"
#include "archive/backup_store.h"
#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/timeline.h"

typedef struct ArchiveOutline ArchiveOutline;

/* The breaks (archiveViewGaps()) and the windows between them: each window's first and last
 * segment (read with archiveViewGet()), its first and last transaction and its transaction count
 * (from the summary lines of the blocks it holds whole, and the entries of the at most two blocks
 * it holds in part). An empty archive has no window. */
ArchiveOutline *archiveOutlineNew(ArchiveView *v, Err *err);

size_t archiveOutlineGapCount(const ArchiveOutline *o);
const ArchiveGap *archiveOutlineGapAt(const ArchiveOutline *o, size_t i);
/* Windows in seq order; the last one is the restorable window. `first` and `last` of a window are
 * 0 (it refers to no catalog); `from` and `to` belong to the outline. */
size_t archiveOutlineWindowCount(const ArchiveOutline *o);
const ArchiveWindow *archiveOutlineWindowAt(const ArchiveOutline *o, size_t i);

/* The windows as `path` sees the archive (the main line, or a --timeline): the breaks inside
 * branches off it taken out (archiveOutlineBranchGapAt()) and the windows they split joined, and
 * the transactions of segments off the path, and those after the fork in a segment the path cuts
 * (timelinePathSegment()), counted out. Only the segments between each fork and its timeline's
 * first segment can be off a path: those are read (archiveViewLoadRange()), nothing else. A set
 * that never forked changes nothing. */
int archiveOutlineFollow(ArchiveOutline *o, ArchiveView *v, const TimelineSet *set, const TimelinePath *path, Err *err);
/* The transactions archiveOutlineFollow() counted out (0 before it, or when nothing is off the path). */
uint64_t archiveOutlineOffPath(const ArchiveOutline *o);
/* The breaks archiveOutlineFollow() took out of the path's: those inside a branch the path leaves
 * out (between a fork on it and its timeline's first segment: the diverged segments), which split
 * no window of the path (the windows they split are joined again), in seq order; *timeline (may be
 * NULL) the branch's. Archived data all the same: 'binvault verify' reports them as the branch's. */
size_t archiveOutlineBranchGapCount(const ArchiveOutline *o);
const ArchiveGap *archiveOutlineBranchGapAt(const ArchiveOutline *o, size_t i, uint32_t *timeline);

void archiveOutlineFree(ArchiveOutline *o);

/* The segments around a base backup's point (archive/backup.h), as a catalog on which
 * archiveBaseNeededSeq() answers as on the whole archive: the block where the point's GTID state
 * stops holding, or the one holding its position, whichever comes first, and the segment before
 * it. An empty catalog for an empty archive. */
ArchiveCatalog *archiveOutlineBaseRange(ArchiveView *v, const ArchiveBasePoint *bp, Err *err);

/* archiveBackupReach() over the whole archive: the segments around the backup's point are loaded
 * (the block where its GTID state stops holding, and the one holding its position), and the window
 * of the outline that holds the first segment it needs says how far it reaches; r->to points into
 * the outline. */
int archiveOutlineBackupReach(ArchiveView *v, const ArchiveOutline *o, const ArchiveBackup *b, ArchiveBackupReach *r,
                              Err *err);

/* Which segments first..last the store holds: *present (bvFree(); NULL when last < first) has bit
 * (seq - first) set for each, archiveOutlineHolds() reads it. One listing of segments/ that starts
 * after the names of lower seqs and stops past `last` (S3 start-after): one bit per seq asked for
 * (122 KiB for a million), whatever the archive holds beyond. */
int archiveOutlineStored(Archive *a, uint64_t first, uint64_t last, uint8_t **present, Err *err);
/* Whether `present` (from archiveOutlineStored() of first..) says segment `seq` is stored; false
 * for a seq below `first` or a NULL `present`. */
bool archiveOutlineHolds(const uint8_t *present, uint64_t first, uint64_t seq);

/* Where a GTID state stands, from the summary lines and the tail entries, in seq order:
 * - archiveOutlineFirstNotHeld(): the first seq of the first block (or tail segment) holding a
 *   transaction that `state` lacks: whose gtid_end `state` does not contain, or with transactions
 *   and no gtid_end. 0 when every segment is held.
 * - archiveOutlineReaching(): the last seq of the first block (or tail segment) whose gtid_end
 *   contains `state` (with `any`, contains any part of it). 0 when none does.
 * The exact segment is in that block: load it (archiveViewLoadRange()). ERR_FORMAT for a state or a
 * gtid_end that does not parse. */
int archiveOutlineFirstNotHeld(ArchiveView *v, const char *state, uint64_t *seq, Err *err);
int archiveOutlineReaching(ArchiveView *v, const char *state, bool any, uint64_t *seq, Err *err);
/* The last seq of the first block (or tail segment) wholly after seq `after` holding a transaction
 * committed at or before timeUs (before it when `exclusive`): after a time target's cut, such a
 * commit makes the cut ambiguous. 0 when none. */
uint64_t archiveOutlineCommittedBy(ArchiveView *v, uint64_t after, uint64_t timeUs, bool exclusive);

/* The same three along a path (archive/timeline.h: the main line or one timeline of a forked
 * archive), over the path's segments as it sees them (a fork segment ends at the fork): a block
 * whose segments are all on the path is answered from its summary line, one wholly off it is
 * skipped, one that holds a fork, diverged segments or another timeline's is loaded and read
 * segment by segment (one block at a time). The answer is the path's seq; 0 when none.
 * archiveOutlinePathCommittedBy() also fails (-1) when such a block's chunk cannot be read. */
int archiveOutlinePathFirstNotHeld(ArchiveView *v, const TimelinePath *p, const char *state, uint64_t *seq, Err *err);
int archiveOutlinePathReaching(ArchiveView *v, const TimelinePath *p, const char *state, bool any, uint64_t *seq,
                               Err *err);
int archiveOutlinePathCommittedBy(ArchiveView *v, const TimelinePath *p, uint64_t after, uint64_t timeUs, bool exclusive,
                                  uint64_t *seq, Err *err);
/* archiveCatalogFindTime() over the path's segments as it sees them (the catalog followed along
 * it, archiveCatalogFollowTimeline()), answering a seq, with the same rules and errors: the blocks
 * on the path whole whose commits all come before the time from their summary lines, the first
 * that holds a later one, and those the path takes in part, read one at a time. */
int archiveOutlinePathFindTime(ArchiveView *v, const TimelinePath *p, uint64_t timeUs, bool exclusive, uint64_t *seq,
                               Err *err);
/* archiveCatalogFindPosition() over the path's segments as it sees them, answering a seq, with the
 * same rules and errors: the blocks on the path whole that cannot hold file:pos (their summary
 * line's files and positions say, for a line without a break) skipped, the others read one at a
 * time. */
int archiveOutlinePathFindPosition(ArchiveView *v, const TimelinePath *p, const char *file, uint64_t pos, uint64_t *seq,
                                   Err *err);
/* The last segment of the path at or before seq `upto`, as the path sees it, into *out
 * (segmentMetaClear() it): the blocks read one at a time backwards from `upto`. 1 when found, 0
 * when the path holds none, -1 when a block cannot be read. */
int archiveOutlinePathLast(ArchiveView *v, const TimelinePath *p, uint64_t upto, SegmentMeta *out, Err *err);

#endif
