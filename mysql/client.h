/*
 * The MySQL/MariaDB client: a small SQL connection API, and the replication stream of a replica.
 * mysql/client.c is the only file of binvault that talks to libmariadb's connection object.
 *
 * One connection per thread: neither an SqlConn nor a BinlogClient may be used by two threads at
 * once. Errors: ERR_AUTH for a refused login or a missing privilege (the message names the
 * grant), ERR_GAP when the source no longer has the binlogs asked for, ERR_SOURCE (or the
 * configured code) when the server cannot be reached, fails or the connection is lost, ERR_FORMAT
 * for a malformed packet. Messages name the server as `mysql://user@host:port`, never a password.
 *
 * The replication stream is read from the socket itself on a plain connection (a 256 KiB buffer,
 * the packets framed by mysql/packet.h, large events joined from their 16 MiB protocol packets in
 * place, no copy per event), through libmariadb's packet layer over TLS or compression; the
 * commands are built by the pure encoders below, which the unit tests check byte for byte.
 */
#ifndef BV_MYSQL_CLIENT_H
#define BV_MYSQL_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "binlog/event.h"
#include "binlog/protocol.h"
#include "common/err.h"

/* ---- SQL connections ------------------------------------------------------------------------ */

typedef struct SqlConn SqlConn;

typedef enum SqlSslMode {
    SQL_SSL_DEFAULT = 0, /* libmariadb's default: TLS only when a CA, cert or key is given */
    SQL_SSL_DISABLED,    /* never TLS, even when files are given */
    SQL_SSL_PREFERRED,   /* TLS when the server offers it, else plain text */
    SQL_SSL_REQUIRED,    /* TLS or fail; the server certificate is not verified */
    SQL_SSL_VERIFY_CA,   /* TLS, certificate chain verified against sslCa (Connector/C 3.3 cannot
                            skip the host name check, so the name is checked too) */
    SQL_SSL_VERIFY,      /* TLS, certificate chain (sslCa) and host name verified (verify-identity) */
} SqlSslMode;

/* "disabled", "preferred", "required", "verify-ca", "verify-identity" (also "verify"); -1 and
 * ERR_USAGE naming `option` and the accepted values otherwise. */
int sqlSslModeParse(const char *text, const char *option, SqlSslMode *mode, Err *err);

typedef struct SqlConnOpts {
    const char *host;          /* unused with a socket */
    unsigned port;             /* 0 = 3306; unused with a socket */
    const char *socket;        /* a unix socket path (MysqlUrl.socket): connect through it, as
                                  `user@localhost` (unix_socket authentication works); NULL = TCP */
    const char *user;
    const char *password;      /* NULL or "" = no password */
    const char *passwordFrom;  /* where the password came from, named when access is denied
                                  (e.g. "BINVAULT_SOURCE_PASSWORD"); NULL = not named */
    unsigned connectTimeoutMs; /* 0 = 10 s */
    unsigned readTimeoutMs;    /* 0 = wait forever; the library counts whole seconds (rounded up) */
    unsigned writeTimeoutMs;   /* 0 = 60 s */
    ErrCode failCode;          /* code of "server unreachable / failed" errors: 0 = ERR_SOURCE;
                                  a recovery target passes ERR_TARGET */
    SqlSslMode sslMode;
    const char *sslCa, *sslCert, *sslKey; /* PEM files, NULL when unused */
} SqlConnOpts;

/* Connect through opts->socket when set, else over TCP (also for "localhost"). */
SqlConn *sqlConnect(const SqlConnOpts *opts, Err *err);

/* The server's version string, e.g. "10.11.19-MariaDB-0+deb12u1-log". */
const char *sqlConnServerVersion(const SqlConn *c);

/* `mysql://user@host:port` (`mysql://user@localhost/?socket=PATH` through a socket), for messages. */
const char *sqlConnUrl(const SqlConn *c);

