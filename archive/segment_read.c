/*
 * The segment reader: checks the trailer with a few ranged reads, then streams the object once,
 * verifying every layer (magic, trailer CRC, lz4 frame and block checksums, content SHA-256 and
 * length, every event's CRC) while handing out one event at a time (archive/segment.h).
 */
#include "archive/segment.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "binlog/reader.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/mem.h"

/* Input chunk fed from the lz4 decoder to the binlog reader. */
#define SEGMENT_READ_CHUNK (64 * 1024)

IoRead *
segmentOpenPath(void *data, uint64_t offset, uint64_t length, Err *err) {
    const char *path = data;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        errSetSys(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "unable to open '%s'", path);
        return NULL;
    }
    return ioReadFdNew(fd, path, offset, length, IO_FD_CLOSE);
}

/* The trailer: checks and parses it into *meta, and hands the raw trailer with its 16-byte tail
 * to the caller (*raw, *rawLen). Messages are not prefixed with the segment name. */
static int
readTrailer(SegmentOpenFn *open, void *data, uint64_t size, SegmentMeta *meta, uint8_t **raw, size_t *rawLen,
            Err *err) {
    memset(meta, 0, sizeof(*meta));
    if (segmentContainerReadTrailer(&segmentContainerSegment, open, data, size, raw, rawLen, err) != 0)
        return -1;
    if (segmentMetaFromJson((const char *)*raw, *rawLen - SEGMENT_TAIL_LEN, false, meta, err) != 0) {
        bvFree(*raw);
        *raw = NULL;
        return errPrefix(err, "trailer");
    }
    return 0;
}

/* The trailer of a segment must describe the object it is in: its name, when it is one. */
static int
checkName(const char *name, const SegmentMeta *m, Err *err) {
    uint64_t seq, start;
    char file[SEGMENT_FILE_MAX];

    if (segmentNameParse(name, &seq, file, sizeof(file), &start, NULL) != 0)
        return 0;
    if (seq != m->seq || strcmp(file, m->file) != 0 || start != m->startPos)
        return errSet(err, ERR_FORMAT, "trailer: describes seq %" PRIu64 " of '%s' at %" PRIu64 ", not what the name says",
                      m->seq, m->file, m->startPos);
    return 0;
}

int
segmentReadMeta(const char *name, SegmentOpenFn *open, void *data, uint64_t size, SegmentMeta *meta, Err *err) {
    uint8_t *raw = NULL;
    size_t rawLen;

    if (readTrailer(open, data, size, meta, &raw, &rawLen, err) != 0 || checkName(name, meta, err) != 0) {
        segmentMetaClear(meta);
        return errPrefix(err, "segment '%s'", name);
    }
    bvFree(raw);
    snprintf(meta->name, sizeof(meta->name), "%s", name);
    meta->size = size;
    meta->sha256[0] = '\0';
    return 0;
}

struct SegmentReader {
    char *name;
    SegmentMeta meta;
    uint8_t *trailer; /* raw trailer and tail, read again at the end and compared */
    size_t trailerLen;
    IoRead *object; /* sha256 observer over the whole object */
    IoRead *lz4;    /* decompressor over a window of `object` */
    BinlogReader *binlog;
    CryptoHash *contentHash;
    uint64_t contentBytes;
    uint8_t *fde;
    size_t fdeLen;
    BinlogFormat fmt;
    uint64_t events;
    bool lz4Done;
    int state; /* 0 reading, 1 verified end, -1 failed */
    Err failure;
    char sha256[65];
};

static int
readerFail(SegmentReader *r, Err *err) {
    errPrefix(err, "segment '%s'", r->name);
    r->state = -1;
    r->failure = *err;
    return -1;
}

