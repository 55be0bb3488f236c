/*
 * The agent's durable local spool: sealed segments wait here until they are uploaded and
 * indexed. Layout under DIR:
 *
 *   lock               flock()ed by the running agent: one agent per spool
 *   state.json         the last sealed segment: seq, file, end position, GTID state (atomic)
 *   fde.bin            the FORMAT_DESCRIPTION event of that segment's binlog file
 *   open/              the segment being written (discarded on restart: it is re-read)
 *   ready/SEQ.bvs      sealed segments, with ready/SEQ.json holding their metadata
 *
 * Every step is durable (write tmp, fsync, rename, fsync the directory) before the next: a
 * segment enters ready/ only complete, its metadata first; state.json moves only after it.
 * The spool is bounded: spoolWaitBelow() blocks the stream while it is full (backpressure).
 */
#ifndef BV_AGENT_SPOOL_H
#define BV_AGENT_SPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/segment.h"
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
 * FDE of its binlog file; `nextFile` the ROTATE target when it ends a file with a ROTATE. */
int spoolCommit(Spool *s, const char *tmpPath, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
                const char *nextFile, Err *err);

/* The sealed segments waiting in ready/, in seq order (metadata from ready/SEQ.json). */
int spoolReadyList(Spool *s, SegmentMeta **metas, size_t *count, Err *err);

/* Remove a segment from ready/ once the archive holds and indexes it. */
int spoolRemove(Spool *s, uint64_t seq, Err *err);

/* Bytes in ready/ plus the open segment's compressed bytes so far. */
uint64_t spoolBytes(Spool *s);
uint64_t spoolReadyCount(Spool *s);
void spoolSetOpenBytes(Spool *s, uint64_t bytes);
uint64_t spoolMaxBytes(const Spool *s);

/* Block while the spool holds maxBytes or more, until it drains or *stop becomes true. Returns
 * true when it had to wait (the caller logs it). */
bool spoolWaitBelow(Spool *s, atomic_bool *stop);
/* Wake waiters (after a removal, or on shutdown). */
void spoolWake(Spool *s);

void spoolClose(Spool *s);

#endif
