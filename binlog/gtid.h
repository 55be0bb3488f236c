/*
 * GTID sets of MySQL and GTID positions of MariaDB: text and binary forms, set algebra. Pure code:
 * no I/O, every input validated before use.
 *
 * MySQL: a GtidSet maps a TSID (server uuid + optional tag, MySQL 8.3+) to a set of transaction
 * numbers (GNO, 1 .. GTID_GNO_MAX). Text form as the server prints it (Gtid_set::to_string):
 * `uuid:1-5:7,\nuuid2:3`, uuids sorted, intervals merged and sorted; tagged sets print the
 * untagged intervals of a uuid first and then each tag in order: `uuid:1-5:tag_a:1-3:tag_b:4`.
 * Binary form as in PREVIOUS_GTIDS and COM_BINLOG_DUMP_GTID (Gtid_set::encode).
 *
 * MariaDB: a GTID is `domain-server-seq`; a MariaGtidPos holds the last GTID of each domain, as
 * `@@gtid_binlog_pos` / `@slave_connect_state` print it: `0-1-100,1-2-7`.
 *
 * GtidState is the flavour-independent layer over both: the one place that decides "is this a
 * MariaDB position or a MySQL set?". Code that handles GTID states of an archive or a server of
 * either flavour uses it, never the two types side by side.
 */
#ifndef BV_BINLOG_GTID_H
#define BV_BINLOG_GTID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "binlog/event.h"
#include "common/err.h"

/* Largest GNO the server accepts (GNO_END - 1 = INT64_MAX - 1). */
#define GTID_GNO_MAX (INT64_MAX - 1)
/* Longest tag, in characters (MySQL tag_max_length). */
#define GTID_TAG_MAX 32
/* Text length of a uuid, without the terminating NUL. */
#define GTID_UUID_TEXT_LEN 36

/* ---- MySQL GTID sets ------------------------------------------------------------------------ */

typedef struct GtidSet GtidSet;

/* An empty set. */
GtidSet *gtidSetNew(void);

/* A deep copy of set. */
GtidSet *gtidSetDup(const GtidSet *set);

/* True when the set holds no transaction. */
bool gtidSetIsEmpty(const GtidSet *set);

/* Number of transactions in the set, saturating at UINT64_MAX. */
uint64_t gtidSetCount(const GtidSet *set);

/* True when the set contains uuid[:tag]:gno; tag NULL or "" means untagged, and is compared
 * case-insensitively. An invalid tag or gno is contained in no set. */
bool gtidSetContainsGtid(const GtidSet *set, const uint8_t uuid[16], const char *tag, int64_t gno);

/* True when every transaction of a is in b (the empty set is a subset of every set). */
bool gtidSetIsSubset(const GtidSet *a, const GtidSet *b);

/* True when a and b hold the same transactions. */
bool gtidSetEqual(const GtidSet *a, const GtidSet *b);

/* Add the text form of a GTID set to set. Accepts what the server prints and accepts: whitespace
 * and newlines around separators, several entries for one uuid, unsorted and overlapping
 * intervals, several tags per uuid (`uuid:1-5:tag1:1-3:tag2:4`, tags case-insensitive). An empty
 * or blank text adds nothing. Rejected, with `invalid gtid set '<text>': <reason naming the
 * offending part>` (ERR_FORMAT): a malformed uuid or tag, an entry without interval, a gno of 0
 * or above GTID_GNO_MAX, an interval whose end is before its start, an empty entry (`a,,b`,
 * trailing comma). On error the set is left unchanged. */
int gtidSetParse(GtidSet *set, const char *text, Err *err);

/* Add the binary encoding (PREVIOUS_GTIDS body without the checksum, or the set of a
 * COM_BINLOG_DUMP_GTID payload) of len bytes at p: untagged (`n_sids u64`, per sid `uuid[16]
 * n_intervals u64 {start i64, end i64 exclusive}`) or tagged format 1 (first u64 =
 * `(1 << 56) | (n_sids << 8) | 1`, a varlen tag length and the tag after each uuid). Counts are
 * checked against the bytes present, intervals must be ascending with gaps (start > previous
 * end, start < end), and the encoding must fill exactly len bytes. ERR_FORMAT on error, and the
 * set is left unchanged. */
int gtidSetDecode(GtidSet *set, const uint8_t *p, size_t len, Err *err);

/* Add uuid[:tag]:gno. tag NULL or "" means untagged; a tag is normalised to lowercase.
 * ERR_FORMAT for an invalid tag or a gno outside 1 .. GTID_GNO_MAX. */
int gtidSetAddGtid(GtidSet *set, const uint8_t uuid[16], const char *tag, int64_t gno, Err *err);

/* Add uuid[:tag]:first-last (inclusive, as in the text form). ERR_FORMAT for an invalid tag,
 * a bound outside 1 .. GTID_GNO_MAX, or last < first. */
