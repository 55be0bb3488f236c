/*
 * The segmenter turns a stream of raw binlog events (from the replication protocol, or read from
 * files) into sealed segments, cutting only at transaction boundaries: at the segment size, at
 * the segment interval after the first uncut transaction, and at the end of each binlog file.
 * (The interval runs from the segment's first event, so that the events that follow a rotation
 * are archived too while the source is idle.)
 * It checks that every event is where the previous one ended (no hole, no overlap) and verifies
 * every checksum on the way in. Sealed segments go to a sink (the spool). No network, no
 * threads of its own (the segment writer's compression worker aside): the agent's stream thread
 * and `binvault import` both drive it.
 */
#ifndef BV_ARCHIVE_SEGMENTER_H
#define BV_ARCHIVE_SEGMENTER_H

#include <stdbool.h>
#include <stdint.h>

#include "archive/segment.h"
#include "binlog/event.h"
#include "common/err.h"

typedef struct SegmenterOpts {
    uint64_t segmentSize;  /* cut when the content reaches this many bytes */
    int64_t intervalMs;    /* cut this long after the segment's first event; 0 = never */
    BinlogFlavour flavour;
    uint32_t serverId;
    const char *serverUuid;
    uint32_t timeline; /* the timeline of the segments written (archive/timeline.h); 0 = 1 */
    BinlogChecksumAlg streamChecksum; /* checksum of events before the first FDE (stream start) */
    /* The compression worker every segment is written on (it must outlive the segmenter); NULL:
     * each segment starts a worker of its own (segmentWriterNew()). */
    SegmentCompressor *compressor;
    /* Seal behind the caller (needs `compressor`): the segment's end, fsync and the sink's sealed
     * callback run on the compressor's bv-seal thread, in seq order, while the caller goes on with
     * the next segment (segmentWriterSealAsync()). The segmenter moves on at once as if the segment
     * were committed; a failed commit is returned by a later push, tick or cut, and
     * segmenterAbandon() then goes back to the end of the last segment committed. false: each
     * seal returns once the sink took the segment (the sink runs on the caller's thread). */
    bool asyncSeal;
} SegmenterOpts;

/* Where segments go: a temporary path for the open segment, and the sealed callback that makes
 * it durable (spoolCommit for the agent): on the caller's thread, or with asyncSeal on bv-seal
 * (never two at once, in seq order; meta->firstCommitEstUs is segmenterOpenFirstCommitUs() of the
 * segment when it was sealed). */
typedef struct SegmenterSink {
    void (*tmpPath)(void *data, uint64_t seq, char *out, size_t size);
    int (*sealed)(void *data, const char *tmpPath, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
                  const char *nextFile, Err *err);
    void *data;
} SegmenterSink;

typedef struct Segmenter Segmenter;

Segmenter *segmenterNew(const SegmenterOpts *opts, const SegmenterSink *sink);

/* Continue after segment lastSeq (0 = none yet), which ended at file:pos with GTID state
 * gtidState; fde = that file's FORMAT_DESCRIPTION event when known. */
int segmenterResume(Segmenter *s, uint64_t lastSeq, const char *file, uint64_t pos, const char *gtidState,
                    const uint8_t *fde, size_t fdeLen, Err *err);

/* The FORMAT_DESCRIPTION event at offset 4 of binlog file `file`, read apart from the stream
 * (it may carry the in-use flag): kept for that file in place of the next FDE pushed, the
 * rewritten copy ('created' zeroed, log_pos 0 when by position) that a stream starting inside
 * the file sends, so that the file's segments hold its own bytes. Call it after the stream's
 * ROTATE naming the file, before that copy is pushed. -1 when fde is not a valid
 * FORMAT_DESCRIPTION event. */
int segmenterSetFileFde(Segmenter *s, const char *file, const uint8_t *fde, size_t len, Err *err);
/* Whether the segmenter holds `file`'s own FDE (from segmenterResume() or segmenterSetFileFde()). */
bool segmenterHasFileFde(const Segmenter *s, const char *file);

