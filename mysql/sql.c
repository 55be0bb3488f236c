/*
 * SQL connections to a MySQL or MariaDB server: the one wrapper of libmariadb's ordinary API
 * (mysql/client.h). With mysql/stream.c, the only files of binvault that talk to libmariadb.
 */
#include "mysql/client.h"

#include <errno.h>
#include <poll.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "mysql/internal.h"

#include "common/bytes.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/url.h"

#define SQL_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define SQL_DEFAULT_WRITE_TIMEOUT_MS 60000
/* SQL text quoted in error messages is cut here: statements are internal, but long. */
#define SQL_QUOTE_MAX 120

static pthread_once_t sqlLibraryOnce = PTHREAD_ONCE_INIT;
static int sqlLibraryStatus;

static void
sqlLibraryInit(void) {
    sqlLibraryStatus = mysql_library_init(0, NULL, NULL);
}

/* The privilege list of "Access denied; you need (at least one of) the X privilege(s) for this
 * operation", or NULL. Written into buf. */
static const char *
sqlNeededGrant(const char *msg, char *buf, size_t size) {
    const char *p = strstr(msg, "you need");
    const char *end;

    if (p == NULL || (p = strstr(p, " the ")) == NULL)
        return NULL;
    p += 5;
    end = strstr(p, " privilege");
    if (end == NULL || end == p || (size_t)(end - p) >= size)
        return NULL;
    memcpy(buf, p, (size_t)(end - p));
    buf[end - p] = '\0';
    return buf;
}

bool
sqlAccessDenied(unsigned code) {
    return code == ER_ACCESS_DENIED_ERROR || code == ER_ACCESS_DENIED_NO_PASSWORD_ERROR ||
           code == ER_SPECIFIC_ACCESS_DENIED_ERROR || code == ER_DBACCESS_DENIED_ERROR ||
           code == ER_TABLEACCESS_DENIED_ERROR || code == ER_COLUMNACCESS_DENIED_ERROR ||
           code == ER_PROCACCESS_DENIED_ERROR;
}

/* Fill err from the connection's last error. doing: what failed, for the message ("query
 * 'SELECT 1'"), or NULL while connecting. grant: the privilege the action needs, named when it is
 * refused (the server does not always say: MariaDB answers a COM_REGISTER_SLAVE without
 * REPLICATION SLAVE with a plain "access denied"); NULL to take it from the server's message. */
int
sqlFailGrant(const SqlConn *c, const char *doing, const char *grant, Err *err) {
    return sqlFailError(c, doing, grant, mysql_errno(c->mysql), mysql_error(c->mysql), err);
}

int
sqlFailError(const SqlConn *c, const char *doing, const char *grant, unsigned code, const char *msg, Err *err) {
    char buf[256];

    if (doing == NULL && (code == ER_ACCESS_DENIED_ERROR || code == ER_ACCESS_DENIED_NO_PASSWORD_ERROR)) {
        if (c->passwordFrom != NULL)
            return errSet(err, ERR_AUTH, "unable to connect to '%s': access denied for user '%s' (check %s)",
                          c->url, c->user, c->passwordFrom);
        return errSet(err, ERR_AUTH, "unable to connect to '%s': access denied for user '%s'", c->url, c->user);
    }
    if (sqlAccessDenied(code)) {
        if (doing == NULL)
            doing = "login";
        if (grant == NULL)
            grant = sqlNeededGrant(msg, buf, sizeof(buf));
        if (grant != NULL && strchr(grant, ',') == NULL)
            return errSet(err, ERR_AUTH,
                          "%s on '%s' was refused: user '%s' lacks the %s privilege (GRANT %s ON *.* TO "
                          "'%s'@'<host>'); server said: %s",
                          doing, c->url, c->user, grant, grant, c->user, msg);
        if (grant != NULL)
            return errSet(err, ERR_AUTH,
                          "%s on '%s' was refused: user '%s' needs one of the privileges %s; server said: %s", doing,
                          c->url, c->user, grant, msg);
        return errSet(err, ERR_AUTH, "%s on '%s' was refused: %s", doing, c->url, msg);
    }
    /* A TLS failure while connecting (certificate not trusted, name mismatch, no TLS on the
     * server) is a configuration problem: retrying will not fix it. */
    if (doing == NULL && code == CR_SSL_CONNECTION_ERROR)
        return errSet(err, ERR_CONFIG, "unable to connect to '%s' over TLS: %s (check --ssl-mode and --ssl-ca)",
                      c->url, msg);
    if (doing == NULL)
        return errSet(err, c->failCode, "unable to connect to '%s': %s", c->url, msg);
    if (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR)
        return errSet(err, c->failCode, "%s on '%s' failed: %s", doing, c->url, msg);
    return errSet(err, c->failCode, "%s on '%s' failed: %s (error %u)", doing, c->url, msg, code);
}

static int
sqlFail(const SqlConn *c, const char *doing, Err *err) {
    return sqlFailGrant(c, doing, NULL, err);
}

