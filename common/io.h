/*
 * IO filter chains with bounded memory (pgBackRest IoFilterGroup in spirit).
 *
 * Write (push) chains: an IoWrite receives bytes with ioWrite() and is finished with
 * ioWriteClose(), which flushes and finalises the filter and then closes the next one. Each
 * filter wraps, and owns, the writer after it, so ioWriteFree() on the head frees the whole
 * chain. A segment is written by pushing bytes through
 *
 *     sha256 -> byte count -> lz4 compress -> sha256 -> fd
 *
 * built from the end:
 *
 *     IoWrite *fd = ioWriteFdNew(fd, path, IO_FD_SYNC | IO_FD_CLOSE);
 *     IoWrite *zsha = ioWriteHashNew(fd, CRYPTO_HASH_SHA256);
 *     IoWrite *lz4 = ioWriteLz4CompressNew(zsha);
 *     IoWrite *count = ioWriteCountNew(lz4);
 *     IoWrite *head = ioWriteHashNew(count, CRYPTO_HASH_SHA256);
 *
 * Observing filters (hash, count) keep their result until the chain is freed; keep a pointer to
 * them to read it after ioWriteClose().
 *
 * Read (pull) chains: ioRead() returns up to `len` bytes, 0 at the end, -1 on error; a filter
 * owns its source and ioReadFree() on the head frees the chain. Once a reader has returned 0 it
 * keeps returning 0.
 *
 * After an error the chain is left in an unspecified state: free it, do not retry.
 */
#ifndef BV_COMMON_IO_H
#define BV_COMMON_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"

typedef struct IoWrite IoWrite;
typedef struct IoRead IoRead;

/* Flags of the fd sink and source. */
typedef enum IoFdFlag {
    IO_FD_SYNC = 1 << 0,  /* sink: fsync(2) on close */
    IO_FD_CLOSE = 1 << 1, /* close(2) the descriptor on close/free (the IoWrite/IoRead owns it) */
} IoFdFlag;

/* Block size of the lz4 frames written by ioWriteLz4CompressNew(): LZ4F_max256KB, not 4 MiB.
 * LZ4 matches reach back only 64 KiB and with linked blocks the window carries over from block to
 * block, so 4 MiB blocks compress no better. But compressor and decompressor each buffer about
 * two blocks: with 256 KiB blocks that is about 660 KiB and 700 KiB (measured), with 4 MiB blocks
 * over 8 MiB each, multiplied by every parallel upload and verify; and a corrupt block is
 * detected after at most 256 KiB of output instead of 4 MiB. */
#define IO_LZ4_BLOCK_SIZE (256 * 1024)

/* --- Write chains ------------------------------------------------------------------------- */

/* Sink writing to `fd`; `name` (a path) is used in messages. IO_FD_SYNC fsyncs on close,
 * IO_FD_CLOSE closes the descriptor. */
IoWrite *ioWriteFdNew(int fd, const char *name, unsigned flags);

/* Sink appending to `buf` (not owned); ERR_LIMIT if the total would exceed `maxLen` bytes. */
IoWrite *ioWriteBufNew(Buf *buf, size_t maxLen);

/* Observer hashing every byte that passes to `next`. */
IoWrite *ioWriteHashNew(IoWrite *next, CryptoHashType type);

/* Observer counting the bytes that pass to `next`. */
IoWrite *ioWriteCountNew(IoWrite *next);

/* Compressor producing one lz4 frame (block size IO_LZ4_BLOCK_SIZE, linked blocks, block and
 * content checksums, lz4's default acceleration 1). Memory: about 660 KiB whatever is written. */
IoWrite *ioWriteLz4CompressNew(IoWrite *next);

/* Largest lz4 acceleration accepted: beyond it lz4 finds almost no matches (measured on binlogs:
 * 8 stores 74% of the input against 54% at 1, for 25% less compression CPU). */
#define IO_LZ4_ACCELERATION_MAX 64

/* How ioWriteLz4CompressOptNew() compresses. */
typedef struct IoLz4Options {
    /* lz4's acceleration, 1..IO_LZ4_ACCELERATION_MAX: higher is faster and compresses less; any
     * value writes a frame every lz4 reader decodes. */
    int acceleration;
    /* The frame's content checksum (XXH32 of every byte compressed, checked at the frame's end);
     * off when the caller hashes the content itself. Block checksums are always on. */
    bool contentChecksum;
    /* Independent blocks (each compressed without the previous block as a dictionary) instead of
     * linked ones. A block the caller writes whole (IO_LZ4_BLOCK_SIZE bytes while nothing is
     * buffered) is then compressed where it lies: no copy into the compressor's buffer and no
     * 64 KiB dictionary saved after it. Any lz4 frame reader decodes both. */
    bool independentBlocks;
} IoLz4Options;

/* ioWriteLz4CompressNew() with the given acceleration and content checksum. */
IoWrite *ioWriteLz4CompressOptNew(IoWrite *next, const IoLz4Options *options);

/* Make the lz4 compressor `w` (ioWriteLz4Compress*New()) compress into the end of `out`
 * (appending to it, growing it as needed) instead of into a buffer of its own, then pass those
 * bytes on, from `out`, to the next writer; NULL: its own buffer again. For a caller that keeps
 * the compressed bytes anyway (the segment writer's ring, for its object hash): they are not
 * copied again. `out` is not owned. */
