/*
 * Logging a replica in (see replserver.h, "Handshake and login"): the greeting (handshake v10),
 * parsing the client's HandshakeResponse41, mysql_native_password (SHA1 from common/crypto.h)
 * and the random per-recovery password. Pure but for the random generator.
 */
#include <inttypes.h>
#include <string.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/err.h"
#include "common/mem.h"
#include "recover/repl_internal.h"
#include "recover/replserver.h"

_Static_assert(REPL_SHA1_LEN == CRYPTO_SHA1_LEN, "mysql_native_password hashes with SHA1");

void
replHandshakeEncode(Buf *out, const char *version, uint32_t connectionId, const uint8_t scramble[REPL_SCRAMBLE_LEN]) {
    static const uint8_t zeros[10];
    uint8_t b;

    b = 10; /* protocol version */
    bufAppend(out, &b, 1);
    bufAppend(out, version, strlen(version) + 1);
    replPutU32(out, connectionId);
    bufAppend(out, scramble, 8);
    bufAppend(out, "\0", 1);
    replPutU16(out, (uint16_t)(REPL_SERVER_CAPS & 0xffff));
    b = REPL_CHARSET_UTF8MB4;
    bufAppend(out, &b, 1);
    replPutU16(out, REPL_STATUS_AUTOCOMMIT);
    replPutU16(out, (uint16_t)(REPL_SERVER_CAPS >> 16));
    b = REPL_SCRAMBLE_LEN + 1;
    bufAppend(out, &b, 1);
    /* 6 reserved bytes and 4 of MariaDB extended capabilities: none, as CLIENT_MYSQL (= LONG_PASSWORD)
     * is set. */
    bufAppend(out, zeros, sizeof(zeros));
    bufAppend(out, scramble + 8, REPL_SCRAMBLE_LEN - 8);
    bufAppend(out, "\0", 1);
    bufAppend(out, REPL_NATIVE_PASSWORD, sizeof(REPL_NATIVE_PASSWORD));
}

/* A NUL-terminated string at p[*off..len) into out (at most max bytes); at the end of the packet
 * without NUL when atEndOk. */
static int
takeCString(const uint8_t *p, size_t len, size_t *off, char *out, size_t max, bool atEndOk, const char *what,
            Err *err) {
    const uint8_t *nul = memchr(p + *off, '\0', len - *off);
    size_t n = nul ? (size_t)(nul - (p + *off)) : len - *off;

    if (nul == NULL && !atEndOk)
        return errSet(err, ERR_FORMAT, "handshake response: %s is not terminated", what);
    if (n > max)
        return errSet(err, ERR_FORMAT, "handshake response: %s is longer than %zu bytes", what, max);
    memcpy(out, p + *off, n);
    out[n] = '\0';
    *off += n + (nul ? 1 : 0);
    return 0;
}

int
replHandshakeResponseParse(const uint8_t *p, size_t len, ReplHandshakeResponse *r, Err *err) {
    size_t off;
    uint64_t n = 0;
    bool nulTerminated = false;

    memset(r, 0, sizeof(*r));
    if (len < 4)
        return errSet(err, ERR_FORMAT, "handshake response of %zu bytes is too short", len);
    r->caps = rdU32(p);
    if (!(r->caps & REPL_CLIENT_PROTOCOL_41))
        return errSet(err, ERR_FORMAT, "the client does not speak protocol 4.1 (capabilities 0x%08x)", r->caps);
    if (len < 32)
        return errSet(err, ERR_FORMAT, "handshake response of %zu bytes is too short", len);
    r->maxPacket = rdU32(p + 4);
    r->charset = p[8];
    if (len == 32 && (r->caps & REPL_CLIENT_SSL)) {
        r->sslRequest = true;
        return 0;
    }
    off = 32;
    if (takeCString(p, len, &off, r->user, REPL_NAME_MAX, false, "user name", err) != 0)
        return -1;
    if (r->caps & REPL_CLIENT_PLUGIN_AUTH_LENENC) {
        size_t used = replLenencGet(p + off, len - off, &n);

        if (used == 0)
            return errSet(err, ERR_FORMAT, "handshake response: truncated auth data length");
        off += used;
    } else if (r->caps & REPL_CLIENT_SECURE_CONNECTION) {
        if (off >= len)
            return errSet(err, ERR_FORMAT, "handshake response: truncated auth data length");
        n = p[off++];
    } else {
        const uint8_t *nul = memchr(p + off, '\0', len - off);

        if (nul == NULL)
            return errSet(err, ERR_FORMAT, "handshake response: auth data is not terminated");
        n = (uint64_t)(nul - (p + off));
        nulTerminated = true;
    }
    if (n > sizeof(r->auth) || n > len - off)
        return errSet(err, ERR_FORMAT, "handshake response: auth data of %" PRIu64 " bytes does not fit", n);
    memcpy(r->auth, p + off, (size_t)n);
    r->authLen = (size_t)n;
    off += (size_t)n + (nulTerminated ? 1 : 0);
    if ((r->caps & REPL_CLIENT_CONNECT_WITH_DB) && off < len &&
        takeCString(p, len, &off, r->db, REPL_NAME_MAX, true, "database name", err) != 0)
        return -1;
    if ((r->caps & REPL_CLIENT_PLUGIN_AUTH) && off < len &&
        takeCString(p, len, &off, r->plugin, REPL_NAME_MAX, true, "auth plugin name", err) != 0)
        return -1;
    if ((r->caps & REPL_CLIENT_CONNECT_ATTRS) && off < len) {
        size_t used = replLenencGet(p + off, len - off, &n);

        if (used == 0 || n > len - off - used)
            return errSet(err, ERR_FORMAT, "handshake response: connection attributes do not fit");
    }
    return 0;
}

