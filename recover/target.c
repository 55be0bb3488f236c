/*
 * The target over SQL (recover/target.h, recover/internal.h): connecting and reading where it
 * is, and every statement a recovery sends it: the checks before, gtid_slave_pos, the server_id
 * swap, CHANGE MASTER, START SLAVE UNTIL, the status polls, and the cleanup.
 */
#include "recover/target.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "binlog/gtid.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/internal.h"

#define INTO_READ_TIMEOUT_MS (10 * 60 * 1000)
#define APPLY_HEARTBEAT_SECONDS 2

/* ---- Connecting ------------------------------------------------------------------------------- */

struct RecoverInto {
    SqlConnOpts opts; /* with copies of its strings: the cleanup may have to reconnect */
    char *host, *socket, *user, *password, *passwordFrom, *sslCa, *sslCert, *sslKey;
    SqlConn *conn;
    char *url;
    char *version;
    unsigned versionId;
    uint32_t serverId;
    char *gtidSlavePos;
};

/* The first row of a query, copied. */
typedef struct RowCopy {
    unsigned n;
    char **v;
} RowCopy;

static int
rowCopyCb(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    RowCopy *row = data;

    (void)err;
    if (row->v != NULL)
        return 0;
    row->n = nCols;
    row->v = bvCalloc(nCols ? nCols : 1, sizeof(char *));
    for (unsigned i = 0; i < nCols; i++)
        row->v[i] = values[i] ? bvStrndup(values[i], lengths[i]) : NULL;
    return 0;
}

static void
rowCopyFree(RowCopy *row) {
    for (unsigned i = 0; i < row->n; i++)
        bvFree(row->v[i]);
    bvFree(row->v);
    row->v = NULL;
    row->n = 0;
}

static int
queryRow(SqlConn *c, const char *sql, unsigned want, RowCopy *row, Err *err) {
    memset(row, 0, sizeof(*row));
    if (sqlQuery(c, sql, rowCopyCb, row, err) != 0)
        return -1;
    if (row->v == NULL || row->n < want) {
        rowCopyFree(row);
        return errSet(err, ERR_TARGET, "'%s' on '%s' returned no row", sql, sqlConnUrl(c));
    }
    return 0;
}

static char *
dupOrNull(const char *s) {
    return s ? bvStrdup(s) : NULL;
}

void
recoverIntoFree(RecoverInto *t) {
    if (t == NULL)
        return;
    sqlConnFree(t->conn);
    if (t->password != NULL)
        memset(t->password, 0, strlen(t->password));
    bvFree(t->host);
    bvFree(t->socket);
    bvFree(t->user);
    bvFree(t->password);
    bvFree(t->passwordFrom);
    bvFree(t->sslCa);
    bvFree(t->sslCert);
    bvFree(t->sslKey);
    bvFree(t->version);
    bvFree(t->url);
    bvFree(t->gtidSlavePos);
    bvFree(t);
}

int
recoverIntoRefresh(RecoverInto *t, Err *err) {
    RowCopy row;
    char *end;

    if (queryRow(t->conn, "SELECT @@server_id, @@gtid_slave_pos", 2, &row, err) != 0)
        return -1;
    t->serverId = (uint32_t)strtoul(row.v[0] ? row.v[0] : "0", &end, 10);
    bvFree(t->gtidSlavePos);
    t->gtidSlavePos = bvStrdup(row.v[1] ? row.v[1] : "");
    rowCopyFree(&row);
    return 0;
}

RecoverInto *
recoverIntoConnect(const SqlConnOpts *opts, Err *err) {
    RecoverInto *t = bvCalloc(1, sizeof(*t));
    BinlogFlavour flavour;
    int major, minor, patch;

    t->opts = *opts;
    t->opts.host = t->host = dupOrNull(opts->host);
    t->opts.socket = t->socket = dupOrNull(opts->socket);
    t->opts.user = t->user = dupOrNull(opts->user);
    t->opts.password = t->password = dupOrNull(opts->password);
    t->opts.passwordFrom = t->passwordFrom = dupOrNull(opts->passwordFrom);
    t->opts.sslCa = t->sslCa = dupOrNull(opts->sslCa);
    t->opts.sslCert = t->sslCert = dupOrNull(opts->sslCert);
    t->opts.sslKey = t->sslKey = dupOrNull(opts->sslKey);
    t->opts.failCode = ERR_TARGET;
    if (t->opts.readTimeoutMs == 0)
        t->opts.readTimeoutMs = INTO_READ_TIMEOUT_MS;
    if ((t->conn = sqlConnect(&t->opts, err)) == NULL)
        goto fail;
    t->url = bvStrdup(sqlConnUrl(t->conn));
    t->version = bvStrdup(sqlConnServerVersion(t->conn));
    binlogParseServerVersion(t->version, &flavour, &major, &minor, &patch);
    t->versionId = (unsigned)(major * 10000 + minor * 100 + patch);
    if (flavour != BINLOG_FLAVOUR_MARIADB || major < 10) {
        errSet(err, ERR_TARGET,
               "'%s' runs %s: binvault recover applies through a MariaDB (10.0 or later) replica; for another server, "
               "write the range out with 'binvault fetch' and apply it with its binlog tool", t->url,
               t->version);
        goto fail;
    }
    if (recoverIntoRefresh(t, err) != 0)
        goto fail;
    return t;
fail:
    recoverIntoFree(t);
    return NULL;
}

