/* Unit tests of archive/backup_store and backup_write: base backups stored in a directory archive. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/backup_store.h"
#include "archive/catalog.h"
#include "archive/status.h"
#include "common/fs.h"
#include "common/mem.h"
#include "storage/storage.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

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

static void
missingPartIsNamed(void) {
    Fixture f;
    ArchiveBackup *list;
    size_t n;
    char id[64], name[256];
    Err err = {0};

    REQUIRE(fixtureUp(&f) == 0);
    REQUIRE(writeBackup(&f, PART, id, &err) == 0);
    REQUIRE(archiveBackupList(f.archive, &list, &n, &err) == 0 && n == 1);
    snprintf(name, sizeof(name), "backups/%s/parts/00000003.bvp", id);
    REQUIRE(storageRemove(f.storage, name, &err) == 0);
    CHECK_INT(archiveBackupExtract(f.archive, &list[0], -1, NULL, NULL, &err), -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "parts/00000003.bvp");
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
    /* A manifest whose GTID state does not parse is not used either. */
    {
        char good[4096], *p;
        uint8_t *data;
        size_t len;

        REQUIRE(writeBackup(&f, PART, id, &err) == 0);
        snprintf(name, sizeof(name), "backups/%s/manifest.json", id);
        REQUIRE(storageGetBuf(f.storage, name, sizeof(good) - 1, &data, &len, &err) == 0);
        memcpy(good, data, len);
        good[len] = '\0';
        bvFree(data);
        REQUIRE((p = strstr(good, "\"0-1-100\"")) != NULL);
        memcpy(p + 1, "0-x-100", 7);
        REQUIRE(storageRemove(f.storage, name, &err) == 0);
        REQUIRE(storagePutBuf(f.storage, name, good, len, STORAGE_PUT_IMMUTABLE, &err) == 0);
        CHECK_INT(archiveBackupList(f.archive, &list, &n, &err), 0);
        CHECK_INT(n, 0);
        archiveBackupListFree(list, n);
    }
    CHECK(archiveBackupIdValid("20261206T072630Z-5c1e02aa"));
    CHECK(!archiveBackupIdValid("20261206T072630Z-5c1e02aA"));
    CHECK(!archiveBackupIdValid("../../etc"));
    CHECK(!archiveBackupIdValid("20261206X072630Z-5c1e02aa"));
    fixtureDown(&f);
}

/* A catalog of the crafted segments `seqs` (of 1..4: bin.000001 256-1000-2000, bin.000002 256-500-900,
 * MariaDB states 0-1-1 .. 0-1-5 .. 0-1-9 .. 0-1-12 .. 0-1-20). */
static ArchiveCatalog *
crafted(const unsigned *seqs, size_t n) {
    static const struct {
        const char *file;
        uint64_t start, end;
        const char *gs, *ge;
    } segs[] = {{"bin.000001", 256, 1000, "0-1-1", "0-1-5"},
                {"bin.000001", 1000, 2000, "0-1-5", "0-1-9"},
                {"bin.000002", 256, 500, "0-1-9", "0-1-12"},
                {"bin.000002", 500, 900, "0-1-12", "0-1-20"}};
    ArchiveCatalog *c = archiveCatalogNew();
    SegmentMeta m;
    Err err = {0};

    for (size_t i = 0; i < n; i++) {
        unsigned k = seqs[i] - 1;

        fixtureCrafted(&m, seqs[i], segs[k].file, segs[k].start, segs[k].end, segs[k].gs, segs[k].ge);
        if (archiveCatalogAdd(c, &m, true, &err) != 0)
            testFail(__FILE__, __LINE__, "archiveCatalogAdd: %s", err.msg);
    }
    return c;
}

static ArchiveBackupReachKind
reach(const unsigned *seqs, size_t n, const char *file, uint64_t pos, const char *gtid, uint64_t *from, uint64_t *to) {
    ArchiveCatalog *c = crafted(seqs, n);
    ArchiveBackup b = {0};
    ArchiveBackupReach r;
    Err err = {0};

    snprintf(b.id, sizeof(b.id), "20261206T072630Z-5c1e02aa");
    snprintf(b.file, sizeof(b.file), "%s", file);
    b.pos = pos;
    b.gtidState = (char *)gtid;
    if (archiveBackupReach(c, &b, &r, &err) != 0) {
        testFail(__FILE__, __LINE__, "archiveBackupReach: %s", err.msg);
        r.kind = ARCHIVE_BACKUP_UNPLACED;
    }
    *from = r.fromSeq;
    *to = r.to != NULL ? r.to->seq : 0;
    archiveCatalogFree(c);
    return r.kind;
}

