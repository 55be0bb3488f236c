/*
 * Unit tests of the format-2 catalog: the index writer (block chunks, summaries, compaction), the
 * view (summaries + tail) against a brute-force load of the whole index, the upgrade of a format-1
 * index, listings from a name.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/identity.h"
#include "archive/index.h"
#include "archive/lookup.h"
#include "archive/outline.h"
#include "archive/prune.h"
#include "archive/summary.h"
#include "archive/upgrade.h"
#include "common/mem.h"
#include "storage/storage_crypt.h"
#include "tests/test.h"
#include "tests/unit/archive_fixture.h"

/* Segments of a generated archive: 50 per binlog file, two transactions each, GTID states 0-1-N;
 * commit times one second apart, but every 100th segment committed 300 s in the future (a client's
 * SET TIMESTAMP), so that times go backwards after it; continuity breaks at the seqs in `breaks`. */
static const uint64_t genBreaks[] = {1025, 1500, 3100};

static void
genMeta(SegmentMeta *m, uint64_t seq) {
    char file[32];
    uint64_t inFile = (seq - 1) % 50, start = 256 + inFile * 1000;
    bool broken = false;

    for (size_t i = 0; i < sizeof(genBreaks) / sizeof(genBreaks[0]); i++)
        broken |= genBreaks[i] == seq;
    snprintf(file, sizeof(file), "mariadb-bin.%06" PRIu64, (seq - 1) / 50 + 1);
    fixtureCrafted(m, seq, file, start, start + 1000, NULL, NULL);
    m->gtidStart = bvSprintf("0-1-%" PRIu64, (seq - 1) * 2 + (broken ? 1 : 0));
    m->gtidEnd = bvSprintf("0-1-%" PRIu64, seq * 2);
    snprintf(m->firstGtid, sizeof(m->firstGtid), "0-1-%" PRIu64, seq * 2 - 1);
    snprintf(m->lastGtid, sizeof(m->lastGtid), "0-1-%" PRIu64, seq * 2);
    m->transactions = 2;
    m->timeline = 1;
    m->firstTimeUs = 1000000ull * (1000 + seq);
    m->lastTimeUs = seq % 100 == 0 ? 1000000ull * (1300 + seq) : m->firstTimeUs + 500000;
    m->minTimeUs = m->firstTimeUs < m->lastTimeUs ? m->firstTimeUs : m->lastTimeUs;
    m->maxTimeUs = m->firstTimeUs > m->lastTimeUs ? m->firstTimeUs : m->lastTimeUs;
    m->endsFile = inFile == 49;
}

typedef struct Store {
    Storage *storage;
    Archive *archive;
} Store;

static int
storeOpen(Store *s, const char *sub, unsigned version) {
    char dir[1200];
    ArchiveIdentity id;
    Err err;

    snprintf(dir, sizeof(dir), "%s/%s", testTmpDir(), sub);
    if ((s->storage = storageFileNew(dir, true, &err)) == NULL)
        return -1;
    s->archive = archiveNew(s->storage);
    memset(&id, 0, sizeof(id));
    id.flavour = BINLOG_FLAVOUR_MARIADB;
    id.serverId = 1;
    snprintf(id.source, sizeof(id.source), "db1:3306");
    if (archiveIdentityEnsure(s->archive, &id, NULL, &err) != 0)
        return -1;
    if (version == 1) {
        /* As a format-1 binvault wrote it. */
        uint8_t *doc;
        size_t len;
        char *v;
        int rc;

        if (storageGetBuf(s->storage, "binvault.json", ARCHIVE_DOC_MAX, &doc, &len, &err) != 0)
            return -1;
        if ((v = strstr((char *)doc, "\"version\":3,")) == NULL) {
            bvFree(doc);
            return -1;
        }
        v[10] = '1';
        rc = storagePutBuf(s->storage, "binvault.json", doc, len, STORAGE_PUT_REPLACE, &err);
        bvFree(doc);
        /* The archive names its segments flat from now on, as format 1 does. */
        return rc == 0 ? archiveIdentityRead(s->archive, &id, &err) : -1;
    }
    return 0;
}

static void
storeClose(Store *s) {
    archiveFree(s->archive);
    storageFree(s->storage);
}

/* Index seqs from..to through a writer, a few at a time, compacting in short steps. */
static int
writeSeqs(ArchiveIndexWriter *w, uint64_t from, uint64_t to, Err *err) {
    for (uint64_t seq = from; seq <= to;) {
        SegmentMeta metas[7];
        size_t n = 0;
        int rc;

        while (n < 7 && seq <= to)
            genMeta(&metas[n++], seq++);
        rc = archiveIndexWriterPut(w, metas, n, err);
        for (size_t i = 0; i < n; i++)
            segmentMetaClear(&metas[i]);
        if (rc != 0 || archiveIndexWriterCompact(w, 1, NULL, err) != 0)
            return -1;
    }
    return 0;
}

static int
countCb(const char *name, uint64_t size, void *data, Err *err) {
    (void)name;
    (void)size;
    (void)err;
    (*(size_t *)data)++;
    return 0;
}

static size_t
countObjects(Storage *s, const char *prefix) {
    size_t n = 0;
    Err err;

    return storageList(s, prefix, countCb, &n, &err) == 0 ? n : (size_t)-1;
}

static bool
exists(Storage *s, const char *name) {
    StorageInfo info;
    Err err;

    return storageHead(s, name, &info, &err) == 0 && info.exists;
}

