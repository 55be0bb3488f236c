/*
 * The generator of the catalog benchmarks (bench/catalog.sh, bench/catalog_agent.sh): a directory
 * archive of N tiny but valid segments, written in seconds per 100 000 instead of the hours an
 * import of real binlogs takes. Every segment is what the agent would store for one transaction of
 * a MariaDB 10.11 source (server_id 11 unless --server-id, gtid_domain_id 0 unless --domain): its
 * FORMAT_DESCRIPTION event, a GTID event D-S-<1000+seq> and a `CREATE DATABASE IF NOT EXISTS
 * bvbench` query, committed one second after the previous one, events with their CRC32 and
 * positions; binlog files <basename>.NNNNNN of --per-file segments, each ended by a ROTATE event.
 * The objects are built with the archive's own code (segmentMetaToJson(), the lz4 filter,
 * segmentContainerTail(), archiveIndexPut(), archiveIdentityEnsure(), archiveCheckpointWrite(),
 * timelineRecordWrite()), so `binvault verify` accepts the archive; only the segment files are
 * written without fsync (a benchmark input, rebuilt when lost).
 *
 *   mkarchive DIR N [--per-file K] [--start-time EPOCH] [--format 1|2|3] [--server-id S] [--domain D]
 *             [--basename NAME] [--source HOST:PORT] [--ends-file] [--fork-at SEQ [--diverged K]]
 *             [--summaries-only K]
 *
 * The history of a given server (bench/catalog_agent.sh: an agent continues it): --server-id,
 * --domain and --basename are that server's, --source the address binvault.json records;
 * --ends-file ends the last segment's file with a ROTATE to the next one, so that a server whose
 * binlog starts at that file (RESET MASTER TO, gtid_binlog_state) continues the archive exactly.
 * The last line of the output says where the archive ends: `end FILE POS NEXT-FILE GTID-STATE`.
 *
 * --fork-at SEQ: a failover (docs/FORMAT.md "Timelines"): seqs SEQ.. are timeline 2, from server
 * S+1 (its GTIDs D-(S+1)-..., continuing the fork's state), which starts a binlog file at SEQ (SEQ -
 * 1 must be a multiple of --per-file); with --diverged K the old primary's last K segments before
 * SEQ are a diverged branch (K below --per-file). timelines/00000001.json and 00000002.json are
 * stored first.
 *
 * --summaries-only K: a synthetic large catalog (bench/catalog.sh BENCH_CATALOG_SYNTH, issue #13):
 * only the last K segments (from the start of the block holding segment N-K+1) are stored with
 * their block chunks; the blocks before them exist only as summary lines, computed from the same
 * metadata and from the block chunk the archive would hold (its name, size and SHA-256), with
 * neither the chunk nor the segments written, except for each group's first block (seqs
 * g*1048576+1..+1024: its chunk, which `list` reads for the window's start, and its segments, which
 * a prune to such a seq checks). 30 M segments then take a few hundred MB of
 * catalog/1/ and minutes, not 150 GB and a day. Such an archive cannot verify (its old blocks are
 * missing), but every command that reads the summaries and the end of the archive (list, status,
 * prune --dry-run, recover --dry-run and fetch near the end) opens it as it opens a real one.
 *
 * DIR must not exist. Index chunks are aligned blocks of 1024 segments (the last one partial).
 * Formats 2 and 3 (the default) add the catalog summary of the complete blocks
 * (archiveSpanFromMetas(), one level-1 document per 1024 blocks); format 3 groups the segments in
 * directories of 10,000 seqs, as an agent creates an archive today; format 2 is what an agent of
 * the previous release left, format 1 the archive an older binvault wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/checkpoint.h"
#include "archive/identity.h"
#include "archive/index.h"
#include "archive/segment.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "common/buf.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/io.h"
#include "common/mem.h"

#define BLOCK 1024
#define SERVER_ID 11
#define GTID_BASE 1000
#define FILE_FIRST_POS 256 /* after the magic and the FDE */

/* The FORMAT_DESCRIPTION event of a MariaDB 10.11.19 server (checksum CRC32), as in
 * ../shared/fixtures/binlog/mariadb-10.11.19-compressed.000001.binlog. */
