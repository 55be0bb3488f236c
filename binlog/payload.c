#include "binlog/payload.h"

#include <zstd.h>

#include "binlog/reader.h"
#include "common/mem.h"

#define PAYLOAD_CHUNK (64 * 1024)

struct BinlogPayloadIter {
    ZSTD_DStream *zs;
    BinlogReader *reader;
    ZSTD_inBuffer in;
    bool raw;
    bool frameDone;
    uint64_t produced;
    uint64_t expected;
};

BinlogPayloadIter *
binlogPayloadIterNew(const BinlogFormat *outer, const BinlogPayload *pl, size_t maxEvent, Err *err) {
    BinlogPayloadIter *it;
    BinlogFormat inner = *outer;

    if (pl->compression != 0 && pl->compression != 255) {
        errSet(err, ERR_FORMAT, "transaction payload uses unknown compression type %llu",
               (unsigned long long)pl->compression);
        return NULL;
    }
    it = bvCalloc(1, sizeof(*it));
    it->raw = pl->compression == 255;
    it->in.src = pl->payload;
    it->in.size = pl->payloadLen;
    it->expected = pl->uncompressedSize;
    inner.checksumAlg = BINLOG_CHECKSUM_OFF;
    it->reader = binlogReaderNew(BINLOG_READER_STREAM, maxEvent);
    binlogReaderSetFormat(it->reader, &inner);
    if (it->raw) {
        binlogReaderFeed(it->reader, pl->payload, pl->payloadLen);
        it->produced = pl->payloadLen;
        it->frameDone = true;
    } else {
        it->zs = ZSTD_createDStream();
        if (it->zs == NULL)
            bvAssertFail("ZSTD_createDStream", __FILE__, __LINE__);
        ZSTD_initDStream(it->zs);
    }
    return it;
}

BinlogPayloadIter *
binlogPayloadIterOpen(const BinlogFormat *outer, const BinlogEvent *ev, size_t maxEvent, Err *err) {
    BinlogPayload pl;

    if (binlogDecodePayload(ev, &pl, err) != 0)
        return NULL;
    return binlogPayloadIterNew(outer, &pl, maxEvent, err);
}

int
binlogPayloadIterNext(BinlogPayloadIter *it, BinlogEvent *ev, Err *err) {
    for (;;) {
        int rc = binlogReaderNext(it->reader, ev, err);

        if (rc != 0)
            return rc < 0 ? errPrefix(err, "inside transaction payload") : 1;
        if (it->frameDone) {
            if (binlogReaderPending(it->reader) > 0)
                return errSet(err, ERR_FORMAT, "transaction payload ends inside an event (%zu bytes left over)",
                              binlogReaderPending(it->reader));
            if (it->expected && it->produced != it->expected)
                return errSet(err, ERR_FORMAT, "transaction payload inflates to %llu bytes, header says %llu",
                              (unsigned long long)it->produced, (unsigned long long)it->expected);
            return 0;
        }
        if (it->in.pos >= it->in.size)
            return errSet(err, ERR_FORMAT, "transaction payload zstd frame is truncated");

        size_t avail;
        ZSTD_outBuffer out;
        size_t ret;

        out.dst = binlogReaderSpace(it->reader, PAYLOAD_CHUNK, &avail);
        out.size = avail < PAYLOAD_CHUNK ? avail : PAYLOAD_CHUNK;
        out.pos = 0;
        ret = ZSTD_decompressStream(it->zs, &out, &it->in);
        if (ZSTD_isError(ret))
            return errSet(err, ERR_FORMAT, "transaction payload does not decompress: %s", ZSTD_getErrorName(ret));
        binlogReaderCommit(it->reader, out.pos);
        it->produced += out.pos;
        if (ret == 0)
            it->frameDone = true;
        if (it->expected && it->produced > it->expected)
            return errSet(err, ERR_FORMAT, "transaction payload inflates beyond the %llu bytes its header says",
                          (unsigned long long)it->expected);
    }
}

uint64_t
binlogPayloadIterOffset(const BinlogPayloadIter *it) {
    return binlogReaderEventOffset(it->reader);
}

void
binlogPayloadIterFree(BinlogPayloadIter *it) {
    if (it == NULL)
        return;
    ZSTD_freeDStream(it->zs);
    binlogReaderFree(it->reader);
    bvFree(it);
}
