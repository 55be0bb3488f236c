/*
 * Encryption at rest: the object format (header, STREAM of AES-256-GCM chunks) as an IoWrite and
 * an IoRead filter, the archive key (key file, PBKDF2, key check), and the Storage decorator that
 * applies them to every object but binvault.json. See storage/storage_crypt.h and docs/FORMAT.md.
 */
#include "storage/storage_crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"

/* --- Object format ------------------------------------------------------------------------ */

#define CRYPT_MAGIC "BVENC\x00\x01\n"
#define CRYPT_MAGIC_LEN 8
#define CRYPT_VERSION 1
#define CRYPT_CIPHER_AES256GCM 1
#define CRYPT_CHUNK_LOG2 16
#define CRYPT_SEALED (STORAGE_CRYPT_CHUNK + STORAGE_CRYPT_TAG_LEN)
#define CRYPT_SALT_LEN 16
#define CRYPT_PREFIX_LEN 7
/* Chunk indexes are 32 bits in the nonce. */
#define CRYPT_CHUNKS_MAX (UINT64_C(1) << 32)
/* Header offsets. */
#define CRYPT_OFF_CIPHER 8
#define CRYPT_OFF_CHUNK 9
#define CRYPT_OFF_RESERVED1 10
#define CRYPT_OFF_KEY_ID 12
#define CRYPT_OFF_SALT 20
#define CRYPT_OFF_PREFIX 36
#define CRYPT_OFF_RESERVED2 43
/* Associated data: the header, the chunk index (u64 LE), the final flag, the object name. */
#define CRYPT_AD_INDEX STORAGE_CRYPT_HEADER_LEN
#define CRYPT_AD_FINAL (STORAGE_CRYPT_HEADER_LEN + 8)
#define CRYPT_AD_NAME (STORAGE_CRYPT_HEADER_LEN + 9)
#define CRYPT_OBJECT_KEY_INFO "binvault object key v1"
#define CRYPT_KEY_CHECK_INFO "binvault key check v1"
/* A reader of a whole object finds the final chunk by the end of the object. */
#define CRYPT_LAST_UNKNOWN UINT64_MAX

#define CRYPT_IDENTITY "binvault.json"
#define CRYPT_CHECKPOINT "checkpoint.json"
/* Largest binvault.json handled (as archive/archive.h reads it). */
#define CRYPT_IDENTITY_MAX (1024 * 1024)

uint64_t
storageCryptObjectSize(uint64_t plainSize) {
    uint64_t chunks = plainSize == 0 ? 1 : (plainSize - 1) / STORAGE_CRYPT_CHUNK + 1;

    return STORAGE_CRYPT_HEADER_LEN + plainSize + chunks * STORAGE_CRYPT_TAG_LEN;
}

bool
storageCryptPlainSize(uint64_t objectSize, uint64_t *plainSize) {
    uint64_t body, chunks, last;

    if (objectSize < STORAGE_CRYPT_HEADER_LEN + STORAGE_CRYPT_TAG_LEN)
        return false;
    body = objectSize - STORAGE_CRYPT_HEADER_LEN;
    chunks = (body - 1) / CRYPT_SEALED + 1;
    last = body - (chunks - 1) * CRYPT_SEALED;
    /* Only an empty object ends with an empty chunk. */
    if (last < STORAGE_CRYPT_TAG_LEN || (chunks > 1 && last == STORAGE_CRYPT_TAG_LEN) ||
        chunks > CRYPT_CHUNKS_MAX)
        return false;
    *plainSize = body - chunks * STORAGE_CRYPT_TAG_LEN;
    return true;
}

/* Number of chunks of a plaintext of `plainSize` bytes. */
static uint64_t
cryptChunks(uint64_t plainSize) {
    return plainSize == 0 ? 1 : (plainSize - 1) / STORAGE_CRYPT_CHUNK + 1;
}

static void
cryptPutU64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* What one object needs to seal or open its chunks: its key schedule and the associated data,
 * whose chunk index and final flag are set per chunk. */
typedef struct CryptObject {
    CryptoAead *aead;
    uint8_t header[STORAGE_CRYPT_HEADER_LEN];
    uint8_t *ad;
    size_t adLen;
} CryptObject;

static void
cryptObjectInit(CryptObject *o, const StorageCryptKey *key, const uint8_t *header, const char *name,
                bool seal) {
    uint8_t objectKey[CRYPTO_AEAD_KEY_LEN];
    size_t nameLen = strlen(name);

    memcpy(o->header, header, STORAGE_CRYPT_HEADER_LEN);
    cryptoHkdfSha256(key->key, sizeof(key->key), header + CRYPT_OFF_SALT, CRYPT_SALT_LEN,
                     CRYPT_OBJECT_KEY_INFO, strlen(CRYPT_OBJECT_KEY_INFO), objectKey,
                     sizeof(objectKey));
    o->aead = cryptoAeadNew(objectKey, seal);
    cryptoWipe(objectKey, sizeof(objectKey));
    o->adLen = CRYPT_AD_NAME + nameLen;
    o->ad = bvMalloc(o->adLen);
    memcpy(o->ad, header, STORAGE_CRYPT_HEADER_LEN);
    memcpy(o->ad + CRYPT_AD_NAME, name, nameLen);
}

/* Nonce and associated data of chunk `index`. */
static void
cryptObjectChunk(CryptObject *o, uint64_t index, bool final, uint8_t nonce[CRYPTO_AEAD_NONCE_LEN]) {
    BV_ASSERT(index < CRYPT_CHUNKS_MAX);
    memcpy(nonce, o->header + CRYPT_OFF_PREFIX, CRYPT_PREFIX_LEN);
    nonce[7] = (uint8_t)(index >> 24);
    nonce[8] = (uint8_t)(index >> 16);
    nonce[9] = (uint8_t)(index >> 8);
    nonce[10] = (uint8_t)index;
    nonce[11] = final ? 1 : 0;
    cryptPutU64(o->ad + CRYPT_AD_INDEX, index);
    o->ad[CRYPT_AD_FINAL] = final ? 1 : 0;
}

static void
cryptObjectClear(CryptObject *o) {
    cryptoAeadFree(o->aead);
    bvFree(o->ad);
    memset(o, 0, sizeof(*o));
}