/* Run a statement whose result (if any) is discarded. */
int sqlExec(SqlConn *c, const char *sql, Err *err);

/* Called for each row: nCols values (NULL for SQL NULL) with their lengths. Return 0 to go on,
 * -1 (after filling err) to stop the query with that error. */
typedef int (*SqlRowCb)(void *data, unsigned nCols, const char *const *values,
                        const unsigned long *lengths, Err *err);

/* Run a query and stream its rows to cb, one at a time (the result is not held in memory). */
int sqlQuery(SqlConn *c, const char *sql, SqlRowCb cb, void *data, Err *err);

/* The first column of the first row, allocated (bvFree() it); *out is NULL when the query
 * returns no row or SQL NULL. */
int sqlQueryValue(SqlConn *c, const char *sql, char **out, Err *err);

/* text escaped for use inside '...' in a statement on this connection; allocated. */
char *sqlEscape(SqlConn *c, const char *text);

/* The source's current binlog position (SHOW MASTER STATUS). `found` is false when binary
 * logging is off. gtid: MySQL's Executed_Gtid_Set (allocated; NULL on MariaDB, which reports its
 * position in @@gtid_binlog_pos). */
typedef struct SqlMasterStatus {
    bool found;
    char file[256];
    uint64_t pos;
    char *gtid;
} SqlMasterStatus;

int sqlMasterStatus(SqlConn *c, SqlMasterStatus *out, Err *err);

void sqlConnFree(SqlConn *c);

/* ---- The source as a replication source (mysql/source_info.c) ---------------------------------- */

/* What the agent checks about its source on every connection, read over SQL. */
typedef struct SqlSourceInfo {
    uint32_t serverId;
    char serverUuid[37];       /* MySQL @@server_uuid; "" on MariaDB */
    char binlogBasename[256];  /* last component of @@log_bin_basename ("mariadb-bin"); "" if unknown */
    bool domainKnown;          /* MariaDB: gtidDomainId is @@gtid_domain_id */
    uint32_t gtidDomainId;
    bool logReplicaUpdates;    /* @@log_slave_updates (MySQL: log_replica_updates) */
    bool readOnly;             /* @@read_only: not a writable primary */
    /* Replication of the source itself (SHOW SLAVE STATUS: SLAVE MONITOR on MariaDB 10.5+,
     * REPLICATION CLIENT on MySQL). */
    bool replicaKnown;         /* false: the privilege is missing, replicaWarning says so */
    bool isReplica;            /* a replication channel is configured */
    bool ioRunning, sqlRunning;
    int64_t lagSeconds;        /* Seconds_Behind_Master; -1 when NULL (a thread stopped) */
    char replicaError[512];    /* Last_IO_Error / Last_SQL_Error, "" when none */
    char replicaWarning[512];  /* why replication state is unknown, "" when known */
} SqlSourceInfo;

/* Read the source's identity and replication state. The replication state degrades to
 * replicaKnown = false (with the reason) when the privilege lacks; other failures are errors. */
int sqlSourceInfoRead(SqlConn *c, BinlogFlavour flavour, unsigned versionId, SqlSourceInfo *out, Err *err);

/* The replication state of SHOW SLAVE STATUS / SHOW REPLICA STATUS rows, one row at a time (the
 * columns are the same in MariaDB and MySQL): Init before the first row (no row: not a replica),
 * Add per row (ERR_SOURCE for a row with too few columns). */
void sqlReplicaStatusInit(SqlSourceInfo *info);
int sqlReplicaStatusAdd(SqlSourceInfo *info, unsigned nCols, const char *const *values, Err *err);

/* MariaDB BINLOG_GTID_POS(file, pos): the GTID position (one GTID per domain) of the source's
 * binlog at file:pos, allocated; *out NULL when the source has no event boundary there (the file
 * is not among its binlogs, or pos is not at an event's start). */
int sqlBinlogGtidPos(SqlConn *c, const char *file, uint64_t pos, char **out, Err *err);