const char *
recoverIntoUrl(const RecoverInto *t) {
    return t->url;
}

const char *
recoverIntoVersion(const RecoverInto *t) {
    return t->version;
}

uint32_t
recoverIntoServerId(const RecoverInto *t) {
    return t->serverId;
}

const char *
recoverIntoGtidSlavePos(const RecoverInto *t) {
    return t->gtidSlavePos;
}

unsigned
recoverIntoVersionId(const RecoverInto *t) {
    return t->versionId;
}

/* ---- Privileges ------------------------------------------------------------------------------- */

#define GRANTS_SPLIT_SUPER 100502   /* the replication privileges split from SUPER */
#define GRANTS_SLAVE_MONITOR 100509 /* SLAVE MONITOR split from REPLICATION SLAVE ADMIN */
#define GRANTS_SUPER_ALONE 110001   /* SUPER no longer holds the split privileges */

typedef struct GrantNeed {
    const char *name;
    const char *why;
} GrantNeed;

/* Whether `list` (", "-separated privilege names) names `priv`. */
static bool
grantListHas(const char *list, size_t len, const char *priv) {
    size_t n = strlen(priv);

    for (const char *p = list, *end = list + len; p < end;) {
        size_t item = (size_t)(end - p);
        const char *comma = memchr(p, ',', item);

        if (comma != NULL)
            item = (size_t)(comma - p);
        if (item == n && strncasecmp(p, priv, n) == 0)
            return true;
        p += item + (comma != NULL);
        while (p < end && *p == ' ')
            p++;
    }
    return false;
}

/* Whether a global grant line of `grants` holds `priv`, itself or through ALL PRIVILEGES. */
static bool
grantsHold(const char *grants, const char *priv) {
    for (const char *line = grants; line != NULL && *line;) {
        const char *eol = strchr(line, '\n'), *on;
        size_t len = eol ? (size_t)(eol - line) : strlen(line);

        if (len > 6 && strncmp(line, "GRANT ", 6) == 0 && (on = strstr(line, " ON *.* TO ")) != NULL &&
            on < line + len) {
            size_t n = (size_t)(on - line - 6);

            if (grantListHas(line + 6, n, priv) || grantListHas(line + 6, n, "ALL PRIVILEGES") ||
                grantListHas(line + 6, n, "ALL"))
                return true;
        }
        line = eol ? eol + 1 : NULL;
    }
    return false;
}

static void
listAdd(char *list, size_t size, const char *item, const char *sep) {
    size_t used = strlen(list);

    snprintf(list + used, size - used, "%s%s", used ? sep : "", item);
}