/* Every lookup of the view agrees with the same lookup on the whole index loaded. */
static void
checkAgainstBruteForce(Archive *a, ArchiveView *v) {
    ArchiveCatalog *full;
    const uint64_t seqs[] = {1, 2, 500, 1024, 1025, 1499, 1500, 2048, 2049, 3000, 3072, 3073, 3099, 3100};
    uint64_t segments, transactions, objectBytes, contentBytes, totalTxns = 0;
    ArchiveGap *vg, *fg;
    size_t nvg, nfg;
    Err err, ferr;

    full = archiveCatalogLoad(a, 0, &err);
    REQUIRE(full != NULL);
    CHECK_INT(archiveViewLastSeq(v), archiveCatalogLast(full)->seq);
    CHECK_INT(archiveViewContiguousSeq(v), archiveCatalogContiguousSeq(full));
    archiveViewTotals(v, &segments, &transactions, &objectBytes, &contentBytes);
    for (size_t i = 0; i < archiveCatalogCount(full); i++)
        totalTxns += archiveCatalogAt(full, i)->transactions;
    CHECK_INT(segments, archiveCatalogCount(full));
    CHECK_INT(transactions, totalTxns);
    for (size_t k = 0; k < sizeof(seqs) / sizeof(seqs[0]); k++) {
        const SegmentMeta *want;
        SegmentMeta got;
        char gtid[64];
        size_t idx;
        uint64_t seq;
        int vr, fr;

        if (!archiveCatalogFind(full, seqs[k], &idx))
            continue; /* pruned, or past the end */
        want = archiveCatalogAt(full, idx);
        REQUIRE(archiveViewGet(v, seqs[k], &got, &err) == 0);
        CHECK_STR(got.name, want->name);
        CHECK_STR(segmentMetaGtidEnd(&got), segmentMetaGtidEnd(want));
        segmentMetaClear(&got);
        /* GTID: the first and the last transaction of the segment. */
        for (int t = 0; t < 2; t++) {
            snprintf(gtid, sizeof(gtid), "0-1-%" PRIu64, seqs[k] * 2 - 1 + (uint64_t)t);
            fr = archiveCatalogFindGtid(full, gtid, &idx, &ferr);
            vr = archiveViewFindGtid(v, gtid, &seq, &err);
            CHECK_INT(vr, fr);
            if (vr == 0 && fr == 0)
                CHECK_INT(seq, archiveCatalogAt(full, idx)->seq);
        }
        /* Position: inside the segment. */
        fr = archiveCatalogFindPosition(full, want->file, want->startPos + 10, &idx, &ferr);
        vr = archiveViewFindPosition(v, want->file, want->startPos + 10, &seq, &err);
        CHECK_INT(vr, 0);
        CHECK_INT(fr, 0);
        if (vr == 0 && fr == 0)
            CHECK_INT(seq, archiveCatalogAt(full, idx)->seq);
        /* Time: just before, at and after the segment's commit times, both ways. */
        for (int dt = -1; dt <= 1; dt++)
            for (int ex = 0; ex < 2; ex++) {
                uint64_t t = want->firstTimeUs + (uint64_t)((int64_t)dt * 250000);

                fr = archiveCatalogFindTime(full, t, ex, &idx, &ferr);
                vr = archiveViewFindTime(v, t, ex, &seq, &err);
                CHECK_INT(vr, fr);
                if (vr == 0 && fr == 0 && seq != archiveCatalogAt(full, idx)->seq)
                    testFail(__FILE__, __LINE__, "time %" PRIu64 " (%s): view says seq %" PRIu64 ", the index %" PRIu64,
                             t, ex ? "exclusive" : "inclusive", seq, archiveCatalogAt(full, idx)->seq);
                if (vr != 0 && fr != 0)
                    CHECK_INT(err.code, ferr.code);
            }
    }
    /* Out of range. */
    CHECK(archiveViewFindGtid(v, "0-1-99999999", &(uint64_t){0}, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK(archiveViewFindTime(v, 1, false, &(uint64_t){0}, &err) != 0);
    CHECK_MSG(err.msg, "before the first archived commit");
    CHECK(archiveViewFindPosition(v, "mariadb-bin.999999", 300, &(uint64_t){0}, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    /* Breaks: the same pairs. */
    REQUIRE(archiveViewGaps(v, &vg, &nvg, &err) == 0);
    nfg = archiveCatalogGaps(full, &fg);
    CHECK_INT(nvg, nfg);
    for (size_t i = 0; i < nvg && i < nfg; i++) {
        CHECK_INT(vg[i].afterSeq, fg[i].afterSeq);
        CHECK_INT(vg[i].beforeSeq, fg[i].beforeSeq);
        CHECK_INT(vg[i].kind, fg[i].kind);
    }
    bvFree(vg);
    bvFree(fg);
    /* A cursor over a range that crosses blocks, and over everything. */
    {
        ArchiveCursor *cur = archiveViewCursor(v, 1000, 2100, &err);
        const SegmentMeta *m;
        uint64_t expect = archiveCatalogAt(full, 0)->seq > 1000 ? archiveCatalogAt(full, 0)->seq : 1000, n = 0;
        int rc;

        while ((rc = archiveCursorNext(cur, &m, NULL, &err)) == 1) {
            CHECK_INT(m->seq, expect);
            expect++;
        }
        CHECK_INT(rc, 0);
        CHECK_INT(expect, archiveCatalogLast(full)->seq < 2100 ? archiveCatalogLast(full)->seq + 1 : 2101);
        archiveCursorFree(cur);
        cur = archiveViewCursor(v, 0, UINT64_MAX, &err);
        while ((rc = archiveCursorNext(cur, &m, NULL, &err)) == 1)
            n++;
        CHECK_INT(rc, 0);
        CHECK_INT(n, archiveCatalogCount(full));
        archiveCursorFree(cur);
    }
    /* A bounded range as a catalog. */
    {
        ArchiveCatalog *r = archiveViewLoadRange(v, 1020, 1030, &err);

        REQUIRE(r != NULL);
        CHECK_INT(archiveCatalogCount(r), archiveCatalogAt(full, 0)->seq <= 1020 ? 11 : 0);
        archiveCatalogFree(r);
        r = archiveViewLoadRange(v, 2040, 2050, &err);
        REQUIRE(r != NULL);
        CHECK_INT(archiveCatalogCount(r), archiveCatalogLast(full)->seq >= 2050 ? 11 : 0);
        if (archiveCatalogCount(r) > 0)
            CHECK_INT(archiveCatalogAt(r, 0)->seq, 2040);
        archiveCatalogFree(r);
    }
    archiveCatalogFree(full);
}

static void putLines(Storage *st, uint64_t first, uint64_t last);

static void
testWriterAndView(void) {
    Store s;
    ArchiveView *v;
    ArchiveIndexWriter *w;
    StorageCounters before, after;
    bool done = false;
    Err err;

    REQUIRE(storeOpen(&s, "w", 2) == 0);
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    REQUIRE((w = archiveIndexWriterNew(s.archive, v, &err)) != NULL);
    archiveViewFree(v);
    REQUIRE(writeSeqs(w, 1, 3172, &err) == 0);
    REQUIRE(archiveIndexWriterCompact(w, 0, &done, &err) == 0);
    CHECK(done);
    archiveIndexWriterFree(w);
    /* Three block chunks, one level-1 document, the tail in a few chunks. */
    CHECK(exists(s.storage, "index/0000000000000001-0000000000001024.bvi"));
    CHECK(exists(s.storage, "index/0000000000001025-0000000000002048.bvi"));
    CHECK(exists(s.storage, "index/0000000000002049-0000000000003072.bvi"));
    CHECK(exists(s.storage, "catalog/1/0000000000000001-0000000000003072.bvc"));
    CHECK_INT(countObjects(s.storage, "catalog/"), 1);
    CHECK(countObjects(s.storage, "index/") <= 3 + 2 + 64 / 7 + 1);

    /* Opening reads the summary and the tail: a handful of requests, whatever came before. */
    storageCountersGet(s.storage, &before);
    REQUIRE((v = archiveViewOpen(s.archive, ARCHIVE_LOAD_DISCOVER, &err)) != NULL);
    storageCountersGet(s.storage, &after);
    CHECK(after.lists - before.lists <= 6);
    CHECK(after.listed - before.listed <= 20);
    CHECK(after.reads - before.reads <= 20);
    CHECK_INT(archiveViewSpanCount(v), 3);
    CHECK_INT(archiveCatalogCount(archiveViewTail(v)), 100);
    checkAgainstBruteForce(s.archive, v);
    /* A range in summarised blocks is read from its chunks without listing segments/ (listing from
     * its block would make the directory store read every later name); its entries count as
     * listed. A range that reaches the tail lists segments/ from the tail on; one that starts in
     * the last summarised block (a listing of a block more) from its first seq. No segment object
     * is stored here: what a listing covers is not listed. */
    {
        ArchiveCatalog *r;
        uint64_t size = 0;

        storageCountersGet(s.storage, &before);
        REQUIRE((r = archiveViewLoadRange(v, 1020, 1030, &err)) != NULL);
        storageCountersGet(s.storage, &after);
        CHECK_INT(after.lists - before.lists, 3); /* prune/, gaps/, index/ */
        CHECK_INT(archiveCatalogCount(r), 11);
        CHECK(archiveCatalogListed(r, 0, &size));
        CHECK_INT(size, archiveCatalogAt(r, 0)->size);
        archiveCatalogFree(r);
        storageCountersGet(s.storage, &before);
        REQUIRE((r = archiveViewLoadRange(v, 1100, UINT64_MAX, &err)) != NULL);
        storageCountersGet(s.storage, &after);
        CHECK_INT(after.lists - before.lists, 5); /* prune/, gaps/, index/ twice, segments/ */
        CHECK_INT(archiveCatalogCount(r), 3172 - 1100 + 1);
        CHECK(archiveCatalogListed(r, 0, NULL));
        CHECK(archiveCatalogListed(r, 3072 - 1100, NULL));
        CHECK(!archiveCatalogListed(r, 3073 - 1100, NULL)); /* in the tail, not stored */
        archiveCatalogFree(r);
        storageCountersGet(s.storage, &before);
        REQUIRE((r = archiveViewLoadRange(v, 3000, UINT64_MAX, &err)) != NULL);
        storageCountersGet(s.storage, &after);
        CHECK_INT(after.lists - before.lists, 4); /* prune/, gaps/, index/, segments/ */
        CHECK_INT(archiveCatalogCount(r), 173);
        CHECK(!archiveCatalogListed(r, 0, NULL));
        archiveCatalogFree(r);
    }

    /* A writer started again (a restart) takes the open block's lines from the store and goes on;
     * block 3 completes and widens the level-1 document, which replaces the narrower one. */
    REQUIRE((w = archiveIndexWriterNew(s.archive, v, &err)) != NULL);
    archiveViewFree(v);
    CHECK_INT(archiveIndexWriterLastSeq(w), 3172);
    REQUIRE(writeSeqs(w, 3173, 4200, &err) == 0);
    REQUIRE(archiveIndexWriterCompact(w, 0, &done, &err) == 0);
    archiveIndexWriterFree(w);
    CHECK(exists(s.storage, "index/0000000000003073-0000000000004096.bvi"));
    CHECK(exists(s.storage, "catalog/1/0000000000000001-0000000000004096.bvc"));
    CHECK_INT(countObjects(s.storage, "catalog/"), 1);
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveViewSpanCount(v), 4);
    checkAgainstBruteForce(s.archive, v);
    archiveViewFree(v);

    /* A crash between storing the wider document (or block chunk) and deleting what it replaces
     * leaves overlap: readers take the widest. */
    {
        SegmentMeta metas[3];
        Buf *doc = bufNew(0);

        for (size_t i = 0; i < 3; i++) {
            genMeta(&metas[i], 2000 + i);
            segmentMetaToJson(&metas[i], true, doc);
            bufAppend(doc, "\n", 1);
        }
        REQUIRE(storagePutBuf(s.storage, "index/0000000000002000-0000000000002002.bvi", doc->data, doc->len,
                              STORAGE_PUT_IMMUTABLE, &err) == 0);
        for (size_t i = 0; i < 3; i++)
            segmentMetaClear(&metas[i]);
        bufFree(doc);
        REQUIRE(storagePutBuf(s.storage, "catalog/1/0000000000000001-0000000000001024.bvc", "garbage", 7,
                              STORAGE_PUT_IMMUTABLE, &err) == 0);
        REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
        CHECK_INT(archiveViewSpanCount(v), 4);
        CHECK_INT(archiveViewProblemCount(v), 0);
        checkAgainstBruteForce(s.archive, v);
        archiveViewFree(v);
    }
    /* Pruned to seq 1500, inside the second block: the prune chunk [1500, 2048] is that block's;
     * it is read from the index (head), the blocks after it from their summary lines. */
    {
        ArchivePruneRecord rec;
        SegmentMeta first;
        Buf *doc = bufNew(0);
        uint64_t segments;

        memset(&rec, 0, sizeof(rec));
        genMeta(&first, 1500);
        rec.firstSeq = 1500;
        snprintf(rec.file, sizeof(rec.file), "%s", first.file);
        rec.startPos = first.startPos;
        rec.gtidStart = first.gtidStart;
        snprintf(rec.created, sizeof(rec.created), "2026-12-06T00:00:00Z");
        archivePruneRecordToJson(&rec, doc);
        REQUIRE(storagePutBuf(s.storage, "prune/0000000000001500.json", doc->data, doc->len, STORAGE_PUT_IMMUTABLE,
                              &err) == 0);
        bufFree(doc);
        segmentMetaClear(&first);
        putLines(s.storage, 1500, 2048);
        REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
        CHECK_INT(archiveViewFirstSeq(v), 1500);
        CHECK_INT(archiveViewSpanCount(v), 2);
        archiveViewTotals(v, &segments, NULL, NULL, NULL);
        CHECK_INT(segments, 4200 - 1500 + 1);
        CHECK(archiveViewPrune(v) != NULL);
        checkAgainstBruteForce(s.archive, v);
        archiveViewFree(v);
    }
    storeClose(&s);
}

/* A prune while the writer runs (prune may run beside the agent): what the writer stores from then
 * on starts at the prune's first seq, and the block the prune cut gets no summary line. */
static void
testWriterFollowsPrune(void) {
    ArchivePruneRecord rec;
    ArchiveIndexWriter *w;
    ArchiveCatalog *c;
    ArchiveView *v;
    SegmentMeta first;
    Buf *doc = bufNew(0);
    Store s;
    bool done;
    Err err;

    REQUIRE(storeOpen(&s, "wp", 2) == 0);
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    REQUIRE((w = archiveIndexWriterNew(s.archive, v, &err)) != NULL);
    archiveViewFree(v);
    REQUIRE(writeSeqs(w, 1, 200, &err) == 0);
    REQUIRE(archiveIndexWriterCompact(w, 0, &done, &err) == 0);
    /* The prune: its record, its chunk from seq 100, the chunks below it deleted. */
    memset(&rec, 0, sizeof(rec));
    genMeta(&first, 100);
    rec.firstSeq = 100;
    snprintf(rec.file, sizeof(rec.file), "%s", first.file);
    rec.startPos = first.startPos;
    rec.gtidStart = first.gtidStart;
    snprintf(rec.created, sizeof(rec.created), "2026-12-06T00:00:00Z");
    archivePruneRecordToJson(&rec, doc);
    REQUIRE(storagePutBuf(s.storage, "prune/0000000000000100.json", doc->data, doc->len, STORAGE_PUT_IMMUTABLE, &err) ==
            0);
    segmentMetaClear(&first);
    bufFree(doc);
    putLines(s.storage, 100, 192);
    REQUIRE(storageRemove(s.storage, "index/0000000000000001-0000000000000192.bvi", &err) == 0);
    REQUIRE(writeSeqs(w, 201, 1100, &err) == 0);
    REQUIRE(archiveIndexWriterCompact(w, 0, &done, &err) == 0);
    archiveIndexWriterFree(w);
    CHECK(exists(s.storage, "index/0000000000000100-0000000000001024.bvi"));
    CHECK(!exists(s.storage, "index/0000000000000001-0000000000001024.bvi"));
    CHECK_INT(countObjects(s.storage, "catalog/"), 0);
    REQUIRE((c = archiveCatalogLoad(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveCatalogChunkCount(c), countObjects(s.storage, "index/"));
    for (size_t i = 0; i < archiveCatalogChunkCount(c); i++) {
        uint64_t f, l;
        bool used;

        archiveCatalogChunkAt(c, i, &f, &l, &used);
        CHECK(f >= 100);
    }
    archiveCatalogFree(c);
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveViewFirstSeq(v), 100);
    CHECK_INT(archiveViewContiguousSeq(v), 1100);
    checkAgainstBruteForce(s.archive, v);
    archiveViewFree(v);
    storeClose(&s);
}

/* A prune of a summarised archive deletes the summary documents of blocks that are all pruned (here
 * a narrower one a crash left beside the widest) and keeps the one that reaches the kept seqs; the
 * view then starts at the prune's first seq and answers as the whole index does. */
static void
testPruneDeletesSummaries(void) {
    static const char *stale = "catalog/1/0000000000000001-0000000000001024.bvc";
    static const char *widest = "catalog/1/0000000000000001-0000000000003072.bvc";
    ArchiveIndexWriter *w;
    ArchiveCatalog *c;
    ArchiveView *v;
    SegmentMeta kept;
    Store s;
    bool done = false;
    Err err;

    REQUIRE(storeOpen(&s, "ps", 2) == 0);
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    REQUIRE((w = archiveIndexWriterNew(s.archive, v, &err)) != NULL);
    archiveViewFree(v);
    REQUIRE(writeSeqs(w, 1, 3172, &err) == 0);
    REQUIRE(archiveIndexWriterCompact(w, 0, &done, &err) == 0);
    archiveIndexWriterFree(w);
    REQUIRE(exists(s.storage, widest));
    REQUIRE(storagePutBuf(s.storage, stale, "{}\n", 3, STORAGE_PUT_IMMUTABLE, &err) == 0);
    /* The prune heads the first kept segment: the generated archive has index lines only. */
    genMeta(&kept, 2030);
    REQUIRE(storagePutBuf(s.storage, kept.name, "x", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
    segmentMetaClear(&kept);
    REQUIRE((c = archiveCatalogLoad(s.archive, 0, &err)) != NULL);
    REQUIRE(archivePrune(s.archive, c, 2030, "test", false, NULL, NULL, &err) == 0);
    archiveCatalogFree(c);
    CHECK(!exists(s.storage, stale));
    CHECK(exists(s.storage, widest));
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveViewFirstSeq(v), 2030);
    CHECK_INT(archiveViewContiguousSeq(v), 3172);
    checkAgainstBruteForce(s.archive, v);
    archiveViewFree(v);
    storeClose(&s);
}

/* The names under a prefix, one per line. */
static int
nameLinesCb(const char *name, uint64_t size, void *data, Err *err) {
    (void)size;
    (void)err;
    bufAppend(data, name, strlen(name));
    bufAppend(data, "\n", 1);
    return 0;
}

static char *
names(Storage *st, const char *prefix) {
    Buf *b = bufNew(0);
    Err err;
    char *text;

    if (storageList(st, prefix, nameLinesCb, b, &err) != 0)
        bufAppend(b, "?", 1);
    bufAppend(b, "", 1);
    text = bvStrdup((const char *)b->data);
    bufFree(b);
    return text;
}

/* A generated archive of n segments (index lines through the writer, summaries, a one-byte object
 * per segment) in directory `sub`. */
static void
genArchive(Store *s, const char *sub, uint64_t n) {
    ArchiveIndexWriter *w;
    ArchiveView *v;
    bool done = false;
    Err err;

    REQUIRE(storeOpen(s, sub, 2) == 0);
    REQUIRE((v = archiveViewOpen(s->archive, 0, &err)) != NULL);
    REQUIRE((w = archiveIndexWriterNew(s->archive, v, &err)) != NULL);
    archiveViewFree(v);
    REQUIRE(writeSeqs(w, 1, n, &err) == 0);
    REQUIRE(archiveIndexWriterCompact(w, 0, &done, &err) == 0);
    archiveIndexWriterFree(w);
    for (uint64_t seq = 1; seq <= n; seq++) {
        SegmentMeta m;

        genMeta(&m, seq);
        REQUIRE(storagePutBuf(s->storage, m.name, "x", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
        segmentMetaClear(&m);
    }
}

typedef struct StepCount {
    uint64_t segments, bytes, changes, stopAt;
} StepCount;

static int
stepCount(void *data, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err) {
    StepCount *c = data;

    (void)object;
    if (action == ARCHIVE_PRUNE_REMOVE_SEGMENT)
        c->segments++;
    if (action == ARCHIVE_PRUNE_REMOVE_BLOCK)
        c->segments += ARCHIVE_BLOCK_SEGMENTS;
    if (action == ARCHIVE_PRUNE_REMOVE_SEGMENT || action == ARCHIVE_PRUNE_REMOVE_BLOCK)
        c->bytes += bytes;
    if (++c->changes == c->stopAt)
        return errSet(err, ERR_STORAGE, "stopped after %" PRIu64 " changes", c->changes);
    return 0;
}

/* Retention over the view answers as over the whole index: time rules (commit times go backwards
 * every 100th segment), GTIDs, base backups (by position and by GTID state). */
static void
testViewRetention(void) {
    static const uint64_t times[] = {0, 1000 + 1, 1000 + 500, 1000 + 1100, 1000 + 2099, 1000 + 2100, 1000 + 3172,
                                     1000 + 9999};
    static const char *gtids[] = {"0-1-1", "0-1-2000", "0-1-4198", "0-1-6344"};
    Store s;
    ArchiveCatalog *c;
    ArchiveView *v;
    Err err;

    genArchive(&s, "vr", 3172);
    REQUIRE((c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err)) != NULL);
    REQUIRE((v = archiveViewOpen(s.archive, ARCHIVE_LOAD_DISCOVER, &err)) != NULL);
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        ArchiveRetention r = {.keepFromUs = times[i] * 1000000ull};
        uint64_t want, got;

        REQUIRE(archivePruneTarget(c, &r, &want, &err) == 0);
        REQUIRE(archiveViewRetentionSeq(v, &r, &got, &err) == 0);
        CHECK_INT(got, want);
    }
    for (size_t i = 0; i < sizeof(gtids) / sizeof(gtids[0]); i++) {
        ArchiveRetention r = {.beforeGtid = gtids[i]};
        uint64_t want, got;

        REQUIRE(archivePruneTarget(c, &r, &want, &err) == 0);
        REQUIRE(archiveViewRetentionSeq(v, &r, &got, &err) == 0);
        CHECK_INT(got, want);
    }
    /* A time rule that keeps only the end, and base backups that keep more. */
    for (uint64_t seq = 10; seq <= 3172; seq += 777) {
        ArchiveBasePoint bp[2] = {{.pos = 0}};
        ArchiveRetention r = {.keepFromUs = UINT64_MAX, .bases = bp, .baseCount = 2};
        SegmentMeta m;
        uint64_t want, got;

        genMeta(&m, seq);
        snprintf(bp[0].file, sizeof(bp[0].file), "%s", m.file);
        bp[0].pos = m.startPos + 10;
        bp[0].gtid = "";
        snprintf(bp[1].file, sizeof(bp[1].file), "other-bin.000001");
        bp[1].gtid = (char *)segmentMetaGtidEnd(&m);
        REQUIRE(archivePruneTarget(c, &r, &want, &err) == 0);
        REQUIRE(archiveViewRetentionSeq(v, &r, &got, &err) == 0);
        CHECK_INT(got, want);
        CHECK(got <= seq);
        segmentMetaClear(&m);
    }
    archiveViewFree(v);
    archiveCatalogFree(c);
    storeClose(&s);
}

/* The prune over the view leaves the store as the whole-index prune does (index, summaries, prune
 * records, segments); its dry run counts the same segments while reading no block chunk of the
 * summarised blocks; stopped after any change, a second prune finishes it. */
static void
testViewPrune(void) {
    static const uint64_t stops[] = {1, 3, 5, 1030};
    const uint64_t n = 4200, k = 2100; /* two whole blocks pruned, the third cut, a fourth summarised after it */
    Store whole, view;
    ArchiveCatalog *c;
    ArchiveView *v;
    StepCount dry = {0}, wholeDry = {0};
    char *a, *b;
    Err err;

    genArchive(&whole, "pw", n);
    genArchive(&view, "pv", n);
    REQUIRE((c = archiveCatalogLoad(whole.archive, ARCHIVE_LOAD_DISCOVER, &err)) != NULL);
    REQUIRE(archivePrune(whole.archive, c, k, "test", true, stepCount, &wholeDry, &err) == 0);
    REQUIRE(archivePrune(whole.archive, c, k, "test", false, NULL, NULL, &err) == 0);
    archiveCatalogFree(c);
    REQUIRE((v = archiveViewOpen(view.archive, ARCHIVE_LOAD_DISCOVER, &err)) != NULL);
    {
        StorageCounters before, after;

        storageCountersGet(view.storage, &before);
        REQUIRE(archivePruneOverView(view.archive, v, k, "test", true, stepCount, &dry, &err) == 0);
        storageCountersGet(view.storage, &after);
        CHECK_INT(dry.segments, k - 1);
        CHECK_INT(dry.segments, wholeDry.segments);
        CHECK(after.reads - before.reads <= 4); /* the head of k, never the blocks below it */
        CHECK_INT(after.removes - before.removes, 0);
    }
    REQUIRE(archivePruneOverView(view.archive, v, k, "test", false, NULL, NULL, &err) == 0);
    archiveViewFree(v);
    for (size_t i = 0; i < 3; i++) {
        const char *prefix = i == 0 ? "index/" : i == 1 ? "catalog/" : "segments/";

        a = names(whole.storage, prefix);
        b = names(view.storage, prefix);
        CHECK_STR(b, a);
        bvFree(a);
        bvFree(b);
    }
    a = names(view.storage, "prune/");
    CHECK_STR(a, "prune/0000000000002100.json\n");
    bvFree(a);
    REQUIRE((v = archiveViewOpen(view.archive, ARCHIVE_LOAD_DISCOVER, &err)) != NULL);
    CHECK_INT(archiveViewFirstSeq(v), k);
    CHECK_INT(archiveViewContiguousSeq(v), n);
    /* The restorable window starts at the first kept segment, in the block the prune cut. */
    {
        ArchiveOutline *o = archiveOutlineNew(v, &err);
        const ArchiveWindow *w;
        SegmentMeta m;

        REQUIRE(o != NULL);
        REQUIRE(archiveOutlineWindowCount(o) >= 1);
        w = archiveOutlineWindowAt(o, archiveOutlineWindowCount(o) - 1);
        genMeta(&m, 3100); /* the last break */
        CHECK_INT(w->from->seq, 3100);
        CHECK_INT(w->transactions, 2 * (n - 3100 + 1));
        CHECK_STR(w->firstGtid, m.firstGtid);
        segmentMetaClear(&m);
        w = archiveOutlineWindowAt(o, 0);
        genMeta(&m, k);
        CHECK_INT(w->from->seq, k);
        CHECK_INT(w->transactions, 2 * (3100 - k));
        CHECK_STR(w->firstGtid, m.firstGtid);
        segmentMetaClear(&m);
        archiveOutlineFree(o);
    }
    archiveViewFree(v);
    storeClose(&view);
    /* Stopped after a change: a consistent archive, and a second prune finishes it. */
    for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
        StepCount stop = {.stopAt = stops[i]};
        char sub[32];

        snprintf(sub, sizeof(sub), "ps%zu", i);
        genArchive(&view, sub, n);
        REQUIRE((v = archiveViewOpen(view.archive, ARCHIVE_LOAD_DISCOVER, &err)) != NULL);
        CHECK(archivePruneOverView(view.archive, v, k, "test", false, stepCount, &stop, &err) != 0);
        archiveViewFree(v);
        REQUIRE((v = archiveViewOpen(view.archive, ARCHIVE_LOAD_DISCOVER, &err)) != NULL);
        CHECK_INT(archiveViewFirstSeq(v), k);
        CHECK_INT(archiveViewContiguousSeq(v), n);
        REQUIRE(archivePruneOverView(view.archive, v, archiveViewFirstSeq(v), "test", false, NULL, NULL, &err) == 0);
        archiveViewFree(v);
        for (size_t j = 0; j < 2; j++) {
            const char *prefix = j == 0 ? "index/" : "segments/";

            a = names(whole.storage, prefix);
            b = names(view.storage, prefix);
            CHECK_STR(b, a);
            bvFree(a);
            bvFree(b);
        }
        storeClose(&view);
    }
    storeClose(&whole);
}

/* What a prune does to a diverged branch: kept, cut, dropped, or already gone. */
static void
testPruneDivergedFate(void) {
    TimelineRecord r;

    memset(&r, 0, sizeof(r));
    r.timeline = 2;
    r.parent = 1;
    r.firstSeq = 60;
    r.hasFork = true;
    r.fork.seq = 50;
    CHECK_INT(archivePruneDivergedFate(&r, 1, 100), ARCHIVE_PRUNE_DIVERGED_KEPT); /* nothing diverged */
    r.hasDiverged = true;
    r.diverged.firstSeq = 50;
    r.diverged.lastSeq = 59;
    r.diverged.transactions = 7;
    CHECK_INT(archivePruneDivergedFate(&r, 1, 40), ARCHIVE_PRUNE_DIVERGED_KEPT);
    CHECK_INT(archivePruneDivergedFate(&r, 1, 50), ARCHIVE_PRUNE_DIVERGED_KEPT);
    CHECK_INT(archivePruneDivergedFate(&r, 1, 51), ARCHIVE_PRUNE_DIVERGED_CUT);  /* the fork's segment */
    CHECK_INT(archivePruneDivergedFate(&r, 1, 59), ARCHIVE_PRUNE_DIVERGED_CUT);
    CHECK_INT(archivePruneDivergedFate(&r, 1, 60), ARCHIVE_PRUNE_DIVERGED_DROPPED);
    CHECK_INT(archivePruneDivergedFate(&r, 55, 100), ARCHIVE_PRUNE_DIVERGED_DROPPED); /* its rest */
    CHECK_INT(archivePruneDivergedFate(&r, 60, 100), ARCHIVE_PRUNE_DIVERGED_GONE);
}

/* A format-1 index (chunks that span blocks, overlaps, a wholly covered narrow chunk) upgraded:
 * the same answers as before, aligned block chunks and a summary, and old readers still read it. */
static void
putLines(Storage *st, uint64_t first, uint64_t last) {
    Buf *doc = bufNew(0);
    char name[64];
    Err err;

    for (uint64_t seq = first; seq <= last; seq++) {
        SegmentMeta m;

        genMeta(&m, seq);
        segmentMetaToJson(&m, true, doc);
        bufAppend(doc, "\n", 1);
        segmentMetaClear(&m);
    }
    archiveChunkName(first, last, name, sizeof(name));
    if (storagePutBuf(st, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, &err) != 0)
        testFail(__FILE__, __LINE__, "%s", err.msg);
    bufFree(doc);
}

static void
testUpgrade(void) {
    static const uint64_t chunks[][2] = {{1, 10}, {1, 700}, {701, 1400}, {1401, 2100}, {2101, 2140}, {2141, 2141},
                                         {2142, 3150}};
    ArchiveUpgradeReport rep;
    ArchiveIdentity id;
    ArchiveCatalog *c;
    ArchiveView *v;
    Store s;
    Err err;

    REQUIRE(storeOpen(&s, "up", 1) == 0);
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++)
        putLines(s.storage, chunks[i][0], chunks[i][1]);
    REQUIRE(archiveUpgrade(s.archive, true, &rep, &err) == 0);
    CHECK_INT(rep.fromVersion, 1);
    CHECK_INT(rep.blocks, 3);
    CHECK(!exists(s.storage, "catalog/1/0000000000000001-0000000000003072.bvc"));
    REQUIRE(archiveIdentityRead(s.archive, &id, &err) == 0);
    CHECK_INT(id.version, 1);

    REQUIRE(archiveUpgrade(s.archive, false, &rep, &err) == 0);
    CHECK_INT(rep.blocks, 3);
    CHECK_INT(rep.summaries, 1);
    CHECK(rep.identityWritten);
    REQUIRE(archiveIdentityRead(s.archive, &id, &err) == 0);
    CHECK_INT(id.version, 2);
    CHECK(exists(s.storage, "timelines/00000001.json"));
    CHECK(exists(s.storage, "catalog/1/0000000000000001-0000000000003072.bvc"));
    CHECK(exists(s.storage, "index/0000000000003073-0000000000003150.bvi"));
    /* Every old chunk is covered by the aligned ones and gone. */
    CHECK_INT(countObjects(s.storage, "index/"), 4);
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveViewSpanCount(v), 3);
    checkAgainstBruteForce(s.archive, v);
    archiveViewFree(v);
    /* A format-1 reader's load still reads it whole. */
    REQUIRE((c = archiveCatalogLoad(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveCatalogCount(c), 3150);
    CHECK_INT(archiveCatalogProblemCount(c), 0);
    archiveCatalogFree(c);
    /* Run again (an upgrade killed after its last step): nothing to do. */
    REQUIRE(archiveUpgrade(s.archive, false, &rep, &err) == 0);
    CHECK_INT(rep.fromVersion, 2);
    CHECK_INT(rep.chunksRemoved, 0);
    CHECK_INT(countObjects(s.storage, "index/"), 4);
    storeClose(&s);
}

/* An upgrade killed before binvault.json moved: old chunks and the new ones side by side, read
 * alike by both readers, and the next run completes it. */
static void
testUpgradeInterrupted(void) {
    ArchiveUpgradeReport rep;
    ArchiveCatalog *c;
    ArchiveView *v;
    Store s;
    Err err;

    REQUIRE(storeOpen(&s, "upi", 1) == 0);
    putLines(s.storage, 1, 700);
    putLines(s.storage, 701, 1500);
    /* What steps 2 and 3 would have written: the block chunk and the open block's chunk. */
    putLines(s.storage, 1, 1024);
    putLines(s.storage, 1025, 1500);
    REQUIRE((c = archiveCatalogLoad(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveCatalogCount(c), 1500);
    CHECK_INT(archiveCatalogProblemCount(c), 0);
    archiveCatalogFree(c);
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveViewLastSeq(v), 1500);
    CHECK_INT(archiveViewContiguousSeq(v), 1500);
    archiveViewFree(v);
    REQUIRE(archiveUpgrade(s.archive, false, &rep, &err) == 0);
    CHECK_INT(rep.chunksRemoved, 2);
    CHECK_INT(countObjects(s.storage, "index/"), 2);
    REQUIRE((v = archiveViewOpen(s.archive, 0, &err)) != NULL);
    CHECK_INT(archiveViewSpanCount(v), 1);
    checkAgainstBruteForce(s.archive, v);
    archiveViewFree(v);
    storeClose(&s);
}

typedef struct Names {
    char seen[512];
    size_t stopAfter, count;
} Names;

static int
namesCb(const char *name, uint64_t size, void *data, Err *err) {
    Names *n = data;

    (void)size;
    (void)err;
    strncat(n->seen, name, sizeof(n->seen) - strlen(n->seen) - 2);
    strcat(n->seen, " ");
    return ++n->count == n->stopAfter ? STORAGE_LIST_STOP : 0;
}

static void
testListFrom(void) {
    const char *names[] = {"a/1", "a/2", "a/3", "a/b/1", "b/1", "c"};
    StorageCounters before, after;
    Storage *st;
    Names n;
    Err err;
    char dir[1200];

    snprintf(dir, sizeof(dir), "%s/lf", testTmpDir());
    REQUIRE((st = storageFileNew(dir, true, &err)) != NULL);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        REQUIRE(storagePutBuf(st, names[i], "x", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
    memset(&n, 0, sizeof(n));
    REQUIRE(storageListFrom(st, "a/", "a/1", namesCb, &n, &err) == 0);
    CHECK_STR(n.seen, "a/2 a/3 a/b/1 ");
    memset(&n, 0, sizeof(n));
    REQUIRE(storageListFrom(st, "", "a/2", namesCb, &n, &err) == 0);
    CHECK_STR(n.seen, "a/3 a/b/1 b/1 c ");
    memset(&n, 0, sizeof(n));
    REQUIRE(storageListFrom(st, "", "a/b", namesCb, &n, &err) == 0);
    CHECK_STR(n.seen, "a/b/1 b/1 c ");
    memset(&n, 0, sizeof(n));
    REQUIRE(storageListFrom(st, "", "b/2", namesCb, &n, &err) == 0);
    CHECK_STR(n.seen, "c ");
    /* Stopped early: success, and nothing after. */
    memset(&n, 0, sizeof(n));
    n.stopAfter = 2;
    storageCountersGet(st, &before);
    REQUIRE(storageListFrom(st, "", NULL, namesCb, &n, &err) == 0);
    storageCountersGet(st, &after);
    CHECK_STR(n.seen, "a/1 a/2 ");
    CHECK_INT(after.lists - before.lists, 1);
    CHECK_INT(after.listed - before.listed, 2);
    /* Through the encrypting store (an encrypted archive): the same names from the same point. */
    {
        StorageCryptKey key;

        memset(&key, 7, sizeof(key));
        st = storageCryptNew(st, &key, "c", NULL);
        REQUIRE(storagePutBuf(st, "d/1", "secret", 6, STORAGE_PUT_IMMUTABLE, &err) == 0);
        REQUIRE(storagePutBuf(st, "d/2", "secret", 6, STORAGE_PUT_IMMUTABLE, &err) == 0);
        memset(&n, 0, sizeof(n));
        REQUIRE(storageListFrom(st, "d/", "d/1", namesCb, &n, &err) == 0);
        CHECK_STR(n.seen, "d/2 ");
    }
    storageFree(st);
}

/* The segments stored from a seq on, in a format-3 archive (grouped names) and a format-1 one (flat):
 * the listing starts in the right group, crosses group boundaries, and sees nothing before it. */
static void
testStoredAcrossGroups(void) {
    static const uint64_t seqs[] = {2, 9999, 10000, 10001, 10002, 19999, 20005, 30000};
    static const unsigned versions[] = {3, 1};

    for (size_t v = 0; v < 2; v++) {
        unsigned version = versions[v];
        Store s;
        uint8_t *present;
        Err err;
        SegmentNaming naming;

        REQUIRE(storeOpen(&s, version == 3 ? "grouped" : "flat", version) == 0);
        REQUIRE(archiveSegmentNaming(s.archive, &naming, &err) == 0);
        CHECK_INT(naming, version == 3 ? SEGMENT_NAMING_GROUPED : SEGMENT_NAMING_FLAT);
        for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
            SegmentMeta m;

            fixtureCrafted(&m, seqs[i], "mariadb-bin.000001", 256 + seqs[i], 300 + seqs[i], NULL, NULL);
            REQUIRE(archiveSegmentSetName(s.archive, &m, &err) == 0);
            CHECK((strchr(m.name + strlen("segments/"), '/') != NULL) == (version == 3));
            REQUIRE(storagePutBuf(s.storage, m.name, "x", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
        }
        REQUIRE(archiveOutlineStored(s.archive, 10001, 20005, &present, &err) == 0);
        for (uint64_t seq = 10001; seq <= 20005; seq++)
            CHECK(archiveOutlineHolds(present, 10001, seq) ==
                  (seq == 10001 || seq == 10002 || seq == 19999 || seq == 20005));
        bvFree(present);
        REQUIRE(archiveOutlineStored(s.archive, 10000, 10000, &present, &err) == 0);
        CHECK(archiveOutlineHolds(present, 10000, 10000));
        bvFree(present);
        storeClose(&s);
    }
}

static void
testSpanLines(void) {
    SegmentMeta metas[3];
    ArchiveSpan span, back;
    Buf *line = bufNew(0);
    Err err;

    for (size_t i = 0; i < 3; i++)
        genMeta(&metas[i], 1499 + i);
    archiveSpanFromMetas(NULL, metas, 3, &span);
    CHECK_INT(span.segments, 3);
    CHECK_INT(span.transactions, 6);
    CHECK_INT(span.breakCount, 1);
    CHECK_INT(span.breaks[0].afterSeq, 1499);
    CHECK_INT(span.breaks[0].beforeSeq, 1500);
    CHECK_INT(span.maxTimeUs, 1000000ull * (1300 + 1500));
    CHECK_INT(span.minTimeUs, 1000000ull * (1000 + 1499));
    snprintf(span.name, sizeof(span.name), "index/0000000000001499-0000000000001501.bvi");
    archiveSpanToJson(&span, line);
    REQUIRE(archiveSpanParse((const char *)line->data, line->len, &back, &err) == 0);
    CHECK_INT(back.lastSeq, 1501);
    CHECK_STR(back.gtidEnd, "0-1-3002");
    CHECK_INT(back.breakCount, 1);
    CHECK_INT(back.maxTimeUs, span.maxTimeUs);
    archiveSpanClear(&back);
    /* Hostile lines are refused. */
    CHECK(archiveSpanParse("{\"version\":3}", 13, &back, &err) != 0);
    CHECK(archiveSpanParse("[]", 2, &back, &err) != 0);
    {
        char *bad = bvStrndup((const char *)line->data, line->len);
        char *p = strstr(bad, "\"last_seq\":1501");

        REQUIRE(p != NULL);
        memcpy(p, "\"last_seq\":1409", 15);
        CHECK(archiveSpanParse(bad, strlen(bad), &back, &err) != 0);
        CHECK_INT(err.code, ERR_FORMAT);
        bvFree(bad);
        /* Members missing (found by fuzz_index): refused, not a crash. */
        for (size_t k = 0; k < 4; k++) {
            static const char *const members[] = {"\"timelines\"", "\"start\"", "\"end\"", "\"breaks\""};

            bad = bvStrndup((const char *)line->data, line->len);
            REQUIRE((p = strstr(bad, members[k])) != NULL);
            p[1] = 'X';
            CHECK(archiveSpanParse(bad, strlen(bad), &back, &err) != 0);
            CHECK_INT(err.code, ERR_FORMAT);
            bvFree(bad);
        }
    }
    archiveSpanClear(&span);
    for (size_t i = 0; i < 3; i++)
        segmentMetaClear(&metas[i]);
    bufFree(line);
    /* Names: whole blocks of one group only. */
    {
        uint64_t f, l;

        CHECK(archiveSummaryNameParse("catalog/1/0000000000000001-0000000000002048.bvc", &f, &l) == 0);
        CHECK(archiveSummaryNameParse("catalog/1/0000000000000001-0000000000002047.bvc", &f, &l) != 0);
        CHECK(archiveSummaryNameParse("catalog/1/0000000000000002-0000000000002048.bvc", &f, &l) != 0);
        CHECK(archiveSummaryNameParse("catalog/1/0000000000000001-0000000001049600.bvc", &f, &l) != 0);
    }
}

void
suite_catalog(void) {
    testRun("catalog: block and summary names, span lines", testSpanLines);
    testRun("catalog: storage listings from a name, stopped early", testListFrom);
    testRun("catalog: segments stored from a seq, grouped (format 3) and flat", testStoredAcrossGroups);
    testRun("catalog: the writer's blocks and summaries, the view against the whole index", testWriterAndView);
    testRun("catalog: the writer follows a prune that runs beside it", testWriterFollowsPrune);
    testRun("catalog: a prune deletes the summaries of pruned blocks only", testPruneDeletesSummaries);
    testRun("catalog: what a prune does to a diverged branch", testPruneDivergedFate);
    testRun("catalog: retention over the view answers as over the whole index", testViewRetention);
    testRun("catalog: the prune over the view leaves what the whole-index prune leaves", testViewPrune);
    testRun("catalog: the upgrade of a format-1 index", testUpgrade);
    testRun("catalog: an upgrade killed before binvault.json moved", testUpgradeInterrupted);
}
