/*
 * Timelines (docs/FORMAT.md "Timelines", "Timeline records", "The main line"): the runs of an
 * archive's history that come from one source server each, the immutable records that say where
 * each one leaves its parent (the fork point) and what the parent archived after it (the diverged
 * branch), and the main line a recovery follows by default.
 *
 *  - Records: timelines/<tl, 8 digits>.json, parsed strictly (they come from the store: every
 *    member checked, hostile input refused with ERR_FORMAT), stored create-exclusive with
 *    consecutive numbers (timelineRecordWrite()).
 *  - The source identity: what makes a source the same server (timelineSourceCompare()).
 *  - A TimelineSet: every record of an archive (timelines/ holds a few objects), and a TimelinePath:
 *    the chain from a timeline back through its parents to timeline 1, each parent up to its
 *    child's fork point. The path of the newest timeline is the main line; `--timeline N` is the
 *    path of N. Whether a segment is on a path, and up to which position, is answered from the
 *    segment's own metadata (its seq and timeline) and the records alone, so it works over any
 *    catalog, loaded whole or streamed.
 *  - The fork point and the diverged branch of a new timeline, found in the parent's segments by
 *    GTID state (timelineForkFind(), timelineDivergedAdd()).
 *
 * An archive without records (format 1) has one implicit timeline, 1, whose path holds every
 * segment.
 */
#ifndef BV_ARCHIVE_TIMELINE_H
#define BV_ARCHIVE_TIMELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/catalog.h"
#include "binlog/txn.h"
#include "common/buf.h"
#include "common/err.h"

#define TIMELINE_PREFIX "timelines/"
/* Highest timeline number (8 digits in the name). */
#define TIMELINE_MAX 99999999u
/* Longest reason kept, with its NUL. */
#define TIMELINE_REASON_MAX 1024
/* Most records a set loads: each failover adds one. */
#define TIMELINE_SET_MAX 10000

/* A source's identity: a change of any member (domain id: when both know it) is a new timeline. */
typedef struct TimelineSource {
    BinlogFlavour flavour;
    uint32_t serverId;
    char serverUuid[37];           /* MySQL @@server_uuid; "" for MariaDB */
    char host[256];                /* host:port the source was reached at; "import" for import */
    char basename[SEGMENT_FILE_MAX]; /* binlog base name, e.g. "mariadb-bin" */
    char serverVersion[51];        /* not part of the identity */
    bool hasDomainId;              /* MariaDB @@gtid_domain_id, when known */
    uint32_t domainId;
} TimelineSource;

/* Where a timeline leaves its parent: the parent's last transaction that the new timeline's
 * history also holds. */
typedef struct TimelineFork {
    uint64_t seq;                  /* the parent's segment that holds it */
    char file[SEGMENT_FILE_MAX];   /* file:pos = the end of that transaction in the parent's binlog */
    uint64_t pos;
    char *gtidState;               /* the GTID state after it (allocated) */
    char gtid[BINLOG_TXN_GTID_MAX]; /* its GTID ("" when unknown or anonymous) */
    uint64_t timeUs;               /* its commit time (0 when unknown) */
    uint64_t transactions;         /* segment seq's transactions up to it, itself included (>= 1) */
} TimelineFork;

/* What the parent archived after the fork: the diverged branch. */
typedef struct TimelineDiverged {
    uint64_t firstSeq, lastSeq;    /* the segments that hold it (firstSeq may be the fork's) */
    uint64_t transactions;
    char firstGtid[BINLOG_TXN_GTID_MAX], lastGtid[BINLOG_TXN_GTID_MAX];
    uint64_t firstTimeUs, lastTimeUs;
} TimelineDiverged;

typedef struct TimelineRecord {
    uint32_t timeline;             /* >= 1 */
    uint32_t parent;               /* 0 for timeline 1, else < timeline */
    TimelineSource source;
    uint64_t firstSeq;             /* the first segment of this timeline */
    bool hasFork;                  /* false only for timeline 1 */
    TimelineFork fork;
    bool hasDiverged;              /* false: nothing diverged (a clean switchover) */
    TimelineDiverged diverged;
    char created[32];
    char reason[TIMELINE_REASON_MAX];
} TimelineRecord;

/* ---- records ---- */

/* timelines/<tl, 8 digits>.json; parse: -1 when `name` is not one. */
void timelineName(uint32_t timeline, char *out, size_t size);
int timelineNameParse(const char *name, uint32_t *timeline);
/* Parse a record's text (`len` bytes, any content): every member of FORMAT.md with its type and
 * bounds, timeline 1 without a fork and parent 0, a later one with both (parent < timeline,
 * fork.seq < first_seq), a diverged branch after the fork (first <= last < first_seq, a count of
 * at least 1). *rec is overwritten; on failure it holds nothing to free. ERR_FORMAT. */
int timelineRecordParse(const char *text, size_t len, TimelineRecord *rec, Err *err);
/* The record as its JSON document (one line, no newline). */
void timelineRecordToJson(const TimelineRecord *rec, Buf *out);
/* Store rec as timelines/<timeline>.json, immutable (created is set now when empty). Its number
 * must follow the archive's records (1 on an archive without, else the newest + 1) and its parent
 * must be an earlier timeline: ERR_FORMAT otherwise. A record already there with
 * the same content but `created` (a writer that crashed before its first segment, run again) is
 * success; another is ERR_EXISTS naming both. */
