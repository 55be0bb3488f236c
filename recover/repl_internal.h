/*
 * What the files of the replication endpoint share and nothing else includes (the public API is
 * recover/replserver.h). The endpoint is split by job:
 *
 *  - repl_packet.c        packet framing, length-encoded integers, OK/ERR/EOF, result sets
 *  - repl_auth.c          the handshake, mysql_native_password, the per-recovery password
 *  - repl_query.c         the SQL subset a replica sends (a pure parser)
 *  - repl_stream.c        artificial events and the event logic of one binlog stream (pure)
 *  - repl_files.c         a ReplServerSource over binlog files
 *  - replserver.c         the server: listening socket, serving thread, status, stop
 *  - repl_session.c       one replica connection: socket I/O, login, user variables, command loop
 *  - repl_session_sql.c   the session's answers to the replica's queries
 *  - repl_session_dump.c  the session's replication commands: COM_REGISTER_SLAVE, COM_BINLOG_DUMP
 *
 * The server and its session run in the server's one thread; the status (ReplServer.status)
 * is the only state other threads read, under ReplServer.lock.
 */
#ifndef BV_RECOVER_REPL_INTERNAL_H
#define BV_RECOVER_REPL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "common/buf.h"
#include "common/bytes.h"
#include "common/err.h"
#include "recover/replserver.h"

/* MySQL commands and error codes the endpoint uses. */
#define COM_QUIT 0x01
#define COM_INIT_DB 0x02
#define COM_QUERY 0x03
#define COM_PING 0x0e
#define COM_BINLOG_DUMP 0x12
#define COM_REGISTER_SLAVE 0x15
#define COM_BINLOG_DUMP_GTID 0x1e
#define ER_CON_COUNT_ERROR 1040
#define ER_ACCESS_DENIED_ERROR 1045
#define ER_UNKNOWN_COM_ERROR 1047
#define ER_HANDSHAKE_ERROR 1043
#define ER_NOT_SUPPORTED_YET 1235
#define ER_MASTER_FATAL_ERROR_READING_BINLOG 1236
#define ER_UNKNOWN_SYSTEM_VARIABLE 1193
#define ER_SP_DOES_NOT_EXIST 1305
#define ER_WRONG_VALUE_FOR_VAR 1231

/* Bytes read from the socket at a time; framed pieces shorter than this are copied into the
 * output buffer, longer ones written straight from the caller's memory. */
#define REPL_READ_CHUNK (64 * 1024)
/* The output buffer is flushed once it holds this much. */
#define REPL_FLUSH_AT (256 * 1024)
/* User variables a session keeps, and the longest value (a connect state of thousands of
 * domains). */
#define REPL_USER_VARS_MAX 64
#define REPL_USER_VAR_VALUE_MAX (64 * 1024)

/* Little-endian integers appended to a buffer. */
static inline void
replPutU16(Buf *out, uint16_t v) {
    uint8_t b[2];

    wrU16(b, v);
    bufAppend(out, b, 2);
}

static inline void
replPutU32(Buf *out, uint32_t v) {
    uint8_t b[4];

    wrU32(b, v);
    bufAppend(out, b, 4);
}

/* ---- The server (replserver.c) ------------------------------------------------------------- */

struct ReplServer {
    char *listenHost, *user, *version;
    uint8_t stage2[REPL_SHA1_LEN]; /* SHA1(SHA1(password)) */
    bool emptyPassword;
    uint32_t serverId;
    unsigned idleTimeoutMs, writeTimeoutMs;
    ReplServerSource source;
    int listenFd;
    uint16_t port;
    int stopPipe[2]; /* readable once replServerStop() was called */
    pthread_t thread;
    bool threadStarted;
    atomic_bool stopping;
    uint32_t connectionIds;
    pthread_mutex_t lock; /* guards status */
    ReplServerStatus status;
};

/* A connection that arrives while one is served: accept it, answer an ERR packet in place of
 * the greeting and close it. */
void replServerRefuse(ReplServer *srv);

/* Record the last session failure in the status. */
void replServerSetError(ReplServer *srv, const Err *err);

