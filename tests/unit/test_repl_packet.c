/* The replication endpoint's packets (recover/repl_packet.c): framing and joining payloads over
 * 16 MiB, length-encoded integers, OK / ERR / EOF and text result sets. */
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/mem.h"
#include "recover/replserver.h"
#include "tests/test.h"
#include "tests/unit/test_repl.h"

static int
failingWrite(void *ctx, const void *data, size_t len, Err *err) {
    int *calls = ctx;

    (void)data;
    (void)len;
    if (++*calls == 2)
        return errSet(err, ERR_IO, "write failed");
    return 0;
}

static void
testFraming(void) {
    static const uint8_t wantSmall[] = {0x03, 0x00, 0x00, 0x05, 'a', 'b', 'c'};
    static const uint8_t wantSplit[] = {0x04, 0x00, 0x00, 0xff, 0x00, 'x', 'y', 'z'};
    static const uint8_t wantEmpty[] = {0x00, 0x00, 0x00, 0x00};
    const size_t big = REPL_PACKET_MAX + 10;
    uint8_t *data = bvMalloc(2 * (size_t)REPL_PACKET_MAX);
    Buf *out = bufNew(0);
    uint8_t seq = 5;
    int calls = 0;
    Err err;

    for (size_t i = 0; i < 2 * (size_t)REPL_PACKET_MAX; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    replPacketAppend(out, &seq, (const uint8_t *)"abc", 3, NULL, 0);
    checkBytes("small packet", out->data, out->len, wantSmall, sizeof(wantSmall));
    CHECK_INT(seq, 6);
    /* head + body make one payload; the sequence id wraps at 255. */
    bufClear(out);
    seq = 255;
    replPacketAppend(out, &seq, (const uint8_t *)"\0", 1, (const uint8_t *)"xyz", 3);
    checkBytes("head and body", out->data, out->len, wantSplit, sizeof(wantSplit));
    CHECK_INT(seq, 0);
    bufClear(out);
    seq = 0;
    replPacketAppend(out, &seq, NULL, 0, NULL, 0);
    checkBytes("empty packet", out->data, out->len, wantEmpty, sizeof(wantEmpty));

    /* > 16 MiB: a full 0xffffff packet then the rest, with consecutive sequence ids. */
    bufClear(out);
    seq = 9;
    replPacketAppend(out, &seq, (const uint8_t *)"\0", 1, data, big - 1);
    REQUIRE(out->len == big + 8);
    CHECK_INT(rdU24(out->data), REPL_PACKET_MAX);
    CHECK_INT(out->data[3], 9);
    CHECK(out->data[4] == 0 && memcmp(out->data + 5, data, REPL_PACKET_MAX - 1) == 0);
    CHECK_INT(rdU24(out->data + 4 + REPL_PACKET_MAX), 10);
    CHECK_INT(out->data[4 + REPL_PACKET_MAX + 3], 10);
    CHECK(memcmp(out->data + 8 + REPL_PACKET_MAX, data + REPL_PACKET_MAX - 1, 10) == 0);
    CHECK_INT(seq, 11);

    /* Exactly 0xffffff bytes: an empty packet ends the payload; 2 x 0xffffff: two full + empty. */
    bufClear(out);
    seq = 0;
    replPacketAppend(out, &seq, NULL, 0, data, REPL_PACKET_MAX);
    REQUIRE(out->len == (size_t)REPL_PACKET_MAX + 8);
    CHECK_INT(rdU24(out->data + 4 + REPL_PACKET_MAX), 0);
    CHECK_INT(out->data[4 + REPL_PACKET_MAX + 3], 1);
    bufClear(out);
    seq = 0;
    replPacketAppend(out, &seq, NULL, 0, data, 2 * (size_t)REPL_PACKET_MAX);
    CHECK_INT(out->len, 2 * (size_t)REPL_PACKET_MAX + 12);
    CHECK_INT(seq, 3);

    /* A write error stops the framing and is returned. */
    seq = 0;
    CHECK_INT(replPacketWrite(failingWrite, &calls, &seq, NULL, 0, data, 100, &err), -1);
    CHECK_STR(err.msg, "write failed");
    bufFree(out);
    bvFree(data);
}

static void
testPacketTake(void) {
    const size_t big = REPL_PACKET_MAX + 10;
    uint8_t *data = bvMalloc(big);
    Buf *framed = bufNew(0), *payload = bufNew(0);
    size_t consumed, first;
    uint8_t seq = 0;
    Err err;

    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 13);
    replPacketAppend(framed, &seq, NULL, 0, data, big);
    first = framed->len;
    replPacketAppend(framed, &seq, (const uint8_t *)"\x03SELECT 1", 9, NULL, 0);

    /* Incomplete input asks for more, whatever the cut. */
    CHECK_INT(replPacketTake(framed->data, 3, 1u << 25, payload, &seq, &consumed, &err), 0);
    CHECK_INT(replPacketTake(framed->data, 100, 1u << 25, payload, &seq, &consumed, &err), 0);
    CHECK_INT(replPacketTake(framed->data, first - 1, 1u << 25, payload, &seq, &consumed, &err), 0);
    CHECK_INT(payload->len, 0);
    /* The whole 16 MiB+ payload joined, then the next packet. */
    REQUIRE(replPacketTake(framed->data, framed->len, 1u << 25, payload, &seq, &consumed, &err) == 1);
    CHECK_INT(consumed, first);
    CHECK_INT(seq, 1);
    CHECK(payload->len == big && memcmp(payload->data, data, big) == 0);
    bufClear(payload);
    REQUIRE(replPacketTake(framed->data + first, framed->len - first, 1024, payload, &seq, &consumed, &err) == 1);
    CHECK_INT(seq, 2);
    CHECK(payload->len == 9 && memcmp(payload->data, "\x03SELECT 1", 9) == 0);
    /* Limits: a payload longer than allowed is refused from its header on. */
    bufClear(payload);
    CHECK_INT(replPacketTake(framed->data, 8, 1024 * 1024, payload, &seq, &consumed, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    CHECK_INT(replPacketTake(framed->data + first, framed->len - first, 8, payload, &seq, &consumed, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    /* A continuation packet with a wrong sequence id. */
    framed->data[REPL_PACKET_MAX + 4 + 3] = 7;
    CHECK_INT(replPacketTake(framed->data, framed->len, 1u << 25, payload, &seq, &consumed, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    bufFree(framed);
    bufFree(payload);
    bvFree(data);
}

static void
testLenenc(void) {
    static const uint64_t values[] = {0, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, UINT64_MAX};
    static const size_t sizes[] = {1, 1, 3, 3, 4, 4, 9, 9};
    uint8_t b[9];
    uint64_t v;

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        size_t n = replLenencPut(b, values[i]);

        CHECK_INT(n, sizes[i]);
        CHECK_INT(replLenencGet(b, n, &v), n);
        CHECK(v == values[i]);
        CHECK_INT(replLenencGet(b, n - 1, &v), 0); /* truncated */
    }
    CHECK_INT(replLenencGet((const uint8_t *)"\xfb", 1, &v), 0); /* NULL */
    CHECK_INT(replLenencGet((const uint8_t *)"\xff", 1, &v), 0);
}

static void
testOkErrEof(void) {
    static const uint8_t wantOk[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
    static const uint8_t wantErr[] = {0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0', 'n', 'o'};
    static const uint8_t wantErrEarly[] = {0xff, 0x10, 0x04, 'b', 'u', 's', 'y'};
    static const uint8_t wantEof[] = {0xfe, 0x00, 0x00, 0x02, 0x00};
    Buf *b = bufNew(0);

    replOkEncode(b, 0, REPL_STATUS_AUTOCOMMIT);
    checkBytes("ok", b->data, b->len, wantOk, sizeof(wantOk));
    bufClear(b);
    replErrEncode(b, 1045, "28000", "no");
    checkBytes("err", b->data, b->len, wantErr, sizeof(wantErr));
    bufClear(b);
    replErrEncode(b, 1040, NULL, "busy");
    checkBytes("err before the handshake", b->data, b->len, wantErrEarly, sizeof(wantErrEarly));
    bufClear(b);
    replEofEncode(b, REPL_STATUS_AUTOCOMMIT);
    checkBytes("eof", b->data, b->len, wantEof, sizeof(wantEof));
    bufFree(b);
}

static void
testResultSet(void) {
    static const char *const names[] = {"Variable_name", "Value"};
    static const char *const values[] = {"server_id", "42", "x", NULL};
    Buf *out = bufNew(0), *payload = bufNew(0);
    uint8_t seq = 1, got;
    size_t off = 0, consumed;
    int packets = 0;
    Err err;

    replResultSetAppend(out, &seq, 2, names, 2, values);
    /* count, 2 column definitions, EOF, 2 rows, EOF: sequence ids 1 to 7. */
    while (off < out->len) {
        bufClear(payload);
        REQUIRE(replPacketTake(out->data + off, out->len - off, 4096, payload, &got, &consumed, &err) == 1);
        CHECK_INT(got, packets + 1);
        switch (packets) {
        case 0: CHECK(payload->len == 1 && payload->data[0] == 2); break;
        case 1:
            CHECK(payload->len > 4 && memcmp(payload->data, "\x03" "def", 4) == 0);
            CHECK(memmem(payload->data, payload->len, "\x0dVariable_name", 14) != NULL);
            break;
        case 3:
        case 6: CHECK(payload->len == 5 && payload->data[0] == 0xfe); break;
        case 4: checkBytes("row 1", payload->data, payload->len, (const uint8_t *)"\x09server_id\x02" "42", 13); break;
        case 5: checkBytes("row 2", payload->data, payload->len, (const uint8_t *)"\x01x\xfb", 3); break;
        default: break;
        }
        off += consumed;
        packets++;
    }
    CHECK_INT(packets, 7);
    CHECK_INT(seq, 8);
    bufFree(out);
    bufFree(payload);
}

void
suite_repl_packet(void) {
    testRun("replserver: packet framing (16 MiB split)", testFraming);
    testRun("replserver: taking packets (joined, limits, sequence)", testPacketTake);
    testRun("replserver: length-encoded integers", testLenenc);
    testRun("replserver: OK, ERR, EOF bytes", testOkErrEof);
    testRun("replserver: text result set", testResultSet);
}
