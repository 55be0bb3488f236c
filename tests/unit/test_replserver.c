/* The replication endpoint's server end to end: against binvault's own replication client
 * (libmariadb), events over 16 MiB, hostile clients, configuration errors. The pieces have their
 * own tests: test_repl_packet.c, test_repl_auth.c, test_repl_query.c, test_repl_stream.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mysql/client.h"
#include "binlog/event.h"
#include "binlog/gtid.h"
#include "common/bytes.h"
#include "common/mem.h"
#include "recover/replserver.h"
#include "tests/test.h"
#include "tests/unit/test_repl.h"

/* ---- The server, end to end ---- */

typedef struct Rows {
    int n;
    char name[64], value[64];
} Rows;

static int
rowCb(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    Rows *r = data;

    (void)lengths;
    (void)err;
    if (nCols == 2 && r->n++ == 0) {
        snprintf(r->name, sizeof(r->name), "%s", values[0] ? values[0] : "NULL");
        snprintf(r->value, sizeof(r->value), "%s", values[1] ? values[1] : "NULL");
    }
    return 0;
}

static void
testServerEndToEnd(void) {
    const char *paths[NFILES];
    ReplFileSource *fs;
    ReplServerSource src;
    ReplServerConfig cfg = {0};
    ReplServerStatus status;
    ReplServer *srv;
    SqlConnOpts o = {0};
    SqlConn *c, *c2;
    BinlogClientOpts bo;
    BinlogClient *bc;
    Collected want = {0};
    ReplStreamConfig scfg = {0};
    MariaGtidPos *connect = mariaGtidPosNew();
    char *v = NULL;
    Rows rows = {0};
    size_t i = 0;
    int rc;
    Err err, err2;

    for (int k = 0; k < NFILES; k++)
        paths[k] = fixturePath(k);
    fs = replFileSourceNew(paths, NFILES);
    src = replFileSourceInterface(fs);
    cfg.user = "rpl";
    cfg.password = "pw-123";
    srv = replServerNew(&cfg, &src, &err);
    REQUIRE(srv != NULL);
    REQUIRE(replServerStart(srv, &err) == 0);
    CHECK(replServerPort(srv) != 0);

    /* SQL, through libmariadb. */
    o.host = "127.0.0.1";
    o.port = replServerPort(srv);
    o.user = "rpl";
    o.password = "pw-123";
    c = sqlConnect(&o, &err);
    if (c == NULL)
        testFail(__FILE__, __LINE__, "connect: %s", err.msg);
    if (c != NULL) {
        CHECK_STR(sqlConnServerVersion(c), REPL_SERVER_VERSION);
        CHECK(sqlQueryValue(c, "SELECT UNIX_TIMESTAMP()", &v, &err) == 0 && v != NULL &&
              llabs(atoll(v) - (long long)time(NULL)) <= 5);
        bvFree(v);
        CHECK(sqlQueryValue(c, "SELECT @@GLOBAL.gtid_domain_id", &v, &err) == 0 && v && strcmp(v, "0") == 0);
        bvFree(v);
        CHECK(sqlQuery(c, "SHOW VARIABLES LIKE 'SERVER_ID'", rowCb, &rows, &err) == 0);
        CHECK_INT(rows.n, 1);
        CHECK_STR(rows.name, "server_id");
        CHECK_STR(rows.value, "4294967290");
        CHECK(sqlExec(c, "SET @master_binlog_checksum= @@global.binlog_checksum", &err) == 0);
        CHECK(sqlQueryValue(c, "SELECT @master_binlog_checksum", &v, &err) == 0 && v && strcmp(v, "CRC32") == 0);
        bvFree(v);
        CHECK(sqlQueryValue(c, "SELECT @never_set", &v, &err) == 0 && v == NULL);
        CHECK_INT(sqlExec(c, "DROP TABLE t", &err), -1);
        CHECK_MSG(err.msg, "does not support");
        CHECK_INT(sqlExec(c, "SELECT @@no_such_variable", &err), -1);
        CHECK_MSG(err.msg, "Unknown system variable");
        CHECK_INT(sqlExec(c, "SET GLOBAL read_only = 1", &err), -1);
        /* One replica at a time: a second connection is refused while this one is open. */
        c2 = sqlConnect(&o, &err2);
        CHECK(c2 == NULL);
        CHECK_MSG(err2.msg, "one replica at a time");
        sqlConnFree(c2);
        sqlConnFree(c);
    }
    /* A wrong password. */
    o.password = "wrong";
    c = sqlConnect(&o, &err);
    CHECK(c == NULL);
    CHECK_INT(err.code, ERR_AUTH);
    sqlConnFree(c);
    o.password = "pw-123";

    /* The stream, through binvault's replication client, equals the pure stream's output. */
    REQUIRE(mariaGtidPosParse(connect, "0-11-5,2-11-1", &err) == 0);
    scfg.serverId = REPL_SERVER_DEFAULT_ID;
    scfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    scfg.gtidMode = true;
    scfg.connect = connect;
    scfg.sendAnnotateRows = true;
    REQUIRE(runStream(&scfg, &want, NULL, &err) == 0);
    binlogClientOptsInit(&bo);
    bo.conn = o;
    bo.serverId = 77;
    bo.nonBlocking = true;
    bc = binlogClientNew(&bo);
    if (binlogClientConnect(bc, &err) != 0 || binlogClientStartMariaGtid(bc, "0-11-5,2-11-1", &err) != 0) {
        testFail(__FILE__, __LINE__, "stream: %s", err.msg);
    } else {
        const uint8_t *ev;
        size_t len;

        CHECK_INT(binlogClientFlavour(bc), BINLOG_FLAVOUR_MARIADB);
        CHECK_INT(binlogClientChecksumAlg(bc), BINLOG_CHECKSUM_CRC32);
        CHECK_INT(binlogClientServerId(bc), REPL_SERVER_DEFAULT_ID);
        while ((rc = binlogClientRead(bc, &ev, &len, &err)) == 1) {
            if (i >= want.n || len != want.len[i] || memcmp(ev, want.ev[i], len) != 0)
                testFail(__FILE__, __LINE__, "streamed event %zu differs", i);
            i++;
        }
        CHECK_INT(rc, 0);
        CHECK_INT(i, want.n);
        CHECK_STR(binlogClientFile(bc), fixtureName(3));
    }
    binlogClientFree(bc);

    replServerStatus(srv, &status);
    CHECK(status.running);
    CHECK_INT(status.dumps, 1);
    CHECK_INT(status.connections, 2);
    CHECK(status.refused >= 2);
    CHECK_INT(status.groupsSkipped, 6);
    CHECK_INT(status.eventsSent, want.n - 4 - 1 - 4); /* artificial ones and the FDEs not counted */
    CHECK(status.endOfSource);
    CHECK(status.bytesSent > 3000);
    replServerStop(srv);
    replServerStatus(srv, &status);
    CHECK(!status.running);
    replServerStop(srv);
    replServerFree(srv);
    replFileSourceFree(fs);
    collectedFree(&want);
    mariaGtidPosFree(connect);
}

