/*
 * Hashes, HMAC, encodings and random bytes. This is the only file of binvault that calls OpenSSL
 * (EVP APIs of OpenSSL 3); everything else uses these wrappers.
 *
 * A failure of OpenSSL to set up a digest that it ships (SHA-256, MD5, HMAC) is treated like an
 * out-of-memory condition: it is printed with the OpenSSL reason and aborts, so that hashing
 * callers need no error path. cryptoRandom() can fail for reasons outside the program (no
 * entropy source) and reports an error.
 */
#ifndef BV_COMMON_CRYPTO_H
#define BV_COMMON_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum CryptoHashType {
    CRYPTO_HASH_SHA256 = 0,
    CRYPTO_HASH_MD5,
} CryptoHashType;

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_MD5_LEN 16
/* Room for the digest of any CryptoHashType. */
#define CRYPTO_HASH_MAX_LEN 32
/* Room for the hex text (with NUL) of any digest. */
#define CRYPTO_HASH_HEX_MAX (CRYPTO_HASH_MAX_LEN * 2 + 1)
/* Size of the base64 text of `n` bytes, including the NUL. */
#define CRYPTO_BASE64_SIZE(n) ((((n) + 2) / 3) * 4 + 1)

typedef struct CryptoHash CryptoHash;

/* An incremental hash. */
CryptoHash *cryptoHashNew(CryptoHashType type);

/* Digest length in bytes of a hash type (32 for SHA-256, 16 for MD5). */
size_t cryptoHashSize(CryptoHashType type);

/* Lowercase name of a hash type ("sha256", "md5") for messages. */
const char *cryptoHashName(CryptoHashType type);

void cryptoHashUpdate(CryptoHash *hash, const void *data, size_t len);

/* Write the digest to `out` (room for CRYPTO_HASH_MAX_LEN bytes) and its length to `*len` when
 * `len` is not NULL. The hash cannot be updated or finalised again afterwards. */
void cryptoHashFinal(CryptoHash *hash, uint8_t *out, size_t *len);

void cryptoHashFree(CryptoHash *hash);

/* One-shot digests. */
void cryptoSha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_LEN]);
void cryptoMd5(const void *data, size_t len, uint8_t out[CRYPTO_MD5_LEN]);

/* HMAC-SHA-256 of `data` under `key` (AWS SigV4 signing keys and signatures). */
void cryptoHmacSha256(const void *key, size_t keyLen, const void *data, size_t len,
                      uint8_t out[CRYPTO_SHA256_LEN]);

/* Lowercase hex of `len` bytes into `out`, which has room for 2 * len + 1 bytes. */
void cryptoHexEncode(const uint8_t *data, size_t len, char *out);

/* Decode `hexLen` hex digits (either case) into `out` of capacity `outCap`, setting `*outLen`.
 * ERR_FORMAT on an odd length, a character that is not a hex digit, or a result longer than
 * `outCap`. */
int cryptoHexDecode(const char *hex, size_t hexLen, uint8_t *out, size_t outCap, size_t *outLen,
                    Err *err);

/* Standard base64 (with padding, no line breaks) of `len` bytes into `out`, which has room for
 * CRYPTO_BASE64_SIZE(len) bytes; used for the S3 Content-MD5 header. */
void cryptoBase64Encode(const uint8_t *data, size_t len, char *out);

/* Fill `buf` with `len` bytes from the OpenSSL CSPRNG. ERR_IO when it cannot be seeded. */
int cryptoRandom(void *buf, size_t len, Err *err);

#endif