/* Decompress the next chunk of content into the binlog reader: 1, 0 at the end of the frame, -1. */
static int
readerFill(SegmentReader *r, Err *err) {
    size_t avail;
    uint8_t *space = binlogReaderSpace(r->binlog, SEGMENT_READ_CHUNK, &avail);
    ssize_t n;

    if (avail > SEGMENT_READ_CHUNK)
        avail = SEGMENT_READ_CHUNK;
    n = ioRead(r->lz4, space, avail, err);
    if (n < 0)
        return errPrefix(err, "lz4 frame");
    if (n == 0) {
        r->lz4Done = true;
        return 0;
    }
    cryptoHashUpdate(r->contentHash, space, (size_t)n);
    r->contentBytes += (uint64_t)n;
    if (r->contentBytes > r->meta.contentLen)
        return errSet(err, ERR_FORMAT, "content: longer than the %" PRIu64 " bytes the trailer declares",
                      r->meta.contentLen);
    binlogReaderCommit(r->binlog, (size_t)n);
    return 1;
}

/* The end of the content: lengths, hashes, counts, and the trailer read again. */
static int
readerFinish(SegmentReader *r, Err *err) {
    uint8_t digest[CRYPTO_HASH_MAX_LEN], *again;
    char hex[CRYPTO_HASH_HEX_MAX];
    ssize_t n;
    uint8_t extra;

    if (binlogReaderPending(r->binlog) > 0)
        return errSet(err, ERR_FORMAT, "content: ends inside the event at offset %" PRIu64 " of '%s' (%zu bytes of it)",
                      binlogReaderOffset(r->binlog), r->meta.file, binlogReaderPending(r->binlog));
    if (r->contentBytes != r->meta.contentLen)
        return errSet(err, ERR_FORMAT, "content: %" PRIu64 " bytes, the trailer declares %" PRIu64, r->contentBytes,
                      r->meta.contentLen);
    cryptoHashFinal(r->contentHash, digest, NULL);
    cryptoHashFree(r->contentHash);
    r->contentHash = NULL;
    cryptoHexEncode(digest, CRYPTO_SHA256_LEN, hex);
    if (strcmp(hex, r->meta.contentSha256) != 0)
        return errSet(err, ERR_CHECKSUM, "content sha256 mismatch: computed %s, the trailer says %s", hex,
                      r->meta.contentSha256);
    if (r->events != r->meta.events)
        return errSet(err, ERR_FORMAT, "content: %" PRIu64 " events, the trailer declares %" PRIu64, r->events,
                      r->meta.events);
    again = bvMalloc(r->trailerLen);
    n = ioReadFull(r->object, again, r->trailerLen, err);
    if (n >= 0 && (size_t)n == r->trailerLen && memcmp(again, r->trailer, r->trailerLen) != 0)
        n = errSet(err, ERR_FORMAT, "trailer: changed between two reads of the object");
    else if (n >= 0 && (size_t)n != r->trailerLen)
        n = errSet(err, ERR_FORMAT, "object: ended inside the trailer");
    bvFree(again);
    if (n < 0)
        return -1;
    /* Reaching the end completes the object hash. */
    n = ioRead(r->object, &extra, 1, err);
    if (n < 0)
        return -1;
    if (n > 0)
        return errSet(err, ERR_FORMAT, "object: bytes after the trailer");
    snprintf(r->sha256, sizeof(r->sha256), "%s", ioReadHashHex(r->object));
    return 0;
}

