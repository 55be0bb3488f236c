#include "recover/source.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "binlog/gtid.h"
#include "common/bytes.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/mem.h"

#define SOURCE_BUFFER (1024 * 1024)
#define SOURCE_WAIT_MS 200
#define SOURCE_DEFAULT_AHEAD 2

/* A segment fetched for serving: its verified content in an unlinked file, or why it failed. */
typedef struct Spooled {
    size_t idx;     /* in the plan */
    SegmentMeta meta; /* the segment's (a copy; name and seq only when it could not be read) */
    int fd;         /* -1 when it failed */
    uint64_t len;   /* content bytes: the FDE, then the events */
    uint32_t fdeLen;
    ErrCode code;   /* failure */
    char *error;
} Spooled;

struct RecoverSource {
    Archive *archive;
    const SegmentMeta **segs; /* the caller's, kept alive until recoverSourceFree(); or: */
    RecoverRange *range;      /* the plan's (recoverSourceNewRange()): segment i is the range's idx0 + i */
    size_t idx0;
    size_t n;
    char *tmpDir;
    unsigned ahead;
    uint32_t replicaServerId;
    pthread_t thread;
    bool threadStarted;
    atomic_bool stopping;

    pthread_mutex_t lock; /* guards what follows, up to the server-thread part */
    pthread_cond_t cond;
    uint64_t generation;  /* bumped by open(): fetches of an older stream are dropped */
    size_t fetchNext;     /* plan index the fetch thread takes next */
    size_t genStart;      /* the plan index the current generation fetches from */
    bool genTaken;        /* the server took a segment of the current generation */
    Spooled *ready;       /* verified segments waiting, in plan order */
    size_t readyCount;
    RecoverSourceStats stats;

    /* The server thread's part (open, next, file). */
    bool haveCur;
    Spooled cur;
    uint64_t curOff;      /* next byte of cur to serve */
    size_t want;          /* plan index to serve next */
    bool started;         /* an FDE went out in this stream */
    uint32_t prevTimeline; /* the timeline of the segment served before cur */
    char file[SEGMENT_FILE_MAX];
    uint8_t *buf;         /* buf[pos..len) holds the content of cur from curOff on */
    size_t bufCap, bufPos, bufLen;
};

static void
spooledClear(Spooled *sp) {
    if (sp->fd >= 0)
        close(sp->fd);
    sp->fd = -1;
    bvFree(sp->error);
    sp->error = NULL;
    segmentMetaClear(&sp->meta);
}

/* A copy of planned segment i into *out (segmentMetaClear() it). */
static int
sourceMeta(RecoverSource *s, size_t i, SegmentMeta *out, Err *err) {
    int got;

    if (s->range == NULL) {
        segmentMetaClear(out);
        segmentMetaCopy(out, s->segs[i]);
        return 0;
    }
    if ((got = recoverRangeGet(s->range, recoverRangeSeqAt(s->range, s->idx0 + i), out, NULL, err)) < 0)
        return -1;
    if (got == 0)
        return errSet(err, ERR_GAP, "seq %" PRIu64 " of the plan is not in the archive",
                      recoverRangeSeqAt(s->range, s->idx0 + i));
    return 0;
}

/* An unlinked temporary file in dir: nothing is left behind whatever happens to the process. */
static int
tmpFileOpen(const char *dir, Err *err) {
    char *path;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd >= 0)
        return fd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
        return errSetSys(err, ERR_IO, errno, "unable to create a temporary file in '%s' (--tmpdir chooses where)", dir);
    path = bvSprintf("%s/binvault-recover-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create a temporary file in '%s' (--tmpdir chooses where)", dir);
        bvFree(path);
        return -1;
    }
    unlink(path);
    bvFree(path);
    return fd;
}

typedef struct SpoolWriter {
    int fd;
    const char *dir;
    uint8_t *buf;
    size_t used;
    uint64_t total;
} SpoolWriter;

static int
spoolFlush(SpoolWriter *w, Err *err) {
    if (w->used > 0 && fsWriteAll(w->fd, w->buf, w->used) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to write a verified segment to '%s' (--tmpdir chooses where)",
                         w->dir);
    w->used = 0;
    return 0;
}