static const uint8_t fdeEvent[252] = {
    0x97, 0x0d, 0x01, 0x6b, 0x0f, 0x0b, 0x00, 0x00, 0x00, 0xfc, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x31, 0x30, 0x2e, 0x31, 0x31, 0x2e, 0x31, 0x39, 0x2d, 0x4d, 0x61,
    0x72, 0x69, 0x61, 0x44, 0x42, 0x2d, 0x30, 0x2b, 0x64, 0x65, 0x62, 0x31, 0x32, 0x75, 0x31, 0x2d,
    0x6c, 0x6f, 0x67, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x97, 0x0d, 0x01, 0x6b, 0x13, 0x38, 0x0d, 0x00, 0x08,
    0x00, 0x12, 0x00, 0x04, 0x04, 0x04, 0x04, 0x12, 0x00, 0x00, 0xe4, 0x00, 0x04, 0x1a, 0x08, 0x00,
    0x00, 0x00, 0x08, 0x08, 0x08, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x0a, 0x0a, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x13, 0x04, 0x00,
    0x0d, 0x08, 0x08, 0x08, 0x0a, 0x0a, 0x0a, 0x01, 0x41, 0x35, 0x53, 0xa6};

/* A GTID event of a standalone DDL transaction (flags 0x29), seq_no at body offset 0. */
static const uint8_t gtidEvent[42] = {0x9a, 0x0d, 0x01, 0x6b, 0xa2, 0x0b, 0x00, 0x00, 0x00, 0x2a, 0x00,
                                      0x00, 0x00, 0x74, 0x01, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x29, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x26, 0xf6, 0xd4, 0x96};

/* The start of a QUERY event up to its statement: header, post-header (thread 5, db length 4,
 * 26 bytes of status variables), status variables, the default database "pitr". */
static const uint8_t queryHead[19 + 13 + 26 + 5] = {
    0x9a, 0x0d, 0x01, 0x6b, 0x02, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x1a, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x20, 0x54, 0x00, 0x00, 0x00, 0x00, 0x06, 0x03,
    0x73, 0x74, 0x64, 0x04, 0x21, 0x00, 0x21, 0x00, 0x08, 0x00, 'p',  'i',  't',  'r',  0x00};
static const char queryText[] = "CREATE DATABASE IF NOT EXISTS bvbench";

#define EVENT_HEADER 19
#define EVENT_CRC 4
#define QUERY_LEN (sizeof(queryHead) + sizeof(queryText) - 1 + EVENT_CRC)
#define ROTATE_LEN(nameLen) (EVENT_HEADER + 8 + (nameLen) + EVENT_CRC)

typedef struct Gen {
    const char *root;
    Archive *archive;
    uint64_t perFile;
    uint64_t startTime;
    unsigned format;
    uint32_t serverId, domain;
    const char *basename;
    const char *source;
    bool endsFile;          /* the last segment ends its file */
    uint64_t n;             /* segments */
    uint64_t forkAt;        /* first seq of timeline 2 (0: no fork) */
    uint64_t diverged;      /* segments of timeline 1 after its fork */
    uint64_t summariesOnly; /* --summaries-only K (0: not given) */
    uint64_t storedFrom;    /* the first seq whose segment and block chunk are stored (1 unless
                             * --summaries-only) */
    uint8_t fde[sizeof(fdeEvent)]; /* fdeEvent with the server id (per timeline: stamped per segment) */
    SegmentMeta before; /* the last segment of the previous block, for its span's break check */
    Buf *summary;       /* the open level-1 document's lines */
    uint64_t summaryFirst, summaryLast;
} Gen;

static int
fail(const char *what, const Err *err) {
    fprintf(stderr, "mkarchive: %s: %s\n", what, err->msg);
    return 1;
}

/* Stamp an event of `len` bytes at `ev` ending at `endPos`, committed at `ts` on `serverId`: header
 * timestamp, server id, length, end position, then its CRC32. */
static void
stamp(uint8_t *ev, size_t len, uint32_t ts, uint32_t serverId, uint64_t endPos) {
    wrU32(ev, ts);
    wrU32(ev + 5, serverId);
    wrU32(ev + 9, (uint32_t)len);
    wrU32(ev + 13, (uint32_t)endPos);
    wrU32(ev + len - EVENT_CRC, cryptoCrc32(0, ev, len - EVENT_CRC));
}

/* The events of segment `seq` (file positions [start, end)) into `out`: one transaction, GTID
 * domain-serverId-gno, and a ROTATE to `next` when `next` is not NULL. */
