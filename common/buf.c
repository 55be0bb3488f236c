#include "common/buf.h"

#include <string.h>

#include "common/mem.h"

Buf *
bufNew(size_t cap) {
    Buf *buf = bvCalloc(1, sizeof(*buf));

    if (cap > 0) {
        buf->data = bvMalloc(cap);
        buf->cap = cap;
    }
    return buf;
}

uint8_t *
bufReserve(Buf *buf, size_t extra) {
    BV_ASSERT(extra <= SIZE_MAX - buf->len);
    if (buf->data == NULL || buf->len + extra > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 64;

        while (cap < buf->len + extra) {
            BV_ASSERT(cap <= SIZE_MAX / 2);
            cap *= 2;
        }
        buf->data = bvRealloc(buf->data, cap);
        buf->cap = cap;
    }
    return buf->data + buf->len;
}

void
bufAppend(Buf *buf, const void *data, size_t len) {
    if (len == 0)
        return;
    memcpy(bufReserve(buf, len), data, len);
    buf->len += len;
}

void
bufClear(Buf *buf) {
    buf->len = 0;
}

uint8_t *
bufDetach(Buf *buf, size_t *len) {
    uint8_t *data;

    bufReserve(buf, 1)[0] = '\0';
    data = buf->data;
    if (len != NULL)
        *len = buf->len;
    bvFree(buf);
    return data;
}

void
bufFree(Buf *buf) {
    if (buf == NULL)
        return;
    bvFree(buf->data);
    bvFree(buf);
}
