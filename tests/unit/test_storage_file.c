/* Unit tests of the directory driver against races: a directory of the archive swapped for a
 * symbolic link while an operation runs (issue 14, defect 6) never lets it read, create or delete
 * anything outside the root. The swaps happen from inside the operation (the stream of a put, the
 * callback of a listing), so each race is played deterministically. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/io.h"
#include "common/mem.h"
#include "storage/storage.h"
#include "tests/test.h"

void suite_storage_file(void);

/* A store on "<tmp>/store" and, beside it, "<tmp>/outside": the target of the links. */
typedef struct Tree {
    char root[512];
    char outside[512];
    Storage *storage;
} Tree;

static void
treeNew(Tree *tree) {
    Err err = {0};
    char *url;

    snprintf(tree->root, sizeof(tree->root), "%s/store", testTmpDir());
    snprintf(tree->outside, sizeof(tree->outside), "%s/outside", testTmpDir());
    REQUIRE(mkdir(tree->root, 0700) == 0);
    REQUIRE(mkdir(tree->outside, 0700) == 0);
    url = bvSprintf("file://%s", tree->root);
    tree->storage = storageNew(url, &err);
    bvFree(url);
    if (tree->storage == NULL)
        testFail(__FILE__, __LINE__, "storageNew: %s", err.msg);
}

/* Write `text` to "<dir>/<name>". */
static void
plant(const char *dir, const char *name, const char *text) {
    Err err = {0};
    char *path = bvSprintf("%s/%s", dir, name);

    if (fsWriteFileAtomic(path, text, strlen(text), 0600, &err) != 0)
        testFail(__FILE__, __LINE__, "%s", err.msg);
    bvFree(path);
}

/* The content of "<dir>/<name>" as a string (free() it), NULL when it does not exist. */
static char *
slurp(const char *dir, const char *name) {
    char *path = bvSprintf("%s/%s", dir, name);
    size_t len = 0;
    unsigned char *data = testReadFile(path, &len);
    char *text = NULL;

    if (data != NULL) {
        text = calloc(1, len + 1);
        memcpy(text, data, len);
        free(data);
    }
    bvFree(path);
    return text;
}

/* The attacker: rename "<root>/<dir>" to "<root>/moved" and put a symbolic link to `outside` in
 * its place. */
static void
swapForLink(const Tree *tree, const char *dir) {
    char *from = bvSprintf("%s/%s", tree->root, dir), *to = bvSprintf("%s/moved", tree->root);

    REQUIRE(rename(from, to) == 0);
    REQUIRE(symlink(tree->outside, from) == 0);
    bvFree(to);
    bvFree(from);
}

/* The stream of a put, which plays the attacker once its temporary file exists: it learns the
 * file's name, swaps `segments/` for a link to the outside directory, and plants there a file of
 * that name and one named like the object, so that a put acting on paths again would move,
 * link or remove those. */
typedef struct Swapper {
    const Tree *tree;
    const char *object; /* its name in segments/ */
    char tmp[256];      /* the temporary file's name, once seen */
    bool done;
} Swapper;

static ssize_t
swapperRead(void *ctx, uint8_t *buf, size_t len, Err *err) {
    Swapper *this = ctx;
    char *seg = bvSprintf("%s/segments", this->tree->root);
    DIR *dir;
    struct dirent *de;

    if (this->done || len < 5 || (dir = opendir(seg)) == NULL) {
        bvFree(seg);
        return this->done ? 0 : errSet(err, ERR_INTERNAL, "the swapper cannot start");
    }
    while ((de = readdir(dir)) != NULL)
        if (strstr(de->d_name, FS_TMP_MARK) != NULL)
            snprintf(this->tmp, sizeof(this->tmp), "%s", de->d_name);
    closedir(dir);
    bvFree(seg);
    if (this->tmp[0] == '\0')
        return errSet(err, ERR_INTERNAL, "no temporary file in segments/");
    swapForLink(this->tree, "segments");
    plant(this->tree->outside, this->tmp, "planted tmp");
    plant(this->tree->outside, this->object, "planted object");
    this->done = true;
    memcpy(buf, "hello", 5);
    return 5;
}

