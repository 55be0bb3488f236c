/*
 * Child processes: the tools binvault drives (mariadb-backup, xtrabackup, mbstream, mariadbd). One
 * way to start them, one way to say how they ended, and the end of their logs for error messages.
 */
#ifndef BV_COMMON_PROC_H
#define BV_COMMON_PROC_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

#define PROC_OWN_GROUP 0x01       /* its own process group: a Ctrl-C on binvault's terminal is not its */
#define PROC_NEW_SESSION 0x02     /* its own session (a server that outlives a terminal) */
#define PROC_DIE_WITH_PARENT 0x04 /* killed (SIGKILL) when binvault dies */

/* Start argv[0] (looked up in PATH) with stdin, stdout and stderr on the given descriptors (-1:
 * inherited), SIGPIPE, SIGINT and SIGTERM at their defaults, and `flags`. Returns its pid, or -1
 * (ERR_IO) when it cannot be forked; a program that cannot be run exits 127. */
pid_t procSpawn(const char *const *argv, int inFd, int outFd, int errFd, unsigned flags, Err *err);

/* How a child ended, from waitpid()'s status, for messages: "exited with status 2", "was killed
 * by signal 9", "could not be run (exit 127: is it installed and in PATH?)". */
void procDescribeStatus(int status, char *out, size_t size);

/* The last `lines` lines of a log file (at most its last 4 KiB are read), joined by `sep`; ""
 * when unreadable. */
void procLogTail(const char *path, unsigned lines, char sep, char *out, size_t size);

#endif