void
replNativePasswordHash(const char *password, uint8_t stage2[REPL_SHA1_LEN]) {
    uint8_t stage1[REPL_SHA1_LEN];

    cryptoSha1(password, strlen(password), stage1);
    cryptoSha1(stage1, sizeof(stage1), stage2);
    memset(stage1, 0, sizeof(stage1));
}

/* SHA1(scramble + stage2). */
static void
nativeMask(const uint8_t scramble[REPL_SCRAMBLE_LEN], const uint8_t stage2[REPL_SHA1_LEN], uint8_t out[REPL_SHA1_LEN]) {
    uint8_t both[REPL_SCRAMBLE_LEN + REPL_SHA1_LEN];

    memcpy(both, scramble, REPL_SCRAMBLE_LEN);
    memcpy(both + REPL_SCRAMBLE_LEN, stage2, REPL_SHA1_LEN);
    cryptoSha1(both, sizeof(both), out);
}

void
replNativePasswordToken(const char *password, const uint8_t scramble[REPL_SCRAMBLE_LEN], uint8_t out[REPL_SHA1_LEN],
                        size_t *len) {
    uint8_t stage1[REPL_SHA1_LEN], stage2[REPL_SHA1_LEN], mask[REPL_SHA1_LEN];

    if (password[0] == '\0') {
        *len = 0;
        return;
    }
    cryptoSha1(password, strlen(password), stage1);
    cryptoSha1(stage1, sizeof(stage1), stage2);
    nativeMask(scramble, stage2, mask);
    for (size_t i = 0; i < REPL_SHA1_LEN; i++)
        out[i] = stage1[i] ^ mask[i];
    *len = REPL_SHA1_LEN;
    memset(stage1, 0, sizeof(stage1));
}

bool
replNativePasswordVerify(const uint8_t stage2[REPL_SHA1_LEN], bool emptyPassword,
                         const uint8_t scramble[REPL_SCRAMBLE_LEN], const uint8_t *token, size_t tokenLen) {
    uint8_t mask[REPL_SHA1_LEN], stage1[REPL_SHA1_LEN], check[REPL_SHA1_LEN];
    uint8_t diff = 0;

    if (emptyPassword || tokenLen == 0)
        return emptyPassword && tokenLen == 0;
    if (tokenLen != REPL_SHA1_LEN)
        return false;
    nativeMask(scramble, stage2, mask);
    for (size_t i = 0; i < REPL_SHA1_LEN; i++)
        stage1[i] = token[i] ^ mask[i];
    cryptoSha1(stage1, sizeof(stage1), check);
    for (size_t i = 0; i < REPL_SHA1_LEN; i++)
        diff |= (uint8_t)(check[i] ^ stage2[i]);
    memset(stage1, 0, sizeof(stage1));
    return diff == 0;
}

int
replServerRandomPassword(char *out, size_t size, Err *err) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t n = 0;

    BV_ASSERT(size >= 2);
    while (n < size - 1) {
        uint8_t r[64];

        if (cryptoRandom(r, sizeof(r), err) != 0)
            return errPrefix(err, "unable to generate a replication password");
        /* 248 = 4 * 62: rejection keeps every character equally likely. */
        for (size_t i = 0; i < sizeof(r) && n < size - 1; i++)
            if (r[i] < 248)
                out[n++] = alphabet[r[i] % 62];
    }
    out[n] = '\0';
    return 0;
}
