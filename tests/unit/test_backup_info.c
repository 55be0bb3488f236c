/* Unit tests of recover/backup_info.c: the binlog info files of a base backup directory. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/archive.h"
#include "common/fs.h"
#include "common/mem.h"
#include "recover/backup_info.h"
#include "tests/test.h"

static void
writeText(const char *dir, const char *name, const char *text) {
    char path[1024];
    Err err = {0};

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    BV_ASSERT(fsWriteFileAtomic(path, text, strlen(text), 0600, &err) == 0);
}

static void
testBaseDir(void) {
    char dir[1024];
    ArchiveBasePoint bp;
    const char *source = NULL;
    Err err = {0};

    snprintf(dir, sizeof(dir), "%s/none", testTmpDir());
    CHECK(recoverBaseDirRead(dir, &bp, &source, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    BV_ASSERT(mkdir(dir, 0700) == 0);
    CHECK(recoverBaseDirRead(dir, &bp, &source, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK(strstr(err.msg, "xtrabackup_binlog_info") != NULL && strstr(err.msg, "mariadb_backup_binlog_info") != NULL);

    /* What mariadb-backup 10.11 writes; the InnoDB-only file is never read. */
    writeText(dir, "xtrabackup_binlog_pos_innodb", "binlog.000001\t4\n");
    writeText(dir, "xtrabackup_binlog_info", "binlog.000015\t38395403\t0-1-360\n");
    REQUIRE(recoverBaseDirRead(dir, &bp, &source, &err) == 0);
    CHECK_STR(bp.file, "binlog.000015");
    CHECK(bp.pos == 38395403);
    CHECK_STR(bp.gtid, "0-1-360");
    CHECK_STR(source, "xtrabackup_binlog_info");
    archiveBasePointClear(&bp);
    /* Later versions' name; both agreeing is fine, disagreeing is refused. */
    writeText(dir, "mariadb_backup_binlog_info", "binlog.000015\t38395403\t0-1-360\n");
    REQUIRE(recoverBaseDirRead(dir, &bp, &source, &err) == 0);
    archiveBasePointClear(&bp);
    writeText(dir, "mariadb_backup_binlog_info", "binlog.000015\t38395999\t0-1-361\n");
    CHECK(recoverBaseDirRead(dir, &bp, &source, &err) != 0);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "38395999");
    snprintf(dir, sizeof(dir), "%s/new", testTmpDir());
    BV_ASSERT(mkdir(dir, 0700) == 0);
    writeText(dir, "mariadb_backup_binlog_info", "mariadb-bin.000002\t1234\t0-1-5,1-2-7\n");
    REQUIRE(recoverBaseDirRead(dir, &bp, &source, &err) == 0);
    CHECK_STR(bp.gtid, "0-1-5,1-2-7");
    CHECK_STR(source, "mariadb_backup_binlog_info");
    archiveBasePointClear(&bp);
    writeText(dir, "mariadb_backup_binlog_info", "garbage\n");
    CHECK(recoverBaseDirRead(dir, &bp, &source, &err) != 0);
    CHECK_INT(err.code, ERR_FORMAT);
}

void suite_backup_info(void);

void
suite_backup_info(void) {
    testRun("base dir", testBaseDir);
}