/* A source of one FDE and two events of more than 16 MiB (one makes an exact 0xffffff payload). */
typedef struct BigSource {
    int next;
    uint8_t *fde;
    uint8_t *big[2];
    size_t bigLen[2];
} BigSource;

static int
bigOpen(void *data, const MariaGtidPos *from, Err *err) {
    (void)from;
    (void)err;
    ((BigSource *)data)->next = 0;
    return 0;
}

static int
bigNext(void *data, const uint8_t **event, size_t *len, Err *err) {
    BigSource *b = data;

    (void)err;
    switch (b->next++) {
    case 0: *event = b->fde; *len = 252; return 1;
    case 1: *event = b->big[0]; *len = b->bigLen[0]; return 1;
    case 2: *event = b->big[1]; *len = b->bigLen[1]; return 1;
    default: return 0;
    }
}

static const char *
bigFile(void *data) {
    (void)data;
    return "big-bin.000001";
}

static void
testServerBigEvents(void) {
    BigSource b = {0};
    ReplServerSource src = {&b, bigOpen, bigNext, bigFile};
    ReplServerConfig cfg = {0};
    ReplServer *srv;
    BinlogClientOpts bo;
    BinlogClient *bc;
    size_t len;
    uint8_t *file = testReadFile(fixturePath(0), &len);
    uint32_t pos = 256;
    int seen = 0, rc;
    Err err;

    REQUIRE(file != NULL);
    b.fde = file + 4;
    b.bigLen[0] = 17u * 1024 * 1024 + 123;
    b.bigLen[1] = REPL_PACKET_MAX - 1; /* + the 0x00 marker = one full packet, then an empty one */
    for (int k = 0; k < 2; k++) {
        uint8_t *e = b.big[k] = bvMalloc(b.bigLen[k]);

        memset(e, 0, 19);
        e[4] = BINLOG_USER_VAR; /* sent as they are (an ignorable event outside a transaction is not) */
        wrU32(e + 5, 11);
        wrU32(e + 9, (uint32_t)b.bigLen[k]);
        pos += (uint32_t)b.bigLen[k];
        wrU32(e + 13, pos);
        for (size_t j = 19; j < b.bigLen[k] - 4; j++)
            e[j] = (uint8_t)(j * 31 + k);
        wrU32(e + b.bigLen[k] - 4, binlogEventComputeChecksum(e, b.bigLen[k] - 4));
    }
    cfg.user = "rpl";
    cfg.password = "x";
    srv = replServerNew(&cfg, &src, &err);
    REQUIRE(srv != NULL);
    REQUIRE(replServerStart(srv, &err) == 0);
    binlogClientOptsInit(&bo);
    bo.conn.host = "127.0.0.1";
    bo.conn.port = replServerPort(srv);
    bo.conn.user = "rpl";
    bo.conn.password = "x";
    bo.serverId = 78;
    bo.nonBlocking = true;
    bc = binlogClientNew(&bo);
    if (binlogClientConnect(bc, &err) != 0 || binlogClientStartFile(bc, "", 4, &err) != 0) {
        testFail(__FILE__, __LINE__, "stream: %s", err.msg);
    } else {
        const uint8_t *ev;
        size_t evLen;

        while ((rc = binlogClientRead(bc, &ev, &evLen, &err)) == 1) {
            if (ev[4] != BINLOG_USER_VAR)
                continue;
            if (seen < 2 && (evLen != b.bigLen[seen] || memcmp(ev, b.big[seen], evLen) != 0))
                testFail(__FILE__, __LINE__, "big event %d differs (%zu bytes)", seen, evLen);
            seen++;
        }
        CHECK_INT(rc, 0);
        if (rc != 0)
            testFail(__FILE__, __LINE__, "read: %s", err.msg);
    }
    CHECK_INT(seen, 2);
    binlogClientFree(bc);
    replServerFree(srv);
    bvFree(b.big[0]);
    bvFree(b.big[1]);
    free(file);
}


