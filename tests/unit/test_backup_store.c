/* Unit tests of archive/backup_store and backup_write: base backups stored in a directory archive. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/backup_store.h"
#include "common/fs.h"
#include "common/mem.h"
#include "storage/storage.h"
#include "tests/test.h"

#define STREAM_LEN (1024 * 1024 + 12345)
#define PART (64 * 1024)

typedef struct Fixture {
    char root[1024], tmp[1024];
    Storage *storage;
    Archive *archive;
    uint8_t *stream;
} Fixture;

static int
fixtureUp(Fixture *f) {
    Err err = {0};
    uint32_t x = 12345;

    snprintf(f->root, sizeof(f->root), "%s/archive", testTmpDir());
    snprintf(f->tmp, sizeof(f->tmp), "%s/tmp", testTmpDir());
    mkdir(f->tmp, 0700);
    f->storage = storageNew(f->root, &err);
    if (f->storage == NULL)
        return -1;
    f->archive = archiveNew(f->storage);
    /* Half compressible, half not: parts of different stored sizes. */
    f->stream = bvMalloc(STREAM_LEN);
    for (size_t i = 0; i < STREAM_LEN; i++) {
        x = x * 1103515245 + 12345;
        f->stream[i] = i < STREAM_LEN / 2 ? (uint8_t)(i / 100) : (uint8_t)(x >> 16);
    }
    return 0;
}

static void
fixtureDown(Fixture *f) {
    archiveFree(f->archive);
    storageFree(f->storage);
    bvFree(f->stream);
}

/* Write the fixture's stream as a backup in pieces of `piece` bytes; its id in `id`. */
static int
writeBackup(Fixture *f, size_t piece, char *id, Err *err) {
    ArchiveBackupWriteOpts o = {PART, 3, f->tmp, "testhost", 4242};
    ArchiveBackupWriter *w = archiveBackupWriterNew(f->archive, &o, err);
    ArchiveBackup d = {0};
    int rc = 0;

    if (w == NULL)
        return -1;
    snprintf(id, 64, "%s", archiveBackupWriterId(w));
    for (size_t off = 0; off < STREAM_LEN && rc == 0; off += piece)
        rc = archiveBackupWriterAppend(w, f->stream + off, STREAM_LEN - off < piece ? STREAM_LEN - off : piece, err);
    snprintf(d.tool, sizeof(d.tool), "mariadb-backup");
    snprintf(d.toolVersion, sizeof(d.toolVersion), "10.11.6");
    snprintf(d.stream, sizeof(d.stream), "mbstream");
    snprintf(d.flavour, sizeof(d.flavour), "mariadb");
    d.serverId = 7;
    snprintf(d.host, sizeof(d.host), "db1:3306");
    d.timeline = 1;
    snprintf(d.file, sizeof(d.file), "mariadb-bin.000003");
    d.pos = 1234;
    d.gtidState = "0-1-100";
    d.archiveSeq = 5;
    d.endUs = archiveBackupWriterStartUs(w) + 1000;
    if (rc == 0)
        rc = archiveBackupWriterFinish(w, &d, err);
    archiveBackupWriterFree(w);
    return rc;
}

static int
extractTo(Fixture *f, const ArchiveBackup *b, const char *path, Err *err) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc;

    if (fd < 0)
        return errSet(err, ERR_IO, "open");
    rc = archiveBackupExtract(f->archive, b, fd, NULL, NULL, err);
    close(fd);
    return rc;
}

static void
writtenBackupIsListedAndReadsBackIdentical(void) {
    Fixture f;
    ArchiveBackup *list;
    size_t n, len;
    char id[64], out[1100];
    uint8_t *back;
    Err err = {0};

    REQUIRE(fixtureUp(&f) == 0);
    CHECK_INT(writeBackup(&f, 10000, id, &err), 0);
    CHECK(archiveBackupIdValid(id));
    REQUIRE(archiveBackupList(f.archive, &list, &n, &err) == 0);
    REQUIRE(n == 1);
    CHECK_STR(list[0].id, id);
    CHECK_STR(list[0].tool, "mariadb-backup");
    CHECK_STR(list[0].file, "mariadb-bin.000003");
    CHECK_INT(list[0].pos, 1234);
    CHECK_STR(list[0].gtidState, "0-1-100");
    CHECK_INT(list[0].streamLen, STREAM_LEN);
    CHECK_INT(list[0].parts, (STREAM_LEN + PART - 1) / PART);
    CHECK_INT(list[0].archiveSeq, 5);
    CHECK_INT(list[0].serverId, 7);
    snprintf(out, sizeof(out), "%s/out", testTmpDir());
    CHECK_INT(extractTo(&f, &list[0], out, &err), 0);
    back = testReadFile(out, &len);
    REQUIRE(back != NULL);
    CHECK_INT(len, STREAM_LEN);
    CHECK(memcmp(back, f.stream, STREAM_LEN) == 0);
    free(back);
    /* Nothing is left in the temporary directory. */
    CHECK(rmdir(f.tmp) == 0);
    archiveBackupListFree(list, n);
    fixtureDown(&f);
}

