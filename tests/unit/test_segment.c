/* Unit tests of archive/segment: names, metadata JSON, writer and verifying reader, corruption. */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "archive/segment.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/mem.h"
#include "tests/test.h"

#define FIXTURE_MARIA "mariadb-10.11.19-compressed.000001.binlog"
#define FIXTURE_MYSQL "mysql-8.0.45-gtid.000001.binlog"

/* ---- helpers ---------------------------------------------------------------------------------- */

/* An object in memory served by ranged reads, like a store: a range past the end is an error. */
typedef struct MemObject {
    const uint8_t *data;
    size_t len;
} MemObject;

static IoRead *
memOpen(void *data, uint64_t offset, uint64_t length, Err *err) {
    MemObject *o = data;

    if (offset > o->len || length > o->len - offset) {
        errSet(err, ERR_FORMAT, "range of %llu bytes from offset %llu is past the end (%zu bytes)",
               (unsigned long long)length, (unsigned long long)offset, o->len);
        return NULL;
    }
    return ioReadMemNew(o->data + offset, (size_t)length);
}

static void
sha256Hex(const void *data, size_t len, char *hex) {
    uint8_t d[CRYPTO_SHA256_LEN];

    cryptoSha256(data, len, d);
    cryptoHexEncode(d, sizeof(d), hex);
}

/* Segment of the events of a fixture file from `from` (an event start; 0 = after the FDE) to its
 * end, written at `path`; the file's bytes go to *file. Returns 0 and *meta. */
static int
buildFromFixture(const char *fixture, uint64_t from, uint64_t seq, const char *path, SegmentMeta *meta,
                 uint8_t **file, size_t *fileLen) {
    char fpath[1024];
    uint8_t *data;
    size_t len;
    BinlogReader *r;
    BinlogTxnFramer *framer;
    SegmentWriter *w = NULL;
    SegmentMeta m = {0};
    BinlogEvent ev;
    Err err = {0};
    int rc;

    snprintf(fpath, sizeof(fpath), "%s/%s", testFixtureDir(), fixture);
    data = testReadFile(fpath, &len);
    if (data == NULL) {
        testFail(__FILE__, __LINE__, "unable to read fixture %s", fpath);
        return -1;
    }
    r = binlogReaderNew(BINLOG_READER_FILE, 0);
    framer = binlogTxnFramerNew(1024);
    binlogReaderFeed(r, data, len);
    m.seq = seq;
    m.serverId = 11;
    snprintf(m.file, sizeof(m.file), "%s", "mariadb-bin.000001");
    while ((rc = binlogReaderNext(r, &ev, &err)) == 1) {
        uint64_t pos = binlogReaderEventOffset(r);
        int st;

        if (w == NULL) {
            BV_ASSERT(ev.h.type == BINLOG_FORMAT_DESCRIPTION);
            m.flavour = binlogReaderFormat(r)->flavour;
            m.startPos = from ? from : pos + ev.h.size;
            w = segmentWriterNew(path, &m, ev.data, ev.h.size, &err);
            if (w == NULL)
                break;
            st = binlogTxnFramerPush(framer, binlogReaderFormat(r), &ev, pos, &err);
            continue;
        }
        st = binlogTxnFramerPush(framer, binlogReaderFormat(r), &ev, pos, &err);
        BV_ASSERT(st >= 0);
        if (pos < m.startPos)
            continue;
        if (segmentWriterAppend(w, ev.data, ev.h.size, pos + ev.h.size, &err) != 0) {
            rc = -1;
            break;
        }
        if ((st & 0x0f) == BINLOG_TXN_END) {
            const BinlogTxn *t = binlogTxnFramerDone(framer);
            char *state = binlogTxnFramerGtidState(framer);

            segmentWriterTransaction(w, t->gtid, t->commitTimeUs, state);
            bvFree(state);
        }
    }
    if (rc == 0 && w != NULL)
        rc = segmentWriterSeal(w, false, meta, &err);
    else
        rc = -1;
    if (rc != 0)
        testFail(__FILE__, __LINE__, "building a segment of %s: %s", fixture, err.msg);
    segmentWriterFree(w);
    binlogTxnFramerFree(framer);
    binlogReaderFree(r);
    *file = data;
    *fileLen = len;
    return rc;
}

/* Read a whole segment object; returns 0 when every layer verifies, -1 with *err otherwise.
 * Counts events into *events when not NULL. */
static int
readAll(const char *name, const uint8_t *obj, size_t len, uint64_t *events, Err *err) {
    MemObject o = {obj, len};
    SegmentReader *r = segmentReaderNew(name, memOpen, &o, len, err);
    BinlogEvent ev;
    uint64_t pos, n = 0;
    int rc;

    if (r == NULL)
        return -1;
    while ((rc = segmentReaderNext(r, &ev, &pos, err)) == 1)
        n++;
    segmentReaderFree(r);
    if (events != NULL)
        *events = n;
    return rc;
}

/* Replace the trailer of a segment object with `json`, with a correct length and CRC. */
static uint8_t *
withTrailer(const uint8_t *obj, size_t len, const char *json, size_t *outLen) {
    uint32_t tlen = rdU32(obj + len - 16);
    size_t prefix = len - 16 - tlen, jlen = strlen(json);
    uint8_t *out = bvMalloc(prefix + jlen + 16);

    memcpy(out, obj, prefix);
    memcpy(out + prefix, json, jlen);
    wrU32(out + prefix + jlen, (uint32_t)jlen);
    wrU32(out + prefix + jlen + 4, (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)json, (uInt)jlen));
    memcpy(out + prefix + jlen + 8, SEGMENT_END_MAGIC, 8);
    *outLen = prefix + jlen + 16;
    return out;
}

