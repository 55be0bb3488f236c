/* MySQL GTID sets (binlog/gtid.h): text, binary and set algebra. MariaDB GTIDs and positions are in
 * binlog/gtid_maria.c, the flavour-independent GtidState in binlog/gtid_state.c. The file keeps a
 * set's four jobs (intervals, TSIDs, text, the binary encoding) together: they share its private
 * representation (GtidTsid, GtidInterval), which no other file sees. */
#include "binlog/gtid.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/bytes.h"
#include "binlog/gtid_internal.h"
#include "common/mem.h"

/* A half-open range of GNOs [start, end), as in the server and the binary encoding. */
typedef struct GtidInterval {
    int64_t start;
    int64_t end;
} GtidInterval;

/* One TSID and its intervals: sorted by start, disjoint and not touching (start > previous end). */
typedef struct GtidTsid {
    uint8_t uuid[16];
    char tag[GTID_TAG_MAX + 1]; /* lowercase; "" = untagged */
    GtidInterval *iv;
    size_t n;
    size_t cap;
} GtidTsid;

/*
 * TSIDs sorted by (uuid bytes, tag), unique, none without interval: the server's sort order
 * (Tsid::operator<), so formatting and encoding walk the array in order. While text or bytes are
 * being read, a private set is filled "raw" (unsorted, duplicates, unmerged intervals) and then
 * normalised once, which keeps hostile or unordered input at O(n log n).
 */
struct GtidSet {
    GtidTsid *tsid;
    size_t n;
    size_t cap;
};


/* ---- uuids and tags --------------------------------------------------------------------------- */

/* Parse the 36 characters at s (stops at the first mismatch, so never reads past a NUL). */
static bool
uuidParsePrefix(const char *s, uint8_t out[16]) {
    size_t o = 0;

    for (size_t i = 0; i < GTID_UUID_TEXT_LEN;) {
        int hi, lo;

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            i++;
            continue;
        }
        if ((hi = cryptoHexDigit(s[i])) < 0 || (lo = cryptoHexDigit(s[i + 1])) < 0)
            return false;
        out[o++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return true;
}

int
gtidUuidParse(const char *text, uint8_t out[16]) {
    uint8_t tmp[16];

    if (!uuidParsePrefix(text, tmp) || text[GTID_UUID_TEXT_LEN] != '\0')
        return -1;
    memcpy(out, tmp, 16);
    return 0;
}

void
gtidUuidFormat(const uint8_t uuid[16], char out[GTID_UUID_TEXT_LEN + 1]) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;

    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[uuid[i] >> 4];
        out[o++] = hex[uuid[i] & 15];
    }
    out[o] = '\0';
}

static bool
isTagChar(char c, size_t pos) {
    return isAlphaChar(c) || c == '_' || (pos > 0 && isDigitChar(c));
}

/* Copy the tag of len bytes lowercased into out; false when it is not [a-z_][a-z0-9_]{0,31}
 * (case-insensitive). len 0 is the untagged "". */
static bool
tagNormalize(const char *tag, size_t len, char out[GTID_TAG_MAX + 1]) {
    if (len > GTID_TAG_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isTagChar(tag[i], i))
            return false;
        out[i] = (tag[i] >= 'A' && tag[i] <= 'Z') ? (char)(tag[i] - 'A' + 'a') : tag[i];
    }
    out[len] = '\0';
    return true;
}

/* tag NULL or "" = untagged. */
static bool
tagArg(const char *tag, char out[GTID_TAG_MAX + 1]) {
    if (tag == NULL) {
        out[0] = '\0';
        return true;
    }
    return tagNormalize(tag, strnlen(tag, GTID_TAG_MAX + 1), out);
}

/* ---- intervals of one TSID -------------------------------------------------------------------- */

static void
ivReserve(GtidTsid *t, size_t need) {
    size_t cap = t->cap ? t->cap : 4;

    if (need <= t->cap)
        return;
    while (cap < need) {
        BV_ASSERT(cap <= SIZE_MAX / 2 / sizeof(*t->iv));
        cap *= 2;
    }
    t->iv = bvRealloc(t->iv, cap * sizeof(*t->iv));
    t->cap = cap;
}

