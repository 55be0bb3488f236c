/* Unit tests of archive/verify: a sound archive, and each kind of damage found and reported. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/import.h"
#include "archive/outline.h"
#include "archive/verify.h"
#include "common/fs.h"
#include "common/mem.h"
#include "storage/storage.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

/* What the hooks saw, in order. */
typedef struct Seen {
    char problems[8192];
    size_t problemCount;
    char notes[4096];
    size_t progressCalls;
    bool progressDone;
} Seen;

static void
onProblem(void *data, const ArchiveVerifyProblem *p) {
    Seen *s = data;
    size_t len = strlen(s->problems);

    snprintf(s->problems + len, sizeof(s->problems) - len, "%s %s: %s\n", p->kind, p->object ? p->object : "-",
             p->message);
    s->problemCount++;
}

static void
onNote(void *data, const char *message) {
    Seen *s = data;
    size_t len = strlen(s->notes);

    snprintf(s->notes + len, sizeof(s->notes) - len, "%s\n", message);
}

static void
onProgress(void *data, size_t done, size_t total, uint64_t bytes) {
    Seen *s = data;

    (void)bytes;
    s->progressCalls++;
    s->progressDone = done == total;
}

static int
verify(ArchiveFixture *f, Seen *seen, ArchiveVerifyResult *res) {
    Err err = {0};

    memset(seen, 0, sizeof(*seen));
    if (archiveVerify(f->archive, &(ArchiveVerifyHooks){onProblem, onNote, onProgress, seen}, res, &err) != 0) {
        testFail(__FILE__, __LINE__, "archiveVerify: %s", err.msg);
        return -1;
    }
    return 0;
}

static void
testVerifySound(void) {
    ArchiveFixture f;
    ArchiveVerifyResult res;
    Seen seen;

    REQUIRE(fixtureOpen(&f, 1024) == 0);
    REQUIRE(fixtureImportAll(&f) == 0);
    REQUIRE(verify(&f, &seen, &res) == 0);
    CHECK(!res.notArchive);
    CHECK_INT(res.problemCount, 0);
    CHECK_INT(seen.problemCount, 0);
    CHECK_STR(seen.notes, "");
    CHECK(res.segments > 4);
    {
        ArchiveCatalog *c = archiveCatalogLoad(f.archive, 0, &(Err){0});

        REQUIRE(c != NULL);
        CHECK_INT(res.segments, archiveCatalogCount(c));
        /* The result keeps the last segment (its prune state) and the windows. */
        CHECK_INT(archiveCatalogCount(res.catalog), 1);
        CHECK(archiveCatalogAt(res.catalog, 0)->seq == archiveCatalogLast(c)->seq);
        CHECK_INT(archiveOutlineWindowCount(res.outline), 1);
        CHECK(archiveOutlineWindowAt(res.outline, 0)->to->seq == archiveCatalogLast(c)->seq);
        CHECK_INT(archiveOutlineWindowAt(res.outline, 0)->transactions, 14);
        archiveCatalogFree(c);
    }
    CHECK_INT(res.events, 75);
    CHECK_INT(res.transactions, 14);
    CHECK(res.bytes > 0);
    CHECK_INT(seen.progressCalls, res.segments + 1);
    CHECK(seen.progressDone);
    archiveVerifyResultClear(&res);
    CHECK(res.catalog == NULL);
    fixtureClose(&f);
}

static void
testVerifyDamage(void) {
    ArchiveFixture f;
    ArchiveVerifyResult res;
    Seen seen;
    char path[2048], name2[SEGMENT_NAME_MAX], name4[SEGMENT_NAME_MAX];
    unsigned char *data;
    size_t len;
    FILE *fp;
    Err err = {0};

    REQUIRE(fixtureOpen(&f, 1024) == 0);
    REQUIRE(fixtureImportAll(&f) == 0);
    REQUIRE(verify(&f, &seen, &res) == 0);
    archiveVerifyResultClear(&res);
    {
        ArchiveCatalog *c = archiveCatalogLoad(f.archive, 0, &err);

        REQUIRE(c != NULL && archiveCatalogCount(c) > 4);
        snprintf(name2, sizeof(name2), "%s", archiveCatalogAt(c, 1)->name);
        snprintf(name4, sizeof(name4), "%s", archiveCatalogAt(c, 3)->name);
        archiveCatalogFree(c);
    }
    /* A flipped bit in the second segment, the fourth gone, checkpoint.json gone. */
    snprintf(path, sizeof(path), "%s/%s", f.root, name2);
    data = testReadFile(path, &len);
    REQUIRE(data != NULL && len > 100);
    data[len / 2] ^= 0x01;
    REQUIRE(unlink(path) == 0);
    fp = fopen(path, "wb");
    REQUIRE(fp != NULL);
    fwrite(data, 1, len, fp);
    fclose(fp);
    bvFree(data);
    REQUIRE(storageRemove(f.storage, name4, &err) == 0);
    REQUIRE(storageRemove(f.storage, ARCHIVE_CHECKPOINT_OBJECT, &err) == 0);
    REQUIRE(verify(&f, &seen, &res) == 0);
    CHECK_INT(res.problemCount, 2);
    CHECK_INT(seen.problemCount, 2);
    if (res.problemCount == 2) {
        CHECK_STR(res.problems[0].object, name2);
        CHECK_STR(res.problems[0].kind, "segment");
        CHECK_INT(res.problems[0].seq, 2);
        CHECK_STR(res.problems[1].object, name4);
        CHECK_MSG(res.problems[1].message, "missing from the store");
    }
    CHECK_MSG(seen.notes, "the archive has no checkpoint.json yet");
    archiveVerifyResultClear(&res);
    fixtureClose(&f);
}