/* ---- Hostile clients ---- */

typedef struct Raw {
    int fd;
    Buf *in;
    uint8_t seq;
    uint8_t scramble[REPL_SCRAMBLE_LEN];
} Raw;

static bool
rawConnect(Raw *r, uint16_t port) {
    struct sockaddr_in a = {0};
    struct timeval tv = {5, 0};

    r->in = bufNew(1024);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return r->fd >= 0 && connect(r->fd, (struct sockaddr *)&a, sizeof(a)) == 0;
}

static void
rawClose(Raw *r) {
    if (r->fd >= 0)
        close(r->fd);
    bufFree(r->in);
}

/* The next packet's payload (into out): 1, or 0 when the server closed the connection. */
static int
rawRead(Raw *r, Buf *out) {
    for (;;) {
        size_t consumed;
        Err err;
        ssize_t n;

        bufClear(out);
        if (replPacketTake(r->in->data, r->in->len, 1u << 20, out, &r->seq, &consumed, &err) == 1) {
            memmove(r->in->data, r->in->data + consumed, r->in->len - consumed);
            r->in->len -= consumed;
            r->seq++;
            return 1;
        }
        n = recv(r->fd, bufReserve(r->in, 4096), 4096, 0);
        if (n <= 0)
            return 0;
        r->in->len += (size_t)n;
    }
}