static void
reachOfABackup(void) {
    static const unsigned all[] = {1, 2, 3, 4}, gap[] = {1, 2, 4}, pruned[] = {3, 4};
    uint64_t from, to;

    CHECK_INT(reach(all, 4, "bin.000001", 1500, "0-1-7", &from, &to), ARCHIVE_BACKUP_REACHES_END);
    CHECK_INT(from, 2);
    CHECK_INT(to, 4);
    CHECK_INT(reach(gap, 3, "bin.000001", 1500, "0-1-7", &from, &to), ARCHIVE_BACKUP_REACHES_GAP);
    CHECK_INT(from, 2);
    CHECK_INT(to, 2);
    CHECK_INT(reach(all, 4, "bin.000003", 256, "0-1-25", &from, &to), ARCHIVE_BACKUP_AHEAD);
    /* The segments from its point to the archive's start were pruned. */
    CHECK_INT(reach(pruned, 2, "bin.000001", 1500, "0-1-7", &from, &to), ARCHIVE_BACKUP_UNPLACED);
    CHECK_INT(reach(pruned, 2, "bin.000002", 256, "0-1-9", &from, &to), ARCHIVE_BACKUP_REACHES_END);
    CHECK_INT(from, 3);
    CHECK_STR(archiveBackupReachName(ARCHIVE_BACKUP_REACHES_GAP), "gap");
}

static void
retentionKeepsTheRightBackups(void) {
    ArchiveBackup list[5] = {{.startUs = 100}, {.startUs = 200}, {.startUs = 300}, {.startUs = 400}, {.startUs = 500}};
    bool keep[5];
    char got[6];

#define KEPT(newest, from)                                                                                           \
    (archiveBackupKeep(list, 5, (newest), (from), keep), snprintf(got, sizeof(got), "%d%d%d%d%d", keep[0], keep[1], \
                                                                  keep[2], keep[3], keep[4]),                       \
     got)
    CHECK_STR(KEPT(-1, -1), "11111");
    CHECK_STR(KEPT(1, -1), "00001");
    CHECK_STR(KEPT(2, -1), "00011");
    CHECK_STR(KEPT(0, -1), "00000");
    CHECK_STR(KEPT(9, -1), "11111");
    /* A window from 350: the backups in it, and the newest before it (a restore to 350 needs it). */
    CHECK_STR(KEPT(-1, 350), "00111");
    CHECK_STR(KEPT(-1, 300), "01111");
    CHECK_STR(KEPT(-1, 900), "00001");
    CHECK_STR(KEPT(-1, 0), "11111");
    CHECK_STR(KEPT(4, 450), "01111");
#undef KEPT
}

/* status: the backup warnings on top of an OK RPO verdict. */
static void
statusWarnsAboutBackups(void) {
    StatusInput in = {0};
    StatusVerdict v;

    in.nowUs = 100000000000ULL;
    in.lastTimeUs = in.caughtUpUs = in.nowUs - 1000000;
    in.warnRpo = 60;
    in.maxRpo = 300;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_OK);
    /* Checked: a restorable backup one hour old, warned at a day. */
    in.backupsChecked = true;
    in.backupRestorable = true;
    in.newestBackupUs = in.nowUs - 3600ULL * 1000000;
    in.warnBackupAge = 86400;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_OK);
    CHECK(!v.backupOld && !v.backupNone);
    in.warnBackupAge = 3600;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_WARNING);
    CHECK(v.backupOld);
    /* None at all. */
    in.warnBackupAge = 86400;
    in.newestBackupUs = 0;
    in.backupRestorable = false;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_WARNING);
    CHECK(v.backupOld && v.backupNone);
    /* Recent, but the archive's binlogs do not continue from it. */
    in.newestBackupUs = in.nowUs - 1000000;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_WARNING);
    CHECK(!v.backupOld && v.backupNone);
    /* A CRITICAL RPO stays CRITICAL. */
    in.lastTimeUs = in.caughtUpUs = in.nowUs - 400ULL * 1000000;
    statusEvaluate(&in, &v);
    CHECK_INT(v.code, STATUS_CRITICAL);
}

void suite_backup_store(void);

void
suite_backup_store(void) {
    testRun("backup store: a written backup is listed and reads back byte for byte",
            writtenBackupIsListedAndReadsBackIdentical);
    testRun("backup store: a corrupt part fails the extraction, named", corruptPartIsNamed);
    testRun("backup store: a missing part fails the extraction, named", missingPartIsNamed);
    testRun("backup store: an unfinished backup is never listed and its objects are removed",
            unfinishedBackupIsNeverListedAndIsRemoved);
    testRun("backup store: an interrupted backup is recognised as abandoned and deleted",
            interruptedBackupIsRecognisedAndDeleted);
    testRun("backup store: a deleted backup is gone", deletedBackupIsGoneManifestFirst);
    testRun("backup store: a malformed manifest is not used; ids", malformedManifestIsNotUsed);
    testRun("backup store: how far the archive's binlogs take a backup", reachOfABackup);
    testRun("backup store: which backups retention keeps", retentionKeepsTheRightBackups);
    testRun("backup store: status warns about an old backup, and when none is restorable", statusWarnsAboutBackups);
}
