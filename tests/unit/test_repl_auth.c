/* Logging a replica in (recover/repl_auth.c): the greeting's bytes, parsing the client's
 * HandshakeResponse41, mysql_native_password against known vectors, the random password. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/err.h"
#include "recover/replserver.h"
#include "tests/test.h"
#include "tests/unit/test_repl.h"

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

void
suite_repl_auth(void) {
    testRun("replserver: handshake v10 bytes", testHandshakeBytes);
    testRun("replserver: handshake response parsing", testHandshakeResponse);
    testRun("replserver: mysql_native_password vectors", testNativePassword);
    testRun("replserver: random password", testRandomPassword);
}
