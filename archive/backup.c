/* Base backups: their binlog info files, and the first segment replay from one needs. */
#include "archive/backup.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "binlog/gtid.h"
#include "archive/internal.h"
#include "common/fs.h"
#include "common/mem.h"

int
archiveBasePointParse(const char *text, size_t len, ArchiveBasePoint *bp, Err *err) {
    const char *p = text, *end = text + len, *f;
    size_t flen;
    uint64_t pos = 0;
    Buf *gtid;

    memset(bp, 0, sizeof(*bp));
    if (memchr(text, '\0', len) != NULL)
        return errSet(err, ERR_FORMAT, "binlog info holds a NUL byte");
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    for (f = p; p < end && *p != '\t' && *p != ' ' && *p != '\n' && *p != '\r'; p++)
        ;
    flen = (size_t)(p - f);
    if (flen == 0 || flen >= sizeof(bp->file))
        return errSet(err, ERR_FORMAT, "binlog info does not start with a binlog file name");
    memcpy(bp->file, f, flen);
    bp->file[flen] = '\0';
    if (!segmentFileNameValid(bp->file))
        return errSet(err, ERR_FORMAT, "binlog info names an invalid binlog file '%s'", bp->file);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p == end || *p < '0' || *p > '9')
        return errSet(err, ERR_FORMAT, "binlog info has no position after the file name '%s'", bp->file);
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (pos > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return errSet(err, ERR_FORMAT, "binlog info position is too large");
        pos = pos * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
        return errSet(err, ERR_FORMAT, "binlog info position is not a number");
    if (pos < BINLOG_MAGIC_LEN)
        return errSet(err, ERR_FORMAT, "binlog info position %" PRIu64 " is before the first event", pos);
    bp->pos = pos;
    /* The GTID state is the rest: MariaDB's on the same line, MySQL's executed set may be split
     * after its commas over several lines. Blanks are dropped. */
    gtid = bufNew(64);
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            bufAppend(gtid, p, 1);
    if (gtid->len > SEGMENT_GTID_MAX) {
        bufFree(gtid);
        return errSet(err, ERR_FORMAT, "binlog info GTID state is longer than %d bytes", SEGMENT_GTID_MAX);
    }
    bp->gtid = (char *)bufDetach(gtid, NULL);
    return 0;
}

/* Largest binlog info file read. */
#define ARCHIVE_BINLOG_INFO_MAX (1024 * 1024)

int
archiveBasePointRead(const char *dir, ArchiveBasePoint *bp, Err *err) {
    static const char *const names[] = {"mariadb_backup_binlog_info", "xtrabackup_binlog_info"};
    uint8_t *data = NULL;
    size_t len;
    char path[4096];
    int rc;

    memset(bp, 0, sizeof(*bp));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (fsReadFile(path, ARCHIVE_BINLOG_INFO_MAX, &data, &len, err) == 0)
            break;
        if (err->code != ERR_NOTFOUND)
            return errPrefix(err, "base backup '%s'", dir);
        data = NULL;
    }
    if (data == NULL)
        return errSet(err, ERR_NOTFOUND,
                      "base backup '%s' has neither mariadb_backup_binlog_info nor xtrabackup_binlog_info: is it a "
                      "mariadb-backup / xtrabackup directory of a server with binary logging on?",
                      dir);
    rc = archiveBasePointParse((const char *)data, len, bp, err);
    bvFree(data);
    if (rc != 0)
        return errPrefix(err, "base backup '%s': '%s'", dir, path);
    return 0;
}

void
archiveBasePointClear(ArchiveBasePoint *bp) {
    bvFree(bp->gtid);
    bp->gtid = NULL;
}

/* Binlog file names `a` and `b` of one series (same text before their last '.'). */
static bool
sameSeries(const char *a, const char *b) {
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');

    if (da == NULL || db == NULL)
        return strcmp(a, b) == 0;
    return da - a == db - b && memcmp(a, b, (size_t)(da - a)) == 0;
}

int
archiveBaseNeededSeq(const ArchiveCatalog *c, const ArchiveBasePoint *bp, uint64_t *seq, Err *err) {
    BinlogFlavour flavour = archiveCatalogFlavour(c);
    bool placed = false, series = false;
    uint64_t byPos = UINT64_MAX, byGtid = UINT64_MAX;

    *seq = UINT64_MAX;
    if (c->count == 0)
        return 0;
    /* By position: the first segment holding bytes at or after file:pos. */
    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;
        int cmp;

        if (!sameSeries(m->file, bp->file))
            continue;
        series = true;
        cmp = segmentFileCompare(m->file, bp->file);
        if (cmp > 0 || (cmp == 0 && m->endPos > bp->pos)) {
            byPos = m->seq;
            break;
        }
    }
    if (series)
        placed = true;
    /* By GTID: the first segment that ends with a transaction the backup does not hold. A segment
     * without a known state may hold one. */
    if (bp->gtid != NULL && bp->gtid[0] != '\0') {
        for (size_t i = 0; i < c->count; i++) {
            const SegmentMeta *m = &c->entries[i]->meta;
            const char *end = segmentMetaGtidEnd(m);
            bool reached = false;

            if (end[0] != '\0' && gtidStateTextContains(flavour, bp->gtid, end, &reached, err) != 0)
                return errPrefix(err, "base backup gtid '%s'", bp->gtid);
            if (end[0] == '\0' || !reached) {
                byGtid = m->seq;
                break;
            }
        }
        placed = true;
    }
    if (!placed)
        return errSet(err, ERR_NOTFOUND,
                      "the base backup at %s:%" PRIu64 " has no GTID state and its binlog file is not of the archive's "
                      "series (%s): it cannot be placed in the archive",
                      bp->file, bp->pos, c->entries[0]->meta.file);
    *seq = byPos < byGtid ? byPos : byGtid;
    return 0;
}
