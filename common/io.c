#include "common/io.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <lz4frame.h>

#include "common/fs.h"
#include "common/mem.h"

/* Input chunk of the lz4 reader and buffer of ioCopy() and the lz4 decompress writer. */
#define IO_CHUNK (64 * 1024)

struct IoWrite {
    const IoWriteVt *vt;
    void *ctx;
    bool closed;
};

struct IoRead {
    const IoReadVt *vt;
    void *ctx;
    bool eof;
};

IoWrite *
ioWriteNew(const IoWriteVt *vt, void *ctx) {
    IoWrite *writer = bvCalloc(1, sizeof(*writer));

    writer->vt = vt;
    writer->ctx = ctx;
    return writer;
}

int
ioWrite(IoWrite *writer, const void *data, size_t len, Err *err) {
    BV_ASSERT(!writer->closed);
    if (len == 0)
        return 0;
    return writer->vt->write(writer->ctx, data, len, err);
}

int
ioWriteClose(IoWrite *writer, Err *err) {
    BV_ASSERT(!writer->closed);
    writer->closed = true;
    return writer->vt->close(writer->ctx, err);
}

void
ioWriteFree(IoWrite *writer) {
    if (writer == NULL)
        return;
    writer->vt->free(writer->ctx);
    bvFree(writer);
}

IoRead *
ioReadNew(const IoReadVt *vt, void *ctx) {
    IoRead *reader = bvCalloc(1, sizeof(*reader));

    reader->vt = vt;
    reader->ctx = ctx;
    return reader;
}

ssize_t
ioRead(IoRead *reader, void *buf, size_t len, Err *err) {
    ssize_t n;

    BV_ASSERT(len > 0 && len <= SSIZE_MAX);
    if (reader->eof)
        return 0;
    n = reader->vt->read(reader->ctx, buf, len, err);
    BV_ASSERT(n >= -1 && n <= (ssize_t)len);
    if (n == 0)
        reader->eof = true;
    return n;
}

ssize_t
ioReadFull(IoRead *reader, void *buf, size_t len, Err *err) {
    uint8_t *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = ioRead(reader, p + done, len - done, err);

        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

void
ioReadFree(IoRead *reader) {
    if (reader == NULL)
        return;
    reader->vt->free(reader->ctx);
    bvFree(reader);
}

int
ioCopy(IoRead *src, IoWrite *dst, Err *err) {
    uint8_t *buf = bvMalloc(IO_CHUNK);
    int rc = 0;

    for (;;) {
        ssize_t n = ioRead(src, buf, IO_CHUNK, err);

        if (n <= 0) {
            rc = (int)n;
            break;
        }
        if (ioWrite(dst, buf, (size_t)n, err) != 0) {
            rc = -1;
            break;
        }
    }
    bvFree(buf);
    return rc;
}

/* --- Hash state shared by the write and read observers ------------------------------------ */

typedef struct IoHash {
    CryptoHash *hash;
    bool done;
    size_t len;
    uint8_t result[CRYPTO_HASH_MAX_LEN];
    char hex[CRYPTO_HASH_HEX_MAX];
} IoHash;

static void
ioHashFinish(IoHash *state) {
    cryptoHashFinal(state->hash, state->result, &state->len);
    cryptoHexEncode(state->result, state->len, state->hex);
    state->done = true;
}

static void
ioHashGet(const IoHash *state, uint8_t *out, size_t *len) {
    BV_ASSERT(state->done);
    memcpy(out, state->result, state->len);
    if (len != NULL)
        *len = state->len;
}

/* --- fd sink ------------------------------------------------------------------------------ */

typedef struct IoFdWrite {
    int fd;
    char *name;
    unsigned flags;
} IoFdWrite;

static int
ioFdWriteWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    IoFdWrite *this = ctx;

    if (fsWriteAll(this->fd, data, len) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to write '%s'", this->name);
    return 0;
}

static int
ioFdWriteClose(void *ctx, Err *err) {
    IoFdWrite *this = ctx;
    int rc = 0;

    if ((this->flags & IO_FD_SYNC) && fsync(this->fd) != 0)
        rc = errSetSys(err, ERR_IO, errno, "unable to fsync '%s'", this->name);
    if (this->flags & IO_FD_CLOSE) {
        /* The descriptor is released even when close(2) fails, so it is never closed twice. */
        if (close(this->fd) != 0 && rc == 0)
            rc = errSetSys(err, ERR_IO, errno, "unable to close '%s'", this->name);
        this->fd = -1;
    }
    return rc;
}

static void
ioFdWriteFree(void *ctx) {
    IoFdWrite *this = ctx;

    if ((this->flags & IO_FD_CLOSE) && this->fd >= 0)
        close(this->fd);
    bvFree(this->name);
    bvFree(this);
}

static const IoWriteVt ioFdWriteVt = {
    .name = "fd",
    .write = ioFdWriteWrite,
    .close = ioFdWriteClose,
    .free = ioFdWriteFree,
};

IoWrite *
ioWriteFdNew(int fd, const char *name, unsigned flags) {
    IoFdWrite *this = bvCalloc(1, sizeof(*this));

    this->fd = fd;
    this->name = bvStrdup(name);
    this->flags = flags;
    return ioWriteNew(&ioFdWriteVt, this);
}

/* --- Buf sink ----------------------------------------------------------------------------- */

typedef struct IoBufWrite {
    Buf *buf;
    size_t maxLen;
} IoBufWrite;

static int
ioBufWriteWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    IoBufWrite *this = ctx;

    if (len > this->maxLen - this->buf->len)
        return errSet(err, ERR_LIMIT, "output is larger than the limit of %zu bytes", this->maxLen);
    bufAppend(this->buf, data, len);
    return 0;
}