int gtidSetAddInterval(GtidSet *set, const uint8_t uuid[16], const char *tag, int64_t first,
                       int64_t last, Err *err);

/* dst = dst | src. Linear in the sizes of both sets. */
void gtidSetUnion(GtidSet *dst, const GtidSet *src);

/* dst = dst - src. Linear in the sizes of both sets. */
void gtidSetSubtract(GtidSet *dst, const GtidSet *src);

/* The server's text form (separator ",\n" between uuids, "" for the empty set); allocated,
 * bvFree() it. */
char *gtidSetFormat(const GtidSet *set);

/* Like gtidSetFormat() with sep between uuids, e.g. "," for a single line. */
char *gtidSetFormatSep(const GtidSet *set, const char *sep);

/* The binary encoding: untagged when the set has no tag, tagged format 1 otherwise; TSIDs sorted
 * as the server does. Allocated (bvFree() it); *len receives its size. */
uint8_t *gtidSetEncode(const GtidSet *set, size_t *len);

void gtidSetFree(GtidSet *set);

/* Parse the 36-character text form of a uuid (8-4-4-4-12 hex digits, either case, nothing
 * before or after). Returns 0, or -1 when text is not a uuid. */
int gtidUuidParse(const char *text, uint8_t out[16]);

/* Lowercase text form of a uuid, NUL-terminated. */
void gtidUuidFormat(const uint8_t uuid[16], char out[GTID_UUID_TEXT_LEN + 1]);

/* ---- MariaDB GTIDs and positions -------------------------------------------------------------- */

typedef struct MariaGtid {
    uint32_t domain;
    uint32_t server;
    uint64_t seq;
} MariaGtid;

/* Size of a buffer that holds any formatted MariaGtid. */
#define MARIA_GTID_TEXT_MAX 64

/* GTID_LIST (163) flags, in the high 4 bits of count_and_flags (MariaDB Gtid_list_log_event). */
#define MARIA_GTID_LIST_FLAG_UNTIL_REACHED (1u << 28)
#define MARIA_GTID_LIST_FLAG_IGN_GTIDS (1u << 29)

/* Parse `domain-server-seq` (u32-u32-u64, decimal; surrounding whitespace allowed).
 * ERR_FORMAT with `invalid mariadb gtid '<text>': <reason>`. */
int mariaGtidParse(const char *text, MariaGtid *out, Err *err);

/* `domain-server-seq`, NUL-terminated. */
void mariaGtidFormat(const MariaGtid *g, char out[MARIA_GTID_TEXT_MAX]);

/* Decode a GTID_LIST event body (without the common header and the checksum): u32
 * count_and_flags (low 28 bits count), then count entries {domain u32, server u32, seq u64}.
 * *list (bvFree() it; NULL when the count is 0) and *count receive the entries in event order,
 * *flags the high 4 bits (MARIA_GTID_LIST_FLAG_*, unshifted). The count must fit the bytes;
 * bytes after the entries are ignored, as the server does. ERR_FORMAT on error. */
int mariaGtidListDecode(const uint8_t *body, size_t len, MariaGtid **list, size_t *count,
                        uint32_t *flags, Err *err);

typedef struct MariaGtidPos MariaGtidPos;

/* An empty position. */
MariaGtidPos *mariaGtidPosNew(void);

/* A copy of pos. */
MariaGtidPos *mariaGtidPosDup(const MariaGtidPos *pos);

/* The position a GTID_LIST describes: per domain the entry with the highest seq (the later entry
 * on a tie, as the server lists a domain's last GTID last). */
MariaGtidPos *mariaGtidPosFromList(const MariaGtid *list, size_t count);

/* Number of domains. */
size_t mariaGtidPosCount(const MariaGtidPos *pos);

/* The i-th GTID in domain order; i < mariaGtidPosCount(). */
void mariaGtidPosAt(const MariaGtidPos *pos, size_t i, MariaGtid *out);

/* The GTID of a domain; false when the domain is absent (out untouched). */
bool mariaGtidPosGet(const MariaGtidPos *pos, uint32_t domain, MariaGtid *out);

/* True when the domain of g is in pos with a seq >= g->seq (the server id is not compared). */
bool mariaGtidPosContains(const MariaGtidPos *pos, const MariaGtid *g);

/* True when every GTID of target is contained in pos (an empty target is always reached). */
bool mariaGtidPosReached(const MariaGtidPos *pos, const MariaGtidPos *target);

/* True when both hold the same domains with the same GTIDs (server ids included). */
bool mariaGtidPosEqual(const MariaGtidPos *a, const MariaGtidPos *b);

