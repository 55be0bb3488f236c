/*
 * The archive store. Every object of the archive is reached through this interface; the drivers
 * behind it (a local directory now, S3 later) are peers filling one StorageDriverVt (pgBackRest
 * storage.intern.h).
 *
 * Object names are relative paths with '/' separators: non-empty, at most STORAGE_NAME_MAX
 * bytes, only [A-Za-z0-9._-/], no leading '/', no empty, '.' or '..' component, no component
 * longer than STORAGE_NAME_COMPONENT_MAX, and never containing ".tmp." (reserved for the
 * in-progress files of drivers). A bad name is ERR_USAGE.
 *
 * Archive objects are immutable (pgBackRest archive-push rule): storing an object that exists
 * with identical content (same size and SHA-256) is a no-op success; with different content it
 * is ERR_EXISTS and the stored object is left untouched. The one mutable object (the checkpoint)
 * is written with STORAGE_PUT_REPLACE, which replaces it atomically.
 *
 * Every error names the object and the store URL. Failures of the store are ERR_STORAGE; failures
 * reading a local source file are ERR_IO. A Storage holds no mutable state after storageNew(), so
 * it may be used from several threads at once.
 */
#ifndef BV_STORAGE_STORAGE_H
#define BV_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/err.h"
#include "common/io.h"

#define STORAGE_NAME_MAX 1024
#define STORAGE_NAME_COMPONENT_MAX 200

typedef struct Storage Storage;

typedef enum StoragePutMode {
    STORAGE_PUT_IMMUTABLE = 0, /* never replace an object (identical content is a no-op) */
    STORAGE_PUT_REPLACE,       /* replace atomically whatever is there */
} StoragePutMode;

/* What is being stored, computed by the caller (storagePutInfoFromFile() or the hash filters of
 * the chain that wrote the file); the driver checks the bytes it stores against size and sha256,
 * and S3 sends md5 as Content-MD5. */
typedef struct StoragePutInfo {
    uint64_t size;
    uint8_t sha256[CRYPTO_SHA256_LEN];
    uint8_t md5[CRYPTO_MD5_LEN];
    /* md5 was not computed (storagePutSealedFile() of a segment written without it): a driver
     * that sends it computes it itself, so that only a store that needs it (S3) pays for it. */
    bool noMd5;
} StoragePutInfo;

typedef struct StorageInfo {
    bool exists;
    uint64_t size;
    int64_t mtime; /* seconds since the epoch */
} StorageInfo;

/* Called by storageList() for each object; return -1 (with `err` set) to stop the listing, which
 * then fails with that error unchanged, or STORAGE_LIST_STOP to end it early with success. */
#define STORAGE_LIST_STOP 1
typedef int StorageListCb(const char *name, uint64_t size, void *data, Err *err);

/* Store settings. The S3 members are values (NULL: the default; see storage/s3.h): the storage
 * layer never reads the environment, the command layer fills them from the command line and then
 * from the environment variables named here (the option tables declare them: CMD_ARCHIVE_OPTDEFS). The sizes and counts
 * are text as the user wrote them, checked when the store is opened. */
typedef struct StorageOptions {
    const char *s3Endpoint;           /* --s3-endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL */
    const char *s3Region;             /* --s3-region, AWS_REGION, AWS_DEFAULT_REGION */
    const char *s3CaFile;             /* --s3-ca-file, BINVAULT_S3_CA_FILE, AWS_CA_BUNDLE */
    const char *s3UriStyle;           /* --s3-uri-style path|host, BINVAULT_S3_URI_STYLE */
    const char *s3AccessKeyId;        /* AWS_ACCESS_KEY_ID */
    const char *s3SecretAccessKey;    /* AWS_SECRET_ACCESS_KEY */
    const char *s3SessionToken;       /* AWS_SESSION_TOKEN */
    const char *s3CredentialsFile;    /* BINVAULT_S3_CREDENTIALS_FILE (without an access key id) */
    const char *s3Profile;            /* AWS_PROFILE: the credentials file's section */
    const char *s3MultipartThreshold; /* BINVAULT_S3_MULTIPART_THRESHOLD: a size ("64M") */
    const char *s3PartSize;           /* BINVAULT_S3_PART_SIZE: a size */
    const char *s3StallTimeout;       /* BINVAULT_S3_STALL_TIMEOUT: seconds */
    const char *s3ListPage;           /* BINVAULT_S3_LIST_PAGE: keys per listing request */
    const char *tmpDir;               /* TMPDIR: where an encrypted store writes the encrypted copy of a
                                       * local file for a driver that takes neither a stream nor a source
                                       * by offset, or of an object over 8 GiB to S3 (beside the file
                                       * when it can) */
    /* Not read by the store: the archive's key, for archiveKeyOpenStore() (archive/key.h). */
    const char *keyFile;    /* --key-file: the archive key (else BINVAULT_KEY_FILE) */
    bool encrypt;           /* --encrypt: a new archive is created encrypted (else BINVAULT_ENCRYPT=1) */
    /* Set by the commands that write an archive (agent, import, prune, storage put) only: a missing
     * directory archive is created. Without it the store never writes when it opens, and a missing
     * directory is ERR_NOTFOUND "archive 'URL' does not exist". */
    bool create;
} StorageOptions;