static void
events(const Gen *g, Buf *out, uint32_t serverId, uint64_t gno, uint64_t start, uint32_t ts, const char *next) {
    uint8_t *ev;
    uint64_t pos = start;

    ev = bufReserve(out, sizeof(gtidEvent));
    memcpy(ev, gtidEvent, sizeof(gtidEvent));
    wrU64(ev + EVENT_HEADER, gno);
    wrU32(ev + EVENT_HEADER + 8, g->domain);
    pos += sizeof(gtidEvent);
    stamp(ev, sizeof(gtidEvent), ts, serverId, pos);
    out->len += sizeof(gtidEvent);

    ev = bufReserve(out, QUERY_LEN);
    memcpy(ev, queryHead, sizeof(queryHead));
    memcpy(ev + sizeof(queryHead), queryText, sizeof(queryText) - 1);
    pos += QUERY_LEN;
    stamp(ev, QUERY_LEN, ts, serverId, pos);
    out->len += QUERY_LEN;

    if (next != NULL) {
        size_t nameLen = strlen(next), len = ROTATE_LEN(nameLen);

        ev = bufReserve(out, len);
        memset(ev, 0, EVENT_HEADER);
        ev[4] = 4; /* ROTATE_EVENT */
        wrU64(ev + EVENT_HEADER, 4);
        memcpy(ev + EVENT_HEADER + 8, next, nameLen);
        pos += len;
        stamp(ev, len, ts, serverId, pos);
        out->len += len;
    }
}

/* Segment seq's timeline (1, or 2 from --fork-at on), its server and the number of its GTID. */
static uint32_t
timelineOf(const Gen *g, uint64_t seq) {
    return g->forkAt != 0 && seq >= g->forkAt ? 2 : 1;
}

static uint32_t
serverOf(const Gen *g, uint64_t seq) {
    return g->serverId + timelineOf(g, seq) - 1;
}

static uint64_t
gnoOf(const Gen *g, uint64_t seq) {
    return GTID_BASE + seq - (timelineOf(g, seq) == 2 ? g->diverged : 0);
}

/* The GTID state before segment seq: after the previous segment, or the fork's for the first
 * segment of timeline 2. */
static void
stateBefore(const Gen *g, uint64_t seq, char *out, size_t size) {
    uint64_t prev = g->forkAt != 0 && seq == g->forkAt ? g->forkAt - 1 - g->diverged : seq - 1;

    snprintf(out, size, "%" PRIu32 "-%" PRIu32 "-%" PRIu64, g->domain, serverOf(g, prev), gnoOf(g, prev));
}

/* Whether the block starting at seq is stored, its chunk and segments (see --summaries-only). */
static bool
chunkStored(const Gen *g, uint64_t seq) {
    return seq >= g->storedFrom || archiveBlockOf(seq) % ARCHIVE_SUMMARY_FANOUT == 0;
}

