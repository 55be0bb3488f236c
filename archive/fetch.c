/* Fetching an archived range back out as binlog files (fetch.h). */
#include "archive/fetch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/continuity.h"
#include "binlog/gtid.h"
#include "archive/lookup.h"
#include "binlog/txn.h"
#include "common/fs.h"
#include "common/mem.h"

#define FETCH_BUFFER (1024 * 1024)
/* The framer decodes (and inflates, for MariaDB's compressed query events) a statement up to this
 * size plus 64 bytes to see whether it opens or ends a transaction; a longer compressed statement
 * cannot be framed and stops the run with an error. */
#define FETCH_TXN_TEXT (1024 * 1024)

/* One output file being written, then renamed into place. */
typedef struct FetchFile {
    char *path, *tmp;
} FetchFile;

typedef struct Fetch {
    Archive *archive;
    const ArchiveCatalog *catalog;
    BinlogFlavour flavour;
    const char *dir;
    ArchiveFetchPoint from, until;
    size_t first, last;  /* catalog indexes */
    uint64_t startByte;  /* in the first segment's file */
    FetchFile *files;
    size_t fileCount;
    int fd;              /* current output, -1 when none */
    uint8_t *buf;
    size_t used;
    uint64_t bytes, events, transactions;
    bool wrote;          /* an event was written */
    const char *endFile; /* where the last event written ends */
    uint64_t endPos;
} Fetch;

int
archiveFetchLocate(const ArchiveCatalog *c, const ArchiveFetchPoint *from, const ArchiveFetchPoint *until,
                   ArchiveFetchRange *range, Err *err) {
    size_t n = archiveCatalogCount(c);
    ArchiveGap *gaps;
    size_t ngaps;
    int rc = 0;

    BV_ASSERT(n > 0);
    range->from = *from;
    range->until = *until;
    range->first = 0;
    range->last = n - 1;
    if (from->type == ARCHIVE_FETCH_GTID)
        rc = archiveCatalogFindGtid(c, from->gtid, &range->first, err);
    else if (from->type == ARCHIVE_FETCH_POSITION)
        rc = archiveCatalogFindPosition(c, from->file, from->pos, &range->first, err);
    if (rc != 0)
        return errPrefix(err, "from");
    if (until->type == ARCHIVE_FETCH_GTID)
        rc = archiveCatalogFindGtid(c, until->gtid, &range->last, err);
    else if (until->type == ARCHIVE_FETCH_POSITION)
        /* The last event that starts before the until position. */
        rc = until->pos <= BINLOG_MAGIC_LEN
                 ? errSet(err, ERR_NOTFOUND, "position %s:%" PRIu64 " is before the file's first event", until->file,
                          until->pos)
                 : archiveCatalogFindPosition(c, until->file, until->pos - 1, &range->last, err);
    if (rc != 0)
        return errPrefix(err, "until");
    if (range->first > range->last)
        return errSet(err, ERR_USAGE, "the from point (seq %" PRIu64 ") is after the until point (seq %" PRIu64 ")",
                      archiveCatalogAt(c, range->first)->seq, archiveCatalogAt(c, range->last)->seq);
    ngaps = archiveCatalogGaps(c, &gaps);
    for (size_t i = 0; i < ngaps; i++) {
        if (gaps[i].afterSeq >= archiveCatalogAt(c, range->first)->seq &&
            gaps[i].beforeSeq <= archiveCatalogAt(c, range->last)->seq) {
            rc = errSet(err, ERR_GAP, "the range crosses a gap: %s", gaps[i].message);
            break;
        }
    }
    bvFree(gaps);
    return rc;
}

/* A segment of the range: one the index names but the store lacks is a hole in the archive
 * (ERR_GAP, as verify and recovery call it), not a missing input. */
static SegmentReader *
fetchSegmentOpen(Fetch *f, const SegmentMeta *m, Err *err) {
    SegmentReader *r = archiveSegmentOpen(f->archive, m, err);

    if (r == NULL && err->code == ERR_NOTFOUND)
        errSet(err, ERR_GAP, "segment '%s' (seq %" PRIu64 ") is in the index but not in the store: the range has a "
                             "hole there ('binvault verify' reports it)", m->name, m->seq);
    return r;
}

