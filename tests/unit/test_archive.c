/* Unit tests of the catalog over fixture binlogs archived as the agent would: loading, lookups, discovery,
 * corrupt and merged index chunks, prune records and the prune procedure. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/backup.h"
#include "archive/catalog.h"
#include "archive/checkpoint.h"
#include "archive/continuity.h"
#include "binlog/gtid.h"
#include "archive/identity.h"
#include "archive/index.h"
#include "archive/lookup.h"
#include "archive/prune.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "common/bytes.h"
#include "common/fs.h"
#include "common/mem.h"
#include "tests/test.h"

#define MARIA_FILES 4
static const char *const mariaFixtures[MARIA_FILES] = {
    "mariadb-10.11.19-compressed.000001.binlog", "mariadb-10.11.19-compressed.000002.binlog",
    "mariadb-10.11.19-compressed.000003.binlog", "mariadb-10.11.19-compressed.000004.binlog"};
static const char *const mariaNames[MARIA_FILES] = {"mariadb-bin.000001", "mariadb-bin.000002", "mariadb-bin.000003",
                                                    "mariadb-bin.000004"};
static const char *const mysqlFixtures[2] = {"mysql-8.0.45-gtid.000001.binlog", "mysql-8.0.45-gtid.000002.binlog"};
static const char *const mysqlNames[2] = {"binlog.000001", "binlog.000002"};

typedef struct Store {
    char root[512];
    Storage *storage;
    Archive *archive;
} Store;

static int
storeOpen(Store *s) {
    Err err = {0};

    snprintf(s->root, sizeof(s->root), "%s/store", testTmpDir());
    BV_ASSERT(mkdir(s->root, 0700) == 0);
    s->storage = storageNew(s->root, &err);
    if (s->storage == NULL) {
        testFail(__FILE__, __LINE__, "storageNew: %s", err.msg);
        return -1;
    }
    s->archive = archiveNew(s->storage);
    return 0;
}

static void
storeClose(Store *s) {
    archiveFree(s->archive);
    storageFree(s->storage);
}

/* Archive binlog fixtures as the agent would: whole transactions, a segment every `perSegment`
 * transactions and at the end of each file, one index chunk per file when `index`. The segments
 * are also returned in *out (n). */
static int
archiveFixtures(Store *s, const char *const *fixtures, const char *const *names, size_t nfiles, unsigned perSegment,
                bool index, SegmentMeta **out, size_t *n) {
    BinlogTxnFramer *framer = binlogTxnFramerNew(256);
    SegmentMeta *all = NULL;
    size_t count = 0, cap = 0;
    uint64_t seq = 1;
    Err err = {0};
    int rc = 0;

    for (size_t f = 0; f < nfiles && rc == 0; f++) {
        char path[1024];
        size_t len, fileFirst = count;
        uint8_t *data, *fde = NULL;
        size_t fdeLen = 0;
        BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, 0);
        SegmentWriter *w = NULL;
        BinlogEvent ev;
        uint8_t lastType = 0;
        int got;

        snprintf(path, sizeof(path), "%s/%s", testFixtureDir(), fixtures[f]);
        data = testReadFile(path, &len);
        BV_ASSERT(data != NULL);
        binlogReaderFeed(r, data, len);
        while (rc == 0 && (got = binlogReaderNext(r, &ev, &err)) == 1) {
            uint64_t pos = binlogReaderEventOffset(r);
            const BinlogFormat *fmt = binlogReaderFormat(r);
            int st;

            if (fde == NULL) {
                fde = bvMalloc(ev.h.size);
                memcpy(fde, ev.data, ev.h.size);
                fdeLen = ev.h.size;
                BV_ASSERT(binlogTxnFramerPush(framer, fmt, &ev, pos, &err) >= 0);
                continue;
            }
            if (w == NULL) {
                SegmentMeta m = {0};
                char spool[1024];
                char *state = binlogTxnFramerGtidState(framer);

                m.seq = seq;
                m.flavour = fmt->flavour;
                m.serverId = ev.h.serverId;
                snprintf(m.file, sizeof(m.file), "%s", names[f]);
                m.startPos = pos;
                m.gtidStart = state;
                snprintf(spool, sizeof(spool), "%s/spool-%llu", testTmpDir(), (unsigned long long)seq);
                w = segmentWriterNew(spool, &m, fde, fdeLen, &err);
                bvFree(state);
                if (w == NULL) {
                    rc = -1;
                    break;
                }
            }
            if (segmentWriterAppend(w, ev.data, ev.h.size, pos + ev.h.size, &err) != 0) {
                rc = -1;
                break;
            }
            lastType = ev.h.type;
            st = binlogTxnFramerPush(framer, fmt, &ev, pos, &err);
            BV_ASSERT(st >= 0);
            if (ev.h.type == BINLOG_MARIA_GTID_LIST || ev.h.type == BINLOG_PREVIOUS_GTIDS) {
                char *state = binlogTxnFramerGtidState(framer);

                segmentWriterSetGtidStart(w, state);
                bvFree(state);
            }
            if ((st & 0x0f) == BINLOG_TXN_END) {
                const BinlogTxn *t = binlogTxnFramerDone(framer);
                char *state = binlogTxnFramerGtidState(framer);

                segmentWriterTransaction(w, t->gtid, t->commitTimeUs, state);
                bvFree(state);
            }
            if (((st & 0x0f) == BINLOG_TXN_END && segmentWriterTransactions(w) >= perSegment) ||
                binlogReaderPending(r) == 0) {
                bool endsFile = binlogReaderPending(r) == 0 && (lastType == BINLOG_ROTATE || lastType == BINLOG_STOP);
                char spool[1024];

                if (count == cap) {
                    cap = cap ? cap * 2 : 16;
                    all = bvRealloc(all, cap * sizeof(*all));
                }
                snprintf(spool, sizeof(spool), "%s/spool-%llu", testTmpDir(), (unsigned long long)seq);
                if (segmentWriterSeal(w, endsFile, &all[count], &err) != 0 ||
                    archiveSegmentPut(s->archive, spool, &all[count], &err) != 0) {
                    rc = -1;
                    break;
                }
                count++;
                seq++;
                segmentWriterFree(w);
                w = NULL;
                unlink(spool);
            }
        }
        segmentWriterFree(w);
        if (rc == 0 && index && count > fileFirst)
            rc = archiveIndexPut(s->archive, NULL, all + fileFirst, count - fileFirst, &err);
        bvFree(fde);
        bvFree(data);
        binlogReaderFree(r);
    }
    binlogTxnFramerFree(framer);
    if (rc != 0)
        testFail(__FILE__, __LINE__, "archiving fixtures: %s", err.msg);
    *out = all;
    *n = count;
    return rc;
}

