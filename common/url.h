/*
 * Server addresses as URLs: `mysql://USER@HOST:PORT`.
 *
 * Accepted forms: `mysql://USER@HOST:PORT`, `mysql://USER@HOST` (port 3306),
 * `mysql://USER@[::1]:3306` (IPv6 in brackets), `mysql://HOST[:PORT]` (the user comes from
 * elsewhere), and the scheme `mariadb://` as a synonym. The user may be percent-encoded
 * (`repl%40app` for `repl@app`); a trailing `/` is allowed. A server on this machine can be
 * reached through its unix socket: `mysql://USER@localhost/?socket=/run/mysqld/mysqld.sock` (host
 * localhost, no port, an absolute path, percent-encoded where needed; the one query parameter).
 * A password in the URL is refused: credentials come from the environment or a 0600 file, never
 * from a command line.
 */
#ifndef BV_COMMON_URL_H
#define BV_COMMON_URL_H

#include <stdint.h>

#include "common/err.h"

#define URL_MYSQL_DEFAULT_PORT 3306

typedef struct MysqlUrl {
    char *user; /* NULL when the URL has no user */
    char *host; /* host name or address, IPv6 without the brackets */
    unsigned port;
    char *socket; /* ?socket=PATH, decoded: connect through that unix socket; NULL = TCP */
} MysqlUrl;

/* Parse text. Errors (ERR_USAGE) quote the URL (never a password) and say what is wrong:
 * `invalid server URL 'x': expected mysql://USER@HOST[:PORT]`. */
MysqlUrl *urlMysqlNew(const char *text, Err *err);

/* The canonical text `mysql://user@host:port` (user left out when NULL, IPv6 in brackets), for
 * messages and logs; allocated, bvFree() it. */
char *urlMysqlFormat(const char *user, const char *host, unsigned port);

/* The same for a unix socket: `mysql://user@localhost/?socket=PATH`; allocated. */
char *urlMysqlFormatSocket(const char *user, const char *socket);

void urlMysqlFree(MysqlUrl *url);

/* "ADDR:PORT" or "[ADDR]:PORT" (IPv6, which needs the brackets), port 0 to 65535; *host is
 * allocated. `option` names the option in errors ("--listen"). The one parser of that form. */
int urlHostPortParse(const char *text, const char *option, char **host, uint16_t *port, Err *err);

#endif
