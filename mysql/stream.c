/*
 * The replica stream (mysql/client.h BinlogClient): with mysql/sql.c, the only files of binvault
 * that talk to libmariadb. The replication stream does not use libmariadb's
 * mariadb_rpl_* layer: with Connector/C 3.3 mariadb_rpl_fetch() misparses the ROTATE events that
 * follow the first FORMAT_DESCRIPTION (and corrupts the file name it keeps), ignores
 * MARIADB_RPL_IGNORE_HEARTBEAT, copies every event, and acknowledges semi-sync events before the
 * caller holds them. Instead the commands are built by the pure encoders of binlog/protocol.h and sent
 * through the connection's own command method (mysql->methods->db_command, declared in the
 * public mysql.h), and the events are read with mysql_net_read_packet(): ma_net_read()
 * reassembles a logical packet from its 16 MiB protocol packets into the connection's buffer, and
 * the event is handed out from there without a copy.
 *
 * On a plain connection (no TLS, no protocol compression) the stream is read past libmariadb once
 * the dump command is sent: libmariadb reads the socket through a fixed 16 KiB read-ahead (a
 * recvfrom, and an ACK from the kernel, per 16 KiB) and copies every packet out of it. The
 * client reads the socket into its own buffer (STREAM_BUF_SIZE, grown only for a larger event,
 * up to SQL_MAX_PACKET), frames the packets there (mysql/packet.h) and hands the event out of it.
 * libmariadb's net layer is then used only to write (the semi-sync ACK, COM_QUIT): it never reads
 * again, so its read state cannot disagree with the socket.
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>
#include <ma_pvio.h>
#include <mysqld_error.h>

#include "binlog/protocol.h"
#include "mysql/internal.h"
#include "mysql/packet.h"

#include "common/bytes.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/url.h"

#define SQL_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define SQL_DEFAULT_WRITE_TIMEOUT_MS 60000
/* SQL text quoted in error messages is cut here: statements are internal, but long. */
#define SQL_QUOTE_MAX 120

/* The stream's read buffer on a plain connection: 16 times libmariadb's read-ahead, so that a
 * read takes what the socket holds (a few events at a time when the source is idle, the whole
 * receive window when catching up), and small enough to stay in the cache while its events are
 * checked. A larger event grows it; grown up to STREAM_BUF_KEEP it is kept (large rows come in
 * runs: no realloc per event), larger it goes back to STREAM_BUF_SIZE once the event has gone. */
#define STREAM_BUF_SIZE ((size_t)256 << 10)
#define STREAM_BUF_KEEP ((size_t)4 << 20)

/* What COM_REGISTER_SLAVE and COM_BINLOG_DUMP need, on MySQL and MariaDB. */
#define BINLOG_REPLICATION_GRANT "REPLICATION SLAVE"

typedef enum ClientState {
    CLIENT_NEW = 0,
    CLIENT_CONNECTED,
    CLIENT_STREAMING,
    CLIENT_ENDED,
    CLIENT_FAILED,
} ClientState;

typedef enum SemiSyncState {
    SEMI_SYNC_OFF = 0,   /* not asked for */
    SEMI_SYNC_UNKNOWN,   /* asked for; the first packet tells whether the source adds the prefix */
    SEMI_SYNC_ON,        /* every event packet has the 0xef <flag> prefix */
} SemiSyncState;

struct BinlogClient {
    BinlogClientOpts opts; /* strings point to the copies below */
    char *host, *socket, *user, *password, *passwordFrom, *sslCa, *sslCert, *sslKey, *reportHost;
    SqlConn *sql;
    ClientState state;

    BinlogFlavour flavour;
    char *version;
    unsigned versionId;
    BinlogChecksumAlg checksumAlg;
    uint32_t serverId;
    char *serverUuid;

    char *start; /* what the stream was asked for, for messages */
    SemiSyncState semiSync;
    bool ackRequested;
    char file[512];
    uint64_t pos;
    unsigned readTimeoutMs;

    /* The socket read past libmariadb (a plain connection): buf[head, tail) is received and not
     * yet handed out; seq is the next packet's sequence number, or 1 too after a semi-sync event
     * that asked for an ACK (seqRestart). */
    bool raw;
    int fd;
    uint8_t *buf;
    size_t cap, head, tail;
    uint8_t seq;
    bool seqRestart;
};

void
binlogClientOptsInit(BinlogClientOpts *opts) {
    memset(opts, 0, sizeof(*opts));
    opts->wantAnnotateRows = true;
}

static char *
dupOrNull(const char *s) {
    return s ? bvStrdup(s) : NULL;
}