static int
ioBufWriteClose(void *ctx, Err *err) {
    (void)ctx;
    (void)err;
    return 0;
}

static void
ioBufWriteFree(void *ctx) {
    bvFree(ctx);
}

static const IoWriteVt ioBufWriteVt = {
    .name = "buf",
    .write = ioBufWriteWrite,
    .close = ioBufWriteClose,
    .free = ioBufWriteFree,
};

IoWrite *
ioWriteBufNew(Buf *buf, size_t maxLen) {
    IoBufWrite *this = bvCalloc(1, sizeof(*this));

    BV_ASSERT(buf->len <= maxLen);
    this->buf = buf;
    this->maxLen = maxLen;
    return ioWriteNew(&ioBufWriteVt, this);
}

/* --- Hash observer (write) ---------------------------------------------------------------- */

typedef struct IoHashWrite {
    IoWrite *next;
    IoHash state;
} IoHashWrite;

static int
ioHashWriteWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    IoHashWrite *this = ctx;

    cryptoHashUpdate(this->state.hash, data, len);
    return ioWrite(this->next, data, len, err);
}

static int
ioHashWriteClose(void *ctx, Err *err) {
    IoHashWrite *this = ctx;

    ioHashFinish(&this->state);
    return ioWriteClose(this->next, err);
}

static void
ioHashWriteFree(void *ctx) {
    IoHashWrite *this = ctx;

    ioWriteFree(this->next);
    cryptoHashFree(this->state.hash);
    bvFree(this);
}

static const IoWriteVt ioHashWriteVt = {
    .name = "hash",
    .write = ioHashWriteWrite,
    .close = ioHashWriteClose,
    .free = ioHashWriteFree,
};

IoWrite *
ioWriteHashNew(IoWrite *next, CryptoHashType type) {
    IoHashWrite *this = bvCalloc(1, sizeof(*this));

    this->next = next;
    this->state.hash = cryptoHashNew(type);
    return ioWriteNew(&ioHashWriteVt, this);
}

void
ioWriteHashResult(const IoWrite *writer, uint8_t *out, size_t *len) {
    BV_ASSERT(writer->vt == &ioHashWriteVt);
    ioHashGet(&((const IoHashWrite *)writer->ctx)->state, out, len);
}

const char *
ioWriteHashHex(const IoWrite *writer) {
    const IoHashWrite *this = writer->ctx;

    BV_ASSERT(writer->vt == &ioHashWriteVt && this->state.done);
    return this->state.hex;
}

/* --- Byte counter ------------------------------------------------------------------------- */

typedef struct IoCountWrite {
    IoWrite *next;
    uint64_t bytes;
} IoCountWrite;

static int
ioCountWriteWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    IoCountWrite *this = ctx;

    this->bytes += len;
    return ioWrite(this->next, data, len, err);
}