/* storageNew() with the settings of `opts` (may be NULL: every setting at its default, and a
 * missing directory is created as by storageNew()). A directory is created only with opts->create.
 * The raw store: an archive is opened with archiveKeyOpenStore() (archive/key.h), which adds its
 * encryption. */
Storage *storageNewOpts(const char *url, const StorageOptions *opts, Err *err);

/* Open a store: "file:///abs/path" or a plain path (relative to the working directory) is a
 * directory, created when missing; "s3://bucket/prefix" is an S3-compatible store with every
 * setting at its default (storage/s3.h), so without credentials: ERR_CONFIG "no S3
 * credentials" (storageNewOpts() takes settings); anything else is ERR_USAGE naming the
 * accepted forms. The raw store: no encryption (see archiveKeyOpenStore() in archive/key.h). */
Storage *storageNew(const char *url, Err *err);

/* The store's URL for messages: "file:///abs/path". */
const char *storageUrl(const Storage *storage);

/* Check an object name (see above); ERR_USAGE says what is wrong. The functions below check
 * the names they are given themselves. */
int storageNameValid(const char *name, Err *err);

/* Size, SHA-256 and MD5 of a local file, read once. ERR_IO when it cannot be read. */
int storagePutInfoFromFile(const char *path, StoragePutInfo *info, Err *err);

/* Store the local file `localPath` as the immutable object `name`. `info` describes the file; if
 * the bytes read do not match it the object is not stored (ERR_CHECKSUM). An existing object with
 * the same size and SHA-256 is success; with different content it is ERR_EXISTS:
 * "archive object 'x' already exists in 'file:///s' with different content (sha256 <stored> vs
 * <new>)". */
int storagePutFile(Storage *storage, const char *name, const char *localPath,
                   const StoragePutInfo *info, Err *err);

/* storagePutFile() of a sealed local file: one whose size and SHA-256 (`info`; md5 may be
 * missing: info->noMd5) were taken from the bytes as they were written, and which was fsynced
 * since (a spooled segment). The store does not read it again to hash it: the directory store
 * links it into place when it is on the same file system (else copies it, checking its size);
 * an encrypted store encrypts it checking only its size; S3 sends info->md5 (reading the file
 * once for it first when info->noMd5), and still checks the SHA-256 of the bytes it sends. A
 * size that is not info->size is ERR_CHECKSUM. The file must not change afterwards (a linked
 * object is the same file). */
int storagePutSealedFile(Storage *storage, const char *name, const char *localPath,
                         const StoragePutInfo *info, Err *err);

/* Store a small object from memory, immutable (same rules as storagePutFile()) or replacing. */
int storagePutBuf(Storage *storage, const char *name, const void *data, size_t len,
                  StoragePutMode mode, Err *err);

/* Read a whole object into a new buffer (free with bvFree(); NUL-terminated one byte past
 * `*len`). ERR_NOTFOUND when it does not exist, ERR_LIMIT when it is larger than `maxLen`. */
int storageGetBuf(Storage *storage, const char *name, size_t maxLen, uint8_t **data, size_t *len,
                  Err *err);

/* Stream an object, or `length` bytes of it from `offset` (`length` 0: to the end). ERR_NOTFOUND
 * when it does not exist, ERR_FORMAT when the range goes past its end. Errors of the returned
 * reader name the object and the store. */
IoRead *storageOpenRead(Storage *storage, const char *name, uint64_t offset, uint64_t length,
                        Err *err);

/* Whether an object exists, and its size and modification time; a missing object is not an
 * error (out->exists is false). */
int storageHead(Storage *storage, const char *name, StorageInfo *out, Err *err);

/* Call `cb` for every object whose name starts with `prefix` ("" for all; a string prefix as in
 * S3, so "seg/00" matches "seg/0042"), recursively, in lexicographic (byte) order of the names.
 * Objects being written are not listed. */
