/*
 * The option table: one table per command (name, type, default, range, help) drives the command
 * line, the INI config file (--config FILE, same keys) and --help (Redis static_configs style).
 * Precedence: default < environment variable (where the option names one) < config file <
 * command line. Secret options are refused on the command line, accepted only from the
 * environment or a config file that only its owner can read (0600), and never printed.
 * Each textual form has one parser, used here and everywhere else: sizes and durations (below),
 * times (common/time.h), HOST:PORT and server URLs (common/url.h), FILE:POS (binlog/pos.h, given
 * to the table as a parse function since binlog/ sits above common/).
 */
#ifndef BV_COMMON_OPT_H
#define BV_COMMON_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/time.h"

typedef enum OptType {
    OPT_STRING,   /* char * (allocated); with OPT_REPEAT an OptList */
    OPT_INT,      /* int64_t */
    OPT_SIZE,     /* int64_t bytes; accepts K, M, G, T suffixes (powers of 1024) */
    OPT_DURATION, /* int64_t milliseconds; accepts ms, s, m, h suffixes; a bare number is seconds */
    OPT_BOOL,     /* bool; a flag on the command line, true/false/yes/no/on/off/1/0 in a file */
    OPT_ENUM,     /* const char *: the entry of `choices` given (not allocated) */
    OPT_TIME,     /* OptTime: a time as timeParse() reads it, in the set's OPT_TIMEZONE option (UTC without) */
    OPT_TIMEZONE, /* TimeZone, as timeZoneParse() reads it (named zones under $TZDIR) */
    OPT_HOSTPORT, /* OptHostPort: HOST:PORT or [IPv6]:PORT, as urlHostPortParse() reads it */
    OPT_URL,      /* char * (allocated): a URL of one of the schemes in `choices` (see below) */
    OPT_POSITION, /* the def's `parse` fills the field: BinlogPos with binlogPosOptParse() */
} OptType;

#define OPT_SECRET 0x01   /* env or 0600 config file only; never printed */
#define OPT_REQUIRED 0x02 /* must be given somewhere */
#define OPT_REPEAT 0x04   /* OPT_STRING: every value given is kept (OptList); a higher source replaces a lower one's */
#define OPT_EMPTY 0x08    /* an empty environment variable is a value, "" (an empty password); without it, unset */

/* An OPT_TIME value; text is NULL when the option was not given. */
typedef struct OptTime {
    char *text;
    uint64_t us;
} OptTime;

/* An OPT_HOSTPORT value; host is NULL when the option was not given and has no default. */
typedef struct OptHostPort {
    char *host; /* IPv6 without brackets */
    uint16_t port;
} OptHostPort;

/* An OPT_STRING | OPT_REPEAT value. */
typedef struct OptList {
    char **items;
    size_t count;
} OptList;

/* Parse `text` into `field` (OPT_POSITION), or check it before it is stored (other types; field is
 * NULL). ERR_USAGE saying what is wrong; the caller names the option. */
typedef int OptParseFn(const char *text, void *field, Err *err);

typedef struct OptDef {
    const char *name;
    OptType type;
    const char *def; /* default as text, NULL for none */
    int64_t min, max; /* range for numeric types (0, 0 = unchecked) */
    unsigned flags;
    size_t offset; /* of the field in the target struct */
    const char *env; /* environment variables that may supply it, first set wins ("A B"), or NULL */
    const char *help;
    /* OPT_ENUM: the accepted values. OPT_URL: the accepted schemes ("mysql" and "mariadb" are read by
     * urlMysqlNew(); "" accepts a plain path); NULL-terminated. */
    const char *const *choices;
    OptParseFn *parse; /* see OptParseFn; NULL for none */
} OptDef;

typedef struct OptSet {
    const char *command; /* "agent"; also the config file section that applies */
    const char *usage;   /* "binvault agent --source URL --archive URL --spool DIR [options]" */
    const char *about;   /* a paragraph for --help */
    const OptDef *defs;
    size_t count;
    /* Arguments after the options: NULL for none, else what they are ("FILE...") and how many
     * (max -1: no limit). */
    const char *args;
    int argsMin, argsMax;
} OptSet;

/* Parse the environment (`envp`, "NAME=value" entries, NULL-terminated; may be NULL), --config FILE
 * and argv (argv[0] = the command) into target. Returns 0, 1 when --help was printed (the caller
 * exits 0), or -1 (ERR_USAGE / ERR_CONFIG naming the option and the accepted values). The
 * arguments after the options (see OptSet.args; "--" ends the options) are collected in
 * *positional (may be NULL when set->args is NULL; pointers into argv, the array freed with
 * bvFree(); *positionalCount set). */
int optParse(const OptSet *set, void *target, int argc, char **argv, char *const *envp, char ***positional,
             int *positionalCount, Err *err);

/* Apply the content of a config file (`len` bytes of INI text; `origin` names it in messages):
 * `key = value` lines of the sections [binvault] (shared by every command: options of other
 * commands are skipped there) and [<command>] (lines before any section apply too; options of the
 * set only, not `config`), `#` / `;` comments. seen (may be NULL; set->count
 * entries) marks the options set; *secretSeen (may be NULL) says whether a secret was set, for the
 * caller to check the file's mode. ERR_CONFIG / ERR_USAGE naming the line. What optParse() does
 * with --config FILE; exposed for tests and the fuzzer. */
int optParseConfigText(const OptSet *set, void *target, const char *text, size_t len, const char *origin, bool *seen,
                       bool *secretSeen, Err *err);

/* Parse a value of an option's type (exposed for tests). */
int optParseSize(const char *text, int64_t *out);
int optParseDuration(const char *text, int64_t *outMs);

/* "name=value name=value ..." of the effective settings, secrets shown as "(set)". */
void optDescribe(const OptSet *set, const void *target, Buf *out);

void optUsage(const OptSet *set, FILE *out);

/* Free what the parser allocated in target. */
void optFree(const OptSet *set, void *target);

#endif
