/*
 * The primary side of the MariaDB replication protocol (see replserver.h).
 *
 * Protocol references (learned from, not copied): MariaDB server sql/sql_repl.cc
 * (mysql_binlog_send: fake ROTATE, FDE with log_pos 0 and create time 0, fake GTID_LIST,
 * skipping by connect state, UNTIL with FLAG_UNTIL_REACHED, heartbeats), sql/slave.cc
 * (get_master_version_and_clock: the queries a replica sends; queue_event: how the replica
 * tracks the master position and checks heartbeats), the MariaDB client/server protocol pages
 * (handshake v10, HandshakeResponse41, result sets) and ../shared/binlog-format.md sections 7-8.
 *
 * SHA1 for mysql_native_password comes from OpenSSL EVP here: common/crypto.h has no SHA1.
 */
#include "recover/replserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "binlog/reader.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/mem.h"

/* MySQL commands and error codes used here. */
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

#define DUMP_FLAG_NON_BLOCK 0x01
#define DUMP_FLAG_ANNOTATE_ROWS 0x02
#define MARIA_SLAVE_CAPABILITY_GTID 4
#define EVENT_FLAG_SKIP_REPLICATION 0x8000

#define FDE_CREATED_OFFSET (BINLOG_HEADER_LEN + 2 + 50)

/* ---- SHA1 and mysql_native_password ------------------------------------------------------------ */

void
replSha1(const void *data, size_t len, uint8_t out[REPL_SHA1_LEN]) {
    unsigned int n = 0;

    /* Like the wrappers of common/crypto.h: a digest OpenSSL ships cannot fail but for memory. */
    if (EVP_Digest(data, len, out, &n, EVP_sha1(), NULL) != 1 || n != REPL_SHA1_LEN)
        bvAssertFail("EVP_Digest(sha1)", __FILE__, __LINE__);
}

void
replNativePasswordHash(const char *password, uint8_t stage2[REPL_SHA1_LEN]) {
    uint8_t stage1[REPL_SHA1_LEN];

    replSha1(password, strlen(password), stage1);
    replSha1(stage1, sizeof(stage1), stage2);
    memset(stage1, 0, sizeof(stage1));
}

/* SHA1(scramble + stage2). */
static void
nativeMask(const uint8_t scramble[REPL_SCRAMBLE_LEN], const uint8_t stage2[REPL_SHA1_LEN], uint8_t out[REPL_SHA1_LEN]) {
    uint8_t both[REPL_SCRAMBLE_LEN + REPL_SHA1_LEN];

    memcpy(both, scramble, REPL_SCRAMBLE_LEN);
    memcpy(both + REPL_SCRAMBLE_LEN, stage2, REPL_SHA1_LEN);
    replSha1(both, sizeof(both), out);
}