/* The trailer of an object, re-serialised after `edit` changed its metadata. */
static uint8_t *
editTrailer(const uint8_t *obj, size_t len, void (*edit)(SegmentMeta *), size_t *outLen) {
    uint32_t tlen = rdU32(obj + len - 16);
    SegmentMeta m;
    Err err = {0};
    Buf *json = bufNew(0);
    uint8_t *out;

    BV_ASSERT(segmentMetaFromJson((const char *)obj + len - 16 - tlen, tlen, false, &m, &err) == 0);
    edit(&m);
    segmentMetaToJson(&m, false, json);
    bufAppend(json, "", 1);
    out = withTrailer(obj, len, (const char *)json->data, outLen);
    bufFree(json);
    segmentMetaClear(&m);
    return out;
}

static const char *
segName(void) {
    return "segments/0000000000000001-mariadb-bin.000001-0000000256.bvs";
}

/* ---- names and metadata ----------------------------------------------------------------------- */

static void
testName(void) {
    char name[SEGMENT_NAME_MAX], file[SEGMENT_FILE_MAX];
    uint64_t seq, start;
    SegmentNaming naming;

    /* Formats 1 and 2: every segment in segments/ itself. */
    segmentName(7, "mariadb-bin.000002", 256, SEGMENT_NAMING_FLAT, name, sizeof(name));
    CHECK_STR(name, "segments/0000000000000007-mariadb-bin.000002-0000000256.bvs");
    REQUIRE(segmentNameParse(name, &seq, file, sizeof(file), &start, &naming) == 0);
    CHECK_INT(seq, 7);
    CHECK_STR(file, "mariadb-bin.000002");
    CHECK_INT(start, 256);
    CHECK_INT(naming, SEGMENT_NAMING_FLAT);
    segmentName(1234567890123ull, "binlog.000001", 12345678901ull, SEGMENT_NAMING_FLAT, name, sizeof(name));
    CHECK_STR(name, "segments/0001234567890123-binlog.000001-12345678901.bvs");
    REQUIRE(segmentNameParse(name, &seq, file, sizeof(file), &start, NULL) == 0);
    CHECK_INT(seq, 1234567890123ull);
    CHECK_INT(start, 12345678901ull);
    /* Format 3: in the directory of the seq's group of 10,000. */
    segmentName(7, "mariadb-bin.000002", 256, SEGMENT_NAMING_GROUPED, name, sizeof(name));
    CHECK_STR(name, "segments/000000000000/0000000000000007-mariadb-bin.000002-0000000256.bvs");
    REQUIRE(segmentNameParse(name, &seq, file, sizeof(file), &start, &naming) == 0);
    CHECK_INT(seq, 7);
    CHECK_STR(file, "mariadb-bin.000002");
    CHECK_INT(start, 256);
    CHECK_INT(naming, SEGMENT_NAMING_GROUPED);
    segmentName(1234567890123ull, "binlog.000001", 12345678901ull, SEGMENT_NAMING_GROUPED, name, sizeof(name));
    CHECK_STR(name, "segments/000123456789/0001234567890123-binlog.000001-12345678901.bvs");
    REQUIRE(segmentNameParse(name, &seq, file, sizeof(file), &start, NULL) == 0);
    CHECK_INT(seq, 1234567890123ull);
    CHECK_INT(start, 12345678901ull);
    segmentName(20000, "b.1", 4, SEGMENT_NAMING_GROUPED, name, sizeof(name));
    CHECK_STR(name, "segments/000000000002/0000000000020000-b.1-0000000004.bvs");
    /* A file name with dashes and no extension. */
    segmentName(3, "my-host-bin-x", 4, SEGMENT_NAMING_GROUPED, name, sizeof(name));
    REQUIRE(segmentNameParse(name, &seq, file, sizeof(file), &start, NULL) == 0);
    CHECK_STR(file, "my-host-bin-x");
    CHECK_INT(start, 4);
    /* The longest file name and position fit. */
    {
        char longFile[SEGMENT_FILE_MAX];

        memset(longFile, 'a', sizeof(longFile) - 1);
        longFile[sizeof(longFile) - 1] = '\0';
        segmentName(9999999999999999ull, longFile, UINT64_MAX, SEGMENT_NAMING_GROUPED, name, sizeof(name));
        REQUIRE(segmentNameParse(name, &seq, file, sizeof(file), &start, NULL) == 0);
        CHECK_INT(start, UINT64_MAX);
        CHECK_STR(file, longFile);
    }

    static const char *const bad[] = {
        "",
        "segments/",
        "index/0000000000000001-0000000000000002.bvi",
        "segments/000000000000001-mariadb-bin.000001-0000000256.bvs",   /* 15-digit seq */
        "segments/00000000000000001-mariadb-bin.000001-0000000256.bvs", /* 17 digits */
        "segments/0000000000000001-mariadb-bin.000001-000000256.bvs",   /* 9-digit pos */
        "segments/0000000000000001-mariadb-bin.000001-0000000256.bvs.tmp",
        "segments/0000000000000001-mariadb-bin.000001-0000000256",
        "segments/0000000000000001--0000000256.bvs",
        "segments/0000000000000001-.hidden-0000000256.bvs",
        "segments/0000000000000001-a/b-0000000256.bvs",
        "segments/0000000000000001-x.tmp.1-0000000256.bvs",
        "segments/00000000000000x1-mariadb-bin.000001-0000000256.bvs",
        "segments/0000000000000001-mariadb-bin.000001-00000002a6.bvs",
        "segments/0000000000000001-mariadb-bin.000001-99999999999999999999999.bvs",
        "xsegments/0000000000000001-mariadb-bin.000001-0000000256.bvs",
        /* grouped: the directory must be the seq's group, of 12 digits */
        "segments/000000000001/0000000000000007-mariadb-bin.000002-0000000256.bvs",
        "segments/000000000000/0000000000010000-mariadb-bin.000002-0000000256.bvs",
        "segments/00000000000/0000000000000007-mariadb-bin.000002-0000000256.bvs",
        "segments/0000000000000/0000000000000007-mariadb-bin.000002-0000000256.bvs",
        "segments/00000000000x/0000000000000007-mariadb-bin.000002-0000000256.bvs",
        "segments/000000000000/000000000000/0000000000000007-mariadb-bin.000002-0000000256.bvs",
        "segments/000000000000/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (segmentNameParse(bad[i], &seq, file, sizeof(file), &start, NULL) == 0)
            testFail(__FILE__, __LINE__, "'%s' parsed as a segment name", bad[i]);

    /* Start-after names: between every name of seq from - 1 and those of seq from, in both namings. */
    {
        char after[SEGMENT_NAME_MAX], before[SEGMENT_NAME_MAX], at[SEGMENT_NAME_MAX];
        static const uint64_t froms[] = {2, 9999, 10000, 10001, 123456789};

        segmentListAfter(1, SEGMENT_NAMING_GROUPED, after, sizeof(after));
        CHECK_STR(after, "");
        for (size_t i = 0; i < sizeof(froms) / sizeof(froms[0]); i++)
            for (int g = 0; g < 2; g++) {
                SegmentNaming n = g ? SEGMENT_NAMING_GROUPED : SEGMENT_NAMING_FLAT;

                segmentListAfter(froms[i], n, after, sizeof(after));
                segmentName(froms[i] - 1, "mariadb-bin.999999", 99999999999ull, n, before, sizeof(before));
                segmentName(froms[i], "a", 4, n, at, sizeof(at));
                CHECK(strcmp(before, after) < 0);
                CHECK(strcmp(after, at) < 0);
            }
    }

    CHECK(segmentFileCompare("mariadb-bin.000009", "mariadb-bin.000010") < 0);
    CHECK(segmentFileCompare("mariadb-bin.999999", "mariadb-bin.1000000") < 0);
    CHECK(segmentFileCompare("mariadb-bin.000010", "mariadb-bin.000010") == 0);
    CHECK(segmentFileCompare("mariadb-bin.000011", "mariadb-bin.000010") > 0);
    CHECK(segmentFileCompare("a-bin.000011", "b-bin.000001") < 0);
    CHECK(segmentFileNameValid("binlog.000001"));
    CHECK(!segmentFileNameValid(""));
    CHECK(!segmentFileNameValid("../x"));
    CHECK(!segmentFileNameValid("a b"));
}

static void
fillMeta(SegmentMeta *m) {
    memset(m, 0, sizeof(*m));
    m->seq = 42;
    m->flavour = BINLOG_FLAVOUR_MARIADB;
    m->serverId = 7;
    snprintf(m->serverVersion, sizeof(m->serverVersion), "10.11.19-MariaDB-log");
    snprintf(m->file, sizeof(m->file), "mariadb-bin.000003");
    m->startPos = 256;
    m->endPos = 1000;
    m->fdeLen = 252;
    m->contentLen = 252 + 744;
    memset(m->contentSha256, 'a', 64);
    m->gtidStart = bvStrdup("0-1-100,2-1-5");
    m->gtidEnd = bvStrdup("0-1-110,2-1-5");
    snprintf(m->firstGtid, sizeof(m->firstGtid), "0-1-101");
    snprintf(m->lastGtid, sizeof(m->lastGtid), "0-1-110");
    m->firstTimeUs = 1795231130000000ull;
    m->lastTimeUs = 1795231131000000ull;
    m->events = 40;
    m->transactions = 10;
    m->endsFile = true;
    snprintf(m->created, sizeof(m->created), "2026-11-21T04:30:00Z");
    segmentName(m->seq, m->file, m->startPos, SEGMENT_NAMING_GROUPED, m->name, sizeof(m->name));
    m->size = 777;
    memset(m->sha256, 'b', 64);
}

static void
testMetaJson(void) {
    SegmentMeta m, back;
    Buf *json = bufNew(0), *again = bufNew(0);
    Err err = {0};

    fillMeta(&m);
    segmentMetaToJson(&m, true, json);
    REQUIRE(segmentMetaFromJson((const char *)json->data, json->len, true, &back, &err) == 0);
    segmentMetaToJson(&back, true, again);
    CHECK_INT(again->len, json->len);
    CHECK(memcmp(again->data, json->data, json->len) == 0);
    CHECK_STR(back.gtidEnd, "0-1-110,2-1-5");
    CHECK_INT(back.lastTimeUs, 1795231131000000ull);
    CHECK(back.endsFile);
    CHECK_INT(back.flavour, BINLOG_FLAVOUR_MARIADB);
    segmentMetaClear(&back);

    /* A trailer has no object members; an index line needs them. */
    bufClear(json);
    segmentMetaToJson(&m, false, json);
    {
        char *text = bvStrndup((const char *)json->data, json->len);

        CHECK(strstr(text, "\"sha256\"") == NULL);
        bvFree(text);
    }
    REQUIRE(segmentMetaFromJson((const char *)json->data, json->len, false, &back, &err) == 0);
    segmentMetaClear(&back);
    CHECK(segmentMetaFromJson((const char *)json->data, json->len, true, &back, &err) != 0);
    CHECK_MSG(err.msg, "'name'");

    /* Unknown members are ignored; every required one is required. */
    bufClear(json);
    segmentMetaToJson(&m, true, json);
    {
        char *text = bvStrndup((const char *)json->data, json->len);
        char *withExtra = bvSprintf("{\"future_member\":[1,2,{\"x\":null}],%s", text + 1);

        CHECK(segmentMetaFromJson(withExtra, strlen(withExtra), true, &back, &err) == 0);
        segmentMetaClear(&back);
        bvFree(withExtra);
        static const char *const members[] = {"version", "seq", "flavour", "server_id", "server_uuid",
                                              "server_version", "file", "start_pos", "end_pos", "fde_len",
                                              "content_len", "content_sha256", "gtid_start", "gtid_end",
                                              "first_gtid", "last_gtid", "first_time_us", "last_time_us",
                                              "events", "transactions", "ends_file", "created", "name", "size",
                                              "sha256"};
        for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
            char key[64], *copy = bvStrdup(text), *p;

            snprintf(key, sizeof(key), "\"%s\":", members[i]);
            p = strstr(copy, key);
            REQUIRE(p != NULL);
            p[1] = 'X'; /* rename the member */
            if (segmentMetaFromJson(copy, strlen(copy), true, &back, &err) == 0) {
                testFail(__FILE__, __LINE__, "accepted without '%s'", members[i]);
                segmentMetaClear(&back);
            } else if (strstr(err.msg, members[i]) == NULL) {
                testFail(__FILE__, __LINE__, "message for missing '%s': %s", members[i], err.msg);
            }
            bvFree(copy);
        }
        bvFree(text);
    }

    /* Inconsistent values. */
    {
        SegmentMeta bad;

        static const struct {
            const char *what, *expect;
        } cases[] = {{"version", "version 2"}, {"content_len", "content_len"}, {"name", "'name'"},
                     {"file", "'file'"},       {"seq", "'seq'"},              {"range", "range"},
                     {"uuid", "server_uuid"},  {"sha", "content_sha256"}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char *text;

            fillMeta(&bad);
            bufClear(json);
            if (strcmp(cases[i].what, "content_len") == 0)
                bad.contentLen++;
            else if (strcmp(cases[i].what, "name") == 0)
                bad.name[10] = '9';
            else if (strcmp(cases[i].what, "file") == 0)
                snprintf(bad.file, sizeof(bad.file), "../etc");
            else if (strcmp(cases[i].what, "seq") == 0)
                bad.seq = 0;
            else if (strcmp(cases[i].what, "range") == 0)
                bad.startPos = 2;
            else if (strcmp(cases[i].what, "sha") == 0)
                bad.contentSha256[3] = 'G';
            segmentMetaToJson(&bad, true, json);
            text = bvStrndup((const char *)json->data, json->len);
            if (strcmp(cases[i].what, "version") == 0) {
                char *p = strstr(text, "\"version\":1");

                p[10] = '2';
            } else if (strcmp(cases[i].what, "uuid") == 0) {
                char *p = strstr(text, "\"server_uuid\":\"\"");
                char *longer = bvSprintf("%.*s\"server_uuid\":\"%s\"%s", (int)(p - text), text,
                                         "0123456789012345678901234567890123456789", p + 16);

                bvFree(text);
                text = longer;
            }
            if (segmentMetaFromJson(text, strlen(text), true, &back, &err) == 0) {
                testFail(__FILE__, __LINE__, "accepted a bad %s", cases[i].what);
                segmentMetaClear(&back);
            } else if (strstr(err.msg, cases[i].expect) == NULL) {
                testFail(__FILE__, __LINE__, "bad %s: message '%s'", cases[i].what, err.msg);
            }
            bvFree(text);
            segmentMetaClear(&bad);
        }
    }
    CHECK(segmentMetaFromJson("[1]", 3, false, &back, &err) != 0);
    CHECK(segmentMetaFromJson("{", 1, false, &back, &err) != 0);
    segmentMetaClear(&m);
    bufFree(json);
    bufFree(again);
}

