/*
 * Importing binlog files that are already on disk into an archive, cut as the agent cuts its
 * stream: the files' events are fed to the segmenter (archive/segmenter.h), which makes the cut
 * decisions (whole transactions of one file per segment, a cut at a transaction boundary once a
 * segment holds segmentSize bytes, and at the end of each file). Sequence numbers and the GTID
 * state continue from the archive's last segment, and a file the archive already holds (part of)
 * is resumed where the archive ends. Each segment is sealed in a private spool directory, stored
 * (archiveSegmentPut()), then indexed; the checkpoint follows the index. What `binvault import`
 * does.
 *
 * Each file is read twice, with bounded memory: once to verify it and find where its last whole
 * transaction ends (a file still being written may end inside one, which is left for a later
 * import), once to cut it.
 */
#ifndef BV_ARCHIVE_IMPORT_H
#define BV_ARCHIVE_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"

typedef struct ArchiveImportOpts {
    uint64_t segmentSize; /* cut once a segment's content reaches this many bytes */
    const char *tmpDir;   /* where the private spool directory is made */
    /* What the operator should know but is no failure (may be NULL): a file skipped or imported
     * only in part, a problem of the archive's index, segments indexed that an earlier run left. */
    void (*notice)(void *data, const char *message);
    void *data;
    /* The files are another server's, which took over from the archive's source (a failover):
     * start a new timeline (archive/timeline.h) whose fork is where the first file's GTID state
     * (its GTID_LIST or PREVIOUS_GTIDS event) meets the current timeline; what that timeline
     * archived after it is kept as a diverged branch. */
    bool newTimeline;
    const char *sourceHost; /* the new timeline's source host in its record; NULL: "import" */
    /* Filled by a run that started a timeline: its number, and its record's diverged branch in
     * words ("" when nothing diverged). */
    uint32_t *startedTimeline;
    char *divergedText;
    size_t divergedTextSize;
} ArchiveImportOpts;

typedef struct ArchiveImportResult {
    uint64_t segments, transactions;
    uint64_t contentBytes, objectBytes; /* binlog bytes, and the segment objects' bytes */
    unsigned files;                     /* files with something new imported */
} ArchiveImportResult;

/* Import `nfiles` (at least 1) binlog files, taken in binlog order whatever the order given
 * (`files` is sorted in place). The archive's identity is created from the first file when it has
 * none; binlogs of another flavour are refused (ERR_CONFIG). A file whose GTID state does not
 * follow the archive's end, or that the archive's end is not an event boundary of, is refused
 * (ERR_GAP). *res counts what was imported, also on failure. */
/* A file whose server differs from the archive's end is refused (ERR_GAP) unless newTimeline;
 * with newTimeline, a first file that does not start at a GTID state the current timeline reached
 * after one of its transactions is refused (ERR_NOTFOUND, ERR_GAP without a GTID_LIST). */
int archiveImport(Archive *a, const ArchiveImportOpts *opts, char **files, size_t nfiles, ArchiveImportResult *res,
                  Err *err);

#endif
