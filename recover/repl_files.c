/*
 * A ReplServerSource over binlog files on disk (see replFileSourceNew() in replserver.h), read
 * with the streaming reader, every checksum verified; used by `binvault serve-binlogs`.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "binlog/event.h"
#include "binlog/gtid.h"
#include "binlog/reader.h"
#include "common/err.h"
#include "common/mem.h"
#include "recover/replserver.h"

#define FILE_SOURCE_CHUNK (256 * 1024)

struct ReplFileSource {
    char **paths;
    size_t count;
    size_t index; /* file being read */
    int fd;
    BinlogReader *reader;
    char name[256];
};

ReplFileSource *
replFileSourceNew(const char *const *paths, size_t count) {
    ReplFileSource *fs = bvCalloc(1, sizeof(*fs));

    fs->paths = bvCalloc(count ? count : 1, sizeof(char *));
    for (size_t i = 0; i < count; i++)
        fs->paths[i] = bvStrdup(paths[i]);
    fs->count = count;
    fs->fd = -1;
    return fs;
}

static void
fileSourceClose(ReplFileSource *fs) {
    if (fs->fd >= 0)
        close(fs->fd);
    fs->fd = -1;
    binlogReaderFree(fs->reader);
    fs->reader = NULL;
}

/* The binlog state at the start of a file: its GTID_LIST (the event after the FDE), NULL when it
 * has none (a binlog without GTIDs). */
static int
fileStartState(const char *path, MariaGtidPos **out, Err *err) {
    BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, BINLOG_DEFAULT_MAX_EVENT);
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1, events = 0;

    *out = NULL;
    if (fd < 0) {
        errSetSys(err, ERR_IO, errno, "unable to open '%s'", path);
        goto done;
    }
    /* The FDE and the GTID_LIST are small: a few reads at most. */
    while (events < 2) {
        BinlogEvent ev;
        int got = binlogReaderNext(r, &ev, err);

        if (got < 0) {
            errPrefix(err, "'%s'", path);
            goto done;
        }
        if (got == 1) {
            events++;
            if (ev.h.type == BINLOG_MARIA_GTID_LIST) {
                MariaGtid *list = NULL;
                size_t n = 0;
                uint32_t flags;

                if (mariaGtidListDecode(ev.body, ev.bodyLen, &list, &n, &flags, err) != 0) {
                    errPrefix(err, "'%s'", path);
                    goto done;
                }
                *out = mariaGtidPosFromList(list, n);
                bvFree(list);
                break;
            }
            continue;
        }
        {
            size_t avail;
            uint8_t *space = binlogReaderSpace(r, 64 * 1024, &avail);
            ssize_t n;

            do {
                n = read(fd, space, avail);
            } while (n < 0 && errno == EINTR);
            if (n < 0) {
                errSetSys(err, ERR_IO, errno, "unable to read '%s'", path);
                goto done;
            }
            if (n == 0)
                break;
            binlogReaderCommit(r, (size_t)n);
        }
    }
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    binlogReaderFree(r);
    return rc;
}

/* Like a MariaDB primary (gtid_find_binlog_file), start at the newest file whose starting state
 * the replica already has: every group before it is applied, and the first ROTATE names the file
 * the replica was reading when it reconnects in the middle of a group (a different name makes it
 * roll back the partial group as after a primary crash). */
static int
fileSourceOpen(void *data, const MariaGtidPos *from, Err *err) {
    ReplFileSource *fs = data;

    fileSourceClose(fs);
    fs->index = 0;
    for (size_t i = fs->count; i-- > 1;) {
        MariaGtidPos *start;
        bool contained;

        if (fileStartState(fs->paths[i], &start, err) != 0)
            return -1;
        contained = start != NULL && from != NULL && mariaGtidPosReached(from, start);
        mariaGtidPosFree(start);
        if (contained) {
            fs->index = i;
            break;
        }
    }
    return 0;
}

static int
fileSourceNext(void *data, const uint8_t **event, size_t *len, Err *err) {
    ReplFileSource *fs = data;

    for (;;) {
        BinlogEvent ev;
        uint8_t *space;
        size_t avail;
        ssize_t n;
        int rc;

        if (fs->fd < 0) {
            const char *path, *slash;

            if (fs->index >= fs->count)
                return 0;
            path = fs->paths[fs->index];
            fs->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fs->fd < 0)
                return errSetSys(err, ERR_IO, errno, "unable to open '%s'", path);
            fs->reader = binlogReaderNew(BINLOG_READER_FILE, BINLOG_DEFAULT_MAX_EVENT);
            slash = strrchr(path, '/');
            snprintf(fs->name, sizeof(fs->name), "%s", slash ? slash + 1 : path);
        }
        rc = binlogReaderNext(fs->reader, &ev, err);
        if (rc < 0)
            return errPrefix(err, "'%s'", fs->paths[fs->index]);
        if (rc == 1) {
            *event = ev.data;
            *len = ev.h.size;
            return 1;
        }
        space = binlogReaderSpace(fs->reader, FILE_SOURCE_CHUNK, &avail);
        do {
            n = read(fs->fd, space, avail);
        } while (n < 0 && errno == EINTR);
        if (n < 0)
            return errSetSys(err, ERR_IO, errno, "unable to read '%s'", fs->paths[fs->index]);
        if (n > 0) {
            binlogReaderCommit(fs->reader, (size_t)n);
            continue;
        }
        if (binlogReaderPending(fs->reader) > 0)
            return errSet(err, ERR_FORMAT, "'%s' is truncated: it ends inside an event at offset %" PRIu64,
                          fs->paths[fs->index], binlogReaderOffset(fs->reader));
        fileSourceClose(fs);
        fs->index++;
    }
}

static const char *
fileSourceFile(void *data) {
    return ((ReplFileSource *)data)->name;
}

ReplServerSource
replFileSourceInterface(ReplFileSource *fs) {
    ReplServerSource s = {fs, fileSourceOpen, fileSourceNext, fileSourceFile};

    return s;
}

void
replFileSourceFree(ReplFileSource *fs) {
    if (fs == NULL)
        return;
    fileSourceClose(fs);
    for (size_t i = 0; i < fs->count; i++)
        bvFree(fs->paths[i]);
    bvFree(fs->paths);
    bvFree(fs);
}
