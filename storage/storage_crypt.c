/*
 * Encrypted objects: the format (header, STREAM of AES-256-GCM chunks) as an encrypting and a
 * decrypting IoRead filter, and the Storage decorator that applies them to every object but one
 * plaintext name. See storage/storage_crypt.h and docs/FORMAT.md.
 */
#include "storage/storage_crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
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
/* A reader of a whole object finds the final chunk by the end of the object. */
#define CRYPT_LAST_UNKNOWN UINT64_MAX

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

bool
storageCryptIsObject(const uint8_t *first) {
    return memcmp(first, CRYPT_MAGIC, 6) == 0 && first[7] == '\n';
}

/* --- Encrypting --------------------------------------------------------------------------- */

/* The header of a new object under `key`: fresh salt and nonce prefix. */
static int
cryptHeaderNew(const StorageCryptKey *key, uint8_t *h, Err *err) {
    memset(h, 0, STORAGE_CRYPT_HEADER_LEN);
    memcpy(h, CRYPT_MAGIC, CRYPT_MAGIC_LEN);
    h[CRYPT_OFF_CIPHER] = CRYPT_CIPHER_AES256GCM;
    h[CRYPT_OFF_CHUNK] = CRYPT_CHUNK_LOG2;
    memcpy(h + CRYPT_OFF_KEY_ID, key->keyId, STORAGE_CRYPT_KEY_ID_LEN);
    return cryptoRandom(h + CRYPT_OFF_SALT, CRYPT_SALT_LEN + CRYPT_PREFIX_LEN, err);
}

/* Seal chunk `index` in place: `buf` holds its `len` bytes of plaintext, and room for the tag
 * after them. */
static void
cryptObjectSeal(CryptObject *o, uint64_t index, bool final, uint8_t *buf, size_t len) {
    uint8_t nonce[CRYPTO_AEAD_NONCE_LEN];

    cryptObjectChunk(o, index, final, nonce);
    cryptoAeadSeal(o->aead, nonce, o->ad, o->adLen, buf, len, buf, buf + len);
}

/* Plaintext bytes of chunk `index` of an object of `plainSize` bytes. */
static size_t
cryptChunkLen(uint64_t plainSize, uint64_t index) {
    uint64_t left = plainSize - index * STORAGE_CRYPT_CHUNK;

    return left < STORAGE_CRYPT_CHUNK ? (size_t)left : STORAGE_CRYPT_CHUNK;
}

/* Pulls a chunk of plaintext, seals it, hands the sealed chunk out; the header first. The length
 * of the plaintext is known, so the final chunk is known without reading ahead. A chunk that fits
 * what is left of the caller's buffer is read into it and sealed there, with no copy (a read ends
 * short before one that does not); only a buffer too small for a whole chunk gets it through
 * `out`. */
typedef struct CryptEncrypt {
    IoRead *src;
    StorageCryptKey key;
    char *name;
    CryptObject obj;
    bool started;
    uint64_t index;   /* next chunk to seal */
    uint64_t last;    /* index of the final chunk */
    uint64_t size;    /* of the plaintext */
    uint8_t *out;     /* the header, then a sealed chunk larger than what the caller asked */
    size_t outPos, outLen;
    bool finalDone;
} CryptEncrypt;

static int
cryptEncryptStart(CryptEncrypt *this, Err *err) {
    if (cryptHeaderNew(&this->key, this->out, err) != 0)
        return -1;
    cryptObjectInit(&this->obj, &this->key, this->out, this->name, true);
    this->started = true;
    this->outPos = 0;
    this->outLen = STORAGE_CRYPT_HEADER_LEN;
    return 0;
}