BinlogClient *
binlogClientNew(const BinlogClientOpts *opts) {
    BinlogClient *c = bvCalloc(1, sizeof(*c));

    c->opts = *opts;
    c->opts.conn.host = c->host = dupOrNull(opts->conn.host);
    c->opts.conn.socket = c->socket = dupOrNull(opts->conn.socket);
    c->opts.conn.user = c->user = dupOrNull(opts->conn.user);
    c->opts.conn.password = c->password = dupOrNull(opts->conn.password);
    c->opts.conn.passwordFrom = c->passwordFrom = dupOrNull(opts->conn.passwordFrom);
    c->opts.conn.sslCa = c->sslCa = dupOrNull(opts->conn.sslCa);
    c->opts.conn.sslCert = c->sslCert = dupOrNull(opts->conn.sslCert);
    c->opts.conn.sslKey = c->sslKey = dupOrNull(opts->conn.sslKey);
    c->opts.reportHost = c->reportHost = dupOrNull(opts->reportHost);
    c->readTimeoutMs = opts->conn.readTimeoutMs;
    if (c->readTimeoutMs == 0 && opts->heartbeatMs > 0)
        c->readTimeoutMs = opts->heartbeatMs > UINT32_MAX / 3 ? UINT32_MAX : opts->heartbeatMs * 3;
    c->opts.conn.readTimeoutMs = c->readTimeoutMs;
    c->version = bvStrdup("");
    c->serverUuid = bvStrdup("");
    return c;
}

typedef struct ConnectRow {
    char *version;
    char *checksum;
    char *serverId;
} ConnectRow;

static int
connectRow(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    ConnectRow *r = data;

    (void)lengths;
    if (nCols != 3 || values[0] == NULL || values[2] == NULL)
        return errSet(err, ERR_SOURCE, "unexpected answer to the server variables query");
    r->version = bvStrdup(values[0]);
    r->checksum = values[1] ? bvStrdup(values[1]) : bvStrdup("NONE");
    r->serverId = bvStrdup(values[2]);
    return 0;
}

int
binlogClientConnect(BinlogClient *c, Err *err) {
    ConnectRow r = {NULL, NULL, NULL};
    int major = 0, minor = 0, patch = 0;
    int rc = -1;
    char *end;
    unsigned long long sid;

    if (c->state != CLIENT_NEW)
        return errSet(err, ERR_INTERNAL, "binlog client connected twice");
    c->sql = sqlConnect(&c->opts.conn, err);
    if (c->sql == NULL) {
        c->state = CLIENT_FAILED;
        return -1;
    }
    if (sqlQuery(c->sql, "SELECT @@version, @@global.binlog_checksum, @@server_id", connectRow, &r, err) != 0)
        goto done;
    if (r.version == NULL) {
        errSet(err, ERR_SOURCE, "'%s' returned no row for the server variables", sqlConnUrl(c->sql));
        goto done;
    }
    bvFree(c->version);
    c->version = r.version;
    r.version = NULL;
    binlogParseServerVersion(c->version, &c->flavour, &major, &minor, &patch);
    c->versionId = (unsigned)(major * 10000 + minor * 100 + patch);
    if (strcasecmp(r.checksum, "CRC32") == 0) {
        c->checksumAlg = BINLOG_CHECKSUM_CRC32;
    } else if (strcasecmp(r.checksum, "NONE") == 0) {
        c->checksumAlg = BINLOG_CHECKSUM_OFF;
    } else {
        errSet(err, ERR_SOURCE, "'%s' has an unknown binlog_checksum '%s'", sqlConnUrl(c->sql), r.checksum);
        goto done;
    }
    errno = 0;
    sid = strtoull(r.serverId, &end, 10);
    if (errno != 0 || *end != '\0' || sid > UINT32_MAX) {
        errSet(err, ERR_SOURCE, "'%s' has an unexpected server_id '%s'", sqlConnUrl(c->sql), r.serverId);
        goto done;
    }
    c->serverId = (uint32_t)sid;
    if (c->flavour == BINLOG_FLAVOUR_MYSQL) {
        char *uuid = NULL;

        if (sqlQueryValue(c->sql, "SELECT @@server_uuid", &uuid, err) != 0)
            goto done;
        bvFree(c->serverUuid);
        c->serverUuid = uuid ? uuid : bvStrdup("");
    }
    c->state = CLIENT_CONNECTED;
    logDebug("source '%s': %s, server_id %" PRIu32 ", binlog_checksum %s", sqlConnUrl(c->sql), c->version,
             c->serverId, r.checksum);
    rc = 0;
done:
    if (rc != 0)
        c->state = CLIENT_FAILED;
    bvFree(r.version);
    bvFree(r.checksum);
    bvFree(r.serverId);
    return rc;
}

BinlogFlavour
binlogClientFlavour(const BinlogClient *c) {
    return c->flavour;
}

const char *
binlogClientServerVersion(const BinlogClient *c) {
    return c->version;
}

unsigned
binlogClientServerVersionId(const BinlogClient *c) {
    return c->versionId;
}

BinlogChecksumAlg
binlogClientChecksumAlg(const BinlogClient *c) {
    return c->checksumAlg;
}

uint32_t
binlogClientServerId(const BinlogClient *c) {
    return c->serverId;
}

