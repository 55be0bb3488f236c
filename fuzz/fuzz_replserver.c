/*
 * libFuzzer target for what the replication-protocol server (recover/replserver.h) reads from a
 * replica: packet framing (replPacketTake, with the property that a framed payload reads back
 * whole), the handshake response, the SQL subset (replQueryParse, replLikeMatch), COM_BINLOG_DUMP
 * and COM_REGISTER_SLAVE, length-encoded integers; and the pure stream logic (replStreamFeed with
 * a fuzzed connect / UNTIL position) fed with fuzzed events, and replFdeForStream.
 * The first byte picks the parser; the rest is its input.
 * Seeds: fuzz/seeds-replserver/ (packets a MariaDB 10.11 replica sends, the statements of its
 * I/O thread, events of the fixture binlogs).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binlog/gtid.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/replserver.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The stream logs what a replica would see (info); only errors are of interest here. */
int
LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    logSetLevel(LOG_ERROR);
    return 0;
}

static void
fuzzPackets(const uint8_t *p, size_t len) {
    size_t maxPayload = len > 0 ? (size_t)p[0] * 64 + 16 : 16, off = 1;
    Buf *payload = bufNew(64);
    uint8_t seq;
    size_t consumed;
    Err err;

    if (len == 0) {
        bufFree(payload);
        return;
    }
    while (off < len) {
        int rc;

        payload->len = 0;
        rc = replPacketTake(p + off, len - off, maxPayload, payload, &seq, &consumed, &err);
        if (rc <= 0)
            break;
        if (consumed == 0 || consumed > len - off || payload->len > maxPayload)
            abort();
        off += consumed;
    }
    /* Whatever is framed reads back as the same payload. */
    {
        Buf *framed = bufNew(len + 16);
        uint8_t wseq = p[0];

        payload->len = 0;
        replPacketAppend(framed, &wseq, p, len > 3 ? 3 : len, p + (len > 3 ? 3 : len), len - (len > 3 ? 3 : len));
        if (replPacketTake(framed->data, framed->len, len + 1, payload, &seq, &consumed, &err) != 1 ||
            consumed != framed->len || payload->len != len || memcmp(payload->data, p, len) != 0)
            abort();
        bufFree(framed);
    }
    bufFree(payload);
}

static void
fuzzHandshake(const uint8_t *p, size_t len) {
    ReplHandshakeResponse r;
    Err err;

    if (replHandshakeResponseParse(p, len, &r, &err) == 0) {
        if (r.authLen > sizeof(r.auth) || strlen(r.user) > REPL_NAME_MAX || strlen(r.db) > REPL_NAME_MAX ||
            strlen(r.plugin) > REPL_NAME_MAX)
            abort();
    }
}

static void
fuzzQuery(const uint8_t *p, size_t len) {
    ReplQuery q;
    const uint8_t *nul;
    char *name;

    replQueryParse((const char *)p, len, &q);
    if (q.kind == REPL_QUERY_SHOW_VARIABLES && q.like != NULL) {
        replLikeMatch(q.like, "server_id");
        replLikeMatch(q.like, "binlog_checksum");
    }
    if (q.count > REPL_QUERY_MAX_ITEMS)
        abort();
    replQueryClear(&q);
    /* LIKE on its own: pattern up to the first NUL, name after it. */
    nul = memchr(p, '\0', len);
    if (nul != NULL) {
        char *pattern = bvStrndup((const char *)p, (size_t)(nul - p));

        name = bvStrndup((const char *)nul + 1, len - (size_t)(nul - p) - 1);
        replLikeMatch(pattern, name);
        bvFree(pattern);
        bvFree(name);
    }
}

static void
fuzzCommands(const uint8_t *p, size_t len) {
    ReplBinlogDump d;
    ReplRegisterSlave r;
    uint64_t v;
    Err err;

    if (replBinlogDumpParse(p, len, &d, &err) == 0 && (strlen(d.file) != len - 10 || strchr(d.file, '/') != NULL))
        abort();
    replRegisterSlaveParse(p, len, &r, &err);
    for (size_t off = 0; off < len;) {
        size_t used = replLenencGet(p + off, len - off, &v);

        if (used == 0)
            break;
        if (used > len - off)
            abort();
        off += used;
    }
}