static void
rawSend(Raw *r, const void *payload, size_t len) {
    Buf *b = bufNew(len + 8);
    ssize_t n;

    replPacketAppend(b, &r->seq, payload, len, NULL, 0);
    n = send(r->fd, b->data, b->len, MSG_NOSIGNAL);
    (void)n;
    bufFree(b);
}

/* Read the greeting and log in; true when the server answered OK. */
static bool
rawLogin(Raw *r, uint16_t port, const char *password) {
    Buf *p = bufNew(256), *resp;
    uint8_t token[REPL_SHA1_LEN];
    size_t tokenLen, v;
    bool ok = false;

    if (!rawConnect(r, port) || rawRead(r, p) != 1 || p->data[0] != 10)
        goto done;
    v = strlen((const char *)p->data + 1);
    memcpy(r->scramble, p->data + 1 + v + 1 + 4, 8);
    memcpy(r->scramble + 8, p->data + 1 + v + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10, 12);
    replNativePasswordToken(password, r->scramble, token, &tokenLen);
    resp = buildResponse(REPL_CLIENT_PROTOCOL_41 | REPL_CLIENT_SECURE_CONNECTION | REPL_CLIENT_PLUGIN_AUTH, "rpl",
                         token, tokenLen, REPL_NATIVE_PASSWORD, false);
    rawSend(r, resp->data, resp->len);
    bufFree(resp);
    ok = rawRead(r, p) == 1 && p->data[0] == 0x00;
done:
    bufFree(p);
    return ok;
}

/* Send a command; the server's first answer byte (0xff = ERR), or -1 when it closed. */
static int
rawCommand(Raw *r, const void *payload, size_t len, Buf *answer) {
    r->seq = 0;
    rawSend(r, payload, len);
    if (rawRead(r, answer) != 1)
        return -1;
    return answer->data[0];
}

/* COM_QUERY with a statement. */
static int
rawQuery(Raw *r, const char *sql, Buf *answer) {
    Buf *q = bufNew(64);
    int rc;

    bufAppend(q, "\x03", 1);
    bufAppend(q, sql, strlen(sql));
    rc = rawCommand(r, q->data, q->len, answer);
    bufFree(q);
    return rc;
}