const char *
binlogClientServerUuid(const BinlogClient *c) {
    return c->serverUuid;
}

const char *
binlogClientUrl(const BinlogClient *c) {
    return c->sql ? sqlConnUrl(c->sql) : "";
}

SqlConn *
binlogClientSql(BinlogClient *c) {
    return c->state == CLIENT_CONNECTED ? c->sql : NULL;
}

/* Send one command packet (encoded: command byte first) on the connection. With expectOk the
 * server's answer is read, and an error packet becomes err. */
static int
clientCommand(BinlogClient *c, const uint8_t *packet, size_t len, bool expectOk, const char *doing, Err *err) {
    MYSQL *m = c->sql->mysql;

    if (m->methods->db_command(m, (enum enum_server_command)packet[0], (const char *)packet + 1, len - 1,
                               expectOk ? 0 : 1, NULL) != 0)
        return sqlFailGrant(c->sql, doing, BINLOG_REPLICATION_GRANT, err);
    return 0;
}

/* The session variables a replica sets before asking for the stream. */
static int
clientPrepareDump(BinlogClient *c, Err *err) {
    char sql[256];

    if (c->state != CLIENT_CONNECTED)
        return errSet(err, ERR_INTERNAL, "binlog stream started %s",
                      c->state == CLIENT_NEW ? "before connecting" : "twice on one connection");
    /* Declare checksum awareness; the events then keep the CRC32 they have in the files. */
    if (sqlExec(c->sql,
                "SET @master_binlog_checksum = @@global.binlog_checksum, "
                "@source_binlog_checksum = @@global.binlog_checksum",
                err) != 0)
        return -1;
    if (c->flavour == BINLOG_FLAVOUR_MARIADB && sqlExec(c->sql, "SET @mariadb_slave_capability = 4", err) != 0)
        return -1;
    if (c->opts.heartbeatMs > 0) {
        unsigned long long ns = (unsigned long long)c->opts.heartbeatMs * 1000000ULL;

        snprintf(sql, sizeof(sql), "SET @master_heartbeat_period = %llu, @source_heartbeat_period = %llu", ns, ns);
        if (sqlExec(c->sql, sql, err) != 0)
            return -1;
    }
    if (c->opts.semiSync) {
        if (sqlExec(c->sql, "SET @rpl_semi_sync_slave = 1, @rpl_semi_sync_replica = 1", err) != 0)
            return -1;
        c->semiSync = SEMI_SYNC_UNKNOWN;
    }
    return 0;
}

static int
clientRegister(BinlogClient *c, Err *err) {
    char hostname[256];
    const char *host = c->opts.reportHost;
    uint8_t *packet;
    size_t len;
    int rc;

    if (host == NULL) {
        if (gethostname(hostname, sizeof(hostname)) != 0)
            snprintf(hostname, sizeof(hostname), "binvault");
        hostname[sizeof(hostname) - 1] = '\0';
        host = hostname;
    }
    /* No user or password: SHOW SLAVE HOSTS would show them with --show-slave-auth-info. */
    packet = binlogEncodeRegisterSlave(c->opts.serverId, host, NULL, NULL, c->opts.reportPort, 0, &len);
    rc = clientCommand(c, packet, len, true, "registering as a replica (COM_REGISTER_SLAVE)", err);
    bvFree(packet);
    return rc;
}

static int
clientStartCommon(BinlogClient *c, Err *err) {
    if (c->opts.serverId == 0)
        return errSet(err, ERR_USAGE, "a replica's server id must not be 0");
    return clientPrepareDump(c, err);
}

/* Why the stream cannot be read past libmariadb on this connection, or NULL when it can: the
 * socket carries the packets as they are (no TLS, no compression) and libmariadb holds none of
 * the stream's bytes yet (its read-ahead is empty: nothing was read since the dump command). */
static const char *
clientRawRefusal(const BinlogClient *c) {
    MYSQL *m = c->sql->mysql;
    MARIADB_PVIO *pvio = m->net.pvio;
    unsigned long caps = 0;
    unsigned pvioType = 0;

    if (mysql_get_ssl_cipher(m) != NULL)
        return "TLS";
    if (mariadb_get_infov(m, MARIADB_CONNECTION_CLIENT_CAPABILITIES, &caps) != 0 || (caps & CLIENT_COMPRESS) ||
        m->net.compress)
        return "protocol compression";
    if (mariadb_get_infov(m, MARIADB_CONNECTION_PVIO_TYPE, &pvioType) != 0 ||
        (pvioType != PVIO_TYPE_SOCKET && pvioType != PVIO_TYPE_UNIXSOCKET) || mysql_get_socket(m) < 0)
        return "not a socket";
    if (pvio == NULL || (pvio->cache != NULL && pvio->cache + pvio->cache_size > pvio->cache_pos) ||
        m->net.remain_in_buf != 0)
        return "bytes buffered by libmariadb";
    return NULL;
}