static void
metasFree(SegmentMeta *m, size_t n) {
    for (size_t i = 0; i < n; i++)
        segmentMetaClear(&m[i]);
    bvFree(m);
}

/* Names of the objects under `prefix`, joined with spaces. */
typedef struct Names {
    char text[8192];
    size_t count;
} Names;

static int
namesCb(const char *name, uint64_t size, void *data, Err *err) {
    Names *n = data;
    size_t len = strlen(n->text);

    (void)size;
    (void)err;
    snprintf(n->text + len, sizeof(n->text) - len, "%s%s", len ? " " : "", name);
    n->count++;
    return 0;
}

static Names
listNames(Store *s, const char *prefix) {
    Names n = {{0}, 0};
    Err err = {0};

    BV_ASSERT(storageList(s->storage, prefix, namesCb, &n, &err) == 0);
    return n;
}

/* ---- load, continuity, windows, lookups --------------------------------------------------------- */

static void
testLoadMariadb(void) {
    Store s;
    SegmentMeta *metas;
    size_t n, idx;
    ArchiveCatalog *c;
    ArchiveGap *gaps;
    ArchiveWindow w;
    Err err = {0};
    uint64_t objects, content;

    REQUIRE(storeOpen(&s) == 0);
    REQUIRE(archiveFixtures(&s, mariaFixtures, mariaNames, MARIA_FILES, 3, true, &metas, &n) == 0);
    CHECK(n >= 6);
    CHECK_INT(listNames(&s, "index/").count, MARIA_FILES);
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogCount(c), n);
    CHECK_INT(archiveCatalogProblemCount(c), 0);
    for (size_t i = 0; i < archiveCatalogProblemCount(c); i++)
        fprintf(stderr, "    problem: %s\n", archiveCatalogProblem(c, i));
    CHECK_INT(archiveCatalogContiguousSeq(c), n);
    CHECK_INT(archiveCatalogLast(c)->seq, n);
    CHECK_INT(archiveCatalogFlavour(c), BINLOG_FLAVOUR_MARIADB);
    for (size_t i = 0; i < n; i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);

        CHECK_INT(m->seq, i + 1);
        CHECK_STR(m->name, metas[i].name);
        CHECK_STR(m->sha256, metas[i].sha256);
        CHECK_INT(m->size, metas[i].size);
        CHECK_STR(m->gtidEnd, metas[i].gtidEnd);
        CHECK(archiveCatalogIndexed(c, i));
    }
    archiveCatalogTotals(c, &objects, &content);
    CHECK(objects > 0 && content > objects / 2);
    /* The fixtures are one server's consecutive files: no gap. */
    CHECK_INT(archiveCatalogGaps(c, &gaps), 0);
    for (size_t i = 0; gaps != NULL && i < 4; i++)
        fprintf(stderr, "    gap: %s\n", gaps[i].message);
    bvFree(gaps);
    REQUIRE(archiveCatalogWindow(c, &w, &err) == 0);
    CHECK_INT(w.first, 0);
    CHECK_INT(w.last, n - 1);
    CHECK_STR(w.firstGtid, "0-11-1");
    CHECK_STR(w.lastGtid, "2-11-3");
    CHECK_STR(w.to->gtidEnd, "0-11-11,2-11-3");
    CHECK_STR(w.from->file, "mariadb-bin.000001");
    CHECK_INT(w.from->startPos, 256);
    CHECK_STR(w.to->file, "mariadb-bin.000004");
    CHECK_INT(w.to->endPos, 412);
    CHECK_INT(w.transactions, 14);
    CHECK(w.firstTimeUs > 0 && w.lastTimeUs >= w.firstTimeUs);

    /* GTID lookups. */
    REQUIRE(archiveCatalogFindGtid(c, "0-11-1", &idx, &err) == 0);
    CHECK_INT(idx, 0);
    REQUIRE(archiveCatalogFindGtid(c, "0-11-4", &idx, &err) == 0);
    CHECK_INT(archiveCatalogAt(c, idx)->seq, 2);
    REQUIRE(archiveCatalogFindGtid(c, "2-11-3", &idx, &err) == 0);
    CHECK_STR(archiveCatalogAt(c, idx)->file, "mariadb-bin.000003");
    REQUIRE(archiveCatalogFindGtid(c, "0-11-10", &idx, &err) == 0);
    CHECK_STR(archiveCatalogAt(c, idx)->file, "mariadb-bin.000003");
    CHECK(archiveCatalogFindGtid(c, "0-11-12", &idx, &err) != 0);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "after the archived range");
    CHECK(archiveCatalogFindGtid(c, "5-11-1", &idx, &err) != 0);
    CHECK(archiveCatalogFindGtid(c, "0-11", &idx, &err) != 0);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK(archiveCatalogFindGtid(c, "", &idx, &err) != 0);

    /* Position lookups. */
    REQUIRE(archiveCatalogFindPosition(c, "mariadb-bin.000001", 1208, &idx, &err) == 0);
    CHECK(archiveCatalogAt(c, idx)->startPos <= 1208 && archiveCatalogAt(c, idx)->endPos > 1208);
    REQUIRE(archiveCatalogFindPosition(c, "mariadb-bin.000001", 4, &idx, &err) == 0);
    CHECK_INT(idx, 0);
    REQUIRE(archiveCatalogFindPosition(c, "mariadb-bin.000001", 3686, &idx, &err) == 0);
    CHECK_STR(archiveCatalogAt(c, idx)->file, "mariadb-bin.000001");
    CHECK(archiveCatalogFindPosition(c, "mariadb-bin.000001", 3687, &idx, &err) != 0);
    CHECK_MSG(err.msg, "mariadb-bin.000001:256-3687");
    CHECK(archiveCatalogFindPosition(c, "mariadb-bin.000009", 4, &idx, &err) != 0);
    CHECK_MSG(err.msg, "not in the archive");

    /* Time lookups: the fixture commits within two seconds. */
    REQUIRE(archiveCatalogFindTime(c, w.lastTimeUs, false, &idx, &err) == 0);
    CHECK(archiveCatalogAt(c, idx)->transactions > 0);
    CHECK(archiveCatalogFindTime(c, w.firstTimeUs - 1, false, &idx, &err) != 0);
    CHECK_MSG(err.msg, "before the first archived commit");
    CHECK(archiveCatalogFindTime(c, w.lastTimeUs + 1, false, &idx, &err) != 0);
    CHECK_MSG(err.msg, "after the last archived commit");

    /* The checkpoint it supports. */
    {
        ArchiveCheckpoint cp;

        archiveCheckpointFromCatalog(c, &cp);
        CHECK_INT(cp.seq, n);
        CHECK_STR(cp.file, "mariadb-bin.000004");
        CHECK_INT(cp.endPos, 412);
        CHECK_STR(cp.gtidEnd, "0-11-11,2-11-3");
        CHECK_STR(cp.lastGtid, "2-11-3");
        archiveCheckpointClear(&cp);
    }
    archiveCatalogFree(c);
    metasFree(metas, n);
    storeClose(&s);
}

