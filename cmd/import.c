/*
 * binvault import: archives binlog files that are already on disk, cut by the segmenter as the
 * agent cuts its stream (archive/import.h does the work); this parses the options and prints what
 * was imported, and the notices of the import on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "archive/archive.h"
#include "archive/import.h"
#include "archive/key.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"

#define IMPORT_DEFAULT_SEGMENT (64ull * 1024 * 1024)

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
    Storage *storage = archiveKeyOpenStore(url, storageOpts, err);
    Archive *archive;
    int rc;

    if (storage == NULL)
        return -1;
    archive = archiveNew(storage);
    im->tmpDir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    im->notice = importNotice;
    rc = archiveImport(archive, im, files, (size_t)nfiles, res, err);
    archiveFree(archive);
    storageFree(storage);
    return rc;
}

/* "64M", "1G", "1048576". */
static int
parseSize(const char *text, uint64_t *out) {
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || text[0] == '-')
        return -1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': v *= 1024ull; end++; break;
    case 'm': case 'M': v *= 1024ull * 1024; end++; break;
    case 'g': case 'G': v *= 1024ull * 1024 * 1024; end++; break;
    default: return -1;
    }
    if (*end != '\0' || v == 0)
        return -1;
    *out = v;
    return 0;
}

static void
importUsage(FILE *out) {
    fputs("usage: binvault import --archive URL [--segment-size BYTES] FILE...\n\n"
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
          "written) is imported up to its last whole transaction; import it again later for the rest.\n",
          out);
    fputs(CMD_STORAGE_HELP, out);
}

int
cmdImport(int argc, char **argv) {
    StorageOptions storageOpts = {0};
    static const struct option opts[] = {
        {"archive", required_argument, NULL, 'a'},
        {"segment-size", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        CMD_STORAGE_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    Import im = {0};
    ArchiveImportResult res;
    const char *url = NULL;
    Err err = {0};
    int c;

    im.segmentSize = IMPORT_DEFAULT_SEGMENT;
    optind = 1;
    while ((c = getopt_long(argc, argv, "a:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': url = optarg; break;
        case 's':
            if (parseSize(optarg, &im.segmentSize) != 0) {
                errSet(&err, ERR_USAGE, "invalid --segment-size '%s': expected a positive number of bytes (K, M, G suffixes)",
                       optarg);
                return cmdFail(&err);
            }
            break;
        case 'h': importUsage(stdout); return 0;
        default:
            if (cmdStorageOption(c, optarg, &storageOpts))
                break;
            importUsage(stderr); return 64;
        }
    }
    if (!cmdArchiveArgs("import", url, argc, argv, 1, INT_MAX, "the binlog FILEs to import")) {
        importUsage(stderr);
        return 64;
    }
    cmdStorageOptionsFromEnv(&storageOpts);
    if (importRun(&im, url, &storageOpts, argv + optind, argc - optind, &res, &err) != 0)
        return cmdFail(&err);
    if (res.segments == 0)
        printf("nothing to import: the archive already holds everything in the files given\n");
    else
        printf("imported %" PRIu64 " segments (%" PRIu64 " transactions, %" PRIu64 " binlog bytes in %" PRIu64
               " bytes) from %u files into %s\n",
               res.segments, res.transactions, res.contentBytes, res.objectBytes, res.files, url);
    return 0;
}