static int
ioCountWriteClose(void *ctx, Err *err) {
    return ioWriteClose(((IoCountWrite *)ctx)->next, err);
}

static void
ioCountWriteFree(void *ctx) {
    ioWriteFree(((IoCountWrite *)ctx)->next);
    bvFree(ctx);
}

static const IoWriteVt ioCountWriteVt = {
    .name = "count",
    .write = ioCountWriteWrite,
    .close = ioCountWriteClose,
    .free = ioCountWriteFree,
};

IoWrite *
ioWriteCountNew(IoWrite *next) {
    IoCountWrite *this = bvCalloc(1, sizeof(*this));

    this->next = next;
    return ioWriteNew(&ioCountWriteVt, this);
}

uint64_t
ioWriteCountBytes(const IoWrite *writer) {
    BV_ASSERT(writer->vt == &ioCountWriteVt);
    return ((const IoCountWrite *)writer->ctx)->bytes;
}

/* --- lz4 frame compressor ----------------------------------------------------------------- */

typedef struct IoLz4Compress {
    IoWrite *next;
    LZ4F_cctx *cctx;
    LZ4F_preferences_t prefs;
    uint8_t *out;
    size_t outCap;
    /* ioWriteLz4CompressSetOut(): the compressed bytes go to its end instead of to `out`. */
    Buf *outBuf;
    bool begun;
} IoLz4Compress;

/* Where the next update writes (room for outCap bytes). */
static uint8_t *
ioLz4CompressDst(IoLz4Compress *this) {
    return this->outBuf != NULL ? bufReserve(this->outBuf, this->outCap) : this->out;
}

/* The n bytes compressed at dst (from ioLz4CompressDst()) to the next writer. */
static int
ioLz4CompressEmit(IoLz4Compress *this, const uint8_t *dst, size_t n, Err *err) {
    if (this->outBuf != NULL)
        this->outBuf->len += n;
    return ioWrite(this->next, dst, n, err);
}

static int
ioLz4CompressBegin(IoLz4Compress *this, Err *err) {
    uint8_t *dst;
    size_t n;

    if (this->begun)
        return 0;
    dst = ioLz4CompressDst(this);
    n = LZ4F_compressBegin(this->cctx, dst, this->outCap, &this->prefs);
    if (LZ4F_isError(n))
        return errSet(err, ERR_INTERNAL, "unable to start an lz4 frame: %s", LZ4F_getErrorName(n));
    this->begun = true;
    return ioLz4CompressEmit(this, dst, n, err);
}

static int
ioLz4CompressWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    IoLz4Compress *this = ctx;

    if (ioLz4CompressBegin(this, err) != 0)
        return -1;
    /* outCap bounds the output of one update of at most one block, so feed a block at a time. */
    while (len > 0) {
        size_t chunk = len < IO_LZ4_BLOCK_SIZE ? len : IO_LZ4_BLOCK_SIZE;
        uint8_t *dst = ioLz4CompressDst(this);
        size_t n = LZ4F_compressUpdate(this->cctx, dst, this->outCap, data, chunk, NULL);

        if (LZ4F_isError(n))
            return errSet(err, ERR_INTERNAL, "lz4 compression failed: %s", LZ4F_getErrorName(n));
        if (ioLz4CompressEmit(this, dst, n, err) != 0)
            return -1;
        data += chunk;
        len -= chunk;
    }
    return 0;
}

static int
ioLz4CompressClose(void *ctx, Err *err) {
    IoLz4Compress *this = ctx;
    uint8_t *dst;
    size_t n;

    if (ioLz4CompressBegin(this, err) != 0)
        return -1;
    dst = ioLz4CompressDst(this);
    n = LZ4F_compressEnd(this->cctx, dst, this->outCap, NULL);
    if (LZ4F_isError(n))
        return errSet(err, ERR_INTERNAL, "unable to end the lz4 frame: %s", LZ4F_getErrorName(n));
    if (ioLz4CompressEmit(this, dst, n, err) != 0)
        return -1;
    return ioWriteClose(this->next, err);
}

static void
ioLz4CompressFree(void *ctx) {
    IoLz4Compress *this = ctx;

    ioWriteFree(this->next);
    LZ4F_freeCompressionContext(this->cctx);
    bvFree(this->out);
    bvFree(this);
}