static void
testLoadMysql(void) {
    Store s;
    SegmentMeta *metas;
    size_t n, idx;
    ArchiveCatalog *c;
    ArchiveGap *gaps;
    Err err = {0};

    REQUIRE(storeOpen(&s) == 0);
    REQUIRE(archiveFixtures(&s, mysqlFixtures, mysqlNames, 2, 2, true, &metas, &n) == 0);
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogCount(c), n);
    CHECK_INT(archiveCatalogGaps(c, &gaps), 0);
    bvFree(gaps);
    CHECK_STR(archiveCatalogLast(c)->gtidEnd, "396e294c-1ca4-11f1-9ae7-00155da79c6b:1-6");
    REQUIRE(archiveCatalogFindGtid(c, "396e294c-1ca4-11f1-9ae7-00155da79c6b:5", &idx, &err) == 0);
    CHECK_STR(archiveCatalogAt(c, idx)->file, "binlog.000002");
    REQUIRE(archiveCatalogFindGtid(c, "396E294C-1CA4-11F1-9AE7-00155DA79C6B:2", &idx, &err) == 0);
    CHECK_STR(archiveCatalogAt(c, idx)->file, "binlog.000001");
    CHECK(archiveCatalogFindGtid(c, "396e294c-1ca4-11f1-9ae7-00155da79c6b:7", &idx, &err) != 0);
    CHECK(archiveCatalogFindGtid(c, "11111111-1ca4-11f1-9ae7-00155da79c6b:1", &idx, &err) != 0);
    archiveCatalogFree(c);
    metasFree(metas, n);
    storeClose(&s);
}

/* Segments stored but not indexed (a crash between the two) are found and indexed. */
static void
testDiscover(void) {
    Store s;
    SegmentMeta *metas;
    size_t n, indexed;
    ArchiveCatalog *c;
    Err err = {0};

    REQUIRE(storeOpen(&s) == 0);
    REQUIRE(archiveFixtures(&s, mariaFixtures, mariaNames, 2, 3, false, &metas, &n) == 0);
    REQUIRE(n >= 3);
    REQUIRE(archiveIndexPut(s.archive, NULL, metas, 2, &err) == 0);
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogCount(c), 2);
    archiveCatalogFree(c);

    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogCount(c), n);
    CHECK_INT(archiveCatalogProblemCount(c), 0);
    CHECK(archiveCatalogIndexed(c, 1));
    CHECK(!archiveCatalogIndexed(c, 2));
    CHECK_STR(archiveCatalogAt(c, 2)->sha256, "");
    CHECK_INT(archiveCatalogAt(c, 2)->size, metas[2].size);
    CHECK_STR(archiveCatalogAt(c, 2)->contentSha256, metas[2].contentSha256);
    CHECK_INT(archiveCatalogContiguousSeq(c), 2);
    REQUIRE(archiveIndexDiscovered(s.archive, c, &indexed, &err) == 0);
    CHECK_INT(indexed, n - 2);
    CHECK_INT(archiveCatalogContiguousSeq(c), n);
    CHECK_STR(archiveCatalogAt(c, 2)->sha256, metas[2].sha256);
    archiveCatalogFree(c);

    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogCount(c), n);
    CHECK_INT(archiveCatalogContiguousSeq(c), n);
    CHECK_INT(archiveCatalogChunkCount(c), 2);
    archiveCatalogFree(c);

    /* A deleted segment is seen missing by the listing; an object that is not a segment is noted. */
    REQUIRE(storageRemove(s.storage, metas[1].name, &err) == 0);
    REQUIRE(storagePutBuf(s.storage, "segments/stray", "x", 1, STORAGE_PUT_IMMUTABLE, &err) == 0);
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogProblemCount(c), 1);
    CHECK(archiveCatalogProblemCount(c) == 1 && strstr(archiveCatalogProblem(c, 0), "segments/stray") != NULL);
    {
        uint64_t size = 1;

        CHECK(!archiveCatalogListed(c, 1, &size));
        CHECK(archiveCatalogListed(c, 0, &size));
        CHECK_INT(size, metas[0].size);
    }
    archiveCatalogFree(c);
    /* An unindexed object with a segment's name but no segment's trailer is not part of the
     * archive: a problem, even for a strict load, which goes on with what the index holds. */
    {
        char bad[SEGMENT_NAME_MAX];

        segmentName(n + 3, "mariadb-bin.000009", 256, SEGMENT_NAMING_GROUPED, bad, sizeof(bad));
        REQUIRE(storagePutBuf(s.storage, bad, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 64,
                              STORAGE_PUT_IMMUTABLE, &err) == 0);
        c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
        CHECK(c != NULL);
        if (c != NULL) {
            CHECK_INT(archiveCatalogProblemCount(c), 2);
            CHECK(archiveCatalogProblemCount(c) == 2 && strstr(archiveCatalogProblem(c, 1), bad) != NULL);
            CHECK_INT(archiveCatalogCount(c), n);
        } else {
            testFail(__FILE__, __LINE__, "load: %s", err.msg);
        }
        archiveCatalogFree(c);
    }
    metasFree(metas, n);
    storeClose(&s);
}

