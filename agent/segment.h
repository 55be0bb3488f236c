/*
 * Segments: the archive's immutable objects holding whole transactions of one binlog file,
 * byte-identical to the server's binlog, lz4-compressed, with a JSON trailer of metadata
 * (docs/FORMAT.md, "Segments"). The writer streams to a local file (bounded memory whatever
 * the transaction size) and seals it durably; the reader verifies every layer (magic, trailer
 * CRC, lz4 frame checksum, content SHA-256, then every event's own CRC) while streaming events.
 */
#ifndef BV_AGENT_SEGMENT_H
#define BV_AGENT_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "binlog/event.h"
#include "common/err.h"
#include "common/io.h"

#define SEGMENT_MAGIC "BVSEG\x00\x01\n"
#define SEGMENT_END_MAGIC "BVSEGEND"
#define SEGMENT_FORMAT_VERSION 1
#define SEGMENT_TRAILER_MAX (1024 * 1024)
#define SEGMENT_GTID_MAX 4096 /* longest GTID state text kept in metadata */

/* A segment's metadata: the trailer, plus object name/size/hash once it is an object. */
typedef struct SegmentMeta {
    uint64_t seq;
    BinlogFlavour flavour;
    uint32_t serverId;
    char serverUuid[37];
    char serverVersion[51];
    char file[256];
    uint64_t startPos, endPos;
    uint32_t fdeLen;
    uint64_t contentLen;
    char contentSha256[65];
    char *gtidStart; /* allocated, "" when unknown */
    char *gtidEnd;
    char firstGtid[112], lastGtid[112];
    uint64_t firstTimeUs, lastTimeUs;
    uint64_t events, transactions;
    bool endsFile;
    char created[32];
    /* Known once stored (index members): */
    char name[320];
    uint64_t size;
    char sha256[65];
} SegmentMeta;

/* Object name for a segment: segments/<seq>-<file>-<start pos>.bvs */
void segmentName(uint64_t seq, const char *file, uint64_t startPos, char *out, size_t size);
/* Parse a segment object name back; -1 when it is not one. */
int segmentNameParse(const char *name, uint64_t *seq, char *file, size_t fileSize, uint64_t *startPos);

/* Trailer / index-line JSON. `withObject` adds name, size, sha256 (index lines). */
void segmentMetaToJson(const SegmentMeta *m, bool withObject, Buf *out);
int segmentMetaFromJson(const char *json, size_t len, bool withObject, SegmentMeta *m, Err *err);
void segmentMetaCopy(SegmentMeta *dst, const SegmentMeta *src); /* deep copy */
void segmentMetaClear(SegmentMeta *m);                          /* frees the gtid strings */

/* ---- writer ---- */

typedef struct SegmentWriter SegmentWriter;

/* Start a segment in `path` (a temporary name in the spool; created with O_EXCL): writes the
 * magic and pushes the FDE into the compressed content. meta's identity fields (seq, flavour,
 * server, file, startPos, gtidStart) are taken now; counts and ends are filled by the writer. */
SegmentWriter *segmentWriterNew(const char *path, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
                                Err *err);
/* Append one whole event (its bytes as in the file; `endPos` = its end offset in the file). */
int segmentWriterAppend(SegmentWriter *w, const uint8_t *event, size_t len, uint64_t endPos, Err *err);
/* Record a finished transaction (called after its last event was appended). */
void segmentWriterTransaction(SegmentWriter *w, const char *gtid, uint64_t commitTimeUs, const char *gtidStateAfter);
uint64_t segmentWriterContentBytes(const SegmentWriter *w); /* uncompressed bytes so far */
uint64_t segmentWriterTransactions(const SegmentWriter *w);
uint64_t segmentWriterEndPos(const SegmentWriter *w);
/* Finish: trailer, fsync, close. The file stays at `path`; *meta receives the full metadata
 * including size and sha256 of the object (the caller renames it into place). */
int segmentWriterSeal(SegmentWriter *w, bool endsFile, SegmentMeta *meta, Err *err);
/* Abandon: close and unlink the file. */
void segmentWriterFree(SegmentWriter *w);

/* ---- reader ---- */

typedef struct SegmentReader SegmentReader;

/* Read a whole segment object of `size` bytes through `open`: a callback that opens a reader on
 * (offset, length) of the object, so a store can serve the trailer with a ranged read first. */
typedef IoRead *SegmentOpenFn(void *data, uint64_t offset, uint64_t length, Err *err);

/* Read and check the trailer only (magic, lengths, CRC, JSON, version). */
int segmentReadMeta(SegmentOpenFn *open, void *data, uint64_t size, SegmentMeta *meta, Err *err);

/* Open the content for streaming: verifies the magic and the trailer, then yields the FDE and
 * each event in order; at the end checks the lz4 checksum, content length and SHA-256. */
SegmentReader *segmentReaderNew(SegmentOpenFn *open, void *data, uint64_t size, Err *err);
const SegmentMeta *segmentReaderMeta(const SegmentReader *r);
const uint8_t *segmentReaderFde(const SegmentReader *r, size_t *len);
/* 1 and the next event (bytes valid until the next call; *pos = its offset in the binlog file),
 * 0 at the verified end, -1 on any corruption (the message says which layer failed). */
int segmentReaderNext(SegmentReader *r, BinlogEvent *ev, uint64_t *pos, Err *err);
void segmentReaderFree(SegmentReader *r);

#endif