/* ---- round trips ------------------------------------------------------------------------------ */

static void
roundTrip(const char *fixture, BinlogFlavour flavour, const char *firstGtid, const char *lastGtid) {
    char path[1024], want[65];
    SegmentMeta meta = {0};
    uint8_t *file = NULL, *obj;
    size_t fileLen, objLen;
    SegmentReader *r;
    BinlogEvent ev;
    Err err = {0};
    uint64_t pos, expectPos, count = 0;
    const uint8_t *fde;
    size_t fdeLen;
    int rc;

    snprintf(path, sizeof(path), "%s/seg.tmp", testTmpDir());
    if (buildFromFixture(fixture, 0, 1, path, &meta, &file, &fileLen) != 0) {
        bvFree(file);
        return;
    }
    fdeLen = rdU32(file + 4 + 9);
    CHECK_INT(meta.flavour, flavour);
    CHECK_INT(meta.startPos, 4 + fdeLen);
    CHECK_INT(meta.endPos, fileLen);
    CHECK_INT(meta.fdeLen, fdeLen);
    CHECK_INT(meta.contentLen, fileLen - 4);
    CHECK_STR(meta.firstGtid, firstGtid);
    CHECK_STR(meta.lastGtid, lastGtid);
    CHECK(meta.transactions > 0);
    CHECK(meta.firstTimeUs > 0 && meta.lastTimeUs >= meta.firstTimeUs);
    CHECK(strncmp(meta.name, "segments/000000000000/0000000000000001-mariadb-bin.000001-", 58) == 0);
    /* The content is the file without its magic (the FDE's in-use flag was clear already). */
    sha256Hex(file + 4, fileLen - 4, want);
    CHECK_STR(meta.contentSha256, want);
    obj = testReadFile(path, &objLen);
    REQUIRE(obj != NULL);
    CHECK_INT(objLen, meta.size);
    sha256Hex(obj, objLen, want);
    CHECK_STR(meta.sha256, want);
    CHECK(memcmp(obj, SEGMENT_MAGIC, 8) == 0);
    CHECK(memcmp(obj + objLen - 8, "BVSEGEND", 8) == 0);

    /* The trailer alone, then everything through the path callback. */
    {
        SegmentMeta m2;

        REQUIRE(segmentReadMeta(meta.name, segmentOpenPath, path, objLen, &m2, &err) == 0);
        CHECK_INT(m2.seq, 1);
        CHECK_INT(m2.endPos, meta.endPos);
        CHECK_STR(m2.gtidEnd, meta.gtidEnd);
        CHECK_STR(m2.name, meta.name);
        CHECK_INT(m2.size, objLen);
        CHECK_STR(m2.sha256, "");
        segmentMetaClear(&m2);
    }
    r = segmentReaderNew(meta.name, segmentOpenPath, path, objLen, &err);
    if (r == NULL) {
        testFail(__FILE__, __LINE__, "segmentReaderNew: %s", err.msg);
        goto out;
    }
    fde = segmentReaderFde(r, &fdeLen);
    CHECK_INT(fdeLen, meta.fdeLen);
    CHECK(memcmp(fde, file + 4, fdeLen) == 0);
    CHECK(segmentReaderFormat(r)->flavour == flavour);
    CHECK(segmentReaderSha256(r) == NULL);
    expectPos = meta.startPos;
    while ((rc = segmentReaderNext(r, &ev, &pos, &err)) == 1) {
        CHECK_INT(pos, expectPos);
        CHECK(pos + ev.h.size <= fileLen && memcmp(ev.data, file + pos, ev.h.size) == 0);
        expectPos += ev.h.size;
        count++;
    }
    if (rc != 0)
        testFail(__FILE__, __LINE__, "segmentReaderNext: %s", err.msg);
    CHECK_INT(expectPos, fileLen);
    CHECK_INT(count, meta.events);
    CHECK(segmentReaderSha256(r) != NULL && strcmp(segmentReaderSha256(r), meta.sha256) == 0);
    CHECK_INT(segmentReaderNext(r, &ev, &pos, &err), 0);
    segmentReaderFree(r);
out:
    bvFree(obj);
    bvFree(file);
    segmentMetaClear(&meta);
}