static const IoWriteVt ioLz4CompressVt = {
    .name = "lz4-compress",
    .write = ioLz4CompressWrite,
    .close = ioLz4CompressClose,
    .free = ioLz4CompressFree,
};

IoWrite *
ioWriteLz4CompressNew(IoWrite *next) {
    const IoLz4Options options = {.acceleration = 1, .contentChecksum = true};

    return ioWriteLz4CompressOptNew(next, &options);
}

IoWrite *
ioWriteLz4CompressOptNew(IoWrite *next, const IoLz4Options *options) {
    IoLz4Compress *this = bvCalloc(1, sizeof(*this));
    size_t rc = LZ4F_createCompressionContext(&this->cctx, LZ4F_VERSION);

    /* Only allocation can fail here; treat it like bvMalloc() does. */
    BV_ASSERT(!LZ4F_isError(rc));
    BV_ASSERT(options->acceleration >= 1 && options->acceleration <= IO_LZ4_ACCELERATION_MAX);
    this->next = next;
    this->prefs.frameInfo.blockSizeID = LZ4F_max256KB;
    this->prefs.frameInfo.blockMode = options->independentBlocks ? LZ4F_blockIndependent : LZ4F_blockLinked;
    this->prefs.frameInfo.contentChecksumFlag =
        options->contentChecksum ? LZ4F_contentChecksumEnabled : LZ4F_noContentChecksum;
    /* lz4frame's fast levels: level -N compresses with acceleration N + 1, level 0 with 1. */
    this->prefs.compressionLevel = 1 - options->acceleration;
    /* Per-block checksums let a reader stop at the first corrupt block instead of streaming
     * the whole frame before the content checksum fails; 4 bytes per 256 KiB. */
    this->prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
    /* Bound of one update of a block, which also covers the header and the frame end. */
    this->outCap = LZ4F_compressBound(IO_LZ4_BLOCK_SIZE, &this->prefs);
    if (this->outCap < LZ4F_HEADER_SIZE_MAX)
        this->outCap = LZ4F_HEADER_SIZE_MAX;
    this->out = bvMalloc(this->outCap);
    return ioWriteNew(&ioLz4CompressVt, this);
}

void
ioWriteLz4CompressSetOut(IoWrite *w, Buf *out) {
    BV_ASSERT(w->vt == &ioLz4CompressVt);
    ((IoLz4Compress *)w->ctx)->outBuf = out;
}

/* --- lz4 frame decompressor (write) ------------------------------------------------------- */

typedef struct IoLz4DecompressWrite {
    IoWrite *next;
    LZ4F_dctx *dctx;
    uint8_t *out;
    uint64_t inBytes;
    bool finished;
} IoLz4DecompressWrite;

static int
ioLz4DecompressWriteWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    IoLz4DecompressWrite *this = ctx;

    if (this->finished)
        return errSet(err, ERR_FORMAT, "unexpected data after the end of the lz4 frame at offset %llu",
                      (unsigned long long)this->inBytes);
    for (;;) {
        size_t srcSize = len, dstSize = IO_CHUNK;
        size_t hint = LZ4F_decompress(this->dctx, this->out, &dstSize, data, &srcSize, NULL);

        if (LZ4F_isError(hint))
            return errSet(err, ERR_FORMAT, "invalid lz4 frame after %llu bytes: %s",
                          (unsigned long long)this->inBytes, LZ4F_getErrorName(hint));
        data += srcSize;
        len -= srcSize;
        this->inBytes += srcSize;
        if (dstSize > 0 && ioWrite(this->next, this->out, dstSize, err) != 0)
            return -1;
        if (hint == 0) {
            this->finished = true;
            if (len > 0)
                return errSet(err, ERR_FORMAT,
                              "unexpected data after the end of the lz4 frame at offset %llu",
                              (unsigned long long)this->inBytes);
            return 0;
        }
        /* Done when the input is used up and the decoder has no more output pending (it filled
         * less than the whole buffer). */
        if (len == 0 && dstSize < IO_CHUNK)
            return 0;
        /* Never loop on input the decoder will not take, whatever the input. */
        if (srcSize == 0 && dstSize == 0)
            return errSet(err, ERR_INTERNAL, "lz4 decoder made no progress after %llu bytes",
                          (unsigned long long)this->inBytes);
    }
}