static int
spoolWrite(SpoolWriter *w, const uint8_t *data, size_t len, Err *err) {
    w->total += len;
    if (w->used + len > SOURCE_BUFFER) {
        if (spoolFlush(w, err) != 0)
            return -1;
        if (len > SOURCE_BUFFER) {
            if (fsWriteAll(w->fd, data, len) != 0)
                return errSetSys(err, ERR_IO, errno,
                                 "unable to write a verified segment to '%s' (--tmpdir chooses where)", w->dir);
            return 0;
        }
    }
    memcpy(w->buf + w->used, data, len);
    w->used += len;
    return 0;
}

/* The trailer read while streaming must describe the object the index describes. */
static int
checkAgainstIndex(const SegmentMeta *idx, const SegmentMeta *tr, Err *err) {
    /* A segment the plan follows only up to a timeline's fork (archive/timeline.h) keeps its own
     * end and GTID state in its trailer. */
    bool cut = idx->objectEndPos != 0;

    if (tr->seq != idx->seq || strcmp(tr->file, idx->file) != 0 || tr->startPos != idx->startPos ||
        tr->endPos != segmentMetaObjectEndPos(idx) || strcmp(tr->contentSha256, idx->contentSha256) != 0 ||
        (!cut && strcmp(segmentMetaGtidEnd(tr), segmentMetaGtidEnd(idx)) != 0))
        return errSet(err, ERR_FORMAT,
                      "segment '%s': its trailer (seq %" PRIu64 ", %s:%" PRIu64 "-%" PRIu64 ", gtid_end '%s') disagrees "
                      "with the index (seq %" PRIu64 ", %s:%" PRIu64 "-%" PRIu64 ", gtid_end '%s')",
                      idx->name, tr->seq, tr->file, tr->startPos, tr->endPos, segmentMetaGtidEnd(tr), idx->seq,
                      idx->file, idx->startPos, idx->endPos, segmentMetaGtidEnd(idx));
    return 0;
}

/* Read segment idx through every check into a temporary file. */
static Spooled
fetchOne(RecoverSource *s, size_t idx) {
    Spooled sp = {.idx = idx, .fd = -1};
    const SegmentMeta *m = &sp.meta;
    SpoolWriter w = {.fd = -1, .dir = s->tmpDir};
    SegmentReader *r = NULL;
    const uint8_t *fde;
    size_t fdeLen;
    BinlogEvent ev;
    uint64_t pos, events = 0;
    Err err = {0};
    int rc = -1;

    if (sourceMeta(s, idx, &sp.meta, &err) != 0) {
        snprintf(sp.meta.name, sizeof(sp.meta.name), "seq %" PRIu64, recoverRangeSeqAt(s->range, s->idx0 + idx));
        goto done;
    }
    logDebug("verifying segment '%s' (%" PRIu64 " bytes)", m->name, m->size);
    if ((w.fd = tmpFileOpen(s->tmpDir, &err)) < 0)
        goto done;
    w.buf = bvMalloc(SOURCE_BUFFER);
    if ((r = archiveSegmentOpen(s->archive, m, &err)) == NULL)
        goto done;
    fde = segmentReaderFde(r, &fdeLen);
    if (spoolWrite(&w, fde, fdeLen, &err) != 0)
        goto done;
    while ((rc = segmentReaderNext(r, &ev, &pos, &err)) == 1) {
        if ((++events & 1023) == 0 && atomic_load(&s->stopping)) {
            rc = errSet(&err, ERR_INTERNAL, "stopping");
            break;
        }
        if (pos + ev.h.size > m->endPos)
            continue; /* after the fork of the timeline the plan follows: verified, not served */
        if (s->replicaServerId != 0 && ev.h.serverId == s->replicaServerId) {
            rc = errSet(&err, ERR_TARGET,
                        "segment '%s': the %s event at %s:%" PRIu64 " carries server_id %" PRIu32
                        ", the target's own while it applies: its replication applier would skip it",
                        m->name, binlogEventTypeName(ev.h.type), m->file, pos, ev.h.serverId);
            break;
        }
        if (spoolWrite(&w, ev.data, ev.h.size, &err) != 0) {
            rc = -1;
            break;
        }
    }
    if (rc != 0)
        goto done;
    rc = -1;
    if (m->sha256[0] != '\0' && strcmp(segmentReaderSha256(r), m->sha256) != 0) {
        errSet(&err, ERR_CHECKSUM, "segment '%s': object sha256 mismatch: computed %s, the index says %s", m->name,
               segmentReaderSha256(r), m->sha256);
        goto done;
    }
    if (checkAgainstIndex(m, segmentReaderMeta(r), &err) != 0 || spoolFlush(&w, &err) != 0)
        goto done;
    sp.fd = w.fd;
    w.fd = -1;
    sp.len = w.total;
    sp.fdeLen = (uint32_t)fdeLen;
    rc = 0;
done:
    if (rc != 0) {
        sp.code = err.code;
        sp.error = bvStrdup(err.msg);
    }
    if (w.fd >= 0)
        close(w.fd);
    bvFree(w.buf);
    segmentReaderFree(r);
    return sp;
}