static void
testRoundTripMariadb(void) {
    roundTrip(FIXTURE_MARIA, BINLOG_FLAVOUR_MARIADB, "0-11-1", "0-11-9");
}

static void
testRoundTripMysql(void) {
    roundTrip(FIXTURE_MYSQL, BINLOG_FLAVOUR_MYSQL, "396e294c-1ca4-11f1-9ae7-00155da79c6b:1",
              "396e294c-1ca4-11f1-9ae7-00155da79c6b:4");
}

/* A segment that starts mid-file: positions continue from start_pos; GTID state seeded. */
static void
testMidFile(void) {
    char path[1024];
    SegmentMeta meta = {0};
    uint8_t *file = NULL;
    size_t fileLen;
    SegmentReader *r;
    BinlogEvent ev;
    Err err = {0};
    uint64_t pos, first = 0;

    snprintf(path, sizeof(path), "%s/mid.tmp", testTmpDir());
    /* 1208: the GTID event of 0-11-4 in the fixture. */
    REQUIRE(buildFromFixture(FIXTURE_MARIA, 1208, 5, path, &meta, &file, &fileLen) == 0);
    CHECK_INT(meta.startPos, 1208);
    CHECK_STR(meta.firstGtid, "0-11-4");
    CHECK_INT(meta.contentLen, meta.fdeLen + fileLen - 1208);
    r = segmentReaderNew(meta.name, segmentOpenPath, path, meta.size, &err);
    REQUIRE(r != NULL);
    CHECK_INT(segmentReaderNext(r, &ev, &first, &err), 1);
    CHECK_INT(first, 1208);
    CHECK_INT(ev.h.type, BINLOG_MARIA_GTID);
    while (segmentReaderNext(r, &ev, &pos, &err) == 1)
        ;
    CHECK(segmentReaderSha256(r) != NULL);
    segmentReaderFree(r);
    bvFree(file);
    segmentMetaClear(&meta);
}

