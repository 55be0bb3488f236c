/*
 * Encrypted objects (docs/FORMAT.md, "Encryption"): the object format as stream filters, and a
 * Storage decorator that stores every object but one plaintext name encrypted under a key its
 * caller gives. The store knows bytes and names only: which archive, which key file and which
 * settings is the business of archive/key.h.
 *
 * An encrypted object is a 48-byte header (magic, version, key id, a random per-object salt and
 * nonce prefix), then the plaintext in 64 KiB chunks, each sealed with AES-256-GCM under a key
 * derived for the object (HKDF-SHA256 of the key and the salt), with the nonce prefix + chunk
 * index + final flag as nonce (the STREAM construction) and the header + chunk index + final flag
 * + object name as associated data. A modified byte, a truncation (at a chunk boundary or not),
 * reordered chunks, an object stored under another name or made with another key all fail
 * authentication; plaintext is handed out only once its chunk has authenticated. Memory is
 * bounded: one chunk per reader.
 */
#ifndef BV_STORAGE_STORAGE_CRYPT_H
#define BV_STORAGE_STORAGE_CRYPT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/io.h"
#include "storage/storage.h"

#define STORAGE_CRYPT_HEADER_LEN 48
#define STORAGE_CRYPT_CHUNK (64 * 1024)
#define STORAGE_CRYPT_TAG_LEN CRYPTO_AEAD_TAG_LEN
#define STORAGE_CRYPT_KEY_ID_LEN 8
/* Bytes of an object that tell whether it is an encrypted object (storageCryptIsObject()). */
#define STORAGE_CRYPT_MAGIC_LEN 8

/* The key objects are encrypted with, and its id (written in every header, so that an object
 * of another key is told apart from a damaged one). */
typedef struct StorageCryptKey {
    uint8_t key[CRYPTO_AEAD_KEY_LEN];
    uint8_t keyId[STORAGE_CRYPT_KEY_ID_LEN];
} StorageCryptKey;

/* Size of the encrypted object of `plainSize` bytes of plaintext:
 * 48 + P + 16 * max(1, ceil(P / 65536)). */
uint64_t storageCryptObjectSize(uint64_t plainSize);

/* Plaintext size of an encrypted object of `objectSize` bytes; false when no encrypted object has
 * that size (truncated, or not encrypted). */
bool storageCryptPlainSize(uint64_t objectSize, uint64_t *plainSize);

/* Whether the first STORAGE_CRYPT_MAGIC_LEN bytes of an object are those of an encrypted object
 * (of any format version). */
bool storageCryptIsObject(const uint8_t *first);

/* --- The object format as stream filters --------------------------------------------------- */

/* An encryptor: reads exactly `plainSize` bytes of plaintext from `src` (owned) and yields the
 * encrypted object `name` (storageCryptObjectSize(plainSize) bytes), a chunk at a time. Before it
 * seals the final chunk it reads `src` to its end, so a verifying filter under it (ioReadVerifyNew())
 * fails the stream before it is complete. A source of another length is ERR_CHECKSUM. ERR_IO when
 * no random bytes can be had (at the first read). */
IoRead *storageCryptEncryptNew(IoRead *src, uint64_t plainSize, const StorageCryptKey *key,
                               const char *name);

/* A decryptor of the whole encrypted object `name` read from `src` (owned). ERR_FORMAT, naming the
 * chunk, for anything that does not authenticate or is not an encrypted object of this key. */
IoRead *storageCryptDecryptNew(IoRead *src, const StorageCryptKey *key, const char *name);

/* --- The decorator ------------------------------------------------------------------------- */

/* A store over `inner` (owned from now on) in which every object but `plainName` is encrypted with
 * `key` (copied). Sizes (head, list) and contents are those of the plaintext; ranged reads fetch
 * only the chunks they need. A put streams the source through the encryptor into the inner
 * driver's putRead, reading it once, with no temporary copy. A driver that needs the digests of
 * what it sends before it sends it (S3) takes the encrypted object by offset (putAt): made with one
 * header in a first pass that hashes it, then again from the source as the driver reads it, each
 * chunk checked against its first-pass GCM tag before it is handed out (a source that changed in
 * between fails the put, ERR_CHECKSUM), with no temporary copy; a retried put takes a fresh
 * header. A driver with neither, or an object over 2^17 chunks (8 GiB), gets an encrypted
 * temporary copy, made beside a local source file or, when that directory is not writable, in
 * `tmpDir` (NULL: /tmp).
 * An immutable put that finds the object stored decrypts it and compares the plaintext's size and
 * SHA-256 (the ciphertexts of the same plaintext differ from one put to the next). `plainName`
 * passes through as it is stored. Safe to use from several threads. */
Storage *storageCryptNew(Storage *inner, const StorageCryptKey *key, const char *plainName,
                         const char *tmpDir);

#endif