/* Read the next chunk's plaintext into `buf` and seal it there; its sealed length goes to *len. */
static int
cryptEncryptChunk(CryptEncrypt *this, uint8_t *buf, size_t *len, Err *err) {
    size_t want = cryptChunkLen(this->size, this->index);
    bool final = this->index == this->last;
    uint8_t extra;
    ssize_t n;

    if (this->index >= CRYPT_CHUNKS_MAX)
        return errSet(err, ERR_LIMIT, "an encrypted object holds at most 2^32 chunks of %d bytes",
                      STORAGE_CRYPT_CHUNK);
    if ((n = ioReadFull(this->src, buf, want, err)) < 0)
        return -1;
    if ((size_t)n < want)
        return errSet(err, ERR_CHECKSUM, "the plaintext ends %llu bytes short of its %llu bytes",
                      (unsigned long long)(this->size - this->index * STORAGE_CRYPT_CHUNK - (uint64_t)n),
                      (unsigned long long)this->size);
    /* The source must end here, and say so (a verifying filter under it checks then) before the
     * object can be complete. */
    if (final && (n = ioRead(this->src, &extra, 1, err)) != 0)
        return n < 0 ? -1 : errSet(err, ERR_CHECKSUM, "the plaintext is longer than its %llu bytes",
                                   (unsigned long long)this->size);
    cryptObjectSeal(&this->obj, this->index, final, buf, want);
    this->index++;
    this->finalDone = final;
    *len = want + STORAGE_CRYPT_TAG_LEN;
    return 0;
}

static ssize_t
cryptEncryptRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    CryptEncrypt *this = ctx;
    size_t done = 0, sealed;

    if (!this->started && cryptEncryptStart(this, err) != 0)
        return -1;
    for (;;) {
        if (this->outPos < this->outLen) {
            size_t n = this->outLen - this->outPos;

            if (n > len - done)
                n = len - done;
            memcpy(buf + done, this->out + this->outPos, n);
            this->outPos += n;
            done += n;
        }
        if (done == len || this->finalDone)
            return (ssize_t)done;
        if (len - done >= cryptChunkLen(this->size, this->index) + STORAGE_CRYPT_TAG_LEN) {
            if (cryptEncryptChunk(this, buf + done, &sealed, err) != 0)
                return -1;
            done += sealed;
        } else if (done > 0) {
            /* A short read rather than a chunk sealed aside and copied. */
            return (ssize_t)done;
        } else {
            if (cryptEncryptChunk(this, this->out, &sealed, err) != 0)
                return -1;
            this->outPos = 0;
            this->outLen = sealed;
        }
    }
}

static void
cryptEncryptFree(void *ctx) {
    CryptEncrypt *this = ctx;

    ioReadFree(this->src);
    cryptObjectClear(&this->obj);
    cryptoWipe(this->out, CRYPT_SEALED);
    cryptoWipe(&this->key, sizeof(this->key));
    bvFree(this->out);
    bvFree(this->name);
    bvFree(this);
}

static const IoReadVt cryptEncryptVt = {
    .name = "encrypt",
    .read = cryptEncryptRead,
    .free = cryptEncryptFree,
};

IoRead *
storageCryptEncryptNew(IoRead *src, uint64_t plainSize, const StorageCryptKey *key, const char *name) {
    CryptEncrypt *this = bvCalloc(1, sizeof(*this));

    this->src = src;
    this->key = *key;
    this->name = bvStrdup(name);
    this->size = plainSize;
    this->last = cryptChunks(plainSize) - 1;
    this->out = bvMalloc(CRYPT_SEALED);
    return ioReadNew(&cryptEncryptVt, this);
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
storageCryptDecryptNew(IoRead *src, const StorageCryptKey *key, const char *name) {
    return cryptReadNew(src, key, name, NULL, 0, CRYPT_LAST_UNKNOWN, 0, UINT64_MAX);
}

/* --- The decorator ------------------------------------------------------------------------ */

/* Read-only after storageCryptNew(). */
typedef struct StorageCrypt {
    const StorageDriverVt *vt; /* the driver underneath */
    void *driver;
    char *url;
    StorageCryptKey key;
    char *plainName;
    char *tmpDir;
} StorageCrypt;

static bool
cryptIsPlain(const StorageCrypt *this, const char *name) {
    return strcmp(name, this->plainName) == 0;
}

/* The plaintext of a put source, checked against `info`, encrypted as the object `name`. */
static IoRead *
cryptSourceOpen(const StorageCrypt *this, const char *name, const StoragePutSource *src,
                const StoragePutInfo *info, Err *err) {
    IoRead *plain = storagePutSourceVerify(src, info, err);

    if (plain == NULL)
        return NULL;
    return storageCryptEncryptNew(plain, info->size, &this->key, name);
}

/* A temporary file for the encrypted copy of the local file `srcPath`: next to it (on the file
 * system sized for it: the spool), else in the caller's temporary directory. Named "*.tmp" so
 * that a spool cleans the leftovers of a crash. */
static int
cryptTempOpen(const StorageCrypt *this, const char *srcPath, char **path, Err *err) {
    const char *slash = strrchr(srcPath, '/');
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
        *path = bvSprintf("%s/binvault-enc-XXXXXX.tmp", this->tmpDir ? this->tmpDir : "/tmp");
        fd = mkstemps(*path, 4);
    }
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create a temporary file '%s'", *path);
        bvFree(*path);
        *path = NULL;
    }
    return fd;
}