static void *
fetchMain(void *arg) {
    RecoverSource *s = arg;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        uint64_t gen;
        size_t idx;
        Spooled sp;

        while (!atomic_load(&s->stopping) && (s->fetchNext >= s->n || s->readyCount >= s->ahead))
            pthread_cond_wait(&s->cond, &s->lock);
        if (atomic_load(&s->stopping))
            break;
        idx = s->fetchNext++;
        gen = s->generation;
        pthread_mutex_unlock(&s->lock);

        sp = fetchOne(s, idx);

        pthread_mutex_lock(&s->lock);
        if (gen != s->generation || atomic_load(&s->stopping)) {
            spooledClear(&sp);
            continue;
        }
        if (sp.fd < 0) {
            logInfo("%s; the stream stops before this segment", sp.error);
            s->stats.failed = true;
            s->stats.failureCode = sp.code;
            snprintf(s->stats.failure, sizeof(s->stats.failure), "%s", sp.error);
            s->fetchNext = s->n; /* nothing after a bad segment is served */
        } else {
            s->stats.segmentsVerified++;
            s->stats.bytesFetched += sp.meta.size;
        }
        s->ready[s->readyCount++] = sp;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- The server thread's side ---- */

static void
curClose(RecoverSource *s) {
    if (s->haveCur)
        spooledClear(&s->cur);
    s->haveCur = false;
    s->bufPos = s->bufLen = 0;
}

/* Whether the replica's position `from` has segment i's starting state: 1 or 0, -1 for a segment
 * with none (or one that cannot be read). */
static int
startReached(RecoverSource *s, size_t i, const MariaGtidPos *from) {
    SegmentMeta m = {0};
    MariaGtidPos *pos;
    Err ignored;
    int reached = -1;

    if (sourceMeta(s, i, &m, &ignored) == 0 && segmentMetaGtidStart(&m)[0] != '\0') {
        pos = mariaGtidPosNew();
        reached = mariaGtidPosParse(pos, segmentMetaGtidStart(&m), &ignored) == 0 && mariaGtidPosReached(from, pos);
        mariaGtidPosFree(pos);
    }
    segmentMetaClear(&m);
    return reached;
}

/* The newest planned segment whose starting state the replica has: every group before it is
 * applied (MariaDB's gtid_find_binlog_file does the same with GTID_LIST events). Over a range, by
 * halving (a segment without a state counts as reached): the states of a plan's segments only
 * grow. */
static size_t
startIndex(RecoverSource *s, const MariaGtidPos *from) {
    size_t lo = 0, hi = s->n;

    if (from == NULL || mariaGtidPosCount(from) == 0 || s->n == 0)
        return 0;
    if (s->range == NULL) {
        for (size_t i = s->n; i-- > 1;)
            if (startReached(s, i, from) == 1)
                return i;
        return 0;
    }
    /* lo: reached (or 0); hi: the first not reached (or n). */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;

        if (startReached(s, mid, from) != 0)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int
sourceOpen(void *data, const MariaGtidPos *from, Err *err) {
    RecoverSource *s = data;
    size_t start = startIndex(s, from);
    SegmentMeta first = {0};
    Err ignored;

    (void)err;
    curClose(s);
    pthread_mutex_lock(&s->lock);
    /* The fetch thread starts on the plan's first segment before any replica connects, to hide
     * the first fetches behind the target's connection; a replica that starts there keeps what
     * is fetched (and being fetched) instead of verifying it again. */
    if (s->genTaken || s->genStart != start) {
        s->generation++;
        s->genStart = start;
        s->genTaken = false;
        for (size_t i = 0; i < s->readyCount; i++)
            spooledClear(&s->ready[i]);
        s->readyCount = 0;
        s->fetchNext = start;
    }
    s->stats.endOfPlan = false;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    s->want = start;
    s->started = false;
    s->file[0] = '\0';
    if (s->n > 0 && sourceMeta(s, start, &first, &ignored) == 0)
        logInfo("serving the plan from segment '%s' (%zu of %zu)", first.name, start + 1, s->n);
    segmentMetaClear(&first);
    return 0;
}

/* Make buf hold at least `need` bytes of cur from curOff. */
static int
bufEnsure(RecoverSource *s, size_t need, Err *err) {
    size_t avail = s->bufLen - s->bufPos;

    if (avail >= need)
        return 0;
    memmove(s->buf, s->buf + s->bufPos, avail);
    s->bufPos = 0;
    s->bufLen = avail;
    if (need > s->bufCap) {
        s->bufCap = need;
        s->buf = bvRealloc(s->buf, s->bufCap);
    }
    while (s->bufLen < need) {
        ssize_t got = fsPreadAll(s->cur.fd, s->buf + s->bufLen, s->bufCap - s->bufLen, (off_t)(s->curOff + s->bufLen));

        if (got < 0)
            return errSetSys(err, ERR_IO, errno, "unable to read the verified copy of segment '%s' in '%s'",
                             s->cur.meta.name, s->tmpDir);
        if (got == 0)
            return errSet(err, ERR_INTERNAL, "the verified copy of segment '%s' ends at %" PRIu64 " of %" PRIu64 " bytes",
                          s->cur.meta.name, s->curOff + s->bufLen, s->cur.len);
        s->bufLen += (size_t)got;
    }
    return 0;
}

/* Take the next segment off the queue: 1, 0 when it is not verified yet, -1 when it failed. */
static int
takeNext(RecoverSource *s, Err *err) {
    struct timespec deadline;
    const SegmentMeta *m;
    int rc = 1;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += SOURCE_WAIT_MS * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (s->readyCount == 0 && !atomic_load(&s->stopping))
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) != 0)
            break;
    if (s->readyCount == 0) {
        rc = 0;
    } else if (s->ready[0].fd < 0) {
        rc = errSet(err, s->ready[0].code ? s->ready[0].code : ERR_INTERNAL, "%s", s->ready[0].error);
    } else {
        BV_ASSERT(s->ready[0].idx == s->want);
        s->genTaken = true;
        s->cur = s->ready[0];
        s->haveCur = true;
        memmove(s->ready, s->ready + 1, (s->readyCount - 1) * sizeof(*s->ready));
        s->readyCount--;
        s->stats.seqServing = s->cur.meta.seq;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc != 1)
        return rc;
    m = &s->cur.meta;
    s->curOff = 0;
    s->bufPos = s->bufLen = 0;
    /* A file's FDE opens it once; segments that continue the file follow without it. The first
     * segment of a new timeline opens its file even when the old source's had the same name. */
    if (s->started && strcmp(s->file, m->file) == 0 && s->prevTimeline == segmentMetaTimeline(m))
        s->curOff = s->cur.fdeLen;
    s->prevTimeline = segmentMetaTimeline(m);
    snprintf(s->file, sizeof(s->file), "%s", m->file);
    s->started = true;
    logDebug("serving segment '%s'", m->name);
    return 1;
}