/* Writer rules: O_EXCL, event continuity, unsealed files removed, in-use flag cleared. */
static void
testWriterRules(void) {
    char fpath[1024], path[1024];
    uint8_t *file, fde[512], ev[64];
    size_t len, fdeLen;
    SegmentMeta m = {0}, sealed;
    SegmentWriter *w;
    Err err = {0};
    struct stat st;

    snprintf(fpath, sizeof(fpath), "%s/%s", testFixtureDir(), FIXTURE_MARIA);
    file = testReadFile(fpath, &len);
    REQUIRE(file != NULL);
    fdeLen = rdU32(file + 4 + 9);
    REQUIRE(fdeLen <= sizeof(fde));
    memcpy(fde, file + 4, fdeLen);
    binlogFdeSetInUse(fde, true);
    m.seq = 1;
    m.flavour = BINLOG_FLAVOUR_MARIADB;
    snprintf(m.file, sizeof(m.file), "mariadb-bin.000001");
    m.startPos = 4 + fdeLen;
    m.gtidStart = "0-11-0";
    snprintf(path, sizeof(path), "%s/w.tmp", testTmpDir());

    w = segmentWriterNew(path, &m, fde, fdeLen, &err);
    REQUIRE(w != NULL);
    CHECK(segmentWriterNew(path, &m, fde, fdeLen, &err) == NULL);
    CHECK_MSG(err.msg, "unable to create");
    /* An event that does not follow the previous end is refused. */
    memcpy(ev, file + 4 + fdeLen, 29);
    CHECK(segmentWriterAppend(w, file + 4 + fdeLen, rdU32(file + 4 + fdeLen + 9), 99999, &err) != 0);
    CHECK(segmentWriterAppend(w, ev, 10, 4 + fdeLen + 10, &err) != 0);
    segmentWriterSetGtidStart(w, "0-11-9");
    CHECK_INT(segmentWriterTransactions(w), 0);
    CHECK_INT(segmentWriterEndPos(w), 4 + fdeLen);
    CHECK_INT(segmentWriterContentBytes(w), fdeLen);
    /* Abandoned: the file goes. */
    segmentWriterFree(w);
    CHECK(stat(path, &st) != 0);

    w = segmentWriterNew(path, &m, fde, fdeLen, &err);
    REQUIRE(w != NULL);
    segmentWriterSetGtidStart(w, "0-11-9");
    REQUIRE(segmentWriterSeal(w, true, &sealed, &err) == 0);
    segmentWriterFree(w);
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == sealed.size);
    CHECK_STR(sealed.gtidStart, "0-11-9");
    CHECK_STR(sealed.gtidEnd, "0-11-9");
    CHECK_INT(sealed.transactions, 0);
    CHECK_INT(sealed.events, 0);
    CHECK(sealed.endsFile);
    CHECK_INT(sealed.endPos, sealed.startPos);
    {
        SegmentReader *r = segmentReaderNew(sealed.name, segmentOpenPath, path, sealed.size, &err);
        const uint8_t *got;
        size_t gotLen;
        BinlogEvent e;
        uint64_t pos;

        REQUIRE(r != NULL);
        got = segmentReaderFde(r, &gotLen);
        CHECK_INT(gotLen, fdeLen);
        CHECK((rdU16(got + 17) & BINLOG_FLAG_IN_USE) == 0);
        CHECK(memcmp(got, file + 4, fdeLen) == 0);
        CHECK_INT(segmentReaderNext(r, &e, &pos, &err), 0);
        segmentReaderFree(r);
    }
    segmentMetaClear(&sealed);
    bvFree(file);
}

