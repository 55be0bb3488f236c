/* Catalog summaries: block arithmetic, a block's span from its index lines, span lines and level-1
 * documents (names, JSON, parsing). */
#include "archive/summary.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "archive/continuity.h"
#include "archive/internal.h"
#include "common/mem.h"

uint64_t
archiveBlockOf(uint64_t seq) {
    BV_ASSERT(seq >= 1);
    return (seq - 1) / ARCHIVE_BLOCK_SEGMENTS;
}

uint64_t
archiveBlockFirst(uint64_t block) {
    return block * ARCHIVE_BLOCK_SEGMENTS + 1;
}

uint64_t
archiveBlockLast(uint64_t block) {
    return (block + 1) * ARCHIVE_BLOCK_SEGMENTS;
}

/* The strings of a span, in the order spanPack() lays them out. */
enum { SPAN_START_FILE, SPAN_END_FILE, SPAN_GTID_START, SPAN_GTID_END, SPAN_FIRST_GTID, SPAN_LAST_GTID, SPAN_STRINGS };

/* Point the span's strings and breaks into one new allocation holding copies of `str` and of the
 * first min(nbreaks, ARCHIVE_SPAN_BREAKS_MAX) `breaks`: the breaks first (malloc's alignment), then
 * each string at its length. An end file equal to the start file (the usual case: 1024 segments
 * of a few seconds) is stored once. */
static void
spanPack(ArchiveSpan *s, const char *const str[SPAN_STRINGS], const ArchiveSpanBreak *breaks, size_t nbreaks) {
    size_t lens[SPAN_STRINGS], total, at;
    const char **dst[SPAN_STRINGS] = {&s->startFile, &s->endFile, &s->gtidStart, &s->gtidEnd, &s->firstGtid, &s->lastGtid};
    char *mem;

    nbreaks = nbreaks < ARCHIVE_SPAN_BREAKS_MAX ? nbreaks : ARCHIVE_SPAN_BREAKS_MAX;
    total = nbreaks * sizeof(*breaks);
    for (size_t i = 0; i < SPAN_STRINGS; i++) {
        lens[i] = strlen(str[i]) + 1;
        if (i != SPAN_END_FILE || strcmp(str[i], str[SPAN_START_FILE]) != 0)
            total += lens[i];
    }
    mem = bvMalloc(total);
    s->breaks = NULL;
    if (nbreaks > 0) {
        memcpy(mem, breaks, nbreaks * sizeof(*breaks));
        s->breaks = (const ArchiveSpanBreak *)(void *)mem;
    }
    at = nbreaks * sizeof(*breaks);
    for (size_t i = 0; i < SPAN_STRINGS; i++) {
        if (i == SPAN_END_FILE && strcmp(str[i], str[SPAN_START_FILE]) == 0) {
            *dst[i] = s->startFile;
            continue;
        }
        memcpy(mem + at, str[i], lens[i]);
        *dst[i] = mem + at;
        at += lens[i];
    }
    s->mem = mem;
}

/* The breaks among `before` and metas, by continuity.h's rules (a catalog of just them). */
static void
spanBreaks(const SegmentMeta *before, const SegmentMeta *metas, size_t n, ArchiveSpan *span,
           ArchiveSpanBreak breaks[ARCHIVE_SPAN_BREAKS_MAX]) {
    ArchiveCatalog *c = archiveCatalogNew();
    ArchiveGap *gaps = NULL;
    size_t ngaps;
    Err err;

    c->firstSeq = before != NULL ? before->seq : metas[0].seq;
    if (before != NULL && archiveCatalogAdd(c, before, true, &err) != 0)
        BV_ASSERT(!"a fresh catalog refuses a segment");
    for (size_t i = 0; i < n; i++)
        if (archiveCatalogAdd(c, &metas[i], true, &err) != 0)
            BV_ASSERT(!"a block's seqs repeat");
    ngaps = archiveCatalogGaps(c, &gaps);
    for (size_t i = 0; i < ngaps; i++) {
        /* A pair that breaks several rules is one break here. */
        if (span->breakCount > 0 && i > 0 && gaps[i].afterSeq == gaps[i - 1].afterSeq &&
            gaps[i].beforeSeq == gaps[i - 1].beforeSeq)
            continue;
        if (span->breakCount < ARCHIVE_SPAN_BREAKS_MAX) {
            breaks[span->breakCount].afterSeq = gaps[i].afterSeq;
            breaks[span->breakCount].beforeSeq = gaps[i].beforeSeq;
        }
        span->breakCount++;
    }
    bvFree(gaps);
    archiveCatalogFree(c);
}

