#include "common/crypto.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/mem.h"

struct CryptoHash {
    EVP_MD_CTX *ctx;
    CryptoHashType type;
    bool final;
};

/* OpenSSL failed at something that cannot fail short of running out of memory or a broken
 * installation: report the library's reason and abort, as bvMalloc() does. */
static _Noreturn void
cryptoFail(const char *what) {
    char reason[256];
    unsigned long code = ERR_get_error();

    if (code != 0)
        ERR_error_string_n(code, reason, sizeof(reason));
    else
        snprintf(reason, sizeof(reason), "no reason given");
    fprintf(stderr, "binvault: openssl: %s failed: %s\n", what, reason);
    abort();
}

static const EVP_MD *
cryptoMd(CryptoHashType type) {
    switch (type) {
    case CRYPTO_HASH_SHA256:
        return EVP_sha256();
    case CRYPTO_HASH_MD5:
        return EVP_md5();
    }
    bvAssertFail("valid CryptoHashType", __FILE__, __LINE__);
}

size_t
cryptoHashSize(CryptoHashType type) {
    switch (type) {
    case CRYPTO_HASH_SHA256:
        return CRYPTO_SHA256_LEN;
    case CRYPTO_HASH_MD5:
        return CRYPTO_MD5_LEN;
    }
    bvAssertFail("valid CryptoHashType", __FILE__, __LINE__);
}

const char *
cryptoHashName(CryptoHashType type) {
    switch (type) {
    case CRYPTO_HASH_SHA256:
        return "sha256";
    case CRYPTO_HASH_MD5:
        return "md5";
    }
    bvAssertFail("valid CryptoHashType", __FILE__, __LINE__);
}

CryptoHash *
cryptoHashNew(CryptoHashType type) {
    CryptoHash *hash = bvCalloc(1, sizeof(*hash));

    hash->type = type;
    hash->ctx = EVP_MD_CTX_new();
    if (hash->ctx == NULL)
        cryptoFail("EVP_MD_CTX_new");
    if (EVP_DigestInit_ex(hash->ctx, cryptoMd(type), NULL) != 1)
        cryptoFail(type == CRYPTO_HASH_MD5 ? "md5 init" : "sha256 init");
    return hash;
}

void
cryptoHashUpdate(CryptoHash *hash, const void *data, size_t len) {
    BV_ASSERT(!hash->final);
    if (len == 0)
        return;
    if (EVP_DigestUpdate(hash->ctx, data, len) != 1)
        cryptoFail("EVP_DigestUpdate");
}

void
cryptoHashFinal(CryptoHash *hash, uint8_t *out, size_t *len) {
    unsigned int outLen = 0;

    BV_ASSERT(!hash->final);
    if (EVP_DigestFinal_ex(hash->ctx, out, &outLen) != 1)
        cryptoFail("EVP_DigestFinal_ex");
    BV_ASSERT(outLen == cryptoHashSize(hash->type));
    hash->final = true;
    if (len != NULL)
        *len = outLen;
}

void
cryptoHashFree(CryptoHash *hash) {
    if (hash == NULL)
        return;
    EVP_MD_CTX_free(hash->ctx);
    bvFree(hash);
}

static void
cryptoHashOnce(CryptoHashType type, const void *data, size_t len, uint8_t *out) {
    CryptoHash *hash = cryptoHashNew(type);

    cryptoHashUpdate(hash, data, len);
    cryptoHashFinal(hash, out, NULL);
    cryptoHashFree(hash);
}

void
cryptoSha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]) {
    cryptoHashOnce(CRYPTO_HASH_SHA256, data, len, out);
}

void
cryptoMd5(const void *data, size_t len, uint8_t out[CRYPTO_MD5_LEN]) {
    cryptoHashOnce(CRYPTO_HASH_MD5, data, len, out);
}

void
cryptoHmacSha256(const void *key, size_t keyLen, const void *data, size_t len,
                 uint8_t out[CRYPTO_SHA256_LEN]) {
    static const unsigned char empty[1];
    size_t outLen = 0;

    /* EVP_Q_mac() rejects a NULL key even when its length is 0. */
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, keyLen ? key : empty, keyLen,
                  len ? data : empty, len, out, CRYPTO_SHA256_LEN, &outLen) == NULL)
        cryptoFail("HMAC-SHA256");
    BV_ASSERT(outLen == CRYPTO_SHA256_LEN);
}

void
cryptoHexEncode(const uint8_t *data, size_t len, char *out) {
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

static int
cryptoHexDigit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
cryptoHexDecode(const char *hex, size_t hexLen, uint8_t *out, size_t outCap, size_t *outLen,
                Err *err) {
    if (hexLen % 2 != 0)
        return errSet(err, ERR_FORMAT, "invalid hex string of odd length %zu", hexLen);
    if (hexLen / 2 > outCap)
        return errSet(err, ERR_FORMAT, "hex string of %zu bytes is longer than %zu bytes",
                      hexLen / 2, outCap);
    for (size_t i = 0; i < hexLen; i += 2) {
        int hi = cryptoHexDigit(hex[i]), lo = cryptoHexDigit(hex[i + 1]);

        if (hi < 0 || lo < 0)
            return errSet(err, ERR_FORMAT, "invalid hex digit at offset %zu", hi < 0 ? i : i + 1);
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *outLen = hexLen / 2;
    return 0;
}

void
cryptoBase64Encode(const uint8_t *data, size_t len, char *out) {
    /* EVP_EncodeBlock() takes an int length; feed it whole 3-byte groups so the pieces join. */
    const size_t chunk = 3 * 1024 * 1024;

    out[0] = '\0';
    while (len > 0) {
        size_t n = len < chunk ? len : chunk;
        int written = EVP_EncodeBlock((unsigned char *)out, data, (int)n);

        BV_ASSERT(written >= 0 && (size_t)written == CRYPTO_BASE64_SIZE(n) - 1);
        out += written;
        data += n;
        len -= n;
    }
}

int
cryptoRandom(void *buf, size_t len, Err *err) {
    unsigned char *p = buf;

    while (len > 0) {
        int n = len < INT_MAX ? (int)len : INT_MAX;

        if (RAND_bytes(p, n) != 1) {
            char reason[256];

            ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
            return errSet(err, ERR_IO, "unable to generate random bytes: %s", reason);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
