/*
 * Times as users write them: the one parser of the time forms every command accepts
 * ('2026-11-21 04:30:00', 2026-11-21T04:30:00Z, 2026-11-21), the time zones they are read in (UTC,
 * a fixed offset, a tz database name) and the matching formatter.
 */
#ifndef BV_COMMON_TIME_H
#define BV_COMMON_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum TimeZoneKind { TIME_ZONE_UTC = 0, TIME_ZONE_OFFSET, TIME_ZONE_NAMED } TimeZoneKind;

/* The time zone in which the user's times are read and printed. */
typedef struct TimeZone {
    TimeZoneKind kind;
    int offsetSeconds; /* OFFSET: east of UTC */
    char name[128];    /* NAMED: a zone of the tz database, e.g. Europe/Paris; the text otherwise */
} TimeZone;

/* Parse "UTC" (or NULL / "" / "Z"), a fixed offset "+02:00" / "-0530" / "+02", or a tz database
 * name ("Europe/Paris", which must exist under `tzdir`, /usr/share/zoneinfo when NULL or empty).
 * ERR_USAGE otherwise. */
int timeZoneParse(const char *text, const char *tzdir, TimeZone *tz, Err *err);

/* Parse a time into microseconds since the epoch. Accepted: 'YYYY-MM-DD HH:MM:SS[.ffffff]' (a 'T'
 * between date and time is accepted), in zone tz (NULL: UTC) unless it ends with 'Z' (then UTC), and
 * 'YYYY-MM-DD' (midnight in tz). A local time that a DST change makes ambiguous or skips is resolved
 * as mktime(3) does. Named zones switch the process's TZ for the call: not thread-safe, call before
 * starting threads. ERR_USAGE naming the accepted forms; before 1970 is refused. */
int timeParse(const char *text, const TimeZone *tz, uint64_t *us, Err *err);

/* "YYYY-MM-DD HH:MM:SS" (with ".ffffff" when micro) in zone tz (NULL: UTC). Same thread caveat. */
void timeFormat(uint64_t us, const TimeZone *tz, bool micro, char *out, size_t size);

/* `us` in UTC as "2026-11-21 14:02:59 UTC" ("-" for 0), with ".ffffff" when `micro` and the
 * time has a fraction of a second: how binvault prints commit times. */
void timeFormatUtc(uint64_t us, bool micro, char *out, size_t size);

/* `us` in UTC as ISO 8601 to the second, "2026-11-21T04:30:00Z": how archive documents and
 * machine-readable output write times. timeIsoNow() writes the current time so. */
void timeFormatIso(uint64_t us, char *out, size_t size);
void timeIsoNow(char *out, size_t size);

/* Microseconds since the epoch of CLOCK_REALTIME_COARSE: the wall clock at the kernel's last tick,
 * up to a few ms behind, for per-transaction readings where that precision suffices (see
 * retryNowCoarseMs()). */
uint64_t timeNowCoarseUs(void);

#endif
