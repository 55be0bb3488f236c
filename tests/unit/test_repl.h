/* What the unit tests of the replication endpoint (tests/unit/test_repl*.c) share: a byte
 * comparison that says where the bytes differ, the fixture binlogs, a handshake response as a
 * client builds it, and a stream run over the fixtures whose events are collected (the server's
 * end-to-end test compares what a replica receives with it). */
#ifndef BV_TESTS_UNIT_TEST_REPL_H
#define BV_TESTS_UNIT_TEST_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/mem.h"
#include "recover/replserver.h"
#include "tests/test.h"

#define NFILES 4
#define MAX_EVENTS 256

static inline void
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
static inline const char *
fixturePath(int i) {
    static char paths[NFILES][512];

    snprintf(paths[i], sizeof(paths[i]), "%s/mariadb-10.11.19-compressed.%06d.binlog", testFixtureDir(), i + 1);
    return paths[i];
}

static inline const char *
fixtureName(int i) {
    const char *p = fixturePath(i);

    return strrchr(p, '/') + 1;
}

/* A HandshakeResponse41 as libmariadb builds it. */
static inline Buf *
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

typedef struct Collected {
    size_t n;
    uint8_t *ev[MAX_EVENTS];
    size_t len[MAX_EVENTS];
    size_t failAt; /* fail the emit with this 1-based index; 0 = never */
} Collected;

static inline int
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

static inline void
collectedFree(Collected *c) {
    for (size_t i = 0; i < c->n; i++)
        bvFree(c->ev[i]);
    c->n = 0;
}

/* Feed the four fixture files through a stream; returns the last replStreamFeed() result. */
static inline int
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

#endif
