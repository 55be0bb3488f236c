/* The mbstream / xbstream parser (archive/mbstream.h): a state machine over the chunk layout. */
#include "archive/mbstream.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/mem.h"

#define HEAD_LEN 14    /* magic, flags, type, path length */
#define PAYLOAD_HEAD 20 /* length, offset, CRC32 */
#define FLAG_IGNORABLE 0x01

typedef enum MbState { ST_HEAD, ST_PATH, ST_PAYLOAD_HEAD, ST_PAYLOAD, ST_FAILED } MbState;

typedef struct MbWatch {
    char path[MBSTREAM_PATH_MAX];
    uint8_t *data;
    size_t len;
    bool seen;
} MbWatch;

struct Mbstream {
    MbState state;
    Err failure;
    uint64_t offset;      /* of the next byte fed, in the stream */
    uint64_t chunkOffset; /* where the current chunk started */
    uint8_t head[HEAD_LEN + PAYLOAD_HEAD];
    size_t have, need;     /* bytes of the current fixed part gathered, and wanted */
    uint8_t type;
    char path[MBSTREAM_PATH_MAX];
    size_t pathLen;
    uint64_t payloadLeft, payloadLen;
    uint32_t crcStored, crc;
    MbWatch *target; /* the watched file the payload goes to, or NULL */
    MbWatch watch[MBSTREAM_WATCH_MAX];
    size_t watchCount;
    uint64_t chunks, filesEnded;
};

Mbstream *
mbstreamNew(void) {
    Mbstream *m = bvCalloc(1, sizeof(*m));

    m->state = ST_HEAD;
    m->need = HEAD_LEN;
    return m;
}

void
mbstreamWatch(Mbstream *m, const char *path) {
    BV_ASSERT(m->watchCount < MBSTREAM_WATCH_MAX && strlen(path) < MBSTREAM_PATH_MAX);
    snprintf(m->watch[m->watchCount++].path, MBSTREAM_PATH_MAX, "%s", path);
}

static int
fail(Mbstream *m, Err *err, ErrCode code, const char *what) {
    errSet(err, code, "%s stream: chunk at offset %" PRIu64 ": %s", MBSTREAM_MAGIC, m->chunkOffset, what);
    m->failure = *err;
    m->state = ST_FAILED;
    return -1;
}

static MbWatch *
findWatch(Mbstream *m, const char *path) {
    for (size_t i = 0; i < m->watchCount; i++)
        if (strcmp(m->watch[i].path, path) == 0)
            return &m->watch[i];
    return NULL;
}

/* The fixed header is complete: check it and say what comes next. */
static int
headDone(Mbstream *m, Err *err) {
    uint32_t pathLen;
    uint8_t flags = m->head[8];

    if (memcmp(m->head, MBSTREAM_MAGIC, 8) != 0)
        return fail(m, err, ERR_FORMAT, "no chunk magic 'XBSTCK01' (not an mbstream/xbstream stream, or corrupt)");
    m->type = m->head[9];
    if (m->type != 'P' && m->type != 'E' && !(flags & FLAG_IGNORABLE)) {
        char what[96];

        snprintf(what, sizeof(what), "unsupported chunk type 0x%02x (not flagged ignorable)", m->type);
        return fail(m, err, ERR_FORMAT, what);
    }
    pathLen = rdU32(m->head + 10);
    if (pathLen >= MBSTREAM_PATH_MAX)
        return fail(m, err, ERR_LIMIT, "path of 512 bytes or more");
    m->pathLen = pathLen;
    m->have = 0;
    m->need = pathLen;
    m->state = ST_PATH;
    return 0;
}

static void
chunkEnd(Mbstream *m) {
    m->chunks++;
    m->chunkOffset = m->offset;
    m->state = ST_HEAD;
    m->have = 0;
    m->need = HEAD_LEN;
}

static int
pathDone(Mbstream *m, Err *err) {
    m->path[m->pathLen] = '\0';
    if (memchr(m->path, '\0', m->pathLen) != NULL)
        return fail(m, err, ERR_FORMAT, "path holds a NUL byte");
    if (m->type == 'E') {
        m->filesEnded++;
        chunkEnd(m);
        return 0;
    }
    m->have = 0;
    m->need = PAYLOAD_HEAD;
    m->state = ST_PAYLOAD_HEAD;
    return 0;
}

