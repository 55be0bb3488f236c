/*
 * libFuzzer target for segment objects (archive/segment.h), read from memory through an open
 * callback as from a store. The first byte picks what the rest is:
 *  0: a whole object: segmentReadMeta(), then segmentReaderNew() / segmentReaderNext() to the
 *     verified end (the object SHA-256 is only known there).
 *  1: a trailer / index line: segmentMetaFromJson() without and with the object members; what
 *     parses is written back with segmentMetaToJson() and must parse again to the same metadata.
 *  2: segment *content* (the FDE, then events; the next byte is the declared event count): the
 *     harness wraps it in a well-formed object (magic, lz4 frame, a trailer whose lengths and
 *     content SHA-256 match) so that the fuzzer reaches the event layers behind the checksums.
 *  3: object names: segmentNameParse() (must round-trip through segmentName()),
 *     segmentFileNameValid(), segmentFileCompare().
 * Seeds: fuzz/seeds-segment/ (segments of the fixture binlogs written by `binvault import`,
 * their trailers, contents and names; see docs/FUZZING.md).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "archive/segment.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/io.h"
#include "common/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct MemObject {
    const uint8_t *data;
    size_t size;
} MemObject;

static IoRead *
openMem(void *data, uint64_t offset, uint64_t length, Err *err) {
    const MemObject *o = data;

    if (length == 0 || offset > o->size || length > o->size - offset) {
        errSet(err, ERR_FORMAT, "range %" PRIu64 "+%" PRIu64 " is past the end of the %zu-byte object", offset,
               length, o->size);
        return NULL;
    }
    return ioReadMemNew(o->data + offset, (size_t)length);
}

/* Read a whole object; returns the number of events read, or -1. */
static int64_t
readObject(const uint8_t *p, size_t len) {
    MemObject o = {p, len};
    SegmentMeta meta;
    SegmentReader *r;
    BinlogEvent ev;
    uint64_t pos;
    int64_t events = 0;
    size_t fdeLen;
    Err err;
    int rc;

    if (segmentReadMeta("fuzz.bvs", openMem, &o, len, &meta, &err) == 0)
        segmentMetaClear(&meta);
    if ((r = segmentReaderNew("fuzz.bvs", openMem, &o, len, &err)) == NULL)
        return -1;
    segmentReaderFde(r, &fdeLen);
    segmentReaderFormat(r);
    while ((rc = segmentReaderNext(r, &ev, &pos, &err)) == 1) {
        if (ev.h.size < 19 || pos < segmentReaderMeta(r)->startPos || pos >= segmentReaderMeta(r)->endPos)
            abort();
        events++;
    }
    if (rc == 0) {
        const SegmentMeta *m = segmentReaderMeta(r);

        if (segmentReaderSha256(r) == NULL || strlen(segmentReaderSha256(r)) != 64 || (uint64_t)events != m->events)
            abort();
    } else {
        /* A failed reader stays failed. */
        if (segmentReaderNext(r, &ev, &pos, &err) != -1 || segmentReaderSha256(r) != NULL)
            abort();
        events = -1;
    }
    segmentReaderFree(r);
    return events;
}

static bool
metaEqual(const SegmentMeta *a, const SegmentMeta *b) {
    return a->seq == b->seq && a->flavour == b->flavour && a->serverId == b->serverId &&
           strcmp(a->serverUuid, b->serverUuid) == 0 && strcmp(a->serverVersion, b->serverVersion) == 0 &&
           strcmp(a->file, b->file) == 0 && a->startPos == b->startPos && a->endPos == b->endPos &&
           a->fdeLen == b->fdeLen && a->contentLen == b->contentLen && strcmp(a->contentSha256, b->contentSha256) == 0 &&
           strcmp(segmentMetaGtidStart(a), segmentMetaGtidStart(b)) == 0 &&
           strcmp(segmentMetaGtidEnd(a), segmentMetaGtidEnd(b)) == 0 && strcmp(a->firstGtid, b->firstGtid) == 0 &&
           strcmp(a->lastGtid, b->lastGtid) == 0 && a->firstTimeUs == b->firstTimeUs &&
           a->lastTimeUs == b->lastTimeUs && a->events == b->events && a->transactions == b->transactions &&
           a->endsFile == b->endsFile && strcmp(a->created, b->created) == 0;
}

