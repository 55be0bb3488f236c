/*
 * The primary side of the MariaDB replication protocol: a small single-purpose server that a
 * MariaDB replica (the server being restored) connects to with
 * `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=..., MASTER_USE_GTID=slave_pos`, and
 * that streams it planned binlog events, which the replica applies with its own applier.
 *
 * Three layers, top-down in this header:
 *
 *  - ReplServer: the socket server. It listens (loopback by default; port 0 picks a free one),
 *    serves one replica connection at a time (a second one is refused with an ERR packet), and
 *    pulls the events from a ReplServerSource. It runs in one named thread ("bv-replserver")
 *    started by replServerStart(), with blocking-style I/O (poll with timeouts); the source's
 *    callbacks are called from that thread only. replServerStatus() and replServerStop() may be
 *    called from any thread.
 *  - ReplStream: the pure event logic of one COM_BINLOG_DUMP: the artificial ROTATE /
 *    FORMAT_DESCRIPTION / GTID_LIST that open a stream and each new file, skipping the groups the
 *    replica already has (@slave_connect_state), START SLAVE UNTIL master_gtid_pos
 *    (@slave_until_gtid), heartbeats. No I/O: events go to an emit callback.
 *  - Protocol helpers: packet framing, the handshake, mysql_native_password, the SQL subset the
 *    replica sends while connecting, OK/ERR/EOF packets, artificial events. Pure, exposed for the
 *    unit tests and the fuzzer.
 *
 * The implementation has one file per job; each section below names its file, and
 * recover/repl_internal.h (what the files share) lists them all.
 *
 * Every input from the replica is validated (lengths checked before reading, sizes bounded):
 * a malformed packet ends that connection with a log line, never the server.
 *
 * What the replica sends while connecting (MariaDB 10.11, measured by
 * tests/integration/replserver.sh with the debug log): see replQueryParse().
 */
#ifndef BV_RECOVER_REPLSERVER_H
#define BV_RECOVER_REPLSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "binlog/event.h"
#include "binlog/gtid.h"
#include "common/buf.h"
#include "common/err.h"

/* The version string of the greeting: the replica needs a MariaDB 10+ version to use GTIDs. */
#define REPL_SERVER_VERSION "10.11.19-MariaDB-binvault"
/* @@server_id when the configuration gives none; it must differ from the replica's. */
#define REPL_SERVER_DEFAULT_ID 4294967290u
/* Longest command the replica may send (a COM_QUERY with a long @slave_connect_state). */
#define REPL_COMMAND_MAX (1024u * 1024u)
/* Largest payload of one physical packet; a payload of this size or more continues in the next. */
#define REPL_PACKET_MAX 0xffffffu
#define REPL_SCRAMBLE_LEN 20
#define REPL_SHA1_LEN 20

/* ---- The source of events (repl_files.c) ----------------------------------------------------- */

/*
 * Where the server pulls events from (the recovery engine, or replFileSource below). Events are
 * raw, as in a binlog file (19-byte header to CRC32), in order. Each file begins with its
 * FORMAT_DESCRIPTION event, and every event between two FORMAT_DESCRIPTION events belongs to the
 * file file() names; header log_pos values are the events' end offsets in that file.
 */
typedef struct ReplServerSource {
    void *data;
    /* (Re)start the stream for a replica at GTID position `from` (empty for a fresh replica;
     * called at each COM_BINLOG_DUMP, so again when the replica reconnects). The server skips
     * the event groups `from` already holds, so any earlier start is correct; start as a
     * MariaDB primary does, at the newest file whose GTID_LIST `from` contains (every group
     * before that file is applied): when a replica reconnects in the middle of a transaction, it
     * expects the stream to name the file it was reading, and otherwise rolls the partial
     * transaction back and takes it again, as after a primary crash (correct, but noisier). */
    int (*open)(void *data, const MariaGtidPos *from, Err *err);
    /* The next event: 1 and *event / *len (valid until the next callback), 0 when there is none
     * now (the server asks again shortly, sending heartbeats meanwhile; at the end of the planned
     * events the source keeps returning 0 until the caller stops the server), -1 on error (the
     * replica receives the message as error 1236 and stops). It should not block for long
     * (return 0 instead): heartbeats and the stop request are handled between calls, and a
     * replica that hears nothing for slave_net_timeout (60 s) reconnects. */
    int (*next)(void *data, const uint8_t **event, size_t *len, Err *err);
    /* Base name of the binlog file of the last event next() returned. */
    const char *(*file)(void *data);
} ReplServerSource;