static int
clientSendDump(BinlogClient *c, uint8_t *packet, size_t len, Err *err) {
    int rc = clientCommand(c, packet, len, false, "asking for the binlog stream", err);
    const char *refusal;

    bvFree(packet);
    if (rc != 0) {
        c->state = CLIENT_FAILED;
        return -1;
    }
    c->state = CLIENT_STREAMING;
    refusal = clientRawRefusal(c);
    if (refusal == NULL) {
        c->raw = true;
        c->fd = mysql_get_socket(c->sql->mysql);
        /* The dump command went out as packet 0 (and on, were it in parts): the answer numbers on. */
        c->seq = (uint8_t)c->sql->mysql->net.pkt_nr;
        c->cap = STREAM_BUF_SIZE;
        c->buf = bvMalloc(c->cap);
    }
    logDebug("streaming binlogs from '%s' (%s), %s; reading %s%s", sqlConnUrl(c->sql), c->version, c->start,
             c->raw ? "the socket directly" : "through libmariadb: ", c->raw ? "" : refusal);
    return 0;
}

static uint16_t
clientDumpFlags(const BinlogClient *c) {
    uint16_t flags = 0;

    if (c->opts.nonBlocking)
        flags |= BINLOG_DUMP_NON_BLOCK;
    /* On MySQL 0x02 means something else (heartbeat v2 / through position): MariaDB only. */
    if (c->flavour == BINLOG_FLAVOUR_MARIADB && c->opts.wantAnnotateRows)
        flags |= BINLOG_DUMP_ANNOTATE_ROWS;
    return flags;
}

int
binlogClientStartFile(BinlogClient *c, const char *file, uint64_t pos, Err *err) {
    uint8_t *packet;
    size_t len;

    if (file == NULL)
        file = "";
    if (pos < 4 || pos > UINT32_MAX)
        return errSet(err, ERR_USAGE, "invalid binlog position %" PRIu64 " (expected 4 to %" PRIu32 ")", pos,
                      UINT32_MAX);
    if (strlen(file) >= sizeof(c->file))
        return errSet(err, ERR_USAGE, "binlog file name '%.64s...' is too long", file);
    if (clientStartCommon(c, err) != 0 || clientRegister(c, err) != 0) {
        c->state = CLIENT_FAILED;
        return -1;
    }
    bvFree(c->start);
    c->start = file[0] ? bvSprintf("binlog '%s' at position %" PRIu64, file, pos)
                       : bvSprintf("the first binlog at position %" PRIu64, pos);
    snprintf(c->file, sizeof(c->file), "%s", file);
    c->pos = pos;
    packet = binlogEncodeDump((uint32_t)pos, clientDumpFlags(c), c->opts.serverId, file, &len);
    return clientSendDump(c, packet, len, err);
}

int
binlogClientStartMariaGtid(BinlogClient *c, const char *gtidPos, Err *err) {
    char *escaped, *sql;
    uint8_t *packet;
    size_t len;
    int rc;

    if (c->state == CLIENT_CONNECTED && c->flavour != BINLOG_FLAVOUR_MARIADB)
        return errSet(err, ERR_USAGE, "'%s' is not MariaDB (%s): start a MySQL stream from a GTID set",
                      sqlConnUrl(c->sql), c->version);
    if (clientStartCommon(c, err) != 0) {
        c->state = CLIENT_FAILED;
        return -1;
    }
    escaped = sqlEscape(c->sql, gtidPos);
    /* Strict: a state the server's binlogs do not hold exactly (another server's history, or
     * transactions it lost) is refused instead of streamed from a guess. */
    sql = bvSprintf("SET @slave_connect_state = '%s', @slave_gtid_strict_mode = 1", escaped);
    rc = sqlExec(c->sql, sql, err);
    bvFree(sql);
    bvFree(escaped);
    if (rc != 0 || clientRegister(c, err) != 0) {
        c->state = CLIENT_FAILED;
        return -1;
    }
    bvFree(c->start);
    c->start = bvSprintf("GTID position '%s'", gtidPos);
    c->file[0] = '\0';
    c->pos = 4;
    /* With a connect state the server ignores the file and position and finds them itself. */
    packet = binlogEncodeDump(4, clientDumpFlags(c), c->opts.serverId, "", &len);
    return clientSendDump(c, packet, len, err);
}

int
binlogClientStartMysqlGtid(BinlogClient *c, const uint8_t *encodedGtidSet, size_t len, Err *err) {
    uint16_t flags;
    uint8_t *packet;
    size_t packetLen;

    if (c->state == CLIENT_CONNECTED && c->flavour != BINLOG_FLAVOUR_MYSQL)
        return errSet(err, ERR_USAGE, "'%s' is not MySQL (%s): start a MariaDB stream from a GTID position",
                      sqlConnUrl(c->sql), c->version);
    if (len > UINT32_MAX - 64)
        return errSet(err, ERR_LIMIT, "encoded GTID set of %zu bytes is too large", len);
    if (clientStartCommon(c, err) != 0 || clientRegister(c, err) != 0) {
        c->state = CLIENT_FAILED;
        return -1;
    }
    bvFree(c->start);
    c->start = bvSprintf("a GTID set (%zu bytes encoded)", len);
    c->file[0] = '\0';
    c->pos = 4;
    flags = BINLOG_DUMP_THROUGH_GTID | (c->opts.nonBlocking ? BINLOG_DUMP_NON_BLOCK : 0);
    packet = binlogEncodeDumpGtid(flags, c->opts.serverId, "", 4, encodedGtidSet, len, &packetLen);
    return clientSendDump(c, packet, packetLen, err);
}