/* ---- corruption ------------------------------------------------------------------------------- */

typedef struct Built {
    uint8_t *obj;
    size_t len;
    uint32_t tlen;
    size_t frameStart, frameEnd; /* [start, end) of the lz4 frame */
} Built;

static int
buildObject(Built *b) {
    char path[1024];
    SegmentMeta meta = {0};
    uint8_t *file = NULL;
    size_t fileLen;

    snprintf(path, sizeof(path), "%s/c.tmp", testTmpDir());
    if (buildFromFixture(FIXTURE_MARIA, 0, 1, path, &meta, &file, &fileLen) != 0)
        return -1;
    bvFree(file);
    segmentMetaClear(&meta);
    b->obj = testReadFile(path, &b->len);
    BV_ASSERT(b->obj != NULL);
    b->tlen = rdU32(b->obj + b->len - 16);
    b->frameStart = 8;
    b->frameEnd = b->len - 16 - b->tlen;
    return 0;
}

/* Every single-bit flip anywhere in the object is detected, by the layer it hits. */
static void
testFlippedBits(void) {
    Built b;
    Err err = {0};
    uint64_t events;
    unsigned missed = 0, lz4 = 0, trailer = 0, magic = 0;

    REQUIRE(buildObject(&b) == 0);
    REQUIRE(readAll(segName(), b.obj, b.len, &events, &err) == 0);
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit += (i >= b.frameStart && i < b.frameEnd) ? 3 : 1) {
            b.obj[i] ^= (uint8_t)(1 << bit);
            if (readAll(segName(), b.obj, b.len, NULL, &err) == 0) {
                if (missed++ < 5)
                    testFail(__FILE__, __LINE__, "flip of bit %d at offset %zu of %zu went unnoticed", bit, i, b.len);
            } else {
                CHECK(strncmp(err.msg, "segment 'segments/", 18) == 0);
                if (i < 8)
                    magic += strstr(err.msg, "magic") != NULL;
                else if (i < b.frameEnd)
                    lz4 += strstr(err.msg, "lz4 frame") != NULL || strstr(err.msg, "sha256") != NULL ||
                           strstr(err.msg, "content") != NULL;
                else
                    trailer += strstr(err.msg, "trailer") != NULL;
            }
            b.obj[i] ^= (uint8_t)(1 << bit);
        }
    }
    CHECK_INT(missed, 0);
    CHECK_INT(magic, 64);
    CHECK_INT(trailer, (b.tlen + 16) * 8);
    CHECK(lz4 > 0);
    /* Specific layers. */
    b.obj[b.frameStart + (b.frameEnd - b.frameStart) / 2] ^= 0x10;
    CHECK(readAll(segName(), b.obj, b.len, NULL, &err) != 0);
    CHECK_MSG(err.msg, "lz4 frame");
    b.obj[b.frameStart + (b.frameEnd - b.frameStart) / 2] ^= 0x10;
    b.obj[b.frameEnd + 5] ^= 0x01;
    CHECK(readAll(segName(), b.obj, b.len, NULL, &err) != 0);
    CHECK_MSG(err.msg, "trailer: crc32 mismatch");
    CHECK_INT(err.code, ERR_CHECKSUM);
    b.obj[b.frameEnd + 5] ^= 0x01;
    b.obj[2] ^= 0x01;
    CHECK(readAll(segName(), b.obj, b.len, NULL, &err) != 0);
    CHECK_MSG(err.msg, "magic: not a segment");
    b.obj[2] ^= 0x01;
    b.obj[6] = 2;
    CHECK(readAll(segName(), b.obj, b.len, NULL, &err) != 0);
    CHECK_MSG(err.msg, "version 2 is not supported");
    bvFree(b.obj);
}

/* An object cut at any length is refused, and never read past what is there. */
static void
testTruncated(void) {
    Built b;
    Err err = {0};
    SegmentMeta m;

    REQUIRE(buildObject(&b) == 0);
    for (size_t len = 0; len < b.len; len++) {
        uint8_t *copy = bvMalloc(len ? len : 1);

        memcpy(copy, b.obj, len);
        if (readAll(segName(), copy, len, NULL, &err) == 0)
            testFail(__FILE__, __LINE__, "object truncated to %zu of %zu bytes was accepted", len, b.len);
        else if (len >= 25 && strstr(err.msg, "end magic") == NULL && strstr(err.msg, "trailer") == NULL)
            testFail(__FILE__, __LINE__, "truncated to %zu: %s", len, err.msg);
        {
            MemObject o = {copy, len};

            if (segmentReadMeta(segName(), memOpen, &o, len, &m, &err) == 0) {
                testFail(__FILE__, __LINE__, "trailer of an object truncated to %zu accepted", len);
                segmentMetaClear(&m);
            }
        }
        bvFree(copy);
    }
    /* A store that serves fewer bytes than the size it announced. */
    {
        MemObject o = {b.obj, b.len - 100};
        SegmentReader *r = segmentReaderNew(segName(), memOpen, &o, b.len, &err);

        CHECK(r == NULL);
        CHECK_MSG(err.msg, "past the end");
    }
    bvFree(b.obj);
}