/* A source over binlog files, oldest first, read with the streaming reader (binlog/reader.h)
 * with every checksum verified. open() starts at the newest file whose GTID_LIST the replica's
 * position contains (the first file otherwise); next() returns 0 after the last event of the
 * last file. A file that ends inside an event is an error. */
typedef struct ReplFileSource ReplFileSource;

ReplFileSource *replFileSourceNew(const char *const *paths, size_t count);

/* The ReplServerSource interface over fs (fs stays owned by the caller). */
ReplServerSource replFileSourceInterface(ReplFileSource *fs);

void replFileSourceFree(ReplFileSource *fs);

/* ---- The server (replserver.c) --------------------------------------------------------------- */

typedef struct ReplServer ReplServer;

typedef struct ReplServerConfig {
    const char *listenHost;   /* numeric IPv4 or IPv6 address; NULL = "127.0.0.1" */
    uint16_t port;            /* 0 = a free port, see replServerPort() */
    const char *user;         /* the account the replica logs in with (MASTER_USER) */
    const char *password;     /* its password (MASTER_PASSWORD), e.g. replServerRandomPassword();
                                 only SHA1(SHA1(password)) is kept; never logged */
    uint32_t serverId;        /* our @@server_id, also in artificial events; 0 = default */
    const char *version;      /* NULL = REPL_SERVER_VERSION */
    unsigned idleTimeoutMs;   /* a connection silent this long outside a dump is closed; 0 = 10 min */
    unsigned writeTimeoutMs;  /* a replica that reads nothing this long is dropped; 0 = 10 min */
} ReplServerConfig;

typedef struct ReplServerStatus {
    bool running;             /* the thread is serving */
    bool connected;           /* a replica is connected now */
    bool streaming;           /* ... and has asked for the binlog stream */
    bool endOfSource;         /* the source's last next() returned 0 */
    bool untilReached;        /* the last stream ended at the replica's UNTIL position */
    uint32_t replicaServerId; /* from COM_REGISTER_SLAVE / COM_BINLOG_DUMP, 0 before */
    uint64_t connections;     /* logins accepted so far */
    uint64_t refused;         /* connections refused (busy, bad login, malformed) */
    uint64_t dumps;           /* COM_BINLOG_DUMP requests served */
    uint64_t eventsSent;      /* events sent, artificial and heartbeats excluded */
    uint64_t groupsSkipped;   /* event groups skipped because the replica had them */
    uint64_t bytesSent;       /* bytes written to replicas */
    char file[256];           /* binlog file and end position of the last event read */
    uint64_t pos;
    char lastError[ERR_MSG_MAX]; /* the last session failure, "" when none */
} ReplServerStatus;

/* Bind and listen (so that the port is known), without serving yet. ERR_USAGE for a bad
 * configuration, ERR_IO when the address cannot be bound. The source is copied (not its data). */
ReplServer *replServerNew(const ReplServerConfig *cfg, const ReplServerSource *source, Err *err);

/* The port listened on. */
uint16_t replServerPort(const ReplServer *s);

/* Start the serving thread. */
int replServerStart(ReplServer *s, Err *err);

/* A snapshot of the server's state and counters. */
void replServerStatus(ReplServer *s, ReplServerStatus *out);

/* Stop serving: close the connection and the listening socket and join the thread. Idempotent. */
void replServerStop(ReplServer *s);

/* Stops the server if it runs. */
void replServerFree(ReplServer *s);

/* `size - 1` random characters from [A-Za-z0-9] and a NUL (size >= 2): a per-recovery password
 * for the replica's login (repl_auth.c). ERR_IO when the random generator fails. */
int replServerRandomPassword(char *out, size_t size, Err *err);

/* ---- One binlog stream (repl_stream.c, pure) ------------------------------------------------- */

typedef struct ReplStream ReplStream;

