/*
 * binvault log: the archived transactions (GTID, commit time, position, tables, statement text
 * where the binlog has it), so that the GTID or position of a bad statement can be found from the
 * archive alone. The segments read are chosen from the index by their commit times; each is
 * verified as it is read (every layer, the object's SHA-256 against the index).
 */
#include <inttypes.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "archive/continuity.h"
#include "archive/key.h"
#include "archive/summary.h"
#include "archive/timeline.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/time.h"

/* Statement text kept per transaction (a longer one is cut; --json prints what is kept). */
#define LOG_TEXT_MAX (64 * 1024)
/* Statement text shown per line in text mode. */
#define LOG_TEXT_SHOWN 160

typedef struct LogCmd {
    char *archive, *grep;
    StorageOptions storage;
    OptTime since, until;
    TimeZone tz;
    bool json;
    int64_t timeline; /* the path followed: 0 for the main line */
    uint64_t sinceUs, untilUs;
    regex_t re;
    bool haveRe;
    char *unquoted; /* --grep: the statement without its identifier quotes (LOG_TEXT_MAX + 4 bytes) */
    uint64_t shown, read, segments;
} LogCmd;

#define LOG_OPT(field) offsetof(LogCmd, field)
#define LOG_STORAGE(field) offsetof(LogCmd, storage.field)

static const OptDef logDefs[] = {
    CMD_ARCHIVE_OPTDEFS(LOG_OPT(archive), LOG_STORAGE),
    {"since", OPT_TIME, NULL, 0, 0, 0, LOG_OPT(since), NULL, "only the transactions committed at or after TIME", NULL,
     NULL},
    {"until", OPT_TIME, NULL, 0, 0, 0, LOG_OPT(until), NULL, "only the transactions committed at or before TIME", NULL,
     NULL},
    {"grep", OPT_STRING, NULL, 0, 0, 0, LOG_OPT(grep), NULL,
     "only the transactions whose statement (with or without its backticks), tables or GTID match this "
     "extended regular expression (case-insensitive)", NULL, NULL},
    {"timezone", OPT_TIMEZONE, "UTC", 0, 0, 0, LOG_OPT(tz), NULL,
     "the zone of --since, --until and the times printed: UTC, +02:00, Europe/Paris", NULL, NULL},
    {"json", OPT_BOOL, NULL, 0, 0, 0, LOG_OPT(json), NULL, "one JSON object per transaction (JSON Lines)", NULL, NULL},
    {"timeline", OPT_INT, "0", 0, TIMELINE_MAX, 0, LOG_OPT(timeline), NULL,
     "follow timeline N back to the first (0: the main line, the newest timeline's); see recover --timeline", NULL,
     NULL},
};

static const OptSet logSet = {
    "log",
    "binvault log --archive URL [--since TIME] [--until TIME] [--grep REGEX] [--timezone TZ] [--json]\n"
    "                    [--timeline N]",
    "Lists the archived transactions: GTID, commit time, binlog position (start-end), kind, tables and\n"
    "statement text where the binlog has it (DDL, statement-based events, and the ANNOTATE_ROWS of\n"
    "row events), so that the GTID or position of a bad statement can be found without binlog files:\n\n"
    "  binvault log --archive URL --since '2026-11-21 14:00:00' --grep 'drop table'\n"
    "  binvault recover ... --until-gtid GTID --exclusive\n\n"
    "TIME is 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC, or in --timezone (UTC, +02:00, Europe/Paris), which\n"
    "also applies to the times printed. Only the segments whose commits overlap --since/--until are\n"
    "read (chosen from the index), each verified as it is read. --grep keeps the transactions whose\n"
    "statement, tables or GTID match the extended regular expression (case-insensitive). --json prints\n"
    "one JSON object per transaction (JSON Lines).\n\n"
    "In an archive that followed a failover, the transactions shown are those of the main line (the\n"
    "newest timeline and its parents up to each fork), or with --timeline N those of timeline N's\n"
    "history, diverged branch included.\n\n" CMD_STORAGE_HELP,
    logDefs,
    sizeof(logDefs) / sizeof(logDefs[0]),
    NULL,
    0,
    0,
};

static void
putText(const char *text, size_t len, size_t max) {
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)text[i];

        putchar(c == '\n' || c == '\r' || c == '\t' ? ' ' : (c < 0x20 || c == 0x7f ? '?' : c));
    }
    if (len > max)
        fputs("...", stdout);
}