int timelineRecordWrite(Archive *a, TimelineRecord *rec, Err *err);
void timelineRecordCopy(TimelineRecord *dst, const TimelineRecord *src); /* deep; dst overwritten */
void timelineRecordClear(TimelineRecord *rec);

/* "N transactions committed on server_id S (HOST) after the fork were not followed by timeline T
 * (failover at TIME): GTID..GTID, committed T1 .. T2 UTC, seqs A-B" for a record with a diverged
 * branch; "" otherwise. */
void timelineDescribeDiverged(const TimelineRecord *rec, char *out, size_t size);

/* ---- the source identity ---- */

/* Whether `now` is the same source as `was`: 1 same, 0 different (*why, of `whySize` bytes, says
 * what changed: "server_id 1 -> 2", "host 'db1:3306' -> 'db2:3306'"). The server version is not
 * compared; a domain id only when both know it. */
int timelineSourceCompare(const TimelineSource *was, const TimelineSource *now, char *why, size_t whySize);
/* The binlog base name of a file name ("mariadb-bin" of "mariadb-bin.000012"). */
void timelineBasename(const char *file, char *out, size_t size);

/* ---- a set of records ---- */

typedef struct TimelineSet TimelineSet;

/* Read every record of timelines/ (listed, each read whole, at most TIMELINE_SET_MAX): numbers
 * must run 1..N with no gap (a set that starts at 2 has an implicit timeline 1), each name must
 * hold its own number, each parent must be an earlier timeline. ERR_FORMAT naming the object. An
 * archive without records gives an empty set (one implicit timeline). */
int timelineSetLoad(Archive *a, TimelineSet **out, Err *err);
/* An empty set, to fill with timelineSetAdd() (tests, fuzzing, writers that know their records). */
TimelineSet *timelineSetNew(void);
/* Add a copy of rec; it must be the next number (1, or 2 on an empty set, or the newest + 1) and
 * its parent an earlier timeline. ERR_FORMAT. */
int timelineSetAdd(TimelineSet *set, const TimelineRecord *rec, Err *err);
size_t timelineSetCount(const TimelineSet *set);
const TimelineRecord *timelineSetAt(const TimelineSet *set, size_t i);
/* The record of `timeline`, NULL when none (the implicit timeline 1, or no such timeline). */
const TimelineRecord *timelineSetFind(const TimelineSet *set, uint32_t timeline);
/* The newest timeline's number: 1 for an empty set. */
uint32_t timelineSetNewest(const TimelineSet *set);
/* Whether the archive has more than one timeline (only then can a path leave anything out). */
bool timelineSetForked(const TimelineSet *set);
/* Records with a diverged branch, in timeline order (timelineDescribeDiverged() says them). */
size_t timelineSetDivergedCount(const TimelineSet *set);
const TimelineRecord *timelineSetDivergedAt(const TimelineSet *set, size_t i);
void timelineSetFree(TimelineSet *set);

/* ---- paths: the main line and the view of one timeline ---- */

typedef struct TimelinePath TimelinePath;

typedef enum TimelineOn {
    TIMELINE_OFF = 0, /* not on the path: a diverged branch, or a timeline the path does not hold */
    TIMELINE_WHOLE,   /* on the path, the whole segment */
    TIMELINE_CUT,     /* on the path up to *cutPos only: it holds the fork point of the next
                       * timeline on the path, and transactions after it that diverged */
} TimelineOn;

/* The path of `tip` (0: the newest timeline, the main line): tip, its parent up to tip's fork,
 * and so on to timeline 1. ERR_NOTFOUND for a timeline the set does not have (naming the ones it
 * has). The set must outlive the path. */
TimelinePath *timelinePathNew(const TimelineSet *set, uint32_t tip, Err *err);
uint32_t timelinePathTip(const TimelinePath *p);
/* Whether segment m (its seq and timeline) is on the path; for TIMELINE_CUT, *cutPos (may be NULL)
 * receives the fork position it ends at. */
TimelineOn timelinePathSegment(const TimelinePath *p, const SegmentMeta *m, uint64_t *cutPos);
/* m as the path sees it: a copy (segmentMetaClear() it) that, for a TIMELINE_CUT segment, ends at
 * the fork: end_pos, gtid_end, last GTID and time, transactions (those after the fork counted
 * out when the record knows them) and ends_file, with objectEndPos the object's own end. For
 * TIMELINE_WHOLE, an unchanged copy. Not for TIMELINE_OFF segments. */
void timelinePathViewMeta(const TimelinePath *p, const SegmentMeta *m, SegmentMeta *out);
/* Whether the path holds timeline `timeline` and, when it does, *forkSeq (may be NULL): the seq of
 * the fork where the path leaves it (its segments after that seq are off the path, the one at it
 * may be cut), UINT64_MAX for the tip. What a summary line's timelines say of a whole block. */
