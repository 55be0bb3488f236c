/*
 * The textual forms recovery reads and prints: times of day in a time zone, and binlog positions
 * FILE:POS. Kept together, apart from planning, so that they can give way to the program's one
 * parser of each form (common/, binlog/) without touching the rest of recover/.
 */
#ifndef BV_RECOVER_WHEN_H
#define BV_RECOVER_WHEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum RecoverTzKind { RECOVER_TZ_UTC = 0, RECOVER_TZ_OFFSET, RECOVER_TZ_NAMED } RecoverTzKind;

/* The time zone in which the user's times are read and printed. */
typedef struct RecoverTz {
    RecoverTzKind kind;
    int offsetSeconds; /* OFFSET: east of UTC */
    char name[128];    /* NAMED: a zone of the tz database, e.g. Europe/Paris; the text otherwise */
} RecoverTz;

/* Parse "UTC" (or NULL / "" / "Z"), a fixed offset "+02:00" / "-0530", or a tz database name
 * ("Europe/Paris", which must exist under $TZDIR or /usr/share/zoneinfo). ERR_USAGE otherwise. */
int recoverTzParse(const char *text, RecoverTz *tz, Err *err);

/* Parse 'YYYY-MM-DD HH:MM:SS[.ffffff]' (a 'T' between date and time is accepted) in zone tz into
 * microseconds since the epoch. A local time that a DST change makes ambiguous or skips is resolved
 * as mktime(3) does. Named zones switch the process's TZ for the call: not thread-safe, call before
 * starting threads. ERR_USAGE naming the expected form. */
int recoverTimeParse(const char *text, const RecoverTz *tz, uint64_t *us, Err *err);

/* "YYYY-MM-DD HH:MM:SS" (with ".ffffff" when micro) in zone tz. Same thread caveat. */
void recoverTimeFormat(uint64_t us, const RecoverTz *tz, bool micro, char *out, size_t size);

/* Parse FILE:POS (a valid binlog file name, POS decimal). ERR_USAGE. */
int recoverPositionParse(const char *text, char *file, size_t fileSize, uint64_t *pos, Err *err);

/* "YYYY-MM-DD HH:MM:SS[.ffffff] UTC" (the fraction only when there is one), "-" for 0: how
 * recovery names commit times in its messages and its JSON. */
void recoverTimeUtc(uint64_t us, char *out, size_t size);

#endif
