/*
 * A session's answers to the replica's queries (see replQueryParse() in replserver.h for what a
 * MariaDB replica sends): SET of user and session variables, SELECT of variables and a few
 * functions, SHOW VARIABLES over the system variables the endpoint reports. Protocol reference:
 * MariaDB server sql/slave.cc (get_master_version_and_clock: the queries a replica sends).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "recover/repl_internal.h"
#include "recover/replserver.h"

#define QUERY_LOG_MAX 300

static const char *const sysvarNames[] = {
    "binlog_checksum", "binlog_format",   "character_set_server", "collation_server",
    "gtid_domain_id",  "gtid_strict_mode", "hostname",            "log_bin",
    "max_allowed_packet", "port",          "rpl_semi_sync_master_enabled", "server_id",
    "system_time_zone", "time_zone",       "version",             "version_comment",
};

/* The value of a system variable, NULL when unknown. `show` formats booleans as SHOW VARIABLES
 * does (ON/OFF) instead of 1/0. */
static const char *
sysvarGet(ReplSession *s, const char *name, bool show, char *buf, size_t size) {
    if (strcmp(name, "server_id") == 0) {
        snprintf(buf, size, "%" PRIu32, s->srv->serverId);
        return buf;
    }
    if (strcmp(name, "version") == 0)
        return s->srv->version;
    if (strcmp(name, "version_comment") == 0)
        return "binvault replication endpoint";
    if (strcmp(name, "binlog_checksum") == 0)
        return "CRC32";
    if (strcmp(name, "binlog_format") == 0)
        return "ROW";
    if (strcmp(name, "gtid_domain_id") == 0)
        return "0";
    if (strcmp(name, "gtid_strict_mode") == 0 || strcmp(name, "rpl_semi_sync_master_enabled") == 0)
        return show ? "OFF" : "0";
    if (strcmp(name, "log_bin") == 0)
        return show ? "ON" : "1";
    if (strcmp(name, "character_set_server") == 0)
        return "utf8mb4";
    if (strcmp(name, "collation_server") == 0)
        return "utf8mb4_general_ci";
    if (strcmp(name, "time_zone") == 0)
        return "SYSTEM";
    if (strcmp(name, "system_time_zone") == 0)
        return "UTC";
    if (strcmp(name, "hostname") == 0)
        return "binvault";
    if (strcmp(name, "port") == 0) {
        snprintf(buf, size, "%u", s->srv->port);
        return buf;
    }
    if (strcmp(name, "max_allowed_packet") == 0)
        return "1073741824";
    return NULL;
}

/* Evaluate e into *out (NULL for SQL NULL; may point into buf). On failure fills code/msg. */
static bool
evalExpr(ReplSession *s, const ReplExpr *e, char *buf, size_t size, const char **out, uint16_t *code,
         char *msg, size_t msgSize) {
    switch (e->kind) {
    case REPL_EXPR_NULL: *out = NULL; return true;
    case REPL_EXPR_INT:
    case REPL_EXPR_STRING: *out = e->text; return true;
    case REPL_EXPR_USERVAR: *out = replSessionVarGet(s, e->text, NULL); return true;
    case REPL_EXPR_SYSVAR:
        if ((*out = sysvarGet(s, e->text, false, buf, size)) != NULL)
            return true;
        *code = ER_UNKNOWN_SYSTEM_VARIABLE;
        snprintf(msg, msgSize, "Unknown system variable '%s'", e->text);
        return false;
    case REPL_EXPR_FUNC:
        if (strcmp(e->text, "unix_timestamp") == 0) {
            snprintf(buf, size, "%lld", (long long)time(NULL));
            *out = buf;
            return true;
        }
        if (strcmp(e->text, "version") == 0) {
            *out = s->srv->version;
            return true;
        }
        if (strcmp(e->text, "connection_id") == 0) {
            snprintf(buf, size, "%" PRIu32, s->connectionId);
            *out = buf;
            return true;
        }
        if (strcmp(e->text, "database") == 0 || strcmp(e->text, "schema") == 0 ||
            strcmp(e->text, "binlog_gtid_pos") == 0) {
            *out = NULL; /* no database; positions are asked as GTIDs */
            return true;
        }
        if (strcmp(e->text, "user") == 0 || strcmp(e->text, "current_user") == 0) {
            snprintf(buf, size, "%s@%s", s->user, s->peer);
            *out = buf;
            return true;
        }
        *code = ER_SP_DOES_NOT_EXIST;
        snprintf(msg, msgSize, "FUNCTION %s does not exist on binvault's replication endpoint", e->text);
        return false;
    }
    return false;
}

