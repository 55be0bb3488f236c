/* The parallel uploader: worker threads storing sealed segments with retries; agent/uploader.h. */
#include "agent/uploader.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/retry.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 30000

typedef struct Job {
    struct Job *next;
    SegmentMeta meta;
    char *path;
} Job;

struct Uploader {
    Storage *storage;
    UploadDoneFn *done;
    void *data;
    unsigned workers;
    pthread_t *threads;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    Job *head, *tail;
    atomic_bool stopping; /* no new jobs are started */
    atomic_bool abort;    /* retries are abandoned */
    atomic_uint_fast64_t segments, bytes, errors, retries, queued, queuedBytes;
    /* Under lock. */
    uint64_t failingSinceUs, lastErrorUs;
    char lastError[512];
};

static uint64_t
wallUs(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
noteResult(Uploader *u, const Err *err) {
    pthread_mutex_lock(&u->lock);
    if (err == NULL) {
        u->failingSinceUs = 0;
    } else {
        u->lastErrorUs = wallUs();
        if (u->failingSinceUs == 0)
            u->failingSinceUs = u->lastErrorUs;
        snprintf(u->lastError, sizeof(u->lastError), "%.*s", (int)sizeof(u->lastError) - 1, err->msg);
    }
    pthread_mutex_unlock(&u->lock);
}

/* Sleep up to ms, waking early when the uploader is aborted. */
static void
backoffSleep(Uploader *u, uint64_t ms) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&u->lock);
    while (!atomic_load(&u->abort) && pthread_cond_timedwait(&u->cond, &u->lock, &ts) == 0)
        ;
    pthread_mutex_unlock(&u->lock);
}

/* What the seal says the spooled file is: its size, SHA-256 and, when the writer took it for a
 * store that sends it, MD5, taken as the segment was written (else the MD5 is left to a store
 * that needs it). False when the job carries no SHA-256. */
static bool
sealedInfo(const Job *job, StoragePutInfo *info) {
    size_t len;
    Err err;

    memset(info, 0, sizeof(*info));
    info->size = job->meta.size;
    info->noMd5 = !job->meta.hasMd5;
    if (job->meta.hasMd5)
        memcpy(info->md5, job->meta.md5, sizeof(info->md5));
    return job->meta.sha256[0] != '\0' &&
           cryptoHexDecode(job->meta.sha256, strlen(job->meta.sha256), info->sha256, sizeof(info->sha256), &len,
                           &err) == 0 &&
           len == sizeof(info->sha256);
}

/* Store the job's file: as sealed when its digest is known (the store does not hash it again),
 * else hashed here first. `*permanent` says a failure is not worth a retry. */
static int
put(Uploader *u, const Job *job, bool *permanent, Err *err) {
    StoragePutInfo info;

    *permanent = false;
    if (sealedInfo(job, &info)) {
        if (storagePutSealedFile(u->storage, job->meta.name, job->path, &info, err) == 0)
            return 0;
        /* The spooled file is not the segment sealed (the spool's disk changed it): never archive
         * what the segment was not when sealed, and do not retry. */
        if (err->code == ERR_CHECKSUM) {
            *permanent = true;
            errPrefix(err, "spooled segment '%s' is not the segment sealed (%" PRIu64 " bytes with sha256 %s; "
                      "the spool's disk corrupted it)", job->path, job->meta.size, job->meta.sha256);
        }
        return -1;
    }
    if (storagePutInfoFromFile(job->path, &info, err) != 0)
        return -1;
    return storagePutFile(u->storage, job->meta.name, job->path, &info, err);
}

static void
upload(Uploader *u, Job *job) {
    Retry retry;
    bool permanent;
    Err err;

    retryInit(&retry, BACKOFF_MIN_MS, BACKOFF_MAX_MS, 0);
    for (;;) {
        if (put(u, job, &permanent, &err) == 0) {
            noteResult(u, NULL);
            atomic_fetch_add(&u->segments, 1);
            atomic_fetch_add(&u->bytes, job->meta.size);
            if (retry.attempts > 0)
                logInfo("stored segment '%s' after %u retries", job->meta.name, retry.attempts);
            u->done(u->data, &job->meta, 0, NULL);
            return;
        }
        atomic_fetch_add(&u->errors, 1);
        noteResult(u, &err);
        if (permanent || !retryErrTransient(err.code)) {
            u->done(u->data, &job->meta, -1, &err);
            return;
        }
        if (atomic_load(&u->abort)) {
            logWarn("upload of '%s' abandoned at shutdown (it stays in the spool): %s", job->meta.name, err.msg);
            return;
        }
        uint64_t delay = retryNext(&retry, retryNowMs());

        atomic_fetch_add(&u->retries, 1);
        logWarn("unable to store segment '%s' (attempt %u), retrying in %" PRIu64 " ms: %s", job->meta.name,
                retry.attempts, delay, err.msg);
        backoffSleep(u, delay);
    }
}

