/*
 * Hashes, HMAC, key derivation, authenticated encryption, encodings and random bytes. This is the
 * only file of binvault that calls OpenSSL (EVP APIs of OpenSSL 3) and zlib's crc32(); everything
 * else uses these wrappers.
 *
 * A failure of OpenSSL to set up an algorithm that it ships (SHA-256, MD5, HMAC, PBKDF2, HKDF,
 * AES-256-GCM) is treated like an out-of-memory condition: it is printed with the OpenSSL reason
 * and aborts, so that callers need no error path for it. cryptoRandom() can fail for reasons
 * outside the program (no entropy source) and reports an error; cryptoAeadOpen() reports data
 * that does not authenticate.
 */
#ifndef BV_COMMON_CRYPTO_H
#define BV_COMMON_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum CryptoHashType {
    CRYPTO_HASH_SHA256 = 0,
    CRYPTO_HASH_MD5,
    CRYPTO_HASH_SHA1, /* only for the MySQL protocol's mysql_native_password */
} CryptoHashType;

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_MD5_LEN 16
#define CRYPTO_SHA1_LEN 20
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
void cryptoSha1(const void *data, size_t len, uint8_t out[CRYPTO_SHA1_LEN]);

/* CRC-32 (ISO-HDLC, as zlib's crc32() and the binlog's event checksums): continue `crc` (0 to
 * start) over `len` bytes. Any length. */
uint32_t cryptoCrc32(uint32_t crc, const void *data, size_t len);

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

/* Whether `len` bytes at `a` and `b` are equal, in a time that does not depend on where they
 * differ (for comparing secrets and values derived from them). */
bool cryptoEqual(const void *a, const void *b, size_t len);

/* Overwrite `len` bytes of a secret with zeros in a way the compiler cannot optimise away. */
void cryptoWipe(void *buf, size_t len);

/* --- Key derivation ----------------------------------------------------------------------- */

/* PBKDF2 (RFC 8018) with HMAC-SHA-256: `outLen` bytes derived from a passphrase and a salt with
 * `iterations` (>= 1) rounds. */
void cryptoPbkdf2Sha256(const void *pass, size_t passLen, const uint8_t *salt, size_t saltLen,
                        uint32_t iterations, uint8_t *out, size_t outLen);

/* HKDF (RFC 5869) with SHA-256, extract then expand: `outLen` (<= 8160) bytes from the input key
 * material `ikm`, an optional `salt` (NULL / 0: none) and the context `info`. */
void cryptoHkdfSha256(const uint8_t *ikm, size_t ikmLen, const uint8_t *salt, size_t saltLen,
                      const void *info, size_t infoLen, uint8_t *out, size_t outLen);

/* --- Authenticated encryption: AES-256-GCM ------------------------------------------------ */

#define CRYPTO_AEAD_KEY_LEN 32
#define CRYPTO_AEAD_NONCE_LEN 12
#define CRYPTO_AEAD_TAG_LEN 16
/* Largest message or associated data sealed or opened in one call. */
#define CRYPTO_AEAD_MAX (1u << 30)

/* An AES-256-GCM key schedule (an owned EVP_CIPHER_CTX) for sealing or for opening many messages
 * with per-message nonces. A nonce must never be used twice with the same key. One thread at a
 * time. The key is not kept outside OpenSSL's context, which cryptoAeadFree() clears. */
typedef struct CryptoAead CryptoAead;

CryptoAead *cryptoAeadNew(const uint8_t key[CRYPTO_AEAD_KEY_LEN], bool seal);

/* Encrypt `len` bytes of `in` into `out` (the same size; `out` may be `in`) and compute the tag
 * over `ad` (`adLen` bytes, may be 0) and the ciphertext. Only on a context made for sealing. */
void cryptoAeadSeal(CryptoAead *aead, const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN], const void *ad,
                    size_t adLen, const void *in, size_t len, void *out,
                    uint8_t tag[CRYPTO_AEAD_TAG_LEN]);

/* Decrypt `len` bytes of `in` into `out` (`out` may be `in`) and check `tag`: true when the
 * ciphertext, the associated data and the tag authenticate under this key and nonce. On false,
 * `out` is zeroed: unauthenticated plaintext is never handed out. Only on a context made for
 * opening. */
bool cryptoAeadOpen(CryptoAead *aead, const uint8_t nonce[CRYPTO_AEAD_NONCE_LEN], const void *ad,
                    size_t adLen, const void *in, size_t len, const uint8_t tag[CRYPTO_AEAD_TAG_LEN],
                    void *out);

void cryptoAeadFree(CryptoAead *aead);

/* The value of a hex digit (either case), -1 for any other character. */
int cryptoHexDigit(char c);

#endif