static int
sourceNext(void *data, const uint8_t **event, size_t *len, Err *err) {
    RecoverSource *s = data;

    for (;;) {
        uint32_t size;
        int rc;

        if (!s->haveCur) {
            if (s->want >= s->n) {
                pthread_mutex_lock(&s->lock);
                s->stats.endOfPlan = true;
                pthread_mutex_unlock(&s->lock);
                return 0;
            }
            if ((rc = takeNext(s, err)) != 1)
                return rc;
        }
        if (s->curOff >= s->cur.len) {
            curClose(s);
            s->want++;
            continue;
        }
        if (bufEnsure(s, BINLOG_HEADER_LEN, err) != 0)
            return -1;
        size = rdU32(s->buf + s->bufPos + 9);
        if (size < BINLOG_HEADER_LEN || size > s->cur.len - s->curOff)
            return errSet(err, ERR_INTERNAL, "the verified copy of segment '%s' holds an event of %" PRIu32
                          " bytes at %" PRIu64, s->cur.meta.name, size, s->curOff);
        if (bufEnsure(s, size, err) != 0)
            return -1;
        *event = s->buf + s->bufPos;
        *len = size;
        s->bufPos += size;
        s->curOff += size;
        pthread_mutex_lock(&s->lock);
        s->stats.bytesServed += size;
        pthread_mutex_unlock(&s->lock);
        return 1;
    }
}

