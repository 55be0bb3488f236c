/* What a replica receives for a binlog dump (recover/repl_stream.c, recover/repl_files.c): the
 * artificial events, the FDE rewritten for the stream, and the stream logic over the MariaDB
 * 10.11 fixture files read by the file source: connect state, UNTIL, file positions, errors. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog/event.h"
#include "binlog/gtid.h"
#include "binlog/reader.h"
#include "common/buf.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/mem.h"
#include "recover/replserver.h"
#include "tests/test.h"
#include "tests/unit/test_repl.h"

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
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "holds encrypted events");
    replStreamFree(st);
    collectedFree(&c);

    /* Archived from an encrypting source: its START_ENCRYPTION flagged ignorable (archives of
     * binvault 0.1) or replaced by an ignorable event of type 28. Neither is sent: a MariaDB
     * replica in GTID mode stops at an event outside a transaction without a GTID. */
    for (int type = 0; type < 2; type++) {
        size_t sent;

        st = replStreamNew(&cfg, collect, &c);
        REQUIRE(replStreamFeed(st, "f.1", file + 4, 252, &err) == 0);
        sent = c.n;
        memcpy(bad, file + 256, 19);
        bad[4] = type == 0 ? BINLOG_MARIA_START_ENCRYPTION : BINLOG_IGNORABLE;
        wrU32(bad + 9, 40);
        wrU32(bad + 13, 296);
        wrU16(bad + 17, 0x80);
        memset(bad + 19, 0, 21);
        if (replStreamFeed(st, "f.1", bad, 40, &err) != 0)
            testFail(__FILE__, __LINE__, "type %d: %s", type, err.msg);
        CHECK_INT(c.n, sent);
        replStreamFree(st);
        collectedFree(&c);
    }

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

void
suite_repl_stream(void) {
    testRun("replserver: artificial events parse back", testArtificialEvents);
    testRun("replserver: FDE rewritten for the stream", testFdeForStream);
    testRun("replserver: stream over four files", testStreamFiles);
    testRun("replserver: stream skips the connect state", testStreamConnectState);
    testRun("replserver: stream UNTIL master_gtid_pos", testStreamUntil);
    testRun("replserver: stream from a file position", testStreamPosition);
    testRun("replserver: stream errors", testStreamErrors);
    testRun("replserver: file source errors", testFileSourceErrors);
    testRun("replserver: file source starts where the replica is", testFileSourceStart);
}
