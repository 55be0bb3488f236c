#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Append src at dst[len], truncating to the buffer. */
static void
appendTo(char *dst, size_t size, size_t len, const char *src) {
    size_t n = strlen(src);

    if (len >= size - 1)
        return;
    if (n > size - 1 - len)
        n = size - 1 - len;
    memcpy(dst + len, src, n);
    dst[len + n] = '\0';
}

int
errSet(Err *err, ErrCode code, const char *fmt, ...) {
    va_list ap;

    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int
errSetSys(Err *err, ErrCode code, int errnum, const char *fmt, ...) {
    va_list ap;
    size_t len;

    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    len = strlen(err->msg);
    appendTo(err->msg, sizeof(err->msg), len, ": ");
    appendTo(err->msg, sizeof(err->msg), strlen(err->msg), strerror(errnum));
    return -1;
}

int
errPrefix(Err *err, const char *fmt, ...) {
    char prefix[ERR_MSG_MAX], old[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    err->msg[0] = '\0';
    appendTo(err->msg, sizeof(err->msg), 0, prefix);
    appendTo(err->msg, sizeof(err->msg), strlen(err->msg), ": ");
    appendTo(err->msg, sizeof(err->msg), strlen(err->msg), old);
    return -1;
}

int
errAppend(Err *err, const char *fmt, ...) {
    char text[ERR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    appendTo(err->msg, sizeof(err->msg), strlen(err->msg), text);
    return -1;
}

void
errClear(Err *err) {
    err->code = ERR_NONE;
    err->msg[0] = '\0';
}

static const struct {
    const char *name;
    int exitCode;
} errTable[ERR_CODE_MAX] = {
    [ERR_NONE] = {"none", 0},
    [ERR_USAGE] = {"usage", 64},
    [ERR_CONFIG] = {"config", 78},
    [ERR_IO] = {"io", 74},
    [ERR_FORMAT] = {"format", 65},
    [ERR_CHECKSUM] = {"checksum", 65},
    [ERR_LIMIT] = {"limit", 65},
    [ERR_SOURCE] = {"source", 69},
    [ERR_AUTH] = {"auth", 77},
    [ERR_STORAGE] = {"storage", 75},
    [ERR_EXISTS] = {"exists", 73},
    [ERR_NOTFOUND] = {"notfound", 66},
    [ERR_GAP] = {"gap", 65},
    [ERR_TARGET] = {"target", 69},
    [ERR_CLEANUP] = {"cleanup", 79},
    [ERR_INTERNAL] = {"internal", 70},
};

const char *
errCodeName(ErrCode code) {
    if ((unsigned)code >= ERR_CODE_MAX)
        return "unknown";
    return errTable[code].name;
}

int
errExitCode(ErrCode code) {
    if ((unsigned)code >= ERR_CODE_MAX)
        return 70;
    return errTable[code].exitCode;
}