/* Pass over the first segment: where the transaction holding the from point starts. */
static int
fetchFindStart(Fetch *f, Err *err) {
    const SegmentMeta *m = archiveCatalogAt(f->catalog, f->first);
    SegmentReader *r;
    BinlogTxnFramer *framer;
    BinlogEvent ev;
    uint64_t pos, txnStart = 0;
    bool found = false;
    int rc;

    f->startByte = m->startPos;
    if (f->from.type == ARCHIVE_FETCH_NONE || (f->from.type == ARCHIVE_FETCH_POSITION && f->from.pos <= m->startPos))
        return 0;
    if ((r = fetchSegmentOpen(f, m, err)) == NULL)
        return -1;
    framer = binlogTxnFramerNew(FETCH_TXN_TEXT);
    while (!found && (rc = segmentReaderNext(r, &ev, &pos, err)) == 1) {
        bool wasIn = binlogTxnFramerInTxn(framer);
        int st = binlogTxnFramerPush(framer, segmentReaderFormat(r), &ev, pos, err);

        if (st < 0) {
            rc = errPrefix(err, "segment '%s': event at %s:%" PRIu64, m->name, m->file, pos);
            break;
        }
        if (!wasIn || (st & BINLOG_TXN_ABORTED))
            txnStart = pos;
        if (f->from.type == ARCHIVE_FETCH_POSITION && pos + ev.h.size > f->from.pos) {
            /* The event holding the position, or the first after it; back to its transaction. */
            f->startByte = (st & 0x0f) != BINLOG_TXN_OUTSIDE ? txnStart : pos;
            found = true;
        } else if (f->from.type == ARCHIVE_FETCH_GTID && (st & 0x0f) == BINLOG_TXN_END) {
            const BinlogTxn *t = binlogTxnFramerDone(framer);
            bool reached = false;

            if (t->gtid[0] != '\0' && gtidStateTextContains(f->flavour, t->gtid, f->from.gtid, &reached, err) != 0) {
                rc = -1;
                break;
            }
            if (reached) {
                f->startByte = t->startPos;
                found = true;
            }
        }
    }
    binlogTxnFramerFree(framer);
    segmentReaderFree(r);
    if (rc < 0)
        return -1;
    if (!found)
        return errSet(err, ERR_NOTFOUND, "the from point is not in segment '%s' where the index places it", m->name);
    return 0;
}

