/* The log module: levels, text or JSON lines, the log file, the repeat limiter; common/log.h. */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
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

#define LOG_MSG_MAX 4096

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
    /* Never through a symbolic link: the agent often runs as root, and a link planted in the log
     * directory would have it append to any file. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);

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
    logFlushRepeats();
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

/* A message counted by the rate limiter (see log.h). */
typedef struct LogRepeat {
    bool used;
    LogLevel level;
    const char *file;
    int line;
    int64_t shownMs;     /* when the message was last written */
    uint64_t shownSeq;   /* logShown when it was: the slot shown longest ago is reused first */
    unsigned long count; /* occurrences since then, not written */
    char msg[LOG_MSG_MAX];
} LogRepeat;

static LogRepeat logRepeats[LOG_REPEAT_SLOTS];
static uint64_t logShown;

/* Format one line of `msg` at `now` into `out`; returns its length. */
static size_t
logFormatLine(char *out, size_t size, const struct timeval *now, LogLevel level, const char *file, int line,
              const char *msg) {
    char stamp[64];
    struct tm tm;
    int len;

    gmtime_r(&now->tv_sec, &tm);
    len = (int)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + len, sizeof(stamp) - (size_t)len, ".%03ldZ", (long)(now->tv_usec / 1000));

    if (logFormat == LOG_FORMAT_JSON) {
        char esc[6000];

        jsonEscape(esc, sizeof(esc), msg);
        len = snprintf(out, size, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"", stamp,
                       levelNames[level], esc);
        if (level >= LOG_DEBUG && len > 0 && (size_t)len < size)
            len += snprintf(out + len, size - (size_t)len, ",\"src\":\"%s:%d\"", file, line);
        if (len > 0 && (size_t)len < size - 2)
            len += snprintf(out + len, size - (size_t)len, "}\n");
    } else if (level >= LOG_DEBUG) {
        len = snprintf(out, size, "%s %s %s (%s:%d)\n", stamp, levelNames[level], msg, file, line);
    } else {
        len = snprintf(out, size, "%s %s %s\n", stamp, levelNames[level], msg);
    }
    if (len < 0)
        return 0;
    if ((size_t)len >= size) {
        len = (int)size - 1;
        out[len - 1] = '\n';
    }
    return (size_t)len;
}

/* Write one line; the caller holds logLock. */
static void
logEmit(const struct timeval *now, LogLevel level, const char *file, int line, const char *msg) {
    char out[8192];
    size_t len = logFormatLine(out, sizeof(out), now, level, file, line, msg);

    /* A failed log write has nowhere to be reported; the line is lost, nothing else. */
    if (len > 0 && write(logFd, out, len) < 0)
        errno = 0;
}

/* Write the summary of `r` if it counted anything; the caller holds logLock. */
static void
logEmitRepeat(LogRepeat *r, const struct timeval *now) {
    char msg[LOG_MSG_MAX + 64];

    if (r->count == 0)
        return;
    snprintf(msg, sizeof(msg), "%s (repeated %lu times)", r->msg, r->count);
    logEmit(now, r->level, r->file, r->line, msg);
    r->count = 0;
}

/* The rate limiter: true when `msg` is to be written now, false when it is only counted. Summaries
 * whose second is over are written first. The caller holds logLock. */
static bool
logRepeatAdmit(const struct timeval *now, LogLevel level, const char *file, int line, const char *msg) {
    int64_t nowMs = (int64_t)now->tv_sec * 1000 + now->tv_usec / 1000;
    LogRepeat *same = NULL, *oldest = &logRepeats[0];

    for (size_t i = 0; i < LOG_REPEAT_SLOTS; i++) {
        LogRepeat *r = &logRepeats[i];

        if (!r->used) {
            if (oldest->used)
                oldest = r;
            continue;
        }
        if (r->count > 0 && nowMs - r->shownMs >= 1000)
            logEmitRepeat(r, now);
        if (r->level == level && strcmp(r->msg, msg) == 0)
            same = r;
        else if (oldest->used && r->shownSeq < oldest->shownSeq)
            oldest = r;
    }
    if (same != NULL) {
        if (nowMs - same->shownMs < 1000) {
            same->count++;
            return false;
        }
        same->shownMs = nowMs;
        same->shownSeq = ++logShown;
        return true;
    }
    /* A new message takes a free slot or the one shown longest ago (summarised first). */
    logEmitRepeat(oldest, now);
    oldest->used = true;
    oldest->level = level;
    oldest->file = file;
    oldest->line = line;
    oldest->shownMs = nowMs;
    oldest->shownSeq = ++logShown;
    oldest->count = 0;
    snprintf(oldest->msg, sizeof(oldest->msg), "%s", msg);
    return true;
}

void
logFlushRepeats(void) {
    struct timeval now;

    gettimeofday(&now, NULL);
    pthread_mutex_lock(&logLock);
    for (size_t i = 0; i < LOG_REPEAT_SLOTS; i++)
        if (logRepeats[i].used)
            logEmitRepeat(&logRepeats[i], &now);
    pthread_mutex_unlock(&logLock);
}

void
logWrite(LogLevel level, const char *file, int line, const char *fmt, ...) {
    char msg[LOG_MSG_MAX];
    struct timeval now;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    gettimeofday(&now, NULL);
    pthread_mutex_lock(&logLock);
    if (logRepeatAdmit(&now, level, file, line, msg))
        logEmit(&now, level, file, line, msg);
    pthread_mutex_unlock(&logLock);
}