static void
parseMeta(const uint8_t *p, size_t len) {
    for (int withObject = 0; withObject < 2; withObject++) {
        SegmentMeta m, again, copy;
        Buf *out;
        Err err;

        if (segmentMetaFromJson((const char *)p, len, withObject, &m, &err) != 0)
            continue;
        out = bufNew(1024);
        segmentMetaToJson(&m, withObject, out);
        if (segmentMetaFromJson((const char *)out->data, out->len, withObject, &again, &err) != 0 ||
            !metaEqual(&m, &again))
            abort();
        segmentMetaCopy(&copy, &again);
        if (!metaEqual(&copy, &m))
            abort();
        segmentMetaClear(&copy);
        segmentMetaClear(&again);
        segmentMetaClear(&m);
        bufFree(out);
    }
}

/* Wrap `content` in a well-formed segment object and read it. */
static void
wrapContent(const uint8_t *p, size_t len) {
    uint8_t digest[CRYPTO_SHA256_LEN], tail[SEGMENT_TAIL_LEN];
    SegmentMeta m = {0};
    Buf *object = bufNew(len + 1024), *trailer = bufNew(1024);
    IoWrite *lz4 = NULL;
    uint32_t fdeLen;
    Err err;

    if (len < 1)
        goto out;
    m.events = p[0];
    p++;
    len--;
    fdeLen = len >= 13 ? rdU32(p + 9) : 19;
    if (fdeLen < 19 || fdeLen > len)
        fdeLen = 19;
    bufAppend(object, SEGMENT_MAGIC, SEGMENT_MAGIC_LEN);
    lz4 = ioWriteLz4CompressNew(ioWriteBufNew(object, SIZE_MAX));
    if ((len > 0 && ioWrite(lz4, p, len, &err) != 0) || ioWriteClose(lz4, &err) != 0)
        goto out;
    m.seq = 1;
    m.flavour = BINLOG_FLAVOUR_MARIADB;
    m.serverId = 1;
    snprintf(m.serverVersion, sizeof(m.serverVersion), "10.11.19-MariaDB-log");
    snprintf(m.file, sizeof(m.file), "mariadb-bin.000001");
    m.fdeLen = fdeLen;
    m.startPos = BINLOG_MAGIC_LEN + (uint64_t)fdeLen;
    if (len < fdeLen) {
        m.contentLen = fdeLen; /* does not match what the frame holds: refused at the end */
        m.endPos = m.startPos;
    } else {
        m.contentLen = len;
        m.endPos = m.startPos + (len - fdeLen);
    }
    cryptoSha256(p, len, digest);
    cryptoHexEncode(digest, CRYPTO_SHA256_LEN, m.contentSha256);
    snprintf(m.created, sizeof(m.created), "2026-01-01T00:00:00Z");
    segmentMetaToJson(&m, false, trailer);
    bufAppend(object, trailer->data, trailer->len);
    wrU32(tail, (uint32_t)trailer->len);
    wrU32(tail + 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), trailer->data, (uInt)trailer->len));
    memcpy(tail + 8, SEGMENT_END_MAGIC, 8);
    bufAppend(object, tail, sizeof(tail));
    readObject(object->data, object->len);
out:
    ioWriteFree(lz4);
    bufFree(object);
    bufFree(trailer);
}

static void
names(const uint8_t *p, size_t len) {
    char *text = bvStrndup((const char *)p, len), file[SEGMENT_FILE_MAX], name[SEGMENT_NAME_MAX];
    uint64_t seq, start;
    SegmentNaming naming;
    const char *nl = strchr(text, '\n');

    if (segmentNameParse(text, &seq, file, sizeof(file), &start, &naming) == 0) {
        uint64_t seq2, start2;
        char file2[SEGMENT_FILE_MAX];
        SegmentNaming naming2;

        if (!segmentFileNameValid(file))
            abort();
        /* The name given back in its own naming is the text parsed, and parses as it. */
        segmentName(seq, file, start, naming, name, sizeof(name));
        if (segmentNameParse(name, &seq2, file2, sizeof(file2), &start2, &naming2) != 0 || seq2 != seq ||
            start2 != start || naming2 != naming || strcmp(file2, file) != 0)
            abort();
    }
    segmentFileNameValid(text);
    if (nl != NULL) {
        int ab, ba;

        text[nl - text] = '\0';
        ab = segmentFileCompare(text, nl + 1);
        ba = segmentFileCompare(nl + 1, text);
        if ((ab < 0 && ba <= 0) || (ab > 0 && ba >= 0) || (ab == 0 && ba != 0))
            abort(); /* not antisymmetric */
    }
    bvFree(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    switch (data[0] % 4) {
    case 0: readObject(data + 1, size - 1); break;
    case 1: parseMeta(data + 1, size - 1); break;
    case 2: wrapContent(data + 1, size - 1); break;
    default: names(data + 1, size - 1); break;
    }
    return 0;
}
