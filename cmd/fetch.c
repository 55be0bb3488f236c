/*
 * binvault fetch: writes an archived range back out as ordinary binlog files (archive/fetch.h does
 * the work: locating the range, cutting it at transaction boundaries, verifying every segment);
 * this parses the points, prints the files written, or what the archive holds when the range is
 * refused.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/fetch.h"
#include "archive/key.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"
#include "common/mem.h"

/* The options fill the archive's fetch points. */
typedef ArchiveFetchPoint FetchPoint;
#define POINT_NONE ARCHIVE_FETCH_NONE
#define POINT_GTID ARCHIVE_FETCH_GTID
#define POINT_POSITION ARCHIVE_FETCH_POSITION

typedef struct Fetch {
    const char *dir;
    FetchPoint from, until;
} Fetch;

static int
parsePosition(const char *text, FetchPoint *p, Err *err) {
    const char *colon = strrchr(text, ':');
    char *end;
    size_t len;

    if (colon == NULL || colon == text || colon[1] == '\0')
        return errSet(err, ERR_USAGE, "invalid position '%s': expected FILE:POS, e.g. mariadb-bin.000003:256", text);
    len = (size_t)(colon - text);
    if (len >= sizeof(p->file))
        return errSet(err, ERR_USAGE, "invalid position '%s': file name too long", text);
    memcpy(p->file, text, len);
    p->file[len] = '\0';
    errno = 0;
    p->pos = strtoull(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || colon[1] == '-' || !segmentFileNameValid(p->file))
        return errSet(err, ERR_USAGE, "invalid position '%s': expected FILE:POS, e.g. mariadb-bin.000003:256", text);
    p->type = POINT_POSITION;
    return 0;
}

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

static void
fetchUsage(FILE *out) {
    fputs("usage: binvault fetch --archive URL [--from-gtid GTID | --from-position FILE:POS]\n"
          "                      [--until-gtid GTID | --until-position FILE:POS] --to DIR\n\n"
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
          "existing files are never overwritten.\n",
          out);
    fputs(CMD_STORAGE_HELP, out);
}

int
cmdFetch(int argc, char **argv) {
    StorageOptions storageOpts = {0};
    static const struct option opts[] = {
        {"archive", required_argument, NULL, 'a'},
        {"from-gtid", required_argument, NULL, 'g'},
        {"from-position", required_argument, NULL, 'p'},
        {"until-gtid", required_argument, NULL, 'G'},
        {"until-position", required_argument, NULL, 'P'},
        {"to", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        CMD_STORAGE_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    Fetch f = {0};
    const char *url = NULL;
    Storage *storage = NULL;
    Archive *archive = NULL;
    ArchiveCatalog *catalog = NULL;
    ArchiveFetchRange range;
    ArchiveFetchResult res = {0};
    Err err = {0};
    int ch, rc = -1;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "a:g:p:G:P:t:h", opts, NULL)) != -1) {
        FetchPoint *p = (ch == 'g' || ch == 'p') ? &f.from : &f.until;

        switch (ch) {
        case 'a': url = optarg; break;
        case 't': f.dir = optarg; break;
        case 'g':
        case 'G':
        case 'p':
        case 'P':
            if (p->type != POINT_NONE) {
                errSet(&err, ERR_USAGE, "give one %s point: a gtid or a position", p == &f.from ? "from" : "until");
                return cmdFail(&err);
            }
            if (ch == 'g' || ch == 'G') {
                p->type = POINT_GTID;
                p->gtid = optarg;
            } else if (parsePosition(optarg, p, &err) != 0) {
                return cmdFail(&err);
            }
            break;
        case 'h': fetchUsage(stdout); return 0;
        default:
            if (cmdStorageOption(ch, optarg, &storageOpts))
                break;
            fetchUsage(stderr); return 64;
        }
    }
    if (!cmdArchiveArgs("fetch", url, argc, argv, 0, 0, NULL) || f.dir == NULL) {
        if (url != NULL && optind == argc)
            fprintf(stderr, "binvault fetch: missing --to DIR\n");
        fetchUsage(stderr);
        return 64;
    }
    cmdStorageOptionsFromEnv(&storageOpts);
    if ((storage = archiveKeyOpenStore(url, &storageOpts, &err)) == NULL)
        return cmdFail(&err);
    archive = archiveNew(storage);
    catalog = archiveCatalogLoad(archive, 0, &err);
    if (catalog == NULL)
        goto out;
    if (archiveCatalogCount(catalog) == 0) {
        errSet(&err, ERR_NOTFOUND, "archive '%s' holds no segment", url);
        goto out;
    }
    if (archiveFetchLocate(catalog, &f.from, &f.until, &range, &err) != 0) {
        int code = cmdFail(&err);

        printWindows(catalog);
        archiveCatalogFree(catalog);
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
    archiveFree(archive);
    storageFree(storage);
    return rc == 0 ? 0 : cmdFail(&err);
}
