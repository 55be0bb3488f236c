/*
 * The client/server protocol's packets as a replica reads them from the socket (mysql/stream.c):
 * pure functions over bytes already received, no I/O, so that the framing is unit-tested and
 * fuzzed with canned bytes. A packet is a 3-byte little-endian length and a 1-byte sequence
 * number, then the payload; a logical packet of 0xffffff bytes or more is sent in parts of
 * 0xffffff bytes, the last one shorter (possibly empty), with consecutive sequence numbers.
 */
#ifndef BV_MYSQL_PACKET_H
#define BV_MYSQL_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SQL_PACKET_HEADER 4
#define SQL_PACKET_PART_MAX 0xffffffu

/* Where a framed logical packet is, in the buffer given to sqlPacketFrame(). */
typedef struct SqlPacket {
    size_t payload;  /* offset of its payload (contiguous) */
    size_t len;      /* payload bytes */
    size_t consumed; /* bytes of the buffer it took, its headers included */
    uint8_t lastSeq; /* sequence number of its last part: the next packet carries lastSeq + 1 */
} SqlPacket;

/* Frame the logical packet at the start of buf[0, avail). Its first part must carry sequence
 * number `seq`, or 1 as well when `seqRestart` (a source restarts the numbering after a semi-sync
 * event that asked for an ACK); the following parts number on. Returns:
 *  1: the whole packet is there, *out says where; a packet sent in several parts is made
 *     contiguous in place (its later parts' headers removed, the payload moved down over them:
 *     only bytes inside out->consumed move);
 *  0: more bytes are needed: *need is how many the buffer must hold, from buf on, to go further
 *     (a part's header, or the end of a part; not necessarily the whole packet);
 * -1: ERR_FORMAT for a sequence number out of order, ERR_LIMIT for a payload of maxLen bytes or
 *     more (nothing moved). */
int sqlPacketFrame(uint8_t *buf, size_t avail, uint8_t seq, bool seqRestart, size_t maxLen, SqlPacket *out,
                   size_t *need, Err *err);

/* Whether buf[0, avail) holds a whole logical packet, or bytes that sqlPacketFrame() refuses:
 * either way reading it does not wait for the socket. */
bool sqlPacketReady(const uint8_t *buf, size_t avail);

/* A server's error packet: 0xff, code u16, '#' and a 5-character SQLSTATE (protocol 4.1), the
 * message. */
typedef struct SqlServerError {
    unsigned code;
    char sqlstate[6]; /* "HY000" when the packet has none */
    char message[512];
} SqlServerError;

/* Parse an error packet's payload (first byte 0xff) as libmariadb does: the message ends at the
 * packet's end or at a NUL, cut to 511 bytes. False when it is too short to hold a code (libmariadb
 * then reports an unknown error). */
bool sqlPacketParseError(const uint8_t *p, size_t len, SqlServerError *out);

#endif