typedef struct ReplStreamConfig {
    uint32_t serverId;            /* ours: in the artificial events */
    BinlogChecksumAlg connectAlg; /* @master_binlog_checksum: CRC32, OFF, or UNDEF when the replica
                                     did not declare checksum awareness */
    bool gtidMode;                /* @slave_connect_state was set */
    const MariaGtidPos *connect;  /* gtidMode: the replica's position (NULL = empty) */
    const MariaGtidPos *until;    /* gtidMode: @slave_until_gtid, NULL when none */
    const char *startFile;        /* !gtidMode: COM_BINLOG_DUMP file ("" = the first) and pos */
    uint32_t startPos;
    bool sendAnnotateRows;        /* COM_BINLOG_DUMP flag 0x02 */
    bool skipReplication;         /* SET skip_replication=1: drop events flagged 0x8000 */
    uint32_t replicaServerId;     /* to warn about events the replica would ignore as its own */
} ReplStreamConfig;

/* Receives each event to send, whole (header to checksum). */
typedef int (*ReplEmitFn)(void *ctx, const uint8_t *event, size_t len, Err *err);

ReplStream *replStreamNew(const ReplStreamConfig *cfg, ReplEmitFn emit, void *ctx);

/*
 * Feed the next source event of binlog file `file` and emit what the replica gets for it:
 *  - a FORMAT_DESCRIPTION starts a file: an artificial ROTATE (flag 0x20, timestamp 0, log_pos 0)
 *    naming it at position 4 (or the start position), then the FDE with its in-use flag cleared;
 *    the stream's first FDE also gets log_pos 0 and create time 0 (so that the replica neither
 *    advances its position nor drops its temporary tables) and, in GTID mode, is followed by an
 *    artificial GTID_LIST holding the replica's connect state. The CRC is recomputed.
 *  - a GTID event whose group the replica has (connect state, per domain) starts a skipped
 *    group: nothing is sent up to the next GTID or control event; with UNTIL, groups of domains
 *    not (or no longer) in the UNTIL position are skipped too.
 *  - ANNOTATE_ROWS only with sendAnnotateRows; everything else as is.
 * The artificial events carry a CRC32 when the alg in effect says so: connectAlg before the
 * first FDE, then the alg of the last FDE (as the replica verifies them).
 * Returns 0, 1 when the UNTIL position is reached (an artificial GTID_LIST with the
 * UNTIL_REACHED flag was emitted; the stream is over), or -1: ERR_FORMAT for a malformed event
 * or an event out of place, ERR_TARGET when the replica cannot take the stream, or the emit
 * callback's error.
 */
int replStreamFeed(ReplStream *st, const char *file, const uint8_t *event, size_t len, Err *err);

/* Emit a HEARTBEAT (type 27) naming the current file and read position; nothing before the
 * first file. */
int replStreamHeartbeat(ReplStream *st, Err *err);

/* The current file ("" before the first FDE) and the end position of the last event read. */
const char *replStreamFile(const ReplStream *st);
uint64_t replStreamPos(const ReplStream *st);
/* Events emitted (artificial ones and heartbeats excluded) and groups skipped. */
uint64_t replStreamEventsSent(const ReplStream *st);
uint64_t replStreamGroupsSkipped(const ReplStream *st);

void replStreamFree(ReplStream *st);

/* ---- Packets (repl_packet.c, pure) ----------------------------------------------------------- */

/* Receives the framed bytes (packet headers and payload pieces) in order. */
typedef int (*ReplWriteFn)(void *ctx, const void *data, size_t len, Err *err);

/* Frame the payload `head` + `body` (either may be empty) as MySQL packets: 3-byte length,
 * sequence id (*seq, incremented per packet), at most REPL_PACKET_MAX bytes each; a payload
 * whose last packet is exactly REPL_PACKET_MAX bytes long is ended by an empty packet. The
 * payload bytes are passed through without copy. Returns the first write error. */
int replPacketWrite(ReplWriteFn write, void *ctx, uint8_t *seq, const uint8_t *head, size_t headLen,
                    const uint8_t *body, size_t bodyLen, Err *err);

