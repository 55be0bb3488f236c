/*
 * Lookups in a catalog: which segment holds a GTID's transaction, a binlog position, the last
 * commit before a time. Answered from the index alone.
 */
#ifndef BV_ARCHIVE_LOOKUP_H
#define BV_ARCHIVE_LOOKUP_H

#include <stddef.h>
#include <stdint.h>

#include "archive/catalog.h"

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
/* Where the first transaction committed after timeUs (microseconds since the epoch; at or after
 * it when `exclusive`) can be, in binlog order, from the index alone: the first segment whose
 * first_time_us, last_time_us or max_time_us (format 2: its highest) is after timeUs (at or
 * after), or the last segment when none is, as archiveViewFindTime() from the summary lines.
 * Commit times need not follow binlog order (SET TIMESTAMP, a clock stepped back), and the index
 * has only a segment's first, last and highest: that transaction is in segment *idx or an earlier
 * one, and only reading them tells which. ERR_NOTFOUND when the archive's first transaction is already
 * after timeUs (before the archive) or timeUs is after every commit the index records. */
int archiveCatalogFindTime(const ArchiveCatalog *c, uint64_t timeUs, bool exclusive, size_t *idx, Err *err);
/* Commit time of the first transaction of entry idx or a later one; 0 when none has any. */
uint64_t archiveCatalogFirstCommitFrom(const ArchiveCatalog *c, size_t idx);

#endif