/* The swapper lives on the test's stack. */
static void
swapperFree(void *ctx) {
    (void)ctx;
}

static const IoReadVt swapperVt = {.name = "swapper", .read = swapperRead, .free = swapperFree};

/* A put whose directory is swapped for a link while it writes: the object lands in the directory
 * it resolved (now `moved/`), and nothing outside is created, replaced or deleted, in both modes
 * (a path-based put would rename the planted temporary file over `outside/000002`, or find
 * `outside/000003` "existing" and delete the planted file). */
static void
testPutSwapped(void) {
    static const struct {
        StoragePutMode mode;
        const char *object;
    } cases[] = {{STORAGE_PUT_REPLACE, "000002"}, {STORAGE_PUT_IMMUTABLE, "000003"}};
    Err err = {0};
    Tree tree;
    const StorageDriverVt *vt;
    void *driver;
    unsigned removed = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    char *text;

    treeNew(&tree);
    REQUIRE(tree.storage != NULL);
    /* The driver's own streaming put, kept at hand while a Storage wraps it again. */
    storageUnwrap(tree.storage, &vt, &driver);
    tree.storage = storageNewDriver(vt, driver, "file://store");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Swapper swapper = {.tree = &tree, .object = cases[i].object};
        IoRead *src = ioReadNew(&swapperVt, &swapper);
        char *name = bvSprintf("segments/%s", cases[i].object);
        char *moved = bvSprintf("%s/moved", tree.root), *seg = bvSprintf("%s/segments", tree.root);
        bool existed = false;

        REQUIRE(storagePutBuf(tree.storage, "segments/000001", "one", 3, STORAGE_PUT_IMMUTABLE,
                              &err) == 0);
        CHECK_INT(vt->putRead(driver, name, src, 5, cases[i].mode, &existed, &err), 0);
        CHECK(!existed);
        CHECK(swapper.done);
        ioReadFree(src);

        text = slurp(tree.outside, cases[i].object);
        CHECK_STR(text, "planted object");
        free(text);
        text = slurp(tree.outside, swapper.tmp);
        CHECK_STR(text, "planted tmp");
        free(text);
        text = slurp(moved, cases[i].object);
        CHECK_STR(text, "hello");
        free(text);

        /* The next operations see the link and refuse it. */
        CHECK_INT(storageRemove(tree.storage, name, &err), -1);
        CHECK_INT(err.code, ERR_STORAGE);
        CHECK_MSG(err.msg, "is a symbolic link");
        CHECK_INT(storageGetBuf(tree.storage, name, 1024, &data, &len, &err), -1);
        CHECK_INT(err.code, ERR_STORAGE);
        CHECK_INT(storageCleanTemp(tree.storage, 0, &removed, &err), 0);
        text = slurp(tree.outside, swapper.tmp);
        CHECK_STR(text, "planted tmp");
        free(text);

        /* Put the archive back for the next case. */
        REQUIRE(unlink(seg) == 0);
        REQUIRE(rename(moved, seg) == 0);
        bvFree(seg);
        bvFree(moved);
        bvFree(name);
    }
    storageFree(tree.storage);
}

/* A prune-like listing that reads and removes what it lists, while a directory is swapped for a
 * link. */
typedef struct Pruner {
    Tree *tree;
    char seen[16][64];
    int count;
    int refused; /* removes refused because of the link */
} Pruner;