void
replNativePasswordToken(const char *password, const uint8_t scramble[REPL_SCRAMBLE_LEN], uint8_t out[REPL_SHA1_LEN],
                        size_t *len) {
    uint8_t stage1[REPL_SHA1_LEN], stage2[REPL_SHA1_LEN], mask[REPL_SHA1_LEN];

    if (password[0] == '\0') {
        *len = 0;
        return;
    }
    replSha1(password, strlen(password), stage1);
    replSha1(stage1, sizeof(stage1), stage2);
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
    replSha1(stage1, sizeof(stage1), check);
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

/* ---- Packets ------------------------------------------------------------------------------------ */

int
replPacketWrite(ReplWriteFn write, void *ctx, uint8_t *seq, const uint8_t *head, size_t headLen,
                const uint8_t *body, size_t bodyLen, Err *err) {
    size_t total = headLen + bodyLen, done = 0;

    for (;;) {
        size_t n = total - done > REPL_PACKET_MAX ? REPL_PACKET_MAX : total - done;
        uint8_t hdr[4];

        hdr[0] = (uint8_t)n;
        hdr[1] = (uint8_t)(n >> 8);
        hdr[2] = (uint8_t)(n >> 16);
        hdr[3] = (*seq)++;
        if (write(ctx, hdr, sizeof(hdr), err) != 0)
            return -1;
        /* The packet's bytes: the rest of head first, then body. */
        for (size_t left = n; left > 0;) {
            const uint8_t *src;
            size_t take;

            if (done < headLen) {
                src = head + done;
                take = headLen - done;
            } else {
                src = body + (done - headLen);
                take = total - done;
            }
            if (take > left)
                take = left;
            if (write(ctx, src, take, err) != 0)
                return -1;
            done += take;
            left -= take;
        }
        if (n < REPL_PACKET_MAX)
            return 0;
    }
}

static int
bufWriteFn(void *ctx, const void *data, size_t len, Err *err) {
    (void)err;
    bufAppend(ctx, data, len);
    return 0;
}

void
replPacketAppend(Buf *out, uint8_t *seq, const uint8_t *head, size_t headLen, const uint8_t *body, size_t bodyLen) {
    Err err;

    bufReserve(out, headLen + bodyLen + 4 * (1 + (headLen + bodyLen) / REPL_PACKET_MAX));
    replPacketWrite(bufWriteFn, out, seq, head, headLen, body, bodyLen, &err);
}

int
replPacketTake(const uint8_t *p, size_t avail, size_t maxPayload, Buf *payload, uint8_t *seq, size_t *consumed,
               Err *err) {
    size_t off = 0, total = 0;
    uint8_t last = 0;

    /* First pass: is the whole logical packet there, within the limit? */
    for (bool first = true;; first = false) {
        size_t n;

        if (avail - off < 4)
            return 0;
        n = rdU24(p + off);
        if (!first && p[off + 3] != (uint8_t)(last + 1))
            return errSet(err, ERR_FORMAT, "packet sequence id %u follows %u", p[off + 3], last);
        last = p[off + 3];
        if (n > maxPayload - total)
            return errSet(err, ERR_LIMIT, "packet of more than %zu bytes (limit %zu)", total + n, maxPayload);
        if (avail - off - 4 < n)
            return 0;
        off += 4 + n;
        total += n;
        if (n < REPL_PACKET_MAX)
            break;
    }
    /* Second pass: copy the payload pieces. */
    for (size_t o = 0; o < off;) {
        size_t n = rdU24(p + o);

        bufAppend(payload, p + o + 4, n);
        o += 4 + n;
    }
    *seq = last;
    *consumed = off;
    return 1;
}

size_t
replLenencPut(uint8_t out[9], uint64_t v) {
    if (v < 251) {
        out[0] = (uint8_t)v;
        return 1;
    }
    if (v < 0x10000) {
        out[0] = 0xfc;
        wrU16(out + 1, (uint16_t)v);
        return 3;
    }
    if (v < 0x1000000) {
        out[0] = 0xfd;
        out[1] = (uint8_t)v;
        out[2] = (uint8_t)(v >> 8);
        out[3] = (uint8_t)(v >> 16);
        return 4;
    }
    out[0] = 0xfe;
    wrU64(out + 1, v);
    return 9;
}

size_t
replLenencGet(const uint8_t *p, size_t avail, uint64_t *v) {
    if (avail < 1)
        return 0;
    switch (p[0]) {
    case 0xfc:
        if (avail < 3)
            return 0;
        *v = rdU16(p + 1);
        return 3;
    case 0xfd:
        if (avail < 4)
            return 0;
        *v = rdU24(p + 1);
        return 4;
    case 0xfe:
        if (avail < 9)
            return 0;
        *v = rdU64(p + 1);
        return 9;
    case 0xfb:
    case 0xff:
        return 0;
    default:
        *v = p[0];
        return 1;
    }
}

static void
putLenenc(Buf *out, uint64_t v) {
    uint8_t b[9];

    bufAppend(out, b, replLenencPut(b, v));
}

static void
putLenencStr(Buf *out, const char *s, size_t len) {
    putLenenc(out, len);
    bufAppend(out, s, len);
}

static void
putU16(Buf *out, uint16_t v) {
    uint8_t b[2];

    wrU16(b, v);
    bufAppend(out, b, 2);
}

static void
putU32(Buf *out, uint32_t v) {
    uint8_t b[4];

    wrU32(b, v);
    bufAppend(out, b, 4);
}

void
replOkEncode(Buf *out, uint64_t affectedRows, uint16_t status) {
    bufAppend(out, "\0", 1);
    putLenenc(out, affectedRows);
    putLenenc(out, 0);
    putU16(out, status);
    putU16(out, 0);
}

void
replErrEncode(Buf *out, uint16_t code, const char *sqlState, const char *message) {
    uint8_t b = 0xff;
    size_t len = strlen(message);

    bufAppend(out, &b, 1);
    putU16(out, code);
    if (sqlState != NULL) {
        bufAppend(out, "#", 1);
        bufAppend(out, sqlState, 5);
    }
    /* The client copies at most MYSQL_ERRMSG_SIZE (512) bytes. */
    bufAppend(out, message, len > 500 ? 500 : len);
}

void
replEofEncode(Buf *out, uint16_t status) {
    uint8_t b = 0xfe;

    bufAppend(out, &b, 1);
    putU16(out, 0);
    putU16(out, status);
}

void
replResultSetAppend(Buf *out, uint8_t *seq, size_t nCols, const char *const *names, size_t nRows,
                    const char *const *values) {
    Buf *p = bufNew(256);

    putLenenc(p, nCols);
    replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    for (size_t c = 0; c < nCols; c++) {
        bufClear(p);
        putLenencStr(p, "def", 3);
        putLenencStr(p, "", 0);
        putLenencStr(p, "", 0);
        putLenencStr(p, "", 0);
        putLenencStr(p, names[c], strlen(names[c]));
        putLenencStr(p, "", 0);
        putLenenc(p, 0x0c);
        putU16(p, REPL_CHARSET_UTF8MB4);
        putU32(p, 4096); /* column length */
        bufAppend(p, "\xfd", 1); /* MYSQL_TYPE_VAR_STRING */
        putU16(p, 0);    /* flags */
        bufAppend(p, "\x27\0\0", 3); /* decimals 39 (not fixed), filler */
        replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    }
    bufClear(p);
    replEofEncode(p, REPL_STATUS_AUTOCOMMIT);
    replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    for (size_t r = 0; r < nRows; r++) {
        bufClear(p);
        for (size_t c = 0; c < nCols; c++) {
            const char *v = values[r * nCols + c];

            if (v == NULL)
                bufAppend(p, "\xfb", 1);
            else
                putLenencStr(p, v, strlen(v));
        }
        replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    }
    bufClear(p);
    replEofEncode(p, REPL_STATUS_AUTOCOMMIT);
    replPacketAppend(out, seq, p->data, p->len, NULL, 0);
    bufFree(p);
}

/* ---- Handshake ---------------------------------------------------------------------------------- */

void
replHandshakeEncode(Buf *out, const char *version, uint32_t connectionId, const uint8_t scramble[REPL_SCRAMBLE_LEN]) {
    static const uint8_t zeros[10];
    uint8_t b;

    b = 10; /* protocol version */
    bufAppend(out, &b, 1);
    bufAppend(out, version, strlen(version) + 1);
    putU32(out, connectionId);
    bufAppend(out, scramble, 8);
    bufAppend(out, "\0", 1);
    putU16(out, (uint16_t)(REPL_SERVER_CAPS & 0xffff));
    b = REPL_CHARSET_UTF8MB4;
    bufAppend(out, &b, 1);
    putU16(out, REPL_STATUS_AUTOCOMMIT);
    putU16(out, (uint16_t)(REPL_SERVER_CAPS >> 16));
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

/* ---- The SQL subset a replica sends --------------------------------------------------------------- */

typedef enum TokKind { TOK_END, TOK_WORD, TOK_INT, TOK_STRING, TOK_USERVAR, TOK_SYSVAR, TOK_PUNCT, TOK_BAD } TokKind;

typedef struct Tok {
    TokKind kind;
    const char *start; /* the raw token, quotes and @ included */
    size_t len;
} Tok;

typedef struct Lex {
    const char *p, *end;
    const char *prevEnd; /* end of the token consumed last */
    Tok tok;             /* the current token */
} Lex;

static bool
isWordStart(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static bool
isWordChar(char c) {
    return isWordStart(c) || (c >= '0' && c <= '9');
}

static bool
isSpace(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void
lexSkip(Lex *lx) {
    for (;;) {
        while (lx->p < lx->end && isSpace(*lx->p))
            lx->p++;
        if (lx->end - lx->p >= 2 && lx->p[0] == '/' && lx->p[1] == '*') {
            const char *q = lx->p + 2;

            while (q + 1 < lx->end && !(q[0] == '*' && q[1] == '/'))
                q++;
            lx->p = q + 1 < lx->end ? q + 2 : lx->end;
            continue;
        }
        if ((lx->p < lx->end && lx->p[0] == '#') ||
            (lx->end - lx->p >= 2 && lx->p[0] == '-' && lx->p[1] == '-' &&
             (lx->end - lx->p == 2 || isSpace(lx->p[2])))) {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
            continue;
        }
        return;
    }
}

/* Length of a quoted token starting at p (quote q), or 0 when it is not terminated. */
static size_t
quotedLen(const char *p, const char *end) {
    char q = p[0];

    for (const char *c = p + 1; c < end; c++) {
        if (*c == '\\' && q != '`') {
            c++;
            continue;
        }
        if (*c == q) {
            if (c + 1 < end && c[1] == q) {
                c++;
                continue;
            }
            return (size_t)(c + 1 - p);
        }
    }
    return 0;
}

static size_t
wordLen(const char *p, const char *end) {
    size_t n = 0;

    if (p < end && *p == '`')
        return quotedLen(p, end);
    while (p + n < end && isWordChar(p[n]))
        n++;
    return n;
}

static void
lexNext(Lex *lx) {
    const char *p;
    size_t n = 0;

    lx->prevEnd = lx->tok.start ? lx->tok.start + lx->tok.len : lx->p;
    lexSkip(lx);
    p = lx->p;
    lx->tok.start = p;
    if (p >= lx->end) {
        lx->tok.kind = TOK_END;
        lx->tok.len = 0;
        return;
    }
    if (isWordStart(*p) || *p == '`') {
        lx->tok.kind = TOK_WORD;
        n = wordLen(p, lx->end);
    } else if (*p >= '0' && *p <= '9') {
        lx->tok.kind = TOK_INT;
        while (p + n < lx->end && ((p[n] >= '0' && p[n] <= '9') || p[n] == '.'))
            n++;
        if (p + n < lx->end && isWordChar(p[n]))
            n = 0;
    } else if (*p == '\'' || *p == '"') {
        lx->tok.kind = TOK_STRING;
        n = quotedLen(p, lx->end);
    } else if (*p == '@' && lx->end - p >= 2 && p[1] == '@') {
        size_t w = wordLen(p + 2, lx->end);

        lx->tok.kind = TOK_SYSVAR;
        n = w ? 2 + w : 0;
        if (n && p + n < lx->end && p[n] == '.') {
            w = wordLen(p + n + 1, lx->end);
            n = w ? n + 1 + w : 0;
        }
    } else if (*p == '@') {
        size_t w = (lx->end - p >= 2 && (p[1] == '\'' || p[1] == '"')) ? quotedLen(p + 1, lx->end)
                                                                       : wordLen(p + 1, lx->end);

        lx->tok.kind = TOK_USERVAR;
        n = w ? 1 + w : 0;
    } else if (strchr("=,();.-:*+", *p) != NULL) {
        lx->tok.kind = TOK_PUNCT;
        n = 1;
    }
    if (n == 0) {
        lx->tok.kind = TOK_BAD;
        n = 1;
    }
    lx->tok.len = n;
    lx->p = p + n;
}

static bool
tokIsWord(const Tok *t, const char *word) {
    return t->kind == TOK_WORD && strlen(word) == t->len && strncasecmp(t->start, word, t->len) == 0;
}

static bool
tokIsPunct(const Tok *t, char c) {
    return t->kind == TOK_PUNCT && t->start[0] == c;
}

/* The text of a quoted token without its quotes and escapes, allocated. */
static char *
unquote(const char *p, size_t len) {
    char q = p[0], *out = bvMalloc(len), *o = out;

    for (size_t i = 1; i + 1 < len; i++) {
        char c = p[i];

        if (c == '\\' && q != '`' && i + 2 < len) {
            c = p[++i];
            switch (c) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '0': c = '\0'; break;
            case 'Z': c = '\032'; break;
            default: break;
            }
        } else if (c == q) {
            i++; /* a doubled quote */
        }
        *o++ = c;
    }
    *o = '\0';
    return out;
}

/* A name (word or quoted), lowercased, allocated. */
static char *
nameText(const char *p, size_t len) {
    char *s = (p[0] == '`' || p[0] == '\'' || p[0] == '"') ? unquote(p, len) : bvStrndup(p, len);

    for (char *c = s; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return s;
}

static void
exprClear(ReplExpr *e) {
    bvFree(e->text);
    bvFree(e->label);
    memset(e, 0, sizeof(*e));
}

/* @@[scope.]name of token t into e (SYSVAR). */
static bool
parseSysvar(const Tok *t, ReplExpr *e, const char **why) {
    const char *p = t->start + 2, *end = t->start + t->len;
    const char *dot = memchr(p, '.', (size_t)(end - p));

    e->kind = REPL_EXPR_SYSVAR;
    if (dot != NULL) {
        size_t sl = (size_t)(dot - p);

        if (sl == 6 && strncasecmp(p, "global", 6) == 0)
            e->global = true;
        else if (!((sl == 7 && strncasecmp(p, "session", 7) == 0) || (sl == 5 && strncasecmp(p, "local", 5) == 0))) {
            *why = "unknown variable scope";
            return false;
        }
        p = dot + 1;
    }
    e->text = nameText(p, (size_t)(end - p));
    return true;
}

static bool parseExpr(Lex *lx, ReplExpr *e, const char **why);

static bool
parseArgs(Lex *lx, const char **why) {
    lexNext(lx); /* ( */
    if (tokIsPunct(&lx->tok, ')')) {
        lexNext(lx);
        return true;
    }
    for (;;) {
        ReplExpr arg = {0};
        bool ok = parseExpr(lx, &arg, why);

        exprClear(&arg);
        if (!ok)
            return false;
        if (tokIsPunct(&lx->tok, ')')) {
            lexNext(lx);
            return true;
        }
        if (!tokIsPunct(&lx->tok, ',')) {
            *why = "malformed function arguments";
            return false;
        }
        lexNext(lx);
    }
}

static bool
parseExpr(Lex *lx, ReplExpr *e, const char **why) {
    const char *start = lx->tok.start;
    Tok t = lx->tok;

    memset(e, 0, sizeof(*e));
    if (tokIsPunct(&t, '-')) {
        lexNext(lx);
        if (lx->tok.kind != TOK_INT) {
            *why = "expected a number after '-'";
            return false;
        }
        e->kind = REPL_EXPR_INT;
        e->text = bvSprintf("-%.*s", (int)lx->tok.len, lx->tok.start);
        lexNext(lx);
    } else if (t.kind == TOK_INT) {
        e->kind = REPL_EXPR_INT;
        e->text = bvStrndup(t.start, t.len);
        lexNext(lx);
    } else if (t.kind == TOK_STRING) {
        e->kind = REPL_EXPR_STRING;
        e->text = unquote(t.start, t.len);
        lexNext(lx);
    } else if (t.kind == TOK_USERVAR) {
        e->kind = REPL_EXPR_USERVAR;
        e->text = nameText(t.start + 1, t.len - 1);
        lexNext(lx);
    } else if (t.kind == TOK_SYSVAR) {
        if (!parseSysvar(&t, e, why))
            return false;
        lexNext(lx);
    } else if (t.kind == TOK_WORD) {
        lexNext(lx);
        if (tokIsPunct(&lx->tok, '(')) {
            e->kind = REPL_EXPR_FUNC;
            e->text = nameText(t.start, t.len);
            if (!parseArgs(lx, why))
                return false;
        } else if (tokIsWord(&t, "NULL")) {
            e->kind = REPL_EXPR_NULL;
        } else if (tokIsWord(&t, "TRUE") || tokIsWord(&t, "FALSE")) {
            e->kind = REPL_EXPR_INT;
            e->text = bvStrdup(tokIsWord(&t, "TRUE") ? "1" : "0");
        } else {
            e->kind = REPL_EXPR_STRING; /* SET sql_mode=STRICT, SET autocommit=ON */
            e->text = t.start[0] == '`' ? unquote(t.start, t.len) : bvStrndup(t.start, t.len);
        }
    } else {
        *why = "expected a value";
        return false;
    }
    e->label = bvStrndup(start, (size_t)(lx->prevEnd - start));
    return true;
}

static bool
expectEnd(Lex *lx, const char **why) {
    if (tokIsPunct(&lx->tok, ';'))
        lexNext(lx);
    if (lx->tok.kind != TOK_END) {
        *why = "unexpected text after the statement";
        return false;
    }
    return true;
}

/* NAMES x [COLLATE y] / CHARACTER SET x, after SET. */
static bool
parseSetNames(Lex *lx, ReplQuery *q, const char **why) {
    if (tokIsWord(&lx->tok, "CHARACTER")) {
        lexNext(lx);
        if (!tokIsWord(&lx->tok, "SET")) {
            *why = "expected SET after CHARACTER";
            return false;
        }
    }
    lexNext(lx);
    if (lx->tok.kind != TOK_WORD && lx->tok.kind != TOK_STRING) {
        *why = "expected a character set name";
        return false;
    }
    lexNext(lx);
    if (tokIsWord(&lx->tok, "COLLATE")) {
        lexNext(lx);
        if (lx->tok.kind != TOK_WORD && lx->tok.kind != TOK_STRING) {
            *why = "expected a collation name";
            return false;
        }
        lexNext(lx);
    }
    q->setNames = true;
    return true;
}

static bool
parseSet(Lex *lx, ReplQuery *q, const char **why) {
    lexNext(lx);
    if (tokIsWord(&lx->tok, "NAMES") || tokIsWord(&lx->tok, "CHARACTER"))
        return parseSetNames(lx, q, why) && expectEnd(lx, why);
    for (;;) {
        ReplExpr *target = &q->target[q->count];
        bool global = false;
        Tok t;

        if (q->count == REPL_QUERY_MAX_ITEMS) {
            *why = "too many assignments";
            return false;
        }
        if (tokIsWord(&lx->tok, "GLOBAL")) {
            global = true;
            lexNext(lx);
        } else if (tokIsWord(&lx->tok, "SESSION") || tokIsWord(&lx->tok, "LOCAL")) {
            lexNext(lx);
        }
        t = lx->tok;
        if (t.kind == TOK_USERVAR && !global) {
            target->kind = REPL_EXPR_USERVAR;
            target->text = nameText(t.start + 1, t.len - 1);
        } else if (t.kind == TOK_SYSVAR) {
            if (!parseSysvar(&t, target, why))
                return false;
            target->global = target->global || global;
        } else if (t.kind == TOK_WORD) {
            target->kind = REPL_EXPR_SYSVAR;
            target->text = nameText(t.start, t.len);
            target->global = global;
        } else {
            *why = "expected a variable to set";
            return false;
        }
        target->label = bvStrndup(t.start, t.len);
        q->count++;
        lexNext(lx);
        if (tokIsPunct(&lx->tok, ':'))
            lexNext(lx);
        if (!tokIsPunct(&lx->tok, '=')) {
            *why = "expected '=' in SET";
            return false;
        }
        lexNext(lx);
        if (!parseExpr(lx, &q->value[q->count - 1], why))
            return false;
        if (!tokIsPunct(&lx->tok, ','))
            break;
        lexNext(lx);
    }
    return expectEnd(lx, why);
}

static bool
parseSelect(Lex *lx, ReplQuery *q, const char **why) {
    lexNext(lx);
    for (;;) {
        ReplExpr *e = &q->value[q->count];

        if (q->count == REPL_QUERY_MAX_ITEMS) {
            *why = "too many columns";
            return false;
        }
        q->count++;
        if (!parseExpr(lx, e, why))
            return false;
        if (tokIsWord(&lx->tok, "AS")) {
            lexNext(lx);
            if (lx->tok.kind != TOK_WORD && lx->tok.kind != TOK_STRING) {
                *why = "expected a column alias";
                return false;
            }
        }
        if ((lx->tok.kind == TOK_WORD && !tokIsWord(&lx->tok, "FROM") && !tokIsWord(&lx->tok, "LIMIT")) ||
            lx->tok.kind == TOK_STRING) {
            bvFree(e->label);
            e->label = lx->tok.start[0] == '`' || lx->tok.kind == TOK_STRING ? unquote(lx->tok.start, lx->tok.len)
                                                                            : bvStrndup(lx->tok.start, lx->tok.len);
            lexNext(lx);
        }
        if (!tokIsPunct(&lx->tok, ','))
            break;
        lexNext(lx);
    }
    if (tokIsWord(&lx->tok, "FROM")) {
        *why = "SELECT ... FROM is not supported";
        return false;
    }
    if (tokIsWord(&lx->tok, "LIMIT")) {
        lexNext(lx);
        if (lx->tok.kind != TOK_INT) {
            *why = "expected a number after LIMIT";
            return false;
        }
        lexNext(lx);
    }
    return expectEnd(lx, why);
}

static bool
parseShow(Lex *lx, ReplQuery *q, const char **why) {
    lexNext(lx);
    if (tokIsWord(&lx->tok, "GLOBAL") || tokIsWord(&lx->tok, "SESSION"))
        lexNext(lx);
    if (!tokIsWord(&lx->tok, "VARIABLES")) {
        *why = "only SHOW VARIABLES is supported";
        return false;
    }
    lexNext(lx);
    if (tokIsWord(&lx->tok, "LIKE")) {
        lexNext(lx);
        if (lx->tok.kind != TOK_STRING) {
            *why = "expected a pattern after LIKE";
            return false;
        }
        q->like = unquote(lx->tok.start, lx->tok.len);
        lexNext(lx);
    }
    return expectEnd(lx, why);
}

void
replQueryParse(const char *text, size_t len, ReplQuery *q) {
    Lex lx = {text, text + len, NULL, {TOK_END, NULL, 0}};
    const char *why = NULL;
    bool ok;

    memset(q, 0, sizeof(*q));
    lexNext(&lx);
    if (tokIsWord(&lx.tok, "SET")) {
        q->kind = REPL_QUERY_SET;
        ok = parseSet(&lx, q, &why);
    } else if (tokIsWord(&lx.tok, "SELECT")) {
        q->kind = REPL_QUERY_SELECT;
        ok = parseSelect(&lx, q, &why);
    } else if (tokIsWord(&lx.tok, "SHOW")) {
        q->kind = REPL_QUERY_SHOW_VARIABLES;
        ok = parseShow(&lx, q, &why);
    } else {
        ok = false;
        why = lx.tok.kind == TOK_END ? "empty statement" : "only SET, SELECT and SHOW VARIABLES are supported";
    }
    if (!ok) {
        replQueryClear(q);
        q->why = why;
    }
}

void
replQueryClear(ReplQuery *q) {
    for (size_t i = 0; i < REPL_QUERY_MAX_ITEMS; i++) {
        exprClear(&q->target[i]);
        exprClear(&q->value[i]);
    }
    bvFree(q->like);
    memset(q, 0, sizeof(*q));
}

static char
lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool
replLikeMatch(const char *pattern, const char *name) {
    const char *starP = NULL, *starN = NULL;

    /* Greedy matching with one backtrack point per '%': linear enough for variable names. */
    while (*name) {
        if (*pattern == '%') {
            starP = ++pattern;
            starN = name;
            continue;
        }
        if (*pattern == '\\' && pattern[1] != '\0' && lower(pattern[1]) == lower(*name)) {
            pattern += 2;
            name++;
            continue;
        }
        if (*pattern != '\0' && *pattern != '\\' && (*pattern == '_' || lower(*pattern) == lower(*name))) {
            pattern++;
            name++;
            continue;
        }
        if (starP == NULL)
            return false;
        pattern = starP;
        name = ++starN;
    }
    while (*pattern == '%')
        pattern++;
    return *pattern == '\0';
}

/* ---- Artificial events ------------------------------------------------------------------------- */

/* Start an event of `bodyLen` body bytes (checksum excluded) in out; returns its offset. */
static size_t
eventStart(Buf *out, uint8_t type, uint32_t serverId, size_t bodyLen, uint32_t logPos, uint16_t flags, bool crc) {
    size_t start = out->len;
    uint8_t *h = bufReserve(out, BINLOG_HEADER_LEN);

    memset(h, 0, 4); /* timestamp 0: the replica tells artificial events apart */
    h[4] = type;
    wrU32(h + 5, serverId);
    wrU32(h + 9, (uint32_t)(BINLOG_HEADER_LEN + bodyLen + (crc ? BINLOG_CHECKSUM_LEN : 0)));
    wrU32(h + 13, logPos);
    wrU16(h + 17, flags);
    out->len += BINLOG_HEADER_LEN;
    return start;
}

static void
eventFinish(Buf *out, size_t start, bool crc) {
    if (crc)
        putU32(out, binlogEventComputeChecksum(out->data + start, out->len - start));
}

void
replEventRotate(Buf *out, uint32_t serverId, const char *file, uint64_t pos, bool crc) {
    size_t n = strlen(file);
    size_t start = eventStart(out, BINLOG_ROTATE, serverId, 8 + n, 0, BINLOG_FLAG_ARTIFICIAL, crc);
    uint8_t b[8];

    wrU64(b, pos);
    bufAppend(out, b, 8);
    bufAppend(out, file, n);
    eventFinish(out, start, crc);
}

void
replEventHeartbeat(Buf *out, uint32_t serverId, const char *file, uint32_t pos, bool crc) {
    size_t n = strlen(file);
    size_t start = eventStart(out, BINLOG_HEARTBEAT, serverId, n, pos, 0, crc);

    bufAppend(out, file, n);
    eventFinish(out, start, crc);
}

void
replEventGtidList(Buf *out, uint32_t serverId, const MariaGtidPos *pos, uint32_t flags, uint32_t logPos, bool crc) {
    size_t count = pos ? mariaGtidPosCount(pos) : 0;
    size_t start = eventStart(out, BINLOG_MARIA_GTID_LIST, serverId, 4 + 16 * count, logPos, BINLOG_FLAG_ARTIFICIAL,
                              crc);

    BV_ASSERT(count < (1u << 28));
    putU32(out, (uint32_t)count | flags);
    for (size_t i = 0; i < count; i++) {
        MariaGtid g;
        uint8_t b[8];

        mariaGtidPosAt(pos, i, &g);
        putU32(out, g.domain);
        putU32(out, g.server);
        wrU64(b, g.seq);
        bufAppend(out, b, 8);
    }
    eventFinish(out, start, crc);
}

int
replFdeForStream(uint8_t *fde, size_t len, bool streamStart, Err *err) {
    BinlogFormat fmt;
    BinlogHeader h;

    if (len < BINLOG_HEADER_LEN)
        return errSet(err, ERR_FORMAT, "format description event of %zu bytes is too short", len);
    binlogHeaderParse(fde, &h);
    if (h.type != BINLOG_FORMAT_DESCRIPTION || h.size != len)
        return errSet(err, ERR_FORMAT, "not a format description event (type %u, size %u of %zu bytes)", h.type,
                      h.size, len);
    if (binlogFormatFromFde(&fmt, fde, len, false, err) != 0)
        return -1;
    binlogFdeSetInUse(fde, false);
    if (streamStart) {
        wrU32(fde + 13, 0);
        wrU32(fde + FDE_CREATED_OFFSET, 0);
    }
    /* A checksum-aware FDE carries a CRC even when its algorithm is OFF. */
    if (fmt.checksumAlg != BINLOG_CHECKSUM_UNDEF)
        wrU32(fde + len - BINLOG_CHECKSUM_LEN, binlogEventComputeChecksum(fde, len - BINLOG_CHECKSUM_LEN));
    return 0;
}

/* ---- One binlog stream ---------------------------------------------------------------------------- */

/* A GTID of the connect or UNTIL position, and whether its domain is past it. */
typedef struct PosEntry {
    MariaGtid g;
    bool done;
} PosEntry;

struct ReplStream {
    uint32_t serverId;
    BinlogChecksumAlg connectAlg;
    bool gtidMode;
    bool sendAnnotateRows, skipReplication;
    uint32_t replicaServerId;
    char *startFile;
    uint32_t startPos;
    ReplEmitFn emit;
    void *ctx;

    MariaGtidPos *connectPos; /* as given, for the artificial GTID_LIST */
    PosEntry *connect;
    size_t nConnect;
    PosEntry *until;
    size_t nUntil, untilLeft;
    bool untilActive;
    MariaGtidPos *state; /* binlog state: the file's GTID_LIST updated by each GTID read */

    BinlogFormat fmt;
    bool started;         /* the first FDE went out */
    bool haveFile;        /* an FDE was read */
    bool skipFile;        /* position mode: a file before the start file */
    bool positionReached; /* position mode: past the start position */
    BinlogChecksumAlg alg; /* of the artificial events: connectAlg, then the last FDE's */
    char file[256];
    uint64_t pos;
    bool skipping, inGroup, standalone, stopAfterGroup, done, warnedOwnId;
    Buf *scratch;
    uint64_t sent, skipped;
};

static PosEntry *
posEntries(const MariaGtidPos *pos, size_t *n) {
    PosEntry *e;

    *n = pos ? mariaGtidPosCount(pos) : 0;
    if (*n == 0)
        return NULL;
    e = bvCalloc(*n, sizeof(*e));
    for (size_t i = 0; i < *n; i++)
        mariaGtidPosAt(pos, i, &e[i].g);
    return e;
}

static PosEntry *
posFind(PosEntry *e, size_t n, uint32_t domain) {
    for (size_t i = 0; i < n; i++)
        if (e[i].g.domain == domain && !e[i].done)
            return &e[i];
    return NULL;
}

ReplStream *
replStreamNew(const ReplStreamConfig *cfg, ReplEmitFn emit, void *ctx) {
    ReplStream *st = bvCalloc(1, sizeof(*st));

    st->serverId = cfg->serverId;
    st->connectAlg = cfg->connectAlg;
    st->alg = cfg->connectAlg;
    st->gtidMode = cfg->gtidMode;
    st->sendAnnotateRows = cfg->sendAnnotateRows;
    st->skipReplication = cfg->skipReplication;
    st->replicaServerId = cfg->replicaServerId;
    st->startFile = bvStrdup(cfg->startFile ? cfg->startFile : "");
    st->startPos = cfg->startPos;
    st->positionReached = cfg->gtidMode || cfg->startPos <= BINLOG_MAGIC_LEN;
    st->emit = emit;
    st->ctx = ctx;
    st->connectPos = cfg->connect ? mariaGtidPosDup(cfg->connect) : mariaGtidPosNew();
    st->state = mariaGtidPosNew();
    st->scratch = bufNew(512);
    if (cfg->gtidMode) {
        st->connect = posEntries(cfg->connect, &st->nConnect);
        if (cfg->until != NULL) {
            st->untilActive = true;
            st->until = posEntries(cfg->until, &st->nUntil);
            st->untilLeft = st->nUntil;
            /* Domains the replica is already at or past have reached their UNTIL. */
            for (size_t i = 0; i < st->nUntil; i++) {
                MariaGtid have;

                if (mariaGtidPosGet(cfg->connect ? cfg->connect : st->state, st->until[i].g.domain, &have) &&
                    have.seq >= st->until[i].g.seq) {
                    st->until[i].done = true;
                    st->untilLeft--;
                }
            }
        }
    }
    return st;
}

static int
emitArtificial(ReplStream *st, Err *err) {
    return st->emit(st->ctx, st->scratch->data, st->scratch->len, err);
}

static bool
algCrc(BinlogChecksumAlg alg) {
    return alg == BINLOG_CHECKSUM_CRC32;
}

/* The UNTIL position is reached: the last artificial GTID_LIST, flagged. */
static int
untilReached(ReplStream *st, Err *err) {
    bufClear(st->scratch);
    replEventGtidList(st->scratch, st->serverId, st->state, MARIA_GTID_LIST_FLAG_UNTIL_REACHED,
                      st->pos > UINT32_MAX ? 0 : (uint32_t)st->pos, algCrc(st->alg));
    if (emitArtificial(st, err) != 0)
        return -1;
    st->done = true;
    return 1;
}

static int
streamFde(ReplStream *st, const char *file, const BinlogHeader *h, const uint8_t *ev, size_t len, Err *err) {
    BinlogFormat fmt;
    bool first = !st->started;
    uint64_t rotatePos = BINLOG_MAGIC_LEN;

    if (binlogFormatFromFde(&fmt, ev, len, true, err) != 0)
        return errPrefix(err, "format description event of '%s'", file);
    if (fmt.checksumAlg == BINLOG_CHECKSUM_CRC32 && st->connectAlg == BINLOG_CHECKSUM_UNDEF)
        return errSet(err, ERR_TARGET,
                      "binlog '%s' has CRC32 checksums and the replica did not declare that it handles them "
                      "(SET @master_binlog_checksum)", file);
    snprintf(st->file, sizeof(st->file), "%s", file);
    st->fmt = fmt;
    st->haveFile = true;
    st->pos = h->logPos ? h->logPos : BINLOG_MAGIC_LEN;
    st->skipping = st->inGroup = false;
    if (!st->gtidMode && !st->started) {
        st->skipFile = st->startFile[0] != '\0' && strcmp(file, st->startFile) != 0;
        if (st->skipFile)
            return 0;
        rotatePos = st->startPos > BINLOG_MAGIC_LEN ? st->startPos : BINLOG_MAGIC_LEN;
    }
    if (first && st->gtidMode && st->startFile[0] != '\0' && strcmp(file, st->startFile) != 0)
        logInfo("the replica was reading '%s' and the stream starts in '%s': it rolls back a transaction it "
                "received only in part, as after a primary crash", st->startFile, file);
    bufClear(st->scratch);
    replEventRotate(st->scratch, st->serverId, file, rotatePos, algCrc(st->alg));
    if (emitArtificial(st, err) != 0)
        return -1;
    bufClear(st->scratch);
    bufAppend(st->scratch, ev, len);
    if (replFdeForStream(st->scratch->data, len, first, err) != 0 || emitArtificial(st, err) != 0)
        return -1;
    st->alg = fmt.checksumAlg;
    st->started = true;
    if (first && st->gtidMode) {
        bufClear(st->scratch);
        replEventGtidList(st->scratch, st->serverId, st->connectPos, 0, 0, algCrc(st->alg));
        if (emitArtificial(st, err) != 0)
            return -1;
        if (st->untilActive && st->untilLeft == 0)
            return untilReached(st, err);
    }
    return 0;
}

static int
streamGtid(ReplStream *st, const BinlogHeader *h, const uint8_t *ev, size_t len, Err *err) {
    BinlogEvent e;
    BinlogMariaGtid g;
    MariaGtid mg;
    bool skip = false;
    PosEntry *c;

    if (binlogEventParse(&st->fmt, ev, len, false, &e, err) != 0 || binlogDecodeMariaGtid(&e, &g, err) != 0)
        return errPrefix(err, "gtid event ending at %u of '%s'", h->logPos, st->file);
    mg.domain = g.domain;
    mg.server = g.serverId;
    mg.seq = g.seq;
    mariaGtidPosUpdate(st->state, &mg);
    st->skipping = st->inGroup = false;
    if (g.serverId == st->replicaServerId && !st->warnedOwnId) {
        logWarn("gtid %" PRIu32 "-%" PRIu32 "-%" PRIu64 " was written by server_id %" PRIu32
                ", the replica's own: the replica ignores such events unless it runs with replicate_same_server_id",
                g.domain, g.serverId, g.seq, g.serverId);
        st->warnedOwnId = true;
    }
    if (st->gtidMode) {
        /* Skip what the replica has; once past its GTID in a domain, send everything of it. */
        if ((c = posFind(st->connect, st->nConnect, g.domain)) != NULL) {
            if (g.seq <= c->g.seq)
                skip = true;
            else
                c->done = true;
        }
        if (st->untilActive) {
            PosEntry *u = posFind(st->until, st->nUntil, g.domain);

            if (u == NULL) {
                skip = true; /* not asked for, or that domain reached its UNTIL */
            } else if (g.seq >= u->g.seq) {
                u->done = true;
                st->untilLeft--;
                if (g.seq > u->g.seq) {
                    /* The UNTIL GTID is not in the binlog: stop before what lies beyond it. */
                    skip = true;
                    if (st->untilLeft == 0)
                        return untilReached(st, err);
                } else if (st->untilLeft == 0) {
                    st->stopAfterGroup = true;
                }
            }
        }
    }
    if (skip) {
        st->skipping = true;
        st->skipped++;
        return 0;
    }
    if (st->emit(st->ctx, ev, len, err) != 0)
        return -1;
    st->sent++;
    st->inGroup = true;
    st->standalone = (g.flags & MARIA_FL_STANDALONE) != 0;
    return 0;
}

/* Does this event end the group in progress (as the replica's I/O thread sees it)? */
static bool
endsGroup(ReplStream *st, uint8_t type, const uint8_t *ev, size_t len) {
    if (!st->inGroup)
        return false;
    if (st->standalone)
        return type == BINLOG_QUERY || type == BINLOG_MARIA_QUERY_COMPRESSED || type == BINLOG_INCIDENT;
    if (type == BINLOG_XID || type == BINLOG_XA_PREPARE)
        return true;
    if (type == BINLOG_QUERY) {
        BinlogEvent e;
        BinlogQuery q;
        Err ignored;
        bool end = false;

        if (binlogEventParse(&st->fmt, ev, len, false, &e, &ignored) == 0 &&
            binlogDecodeQuery(&st->fmt, &e, 64, &q, &ignored) == 0) {
            end = (q.queryLen == 6 && memcmp(q.query, "COMMIT", 6) == 0) ||
                  (q.queryLen == 8 && memcmp(q.query, "ROLLBACK", 8) == 0);
            binlogQueryClear(&q);
        }
        return end;
    }
    return false;
}

int
replStreamFeed(ReplStream *st, const char *file, const uint8_t *ev, size_t len, Err *err) {
    BinlogHeader h;
    bool drop = false;

    if (st->done)
        return errSet(err, ERR_INTERNAL, "event fed to a binlog stream that has ended");
    if (len < BINLOG_HEADER_LEN)
        return errSet(err, ERR_FORMAT, "event of %zu bytes is shorter than the 19-byte header", len);
    binlogHeaderParse(ev, &h);
    if (h.size != len)
        return errSet(err, ERR_FORMAT, "event size field %u does not match the %zu bytes given", h.size, len);
    if (file == NULL || file[0] == '\0' || strlen(file) >= sizeof(st->file) || strchr(file, '/') != NULL)
        return errSet(err, ERR_FORMAT, "invalid binlog file name '%s'", file ? file : "");
    if (h.type == BINLOG_FORMAT_DESCRIPTION)
        return streamFde(st, file, &h, ev, len, err);
    if (!st->haveFile)
        return errSet(err, ERR_FORMAT, "the stream starts with a %s event instead of a format description",
                      binlogEventTypeName(h.type));
    if (strcmp(file, st->file) != 0)
        return errSet(err, ERR_FORMAT, "%s event of binlog '%s' comes without that file's format description",
                      binlogEventTypeName(h.type), file);
    if (h.logPos != 0)
        st->pos = h.logPos;
    if (st->skipFile)
        return 0;
    if (!st->positionReached) {
        if (h.logPos <= st->startPos)
            return 0;
        if (h.logPos - len < st->startPos)
            return errSet(err, ERR_TARGET, "start position %" PRIu32 " in '%s' is inside a %s event (%u to %u)",
                          st->startPos, file, binlogEventTypeName(h.type), h.logPos - (uint32_t)len, h.logPos);
        st->positionReached = true;
    }
    switch (h.type) {
    case BINLOG_MARIA_GTID:
        return streamGtid(st, &h, ev, len, err);
    case BINLOG_MARIA_GTID_LIST: {
        BinlogEvent e;
        MariaGtid *list = NULL;
        size_t n = 0;
        uint32_t flags;

        if (binlogEventParse(&st->fmt, ev, len, false, &e, err) != 0 ||
            mariaGtidListDecode(e.body, e.bodyLen, &list, &n, &flags, err) != 0)
            return errPrefix(err, "gtid list event ending at %u of '%s'", h.logPos, st->file);
        mariaGtidPosFree(st->state);
        st->state = mariaGtidPosFromList(list, n);
        bvFree(list);
        st->skipping = false;
        break;
    }
    case BINLOG_ROTATE:
    case BINLOG_STOP:
    case BINLOG_MARIA_BINLOG_CHECKPOINT:
        st->skipping = false;
        break;
    case BINLOG_MARIA_START_ENCRYPTION:
        return errSet(err, ERR_TARGET, "binlog '%s' is encrypted: binvault cannot serve encrypted binlogs", file);
    case BINLOG_HEARTBEAT:
    case BINLOG_HEARTBEAT_V2:
        return 0;
    default: {
        bool end;

        if (st->skipping)
            return 0;
        end = endsGroup(st, h.type, ev, len);
        drop = (h.type == BINLOG_MARIA_ANNOTATE_ROWS && !st->sendAnnotateRows) ||
               (st->skipReplication && (h.flags & EVENT_FLAG_SKIP_REPLICATION));
        if (!drop) {
            if (st->emit(st->ctx, ev, len, err) != 0)
                return -1;
            st->sent++;
        }
        if (end) {
            st->inGroup = false;
            if (st->stopAfterGroup)
                return untilReached(st, err);
        }
        return 0;
    }
    }
    if (st->emit(st->ctx, ev, len, err) != 0)
        return -1;
    st->sent++;
    return 0;
}

int
replStreamHeartbeat(ReplStream *st, Err *err) {
    if (!st->started || st->pos > UINT32_MAX)
        return 0;
    bufClear(st->scratch);
    replEventHeartbeat(st->scratch, st->serverId, st->file, (uint32_t)st->pos, algCrc(st->alg));
    return emitArtificial(st, err);
}

const char *
replStreamFile(const ReplStream *st) {
    return st->file;
}

uint64_t
replStreamPos(const ReplStream *st) {
    return st->pos;
}

uint64_t
replStreamEventsSent(const ReplStream *st) {
    return st->sent;
}

uint64_t
replStreamGroupsSkipped(const ReplStream *st) {
    return st->skipped;
}

void
replStreamFree(ReplStream *st) {
    if (st == NULL)
        return;
    bvFree(st->startFile);
    mariaGtidPosFree(st->connectPos);
    mariaGtidPosFree(st->state);
    bvFree(st->connect);
    bvFree(st->until);
    bufFree(st->scratch);
    bvFree(st);
}

/* ---- A source over binlog files ------------------------------------------------------------------- */

#define FILE_SOURCE_CHUNK (256 * 1024)

struct ReplFileSource {
    char **paths;
    size_t count;
    size_t index; /* file being read */
    int fd;
    BinlogReader *reader;
    char name[256];
};

ReplFileSource *
replFileSourceNew(const char *const *paths, size_t count) {
    ReplFileSource *fs = bvCalloc(1, sizeof(*fs));

    fs->paths = bvCalloc(count ? count : 1, sizeof(char *));
    for (size_t i = 0; i < count; i++)
        fs->paths[i] = bvStrdup(paths[i]);
    fs->count = count;
    fs->fd = -1;
    return fs;
}

static void
fileSourceClose(ReplFileSource *fs) {
    if (fs->fd >= 0)
        close(fs->fd);
    fs->fd = -1;
    binlogReaderFree(fs->reader);
    fs->reader = NULL;
}

/* The binlog state at the start of a file: its GTID_LIST (the event after the FDE), NULL when it
 * has none (a binlog without GTIDs). */
static int
fileStartState(const char *path, MariaGtidPos **out, Err *err) {
    BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, BINLOG_DEFAULT_MAX_EVENT);
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1, events = 0;

    *out = NULL;
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to open '%s'", path);
        goto done;
    }
    /* The FDE and the GTID_LIST are small: a few reads at most. */
    while (events < 2) {
        BinlogEvent ev;
        int got = binlogReaderNext(r, &ev, err);

        if (got < 0) {
            errPrefix(err, "'%s'", path);
            goto done;
        }
        if (got == 1) {
            events++;
            if (ev.h.type == BINLOG_MARIA_GTID_LIST) {
                MariaGtid *list = NULL;
                size_t n = 0;
                uint32_t flags;

                if (mariaGtidListDecode(ev.body, ev.bodyLen, &list, &n, &flags, err) != 0) {
                    errPrefix(err, "'%s'", path);
                    goto done;
                }
                *out = mariaGtidPosFromList(list, n);
                bvFree(list);
                break;
            }
            continue;
        }
        {
            size_t avail;
            uint8_t *space = binlogReaderSpace(r, 64 * 1024, &avail);
            ssize_t n;

            do {
                n = read(fd, space, avail);
            } while (n < 0 && errno == EINTR);
            if (n < 0) {
                errSetSys(err, ERR_IO, errno, "unable to read '%s'", path);
                goto done;
            }
            if (n == 0)
                break;
            binlogReaderCommit(r, (size_t)n);
        }
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    binlogReaderFree(r);
    return rc;
}

/* Like a MariaDB primary (gtid_find_binlog_file), start at the newest file whose starting state
 * the replica already has: every group before it is applied, and the first ROTATE names the file
 * the replica was reading when it reconnects in the middle of a group (a different name makes it
 * roll back the partial group as after a primary crash). */
static int
fileSourceOpen(void *data, const MariaGtidPos *from, Err *err) {
    ReplFileSource *fs = data;

    fileSourceClose(fs);
    fs->index = 0;
    for (size_t i = fs->count; i-- > 1;) {
        MariaGtidPos *start;
        bool contained;

        if (fileStartState(fs->paths[i], &start, err) != 0)
            return -1;
        contained = start != NULL && from != NULL && mariaGtidPosReached(from, start);
        mariaGtidPosFree(start);
        if (contained) {
            fs->index = i;
            break;
        }
    }
    return 0;
}

static int
fileSourceNext(void *data, const uint8_t **event, size_t *len, Err *err) {
    ReplFileSource *fs = data;

    for (;;) {
        BinlogEvent ev;
        uint8_t *space;
        size_t avail;
        ssize_t n;
        int rc;

        if (fs->fd < 0) {
            const char *path, *slash;

            if (fs->index >= fs->count)
                return 0;
            path = fs->paths[fs->index];
            fs->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fs->fd < 0)
                return errSetSys(err, ERR_IO, errno, "unable to open '%s'", path);
            fs->reader = binlogReaderNew(BINLOG_READER_FILE, BINLOG_DEFAULT_MAX_EVENT);
            slash = strrchr(path, '/');
            snprintf(fs->name, sizeof(fs->name), "%s", slash ? slash + 1 : path);
        }
        rc = binlogReaderNext(fs->reader, &ev, err);
        if (rc < 0)
            return errPrefix(err, "'%s'", fs->paths[fs->index]);
        if (rc == 1) {
            *event = ev.data;
            *len = ev.h.size;
            return 1;
        }
        space = binlogReaderSpace(fs->reader, FILE_SOURCE_CHUNK, &avail);
        do {
            n = read(fs->fd, space, avail);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            return errSetSys(err, ERR_IO, errno, "unable to read '%s'", fs->paths[fs->index]);
        if (n > 0) {
            binlogReaderCommit(fs->reader, (size_t)n);
            continue;
        }
        if (binlogReaderPending(fs->reader) > 0)
            return errSet(err, ERR_FORMAT, "'%s' is truncated: it ends inside an event at offset %" PRIu64,
                          fs->paths[fs->index], binlogReaderOffset(fs->reader));
        fileSourceClose(fs);
        fs->index++;
    }
}

static const char *
fileSourceFile(void *data) {
    return ((ReplFileSource *)data)->name;
}

ReplServerSource
replFileSourceInterface(ReplFileSource *fs) {
    ReplServerSource s = {fs, fileSourceOpen, fileSourceNext, fileSourceFile};

    return s;
}

void
replFileSourceFree(ReplFileSource *fs) {
    if (fs == NULL)
        return;
    fileSourceClose(fs);
    for (size_t i = 0; i < fs->count; i++)
        bvFree(fs->paths[i]);
    bvFree(fs->paths);
    bvFree(fs);
}

/* ---- The server ------------------------------------------------------------------------------------ */

#define HANDSHAKE_TIMEOUT_MS 10000
#define DEFAULT_TIMEOUT_MS (10 * 60 * 1000)
#define SOURCE_RETRY_MS 100
#define FLUSH_AT (256 * 1024)
#define DIRECT_EVENT (1024 * 1024) /* larger events are written without a copy */
#define READ_CHUNK (64 * 1024)
#define USER_VARS_MAX 64
#define USER_VAR_VALUE_MAX (64 * 1024) /* a connect state of thousands of domains */
#define QUERY_LOG_MAX 300

struct ReplServer {
    char *listenHost, *user, *version;
    uint8_t stage2[REPL_SHA1_LEN];
    bool emptyPassword;
    uint32_t serverId;
    unsigned idleTimeoutMs, writeTimeoutMs;
    ReplServerSource source;
    int listenFd;
    uint16_t port;
    int stopPipe[2];
    pthread_t thread;
    bool threadStarted;
    atomic_bool stopping;
    uint32_t connectionIds;
    pthread_mutex_t lock; /* guards status */
    ReplServerStatus status;
};

typedef struct UserVar {
    char *name;
    char *value; /* NULL = SQL NULL */
} UserVar;

typedef struct Session {
    ReplServer *srv;
    int fd;
    char peer[80];
    uint32_t connectionId;
    uint8_t scramble[REPL_SCRAMBLE_LEN];
    Buf *in, *payload, *out;
    size_t outSent;
    uint8_t seq;
    char user[REPL_NAME_MAX + 1];
    UserVar vars[USER_VARS_MAX];
    size_t nVars;
    bool skipReplication;
    uint32_t replicaServerId;
    bool gone; /* the replica closed the connection or it failed */
    struct timespec lastSend;
} Session;

/* Outcome of waiting on the replica's socket. */
typedef enum WaitResult { WAIT_READY = 1, WAIT_TIMEOUT = 0, WAIT_STOP = -1, WAIT_GONE = -2 } WaitResult;

static uint64_t
monoMs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
statusSetError(ReplServer *srv, const Err *err) {
    pthread_mutex_lock(&srv->lock);
    snprintf(srv->status.lastError, sizeof(srv->status.lastError), "%s", err->msg);
    pthread_mutex_unlock(&srv->lock);
}

/* A second connection while one is served: an ERR packet in place of the greeting, then close.
 * The replica's I/O thread takes ER_CON_COUNT_ERROR as a network error and retries. */
static void
refuseConnection(ReplServer *srv) {
    int fd = accept4(srv->listenFd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    Buf *p, *out;
    uint8_t seq = 0;
    ssize_t n;

    if (fd < 0)
        return;
    p = bufNew(128);
    out = bufNew(160);
    /* Before the handshake the client does not expect a SQLSTATE. */
    replErrEncode(p, ER_CON_COUNT_ERROR, NULL, "binvault serves one replica at a time and one is connected");
    replPacketAppend(out, &seq, p->data, p->len, NULL, 0);
    n = send(fd, out->data, out->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    close(fd);
    bufFree(p);
    bufFree(out);
    pthread_mutex_lock(&srv->lock);
    srv->status.refused++;
    pthread_mutex_unlock(&srv->lock);
    logInfo("refused a second replica connection: one is being served");
}

/* Wait up to timeoutMs (-1 = forever) until the replica's socket is ready for `events`, watching
 * the stop request and refusing other connections meanwhile. */
static WaitResult
sessionWait(Session *s, short events, int timeoutMs) {
    uint64_t deadline = timeoutMs < 0 ? 0 : monoMs() + (uint64_t)timeoutMs;
    nfds_t nfds = 3;

    for (;;) {
        struct pollfd pfd[3] = {
            {s->fd, (short)(events | POLLRDHUP), 0},
            {s->srv->stopPipe[0], POLLIN, 0},
            {s->srv->listenFd, POLLIN, 0},
        };
        int wait = -1, rc;

        if (timeoutMs >= 0) {
            uint64_t now = monoMs();

            wait = now >= deadline ? 0 : (int)(deadline - now);
        }
        rc = poll(pfd, nfds, wait);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            logError("poll failed: %s", strerror(errno));
            return WAIT_GONE;
        }
        if (pfd[1].revents)
            return WAIT_STOP;
        if (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL))
            return WAIT_GONE;
        /* A half-closed socket is still read to its end (POLLIN is set with POLLRDHUP). */
        if (pfd[0].revents & (events | POLLRDHUP))
            return (pfd[0].revents & events) ? WAIT_READY : WAIT_GONE;
        if (nfds == 3 && (pfd[2].revents & POLLIN))
            refuseConnection(s->srv);
        else if (nfds == 3 && pfd[2].revents)
            nfds = 2; /* a listening socket in error: serve this replica, refuse nothing */
        if (rc == 0 || (timeoutMs >= 0 && monoMs() >= deadline))
            return WAIT_TIMEOUT;
    }
}

static int
sessionFlush(Session *s, Err *err) {
    while (s->outSent < s->out->len) {
        ssize_t n = send(s->fd, s->out->data + s->outSent, s->out->len - s->outSent, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            s->outSent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            WaitResult w = sessionWait(s, POLLOUT, (int)s->srv->writeTimeoutMs);

            if (w == WAIT_READY)
                continue;
            s->gone = true;
            if (w == WAIT_STOP)
                return errSet(err, ERR_TARGET, "the server is stopping");
            if (w == WAIT_TIMEOUT)
                return errSet(err, ERR_TARGET, "the replica at %s read nothing for %u ms", s->peer,
                              s->srv->writeTimeoutMs);
            return errSet(err, ERR_TARGET, "the replica at %s closed the connection", s->peer);
        }
        s->gone = true;
        return errSetSys(err, ERR_TARGET, errno, "unable to send to the replica at %s", s->peer);
    }
    pthread_mutex_lock(&s->srv->lock);
    s->srv->status.bytesSent += s->outSent;
    pthread_mutex_unlock(&s->srv->lock);
    if (s->outSent > 0)
        clock_gettime(CLOCK_MONOTONIC, &s->lastSend);
    bufClear(s->out);
    s->outSent = 0;
    return 0;
}

/* Queue one packet with payload head + body. */
static void
sessionPacket(Session *s, const uint8_t *head, size_t headLen, const uint8_t *body, size_t bodyLen) {
    replPacketAppend(s->out, &s->seq, head, headLen, body, bodyLen);
}

static int
sessionSendErr(Session *s, uint16_t code, const char *state, const char *msg, Err *err) {
    Buf *p = bufNew(128);

    replErrEncode(p, code, state, msg);
    sessionPacket(s, p->data, p->len, NULL, 0);
    bufFree(p);
    return sessionFlush(s, err);
}

static int
sessionSendOk(Session *s, Err *err) {
    Buf *p = bufNew(16);

    replOkEncode(p, 0, REPL_STATUS_AUTOCOMMIT);
    sessionPacket(s, p->data, p->len, NULL, 0);
    bufFree(p);
    return sessionFlush(s, err);
}

/* Read one logical packet into s->payload, setting s->seq for the answer. Returns 1, or 0 when
 * the replica closed the connection, timed out or the server stops (err says which), -1 on a
 * malformed packet. */
static int
sessionRead(Session *s, int timeoutMs, size_t max, Err *err) {
    for (;;) {
        size_t consumed;
        uint8_t seq;
        int rc;
        ssize_t n;
        WaitResult w;

        bufClear(s->payload);
        rc = replPacketTake(s->in->data, s->in->len, max, s->payload, &seq, &consumed, err);
        if (rc < 0)
            return errPrefix(err, "from the replica at %s", s->peer);
        if (rc == 1) {
            memmove(s->in->data, s->in->data + consumed, s->in->len - consumed);
            s->in->len -= consumed;
            s->seq = (uint8_t)(seq + 1);
            return 1;
        }
        n = recv(s->fd, bufReserve(s->in, READ_CHUNK), READ_CHUNK, MSG_DONTWAIT);
        if (n > 0) {
            s->in->len += (size_t)n;
            continue;
        }
        if (n == 0) {
            s->gone = true;
            errSet(err, ERR_TARGET, "the replica at %s closed the connection", s->peer);
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            s->gone = true;
            errSetSys(err, ERR_TARGET, errno, "unable to read from the replica at %s", s->peer);
            return 0;
        }
        w = sessionWait(s, POLLIN, timeoutMs);
        if (w == WAIT_READY)
            continue;
        s->gone = true;
        if (w == WAIT_STOP)
            errSet(err, ERR_TARGET, "the server is stopping");
        else if (w == WAIT_TIMEOUT)
            errSet(err, ERR_TARGET, "the replica at %s sent nothing for %d ms", s->peer, timeoutMs);
        else
            errSet(err, ERR_TARGET, "the replica at %s closed the connection", s->peer);
        return 0;
    }
}

/* ---- Session: login ---- */

static int
sessionLogin(Session *s, Err *err) {
    ReplServer *srv = s->srv;
    ReplHandshakeResponse r;
    Buf *p = bufNew(128);
    const uint8_t *token;
    size_t tokenLen;
    char msg[REPL_NAME_MAX + 160];
    int rc = -1;

    /* 20 printable bytes: the scramble is also read as a NUL-terminated string. */
    if (cryptoRandom(s->scramble, sizeof(s->scramble), err) != 0)
        goto done;
    for (size_t i = 0; i < sizeof(s->scramble); i++)
        s->scramble[i] = (uint8_t)(33 + s->scramble[i] % 94);
    replHandshakeEncode(p, srv->version, s->connectionId, s->scramble);
    s->seq = 0;
    sessionPacket(s, p->data, p->len, NULL, 0);
    if (sessionFlush(s, err) != 0 || sessionRead(s, HANDSHAKE_TIMEOUT_MS, 64 * 1024, err) != 1)
        goto done;
    if (replHandshakeResponseParse(s->payload->data, s->payload->len, &r, err) != 0) {
        errPrefix(err, "replica at %s", s->peer);
        sessionSendErr(s, ER_HANDSHAKE_ERROR, "08S01", "Bad handshake", &(Err){0});
        goto done;
    }
    if (r.sslRequest) {
        errSet(err, ERR_TARGET, "the replica at %s asked for TLS, which binvault's loopback endpoint does not offer",
               s->peer);
        /* The client now expects a TLS handshake; the plain ERR packet tells it why it fails. */
        sessionSendErr(s, ER_HANDSHAKE_ERROR, "08S01",
                       "binvault's replication endpoint does not support TLS: use MASTER_SSL=0 (loopback only)",
                       &(Err){0});
        goto done;
    }
    snprintf(s->user, sizeof(s->user), "%s", r.user);
    token = r.auth;
    tokenLen = r.authLen;
    if ((r.caps & REPL_CLIENT_PLUGIN_AUTH) && r.plugin[0] != '\0' && strcmp(r.plugin, REPL_NATIVE_PASSWORD) != 0) {
        /* AuthSwitchRequest to mysql_native_password with the same scramble. */
        bufClear(p);
        bufAppend(p, "\xfe", 1);
        bufAppend(p, REPL_NATIVE_PASSWORD, sizeof(REPL_NATIVE_PASSWORD));
        bufAppend(p, s->scramble, sizeof(s->scramble));
        bufAppend(p, "\0", 1);
        sessionPacket(s, p->data, p->len, NULL, 0);
        if (sessionFlush(s, err) != 0 || sessionRead(s, HANDSHAKE_TIMEOUT_MS, 1024, err) != 1)
            goto done;
        token = s->payload->data;
        tokenLen = s->payload->len;
    }
    if (strcmp(r.user, srv->user) != 0 ||
        !replNativePasswordVerify(srv->stage2, srv->emptyPassword, s->scramble, token, tokenLen)) {
        snprintf(msg, sizeof(msg), "Access denied for user '%s'@'%s' (using password: %s)", r.user, s->peer,
                 tokenLen ? "YES" : "NO");
        errSet(err, ERR_AUTH, "replica login refused: %s", msg);
        sessionSendErr(s, ER_ACCESS_DENIED_ERROR, "28000", msg, &(Err){0});
        goto done;
    }
    rc = sessionSendOk(s, err);
done:
    bufFree(p);
    return rc;
}

/* ---- Session: queries ---- */

static UserVar *
varFind(Session *s, const char *name) {
    for (size_t i = 0; i < s->nVars; i++)
        if (strcmp(s->vars[i].name, name) == 0)
            return &s->vars[i];
    return NULL;
}

static bool
varSet(Session *s, const char *name, const char *value) {
    UserVar *v = varFind(s, name);

    if (value != NULL && strlen(value) > USER_VAR_VALUE_MAX)
        return false;
    if (v == NULL) {
        if (s->nVars == USER_VARS_MAX)
            return false;
        v = &s->vars[s->nVars++];
        v->name = bvStrdup(name);
        v->value = NULL;
    }
    bvFree(v->value);
    v->value = value ? bvStrdup(value) : NULL;
    return true;
}

/* A user variable's value, NULL when unset or NULL; *present says whether it was set. */
static const char *
varGet(Session *s, const char *name, bool *present) {
    UserVar *v = varFind(s, name);

    if (present != NULL)
        *present = v != NULL && v->value != NULL;
    return v ? v->value : NULL;
}

static const char *const sysvarNames[] = {
    "binlog_checksum", "binlog_format",   "character_set_server", "collation_server",
    "gtid_domain_id",  "gtid_strict_mode", "hostname",            "log_bin",
    "max_allowed_packet", "port",          "rpl_semi_sync_master_enabled", "server_id",
    "system_time_zone", "time_zone",       "version",             "version_comment",
};

/* The value of a system variable, NULL when unknown. `show` formats booleans as SHOW VARIABLES
 * does (ON/OFF) instead of 1/0. */
static const char *
sysvarGet(Session *s, const char *name, bool show, char *buf, size_t size) {
    if (strcmp(name, "server_id") == 0) {
        snprintf(buf, size, "%" PRIu32, s->srv->serverId);
        return buf;
    }
    if (strcmp(name, "version") == 0)
        return s->srv->version;
    if (strcmp(name, "version_comment") == 0)
        return "binvault replication endpoint";
    if (strcmp(name, "binlog_checksum") == 0)
        return "CRC32";
    if (strcmp(name, "binlog_format") == 0)
        return "ROW";
    if (strcmp(name, "gtid_domain_id") == 0)
        return "0";
    if (strcmp(name, "gtid_strict_mode") == 0 || strcmp(name, "rpl_semi_sync_master_enabled") == 0)
        return show ? "OFF" : "0";
    if (strcmp(name, "log_bin") == 0)
        return show ? "ON" : "1";
    if (strcmp(name, "character_set_server") == 0)
        return "utf8mb4";
    if (strcmp(name, "collation_server") == 0)
        return "utf8mb4_general_ci";
    if (strcmp(name, "time_zone") == 0)
        return "SYSTEM";
    if (strcmp(name, "system_time_zone") == 0)
        return "UTC";
    if (strcmp(name, "hostname") == 0)
        return "binvault";
    if (strcmp(name, "port") == 0) {
        snprintf(buf, size, "%u", s->srv->port);
        return buf;
    }
    if (strcmp(name, "max_allowed_packet") == 0)
        return "1073741824";
    return NULL;
}

/* Evaluate e into *out (NULL for SQL NULL; may point into buf). On failure fills code/msg. */
static bool
evalExpr(Session *s, const ReplExpr *e, char *buf, size_t size, const char **out, uint16_t *code, char *msg,
         size_t msgSize) {
    switch (e->kind) {
    case REPL_EXPR_NULL: *out = NULL; return true;
    case REPL_EXPR_INT:
    case REPL_EXPR_STRING: *out = e->text; return true;
    case REPL_EXPR_USERVAR: *out = varGet(s, e->text, NULL); return true;
    case REPL_EXPR_SYSVAR:
        if ((*out = sysvarGet(s, e->text, false, buf, size)) != NULL)
            return true;
        *code = ER_UNKNOWN_SYSTEM_VARIABLE;
        snprintf(msg, msgSize, "Unknown system variable '%s'", e->text);
        return false;
    case REPL_EXPR_FUNC:
        if (strcmp(e->text, "unix_timestamp") == 0) {
            snprintf(buf, size, "%lld", (long long)time(NULL));
            *out = buf;
            return true;
        }
        if (strcmp(e->text, "version") == 0) {
            *out = s->srv->version;
            return true;
        }
        if (strcmp(e->text, "connection_id") == 0) {
            snprintf(buf, size, "%" PRIu32, s->connectionId);
            *out = buf;
            return true;
        }
        if (strcmp(e->text, "database") == 0 || strcmp(e->text, "schema") == 0 ||
            strcmp(e->text, "binlog_gtid_pos") == 0) {
            *out = NULL; /* no database; positions are asked as GTIDs */
            return true;
        }
        if (strcmp(e->text, "user") == 0 || strcmp(e->text, "current_user") == 0) {
            snprintf(buf, size, "%s@%s", s->user, s->peer);
            *out = buf;
            return true;
        }
        *code = ER_SP_DOES_NOT_EXIST;
        snprintf(msg, msgSize, "FUNCTION %s does not exist on binvault's replication endpoint", e->text);
        return false;
    }
    return false;
}

/* A printable, bounded copy of a statement for the log. */
static void
logQueryText(const char *what, const uint8_t *q, size_t len, LogLevel level) {
    char text[QUERY_LOG_MAX + 4];
    size_t n = len > QUERY_LOG_MAX ? QUERY_LOG_MAX : len;

    for (size_t i = 0; i < n; i++)
        text[i] = (q[i] < 0x20 || q[i] > 0x7e) ? ' ' : (char)q[i];
    memcpy(text + n, len > n ? "..." : "", len > n ? 4 : 1);
    LOG_AT(level, "%s: %s", what, text);
}

static int
sessionQuery(Session *s, const uint8_t *text, size_t len, Err *err) {
    ReplQuery q;
    char msg[256], buf[REPL_NAME_MAX + 96];
    uint16_t code = 0;
    int rc = 0;

    logQueryText("replica query", text, len, LOG_DEBUG);
    replQueryParse((const char *)text, len, &q);
    switch (q.kind) {
    case REPL_QUERY_UNKNOWN:
        logQueryText("unsupported query from the replica", text, len, LOG_WARN);
        snprintf(msg, sizeof(msg), "binvault's replication endpoint does not support this statement (%s)", q.why);
        rc = sessionSendErr(s, ER_NOT_SUPPORTED_YET, "42000", msg, err);
        break;
    case REPL_QUERY_SET:
        for (size_t i = 0; i < q.count && code == 0; i++) {
            const ReplExpr *t = &q.target[i];
            const char *v;

            if (!evalExpr(s, &q.value[i], buf, sizeof(buf), &v, &code, msg, sizeof(msg)))
                break;
            if (t->kind == REPL_EXPR_USERVAR) {
                if (!varSet(s, t->text, v)) {
                    code = ER_WRONG_VALUE_FOR_VAR;
                    snprintf(msg, sizeof(msg), "too many user variables (at most %d) or a value longer than %d bytes",
                             USER_VARS_MAX, USER_VAR_VALUE_MAX);
                }
            } else if (t->global) {
                code = ER_NOT_SUPPORTED_YET;
                snprintf(msg, sizeof(msg), "binvault's replication endpoint does not change global variables ('%s')",
                         t->text);
            } else if (strcmp(t->text, "skip_replication") == 0) {
                s->skipReplication = v != NULL && strtoll(v, NULL, 10) != 0;
            } else {
                logDebug("ignoring session variable '%s' set by the replica", t->text);
            }
        }
        rc = code ? sessionSendErr(s, code, "HY000", msg, err) : sessionSendOk(s, err);
        break;
    case REPL_QUERY_SELECT: {
        const char *names[REPL_QUERY_MAX_ITEMS], *values[REPL_QUERY_MAX_ITEMS];
        char bufs[REPL_QUERY_MAX_ITEMS][REPL_NAME_MAX + 96];

        for (size_t i = 0; i < q.count && code == 0; i++) {
            names[i] = q.value[i].label;
            evalExpr(s, &q.value[i], bufs[i], sizeof(bufs[i]), &values[i], &code, msg, sizeof(msg));
        }
        if (code != 0) {
            rc = sessionSendErr(s, code, "HY000", msg, err);
        } else {
            replResultSetAppend(s->out, &s->seq, q.count, names, 1, values);
            rc = sessionFlush(s, err);
        }
        break;
    }
    case REPL_QUERY_SHOW_VARIABLES: {
        static const char *const names[] = {"Variable_name", "Value"};
        size_t n = sizeof(sysvarNames) / sizeof(sysvarNames[0]), rows = 0;
        const char *values[2 * sizeof(sysvarNames) / sizeof(sysvarNames[0])];
        char bufs[sizeof(sysvarNames) / sizeof(sysvarNames[0])][32];

        for (size_t i = 0; i < n; i++) {
            if (q.like != NULL && !replLikeMatch(q.like, sysvarNames[i]))
                continue;
            values[2 * rows] = sysvarNames[i];
            values[2 * rows + 1] = sysvarGet(s, sysvarNames[i], true, bufs[i], sizeof(bufs[i]));
            rows++;
        }
        replResultSetAppend(s->out, &s->seq, 2, names, rows, values);
        rc = sessionFlush(s, err);
        break;
    }
    }
    replQueryClear(&q);
    return rc;
}

/* ---- Session: replication commands ---- */

/* A length-prefixed (u8) string of COM_REGISTER_SLAVE. */
static bool
takeShortString(const uint8_t *p, size_t len, size_t *off, char *out, size_t size) {
    size_t n;

    if (*off >= len)
        return false;
    n = p[(*off)++];
    if (n > len - *off)
        return false;
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), (const char *)p + *off);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
    *off += n;
    return true;
}

int
replRegisterSlaveParse(const uint8_t *p, size_t len, ReplRegisterSlave *r, Err *err) {
    char password[8];
    size_t off = 4;

    memset(r, 0, sizeof(*r));
    if (len < 4 || !takeShortString(p, len, &off, r->host, sizeof(r->host)) ||
        !takeShortString(p, len, &off, r->user, sizeof(r->user)) ||
        !takeShortString(p, len, &off, password, sizeof(password)) || len - off < 2 + 4 + 4)
        return errSet(err, ERR_FORMAT, "malformed COM_REGISTER_SLAVE (%zu bytes)", len);
    r->serverId = rdU32(p);
    r->port = rdU16(p + off);
    return 0;
}

static int
sessionRegister(Session *s, const uint8_t *p, size_t len, Err *err) {
    ReplRegisterSlave r;

    if (replRegisterSlaveParse(p, len, &r, err) != 0) {
        sessionSendErr(s, ER_MASTER_FATAL_ERROR_READING_BINLOG, "HY000", "malformed COM_REGISTER_SLAVE", &(Err){0});
        return errSet(err, ERR_FORMAT, "malformed COM_REGISTER_SLAVE from the replica at %s", s->peer);
    }
    s->replicaServerId = r.serverId;
    logInfo("replica registered: server_id %" PRIu32 ", report host '%s', port %u", s->replicaServerId, r.host, r.port);
    pthread_mutex_lock(&s->srv->lock);
    s->srv->status.replicaServerId = s->replicaServerId;
    pthread_mutex_unlock(&s->srv->lock);
    return sessionSendOk(s, err);
}

/* Write framed bytes of a large event: small pieces (packet headers) through the output buffer,
 * the event's bytes straight from the source's buffer, so that nothing of it is copied. */
static int
sockWriteFn(void *ctx, const void *data, size_t len, Err *err) {
    Session *s = ctx;
    const uint8_t *p = data;

    if (len < READ_CHUNK) {
        bufAppend(s->out, data, len);
        return s->out->len >= FLUSH_AT ? sessionFlush(s, err) : 0;
    }
    if (sessionFlush(s, err) != 0)
        return -1;
    while (len > 0) {
        ssize_t n = send(s->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        WaitResult w;

        if (n > 0) {
            p += n;
            len -= (size_t)n;
            pthread_mutex_lock(&s->srv->lock);
            s->srv->status.bytesSent += (uint64_t)n;
            pthread_mutex_unlock(&s->srv->lock);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            s->gone = true;
            return errSetSys(err, ERR_TARGET, errno, "unable to send to the replica at %s", s->peer);
        }
        if ((w = sessionWait(s, POLLOUT, (int)s->srv->writeTimeoutMs)) != WAIT_READY) {
            s->gone = true;
            return errSet(err, ERR_TARGET, "%s",
                          w == WAIT_STOP      ? "the server is stopping"
                          : w == WAIT_TIMEOUT ? "the replica read nothing for the write timeout"
                                              : "the replica closed the connection");
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &s->lastSend);
    return 0;
}

static int
emitEvent(void *ctx, const uint8_t *ev, size_t len, Err *err) {
    Session *s = ctx;
    static const uint8_t ok = 0x00;

    if (len >= DIRECT_EVENT) {
        if (sessionFlush(s, err) != 0)
            return -1;
        return replPacketWrite(sockWriteFn, s, &s->seq, &ok, 1, ev, len, err);
    }
    sessionPacket(s, &ok, 1, ev, len);
    return s->out->len >= FLUSH_AT ? sessionFlush(s, err) : 0;
}

int
replBinlogDumpParse(const uint8_t *p, size_t len, ReplBinlogDump *d, Err *err) {
    memset(d, 0, sizeof(*d));
    if (len < 10 || len - 10 >= sizeof(d->file))
        return errSet(err, ERR_FORMAT, "malformed COM_BINLOG_DUMP (%zu bytes)", len);
    d->startPos = rdU32(p);
    d->flags = rdU16(p + 4);
    d->serverId = rdU32(p + 6);
    memcpy(d->file, p + 10, len - 10);
    d->file[len - 10] = '\0';
    if (strlen(d->file) != len - 10 || strchr(d->file, '/') != NULL)
        return errSet(err, ERR_FORMAT, "COM_BINLOG_DUMP names an invalid binlog file");
    return 0;
}

/* What a COM_BINLOG_DUMP asks for, with the session variables set before it. */
typedef struct DumpRequest {
    ReplStreamConfig cfg;
    MariaGtidPos *connect; /* empty in position mode */
    MariaGtidPos *until;   /* NULL without UNTIL */
    char file[256];
    uint16_t flags;
    uint64_t heartbeatMs;  /* 0 = none */
} DumpRequest;

static void
dumpRequestClear(DumpRequest *r) {
    mariaGtidPosFree(r->connect);
    mariaGtidPosFree(r->until);
    r->connect = r->until = NULL;
}

static int
dumpRequestParse(Session *s, const uint8_t *p, size_t len, DumpRequest *r, Err *err) {
    const char *v;
    bool present;

    ReplBinlogDump dump;

    memset(r, 0, sizeof(*r));
    if (replBinlogDumpParse(p, len, &dump, err) != 0)
        return errPrefix(err, "from the replica at %s", s->peer);
    r->cfg.startPos = dump.startPos;
    r->flags = dump.flags;
    s->replicaServerId = dump.serverId;
    memcpy(r->file, dump.file, sizeof(r->file));
    v = varGet(s, "mariadb_slave_capability", &present);
    if (!present || strtoll(v, NULL, 10) < MARIA_SLAVE_CAPABILITY_GTID)
        return errSet(err, ERR_TARGET,
                      "binvault serves MariaDB GTID binlogs and needs a replica that announces GTID support "
                      "(@mariadb_slave_capability=4, MariaDB 10.0 or later); it announced %s",
                      present ? v : "nothing");
    v = varGet(s, "master_binlog_checksum", &present);
    if (!present)
        r->cfg.connectAlg = BINLOG_CHECKSUM_UNDEF;
    else if (strcasecmp(v, "CRC32") == 0)
        r->cfg.connectAlg = BINLOG_CHECKSUM_CRC32;
    else if (strcasecmp(v, "NONE") == 0)
        r->cfg.connectAlg = BINLOG_CHECKSUM_OFF;
    else
        return errSet(err, ERR_TARGET, "unknown @master_binlog_checksum '%s' (expected CRC32 or NONE)", v);
    r->connect = mariaGtidPosNew();
    v = varGet(s, "slave_connect_state", &present);
    if (present) {
        if (mariaGtidPosParse(r->connect, v, err) != 0)
            return errPrefix(err, "@slave_connect_state");
        r->cfg.gtidMode = true;
        r->cfg.connect = r->connect;
        v = varGet(s, "slave_until_gtid", &present);
        if (present) {
            r->until = mariaGtidPosNew();
            if (mariaGtidPosParse(r->until, v, err) != 0)
                return errPrefix(err, "@slave_until_gtid");
            r->cfg.until = r->until;
        }
    }
    v = varGet(s, "master_heartbeat_period", &present);
    if (present)
        r->heartbeatMs = strtoull(v, NULL, 10) / 1000000u;
    r->cfg.serverId = s->srv->serverId;
    r->cfg.startFile = r->file;
    r->cfg.sendAnnotateRows = (r->flags & DUMP_FLAG_ANNOTATE_ROWS) != 0;
    r->cfg.skipReplication = s->skipReplication;
    r->cfg.replicaServerId = s->replicaServerId;
    return 0;
}

static void
dumpLogStart(const Session *s, const DumpRequest *r) {
    char *from = mariaGtidPosFormat(r->connect);
    char *to = r->until ? mariaGtidPosFormat(r->until) : NULL;

    if (r->cfg.gtidMode)
        logInfo("replica server_id %" PRIu32 " asks for the binlog stream after gtid '%s'%s%s%s, heartbeat %" PRIu64
                " ms", s->replicaServerId, from, to ? " until '" : "", to ? to : "", to ? "'" : "", r->heartbeatMs);
    else
        logInfo("replica server_id %" PRIu32 " asks for the binlog stream at '%s':%" PRIu32 ", heartbeat %" PRIu64
                " ms", s->replicaServerId, r->file[0] ? r->file : "(first)", r->cfg.startPos, r->heartbeatMs);
    bvFree(from);
    bvFree(to);
}

/* Publish the stream's position and counters (the part not published yet). */
static void
dumpPublish(Session *s, const ReplStream *st, bool endOfSource, uint64_t *sentDone, uint64_t *skippedDone) {
    ReplServerStatus *status = &s->srv->status;
    uint64_t sent = replStreamEventsSent(st), skipped = replStreamGroupsSkipped(st);

    pthread_mutex_lock(&s->srv->lock);
    snprintf(status->file, sizeof(status->file), "%s", replStreamFile(st));
    status->pos = replStreamPos(st);
    status->endOfSource = endOfSource;
    status->eventsSent += sent - *sentDone;
    status->groupsSkipped += skipped - *skippedDone;
    pthread_mutex_unlock(&s->srv->lock);
    *sentDone = sent;
    *skippedDone = skipped;
}

static int
sessionSendEof(Session *s, Err *err) {
    Buf *eof = bufNew(8);

    replEofEncode(eof, REPL_STATUS_AUTOCOMMIT);
    sessionPacket(s, eof->data, eof->len, NULL, 0);
    bufFree(eof);
    return sessionFlush(s, err);
}

/* The source has nothing now: a heartbeat when one is due, then wait a little, watching the
 * replica (which sends nothing during a dump but to leave) and the stop request. */
static int
dumpIdle(Session *s, ReplStream *st, uint64_t heartbeatMs, Err *err) {
    struct timespec now;
    uint64_t idle, wait = SOURCE_RETRY_MS;
    WaitResult w;

    clock_gettime(CLOCK_MONOTONIC, &now);
    idle = (uint64_t)(now.tv_sec - s->lastSend.tv_sec) * 1000u + (uint64_t)((now.tv_nsec - s->lastSend.tv_nsec) / 1000000);
    if (heartbeatMs > 0 && idle >= heartbeatMs) {
        if (replStreamHeartbeat(st, err) != 0 || sessionFlush(s, err) != 0)
            return -1;
        idle = 0;
    }
    if (heartbeatMs > 0 && heartbeatMs - idle < wait)
        wait = heartbeatMs - idle;
    w = sessionWait(s, POLLIN, (int)wait);
    if (w == WAIT_TIMEOUT)
        return 0;
    s->gone = true;
    if (w == WAIT_READY && sessionRead(s, 1000, REPL_COMMAND_MAX, err) == 1)
        return errSet(err, ERR_TARGET, "the replica at %s sent command 0x%02x during the binlog dump", s->peer,
                      s->payload->len ? s->payload->data[0] : 0);
    if (w == WAIT_STOP)
        return errSet(err, ERR_TARGET, "the server is stopping");
    if (w == WAIT_GONE)
        return errSet(err, ERR_TARGET, "the replica at %s closed the connection", s->peer);
    return -1; /* sessionRead() said why */
}

/* The dump failed: tell the replica (it stops with error 1236) and the caller. */
static int
dumpFail(Session *s, Err *err) {
    if (!s->gone)
        sessionSendErr(s, ER_MASTER_FATAL_ERROR_READING_BINLOG, "HY000", err->msg, &(Err){0});
    return -1;
}

/* Serve one COM_BINLOG_DUMP: pull events from the source through a ReplStream until the replica
 * leaves, reaches its UNTIL position, the source fails or the server stops. */
static int
sessionDump(Session *s, const uint8_t *p, size_t len, Err *err) {
    ReplServer *srv = s->srv;
    DumpRequest req;
    ReplStream *st = NULL;
    uint64_t sentDone = 0, skippedDone = 0;
    bool atEnd = false;
    int rc = -1;

    if (dumpRequestParse(s, p, len, &req, err) != 0)
        goto done;
    dumpLogStart(s, &req);
    pthread_mutex_lock(&srv->lock);
    srv->status.streaming = true;
    srv->status.untilReached = false;
    srv->status.dumps++;
    srv->status.replicaServerId = s->replicaServerId;
    pthread_mutex_unlock(&srv->lock);

    st = replStreamNew(&req.cfg, emitEvent, s);
    if (srv->source.open(srv->source.data, req.connect, err) != 0) {
        errPrefix(err, "unable to start the binlog stream");
        goto done;
    }
    for (uint64_t n = 1;; n++) {
        const uint8_t *ev;
        size_t evLen;
        int got, fed;

        if (atomic_load(&srv->stopping)) {
            s->gone = true;
            errSet(err, ERR_TARGET, "the server is stopping");
            goto done;
        }
        got = srv->source.next(srv->source.data, &ev, &evLen, err);
        if (got < 0) {
            errPrefix(err, "binlog source");
            goto done;
        }
        atEnd = got == 0;
        if (got == 0) {
            if (sessionFlush(s, err) != 0)
                goto done;
            dumpPublish(s, st, true, &sentDone, &skippedDone);
            if (req.flags & DUMP_FLAG_NON_BLOCK) {
                rc = sessionSendEof(s, err);
                goto done;
            }
            if (dumpIdle(s, st, req.heartbeatMs, err) != 0)
                goto done;
            continue;
        }
        fed = replStreamFeed(st, srv->source.file(srv->source.data), ev, evLen, err);
        if (fed < 0)
            goto done;
        if (fed == 1) {
            logInfo("replica server_id %" PRIu32 " reached its UNTIL position at '%s':%" PRIu64, s->replicaServerId,
                    replStreamFile(st), replStreamPos(st));
            pthread_mutex_lock(&srv->lock);
            srv->status.untilReached = true;
            pthread_mutex_unlock(&srv->lock);
            rc = sessionSendEof(s, err);
            goto done;
        }
        if ((n & 63) == 0)
            dumpPublish(s, st, false, &sentDone, &skippedDone);
    }
done:
    if (rc != 0)
        dumpFail(s, err);
    if (st != NULL) {
        dumpPublish(s, st, atEnd, &sentDone, &skippedDone);
        logInfo("binlog stream to replica server_id %" PRIu32 " ended at '%s':%" PRIu64 ": %" PRIu64
                " events sent, %" PRIu64 " groups skipped", s->replicaServerId, replStreamFile(st), replStreamPos(st),
                replStreamEventsSent(st), replStreamGroupsSkipped(st));
    }
    pthread_mutex_lock(&srv->lock);
    srv->status.streaming = false;
    pthread_mutex_unlock(&srv->lock);
    replStreamFree(st);
    dumpRequestClear(&req);
    return rc;
}

/* ---- Session: the command loop ---- */

static void
sessionRun(ReplServer *srv, int fd, const struct sockaddr_storage *addr) {
    Session s = {0};
    Err err = {0};
    char host[INET6_ADDRSTRLEN] = "?";
    int one = 1;

    s.srv = srv;
    s.fd = fd;
    s.in = bufNew(READ_CHUNK);
    s.payload = bufNew(1024);
    s.out = bufNew(FLUSH_AT + 64 * 1024);
    clock_gettime(CLOCK_MONOTONIC, &s.lastSend);
    if (addr->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, host, sizeof(host));
    else if (addr->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, host, sizeof(host));
    snprintf(s.peer, sizeof(s.peer), "%s", host);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s.connectionId = ++srv->connectionIds;
    logInfo("replica connected from %s (connection %" PRIu32 ")", s.peer, s.connectionId);
    pthread_mutex_lock(&srv->lock);
    srv->status.connected = true;
    srv->status.replicaServerId = 0;
    pthread_mutex_unlock(&srv->lock);

    if (sessionLogin(&s, &err) != 0) {
        pthread_mutex_lock(&srv->lock);
        srv->status.refused++;
        pthread_mutex_unlock(&srv->lock);
        logWarn("%s", err.msg);
        statusSetError(srv, &err);
        goto done;
    }
    logInfo("replica at %s logged in as '%s'", s.peer, s.user);
    pthread_mutex_lock(&srv->lock);
    srv->status.connections++;
    pthread_mutex_unlock(&srv->lock);
    for (;;) {
        const uint8_t *p;
        size_t len;
        int rc;

        if (sessionRead(&s, (int)srv->idleTimeoutMs, REPL_COMMAND_MAX, &err) != 1) {
            if (!s.gone) {
                logWarn("%s", err.msg);
                statusSetError(srv, &err);
            } else {
                logInfo("%s", err.msg);
            }
            break;
        }
        p = s.payload->data;
        len = s.payload->len;
        if (len == 0) {
            logWarn("empty command packet from the replica at %s", s.peer);
            break;
        }
        switch (p[0]) {
        case COM_QUIT:
            logInfo("replica at %s quit", s.peer);
            goto done;
        case COM_PING:
        case COM_INIT_DB:
            rc = sessionSendOk(&s, &err);
            break;
        case COM_QUERY:
            rc = sessionQuery(&s, p + 1, len - 1, &err);
            break;
        case COM_REGISTER_SLAVE:
            rc = sessionRegister(&s, p + 1, len - 1, &err);
            break;
        case COM_BINLOG_DUMP:
            if (sessionDump(&s, p + 1, len - 1, &err) != 0) {
                if (s.gone)
                    logInfo("binlog stream ended: %s", err.msg);
                else {
                    logError("binlog stream failed: %s", err.msg);
                    statusSetError(srv, &err);
                }
            }
            /* As on a real primary, the connection ends with the dump. */
            goto done;
        case COM_BINLOG_DUMP_GTID:
            rc = sessionSendErr(&s, ER_UNKNOWN_COM_ERROR, "08S01",
                                "COM_BINLOG_DUMP_GTID is MySQL's: binvault serves MariaDB replicas (MASTER_USE_GTID)",
                                &err);
            logWarn("the replica at %s sent MySQL's COM_BINLOG_DUMP_GTID", s.peer);
            break;
        default:
            logWarn("unsupported command 0x%02x from the replica at %s", p[0], s.peer);
            {
                char msg[96];

                snprintf(msg, sizeof(msg), "binvault's replication endpoint does not support command 0x%02x", p[0]);
                rc = sessionSendErr(&s, ER_UNKNOWN_COM_ERROR, "08S01", msg, &err);
            }
            break;
        }
        if (rc != 0) {
            if (s.gone)
                logInfo("connection to the replica at %s ended: %s", s.peer, err.msg);
            else
                logWarn("connection to the replica at %s ended: %s", s.peer, err.msg);
            break;
        }
    }
done:
    close(fd);
    for (size_t i = 0; i < s.nVars; i++) {
        bvFree(s.vars[i].name);
        bvFree(s.vars[i].value);
    }
    bufFree(s.in);
    bufFree(s.payload);
    bufFree(s.out);
    pthread_mutex_lock(&srv->lock);
    srv->status.connected = false;
    srv->status.streaming = false;
    pthread_mutex_unlock(&srv->lock);
    logInfo("replica at %s disconnected (connection %" PRIu32 ")", s.peer, s.connectionId);
}

static void *
serverThread(void *arg) {
    ReplServer *srv = arg;

    while (!atomic_load(&srv->stopping)) {
        struct pollfd pfd[2] = {{srv->listenFd, POLLIN, 0}, {srv->stopPipe[0], POLLIN, 0}};
        struct sockaddr_storage addr;
        socklen_t alen = sizeof(addr);
        int fd;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            logError("poll on the replication endpoint failed: %s", strerror(errno));
            break;
        }
        if (pfd[1].revents)
            break;
        if (!(pfd[0].revents & POLLIN))
            continue;
        fd = accept4(srv->listenFd, (struct sockaddr *)&addr, &alen, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                logWarn("accept on the replication endpoint failed: %s", strerror(errno));
            continue;
        }
        sessionRun(srv, fd, &addr);
    }
    pthread_mutex_lock(&srv->lock);
    srv->status.running = false;
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

ReplServer *
replServerNew(const ReplServerConfig *cfg, const ReplServerSource *source, Err *err) {
    struct addrinfo hints = {0}, *ai = NULL;
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    const char *host = cfg->listenHost ? cfg->listenHost : "127.0.0.1";
    char portText[8];
    ReplServer *srv;
    int one = 1, rc;

    if (cfg->user == NULL || cfg->user[0] == '\0' || strlen(cfg->user) > REPL_NAME_MAX) {
        errSet(err, ERR_USAGE, "the replication endpoint needs a user name of 1 to %d characters", REPL_NAME_MAX);
        return NULL;
    }
    if (cfg->password == NULL) {
        errSet(err, ERR_USAGE, "the replication endpoint needs a password");
        return NULL;
    }
    if (source == NULL || source->open == NULL || source->next == NULL || source->file == NULL) {
        errSet(err, ERR_INTERNAL, "the replication endpoint needs a complete event source");
        return NULL;
    }
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    snprintf(portText, sizeof(portText), "%u", cfg->port);
    if ((rc = getaddrinfo(host, portText, &hints, &ai)) != 0) {
        errSet(err, ERR_USAGE, "invalid listen address '%s': %s (expected a numeric IPv4 or IPv6 address)", host,
               gai_strerror(rc));
        return NULL;
    }
    srv = bvCalloc(1, sizeof(*srv));
    srv->listenFd = -1;
    srv->stopPipe[0] = srv->stopPipe[1] = -1;
    pthread_mutex_init(&srv->lock, NULL);
    srv->listenHost = bvStrdup(host);
    srv->user = bvStrdup(cfg->user);
    srv->version = bvStrdup(cfg->version ? cfg->version : REPL_SERVER_VERSION);
    replNativePasswordHash(cfg->password, srv->stage2);
    srv->emptyPassword = cfg->password[0] == '\0';
    srv->serverId = cfg->serverId ? cfg->serverId : REPL_SERVER_DEFAULT_ID;
    srv->idleTimeoutMs = cfg->idleTimeoutMs ? cfg->idleTimeoutMs : DEFAULT_TIMEOUT_MS;
    srv->writeTimeoutMs = cfg->writeTimeoutMs ? cfg->writeTimeoutMs : DEFAULT_TIMEOUT_MS;
    srv->source = *source;
    if (pipe2(srv->stopPipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to create a pipe");
        goto fail;
    }
    srv->listenFd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (srv->listenFd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create a socket for '%s'", host);
        goto fail;
    }
    setsockopt(srv->listenFd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(srv->listenFd, ai->ai_addr, ai->ai_addrlen) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to listen on '%s' port %u", host, cfg->port);
        goto fail;
    }
    if (listen(srv->listenFd, 8) != 0 || getsockname(srv->listenFd, (struct sockaddr *)&bound, &blen) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to listen on '%s' port %u", host, cfg->port);
        goto fail;
    }
    srv->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    freeaddrinfo(ai);
    if (srv->emptyPassword)
        logWarn("the replication endpoint accepts '%s' without a password", srv->user);
    return srv;
fail:
    freeaddrinfo(ai);
    replServerFree(srv);
    return NULL;
}

uint16_t
replServerPort(const ReplServer *s) {
    return s->port;
}

int
replServerStart(ReplServer *s, Err *err) {
    int rc;

    if (s->threadStarted)
        return errSet(err, ERR_INTERNAL, "replication endpoint started twice");
    pthread_mutex_lock(&s->lock);
    s->status.running = true;
    pthread_mutex_unlock(&s->lock);
    if ((rc = pthread_create(&s->thread, NULL, serverThread, s)) != 0) {
        pthread_mutex_lock(&s->lock);
        s->status.running = false;
        pthread_mutex_unlock(&s->lock);
        return errSetSys(err, ERR_INTERNAL, rc, "unable to start the replication endpoint thread");
    }
    pthread_setname_np(s->thread, "bv-replserver");
    s->threadStarted = true;
    logInfo("replication endpoint listening on %s port %u (server_id %" PRIu32 ", version '%s')", s->listenHost,
            s->port, s->serverId, s->version);
    return 0;
}

void
replServerStatus(ReplServer *s, ReplServerStatus *out) {
    pthread_mutex_lock(&s->lock);
    *out = s->status;
    pthread_mutex_unlock(&s->lock);
}

void
replServerStop(ReplServer *s) {
    if (s == NULL)
        return;
    if (!atomic_exchange(&s->stopping, true)) {
        ssize_t n;

        /* Refuse new connections first: a replica that reconnects when its connection closes then
         * gets a refusal and retries, instead of waiting on a connection no one will accept. */
        if (s->listenFd >= 0)
            shutdown(s->listenFd, SHUT_RDWR);
        n = write(s->stopPipe[1], "x", 1);
        (void)n; /* the pipe is empty: a one-byte write cannot fail but for a closed pipe */
    }
    if (s->threadStarted) {
        pthread_join(s->thread, NULL);
        s->threadStarted = false;
    }
    if (s->listenFd >= 0) {
        close(s->listenFd);
        s->listenFd = -1;
    }
}

void
replServerFree(ReplServer *s) {
    if (s == NULL)
        return;
    replServerStop(s);
    if (s->stopPipe[0] >= 0)
        close(s->stopPipe[0]);
    if (s->stopPipe[1] >= 0)
        close(s->stopPipe[1]);
    pthread_mutex_destroy(&s->lock);
    bvFree(s->listenHost);
    bvFree(s->user);
    bvFree(s->version);
    bvFree(s);
}
