/*
 * binvault fetch: write an archived range back out as ordinary binlog files, named as on the
 * server. Each file starts with the binlog magic and its FORMAT_DESCRIPTION event (in-use flag
 * clear), followed by the archived bytes of the range, byte-identical to the server's file over
 * that range. The range is cut at transaction boundaries: from the start of the transaction that
 * holds the from point, through the end of the transaction that holds (or ends at) the until
 * point. Every segment read is verified through every layer, its object SHA-256 against the
 * index included; nothing is left in DIR unless the whole range verified.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "binlog/pos.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"
#include "common/fs.h"
#include "common/mem.h"

#define FETCH_BUFFER (1024 * 1024)
/* The framer decodes (and inflates, for MariaDB's compressed query events) a statement up to this
 * size plus 64 bytes to see whether it opens or ends a transaction; a longer compressed statement
 * cannot be framed and stops the run with an error. */
#define FETCH_TXN_TEXT (1024 * 1024)

typedef enum FetchPointType { POINT_NONE = 0, POINT_GTID, POINT_POSITION } FetchPointType;

typedef struct FetchPoint {
    FetchPointType type;
    const char *gtid;
    char file[SEGMENT_FILE_MAX];
    uint64_t pos;
} FetchPoint;

/* One output file being written, then renamed into place. */
typedef struct FetchFile {
    char *path, *tmp;
} FetchFile;

