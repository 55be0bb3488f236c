/* The replica's packet framing (mysql/packet.h) on canned bytes: whole, split at every byte,
 * sequence numbers, 16 MiB continuations, truncation, the size limit, error packets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "mysql/packet.h"
#include "tests/test.h"

/* Append one physical packet (header + payload) at out[*off]. */
static void
putPart(uint8_t *out, size_t *off, uint8_t seq, const uint8_t *payload, size_t len) {
    out[*off] = (uint8_t)len;
    out[*off + 1] = (uint8_t)(len >> 8);
    out[*off + 2] = (uint8_t)(len >> 16);
    out[*off + 3] = seq;
    if (len > 0)
        memcpy(out + *off + 4, payload, len);
    *off += 4 + len;
}

static void
testFrameWhole(void) {
    uint8_t buf[64];
    size_t off = 0, need = 99;
    SqlPacket pk;
    Err err;
    static const uint8_t ev1[] = {0x00, 'a', 'b', 'c'}, ev2[] = {0xfe, 0x00, 0x00, 0x02, 0x00};

    putPart(buf, &off, 7, ev1, sizeof(ev1));
    putPart(buf, &off, 8, ev2, sizeof(ev2));
    CHECK_INT(sqlPacketFrame(buf, off, 7, false, 1 << 20, &pk, &need, &err), 1);
    CHECK_INT(pk.payload, 4);
    CHECK_INT(pk.len, 4);
    CHECK_INT(pk.consumed, 8);
    CHECK_INT(pk.lastSeq, 7);
    CHECK(memcmp(buf + pk.payload, ev1, sizeof(ev1)) == 0);
    /* The next one, from where the first ended, with the next sequence number. */
    CHECK_INT(sqlPacketFrame(buf + 8, off - 8, 8, false, 1 << 20, &pk, &need, &err), 1);
    CHECK_INT(pk.len, 5);
    CHECK_INT(pk.consumed, 9);
    CHECK(memcmp(buf + 8 + pk.payload, ev2, sizeof(ev2)) == 0);
    /* An empty packet is a packet. */
    off = 0;
    putPart(buf, &off, 255, NULL, 0);
    CHECK_INT(sqlPacketFrame(buf, off, 255, false, 1 << 20, &pk, &need, &err), 1);
    CHECK_INT(pk.len, 0);
    CHECK_INT(pk.consumed, 4);
    CHECK_INT(pk.lastSeq, 255);
}

/* Every cut of the bytes before the packet's end asks for more, and for the right amount. */
static void
testFrameSplit(void) {
    uint8_t buf[300], payload[200];
    size_t off = 0;
    SqlPacket pk;
    Err err;

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    putPart(buf, &off, 1, payload, sizeof(payload));
    for (size_t cut = 0; cut < off; cut++) {
        size_t need = 0;

        CHECK_INT(sqlPacketFrame(buf, cut, 1, false, 1 << 20, &pk, &need, &err), 0);
        CHECK_INT(need, cut < 4 ? 4 : 204);
        CHECK(!sqlPacketReady(buf, cut));
    }
    CHECK(sqlPacketReady(buf, off));
}