static int
ioLz4DecompressWriteClose(void *ctx, Err *err) {
    IoLz4DecompressWrite *this = ctx;

    if (!this->finished)
        return errSet(err, ERR_FORMAT, "truncated lz4 frame: input ended after %llu bytes",
                      (unsigned long long)this->inBytes);
    return ioWriteClose(this->next, err);
}

static void
ioLz4DecompressWriteFree(void *ctx) {
    IoLz4DecompressWrite *this = ctx;

    ioWriteFree(this->next);
    LZ4F_freeDecompressionContext(this->dctx);
    bvFree(this->out);
    bvFree(this);
}

static const IoWriteVt ioLz4DecompressWriteVt = {
    .name = "lz4-decompress",
    .write = ioLz4DecompressWriteWrite,
    .close = ioLz4DecompressWriteClose,
    .free = ioLz4DecompressWriteFree,
};

static LZ4F_dctx *
ioLz4DctxNew(void) {
    LZ4F_dctx *dctx = NULL;
    size_t rc = LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION);

    BV_ASSERT(!LZ4F_isError(rc));
    return dctx;
}

IoWrite *
ioWriteLz4DecompressNew(IoWrite *next) {
    IoLz4DecompressWrite *this = bvCalloc(1, sizeof(*this));

    this->next = next;
    this->dctx = ioLz4DctxNew();
    this->out = bvMalloc(IO_CHUNK);
    return ioWriteNew(&ioLz4DecompressWriteVt, this);
}

/* --- fd source ---------------------------------------------------------------------------- */

typedef struct IoFdRead {
    int fd;
    char *name;
    unsigned flags;
    bool positioned; /* pread from pos rather than read(2) */
    uint64_t start, pos, end; /* end is 0 when reading to the end of the file */
} IoFdRead;

static ssize_t
ioFdReadRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    IoFdRead *this = ctx;
    ssize_t n;

    if (this->end != 0) {
        if (this->pos == this->end)
            return 0;
        if (len > this->end - this->pos)
            len = (size_t)(this->end - this->pos);
    }
    do {
        if (this->positioned)
            n = pread(this->fd, buf, len, (off_t)this->pos);
        else
            n = read(this->fd, buf, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errSetSys(err, ERR_IO, errno, "unable to read '%s'", this->name);
    if (n == 0 && this->end != 0)
        return errSet(err, ERR_FORMAT,
                      "unexpected end of '%s' at offset %llu: expected %llu bytes from offset %llu",
                      this->name, (unsigned long long)this->pos,
                      (unsigned long long)(this->end - this->start), (unsigned long long)this->start);
    this->pos += (uint64_t)n;
    return n;
}

static void
ioFdReadFree(void *ctx) {
    IoFdRead *this = ctx;

    if (this->flags & IO_FD_CLOSE)
        close(this->fd);
    bvFree(this->name);
    bvFree(this);
}

static const IoReadVt ioFdReadVt = {
    .name = "fd",
    .read = ioFdReadRead,
    .free = ioFdReadFree,
};

IoRead *
ioReadFdNew(int fd, const char *name, uint64_t offset, uint64_t length, unsigned flags) {
    IoFdRead *this = bvCalloc(1, sizeof(*this));

    BV_ASSERT(offset <= INT64_MAX && length <= INT64_MAX - offset);
    this->fd = fd;
    this->name = bvStrdup(name);
    this->flags = flags;
    this->positioned = offset != 0 || length != 0;
    this->start = this->pos = offset;
    this->end = length != 0 ? offset + length : 0;
    return ioReadNew(&ioFdReadVt, this);
}

/* --- memory source ------------------------------------------------------------------------ */

typedef struct IoMemRead {
    const uint8_t *data;
    size_t len, pos;
} IoMemRead;

static ssize_t
ioMemReadRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    IoMemRead *this = ctx;

    (void)err;
    if (len > this->len - this->pos)
        len = this->len - this->pos;
    if (len > 0)
        memcpy(buf, this->data + this->pos, len);
    this->pos += len;
    return (ssize_t)len;
}

static const IoReadVt ioMemReadVt = {
    .name = "mem",
    .read = ioMemReadRead,
    .free = bvFree,
};

IoRead *
ioReadMemNew(const void *data, size_t len) {
    IoMemRead *this = bvCalloc(1, sizeof(*this));

    this->data = data;
    this->len = len;
    return ioReadNew(&ioMemReadVt, this);
}