/* replPacketWrite() appending to a buffer. */
void replPacketAppend(Buf *out, uint8_t *seq, const uint8_t *head, size_t headLen, const uint8_t *body,
                      size_t bodyLen);

/* Take one logical packet (its physical packets joined) from the `avail` bytes at p: 1 with the
 * payload appended to `payload`, *seq = the sequence id of its last physical packet and
 * *consumed = bytes used; 0 when more bytes are needed; -1 with ERR_LIMIT when the payload is
 * longer than maxPayload, ERR_FORMAT when the sequence ids are not consecutive. */
int replPacketTake(const uint8_t *p, size_t avail, size_t maxPayload, Buf *payload, uint8_t *seq,
                   size_t *consumed, Err *err);

#define REPL_CHARSET_UTF8MB4 45 /* utf8mb4_general_ci */
#define REPL_STATUS_AUTOCOMMIT 0x0002

/* OK (0x00, affected rows, last insert id, status, warnings), ERR (0xff, code, '#', SQLSTATE,
 * message; without '#' and SQLSTATE when sqlState is NULL, as before the handshake) and EOF
 * (0xfe, warnings, status) payloads. */
void replOkEncode(Buf *out, uint64_t affectedRows, uint16_t status);
void replErrEncode(Buf *out, uint16_t code, const char *sqlState, const char *message);
void replEofEncode(Buf *out, uint16_t status);

/* A text result set (all columns VARCHAR utf8mb4, classic EOF packets), each packet framed with
 * *seq: column count, definitions, EOF, rows (NULL values as NULL), EOF. values holds
 * nRows * nCols entries, row-major. */
void replResultSetAppend(Buf *out, uint8_t *seq, size_t nCols, const char *const *names, size_t nRows,
                         const char *const *values);

/* MySQL length-encoded integer: bytes written to out (1, 3, 4 or 9). */
size_t replLenencPut(uint8_t out[9], uint64_t v);
/* Read one at p with avail bytes: bytes used, 0 when truncated or 0xfb/0xff. */
size_t replLenencGet(const uint8_t *p, size_t avail, uint64_t *v);

/* ---- Handshake and login (repl_auth.c, pure) ------------------------------------------------- */

/* Capabilities of the greeting: LONG_PASSWORD, FOUND_ROWS, LONG_FLAG, CONNECT_WITH_DB,
 * PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION, MULTI_RESULTS, PLUGIN_AUTH, CONNECT_ATTRS,
 * PLUGIN_AUTH_LENENC_CLIENT_DATA; not SSL, COMPRESS nor DEPRECATE_EOF. */
#define REPL_CLIENT_LONG_PASSWORD 0x00000001u
#define REPL_CLIENT_FOUND_ROWS 0x00000002u
#define REPL_CLIENT_LONG_FLAG 0x00000004u
#define REPL_CLIENT_CONNECT_WITH_DB 0x00000008u
#define REPL_CLIENT_COMPRESS 0x00000020u
#define REPL_CLIENT_PROTOCOL_41 0x00000200u
#define REPL_CLIENT_SSL 0x00000800u
#define REPL_CLIENT_TRANSACTIONS 0x00002000u
#define REPL_CLIENT_SECURE_CONNECTION 0x00008000u
#define REPL_CLIENT_MULTI_RESULTS 0x00020000u
#define REPL_CLIENT_PLUGIN_AUTH 0x00080000u
#define REPL_CLIENT_CONNECT_ATTRS 0x00100000u
#define REPL_CLIENT_PLUGIN_AUTH_LENENC 0x00200000u
#define REPL_CLIENT_DEPRECATE_EOF 0x01000000u
#define REPL_SERVER_CAPS                                                                                     \
    (REPL_CLIENT_LONG_PASSWORD | REPL_CLIENT_FOUND_ROWS | REPL_CLIENT_LONG_FLAG | REPL_CLIENT_CONNECT_WITH_DB | \
     REPL_CLIENT_PROTOCOL_41 | REPL_CLIENT_TRANSACTIONS | REPL_CLIENT_SECURE_CONNECTION |                    \
     REPL_CLIENT_MULTI_RESULTS | REPL_CLIENT_PLUGIN_AUTH | REPL_CLIENT_CONNECT_ATTRS |                       \
     REPL_CLIENT_PLUGIN_AUTH_LENENC)