/* For a driver that needs the digests of what it stores before it stores it (S3): the encrypted
 * object made whole first, into memory for a buffer, a temporary file for a file, with its size,
 * SHA-256 and MD5; then put. */
static int
cryptPutCopy(StorageCrypt *this, const char *name, const StoragePutSource *src,
             const StoragePutInfo *info, StoragePutMode mode, bool *existed, Err *err) {
    IoWrite *sink, *md5, *sha;
    IoRead *cipher = NULL;
    StoragePutSource out = {0};
    StoragePutInfo outInfo = {0};
    Buf *buf = NULL;
    char *tmpPath = NULL;
    int rc = -1;

    if (src->path == NULL) {
        buf = bufNew((size_t)storageCryptObjectSize(src->len));
        sink = ioWriteBufNew(buf, SIZE_MAX);
    } else {
        int fd = cryptTempOpen(this, src->path, &tmpPath, err);

        if (fd < 0)
            return -1;
        sink = ioWriteFdNew(fd, tmpPath, IO_FD_CLOSE);
    }
    md5 = ioWriteHashNew(sink, CRYPTO_HASH_MD5);
    sha = ioWriteHashNew(md5, CRYPTO_HASH_SHA256);
    if ((cipher = cryptSourceOpen(this, name, src, info, err)) == NULL || ioCopy(cipher, sha, err) != 0 ||
        ioWriteClose(sha, err) != 0)
        goto out;
    outInfo.size = storageCryptObjectSize(info->size);
    ioWriteHashResult(sha, outInfo.sha256, NULL);
    ioWriteHashResult(md5, outInfo.md5, NULL);
    if (buf != NULL) {
        out.data = buf->data;
        out.len = buf->len;
    } else {
        out.path = tmpPath;
    }
    rc = this->vt->put(this->driver, name, &out, &outInfo, mode, existed, err);
out:
    ioReadFree(cipher);
    ioWriteFree(sha);
    if (tmpPath != NULL && unlink(tmpPath) != 0 && errno != ENOENT)
        logWarn("unable to remove '%s': %s", tmpPath, strerror(errno));
    bvFree(tmpPath);
    bufFree(buf);
    return rc;
}

/* Stream the source, encrypted, into the driver: the source is read once, nothing is copied. */
static int
cryptPutStream(StorageCrypt *this, const char *name, const StoragePutSource *src,
               const StoragePutInfo *info, StoragePutMode mode, bool *existed, Err *err) {
    IoRead *cipher = cryptSourceOpen(this, name, src, info, err);
    int rc;

    if (cipher == NULL)
        return -1;
    rc = this->vt->putRead(this->driver, name, cipher, storageCryptObjectSize(info->size), mode,
                           existed, err);
    ioReadFree(cipher);
    return rc;
}