void
archiveSpanFromMetas(const SegmentMeta *before, const SegmentMeta *metas, size_t n, ArchiveSpan *span) {
    const SegmentMeta *first = &metas[0], *last = &metas[n - 1];
    const char *firstGtid = "", *lastGtid = "";
    ArchiveSpanBreak breaks[ARCHIVE_SPAN_BREAKS_MAX];

    BV_ASSERT(n > 0);
    memset(span, 0, sizeof(*span));
    span->firstSeq = first->seq;
    span->lastSeq = last->seq;
    span->segments = n;
    span->flavour = first->flavour;
    span->startTimeline = first->timeline ? first->timeline : 1;
    span->endTimeline = last->timeline ? last->timeline : 1;
    span->timelineMin = span->timelineMax = span->startTimeline;
    span->startPos = first->startPos;
    span->endPos = last->endPos;
    span->endsFile = last->endsFile;
    for (size_t i = 0; i < n; i++) {
        const SegmentMeta *m = &metas[i];
        uint32_t tl = m->timeline ? m->timeline : 1;
        /* A format-1 line has only the first and last commit times of its segment: the bounds
         * take them too. */
        uint64_t lo = m->firstTimeUs < m->lastTimeUs ? m->firstTimeUs : m->lastTimeUs;
        uint64_t hi = m->firstTimeUs > m->lastTimeUs ? m->firstTimeUs : m->lastTimeUs;

        if (m->minTimeUs != 0 && m->minTimeUs < lo)
            lo = m->minTimeUs;
        if (m->maxTimeUs > hi)
            hi = m->maxTimeUs;
        span->timelineMin = tl < span->timelineMin ? tl : span->timelineMin;
        span->timelineMax = tl > span->timelineMax ? tl : span->timelineMax;

        span->transactions += m->transactions;
        span->bytes += m->size;
        span->contentBytes += m->contentLen;
        if (m->transactions == 0)
            continue;
        if (span->firstTimeUs == 0 && firstGtid[0] == '\0') {
            span->firstTimeUs = m->firstTimeUs;
            firstGtid = m->firstGtid;
        }
        span->lastTimeUs = m->lastTimeUs;
        lastGtid = m->lastGtid;
        if (span->minTimeUs == 0 || lo < span->minTimeUs)
            span->minTimeUs = lo;
        if (hi > span->maxTimeUs)
            span->maxTimeUs = hi;
    }
    spanBreaks(before, metas, n, span, breaks);
    spanPack(span,
             (const char *const[SPAN_STRINGS]){first->file, last->file, segmentMetaGtidStart(first), segmentMetaGtidEnd(last),
                                               firstGtid, lastGtid},
             breaks, span->breakCount);
}

void
archiveSpanToJson(const ArchiveSpan *s, Buf *out) {
    jsonBufPrintf(out, "{\"version\":2");
    archiveJsonPutStr(out, "name", s->name);
    jsonBufPrintf(out, ",\"size\":%" PRIu64, s->size);
    archiveJsonPutStr(out, "sha256", s->sha256);
    jsonBufPrintf(out,
                  ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64 ",\"segments\":%" PRIu64
                  ",\"transactions\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"content_bytes\":%" PRIu64,
                  s->firstSeq, s->lastSeq, s->segments, s->transactions, s->bytes, s->contentBytes);
    archiveJsonPutStr(out, "flavour", archiveFlavourName(s->flavour));
    jsonBufPrintf(out, ",\"timelines\":[%" PRIu32 ",%" PRIu32 "]", s->timelineMin, s->timelineMax);
    jsonBufPrintf(out, ",\"start\":{\"timeline\":%" PRIu32, s->startTimeline);
    archiveJsonPutStr(out, "file", s->startFile);
    jsonBufPrintf(out, ",\"start_pos\":%" PRIu64, s->startPos);
    archiveJsonPutStr(out, "gtid_start", s->gtidStart ? s->gtidStart : "");
    jsonBufPrintf(out, "},\"end\":{\"timeline\":%" PRIu32, s->endTimeline);
    archiveJsonPutStr(out, "file", s->endFile);
    jsonBufPrintf(out, ",\"end_pos\":%" PRIu64, s->endPos);
    archiveJsonPutStr(out, "gtid_end", s->gtidEnd ? s->gtidEnd : "");
    jsonBufPrintf(out, ",\"ends_file\":%s}", s->endsFile ? "true" : "false");
    jsonBufPrintf(out,
                  ",\"min_time_us\":%" PRIu64 ",\"max_time_us\":%" PRIu64 ",\"first_time_us\":%" PRIu64
                  ",\"last_time_us\":%" PRIu64,
                  s->minTimeUs, s->maxTimeUs, s->firstTimeUs, s->lastTimeUs);
    archiveJsonPutStr(out, "first_gtid", s->firstGtid);
    archiveJsonPutStr(out, "last_gtid", s->lastGtid);
    jsonBufPrintf(out, ",\"break_count\":%zu,\"breaks\":[", s->breakCount);
    for (size_t i = 0; i < s->breakCount && i < ARCHIVE_SPAN_BREAKS_MAX; i++)
        jsonBufPrintf(out, "%s[%" PRIu64 ",%" PRIu64 "]", i ? "," : "", s->breaks[i].afterSeq, s->breaks[i].beforeSeq);
    jsonBufPrintf(out, "]}");
}

