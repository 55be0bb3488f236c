/*
 * libFuzzer target for timeline records (archive/timeline.h), which come from the store and may be
 * corrupt or hostile. The input is split at NUL bytes into up to 8 record documents: each is
 * parsed (timelineRecordParse), written back and parsed again (the two must agree), and added to a
 * set in order (timelineSetAdd); on the set, the path of every timeline is built and asked where
 * segments of every timeline and seq near the forks lie, and their views are made.
 * Seeds: fuzz/seeds-timeline/ (see docs/FUZZING.md).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive/timeline.h"
#include "common/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RECORDS 8

static void
roundTrip(const TimelineRecord *rec) {
    TimelineRecord back;
    Buf *a = bufNew(256), *b = bufNew(256);
    Err err;

    timelineRecordToJson(rec, a);
    if (timelineRecordParse((const char *)a->data, a->len, &back, &err) != 0)
        abort(); /* what the writer writes, the reader reads */
    timelineRecordToJson(&back, b);
    if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0)
        abort();
    timelineRecordClear(&back);
    bufFree(a);
    bufFree(b);
}

static void
paths(const TimelineSet *set) {
    uint32_t newest = timelineSetNewest(set);
    char text[2048];

    for (size_t i = 0; i < timelineSetDivergedCount(set); i++)
        timelineDescribeDiverged(timelineSetDivergedAt(set, i), text, sizeof(text));
    for (uint32_t tip = 0; tip <= newest + 1; tip++) {
        Err err;
        TimelinePath *p = timelinePathNew(set, tip, &err);

        if (p == NULL) {
            if (tip <= newest)
                abort(); /* every timeline of a set has a path */
            continue;
        }
        for (uint32_t t = 1; t <= newest; t++) {
            const TimelineRecord *rec = timelineSetFind(set, t);
            uint64_t around = rec != NULL && rec->hasFork ? rec->fork.seq : 1;

            for (uint64_t seq = around > 2 ? around - 2 : 1; seq <= around + 2; seq++) {
                SegmentMeta m, v;
                uint64_t cut = 0;

                memset(&m, 0, sizeof(m));
                m.seq = seq;
                m.timeline = t;
                m.startPos = 4;
                m.endPos = rec != NULL && rec->hasFork ? rec->fork.pos + (seq & 1) : 1000;
                m.fdeLen = 19;
                m.contentLen = 19 + m.endPos - 4;
                if (timelinePathSegment(p, &m, &cut) == TIMELINE_OFF)
                    continue;
                timelinePathViewMeta(p, &m, &v);
                if (v.endPos > segmentMetaObjectEndPos(&v))
                    abort(); /* a view never reaches past the object */
                segmentMetaClear(&v);
            }
        }
        timelinePathFree(p);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    TimelineSet *set = timelineSetNew();
    const uint8_t *p = data, *end = data + size;

    for (int i = 0; i < FUZZ_RECORDS && p <= end; i++) {
        const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
        size_t len = nul != NULL ? (size_t)(nul - p) : (size_t)(end - p);
        TimelineRecord rec;
        Err err;

        if (timelineRecordParse((const char *)p, len, &rec, &err) == 0) {
            roundTrip(&rec);
            timelineSetAdd(set, &rec, &err);
            timelineRecordClear(&rec);
        }
        if (nul == NULL)
            break;
        p = nul + 1;
    }
    paths(set);
    timelineSetFree(set);
    return 0;
}
