/*
 * Segments: the archive's immutable objects holding whole transactions of one binlog file,
 * byte-identical to the server's binlog, lz4-compressed, with a JSON trailer of metadata
 * (docs/FORMAT.md, "Segments"). The writer streams to a local file (bounded memory whatever
 * the transaction size) and seals it durably; the reader verifies every layer (magic, trailer
 * CRC, lz4 frame checksum, content SHA-256, then every event's own CRC) while streaming events.
 *
 * Errors of the reader name the segment and the layer that failed, e.g.
 * "segment 'segments/0000000000000007-mariadb-bin.000002-0000000256.bvs': content sha256
 * mismatch: ...". Corrupt or hostile objects are ERR_FORMAT (ERR_CHECKSUM for a checksum that does
 * not match, ERR_LIMIT for a size above a limit); no input makes the reader over-read or hold
 * more than one event, one lz4 block and one trailer in memory.
 */
#ifndef BV_ARCHIVE_SEGMENT_H
#define BV_ARCHIVE_SEGMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "binlog/event.h"
#include "binlog/txn.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/io.h"

#define SEGMENT_MAGIC "BVSEG\x00\x01\n"
#define SEGMENT_MAGIC_LEN 8
#define SEGMENT_END_MAGIC "BVSEGEND"
#define SEGMENT_TAIL_LEN 16 /* trailer length u32, CRC32 u32, end magic */
#define SEGMENT_FORMAT_VERSION 1
#define SEGMENT_TRAILER_MAX (1024 * 1024)
/* Longest GTID state text kept in metadata (gtid_start, gtid_end): two of them fit in a trailer.
 * A writer given a longer state stores "" (unknown); a reader refuses a longer one. */
#define SEGMENT_GTID_MAX (256 * 1024)
#define SEGMENT_NAME_MAX 352
/* Seqs per directory of segments/ in format 3 (docs/FORMAT.md "Segments"): the group of seq s is
 * s / SEGMENT_GROUP_SEQS, its directory name 12 zero-padded digits. */
#define SEGMENT_GROUP_SEQS 10000
#define SEGMENT_FILE_MAX 256 /* binlog file name, with its NUL */

/* A segment's metadata: the trailer, plus object name/size/hash once it is an object. */
typedef struct SegmentMeta {
    uint64_t seq;
    BinlogFlavour flavour;
    uint32_t serverId;
    char serverUuid[37];
    char serverVersion[51];
    char file[SEGMENT_FILE_MAX];
    uint64_t startPos, endPos;
    uint32_t fdeLen;
    uint64_t contentLen;
    char contentSha256[65];
    char *gtidStart; /* allocated, "" when unknown (NULL is read as "") */
    char *gtidEnd;
    char firstGtid[BINLOG_TXN_GTID_MAX], lastGtid[BINLOG_TXN_GTID_MAX];
    uint64_t firstTimeUs, lastTimeUs;
    /* Format 2 (docs/FORMAT.md "Segments and index lines (format 2)"): the segment's timeline (1
     * for a format-1 segment), and the lowest and highest commit time of its transactions (0 when
     * none). A format-1 segment has no min/max: they are read as first/last, and timesInexact says
     * so (commit times can go backwards inside it); its JSON is written back without the three. */
    uint32_t timeline;
    uint64_t minTimeUs, maxTimeUs;
    bool timesInexact;
    /* Not stored: set when this meta describes the segment only up to endPos (a timeline view's
     * fork segment, archive/timeline.h): the object's own end_pos, which its trailer says. 0: the
     * meta describes the whole object. */
    uint64_t objectEndPos;
    uint64_t events, transactions; /* events of the file range, the FDE prefix not counted */
    bool endsFile;
    /* The source wrote this file encrypted (encrypt_binlog) and the segment holds the file's
     * START_ENCRYPTION event, replaced by an ignorable event of the same length: the events are
     * the plaintext the replication stream gives (docs/FORMAT.md). */
    bool sourceEncrypted;
    char created[32];
    /* Known once stored (index members): */
    char name[SEGMENT_NAME_MAX];
    uint64_t size;
    char sha256[65]; /* "" when unknown (a segment found in the store but not yet indexed) */
    /* The object's MD5, taken as it was written when the writer was asked to
     * (segmentCompressorSetObjectMd5()); in memory only, for the upload. */
    bool hasMd5;
    uint8_t md5[CRYPTO_MD5_LEN];
    /* In memory only, from the segmenter to its sink: the estimated commit time of the segment's
     * first transaction (segmenterOpenFirstCommitUs() while it was open), 0 when unknown. */
    uint64_t firstCommitEstUs;
} SegmentMeta;

