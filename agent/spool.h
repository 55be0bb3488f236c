/*
 * The agent's durable local spool: sealed segments wait here until they are uploaded and
 * indexed. Layout under DIR:
 *
 *   lock               flock()ed by the running agent: one agent per spool
 *   state.json         the last sealed segment: seq, file, end position, GTID state (atomic)
 *   fde.bin            the FORMAT_DESCRIPTION event of that segment's binlog file
 *   open/              the segment being written (discarded on restart: it is re-read)
 *   ready/SEQ.bvs      sealed segments, with ready/SEQ.json holding their metadata
 *   journal/SEQ.bvj    semi-sync only: the raw events of the open segment SEQ, appended as they
 *                      arrive and fdatasync'd before each semi-sync ACK
 *
 * Every step is durable (write tmp, fsync, rename, fsync the directory) before the next: a
 * segment enters ready/ only complete, its metadata first; state.json moves only after it, and is
 * the commit point: a segment in ready/ above the seq it names is the leftover of a commit that
 * did not complete (a crash, a full disk, a failed write or fsync), which spoolOpen() and
 * spoolReconcile() remove (it is read again from the source), so nothing that is not durable is
 * ever uploaded. The spool is bounded: spoolWaitBelow() blocks the stream while it is full
 * (backpressure); when its file system runs out of space or fails first, spoolProbe() tells when
 * it takes writes again.
 *
 * The journal is what makes an ACK mean "durable here": the open segment is an lz4 stream that is
 * only fsync'd when sealed, so the events acknowledged since the last seal are kept, uncompressed,
 * in the journal too. After a crash (or a lost connection) the agent replays the journal through
 * the segmenter up to its last transaction boundary and seals that as a segment, so nothing
 * acknowledged exists only on the source. Journal layout: magic `BVJRNL\0\1`, u32 head length,
 * u32 CRC32 of the head, the head (JSON: seq, flavour, server_id, server_uuid, file, pos: where
 * its events start); then records: u32 event length, u8 flags (1: the stream is at a transaction
 * boundary after this event), u32 CRC32 of the flags byte and the event, the event. A torn tail
 * (a record cut short or with a bad CRC) ends it: only synced records were acknowledged.
 */
#ifndef BV_AGENT_SPOOL_H
#define BV_AGENT_SPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "archive/segment.h"
#include "common/err.h"

typedef struct Spool Spool;

/* What state.json says: where the stream stands after the last sealed segment. */
typedef struct SpoolState {
    bool valid; /* false: no segment was ever sealed in this spool */
    uint64_t seq;
    BinlogFlavour flavour;
    char file[256];
    uint64_t endPos;
    bool endsFile;
    char nextFile[256]; /* target of the ROTATE that ended the file, "" when unknown */
    char *gtidEnd;      /* allocated */
    uint8_t *fde;       /* the file's FDE (allocated), NULL when unknown */
    size_t fdeLen;
} SpoolState;

/* Open (creating) the spool and lock it; clears open/ leftovers of a crash. */
Spool *spoolOpen(const char *dir, uint64_t maxBytes, Err *err);
const char *spoolDir(const Spool *s);

int spoolReadState(Spool *s, SpoolState *state, Err *err);
void spoolStateClear(SpoolState *state);

/* Path for a new open segment (DIR/open/SEQ.bvs.tmp). */
void spoolOpenPath(const Spool *s, uint64_t seq, char *out, size_t size);
/* Path of a sealed segment (DIR/ready/SEQ.bvs). */
void spoolReadyPath(const Spool *s, uint64_t seq, char *out, size_t size);

/* A sealed segment at tmpPath becomes durable in ready/, and the state moves to it. `fde` is the
 * FDE of its binlog file; `nextFile` the ROTATE target when it ends a file with a ROTATE. On
 * failure (ERR_IO) the steps done are undone, unless the state did move (only the directory sync
 * after it failed): spoolReadState() tells which; tmpPath is left to the caller. A seq at or below
 * the one the state names is refused (ERR_IO): the caller must resync with the state first.
 * One commit at a time, from one thread at a time (the compressor's bv-seal, in seq order, or the
 * stream thread with --semi-sync); the spool's other calls may run beside it. */