/* --grep: the statement as written and without its backticks (so `shop.orders` finds
 * DROP TABLE `shop`.`orders`), the tables, the GTID. */
static bool
logMatch(const LogCmd *lc, const BinlogTxn *t) {
    size_t n = 0;

    if (!lc->haveRe)
        return true;
    if (regexec(&lc->re, t->statement, 0, NULL, 0) == 0 || regexec(&lc->re, t->tables, 0, NULL, 0) == 0 ||
        regexec(&lc->re, t->gtid, 0, NULL, 0) == 0)
        return true;
    if (strchr(t->statement, '`') == NULL)
        return false;
    for (const char *p = t->statement; *p && n < LOG_TEXT_MAX + 3; p++)
        if (*p != '`')
            lc->unquoted[n++] = *p;
    lc->unquoted[n] = '\0';
    return regexec(&lc->re, lc->unquoted, 0, NULL, 0) == 0;
}

static void
logPrint(LogCmd *lc, const SegmentMeta *m, const BinlogTxn *t) {
    static const char *const kinds[] = {"transaction", "statement", "xa-prepare", "rollback"};
    char when[48], range[SEGMENT_FILE_MAX + 48];

    timeFormat(t->commitTimeUs, &lc->tz, t->commitTimeUs % 1000000u != 0, when, sizeof(when));
    if (lc->json) {
        printf("{\"gtid\":");
        jsonPutString(stdout, t->gtid, strlen(t->gtid));
        printf(",\"commit_us\":%" PRIu64 ",\"commit_time\":\"%s\",\"time_zone\":", t->commitTimeUs, when);
        jsonPutString(stdout, lc->tz.name, strlen(lc->tz.name));
        printf(",\"file\":");
        jsonPutString(stdout, m->file, strlen(m->file));
        printf(",\"start_pos\":%" PRIu64 ",\"end_pos\":%" PRIu64 ",\"kind\":\"%s\",\"ddl\":%s,\"events\":%u,\"tables\":",
               t->startPos, t->endPos, kinds[t->kind], t->ddl ? "true" : "false", t->events);
        jsonPutString(stdout, t->tables, strlen(t->tables));
        printf(",\"statement\":");
        jsonPutString(stdout, t->statement, strlen(t->statement));
        printf(",\"segment\":%" PRIu64 "}\n", m->seq);
        return;
    }
    snprintf(range, sizeof(range), "%s:%" PRIu64 "-%" PRIu64, m->file, t->startPos, t->endPos);
    printf("%-24s %-26s %-36s %-11s %-24s ", t->gtid[0] ? t->gtid : "-", when, range, kinds[t->kind],
           t->tables[0] ? t->tables : "-");
    putText(t->statement, strlen(t->statement), LOG_TEXT_SHOWN);
    putchar('\n');
}

/* Print the selected transactions of a segment: 0, or 1 when the store does not hold it (not an
 * error: a hole, reported by the caller), -1 on any other failure. */
static int
logSegment(LogCmd *lc, Archive *a, const SegmentMeta *m, Err *err) {
    SegmentReader *r = archiveSegmentOpen(a, m, err);
    BinlogTxnFramer *f;
    BinlogEvent ev;
    uint64_t pos;
    int rc;

    if (r == NULL)
        return err->code == ERR_NOTFOUND ? 1 : -1;
    f = binlogTxnFramerNew(LOG_TEXT_MAX);
    while ((rc = segmentReaderNext(r, &ev, &pos, err)) == 1) {
        int st;

        if (pos >= m->endPos)
            continue; /* after the fork of the path followed (archive/timeline.h): read, verified, not shown */
        st = binlogTxnFramerPush(f, segmentReaderFormat(r), &ev, pos, err);

        if (st < 0) {
            rc = errPrefix(err, "segment '%s': event at %s:%" PRIu64, m->name, m->file, pos);
            break;
        }
        if ((st & 0x0f) == BINLOG_TXN_END) {
            const BinlogTxn *t = binlogTxnFramerDone(f);

            lc->read++;
            if (t->commitTimeUs >= lc->sinceUs && t->commitTimeUs <= lc->untilUs && logMatch(lc, t)) {
                logPrint(lc, m, t);
                lc->shown++;
            }
        }
    }
    if (rc == 0 && m->sha256[0] != '\0' && strcmp(segmentReaderSha256(r), m->sha256) != 0)
        rc = errSet(err, ERR_CHECKSUM, "segment '%s': object sha256 mismatch: computed %s, the index says %s", m->name,
                    segmentReaderSha256(r), m->sha256);
    binlogTxnFramerFree(f);
    segmentReaderFree(r);
    fflush(stdout);
    return rc < 0 ? -1 : 0;
}

