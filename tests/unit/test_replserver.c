/* The replication endpoint: packet framing, handshake, mysql_native_password, the replica's SQL,
 * artificial events, the stream logic over the MariaDB 10.11 fixture files, and the server end to
 * end against binvault's own replication client (libmariadb). */
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
#include "binlog/reader.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/mem.h"
#include "recover/replserver.h"
#include "tests/test.h"

#define NFILES 4
#define MAX_EVENTS 256

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

/* The four files written by MariaDB 10.11.19 (CRC32, CRC32, OFF, OFF; domains 0 and 2). */
static const char *
fixturePath(int i) {
    static char paths[NFILES][512];

    snprintf(paths[i], sizeof(paths[i]), "%s/mariadb-10.11.19-compressed.%06d.binlog", testFixtureDir(), i + 1);
    return paths[i];
}

static const char *
fixtureName(int i) {
    const char *p = fixturePath(i);

    return strrchr(p, '/') + 1;
}

/* ---- Framing ---- */

static int
failingWrite(void *ctx, const void *data, size_t len, Err *err) {
    int *calls = ctx;

    (void)data;
    (void)len;
    if (++*calls == 2)
        return errSet(err, ERR_IO, "write failed");
    return 0;
}

static void
testFraming(void) {
    static const uint8_t wantSmall[] = {0x03, 0x00, 0x00, 0x05, 'a', 'b', 'c'};
    static const uint8_t wantSplit[] = {0x04, 0x00, 0x00, 0xff, 0x00, 'x', 'y', 'z'};
    static const uint8_t wantEmpty[] = {0x00, 0x00, 0x00, 0x00};
    const size_t big = REPL_PACKET_MAX + 10;
    uint8_t *data = bvMalloc(2 * (size_t)REPL_PACKET_MAX);
    Buf *out = bufNew(0);
    uint8_t seq = 5;
    int calls = 0;
    Err err;

    for (size_t i = 0; i < 2 * (size_t)REPL_PACKET_MAX; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    replPacketAppend(out, &seq, (const uint8_t *)"abc", 3, NULL, 0);
    checkBytes("small packet", out->data, out->len, wantSmall, sizeof(wantSmall));
    CHECK_INT(seq, 6);
    /* head + body make one payload; the sequence id wraps at 255. */
    bufClear(out);
    seq = 255;
    replPacketAppend(out, &seq, (const uint8_t *)"\0", 1, (const uint8_t *)"xyz", 3);
    checkBytes("head and body", out->data, out->len, wantSplit, sizeof(wantSplit));
    CHECK_INT(seq, 0);
    bufClear(out);
    seq = 0;
    replPacketAppend(out, &seq, NULL, 0, NULL, 0);
    checkBytes("empty packet", out->data, out->len, wantEmpty, sizeof(wantEmpty));

    /* > 16 MiB: a full 0xffffff packet then the rest, with consecutive sequence ids. */
    bufClear(out);
    seq = 9;
    replPacketAppend(out, &seq, (const uint8_t *)"\0", 1, data, big - 1);
    REQUIRE(out->len == big + 8);
    CHECK_INT(rdU24(out->data), REPL_PACKET_MAX);
    CHECK_INT(out->data[3], 9);
    CHECK(out->data[4] == 0 && memcmp(out->data + 5, data, REPL_PACKET_MAX - 1) == 0);
    CHECK_INT(rdU24(out->data + 4 + REPL_PACKET_MAX), 10);
    CHECK_INT(out->data[4 + REPL_PACKET_MAX + 3], 10);
    CHECK(memcmp(out->data + 8 + REPL_PACKET_MAX, data + REPL_PACKET_MAX - 1, 10) == 0);
    CHECK_INT(seq, 11);

    /* Exactly 0xffffff bytes: an empty packet ends the payload; 2 x 0xffffff: two full + empty. */
    bufClear(out);
    seq = 0;
    replPacketAppend(out, &seq, NULL, 0, data, REPL_PACKET_MAX);
    REQUIRE(out->len == (size_t)REPL_PACKET_MAX + 8);
    CHECK_INT(rdU24(out->data + 4 + REPL_PACKET_MAX), 0);
    CHECK_INT(out->data[4 + REPL_PACKET_MAX + 3], 1);
    bufClear(out);
    seq = 0;
    replPacketAppend(out, &seq, NULL, 0, data, 2 * (size_t)REPL_PACKET_MAX);
    CHECK_INT(out->len, 2 * (size_t)REPL_PACKET_MAX + 12);
    CHECK_INT(seq, 3);

    /* A write error stops the framing and is returned. */
    seq = 0;
    CHECK_INT(replPacketWrite(failingWrite, &calls, &seq, NULL, 0, data, 100, &err), -1);
    CHECK_STR(err.msg, "write failed");
    bufFree(out);
    bvFree(data);
}

static void
testPacketTake(void) {
    const size_t big = REPL_PACKET_MAX + 10;
    uint8_t *data = bvMalloc(big);
    Buf *framed = bufNew(0), *payload = bufNew(0);
    size_t consumed, first;
    uint8_t seq = 0;
    Err err;

    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 13);
    replPacketAppend(framed, &seq, NULL, 0, data, big);
    first = framed->len;
    replPacketAppend(framed, &seq, (const uint8_t *)"\x03SELECT 1", 9, NULL, 0);

    /* Incomplete input asks for more, whatever the cut. */
    CHECK_INT(replPacketTake(framed->data, 3, 1u << 25, payload, &seq, &consumed, &err), 0);
    CHECK_INT(replPacketTake(framed->data, 100, 1u << 25, payload, &seq, &consumed, &err), 0);
    CHECK_INT(replPacketTake(framed->data, first - 1, 1u << 25, payload, &seq, &consumed, &err), 0);
    CHECK_INT(payload->len, 0);
    /* The whole 16 MiB+ payload joined, then the next packet. */
    REQUIRE(replPacketTake(framed->data, framed->len, 1u << 25, payload, &seq, &consumed, &err) == 1);
    CHECK_INT(consumed, first);
    CHECK_INT(seq, 1);
    CHECK(payload->len == big && memcmp(payload->data, data, big) == 0);
    bufClear(payload);
    REQUIRE(replPacketTake(framed->data + first, framed->len - first, 1024, payload, &seq, &consumed, &err) == 1);
    CHECK_INT(seq, 2);
    CHECK(payload->len == 9 && memcmp(payload->data, "\x03SELECT 1", 9) == 0);
    /* Limits: a payload longer than allowed is refused from its header on. */
    bufClear(payload);
    CHECK_INT(replPacketTake(framed->data, 8, 1024 * 1024, payload, &seq, &consumed, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    CHECK_INT(replPacketTake(framed->data + first, framed->len - first, 8, payload, &seq, &consumed, &err), -1);
    CHECK_INT(err.code, ERR_LIMIT);
    /* A continuation packet with a wrong sequence id. */
    framed->data[REPL_PACKET_MAX + 4 + 3] = 7;
    CHECK_INT(replPacketTake(framed->data, framed->len, 1u << 25, payload, &seq, &consumed, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    bufFree(framed);
    bufFree(payload);
    bvFree(data);
}

static void
testLenenc(void) {
    static const uint64_t values[] = {0, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, UINT64_MAX};
    static const size_t sizes[] = {1, 1, 3, 3, 4, 4, 9, 9};
    uint8_t b[9];
    uint64_t v;

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        size_t n = replLenencPut(b, values[i]);

        CHECK_INT(n, sizes[i]);
        CHECK_INT(replLenencGet(b, n, &v), n);
        CHECK(v == values[i]);
        CHECK_INT(replLenencGet(b, n - 1, &v), 0); /* truncated */
    }
    CHECK_INT(replLenencGet((const uint8_t *)"\xfb", 1, &v), 0); /* NULL */
    CHECK_INT(replLenencGet((const uint8_t *)"\xff", 1, &v), 0);
}

/* ---- Handshake and login ---- */

static void
testHandshakeBytes(void) {
    static const uint8_t want[] = {
        0x0a,                                                                                /* protocol 10 */
        '1', '0', '.', '1', '1', '.', '1', '9', '-', 'M', 'a', 'r', 'i', 'a', 'D', 'B', '-', /* version */
        'b', 'i', 'n', 'v', 'a', 'u', 'l', 't', 0x00,
        0x07, 0x00, 0x00, 0x00,                         /* connection id 7 */
        'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 0x00,   /* scramble part 1, filler */
        0x0f, 0xa2,                                     /* capabilities, low: 0xa20f */
        0x2d,                                           /* utf8mb4_general_ci */
        0x02, 0x00,                                     /* autocommit */
        0x3a, 0x00,                                     /* capabilities, high: 0x003a */
        0x15,                                           /* scramble length 21 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                   /* reserved, MariaDB capabilities */
        'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 0x00, /* scramble part 2 */
        'm', 'y', 's', 'q', 'l', '_', 'n', 'a', 't', 'i', 'v', 'e', '_',
        'p', 'a', 's', 's', 'w', 'o', 'r', 'd', 0x00,
    };
    Buf *out = bufNew(0);

    replHandshakeEncode(out, REPL_SERVER_VERSION, 7, (const uint8_t *)"ABCDEFGHIJKLMNOPQRST");
    checkBytes("handshake v10", out->data, out->len, want, sizeof(want));
    CHECK(!(REPL_SERVER_CAPS & (REPL_CLIENT_SSL | REPL_CLIENT_COMPRESS | REPL_CLIENT_DEPRECATE_EOF)));
    bufFree(out);
}

/* A HandshakeResponse41 as libmariadb builds it. */
static Buf *
buildResponse(uint32_t caps, const char *user, const uint8_t *auth, size_t authLen, const char *plugin, bool attrs) {
    Buf *b = bufNew(128);
    uint8_t hdr[32] = {0};

    wrU32(hdr, caps);
    wrU32(hdr + 4, 1u << 24);
    hdr[8] = 33;
    bufAppend(b, hdr, sizeof(hdr));
    bufAppend(b, user, strlen(user) + 1);
    {
        uint8_t n = (uint8_t)authLen; /* one byte both as a length-encoded integer (< 251) and as u8 */

        bufAppend(b, &n, 1);
    }
    bufAppend(b, auth, authLen);
    if (plugin != NULL)
        bufAppend(b, plugin, strlen(plugin) + 1);
    if (attrs)
        bufAppend(b, "\x06\x01x\x01y\x01z", 7);
    return b;
}

static void
testHandshakeResponse(void) {
    const uint32_t caps = REPL_CLIENT_LONG_PASSWORD | REPL_CLIENT_PROTOCOL_41 | REPL_CLIENT_SECURE_CONNECTION |
                          REPL_CLIENT_PLUGIN_AUTH | REPL_CLIENT_PLUGIN_AUTH_LENENC | REPL_CLIENT_CONNECT_ATTRS;
    uint8_t token[20];
    ReplHandshakeResponse r;
    Buf *b;
    char longName[300];
    Err err;

    for (size_t i = 0; i < sizeof(token); i++)
        token[i] = (uint8_t)(0xa0 + i);
    b = buildResponse(caps, "binvault", token, sizeof(token), REPL_NATIVE_PASSWORD, true);
    REQUIRE(replHandshakeResponseParse(b->data, b->len, &r, &err) == 0);
    CHECK_STR(r.user, "binvault");
    CHECK_INT(r.authLen, 20);
    CHECK(memcmp(r.auth, token, 20) == 0);
    CHECK_STR(r.plugin, REPL_NATIVE_PASSWORD);
    CHECK_INT(r.charset, 33);
    CHECK(!r.sslRequest);
    /* Every truncation is handled without reading past the end (ASan) and most are errors. */
    for (size_t n = 0; n < b->len; n++)
        replHandshakeResponseParse(b->data, n, &r, &err);
    CHECK_INT(replHandshakeResponseParse(b->data, 40, &r, &err), -1);
    CHECK_INT(replHandshakeResponseParse(b->data, b->len - 2, &r, &err), -1); /* attributes cut */
    bufFree(b);

    /* Auth data longer than the packet; a user name that is too long; no protocol 4.1. */
    b = buildResponse(caps & ~REPL_CLIENT_CONNECT_ATTRS, "u", token, sizeof(token), NULL, false);
    b->data[32 + 2] = 200;
    CHECK_INT(replHandshakeResponseParse(b->data, b->len, &r, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    bufFree(b);
    memset(longName, 'u', sizeof(longName) - 1);
    longName[sizeof(longName) - 1] = '\0';
    b = buildResponse(caps, longName, token, sizeof(token), NULL, false);
    CHECK_INT(replHandshakeResponseParse(b->data, b->len, &r, &err), -1);
    bufFree(b);
    b = buildResponse(REPL_CLIENT_SECURE_CONNECTION, "u", token, sizeof(token), NULL, false);
    CHECK_INT(replHandshakeResponseParse(b->data, b->len, &r, &err), -1);
    bufFree(b);

    /* The 32-byte SSL request. */
    b = buildResponse(caps | REPL_CLIENT_SSL, "", NULL, 0, NULL, false);
    REQUIRE(replHandshakeResponseParse(b->data, 32, &r, &err) == 0);
    CHECK(r.sslRequest);
    bufFree(b);
}

static void
testNativePassword(void) {
    /* SHA1("abc") (FIPS 180), and MySQL's PASSWORD('password') = *2470C0C0...; the token was
     * computed independently (Python hashlib) for the scramble "!\"#$%&'()*+,-./01234". */
    static const uint8_t sha1Abc[] = {0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
                                      0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d};
    static const uint8_t stage2Password[] = {0x24, 0x70, 0xc0, 0xc0, 0x6d, 0xee, 0x42, 0xfd, 0x16, 0x18,
                                             0xbb, 0x99, 0x00, 0x5a, 0xdc, 0xa2, 0xec, 0x9d, 0x1e, 0x19};
    static const uint8_t tokenPassword[] = {0x97, 0xaa, 0xf5, 0xec, 0x98, 0x57, 0x65, 0x3f, 0xc9, 0xb0,
                                            0x4e, 0x85, 0xa3, 0x88, 0xca, 0x15, 0xb5, 0x98, 0xc8, 0xa4};
    const uint8_t *scramble = (const uint8_t *)"!\"#$%&'()*+,-./01234";
    uint8_t d[REPL_SHA1_LEN], stage2[REPL_SHA1_LEN], token[REPL_SHA1_LEN], emptyStage2[REPL_SHA1_LEN];
    size_t len;

    cryptoSha1("abc", 3, d);
    checkBytes("sha1(abc)", d, sizeof(d), sha1Abc, sizeof(sha1Abc));
    replNativePasswordHash("password", stage2);
    checkBytes("stage2", stage2, sizeof(stage2), stage2Password, sizeof(stage2Password));
    replNativePasswordToken("password", scramble, token, &len);
    checkBytes("token", token, len, tokenPassword, sizeof(tokenPassword));

    CHECK(replNativePasswordVerify(stage2, false, scramble, tokenPassword, 20));
    token[7] ^= 1;
    CHECK(!replNativePasswordVerify(stage2, false, scramble, token, 20));
    CHECK(!replNativePasswordVerify(stage2, false, scramble, tokenPassword, 19));
    CHECK(!replNativePasswordVerify(stage2, false, scramble, tokenPassword, 0));
    CHECK(!replNativePasswordVerify(stage2, false, (const uint8_t *)"ABCDEFGHIJKLMNOPQRST", tokenPassword, 20));
    /* An empty password is sent as nothing, and only nothing matches it. */
    replNativePasswordHash("", emptyStage2);
    replNativePasswordToken("", scramble, token, &len);
    CHECK_INT(len, 0);
    CHECK(replNativePasswordVerify(emptyStage2, true, scramble, token, 0));
    CHECK(!replNativePasswordVerify(emptyStage2, true, scramble, tokenPassword, 20));
}

static void
testRandomPassword(void) {
    char a[33], b[33];
    Err err;

    REQUIRE(replServerRandomPassword(a, sizeof(a), &err) == 0);
    REQUIRE(replServerRandomPassword(b, sizeof(b), &err) == 0);
    CHECK_INT(strlen(a), 32);
    CHECK(strcmp(a, b) != 0);
    CHECK(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 32);
}

static void
testOkErrEof(void) {
    static const uint8_t wantOk[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
    static const uint8_t wantErr[] = {0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0', 'n', 'o'};
    static const uint8_t wantErrEarly[] = {0xff, 0x10, 0x04, 'b', 'u', 's', 'y'};
    static const uint8_t wantEof[] = {0xfe, 0x00, 0x00, 0x02, 0x00};
    Buf *b = bufNew(0);

    replOkEncode(b, 0, REPL_STATUS_AUTOCOMMIT);
    checkBytes("ok", b->data, b->len, wantOk, sizeof(wantOk));
    bufClear(b);
    replErrEncode(b, 1045, "28000", "no");
    checkBytes("err", b->data, b->len, wantErr, sizeof(wantErr));
    bufClear(b);
    replErrEncode(b, 1040, NULL, "busy");
    checkBytes("err before the handshake", b->data, b->len, wantErrEarly, sizeof(wantErrEarly));
    bufClear(b);
    replEofEncode(b, REPL_STATUS_AUTOCOMMIT);
    checkBytes("eof", b->data, b->len, wantEof, sizeof(wantEof));
    bufFree(b);
}

static void
testResultSet(void) {
    static const char *const names[] = {"Variable_name", "Value"};
    static const char *const values[] = {"server_id", "42", "x", NULL};
    Buf *out = bufNew(0), *payload = bufNew(0);
    uint8_t seq = 1, got;
    size_t off = 0, consumed;
    int packets = 0;
    Err err;

    replResultSetAppend(out, &seq, 2, names, 2, values);
    /* count, 2 column definitions, EOF, 2 rows, EOF: sequence ids 1 to 7. */
    while (off < out->len) {
        bufClear(payload);
        REQUIRE(replPacketTake(out->data + off, out->len - off, 4096, payload, &got, &consumed, &err) == 1);
        CHECK_INT(got, packets + 1);
        switch (packets) {
        case 0: CHECK(payload->len == 1 && payload->data[0] == 2); break;
        case 1:
            CHECK(payload->len > 4 && memcmp(payload->data, "\x03" "def", 4) == 0);
            CHECK(memmem(payload->data, payload->len, "\x0dVariable_name", 14) != NULL);
            break;
        case 3:
        case 6: CHECK(payload->len == 5 && payload->data[0] == 0xfe); break;
        case 4: checkBytes("row 1", payload->data, payload->len, (const uint8_t *)"\x09server_id\x02" "42", 13); break;
        case 5: checkBytes("row 2", payload->data, payload->len, (const uint8_t *)"\x01x\xfb", 3); break;
        default: break;
        }
        off += consumed;
        packets++;
    }
    CHECK_INT(packets, 7);
    CHECK_INT(seq, 8);
    bufFree(out);
    bufFree(payload);
}

/* ---- The replica's SQL ---- */

static void
parse(const char *sql, ReplQuery *q) {
    replQueryParse(sql, strlen(sql), q);
}

static void
checkSetUserVar(const char *sql, const char *name, ReplExprKind kind, const char *value) {
    ReplQuery q;

    parse(sql, &q);
    if (q.kind != REPL_QUERY_SET || q.count != 1 || q.target[0].kind != REPL_EXPR_USERVAR ||
        strcmp(q.target[0].text, name) != 0 || q.value[0].kind != kind ||
        (value != NULL && (q.value[0].text == NULL || strcmp(q.value[0].text, value) != 0)))
        testFail(__FILE__, __LINE__, "'%s' not parsed as SET @%s = %s (kind %d, why %s)", sql, name,
                 value ? value : "?", (int)q.kind, q.why ? q.why : "-");
    replQueryClear(&q);
}

static void
testQueryParse(void) {
    ReplQuery q;

    /* What the MariaDB 10.11 I/O thread sends, in order. */
    parse("SELECT UNIX_TIMESTAMP()", &q);
    CHECK_INT(q.kind, REPL_QUERY_SELECT);
    CHECK_INT(q.count, 1);
    CHECK_INT(q.value[0].kind, REPL_EXPR_FUNC);
    CHECK_STR(q.value[0].text, "unix_timestamp");
    CHECK_STR(q.value[0].label, "UNIX_TIMESTAMP()");
    replQueryClear(&q);
    parse("SHOW VARIABLES LIKE 'SERVER_ID'", &q);
    CHECK_INT(q.kind, REPL_QUERY_SHOW_VARIABLES);
    CHECK_STR(q.like, "SERVER_ID");
    replQueryClear(&q);
    checkSetUserVar("SET @master_heartbeat_period= 30000001024", "master_heartbeat_period", REPL_EXPR_INT,
                    "30000001024");
    parse("SET @master_binlog_checksum= @@global.binlog_checksum", &q);
    CHECK_INT(q.kind, REPL_QUERY_SET);
    CHECK_STR(q.target[0].text, "master_binlog_checksum");
    CHECK_INT(q.value[0].kind, REPL_EXPR_SYSVAR);
    CHECK_STR(q.value[0].text, "binlog_checksum");
    CHECK(q.value[0].global);
    replQueryClear(&q);
    parse("SELECT @master_binlog_checksum", &q);
    CHECK_INT(q.kind, REPL_QUERY_SELECT);
    CHECK_INT(q.value[0].kind, REPL_EXPR_USERVAR);
    CHECK_STR(q.value[0].text, "master_binlog_checksum");
    CHECK_STR(q.value[0].label, "@master_binlog_checksum");
    replQueryClear(&q);
    checkSetUserVar("SET @mariadb_slave_capability=4", "mariadb_slave_capability", REPL_EXPR_INT, "4");
    parse("SELECT @@GLOBAL.gtid_domain_id", &q);
    CHECK_INT(q.value[0].kind, REPL_EXPR_SYSVAR);
    CHECK_STR(q.value[0].text, "gtid_domain_id");
    CHECK(q.value[0].global);
    CHECK_STR(q.value[0].label, "@@GLOBAL.gtid_domain_id");
    replQueryClear(&q);
    checkSetUserVar("SET @slave_connect_state='0-1-100,1-2-7'", "slave_connect_state", REPL_EXPR_STRING,
                    "0-1-100,1-2-7");
    checkSetUserVar("SET @slave_connect_state=''", "slave_connect_state", REPL_EXPR_STRING, "");
    checkSetUserVar("SET @slave_gtid_strict_mode=1", "slave_gtid_strict_mode", REPL_EXPR_INT, "1");
    checkSetUserVar("SET @slave_gtid_ignore_duplicates=0", "slave_gtid_ignore_duplicates", REPL_EXPR_INT, "0");
    checkSetUserVar("SET @slave_until_gtid='0-1-7,2-1-1'", "slave_until_gtid", REPL_EXPR_STRING, "0-1-7,2-1-1");

    /* What binvault's own client and the mariadb command line send. */
    parse("SET @master_binlog_checksum = @@global.binlog_checksum, @source_binlog_checksum = "
          "@@global.binlog_checksum", &q);
    CHECK_INT(q.kind, REPL_QUERY_SET);
    CHECK_INT(q.count, 2);
    CHECK_STR(q.target[1].text, "source_binlog_checksum");
    replQueryClear(&q);
    parse("SELECT @@version, @@global.binlog_checksum, @@server_id", &q);
    CHECK_INT(q.count, 3);
    CHECK_STR(q.value[2].text, "server_id");
    CHECK(!q.value[2].global);
    replQueryClear(&q);
    parse("select @@version_comment limit 1", &q);
    CHECK_INT(q.kind, REPL_QUERY_SELECT);
    CHECK_STR(q.value[0].text, "version_comment");
    replQueryClear(&q);
    parse("SET NAMES utf8mb4 COLLATE utf8mb4_general_ci", &q);
    CHECK(q.kind == REPL_QUERY_SET && q.setNames && q.count == 0);
    replQueryClear(&q);

    /* Scopes, literals, aliases, comments. */
    parse("SET skip_replication=1", &q);
    CHECK(q.kind == REPL_QUERY_SET && q.target[0].kind == REPL_EXPR_SYSVAR && !q.target[0].global);
    CHECK_STR(q.target[0].text, "skip_replication");
    replQueryClear(&q);
    parse("SET GLOBAL gtid_slave_pos = '1-2-3'", &q);
    CHECK(q.kind == REPL_QUERY_SET && q.target[0].global);
    replQueryClear(&q);
    parse("SET @@session.sql_mode = STRICT_ALL_TABLES, autocommit = ON", &q);
    CHECK(q.kind == REPL_QUERY_SET && q.count == 2 && q.value[1].kind == REPL_EXPR_STRING);
    CHECK_STR(q.value[1].text, "ON");
    replQueryClear(&q);
    checkSetUserVar("SET @a := -5;", "a", REPL_EXPR_INT, "-5");
    checkSetUserVar("set @S = 'it''s \\\\ \\n'", "s", REPL_EXPR_STRING, "it's \\ \n");
    checkSetUserVar("SET @`Odd Name` = NULL", "odd name", REPL_EXPR_NULL, NULL);
    parse("/* hi */ SELECT 1 AS one, 'x' two -- end", &q);
    CHECK_INT(q.kind, REPL_QUERY_SELECT);
    CHECK_STR(q.value[0].label, "one");
    CHECK_STR(q.value[1].label, "two");
    replQueryClear(&q);
    parse("SELECT binlog_gtid_pos('mariadb-bin.000001', 4)", &q);
    CHECK(q.kind == REPL_QUERY_SELECT && q.value[0].kind == REPL_EXPR_FUNC);
    CHECK_STR(q.value[0].text, "binlog_gtid_pos");
    replQueryClear(&q);
    parse("SHOW GLOBAL VARIABLES", &q);
    CHECK(q.kind == REPL_QUERY_SHOW_VARIABLES && q.like == NULL);
    replQueryClear(&q);
}

static void
testQueryUnknown(void) {
    static const char *const unknown[] = {
        "",
        "   ",
        "SELECT * FROM mysql.user",
        "SELECT a FROM t",
        "INSERT INTO t VALUES (1)",
        "SHOW TABLES",
        "SET @x='unterminated",
        "SET @x",
        "SET = 1",
        "SELECT 1 a b",
        "SELECT (1)",
        "SELECT f(1,",
        "SET @@bogus.x = 1",
        "SELECT 1; DROP TABLE t",
        "SET @a=1,@b=2,@c=3,@d=4,@e=5,@f=6,@g=7,@h=8,@i=9,@j=10,@k=11,@l=12,@m=13,@n=14,@o=15,@p=16,@q=17",
        "SHOW VARIABLES LIKE x",
        "SET NAMES",
    };
    ReplQuery q;

    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        parse(unknown[i], &q);
        if (q.kind != REPL_QUERY_UNKNOWN || q.why == NULL)
            testFail(__FILE__, __LINE__, "'%s' was accepted (kind %d)", unknown[i], (int)q.kind);
        replQueryClear(&q);
    }
    /* Binary junk, NUL bytes and every prefix of a valid statement never crash. */
    {
        static const char junk[] = "SET @\0\xff'\\";
        const char *valid = "SET @master_binlog_checksum= @@global.binlog_checksum, @x = 'a''b'";

        replQueryParse(junk, sizeof(junk), &q);
        CHECK_INT(q.kind, REPL_QUERY_UNKNOWN);
        replQueryClear(&q);
        for (size_t n = 0; n <= strlen(valid); n++) {
            char *copy = bvStrndup(valid, n); /* exact-size allocation: ASan sees any over-read */

            replQueryParse(copy, n, &q);
            replQueryClear(&q);
            bvFree(copy);
        }
    }
}

static void
testLike(void) {
    CHECK(replLikeMatch("SERVER_ID", "server_id"));
    CHECK(replLikeMatch("server%", "server_id"));
    CHECK(replLikeMatch("%id", "server_id"));
    CHECK(replLikeMatch("%ver%", "server_id"));
    CHECK(replLikeMatch("s_rver_id", "server_id"));
    CHECK(!replLikeMatch("server", "server_id"));
    CHECK(!replLikeMatch("%x%", "server_id"));
    CHECK(replLikeMatch("%", ""));
    CHECK(replLikeMatch("", ""));
    CHECK(!replLikeMatch("_", ""));
    CHECK(replLikeMatch("a\\_b", "a_b"));
    CHECK(!replLikeMatch("a\\_b", "axb"));
    CHECK(replLikeMatch("%a%b%c", "xaybzc"));
}

/* ---- Artificial events ---- */

static void
testArtificialEvents(void) {
    static const uint8_t wantRotate[] = {
        0, 0, 0, 0, 0x04, 0x63, 0, 0, 0, 0x31, 0, 0, 0, 0, 0, 0, 0, 0x20, 0x00, /* header */
        0x04, 0, 0, 0, 0, 0, 0, 0,                                             /* position 4 */
        'm', 'a', 'r', 'i', 'a', 'd', 'b', '-', 'b', 'i', 'n', '.', '0', '0', '0', '0', '0', '2',
    };
    BinlogFormat crc, off;
    BinlogEvent ev;
    BinlogRotate rot;
    MariaGtidPos *pos = mariaGtidPosNew();
    MariaGtid *list = NULL;
    size_t n = 0, fileLen;
    uint32_t flags;
    const char *file;
    uint64_t hbPos;
    Buf *b = bufNew(0);
    Err err;

    binlogFormatInit(&crc);
    crc.checksumAlg = BINLOG_CHECKSUM_CRC32;
    binlogFormatInit(&off);
    off.checksumAlg = BINLOG_CHECKSUM_OFF;

    replEventRotate(b, 99, "mariadb-bin.000002", 4, true);
    REQUIRE(b->len == sizeof(wantRotate) + 4);
    checkBytes("rotate", b->data, sizeof(wantRotate), wantRotate, sizeof(wantRotate));
    REQUIRE(binlogEventParse(&crc, b->data, b->len, true, &ev, &err) == 0);
    REQUIRE(binlogDecodeRotate(&crc, &ev, &rot, &err) == 0);
    CHECK(rot.position == 4 && rot.fileLen == 18 && memcmp(rot.file, "mariadb-bin.000002", 18) == 0);
    bufClear(b);
    replEventRotate(b, 99, "f.1", 1234, false);
    CHECK_INT(b->len, 19 + 8 + 3);
    REQUIRE(binlogEventParse(&off, b->data, b->len, true, &ev, &err) == 0);
    REQUIRE(binlogDecodeRotate(&off, &ev, &rot, &err) == 0);
    CHECK(rot.position == 1234);

    bufClear(b);
    replEventHeartbeat(b, 99, "mariadb-bin.000007", 4096, true);
    REQUIRE(binlogEventParse(&crc, b->data, b->len, true, &ev, &err) == 0);
    CHECK(ev.h.type == BINLOG_HEARTBEAT && ev.h.flags == 0 && ev.h.logPos == 4096 && ev.h.timestamp == 0);
    REQUIRE(binlogDecodeHeartbeat(&ev, &file, &fileLen, &hbPos, &err) == 0);
    CHECK(fileLen == 18 && memcmp(file, "mariadb-bin.000007", 18) == 0 && hbPos == 4096);

    bufClear(b);
    REQUIRE(mariaGtidPosParse(pos, "2-11-7,0-1-100", &err) == 0);
    replEventGtidList(b, 99, pos, MARIA_GTID_LIST_FLAG_UNTIL_REACHED, 3098, true);
    CHECK_INT(b->len, 19 + 4 + 2 * 16 + 4);
    REQUIRE(binlogEventParse(&crc, b->data, b->len, true, &ev, &err) == 0);
    CHECK(ev.h.type == BINLOG_MARIA_GTID_LIST && ev.h.flags == BINLOG_FLAG_ARTIFICIAL && ev.h.logPos == 3098 &&
          ev.h.serverId == 99);
    REQUIRE(mariaGtidListDecode(ev.body, ev.bodyLen, &list, &n, &flags, &err) == 0);
    CHECK_INT(n, 2);
    CHECK_INT(flags, MARIA_GTID_LIST_FLAG_UNTIL_REACHED);
    CHECK(n == 2 && list[0].domain == 0 && list[0].server == 1 && list[0].seq == 100 && list[1].domain == 2 &&
          list[1].seq == 7);
    bvFree(list);
    bufClear(b);
    replEventGtidList(b, 99, NULL, 0, 0, false);
    CHECK_INT(b->len, 19 + 4);
    REQUIRE(binlogEventParse(&off, b->data, b->len, true, &ev, &err) == 0);
    CHECK(mariaGtidListDecode(ev.body, ev.bodyLen, &list, &n, &flags, &err) == 0 && n == 0 && flags == 0);
    bvFree(list);
    mariaGtidPosFree(pos);
    bufFree(b);
}

static void
testFdeForStream(void) {
    size_t len;
    uint8_t *file = testReadFile(fixturePath(0), &len), *fde, *gtid;
    BinlogFormat fmt;
    Err err;

    REQUIRE(file != NULL && len > 400);
    fde = bvMalloc(252);
    memcpy(fde, file + 4, 252);
    binlogFdeSetInUse(fde, true);
    REQUIRE(replFdeForStream(fde, 252, false, &err) == 0);
    CHECK_INT(rdU16(fde + 17) & BINLOG_FLAG_IN_USE, 0);
    CHECK_INT(rdU32(fde + 13), 256);
    REQUIRE(binlogFormatFromFde(&fmt, fde, 252, true, &err) == 0);
    CHECK_INT(fmt.checksumAlg, BINLOG_CHECKSUM_CRC32);
    wrU32(fde + 19 + 52, 12345); /* a create time */
    REQUIRE(replFdeForStream(fde, 252, true, &err) == 0);
    CHECK_INT(rdU32(fde + 13), 0);
    CHECK_INT(rdU32(fde + 19 + 52), 0);
    CHECK(binlogFormatFromFde(&fmt, fde, 252, true, &err) == 0);
    /* Not an FDE, or cut short. */
    gtid = file + 330;
    CHECK_INT(replFdeForStream(gtid, 42, true, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_INT(replFdeForStream(fde, 100, true, &err), -1);
    CHECK_INT(replFdeForStream(fde, 10, true, &err), -1);
    bvFree(fde);
    free(file);
}

/* ---- The stream logic ---- */

typedef struct Collected {
    size_t n;
    uint8_t *ev[MAX_EVENTS];
    size_t len[MAX_EVENTS];
    size_t failAt; /* fail the emit with this 1-based index; 0 = never */
} Collected;

static int
collect(void *ctx, const uint8_t *ev, size_t len, Err *err) {
    Collected *c = ctx;

    if (c->failAt != 0 && c->n + 1 == c->failAt)
        return errSet(err, ERR_TARGET, "emit failed");
    if (c->n == MAX_EVENTS)
        return errSet(err, ERR_LIMIT, "too many events for the test");
    c->ev[c->n] = bvMalloc(len);
    memcpy(c->ev[c->n], ev, len);
    c->len[c->n] = len;
    c->n++;
    return 0;
}

static void
collectedFree(Collected *c) {
    for (size_t i = 0; i < c->n; i++)
        bvFree(c->ev[i]);
    c->n = 0;
}

/* Feed the four fixture files through a stream; returns the last replStreamFeed() result. */
static int
runStream(const ReplStreamConfig *cfg, Collected *out, ReplStream **keep, Err *err) {
    const char *paths[NFILES];
    ReplFileSource *fs;
    ReplServerSource src;
    ReplStream *st = replStreamNew(cfg, collect, out);
    int rc = 0;

    for (int i = 0; i < NFILES; i++)
        paths[i] = fixturePath(i);
    fs = replFileSourceNew(paths, NFILES);
    src = replFileSourceInterface(fs);
    if (src.open(src.data, cfg->connect, err) != 0)
        rc = -1;
    while (rc == 0) {
        const uint8_t *ev;
        size_t len;
        int got = src.next(src.data, &ev, &len, err);

        if (got <= 0) {
            rc = got;
            break;
        }
        rc = replStreamFeed(st, src.file(src.data), ev, len, err);
    }
    replFileSourceFree(fs);
    if (keep != NULL)
        *keep = st;
    else
        replStreamFree(st);
    return rc;
}

static uint8_t
evType(const Collected *c, size_t i) {
    return c->ev[i][4];
}

static bool
evArtificial(const Collected *c, size_t i) {
    return (rdU16(c->ev[i] + 17) & BINLOG_FLAG_ARTIFICIAL) != 0;
}

/* The MariaDB GTIDs emitted, as "d-s-n" joined with spaces. */
static void
gtidsOf(const Collected *c, char *out, size_t size) {
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < c->n; i++) {
        if (evType(c, i) != BINLOG_MARIA_GTID)
            continue;
        used += (size_t)snprintf(out + used, size - used, "%s%u-%u-%llu", used ? " " : "",
                                 rdU32(c->ev[i] + 19 + 8), rdU32(c->ev[i] + 5),
                                 (unsigned long long)rdU64(c->ev[i] + 19));
        if (used >= size)
            break;
    }
}

static void
checkRotate(const Collected *c, size_t i, const char *file, uint64_t pos, bool crc) {
    size_t n = strlen(file);

    if (i >= c->n || evType(c, i) != BINLOG_ROTATE || !evArtificial(c, i) || rdU32(c->ev[i]) != 0 ||
        rdU32(c->ev[i] + 13) != 0 || c->len[i] != 19 + 8 + n + (crc ? 4 : 0) ||
        rdU64(c->ev[i] + 19) != pos || memcmp(c->ev[i] + 27, file, n) != 0 ||
        (crc && binlogEventComputeChecksum(c->ev[i], c->len[i] - 4) != rdU32(c->ev[i] + c->len[i] - 4)))
        testFail(__FILE__, __LINE__, "event %zu is not an artificial ROTATE to '%s':%llu%s", i, file,
                 (unsigned long long)pos, crc ? " with CRC32" : "");
}

static void
testStreamFiles(void) {
    ReplStreamConfig cfg = {0};
    Collected c = {0};
    ReplStream *st;
    size_t i = 0;
    Err err;

    cfg.serverId = 99;
    cfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    cfg.gtidMode = true;
    cfg.sendAnnotateRows = true;
    REQUIRE(runStream(&cfg, &c, &st, &err) == 0);
    /* 79 events in the files, a ROTATE before each file, the GTID_LIST after the first FDE. */
    CHECK_INT(c.n, 84);
    for (int f = 0; f < NFILES && i < c.n; f++) {
        size_t len;
        uint8_t *file = testReadFile(fixturePath(f), &len);
        BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, BINLOG_DEFAULT_MAX_EVENT);
        BinlogEvent ev;
        bool first = true;

        REQUIRE(file != NULL);
        /* The ROTATE carries a CRC32 when the previous file (or the connect setting) has them. */
        checkRotate(&c, i++, fixtureName(f), 4, f <= 2);
        binlogReaderFeed(r, file, len);
        while (binlogReaderNext(r, &ev, &err) == 1 && i < c.n) {
            if (first) {
                /* The FDE: in-use flag clear; log_pos and create time 0 at the stream start. */
                BinlogFormat fmt;

                CHECK_INT(evType(&c, i), BINLOG_FORMAT_DESCRIPTION);
                CHECK_INT(rdU32(c.ev[i] + 13), f == 0 ? 0 : 256);
                CHECK(binlogFormatFromFde(&fmt, c.ev[i], c.len[i], true, &err) == 0);
                i++;
                first = false;
                if (f == 0) {
                    CHECK(evType(&c, i) == BINLOG_MARIA_GTID_LIST && evArtificial(&c, i) && c.len[i] == 19 + 4 + 4);
                    i++;
                }
                continue;
            }
            if (c.len[i] != ev.h.size || memcmp(c.ev[i], ev.data, ev.h.size) != 0)
                testFail(__FILE__, __LINE__, "event %zu differs from '%s' at %llu", i, fixtureName(f),
                         (unsigned long long)binlogReaderEventOffset(r));
            i++;
        }
        binlogReaderFree(r);
        free(file);
    }
    CHECK_INT(i, c.n);
    CHECK_STR(replStreamFile(st), fixtureName(3));
    CHECK_INT(replStreamPos(st), 412);
    CHECK_INT(replStreamEventsSent(st), 79 - 4); /* the FDEs are rewritten copies, not counted */
    CHECK_INT(replStreamGroupsSkipped(st), 0);
    /* A heartbeat names the current file and position, without CRC (the last file has none). */
    collectedFree(&c);
    REQUIRE(replStreamHeartbeat(st, &err) == 0);
    REQUIRE(c.n == 1);
    CHECK(evType(&c, 0) == BINLOG_HEARTBEAT && rdU32(c.ev[0] + 13) == 412 &&
          c.len[0] == 19 + strlen(fixtureName(3)));
    collectedFree(&c);
    replStreamFree(st);

    /* Without the ANNOTATE_ROWS flag the 10 ANNOTATE_ROWS events are left out. */
    cfg.sendAnnotateRows = false;
    REQUIRE(runStream(&cfg, &c, NULL, &err) == 0);
    CHECK_INT(c.n, 74);
    for (size_t k = 0; k < c.n; k++)
        CHECK(evType(&c, k) != BINLOG_MARIA_ANNOTATE_ROWS);
    collectedFree(&c);
}

static void
testStreamConnectState(void) {
    ReplStreamConfig cfg = {0};
    MariaGtidPos *connect = mariaGtidPosNew();
    Collected c = {0};
    ReplStream *st;
    char gtids[512];
    Err err;

    cfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    cfg.gtidMode = true;
    cfg.connect = connect;
    REQUIRE(mariaGtidPosParse(connect, "0-11-5,2-11-1", &err) == 0);
    REQUIRE(runStream(&cfg, &c, &st, &err) == 0);
    gtidsOf(&c, gtids, sizeof(gtids));
    CHECK_STR(gtids, "0-11-6 0-11-7 2-11-2 0-11-8 0-11-9 0-11-10 0-11-11 2-11-3");
    CHECK_INT(replStreamGroupsSkipped(st), 6);
    /* The artificial GTID_LIST after the first FDE carries the connect state. */
    {
        BinlogFormat fmt;
        BinlogEvent ev;
        MariaGtid *list;
        size_t n;
        uint32_t flags;

        binlogFormatInit(&fmt);
        fmt.checksumAlg = BINLOG_CHECKSUM_CRC32;
        REQUIRE(binlogEventParse(&fmt, c.ev[2], c.len[2], true, &ev, &err) == 0);
        REQUIRE(mariaGtidListDecode(ev.body, ev.bodyLen, &list, &n, &flags, &err) == 0);
        CHECK(n == 2 && flags == 0 && list[0].seq == 5 && list[1].domain == 2);
        bvFree(list);
    }
    /* No event of a skipped group went out: the CREATE DATABASE is missing, the GTID_LIST and
     * BINLOG_CHECKPOINT of the first file are there. */
    for (size_t i = 0; i < c.n; i++)
        CHECK(!(evType(&c, i) == BINLOG_QUERY && memmem(c.ev[i], c.len[i], "CREATE DATABASE", 15) != NULL));
    CHECK(evType(&c, 3) == BINLOG_MARIA_GTID_LIST && !evArtificial(&c, 3));
    CHECK_INT(evType(&c, 4), BINLOG_MARIA_BINLOG_CHECKPOINT);
    CHECK_INT(evType(&c, 5), BINLOG_MARIA_GTID);
    replStreamFree(st);
    collectedFree(&c);

    /* A position beyond the archive in a domain: nothing of that domain is sent. */
    mariaGtidPosFree(connect);
    connect = mariaGtidPosNew();
    cfg.connect = connect;
    REQUIRE(mariaGtidPosParse(connect, "0-11-100", &err) == 0);
    REQUIRE(runStream(&cfg, &c, NULL, &err) == 0);
    gtidsOf(&c, gtids, sizeof(gtids));
    CHECK_STR(gtids, "2-11-1 2-11-2 2-11-3");
    collectedFree(&c);
    mariaGtidPosFree(connect);
}

/* Run with UNTIL `until` (and connect state `from`); check the GTIDs sent and how it ended. */
static void
checkUntil(const char *from, const char *until, int wantRc, const char *wantGtids, uint8_t lastRealType,
           uint32_t wantLogPos) {
    ReplStreamConfig cfg = {0};
    MariaGtidPos *connect = mariaGtidPosNew(), *untilPos = mariaGtidPosNew();
    Collected c = {0};
    char gtids[512];
    Err err;
    int rc;

    cfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    cfg.gtidMode = true;
    cfg.sendAnnotateRows = true;
    cfg.connect = connect;
    cfg.until = untilPos;
    if (mariaGtidPosParse(connect, from, &err) != 0 || mariaGtidPosParse(untilPos, until, &err) != 0) {
        testFail(__FILE__, __LINE__, "bad test positions: %s", err.msg);
        goto done;
    }
    rc = runStream(&cfg, &c, NULL, &err);
    gtidsOf(&c, gtids, sizeof(gtids));
    if (rc != wantRc || strcmp(gtids, wantGtids) != 0) {
        testFail(__FILE__, __LINE__, "until '%s' from '%s': rc %d, gtids '%s'; expected rc %d, gtids '%s'", until,
                 from, rc, gtids, wantRc, wantGtids);
        goto done;
    }
    if (wantRc == 1) {
        /* The last event is the flagged artificial GTID_LIST, after the group's last event. */
        size_t last = c.n - 1;

        CHECK(c.n >= 2 && evType(&c, last) == BINLOG_MARIA_GTID_LIST && evArtificial(&c, last));
        CHECK_INT(rdU32(c.ev[last] + 19) & MARIA_GTID_LIST_FLAG_UNTIL_REACHED, MARIA_GTID_LIST_FLAG_UNTIL_REACHED);
        CHECK_INT(rdU32(c.ev[last] + 13), wantLogPos);
        CHECK_INT(evType(&c, last - 1), lastRealType);
    }
done:
    collectedFree(&c);
    mariaGtidPosFree(connect);
    mariaGtidPosFree(untilPos);
}

static void
testStreamUntil(void) {
    /* Both domains: stops after the XID of 2-11-2 (the later of the two). */
    checkUntil("", "0-11-7,2-11-2", 1, "0-11-1 0-11-2 0-11-3 0-11-4 0-11-5 0-11-6 0-11-7 2-11-1 2-11-2", BINLOG_XID,
               3098);
    /* One domain: the others are not sent. */
    checkUntil("", "2-11-2", 1, "2-11-1 2-11-2", BINLOG_XID, 3098);
    /* A standalone DDL group ends with its query; an XA PREPARE group with XA_PREPARE. */
    checkUntil("", "0-11-2", 1, "0-11-1 0-11-2", BINLOG_MARIA_QUERY_COMPRESSED, 699);
    checkUntil("0-11-6", "0-11-8", 1, "0-11-7 0-11-8", BINLOG_XA_PREPARE, 3498);
    /* Already reached where the replica is: only the stream start, then the flagged GTID_LIST. */
    checkUntil("0-11-9,2-11-2", "0-11-8,2-11-2", 1, "", BINLOG_MARIA_GTID_LIST, 256);
    /* A GTID missing from the binlog: stop before what lies beyond it. */
    checkUntil("", "0-11-0", 1, "", BINLOG_MARIA_BINLOG_CHECKPOINT, 372);
    /* Never reached: the stream goes on (domain 2 is not asked for). */
    checkUntil("", "0-11-100", 0,
               "0-11-1 0-11-2 0-11-3 0-11-4 0-11-5 0-11-6 0-11-7 0-11-8 0-11-9 0-11-10 0-11-11", 0, 0);
}

static void
testStreamPosition(void) {
    ReplStreamConfig cfg = {0};
    Collected c = {0};
    char gtids[256];
    Err err;

    cfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    cfg.sendAnnotateRows = true;
    cfg.startFile = fixtureName(2);
    cfg.startPos = 715;
    REQUIRE(runStream(&cfg, &c, NULL, &err) == 0);
    /* ROTATE to the start position, FDE with log_pos 0, 11 events of the file from 715 on, then
     * the last file. */
    CHECK_INT(c.n, 19);
    checkRotate(&c, 0, fixtureName(2), 715, true);
    CHECK(evType(&c, 1) == BINLOG_FORMAT_DESCRIPTION && rdU32(c.ev[1] + 13) == 0);
    CHECK(evType(&c, 2) == BINLOG_MARIA_GTID && rdU32(c.ev[2] + 13) == 753);
    checkRotate(&c, 13, fixtureName(3), 4, false);
    gtidsOf(&c, gtids, sizeof(gtids));
    CHECK_STR(gtids, "0-11-11 2-11-3");
    collectedFree(&c);

    /* A position inside an event is refused. */
    cfg.startPos = 720;
    CHECK_INT(runStream(&cfg, &c, NULL, &err), -1);
    CHECK_INT(err.code, ERR_TARGET);
    CHECK_MSG(err.msg, "inside");
    collectedFree(&c);

    /* The first file from its start: everything but the GTID_LIST of GTID mode. */
    cfg.startFile = "";
    cfg.startPos = 4;
    REQUIRE(runStream(&cfg, &c, NULL, &err) == 0);
    CHECK_INT(c.n, 83);
    collectedFree(&c);
}

static void
testStreamErrors(void) {
    ReplStreamConfig cfg = {0};
    Collected c = {0};
    ReplStream *st;
    size_t len;
    uint8_t *file = testReadFile(fixturePath(0), &len);
    uint8_t bad[64];
    Err err;

    REQUIRE(file != NULL);
    cfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    cfg.gtidMode = true;

    st = replStreamNew(&cfg, collect, &c);
    /* Not starting with an FDE; too short; size field wrong; no file name. */
    CHECK_INT(replStreamFeed(st, "f.1", file + 330, 42, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_INT(replStreamFeed(st, "f.1", file + 4, 10, &err), -1);
    CHECK_INT(replStreamFeed(st, "f.1", file + 4, 251, &err), -1);
    CHECK_INT(replStreamFeed(st, "", file + 4, 252, &err), -1);
    CHECK_INT(replStreamFeed(st, "a/b", file + 4, 252, &err), -1);
    CHECK_INT(c.n, 0);
    REQUIRE(replStreamFeed(st, "f.1", file + 4, 252, &err) == 0);
    /* An event of another file without that file's FDE. */
    CHECK_INT(replStreamFeed(st, "f.2", file + 330, 42, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    /* A truncated GTID event (size field consistent, body too short). */
    memcpy(bad, file + 330, 19);
    wrU32(bad + 9, 19 + 6);
    memset(bad + 19, 0, 6);
    CHECK_INT(replStreamFeed(st, "f.1", bad, 25, &err), -1);
    CHECK_INT(err.code, ERR_FORMAT);
    /* An encrypted binlog. */
    memcpy(bad, file + 330, 19);
    bad[4] = BINLOG_MARIA_START_ENCRYPTION;
    wrU32(bad + 9, 19 + 21);
    memset(bad + 19, 0, 21);
    CHECK_INT(replStreamFeed(st, "f.1", bad, 40, &err), -1);
    CHECK_INT(err.code, ERR_TARGET);
    replStreamFree(st);
    collectedFree(&c);

    /* A replica that did not declare checksum awareness cannot take CRC32 events. */
    cfg.connectAlg = BINLOG_CHECKSUM_UNDEF;
    st = replStreamNew(&cfg, collect, &c);
    CHECK_INT(replStreamFeed(st, "f.1", file + 4, 252, &err), -1);
    CHECK_INT(err.code, ERR_TARGET);
    CHECK_MSG(err.msg, "master_binlog_checksum");
    replStreamFree(st);

    /* The emit callback's error is returned; a stream that reached UNTIL takes nothing more. */
    cfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    c.failAt = 2;
    st = replStreamNew(&cfg, collect, &c);
    CHECK_INT(replStreamFeed(st, "f.1", file + 4, 252, &err), -1);
    CHECK_STR(err.msg, "emit failed");
    replStreamFree(st);
    collectedFree(&c);
    c.failAt = 0;
    {
        MariaGtidPos *until = mariaGtidPosNew(), *from = mariaGtidPosNew();

        REQUIRE(mariaGtidPosParse(until, "0-11-1", &err) == 0 && mariaGtidPosParse(from, "0-11-1", &err) == 0);
        cfg.until = until;
        cfg.connect = from;
        st = replStreamNew(&cfg, collect, &c);
        CHECK_INT(replStreamFeed(st, "f.1", file + 4, 252, &err), 1);
        CHECK_INT(replStreamFeed(st, "f.1", file + 256, 29, &err), -1);
        CHECK_INT(err.code, ERR_INTERNAL);
        replStreamFree(st);
        mariaGtidPosFree(until);
        mariaGtidPosFree(from);
    }
    collectedFree(&c);
    free(file);
}

static void
testFileSourceErrors(void) {
    char truncated[600], corrupt[600];
    const char *paths[2];
    size_t len;
    uint8_t *file = testReadFile(fixturePath(0), &len);
    ReplFileSource *fs;
    ReplServerSource src;
    const uint8_t *ev;
    size_t evLen;
    int rc, events = 0;
    FILE *f;
    Err err;

    REQUIRE(file != NULL);
    snprintf(truncated, sizeof(truncated), "%s/truncated.000001", testTmpDir());
    snprintf(corrupt, sizeof(corrupt), "%s/corrupt.000001", testTmpDir());
    REQUIRE((f = fopen(truncated, "wb")) != NULL);
    fwrite(file, 1, 1000, f);
    fclose(f);
    file[400] ^= 0xff;
    REQUIRE((f = fopen(corrupt, "wb")) != NULL);
    fwrite(file, 1, len, f);
    fclose(f);

    paths[0] = truncated;
    fs = replFileSourceNew(paths, 1);
    src = replFileSourceInterface(fs);
    REQUIRE(src.open(src.data, NULL, &err) == 0);
    while ((rc = src.next(src.data, &ev, &evLen, &err)) == 1)
        events++;
    CHECK_INT(rc, -1);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "truncated");
    CHECK(events > 3);
    /* open() starts over. */
    REQUIRE(src.open(src.data, NULL, &err) == 0);
    CHECK_INT(src.next(src.data, &ev, &evLen, &err), 1);
    CHECK_STR(src.file(src.data), "truncated.000001");
    replFileSourceFree(fs);

    paths[0] = corrupt;
    fs = replFileSourceNew(paths, 1);
    src = replFileSourceInterface(fs);
    src.open(src.data, NULL, &err);
    while ((rc = src.next(src.data, &ev, &evLen, &err)) == 1)
        ;
    CHECK_INT(rc, -1);
    CHECK_INT(err.code, ERR_CHECKSUM);
    replFileSourceFree(fs);

    paths[0] = "/nonexistent/binlog.000001";
    fs = replFileSourceNew(paths, 1);
    src = replFileSourceInterface(fs);
    src.open(src.data, NULL, &err);
    CHECK_INT(src.next(src.data, &ev, &evLen, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    replFileSourceFree(fs);
    free(file);
}


/* open() starts at the newest file whose GTID_LIST the replica's position contains. */
static void
checkStartFile(const char *from, int wantFile) {
    const char *paths[NFILES];
    MariaGtidPos *pos = mariaGtidPosNew();
    ReplFileSource *fs;
    ReplServerSource src;
    const uint8_t *ev;
    size_t len;
    Err err;

    for (int i = 0; i < NFILES; i++)
        paths[i] = fixturePath(i);
    fs = replFileSourceNew(paths, NFILES);
    src = replFileSourceInterface(fs);
    if (mariaGtidPosParse(pos, from, &err) != 0 || src.open(src.data, pos, &err) != 0 ||
        src.next(src.data, &ev, &len, &err) != 1)
        testFail(__FILE__, __LINE__, "from '%s': %s", from, err.msg);
    else if (strcmp(src.file(src.data), fixtureName(wantFile)) != 0 || ev[4] != BINLOG_FORMAT_DESCRIPTION)
        testFail(__FILE__, __LINE__, "from '%s': starts with %s, expected %s", from, src.file(src.data),
                 fixtureName(wantFile));
    replFileSourceFree(fs);
    mariaGtidPosFree(pos);
}

static void
testFileSourceStart(void) {
    /* GTID_LISTs: [], [0-11-9,2-11-2], [0-11-9,2-11-2], [0-11-11,2-11-3]. */
    checkStartFile("", 0);
    checkStartFile("0-11-5,2-11-1", 0);
    checkStartFile("0-11-9,2-11-2", 2);
    checkStartFile("0-11-10,2-11-2", 2);
    checkStartFile("0-11-11,2-11-3", 3);
    checkStartFile("0-11-50,2-11-50,7-1-1", 3);
    checkStartFile("0-11-20", 0); /* nothing of domain 2 yet: from the start */
}

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
        e[4] = BINLOG_IGNORABLE;
        wrU32(e + 5, 11);
        wrU32(e + 9, (uint32_t)b.bigLen[k]);
        pos += (uint32_t)b.bigLen[k];
        wrU32(e + 13, pos);
        wrU16(e + 17, BINLOG_FLAG_IGNORABLE);
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
            if (ev[4] != BINLOG_IGNORABLE)
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
    testRun("replserver: packet framing (16 MiB split)", testFraming);
    testRun("replserver: taking packets (joined, limits, sequence)", testPacketTake);
    testRun("replserver: length-encoded integers", testLenenc);
    testRun("replserver: handshake v10 bytes", testHandshakeBytes);
    testRun("replserver: handshake response parsing", testHandshakeResponse);
    testRun("replserver: mysql_native_password vectors", testNativePassword);
    testRun("replserver: random password", testRandomPassword);
    testRun("replserver: OK, ERR, EOF bytes", testOkErrEof);
    testRun("replserver: text result set", testResultSet);
    testRun("replserver: the replica's queries", testQueryParse);
    testRun("replserver: unsupported queries", testQueryUnknown);
    testRun("replserver: LIKE patterns", testLike);
    testRun("replserver: artificial events parse back", testArtificialEvents);
    testRun("replserver: FDE rewritten for the stream", testFdeForStream);
    testRun("replserver: stream over four files", testStreamFiles);
    testRun("replserver: stream skips the connect state", testStreamConnectState);
    testRun("replserver: stream UNTIL master_gtid_pos", testStreamUntil);
    testRun("replserver: stream from a file position", testStreamPosition);
    testRun("replserver: stream errors", testStreamErrors);
    testRun("replserver: file source errors", testFileSourceErrors);
    testRun("replserver: file source starts where the replica is", testFileSourceStart);
    testRun("replserver: server end to end (libmariadb)", testServerEndToEnd);
    testRun("replserver: server streams events > 16 MiB", testServerBigEvents);
    testRun("replserver: server survives hostile clients", testServerHostileClients);
    testRun("replserver: server configuration errors", testServerConfig);
}
