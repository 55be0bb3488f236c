/* Unit tests of common/fs. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/mem.h"
#include "tests/test.h"

static char *
tmpPath(const char *name) {
    return bvSprintf("%s/%s", testTmpDir(), name);
}

static int
exists(const char *path) {
    struct stat st;

    return lstat(path, &st) == 0;
}

static void
testWriteFileAtomic(void) {
    char *path = tmpPath("state.json"), *tmp = bvSprintf("%s.tmp", path);
    size_t len = 0;
    unsigned char *data;
    struct stat st;
    Err err = {0};

    CHECK_INT(fsWriteFileAtomic(path, "first", 5, 0600, &err), 0);
    data = testReadFile(path, &len);
    REQUIRE(data != NULL);
    CHECK_INT(len, 5);
    CHECK(memcmp(data, "first", 5) == 0);
    free(data);
    CHECK(!exists(tmp));
    REQUIRE(stat(path, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 0600);

    /* Replace, with another mode; a stale temporary file from a crash is reused. */
    REQUIRE(fsWriteFileAtomic(tmp, "stale-leftover", 14, 0600, &err) == 0);
    CHECK_INT(fsWriteFileAtomic(path, "second!", 7, 0644, &err), 0);
    data = testReadFile(path, &len);
    REQUIRE(data != NULL);
    CHECK_INT(len, 7);
    CHECK(memcmp(data, "second!", 7) == 0);
    free(data);
    REQUIRE(stat(path, &st) == 0);
    CHECK_INT(st.st_mode & 07777, 0644);
    CHECK(!exists(tmp));

    /* Empty content. */
    CHECK_INT(fsWriteFileAtomic(path, "", 0, 0600, &err), 0);
    REQUIRE(stat(path, &st) == 0);
    CHECK_INT(st.st_size, 0);

    /* A missing directory: the error names the temporary file; nothing is left behind. */
    {
        char *bad = tmpPath("missing/state.json");
        char expect[700];

        CHECK_INT(fsWriteFileAtomic(bad, "x", 1, 0600, &err), -1);
        CHECK_INT(err.code, ERR_IO);
        snprintf(expect, sizeof(expect), "unable to create '%s.tmp': No such file or directory", bad);
        CHECK_STR(err.msg, expect);
        bvFree(bad);
    }
    bvFree(tmp);
    bvFree(path);
}

/* The rename fails when the target is a non-empty directory: the old content stays and the
 * temporary file is removed. */
static void
testWriteFileAtomicRenameFails(void) {
    char *path = tmpPath("target"), *inner = tmpPath("target/keep"), *tmp = bvSprintf("%s.tmp", path);
    Err err = {0};
    char expect[1200];

    REQUIRE(mkdir(path, 0700) == 0);
    REQUIRE(fsWriteFileAtomic(inner, "k", 1, 0600, &err) == 0);
    CHECK_INT(fsWriteFileAtomic(path, "x", 1, 0600, &err), -1);
    snprintf(expect, sizeof(expect), "unable to rename '%s' to '%s': Is a directory", tmp, path);
    CHECK_STR(err.msg, expect);
    CHECK(!exists(tmp));
    CHECK(exists(inner));
    bvFree(tmp);
    bvFree(inner);
    bvFree(path);
}