static int
reqU32(const JsonValue *obj, const char *key, uint32_t *out, Err *err) {
    uint64_t v;

    if (jsonReqU64(obj, key, &v, err) != 0)
        return -1;
    if (v == 0 || v > UINT32_MAX)
        return errSet(err, ERR_FORMAT, "field '%s' is not a timeline number", key);
    *out = (uint32_t)v;
    return 0;
}

/* A string member of at most max - 1 bytes without a NUL (jsonReqStrCopy()'s rule), pointing into
 * the parsed document. */
static int
reqStrMax(const JsonValue *obj, const char *key, size_t max, const char **out, Err *err) {
    size_t len;

    if ((*out = jsonStr(jsonGet(obj, key), &len)) == NULL)
        return errSet(err, ERR_FORMAT, "missing or invalid field '%s'", key);
    if (len >= max || strlen(*out) != len)
        return errSet(err, ERR_FORMAT, "field '%s' is longer than %zu bytes or holds a NUL", key, max - 1);
    return 0;
}

static int
reqGtid(const JsonValue *obj, const char *key, const char **out, Err *err) {
    if (jsonReqStr(obj, key, out, err) != 0)
        return -1;
    if (strlen(*out) >= SEGMENT_GTID_MAX)
        return errSet(err, ERR_FORMAT, "field '%s' is longer than %d bytes", key, SEGMENT_GTID_MAX - 1);
    return 0;
}

/* Whether v is there and of type t (jsonType() needs a value). */
static bool
isType(const JsonValue *v, JsonType t) {
    return v != NULL && jsonType(v) == t;
}

