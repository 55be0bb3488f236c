#include "common/crypto.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
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
    case CRYPTO_HASH_SHA1:
        return EVP_sha1();
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
    case CRYPTO_HASH_SHA1:
        return CRYPTO_SHA1_LEN;
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
    case CRYPTO_HASH_SHA1:
        return "sha1";
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
        cryptoFail(cryptoHashName(type));
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
cryptoSha1(const void *data, size_t len, uint8_t out[CRYPTO_SHA1_LEN]) {
    cryptoHashOnce(CRYPTO_HASH_SHA1, data, len, out);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* CRC-32 by carry-less multiplication (Intel, "Fast CRC Computation for Generic Polynomials
 * Using PCLMULQDQ Instruction", 2009; the bit-reflected constants at its end, as in the Linux
 * kernel's crc32-pclmul and Chromium's zlib): four 128-bit lanes fold 64 bytes per step, then
 * one lane, then a Barrett reduction to 32 bits. Every event's checksum is computed once on the
 * way in (binlogEventParse()): with zlib's table-driven crc32() that was a tenth of the agent's
 * CPU on small events. `len` is at least 16; the last 1-15 bytes are folded in as a partial
 * block (as Linux's crc-pclmul-template does), not byte by byte: on 150-byte events the byte
 * loop over them cost more than the fold of the rest. `crc` and the result are zlib's pre- and
 * post-inverted register (~crc). */
__attribute__((target("pclmul,sse4.1"))) static uint32_t
crc32Clmul(uint32_t crc, const uint8_t *buf, size_t len) {
    static const uint64_t __attribute__((aligned(16))) k1k2[] = {0x0154442bd4, 0x01c6e41596};
    static const uint64_t __attribute__((aligned(16))) k3k4[] = {0x01751997d0, 0x00ccaa009e};
    static const uint64_t __attribute__((aligned(16))) k5k0[] = {0x0163cd6124, 0x0000000000};
    static const uint64_t __attribute__((aligned(16))) poly[] = {0x01db710641, 0x01f7011641};
    /* pshufb masks, read 16 bytes from offset r: bytes moved up by 16 - r (zeros below), bytes
     * moved down by r (zeros above); and the top r bytes kept. */
    static const uint8_t up[32] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                   0x80, 0x80, 0x80, 0x80, 0x80, 0,    1,    2,    3,    4,    5,
                                   6,    7,    8,    9,    10,   11,   12,   13,   14,   15};
    static const uint8_t down[32] = {0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,
                                     11,   12,   13,   14,   15,   0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
    static const uint8_t top[32] = {0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
                                    0,    0,    0,    0,    0,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8;

    if (len < 64) {
        /* One lane from the start (a binlog's GTID, XID and TABLE_MAP events are this short). */
        x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)buf), _mm_cvtsi32_si128((int)crc));
        x0 = _mm_load_si128((const __m128i *)k3k4);
        buf += 16;
        len -= 16;
        goto oneLane;
    }
    x1 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
    x2 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
    x3 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
    x4 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    x0 = _mm_load_si128((const __m128i *)k1k2);
    buf += 64;
    len -= 64;
    while (len >= 64) {
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
        x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
        x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
        x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
        x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(buf + 0x00)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(buf + 0x10)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(buf + 0x20)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(buf + 0x30)));
        buf += 64;
        len -= 64;
    }
    /* Four lanes into one. */
    x0 = _mm_load_si128((const __m128i *)k3k4);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