static void
editContentLen(SegmentMeta *m) {
    m->contentLen += 1;
    m->endPos += 1;
}

static void
editContentSha(SegmentMeta *m) {
    m->contentSha256[0] = m->contentSha256[0] == '0' ? '1' : '0';
}

static void
editEvents(SegmentMeta *m) {
    m->events += 1;
}

static void
editSeq(SegmentMeta *m) {
    m->seq = 2;
}

static void
editShorter(SegmentMeta *m) {
    m->contentLen -= 31;
    m->endPos -= 31;
}

/* Lies of the trailer about lengths, hashes and counts; lz4 frames cut or followed by junk. */
static void
testTrailerLies(void) {
    Built b;
    Err err = {0};
    uint8_t *bad;
    size_t badLen;
    static const uint32_t lengths[] = {0, 1, 2, 0x100000, 0x100001, 0xffffffffu};

    REQUIRE(buildObject(&b) == 0);
    /* The length field lies (CRC of the claimed bytes made to match where possible). */
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]) + 4; i++) {
        uint32_t t = i < sizeof(lengths) / sizeof(lengths[0]) ? lengths[i]
                     : i % 2                                  ? b.tlen + (uint32_t)i
                                                              : b.tlen - (uint32_t)i;

        bad = bvMalloc(b.len);
        memcpy(bad, b.obj, b.len);
        wrU32(bad + b.len - 16, t);
        if (t > 0 && t <= b.len - 16)
            wrU32(bad + b.len - 12, (uint32_t)crc32(crc32(0L, Z_NULL, 0), bad + b.len - 16 - t, t));
        if (readAll(segName(), bad, b.len, NULL, &err) == 0)
            testFail(__FILE__, __LINE__, "trailer length %u accepted", t);
        else
            CHECK_MSG(err.msg, "trailer");
        if (t == 0xffffffffu || t == 0x100001)
            CHECK_INT(err.code, ERR_LIMIT);
        bvFree(bad);
    }
    /* A consistent trailer that lies about the content. */
    bad = editTrailer(b.obj, b.len, editContentLen, &badLen);
    CHECK(readAll(segName(), bad, badLen, NULL, &err) != 0);
    CHECK_MSG(err.msg, "content: ");
    bvFree(bad);
    bad = editTrailer(b.obj, b.len, editShorter, &badLen);
    CHECK(readAll(segName(), bad, badLen, NULL, &err) != 0);
    CHECK_MSG(err.msg, "content: longer than");
    bvFree(bad);
    bad = editTrailer(b.obj, b.len, editContentSha, &badLen);
    CHECK(readAll(segName(), bad, badLen, NULL, &err) != 0);
    CHECK_MSG(err.msg, "content sha256 mismatch");
    CHECK_INT(err.code, ERR_CHECKSUM);
    bvFree(bad);
    bad = editTrailer(b.obj, b.len, editEvents, &badLen);
    CHECK(readAll(segName(), bad, badLen, NULL, &err) != 0);
    CHECK_MSG(err.msg, "events, the trailer declares");
    bvFree(bad);
    /* The trailer of another segment under this name. */
    bad = editTrailer(b.obj, b.len, editSeq, &badLen);
    CHECK(readAll(segName(), bad, badLen, NULL, &err) != 0);
    CHECK_MSG(err.msg, "not what the name says");
    CHECK(readAll("local/copy.bvs", bad, badLen, NULL, &err) == 0);
    bvFree(bad);
    /* Not JSON, or a trailer too large to accept. */
    bad = withTrailer(b.obj, b.len, "{\"version\":1,", &badLen);
    CHECK(readAll(segName(), bad, badLen, NULL, &err) != 0);
    CHECK_MSG(err.msg, "trailer");
    bvFree(bad);
    {
        char *huge = bvMalloc(SEGMENT_TRAILER_MAX + 2);

        memset(huge, ' ', SEGMENT_TRAILER_MAX + 1);
        huge[0] = '{';
        huge[SEGMENT_TRAILER_MAX] = '}';
        huge[SEGMENT_TRAILER_MAX + 1] = '\0';
        bad = withTrailer(b.obj, b.len, huge, &badLen);
        CHECK(readAll(segName(), bad, badLen, NULL, &err) != 0);
        CHECK_INT(err.code, ERR_LIMIT);
        bvFree(bad);
        bvFree(huge);
    }
    /* The lz4 frame cut short (its content checksum removed), or followed by junk. */
    {
        size_t cut = 4;

        bad = bvMalloc(b.len + 8);
        memcpy(bad, b.obj, b.frameEnd - cut);
        memcpy(bad + b.frameEnd - cut, b.obj + b.frameEnd, b.len - b.frameEnd);
        CHECK(readAll(segName(), bad, b.len - cut, NULL, &err) != 0);
        CHECK(strstr(err.msg, "lz4 frame") != NULL && strstr(err.msg, "truncated") != NULL);
        memcpy(bad, b.obj, b.frameEnd);
        memcpy(bad + b.frameEnd, "JUNKJUNK", 8);
        memcpy(bad + b.frameEnd + 8, b.obj + b.frameEnd, b.len - b.frameEnd);
        CHECK(readAll(segName(), bad, b.len + 8, NULL, &err) != 0);
        CHECK(strstr(err.msg, "lz4 frame") != NULL && strstr(err.msg, "after the end") != NULL);
        bvFree(bad);
    }
    bvFree(b.obj);
}

/* ---- size and memory -------------------------------------------------------------------------- */

