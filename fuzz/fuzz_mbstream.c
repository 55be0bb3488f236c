/*
 * libFuzzer target for what `binvault backup` and the readers of base backups parse from outside:
 *  0: a backup tool's stream (archive/mbstream.h), fed in pieces whose sizes the next byte picks,
 *     with the binlog info files watched and, when caught, parsed (archiveBasePointParse);
 *  1: a backup's manifest.json (archiveBackupManifestParse);
 *  2: a line of parts.bvi, 3: a part's trailer (archiveBackupPartParse).
 * Seeds: fuzz/seeds-mbstream/ (a small real mariadb-backup stream, a manifest, a line, a trailer).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive/backup.h"
#include "archive/backup_internal.h"
#include "archive/mbstream.h"
#include "common/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
stream(const uint8_t *data, size_t size) {
    Mbstream *m = mbstreamNew();
    size_t piece, off = 0;
    const uint8_t *file;
    size_t len;
    Err err;

    if (size < 1) {
        mbstreamFree(m);
        return;
    }
    piece = (size_t)data[0] + 1;
    data++;
    size--;
    mbstreamWatch(m, "mariadb_backup_binlog_info");
    mbstreamWatch(m, "xtrabackup_binlog_info");
    while (off < size) {
        size_t n = size - off < piece ? size - off : piece;

        if (mbstreamFeed(m, data + off, n, &err) != 0)
            break;
        off += n;
    }
    if (off == size && mbstreamFinish(m, &err) == 0 &&
        (file = mbstreamFile(m, "mariadb_backup_binlog_info", &len)) != NULL) {
        ArchiveBasePoint bp;

        if (len > MBSTREAM_FILE_MAX)
            abort();
        if (archiveBasePointParse((const char *)file, len, &bp, &err) == 0)
            archiveBasePointClear(&bp);
    }
    mbstreamFree(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text;
    Err err;

    if (size < 1)
        return 0;
    text = bvMalloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0:
        stream(data + 1, size - 1);
        break;
    case 1: {
        ArchiveBackup b;
        ArchiveBackupIndexRef idx;

        if (archiveBackupManifestParse(text, size - 1, &b, &idx, &err) == 0) {
            if (!archiveBackupIdValid(b.id) || b.gtidState == NULL || b.parts == 0)
                abort();
            bvFree(b.gtidState);
        }
        break;
    }
    default: {
        ArchiveBackupPart p;

        if (archiveBackupPartParse("20261206T072630Z-5c1e02aa", text, size - 1, data[0] % 4 == 2, &p, &err) == 0 &&
            (p.part == 0 || p.contentLen == 0))
            abort();
        break;
    }
    }
    bvFree(text);
    return 0;
}
