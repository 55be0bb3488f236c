/* The framing of the protocol's packets as a replica reads them (mysql/packet.h). */
#include "mysql/packet.h"

#include <string.h>

#include "common/bytes.h"

/* Walk the parts of the logical packet at buf: 1 when they are all there (*end: the bytes they
 * take, *total: the payload), 0 when the buffer ends first (*need), -1 on a bad sequence number
 * or a payload too large. */
static int
packetScan(const uint8_t *buf, size_t avail, uint8_t seq, bool seqRestart, size_t maxLen, size_t *end,
           size_t *total, uint8_t *lastSeq, size_t *need, Err *err) {
    size_t off = 0, sum = 0;

    for (bool first = true;; first = false) {
        size_t n;
        uint8_t s;

        if (avail - off < SQL_PACKET_HEADER) {
            *need = off + SQL_PACKET_HEADER;
            return 0;
        }
        n = rdU24(buf + off);
        s = buf[off + 3];
        if (first ? s != seq && !(seqRestart && s == 1) : s != (uint8_t)(*lastSeq + 1)) {
            if (first)
                return errSet(err, ERR_FORMAT, "packet sequence number %u, expected %u%s", s, seq,
                              seqRestart ? " or 1" : "");
            return errSet(err, ERR_FORMAT, "packet sequence number %u follows %u inside a packet of %zu+ bytes", s,
                          *lastSeq, sum);
        }
        *lastSeq = s;
        if (n >= maxLen - sum)
            return errSet(err, ERR_LIMIT, "packet of at least %zu bytes (limit %zu)", sum + n, maxLen);
        if (avail - off - SQL_PACKET_HEADER < n) {
            *need = off + SQL_PACKET_HEADER + n;
            return 0;
        }
        off += SQL_PACKET_HEADER + n;
        sum += n;
        if (n < SQL_PACKET_PART_MAX)
            break;
    }
    *end = off;
    *total = sum;
    return 1;
}

int
sqlPacketFrame(uint8_t *buf, size_t avail, uint8_t seq, bool seqRestart, size_t maxLen, SqlPacket *out,
               size_t *need, Err *err) {
    size_t end = 0, total = 0, dst, src;
    uint8_t lastSeq = 0;
    int rc;

    *need = 0;
    rc = packetScan(buf, avail, seq, seqRestart, maxLen, &end, &total, &lastSeq, need, err);
    if (rc <= 0)
        return rc;
    out->payload = SQL_PACKET_HEADER;
    out->len = total;
    out->consumed = end;
    out->lastSeq = lastSeq;
    if (total < SQL_PACKET_PART_MAX)
        return 1;
    /* Join the parts: each later part's payload moves down over the headers before it. */
    dst = SQL_PACKET_HEADER + SQL_PACKET_PART_MAX;
    src = dst;
    while (src < end) {
        size_t n = rdU24(buf + src);

        memmove(buf + dst, buf + src + SQL_PACKET_HEADER, n);
        dst += n;
        src += SQL_PACKET_HEADER + n;
    }
    return 1;
}

bool
sqlPacketReady(const uint8_t *buf, size_t avail) {
    size_t end, total, need;
    uint8_t lastSeq = 0;
    Err err;

    if (avail < SQL_PACKET_HEADER)
        return false;
    /* A packet in one part, by far the most common: the stream asks this once per event. */
    if (rdU24(buf) < SQL_PACKET_PART_MAX)
        return avail - SQL_PACKET_HEADER >= rdU24(buf);
    /* The sequence number does not decide whether the bytes are there: take the first part's. */
    return packetScan(buf, avail, buf[3], false, SIZE_MAX, &end, &total, &lastSeq, &need, &err) != 0;
}

bool
sqlPacketParseError(const uint8_t *p, size_t len, SqlServerError *out) {
    size_t off = 3, n;

    memset(out, 0, sizeof(*out));
    if (len <= 3 || p[0] != 0xff)
        return false;
    out->code = rdU16(p + 1);
    if (len > off && p[off] == '#' && len >= off + 6) {
        memcpy(out->sqlstate, p + off + 1, 5);
        off += 6;
    } else {
        memcpy(out->sqlstate, "HY000", 5);
    }
    n = len - off;
    if (n > sizeof(out->message) - 1)
        n = sizeof(out->message) - 1;
    memcpy(out->message, p + off, n);
    out->message[n] = '\0';
    return true;
}
