/*
 * Canned archives for the unit tests of archive/: the four MariaDB 10.11 fixture binlogs
 * (../shared/fixtures/binlog, 14 transactions, two GTID domains) under binlog file names, and an
 * archive in the case's temporary directory, filled by archiveImport().
 */
#ifndef BV_TESTS_UNIT_ARCHIVE_FIXTURE_H
#define BV_TESTS_UNIT_ARCHIVE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/import.h"

#define FIXTURE_FILES 4

typedef struct ArchiveFixture {
    char root[1024];                      /* the store's directory */
    char files[FIXTURE_FILES][1024];      /* mariadb-bin.000001 .. 000004 */
    char *argv[FIXTURE_FILES];            /* the same, for archiveImport() */
    Storage *storage;
    Archive *archive;
    ArchiveImportOpts opts;               /* notices collected in `notices` */
    char notices[8192];
    size_t noticeCount;
} ArchiveFixture;

/* The fixture binlogs named as on the server, and an empty archive; opts.segmentSize given. */
int fixtureOpen(ArchiveFixture *f, uint64_t segmentSize);
/* Import every fixture binlog into the archive. */
int fixtureImportAll(ArchiveFixture *f);
/* The fixture binlog `name` as the file `as` in `dir` (a symlink): its path in out. */
void fixtureAs(const char *dir, const char *name, const char *as, char *out, size_t size);
/* The MariaDB fixture binlog i (0..3) as stored in ../shared/fixtures/binlog. */
const char *fixtureMariaName(size_t i);
void fixtureClose(ArchiveFixture *f);

/* Metadata of a MariaDB segment `seq` of `file` [start, end) with GTID states gs .. ge (kept, not
 * copied), one transaction (ge) committed at seq seconds, name and sizes filled: for catalogs
 * built with archiveCatalogAdd(). */
void fixtureCrafted(SegmentMeta *m, uint64_t seq, const char *file, uint64_t start, uint64_t end, const char *gs,
                    const char *ge);

/* Index the n segments `metas` (seqs 1..n) in format 2: a chunk per block (the last one, when not
 * full, is the tail) and one level-1 summary of the full blocks. -1 and err on a failure. */
int fixtureIndexBlocks(Archive *a, Storage *s, const SegmentMeta *metas, size_t n, Err *err);

/* The timeline records of an archive forked once: timeline 1 from seq 1 (db1:3306, basename "bin"),
 * timeline 2 from tl2First (db2:3306), its fork after seq forkSeq at bin.000001:forkPos and GTID
 * state forkGtid (one transaction, committed at second forkSeq), the diverged branch forkSeq + 1 ..
 * tl2First - 1 with transactions divFirst..divLast. */
int fixtureTimelinesWrite(Archive *a, uint64_t forkSeq, uint64_t forkPos, const char *forkGtid, uint64_t tl2First,
                          const char *divFirst, const char *divLast, Err *err);

#endif