/* Whether `file` is among the source's binlogs (SHOW BINARY LOGS). */
int sqlBinlogHas(SqlConn *c, const char *file, bool *has, Err *err);

/* The GTID state of everything the source's binlogs hold: MariaDB @@gtid_binlog_pos, MySQL
 * @@gtid_executed; allocated. */
int sqlBinlogGtidState(SqlConn *c, BinlogFlavour flavour, char **out, Err *err);

/* The GTID history of the source's binlogs, server ids included, for finding a fork point
 * (agent/fork.h): MariaDB @@gtid_binlog_state (the last GTID of every domain and server id
 * logged), MySQL @@gtid_executed; allocated. */
int sqlBinlogGtidHistory(SqlConn *c, BinlogFlavour flavour, char **out, Err *err);

/* ---- Replication stream ------------------------------------------------------------------------ */

typedef struct BinlogClient BinlogClient;

typedef struct BinlogClientOpts {
    SqlConnOpts conn;      /* conn.readTimeoutMs 0 = 3 heartbeat periods (forever without) */
    uint32_t serverId;     /* this replica's server_id: not 0, unique among the source's replicas */
    unsigned heartbeatMs;  /* heartbeat period asked of the source when idle; 0 = none */
    bool semiSync;         /* announce a semi-sync replica (the source may then ask for ACKs) */
    bool nonBlocking;      /* end the stream at the source's current end (BINLOG_DUMP_NON_BLOCK) */
    bool wantAnnotateRows; /* MariaDB: receive ANNOTATE_ROWS, so the stream is byte-identical to
                              the source's binlog (default true) */
    const char *reportHost; /* host shown in SHOW SLAVE HOSTS; NULL = this machine's name */
    uint16_t reportPort;
} BinlogClientOpts;

/* Defaults: zero everything, wantAnnotateRows = true. */
void binlogClientOptsInit(BinlogClientOpts *opts);

/* A client with a copy of opts (strings included); nothing is connected yet. */
BinlogClient *binlogClientNew(const BinlogClientOpts *opts);

/* Connect, and read what the stream depends on: version and flavour, @@global.binlog_checksum,
 * @@server_id, @@server_uuid (MySQL). */
int binlogClientConnect(BinlogClient *c, Err *err);

/* Getters, valid after binlogClientConnect(). */
BinlogFlavour binlogClientFlavour(const BinlogClient *c);
const char *binlogClientServerVersion(const BinlogClient *c);
/* major * 10000 + minor * 100 + patch, e.g. 101119. */
unsigned binlogClientServerVersionId(const BinlogClient *c);
/* @@global.binlog_checksum when connecting: BINLOG_CHECKSUM_OFF or BINLOG_CHECKSUM_CRC32. */
BinlogChecksumAlg binlogClientChecksumAlg(const BinlogClient *c);
uint32_t binlogClientServerId(const BinlogClient *c);
/* @@server_uuid on MySQL, "" on MariaDB. */
const char *binlogClientServerUuid(const BinlogClient *c);
const char *binlogClientUrl(const BinlogClient *c);
/* The client's SQL connection, for queries after binlogClientConnect() and before the stream
 * starts (never during it). */
SqlConn *binlogClientSql(BinlogClient *c);

/* Why a server refused or ended a binlog stream for good, from its error code and message: no
 * reconnection helps. */
typedef enum BinlogStreamRefusal {
    BINLOG_REFUSED_NO = 0,         /* not a refusal: connection lost, server restarting, ... */
    BINLOG_REFUSED_GTID_UNKNOWN,   /* the GTID asked for was never in its binlogs (ERR_NOTFOUND) */
    BINLOG_REFUSED_FILE_MISSING,   /* error 1236 "Could not find first log file name in binary log index
                                    * file": the file was purged or never existed (ERR_GAP) */
    BINLOG_REFUSED_PURGED,         /* the binlogs with the GTIDs asked for were purged (ERR_GAP) */
    BINLOG_REFUSED_POSITION,       /* the position is past the file's end / not an event (ERR_NOTFOUND) */
    BINLOG_REFUSED_SOURCE_CONFIG,  /* the source cannot serve replicas (no server_id) (ERR_CONFIG) */
} BinlogStreamRefusal;

