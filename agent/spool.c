/* The spool: sealed segments kept durably on local disk until archived, its state.json, and the
 * semi-sync journal of the open segment; agent/spool.h. */
#include "agent/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/bytes.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"

struct Spool {
    char *dir;
    int lockFd;
    uint64_t maxBytes;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t readyBytes;
    uint64_t readyCount;
    uint64_t openBytes;
    uint64_t removals; /* segments removed so far: spoolWaitRemoval() waits for the next one */
    /* The seq state.json names as last read or written (0: none). A commit of a seq at or below it
     * is refused: after a commit whose state moved but whose last directory sync failed, the
     * caller believes the segment was not sealed, and must resync with the state before sealing
     * anything (sealing that seq again, say from a semi-sync journal, would overwrite the
     * committed segment in ready/ with other content). */
    uint64_t stateSeq;
    /* What fde.bin holds, as last written by this process (NULL: unknown): a commit rewrites it
     * (two more fsyncs) only when its binlog file's FDE differs. */
    uint8_t *fde;
    size_t fdeLen;
    /* Test hook (not documented for users): BINVAULT_TEST_SPOOL_FAIL_AFTER_STATE=N makes every
     * N-th commit of this process fail right after its state moved, as if the directory sync
     * after state.json had failed, and the next commit fail after its segment entered ready/,
     * before the state: the double failure the commit guard (stateSeq) exists for. */
    uint64_t commits, failAfterStateEvery;
    bool failBeforeState;
};

/* What a spool must have free before the stream resumes after it ran out of space. */
#define SPOOL_MIN_FREE (1024 * 1024)

static void
pathJoin(const Spool *s, const char *rel, char *out, size_t size) {
    snprintf(out, size, "%s/%s", s->dir, rel);
}

static int
clearOpenDir(Spool *s, Err *err) {
    char path[4096];
    DIR *d;
    struct dirent *de;

    pathJoin(s, "open", path, sizeof(path));
    if ((d = opendir(path)) == NULL)
        return errSetSys(err, ERR_IO, errno, "unable to read spool directory '%s'", path);
    while ((de = readdir(d)) != NULL) {
        char file[4096 + 256];

        if (de->d_name[0] == '.')
            continue;
        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        if (unlink(file) != 0 && errno != ENOENT) {
            closedir(d);
            return errSetSys(err, ERR_IO, errno, "unable to remove '%s'", file);
        }
    }
    closedir(d);
    return 0;
}

/* The seq of a ready/ entry "SEQ.bvs" or "SEQ.json" (16 digits), 0 when the name is not one. */
static uint64_t
readySeq(const char *name) {
    char *end;
    unsigned long long seq;

    if (strlen(name) < 17 || name[16] != '.')
        return 0;
    errno = 0;
    seq = strtoull(name, &end, 10);
    return errno == 0 && end == name + 16 ? (uint64_t)seq : 0;
}

/* Sizes of what ready/ holds, and removal of what no commit completed: metadata without its
 * segment (the crash came between the two renames) and any segment above `committed`, the seq
 * state.json names (the crash or the failure came before the state moved; the segment is read
 * again from the source). Called with s->lock held, or before the spool is shared. */
static int
scanReady(Spool *s, uint64_t committed, Err *err) {
    char dir[4096];
    DIR *d;
    struct dirent *de;

    pathJoin(s, "ready", dir, sizeof(dir));
    if ((d = opendir(dir)) == NULL)
        return errSetSys(err, ERR_IO, errno, "unable to read spool directory '%s'", dir);
    s->readyBytes = s->readyCount = 0;
    while ((de = readdir(d)) != NULL) {
        char path[4096 + 256], other[4096 + 256];
        size_t n = strlen(de->d_name);
        uint64_t seq = readySeq(de->d_name);
        struct stat st;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (strstr(de->d_name, ".tmp") != NULL) {
            unlink(path);
        } else if (seq > committed) {
            if (n > 4 && strcmp(de->d_name + n - 4, ".bvs") == 0)
                logWarn("spool: removing segment %" PRIu64 " from '%s': its commit did not complete (state.json "
                        "ends at segment %" PRIu64 "); it is read again from the source", seq, dir, committed);
            if (unlink(path) != 0 && errno != ENOENT) {
                closedir(d);
                return errSetSys(err, ERR_IO, errno, "unable to remove '%s'", path);
            }
        } else if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0) {
            snprintf(other, sizeof(other), "%s/%.*s.bvs", dir, (int)(n - 5), de->d_name);
            if (access(other, F_OK) != 0 && unlink(path) != 0) {
                closedir(d);
                return errSetSys(err, ERR_IO, errno, "unable to remove '%s'", path);
            }
        } else if (n > 4 && strcmp(de->d_name + n - 4, ".bvs") == 0 && stat(path, &st) == 0) {
            s->readyBytes += (uint64_t)st.st_size;
            s->readyCount++;
        }
    }
    closedir(d);
    return 0;
}