static void
corruptPartIsNamed(void) {
    Fixture f;
    ArchiveBackup *list;
    size_t n;
    char id[64], path[2048], out[1100];
    Err err = {0};
    int fd;
    uint8_t byte;

    REQUIRE(fixtureUp(&f) == 0);
    REQUIRE(writeBackup(&f, PART * 2 + 1, id, &err) == 0);
    REQUIRE(archiveBackupList(f.archive, &list, &n, &err) == 0 && n == 1);
    snprintf(path, sizeof(path), "%s/backups/%s/parts/00000012.bvp", f.root, id);
    fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(pread(fd, &byte, 1, 100) == 1);
    byte ^= 0x40;
    REQUIRE(pwrite(fd, &byte, 1, 100) == 1);
    close(fd);
    snprintf(out, sizeof(out), "%s/out", testTmpDir());
    CHECK_INT(extractTo(&f, &list[0], out, &err), -1);
    CHECK_MSG(err.msg, "parts/00000012.bvp");
    CHECK(err.code == ERR_CHECKSUM || err.code == ERR_FORMAT);
    /* Verify only (no descriptor) finds it too. */
    CHECK_INT(archiveBackupExtract(f.archive, &list[0], -1, NULL, NULL, &err), -1);
    CHECK_MSG(err.msg, "parts/00000012.bvp");
    archiveBackupListFree(list, n);
    fixtureDown(&f);
}

static int
countObjects(const char *name, uint64_t size, void *data, Err *err) {
    (void)name;
    (void)size;
    (void)err;
    (*(size_t *)data)++;
    return 0;
}

static void
unfinishedBackupIsNeverListedAndIsRemoved(void) {
    Fixture f;
    ArchiveBackupWriteOpts o = {PART, 2, NULL, "testhost", 1};
    ArchiveBackupWriter *w;
    ArchiveBackup *list;
    size_t n, objects = 0;
    Err err = {0};

    REQUIRE(fixtureUp(&f) == 0);
    o.tmpDir = f.tmp;
    w = archiveBackupWriterNew(f.archive, &o, &err);
    REQUIRE(w != NULL);
    CHECK_INT(archiveBackupWriterAppend(w, f.stream, PART * 5 + 10, &err), 0);
    CHECK_INT(archiveBackupList(f.archive, &list, &n, &err), 0);
    CHECK_INT(n, 0);
    archiveBackupListFree(list, n);
    archiveBackupWriterFree(w);
    CHECK_INT(storageList(f.storage, "backups/", countObjects, &objects, &err), 0);
    CHECK_INT(objects, 0);
    CHECK(rmdir(f.tmp) == 0);
    fixtureDown(&f);
}

static bool
deadPid(int64_t pid) {
    (void)pid;
    return false;
}

static bool
livePid(int64_t pid) {
    (void)pid;
    return true;
}