void
recoverGrantsMissing(const char *grants, unsigned versionId, bool changeServerId, char *needed, char *missing,
                     char *why, size_t size) {
    static const GrantNeed split[] = {
        {"REPLICATION SLAVE ADMIN", "SET GLOBAL gtid_slave_pos, CHANGE MASTER, START / STOP SLAVE"},
        {"SLAVE MONITOR", "SHOW ALL SLAVES STATUS"},
        {"RELOAD", "RESET SLAVE ... ALL, the cleanup"},
        {"REPLICATION MASTER ADMIN", "SET GLOBAL server_id, which a target with the archived events' server_id needs"},
    };
    static const GrantNeed old[] = {
        {"SUPER", "SET GLOBAL gtid_slave_pos and server_id, CHANGE MASTER, START / STOP SLAVE"},
        {"RELOAD", "RESET SLAVE ... ALL, the cleanup"},
    };
    const GrantNeed *need = versionId < GRANTS_SPLIT_SUPER ? old : split;
    size_t count = versionId < GRANTS_SPLIT_SUPER ? sizeof(old) / sizeof(old[0]) : sizeof(split) / sizeof(split[0]);
    bool superHolds = versionId < GRANTS_SUPER_ALONE && grantsHold(grants, "SUPER");

    needed[0] = missing[0] = why[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        const char *name = need[i].name;
        char item[256];

        if (strcmp(name, "SLAVE MONITOR") == 0 && versionId < GRANTS_SLAVE_MONITOR)
            continue;
        if (strcmp(name, "REPLICATION MASTER ADMIN") == 0 && !changeServerId)
            continue;
        listAdd(needed, size, name, ", ");
        if (grantsHold(grants, name) || (superHolds && strcmp(name, "RELOAD") != 0))
            continue;
        listAdd(missing, size, name, ", ");
        snprintf(item, sizeof(item), "%s (%s)", name, need[i].why);
        listAdd(why, size, item, "; ");
    }
}

/* Append each row's first column as a line. */
static int
linesCb(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    Buf *b = data;

    (void)err;
    if (nCols > 0 && values[0] != NULL) {
        bufAppend(b, values[0], lengths[0]);
        bufAppend(b, "\n", 1);
    }
    return 0;
}

/* CURRENT_USER()'s user@host as 'user'@'host', the form a GRANT statement takes. */
static void
accountQuote(const char *current, char *out, size_t size) {
    const char *at = strrchr(current, '@');

    if (at != NULL)
        snprintf(out, size, "'%.*s'@'%s'", (int)(at - current), current, at + 1);
    else
        snprintf(out, size, "'%s'", current);
}

int
recoverIntoCheckGrants(RecoverInto *t, bool changeServerId, RecoverGrantCheck *out, Err *err) {
    char missing[sizeof(out->needed)], why[sizeof(out->needed)];
    Buf *grants = bufNew(512);
    RowCopy row;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (queryRow(t->conn, "SELECT CURRENT_USER()", 1, &row, err) != 0) {
        bufFree(grants);
        return errPrefix(err, "checking the privileges of the target's user");
    }
    accountQuote(row.v[0] ? row.v[0] : "", out->account, sizeof(out->account));
    rowCopyFree(&row);
    if (sqlQuery(t->conn, "SHOW GRANTS", linesCb, grants, err) != 0) {
        bufFree(grants);
        return errPrefix(err, "checking the privileges of the target's user");
    }
    bufAppend(grants, "", 1);
    recoverGrantsMissing((const char *)grants->data, t->versionId, changeServerId, out->needed, missing, why,
                         sizeof(missing));
    if (missing[0] != '\0')
        rc = errSet(err, ERR_AUTH,
                    "user %s on '%s' lacks privileges a recovery needs: %s. Nothing was changed; run GRANT %s ON *.* "
                    "TO %s (a recovery needs %s)",
                    out->account, t->url, why, missing, out->account, out->needed);
    bufFree(grants);
    return rc;
}


/* ---- Replication status ------------------------------------------------------------------------ */

/* SHOW ALL SLAVES STATUS columns (MariaDB 10.0 - 11.x: Connection_name, Slave_SQL_State, then
 * the SHOW SLAVE STATUS columns, whose order MariaDB keeps and only extends). */
enum {
    COL_NAME = 0,
        COL_RELAY_MASTER_LOG_FILE = 11,
    COL_IO_RUNNING = 12,
    COL_SQL_RUNNING = 13,
    COL_EXEC_MASTER_LOG_POS = 23,
    COL_LAST_IO_ERRNO = 36,
    COL_LAST_IO_ERROR = 37,
    COL_LAST_SQL_ERRNO = 38,
    COL_LAST_SQL_ERROR = 39,
    COL_USING_GTID = 44,
    COL_GTID_IO_POS = 45,
    COL_COUNT = 46,
};

typedef struct SlavesScan {
    const char *name;
    RecoverSlaveRow mine;
    unsigned othersRunning;
    char others[512];
    bool badLayout;
} SlavesScan;

static void
copyCol(char *dst, size_t size, const char *v) {
    snprintf(dst, size, "%s", v ? v : "");
}