static void
testSyncDirAndRename(void) {
    char *from = tmpPath("a"), *sub = tmpPath("sub"), *to = tmpPath("sub/b");
    Err err = {0};
    char expect[700];

    CHECK_INT(fsSyncDir(testTmpDir(), &err), 0);
    CHECK_INT(fsSyncDir(from, &err), -1);
    snprintf(expect, sizeof(expect), "unable to open directory '%s': No such file or directory", from);
    CHECK_STR(err.msg, expect);

    REQUIRE(fsWriteFileAtomic(from, "data", 4, 0600, &err) == 0);
    REQUIRE(mkdir(sub, 0700) == 0);
    CHECK_INT(fsRenameDurable(from, to, &err), 0);
    CHECK(!exists(from));
    CHECK(exists(to));
    CHECK_INT(fsRenameDurable(from, to, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    snprintf(expect, sizeof(expect), "unable to rename '%s' to '%s': No such file or directory", from,
             to);
    CHECK_STR(err.msg, expect);
    bvFree(from);
    bvFree(sub);
    bvFree(to);
}

static void
testMkdirP(void) {
    char *deep = tmpPath("x/y//z/"), *file = tmpPath("x/file"), *under = tmpPath("x/file/sub");
    char *check = tmpPath("x/y/z");
    struct stat st;
    Err err = {0};
    char expect[1200];

    CHECK_INT(fsMkdirP(deep, 0750, &err), 0);
    REQUIRE(stat(check, &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    /* Existing: fine. */
    CHECK_INT(fsMkdirP(deep, 0750, &err), 0);
    CHECK_INT(fsMkdirP(testTmpDir(), 0750, &err), 0);
    /* A file in the way. */
    REQUIRE(fsWriteFileAtomic(file, "f", 1, 0600, &err) == 0);
    CHECK_INT(fsMkdirP(under, 0750, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    snprintf(expect, sizeof(expect),
             "unable to create directory '%s': '%s' exists and is not a directory", under, file);
    CHECK_STR(err.msg, expect);
    CHECK_INT(fsMkdirP("", 0750, &err), -1);
    /* Relative paths work too. */
    {
        char *cwd = getcwd(NULL, 0);

        REQUIRE(chdir(testTmpDir()) == 0);
        CHECK_INT(fsMkdirP("rel/a/b", 0750, &err), 0);
        CHECK(exists("rel/a/b"));
        REQUIRE(chdir(cwd) == 0);
        free(cwd);
    }
    bvFree(deep);
    bvFree(file);
    bvFree(under);
    bvFree(check);
}

static void
testFsReadFile(void) {
    char *path = tmpPath("config"), *missing = tmpPath("none");
    uint8_t *data = NULL;
    size_t len = 0;
    Err err = {0};
    char expect[700];

    REQUIRE(fsWriteFileAtomic(path, "0123456789", 10, 0600, &err) == 0);
    CHECK_INT(fsReadFile(path, 10, &data, &len, &err), 0);
    CHECK_INT(len, 10);
    CHECK_STR((char *)data, "0123456789");
    bvFree(data);
    /* No limit at all. */
    CHECK_INT(fsReadFile(path, SIZE_MAX, &data, &len, &err), 0);
    CHECK_INT(len, 10);
    CHECK_STR((char *)data, "0123456789");
    bvFree(data);

    CHECK_INT(fsReadFile(path, 9, &data, &len, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    snprintf(expect, sizeof(expect), "file '%s' is larger than the limit of 9 bytes (10 bytes)", path);
    CHECK_STR(err.msg, expect);

    CHECK_INT(fsReadFile(missing, 10, &data, &len, &err), -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    snprintf(expect, sizeof(expect), "unable to open '%s': No such file or directory", missing);
    CHECK_STR(err.msg, expect);

    CHECK_INT(fsReadFile(testTmpDir(), 10, &data, &len, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    snprintf(expect, sizeof(expect), "unable to read '%s': not a regular file", testTmpDir());
    CHECK_STR(err.msg, expect);

    /* Empty file. */
    REQUIRE(fsWriteFileAtomic(path, "", 0, 0600, &err) == 0);
    CHECK_INT(fsReadFile(path, 0, &data, &len, &err), 0);
    CHECK_INT(len, 0);
    CHECK_STR((char *)data, "");
    bvFree(data);

    /* Larger than one read. */
    {
        size_t big = 3 * 1024 * 1024 + 17;
        uint8_t *content = bvMalloc(big);

        for (size_t i = 0; i < big; i++)
            content[i] = (uint8_t)(i * 31 + 7);
        REQUIRE(fsWriteFileAtomic(path, content, big, 0600, &err) == 0);
        CHECK_INT(fsReadFile(path, big, &data, &len, &err), 0);
        CHECK_INT(len, big);
        CHECK(len == big && memcmp(data, content, big) == 0);
        bvFree(data);
        bvFree(content);
    }

    /* /proc files report size 0 but have content: the limit still holds while reading. */
    CHECK_INT(fsReadFile("/proc/self/status", 16, &data, &len, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    CHECK_STR(err.msg, "file '/proc/self/status' is larger than the limit of 16 bytes");
    bvFree(path);
    bvFree(missing);
}

static void
testWriteAllPreadAll(void) {
    char *path = tmpPath("rw");
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    char buf[32];

    REQUIRE(fd >= 0);
    CHECK_INT(fsWriteAll(fd, "hello world", 11), 0);
    CHECK_INT(fsPreadAll(fd, buf, sizeof(buf), 0), 11);
    CHECK(memcmp(buf, "hello world", 11) == 0);
    CHECK_INT(fsPreadAll(fd, buf, 5, 6), 5);
    CHECK(memcmp(buf, "world", 5) == 0);
    CHECK_INT(fsPreadAll(fd, buf, 5, 100), 0);
    close(fd);
    CHECK_INT(fsWriteAll(fd, "x", 1), -1);
    CHECK_INT(errno, EBADF);
    CHECK_INT(fsPreadAll(fd, buf, 1, 0), -1);
    CHECK_INT(errno, EBADF);
    {
        int full = open("/dev/full", O_WRONLY);

        REQUIRE(full >= 0);
        CHECK_INT(fsWriteAll(full, "x", 1), -1);
        CHECK_INT(errno, ENOSPC);
        close(full);
    }
    bvFree(path);
}

static void
testRemoveTree(void) {
    char *root = tmpPath("tree"), *deep = tmpPath("tree/a/b/c"), *file = tmpPath("tree/a/b/c/f");
    char *outside = tmpPath("outside"), *keep = tmpPath("outside/keep"), *link = tmpPath("tree/link");
    Err err = {0};

    REQUIRE(fsMkdirP(deep, 0700, &err) == 0);
    REQUIRE(fsWriteFileAtomic(file, "f", 1, 0600, &err) == 0);
    REQUIRE(fsMkdirP(outside, 0700, &err) == 0);
    REQUIRE(fsWriteFileAtomic(keep, "k", 1, 0600, &err) == 0);
    /* A symbolic link to a directory outside is removed, not followed. */
    REQUIRE(symlink(outside, link) == 0);
    CHECK_INT(fsRemoveTree(root, &err), 0);
    CHECK(!exists(root));
    CHECK(exists(keep));
    /* Missing is fine; a single file is removed. */
    CHECK_INT(fsRemoveTree(root, &err), 0);
    CHECK_INT(fsRemoveTree(keep, &err), 0);
    CHECK(!exists(keep));
    bvFree(root);
    bvFree(deep);
    bvFree(file);
    bvFree(outside);
    bvFree(keep);
    bvFree(link);
}

/* A symbolic link planted where a file is about to be created (issue 14: `pull --to DIR` wrote
 * binlog bytes through `NAME.tmp`): the link's target is never opened, let alone truncated. */
static void
testCreateNeverFollows(void) {
    char *victim = tmpPath("victim"), *planted = tmpPath("planted"), *state = tmpPath("state.json");
    char *stateTmp = bvSprintf("%s.tmp", state);
    size_t len = 0;
    unsigned char *data;
    struct stat st;
    Err err = {0};
    int fd;

    REQUIRE(fsWriteFileAtomic(victim, "precious", 8, 0600, &err) == 0);
    REQUIRE(symlink(victim, planted) == 0);
    CHECK_INT(fsCreateExclusive(planted, 0640, &err), -1);
    CHECK_INT(err.code, ERR_EXISTS);
    CHECK_MSG(err.msg, "planted");
    /* A dangling link is refused too: O_CREAT alone would create its target. */
    REQUIRE(unlink(victim) == 0);
    CHECK_INT(fsCreateExclusive(planted, 0640, &err), -1);
    CHECK(!exists(victim));
    REQUIRE(fsWriteFileAtomic(victim, "precious", 8, 0600, &err) == 0);

    /* fsWriteFileAtomic() over a planted `NAME.tmp` link: the link goes, the target stays. */
    REQUIRE(symlink(victim, stateTmp) == 0);
    CHECK_INT(fsWriteFileAtomic(state, "new state", 9, 0600, &err), 0);
    data = testReadFile(victim, &len);
    REQUIRE(data != NULL);
    CHECK_INT(len, 8);
    CHECK(memcmp(data, "precious", 8) == 0);
    free(data);
    data = testReadFile(state, &len);
    REQUIRE(data != NULL);
    CHECK_INT(len, 9);
    free(data);
    REQUIRE(lstat(state, &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK(!exists(stateTmp));

    /* A new file has the mode asked for less the umask, as with open(2). */
    {
        char *fresh = tmpPath("fresh");
        mode_t old = umask(077);

        fd = fsCreateExclusive(fresh, 0640, &err);
        umask(old);
        REQUIRE(fd >= 0);
        REQUIRE(fstat(fd, &st) == 0);
        CHECK_INT(st.st_mode & 07777, 0600);
        close(fd);
        bvFree(fresh);
    }
    bvFree(stateTmp);
    bvFree(state);
    bvFree(planted);
    bvFree(victim);
}

/* Temporary names cannot be guessed: `path.tmp.` and 16 hex digits, new each time. */
static void
testCreateTemp(void) {
    char *path = tmpPath("binlog.000001"), *a = NULL, *b = NULL;
    Err err = {0};
    int fa, fb;

    fa = fsCreateTemp(path, 0640, &a, &err);
    fb = fsCreateTemp(path, 0640, &b, &err);
    REQUIRE(fa >= 0 && fb >= 0);
    CHECK(strncmp(a, path, strlen(path)) == 0);
    CHECK(strncmp(a + strlen(path), FS_TMP_MARK, strlen(FS_TMP_MARK)) == 0);
    CHECK_INT(strlen(a), strlen(path) + strlen(FS_TMP_MARK) + 16);
    CHECK_INT(strspn(a + strlen(path) + strlen(FS_TMP_MARK), "0123456789abcdef"), 16);
    CHECK(strcmp(a, b) != 0);
    CHECK(exists(a) && exists(b));
    CHECK(!exists(path));
    close(fa);
    close(fb);
    bvFree(a);
    bvFree(b);
    bvFree(path);
}

void suite_fs(void);

void
suite_fs(void) {
    testRun("fs: atomic write", testWriteFileAtomic);
    testRun("fs: atomic write, rename fails", testWriteFileAtomicRenameFails);
    testRun("fs: sync dir and durable rename", testSyncDirAndRename);
    testRun("fs: mkdir -p", testMkdirP);
    testRun("fs: read file", testFsReadFile);
    testRun("fs: write all and pread all", testWriteAllPreadAll);
    testRun("fs: remove tree", testRemoveTree);
    testRun("fs: creating a file never follows a symbolic link", testCreateNeverFollows);
    testRun("fs: temporary names are random", testCreateTemp);
}
