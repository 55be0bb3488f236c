/*
 * A growable byte buffer. The fields are public: `data` holds `len` bytes; `cap` is the allocated
 * size. Growth is geometric; every size computation is checked for overflow.
 */
#ifndef BV_COMMON_BUF_H
#define BV_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct Buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} Buf;

/* A new empty buffer with room for `cap` bytes (0 allocates lazily). */
Buf *bufNew(size_t cap);

/* Append `len` bytes. */
void bufAppend(Buf *buf, const void *data, size_t len);

/* Make room for at least `extra` more bytes after `len` and return where they start; the caller
 * writes up to `extra` bytes there and then adds what it wrote to `len`. */
uint8_t *bufReserve(Buf *buf, size_t extra);

/* Forget the content, keeping the allocation. */
void bufClear(Buf *buf);

/* Hand the content over to the caller (free it with bvFree()) and free the buffer. The returned
 * block has one more byte than `len`, set to NUL, so text can be used as a C string. */
uint8_t *bufDetach(Buf *buf, size_t *len);

void bufFree(Buf *buf);

#endif