static int
slavesCb(void *data, unsigned nCols, const char *const *v, const unsigned long *lengths, Err *err) {
    SlavesScan *s = data;
    const char *using;

    (void)lengths;
    (void)err;
    if (nCols < COL_COUNT) {
        s->badLayout = true;
        return 0;
    }
    using = v[COL_USING_GTID] ? v[COL_USING_GTID] : "";
    if (strcmp(using, "No") != 0 && strcmp(using, "Slave_Pos") != 0 && strcmp(using, "Current_Pos") != 0) {
        s->badLayout = true;
        return 0;
    }
    if (v[COL_NAME] != NULL && strcasecmp(v[COL_NAME], s->name) == 0) {
        RecoverSlaveRow *r = &s->mine;

        r->found = true;
        copyCol(r->io, sizeof(r->io), v[COL_IO_RUNNING]);
        copyCol(r->sql, sizeof(r->sql), v[COL_SQL_RUNNING]);
        r->ioErrno = (unsigned)strtoul(v[COL_LAST_IO_ERRNO] ? v[COL_LAST_IO_ERRNO] : "0", NULL, 10);
        r->sqlErrno = (unsigned)strtoul(v[COL_LAST_SQL_ERRNO] ? v[COL_LAST_SQL_ERRNO] : "0", NULL, 10);
        copyCol(r->ioError, sizeof(r->ioError), v[COL_LAST_IO_ERROR]);
        copyCol(r->sqlError, sizeof(r->sqlError), v[COL_LAST_SQL_ERROR]);
        copyCol(r->gtidIoPos, sizeof(r->gtidIoPos), v[COL_GTID_IO_POS]);
        copyCol(r->execFile, sizeof(r->execFile), v[COL_RELAY_MASTER_LOG_FILE]);
        r->execPos = strtoull(v[COL_EXEC_MASTER_LOG_POS] ? v[COL_EXEC_MASTER_LOG_POS] : "0", NULL, 10);
        return 0;
    }
    if ((v[COL_IO_RUNNING] && strcmp(v[COL_IO_RUNNING], "No") != 0) ||
        (v[COL_SQL_RUNNING] && strcmp(v[COL_SQL_RUNNING], "No") != 0)) {
        size_t used = strlen(s->others);

        s->othersRunning++;
        snprintf(s->others + used, sizeof(s->others) - used, "%s'%s'", used ? ", " : "", v[COL_NAME] ? v[COL_NAME] : "");
    }
    return 0;
}

static int
slavesRead(SqlConn *c, const char *name, SlavesScan *s, Err *err) {
    memset(s, 0, sizeof(*s));
    s->name = name;
    if (sqlQuery(c, "SHOW ALL SLAVES STATUS", slavesCb, s, err) != 0)
        return -1;
    if (s->badLayout)
        return errSet(err, ERR_TARGET, "SHOW ALL SLAVES STATUS on '%s' has columns binvault does not know (server %s)",
                      sqlConnUrl(c), sqlConnServerVersion(c));
    return 0;
}

/* ---- The recovery's replication connection --------------------------------------------------- */

/* Never let the endpoint's password reach a message. */
static void
maskSecret(char *msg, const char *secret) {
    size_t n = strlen(secret);
    char *p;

    if (n == 0)
        return;
    while ((p = strstr(msg, secret)) != NULL)
        memset(p, '*', n);
}

static int
linkExec(RecoverLink *l, const char *sql, Err *err) {
    if (sqlExec(l->t->conn, sql, err) == 0)
        return 0;
    maskSecret(err->msg, l->password);
    return -1;
}

/* Two MariaDB positions are the same (false when either does not parse). */
static bool
positionsEqual(const char *a, const char *b) {
    bool equal = false;
    Err ignored;

    return gtidStateTextEqual(BINLOG_FLAVOUR_MARIADB, a, b, &equal, &ignored) == 0 && equal;
}

