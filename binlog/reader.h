/*
 * A streaming binlog reader (hiredis-style): feed it bytes as they arrive, take whole events
 * out. It never does I/O. It checks the file magic (file mode), follows FORMAT_DESCRIPTION
 * events, verifies every checksum, and enforces a maximum event size, so a partial event is
 * "need more bytes" (0) and a bad one an error naming its offset - never a crash or an over-read.
 */
#ifndef BV_BINLOG_READER_H
#define BV_BINLOG_READER_H

#include "binlog/event.h"

typedef enum BinlogReaderMode {
    BINLOG_READER_FILE,   /* a binlog file: 4-byte magic, then events */
    BINLOG_READER_STREAM, /* bare events (replication stream, payload contents, segments) */
} BinlogReaderMode;

#define BINLOG_DEFAULT_MAX_EVENT (1024u * 1024u * 1024u + 65536u)

typedef struct BinlogReader BinlogReader;

BinlogReader *binlogReaderNew(BinlogReaderMode mode, size_t maxEventSize);

/* The format in effect (updated by each FORMAT_DESCRIPTION event read). */
const BinlogFormat *binlogReaderFormat(const BinlogReader *r);
/* Offset, from the start of the input, of the last event returned and of the byte after it. */
uint64_t binlogReaderEventOffset(const BinlogReader *r);
uint64_t binlogReaderOffset(const BinlogReader *r);
/* Bytes fed but not yet returned as events (non-zero at end of input = truncated input). */
size_t binlogReaderPending(const BinlogReader *r);

/* Verify checksums (default on). */
void binlogReaderSetVerify(BinlogReader *r, bool verify);
/* Set the format before any FDE is read: a stream that starts mid-file, or after an FDE read
 * elsewhere. */
void binlogReaderSetFormat(BinlogReader *r, const BinlogFormat *fmt);
/* Start offsets at `offset` (a stream that starts mid-file). */
void binlogReaderSetOffset(BinlogReader *r, uint64_t offset);

/* Copy bytes in. */
void binlogReaderFeed(BinlogReader *r, const void *data, size_t len);
/* Or fill in place: space for at least `want` bytes, then commit what was written. */
uint8_t *binlogReaderSpace(BinlogReader *r, size_t want, size_t *avail);
void binlogReaderCommit(BinlogReader *r, size_t len);

/* Next whole event: 1 and *ev (valid until the next call), 0 when more bytes are needed, -1 on
 * bad input (ERR_FORMAT, ERR_CHECKSUM, ERR_LIMIT; the message names the offset). After an error
 * the reader stays failed. */
int binlogReaderNext(BinlogReader *r, BinlogEvent *ev, Err *err);

void binlogReaderFree(BinlogReader *r);

#endif
