/*
 * The key of an archive and the store of an archive (archive/key.h): the `encryption` member of
 * binvault.json, the key file, PBKDF2 or a raw key, the key check; and a decorator that settles,
 * from binvault.json, whether the store of the archive is the encrypting one (storage/storage_crypt.h)
 * and adds the settings to binvault.json when a new encrypted archive's identity is written.
 */
#include "archive/key.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "common/buf.h"
#include "common/io.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"

/* Version of the `encryption` member (the same as the object format's). */
#define KEY_VERSION 1
#define KEY_SALT_LEN 16
#define KEY_CHECK_INFO "binvault key check v1"

/* --- The archive key ---------------------------------------------------------------------- */

/* Encryption settings of an archive (member `encryption` of binvault.json). */
typedef struct KeySettings {
    bool pbkdf2; /* false: a raw 32-byte key */
    uint32_t iterations;
    uint8_t salt[KEY_SALT_LEN];
    uint8_t keyCheck[CRYPTO_SHA256_LEN];
} KeySettings;

int
archiveKeyDerive(const uint8_t *secret, size_t secretLen, bool pbkdf2, uint32_t iterations,
                      const uint8_t *salt, size_t saltLen, StorageCryptKey *key,
                      uint8_t keyCheck[CRYPTO_SHA256_LEN], Err *err) {
    uint8_t *data;
    size_t infoLen = strlen(KEY_CHECK_INFO);

    if (pbkdf2) {
        cryptoPbkdf2Sha256(secret, secretLen, salt, saltLen, iterations, key->key, sizeof(key->key));
    } else if (secretLen != sizeof(key->key)) {
        return errSet(err, ERR_AUTH, "the archive has a raw 32-byte key and the key file holds %zu "
                      "bytes", secretLen);
    } else {
        memcpy(key->key, secret, sizeof(key->key));
    }
    /* The key check is a MAC under the key: it tells a wrong key without revealing the key. */
    data = bvMalloc(infoLen + saltLen);
    memcpy(data, KEY_CHECK_INFO, infoLen);
    memcpy(data + infoLen, salt, saltLen);
    cryptoHmacSha256(key->key, sizeof(key->key), data, infoLen + saltLen, keyCheck);
    bvFree(data);
    memcpy(key->keyId, keyCheck, STORAGE_CRYPT_KEY_ID_LEN);
    return 0;
}

/* Read the key file: a regular file of the user, mode 0600 or stricter, 1 to
 * ARCHIVE_KEY_FILE_MAX bytes. Read from the descriptor that was checked. */
