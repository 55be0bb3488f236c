/* MariaDB GTIDs (domain-server-seq) and GTID positions (one GTID per domain): text, the
 * GTID_LIST event's list, and positions updated GTID by GTID (binlog/gtid.h). */
#include "binlog/gtid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binlog/gtid_internal.h"
#include "common/buf.h"
#include "common/bytes.h"
#include "common/mem.h"

/* GTIDs sorted by domain, one per domain. */
struct MariaGtidPos {
    MariaGtid *g;
    size_t n;
    size_t cap;
};

/* Read a decimal number <= max at *s; false (with *s after the digits) when there is no digit or
 * the value is above max. */
static bool
parseDecimal(const char **s, uint64_t max, uint64_t *out) {
    const char *p = *s;
    uint64_t v = 0;
    bool overflow = false;

    if (!isDigitChar(*p))
        return false;
    for (; isDigitChar(*p); p++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (max - d) / 10)
            overflow = true;
        else
            v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return !overflow;
}

/* Parse one `domain-server-seq` at *s; on failure writes the reason to why. */
static bool
mariaParseOne(const char **s, MariaGtid *out, char *why, size_t whySize) {
    static const char *const names[3] = {"domain", "server", "seq"};
    static const uint64_t max[3] = {UINT32_MAX, UINT32_MAX, UINT64_MAX};
    uint64_t v[3];
    const char *p = *s;

    for (int i = 0; i < 3; i++) {
        const char *num = p;

        if (i > 0) {
            if (*p != '-') {
                snprintf(why, whySize, "expected '-' before the %s at '%.*s'", names[i], tokenLen(p, ","), p);
                return false;
            }
            num = ++p;
        }
        if (!isDigitChar(*p)) {
            snprintf(why, whySize, "expected a %s number at '%.*s'", names[i], tokenLen(p, ","), p);
            return false;
        }
        if (!parseDecimal(&p, max[i], &v[i])) {
            snprintf(why, whySize, "%s '%.*s' is out of range (0-%" PRIu64 ")", names[i],
                     (int)(p - num > 40 ? 40 : p - num), num, max[i]);
            return false;
        }
    }
    out->domain = (uint32_t)v[0];
    out->server = (uint32_t)v[1];
    out->seq = v[2];
    *s = p;
    return true;
}

int
mariaGtidParse(const char *text, MariaGtid *out, Err *err) {
    const char *s = skipSpace(text);
    char why[256], quoted[128];
    MariaGtid g;

    if (mariaParseOne(&s, &g, why, sizeof(why))) {
        s = skipSpace(s);
        if (*s == '\0') {
            *out = g;
            return 0;
        }
        snprintf(why, sizeof(why), "unexpected '%.*s' after the gtid", tokenLen(s, ""), s);
    }
    quoteText(quoted, sizeof(quoted), text);
    return errSet(err, ERR_FORMAT, "invalid mariadb gtid '%s': %s", quoted, why);
}

/* `v` in decimal at `p`; the end. */
static char *
putDecimal(char *p, uint64_t v) {
    char digits[20];
    int n = 0;

    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = digits[--n];
    return p;
}

/* By hand, not snprintf(): the stream formats every transaction's GTID, and vfprintf was 1.4% of
 * its thread on small events. At most 10 + 1 + 10 + 1 + 20 + 1 bytes. */
void
mariaGtidFormat(const MariaGtid *g, char out[MARIA_GTID_TEXT_MAX]) {
    char *p = putDecimal(out, g->domain);

    *p++ = '-';
    p = putDecimal(p, g->server);
    *p++ = '-';
    p = putDecimal(p, g->seq);
    *p = '\0';
}

int
mariaGtidListDecode(const uint8_t *body, size_t len, MariaGtid **list, size_t *count, uint32_t *flags,
                    Err *err) {
    uint32_t word, n;
    MariaGtid *out = NULL;

    if (len < 4)
        return errSet(err, ERR_FORMAT, "invalid gtid list: %zu bytes, need at least 4 for the count", len);
    word = rdU32(body);
    n = word & ((UINT32_C(1) << 28) - 1);
    if (n > (len - 4) / 16)
        return errSet(err, ERR_FORMAT,
                      "invalid gtid list: %" PRIu32 " entries need %zu bytes, the body has %zu", n,
                      4 + (size_t)n * 16, len);
    if (n > 0) {
        out = bvMalloc(n * sizeof(*out));
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *e = body + 4 + (size_t)i * 16;

            out[i].domain = rdU32(e);
            out[i].server = rdU32(e + 4);
            out[i].seq = rdU64(e + 8);
        }
    }
    *list = out;
    *count = n;
    *flags = word & ~((UINT32_C(1) << 28) - 1);
    return 0;
}

MariaGtidPos *
mariaGtidPosNew(void) {
    return bvCalloc(1, sizeof(MariaGtidPos));
}

MariaGtidPos *
mariaGtidPosDup(const MariaGtidPos *pos) {
    MariaGtidPos *dup = mariaGtidPosNew();

    if (pos->n > 0) {
        dup->g = bvMalloc(pos->n * sizeof(*dup->g));
        memcpy(dup->g, pos->g, pos->n * sizeof(*dup->g));
        dup->n = dup->cap = pos->n;
    }
    return dup;
}