/* Check a header read from an object against the key; messages say what is wrong with it. */
static int
cryptHeaderCheck(const uint8_t *h, const StorageCryptKey *key, Err *err) {
    if (memcmp(h, CRYPT_MAGIC, CRYPT_MAGIC_LEN) != 0) {
        if (memcmp(h, CRYPT_MAGIC, 6) == 0 && h[7] == '\n')
            return errSet(err, ERR_FORMAT, "encrypted object format version %u is not supported "
                          "(this binvault reads version %d)", h[6], CRYPT_VERSION);
        return errSet(err, ERR_FORMAT, "not an encrypted object: the first 8 bytes are %02x %02x "
                      "%02x %02x %02x %02x %02x %02x", h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
    }
    if (h[CRYPT_OFF_CIPHER] != CRYPT_CIPHER_AES256GCM)
        return errSet(err, ERR_FORMAT, "encrypted object header: unknown cipher %u",
                      h[CRYPT_OFF_CIPHER]);
    if (h[CRYPT_OFF_CHUNK] != CRYPT_CHUNK_LOG2)
        return errSet(err, ERR_FORMAT, "encrypted object header: chunk size 2^%u is not supported "
                      "(version %d has 2^%d)", h[CRYPT_OFF_CHUNK], CRYPT_VERSION, CRYPT_CHUNK_LOG2);
    for (size_t i = 0; i < STORAGE_CRYPT_HEADER_LEN; i++) {
        bool reserved = (i >= CRYPT_OFF_RESERVED1 && i < CRYPT_OFF_KEY_ID) || i >= CRYPT_OFF_RESERVED2;

        if (reserved && h[i] != 0)
            return errSet(err, ERR_FORMAT, "encrypted object header: reserved byte %zu is not zero",
                          i);
    }
    if (memcmp(h + CRYPT_OFF_KEY_ID, key->keyId, STORAGE_CRYPT_KEY_ID_LEN) != 0) {
        char have[STORAGE_CRYPT_KEY_ID_LEN * 2 + 1], want[STORAGE_CRYPT_KEY_ID_LEN * 2 + 1];

        cryptoHexEncode(h + CRYPT_OFF_KEY_ID, STORAGE_CRYPT_KEY_ID_LEN, have);
        cryptoHexEncode(key->keyId, STORAGE_CRYPT_KEY_ID_LEN, want);
        return errSet(err, ERR_FORMAT, "encrypted with another key (key id %s; the archive's key "
                      "has key id %s)", have, want);
    }
    return 0;
}

/* --- Writing ------------------------------------------------------------------------------ */

/* Chunks are sealed one behind: a full chunk is sealed as not final only once more bytes come,
 * so the last one is known at close without knowing the length in advance. */
typedef struct CryptWrite {
    IoWrite *next;
    CryptObject obj;
    uint8_t *plain; /* the chunk being filled */
    size_t have;
    uint8_t *sealed;
    uint64_t index; /* of the chunk being filled */
    bool headerDone;
} CryptWrite;

static int
cryptWriteHeader(CryptWrite *this, Err *err) {
    if (this->headerDone)
        return 0;
    this->headerDone = true;
    return ioWrite(this->next, this->obj.header, STORAGE_CRYPT_HEADER_LEN, err);
}

static int
cryptWriteSeal(CryptWrite *this, bool final, Err *err) {
    uint8_t nonce[CRYPTO_AEAD_NONCE_LEN];

    if (this->index >= CRYPT_CHUNKS_MAX)
        return errSet(err, ERR_LIMIT, "an encrypted object holds at most 2^32 chunks of %d bytes",
                      STORAGE_CRYPT_CHUNK);
    cryptObjectChunk(&this->obj, this->index, final, nonce);
    cryptoAeadSeal(this->obj.aead, nonce, this->obj.ad, this->obj.adLen, this->plain, this->have,
                   this->sealed, this->sealed + this->have);
    if (ioWrite(this->next, this->sealed, this->have + STORAGE_CRYPT_TAG_LEN, err) != 0)
        return -1;
    this->index++;
    this->have = 0;
    return 0;
}

static int
cryptWriteWrite(void *ctx, const uint8_t *data, size_t len, Err *err) {
    CryptWrite *this = ctx;

    if (cryptWriteHeader(this, err) != 0)
        return -1;
    while (len > 0) {
        size_t n;

        if (this->have == STORAGE_CRYPT_CHUNK && cryptWriteSeal(this, false, err) != 0)
            return -1;
        n = STORAGE_CRYPT_CHUNK - this->have < len ? STORAGE_CRYPT_CHUNK - this->have : len;
        memcpy(this->plain + this->have, data, n);
        this->have += n;
        data += n;
        len -= n;
    }
    return 0;
}

static int
cryptWriteClose(void *ctx, Err *err) {
    CryptWrite *this = ctx;

    if (cryptWriteHeader(this, err) != 0 || cryptWriteSeal(this, true, err) != 0)
        return -1;
    return ioWriteClose(this->next, err);
}

static void
cryptWriteFree(void *ctx) {
    CryptWrite *this = ctx;

    ioWriteFree(this->next);
    cryptObjectClear(&this->obj);
    cryptoWipe(this->plain, STORAGE_CRYPT_CHUNK);
    bvFree(this->plain);
    bvFree(this->sealed);
    bvFree(this);
}

static const IoWriteVt cryptWriteVt = {
    .name = "encrypt",
    .write = cryptWriteWrite,
    .close = cryptWriteClose,
    .free = cryptWriteFree,
};

IoWrite *
storageCryptWriteNew(IoWrite *next, const StorageCryptKey *key, const char *name, Err *err) {
    uint8_t header[STORAGE_CRYPT_HEADER_LEN] = {0};
    CryptWrite *this;

    memcpy(header, CRYPT_MAGIC, CRYPT_MAGIC_LEN);
    header[CRYPT_OFF_CIPHER] = CRYPT_CIPHER_AES256GCM;
    header[CRYPT_OFF_CHUNK] = CRYPT_CHUNK_LOG2;
    memcpy(header + CRYPT_OFF_KEY_ID, key->keyId, STORAGE_CRYPT_KEY_ID_LEN);
    if (cryptoRandom(header + CRYPT_OFF_SALT, CRYPT_SALT_LEN + CRYPT_PREFIX_LEN, err) != 0) {
        ioWriteFree(next);
        return NULL;
    }
    this = bvCalloc(1, sizeof(*this));
    this->next = next;
    cryptObjectInit(&this->obj, key, header, name, true);
    this->plain = bvMalloc(STORAGE_CRYPT_CHUNK);
    this->sealed = bvMalloc(CRYPT_SEALED);
    return ioWriteNew(&cryptWriteVt, this);
}

/* --- Reading ------------------------------------------------------------------------------ */

/* A reader of chunks first..: of a whole object (header read from src, last chunk found at the
 * end of src: one byte is read ahead to tell) or of a range (header given, last chunk known). */
typedef struct CryptRead {
    IoRead *src;
    const StorageCryptKey *key; /* outlives the reader (the Storage's, or the caller's) */
    char *name;
    CryptObject obj;
    bool headerDone;
    uint64_t index;     /* next chunk to open */
    uint64_t last;      /* index of the final chunk, or CRYPT_LAST_UNKNOWN */
    uint8_t *sealed;    /* CRYPT_SEALED + 1 bytes */
    size_t sealedHave;  /* bytes in sealed (the look-ahead byte of the next chunk) */
    uint8_t *plain;
    size_t plainPos, plainLen;
    uint64_t skip;      /* plaintext to drop from the first chunk opened */
    uint64_t left;      /* plaintext still to hand out; UINT64_MAX: to the end */
    bool finalDone;     /* the final chunk has been opened */
} CryptRead;

static int
cryptReadHeader(CryptRead *this, Err *err) {
    uint8_t header[STORAGE_CRYPT_HEADER_LEN];
    ssize_t n = ioReadFull(this->src, header, sizeof(header), err);

    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(header))
        return errSet(err, ERR_FORMAT, "object of %zd bytes is too small to be an encrypted object",
                      n);
    if (cryptHeaderCheck(header, this->key, err) != 0)
        return -1;
    cryptObjectInit(&this->obj, this->key, header, this->name, false);
    this->headerDone = true;
    return 0;
}