/* First interval whose end is >= x: the first one that [x, ...) could touch or overlap. */
static size_t
ivFirstEndAtLeast(const GtidTsid *t, int64_t x) {
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->iv[mid].end < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First interval whose start is > x. */
static size_t
ivFirstStartAbove(const GtidTsid *t, int64_t x) {
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->iv[mid].start <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Add [start, end): intervals it touches or overlaps, found by binary search, fold into one. */
static void
ivAdd(GtidTsid *t, int64_t start, int64_t end) {
    size_t i, j;

    if (t->n == 0 || t->iv[t->n - 1].end < start) {
        ivReserve(t, t->n + 1);
        t->iv[t->n++] = (GtidInterval){start, end};
        return;
    }
    i = ivFirstEndAtLeast(t, start);
    j = ivFirstStartAbove(t, end);
    if (i == j) {
        ivReserve(t, t->n + 1);
        memmove(&t->iv[i + 1], &t->iv[i], (t->n - i) * sizeof(*t->iv));
        t->iv[i] = (GtidInterval){start, end};
        t->n++;
        return;
    }
    if (t->iv[i].start < start)
        start = t->iv[i].start;
    if (t->iv[j - 1].end > end)
        end = t->iv[j - 1].end;
    t->iv[i] = (GtidInterval){start, end};
    memmove(&t->iv[i + 1], &t->iv[j], (t->n - j) * sizeof(*t->iv));
    t->n -= j - i - 1;
}

static bool
ivContains(const GtidTsid *t, int64_t gno) {
    size_t lo = 0, hi = t->n;

    /* first interval with end > gno */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (t->iv[mid].end <= gno)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < t->n && t->iv[lo].start <= gno;
}

/* t |= b (b normalised), by a linear merge. */
static void
ivUnion(GtidTsid *t, const GtidInterval *b, size_t bn) {
    GtidInterval *out;
    size_t i = 0, j = 0, o = 0, cap;

    if (bn == 0)
        return;
    if (t->n == 0 || t->iv[t->n - 1].end < b[0].start) {
        ivReserve(t, t->n + bn);
        memcpy(&t->iv[t->n], b, bn * sizeof(*b));
        t->n += bn;
        return;
    }
    cap = t->n + bn;
    out = bvMalloc(cap * sizeof(*out));
    while (i < t->n || j < bn) {
        GtidInterval next;

        if (j == bn || (i < t->n && t->iv[i].start <= b[j].start))
            next = t->iv[i++];
        else
            next = b[j++];
        if (o > 0 && next.start <= out[o - 1].end) {
            if (next.end > out[o - 1].end)
                out[o - 1].end = next.end;
        } else {
            out[o++] = next;
        }
    }
    bvFree(t->iv);
    t->iv = out;
    t->n = o;
    t->cap = cap;
}

/* t -= b (b normalised), by a linear walk; each interval of b splits at most one of t. */
static void
ivSubtract(GtidTsid *t, const GtidInterval *b, size_t bn) {
    GtidInterval *out;
    size_t j = 0, o = 0, cap;

    if (bn == 0 || t->n == 0)
        return;
    cap = t->n + bn;
    out = bvMalloc(cap * sizeof(*out));
    for (size_t i = 0; i < t->n; i++) {
        int64_t cur = t->iv[i].start, end = t->iv[i].end;
        size_t k;

        while (j < bn && b[j].end <= cur)
            j++;
        for (k = j; k < bn && b[k].start < end; k++) {
            if (b[k].start > cur)
                out[o++] = (GtidInterval){cur, b[k].start};
            if (b[k].end > cur)
                cur = b[k].end;
            if (cur >= end)
                break;
        }
        if (cur < end)
            out[o++] = (GtidInterval){cur, end};
        /* b[k] may reach into the next interval of t: keep it */
        j = k;
    }
    bvFree(t->iv);
    t->iv = out;
    t->n = o;
    t->cap = cap;
}

/* Every interval of a is inside one interval of b (intervals of b never touch). */
static bool
ivSubset(const GtidTsid *a, const GtidTsid *b) {
    size_t j = 0;

    for (size_t i = 0; i < a->n; i++) {
        while (j < b->n && b->iv[j].end <= a->iv[i].start)
            j++;
        if (j == b->n || b->iv[j].start > a->iv[i].start || b->iv[j].end < a->iv[i].end)
            return false;
    }
    return true;
}

static int
ivCompare(const void *pa, const void *pb) {
    const GtidInterval *a = pa, *b = pb;

    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return 0;
}

/* Sort and merge the raw intervals of t. */
static void
ivNormalize(GtidTsid *t) {
    size_t o = 0;

    if (t->n < 2)
        return;
    qsort(t->iv, t->n, sizeof(*t->iv), ivCompare);
    for (size_t i = 1; i < t->n; i++) {
        if (t->iv[i].start <= t->iv[o].end) {
            if (t->iv[i].end > t->iv[o].end)
                t->iv[o].end = t->iv[i].end;
        } else {
            t->iv[++o] = t->iv[i];
        }
    }
    t->n = o + 1;
}

/* ---- TSIDs ------------------------------------------------------------------------------------ */

static int
tsidCompare(const uint8_t *ua, const char *ta, const uint8_t *ub, const char *tb) {
    int c = memcmp(ua, ub, 16);

    return c != 0 ? c : strcmp(ta, tb);
}

static int
tsidQsortCompare(const void *pa, const void *pb) {
    const GtidTsid *a = pa, *b = pb;

    return tsidCompare(a->uuid, a->tag, b->uuid, b->tag);
}

/* Binary search; *pos receives the index of the TSID or where it would be inserted. */
static bool
tsidFind(const GtidSet *set, const uint8_t uuid[16], const char *tag, size_t *pos) {
    size_t lo = 0, hi = set->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tsidCompare(set->tsid[mid].uuid, set->tsid[mid].tag, uuid, tag);

        if (c == 0) {
            *pos = mid;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return false;
}

static void
tsidReserve(GtidSet *set, size_t need) {
    size_t cap = set->cap ? set->cap : 4;

    if (need <= set->cap)
        return;
    while (cap < need) {
        BV_ASSERT(cap <= SIZE_MAX / 2 / sizeof(*set->tsid));
        cap *= 2;
    }
    set->tsid = bvRealloc(set->tsid, cap * sizeof(*set->tsid));
    set->cap = cap;
}

/* Insert an empty TSID at pos (the caller keeps the order). */
static GtidTsid *
tsidInsertAt(GtidSet *set, size_t pos, const uint8_t uuid[16], const char *tag) {
    GtidTsid *t;

    tsidReserve(set, set->n + 1);
    memmove(&set->tsid[pos + 1], &set->tsid[pos], (set->n - pos) * sizeof(*set->tsid));
    set->n++;
    t = &set->tsid[pos];
    memset(t, 0, sizeof(*t));
    memcpy(t->uuid, uuid, 16);
    strcpy(t->tag, tag);
    return t;
}

static GtidTsid *
tsidGet(GtidSet *set, const uint8_t uuid[16], const char *tag) {
    size_t pos;

    if (tsidFind(set, uuid, tag, &pos))
        return &set->tsid[pos];
    return tsidInsertAt(set, pos, uuid, tag);
}

/* Append a TSID to a raw set; returns its index (pointers move when the array grows). */
static size_t
rawAddTsid(GtidSet *set, const uint8_t uuid[16], const char *tag) {
    return (size_t)(tsidInsertAt(set, set->n, uuid, tag) - set->tsid);
}

static void
rawAddInterval(GtidTsid *t, int64_t start, int64_t end) {
    ivReserve(t, t->n + 1);
    t->iv[t->n++] = (GtidInterval){start, end};
}

/* Turn a raw set into a normal one: sort TSIDs, fold duplicates, sort and merge intervals, drop
 * TSIDs without interval. */
static void
setNormalize(GtidSet *set) {
    size_t w = 0;

    if (set->n == 0)
        return;
    qsort(set->tsid, set->n, sizeof(*set->tsid), tsidQsortCompare);
    for (size_t r = 0; r < set->n; r++) {
        GtidTsid *t = &set->tsid[r];

        if (w > 0 && tsidQsortCompare(&set->tsid[w - 1], t) == 0) {
            GtidTsid *into = &set->tsid[w - 1];

            if (t->n > 0) {
                ivReserve(into, into->n + t->n);
                memcpy(&into->iv[into->n], t->iv, t->n * sizeof(*t->iv));
                into->n += t->n;
            }
            bvFree(t->iv);
        } else {
            set->tsid[w++] = *t;
        }
    }
    set->n = w;
    w = 0;
    for (size_t r = 0; r < set->n; r++) {
        GtidTsid *t = &set->tsid[r];

        if (t->n == 0) {
            bvFree(t->iv);
            continue;
        }
        ivNormalize(t);
        set->tsid[w++] = *t;
    }
    set->n = w;
}

/* Drop TSIDs left without interval. */
static void
setDropEmpty(GtidSet *set) {
    size_t w = 0;

    for (size_t r = 0; r < set->n; r++) {
        if (set->tsid[r].n == 0)
            bvFree(set->tsid[r].iv);
        else
            set->tsid[w++] = set->tsid[r];
    }
    set->n = w;
}

static void
tsidCopy(GtidTsid *dst, const GtidTsid *src) {
    *dst = *src;
    dst->iv = bvMalloc((src->n ? src->n : 1) * sizeof(*src->iv));
    memcpy(dst->iv, src->iv, src->n * sizeof(*src->iv));
    dst->cap = src->n ? src->n : 1;
}

/* ---- GtidSet ---------------------------------------------------------------------------------- */

GtidSet *
gtidSetNew(void) {
    return bvCalloc(1, sizeof(GtidSet));
}

GtidSet *
gtidSetDup(const GtidSet *set) {
    GtidSet *dup = gtidSetNew();

    tsidReserve(dup, set->n);
    for (size_t i = 0; i < set->n; i++)
        tsidCopy(&dup->tsid[i], &set->tsid[i]);
    dup->n = set->n;
    return dup;
}

bool
gtidSetIsEmpty(const GtidSet *set) {
    return set->n == 0;
}

uint64_t
gtidSetCount(const GtidSet *set) {
    uint64_t total = 0;

    for (size_t i = 0; i < set->n; i++) {
        for (size_t k = 0; k < set->tsid[i].n; k++) {
            uint64_t n = (uint64_t)(set->tsid[i].iv[k].end - set->tsid[i].iv[k].start);

            if (total > UINT64_MAX - n)
                return UINT64_MAX;
            total += n;
        }
    }
    return total;
}

bool
gtidSetContainsGtid(const GtidSet *set, const uint8_t uuid[16], const char *tag, int64_t gno) {
    char norm[GTID_TAG_MAX + 1];
    size_t pos;

    if (gno < 1 || gno > GTID_GNO_MAX || !tagArg(tag, norm))
        return false;
    return tsidFind(set, uuid, norm, &pos) && ivContains(&set->tsid[pos], gno);
}

bool
gtidSetIsSubset(const GtidSet *a, const GtidSet *b) {
    size_t j = 0;

    for (size_t i = 0; i < a->n; i++) {
        const GtidTsid *t = &a->tsid[i];
        int c = 1;

        while (j < b->n && (c = tsidCompare(b->tsid[j].uuid, b->tsid[j].tag, t->uuid, t->tag)) < 0)
            j++;
        if (j == b->n || c != 0 || !ivSubset(t, &b->tsid[j]))
            return false;
    }
    return true;
}

bool
gtidSetEqual(const GtidSet *a, const GtidSet *b) {
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const GtidTsid *ta = &a->tsid[i], *tb = &b->tsid[i];

        if (tsidCompare(ta->uuid, ta->tag, tb->uuid, tb->tag) != 0 || ta->n != tb->n)
            return false;
        for (size_t k = 0; k < ta->n; k++)
            if (ta->iv[k].start != tb->iv[k].start || ta->iv[k].end != tb->iv[k].end)
                return false;
    }
    return true;
}

int
gtidSetAddInterval(GtidSet *set, const uint8_t uuid[16], const char *tag, int64_t first,
                   int64_t last, Err *err) {
    char norm[GTID_TAG_MAX + 1];
    char uuidText[GTID_UUID_TEXT_LEN + 1];

    gtidUuidFormat(uuid, uuidText);
    if (!tagArg(tag, norm))
        return errSet(err, ERR_FORMAT, "invalid gtid '%s:%.40s': invalid tag", uuidText, tag);
    if (first < 1 || first > GTID_GNO_MAX || last < 1 || last > GTID_GNO_MAX)
        return errSet(err, ERR_FORMAT,
                      "invalid gtid interval '%s:%" PRId64 "-%" PRId64 "': gno out of range (1-%" PRId64 ")",
                      uuidText, first, last, (int64_t)GTID_GNO_MAX);
    if (last < first)
        return errSet(err, ERR_FORMAT,
                      "invalid gtid interval '%s:%" PRId64 "-%" PRId64 "': ends before it starts",
                      uuidText, first, last);
    ivAdd(tsidGet(set, uuid, norm), first, last + 1);
    return 0;
}

int
gtidSetAddGtid(GtidSet *set, const uint8_t uuid[16], const char *tag, int64_t gno, Err *err) {
    return gtidSetAddInterval(set, uuid, tag, gno, gno, err);
}

void
gtidSetUnion(GtidSet *dst, const GtidSet *src) {
    GtidTsid *out;
    size_t i = 0, j = 0, o = 0;

    if (src == dst || src->n == 0)
        return;
    out = bvMalloc((dst->n + src->n) * sizeof(*out));
    while (i < dst->n || j < src->n) {
        int c;

        if (i == dst->n)
            c = 1;
        else if (j == src->n)
            c = -1;
        else
            c = tsidCompare(dst->tsid[i].uuid, dst->tsid[i].tag, src->tsid[j].uuid, src->tsid[j].tag);
        if (c < 0) {
            out[o++] = dst->tsid[i++];
        } else if (c > 0) {
            tsidCopy(&out[o++], &src->tsid[j++]);
        } else {
            out[o] = dst->tsid[i++];
            ivUnion(&out[o++], src->tsid[j].iv, src->tsid[j].n);
            j++;
        }
    }
    bvFree(dst->tsid);
    dst->tsid = out;
    dst->n = o;
    dst->cap = o;
}

void
gtidSetSubtract(GtidSet *dst, const GtidSet *src) {
    size_t j = 0;

    if (src == dst) {
        for (size_t i = 0; i < dst->n; i++)
            dst->tsid[i].n = 0;
        setDropEmpty(dst);
        return;
    }
    for (size_t i = 0; i < dst->n; i++) {
        GtidTsid *t = &dst->tsid[i];
        int c = 1;

        while (j < src->n &&
               (c = tsidCompare(src->tsid[j].uuid, src->tsid[j].tag, t->uuid, t->tag)) < 0)
            j++;
        if (j == src->n)
            break;
        if (c == 0)
            ivSubtract(t, src->tsid[j].iv, src->tsid[j].n);
    }
    setDropEmpty(dst);
}

char *
gtidSetFormatSep(const GtidSet *set, const char *sep) {
    Buf *b = bufNew(0);

    for (size_t i = 0; i < set->n; i++) {
        const GtidTsid *t = &set->tsid[i];
        char num[48];

        /* a uuid is printed once; its untagged intervals sort first, then each tag */
        if (i == 0 || memcmp(t->uuid, set->tsid[i - 1].uuid, 16) != 0) {
            char uuidText[GTID_UUID_TEXT_LEN + 1];

            if (i > 0)
                bufAppend(b, sep, strlen(sep));
            gtidUuidFormat(t->uuid, uuidText);
            bufAppend(b, uuidText, GTID_UUID_TEXT_LEN);
        }
        if (t->tag[0] != '\0') {
            bufAppend(b, ":", 1);
            bufAppend(b, t->tag, strlen(t->tag));
        }
        for (size_t k = 0; k < t->n; k++) {
            int len;

            if (t->iv[k].end - 1 > t->iv[k].start)
                len = snprintf(num, sizeof(num), ":%" PRId64 "-%" PRId64, t->iv[k].start, t->iv[k].end - 1);
            else
                len = snprintf(num, sizeof(num), ":%" PRId64, t->iv[k].start);
            bufAppend(b, num, (size_t)len);
        }
    }
    return (char *)bufDetach(b, NULL);
}

char *
gtidSetFormat(const GtidSet *set) {
    return gtidSetFormatSep(set, ",\n");
}

/* ---- text parsing ----------------------------------------------------------------------------- */

static int
parseError(Err *err, const char *text, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
parseError(Err *err, const char *text, const char *fmt, ...) {
    char quoted[128], reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    quoteText(quoted, sizeof(quoted), text);
    return errSet(err, ERR_FORMAT, "invalid gtid set '%s': %s", quoted, reason);
}

static int
gnoRangeError(Err *err, const char *text, const char *num, const char *end) {
    int len = end - num > 40 ? 40 : (int)(end - num);

    return parseError(err, text, "gno '%.*s' is out of range (1-%" PRId64 ")", len, num,
                      (int64_t)GTID_GNO_MAX);
}

/* Read a decimal gno at *s (at least one digit there). */
static bool
parseGno(const char **s, int64_t *out) {
    const char *p = *s;
    int64_t v = 0;
    bool overflow = false;

    for (; isDigitChar(*p); p++) {
        int d = *p - '0';

        if (v > (GTID_GNO_MAX - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return !overflow && v >= 1;
}

int
gtidSetParse(GtidSet *set, const char *text, Err *err) {
    GtidSet *raw = gtidSetNew();
    const char *s = skipSpace(text);

    if (*s == '\0')
        goto done;
    for (;;) {
        uint8_t uuid[16];
        const char *uuidText = s;
        size_t cur;
        bool curHasInterval = false;

        if (*s == ',' || *s == '\0') {
            parseError(err, text, "empty entry %s", *s == ',' ? "before ','" : "after the last ','");
            goto fail;
        }
        if (!uuidParsePrefix(s, uuid) || isAlphaChar(s[GTID_UUID_TEXT_LEN]) ||
            isDigitChar(s[GTID_UUID_TEXT_LEN]) || s[GTID_UUID_TEXT_LEN] == '-') {
            parseError(err, text, "'%.*s' is not a uuid", tokenLen(s, ":,"), s);
            goto fail;
        }
        s = skipSpace(s + GTID_UUID_TEXT_LEN);
        if (*s != ':') {
            if (*s == ',' || *s == '\0')
                parseError(err, text, "'%.36s' has no interval", uuidText);
            else
                parseError(err, text, "unexpected '%.*s' after a uuid", tokenLen(s, ":,"), s);
            goto fail;
        }
        cur = rawAddTsid(raw, uuid, "");
        while (*s == ':') {
            s = skipSpace(s + 1);
            if (isDigitChar(*s)) {
                const char *num = s;
                int64_t first, last;

                if (!parseGno(&s, &first)) {
                    gnoRangeError(err, text, num, s);
                    goto fail;
                }
                last = first;
                s = skipSpace(s);
                if (*s == '-') {
                    s = skipSpace(s + 1);
                    num = s;
                    if (!isDigitChar(*s)) {
                        parseError(err, text, "expected a number after '%" PRId64 "-', found '%.*s'", first,
                                   tokenLen(s, ":,"), s);
                        goto fail;
                    }
                    if (!parseGno(&s, &last)) {
                        gnoRangeError(err, text, num, s);
                        goto fail;
                    }
                    if (last < first) {
                        parseError(err, text, "interval '%" PRId64 "-%" PRId64 "' ends before it starts",
                                   first, last);
                        goto fail;
                    }
                    s = skipSpace(s);
                }
                rawAddInterval(&raw->tsid[cur], first, last + 1);
                curHasInterval = true;
            } else if (isTagChar(*s, 0)) {
                const char *tag = s;
                char norm[GTID_TAG_MAX + 1];
                size_t len = 0;

                if (!curHasInterval && raw->tsid[cur].tag[0] != '\0') {
                    parseError(err, text, "tag '%s' has no interval", raw->tsid[cur].tag);
                    goto fail;
                }
                while (isTagChar(tag[len], len))
                    len++;
                if (!tagNormalize(tag, len, norm)) {
                    parseError(err, text, "tag '%.*s' is longer than %d characters",
                               (int)(len > 40 ? 40 : len), tag, GTID_TAG_MAX);
                    goto fail;
                }
                cur = rawAddTsid(raw, uuid, norm);
                curHasInterval = false;
                s = skipSpace(tag + len);
                if (*s != ':') {
                    if (*s == ',' || *s == '\0')
                        parseError(err, text, "tag '%s' has no interval", norm);
                    else
                        parseError(err, text, "'%.*s' is not a valid tag", tokenLen(tag, ":,"), tag);
                    goto fail;
                }
            } else if (*s == '\0' || *s == ',' || *s == ':') {
                parseError(err, text, "missing number or tag after ':'");
                goto fail;
            } else {
                parseError(err, text, "'%.*s' is neither a number nor a tag", tokenLen(s, ":,"), s);
                goto fail;
            }
        }
        if (*s == '\0')
            break;
        if (*s != ',') {
            parseError(err, text, "unexpected '%.*s'", tokenLen(s, ":,"), s);
            goto fail;
        }
        s = skipSpace(s + 1);
    }
    setNormalize(raw);
    gtidSetUnion(set, raw);
done:
    gtidSetFree(raw);
    return 0;
fail:
    gtidSetFree(raw);
    return -1;
}

/* ---- binary encoding -------------------------------------------------------------------------- */

/* Encoding formats of the sid count word (mysql::gtid::Gtid_format). */
#define GTID_FORMAT_UNTAGGED 0
#define GTID_FORMAT_TAGGED 1

/*
 * Unsigned variable-length integer of the MySQL serialization library: the number of trailing
 * one bits of the first byte is the number of bytes that follow; the value's low bits are in the
 * rest of the first byte, the higher bits in the following bytes (little-endian). Returns the
 * bytes used, 0 when they are not all there.
 */
static size_t
varlenRead(const uint8_t *p, size_t avail, uint64_t *out) {
    size_t ones = 0, n;
    uint64_t rest = 0;

    if (avail == 0)
        return 0;
    while (ones < 8 && (p[0] >> ones) & 1)
        ones++;
    n = ones + 1;
    if (n > avail)
        return 0;
    if (n == 1) {
        *out = (uint64_t)p[0] >> 1;
        return 1;
    }
    memcpy(&rest, p + 1, n - 1);
    rest <<= 8 - n + ((n + 7) >> 4);
    *out = ((uint64_t)p[0] >> n) | rest;
    return n;
}

static int64_t
rdI64(const uint8_t *p) {
    int64_t v;

    memcpy(&v, p, 8);
    return v;
}

static int
decodeError(Err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
decodeError(Err *err, const char *fmt, ...) {
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return errSet(err, ERR_FORMAT, "invalid gtid set encoding: %s", reason);
}

int
gtidSetDecode(GtidSet *set, const uint8_t *p, size_t len, Err *err) {
    GtidSet *raw;
    uint64_t head, nSids;
    unsigned format;
    size_t off = 8, minSid;

    if (len < 8)
        return decodeError(err, "%zu bytes, need at least 8 for the sid count", len);
    head = rdU64(p);
    format = (unsigned)(head >> 56);
    if (format == GTID_FORMAT_UNTAGGED) {
        nSids = head & ((UINT64_C(1) << 56) - 1);
        minSid = 16 + 8;
    } else if (format == GTID_FORMAT_TAGGED) {
        if ((head & 0xff) != GTID_FORMAT_TAGGED)
            return decodeError(err,
                               "tagged sid count word 0x%016" PRIx64 " does not end with the format byte 1",
                               head);
        nSids = (head >> 8) & ((UINT64_C(1) << 48) - 1);
        minSid = 16 + 1 + 8;
    } else {
        return decodeError(err, "unknown format %u", format);
    }
    if (nSids > (len - off) / minSid)
        return decodeError(err, "%" PRIu64 " sids do not fit in %zu bytes", nSids, len - off);

    raw = gtidSetNew();
    for (uint64_t s = 0; s < nSids; s++) {
        char tag[GTID_TAG_MAX + 1] = "";
        const uint8_t *uuid;
        uint64_t nIntervals;
        int64_t last = 0;
        size_t cur;

        if (len - off < 16) {
            decodeError(err, "sid %" PRIu64 " at offset %zu: truncated uuid", s, off);
            goto fail;
        }
        uuid = p + off;
        off += 16;
        if (format == GTID_FORMAT_TAGGED) {
            uint64_t tagLen;
            size_t used = varlenRead(p + off, len - off, &tagLen);

            if (used == 0) {
                decodeError(err, "sid %" PRIu64 " at offset %zu: truncated tag length", s, off);
                goto fail;
            }
            off += used;
            if (tagLen > GTID_TAG_MAX) {
                decodeError(err, "sid %" PRIu64 ": tag length %" PRIu64 " exceeds %d", s, tagLen,
                            GTID_TAG_MAX);
                goto fail;
            }
            if (tagLen > len - off) {
                decodeError(err, "sid %" PRIu64 " at offset %zu: truncated tag of %" PRIu64 " bytes", s, off,
                            tagLen);
                goto fail;
            }
            if (!tagNormalize((const char *)p + off, (size_t)tagLen, tag)) {
                decodeError(err, "sid %" PRIu64 " at offset %zu: invalid tag of %" PRIu64 " bytes", s, off,
                            tagLen);
                goto fail;
            }
            off += (size_t)tagLen;
        }
        if (len - off < 8) {
            decodeError(err, "sid %" PRIu64 " at offset %zu: truncated interval count", s, off);
            goto fail;
        }
        nIntervals = rdU64(p + off);
        off += 8;
        if (nIntervals > (len - off) / 16) {
            decodeError(err, "sid %" PRIu64 ": %" PRIu64 " intervals do not fit in the %zu bytes left", s,
                        nIntervals, len - off);
            goto fail;
        }
        cur = rawAddTsid(raw, uuid, tag);
        ivReserve(&raw->tsid[cur], (size_t)nIntervals);
        for (uint64_t k = 0; k < nIntervals; k++) {
            int64_t start = rdI64(p + off), end = rdI64(p + off + 8);

            if (start <= last || end <= start) {
                const char *why = start < 1       ? "starts below 1"
                                  : start <= last ? "does not start after the previous interval"
                                                  : "is empty or reversed";

                decodeError(err, "sid %" PRIu64 " interval %" PRIu64 ": [%" PRId64 ", %" PRId64 ") %s", s, k,
                            start, end, why);
                goto fail;
            }
            rawAddInterval(&raw->tsid[cur], start, end);
            off += 16;
            last = end;
        }
    }
    if (off != len) {
        decodeError(err, "%zu trailing bytes after %" PRIu64 " sids", len - off, nSids);
        goto fail;
    }
    setNormalize(raw);
    gtidSetUnion(set, raw);
    gtidSetFree(raw);
    return 0;
fail:
    gtidSetFree(raw);
    return -1;
}

uint8_t *
gtidSetEncode(const GtidSet *set, size_t *len) {
    bool tagged = false;
    size_t size = 8, off = 8;
    uint8_t *buf;

    for (size_t i = 0; i < set->n; i++)
        if (set->tsid[i].tag[0] != '\0')
            tagged = true;
    for (size_t i = 0; i < set->n; i++)
        size += 16 + (tagged ? 1 + strlen(set->tsid[i].tag) : 0) + 8 + 16 * set->tsid[i].n;
    buf = bvMalloc(size);
    if (tagged) {
        BV_ASSERT((uint64_t)set->n < (UINT64_C(1) << 48));
        wrU64(buf, ((uint64_t)GTID_FORMAT_TAGGED << 56) | ((uint64_t)set->n << 8) | GTID_FORMAT_TAGGED);
    } else {
        wrU64(buf, (uint64_t)set->n);
    }
    for (size_t i = 0; i < set->n; i++) {
        const GtidTsid *t = &set->tsid[i];

        memcpy(buf + off, t->uuid, 16);
        off += 16;
        if (tagged) {
            size_t tagLen = strlen(t->tag);

            /* lengths up to 32 take one varlen byte: the value shifted past the 0 marker bit */
            buf[off++] = (uint8_t)(tagLen << 1);
            memcpy(buf + off, t->tag, tagLen);
            off += tagLen;
        }
        wrU64(buf + off, (uint64_t)t->n);
        off += 8;
        for (size_t k = 0; k < t->n; k++) {
            wrU64(buf + off, (uint64_t)t->iv[k].start);
            wrU64(buf + off + 8, (uint64_t)t->iv[k].end);
            off += 16;
        }
    }
    BV_ASSERT(off == size);
    *len = size;
    return buf;
}

void
gtidSetFree(GtidSet *set) {
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        bvFree(set->tsid[i].iv);
    bvFree(set->tsid);
    bvFree(set);
}
