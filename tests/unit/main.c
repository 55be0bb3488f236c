/* Unit test runner: every suite, or the suites named on the command line. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/test.h"
#include "tests/unit/suites.h"

static int passed, failed, caseFailed;
static const char *caseName;
static char tmpRoot[256];
static char tmpCase[512];
static int tmpSeq;

void
testFail(const char *file, int line, const char *fmt, ...) {
    va_list ap;

    fprintf(stderr, "  FAIL %s (%s:%d): ", caseName ? caseName : "?", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    caseFailed = 1;
}

void
testRun(const char *name, void (*fn)(void)) {
    caseName = name;
    caseFailed = 0;
    tmpCase[0] = '\0';
    fn();
    if (caseFailed) {
        failed++;
        printf("not ok - %s\n", name);
    } else {
        passed++;
        printf("ok - %s\n", name);
    }
    fflush(stdout);
    caseName = NULL;
}

const char *
testFixtureDir(void) {
    const char *dir = getenv("BV_FIXTURES");

    return dir ? dir : "../shared/fixtures/binlog";
}

const char *
testTmpDir(void) {
    if (tmpRoot[0] == '\0') {
        /* Under $TMPDIR when set: scripts/run-tests.sh puts it on a tmpfs, where the stores'
         * fsyncs of thousands of small objects cost nothing. */
        const char *base = getenv("TMPDIR");

        snprintf(tmpRoot, sizeof(tmpRoot), "%s/binvault-unit-XXXXXX", base != NULL && base[0] ? base : "/tmp");
        if (mkdtemp(tmpRoot) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
    }
    if (tmpCase[0] == '\0') {
        snprintf(tmpCase, sizeof(tmpCase), "%s/case%d", tmpRoot, ++tmpSeq);
        if (mkdir(tmpCase, 0700) != 0) {
            perror("mkdir");
            exit(2);
        }
    }
    return tmpCase;
}

unsigned char *
testReadFile(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)size + 1);
    if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* Removes `path` and, when it is a directory, what it holds. A symbolic link is removed, never
 * followed (followed, it stayed, and its directory with it: on a tmpfs, memory never given back). */
static void
removeTree(const char *path) {
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
        while ((de = readdir(d)) != NULL) {
            char sub[1024];

            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
            removeTree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

int
main(int argc, char **argv) {
    int ran = 0;

    for (size_t i = 0; i < sizeof(testSuites) / sizeof(testSuites[0]); i++) {
        int selected = argc < 2;

        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], testSuites[i].name) == 0)
                selected = 1;
        if (!selected)
            continue;
        printf("# suite %s\n", testSuites[i].name);
        testSuites[i].fn();
        ran++;
    }
    if (tmpRoot[0] != '\0' && getenv("BV_KEEP_TMP") == NULL)
        removeTree(tmpRoot);
    if (ran == 0) {
        fprintf(stderr, "no suite matched\n");
        return 2;
    }
    printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