int storageList(Storage *storage, const char *prefix, StorageListCb *cb, void *data, Err *err);
/* storageList() of the names after `startAfter` only (NULL or "": from the start), asking the store
 * for them alone (S3 ListObjectsV2 `start-after`; a directory skips the earlier names of each
 * directory it reads): a question about the end of a long prefix lists only the end. */
int storageListFrom(Storage *storage, const char *prefix, const char *startAfter, StorageListCb *cb, void *data,
                    Err *err);

/* What a store was asked, counted by the generic layer since it was opened: listing requests
 * (storageList/storageListFrom calls), objects listed, reads (get, open, head), puts, removes. For
 * tests and benchmarks that assert what a question costs. */
typedef struct StorageCounters {
    uint64_t lists, listed, reads, puts, removes;
} StorageCounters;
void storageCountersGet(const Storage *storage, StorageCounters *out);

/* Remove an object; a missing object is fine. */
int storageRemove(Storage *storage, const char *name, Err *err);

/* Remove the leftovers of interrupted puts that are at least `minAgeSec` seconds old (0: all;
 * only call it with 0 when no put is running). The number removed goes to `*removed` when it is
 * not NULL. */
int storageCleanTemp(Storage *storage, unsigned minAgeSec, unsigned *removed, Err *err);

void storageFree(Storage *storage);

/* --- Driver interface (for storage/storage_*.c only) --------------------------------------- */

/* The source of a put: a local file (`path`) or memory (`data`, `len`). A driver may open it
 * more than once (a retried upload) with storagePutSourceOpen(). `sealed`: the file of
 * storagePutSealedFile(), whose SHA-256 need not be checked again (storagePutSourceVerify()
 * checks its size only) and which the directory driver may link. */
typedef struct StoragePutSource {
    const char *path;
    const void *data;
    size_t len;
    bool sealed;
} StoragePutSource;

/* The source of putAt: `read(ctx, ...)` gives up to `len` bytes at `offset` (fewer only at the end
 * of the object; 0 at or past it), the same bytes at every call, or fails (-1 with `err` set:
 * ERR_CHECKSUM when what it is made from changed, ERR_IO when it cannot be read). `what` names it
 * in messages ("the encryption of 'path'"). */
typedef struct StoragePutAt {
    ssize_t (*read)(void *ctx, uint8_t *buf, size_t len, uint64_t offset, Err *err);
    void *ctx;
    const char *what;
} StoragePutAt;

/*
 * A driver. Names reaching it are valid; the generic layer adds "unable to <verb> 'name'
 * in/from 'url'" to its errors, so a driver's messages say what failed underneath.
 * - put: store `src`, checking that the bytes stored match `info` (size, sha256) or failing with
 *   ERR_CHECKSUM. STORAGE_PUT_IMMUTABLE must never replace an object, atomically (no check-then-
 *   write window): when one exists it sets *existed and succeeds, and the generic layer compares
 *   contents. STORAGE_PUT_REPLACE replaces atomically. Either way, readers see the old object or
 *   the whole new one, and the object is durable when put returns.
 * - openRead: ERR_NOTFOUND for a missing object; ERR_FORMAT for a range past the end.
 * - head: exists false for a missing object.
 * - list: as storageList(), in byte order, skipping in-progress objects.
 * - listFrom (optional: NULL lists all and the generic layer skips): as list, of the names after
 *   `startAfter` only.
 * - remove: a missing object is fine.
 * - putRead (optional: NULL when the driver cannot): as put, but the bytes come from `src`, a
 *   single-use stream of exactly `size` bytes whose own filters check its content (an encryptor
 *   reading a verified local file): the object is stored only when `src` reached its end after
 *   `size` bytes without error. An error of `src` is returned with its code (ERR_IO, ERR_CHECKSUM
 *   of the local source). The stream is neither freed nor reopened. This lets a transforming
 *   filter feed the store directly, with no temporary copy.
 * - putAt (optional: NULL when the driver cannot): as put, but the bytes come from `src`, made on
 *   demand and readable at any offset, any number of times (an encryptor over a local file: S3
 *   reads a body again for a retry, and hashes a multipart upload's parts before it sends them);
 *   `info` describes them (size, sha256 and md5, which the caller took from a first pass over
 *   `src`). The source vouches for its bytes (the same at every read, or the read fails), so the
 *   driver does not hash them again to check them against `info`; it still takes the digests a
 *   request needs of a part of them. This lets a driver that needs the digests of a body before it
 *   sends it store a transformed source with no temporary copy.
 * - cleanTemp: remove leftovers of interrupted puts (S3: abort stale multipart uploads).
 */
