/*
 * The option table: one table per command (name, type, default, range, help) drives the command
 * line, the INI config file (--config FILE, same keys) and --help (Redis static_configs style).
 * Precedence: default < environment variable (where the option names one) < config file <
 * command line. Secret options are refused on the command line, accepted only from the
 * environment or a config file that only its owner can read (0600), and never printed.
 */
#ifndef BV_COMMON_OPT_H
#define BV_COMMON_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"

typedef enum OptType {
    OPT_STRING,   /* char * (allocated) */
    OPT_INT,      /* int64_t */
    OPT_SIZE,     /* int64_t bytes; accepts K, M, G, T suffixes (powers of 1024) */
    OPT_DURATION, /* int64_t milliseconds; accepts ms, s, m, h suffixes; a bare number is seconds */
    OPT_BOOL,     /* bool; a flag on the command line, true/false/yes/no/on/off/1/0 in a file */
} OptType;

#define OPT_SECRET 0x01   /* env or 0600 config file only; never printed */
#define OPT_REQUIRED 0x02 /* must be given somewhere */

typedef struct OptDef {
    const char *name;
    OptType type;
    const char *def; /* default as text, NULL for none */
    int64_t min, max; /* range for numeric types (0, 0 = unchecked) */
    unsigned flags;
    size_t offset; /* of the field in the target struct */
    const char *env; /* environment variable that may supply it, or NULL */
    const char *help;
} OptDef;

typedef struct OptSet {
    const char *command; /* "agent"; also the config file section that applies */
    const char *usage;   /* "binvault agent --source URL --archive URL --spool DIR [options]" */
    const char *about;   /* a paragraph for --help */
    const OptDef *defs;
    size_t count;
} OptSet;

/* Parse argv (argv[0] = the command) into target. Returns 0, 1 when --help was printed (the
 * caller exits 0), or -1 (ERR_USAGE / ERR_CONFIG naming the option and the accepted values).
 * Positional arguments are not accepted unless `positional` is non-NULL: then they are
 * collected there (pointers into argv; *positionalCount set). */
int optParse(const OptSet *set, void *target, int argc, char **argv, char ***positional, int *positionalCount,
             Err *err);

/* Apply the content of a config file (`len` bytes of INI text; `origin` names it in messages):
 * `key = value` lines of the sections [binvault] and [<command>] (lines before any section apply
 * too), `#` / `;` comments, options of the set only (not `config`). seen (may be NULL; set->count
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

/* Free the strings the parser allocated in target. */
void optFree(const OptSet *set, void *target);

#endif
