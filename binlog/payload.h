/*
 * The events inside a MySQL TRANSACTION_PAYLOAD event (8.0.20+ binlog_transaction_compression):
 * a zstd frame (or raw bytes) of whole events without checksums. Decompressed as a stream into a
 * bounded window, so a large payload never sits whole in memory.
 */
#ifndef BV_BINLOG_PAYLOAD_H
#define BV_BINLOG_PAYLOAD_H

#include "binlog/event.h"

typedef struct BinlogPayloadIter BinlogPayloadIter;

/* Iterate the events of `pl` (decoded from an event under `outer`). The payload bytes must stay
 * valid while the iterator is used. */
BinlogPayloadIter *binlogPayloadIterNew(const BinlogFormat *outer, const BinlogPayload *pl, size_t maxEvent,
                                        Err *err);

/* The same for a TRANSACTION_PAYLOAD event `ev` itself: decodes its body, then iterates. `ev`'s
 * bytes must stay valid while the iterator is used. */
BinlogPayloadIter *binlogPayloadIterOpen(const BinlogFormat *outer, const BinlogEvent *ev, size_t maxEvent, Err *err);

/* 1 and the next inner event (valid until the next call), 0 at the end, -1 on corrupt data. */
int binlogPayloadIterNext(BinlogPayloadIter *it, BinlogEvent *ev, Err *err);

/* Offset of the last inner event returned, within the uncompressed payload. */
uint64_t binlogPayloadIterOffset(const BinlogPayloadIter *it);

void binlogPayloadIterFree(BinlogPayloadIter *it);

#endif
