/* Canned archives for the unit tests of archive/ (archive_fixture.h). */
#include "tests/unit/archive_fixture.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/index.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "common/crypto.h"
#include "common/mem.h"
#include "tests/test.h"

static const char *const mariaFixtures[FIXTURE_FILES] = {
    "mariadb-10.11.19-compressed.000001.binlog", "mariadb-10.11.19-compressed.000002.binlog",
    "mariadb-10.11.19-compressed.000003.binlog", "mariadb-10.11.19-compressed.000004.binlog"};

const char *
fixtureMariaName(size_t i) {
    return mariaFixtures[i];
}

void
fixtureAs(const char *dir, const char *name, const char *as, char *out, size_t size) {
    char src[1024], abs[PATH_MAX];

    snprintf(src, sizeof(src), "%s/%s", testFixtureDir(), name);
    BV_ASSERT(realpath(src, abs) != NULL);
    snprintf(out, size, "%s/%s", dir, as);
    BV_ASSERT(symlink(abs, out) == 0);
}

static void
noticeCb(void *data, const char *message) {
    ArchiveFixture *f = data;
    size_t len = strlen(f->notices);

    snprintf(f->notices + len, sizeof(f->notices) - len, "%s\n", message);
    f->noticeCount++;
}

int
fixtureOpen(ArchiveFixture *f, uint64_t segmentSize) {
    char bin[1024];
    Err err = {0};

    memset(f, 0, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "%s/store", testTmpDir());
    snprintf(bin, sizeof(bin), "%s/binlogs", testTmpDir());
    BV_ASSERT(mkdir(f->root, 0700) == 0 && mkdir(bin, 0700) == 0);
    for (size_t i = 0; i < FIXTURE_FILES; i++) {
        char as[32];

        snprintf(as, sizeof(as), "mariadb-bin.%06zu", i + 1);
        fixtureAs(bin, mariaFixtures[i], as, f->files[i], sizeof(f->files[i]));
        f->argv[i] = f->files[i];
    }
    f->storage = storageNew(f->root, &err);
    if (f->storage == NULL) {
        testFail(__FILE__, __LINE__, "storageNew: %s", err.msg);
        return -1;
    }
    f->archive = archiveNew(f->storage);
    f->opts.segmentSize = segmentSize;
    f->opts.tmpDir = testTmpDir();
    f->opts.notice = noticeCb;
    f->opts.data = f;
    return 0;
}

int
fixtureImportAll(ArchiveFixture *f) {
    ArchiveImportResult res;
    Err err = {0};

    if (archiveImport(f->archive, &f->opts, f->argv, FIXTURE_FILES, &res, &err) != 0) {
        testFail(__FILE__, __LINE__, "archiveImport: %s", err.msg);
        return -1;
    }
    return 0;
}

void
fixtureClose(ArchiveFixture *f) {
    archiveFree(f->archive);
    storageFree(f->storage);
}

void
fixtureCrafted(SegmentMeta *m, uint64_t seq, const char *file, uint64_t start, uint64_t end, const char *gs, const char *ge) {
    memset(m, 0, sizeof(*m));
    m->seq = seq;
    m->flavour = BINLOG_FLAVOUR_MARIADB;
    snprintf(m->file, sizeof(m->file), "%s", file);
    m->startPos = start;
    m->endPos = end;
    m->fdeLen = 252;
    m->contentLen = 252 + end - start;
    memset(m->contentSha256, 'a', 64);
    m->gtidStart = (char *)gs;
    m->gtidEnd = (char *)ge;
    m->transactions = 1;
    m->firstTimeUs = m->lastTimeUs = 1000000ull * seq;
    snprintf(m->firstGtid, sizeof(m->firstGtid), "%s", ge);
    snprintf(m->lastGtid, sizeof(m->lastGtid), "%s", ge);
    segmentName(seq, file, start, SEGMENT_NAMING_GROUPED, m->name, sizeof(m->name));
    memset(m->sha256, 'b', 64);
    m->size = 100;
}