/* Build segment `seq` in memory, write its object file, and fill *m (name, size, sha256). */
static int
segment(Gen *g, uint64_t seq, SegmentMeta *m, Buf *content, Buf *object, Err *err) {
    uint64_t inFile = (seq - 1) % g->perFile, fileNo = (seq - 1) / g->perFile + 1;
    bool last = inFile == g->perFile - 1 || (g->endsFile && seq == g->n);
    uint64_t start = FILE_FIRST_POS + inFile * (sizeof(gtidEvent) + QUERY_LEN);
    uint32_t ts = (uint32_t)(g->startTime + seq), serverId = serverOf(g, seq);
    char next[SEGMENT_FILE_MAX], path[2048], gs[64], ge[64];
    uint8_t digest[CRYPTO_SHA256_LEN];
    IoWrite *lz4;
    int fd;

    snprintf(next, sizeof(next), "%s.%06" PRIu64, g->basename, fileNo + 1);
    bufClear(content);
    wrU32(g->fde + 5, serverId);
    wrU32(g->fde + sizeof(g->fde) - EVENT_CRC, cryptoCrc32(0, g->fde, sizeof(g->fde) - EVENT_CRC));
    bufAppend(content, g->fde, sizeof(g->fde));
    events(g, content, serverId, gnoOf(g, seq), start, ts, last ? next : NULL);

    memset(m, 0, sizeof(*m));
    m->seq = seq;
    m->flavour = BINLOG_FLAVOUR_MARIADB;
    m->serverId = serverId;
    snprintf(m->serverVersion, sizeof(m->serverVersion), "10.11.19-MariaDB-0+deb12u1-log");
    snprintf(m->file, sizeof(m->file), "%s.%06" PRIu64, g->basename, fileNo);
    m->startPos = start;
    m->endPos = start + content->len - sizeof(fdeEvent);
    m->fdeLen = sizeof(fdeEvent);
    m->contentLen = content->len;
    cryptoSha256(content->data, content->len, digest);
    cryptoHexEncode(digest, sizeof(digest), m->contentSha256);
    stateBefore(g, seq, gs, sizeof(gs));
    snprintf(ge, sizeof(ge), "%" PRIu32 "-%" PRIu32 "-%" PRIu64, g->domain, serverId, gnoOf(g, seq));
    m->gtidStart = gs;
    m->gtidEnd = ge;
    snprintf(m->firstGtid, sizeof(m->firstGtid), "%s", ge);
    snprintf(m->lastGtid, sizeof(m->lastGtid), "%s", ge);
    m->firstTimeUs = m->lastTimeUs = (uint64_t)ts * 1000000u;
    m->events = last ? 3 : 2;
    m->transactions = 1;
    m->endsFile = last;
    snprintf(m->created, sizeof(m->created), "2026-12-06T00:00:00Z");
    if (g->forkAt != 0) {
        /* A forked archive is format 2's or 3's: every segment says its timeline. */
        m->timeline = timelineOf(g, seq);
        m->minTimeUs = m->maxTimeUs = m->firstTimeUs;
    }

    bufClear(object);
    bufAppend(object, SEGMENT_MAGIC, SEGMENT_MAGIC_LEN);
    lz4 = ioWriteLz4CompressNew(ioWriteBufNew(object, SIZE_MAX));
    if (ioWrite(lz4, content->data, content->len, err) != 0 || ioWriteClose(lz4, err) != 0) {
        ioWriteFree(lz4);
        return -1;
    }
    ioWriteFree(lz4);
    {
        Buf *trailer = bufNew(2048);

        segmentMetaToJson(m, false, trailer);
        segmentContainerTail(&segmentContainerSegment, trailer);
        bufAppend(object, trailer->data, trailer->len);
        bufFree(trailer);
    }
    segmentName(seq, m->file, m->startPos, g->format >= 3 ? SEGMENT_NAMING_GROUPED : SEGMENT_NAMING_FLAT, m->name,
                sizeof(m->name));
    m->size = object->len;
    cryptoSha256(object->data, object->len, digest);
    cryptoHexEncode(digest, sizeof(digest), m->sha256);

    snprintf(path, sizeof(path), "%s/%s", g->root, m->name);
    if (chunkStored(g, archiveBlockFirst(archiveBlockOf(seq)))) {
        char *slash = strrchr(path, '/');

        /* Its group's directory (format 3), made by the first segment stored in it. */
        *slash = '\0';
        if (mkdir(path, 0750) != 0 && errno != EEXIST)
            return errSetSys(err, ERR_IO, errno, "unable to create '%s'", path);
        *slash = '/';
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0 || write(fd, object->data, object->len) != (ssize_t)object->len || close(fd) != 0)
            return errSetSys(err, ERR_IO, errno, "unable to write '%s'", path);
    }
    /* The GTID states are on this stack frame: the caller keeps copies. */
    m->gtidStart = bvStrdup(gs);
    m->gtidEnd = bvStrdup(ge);
    return 0;
}

/* binvault.json at the version of the format asked for (archiveIdentityEnsure() writes the
 * newest): every other member as written. */
static int
identityVersion(Gen *g, Err *err) {
    static const char now[] = "\"version\":3,";
    ArchiveIdentity id;
    uint8_t *data;
    size_t len;
    char *at;
    Buf *doc;
    int rc;

    if (g->format == 3)
        return 0;
    if (storageGetBuf(archiveStorage(g->archive), ARCHIVE_IDENTITY_OBJECT, ARCHIVE_DOC_MAX, &data, &len, err) != 0)
        return -1;
    doc = bufNew(len + 1);
    bufAppend(doc, data, len);
    bufAppend(doc, "", 1);
    bvFree(data);
    at = strstr((char *)doc->data, now);
    if (at == NULL) {
        bufFree(doc);
        return errSet(err, ERR_FORMAT, "binvault.json has no version 3");
    }
    at[strlen("\"version\":")] = (char)('0' + g->format);
    rc = storagePutBuf(archiveStorage(g->archive), ARCHIVE_IDENTITY_OBJECT, doc->data, doc->len - 1, STORAGE_PUT_REPLACE,
                       err);
    bufFree(doc);
    /* The archive learns its naming again from what is stored now. */
    return rc == 0 ? archiveIdentityRead(g->archive, &id, err) : -1;
}