/* --- hash observer (read) ----------------------------------------------------------------- */

typedef struct IoHashRead {
    IoRead *src;
    IoHash state;
} IoHashRead;

static ssize_t
ioHashReadRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    IoHashRead *this = ctx;
    ssize_t n = ioRead(this->src, buf, len, err);

    if (n > 0)
        cryptoHashUpdate(this->state.hash, buf, (size_t)n);
    else if (n == 0)
        ioHashFinish(&this->state);
    return n;
}

static void
ioHashReadFree(void *ctx) {
    IoHashRead *this = ctx;

    ioReadFree(this->src);
    cryptoHashFree(this->state.hash);
    bvFree(this);
}

static const IoReadVt ioHashReadVt = {
    .name = "hash",
    .read = ioHashReadRead,
    .free = ioHashReadFree,
};

IoRead *
ioReadHashNew(IoRead *src, CryptoHashType type) {
    IoHashRead *this = bvCalloc(1, sizeof(*this));

    this->src = src;
    this->state.hash = cryptoHashNew(type);
    return ioReadNew(&ioHashReadVt, this);
}

void
ioReadHashResult(const IoRead *reader, uint8_t *out, size_t *len) {
    BV_ASSERT(reader->vt == &ioHashReadVt);
    ioHashGet(&((const IoHashRead *)reader->ctx)->state, out, len);
}

const char *
ioReadHashHex(const IoRead *reader) {
    const IoHashRead *this = reader->ctx;

    BV_ASSERT(reader->vt == &ioHashReadVt && this->state.done);
    return this->state.hex;
}

/* --- verifying observer (read) ------------------------------------------------------------ */

typedef struct IoVerifyRead {
    IoRead *src;
    CryptoHash *sha256;
    uint64_t size;   /* bytes read so far */
    uint64_t expect;
    uint8_t expectSha256[CRYPTO_SHA256_LEN];
    char *what;
} IoVerifyRead;

static int
ioVerifyReadFail(const IoVerifyRead *this, const char *got, Err *err) {
    char want[CRYPTO_SHA256_LEN * 2 + 1];

    if (this->sha256 == NULL)
        return errSet(err, ERR_CHECKSUM, "%s does not match its description: %llu%s bytes, expected %llu bytes",
                      this->what, (unsigned long long)this->size, this->size > this->expect ? " or more" : "",
                      (unsigned long long)this->expect);
    cryptoHexEncode(this->expectSha256, sizeof(this->expectSha256), want);
    return errSet(err, ERR_CHECKSUM, "%s does not match its description: %llu bytes with sha256 %s, "
                  "expected %llu bytes with sha256 %s", this->what, (unsigned long long)this->size,
                  got, (unsigned long long)this->expect, want);
}

static ssize_t
ioVerifyReadRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    IoVerifyRead *this = ctx;
    uint8_t digest[CRYPTO_SHA256_LEN];
    char got[CRYPTO_SHA256_LEN * 2 + 1];
    ssize_t n = ioRead(this->src, buf, len, err);

    if (n > 0) {
        if (this->sha256 != NULL)
            cryptoHashUpdate(this->sha256, buf, (size_t)n);
        this->size += (uint64_t)n;
        /* Longer than described: said now, before the extra bytes go anywhere. */
        if (this->size > this->expect)
            return ioVerifyReadFail(this, "unknown (longer)", err);
    } else if (n == 0 && this->sha256 == NULL) {
        if (this->size != this->expect)
            return ioVerifyReadFail(this, NULL, err);
    } else if (n == 0) {
        cryptoHashFinal(this->sha256, digest, NULL);
        if (this->size != this->expect || memcmp(digest, this->expectSha256, sizeof(digest)) != 0) {
            cryptoHexEncode(digest, sizeof(digest), got);
            return ioVerifyReadFail(this, got, err);
        }
    }
    return n;
}

static void
ioVerifyReadFree(void *ctx) {
    IoVerifyRead *this = ctx;

    ioReadFree(this->src);
    cryptoHashFree(this->sha256);
    bvFree(this->what);
    bvFree(this);
}

static const IoReadVt ioVerifyReadVt = {
    .name = "verify",
    .read = ioVerifyReadRead,
    .free = ioVerifyReadFree,
};

