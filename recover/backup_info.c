/*
 * The binlog info files of a base backup directory (recover/backup_info.h); their content is
 * parsed by archiveBasePointParse(), as for 'binvault prune --before-backup'.
 */
#include "recover/backup_info.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fs.h"
#include "common/mem.h"

#define BACKUP_INFO_MAX (1024 * 1024)

static int
backupInfoFile(const char *dir, const char *name, ArchiveBasePoint *bp, bool *found, Err *err) {
    char *path = bvSprintf("%s/%s", dir, name);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    *found = false;
    rc = fsReadFile(path, BACKUP_INFO_MAX, &data, &len, err);
    if (rc != 0 && err->code == ERR_NOTFOUND) {
        bvFree(path);
        errClear(err);
        return 0;
    }
    if (rc == 0) {
        *found = true;
        if (archiveBasePointParse((const char *)data, len, bp, err) != 0)
            rc = errPrefix(err, "'%s'", path);
    }
    bvFree(data);
    bvFree(path);
    return rc;
}

int
recoverBaseDirRead(const char *dir, ArchiveBasePoint *bp, const char **source, Err *err) {
    static const char *const names[2] = {"xtrabackup_binlog_info", "mariadb_backup_binlog_info"};
    ArchiveBasePoint got[2];
    bool have[2];
    struct stat st;

    memset(bp, 0, sizeof(*bp));
    memset(got, 0, sizeof(got));
    if (stat(dir, &st) != 0)
        return errSetSys(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "base backup directory '%s'", dir);
    if (!S_ISDIR(st.st_mode))
        return errSet(err, ERR_USAGE, "base backup '%s' is not a directory", dir);
    for (int i = 0; i < 2; i++) {
        if (backupInfoFile(dir, names[i], &got[i], &have[i], err) != 0) {
            archiveBasePointClear(&got[0]);
            return -1;
        }
    }
    if (!have[0] && !have[1])
        return errSet(err, ERR_NOTFOUND,
                      "base backup '%s' holds neither xtrabackup_binlog_info nor mariadb_backup_binlog_info: was it taken "
                      "from a server with binary logging on? (give the start with --from-gtid instead)", dir);
    if (have[0] && have[1] &&
        (strcmp(got[0].file, got[1].file) != 0 || got[0].pos != got[1].pos || strcmp(got[0].gtid, got[1].gtid) != 0)) {
        errSet(err, ERR_CONFIG,
               "base backup '%s': xtrabackup_binlog_info says %s:%" PRIu64 " '%s' and mariadb_backup_binlog_info says "
               "%s:%" PRIu64 " '%s': give the start with --from-gtid", dir, got[0].file, got[0].pos, got[0].gtid,
               got[1].file, got[1].pos, got[1].gtid);
        archiveBasePointClear(&got[0]);
        archiveBasePointClear(&got[1]);
        return -1;
    }
    *bp = have[0] ? got[0] : got[1];
    *source = have[0] ? names[0] : names[1];
    if (have[0])
        archiveBasePointClear(&got[1]);
    return 0;
}