static int
payloadHeadDone(Mbstream *m, Err *err) {
    uint64_t len = rdU64(m->head), fileOffset = rdU64(m->head + 8);
    MbWatch *w = m->type == 'P' ? findWatch(m, m->path) : NULL;

    m->crcStored = rdU32(m->head + 16);
    if (len > MBSTREAM_PAYLOAD_MAX)
        return fail(m, err, ERR_LIMIT, "payload larger than 1 GiB");
    m->payloadLen = m->payloadLeft = len;
    m->crc = 0;
    m->target = NULL;
    if (w != NULL) {
        /* A file written again starts over at offset 0. */
        if (fileOffset == 0)
            w->len = 0;
        if (fileOffset != w->len)
            return fail(m, err, ERR_FORMAT, "a chunk of a watched file does not continue it");
        if (len > MBSTREAM_FILE_MAX - w->len)
            return fail(m, err, ERR_LIMIT, "a watched file is larger than 64 KiB");
        if (w->data == NULL)
            w->data = bvMalloc(MBSTREAM_FILE_MAX + 1);
        w->seen = true;
        m->target = w;
    }
    m->state = ST_PAYLOAD;
    return 0;
}

static int
payloadDone(Mbstream *m, Err *err) {
    if (m->crc != m->crcStored) {
        char what[128];

        snprintf(what, sizeof(what), "payload crc32 mismatch: stored 0x%08" PRIx32 ", computed 0x%08" PRIx32,
                 m->crcStored, m->crc);
        return fail(m, err, ERR_CHECKSUM, what);
    }
    if (m->target != NULL)
        m->target->data[m->target->len] = '\0';
    chunkEnd(m);
    return 0;
}

int
mbstreamFeed(Mbstream *m, const uint8_t *data, size_t len, Err *err) {
    int rc;

    while (len > 0 || (m->state != ST_PAYLOAD && m->state != ST_FAILED && m->have == m->need)) {
        if (m->state == ST_FAILED) {
            *err = m->failure;
            return -1;
        }
        if (m->state == ST_PAYLOAD) {
            size_t n = m->payloadLeft < len ? (size_t)m->payloadLeft : len;

            m->crc = cryptoCrc32(m->crc, data, n);
            if (m->target != NULL) {
                memcpy(m->target->data + m->target->len, data, n);
                m->target->len += n;
            }
            m->payloadLeft -= n;
            m->offset += n;
            data += n;
            len -= n;
            if (m->payloadLeft == 0 && payloadDone(m, err) != 0)
                return -1;
            continue;
        }
        if (m->have < m->need) {
            size_t n = m->need - m->have < len ? m->need - m->have : len;
            uint8_t *dst = m->state == ST_PATH ? (uint8_t *)m->path : m->head;

            memcpy(dst + m->have, data, n);
            m->have += n;
            m->offset += n;
            data += n;
            len -= n;
            if (m->have < m->need)
                continue;
        }
        /* The fixed part of the state is complete: one step to the next state. */
        switch (m->state) {
        case ST_HEAD:
            rc = headDone(m, err);
            break;
        case ST_PATH:
            rc = pathDone(m, err);
            break;
        default:
            rc = payloadHeadDone(m, err);
            break;
        }
        if (rc != 0)
            return -1;
        if (m->state == ST_PAYLOAD && m->payloadLeft == 0 && payloadDone(m, err) != 0)
            return -1;
    }
    if (m->state == ST_FAILED) {
        *err = m->failure;
        return -1;
    }
    return 0;
}

int
mbstreamFinish(Mbstream *m, Err *err) {
    if (m->state == ST_FAILED) {
        *err = m->failure;
        return -1;
    }
    if (m->state != ST_HEAD || m->have != 0)
        return fail(m, err, ERR_FORMAT, "the stream ends inside this chunk (truncated)");
    if (m->chunks == 0)
        return errSet(err, ERR_FORMAT, "%s stream: empty", MBSTREAM_MAGIC);
    return 0;
}

const uint8_t *
mbstreamFile(const Mbstream *m, const char *path, size_t *len) {
    for (size_t i = 0; i < m->watchCount; i++)
        if (strcmp(m->watch[i].path, path) == 0 && m->watch[i].seen) {
            *len = m->watch[i].len;
            return m->watch[i].data;
        }
    return NULL;
}

uint64_t
mbstreamChunks(const Mbstream *m) {
    return m->chunks;
}

uint64_t
mbstreamFilesEnded(const Mbstream *m) {
    return m->filesEnded;
}

void
mbstreamFree(Mbstream *m) {
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->watchCount; i++)
        bvFree(m->watch[i].data);
    bvFree(m);
}
