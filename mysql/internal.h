/*
 * What the two files of mysql/ share: the SQL connection's innards (mysql/sql.c) that the replica
 * stream (mysql/stream.c) drives its commands through, and the error helpers of both.
 */
#ifndef BV_MYSQL_INTERNAL_H
#define BV_MYSQL_INTERNAL_H

#include <stdbool.h>

#include <mysql.h>

#include "common/err.h"
#include "mysql/client.h"

/* Largest packet the client accepts: the server's own limit for replication
 * (slave_max_allowed_packet, max_allowed_packet) is at most 1 GiB. */
#define SQL_MAX_PACKET ((size_t)1 << 30)

struct SqlConn {
    MYSQL *mysql;
    char *url;
    char *user;
    char *passwordFrom;
    ErrCode failCode;
};

/* Whether a server error code means a missing privilege or refused credentials. */
bool sqlAccessDenied(unsigned code);

/* Fill err for a failure of `doing` on c that a missing `grant` explains (ERR_AUTH naming it). */
int sqlFailGrant(const SqlConn *c, const char *doing, const char *grant, Err *err);

/* The same for an error that is not the connection's last (code and message of an error packet
 * the replica stream read from the socket itself). */
int sqlFailError(const SqlConn *c, const char *doing, const char *grant, unsigned code, const char *msg, Err *err);

/* Milliseconds as whole seconds for libmariadb's timeouts (at least 1). */
unsigned sqlMsToSeconds(unsigned ms);

#endif