/* Where the stream is, for messages: "'mariadb-bin.000003' position 605", or what it was asked
 * for before the first ROTATE named a file. */
static const char *
clientWhere(const BinlogClient *c, char *buf, size_t size) {
    if (c->file[0] != '\0')
        snprintf(buf, size, "'%s' position %" PRIu64, c->file, c->pos);
    else
        snprintf(buf, size, "the start (%s)", c->start ? c->start : "nothing asked");
    return buf;
}

static bool
containsCase(const char *haystack, const char *needle) {
    return strcasestr(haystack, needle) != NULL;
}

BinlogStreamRefusal
binlogStreamRefusal(unsigned code, const char *msg) {
    if (code == ER_GTID_POSITION_NOT_FOUND_IN_BINLOG || code == ER_GTID_POSITION_NOT_FOUND_IN_BINLOG2 ||
        (code == ER_MASTER_FATAL_ERROR_READING_BINLOG &&
         (containsCase(msg, "not in the master's binlog") || containsCase(msg, "not in the source's binlog"))))
        return BINLOG_REFUSED_GTID_UNKNOWN;
    if (code == ER_MASTER_FATAL_ERROR_READING_BINLOG && containsCase(msg, "could not find first log file"))
        return BINLOG_REFUSED_FILE_MISSING;
    if (code == ER_MASTER_HAS_PURGED_REQUIRED_GTIDS ||
        (code == ER_MASTER_FATAL_ERROR_READING_BINLOG &&
         (containsCase(msg, "purged") || containsCase(msg, "could not find gtid state"))))
        return BINLOG_REFUSED_PURGED;
    if (code == ER_MASTER_FATAL_ERROR_READING_BINLOG &&
        (containsCase(msg, "impossible position") || containsCase(msg, "position > file size")))
        return BINLOG_REFUSED_POSITION;
    if (code == ER_MASTER_FATAL_ERROR_READING_BINLOG && containsCase(msg, "server id was not set"))
        return BINLOG_REFUSED_SOURCE_CONFIG;
    return BINLOG_REFUSED_NO;
}

/* The error the stream ended with: the server's ERR packet (code, msg) or a lost connection
 * (libmariadb's client error codes and messages), timedOut when the read timeout ran out. */
static int
clientStreamError(BinlogClient *c, unsigned code, const char *msg, bool timedOut, Err *err) {
    const char *url = sqlConnUrl(c->sql);
    char where[640];

    clientWhere(c, where, sizeof(where));
    c->state = CLIENT_FAILED;
    switch (binlogStreamRefusal(code, msg)) {
    case BINLOG_REFUSED_GTID_UNKNOWN:
        /* MariaDB: a GTID the source never logged (ahead of it, or from a diverged replica). */
        return errSet(err, ERR_NOTFOUND, "'%s' does not have %s in its binlogs; server said: %s", url, c->start,
                      msg);
    case BINLOG_REFUSED_FILE_MISSING:
        return errSet(err, ERR_GAP,
                      "'%s' no longer has %s (its binlogs were purged, or the file never existed): the events "
                      "from there on are missing and the archive now has a gap; server said: %s",
                      url, c->start, msg);
    case BINLOG_REFUSED_PURGED:
        return errSet(err, ERR_GAP,
                      "'%s' no longer has the binlogs after %s (they were purged): the transactions after it are "
                      "missing and the archive now has a gap; server said: %s",
                      url, c->start, msg);
    case BINLOG_REFUSED_POSITION:
        return errSet(err, ERR_NOTFOUND,
                      "'%s' has no event at %s (the position is past the end of the file, or not at an event's "
                      "start); server said: %s",
                      url, c->start, msg);
    case BINLOG_REFUSED_SOURCE_CONFIG:
        return errSet(err, ERR_CONFIG, "'%s' cannot serve replicas as configured; server said: %s", url, msg);
    case BINLOG_REFUSED_NO:
        break;
    }
    if (sqlAccessDenied(code))
        return sqlFailError(c->sql, "reading the binlog stream", BINLOG_REPLICATION_GRANT, code, msg, err);
    if (code == CR_SERVER_LOST || code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST_EXTENDED) {
        if (timedOut)
            return errSet(err, ERR_SOURCE,
                          "no data from '%s' for %u s (read timeout%s) at %s: the source or the network is "
                          "down",
                          url, sqlMsToSeconds(c->readTimeoutMs),
                          c->opts.heartbeatMs ? ", heartbeats missing" : "", where);
        return errSet(err, ERR_SOURCE, "lost the connection to '%s' while streaming at %s: %s", url, where, msg);
    }
    if (code == CR_NET_PACKET_TOO_LARGE)
        return errSet(err, ERR_LIMIT, "an event from '%s' after %s exceeds %zu bytes", url, where, SQL_MAX_PACKET);
    return errSet(err, ERR_SOURCE, "'%s' ended the binlog stream at %s: %s (error %u)", url, where, msg, code);
}

