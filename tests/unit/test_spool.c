/* Unit tests of agent/spool.c: the semi-sync journal (append, sync, replay up to the last
 * transaction boundary, torn and corrupt tails, stale journals). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/spool.h"
#include "common/mem.h"
#include "tests/test.h"

typedef struct Seen {
    unsigned count;
    size_t lens[16];
    uint8_t first[16];
} Seen;

static int
collect(void *data, const uint8_t *event, size_t len, Err *err) {
    Seen *s = data;

    (void)err;
    if (s->count < 16) {
        s->lens[s->count] = len;
        s->first[s->count] = len ? event[0] : 0;
    }
    s->count++;
    return 0;
}

static SpoolJournal *
journalWith(Spool *sp, uint64_t seq, const size_t *lens, const bool *boundary, size_t n) {
    SpoolJournalHead h;
    SpoolJournal *j;
    Err err;

    memset(&h, 0, sizeof(h));
    h.seq = seq;
    h.flavour = BINLOG_FLAVOUR_MARIADB;
    h.serverId = 7;
    snprintf(h.file, sizeof(h.file), "mariadb-bin.000003");
    h.pos = 1234;
    j = spoolJournalCreate(sp, &h, &err);
    if (j == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        uint8_t *ev = bvMalloc(lens[i] + 1);

        memset(ev, (int)('a' + i), lens[i] + 1);
        if (spoolJournalAppend(j, ev, lens[i], boundary[i], &err) != 0)
            testFail(__FILE__, __LINE__, "append: %s", err.msg);
        bvFree(ev);
    }
    if (spoolJournalSync(j, &err) != 0)
        testFail(__FILE__, __LINE__, "sync: %s", err.msg);
    return j;
}

static void
testJournalReplay(void) {
    const size_t lens[5] = {30, 200000, 19, 45, 60};
    const bool boundary[5] = {false, true, false, true, false};
    Spool *sp;
    SpoolJournal *j;
    SpoolJournalHead h;
    Seen seen;
    uint64_t events, *seqs;
    size_t n;
    char path[1024];
    struct stat st;
    Err err;

    sp = spoolOpen(testTmpDir(), 0, &err);
    REQUIRE(sp != NULL);
    j = journalWith(sp, 5, lens, boundary, 5);
    REQUIRE(j != NULL);
    CHECK_INT(spoolJournalSeq(j), 5);
    CHECK(spoolJournalBytes(j) > 200000);
    spoolJournalClose(j, false);
    CHECK_INT(spoolJournalReadHead(sp, 5, &h, &err), 0);
    CHECK_INT(h.seq, 5);
    CHECK_INT(h.serverId, 7);
    CHECK_STR(h.file, "mariadb-bin.000003");
    CHECK_INT(h.pos, 1234);
    /* Up to the last boundary: the 5th event is the start of an unfinished transaction. */
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(spoolJournalReplay(sp, 5, &h, collect, &seen, &events, &err), 0);
    CHECK_INT(events, 4);
    CHECK_INT(seen.count, 4);
    CHECK_INT(seen.lens[1], 200000);
    CHECK_INT(seen.first[3], 'd');
    /* A torn tail: the file ends inside the 4th record; the 2nd is the last whole boundary. */
    snprintf(path, sizeof(path), "%s/journal/%016d.bvj", testTmpDir(), 5);
    REQUIRE(stat(path, &st) == 0);
    REQUIRE(truncate(path, st.st_size - 60 - 9 - 10) == 0);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(spoolJournalReplay(sp, 5, &h, collect, &seen, &events, &err), 0);
    CHECK_INT(seen.count, 2);
    /* A corrupt byte in the 2nd event: nothing whole before it ends a transaction. */
    {
        int fd = open(path, O_WRONLY);
        uint8_t x = 'Z';

        REQUIRE(fd >= 0);
        CHECK(pwrite(fd, &x, 1, st.st_size / 2) == 1);
        close(fd);
    }
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(spoolJournalReplay(sp, 5, &h, collect, &seen, &events, &err), 0);
    CHECK_INT(seen.count, 0);
    /* Listing, keeping a bad one aside, removing. */
    j = journalWith(sp, 6, lens, boundary, 1);
    spoolJournalClose(j, false);
    CHECK_INT(spoolJournalList(sp, &seqs, &n, &err), 0);
    CHECK_INT(n, 2);
    CHECK_INT(seqs[0], 5);
    CHECK_INT(seqs[1], 6);
    bvFree(seqs);
    CHECK_INT(spoolJournalRemove(sp, 5, "bad", &err), 0);
    CHECK_INT(spoolJournalRemove(sp, 6, NULL, &err), 0);
    CHECK_INT(spoolJournalRemove(sp, 6, NULL, &err), 0);
    CHECK_INT(spoolJournalList(sp, &seqs, &n, &err), 0);
    CHECK_INT(n, 0);
    bvFree(seqs);
    snprintf(path, sizeof(path), "%s/journal/%016d.bvj.bad", testTmpDir(), 5);
    CHECK(access(path, F_OK) == 0);
    /* A journal closed for good (its segment was sealed) is gone. */
    j = journalWith(sp, 7, lens, boundary, 2);
    spoolJournalClose(j, true);
    CHECK_INT(spoolJournalReadHead(sp, 7, &h, &err), -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    spoolClose(sp);
}

