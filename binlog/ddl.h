/*
 * The tables a DDL statement names, from its text: what `binvault log` shows in its TABLES column
 * for a statement that has no table map (CREATE / DROP / ALTER / RENAME / TRUNCATE TABLE, CREATE /
 * DROP INDEX ... ON). Pure code over bounded text: names are unquoted (`shop`.`orders` is
 * shop.orders), unqualified ones take the statement's current database; anything else, or text
 * that does not parse, names nothing.
 */
#ifndef BV_BINLOG_DDL_H
#define BV_BINLOG_DDL_H

#include <stddef.h>

/* Longest identifier kept (MariaDB's limit is 64 characters, 256 bytes in utf8mb4). */
#define BINLOG_DDL_NAME_MAX 256

/* Called for each table named: db (dbLen 0 when neither the statement nor the session has one)
 * and table, unquoted, not NUL-terminated. */
typedef void BinlogDdlTableFn(void *ctx, const char *db, size_t dbLen, const char *table, size_t tableLen);

/* The tables the statement sql[0..len) names, in order, through fn; db[0..dbLen) is its current
 * database (the Query event's). */
void binlogDdlTables(const char *sql, size_t len, const char *db, size_t dbLen, BinlogDdlTableFn *fn, void *ctx);

#endif