/* Fill sealed up to `want` bytes or the end of src. */
static int
cryptReadFill(CryptRead *this, size_t want, Err *err) {
    while (this->sealedHave < want) {
        ssize_t n = ioRead(this->src, this->sealed + this->sealedHave, want - this->sealedHave, err);

        if (n < 0)
            return -1;
        if (n == 0)
            break;
        this->sealedHave += (size_t)n;
    }
    return 0;
}

static int
cryptReadChunk(CryptRead *this, Err *err) {
    uint8_t nonce[CRYPTO_AEAD_NONCE_LEN];
    size_t len, carry = 0;
    bool final;

    if (!this->headerDone && cryptReadHeader(this, err) != 0)
        return -1;
    if (this->index >= CRYPT_CHUNKS_MAX)
        return errSet(err, ERR_FORMAT, "chunk %llu: more than 2^32 chunks",
                      (unsigned long long)this->index);
    if (this->last == CRYPT_LAST_UNKNOWN) {
        if (cryptReadFill(this, CRYPT_SEALED + 1, err) != 0)
            return -1;
        final = this->sealedHave <= CRYPT_SEALED;
        len = final ? this->sealedHave : CRYPT_SEALED;
        carry = this->sealedHave - len;
    } else {
        if (cryptReadFill(this, CRYPT_SEALED, err) != 0)
            return -1;
        final = this->index == this->last;
        len = this->sealedHave;
        if (!final && len < CRYPT_SEALED)
            return errSet(err, ERR_FORMAT, "chunk %llu: the object ends after %zu of its %d bytes "
                          "(truncated)", (unsigned long long)this->index, len, CRYPT_SEALED);
    }
    if (len < STORAGE_CRYPT_TAG_LEN || (final && len == STORAGE_CRYPT_TAG_LEN && this->index > 0))
        return errSet(err, ERR_FORMAT, "chunk %llu: the object ends %s (truncated)",
                      (unsigned long long)this->index,
                      len < STORAGE_CRYPT_TAG_LEN ? "inside the chunk" : "with an empty chunk");
    cryptObjectChunk(&this->obj, this->index, final, nonce);
    len -= STORAGE_CRYPT_TAG_LEN;
    if (!cryptoAeadOpen(this->obj.aead, nonce, this->obj.ad, this->obj.adLen, this->sealed, len,
                        this->sealed + len, this->plain))
        return errSet(err, ERR_FORMAT, "chunk %llu of the encrypted object does not authenticate: "
                      "the object was modified, truncated or reordered, or it was stored under "
                      "another name", (unsigned long long)this->index);
    if (carry > 0)
        memmove(this->sealed, this->sealed + len + STORAGE_CRYPT_TAG_LEN, carry);
    this->sealedHave = carry;
    this->plainLen = len;
    this->plainPos = 0;
    if (this->skip > 0) {
        if (this->skip > len)
            return errSet(err, ERR_INTERNAL, "chunk %llu: skip past its end",
                          (unsigned long long)this->index);
        this->plainPos = (size_t)this->skip;
        this->skip = 0;
    }
    this->index++;
    this->finalDone = final;
    return 0;
}

static ssize_t
cryptReadRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    CryptRead *this = ctx;
    size_t n;

    while (this->plainPos == this->plainLen) {
        if (this->finalDone || this->left == 0)
            return 0;
        if (cryptReadChunk(this, err) != 0)
            return -1;
    }
    n = this->plainLen - this->plainPos;
    if (n > len)
        n = len;
    if (this->left != UINT64_MAX) {
        if (n > this->left)
            n = (size_t)this->left;
        this->left -= n;
    }
    memcpy(buf, this->plain + this->plainPos, n);
    this->plainPos += n;
    return (ssize_t)n;
}

static void
cryptReadFree(void *ctx) {
    CryptRead *this = ctx;

    ioReadFree(this->src);
    cryptObjectClear(&this->obj);
    cryptoWipe(this->plain, STORAGE_CRYPT_CHUNK);
    bvFree(this->plain);
    bvFree(this->sealed);
    bvFree(this->name);
    bvFree(this);
}

static const IoReadVt cryptReadVt = {
    .name = "decrypt",
    .read = cryptReadRead,
    .free = cryptReadFree,
};

/* `header` NULL: src starts with the header. */
static IoRead *
cryptReadNew(IoRead *src, const StorageCryptKey *key, const char *name, const uint8_t *header,
             uint64_t first, uint64_t last, uint64_t skip, uint64_t left) {
    CryptRead *this = bvCalloc(1, sizeof(*this));

    this->src = src;
    this->key = key;
    this->name = bvStrdup(name);
    if (header != NULL) {
        cryptObjectInit(&this->obj, key, header, name, false);
        this->headerDone = true;
    }
    this->index = first;
    this->last = last;
    this->skip = skip;
    this->left = left;
    this->sealed = bvMalloc(CRYPT_SEALED + 1);
    this->plain = bvMalloc(STORAGE_CRYPT_CHUNK);
    return ioReadNew(&cryptReadVt, this);
}

IoRead *
storageCryptReadNew(IoRead *src, const StorageCryptKey *key, const char *name) {
    return cryptReadNew(src, key, name, NULL, 0, CRYPT_LAST_UNKNOWN, 0, UINT64_MAX);
}

/* --- The archive key ---------------------------------------------------------------------- */

/* Encryption settings of an archive (member `encryption` of binvault.json). */
typedef struct CryptSettings {
    bool pbkdf2; /* false: a raw 32-byte key */
    uint32_t iterations;
    uint8_t salt[CRYPT_SALT_LEN];
    uint8_t keyCheck[CRYPTO_SHA256_LEN];
} CryptSettings;

int
storageCryptKeyDerive(const uint8_t *secret, size_t secretLen, bool pbkdf2, uint32_t iterations,
                      const uint8_t *salt, size_t saltLen, StorageCryptKey *key,
                      uint8_t keyCheck[CRYPTO_SHA256_LEN], Err *err) {
    uint8_t *data;
    size_t infoLen = strlen(CRYPT_KEY_CHECK_INFO);

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
    memcpy(data, CRYPT_KEY_CHECK_INFO, infoLen);
    memcpy(data + infoLen, salt, saltLen);
    cryptoHmacSha256(key->key, sizeof(key->key), data, infoLen + saltLen, keyCheck);
    bvFree(data);
    memcpy(key->keyId, keyCheck, STORAGE_CRYPT_KEY_ID_LEN);
    return 0;
}