static const char *
sourceFile(void *data) {
    return ((RecoverSource *)data)->file;
}

ReplServerSource
recoverSourceInterface(RecoverSource *s) {
    ReplServerSource src = {s, sourceOpen, sourceNext, sourceFile};

    return src;
}

/* A source of n segments, its fetch thread not started yet. */
static RecoverSource *
sourceNew(Archive *archive, size_t n, const RecoverSourceOptions *opts, Err *err) {
    RecoverSource *s;
    const char *dir = opts != NULL ? opts->tmpDir : NULL; /* recover's --tmpdir, TMPDIR */
    struct stat st;
    int fd;

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    if (stat(dir, &st) != 0) {
        errSetSys(err, ERR_IO, errno, "temporary directory '%s'", dir);
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        errSet(err, ERR_IO, "temporary directory '%s' is not a directory", dir);
        return NULL;
    }
    if ((fd = tmpFileOpen(dir, err)) < 0)
        return NULL;
    close(fd);
    s = bvCalloc(1, sizeof(*s));
    s->archive = archive;
    s->n = n;
    s->tmpDir = bvStrdup(dir);
    s->ahead = opts && opts->ahead ? opts->ahead : SOURCE_DEFAULT_AHEAD;
    s->replicaServerId = opts ? opts->replicaServerId : 0;
    s->ready = bvCalloc(s->ahead + 1, sizeof(*s->ready));
    s->bufCap = SOURCE_BUFFER;
    s->buf = bvMalloc(s->bufCap);
    s->cur.fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    return s;
}

/* Start the fetch thread; frees s on failure. */
static RecoverSource *
sourceStart(RecoverSource *s, Err *err) {
    int rc;

    if ((rc = pthread_create(&s->thread, NULL, fetchMain, s)) != 0) {
        errSetSys(err, ERR_INTERNAL, rc, "unable to start the segment fetch thread");
        recoverSourceFree(s);
        return NULL;
    }
    pthread_setname_np(s->thread, "bv-rfetch");
    s->threadStarted = true;
    return s;
}

RecoverSource *
recoverSourceNew(Archive *archive, const SegmentMeta *const *segs, size_t n, const RecoverSourceOptions *opts,
                 Err *err) {
    RecoverSource *s = sourceNew(archive, n, opts, err);

    if (s == NULL)
        return NULL;
    s->segs = bvCalloc(n ? n : 1, sizeof(*s->segs));
    for (size_t i = 0; i < n; i++)
        s->segs[i] = segs[i];
    return sourceStart(s, err);
}

RecoverSource *
recoverSourceNewRange(Archive *archive, RecoverRange *range, uint64_t firstSeq, size_t n,
                      const RecoverSourceOptions *opts, Err *err) {
    RecoverSource *s = sourceNew(archive, n, opts, err);

    if (s == NULL)
        return NULL;
    s->range = range;
    recoverRangeIndexOf(range, firstSeq, &s->idx0);
    return sourceStart(s, err);
}

void
recoverSourceStats(RecoverSource *s, RecoverSourceStats *out) {
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

void
recoverSourceFree(RecoverSource *s) {
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (s->threadStarted)
        pthread_join(s->thread, NULL);
    curClose(s);
    for (size_t i = 0; i < s->readyCount; i++)
        spooledClear(&s->ready[i]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    bvFree((void *)s->segs);
    bvFree(s->ready);
    bvFree(s->buf);
    bvFree(s->tmpDir);
    bvFree(s);
}
