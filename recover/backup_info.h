/*
 * Where a base backup leaves the binlog: the binlog info file of a prepared mariadb-backup /
 * xtrabackup directory, the usual start of a recovery.
 */
#ifndef BV_RECOVER_BACKUP_INFO_H
#define BV_RECOVER_BACKUP_INFO_H

#include "archive/backup.h"
#include "common/err.h"

/* What a prepared mariadb-backup / xtrabackup directory says about the binlog at the backup:
 * `xtrabackup_binlog_info` (what mariadb-backup 10.11 writes, e.g. `binlog.000015<TAB>38395403
 * <TAB>0-1-360`) or `mariadb_backup_binlog_info` (later versions), parsed with
 * archiveBasePointParse(); when both exist they must agree. `xtrabackup_binlog_pos_innodb` is
 * never used (InnoDB's view only, wrong for other engines). *bp is freed with
 * archiveBasePointClear(); *source names the file read. ERR_NOTFOUND (naming both files) when
 * neither exists, ERR_CONFIG when they disagree, ERR_FORMAT for a malformed file. */
int recoverBaseDirRead(const char *dir, ArchiveBasePoint *bp, const char **source, Err *err);

#endif
