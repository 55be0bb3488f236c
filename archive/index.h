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
#include "archive/summary.h"

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

/* ---- the writer of a growing archive (index_writer.c; docs/FORMAT.md "Catalog") ----
 *
 * The agent's and import's index writer: it keeps only the open block's index lines and the open
 * level-1 document's span lines in memory, writes a small chunk per call to archiveIndexWriterPut(),
 * and when a block's last seq is indexed it owes the block's compaction: store the block chunk
 * (its lines, byte for byte), then the level-1 document widened by the block's span, then delete
 * the narrower document and the block's small chunks. That work is done by
 * archiveIndexWriterCompact(), in bounded steps, so that the caller keeps it off the path that
 * advances the checkpoint. Each segment costs O(1) store operations, whatever the archive's size;
 * the index is never reloaded. */
typedef struct ArchiveIndexWriter ArchiveIndexWriter;

/* A writer continuing the archive `v` describes (opened with ARCHIVE_LOAD_DISCOVER after the
 * upgrade to format 2): the open block's lines are read from the tail's chunks, the open level-1
 * document from the summaries, and the blocks that completed without being compacted (a crash,
 * a format-1 writer) are queued for compaction. `v` is not kept. */
ArchiveIndexWriter *archiveIndexWriterNew(Archive *a, ArchiveView *v, Err *err);
/* Index `n` stored segments of consecutive seqs (sha256 known), the first being the seq after the
 * last one indexed: one small chunk, and the lines kept for the block. A completed block is queued
 * for archiveIndexWriterCompact(). */
int archiveIndexWriterPut(ArchiveIndexWriter *w, const SegmentMeta *metas, size_t n, Err *err);
/* The last seq indexed (0: none). */
uint64_t archiveIndexWriterLastSeq(const ArchiveIndexWriter *w);
/* Whether compaction work is queued. */
bool archiveIndexWriterPending(const ArchiveIndexWriter *w);
/* Do queued compaction work for about `budgetMs` milliseconds at most beyond the one store
 * operation in flight (0: until none is left); the next call goes on where this one stopped. A
 * crash at any point leaves overlapping, never missing, coverage. *done (may be NULL) receives
 * whether nothing is left. */
int archiveIndexWriterCompact(ArchiveIndexWriter *w, unsigned budgetMs, bool *done, Err *err);
void archiveIndexWriterFree(ArchiveIndexWriter *w);

#endif
