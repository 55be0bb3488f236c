/*
 * The binlog event format (MySQL and MariaDB): the 19-byte common header, the
 * FORMAT_DESCRIPTION event, checksums, and decoders for the events point-in-time recovery
 * needs. Pure code: it reads byte buffers and never does I/O. Every decoder checks lengths
 * before it reads, so hostile bytes give an error, never an over-read.
 *
 * Byte-level facts and their upstream definitions: ../shared/binlog-format.md.
 */
#ifndef BV_BINLOG_EVENT_H
#define BV_BINLOG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BINLOG_MAGIC "\xfe" "bin"
#define BINLOG_MAGIC_LEN 4
#define BINLOG_HEADER_LEN 19
#define BINLOG_CHECKSUM_LEN 4

/* Header flags. */
#define BINLOG_FLAG_IN_USE 0x0001
#define BINLOG_FLAG_ARTIFICIAL 0x0020
#define BINLOG_FLAG_IGNORABLE 0x0080

typedef enum BinlogEventType {
    BINLOG_UNKNOWN = 0,
    BINLOG_START_V3 = 1,
    BINLOG_QUERY = 2,
    BINLOG_STOP = 3,
    BINLOG_ROTATE = 4,
    BINLOG_INTVAR = 5,
    BINLOG_LOAD = 6,
    BINLOG_SLAVE = 7,
    BINLOG_CREATE_FILE = 8,
    BINLOG_APPEND_BLOCK = 9,
    BINLOG_EXEC_LOAD = 10,
    BINLOG_DELETE_FILE = 11,
    BINLOG_NEW_LOAD = 12,
    BINLOG_RAND = 13,
    BINLOG_USER_VAR = 14,
    BINLOG_FORMAT_DESCRIPTION = 15,
    BINLOG_XID = 16,
    BINLOG_BEGIN_LOAD_QUERY = 17,
    BINLOG_EXECUTE_LOAD_QUERY = 18,
    BINLOG_TABLE_MAP = 19,
    BINLOG_PRE_GA_WRITE_ROWS = 20,
    BINLOG_PRE_GA_UPDATE_ROWS = 21,
    BINLOG_PRE_GA_DELETE_ROWS = 22,
    BINLOG_WRITE_ROWS_V1 = 23,
    BINLOG_UPDATE_ROWS_V1 = 24,
    BINLOG_DELETE_ROWS_V1 = 25,
    BINLOG_INCIDENT = 26,
    BINLOG_HEARTBEAT = 27,
    BINLOG_IGNORABLE = 28,
    BINLOG_ROWS_QUERY = 29,
    BINLOG_WRITE_ROWS = 30,
    BINLOG_UPDATE_ROWS = 31,
    BINLOG_DELETE_ROWS = 32,
    BINLOG_GTID = 33,
    BINLOG_ANONYMOUS_GTID = 34,
    BINLOG_PREVIOUS_GTIDS = 35,
    BINLOG_TRANSACTION_CONTEXT = 36,
    BINLOG_VIEW_CHANGE = 37,
    BINLOG_XA_PREPARE = 38,
    BINLOG_PARTIAL_UPDATE_ROWS = 39,
    BINLOG_TRANSACTION_PAYLOAD = 40,
    BINLOG_HEARTBEAT_V2 = 41,
    BINLOG_GTID_TAGGED = 42,
    BINLOG_MARIA_ANNOTATE_ROWS = 160,
    BINLOG_MARIA_BINLOG_CHECKPOINT = 161,
    BINLOG_MARIA_GTID = 162,
    BINLOG_MARIA_GTID_LIST = 163,
    BINLOG_MARIA_START_ENCRYPTION = 164,
    BINLOG_MARIA_QUERY_COMPRESSED = 165,
    BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1 = 166,
    BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1 = 167,
    BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1 = 168,
    BINLOG_MARIA_WRITE_ROWS_COMPRESSED = 169,
    BINLOG_MARIA_UPDATE_ROWS_COMPRESSED = 170,
    BINLOG_MARIA_DELETE_ROWS_COMPRESSED = 171,
} BinlogEventType;

typedef enum BinlogFlavour { BINLOG_FLAVOUR_UNKNOWN = 0, BINLOG_FLAVOUR_MYSQL, BINLOG_FLAVOUR_MARIADB } BinlogFlavour;

typedef enum BinlogChecksumAlg {
    BINLOG_CHECKSUM_OFF = 0,
    BINLOG_CHECKSUM_CRC32 = 1,
    BINLOG_CHECKSUM_UNDEF = 255, /* checksum-unaware server (MySQL < 5.6.1, MariaDB < 5.3) */
} BinlogChecksumAlg;

/* The 19-byte common header. */
typedef struct BinlogHeader {
    uint32_t timestamp;
    uint8_t type;
    uint32_t serverId;
    uint32_t size; /* whole event, header and checksum included */
    uint32_t logPos; /* end position of the event in its file; 0 for artificial events */
    uint16_t flags;
} BinlogHeader;

