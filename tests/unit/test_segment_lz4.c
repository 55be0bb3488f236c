/* Unit tests of how a segment's lz4 frame is written (issue #15, eighth round): the lz4
 * compressor writing into its caller's buffer (ioWriteLz4CompressSetOut()), independent blocks,
 * and a sealed segment whose lz4 blocks each decode on their own into the segment's content (the
 * FDE, staged in the first ring block, then the events). That lz4 compresses the ring's blocks
 * in place is a matter of speed, not of the bytes written: docs/BENCHMARKS.md measures it. */
#include <lz4.h>
#include <unistd.h>

#include "archive/segment.h"
#include "common/bytes.h"
#include "common/io.h"
#include "common/mem.h"
#include "tests/test.h"

#define FIXTURE_MARIA "mariadb-10.11.19-compressed.000001.binlog"
/* The frame descriptor's FLG: block independence, block checksums, content size, dictionary ID. */
#define LZ4_FLG_INDEPENDENT 0x20
#define LZ4_FLG_BLOCK_CHECKSUM 0x10
#define LZ4_FLG_CONTENT_SIZE 0x08
#define LZ4_FLG_DICT_ID 0x01

/* `size` bytes, repetitive and random by turns, from `seed`. */
static uint8_t *
someData(size_t size, uint64_t seed) {
    uint8_t *data = bvMalloc(size);
    uint64_t rng = seed | 1;

    for (size_t i = 0; i < size; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        data[i] = (i / 3000) % 2 ? (uint8_t)"binvault"[i % 8] : (uint8_t)rng;
    }
    return data;
}

/* A sink that keeps what it receives and counts the writes whose bytes were in `owner`. */
typedef struct Recorder {
    Buf *got;
    const Buf *owner;
    unsigned writes, fromOwner;
} Recorder;

static int
recorderWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    Recorder *r = ctx;
    uintptr_t p = (uintptr_t)data, start = (uintptr_t)r->owner->data;

    (void)err;
    r->writes++;
    r->fromOwner += p >= start && p - start + len <= r->owner->len;
    bufAppend(r->got, data, len);
    return 0;
}

static int
recorderClose(void *ctx, Err *err) {
    (void)ctx;
    (void)err;
    return 0;
}

static void
recorderFree(void *ctx) {
    (void)ctx;
}

static const IoWriteVt recorderVt = {
    .name = "recorder", .write = recorderWrite, .close = recorderClose, .free = recorderFree};

/* lz4 with an output of the caller's: every byte it passes on was compressed into the caller's
 * buffer first, at its end, and the frame decodes to the input; back on its own buffer
 * (SetOut(NULL)) the caller's no longer grows. */
static void
testCompressIntoCallerBuffer(void) {
    size_t size = 1200 * 1000;
    uint8_t *data = someData(size, 7);
    Buf *out = bufNew(0), *got = bufNew(0), *plain = bufNew(0);
    Recorder rec = {.got = got, .owner = out};
    IoWrite *lz4 = ioWriteLz4CompressNew(ioWriteNew(&recorderVt, &rec));
    size_t half = size / 2, outLen;
    Err err = {0};

    ioWriteLz4CompressSetOut(lz4, out);
    REQUIRE(ioWrite(lz4, data, half, &err) == 0);
    CHECK(rec.writes > 0);
    CHECK_INT(rec.fromOwner, rec.writes);
    CHECK_INT(out->len, got->len);
    CHECK(out->len == got->len && memcmp(out->data, got->data, out->len) == 0);
    outLen = out->len;
    ioWriteLz4CompressSetOut(lz4, NULL);
    REQUIRE(ioWrite(lz4, data + half, size - half, &err) == 0);
    REQUIRE(ioWriteClose(lz4, &err) == 0);
    CHECK_INT(out->len, outLen);
    CHECK(got->len > outLen);
    {
        IoWrite *dec = ioWriteLz4DecompressNew(ioWriteBufNew(plain, SIZE_MAX));

        CHECK(ioWrite(dec, got->data, got->len, &err) == 0 && ioWriteClose(dec, &err) == 0);
        ioWriteFree(dec);
    }
    CHECK_INT(plain->len, size);
    CHECK(plain->len == size && memcmp(plain->data, data, size) == 0);
    ioWriteFree(lz4);
    bufFree(out);
    bufFree(got);
    bufFree(plain);
    bvFree(data);
}

