/*
 * Reading the stream of a base backup (archiveBackupExtract(), archive/backup_store.h): parts.bvi
 * read a line at a time and checked against the manifest, each part read through every layer in
 * order. A long-lived thread fetches the next part into memory while the current one is written
 * (when parts are at most PREFETCH_PART_MAX bytes of stream: memory stays at two stored parts),
 * so that the store's latency and the writing overlap.
 */
#include "archive/backup_store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "archive/backup_internal.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/mem.h"

#define READ_CHUNK (64 * 1024)
/* Parts of more stream bytes than this (on average) are not fetched ahead. */
#define PREFETCH_PART_MAX (64ULL * 1024 * 1024)
/* The largest stored part read into memory: lz4's worst case for PREFETCH_PART_MAX, the trailer. */
#define PREFETCH_OBJECT_MAX (PREFETCH_PART_MAX + PREFETCH_PART_MAX / 255 + 1024 * 1024 + 64 * 1024)

/* ---- the stream of a backup ------------------------------------------------------------------ */

typedef struct StoredPart {
    Storage *storage;
    const char *name;
} StoredPart;

static IoRead *
openPart(void *data, uint64_t offset, uint64_t length, Err *err) {
    StoredPart *o = data;

    return storageOpenRead(o->storage, o->name, offset, length, err);
}

/* A SegmentOpenFn over a part held in memory. */
typedef struct MemPart {
    const uint8_t *data;
    size_t len;
} MemPart;

static IoRead *
openMem(void *data, uint64_t offset, uint64_t length, Err *err) {
    MemPart *m = data;

    if (offset > m->len || length > m->len - offset) {
        errSet(err, ERR_FORMAT, "range %" PRIu64 "+%" PRIu64 " is past the end of the %zu-byte object", offset, length,
               m->len);
        return NULL;
    }
    return ioReadMemNew(m->data + offset, (size_t)length);
}

/* Read one part through every layer, reading its object through `open` (the store, or memory), its
 * content to fd (-1: nowhere). Messages are not prefixed. */
static int
extractPart(const char *id, const ArchiveBackupPart *want, SegmentOpenFn *open, void *openData, int fd, uint64_t *done,
            ArchiveBackupProgressFn progress, void *ctx, uint64_t total, Err *err) {
    ArchiveBackupPart got;
    uint8_t *raw = NULL, *buf = NULL, magic[SEGMENT_MAGIC_LEN], digest[CRYPTO_HASH_MAX_LEN];
    char hex[CRYPTO_HASH_HEX_MAX];
    size_t rawLen;
    IoRead *object = NULL, *frame = NULL;
    CryptoHash *content = NULL;
    uint64_t contentBytes = 0;
    ssize_t n;
    int rc = -1;

    if (segmentContainerReadTrailer(&archiveBackupPartContainer, open, openData, want->size, &raw, &rawLen, err) != 0)
        return -1;
    if (archiveBackupPartParse(id, (const char *)raw, rawLen - SEGMENT_TAIL_LEN, false, &got, err) != 0) {
        errPrefix(err, "trailer");
        goto out;
    }
    if (got.part != want->part || got.offset != want->offset || got.contentLen != want->contentLen ||
        strcmp(got.contentSha256, want->contentSha256) != 0) {
        errSet(err, ERR_FORMAT, "trailer: describes part %" PRIu32 " at offset %" PRIu64 " (%" PRIu64
                                " bytes), parts.bvi another",
               got.part, got.offset, got.contentLen);
        goto out;
    }
    if ((object = open(openData, 0, want->size, err)) == NULL)
        goto out;
    object = ioReadHashNew(object, CRYPTO_HASH_SHA256);
    if ((n = ioReadFull(object, magic, sizeof(magic), err)) < 0)
        goto out;
    if ((size_t)n != sizeof(magic)) {
        errSet(err, ERR_FORMAT, "object: ended inside the magic");
        goto out;
    }
    if (segmentContainerCheckMagic(&archiveBackupPartContainer, magic, err) != 0)
        goto out;
    frame = segmentContainerFrame(object, want->size - SEGMENT_MAGIC_LEN - rawLen);
    content = cryptoHashNew(CRYPTO_HASH_SHA256);
    buf = bvMalloc(READ_CHUNK);
    while ((n = ioRead(frame, buf, READ_CHUNK, err)) > 0) {
        contentBytes += (uint64_t)n;
        if (contentBytes > want->contentLen) {
            errSet(err, ERR_FORMAT, "content: longer than the %" PRIu64 " bytes parts.bvi declares", want->contentLen);
            goto out;
        }
        cryptoHashUpdate(content, buf, (size_t)n);
        if (fd >= 0 && fsWriteAll(fd, buf, (size_t)n) != 0) {
            errSetSys(err, ERR_IO, errno, "unable to write the backup's stream");
            goto out;
        }
        *done += (uint64_t)n;
        if (progress != NULL)
            progress(ctx, *done, total);
    }
    if (n < 0) {
        errPrefix(err, "lz4 frame");
        goto out;
    }
    cryptoHashFinal(content, digest, NULL);
    cryptoHexEncode(digest, CRYPTO_SHA256_LEN, hex);
    if (contentBytes != want->contentLen || strcmp(hex, want->contentSha256) != 0) {
        errSet(err, ERR_CHECKSUM, "content: %" PRIu64 " bytes with sha256 %s, parts.bvi says %" PRIu64 " with sha256 %s",
               contentBytes, hex, want->contentLen, want->contentSha256);
        goto out;
    }
    /* The trailer again, then the end: the object's hash is complete. */
    if ((n = ioReadFull(object, buf, rawLen, err)) < 0)
        goto out;
    if ((size_t)n != rawLen || memcmp(buf, raw, rawLen) != 0) {
        errSet(err, ERR_FORMAT, "trailer: changed between two reads of the object");
        goto out;
    }
    if ((n = ioRead(object, buf, 1, err)) != 0) {
        if (n > 0)
            errSet(err, ERR_FORMAT, "object: bytes after the trailer");
        goto out;
    }
    if (strcmp(ioReadHashHex(object), want->sha256) != 0) {
        errSet(err, ERR_CHECKSUM, "object sha256 mismatch: computed %s, parts.bvi says %s", ioReadHashHex(object),
               want->sha256);
        goto out;
    }
    rc = 0;
out:
    ioReadFree(frame);
    ioReadFree(object);
    cryptoHashFree(content);
    bvFree(buf);
    bvFree(raw);
    return rc;
}