static int
prunerCb(const char *name, uint64_t size, void *data, Err *err) {
    Pruner *this = data;
    Err removeErr = {0};
    uint8_t *content = NULL;
    size_t len = 0;

    (void)size;
    if (this->count == 16)
        return errSet(err, ERR_INTERNAL, "too many names");
    snprintf(this->seen[this->count++], sizeof(this->seen[0]), "%s", name);
    /* The listing of `segments/` is open and has read its entries: swap it for a link (with its
     * sub-directory already read but not yet listed). */
    if (strcmp(name, "segments/000001") == 0)
        swapForLink(this->tree, "segments");
    /* What is read is the archive's object ("x"), or nothing. */
    if (storageGetBuf(this->tree->storage, name, 1024, &content, &len, &removeErr) == 0) {
        CHECK(len == 1 && content[0] == 'x');
        bvFree(content);
    } else {
        CHECK_MSG(removeErr.msg, "is a symbolic link");
    }
    if (storageRemove(this->tree->storage, name, &removeErr) != 0) {
        CHECK_INT(removeErr.code, ERR_STORAGE);
        CHECK_MSG(removeErr.msg, "is a symbolic link");
        this->refused++;
    }
    return 0;
}

/* Swapped while its listing is open, `segments/` goes on being read from the directory that was
 * opened (now `moved/`), so the names listed are those of the archive; every read or remove
 * through the link is refused; the files of the same names outside survive. A link swapped in before its
 * listing is opened is skipped, as one found there. */
