/*
 * The container of segments, also used by the parts of base backups (docs/FORMAT.md, "Segments"
 * and "Base backups"): head magic, one lz4 frame, trailer JSON, its length, CRC32 and end magic.
 * The kinds differ by their magics only; what the trailer says is each kind's own business.
 */
#include "archive/segment.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/mem.h"

/* The first read of the trailer takes this much of the object's end: trailers are a few hundred
 * bytes, so one ranged read usually serves it. */
#define SEGMENT_TAIL_READ (64 * 1024)

const SegmentContainer segmentContainerSegment = {"segment", SEGMENT_MAGIC, SEGMENT_END_MAGIC,
                                                  SEGMENT_FORMAT_VERSION};

void
segmentContainerTail(const SegmentContainer *k, Buf *trailer) {
    uint8_t tail[SEGMENT_TAIL_LEN];

    BV_ASSERT(trailer->len <= SEGMENT_TRAILER_MAX);
    wrU32(tail, (uint32_t)trailer->len);
    wrU32(tail + 4, cryptoCrc32(0, trailer->data, trailer->len));
    memcpy(tail + 8, k->endMagic, 8);
    bufAppend(trailer, tail, sizeof(tail));
}

int
segmentContainerCheckMagic(const SegmentContainer *k, const uint8_t *magic, Err *err) {
    if (memcmp(magic, k->magic, SEGMENT_MAGIC_LEN) == 0)
        return 0;
    if (memcmp(magic, k->magic, 6) == 0 && magic[7] == '\n')
        return errSet(err, ERR_FORMAT, "magic: %s format version %u is not supported (this binvault reads version %u)",
                      k->what, magic[6], k->version);
    return errSet(err, ERR_FORMAT, "magic: not a %s: the first 8 bytes are %02x %02x %02x %02x %02x %02x %02x %02x",
                  k->what, magic[0], magic[1], magic[2], magic[3], magic[4], magic[5], magic[6], magic[7]);
}

/* Read exactly `len` bytes at `offset` of the object. */
static int
readRange(SegmentOpenFn *open, void *data, uint64_t offset, uint8_t *buf, size_t len, Err *err) {
    IoRead *in = open(data, offset, len, err);
    ssize_t n;

    if (in == NULL)
        return -1;
    n = ioReadFull(in, buf, len, err);
    ioReadFree(in);
    if (n < 0)
        return -1;
    if ((size_t)n != len)
        return errSet(err, ERR_FORMAT, "object ended after %zd of the %zu bytes at offset %" PRIu64, n, len, offset);
    return 0;
}

int
segmentContainerReadTrailer(const SegmentContainer *k, SegmentOpenFn *open, void *data, uint64_t size, uint8_t **raw,
                            size_t *rawLen, Err *err) {
    uint8_t magic[SEGMENT_MAGIC_LEN], *buf = NULL, *tail;
    size_t have, need;
    uint32_t tlen, crcStored, crcComputed;
    int rc = -1;

    if (size < SEGMENT_MAGIC_LEN + SEGMENT_TAIL_LEN + 1)
        return errSet(err, ERR_FORMAT, "object of %" PRIu64 " bytes is too small to be a %s", size, k->what);
    if (readRange(open, data, 0, magic, sizeof(magic), err) != 0 || segmentContainerCheckMagic(k, magic, err) != 0)
        return -1;
    have = size - SEGMENT_MAGIC_LEN < SEGMENT_TAIL_READ ? (size_t)(size - SEGMENT_MAGIC_LEN) : SEGMENT_TAIL_READ;
    buf = bvMalloc(have);
    if (readRange(open, data, size - have, buf, have, err) != 0)
        goto out;
    tail = buf + have - SEGMENT_TAIL_LEN;
    if (memcmp(tail + 8, k->endMagic, 8) != 0) {
        errSet(err, ERR_FORMAT, "trailer: end magic '%.8s' missing (object truncated, or not a %s)", k->endMagic,
               k->what);
        goto out;
    }
    tlen = rdU32(tail);
    crcStored = rdU32(tail + 4);
    if (tlen == 0 || tlen > SEGMENT_TRAILER_MAX) {
        errSet(err, tlen == 0 ? ERR_FORMAT : ERR_LIMIT, "trailer: length %" PRIu32 " is %s", tlen,
               tlen == 0 ? "zero" : "above the limit of 1048576 bytes");
        goto out;
    }
    if ((uint64_t)tlen > size - SEGMENT_MAGIC_LEN - SEGMENT_TAIL_LEN - 1) {
        errSet(err, ERR_FORMAT, "trailer: length %" PRIu32 " does not fit in the %" PRIu64 "-byte object", tlen, size);
        goto out;
    }
    need = (size_t)tlen + SEGMENT_TAIL_LEN;
    if (need > have) {
        uint8_t *whole = bvMalloc(need);

        memcpy(whole + need - have, buf, have);
        bvFree(buf);
        buf = whole;
        if (readRange(open, data, size - need, buf, need - have, err) != 0)
            goto out;
    } else if (need < have) {
        memmove(buf, buf + have - need, need);
    }
    crcComputed = cryptoCrc32(0, buf, tlen);
    if (crcComputed != crcStored) {
        errSet(err, ERR_CHECKSUM, "trailer: crc32 mismatch: stored 0x%08" PRIx32 ", computed 0x%08" PRIx32, crcStored,
               crcComputed);
        goto out;
    }
    *raw = buf;
    *rawLen = need;
    buf = NULL;
    rc = 0;
out:
    bvFree(buf);
    return rc;
}

/* A window of `left` bytes of a reader it does not own: the lz4 frame within the object. */
typedef struct SegmentWindow {
    IoRead *src;
    uint64_t left;
} SegmentWindow;

static ssize_t
segmentWindowRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    SegmentWindow *this = ctx;
    ssize_t n;

    if (this->left == 0)
        return 0;
    if (len > this->left)
        len = (size_t)this->left;
    n = ioRead(this->src, buf, len, err);
    if (n == 0)
        return errSet(err, ERR_FORMAT, "object ended %" PRIu64 " bytes before the end of its lz4 frame", this->left);
    if (n > 0)
        this->left -= (uint64_t)n;
    return n;
}

static const IoReadVt segmentWindowVt = {
    .name = "segment-window",
    .read = segmentWindowRead,
    .free = bvFree,
};

IoRead *
segmentContainerFrame(IoRead *object, uint64_t frameLen) {
    SegmentWindow *window = bvCalloc(1, sizeof(*window));

    window->src = object;
    window->left = frameLen;
    return ioReadLz4DecompressNew(ioReadNew(&segmentWindowVt, window));
}