static void
testServerHostileClients(void) {
    ReplServerSource src = {NULL, bigOpen, bigNext, bigFile};
    BigSource b = {0};
    ReplServerConfig cfg = {0};
    ReplServerStatus status;
    ReplServer *srv;
    Raw r = {0};
    Buf *a = bufNew(256);
    uint16_t port;
    Err err;

    src.data = &b;
    cfg.user = "rpl";
    cfg.password = "pw";
    srv = replServerNew(&cfg, &src, &err);
    REQUIRE(srv != NULL);
    REQUIRE(replServerStart(srv, &err) == 0);
    port = replServerPort(srv);

    /* A header announcing 16 MiB during the handshake: the connection is dropped. */
    REQUIRE(rawConnect(&r, port) && rawRead(&r, a) == 1);
    CHECK(send(r.fd, "\xff\xff\xff\x01", 4, MSG_NOSIGNAL) == 4);
    CHECK_INT(rawRead(&r, a), 0);
    rawClose(&r);
    /* A response too short to be one: ERR "Bad handshake", then closed. */
    REQUIRE(rawConnect(&r, port) && rawRead(&r, a) == 1);
    rawSend(&r, "\x00\x02\x00\x00\x00", 5);
    CHECK(rawRead(&r, a) == 1 && a->data[0] == 0xff && rdU16(a->data + 1) == 1043);
    CHECK_INT(rawRead(&r, a), 0);
    rawClose(&r);
    /* The SSL request: refused with a clear message. */
    REQUIRE(rawConnect(&r, port) && rawRead(&r, a) == 1);
    {
        Buf *ssl = buildResponse(REPL_CLIENT_PROTOCOL_41 | REPL_CLIENT_SSL, "", NULL, 0, NULL, false);

        rawSend(&r, ssl->data, 32);
        bufFree(ssl);
    }
    CHECK(rawRead(&r, a) == 1 && a->data[0] == 0xff && memmem(a->data, a->len, "TLS", 3) != NULL);
    rawClose(&r);
    /* A wrong password. */
    CHECK(!rawLogin(&r, port, "nope"));
    rawClose(&r);

    /* Logged in: malformed commands get an ERR, the connection survives where it can. */
    REQUIRE(rawLogin(&r, port, "pw"));
    CHECK_INT(rawQuery(&r, "SELEC", a), 0xff);
    CHECK_INT(rawCommand(&r, "\x99", 1, a), 0xff);
    CHECK_INT(rawCommand(&r, "\x0e", 1, a), 0x00); /* COM_PING */
    CHECK_INT(rawCommand(&r, "\x1e\x00\x00", 3, a), 0xff); /* MySQL's COM_BINLOG_DUMP_GTID */
    CHECK_INT(rawCommand(&r, "\x03" "SET @x = 'a\0b'", 15, a), 0x00);
    CHECK_INT(rawCommand(&r, "\x15\x01\x00\x00\x00\x09", 6, a), 0xff); /* COM_REGISTER_SLAVE cut */
    CHECK_INT(rawRead(&r, a), 0); /* ... which ends the connection */
    rawClose(&r);
    REQUIRE(rawLogin(&r, port, "pw"));
    /* COM_BINLOG_DUMP without @mariadb_slave_capability: error 1236 naming it, then closed. */
    CHECK_INT(rawCommand(&r, "\x12\x04\x00\x00\x00\x00\x00\x05\x00\x00\x00", 11, a), 0xff);
    CHECK(rdU16(a->data + 1) == 1236 && memmem(a->data, a->len, "mariadb_slave_capability", 24) != NULL);
    CHECK_INT(rawRead(&r, a), 0);
    rawClose(&r);
    REQUIRE(rawLogin(&r, port, "pw"));
    CHECK_INT(rawCommand(&r, "\x12\x04\x00", 3, a), 0xff); /* COM_BINLOG_DUMP cut */
    rawClose(&r);
    /* A bad connect state. */
    REQUIRE(rawLogin(&r, port, "pw"));
    CHECK_INT(rawQuery(&r, "SET @mariadb_slave_capability=4, @master_binlog_checksum='CRC32'", a), 0x00);
    CHECK_INT(rawQuery(&r, "SET @slave_connect_state='0-1-x'", a), 0x00);
    CHECK_INT(rawCommand(&r, "\x12\x04\x00\x00\x00\x00\x00\x05\x00\x00\x00", 11, a), 0xff);
    CHECK(memmem(a->data, a->len, "slave_connect_state", 19) != NULL);
    rawClose(&r);

    /* Still serving. */
    REQUIRE(rawLogin(&r, port, "pw"));
    CHECK_INT(rawQuery(&r, "SELECT @@server_id", a), 1); /* a result set of one column */
    rawClose(&r);
    replServerStatus(srv, &status);
    CHECK(status.running);
    CHECK(status.lastError[0] != '\0');
    replServerFree(srv);
    bufFree(a);
}

static void
testServerConfig(void) {
    ReplServerSource src = {NULL, bigOpen, bigNext, bigFile};
    ReplServerConfig cfg = {0};
    Err err;

    cfg.password = "x";
    CHECK(replServerNew(&cfg, &src, &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    cfg.user = "u";
    cfg.listenHost = "localhost"; /* numeric addresses only */
    CHECK(replServerNew(&cfg, &src, &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    cfg.listenHost = "::1";
    {
        ReplServer *srv = replServerNew(&cfg, &src, &err);

        /* IPv6 loopback may be unavailable in a container: then binding fails cleanly. */
        CHECK(srv != NULL || err.code == ERR_IO);
        replServerFree(srv);
    }
    replServerFree(NULL);
}


void
suite_replserver(void) {
    testRun("replserver: server end to end (libmariadb)", testServerEndToEnd);
    testRun("replserver: server streams events > 16 MiB", testServerBigEvents);
    testRun("replserver: server survives hostile clients", testServerHostileClients);
    testRun("replserver: server configuration errors", testServerConfig);
}
