/*
 * The target of a recovery: a MariaDB server, reached over SQL, that applies the recovery through
 * its own replication applier. recoverIntoConnect() checks it can (a MariaDB 10.0 or later) and
 * reads where it is; recover/target.c is the only file that sends it SQL.
 *
 * Errors: ERR_TARGET for the server (a failed query, a MySQL server), ERR_AUTH for a refused login.
 */
#ifndef BV_RECOVER_TARGET_H
#define BV_RECOVER_TARGET_H

#include <stdint.h>

#include "common/err.h"
#include "mysql/client.h"

typedef struct RecoverInto RecoverInto;

/* Connect to the target (opts->failCode is forced to ERR_TARGET) and read what recovery needs:
 * version, @@server_id, @@gtid_slave_pos. A MySQL server is refused (ERR_TARGET): binvault
 * applies through a MariaDB replica. A refused login is ERR_AUTH naming opts->passwordFrom. */
RecoverInto *recoverIntoConnect(const SqlConnOpts *opts, Err *err);
const char *recoverIntoUrl(const RecoverInto *t);
const char *recoverIntoVersion(const RecoverInto *t);
uint32_t recoverIntoServerId(const RecoverInto *t);
/* @@gtid_slave_pos when connecting, or when a recovery last read it ("" when empty, as on a server
 * restored from a backup). */
const char *recoverIntoGtidSlavePos(const RecoverInto *t);
void recoverIntoFree(RecoverInto *t);

#endif
