/*
 * The parallel uploader: N named worker threads take sealed segments from a queue and store
 * them in the archive, retrying transient failures (store down, 5xx, timeouts, resets) with
 * capped exponential backoff and jitter, forever (a local read error of the spooled file too),
 * while permanent ones (configuration, authentication, an object that exists with other content,
 * a spooled file that is no longer the segment sealed) are reported at once. A segment is stored
 * as sealed (storagePutSealedFile()): its size and SHA-256 are the seal's, taken as it was
 * written, and are not computed again here; the store checks the size (S3 the SHA-256 of what it
 * sends too) and the directory store links the file into place. Storing is
 * idempotent: a segment whose earlier upload succeeded but whose answer was lost is recognised
 * by the store (same name, same SHA-256) and counts as stored. Completions go to a callback, in
 * any order; the caller advances its checkpoint over the contiguous prefix.
 */
#ifndef BV_AGENT_UPLOADER_H
#define BV_AGENT_UPLOADER_H

#include <stdint.h>

#include "archive/segment.h"
#include "storage/storage.h"

typedef struct Uploader Uploader;

/* Called from a worker thread when a segment is stored (rc 0) or failed permanently (rc -1). */
typedef void UploadDoneFn(void *data, const SegmentMeta *meta, int rc, const Err *err);

typedef struct UploaderStats {
    uint64_t segments, bytes;  /* stored */
    uint64_t errors, retries;  /* failed attempts; attempts after a failure */
    uint64_t queued, queuedBytes; /* waiting or in flight */
    uint64_t failingSinceUs;      /* wall clock of the first of the failures since the last
                                     success, 0 when the last attempt succeeded */
    char lastError[512];          /* message of the last failed attempt, "" when none */
    uint64_t lastErrorUs;
} UploaderStats;

Uploader *uploaderNew(Storage *storage, unsigned workers, UploadDoneFn *done, void *data);
/* Queue a sealed segment stored at localPath (meta->name, size and sha256 set). */
void uploaderSubmit(Uploader *u, const SegmentMeta *meta, const char *localPath);
void uploaderStats(Uploader *u, UploaderStats *out);
/* Stop: let uploads in flight finish for up to graceMs, then abandon the rest (they stay in the
 * spool and are uploaded by the next run). Joins the workers. */
void uploaderStop(Uploader *u, int64_t graceMs);
void uploaderFree(Uploader *u);

#endif
