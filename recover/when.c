/*
 * Times in a time zone and FILE:POS positions, as the user writes them (recover/when.h).
 */
#include "recover/when.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "archive/segment.h"
#include "common/mem.h"

static bool
tzNameValid(const char *name) {
    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL || strlen(name) >= sizeof(((RecoverTz *)0)->name))
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
            return false;
    return true;
}

int
recoverTzParse(const char *text, RecoverTz *tz, Err *err) {
    memset(tz, 0, sizeof(*tz));
    if (text == NULL || text[0] == '\0' || strcmp(text, "UTC") == 0 || strcmp(text, "utc") == 0 ||
        strcmp(text, "Z") == 0) {
        tz->kind = RECOVER_TZ_UTC;
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
            tz->kind = RECOVER_TZ_OFFSET;
            tz->offsetSeconds = (text[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
            snprintf(tz->name, sizeof(tz->name), "%s", text);
            return 0;
        }
        return errSet(err, ERR_USAGE, "invalid time zone '%s': expected UTC, an offset like +02:00, or a name like Europe/Paris",
                      text);
    }
    if (tzNameValid(text)) {
        const char *dir = getenv("TZDIR");
        char path[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", text);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            tz->kind = RECOVER_TZ_NAMED;
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

int
recoverTimeParse(const char *text, const RecoverTz *tz, uint64_t *us, Err *err) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h, m, s, n = 0;
    uint32_t frac = 0;
    const char *p;
    struct tm tm = {0};
    time_t t;

    if (sscanf(text, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3 || n != 10 || (text[10] != ' ' && text[10] != 'T'))
        goto bad;
    if (sscanf(text + 11, "%2d:%2d:%2d%n", &h, &m, &s, &n) != 3 || n != 8)
        goto bad;
    for (int i = 0; i < 19; i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !isdigit((unsigned char)text[i]))
            goto bad;
    p = text + 19;
    if (*p == '.') {
        int digits = 0;

        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            if (digits == 6)
                goto bad;
            frac = frac * 10 + (uint32_t)(*p - '0');
        }
        if (digits == 0)
            goto bad;
        for (; digits < 6; digits++)
            frac *= 10;
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
    if (tz->kind == RECOVER_TZ_NAMED) {
        TzSaved saved = tzPush(tz->name);

        tm.tm_isdst = -1;
        t = mktime(&tm);
        tzPop(&saved);
    } else {
        t = timegm(&tm) - (tz->kind == RECOVER_TZ_OFFSET ? tz->offsetSeconds : 0);
    }
    if (t < 0)
        return errSet(err, ERR_USAGE, "invalid time '%s': before 1970", text);
    *us = (uint64_t)t * 1000000u + frac;
    return 0;
bad:
    return errSet(err, ERR_USAGE, "invalid time '%s': expected 'YYYY-MM-DD HH:MM:SS[.ffffff]'", text);
}

void
recoverTimeFormat(uint64_t us, const RecoverTz *tz, bool micro, char *out, size_t size) {
    time_t sec = (time_t)(us / 1000000u);
    struct tm tm;
    size_t n;

    if (tz != NULL && tz->kind == RECOVER_TZ_NAMED) {
        TzSaved saved = tzPush(tz->name);

        localtime_r(&sec, &tm);
        tzPop(&saved);
    } else {
        if (tz != NULL && tz->kind == RECOVER_TZ_OFFSET)
            sec += tz->offsetSeconds;
        gmtime_r(&sec, &tm);
    }
    n = strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
    if (micro && n + 8 <= size)
        snprintf(out + n, size - n, ".%06u", (unsigned)(us % 1000000u));
}

int
recoverPositionParse(const char *text, char *file, size_t fileSize, uint64_t *pos, Err *err) {
    const char *colon = strrchr(text, ':');
    char *end;
    size_t len;

    if (colon == NULL || colon == text || colon[1] == '\0' || !isdigit((unsigned char)colon[1]))
        goto bad;
    len = (size_t)(colon - text);
    if (len >= fileSize)
        goto bad;
    memcpy(file, text, len);
    file[len] = '\0';
    errno = 0;
    *pos = strtoull(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || !segmentFileNameValid(file))
        goto bad;
    return 0;
bad:
    return errSet(err, ERR_USAGE, "invalid position '%s': expected FILE:POS, e.g. mariadb-bin.000003:256", text);
}

void
recoverTimeUtc(uint64_t us, char *out, size_t size) {
    RecoverTz utc = {.kind = RECOVER_TZ_UTC};

    if (us == 0) {
        snprintf(out, size, "-");
        return;
    }
    recoverTimeFormat(us, &utc, us % 1000000u != 0, out, size);
    snprintf(out + strlen(out), size - strlen(out), " UTC");
}
