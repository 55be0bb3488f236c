/* Replication protocol encoders (against hand-computed bytes) and server URLs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/client.h"
#include "binlog/gtid.h"
#include "common/bytes.h"
#include "common/mem.h"
#include "common/url.h"
#include "tests/test.h"

static void
checkBytes(const char *what, const uint8_t *got, size_t gotLen, const uint8_t *want, size_t wantLen) {
    if (gotLen != wantLen) {
        testFail(__FILE__, __LINE__, "%s: %zu bytes, expected %zu", what, gotLen, wantLen);
        return;
    }
    for (size_t i = 0; i < wantLen; i++)
        if (got[i] != want[i]) {
            testFail(__FILE__, __LINE__, "%s: byte %zu is 0x%02x, expected 0x%02x", what, i, got[i], want[i]);
            return;
        }
}

static void
testEncodeDump(void) {
    static const uint8_t want[] = {
        0x12,                                     /* COM_BINLOG_DUMP */
        0x04, 0x00, 0x00, 0x00,                   /* pos 4 */
        0x03, 0x00,                               /* flags NON_BLOCK | ANNOTATE_ROWS */
        0x04, 0x03, 0x02, 0x01,                   /* server id 0x01020304 */
        'm', 'a', 'r', 'i', 'a', 'd', 'b', '-', 'b', 'i', 'n', '.', '0', '0', '0', '0', '0', '1',
    };
    static const uint8_t wantEmpty[] = {0x12, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff};
    size_t len;
    uint8_t *p = binlogEncodeDump(4, BINLOG_DUMP_NON_BLOCK | BINLOG_DUMP_ANNOTATE_ROWS, 0x01020304,
                                  "mariadb-bin.000001", &len);

    checkBytes("dump", p, len, want, sizeof(want));
    bvFree(p);
    /* An empty name (first binlog / GTID start) ends the packet after the server id. */
    p = binlogEncodeDump(0x12345678, 0, UINT32_MAX, "", &len);
    checkBytes("dump, empty name", p, len, wantEmpty, sizeof(wantEmpty));
    bvFree(p);
    p = binlogEncodeDump(0x12345678, 0, UINT32_MAX, NULL, &len);
    checkBytes("dump, NULL name", p, len, wantEmpty, sizeof(wantEmpty));
    bvFree(p);
}

/* 3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5 encoded as in PREVIOUS_GTIDS / Gtid_set::encode. */
static const uint8_t gtidSet1to5[] = {
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* n_sids 1 */
    0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62, /* sid */
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* n_intervals 1 */
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* start 1 */
    0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* end 6 (exclusive) */
};

static void
testEncodeDumpGtid(void) {
    uint8_t want[1 + 2 + 4 + 4 + 8 + 4 + sizeof(gtidSet1to5)] = {
        0x1e,                                           /* COM_BINLOG_DUMP_GTID */
        0x04, 0x00,                                     /* flags BINLOG_THROUGH_GTID */
        0x64, 0x00, 0x00, 0x00,                         /* server id 100 */
        0x00, 0x00, 0x00, 0x00,                         /* name length 0, no name */
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* pos 4 (u64) */
        0x30, 0x00, 0x00, 0x00,                         /* data size 48 */
    };
    static const uint8_t wantNamed[] = {
        0x1e, 0x05, 0x00,                                     /* THROUGH_GTID | NON_BLOCK */
        0x01, 0x00, 0x00, 0x00,                               /* server id 1 */
        0x05, 0x00, 0x00, 0x00, 'b', 'i', 'n', '.', '1',      /* name */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,       /* pos 0x0102030405060708 */
        0x10, 0x00, 0x00, 0x00,                               /* data size 16 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,       /* (any bytes) */
        0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88,
    };
    static const uint8_t wantNoSet[] = {
        0x1e, 0x00, 0x00,                               /* no flags */
        0x02, 0x00, 0x00, 0x00,                         /* server id 2 */
        0x00, 0x00, 0x00, 0x00,                         /* name length 0 */
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* pos 4 */
    };
    size_t len;
    uint8_t *p;

    memcpy(want + 23, gtidSet1to5, sizeof(gtidSet1to5));
    p = binlogEncodeDumpGtid(BINLOG_DUMP_THROUGH_GTID, 100, "", 4, gtidSet1to5, sizeof(gtidSet1to5), &len);
    checkBytes("dump gtid", p, len, want, sizeof(want));
    bvFree(p);

    p = binlogEncodeDumpGtid(BINLOG_DUMP_THROUGH_GTID | BINLOG_DUMP_NON_BLOCK, 1, "bin.1", 0x0102030405060708ULL,
                             wantNamed + 28, 16, &len);
    checkBytes("dump gtid with a name", p, len, wantNamed, sizeof(wantNamed));
    bvFree(p);

    /* Without BINLOG_THROUGH_GTID the server reads no set: none is sent. */
    p = binlogEncodeDumpGtid(0, 2, NULL, 4, gtidSet1to5, sizeof(gtidSet1to5), &len);
    checkBytes("dump gtid without set", p, len, wantNoSet, sizeof(wantNoSet));
    bvFree(p);
}

