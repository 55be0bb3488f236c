/*
 * binvault import: archive existing binlog files into an archive, cut as the agent cuts its
 * stream (docs/FORMAT.md "Segments"): whole transactions of one file per segment, a cut at a
 * transaction boundary once a segment holds --segment-size bytes, and at the end of each file.
 * Sequence numbers and the GTID state continue from the archive's last segment, and a file the
 * archive already holds (part of) is resumed where the archive ends. Each segment is written in
 * a private spool directory, stored (storagePutFile), then indexed; the checkpoint follows the
 * index.
 *
 * Each file is read twice, with bounded memory: once to verify it and find where its last whole
 * transaction ends (a file still being written may end inside one, which is left for a later
 * import), once to cut it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"
#include "common/fs.h"
#include "common/mem.h"

#define IMPORT_READ_CHUNK (1024 * 1024)
#define IMPORT_INDEX_BATCH 256
/* The framer decodes (and inflates, for MariaDB's compressed query events) a statement up to this
 * size plus 64 bytes to see whether it opens or ends a transaction; a longer compressed statement
 * cannot be framed and stops the run with an error. */
#define IMPORT_TXN_TEXT (1024 * 1024)

/* Events of one binlog file, read in chunks. */
typedef struct FileEvents {
    const char *path;
    int fd;
    BinlogReader *reader;
    bool eof;
} FileEvents;

static int
fileEventsOpen(FileEvents *fe, const char *path, Err *err) {
    memset(fe, 0, sizeof(*fe));
    fe->path = path;
    fe->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fe->fd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to open '%s'", path);
    (void)posix_fadvise(fe->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    fe->reader = binlogReaderNew(BINLOG_READER_FILE, 0);
    return 0;
}

/* 1 and the next event at *pos, 0 at the end of the file (*truncated: it ends inside an event),
 * -1 on a corrupt event or a read error. */
static int
fileEventsNext(FileEvents *fe, BinlogEvent *ev, uint64_t *pos, bool *truncated, Err *err) {
    for (;;) {
        int rc = binlogReaderNext(fe->reader, ev, err);

        if (rc < 0)
            return errPrefix(err, "'%s'", fe->path);
        if (rc == 1) {
            *pos = binlogReaderEventOffset(fe->reader);
            return 1;
        }
        if (fe->eof) {
            *truncated = binlogReaderPending(fe->reader) > 0;
            return 0;
        }
        size_t avail;
        uint8_t *space = binlogReaderSpace(fe->reader, IMPORT_READ_CHUNK, &avail);
        ssize_t n = read(fe->fd, space, avail);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errSetSys(err, ERR_IO, errno, "unable to read '%s'", fe->path);
        }
        if (n == 0)
            fe->eof = true;
        binlogReaderCommit(fe->reader, (size_t)n);
    }
}

static void
fileEventsClose(FileEvents *fe) {
    if (fe->fd >= 0)
        close(fe->fd);
    binlogReaderFree(fe->reader);
    fe->fd = -1;
    fe->reader = NULL;
}

typedef struct Import {
    Archive *archive;
    ArchiveCatalog *catalog;
    ArchiveIdentity identity;
    uint64_t segmentSize;
    char *spool;
    BinlogTxnFramer *framer;
    uint64_t nextSeq;
    char *state; /* GTID state at the end of what is archived; NULL when unknown */
    /* Sealed and stored, not yet indexed. */
    SegmentMeta *batch;
    size_t batchCount;
    /* The segment being cut. */
    SegmentWriter *writer;
    char writerPath[PATH_MAX];
    bool cutPending;
    /* Totals. */
    uint64_t segments, contentBytes, objectBytes, transactions;
    unsigned files;
} Import;

static int
importIndexBatch(Import *im, Err *err) {
    ArchiveCheckpoint cp;
    ArchiveCheckpoint old;
    int rc;

    if (im->batchCount == 0)
        return 0;
    rc = archiveIndexPut(im->archive, im->catalog, im->batch, im->batchCount, err);
    for (size_t i = 0; i < im->batchCount; i++)
        segmentMetaClear(&im->batch[i]);
    im->batchCount = 0;
    if (rc != 0)
        return -1;
    archiveCheckpointFromCatalog(im->catalog, &cp);
    /* Keep what the agent last confirmed; an import does not read the source. */
    if (archiveCheckpointRead(im->archive, &old, err) == 0) {
        cp.caughtUpUs = old.caughtUpUs;
        archiveCheckpointClear(&old);
    }
    rc = archiveCheckpointWrite(im->archive, &cp, err);
    archiveCheckpointClear(&cp);
    return rc;
}