oneLane:
    while (len >= 16) {
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, _mm_loadu_si128((const __m128i *)buf)), x5);
        buf += 16;
        len -= 16;
    }
    if (len > 0) {
        /* The message is now the lane's 16 bytes, then these r = len bytes. Its last 16 bytes
         * (the lane's last 16 - r and the r new ones) become the lane; the lane's first r
         * bytes, now 16 bytes before the end, are folded into it as a block of 16 - r zero bytes
         * (which leave a CRC unchanged) and those r. */
        __m128i keep = _mm_loadu_si128((const __m128i *)(top + len));
        __m128i last = _mm_and_si128(_mm_loadu_si128((const __m128i *)(buf + len - 16)), keep);

        x2 = _mm_shuffle_epi8(x1, _mm_loadu_si128((const __m128i *)(up + len)));
        x1 = _mm_or_si128(_mm_shuffle_epi8(x1, _mm_loadu_si128((const __m128i *)(down + len))), last);
        x5 = _mm_clmulepi64_si128(x2, x0, 0x00);
        x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    }
    /* 128 bits to 64. */
    x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
    x3 = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    x0 = _mm_loadl_epi64((const __m128i *)k5k0);
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, x3);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    /* Barrett reduction to 32 bits. */
    x0 = _mm_load_si128((const __m128i *)poly);
    x2 = _mm_and_si128(x1, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
    x2 = _mm_and_si128(x2, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}
#endif

uint32_t
cryptoCrc32(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uLong c;

#if defined(__x86_64__)
    if (len >= 16 && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"))
        return ~crc32Clmul(~crc, p, len);
#endif
    /* Shorter inputs byte by byte with zlib's table, here: a call into zlib cost more than the
     * carry-less fold of a whole event. */
    if (len < 16) {
        const z_crc_t *table = get_crc_table();
        uint32_t x = ~crc;

        while (len-- > 0)
            x = (uint32_t)table[(x ^ *p++) & 0xff] ^ (x >> 8);
        return ~x;
    }
    c = crc;

    /* zlib takes uInt lengths: feed very large inputs in pieces. */
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

        c = crc32(c, p, n);
        p += n;
        len -= n;
    }
    return (uint32_t)c;
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

int
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

bool
cryptoEqual(const void *a, const void *b, size_t len) {
    return len == 0 || CRYPTO_memcmp(a, b, len) == 0;
}

void
cryptoWipe(void *buf, size_t len) {
    if (len > 0)
        OPENSSL_cleanse(buf, len);
}

/* --- Key derivation ----------------------------------------------------------------------- */

void
cryptoPbkdf2Sha256(const void *pass, size_t passLen, const uint8_t *salt, size_t saltLen,
                   uint32_t iterations, uint8_t *out, size_t outLen) {
    static const char empty[1];

    BV_ASSERT(iterations >= 1 && iterations <= INT_MAX);
    BV_ASSERT(passLen <= INT_MAX && saltLen <= INT_MAX && outLen >= 1 && outLen <= INT_MAX);
    if (PKCS5_PBKDF2_HMAC(passLen ? pass : empty, (int)passLen, saltLen ? salt : (const uint8_t *)empty,
                          (int)saltLen, (int)iterations, EVP_sha256(), (int)outLen, out) != 1)
        cryptoFail("PBKDF2-HMAC-SHA256");
}

void
cryptoHkdfSha256(const uint8_t *ikm, size_t ikmLen, const uint8_t *salt, size_t saltLen,
                 const void *info, size_t infoLen, uint8_t *out, size_t outLen) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx;
    OSSL_PARAM params[5], *p = params;

    BV_ASSERT(outLen >= 1 && outLen <= 255 * CRYPTO_SHA256_LEN);
    if (kdf == NULL)
        cryptoFail("EVP_KDF_fetch HKDF");
    ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    if (ctx == NULL)
        cryptoFail("EVP_KDF_CTX_new");
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmLen);
    if (saltLen > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltLen);
    if (infoLen > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infoLen);
    *p = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(ctx, out, outLen, params) != 1)
        cryptoFail("HKDF-SHA256");
    EVP_KDF_CTX_free(ctx);
}

/* --- Authenticated encryption ------------------------------------------------------------- */

struct CryptoAead {
    EVP_CIPHER_CTX *ctx;
    bool seal;
};