/* A printable, bounded copy of a statement for the log. */
static void
logQueryText(const char *what, const uint8_t *q, size_t len, LogLevel level) {
    char text[QUERY_LOG_MAX + 4];
    size_t n = len > QUERY_LOG_MAX ? QUERY_LOG_MAX : len;

    for (size_t i = 0; i < n; i++)
        text[i] = (q[i] < 0x20 || q[i] > 0x7e) ? ' ' : (char)q[i];
    memcpy(text + n, len > n ? "..." : "", len > n ? 4 : 1);
    LOG_AT(level, "%s: %s", what, text);
}

int
replSessionQuery(ReplSession *s, const uint8_t *text, size_t len, Err *err) {
    ReplQuery q;
    char msg[256], buf[REPL_NAME_MAX + 96];
    uint16_t code = 0;
    int rc = 0;

    logQueryText("replica query", text, len, LOG_DEBUG);
    replQueryParse((const char *)text, len, &q);
    switch (q.kind) {
    case REPL_QUERY_UNKNOWN:
        logQueryText("unsupported query from the replica", text, len, LOG_WARN);
        snprintf(msg, sizeof(msg), "binvault's replication endpoint does not support this statement (%s)", q.why);
        rc = replSessionSendErr(s, ER_NOT_SUPPORTED_YET, "42000", msg, err);
        break;
    case REPL_QUERY_SET:
        for (size_t i = 0; i < q.count && code == 0; i++) {
            const ReplExpr *t = &q.target[i];
            const char *v;

            if (!evalExpr(s, &q.value[i], buf, sizeof(buf), &v, &code, msg, sizeof(msg)))
                break;
            if (t->kind == REPL_EXPR_USERVAR) {
                if (!replSessionVarSet(s, t->text, v)) {
                    code = ER_WRONG_VALUE_FOR_VAR;
                    snprintf(msg, sizeof(msg), "too many user variables (at most %d) or a value longer than %d bytes",
                             REPL_USER_VARS_MAX, REPL_USER_VAR_VALUE_MAX);
                }
            } else if (t->global) {
                code = ER_NOT_SUPPORTED_YET;
                snprintf(msg, sizeof(msg), "binvault's replication endpoint does not change global variables ('%s')",
                         t->text);
            } else if (strcmp(t->text, "skip_replication") == 0) {
                s->skipReplication = v != NULL && strtoll(v, NULL, 10) != 0;
            } else {
                logDebug("ignoring session variable '%s' set by the replica", t->text);
            }
        }
        rc = code ? replSessionSendErr(s, code, "HY000", msg, err) : replSessionSendOk(s, err);
        break;
    case REPL_QUERY_SELECT: {
        const char *names[REPL_QUERY_MAX_ITEMS], *values[REPL_QUERY_MAX_ITEMS];
        char bufs[REPL_QUERY_MAX_ITEMS][REPL_NAME_MAX + 96];

        for (size_t i = 0; i < q.count && code == 0; i++) {
            names[i] = q.value[i].label;
            evalExpr(s, &q.value[i], bufs[i], sizeof(bufs[i]), &values[i], &code, msg, sizeof(msg));
        }
        if (code != 0) {
            rc = replSessionSendErr(s, code, "HY000", msg, err);
        } else {
            replResultSetAppend(s->out, &s->seq, q.count, names, 1, values);
            rc = replSessionFlush(s, err);
        }
        break;
    }
    case REPL_QUERY_SHOW_VARIABLES: {
        static const char *const names[] = {"Variable_name", "Value"};
        size_t n = sizeof(sysvarNames) / sizeof(sysvarNames[0]), rows = 0;
        const char *values[2 * sizeof(sysvarNames) / sizeof(sysvarNames[0])];
        char bufs[sizeof(sysvarNames) / sizeof(sysvarNames[0])][32];

        for (size_t i = 0; i < n; i++) {
            if (q.like != NULL && !replLikeMatch(q.like, sysvarNames[i]))
                continue;
            values[2 * rows] = sysvarNames[i];
            values[2 * rows + 1] = sysvarGet(s, sysvarNames[i], true, bufs[i], sizeof(bufs[i]));
            rows++;
        }
        replResultSetAppend(s->out, &s->seq, 2, names, rows, values);
        rc = replSessionFlush(s, err);
        break;
    }
    }
    replQueryClear(&q);
    return rc;
}