static int
spanParseDoc(const JsonValue *doc, ArchiveSpan *s, Err *err) {
    const JsonValue *start = jsonGet(doc, "start"), *end = jsonGet(doc, "end"), *tl = jsonGet(doc, "timelines");
    const JsonValue *breaks = jsonGet(doc, "breaks");
    uint64_t version, breakCount;
    char flavour[16];
    const char *str[SPAN_STRINGS];
    ArchiveSpanBreak pairs[ARCHIVE_SPAN_BREAKS_MAX];

    if (jsonReqU64(doc, "version", &version, err) != 0)
        return -1;
    if (version != 2)
        return errSet(err, ERR_FORMAT, "summary line version %" PRIu64 " is not supported", version);
    if (jsonReqStrCopy(doc, "name", s->name, sizeof(s->name), err) != 0 || jsonReqU64(doc, "size", &s->size, err) != 0 ||
        jsonReqStrCopy(doc, "sha256", s->sha256, sizeof(s->sha256), err) != 0 ||
        jsonReqU64(doc, "first_seq", &s->firstSeq, err) != 0 || jsonReqU64(doc, "last_seq", &s->lastSeq, err) != 0 ||
        jsonReqU64(doc, "segments", &s->segments, err) != 0 ||
        jsonReqU64(doc, "transactions", &s->transactions, err) != 0 || jsonReqU64(doc, "bytes", &s->bytes, err) != 0 ||
        jsonReqU64(doc, "content_bytes", &s->contentBytes, err) != 0 ||
        jsonReqStrCopy(doc, "flavour", flavour, sizeof(flavour), err) != 0 ||
        jsonReqU64(doc, "min_time_us", &s->minTimeUs, err) != 0 ||
        jsonReqU64(doc, "max_time_us", &s->maxTimeUs, err) != 0 ||
        jsonReqU64(doc, "first_time_us", &s->firstTimeUs, err) != 0 ||
        jsonReqU64(doc, "last_time_us", &s->lastTimeUs, err) != 0 ||
        reqStrMax(doc, "first_gtid", BINLOG_TXN_GTID_MAX, &str[SPAN_FIRST_GTID], err) != 0 ||
        reqStrMax(doc, "last_gtid", BINLOG_TXN_GTID_MAX, &str[SPAN_LAST_GTID], err) != 0 ||
        jsonReqU64(doc, "break_count", &breakCount, err) != 0)
        return -1;
    if (strcmp(flavour, "mariadb") == 0)
        s->flavour = BINLOG_FLAVOUR_MARIADB;
    else if (strcmp(flavour, "mysql") == 0)
        s->flavour = BINLOG_FLAVOUR_MYSQL;
    else
        return errSet(err, ERR_FORMAT, "field 'flavour' is '%s', expected 'mariadb' or 'mysql'", flavour);
    if (s->firstSeq == 0 || s->lastSeq < s->firstSeq || s->segments != s->lastSeq - s->firstSeq + 1)
        return errSet(err, ERR_FORMAT, "seqs %" PRIu64 "-%" PRIu64 " and %" PRIu64 " segments do not agree", s->firstSeq,
                      s->lastSeq, s->segments);
    if (s->minTimeUs > s->maxTimeUs)
        return errSet(err, ERR_FORMAT, "min_time_us is after max_time_us");
    if (!isType(tl, JSON_ARRAY) || jsonLen(tl) != 2 || !jsonU64(jsonAt(tl, 0), &version) || version == 0 ||
        version > UINT32_MAX)
        return errSet(err, ERR_FORMAT, "missing or invalid field 'timelines'");
    s->timelineMin = (uint32_t)version;
    if (!jsonU64(jsonAt(tl, 1), &version) || version < s->timelineMin || version > UINT32_MAX)
        return errSet(err, ERR_FORMAT, "missing or invalid field 'timelines'");
    s->timelineMax = (uint32_t)version;
    if (!isType(start, JSON_OBJECT) || !isType(end, JSON_OBJECT))
        return errSet(err, ERR_FORMAT, "missing or invalid field 'start' or 'end'");
    if (reqU32(start, "timeline", &s->startTimeline, err) != 0 ||
        reqStrMax(start, "file", SEGMENT_FILE_MAX, &str[SPAN_START_FILE], err) != 0 ||
        jsonReqU64(start, "start_pos", &s->startPos, err) != 0 ||
        reqGtid(start, "gtid_start", &str[SPAN_GTID_START], err) != 0 || reqU32(end, "timeline", &s->endTimeline, err) != 0 ||
        reqStrMax(end, "file", SEGMENT_FILE_MAX, &str[SPAN_END_FILE], err) != 0 ||
        jsonReqU64(end, "end_pos", &s->endPos, err) != 0 || reqGtid(end, "gtid_end", &str[SPAN_GTID_END], err) != 0 ||
        !jsonBool(jsonGet(end, "ends_file"), &s->endsFile))
        return err->code ? -1 : errSet(err, ERR_FORMAT, "missing or invalid field 'ends_file'");
    if (!segmentFileNameValid(str[SPAN_START_FILE]) || !segmentFileNameValid(str[SPAN_END_FILE]))
        return errSet(err, ERR_FORMAT, "a binlog file name of the span is not valid");
    if (!isType(breaks, JSON_ARRAY) || jsonLen(breaks) > ARCHIVE_SPAN_BREAKS_MAX ||
        jsonLen(breaks) != (breakCount < ARCHIVE_SPAN_BREAKS_MAX ? breakCount : ARCHIVE_SPAN_BREAKS_MAX))
        return errSet(err, ERR_FORMAT, "field 'breaks' does not list break_count breaks");
    s->breakCount = (size_t)breakCount;
    for (size_t i = 0; i < jsonLen(breaks); i++) {
        const JsonValue *b = jsonAt(breaks, i);
        ArchiveSpanBreak *out = &pairs[i];

        if (!isType(b, JSON_ARRAY) || jsonLen(b) != 2 || !jsonU64(jsonAt(b, 0), &out->afterSeq) ||
            !jsonU64(jsonAt(b, 1), &out->beforeSeq) || out->beforeSeq <= out->afterSeq ||
            out->beforeSeq < s->firstSeq || out->beforeSeq > s->lastSeq)
            return errSet(err, ERR_FORMAT, "break %zu is not a pair of seqs of the span", i + 1);
    }
    spanPack(s, str, pairs, s->breakCount);
    return 0;
}

