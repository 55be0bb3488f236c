/*
 * What a finished recovery plan says (recover/plan.h): its JSON, its bytes before a position, its
 * segments one at a time, and the archive's windows for refusals. Over a range (range mode) the
 * segments are read a block at a time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/summary.h"
#include "binlog/gtid.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/time.h"
#include "recover/plan.h"
#include "recover/plan_internal.h"

/* recoverPlanToJson() hands what it wrote to its flush function past this many bytes. */
#define PLAN_JSON_FLUSH (64 * 1024)

const RecoverPlanInfo *
recoverPlanInfo(const RecoverPlan *p) {
    return &p->info;
}

static void
putKey(Buf *out, const char *key, const char *value) {
    jsonBufPrintf(out, ",\"%s\":", key);
    jsonBufString(out, value ? value : "", value ? strlen(value) : 0);
}

/* One entry of the plan's "objects", handed to `flush` past PLAN_JSON_FLUSH bytes. */
static int
objectJson(const SegmentMeta *m, bool first, Buf *out, RecoverJsonFlush flush, void *data, Err *err) {
    jsonBufPrintf(out, "%s{\"seq\":%" PRIu64 ",\"name\":", first ? "" : ",", m->seq);
    jsonBufString(out, m->name, strlen(m->name));
    jsonBufPrintf(out, ",\"size\":%" PRIu64 ",\"transactions\":%" PRIu64 "}", m->size, m->transactions);
    if (flush != NULL && out->len >= PLAN_JSON_FLUSH && flush(data, out, err) != 0)
        return -1;
    return 0;
}

/* A dry run's "objects" over a range: each block read once, listed, then verified (p->verify), so
 * that recoverPlanVerify() reads nothing again. */
static int
objectsVerified(const RecoverPlan *p, Buf *out, RecoverJsonFlush flush, void *data, Err *err) {
    const RecoverPlanInfo *in = &p->info;
    PlanVerify *pv = p->verify;
    uint64_t seq = in->firstSeq;
    bool first = true;

    bvFree(pv->firstProblem);
    *pv = (PlanVerify){.a = pv->a, .progress = pv->progress, .data = pv->data, .total = in->segments};
    while (seq <= in->lastSeq) {
        const ArchiveCatalog *c;
        size_t i0, i1;
        int got = recoverRangeBlockPart(p->range, &seq, in->lastSeq, &c, &i0, &i1, err);

        if (got < 0)
            return -1;
        if (got == 0)
            continue;
        for (size_t i = i0; i <= i1; i++, first = false)
            if (objectJson(archiveCatalogAt(c, i), first, out, flush, data, err) != 0)
                return -1;
        planVerifyBlock(pv, c, i0, i1);
    }
    pv->walked = true;
    jsonBufPrintf(out, "]}");
    return 0;
}

