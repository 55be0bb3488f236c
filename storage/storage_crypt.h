/*
 * Encryption at rest (docs/FORMAT.md, "Encryption"): a Storage decorator over any driver, so that
 * every command that opens an archive with storageNewOpts() reads and writes an encrypted archive
 * without knowing it.
 *
 * In an encrypted archive every object but binvault.json is stored encrypted: a 48-byte header
 * (magic, version, key id, a random per-object salt and nonce prefix), then the plaintext in
 * 64 KiB chunks, each sealed with AES-256-GCM under a key derived for the object (HKDF-SHA256 of
 * the archive key and the salt), with the nonce prefix + chunk index + final flag as nonce (the
 * STREAM construction) and the header + chunk index + final flag + object name as associated
 * data. A modified byte, a truncation (at a chunk boundary or not), reordered chunks, an object
 * stored under another name or made with another key all fail authentication; plaintext is handed
 * out only once its chunk has authenticated. Memory is bounded: one chunk per reader or writer.
 *
 * binvault.json stays plaintext and carries the archive's encryption settings (member
 * `encryption`: KDF, salt, key check), which the decorator adds when binvault.json is stored, so
 * a wrong key is refused up front. Sizes (head, list) and contents are those of the plaintext;
 * storing identical plaintext again is a no-op, as for any store (the generic layer decrypts the
 * stored object and compares SHA-256s).
 *
 * The key: a file of mode 0600 or stricter owned by the user, holding exactly 32 bytes (a raw
 * key) or a passphrase (anything else; one trailing newline is not part of it), stretched with
 * PBKDF2-HMAC-SHA256 and the salt of binvault.json. It is never logged.
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
/* PBKDF2 rounds for a new archive with a passphrase (OWASP 2023 for PBKDF2-HMAC-SHA256), and
 * the bounds a reader accepts from binvault.json. */
#define STORAGE_CRYPT_PBKDF2_ITERATIONS 600000
#define STORAGE_CRYPT_PBKDF2_MIN 1000
#define STORAGE_CRYPT_PBKDF2_MAX 100000000
/* Largest key file read. */
#define STORAGE_CRYPT_KEY_FILE_MAX 4096

/* An archive key, derived from the key file and the settings of binvault.json. */
typedef struct StorageCryptKey {
    uint8_t key[CRYPTO_AEAD_KEY_LEN];
    uint8_t keyId[STORAGE_CRYPT_KEY_ID_LEN];
} StorageCryptKey;

/* Open the encryption of the archive on `inner` (owned from now on, also when this fails) with the
 * key file `keyFile` and `encrypt` (NULL / false: BINVAULT_KEY_FILE, BINVAULT_ENCRYPT=1 from the
 * environment). It reads inner's binvault.json:
 * - encrypted archive: a decorator with the key; no key is ERR_CONFIG naming --key-file, a wrong
 *   key ERR_AUTH: "wrong key for archive 'url' (key check failed)";
 * - unencrypted archive: `inner` itself (a key only gets a warning; --encrypt is ERR_CONFIG: an
 *   archive cannot be encrypted afterwards), unless its objects are encrypted (ERR_FORMAT: its
 *   binvault.json lost its encryption settings);
 * - no binvault.json yet: with --encrypt, a decorator that stores new encryption settings in
 *   binvault.json when the archive's identity is written, and refuses to store any other object
 *   before it; with a key but not --encrypt, a pass-through that refuses to write binvault.json
 *   (ERR_CONFIG: say whether the new archive is to be encrypted); with neither, `inner`.
 * Key file problems (missing, mode, owner, empty) are ERR_CONFIG, at open. When the store cannot
 * be reached (ERR_STORAGE), the open succeeds and binvault.json is read at the first operation,
 * which fails as the store does until then (an agent starts, and retries, with its store down).
 * The decorator is safe to use from several threads. */
Storage *storageCryptOpen(Storage *inner, const char *keyFile, bool encrypt, Err *err);

/* Size of the encrypted object of `plainSize` bytes of plaintext. */
uint64_t storageCryptObjectSize(uint64_t plainSize);

/* Plaintext size of an encrypted object of `objectSize` bytes; false when no encrypted object has
 * that size (truncated, or not encrypted). */
bool storageCryptPlainSize(uint64_t objectSize, uint64_t *plainSize);

/* --- The object format as stream filters (used by the decorator, and by tests) --------------- */

/* The archive key of a key file's content under the settings of an archive: `pbkdf2` false for a
 * raw key (exactly 32 bytes), true for a passphrase stretched with `iterations` rounds and `salt`.
 * ERR_AUTH when a raw key is not 32 bytes. `keyCheck` receives the key check value of
 * binvault.json. */
int storageCryptKeyDerive(const uint8_t *secret, size_t secretLen, bool pbkdf2, uint32_t iterations,
                          const uint8_t *salt, size_t saltLen, StorageCryptKey *key,
                          uint8_t keyCheck[CRYPTO_SHA256_LEN], Err *err);

/* A filter encrypting what is written into the object `name`, written to `next` (owned from now on,
 * also when this fails: ERR_IO when no random bytes can be had). ERR_LIMIT past 2^32 chunks. */
IoWrite *storageCryptWriteNew(IoWrite *next, const StorageCryptKey *key, const char *name, Err *err);

/* A filter decrypting the whole encrypted object `name` read from `src` (owned). ERR_FORMAT, naming
 * the chunk, for anything that does not authenticate or is not an encrypted object of this key. */
IoRead *storageCryptReadNew(IoRead *src, const StorageCryptKey *key, const char *name);

#endif