int
archiveSpanParse(const char *text, size_t len, ArchiveSpan *span, Err *err) {
    JsonValue *doc = archiveDocParse(text, len, err);
    int rc;

    memset(span, 0, sizeof(*span));
    if (doc == NULL)
        return -1;
    errClear(err);
    rc = spanParseDoc(doc, span, err);
    jsonFree(doc);
    if (rc != 0)
        archiveSpanClear(span);
    return rc;
}

void
archiveSpanCopy(ArchiveSpan *dst, const ArchiveSpan *src) {
    *dst = *src;
    spanPack(dst,
             (const char *const[SPAN_STRINGS]){src->startFile, src->endFile, src->gtidStart, src->gtidEnd, src->firstGtid,
                                               src->lastGtid},
             src->breaks, src->breakCount);
}

void
archiveSpanClear(ArchiveSpan *span) {
    bvFree(span->mem);
    span->mem = NULL;
    span->startFile = span->endFile = span->gtidStart = span->gtidEnd = span->firstGtid = span->lastGtid = NULL;
    span->breaks = NULL;
}

uint64_t
archiveSummaryGroupOf(uint64_t seq) {
    return archiveBlockOf(seq) / ARCHIVE_SUMMARY_FANOUT;
}

void
archiveSummaryName(uint64_t first, uint64_t last, char *out, size_t size) {
    snprintf(out, size, ARCHIVE_SUMMARY1_PREFIX "%016" PRIu64 "-%016" PRIu64 ".bvc", first, last);
}

int
archiveSummaryNameParse(const char *name, uint64_t *first, uint64_t *last) {
    if (archiveRangeNameParse(name, ARCHIVE_SUMMARY1_PREFIX, ".bvc", first, last) != 0)
        return -1;
    /* Whole blocks of one group (its first blocks may be pruned). */
    if ((*first - 1) % ARCHIVE_BLOCK_SEGMENTS != 0 || *last % ARCHIVE_BLOCK_SEGMENTS != 0 ||
        archiveSummaryGroupOf(*first) != archiveSummaryGroupOf(*last))
        return -1;
    return 0;
}

int
archiveSummaryParse(const uint8_t *data, size_t len, uint64_t first, uint64_t last, ArchiveSpan **spans, size_t *n,
                    Err *err) {
    size_t pos = 0, line = 0, cap = 0;
    ArchiveSpan *out = NULL;
    uint64_t expect = first;

    *n = 0;
    while (pos < len) {
        const uint8_t *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        ArchiveSpan *s;

        line++;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            out = bvRealloc(out, cap * sizeof(*out));
        }
        s = &out[*n];
        if (archiveSpanParse((const char *)data + pos, end - pos, s, err) != 0) {
            errPrefix(err, "line %zu", line);
            goto fail;
        }
        (*n)++;
        if (s->firstSeq != expect || s->lastSeq != archiveBlockLast(archiveBlockOf(expect)) || s->lastSeq > last) {
            errSet(err, ERR_FORMAT, "line %zu: describes seqs %" PRIu64 "-%" PRIu64 ", expected the block from seq %" PRIu64,
                   line, s->firstSeq, s->lastSeq, expect);
            goto fail;
        }
        expect = s->lastSeq + 1;
        pos = end + 1;
    }
    if (expect != last + 1) {
        errSet(err, ERR_FORMAT, "holds %zu lines, its name says seqs %" PRIu64 "-%" PRIu64, line, first, last);
        goto fail;
    }
    *spans = out;
    return 0;
fail:
    archiveSpansFree(out, *n);
    *n = 0;
    return -1;
}

void
archiveSpansFree(ArchiveSpan *spans, size_t n) {
    for (size_t i = 0; i < n; i++)
        archiveSpanClear(&spans[i]);
    bvFree(spans);
}
