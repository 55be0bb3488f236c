/* Tests of archive/summary.c's span lines as a view holds them (issue #13): a span keeps its
 * strings and breaks at their length, and its line reads back and writes out byte for byte the
 * same, with no, one, 64 and more breaks and with the longest names a line may hold. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/summary.h"
#include "common/mem.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

#define SPAN_N 200

/* A line as the format-2 writers of the base commit wrote it (one break, a 247-byte file name):
 * what every reader must read and write back unchanged. */
static const char goldenLine[] =
    "{\"version\":2,\"name\":\"index/0000000000001025-0000000000002048.bvi\",\"size\":123456,\"sha256\":"
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\",\"first_seq\":1025,\"last_seq\":2048,"
    "\"segments\":1024,\"transactions\":2048,\"bytes\":102400,\"content_bytes\":1290240,\"flavour\":\"mariadb\","
    "\"timelines\":[1,2],\"start\":{\"timeline\":1,\"file\":\"mysql-bin.000007\",\"start_pos\":256,\"gtid_start\":"
    "\"0-1-2048,1-1-17\"},\"end\":{\"timeline\":2,\"file\":\"mysql-bin.000009\",\"end_pos\":4711,\"gtid_end\":"
    "\"0-2-4096,1-1-17\",\"ends_file\":true},\"min_time_us\":1000,\"max_time_us\":9000,\"first_time_us\":1000,"
    "\"last_time_us\":8000,\"first_gtid\":\"0-1-2049\",\"last_gtid\":\"0-2-4096\",\"break_count\":1,\"breaks\":"
    "[[1500,1501]]}";

/* n segments from seq 1 of one binlog file named `file`, whose GTID states break continuity before
 * each seq listed in `breaks`; the first and last GTIDs are `gtid` with the seq appended. */
static void
makeMetas(SegmentMeta *m, size_t n, const char *file, const char *gtid, const uint64_t *breaks, size_t nbreaks) {
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = i + 1, start = 256 + i * 1000;
        bool broken = false;
        char g[BINLOG_TXN_GTID_MAX + 32];

        for (size_t k = 0; k < nbreaks; k++)
            broken |= breaks[k] == seq;
        fixtureCrafted(&m[i], seq, file, start, start + 1000, NULL, NULL);
        m[i].gtidStart = bvSprintf("0-1-%" PRIu64, seq - 1 + (broken ? 1000000 : 0));
        m[i].gtidEnd = bvSprintf("0-1-%" PRIu64, seq);
        int len = snprintf(g, sizeof(g), "%s%" PRIu64, gtid, seq);

        BV_ASSERT(len > 0 && (size_t)len < sizeof(m[i].firstGtid));
        memcpy(m[i].firstGtid, g, (size_t)len + 1);
        memcpy(m[i].lastGtid, g, (size_t)len + 1);
    }
}

/* The span of metas written, read back, copied: each writes the same line. */
static void
checkRoundTrip(const SegmentMeta *m, size_t n, size_t wantBreaks) {
    ArchiveSpan span, back, copy;
    Buf *line = bufNew(0), *again = bufNew(0), *copied = bufNew(0);
    Err err = {0};

    archiveSpanFromMetas(NULL, m, n, &span);
    snprintf(span.name, sizeof(span.name), "index/0000000000000001-%016zu.bvi", n);
    memset(span.sha256, 'c', 64);
    CHECK_INT(span.breakCount, wantBreaks);
    CHECK(wantBreaks == 0 ? span.breaks == NULL : span.breaks != NULL);
    CHECK_STR(span.startFile, m[0].file);
    CHECK_STR(span.endFile, m[n - 1].file);
    CHECK_STR(span.lastGtid, m[n - 1].lastGtid);
    archiveSpanToJson(&span, line);
    REQUIRE(archiveSpanParse((const char *)line->data, line->len, &back, &err) == 0);
    archiveSpanToJson(&back, again);
    CHECK_INT(again->len, line->len);
    CHECK(again->len == line->len && memcmp(again->data, line->data, line->len) == 0);
    CHECK_INT(back.breakCount, wantBreaks);
    if (wantBreaks > 0) {
        size_t listed = wantBreaks < ARCHIVE_SPAN_BREAKS_MAX ? wantBreaks : ARCHIVE_SPAN_BREAKS_MAX;

        CHECK_INT(back.breaks[listed - 1].afterSeq, span.breaks[listed - 1].afterSeq);
        CHECK_INT(back.breaks[listed - 1].beforeSeq, span.breaks[listed - 1].afterSeq + 1);
    }
    archiveSpanCopy(&copy, &back);
    archiveSpanClear(&back);
    CHECK(back.mem == NULL && back.gtidEnd == NULL && back.breaks == NULL);
    archiveSpanToJson(&copy, copied);
    CHECK(copied->len == line->len && memcmp(copied->data, line->data, line->len) == 0);
    archiveSpanClear(&copy);
    archiveSpanClear(&span);
    bufFree(line);
    bufFree(again);
    bufFree(copied);
}