/* Peak resident memory since the last reset, in KiB; -1 when it cannot be measured. */
static long
peakRssKb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static long
rssKb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static bool
resetPeakRss(void) {
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    bool ok;

    if (fd < 0)
        return false;
    ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

/* Sanitizers' shadow memory grows with what the test touches (ThreadSanitizer's alone took
 * ~85 MiB here, before and after the compression worker outlived segments). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SEGMENT_TEST_MEM_KB (512L * 1024)
#else
#define SEGMENT_TEST_MEM_KB (48L * 1024)
#endif

/* A 200 MB segment with events of up to 8 MiB is written and read back with memory far below its
 * size: nothing holds the whole segment or more than one event. */
static void
testLarge(void) {
    char fpath[1024], path[1024], contentHex[65];
    uint8_t *file, *ev;
    size_t len, fdeLen;
    SegmentMeta m = {0}, sealed;
    SegmentWriter *w;
    SegmentReader *r;
    CryptoHash *content;
    uint8_t digest[CRYPTO_HASH_MAX_LEN];
    BinlogEvent e;
    Err err = {0};
    uint64_t pos, end, events = 0, rng = 0x9e3779b97f4a7c15ull, target = 200ull * 1024 * 1024;
    long base, peak;
    bool measured;
    const size_t bigEvent = 8u * 1024 * 1024;

    snprintf(fpath, sizeof(fpath), "%s/%s", testFixtureDir(), FIXTURE_MARIA);
    file = testReadFile(fpath, &len);
    REQUIRE(file != NULL);
    fdeLen = rdU32(file + 4 + 9);
    m.seq = 9;
    m.flavour = BINLOG_FLAVOUR_MARIADB;
    snprintf(m.file, sizeof(m.file), "mariadb-bin.000009");
    m.startPos = 4 + fdeLen;
    snprintf(path, sizeof(path), "%s/large.tmp", testTmpDir());
    ev = bvCalloc(1, bigEvent); /* every byte defined: the loop below leaves a few unwritten */
    measured = resetPeakRss();
    base = rssKb();

    content = cryptoHashNew(CRYPTO_HASH_SHA256);
    cryptoHashUpdate(content, file + 4, fdeLen);
    w = segmentWriterNew(path, &m, file + 4, fdeLen, &err);
    REQUIRE(w != NULL);
    end = m.startPos;
    while (segmentWriterContentBytes(w) < target) {
        /* Mostly 64 KiB events, every 100th one 8 MiB; half random, half repetitive bytes. */
        size_t size = (events % 100 == 99) ? bigEvent : 65536;

        for (size_t i = 19; i + 8 <= size - 4; i += 8) {
            if ((i / 4096) % 2 == 0) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                memcpy(ev + i, &rng, 8);
            } else {
                memcpy(ev + i, "binvault", 8);
            }
        }
        end += size;
        wrU32(ev, 1795231130);
        ev[4] = BINLOG_WRITE_ROWS;
        wrU32(ev + 5, 11);
        wrU32(ev + 9, (uint32_t)size);
        wrU32(ev + 13, (uint32_t)end);
        wrU16(ev + 17, 0);
        wrU32(ev + size - 4, binlogEventComputeChecksum(ev, size - 4));
        REQUIRE(segmentWriterAppend(w, ev, size, end, &err) == 0);
        cryptoHashUpdate(content, ev, size);
        events++;
        if (events % 10 == 0)
            segmentWriterTransaction(w, "0-11-1", 1795231130000000ull, "0-11-1");
    }
    bvFree(ev);
    REQUIRE(segmentWriterSeal(w, true, &sealed, &err) == 0);
    segmentWriterFree(w);
    cryptoHashFinal(content, digest, NULL);
    cryptoHashFree(content);
    cryptoHexEncode(digest, CRYPTO_SHA256_LEN, contentHex);
    CHECK_STR(sealed.contentSha256, contentHex);
    CHECK(sealed.contentLen >= target);
    CHECK_INT(sealed.events, events);
    CHECK(sealed.size < sealed.contentLen);

    r = segmentReaderNew(sealed.name, segmentOpenPath, path, sealed.size, &err);
    REQUIRE(r != NULL);
    pos = 0;
    events = 0;
    {
        int rc;
        uint64_t at;

        while ((rc = segmentReaderNext(r, &e, &at, &err)) == 1) {
            CHECK(at >= pos);
            pos = at + e.h.size;
            events++;
        }
        CHECK_INT(rc, 0);
        if (rc != 0)
            fprintf(stderr, "    %s\n", err.msg);
    }
    CHECK_INT(events, sealed.events);
    CHECK_INT(pos, sealed.endPos);
    CHECK(segmentReaderSha256(r) != NULL && strcmp(segmentReaderSha256(r), sealed.sha256) == 0);
    segmentReaderFree(r);
    peak = peakRssKb();
    if (measured && base > 0 && peak > 0) {
        fprintf(stderr, "    note: %llu content bytes in a %llu-byte object, %llu events, peak memory +%ld KiB\n",
                (unsigned long long)sealed.contentLen, (unsigned long long)sealed.size,
                (unsigned long long)sealed.events, peak - base);
        if (peak - base > SEGMENT_TEST_MEM_KB)
            testFail(__FILE__, __LINE__, "peak memory grew by %ld KiB for a %llu-byte segment (limit %ld KiB)",
                     peak - base, (unsigned long long)sealed.contentLen, SEGMENT_TEST_MEM_KB);
    } else {
        fprintf(stderr, "    note: peak memory not measurable here (/proc/self/clear_refs)\n");
    }
    unlink(path);
    segmentMetaClear(&sealed);
    bvFree(file);
}

void
suite_segment(void) {
    testRun("segment: name format and parse", testName);
    testRun("segment: metadata json", testMetaJson);
    testRun("segment: round trip of a mariadb binlog", testRoundTripMariadb);
    testRun("segment: round trip of a mysql binlog", testRoundTripMysql);
    testRun("segment: starting mid-file", testMidFile);
    testRun("segment: writer rules", testWriterRules);
    testRun("segment: every flipped bit detected", testFlippedBits);
    testRun("segment: truncated at every length", testTruncated);
    testRun("segment: trailer and frame lies", testTrailerLies);
    testRun("segment: 200 MB with bounded memory", testLarge);
}