/* For a driver that takes a source by offset (S3's putAt): the encrypted object made twice with
 * one header, never stored anywhere. The first pass hashes it (SHA-256, and MD5 when the driver
 * sends the whole object's before the body: S3's single PUT) and keeps each chunk's GCM tag;
 * then the driver reads it by offset, as often as it needs (a multipart upload hashes each part
 * before it sends it; curl sends a body again on a new connection), and every chunk made again is
 * compared with the first pass's tag before a byte of it is handed out: the plaintext changing
 * underneath (the spool's disk) fails the put instead of putting two ciphertexts under one nonce
 * on the wire or sending bytes the digests do not describe. An object of more chunks than
 * CRYPT_AT_CHUNKS_MAX (its tags held: 16 bytes per 64 KiB) takes the temporary copy. */
#define CRYPT_AT_CHUNKS_MAX (UINT64_C(1) << 17)

typedef struct CryptAt {
    CryptObject obj;
    StoragePutSourceAt plain;
    bool sealedSource;  /* the source's SHA-256 need not be checked */
    uint64_t plainSize, last, objectSize;
    uint8_t *tags;      /* the first pass's tag of each chunk */
    bool tagsSet;       /* the first pass is done: compare */
    uint8_t *sealed;    /* chunk `cached`, sealed */
    uint64_t cached;    /* UINT64_MAX: none */
    size_t cachedLen;
    char *what;         /* "the encryption of 'path'" */
} CryptAt;

/* Make chunk `index` into at->sealed from the plaintext (hashed into `plainHash` when it is not
 * NULL), and record its tag (first pass) or compare it with the recorded one. */
static int
cryptAtSeal(CryptAt *at, uint64_t index, CryptoHash *plainHash, Err *err) {
    size_t want = cryptChunkLen(at->plainSize, index);
    bool final = index == at->last;
    uint8_t *tag = at->sealed + want, extra;
    ssize_t n;

    at->cached = UINT64_MAX;
    if ((n = storagePutSourceReadAt(&at->plain, at->sealed, want, index * STORAGE_CRYPT_CHUNK, err)) < 0)
        return -1;
    if ((size_t)n < want)
        return errSet(err, ERR_CHECKSUM, "%s: the plaintext ends after %llu of its %llu bytes",
                      at->what, (unsigned long long)(index * STORAGE_CRYPT_CHUNK + (uint64_t)n),
                      (unsigned long long)at->plainSize);
    if (final && (n = storagePutSourceReadAt(&at->plain, &extra, 1, at->plainSize, err)) != 0)
        return n < 0 ? -1 : errSet(err, ERR_CHECKSUM, "%s: the plaintext is longer than its %llu "
                                   "bytes", at->what, (unsigned long long)at->plainSize);
    if (plainHash != NULL)
        cryptoHashUpdate(plainHash, at->sealed, want);
    cryptObjectSeal(&at->obj, index, final, at->sealed, want);
    if (!at->tagsSet)
        memcpy(at->tags + index * STORAGE_CRYPT_TAG_LEN, tag, STORAGE_CRYPT_TAG_LEN);
    else if (memcmp(at->tags + index * STORAGE_CRYPT_TAG_LEN, tag, STORAGE_CRYPT_TAG_LEN) != 0)
        return errSet(err, ERR_CHECKSUM, "%s: the plaintext of chunk %llu changed while it was "
                      "being stored", at->what, (unsigned long long)index);
    at->cached = index;
    at->cachedLen = want + STORAGE_CRYPT_TAG_LEN;
    return 0;
}

/* StoragePutAt.read: the object's bytes at `offset`. */
static ssize_t
cryptAtRead(void *ctx, uint8_t *buf, size_t len, uint64_t offset, Err *err) {
    CryptAt *at = ctx;
    size_t done = 0;

    BV_ASSERT(at->tagsSet);
    if (offset >= at->objectSize)
        return 0;
    if (len > at->objectSize - offset)
        len = (size_t)(at->objectSize - offset);
    while (done < len) {
        uint64_t o = offset + done, index, within;
        size_t n;

        if (o < STORAGE_CRYPT_HEADER_LEN) {
            n = STORAGE_CRYPT_HEADER_LEN - (size_t)o < len - done ? STORAGE_CRYPT_HEADER_LEN - (size_t)o
                                                                   : len - done;
            memcpy(buf + done, at->obj.header + o, n);
            done += n;
            continue;
        }
        index = (o - STORAGE_CRYPT_HEADER_LEN) / CRYPT_SEALED;
        within = (o - STORAGE_CRYPT_HEADER_LEN) % CRYPT_SEALED;
        if (at->cached != index && cryptAtSeal(at, index, NULL, err) != 0)
            return -1;
        n = at->cachedLen - (size_t)within < len - done ? at->cachedLen - (size_t)within : len - done;
        memcpy(buf + done, at->sealed + within, n);
        done += n;
    }
    return (ssize_t)done;
}

