/*
 * Catalog summaries (docs/FORMAT.md "Catalog: aligned blocks and summaries"): the aligned blocks of
 * 1024 seqs, and the level-1 documents catalog/1/<first>-<last>.bvc holding one JSON line per block
 * (an ArchiveSpan). What a block says in a line is computed once, when the block completes, from its
 * 1024 index lines; readers then find a seq, GTID, position or time in the summary lines and read
 * one block chunk.
 */
#ifndef BV_ARCHIVE_SUMMARY_H
#define BV_ARCHIVE_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "common/buf.h"

#define ARCHIVE_CATALOG_PREFIX "catalog/"
#define ARCHIVE_SUMMARY1_PREFIX "catalog/1/"
/* Seqs per block, and blocks per level-1 document. */
#define ARCHIVE_BLOCK_SEGMENTS 1024
#define ARCHIVE_SUMMARY_FANOUT 1024
/* Largest summary document read (1024 lines with two GTID states each). */
#define ARCHIVE_SUMMARY_MAX_BYTES (64u * 1024 * 1024)
/* Breaks recorded in one span line at most; more are counted (breakCount) but not listed. */
#define ARCHIVE_SPAN_BREAKS_MAX 64

/* Block arithmetic: block b holds seqs b*1024+1 .. (b+1)*1024. */
uint64_t archiveBlockOf(uint64_t seq);    /* seq >= 1 */
uint64_t archiveBlockFirst(uint64_t block);
uint64_t archiveBlockLast(uint64_t block);

/* A continuity break inside a span (or between its first segment and the segment before it):
 * segment afterSeq and segment beforeSeq (afterSeq + 1 unless seqs are missing) do not follow each
 * other by the rules of continuity.h. What kind of break it is, a reader learns by loading the two
 * segments (archiveViewLoadRange()). */
typedef struct ArchiveSpanBreak {
    uint64_t afterSeq, beforeSeq;
} ArchiveSpanBreak;

/* One summary line: what a block (seqs firstSeq..lastSeq) holds. A view keeps one per block of
 * the archive (30,000 for a year of 1 s segments), so the variable members are not fixed arrays:
 * the file names, GTIDs, GTID states and breaks live in one allocation (`mem`) at their length,
 * and a span without breaks holds none. */
typedef struct ArchiveSpan {
    char name[64];   /* the object summarised: the block chunk index/<first>-<last>.bvi */
    uint64_t size;   /* its size and SHA-256 when the line was written */
    char sha256[65];
    uint64_t firstSeq, lastSeq;
    uint64_t segments; /* lastSeq - firstSeq + 1: a block chunk has one line per seq */
    uint64_t transactions;
    uint64_t bytes;        /* sum of the segments' object sizes */
    uint64_t contentBytes; /* sum of their content lengths */
    uint32_t timelineMin, timelineMax; /* the timelines of its segments (1 in a format-1 archive) */
    BinlogFlavour flavour;
    /* first segment: where it starts; last segment: where it ends (GTID states "" when unknown) */
    uint32_t startTimeline, endTimeline;
    bool endsFile; /* the last segment ends its binlog file */
    uint64_t startPos, endPos;
    const char *startFile, *gtidStart;
    const char *endFile, *gtidEnd;
    /* commit times: lowest and highest of any transaction (commit times can go backwards), and
     * the first and last in binlog order; 0 when the span holds no transaction */
    uint64_t minTimeUs, maxTimeUs, firstTimeUs, lastTimeUs;
    const char *firstGtid, *lastGtid; /* at most BINLOG_TXN_GTID_MAX - 1 bytes */
    /* continuity breaks inside the block and between its first segment and the one before it
     * (the first `breakCount` that fit in `breaks`, ARCHIVE_SPAN_BREAKS_MAX at most; NULL when
     * breakCount is 0) */
    size_t breakCount;
    const ArchiveSpanBreak *breaks;
    void *mem; /* the one allocation the pointers above point into (archiveSpanClear() frees it) */
} ArchiveSpan;

/* The span of the `n` segments of consecutive seqs in `metas`, `before` being the segment before
 * metas[0] (NULL when unknown: no break is recorded before the block). name/size/sha256 are left
 * empty for the caller. Free with archiveSpanClear(). */
void archiveSpanFromMetas(const SegmentMeta *before, const SegmentMeta *metas, size_t n, ArchiveSpan *span);
/* A span as one summary line (no newline); parse one (`len` bytes, any content): ERR_FORMAT naming
 * the member. `span` is overwritten; free with archiveSpanClear(). */
void archiveSpanToJson(const ArchiveSpan *span, Buf *out);
int archiveSpanParse(const char *text, size_t len, ArchiveSpan *span, Err *err);
void archiveSpanCopy(ArchiveSpan *dst, const ArchiveSpan *src); /* deep copy; dst overwritten */
void archiveSpanClear(ArchiveSpan *span); /* frees `mem`; the string and break pointers become NULL */

/* Level-1 documents cover whole blocks of one group of 1024 blocks: the group of a seq. */
uint64_t archiveSummaryGroupOf(uint64_t seq);
/* Level-1 document names: catalog/1/<first>-<last>.bvc (16-digit seqs: the first seq of its first
 * block, normally the group's first, and the last seq of its last block). Parse: -1 when not one. */
void archiveSummaryName(uint64_t first, uint64_t last, char *out, size_t size);
int archiveSummaryNameParse(const char *name, uint64_t *first, uint64_t *last);
/* Parse a level-1 document of seqs first..last: one span line per block, in order, each exactly
 * one aligned block, together covering first..last. *spans (n; archiveSpansFree()) on success.
 * ERR_FORMAT naming the line. */
int archiveSummaryParse(const uint8_t *data, size_t len, uint64_t first, uint64_t last, ArchiveSpan **spans,
                        size_t *n, Err *err);
void archiveSpansFree(ArchiveSpan *spans, size_t n);

#endif