/* The frame's FLG says independent blocks when asked, linked ones by default. */
static void
testIndependentBlocksFlag(void) {
    for (int independent = 0; independent <= 1; independent++) {
        Buf *z = bufNew(0);
        IoLz4Options opt = {.acceleration = 1, .contentChecksum = false, .independentBlocks = independent};
        IoWrite *lz4 = ioWriteLz4CompressOptNew(ioWriteBufNew(z, SIZE_MAX), &opt);
        uint8_t *data = someData(300000, 3);
        Err err = {0};

        REQUIRE(ioWrite(lz4, data, 300000, &err) == 0 && ioWriteClose(lz4, &err) == 0);
        REQUIRE(z->len > 5);
        CHECK_INT((z->data[4] & LZ4_FLG_INDEPENDENT) != 0, independent);
        ioWriteFree(lz4);
        bufFree(z);
        bvFree(data);
    }
    {
        Buf *z = bufNew(0);
        IoWrite *lz4 = ioWriteLz4CompressNew(ioWriteBufNew(z, SIZE_MAX));
        Err err = {0};

        REQUIRE(ioWrite(lz4, (const uint8_t *)"x", 1, &err) == 0 && ioWriteClose(lz4, &err) == 0);
        CHECK_INT(z->data[4] & LZ4_FLG_INDEPENDENT, 0);
        ioWriteFree(lz4);
        bufFree(z);
    }
}

/* Decode the lz4 frame at `frame` (up to `end`) one block at a time, each block on its own (no
 * dictionary: only independent blocks decode so), into `plain`; the blocks' decoded sizes in
 * sizes[] (at most maxBlocks). The number of blocks, -1 when one does not decode. */
static int
decodeBlocksAlone(const uint8_t *frame, const uint8_t *end, Buf *plain, size_t *sizes, int maxBlocks) {
    const uint8_t *p = frame + 4;
    uint8_t flg = p[0];
    int blocks = 0;

    p += 2 + (flg & LZ4_FLG_CONTENT_SIZE ? 8 : 0) + (flg & LZ4_FLG_DICT_ID ? 4 : 0) + 1;
    for (;;) {
        uint32_t word, len;
        int n;

        if (end - p < 4)
            return -1;
        word = rdU32(p);
        p += 4;
        if (word == 0)
            return blocks;
        len = word & 0x7fffffffu;
        if ((size_t)(end - p) < len || blocks == maxBlocks)
            return -1;
        if (word & 0x80000000u) {
            bufAppend(plain, p, len);
            n = (int)len;
        } else {
            n = LZ4_decompress_safe((const char *)p, (char *)bufReserve(plain, IO_LZ4_BLOCK_SIZE), (int)len,
                                    IO_LZ4_BLOCK_SIZE);
            if (n < 0)
                return -1;
            plain->len += (size_t)n;
        }
        sizes[blocks++] = (size_t)n;
        p += len + (flg & LZ4_FLG_BLOCK_CHECKSUM ? 4 : 0);
    }
}

/* A sealed segment of 1.3 MB of events: its frame has independent blocks, every block but the
 * last holds IO_LZ4_BLOCK_SIZE bytes of content and decodes on its own, and the blocks together
 * are the FDE (in-use flag clear) and the events. */