BinlogStreamRefusal binlogStreamRefusal(unsigned serverErrorCode, const char *serverMessage);

/* Start the stream at file:pos (pos >= 4). file NULL or "" starts at the first binlog the
 * source has. A client streams once: connect a new one to start again. */
int binlogClientStartFile(BinlogClient *c, const char *file, uint64_t pos, Err *err);

/* MariaDB: start after the GTID position gtidPos ("0-1-100,1-2-7": the last GTID of each domain
 * already held, as @@gtid_slave_pos), through @slave_connect_state with @slave_gtid_strict_mode
 * (the server refuses a GTID that is not exactly in its binlogs). The server picks the file: the
 * stream starts with an artificial ROTATE naming it, its FORMAT_DESCRIPTION and GTID_LIST, and
 * when it skips what gtidPos holds, an artificial GTID_LIST whose end position is where the
 * events continue (the segmenter frames from there). */
int binlogClientStartMariaGtid(BinlogClient *c, const char *gtidPos, Err *err);

/* MySQL: start after the GTID set held (its binary encoding, gtidSetEncode()), through
 * COM_BINLOG_DUMP_GTID. */
int binlogClientStartMysqlGtid(BinlogClient *c, const uint8_t *encodedGtidSet, size_t len, Err *err);

/* Next event: returns 1 and sets *event / *len to the whole event (19-byte header to checksum,
 * without the protocol's OK byte or semi-sync prefix), valid until the next binlogClientRead(),
 * binlogClientSemiSyncAck() or binlogClientFree(); 0 at the end of the stream (nonBlocking);
 * -1 on error: the refusals of binlogStreamRefusal() (ERR_GAP when the source no longer has what
 * was asked for, ERR_NOTFOUND for a GTID or position it never had, ERR_CONFIG), which no
 * reconnection cures; ERR_SOURCE when the connection is lost or the source fails (worth a retry),
 * ERR_FORMAT for a malformed packet. The stream holds
 * artificial events (flag BINLOG_FLAG_ARTIFICIAL: the ROTATE that opens it, MariaDB's fake
 * GTID_LIST) and heartbeats (type 27), which are not part of any binlog file. */
int binlogClientRead(BinlogClient *c, const uint8_t **event, size_t *len, Err *err);

/* True when the source asked for a semi-sync ACK of the last event read. */
bool binlogClientAckRequested(const BinlogClient *c);
/* True when the next binlogClientRead() will not block: a packet is already buffered or the
 * socket is readable. Semi-sync replicas use it to group ACKs (one fsync and one ACK for the
 * latest requested position, which covers the earlier ones). */
bool binlogClientPending(const BinlogClient *c);
/* Wait up to `timeoutMs` for the next packet: true when binlogClientRead() would not block (as
 * binlogClientPending()), false when nothing arrived in time. Over TLS, where bytes may wait
 * inside the TLS layer unseen by the socket, it returns true at once (the caller just reads). */
bool binlogClientWait(const BinlogClient *c, int timeoutMs);

/* The binlog file the stream is in (from the ROTATE events), "" before the first one. */
const char *binlogClientFile(const BinlogClient *c);

/* End position in binlogClientFile() of the last event read that has one (log_pos != 0), or the
 * position a ROTATE names. */
uint64_t binlogClientPosition(const BinlogClient *c);

/* Send a semi-sync ACK for file:pos (normally binlogClientFile() and the end position of the
 * acknowledged event), once the event is safe. Invalidates the last event's bytes. */
int binlogClientSemiSyncAck(BinlogClient *c, const char *file, uint64_t pos, Err *err);

void binlogClientFree(BinlogClient *c);

#endif