int
recoverPlanToJson(const RecoverPlan *p, Buf *out, RecoverJsonFlush flush, void *data, Err *err) {
    static const char *const kinds[] = {"none", "time", "gtid", "position", "end"};
    const RecoverPlanInfo *in = &p->info;
    char when[48];

    jsonBufPrintf(out, "{\"flavour\":\"%s\"", p->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
    putKey(out, "start", p->start);
    putKey(out, "until", p->until);
    jsonBufPrintf(out, ",\"target\":{\"kind\":\"%s\",\"exclusive\":%s", kinds[p->target.kind],
                  p->target.exclusive ? "true" : "false");
    if (p->target.kind == RECOVER_UNTIL_TIME) {
        timeFormatUtc(p->target.timeUs, true, when, sizeof(when));
        jsonBufPrintf(out, ",\"time_us\":%" PRIu64, p->target.timeUs);
        putKey(out, "time", when);
        jsonBufPrintf(out, ",\"allow_time_disorder\":%s", p->target.allowTimeDisorder ? "true" : "false");
    } else if (p->target.kind == RECOVER_UNTIL_GTID) {
        putKey(out, "gtid", p->target.gtid);
    } else if (p->target.kind == RECOVER_UNTIL_POSITION) {
        putKey(out, "file", p->target.file);
        jsonBufPrintf(out, ",\"pos\":%" PRIu64, p->target.pos);
    }
    jsonBufPrintf(out, "},\"segments\":%zu,\"bytes\":%" PRIu64 ",\"content_bytes\":%" PRIu64 ",\"transactions\":%" PRIu64,
                  in->segments, in->bytes, in->contentBytes, in->transactions);
    jsonBufPrintf(out, ",\"first\":{\"gtid\":");
    jsonBufString(out, in->firstGtid, strlen(in->firstGtid));
    jsonBufPrintf(out, ",\"time_us\":%" PRIu64, in->firstTimeUs);
    putKey(out, "file", in->firstFile);
    jsonBufPrintf(out, ",\"pos\":%" PRIu64 "},\"last\":{\"gtid\":", in->firstPos);
    jsonBufString(out, in->lastGtid, strlen(in->lastGtid));
    jsonBufPrintf(out, ",\"time_us\":%" PRIu64, in->lastTimeUs);
    putKey(out, "file", in->lastFile);
    jsonBufPrintf(out, ",\"end_pos\":%" PRIu64 "}", in->lastEndPos);
    if (p->scanTime) {
        jsonBufPrintf(out, ",\"time_order\":{\"cut\":{\"gtid\":");
        jsonBufString(out, p->cutGtid, strlen(p->cutGtid));
        jsonBufPrintf(out, ",\"time_us\":%" PRIu64 "},\"backwards\":%" PRIu64 ",\"ambiguous\":%" PRIu64 ",\"notes\":[",
                      p->cutTimeUs, p->backwards, p->ambiguous);
        for (size_t i = 0; i < p->notes; i++) {
            const RecoverTimeNote *n = &p->note[i];

            jsonBufPrintf(out, "%s{\"gtid\":", i ? "," : "");
            jsonBufString(out, n->gtid, strlen(n->gtid));
            putKey(out, "file", n->file);
            jsonBufPrintf(out, ",\"pos\":%" PRIu64 ",\"time_us\":%" PRIu64 ",\"prior_time_us\":%" PRIu64
                               ",\"after_cut\":%s}",
                          n->pos, n->timeUs, n->priorUs, n->afterCut ? "true" : "false");
        }
        jsonBufPrintf(out, "]}");
    }
    jsonBufPrintf(out, ",\"objects\":[");
    if (p->range != NULL && p->verify != NULL && in->segments > 0)
        return objectsVerified(p, out, flush, data, err);
    for (size_t i = 0; i < in->segments; i++) {
        const SegmentMeta *m = planSegAt(p, in->first + i);

        if (m == NULL)
            return planReadFailed(p, err);
        if (objectJson(m, i == 0, out, flush, data, err) != 0)
            return -1;
    }
    jsonBufPrintf(out, "]}");
    return 0;
}

const ArchiveCatalog *
recoverPlanCatalog(const RecoverPlan *p) {
    return p->c;
}

RecoverRange *
recoverPlanRange(const RecoverPlan *p) {
    return p->range;
}

int
recoverPlanSegment(const RecoverPlan *p, size_t idx, SegmentMeta *out, Err *err) {
    const SegmentMeta *m = idx < p->n ? planSegAt(p, idx) : NULL;

    if (m == NULL)
        return p->read->failed ? planReadFailed(p, err) : 0;
    segmentMetaClear(out);
    segmentMetaCopy(out, m);
    return 1;
}

bool
recoverServerIdsHas(const RecoverServerIds *s, uint32_t id) {
    for (size_t i = 0; i < s->n; i++)
        if (s->ids[i] == id)
            return true;
    return false;
}

void
recoverServerIdsAdd(RecoverServerIds *s, uint32_t id) {
    if (recoverServerIdsHas(s, id))
        return;
    s->ids = bvRealloc(s->ids, (s->n + 1) * sizeof(*s->ids));
    s->ids[s->n++] = id;
}

void
recoverServerIdsAddState(RecoverServerIds *s, const char *state) {
    MariaGtidPos *pos = mariaGtidPosNew();
    Err ignored;

    if (mariaGtidPosParse(pos, state, &ignored) == 0)
        for (size_t i = 0; i < mariaGtidPosCount(pos); i++) {
            MariaGtid g;

            mariaGtidPosAt(pos, i, &g);
            recoverServerIdsAdd(s, g.server);
        }
    mariaGtidPosFree(pos);
}

void
recoverServerIdsAddSegment(RecoverServerIds *s, const SegmentMeta *m) {
    recoverServerIdsAdd(s, m->serverId);
    recoverServerIdsAddState(s, segmentMetaGtidStart(m));
    recoverServerIdsAddState(s, segmentMetaGtidEnd(m));
    recoverServerIdsAddState(s, m->firstGtid);
    recoverServerIdsAddState(s, m->lastGtid);
}

const RecoverServerIds *
recoverPlanServerIds(const RecoverPlan *p) {
    return p->haveIds ? &p->ids : NULL;
}

size_t
recoverPlanBlocksHeld(const RecoverPlan *p) {
    size_t held = 0;

    if (p->range != NULL)
        recoverRangeStats(p->range, &held, NULL);
    return held;
}

bool
recoverPlanFinished(const RecoverPlan *p) {
    return p->finished;
}

/* recoverPlanBytes() of segments from..to: *total grows by what each applies before file:pos;
 * true once a segment reaches file:pos (what follows is after it). */
static bool
bytesBefore(const RecoverPlan *p, size_t from, size_t to, const char *file, uint64_t pos, uint64_t *total) {
    for (size_t i = from; i <= to; i++) {
        const SegmentMeta *m = planSegAt(p, i);
        uint64_t a, b;
        int cmp;

        if (m == NULL)
            return true; /* a block that cannot be read now: what is counted so far */
        planSegmentApplied(p, m, i, &a, &b);
        if (file != NULL) {
            cmp = segmentFileCompare(m->file, file);
            if (cmp > 0 || (cmp == 0 && pos <= a))
                return true;
            if (cmp == 0 && pos < b)
                b = pos;
        }
        *total += b - a;
    }
    return false;
}

uint64_t
recoverPlanBytes(const RecoverPlan *p, const char *file, uint64_t pos) {
    const RecoverPlanInfo *in = &p->info;
    uint64_t total = 0;
    size_t from = in->first;

    if (in->segments == 0 || (file != NULL && file[0] == '\0'))
        return 0;
    if (p->range == NULL || p->nblocks == 0) {
        /* A dry run's plan kept no per-block bytes: its range read. */
        bytesBefore(p, in->first, in->last, file, pos, &total);
        return total;
    }
    /* Whole blocks before file:pos from what the plan kept of them; the block holding it read. */
    for (size_t b = 0; b < p->nblocks; b++) {
        const PlanBlock *blk = &p->blocks[b];
        int cmp = file != NULL ? segmentFileCompare(blk->lastFile, file) : -1;
        size_t lastIdx;

        recoverRangeIndexOf(p->range, blk->lastSeq, &lastIdx); /* a streamed seq: on the path */
        if (cmp < 0 || (cmp == 0 && blk->lastTo <= pos)) {
            total += blk->binlog;
            from = lastIdx + 1;
            continue;
        }
        /* Polled by the applier's progress: a block of one file's contiguous bytes is not read. */
        if (blk->oneFile) {
            total += cmp == 0 && pos > blk->firstFrom ? pos - blk->firstFrom : 0;
            break;
        }
        bytesBefore(p, from, lastIdx, file, pos, &total);
        break;
    }
    return total;
}

void
recoverDescribeWindowList(const ArchiveWindow *w, size_t n, Buf *out) {
    for (size_t i = 0; i < n; i++) {
        char t1[48], t2[48];

        timeFormatUtc(w[i].firstTimeUs, true, t1, sizeof(t1));
        timeFormatUtc(w[i].lastTimeUs, true, t2, sizeof(t2));
        jsonBufPrintf(out, "%sseq %" PRIu64 "-%" PRIu64 ": %s:%" PRIu64 " (gtid state '%s') .. %s:%" PRIu64
                           " (gtid state '%s'), transactions %s (%s) .. %s (%s)\n",
                      n > 1 && i + 1 == n ? "restorable window " : n > 1 ? "older window " : "restorable window ",
                      w[i].from->seq, w[i].to->seq, w[i].from->file, w[i].from->startPos, segmentMetaGtidStart(w[i].from),
                      w[i].to->file, w[i].to->endPos, segmentMetaGtidEnd(w[i].to),
                      w[i].firstGtid[0] ? w[i].firstGtid : "-", t1, w[i].lastGtid[0] ? w[i].lastGtid : "-", t2);
    }
}

void
recoverDescribeWindows(const ArchiveCatalog *c, Buf *out) {
    ArchiveWindow *w;
    size_t n = archiveCatalogWindows(c, &w);

    recoverDescribeWindowList(w, n, out);
    bvFree(w);
}
