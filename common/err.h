/*
 * The one error model of binvault.
 *
 * Functions that can fail return 0 (or a pointer) on success and -1 (or NULL) on failure, after
 * filling an Err with a code and a message. Callers add context on the way up with errPrefix();
 * main() picks the process exit code from the code with errExitCode(). Messages are lowercase,
 * quote values, and say what failed and why.
 */
#ifndef BV_COMMON_ERR_H
#define BV_COMMON_ERR_H

#include <stddef.h>

typedef enum ErrCode {
    ERR_NONE = 0,
    ERR_USAGE,      /* bad command line or option value */
    ERR_CONFIG,     /* bad configuration (file, environment, permissions of a secret file) */
    ERR_IO,         /* local file system error */
    ERR_FORMAT,     /* malformed input: binlog, archive object, protocol packet */
    ERR_CHECKSUM,   /* a checksum did not match */
    ERR_LIMIT,      /* a hard size limit was exceeded */
    ERR_SOURCE,     /* the source server failed or refused */
    ERR_AUTH,       /* authentication or privilege failure */
    ERR_STORAGE,    /* the archive store failed */
    ERR_EXISTS,     /* an object exists with different content */
    ERR_NOTFOUND,   /* a requested object or position does not exist */
    ERR_GAP,        /* the archive or stream has a gap */
    ERR_TARGET,     /* the recovery target failed or refused */
    ERR_CLEANUP,    /* a recovery could not undo its settings on the target: statements to run by hand */
    ERR_INTERNAL,   /* a bug */
    ERR_CODE_MAX
} ErrCode;

#define ERR_MSG_MAX 2048

typedef struct Err {
    ErrCode code;
    char msg[ERR_MSG_MAX];
} Err;

/* Set code and message; always returns -1 so that `return errSet(...)` reads naturally. */
int errSet(Err *err, ErrCode code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Like errSet() with ": <strerror(errnum)>" appended. */
int errSetSys(Err *err, ErrCode code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prepend "<context>: " to the message, keeping the code; returns -1. */
int errPrefix(Err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append text to the message (what to do next, typically), keeping the code; returns -1. */
int errAppend(Err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void errClear(Err *err);

/* Short stable name of a code ("format", "checksum", ...) for JSON output and logs. */
const char *errCodeName(ErrCode code);

/* Process exit code for an error code (see the table in err.c and the README). */
int errExitCode(ErrCode code);

#endif