/* How an archive names its segments (docs/FORMAT.md "Segments"): formats 1 and 2 put every segment
 * in segments/ itself; format 3 groups them in directories of SEGMENT_GROUP_SEQS seqs, so that a
 * directory store lists the end of segments/ without reading a name per segment ever archived. */
typedef enum SegmentNaming {
    SEGMENT_NAMING_FLAT,    /* segments/<seq>-<file>-<start pos>.bvs */
    SEGMENT_NAMING_GROUPED, /* segments/<seq / 10000>/<seq>-<file>-<start pos>.bvs */
} SegmentNaming;

/* Object name for a segment, in the archive's naming. */
void segmentName(uint64_t seq, const char *file, uint64_t startPos, SegmentNaming naming, char *out, size_t size);
/* Parse a segment object name of either naming back (a grouped name whose directory is not its
 * seq's group is not one); -1 when it is not one. `naming` (may be NULL) says which it is. */
int segmentNameParse(const char *name, uint64_t *seq, char *file, size_t fileSize, uint64_t *startPos,
                     SegmentNaming *naming);
/* A listing's start-after name for the segments of seqs from `from` on in the naming given ("":
 * from the start): it sorts after every name of seq from - 1 and before those of seq `from`. */
void segmentListAfter(uint64_t from, SegmentNaming naming, char *out, size_t size);
/* True when `file` can be a binlog file name in an archive: 1..255 bytes of [A-Za-z0-9._-], not
 * starting with '.' (it becomes part of object names and of local paths written by fetch). */
bool segmentFileNameValid(const char *file);
/* Order of two binlog file names of one server: by base name, then by the numeric extension
 * (`mariadb-bin.000999` < `mariadb-bin.1000000`); <0, 0, >0 like strcmp. */
int segmentFileCompare(const char *a, const char *b);

/* Trailer / index-line JSON (one line, no newline). `withObject` adds name, size, sha256 (index
 * lines). */
void segmentMetaToJson(const SegmentMeta *m, bool withObject, Buf *out);
/* Parse and validate a trailer / index line: every required member present with its type, sizes
 * within the limits of SegmentMeta, version 1, content_len == fde_len + end_pos - start_pos,
 * a valid file name and, with `withObject`, name == segmentName(seq, file, start_pos). `m` is
 * overwritten (not freed first); on failure it holds nothing to free. ERR_FORMAT. */
int segmentMetaFromJson(const char *json, size_t len, bool withObject, SegmentMeta *m, Err *err);
void segmentMetaCopy(SegmentMeta *dst, const SegmentMeta *src); /* deep copy; dst overwritten */
void segmentMetaClear(SegmentMeta *m);                          /* frees the gtid strings */
/* The segment's timeline: 1 when not set (a meta made by hand). */
uint32_t segmentMetaTimeline(const SegmentMeta *m);
/* The end_pos the object's trailer holds: objectEndPos when the meta is cut, else endPos. */
uint64_t segmentMetaObjectEndPos(const SegmentMeta *m);
/* gtid_start / gtid_end, "" for NULL. */
const char *segmentMetaGtidStart(const SegmentMeta *m);
const char *segmentMetaGtidEnd(const SegmentMeta *m);

/* ---- the container (segment_container.c), shared with the parts of base backups ---- */

/* A kind of container: its magics (SEGMENT_MAGIC_LEN bytes each; byte 6 of the head magic is the
 * format version) and its name in messages. */