/* What a FORMAT_DESCRIPTION event says about the events that follow it. */
typedef struct BinlogFormat {
    uint16_t binlogVersion;
    char serverVersion[51];
    uint32_t createTime;
    uint8_t headerLen;
    uint32_t numTypes; /* entries in postHeaderLen (types 1..numTypes) */
    uint8_t postHeaderLen[256]; /* indexed by event type; 0 where unknown */
    BinlogChecksumAlg checksumAlg;
    BinlogFlavour flavour;
    int versionMajor, versionMinor, versionPatch;
    bool valid; /* an FDE was read */
} BinlogFormat;

/* One event: the whole event's bytes and its decoded header. Pointers refer to the buffer the
 * event was parsed from. */
typedef struct BinlogEvent {
    BinlogHeader h;
    const uint8_t *data; /* the whole event, h.size bytes */
    const uint8_t *body; /* after the common header */
    size_t bodyLen; /* body without the checksum footer */
    uint32_t checksum; /* stored CRC32, when the event has one */
    bool hasChecksum;
} BinlogEvent;

/* Name of an event type, in the server's SHOW BINLOG EVENTS style ("Query", "Write_rows_v1",
 * "Gtid", ...); "Unknown_N" style for unknown codes is written into a static per-type table. */
const char *binlogEventTypeName(uint8_t type);

/* Parse the 19-byte header at p (caller guarantees 19 bytes). */
void binlogHeaderParse(const uint8_t *p, BinlogHeader *h);

/* Format in effect before any FDE: binlog v4 with the post-header lengths of a 5.0 server.
 * Enough to read a FORMAT_DESCRIPTION event. */
void binlogFormatInit(BinlogFormat *fmt);

/* Read a FORMAT_DESCRIPTION event (the whole event, `len` bytes) into fmt, and verify its own
 * CRC32 when the server is checksum-aware. */
int binlogFormatFromFde(BinlogFormat *fmt, const uint8_t *ev, size_t len, bool verify, Err *err);

/* Flavour and x.y.z from a server version string ("10.11.19-MariaDB-log", "8.0.45"). */
void binlogParseServerVersion(const char *version, BinlogFlavour *flavour, int *major, int *minor, int *patch);

/* True when a server of this flavour and version writes the checksum-algorithm byte in its FDE. */
bool binlogVersionChecksumAware(BinlogFlavour flavour, int major, int minor, int patch);

/* Fill ev from the whole event at p (h.size == len, checked by the caller) under fmt: body, and
 * checksum fields; verifies the CRC32 when `verify` and fmt says CRC32. FORMAT_DESCRIPTION
 * events are handled (their own checksum rule). Errors: ERR_FORMAT, ERR_CHECKSUM. */
int binlogEventParse(const BinlogFormat *fmt, const uint8_t *p, size_t len, bool verify, BinlogEvent *ev, Err *err);

/* The CRC32 of an event as stored, computed (with the in-use flag cleared for an FDE). */
uint32_t binlogEventComputeChecksum(const uint8_t *p, size_t lenWithoutChecksum);

/* Rewrite, in place, a START_ENCRYPTION event as a replication stream sends it (the events after it
 * decrypted) into what an archive or a pulled file holds instead (docs/FORMAT.md, "Segments"): an
 * ignorable event (type BINLOG_IGNORABLE, flag BINLOG_FLAG_IGNORABLE) of the same length and body,
 * its CRC32 recomputed when it has one (`checksum`). */
void binlogEventMakeIgnorable(uint8_t *ev, size_t len, bool checksum);

/* Set or clear the in-use flag of an FDE. Its checksum is defined with the flag cleared, so it
 * stays valid either way. */
void binlogFdeSetInUse(uint8_t *fde, bool inUse);

/* Post-header length for a type under fmt (0 when unknown). */
static inline uint8_t binlogPostHeaderLen(const BinlogFormat *fmt, uint8_t type) {
    return fmt->postHeaderLen[type];
}

/* True for row events of any kind (v0/v1/v2, MariaDB compressed, partial update). */
bool binlogTypeIsRows(uint8_t type);

/* ---- Decoders. Strings point into the event (not NUL-terminated) unless said otherwise. ---- */

typedef struct BinlogQuery {
    uint32_t threadId;
    uint32_t execTime;
    uint16_t errorCode;
    const char *db;
    size_t dbLen;
    const char *query; /* for QUERY_COMPRESSED: points to `buf` */
    size_t queryLen;
    uint8_t *buf; /* owned decompressed text for QUERY_COMPRESSED; free with bvFree */
    bool truncated; /* QUERY_COMPRESSED text longer than maxText: only its start is here */
    uint64_t xid; /* MariaDB Q_XID status variable, 0 when absent */
} BinlogQuery;

