/*
 * The archive (docs/FORMAT.md): an Archive wraps a Storage and knows the names of the archive's
 * objects, and stores and reads its segment objects. Each other kind of object, and the catalog
 * that the index describes, has its own header in archive/:
 *   identity.h    binvault.json
 *   checkpoint.h  checkpoint.json
 *   catalog.h     the index loaded into memory (ArchiveCatalog)
 *   index.h       index chunks: names, parsing, writing, compaction
 *   continuity.h  gaps and restorable windows of a catalog
 *   lookup.h      which segment holds a GTID, a position, a time
 *   gtidstate.h   comparison of GTID states
 *   backup.h      where a base backup's binlog position lies in the archive
 *   prune.h       retention: prune records, what to keep, the prune procedure
 *   verify.h, fetch.h, import.h: the work of the verify, fetch and import commands
 *
 * Errors name the object and the store. Segments are only streamed. An Archive holds no mutable
 * state.
 */
#ifndef BV_ARCHIVE_ARCHIVE_H
#define BV_ARCHIVE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/segment.h"
#include "common/err.h"
#include "storage/storage.h"

#define ARCHIVE_FORMAT_NAME "binvault-archive"
#define ARCHIVE_FORMAT_VERSION 1
/* binvault.json's version once the archive is upgraded to format 2 (docs/FORMAT.md "Format 2");
 * the other documents keep their own versions. */
#define ARCHIVE_IDENTITY_VERSION2 2
/* binvault.json's version of an archive whose segments are grouped in directories (docs/FORMAT.md
 * "Format 3"): what a new archive is created at. Versions 1 and 2 name their segments flat. */
#define ARCHIVE_IDENTITY_VERSION3 3
#define ARCHIVE_IDENTITY_OBJECT "binvault.json"
#define ARCHIVE_CHECKPOINT_OBJECT "checkpoint.json"
#define ARCHIVE_SEGMENT_PREFIX "segments/"
#define ARCHIVE_INDEX_PREFIX "index/"
#define ARCHIVE_PRUNE_PREFIX "prune/"
/* Largest binvault.json / checkpoint.json read. */
#define ARCHIVE_DOC_MAX (1024 * 1024)

typedef struct Archive Archive;

/* An archive on `storage`, which the caller keeps and frees after the archive. */
Archive *archiveNew(Storage *storage);
Storage *archiveStorage(const Archive *a);
const char *archiveUrl(const Archive *a);

/* How the archive names its segments (docs/FORMAT.md "Format 3"): grouped at version 3, flat at
 * 1 and 2, read from binvault.json once and kept. An archive without binvault.json is a new one,
 * which is created at version 3: grouped (not kept, so that the identity written next decides). */
int archiveSegmentNaming(Archive *a, SegmentNaming *naming, Err *err);
/* Set meta->name to the object name of its seq, file and start position in the archive's naming. */
int archiveSegmentSetName(Archive *a, SegmentMeta *meta, Err *err);
/* A listing's start-after name for the archive's segments of seqs from `from` on
 * (segmentListAfter() in the archive's naming). */
int archiveSegmentListAfter(Archive *a, uint64_t from, char *out, size_t size, Err *err);

/* Store a sealed segment file (segmentWriterSeal()) under meta->name. The file is read once to
 * compute what the store checks (size, SHA-256, MD5); a file that no longer matches meta->size /
 * meta->sha256 is refused (ERR_CHECKSUM). Storing an identical segment again is a no-op. */
int archiveSegmentPut(Archive *a, const char *localPath, const SegmentMeta *meta, Err *err);
/* Read the trailer of the stored segment `name` of `size` bytes (ranged reads). */
int archiveSegmentReadMeta(Archive *a, const char *name, uint64_t size, SegmentMeta *meta, Err *err);
/* Stream a stored segment, verifying every layer (segmentReaderNew()). meta->name and meta->size
 * say which object; after the verified end, compare segmentReaderSha256() with meta->sha256. */
SegmentReader *archiveSegmentOpen(Archive *a, const SegmentMeta *meta, Err *err);
/* Read a whole stored segment through the verifying reader and set meta->sha256 (and check
 * meta->size): what indexing a segment found in the store needs. */
int archiveSegmentHash(Archive *a, SegmentMeta *meta, Err *err);

void archiveFree(Archive *a);

#endif