int
spoolReconcile(Spool *s, Err *err) {
    SpoolState st;
    int rc;

    if (spoolReadState(s, &st, err) != 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    s->stateSeq = st.valid ? st.seq : 0;
    rc = scanReady(s, st.valid ? st.seq : 0, err);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    spoolStateClear(&st);
    return rc;
}

Spool *
spoolOpen(const char *dir, uint64_t maxBytes, Err *err) {
    Spool *s = bvCalloc(1, sizeof(*s));
    char path[4096];
    const char *hook;

    s->dir = bvStrdup(dir);
    s->lockFd = -1;
    s->maxBytes = maxBytes;
    if ((hook = getenv("BINVAULT_TEST_SPOOL_FAIL_AFTER_STATE")) != NULL)
        s->failAfterStateEvery = strtoull(hook, NULL, 10);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (fsMkdirP(dir, 0700, err) != 0)
        goto fail;
    pathJoin(s, "lock", path, sizeof(path));
    if ((s->lockFd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        errSetSys(err, ERR_IO, errno, "unable to open spool lock '%s'", path);
        goto fail;
    }
    if (flock(s->lockFd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            errSet(err, ERR_CONFIG, "spool '%s' is in use by another binvault agent (lock '%s' is held)", dir, path);
        else
            errSetSys(err, ERR_IO, errno, "unable to lock spool '%s'", path);
        goto fail;
    }
    pathJoin(s, "open", path, sizeof(path));
    if (fsMkdirP(path, 0700, err) != 0)
        goto fail;
    pathJoin(s, "ready", path, sizeof(path));
    if (fsMkdirP(path, 0700, err) != 0)
        goto fail;
    pathJoin(s, "journal", path, sizeof(path));
    if (fsMkdirP(path, 0700, err) != 0)
        goto fail;
    if (clearOpenDir(s, err) != 0 || spoolReconcile(s, err) != 0)
        goto fail;
    return s;
fail:
    spoolClose(s);
    return NULL;
}

const char *
spoolDir(const Spool *s) {
    return s->dir;
}

void
spoolStateClear(SpoolState *state) {
    bvFree(state->gtidEnd);
    bvFree(state->fde);
    memset(state, 0, sizeof(*state));
}

int
spoolReadState(Spool *s, SpoolState *st, Err *err) {
    char path[4096];
    uint8_t *data;
    size_t len;
    JsonValue *j;
    const char *str;
    uint64_t u;
    bool b;

    memset(st, 0, sizeof(*st));
    pathJoin(s, "state.json", path, sizeof(path));
    if (access(path, F_OK) != 0)
        return 0;
    if (fsReadFile(path, 1024 * 1024, &data, &len, err) != 0)
        return -1;
    j = jsonParse((const char *)data, len, err);
    bvFree(data);
    if (j == NULL)
        return errPrefix(err, "spool state '%s' is corrupt (remove it to resume from the archive)", path);
    if (jsonReqU64(j, "seq", &st->seq, err) != 0 || jsonReqU64(j, "end_pos", &st->endPos, err) != 0 ||
        jsonReqStr(j, "file", &str, err) != 0) {
        jsonFree(j);
        return errPrefix(err, "spool state '%s'", path);
    }
    snprintf(st->file, sizeof(st->file), "%s", str);
    str = jsonStr(jsonGet(j, "next_file"), NULL);
    snprintf(st->nextFile, sizeof(st->nextFile), "%s", str ? str : "");
    str = jsonStr(jsonGet(j, "gtid_end"), NULL);
    st->gtidEnd = bvStrdup(str ? str : "");
    str = jsonStr(jsonGet(j, "flavour"), NULL);
    st->flavour = str && strcmp(str, "mysql") == 0 ? BINLOG_FLAVOUR_MYSQL : BINLOG_FLAVOUR_MARIADB;
    if (jsonBool(jsonGet(j, "ends_file"), &b))
        st->endsFile = b;
    (void)u;
    jsonFree(j);
    pathJoin(s, "fde.bin", path, sizeof(path));
    if (access(path, F_OK) == 0 && fsReadFile(path, 65536, &st->fde, &st->fdeLen, err) != 0) {
        spoolStateClear(st);
        return -1;
    }
    st->valid = true;
    return 0;
}

void
spoolOpenPath(const Spool *s, uint64_t seq, char *out, size_t size) {
    snprintf(out, size, "%s/open/%016" PRIu64 ".bvs.tmp", s->dir, seq);
}

void
spoolReadyPath(const Spool *s, uint64_t seq, char *out, size_t size) {
    snprintf(out, size, "%s/ready/%016" PRIu64 ".bvs", s->dir, seq);
}

int
spoolCommit(Spool *s, const char *tmpPath, const SegmentMeta *meta, const uint8_t *fde, size_t fdeLen,
            const char *nextFile, Err *err) {
    char path[4096], metaPath[4096];
    Buf *b = bufNew(1024);
    int rc = -1;
    struct stat st;
    bool existed;

    if (meta->seq <= s->stateSeq) {
        errSet(err, ERR_IO, "segment %" PRIu64 " is already committed to spool '%s' (its state names segment %" PRIu64
               ": an earlier commit failed only after its state moved); resync with the spool's state first",
               meta->seq, s->dir, s->stateSeq);
        bufFree(b);
        return -1;
    }
    /* A segment of this seq whose commit did not complete is normally removed (spoolOpen(),
     * spoolReconcile()); one that could not be is replaced, and the sizes are counted again. */
    spoolReadyPath(s, meta->seq, path, sizeof(path));
    existed = stat(path, &st) == 0;
    /* 1. the segment (fsynced by its writer) and its metadata into ready/, 2. the state: the first
     * durable before the second. The metadata's atomic write ends with the fsync of ready/, which
     * makes both its rename and the segment's durable (one directory fsync, not two: a commit is
     * a stall of the stream). Until the state moves, a crash leaves either or both in ready/
     * above the state, removed by spoolReconcile(); open/ is not fsynced: a name left there by a
     * crash is removed when the spool is opened. */
    if (rename(tmpPath, path) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to rename '%s' to '%s'", tmpPath, path);
        goto done;
    }
    snprintf(metaPath, sizeof(metaPath), "%s/ready/%016" PRIu64 ".json", s->dir, meta->seq);
    segmentMetaToJson(meta, true, b);
    if (fsWriteFileAtomic(metaPath, b->data, b->len, 0600, err) != 0) {
        /* Back where the caller left it (a failing commit leaves tmpPath to the caller). */
        if (rename(path, tmpPath) != 0)
            logWarn("spool: unable to rename '%s' back to '%s': %s", path, tmpPath, strerror(errno));
        goto done;
    }
    if (s->failBeforeState) {
        s->failBeforeState = false;
        errSet(err, ERR_IO, "unable to write the state of spool '%s' for segment %" PRIu64
               " (BINVAULT_TEST_SPOOL_FAIL_AFTER_STATE)", s->dir, meta->seq);
        goto done;
    }
    if (fde != NULL && (s->fde == NULL || s->fdeLen != fdeLen || memcmp(s->fde, fde, fdeLen) != 0)) {
        char fdePath[4096];

        bvFree(s->fde);
        s->fde = NULL;
        pathJoin(s, "fde.bin", fdePath, sizeof(fdePath));
        if (fsWriteFileAtomic(fdePath, fde, fdeLen, 0600, err) != 0)
            goto done;
        s->fde = bvMalloc(fdeLen);
        memcpy(s->fde, fde, fdeLen);
        s->fdeLen = fdeLen;
    }
    bufClear(b);
    jsonBufPrintf(b, "{\"version\":1,\"seq\":%" PRIu64 ",\"flavour\":\"%s\",\"file\":", meta->seq,
                  meta->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
    jsonBufString(b, meta->file, strlen(meta->file));
    jsonBufPrintf(b, ",\"end_pos\":%" PRIu64 ",\"ends_file\":%s,\"next_file\":", meta->endPos,
                  meta->endsFile ? "true" : "false");
    jsonBufString(b, nextFile ? nextFile : "", nextFile ? strlen(nextFile) : 0);
    jsonBufPrintf(b, ",\"gtid_end\":");
    jsonBufString(b, meta->gtidEnd ? meta->gtidEnd : "", meta->gtidEnd ? strlen(meta->gtidEnd) : 0);
    jsonBufPrintf(b, "}\n");
    pathJoin(s, "state.json", path, sizeof(path));
    /* From here the state may move even if the write fails: until spoolReconcile() reads what it
     * says, this seq counts as committed. */
    pthread_mutex_lock(&s->lock);
    s->stateSeq = meta->seq;
    pthread_mutex_unlock(&s->lock);
    if (fsWriteFileAtomic(path, b->data, b->len, 0600, err) != 0)
        goto done;
    if (s->failAfterStateEvery > 0 && ++s->commits % s->failAfterStateEvery == 0) {
        s->failBeforeState = true;
        errSet(err, ERR_IO, "unable to fsync directory '%s' after its state moved to segment %" PRIu64
               " (BINVAULT_TEST_SPOOL_FAIL_AFTER_STATE)", s->dir, meta->seq);
        goto done;
    }
    spoolReadyPath(s, meta->seq, path, sizeof(path));
    pthread_mutex_lock(&s->lock);
    if (existed) {
        Err e;

        if (scanReady(s, meta->seq, &e) != 0)
            logWarn("spool: %s", e.msg);
    } else {
        if (stat(path, &st) == 0)
            s->readyBytes += (uint64_t)st.st_size;
        s->readyCount++;
    }
    s->openBytes = 0;
    pthread_mutex_unlock(&s->lock);
    rc = 0;
done:
    bufFree(b);
    if (rc != 0) {
        Err e;

        /* Undo the steps done: ready/ must not hold a segment that state.json does not name (if
         * the state did move, only the directory sync after it failed, and the segment stays).
         * When even that fails, spoolReconcile() is run again before the spool is used. */
        if (spoolReconcile(s, &e) != 0)
            logWarn("spool: %s", e.msg);
    }
    return rc;
}

static int
cmpMeta(const void *a, const void *b) {
    const SegmentMeta *x = a, *y = b;

    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int
spoolReadyList(Spool *s, SegmentMeta **metas, size_t *count, Err *err) {
    char dir[4096];
    DIR *d;
    struct dirent *de;
    size_t n = 0, cap = 0;
    SegmentMeta *list = NULL;

    pathJoin(s, "ready", dir, sizeof(dir));
    if ((d = opendir(dir)) == NULL)
        return errSetSys(err, ERR_IO, errno, "unable to read spool directory '%s'", dir);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char path[4096 + 256];
        uint8_t *data;
        size_t dataLen;

        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (fsReadFile(path, 1024 * 1024, &data, &dataLen, err) != 0) {
            if (err->code == ERR_NOTFOUND)
                continue; /* removed meanwhile: archived */
            goto fail;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            list = bvRealloc(list, cap * sizeof(*list));
        }
        memset(&list[n], 0, sizeof(list[n]));
        if (segmentMetaFromJson((const char *)data, dataLen, true, &list[n], err) != 0) {
            bvFree(data);
            errPrefix(err, "spool metadata '%s'", path);
            goto fail;
        }
        bvFree(data);
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(list, n, sizeof(*list), cmpMeta);
    *metas = list;
    *count = n;
    return 0;
fail:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        segmentMetaClear(&list[i]);
    bvFree(list);
    return -1;
}

int
spoolRemove(Spool *s, uint64_t seq, Err *err) {
    char path[4096];
    struct stat st;
    uint64_t size = 0;
    int rc = 0;

    /* Under the lock, so that a spoolReconcile() counting ready/ sees it either before or after. */
    pthread_mutex_lock(&s->lock);
    spoolReadyPath(s, seq, path, sizeof(path));
    if (stat(path, &st) == 0)
        size = (uint64_t)st.st_size;
    if (unlink(path) != 0 && errno != ENOENT) {
        rc = errSetSys(err, ERR_IO, errno, "unable to remove spooled segment '%s'", path);
        goto done;
    }
    if (size > 0) {
        s->readyBytes -= size < s->readyBytes ? size : s->readyBytes;
        if (s->readyCount > 0)
            s->readyCount--;
        s->removals++;
    }
    snprintf(path, sizeof(path), "%s/ready/%016" PRIu64 ".json", s->dir, seq);
    if (unlink(path) != 0 && errno != ENOENT)
        rc = errSetSys(err, ERR_IO, errno, "unable to remove '%s'", path);
done:
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int
spoolProbe(Spool *s, bool *noSpace, Err *err) {
    char path[4096];
    uint8_t block[4096];
    struct statvfs v;
    int fd, e;

    *noSpace = false;
    if (statvfs(s->dir, &v) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to read the free space of spool '%s'", s->dir);
    if ((uint64_t)v.f_bavail * v.f_frsize < SPOOL_MIN_FREE) {
        *noSpace = true;
        return errSet(err, ERR_IO, "spool '%s' has %" PRIu64 " bytes free (waiting for %d)", s->dir,
                      (uint64_t)v.f_bavail * v.f_frsize, SPOOL_MIN_FREE);
    }
    memset(block, 0, sizeof(block));
    pathJoin(s, "open/probe.tmp", path, sizeof(path));
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        e = errno;
        *noSpace = e == ENOSPC || e == EDQUOT;
        return errSetSys(err, ERR_IO, e, "unable to create '%s'", path);
    }
    if (fsWriteAll(fd, block, sizeof(block)) != 0 || fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlink(path);
        *noSpace = e == ENOSPC || e == EDQUOT;
        return errSetSys(err, ERR_IO, e, "unable to write and fsync '%s'", path);
    }
    close(fd);
    if (unlink(path) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to remove '%s'", path);
    return 0;
}

void
spoolWaitRemoval(Spool *s, uint64_t ms, atomic_bool *stop) {
    struct timespec deadline;
    uint64_t start;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)(ms / 1000);
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    start = s->removals;
    while (s->removals == start && !atomic_load(stop) &&
           pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == 0)
        ;
    pthread_mutex_unlock(&s->lock);
}

uint64_t
spoolBytes(Spool *s) {
    uint64_t v;

    pthread_mutex_lock(&s->lock);
    v = s->readyBytes + s->openBytes;
    pthread_mutex_unlock(&s->lock);
    return v;
}

uint64_t
spoolReadyCount(Spool *s) {
    uint64_t v;

    pthread_mutex_lock(&s->lock);
    v = s->readyCount;
    pthread_mutex_unlock(&s->lock);
    return v;
}

void
spoolSetOpenBytes(Spool *s, uint64_t bytes) {
    pthread_mutex_lock(&s->lock);
    s->openBytes = bytes;
    pthread_mutex_unlock(&s->lock);
}

uint64_t
spoolMaxBytes(const Spool *s) {
    return s->maxBytes;
}

/* ---- semi-sync journal ---- */

#define JOURNAL_MAGIC "BVJRNL\x00\x01"
#define JOURNAL_MAGIC_LEN 8
#define JOURNAL_HEAD_MAX 4096
#define JOURNAL_RECORD_HEAD 9
#define JOURNAL_EVENT_MAX ((size_t)1 << 30)
#define JOURNAL_BUFFER (64 * 1024)
#define JOURNAL_BOUNDARY 0x01

struct SpoolJournal {
    int fd;
    char path[4096];
    uint64_t seq;
    uint64_t bytes;
    Buf *buf;
};

static void
journalPath(const Spool *s, uint64_t seq, char *out, size_t size) {
    snprintf(out, size, "%s/journal/%016" PRIu64 ".bvj", s->dir, seq);
}

static int
journalFlush(SpoolJournal *j, Err *err) {
    if (j->buf->len > 0 && fsWriteAll(j->fd, j->buf->data, j->buf->len) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to write the semi-sync journal '%s'", j->path);
    bufClear(j->buf);
    return 0;
}

SpoolJournal *
spoolJournalCreate(Spool *s, const SpoolJournalHead *head, Err *err) {
    SpoolJournal *j = bvCalloc(1, sizeof(*j));
    Buf *b = bufNew(512);
    uint8_t hdr[JOURNAL_MAGIC_LEN + 8];
    char dir[4096];

    j->seq = head->seq;
    j->buf = bufNew(JOURNAL_BUFFER + JOURNAL_RECORD_HEAD);
    journalPath(s, head->seq, j->path, sizeof(j->path));
    jsonBufPrintf(b, "{\"seq\":%" PRIu64 ",\"flavour\":\"%s\",\"server_id\":%" PRIu32 ",\"server_uuid\":", head->seq,
                  head->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb", head->serverId);
    jsonBufString(b, head->serverUuid, strlen(head->serverUuid));
    jsonBufPrintf(b, ",\"file\":");
    jsonBufString(b, head->file, strlen(head->file));
    jsonBufPrintf(b, ",\"pos\":%" PRIu64 "}", head->pos);
    memcpy(hdr, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN);
    wrU32(hdr + JOURNAL_MAGIC_LEN, (uint32_t)b->len);
    wrU32(hdr + JOURNAL_MAGIC_LEN + 4, cryptoCrc32(0, b->data, b->len));
    if ((j->fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        errSetSys(err, ERR_IO, errno, "unable to create the semi-sync journal '%s'", j->path);
        goto fail;
    }
    if (fsWriteAll(j->fd, hdr, sizeof(hdr)) != 0 || fsWriteAll(j->fd, b->data, b->len) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to write the semi-sync journal '%s'", j->path);
        goto fail;
    }
    j->bytes = sizeof(hdr) + b->len;
    snprintf(dir, sizeof(dir), "%s/journal", s->dir);
    if (fsSyncDir(dir, err) != 0)
        goto fail;
    bufFree(b);
    return j;
fail:
    bufFree(b);
    spoolJournalClose(j, true);
    return NULL;
}

int
spoolJournalAppend(SpoolJournal *j, const uint8_t *event, size_t len, bool boundary, Err *err) {
    uint8_t rec[JOURNAL_RECORD_HEAD];
    uint32_t crc;

    if (len > JOURNAL_EVENT_MAX)
        return errSet(err, ERR_LIMIT, "event of %zu bytes is too large for the semi-sync journal", len);
    rec[4] = boundary ? JOURNAL_BOUNDARY : 0;
    crc = cryptoCrc32(cryptoCrc32(0, rec + 4, 1), event, len);
    wrU32(rec, (uint32_t)len);
    wrU32(rec + 5, (uint32_t)crc);
    if (j->buf->len + sizeof(rec) + len > JOURNAL_BUFFER && journalFlush(j, err) != 0)
        return -1;
    if (sizeof(rec) + len > JOURNAL_BUFFER) {
        if (fsWriteAll(j->fd, rec, sizeof(rec)) != 0 || fsWriteAll(j->fd, event, len) != 0)
            return errSetSys(err, ERR_IO, errno, "unable to write the semi-sync journal '%s'", j->path);
    } else {
        bufAppend(j->buf, rec, sizeof(rec));
        bufAppend(j->buf, event, len);
    }
    j->bytes += sizeof(rec) + len;
    return 0;
}

int
spoolJournalSync(SpoolJournal *j, Err *err) {
    if (journalFlush(j, err) != 0)
        return -1;
    if (fdatasync(j->fd) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to fdatasync the semi-sync journal '%s'", j->path);
    return 0;
}

uint64_t
spoolJournalSeq(const SpoolJournal *j) {
    return j->seq;
}

uint64_t
spoolJournalBytes(const SpoolJournal *j) {
    return j->bytes;
}

void
spoolJournalClose(SpoolJournal *j, bool remove) {
    if (j == NULL)
        return;
    /* Kept: what is buffered goes to the file (best effort: only synced records were
     * acknowledged), so that a replay right away sees every event received. */
    if (!remove && j->fd >= 0 && j->buf->len > 0 && fsWriteAll(j->fd, j->buf->data, j->buf->len) != 0)
        errno = 0;
    if (j->fd >= 0)
        close(j->fd);
    if (remove && j->path[0] != '\0')
        unlink(j->path);
    bufFree(j->buf);
    bvFree(j);
}

static int
cmpU64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int
spoolJournalList(Spool *s, uint64_t **seqs, size_t *count, Err *err) {
    char dir[4096];
    DIR *d;
    struct dirent *de;
    size_t n = 0, cap = 0;
    uint64_t *list = NULL;

    snprintf(dir, sizeof(dir), "%s/journal", s->dir);
    if ((d = opendir(dir)) == NULL)
        return errSetSys(err, ERR_IO, errno, "unable to read spool directory '%s'", dir);
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char *end;
        unsigned long long seq;

        if (len != 20 || strcmp(de->d_name + 16, ".bvj") != 0)
            continue;
        errno = 0;
        seq = strtoull(de->d_name, &end, 10);
        if (errno != 0 || end != de->d_name + 16)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 4;
            list = bvRealloc(list, cap * sizeof(*list));
        }
        list[n++] = seq;
    }
    closedir(d);
    if (n > 1)
        qsort(list, n, sizeof(*list), cmpU64);
    *seqs = list;
    *count = n;
    return 0;
}

/* Read the record at *off: 1 with the event in buf, 0 at a clean or torn end. */
static int
journalRecord(int fd, const char *path, uint64_t size, uint64_t *off, Buf *buf, bool *boundary, Err *err) {
    uint8_t rec[JOURNAL_RECORD_HEAD];
    uint32_t len;
    uint32_t crc;
    ssize_t n;

    if (*off + sizeof(rec) > size)
        return 0;
    if ((n = fsPreadAll(fd, rec, sizeof(rec), (off_t)*off)) < 0)
        return errSetSys(err, ERR_IO, errno, "unable to read the semi-sync journal '%s'", path);
    len = rdU32(rec);
    if ((size_t)n < sizeof(rec) || len > JOURNAL_EVENT_MAX || *off + sizeof(rec) + len > size ||
        (rec[4] & ~JOURNAL_BOUNDARY) != 0)
        return 0;
    bufClear(buf);
    if ((n = fsPreadAll(fd, bufReserve(buf, len + 1), len, (off_t)(*off + sizeof(rec)))) < 0)
        return errSetSys(err, ERR_IO, errno, "unable to read the semi-sync journal '%s'", path);
    if ((size_t)n < len)
        return 0;
    buf->len = len;
    crc = cryptoCrc32(cryptoCrc32(0, rec + 4, 1), buf->data, len);
    if ((uint32_t)crc != rdU32(rec + 5))
        return 0;
    *boundary = (rec[4] & JOURNAL_BOUNDARY) != 0;
    *off += sizeof(rec) + len;
    return 1;
}

static int
journalHead(int fd, const char *path, SpoolJournalHead *head, uint64_t *off, Err *err) {
    uint8_t hdr[JOURNAL_MAGIC_LEN + 8];
    char json[JOURNAL_HEAD_MAX + 1];
    uint32_t len;
    JsonValue *j;
    const char *str;
    uint64_t u;

    if (fsPreadAll(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) || memcmp(hdr, JOURNAL_MAGIC, JOURNAL_MAGIC_LEN) != 0)
        return errSet(err, ERR_FORMAT, "semi-sync journal '%s' has no valid head", path);
    len = rdU32(hdr + JOURNAL_MAGIC_LEN);
    if (len == 0 || len > JOURNAL_HEAD_MAX || fsPreadAll(fd, json, len, sizeof(hdr)) != (ssize_t)len ||
        cryptoCrc32(0, json, len) != rdU32(hdr + JOURNAL_MAGIC_LEN + 4))
        return errSet(err, ERR_FORMAT, "semi-sync journal '%s' has no valid head", path);
    json[len] = '\0';
    if ((j = jsonParse(json, len, err)) == NULL)
        return errPrefix(err, "semi-sync journal '%s'", path);
    memset(head, 0, sizeof(*head));
    if (jsonReqU64(j, "seq", &head->seq, err) != 0 || jsonReqU64(j, "pos", &head->pos, err) != 0 ||
        jsonReqU64(j, "server_id", &u, err) != 0 || jsonReqStr(j, "file", &str, err) != 0 ||
        strlen(str) >= sizeof(head->file)) {
        jsonFree(j);
        err->code = ERR_FORMAT;
        return errPrefix(err, "semi-sync journal '%s'", path);
    }
    head->serverId = (uint32_t)u;
    snprintf(head->file, sizeof(head->file), "%s", str);
    str = jsonStr(jsonGet(j, "server_uuid"), NULL);
    snprintf(head->serverUuid, sizeof(head->serverUuid), "%s", str ? str : "");
    str = jsonStr(jsonGet(j, "flavour"), NULL);
    head->flavour = str && strcmp(str, "mysql") == 0 ? BINLOG_FLAVOUR_MYSQL : BINLOG_FLAVOUR_MARIADB;
    jsonFree(j);
    *off = sizeof(hdr) + len;
    return 0;
}

int
spoolJournalReadHead(Spool *s, uint64_t seq, SpoolJournalHead *head, Err *err) {
    char path[4096];
    uint64_t off;
    int fd, rc;

    journalPath(s, seq, path, sizeof(path));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errSetSys(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "unable to open '%s'", path);
    rc = journalHead(fd, path, head, &off, err);
    close(fd);
    return rc;
}

int
spoolJournalReplay(Spool *s, uint64_t seq, SpoolJournalHead *head, SpoolJournalFn *fn, void *data, uint64_t *events,
                   Err *err) {
    char path[4096];
    int fd, rc = -1, r;
    struct stat st;
    uint64_t off, start, validEnd, n = 0;
    Buf *buf = bufNew(64 * 1024);
    bool boundary;

    *events = 0;
    journalPath(s, seq, path, sizeof(path));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        bufFree(buf);
        return errSetSys(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "unable to open '%s'", path);
    }
    if (fstat(fd, &st) != 0) {
        errSetSys(err, ERR_IO, errno, "unable to stat '%s'", path);
        goto done;
    }
    if (journalHead(fd, path, head, &off, err) != 0)
        goto done;
    /* First pass: where the last whole transaction ends. */
    start = validEnd = off;
    while ((r = journalRecord(fd, path, (uint64_t)st.st_size, &off, buf, &boundary, err)) == 1)
        if (boundary)
            validEnd = off;
    if (r < 0)
        goto done;
    for (off = start; off < validEnd; n++) {
        if ((r = journalRecord(fd, path, validEnd, &off, buf, &boundary, err)) != 1) {
            if (r == 0)
                errSet(err, ERR_IO, "semi-sync journal '%s' changed while it was read", path);
            goto done;
        }
        if (fn(data, buf->data, buf->len, err) != 0)
            goto done;
    }
    *events = n;
    rc = 0;
done:
    close(fd);
    bufFree(buf);
    return rc;
}

int
spoolJournalRemove(Spool *s, uint64_t seq, const char *keepAs, Err *err) {
    char path[4096], dir[4096];

    journalPath(s, seq, path, sizeof(path));
    if (keepAs != NULL) {
        char to[4200];

        snprintf(to, sizeof(to), "%s.%s", path, keepAs);
        if (rename(path, to) != 0 && errno != ENOENT)
            return errSetSys(err, ERR_IO, errno, "unable to rename '%s'", path);
    } else if (unlink(path) != 0 && errno != ENOENT) {
        return errSetSys(err, ERR_IO, errno, "unable to remove '%s'", path);
    }
    snprintf(dir, sizeof(dir), "%s/journal", s->dir);
    return fsSyncDir(dir, err);
}

bool
spoolWaitBelow(Spool *s, atomic_bool *stop) {
    bool waited = false;

    pthread_mutex_lock(&s->lock);
    while (s->maxBytes > 0 && s->readyBytes + s->openBytes >= s->maxBytes && !atomic_load(stop)) {
        struct timespec ts;

        waited = true;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return waited;
}

void
spoolWake(Spool *s) {
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void
spoolClose(Spool *s) {
    if (s == NULL)
        return;
    if (s->lockFd >= 0)
        close(s->lockFd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    bvFree(s->fde);
    bvFree(s->dir);
    bvFree(s);
}