/* The set the agent sends comes from the GTID module: its encoding is the hand-computed one. */
static void
testEncodeDumpGtidFromText(void) {
    GtidSet *set = gtidSetNew();
    Err err;
    uint8_t *enc;
    size_t len;

    REQUIRE(gtidSetParse(set, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", &err) == 0);
    enc = gtidSetEncode(set, &len);
    checkBytes("encoded gtid set", enc, len, gtidSet1to5, sizeof(gtidSet1to5));
    bvFree(enc);
    gtidSetFree(set);
}

/* MySQL 8.3+ tagged GTIDs: COM_BINLOG_DUMP_GTID carries the tagged encoding (format 1): the
 * first u64 is (1 << 56) | (n_tsids << 8) | 1, and each TSID entry has the tag (varlen length,
 * then its bytes; 0 for the untagged TSID) between the uuid and the intervals. */
static void
testEncodeDumpGtidTagged(void) {
    static const uint8_t uuid[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1,
                                     0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62};
    uint8_t set[8 + 2 * (16 + 1 + 8 + 16) + 5], want[1 + 2 + 4 + 4 + 8 + 4 + sizeof(set)], *q = set;
    static const uint8_t head[] = {
        0x1e, 0x04, 0x00,                               /* COM_BINLOG_DUMP_GTID, THROUGH_GTID */
        0x09, 0x00, 0x00, 0x00,                         /* server id 9 */
        0x00, 0x00, 0x00, 0x00,                         /* no name */
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* pos 4 */
        sizeof(set), 0x00, 0x00, 0x00,                  /* data size */
    };
    GtidSet *gs = gtidSetNew();
    uint8_t *enc, *p;
    size_t len;
    Err err;

    wrU64(q, (1ull << 56) | (2ull << 8) | 1); /* tagged format 1, two TSIDs */
    q += 8;
    memcpy(q, uuid, 16);                      /* uuid, untagged: tag length 0 */
    q[16] = 0x00;
    q += 17;
    wrU64(q, 1);                              /* one interval: 1-5 */
    wrU64(q + 8, 1);
    wrU64(q + 16, 6);
    q += 24;
    memcpy(q, uuid, 16);                      /* uuid:tag_a: varlen length 5 is (5 << 1) */
    q[16] = 0x0a;
    memcpy(q + 17, "tag_a", 5);
    q += 22;
    wrU64(q, 1);                              /* one interval: 1-3 */
    wrU64(q + 8, 1);
    wrU64(q + 16, 4);
    q += 24;
    REQUIRE((size_t)(q - set) == sizeof(set));

    REQUIRE(gtidSetParse(gs, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:TAG_A:1-3", &err) == 0);
    enc = gtidSetEncode(gs, &len);
    checkBytes("tagged gtid set", enc, len, set, sizeof(set));
    memcpy(want, head, sizeof(head));
    memcpy(want + sizeof(head), set, sizeof(set));
    p = binlogEncodeDumpGtid(BINLOG_DUMP_THROUGH_GTID, 9, "", 4, enc, len, &len);
    checkBytes("dump gtid, tagged set", p, len, want, sizeof(want));
    bvFree(p);
    bvFree(enc);
    gtidSetFree(gs);
}

static void
testEncodeRegisterSlave(void) {
    static const uint8_t want[] = {
        0x15,                   /* COM_REGISTER_SLAVE */
        0x02, 0x00, 0x00, 0x00, /* server id 2 */
        0x02, 'h', '1',         /* host */
        0x04, 'r', 'e', 'p', 'l', /* user */
        0x00,                   /* password: empty */
        0xea, 0x0c,             /* port 3306 */
        0x00, 0x00, 0x00, 0x00, /* replication rank */
        0x07, 0x00, 0x00, 0x00, /* master id 7 */
    };
    char longHost[301];
    size_t len;
    uint8_t *p = binlogEncodeRegisterSlave(2, "h1", "repl", NULL, 3306, 7, &len);

    checkBytes("register slave", p, len, want, sizeof(want));
    bvFree(p);

    /* Strings longer than a length byte can say are cut at 255 bytes. */
    memset(longHost, 'x', 300);
    longHost[300] = '\0';
    p = binlogEncodeRegisterSlave(1, longHost, "", "", 0, 0, &len);
    CHECK_INT(len, 1 + 4 + 1 + 255 + 1 + 1 + 2 + 4 + 4);
    CHECK_INT(p[5], 255);
    CHECK_INT(p[5 + 1 + 254], 'x');
    CHECK_INT(p[5 + 1 + 255], 0); /* user length */
    bvFree(p);
}

static void
testEncodeSemiSyncAck(void) {
    static const uint8_t want[] = {
        0xef,                                           /* magic */
        0x5d, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* pos 605 */
        'm', 'a', 'r', 'i', 'a', 'd', 'b', '-', 'b', 'i', 'n', '.', '0', '0', '0', '0', '0', '3',
    };
    static const uint8_t wantBig[] = {0xef, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 'x'};
    size_t len;
    uint8_t *p = binlogEncodeSemiSyncAck("mariadb-bin.000003", 605, &len);

    checkBytes("semi-sync ack", p, len, want, sizeof(want));
    bvFree(p);
    p = binlogEncodeSemiSyncAck("x", 0x0102030405060708ULL, &len);
    checkBytes("semi-sync ack, 64-bit position", p, len, wantBig, sizeof(wantBig));
    bvFree(p);
}

static void
checkUrl(const char *text, const char *user, const char *host, unsigned port) {
    Err err;
    MysqlUrl *u = urlMysqlNew(text, &err);

    if (u == NULL) {
        testFail(__FILE__, __LINE__, "'%s' refused: %s", text, err.msg);
        return;
    }
    if (user == NULL ? u->user != NULL : (u->user == NULL || strcmp(u->user, user) != 0))
        testFail(__FILE__, __LINE__, "'%s': user '%s', expected '%s'", text, u->user ? u->user : "(null)",
                 user ? user : "(null)");
    CHECK_STR(u->host, host);
    CHECK_INT(u->port, port);
    urlMysqlFree(u);
}

static void
testUrlValid(void) {
    checkUrl("mysql://repl@db1.example.com:3307", "repl", "db1.example.com", 3307);
    checkUrl("mysql://repl@db1", "repl", "db1", 3306);
    checkUrl("mysql://repl@127.0.0.1:1", "repl", "127.0.0.1", 1);
    checkUrl("mysql://repl@[::1]:3306", "repl", "::1", 3306);
    checkUrl("mysql://repl@[::1]", "repl", "::1", 3306);
    checkUrl("mysql://repl@[fe80::1%eth0]:65535", "repl", "fe80::1%eth0", 65535);
    checkUrl("mysql://db1:3310", NULL, "db1", 3310);
    checkUrl("mysql://db1", NULL, "db1", 3306);
    checkUrl("MySQL://repl@db1/", "repl", "db1", 3306);
    checkUrl("mariadb://repl@db_1:3306", "repl", "db_1", 3306);
    checkUrl("mysql://repl%40app@db1", "repl@app", "db1", 3306);
    checkUrl("mysql://a@b@db1", "a@b", "db1", 3306);
}

/* The unix-socket form: host localhost, the path decoded; formatted back the same way. */
static void
testUrlSocket(void) {
    Err err;
    MysqlUrl *u = urlMysqlNew("mysql://root@localhost/?socket=/run/mysqld/mysqld.sock", &err);
    char *s;

    REQUIRE(u != NULL);
    CHECK_STR(u->user, "root");
    CHECK_STR(u->host, "localhost");
    REQUIRE(u->socket != NULL);
    CHECK_STR(u->socket, "/run/mysqld/mysqld.sock");
    urlMysqlFree(u);
    u = urlMysqlNew("mariadb://a%40b@LOCALHOST?socket=/tmp/my%20dir/s.sock", &err);
    REQUIRE(u != NULL);
    CHECK_STR(u->user, "a@b");
    CHECK_STR(u->socket, "/tmp/my dir/s.sock");
    urlMysqlFree(u);
    u = urlMysqlNew("mysql://repl@db1:3307/", &err);
    REQUIRE(u != NULL);
    CHECK(u->socket == NULL);
    urlMysqlFree(u);

    s = urlMysqlFormatSocket("root", "/run/mysqld/mysqld.sock");
    CHECK_STR(s, "mysql://root@localhost/?socket=/run/mysqld/mysqld.sock");
    bvFree(s);
    s = urlMysqlFormatSocket("a@b", "/tmp/my dir/s?.sock");
    CHECK_STR(s, "mysql://a%40b@localhost/?socket=/tmp/my%20dir/s%3F.sock");
    u = urlMysqlNew(s, &err);
    REQUIRE(u != NULL);
    CHECK_STR(u->socket, "/tmp/my dir/s?.sock");
    urlMysqlFree(u);
    bvFree(s);
}

/* text must be refused with a message containing want (and not containing notWant). */
static void
checkUrlBad(const char *text, const char *want, const char *notWant) {
    Err err;
    MysqlUrl *u = urlMysqlNew(text, &err);

    if (u != NULL) {
        testFail(__FILE__, __LINE__, "'%s' accepted", text);
        urlMysqlFree(u);
        return;
    }
    CHECK_INT(err.code, ERR_USAGE);
    if (strstr(err.msg, want) == NULL)
        testFail(__FILE__, __LINE__, "'%s': message '%s' lacks '%s'", text, err.msg, want);
    if (notWant != NULL && strstr(err.msg, notWant) != NULL)
        testFail(__FILE__, __LINE__, "'%s': message '%s' shows '%s'", text, err.msg, notWant);
}

static void
testUrlInvalid(void) {
    checkUrlBad("", "expected mysql://USER@HOST[:PORT]", NULL);
    checkUrlBad("db1:3306", "expected mysql://USER@HOST[:PORT]", NULL);
    checkUrlBad("http://repl@db1", "expected mysql://USER@HOST[:PORT]", NULL);
    checkUrlBad("mysql://", "missing host", NULL);
    checkUrlBad("mysql://repl@", "missing host", NULL);
    checkUrlBad("mysql://@db1", "empty user", NULL);
    checkUrlBad("mysql://repl:s3cret@db1:3306", "must not contain a password", "s3cret");
    checkUrlBad("mysql://repl:s3cret@db1:3306", "mysql://repl:***@db1:3306", NULL);
    checkUrlBad("mysql://repl:@db1", "must not contain a password", NULL);
    checkUrlBad("mysql://repl@db1:0", "invalid port '0'", NULL);
    checkUrlBad("mysql://repl@db1:65536", "invalid port '65536'", NULL);
    checkUrlBad("mysql://repl@db1:123456", "invalid port", NULL);
    checkUrlBad("mysql://repl@db1:", "empty port", NULL);
    checkUrlBad("mysql://repl@db1:33a", "invalid port '33a'", NULL);
    checkUrlBad("mysql://repl@db1:-1", "invalid port", NULL);
    checkUrlBad("mysql://repl@::1", "must be in brackets", NULL);
    checkUrlBad("mysql://repl@[::1", "missing ']'", NULL);
    checkUrlBad("mysql://repl@[]:3306", "empty IPv6", NULL);
    checkUrlBad("mysql://repl@[::1]3306", "after the IPv6 address", NULL);
    checkUrlBad("mysql://repl@[::1]:", "empty port", NULL);
    checkUrlBad("mysql://repl@db1/mydb", "unexpected '/mydb'", NULL);
    checkUrlBad("mysql://repl@db1?ssl=1", "unexpected '?ssl=1'", NULL);
    checkUrlBad("mysql://repl@db 1", "invalid character ' ' in the host", NULL);
    checkUrlBad("mysql://re%4@db1", "bad percent escape", NULL);
    checkUrlBad("mysql://re%00pl@db1", "bad percent escape", NULL);
    checkUrlBad("mysql://root@db1/?socket=/run/mysqld/mysqld.sock", "write mysql://USER@localhost/?socket=PATH", NULL);
    checkUrlBad("mysql://root@localhost:3306/?socket=/s.sock", "a port does not go with ?socket=PATH", NULL);
    checkUrlBad("mysql://root@localhost/?socket=run/s.sock", "must be absolute", NULL);
    checkUrlBad("mysql://root@localhost/?socket=", "must be absolute", NULL);
    checkUrlBad("mysql://root@localhost/?socket=/s.sock&ssl=1", "unexpected '&ssl=1' after the socket path", NULL);
    checkUrlBad("mysql://root@localhost/?sock=/s.sock", "the one parameter is ?socket=PATH", NULL);
    checkUrlBad("mysql://root@localhost/?socket=/s%4", "bad percent escape in the socket path", NULL);
    checkUrlBad("mysql://root@localhost/?socket=/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "at most 107 bytes", NULL);
}

static void
testUrlFormat(void) {
    char *s;

    s = urlMysqlFormat("repl", "db1", 3306);
    CHECK_STR(s, "mysql://repl@db1:3306");
    bvFree(s);
    s = urlMysqlFormat("repl", "::1", 3307);
    CHECK_STR(s, "mysql://repl@[::1]:3307");
    bvFree(s);
    s = urlMysqlFormat(NULL, "db1", 1);
    CHECK_STR(s, "mysql://db1:1");
    bvFree(s);
    s = urlMysqlFormat("a@b:c", "db1", 3306);
    CHECK_STR(s, "mysql://a%40b%3Ac@db1:3306");
    bvFree(s);
}

/* The server's answers to a dump that no reconnection cures, and some that one does. */
static void
testStreamRefusal(void) {
    CHECK_INT(binlogStreamRefusal(1236, "Could not find first log file name in binary log index file"),
              BINLOG_REFUSED_FILE_MISSING);
    CHECK_INT(binlogStreamRefusal(1236, "Error: connecting slave requested to start from GTID 0-1-900, which is not "
                                        "in the master's binlog"),
              BINLOG_REFUSED_GTID_UNKNOWN);
    CHECK_INT(binlogStreamRefusal(1236, "Cannot replicate because the source purged required binary logs."),
              BINLOG_REFUSED_PURGED);
    CHECK_INT(binlogStreamRefusal(1789, "The replication receiver thread cannot start because the source has purged "
                                        "binary logs containing GTIDs"),
              BINLOG_REFUSED_PURGED);
    CHECK_INT(binlogStreamRefusal(1236, "Client requested master to start replication from impossible position; the "
                                        "first event 'mariadb-bin.000001' at 99999"),
              BINLOG_REFUSED_POSITION);
    CHECK_INT(binlogStreamRefusal(1236, "Client requested master to start replication from position > file size"),
              BINLOG_REFUSED_POSITION);
    CHECK_INT(binlogStreamRefusal(1236, "Misconfigured master - server id was not set"), BINLOG_REFUSED_SOURCE_CONFIG);
    CHECK_INT(binlogStreamRefusal(2013, "Lost connection to server during query"), BINLOG_REFUSED_NO);
    CHECK_INT(binlogStreamRefusal(1236, "binlog truncated in the middle of event; consider out of disk space"),
              BINLOG_REFUSED_NO);
    CHECK_INT(binlogStreamRefusal(1927, "Connection was killed"), BINLOG_REFUSED_NO);
}

void suite_client(void);

void
suite_client(void) {
    testRun("url: mysql://USER@localhost/?socket=PATH, parsed and formatted", testUrlSocket);
    testRun("client: server errors that refuse the stream for good", testStreamRefusal);
    testRun("client: COM_BINLOG_DUMP bytes", testEncodeDump);
    testRun("client: COM_BINLOG_DUMP_GTID bytes", testEncodeDumpGtid);
    testRun("client: COM_BINLOG_DUMP_GTID set from the gtid module", testEncodeDumpGtidFromText);
    testRun("client: COM_BINLOG_DUMP_GTID with a tagged GTID set (MySQL 8.3+)", testEncodeDumpGtidTagged);
    testRun("client: COM_REGISTER_SLAVE bytes", testEncodeRegisterSlave);
    testRun("client: semi-sync ACK bytes", testEncodeSemiSyncAck);
    testRun("client: valid server URLs", testUrlValid);
    testRun("client: invalid server URLs", testUrlInvalid);
    testRun("client: URL formatting", testUrlFormat);
}