/* A chunk that cannot be parsed fails a strict load, naming it and the line; a tolerant load
 * notes it and discovery still finds its segments. */
static void
testCorruptChunk(void) {
    Store s;
    SegmentMeta *metas;
    size_t n;
    ArchiveCatalog *c;
    Err err = {0};
    char name[64];
    uint8_t *data;
    size_t len;

    REQUIRE(storeOpen(&s) == 0);
    REQUIRE(archiveFixtures(&s, mariaFixtures, mariaNames, 1, 3, true, &metas, &n) == 0);
    archiveChunkName(1, n, name, sizeof(name));
    REQUIRE(storageGetBuf(s.storage, name, 1 << 20, &data, &len, &err) == 0);
    /* Break the second line. */
    {
        uint8_t *nl = memchr(data, '\n', len);
        char path[1024];

        REQUIRE(nl != NULL);
        nl[3] = '#';
        snprintf(path, sizeof(path), "%s/%s", s.root, name);
        REQUIRE(chmod(path, 0600) == 0);
        REQUIRE(fsWriteFileAtomic(path, data, len, 0640, &err) == 0);
    }
    bvFree(data);
    c = archiveCatalogLoad(s.archive, 0, &err);
    CHECK(c == NULL);
    CHECK(strstr(err.msg, name) != NULL && strstr(err.msg, "line 2") != NULL);
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_TOLERANT | ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogProblemCount(c), 1);
    CHECK(strstr(archiveCatalogProblem(c, 0), "line 2") != NULL);
    CHECK_INT(archiveCatalogCount(c), n);
    CHECK(!archiveCatalogIndexed(c, 0));
    archiveCatalogFree(c);

    /* A chunk whose name promises more seqs than it holds. */
    REQUIRE(storageRemove(s.storage, name, &err) == 0);
    REQUIRE(archiveIndexPut(s.archive, NULL, metas, 1, &err) == 0);
    {
        char wrong[64], right[64], from[1024], to[1024];

        archiveChunkName(1, 1, right, sizeof(right));
        archiveChunkName(1, 2, wrong, sizeof(wrong));
        snprintf(from, sizeof(from), "%s/%s", s.root, right);
        snprintf(to, sizeof(to), "%s/%s", s.root, wrong);
        REQUIRE(rename(from, to) == 0);
        c = archiveCatalogLoad(s.archive, 0, &err);
        CHECK(c == NULL);
        CHECK_MSG(err.msg, "its name says seqs 1-2");
    }
    metasFree(metas, n);
    storeClose(&s);
}

/* Widest chunk per seq; merge of narrow chunks, and recovery from a merge interrupted between
 * writing the wide chunk and deleting the narrow ones. */
static void
testMerge(void) {
    Store s;
    SegmentMeta *metas;
    size_t n, written, removed;
    ArchiveCatalog *c;
    Err err = {0};
    Names names;
    char wide[64];

    REQUIRE(storeOpen(&s) == 0);
    REQUIRE(archiveFixtures(&s, mariaFixtures, mariaNames, MARIA_FILES, 1, false, &metas, &n) == 0);
    REQUIRE(n >= 10);
    for (size_t i = 0; i < n; i++)
        REQUIRE(archiveIndexPut(s.archive, NULL, metas + i, 1, &err) == 0);
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogChunkCount(c), n);
    REQUIRE(archiveIndexMerge(s.archive, c, &written, &removed, &err) == 0);
    CHECK_INT(written, 1);
    CHECK_INT(removed, n);
    archiveCatalogFree(c);
    names = listNames(&s, "index/");
    archiveChunkName(1, n, wide, sizeof(wide));
    CHECK_STR(names.text, wide);
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogCount(c), n);
    CHECK_INT(archiveCatalogContiguousSeq(c), n);
    for (size_t i = 0; i < n; i++)
        CHECK_STR(archiveCatalogAt(c, i)->sha256, metas[i].sha256);
    /* Nothing left to merge. */
    REQUIRE(archiveIndexMerge(s.archive, c, &written, &removed, &err) == 0);
    CHECK_INT(written, 0);
    CHECK_INT(removed, 0);
    archiveCatalogFree(c);

    /* Interrupted merge: the wide chunk and the narrow ones side by side. */
    for (size_t i = 0; i < 3; i++)
        REQUIRE(archiveIndexPut(s.archive, NULL, metas + i, 1, &err) == 0);
    REQUIRE(archiveIndexPut(s.archive, NULL, metas + 2, 2, &err) == 0); /* overlaps the wide one */
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogCount(c), n);
    CHECK_INT(archiveCatalogProblemCount(c), 0);
    {
        size_t unused = 0;

        for (size_t i = 0; i < archiveCatalogChunkCount(c); i++) {
            uint64_t first, last;
            bool used;

            archiveCatalogChunkAt(c, i, &first, &last, &used);
            unused += !used;
        }
        CHECK_INT(unused, 4);
    }
    REQUIRE(archiveIndexMerge(s.archive, c, &written, &removed, &err) == 0);
    CHECK_INT(written, 0);
    CHECK_INT(removed, 4);
    archiveCatalogFree(c);
    names = listNames(&s, "index/");
    CHECK_STR(names.text, wide);

    /* Partly overlapping chunks that disagree about a segment are noted; the wider one wins. */
    {
        SegmentMeta pair[2];

        segmentMetaCopy(&pair[0], &metas[0]);
        segmentMetaCopy(&pair[1], &metas[1]);
        pair[1].sha256[0] = pair[1].sha256[0] == '0' ? '1' : '0';
        REQUIRE(storageRemove(s.storage, wide, &err) == 0);
        REQUIRE(archiveIndexPut(s.archive, NULL, pair, 2, &err) == 0);
        REQUIRE(archiveIndexPut(s.archive, NULL, metas + 1, n - 1, &err) == 0);
        segmentMetaClear(&pair[0]);
        segmentMetaClear(&pair[1]);
        c = archiveCatalogLoad(s.archive, 0, &err);
        REQUIRE(c != NULL);
        CHECK_INT(archiveCatalogCount(c), n);
        CHECK_INT(archiveCatalogProblemCount(c), 1);
        CHECK(archiveCatalogProblemCount(c) == 1 && strstr(archiveCatalogProblem(c, 0), "disagree about seq 2") != NULL);
        CHECK_STR(archiveCatalogAt(c, 1)->sha256, metas[1].sha256);
        archiveCatalogFree(c);
    }
    metasFree(metas, n);
    storeClose(&s);
}

