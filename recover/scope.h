/*
 * The part of an archive a recovery reads (docs/RECOVERY.md): found through the catalog opened by
 * range (ArchiveView, archive/catalog.h) and loaded as an ArchiveCatalog that recoverPlanNew()
 * plans on, so that planning a recovery to any point of a 1 M-segment archive reads the summaries
 * and a few block chunks, not the whole index. The range runs from the segment before the block
 * holding the first transaction the start lacks to the segment after the one holding the target
 * (and, for a time target, to the first later block whose commits the index shows at or before
 * the time, which makes the cut ambiguous): every check of the plan (continuity, objects present,
 * start covered, time order) sees the segments it needs. A range over more than two blocks is not
 * loaded: recoverScopePlan() plans it a block at a time (recover/range.h), along the timeline's
 * path when the archive forked, in memory bounded whatever its length; a shorter one is loaded.
 */
#ifndef BV_RECOVER_SCOPE_H
#define BV_RECOVER_SCOPE_H

#include "archive/catalog.h"
#include "archive/outline.h"
#include "archive/timeline.h"
#include "recover/plan.h"

/* The catalog of the range a plan from `start` (a GTID state, "" for none) to `target` needs.
 * ERR_NOTFOUND for an empty archive or a position target the archive does not hold (as
 * archiveViewFindPosition()); other refusals are the plan's, made on the range. */
ArchiveCatalog *recoverScopeLoad(ArchiveView *v, const char *start, const RecoverTarget *target, Err *err);

/* The catalog a plan from `start` to `target` needs as the path of `timeline` (0: the main line)
 * sees it (archiveCatalogFollowTimeline()): recoverScopeLoad()'s range in an archive that never
 * forked; in one that did, the range found along the path (archiveOutlinePath*(): blocks off the
 * path skipped, a block holding a fork or diverged segments read segment by segment), its ends
 * moved out of diverged segments. Every kind of target is looked up along the path
 * (archiveOutlinePath*()); one the path does not hold gives a range from the archive's first seq
 * to the path's end, over which the plan refuses it in the words it uses on the whole path. Only a
 * start or a segment state that does not parse makes every segment loaded, for the plan to refuse
 * it. `set` holds the archive's timeline records (timelineSetLoad()). ERR_NOTFOUND when the path
 * holds no segment, or for a timeline the archive does not have. */
ArchiveCatalog *recoverScopeLoadPath(Archive *a, ArchiveView *v, const TimelineSet *set, uint32_t timeline,
                                     const char *start, const RecoverTarget *target, Err *err);

/* The plan from `start` to `target` along `timeline` (0: the main line), made on the range
 * recoverScopeLoadPath() finds: a range over more than two blocks is planned a block at a time
 * (recoverPlanNewRange(), along the path when the archive forked: recoverRangeNewPath(); memory
 * bounded whatever its length), a shorter one is loaded into *c and planned on it (recoverPlanNew()); the caller frees *c (NULL in range mode) after the
 * plan. A short range of an archive that never forked that lies in the view's tail is planned on
 * the tail itself (archiveViewTail(): read by the view's open, not read again; *c NULL). The view
 * must outlive the plan. Errors as recoverScopeLoadPath()'s and recoverPlanNew()'s. */
RecoverPlan *recoverScopePlan(Archive *a, ArchiveView *v, const TimelineSet *set, uint32_t timeline, const char *start,
                              const RecoverTarget *target, ArchiveCatalog **c, Err *err);

/* recoverStateAtPosition() through the view: the segments around file:pos are loaded. */
int recoverScopeStateAtPosition(Archive *a, ArchiveView *v, const char *file, uint64_t pos, char **state, Err *err);

/* recoverDescribeWindows() of the whole archive, from its outline (archive/outline.h). */
void recoverDescribeOutline(const ArchiveOutline *o, Buf *out);

#endif
