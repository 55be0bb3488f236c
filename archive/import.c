/* Importing binlog files into an archive through the segmenter (import.h). */
#include "archive/import.h"
#include "archive/upgrade.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "binlog/gtid.h"
#include "archive/identity.h"
#include "archive/index.h"
#include "archive/segmenter.h"
#include "archive/timeline.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "common/bytes.h"
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

/* What the first pass learns of a file. */
typedef struct FileScan {
    uint64_t limit;   /* where its last whole transaction (or event outside any) ends */
    uint64_t fileEnd; /* where its last whole event ends */
    bool resumeOk;    /* an event ends at the resume position (true when not resuming) */
    bool fdeFirst;    /* it starts with a FORMAT_DESCRIPTION event at offset 4 */
    BinlogFlavour flavour;
    char *startState; /* the GTID state its first GTID_LIST / PREVIOUS_GTIDS event sets; NULL: none */
    char *resumeState; /* the GTID state at the resume position; NULL: not resuming, or unknown */
    uint32_t serverId; /* of its FORMAT_DESCRIPTION event: the server that wrote it */
} FileScan;

typedef struct Import {
    Archive *archive;
    const ArchiveImportOpts *opts;
    ArchiveImportResult *res;
    ArchiveCatalog *catalog;
    ArchiveIdentity identity;
    char *spool;
    SegmentCompressor *compressor; /* one worker for every segment of the run */
    Segmenter *seg;
    /* Sealed and stored, not yet indexed. */
    SegmentMeta *batch;
    size_t batchCount;
    uint32_t timeline; /* of the segments written: the archive's newest, or the one started */
} Import;

