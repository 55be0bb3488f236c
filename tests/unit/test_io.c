/* Unit tests of common/crypto, common/buf and common/io. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/io.h"
#include "common/mem.h"
#include "tests/test.h"

static void
hex(const uint8_t *data, size_t len, char *out) {
    cryptoHexEncode(data, len, out);
}

/* --- crypto ------------------------------------------------------------------------------- */

static void
testSha256Vectors(void) {
    uint8_t out[CRYPTO_HASH_MAX_LEN];
    char text[CRYPTO_HASH_HEX_MAX];
    size_t len = 0;
    CryptoHash *hash;
    /* FIPS 180-2 vectors: "", "abc", the 448-bit message, one million 'a' (fed in pieces). */
    cryptoSha256("", 0, out);
    hex(out, 32, text);
    CHECK_STR(text, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cryptoSha256("abc", 3, out);
    hex(out, 32, text);
    CHECK_STR(text, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cryptoSha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, out);
    hex(out, 32, text);
    CHECK_STR(text, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

    hash = cryptoHashNew(CRYPTO_HASH_SHA256);
    {
        char block[1000];

        memset(block, 'a', sizeof(block));
        for (int i = 0; i < 1000; i++)
            cryptoHashUpdate(hash, block, sizeof(block));
    }
    cryptoHashFinal(hash, out, &len);
    cryptoHashFree(hash);
    CHECK_INT(len, 32);
    hex(out, len, text);
    CHECK_STR(text, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    CHECK_INT(cryptoHashSize(CRYPTO_HASH_SHA256), 32);
    CHECK_STR(cryptoHashName(CRYPTO_HASH_SHA256), "sha256");
    cryptoHashFree(NULL);
}

static void
testMd5Vectors(void) {
    uint8_t out[CRYPTO_HASH_MAX_LEN];
    char text[CRYPTO_HASH_HEX_MAX];
    size_t len = 0;
    CryptoHash *hash;

    /* RFC 1321 appendix A.5. */
    cryptoMd5("", 0, out);
    hex(out, 16, text);
    CHECK_STR(text, "d41d8cd98f00b204e9800998ecf8427e");
    cryptoMd5("abc", 3, out);
    hex(out, 16, text);
    CHECK_STR(text, "900150983cd24fb0d6963f7d28e17f72");
    hash = cryptoHashNew(CRYPTO_HASH_MD5);
    cryptoHashUpdate(hash, "message ", 8);
    cryptoHashUpdate(hash, "digest", 6);
    cryptoHashFinal(hash, out, &len);
    cryptoHashFree(hash);
    CHECK_INT(len, 16);
    hex(out, len, text);
    CHECK_STR(text, "f96b697d7cb7938d525a2f31aaf161d0");
    CHECK_STR(cryptoHashName(CRYPTO_HASH_MD5), "md5");
}

static void
testHmacRfc4231(void) {
    uint8_t key[131], data[152], out[32];
    char text[65];

    /* Test case 1. */
    memset(key, 0x0b, 20);
    cryptoHmacSha256(key, 20, "Hi There", 8, out);
    hex(out, 32, text);
    CHECK_STR(text, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* Test case 2. */
    cryptoHmacSha256("Jefe", 4, "what do ya want for nothing?", 28, out);
    hex(out, 32, text);
    CHECK_STR(text, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Test case 3. */
    memset(key, 0xaa, 20);
    memset(data, 0xdd, 50);
    cryptoHmacSha256(key, 20, data, 50, out);
    hex(out, 32, text);
    CHECK_STR(text, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    /* Test case 4. */
    for (int i = 0; i < 25; i++)
        key[i] = (uint8_t)(i + 1);
    memset(data, 0xcd, 50);
    cryptoHmacSha256(key, 25, data, 50, out);
    hex(out, 32, text);
    CHECK_STR(text, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    /* Test case 6: a key longer than the block size. */
    memset(key, 0xaa, 131);
    cryptoHmacSha256(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First", 54, out);
    hex(out, 32, text);
    CHECK_STR(text, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* Test case 7. */
    {
        static const char msg[] = "This is a test using a larger than block-size key and a larger "
                                  "than block-size data. The key needs to be hashed before being "
                                  "used by the HMAC algorithm.";

        CHECK_INT(sizeof(msg) - 1, 152);
        cryptoHmacSha256(key, 131, msg, sizeof(msg) - 1, out);
        hex(out, 32, text);
        CHECK_STR(text, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    }
}

static void
testHexBase64(void) {
    static const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
    uint8_t out[8];
    char text[16];
    size_t len = 0;
    Err err = {0};

    hex(bytes, sizeof(bytes), text);
    CHECK_STR(text, "0001abff7f");
    CHECK_INT(cryptoHexDecode("0001ABff7f", 10, out, sizeof(out), &len, &err), 0);
    CHECK_INT(len, 5);
    CHECK(memcmp(out, bytes, 5) == 0);
    CHECK_INT(cryptoHexDecode("abc", 3, out, sizeof(out), &len, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_STR(err.msg, "invalid hex string of odd length 3");
    CHECK_INT(cryptoHexDecode("00zz", 4, out, sizeof(out), &len, &err), -1);
    CHECK_STR(err.msg, "invalid hex digit at offset 2");
    CHECK_INT(cryptoHexDecode("000102030405060708", 18, out, sizeof(out), &len, &err), -1);
    CHECK_STR(err.msg, "hex string of 9 bytes is longer than 8 bytes");

    /* RFC 4648 section 10. */
    cryptoBase64Encode((const uint8_t *)"", 0, text);
    CHECK_STR(text, "");
    cryptoBase64Encode((const uint8_t *)"f", 1, text);
    CHECK_STR(text, "Zg==");
    cryptoBase64Encode((const uint8_t *)"fo", 2, text);
    CHECK_STR(text, "Zm8=");
    cryptoBase64Encode((const uint8_t *)"foobar", 6, text);
    CHECK_STR(text, "Zm9vYmFy");
    CHECK_INT(CRYPTO_BASE64_SIZE(16), 25);
    /* Content-MD5 of "" as S3 expects it. */
    {
        uint8_t md5[16];
        char b64[CRYPTO_BASE64_SIZE(16)];

        cryptoMd5("", 0, md5);
        cryptoBase64Encode(md5, 16, b64);
        CHECK_STR(b64, "1B2M2Y8AsgTpgAmY7PhCfg==");
    }
}

static void
testRandom(void) {
    uint8_t a[32], b[32];
    Err err = {0};

    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    CHECK_INT(cryptoRandom(a, sizeof(a), &err), 0);
    CHECK_INT(cryptoRandom(b, sizeof(b), &err), 0);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    CHECK_INT(cryptoRandom(a, 0, &err), 0);
}

static void
testBuf(void) {
    Buf *buf = bufNew(0);
    uint8_t *data;
    size_t len = 0;

    bufAppend(buf, "abc", 3);
    bufAppend(buf, "", 0);
    CHECK_INT(buf->len, 3);
    memcpy(bufReserve(buf, 1000), "xyz", 3);
    buf->len += 3;
    CHECK(buf->cap >= 1003);
    CHECK(memcmp(buf->data, "abcxyz", 6) == 0);
    bufClear(buf);
    CHECK_INT(buf->len, 0);
    bufAppend(buf, "hello", 5);
    data = bufDetach(buf, &len);
    CHECK_INT(len, 5);
    CHECK_STR((char *)data, "hello");
    bvFree(data);
    bufFree(NULL);
}

/* --- chains ------------------------------------------------------------------------------- */

/* Deterministic data mixing compressible text, runs and incompressible noise. */
static uint8_t *
mixedData(size_t len) {
    static const char text[] = "BEGIN; INSERT INTO t VALUES (42, 'binvault'); COMMIT;\n";
    uint8_t *data = bvMalloc(len ? len : 1);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    size_t i = 0;

    while (i < len) {
        size_t run = 1000 + (size_t)(x % 50000), kind = (size_t)((x >> 20) % 3);

        for (size_t j = 0; j < run && i < len; j++, i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (kind == 0)
                data[i] = (uint8_t)x;
            else if (kind == 1)
                data[i] = (uint8_t)text[j % (sizeof(text) - 1)];
            else
                data[i] = (uint8_t)(j / 4096);
        }
    }
    return data;
}

/* Push `data` in uneven pieces through sha256 -> count -> lz4 -> sha256 -> buf, then decompress
 * with the pull chain mem -> sha256 -> lz4 -> sha256, and check every byte and digest. */
static void
roundTrip(size_t size) {
    uint8_t *data = mixedData(size), rawSha[32], zSha[32], got[32];
    Buf *compressed = bufNew(0), *plain = bufNew(0);
    IoWrite *sink = ioWriteBufNew(compressed, 64 * 1024 * 1024);
    IoWrite *zHash = ioWriteHashNew(sink, CRYPTO_HASH_SHA256);
    IoWrite *lz4 = ioWriteLz4CompressNew(zHash);
    IoWrite *count = ioWriteCountNew(lz4);
    IoWrite *head = ioWriteHashNew(count, CRYPTO_HASH_SHA256);
    IoRead *src, *srcHash, *unlz4, *outHash;
    Err err = {0};
    size_t pos = 0, piece = 1;
    uint8_t *buf = bvMalloc(100000);
    ssize_t n;

    cryptoSha256(data, size, rawSha);
    while (pos < size) {
        size_t len = piece < size - pos ? piece : size - pos;

        REQUIRE(ioWrite(head, data + pos, len, &err) == 0);
        pos += len;
        piece = piece * 7 % 1000003 + 1;
    }
    REQUIRE(ioWriteClose(head, &err) == 0);
    CHECK_INT(ioWriteCountBytes(count), size);
    ioWriteHashResult(head, got, NULL);
    CHECK(memcmp(got, rawSha, 32) == 0);
    cryptoSha256(compressed->data, compressed->len, zSha);
    ioWriteHashResult(zHash, got, NULL);
    CHECK(memcmp(got, zSha, 32) == 0);
    {
        char text[65];

        hex(zSha, 32, text);
        CHECK_STR(ioWriteHashHex(zHash), text);
    }
    /* lz4 magic number, little-endian 0x184D2204. */
    REQUIRE(compressed->len >= 4);
    CHECK(memcmp(compressed->data, "\x04\x22\x4d\x18", 4) == 0);
    if (size == 20 * 1024 * 1024)
        CHECK(compressed->len < size);
    ioWriteFree(head);

    src = ioReadMemNew(compressed->data, compressed->len);
    srcHash = ioReadHashNew(src, CRYPTO_HASH_SHA256);
    unlz4 = ioReadLz4DecompressNew(srcHash);
    outHash = ioReadHashNew(unlz4, CRYPTO_HASH_SHA256);
    piece = 1;
    while ((n = ioRead(outHash, buf, piece, &err)) > 0) {
        bufAppend(plain, buf, (size_t)n);
        piece = piece * 13 % 99991 + 1;
    }
    CHECK_INT(n, 0);
    CHECK_INT(ioRead(outHash, buf, 10, &err), 0);
    CHECK_INT(plain->len, size);
    CHECK(plain->len == size && (size == 0 || memcmp(plain->data, data, size) == 0));
    ioReadHashResult(outHash, got, NULL);
    CHECK(memcmp(got, rawSha, 32) == 0);
    ioReadHashResult(srcHash, got, NULL);
    CHECK(memcmp(got, zSha, 32) == 0);
    ioReadFree(outHash);

    /* The decompressing writer gives the same bytes. */
    bufClear(plain);
    {
        IoWrite *out = ioWriteBufNew(plain, 64 * 1024 * 1024);
        IoWrite *hash = ioWriteHashNew(out, CRYPTO_HASH_SHA256);
        IoWrite *dec = ioWriteLz4DecompressNew(hash);

        pos = 0;
        piece = 3;
        while (pos < compressed->len) {
            size_t len = piece < compressed->len - pos ? piece : compressed->len - pos;

            REQUIRE(ioWrite(dec, compressed->data + pos, len, &err) == 0);
            pos += len;
            piece = piece * 5 % 300007 + 1;
        }
        CHECK_INT(ioWriteClose(dec, &err), 0);
        ioWriteHashResult(hash, got, NULL);
        CHECK(memcmp(got, rawSha, 32) == 0);
        CHECK_INT(plain->len, size);
        ioWriteFree(dec);
    }
    bufFree(compressed);
    bufFree(plain);
    bvFree(buf);
    bvFree(data);
}

static void
testLz4Size0(void) {
    roundTrip(0);
}

static void
testLz4Size1(void) {
    roundTrip(1);
}

static void
testLz4Size1M(void) {
    roundTrip(1024 * 1024);
}

static void
testLz4Size20M(void) {
    roundTrip(20 * 1024 * 1024);
}

/* Compress `size` bytes of mixed data into a new Buf. */
static Buf *
compress(size_t size) {
    uint8_t *data = mixedData(size);
    Buf *out = bufNew(0);
    IoWrite *lz4 = ioWriteLz4CompressNew(ioWriteBufNew(out, SIZE_MAX));
    Err err = {0};

    BV_ASSERT(ioWrite(lz4, data, size, &err) == 0 && ioWriteClose(lz4, &err) == 0);
    ioWriteFree(lz4);
    bvFree(data);
    return out;
}

/* Decompress with the reader; returns the result of the last ioRead (-1 on error). */
static ssize_t
readAll(const uint8_t *data, size_t len, size_t *total, Err *err) {
    IoRead *reader = ioReadLz4DecompressNew(ioReadMemNew(data, len));
    uint8_t *buf = bvMalloc(65536);
    ssize_t n;

    *total = 0;
    while ((n = ioRead(reader, buf, 65536, err)) > 0)
        *total += (size_t)n;
    ioReadFree(reader);
    bvFree(buf);
    return n;
}

/* Decompress with the writer; returns the result of the write or close that failed, or 0. */
static int
writeAll(const uint8_t *data, size_t len, Err *err) {
    Buf *out = bufNew(0);
    IoWrite *writer = ioWriteLz4DecompressNew(ioWriteBufNew(out, SIZE_MAX));
    int rc = ioWrite(writer, data, len, err);

    if (rc == 0)
        rc = ioWriteClose(writer, err);
    ioWriteFree(writer);
    bufFree(out);
    return rc;
}

static void
testLz4Corrupt(void) {
    Buf *z = compress(1024 * 1024);
    size_t total = 0;
    Err err = {0};
    uint8_t *copy = bvMalloc(z->len);

    /* A flipped byte in the middle of a compressed block: the block checksum catches it. */
    memcpy(copy, z->data, z->len);
    copy[z->len / 2] ^= 0x40;
    CHECK_INT(readAll(copy, z->len, &total, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK(strstr(err.msg, "invalid lz4 frame after ") == err.msg);
    CHECK_MSG(err.msg, "ERROR_blockChecksum_invalid");
    CHECK(total < 1024 * 1024);
    CHECK_INT(writeAll(copy, z->len, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "ERROR_blockChecksum_invalid");

    /* A flipped byte in the content checksum at the very end. */
    memcpy(copy, z->data, z->len);
    copy[z->len - 1] ^= 0x01;
    CHECK_INT(readAll(copy, z->len, &total, &err), -1);
    CHECK_MSG(err.msg, "ERROR_contentChecksum_invalid");
    CHECK_INT(writeAll(copy, z->len, &err), -1);
    CHECK_MSG(err.msg, "ERROR_contentChecksum_invalid");

    /* A wrong magic number. */
    memcpy(copy, z->data, z->len);
    copy[0] ^= 0xff;
    CHECK_INT(readAll(copy, z->len, &total, &err), -1);
    CHECK_STR(err.msg, "invalid lz4 frame after 0 bytes: ERROR_frameType_unknown");
    CHECK_INT(total, 0);
    bvFree(copy);
    bufFree(z);
}

static void
testLz4Truncated(void) {
    Buf *z = compress(1024 * 1024);
    size_t total = 0;
    Err err = {0};
    char expect[128];

    /* Cut at several places: in the header, in a block, just before the end mark/checksum. */
    size_t cuts[] = {0, 3, 7, z->len / 3, z->len - 8, z->len - 4, z->len - 1};

    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        errClear(&err);
        CHECK_INT(readAll(z->data, cuts[i], &total, &err), -1);
        CHECK_INT(err.code, ERR_FORMAT);
        snprintf(expect, sizeof(expect), "truncated lz4 frame: input ended after %zu bytes", cuts[i]);
        CHECK_STR(err.msg, expect);
        errClear(&err);
        CHECK_INT(writeAll(z->data, cuts[i], &err), -1);
        CHECK_STR(err.msg, expect);
    }
    /* Whole frame: fine. */
    CHECK_INT(readAll(z->data, z->len, &total, &err), 0);
    CHECK_INT(total, 1024 * 1024);
    bufFree(z);
}

static void
testLz4Trailing(void) {
    Buf *z = compress(1000);
    size_t total = 0, len = z->len;
    Err err = {0};
    char expect[128];

    bufAppend(z, "junk", 4);
    snprintf(expect, sizeof(expect), "unexpected data after the end of the lz4 frame at offset %zu", len);
    CHECK_INT(readAll(z->data, z->len, &total, &err), -1);
    CHECK_STR(err.msg, expect);
    CHECK_INT(writeAll(z->data, z->len, &err), -1);
    CHECK_STR(err.msg, expect);
    bufFree(z);
}

/* The reader never returns more than asked, even for highly compressible data. */
static void
testLz4BoundedOutput(void) {
    uint8_t *zeros = bvCalloc(1, 8 * 1024 * 1024);
    Buf *z = bufNew(0);
    IoWrite *lz4 = ioWriteLz4CompressNew(ioWriteBufNew(z, SIZE_MAX));
    IoRead *reader;
    Err err = {0};
    uint8_t buf[100];
    uint64_t total = 0;
    ssize_t n;
    int over = 0;

    REQUIRE(ioWrite(lz4, zeros, 8 * 1024 * 1024, &err) == 0);
    REQUIRE(ioWriteClose(lz4, &err) == 0);
    ioWriteFree(lz4);
    CHECK(z->len < 64 * 1024);
    reader = ioReadLz4DecompressNew(ioReadMemNew(z->data, z->len));
    while ((n = ioRead(reader, buf, sizeof(buf), &err)) > 0) {
        if (n > (ssize_t)sizeof(buf))
            over = 1;
        if (buf[n - 1] != 0)
            over = 1;
        total += (uint64_t)n;
    }
    CHECK_INT(n, 0);
    CHECK_INT(over, 0);
    CHECK_INT(total, 8 * 1024 * 1024);
    ioReadFree(reader);
    bufFree(z);
    bvFree(zeros);
}

/* The segment chain onto a real file with fsync, read back through the fd source. */
static void
testFdChain(void) {
    char path[512];
    uint8_t *data = mixedData(3 * 1024 * 1024), got[32], want[32];
    IoWrite *fdSink, *zHash, *lz4, *count, *head;
    IoRead *reader;
    Err err = {0};
    int fd;
    size_t len = 0;
    uint8_t *file;

    snprintf(path, sizeof(path), "%s/segment.lz4", testTmpDir());
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    fdSink = ioWriteFdNew(fd, path, IO_FD_SYNC | IO_FD_CLOSE);
    zHash = ioWriteHashNew(fdSink, CRYPTO_HASH_SHA256);
    lz4 = ioWriteLz4CompressNew(zHash);
    count = ioWriteCountNew(lz4);
    head = ioWriteHashNew(count, CRYPTO_HASH_SHA256);
    CHECK_INT(ioWrite(head, data, 3 * 1024 * 1024, &err), 0);
    CHECK_INT(ioWriteClose(head, &err), 0);
    CHECK_INT(ioWriteCountBytes(count), 3 * 1024 * 1024);
    /* The descriptor is closed. */
    CHECK_INT(fcntl(fd, F_GETFD), -1);
    file = testReadFile(path, &len);
    REQUIRE(file != NULL);
    cryptoSha256(file, len, want);
    ioWriteHashResult(zHash, got, NULL);
    CHECK(memcmp(got, want, 32) == 0);
    free(file);
    ioWriteFree(head);

    fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    reader = ioReadHashNew(ioReadLz4DecompressNew(ioReadFdNew(fd, path, 0, 0, IO_FD_CLOSE)),
                           CRYPTO_HASH_SHA256);
    {
        uint8_t *buf = bvMalloc(3 * 1024 * 1024 + 1);

        CHECK_INT(ioReadFull(reader, buf, 3 * 1024 * 1024 + 1, &err), 3 * 1024 * 1024);
        CHECK(memcmp(buf, data, 3 * 1024 * 1024) == 0);
        bvFree(buf);
    }
    cryptoSha256(data, 3 * 1024 * 1024, want);
    ioReadHashResult(reader, got, NULL);
    CHECK(memcmp(got, want, 32) == 0);
    ioReadFree(reader);
    bvFree(data);
}

/* Errors of the fd sink name the path and the reason. */
static void
testFdSinkErrors(void) {
    int pipeFds[2], full;
    IoWrite *writer;
    Err err = {0};

    /* fsync(2) of a pipe fails with EINVAL: the close reports it and still closes the fd. */
    REQUIRE(pipe(pipeFds) == 0);
    writer = ioWriteFdNew(pipeFds[1], "/x/y.tmp", IO_FD_SYNC | IO_FD_CLOSE);
    CHECK_INT(ioWrite(writer, "abc", 3, &err), 0);
    CHECK_INT(ioWriteClose(writer, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_STR(err.msg, "unable to fsync '/x/y.tmp': Invalid argument");
    CHECK_INT(fcntl(pipeFds[1], F_GETFD), -1);
    ioWriteFree(writer);
    close(pipeFds[0]);

    /* /dev/full: write(2) fails with ENOSPC. */
    full = open("/dev/full", O_WRONLY);
    REQUIRE(full >= 0);
    writer = ioWriteFdNew(full, "/x/y.tmp", IO_FD_CLOSE);
    CHECK_INT(ioWrite(writer, "abc", 3, &err), -1);
    CHECK_STR(err.msg, "unable to write '/x/y.tmp': No space left on device");
    /* Freed without close: the owned descriptor is closed by free. */
    ioWriteFree(writer);
    CHECK_INT(fcntl(full, F_GETFD), -1);
}

static void
testFdSourceRange(void) {
    char path[512];
    int fd, pipeFds[2];
    IoRead *reader;
    Err err = {0};
    char buf[64];

    snprintf(path, sizeof(path), "%s/range", testTmpDir());
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "0123456789", 10) == 10);

    reader = ioReadFdNew(fd, path, 3, 4, 0);
    CHECK_INT(ioReadFull(reader, buf, sizeof(buf), &err), 4);
    CHECK(memcmp(buf, "3456", 4) == 0);
    ioReadFree(reader);

    reader = ioReadFdNew(fd, path, 7, 0, 0);
    CHECK_INT(ioReadFull(reader, buf, sizeof(buf), &err), 3);
    CHECK(memcmp(buf, "789", 3) == 0);
    ioReadFree(reader);

    /* A range past the end of the file. */
    reader = ioReadFdNew(fd, path, 8, 5, IO_FD_CLOSE);
    CHECK_INT(ioReadFull(reader, buf, sizeof(buf), &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    {
        char expect[600];

        snprintf(expect, sizeof(expect),
                 "unexpected end of '%s' at offset 10: expected 5 bytes from offset 8", path);
        CHECK_STR(err.msg, expect);
    }
    ioReadFree(reader);
    CHECK_INT(fcntl(fd, F_GETFD), -1);

    /* Sequential reads work on a pipe. */
    REQUIRE(pipe(pipeFds) == 0);
    REQUIRE(write(pipeFds[1], "hello", 5) == 5);
    close(pipeFds[1]);
    reader = ioReadFdNew(pipeFds[0], "pipe", 0, 0, IO_FD_CLOSE);
    CHECK_INT(ioReadFull(reader, buf, sizeof(buf), &err), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    ioReadFree(reader);

    /* A read error names the file. */
    fd = open(testTmpDir(), O_RDONLY | O_DIRECTORY);
    REQUIRE(fd >= 0);
    reader = ioReadFdNew(fd, "/some/dir", 0, 0, IO_FD_CLOSE);
    CHECK_INT(ioRead(reader, buf, sizeof(buf), &err), -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_STR(err.msg, "unable to read '/some/dir': Is a directory");
    ioReadFree(reader);
}

static void
testBufSinkLimit(void) {
    Buf *buf = bufNew(0);
    IoWrite *writer = ioWriteBufNew(buf, 5);
    Err err = {0};

    CHECK_INT(ioWrite(writer, "abc", 3, &err), 0);
    CHECK_INT(ioWrite(writer, "de", 2, &err), 0);
    CHECK_INT(ioWrite(writer, "f", 1, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    CHECK_STR(err.msg, "output is larger than the limit of 5 bytes");
    CHECK_INT(buf->len, 5);
    ioWriteFree(writer);
    bufFree(buf);
}

static void
testCopy(void) {
    uint8_t *data = mixedData(200000);
    Buf *buf = bufNew(0);
    IoRead *reader = ioReadMemNew(data, 200000);
    IoWrite *writer = ioWriteBufNew(buf, 200000);
    Err err = {0};

    CHECK_INT(ioCopy(reader, writer, &err), 0);
    CHECK_INT(buf->len, 200000);
    CHECK(memcmp(buf->data, data, 200000) == 0);
    ioReadFree(reader);
    ioWriteFree(writer);

    /* An error of the destination stops the copy. */
    reader = ioReadMemNew(data, 200000);
    bufClear(buf);
    writer = ioWriteBufNew(buf, 1000);
    CHECK_INT(ioCopy(reader, writer, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    ioReadFree(reader);
    ioWriteFree(writer);
    bufFree(buf);
    bvFree(data);
}

void suite_io(void);

/* The verifying observer passes exactly what was described and fails anything else at its end (or
 * as soon as it is longer), instead of returning 0. */
static void
testVerify(void) {
    static const char data[] = "the bytes described";
    uint8_t sha256[CRYPTO_SHA256_LEN], buf[64];
    size_t len = sizeof(data) - 1;
    IoRead *r;
    Err err = {0};

    cryptoSha256(data, len, sha256);
    r = ioReadVerifyNew(ioReadMemNew(data, len), len, sha256, "'x'");
    CHECK(ioReadFull(r, buf, sizeof(buf), &err) == (ssize_t)len);
    CHECK(memcmp(buf, data, len) == 0);
    CHECK(ioRead(r, buf, 1, &err) == 0);
    ioReadFree(r);
    /* Shorter: the bytes come, the end is an error. */
    r = ioReadVerifyNew(ioReadMemNew(data, len - 1), len, sha256, "'x'");
    CHECK(ioReadFull(r, buf, sizeof(buf), &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_MSG(err.msg, "'x' does not match its description: 18 bytes with sha256 ");
    CHECK_MSG(err.msg, "expected 19 bytes");
    ioReadFree(r);
    /* Longer: refused with the first byte too many. */
    r = ioReadVerifyNew(ioReadMemNew(data, len), len - 2, sha256, "the buffer");
    CHECK(ioRead(r, buf, len - 2, &err) == (ssize_t)(len - 2));
    CHECK(ioRead(r, buf, 1, &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_MSG(err.msg, "the buffer does not match its description");
    ioReadFree(r);
    /* Same length, other content. */
    sha256[5] ^= 1;
    r = ioReadVerifyNew(ioReadMemNew(data, len), len, sha256, "'x'");
    CHECK(ioReadFull(r, buf, sizeof(buf), &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    ioReadFree(r);
    /* Without a SHA-256 (bytes hashed as they were written): the size alone. */
    r = ioReadVerifyNew(ioReadMemNew(data, len), len, NULL, "'x'");
    CHECK(ioReadFull(r, buf, sizeof(buf), &err) == (ssize_t)len);
    CHECK(ioRead(r, buf, 1, &err) == 0);
    ioReadFree(r);
    r = ioReadVerifyNew(ioReadMemNew(data, len - 1), len, NULL, "'x'");
    CHECK(ioReadFull(r, buf, sizeof(buf), &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_STR(err.msg, "'x' does not match its description: 18 bytes, expected 19 bytes");
    ioReadFree(r);
    r = ioReadVerifyNew(ioReadMemNew(data, len), len - 2, NULL, "'x'");
    CHECK(ioRead(r, buf, len - 2, &err) == (ssize_t)(len - 2));
    CHECK(ioRead(r, buf, 1, &err) == -1);
    CHECK_STR(err.msg, "'x' does not match its description: 18 or more bytes, expected 17 bytes");
    ioReadFree(r);
}

void
suite_io(void) {
    testRun("io: sha256 vectors", testSha256Vectors);
    testRun("io: md5 vectors", testMd5Vectors);
    testRun("io: hmac-sha256 rfc 4231", testHmacRfc4231);
    testRun("io: hex and base64", testHexBase64);
    testRun("io: random", testRandom);
    testRun("io: buf", testBuf);
    testRun("io: lz4 round trip 0 bytes", testLz4Size0);
    testRun("io: lz4 round trip 1 byte", testLz4Size1);
    testRun("io: lz4 round trip 1 MiB", testLz4Size1M);
    testRun("io: lz4 round trip 20 MiB", testLz4Size20M);
    testRun("io: lz4 corrupt frame", testLz4Corrupt);
    testRun("io: lz4 truncated frame", testLz4Truncated);
    testRun("io: lz4 data after the frame", testLz4Trailing);
    testRun("io: lz4 reader output bounded per call", testLz4BoundedOutput);
    testRun("io: segment chain to a file with fsync", testFdChain);
    testRun("io: fd sink errors", testFdSinkErrors);
    testRun("io: fd source ranges", testFdSourceRange);
    testRun("io: buf sink limit", testBufSinkLimit);
    testRun("io: copy", testCopy);
    testRun("io: verifying observer", testVerify);
}