static void
testSegmentBlocksAligned(void) {
    enum { EVENTS = 13, EVENT_SIZE = 100000, MAX_BLOCKS = 16 };
    char path[1024];
    size_t len, fdeLen, sizes[MAX_BLOCKS];
    uint8_t *fixture, *file, *ev;
    Buf *expect = bufNew(0), *plain = bufNew(0);
    SegmentMeta m, sealed;
    SegmentWriter *w;
    uint64_t end;
    Err err = {0};
    int blocks;

    snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), FIXTURE_MARIA);
    fixture = testReadFile(path, &len);
    REQUIRE(fixture != NULL);
    fdeLen = rdU32(fixture + 4 + 9);
    memset(&m, 0, sizeof(m));
    m.seq = 1;
    m.flavour = BINLOG_FLAVOUR_MARIADB;
    m.serverId = 11;
    snprintf(m.file, sizeof(m.file), "mariadb-bin.000001");
    m.startPos = 4 + fdeLen;
    snprintf(path, sizeof(path), "%s/aligned.tmp", testTmpDir());
    w = segmentWriterNew(path, &m, fixture + 4, fdeLen, &err);
    REQUIRE(w != NULL);
    bufAppend(expect, fixture + 4, fdeLen);
    /* The segment stores the FDE with the in-use flag clear, as the writer does. */
    binlogFdeSetInUse(expect->data, false);
    end = m.startPos;
    for (int i = 0; i < EVENTS; i++) {
        /* The writer checks an event's size field and its end; the rest is opaque to it here. */
        ev = someData(EVENT_SIZE, 100 + (uint64_t)i);
        end += EVENT_SIZE;
        wrU32(ev + 9, EVENT_SIZE);
        wrU32(ev + 13, (uint32_t)end);
        REQUIRE(segmentWriterAppend(w, ev, EVENT_SIZE, end, &err) == 0);
        bufAppend(expect, ev, EVENT_SIZE);
        bvFree(ev);
    }
    REQUIRE(segmentWriterSeal(w, false, &sealed, &err) == 0);
    segmentWriterFree(w);
    file = testReadFile(path, &len);
    REQUIRE(file != NULL && len > SEGMENT_MAGIC_LEN + 7);
    CHECK(memcmp(file + SEGMENT_MAGIC_LEN, "\x04\x22\x4d\x18", 4) == 0);
    CHECK(file[SEGMENT_MAGIC_LEN + 4] & LZ4_FLG_INDEPENDENT);
    blocks = decodeBlocksAlone(file + SEGMENT_MAGIC_LEN, file + len, plain, sizes, MAX_BLOCKS);
    CHECK_INT(blocks, (int)((expect->len + IO_LZ4_BLOCK_SIZE - 1) / IO_LZ4_BLOCK_SIZE));
    for (int i = 0; i + 1 < blocks; i++)
        CHECK_INT(sizes[i], IO_LZ4_BLOCK_SIZE);
    CHECK_INT(plain->len, expect->len);
    CHECK(plain->len == expect->len && memcmp(plain->data, expect->data, expect->len) == 0);
    CHECK_INT(sealed.contentLen, expect->len);
    unlink(path);
    segmentMetaClear(&sealed);
    bvFree(file);
    bvFree(fixture);
    bufFree(expect);
    bufFree(plain);
}

/* An FDE larger than a ring block (it must fit in the first) is refused, with the file left
 * uncreated; real ones are a few hundred bytes. */
static void
testFdeLargerThanBlock(void) {
    size_t len = IO_LZ4_BLOCK_SIZE + 1;
    uint8_t *fde = bvCalloc(1, len);
    char path[1024];
    SegmentMeta m;
    Err err = {0};

    fde[4] = BINLOG_FORMAT_DESCRIPTION;
    wrU32(fde + 9, (uint32_t)len);
    memset(&m, 0, sizeof(m));
    m.seq = 1;
    m.flavour = BINLOG_FLAVOUR_MARIADB;
    snprintf(m.file, sizeof(m.file), "mariadb-bin.000001");
    m.startPos = 4 + len;
    snprintf(path, sizeof(path), "%s/big-fde.tmp", testTmpDir());
    CHECK(segmentWriterNew(path, &m, fde, len, &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "not a format description event of 262145 bytes");
    CHECK(access(path, F_OK) != 0);
    bvFree(fde);
}

void suite_segment_lz4(void);

void
suite_segment_lz4(void) {
    testRun("lz4: compressing into the caller's buffer, then into its own again", testCompressIntoCallerBuffer);
    testRun("lz4: independent blocks when asked, linked by default", testIndependentBlocksFlag);
    testRun("segment writer: a segment's lz4 blocks decode one by one into its content",
            testSegmentBlocksAligned);
    testRun("segment writer: an FDE larger than a ring block is refused", testFdeLargerThanBlock);
}