typedef struct Fetch {
    Archive *archive;
    ArchiveCatalog *catalog;
    BinlogFlavour flavour;
    const char *dir;
    FetchPoint from, until;
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

/* What the archive can give, for a refusal. */
static void
printWindows(const ArchiveCatalog *c) {
    ArchiveWindow *w;
    size_t n = archiveCatalogWindows(c, &w);

    for (size_t i = 0; i < n; i++) {
        char t1[40], t2[40];

        cmdFormatTime(w[i].firstTimeUs, t1, sizeof(t1));
        cmdFormatTime(w[i].lastTimeUs, t2, sizeof(t2));
        fprintf(stderr,
                "binvault: the archive holds%s seq %" PRIu64 "-%" PRIu64 ": %s:%" PRIu64 " (gtid state %s) to %s:%" PRIu64
                " (gtid state %s), transactions %s (%s) to %s (%s)\n",
                n > 1 ? " without a gap" : "", w[i].from->seq, w[i].to->seq, w[i].from->file, w[i].from->startPos,
                segmentMetaGtidStart(w[i].from)[0] ? segmentMetaGtidStart(w[i].from) : "unknown", w[i].to->file,
                w[i].to->endPos, segmentMetaGtidEnd(w[i].to)[0] ? segmentMetaGtidEnd(w[i].to) : "unknown",
                w[i].firstGtid[0] ? w[i].firstGtid : "-", t1, w[i].lastGtid[0] ? w[i].lastGtid : "-", t2);
    }
    bvFree(w);
}

/* The catalog entries that hold the from and until points. */
static int
fetchLocate(Fetch *f, Err *err) {
    size_t n = archiveCatalogCount(f->catalog);
    ArchiveGap *gaps;
    size_t ngaps;
    int rc = 0;

    f->first = 0;
    f->last = n - 1;
    if (f->from.type == POINT_GTID)
        rc = archiveCatalogFindGtid(f->catalog, f->from.gtid, &f->first, err);
    else if (f->from.type == POINT_POSITION)
        rc = archiveCatalogFindPosition(f->catalog, f->from.file, f->from.pos, &f->first, err);
    if (rc != 0)
        return errPrefix(err, "from");
    if (f->until.type == POINT_GTID)
        rc = archiveCatalogFindGtid(f->catalog, f->until.gtid, &f->last, err);
    else if (f->until.type == POINT_POSITION)
        /* The last event that starts before the until position. */
        rc = f->until.pos <= BINLOG_MAGIC_LEN
                 ? errSet(err, ERR_NOTFOUND, "position %s:%" PRIu64 " is before the file's first event", f->until.file,
                          f->until.pos)
                 : archiveCatalogFindPosition(f->catalog, f->until.file, f->until.pos - 1, &f->last, err);
    if (rc != 0)
        return errPrefix(err, "until");
    if (f->first > f->last)
        return errSet(err, ERR_USAGE, "the from point (seq %" PRIu64 ") is after the until point (seq %" PRIu64 ")",
                      archiveCatalogAt(f->catalog, f->first)->seq, archiveCatalogAt(f->catalog, f->last)->seq);
    ngaps = archiveCatalogGaps(f->catalog, &gaps);
    for (size_t i = 0; i < ngaps; i++) {
        if (gaps[i].afterSeq >= archiveCatalogAt(f->catalog, f->first)->seq &&
            gaps[i].beforeSeq <= archiveCatalogAt(f->catalog, f->last)->seq) {
            rc = errSet(err, ERR_GAP, "the range crosses a gap: %s", gaps[i].message);
            break;
        }
    }
    bvFree(gaps);
    return rc;
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
    if (f->from.type == POINT_NONE || (f->from.type == POINT_POSITION && f->from.pos <= m->startPos))
        return 0;
    if ((r = archiveSegmentOpen(f->archive, m, err)) == NULL)
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
        if (f->from.type == POINT_POSITION && pos + ev.h.size > f->from.pos) {
            /* The event holding the position, or the first after it; back to its transaction. */
            f->startByte = (st & 0x0f) != BINLOG_TXN_OUTSIDE ? txnStart : pos;
            found = true;
        } else if (f->from.type == POINT_GTID && (st & 0x0f) == BINLOG_TXN_END) {
            const BinlogTxn *t = binlogTxnFramerDone(framer);
            bool reached = false;

            if (t->gtid[0] != '\0' && archiveGtidReached(f->flavour, t->gtid, f->from.gtid, &reached, err) != 0) {
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

    if (fetchCloseFile(f, err) != 0)
        return -1;
    f->files = bvRealloc(f->files, (f->fileCount + 1) * sizeof(*f->files));
    out = &f->files[f->fileCount++];
    out->path = bvSprintf("%s/%s", f->dir, file);
    out->tmp = bvSprintf("%s/%s.tmp", f->dir, file);
    if (access(out->path, F_OK) == 0) {
        bvFree(out->tmp);
        out->tmp = NULL;
        return errSet(err, ERR_EXISTS, "'%s' already exists: fetch into an empty directory or remove it", out->path);
    }
    f->fd = open(out->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (f->fd < 0) {
        int e = errno;

        bvFree(out->tmp);
        out->tmp = NULL;
        return errSetSys(err, ERR_IO, e, "unable to create '%s.tmp'", out->path);
    }
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
        SegmentReader *r = archiveSegmentOpen(f->archive, m, err);
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

            if (stopped)
                continue;
            if (si == f->last && f->until.type == POINT_POSITION && strcmp(m->file, f->until.file) == 0 &&
                pos >= f->until.pos && !binlogTxnFramerInTxn(framer)) {
                stopped = true;
                continue;
            }
            if (write) {
                if (!opened && (f->fd < 0 || strcmp(m->file, strrchr(f->files[f->fileCount - 1].path, '/') + 1) != 0)) {
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
                if (si == f->last && f->until.type == POINT_GTID && t->gtid[0] != '\0') {
                    if (archiveGtidReached(f->flavour, t->gtid, f->until.gtid, &reached, err) != 0) {
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

typedef struct FetchOpts {
    char *archive;
    StorageOptions storage;
    char *fromGtid, *untilGtid, *to;
    BinlogPos fromPosition, untilPosition;
} FetchOpts;

#define FETCH_OPT(field) offsetof(FetchOpts, field)
#define FETCH_STORAGE(field) offsetof(FetchOpts, storage.field)

static const OptDef fetchDefs[] = {
    CMD_ARCHIVE_OPTDEFS(FETCH_OPT(archive), FETCH_STORAGE),
    {"from-gtid", OPT_STRING, NULL, 0, 0, 0, FETCH_OPT(fromGtid), NULL,
     "start with that GTID's transaction (MariaDB d-s-n: the first of domain d with a sequence number of at least n)",
     NULL, NULL},
    {"from-position", OPT_POSITION, NULL, 0, 0, 0, FETCH_OPT(fromPosition), NULL,
     "start with the transaction, or event outside any, that holds the byte at POS", NULL, binlogPosOptParse},
    {"until-gtid", OPT_STRING, NULL, 0, 0, 0, FETCH_OPT(untilGtid), NULL, "end with that GTID's transaction", NULL,
     NULL},
    {"until-position", OPT_POSITION, NULL, 0, 0, 0, FETCH_OPT(untilPosition), NULL,
     "like --stop-position: every event that starts before POS, and the rest of its transaction", NULL,
     binlogPosOptParse},
    {"to", OPT_STRING, NULL, 0, 0, OPT_REQUIRED, FETCH_OPT(to), NULL,
     "output directory (created if needed; existing files are never overwritten)", NULL, NULL},
};

static const OptSet fetchSet = {
    "fetch",
    "binvault fetch --archive URL [--from-gtid GTID | --from-position FILE:POS]\n"
    "                      [--until-gtid GTID | --until-position FILE:POS] --to DIR",
    "Writes the archived range back out into DIR as ordinary binlog files named as on the server, each\n"
    "starting with the binlog magic and the file's FORMAT_DESCRIPTION event (in-use flag clear), then\n"
    "the archived bytes, byte-identical to the server's file over the range; 'mariadb-binlog' and\n"
    "'mysqlbinlog' read them. Without a from point the range starts at the archive's first segment,\n"
    "without an until point it ends at its last.\n\n"
    "The range is cut at transaction boundaries: it starts with the transaction that holds the from\n"
    "point (--from-gtid: that GTID's transaction; --from-position: the transaction, or event outside\n"
    "any, that holds the byte at POS) and ends with the transaction that holds or ends at the until\n"
    "point (--until-gtid: that GTID's transaction; --until-position: like --stop-position, every\n"
    "event that starts before POS, and the rest of its transaction). A MariaDB GTID d-s-n names the\n"
    "first transaction of domain d with a sequence number of at least n. When the range starts inside\n"
    "a file, that file holds the magic, the FDE, then the range: its events are at other offsets than\n"
    "on the server.\n\n"
    "Every segment read is verified (object SHA-256 against the index, lz4, content SHA-256, every\n"
    "event CRC); nothing is left in DIR unless the whole range verified. A range outside the archive\n"
    "or across a gap is refused, and what the archive holds is printed. DIR is created if needed;\n"
    "existing files are never overwritten.\n\n" CMD_STORAGE_HELP,
    fetchDefs,
    sizeof(fetchDefs) / sizeof(fetchDefs[0]),
    NULL,
    0,
    0,
};

/* A point of the range from its options: a GTID or a position, not both. */
static int
fetchPoint(FetchPoint *p, const char *gtid, const BinlogPos *pos, const char *which, Err *err) {
    if (gtid != NULL && pos->file[0] != '\0')
        return errSet(err, ERR_USAGE, "give one %s point: a gtid or a position", which);
    if (gtid != NULL) {
        p->type = POINT_GTID;
        p->gtid = gtid;
    } else if (pos->file[0] != '\0') {
        p->type = POINT_POSITION;
        snprintf(p->file, sizeof(p->file), "%s", pos->file);
        p->pos = pos->pos;
    }
    return 0;
}

/* The fetch of the range f describes, printed; the exit code. */
static int fetchRun(Fetch f, const char *url, const StorageOptions *storageOpts);

int
cmdFetch(int argc, char **argv) {
    FetchOpts o = {0};
    Fetch f = {.fd = -1};
    Err err;
    int rc;

    if (!cmdOptions(&fetchSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    if (fetchPoint(&f.from, o.fromGtid, &o.fromPosition, "from", &err) != 0 ||
        fetchPoint(&f.until, o.untilGtid, &o.untilPosition, "until", &err) != 0) {
        rc = cmdFail(&err);
    } else {
        f.dir = o.to;
        rc = fetchRun(f, o.archive, &o.storage);
    }
    optFree(&fetchSet, &o);
    return rc;
}

static int
fetchRun(Fetch f, const char *url, const StorageOptions *storageOpts) {
    Storage *storage = NULL;
    Err err = {0};
    int rc = -1;

    if ((storage = storageNewOpts(url, storageOpts, &err)) == NULL)
        return cmdFail(&err);
    f.archive = archiveNew(storage);
    f.catalog = archiveCatalogLoad(f.archive, 0, &err);
    if (f.catalog == NULL)
        goto out;
    if (archiveCatalogCount(f.catalog) == 0) {
        errSet(&err, ERR_NOTFOUND, "archive '%s' holds no segment", url);
        goto out;
    }
    f.flavour = archiveCatalogFlavour(f.catalog);
    if (fetchLocate(&f, &err) != 0) {
        int code = cmdFail(&err);

        printWindows(f.catalog);
        archiveCatalogFree(f.catalog);
        archiveFree(f.archive);
        storageFree(storage);
        return code;
    }
    if (fsMkdirP(f.dir, 0750, &err) != 0 || fetchFindStart(&f, &err) != 0)
        goto out;
    f.buf = bvMalloc(FETCH_BUFFER);
    rc = fetchCopy(&f, &err);
    rc = fetchFinish(&f, rc == 0, rc == 0 ? &err : &(Err){0});
    if (rc == 0) {
        const SegmentMeta *a = archiveCatalogAt(f.catalog, f.first), *b = archiveCatalogAt(f.catalog, f.last);

        for (size_t i = 0; i < f.fileCount; i++)
            printf("%s\n", f.files[i].path);
        printf("fetched %" PRIu64 " events, %" PRIu64 " transactions, %" PRIu64 " bytes in %zu files from seq %" PRIu64
               "-%" PRIu64 " (%s:%" PRIu64 " .. %s:%" PRIu64 "), every checksum verified\n",
               f.events, f.transactions, f.bytes, f.fileCount, a->seq, b->seq, a->file, f.startByte, f.endFile, f.endPos);
    }
out:
    for (size_t i = 0; i < f.fileCount; i++) {
        bvFree(f.files[i].path);
        bvFree(f.files[i].tmp);
    }
    bvFree(f.files);
    bvFree(f.buf);
    archiveCatalogFree(f.catalog);
    archiveFree(f.archive);
    storageFree(storage);
    return rc == 0 ? 0 : cmdFail(&err);
}
