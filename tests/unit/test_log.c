/* Unit tests of common/log: the repeat limiter (issue 14: a flood wrote 1.2 million identical
 * lines in 30 s) and the log file, which is never opened through a symbolic link. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mem.h"
#include "tests/test.h"

/* Lines of the log file at `path` so far, and whether one contains `part` (NULL: any). */
static int
countLines(const char *path, const char *part) {
    size_t len = 0;
    unsigned char *data = testReadFile(path, &len);
    char *text, *p, *save = NULL;
    int lines = 0;

    if (data == NULL)
        return -1;
    /* The file's bytes are not NUL-terminated. */
    text = bvStrndup((const char *)data, len);
    free(data);
    for (p = strtok_r(text, "\n", &save); p != NULL; p = strtok_r(NULL, "\n", &save))
        if (part == NULL || strstr(p, part) != NULL)
            lines++;
    bvFree(text);
    return lines;
}

static char *
logTo(const char *name) {
    char *path = bvSprintf("%s/%s", testTmpDir(), name);

    CHECK_INT(logSetFile(path), 0);
    return path;
}

/* A message repeated within a second is counted, then summarised once. */
static void
testRepeatSummarised(void) {
    char *path = logTo("agent.log");

    for (int i = 0; i < 100000; i++)
        logWarn("unable to accept a connection: %s", strerror(EMFILE));
    CHECK_INT(countLines(path, NULL), 1);
    logFlushRepeats();
    CHECK_INT(countLines(path, NULL), 2);
    CHECK_INT(countLines(path, "Too many open files (repeated 99999 times)"), 1);
    /* Nothing more to summarise. */
    logFlushRepeats();
    CHECK_INT(countLines(path, NULL), 2);
    logSetFile(NULL);
    bvFree(path);
}

/* Interleaved messages are tracked apart; a level is part of the message; other messages are
 * never held back; once the second is over the message shows again after its summary. */
static void
testRepeatInterleavedAndWindow(void) {
    char *path = logTo("interleaved.log");

    for (int i = 0; i < 1000; i++) {
        logWarn("spool write failed");
        logError("spool write failed");
        logWarn("checkpoint failed");
    }
    CHECK_INT(countLines(path, NULL), 3);
    for (int i = 0; i < 3 * LOG_REPEAT_SLOTS; i++)
        logWarn("distinct message %d", i);
    /* Each distinct line is written; the three repeated ones were summarised when evicted. */
    CHECK_INT(countLines(path, "distinct message"), 3 * LOG_REPEAT_SLOTS);
    CHECK_INT(countLines(path, "(repeated 999 times)"), 3);

    logWarn("slow loop");
    logWarn("slow loop");
    usleep(1100 * 1000);
    logWarn("slow loop");
    CHECK_INT(countLines(path, "slow loop (repeated 1 times)"), 1);
    CHECK_INT(countLines(path, "slow loop"), 3);
    logSetFile(NULL);
    bvFree(path);
}

/* A symbolic link planted at the log file's path is refused: nothing is appended to its target. */
static void
testLogFileNoFollow(void) {
    char *victim = bvSprintf("%s/victim", testTmpDir()), *link = bvSprintf("%s/planted.log", testTmpDir());
    FILE *f = fopen(victim, "w");
    size_t len = 0;
    unsigned char *data;

    REQUIRE(f != NULL);
    fputs("precious\n", f);
    fclose(f);
    REQUIRE(symlink(victim, link) == 0);
    CHECK_INT(logSetFile(link), -1);
    CHECK_INT(errno, ELOOP);
    logWarn("this line goes to standard error");
    data = testReadFile(victim, &len);
    REQUIRE(data != NULL);
    CHECK_INT(len, 9);
    free(data);
    bvFree(link);
    bvFree(victim);
}

void suite_log(void);

void
suite_log(void) {
    testRun("log: a repeated message is counted and summarised", testRepeatSummarised);
    testRun("log: interleaved repeats, eviction and the one-second window", testRepeatInterleavedAndWindow);
    testRun("log: the log file is never opened through a symbolic link", testLogFileNoFollow);
}
