/*
 * Point-in-time recovery: inputs, planning and the engine that drives the target (recover.h).
 *
 * Why the target's own replication applier: it applies binlog events as events (row images,
 * no re-parsing of SQL text), in one server-side thread, with the GTIDs preserved in
 * gtid_slave_pos, several times faster than piping mariadb-binlog into a client
 * (docs/BENCHMARKS.md), and it stops exactly at START SLAVE UNTIL master_gtid_pos.
 */
#include "recover/recover.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/continuity.h"
#include "archive/gtidstate.h"
#include "archive/identity.h"
#include "archive/lookup.h"
#include "binlog/gtid.h"
#include "common/json.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/replserver.h"
#include "recover/source.h"

#define BACKUP_INFO_MAX (1024 * 1024)
/* Statement text is not needed to plan: only GTIDs, times and positions. */
#define PLAN_TEXT_MAX 64

/* ---- Times and positions ------------------------------------------------------------------------ */

static bool
tzNameValid(const char *name) {
    if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL || strlen(name) >= sizeof(((RecoverTz *)0)->name))
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
            return false;
    return true;
}

int
recoverTzParse(const char *text, RecoverTz *tz, Err *err) {
    memset(tz, 0, sizeof(*tz));
    if (text == NULL || text[0] == '\0' || strcmp(text, "UTC") == 0 || strcmp(text, "utc") == 0 ||
        strcmp(text, "Z") == 0) {
        tz->kind = RECOVER_TZ_UTC;
        snprintf(tz->name, sizeof(tz->name), "UTC");
        return 0;
    }
    if (text[0] == '+' || text[0] == '-') {
        const char *d = text + 1;
        size_t len = strlen(d);
        int h = -1, m = -1;

        if (len == 2 && isdigit((unsigned char)d[0]) && isdigit((unsigned char)d[1]))
            h = (d[0] - '0') * 10 + d[1] - '0', m = 0;
        else if ((len == 4 || (len == 5 && d[2] == ':')) && isdigit((unsigned char)d[0]) &&
                 isdigit((unsigned char)d[1]) && isdigit((unsigned char)d[len - 2]) && isdigit((unsigned char)d[len - 1]))
            h = (d[0] - '0') * 10 + d[1] - '0', m = (d[len - 2] - '0') * 10 + d[len - 1] - '0';
        if (h >= 0 && h <= 14 && m >= 0 && m < 60) {
            tz->kind = RECOVER_TZ_OFFSET;
            tz->offsetSeconds = (text[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
            snprintf(tz->name, sizeof(tz->name), "%s", text);
            return 0;
        }
        return errSet(err, ERR_USAGE, "invalid time zone '%s': expected UTC, an offset like +02:00, or a name like Europe/Paris",
                      text);
    }
    if (tzNameValid(text)) {
        const char *dir = getenv("TZDIR");
        char path[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir && dir[0] ? dir : "/usr/share/zoneinfo", text);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            tz->kind = RECOVER_TZ_NAMED;
            snprintf(tz->name, sizeof(tz->name), "%s", text);
            return 0;
        }
        return errSet(err, ERR_USAGE, "unknown time zone '%s': '%s' does not exist (install tzdata, or give an offset "
                      "like +02:00)", text, path);
    }
    return errSet(err, ERR_USAGE, "invalid time zone '%s': expected UTC, an offset like +02:00, or a name like Europe/Paris",
                  text);
}

/* Switch the process's TZ to a named zone and back (localtime/mktime have no zone argument). */
typedef struct TzSaved {
    bool had;
    char *value;
} TzSaved;

static TzSaved
tzPush(const char *name) {
    TzSaved saved = {0};
    const char *old = getenv("TZ");

    saved.had = old != NULL;
    saved.value = old ? bvStrdup(old) : NULL;
    setenv("TZ", name, 1);
    tzset();
    return saved;
}

static void
tzPop(TzSaved *saved) {
    if (saved->had)
        setenv("TZ", saved->value, 1);
    else
        unsetenv("TZ");
    tzset();
    bvFree(saved->value);
}

static bool
leap(int y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int
recoverTimeParse(const char *text, const RecoverTz *tz, uint64_t *us, Err *err) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h, m, s, n = 0;
    uint32_t frac = 0;
    const char *p;
    struct tm tm = {0};
    time_t t;

    if (sscanf(text, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3 || n != 10 || (text[10] != ' ' && text[10] != 'T'))
        goto bad;
    if (sscanf(text + 11, "%2d:%2d:%2d%n", &h, &m, &s, &n) != 3 || n != 8)
        goto bad;
    for (int i = 0; i < 19; i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !isdigit((unsigned char)text[i]))
            goto bad;
    p = text + 19;
    if (*p == '.') {
        int digits = 0;

        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            if (digits == 6)
                goto bad;
            frac = frac * 10 + (uint32_t)(*p - '0');
        }
        if (digits == 0)
            goto bad;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if (*p != '\0')
        goto bad;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > days[M - 1] + (M == 2 && leap(Y)) || h > 23 || m > 59 || s > 59)
        return errSet(err, ERR_USAGE, "invalid time '%s': no such date or time", text);
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = s;
    if (tz->kind == RECOVER_TZ_NAMED) {
        TzSaved saved = tzPush(tz->name);

        tm.tm_isdst = -1;
        t = mktime(&tm);
        tzPop(&saved);
    } else {
        t = timegm(&tm) - (tz->kind == RECOVER_TZ_OFFSET ? tz->offsetSeconds : 0);
    }
    if (t < 0)
        return errSet(err, ERR_USAGE, "invalid time '%s': before 1970", text);
    *us = (uint64_t)t * 1000000u + frac;
    return 0;
bad:
    return errSet(err, ERR_USAGE, "invalid time '%s': expected 'YYYY-MM-DD HH:MM:SS[.ffffff]'", text);
}

void
recoverTimeFormat(uint64_t us, const RecoverTz *tz, bool micro, char *out, size_t size) {
    time_t sec = (time_t)(us / 1000000u);
    struct tm tm;
    size_t n;

    if (tz != NULL && tz->kind == RECOVER_TZ_NAMED) {
        TzSaved saved = tzPush(tz->name);

        localtime_r(&sec, &tm);
        tzPop(&saved);
    } else {
        if (tz != NULL && tz->kind == RECOVER_TZ_OFFSET)
            sec += tz->offsetSeconds;
        gmtime_r(&sec, &tm);
    }
    n = strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
    if (micro && n + 8 <= size)
        snprintf(out + n, size - n, ".%06u", (unsigned)(us % 1000000u));
}

int
recoverPositionParse(const char *text, char *file, size_t fileSize, uint64_t *pos, Err *err) {
    const char *colon = strrchr(text, ':');
    char *end;
    size_t len;

    if (colon == NULL || colon == text || colon[1] == '\0' || !isdigit((unsigned char)colon[1]))
        goto bad;
    len = (size_t)(colon - text);
    if (len >= fileSize)
        goto bad;
    memcpy(file, text, len);
    file[len] = '\0';
    errno = 0;
    *pos = strtoull(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || !segmentFileNameValid(file))
        goto bad;
    return 0;
bad:
    return errSet(err, ERR_USAGE, "invalid position '%s': expected FILE:POS, e.g. mariadb-bin.000003:256", text);
}

/* ---- Base backups ---------------------------------------------------------------------------- */

static int
backupInfoFile(const char *dir, const char *name, ArchiveBasePoint *bp, bool *found, Err *err) {
    char *path = bvSprintf("%s/%s", dir, name);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    *found = false;
    rc = fsReadFile(path, BACKUP_INFO_MAX, &data, &len, err);
    if (rc != 0 && err->code == ERR_NOTFOUND) {
        bvFree(path);
        errClear(err);
        return 0;
    }
    if (rc == 0) {
        *found = true;
        if (archiveBasePointParse((const char *)data, len, bp, err) != 0)
            rc = errPrefix(err, "'%s'", path);
    }
    bvFree(data);
    bvFree(path);
    return rc;
}

int
recoverBaseDirRead(const char *dir, ArchiveBasePoint *bp, const char **source, Err *err) {
    static const char *const names[2] = {"xtrabackup_binlog_info", "mariadb_backup_binlog_info"};
    ArchiveBasePoint got[2];
    bool have[2];
    struct stat st;

    memset(bp, 0, sizeof(*bp));
    memset(got, 0, sizeof(got));
    if (stat(dir, &st) != 0)
        return errSetSys(err, errno == ENOENT ? ERR_NOTFOUND : ERR_IO, errno, "base backup directory '%s'", dir);
    if (!S_ISDIR(st.st_mode))
        return errSet(err, ERR_USAGE, "base backup '%s' is not a directory", dir);
    for (int i = 0; i < 2; i++) {
        if (backupInfoFile(dir, names[i], &got[i], &have[i], err) != 0) {
            archiveBasePointClear(&got[0]);
            return -1;
        }
    }
    if (!have[0] && !have[1])
        return errSet(err, ERR_NOTFOUND,
                      "base backup '%s' holds neither xtrabackup_binlog_info nor mariadb_backup_binlog_info: was it taken "
                      "from a server with binary logging on? (give the start with --from-gtid instead)", dir);
    if (have[0] && have[1] &&
        (strcmp(got[0].file, got[1].file) != 0 || got[0].pos != got[1].pos || strcmp(got[0].gtid, got[1].gtid) != 0)) {
        errSet(err, ERR_CONFIG,
               "base backup '%s': xtrabackup_binlog_info says %s:%" PRIu64 " '%s' and mariadb_backup_binlog_info says "
               "%s:%" PRIu64 " '%s': give the start with --from-gtid", dir, got[0].file, got[0].pos, got[0].gtid,
               got[1].file, got[1].pos, got[1].gtid);
        archiveBasePointClear(&got[0]);
        archiveBasePointClear(&got[1]);
        return -1;
    }
    *bp = have[0] ? got[0] : got[1];
    *source = have[0] ? names[0] : names[1];
    if (have[0])
        archiveBasePointClear(&got[1]);
    return 0;
}

/* ---- GTID states ----------------------------------------------------------------------------- */

/* A parsed GTID state of either flavour. */
typedef struct GState {
    BinlogFlavour flavour;
    MariaGtidPos *maria;
    GtidSet *set;
} GState;

static int
gstateParse(BinlogFlavour flavour, const char *text, GState *g, Err *err) {
    memset(g, 0, sizeof(*g));
    g->flavour = flavour;
    if (flavour == BINLOG_FLAVOUR_MARIADB) {
        g->maria = mariaGtidPosNew();
        if (mariaGtidPosParse(g->maria, text ? text : "", err) != 0) {
            mariaGtidPosFree(g->maria);
            g->maria = NULL;
            return -1;
        }
        return 0;
    }
    if (flavour == BINLOG_FLAVOUR_MYSQL) {
        g->set = gtidSetNew();
        if (gtidSetParse(g->set, text ? text : "", err) != 0) {
            gtidSetFree(g->set);
            g->set = NULL;
            return -1;
        }
        return 0;
    }
    return errSet(err, ERR_INTERNAL, "gtid state of an unknown flavour");
}

static void
gstateFree(GState *g) {
    mariaGtidPosFree(g->maria);
    gtidSetFree(g->set);
    g->maria = NULL;
    g->set = NULL;
}

/* Every transaction of target is in state. */
static bool
gstateReached(const GState *state, const GState *target) {
    if (state->flavour == BINLOG_FLAVOUR_MARIADB)
        return mariaGtidPosReached(state->maria, target->maria);
    return gtidSetIsSubset(target->set, state->set);
}

/* Some transaction of target is in state. */
static bool
gstateAnyReached(const GState *state, const GState *target) {
    if (state->flavour == BINLOG_FLAVOUR_MARIADB) {
        for (size_t i = 0; i < mariaGtidPosCount(target->maria); i++) {
            MariaGtid g;

            mariaGtidPosAt(target->maria, i, &g);
            if (mariaGtidPosContains(state->maria, &g))
                return true;
        }
        return false;
    } else {
        GtidSet *left = gtidSetDup(target->set);
        bool any;

        gtidSetSubtract(left, state->set);
        any = !gtidSetEqual(left, target->set);
        gtidSetFree(left);
        return any;
    }
}

static int
gstateParseText(BinlogFlavour flavour, const char *text, GState *g, const char *what, Err *err) {
    if (gstateParse(flavour, text, g, err) != 0)
        return errPrefix(err, "%s", what);
    return 0;
}

int
recoverGtidCount(BinlogFlavour flavour, const char *from, const char *to, uint64_t *count, Err *err) {
    GState a, b;

    *count = 0;
    if (gstateParseText(flavour, from, &a, "gtid state", err) != 0)
        return -1;
    if (gstateParseText(flavour, to, &b, "gtid state", err) != 0) {
        gstateFree(&a);
        return -1;
    }
    if (flavour == BINLOG_FLAVOUR_MARIADB) {
        for (size_t i = 0; i < mariaGtidPosCount(b.maria); i++) {
            MariaGtid g, have;

            mariaGtidPosAt(b.maria, i, &g);
            if (!mariaGtidPosGet(a.maria, g.domain, &have))
                have.seq = 0;
            if (g.seq > have.seq)
                *count += g.seq - have.seq;
        }
    } else {
        GtidSet *d = gtidSetDup(b.set);

        gtidSetSubtract(d, a.set);
        *count = gtidSetCount(d);
        gtidSetFree(d);
    }
    gstateFree(&a);
    gstateFree(&b);
    return 0;
}

/* Whether the transaction `gtid` (its own GTID text) is in state. "" (no GTID) is in no state. */
static int
txnInState(const GState *state, const char *gtid, bool *in, Err *err) {
    *in = false;
    if (gtid[0] == '\0')
        return 0;
    if (state->flavour == BINLOG_FLAVOUR_MARIADB) {
        MariaGtid g;

        if (mariaGtidParse(gtid, &g, err) != 0)
            return -1;
        *in = mariaGtidPosContains(state->maria, &g);
        return 0;
    } else {
        GtidSet *one = gtidSetNew();
        int rc = gtidSetParse(one, gtid, err);

        if (rc == 0)
            *in = gtidSetIsSubset(one, state->set);
        gtidSetFree(one);
        return rc;
    }
}

int
recoverChooseStart(BinlogFlavour flavour, const char *explicitStart, const char *targetPos, const char *archiveEnd,
                   char **start, const char **why, Err *err) {
    GState e, t, end;
    bool ahead;

    *start = NULL;
    if (targetPos == NULL)
        targetPos = "";
    if (explicitStart == NULL) {
        if (targetPos[0] == '\0')
            return errSet(err, ERR_USAGE,
                          "no start point: the target's gtid_slave_pos is empty (as on a server restored from a backup): "
                          "give --base-dir DIR (the prepared backup it was restored from), --from-gtid or --from-position");
        *start = bvStrdup(targetPos);
        *why = "the target's gtid_slave_pos: continuing an earlier recovery";
        return 0;
    }
    if (gstateParseText(flavour, explicitStart, &e, "start", err) != 0)
        return -1;
    *start = bvStrdup(explicitStart);
    *why = "the given start";
    /* An empty or unreadable position on the target is replaced by the start. */
    if (targetPos[0] == '\0' || gstateParse(flavour, targetPos, &t, err) != 0) {
        errClear(err);
        gstateFree(&e);
        return 0;
    }
    if (gstateParse(flavour, archiveEnd ? archiveEnd : "", &end, err) != 0) {
        errClear(err);
        gstateFree(&e);
        gstateFree(&t);
        return 0;
    }
    /* Past the start along the archived history: an earlier run applied that far. A position
     * the archive never reached is stale (or foreign), and replaced. */
    ahead = gstateReached(&t, &e) && !gstateReached(&e, &t) && gstateReached(&end, &t);
    gstateFree(&e);
    gstateFree(&t);
    gstateFree(&end);
    if (!ahead)
        return 0;
    bvFree(*start);
    *start = NULL;
    return errSet(err, ERR_USAGE,
                  "the target's gtid_slave_pos '%s' is past the given start '%s' along the archived history: an earlier "
                  "recovery applied up to there. To continue it, run the same command without --base-dir / --from-gtid "
                  "/ --from-position; to start over, restore the base backup again (or, if that position is stale, "
                  "clear it with SET GLOBAL gtid_slave_pos='')",
                  targetPos, explicitStart);
}

/* ---- Planning ------------------------------------------------------------------------------------ */

typedef enum Cut { CUT_INCLUDE = 0, CUT_INCLUDE_STOP, CUT_BEFORE } Cut;

struct RecoverPlan {
    const ArchiveCatalog *c;
    BinlogFlavour flavour;
    RecoverTarget target;
    char *targetGtid;
    char *start;
    GState startState;
    GState targetState; /* GTID targets */
    size_t n;
    size_t first;       /* segment of the first transaction not in start; n when none */
    size_t boundary;    /* segment of the cut */
    bool scanFirst, scanBoundary;

    bool haveFirst;     /* the first transaction to apply, found by the scan */
    char firstGtid[BINLOG_TXN_GTID_MAX];
    char firstFile[SEGMENT_FILE_MAX];
    uint64_t firstTimeUs, firstPos;

    bool cutDone;       /* the scan placed the cut */
    bool included;      /* ... after at least one transaction of the boundary segment */
    char *cutState;     /* GTID state after the last transaction included */
    bool haveLast;
    char lastGtid[BINLOG_TXN_GTID_MAX];
    char lastFile[SEGMENT_FILE_MAX];
    uint64_t lastTimeUs, lastEndPos;

    bool finished;
    char *until;
    RecoverPlanInfo info;
};

static void
isoUtc(uint64_t us, char *out, size_t size) {
    RecoverTz utc = {.kind = RECOVER_TZ_UTC};

    if (us == 0) {
        snprintf(out, size, "-");
        return;
    }
    recoverTimeFormat(us, &utc, us % 1000000u != 0, out, size);
    snprintf(out + strlen(out), size - strlen(out), " UTC");
}

/* "time 2026-11-21 14:03:00 UTC (exclusive)" and the like, for messages. */
static void
targetDescribe(const RecoverTarget *t, char *out, size_t size) {
    char when[48];

    switch (t->kind) {
    case RECOVER_UNTIL_TIME:
        isoUtc(t->timeUs, when, sizeof(when));
        snprintf(out, size, "time %s", when);
        break;
    case RECOVER_UNTIL_GTID: snprintf(out, size, "gtid '%s'", t->gtid ? t->gtid : ""); break;
    case RECOVER_UNTIL_POSITION: snprintf(out, size, "position %s:%" PRIu64, t->file, t->pos); break;
    case RECOVER_UNTIL_END: snprintf(out, size, "the end of the archive"); break;
    default: snprintf(out, size, "no target"); break;
    }
    if (t->exclusive && t->kind != RECOVER_UNTIL_END)
        snprintf(out + strlen(out), size - strlen(out), ", exclusive");
}

static int
segmentState(const RecoverPlan *p, const SegmentMeta *m, bool end, GState *g, Err *err) {
    if (gstateParse(p->flavour, end ? segmentMetaGtidEnd(m) : segmentMetaGtidStart(m), g, err) != 0)
        return errPrefix(err, "segment '%s': gtid_%s", m->name, end ? "end" : "start");
    return 0;
}

/* The first segment holding a transaction that the start does not. */
static int
locateFirst(RecoverPlan *p, Err *err) {
    p->first = p->n;
    for (size_t i = 0; i < p->n; i++) {
        const SegmentMeta *m = archiveCatalogAt(p->c, i);
        GState end;
        bool held;

        if (segmentMetaGtidEnd(m)[0] == '\0') {
            if (m->transactions == 0)
                continue;
            p->first = i;
            return 0;
        }
        if (segmentState(p, m, true, &end, err) != 0)
            return -1;
        held = gstateReached(&p->startState, &end);
        gstateFree(&end);
        if (!held) {
            p->first = i;
            return 0;
        }
    }
    return 0;
}

static int
locateGtid(RecoverPlan *p, Err *err) {
    for (size_t i = 0; i < p->n; i++) {
        const SegmentMeta *m = archiveCatalogAt(p->c, i);
        GState end;
        bool hit;

        if (segmentMetaGtidEnd(m)[0] == '\0')
            continue;
        if (segmentState(p, m, true, &end, err) != 0)
            return -1;
        hit = p->target.exclusive ? gstateAnyReached(&end, &p->targetState) : gstateReached(&end, &p->targetState);
        gstateFree(&end);
        if (hit) {
            p->boundary = i;
            return 0;
        }
    }
    return errSet(err, ERR_NOTFOUND, "gtid '%s' is after the end of the archive, which ends at gtid state '%s'",
                  p->target.gtid, segmentMetaGtidEnd(archiveCatalogAt(p->c, p->n - 1)));
}

static int
locateTime(RecoverPlan *p, Err *err) {
    uint64_t t = p->target.timeUs, firstUs = 0, lastUs = 0;
    bool found = false, any = false;
    char when[48], bound[48];

    for (size_t i = 0; i < p->n; i++) {
        const SegmentMeta *m = archiveCatalogAt(p->c, i);

        if (m->transactions == 0)
            continue;
        if (!any)
            firstUs = m->firstTimeUs;
        any = true;
        lastUs = m->lastTimeUs;
        if (p->target.exclusive ? m->firstTimeUs < t : m->firstTimeUs <= t) {
            p->boundary = i;
            found = true;
        }
    }
    isoUtc(t, when, sizeof(when));
    if (!any)
        return errSet(err, ERR_NOTFOUND, "time %s is not in the archive: it holds no transaction", when);
    if (!found) {
        isoUtc(firstUs, bound, sizeof(bound));
        return errSet(err, ERR_NOTFOUND, "time %s is before the first archived commit (%s)", when, bound);
    }
    if (t > lastUs) {
        isoUtc(lastUs, bound, sizeof(bound));
        return errSet(err, ERR_NOTFOUND,
                      "time %s is after the last archived commit (%s): the archive does not know what was committed "
                      "after it (--until-end recovers everything archived)", when, bound);
    }
    return 0;
}

/* The last byte a transaction may end at to be applied. */
static uint64_t
positionLimit(const RecoverTarget *t) {
    return t->exclusive ? t->pos - 1 : t->pos;
}

static int
locatePosition(RecoverPlan *p, Err *err) {
    uint64_t limit;

    if (p->target.pos <= BINLOG_MAGIC_LEN + (p->target.exclusive ? 1u : 0u))
        return errSet(err, ERR_NOTFOUND, "position %s:%" PRIu64 " is before the file's first event", p->target.file,
                      p->target.pos);
    limit = positionLimit(&p->target);
    /* The segment holding the last byte a transaction may end at. */
    if (archiveCatalogFindPosition(p->c, p->target.file, limit - 1, &p->boundary, err) != 0)
        return -1;
    return 0;
}

RecoverPlan *
recoverPlanNew(const ArchiveCatalog *c, const char *start, const RecoverTarget *target, Err *err) {
    RecoverPlan *p;
    int rc = -1;

    if (archiveCatalogCount(c) == 0) {
        errSet(err, ERR_NOTFOUND, "the archive holds no segment");
        return NULL;
    }
    p = bvCalloc(1, sizeof(*p));
    p->c = c;
    p->n = archiveCatalogCount(c);
    p->flavour = archiveCatalogFlavour(c);
    p->start = bvStrdup(start ? start : "");
    p->target = *target;
    if (target->gtid != NULL) {
        p->targetGtid = bvStrdup(target->gtid);
        p->target.gtid = p->targetGtid;
    }
    if (gstateParseText(p->flavour, p->start, &p->startState, "start gtid state", err) != 0)
        goto done;
    switch (p->target.kind) {
    case RECOVER_UNTIL_GTID:
        if (p->targetGtid == NULL || strspn(p->targetGtid, " \t\n,") == strlen(p->targetGtid)) {
            errSet(err, ERR_USAGE, "empty --until-gtid");
            goto done;
        }
        if (gstateParseText(p->flavour, p->targetGtid, &p->targetState, "--until-gtid", err) != 0)
            goto done;
        break;
    case RECOVER_UNTIL_TIME:
    case RECOVER_UNTIL_POSITION:
    case RECOVER_UNTIL_END: break;
    default:
        errSet(err, ERR_USAGE, "no target: give --until-time, --until-gtid, --until-position or --until-end");
        goto done;
    }
    if (locateFirst(p, err) != 0)
        goto done;
    switch (p->target.kind) {
    case RECOVER_UNTIL_GTID: rc = locateGtid(p, err); break;
    case RECOVER_UNTIL_TIME: rc = locateTime(p, err); break;
    case RECOVER_UNTIL_POSITION: rc = locatePosition(p, err); break;
    default: p->boundary = p->n - 1; rc = 0; break;
    }
    if (rc != 0)
        goto done;
    p->scanBoundary = p->target.kind != RECOVER_UNTIL_END;
    /* The first segment is read to find the first transaction to apply, unless the cut comes
     * before it anyway (the target is then before the start). */
    p->scanFirst = p->first < p->n && p->first <= p->boundary;
done:
    if (rc != 0) {
        recoverPlanFree(p);
        return NULL;
    }
    return p;
}

size_t
recoverPlanScans(const RecoverPlan *p, size_t out[2]) {
    size_t n = 0;

    if (p->scanFirst)
        out[n++] = p->first;
    if (p->scanBoundary && (n == 0 || out[0] != p->boundary))
        out[n++] = p->boundary;
    return n;
}

/* MariaDB: the transaction is at or past the target's GTID of its domain; MySQL: it is one of
 * the target's. */
static int
txnReaches(const GState *target, const char *gtid, bool *yes, Err *err) {
    *yes = false;
    if (gtid[0] == '\0')
        return 0;
    if (target->flavour == BINLOG_FLAVOUR_MARIADB) {
        MariaGtid g, want;

        if (mariaGtidParse(gtid, &g, err) != 0)
            return -1;
        *yes = mariaGtidPosGet(target->maria, g.domain, &want) && g.seq >= want.seq;
        return 0;
    }
    return txnInState(target, gtid, yes, err);
}

static int
cutDecide(RecoverPlan *p, size_t idx, const BinlogTxn *t, const char *stateAfter, Cut *cut, Err *err) {
    const RecoverTarget *tg = &p->target;
    bool yes;

    *cut = CUT_INCLUDE;
    switch (tg->kind) {
    case RECOVER_UNTIL_TIME:
        if (tg->exclusive ? t->commitTimeUs >= tg->timeUs : t->commitTimeUs > tg->timeUs)
            *cut = CUT_BEFORE;
        return 0;
    case RECOVER_UNTIL_POSITION: {
        int cmp = segmentFileCompare(archiveCatalogAt(p->c, idx)->file, tg->file);

        if (cmp > 0 || (cmp == 0 && t->endPos > positionLimit(tg)))
            *cut = CUT_BEFORE;
        return 0;
    }
    case RECOVER_UNTIL_GTID:
        if (tg->exclusive) {
            if (txnReaches(&p->targetState, t->gtid, &yes, err) != 0)
                return errPrefix(err, "transaction gtid");
            if (yes)
                *cut = CUT_BEFORE;
            return 0;
        }
        {
            GState after;

            if (gstateParseText(p->flavour, stateAfter, &after, "gtid state", err) != 0)
                return -1;
            if (gstateReached(&after, &p->targetState))
                *cut = CUT_INCLUDE_STOP;
            gstateFree(&after);
        }
        return 0;
    default: return 0;
    }
}

int
recoverPlanFeed(RecoverPlan *p, size_t idx, const BinlogTxn *t, const char *stateAfter, Err *err) {
    const SegmentMeta *m = archiveCatalogAt(p->c, idx);

    if (p->scanFirst && idx == p->first && !p->haveFirst) {
        bool held;

        if (txnInState(&p->startState, t->gtid, &held, err) != 0)
            return errPrefix(err, "segment '%s': transaction gtid", m->name);
        if (!held) {
            p->haveFirst = true;
            snprintf(p->firstGtid, sizeof(p->firstGtid), "%s", t->gtid);
            snprintf(p->firstFile, sizeof(p->firstFile), "%s", m->file);
            p->firstTimeUs = t->commitTimeUs;
            p->firstPos = t->startPos;
        }
    }
    if (p->scanBoundary && idx == p->boundary && !p->cutDone) {
        Cut cut;

        if (cutDecide(p, idx, t, stateAfter, &cut, err) != 0)
            return errPrefix(err, "segment '%s'", m->name);
        if (cut != CUT_BEFORE) {
            p->included = true;
            bvFree(p->cutState);
            p->cutState = bvStrdup(stateAfter ? stateAfter : "");
            p->haveLast = true;
            snprintf(p->lastGtid, sizeof(p->lastGtid), "%s", t->gtid);
            snprintf(p->lastFile, sizeof(p->lastFile), "%s", m->file);
            p->lastTimeUs = t->commitTimeUs;
            p->lastEndPos = t->endPos;
        }
        if (cut != CUT_INCLUDE)
            p->cutDone = true;
    }
    if ((!p->scanFirst || idx != p->first || p->haveFirst) && (!p->scanBoundary || idx != p->boundary || p->cutDone))
        return 1;
    return 0;
}

/* The last transaction of the segments up to `upto`, from the index. */
static void
lastFromIndex(RecoverPlan *p, size_t upto) {
    for (size_t i = upto + 1; i-- > 0;) {
        const SegmentMeta *m = archiveCatalogAt(p->c, i);

        if (m->transactions == 0)
            continue;
        p->haveLast = true;
        snprintf(p->lastGtid, sizeof(p->lastGtid), "%s", m->lastGtid);
        snprintf(p->lastFile, sizeof(p->lastFile), "%s", m->file);
        p->lastTimeUs = m->lastTimeUs;
        p->lastEndPos = m->endPos;
        return;
    }
}

/* The first transaction of the segments from `from` on, from the index. */
static void
firstFromIndex(RecoverPlan *p, size_t from, size_t to) {
    for (size_t i = from; i <= to && i < p->n; i++) {
        const SegmentMeta *m = archiveCatalogAt(p->c, i);

        if (m->transactions == 0)
            continue;
        p->haveFirst = true;
        snprintf(p->firstGtid, sizeof(p->firstGtid), "%s", m->firstGtid);
        snprintf(p->firstFile, sizeof(p->firstFile), "%s", m->file);
        p->firstTimeUs = m->firstTimeUs;
        p->firstPos = m->startPos;
        return;
    }
}

/* The start must be in the archive: the first segment to stream starts at a state the start
 * already holds (nothing between the start and the archive is missing). */
static int
checkStartCovered(RecoverPlan *p, Err *err) {
    const SegmentMeta *m = archiveCatalogAt(p->c, p->first);
    GState st;
    bool held;

    if (segmentMetaGtidStart(m)[0] == '\0')
        return 0;
    if (segmentState(p, m, false, &st, err) != 0)
        return -1;
    held = gstateReached(&p->startState, &st);
    gstateFree(&st);
    if (held)
        return 0;
    if (p->first == 0)
        return errSet(err, ERR_NOTFOUND,
                      "the start '%s' is before the archive: its first segment '%s' starts at gtid state '%s', so the "
                      "transactions in between were never archived (is the base backup older than the archive?)",
                      p->start, m->name, segmentMetaGtidStart(m));
    return errSet(err, ERR_GAP,
                  "the start '%s' is not in the archive: segment '%s' starts at gtid state '%s' and the transactions "
                  "between are missing (a gap)", p->start, m->name, segmentMetaGtidStart(m));
}

static int
checkContinuous(RecoverPlan *p, size_t first, size_t last, Err *err) {
    uint64_t a = archiveCatalogAt(p->c, first)->seq, b = archiveCatalogAt(p->c, last)->seq;
    ArchiveGap *gaps;
    size_t ngaps = archiveCatalogGaps(p->c, &gaps);
    int rc = 0;

    for (size_t i = 0; i < ngaps && rc == 0; i++)
        if (gaps[i].afterSeq >= a && gaps[i].beforeSeq <= b)
            rc = errSet(err, ERR_GAP, "the recovery crosses a gap in the archive: %s", gaps[i].message);
    bvFree(gaps);
    for (size_t i = first; i <= last && rc == 0; i++)
        if (!archiveCatalogListed(p->c, i, NULL))
            rc = errSet(err, ERR_GAP,
                        "segment '%s' (seq %" PRIu64 ") is in the index but not in the store: the recovery cannot go "
                        "past %s:%" PRIu64 " (gtid state '%s')", archiveCatalogAt(p->c, i)->name,
                        archiveCatalogAt(p->c, i)->seq, archiveCatalogAt(p->c, i)->file,
                        archiveCatalogAt(p->c, i)->startPos, segmentMetaGtidStart(archiveCatalogAt(p->c, i)));
    return rc;
}

int
recoverPlanFinish(RecoverPlan *p, Err *err) {
    RecoverPlanInfo *info = &p->info;
    size_t last = 0;
    bool none = false, startHasUntil, untilHasStart;
    GState u;
    char what[512];

    if (p->finished)
        return 0;
    if (p->target.kind == RECOVER_UNTIL_END || !p->cutDone) {
        last = p->boundary;
        p->until = bvStrdup(segmentMetaGtidEnd(archiveCatalogAt(p->c, last)));
        if (!p->included)
            lastFromIndex(p, last);
    } else if (p->included) {
        last = p->boundary;
        p->until = bvStrdup(p->cutState);
    } else {
        /* The cut comes before the boundary segment's first transaction. */
        p->until = bvStrdup(segmentMetaGtidStart(archiveCatalogAt(p->c, p->boundary)));
        none = p->boundary == 0;
        last = none ? 0 : p->boundary - 1;
        p->haveLast = false;
        if (!none)
            lastFromIndex(p, last);
    }
    if (gstateParseText(p->flavour, p->until, &u, "until gtid state", err) != 0)
        return -1;
    startHasUntil = gstateReached(&p->startState, &u);
    untilHasStart = gstateReached(&u, &p->startState);
    gstateFree(&u);
    targetDescribe(&p->target, what, sizeof(what));
    memset(info, 0, sizeof(*info));
    info->flavour = p->flavour;
    info->start = p->start;
    info->until = p->until;
    info->firstGtid = info->lastGtid = info->firstFile = info->lastFile = "";
    if (startHasUntil && untilHasStart) {
        p->finished = true; /* nothing to apply */
        return 0;
    }
    if (!untilHasStart)
        return errSet(err, ERR_USAGE,
                      startHasUntil ? "the target (%s) is before the start: there the gtid state is '%s', which the start "
                                      "'%s' already holds; nothing can be undone by applying binlogs"
                                    : "the target (%s) is not on the start's history: there the gtid state is '%s', which "
                                      "lacks part of the start '%s'",
                      what, p->until, p->start);
    if (none || p->first > last || p->first >= p->n)
        return errSet(err, ERR_USAGE, "the start '%s' is not a gtid state of the archived history before the target (%s)",
                      p->start, what);
    if (checkStartCovered(p, err) != 0 || checkContinuous(p, p->first, last, err) != 0)
        return -1;
    info->first = p->first;
    info->last = last;
    info->segments = last - p->first + 1;
    for (size_t i = p->first; i <= last; i++) {
        info->bytes += archiveCatalogAt(p->c, i)->size;
        info->contentBytes += archiveCatalogAt(p->c, i)->contentLen;
    }
    if (recoverGtidCount(p->flavour, p->start, p->until, &info->transactions, err) != 0)
        return -1;
    if (!p->haveFirst)
        firstFromIndex(p, p->first, last);
    info->firstGtid = p->firstGtid;
    info->firstTimeUs = p->firstTimeUs;
    info->firstFile = p->firstFile;
    info->firstPos = p->firstPos;
    info->lastGtid = p->lastGtid;
    info->lastTimeUs = p->lastTimeUs;
    info->lastFile = p->lastFile;
    info->lastEndPos = p->lastEndPos;
    p->finished = true;
    return 0;
}

typedef int (*ScanFn)(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err);

/* Frame the transactions of a segment, with the GTID state after each; fn returns 1 to stop. */
static int
scanSegment(Archive *a, const SegmentMeta *m, BinlogFlavour flavour, ScanFn fn, void *ctx, Err *err) {
    SegmentReader *r = archiveSegmentOpen(a, m, err);
    BinlogTxnFramer *f;
    BinlogEvent ev;
    uint64_t pos;
    bool stopped = false;
    int rc;

    if (r == NULL)
        return -1;
    f = binlogTxnFramerNew(PLAN_TEXT_MAX);
    rc = segmentMetaGtidStart(m)[0] ? binlogTxnFramerSetGtidState(f, flavour, segmentMetaGtidStart(m), err) : 0;
    if (rc != 0)
        errPrefix(err, "segment '%s': gtid_start", m->name);
    while (rc == 0 && !stopped && (rc = segmentReaderNext(r, &ev, &pos, err)) == 1) {
        int st = binlogTxnFramerPush(f, segmentReaderFormat(r), &ev, pos, err);

        rc = 0;
        if (st < 0) {
            rc = errPrefix(err, "segment '%s': event at %s:%" PRIu64, m->name, m->file, pos);
            break;
        }
        if ((st & 0x0f) == BINLOG_TXN_END) {
            char *state = binlogTxnFramerGtidState(f);
            int got = fn(ctx, binlogTxnFramerDone(f), state, err);

            bvFree(state);
            if (got < 0)
                rc = -1;
            stopped = got == 1;
        }
    }
    if (rc == 0 && !stopped && m->sha256[0] != '\0' && strcmp(segmentReaderSha256(r), m->sha256) != 0)
        rc = errSet(err, ERR_CHECKSUM, "segment '%s': object sha256 mismatch: computed %s, the index says %s", m->name,
                    segmentReaderSha256(r), m->sha256);
    binlogTxnFramerFree(f);
    segmentReaderFree(r);
    return rc < 0 ? -1 : 0;
}

typedef struct PlanScan {
    RecoverPlan *p;
    size_t idx;
} PlanScan;

static int
planScanTxn(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err) {
    PlanScan *ps = ctx;

    return recoverPlanFeed(ps->p, ps->idx, t, stateAfter, err);
}

int
recoverPlanResolve(RecoverPlan *p, Archive *a, Err *err) {
    size_t scans[2], n = recoverPlanScans(p, scans);

    for (size_t i = 0; i < n; i++) {
        PlanScan ps = {p, scans[i]};

        logInfo("planning: reading segment '%s'", archiveCatalogAt(p->c, scans[i])->name);
        if (scanSegment(a, archiveCatalogAt(p->c, scans[i]), p->flavour, planScanTxn, &ps, err) != 0)
            return -1;
    }
    return recoverPlanFinish(p, err);
}

const RecoverPlanInfo *
recoverPlanInfo(const RecoverPlan *p) {
    return &p->info;
}

static void
putKey(Buf *out, const char *key, const char *value) {
    jsonBufPrintf(out, ",\"%s\":", key);
    jsonBufString(out, value ? value : "", value ? strlen(value) : 0);
}

void
recoverPlanToJson(const RecoverPlan *p, Buf *out) {
    static const char *const kinds[] = {"none", "time", "gtid", "position", "end"};
    const RecoverPlanInfo *in = &p->info;
    char when[48];

    jsonBufPrintf(out, "{\"flavour\":\"%s\"", p->flavour == BINLOG_FLAVOUR_MYSQL ? "mysql" : "mariadb");
    putKey(out, "start", p->start);
    putKey(out, "until", p->until);
    jsonBufPrintf(out, ",\"target\":{\"kind\":\"%s\",\"exclusive\":%s", kinds[p->target.kind],
                  p->target.exclusive ? "true" : "false");
    if (p->target.kind == RECOVER_UNTIL_TIME) {
        isoUtc(p->target.timeUs, when, sizeof(when));
        jsonBufPrintf(out, ",\"time_us\":%" PRIu64, p->target.timeUs);
        putKey(out, "time", when);
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
    jsonBufPrintf(out, ",\"end_pos\":%" PRIu64 "},\"objects\":[", in->lastEndPos);
    for (size_t i = 0; i < in->segments; i++) {
        const SegmentMeta *m = archiveCatalogAt(p->c, in->first + i);

        jsonBufPrintf(out, "%s{\"seq\":%" PRIu64 ",\"name\":", i ? "," : "", m->seq);
        jsonBufString(out, m->name, strlen(m->name));
        jsonBufPrintf(out, ",\"size\":%" PRIu64 ",\"transactions\":%" PRIu64 "}", m->size, m->transactions);
    }
    jsonBufPrintf(out, "]}");
}

void
recoverPlanFree(RecoverPlan *p) {
    if (p == NULL)
        return;
    gstateFree(&p->startState);
    gstateFree(&p->targetState);
    bvFree(p->targetGtid);
    bvFree(p->start);
    bvFree(p->cutState);
    bvFree(p->until);
    bvFree(p);
}

typedef struct PosScan {
    uint64_t pos;
    char *state;
} PosScan;

static int
posScanTxn(void *ctx, const BinlogTxn *t, const char *stateAfter, Err *err) {
    PosScan *ps = ctx;

    (void)err;
    if (t->endPos > ps->pos)
        return 1;
    bvFree(ps->state);
    ps->state = bvStrdup(stateAfter);
    return 0;
}

int
recoverStateAtPosition(Archive *a, const ArchiveCatalog *c, const char *file, uint64_t pos, char **state, Err *err) {
    PosScan ps = {pos, NULL};
    const SegmentMeta *m;
    size_t idx;

    *state = NULL;
    if (archiveCatalogFindPosition(c, file, pos, &idx, err) != 0) {
        Err again = {0};

        /* The end of the last archived segment of the file is a position too. */
        if (pos <= BINLOG_MAGIC_LEN || archiveCatalogFindPosition(c, file, pos - 1, &idx, &again) != 0 ||
            archiveCatalogAt(c, idx)->endPos != pos)
            return -1;
        errClear(err);
        *state = bvStrdup(segmentMetaGtidEnd(archiveCatalogAt(c, idx)));
        return 0;
    }
    m = archiveCatalogAt(c, idx);
    if (pos <= m->startPos) {
        *state = bvStrdup(segmentMetaGtidStart(m));
        return 0;
    }
    ps.state = bvStrdup(segmentMetaGtidStart(m));
    if (scanSegment(a, m, archiveCatalogFlavour(c), posScanTxn, &ps, err) != 0) {
        bvFree(ps.state);
        return errPrefix(err, "position %s:%" PRIu64, file, pos);
    }
    *state = ps.state;
    return 0;
}

void
recoverDescribeWindows(const ArchiveCatalog *c, Buf *out) {
    ArchiveWindow *w;
    size_t n = archiveCatalogWindows(c, &w);

    for (size_t i = 0; i < n; i++) {
        char t1[48], t2[48];

        isoUtc(w[i].firstTimeUs, t1, sizeof(t1));
        isoUtc(w[i].lastTimeUs, t2, sizeof(t2));
        jsonBufPrintf(out, "%sseq %" PRIu64 "-%" PRIu64 ": %s:%" PRIu64 " (gtid state '%s') .. %s:%" PRIu64
                           " (gtid state '%s'), transactions %s (%s) .. %s (%s)\n",
                      n > 1 && i + 1 == n ? "restorable window " : n > 1 ? "older window " : "restorable window ",
                      w[i].from->seq, w[i].to->seq, w[i].from->file, w[i].from->startPos, segmentMetaGtidStart(w[i].from),
                      w[i].to->file, w[i].to->endPos, segmentMetaGtidEnd(w[i].to),
                      w[i].firstGtid[0] ? w[i].firstGtid : "-", t1, w[i].lastGtid[0] ? w[i].lastGtid : "-", t2);
    }
    bvFree(w);
}

/* ---- The target -------------------------------------------------------------------------------- */

#define INTO_READ_TIMEOUT_MS (10 * 60 * 1000)

struct RecoverInto {
    SqlConnOpts opts; /* with copies of its strings: the cleanup may have to reconnect */
    char *host, *user, *password, *passwordFrom, *sslCa, *sslCert, *sslKey;
    SqlConn *conn;
    char *url;
    char *version;
    uint32_t serverId;
    char *gtidSlavePos;
};

/* The first row of a query, copied. */
typedef struct RowCopy {
    unsigned n;
    char **v;
} RowCopy;

static int
rowCopyCb(void *data, unsigned nCols, const char *const *values, const unsigned long *lengths, Err *err) {
    RowCopy *row = data;

    (void)err;
    if (row->v != NULL)
        return 0;
    row->n = nCols;
    row->v = bvCalloc(nCols ? nCols : 1, sizeof(char *));
    for (unsigned i = 0; i < nCols; i++)
        row->v[i] = values[i] ? bvStrndup(values[i], lengths[i]) : NULL;
    return 0;
}

static void
rowCopyFree(RowCopy *row) {
    for (unsigned i = 0; i < row->n; i++)
        bvFree(row->v[i]);
    bvFree(row->v);
    row->v = NULL;
    row->n = 0;
}

static int
queryRow(SqlConn *c, const char *sql, unsigned want, RowCopy *row, Err *err) {
    memset(row, 0, sizeof(*row));
    if (sqlQuery(c, sql, rowCopyCb, row, err) != 0)
        return -1;
    if (row->v == NULL || row->n < want) {
        rowCopyFree(row);
        return errSet(err, ERR_TARGET, "'%s' on '%s' returned no row", sql, sqlConnUrl(c));
    }
    return 0;
}

static char *
dupOrNull(const char *s) {
    return s ? bvStrdup(s) : NULL;
}

void
recoverIntoFree(RecoverInto *t) {
    if (t == NULL)
        return;
    sqlConnFree(t->conn);
    if (t->password != NULL)
        memset(t->password, 0, strlen(t->password));
    bvFree(t->host);
    bvFree(t->user);
    bvFree(t->password);
    bvFree(t->passwordFrom);
    bvFree(t->sslCa);
    bvFree(t->sslCert);
    bvFree(t->sslKey);
    bvFree(t->version);
    bvFree(t->url);
    bvFree(t->gtidSlavePos);
    bvFree(t);
}

static int
intoReadState(RecoverInto *t, Err *err) {
    RowCopy row;
    char *end;

    if (queryRow(t->conn, "SELECT @@server_id, @@gtid_slave_pos", 2, &row, err) != 0)
        return -1;
    t->serverId = (uint32_t)strtoul(row.v[0] ? row.v[0] : "0", &end, 10);
    bvFree(t->gtidSlavePos);
    t->gtidSlavePos = bvStrdup(row.v[1] ? row.v[1] : "");
    rowCopyFree(&row);
    return 0;
}

RecoverInto *
recoverIntoConnect(const SqlConnOpts *opts, Err *err) {
    RecoverInto *t = bvCalloc(1, sizeof(*t));
    BinlogFlavour flavour;
    int major, minor, patch;

    t->opts = *opts;
    t->opts.host = t->host = dupOrNull(opts->host);
    t->opts.user = t->user = dupOrNull(opts->user);
    t->opts.password = t->password = dupOrNull(opts->password);
    t->opts.passwordFrom = t->passwordFrom = dupOrNull(opts->passwordFrom);
    t->opts.sslCa = t->sslCa = dupOrNull(opts->sslCa);
    t->opts.sslCert = t->sslCert = dupOrNull(opts->sslCert);
    t->opts.sslKey = t->sslKey = dupOrNull(opts->sslKey);
    t->opts.failCode = ERR_TARGET;
    if (t->opts.readTimeoutMs == 0)
        t->opts.readTimeoutMs = INTO_READ_TIMEOUT_MS;
    if ((t->conn = sqlConnect(&t->opts, err)) == NULL)
        goto fail;
    t->url = bvStrdup(sqlConnUrl(t->conn));
    t->version = bvStrdup(sqlConnServerVersion(t->conn));
    binlogParseServerVersion(t->version, &flavour, &major, &minor, &patch);
    if (flavour != BINLOG_FLAVOUR_MARIADB || major < 10) {
        errSet(err, ERR_TARGET,
               "'%s' runs %s: binvault recover applies through a MariaDB (10.0 or later) replica; for another server, "
               "write the range out with 'binvault fetch' and apply it with its binlog tool", t->url,
               t->version);
        goto fail;
    }
    if (intoReadState(t, err) != 0)
        goto fail;
    return t;
fail:
    recoverIntoFree(t);
    return NULL;
}

const char *
recoverIntoUrl(const RecoverInto *t) {
    return t->url;
}

const char *
recoverIntoVersion(const RecoverInto *t) {
    return t->version;
}

uint32_t
recoverIntoServerId(const RecoverInto *t) {
    return t->serverId;
}

const char *
recoverIntoGtidSlavePos(const RecoverInto *t) {
    return t->gtidSlavePos;
}

void
recoverResultClear(RecoverResult *r) {
    bvFree(r->startPos);
    bvFree(r->finalPos);
    r->startPos = r->finalPos = NULL;
}

/* ---- Applying -------------------------------------------------------------------------------- */

#define APPLY_DEFAULT_CONNECT_TIMEOUT_MS 60000
#define APPLY_DEFAULT_POLL_MS 250
/* After the stream stopped with an error, how long the applier may go without progress while
 * it applies what it received. */
#define APPLY_DRAIN_STALL_MS 120000
#define APPLY_USER "binvault"
#define APPLY_HEARTBEAT_SECONDS 2
/* @@server_id for the target while it applies, when its own is one the archived events carry. */
#define APPLY_TEMP_SERVER_ID 4294967280u
#define APPLY_NAME_MAX 64

/* SHOW ALL SLAVES STATUS columns (MariaDB 10.0 - 11.x: Connection_name, Slave_SQL_State, then
 * the SHOW SLAVE STATUS columns, whose order MariaDB keeps and only extends). */
enum {
    COL_NAME = 0,
    COL_HOST = 3,
    COL_PORT = 5,
    COL_RELAY_MASTER_LOG_FILE = 11,
    COL_IO_RUNNING = 12,
    COL_SQL_RUNNING = 13,
    COL_EXEC_MASTER_LOG_POS = 23,
    COL_LAST_IO_ERRNO = 36,
    COL_LAST_IO_ERROR = 37,
    COL_LAST_SQL_ERRNO = 38,
    COL_LAST_SQL_ERROR = 39,
    COL_USING_GTID = 44,
    COL_GTID_IO_POS = 45,
    COL_COUNT = 46,
};

typedef struct SlaveRow {
    bool found;
    char io[16], sql[16]; /* Slave_IO_Running (Yes, No, Connecting, Preparing), Slave_SQL_Running */
    unsigned ioErrno, sqlErrno;
    char ioError[1024], sqlError[1024];
    char gtidIoPos[4096];
    char execFile[SEGMENT_FILE_MAX]; /* where the applier is in the source's binlog */
    uint64_t execPos;
} SlaveRow;

typedef struct SlavesScan {
    const char *name;
    SlaveRow mine;
    unsigned othersRunning;
    char others[512];
    bool badLayout;
} SlavesScan;

static void
copyCol(char *dst, size_t size, const char *v) {
    snprintf(dst, size, "%s", v ? v : "");
}

static int
slavesCb(void *data, unsigned nCols, const char *const *v, const unsigned long *lengths, Err *err) {
    SlavesScan *s = data;
    const char *using;

    (void)lengths;
    (void)err;
    if (nCols < COL_COUNT) {
        s->badLayout = true;
        return 0;
    }
    using = v[COL_USING_GTID] ? v[COL_USING_GTID] : "";
    if (strcmp(using, "No") != 0 && strcmp(using, "Slave_Pos") != 0 && strcmp(using, "Current_Pos") != 0) {
        s->badLayout = true;
        return 0;
    }
    if (v[COL_NAME] != NULL && strcasecmp(v[COL_NAME], s->name) == 0) {
        SlaveRow *r = &s->mine;

        r->found = true;
        copyCol(r->io, sizeof(r->io), v[COL_IO_RUNNING]);
        copyCol(r->sql, sizeof(r->sql), v[COL_SQL_RUNNING]);
        r->ioErrno = (unsigned)strtoul(v[COL_LAST_IO_ERRNO] ? v[COL_LAST_IO_ERRNO] : "0", NULL, 10);
        r->sqlErrno = (unsigned)strtoul(v[COL_LAST_SQL_ERRNO] ? v[COL_LAST_SQL_ERRNO] : "0", NULL, 10);
        copyCol(r->ioError, sizeof(r->ioError), v[COL_LAST_IO_ERROR]);
        copyCol(r->sqlError, sizeof(r->sqlError), v[COL_LAST_SQL_ERROR]);
        copyCol(r->gtidIoPos, sizeof(r->gtidIoPos), v[COL_GTID_IO_POS]);
        copyCol(r->execFile, sizeof(r->execFile), v[COL_RELAY_MASTER_LOG_FILE]);
        r->execPos = strtoull(v[COL_EXEC_MASTER_LOG_POS] ? v[COL_EXEC_MASTER_LOG_POS] : "0", NULL, 10);
        return 0;
    }
    if ((v[COL_IO_RUNNING] && strcmp(v[COL_IO_RUNNING], "No") != 0) ||
        (v[COL_SQL_RUNNING] && strcmp(v[COL_SQL_RUNNING], "No") != 0)) {
        size_t used = strlen(s->others);

        s->othersRunning++;
        snprintf(s->others + used, sizeof(s->others) - used, "%s'%s'", used ? ", " : "", v[COL_NAME] ? v[COL_NAME] : "");
    }
    return 0;
}

static int
slavesRead(SqlConn *c, const char *name, SlavesScan *s, Err *err) {
    memset(s, 0, sizeof(*s));
    s->name = name;
    if (sqlQuery(c, "SHOW ALL SLAVES STATUS", slavesCb, s, err) != 0)
        return -1;
    if (s->badLayout)
        return errSet(err, ERR_TARGET, "SHOW ALL SLAVES STATUS on '%s' has columns binvault does not know (server %s)",
                      sqlConnUrl(c), sqlConnServerVersion(c));
    return 0;
}

typedef struct Apply {
    RecoverInto *t;
    Archive *a;
    const RecoverPlan *plan;
    const RecoverPlanInfo *info;
    const RecoverApplyOptions *o;
    RecoverResult *r;
    const char *name;
    const char *host;
    char password[32];
    RecoverSource *src;
    ReplServer *srv;
    uint32_t useServerId;
    char *origPos;
    bool changedPos, changedId, created;
    struct timespec t0;
    bool started;
    double stoppedAt;
    uint64_t bytesTotal;             /* binlog bytes to apply */
    uint64_t lastApplied, lastBytes; /* last progress shown */
    double lastRate;
} Apply;

static double
since(const struct timespec *t0) {
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
sleepMs(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Never let the endpoint's password reach a message. */
static void
maskSecret(char *msg, const char *secret) {
    size_t n = strlen(secret);
    char *p;

    if (n == 0)
        return;
    while ((p = strstr(msg, secret)) != NULL)
        memset(p, '*', n);
}

static int
applyExec(Apply *ap, const char *sql, Err *err) {
    if (sqlExec(ap->t->conn, sql, err) == 0)
        return 0;
    maskSecret(err->msg, ap->password);
    return -1;
}

static int
statesEqual(BinlogFlavour flavour, const char *a, const char *b) {
    bool equal = false;
    Err ignored;

    return archiveGtidStateEqual(flavour, a, b, &equal, &ignored) == 0 && equal;
}

static bool
idSeen(const uint32_t *ids, size_t n, uint32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static void
idsAdd(uint32_t **ids, size_t *n, uint32_t id) {
    if (idSeen(*ids, *n, id))
        return;
    *ids = bvRealloc(*ids, (*n + 1) * sizeof(**ids));
    (*ids)[(*n)++] = id;
}

static void
idsAddState(uint32_t **ids, size_t *n, const char *state) {
    MariaGtidPos *pos = mariaGtidPosNew();
    Err ignored;

    if (mariaGtidPosParse(pos, state, &ignored) == 0)
        for (size_t i = 0; i < mariaGtidPosCount(pos); i++) {
            MariaGtid g;

            mariaGtidPosAt(pos, i, &g);
            idsAdd(ids, n, g.server);
        }
    mariaGtidPosFree(pos);
}

/* The server_ids the planned events carry, as far as the index and the identity tell: the
 * target must not use one of them while it applies (a replica skips events of its own id). The
 * source checks every event too (RecoverSourceOptions.replicaServerId). */
static uint32_t
chooseServerId(Apply *ap) {
    const ArchiveCatalog *c = ap->plan->c;
    ArchiveIdentity id;
    uint32_t *ids = NULL, pick;
    size_t n = 0;
    Err ignored;

    if (archiveIdentityRead(ap->a, &id, &ignored) == 0)
        idsAdd(&ids, &n, id.serverId);
    idsAddState(&ids, &n, ap->info->start);
    idsAddState(&ids, &n, ap->info->until);
    for (size_t i = ap->info->first; i <= ap->info->last; i++) {
        const SegmentMeta *m = archiveCatalogAt(c, i);

        idsAdd(&ids, &n, m->serverId);
        idsAddState(&ids, &n, segmentMetaGtidStart(m));
        idsAddState(&ids, &n, segmentMetaGtidEnd(m));
        idsAddState(&ids, &n, m->firstGtid);
        idsAddState(&ids, &n, m->lastGtid);
    }
    pick = ap->t->serverId;
    if (idSeen(ids, n, pick)) {
        pick = APPLY_TEMP_SERVER_ID;
        while (idSeen(ids, n, pick) || pick == REPL_SERVER_DEFAULT_ID)
            pick--;
    }
    bvFree(ids);
    return pick;
}

static bool
nameValid(const char *name) {
    size_t n = strlen(name);

    if (n == 0 || n > APPLY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}

/* Before anything changes on the target: no replication running (gtid_slave_pos can only be set
 * with every connection stopped), and our connection name free or a leftover to remove. */
static int
applyPreflight(Apply *ap, Err *err) {
    SlavesScan s;
    char *sql;
    int rc;

    if (slavesRead(ap->t->conn, ap->name, &s, err) != 0)
        return -1;
    /* A recovery killed without its cleanup leaves the temporary server_id, and the target's own
     * is not known any more. */
    if (ap->t->serverId <= APPLY_TEMP_SERVER_ID && ap->t->serverId > APPLY_TEMP_SERVER_ID - 64) {
        char also[2 * APPLY_NAME_MAX + 80] = "";

        if (s.mine.found)
            snprintf(also, sizeof(also), " and remove the connection (STOP SLAVE '%s'; RESET SLAVE '%s' ALL)", ap->name,
                     ap->name);
        return errSet(err, ERR_TARGET,
                      "'%s' has server_id %" PRIu32 ", the temporary one binvault gives a target while it applies: an "
                      "earlier recovery was killed before it could clean up. Set the server's own back (SET GLOBAL "
                      "server_id = N, as in its configuration)%s, then run the command again",
                      recoverIntoUrl(ap->t), ap->t->serverId, also);
    }
    if (s.mine.found && (strcmp(s.mine.io, "No") != 0 || strcmp(s.mine.sql, "No") != 0))
        return errSet(err, ERR_TARGET,
                      "'%s' already runs a replication connection '%s' (another recovery?): stop it with STOP SLAVE "
                      "'%s'; RESET SLAVE '%s' ALL, or choose another --connection-name", recoverIntoUrl(ap->t), ap->name,
                      ap->name, ap->name);
    if (s.othersRunning > 0)
        return errSet(err, ERR_TARGET,
                      "'%s' runs replication (connection %s): recovery sets @@gtid_slave_pos, which needs every "
                      "replication connection stopped; run STOP ALL SLAVES first (and start them again after)",
                      recoverIntoUrl(ap->t), s.others);
    if (!s.mine.found)
        return 0;
    logWarn("removing the stopped replication connection '%s' left on '%s' by an interrupted recovery", ap->name,
            recoverIntoUrl(ap->t));
    sql = bvSprintf("RESET SLAVE '%s' ALL", ap->name);
    rc = applyExec(ap, sql, err);
    bvFree(sql);
    return rc;
}

static int
applyServe(Apply *ap, Err *err) {
    const ArchiveCatalog *c = ap->plan->c;
    const SegmentMeta **segs = bvCalloc(ap->info->segments, sizeof(*segs));
    RecoverSourceOptions so = {0};
    ReplServerConfig cfg = {0};
    ReplServerSource iface;

    for (size_t i = 0; i < ap->info->segments; i++)
        segs[i] = archiveCatalogAt(c, ap->info->first + i);
    so.tmpDir = ap->o->tmpDir;
    so.replicaServerId = ap->useServerId;
    ap->src = recoverSourceNew(ap->a, segs, ap->info->segments, &so, err);
    bvFree((void *)segs);
    if (ap->src == NULL)
        return -1;
    if (replServerRandomPassword(ap->password, 25, err) != 0)
        return -1;
    iface = recoverSourceInterface(ap->src);
    cfg.listenHost = ap->host;
    cfg.port = ap->o->listenPort;
    cfg.user = APPLY_USER;
    cfg.password = ap->password;
    cfg.serverId = ap->useServerId == REPL_SERVER_DEFAULT_ID ? REPL_SERVER_DEFAULT_ID - 1 : REPL_SERVER_DEFAULT_ID;
    if ((ap->srv = replServerNew(&cfg, &iface, err)) == NULL)
        return errPrefix(err, "replication endpoint (--listen)");
    return replServerStart(ap->srv, err);
}

static int
applyConfigure(Apply *ap, Err *err) {
    RecoverInto *t = ap->t;
    char *host = sqlEscape(t->conn, ap->host), *start = sqlEscape(t->conn, ap->info->start),
         *until = sqlEscape(t->conn, ap->info->until), *sql = NULL;
    int rc = -1;

    if (!statesEqual(BINLOG_FLAVOUR_MARIADB, t->gtidSlavePos, ap->info->start)) {
        sql = bvSprintf("SET GLOBAL gtid_slave_pos = '%s'", start);
        if (applyExec(ap, sql, err) != 0)
            goto done;
        ap->changedPos = true;
        logInfo("set @@gtid_slave_pos on '%s' to '%s' (was '%s')", recoverIntoUrl(t), ap->info->start, t->gtidSlavePos);
        bvFree(sql);
        sql = NULL;
    }
    if (ap->useServerId != t->serverId) {
        sql = bvSprintf("SET GLOBAL server_id = %" PRIu32, ap->useServerId);
        if (applyExec(ap, sql, err) != 0)
            goto done;
        ap->changedId = true;
        logInfo("'%s' has server_id %" PRIu32 ", which the archived events carry (a server restored from a backup keeps "
                "the source's): its applier would skip them as its own, so its server_id is %" PRIu32
                " while it applies, and %" PRIu32 " again after", recoverIntoUrl(t), t->serverId, ap->useServerId,
                t->serverId);
        bvFree(sql);
        sql = NULL;
    }
    /* The password comes last and is masked from any message. */
    sql = bvSprintf("CHANGE MASTER '%s' TO MASTER_HOST = '%s', MASTER_PORT = %u, MASTER_USER = '" APPLY_USER
                    "', MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = %d, "
                    "MASTER_SSL = 0, MASTER_PASSWORD = '%s'",
                    ap->name, host, replServerPort(ap->srv), APPLY_HEARTBEAT_SECONDS, ap->password);
    rc = applyExec(ap, sql, err);
    memset(sql, 0, strlen(sql));
    if (rc != 0)
        goto done;
    ap->created = true;
    bvFree(sql);
    sql = bvSprintf("START SLAVE '%s' UNTIL master_gtid_pos = '%s'", ap->name, until);
    if ((rc = applyExec(ap, sql, err)) != 0)
        goto done;
    clock_gettime(CLOCK_MONOTONIC, &ap->t0);
    ap->started = true;
    logInfo("'%s' applies through replication connection '%s' from %s:%u, from gtid '%s' until '%s'", recoverIntoUrl(t),
            ap->name, ap->host, replServerPort(ap->srv), ap->info->start, ap->info->until);
done:
    bvFree(host);
    bvFree(start);
    bvFree(until);
    bvFree(sql);
    return rc;
}

/* Binlog bytes of the plan before file:pos (from its first transaction on); with file NULL, all
 * of them (up to the end of its last transaction). */
static uint64_t
planBytes(const Apply *ap, const char *file, uint64_t pos) {
    const RecoverPlanInfo *in = ap->info;
    uint64_t total = 0;

    for (size_t i = in->first; i <= in->last; i++) {
        const SegmentMeta *m = archiveCatalogAt(ap->plan->c, i);
        uint64_t from = m->startPos, to = m->endPos;
        int cmp;

        if (i == in->first && strcmp(m->file, in->firstFile) == 0 && in->firstPos > from && in->firstPos <= to)
            from = in->firstPos;
        if (i == in->last && strcmp(m->file, in->lastFile) == 0 && in->lastEndPos >= from && in->lastEndPos < to)
            to = in->lastEndPos;
        if (file != NULL) {
            if (file[0] == '\0')
                return 0;
            cmp = segmentFileCompare(m->file, file);
            if (cmp > 0 || (cmp == 0 && pos <= from))
                break;
            if (cmp == 0 && pos < to)
                to = pos;
        }
        total += to - from;
    }
    return total;
}

static void
applyProgress(Apply *ap, RecoverPhase phase, uint64_t applied, uint64_t bytes, double seconds, double rate,
              const char *pos) {
    RecoverProgress p = {0};

    ap->lastApplied = applied;
    ap->lastBytes = bytes;
    ap->lastRate = rate;
    if (ap->o->progress == NULL)
        return;
    p.phase = phase;
    p.transactions = applied;
    p.transactionsTotal = ap->info->transactions;
    p.bytes = bytes;
    p.bytesTotal = ap->bytesTotal;
    p.seconds = seconds;
    p.rate = rate;
    p.position = pos;
    ap->o->progress(ap->o->progressCtx, &p);
}

static bool
reachedText(const char *state, const char *target) {
    bool reached = false;
    Err ignored;

    return archiveGtidReached(BINLOG_FLAVOUR_MARIADB, state, target, &reached, &ignored) == 0 && reached;
}

/* Wait for the target to reach the UNTIL position; fail on its errors, the stream's, a stall or
 * a stop request. */
static int
applyWait(Apply *ap, Err *err) {
    unsigned pollMs = ap->o->pollMs ? ap->o->pollMs : APPLY_DEFAULT_POLL_MS;
    double connectTimeout = (ap->o->connectTimeoutMs ? ap->o->connectTimeoutMs : APPLY_DEFAULT_CONNECT_TIMEOUT_MS) / 1000.0;
    RecoverRate rate = {0};
    Err pending = {0};
    bool connected = false, draining = false;
    double drainMark = 0;
    uint64_t drainApplied = 0;

    for (;;) {
        RowCopy row;
        SlavesScan s;
        ReplServerStatus ss;
        RecoverSourceStats st;
        uint64_t applied = 0;
        double now;
        char *pos;

        /* Short recoveries are timed closely; long ones are not asked more than needed. */
        sleepMs(ap->started && since(&ap->t0) < 2.0 && pollMs > 50 ? 50 : pollMs);
        /* The threads' state first: a thread seen stopped has applied all it will by the time
         * gtid_slave_pos is read. */
        if (slavesRead(ap->t->conn, ap->name, &s, err) != 0)
            return -1;
        if (queryRow(ap->t->conn, "SELECT @@gtid_slave_pos", 1, &row, err) != 0)
            return -1;
        pos = bvStrdup(row.v[0] ? row.v[0] : "");
        rowCopyFree(&row);
        now = since(&ap->t0);
        replServerStatus(ap->srv, &ss);
        recoverSourceStats(ap->src, &st);
        recoverGtidCount(BINLOG_FLAVOUR_MARIADB, ap->info->start, pos, &applied, &(Err){0});
        connected = connected || ss.connections > 0;
        recoverRateSample(&rate, now, applied);
        applyProgress(ap, connected ? RECOVER_PHASE_APPLYING : RECOVER_PHASE_CONNECTING, applied,
                      planBytes(ap, s.mine.execFile, s.mine.execPos), now,
                      rate.rate, pos);
        if (reachedText(pos, ap->info->until)) {
            ap->stoppedAt = now;
            bvFree(pos);
            return 0;
        }
        if (ap->o->stop != NULL && atomic_load(ap->o->stop)) {
            bvFree(pos);
            return errSet(err, ERR_TARGET, "interrupted");
        }
        if (!s.mine.found) {
            bvFree(pos);
            return errSet(err, ERR_TARGET, "the replication connection '%s' disappeared from '%s' (removed by someone?)",
                          ap->name, recoverIntoUrl(ap->t));
        }
        if (s.mine.sqlErrno != 0 && strcmp(s.mine.sql, "No") == 0) {
            bvFree(pos);
            return errSet(err, ERR_TARGET, "the replication applier of '%s' stopped with error %u: %s",
                          recoverIntoUrl(ap->t), s.mine.sqlErrno, s.mine.sqlError);
        }
        /* The I/O thread stops by itself once it received everything up to the UNTIL position. */
        if (!draining && strcmp(s.mine.io, "No") == 0 &&
            (st.failed || s.mine.ioErrno != 0 || !ss.untilReached || strcmp(s.mine.sql, "No") == 0)) {
            if (st.failed)
                errSet(&pending, st.failureCode ? st.failureCode : ERR_INTERNAL, "%s", st.failure);
            else if (s.mine.ioErrno != 0)
                errSet(&pending, ERR_TARGET, "the replication I/O thread of '%s' stopped with error %u: %s",
                       recoverIntoUrl(ap->t), s.mine.ioErrno, s.mine.ioError);
            else
                errSet(&pending, ERR_TARGET,
                       "replication on '%s' was stopped before it reached the target position (STOP SLAVE by someone?)",
                       recoverIntoUrl(ap->t));
            logWarn("the stream to '%s' stopped: waiting for it to apply the transactions it received",
                    recoverIntoUrl(ap->t));
            draining = true;
            drainMark = now;
            drainApplied = applied;
        }
        if (draining) {
            /* Let the applier finish what it received: it holds whole transactions only. */
            if (applied != drainApplied) {
                drainApplied = applied;
                drainMark = now;
            }
            if (strcmp(s.mine.sql, "No") == 0 || reachedText(pos, s.mine.gtidIoPos) ||
                now - drainMark > APPLY_DRAIN_STALL_MS / 1000.0) {
                ap->stoppedAt = now;
                *err = pending;
                bvFree(pos);
                return -1;
            }
        }
        if (!connected && now > connectTimeout) {
            bvFree(pos);
            return errSet(err, ERR_TARGET,
                          "'%s' did not connect to the replication endpoint %s:%u within %.0f s (its replication I/O "
                          "thread says: %s): --listen must be an address of this machine that the target can reach",
                          recoverIntoUrl(ap->t), ap->host, replServerPort(ap->srv), connectTimeout,
                          s.mine.ioError[0] ? s.mine.ioError : "nothing");
        }
        bvFree(pos);
    }
}

static void
manualAdd(Apply *ap, const char *sql) {
    size_t used = strlen(ap->r->cleanup);

    snprintf(ap->r->cleanup + used, sizeof(ap->r->cleanup) - used, "%s%s", used ? " " : "", sql);
}

/* Run a cleanup statement; once, reconnect when the connection is gone. */
static bool
cleanupExec(Apply *ap, const char *sql) {
    Err err = {0};

    if (ap->t->conn != NULL && applyExec(ap, sql, &err) == 0)
        return true;
    if (ap->t->conn == NULL || err.code == ERR_TARGET) {
        sqlConnFree(ap->t->conn);
        ap->t->conn = sqlConnect(&ap->t->opts, &err);
        if (ap->t->conn != NULL && applyExec(ap, sql, &err) == 0)
            return true;
    }
    logError("cleaning up '%s': %s", recoverIntoUrl(ap->t), err.msg);
    return false;
}

/* Undo what the recovery set on the target, keeping what it applied. */
static void
applyCleanup(Apply *ap) {
    char sql[256];
    bool stopped = true;

    if (ap->created) {
        snprintf(sql, sizeof(sql), "STOP SLAVE '%s'", ap->name);
        stopped = cleanupExec(ap, sql);
    }
    if (ap->t->conn != NULL) {
        RowCopy row;
        Err err = {0};

        if (queryRow(ap->t->conn, "SELECT @@gtid_slave_pos", 1, &row, &err) == 0) {
            ap->r->finalPos = bvStrdup(row.v[0] ? row.v[0] : "");
            rowCopyFree(&row);
        }
    }
    if (ap->created) {
        snprintf(sql, sizeof(sql), "RESET SLAVE '%s' ALL", ap->name);
        if (!stopped || !cleanupExec(ap, sql)) {
            char manual[160];

            snprintf(manual, sizeof(manual), "STOP SLAVE '%s'; RESET SLAVE '%s' ALL;", ap->name, ap->name);
            manualAdd(ap, manual);
        }
    }
    if (ap->changedId) {
        snprintf(sql, sizeof(sql), "SET GLOBAL server_id = %" PRIu32, ap->t->serverId);
        if (!cleanupExec(ap, sql)) {
            char manual[sizeof(sql) + 2];

            snprintf(manual, sizeof(manual), "%s;", sql);
            manualAdd(ap, manual);
        }
    }
    /* Nothing applied: leave gtid_slave_pos as it was. */
    if (ap->changedPos && ap->t->conn != NULL && ap->r->finalPos != NULL &&
        statesEqual(BINLOG_FLAVOUR_MARIADB, ap->r->finalPos, ap->info->start)) {
        char *old = sqlEscape(ap->t->conn, ap->origPos);
        char *s = bvSprintf("SET GLOBAL gtid_slave_pos = '%s'", old);

        if (cleanupExec(ap, s)) {
            bvFree(ap->r->finalPos);
            ap->r->finalPos = bvStrdup(ap->origPos);
        }
        bvFree(old);
        bvFree(s);
    }
    replServerStop(ap->srv);
    replServerFree(ap->srv);
    ap->srv = NULL;
    recoverSourceFree(ap->src);
    ap->src = NULL;
    if (ap->r->cleanup[0] != '\0')
        logError("the recovery could not undo its settings on '%s': run %s", recoverIntoUrl(ap->t), ap->r->cleanup);
}

static void
errAppend(Err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
errAppend(Err *err, const char *fmt, ...) {
    size_t used = strlen(err->msg);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err->msg + used, sizeof(err->msg) - used, fmt, ap);
    va_end(ap);
}

int
recoverApply(RecoverInto *t, Archive *a, const RecoverPlan *plan, const RecoverApplyOptions *o, RecoverResult *r,
             Err *err) {
    Apply ap = {0};
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->startPos = bvStrdup(t->gtidSlavePos);
    r->serverIdUsed = t->serverId;
    ap.t = t;
    ap.a = a;
    ap.plan = plan;
    ap.info = recoverPlanInfo(plan);
    ap.o = o;
    ap.r = r;
    ap.name = o->connectionName ? o->connectionName : "binvault";
    ap.host = o->listenHost ? o->listenHost : "127.0.0.1";
    if (!plan->finished)
        return errSet(err, ERR_INTERNAL, "recovery applied before its plan was finished");
    if (ap.info->flavour != BINLOG_FLAVOUR_MARIADB)
        return errSet(err, ERR_USAGE,
                      "the archive holds MySQL binlogs: binvault recover applies through a MariaDB replica; write the "
                      "range out with 'binvault fetch' and apply it with mysqlbinlog");
    if (ap.info->segments == 0) {
        r->finalPos = bvStrdup(t->gtidSlavePos);
        r->reached = true;
        return 0;
    }
    if (!nameValid(ap.name))
        return errSet(err, ERR_USAGE, "invalid connection name '%s': 1 to %d letters, digits or '_'", ap.name,
                      APPLY_NAME_MAX);
    if (strcmp(ap.host, "0.0.0.0") == 0 || strcmp(ap.host, "::") == 0)
        return errSet(err, ERR_USAGE,
                      "--listen '%s' is a wildcard: give the address of this machine that the target connects to",
                      ap.host);
    if (intoReadState(t, err) != 0)
        return -1;
    ap.origPos = bvStrdup(t->gtidSlavePos);
    ap.bytesTotal = planBytes(&ap, NULL, 0);
    ap.useServerId = chooseServerId(&ap);
    r->serverIdUsed = ap.useServerId;
    if (applyPreflight(&ap, err) == 0 && applyServe(&ap, err) == 0 && applyConfigure(&ap, err) == 0)
        rc = applyWait(&ap, err);
    if (ap.started)
        r->seconds = ap.stoppedAt > 0 ? ap.stoppedAt : since(&ap.t0);
    if (ap.o->progress != NULL && ap.started)
        applyProgress(&ap, RECOVER_PHASE_FINISHING, ap.lastApplied, ap.lastBytes, r->seconds, ap.lastRate, "");
    applyCleanup(&ap);
    if (r->finalPos != NULL) {
        recoverGtidCount(BINLOG_FLAVOUR_MARIADB, ap.info->start, r->finalPos, &r->transactions, &(Err){0});
        r->reached = reachedText(r->finalPos, ap.info->until);
    }
    r->bytes = r->reached ? ap.bytesTotal : ap.lastBytes;
    if (rc == 0 && !r->reached)
        rc = errSet(err, ERR_TARGET, "the target stopped before its target position '%s'", ap.info->until);
    if (rc != 0) {
        if (r->finalPos != NULL)
            errAppend(err, "; '%s' stopped at gtid_slave_pos '%s' (%" PRIu64 " of %" PRIu64 " transactions applied)",
                      recoverIntoUrl(t), r->finalPos, r->transactions, ap.info->transactions);
        else
            errAppend(err, "; how far '%s' got is unknown: see SELECT @@gtid_slave_pos there", recoverIntoUrl(t));
    }
    memset(ap.password, 0, sizeof(ap.password));
    bvFree(ap.origPos);
    return rc;
}
