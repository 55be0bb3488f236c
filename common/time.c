/* Times as users write them and the zones they are read in (common/time.h). */
#include "common/time.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/mem.h"

static bool
tzNameValid(const char *name) {
    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL || strlen(name) >= sizeof(((TimeZone *)0)->name))
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
            return false;
    return true;
}

int
timeZoneParse(const char *text, const char *tzdir, TimeZone *tz, Err *err) {
    memset(tz, 0, sizeof(*tz));
    if (text == NULL || text[0] == '\0' || strcmp(text, "UTC") == 0 || strcmp(text, "utc") == 0 ||
        strcmp(text, "Z") == 0) {
        tz->kind = TIME_ZONE_UTC;
        snprintf(tz->name, sizeof(tz->name), "UTC");
        return 0;
    }
    if (text[0] == '+' || text[0] == '-') {
        const char *d = text + 1;
        size_t len = strlen(d);
        int h = -1, m = -1;

        if (len == 2 && isdigit((unsigned char)d[0]) && isdigit((unsigned char)d[1]))
            h = (d[0] - '0') * 10 + d[1] - '0', m = 0;
        else if ((len == 4 || (len == 5 && d[2] == ':')) && isdigit((unsigned char)d[0]) &&
                 isdigit((unsigned char)d[1]) && isdigit((unsigned char)d[len - 2]) && isdigit((unsigned char)d[len - 1]))
            h = (d[0] - '0') * 10 + d[1] - '0', m = (d[len - 2] - '0') * 10 + d[len - 1] - '0';
        if (h >= 0 && h <= 14 && m >= 0 && m < 60) {
            tz->kind = TIME_ZONE_OFFSET;
            tz->offsetSeconds = (text[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
            snprintf(tz->name, sizeof(tz->name), "%s", text);
            return 0;
        }
    } else if (tzNameValid(text)) {
        char path[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", tzdir && tzdir[0] ? tzdir : "/usr/share/zoneinfo", text);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            tz->kind = TIME_ZONE_NAMED;
            snprintf(tz->name, sizeof(tz->name), "%s", text);
            return 0;
        }
        return errSet(err, ERR_USAGE, "unknown time zone '%s': '%s' does not exist (install tzdata, or give an offset "
                      "like +02:00)", text, path);
    }
    return errSet(err, ERR_USAGE, "invalid time zone '%s': expected UTC, an offset like +02:00, or a name like Europe/Paris",
                  text);
}

/* Switch the process's TZ to a named zone and back (localtime/mktime have no zone argument). */
typedef struct TzSaved {
    bool had;
    char *value;
} TzSaved;

static TzSaved
tzPush(const char *name) {
    TzSaved saved = {0};
    const char *old = getenv("TZ");

    saved.had = old != NULL;
    saved.value = old ? bvStrdup(old) : NULL;
    setenv("TZ", name, 1);
    tzset();
    return saved;
}

static void
tzPop(TzSaved *saved) {
    if (saved->had)
        setenv("TZ", saved->value, 1);
    else
        unsetenv("TZ");
    tzset();
    bvFree(saved->value);
}

static bool
leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Exactly `n` digits at p, as a number; -1 otherwise. */
static int
digits(const char *p, int n) {
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int
timeParse(const char *text, const TimeZone *tz, uint64_t *us, Err *err) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h = 0, m = 0, s = 0;
    uint32_t frac = 0;
    const char *p;
    bool utc = tz == NULL || tz->kind == TIME_ZONE_UTC;
    struct tm tm = {0};
    time_t t;

    Y = digits(text, 4);
    if (Y < 0 || text[4] != '-' || (M = digits(text + 5, 2)) < 0 || text[7] != '-' || (D = digits(text + 8, 2)) < 0)
        goto bad;
    p = text + 10;
    if (*p == ' ' || *p == 'T') {
        if ((h = digits(p + 1, 2)) < 0 || p[3] != ':' || (m = digits(p + 4, 2)) < 0 || p[6] != ':' ||
            (s = digits(p + 7, 2)) < 0)
            goto bad;
        p += 9;
        if (*p == '.') {
            int n = 0;

            for (p++; isdigit((unsigned char)*p); p++, n++) {
                if (n == 6)
                    goto bad;
                frac = frac * 10 + (uint32_t)(*p - '0');
            }
            if (n == 0)
                goto bad;
            for (; n < 6; n++)
                frac *= 10;
        }
        if (*p == 'Z') {
            utc = true;
            p++;
        }
    }
    if (*p != '\0')
        goto bad;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > days[M - 1] + (M == 2 && leap(Y)) || h > 23 || m > 59 || s > 59)
        return errSet(err, ERR_USAGE, "invalid time '%s': no such date or time", text);
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    if (!utc && tz->kind == TIME_ZONE_NAMED) {
        TzSaved saved = tzPush(tz->name);

        tm.tm_isdst = -1;
        t = mktime(&tm);
        tzPop(&saved);
    } else {
        t = timegm(&tm) - (!utc ? tz->offsetSeconds : 0);
    }
    if (t < 0)
        return errSet(err, ERR_USAGE, "invalid time '%s': before 1970", text);
    *us = (uint64_t)t * 1000000u + frac;
    return 0;
bad:
    return errSet(err, ERR_USAGE, "invalid time '%s': expected 'YYYY-MM-DD HH:MM:SS[.ffffff]' as '2026-11-21 04:30:00', "
                  "2026-11-21T04:30:00Z (UTC) or 2026-11-21", text);
}

void
timeFormat(uint64_t us, const TimeZone *tz, bool micro, char *out, size_t size) {
    time_t sec = (time_t)(us / 1000000u);
    struct tm tm;
    size_t n;

    if (tz != NULL && tz->kind == TIME_ZONE_NAMED) {
        TzSaved saved = tzPush(tz->name);

        localtime_r(&sec, &tm);
        tzPop(&saved);
    } else {
        if (tz != NULL && tz->kind == TIME_ZONE_OFFSET)
            sec += tz->offsetSeconds;
        gmtime_r(&sec, &tm);
    }
    n = strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
    if (micro && n + 8 <= size)
        snprintf(out + n, size - n, ".%06u", (unsigned)(us % 1000000u));
}

void
timeFormatUtc(uint64_t us, bool micro, char *out, size_t size) {
    size_t n;

    if (us == 0) {
        snprintf(out, size, "-");
        return;
    }
    timeFormat(us, NULL, micro && us % 1000000u != 0, out, size);
    n = strlen(out);
    snprintf(out + n, size - n, " UTC");
}

void
timeFormatIso(uint64_t us, char *out, size_t size) {
    time_t sec = (time_t)(us / 1000000u);
    struct tm tm;

    gmtime_r(&sec, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
timeIsoNow(char *out, size_t size) {
    timeFormatIso((uint64_t)time(NULL) * 1000000u, out, size);
}

uint64_t
timeNowCoarseUs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
