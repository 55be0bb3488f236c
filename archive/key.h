/*
 * The key of an archive (docs/FORMAT.md, "Encryption"): the `encryption` settings of
 * binvault.json, the key file, the derivation of the key and its check; and the store of an
 * archive, which is the encrypting store of storage/storage_crypt.h when the archive is
 * encrypted. The store itself knows bytes and names only; this module knows which archive it is.
 *
 * In an encrypted archive every object but binvault.json is encrypted. binvault.json stays
 * plaintext and carries the settings (KDF, salt, key check), which are added when binvault.json
 * is stored, so that a wrong key is refused up front.
 *
 * The key: a file of mode 0600 or stricter owned by the user, holding exactly 32 bytes (a raw
 * key) or a passphrase (anything else; one trailing newline is not part of it), stretched with
 * PBKDF2-HMAC-SHA256 and the salt of binvault.json. It is never logged.
 */
#ifndef BV_ARCHIVE_KEY_H
#define BV_ARCHIVE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/err.h"
#include "storage/storage.h"
#include "storage/storage_crypt.h"

/* PBKDF2 rounds for a new archive with a passphrase (OWASP 2023 for PBKDF2-HMAC-SHA256), and
 * the bounds a reader accepts from binvault.json. */
#define ARCHIVE_KEY_PBKDF2_ITERATIONS 600000
#define ARCHIVE_KEY_PBKDF2_MIN 1000
#define ARCHIVE_KEY_PBKDF2_MAX 100000000
/* Largest key file read. */
#define ARCHIVE_KEY_FILE_MAX 4096

/* Open the store of the archive at `url`: storageNewOpts() with the S3 settings of `opts`, then
 * archiveKeyWrap() with its key file and --encrypt (`opts` may be NULL). Every command that opens
 * an archive uses it. */
Storage *archiveKeyOpenStore(const char *url, const StorageOptions *opts, Err *err);

/* The store of an archive on `inner` (owned from now on, also when this fails), with the key file
 * `keyFile` and `encrypt` (the command's --key-file and --encrypt, which the option tables also
 * take from BINVAULT_KEY_FILE and BINVAULT_ENCRYPT). It reads inner's binvault.json:
 * - encrypted archive: the encrypting store with the key; no key is ERR_CONFIG naming --key-file,
 *   a wrong key ERR_AUTH: "wrong key for archive 'url' (key check failed)";
 * - unencrypted archive: `inner` itself (a key only gets a warning; --encrypt is ERR_CONFIG: an
 *   archive cannot be encrypted afterwards), unless its objects are encrypted (ERR_FORMAT: its
 *   binvault.json lost its encryption settings);
 * - no binvault.json yet: with --encrypt, an encrypting store that stores new encryption settings
 *   in binvault.json when the archive's identity is written, and refuses to store any other object
 *   before it; with a key but not --encrypt, a pass-through that refuses to write binvault.json
 *   (ERR_CONFIG: say whether the new archive is to be encrypted); with neither, `inner`.
 * Key file problems (missing, mode, owner, empty) are ERR_CONFIG, at open. When the store cannot
 * be reached (ERR_STORAGE), the open succeeds and binvault.json is read at the first operation,
 * which fails as the store does until then (an agent starts, and retries, with its store down).
 * The encrypted copies a store without streaming puts needs go to `tmpDir` (NULL: /tmp) when they
 * cannot go beside their source (storageCryptNew()). The result is safe to use from several
 * threads. */
Storage *archiveKeyWrap(Storage *inner, const char *keyFile, bool encrypt, const char *tmpDir, Err *err);

/* The key of a key file's content under the settings of an archive: `pbkdf2` false for a raw key
 * (exactly 32 bytes), true for a passphrase stretched with `iterations` rounds and `salt`.
 * ERR_AUTH when a raw key is not 32 bytes. `keyCheck` receives the key check value of
 * binvault.json, whose first bytes are the key id. */
int archiveKeyDerive(const uint8_t *secret, size_t secretLen, bool pbkdf2, uint32_t iterations,
                     const uint8_t *salt, size_t saltLen, StorageCryptKey *key,
                     uint8_t keyCheck[CRYPTO_SHA256_LEN], Err *err);

#endif