SegmentReader *
segmentReaderNew(const char *name, SegmentOpenFn *open, void *data, uint64_t size, Err *err) {
    SegmentReader *r = bvCalloc(1, sizeof(*r));
    uint8_t magic[SEGMENT_MAGIC_LEN];
    IoRead *src;
    BinlogEvent ev;
    ssize_t n;

    r->name = bvStrdup(name);
    if (readTrailer(open, data, size, &r->meta, &r->trailer, &r->trailerLen, err) != 0 ||
        checkName(name, &r->meta, err) != 0)
        goto fail;
    snprintf(r->meta.name, sizeof(r->meta.name), "%s", name);
    r->meta.size = size;
    if ((src = open(data, 0, size, err)) == NULL)
        goto fail;
    r->object = ioReadHashNew(src, CRYPTO_HASH_SHA256);
    n = ioReadFull(r->object, magic, sizeof(magic), err);
    if (n < 0)
        goto fail;
    if ((size_t)n != sizeof(magic) || segmentContainerCheckMagic(&segmentContainerSegment, magic, err) != 0) {
        if ((size_t)n != sizeof(magic))
            errSet(err, ERR_FORMAT, "object: ended inside the magic");
        goto fail;
    }
    r->lz4 = segmentContainerFrame(r->object, size - SEGMENT_MAGIC_LEN - r->trailerLen);
    r->binlog = binlogReaderNew(BINLOG_READER_STREAM, 0);
    r->contentHash = cryptoHashNew(CRYPTO_HASH_SHA256);
    /* The FDE that opens the content sets the format of the events after it. */
    for (;;) {
        int rc = binlogReaderNext(r->binlog, &ev, err);

        if (rc < 0) {
            errPrefix(err, "content: format description event");
            goto fail;
        }
        if (rc == 1)
            break;
        rc = readerFill(r, err);
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            errSet(err, ERR_FORMAT, "content: ends before its format description event");
            goto fail;
        }
    }
    if (ev.h.type != BINLOG_FORMAT_DESCRIPTION || ev.h.size != r->meta.fdeLen) {
        errSet(err, ERR_FORMAT, "content: starts with a %s event of %" PRIu32 " bytes, not the %" PRIu32
                                "-byte format description event the trailer declares",
               binlogEventTypeName(ev.h.type), ev.h.size, r->meta.fdeLen);
        goto fail;
    }
    r->fdeLen = ev.h.size;
    r->fde = bvMalloc(r->fdeLen);
    memcpy(r->fde, ev.data, r->fdeLen);
    r->fmt = *binlogReaderFormat(r->binlog);
    /* From here on the reader's offsets are offsets in the binlog file. */
    binlogReaderSetOffset(r->binlog, r->meta.startPos);
    return r;

fail:
    errPrefix(err, "segment '%s'", name);
    segmentReaderFree(r);
    return NULL;
}

const SegmentMeta *
segmentReaderMeta(const SegmentReader *r) {
    return &r->meta;
}

const uint8_t *
segmentReaderFde(const SegmentReader *r, size_t *len) {
    *len = r->fdeLen;
    return r->fde;
}

const BinlogFormat *
segmentReaderFormat(const SegmentReader *r) {
    return &r->fmt;
}

int
segmentReaderNext(SegmentReader *r, BinlogEvent *ev, uint64_t *pos, Err *err) {
    if (r->state < 0) {
        *err = r->failure;
        return -1;
    }
    if (r->state > 0)
        return 0;
    for (;;) {
        int rc = binlogReaderNext(r->binlog, ev, err);

        if (rc < 0) {
            errPrefix(err, "'%s'", r->meta.file);
            return readerFail(r, err);
        }
        if (rc == 1) {
            r->events++;
            *pos = binlogReaderEventOffset(r->binlog);
            return 1;
        }
        if (r->lz4Done) {
            if (readerFinish(r, err) != 0)
                return readerFail(r, err);
            r->state = 1;
            return 0;
        }
        if (readerFill(r, err) < 0)
            return readerFail(r, err);
    }
}

const char *
segmentReaderSha256(const SegmentReader *r) {
    return r->state > 0 ? r->sha256 : NULL;
}

void
segmentReaderFree(SegmentReader *r) {
    if (r == NULL)
        return;
    ioReadFree(r->lz4);
    ioReadFree(r->object);
    binlogReaderFree(r->binlog);
    cryptoHashFree(r->contentHash);
    segmentMetaClear(&r->meta);
    bvFree(r->trailer);
    bvFree(r->fde);
    bvFree(r->name);
    bvFree(r);
}