/* Parse `0-1-100,1-2-7` (whitespace around the GTIDs allowed; empty or blank text = nothing) and
 * set the GTID of each domain it names in pos. A domain named twice is an error, as for the
 * server's @slave_connect_state. ERR_FORMAT with `invalid gtid position '<text>': <reason>`; on
 * error pos is left unchanged. */
int mariaGtidPosParse(MariaGtidPos *pos, const char *text, Err *err);

/* Set the GTID of g's domain to g (whatever its previous seq). */
void mariaGtidPosUpdate(MariaGtidPos *pos, const MariaGtid *g);

/* The GTIDs sorted by domain joined with ",", "" when empty (as @@gtid_binlog_pos prints);
 * allocated, bvFree() it. */
char *mariaGtidPosFormat(const MariaGtidPos *pos);

void mariaGtidPosFree(MariaGtidPos *pos);

/* ---- GTID states of either flavour ---------------------------------------------------------- */

/* What a server has executed: a MariaGtidPos (MariaDB) or a GtidSet (MySQL). A single GTID is a
 * state too: MariaDB `0-1-5` stands for domain 0 up to seq 5, MySQL `uuid:5` for that one
 * transaction; so "is this transaction in that state" is gtidStateContains(). The functions that
 * take two states require both of the same flavour (BV_ASSERT). */
typedef struct GtidState GtidState;

/* An empty state. flavour is BINLOG_FLAVOUR_MARIADB or BINLOG_FLAVOUR_MYSQL (BV_ASSERT). */
GtidState *gtidStateNew(BinlogFlavour flavour);

/* Parse the text of a state of flavour: mariaGtidPosParse() or gtidSetParse() (NULL, empty or
 * blank text = the empty state). NULL on error: ERR_FORMAT from those parsers (their messages),
 * ERR_INTERNAL `gtid state of an unknown flavour` for BINLOG_FLAVOUR_UNKNOWN. */
GtidState *gtidStateParse(BinlogFlavour flavour, const char *text, Err *err);

/* A deep copy of s. */
GtidState *gtidStateDup(const GtidState *s);

BinlogFlavour gtidStateFlavour(const GtidState *s);

/* The MariaDB position of a MariaDB state, NULL for a MySQL one. */
const MariaGtidPos *gtidStateMaria(const GtidState *s);

/* The GTID set of a MySQL state, NULL for a MariaDB one. */
const GtidSet *gtidStateSet(const GtidState *s);

/* True when the state holds no transaction (no domain, or the empty set). */
bool gtidStateIsEmpty(const GtidState *s);

/* Text form, as the archive stores states: MariaDB as mariaGtidPosFormat() (`0-1-100,1-2-7`),
 * MySQL on one line (gtidSetFormatSep(set, ",")); "" when empty. Allocated, bvFree() it. */
char *gtidStateFormat(const GtidState *s);

/* The same state: MariaDB, the same domains with the same GTIDs (server ids included); MySQL,
 * the same transactions. */
bool gtidStateEqual(const GtidState *a, const GtidState *b);

/* Every transaction of part is in state: MariaDB, each of part's domains is in state with a seq
 * at least part's (server ids not compared: mariaGtidPosReached()); MySQL, part is a subset. The
 * empty part is in every state. */
bool gtidStateContains(const GtidState *state, const GtidState *part);

/* Some transaction of part is in state: MariaDB, one of part's GTIDs is contained in state;
 * MySQL, the sets intersect. False for an empty part. */
bool gtidStateContainsAny(const GtidState *state, const GtidState *part);

/* Transactions of `to` that are not in `from` (e.g. executed by a server and not yet archived):
 * MariaDB, the sum over to's domains of to's seq minus from's (from's seq 0 for a domain it lacks;
 * nothing for a domain where from is ahead); MySQL, the size of the set difference. Saturates at
 * UINT64_MAX. */
uint64_t gtidStateCount(const GtidState *from, const GtidState *to);

/* dst = what dst holds beyond src. MySQL: the set difference. MariaDB (a position cannot hold a
 * range that does not start at seq 1): the GTIDs of dst's domains that src does not contain;
 * the domains src has reached are removed. In both flavours dst ends empty exactly when src
 * contained it. */
void gtidStateSubtract(GtidState *dst, const GtidState *src);

void gtidStateFree(GtidState *s);

/* Text shorthands: parse both states (errors as gtidStateParse()) and compare. */

/* *contains = gtidStateContains(state, part). */
int gtidStateTextContains(BinlogFlavour flavour, const char *state, const char *part, bool *contains, Err *err);

/* *equal = gtidStateEqual(a, b). */
int gtidStateTextEqual(BinlogFlavour flavour, const char *a, const char *b, bool *equal, Err *err);

/* *count = gtidStateCount(from, to). */
int gtidStateTextCount(BinlogFlavour flavour, const char *from, const char *to, uint64_t *count, Err *err);

#endif
