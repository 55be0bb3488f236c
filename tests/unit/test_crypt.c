/* Unit tests of encryption at rest: the AES-256-GCM, PBKDF2 and HKDF wrappers of common/crypto
 * against published vectors; the encrypted object format of storage/storage_crypt (round trips,
 * ranged reads, every kind of tampering) and its store given a key; and, through
 * archive/key, the store of an archive (keys, modes, archive identity, immutability) on a
 * directory store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/io.h"
#include "common/mem.h"
#include "tests/test.h"
#include "tests/unit/storage_wrap.h"
#include "storage/storage.h"
#include "storage/storage_crypt.h"
#include "archive/key.h"

#define C STORAGE_CRYPT_CHUNK
#define SEALED (STORAGE_CRYPT_CHUNK + STORAGE_CRYPT_TAG_LEN)
#define H STORAGE_CRYPT_HEADER_LEN
#define IDENTITY_DOC "{\"format\":\"binvault-archive\",\"version\":1}\n"

static uint8_t *
hex(const char *text, size_t *len) {
    size_t n = strlen(text);
    uint8_t *out = bvMalloc(n / 2 + 1);
    Err err;

    BV_ASSERT(cryptoHexDecode(text, n, out, n / 2 + 1, len, &err) == 0);
    return out;
}

static void
checkHex(const uint8_t *data, size_t len, const char *want, const char *what) {
    char *got = bvMalloc(len * 2 + 1);

    cryptoHexEncode(data, len, got);
    if (strcmp(got, want) != 0)
        testFail(__FILE__, __LINE__, "%s: %s, expected %s", what, got, want);
    bvFree(got);
}

/* Deterministic filler (xorshift), so a failure can be reproduced. */
static uint8_t *
pattern(size_t len, uint32_t seed) {
    uint8_t *data = bvMalloc(len ? len : 1);
    uint32_t x = seed * 2654435761u + 1;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (uint8_t)x;
    }
    return data;
}

static void
writeFile(const char *path, const void *data, size_t len, mode_t mode) {
    int fd;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    BV_ASSERT(fd >= 0);
    BV_ASSERT(len == 0 || write(fd, data, len) == (ssize_t)len);
    BV_ASSERT(fchmod(fd, mode) == 0);
    close(fd);
}

/* A raw 32-byte key file "<tmp>/<name>" (0600) of bytes derived from `seed`. */
static char *
rawKeyFile(const char *name, uint32_t seed) {
    char *path = bvSprintf("%s/%s", testTmpDir(), name);
    uint8_t *key = pattern(32, seed);

    writeFile(path, key, 32, 0600);
    bvFree(key);
    return path;
}

static void
envClear(void) {
    unsetenv("BINVAULT_KEY_FILE");
    unsetenv("BINVAULT_ENCRYPT");
}

/* The store at "<tmp>/<dir>" (created), opened through the encryption layer. */
static Storage *
openStore(const char *dir, const char *keyFile, bool encrypt, Err *err) {
    char *root = bvSprintf("%s/%s", testTmpDir(), dir);
    Storage *raw;

    mkdir(root, 0700);
    raw = storageNew(root, err);
    bvFree(root);
    if (raw == NULL)
        return NULL;
    return archiveKeyWrap(raw, keyFile, encrypt, getenv("TMPDIR"), err);
}

/* A new encrypted archive with its identity written, as the agent and import make it. */
static Storage *
newArchive(const char *dir, const char *keyFile) {
    Err err = {0};
    Storage *s = openStore(dir, keyFile, true, &err);

    if (s == NULL) {
        testFail(__FILE__, __LINE__, "open: %s", err.msg);
        return NULL;
    }
    if (storagePutBuf(s, "binvault.json", IDENTITY_DOC, strlen(IDENTITY_DOC), STORAGE_PUT_IMMUTABLE,
                      &err) != 0)
        testFail(__FILE__, __LINE__, "identity: %s", err.msg);
    return s;
}

static char *
objectPath(const char *dir, const char *name) {
    return bvSprintf("%s/%s/%s", testTmpDir(), dir, name);
}

/* Read all of a reader; -1 on error (what was read before stays in *out). */
static int
readAll(IoRead *r, Buf *out, size_t step, Err *err) {
    ssize_t n;

    while ((n = ioRead(r, bufReserve(out, step), step, err)) > 0)
        out->len += (size_t)n;
    return n < 0 ? -1 : 0;
}

/* Read the object (or a range) through the store; -1 and err on failure. */
static int
readObject(Storage *s, const char *name, uint64_t offset, uint64_t length, Buf *out, Err *err) {
    IoRead *r = storageOpenRead(s, name, offset, length, err);
    int rc;

    bufClear(out);
    if (r == NULL)
        return -1;
    rc = readAll(r, out, 7000, err);
    ioReadFree(r);
    return rc;
}

/* Encrypt `len` bytes as the object `name`, read from the encryptor `step` bytes at a time. */
static int
encryptBuf(const StorageCryptKey *key, const char *name, const uint8_t *plain, size_t len, size_t step,
           Buf *out, Err *err) {
    IoRead *r = storageCryptEncryptNew(ioReadMemNew(plain, len), len, key, name);
    int rc = readAll(r, out, step, err);

    ioReadFree(r);
    return rc;
}

/* --- Primitives --------------------------------------------------------------------------- */

/* AES-256-GCM: test cases 13-16 of McGrew & Viega, "The Galois/Counter Mode of Operation", the
 * vectors of NIST's GCM specification. */
static void
testAeadVectors(void) {
    static const struct {
        const char *key, *iv, *plain, *ad, *cipher, *tag;
    } v[] = {
        {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
         "530f8afbc74536b9a963b4f1c4cb738b"},
        {"0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
         "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
         "d0d1c8a799996bf0265b98b5d48ab919"},
        {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657"
         "ba637b391aafd255",
         "",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
         "bcc9f662898015ad",
         "b094dac5d93471bdec1a502270e3cc6c"},
        {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657"
         "ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0a"
         "bcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"},
    };

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t keyLen, ivLen, plainLen, adLen, cipherLen, tagLen;
        uint8_t *key = hex(v[i].key, &keyLen), *iv = hex(v[i].iv, &ivLen);
        uint8_t *plain = hex(v[i].plain, &plainLen), *ad = hex(v[i].ad, &adLen);
        uint8_t *cipher = hex(v[i].cipher, &cipherLen), *tag = hex(v[i].tag, &tagLen);
        uint8_t out[64], back[64], gotTag[CRYPTO_AEAD_TAG_LEN];
        CryptoAead *seal = cryptoAeadNew(key, true), *open = cryptoAeadNew(key, false);

        REQUIRE(keyLen == 32 && ivLen == 12 && tagLen == 16 && plainLen <= sizeof(out));
        cryptoAeadSeal(seal, iv, ad, adLen, plain, plainLen, out, gotTag);
        CHECK(memcmp(out, cipher, cipherLen) == 0 && cipherLen == plainLen);
        CHECK(memcmp(gotTag, tag, 16) == 0);
        /* The same key schedule again, for another nonce and back: nothing carries over. */
        cryptoAeadSeal(seal, iv, ad, adLen, plain, plainLen, out, gotTag);
        CHECK(memcmp(gotTag, tag, 16) == 0);
        CHECK(cryptoAeadOpen(open, iv, ad, adLen, cipher, cipherLen, tag, back));
        CHECK(memcmp(back, plain, plainLen) == 0);
        /* In place. */
        memcpy(back, cipher, cipherLen);
        CHECK(cryptoAeadOpen(open, iv, ad, adLen, back, cipherLen, tag, back));
        CHECK(memcmp(back, plain, plainLen) == 0);
        /* A flipped bit of the tag, of the ciphertext, of the AD or of the nonce: refused, and
         * the output is zeroed. */
        tag[5] ^= 0x10;
        memset(back, 0xaa, sizeof(back));
        CHECK(!cryptoAeadOpen(open, iv, ad, adLen, cipher, cipherLen, tag, back));
        for (size_t j = 0; j < cipherLen; j++)
            CHECK(back[j] == 0);
        tag[5] ^= 0x10;
        if (cipherLen > 0) {
            cipher[cipherLen - 1] ^= 1;
            CHECK(!cryptoAeadOpen(open, iv, ad, adLen, cipher, cipherLen, tag, back));
            cipher[cipherLen - 1] ^= 1;
        }
        if (adLen > 0) {
            ad[0] ^= 0x80;
            CHECK(!cryptoAeadOpen(open, iv, ad, adLen, cipher, cipherLen, tag, back));
            ad[0] ^= 0x80;
        }
        iv[11] ^= 1;
        CHECK(!cryptoAeadOpen(open, iv, ad, adLen, cipher, cipherLen, tag, back));
        iv[11] ^= 1;
        CHECK(cryptoAeadOpen(open, iv, ad, adLen, cipher, cipherLen, tag, back));
        cryptoAeadFree(seal);
        cryptoAeadFree(open);
        bvFree(key);
        bvFree(iv);
        bvFree(plain);
        bvFree(ad);
        bvFree(cipher);
        bvFree(tag);
    }
    cryptoAeadFree(NULL);
}