typedef struct SegmentContainer {
    const char *what;     /* "segment", "backup part" */
    const char *magic;    /* head magic */
    const char *endMagic; /* end magic */
    unsigned version;     /* the version this binvault reads (magic[6]) */
} SegmentContainer;

extern const SegmentContainer segmentContainerSegment;

/* Append the tail (length u32, CRC32 u32, end magic) to the trailer JSON that `trailer` holds
 * (at most SEGMENT_TRAILER_MAX bytes). */
void segmentContainerTail(const SegmentContainer *k, Buf *trailer);
/* Check an object's first SEGMENT_MAGIC_LEN bytes (ERR_FORMAT naming the kind and the version). */
int segmentContainerCheckMagic(const SegmentContainer *k, const uint8_t *magic, Err *err);

typedef IoRead *SegmentOpenFn(void *data, uint64_t offset, uint64_t length, Err *err);

/* Check the head magic and read the trailer of an object of `size` bytes with at most three ranged
 * reads (the head magic, the last 64 KiB, the rest of a larger trailer): end magic, length, CRC.
 * *raw (bvFree()) receives the trailer JSON followed by its tail, *rawLen bytes in all; the JSON is
 * the first *rawLen - SEGMENT_TAIL_LEN. Messages are not prefixed with the object's name. */
int segmentContainerReadTrailer(const SegmentContainer *k, SegmentOpenFn *open, void *data, uint64_t size,
                                uint8_t **raw, size_t *rawLen, Err *err);
/* The decompressed content of the lz4 frame of `frameLen` bytes that `object` (not owned, read
 * past the head magic) holds next: exactly the frame is read, so the trailer follows in `object`. */
IoRead *segmentContainerFrame(IoRead *object, uint64_t frameLen);

/* ---- writer (segment_write.c) ---- */

/* The writer's compression workers: three threads that compress, hash, write and seal the
 * segments opened on them, behind the caller, while the caller frames the content: bv-compress
 * compresses a block, hashes the object and writes it, bv-hash hashes the content, bv-seal
 * fsyncs each sealed segment and, for one sealed with segmentWriterSealAsync(), commits it. The
 * caller stages its events in a ring of blocks (8 x 256 KiB) and waits only when the ring is
 * full. They outlive segments: a stream of segments (the agent's) keeps one SegmentCompressor for
 * its lifetime and opens each segment on it in turn (one open at a time; segments being sealed
 * behind it meanwhile). */
typedef struct SegmentCompressor SegmentCompressor;
typedef struct SegmentWriter SegmentWriter;

/* Start the worker threads (named bv-compress, bv-hash and bv-seal); NULL and ERR_INTERNAL when
 * they cannot start. */
SegmentCompressor *segmentCompressorNew(Err *err);
/* lz4 acceleration of the segments' frames unless set otherwise: measured on the sysbench
 * oltp_write_only binlogs (docs/BENCHMARKS.md, issue #15's third round), 2 takes 12-16% less lz4
 * CPU than 1 for 2.8% more bytes stored; 4 saves another 10% of it for 7.6% more bytes. */
#define SEGMENT_LZ4_ACCELERATION_DEFAULT 2
/* The lz4 acceleration (1..IO_LZ4_ACCELERATION_MAX) of the segments opened on `c` from now on.
 * Segments stay readable by every reader whatever the value (one lz4 frame); the same input gives
 * the same bytes only at the same acceleration. */
void segmentCompressorSetLz4Acceleration(SegmentCompressor *c, int acceleration);
/* Whether the segments opened on `c` from now on also take their object's MD5 as they are
 * written (SegmentMeta.md5 at the seal): for a store that sends it (storageSendsMd5()), which
 * then need not read the spooled file for it. On bv-compress, beside the object's SHA-256. */
void segmentCompressorSetObjectMd5(SegmentCompressor *c, bool on);
/* Failures: the first failure of the workers (a write, an fsync, a commit: usually ERR_IO) fails
 * the segment it belongs to and everything queued after it, and is returned by the next call on
 * the open segment (append, seal) and by segmentCompressorSync(). When it came while a segment
 * was being sealed behind the caller, it also fails segmentWriterOpen() until
 * segmentCompressorReset(): no segment is committed after one that was not. */