/* Store the open level-1 document. */
static int
summaryPut(Gen *g, Err *err) {
    char name[128];
    int rc;

    if (g->summary->len == 0)
        return 0;
    archiveSummaryName(g->summaryFirst, g->summaryLast, name, sizeof(name));
    rc = storagePutBuf(archiveStorage(g->archive), name, g->summary->data, g->summary->len, STORAGE_PUT_IMMUTABLE, err);
    bufClear(g->summary);
    return rc;
}

/* The block chunk that archiveIndexPut() would store for a block of --summaries-only, which is
 * not stored: its lines, as index.c writes them (*len bytes; bvFree()). */
static uint8_t *
chunkBytes(const SegmentMeta *block, size_t n, size_t *len) {
    Buf *doc = bufNew(n * 1024);
    uint8_t *data;

    for (size_t i = 0; i < n; i++) {
        segmentMetaToJson(&block[i], true, doc);
        bufAppend(doc, "\n", 1);
    }
    *len = doc->len;
    data = bvMalloc(doc->len);
    memcpy(data, doc->data, doc->len);
    bufFree(doc);
    return data;
}

/* The span line of a complete block just indexed (or, before --summaries-only's stored part,
 * only summarised); a full level-1 document is stored. */
static int
summarise(Gen *g, const SegmentMeta *block, size_t n, Err *err) {
    ArchiveSpan span;
    uint8_t *chunk, digest[CRYPTO_SHA256_LEN];
    size_t len;

    archiveSpanFromMetas(g->before.seq != 0 ? &g->before : NULL, block, n, &span);
    archiveChunkName(block[0].seq, block[n - 1].seq, span.name, sizeof(span.name));
    if (chunkStored(g, block[0].seq)) {
        if (storageGetBuf(archiveStorage(g->archive), span.name, ARCHIVE_CHUNK_MAX_BYTES, &chunk, &len, err) != 0) {
            archiveSpanClear(&span);
            return -1;
        }
    } else {
        chunk = chunkBytes(block, n, &len);
    }
    span.size = len;
    cryptoSha256(chunk, len, digest);
    cryptoHexEncode(digest, sizeof(digest), span.sha256);
    bvFree(chunk);
    if (g->summary->len == 0)
        g->summaryFirst = block[0].seq;
    g->summaryLast = block[n - 1].seq;
    archiveSpanToJson(&span, g->summary);
    bufAppend(g->summary, "\n", 1);
    archiveSpanClear(&span);
    segmentMetaClear(&g->before);
    segmentMetaCopy(&g->before, &block[n - 1]);
    if (archiveBlockOf(g->summaryLast) % ARCHIVE_SUMMARY_FANOUT == ARCHIVE_SUMMARY_FANOUT - 1)
        return summaryPut(g, err);
    return 0;
}

/* The source of timeline t (1 or 2). */
static void
sourceOf(const Gen *g, uint32_t t, TimelineSource *src) {
    memset(src, 0, sizeof(*src));
    src->flavour = BINLOG_FLAVOUR_MARIADB;
    src->serverId = g->serverId + t - 1;
    snprintf(src->host, sizeof(src->host), "%s", g->source);
    snprintf(src->basename, sizeof(src->basename), "%s", g->basename);
    snprintf(src->serverVersion, sizeof(src->serverVersion), "10.11.19-MariaDB-0+deb12u1-log");
    src->hasDomainId = true;
    src->domainId = g->domain;
}

/* timelines/00000001.json and 00000002.json of --fork-at: timeline 2 leaves timeline 1 after
 * segment forkAt - 1 - diverged, whose one transaction ends before its ROTATE (if any). */