int
recoverLinkPreflight(RecoverLink *l, Err *err) {
    RecoverInto *t = l->t;
    SlavesScan s;
    char *sql;
    int rc;

    if (slavesRead(t->conn, l->name, &s, err) != 0)
        return -1;
    /* A recovery killed without its cleanup leaves the temporary server_id, and the target's own
     * is not known any more. */
    if (t->serverId <= RECOVER_TEMP_SERVER_ID && t->serverId > RECOVER_TEMP_SERVER_ID - 64) {
        char also[2 * RECOVER_NAME_MAX + 80] = "";

        if (s.mine.found)
            snprintf(also, sizeof(also), " and remove the connection (STOP SLAVE '%s'; RESET SLAVE '%s' ALL)", l->name,
                     l->name);
        return errSet(err, ERR_TARGET,
                      "'%s' has server_id %" PRIu32 ", the temporary one binvault gives a target while it applies: an "
                      "earlier recovery was killed before it could clean up. Set the server's own back (SET GLOBAL "
                      "server_id = N, as in its configuration)%s, then run the command again",
                      t->url, t->serverId, also);
    }
    if (s.mine.found && (strcmp(s.mine.io, "No") != 0 || strcmp(s.mine.sql, "No") != 0))
        return errSet(err, ERR_TARGET,
                      "'%s' already runs a replication connection '%s' (another recovery?): stop it with STOP SLAVE "
                      "'%s'; RESET SLAVE '%s' ALL, or choose another --connection-name", t->url, l->name, l->name,
                      l->name);
    if (s.othersRunning > 0)
        return errSet(err, ERR_TARGET,
                      "'%s' runs replication (connection %s): recovery sets @@gtid_slave_pos, which needs every "
                      "replication connection stopped; run STOP ALL SLAVES first (and start them again after)",
                      t->url, s.others);
    if (!s.mine.found)
        return 0;
    logWarn("removing the stopped replication connection '%s' left on '%s' by an interrupted recovery", l->name, t->url);
    sql = bvSprintf("RESET SLAVE '%s' ALL", l->name);
    rc = linkExec(l, sql, err);
    bvFree(sql);
    return rc;
}

/* The parallel applier for l's connection: the threads are global (the server's pool, set while
 * no replication runs), the mode is the connection's own and goes with it. */
static int
linkParallel(RecoverLink *l, Err *err) {
    RecoverInto *t = l->t;
    char sql[160];
    RowCopy row;

    if (queryRow(t->conn, "SELECT @@global.slave_parallel_threads", 1, &row, err) != 0)
        return -1;
    l->origThreads = strtoul(row.v[0] ? row.v[0] : "0", NULL, 10);
    rowCopyFree(&row);
    if (l->origThreads != l->parallel) {
        snprintf(sql, sizeof(sql), "SET GLOBAL slave_parallel_threads = %u", l->parallel);
        if (linkExec(l, sql, err) != 0)
            return -1;
        l->changedThreads = true;
    }
    snprintf(sql, sizeof(sql), "SET GLOBAL `%s`.slave_parallel_mode = 'optimistic'", l->name);
    if (linkExec(l, sql, err) != 0)
        return -1;
    logInfo("'%s' applies with %u parallel threads (slave_parallel_threads was %lu), optimistic mode", t->url,
            l->parallel, l->origThreads);
    return 0;
}

int
recoverLinkStart(RecoverLink *l, const char *host, unsigned port, const char *start, const char *until, Err *err) {
    RecoverInto *t = l->t;
    char *hostSql = sqlEscape(t->conn, host), *startSql = sqlEscape(t->conn, start), *untilSql = sqlEscape(t->conn, until),
         *sql = NULL;
    int rc = -1;

    if (!positionsEqual(t->gtidSlavePos, start)) {
        sql = bvSprintf("SET GLOBAL gtid_slave_pos = '%s'", startSql);
        if (linkExec(l, sql, err) != 0)
            goto done;
        l->changedPos = true;
        logInfo("set @@gtid_slave_pos on '%s' to '%s' (was '%s')", t->url, start, t->gtidSlavePos);
        bvFree(sql);
        sql = NULL;
    }
    if (l->serverId != t->serverId) {
        sql = bvSprintf("SET GLOBAL server_id = %" PRIu32, l->serverId);
        if (linkExec(l, sql, err) != 0)
            goto done;
        l->changedId = true;
        logInfo("'%s' has server_id %" PRIu32 ", which the archived events carry (a server restored from a backup keeps "
                "the source's): its applier would skip them as its own, so its server_id is %" PRIu32
                " while it applies, and %" PRIu32 " again after", t->url, t->serverId, l->serverId, t->serverId);
        bvFree(sql);
        sql = NULL;
    }
    /* The password comes last and is masked from any message. */
    sql = bvSprintf("CHANGE MASTER '%s' TO MASTER_HOST = '%s', MASTER_PORT = %u, MASTER_USER = '" RECOVER_APPLY_USER
                    "', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = %d, "
                    "MASTER_SSL = 0, MASTER_PASSWORD = '%s'",
                    l->name, hostSql, port, APPLY_HEARTBEAT_SECONDS, l->password);
    rc = linkExec(l, sql, err);
    memset(sql, 0, strlen(sql));
    if (rc != 0)
        goto done;
    l->created = true;
    bvFree(sql);
    sql = NULL;
    if (l->parallel > 0 && (rc = linkParallel(l, err)) != 0)
        goto done;
    sql = bvSprintf("START SLAVE '%s' UNTIL master_gtid_pos = '%s'", l->name, untilSql);
    if ((rc = linkExec(l, sql, err)) != 0)
        goto done;
    logInfo("'%s' applies through replication connection '%s' from %s:%u, from gtid '%s' until '%s'", t->url, l->name,
            host, port, start, until);
done:
    bvFree(hostSql);
    bvFree(startSql);
    bvFree(untilSql);
    bvFree(sql);
    return rc;
}