/* Whether the workers failed (a cheap check, for each event of a stream). */
bool segmentCompressorFailed(SegmentCompressor *c);
/* Wait until every segment handed to seal is done (fsync'd and, sealed behind the caller,
 * committed or dropped); -1 with the failure when there was one. */
int segmentCompressorSync(SegmentCompressor *c, Err *err);
/* How many seals are done since the compressor started (segmentWriterSealAsync()'s tickets up to
 * this one are over: committed, or dropped after a failure). */
uint64_t segmentCompressorSealsDone(SegmentCompressor *c);
/* After a failure, once the caller dropped its open segment: wait until the workers are idle, then
 * forget the failure (the segments it failed are read again by the caller). No segment open. */
void segmentCompressorReset(SegmentCompressor *c);
/* Stop the workers (a sentinel they see once the work queued is done: segments sealed behind the
 * caller are committed first) and join them. A segment still open on it fails from then on (its
 * append and seal return an error; segmentWriterFree() still removes its file). Not concurrent
 * with calls on that segment's writer. NULL: no-op. */
void segmentCompressorFree(SegmentCompressor *c);

/* Start a segment in `path` (a temporary name in the spool; created with O_EXCL, mode 0640) on
 * the compressor `c`, which serves one segment at a time: the previous one must be sealed or
 * freed. Writes the magic and pushes the FDE (in-use flag cleared) into the compressed content.
 * meta's identity fields (seq, flavour, serverId, serverUuid, file, startPos, gtidStart) are taken
 * now; serverVersion comes from the FDE; counts and ends are filled by the writer. */
SegmentWriter *segmentWriterOpen(SegmentCompressor *c, const char *path, const SegmentMeta *meta, const uint8_t *fde,
                                 size_t fdeLen, Err *err);
/* segmentWriterOpen() on a compressor of the segment's own, started now and stopped with it: for a
 * writer of a single segment. */
SegmentWriter *segmentWriterNew(const char *path, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
                                Err *err);
/* Append one whole event (its bytes as in the file; `endPos` = its end offset in the file, which
 * must be the previous end plus `len`). */
int segmentWriterAppend(SegmentWriter *w, const uint8_t *event, size_t len, uint64_t endPos, Err *err);
/* Record a finished transaction (called after its last event was appended): its GTID ("" when
 * none), commit time and the GTID state after it (NULL: unchanged). */
void segmentWriterTransaction(SegmentWriter *w, const char *gtid, uint64_t commitTimeUs, const char *gtidStateAfter);
/* Replace gtid_start while the segment holds no transaction yet: the GTID_LIST or PREVIOUS_GTIDS
 * event at the start of a file states the GTID state before its first transaction. Also sets
 * gtid_end, the state of a segment without transactions. */
void segmentWriterSetGtidStart(SegmentWriter *w, const char *gtidState);
/* The GTID state after the segment's last transaction, when the caller did not give it with each
 * segmentWriterTransaction() (formatting a state per transaction is costly on OLTP streams). */
void segmentWriterSetGtidEnd(SegmentWriter *w, const char *gtidState);
/* Mark the segment as holding the START_ENCRYPTION replacement of a file the source encrypted. */
void segmentWriterSetSourceEncrypted(SegmentWriter *w);
uint64_t segmentWriterContentBytes(const SegmentWriter *w); /* uncompressed bytes so far */
uint64_t segmentWriterTransactions(const SegmentWriter *w);
uint64_t segmentWriterEvents(const SegmentWriter *w);
uint64_t segmentWriterEndPos(const SegmentWriter *w);
/* The GTID state gtid_end holds so far ("" when unknown). */
const char *segmentWriterGtidEnd(const SegmentWriter *w);
/* Finish: trailer, fsync, close (on the compressor's threads, after the blocks queued; the caller
 * waits). The file stays at `path`; *meta (overwritten) receives the full metadata including
 * name, size and sha256 of the object (the caller moves it into place). Once sealed, the segment
 * no longer holds its compressor. After a failed seal, segmentWriterFree() still removes the file. */