static int
emitCount(void *ctx, const uint8_t *event, size_t len, Err *err) {
    (void)err;
    if (len < 19 || event == NULL)
        abort();
    (*(uint64_t *)ctx)++;
    return 0;
}

/* Config: 1 byte of flags, a NUL-terminated connect position, a NUL-terminated UNTIL position;
 * then events, each as long as its header's size field says (cut to what is left). */
static void
fuzzStream(const uint8_t *p, size_t len) {
    ReplStreamConfig cfg = {0};
    MariaGtidPos *connect = mariaGtidPosNew(), *until = NULL;
    ReplStream *st;
    uint64_t emitted = 0;
    size_t off = 1;
    const char *file = "mariadb-bin.000001";
    Err err;

    if (len < 1)
        goto out;
    cfg.serverId = 1;
    cfg.connectAlg = (p[0] & 3) == 0 ? BINLOG_CHECKSUM_CRC32 : (p[0] & 3) == 1 ? BINLOG_CHECKSUM_OFF : BINLOG_CHECKSUM_UNDEF;
    cfg.gtidMode = (p[0] & 4) != 0;
    cfg.sendAnnotateRows = (p[0] & 8) != 0;
    cfg.skipReplication = (p[0] & 16) != 0;
    cfg.replicaServerId = (p[0] & 32) ? 1 : 2;
    for (int k = 0; k < 2; k++) {
        const uint8_t *nul = off < len ? memchr(p + off, '\0', len - off) : NULL;
        char *text;

        if (nul == NULL)
            goto out;
        text = bvStrndup((const char *)p + off, (size_t)(nul - (p + off)));
        if (k == 0) {
            if (mariaGtidPosParse(connect, text, &err) != 0) {
                bvFree(text);
                goto out;
            }
        } else if (text[0] != '\0') {
            until = mariaGtidPosNew();
            if (mariaGtidPosParse(until, text, &err) != 0) {
                bvFree(text);
                goto out;
            }
        }
        bvFree(text);
        off = (size_t)(nul - p) + 1;
    }
    cfg.connect = connect;
    cfg.until = until;
    cfg.startFile = (p[0] & 64) ? "mariadb-bin.000002" : "";
    cfg.startPos = (p[0] & 128) ? 256 : 4;
    st = replStreamNew(&cfg, emitCount, &emitted);
    while (len - off >= 19) {
        size_t n = rdU32(p + off + 9);
        uint8_t *ev;
        int rc;

        if (n < 19 || n > len - off)
            n = len - off;
        /* The event is rewritten in place by the stream (FDE): feed a copy. */
        ev = bvMalloc(n);
        memcpy(ev, p + off, n);
        if (n >= 19 && rdU32(ev + 9) != n)
            wrU32(ev + 9, (uint32_t)n);
        rc = replStreamFeed(st, ev[4] == 0xff ? "mariadb-bin.000002" : file, ev, n, &err);
        bvFree(ev);
        off += n;
        if (rc != 0)
            break;
        replStreamHeartbeat(st, &err);
    }
    replStreamFile(st);
    replStreamPos(st);
    replStreamEventsSent(st);
    replStreamGroupsSkipped(st);
    replStreamFree(st);
out:
    mariaGtidPosFree(connect);
    mariaGtidPosFree(until);
}

static void
fuzzFde(const uint8_t *p, size_t len) {
    uint8_t *copy = bvMalloc(len + 1);
    Err err;

    memcpy(copy, p, len);
    replFdeForStream(copy, len, len % 2 == 0, &err);
    bvFree(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    switch (data[0] % 6) {
    case 0: fuzzPackets(data + 1, size - 1); break;
    case 1: fuzzHandshake(data + 1, size - 1); break;
    case 2: fuzzQuery(data + 1, size - 1); break;
    case 3: fuzzCommands(data + 1, size - 1); break;
    case 4: fuzzStream(data + 1, size - 1); break;
    default: fuzzFde(data + 1, size - 1); break;
    }
    return 0;
}
