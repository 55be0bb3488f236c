/*
 * MySQL packet framing and the server's generic answers (see replserver.h, "Packets"): framing
 * and joining payloads of up to REPL_PACKET_MAX bytes per physical packet, length-encoded
 * integers, OK / ERR / EOF payloads and text result sets. Pure: bytes in, bytes out.
 */
#include <string.h>

#include "common/buf.h"
#include "common/bytes.h"
#include "common/err.h"
#include "recover/repl_internal.h"
#include "recover/replserver.h"

int
replPacketWrite(ReplWriteFn write, void *ctx, uint8_t *seq, const uint8_t *head, size_t headLen,
                const uint8_t *body, size_t bodyLen, Err *err) {
    size_t total = headLen + bodyLen, done = 0;

    for (;;) {
        size_t n = total - done > REPL_PACKET_MAX ? REPL_PACKET_MAX : total - done;
        uint8_t hdr[4];

        hdr[0] = (uint8_t)n;
        hdr[1] = (uint8_t)(n >> 8);
        hdr[2] = (uint8_t)(n >> 16);
        hdr[3] = (*seq)++;
        if (write(ctx, hdr, sizeof(hdr), err) != 0)
            return -1;
        /* The packet's bytes: the rest of head first, then body. */
        for (size_t left = n; left > 0;) {
            const uint8_t *src;
            size_t take;

            if (done < headLen) {
                src = head + done;
                take = headLen - done;
            } else {
                src = body + (done - headLen);
                take = total - done;
            }
            if (take > left)
                take = left;
            if (write(ctx, src, take, err) != 0)
                return -1;
            done += take;
            left -= take;
        }
        if (n < REPL_PACKET_MAX)
            return 0;
    }
}

static int
bufWriteFn(void *ctx, const void *data, size_t len, Err *err) {
    (void)err;
    bufAppend(ctx, data, len);
    return 0;
}

void
replPacketAppend(Buf *out, uint8_t *seq, const uint8_t *head, size_t headLen, const uint8_t *body, size_t bodyLen) {
    Err err;

    bufReserve(out, headLen + bodyLen + 4 * (1 + (headLen + bodyLen) / REPL_PACKET_MAX));
    replPacketWrite(bufWriteFn, out, seq, head, headLen, body, bodyLen, &err);
}

int
replPacketTake(const uint8_t *p, size_t avail, size_t maxPayload, Buf *payload, uint8_t *seq, size_t *consumed,
               Err *err) {
    size_t off = 0, total = 0;
    uint8_t last = 0;

    /* First pass: is the whole logical packet there, within the limit? */
    for (bool first = true;; first = false) {
        size_t n;

        if (avail - off < 4)
            return 0;
        n = rdU24(p + off);
        if (!first && p[off + 3] != (uint8_t)(last + 1))
            return errSet(err, ERR_FORMAT, "packet sequence id %u follows %u", p[off + 3], last);
        last = p[off + 3];
        if (n > maxPayload - total)
            return errSet(err, ERR_LIMIT, "packet of more than %zu bytes (limit %zu)", total + n, maxPayload);
        if (avail - off - 4 < n)
            return 0;
        off += 4 + n;
        total += n;
        if (n < REPL_PACKET_MAX)
            break;
    }
    /* Second pass: copy the payload pieces. */
    for (size_t o = 0; o < off;) {
        size_t n = rdU24(p + o);

        bufAppend(payload, p + o + 4, n);
        o += 4 + n;
    }
    *seq = last;
    *consumed = off;
    return 1;
}

size_t
replLenencPut(uint8_t out[9], uint64_t v) {
    if (v < 251) {
        out[0] = (uint8_t)v;
        return 1;
    }
    if (v < 0x10000) {
        out[0] = 0xfc;
        wrU16(out + 1, (uint16_t)v);
        return 3;
    }
    if (v < 0x1000000) {
        out[0] = 0xfd;
        out[1] = (uint8_t)v;
        out[2] = (uint8_t)(v >> 8);
        out[3] = (uint8_t)(v >> 16);
        return 4;
    }
    out[0] = 0xfe;
    wrU64(out + 1, v);
    return 9;
}

size_t
replLenencGet(const uint8_t *p, size_t avail, uint64_t *v) {
    if (avail < 1)
        return 0;
    switch (p[0]) {
    case 0xfc:
        if (avail < 3)
            return 0;
        *v = rdU16(p + 1);
        return 3;
    case 0xfd:
        if (avail < 4)
            return 0;
        *v = rdU24(p + 1);
        return 4;
    case 0xfe:
        if (avail < 9)
            return 0;
        *v = rdU64(p + 1);
        return 9;
    case 0xfb:
    case 0xff:
        return 0;
    default:
        *v = p[0];
        return 1;
    }
}

static void
putLenenc(Buf *out, uint64_t v) {
    uint8_t b[9];

    bufAppend(out, b, replLenencPut(b, v));
}

static void
putLenencStr(Buf *out, const char *s, size_t len) {
    putLenenc(out, len);
    bufAppend(out, s, len);
}

void
replOkEncode(Buf *out, uint64_t affectedRows, uint16_t status) {
    bufAppend(out, "\0", 1);
    putLenenc(out, affectedRows);
    putLenenc(out, 0);
    replPutU16(out, status);
    replPutU16(out, 0);
}

void
replErrEncode(Buf *out, uint16_t code, const char *sqlState, const char *message) {
    uint8_t b = 0xff;
    size_t len = strlen(message);

    bufAppend(out, &b, 1);
    replPutU16(out, code);
    if (sqlState != NULL) {
        bufAppend(out, "#", 1);
        bufAppend(out, sqlState, 5);
    }
    /* The client copies at most MYSQL_ERRMSG_SIZE (512) bytes. */
    bufAppend(out, message, len > 500 ? 500 : len);
}

void
replEofEncode(Buf *out, uint16_t status) {
    uint8_t b = 0xfe;

    bufAppend(out, &b, 1);
    replPutU16(out, 0);
    replPutU16(out, status);
}

void
replResultSetAppend(Buf *out, uint8_t *seq, size_t nCols, const char *const *names, size_t nRows,
                    const char *const *values) {
    Buf *p = bufNew(256);

    putLenenc(p, nCols);
    replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    for (size_t c = 0; c < nCols; c++) {
        bufClear(p);
        putLenencStr(p, "def", 3);
        putLenencStr(p, "", 0);
        putLenencStr(p, "", 0);
        putLenencStr(p, "", 0);
        putLenencStr(p, names[c], strlen(names[c]));
        putLenencStr(p, "", 0);
        putLenenc(p, 0x0c);
        replPutU16(p, REPL_CHARSET_UTF8MB4);
        replPutU32(p, 4096); /* column length */
        bufAppend(p, "\xfd", 1); /* MYSQL_TYPE_VAR_STRING */
        replPutU16(p, 0);    /* flags */
        bufAppend(p, "\x27\0\0", 3); /* decimals 39 (not fixed), filler */
        replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    }
    bufClear(p);
    replEofEncode(p, REPL_STATUS_AUTOCOMMIT);
    replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    for (size_t r = 0; r < nRows; r++) {
        bufClear(p);
        for (size_t c = 0; c < nCols; c++) {
            const char *v = values[r * nCols + c];

            if (v == NULL)
                bufAppend(p, "\xfb", 1);
            else
                putLenencStr(p, v, strlen(v));
        }
        replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    }
    bufClear(p);
    replEofEncode(p, REPL_STATUS_AUTOCOMMIT);
    replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    bufFree(p);
}