#define REPL_NATIVE_PASSWORD "mysql_native_password"

/* The payload of the initial handshake packet (protocol v10): version, connection id, the
 * 20-byte scramble (8 + 12 bytes), REPL_SERVER_CAPS, utf8mb4, autocommit status, and the plugin
 * mysql_native_password. The scramble must not contain NUL bytes. */
void replHandshakeEncode(Buf *out, const char *version, uint32_t connectionId,
                         const uint8_t scramble[REPL_SCRAMBLE_LEN]);

#define REPL_NAME_MAX 128

/* The client's answer to the greeting (HandshakeResponse41). */
typedef struct ReplHandshakeResponse {
    uint32_t caps;
    uint32_t maxPacket;
    uint8_t charset;
    bool sslRequest;            /* the 32-byte SSL request: the client wants TLS */
    char user[REPL_NAME_MAX + 1];
    uint8_t auth[255];          /* the auth response */
    size_t authLen;
    char db[REPL_NAME_MAX + 1];
    char plugin[REPL_NAME_MAX + 1]; /* "" when the client sent none */
} ReplHandshakeResponse;

/* Parse a HandshakeResponse41 payload. ERR_FORMAT when truncated, not protocol 4.1, or a field
 * is too long. Connection attributes are checked for length and ignored. */
int replHandshakeResponseParse(const uint8_t *p, size_t len, ReplHandshakeResponse *r, Err *err);

/* SHA1(SHA1(password)): what the server keeps to check mysql_native_password logins. */
void replNativePasswordHash(const char *password, uint8_t stage2[REPL_SHA1_LEN]);

/* What a client sends for password and scramble: SHA1(password) XOR SHA1(scramble +
 * SHA1(SHA1(password))); nothing (*len 0) for an empty password. */
void replNativePasswordToken(const char *password, const uint8_t scramble[REPL_SCRAMBLE_LEN],
                             uint8_t out[REPL_SHA1_LEN], size_t *len);

/* Check a client's token against stage2 = SHA1(SHA1(password)): token XOR SHA1(scramble +
 * stage2) must hash to stage2 (constant time). An empty password matches only an empty token;
 * emptyPassword says whether the configured password is empty. */
bool replNativePasswordVerify(const uint8_t stage2[REPL_SHA1_LEN], bool emptyPassword,
                              const uint8_t scramble[REPL_SCRAMBLE_LEN], const uint8_t *token, size_t tokenLen);

/* ---- Replication commands (repl_session_dump.c, pure parsers) -------------------------------- */

/* COM_REGISTER_SLAVE, the payload after the command byte: server id, then u8-length-prefixed
 * report host, user and password (not kept), port, rank and master id. Host and user are cut to
 * fit and non-printable bytes become '?'. ERR_FORMAT when a field does not fit the packet. */
typedef struct ReplRegisterSlave {
    uint32_t serverId;
    char host[64];
    char user[64];
    uint16_t port;
} ReplRegisterSlave;

int replRegisterSlaveParse(const uint8_t *p, size_t len, ReplRegisterSlave *r, Err *err);

/* COM_BINLOG_DUMP, the payload after the command byte: start position (u32), flags (u16),
 * server id (u32), binlog file name (the rest; "" = the first file). ERR_FORMAT when shorter than
 * 10 bytes, or the name is 256 bytes or longer, holds a NUL or a '/'. */
typedef struct ReplBinlogDump {
    uint32_t startPos;
    uint16_t flags;
    uint32_t serverId;
    char file[256];
} ReplBinlogDump;

int replBinlogDumpParse(const uint8_t *p, size_t len, ReplBinlogDump *d, Err *err);

/* ---- The SQL the replica sends (repl_query.c, pure) ------------------------------------------ */

typedef enum ReplExprKind {
    REPL_EXPR_NULL = 0,
    REPL_EXPR_INT,     /* text: the digits, with a leading '-' when negative */
    REPL_EXPR_STRING,  /* text: the unescaped string; also a bare word (SET sql_mode=STRICT, ON) */
    REPL_EXPR_SYSVAR,  /* @@[global.|session.|local.]name, or the target of SET name=...; text: name */
    REPL_EXPR_USERVAR, /* @name; text: name */
    REPL_EXPR_FUNC,    /* name(args...); text: name; the arguments are parsed and ignored */
} ReplExprKind;