/* The first pass: the object's size, SHA-256 and (`withMd5`) MD5 into `out`, each chunk's tag
 * kept; the plaintext checked against `info` (its size; its SHA-256 too unless the source is
 * sealed). */
static int
cryptAtFirstPass(CryptAt *at, const StoragePutInfo *info, bool withMd5, StoragePutInfo *out, Err *err) {
    CryptoHash *sha = cryptoHashNew(CRYPTO_HASH_SHA256);
    CryptoHash *md5 = withMd5 ? cryptoHashNew(CRYPTO_HASH_MD5) : NULL;
    CryptoHash *plain = at->sealedSource ? NULL : cryptoHashNew(CRYPTO_HASH_SHA256);
    uint8_t got[CRYPTO_HASH_MAX_LEN];
    int rc = -1;

    cryptoHashUpdate(sha, at->obj.header, STORAGE_CRYPT_HEADER_LEN);
    if (md5 != NULL)
        cryptoHashUpdate(md5, at->obj.header, STORAGE_CRYPT_HEADER_LEN);
    for (uint64_t i = 0; i <= at->last; i++) {
        if (cryptAtSeal(at, i, plain, err) != 0)
            goto out;
        cryptoHashUpdate(sha, at->sealed, at->cachedLen);
        if (md5 != NULL)
            cryptoHashUpdate(md5, at->sealed, at->cachedLen);
    }
    if (plain != NULL) {
        cryptoHashFinal(plain, got, NULL);
        if (memcmp(got, info->sha256, CRYPTO_SHA256_LEN) != 0) {
            char gotHex[CRYPTO_SHA256_LEN * 2 + 1], wantHex[CRYPTO_SHA256_LEN * 2 + 1];

            cryptoHexEncode(got, CRYPTO_SHA256_LEN, gotHex);
            cryptoHexEncode(info->sha256, CRYPTO_SHA256_LEN, wantHex);
            errSet(err, ERR_CHECKSUM, "%s: the plaintext has sha256 %s, expected %s", at->what,
                   gotHex, wantHex);
            goto out;
        }
    }
    memset(out, 0, sizeof(*out));
    out->size = at->objectSize;
    cryptoHashFinal(sha, out->sha256, NULL);
    if (md5 != NULL)
        cryptoHashFinal(md5, out->md5, NULL);
    out->noMd5 = md5 == NULL;
    at->tagsSet = true;
    rc = 0;
out:
    cryptoHashFree(sha);
    cryptoHashFree(md5);
    cryptoHashFree(plain);
    return rc;
}