/* PBKDF2-HMAC-SHA256: the RFC 6070 inputs with SHA-256 (the values everyone cross-checks with),
 * and the PBKDF2-HMAC-SHA256 vector of RFC 7914, section 11. */
static void
testPbkdf2Vectors(void) {
    uint8_t out[64];

    cryptoPbkdf2Sha256("password", 8, (const uint8_t *)"salt", 4, 1, out, 32);
    checkHex(out, 32, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b", "c=1");
    cryptoPbkdf2Sha256("password", 8, (const uint8_t *)"salt", 4, 2, out, 32);
    checkHex(out, 32, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43", "c=2");
    cryptoPbkdf2Sha256("password", 8, (const uint8_t *)"salt", 4, 4096, out, 32);
    checkHex(out, 32, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a", "c=4096");
    cryptoPbkdf2Sha256("passwordPASSWORDpassword", 24, (const uint8_t *)"saltSALTsaltSALTsaltSALTsaltSALTsalt", 36,
                       4096, out, 40);
    checkHex(out, 40, "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9",
             "long inputs");
    cryptoPbkdf2Sha256("passwd", 6, (const uint8_t *)"salt", 4, 1, out, 64);
    checkHex(out, 64,
             "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e3"
             "0bd509112041d3a19783",
             "RFC 7914");
}

/* HKDF-SHA256: RFC 5869 test cases 1 and 3. */
static void
testHkdfVectors(void) {
    uint8_t ikm[22], salt[13], info[10], out[42];

    memset(ikm, 0x0b, sizeof(ikm));
    for (size_t i = 0; i < sizeof(salt); i++)
        salt[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof(info); i++)
        info[i] = (uint8_t)(0xf0 + i);
    cryptoHkdfSha256(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info), out, sizeof(out));
    checkHex(out, sizeof(out), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
             "RFC 5869 case 1");
    cryptoHkdfSha256(ikm, sizeof(ikm), NULL, 0, NULL, 0, out, sizeof(out));
    checkHex(out, sizeof(out), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
             "RFC 5869 case 3");
    CHECK(cryptoEqual("abc", "abc", 3));
    CHECK(!cryptoEqual("abc", "abd", 3));
}

/* --- The object format -------------------------------------------------------------------- */

static void
testSizes(void) {
    static const uint64_t sizes[] = {0, 1, 15, 16, C - 1, C, C + 1, 2 * C, 2 * C + 1, 10 * 1024 * 1024, 1ull << 40};
    uint64_t plain;

    CHECK(storageCryptObjectSize(0) == H + 16);
    CHECK(storageCryptObjectSize(1) == H + 17);
    CHECK(storageCryptObjectSize(C) == H + SEALED);
    CHECK(storageCryptObjectSize(C + 1) == H + SEALED + 17);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        CHECK(storageCryptPlainSize(storageCryptObjectSize(sizes[i]), &plain));
        CHECK(plain == sizes[i]);
    }
    /* Sizes no encrypted object has: too small, a final chunk without its tag, an empty final
     * chunk after a full one. */
    for (uint64_t s = 0; s < H + 16; s++)
        CHECK(!storageCryptPlainSize(s, &plain));
    CHECK(!storageCryptPlainSize(H + SEALED + 15, &plain));
    CHECK(!storageCryptPlainSize(H + SEALED + 16, &plain));
    CHECK(!storageCryptPlainSize(H + 2 * SEALED + 1, &plain));
}

/* The filters alone: every size around the chunk boundaries and a large one, read in odd steps. */
static void
testFilterRoundTrip(void) {
    static const size_t sizes[] = {0, 1, C - 1, C, C + 1, 2 * C, 3 * C + 5, 10 * 1024 * 1024};
    static const size_t steps[] = {1, 4093, C, 3 * C};
    /* Encrypted in reads that straddle the chunks, and in reads that hold one or several whole
     * sealed chunks (sealed in the reader's buffer, in place). */
    static const size_t encryptSteps[] = {50000, SEALED, 3 * SEALED + 7, 1024 * 1024};
    StorageCryptKey key;
    uint8_t check[CRYPTO_SHA256_LEN];
    uint8_t *secret = pattern(32, 1);
    Err err = {0};

    REQUIRE(archiveKeyDerive(secret, 32, false, 0, (const uint8_t *)"salt", 4, &key, check, &err) == 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint8_t *plain = pattern(sizes[i], (uint32_t)i + 7);
        Buf *cipher = bufNew(0), *back = bufNew(0);
        size_t step = steps[i % 4];
        IoRead *r;

        REQUIRE(encryptBuf(&key, "segments/x.bvs", plain, sizes[i], encryptSteps[i % 4], cipher, &err) == 0);
        CHECK(cipher->len == storageCryptObjectSize(sizes[i]));
        CHECK(memcmp(cipher->data, "BVENC\0\1\n", 8) == 0);
        if (sizes[i] >= 64)
            CHECK(memmem(cipher->data, cipher->len, plain, 64) == NULL);
        r = storageCryptDecryptNew(ioReadMemNew(cipher->data, cipher->len), &key, "segments/x.bvs");
        if (step == 1 && sizes[i] > 3 * C)
            step = 4093;
        CHECK(readAll(r, back, step, &err) == 0);
        CHECK(back->len == sizes[i]);
        CHECK(back->len == sizes[i] && memcmp(back->data, plain, sizes[i]) == 0);
        /* Read again after the end: still 0. */
        CHECK(ioRead(r, bufReserve(back, 16), 16, &err) == 0);
        ioReadFree(r);
        bufFree(cipher);
        bufFree(back);
        bvFree(plain);
    }
    bvFree(secret);
}

/* The encryptor never completes an object whose plaintext is not what was announced: a source
 * shorter or longer than stated, or one whose verifying filter fails at its end, fails the stream
 * before the final chunk is handed out. */
static void
testEncryptorRefuses(void) {
    static const size_t sizes[] = {0, 100, C, 2 * C + 5};
    StorageCryptKey key;
    uint8_t check[CRYPTO_SHA256_LEN], sha256[CRYPTO_SHA256_LEN];
    uint8_t *secret = pattern(32, 3), *plain = pattern(2 * C + 6, 4);
    Buf *out = bufNew(0);
    Err err = {0};

    REQUIRE(archiveKeyDerive(secret, 32, false, 0, (const uint8_t *)"salt", 4, &key, check, &err) == 0);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        IoRead *r;

        /* Longer than announced. */
        bufClear(out);
        r = storageCryptEncryptNew(ioReadMemNew(plain, size + 1), size, &key, "n");
        CHECK(readAll(r, out, 4096, &err) == -1);
        CHECK_INT(err.code, ERR_CHECKSUM);
        CHECK(out->len < storageCryptObjectSize(size));
        ioReadFree(r);
        /* Shorter. */
        if (size > 0) {
            bufClear(out);
            r = storageCryptEncryptNew(ioReadMemNew(plain, size - 1), size, &key, "n");
            CHECK(readAll(r, out, 4096, &err) == -1);
            CHECK_INT(err.code, ERR_CHECKSUM);
            CHECK(out->len < storageCryptObjectSize(size));
            ioReadFree(r);
        }
        /* The right length but not the described content. */
        cryptoSha256(plain, size, sha256);
        sha256[0] ^= 1;
        bufClear(out);
        r = storageCryptEncryptNew(ioReadVerifyNew(ioReadMemNew(plain, size), size, sha256, "'f'"), size,
                                   &key, "n");
        CHECK(readAll(r, out, 4096, &err) == -1);
        CHECK_INT(err.code, ERR_CHECKSUM);
        CHECK_MSG(err.msg, "'f' does not match its description");
        CHECK(out->len < storageCryptObjectSize(size));
        ioReadFree(r);
    }
    bufFree(out);
    bvFree(plain);
    bvFree(secret);
}