typedef struct ReplExpr {
    ReplExprKind kind;
    char *text;  /* allocated; names lowercased */
    char *label; /* the expression as written: a SELECT column's name */
    bool global; /* SYSVAR: @@global. or SET GLOBAL */
} ReplExpr;

typedef enum ReplQueryKind {
    REPL_QUERY_UNKNOWN = 0,
    REPL_QUERY_SET,            /* SET assignments (user or session variables), SET NAMES */
    REPL_QUERY_SELECT,         /* SELECT expr [AS alias], ... [LIMIT n] without FROM */
    REPL_QUERY_SHOW_VARIABLES, /* SHOW [GLOBAL|SESSION] VARIABLES [LIKE 'pattern'] */
} ReplQueryKind;

#define REPL_QUERY_MAX_ITEMS 16

typedef struct ReplQuery {
    ReplQueryKind kind;
    size_t count;                             /* assignments or SELECT items */
    ReplExpr target[REPL_QUERY_MAX_ITEMS];    /* SET: USERVAR or SYSVAR assigned */
    ReplExpr value[REPL_QUERY_MAX_ITEMS];     /* SET: value; SELECT: the items */
    bool setNames;                            /* SET NAMES / SET CHARACTER SET (no assignment) */
    char *like;                               /* SHOW VARIABLES LIKE pattern, NULL = all */
    const char *why;                          /* REPL_QUERY_UNKNOWN: what was not understood */
} ReplQuery;

/*
 * Classify and parse a statement of the small SQL subset a connecting replica uses (MariaDB
 * 10.11's I/O thread sends `SELECT UNIX_TIMESTAMP()`, `SHOW VARIABLES LIKE 'SERVER_ID'`,
 * `SET @master_heartbeat_period= N`, `SET @master_binlog_checksum= @@global.binlog_checksum`,
 * `SELECT @master_binlog_checksum`, `SET @mariadb_slave_capability=4`,
 * `SELECT @@GLOBAL.gtid_domain_id`, `SET @slave_connect_state='...'`,
 * `SET @slave_gtid_strict_mode=1`, `SET @slave_gtid_ignore_duplicates=0`, and with UNTIL
 * `SET @slave_until_gtid='...'`). Anything else is REPL_QUERY_UNKNOWN with `why` set. Never
 * fails otherwise; free with replQueryClear().
 */
void replQueryParse(const char *text, size_t len, ReplQuery *q);
void replQueryClear(ReplQuery *q);

/* True when `name` matches the SQL LIKE `pattern` (% and _, backslash escapes,
 * case-insensitive). */
bool replLikeMatch(const char *pattern, const char *name);

/* ---- Artificial events (repl_stream.c, pure) ------------------------------------------------- */

/* ROTATE (4): header (timestamp 0, flags 0x20 ARTIFICIAL, log_pos 0), position u64, file name;
 * a CRC32 footer when crc. */
void replEventRotate(Buf *out, uint32_t serverId, const char *file, uint64_t pos, bool crc);

/* HEARTBEAT (27): header (timestamp 0, flags 0, log_pos = pos), file name. */
void replEventHeartbeat(Buf *out, uint32_t serverId, const char *file, uint32_t pos, bool crc);

/* GTID_LIST (163): header (timestamp 0, flags 0x20, log_pos), count | flags
 * (MARIA_GTID_LIST_FLAG_*), then {domain, server, seq} per GTID of pos in domain order. */
void replEventGtidList(Buf *out, uint32_t serverId, const MariaGtidPos *pos, uint32_t flags, uint32_t logPos,
                       bool crc);

/* Rewrite a FORMAT_DESCRIPTION event in place for sending: clear the in-use flag, and with
 * streamStart set log_pos and the create time to 0; the CRC (when the FDE has one) is
 * recomputed. ERR_FORMAT when it is not a valid FDE. */
int replFdeForStream(uint8_t *fde, size_t len, bool streamStart, Err *err);

#endif