static void
notice(Import *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
notice(Import *im, const char *fmt, ...) {
    char msg[ERR_MSG_MAX + 512];
    va_list ap;

    if (im->opts->notice == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    im->opts->notice(im->opts->data, msg);
}

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

/* Segmenter sink: the open segment's file in the spool. */
static void
sinkTmpPath(void *data, uint64_t seq, char *out, size_t size) {
    snprintf(out, size, "%s/%016" PRIu64 ".bvs.part", ((Import *)data)->spool, seq);
}

/* Segmenter sink: store a sealed segment, and index the batch when it is full. */
static int
sinkSealed(void *data, const char *tmpPath, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
           const char *nextFile, Err *err) {
    Import *im = data;

    SegmentMeta *m = &im->batch[im->batchCount];

    (void)fde;
    (void)fdeLen;
    (void)nextFile;
    segmentMetaCopy(m, meta);
    if (archiveSegmentSetName(im->archive, m, err) != 0 || archiveSegmentPut(im->archive, tmpPath, m, err) != 0) {
        segmentMetaClear(m);
        return -1;
    }
    unlink(tmpPath);
    im->res->segments++;
    im->res->contentBytes += m->contentLen;
    im->res->objectBytes += m->size;
    im->res->transactions += m->transactions;
    im->batchCount++;
    if (im->batchCount == IMPORT_INDEX_BATCH)
        return importIndexBatch(im, err);
    return 0;
}

/* Pass 1: verify the file and learn where its last whole transaction (or event outside any)
 * ends, and how it starts. */
static int
importScan(Import *im, const char *path, uint64_t resume, FileScan *scan, Err *err) {
    FileEvents fe;
    BinlogTxnFramer *framer = binlogTxnFramerNew(IMPORT_TXN_TEXT);
    BinlogEvent ev;
    uint64_t pos;
    bool truncated = false, first = true;
    int rc;

    memset(scan, 0, sizeof(*scan));
    scan->resumeOk = resume == 0;
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
        /* Stored events say where they end, but for the events inside a transaction of MariaDB 11.4
         * and later (binlog_legacy_event_pos=OFF), whose log_pos is 0; outside a transaction 0 is
         * what a replication stream sends for artificial events, which are not archived. */
        if (ev.h.logPos == 0 && !(ev.h.flags & BINLOG_FLAG_ARTIFICIAL) && (st & 0x0f) == BINLOG_TXN_OUTSIDE) {
            rc = errSet(err, ERR_FORMAT,
                        "'%s': %s event at offset %" PRIu64 " has log_pos 0, as events relayed by a replication "
                        "stream have: import needs the end positions a server writes in its binlog",
                        path, binlogEventTypeName(ev.h.type), pos);
            break;
        }
        if (first) {
            scan->fdeFirst = ev.h.type == BINLOG_FORMAT_DESCRIPTION && pos == BINLOG_MAGIC_LEN;
            scan->serverId = ev.h.serverId;
            scan->flavour = binlogReaderFormat(fe.reader)->flavour;
            first = false;
        }
        if (scan->startState == NULL && (ev.h.type == BINLOG_MARIA_GTID_LIST || ev.h.type == BINLOG_PREVIOUS_GTIDS))
            scan->startState = binlogTxnFramerGtidState(framer);
        scan->fileEnd = pos + ev.h.size;
        if (!binlogTxnFramerInTxn(framer))
            scan->limit = pos + ev.h.size;
        if (scan->fileEnd == resume) {
            scan->resumeOk = true;
            if (scan->resumeState == NULL)
                scan->resumeState = binlogTxnFramerGtidState(framer);
        }
    }
    if (rc == 0 && scan->fileEnd == 0)
        rc = errSet(err, ERR_FORMAT, "'%s' is not a binlog file: no format description event", path);
    if (rc == 0 && (truncated || scan->limit < scan->fileEnd))
        notice(im, "'%s' ends %s at offset %" PRIu64 "; importing up to %" PRIu64, path,
               truncated ? "inside an event" : "inside a transaction", scan->fileEnd, scan->limit);
    fileEventsClose(&fe);
    binlogTxnFramerFree(framer);
    return rc;
}

/* The GTID state a file starts with must be where the archive ends (when the archive's is known:
 * a file that starts with no GTIDs after an archive that has some comes from another server). */
static int
importCheckStart(Import *im, const char *path, const char *fileState, Err *err) {
    char *state = segmenterGtidState(im->seg);
    bool equal;
    int rc = 0;

    if (state[0] != '\0') {
        if (gtidStateTextEqual(im->identity.flavour, state, fileState, &equal, err) != 0)
            rc = errPrefix(err, "'%s'", path);
        else if (!equal)
            rc = errSet(err, ERR_GAP,
                        "'%s' starts at gtid state %s but the archive ends at %s: the binlogs between them are missing "
                        "(import them first, in order)",
                        path, fileState, state);
    }
    bvFree(state);
    return rc;
}

/* An artificial ROTATE to `next`, as a replication stream sends when it moves to another file: it
 * tells the segmenter that the file is over. */
static int
pushRotate(Import *im, const char *next, bool crc, Err *err) {
    size_t nameLen = strlen(next), len = BINLOG_HEADER_LEN + 8 + nameLen + (crc ? BINLOG_CHECKSUM_LEN : 0);
    uint8_t *ev = bvCalloc(1, len);
    int rc;

    ev[4] = BINLOG_ROTATE;
    wrU32(ev + 5, im->identity.serverId);
    wrU32(ev + 9, (uint32_t)len);
    wrU16(ev + 17, BINLOG_FLAG_ARTIFICIAL);
    wrU64(ev + BINLOG_HEADER_LEN, BINLOG_MAGIC_LEN);
    memcpy(ev + BINLOG_HEADER_LEN + 8, next, nameLen);
    if (crc)
        wrU32(ev + len - BINLOG_CHECKSUM_LEN, binlogEventComputeChecksum(ev, len - BINLOG_CHECKSUM_LEN));
    rc = segmenterPush(im->seg, ev, len, 0, err);
    bvFree(ev);
    return rc;
}

static const char *
baseName(const char *path) {
    return strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
}

/* Pass 2: feed the file's events from `from` to `limit` to the segmenter, then end the file: the
 * segment it leaves open ends the file when the binlogs go on in a later file (`next`; the file
 * ends with a ROTATE or STOP when the server closed it, and the segmenter seals at those). */
static int
importCut(Import *im, const char *path, uint64_t from, uint64_t limit, const char *next, Err *err) {
    FileEvents fe;
    BinlogEvent ev;
    uint64_t pos;
    bool truncated = false, crc = false;
    int rc;

    if (fileEventsOpen(&fe, path, err) != 0)
        return -1;
    while ((rc = fileEventsNext(&fe, &ev, &pos, &truncated, err)) == 1) {
        if (ev.h.type == BINLOG_FORMAT_DESCRIPTION && pos == BINLOG_MAGIC_LEN)
            crc = binlogReaderFormat(fe.reader)->checksumAlg == BINLOG_CHECKSUM_CRC32;
        else if (pos < from)
            continue;
        if (pos >= limit)
            break;
        if (segmenterPush(im->seg, ev.data, ev.h.size, 0, err) != 0) {
            rc = errPrefix(err, "'%s'", path);
            break;
        }
    }
    if (rc >= 0) {
        if (next != NULL)
            rc = segmenterHasOpen(im->seg) ? pushRotate(im, baseName(next), crc, err) : 0;
        else
            rc = segmenterCut(im->seg, err) < 0 ? -1 : 0;
    }
    fileEventsClose(&fe);
    return rc < 0 ? -1 : 0;
}

/* The archive's last segment if it is of the timeline being written: a new timeline continues
 * no file of the old source's. */
static const SegmentMeta *
importLast(const Import *im) {
    const SegmentMeta *last = archiveCatalogLast(im->catalog);

    return last != NULL && segmentMetaTimeline(last) == im->timeline ? last : NULL;
}

static int
importFile(Import *im, const char *path, const char *next, Err *err) {
    const char *file = baseName(path);
    const SegmentMeta *last = importLast(im);
    uint64_t from = 0;
    FileScan scan;
    char *state;
    int rc;

    if (!segmentFileNameValid(file))
        return errSet(err, ERR_USAGE, "'%s': '%s' is not a binlog file name binvault can archive", path, file);
    if (last != NULL) {
        int cmp = segmentFileCompare(file, last->file);

        if (cmp < 0 || (cmp == 0 && last->endsFile)) {
            bool held = false;

            for (size_t i = 0; i < archiveCatalogCount(im->catalog) && !held; i++)
                held = strcmp(archiveCatalogAt(im->catalog, i)->file, file) == 0;
            notice(im, "skipping '%s': %s (it continues after %s:%" PRIu64 ")", path,
                   held ? "the archive already holds it" : "it is older than the archive's end, and an archive only grows at its end",
                   last->file, last->endPos);
            return 0;
        }
        if (cmp == 0)
            from = last->endPos;
    }
    if (importScan(im, path, from, &scan, err) != 0)
        return -1;
    rc = -1;
    if (!scan.resumeOk) {
        errSet(err, ERR_GAP, "the archive ends at %s:%" PRIu64 ", which is not an event boundary of '%s' (%" PRIu64
                             " bytes): is it another server's file?",
               file, from, path, scan.fileEnd);
        goto out;
    }
    if (from != 0 && from >= scan.limit) {
        notice(im, "nothing new in '%s' after %s:%" PRIu64, path, file, from);
        rc = 0;
        goto out;
    }
    if (!scan.fdeFirst) {
        errSet(err, ERR_FORMAT, "'%s': no format description event at offset 4", path);
        goto out;
    }
    if (scan.flavour != im->identity.flavour) {
        errSet(err, ERR_CONFIG, "'%s' was written by a %s server, the archive holds %s binlogs", path,
               scan.flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb",
               im->identity.flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
        goto out;
    }
    /* The archive holds one server's history (a failover's new primary needs timelines). */
    if (last != NULL && scan.serverId != last->serverId) {
        errSet(err, ERR_GAP, "'%s' was written by server_id %" PRIu32 " but the archive holds the binlogs of server_id %"
               PRIu32 ": another server's history (after a failover to it, import its binlogs with --new-timeline; "
               "else into another archive)", path, scan.serverId, last->serverId);
        goto out;
    }
    /* Imported from its start, the file's first segment starts at the state the server wrote at
     * the file's start, which must be where the archive ends; resumed, the state at the resume
     * position must be the archive's end, server ids included (same names and offsets on
     * another server are not the same history). */
    if (from == 0 && scan.startState != NULL && importCheckStart(im, path, scan.startState, err) != 0)
        goto out;
    if (from != 0 && scan.resumeState != NULL && importCheckStart(im, path, scan.resumeState, err) != 0)
        goto out;
    im->res->files++;
    state = from == 0 && scan.startState != NULL && scan.startState[0] != '\0' ? bvStrdup(scan.startState)
                                                                                : segmenterGtidState(im->seg);
    rc = segmenterResume(im->seg, segmenterLastSeq(im->seg), file, from != 0 ? from : BINLOG_MAGIC_LEN, state, NULL, 0,
                         err);
    bvFree(state);
    if (rc == 0)
        rc = importCut(im, path, from, scan.limit, next, err);
out:
    bvFree(scan.startState);
    bvFree(scan.resumeState);
    return rc;
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
    return segmentFileCompare(baseName(*(char *const *)a), baseName(*(char *const *)b));
}

/* The segmenter, continuing after the archive's last segment. */
static int
importSegmenter(Import *im, const char *forkState, Err *err) {
    const SegmentMeta *last = importLast(im), *any = archiveCatalogLast(im->catalog);
    SegmenterOpts sopts = {0};
    SegmenterSink sink = {sinkTmpPath, sinkSealed, im};

    sopts.segmentSize = im->opts->segmentSize;
    sopts.flavour = im->identity.flavour;
    sopts.serverId = im->identity.serverId;
    sopts.serverUuid = im->identity.serverUuid;
    sopts.timeline = im->timeline;
    sopts.streamChecksum = BINLOG_CHECKSUM_CRC32;
    if ((im->compressor = segmentCompressorNew(err)) == NULL)
        return -1;
    sopts.compressor = im->compressor;
    im->seg = segmenterNew(&sopts, &sink);
    /* Commit times from the binlog alone: the files were written long before this run. */
    segmenterSetClock(im->seg, 0);
    if (last == NULL)
        return segmenterResume(im->seg, any != NULL ? any->seq : 0, "", BINLOG_MAGIC_LEN,
                               forkState != NULL ? forkState : "", NULL, 0, err);
    if (segmenterResume(im->seg, last->seq, last->file, last->endPos, segmentMetaGtidEnd(last), NULL, 0, err) != 0)
        return errPrefix(err, "gtid state of '%s'", last->name);
    return 0;
}

/* The archive's timeline; with newTimeline, a new one whose fork is where the first file starts:
 * its record is stored before its first segment. *forkState (allocated) receives the state the
 * new timeline starts from, NULL without one. */
static int
importTimeline(Import *im, const char *first, char **forkState, Err *err) {
    const ArchiveImportOpts *o = im->opts;
    const SegmentMeta *last = archiveCatalogLast(im->catalog);
    const SegmentMeta **parent = NULL;
    const TimelineRecord *newest;
    TimelineSet *set;
    TimelineRecord rec;
    FileScan scan;
    size_t n = 0;
    int rc = -1;

    *forkState = NULL;
    if (timelineSetLoad(im->archive, &set, err) != 0)
        return -1;
    im->timeline = timelineSetNewest(set);
    newest = timelineSetFind(set, im->timeline);
    memset(&rec, 0, sizeof(rec));
    memset(&scan, 0, sizeof(scan));
    if (!o->newTimeline) {
        rc = 0;
        goto out;
    }
    if (importScan(im, first, 0, &scan, err) != 0)
        goto out;
    if (scan.startState == NULL || scan.startState[0] == '\0') {
        errSet(err, ERR_GAP, "'%s' does not start with a GTID state (GTID_LIST / PREVIOUS_GTIDS): a new timeline "
                             "is joined to the archive by GTID", first);
        goto out;
    }
    *forkState = bvStrdup(scan.startState);
    /* Started by an earlier run that stopped before its first segment. */
    if (newest != NULL && (last == NULL || last->seq < newest->firstSeq) && newest->source.serverId == scan.serverId) {
        rc = 0;
        goto out;
    }
    if (last == NULL) {
        errSet(err, ERR_USAGE, "--new-timeline continues an archive, and '%s' holds no segment", archiveUrl(im->archive));
        goto out;
    }
    parent = bvCalloc(archiveCatalogCount(im->catalog), sizeof(*parent));
    for (size_t i = 0; i < archiveCatalogCount(im->catalog); i++)
        if (segmentMetaTimeline(archiveCatalogAt(im->catalog, i)) == im->timeline)
            parent[n++] = archiveCatalogAt(im->catalog, i);
    rec.timeline = im->timeline + 1;
    rec.parent = im->timeline;
    rec.firstSeq = last->seq + 1;
    rec.hasFork = true;
    if (timelineForkFind(im->archive, parent, n, scan.startState, &rec.fork, err) != 0) {
        errPrefix(err, "'%s' (server_id %" PRIu32 ") cannot start timeline %" PRIu32, first, scan.serverId,
                  rec.timeline);
        goto out;
    }
    if (timelineDivergedFill(im->archive, parent, n, &rec, err) != 0)
        goto out;
    rec.source.flavour = scan.flavour;
    rec.source.serverId = scan.serverId;
    snprintf(rec.source.host, sizeof(rec.source.host), "%s", o->sourceHost != NULL ? o->sourceHost : "import");
    timelineBasename(baseName(first), rec.source.basename, sizeof(rec.source.basename));
    snprintf(rec.source.serverVersion, sizeof(rec.source.serverVersion), "%s", im->identity.serverVersion);
    snprintf(rec.reason, sizeof(rec.reason),
             "import --new-timeline: the binlogs of server_id %" PRIu32 " from '%s' continue timeline %" PRIu32
             " at gtid state %.600s",
             scan.serverId, baseName(first), im->timeline, scan.startState);
    if (timelineRecordWrite(im->archive, &rec, err) != 0)
        goto out;
    im->timeline = rec.timeline;
    if (o->startedTimeline != NULL)
        *o->startedTimeline = rec.timeline;
    if (o->divergedText != NULL && o->divergedTextSize > 0)
        timelineDescribeDiverged(&rec, o->divergedText, o->divergedTextSize);
    rc = 0;
out:
    if (rc != 0) {
        bvFree(*forkState);
        *forkState = NULL;
    }
    bvFree(scan.startState);
    bvFree(scan.resumeState);
    bvFree(parent);
    timelineRecordClear(&rec);
    timelineSetFree(set);
    return rc;
}

static int
importRun(Import *im, char **files, size_t nfiles, Err *err) {
    size_t indexed = 0, written, removed;
    char *forkState = NULL;
    int rc;

    qsort(files, nfiles, sizeof(*files), importCompare);
    for (size_t i = 1; i < nfiles; i++)
        if (importCompare(&files[i - 1], &files[i]) == 0)
            return errSet(err, ERR_USAGE, "'%s' and '%s' have the same binlog file name", files[i - 1], files[i]);
    if (importIdentity(files[0], &im->identity, err) != 0 ||
        archiveIdentityEnsure(im->archive, &im->identity, NULL, err) != 0 ||
        archiveUpgradeOnOpen(im->archive, NULL, err) != 0)
        return -1;
    im->catalog = archiveCatalogLoad(im->archive, ARCHIVE_LOAD_DISCOVER, err);
    if (im->catalog == NULL)
        return -1;
    for (size_t i = 0; i < archiveCatalogProblemCount(im->catalog); i++)
        notice(im, "warning: %s", archiveCatalogProblem(im->catalog, i));
    /* Segments stored by an interrupted run but never indexed: verify and index them first. */
    if (archiveIndexDiscovered(im->archive, im->catalog, &indexed, err) != 0)
        return -1;
    if (indexed > 0)
        notice(im, "indexed %zu segments stored earlier but not yet indexed", indexed);
    if (importTimeline(im, files[0], &forkState, err) != 0)
        return -1;
    rc = importSegmenter(im, forkState, err);
    bvFree(forkState);
    if (rc != 0)
        return -1;
    im->spool = bvSprintf("%s/binvault-import-XXXXXX", im->opts->tmpDir);
    if (mkdtemp(im->spool) == NULL) {
        errSetSys(err, ERR_IO, errno, "unable to create a spool directory '%s'", im->spool);
        bvFree(im->spool);
        im->spool = NULL;
        return -1;
    }
    for (size_t i = 0; i < nfiles; i++)
        if (importFile(im, files[i], i + 1 < nfiles ? files[i + 1] : NULL, err) != 0)
            return -1;
    if (importIndexBatch(im, err) != 0 || archiveIndexMerge(im->archive, im->catalog, &written, &removed, err) != 0)
        return -1;
    /* The blocks the import completed get their summaries (a streaming pass over the index). */
    return archiveUpgrade(im->archive, false, &(ArchiveUpgradeReport){0}, err);
}

int
archiveImport(Archive *a, const ArchiveImportOpts *opts, char **files, size_t nfiles, ArchiveImportResult *res,
              Err *err) {
    Import im = {.archive = a, .opts = opts, .res = res};
    int rc;

    BV_ASSERT(nfiles > 0);
    memset(res, 0, sizeof(*res));
    im.batch = bvCalloc(IMPORT_INDEX_BATCH, sizeof(*im.batch));
    rc = importRun(&im, files, nfiles, err);
    segmenterFree(im.seg); /* removes a segment left open by a failure */
    segmentCompressorFree(im.compressor);
    for (size_t i = 0; i < im.batchCount; i++)
        segmentMetaClear(&im.batch[i]);
    bvFree(im.batch);
    if (im.spool != NULL) {
        Err ignored;

        fsRemoveTree(im.spool, &ignored);
        bvFree(im.spool);
    }
    archiveCatalogFree(im.catalog);
    return rc;
}
