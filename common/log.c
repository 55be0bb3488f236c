#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/mem.h"

atomic_int logLevelCurrent = LOG_INFO;

static LogFormat logFormat = LOG_FORMAT_TEXT;
static int logFd = 2;
static char *logPath;
static pthread_mutex_t logLock = PTHREAD_MUTEX_INITIALIZER;

static const char *const levelNames[] = {"error", "warn", "info", "debug", "trace"};

void
logSetLevel(LogLevel level) {
    atomic_store(&logLevelCurrent, (int)level);
}

int
logLevelParse(const char *name, LogLevel *level) {
    for (size_t i = 0; i < sizeof(levelNames) / sizeof(levelNames[0]); i++) {
        if (strcmp(name, levelNames[i]) == 0) {
            *level = (LogLevel)i;
            return 0;
        }
    }
    return -1;
}

void
logSetFormat(LogFormat format) {
    logFormat = format;
}

static int
openLog(const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0)
        return -1;
    pthread_mutex_lock(&logLock);
    if (logFd != 2)
        close(logFd);
    logFd = fd;
    pthread_mutex_unlock(&logLock);
    return 0;
}

int
logSetFile(const char *path) {
    if (path == NULL) {
        pthread_mutex_lock(&logLock);
        if (logFd != 2)
            close(logFd);
        logFd = 2;
        bvFree(logPath);
        logPath = NULL;
        pthread_mutex_unlock(&logLock);
        return 0;
    }
    if (openLog(path) != 0)
        return -1;
    bvFree(logPath);
    logPath = bvStrdup(path);
    return 0;
}

int
logReopen(void) {
    return logPath ? openLog(logPath) : 0;
}

void
logWrite(LogLevel level, const char *file, int line, const char *fmt, ...) {
    char msg[4096], out[8192], stamp[64];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int len;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    len = (int)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + len, sizeof(stamp) - (size_t)len, ".%03ldZ", (long)(tv.tv_usec / 1000));

    if (logFormat == LOG_FORMAT_JSON) {
        char esc[6000];

        jsonEscape(esc, sizeof(esc), msg);
        len = snprintf(out, sizeof(out), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"", stamp,
                       levelNames[level], esc);
        if (level >= LOG_DEBUG && len > 0 && (size_t)len < sizeof(out))
            len += snprintf(out + len, sizeof(out) - (size_t)len, ",\"src\":\"%s:%d\"", file, line);
        if (len > 0 && (size_t)len < sizeof(out) - 2)
            len += snprintf(out + len, sizeof(out) - (size_t)len, "}\n");
    } else if (level >= LOG_DEBUG) {
        len = snprintf(out, sizeof(out), "%s %s %s (%s:%d)\n", stamp, levelNames[level], msg, file,
                       line);
    } else {
        len = snprintf(out, sizeof(out), "%s %s %s\n", stamp, levelNames[level], msg);
    }
    if (len < 0)
        return;
    if ((size_t)len >= sizeof(out)) {
        len = sizeof(out) - 1;
        out[len - 1] = '\n';
    }
    pthread_mutex_lock(&logLock);
    /* A failed log write has nowhere to be reported; the line is lost, nothing else. */
    if (write(logFd, out, (size_t)len) < 0)
        errno = 0;
    pthread_mutex_unlock(&logLock);
}