/* Read parts.bvi as its manifest describes it, a line at a time, calling `fn` for each part. */
static int
eachPart(Archive *a, const ArchiveBackup *b, const ArchiveBackupIndexRef *idx,
         int (*fn)(void *data, const ArchiveBackupPart *p, Err *err), void *data, Err *err) {
    IoRead *in = storageOpenRead(archiveStorage(a), idx->name, 0, 0, err);
    Buf *line = bufNew(512);
    uint8_t *buf;
    uint64_t size = 0, offset = 0;
    uint32_t parts = 0;
    ssize_t n;
    int rc = -1;

    if (in == NULL) {
        bufFree(line);
        return -1;
    }
    in = ioReadHashNew(in, CRYPTO_HASH_SHA256);
    buf = bvMalloc(READ_CHUNK);
    while ((n = ioRead(in, buf, READ_CHUNK, err)) > 0) {
        size += (uint64_t)n;
        for (ssize_t i = 0; i < n; i++) {
            ArchiveBackupPart p;

            if (buf[i] != '\n') {
                if (line->len >= 4096) {
                    errSet(err, ERR_FORMAT, "parts.bvi: a line longer than 4096 bytes");
                    goto out;
                }
                bufAppend(line, buf + i, 1);
                continue;
            }
            if (archiveBackupPartParse(b->id, (const char *)line->data, line->len, true, &p, err) != 0) {
                errPrefix(err, "parts.bvi line %" PRIu32, parts + 1);
                goto out;
            }
            bufClear(line);
            if (p.part != parts + 1 || p.offset != offset || p.contentLen > b->streamLen - offset) {
                errSet(err, ERR_FORMAT, "parts.bvi line %" PRIu32 ": part %" PRIu32 " at offset %" PRIu64
                                        " does not continue the parts before it",
                       parts + 1, p.part, p.offset);
                goto out;
            }
            parts++;
            offset += p.contentLen;
            if (fn(data, &p, err) != 0)
                goto out;
        }
    }
    if (n < 0)
        goto out;
    if (line->len != 0 || size != idx->size || strcmp(ioReadHashHex(in), idx->sha256) != 0) {
        errSet(err, ERR_CHECKSUM, "parts.bvi: %" PRIu64 " bytes with sha256 %s, the manifest says %" PRIu64
                                  " bytes with sha256 %s",
               size, ioReadHashHex(in), idx->size, idx->sha256);
        goto out;
    }
    if (parts != b->parts || offset != b->streamLen) {
        errSet(err, ERR_FORMAT, "parts.bvi: %" PRIu32 " parts of %" PRIu64 " bytes, the manifest says %" PRIu32
                                " parts of %" PRIu64 " bytes",
               parts, offset, b->parts, b->streamLen);
        goto out;
    }
    rc = 0;
out:
    bvFree(buf);
    bufFree(line);
    ioReadFree(in);
    return rc;
}

/* ---- the next part, fetched while this one is written -------------------------------------------- */

/* One long-lived thread that fetches one part at a time into memory, asked for by number. */
typedef struct Prefetch {
    Archive *archive;
    const char *id;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint32_t want;  /* asked for, not started; 0: none */
    uint32_t busy;  /* being fetched; 0: none */
    uint32_t have;  /* in buf; 0: none */
    uint8_t *buf;
    size_t len;
    bool stop;
} Prefetch;