/* "query 'SELECT ...'" with the statement cut to SQL_QUOTE_MAX characters. */
static void
sqlDoing(char *buf, size_t size, const char *sql) {
    size_t n = strlen(sql);

    if (n > SQL_QUOTE_MAX)
        snprintf(buf, size, "query '%.*s...'", SQL_QUOTE_MAX, sql);
    else
        snprintf(buf, size, "query '%s'", sql);
}

unsigned
sqlMsToSeconds(unsigned ms) {
    return ms / 1000 + (ms % 1000 != 0);
}

static int
sqlSetOptions(MYSQL *m, const SqlConnOpts *opts) {
    unsigned connectTimeout =
        sqlMsToSeconds(opts->connectTimeoutMs ? opts->connectTimeoutMs : SQL_DEFAULT_CONNECT_TIMEOUT_MS);
    unsigned writeTimeout = sqlMsToSeconds(opts->writeTimeoutMs ? opts->writeTimeoutMs : SQL_DEFAULT_WRITE_TIMEOUT_MS);
    unsigned readTimeout = sqlMsToSeconds(opts->readTimeoutMs);
    unsigned protocol = opts->socket != NULL ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    unsigned localInfile = 0;
    size_t maxPacket = SQL_MAX_PACKET;
    my_bool no = 0, yes = 1;
    int rc = 0;

    rc |= mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &protocol);
    rc |= mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout);
    rc |= mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &writeTimeout);
    if (readTimeout > 0)
        rc |= mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &readTimeout);
    rc |= mysql_optionsv(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &maxPacket);
    rc |= mysql_optionsv(m, MYSQL_OPT_RECONNECT, &no);
    rc |= mysql_optionsv(m, MYSQL_OPT_LOCAL_INFILE, &localInfile);
    rc |= mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (opts->sslMode != SQL_SSL_DISABLED) {
        if (opts->sslCa != NULL)
            rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CA, opts->sslCa);
        if (opts->sslCert != NULL)
            rc |= mysql_optionsv(m, MYSQL_OPT_SSL_CERT, opts->sslCert);
        if (opts->sslKey != NULL)
            rc |= mysql_optionsv(m, MYSQL_OPT_SSL_KEY, opts->sslKey);
        bool verify = opts->sslMode == SQL_SSL_VERIFY || opts->sslMode == SQL_SSL_VERIFY_CA;

        if (opts->sslMode == SQL_SSL_PREFERRED)
            rc |= mysql_ssl_set(m, opts->sslKey, opts->sslCert, opts->sslCa, NULL, NULL);
        if (opts->sslMode == SQL_SSL_REQUIRED || verify)
            rc |= mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes);
        rc |= mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, verify ? &yes : &no);
    }
    return rc ? -1 : 0;
}

static int
masterStatusRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    SqlMasterStatus *m = data;

    (void)lengths;
    (void)err;
    if (nCols < 2 || values[0] == NULL || values[1] == NULL || m->found)
        return 0;
    m->found = true;
    snprintf(m->file, sizeof(m->file), "%s", values[0]);
    m->pos = strtoull(values[1], NULL, 10);
    if (nCols >= 5 && values[4] != NULL)
        m->gtid = bvStrdup(values[4]);
    return 0;
}

int
sqlMasterStatus(SqlConn *c, SqlMasterStatus *out, Err *err) {
    memset(out, 0, sizeof(*out));
    if (sqlQuery(c, "SHOW MASTER STATUS", masterStatusRow, out, err) != 0) {
        bvFree(out->gtid);
        out->gtid = NULL;
        return -1;
    }
    return 0;
}

int
sqlSslModeParse(const char *text, const char *option, SqlSslMode *mode, Err *err) {
    static const struct {
        const char *name;
        SqlSslMode mode;
    } modes[] = {{"disabled", SQL_SSL_DISABLED},   {"preferred", SQL_SSL_PREFERRED},
                 {"required", SQL_SSL_REQUIRED},   {"verify-ca", SQL_SSL_VERIFY_CA},
                 {"verify-identity", SQL_SSL_VERIFY}, {"verify", SQL_SSL_VERIFY}};

    for (size_t i = 0; text != NULL && i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(text, modes[i].name) == 0) {
            *mode = modes[i].mode;
            return 0;
        }
    }
    return errSet(err, ERR_USAGE, "invalid %s '%s': expected disabled, preferred, required, verify-ca or "
                  "verify-identity", option, text ? text : "");
}