/* Keep file and position up to date from the event just read. */
static int
clientTrack(BinlogClient *c, const uint8_t *ev, size_t len, Err *err) {
    uint8_t type = ev[4];
    uint32_t logPos = rdU32(ev + 13);

    if (type == BINLOG_ROTATE) {
        size_t nameLen;

        if (len < BINLOG_HEADER_LEN + 8 + 1)
            return errSet(err, ERR_FORMAT, "truncated ROTATE event (%zu bytes) from '%s'", len, sqlConnUrl(c->sql));
        nameLen = len - BINLOG_HEADER_LEN - 8;
        /* Whether this ROTATE ends with a CRC32 depends on the checksum setting of the file it
         * comes from (or, for the artificial one, of the previous file): ask the event itself. */
        if (nameLen > BINLOG_CHECKSUM_LEN &&
            binlogEventComputeChecksum(ev, len - BINLOG_CHECKSUM_LEN) == rdU32(ev + len - BINLOG_CHECKSUM_LEN))
            nameLen -= BINLOG_CHECKSUM_LEN;
        if (nameLen >= sizeof(c->file) || memchr(ev + BINLOG_HEADER_LEN + 8, '\0', nameLen))
            return errSet(err, ERR_FORMAT, "ROTATE event from '%s' with an invalid file name", sqlConnUrl(c->sql));
        memcpy(c->file, ev + BINLOG_HEADER_LEN + 8, nameLen);
        c->file[nameLen] = '\0';
        c->pos = rdU64(ev + BINLOG_HEADER_LEN);
        return 0;
    }
    if (logPos != 0 && type != BINLOG_HEARTBEAT && type != BINLOG_HEARTBEAT_V2)
        c->pos = logPos;
    return 0;
}

/* The coarse clock (a few ms of resolution, a plain memory read in the vDSO): it only measures
 * how long a failed read waited, against a read timeout of seconds, and it is read once per
 * packet. */
static double
nowMs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* libmariadb's text of one of its client errors (CR_*): the stream read from the socket reports
 * the errors a read through libmariadb did. */
static const char *
clientErrorText(unsigned code) {
    char **texts = NULL;

    if (code < CR_MIN_ERROR || code > CR_MAX_ERROR || mariadb_get_infov(NULL, MARIADB_CLIENT_ERRORS, &texts) != 0 ||
        texts == NULL)
        return "client error";
    return texts[code - CR_MIN_ERROR];
}

/* The read timeout as libmariadb applies it, per wait for the socket: whole seconds; -1 = none. */
static int
clientPollTimeout(const BinlogClient *c) {
    unsigned s = sqlMsToSeconds(c->readTimeoutMs);

    return s == 0 ? -1 : s > INT32_MAX / 1000 ? INT32_MAX : (int)(s * 1000);
}

/* Make room in the read buffer for `need` bytes from c->head on: grow it for a larger packet,
 * shrink it back once a very large packet has gone, and move what is held to the front when the packet
 * would not fit after it or little room is left to read into (so that a read takes what the
 * socket holds, not the buffer's last few bytes). */
static void
rawMakeRoom(BinlogClient *c, size_t need) {
    size_t held = c->tail - c->head, cap = c->cap;

    if (held == 0)
        c->head = c->tail = 0;
    if (need > cap) {
        /* Doubling keeps a packet of many 16 MiB parts from being moved once per part. */
        cap = cap <= (SQL_MAX_PACKET >> 1) && cap * 2 > need ? cap * 2 : need;
    } else if (cap > STREAM_BUF_KEEP && need <= STREAM_BUF_SIZE && held <= STREAM_BUF_SIZE) {
        cap = STREAM_BUF_SIZE;
    }
    if (c->head > 0 && (need > c->cap - c->head || c->cap - c->tail < c->cap / 4 || cap < c->cap)) {
        memmove(c->buf, c->buf + c->head, held);
        c->head = 0;
        c->tail = held;
    }
    if (cap != c->cap) {
        c->buf = bvRealloc(c->buf, cap);
        c->cap = cap;
    }
}

