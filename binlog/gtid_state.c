/*
 * GTID states of either flavour (binlog/gtid.h, "GTID states of either flavour"): the one
 * dispatch between MariaDB positions and MySQL GTID sets, kept apart from gtid.c, which holds the
 * two representations themselves.
 */
#include <string.h>

#include "binlog/gtid.h"
#include "common/mem.h"

struct GtidState {
    BinlogFlavour flavour;
    MariaGtidPos *maria; /* MariaDB */
    GtidSet *set;        /* MySQL */
};

static bool
flavourKnown(BinlogFlavour flavour) {
    return flavour == BINLOG_FLAVOUR_MARIADB || flavour == BINLOG_FLAVOUR_MYSQL;
}

GtidState *
gtidStateNew(BinlogFlavour flavour) {
    GtidState *s;

    BV_ASSERT(flavourKnown(flavour));
    s = bvCalloc(1, sizeof(*s));
    s->flavour = flavour;
    if (flavour == BINLOG_FLAVOUR_MARIADB)
        s->maria = mariaGtidPosNew();
    else
        s->set = gtidSetNew();
    return s;
}

GtidState *
gtidStateParse(BinlogFlavour flavour, const char *text, Err *err) {
    GtidState *s;
    int rc;

    if (!flavourKnown(flavour)) {
        errSet(err, ERR_INTERNAL, "gtid state of an unknown flavour");
        return NULL;
    }
    s = gtidStateNew(flavour);
    if (text == NULL)
        text = "";
    rc = flavour == BINLOG_FLAVOUR_MARIADB ? mariaGtidPosParse(s->maria, text, err) : gtidSetParse(s->set, text, err);
    if (rc != 0) {
        gtidStateFree(s);
        return NULL;
    }
    return s;
}

GtidState *
gtidStateDup(const GtidState *s) {
    GtidState *d = bvCalloc(1, sizeof(*d));

    d->flavour = s->flavour;
    d->maria = s->maria ? mariaGtidPosDup(s->maria) : NULL;
    d->set = s->set ? gtidSetDup(s->set) : NULL;
    return d;
}

BinlogFlavour
gtidStateFlavour(const GtidState *s) {
    return s->flavour;
}

const MariaGtidPos *
gtidStateMaria(const GtidState *s) {
    return s->maria;
}

const GtidSet *
gtidStateSet(const GtidState *s) {
    return s->set;
}

bool
gtidStateIsEmpty(const GtidState *s) {
    return s->maria ? mariaGtidPosCount(s->maria) == 0 : gtidSetIsEmpty(s->set);
}

char *
gtidStateFormat(const GtidState *s) {
    return s->maria ? mariaGtidPosFormat(s->maria) : gtidSetFormatSep(s->set, ",");
}

static void
sameFlavour(const GtidState *a, const GtidState *b) {
    BV_ASSERT(a->flavour == b->flavour);
}

bool
gtidStateEqual(const GtidState *a, const GtidState *b) {
    sameFlavour(a, b);
    return a->maria ? mariaGtidPosEqual(a->maria, b->maria) : gtidSetEqual(a->set, b->set);
}

bool
gtidStateContains(const GtidState *state, const GtidState *part) {
    sameFlavour(state, part);
    return state->maria ? mariaGtidPosReached(state->maria, part->maria) : gtidSetIsSubset(part->set, state->set);
}

bool
gtidStateContainsAny(const GtidState *state, const GtidState *part) {
    sameFlavour(state, part);
    if (state->maria) {
        for (size_t i = 0; i < mariaGtidPosCount(part->maria); i++) {
            MariaGtid g;

            mariaGtidPosAt(part->maria, i, &g);
            if (mariaGtidPosContains(state->maria, &g))
                return true;
        }
        return false;
    }
    GtidSet *left = gtidSetDup(part->set);
    bool any;

    gtidSetSubtract(left, state->set);
    any = !gtidSetEqual(left, part->set);
    gtidSetFree(left);
    return any;
}

uint64_t
gtidStateCount(const GtidState *from, const GtidState *to) {
    uint64_t n = 0;

    sameFlavour(from, to);
    if (to->maria) {
        for (size_t i = 0; i < mariaGtidPosCount(to->maria); i++) {
            MariaGtid g, have;

            mariaGtidPosAt(to->maria, i, &g);
            if (!mariaGtidPosGet(from->maria, g.domain, &have))
                have.seq = 0;
            if (g.seq > have.seq)
                n = g.seq - have.seq > UINT64_MAX - n ? UINT64_MAX : n + (g.seq - have.seq);
        }
        return n;
    }
    GtidSet *d = gtidSetDup(to->set);

    gtidSetSubtract(d, from->set);
    n = gtidSetCount(d);
    gtidSetFree(d);
    return n;
}

void
gtidStateSubtract(GtidState *dst, const GtidState *src) {
    sameFlavour(dst, src);
    if (dst->set) {
        gtidSetSubtract(dst->set, src->set);
        return;
    }
    MariaGtidPos *left = mariaGtidPosNew();

    for (size_t i = 0; i < mariaGtidPosCount(dst->maria); i++) {
        MariaGtid g;

        mariaGtidPosAt(dst->maria, i, &g);
        if (!mariaGtidPosContains(src->maria, &g))
            mariaGtidPosUpdate(left, &g);
    }
    mariaGtidPosFree(dst->maria);
    dst->maria = left;
}

void
gtidStateFree(GtidState *s) {
    if (s == NULL)
        return;
    mariaGtidPosFree(s->maria);
    gtidSetFree(s->set);
    bvFree(s);
}

/* Parse a and b of flavour; -1 (nothing to free) when either does not parse. */
static int
parseTwo(BinlogFlavour flavour, const char *a, const char *b, GtidState **sa, GtidState **sb, Err *err) {
    if ((*sa = gtidStateParse(flavour, a, err)) == NULL)
        return -1;
    if ((*sb = gtidStateParse(flavour, b, err)) == NULL) {
        gtidStateFree(*sa);
        return -1;
    }
    return 0;
}

int
gtidStateTextContains(BinlogFlavour flavour, const char *state, const char *part, bool *contains, Err *err) {
    GtidState *s, *p;

    if (parseTwo(flavour, state, part, &s, &p, err) != 0)
        return -1;
    *contains = gtidStateContains(s, p);
    gtidStateFree(s);
    gtidStateFree(p);
    return 0;
}

int
gtidStateTextEqual(BinlogFlavour flavour, const char *a, const char *b, bool *equal, Err *err) {
    GtidState *sa, *sb;

    if (parseTwo(flavour, a, b, &sa, &sb, err) != 0)
        return -1;
    *equal = gtidStateEqual(sa, sb);
    gtidStateFree(sa);
    gtidStateFree(sb);
    return 0;
}

int
gtidStateTextCount(BinlogFlavour flavour, const char *from, const char *to, uint64_t *count, Err *err) {
    GtidState *f, *t;

    *count = 0;
    if (parseTwo(flavour, from, to, &f, &t, err) != 0)
        return -1;
    *count = gtidStateCount(f, t);
    gtidStateFree(f);
    gtidStateFree(t);
    return 0;
}
