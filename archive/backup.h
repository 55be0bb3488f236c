/*
 * Base backups in the archive: the binlog position (file, offset, GTID state) a mariadb-backup /
 * xtrabackup backup starts replay at, and the first segment that replay needs.
 */
#ifndef BV_ARCHIVE_BACKUP_H
#define BV_ARCHIVE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "archive/catalog.h"

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
/* Read the binlog info file of the prepared backup in directory `dir` (mariadb_backup_binlog_info,
 * else xtrabackup_binlog_info) and parse it. ERR_NOTFOUND when it has neither; messages name the
 * backup. Free with archiveBasePointClear(). */
int archiveBasePointRead(const char *dir, ArchiveBasePoint *bp, Err *err);
void archiveBasePointClear(ArchiveBasePoint *bp);
/* The lowest seq that replay from the base backup may read: the lower of the first segment
 * holding bytes at or after its file:pos (binlog files of the archive's series only) and the
 * first segment that ends with a transaction its GTID state lacks (or whose state is unknown).
 * UINT64_MAX when the archive holds nothing it needs (the backup is newer than the archive).
 * ERR_NOTFOUND when it can be placed neither way; ERR_FORMAT for a malformed GTID state. */
int archiveBaseNeededSeq(const ArchiveCatalog *c, const ArchiveBasePoint *bp, uint64_t *seq, Err *err);

#endif