int
fixtureIndexBlocks(Archive *a, Storage *s, const SegmentMeta *metas, size_t n, Err *err) {
    Buf *summary = bufNew(65536);
    char name[128];
    size_t full = n / ARCHIVE_BLOCK_SEGMENTS * ARCHIVE_BLOCK_SEGMENTS;
    int rc = 0;

    for (size_t first = 0; rc == 0 && first < n; first += ARCHIVE_BLOCK_SEGMENTS) {
        size_t count = n - first < ARCHIVE_BLOCK_SEGMENTS ? n - first : ARCHIVE_BLOCK_SEGMENTS;
        ArchiveSpan span;
        uint8_t *chunk, digest[CRYPTO_SHA256_LEN];
        size_t len;

        if ((rc = archiveIndexPut(a, NULL, &metas[first], count, err)) != 0 || count < ARCHIVE_BLOCK_SEGMENTS)
            continue;
        archiveSpanFromMetas(first > 0 ? &metas[first - 1] : NULL, &metas[first], count, &span);
        archiveChunkName(first + 1, first + count, span.name, sizeof(span.name));
        if ((rc = storageGetBuf(s, span.name, ARCHIVE_CHUNK_MAX_BYTES, &chunk, &len, err)) == 0) {
            span.size = len;
            cryptoSha256(chunk, len, digest);
            cryptoHexEncode(digest, sizeof(digest), span.sha256);
            bvFree(chunk);
            archiveSpanToJson(&span, summary);
            bufAppend(summary, "\n", 1);
        }
        archiveSpanClear(&span);
    }
    if (rc == 0 && full > 0) {
        archiveSummaryName(1, full, name, sizeof(name));
        rc = storagePutBuf(s, name, summary->data, summary->len, STORAGE_PUT_IMMUTABLE, err);
    }
    bufFree(summary);
    return rc;
}

int
fixtureTimelinesWrite(Archive *a, uint64_t forkSeq, uint64_t forkPos, const char *forkGtid, uint64_t tl2First,
                      const char *divFirst, const char *divLast, Err *err) {
    TimelineRecord r;
    int rc;

    memset(&r, 0, sizeof(r));
    r.timeline = 1;
    r.firstSeq = 1;
    r.source.flavour = BINLOG_FLAVOUR_MARIADB;
    r.source.serverId = 1;
    snprintf(r.source.host, sizeof(r.source.host), "db1:3306");
    snprintf(r.source.basename, sizeof(r.source.basename), "bin");
    snprintf(r.created, sizeof(r.created), "2026-12-06T00:00:00Z");
    if (timelineRecordWrite(a, &r, err) != 0)
        return -1;
    r.timeline = 2;
    r.parent = 1;
    r.firstSeq = tl2First;
    r.source.serverId = 2;
    snprintf(r.source.host, sizeof(r.source.host), "db2:3306");
    r.hasFork = true;
    r.fork.seq = forkSeq;
    snprintf(r.fork.file, sizeof(r.fork.file), "bin.000001");
    r.fork.pos = forkPos;
    r.fork.gtidState = bvStrdup(forkGtid);
    snprintf(r.fork.gtid, sizeof(r.fork.gtid), "%s", forkGtid);
    r.fork.timeUs = 1000000ull * forkSeq;
    r.fork.transactions = 1;
    r.hasDiverged = true;
    r.diverged.firstSeq = forkSeq + 1;
    r.diverged.lastSeq = tl2First - 1;
    r.diverged.transactions = tl2First - 1 - forkSeq;
    snprintf(r.diverged.firstGtid, sizeof(r.diverged.firstGtid), "%s", divFirst);
    snprintf(r.diverged.lastGtid, sizeof(r.diverged.lastGtid), "%s", divLast);
    rc = timelineRecordWrite(a, &r, err);
    timelineRecordClear(&r);
    return rc;
}