/* ---- retention (prune) -------------------------------------------------------------------------- */

static void
testPruneDocuments(void) {
    char name[64];
    uint64_t seq;
    ArchivePruneRecord rec;
    ArchiveBasePoint bp;
    Err err = {0};
    const char *doc = "{\"version\":1,\"first_seq\":12,\"file\":\"mariadb-bin.000002\",\"start_pos\":256,"
                      "\"gtid_start\":\"0-1-5\",\"first_time_us\":7,\"created\":\"2026-11-21T04:30:00Z\","
                      "\"reason\":\"--keep-days 7\",\"future\":[1]}";

    archivePruneName(12, name, sizeof(name));
    CHECK_STR(name, "prune/0000000000000012.json");
    REQUIRE(archivePruneNameParse(name, &seq) == 0);
    CHECK_INT(seq, 12);
    CHECK(archivePruneNameParse("prune/0000000000000001.json", &seq) != 0); /* nothing before seq 1 */
    CHECK(archivePruneNameParse("prune/000000000000012.json", &seq) != 0);
    CHECK(archivePruneNameParse("prune/0000000000000012.jsn", &seq) != 0);
    REQUIRE(archivePruneRecordParse(doc, strlen(doc), &rec, &err) == 0);
    CHECK_INT(rec.firstSeq, 12);
    CHECK_STR(rec.file, "mariadb-bin.000002");
    CHECK_INT(rec.startPos, 256);
    CHECK_STR(rec.gtidStart, "0-1-5");
    CHECK_INT(rec.firstTimeUs, 7);
    CHECK_STR(rec.reason, "--keep-days 7");
    archivePruneRecordClear(&rec);
    /* Required members; optional ones may be absent. */
    {
        const char *bad[] = {"{\"version\":2,\"first_seq\":12}", "{\"version\":1,\"file\":\"x.1\"}",
                             "{\"version\":1,\"first_seq\":1,\"file\":\"x.1\",\"start_pos\":4,\"gtid_start\":\"\","
                             "\"created\":\"x\"}",
                             "{\"version\":1,\"first_seq\":3,\"file\":\"../x\",\"start_pos\":4,\"gtid_start\":\"\","
                             "\"created\":\"x\"}",
                             "{\"version\":1,\"first_seq\":3,\"file\":\"x.1\",\"start_pos\":4,\"created\":\"x\"}", "[]"};
        const char *minimal = "{\"version\":1,\"first_seq\":3,\"file\":\"x.1\",\"start_pos\":4,\"gtid_start\":\"\","
                              "\"created\":\"x\"}";

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            CHECK(archivePruneRecordParse(bad[i], strlen(bad[i]), &rec, &err) != 0);
            CHECK_INT(err.code, ERR_FORMAT);
        }
        REQUIRE(archivePruneRecordParse(minimal, strlen(minimal), &rec, &err) == 0);
        CHECK_STR(rec.reason, "");
        archivePruneRecordClear(&rec);
    }
    /* Base backup binlog info: MariaDB, MySQL with a set over two lines, no GTID, bad ones. */
    REQUIRE(archiveBasePointParse("mariadb-bin.000003\t1234\t0-1-100,1-2-7\n", 38, &bp, &err) == 0);
    CHECK_STR(bp.file, "mariadb-bin.000003");
    CHECK_INT(bp.pos, 1234);
    CHECK_STR(bp.gtid, "0-1-100,1-2-7");
    archiveBasePointClear(&bp);
    {
        const char *mysql = "binlog.000002\t157\t3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n"
                            "4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3\n";

        REQUIRE(archiveBasePointParse(mysql, strlen(mysql), &bp, &err) == 0);
        CHECK_STR(bp.gtid, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3");
        archiveBasePointClear(&bp);
    }
    REQUIRE(archiveBasePointParse("binlog.000002\t157\n", 18, &bp, &err) == 0);
    CHECK_STR(bp.gtid, "");
    archiveBasePointClear(&bp);
    CHECK(archiveBasePointParse("binlog.000002\n", 14, &bp, &err) != 0);
    CHECK(archiveBasePointParse("binlog.000002\t1x\n", 17, &bp, &err) != 0);
    CHECK(archiveBasePointParse("binlog.000002\t2\n", 16, &bp, &err) != 0);
    CHECK(archiveBasePointParse("../etc\t200\n", 11, &bp, &err) != 0);
    CHECK(archiveBasePointParse("", 0, &bp, &err) != 0);
}