static void
testVerifyNotArchive(void) {
    ArchiveFixture f;
    ArchiveVerifyResult res;
    Seen seen;

    REQUIRE(fixtureOpen(&f, 1024) == 0);
    REQUIRE(verify(&f, &seen, &res) == 0);
    CHECK(res.notArchive);
    CHECK_INT(res.problemCount, 0);
    CHECK_INT(seen.problemCount, 0);
    archiveVerifyResultClear(&res);
    fixtureClose(&f);
}

/* A store that lets the agent run on while verify reads: at the first segment read (the index is
 * loaded by then) the rest of the fixture is archived, moving the index and checkpoint.json. */
typedef struct Racing {
    ArchiveFixture *f;
    bool advanced;
} Racing;

static IoRead *
racingOpenRead(void *driver, const char *name, uint64_t offset, uint64_t length, Err *err) {
    Racing *r = driver;

    if (!r->advanced && strncmp(name, "segments/", 9) == 0) {
        ArchiveImportResult res;
        Err e = {0};

        r->advanced = true;
        if (archiveImport(r->f->archive, &r->f->opts, r->f->argv + 2, FIXTURE_FILES - 2, &res, &e) != 0)
            testFail(__FILE__, __LINE__, "archiveImport: %s", e.msg);
    }
    return storageOpenRead(r->f->storage, name, offset, length, err);
}

static int
racingHead(void *driver, const char *name, StorageInfo *out, Err *err) {
    return storageHead(((Racing *)driver)->f->storage, name, out, err);
}

static int
racingList(void *driver, const char *prefix, StorageListCb *cb, void *data, Err *err) {
    return storageList(((Racing *)driver)->f->storage, prefix, cb, data, err);
}

static void
racingFree(void *driver) {
    (void)driver;
}

static const StorageDriverVt racingVt = {
    .openRead = racingOpenRead,
    .head = racingHead,
    .list = racingList,
    .free = racingFree,
};

/* checkpoint.json and the index are judged as one snapshot: a checkpoint that moves on while the
 * segments are read (the agent archiving) is no problem. */
static void
testVerifyWhileArchiving(void) {
    ArchiveFixture f;
    ArchiveImportResult ir;
    ArchiveVerifyResult res;
    Racing racing = {&f, false};
    Storage *s;
    Archive *a;
    Seen seen;
    Err err = {0};

    REQUIRE(fixtureOpen(&f, 1024) == 0);
    REQUIRE(archiveImport(f.archive, &f.opts, f.argv, 2, &ir, &err) == 0);
    s = storageNewDriver(&racingVt, &racing, "racing://x");
    a = archiveNew(s);
    memset(&seen, 0, sizeof(seen));
    REQUIRE(archiveVerify(a, &(ArchiveVerifyHooks){onProblem, onNote, onProgress, &seen}, &res, &err) == 0);
    CHECK(racing.advanced);
    CHECK_INT(res.problemCount, 0);
    CHECK_STR(seen.problems, "");
    archiveVerifyResultClear(&res);
    archiveFree(a);
    storageFree(s);
    /* The archive did move on: verified again, it holds more. */
    REQUIRE(verify(&f, &seen, &res) == 0);
    CHECK_INT(res.problemCount, 0);
    CHECK_INT(res.transactions, 14);
    archiveVerifyResultClear(&res);
    fixtureClose(&f);
}

void
suite_verify(void) {
    testRun("verify: a sound archive, read through every layer", testVerifySound);
    testRun("verify: a flipped bit, a missing segment, no checkpoint", testVerifyDamage);
    testRun("verify: an empty directory is not an archive", testVerifyNotArchive);
    testRun("verify: checkpoint and index are one snapshot while the agent archives", testVerifyWhileArchiving);
}