static void
testJournalUnsyncedBufferKeptOnClose(void) {
    const size_t lens[2] = {10, 20};
    const bool boundary[2] = {true, true};
    Spool *sp;
    SpoolJournal *j;
    SpoolJournalHead h;
    Seen seen;
    uint64_t events;
    uint8_t ev[20] = {0};
    Err err;

    sp = spoolOpen(testTmpDir(), 0, &err);
    REQUIRE(sp != NULL);
    j = journalWith(sp, 1, lens, boundary, 2);
    REQUIRE(j != NULL);
    /* Appended after the last sync: written when the journal is closed without removal. */
    CHECK_INT(spoolJournalAppend(j, ev, sizeof(ev), true, &err), 0);
    spoolJournalClose(j, false);
    memset(&seen, 0, sizeof(seen));
    CHECK_INT(spoolJournalReplay(sp, 1, &h, collect, &seen, &events, &err), 0);
    CHECK_INT(seen.count, 3);
    spoolClose(sp);
}

/* A crash between a segment's rename into ready/ and the state's move: the same seq is sealed
 * again over it, and counts once. */
static void
testCommitOverExisting(void) {
    Spool *sp;
    SegmentMeta m;
    char tmp[1024];
    Err err;

    sp = spoolOpen(testTmpDir(), 0, &err);
    REQUIRE(sp != NULL);
    memset(&m, 0, sizeof(m));
    m.seq = 3;
    m.flavour = BINLOG_FLAVOUR_MARIADB;
    snprintf(m.file, sizeof(m.file), "mariadb-bin.000001");
    m.startPos = m.endPos = 256;
    m.fdeLen = 19;
    m.contentLen = 19;
    segmentName(m.seq, m.file, m.startPos, m.name, sizeof(m.name));
    for (int round = 0; round < 2; round++) {
        FILE *f;

        spoolOpenPath(sp, 3, tmp, sizeof(tmp));
        REQUIRE((f = fopen(tmp, "w")) != NULL);
        fprintf(f, "%s", round == 0 ? "0123456789" : "01234");
        fclose(f);
        CHECK_INT(spoolCommit(sp, tmp, &m, NULL, 0, NULL, &err), 0);
        CHECK_INT(spoolReadyCount(sp), 1);
        CHECK_INT(spoolBytes(sp), round == 0 ? 10 : 5);
    }
    CHECK_INT(spoolRemove(sp, 3, &err), 0);
    CHECK_INT(spoolReadyCount(sp), 0);
    CHECK_INT(spoolBytes(sp), 0);
    spoolClose(sp);
}

void
suite_spool(void) {
    testRun("spool: a segment sealed again over the same seq counts once", testCommitOverExisting);
    testRun("spool: semi-sync journal replays whole transactions; torn and corrupt tails", testJournalReplay);
    testRun("spool: semi-sync journal close keeps what was buffered", testJournalUnsyncedBufferKeptOnClose);
}