static void
interruptedBackupIsRecognisedAndDeleted(void) {
    Fixture f;
    ArchiveBackupStarted *inc;
    size_t n, objects = 0;
    char id[64], name[256];
    Err err = {0};
    static const char started[] =
        "{\"version\":2,\"id\":\"20261206T072630Z-5c1e02aa\",\"host\":\"testhost\",\"pid\":99,"
        "\"started\":\"2026-12-06T07:26:30Z\",\"started_us\":1796542000000000}";

    REQUIRE(fixtureUp(&f) == 0);
    REQUIRE(writeBackup(&f, PART, id, &err) == 0);
    /* What a SIGKILL leaves: started.json and a part, no manifest. */
    REQUIRE(storagePutBuf(f.storage, "backups/20261206T072630Z-5c1e02aa/started.json", started, strlen(started),
                          STORAGE_PUT_IMMUTABLE, &err) == 0);
    REQUIRE(storagePutBuf(f.storage, "backups/20261206T072630Z-5c1e02aa/parts/00000001.bvp", "x", 1,
                          STORAGE_PUT_IMMUTABLE, &err) == 0);
    REQUIRE(archiveBackupListIncomplete(f.archive, &inc, &n, &err) == 0);
    REQUIRE(n == 1);
    CHECK_STR(inc[0].id, "20261206T072630Z-5c1e02aa");
    CHECK_INT(inc[0].pid, 99);
    CHECK_STR(inc[0].host, "testhost");
    CHECK(archiveBackupAbandoned(&inc[0], inc[0].startedUs + 1000, "testhost", deadPid));
    CHECK(!archiveBackupAbandoned(&inc[0], inc[0].startedUs + 1000, "testhost", livePid));
    CHECK(!archiveBackupAbandoned(&inc[0], inc[0].startedUs + 1000, "otherhost", deadPid));
    CHECK(archiveBackupAbandoned(&inc[0], inc[0].startedUs + 25LL * 3600 * 1000000, "otherhost", livePid));
    CHECK_INT(archiveBackupDelete(f.archive, inc[0].id, NULL, &err), 0);
    free(inc);
    /* The complete one is untouched. */
    snprintf(name, sizeof(name), "backups/%s/", id);
    CHECK_INT(storageList(f.storage, "backups/20261206T072630Z-5c1e02aa/", countObjects, &objects, &err), 0);
    CHECK_INT(objects, 0);
    CHECK_INT(storageList(f.storage, name, countObjects, &objects, &err), 0);
    CHECK(objects > 3);
    fixtureDown(&f);
}

static void
deletedBackupIsGoneManifestFirst(void) {
    Fixture f;
    ArchiveBackup *list;
    size_t n, objects = 0;
    char id[64];
    uint64_t removed;
    Err err = {0};

    REQUIRE(fixtureUp(&f) == 0);
    REQUIRE(writeBackup(&f, PART, id, &err) == 0);
    CHECK_INT(archiveBackupDelete(f.archive, id, &removed, &err), 0);
    CHECK_INT(removed, (STREAM_LEN + PART - 1) / PART + 2);
    CHECK_INT(archiveBackupList(f.archive, &list, &n, &err), 0);
    CHECK_INT(n, 0);
    archiveBackupListFree(list, n);
    CHECK_INT(storageList(f.storage, "backups/", countObjects, &objects, &err), 0);
    CHECK_INT(objects, 0);
    fixtureDown(&f);
}

static void
malformedManifestIsNotUsed(void) {
    Fixture f;
    ArchiveBackup *list;
    size_t n;
    char id[64], name[256];
    Err err = {0};

    REQUIRE(fixtureUp(&f) == 0);
    REQUIRE(writeBackup(&f, PART, id, &err) == 0);
    snprintf(name, sizeof(name), "backups/%s/manifest.json", id);
    REQUIRE(storageRemove(f.storage, name, &err) == 0);
    REQUIRE(storagePutBuf(f.storage, name, "{\"version\":2}", 13, STORAGE_PUT_IMMUTABLE, &err) == 0);
    CHECK_INT(archiveBackupList(f.archive, &list, &n, &err), 0);
    CHECK_INT(n, 0);
    archiveBackupListFree(list, n);
    CHECK(archiveBackupIdValid("20261206T072630Z-5c1e02aa"));
    CHECK(!archiveBackupIdValid("20261206T072630Z-5c1e02aA"));
    CHECK(!archiveBackupIdValid("../../etc"));
    CHECK(!archiveBackupIdValid("20261206X072630Z-5c1e02aa"));
    fixtureDown(&f);
}

void suite_backup_store(void);

void
suite_backup_store(void) {
    testRun("backup store: a written backup is listed and reads back byte for byte",
            writtenBackupIsListedAndReadsBackIdentical);
    testRun("backup store: a corrupt part fails the extraction, named", corruptPartIsNamed);
    testRun("backup store: an unfinished backup is never listed and its objects are removed",
            unfinishedBackupIsNeverListedAndIsRemoved);
    testRun("backup store: an interrupted backup is recognised as abandoned and deleted",
            interruptedBackupIsRecognisedAndDeleted);
    testRun("backup store: a deleted backup is gone", deletedBackupIsGoneManifestFirst);
    testRun("backup store: a malformed manifest is not used; ids", malformedManifestIsNotUsed);
}
