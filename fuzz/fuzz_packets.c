/*
 * libFuzzer target for the replica's packet framing (mysql/packet.h), what the stream reads from
 * a source's socket: the input is framed packet after packet as mysql/stream.c does (sequence
 * numbers carried on, after a packet with an odd one a restart at 1 accepted too), checking that
 * a framed packet lies inside the bytes it consumed, that the parts of a continued packet are
 * joined, and that sqlPacketReady() agrees with sqlPacketFrame(); every framed payload starting
 * with 0xff is parsed as an error packet.
 * The first byte controls: bit 7, a limit of (bits 0-5) KiB + 1 instead of none; bit 6, the input
 * is preceded by a full 0xffffff-byte part (sequence number: the second byte), so that a 16 MiB
 * continuation is reached by short inputs (libFuzzer's -max_len is 64 KiB here).
 * Seeds: fuzz/seeds-packets/ (events in packets, one cut short, a continuation and an exact
 * 0xffffff-byte packet, an error packet, a semi-sync restart, a packet over the limit).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "mysql/packet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf;
    size_t len, off = 0, maxLen;
    uint8_t seq;
    bool restart = false;

    if (size < 2)
        return 0;
    maxLen = data[0] & 0x80 ? (size_t)(data[0] & 0x3f) * 1024 + 1 : SIZE_MAX;
    if (data[0] & 0x40) {
        size_t first = SQL_PACKET_HEADER + SQL_PACKET_PART_MAX;

        len = first + size - 2;
        buf = bvMalloc(len);
        buf[0] = buf[1] = buf[2] = 0xff;
        buf[3] = data[1];
        memset(buf + SQL_PACKET_HEADER, 0x5a, SQL_PACKET_PART_MAX);
        memcpy(buf + first, data + 2, size - 2);
    } else {
        len = size - 1;
        buf = bvMalloc(len);
        memcpy(buf, data + 1, len);
    }
    seq = len >= 4 ? buf[3] : 0;
    for (;;) {
        SqlPacket pk;
        size_t need = 0;
        Err err;
        bool ready = sqlPacketReady(buf + off, len - off);
        int rc = sqlPacketFrame(buf + off, len - off, seq, restart, maxLen, &pk, &need, &err);

        if (rc == 0) {
            if (ready || need <= len - off)
                abort();
            break;
        }
        if (!ready && rc > 0)
            abort();
        if (rc < 0)
            break;
        if (pk.consumed < SQL_PACKET_HEADER || pk.consumed > len - off || pk.payload + pk.len > pk.consumed ||
            pk.len >= maxLen)
            abort();
        /* A continued packet is joined: its first part's bytes run on into the later ones'. */
        if (off == 0 && (data[0] & 0x40) && pk.len > SQL_PACKET_PART_MAX &&
            buf[pk.payload + SQL_PACKET_PART_MAX] != data[2 + SQL_PACKET_HEADER])
            abort();
        if (pk.len > 0 && buf[off + pk.payload] == 0xff) {
            SqlServerError se;

            if (sqlPacketParseError(buf + off + pk.payload, pk.len, &se) &&
                (strlen(se.message) >= sizeof(se.message) || strlen(se.sqlstate) > 5))
                abort();
        }
        off += pk.consumed;
        seq = (uint8_t)(pk.lastSeq + 1);
        restart = (pk.lastSeq & 1) != 0;
    }
    bvFree(buf);
    return 0;
}