static void *
prefetchMain(void *arg) {
    Prefetch *p = arg;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        char name[STORAGE_NAME_MAX];
        uint8_t *data = NULL;
        size_t len = 0;
        uint32_t n;
        Err err = {0};
        int rc;

        while (p->want == 0 && !p->stop)
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stop)
            break;
        n = p->busy = p->want;
        p->want = 0;
        pthread_mutex_unlock(&p->lock);
        archiveBackupPartName(p->id, n, name, sizeof(name));
        /* A failure is not reported here: the part is then read from the store, which says why. */
        rc = storageGetBuf(archiveStorage(p->archive), name, PREFETCH_OBJECT_MAX, &data, &len, &err);
        pthread_mutex_lock(&p->lock);
        p->busy = 0;
        if (rc == 0) {
            bvFree(p->buf);
            p->buf = data;
            p->len = len;
            p->have = n;
        }
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Part n, if it was fetched (1: *buf is the caller's), after the fetch in flight for it ends. */
static int
prefetchTake(Prefetch *p, uint32_t n, uint8_t **buf, size_t *len) {
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    while (p->want == n || p->busy == n)
        pthread_cond_wait(&p->cond, &p->lock);
    if (p->have == n) {
        *buf = p->buf;
        *len = p->len;
        p->buf = NULL;
        p->have = 0;
        rc = 1;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void
prefetchAsk(Prefetch *p, uint32_t n) {
    pthread_mutex_lock(&p->lock);
    p->want = n;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

typedef struct ExtractCtx {
    Archive *a;
    const ArchiveBackup *b;
    int fd;
    uint64_t done;
    ArchiveBackupProgressFn progress;
    void *ctx;
    Prefetch *prefetch; /* NULL: every part streamed from the store */
} ExtractCtx;

static int
extractOne(void *data, const ArchiveBackupPart *p, Err *err) {
    ExtractCtx *x = data;
    StoredPart stored = {archiveStorage(x->a), p->name};
    MemPart mem = {NULL, 0};
    uint8_t *buf = NULL;
    int rc;

    if (x->prefetch != NULL) {
        if (prefetchTake(x->prefetch, p->part, &buf, &mem.len) == 1)
            mem.data = buf;
        if (p->part < x->b->parts)
            prefetchAsk(x->prefetch, p->part + 1);
    }
    if (mem.data != NULL)
        rc = extractPart(x->b->id, p, openMem, &mem, x->fd, &x->done, x->progress, x->ctx, x->b->streamLen, err);
    else
        rc = extractPart(x->b->id, p, openPart, &stored, x->fd, &x->done, x->progress, x->ctx, x->b->streamLen, err);
    bvFree(buf);
    if (rc != 0)
        return errPrefix(err, "backup part '%s'", p->name);
    return 0;
}

int
archiveBackupExtract(Archive *archive, const ArchiveBackup *backup, int fd, ArchiveBackupProgressFn progress,
                     void *ctx, Err *err) {
    ArchiveBackup again;
    ArchiveBackupIndexRef idx;
    ExtractCtx x = {archive, backup, fd, 0, progress, ctx, NULL};
    Prefetch prefetch = {0};
    int rc;

    /* parts.bvi is checked against the manifest as stored, not only as the caller holds it. */
    if (archiveBackupReadManifest(archive, backup->id, &again, &idx, err) != 0)
        return errPrefix(err, "backup '%s'", backup->id);
    bvFree(again.gtidState);
    if (again.parts != backup->parts || again.streamLen != backup->streamLen)
        return errSet(err, ERR_FORMAT, "backup '%s': the manifest changed since it was listed", backup->id);
    /* The next part is fetched while this one is written, when two parts fit in the memory allowed. */
    if (backup->parts > 1 && backup->streamLen / backup->parts <= PREFETCH_PART_MAX) {
        prefetch.archive = archive;
        prefetch.id = backup->id;
        pthread_mutex_init(&prefetch.lock, NULL);
        pthread_cond_init(&prefetch.cond, NULL);
        if (pthread_create(&prefetch.thread, NULL, prefetchMain, &prefetch) == 0) {
            pthread_setname_np(prefetch.thread, "bv-prefetch");
            x.prefetch = &prefetch;
            prefetchAsk(&prefetch, 1);
        }
    }
    rc = eachPart(archive, backup, &idx, extractOne, &x, err);
    if (x.prefetch != NULL) {
        pthread_mutex_lock(&prefetch.lock);
        prefetch.stop = true;
        pthread_cond_broadcast(&prefetch.cond);
        pthread_mutex_unlock(&prefetch.lock);
        pthread_join(prefetch.thread, NULL);
        bvFree(prefetch.buf);
    }
    if (prefetch.archive != NULL) {
        pthread_cond_destroy(&prefetch.cond);
        pthread_mutex_destroy(&prefetch.lock);
    }
    if (rc != 0)
        return errPrefix(err, "backup '%s'", backup->id);
    return 0;
}