/* Read what the socket holds into the buffer, waiting up to the read timeout for something. */
static int
rawFill(BinlogClient *c, Err *err) {
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->tail, c->cap - c->tail, MSG_DONTWAIT);
        struct pollfd pfd;
        int rc;

        if (n > 0) {
            c->tail += (size_t)n;
            return 0;
        }
        if (n == 0)
            return clientStreamError(c, CR_SERVER_LOST, clientErrorText(CR_SERVER_LOST), false, err);
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return clientStreamError(c, CR_SERVER_LOST, clientErrorText(CR_SERVER_LOST), false, err);
        pfd.fd = c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        rc = poll(&pfd, 1, clientPollTimeout(c));
        if (rc == 0)
            return clientStreamError(c, CR_SERVER_LOST, clientErrorText(CR_SERVER_LOST), true, err);
        if (rc < 0 && errno != EINTR)
            return clientStreamError(c, CR_SERVER_LOST, clientErrorText(CR_SERVER_LOST), false, err);
    }
}

/* The next logical packet from the socket, framed in the read buffer. */
static int
rawPacket(BinlogClient *c, const uint8_t **packet, size_t *len, Err *err) {
    for (;;) {
        SqlPacket pk;
        size_t need;
        char where[640];
        int rc = sqlPacketFrame(c->buf + c->head, c->tail - c->head, c->seq, c->seqRestart, SQL_MAX_PACKET, &pk,
                                &need, err);

        if (rc > 0) {
            *packet = c->buf + c->head + pk.payload;
            *len = pk.len;
            c->head += pk.consumed;
            c->seq = (uint8_t)(pk.lastSeq + 1);
            c->seqRestart = false;
            return 0;
        }
        if (rc < 0 && err->code == ERR_LIMIT)
            return clientStreamError(c, CR_NET_PACKET_TOO_LARGE, clientErrorText(CR_NET_PACKET_TOO_LARGE), false,
                                     err);
        if (rc < 0) {
            c->state = CLIENT_FAILED;
            return errPrefix(err, "malformed packet from '%s' after %s", sqlConnUrl(c->sql),
                             clientWhere(c, where, sizeof(where)));
        }
        rawMakeRoom(c, need);
        if (rawFill(c, err) != 0)
            return -1;
    }
}

/* The next packet through libmariadb (TLS, compression): in the connection's buffer. */
static int
netPacket(BinlogClient *c, const uint8_t **packet, size_t *len, Err *err) {
    MYSQL *m = c->sql->mysql;
    double started = nowMs();
    unsigned long n = mysql_net_read_packet(m);

    if (n == packet_error) {
        unsigned code = mysql_errno(m);
        bool lost = code == CR_SERVER_LOST || code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST_EXTENDED;

        return clientStreamError(c, code, mysql_error(m),
                                 lost && c->readTimeoutMs > 0 &&
                                     nowMs() - started + 500 >= (double)sqlMsToSeconds(c->readTimeoutMs) * 1000,
                                 err);
    }
    *packet = m->net.read_pos;
    *len = n;
    return 0;
}

int
binlogClientRead(BinlogClient *c, const uint8_t **event, size_t *len, Err *err) {
    size_t n = 0;
    const uint8_t *p = NULL, *ev;
    size_t off = 1, evLen;
    char where[640];

    *event = NULL;
    *len = 0;
    c->ackRequested = false;
    switch (c->state) {
    case CLIENT_STREAMING:
        break;
    case CLIENT_ENDED:
        return 0;
    case CLIENT_FAILED:
        return errSet(err, ERR_SOURCE, "the binlog stream from '%s' has already failed", binlogClientUrl(c));
    default:
        return errSet(err, ERR_INTERNAL, "binlog stream read before it was started");
    }
    if ((c->raw ? rawPacket(c, &p, &n, err) : netPacket(c, &p, &n, err)) != 0)
        return -1;
    /* libmariadb takes an empty packet for a lost connection, and the message of an error
     * packet from it: the same here. */
    if (c->raw && n == 0)
        return clientStreamError(c, CR_SERVER_LOST, clientErrorText(CR_SERVER_LOST), false, err);
    if (c->raw && p[0] == 0xff) {
        SqlServerError se;

        if (!sqlPacketParseError(p, n, &se))
            return clientStreamError(c, CR_UNKNOWN_ERROR, clientErrorText(CR_UNKNOWN_ERROR), false, err);
        logDebug("'%s' ended the binlog stream: error %u (SQLSTATE %s): %s", sqlConnUrl(c->sql), se.code,
                 se.sqlstate, se.message);
        return clientStreamError(c, se.code, se.message, false, err);
    }
    if (p[0] == 0xfe) { /* EOF (or an OK with the EOF marker): end of a non-blocking stream */
        c->state = CLIENT_ENDED;
        return 0;
    }
    if (p[0] != 0x00) {
        c->state = CLIENT_FAILED;
        return errSet(err, ERR_FORMAT, "unexpected packet 0x%02x (%zu bytes) in the binlog stream from '%s'", p[0],
                      n, sqlConnUrl(c->sql));
    }
    if (c->semiSync == SEMI_SYNC_UNKNOWN)
        /* The first event is the artificial ROTATE, whose timestamp is 0: a first byte 0xef can
         * only be the semi-sync prefix. */
        c->semiSync = n >= 3 && p[1] == BINLOG_SEMI_SYNC_MAGIC ? SEMI_SYNC_ON : SEMI_SYNC_OFF;
    if (c->semiSync == SEMI_SYNC_ON) {
        if (n < 3 || p[1] != BINLOG_SEMI_SYNC_MAGIC) {
            c->state = CLIENT_FAILED;
            return errSet(err, ERR_FORMAT, "event packet without semi-sync prefix from '%s' after %s",
                          sqlConnUrl(c->sql), clientWhere(c, where, sizeof(where)));
        }
        c->ackRequested = (p[2] & 0x01) != 0;
        /* The source restarts its packet numbering after an event it waits an ACK for. */
        c->seqRestart = c->ackRequested;
        off = 3;
    }
    ev = p + off;
    evLen = n - off;
    if (evLen < BINLOG_HEADER_LEN || rdU32(ev + 9) != evLen) {
        c->state = CLIENT_FAILED;
        return errSet(err, ERR_FORMAT,
                      "malformed event from '%s' after %s: packet of %zu bytes, event size %" PRIu32,
                      sqlConnUrl(c->sql), clientWhere(c, where, sizeof(where)), evLen,
                      evLen >= BINLOG_HEADER_LEN ? rdU32(ev + 9) : 0);
    }
    if (clientTrack(c, ev, evLen, err) != 0) {
        c->state = CLIENT_FAILED;
        return -1;
    }
    *event = ev;
    *len = evLen;
    return 1;
}