/* Read the key file: a regular file of the user, mode 0600 or stricter, 1 to
 * STORAGE_CRYPT_KEY_FILE_MAX bytes. Read from the descriptor that was checked. */
static int
cryptKeyFileRead(const char *path, uint8_t **data, size_t *len, Err *err) {
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
    if (st.st_size <= 0 || st.st_size > STORAGE_CRYPT_KEY_FILE_MAX) {
        errSet(err, ERR_CONFIG, "the key file '%s' holds %lld bytes: expected a 32-byte key or a "
               "passphrase of at most %d bytes", path, (long long)st.st_size,
               STORAGE_CRYPT_KEY_FILE_MAX);
        goto out;
    }
    buf = bvMalloc(STORAGE_CRYPT_KEY_FILE_MAX + 1);
    for (;;) {
        ssize_t n = read(fd, buf + have, STORAGE_CRYPT_KEY_FILE_MAX + 1 - have);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            errSetSys(err, ERR_CONFIG, errno, "unable to read the key file '%s'", path);
            goto out;
        }
        if (n == 0)
            break;
        have += (size_t)n;
        if (have > STORAGE_CRYPT_KEY_FILE_MAX) {
            errSet(err, ERR_CONFIG, "the key file '%s' grew past %d bytes while being read", path,
                   STORAGE_CRYPT_KEY_FILE_MAX);
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
        cryptoWipe(buf, STORAGE_CRYPT_KEY_FILE_MAX + 1);
        bvFree(buf);
    }
    close(fd);
    return rc;
}