static int
timelines(Gen *g, Err *err) {
    uint64_t forkSeq = g->forkAt - 1 - g->diverged;
    TimelineRecord one, two;
    char state[64];
    int rc;

    memset(&one, 0, sizeof(one));
    one.timeline = 1;
    sourceOf(g, 1, &one.source);
    one.firstSeq = 1;
    snprintf(one.reason, sizeof(one.reason), "mkarchive: the archive's first source");
    if (timelineRecordWrite(g->archive, &one, err) != 0)
        return -1;
    memset(&two, 0, sizeof(two));
    two.timeline = 2;
    two.parent = 1;
    sourceOf(g, 2, &two.source);
    two.firstSeq = g->forkAt;
    two.hasFork = true;
    two.fork.seq = forkSeq;
    snprintf(two.fork.file, sizeof(two.fork.file), "%s.%06" PRIu64, g->basename, (forkSeq - 1) / g->perFile + 1);
    two.fork.pos = FILE_FIRST_POS + ((forkSeq - 1) % g->perFile + 1) * (sizeof(gtidEvent) + QUERY_LEN);
    snprintf(state, sizeof(state), "%" PRIu32 "-%" PRIu32 "-%" PRIu64, g->domain, g->serverId, gnoOf(g, forkSeq));
    two.fork.gtidState = state;
    snprintf(two.fork.gtid, sizeof(two.fork.gtid), "%s", state);
    two.fork.timeUs = (g->startTime + forkSeq) * 1000000u;
    two.fork.transactions = 1;
    if (g->diverged > 0) {
        uint64_t first = g->forkAt - g->diverged, last = g->forkAt - 1;

        two.hasDiverged = true;
        two.diverged.firstSeq = first;
        two.diverged.lastSeq = last;
        two.diverged.transactions = g->diverged;
        snprintf(two.diverged.firstGtid, sizeof(two.diverged.firstGtid), "%" PRIu32 "-%" PRIu32 "-%" PRIu64, g->domain,
                 g->serverId, gnoOf(g, first));
        snprintf(two.diverged.lastGtid, sizeof(two.diverged.lastGtid), "%" PRIu32 "-%" PRIu32 "-%" PRIu64, g->domain,
                 g->serverId, gnoOf(g, last));
        two.diverged.firstTimeUs = (g->startTime + first) * 1000000u;
        two.diverged.lastTimeUs = (g->startTime + last) * 1000000u;
    }
    snprintf(two.reason, sizeof(two.reason), "mkarchive: --fork-at %" PRIu64 " --diverged %" PRIu64, g->forkAt,
             g->diverged);
    rc = timelineRecordWrite(g->archive, &two, err);
    two.fork.gtidState = NULL; /* on this stack frame */
    return rc;
}

static int
usage(void) {
    fprintf(stderr, "usage: mkarchive DIR N [--per-file K] [--start-time EPOCH] [--format 1|2|3] [--server-id S] "
                    "[--domain D] [--basename NAME] [--source HOST:PORT] [--ends-file] [--fork-at SEQ [--diverged K]] "
                    "[--summaries-only K]\n");
    return 2;
}

/* Whether the options hold together (a fork needs format 2, a file boundary before it and a
 * diverged branch inside the file that the fork's segment is in). */
static bool
valid(const Gen *g) {
    if (g->n == 0 || g->perFile == 0 || (g->format < 1 || g->format > 3) || g->serverId == 0 ||
        g->serverId >= UINT32_MAX - 1 || g->basename[0] == '\0' || strlen(g->basename) > 200)
        return false;
    if (g->summariesOnly != 0 && (g->format < 2 || g->forkAt != 0))
        return false;
    if (g->forkAt == 0)
        return g->diverged == 0;
    return g->format >= 2 && g->forkAt <= g->n && g->forkAt > g->diverged + 1 && (g->forkAt - 1) % g->perFile == 0 &&
           g->diverged < g->perFile;
}