static void *
worker(void *arg) {
    Uploader *u = arg;

    for (;;) {
        Job *job;

        pthread_mutex_lock(&u->lock);
        while (u->head == NULL && !atomic_load(&u->stopping))
            pthread_cond_wait(&u->cond, &u->lock);
        if (atomic_load(&u->stopping)) {
            pthread_mutex_unlock(&u->lock);
            return NULL;
        }
        job = u->head;
        u->head = job->next;
        if (u->head == NULL)
            u->tail = NULL;
        pthread_mutex_unlock(&u->lock);

        upload(u, job);
        atomic_fetch_sub(&u->queued, 1);
        atomic_fetch_sub(&u->queuedBytes, job->meta.size);
        segmentMetaClear(&job->meta);
        bvFree(job->path);
        bvFree(job);
    }
}

Uploader *
uploaderNew(Storage *storage, unsigned workers, UploadDoneFn *done, void *data) {
    Uploader *u = bvCalloc(1, sizeof(*u));

    u->storage = storage;
    u->done = done;
    u->data = data;
    u->workers = workers ? workers : 1;
    pthread_mutex_init(&u->lock, NULL);
    pthread_cond_init(&u->cond, NULL);
    u->threads = bvCalloc(u->workers, sizeof(pthread_t));
    for (unsigned i = 0; i < u->workers; i++) {
        int rc = pthread_create(&u->threads[i], NULL, worker, u);

        if (rc != 0)
            bvAssertFail("pthread_create (uploader)", __FILE__, __LINE__);
        char name[16];

        snprintf(name, sizeof(name), "bv-upload-%u", i % 100);
        pthread_setname_np(u->threads[i], name);
    }
    return u;
}

void
uploaderSubmit(Uploader *u, const SegmentMeta *meta, const char *localPath) {
    Job *job = bvCalloc(1, sizeof(*job));

    segmentMetaCopy(&job->meta, meta);
    job->path = bvStrdup(localPath);
    atomic_fetch_add(&u->queued, 1);
    atomic_fetch_add(&u->queuedBytes, meta->size);
    pthread_mutex_lock(&u->lock);
    if (u->tail)
        u->tail->next = job;
    else
        u->head = job;
    u->tail = job;
    pthread_cond_signal(&u->cond);
    pthread_mutex_unlock(&u->lock);
}

void
uploaderStats(Uploader *u, UploaderStats *out) {
    out->segments = atomic_load(&u->segments);
    out->bytes = atomic_load(&u->bytes);
    out->errors = atomic_load(&u->errors);
    out->retries = atomic_load(&u->retries);
    out->queued = atomic_load(&u->queued);
    out->queuedBytes = atomic_load(&u->queuedBytes);
    pthread_mutex_lock(&u->lock);
    out->failingSinceUs = u->failingSinceUs;
    out->lastErrorUs = u->lastErrorUs;
    snprintf(out->lastError, sizeof(out->lastError), "%s", u->lastError);
    pthread_mutex_unlock(&u->lock);
}

void
uploaderStop(Uploader *u, int64_t graceMs) {
    struct timespec start, now;

    if (u->threads == NULL)
        return;
    /* Let the queue drain for the grace period, then stop taking jobs and abandon retries. */
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (atomic_load(&u->queued) == 0 ||
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= graceMs)
            break;
        struct timespec ts = {0, 20 * 1000000L};

        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&u->lock);
    atomic_store(&u->stopping, true);
    atomic_store(&u->abort, true);
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->lock);
    for (unsigned i = 0; i < u->workers; i++)
        pthread_join(u->threads[i], NULL);
    bvFree(u->threads);
    u->threads = NULL;
}

void
uploaderFree(Uploader *u) {
    if (u == NULL)
        return;
    uploaderStop(u, 0);
    while (u->head) {
        Job *j = u->head;

        u->head = j->next;
        segmentMetaClear(&j->meta);
        bvFree(j->path);
        bvFree(j);
    }
    pthread_mutex_destroy(&u->lock);
    pthread_cond_destroy(&u->cond);
    bvFree(u);
}
