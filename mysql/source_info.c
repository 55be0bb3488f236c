/*
 * The source as the agent checks it on every connection (mysql/client.h SqlSourceInfo): its
 * identity (server_id, server_uuid, binlog base name, GTID domain), whether a replica source logs
 * what it replicates, its own replication threads, and the GTID positions of its binlogs.
 */
#include "mysql/client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/mem.h"

/* SHOW SLAVE STATUS / SHOW REPLICA STATUS columns, the same in MariaDB and MySQL (only their
 * names changed with MySQL 8.0.22). */
#define COL_IO_RUNNING 10
#define COL_SQL_RUNNING 11
#define COL_LAG 32
#define COL_IO_ERROR 35
#define COL_SQL_ERROR 37
#define REPLICA_STATUS_COLS 38

static int
parseU32(const char *text, const char *what, uint32_t *out, Err *err) {
    char *end;
    unsigned long long v;

    errno = 0;
    v = text ? strtoull(text, &end, 10) : 0;
    if (text == NULL || errno != 0 || end == text || *end != '\0' || v > UINT32_MAX)
        return errSet(err, ERR_SOURCE, "the source reports an unexpected %s '%s'", what, text ? text : "NULL");
    *out = (uint32_t)v;
    return 0;
}

typedef struct IdentityRow {
    BinlogFlavour flavour;
    SqlSourceInfo *info;
    bool seen;
} IdentityRow;

static int
identityRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    IdentityRow *r = data;
    SqlSourceInfo *info = r->info;
    const char *base, *slash;

    (void)lengths;
    if (nCols < 5)
        return errSet(err, ERR_SOURCE, "the source returned %u columns for its identity, expected 5", nCols);
    r->seen = true;
    if (parseU32(values[0], "server_id", &info->serverId, err) != 0)
        return -1;
    base = values[1] ? values[1] : "";
    slash = strrchr(base, '/');
    snprintf(info->binlogBasename, sizeof(info->binlogBasename), "%s", slash ? slash + 1 : base);
    info->logReplicaUpdates = values[2] != NULL && (strcmp(values[2], "1") == 0 || strcasecmp(values[2], "ON") == 0);
    info->readOnly = values[4] != NULL && (strcmp(values[4], "1") == 0 || strcasecmp(values[4], "ON") == 0);
    if (r->flavour == BINLOG_FLAVOUR_MARIADB) {
        if (parseU32(values[3], "gtid_domain_id", &info->gtidDomainId, err) != 0)
            return -1;
        info->domainKnown = true;
    } else {
        snprintf(info->serverUuid, sizeof(info->serverUuid), "%s", values[3] ? values[3] : "");
    }
    return 0;
}

void
sqlReplicaStatusInit(SqlSourceInfo *info) {
    info->isReplica = false;
    info->ioRunning = info->sqlRunning = true;
    info->lagSeconds = 0;
    info->replicaError[0] = '\0';
}

int
sqlReplicaStatusAdd(SqlSourceInfo *info, unsigned nCols, const char *const *values, Err *err) {
    if (nCols < REPLICA_STATUS_COLS)
        return errSet(err, ERR_SOURCE, "SHOW SLAVE STATUS on the source returned %u columns, expected at least %d",
                      nCols, REPLICA_STATUS_COLS);
    /* Several channels (MySQL) or connections: stopped when any is, the largest lag, unknown
     * (-1) when any is. */
    info->isReplica = true;
    info->ioRunning &= values[COL_IO_RUNNING] != NULL && strcasecmp(values[COL_IO_RUNNING], "Yes") == 0;
    info->sqlRunning &= values[COL_SQL_RUNNING] != NULL && strcasecmp(values[COL_SQL_RUNNING], "Yes") == 0;
    if (values[COL_LAG] == NULL)
        info->lagSeconds = -1;
    else if (info->lagSeconds >= 0 && strtoll(values[COL_LAG], NULL, 10) > info->lagSeconds)
        info->lagSeconds = strtoll(values[COL_LAG], NULL, 10);
    if (info->replicaError[0] == '\0') {
        const char *e = values[COL_IO_ERROR] && values[COL_IO_ERROR][0] ? values[COL_IO_ERROR] : values[COL_SQL_ERROR];

        snprintf(info->replicaError, sizeof(info->replicaError), "%s", e ? e : "");
    }
    return 0;
}

