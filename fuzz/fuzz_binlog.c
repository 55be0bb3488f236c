/*
 * libFuzzer target for everything that reads binlog bytes: the reader (file and stream modes),
 * every event decoder, transaction framing, payload iteration, GTID set and GTID list decoding.
 * Seeds: the real binlogs in ../shared/fixtures/binlog/.
 */
#include <stdint.h>
#include <string.h>

#include "binlog/gtid.h"
#include "binlog/payload.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "common/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decodeAll(const BinlogFormat *fmt, const BinlogEvent *ev) {
    Err err;
    BinlogQuery q;
    BinlogRotate rot;
    BinlogTableMap tm;
    BinlogRows rows;
    BinlogMysqlGtid mg;
    BinlogMariaGtid g;
    BinlogXaPrepare xa;
    BinlogPayload pl;
    uint64_t u;
    const char *s;
    size_t n;

    if (binlogDecodeQuery(fmt, ev, 1 << 20, &q, &err) == 0)
        binlogQueryClear(&q);
    binlogDecodeRotate(fmt, ev, &rot, &err);
    binlogDecodeTableMap(fmt, ev, &tm, &err);
    binlogDecodeRows(fmt, ev, &rows, &err);
    binlogDecodeMysqlGtid(ev, &mg, &err);
    binlogDecodeMariaGtid(ev, &g, &err);
    binlogDecodeXaPrepare(ev, &xa, &err);
    binlogDecodeXid(ev, &u, &err);
    binlogDecodeCheckpoint(ev, &s, &n, &err);
    binlogDecodeHeartbeat(ev, &s, &n, &u, &err);
    binlogDecodeStatementText(ev, &s, &n, &err);
    if (binlogDecodePayload(ev, &pl, &err) == 0) {
        BinlogPayloadIter *it = binlogPayloadIterNew(fmt, &pl, 1 << 20, &err);
        BinlogEvent inner;

        while (it != NULL && binlogPayloadIterNext(it, &inner, &err) == 1)
            ;
        binlogPayloadIterFree(it);
    }
    GtidSet *set = gtidSetNew();

    gtidSetDecode(set, ev->body, ev->bodyLen, &err);
    gtidSetFree(set);
    MariaGtid *list;
    size_t count;
    uint32_t flags;

    if (mariaGtidListDecode(ev->body, ev->bodyLen, &list, &count, &flags, &err) == 0)
        bvFree(list);
}

static void
run(const uint8_t *data, size_t size, BinlogReaderMode mode, size_t chunk) {
    BinlogReader *r = binlogReaderNew(mode, 1 << 20);
    BinlogTxnFramer *f = binlogTxnFramerNew(256);
    BinlogEvent ev;
    Err err;
    size_t fed = 0;

    if (mode == BINLOG_READER_STREAM) {
        BinlogFormat fmt;

        binlogFormatInit(&fmt);
        fmt.checksumAlg = size > 0 && (data[0] & 1) ? BINLOG_CHECKSUM_CRC32 : BINLOG_CHECKSUM_OFF;
        binlogReaderSetFormat(r, &fmt);
        binlogReaderSetVerify(r, false);
    }
    for (;;) {
        int rc = binlogReaderNext(r, &ev, &err);

        if (rc < 0)
            break;
        if (rc == 0) {
            size_t n = size - fed < chunk ? size - fed : chunk;

            if (n == 0)
                break;
            binlogReaderFeed(r, data + fed, n);
            fed += n;
            continue;
        }
        decodeAll(binlogReaderFormat(r), &ev);
        if (binlogTxnFramerPush(f, binlogReaderFormat(r), &ev, binlogReaderEventOffset(r), &err) < 0)
            break;
    }
    binlogTxnFramerFinish(f);
    bvFree(binlogTxnFramerGtidState(f));
    binlogTxnFramerFree(f);
    binlogReaderFree(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size, BINLOG_READER_FILE, 4096);
    run(data, size, BINLOG_READER_STREAM, 7);
    return 0;
}