/* Two writes of the same plaintext: other salt and nonces, so other ciphertext. */
static void
testFreshNonces(void) {
    StorageCryptKey key;
    uint8_t check[CRYPTO_SHA256_LEN];
    uint8_t *secret = pattern(32, 2), *plain = pattern(1000, 3);
    Buf *a = bufNew(0), *b = bufNew(0);
    Err err = {0};

    REQUIRE(archiveKeyDerive(secret, 32, false, 0, (const uint8_t *)"s", 1, &key, check, &err) == 0);
    REQUIRE(encryptBuf(&key, "n", plain, 1000, 4096, a, &err) == 0);
    REQUIRE(encryptBuf(&key, "n", plain, 1000, 4096, b, &err) == 0);
    REQUIRE(a->len == b->len);
    /* Magic, cipher, chunk size, key id agree; salt and nonce prefix differ. */
    CHECK(memcmp(a->data, b->data, 20) == 0);
    CHECK(memcmp(a->data + 20, b->data + 20, 16) != 0);
    CHECK(memcmp(a->data + 36, b->data + 36, 7) != 0);
    CHECK(memcmp(a->data + H, b->data + H, a->len - H) != 0);
    bufFree(a);
    bufFree(b);
    bvFree(secret);
    bvFree(plain);
}

/* --- The decorator on a directory store ---------------------------------------------------- */

/* The encrypting store knows a key and one plaintext name, nothing of archives: the name passes
 * through as stored, every other object is stored encrypted and read back as plaintext. */