static int
replicaRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    (void)lengths;
    return sqlReplicaStatusAdd(data, nCols, values, err);
}

int
sqlSourceInfoRead(SqlConn *c, BinlogFlavour flavour, unsigned versionId, SqlSourceInfo *out, Err *err) {
    IdentityRow ir = {flavour, out, false};
    const char *show;
    Err e;

    memset(out, 0, sizeof(*out));
    if (sqlQuery(c,
                 flavour == BINLOG_FLAVOUR_MARIADB
                     ? "SELECT @@server_id, @@log_bin_basename, @@log_slave_updates, @@gtid_domain_id, @@read_only"
                     : "SELECT @@server_id, @@log_bin_basename, @@log_slave_updates, @@server_uuid, @@read_only",
                 identityRow, &ir, err) != 0)
        return errPrefix(err, "reading the source's identity");
    if (!ir.seen)
        return errSet(err, ERR_SOURCE, "'%s' returned no row for its identity", sqlConnUrl(c));
    sqlReplicaStatusInit(out);
    show = flavour == BINLOG_FLAVOUR_MYSQL && versionId >= 80022 ? "SHOW REPLICA STATUS" : "SHOW SLAVE STATUS";
    if (sqlQuery(c, show, replicaRow, out, &e) != 0) {
        if (e.code != ERR_AUTH) {
            *err = e;
            return errPrefix(err, "reading the source's replication state");
        }
        out->ioRunning = out->sqlRunning = false;
        snprintf(out->replicaWarning, sizeof(out->replicaWarning),
                 "unable to tell whether the source is a replica and whether its replication runs: %s needs the "
                 "%s privilege (GRANT %s ON *.* TO the agent's user)", show,
                 flavour == BINLOG_FLAVOUR_MARIADB ? "SLAVE MONITOR" : "REPLICATION CLIENT",
                 flavour == BINLOG_FLAVOUR_MARIADB ? "SLAVE MONITOR" : "REPLICATION CLIENT");
        return 0;
    }
    out->replicaKnown = true;
    if (!out->isReplica)
        out->ioRunning = out->sqlRunning = false;
    return 0;
}

int
sqlBinlogGtidPos(SqlConn *c, const char *file, uint64_t pos, char **out, Err *err) {
    char *escaped = sqlEscape(c, file);
    char *sql = bvSprintf("SELECT BINLOG_GTID_POS('%s', %" PRIu64 ")", escaped, pos);
    int rc = sqlQueryValue(c, sql, out, err);

    bvFree(sql);
    bvFree(escaped);
    return rc;
}

int
sqlBinlogGtidHistory(SqlConn *c, BinlogFlavour flavour, char **out, Err *err) {
    if (sqlQueryValue(c, flavour == BINLOG_FLAVOUR_MARIADB ? "SELECT @@global.gtid_binlog_state"
                                                           : "SELECT @@global.gtid_executed",
                      out, err) != 0)
        return -1;
    if (*out == NULL)
        *out = bvStrdup("");
    return 0;
}

int
sqlBinlogGtidState(SqlConn *c, BinlogFlavour flavour, char **out, Err *err) {
    if (sqlQueryValue(c, flavour == BINLOG_FLAVOUR_MARIADB ? "SELECT @@global.gtid_binlog_pos" : "SELECT @@global.gtid_executed",
                      out, err) != 0)
        return -1;
    if (*out == NULL)
        *out = bvStrdup("");
    return 0;
}

typedef struct HasFile {
    const char *file;
    bool found;
} HasFile;

static int
binlogRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    HasFile *h = data;

    (void)lengths;
    (void)err;
    if (nCols >= 1 && values[0] != NULL && strcmp(values[0], h->file) == 0)
        h->found = true;
    return 0;
}

int
sqlBinlogHas(SqlConn *c, const char *file, bool *has, Err *err) {
    HasFile h = {file, false};

    if (sqlQuery(c, "SHOW BINARY LOGS", binlogRow, &h, err) != 0)
        return -1;
    *has = h.found;
    return 0;
}
