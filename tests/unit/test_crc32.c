/* Unit tests of common/crypto's cryptoCrc32(): the carry-less-multiplication path (inputs of 64
 * bytes and more, on x86-64) must give zlib's CRC-32 for every length, alignment and split. */
#include <stdlib.h>

#include <zlib.h>

#include "common/crypto.h"
#include "tests/test.h"

static uint32_t
zlibCrc(uint32_t crc, const uint8_t *p, size_t len) {
    return (uint32_t)crc32(crc, p, (uInt)len);
}

static void
knownVectors(void) {
    static const uint8_t zeros[4096];
    uint8_t ascii[256];

    CHECK_INT(cryptoCrc32(0, "123456789", 9), 0xcbf43926u);
    CHECK_INT(cryptoCrc32(0, "", 0), 0);
    for (size_t i = 0; i < sizeof(ascii); i++)
        ascii[i] = (uint8_t)i;
    CHECK_INT(cryptoCrc32(0, ascii, sizeof(ascii)), 0x29058c73u);
    CHECK_INT(cryptoCrc32(0, zeros, sizeof(zeros)), zlibCrc(0, zeros, sizeof(zeros)));
}

/* Every length up to a few folds, at every alignment of a 16-byte lane, from a non-zero start,
 * and split at every point of a binlog event's shape (header, body, the checksum excluded). */
static void
matchesZlibForEveryLengthAlignmentAndSplit(void) {
    enum { MAX = 1100 };
    uint8_t *buf = malloc(MAX + 16);
    unsigned seed = 12345;
    int bad = 0;

    for (size_t i = 0; i < MAX + 16; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
    for (size_t align = 0; align < 16; align++)
        for (size_t len = 0; len <= MAX; len++) {
            const uint8_t *p = buf + align;

            if (cryptoCrc32(0, p, len) != zlibCrc(0, p, len) ||
                cryptoCrc32(0xdeadbeefu, p, len) != zlibCrc(0xdeadbeefu, p, len))
                bad++;
        }
    CHECK_INT(bad, 0);
    for (size_t split = 0; split <= 300; split++) {
        uint32_t c = cryptoCrc32(cryptoCrc32(0, buf, split), buf + split, 300 - split);

        if (c != zlibCrc(0, buf, 300))
            bad++;
    }
    CHECK_INT(bad, 0);
    free(buf);
}

void suite_crc32(void);

void
suite_crc32(void) {
    testRun("crc32: the check value and known inputs", knownVectors);
    testRun("crc32: zlib's result for every length, alignment, start value and split", matchesZlibForEveryLengthAlignmentAndSplit);
}
