/* Unit tests of storage/storage with the directory driver. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/mem.h"
#include "tests/test.h"
#include "storage/storage.h"

#define HELLO_SHA256 "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define WORLD_SHA256 "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"

/* A store on a fresh directory "<tmp>/store". */
static Storage *
newStore(char *root, size_t size) {
    Err err = {0};
    Storage *storage;
    char *url;

    snprintf(root, size, "%s/store", testTmpDir());
    BV_ASSERT(mkdir(root, 0700) == 0);
    url = bvSprintf("file://%s", root);
    storage = storageNew(url, &err);
    bvFree(url);
    if (storage == NULL)
        testFail(__FILE__, __LINE__, "storageNew: %s", err.msg);
    return storage;
}

/* Count files under `dir` whose name contains ".tmp.". */
static int
countTemp(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    int count = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char sub[1024];
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            count += countTemp(sub);
        else if (strstr(de->d_name, ".tmp.") != NULL)
            count++;
    }
    closedir(d);
    return count;
}

static char *
getString(Storage *storage, const char *name) {
    uint8_t *data = NULL;
    size_t len = 0;
    Err err = {0};

    if (storageGetBuf(storage, name, 1 << 20, &data, &len, &err) != 0)
        return NULL;
    return (char *)data;
}

static void
testNew(void) {
    Err err = {0};
    Storage *storage;
    char root[512], expect[1024];
    char *file;

    snprintf(root, sizeof(root), "%s/r", testTmpDir());
    REQUIRE(mkdir(root, 0700) == 0);

    snprintf(expect, sizeof(expect), "file://%s/", root);
    storage = storageNew(expect, &err);
    REQUIRE(storage != NULL);
    snprintf(expect, sizeof(expect), "file://%s", root);
    CHECK_STR(storageUrl(storage), expect);
    storageFree(storage);

    storage = storageNew(root, &err);
    REQUIRE(storage != NULL);
    CHECK_STR(storageUrl(storage), expect);
    storageFree(storage);

    /* A relative path is made absolute. */
    {
        char *cwd = getcwd(NULL, 0);

        REQUIRE(chdir(testTmpDir()) == 0);
        storage = storageNew("r//", &err);
        REQUIRE(chdir(cwd) == 0);
        free(cwd);
        REQUIRE(storage != NULL);
        CHECK_STR(storageUrl(storage), expect);
        storageFree(storage);
    }

    CHECK(storageNew("s3://Bad_Bucket/prefix", &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "Bad_Bucket");
    CHECK(storageNew("gs://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_STR(err.msg, "unsupported storage url 'gs://bucket': expected 'file:///path', a local "
                       "path or 's3://bucket/prefix'");
    CHECK(storageNew("", &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK(storageNew("file://host/x", &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_STR(err.msg, "invalid storage url 'file://host/x': expected 'file:///absolute/path'");

    /* A missing directory is created (a new archive); its parent must be creatable. */
    snprintf(expect, sizeof(expect), "%s/new/archive", testTmpDir());
    storage = storageNew(expect, &err);
    CHECK(storage != NULL);
    storageFree(storage);
    {
        struct stat sb;

        CHECK(stat(expect, &sb) == 0 && S_ISDIR(sb.st_mode));
    }
    CHECK(storageNew("/proc/binvault-cannot-create/x", &err) == NULL);
    CHECK_INT(err.code, ERR_IO);
    file = bvSprintf("%s/afile", testTmpDir());
    REQUIRE(fsWriteFileAtomic(file, "x", 1, 0600, &err) == 0);
    /* A file where the archive should be is a permanent mistake (not "temporary", retried forever). */
    CHECK(storageNew(file, &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "not a directory");
    bvFree(file);
    storageFree(NULL);
}

/* Readers open a store without creating it: a missing directory is "does not exist" (exit 66) and
 * stays missing; only a writer's options (create) make it. */
static void
testOpenReadOnly(void) {
    Err err;
    StorageOptions opts = {0};
    Storage *storage;
    struct stat sb;
    char path[1024];

    snprintf(path, sizeof(path), "%s/ro/archive", testTmpDir());
    CHECK(storageNewOpts(path, &opts, &err) == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_INT(errExitCode(err.code), 66);
    CHECK_MSG(err.msg, "does not exist");
    CHECK(stat(path, &sb) != 0 && errno == ENOENT);
    snprintf(path, sizeof(path), "%s/ro", testTmpDir());
    CHECK(stat(path, &sb) != 0 && errno == ENOENT);
    snprintf(path, sizeof(path), "%s/ro/archive", testTmpDir());
    opts.create = true;
    storage = storageNewOpts(path, &opts, &err);
    CHECK(storage != NULL);
    storageFree(storage);
    CHECK(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode));
    opts.create = false;
    storage = storageNewOpts(path, &opts, &err);
    CHECK(storage != NULL);
    storageFree(storage);
}

static void
testNames(void) {
    static const struct {
        const char *name;
        const char *msg;
    } bad[] = {
        {"", "invalid object name '': empty name"},
        {"/abs", "invalid object name '/abs': leading '/'"},
        {"a//b", "invalid object name 'a//b': empty component"},
        {"a/", "invalid object name 'a/': empty component"},
        {"a/../b", "invalid object name 'a/../b': '.' or '..' component"},
        {"..", "invalid object name '..': '.' or '..' component"},
        {"./a", "invalid object name './a': '.' or '..' component"},
        {"a b", "invalid object name 'a b': only A-Z a-z 0-9 . _ - / are allowed"},
        {"a\\b", "invalid object name 'a\\b': only A-Z a-z 0-9 . _ - / are allowed"},
        {"caf\xc3\xa9", "invalid object name 'caf\xc3\xa9': only A-Z a-z 0-9 . _ - / are allowed"},
        {"seg/x.tmp.0123", "invalid object name 'seg/x.tmp.0123': '.tmp.' is reserved for temporary files"},
    };
    static const char *good[] = {"a", "seg/000001.lz4", "A-Z_a.z/0-9", "..a", "a..", ".hidden"};
    Err err = {0};
    char root[512], longName[STORAGE_NAME_MAX + 2], longComponent[STORAGE_NAME_COMPONENT_MAX + 2];
    Storage *storage = newStore(root, sizeof(root));
    char expect[4096];

    REQUIRE(storage != NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errClear(&err);
        CHECK_INT(storageNameValid(bad[i].name, &err), -1);
        CHECK_INT(err.code, ERR_USAGE);
        CHECK_STR(err.msg, bad[i].msg);
        /* Every operation refuses it before reaching the driver. */
        CHECK_INT(storagePutBuf(storage, bad[i].name, "x", 1, STORAGE_PUT_IMMUTABLE, &err), -1);
        CHECK_INT(err.code, ERR_USAGE);
        CHECK(storageOpenRead(storage, bad[i].name, 0, 0, &err) == NULL);
        CHECK_INT(err.code, ERR_USAGE);
        {
            StorageInfo info;

            CHECK_INT(storageHead(storage, bad[i].name, &info, &err), -1);
            CHECK_INT(err.code, ERR_USAGE);
        }
        CHECK_INT(storageRemove(storage, bad[i].name, &err), -1);
        CHECK_INT(err.code, ERR_USAGE);
    }
    CHECK_INT(storagePutBuf(storage, "a/../../escape", "x", 1, STORAGE_PUT_REPLACE, &err), -1);
    snprintf(expect, sizeof(expect),
             "invalid object name 'a/../../escape' for 'file://%s': '.' or '..' component", root);
    CHECK_STR(err.msg, expect);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        errClear(&err);
        CHECK_INT(storageNameValid(good[i], &err), 0);
        CHECK_INT(storagePutBuf(storage, good[i], "x", 1, STORAGE_PUT_IMMUTABLE, &err), 0);
    }
    /* Length limits. */
    memset(longComponent, 'c', sizeof(longComponent) - 1);
    longComponent[sizeof(longComponent) - 1] = '\0';
    CHECK_INT(storageNameValid(longComponent, &err), -1);
    CHECK_MSG(err.msg, "component longer than 200 bytes");
    longComponent[STORAGE_NAME_COMPONENT_MAX] = '\0';
    CHECK_INT(storageNameValid(longComponent, &err), 0);
    CHECK_INT(storagePutBuf(storage, longComponent, "x", 1, STORAGE_PUT_IMMUTABLE, &err), 0);
    for (size_t i = 0; i < sizeof(longName) - 1; i++)
        longName[i] = i % 10 == 9 ? '/' : 'n';
    longName[sizeof(longName) - 1] = '\0';
    CHECK_INT(storageNameValid(longName, &err), -1);
    CHECK_MSG(err.msg, "longer than 1024 bytes");
    storageFree(storage);
}

static void
testPutGetHeadRemove(void) {
    Err err = {0};
    char root[512], path[600];
    Storage *storage = newStore(root, sizeof(root));
    StorageInfo info;
    char *text;
    struct stat st;

    REQUIRE(storage != NULL);
    CHECK_INT(storagePutBuf(storage, "a/b/c/hello", "hello", 5, STORAGE_PUT_IMMUTABLE, &err), 0);
    text = getString(storage, "a/b/c/hello");
    CHECK_STR(text, "hello");
    bvFree(text);
    /* It is a plain file at the path of its name, without temporary leftovers. */
    snprintf(path, sizeof(path), "%s/a/b/c/hello", root);
    REQUIRE(stat(path, &st) == 0);
    CHECK_INT(st.st_size, 5);
    CHECK_INT(countTemp(root), 0);

    CHECK_INT(storageHead(storage, "a/b/c/hello", &info, &err), 0);
    CHECK(info.exists);
    CHECK_INT(info.size, 5);
    CHECK_INT(info.mtime, st.st_mtime);
    CHECK_INT(storageHead(storage, "a/b/c/nothing", &info, &err), 0);
    CHECK(!info.exists);
    CHECK_INT(info.size, 0);
    /* A directory is not an object. */
    CHECK_INT(storageHead(storage, "a/b", &info, &err), 0);
    CHECK(!info.exists);
    /* Below a file. */
    CHECK_INT(storageHead(storage, "a/b/c/hello/x", &info, &err), 0);
    CHECK(!info.exists);

    /* Empty object. */
    CHECK_INT(storagePutBuf(storage, "empty", "", 0, STORAGE_PUT_IMMUTABLE, &err), 0);
    text = getString(storage, "empty");
    CHECK_STR(text, "");
    bvFree(text);

    CHECK_INT(storageRemove(storage, "a/b/c/hello", &err), 0);
    CHECK_INT(storageHead(storage, "a/b/c/hello", &info, &err), 0);
    CHECK(!info.exists);
    CHECK_INT(storageRemove(storage, "a/b/c/hello", &err), 0);
    CHECK_INT(storageRemove(storage, "never/existed", &err), 0);
    storageFree(storage);
}

static void
testGetErrors(void) {
    Err err = {0};
    char root[512], expect[4096];
    Storage *storage = newStore(root, sizeof(root));
    uint8_t *data = NULL;
    size_t len = 0;

    REQUIRE(storage != NULL);
    REQUIRE(storagePutBuf(storage, "obj", "0123456789", 10, STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK_INT(storageGetBuf(storage, "obj", 10, &data, &len, &err), 0);
    CHECK_INT(len, 10);
    bvFree(data);
    CHECK_INT(storageGetBuf(storage, "obj", SIZE_MAX, &data, &len, &err), 0);
    CHECK_INT(len, 10);
    CHECK_STR((char *)data, "0123456789");
    bvFree(data);
    CHECK_INT(storageGetBuf(storage, "obj", 9, &data, &len, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    snprintf(expect, sizeof(expect), "object 'obj' in 'file://%s' is larger than the limit of 9 bytes",
             root);
    CHECK_STR(err.msg, expect);

    CHECK_INT(storageGetBuf(storage, "dir/missing", 10, &data, &len, &err), -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    snprintf(expect, sizeof(expect),
             "unable to read 'dir/missing' from 'file://%s': unable to open '%s/dir/missing': No "
             "such file or directory",
             root, root);
    CHECK_STR(err.msg, expect);
    storageFree(storage);
}

static void
testOpenReadRange(void) {
    Err err = {0};
    char root[512], expect[4096], buf[64];
    Storage *storage = newStore(root, sizeof(root));
    IoRead *reader;

    REQUIRE(storage != NULL);
    REQUIRE(storagePutBuf(storage, "seg/1", "0123456789", 10, STORAGE_PUT_IMMUTABLE, &err) == 0);
    reader = storageOpenRead(storage, "seg/1", 2, 5, &err);
    REQUIRE(reader != NULL);
    CHECK_INT(ioReadFull(reader, buf, sizeof(buf), &err), 5);
    CHECK(memcmp(buf, "23456", 5) == 0);
    ioReadFree(reader);

    reader = storageOpenRead(storage, "seg/1", 6, 0, &err);
    REQUIRE(reader != NULL);
    CHECK_INT(ioReadFull(reader, buf, sizeof(buf), &err), 4);
    CHECK(memcmp(buf, "6789", 4) == 0);
    ioReadFree(reader);

    /* Empty range at the end. */
    reader = storageOpenRead(storage, "seg/1", 10, 0, &err);
    REQUIRE(reader != NULL);
    CHECK_INT(ioRead(reader, buf, sizeof(buf), &err), 0);
    ioReadFree(reader);

    CHECK(storageOpenRead(storage, "seg/1", 8, 3, &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    snprintf(expect, sizeof(expect),
             "unable to read 'seg/1' from 'file://%s': range of 3 bytes from offset 8 is past the "
             "end (10 bytes)",
             root);
    CHECK_STR(err.msg, expect);
    CHECK(storageOpenRead(storage, "seg/1", 11, 0, &err) == NULL);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK(storageOpenRead(storage, "seg", 0, 0, &err) == NULL);
    CHECK_INT(err.code, ERR_NOTFOUND);

    /* The object shrinks under an open reader: the error names the object and the store. */
    reader = storageOpenRead(storage, "seg/1", 0, 10, &err);
    REQUIRE(reader != NULL);
    {
        char path[600];

        snprintf(path, sizeof(path), "%s/seg/1", root);
        REQUIRE(truncate(path, 4) == 0);
        CHECK_INT(ioReadFull(reader, buf, sizeof(buf), &err), -1);
        CHECK_INT(err.code, ERR_FORMAT);
        snprintf(expect, sizeof(expect),
                 "unable to read 'seg/1' from 'file://%s': unexpected end of '%s' at offset 4: "
                 "expected 10 bytes from offset 0",
                 root, path);
        CHECK_STR(err.msg, expect);
    }
    ioReadFree(reader);
    storageFree(storage);
}

static void
testPutFile(void) {
    Err err = {0};
    char root[512], local[512], hexText[65];
    Storage *storage = newStore(root, sizeof(root));
    StoragePutInfo info;
    char *text;

    REQUIRE(storage != NULL);
    snprintf(local, sizeof(local), "%s/local", testTmpDir());
    REQUIRE(fsWriteFileAtomic(local, "hello", 5, 0600, &err) == 0);
    /* Every member is set, whatever the struct held: a stale noMd5 made S3 replace an MD5 the
     * caller gave (storage put --md5) by its own. */
    memset(&info, 0xff, sizeof(info));
    CHECK_INT(storagePutInfoFromFile(local, &info, &err), 0);
    CHECK(!info.noMd5);
    CHECK_INT(info.size, 5);
    cryptoHexEncode(info.sha256, 32, hexText);
    CHECK_STR(hexText, HELLO_SHA256);
    cryptoHexEncode(info.md5, 16, hexText);
    CHECK_STR(hexText, "5d41402abc4b2a76b9719d911017c592");

    CHECK_INT(storagePutFile(storage, "seg/000001", local, &info, &err), 0);
    text = getString(storage, "seg/000001");
    CHECK_STR(text, "hello");
    bvFree(text);
    CHECK_INT(countTemp(root), 0);

    /* A local file that does not match its description is not stored. */
    info.size = 6;
    CHECK_INT(storagePutFile(storage, "seg/000002", local, &info, &err), -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    {
        char expect[4096];

        snprintf(expect, sizeof(expect),
                 "unable to put 'seg/000002' in 'file://%s': '%s' does not match its description: "
                 "5 bytes with sha256 " HELLO_SHA256 ", expected 6 bytes with sha256 " HELLO_SHA256,
                 root, local);
        CHECK_STR(err.msg, expect);
    }
    info.size = 5;
    info.sha256[0] ^= 1;
    CHECK_INT(storagePutFile(storage, "seg/000002", local, &info, &err), -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    {
        StorageInfo head;

        CHECK_INT(storageHead(storage, "seg/000002", &head, &err), 0);
        CHECK(!head.exists);
    }
    CHECK_INT(countTemp(root), 0);

    /* A missing local file is a local error. */
    {
        char missing[600], expect[4096];

        snprintf(missing, sizeof(missing), "%s/none", testTmpDir());
        CHECK_INT(storagePutInfoFromFile(missing, &info, &err), -1);
        CHECK_INT(err.code, ERR_IO);
        CHECK_INT(storagePutFile(storage, "seg/000003", missing, &info, &err), -1);
        CHECK_INT(err.code, ERR_IO);
        snprintf(expect, sizeof(expect),
                 "unable to put 'seg/000003' in 'file://%s': unable to open '%s': No such file or "
                 "directory",
                 root, missing);
        CHECK_STR(err.msg, expect);
        CHECK_INT(countTemp(root), 0);
    }
    storageFree(storage);
}

/* A sealed file (hashed as written) is linked into the directory store, not read: the object is
 * the same file; its size is still checked; a stored object is compared as for any put. */
static void
testPutSealedFile(void) {
    Err err = {0};
    char root[512], local[512], other[512], path[600], expect[4096];
    Storage *storage = newStore(root, sizeof(root));
    StoragePutInfo info;
    struct stat st, object;
    char *text;

    REQUIRE(storage != NULL);
    snprintf(local, sizeof(local), "%s/sealed", testTmpDir());
    REQUIRE(fsWriteFileAtomic(local, "hello", 5, 0640, &err) == 0);
    REQUIRE(storagePutInfoFromFile(local, &info, &err) == 0);
    memset(info.md5, 0, sizeof(info.md5));
    info.noMd5 = true;

    CHECK_INT(storagePutSealedFile(storage, "seg/000001", local, &info, &err), 0);
    snprintf(path, sizeof(path), "%s/seg/000001", root);
    REQUIRE(stat(local, &st) == 0);
    REQUIRE(stat(path, &object) == 0);
    CHECK_INT(object.st_ino, st.st_ino);
    CHECK_INT(st.st_nlink, 2);
    text = getString(storage, "seg/000001");
    CHECK_STR(text, "hello");
    bvFree(text);
    CHECK_INT(countTemp(root), 0);

    /* Again (a retried upload whose answer was lost): the same content, a no-op. */
    CHECK_INT(storagePutSealedFile(storage, "seg/000001", local, &info, &err), 0);
    /* Another file of the same name: refused, and the stored object is intact. */
    snprintf(other, sizeof(other), "%s/other", testTmpDir());
    REQUIRE(fsWriteFileAtomic(other, "world", 5, 0640, &err) == 0);
    cryptoSha256("world", 5, info.sha256);
    CHECK_INT(storagePutSealedFile(storage, "seg/000001", other, &info, &err), -1);
    CHECK_INT(err.code, ERR_EXISTS);
    text = getString(storage, "seg/000001");
    CHECK_STR(text, "hello");
    bvFree(text);

    /* Not the size sealed: not stored. The SHA-256 is the seal's, not checked again. */
    info.size = 6;
    CHECK_INT(storagePutSealedFile(storage, "seg/000002", local, &info, &err), -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    snprintf(expect, sizeof(expect), "unable to put 'seg/000002' in 'file://%s': '%s' does not match its "
             "description: 5 bytes, expected 6 bytes", root, local);
    CHECK_STR(err.msg, expect);
    {
        StorageInfo head;

        CHECK_INT(storageHead(storage, "seg/000002", &head, &err), 0);
        CHECK(!head.exists);
    }
    CHECK_INT(countTemp(root), 0);
    storageFree(storage);
}

static void
testImmutable(void) {
    Err err = {0};
    char root[512], local[512], expect[4096], path[600];
    Storage *storage = newStore(root, sizeof(root));
    StoragePutInfo info;
    struct stat before, after;
    char *text;

    REQUIRE(storage != NULL);
    REQUIRE(storagePutBuf(storage, "seg/000001", "hello", 5, STORAGE_PUT_IMMUTABLE, &err) == 0);
    snprintf(path, sizeof(path), "%s/seg/000001", root);
    REQUIRE(stat(path, &before) == 0);

    /* Identical content again, from memory and from a file: no-op success. */
    CHECK_INT(storagePutBuf(storage, "seg/000001", "hello", 5, STORAGE_PUT_IMMUTABLE, &err), 0);
    snprintf(local, sizeof(local), "%s/local", testTmpDir());
    REQUIRE(fsWriteFileAtomic(local, "hello", 5, 0600, &err) == 0);
    REQUIRE(storagePutInfoFromFile(local, &info, &err) == 0);
    CHECK_INT(storagePutFile(storage, "seg/000001", local, &info, &err), 0);
    REQUIRE(stat(path, &after) == 0);
    CHECK_INT(after.st_ino, before.st_ino);

    /* Different content: refused, and the stored object is intact. */
    CHECK_INT(storagePutBuf(storage, "seg/000001", "world", 5, STORAGE_PUT_IMMUTABLE, &err), -1);
    CHECK_INT(err.code, ERR_EXISTS);
    snprintf(expect, sizeof(expect),
             "archive object 'seg/000001' already exists in 'file://%s' with different content "
             "(sha256 " HELLO_SHA256 " vs " WORLD_SHA256 ")",
             root);
    CHECK_STR(err.msg, expect);
    REQUIRE(fsWriteFileAtomic(local, "hello, world", 12, 0600, &err) == 0);
    REQUIRE(storagePutInfoFromFile(local, &info, &err) == 0);
    CHECK_INT(storagePutFile(storage, "seg/000001", local, &info, &err), -1);
    CHECK_INT(err.code, ERR_EXISTS);
    text = getString(storage, "seg/000001");
    CHECK_STR(text, "hello");
    bvFree(text);
    REQUIRE(stat(path, &after) == 0);
    CHECK_INT(after.st_ino, before.st_ino);
    CHECK_INT(countTemp(root), 0);

    /* REPLACE replaces, atomically, whatever is there. */
    CHECK_INT(storagePutBuf(storage, "checkpoint", "v1", 2, STORAGE_PUT_REPLACE, &err), 0);
    CHECK_INT(storagePutBuf(storage, "checkpoint", "version 2", 9, STORAGE_PUT_REPLACE, &err), 0);
    text = getString(storage, "checkpoint");
    CHECK_STR(text, "version 2");
    bvFree(text);
    CHECK_INT(countTemp(root), 0);
    storageFree(storage);
}

/* A store failure underneath names the object, the store and the cause. */
static void
testStoreErrors(void) {
    Err err = {0};
    char root[512], expect[4096];
    Storage *storage = newStore(root, sizeof(root));

    REQUIRE(storage != NULL);
    REQUIRE(storagePutBuf(storage, "file", "f", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK_INT(storagePutBuf(storage, "file/sub", "x", 1, STORAGE_PUT_IMMUTABLE, &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    snprintf(expect, sizeof(expect),
             "unable to put 'file/sub' in 'file://%s': unable to create directory '%s/file': '%s/file' "
             "exists and is not a directory",
             root, root, root);
    CHECK_STR(err.msg, expect);

    /* A read-only directory (unless running as root, which ignores permissions). */
    if (geteuid() != 0) {
        char dir[600];

        REQUIRE(storagePutBuf(storage, "ro/a", "a", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
        snprintf(dir, sizeof(dir), "%s/ro", root);
        REQUIRE(chmod(dir, 0500) == 0);
        CHECK_INT(storagePutBuf(storage, "ro/b", "b", 1, STORAGE_PUT_IMMUTABLE, &err), -1);
        CHECK_INT(err.code, ERR_STORAGE);
        CHECK_MSG(err.msg, "': Permission denied");
        CHECK(strstr(err.msg, "unable to put 'ro/b' in 'file://") == err.msg);
        REQUIRE(chmod(dir, 0700) == 0);
    }
    storageFree(storage);
}

typedef struct ListResult {
    char names[64][128];
    uint64_t sizes[64];
    int count;
    int stopAfter;
} ListResult;

static int
collect(const char *name, uint64_t size, void *data, Err *err) {
    ListResult *result = data;

    if (result->count == result->stopAfter)
        return errSet(err, ERR_INTERNAL, "stop at '%s'", name);
    BV_ASSERT(result->count < 64);
    snprintf(result->names[result->count], sizeof(result->names[0]), "%s", name);
    result->sizes[result->count] = size;
    result->count++;
    return 0;
}

static int
listInto(Storage *storage, const char *prefix, ListResult *result, Err *err) {
    memset(result, 0, sizeof(*result));
    result->stopAfter = -1;
    return storageList(storage, prefix, collect, result, err);
}

static void
testList(void) {
    /* In byte order: '-' < '.' < '/' < digits < upper < '_' < lower. */
    static const char *sorted[] = {
        "a-b", "a.x", "a/b", "a/c/d", "a/c0", "a0", "b/A", "b/_", "b/a",
        "seg/000001", "seg/000002.lz4", "seg/00001x/z", "seg/0001", "z",
    };
    static const char *putOrder[] = {
        "seg/0001", "a/c0", "z", "seg/000002.lz4", "a/c/d", "b/a", "a0", "seg/00001x/z", "a.x",
        "b/_", "a/b", "b/A", "seg/000001", "a-b",
    };
    const size_t n = sizeof(sorted) / sizeof(sorted[0]);
    Err err = {0};
    char root[512], path[700];
    Storage *storage = newStore(root, sizeof(root));
    ListResult result;

    REQUIRE(storage != NULL);
    for (size_t i = 0; i < n; i++)
        REQUIRE(storagePutBuf(storage, putOrder[i], putOrder[i], strlen(putOrder[i]),
                              STORAGE_PUT_IMMUTABLE, &err) == 0);
    for (size_t i = 1; i < n; i++)
        REQUIRE(strcmp(sorted[i - 1], sorted[i]) < 0);
    /* Leftovers of puts, a symbolic link and an invalid name are not objects. */
    snprintf(path, sizeof(path), "%s/seg/000003.tmp.0011223344556677", root);
    REQUIRE(fsWriteFileAtomic(path, "partial", 7, 0600, &err) == 0);
    snprintf(path, sizeof(path), "%s/a/link", root);
    REQUIRE(symlink("b", path) == 0);
    snprintf(path, sizeof(path), "%s/bad name", root);
    REQUIRE(fsWriteFileAtomic(path, "x", 1, 0600, &err) == 0);

    CHECK_INT(listInto(storage, "", &result, &err), 0);
    CHECK_INT(result.count, n);
    for (size_t i = 0; i < n && i < (size_t)result.count; i++) {
        CHECK_STR(result.names[i], sorted[i]);
        CHECK_INT(result.sizes[i], strlen(sorted[i]));
    }

    /* A string prefix, as in S3. */
    CHECK_INT(listInto(storage, "seg/0000", &result, &err), 0);
    CHECK_INT(result.count, 3);
    CHECK_STR(result.names[0], "seg/000001");
    CHECK_STR(result.names[1], "seg/000002.lz4");
    CHECK_STR(result.names[2], "seg/00001x/z");
    CHECK_INT(listInto(storage, "a", &result, &err), 0);
    CHECK_INT(result.count, 6);
    CHECK_STR(result.names[0], "a-b");
    CHECK_STR(result.names[5], "a0");
    CHECK_INT(listInto(storage, "a/", &result, &err), 0);
    CHECK_INT(result.count, 3);
    CHECK_STR(result.names[0], "a/b");
    CHECK_STR(result.names[1], "a/c/d");
    CHECK_STR(result.names[2], "a/c0");
    CHECK_INT(listInto(storage, "b/A", &result, &err), 0);
    CHECK_INT(result.count, 1);
    CHECK_INT(listInto(storage, "nothing/here/", &result, &err), 0);
    CHECK_INT(result.count, 0);
    CHECK_INT(listInto(storage, "z/", &result, &err), 0);
    CHECK_INT(result.count, 0);
    CHECK_INT(listInto(storage, "../", &result, &err), -1);
    CHECK_INT(err.code, ERR_USAGE);

    /* The callback stops the listing; its error comes back unchanged. */
    memset(&result, 0, sizeof(result));
    result.stopAfter = 2;
    CHECK_INT(storageList(storage, "", collect, &result, &err), -1);
    CHECK_INT(err.code, ERR_INTERNAL);
    CHECK_STR(err.msg, "stop at 'a/b'");
    CHECK_INT(result.count, 2);
    storageFree(storage);
}

static void
testCleanTemp(void) {
    Err err = {0};
    char root[512], oldTmp[700], newTmp[700];
    Storage *storage = newStore(root, sizeof(root));
    struct timeval old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    unsigned removed = 99;
    ListResult result;

    REQUIRE(storage != NULL);
    REQUIRE(storagePutBuf(storage, "seg/1", "one", 3, STORAGE_PUT_IMMUTABLE, &err) == 0);
    snprintf(oldTmp, sizeof(oldTmp), "%s/seg/2.tmp.aaaaaaaaaaaaaaaa", root);
    snprintf(newTmp, sizeof(newTmp), "%s/3.tmp.bbbbbbbbbbbbbbbb", root);
    REQUIRE(fsWriteFileAtomic(oldTmp, "x", 1, 0600, &err) == 0);
    REQUIRE(fsWriteFileAtomic(newTmp, "y", 1, 0600, &err) == 0);
    REQUIRE(utimes(oldTmp, old) == 0);

    CHECK_INT(storageCleanTemp(storage, 3600, &removed, &err), 0);
    CHECK_INT(removed, 1);
    CHECK_INT(countTemp(root), 1);
    CHECK_INT(access(newTmp, F_OK), 0);
    CHECK_INT(storageCleanTemp(storage, 0, &removed, &err), 0);
    CHECK_INT(removed, 1);
    CHECK_INT(countTemp(root), 0);
    CHECK_INT(listInto(storage, "", &result, &err), 0);
    CHECK_INT(result.count, 1);
    CHECK_STR(result.names[0], "seg/1");
    storageFree(storage);
}

/* Several threads store the same name at once: identical content always succeeds; with
 * different contents exactly one wins and the others get ERR_EXISTS. */
typedef struct Racer {
    Storage *storage;
    const char *name;
    char content[32];
    int rc;
    ErrCode code;
} Racer;

static void *
racer(void *arg) {
    Racer *r = arg;
    Err err = {0};

    r->rc = storagePutBuf(r->storage, r->name, r->content, strlen(r->content),
                          STORAGE_PUT_IMMUTABLE, &err);
    r->code = err.code;
    return NULL;
}

static void
testConcurrentPut(void) {
    enum { RACERS = 8 };
    char root[512];
    Storage *storage = newStore(root, sizeof(root));
    pthread_t threads[RACERS];
    Racer racers[RACERS];
    int ok = 0, exists = 0, winner = -1;
    char *text;

    REQUIRE(storage != NULL);
    for (int round = 0; round < 2; round++) {
        ok = exists = 0;
        for (int i = 0; i < RACERS; i++) {
            racers[i] = (Racer){.storage = storage, .name = round ? "diff" : "same"};
            snprintf(racers[i].content, sizeof(racers[i].content), "content %d", round ? i : 0);
            REQUIRE(pthread_create(&threads[i], NULL, racer, &racers[i]) == 0);
        }
        for (int i = 0; i < RACERS; i++) {
            pthread_join(threads[i], NULL);
            if (racers[i].rc == 0) {
                ok++;
                winner = i;
            } else if (racers[i].code == ERR_EXISTS) {
                exists++;
            }
        }
        if (round == 0) {
            CHECK_INT(ok, RACERS);
        } else {
            CHECK_INT(ok, 1);
            CHECK_INT(exists, RACERS - 1);
            text = getString(storage, "diff");
            CHECK_STR(text, racers[winner].content);
            bvFree(text);
        }
    }
    CHECK_INT(countTemp(root), 0);
    storageFree(storage);
}

void suite_storage(void);

/* A source that yields `left` bytes of 'x' and then fails. */
static ssize_t
failingRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    size_t *left = ctx;

    if (*left == 0)
        return errSet(err, ERR_IO, "the source broke");
    if (len > *left)
        len = *left;
    memset(buf, 'x', len);
    *left -= len;
    return (ssize_t)len;
}

static void
failingFree(void *ctx) {
    bvFree(ctx);
}

static const IoReadVt failingVt = {.name = "failing", .read = failingRead, .free = failingFree};

/* The directory driver's streaming put: what the stream yields is stored once it has ended after
 * the announced size; a stream of another size, or one that fails, stores nothing and leaves no
 * temporary file; an existing object is reported, not replaced (immutable) or replaced. */
static void
testPutRead(void) {
    Err err = {0};
    char root[512];
    Storage *storage = newStore(root, sizeof(root));
    const StorageDriverVt *vt;
    void *driver;
    bool existed = false;
    IoRead *src;
    size_t *left;
    char *text;

    REQUIRE(storage != NULL);
    storageUnwrap(storage, &vt, &driver);
    REQUIRE(vt->putRead != NULL);
    src = ioReadMemNew("hello", 5);
    CHECK_INT(vt->putRead(driver, "seg/1", src, 5, STORAGE_PUT_IMMUTABLE, &existed, &err), 0);
    CHECK(!existed);
    ioReadFree(src);
    src = ioReadMemNew("other", 5);
    CHECK_INT(vt->putRead(driver, "seg/1", src, 5, STORAGE_PUT_IMMUTABLE, &existed, &err), 0);
    CHECK(existed);
    ioReadFree(src);
    existed = false;
    src = ioReadMemNew("hello!", 6);
    CHECK_INT(vt->putRead(driver, "seg/2", src, 5, STORAGE_PUT_IMMUTABLE, &existed, &err), -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    CHECK_MSG(err.msg, "6 bytes, expected 5");
    ioReadFree(src);
    left = bvMalloc(sizeof(*left));
    *left = 100000;
    src = ioReadNew(&failingVt, left);
    CHECK_INT(vt->putRead(driver, "seg/3", src, 200000, STORAGE_PUT_REPLACE, &existed, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_STR(err.msg, "the source broke");
    ioReadFree(src);
    src = ioReadMemNew("again", 5);
    CHECK_INT(vt->putRead(driver, "seg/1", src, 5, STORAGE_PUT_REPLACE, &existed, &err), 0);
    ioReadFree(src);
    storage = storageNewDriver(vt, driver, "file://x");
    text = getString(storage, "seg/1");
    CHECK_STR(text, "again");
    bvFree(text);
    {
        StorageInfo head;

        CHECK_INT(storageHead(storage, "seg/2", &head, &err), 0);
        CHECK(!head.exists);
        CHECK_INT(storageHead(storage, "seg/3", &head, &err), 0);
        CHECK(!head.exists);
    }
    CHECK_INT(countTemp(root), 0);
    storageFree(storage);
}

/* A symbolic link inside the root is never followed (issue 14: prune deleted files in the target of
 * a symlinked `segments/`): listing skips it, a read, head, put or remove through it is refused,
 * and the files of its target survive. The root itself may be a symbolic link. */
static void
testSymlinks(void) {
    Err err = {0};
    char root[512], outside[600], link[700], file[700], rootLink[600];
    Storage *storage = newStore(root, sizeof(root)), *viaLink;
    ListResult result;
    StorageInfo head;
    uint8_t *data = NULL;
    size_t len = 0;
    char *text;

    REQUIRE(storage != NULL);
    snprintf(outside, sizeof(outside), "%s/outside", testTmpDir());
    REQUIRE(mkdir(outside, 0700) == 0);
    snprintf(file, sizeof(file), "%s/000001", outside);
    REQUIRE(fsWriteFileAtomic(file, "keep", 4, 0600, &err) == 0);
    snprintf(link, sizeof(link), "%s/segments", root);
    REQUIRE(symlink(outside, link) == 0);
    REQUIRE(storagePutBuf(storage, "binvault.json", "{}", 2, STORAGE_PUT_IMMUTABLE, &err) == 0);

    CHECK_INT(listInto(storage, "segments/", &result, &err), 0);
    CHECK_INT(result.count, 0);
    CHECK_INT(listInto(storage, "", &result, &err), 0);
    CHECK_INT(result.count, 1);
    CHECK_STR(result.names[0], "binvault.json");

    CHECK_INT(storageRemove(storage, "segments/000001", &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK_MSG(err.msg, "is a symbolic link");
    CHECK_INT(storageGetBuf(storage, "segments/000001", 1024, &data, &len, &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK_INT(storageHead(storage, "segments/000001", &head, &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK_INT(storagePutBuf(storage, "segments/000002", "new", 3, STORAGE_PUT_IMMUTABLE, &err), -1);
    CHECK_INT(err.code, ERR_STORAGE);
    CHECK_INT(storagePutBuf(storage, "segments/x/000003", "new", 3, STORAGE_PUT_REPLACE, &err), -1);
    text = (char *)testReadFile(file, &len);
    CHECK(text != NULL && len == 4 && memcmp(text, "keep", 4) == 0);
    free(text);
    snprintf(file, sizeof(file), "%s/000002", outside);
    CHECK(access(file, F_OK) != 0);
    snprintf(file, sizeof(file), "%s/x", outside);
    CHECK(access(file, F_OK) != 0);
    storageFree(storage);

    /* The root may be a symbolic link. */
    snprintf(rootLink, sizeof(rootLink), "file://%s/rootlink", testTmpDir());
    REQUIRE(symlink(root, rootLink + 7) == 0);
    viaLink = storageNew(rootLink, &err);
    REQUIRE(viaLink != NULL);
    CHECK_INT(storagePutBuf(viaLink, "seg/1", "hello", 5, STORAGE_PUT_IMMUTABLE, &err), 0);
    text = getString(viaLink, "seg/1");
    CHECK_STR(text, "hello");
    bvFree(text);
    CHECK_INT(storageRemove(viaLink, "seg/1", &err), 0);
    storageFree(viaLink);
}

void
suite_storage(void) {
    testRun("storage: open urls", testNew);
    testRun("storage: readers never create the store", testOpenReadOnly);
    testRun("storage: object names", testNames);
    testRun("storage: put, get, head, remove", testPutGetHeadRemove);
    testRun("storage: get errors", testGetErrors);
    testRun("storage: ranged reads", testOpenReadRange);
    testRun("storage: put a local file", testPutFile);
    testRun("storage: a sealed file is linked, its size checked, not hashed again", testPutSealedFile);
    testRun("storage: streaming put of the directory driver", testPutRead);
    testRun("storage: immutable objects and replace", testImmutable);
    testRun("storage: store errors", testStoreErrors);
    testRun("storage: list order and prefixes", testList);
    testRun("storage: clean temporary files", testCleanTemp);
    testRun("storage: concurrent puts of one name", testConcurrentPut);
    testRun("storage: symbolic links below the root are never followed", testSymlinks);
}