/* The transactions the options select, printed; the exit code. */
static int logRun(LogCmd lc);

int
cmdLog(int argc, char **argv) {
    LogCmd lc = {0};
    int rc;

    if (!cmdOptions(&logSet, &lc, argc, argv, NULL, NULL, &rc))
        return rc;
    rc = logRun(lc);
    optFree(&logSet, &lc);
    return rc;
}

/* Whether a block or segment with these commit-time bounds may hold a commit in the window
 * (first and last, or lowest and highest, in either order: commit times need not follow binlog
 * order). */
static bool
logOverlaps(const LogCmd *lc, uint64_t a, uint64_t b) {
    uint64_t lo = a < b ? a : b, hi = a < b ? b : a;

    return hi >= lc->sinceUs && lo <= lc->untilUs;
}

/* What the search went through, for the gaps it crosses and its totals. */
typedef struct LogScan {
    LogCmd *lc;
    Archive *a;
    ArchiveGap *gaps;
    size_t ngaps;
    TimelineSet *set;
    TimelinePath *path; /* the path followed (the main line of a forked archive, or --timeline), else NULL */
    uint64_t prevSeq, missing, gapsCrossed;
} LogScan;

/* Search one segment. Whether the store holds it is learnt by reading it (a listing of every
 * segment searched would cost memory per segment); `unstored` says so beforehand for the tail. */
static int
logMeta(LogScan *sc, const SegmentMeta *m, bool unstored, Err *err) {
    LogCmd *lc = sc->lc;
    int rc = 1;

    if (m->transactions == 0 || !logOverlaps(lc, m->firstTimeUs, m->lastTimeUs))
        return 0;
    for (size_t g = 0; g < sc->ngaps; g++)
        if (sc->prevSeq != 0 && sc->gaps[g].afterSeq >= sc->prevSeq && sc->gaps[g].beforeSeq <= m->seq) {
            fprintf(stderr, "binvault: %s in the archive: %s\n", sc->gaps[g].accepted ? "accepted gap" : "gap",
                    sc->gaps[g].message);
            /* An accepted gap is known and recorded: what it lacks is nowhere to search. */
            sc->gapsCrossed += !sc->gaps[g].accepted;
        }
    sc->prevSeq = m->seq;
    if (!unstored && (rc = logSegment(lc, sc->a, m, err)) < 0)
        return -1;
    if (rc == 1) {
        errClear(err);
        fprintf(stderr, "binvault: segment '%s' is in the index but not in the store: its transactions are missing "
                        "here\n", m->name);
        sc->missing++;
        return 0;
    }
    lc->segments++;
    return 0;
}

/* Search one segment as the path followed sees it: not at all off it, up to the fork in the segment
 * that holds one. */
static int
logOne(LogScan *sc, const SegmentMeta *m, bool unstored, Err *err) {
    SegmentMeta cut;
    int rc;

    if (sc->path == NULL)
        return logMeta(sc, m, unstored, err);
    switch (timelinePathSegment(sc->path, m, NULL)) {
    case TIMELINE_OFF: return 0;
    case TIMELINE_CUT:
        timelinePathViewMeta(sc->path, m, &cut);
        rc = logMeta(sc, &cut, unstored, err);
        segmentMetaClear(&cut);
        return rc;
    default: return logMeta(sc, m, unstored, err);
    }
}

/* The segments first..last of a block, each read when its commits may fall in the window. */
static int
logRange(LogScan *sc, ArchiveView *v, uint64_t first, uint64_t last, Err *err) {
    ArchiveCursor *cur;
    const SegmentMeta *m;
    int rc;

    if ((cur = archiveViewCursor(v, first, last, err)) == NULL)
        return -1;
    while ((rc = archiveCursorNext(cur, &m, NULL, err)) == 1)
        if ((rc = logOne(sc, m, false, err)) != 0)
            break;
    archiveCursorFree(cur);
    return rc;
}

/* Every block whose summary line says it may hold a commit in the window, and the tail: the
 * summaries' commit-time bounds spare reading the index of the rest. */