CryptoAead *
cryptoAeadNew(const uint8_t key[CRYPTO_AEAD_KEY_LEN], bool seal) {
    CryptoAead *aead = bvCalloc(1, sizeof(*aead));

    aead->seal = seal;
    if ((aead->ctx = EVP_CIPHER_CTX_new()) == NULL)
        cryptoFail("EVP_CIPHER_CTX_new");
    /* The key schedule is set up once; each message only sets its nonce. The default GCM nonce
     * length is 12 bytes. */
    if (EVP_CipherInit_ex(aead->ctx, EVP_aes_256_gcm(), NULL, key, NULL, seal ? 1 : 0) != 1)
        cryptoFail("AES-256-GCM init");
    BV_ASSERT(EVP_CIPHER_CTX_get_iv_length(aead->ctx) == CRYPTO_AEAD_NONCE_LEN);
    return aead;
}

/* Set the nonce and feed the associated data. */
static void
cryptoAeadStart(CryptoAead *aead, const uint8_t *nonce, const void *ad, size_t adLen) {
    int outLen;

    BV_ASSERT(adLen <= CRYPTO_AEAD_MAX);
    if (EVP_CipherInit_ex(aead->ctx, NULL, NULL, NULL, nonce, aead->seal ? 1 : 0) != 1)
        cryptoFail("AES-256-GCM nonce");
    if (adLen > 0 && EVP_CipherUpdate(aead->ctx, NULL, &outLen, ad, (int)adLen) != 1)
        cryptoFail("AES-256-GCM associated data");
}

void
cryptoAeadSeal(CryptoAead *aead, const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN], const void *ad,
               size_t adLen, const void *in, size_t len, void *out,
               uint8_t tag[CRYPTO_AEAD_TAG_LEN]) {
    int outLen = 0, finalLen = 0;

    BV_ASSERT(aead->seal && len <= CRYPTO_AEAD_MAX);
    cryptoAeadStart(aead, nonce, ad, adLen);
    if (len > 0 && EVP_EncryptUpdate(aead->ctx, out, &outLen, in, (int)len) != 1)
        cryptoFail("AES-256-GCM encrypt");
    if (EVP_EncryptFinal_ex(aead->ctx, (unsigned char *)out + outLen, &finalLen) != 1)
        cryptoFail("AES-256-GCM final");
    BV_ASSERT((size_t)outLen + (size_t)finalLen == len);
    if (EVP_CIPHER_CTX_ctrl(aead->ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_AEAD_TAG_LEN, tag) != 1)
        cryptoFail("AES-256-GCM tag");
}

bool
cryptoAeadOpen(CryptoAead *aead, const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN], const void *ad,
               size_t adLen, const void *in, size_t len, const uint8_t tag[CRYPTO_AEAD_TAG_LEN],
               void *out) {
    uint8_t tagCopy[CRYPTO_AEAD_TAG_LEN];
    int outLen = 0, finalLen = 0;

    BV_ASSERT(!aead->seal && len <= CRYPTO_AEAD_MAX);
    cryptoAeadStart(aead, nonce, ad, adLen);
    if (len > 0 && EVP_DecryptUpdate(aead->ctx, out, &outLen, in, (int)len) != 1)
        cryptoFail("AES-256-GCM decrypt");
    memcpy(tagCopy, tag, sizeof(tagCopy));
    if (EVP_CIPHER_CTX_ctrl(aead->ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_AEAD_TAG_LEN, tagCopy) != 1)
        cryptoFail("AES-256-GCM set tag");
    /* The final step is where GCM compares the tag: failing here is data that does not
     * authenticate, not a library failure. */
    if (EVP_DecryptFinal_ex(aead->ctx, (unsigned char *)out + outLen, &finalLen) != 1) {
        ERR_clear_error();
        cryptoWipe(out, len);
        return false;
    }
    BV_ASSERT((size_t)outLen + (size_t)finalLen == len);
    return true;
}

void
cryptoAeadFree(CryptoAead *aead) {
    if (aead == NULL)
        return;
    EVP_CIPHER_CTX_free(aead->ctx);
    bvFree(aead);
}