static void
testRoundTrips(void) {
    static SegmentMeta metas[SPAN_N];
    uint64_t breaks[70];
    char longFile[SEGMENT_FILE_MAX], longGtid[BINLOG_TXN_GTID_MAX];
    const size_t counts[] = {0, 1, 64, 70};

    for (size_t k = 0; k < 70; k++)
        breaks[k] = 2 + k * 2;
    /* The longest a line may hold: a 255-byte file name, 111-byte first and last GTIDs. */
    memset(longFile, 'f', sizeof(longFile));
    memcpy(longFile + sizeof(longFile) - 8, ".000001", 8);
    memset(longGtid, 'g', sizeof(longGtid));
    longGtid[sizeof(longGtid) - 4] = '\0';
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        makeMetas(metas, SPAN_N, c % 2 ? longFile : "mariadb-bin.000001", c % 2 ? longGtid : "0-1-", breaks, counts[c]);
        checkRoundTrip(metas, SPAN_N, counts[c]);
        for (size_t i = 0; i < SPAN_N; i++)
            segmentMetaClear(&metas[i]);
    }
}

static void
testGolden(void) {
    ArchiveSpan span;
    Buf *out = bufNew(0);
    Err err = {0};

    REQUIRE(archiveSpanParse(goldenLine, strlen(goldenLine), &span, &err) == 0);
    CHECK_STR(span.startFile, "mysql-bin.000007");
    CHECK_STR(span.endFile, "mysql-bin.000009");
    CHECK_STR(span.gtidStart, "0-1-2048,1-1-17");
    CHECK_STR(span.firstGtid, "0-1-2049");
    CHECK_INT(span.breaks[0].afterSeq, 1500);
    archiveSpanToJson(&span, out);
    CHECK_INT(out->len, strlen(goldenLine));
    CHECK(out->len == strlen(goldenLine) && memcmp(out->data, goldenLine, out->len) == 0);
    archiveSpanClear(&span);
    bufFree(out);
}

/* Replace the first `from` in line by `to` (same place, any length) and parse it. */
static int
parseEdited(const char *from, const char *to, Err *err) {
    char *p = strstr(goldenLine, from);
    Buf *b = bufNew(0);
    ArchiveSpan span;
    int rc;

    BV_ASSERT(p != NULL);
    bufAppend(b, goldenLine, (size_t)(p - goldenLine));
    bufAppend(b, to, strlen(to));
    bufAppend(b, p + strlen(from), strlen(p + strlen(from)));
    rc = archiveSpanParse((const char *)b->data, b->len, &span, err);
    archiveSpanClear(&span);
    bufFree(b);
    return rc;
}

static void
testLimits(void) {
    char file[SEGMENT_FILE_MAX + 32], gtid[BINLOG_TXN_GTID_MAX + 32];
    Err err = {0};

    /* A file name of SEGMENT_FILE_MAX - 1 bytes is read; one more is refused, as before. */
    memset(file, 'f', sizeof(file));
    snprintf(file + SEGMENT_FILE_MAX - 7, 32, ".000009\"");
    file[0] = '"';
    CHECK(parseEdited("\"mysql-bin.000009\"", file, &err) == 0);
    memset(file, 'f', sizeof(file));
    snprintf(file + SEGMENT_FILE_MAX - 6, 32, ".000009\"");
    file[0] = '"';
    CHECK(parseEdited("\"mysql-bin.000009\"", file, &err) != 0);
    CHECK_MSG(err.msg, "'file' is longer than 255 bytes");
    /* A first GTID of BINLOG_TXN_GTID_MAX - 1 bytes is read; one more is refused. */
    memset(gtid, '7', sizeof(gtid));
    gtid[0] = '"';
    snprintf(gtid + BINLOG_TXN_GTID_MAX, 32, "\"");
    CHECK(parseEdited("\"0-1-2049\"", gtid, &err) == 0);
    memset(gtid, '7', sizeof(gtid));
    gtid[0] = '"';
    snprintf(gtid + BINLOG_TXN_GTID_MAX + 1, 32, "\"");
    CHECK(parseEdited("\"0-1-2049\"", gtid, &err) != 0);
    CHECK_MSG(err.msg, "'first_gtid' is longer than 111 bytes");
    /* An invalid file name is refused. */
    CHECK(parseEdited("\"mysql-bin.000007\"", "\"../x\"", &err) != 0);
    CHECK_INT(err.code, ERR_FORMAT);
}

/* What a view holds per block: a span without breaks is a few hundred bytes, not the 2 KiB of fixed
 * arrays it was. */
static void
testFootprint(void) {
    ArchiveSpan span;
    Err err = {0};

    CHECK(sizeof(ArchiveSpan) <= 384);
    REQUIRE(parseEdited("\"break_count\":1,\"breaks\":[[1500,1501]]", "\"break_count\":0,\"breaks\":[]", &err) == 0);
    REQUIRE(archiveSpanParse(goldenLine, strlen(goldenLine), &span, &err) == 0);
    /* The strings are laid out after the breaks in the one allocation. */
    CHECK((const void *)span.breaks == span.mem);
    CHECK((const char *)span.startFile == (const char *)span.mem + sizeof(ArchiveSpanBreak));
    archiveSpanClear(&span);
}

void
suite_summary(void) {
    testRun("summary: span lines with 0, 1, 64 and 70 breaks and the longest names, written back as read",
            testRoundTrips);
    testRun("summary: a line of the base commit's writers, written back byte for byte", testGolden);
    testRun("summary: names and GTIDs at and past their limits", testLimits);
    testRun("summary: a span is a few hundred bytes and one allocation", testFootprint);
}
