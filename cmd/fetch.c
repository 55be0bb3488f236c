/*
 * binvault fetch: writes an archived range back out as ordinary binlog files (archive/fetch.h does
 * the work: locating the range, cutting it at transaction boundaries, verifying every segment);
 * this parses the points, prints the files written, or what the archive holds when the range is
 * refused.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/fetch.h"
#include "archive/outline.h"
#include "archive/timeline.h"
#include "binlog/pos.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"
#include "common/mem.h"
#include "common/opt.h"

/* The options fill the archive's fetch points. */
typedef ArchiveFetchPoint FetchPoint;
#define POINT_NONE ARCHIVE_FETCH_NONE
#define POINT_GTID ARCHIVE_FETCH_GTID
#define POINT_POSITION ARCHIVE_FETCH_POSITION

typedef struct Fetch {
    const char *dir;
    FetchPoint from, until;
    uint32_t timeline; /* the path followed: 0 for the main line */
} Fetch;

/* What the archive can give, for a refusal. */
static void
printWindows(ArchiveView *v) {
    ArchiveOutline *o = archiveOutlineNew(v, &(Err){0});
    size_t n = o != NULL ? archiveOutlineWindowCount(o) : 0;

    for (size_t i = 0; i < n; i++) {
        const ArchiveWindow *w = archiveOutlineWindowAt(o, i);
        char t1[40], t2[40];

        cmdFormatTime(w->firstTimeUs, t1, sizeof(t1));
        cmdFormatTime(w->lastTimeUs, t2, sizeof(t2));
        fprintf(stderr,
                "binvault: the archive holds%s seq %" PRIu64 "-%" PRIu64 ": %s:%" PRIu64 " (gtid state %s) to %s:%" PRIu64
                " (gtid state %s), transactions %s (%s) to %s (%s)\n",
                n > 1 ? " without a gap" : "", w->from->seq, w->to->seq, w->from->file, w->from->startPos,
                segmentMetaGtidStart(w->from)[0] ? segmentMetaGtidStart(w->from) : "unknown", w->to->file,
                w->to->endPos, segmentMetaGtidEnd(w->to)[0] ? segmentMetaGtidEnd(w->to) : "unknown",
                w->firstGtid[0] ? w->firstGtid : "-", t1, w->lastGtid[0] ? w->lastGtid : "-", t2);
    }
    archiveOutlineFree(o);
}

/* The seq of a point through the view (the archive's first or last seq without one); the lookups
 * say what is wrong as the catalog's do, prefixed "from" / "until". */
static int
pointSeq(ArchiveView *v, const ArchiveFetchPoint *p, bool until, uint64_t *seq, Err *err) {
    int rc = 0;

    *seq = until ? archiveViewLastSeq(v) : archiveViewFirstSeq(v);
    if (p->type == ARCHIVE_FETCH_GTID)
        rc = archiveViewFindGtid(v, p->gtid, seq, err);
    else if (p->type == ARCHIVE_FETCH_POSITION && until)
        rc = p->pos <= BINLOG_MAGIC_LEN ? 0 /* archiveFetchLocate() refuses it */
                                        : archiveViewFindPosition(v, p->file, p->pos - 1, seq, err);
    else if (p->type == ARCHIVE_FETCH_POSITION)
        rc = archiveViewFindPosition(v, p->file, p->pos, seq, err);
    return rc != 0 ? errPrefix(err, until ? "until" : "from") : 0;
}

typedef struct FetchOpts {
    char *archive;
    StorageOptions storage;
    char *fromGtid, *untilGtid, *to;
    BinlogPos fromPosition, untilPosition;
    int64_t timeline;
} FetchOpts;

#define FETCH_OPT(field) offsetof(FetchOpts, field)
#define FETCH_STORAGE(field) offsetof(FetchOpts, storage.field)

static const OptDef fetchDefs[] = {
    CMD_ARCHIVE_OPTDEFS(FETCH_OPT(archive), FETCH_STORAGE),
    {"from-gtid", OPT_STRING, NULL, 0, 0, 0, FETCH_OPT(fromGtid), NULL,
     "start with that GTID's transaction (MariaDB d-s-n: the first of domain d with a sequence number of at least n)",
     NULL, cmdGtidCheck},
    {"from-position", OPT_POSITION, NULL, 0, 0, 0, FETCH_OPT(fromPosition), NULL,
     "start with the transaction, or event outside any, that holds the byte at POS", NULL, binlogPosOptParse},
    {"until-gtid", OPT_STRING, NULL, 0, 0, 0, FETCH_OPT(untilGtid), NULL, "end with that GTID's transaction", NULL,
     cmdGtidCheck},
    {"until-position", OPT_POSITION, NULL, 0, 0, 0, FETCH_OPT(untilPosition), NULL,
     "like --stop-position: every event that starts before POS, and the rest of its transaction", NULL,
     binlogPosOptParse},
    {"timeline", OPT_INT, "0", 0, TIMELINE_MAX, 0, FETCH_OPT(timeline), NULL,
     "follow timeline N back to the first (0: the main line, the newest timeline's); see recover --timeline", NULL,
     NULL},
    {"to", OPT_STRING, NULL, 0, 0, OPT_REQUIRED, FETCH_OPT(to), NULL,
     "output directory (created if needed; existing files are never overwritten)", NULL, NULL},
};

