/*
 * The timelines of an archive and their diverged branches as list, verify and status print them
 * (archive/timeline.h has the records): a line per timeline and a warning per diverged branch,
 * or JSON members. An archive that never forked prints nothing, so its output stays as it was.
 */
#ifndef BV_CMD_TIMELINES_H
#define BV_CMD_TIMELINES_H

#include <stdio.h>

#include "archive/archive.h"
#include "archive/timeline.h"
#include "common/buf.h"

/* Lines "timeline N: server_id S at HOST from seq Q (forks from timeline P at FILE:POS, gtid state
 * G)" for an archive that forked, then "warning: <the diverged branch>" per branch; a record that
 * cannot be read is a warning too; a branch a prune deleted (--drop-diverged) is a note. Returns the
 * number of diverged branches still kept. */
size_t cmdTimelinesPrint(Archive *a, FILE *out);
/* For JSON documents: `,"timelines":[records...],"diverged":[{"timeline","parent","transactions",
 * "first_gtid","last_gtid","first_time_us","last_time_us","first_seq","last_seq","message","pruned"}]`
 * appended to out for an archive that forked; nothing otherwise. */
void cmdTimelinesJson(Archive *a, Buf *out);
/* The main line of an archive that forked, to mark its segments; NULL (and *set NULL) when the
 * archive never forked or its records cannot be read (cmdTimelinesPrint() says so). Free both. */
TimelinePath *cmdMainLine(Archive *a, TimelineSet **set);
/* How segment m stands to the main line `main` (may be NULL): "" on it, "diverged" off it,
 * "fork" when it holds a fork and diverged transactions after it. */
const char *cmdMainLineMark(const TimelinePath *main, const SegmentMeta *m);
/* For status's one-line summary: "; warning: N transactions diverged at failovers (timeline T ...;
 * binvault list)" written into out (of `size` bytes) when the archive keeps diverged branches, ""
 * otherwise; returns the length written. */
int cmdTimelinesSummary(Archive *a, char *out, size_t size);

#endif