bool timelinePathHolds(const TimelinePath *p, uint32_t timeline, uint64_t *forkSeq);
/* The first seq of the next timeline the path takes after seq `after` (where it joins its
 * parent's fork): 0 when none. */
uint64_t timelinePathNextStart(const TimelinePath *p, uint64_t after);
/* Catalog c (loaded whole, or one block of it) cut down to the path: the segments off it dropped
 * (each seq handed to `dropped`, when not NULL, in seq order), the cut ones replaced by
 * timelinePathViewMeta(); c is then marked a timeline view (continuity joins each timeline to its
 * fork by GTID state). */
void timelinePathFollowCatalog(const TimelinePath *p, ArchiveCatalog *c, void (*dropped)(void *data, uint64_t seq),
                               void *data);
/* Whether a point of the history (a base backup's consistent point: its timeline, 0 read as 1,
 * file:pos in that timeline's binlog, GTID state, "" or NULL when unknown) is on the path: its
 * timeline is, and when the path leaves that timeline at a child's fork, the point is at or before
 * the fork (its state contained in the fork's state; without states, by position). A backup taken
 * on an old primary after the fork is not. ERR_FORMAT for a malformed state. */
int timelinePathHoldsPoint(const TimelinePath *p, BinlogFlavour flavour, uint32_t timeline, const char *file, uint64_t pos,
                           const char *state, bool *on, Err *err);
void timelinePathFree(TimelinePath *p);

/* ---- over a loaded catalog (timeline_catalog.c) ---- */

/* Make c the catalog as timeline `tip` sees it (0: the main line): load the archive's records and,
 * when the archive has forked (or tip > 1), drop the segments off the path and cut the fork
 * segments at their forks (timelinePathViewMeta()); continuity then joins each timeline to its
 * fork by GTID state. A format-1 archive, or one that never forked, is left as it is. *set (may be
 * NULL) receives the records (timelineSetFree() it). ERR_NOTFOUND for a timeline the archive does
 * not have; the errors of timelineSetLoad(). */
int archiveCatalogFollowTimeline(Archive *a, ArchiveCatalog *c, uint32_t tip, TimelineSet **set, Err *err);

/* What verify checks of the segments against the records: every segment's timeline label lies in
 * its timeline's seqs (first_seq up to the next timeline's), each fork lies in a segment of the
 * parent (file, and a position inside it), and each timeline's first segment is there, labelled
 * with it, and starts at the fork's GTID state. Each problem goes to fn (object: the segment or
 * record named): the labels' as the segments are given, the records' at the end. */
typedef void TimelineProblemFn(void *data, const char *object, uint64_t seq, const char *message);
typedef struct TimelineCheck TimelineCheck;

/* A check of the segments of an archive whose first kept seq is `firstSeq` (forks and first segments
 * below it were pruned: not problems) against `set` (which must outlive the check). Memory: a few
 * bytes per record, whatever the number of segments. */
TimelineCheck *timelineCheckNew(const TimelineSet *set, uint64_t firstSeq, TimelineProblemFn *fn, void *data);
/* The next segment, in seq order (a cursor's: archiveCursorNext()): its label is checked now, and
 * what a record says of it (its fork, its timeline's first segment) is kept for the end. */
void timelineCheckSegment(TimelineCheck *chk, const SegmentMeta *m);
/* After the last segment: each record's problems, in record order (a fork or first segment that
 * was not given is not in the archive). */
void timelineCheckFinish(TimelineCheck *chk);
void timelineCheckFree(TimelineCheck *chk);
/* The same over a loaded catalog: every entry, then the records. */
void timelineCheckCatalog(const TimelineSet *set, const ArchiveCatalog *c, TimelineProblemFn *fn, void *data);

/* ---- finding the fork point ---- */

/* Where `state` (the GTID state a new timeline starts from) lies in the parent's segments `segs`
 * (n of them, in seq order, all of timeline `parent`): the last transaction after which the
 * parent's GTID state equals `state` (server ids included for MariaDB; as sets for MySQL). The
 * segment is found from the index (its gtid_start/gtid_end) and read through the verifying
 * reader for the transaction's end. *fork receives seq, file, pos, gtid_state, gtid, time.
 * ERR_NOTFOUND when no archived point of the parent has that state (the new source's history does
 * not contain the parent's: not a failover binvault can follow); ERR_FORMAT for a malformed state.
 * A state equal to the gtid_start of the parent's first segment with no transaction before it is
 * also ERR_NOTFOUND: a timeline forks after a transaction. */
int timelineForkFind(Archive *a, const SegmentMeta *const *segs, size_t n, const char *state, TimelineFork *fork,
                     Err *err);
/* Fill rec->diverged (and hasDiverged) from the parent's segments `segs` (n, in seq order, the
 * fork's segment first or not among them): the transactions after rec->fork, read from the fork's
 * segment (the part after fork.pos) and counted from the index for the later ones. */
int timelineDivergedFill(Archive *a, const SegmentMeta *const *segs, size_t n, TimelineRecord *rec, Err *err);
void timelineForkClear(TimelineFork *fork);

#endif