int segmentWriterSeal(SegmentWriter *w, bool endsFile, SegmentMeta *meta, Err *err);
/* The commit of a segment sealed behind the caller, on bv-seal, once its file at `path` is whole
 * and fsync'd: make it durable where it belongs (moving the file away), 0; or -1 with err (the
 * file is then removed, and every segment after it fails). Called in the order the segments were
 * handed over, never after a failure. */
typedef int SegmentSealedFn(void *data, const char *path, const SegmentMeta *meta, Err *err);
/* Seal the segment behind the caller: as segmentWriterSeal(), then fn(data, ...) on bv-seal. The
 * writer is the compressor's from now on (it frees it; its file is removed unless fn took it), and
 * the next segment may be opened at once. *ticket: this seal is over (committed or dropped) once
 * segmentCompressorSealsDone() reaches it. Waits while SEGMENT_SEALS_MAX (4) seals are queued. -1
 * (the writer freed, nothing queued) when the segment or the compressor failed already. Not on a
 * writer of segmentWriterNew(). */
int segmentWriterSealAsync(SegmentWriter *w, bool endsFile, SegmentSealedFn *fn, void *data, uint64_t *ticket,
                           Err *err);
/* Free the writer (after the workers are done with its blocks); a segment that was not sealed is
 * closed and its file unlinked. Not after segmentWriterSealAsync(). */
void segmentWriterFree(SegmentWriter *w);

/* ---- reader (segment_read.c) ---- */

typedef struct SegmentReader SegmentReader;

/* A whole segment object of `size` bytes is read through a SegmentOpenFn (above): a callback that
 * opens a reader on (offset, length) of the object (length > 0), so a store can serve the trailer
 * with a ranged read first. It is only called from segmentReadMeta() and segmentReaderNew(), so
 * `data` need not outlive those calls. */

/* A SegmentOpenFn over a local file: `data` is its path (const char *). */
IoRead *segmentOpenPath(void *data, uint64_t offset, uint64_t length, Err *err);

/* Read and check the trailer only (head and end magic, lengths, CRC, JSON, version), with at
 * most three ranged reads: the head magic, the last 64 KiB, and the rest of a larger trailer.
 * `name` is the object's name, used in messages and stored in meta->name; meta->size = size and
 * meta->sha256 = "". */
int segmentReadMeta(const char *name, SegmentOpenFn *open, void *data, uint64_t size, SegmentMeta *meta,
                    Err *err);

/* Open the content for streaming: reads the trailer as segmentReadMeta() does, then reads the
 * object once from its start, hashing it: the magic, the lz4 frame (decompressed, hashed, fed
 * to a binlog reader), and the trailer again. The FDE at the start of the content is read here. */
SegmentReader *segmentReaderNew(const char *name, SegmentOpenFn *open, void *data, uint64_t size, Err *err);
const SegmentMeta *segmentReaderMeta(const SegmentReader *r);
/* The content's FORMAT_DESCRIPTION event (in-use flag clear) and the format it sets. */
const uint8_t *segmentReaderFde(const SegmentReader *r, size_t *len);
const BinlogFormat *segmentReaderFormat(const SegmentReader *r);
/* 1 and the next event of the file range (the FDE prefix is not returned again; bytes valid
 * until the next call; *pos = its offset in the binlog file), 0 at the verified end (every event
 * CRC, the lz4 frame and block checksums, content length and SHA-256, event count, the trailer
 * read again), -1 on any corruption (the message says which layer failed; the reader stays
 * failed). */
int segmentReaderNext(SegmentReader *r, BinlogEvent *ev, uint64_t *pos, Err *err);
/* SHA-256 (hex) of the whole object, once segmentReaderNext() has returned 0; NULL before. */
const char *segmentReaderSha256(const SegmentReader *r);
void segmentReaderFree(SegmentReader *r);

#endif