static const OptSet fetchSet = {
    "fetch",
    "binvault fetch --archive URL [--from-gtid GTID | --from-position FILE:POS]\n"
    "                      [--until-gtid GTID | --until-position FILE:POS] [--timeline N] --to DIR",
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
    "existing files are never overwritten.\n\n"
    "In an archive that followed a failover the range is that of the main line (the newest timeline\n"
    "and its parents up to each fork), or with --timeline N that of timeline N's history: the\n"
    "transactions of a diverged branch are written only when its timeline is followed.\n\n" CMD_STORAGE_HELP,
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
    Fetch f = {0};
    Err err;
    int rc;

    if (!cmdOptions(&fetchSet, &o, argc, argv, NULL, NULL, &rc))
        return rc;
    if (fetchPoint(&f.from, o.fromGtid, &o.fromPosition, "from", &err) != 0 ||
        fetchPoint(&f.until, o.untilGtid, &o.untilPosition, "until", &err) != 0) {
        rc = cmdFail(&err);
    } else {
        f.dir = o.to;
        f.timeline = (uint32_t)o.timeline;
        rc = fetchRun(f, o.archive, &o.storage);
    }
    optFree(&fetchSet, &o);
    return rc;
}

static int
fetchRun(Fetch f, const char *url, const StorageOptions *storageOpts) {
    Storage *storage = NULL;
    Archive *archive = NULL;
    ArchiveView *v = NULL;
    ArchiveCatalog *catalog = NULL; /* the range's segments */
    uint64_t fromSeq, untilSeq;
    ArchiveFetchRange range;
    ArchiveFetchResult res = {0};
    Err err = {0};
    int rc = -1;

    if ((storage = cmdOpenArchive(url, storageOpts, &err)) == NULL)
        return cmdFail(&err);
    archive = archiveNew(storage);
    /* The catalog opened by range, and the part of it the range covers, along the main line. */
    if ((v = archiveViewOpen(archive, 0, &err)) == NULL)
        goto out;
    if (archiveViewLastSeq(v) == 0) {
        errSet(&err, ERR_NOTFOUND, "archive '%s' holds no segment", url);
        goto out;
    }
    if (pointSeq(v, &f.from, false, &fromSeq, &err) != 0 || pointSeq(v, &f.until, true, &untilSeq, &err) != 0 ||
        (catalog = archiveViewLoadRange(v, fromSeq < untilSeq ? fromSeq : untilSeq,
                                        fromSeq < untilSeq ? untilSeq : fromSeq, &err)) == NULL ||
        archiveCatalogFollowTimeline(archive, catalog, f.timeline, NULL, &err) != 0 ||
        archiveFetchLocate(catalog, &f.from, &f.until, &range, &err) != 0) {
        int code = cmdFail(&err);

        if (err.code == ERR_NOTFOUND || err.code == ERR_GAP || err.code == ERR_USAGE)
            printWindows(v);
        archiveCatalogFree(catalog);
        archiveViewFree(v);
        archiveFree(archive);
        storageFree(storage);
        return code;
    }
    rc = archiveFetchWrite(archive, catalog, &range, f.dir, &res, &err);
    if (rc == 0) {
        const SegmentMeta *a = archiveCatalogAt(catalog, range.first), *b = archiveCatalogAt(catalog, range.last);

        for (size_t i = 0; i < res.fileCount; i++)
            printf("%s\n", res.paths[i]);
        printf("fetched %" PRIu64 " events, %" PRIu64 " transactions, %" PRIu64 " bytes in %zu files from seq %" PRIu64
               "-%" PRIu64 " (%s:%" PRIu64 " .. %s:%" PRIu64 "), every checksum verified\n",
               res.events, res.transactions, res.bytes, res.fileCount, a->seq, b->seq, a->file, res.startPos, res.endFile,
               res.endPos);
    }
out:
    archiveFetchResultClear(&res);
    archiveCatalogFree(catalog);
    archiveViewFree(v);
    archiveFree(archive);
    storageFree(storage);
    return rc == 0 ? 0 : cmdFail(&err);
}