/* Seal the segment being cut, store it, and index the batch when it is full. */
static int
importSeal(Import *im, bool endsFile, Err *err) {
    SegmentMeta meta;

    if (im->writer == NULL)
        return 0;
    im->cutPending = false;
    if (segmentWriterSeal(im->writer, endsFile, &meta, err) != 0)
        return -1;
    segmentWriterFree(im->writer);
    im->writer = NULL;
    if (archiveSegmentPut(im->archive, im->writerPath, &meta, err) != 0) {
        segmentMetaClear(&meta);
        return -1;
    }
    unlink(im->writerPath);
    im->segments++;
    im->contentBytes += meta.contentLen;
    im->objectBytes += meta.size;
    im->transactions += meta.transactions;
    im->nextSeq = meta.seq + 1;
    im->batch[im->batchCount++] = meta;
    if (im->batchCount == IMPORT_INDEX_BATCH)
        return importIndexBatch(im, err);
    return 0;
}

static void
importSetState(Import *im) {
    bvFree(im->state);
    im->state = binlogTxnFramerGtidState(im->framer);
}

/* Pass 1: verify the file and find where its last whole transaction (or event outside any) ends.
 * *resumeOk tells whether an event ends at `resume` (0: not asked). */
static int
importScan(const char *path, uint64_t resume, uint64_t *limit, uint64_t *fileEnd, bool *resumeOk, Err *err) {
    FileEvents fe;
    BinlogTxnFramer *framer = binlogTxnFramerNew(IMPORT_TXN_TEXT);
    BinlogEvent ev;
    uint64_t pos;
    bool truncated = false;
    int rc;

    *limit = *fileEnd = 0;
    *resumeOk = resume == 0;
    if (fileEventsOpen(&fe, path, err) != 0) {
        binlogTxnFramerFree(framer);
        return -1;
    }
    while ((rc = fileEventsNext(&fe, &ev, &pos, &truncated, err)) == 1) {
        int st = binlogTxnFramerPush(framer, binlogReaderFormat(fe.reader), &ev, pos, err);

        if (st < 0) {
            rc = errPrefix(err, "'%s': event at offset %" PRIu64, path, pos);
            break;
        }
        *fileEnd = pos + ev.h.size;
        if (!binlogTxnFramerInTxn(framer))
            *limit = pos + ev.h.size;
        if (*fileEnd == resume)
            *resumeOk = true;
    }
    if (rc == 0 && *fileEnd == 0)
        rc = errSet(err, ERR_FORMAT, "'%s' is not a binlog file: no format description event", path);
    if (rc == 0 && (truncated || *limit < *fileEnd))
        fprintf(stderr, "binvault: '%s' ends %s at offset %" PRIu64 "; importing up to %" PRIu64 "\n", path,
                truncated ? "inside an event" : "inside a transaction", *fileEnd, *limit);
    fileEventsClose(&fe);
    binlogTxnFramerFree(framer);
    return rc;
}

static int
importStartSegment(Import *im, const char *file, const uint8_t *fde, size_t fdeLen, uint64_t pos, Err *err) {
    SegmentMeta m = {0};

    m.seq = im->nextSeq;
    m.flavour = im->identity.flavour;
    m.serverId = im->identity.serverId;
    snprintf(m.serverUuid, sizeof(m.serverUuid), "%s", im->identity.serverUuid);
    snprintf(m.file, sizeof(m.file), "%s", file);
    m.startPos = pos;
    m.gtidStart = im->state;
    snprintf(im->writerPath, sizeof(im->writerPath), "%s/%016" PRIu64 ".bvs.part", im->spool, m.seq);
    im->writer = segmentWriterNew(im->writerPath, &m, fde, fdeLen, err);
    return im->writer != NULL ? 0 : -1;
}

/* The GTID state a file starts with must be where the archive ends (when both are known). */
static int
importCheckStart(Import *im, const char *path, const char *fileState, Err *err) {
    bool equal;

    if (im->state == NULL || im->state[0] == '\0' || fileState[0] == '\0')
        return 0;
    if (archiveGtidStateEqual(im->identity.flavour, im->state, fileState, &equal, err) != 0)
        return errPrefix(err, "'%s'", path);
    if (!equal)
        return errSet(err, ERR_GAP,
                      "'%s' starts at gtid state %s but the archive ends at %s: the binlogs between them are missing "
                      "(import them first, in order)",
                      path, fileState, im->state);
    return 0;
}