IoRead *
ioReadVerifyNew(IoRead *src, uint64_t size, const uint8_t sha256[CRYPTO_SHA256_LEN], const char *what) {
    IoVerifyRead *this = bvCalloc(1, sizeof(*this));

    this->src = src;
    this->expect = size;
    if (sha256 != NULL) {
        this->sha256 = cryptoHashNew(CRYPTO_HASH_SHA256);
        memcpy(this->expectSha256, sha256, CRYPTO_SHA256_LEN);
    }
    this->what = bvStrdup(what);
    return ioReadNew(&ioVerifyReadVt, this);
}

/* --- lz4 frame decompressor (read) -------------------------------------------------------- */

typedef struct IoLz4DecompressRead {
    IoRead *src;
    LZ4F_dctx *dctx;
    uint8_t *in;
    size_t inLen, inPos;
    uint64_t inBytes; /* compressed bytes consumed by the decoder, for messages */
    bool srcEof;
    bool finished;
} IoLz4DecompressRead;

/* The frame is complete: anything left in the source is an error. */
static int
ioLz4DecompressReadCheckEnd(IoLz4DecompressRead *this, Err *err) {
    ssize_t n = 0;

    if (this->inPos == this->inLen && !this->srcEof)
        n = ioRead(this->src, this->in, IO_CHUNK, err);
    if (n < 0)
        return -1;
    if (this->inPos < this->inLen || n > 0)
        return errSet(err, ERR_FORMAT, "unexpected data after the end of the lz4 frame at offset %llu",
                      (unsigned long long)this->inBytes);
    return 0;
}

static ssize_t
ioLz4DecompressReadRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    IoLz4DecompressRead *this = ctx;
    size_t out = 0;

    if (this->finished)
        return 0;
    while (out < len) {
        size_t srcSize, dstSize, hint;

        if (this->inPos == this->inLen && !this->srcEof) {
            ssize_t n;

            /* Hand over what is decoded rather than wait for the source. */
            if (out > 0)
                break;
            n = ioRead(this->src, this->in, IO_CHUNK, err);
            if (n < 0)
                return -1;
            this->inPos = 0;
            this->inLen = (size_t)n;
            this->srcEof = n == 0;
        }
        srcSize = this->inLen - this->inPos;
        dstSize = len - out;
        hint = LZ4F_decompress(this->dctx, buf + out, &dstSize, this->in + this->inPos, &srcSize,
                               NULL);
        if (LZ4F_isError(hint))
            return errSet(err, ERR_FORMAT, "invalid lz4 frame after %llu bytes: %s",
                          (unsigned long long)this->inBytes, LZ4F_getErrorName(hint));
        this->inPos += srcSize;
        this->inBytes += srcSize;
        out += dstSize;
        if (hint == 0) {
            if (ioLz4DecompressReadCheckEnd(this, err) != 0)
                return -1;
            this->finished = true;
            break;
        }
        if (srcSize == 0 && dstSize == 0) {
            if (this->srcEof)
                return errSet(err, ERR_FORMAT, "truncated lz4 frame: input ended after %llu bytes",
                              (unsigned long long)this->inBytes);
            /* Never loop on input the decoder will not take, whatever the input. */
            if (this->inPos < this->inLen)
                return errSet(err, ERR_INTERNAL, "lz4 decoder made no progress after %llu bytes",
                              (unsigned long long)this->inBytes);
        }
    }
    return (ssize_t)out;
}

static void
ioLz4DecompressReadFree(void *ctx) {
    IoLz4DecompressRead *this = ctx;

    ioReadFree(this->src);
    LZ4F_freeDecompressionContext(this->dctx);
    bvFree(this->in);
    bvFree(this);
}

static const IoReadVt ioLz4DecompressReadVt = {
    .name = "lz4-decompress",
    .read = ioLz4DecompressReadRead,
    .free = ioLz4DecompressReadFree,
};

IoRead *
ioReadLz4DecompressNew(IoRead *src) {
    IoLz4DecompressRead *this = bvCalloc(1, sizeof(*this));

    this->src = src;
    this->dctx = ioLz4DctxNew();
    this->in = bvMalloc(IO_CHUNK);
    return ioReadNew(&ioLz4DecompressReadVt, this);
}