/* Counts the steps of a prune and fails the one numbered `stopAt` (a crash there). */
typedef struct PruneSteps {
    size_t count, stopAt;
    size_t actions[6];
} PruneSteps;

static int
pruneStepCb(void *data, ArchivePruneAction action, const char *object, uint64_t bytes, Err *err) {
    PruneSteps *p = data;

    (void)object;
    (void)bytes;
    p->actions[action]++;
    if (++p->count == p->stopAt)
        return errSet(err, ERR_INTERNAL, "crash after %zu steps", p->count);
    return 0;
}

/* What a reader must see of an archive pruned to `k` (or not yet, when the record is not there):
 * no problem, no gap, every segment from its first seq to `n` indexed and stored. */
static void
checkPrunedArchive(Store *s, uint64_t n, uint64_t k, bool recordWritten) {
    Err err = {0};
    ArchiveCatalog *c = archiveCatalogLoad(s->archive, ARCHIVE_LOAD_DISCOVER, &err);
    ArchiveGap *gaps;
    ArchiveWindow w;
    uint64_t first = recordWritten ? k : 1;

    if (c == NULL) {
        testFail(__FILE__, __LINE__, "load: %s", err.msg);
        return;
    }
    CHECK_INT(archiveCatalogProblemCount(c), 0);
    CHECK_INT(archiveCatalogFirstSeq(c), first);
    CHECK_INT(archiveCatalogGaps(c, &gaps), 0);
    bvFree(gaps);
    CHECK_INT(archiveCatalogContiguousSeq(c), n);
    CHECK(archiveCatalogCount(c) > 0 && archiveCatalogAt(c, 0)->seq >= first);
    for (size_t i = 0; i < archiveCatalogCount(c); i++) {
        CHECK(archiveCatalogIndexed(c, i));
        CHECK(archiveCatalogListed(c, i, NULL));
    }
    REQUIRE(archiveCatalogWindow(c, &w, &err) == 0);
    CHECK_INT(w.to->seq, n);
    archiveCatalogFree(c);
}

static void
testPrune(void) {
    Store s;
    SegmentMeta *metas;
    size_t n, total = 0;
    ArchiveCatalog *c;
    uint64_t k, seq;
    char name[64];
    Names names;
    Err err = {0};

    REQUIRE(storeOpen(&s) == 0);
    /* One segment per transaction, one chunk per file: a prune point inside a chunk. */
    REQUIRE(archiveFixtures(&s, mariaFixtures, mariaNames, MARIA_FILES, 1, true, &metas, &n) == 0);
    REQUIRE(n >= 10);
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogFirstSeq(c), 1);
    /* Retention by time: the first segment with a commit at or after the time. */
    {
        ArchiveRetention r = {0};
        size_t mid = n / 2;

        while (mid < n && metas[mid].transactions == 0)
            mid++;
        REQUIRE(mid < n);
        r.keepFromUs = metas[mid].lastTimeUs;
        REQUIRE(archiveRetentionSeq(c, &r, &seq, &err) == 0);
        CHECK(seq <= metas[mid].seq);
        for (size_t i = 0; i + 1 < seq; i++)
            CHECK(metas[i].transactions == 0 || metas[i].lastTimeUs < r.keepFromUs);
        /* Nothing committed since: only the last segment is kept. */
        r.keepFromUs = UINT64_MAX;
        REQUIRE(archiveRetentionSeq(c, &r, &seq, &err) == 0);
        CHECK_INT(seq, n);
        /* Everything is recent: nothing to prune. */
        r.keepFromUs = 0;
        REQUIRE(archiveRetentionSeq(c, &r, &seq, &err) == 0);
        CHECK_INT(seq, 1);
        /* By GTID: the segment holding it; a GTID after the archive is refused. */
        r.beforeGtid = metas[mid].lastGtid;
        REQUIRE(archiveRetentionSeq(c, &r, &k, &err) == 0);
        CHECK_INT(k, metas[mid].seq);
        CHECK(k >= 2);
        r.beforeGtid = "0-1-999999";
        CHECK(archiveRetentionSeq(c, &r, &seq, &err) != 0);
        CHECK_INT(err.code, ERR_NOTFOUND);
    }
    /* Dry run: the steps, and nothing changes. */
    {
        PruneSteps dry = {0};

        REQUIRE(archivePrune(s.archive, c, k, "test", true, pruneStepCb, &dry, &err) == 0);
        CHECK_INT(dry.actions[ARCHIVE_PRUNE_WRITE_RECORD], 1);
        CHECK_INT(dry.actions[ARCHIVE_PRUNE_REMOVE_SEGMENT], k - 1);
        CHECK(dry.actions[ARCHIVE_PRUNE_REMOVE_CHUNK] >= 1);
        total = dry.count;
        names = listNames(&s, "segments/");
        CHECK_INT(names.count, n);
        CHECK_INT(listNames(&s, "prune/").count, 0);
    }
    archiveCatalogFree(c);
    REQUIRE(total > 3);
    /* A crash after every step: readers see a consistent archive, and a second prune finishes. */
    for (size_t stop = 1; stop <= total; stop++) {
        PruneSteps crash = {.stopAt = stop}, again = {0};
        char root2[400];
        Store s2;

        /* A fresh copy of the archive for each crash point. */
        snprintf(root2, sizeof(root2), "%s/crash-%zu", testTmpDir(), stop);
        {
            char cmd[2048];

            snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", s.root, root2);
            REQUIRE(system(cmd) == 0);
        }
        s2 = s;
        snprintf(s2.root, sizeof(s2.root), "%s", root2);
        s2.storage = storageNew(root2, &err);
        REQUIRE(s2.storage != NULL);
        s2.archive = archiveNew(s2.storage);
        c = archiveCatalogLoad(s2.archive, ARCHIVE_LOAD_DISCOVER, &err);
        REQUIRE(c != NULL);
        CHECK(archivePrune(s2.archive, c, k, "test", false, pruneStepCb, &crash, &err) != 0);
        archiveCatalogFree(c);
        checkPrunedArchive(&s2, n, k, true);
        c = archiveCatalogLoad(s2.archive, ARCHIVE_LOAD_DISCOVER, &err);
        REQUIRE(c != NULL);
        REQUIRE(archivePrune(s2.archive, c, archiveCatalogFirstSeq(c), "test", false, pruneStepCb, &again, &err) == 0);
        CHECK_INT(archiveCatalogLeftoverCount(c), 0);
        archiveCatalogFree(c);
        checkPrunedArchive(&s2, n, k, true);
        CHECK_INT(listNames(&s2, "segments/").count, n - k + 1);
        CHECK_INT(listNames(&s2, "prune/").count, 1);
        storeClose(&s2);
    }
    /* The real thing, in one go. */
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    REQUIRE(archivePrune(s.archive, c, k, "test", false, NULL, NULL, &err) == 0);
    CHECK_INT(archiveCatalogFirstSeq(c), k);
    CHECK_INT(archiveCatalogCount(c), n - k + 1);
    CHECK_INT(archiveCatalogContiguousSeq(c), n);
    archiveCatalogFree(c);
    checkPrunedArchive(&s, n, k, true);
    names = listNames(&s, "index/");
    archiveChunkName(k, k, name, sizeof(name));
    for (size_t i = 0; i < names.count; i++) {
        uint64_t first, last;
        char one[64];

        memcpy(one, names.text + i * 44, 43);
        one[43] = '\0';
        REQUIRE(archiveChunkNameParse(one, &first, &last) == 0);
        CHECK(first >= k);
    }
    /* A later prune replaces the record; the merge leaves pruned seqs alone. */
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    REQUIRE(archivePrune(s.archive, c, k + 1, "test", false, NULL, NULL, &err) == 0);
    REQUIRE(archiveIndexMerge(s.archive, c, NULL, NULL, &err) == 0);
    archiveCatalogFree(c);
    checkPrunedArchive(&s, n, k + 1, true);
    archivePruneName(k + 1, name, sizeof(name));
    CHECK_STR(listNames(&s, "prune/").text, name);
    /* Checkpoint and new segments after a prune: the agent's view. */
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    {
        ArchiveCheckpoint cp;

        archiveCheckpointFromCatalog(c, &cp);
        CHECK_INT(cp.seq, n);
        CHECK_STR(cp.file, metas[n - 1].file);
        archiveCheckpointClear(&cp);
    }
    archiveCatalogFree(c);
    metasFree(metas, n);
    storeClose(&s);
}