/* The next stream starts from the GTID state the segmenter resumes at (MariaDB
 * @slave_connect_state, MySQL COM_BINLOG_DUMP_GTID): the server picks the file, sends it from its
 * start and skips the transactions the state holds; MariaDB then says where the new events start
 * (an artificial GTID_LIST), MySQL does not. Until the stream reaches new events nothing is
 * stored again: what the archive holds is dropped, and the first segment of an empty archive
 * starts at the first new transaction (or where the artificial GTID_LIST says), its gtid_start
 * the state. Once something is held (segmenterResume() named a file), the stream must continue
 * exactly where the last sealed segment ends: a stream that resumes elsewhere is refused with
 * ERR_GAP ("the source's history does not contain the archive's end ..."). Call it with no open
 * segment (after segmenterResume() or segmenterAbandon(), which clears it). */
void segmenterExpectGtidStart(Segmenter *s);
/* Whether a stream can resume by GTID: the resume state is not "". */
bool segmenterResumesByGtid(const Segmenter *s);

/* A failed push, tick or cut (ERR_IO: the sink could not make the segment durable) leaves the
 * open segment unusable: segmenterAbandon() before anything else. */

/* One raw event, as received (artificial events and heartbeats included; they are not stored). */
int segmenterPush(Segmenter *s, const uint8_t *event, size_t len, uint64_t nowMs, Err *err);
/* Time passes without events: cut when the interval is over. */
int segmenterTick(Segmenter *s, uint64_t nowMs, Err *err);
/* When (in the nowMs clock of segmenterPush()) the open segment's interval is over and a tick
 * would cut it; 0 when none is due: no open segment, a transaction open, or no interval. */
uint64_t segmenterCutDueMs(const Segmenter *s);
/* Seal the open segment now if it holds anything and no transaction is open: 1 sealed, 0 not;
 * either way every segment sealed before is committed when it returns (asyncSeal: it waits). */
int segmenterCut(Segmenter *s, Err *err);
/* Drop the open segment (connection lost, or shutdown inside a transaction): the position goes
 * back to the end of the last sealed segment, from where the stream must be restarted. With
 * asyncSeal it first waits for the seals behind the caller: after a failed one, the last sealed
 * segment is the last one committed. */
void segmenterAbandon(Segmenter *s);

bool segmenterInTxn(const Segmenter *s);
bool segmenterHasOpen(const Segmenter *s);
/* Content bytes of the open segment and of those sealed behind the caller, not known to be
 * committed yet (for the spool's limit). */
uint64_t segmenterOpenBytes(const Segmenter *s);
/* Where the next event is expected: the stream restarts here after segmenterAbandon(). */
const char *segmenterFile(const Segmenter *s);
uint64_t segmenterPos(const Segmenter *s);
uint64_t segmenterLastSeq(const Segmenter *s);
/* The source's position as last seen (events or heartbeats), for lag and RPO. */
const char *segmenterSourceFile(const Segmenter *s);
uint64_t segmenterSourcePos(const Segmenter *s);
/* Counters since creation. */
uint64_t segmenterEvents(const Segmenter *s);
uint64_t segmenterTransactions(const Segmenter *s);
uint64_t segmenterBytes(const Segmenter *s);
/* Commit time (us) of the last transaction received, 0 when none. */
uint64_t segmenterLastCommitUs(const Segmenter *s);

/* Commit-time estimates, for RPO. A transaction's commit time is taken from its first event's
 * binlog timestamp, which MariaDB writes in whole seconds, refined by the wall clock at which the
 * agent received that event (the commit happened before): min(received, timestamp + 999999 us).
 * The estimate is never earlier than the binlog says, and never later than the receipt. */
/* Wall clock (us since the epoch) of the events pushed next; 0 = unknown (binlog time only). */
void segmenterSetClock(Segmenter *s, uint64_t wallUs);
/* Estimated commit time of the first transaction (finished or not) of the open segment; 0 when
 * it holds none. */
uint64_t segmenterOpenFirstCommitUs(const Segmenter *s);
/* The same for the segment sealed last, 0 when it held no transaction. */
uint64_t segmenterSealedFirstCommitUs(const Segmenter *s);
/* Estimated commit time of the transaction in progress, or of the last one finished. */
uint64_t segmenterTxnCommitUs(const Segmenter *s);
/* GTID state after the last transaction received ("" when unknown); allocated. */
char *segmenterGtidState(const Segmenter *s);

void segmenterFree(Segmenter *s);

#endif