/* QUERY, EXECUTE_LOAD_QUERY and MariaDB QUERY_COMPRESSED. Compressed text is inflated up to
 * maxText bytes (a longer one is cut there and q->truncated set). */
int binlogDecodeQuery(const BinlogFormat *fmt, const BinlogEvent *ev, size_t maxText, BinlogQuery *q, Err *err);
void binlogQueryClear(BinlogQuery *q);

typedef struct BinlogRotate {
    uint64_t position;
    const char *file;
    size_t fileLen;
} BinlogRotate;

int binlogDecodeRotate(const BinlogFormat *fmt, const BinlogEvent *ev, BinlogRotate *r, Err *err);
int binlogDecodeXid(const BinlogEvent *ev, uint64_t *xid, Err *err);

typedef struct BinlogTableMap {
    uint64_t tableId;
    const char *db;
    size_t dbLen;
    const char *table;
    size_t tableLen;
} BinlogTableMap;

int binlogDecodeTableMap(const BinlogFormat *fmt, const BinlogEvent *ev, BinlogTableMap *tm, Err *err);

/* Row events: the table id and flags; the row image stays opaque. */
typedef struct BinlogRows {
    uint64_t tableId;
    uint16_t flags;
} BinlogRows;

int binlogDecodeRows(const BinlogFormat *fmt, const BinlogEvent *ev, BinlogRows *rows, Err *err);

/* ANNOTATE_ROWS (MariaDB) and ROWS_QUERY (MySQL): the statement text. */
int binlogDecodeStatementText(const BinlogEvent *ev, const char **text, size_t *len, Err *err);

typedef struct BinlogMysqlGtid {
    uint8_t flags;
    uint8_t uuid[16];
    char tag[33]; /* empty when untagged */
    int64_t gno;
    bool anonymous;
    bool hasLogicalClock;
    int64_t lastCommitted;
    int64_t sequenceNumber;
    uint64_t immediateCommitUs; /* 0 when absent */
    uint64_t originalCommitUs;
    uint64_t transactionLength; /* 0 when absent */
    uint32_t immediateServerVersion;
    uint32_t originalServerVersion;
} BinlogMysqlGtid;

/* GTID (33), ANONYMOUS_GTID (34) and GTID_TAGGED (42). */
int binlogDecodeMysqlGtid(const BinlogEvent *ev, BinlogMysqlGtid *g, Err *err);

/* MariaDB GTID event flags (flags2). */
#define MARIA_FL_STANDALONE 0x01
#define MARIA_FL_GROUP_COMMIT_ID 0x02
#define MARIA_FL_TRANSACTIONAL 0x04
#define MARIA_FL_ALLOW_PARALLEL 0x08
#define MARIA_FL_WAITED 0x10
#define MARIA_FL_DDL 0x20
#define MARIA_FL_PREPARED_XA 0x40
#define MARIA_FL_COMPLETED_XA 0x80

typedef struct BinlogMariaGtid {
    uint64_t seq;
    uint32_t domain;
    uint32_t serverId; /* from the event header */
    uint8_t flags;
    uint64_t commitId;
    uint32_t xaFormatId;
    uint8_t xaGtridLen, xaBqualLen;
    const uint8_t *xaData; /* gtrid then bqual */
    uint8_t flagsExtra;
} BinlogMariaGtid;

int binlogDecodeMariaGtid(const BinlogEvent *ev, BinlogMariaGtid *g, Err *err);

/* BINLOG_CHECKPOINT (161): the file name. */
int binlogDecodeCheckpoint(const BinlogEvent *ev, const char **file, size_t *len, Err *err);

/* HEARTBEAT (27): file name in the body, position in the header; HEARTBEAT_V2 (41): TLV. */
int binlogDecodeHeartbeat(const BinlogEvent *ev, const char **file, size_t *fileLen, uint64_t *pos, Err *err);

/* XA_PREPARE (38): one_phase, format id, gtrid and bqual. */
typedef struct BinlogXaPrepare {
    bool onePhase;
    uint32_t formatId;
    uint32_t gtridLen, bqualLen;
    const uint8_t *data;
} BinlogXaPrepare;

int binlogDecodeXaPrepare(const BinlogEvent *ev, BinlogXaPrepare *x, Err *err);

/* TRANSACTION_PAYLOAD (40) header fields; the compressed bytes follow at `payload`. */
typedef struct BinlogPayload {
    uint64_t payloadSize;
    uint64_t compression; /* 0 = zstd, 255 = none */
    uint64_t uncompressedSize;
    const uint8_t *payload;
    size_t payloadLen;
} BinlogPayload;

int binlogDecodePayload(const BinlogEvent *ev, BinlogPayload *p, Err *err);

/* MySQL packed (length-encoded) integer at p with `avail` bytes; returns bytes used or 0. */
size_t binlogReadPackedInt(const uint8_t *p, size_t avail, uint64_t *value);

#endif