/* The secret of a key file for a KDF: a passphrase loses one trailing newline. */
static int
cryptPassphrase(const char *path, const uint8_t *data, size_t *len, Err *err) {
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
cryptKeyLoad(const char *path, const CryptSettings *settings, const char *url, StorageCryptKey *key,
             Err *err) {
    uint8_t *secret, keyCheck[CRYPTO_SHA256_LEN];
    size_t len;
    int rc = -1;

    if (cryptKeyFileRead(path, &secret, &len, err) != 0)
        return -1;
    if (settings->pbkdf2 && cryptPassphrase(path, secret, &len, err) != 0)
        goto out;
    if (storageCryptKeyDerive(secret, len, settings->pbkdf2, settings->iterations, settings->salt,
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
    cryptoWipe(secret, STORAGE_CRYPT_KEY_FILE_MAX + 1);
    bvFree(secret);
    if (rc != 0)
        cryptoWipe(key, sizeof(*key));
    return rc;
}

/* New settings and key for a new archive: a raw key for a 32-byte file, else a passphrase. */
static int
cryptKeyCreate(const char *path, CryptSettings *settings, StorageCryptKey *key, Err *err) {
    uint8_t *secret;
    size_t len;
    int rc = -1;

    if (cryptKeyFileRead(path, &secret, &len, err) != 0)
        return -1;
    memset(settings, 0, sizeof(*settings));
    settings->pbkdf2 = len != CRYPTO_AEAD_KEY_LEN;
    settings->iterations = settings->pbkdf2 ? STORAGE_CRYPT_PBKDF2_ITERATIONS : 0;
    if ((settings->pbkdf2 && cryptPassphrase(path, secret, &len, err) != 0) ||
        cryptoRandom(settings->salt, sizeof(settings->salt), err) != 0)
        goto out;
    rc = storageCryptKeyDerive(secret, len, settings->pbkdf2, settings->iterations, settings->salt,
                               sizeof(settings->salt), key, settings->keyCheck, err);
out:
    cryptoWipe(secret, STORAGE_CRYPT_KEY_FILE_MAX + 1);
    bvFree(secret);
    return rc;
}

/* The `encryption` member of binvault.json. */
static void
cryptSettingsJson(const CryptSettings *s, Buf *out) {
    char salt[CRYPT_SALT_LEN * 2 + 1], check[CRYPTO_SHA256_LEN * 2 + 1];

    cryptoHexEncode(s->salt, sizeof(s->salt), salt);
    cryptoHexEncode(s->keyCheck, sizeof(s->keyCheck), check);
    jsonBufPrintf(out, "{\"version\":%d,\"cipher\":\"aes-256-gcm\",\"kdf\":\"%s\"", CRYPT_VERSION,
                  s->pbkdf2 ? "pbkdf2-hmac-sha256" : "none");
    if (s->pbkdf2)
        jsonBufPrintf(out, ",\"iterations\":%u", (unsigned)s->iterations);
    jsonBufPrintf(out, ",\"salt\":\"%s\",\"key_check\":\"%s\"}", salt, check);
}

static int
cryptHexMember(const JsonValue *obj, const char *name, uint8_t *out, size_t len, Err *err) {
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
cryptSettingsParse(const JsonValue *enc, CryptSettings *s, Err *err) {
    const char *cipher, *kdf;
    uint64_t version, iterations;

    memset(s, 0, sizeof(*s));
    if (jsonType(enc) != JSON_OBJECT)
        return errSet(err, ERR_FORMAT, "member 'encryption' is not an object");
    if (jsonReqU64(enc, "version", &version, err) != 0 || jsonReqStr(enc, "cipher", &cipher, err) != 0 ||
        jsonReqStr(enc, "kdf", &kdf, err) != 0)
        return errPrefix(err, "member 'encryption'");
    if (version != CRYPT_VERSION)
        return errSet(err, ERR_FORMAT, "encryption version %llu is not supported (this binvault "
                      "reads version %d)", (unsigned long long)version, CRYPT_VERSION);
    if (strcmp(cipher, "aes-256-gcm") != 0)
        return errSet(err, ERR_FORMAT, "encryption cipher '%s' is not supported", cipher);
    if (strcmp(kdf, "pbkdf2-hmac-sha256") == 0) {
        s->pbkdf2 = true;
        if (jsonReqU64(enc, "iterations", &iterations, err) != 0)
            return errPrefix(err, "member 'encryption'");
        if (iterations < STORAGE_CRYPT_PBKDF2_MIN || iterations > STORAGE_CRYPT_PBKDF2_MAX)
            return errSet(err, ERR_FORMAT, "encryption: %llu PBKDF2 iterations is out of the range "
                          "%d to %d", (unsigned long long)iterations, STORAGE_CRYPT_PBKDF2_MIN,
                          STORAGE_CRYPT_PBKDF2_MAX);
        s->iterations = (uint32_t)iterations;
    } else if (strcmp(kdf, "none") != 0) {
        return errSet(err, ERR_FORMAT, "encryption kdf '%s' is not supported", kdf);
    }
    if (cryptHexMember(enc, "salt", s->salt, sizeof(s->salt), err) != 0 ||
        cryptHexMember(enc, "key_check", s->keyCheck, sizeof(s->keyCheck), err) != 0)
        return errPrefix(err, "member 'encryption'");
    return 0;
}

static bool
cryptSettingsEqual(const CryptSettings *a, const CryptSettings *b) {
    return a->pbkdf2 == b->pbkdf2 && a->iterations == b->iterations &&
           memcmp(a->salt, b->salt, sizeof(a->salt)) == 0 &&
           memcmp(a->keyCheck, b->keyCheck, sizeof(a->keyCheck)) == 0;
}

/* --- The decorator ------------------------------------------------------------------------ */

typedef enum CryptMode {
    CRYPT_MODE_PLAIN,   /* an unencrypted archive: everything passes through */
    CRYPT_MODE_ENCRYPT, /* every object but binvault.json is encrypted */
    CRYPT_MODE_GUARD,   /* plaintext, but a new binvault.json is refused (a key and no --encrypt) */
} CryptMode;

/* The mode is settled by reading binvault.json, at open, or at the first operation when the store
 * could not be reached then (an agent starts, and retries, while its store is down); from then on
 * the state is only read, but for identityStored. */
typedef struct StorageCrypt {
    const StorageDriverVt *vt; /* the driver underneath */
    void *driver;
    char *url;
    bool needMd5;  /* the driver underneath uses StoragePutInfo.md5 (S3) */
    char *keyFile; /* NULL: no key */
    bool encrypt;
    pthread_mutex_t lock; /* settling the mode */
    atomic_bool settled;
    CryptMode mode;
    StorageCryptKey key;
    CryptSettings settings;
    atomic_bool identityStored; /* binvault.json with these settings is in the store */
} StorageCrypt;

static int cryptSettle(StorageCrypt *this, Err *err);

static bool
cryptIsIdentity(const char *name) {
    return strcmp(name, CRYPT_IDENTITY) == 0;
}

/* Read a small object of the store underneath into `*out` (NUL-terminated); ERR_NOTFOUND passed
 * through, ERR_LIMIT past `max`. */
static int
cryptInnerGet(const StorageDriverVt *vt, void *driver, const char *name, size_t max, Buf **out,
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
cryptIdentitySettings(const char *doc, size_t len, bool *has, CryptSettings *s, Err *err) {
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
        rc = cryptSettingsParse(enc, s, err);
    jsonFree(json);
    return rc;
}

/* The identity in the store must carry this decorator's settings before any other object is
 * encrypted with its key: a key whose settings are lost would make the archive unreadable. */
static int
cryptIdentityReady(StorageCrypt *this, Err *err) {
    CryptSettings stored;
    bool has = false;
    Buf *doc;
    int rc;

    if (atomic_load(&this->identityStored))
        return 0;
    if (cryptInnerGet(this->vt, this->driver, CRYPT_IDENTITY, CRYPT_IDENTITY_MAX, &doc, err) != 0) {
        if (err->code == ERR_NOTFOUND)
            errSet(err, ERR_CONFIG, "the new encrypted archive '%s' has no %s yet: it must be written "
                   "first, with the encryption settings (binvault import and the agent do)",
                   this->url, CRYPT_IDENTITY);
        return -1;
    }
    rc = cryptIdentitySettings((const char *)doc->data, doc->len, &has, &stored, err);
    bufFree(doc);
    if (rc != 0)
        return errPrefix(err, "'%s' in '%s'", CRYPT_IDENTITY, this->url);
    if (!has || !cryptSettingsEqual(&stored, &this->settings))
        return errSet(err, ERR_CONFIG, "archive '%s' was created meanwhile by another binvault with "
                      "other encryption settings: run the command again", this->url);
    atomic_store(&this->identityStored, true);
    return 0;
}

/* A temporary file for the encrypted copy of the local file `srcPath`: next to it (on the file
 * system sized for it: the spool), else in $TMPDIR. Named "*.tmp" so that a spool cleans the
 * leftovers of a crash. */
static int
cryptTempOpen(const char *srcPath, char **path, Err *err) {
    const char *slash = strrchr(srcPath, '/');
    const char *tmpDir = getenv("TMPDIR");
    char *dir;
    int fd;

    if (slash == NULL)
        dir = bvStrdup(".");
    else if (slash == srcPath)
        dir = bvStrdup("/");
    else
        dir = bvStrndup(srcPath, (size_t)(slash - srcPath));
    *path = bvSprintf("%s/%s.enc-XXXXXX.tmp", dir, slash ? slash + 1 : srcPath);
    bvFree(dir);
    fd = mkstemps(*path, 4);
    if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EROFS || errno == ENAMETOOLONG)) {
        bvFree(*path);
        *path = bvSprintf("%s/binvault-enc-XXXXXX.tmp", tmpDir && tmpDir[0] ? tmpDir : "/tmp");
        fd = mkstemps(*path, 4);
    }
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create a temporary file '%s'", *path);
        bvFree(*path);
        *path = NULL;
    }
    return fd;
}

/* The encrypted form of a put source: into memory for a buffer, a temporary file for a file.
 * The plaintext read must match `info` (ERR_CHECKSUM); `out`/`outInfo` describe the ciphertext.
 * The caller frees *buf and removes and frees *tmpPath. */
static int
cryptEncryptSource(StorageCrypt *this, const char *name, const StoragePutSource *src,
                   const StoragePutInfo *info, StoragePutSource *out, StoragePutInfo *outInfo,
                   Buf **buf, char **tmpPath, Err *err) {
    IoWrite *sink, *cCount, *cMd5, *cSha, *crypt, *pCount, *pSha;
    IoRead *reader = NULL;
    uint8_t sha256[CRYPTO_SHA256_LEN], *chunk = NULL;
    ssize_t n;
    int rc = -1;

    *buf = NULL;
    *tmpPath = NULL;
    if (src->path == NULL) {
        *buf = bufNew((size_t)storageCryptObjectSize(src->len));
        sink = ioWriteBufNew(*buf, SIZE_MAX);
    } else {
        int fd = cryptTempOpen(src->path, tmpPath, err);

        if (fd < 0)
            return -1;
        sink = ioWriteFdNew(fd, *tmpPath, IO_FD_CLOSE);
    }
    cCount = ioWriteCountNew(sink);
    /* Only S3 uses the MD5 (Content-MD5), and it is the slowest hash of the chain. */
    cMd5 = this->needMd5 ? ioWriteHashNew(cCount, CRYPTO_HASH_MD5) : cCount;
    cSha = ioWriteHashNew(cMd5, CRYPTO_HASH_SHA256);
    if ((crypt = storageCryptWriteNew(cSha, &this->key, name, err)) == NULL)
        return -1;
    pCount = ioWriteCountNew(crypt);
    pSha = ioWriteHashNew(pCount, CRYPTO_HASH_SHA256);
    if ((reader = storagePutSourceOpen(src, err)) == NULL)
        goto out;
    chunk = bvMalloc(STORAGE_CRYPT_CHUNK);
    while ((n = ioRead(reader, chunk, STORAGE_CRYPT_CHUNK, err)) > 0)
        if (ioWrite(pSha, chunk, (size_t)n, err) != 0)
            goto out;
    if (n < 0 || ioWriteClose(pSha, err) != 0)
        goto out;
    ioWriteHashResult(pSha, sha256, NULL);
    if (ioWriteCountBytes(pCount) != info->size || memcmp(sha256, info->sha256, sizeof(sha256)) != 0) {
        char got[CRYPTO_SHA256_LEN * 2 + 1], want[CRYPTO_SHA256_LEN * 2 + 1];

        cryptoHexEncode(sha256, sizeof(sha256), got);
        cryptoHexEncode(info->sha256, sizeof(info->sha256), want);
        errSet(err, ERR_CHECKSUM, "%s%s%s does not match its description: %llu bytes with sha256 %s, "
               "expected %llu bytes with sha256 %s", src->path ? "'" : "",
               src->path ? src->path : "the buffer", src->path ? "'" : "",
               (unsigned long long)ioWriteCountBytes(pCount), got, (unsigned long long)info->size,
               want);
        goto out;
    }
    memset(outInfo, 0, sizeof(*outInfo));
    outInfo->size = ioWriteCountBytes(cCount);
    ioWriteHashResult(cSha, outInfo->sha256, NULL);
    if (this->needMd5)
        ioWriteHashResult(cMd5, outInfo->md5, NULL);
    BV_ASSERT(outInfo->size == storageCryptObjectSize(info->size));
    memset(out, 0, sizeof(*out));
    if (*buf != NULL) {
        out->data = (*buf)->data;
        out->len = (*buf)->len;
    } else {
        out->path = *tmpPath;
    }
    rc = 0;
out:
    bvFree(chunk);
    ioReadFree(reader);
    ioWriteFree(pSha);
    return rc;
}

/* binvault.json of an encrypted archive: plaintext, with the `encryption` member added (or
 * checked, when the document has one). A stored identity is compared as stored. */
static int
cryptPutIdentity(StorageCrypt *this, const StoragePutSource *src, const StoragePutInfo *info,
                 StoragePutMode mode, bool *existed, Err *err) {
    IoRead *reader = NULL;
    Buf *doc = bufNew(1024), *stored = NULL;
    CryptSettings have;
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
        if (doc->len > CRYPT_IDENTITY_MAX) {
            errSet(err, ERR_LIMIT, "%s is larger than %d bytes", CRYPT_IDENTITY, CRYPT_IDENTITY_MAX);
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
    if (cryptIdentitySettings((const char *)doc->data, doc->len, &has, &have, err) != 0) {
        errPrefix(err, "the %s of an encrypted archive must be a JSON object", CRYPT_IDENTITY);
        goto out;
    }
    if (has && !cryptSettingsEqual(&have, &this->settings)) {
        errSet(err, ERR_CONFIG, "this %s names other encryption settings than those of the archive",
               CRYPT_IDENTITY);
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
        cryptSettingsJson(&this->settings, with);
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
    rc = this->vt->put(this->driver, CRYPT_IDENTITY, &out, &outInfo, mode, existed, err);
    if (mode == STORAGE_PUT_IMMUTABLE && ((rc == 0 && *existed) || (rc != 0 && err->code == ERR_EXISTS))) {
        /* Compare here: the generic layer would compare with the document without the member. */
        *existed = false;
        rc = -1;
        if (cryptInnerGet(this->vt, this->driver, CRYPT_IDENTITY, CRYPT_IDENTITY_MAX, &stored, err) != 0)
            goto out;
        if (stored->len == doc->len && memcmp(stored->data, doc->data, doc->len) == 0) {
            rc = 0;
        } else if (cryptIdentitySettings((const char *)stored->data, stored->len, &has, &have, err) != 0 ||
                   !has || !cryptSettingsEqual(&have, &this->settings)) {
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

static IoRead *cryptOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err);

/* An immutable put of `name` found it stored: identical plaintext (size and SHA-256) is success;
 * other content, or a stored object that does not decrypt, is ERR_EXISTS; a failure of the store
 * is returned as it is. */
static int
cryptCompareStored(StorageCrypt *this, const char *name, const StoragePutInfo *info, Err *err) {
    IoRead *reader = cryptOpenRead(this, name, 0, 0, err);
    uint8_t sha256[CRYPTO_SHA256_LEN], *buf;
    char stored[CRYPTO_SHA256_LEN * 2 + 1], wanted[CRYPTO_SHA256_LEN * 2 + 1];
    uint64_t size = 0;
    ssize_t n;

    if (reader == NULL)
        return -1;
    reader = ioReadHashNew(reader, CRYPTO_HASH_SHA256);
    buf = bvMalloc(STORAGE_CRYPT_CHUNK);
    while ((n = ioRead(reader, buf, STORAGE_CRYPT_CHUNK, err)) > 0)
        size += (uint64_t)n;
    bvFree(buf);
    if (n == 0)
        ioReadHashResult(reader, sha256, NULL);
    ioReadFree(reader);
    if (n < 0) {
        if (err->code == ERR_FORMAT)
            err->code = ERR_EXISTS;
        return errPrefix(err, "the object already exists and cannot be compared");
    }
    if (size == info->size && memcmp(sha256, info->sha256, sizeof(sha256)) == 0) {
        logDebug("object '%s' is already in '%s' with identical content", name, this->url);
        return 0;
    }
    cryptoHexEncode(sha256, sizeof(sha256), stored);
    cryptoHexEncode(info->sha256, sizeof(info->sha256), wanted);
    return errSet(err, ERR_EXISTS, "the object already exists with different content (plaintext "
                  "sha256 %s vs %s)", stored, wanted);
}

static int
cryptPut(void *driver, const char *name, const StoragePutSource *src, const StoragePutInfo *info,
         StoragePutMode mode, bool *existed, Err *err) {
    StorageCrypt *this = driver;
    StoragePutSource out;
    StoragePutInfo outInfo;
    StorageInfo head;
    Buf *buf = NULL;
    char *tmpPath = NULL;
    int rc;

    if (cryptSettle(this, err) != 0)
        return -1;
    if (this->mode == CRYPT_MODE_PLAIN)
        return this->vt->put(this->driver, name, src, info, mode, existed, err);
    if (this->mode == CRYPT_MODE_GUARD) {
        if (cryptIsIdentity(name))
            return errSet(err, ERR_CONFIG, "a key is given (--key-file or BINVAULT_KEY_FILE) but "
                          "--encrypt (BINVAULT_ENCRYPT=1) is not, and '%s' is a new archive: add "
                          "--encrypt to create it encrypted, or give no key to create it unencrypted",
                          this->url);
        return this->vt->put(this->driver, name, src, info, mode, existed, err);
    }
    if (cryptIsIdentity(name))
        return cryptPutIdentity(this, src, info, mode, existed, err);
    if (cryptIdentityReady(this, err) != 0)
        return -1;
    /* An object that is there is compared here, decrypted: the ciphertexts of the same plaintext
     * differ from one put to the next (fresh salt and nonces). */
    *existed = false;
    if (mode == STORAGE_PUT_IMMUTABLE) {
        memset(&head, 0, sizeof(head));
        if (this->vt->head(this->driver, name, &head, err) != 0)
            return -1;
        if (head.exists)
            return cryptCompareStored(this, name, info, err);
    }
    if (cryptEncryptSource(this, name, src, info, &out, &outInfo, &buf, &tmpPath, err) != 0) {
        rc = -1;
    } else {
        rc = this->vt->put(this->driver, name, &out, &outInfo, mode, existed, err);
        /* Created meanwhile: a driver that knows the stored SHA-256 says ERR_EXISTS, as the
         * ciphertexts differ; the plaintexts may not. */
        if (mode == STORAGE_PUT_IMMUTABLE &&
            ((rc == 0 && *existed) || (rc != 0 && err->code == ERR_EXISTS))) {
            *existed = false;
            rc = cryptCompareStored(this, name, info, err);
        }
    }
    if (tmpPath != NULL && unlink(tmpPath) != 0 && errno != ENOENT)
        logWarn("unable to remove '%s': %s", tmpPath, strerror(errno));
    bvFree(tmpPath);
    bufFree(buf);
    return rc;
}

static IoRead *
cryptOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err) {
    StorageCrypt *this = driver;
    uint8_t header[STORAGE_CRYPT_HEADER_LEN];
    StorageInfo head = {0};
    uint64_t plain, first, lastWanted, cstart, cend;
    IoRead *src;
    ssize_t n;

    if (cryptSettle(this, err) != 0)
        return NULL;
    if (this->mode != CRYPT_MODE_ENCRYPT || cryptIsIdentity(name))
        return this->vt->openRead(this->driver, name, offset, length, err);
    if (offset == 0 && length == 0) {
        if ((src = this->vt->openRead(this->driver, name, 0, 0, err)) == NULL)
            return NULL;
        return cryptReadNew(src, &this->key, name, NULL, 0, CRYPT_LAST_UNKNOWN, 0, UINT64_MAX);
    }
    /* A range: the chunks that hold it, and the header on its own unless they start the object. */
    if (this->vt->head(this->driver, name, &head, err) != 0)
        return NULL;
    if (!head.exists) {
        errSet(err, ERR_NOTFOUND, "no such object");
        return NULL;
    }
    if (!storageCryptPlainSize(head.size, &plain)) {
        errSet(err, ERR_FORMAT, "an object of %llu bytes is not an encrypted object (truncated, or "
               "not encrypted)", (unsigned long long)head.size);
        return NULL;
    }
    if (offset > plain || length > plain - offset) {
        errSet(err, ERR_FORMAT, "range of %llu bytes from offset %llu is past the end (%llu bytes)",
               (unsigned long long)length, (unsigned long long)offset, (unsigned long long)plain);
        return NULL;
    }
    if (length == 0)
        length = plain - offset;
    if (length == 0) {
        static const uint8_t nothing[1];

        return ioReadMemNew(nothing, 0);
    }
    first = offset / STORAGE_CRYPT_CHUNK;
    lastWanted = (offset + length - 1) / STORAGE_CRYPT_CHUNK;
    cstart = STORAGE_CRYPT_HEADER_LEN + first * CRYPT_SEALED;
    cend = STORAGE_CRYPT_HEADER_LEN + (lastWanted + 1) * CRYPT_SEALED;
    if (cend > head.size)
        cend = head.size;
    if (first == 0) {
        if ((src = this->vt->openRead(this->driver, name, 0, cend, err)) == NULL)
            return NULL;
        return cryptReadNew(src, &this->key, name, NULL, 0, cryptChunks(plain) - 1, offset, length);
    }
    if ((src = this->vt->openRead(this->driver, name, 0, STORAGE_CRYPT_HEADER_LEN, err)) == NULL)
        return NULL;
    n = ioReadFull(src, header, sizeof(header), err);
    ioReadFree(src);
    if (n >= 0 && n != (ssize_t)sizeof(header))
        errSet(err, ERR_FORMAT, "the object ends inside its encryption header");
    if (n != (ssize_t)sizeof(header))
        return NULL;
    if (cryptHeaderCheck(header, &this->key, err) != 0)
        return NULL;
    if ((src = this->vt->openRead(this->driver, name, cstart, cend - cstart, err)) == NULL)
        return NULL;
    return cryptReadNew(src, &this->key, name, header, first, cryptChunks(plain) - 1,
                        offset - first * STORAGE_CRYPT_CHUNK, length);
}

/* The plaintext size of a stored object; an object that cannot be encrypted keeps its size
 * (reading it says what is wrong). */
static uint64_t
cryptListedSize(const StorageCrypt *this, const char *name, uint64_t size) {
    uint64_t plain;

    if (this->mode != CRYPT_MODE_ENCRYPT || cryptIsIdentity(name) || !storageCryptPlainSize(size, &plain))
        return size;
    return plain;
}

static int
cryptHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    StorageCrypt *this = driver;

    if (cryptSettle(this, err) != 0 || this->vt->head(this->driver, name, out, err) != 0)
        return -1;
    if (out->exists)
        out->size = cryptListedSize(this, name, out->size);
    return 0;
}

typedef struct CryptListCtx {
    const StorageCrypt *crypt;
    StorageListCb *cb;
    void *data;
} CryptListCtx;

static int
cryptListCb(const char *name, uint64_t size, void *data, Err *err) {
    CryptListCtx *ctx = data;

    return ctx->cb(name, cryptListedSize(ctx->crypt, name, size), ctx->data, err);
}

static int
cryptList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    StorageCrypt *this = driver;
    CryptListCtx ctx = {this, cb, data};

    if (cryptSettle(this, err) != 0)
        return -1;
    return this->vt->list(this->driver, prefix, cryptListCb, &ctx, err);
}

static int
cryptRemove(void *driver, const char *name, Err *err) {
    StorageCrypt *this = driver;

    return this->vt->remove(this->driver, name, err);
}

static int
cryptCleanTemp(void *driver, unsigned minAgeSec, unsigned *removed, Err *err) {
    StorageCrypt *this = driver;

    return this->vt->cleanTemp(this->driver, minAgeSec, removed, err);
}

/* The decorator without the driver underneath. */
static void
cryptFreeShell(StorageCrypt *this) {
    pthread_mutex_destroy(&this->lock);
    bvFree(this->url);
    bvFree(this->keyFile);
    cryptoWipe(&this->key, sizeof(this->key));
    bvFree(this);
}

static void
cryptFree(void *driver) {
    StorageCrypt *this = driver;

    this->vt->free(this->driver);
    cryptFreeShell(this);
}

static const StorageDriverVt cryptVt = {
    .put = cryptPut,
    .openRead = cryptOpenRead,
    .head = cryptHead,
    .list = cryptList,
    .remove = cryptRemove,
    .cleanTemp = cryptCleanTemp,
    .free = cryptFree,
};

/* --- Opening ------------------------------------------------------------------------------ */

/* Whether the object `name` of the store starts like an encrypted object. */
static bool
cryptLooksEncrypted(const StorageDriverVt *vt, void *driver, const char *name) {
    uint8_t magic[CRYPT_MAGIC_LEN];
    IoRead *reader;
    Err ignored;
    bool encrypted = false;

    if ((reader = vt->openRead(driver, name, 0, 0, &ignored)) == NULL)
        return false;
    if (ioReadFull(reader, magic, sizeof(magic), &ignored) == (ssize_t)sizeof(magic))
        encrypted = memcmp(magic, CRYPT_MAGIC, 6) == 0 && magic[7] == '\n';
    ioReadFree(reader);
    return encrypted;
}

static int
cryptEnvBool(const char *name, bool *out, Err *err) {
    const char *v = getenv(name);

    if (v == NULL || v[0] == '\0' || strcmp(v, "0") == 0 || strcmp(v, "false") == 0 ||
        strcmp(v, "no") == 0)
        return 0;
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
        *out = true;
        return 0;
    }
    return errSet(err, ERR_CONFIG, "invalid %s '%s': expected 1 or 0", name, v);
}

/* Settle the mode from binvault.json (see storageCryptOpen()). Called with the lock held. */
static int
cryptSettleLocked(StorageCrypt *this, Err *err) {
    CryptSettings settings;
    bool identity = false, has = false;
    Buf *doc = NULL;
    int rc = -1;

    if (cryptInnerGet(this->vt, this->driver, CRYPT_IDENTITY, CRYPT_IDENTITY_MAX, &doc, err) == 0) {
        identity = true;
    } else if (err->code != ERR_NOTFOUND) {
        return errPrefix(err, "unable to read '%s' from '%s'", CRYPT_IDENTITY, this->url);
    }
    if (identity && cryptIdentitySettings((const char *)doc->data, doc->len, &has, &settings, err) != 0) {
        if (this->keyFile == NULL && !this->encrypt) {
            /* Not this module's business: the commands say what is wrong with it. */
            this->mode = CRYPT_MODE_PLAIN;
            rc = 0;
        } else {
            errPrefix(err, "'%s' in '%s'", CRYPT_IDENTITY, this->url);
        }
        goto out;
    }
    if (identity && has) {
        if (this->keyFile == NULL) {
            errSet(err, ERR_CONFIG, "archive '%s' is encrypted: give its key with --key-file FILE (or "
                   "BINVAULT_KEY_FILE)", this->url);
            goto out;
        }
        if (cryptKeyLoad(this->keyFile, &settings, this->url, &this->key, err) != 0)
            goto out;
        this->settings = settings;
        this->mode = CRYPT_MODE_ENCRYPT;
        atomic_store(&this->identityStored, true);
    } else if (identity) {
        if (this->encrypt) {
            errSet(err, ERR_CONFIG, "archive '%s' exists and is not encrypted: --encrypt "
                   "(BINVAULT_ENCRYPT=1) only creates a new archive encrypted", this->url);
            goto out;
        }
        if (this->keyFile != NULL) {
            if (cryptLooksEncrypted(this->vt, this->driver, CRYPT_CHECKPOINT)) {
                errSet(err, ERR_FORMAT, "the %s of archive '%s' has no encryption settings but its "
                       "%s is encrypted: %s was modified", CRYPT_IDENTITY, this->url,
                       CRYPT_CHECKPOINT, CRYPT_IDENTITY);
                goto out;
            }
            logWarn("archive '%s' is not encrypted: the key of '%s' is not used", this->url,
                    this->keyFile);
        }
        this->mode = CRYPT_MODE_PLAIN;
    } else if (this->encrypt) {
        if (cryptKeyCreate(this->keyFile, &this->settings, &this->key, err) != 0)
            goto out;
        this->mode = CRYPT_MODE_ENCRYPT;
    } else {
        this->mode = this->keyFile != NULL ? CRYPT_MODE_GUARD : CRYPT_MODE_PLAIN;
    }
    rc = 0;
out:
    bufFree(doc);
    return rc;
}

static int
cryptSettle(StorageCrypt *this, Err *err) {
    int rc = 0;

    if (atomic_load(&this->settled))
        return 0;
    pthread_mutex_lock(&this->lock);
    if (!atomic_load(&this->settled)) {
        rc = cryptSettleLocked(this, err);
        if (rc == 0)
            atomic_store(&this->settled, true);
    }
    pthread_mutex_unlock(&this->lock);
    return rc;
}

Storage *
storageCryptOpen(Storage *inner, const char *keyFile, bool encrypt, Err *err) {
    StorageCrypt *this = bvCalloc(1, sizeof(*this));
    Storage *result;

    this->url = bvStrdup(storageUrl(inner));
    this->needMd5 = strncmp(this->url, "s3://", 5) == 0;
    storageUnwrap(inner, &this->vt, &this->driver);
    pthread_mutex_init(&this->lock, NULL);
    atomic_init(&this->settled, false);
    atomic_init(&this->identityStored, false);
    if (keyFile == NULL) {
        keyFile = getenv("BINVAULT_KEY_FILE");
        if (keyFile != NULL && keyFile[0] == '\0')
            keyFile = NULL;
    } else if (keyFile[0] == '\0') {
        errSet(err, ERR_USAGE, "empty --key-file");
        goto fail;
    }
    if (!encrypt && cryptEnvBool("BINVAULT_ENCRYPT", &encrypt, err) != 0)
        goto fail;
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

        if (cryptKeyFileRead(keyFile, &secret, &len, err) != 0)
            goto fail;
        cryptoWipe(secret, len);
        bvFree(secret);
        this->keyFile = bvStrdup(keyFile);
    }
    if (cryptSettle(this, err) != 0) {
        if (err->code != ERR_STORAGE)
            goto fail;
        logDebug("'%s': %s; settling the encryption at the first operation", this->url, err->msg);
    }
    if (atomic_load(&this->settled) && this->mode == CRYPT_MODE_PLAIN) {
        /* Nothing to decorate. */
        result = storageNewDriver(this->vt, this->driver, this->url);
        cryptFreeShell(this);
        return result;
    }
    return storageNewDriver(&cryptVt, this, this->url);

fail:
    cryptFree(this);
    return NULL;
}
