/* Index chunks: names, parsing, writing, indexing discovered segments, and compaction. */
#include "archive/index.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/internal.h"
#include "common/mem.h"

void
archiveChunkName(uint64_t first, uint64_t last, char *out, size_t size) {
    snprintf(out, size, "index/%016" PRIu64 "-%016" PRIu64 ".bvi", first, last);
}

int
archiveRangeNameParse(const char *name, const char *prefix, const char *suffix, uint64_t *first, uint64_t *last) {
    size_t p = strlen(prefix);

    /* prefix + 16 digits + '-' + 16 digits + suffix */
    if (strlen(name) != p + 16 + 1 + 16 + strlen(suffix) || strncmp(name, prefix, p) != 0 || name[p + 16] != '-' ||
        strcmp(name + p + 33, suffix) != 0)
        return -1;
    if (!archiveDigits(name + p, 16, first) || !archiveDigits(name + p + 17, 16, last) || *first == 0 || *last < *first)
        return -1;
    return 0;
}

int
archiveChunkNameParse(const char *name, uint64_t *first, uint64_t *last) {
    return archiveRangeNameParse(name, ARCHIVE_INDEX_PREFIX, ".bvi", first, last);
}

int
archiveChunkParse(const uint8_t *data, size_t len, uint64_t first, uint64_t last, SegmentMeta **metas, size_t *n,
                  Err *err) {
    size_t cap = 0, line = 0, pos = 0;
    SegmentMeta *out = NULL;
    uint64_t expect = first;

    *n = 0;
    if (first == 0 || last < first || last == UINT64_MAX)
        return errSet(err, ERR_FORMAT, "seqs %" PRIu64 "-%" PRIu64 " are not a chunk's range", first, last);
    while (pos < len) {
        const uint8_t *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;

        line++;
        if (expect > last) {
            errSet(err, ERR_FORMAT, "line %zu: more lines than seqs %" PRIu64 "-%" PRIu64, line, first, last);
            goto fail;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            out = bvRealloc(out, cap * sizeof(*out));
        }
        if (segmentMetaFromJson((const char *)data + pos, end - pos, true, &out[*n], err) != 0) {
            errPrefix(err, "line %zu", line);
            goto fail;
        }
        (*n)++;
        if (out[*n - 1].seq != expect) {
            errSet(err, ERR_FORMAT, "line %zu: describes seq %" PRIu64 ", expected seq %" PRIu64, line, out[*n - 1].seq,
                   expect);
            goto fail;
        }
        expect++;
        pos = end + 1;
    }
    if (expect != last + 1) {
        errSet(err, ERR_FORMAT, "holds %zu lines, its name says seqs %" PRIu64 "-%" PRIu64, line, first, last);
        goto fail;
    }
    *metas = out;
    return 0;
fail:
    for (size_t i = 0; i < *n; i++)
        segmentMetaClear(&out[i]);
    bvFree(out);
    *n = 0;
    return -1;
}