/* Encrypt the source twice with one header (see above) into the driver's putAt. */
static int
cryptPutAt(StorageCrypt *this, const char *name, const StoragePutSource *src,
           const StoragePutInfo *info, StoragePutMode mode, bool *existed, Err *err) {
    uint8_t header[STORAGE_CRYPT_HEADER_LEN];
    CryptAt at = {.plain.fd = -1, .sealedSource = src->sealed, .plainSize = info->size,
                  .cached = UINT64_MAX};
    StoragePutAt put = {.read = cryptAtRead, .ctx = &at};
    StoragePutInfo outInfo;
    bool wholeMd5;
    int rc = -1;

    at.last = cryptChunks(info->size) - 1;
    at.objectSize = storageCryptObjectSize(info->size);
    at.what = src->path ? bvSprintf("the encryption of '%s'", src->path)
                        : bvStrdup("the encryption of the buffer");
    put.what = at.what;
    if (storagePutSourceOpenAt(src, info->size, &at.plain, err) != 0)
        goto out;
    if (cryptHeaderNew(&this->key, header, err) != 0)
        goto out;
    cryptObjectInit(&at.obj, &this->key, header, name, true);
    at.tags = bvMalloc((size_t)(at.last + 1) * STORAGE_CRYPT_TAG_LEN);
    at.sealed = bvMalloc(CRYPT_SEALED);
    wholeMd5 = this->vt->sendsWholeMd5 != NULL && this->vt->sendsWholeMd5(this->driver, at.objectSize);
    if (cryptAtFirstPass(&at, info, wholeMd5, &outInfo, err) != 0)
        goto out;
    rc = this->vt->putAt(this->driver, name, &put, &outInfo, mode, existed, err);
out:
    storagePutSourceCloseAt(&at.plain);
    if (at.sealed != NULL)
        cryptoWipe(at.sealed, CRYPT_SEALED);
    bvFree(at.sealed);
    bvFree(at.tags);
    bvFree(at.what);
    cryptObjectClear(&at.obj);
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
    StorageInfo head;
    int rc;

    if (cryptIsPlain(this, name))
        return this->vt->put(this->driver, name, src, info, mode, existed, err);
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
    if (this->vt->putRead != NULL)
        rc = cryptPutStream(this, name, src, info, mode, existed, err);
    else if (this->vt->putAt != NULL && cryptChunks(info->size) <= CRYPT_AT_CHUNKS_MAX)
        rc = cryptPutAt(this, name, src, info, mode, existed, err);
    else
        rc = cryptPutCopy(this, name, src, info, mode, existed, err);
    /* Created meanwhile: a driver that knows the stored SHA-256 says ERR_EXISTS, as the
     * ciphertexts differ; the plaintexts may not. */
    if (mode == STORAGE_PUT_IMMUTABLE &&
        ((rc == 0 && *existed) || (rc != 0 && err->code == ERR_EXISTS))) {
        *existed = false;
        rc = cryptCompareStored(this, name, info, err);
    }
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

    if (cryptIsPlain(this, name))
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

    if (cryptIsPlain(this, name) || !storageCryptPlainSize(size, &plain))
        return size;
    return plain;
}

static int
cryptHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    StorageCrypt *this = driver;

    if (this->vt->head(this->driver, name, out, err) != 0)
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

    return this->vt->list(this->driver, prefix, cryptListCb, &ctx, err);
}

static int
cryptListFrom(void *driver, const char *prefix, const char *startAfter, StorageListCb *cb, void *data, Err *err) {
    StorageCrypt *this = driver;
    CryptListCtx ctx = {this, cb, data};

    if (this->vt->listFrom == NULL)
        return errSet(err, ERR_INTERNAL, "the store cannot list from a name");
    return this->vt->listFrom(this->driver, prefix, startAfter, cryptListCb, &ctx, err);
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

static void
cryptFree(void *driver) {
    StorageCrypt *this = driver;

    this->vt->free(this->driver);
    bvFree(this->url);
    bvFree(this->plainName);
    bvFree(this->tmpDir);
    cryptoWipe(&this->key, sizeof(this->key));
    bvFree(this);
}

static const StorageDriverVt cryptVt = {
    .put = cryptPut,
    .openRead = cryptOpenRead,
    .head = cryptHead,
    .list = cryptList,
    .listFrom = cryptListFrom,
    .remove = cryptRemove,
    .cleanTemp = cryptCleanTemp,
    .free = cryptFree,
};

Storage *
storageCryptNew(Storage *inner, const StorageCryptKey *key, const char *plainName, const char *tmpDir) {
    StorageCrypt *this = bvCalloc(1, sizeof(*this));

    this->url = bvStrdup(storageUrl(inner));
    storageUnwrap(inner, &this->vt, &this->driver);
    this->key = *key;
    this->plainName = bvStrdup(plainName);
    this->tmpDir = tmpDir != NULL && tmpDir[0] != '\0' ? bvStrdup(tmpDir) : NULL;
    return storageNewDriver(&cryptVt, this, this->url);
}