static bool
mariaFind(const MariaGtidPos *pos, uint32_t domain, size_t *at) {
    size_t lo = 0, hi = pos->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (pos->g[mid].domain == domain) {
            *at = mid;
            return true;
        }
        if (pos->g[mid].domain < domain)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return false;
}

void
mariaGtidPosUpdate(MariaGtidPos *pos, const MariaGtid *g) {
    size_t at;

    if (mariaFind(pos, g->domain, &at)) {
        pos->g[at] = *g;
        return;
    }
    if (pos->n == pos->cap) {
        pos->cap = pos->cap ? pos->cap * 2 : 4;
        pos->g = bvRealloc(pos->g, pos->cap * sizeof(*pos->g));
    }
    memmove(&pos->g[at + 1], &pos->g[at], (pos->n - at) * sizeof(*pos->g));
    pos->g[at] = *g;
    pos->n++;
}

MariaGtidPos *
mariaGtidPosFromList(const MariaGtid *list, size_t count) {
    MariaGtidPos *pos = mariaGtidPosNew();

    for (size_t i = 0; i < count; i++) {
        size_t at;

        if (!mariaFind(pos, list[i].domain, &at) || list[i].seq >= pos->g[at].seq)
            mariaGtidPosUpdate(pos, &list[i]);
    }
    return pos;
}

size_t
mariaGtidPosCount(const MariaGtidPos *pos) {
    return pos->n;
}

void
mariaGtidPosAt(const MariaGtidPos *pos, size_t i, MariaGtid *out) {
    BV_ASSERT(i < pos->n);
    *out = pos->g[i];
}

bool
mariaGtidPosGet(const MariaGtidPos *pos, uint32_t domain, MariaGtid *out) {
    size_t at;

    if (!mariaFind(pos, domain, &at))
        return false;
    *out = pos->g[at];
    return true;
}

bool
mariaGtidPosContains(const MariaGtidPos *pos, const MariaGtid *g) {
    size_t at;

    return mariaFind(pos, g->domain, &at) && pos->g[at].seq >= g->seq;
}

bool
mariaGtidPosReached(const MariaGtidPos *pos, const MariaGtidPos *target) {
    for (size_t i = 0; i < target->n; i++)
        if (!mariaGtidPosContains(pos, &target->g[i]))
            return false;
    return true;
}

bool
mariaGtidPosEqual(const MariaGtidPos *a, const MariaGtidPos *b) {
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (a->g[i].domain != b->g[i].domain || a->g[i].server != b->g[i].server ||
            a->g[i].seq != b->g[i].seq)
            return false;
    return true;
}

static int
mariaDomainCompare(const void *pa, const void *pb) {
    const MariaGtid *a = pa, *b = pb;

    return a->domain < b->domain ? -1 : a->domain > b->domain;
}

int
mariaGtidPosParse(MariaGtidPos *pos, const char *text, Err *err) {
    const char *s = skipSpace(text);
    MariaGtid *list = NULL;
    size_t n = 0, cap = 0;
    char why[256], quoted[128];

    while (*s != '\0') {
        MariaGtid g;

        if (*s == ',') {
            snprintf(why, sizeof(why), "empty entry before ','");
            goto fail;
        }
        if (!mariaParseOne(&s, &g, why, sizeof(why)))
            goto fail;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            list = bvRealloc(list, cap * sizeof(*list));
        }
        list[n++] = g;
        s = skipSpace(s);
        if (*s == ',') {
            s = skipSpace(s + 1);
            if (*s == '\0') {
                snprintf(why, sizeof(why), "empty entry after the last ','");
                goto fail;
            }
        } else if (*s != '\0') {
            snprintf(why, sizeof(why), "unexpected '%.*s'", tokenLen(s, ","), s);
            goto fail;
        }
    }
    if (n > 1) {
        /* sorted, a domain named twice shows up as neighbours */
        qsort(list, n, sizeof(*list), mariaDomainCompare);
        for (size_t i = 1; i < n; i++) {
            if (list[i].domain == list[i - 1].domain) {
                snprintf(why, sizeof(why), "domain %" PRIu32 " appears more than once", list[i].domain);
                goto fail;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        mariaGtidPosUpdate(pos, &list[i]);
    bvFree(list);
    return 0;
fail:
    bvFree(list);
    quoteText(quoted, sizeof(quoted), text);
    return errSet(err, ERR_FORMAT, "invalid gtid position '%s': %s", quoted, why);
}

char *
mariaGtidPosFormat(const MariaGtidPos *pos) {
    Buf *b = bufNew(0);

    for (size_t i = 0; i < pos->n; i++) {
        char one[MARIA_GTID_TEXT_MAX];

        if (i > 0)
            bufAppend(b, ",", 1);
        mariaGtidFormat(&pos->g[i], one);
        bufAppend(b, one, strlen(one));
    }
    return (char *)bufDetach(b, NULL);
}

void
mariaGtidPosFree(MariaGtidPos *pos) {
    if (pos == NULL)
        return;
    bvFree(pos->g);
    bvFree(pos);
}
