/*
 * The target of a recovery: a MariaDB server, reached over SQL, that applies the recovery through
 * its own replication applier. recoverIntoConnect() checks it can (a MariaDB 10.0 or later) and
 * reads where it is; recover/target.c is the only file that sends it SQL.
 *
 * Errors: ERR_TARGET for the server (a failed query, a MySQL server), ERR_AUTH for a refused login
 * or a missing privilege.
 */
#ifndef BV_RECOVER_TARGET_H
#define BV_RECOVER_TARGET_H

#include <stdbool.h>
#include <stddef.h>
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
/* major * 10000 + minor * 100 + patch, e.g. 101119. */
unsigned recoverIntoVersionId(const RecoverInto *t);

/* The global privileges a recovery needs on a MariaDB server of versionId (as
 * recoverIntoVersionId()), and which `grants` (the lines of SHOW GRANTS, '\n'-separated: the user's
 * and its current role's) lacks. From 10.5.2: REPLICATION SLAVE ADMIN (gtid_slave_pos, CHANGE
 * MASTER, START / STOP SLAVE, the parallel applier's settings), SLAVE MONITOR from 10.5.9 (SHOW ALL
 * SLAVES STATUS), RELOAD (RESET SLAVE ... ALL, the cleanup) and, when changeServerId, REPLICATION
 * MASTER ADMIN (SET GLOBAL server_id); before 10.5.2, SUPER and RELOAD. ALL PRIVILEGES holds them
 * all; SUPER holds all but RELOAD before 11.0. Writes the names, ", "-separated, to needed and
 * missing ("" when nothing is missing); `why` gets, for each missing one, what it is for. */
void recoverGrantsMissing(const char *grants, unsigned versionId, bool changeServerId, char *needed, char *missing,
                          char *why, size_t size);

/* What recoverIntoCheckGrants() found. */
typedef struct RecoverGrantCheck {
    char account[320]; /* CURRENT_USER() as 'user'@'host' */
    char needed[512];  /* the privileges needed, ", "-separated */
} RecoverGrantCheck;

/* Check, from SHOW GRANTS, that the target's user has every privilege a recovery needs (above),
 * before anything changes: -1 and ERR_AUTH listing every missing one, what it is for and the
 * GRANT statement that adds them all; ERR_TARGET when the grants cannot be read. */
int recoverIntoCheckGrants(RecoverInto *t, bool changeServerId, RecoverGrantCheck *out, Err *err);

void recoverIntoFree(RecoverInto *t);

#endif
