/* Unit tests of archive/labels: a segment's labels against its content, on real segments of the
 * fixture binlogs (two GTID domains), sound and with each label altered. */
#include <stdio.h>
#include <string.h>

#include "archive/catalog.h"
#include "archive/labels.h"
#include "common/mem.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

/* Run the labels of `label` (the trailer, maybe altered) over the content of segment m. */
static void
labelsOf(Archive *a, const SegmentMeta *m, const SegmentMeta *label, char *out, size_t size) {
    Err err = {0};
    SegmentReader *r = archiveSegmentOpen(a, m, &err);
    SegmentLabels *l;
    BinlogEvent ev;
    uint64_t pos;

    out[0] = '\0';
    if (r == NULL) {
        testFail(__FILE__, __LINE__, "open: %s", err.msg);
        return;
    }
    l = segmentLabelsNew(label);
    while (segmentReaderNext(r, &ev, &pos, &err) == 1)
        segmentLabelsPush(l, segmentReaderFormat(r), &ev, pos);
    segmentLabelsFinish(l, out, size);
    segmentLabelsFree(l);
    segmentReaderFree(r);
}

static void
testLabels(void) {
    ArchiveFixture f;
    ArchiveCatalog *c;
    Err err = {0};
    char msg[4096];
    size_t checked = 0, starts = 0;

    REQUIRE(fixtureOpen(&f, 2048) == 0);
    REQUIRE(fixtureImportAll(&f) == 0);
    REQUIRE((c = archiveCatalogLoad(f.archive, 0, &err)) != NULL);
    for (size_t i = 0; i < archiveCatalogCount(c); i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);
        SegmentMeta alt;

        labelsOf(f.archive, m, m, msg, sizeof(msg));
        CHECK_STR(msg, ""); /* what the writer wrote, the content says */
        if (m->transactions == 0 || m->lastGtid[0] == '\0')
            continue;
        checked++;
        /* gtid_end with another server id: the same seqs, another history */
        segmentMetaCopy(&alt, m);
        bvFree(alt.gtidEnd);
        alt.gtidEnd = bvStrdup("0-77-1");
        labelsOf(f.archive, m, &alt, msg, sizeof(msg));
        CHECK_MSG(msg, "gtid_end says '0-77-1' but its transactions end at");
        segmentMetaClear(&alt);
        /* first and last GTID, counts, times */
        segmentMetaCopy(&alt, m);
        snprintf(alt.firstGtid, sizeof(alt.firstGtid), "0-1-999");
        snprintf(alt.lastGtid, sizeof(alt.lastGtid), "0-1-998");
        alt.transactions++;
        alt.firstTimeUs += 5000000;
        labelsOf(f.archive, m, &alt, msg, sizeof(msg));
        CHECK_MSG(msg, "first_gtid says '0-1-999'");
        CHECK_MSG(msg, "last_gtid says '0-1-998'");
        CHECK_MSG(msg, "transactions says");
        CHECK_MSG(msg, "first_time_us says");
        segmentMetaClear(&alt);
        /* the start of a file: its GTID_LIST says what gtid_start must be */
        if (m->startPos == 4 + m->fdeLen) {
            starts++;
            segmentMetaCopy(&alt, m);
            bvFree(alt.gtidStart);
            alt.gtidStart = bvStrdup("0-1-12345");
            labelsOf(f.archive, m, &alt, msg, sizeof(msg));
            CHECK_MSG(msg, "gtid_start says '0-1-12345' but the file's gtid list says");
            segmentMetaClear(&alt);
        }
    }
    CHECK(checked >= 3);
    CHECK(starts >= 1);
    /* a gtid_start that is not a state */
    {
        SegmentMeta alt;

        segmentMetaCopy(&alt, archiveCatalogAt(c, 0));
        bvFree(alt.gtidStart);
        alt.gtidStart = bvStrdup("not-a-state");
        labelsOf(f.archive, archiveCatalogAt(c, 0), &alt, msg, sizeof(msg));
        CHECK_MSG(msg, "gtid_start 'not-a-state' cannot be read");
        segmentMetaClear(&alt);
    }
    archiveCatalogFree(c);
    fixtureClose(&f);
}

void suite_labels(void);

void
suite_labels(void) {
    testRun("labels: every label checked against the content", testLabels);
}