void ioWriteLz4CompressSetOut(IoWrite *w, Buf *out);

/* Decompressor of one lz4 frame. ERR_FORMAT for a corrupt frame, for bytes after the end of the
 * frame, and at close for a frame that is truncated (or was never started). */
IoWrite *ioWriteLz4DecompressNew(IoWrite *next);

/* Push `len` bytes into the chain. */
int ioWrite(IoWrite *writer, const void *data, size_t len, Err *err);

/* Finish the chain: flush and finalise each filter in turn, then close the sink. Call once. */
int ioWriteClose(IoWrite *writer, Err *err);

/* Digest of a hash observer after ioWriteClose(): `out` has room for CRYPTO_HASH_MAX_LEN bytes;
 * the length is stored in `*len` when `len` is not NULL. */
void ioWriteHashResult(const IoWrite *writer, uint8_t *out, size_t *len);

/* The same digest as lowercase hex; valid until the chain is freed. */
const char *ioWriteHashHex(const IoWrite *writer);

/* Bytes counted so far by a count observer. */
uint64_t ioWriteCountBytes(const IoWrite *writer);

/* Free the writer and every writer after it; closes owned descriptors that were not closed. */
void ioWriteFree(IoWrite *writer);

/* --- Read chains -------------------------------------------------------------------------- */

/* Source reading `fd`; `name` (a path) is used in messages. With `offset` and `length` both 0
 * it reads sequentially with read(2) to the end (pipes work); otherwise it preads from `offset`,
 * `length` bytes or, with `length` 0, to the end, and a file ending before offset + length is
 * ERR_FORMAT. IO_FD_CLOSE makes it own the descriptor. */
IoRead *ioReadFdNew(int fd, const char *name, uint64_t offset, uint64_t length, unsigned flags);

/* Source reading `len` bytes at `data`, which must stay valid until the reader is freed. */
IoRead *ioReadMemNew(const void *data, size_t len);

/* Observer hashing every byte read through it; the digest is final once it has returned 0. */
IoRead *ioReadHashNew(IoRead *src, CryptoHashType type);

/* Observer checking that `src` holds exactly `size` bytes with SHA-256 `sha256`: at the end (and
 * as soon as it is longer) it fails with ERR_CHECKSUM, "<what> does not match its description: N
 * bytes with sha256 X, expected M bytes with sha256 Y", instead of returning 0. A filter after it
 * (an encryptor that seals its last chunk only at the end) thus never finishes a stream that is
 * not what its caller described. `sha256` NULL checks the size only, hashing nothing ("N bytes,
 * expected M bytes"): for bytes hashed already as they were written. */
IoRead *ioReadVerifyNew(IoRead *src, uint64_t size, const uint8_t sha256[CRYPTO_SHA256_LEN],
                        const char *what);

/* Decompressor of exactly one lz4 frame read from `src`. Each call returns at most `len` bytes
 * and reads the source in chunks of 64 KiB; the decoder buffers about two blocks of the size
 * declared in the frame header (about 700 KiB for our frames, at most about 8.2 MiB for a frame
 * with 4 MiB blocks). ERR_FORMAT for a corrupt frame, an input that ends before the frame does
 * (truncation is never a silent end), and bytes after the frame (read from `src` to check). */
IoRead *ioReadLz4DecompressNew(IoRead *src);

/* Read up to `len` (> 0) bytes: returns the count, 0 at the end, -1 on error. */
ssize_t ioRead(IoRead *reader, void *buf, size_t len, Err *err);

/* Read until `len` bytes or the end; returns the count (short only at the end) or -1. */
ssize_t ioReadFull(IoRead *reader, void *buf, size_t len, Err *err);

/* Digest of a hash observer once it has reached the end (see ioWriteHashResult()). */
void ioReadHashResult(const IoRead *reader, uint8_t *out, size_t *len);
const char *ioReadHashHex(const IoRead *reader);

/* Free the reader and its sources; closes owned descriptors. */
void ioReadFree(IoRead *reader);

/* Pump `src` to its end into `dst` through a 64 KiB buffer; `dst` is not closed. */
int ioCopy(IoRead *src, IoWrite *dst, Err *err);

/* --- Interface for filters and drivers ---------------------------------------------------- */

/* A writer: `write` receives len > 0 bytes; `close` finalises and closes what it wraps; `free`
 * releases the context and what it wraps, closed or not. */
typedef struct IoWriteVt {
    const char *name; /* short name of the filter, for debugging */
    int (*write)(void *ctx, const uint8_t *data, size_t len, Err *err);
    int (*close)(void *ctx, Err *err);
    void (*free)(void *ctx);
} IoWriteVt;

/* A reader: `read` fills up to len > 0 bytes and returns the count, 0 at the end (after which it
 * is not called again) or -1. */
typedef struct IoReadVt {
    const char *name; /* short name of the filter, for debugging */
    ssize_t (*read)(void *ctx, uint8_t *buf, size_t len, Err *err);
    void (*free)(void *ctx);
} IoReadVt;

/* Wrap a driver context in the generic object, which takes ownership of `ctx`. */
IoWrite *ioWriteNew(const IoWriteVt *vt, void *ctx);
IoRead *ioReadNew(const IoReadVt *vt, void *ctx);

#endif
