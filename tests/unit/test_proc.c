/* Unit tests of common/proc: starting a child, how it ended, the end of its log. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/proc.h"
#include "tests/test.h"

/* Run argv with stdout and stderr to `log`; how it ended, in words. */
static void
runTo(const char *const *argv, const char *log, unsigned flags, char *how, size_t size) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), status = -1;
    pid_t pid;
    Err err = {0};

    REQUIRE(fd >= 0);
    pid = procSpawn(argv, -1, fd, fd, flags, &err);
    close(fd);
    REQUIRE(pid > 0);
    REQUIRE(waitpid(pid, &status, 0) == pid);
    procDescribeStatus(status, how, size);
}

static void
testSpawnAndTail(void) {
    char log[600], how[128], tail[256];
    const char *script[] = {"sh", "-c", "echo one; echo two >&2; echo three; exit 3", NULL};
    const char *group[] = {"sh", "-c", "test \"$(ps -o pgid= -p $$ | tr -d ' ')\" = \"$$\"", NULL};
    const char *missing[] = {"binvault-no-such-program", NULL};

    snprintf(log, sizeof(log), "%s/child.log", testTmpDir());
    runTo(script, log, 0, how, sizeof(how));
    CHECK_STR(how, "exited with status 3");
    procLogTail(log, 2, '|', tail, sizeof(tail));
    CHECK_STR(tail, "two|three");
    procLogTail(log, 10, '\n', tail, sizeof(tail));
    CHECK_STR(tail, "one\ntwo\nthree");
    /* Its own process group: the group id is its pid. */
    runTo(group, log, PROC_OWN_GROUP, how, sizeof(how));
    CHECK_STR(how, "exited with status 0");
    runTo(missing, log, 0, how, sizeof(how));
    CHECK_MSG(how, "could not be run (exit 127");
    procLogTail("/nonexistent/binvault.log", 3, '|', tail, sizeof(tail));
    CHECK_STR(tail, "");
}

void
suite_proc(void) {
    testRun("proc: spawn, exit status, the log's last lines", testSpawnAndTail);
}
