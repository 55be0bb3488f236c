/*
 * The fork point of a new timeline (agent/fork.h): the new source's GTID history, and the scan of
 * archived transactions that finds the last one it holds and counts the diverged branch after it.
 */
#include "agent/fork.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "binlog/gtid.h"
#include "common/mem.h"
#include "common/time.h"

/* Entries of a MariaDB @@gtid_binlog_state: one per (domain, server id) ever logged. */
#define FORK_MARIA_ENTRIES_MAX 65536

struct ForkHistory {
    BinlogFlavour flavour;
    MariaGtid *entries; /* MariaDB: the last seq of each (domain, server) */
    size_t count;
    GtidState *set; /* MySQL */
};

static int
parseMariaState(ForkHistory *h, const char *state, Err *err) {
    const char *p = state;

    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[MARIA_GTID_TEXT_MAX + 8];
        MariaGtid g;

        if (len >= sizeof(item))
            return errSet(err, ERR_FORMAT, "invalid gtid history '%.64s': an entry is too long", state);
        memcpy(item, p, len);
        item[len] = '\0';
        if (mariaGtidParse(item, &g, err) != 0)
            return errPrefix(err, "invalid gtid history '%.64s'", state);
        if (h->count >= FORK_MARIA_ENTRIES_MAX)
            return errSet(err, ERR_LIMIT, "gtid history '%.64s...' has more than %d entries", state,
                          FORK_MARIA_ENTRIES_MAX);
        /* A pair named twice keeps its highest seq. */
        size_t i;
        for (i = 0; i < h->count; i++)
            if (h->entries[i].domain == g.domain && h->entries[i].server == g.server)
                break;
        if (i < h->count) {
            if (g.seq > h->entries[i].seq)
                h->entries[i].seq = g.seq;
        } else {
            h->entries = bvRealloc(h->entries, (h->count + 1) * sizeof(*h->entries));
            h->entries[h->count++] = g;
        }
        p += len + (comma != NULL);
    }
    return 0;
}

ForkHistory *
forkHistoryNew(BinlogFlavour flavour, const char *state, Err *err) {
    ForkHistory *h = bvCalloc(1, sizeof(*h));

    h->flavour = flavour;
    if (flavour == BINLOG_FLAVOUR_MARIADB) {
        if (parseMariaState(h, state ? state : "", err) == 0)
            return h;
    } else if ((h->set = gtidStateParse(flavour, state, err)) != NULL) {
        return h;
    }
    forkHistoryFree(h);
    return NULL;
}

static bool
mariaHas(const ForkHistory *h, const MariaGtid *g) {
    for (size_t i = 0; i < h->count; i++)
        if (h->entries[i].domain == g->domain && h->entries[i].server == g->server)
            return h->entries[i].seq >= g->seq;
    return false;
}

bool
forkHistoryHasGtid(const ForkHistory *h, const char *gtid) {
    MariaGtid g;
    GtidState *one;
    bool has;
    Err err;

    if (gtid == NULL || gtid[0] == '\0')
        return false;
    if (h->flavour == BINLOG_FLAVOUR_MARIADB)
        return mariaGtidParse(gtid, &g, &err) == 0 && mariaHas(h, &g);
    if ((one = gtidStateParse(h->flavour, gtid, &err)) == NULL)
        return false;
    has = !gtidStateIsEmpty(one) && gtidStateContains(h->set, one);
    gtidStateFree(one);
    return has;
}

int
forkHistoryHasState(const ForkHistory *h, const char *state, bool *has, Err *err) {
    GtidState *s = gtidStateParse(h->flavour, state, err);

    if (s == NULL)
        return -1;
    if (h->flavour == BINLOG_FLAVOUR_MARIADB) {
        const MariaGtidPos *pos = gtidStateMaria(s);

        *has = true;
        for (size_t i = 0; i < mariaGtidPosCount(pos) && *has; i++) {
            MariaGtid g;

            mariaGtidPosAt(pos, i, &g);
            *has = mariaHas(h, &g);
        }
    } else {
        *has = gtidStateContains(h->set, s);
    }
    gtidStateFree(s);
    return 0;
}

void
forkHistoryFree(ForkHistory *h) {
    if (h == NULL)
        return;
    bvFree(h->entries);
    gtidStateFree(h->set);
    bvFree(h);
}

void
forkPointStart(ForkPoint *p, uint64_t seq, const char *file, uint64_t pos, const char *state) {
    memset(p, 0, sizeof(*p));
    p->found = true;
    p->seq = seq;
    snprintf(p->file, sizeof(p->file), "%s", file ? file : "");
    p->pos = pos;
    p->gtidState = bvStrdup(state ? state : "");
}

void
forkPointAdd(ForkPoint *p, const ForkHistory *h, uint64_t seq, const char *file, const BinlogTxn *t,
             const char *stateAfter) {
    if (seq != p->scanSeq) {
        p->scanSeq = seq;
        p->scanCount = 0;
    }
    p->scanCount++;
    if (p->transactions == 0 && forkHistoryHasGtid(h, t->gtid)) {
        p->seq = seq;
        snprintf(p->gtid, sizeof(p->gtid), "%s", t->gtid);
        p->timeUs = t->commitTimeUs;
        p->inSegment = p->scanCount;
        snprintf(p->file, sizeof(p->file), "%s", file);
        p->pos = t->endPos;
        bvFree(p->gtidState);
        p->gtidState = bvStrdup(stateAfter ? stateAfter : "");
        return;
    }
    if (p->transactions++ == 0) {
        p->firstSeq = seq;
        snprintf(p->firstGtid, sizeof(p->firstGtid), "%s", t->gtid);
        p->firstTimeUs = p->lastTimeUs = t->commitTimeUs;
    }
    p->lastSeq = seq;
    snprintf(p->lastGtid, sizeof(p->lastGtid), "%s", t->gtid);
    if (t->commitTimeUs < p->firstTimeUs)
        p->firstTimeUs = t->commitTimeUs;
    if (t->commitTimeUs > p->lastTimeUs)
        p->lastTimeUs = t->commitTimeUs;
}

void
forkPointDescribe(const ForkPoint *p, char *out, size_t size) {
    char from[64], to[64];

    if (p->transactions == 0) {
        snprintf(out, size, "no transaction was lost");
        return;
    }
    timeFormatUtc(p->firstTimeUs, false, from, sizeof(from));
    timeFormatUtc(p->lastTimeUs, false, to, sizeof(to));
    snprintf(out, size, "%" PRIu64 " transaction%s committed on the old source %s lost in the failover: %s..%s "
             "(committed %s..%s UTC, segments %" PRIu64 "..%" PRIu64 ")", p->transactions,
             p->transactions == 1 ? "" : "s", p->transactions == 1 ? "was" : "were", p->firstGtid, p->lastGtid, from,
             to, p->firstSeq, p->lastSeq);
}

void
forkPointClear(ForkPoint *p) {
    bvFree(p->gtidState);
    p->gtidState = NULL;
}
