#include "binlog/reader.h"

#include <string.h>

#include "common/bytes.h"
#include "common/mem.h"

struct BinlogReader {
    BinlogReaderMode mode;
    size_t maxEvent;
    bool verify;
    bool magicDone;
    bool failed;
    BinlogFormat fmt;
    uint8_t *buf;
    size_t cap, start, end;
    uint64_t offset;      /* input offset of buf[start] */
    uint64_t eventOffset; /* input offset of the last event returned */
    Err failure;
};

BinlogReader *
binlogReaderNew(BinlogReaderMode mode, size_t maxEventSize) {
    BinlogReader *r = bvCalloc(1, sizeof(*r));

    r->mode = mode;
    r->maxEvent = maxEventSize ? maxEventSize : BINLOG_DEFAULT_MAX_EVENT;
    r->verify = true;
    r->magicDone = mode != BINLOG_READER_FILE;
    binlogFormatInit(&r->fmt);
    return r;
}

const BinlogFormat *
binlogReaderFormat(const BinlogReader *r) {
    return &r->fmt;
}

uint64_t
binlogReaderEventOffset(const BinlogReader *r) {
    return r->eventOffset;
}

uint64_t
binlogReaderOffset(const BinlogReader *r) {
    return r->offset;
}

size_t
binlogReaderPending(const BinlogReader *r) {
    return r->end - r->start;
}

void
binlogReaderSetVerify(BinlogReader *r, bool verify) {
    r->verify = verify;
}

void
binlogReaderSetFormat(BinlogReader *r, const BinlogFormat *fmt) {
    r->fmt = *fmt;
}

void
binlogReaderSetOffset(BinlogReader *r, uint64_t offset) {
    r->offset = offset;
}

/* Make room for `want` more bytes after end, compacting before growing. */
static void
reserve(BinlogReader *r, size_t want) {
    if (r->cap - r->end >= want)
        return;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
        if (r->cap - r->end >= want)
            return;
    }
    size_t cap = r->cap ? r->cap : 65536;

    while (cap - r->end < want)
        cap *= 2;
    r->buf = bvRealloc(r->buf, cap);
    r->cap = cap;
}

void
binlogReaderFeed(BinlogReader *r, const void *data, size_t len) {
    if (len == 0)
        return; /* an empty payload: nothing to copy, and no buffer yet to copy into */
    reserve(r, len);
    memcpy(r->buf + r->end, data, len);
    r->end += len;
}

uint8_t *
binlogReaderSpace(BinlogReader *r, size_t want, size_t *avail) {
    reserve(r, want);
    *avail = r->cap - r->end;
    return r->buf + r->end;
}

void
binlogReaderCommit(BinlogReader *r, size_t len) {
    BV_ASSERT(len <= r->cap - r->end);
    r->end += len;
}

static int
fail(BinlogReader *r, Err *err) {
    r->failed = true;
    r->failure = *err;
    return -1;
}

int
binlogReaderNext(BinlogReader *r, BinlogEvent *ev, Err *err) {
    const uint8_t *p;
    size_t avail;
    uint32_t size;

    if (r->failed) {
        *err = r->failure;
        return -1;
    }
    avail = r->end - r->start;
    if (!r->magicDone) {
        if (avail < BINLOG_MAGIC_LEN)
            return 0;
        if (memcmp(r->buf + r->start, BINLOG_MAGIC, BINLOG_MAGIC_LEN) != 0) {
            errSet(err, ERR_FORMAT, "not a binlog file: the first 4 bytes are not the binlog magic fe 62 69 6e");
            return fail(r, err);
        }
        r->start += BINLOG_MAGIC_LEN;
        r->offset += BINLOG_MAGIC_LEN;
        r->magicDone = true;
        avail -= BINLOG_MAGIC_LEN;
    }
    if (avail < BINLOG_HEADER_LEN)
        return 0;
    p = r->buf + r->start;
    size = rdU32(p + 9);
    if (size < BINLOG_HEADER_LEN) {
        errSet(err, ERR_FORMAT, "event at offset %llu declares a size of %u bytes, less than its 19-byte header",
               (unsigned long long)r->offset, size);
        return fail(r, err);
    }
    if (size > r->maxEvent) {
        errSet(err, ERR_LIMIT, "event at offset %llu declares a size of %u bytes, above the limit of %zu",
               (unsigned long long)r->offset, size, r->maxEvent);
        return fail(r, err);
    }
    /* No room is made for the rest of the event here: the caller's feeding grows the buffer
     * with the bytes that arrive, so a header that declares a large event costs nothing until
     * the bytes are there. */
    if (avail < size)
        return 0;
    if (binlogEventParse(&r->fmt, p, size, r->verify, ev, err) != 0) {
        errPrefix(err, "event at offset %llu", (unsigned long long)r->offset);
        return fail(r, err);
    }
    if (ev->h.type == BINLOG_FORMAT_DESCRIPTION) {
        BinlogFormat fmt;

        if (binlogFormatFromFde(&fmt, p, size, r->verify, err) != 0) {
            errPrefix(err, "event at offset %llu", (unsigned long long)r->offset);
            return fail(r, err);
        }
        r->fmt = fmt;
    } else if (ev->h.type == BINLOG_MARIA_START_ENCRYPTION && !(ev->h.flags & BINLOG_FLAG_IGNORABLE)) {
        /* Unflagged, it is the one of a file the server wrote encrypted: ciphertext follows. (A
         * replication stream decrypts and sends it flagged ignorable.) */
        errSet(err, ERR_FORMAT,
               "START_ENCRYPTION event at offset %llu: the events after it are encrypted with the source server's "
               "key (encrypt_binlog=ON), which binvault does not have; binvault reads the decrypted events a "
               "replication stream gives: archive this server with 'binvault agent'",
               (unsigned long long)r->offset);
        return fail(r, err);
    } else if (!r->fmt.valid && r->mode == BINLOG_READER_FILE) {
        errSet(err, ERR_FORMAT, "event at offset %llu (%s) comes before any format description event",
               (unsigned long long)r->offset, binlogEventTypeName(ev->h.type));
        return fail(r, err);
    }
    r->eventOffset = r->offset;
    r->offset += size;
    r->start += size;
    return 1;
}

void
binlogReaderFree(BinlogReader *r) {
    if (r == NULL)
        return;
    bvFree(r->buf);
    bvFree(r);
}