int spoolCommit(Spool *s, const char *tmpPath, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
                const char *nextFile, Err *err);

/* The sealed segments waiting in ready/, in seq order (metadata from ready/SEQ.json). */
int spoolReadyList(Spool *s, SegmentMeta **metas, size_t *count, Err *err);

/* Remove a segment from ready/ once the archive holds and indexes it. */
int spoolRemove(Spool *s, uint64_t seq, Err *err);

/* Make ready/ agree with state.json again (remove what no commit completed) and count its bytes
 * and segments from disk: after a failure, before the spool is written again. */
int spoolReconcile(Spool *s, Err *err);
/* Whether the spool takes writes again: at least 1 MiB free, and a small file written, fsync'd
 * and removed. On failure *noSpace says whether space is what lacks. */
int spoolProbe(Spool *s, bool *noSpace, Err *err);
/* Wait up to ms for a segment to be removed from ready/ (space freed), or *stop. */
void spoolWaitRemoval(Spool *s, uint64_t ms, atomic_bool *stop);

/* Bytes in ready/ plus the open segment's compressed bytes so far. */
uint64_t spoolBytes(Spool *s);
uint64_t spoolReadyCount(Spool *s);
void spoolSetOpenBytes(Spool *s, uint64_t bytes);
uint64_t spoolMaxBytes(const Spool *s);

/* ---- semi-sync journal ---- */

typedef struct SpoolJournalHead {
    uint64_t seq; /* the open segment's: the last sealed one + 1 */
    BinlogFlavour flavour;
    uint32_t serverId;
    char serverUuid[37];
    char file[256]; /* where its first event starts: the end of the last sealed segment */
    uint64_t pos;
} SpoolJournalHead;

typedef struct SpoolJournal SpoolJournal;

/* Start journal/SEQ.bvj (replacing one of the same seq) and make its name durable. */
SpoolJournal *spoolJournalCreate(Spool *s, const SpoolJournalHead *head, Err *err);
/* Append one event (buffered); `boundary`: no transaction is open after it. */
int spoolJournalAppend(SpoolJournal *j, const uint8_t *event, size_t len, bool boundary, Err *err);
/* Write what is buffered and fdatasync: everything appended so far is durable. Counts one sync. */
int spoolJournalSync(SpoolJournal *j, Err *err);
uint64_t spoolJournalSeq(const SpoolJournal *j);
uint64_t spoolJournalBytes(const SpoolJournal *j);
/* Close; `remove` unlinks the file (its events are in a sealed segment now), else what is buffered
 * is written first. */
void spoolJournalClose(SpoolJournal *j, bool remove);

/* The seqs of the journals in the spool, ascending (*seqs bvFree()d by the caller). */
int spoolJournalList(Spool *s, uint64_t **seqs, size_t *count, Err *err);
/* Read the head of journal SEQ (ERR_FORMAT when it has none that is valid). */
int spoolJournalReadHead(Spool *s, uint64_t seq, SpoolJournalHead *head, Err *err);
/* Read journal SEQ: its head, then `fn` for each event up to the last transaction boundary that
 * is whole on disk (*events receives their count). A head that cannot be read is ERR_FORMAT. */
typedef int SpoolJournalFn(void *data, const uint8_t *event, size_t len, Err *err);
int spoolJournalReplay(Spool *s, uint64_t seq, SpoolJournalHead *head, SpoolJournalFn *fn, void *data,
                       uint64_t *events, Err *err);
/* Remove journal SEQ (durably); a missing one is fine. `keepAs` non-NULL renames it to
 * journal/SEQ.bvj.<keepAs> instead (kept for inspection). */
int spoolJournalRemove(Spool *s, uint64_t seq, const char *keepAs, Err *err);

/* Block while the spool holds maxBytes or more, until it drains or *stop becomes true. Returns
 * true when it had to wait (the caller logs it). */
bool spoolWaitBelow(Spool *s, atomic_bool *stop);
/* Wake waiters (after a removal, or on shutdown). */
void spoolWake(Spool *s);

void spoolClose(Spool *s);

#endif