SqlConn *
sqlConnect(const SqlConnOpts *opts, Err *err) {
    SqlConn *c;
    unsigned port = opts->port ? opts->port : URL_MYSQL_DEFAULT_PORT;
    const char *user = opts->user ? opts->user : "";

    pthread_once(&sqlLibraryOnce, sqlLibraryInit);
    if (sqlLibraryStatus != 0) {
        errSet(err, ERR_INTERNAL, "unable to initialise the MariaDB client library");
        return NULL;
    }
    if (opts->socket == NULL && (opts->host == NULL || opts->host[0] == '\0')) {
        errSet(err, ERR_USAGE, "no server host given");
        return NULL;
    }
    c = bvCalloc(1, sizeof(*c));
    c->url = opts->socket != NULL ? urlMysqlFormatSocket(opts->user, opts->socket)
                                  : urlMysqlFormat(opts->user, opts->host, port);
    c->user = bvStrdup(user);
    c->passwordFrom = opts->passwordFrom ? bvStrdup(opts->passwordFrom) : NULL;
    c->failCode = opts->failCode != ERR_NONE ? opts->failCode : ERR_SOURCE;
    c->mysql = mysql_init(NULL);
    if (c->mysql == NULL) {
        errSet(err, ERR_INTERNAL, "unable to connect to '%s': mysql_init failed", c->url);
        sqlConnFree(c);
        return NULL;
    }
    if (sqlSetOptions(c->mysql, opts) != 0) {
        errSet(err, ERR_INTERNAL, "unable to connect to '%s': invalid client option", c->url);
        sqlConnFree(c);
        return NULL;
    }
    if (mysql_real_connect(c->mysql, opts->socket != NULL ? "localhost" : opts->host, user,
                           opts->password && opts->password[0] ? opts->password : NULL, NULL,
                           opts->socket != NULL ? 0 : port, opts->socket, 0) == NULL) {
        sqlFail(c, NULL, err);
        sqlConnFree(c);
        return NULL;
    }
    /* Connector/C 3.3 quietly falls back to plain text when the server does not offer TLS, even
     * with MYSQL_OPT_SSL_ENFORCE: check what the connection really uses. */
    if ((opts->sslMode == SQL_SSL_REQUIRED || opts->sslMode == SQL_SSL_VERIFY || opts->sslMode == SQL_SSL_VERIFY_CA) &&
        mysql_get_ssl_cipher(c->mysql) == NULL) {
        errSet(err, c->failCode, "unable to connect to '%s': TLS is required but the server does not offer it",
               c->url);
        sqlConnFree(c);
        return NULL;
    }
    logDebug("connected to '%s', server %s%s", c->url, mysql_get_server_info(c->mysql),
             mysql_get_ssl_cipher(c->mysql) ? " over TLS" : "");
    return c;
}

const char *
sqlConnServerVersion(const SqlConn *c) {
    return mysql_get_server_info(c->mysql);
}

const char *
sqlConnUrl(const SqlConn *c) {
    return c->url;
}

int
sqlExec(SqlConn *c, const char *sql, Err *err) {
    char doing[SQL_QUOTE_MAX + 32];
    MYSQL_RES *res;

    sqlDoing(doing, sizeof(doing), sql);
    if (mysql_real_query(c->mysql, sql, strlen(sql)) != 0)
        return sqlFail(c, doing, err);
    /* A statement that returns rows: drain and drop them. */
    res = mysql_use_result(c->mysql);
    if (res != NULL)
        mysql_free_result(res);
    else if (mysql_field_count(c->mysql) != 0)
        return sqlFail(c, doing, err);
    return 0;
}

int
sqlQuery(SqlConn *c, const char *sql, SqlRowCb cb, void *data, Err *err) {
    char doing[SQL_QUOTE_MAX + 32];
    MYSQL_RES *res;
    MYSQL_ROW row;
    unsigned nCols;

    sqlDoing(doing, sizeof(doing), sql);
    if (mysql_real_query(c->mysql, sql, strlen(sql)) != 0)
        return sqlFail(c, doing, err);
    res = mysql_use_result(c->mysql);
    if (res == NULL) {
        if (mysql_field_count(c->mysql) != 0)
            return sqlFail(c, doing, err);
        return 0; /* a statement without result set */
    }
    nCols = mysql_num_fields(res);
    while ((row = mysql_fetch_row(res)) != NULL) {
        const unsigned long *lengths = mysql_fetch_lengths(res);

        if (cb(data, nCols, (const char *const *)row, lengths, err) != 0) {
            mysql_free_result(res); /* reads and drops the remaining rows */
            return -1;
        }
    }
    if (mysql_errno(c->mysql) != 0) {
        sqlFail(c, doing, err);
        mysql_free_result(res);
        return -1;
    }
    mysql_free_result(res);
    return 0;
}

typedef struct SqlValue {
    char *value;
    bool seen;
} SqlValue;

static int
sqlValueRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    SqlValue *v = data;

    (void)err;
    if (!v->seen && nCols > 0 && values[0] != NULL)
        v->value = bvStrndup(values[0], lengths[0]);
    v->seen = true;
    return 0;
}

int
sqlQueryValue(SqlConn *c, const char *sql, char **out, Err *err) {
    SqlValue v = {NULL, false};

    *out = NULL;
    if (sqlQuery(c, sql, sqlValueRow, &v, err) != 0) {
        bvFree(v.value);
        return -1;
    }
    *out = v.value;
    return 0;
}

char *
sqlEscape(SqlConn *c, const char *text) {
    size_t n = strlen(text);
    char *out = bvMalloc(n * 2 + 1);

    mysql_real_escape_string(c->mysql, out, text, (unsigned long)n);
    return out;
}

void
sqlConnFree(SqlConn *c) {
    if (c == NULL)
        return;
    if (c->mysql != NULL)
        mysql_close(c->mysql);
    bvFree(c->url);
    bvFree(c->user);
    bvFree(c->passwordFrom);
    bvFree(c);
}
