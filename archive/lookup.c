/* Lookups in a catalog: the segment of a GTID, of a binlog position, of a time. */
#include "archive/lookup.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "binlog/gtid.h"
#include "archive/internal.h"
#include "common/time.h"

int
archiveCatalogFindGtid(const ArchiveCatalog *c, const char *gtid, size_t *idx, Err *err) {
    BinlogFlavour flavour = archiveCatalogFlavour(c);
    bool unknown = false;

    if (c->count == 0)
        return errSet(err, ERR_NOTFOUND, "gtid '%s' is not in the archive: it holds no segment", gtid);
    if (gtid[0] == '\0' || strspn(gtid, " \t\n") == strlen(gtid))
        return errSet(err, ERR_FORMAT, "empty gtid");
    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;
        const char *start = segmentMetaGtidStart(m), *end = segmentMetaGtidEnd(m);
        bool reached = false;

        if (end[0] == '\0') {
            unknown = true;
            continue;
        }
        if (gtidStateTextContains(flavour, end, gtid, &reached, err) != 0)
            return errPrefix(err, "gtid '%s'", gtid);
        if (!reached)
            continue;
        if (start[0] != '\0') {
            bool before = false;

            if (gtidStateTextContains(flavour, start, gtid, &before, err) != 0)
                return errPrefix(err, "gtid '%s'", gtid);
            if (before)
                return errSet(err, ERR_NOTFOUND,
                              "gtid '%s' is before the archived range: '%s' already starts at gtid state %s", gtid,
                              m->name, start);
        }
        *idx = i;
        return 0;
    }
    if (unknown)
        return errSet(err, ERR_NOTFOUND, "gtid '%s' not found: some segments have no gtid state", gtid);
    return errSet(err, ERR_NOTFOUND, "gtid '%s' is after the archived range, which ends at gtid state %s", gtid,
                  segmentMetaGtidEnd(&c->entries[c->count - 1]->meta));
}

int
archiveCatalogFindPosition(const ArchiveCatalog *c, const char *file, uint64_t pos, size_t *idx, Err *err) {
    bool seen = false;
    uint64_t lo = 0, hi = 0;

    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;

        if (strcmp(m->file, file) != 0)
            continue;
        if (!seen && pos >= BINLOG_MAGIC_LEN && pos < m->startPos &&
            m->startPos == BINLOG_MAGIC_LEN + (uint64_t)m->fdeLen) {
            *idx = i;
            return 0;
        }
        if (pos >= m->startPos && pos < m->endPos) {
            *idx = i;
            return 0;
        }
        if (!seen || m->startPos < lo)
            lo = m->startPos;
        if (!seen || m->endPos > hi)
            hi = m->endPos;
        seen = true;
    }
    if (!seen)
        return errSet(err, ERR_NOTFOUND, "binlog file '%s' is not in the archive", file);
    return errSet(err, ERR_NOTFOUND, "position %s:%" PRIu64 " is not archived: the archive holds %s:%" PRIu64 "-%" PRIu64
                                     "%s",
                  file, pos, file, lo, hi, pos > lo && pos < hi ? " with a gap" : "");
}

int
archiveCatalogFindTime(const ArchiveCatalog *c, uint64_t timeUs, bool exclusive, size_t *idx, Err *err) {
    bool found = false, any = false;
    uint64_t firstUs = 0, maxUs = 0;

    for (size_t i = 0; i < c->count; i++) {
        const SegmentMeta *m = &c->entries[i]->meta;

        if (m->transactions == 0)
            continue;
        if (!any)
            firstUs = m->firstTimeUs;
        any = true;
        maxUs = m->firstTimeUs > maxUs ? m->firstTimeUs : maxUs;
        maxUs = m->lastTimeUs > maxUs ? m->lastTimeUs : maxUs;
        /* A commit between the first and the last may be the latest (commit times can go
         * backwards): format 2 records the highest, and the view's summary lines count it. */
        maxUs = m->maxTimeUs > maxUs ? m->maxTimeUs : maxUs;
        if (!found) {
            *idx = i;
            found = exclusive ? m->firstTimeUs >= timeUs || m->lastTimeUs >= timeUs || m->maxTimeUs >= timeUs
                              : m->firstTimeUs > timeUs || m->lastTimeUs > timeUs || m->maxTimeUs > timeUs;
        }
    }
    return archiveTimeInRange(timeUs, exclusive, any, firstUs, maxUs, err);
}

int
archiveTimeInRange(uint64_t timeUs, bool exclusive, bool any, uint64_t firstUs, uint64_t maxUs, Err *err) {
    char when[48], bound[48];

    timeFormatUtc(timeUs, true, when, sizeof(when));
    if (!any)
        return errSet(err, ERR_NOTFOUND, "time %s is not in the archive: it holds no transaction", when);
    if (exclusive ? firstUs >= timeUs : firstUs > timeUs) {
        timeFormatUtc(firstUs, true, bound, sizeof(bound));
        return errSet(err, ERR_NOTFOUND, "time %s is before the first archived commit (%s)", when, bound);
    }
    if (timeUs > maxUs) {
        timeFormatUtc(maxUs, true, bound, sizeof(bound));
        return errSet(err, ERR_NOTFOUND,
                      "time %s is after the last archived commit (%s): the archive does not know what was committed "
                      "after it", when, bound);
    }
    return 0;
}

uint64_t
archiveCatalogFirstCommitFrom(const ArchiveCatalog *c, size_t idx) {
    for (size_t i = idx; i < c->count; i++)
        if (c->entries[i]->meta.transactions > 0)
            return c->entries[i]->meta.firstTimeUs;
    return 0;
}
