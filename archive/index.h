/*
 * Index chunks (docs/FORMAT.md "Index"): index/<first>-<last>.bvi, one JSON line per segment of
 * seqs first..last. Their names, their parsing, and writing the index: a chunk for new segments,
 * chunks for segments found in the store only, and compaction of narrow chunks into wide ones.
 */
#ifndef BV_ARCHIVE_INDEX_H
#define BV_ARCHIVE_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/catalog.h"

/* Largest index chunk object read. */
#define ARCHIVE_CHUNK_MAX_BYTES (256u * 1024 * 1024)
/* archiveIndexMerge() merges adjacent chunks narrower than this into chunks of at most this many
 * segments. */
#define ARCHIVE_CHUNK_TARGET 1024

/* Index chunk names: index/<first>-<last>.bvi (16-digit numbers). Parse: -1 when not one. */
void archiveChunkName(uint64_t first, uint64_t last, char *out, size_t size);
int archiveChunkNameParse(const char *name, uint64_t *first, uint64_t *last);

/* Parse the lines of an index chunk of seqs first..last (`len` bytes, any content): exactly one
 * valid index line per seq, in order. *metas (n entries; free each with segmentMetaClear() and
 * the array with bvFree()) on success; messages name the line. ERR_FORMAT. */
int archiveChunkParse(const uint8_t *data, size_t len, uint64_t first, uint64_t last, SegmentMeta **metas, size_t *n,
                      Err *err);

/* Write the chunk index/<first>-<last>.bvi for `n` segments of consecutive seqs, all stored and
 * with sha256 known. With `c`, the segments are added to it (or marked indexed) and the chunk
 * recorded. */
int archiveIndexPut(Archive *a, ArchiveCatalog *c, const SegmentMeta *metas, size_t n, Err *err);
/* Index the catalog's entries that no chunk describes (found by ARCHIVE_LOAD_DISCOVER): read each
 * through the verifying reader for its sha256, then write one chunk per run of consecutive seqs.
 * *indexed (may be NULL) receives the number of segments indexed. */
int archiveIndexDiscovered(Archive *a, ArchiveCatalog *c, size_t *indexed, Err *err);
/* Compact the index: write one chunk for each run of adjacent chunks narrower than
 * ARCHIVE_CHUNK_TARGET (at most that wide, lines copied byte for byte), then delete the chunks it
 * replaces and the chunks wholly covered by wider ones. A crash in between leaves overlapping,
 * never missing, coverage. *written / *removed (may be NULL) receive the counts. */
int archiveIndexMerge(Archive *a, ArchiveCatalog *c, size_t *written, size_t *removed, Err *err);

#endif