static void
testFrameSeq(void) {
    uint8_t buf[16];
    size_t off = 0, need;
    SqlPacket pk;
    Err err;
    static const uint8_t ev[] = {0x00, 0x01};

    putPart(buf, &off, 5, ev, sizeof(ev));
    CHECK_INT(sqlPacketFrame(buf, off, 4, false, 1 << 20, &pk, &need, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "sequence number 5, expected 4");
    /* A restart is 1, nothing else. */
    CHECK_INT(sqlPacketFrame(buf, off, 4, true, 1 << 20, &pk, &need, &err), -1);
    CHECK_MSG(err.msg, "expected 4 or 1");
    off = 0;
    putPart(buf, &off, 1, ev, sizeof(ev));
    CHECK_INT(sqlPacketFrame(buf, off, 200, true, 1 << 20, &pk, &need, &err), 1);
    CHECK_INT(pk.lastSeq, 1);
    CHECK_INT(sqlPacketFrame(buf, off, 200, false, 1 << 20, &pk, &need, &err), -1);
    /* Numbers wrap at 256. */
    off = 0;
    putPart(buf, &off, 0, ev, sizeof(ev));
    CHECK_INT(sqlPacketFrame(buf, off, 0, false, 1 << 20, &pk, &need, &err), 1);
}

/* A logical packet of 0xffffff + n bytes: two parts, joined in place; exactly 0xffffff bytes: a
 * full part and an empty one. */
static void
testFrameContinuation(void) {
    size_t big = SQL_PACKET_PART_MAX, total = big + 1000, off = 0, need = 0;
    uint8_t *payload = bvMalloc(total), *buf = bvMalloc(total + 64);
    SqlPacket pk;
    Err err;

    for (size_t i = 0; i < total; i++)
        payload[i] = (uint8_t)(i ^ (i >> 13));
    putPart(buf, &off, 3, payload, big);
    putPart(buf, &off, 4, payload + big, total - big);
    putPart(buf, &off, 5, (const uint8_t *)"\x00", 1); /* the next packet */
    /* Truncated in the second part's header, then in its payload. */
    CHECK_INT(sqlPacketFrame(buf, 4 + big + 2, 3, false, SIZE_MAX, &pk, &need, &err), 0);
    CHECK_INT(need, 4 + big + 4);
    CHECK_INT(sqlPacketFrame(buf, 4 + big + 4 + 10, 3, false, SIZE_MAX, &pk, &need, &err), 0);
    CHECK_INT(need, 4 + big + 4 + 1000);
    CHECK(!sqlPacketReady(buf, 4 + big + 4 + 999));
    CHECK(sqlPacketReady(buf, 4 + big + 4 + 1000));
    /* Over the limit: refused before anything moves. */
    CHECK_INT(sqlPacketFrame(buf, off, 3, false, total, &pk, &need, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    CHECK_INT(sqlPacketFrame(buf, off, 3, false, total + 1, &pk, &need, &err), 1);
    CHECK_INT(pk.payload, 4);
    CHECK_INT(pk.len, total);
    CHECK_INT(pk.consumed, 8 + total);
    CHECK_INT(pk.lastSeq, 4);
    CHECK(memcmp(buf + pk.payload, payload, total) == 0);
    /* The next packet is where it was. */
    CHECK_INT(buf[pk.consumed + 3], 5);

    /* Exactly 0xffffff bytes. */
    off = 0;
    putPart(buf, &off, 9, payload, big);
    CHECK_INT(sqlPacketFrame(buf, off, 9, false, SIZE_MAX, &pk, &need, &err), 0);
    CHECK_INT(need, off + 4);
    putPart(buf, &off, 10, NULL, 0);
    CHECK_INT(sqlPacketFrame(buf, off, 9, false, SIZE_MAX, &pk, &need, &err), 1);
    CHECK_INT(pk.len, big);
    CHECK_INT(pk.consumed, big + 8);
    CHECK_INT(pk.lastSeq, 10);
    CHECK(memcmp(buf + 4, payload, big) == 0);

    /* A continuation out of order, even right after a semi-sync restart. */
    off = 0;
    putPart(buf, &off, 1, payload, big);
    putPart(buf, &off, 1, payload, 10);
    CHECK_INT(sqlPacketFrame(buf, off, 7, true, SIZE_MAX, &pk, &need, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "sequence number 1 follows 1");
    CHECK(sqlPacketReady(buf, off)); /* refused bytes do not wait for the socket */
    bvFree(payload);
    bvFree(buf);
}

static void
testFrameLimit(void) {
    uint8_t buf[128] = {0};
    size_t off = 0, need;
    SqlPacket pk;
    Err err;

    putPart(buf, &off, 1, buf + 64, 50);
    CHECK_INT(sqlPacketFrame(buf, off, 1, false, 50, &pk, &need, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    CHECK_MSG(err.msg, "limit 50");
    /* Known from the header alone: refused before the payload arrives. */
    CHECK_INT(sqlPacketFrame(buf, 4, 1, false, 50, &pk, &need, &err), -1);
    CHECK_INT(sqlPacketFrame(buf, off, 1, false, 51, &pk, &need, &err), 1);
}

static void
testParseError(void) {
    static const uint8_t withState[] = "\xff\xd4\x04#HY000Could not find first log file name in binary log index file";
    static const uint8_t noState[] = "\xff\x15\x04" "Access denied";
    static const uint8_t withNul[] = "\xff\x01\x00#42000ab\0cd";
    uint8_t *longMsg = bvMalloc(1000);
    SqlServerError se;

    CHECK(sqlPacketParseError(withState, sizeof(withState) - 1, &se));
    CHECK_INT(se.code, 1236);
    CHECK_STR(se.sqlstate, "HY000");
    CHECK_STR(se.message, "Could not find first log file name in binary log index file");
    CHECK(sqlPacketParseError(noState, sizeof(noState) - 1, &se));
    CHECK_INT(se.code, 1045);
    CHECK_STR(se.sqlstate, "HY000");
    CHECK_STR(se.message, "Access denied");
    CHECK(sqlPacketParseError(withNul, sizeof(withNul) - 1, &se));
    CHECK_STR(se.sqlstate, "42000");
    CHECK_STR(se.message, "ab");
    /* Too short for a code: libmariadb's "unknown error". */
    CHECK(!sqlPacketParseError((const uint8_t *)"\xff\x01\x00", 3, &se));
    CHECK(!sqlPacketParseError((const uint8_t *)"\x00\x01\x00\x00", 4, &se));
    /* A code and nothing else. */
    CHECK(sqlPacketParseError((const uint8_t *)"\xff\x01\x00#", 4, &se));
    CHECK_INT(se.code, 1);
    CHECK_STR(se.message, "#");
    /* A long message is cut to 511 bytes. */
    memset(longMsg, 'x', 1000);
    longMsg[0] = 0xff;
    longMsg[1] = 0x10;
    longMsg[2] = 0x00;
    CHECK(sqlPacketParseError(longMsg, 1000, &se));
    CHECK_INT(strlen(se.message), 511);
    bvFree(longMsg);
}

void suite_packet(void);

void
suite_packet(void) {
    testRun("packet: whole packets, one after another, and an empty one", testFrameWhole);
    testRun("packet: cut at every byte, more is asked for", testFrameSplit);
    testRun("packet: sequence numbers, the semi-sync restart, the wrap", testFrameSeq);
    testRun("packet: a 16 MiB continuation joined in place, an exact 0xffffff, truncations", testFrameContinuation);
    testRun("packet: the size limit, from the header", testFrameLimit);
    testRun("packet: error packets parsed as libmariadb does", testParseError);
}