/* Pass 2: cut the file's events from `from` to `limit` into segments. */
static int
importCut(Import *im, const char *path, const char *file, uint64_t from, uint64_t limit, bool moreFiles, Err *err) {
    FileEvents fe;
    BinlogEvent ev;
    uint64_t pos;
    uint8_t *fde = NULL, lastType = 0;
    size_t fdeLen = 0;
    bool truncated = false, checked = from > 0;
    int rc;

    if (fileEventsOpen(&fe, path, err) != 0)
        return -1;
    while ((rc = fileEventsNext(&fe, &ev, &pos, &truncated, err)) == 1) {
        const BinlogFormat *fmt = binlogReaderFormat(fe.reader);
        int st;

        if (fde == NULL) {
            if (ev.h.type != BINLOG_FORMAT_DESCRIPTION || pos != BINLOG_MAGIC_LEN) {
                rc = errSet(err, ERR_FORMAT, "'%s': no format description event at offset 4", path);
                break;
            }
            if (fmt->flavour != im->identity.flavour) {
                rc = errSet(err, ERR_CONFIG, "'%s' was written by a %s server, the archive holds %s binlogs", path,
                            fmt->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb",
                            im->identity.flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
                break;
            }
            fdeLen = ev.h.size;
            fde = bvMalloc(fdeLen);
            memcpy(fde, ev.data, fdeLen);
            if (from == 0)
                from = pos + fdeLen;
            continue;
        }
        if (pos < from)
            continue;
        if (pos >= limit)
            break;
        if (im->cutPending && importSeal(im, false, err) != 0) {
            rc = -1;
            break;
        }
        if (im->writer == NULL && importStartSegment(im, file, fde, fdeLen, pos, err) != 0) {
            rc = -1;
            break;
        }
        if (segmentWriterAppend(im->writer, ev.data, ev.h.size, pos + ev.h.size, err) != 0) {
            rc = -1;
            break;
        }
        lastType = ev.h.type;
        st = binlogTxnFramerPush(im->framer, fmt, &ev, pos, err);
        if (st < 0) {
            rc = errPrefix(err, "'%s': event at offset %" PRIu64, path, pos);
            break;
        }
        if (ev.h.type == BINLOG_MARIA_GTID_LIST || ev.h.type == BINLOG_PREVIOUS_GTIDS) {
            char *state = binlogTxnFramerGtidState(im->framer);

            /* The state before the file's first transaction, as the server wrote it. */
            if (!checked && importCheckStart(im, path, state, err) != 0) {
                bvFree(state);
                rc = -1;
                break;
            }
            checked = true;
            segmentWriterSetGtidStart(im->writer, state);
            bvFree(state);
            importSetState(im);
        }
        if ((st & 0x0f) == BINLOG_TXN_END) {
            const BinlogTxn *t = binlogTxnFramerDone(im->framer);

            importSetState(im);
            segmentWriterTransaction(im->writer, t->gtid, t->commitTimeUs, im->state);
            if (segmentWriterContentBytes(im->writer) >= im->segmentSize)
                im->cutPending = true;
        }
    }
    /* The file's last segment: it ends the file when the server closed it (ROTATE, STOP) or when
     * the binlogs go on in a later file (a server that crashed leaves neither). */
    if (rc >= 0)
        rc = importSeal(im, lastType == BINLOG_ROTATE || lastType == BINLOG_STOP || moreFiles, err);
    bvFree(fde);
    fileEventsClose(&fe);
    return rc < 0 ? -1 : 0;
}

static int
importFile(Import *im, const char *path, bool moreFiles, Err *err) {
    const char *file = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const SegmentMeta *last = archiveCatalogLast(im->catalog);
    uint64_t from = 0, limit, fileEnd;
    bool resumeOk;

    if (!segmentFileNameValid(file))
        return errSet(err, ERR_USAGE, "'%s': '%s' is not a binlog file name binvault can archive", path, file);
    if (last != NULL) {
        int cmp = segmentFileCompare(file, last->file);

        if (cmp < 0 || (cmp == 0 && last->endsFile)) {
            bool held = false;

            for (size_t i = 0; i < archiveCatalogCount(im->catalog) && !held; i++)
                held = strcmp(archiveCatalogAt(im->catalog, i)->file, file) == 0;
            fprintf(stderr, "binvault: skipping '%s': %s (it continues after %s:%" PRIu64 ")\n", path,
                    held ? "the archive already holds it" : "it is older than the archive's end, and an archive only grows at its end",
                    last->file, last->endPos);
            return 0;
        }
        if (cmp == 0)
            from = last->endPos;
    }
    if (importScan(path, from, &limit, &fileEnd, &resumeOk, err) != 0)
        return -1;
    if (!resumeOk)
        return errSet(err, ERR_GAP, "the archive ends at %s:%" PRIu64 ", which is not an event boundary of '%s' (%" PRIu64
                                    " bytes): is it another server's file?",
                      file, from, path, fileEnd);
    if (from != 0 && from >= limit) {
        fprintf(stderr, "binvault: nothing new in '%s' after %s:%" PRIu64 "\n", path, file, from);
        return 0;
    }
    im->files++;
    if (importCut(im, path, file, from, limit, moreFiles, err) != 0)
        return -1;
    return 0;
}

/* The identity of the binlogs: from the first file's FDE. */
static int
importIdentity(const char *path, ArchiveIdentity *id, Err *err) {
    FileEvents fe;
    BinlogEvent ev;
    uint64_t pos;
    bool truncated;
    int rc;

    memset(id, 0, sizeof(*id));
    if (fileEventsOpen(&fe, path, err) != 0)
        return -1;
    rc = fileEventsNext(&fe, &ev, &pos, &truncated, err);
    if (rc == 0)
        rc = errSet(err, ERR_FORMAT, "'%s' is not a binlog file: no format description event", path);
    if (rc == 1 && ev.h.type != BINLOG_FORMAT_DESCRIPTION)
        rc = errSet(err, ERR_FORMAT, "'%s': no format description event at offset 4", path);
    if (rc == 1) {
        const BinlogFormat *fmt = binlogReaderFormat(fe.reader);

        id->flavour = fmt->flavour;
        id->serverId = ev.h.serverId;
        snprintf(id->serverVersion, sizeof(id->serverVersion), "%s", fmt->serverVersion);
        snprintf(id->source, sizeof(id->source), "import");
        rc = id->flavour == BINLOG_FLAVOUR_UNKNOWN
                 ? errSet(err, ERR_FORMAT, "'%s': unknown server flavour '%s'", path, fmt->serverVersion)
                 : 0;
    }
    fileEventsClose(&fe);
    return rc;
}

static int
importCompare(const void *a, const void *b) {
    const char *pa = *(char *const *)a, *pb = *(char *const *)b;
    const char *fa = strrchr(pa, '/') ? strrchr(pa, '/') + 1 : pa;
    const char *fb = strrchr(pb, '/') ? strrchr(pb, '/') + 1 : pb;

    return segmentFileCompare(fa, fb);
}

static int
importRun(Import *im, const char *url, const StorageOptions *storageOpts, char **files, int nfiles, Err *err) {
    Storage *storage = storageNewOpts(url, storageOpts, err);
    const SegmentMeta *last;
    size_t indexed = 0, written, removed;
    int rc = -1;

    if (storage == NULL)
        return -1;
    im->archive = archiveNew(storage);
    im->framer = binlogTxnFramerNew(IMPORT_TXN_TEXT);
    im->batch = bvCalloc(IMPORT_INDEX_BATCH, sizeof(*im->batch));
    qsort(files, (size_t)nfiles, sizeof(*files), importCompare);
    for (int i = 1; i < nfiles; i++)
        if (importCompare(&files[i - 1], &files[i]) == 0) {
            errSet(err, ERR_USAGE, "'%s' and '%s' have the same binlog file name", files[i - 1], files[i]);
            goto out;
        }
    if (importIdentity(files[0], &im->identity, err) != 0 ||
        archiveIdentityEnsure(im->archive, &im->identity, NULL, err) != 0)
        goto out;
    im->catalog = archiveCatalogLoad(im->archive, ARCHIVE_LOAD_DISCOVER, err);
    if (im->catalog == NULL)
        goto out;
    for (size_t i = 0; i < archiveCatalogProblemCount(im->catalog); i++)
        fprintf(stderr, "binvault: warning: %s\n", archiveCatalogProblem(im->catalog, i));
    /* Segments stored by an interrupted run but never indexed: verify and index them first. */
    if (archiveIndexDiscovered(im->archive, im->catalog, &indexed, err) != 0)
        goto out;
    if (indexed > 0)
        fprintf(stderr, "binvault: indexed %zu segments stored earlier but not yet indexed\n", indexed);
    last = archiveCatalogLast(im->catalog);
    im->nextSeq = last != NULL ? last->seq + 1 : 1;
    if (last != NULL && segmentMetaGtidEnd(last)[0] != '\0') {
        if (binlogTxnFramerSetGtidState(im->framer, im->identity.flavour, last->gtidEnd, err) != 0) {
            errPrefix(err, "gtid state of '%s'", last->name);
            goto out;
        }
        im->state = bvStrdup(last->gtidEnd);
    }
    im->spool = bvSprintf("%s/binvault-import-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(im->spool) == NULL) {
        errSetSys(err, ERR_IO, errno, "unable to create a spool directory '%s'", im->spool);
        bvFree(im->spool);
        im->spool = NULL;
        goto out;
    }
    for (int i = 0; i < nfiles; i++)
        if (importFile(im, files[i], i + 1 < nfiles, err) != 0)
            goto out;
    if (importIndexBatch(im, err) != 0 || archiveIndexMerge(im->archive, im->catalog, &written, &removed, err) != 0)
        goto out;
    rc = 0;
out:
    segmentWriterFree(im->writer);
    im->writer = NULL;
    for (size_t i = 0; i < im->batchCount; i++)
        segmentMetaClear(&im->batch[i]);
    bvFree(im->batch);
    if (im->spool != NULL) {
        Err ignored;

        fsRemoveTree(im->spool, &ignored);
        bvFree(im->spool);
    }
    bvFree(im->state);
    binlogTxnFramerFree(im->framer);
    archiveCatalogFree(im->catalog);
    archiveFree(im->archive);
    storageFree(storage);
    return rc;
}

typedef struct ImportOpts {
    char *archive;
    StorageOptions storage;
    int64_t segmentSize;
} ImportOpts;

#define IMPORT_STORAGE(field) offsetof(ImportOpts, storage.field)

static const OptDef importDefs[] = {
    CMD_ARCHIVE_OPTDEFS(offsetof(ImportOpts, archive), IMPORT_STORAGE),
    {"segment-size", OPT_SIZE, "64M", 1, INT64_MAX, 0, offsetof(ImportOpts, segmentSize), NULL,
     "cut a segment at the first transaction boundary once it holds this many bytes", NULL, NULL},
};

static const OptSet importSet = {
    "import",
    "binvault import --archive URL [--segment-size BYTES] FILE...",
    "Archives binlog files that are already on disk (a server's binlog directory, a copy, the output\n"
    "of 'binvault pull') into the archive at URL (file:///path, a plain path, or an S3 URL), as\n"
    "the agent archives a live stream: whole transactions of one file per segment, a segment cut at a\n"
    "transaction boundary once it holds --segment-size bytes (default 64M; K, M, G suffixes) and at\n"
    "the end of each file. Every event's CRC is checked first; each segment is stored (the spool file\n"
    "checked against the SHA-256 it was sealed with), then indexed, then the checkpoint moves.\n\n"
    "FILEs are taken in binlog order whatever the order given. The archive's identity is created from\n"
    "the first file when the archive is empty; binlogs of another flavour are refused. Importing\n"
    "into an archive continues it: files it already holds are skipped, the file it ends in is resumed\n"
    "where it ends, and a file whose GTID state does not follow the archive's end is refused (exit\n"
    "65), so that the archive never gets a gap. A file that ends inside a transaction (still being\n"
    "written) is imported up to its last whole transaction; import it again later for the rest.\n\n" CMD_STORAGE_HELP,
    importDefs,
    sizeof(importDefs) / sizeof(importDefs[0]),
    "the binlog FILEs to import",
    1,
    -1,
};

int
cmdImport(int argc, char **argv) {
    ImportOpts o = {0};
    Import im = {0};
    const char *url;
    char **files = NULL;
    int nfiles = 0, rc;
    Err err = {0};

    if (!cmdOptions(&importSet, &o, argc, argv, &files, &nfiles, &rc))
        return rc;
    url = o.archive;
    im.segmentSize = (uint64_t)o.segmentSize;
    rc = 0;
    if (importRun(&im, url, &o.storage, files, nfiles, &err) != 0)
        rc = cmdFail(&err);
    else if (im.segments == 0)
        printf("nothing to import: the archive already holds everything in the files given\n");
    else
        printf("imported %" PRIu64 " segments (%" PRIu64 " transactions, %" PRIu64 " binlog bytes in %" PRIu64
               " bytes) from %u files into %s\n",
               im.segments, im.transactions, im.contentBytes, im.objectBytes, im.files, url);
    bvFree(files);
    optFree(&importSet, &o);
    return rc;
}