static int
logScan(LogScan *sc, ArchiveView *v, Err *err) {
    const ArchiveCatalog *tail = archiveViewTail(v);
    size_t nspans = archiveViewSpanCount(v), nt = tail != NULL ? archiveCatalogCount(tail) : 0, s = 0, t = 0;

    while (s < nspans || t < nt) {
        const ArchiveSpan *sp = s < nspans ? archiveViewSpanAt(v, s) : NULL;
        const SegmentMeta *m = t < nt ? archiveCatalogAt(tail, t) : NULL;
        int rc = 0;

        if (sp != NULL && (m == NULL || sp->firstSeq < m->seq)) {
            if (sp->transactions > 0 && logOverlaps(sc->lc, sp->minTimeUs, sp->maxTimeUs))
                rc = logRange(sc, v, sp->firstSeq, sp->lastSeq, err);
            s++;
        } else {
            rc = logOne(sc, m, !archiveCatalogListed(tail, t, NULL), err);
            t++;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int
logRun(LogCmd lc) {
    Storage *storage = NULL;
    ArchiveView *v = NULL;
    LogScan sc = {.lc = &lc};
    uint64_t segments = 0;
    Err err = {0};
    int rc = -1;

    lc.sinceUs = lc.since.text != NULL ? lc.since.us : 0;
    lc.untilUs = lc.until.text != NULL ? lc.until.us : UINT64_MAX;
    if (lc.sinceUs > lc.untilUs) {
        errSet(&err, ERR_USAGE, "--since '%s' is after --until '%s'", lc.since.text, lc.until.text);
        return cmdFail(&err);
    }
    if (lc.grep != NULL) {
        int e = regcomp(&lc.re, lc.grep, REG_EXTENDED | REG_ICASE | REG_NOSUB);

        if (e != 0) {
            char msg[256];

            regerror(e, &lc.re, msg, sizeof(msg));
            errSet(&err, ERR_USAGE, "invalid --grep '%s': %s", lc.grep, msg);
            return cmdFail(&err);
        }
        lc.haveRe = true;
        lc.unquoted = bvMalloc(LOG_TEXT_MAX + 4);
    }
    if ((storage = cmdOpenArchive(lc.archive, &lc.storage, &err)) == NULL)
        goto out;
    sc.a = archiveNew(storage);
    if ((v = archiveViewOpen(sc.a, ARCHIVE_LOAD_DISCOVER, &err)) == NULL ||
        timelineSetLoad(sc.a, &sc.set, &err) != 0)
        goto out;
    /* The path followed (archive/timeline.h): only a forked archive has segments off the main line. */
    if ((timelineSetForked(sc.set) || lc.timeline > 0) &&
        (sc.path = timelinePathNew(sc.set, (uint32_t)lc.timeline, &err)) == NULL)
        goto out;
    cmdViewWarn(v);
    if (archiveViewGaps(v, &sc.gaps, &sc.ngaps, &err) != 0)
        goto out;
    archiveViewTotals(v, &segments, NULL, NULL, NULL);
    if (!lc.json)
        printf("%-24s %-26s %-36s %-11s %-24s %s\n", "GTID", lc.tz.kind == TIME_ZONE_UTC ? "COMMIT (UTC)" : "COMMIT",
               "FILE:START-END", "KIND", "TABLES", "STATEMENT");
    rc = logScan(&sc, v, &err);
    if (rc == 0 && !lc.json)
        printf("# %" PRIu64 " transaction%s shown, of %" PRIu64 " read in %" PRIu64 " of %" PRIu64 " segments%s\n",
               lc.shown, lc.shown == 1 ? "" : "s", lc.read, lc.segments, segments,
               sc.missing + sc.gapsCrossed > 0 ? " (INCOMPLETE: see below)" : "");
    /* What was not searched may hold what was asked for: an empty result must not read as "none". */
    if (rc == 0 && sc.missing + sc.gapsCrossed > 0)
        rc = errSet(&err, ERR_GAP, "the range searched is incomplete: %" PRIu64 " segment%s missing from the store, %"
                    PRIu64 " gap%s crossed; what they held was not searched ('binvault verify' tells more)", sc.missing,
                    sc.missing == 1 ? "" : "s", sc.gapsCrossed, sc.gapsCrossed == 1 ? "" : "s");
out:
    if (lc.haveRe)
        regfree(&lc.re);
    bvFree(lc.unquoted);
    bvFree(sc.gaps);
    timelinePathFree(sc.path);
    timelineSetFree(sc.set);
    archiveViewFree(v);
    archiveFree(sc.a);
    storageFree(storage);
    return rc == 0 ? 0 : cmdFail(&err);
}