static int
fetchFlush(Fetch *f, Err *err) {
    if (f->used > 0 && fsWriteAll(f->fd, f->buf, f->used) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to write '%s'", f->files[f->fileCount - 1].tmp);
    f->used = 0;
    return 0;
}

static int
fetchWrite(Fetch *f, const void *data, size_t len, Err *err) {
    f->bytes += len;
    if (f->used + len > FETCH_BUFFER) {
        if (fetchFlush(f, err) != 0)
            return -1;
        if (len > FETCH_BUFFER) {
            if (fsWriteAll(f->fd, data, len) != 0)
                return errSetSys(err, ERR_IO, errno, "unable to write '%s'", f->files[f->fileCount - 1].tmp);
            return 0;
        }
    }
    memcpy(f->buf + f->used, data, len);
    f->used += len;
    return 0;
}

static int
fetchCloseFile(Fetch *f, Err *err) {
    const char *tmp;
    int rc;

    if (f->fd < 0)
        return 0;
    tmp = f->files[f->fileCount - 1].tmp;
    rc = fetchFlush(f, err);
    if (rc == 0 && fsync(f->fd) != 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to fsync '%s'", tmp);
    if (close(f->fd) != 0 && rc == 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to close '%s'", tmp);
    f->fd = -1;
    return rc;
}

/* Start the output file of `file`: the magic and the FDE. */
static int
fetchOpenFile(Fetch *f, const char *file, const uint8_t *fde, size_t fdeLen, Err *err) {
    FetchFile *out;
    struct stat st;

    if (fetchCloseFile(f, err) != 0)
        return -1;
    f->files = bvRealloc(f->files, (f->fileCount + 1) * sizeof(*f->files));
    out = &f->files[f->fileCount++];
    out->path = bvSprintf("%s/%s", f->dir, file);
    out->tmp = NULL;
    if (lstat(out->path, &st) == 0)
        return errSet(err, ERR_EXISTS, "'%s' already exists: fetch into an empty directory or remove it", out->path);
    /* The directory may be writable by others: a random name, created exclusively. */
    if ((f->fd = fsCreateTemp(out->path, 0640, &out->tmp, err)) < 0)
        return -1;
    if (fetchWrite(f, BINLOG_MAGIC, BINLOG_MAGIC_LEN, err) != 0)
        return -1;
    return fetchWrite(f, fde, fdeLen, err);
}

/* Pass over the range: write events from startByte through the until cut, verify everything. */
static int
fetchCopy(Fetch *f, Err *err) {
    BinlogTxnFramer *framer = binlogTxnFramerNew(FETCH_TXN_TEXT);
    bool stopped = false;
    int rc = 0;

    for (size_t si = f->first; si <= f->last && rc == 0 && !stopped; si++) {
        const SegmentMeta *m = archiveCatalogAt(f->catalog, si);
        SegmentReader *r = fetchSegmentOpen(f, m, err);
        BinlogEvent ev;
        uint64_t pos;
        bool opened = false;

        if (r == NULL) {
            rc = -1;
            break;
        }
        while ((rc = segmentReaderNext(r, &ev, &pos, err)) == 1) {
            bool write = si != f->first || pos >= f->startByte;
            int st;

            /* past the fork of the timeline followed (archive/timeline.h): read, verified, not fetched */
            if (stopped || pos >= m->endPos)
                continue;
            if (si == f->last && f->until.type == ARCHIVE_FETCH_POSITION && strcmp(m->file, f->until.file) == 0 &&
                pos >= f->until.pos && !binlogTxnFramerInTxn(framer)) {
                stopped = true;
                continue;
            }
            if (write) {
                if (!opened && (f->fd < 0 || strcmp(m->file, strrchr(f->files[f->fileCount - 1].path, '/') + 1) != 0 ||
                                segmentMetaTimeline(archiveCatalogAt(f->catalog, si - 1)) != segmentMetaTimeline(m))) {
                    size_t fdeLen;
                    const uint8_t *fde = segmentReaderFde(r, &fdeLen);

                    if (fetchOpenFile(f, m->file, fde, fdeLen, err) != 0) {
                        rc = -1;
                        break;
                    }
                }
                opened = true;
                if (fetchWrite(f, ev.data, ev.h.size, err) != 0) {
                    rc = -1;
                    break;
                }
                f->events++;
                f->wrote = true;
                f->endFile = m->file;
                f->endPos = pos + ev.h.size;
            }
            st = binlogTxnFramerPush(framer, segmentReaderFormat(r), &ev, pos, err);
            if (st < 0) {
                rc = errPrefix(err, "segment '%s': event at %s:%" PRIu64, m->name, m->file, pos);
                break;
            }
            if ((st & 0x0f) == BINLOG_TXN_END) {
                const BinlogTxn *t = binlogTxnFramerDone(framer);
                bool reached = false;

                f->transactions += write;
                if (si == f->last && f->until.type == ARCHIVE_FETCH_GTID && t->gtid[0] != '\0') {
                    if (gtidStateTextContains(f->flavour, t->gtid, f->until.gtid, &reached, err) != 0) {
                        rc = -1;
                        break;
                    }
                    if (reached && !write) {
                        rc = errSet(err, ERR_USAGE, "the until gtid '%s' comes before the from point", f->until.gtid);
                        break;
                    }
                    stopped = reached;
                }
            }
        }
        if (rc == 0 && strcmp(segmentReaderSha256(r), m->sha256) != 0)
            rc = errSet(err, ERR_CHECKSUM, "segment '%s': object sha256 mismatch: computed %s, the index says %s", m->name,
                        segmentReaderSha256(r), m->sha256);
        segmentReaderFree(r);
    }
    binlogTxnFramerFree(framer);
    if (rc == 0 && !f->wrote)
        rc = errSet(err, ERR_USAGE, "the range holds no event: the until point is at or before the from point");
    if (rc == 0)
        rc = fetchCloseFile(f, err);
    return rc;
}

/* Move every finished file into place (link(2): never over an existing file), or remove them all. */
static int
fetchFinish(Fetch *f, bool ok, Err *err) {
    size_t linked = 0;
    int rc = ok ? 0 : -1;

    if (!ok && f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    for (size_t i = 0; i < f->fileCount; i++) {
        if (f->files[i].tmp == NULL)
            continue;
        if (rc == 0) {
            if (link(f->files[i].tmp, f->files[i].path) != 0)
                rc = errSetSys(err, errno == EEXIST ? ERR_EXISTS : ERR_IO, errno, "unable to create '%s'",
                               f->files[i].path);
            else
                linked = i + 1;
        }
        unlink(f->files[i].tmp);
    }
    if (rc != 0) {
        /* A partial range is worse than none: remove the files this run created. */
        for (size_t i = 0; i < linked; i++)
            if (f->files[i].tmp != NULL)
                unlink(f->files[i].path);
        return -1;
    }
    return fsSyncDir(f->dir, err);
}

int
archiveFetchWrite(Archive *a, const ArchiveCatalog *c, const ArchiveFetchRange *range, const char *dir,
                  ArchiveFetchResult *res, Err *err) {
    Fetch f = {.archive = a, .catalog = c, .flavour = archiveCatalogFlavour(c), .dir = dir, .from = range->from,
               .until = range->until, .first = range->first, .last = range->last, .fd = -1};
    int rc = -1;

    memset(res, 0, sizeof(*res));
    if (fsMkdirP(dir, 0750, err) == 0 && fetchFindStart(&f, err) == 0) {
        f.buf = bvMalloc(FETCH_BUFFER);
        rc = fetchCopy(&f, err);
        rc = fetchFinish(&f, rc == 0, rc == 0 ? err : &(Err){0});
    }
    if (rc == 0) {
        res->paths = bvCalloc(f.fileCount + 1, sizeof(*res->paths));
        for (size_t i = 0; i < f.fileCount; i++) {
            res->paths[i] = f.files[i].path;
            f.files[i].path = NULL;
        }
        res->fileCount = f.fileCount;
        res->events = f.events;
        res->transactions = f.transactions;
        res->bytes = f.bytes;
        res->startPos = f.startByte;
        res->endFile = f.endFile;
        res->endPos = f.endPos;
    }
    for (size_t i = 0; i < f.fileCount; i++) {
        bvFree(f.files[i].path);
        bvFree(f.files[i].tmp);
    }
    bvFree(f.files);
    bvFree(f.buf);
    return rc;
}

void
archiveFetchResultClear(ArchiveFetchResult *res) {
    for (size_t i = 0; i < res->fileCount; i++)
        bvFree(res->paths[i]);
    bvFree(res->paths);
    memset(res, 0, sizeof(*res));
}