typedef struct StorageDriverVt {
    int (*put)(void *driver, const char *name, const StoragePutSource *src,
               const StoragePutInfo *info, StoragePutMode mode, bool *existed, Err *err);
    int (*putRead)(void *driver, const char *name, IoRead *src, uint64_t size, StoragePutMode mode,
                   bool *existed, Err *err);
    int (*putAt)(void *driver, const char *name, const StoragePutAt *src, const StoragePutInfo *info,
                 StoragePutMode mode, bool *existed, Err *err);
    IoRead *(*openRead)(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err);
    int (*head)(void *driver, const char *name, StorageInfo *out, Err *err);
    int (*list)(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err);
    int (*listFrom)(void *driver, const char *prefix, const char *startAfter, StorageListCb *cb, void *data,
                    Err *err);
    int (*remove)(void *driver, const char *name, Err *err);
    int (*cleanTemp)(void *driver, unsigned minAgeSec, unsigned *removed, Err *err);
    void (*free)(void *driver);
    /* Whether the driver sends the MD5 of the bytes it is given (S3's Content-MD5): a caller that
     * can take it as the file is written passes it (StoragePutInfo.md5) rather than leave the
     * driver to read the file for it. NULL: it does not. */
    bool (*sendsMd5)(void *driver);
    /* Whether a put of `size` bytes sends the MD5 of the whole object before its body (S3: a
     * single PUT, up to the multipart threshold; a multipart upload sends each part's own): a
     * putAt caller computes info->md5 in its first pass only then, and sets info->noMd5
     * otherwise. NULL: never. */
    bool (*sendsWholeMd5)(void *driver, uint64_t size);
} StorageDriverVt;

/* Whether `storage` sends the MD5 of the bytes it is given (its driver's sendsMd5: S3, not an
 * encrypting filter, whose bytes stored are not the caller's). */
bool storageSendsMd5(const Storage *storage);

/* Wrap a driver (owned from now on) in a Storage with its URL. */
Storage *storageNewDriver(const StorageDriverVt *vt, void *driver, const char *url);

/* The inverse, for a driver that decorates another (storage/storage_crypt.c, archive/key.c): hand the driver of
 * `storage` to the caller, who owns it from now on (free it with (*vt)->free), and free the rest
 * of `storage`. */
void storageUnwrap(Storage *storage, const StorageDriverVt **vt, void **driver);

/* A reader over a put source. ERR_IO when the local file cannot be opened. */
IoRead *storagePutSourceOpen(const StoragePutSource *src, Err *err);

/* The same, checked against `info`: at its end the reader fails with ERR_CHECKSUM ("'path' does
 * not match its description: ...", or "the buffer ...") unless size and SHA-256 match
 * (ioReadVerifyNew()); the size only for a sealed source. */
IoRead *storagePutSourceVerify(const StoragePutSource *src, const StoragePutInfo *info, Err *err);

/* A put source opened for reads at any offset, in any order, any number of times (a driver that
 * sends a file in parts, or hashes it before it sends it): the local file (pread) or the memory. */
typedef struct StoragePutSourceAt {
    const StoragePutSource *src;
    int fd; /* -1 for memory */
    uint64_t size;
} StoragePutSourceAt;

/* Open `src` for storagePutSourceReadAt(): its size must be `size` (else ERR_CHECKSUM "'path' does
 * not match its description: N bytes, expected M", or "the buffer ..."); ERR_IO when the file
 * cannot be opened. Close it with storagePutSourceCloseAt() either way. */
int storagePutSourceOpenAt(const StoragePutSource *src, uint64_t size, StoragePutSourceAt *at, Err *err);

/* Up to `len` bytes at `offset`: fewer only at the end of the source (0 at or past it); ERR_IO. */
ssize_t storagePutSourceReadAt(StoragePutSourceAt *at, void *buf, size_t len, uint64_t offset, Err *err);

void storagePutSourceCloseAt(StoragePutSourceAt *at);

/* The directory driver (storage/storage_file.c) on the directory `path` (absolute, no trailing '/').
 * A missing directory is created (with its parents) when `create` is set, else it is ERR_NOTFOUND
 * "archive 'file:///path' does not exist"; a path that is not a directory is ERR_CONFIG (a
 * permanent mistake, not worth a retry). */
Storage *storageFileNew(const char *path, bool create, Err *err);

#endif