static void
testListSwapped(void) {
    static const char *names[] = {"a/1", "segments/000001", "segments/000002", "segments/sub/000003",
                                  "z/1"};
    Err err = {0};
    Tree tree;
    Pruner pruner = {.tree = &tree};
    char *sub, *text;

    treeNew(&tree);
    REQUIRE(tree.storage != NULL);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        REQUIRE(storagePutBuf(tree.storage, names[i], "x", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
    plant(tree.outside, "000001", "outside");
    plant(tree.outside, "000002", "outside");
    sub = bvSprintf("%s/sub", tree.outside);
    REQUIRE(mkdir(sub, 0700) == 0);
    plant(sub, "000003", "outside");

    CHECK_INT(storageList(tree.storage, "", prunerCb, &pruner, &err), 0);
    CHECK_INT(pruner.count, 5);
    for (int i = 0; i < pruner.count && i < 5; i++)
        CHECK_STR(pruner.seen[i], names[i]);
    /* Each segments/ name was listed after the swap: only a/1 and z/1 are removed. */
    CHECK_INT(pruner.refused, 3);
    text = slurp(tree.outside, "000001");
    CHECK_STR(text, "outside");
    free(text);
    text = slurp(tree.outside, "000002");
    CHECK_STR(text, "outside");
    free(text);
    text = slurp(sub, "000003");
    CHECK_STR(text, "outside");
    free(text);

    /* Now a link from the start of the listing: nothing below it is listed. */
    pruner = (Pruner){.tree = &tree};
    CHECK_INT(storageList(tree.storage, "segments/", prunerCb, &pruner, &err), 0);
    CHECK_INT(pruner.count, 0);
    CHECK_INT(storageList(tree.storage, "", prunerCb, &pruner, &err), 0);
    CHECK_INT(pruner.count, 3);
    text = slurp(tree.outside, "000001");
    CHECK_STR(text, "outside");
    free(text);
    bvFree(sub);
    storageFree(tree.storage);
}

/* The root is found by path at each operation: a writer's store whose root was removed (or a file
 * system mounted again) makes it again and goes on; a reader's reports it missing. */
static void
testRootRemoved(void) {
    StorageOptions o = {.create = true};
    char root[512];
    char *url, *cmd;
    Storage *writer, *reader;
    uint8_t *data = NULL;
    size_t len = 0;
    Err err = {0};

    snprintf(root, sizeof(root), "%s/gone", testTmpDir());
    url = bvSprintf("file://%s", root);
    writer = storageNewOpts(url, &o, &err);
    REQUIRE(writer != NULL);
    reader = storageNew(url, &err);
    REQUIRE(reader != NULL);
    REQUIRE(storagePutBuf(writer, "segments/a", "one", 3, STORAGE_PUT_IMMUTABLE, &err) == 0);
    cmd = bvSprintf("rm -rf '%s'", root);
    REQUIRE(system(cmd) == 0);
    CHECK_INT(storageGetBuf(reader, "segments/a", 1024, &data, &len, &err), -1);
    if (storagePutBuf(writer, "segments/b", "two", 3, STORAGE_PUT_IMMUTABLE, &err) != 0)
        testFail(__FILE__, __LINE__, "put after the root was removed: %s", err.msg);
    CHECK(storageGetBuf(reader, "segments/b", 1024, &data, &len, &err) == 0 && len == 3 &&
          memcmp(data, "two", 3) == 0);
    bvFree(data);
    bvFree(cmd);
    bvFree(url);
    storageFree(writer);
    storageFree(reader);
}

/* What testListWindows() saw: the names in order, the last one, and where to stop. */
typedef struct Walk {
    char last[64];
    size_t count, stopAt;
    bool ordered, sawSub;
} Walk;

static int
walkCb(const char *name, uint64_t size, void *data, Err *err) {
    Walk *w = data;

    (void)err;
    if (strcmp(name, w->last) <= 0 || size != (strncmp(name, "segments/sub/", 13) == 0 ? 3 : 0))
        w->ordered = false;
    if (strcmp(name, "segments/0000000000070000/x") == 0)
        w->sawSub = true;
    snprintf(w->last, sizeof(w->last), "%s", name);
    return ++w->count == w->stopAt ? STORAGE_LIST_STOP : 0;
}

#define WINDOW_FILES 140000

/* A directory of more names than one window of the listing (65536) is read window after window:
 * every name once, in byte order, a directory among the files listed at its place, and a listing
 * from a name in the middle (the third window) that stops early gives the names after it. */
static void
testListWindows(void) {
    char root[512], *url;
    Storage *storage;
    Walk w = {.ordered = true};
    Err err = {0};

    /* 140 k files: made in memory when the machine has a tmpfs (1 s there, 18 s on a disk). */
    snprintf(root, sizeof(root), "%s/big", testTmpDir());
    if (access("/dev/shm", W_OK) == 0) {
        snprintf(root, sizeof(root), "/dev/shm/binvault-unit-XXXXXX");
        REQUIRE(mkdtemp(root) != NULL);
    } else {
        REQUIRE(mkdir(root, 0700) == 0);
    }
    url = bvSprintf("%s/segments", root);
    REQUIRE(mkdir(url, 0700) == 0);
    bvFree(url);
    for (int i = WINDOW_FILES; i > 0; i--) {
        char *path = bvSprintf("%s/segments/%016d", root, i);
        FILE *f = fopen(path, "w");

        REQUIRE(f != NULL && fclose(f) == 0);
        bvFree(path);
    }
    url = bvSprintf("%s/segments/0000000000070000", root);
    REQUIRE(unlink(url) == 0 && mkdir(url, 0700) == 0);
    bvFree(url);
    plant(root, "segments/0000000000070000/x", "");
    url = bvSprintf("file://%s", root);
    storage = storageNew(url, &err);
    REQUIRE(storage != NULL);
    CHECK_INT(storageList(storage, "segments/", walkCb, &w, &err), 0);
    CHECK_INT((int)w.count, WINDOW_FILES);
    CHECK(w.ordered);
    CHECK(w.sawSub);
    CHECK_STR(w.last, "segments/0000000000140000");
    w = (Walk){.ordered = true, .stopAt = 10};
    snprintf(w.last, sizeof(w.last), "segments/0000000000135000");
    CHECK_INT(storageListFrom(storage, "segments/", "segments/0000000000135000", walkCb, &w, &err), 0);
    CHECK_INT((int)w.count, 10);
    CHECK(w.ordered);
    CHECK_STR(w.last, "segments/0000000000135010");
    storageFree(storage);
    bvFree(url);
    url = bvSprintf("rm -rf '%s'", root);
    CHECK(system(url) == 0);
    bvFree(url);
}

void
suite_storage_file(void) {
    testRun("storage_file: a put's directory swapped for a link while it writes",
            testPutSwapped);
    testRun("storage_file: a writer makes its removed root again", testRootRemoved);
    testRun("storage_file: a listed directory swapped for a link while it is listed",
            testListSwapped);
    testRun("storage_file: a directory larger than a listing window, listed window after window",
            testListWindows);
}