/* One chunk of segments of one block. */
static int
indexPutBlock(Archive *a, ArchiveCatalog *c, const SegmentMeta *metas, size_t n, Err *err) {
    char name[64];
    Buf *doc;
    int rc;

    archiveChunkName(metas[0].seq, metas[n - 1].seq, name, sizeof(name));
    doc = bufNew(n * 1024);
    for (size_t i = 0; i < n; i++) {
        segmentMetaToJson(&metas[i], true, doc);
        bufAppend(doc, "\n", 1);
    }
    rc = storagePutBuf(a->storage, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    bufFree(doc);
    if (rc != 0 || c == NULL)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (archiveCatalogAdd(c, &metas[i], true, err) != 0)
            return errPrefix(err, "index chunk '%s'", name);
    archiveCatalogChunkAdd(c, metas[0].seq, metas[n - 1].seq, true);
    return 0;
}

int
archiveIndexPut(Archive *a, ArchiveCatalog *c, const SegmentMeta *metas, size_t n, Err *err) {
    BV_ASSERT(n > 0);
    for (size_t i = 0; i < n; i++) {
        if (metas[i].seq != metas[0].seq + i)
            return errSet(err, ERR_INTERNAL, "index chunk of seqs that do not follow each other (%" PRIu64 " after %" PRIu64 ")",
                          metas[i].seq, metas[0].seq);
        if (metas[i].sha256[0] == '\0' || metas[i].name[0] == '\0')
            return errSet(err, ERR_INTERNAL, "index chunk entry for seq %" PRIu64 " without object name or sha256",
                          metas[i].seq);
    }
    /* No chunk spans two blocks (FORMAT.md "Catalog"): one chunk per block the segments fall in. */
    for (size_t from = 0; from < n;) {
        uint64_t blockLast = archiveBlockLast(archiveBlockOf(metas[from].seq));
        size_t to = from;

        while (to < n && metas[to].seq <= blockLast)
            to++;
        if (indexPutBlock(a, c, metas + from, to - from, err) != 0)
            return -1;
        from = to;
    }
    return 0;
}

int
archiveIndexDiscovered(Archive *a, ArchiveCatalog *c, size_t *indexed, Err *err) {
    size_t done = 0, i = 0;

    while (i < c->count) {
        SegmentMeta *run;
        size_t n = 0, j;
        int rc = 0;

        if (c->entries[i]->indexed) {
            i++;
            continue;
        }
        for (j = i; j < c->count && !c->entries[j]->indexed &&
                    (j == i || c->entries[j]->meta.seq == c->entries[j - 1]->meta.seq + 1);
             j++)
            ;
        run = bvCalloc(j - i, sizeof(*run));
        for (size_t k = i; k < j && rc == 0; k++) {
            segmentMetaCopy(&run[n], &c->entries[k]->meta);
            n++;
            rc = archiveSegmentHash(a, &run[n - 1], err);
        }
        if (rc == 0)
            rc = archiveIndexPut(a, c, run, n, err);
        archiveMetasFree(run, n);
        if (rc != 0)
            return -1;
        done += j - i;
        i = j;
    }
    if (indexed != NULL)
        *indexed = done;
    return 0;
}

static int
chunkByFirst(const void *pa, const void *pb) {
    const CatalogChunk *a = pa, *b = pb;

    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return a->last < b->last ? -1 : a->last > b->last;
}

int
archiveChunkCopyLines(Archive *a, uint64_t first, uint64_t last, uint64_t *expect, Buf *out, Err *err) {
    char name[64];
    uint8_t *data;
    size_t len, pos = 0;
    int rc = 0;

    archiveChunkName(first, last, name, sizeof(name));
    if (storageGetBuf(a->storage, name, ARCHIVE_CHUNK_MAX_BYTES, &data, &len, err) != 0)
        return -1;
    while (pos < len) {
        const uint8_t *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        SegmentMeta m;

        if (segmentMetaFromJson((const char *)data + pos, end - pos, true, &m, err) != 0) {
            rc = errPrefix(err, "index chunk '%s'", name);
            break;
        }
        if (m.seq == *expect) {
            bufAppend(out, data + pos, end - pos);
            bufAppend(out, "\n", 1);
            (*expect)++;
        }
        segmentMetaClear(&m);
        pos = end + 1;
    }
    bvFree(data);
    return rc;
}

/* Write one chunk of seqs first..last from the lines of `group` chunks, copied byte for byte. */
static int
mergeGroup(Archive *a, const CatalogChunk *group, size_t n, Err *err) {
    uint64_t first = group[0].first, last = group[n - 1].last, expect = first;
    char name[64];
    Buf *doc = bufNew(0);
    int rc = 0;

    for (size_t i = 1; i < n; i++)
        if (group[i].last > last)
            last = group[i].last;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = archiveChunkCopyLines(a, group[i].first, group[i].last, &expect, doc, err);
    if (rc == 0 && expect != last + 1)
        rc = errSet(err, ERR_FORMAT, "index chunks of seqs %" PRIu64 "-%" PRIu64 " do not describe seq %" PRIu64, first,
                    last, expect);
    if (rc == 0) {
        archiveChunkName(first, last, name, sizeof(name));
        rc = storagePutBuf(a->storage, name, doc->data, doc->len, STORAGE_PUT_IMMUTABLE, err);
    }
    bufFree(doc);
    return rc;
}

static int
chunkDelete(Archive *a, ArchiveCatalog *c, uint64_t first, uint64_t last, Err *err) {
    char name[64];

    archiveChunkName(first, last, name, sizeof(name));
    if (storageRemove(a->storage, name, err) != 0)
        return -1;
    archiveCatalogChunkRemove(c, first, last);
    return 0;
}

int
archiveIndexMerge(Archive *a, ArchiveCatalog *c, size_t *written, size_t *removed, Err *err) {
    CatalogChunk *used;
    size_t nused = 0, nwritten = 0, nremoved = 0, i = 0;
    int rc = 0;

    /* Chunks wholly covered by wider ones: their content is in the wider chunk already. */
    for (size_t k = 0; k < c->chunkCount;) {
        if (!c->chunks[k].used) {
            if (chunkDelete(a, c, c->chunks[k].first, c->chunks[k].last, err) != 0)
                return -1;
            nremoved++;
            continue;
        }
        k++;
    }
    used = bvCalloc(c->chunkCount + 1, sizeof(*used));
    /* A chunk that reaches into pruned seqs is not merged: the prune replaces and deletes it. */
    for (size_t k = 0; k < c->chunkCount; k++)
        if (c->chunks[k].first >= c->firstSeq)
            used[nused++] = c->chunks[k];
    if (nused > 1)
        qsort(used, nused, sizeof(*used), chunkByFirst);
    while (i < nused && rc == 0) {
        size_t j = i + 1;
        uint64_t last = used[i].last;

        if (used[i].last - used[i].first + 1 >= ARCHIVE_CHUNK_TARGET) {
            i++;
            continue;
        }
        /* Within one block: no chunk spans two (FORMAT.md "Catalog"). */
        while (j < nused && used[j].first <= last + 1 && used[j].last - used[j].first + 1 < ARCHIVE_CHUNK_TARGET &&
               archiveBlockOf(used[j].last) == archiveBlockOf(used[i].first) &&
               (used[j].last > last ? used[j].last : last) - used[i].first + 1 <= ARCHIVE_CHUNK_TARGET) {
            if (used[j].last > last)
                last = used[j].last;
            j++;
        }
        if (j - i >= 2) {
            /* The wide chunk first, then the narrow ones go: coverage never has a hole. */
            rc = mergeGroup(a, used + i, j - i, err);
            if (rc == 0) {
                archiveCatalogChunkAdd(c, used[i].first, last, true);
                nwritten++;
                for (size_t k = i; k < j && rc == 0; k++) {
                    rc = chunkDelete(a, c, used[k].first, used[k].last, err);
                    nremoved += rc == 0;
                }
            }
        }
        i = j;
    }
    bvFree(used);
    if (written != NULL)
        *written = nwritten;
    if (removed != NULL)
        *removed = nremoved;
    return rc;
}