/* A reader with a stale view: a chunk that reaches into pruned seqs and the chunk that replaces
 * it. The replacement wins, so a merge never deletes it; a prune record that claims more than the
 * index holds is noted and ignored by every load alike (strict or tolerant). */
static void
testPruneLoad(void) {
    Store s;
    SegmentMeta *metas;
    size_t n, k = 4;
    ArchiveCatalog *c;
    char record[64], wide[64], kept[64];
    Names names;
    Err err = {0};
    const char *doc = "{\"version\":1,\"first_seq\":4,\"file\":\"mariadb-bin.000001\",\"start_pos\":256,"
                      "\"gtid_start\":\"\",\"created\":\"2026-11-21T04:30:00Z\"}";

    REQUIRE(storeOpen(&s) == 0);
    REQUIRE(archiveFixtures(&s, mariaFixtures, mariaNames, MARIA_FILES, 1, false, &metas, &n) == 0);
    REQUIRE(n > k + 2);
    REQUIRE(archiveIndexPut(s.archive, NULL, metas, n, &err) == 0);
    REQUIRE(archiveIndexPut(s.archive, NULL, metas + k - 1, n - k + 1, &err) == 0);
    archivePruneName(k, record, sizeof(record));
    REQUIRE(storagePutBuf(s.storage, record, doc, strlen(doc), STORAGE_PUT_IMMUTABLE, &err) == 0);
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogFirstSeq(c), k);
    CHECK_INT(archiveCatalogCount(c), n - k + 1);
    CHECK_INT(archiveCatalogContiguousSeq(c), n);
    REQUIRE(archiveIndexMerge(s.archive, c, NULL, NULL, &err) == 0);
    archiveCatalogFree(c);
    archiveChunkName(1, n, wide, sizeof(wide));
    archiveChunkName(k, n, kept, sizeof(kept));
    names = listNames(&s, "index/");
    CHECK_STR(names.text, kept);
    checkPrunedArchive(&s, n, k, true);
    /* Segments below the first seq are leftovers, not problems, and not indexed again. */
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogLeftoverCount(c), k - 1);
    CHECK_STR(archiveCatalogLeftover(c, 0, NULL), metas[0].name);
    {
        size_t indexed = 99;

        REQUIRE(archiveIndexDiscovered(s.archive, c, &indexed, &err) == 0);
        CHECK_INT(indexed, 0);
    }
    archiveCatalogFree(c);
    /* A gap right after the prune point is still a gap. */
    REQUIRE(storageRemove(s.storage, kept, &err) == 0);
    REQUIRE(storageRemove(s.storage, wide, &err) == 0);
    REQUIRE(archiveIndexPut(s.archive, NULL, metas + k, n - k, &err) == 0);
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    {
        ArchiveGap *gaps;
        size_t ng = archiveCatalogGaps(c, &gaps);

        CHECK_INT(ng, 1);
        CHECK(ng == 1 && strstr(gaps[0].message, "seq 4 missing before") != NULL &&
              strstr(gaps[0].message, "pruned") != NULL);
        bvFree(gaps);
        CHECK_INT(archiveCatalogContiguousSeq(c), 0);
    }
    archiveCatalogFree(c);
    /* A record beyond the index. */
    archivePruneName(n + 5, record, sizeof(record));
    REQUIRE(storagePutBuf(s.storage, record, doc, strlen(doc), STORAGE_PUT_IMMUTABLE, &err) == 0);
    c = archiveCatalogLoad(s.archive, 0, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogProblemCount(c), 1);
    CHECK(archiveCatalogProblemCount(c) == 1 && strstr(archiveCatalogProblem(c, 0), "index ends at seq") != NULL &&
          strstr(archiveCatalogProblem(c, 0), "ignored") != NULL);
    CHECK_INT(archiveCatalogFirstSeq(c), 1);
    archiveCatalogFree(c);
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_TOLERANT, &err);
    REQUIRE(c != NULL);
    CHECK_INT(archiveCatalogProblemCount(c), 1);
    CHECK_INT(archiveCatalogFirstSeq(c), 1);
    archiveCatalogFree(c);
    metasFree(metas, n);
    storeClose(&s);
}

