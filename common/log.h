/*
 * The one log module. The level is checked before any formatting; text or JSON lines are chosen
 * here and nowhere else. Each line is written with a single write(2), so lines from several
 * threads never interleave. Never log a secret.
 *
 * Repeated lines are rate-limited: a message (same level, same text) written again within a
 * second of the line that showed it is counted, not written; once that second is over, the next
 * line written (or logFlushRepeats()) first writes the message once more with
 * " (repeated N times)" appended. A loop failing thousands of times a second thus writes about
 * two lines a second, not megabytes. The last LOG_REPEAT_SLOTS distinct messages are tracked.
 */
#ifndef BV_COMMON_LOG_H
#define BV_COMMON_LOG_H

#include <stdatomic.h>

typedef enum LogLevel { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE } LogLevel;
typedef enum LogFormat { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON } LogFormat;

extern atomic_int logLevelCurrent;

void logSetLevel(LogLevel level);
/* Parse "error|warn|info|debug|trace"; returns -1 on an unknown name. */
int logLevelParse(const char *name, LogLevel *level);
void logSetFormat(LogFormat format);
/* Log to this file (appending) instead of stderr; NULL returns to stderr. Returns -1 and sets
 * errno when the file cannot be opened; a symbolic link is refused (ELOOP), never followed.
 * Calling it again with the same path reopens the file (SIGHUP). */
int logSetFile(const char *path);
int logReopen(void);

#define LOG_REPEAT_SLOTS 8

/* Write the summary line of every message counted as repeated and not yet summarised, at once
 * (at exit, or before the log file changes). */
void logFlushRepeats(void);

void logWrite(LogLevel level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((int)(lvl) <= atomic_load_explicit(&logLevelCurrent, memory_order_relaxed))            \
            logWrite((lvl), __FILE__, __LINE__, __VA_ARGS__);                                      \
    } while (0)

#define logError(...) LOG_AT(LOG_ERROR, __VA_ARGS__)
#define logWarn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define logInfo(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define logDebug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)
#define logTrace(...) LOG_AT(LOG_TRACE, __VA_ARGS__)

#endif
