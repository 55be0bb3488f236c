/*
 * A ReplServerSource (recover/replserver.h) over archived segments: the events of a recovery
 * plan, served to the target's replica from verified copies.
 *
 * A fetch thread ("bv-rfetch") reads each segment of the plan through the verifying reader
 * (lz4 frame, content SHA-256, every event's CRC32, the object's SHA-256 against the index)
 * into an unlinked temporary file, a few segments ahead of the one being served; the server
 * thread serves a segment's events only once the whole segment has verified. A segment that
 * fails is reported by next() when the stream reaches it, with its name: the replica has then
 * received every transaction before it, whole (segments hold whole transactions), and nothing of
 * it. Memory: one event and one lz4 block per thread, 1 MiB buffers, the metadata of the segments
 * spooled (and, over a range, the range's blocks); disk: at most
 * `ahead + 1` segments' binlog bytes in `tmpDir`.
 *
 * Events are served as the binlog file holds them; each file is opened by its FORMAT_DESCRIPTION
 * event (from the segment's content) at the start of the stream and when the file changes.
 */
#ifndef BV_RECOVER_SOURCE_H
#define BV_RECOVER_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "common/err.h"
#include "recover/range.h"
#include "recover/replserver.h"

typedef struct RecoverSource RecoverSource;

typedef struct RecoverSourceOptions {
    const char *tmpDir; /* NULL = $TMPDIR, or /tmp */
    unsigned ahead;     /* segments verified ahead of the one served; 0 = 2 */
    uint32_t replicaServerId; /* the replica's @@server_id: a segment holding an event of that
                                 server_id fails (the replica would skip the event as its own);
                                 0 = no check */
} RecoverSourceOptions;

typedef struct RecoverSourceStats {
    uint64_t segmentsVerified; /* fetched and verified (again after a reconnection) */
    uint64_t bytesFetched;     /* object bytes read from the archive */
    uint64_t bytesServed;      /* event bytes handed to the server */
    uint64_t seqServing;       /* seq of the segment being served, 0 before the first */
    bool endOfPlan;            /* every planned event was served */
    bool failed;               /* a segment did not verify (or could not be read) */
    char failure[ERR_MSG_MAX]; /* its error, naming the segment */
    ErrCode failureCode;
} RecoverSourceStats;

/* A source over the n segments `segs` in stream order (the array is copied; the metadata it points
 * to, like `archive`, is the caller's and must stay alive and unchanged until recoverSourceFree():
 * a plan's catalog, read by the fetch thread too, not copied a second time). Starts the fetch
 * thread. ERR_IO when tmpDir is not a
 * writable directory. */
RecoverSource *recoverSourceNew(Archive *archive, const SegmentMeta *const *segs, size_t n,
                                const RecoverSourceOptions *opts, Err *err);

/* A source over the n segments of `range` from seq firstSeq on (those on its path, for a range that
 * follows one; the plan's, recover/range.h: the fetch thread
 * and the server thread read it a block at a time; it must outlive the source), as
 * recoverSourceNew() otherwise: what a plan over a long range serves, in bounded memory. */
RecoverSource *recoverSourceNewRange(Archive *archive, RecoverRange *range, uint64_t firstSeq, size_t n,
                                     const RecoverSourceOptions *opts, Err *err);

/* The ReplServerSource interface over s (s stays owned by the caller). open() starts at the
 * newest planned segment whose gtid_start the replica's position contains (the first otherwise),
 * as a MariaDB primary picks a file; next() waits at most 200 ms for a segment being verified
 * and returns 0 meanwhile, and 0 after the last planned event. */
ReplServerSource recoverSourceInterface(RecoverSource *s);

/* Counters and the failure, from any thread. */
void recoverSourceStats(RecoverSource *s, RecoverSourceStats *out);

/* Stops the fetch thread, closes and forgets the spooled segments. */
void recoverSourceFree(RecoverSource *s);

#endif