bool
binlogClientAckRequested(const BinlogClient *c) {
    return c->ackRequested;
}

/* Whether a packet is buffered or arrives within timeoutMs. Over TLS, waiting says yes at once:
 * bytes may wait inside the TLS layer, unseen by the socket. */
static bool
clientReadable(const BinlogClient *c, int timeoutMs) {
    MYSQL *m;
    MARIADB_PVIO *pvio;
    struct pollfd pfd;

    if (c->state != CLIENT_STREAMING || c->sql == NULL)
        return false;
    if (c->raw) {
        if (sqlPacketReady(c->buf + c->head, c->tail - c->head))
            return true;
        pfd.fd = c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        return poll(&pfd, 1, timeoutMs) == 1 && (pfd.revents & (POLLIN | POLLHUP | POLLERR));
    }
    m = c->sql->mysql;
    pvio = m->net.pvio;
    /* libmariadb reads ahead into the pvio cache: a whole next packet may already be there. */
    if (pvio != NULL && pvio->cache != NULL && pvio->cache + pvio->cache_size > pvio->cache_pos)
        return true;
    if (timeoutMs > 0 && mysql_get_ssl_cipher(m) != NULL)
        return true;
    pfd.fd = mysql_get_socket(m);
    pfd.events = POLLIN;
    pfd.revents = 0;
    return pfd.fd >= 0 && poll(&pfd, 1, timeoutMs) == 1 && (pfd.revents & (POLLIN | POLLHUP | POLLERR));
}

bool
binlogClientPending(const BinlogClient *c) {
    return clientReadable(c, 0);
}

bool
binlogClientWait(const BinlogClient *c, int timeoutMs) {
    return clientReadable(c, timeoutMs);
}

const char *
binlogClientFile(const BinlogClient *c) {
    return c->file;
}

uint64_t
binlogClientPosition(const BinlogClient *c) {
    return c->pos;
}

int
binlogClientSemiSyncAck(BinlogClient *c, const char *file, uint64_t pos, Err *err) {
    uint8_t *packet;
    size_t len;
    int rc;

    if (c->state != CLIENT_STREAMING)
        return errSet(err, ERR_INTERNAL, "semi-sync ACK outside a binlog stream");
    if (c->semiSync != SEMI_SYNC_ON)
        return errSet(err, ERR_INTERNAL, "semi-sync ACK on a stream without semi-sync");
    packet = binlogEncodeSemiSyncAck(file, pos, &len);
    /* The ACK is one packet with sequence number 0, as the server's replica sends it (net_clear +
     * my_net_write); the command path starts a packet at 0 and does not wait for an answer. */
    rc = clientCommand(c, packet, len, false, "sending a semi-sync ACK", err);
    bvFree(packet);
    if (rc != 0)
        c->state = CLIENT_FAILED;
    return rc;
}

void
binlogClientFree(BinlogClient *c) {
    if (c == NULL)
        return;
    sqlConnFree(c->sql);
    bvFree(c->host);
    bvFree(c->socket);
    bvFree(c->user);
    if (c->password != NULL)
        explicit_bzero(c->password, strlen(c->password));
    bvFree(c->password);
    bvFree(c->passwordFrom);
    bvFree(c->sslCa);
    bvFree(c->sslCert);
    bvFree(c->sslKey);
    bvFree(c->reportHost);
    bvFree(c->version);
    bvFree(c->serverUuid);
    bvFree(c->start);
    bvFree(c->buf);
    bvFree(c);
}
