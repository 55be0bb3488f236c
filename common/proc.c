/* Child processes (common/proc.h). */
#include "common/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/fs.h"

/* The child's side of the fork: only async-signal-safe calls. */
static void
childExec(const char *const *argv, int inFd, int outFd, int errFd, unsigned flags) {
    if (flags & PROC_NEW_SESSION)
        setsid();
    else if (flags & PROC_OWN_GROUP)
        setpgid(0, 0);
    if (flags & PROC_DIE_WITH_PARENT)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    if ((inFd >= 0 && dup2(inFd, STDIN_FILENO) < 0) || (outFd >= 0 && dup2(outFd, STDOUT_FILENO) < 0) ||
        (errFd >= 0 && dup2(errFd, STDERR_FILENO) < 0))
        _exit(127);
    /* An ignored signal stays ignored across exec. */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
}

pid_t
procSpawn(const char *const *argv, int inFd, int outFd, int errFd, unsigned flags, Err *err) {
    pid_t pid = fork();

    if (pid < 0)
        return errSetSys(err, ERR_IO, errno, "unable to start '%s'", argv[0]);
    if (pid == 0)
        childExec(argv, inFd, outFd, errFd, flags);
    /* Also here: a signal sent to the group before the child has run setpgid() must reach it. */
    if ((flags & PROC_OWN_GROUP) && !(flags & PROC_NEW_SESSION))
        setpgid(pid, pid);
    return pid;
}

void
procDescribeStatus(int status, char *out, size_t size) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        snprintf(out, size, "could not be run (exit 127: is it installed and in PATH?)");
    else if (WIFEXITED(status))
        snprintf(out, size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(out, size, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(out, size, "ended with status 0x%x", (unsigned)status);
}

void
procLogTail(const char *path, unsigned lines, char sep, char *out, size_t size) {
    char buf[4096];
    ssize_t n;
    off_t end;
    unsigned seen = 0;
    int fd;
    char *p;

    out[0] = '\0';
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return;
    end = lseek(fd, 0, SEEK_END);
    n = fsPreadAll(fd, buf, sizeof(buf) - 1, end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    for (p = buf + n; p > buf; p--)
        if (p[-1] == '\n' && ++seen == lines)
            break;
    snprintf(out, size, "%s", p);
    for (char *c = out; *c != '\0'; c++)
        if (*c == '\n')
            *c = sep;
}