static int
keyFileRead(const char *path, uint8_t **data, size_t *len, Err *err) {
    struct stat st;
    uint8_t *buf = NULL;
    size_t have = 0;
    int fd, rc = -1;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errSetSys(err, ERR_CONFIG, errno, "unable to open the key file '%s'", path);
    if (fstat(fd, &st) != 0) {
        errSetSys(err, ERR_CONFIG, errno, "unable to stat the key file '%s'", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        errSet(err, ERR_CONFIG, "the key file '%s' is not a regular file", path);
        goto out;
    }
    if (st.st_uid != geteuid()) {
        errSet(err, ERR_CONFIG, "the key file '%s' belongs to uid %u, not to the user running "
               "binvault (uid %u)", path, (unsigned)st.st_uid, (unsigned)geteuid());
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        errSet(err, ERR_CONFIG, "the key file '%s' is accessible by group or others (mode %04o): it "
               "must be readable by its owner only (chmod 600 '%s')", path,
               (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if (st.st_size <= 0 || st.st_size > ARCHIVE_KEY_FILE_MAX) {
        errSet(err, ERR_CONFIG, "the key file '%s' holds %lld bytes: expected a 32-byte key or a "
               "passphrase of at most %d bytes", path, (long long)st.st_size,
               ARCHIVE_KEY_FILE_MAX);
        goto out;
    }
    buf = bvMalloc(ARCHIVE_KEY_FILE_MAX + 1);
    for (;;) {
        ssize_t n = read(fd, buf + have, ARCHIVE_KEY_FILE_MAX + 1 - have);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errSetSys(err, ERR_CONFIG, errno, "unable to read the key file '%s'", path);
            goto out;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (have > ARCHIVE_KEY_FILE_MAX) {
            errSet(err, ERR_CONFIG, "the key file '%s' grew past %d bytes while being read", path,
                   ARCHIVE_KEY_FILE_MAX);
            goto out;
        }
    }
    if (have == 0) {
        errSet(err, ERR_CONFIG, "the key file '%s' is empty", path);
        goto out;
    }
    *data = buf;
    *len = have;
    buf = NULL;
    rc = 0;
out:
    if (buf != NULL) {
        cryptoWipe(buf, ARCHIVE_KEY_FILE_MAX + 1);
        bvFree(buf);
    }
    close(fd);
    return rc;
}

/* The secret of a key file for a KDF: a passphrase loses one trailing newline. */
static int
keyPassphrase(const char *path, const uint8_t *data, size_t *len, Err *err) {
    if (*len > 0 && data[*len - 1] == '\n')
        (*len)--;
    if (*len > 0 && data[*len - 1] == '\r')
        (*len)--;
    if (*len == 0)
        return errSet(err, ERR_CONFIG, "the key file '%s' holds an empty passphrase", path);
    return 0;
}

/* Derive the archive key from the key file under `settings`, and check it. */
static int
keyLoad(const char *path, const KeySettings *settings, const char *url, StorageCryptKey *key,
             Err *err) {
    uint8_t *secret, keyCheck[CRYPTO_SHA256_LEN];
    size_t len;
    int rc = -1;

    if (keyFileRead(path, &secret, &len, err) != 0)
        return -1;
    if (settings->pbkdf2 && keyPassphrase(path, secret, &len, err) != 0)
        goto out;
    if (archiveKeyDerive(secret, len, settings->pbkdf2, settings->iterations, settings->salt,
                              sizeof(settings->salt), key, keyCheck, err) != 0) {
        errPrefix(err, "wrong key for archive '%s' (key file '%s')", url, path);
        goto out;
    }
    if (!cryptoEqual(keyCheck, settings->keyCheck, sizeof(keyCheck))) {
        errSet(err, ERR_AUTH, "wrong key for archive '%s' (key check failed): the key file '%s' does "
               "not hold the key the archive was encrypted with", url, path);
        goto out;
    }
    rc = 0;
out:
    cryptoWipe(keyCheck, sizeof(keyCheck));
    cryptoWipe(secret, ARCHIVE_KEY_FILE_MAX + 1);
    bvFree(secret);
    if (rc != 0)
        cryptoWipe(key, sizeof(*key));
    return rc;
}

/* New settings and key for a new archive: a raw key for a 32-byte file, else a passphrase. */
static int
keyCreate(const char *path, KeySettings *settings, StorageCryptKey *key, Err *err) {
    uint8_t *secret;
    size_t len;
    int rc = -1;

    if (keyFileRead(path, &secret, &len, err) != 0)
        return -1;
    memset(settings, 0, sizeof(*settings));
    settings->pbkdf2 = len != CRYPTO_AEAD_KEY_LEN;
    settings->iterations = settings->pbkdf2 ? ARCHIVE_KEY_PBKDF2_ITERATIONS : 0;
    if ((settings->pbkdf2 && keyPassphrase(path, secret, &len, err) != 0) ||
        cryptoRandom(settings->salt, sizeof(settings->salt), err) != 0)
        goto out;
    rc = archiveKeyDerive(secret, len, settings->pbkdf2, settings->iterations, settings->salt,
                               sizeof(settings->salt), key, settings->keyCheck, err);
out:
    cryptoWipe(secret, ARCHIVE_KEY_FILE_MAX + 1);
    bvFree(secret);
    return rc;
}

/* The `encryption` member of binvault.json. */
static void
keySettingsJson(const KeySettings *s, Buf *out) {
    char salt[KEY_SALT_LEN * 2 + 1], check[CRYPTO_SHA256_LEN * 2 + 1];

    cryptoHexEncode(s->salt, sizeof(s->salt), salt);
    cryptoHexEncode(s->keyCheck, sizeof(s->keyCheck), check);
    jsonBufPrintf(out, "{\"version\":%d,\"cipher\":\"aes-256-gcm\",\"kdf\":\"%s\"", KEY_VERSION,
                  s->pbkdf2 ? "pbkdf2-hmac-sha256" : "none");
    if (s->pbkdf2)
        jsonBufPrintf(out, ",\"iterations\":%u", (unsigned)s->iterations);
    jsonBufPrintf(out, ",\"salt\":\"%s\",\"key_check\":\"%s\"}", salt, check);
}

static int
keyHexMember(const JsonValue *obj, const char *name, uint8_t *out, size_t len, Err *err) {
    const char *hex;
    size_t got;

    if (jsonReqStr(obj, name, &hex, err) != 0)
        return -1;
    if (strlen(hex) != len * 2 || cryptoHexDecode(hex, len * 2, out, len, &got, err) != 0)
        return errSet(err, ERR_FORMAT, "field '%s' is not %zu bytes of hex", name, len);
    return 0;
}

/* Parse the `encryption` member; ERR_FORMAT naming what is wrong. */
static int
keySettingsParse(const JsonValue *enc, KeySettings *s, Err *err) {
    const char *cipher, *kdf;
    uint64_t version, iterations;

    memset(s, 0, sizeof(*s));
    if (jsonType(enc) != JSON_OBJECT)
        return errSet(err, ERR_FORMAT, "member 'encryption' is not an object");
    if (jsonReqU64(enc, "version", &version, err) != 0 || jsonReqStr(enc, "cipher", &cipher, err) != 0 ||
        jsonReqStr(enc, "kdf", &kdf, err) != 0)
        return errPrefix(err, "member 'encryption'");
    if (version != KEY_VERSION)
        return errSet(err, ERR_FORMAT, "encryption version %llu is not supported (this binvault "
                      "reads version %d)", (unsigned long long)version, KEY_VERSION);
    if (strcmp(cipher, "aes-256-gcm") != 0)
        return errSet(err, ERR_FORMAT, "encryption cipher '%s' is not supported", cipher);
    if (strcmp(kdf, "pbkdf2-hmac-sha256") == 0) {
        s->pbkdf2 = true;
        if (jsonReqU64(enc, "iterations", &iterations, err) != 0)
            return errPrefix(err, "member 'encryption'");
        if (iterations < ARCHIVE_KEY_PBKDF2_MIN || iterations > ARCHIVE_KEY_PBKDF2_MAX)
            return errSet(err, ERR_FORMAT, "encryption: %llu PBKDF2 iterations is out of the range "
                          "%d to %d", (unsigned long long)iterations, ARCHIVE_KEY_PBKDF2_MIN,
                          ARCHIVE_KEY_PBKDF2_MAX);
        s->iterations = (uint32_t)iterations;
    } else if (strcmp(kdf, "none") != 0) {
        return errSet(err, ERR_FORMAT, "encryption kdf '%s' is not supported", kdf);
    }
    if (keyHexMember(enc, "salt", s->salt, sizeof(s->salt), err) != 0 ||
        keyHexMember(enc, "key_check", s->keyCheck, sizeof(s->keyCheck), err) != 0)
        return errPrefix(err, "member 'encryption'");
    return 0;
}

static bool
keySettingsEqual(const KeySettings *a, const KeySettings *b) {
    return a->pbkdf2 == b->pbkdf2 && a->iterations == b->iterations &&
           memcmp(a->salt, b->salt, sizeof(a->salt)) == 0 &&
           memcmp(a->keyCheck, b->keyCheck, sizeof(a->keyCheck)) == 0;
}

/* --- The decorator ------------------------------------------------------------------------ */

typedef enum KeyMode {
    KEY_MODE_PLAIN,   /* an unencrypted archive: everything passes through */
    KEY_MODE_ENCRYPT, /* every object but binvault.json is encrypted */
    KEY_MODE_GUARD,   /* plaintext, but a new binvault.json is refused (a key and no --encrypt) */
} KeyMode;

/* The mode is settled by reading binvault.json, at open, or at the first operation when the store
 * could not be reached then (an agent starts, and retries, while its store is down); from then on
 * the state is only read, but for identityStored. */
typedef struct KeyStore {
    const StorageDriverVt *vt; /* the driver underneath, plaintext */
    void *driver;
    const StorageDriverVt *cryptVt; /* the encrypting store over it, once settled encrypted; it */
    void *cryptDriver;              /* then owns the driver underneath */
    char *url;
    char *tmpDir;  /* for the encrypted copies of storageCryptNew() */
    char *keyFile; /* NULL: no key */
    bool encrypt;
    pthread_mutex_t lock; /* settling the mode */
    atomic_bool settled;
    KeyMode mode;
    StorageCryptKey key;
    KeySettings settings;
    atomic_bool identityStored; /* binvault.json with these settings is in the store */
} KeyStore;

static int keySettle(KeyStore *this, Err *err);

static bool
keyIsIdentity(const char *name) {
    return strcmp(name, ARCHIVE_IDENTITY_OBJECT) == 0;
}

/* Read a small object of the store underneath into `*out` (NUL-terminated); ERR_NOTFOUND passed
 * through, ERR_LIMIT past `max`. */
static int
keyInnerGet(const StorageDriverVt *vt, void *driver, const char *name, size_t max, Buf **out,
              Err *err) {
    IoRead *reader = vt->openRead(driver, name, 0, 0, err);
    Buf *buf;
    ssize_t n;

    if (reader == NULL)
        return -1;
    buf = bufNew(4096);
    while ((n = ioRead(reader, bufReserve(buf, 64 * 1024), 64 * 1024, err)) > 0) {
        buf->len += (size_t)n;
        if (buf->len > max) {
            n = errSet(err, ERR_LIMIT, "'%s' is larger than %zu bytes", name, max);
            break;
        }
    }
    ioReadFree(reader);
    if (n < 0) {
        bufFree(buf);
        return -1;
    }
    bufReserve(buf, 1)[0] = '\0';
    *out = buf;
    return 0;
}

/* The encryption settings of a binvault.json document: *has false when it has none. */
static int
keyIdentitySettings(const char *doc, size_t len, bool *has, KeySettings *s, Err *err) {
    JsonValue *json = jsonParse(doc, len, err);
    const JsonValue *enc;
    int rc = 0;

    if (json == NULL)
        return -1;
    if (jsonType(json) != JSON_OBJECT) {
        jsonFree(json);
        return errSet(err, ERR_FORMAT, "not a JSON object");
    }
    enc = jsonGet(json, "encryption");
    *has = enc != NULL;
    if (enc != NULL)
        rc = keySettingsParse(enc, s, err);
    jsonFree(json);
    return rc;
}

/* The identity in the store must carry this decorator's settings before any other object is
 * encrypted with its key: a key whose settings are lost would make the archive unreadable. */
static int
keyIdentityReady(KeyStore *this, Err *err) {
    KeySettings stored;
    bool has = false;
    Buf *doc;
    int rc;

    if (atomic_load(&this->identityStored))
        return 0;
    if (keyInnerGet(this->vt, this->driver, ARCHIVE_IDENTITY_OBJECT, ARCHIVE_DOC_MAX, &doc, err) != 0) {
        if (err->code == ERR_NOTFOUND)
            errSet(err, ERR_CONFIG, "the new encrypted archive '%s' has no %s yet: it must be written "
                   "first, with the encryption settings (binvault import and the agent do)",
                   this->url, ARCHIVE_IDENTITY_OBJECT);
        return -1;
    }
    rc = keyIdentitySettings((const char *)doc->data, doc->len, &has, &stored, err);
    bufFree(doc);
    if (rc != 0)
        return errPrefix(err, "'%s' in '%s'", ARCHIVE_IDENTITY_OBJECT, this->url);
    if (!has || !keySettingsEqual(&stored, &this->settings))
        return errSet(err, ERR_CONFIG, "archive '%s' was created meanwhile by another binvault with "
                      "other encryption settings: run the command again", this->url);
    atomic_store(&this->identityStored, true);
    return 0;
}

/* A temporary file for the encrypted copy of the local file `srcPath`: next to it (on the file
 * system sized for it: the spool), else in $TMPDIR. Named "*.tmp" so that a spool cleans the
 * leftovers of a crash. */
/* binvault.json of an encrypted archive: plaintext, with the `encryption` member added (or
 * checked, when the document has one). A stored identity is compared as stored. */
static int
keyPutIdentity(KeyStore *this, const StoragePutSource *src, const StoragePutInfo *info,
                 StoragePutMode mode, bool *existed, Err *err) {
    IoRead *reader = NULL;
    Buf *doc = bufNew(1024), *stored = NULL;
    KeySettings have;
    bool has = false;
    StoragePutSource out = {0};
    StoragePutInfo outInfo = {0};
    uint8_t sha256[CRYPTO_SHA256_LEN];
    ssize_t n;
    int rc = -1;

    if ((reader = storagePutSourceOpen(src, err)) == NULL)
        goto out;
    while ((n = ioRead(reader, bufReserve(doc, 64 * 1024), 64 * 1024, err)) > 0) {
        doc->len += (size_t)n;
        if (doc->len > ARCHIVE_DOC_MAX) {
            errSet(err, ERR_LIMIT, "%s is larger than %d bytes", ARCHIVE_IDENTITY_OBJECT, ARCHIVE_DOC_MAX);
            goto out;
        }
    }
    if (n < 0)
        goto out;
    cryptoSha256(doc->data, doc->len, sha256);
    if (doc->len != info->size || memcmp(sha256, info->sha256, sizeof(sha256)) != 0) {
        errSet(err, ERR_CHECKSUM, "%s%s%s does not match its description", src->path ? "'" : "",
               src->path ? src->path : "the buffer", src->path ? "'" : "");
        goto out;
    }
    if (keyIdentitySettings((const char *)doc->data, doc->len, &has, &have, err) != 0) {
        errPrefix(err, "the %s of an encrypted archive must be a JSON object", ARCHIVE_IDENTITY_OBJECT);
        goto out;
    }
    if (has && !keySettingsEqual(&have, &this->settings)) {
        errSet(err, ERR_CONFIG, "this %s names other encryption settings than those of the archive",
               ARCHIVE_IDENTITY_OBJECT);
        goto out;
    }
    if (!has) {
        /* Insert the member before the closing brace, keeping what follows it (the newline). */
        size_t end = doc->len, tail;
        Buf *with = bufNew(doc->len + 512);
        JsonValue *json = jsonParse((const char *)doc->data, doc->len, err);
        bool empty = json != NULL && jsonLen(json) == 0;

        jsonFree(json);
        while (end > 0 && doc->data[end - 1] != '}')
            end--;
        BV_ASSERT(end > 0);
        tail = doc->len - end + 1;
        bufAppend(with, doc->data, end - 1);
        jsonBufPrintf(with, "%s\"encryption\":", empty ? "" : ",");
        keySettingsJson(&this->settings, with);
        bufAppend(with, doc->data + end - 1, tail);
        bufFree(doc);
        doc = with;
    }
    out.data = doc->data;
    out.len = doc->len;
    outInfo.size = doc->len;
    cryptoSha256(doc->data, doc->len, outInfo.sha256);
    cryptoMd5(doc->data, doc->len, outInfo.md5);
    *existed = false;
    rc = this->vt->put(this->driver, ARCHIVE_IDENTITY_OBJECT, &out, &outInfo, mode, existed, err);
    if (mode == STORAGE_PUT_IMMUTABLE && ((rc == 0 && *existed) || (rc != 0 && err->code == ERR_EXISTS))) {
        /* Compare here: the generic layer would compare with the document without the member. */
        *existed = false;
        rc = -1;
        if (keyInnerGet(this->vt, this->driver, ARCHIVE_IDENTITY_OBJECT, ARCHIVE_DOC_MAX, &stored, err) != 0)
            goto out;
        if (stored->len == doc->len && memcmp(stored->data, doc->data, doc->len) == 0) {
            rc = 0;
        } else if (keyIdentitySettings((const char *)stored->data, stored->len, &has, &have, err) != 0 ||
                   !has || !keySettingsEqual(&have, &this->settings)) {
            errSet(err, ERR_CONFIG, "archive '%s' was created meanwhile by another binvault with other "
                   "encryption settings: run the command again", this->url);
        } else {
            atomic_store(&this->identityStored, true);
            errSet(err, ERR_EXISTS, "the object already exists with different content");
        }
    }
    if (rc == 0)
        atomic_store(&this->identityStored, true);
out:
    bufFree(stored);
    bufFree(doc);
    ioReadFree(reader);
    return rc;
}

/* From now on objects go through the encrypting store, but binvault.json, which it passes
 * through as stored. */
static void
keyStartEncrypting(KeyStore *this) {
    Storage *inner = storageNewDriver(this->vt, this->driver, this->url);
    Storage *crypt = storageCryptNew(inner, &this->key, ARCHIVE_IDENTITY_OBJECT, this->tmpDir);

    storageUnwrap(crypt, &this->cryptVt, &this->cryptDriver);
    this->mode = KEY_MODE_ENCRYPT;
}

/* The driver objects are read through: settles the mode first. */
static int
keyTarget(KeyStore *this, const StorageDriverVt **vt, void **driver, Err *err) {
    if (keySettle(this, err) != 0)
        return -1;
    if (this->mode == KEY_MODE_ENCRYPT) {
        *vt = this->cryptVt;
        *driver = this->cryptDriver;
    } else {
        *vt = this->vt;
        *driver = this->driver;
    }
    return 0;
}

static int
keyPut(void *driver, const char *name, const StoragePutSource *src, const StoragePutInfo *info,
       StoragePutMode mode, bool *existed, Err *err) {
    KeyStore *this = driver;

    if (keySettle(this, err) != 0)
        return -1;
    if (this->mode == KEY_MODE_PLAIN)
        return this->vt->put(this->driver, name, src, info, mode, existed, err);
    if (this->mode == KEY_MODE_GUARD) {
        if (keyIsIdentity(name))
            return errSet(err, ERR_CONFIG, "a key is given (--key-file or BINVAULT_KEY_FILE) but "
                          "--encrypt (BINVAULT_ENCRYPT=1) is not, and '%s' is a new archive: add "
                          "--encrypt to create it encrypted, or give no key to create it unencrypted",
                          this->url);
        return this->vt->put(this->driver, name, src, info, mode, existed, err);
    }
    if (keyIsIdentity(name))
        return keyPutIdentity(this, src, info, mode, existed, err);
    if (keyIdentityReady(this, err) != 0)
        return -1;
    return this->cryptVt->put(this->cryptDriver, name, src, info, mode, existed, err);
}

static IoRead *
keyOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err) {
    KeyStore *this = driver;
    const StorageDriverVt *vt;
    void *target;

    if (keyTarget(this, &vt, &target, err) != 0)
        return NULL;
    return vt->openRead(target, name, offset, length, err);
}

static int
keyHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    KeyStore *this = driver;
    const StorageDriverVt *vt;
    void *target;

    if (keyTarget(this, &vt, &target, err) != 0)
        return -1;
    return vt->head(target, name, out, err);
}

static int
keyList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    KeyStore *this = driver;
    const StorageDriverVt *vt;
    void *target;

    if (keyTarget(this, &vt, &target, err) != 0)
        return -1;
    return vt->list(target, prefix, cb, data, err);
}

static int
keyListFrom(void *driver, const char *prefix, const char *startAfter, StorageListCb *cb, void *data, Err *err) {
    KeyStore *this = driver;
    const StorageDriverVt *vt;
    void *target;

    if (keyTarget(this, &vt, &target, err) != 0)
        return -1;
    if (vt->listFrom == NULL)
        return errSet(err, ERR_INTERNAL, "the store cannot list from a name");
    return vt->listFrom(target, prefix, startAfter, cb, data, err);
}

static int
keyRemove(void *driver, const char *name, Err *err) {
    KeyStore *this = driver;

    return this->vt->remove(this->driver, name, err);
}

static int
keyCleanTemp(void *driver, unsigned minAgeSec, unsigned *removed, Err *err) {
    KeyStore *this = driver;

    return this->vt->cleanTemp(this->driver, minAgeSec, removed, err);
}

/* The decorator without the drivers underneath. */
static void
keyFreeShell(KeyStore *this) {
    pthread_mutex_destroy(&this->lock);
    bvFree(this->url);
    bvFree(this->tmpDir);
    bvFree(this->keyFile);
    cryptoWipe(&this->key, sizeof(this->key));
    bvFree(this);
}

static void
keyFree(void *driver) {
    KeyStore *this = driver;

    if (this->cryptDriver != NULL)
        this->cryptVt->free(this->cryptDriver);
    else
        this->vt->free(this->driver);
    keyFreeShell(this);
}

/* The store underneath sends the MD5 of what it is given while the archive is plaintext (or not
 * yet known: at worst an MD5 is taken for nothing); the encrypting store does not. */
static bool
keySendsMd5(void *driver) {
    KeyStore *this = driver;

    if (atomic_load(&this->settled) && this->mode == KEY_MODE_ENCRYPT)
        return false;
    return this->vt->sendsMd5 != NULL && this->vt->sendsMd5(this->driver);
}

static const StorageDriverVt keyVt = {
    .put = keyPut,
    .openRead = keyOpenRead,
    .head = keyHead,
    .list = keyList,
    .listFrom = keyListFrom,
    .remove = keyRemove,
    .cleanTemp = keyCleanTemp,
    .free = keyFree,
    .sendsMd5 = keySendsMd5,
};

/* --- Opening ------------------------------------------------------------------------------ */

/* Whether the object `name` of the store starts like an encrypted object. */
static bool
keyLooksEncrypted(const StorageDriverVt *vt, void *driver, const char *name) {
    uint8_t magic[STORAGE_CRYPT_MAGIC_LEN];
    IoRead *reader;
    Err ignored;
    bool encrypted = false;

    if ((reader = vt->openRead(driver, name, 0, 0, &ignored)) == NULL)
        return false;
    if (ioReadFull(reader, magic, sizeof(magic), &ignored) == (ssize_t)sizeof(magic))
        encrypted = storageCryptIsObject(magic);
    ioReadFree(reader);
    return encrypted;
}

/* Settle the mode from binvault.json (see archiveKeyWrap()). Called with the lock held. */
static int
keySettleLocked(KeyStore *this, Err *err) {
    KeySettings settings;
    bool identity = false, has = false;
    Buf *doc = NULL;
    int rc = -1;

    if (keyInnerGet(this->vt, this->driver, ARCHIVE_IDENTITY_OBJECT, ARCHIVE_DOC_MAX, &doc, err) == 0) {
        identity = true;
    } else if (err->code != ERR_NOTFOUND) {
        return errPrefix(err, "unable to read '%s' from '%s'", ARCHIVE_IDENTITY_OBJECT, this->url);
    }
    if (identity && keyIdentitySettings((const char *)doc->data, doc->len, &has, &settings, err) != 0) {
        if (this->keyFile == NULL && !this->encrypt) {
            /* Not this module's business: the commands say what is wrong with it. */
            this->mode = KEY_MODE_PLAIN;
            rc = 0;
        } else {
            errPrefix(err, "'%s' in '%s'", ARCHIVE_IDENTITY_OBJECT, this->url);
        }
        goto out;
    }
    if (identity && has) {
        if (this->keyFile == NULL) {
            errSet(err, ERR_CONFIG, "archive '%s' is encrypted: give its key with --key-file FILE (or "
                   "BINVAULT_KEY_FILE)", this->url);
            goto out;
        }
        if (keyLoad(this->keyFile, &settings, this->url, &this->key, err) != 0)
            goto out;
        this->settings = settings;
        keyStartEncrypting(this);
        atomic_store(&this->identityStored, true);
    } else if (identity) {
        if (this->encrypt) {
            errSet(err, ERR_CONFIG, "archive '%s' exists and is not encrypted: --encrypt "
                   "(BINVAULT_ENCRYPT=1) only creates a new archive encrypted", this->url);
            goto out;
        }
        if (this->keyFile != NULL) {
            if (keyLooksEncrypted(this->vt, this->driver, ARCHIVE_CHECKPOINT_OBJECT)) {
                errSet(err, ERR_FORMAT, "the %s of archive '%s' has no encryption settings but its "
                       "%s is encrypted: %s was modified", ARCHIVE_IDENTITY_OBJECT, this->url,
                       ARCHIVE_CHECKPOINT_OBJECT, ARCHIVE_IDENTITY_OBJECT);
                goto out;
            }
            logWarn("archive '%s' is not encrypted: the key of '%s' is not used", this->url,
                    this->keyFile);
        }
        this->mode = KEY_MODE_PLAIN;
    } else if (this->encrypt) {
        if (keyCreate(this->keyFile, &this->settings, &this->key, err) != 0)
            goto out;
        keyStartEncrypting(this);
    } else {
        this->mode = this->keyFile != NULL ? KEY_MODE_GUARD : KEY_MODE_PLAIN;
    }
    rc = 0;
out:
    bufFree(doc);
    return rc;
}

static int
keySettle(KeyStore *this, Err *err) {
    int rc = 0;

    if (atomic_load(&this->settled))
        return 0;
    pthread_mutex_lock(&this->lock);
    if (!atomic_load(&this->settled)) {
        rc = keySettleLocked(this, err);
        if (rc == 0)
            atomic_store(&this->settled, true);
    }
    pthread_mutex_unlock(&this->lock);
    return rc;
}

Storage *
archiveKeyWrap(Storage *inner, const char *keyFile, bool encrypt, const char *tmpDir, Err *err) {
    KeyStore *this = bvCalloc(1, sizeof(*this));
    Storage *result;

    this->url = bvStrdup(storageUrl(inner));
    this->tmpDir = tmpDir != NULL && tmpDir[0] != '\0' ? bvStrdup(tmpDir) : NULL;
    storageUnwrap(inner, &this->vt, &this->driver);
    pthread_mutex_init(&this->lock, NULL);
    atomic_init(&this->settled, false);
    atomic_init(&this->identityStored, false);
    if (keyFile != NULL && keyFile[0] == '\0') {
        errSet(err, ERR_USAGE, "empty --key-file");
        goto fail;
    }
    if (encrypt && keyFile == NULL) {
        errSet(err, ERR_USAGE, "--encrypt (BINVAULT_ENCRYPT=1) needs a key: --key-file FILE (or "
               "BINVAULT_KEY_FILE)");
        goto fail;
    }
    this->encrypt = encrypt;
    if (keyFile != NULL) {
        /* A bad key file is reported now, whatever the store says later. */
        uint8_t *secret;
        size_t len;

        if (keyFileRead(keyFile, &secret, &len, err) != 0)
            goto fail;
        cryptoWipe(secret, len);
        bvFree(secret);
        this->keyFile = bvStrdup(keyFile);
    }
    if (keySettle(this, err) != 0) {
        if (err->code != ERR_STORAGE)
            goto fail;
        logDebug("'%s': %s; settling the encryption at the first operation", this->url, err->msg);
    }
    if (atomic_load(&this->settled) && this->mode == KEY_MODE_PLAIN) {
        /* Nothing to decorate. */
        result = storageNewDriver(this->vt, this->driver, this->url);
        keyFreeShell(this);
        return result;
    }
    return storageNewDriver(&keyVt, this, this->url);

fail:
    keyFree(this);
    return NULL;
}

Storage *
archiveKeyOpenStore(const char *url, const StorageOptions *opts, Err *err) {
    Storage *inner = storageNewOpts(url, opts, err);

    if (inner == NULL)
        return NULL;
    return archiveKeyWrap(inner, opts ? opts->keyFile : NULL, opts ? opts->encrypt : false, opts ? opts->tmpDir : NULL,
                          err);
}