static void
testStoreWithKey(void) {
    char *root = bvSprintf("%s/bare", testTmpDir()), *raw;
    uint8_t *secret = pattern(32, 5), check[CRYPTO_SHA256_LEN], *data;
    StorageCryptKey key;
    StorageInfo head;
    Storage *s;
    Buf *got = bufNew(0);
    size_t len;
    Err err = {0};

    REQUIRE(archiveKeyDerive(secret, 32, false, 0, (const uint8_t *)"salt", 4, &key, check, &err) == 0);
    mkdir(root, 0700);
    s = storageNew(root, &err);
    REQUIRE(s != NULL);
    s = storageCryptNew(s, &key, "plain.txt", NULL);
    CHECK(storagePutBuf(s, "plain.txt", "as is", 5, STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK(storagePutBuf(s, "dir/secret", "hidden text", 11, STORAGE_PUT_IMMUTABLE, &err) == 0);
    raw = bvSprintf("%s/plain.txt", root);
    data = testReadFile(raw, &len);
    CHECK(data != NULL && len == 5 && memcmp(data, "as is", 5) == 0);
    free(data);
    bvFree(raw);
    raw = bvSprintf("%s/dir/secret", root);
    data = testReadFile(raw, &len);
    CHECK(data != NULL && len == storageCryptObjectSize(11) && storageCryptIsObject(data));
    CHECK(data != NULL && memmem(data, len, "hidden", 6) == NULL);
    free(data);
    bvFree(raw);
    CHECK(readObject(s, "dir/secret", 0, 0, got, &err) == 0);
    CHECK(got->len == 11 && memcmp(got->data, "hidden text", 11) == 0);
    CHECK(storageHead(s, "dir/secret", &head, &err) == 0);
    CHECK(head.exists && head.size == 11);
    CHECK(storagePutBuf(s, "dir/secret", "hidden text", 11, STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK(storagePutBuf(s, "dir/secret", "other text!", 11, STORAGE_PUT_IMMUTABLE, &err) == -1);
    CHECK_INT(err.code, ERR_EXISTS);
    storageFree(s);
    bufFree(got);
    bvFree(secret);
    bvFree(root);
}

static void
testStoreRoundTripAndRanges(void) {
    static const size_t sizes[] = {0, 1, C - 1, C, C + 1, 3 * C + 777};
    char *keyFile = rawKeyFile("key", 11);
    Storage *s;
    Buf *got = bufNew(0);
    Err err = {0};

    envClear();
    s = newArchive("store", keyFile);
    REQUIRE(s != NULL);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t size = sizes[i];
        uint8_t *plain = pattern(size, (uint32_t)i + 100);
        char name[64], *local = bvSprintf("%s/local-%zu", testTmpDir(), i), *raw;
        uint64_t offsets[] = {0, 1, C - 1, C, C + 1, 2 * C - 1, 2 * C, 3 * C, size > 0 ? size - 1 : 0, size};
        StoragePutInfo info;
        StorageInfo head;
        struct stat st;

        snprintf(name, sizeof(name), "segments/obj-%zu.bvs", i);
        writeFile(local, plain, size, 0600);
        REQUIRE(storagePutInfoFromFile(local, &info, &err) == 0);
        REQUIRE(storagePutFile(s, name, local, &info, &err) == 0);
        /* Stored encrypted: the raw size follows the format, no plaintext in it. */
        raw = objectPath("store", name);
        REQUIRE(stat(raw, &st) == 0);
        CHECK((uint64_t)st.st_size == storageCryptObjectSize(size));
        REQUIRE(storageHead(s, name, &head, &err) == 0);
        CHECK(head.exists && head.size == size);
        CHECK(readObject(s, name, 0, 0, got, &err) == 0);
        CHECK(got->len == size && memcmp(got->data, plain, size) == 0);
        /* Ranges: every interesting offset with lengths 1, a chunk, a chunk + 1 and to the end. */
        for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
            uint64_t off = offsets[o], lens[] = {1, C, C + 1, 0};

            if (off > size)
                continue;
            for (size_t l = 0; l < 4; l++) {
                uint64_t len = lens[l];

                if (len > size - off) {
                    /* Past the end: refused. */
                    CHECK(readObject(s, name, off, len, got, &err) == -1);
                    CHECK_INT(err.code, ERR_FORMAT);
                    continue;
                }
                if (off == 0 && len == 0)
                    continue;
                if (readObject(s, name, off, len, got, &err) != 0) {
                    testFail(__FILE__, __LINE__, "size %zu range %llu+%llu: %s", size,
                             (unsigned long long)off, (unsigned long long)len, err.msg);
                    continue;
                }
                if (len == 0)
                    len = size - off;
                if (got->len != len || memcmp(got->data, plain + off, len) != 0)
                    testFail(__FILE__, __LINE__, "size %zu range %llu+%llu: %zu bytes, wrong content",
                             size, (unsigned long long)off, (unsigned long long)len, got->len);
            }
        }
        CHECK(readObject(s, name, size + 1, 0, got, &err) == -1);
        CHECK_INT(err.code, ERR_FORMAT);
        bvFree(raw);
        bvFree(local);
        bvFree(plain);
    }
    CHECK(readObject(s, "segments/none", 0, 0, got, &err) == -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK(readObject(s, "segments/none", 5, 1, got, &err) == -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    storageFree(s);
    bufFree(got);
    bvFree(keyFile);
}

typedef struct ListSeen {
    char names[8][64];
    uint64_t sizes[8];
    int count;
} ListSeen;

static int
listCb(const char *name, uint64_t size, void *data, Err *err) {
    ListSeen *seen = data;

    (void)err;
    if (seen->count < 8) {
        snprintf(seen->names[seen->count], sizeof(seen->names[0]), "%s", name);
        seen->sizes[seen->count] = size;
    }
    seen->count++;
    return 0;
}

/* Identity in plaintext with the settings; sizes listed are the plaintext's; re-storing the same
 * plaintext is a no-op, other content refused; no plaintext and no temporary file left behind. */
static void
testStoreIdentityAndImmutability(void) {
    static const char secretText[] = "INSERT INTO secrets VALUES ('the launch codes are 0000')";
    char *keyFile = rawKeyFile("key", 12), *raw, *local, *spool;
    uint8_t *data;
    size_t len;
    Storage *s;
    StorageInfo head;
    ListSeen seen = {0};
    StoragePutInfo info;
    Buf *got = bufNew(0);
    Err err = {0};
    DIR *d;
    struct dirent *de;
    int leftovers = 0;

    envClear();
    s = newArchive("store", keyFile);
    REQUIRE(s != NULL);
    raw = objectPath("store", "binvault.json");
    data = testReadFile(raw, &len);
    REQUIRE(data != NULL);
    data = realloc(data, len + 1);
    data[len] = '\0';
    {
        static const char start[] = "{\"format\":\"binvault-archive\",\"version\":1,\"encryption\":{\"version\":1,"
                                    "\"cipher\":\"aes-256-gcm\",\"kdf\":\"none\",\"salt\":\"";

        CHECK(strncmp((char *)data, start, strlen(start)) == 0);
    }
    CHECK(strstr((char *)data, "\"key_check\":\"") != NULL);
    CHECK(len > 0 && data[len - 1] == '\n' && data[len - 2] == '}');
    free(data);
    bvFree(raw);
    /* Reading it back gives what is stored; storing it again (the agent's restart) is a no-op;
     * another identity is ERR_EXISTS. */
    CHECK(readObject(s, "binvault.json", 0, 0, got, &err) == 0);
    CHECK(strstr((char *)got->data, "\"encryption\":") != NULL);
    CHECK(storagePutBuf(s, "binvault.json", IDENTITY_DOC, strlen(IDENTITY_DOC), STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK(storagePutBuf(s, "binvault.json", "{\"x\":1}", 7, STORAGE_PUT_IMMUTABLE, &err) == -1);
    CHECK_INT(err.code, ERR_EXISTS);

    CHECK(storagePutBuf(s, "checkpoint.json", secretText, sizeof(secretText) - 1, STORAGE_PUT_REPLACE, &err) == 0);
    CHECK(storagePutBuf(s, "checkpoint.json", secretText, sizeof(secretText) - 2, STORAGE_PUT_REPLACE, &err) == 0);
    CHECK(readObject(s, "checkpoint.json", 0, 0, got, &err) == 0);
    CHECK(got->len == sizeof(secretText) - 2 && memcmp(got->data, secretText, got->len) == 0);
    local = bvSprintf("%s/spool/seg.bvs", testTmpDir());
    spool = bvSprintf("%s/spool", testTmpDir());
    mkdir(spool, 0700);
    writeFile(local, secretText, sizeof(secretText) - 1, 0600);
    REQUIRE(storagePutInfoFromFile(local, &info, &err) == 0);
    CHECK(storagePutFile(s, "segments/1.bvs", local, &info, &err) == 0);
    /* Again: identical plaintext, a no-op although the ciphertext would differ. */
    CHECK(storagePutFile(s, "segments/1.bvs", local, &info, &err) == 0);
    CHECK(storagePutBuf(s, "segments/1.bvs", secretText, sizeof(secretText) - 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK(storagePutBuf(s, "segments/1.bvs", secretText, sizeof(secretText) - 2, STORAGE_PUT_IMMUTABLE, &err) == -1);
    CHECK_INT(err.code, ERR_EXISTS);
    CHECK_MSG(err.msg, "already exists");
    /* A file that does not match its description is refused before anything is stored. */
    info.sha256[0] ^= 1;
    CHECK(storagePutFile(s, "segments/2.bvs", local, &info, &err) == -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK(storageHead(s, "segments/2.bvs", &head, &err) == 0);
    CHECK(!head.exists);
    /* Temporary files next to the source are gone. */
    d = opendir(spool);
    REQUIRE(d != NULL);
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".tmp") != NULL)
            leftovers++;
    closedir(d);
    CHECK_INT(leftovers, 0);
    /* Listing: plaintext sizes; the raw objects hold no plaintext. */
    CHECK(storageList(s, "", listCb, &seen, &err) == 0);
    REQUIRE(seen.count == 3);
    CHECK_STR(seen.names[1], "checkpoint.json");
    CHECK(seen.sizes[1] == sizeof(secretText) - 2);
    CHECK_STR(seen.names[2], "segments/1.bvs");
    CHECK(seen.sizes[2] == sizeof(secretText) - 1);
    for (int i = 1; i < 3; i++) {
        raw = objectPath("store", seen.names[i]);
        data = testReadFile(raw, &len);
        REQUIRE(data != NULL);
        CHECK(memmem(data, len, "launch codes", 12) == NULL);
        free(data);
        bvFree(raw);
    }
    storageFree(s);
    bufFree(got);
    bvFree(local);
    bvFree(spool);
    bvFree(keyFile);
}

/* Store `size` bytes as `name` and return the raw path and the plaintext. */
static char *
storeForTamper(Storage *s, const char *dir, const char *name, size_t size, uint8_t **plain) {
    Err err = {0};

    *plain = pattern(size, 77);
    if (storagePutBuf(s, name, *plain, size, STORAGE_PUT_IMMUTABLE, &err) != 0)
        testFail(__FILE__, __LINE__, "put: %s", err.msg);
    return objectPath(dir, name);
}

/* Read the object whole and by a range in its second chunk: both must fail with ERR_FORMAT, and
 * whatever was handed out before the failure must be a prefix of the plaintext made of whole
 * authenticated chunks. */
static void
expectTampered(Storage *s, const char *name, const uint8_t *plain, const char *what, const char *msgPart,
               bool rangeToo) {
    Buf *got = bufNew(0);
    Err err = {0};

    if (readObject(s, name, 0, 0, got, &err) == 0) {
        testFail(__FILE__, __LINE__, "%s: read whole succeeded", what);
    } else {
        if (err.code != ERR_FORMAT)
            testFail(__FILE__, __LINE__, "%s: code %d: %s", what, err.code, err.msg);
        if (msgPart != NULL && strstr(err.msg, msgPart) == NULL)
            testFail(__FILE__, __LINE__, "%s: message '%s' lacks '%s'", what, err.msg, msgPart);
        if (got->len % C != 0 || memcmp(got->data, plain, got->len) != 0)
            testFail(__FILE__, __LINE__, "%s: %zu unauthenticated bytes handed out", what, got->len);
    }
    if (rangeToo && readObject(s, name, C + 10, 2 * C, got, &err) == 0)
        testFail(__FILE__, __LINE__, "%s: ranged read succeeded", what);
    bufFree(got);
}

static void
testTamper(void) {
    char *keyFile = rawKeyFile("key", 13), *path, *other;
    uint8_t *plain, *orig, *buf;
    size_t size = 3 * C + 100, len;
    Storage *s;
    Err err = {0};
    Buf *got = bufNew(0);
    static const struct {
        size_t at;
        const char *what, *msg;
    } flips[] = {
        {0, "magic", "not an encrypted object"},
        {6, "version", "version 2 is not supported"},
        {8, "cipher", "unknown cipher"},
        {9, "chunk size", "chunk size"},
        {10, "reserved", "reserved byte"},
        {12, "key id", "another key"},
        {20, "salt", "does not authenticate"},
        {35, "salt end", "does not authenticate"},
        {36, "nonce prefix", "does not authenticate"},
        {42, "nonce prefix end", "does not authenticate"},
        {47, "reserved end", "reserved byte"},
        {H + 5, "chunk 0 body", "chunk 0"},
        {H + C + 1, "chunk 0 tag", "chunk 0"},
        {H + SEALED + 100, "chunk 1 body", "chunk 1"},
        {H + 2 * SEALED - 1, "chunk 1 tag", "chunk 1"},
        {H + 3 * SEALED + 3, "final chunk body", "chunk 3"},
        {H + 3 * SEALED + 100 + 15, "final chunk tag", "chunk 3"},
    };

    envClear();
    s = newArchive("store", keyFile);
    REQUIRE(s != NULL);
    path = storeForTamper(s, "store", "segments/t.bvs", size, &plain);
    orig = testReadFile(path, &len);
    REQUIRE(orig != NULL && len == storageCryptObjectSize(size));
    buf = bvMalloc(len);
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        memcpy(buf, orig, len);
        buf[flips[i].at] ^= flips[i].at == 6 ? 3 : 0x01;
        writeFile(path, buf, len, 0640);
        /* A range from chunk 1 on does not read chunk 0. */
        expectTampered(s, "segments/t.bvs", plain, flips[i].what, flips[i].msg,
                       flips[i].at < H || flips[i].at >= H + SEALED);
    }
    /* Truncated at a chunk boundary (the final chunk dropped): a non-final chunk read as final. */
    writeFile(path, orig, H + 3 * SEALED, 0640);
    expectTampered(s, "segments/t.bvs", plain, "truncated at a chunk boundary", "chunk 2", true);
    /* Truncated inside a chunk, and inside the header. */
    writeFile(path, orig, H + 2 * SEALED + 100, 0640);
    expectTampered(s, "segments/t.bvs", plain, "truncated mid-chunk", NULL, true);
    writeFile(path, orig, H + SEALED, 0640);
    expectTampered(s, "segments/t.bvs", plain, "truncated to one chunk", "chunk 0", true);
    writeFile(path, orig, 20, 0640);
    expectTampered(s, "segments/t.bvs", plain, "truncated header", "too small", true);
    /* Bytes appended: the final chunk is no longer last. */
    memcpy(buf, orig, len);
    writeFile(path, orig, len, 0640);
    {
        int fd = open(path, O_WRONLY | O_APPEND);

        REQUIRE(fd >= 0 && write(fd, orig + H, SEALED) == SEALED);
        close(fd);
    }
    expectTampered(s, "segments/t.bvs", plain, "chunk appended", "chunk 3", true);
    /* Chunks 0 and 1 swapped; chunk 1 repeated in place of chunk 2. */
    memcpy(buf, orig, len);
    memcpy(buf + H, orig + H + SEALED, SEALED);
    memcpy(buf + H + SEALED, orig + H, SEALED);
    writeFile(path, buf, len, 0640);
    expectTampered(s, "segments/t.bvs", plain, "chunks swapped", "chunk 0", true);
    memcpy(buf, orig, len);
    memcpy(buf + H + 2 * SEALED, orig + H + SEALED, SEALED);
    writeFile(path, buf, len, 0640);
    expectTampered(s, "segments/t.bvs", plain, "chunk repeated", "chunk 2", true);
    /* Storing the same plaintext over a stored object that does not authenticate: refused as
     * other content (permanent for the uploader), never replaced. */
    memcpy(buf, orig, len);
    buf[H + SEALED + 7] ^= 0x04;
    writeFile(path, buf, len, 0640);
    CHECK(storagePutBuf(s, "segments/t.bvs", plain, size, STORAGE_PUT_IMMUTABLE, &err) == -1);
    CHECK_INT(err.code, ERR_EXISTS);
    CHECK(strstr(err.msg, "cannot be compared") != NULL && strstr(err.msg, "chunk 1") != NULL);
    {
        size_t now;
        uint8_t *still = testReadFile(path, &now);

        CHECK(still != NULL && now == len && memcmp(still, buf, len) == 0);
        free(still);
    }
    /* The intact object reads again, and storing it again is a no-op. */
    writeFile(path, orig, len, 0640);
    CHECK(storagePutBuf(s, "segments/t.bvs", plain, size, STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK(readObject(s, "segments/t.bvs", 0, 0, got, &err) == 0);
    CHECK(got->len == size && memcmp(got->data, plain, size) == 0);
    /* Stored under another name (a segment swapped for another): refused. */
    other = objectPath("store", "segments/u.bvs");
    writeFile(other, orig, len, 0640);
    expectTampered(s, "segments/u.bvs", plain, "renamed", "another name", true);
    /* A plaintext object in an encrypted archive is not handed out. */
    writeFile(other, plain, size, 0640);
    CHECK(readObject(s, "segments/u.bvs", 0, 0, got, &err) == -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "not an encrypted object");
    storageFree(s);
    bvFree(other);
    bvFree(buf);
    free(orig);
    bvFree(plain);
    bvFree(path);
    bufFree(got);
    bvFree(keyFile);
}

/* An object of another archive (another key) copied in, same name: refused by its key id. */
static void
testForeignObject(void) {
    char *keyA = rawKeyFile("keyA", 21), *keyB = rawKeyFile("keyB", 22), *pa, *pb;
    uint8_t *plain, *data;
    size_t len;
    Storage *a, *b;
    Buf *got = bufNew(0);
    Err err = {0};

    envClear();
    a = newArchive("a", keyA);
    b = newArchive("b", keyB);
    REQUIRE(a != NULL && b != NULL);
    pa = storeForTamper(a, "a", "index/1.bvi", 1000, &plain);
    pb = objectPath("b", "index/1.bvi");
    {
        char *dir = bvSprintf("%s/b/index", testTmpDir());

        mkdir(dir, 0750);
        bvFree(dir);
    }
    data = testReadFile(pa, &len);
    REQUIRE(data != NULL);
    writeFile(pb, data, len, 0640);
    CHECK(readObject(b, "index/1.bvi", 0, 0, got, &err) == -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "another key");
    CHECK(readObject(a, "index/1.bvi", 0, 0, got, &err) == 0);
    free(data);
    storageFree(a);
    storageFree(b);
    bvFree(pa);
    bvFree(pb);
    bvFree(plain);
    bufFree(got);
    bvFree(keyA);
    bvFree(keyB);
}

/* An object made here from the description of docs/FORMAT.md alone, with the AEAD primitive:
 * `lens` are the plaintext lengths of its chunks, `finals` their final flags. */
static void
craftObject(const StorageCryptKey *key, const char *name, const uint8_t *plain, const size_t *lens,
            const bool *finals, size_t chunks, Buf *out) {
    uint8_t header[H] = {0}, objectKey[32], nonce[12], tag[16], *ad;
    size_t nameLen = strlen(name), at = 0;
    CryptoAead *aead;

    memcpy(header, "BVENC\0\1\n", 8);
    header[8] = 1;
    header[9] = 16;
    memcpy(header + 12, key->keyId, 8);
    for (int i = 0; i < 16; i++)
        header[20 + i] = (uint8_t)(0x40 + i);
    for (int i = 0; i < 7; i++)
        header[36 + i] = (uint8_t)(0x70 + i);
    cryptoHkdfSha256(key->key, 32, header + 20, 16, "binvault object key v1", 22, objectKey, 32);
    aead = cryptoAeadNew(objectKey, true);
    ad = bvMalloc(H + 9 + nameLen);
    memcpy(ad, header, H);
    memcpy(ad + H + 9, name, nameLen);
    bufClear(out);
    bufAppend(out, header, H);
    for (size_t i = 0; i < chunks; i++) {
        uint8_t *dst = bufReserve(out, lens[i]);

        memcpy(nonce, header + 36, 7);
        nonce[7] = (uint8_t)(i >> 24);
        nonce[8] = (uint8_t)(i >> 16);
        nonce[9] = (uint8_t)(i >> 8);
        nonce[10] = (uint8_t)i;
        nonce[11] = finals[i];
        for (int b = 0; b < 8; b++)
            ad[H + b] = (uint8_t)((uint64_t)i >> (8 * b));
        ad[H + 8] = finals[i];
        cryptoAeadSeal(aead, nonce, ad, H + 9 + nameLen, plain + at, lens[i], dst, tag);
        out->len += lens[i];
        bufAppend(out, tag, 16);
        at += lens[i];
    }
    cryptoAeadFree(aead);
    bvFree(ad);
}

/* The reader follows the documented format (an object made independently reads back), and
 * refuses encodings that the format rules out although they authenticate. */
static void
testCraftedObjects(void) {
    char *keyFile = rawKeyFile("key", 61), *path, *idPath;
    uint8_t *plain = pattern(2 * C, 62), *secret = pattern(32, 61), salt[16], *id;
    StorageCryptKey key;
    Storage *s;
    Buf *obj = bufNew(0), *got = bufNew(0);
    Err err = {0};
    size_t idLen, two[2] = {C, 10}, emptyLast[2] = {C, 0}, three[3] = {C, 5, 5};
    bool finals2[2] = {false, true}, finalFirst[2] = {true, true}, finals3[3] = {false, false, true};
    uint8_t check[32];
    const char *p;

    envClear();
    s = newArchive("store", keyFile);
    REQUIRE(s != NULL);
    /* The archive key as binvault.json describes it: raw key, key check over the salt. */
    idPath = objectPath("store", "binvault.json");
    id = testReadFile(idPath, &idLen);
    REQUIRE(id != NULL);
    id = realloc(id, idLen + 1);
    id[idLen] = '\0';
    p = strstr((char *)id, "\"salt\":\"");
    REQUIRE(p != NULL);
    REQUIRE(cryptoHexDecode(p + 8, 32, salt, sizeof(salt), &idLen, &err) == 0);
    REQUIRE(archiveKeyDerive(secret, 32, false, 0, salt, 16, &key, check, &err) == 0);
    {
        char hexCheck[65];

        cryptoHexEncode(check, 32, hexCheck);
        CHECK(strstr((char *)id, hexCheck) != NULL);
    }
    path = objectPath("store", "index/c.bvi");
    {
        char *dir = bvSprintf("%s/store/index", testTmpDir());

        mkdir(dir, 0750);
        bvFree(dir);
    }
    craftObject(&key, "index/c.bvi", plain, two, finals2, 2, obj);
    writeFile(path, obj->data, obj->len, 0640);
    CHECK(readObject(s, "index/c.bvi", 0, 0, got, &err) == 0);
    CHECK(got->len == C + 10 && memcmp(got->data, plain, C + 10) == 0);
    CHECK(readObject(s, "index/c.bvi", C + 3, 7, got, &err) == 0);
    CHECK(got->len == 7 && memcmp(got->data, plain + C + 3, 7) == 0);
    /* An empty final chunk after a full one. */
    craftObject(&key, "index/c.bvi", plain, emptyLast, finals2, 2, obj);
    writeFile(path, obj->data, obj->len, 0640);
    CHECK(readObject(s, "index/c.bvi", 0, 0, got, &err) == -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "empty chunk");
    /* A final chunk that is not the last, a short chunk that is not final. */
    craftObject(&key, "index/c.bvi", plain, two, finalFirst, 2, obj);
    writeFile(path, obj->data, obj->len, 0640);
    CHECK(readObject(s, "index/c.bvi", 0, 0, got, &err) == -1);
    CHECK_INT(err.code, ERR_FORMAT);
    craftObject(&key, "index/c.bvi", plain, three, finals3, 3, obj);
    writeFile(path, obj->data, obj->len, 0640);
    CHECK(readObject(s, "index/c.bvi", 0, 0, got, &err) == -1);
    CHECK_INT(err.code, ERR_FORMAT);
    storageFree(s);
    free(id);
    bvFree(idPath);
    bvFree(path);
    bvFree(plain);
    bvFree(secret);
    bufFree(obj);
    bufFree(got);
    bvFree(keyFile);
}

/* Opening: keys, modes, missing key, wrong key, unencrypted archives, new archives. */
static void
testOpen(void) {
    char *key = rawKeyFile("key", 31), *wrong = rawKeyFile("wrong", 32);
    char *loose = bvSprintf("%s/loose", testTmpDir()), *empty = bvSprintf("%s/empty", testTmpDir());
    char *missing = bvSprintf("%s/missing", testTmpDir());
    Storage *s;
    Buf *got = bufNew(0);
    Err err = {0};
    uint8_t *k = pattern(32, 31);

    envClear();
    s = newArchive("enc", key);
    REQUIRE(s != NULL);
    CHECK(storagePutBuf(s, "checkpoint.json", "{}", 2, STORAGE_PUT_REPLACE, &err) == 0);
    storageFree(s);
    /* No key: refused up front, naming --key-file. */
    CHECK(openStore("enc", NULL, false, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK(strstr(err.msg, "is encrypted") != NULL && strstr(err.msg, "--key-file") != NULL);
    /* Wrong key: the key check says so. */
    CHECK(openStore("enc", wrong, false, &err) == NULL);
    CHECK_INT(err.code, ERR_AUTH);
    CHECK(strstr(err.msg, "wrong key for archive '") != NULL && strstr(err.msg, "(key check failed)") != NULL);
    /* A key file others can read, an empty one, a missing one. */
    writeFile(loose, k, 32, 0644);
    CHECK(openStore("enc", loose, false, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "chmod 600");
    writeFile(loose, k, 32, 0640);
    CHECK(openStore("enc", loose, false, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    writeFile(loose, k, 32, 0400);
    s = openStore("enc", loose, false, &err);
    CHECK(s != NULL);
    storageFree(s);
    if (geteuid() == 0) {
        writeFile(loose, k, 32, 0600);
        REQUIRE(chown(loose, 65534, 65534) == 0);
        CHECK(openStore("enc", loose, false, &err) == NULL);
        CHECK_INT(err.code, ERR_CONFIG);
        CHECK_MSG(err.msg, "belongs to uid 65534");
    }
    writeFile(empty, "", 0, 0600);
    CHECK(openStore("enc", empty, false, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK(openStore("enc", missing, false, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "unable to open the key file");
    /* The right key; --encrypt on an encrypted archive changes nothing. The store reads no
     * environment: BINVAULT_KEY_FILE alone opens nothing (the option tables read it). */
    setenv("BINVAULT_KEY_FILE", key, 1);
    CHECK(openStore("enc", NULL, false, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    envClear();
    s = openStore("enc", key, true, &err);
    REQUIRE(s != NULL);
    CHECK(readObject(s, "checkpoint.json", 0, 0, got, &err) == 0);
    CHECK(got->len == 2 && memcmp(got->data, "{}", 2) == 0);
    storageFree(s);
    envClear();

    /* An unencrypted archive: readable as before, with a key too (a warning); --encrypt refused. */
    s = openStore("plain", NULL, false, &err);
    REQUIRE(s != NULL);
    CHECK(storagePutBuf(s, "binvault.json", IDENTITY_DOC, strlen(IDENTITY_DOC), STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK(storagePutBuf(s, "checkpoint.json", "{\"seq\":1}", 9, STORAGE_PUT_REPLACE, &err) == 0);
    storageFree(s);
    s = openStore("plain", key, false, &err);
    REQUIRE(s != NULL);
    CHECK(readObject(s, "checkpoint.json", 0, 0, got, &err) == 0);
    CHECK(got->len == 9 && memcmp(got->data, "{\"seq\":1}", 9) == 0);
    storageFree(s);
    CHECK(openStore("plain", key, true, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "not encrypted");
    setenv("BINVAULT_ENCRYPT", "1", 1);
    s = openStore("plain", key, false, &err);
    CHECK(s != NULL);
    storageFree(s);
    envClear();

    /* An encrypted archive whose binvault.json lost its settings: not taken for a plain one. */
    {
        char *id = objectPath("enc", "binvault.json");

        writeFile(id, IDENTITY_DOC, strlen(IDENTITY_DOC), 0640);
        CHECK(openStore("enc", key, false, &err) == NULL);
        CHECK_INT(err.code, ERR_FORMAT);
        CHECK_MSG(err.msg, "was modified");
        {
            static const char doc[] = "{\"encryption\":{\"version\":1,\"cipher\":\"aes-256-gcm\",\"kdf\":\"scrypt\"}}";

            writeFile(id, doc, strlen(doc), 0640);
        }
        CHECK(openStore("enc", key, false, &err) == NULL);
        CHECK_INT(err.code, ERR_FORMAT);
        bvFree(id);
    }

    /* New archives: --encrypt needs a key; a key without --encrypt may not create one. */
    CHECK(openStore("new1", NULL, true, &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "--key-file");
    s = openStore("new1", key, false, &err);
    REQUIRE(s != NULL);
    CHECK(storagePutBuf(s, "binvault.json", IDENTITY_DOC, strlen(IDENTITY_DOC), STORAGE_PUT_IMMUTABLE, &err) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "--encrypt");
    storageFree(s);
    /* With --encrypt, nothing is stored before the identity that holds the settings. */
    s = openStore("new2", key, true, &err);
    REQUIRE(s != NULL);
    CHECK(storagePutBuf(s, "segments/1.bvs", "x", 1, STORAGE_PUT_IMMUTABLE, &err) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "binvault.json");
    CHECK(storagePutBuf(s, "binvault.json", IDENTITY_DOC, strlen(IDENTITY_DOC), STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK(storagePutBuf(s, "segments/1.bvs", "x", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
    storageFree(s);
    s = openStore("new2", key, false, &err);
    REQUIRE(s != NULL);
    CHECK(readObject(s, "segments/1.bvs", 0, 0, got, &err) == 0);
    CHECK(got->len == 1 && got->data[0] == 'x');
    storageFree(s);

    bufFree(got);
    bvFree(k);
    bvFree(key);
    bvFree(wrong);
    bvFree(loose);
    bvFree(empty);
    bvFree(missing);
}

/* Two writers create the same archive at once with their own settings: the second one learns it
 * before it encrypts anything with a key whose settings are not the archive's. */
static void
testConcurrentCreate(void) {
    char *key = rawKeyFile("key", 41);
    Storage *a, *b;
    Err err = {0};

    envClear();
    a = openStore("store", key, true, &err);
    b = openStore("store", key, true, &err);
    REQUIRE(a != NULL && b != NULL);
    CHECK(storagePutBuf(a, "binvault.json", IDENTITY_DOC, strlen(IDENTITY_DOC), STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK(storagePutBuf(b, "segments/1.bvs", "x", 1, STORAGE_PUT_IMMUTABLE, &err) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "created meanwhile");
    CHECK(storagePutBuf(b, "binvault.json", IDENTITY_DOC, strlen(IDENTITY_DOC), STORAGE_PUT_IMMUTABLE, &err) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK(storagePutBuf(a, "segments/1.bvs", "x", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
    storageFree(a);
    storageFree(b);
    bvFree(key);
}

/* A driver over a directory store that can be down (ERR_STORAGE), for the encryption settled at
 * the first operation. */
typedef struct Flaky {
    Storage *inner;
    bool down;
} Flaky;

static int
flakyDown(const Flaky *f, Err *err) {
    return f->down ? errSet(err, ERR_STORAGE, "the store is down") : 0;
}

static int
flakyPut(void *driver, const char *name, const StoragePutSource *src, const StoragePutInfo *info,
         StoragePutMode mode, bool *existed, Err *err) {
    Flaky *f = driver;

    (void)info;
    (void)existed;
    BV_ASSERT(src->path == NULL);
    if (flakyDown(f, err) != 0)
        return -1;
    return storagePutBuf(f->inner, name, src->data, src->len, mode, err);
}

static IoRead *
flakyOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err) {
    Flaky *f = driver;

    return flakyDown(f, err) != 0 ? NULL : storageOpenRead(f->inner, name, offset, length, err);
}

static int
flakyHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    Flaky *f = driver;

    return flakyDown(f, err) != 0 ? -1 : storageHead(f->inner, name, out, err);
}

static int
flakyList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    Flaky *f = driver;

    return flakyDown(f, err) != 0 ? -1 : storageList(f->inner, prefix, cb, data, err);
}

static int
flakyRemove(void *driver, const char *name, Err *err) {
    Flaky *f = driver;

    return flakyDown(f, err) != 0 ? -1 : storageRemove(f->inner, name, err);
}

static int
flakyCleanTemp(void *driver, unsigned minAgeSec, unsigned *removed, Err *err) {
    Flaky *f = driver;

    return flakyDown(f, err) != 0 ? -1 : storageCleanTemp(f->inner, minAgeSec, removed, err);
}

static void
flakyFree(void *driver) {
    Flaky *f = driver;

    storageFree(f->inner);
    bvFree(f);
}

static const StorageDriverVt flakyVt = {
    .put = flakyPut,
    .openRead = flakyOpenRead,
    .head = flakyHead,
    .list = flakyList,
    .remove = flakyRemove,
    .cleanTemp = flakyCleanTemp,
    .free = flakyFree,
};

static Storage *
openFlaky(const char *dir, const char *keyFile, Flaky **flaky, Err *err) {
    char *root = bvSprintf("%s/%s", testTmpDir(), dir);
    Flaky *f = bvCalloc(1, sizeof(*f));

    f->inner = storageNew(root, err);
    f->down = true;
    *flaky = f;
    bvFree(root);
    BV_ASSERT(f->inner != NULL);
    return archiveKeyWrap(storageNewDriver(&flakyVt, f, "flaky://x"), keyFile, false, NULL, err);
}

/* The directory store without its streaming put, as S3 is: encrypted puts go through an
 * encrypted temporary copy, whose path is remembered. */
typedef struct Copying {
    Storage *inner; /* first: storage_wrap.h */
    char *lastSource;
} Copying;

static int
copyingPut(void *driver, const char *name, const StoragePutSource *src, const StoragePutInfo *info,
           StoragePutMode mode, bool *existed, Err *err) {
    Copying *c = driver;

    (void)existed;
    if (src->path == NULL)
        return storagePutBuf(c->inner, name, src->data, src->len, mode, err);
    bvFree(c->lastSource);
    c->lastSource = bvStrdup(src->path);
    return storagePutFile(c->inner, name, src->path, info, err);
}

static void
copyingFree(void *driver) {
    Copying *c = driver;

    storageFree(c->inner);
    bvFree(c->lastSource);
    bvFree(c);
}

static const StorageDriverVt copyingVt = {
    .put = copyingPut,
    .openRead = wrapOpenRead,
    .head = wrapHead,
    .list = wrapList,
    .remove = wrapRemove,
    .cleanTemp = wrapCleanTemp,
    .free = copyingFree,
};

/* A new encrypted archive in "<tmp>/<dir>" on the copying driver; `*copying` is its driver. */
static Storage *
openCopying(const char *dir, const char *keyFile, Copying **copying, Err *err) {
    char *root = bvSprintf("%s/%s", testTmpDir(), dir);
    Copying *c = bvCalloc(1, sizeof(*c));
    Storage *s;

    mkdir(root, 0700);
    c->inner = storageNew(root, err);
    bvFree(root);
    BV_ASSERT(c->inner != NULL);
    *copying = c;
    s = archiveKeyWrap(storageNewDriver(&copyingVt, c, "copying://x"), keyFile, true, getenv("TMPDIR"), err);
    if (s != NULL && storagePutBuf(s, "binvault.json", IDENTITY_DOC, strlen(IDENTITY_DOC),
                                   STORAGE_PUT_IMMUTABLE, err) != 0) {
        storageFree(s);
        return NULL;
    }
    return s;
}

static int
dirEntries(const char *path) {
    DIR *d = opendir(path);
    struct dirent *de;
    int entries = 0;

    BV_ASSERT(d != NULL);
    while ((de = readdir(d)) != NULL)
        entries += de->d_name[0] != '.';
    closedir(d);
    return entries;
}

/* A store with a streaming put (the directory) gets the encrypted bytes straight from the source,
 * with no temporary copy anywhere (so nothing needs $TMPDIR). A store without one gets an
 * encrypted copy, beside the source or in $TMPDIR when it cannot (here: a name too long for the
 * suffix), removed either way. */
static void
testTempFiles(void) {
    char *key = rawKeyFile("key", 81), *dir = bvSprintf("%s/src", testTmpDir());
    char *tmp = bvSprintf("%s/tmpdir", testTmpDir()), *local, *shortLocal, longName[251];
    const char *saved = getenv("TMPDIR");
    char *savedCopy = saved ? bvStrdup(saved) : NULL;
    StoragePutInfo info, shortInfo;
    Storage *s;
    Copying *c;
    Buf *got = bufNew(0);
    Err err = {0};

    envClear();
    mkdir(dir, 0700);
    mkdir(tmp, 0700);
    memset(longName, 'n', sizeof(longName) - 1);
    longName[sizeof(longName) - 1] = '\0';
    local = bvSprintf("%s/%s", dir, longName);
    shortLocal = bvSprintf("%s/short", dir);
    writeFile(local, "long name", 9, 0600);
    writeFile(shortLocal, "short name", 10, 0600);
    REQUIRE(storagePutInfoFromFile(local, &info, &err) == 0);
    REQUIRE(storagePutInfoFromFile(shortLocal, &shortInfo, &err) == 0);

    /* Streaming: not even an unusable $TMPDIR matters. */
    setenv("TMPDIR", "/nonexistent-binvault-dir", 1);
    s = newArchive("store", key);
    REQUIRE(s != NULL);
    CHECK(storagePutFile(s, "segments/long.bvs", local, &info, &err) == 0);
    CHECK(readObject(s, "segments/long.bvs", 0, 0, got, &err) == 0);
    CHECK(got->len == 9 && memcmp(got->data, "long name", 9) == 0);
    CHECK_INT(dirEntries(dir), 2);
    CHECK_INT(dirEntries(tmp), 0);
    storageFree(s);

    /* Copying: beside the source, else in $TMPDIR. */
    setenv("TMPDIR", tmp, 1);
    s = openCopying("copying", key, &c, &err);
    REQUIRE(s != NULL);
    CHECK(storagePutFile(s, "segments/short.bvs", shortLocal, &shortInfo, &err) == 0);
    REQUIRE(c->lastSource != NULL);
    CHECK(strncmp(c->lastSource, dir, strlen(dir)) == 0 && strstr(c->lastSource, ".tmp") != NULL);
    CHECK(storagePutFile(s, "segments/long.bvs", local, &info, &err) == 0);
    CHECK(strncmp(c->lastSource, tmp, strlen(tmp)) == 0);
    CHECK(readObject(s, "segments/long.bvs", 0, 0, got, &err) == 0);
    CHECK(got->len == 9 && memcmp(got->data, "long name", 9) == 0);
    CHECK(readObject(s, "segments/short.bvs", 0, 0, got, &err) == 0);
    CHECK(got->len == 10 && memcmp(got->data, "short name", 10) == 0);
    CHECK_INT(dirEntries(tmp), 0);
    CHECK_INT(dirEntries(dir), 2);
    storageFree(s);
    /* Nowhere to write it: the put fails as a local error, nothing is stored. */
    setenv("TMPDIR", "/nonexistent-binvault-dir", 1);
    s = openCopying("copying2", key, &c, &err);
    REQUIRE(s != NULL);
    CHECK(storagePutFile(s, "segments/long2.bvs", local, &info, &err) == -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_MSG(err.msg, "temporary file");
    if (savedCopy != NULL)
        setenv("TMPDIR", savedCopy, 1);
    else
        unsetenv("TMPDIR");
    storageFree(s);
    bufFree(got);
    bvFree(savedCopy);
    bvFree(shortLocal);
    bvFree(local);
    bvFree(tmp);
    bvFree(dir);
    bvFree(key);
}

/* A store that cannot be reached at open (an agent starting while S3 is down): opening succeeds,
 * the first operations fail as the store does (ERR_STORAGE, retried by the agent), and once it is
 * back the encryption is settled as at open. */
static void
testStoreDownAtOpen(void) {
    char *key = rawKeyFile("key", 71);
    Storage *s;
    Flaky *f;
    Buf *got = bufNew(0);
    ListSeen seen = {0};
    Err err = {0};

    envClear();
    s = newArchive("store", key);
    REQUIRE(s != NULL);
    CHECK(storagePutBuf(s, "checkpoint.json", "{\"a\":1}", 7, STORAGE_PUT_REPLACE, &err) == 0);
    storageFree(s);
    s = openFlaky("store", key, &f, &err);
    REQUIRE(s != NULL);
    CHECK(storageList(s, "", listCb, &seen, &err) == -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK(readObject(s, "checkpoint.json", 0, 0, got, &err) == -1);
    CHECK_INT(err.code, ERR_STORAGE);
    f->down = false;
    CHECK(readObject(s, "checkpoint.json", 0, 0, got, &err) == 0);
    CHECK(got->len == 7 && memcmp(got->data, "{\"a\":1}", 7) == 0);
    CHECK(storageList(s, "", listCb, &seen, &err) == 0);
    CHECK_INT(seen.count, 2);
    CHECK(seen.sizes[1] == 7);
    storageFree(s);
    /* Without the key: the clear error comes with the first operation. */
    s = openFlaky("store", NULL, &f, &err);
    REQUIRE(s != NULL);
    f->down = false;
    CHECK(readObject(s, "checkpoint.json", 0, 0, got, &err) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "--key-file");
    storageFree(s);
    /* A bad key file is refused at open, store or no store. */
    chmod(key, 0644);
    CHECK(openFlaky("store", key, &f, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    bufFree(got);
    bvFree(key);
}

/* A passphrase: PBKDF2 with the stored salt and iterations; a wrong one fails the key check. */
static void
testPassphrase(void) {
    char *pass = bvSprintf("%s/pass", testTmpDir()), *wrong = bvSprintf("%s/wrong", testTmpDir());
    char *id;
    uint8_t *data;
    size_t len;
    Storage *s;
    Buf *got = bufNew(0);
    Err err = {0};

    envClear();
    writeFile(pass, "correct horse battery staple\n", 29, 0600);
    writeFile(wrong, "correct horse battery stapler\n", 30, 0600);
    s = newArchive("store", pass);
    REQUIRE(s != NULL);
    CHECK(storagePutBuf(s, "index/1.bvi", "line\n", 5, STORAGE_PUT_IMMUTABLE, &err) == 0);
    storageFree(s);
    id = objectPath("store", "binvault.json");
    data = testReadFile(id, &len);
    REQUIRE(data != NULL);
    CHECK(memmem(data, len, "\"kdf\":\"pbkdf2-hmac-sha256\",\"iterations\":600000", 46) != NULL);
    CHECK(memmem(data, len, "horse", 5) == NULL);
    free(data);
    CHECK(openStore("store", wrong, false, &err) == NULL);
    CHECK_INT(err.code, ERR_AUTH);
    CHECK_MSG(err.msg, "key check failed");
    /* The same passphrase without its newline is the same key. */
    writeFile(pass, "correct horse battery staple", 28, 0600);
    s = openStore("store", pass, false, &err);
    REQUIRE(s != NULL);
    CHECK(readObject(s, "index/1.bvi", 0, 0, got, &err) == 0);
    CHECK(got->len == 5 && memcmp(got->data, "line\n", 5) == 0);
    storageFree(s);
    /* A raw key for an archive made with a passphrase is just a wrong key. */
    {
        char *raw = rawKeyFile("raw", 51);

        CHECK(openStore("store", raw, false, &err) == NULL);
        CHECK_INT(err.code, ERR_AUTH);
        bvFree(raw);
    }
    bvFree(id);
    bvFree(pass);
    bvFree(wrong);
    bufFree(got);
}

void
suite_crypt(void) {
    testRun("aes-256-gcm vectors", testAeadVectors);
    testRun("pbkdf2-hmac-sha256 vectors", testPbkdf2Vectors);
    testRun("hkdf-sha256 vectors", testHkdfVectors);
    testRun("encrypted object sizes", testSizes);
    testRun("filter round trips across chunk boundaries", testFilterRoundTrip);
    testRun("fresh salt and nonces per object", testFreshNonces);
    testRun("the encryptor refuses a source not as described", testEncryptorRefuses);
    testRun("the encrypting store given a key", testStoreWithKey);
    testRun("store round trips and ranged reads", testStoreRoundTripAndRanges);
    testRun("identity, immutability, no plaintext", testStoreIdentityAndImmutability);
    testRun("temporary files", testTempFiles);
    testRun("every tamper class is refused", testTamper);
    testRun("object of another archive", testForeignObject);
    testRun("objects made from the format description", testCraftedObjects);
    testRun("opening: keys and modes", testOpen);
    testRun("concurrent creation", testConcurrentCreate);
    testRun("store unreachable at open", testStoreDownAtOpen);
    testRun("passphrase", testPassphrase);
}