int
main(int argc, char **argv) {
    Gen g = {.storedFrom = 1, .perFile = 10000, .startTime = 1796000000, .format = 3, .serverId = SERVER_ID, .basename = "mariadb-bin",
             .source = "mkarchive"};
    char dir[2048];
    Storage *storage;
    ArchiveIdentity id = {.flavour = BINLOG_FLAVOUR_MARIADB};
    ArchiveCheckpoint cp = {0};
    SegmentMeta *block;
    Buf *content = bufNew(1024), *object = bufNew(2048);
    Err err = {0};
    size_t fill = 0;
    char endLine[512] = "";

    /* Each segment's lz4 context allocates its block buffers: from the heap, not an mmap each. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    if (argc < 3)
        return usage();
    g.root = argv[1];
    g.n = strtoull(argv[2], NULL, 10);
    for (int i = 3; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(argv[i], "--ends-file") == 0) {
            g.endsFile = true;
            continue;
        }
        if (v == NULL)
            return usage();
        if (strcmp(argv[i], "--per-file") == 0)
            g.perFile = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--start-time") == 0)
            g.startTime = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--format") == 0)
            g.format = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--server-id") == 0)
            g.serverId = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--domain") == 0)
            g.domain = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--basename") == 0)
            g.basename = v;
        else if (strcmp(argv[i], "--source") == 0)
            g.source = v;
        else if (strcmp(argv[i], "--fork-at") == 0)
            g.forkAt = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--diverged") == 0)
            g.diverged = strtoull(v, NULL, 10);
        else if (strcmp(argv[i], "--summaries-only") == 0)
            g.summariesOnly = strtoull(v, NULL, 10);
        else
            return usage();
        i++;
    }
    /* The stored part starts at a block: the first block stored is whole. */
    if (g.summariesOnly != 0 && g.summariesOnly < g.n)
        g.storedFrom = archiveBlockFirst(archiveBlockOf(g.n - g.summariesOnly + 1));
    if (!valid(&g))
        return usage();
    memcpy(g.fde, fdeEvent, sizeof(g.fde));
    if (mkdir(g.root, 0750) != 0) {
        fprintf(stderr, "mkarchive: unable to create '%s': %s\n", g.root, strerror(errno));
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/segments", g.root);
    if (mkdir(dir, 0750) != 0) {
        fprintf(stderr, "mkarchive: unable to create '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    storage = storageNew(g.root, &err);
    if (storage == NULL)
        return fail("storage", &err);
    g.archive = archiveNew(storage);
    snprintf(id.serverVersion, sizeof(id.serverVersion), "10.11.19-MariaDB-0+deb12u1-log");
    id.serverId = g.serverId;
    snprintf(id.source, sizeof(id.source), "%s", g.source);
    if (archiveIdentityEnsure(g.archive, &id, NULL, &err) != 0 || identityVersion(&g, &err) != 0)
        return fail("identity", &err);
    if (g.forkAt != 0 && timelines(&g, &err) != 0)
        return fail("timelines", &err);

    block = bvCalloc(BLOCK, sizeof(*block));
    g.summary = bufNew(64 * 1024);
    for (uint64_t seq = 1; seq <= g.n; seq++) {
        if (segment(&g, seq, &block[fill], content, object, &err) != 0)
            return fail("segment", &err);
        fill++;
        if (fill == BLOCK || seq == g.n) {
            if (chunkStored(&g, block[0].seq) && archiveIndexPut(g.archive, NULL, block, fill, &err) != 0)
                return fail("index", &err);
            if (g.format >= 2 && fill == BLOCK && summarise(&g, block, fill, &err) != 0)
                return fail("summary", &err);
            if (seq == g.n) {
                const SegmentMeta *m = &block[fill - 1];

                snprintf(endLine, sizeof(endLine), "end %s %" PRIu64 " %s.%06" PRIu64 " %s\n", m->file, m->endPos,
                         g.basename, (seq - 1) / g.perFile + 2, segmentMetaGtidEnd(m));
                cp.seq = seq;
                snprintf(cp.file, sizeof(cp.file), "%s", block[fill - 1].file);
                cp.endPos = block[fill - 1].endPos;
                cp.gtidEnd = bvStrdup(segmentMetaGtidEnd(&block[fill - 1]));
                snprintf(cp.lastGtid, sizeof(cp.lastGtid), "%s", block[fill - 1].lastGtid);
                cp.lastTimeUs = block[fill - 1].lastTimeUs;
            }
            for (size_t i = 0; i < fill; i++)
                segmentMetaClear(&block[i]);
            fill = 0;
        }
    }
    if (archiveCheckpointWrite(g.archive, &cp, &err) != 0)
        return fail("checkpoint", &err);
    if (g.format >= 2 && summaryPut(&g, &err) != 0)
        return fail("summaries", &err);
    fputs(endLine, stdout);
    segmentMetaClear(&g.before);
    bufFree(g.summary);
    archiveCheckpointClear(&cp);
    bvFree(block);
    bufFree(content);
    bufFree(object);
    archiveFree(g.archive);
    storageFree(storage);
    return 0;
}
