/*
 * binvault import: archives binlog files that are already on disk, cut by the segmenter as the
 * agent cuts its stream (archive/import.h does the work); this parses the options and prints what
 * was imported, and the notices of the import on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "archive/archive.h"
#include "archive/import.h"
#include "archive/key.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"
#include "common/mem.h"


/* The options fill the import's options. */
typedef ArchiveImportOpts Import;

static void
importNotice(void *data, const char *message) {
    (void)data;
    fprintf(stderr, "binvault: %s\n", message);
}

static int
importRun(Import *im, const char *url, const StorageOptions *storageOpts, char **files, int nfiles,
          ArchiveImportResult *res, Err *err) {
    Storage *storage = cmdOpenArchive(url, storageOpts, err);
    Archive *archive;
    int rc;

    if (storage == NULL)
        return -1;
    archive = archiveNew(storage);
    im->tmpDir = storageOpts->tmpDir != NULL ? storageOpts->tmpDir : "/tmp"; /* --tmp-dir, TMPDIR */
    im->notice = importNotice;
    rc = archiveImport(archive, im, files, (size_t)nfiles, res, err);
    archiveFree(archive);
    storageFree(storage);
    return rc;
}

typedef struct ImportOpts {
    char *archive;
    StorageOptions storage;
    int64_t segmentSize;
    bool newTimeline;
    char *sourceHost;
} ImportOpts;

#define IMPORT_STORAGE(field) offsetof(ImportOpts, storage.field)

static const OptDef importDefs[] = {
    CMD_ARCHIVE_OPTDEFS(offsetof(ImportOpts, archive), IMPORT_STORAGE),
    {"segment-size", OPT_SIZE, "64M", 1, INT64_MAX, 0, offsetof(ImportOpts, segmentSize), NULL,
     "cut a segment at the first transaction boundary once it holds this many bytes", NULL, NULL},
    {"new-timeline", OPT_BOOL, NULL, 0, 0, 0, offsetof(ImportOpts, newTimeline), NULL,
     "the FILEs are the binlogs of the server that took over after a failover: start a new timeline where the "
     "first FILE's GTID state meets the archive (what the old source archived after that is kept as a diverged "
     "branch)", NULL, NULL},
    {"source-host", OPT_STRING, NULL, 0, 0, 0, offsetof(ImportOpts, sourceHost), NULL,
     "with --new-timeline: the new source's host:port, for the timeline's record (default: import)", NULL, NULL},
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
    "written) is imported up to its last whole transaction; import it again later for the rest.\n\n"
    "After a failover, --new-timeline imports the new primary's binlogs (from the file it started at\n"
    "after its promotion) as a new timeline of the archive: its record says where it forks from the\n"
    "current timeline (by GTID state), and what the old primary archived after that point stays in\n"
    "the archive as a diverged branch, reported by list, verify and status and reachable with\n"
    "'recover --timeline N'.\n\n" CMD_STORAGE_HELP,
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
    ArchiveImportResult res;
    const char *url;
    char **files = NULL;
    int nfiles = 0, rc;
    uint32_t started = 0;
    char diverged[2048] = "";
    Err err = {0};

    if (!cmdOptions(&importSet, &o, argc, argv, &files, &nfiles, &rc))
        return rc;
    url = o.archive;
    im.segmentSize = (uint64_t)o.segmentSize;
    im.newTimeline = o.newTimeline;
    im.sourceHost = o.sourceHost;
    im.startedTimeline = &started;
    im.divergedText = diverged;
    im.divergedTextSize = sizeof(diverged);
    rc = 0;
    o.storage.create = true; /* the first import makes the archive */
    if (importRun(&im, url, &o.storage, files, nfiles, &res, &err) != 0)
        rc = cmdFail(&err);
    if (started != 0)
        printf("started timeline %" PRIu32 "\n", started);
    if (diverged[0] != '\0')
        printf("warning: %s\n", diverged);
    if (rc == 0 && res.segments == 0)
        printf("nothing to import: the archive already holds everything in the files given\n");
    else if (rc == 0)
        printf("imported %" PRIu64 " segments (%" PRIu64 " transactions, %" PRIu64 " binlog bytes in %" PRIu64
               " bytes) from %u files into %s\n",
               res.segments, res.transactions, res.contentBytes, res.objectBytes, res.files, url);
    bvFree(files);
    optFree(&importSet, &o);
    return rc;
}
