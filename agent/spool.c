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
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fs.h"
#include "common/json.h"
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
};

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

/* Sizes of what ready/ holds, and removal of half-committed entries (metadata without its
 * segment: the crash came between the two renames). */
static int
scanReady(Spool *s, Err *err) {
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
        struct stat st;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0) {
            snprintf(other, sizeof(other), "%s/%.*s.bvs", dir, (int)(n - 5), de->d_name);
            if (access(other, F_OK) != 0 && unlink(path) != 0) {
                closedir(d);
                return errSetSys(err, ERR_IO, errno, "unable to remove '%s'", path);
            }
        } else if (n > 4 && strcmp(de->d_name + n - 4, ".bvs") == 0 && stat(path, &st) == 0) {
            s->readyBytes += (uint64_t)st.st_size;
            s->readyCount++;
        } else if (strstr(de->d_name, ".tmp") != NULL) {
            unlink(path);
        }
    }
    closedir(d);
    return 0;
}

Spool *
spoolOpen(const char *dir, uint64_t maxBytes, Err *err) {
    Spool *s = bvCalloc(1, sizeof(*s));
    char path[4096];

    s->dir = bvStrdup(dir);
    s->lockFd = -1;
    s->maxBytes = maxBytes;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (fsMkdirP(dir, 0700, err) != 0)
        goto fail;
    pathJoin(s, "lock", path, sizeof(path));
    if ((s->lockFd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
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
    if (clearOpenDir(s, err) != 0 || scanReady(s, err) != 0)
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

    /* 1. metadata, 2. the segment itself, 3. the state: each durable before the next. */
    snprintf(metaPath, sizeof(metaPath), "%s/ready/%016" PRIu64 ".json", s->dir, meta->seq);
    segmentMetaToJson(meta, true, b);
    if (fsWriteFileAtomic(metaPath, b->data, b->len, 0600, err) != 0)
        goto done;
    spoolReadyPath(s, meta->seq, path, sizeof(path));
    if (fsRenameDurable(tmpPath, path, err) != 0)
        goto done;
    if (fde != NULL) {
        char fdePath[4096];

        pathJoin(s, "fde.bin", fdePath, sizeof(fdePath));
        if (fsWriteFileAtomic(fdePath, fde, fdeLen, 0600, err) != 0)
            goto done;
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
    if (fsWriteFileAtomic(path, b->data, b->len, 0600, err) != 0)
        goto done;
    spoolReadyPath(s, meta->seq, path, sizeof(path));
    pthread_mutex_lock(&s->lock);
    if (stat(path, &st) == 0)
        s->readyBytes += (uint64_t)st.st_size;
    s->readyCount++;
    s->openBytes = 0;
    pthread_mutex_unlock(&s->lock);
    rc = 0;
done:
    bufFree(b);
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
        if (fsReadFile(path, 1024 * 1024, &data, &dataLen, err) != 0)
            goto fail;
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

    spoolReadyPath(s, seq, path, sizeof(path));
    if (stat(path, &st) == 0)
        size = (uint64_t)st.st_size;
    if (unlink(path) != 0 && errno != ENOENT)
        return errSetSys(err, ERR_IO, errno, "unable to remove spooled segment '%s'", path);
    snprintf(path, sizeof(path), "%s/ready/%016" PRIu64 ".json", s->dir, seq);
    if (unlink(path) != 0 && errno != ENOENT)
        return errSetSys(err, ERR_IO, errno, "unable to remove '%s'", path);
    pthread_mutex_lock(&s->lock);
    if (size > 0) {
        s->readyBytes -= size < s->readyBytes ? size : s->readyBytes;
        if (s->readyCount > 0)
            s->readyCount--;
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return 0;
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
    bvFree(s->dir);
    bvFree(s);
}