int
recoverLinkPoll(RecoverLink *l, RecoverSlaveRow *row, char **pos, Err *err) {
    SlavesScan s;
    RowCopy r;

    *pos = NULL;
    if (slavesRead(l->t->conn, l->name, &s, err) != 0)
        return -1;
    if (queryRow(l->t->conn, "SELECT @@gtid_slave_pos", 1, &r, err) != 0)
        return -1;
    *pos = bvStrdup(r.v[0] ? r.v[0] : "");
    rowCopyFree(&r);
    *row = s.mine;
    return 0;
}

static void
manualAdd(char *manual, size_t size, const char *sql) {
    size_t used = strlen(manual);

    snprintf(manual + used, size - used, "%s%s", used ? " " : "", sql);
}

/* Run a cleanup statement; once, reconnect when the connection is gone. */
static bool
cleanupExec(RecoverLink *l, const char *sql) {
    RecoverInto *t = l->t;
    Err err = {0};

    if (t->conn != NULL && linkExec(l, sql, &err) == 0)
        return true;
    if (t->conn == NULL || err.code == ERR_TARGET) {
        sqlConnFree(t->conn);
        t->conn = sqlConnect(&t->opts, &err);
        if (t->conn != NULL && linkExec(l, sql, &err) == 0)
            return true;
    }
    logError("cleaning up '%s': %s", t->url, err.msg);
    return false;
}

void
recoverLinkCleanup(RecoverLink *l, const char *start, char **finalPos, char *manual, size_t manualSize) {
    RecoverInto *t = l->t;
    char sql[256];
    bool stopped = true;

    *finalPos = NULL;
    if (l->created) {
        snprintf(sql, sizeof(sql), "STOP SLAVE '%s'", l->name);
        stopped = cleanupExec(l, sql);
    }
    if (t->conn != NULL) {
        RowCopy row;
        Err err = {0};

        if (queryRow(t->conn, "SELECT @@gtid_slave_pos", 1, &row, &err) == 0) {
            *finalPos = bvStrdup(row.v[0] ? row.v[0] : "");
            rowCopyFree(&row);
        }
    }
    if (l->created) {
        snprintf(sql, sizeof(sql), "RESET SLAVE '%s' ALL", l->name);
        if (!stopped || !cleanupExec(l, sql)) {
            char again[160];

            snprintf(again, sizeof(again), "STOP SLAVE '%s'; RESET SLAVE '%s' ALL;", l->name, l->name);
            manualAdd(manual, manualSize, again);
        }
    }
    if (l->changedId) {
        snprintf(sql, sizeof(sql), "SET GLOBAL server_id = %" PRIu32, t->serverId);
        if (!cleanupExec(l, sql)) {
            char again[sizeof(sql) + 2];

            snprintf(again, sizeof(again), "%s;", sql);
            manualAdd(manual, manualSize, again);
        }
    }
    if (l->changedThreads) {
        snprintf(sql, sizeof(sql), "SET GLOBAL slave_parallel_threads = %lu", l->origThreads);
        if (!stopped || !cleanupExec(l, sql)) {
            char again[sizeof(sql) + 2];

            snprintf(again, sizeof(again), "%s;", sql);
            manualAdd(manual, manualSize, again);
        }
    }
    /* Nothing applied: leave gtid_slave_pos as it was. */
    if (l->changedPos && t->conn != NULL && *finalPos != NULL && positionsEqual(*finalPos, start)) {
        char *old = sqlEscape(t->conn, l->origPos);
        char *s = bvSprintf("SET GLOBAL gtid_slave_pos = '%s'", old);

        if (cleanupExec(l, s)) {
            bvFree(*finalPos);
            *finalPos = bvStrdup(l->origPos);
        }
        bvFree(old);
        bvFree(s);
    }
}

void
recoverLinkClear(RecoverLink *l) {
    bvFree(l->origPos);
    l->origPos = NULL;
}
