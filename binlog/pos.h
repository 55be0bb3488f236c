/*
 * Binlog positions as users write them: FILE:POS (mariadb-bin.000003:256). The one parser of that
 * form, for every command and option that takes a position.
 */
#ifndef BV_BINLOG_POS_H
#define BV_BINLOG_POS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BINLOG_POS_FILE_MAX 256

typedef struct BinlogPos {
    char file[BINLOG_POS_FILE_MAX]; /* "" when unset */
    uint64_t pos;
} BinlogPos;

/* A binlog file name as servers write them: 1 to 255 of [A-Za-z0-9._-], not starting with '.', no
 * ".tmp." in it. */
bool binlogFileNameValid(const char *file);

/* Parse FILE:POS (FILE valid as above, POS decimal). With `posOptional`, FILE alone is accepted
 * and *out gets POS 4, the first event of a file. ERR_USAGE naming the expected form. */
int binlogPosParse(const char *text, bool posOptional, BinlogPos *out, Err *err);

/* Option parsers (common/opt.h OptParseFn) of FILE:POS into a BinlogPos `field`, or a check of the text
 * when field is NULL: binlogPosOptParse() takes FILE:POS; binlogPosOptParseStart() takes a start
 * point, FILE[:POS] with POS from 4 (the first event) to 4294967295. */
int binlogPosOptParse(const char *text, void *field, Err *err);
int binlogPosOptParseStart(const char *text, void *field, Err *err);

#endif