/* ---- One replica connection (repl_session.c) ----------------------------------------------- */

typedef struct ReplUserVar {
    char *name;
    char *value; /* NULL = SQL NULL */
} ReplUserVar;

typedef struct ReplSession {
    ReplServer *srv;
    int fd;
    char peer[80];
    uint32_t connectionId;
    uint8_t scramble[REPL_SCRAMBLE_LEN];
    Buf *in, *payload, *out; /* bytes received, the last command's payload, bytes to send */
    size_t outSent;          /* bytes of out already sent */
    uint8_t seq;             /* sequence id of the next packet sent */
    char user[REPL_NAME_MAX + 1];
    ReplUserVar vars[REPL_USER_VARS_MAX];
    size_t nVars;
    bool skipReplication;
    uint32_t replicaServerId;
    bool gone; /* the replica closed the connection or it failed */
    struct timespec lastSend;
} ReplSession;

/* Outcome of waiting on the replica's socket. */
typedef enum ReplWait { REPL_WAIT_READY = 1, REPL_WAIT_TIMEOUT = 0, REPL_WAIT_STOP = -1, REPL_WAIT_GONE = -2 } ReplWait;

/* Serve the accepted connection fd from addr until it ends, then close it. */
void replSessionRun(ReplServer *srv, int fd, const struct sockaddr_storage *addr);

/* Wait up to timeoutMs (-1 = forever) until the replica's socket is ready for `events` (poll
 * flags), watching the stop request and refusing other connections meanwhile. */
ReplWait replSessionWait(ReplSession *s, short events, int timeoutMs);

/* Send what s->out holds; ERR_TARGET (and s->gone) when the replica is gone, reads nothing for
 * the write timeout, or the server stops. */
int replSessionFlush(ReplSession *s, Err *err);

/* Queue one packet with payload head + body, framed with s->seq. */
void replSessionPacket(ReplSession *s, const uint8_t *head, size_t headLen, const uint8_t *body, size_t bodyLen);

/* Queue and send an ERR (code, SQLSTATE state, message), an OK or an EOF packet. */
int replSessionSendErr(ReplSession *s, uint16_t code, const char *state, const char *msg, Err *err);
int replSessionSendOk(ReplSession *s, Err *err);
int replSessionSendEof(ReplSession *s, Err *err);

/* Read one logical packet of at most max bytes into s->payload, setting s->seq for the answer.
 * Returns 1, or 0 when the replica closed the connection, sent nothing for timeoutMs or the
 * server stops (err says which), -1 on a malformed packet. */
int replSessionRead(ReplSession *s, int timeoutMs, size_t max, Err *err);

/* Set the user variable `name` (value NULL = SQL NULL); false when the session has
 * REPL_USER_VARS_MAX variables already or the value is longer than REPL_USER_VAR_VALUE_MAX. */
bool replSessionVarSet(ReplSession *s, const char *name, const char *value);

/* A user variable's value, NULL when unset or NULL; *present (unless NULL) says whether it is
 * set to a value. */
const char *replSessionVarGet(ReplSession *s, const char *name, bool *present);

/* ---- The session's commands (repl_session_sql.c, repl_session_dump.c) ----------------------- */

/* Answer a COM_QUERY with statement text (OK, result set or ERR). Fails only when the answer
 * cannot be sent. */
int replSessionQuery(ReplSession *s, const uint8_t *text, size_t len, Err *err);

/* COM_REGISTER_SLAVE with payload p (after the command byte): OK, or ERR and ERR_FORMAT. */
int replSessionRegister(ReplSession *s, const uint8_t *p, size_t len, Err *err);

/* Serve one COM_BINLOG_DUMP with payload p (after the command byte): pull events from the
 * source through a ReplStream until the replica leaves, reaches its UNTIL position, the source
 * fails or the server stops. 0 when the stream ended as asked (UNTIL, non-blocking dump at the
 * end), -1 otherwise (the replica was told why unless it is gone). */
int replSessionDump(ReplSession *s, const uint8_t *p, size_t len, Err *err);

#endif