/* A segment of bin.000001 at [start, start+100*txns) with commits first..last (seconds). */
static void
timedSegment(ArchiveCatalog *c, uint64_t seq, uint64_t start, uint64_t txns, uint64_t firstS, uint64_t lastS) {
    SegmentMeta m;
    Err err = {0};

    memset(&m, 0, sizeof(m));
    m.seq = seq;
    m.flavour = BINLOG_FLAVOUR_MARIADB;
    m.serverId = 1;
    snprintf(m.file, sizeof(m.file), "bin.000001");
    m.startPos = start;
    m.endPos = start + 100 * txns;
    m.fdeLen = 252;
    m.contentLen = 252 + 100 * txns;
    memset(m.contentSha256, 'a', 64);
    m.gtidStart = m.gtidEnd = "";
    m.firstTimeUs = firstS * 1000000ull;
    m.lastTimeUs = lastS * 1000000ull;
    m.transactions = txns;
    segmentName(seq, m.file, start, SEGMENT_NAMING_GROUPED, m.name, sizeof(m.name));
    memset(m.sha256, 'b', 64);
    m.size = 100;
    BV_ASSERT(archiveCatalogAdd(c, &m, true, &err) == 0);
}

/* Issue 14: commit times out of binlog order. The time lookup names the first segment the index
 * proves holds a commit after the time (the cut is there or before), and retention by time keeps
 * a segment whose last commit is back-dated but whose first is recent. */
static void
testTimeDisorder(void) {
    ArchiveCatalog *c = archiveCatalogNew();
    ArchiveRetention r = {0};
    uint64_t seq;
    size_t idx;
    Err err = {0};

    timedSegment(c, 1, 256, 3, 1000, 1002);
    timedSegment(c, 2, 556, 2, 1005, 900);  /* ends with a back-dated commit */
    timedSegment(c, 3, 756, 3, 800, 1020);  /* starts with one */
    REQUIRE(archiveCatalogFindTime(c, 1003 * 1000000ull, false, &idx, &err) == 0);
    CHECK_INT(idx, 1); /* not 2, whose first commit (800) is before the time */
    REQUIRE(archiveCatalogFindTime(c, 1005 * 1000000ull, true, &idx, &err) == 0);
    CHECK_INT(idx, 1);
    REQUIRE(archiveCatalogFindTime(c, 1010 * 1000000ull, false, &idx, &err) == 0);
    CHECK_INT(idx, 2);
    /* After every commit the index records (the latest is not the last segment's last). */
    CHECK(archiveCatalogFindTime(c, 1021 * 1000000ull, false, &idx, &err) != 0);
    CHECK_MSG(err.msg, "after the last archived commit");
    /* Keep what was committed from 1004 on: segment 2 (first commit 1005) stays. */
    r.keepFromUs = 1004 * 1000000ull;
    REQUIRE(archiveRetentionSeq(c, &r, &seq, &err) == 0);
    CHECK_INT(seq, 2);
    archiveCatalogFree(c);
}

/* A prune whose first kept segment is missing from the store stops before writing anything. */
static void
testPruneKeptMissing(void) {
    Store s;
    SegmentMeta *metas;
    size_t n, k = 4;
    ArchiveCatalog *c;
    Names names;
    Err err = {0};

    REQUIRE(storeOpen(&s) == 0);
    REQUIRE(archiveFixtures(&s, mariaFixtures, mariaNames, MARIA_FILES, 1, true, &metas, &n) == 0);
    REQUIRE(n > k);
    REQUIRE(storageRemove(s.storage, metas[k - 1].name, &err) == 0);
    c = archiveCatalogLoad(s.archive, ARCHIVE_LOAD_DISCOVER, &err);
    REQUIRE(c != NULL);
    CHECK(archivePrune(s.archive, c, k, "test", false, NULL, NULL, &err) == -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, metas[k - 1].name);
    names = listNames(&s, "prune/");
    CHECK_STR(names.text, "");
    {
        StorageInfo info = {0};

        CHECK(storageHead(s.storage, metas[0].name, &info, &err) == 0 && info.exists);
    }
    archiveCatalogFree(c);
    metasFree(metas, n);
    storeClose(&s);
}

void
suite_archive(void) {
    testRun("archive: time lookup and retention when commit times go backwards", testTimeDisorder);
    testRun("archive: load, continuity, window and lookups (mariadb)", testLoadMariadb);
    testRun("archive: load and gtid lookups (mysql)", testLoadMysql);
    testRun("archive: discovery of unindexed segments", testDiscover);
    testRun("archive: corrupt index chunks", testCorruptChunk);
    testRun("archive: widest chunk, merge, interrupted merge", testMerge);
    testRun("archive: prune records and base backup binlog info", testPruneDocuments);
    testRun("archive: prune, dry run, a crash after every step", testPrune);
    testRun("archive: loading a pruned archive", testPruneLoad);
    testRun("archive: prune refuses a missing first kept segment", testPruneKeptMissing);
}
