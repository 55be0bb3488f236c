/*
 * GTID states of either flavour as text, compared: a MariaDB position (`0-1-100,1-2-7`) or a
 * MySQL GTID set, as segments, checkpoints and base backups record them.
 */
#ifndef BV_ARCHIVE_GTIDSTATE_H
#define BV_ARCHIVE_GTIDSTATE_H

#include <stdbool.h>

#include "binlog/event.h"
#include "common/err.h"

/* Whether `state` (a MariaDB position `0-1-100,1-2-7` or a MySQL set) includes every transaction
 * of `target` (a single GTID, or a position / set). ERR_FORMAT for malformed text. */
int archiveGtidReached(BinlogFlavour flavour, const char *state, const char *target, bool *reached, Err *err);
/* Whether two states are the same (MariaDB: same GTID per domain; MySQL: same set). */
int archiveGtidStateEqual(BinlogFlavour flavour, const char *a, const char *b, bool *equal, Err *err);

#endif
