/* Unit tests of archive/mbstream: the mbstream/xbstream parser, with chunks built here. */
#include <stdlib.h>

#include "archive/mbstream.h"
#include "common/buf.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "tests/test.h"

/* Append one chunk: type 'E' has no payload part. */
static void
chunk(Buf *b, uint8_t flags, uint8_t type, const char *path, const void *payload, uint64_t len, uint64_t offset) {
    uint8_t n[8];

    bufAppend(b, "XBSTCK01", 8);
    bufAppend(b, &flags, 1);
    bufAppend(b, &type, 1);
    wrU32(n, (uint32_t)strlen(path));
    bufAppend(b, n, 4);
    bufAppend(b, path, strlen(path));
    if (type == 'E')
        return;
    wrU64(n, len);
    bufAppend(b, n, 8);
    wrU64(n, offset);
    bufAppend(b, n, 8);
    wrU32(n, cryptoCrc32(0, payload, (size_t)len));
    bufAppend(b, n, 4);
    bufAppend(b, payload, (size_t)len);
}

static const char binlogInfo[] = "mariadb-bin.000003\t1234\t0-1-100";

/* A stream like mariadb-backup's: a data file in two chunks, the binlog info, end markers. */
static Buf *
sampleStream(void) {
    Buf *b = bufNew(1024);
    static uint8_t data[3000];

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    chunk(b, 0, 'P', "ibdata1", data, 2000, 0);
    chunk(b, 0, 'P', "ibdata1", data + 2000, 1000, 2000);
    chunk(b, 0, 'E', "ibdata1", NULL, 0, 0);
    chunk(b, 0, 'P', "mariadb_backup_binlog_info", binlogInfo, strlen(binlogInfo), 0);
    chunk(b, 0, 'E', "mariadb_backup_binlog_info", NULL, 0, 0);
    return b;
}

static void
watchedFileCaughtWhateverTheFeedSize(void) {
    Buf *b = sampleStream();
    size_t steps[] = {1, 3, 14, 4096, 1 << 20};

    for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
        Mbstream *m = mbstreamNew();
        const uint8_t *file;
        size_t len = 0;
        Err err = {0};
        int rc = 0;

        mbstreamWatch(m, "mariadb_backup_binlog_info");
        mbstreamWatch(m, "xtrabackup_binlog_info");
        for (size_t off = 0; off < b->len && rc == 0; off += steps[s])
            rc = mbstreamFeed(m, b->data + off, b->len - off < steps[s] ? b->len - off : steps[s], &err);
        CHECK_INT(rc, 0);
        CHECK_INT(mbstreamFinish(m, &err), 0);
        CHECK_INT(mbstreamChunks(m), 5);
        CHECK_INT(mbstreamFilesEnded(m), 2);
        file = mbstreamFile(m, "mariadb_backup_binlog_info", &len);
        REQUIRE(file != NULL);
        CHECK_INT(len, strlen(binlogInfo));
        CHECK(memcmp(file, binlogInfo, len) == 0);
        CHECK(mbstreamFile(m, "xtrabackup_binlog_info", &len) == NULL);
        mbstreamFree(m);
    }
    bufFree(b);
}

static int
feedAll(const Buf *b, Err *err) {
    Mbstream *m = mbstreamNew();
    int rc;

    mbstreamWatch(m, "mariadb_backup_binlog_info");
    rc = mbstreamFeed(m, b->data, b->len, err);
    if (rc == 0)
        rc = mbstreamFinish(m, err);
    mbstreamFree(m);
    return rc;
}

static void
corruptPayloadIsAChecksumError(void) {
    Buf *b = sampleStream();
    Err err = {0};

    b->data[8 + 1 + 1 + 4 + 7 + 20 + 100] ^= 1; /* a byte of the first payload */
    CHECK_INT(feedAll(b, &err), -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_MSG(err.msg, "chunk at offset 0: payload crc32 mismatch");
    bufFree(b);
}

static void
badMagicTruncationAndEmptyAreRefused(void) {
    Buf *b = sampleStream();
    Err err = {0};
    size_t full = b->len;

    b->data[0] = 'Y';
    CHECK_INT(feedAll(b, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "no chunk magic");
    b->data[0] = 'X';
    b->len = full - 3;
    CHECK_INT(feedAll(b, &err), -1);
    CHECK_MSG(err.msg, "truncated");
    b->len = 0;
    CHECK_INT(feedAll(b, &err), -1);
    CHECK_MSG(err.msg, "empty");
    bufFree(b);
}

static void
unknownChunkTypes(void) {
    Buf *b = bufNew(256);
    Err err = {0};

    /* Flagged ignorable: laid out as a payload chunk and skipped. */
    chunk(b, 1, 'Z', "future", "abc", 3, 0);
    chunk(b, 0, 'E', "future", NULL, 0, 0);
    CHECK_INT(feedAll(b, &err), 0);
    bufClear(b);
    chunk(b, 0, 'S', "sparse", "abc", 3, 0);
    CHECK_INT(feedAll(b, &err), -1);
    CHECK_MSG(err.msg, "unsupported chunk type 0x53");
    bufFree(b);
}

static void
hostileSizesAndWatchedFileOrder(void) {
    Buf *b = bufNew(256);
    char path[600];
    uint8_t n[8];
    Err err = {0};

    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    chunk(b, 0, 'E', path, NULL, 0, 0);
    CHECK_INT(feedAll(b, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    /* A payload length of 2^62: refused before anything is read. */
    bufClear(b);
    chunk(b, 0, 'P', "x", "", 0, 0);
    wrU64(n, 1ULL << 62);
    memcpy(b->data + 8 + 1 + 1 + 4 + 1, n, 8);
    CHECK_INT(feedAll(b, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    /* The binlog info in pieces that do not follow each other. */
    bufClear(b);
    chunk(b, 0, 'P', "mariadb_backup_binlog_info", "abc", 3, 0);
    chunk(b, 0, 'P', "mariadb_backup_binlog_info", "def", 3, 10);
    CHECK_INT(feedAll(b, &err), -1);
    CHECK_MSG(err.msg, "does not continue it");
    bufFree(b);
}

void suite_mbstream(void);

void
suite_mbstream(void) {
    testRun("mbstream: a watched file is caught whatever the size of the pieces fed", watchedFileCaughtWhateverTheFeedSize);
    testRun("mbstream: a corrupt payload fails its chunk's crc32", corruptPayloadIsAChecksumError);
    testRun("mbstream: a bad magic, a truncated and an empty stream are refused", badMagicTruncationAndEmptyAreRefused);
    testRun("mbstream: unknown chunk types are skipped when ignorable, refused otherwise", unknownChunkTypes);
    testRun("mbstream: hostile sizes and a watched file out of order are refused", hostileSizesAndWatchedFileOrder);
}
