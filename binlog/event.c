#include "binlog/event.h"

#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "common/bytes.h"
#include "common/crypto.h"
#include "common/mem.h"

static const char *const typeNames[256] = {
    [BINLOG_UNKNOWN] = "Unknown",
    [BINLOG_START_V3] = "Start_v3",
    [BINLOG_QUERY] = "Query",
    [BINLOG_STOP] = "Stop",
    [BINLOG_ROTATE] = "Rotate",
    [BINLOG_INTVAR] = "Intvar",
    [BINLOG_LOAD] = "Load",
    [BINLOG_SLAVE] = "Slave",
    [BINLOG_CREATE_FILE] = "Create_file",
    [BINLOG_APPEND_BLOCK] = "Append_block",
    [BINLOG_EXEC_LOAD] = "Exec_load",
    [BINLOG_DELETE_FILE] = "Delete_file",
    [BINLOG_NEW_LOAD] = "New_load",
    [BINLOG_RAND] = "RAND",
    [BINLOG_USER_VAR] = "User_var",
    [BINLOG_FORMAT_DESCRIPTION] = "Format_desc",
    [BINLOG_XID] = "Xid",
    [BINLOG_BEGIN_LOAD_QUERY] = "Begin_load_query",
    [BINLOG_EXECUTE_LOAD_QUERY] = "Execute_load_query",
    [BINLOG_TABLE_MAP] = "Table_map",
    [BINLOG_PRE_GA_WRITE_ROWS] = "Write_rows_v0",
    [BINLOG_PRE_GA_UPDATE_ROWS] = "Update_rows_v0",
    [BINLOG_PRE_GA_DELETE_ROWS] = "Delete_rows_v0",
    [BINLOG_WRITE_ROWS_V1] = "Write_rows_v1",
    [BINLOG_UPDATE_ROWS_V1] = "Update_rows_v1",
    [BINLOG_DELETE_ROWS_V1] = "Delete_rows_v1",
    [BINLOG_INCIDENT] = "Incident",
    [BINLOG_HEARTBEAT] = "Heartbeat",
    [BINLOG_IGNORABLE] = "Ignorable",
    [BINLOG_ROWS_QUERY] = "Rows_query",
    [BINLOG_WRITE_ROWS] = "Write_rows",
    [BINLOG_UPDATE_ROWS] = "Update_rows",
    [BINLOG_DELETE_ROWS] = "Delete_rows",
    [BINLOG_GTID] = "Gtid",
    [BINLOG_ANONYMOUS_GTID] = "Anonymous_Gtid",
    [BINLOG_PREVIOUS_GTIDS] = "Previous_gtids",
    [BINLOG_TRANSACTION_CONTEXT] = "Transaction_context",
    [BINLOG_VIEW_CHANGE] = "View_change",
    [BINLOG_XA_PREPARE] = "XA_prepare",
    [BINLOG_PARTIAL_UPDATE_ROWS] = "Update_rows_partial",
    [BINLOG_TRANSACTION_PAYLOAD] = "Transaction_payload",
    [BINLOG_HEARTBEAT_V2] = "Heartbeat_v2",
    [BINLOG_GTID_TAGGED] = "Gtid_tagged",
    [BINLOG_MARIA_ANNOTATE_ROWS] = "Annotate_rows",
    [BINLOG_MARIA_BINLOG_CHECKPOINT] = "Binlog_checkpoint",
    [BINLOG_MARIA_GTID] = "Gtid",
    [BINLOG_MARIA_GTID_LIST] = "Gtid_list",
    [BINLOG_MARIA_START_ENCRYPTION] = "Start_encryption",
    [BINLOG_MARIA_QUERY_COMPRESSED] = "Query_compressed",
    [BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1] = "Write_rows_compressed_v1",
    [BINLOG_MARIA_UPDATE_ROWS_COMPRESSED_V1] = "Update_rows_compressed_v1",
    [BINLOG_MARIA_DELETE_ROWS_COMPRESSED_V1] = "Delete_rows_compressed_v1",
    [BINLOG_MARIA_WRITE_ROWS_COMPRESSED] = "Write_rows_compressed",
    [BINLOG_MARIA_UPDATE_ROWS_COMPRESSED] = "Update_rows_compressed",
    [BINLOG_MARIA_DELETE_ROWS_COMPRESSED] = "Delete_rows_compressed",
};

static char unknownNames[256][12];

const char *
binlogEventTypeName(uint8_t type) {
    if (typeNames[type] != NULL)
        return typeNames[type];
    /* Written once per code; concurrent writers write the same bytes. */
    if (unknownNames[type][0] == '\0')
        snprintf(unknownNames[type], sizeof(unknownNames[type]), "Unknown_%u", type);
    return unknownNames[type];
}

bool
binlogTypeIsRows(uint8_t type) {
    return (type >= BINLOG_PRE_GA_WRITE_ROWS && type <= BINLOG_DELETE_ROWS_V1) ||
           (type >= BINLOG_WRITE_ROWS && type <= BINLOG_DELETE_ROWS) || type == BINLOG_PARTIAL_UPDATE_ROWS ||
           (type >= BINLOG_MARIA_WRITE_ROWS_COMPRESSED_V1 && type <= BINLOG_MARIA_DELETE_ROWS_COMPRESSED);
}

void
binlogHeaderParse(const uint8_t *p, BinlogHeader *h) {
    h->timestamp = rdU32(p);
    h->type = p[4];
    h->serverId = rdU32(p + 5);
    h->size = rdU32(p + 9);
    h->logPos = rdU32(p + 13);
    h->flags = rdU16(p + 17);
}

void
binlogFormatInit(BinlogFormat *fmt) {
    memset(fmt, 0, sizeof(*fmt));
    fmt->binlogVersion = 4;
    fmt->headerLen = BINLOG_HEADER_LEN;
    fmt->checksumAlg = BINLOG_CHECKSUM_UNDEF;
    /* Post-header lengths that have been the same in every v4 binlog. */
    fmt->postHeaderLen[BINLOG_QUERY] = 13;
    fmt->postHeaderLen[BINLOG_ROTATE] = 8;
    fmt->postHeaderLen[BINLOG_EXECUTE_LOAD_QUERY] = 26;
    fmt->postHeaderLen[BINLOG_TABLE_MAP] = 8;
    fmt->postHeaderLen[BINLOG_BEGIN_LOAD_QUERY] = 4;
    fmt->postHeaderLen[BINLOG_APPEND_BLOCK] = 4;
    fmt->postHeaderLen[BINLOG_INCIDENT] = 2;
}

void
binlogParseServerVersion(const char *version, BinlogFlavour *flavour, int *major, int *minor, int *patch) {
    int v[3] = {0, 0, 0};
    const char *p = version;

    for (int i = 0; i < 3; i++) {
        long n = 0;
        int digits = 0;

        while (*p >= '0' && *p <= '9' && digits < 6) {
            n = n * 10 + (*p - '0');
            p++;
            digits++;
        }
        v[i] = (int)n;
        if (*p != '.')
            break;
        p++;
    }
    *major = v[0];
    *minor = v[1];
    *patch = v[2];
    *flavour = strstr(version, "MariaDB") != NULL ? BINLOG_FLAVOUR_MARIADB : BINLOG_FLAVOUR_MYSQL;
}

bool
binlogVersionChecksumAware(BinlogFlavour flavour, int major, int minor, int patch) {
    long v = (long)major * 10000 + minor * 100 + patch;

    return flavour == BINLOG_FLAVOUR_MARIADB ? v >= 50300 : v >= 50601;
}

void
binlogEventMakeIgnorable(uint8_t *ev, size_t len, bool checksum) {
    ev[4] = BINLOG_IGNORABLE;
    wrU16(ev + 17, (uint16_t)(rdU16(ev + 17) | BINLOG_FLAG_IGNORABLE));
    if (checksum && len >= BINLOG_HEADER_LEN + 4)
        wrU32(ev + len - 4, binlogEventComputeChecksum(ev, len - 4));
}

uint32_t
binlogEventComputeChecksum(const uint8_t *p, size_t len) {
    if (len > BINLOG_HEADER_LEN && p[4] == BINLOG_FORMAT_DESCRIPTION && (p[17] & BINLOG_FLAG_IN_USE)) {
        uint8_t head[BINLOG_HEADER_LEN];

        memcpy(head, p, sizeof(head));
        head[17] &= (uint8_t)~BINLOG_FLAG_IN_USE;
        return cryptoCrc32(cryptoCrc32(0, head, sizeof(head)), p + sizeof(head), len - sizeof(head));
    }
    return cryptoCrc32(0, p, len);
}

/*
 * The FDE's own layout: does its server write the checksum algorithm byte and a CRC32 at the
 * end? The server version says so; the post-header table must agree, because the FDE's own entry
 * (type 15) is 57 + the number of entries. A disagreement means a corrupt FDE (for instance a
 * damaged version string, which would otherwise silently switch checksum verification off).
 */
static int
fdeLayout(const uint8_t *ev, size_t len, bool *aware, Err *err) {
    const size_t fixed = BINLOG_HEADER_LEN + 2 + 50 + 4 + 1;
    char version[51];
    BinlogFlavour flavour;
    int major, minor, patch;
    size_t n;

    if (len < fixed)
        return errSet(err, ERR_FORMAT, "format description event too short (%zu bytes)", len);
    memcpy(version, ev + BINLOG_HEADER_LEN + 2, 50);
    version[50] = '\0';
    binlogParseServerVersion(version, &flavour, &major, &minor, &patch);
    *aware = binlogVersionChecksumAware(flavour, major, minor, patch);
    if (*aware && len < fixed + 5)
        return errSet(err, ERR_FORMAT, "format description event too short for its checksum (%zu bytes)", len);
    n = len - fixed - (*aware ? 5 : 0);
    if (n >= BINLOG_FORMAT_DESCRIPTION && ev[fixed + BINLOG_FORMAT_DESCRIPTION - 1] != (uint8_t)(57 + n))
        return errSet(err, ERR_FORMAT,
                      "format description event is inconsistent: its post-header table does not fit a server "
                      "version of '%.50s'", version);
    return 0;
}

int
binlogFormatFromFde(BinlogFormat *fmt, const uint8_t *ev, size_t len, bool verify, Err *err) {
    const size_t fixed = BINLOG_HEADER_LEN + 2 + 50 + 4 + 1;
    const uint8_t *body = ev + BINLOG_HEADER_LEN;
    BinlogFormat f;
    size_t numTypes;
    bool aware;

    if (len < fixed)
        return errSet(err, ERR_FORMAT, "format description event too short (%zu bytes)", len);
    binlogFormatInit(&f);
    f.binlogVersion = rdU16(body);
    if (f.binlogVersion != 4)
        return errSet(err, ERR_FORMAT,
                      "binlog version %u is not supported (only version 4, written by MySQL 5.0 and later)",
                      f.binlogVersion);
    if (fdeLayout(ev, len, &aware, err) != 0)
        return -1;
    memcpy(f.serverVersion, body + 2, 50);
    f.serverVersion[50] = '\0';
    for (char *c = f.serverVersion; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
    f.createTime = rdU32(body + 52);
    f.headerLen = body[56];
    if (f.headerLen != BINLOG_HEADER_LEN)
        return errSet(err, ERR_FORMAT, "format description event has common header length %u, expected 19",
                      f.headerLen);
    binlogParseServerVersion(f.serverVersion, &f.flavour, &f.versionMajor, &f.versionMinor, &f.versionPatch);
    numTypes = len - fixed - (aware ? 5 : 0);
    if (numTypes > 255)
        return errSet(err, ERR_FORMAT, "format description event lists %zu event types (at most 255)", numTypes);
    f.numTypes = (uint32_t)numTypes;
    memset(f.postHeaderLen, 0, sizeof(f.postHeaderLen));
    for (size_t i = 0; i < numTypes; i++)
        f.postHeaderLen[i + 1] = body[57 + i];
    if (aware) {
        uint8_t alg = ev[len - 5];

        if (alg != BINLOG_CHECKSUM_OFF && alg != BINLOG_CHECKSUM_CRC32 && alg != BINLOG_CHECKSUM_UNDEF)
            return errSet(err, ERR_FORMAT, "format description event names unknown checksum algorithm %u", alg);
        f.checksumAlg = (BinlogChecksumAlg)alg;
        if (verify && alg != BINLOG_CHECKSUM_UNDEF) {
            uint32_t want = rdU32(ev + len - 4), got = binlogEventComputeChecksum(ev, len - 4);

            if (want != got)
                return errSet(err, ERR_CHECKSUM,
                              "format description event checksum mismatch: stored 0x%08x, computed 0x%08x", want, got);
        }
    } else {
        f.checksumAlg = BINLOG_CHECKSUM_UNDEF;
    }
    f.valid = true;
    *fmt = f;
    return 0;
}

void
binlogFdeSetInUse(uint8_t *fde, bool inUse) {
    uint16_t flags = rdU16(fde + 17);

    flags = inUse ? (uint16_t)(flags | BINLOG_FLAG_IN_USE) : (uint16_t)(flags & ~BINLOG_FLAG_IN_USE);
    wrU16(fde + 17, flags);
}

int
binlogEventParse(const BinlogFormat *fmt, const uint8_t *p, size_t len, bool verify, BinlogEvent *ev, Err *err) {
    bool crc;

    if (len < BINLOG_HEADER_LEN)
        return errSet(err, ERR_FORMAT, "event of %zu bytes is shorter than the 19-byte header", len);
    binlogHeaderParse(p, &ev->h);
    if (ev->h.size != len)
        return errSet(err, ERR_FORMAT, "event size field %u does not match the %zu bytes given", ev->h.size, len);
    ev->data = p;
    ev->body = p + BINLOG_HEADER_LEN;
    if (ev->h.type == BINLOG_FORMAT_DESCRIPTION) {
        bool aware;

        if (fdeLayout(p, len, &aware, err) != 0)
            return -1;
        crc = aware && p[len - 5] != BINLOG_CHECKSUM_UNDEF;
    } else {
        crc = fmt->checksumAlg == BINLOG_CHECKSUM_CRC32;
    }
    if (crc) {
        if (len < BINLOG_HEADER_LEN + BINLOG_CHECKSUM_LEN)
            return errSet(err, ERR_FORMAT, "%s event of %zu bytes is too short for its checksum",
                          binlogEventTypeName(ev->h.type), len);
        ev->hasChecksum = true;
        ev->checksum = rdU32(p + len - BINLOG_CHECKSUM_LEN);
        ev->bodyLen = len - BINLOG_HEADER_LEN - BINLOG_CHECKSUM_LEN;
        if (verify) {
            uint32_t got = binlogEventComputeChecksum(p, len - BINLOG_CHECKSUM_LEN);

            if (got != ev->checksum)
                return errSet(err, ERR_CHECKSUM, "%s event checksum mismatch: stored 0x%08x, computed 0x%08x",
                              binlogEventTypeName(ev->h.type), ev->checksum, got);
        }
    } else {
        ev->hasChecksum = false;
        ev->checksum = 0;
        ev->bodyLen = len - BINLOG_HEADER_LEN;
    }
    return 0;
}

size_t
binlogReadPackedInt(const uint8_t *p, size_t avail, uint64_t *value) {
    if (avail < 1)
        return 0;
    if (p[0] < 251) {
        *value = p[0];
        return 1;
    }
    if (p[0] == 252 && avail >= 3) {
        *value = rdU16(p + 1);
        return 3;
    }
    if (p[0] == 253 && avail >= 4) {
        *value = rdU24(p + 1);
        return 4;
    }
    if (p[0] == 254 && avail >= 9) {
        *value = rdU64(p + 1);
        return 9;
    }
    return 0;
}

/* ---- QUERY ---- */

/* Inflate a MariaDB compressed block (binlog_buf_compress): header byte, big-endian length,
 * zlib stream. At most maxLen bytes are inflated: a longer text is cut (*truncated). */
static int
mariaUncompress(const uint8_t *src, size_t srcLen, size_t maxLen, uint8_t **out, size_t *outLen, bool *truncated,
                Err *err) {
    unsigned lenBytes;
    uint64_t want = 0;
    size_t room;
    z_stream zs;
    uint8_t *buf;
    int rc;

    if (srcLen < 1 || (src[0] & 0x80) == 0)
        return errSet(err, ERR_FORMAT, "compressed event body has no compression header");
    if (((src[0] >> 4) & 0x07) != 0)
        return errSet(err, ERR_FORMAT, "compressed event uses unknown algorithm %u", (src[0] >> 4) & 0x07);
    lenBytes = src[0] & 0x07;
    if (lenBytes < 1 || lenBytes > 4 || srcLen < 1 + (size_t)lenBytes)
        return errSet(err, ERR_FORMAT, "compressed event has a bad length header");
    for (unsigned i = 0; i < lenBytes; i++)
        want = (want << 8) | src[1 + i];
    room = want > maxLen ? maxLen : (size_t)want;
    *truncated = want > maxLen;
    buf = bvMalloc(room + 1);
    memset(&zs, 0, sizeof(zs));
    if (inflateInit(&zs) != Z_OK) {
        bvFree(buf);
        return errSet(err, ERR_INTERNAL, "zlib inflateInit failed");
    }
    zs.next_in = (Bytef *)(src + 1 + lenBytes);
    zs.avail_in = (uInt)(srcLen - 1 - lenBytes);
    zs.next_out = buf;
    zs.avail_out = (uInt)room;
    rc = room > 0 ? inflate(&zs, Z_FINISH) : Z_BUF_ERROR;
    inflateEnd(&zs);
    /* Complete: the stream ended with exactly the announced length. Cut: the window is full. */
    if (*truncated ? zs.total_out != room || (rc != Z_BUF_ERROR && rc != Z_OK)
                   : rc != Z_STREAM_END || zs.total_out != want) {
        bvFree(buf);
        if (want == 0 && !*truncated) {
            *out = bvCalloc(1, 1);
            *outLen = 0;
            return 0;
        }
        return errSet(err, ERR_FORMAT, "compressed event does not inflate to its announced %llu bytes (zlib %d)",
                      (unsigned long long)want, rc);
    }
    buf[room] = '\0';
    *out = buf;
    *outLen = room;
    return 0;
}

int
binlogDecodeQuery(const BinlogFormat *fmt, const BinlogEvent *ev, size_t maxText, BinlogQuery *q, Err *err) {
    size_t post = fmt->postHeaderLen[ev->h.type];
    const uint8_t *b = ev->body;
    size_t n = ev->bodyLen, statusLen = 0, off;

    memset(q, 0, sizeof(*q));
    if (post == 0)
        post = ev->h.type == BINLOG_EXECUTE_LOAD_QUERY ? 26 : 13;
    if (post < 11 || n < post)
        return errSet(err, ERR_FORMAT, "query event body too short (%zu bytes)", n);
    q->threadId = rdU32(b);
    q->execTime = rdU32(b + 4);
    q->dbLen = b[8];
    q->errorCode = rdU16(b + 9);
    if (post >= 13)
        statusLen = rdU16(b + 11);
    off = post + statusLen;
    if (off + q->dbLen + 1 > n)
        return errSet(err, ERR_FORMAT, "query event body too short for its status variables and database name");
    q->db = (const char *)b + off;
    off += q->dbLen + 1;
    if (ev->h.type == BINLOG_MARIA_QUERY_COMPRESSED) {
        if (mariaUncompress(b + off, n - off, maxText, &q->buf, &q->queryLen, &q->truncated, err) != 0)
            return errPrefix(err, "query event");
        q->query = (const char *)q->buf;
    } else {
        q->query = (const char *)b + off;
        q->queryLen = n - off;
    }
    return 0;
}

void
binlogQueryClear(BinlogQuery *q) {
    bvFree(q->buf);
    memset(q, 0, sizeof(*q));
}

/* ---- small events ---- */

int
binlogDecodeRotate(const BinlogFormat *fmt, const BinlogEvent *ev, BinlogRotate *r, Err *err) {
    size_t post = fmt->postHeaderLen[BINLOG_ROTATE] ? fmt->postHeaderLen[BINLOG_ROTATE] : 8;

    if (post < 8 || ev->bodyLen < post + 1)
        return errSet(err, ERR_FORMAT, "rotate event body too short (%zu bytes)", ev->bodyLen);
    r->position = rdU64(ev->body);
    r->file = (const char *)ev->body + post;
    r->fileLen = ev->bodyLen - post;
    if (r->fileLen > 512 || memchr(r->file, '\0', r->fileLen) != NULL || memchr(r->file, '/', r->fileLen) != NULL)
        return errSet(err, ERR_FORMAT, "rotate event names an invalid binlog file");
    return 0;
}

int
binlogDecodeXid(const BinlogEvent *ev, uint64_t *xid, Err *err) {
    if (ev->bodyLen < 8)
        return errSet(err, ERR_FORMAT, "xid event body too short (%zu bytes)", ev->bodyLen);
    *xid = rdU64(ev->body);
    return 0;
}

static size_t
tableIdLen(const BinlogFormat *fmt, uint8_t type, size_t *post) {
    *post = fmt->postHeaderLen[type];
    if (*post == 0)
        *post = 8;
    return *post == 6 ? 4 : 6;
}

int
binlogDecodeTableMap(const BinlogFormat *fmt, const BinlogEvent *ev, BinlogTableMap *tm, Err *err) {
    size_t post, idLen = tableIdLen(fmt, BINLOG_TABLE_MAP, &post), off;
    const uint8_t *b = ev->body;

    if (post < idLen + 2 || ev->bodyLen < post + 2)
        return errSet(err, ERR_FORMAT, "table map event body too short (%zu bytes)", ev->bodyLen);
    tm->tableId = idLen == 4 ? rdU32(b) : rdU48(b);
    off = post;
    tm->dbLen = b[off];
    if (off + 1 + tm->dbLen + 1 + 1 > ev->bodyLen)
        return errSet(err, ERR_FORMAT, "table map event too short for its database name");
    tm->db = (const char *)b + off + 1;
    off += 1 + tm->dbLen + 1;
    tm->tableLen = b[off];
    if (off + 1 + tm->tableLen + 1 > ev->bodyLen)
        return errSet(err, ERR_FORMAT, "table map event too short for its table name");
    tm->table = (const char *)b + off + 1;
    return 0;
}

int
binlogDecodeRows(const BinlogFormat *fmt, const BinlogEvent *ev, BinlogRows *rows, Err *err) {
    size_t post, idLen = tableIdLen(fmt, ev->h.type, &post);

    if (post < idLen + 2 || ev->bodyLen < post)
        return errSet(err, ERR_FORMAT, "%s event body too short (%zu bytes)", binlogEventTypeName(ev->h.type),
                      ev->bodyLen);
    rows->tableId = idLen == 4 ? rdU32(ev->body) : rdU48(ev->body);
    rows->flags = rdU16(ev->body + idLen);
    return 0;
}

int
binlogDecodeStatementText(const BinlogEvent *ev, const char **text, size_t *len, Err *err) {
    if (ev->h.type == BINLOG_ROWS_QUERY) {
        if (ev->bodyLen < 1)
            return errSet(err, ERR_FORMAT, "rows query event has no body");
        *text = (const char *)ev->body + 1;
        *len = ev->bodyLen - 1;
        return 0;
    }
    *text = (const char *)ev->body;
    *len = ev->bodyLen;
    return 0;
}

/* ---- MySQL GTID ---- */

/* The MySQL serialization library's variable-length unsigned integer: the count of trailing
 * one bits of the first byte is the count of bytes that follow. */
static size_t
readVarlenU(const uint8_t *p, size_t avail, uint64_t *value) {
    unsigned n = 1;
    uint64_t v = 0;

    if (avail < 1)
        return 0;
    while (n < 9 && (p[0] >> (n - 1)) & 1)
        n++;
    if (avail < n)
        return 0;
    if (n == 9) {
        *value = rdU64(p + 1);
        return 9;
    }
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    *value = v >> n;
    return n;
}

static size_t
readVarlenS(const uint8_t *p, size_t avail, int64_t *value) {
    uint64_t u;
    size_t n = readVarlenU(p, avail, &u);

    if (n)
        *value = (u & 1) ? -(int64_t)(u >> 1) - 1 : (int64_t)(u >> 1);
    return n;
}

static int
decodeTaggedGtid(const BinlogEvent *ev, BinlogMysqlGtid *g, Err *err) {
    const uint8_t *p = ev->body, *end = ev->body + ev->bodyLen;
    uint64_t size, lastNonIgnorable, fid, v;
    bool haveOriginalTs = false, haveOriginalVer = false;
    size_t n;

    if (ev->bodyLen < 1 || p[0] != 2)
        return errSet(err, ERR_FORMAT, "tagged gtid event has unsupported serialization version %u",
                      ev->bodyLen ? p[0] : 0);
    p++;
    if ((n = readVarlenU(p, (size_t)(end - p), &size)) == 0)
        return errSet(err, ERR_FORMAT, "tagged gtid event truncated in its size");
    p += n;
    if (size > ev->bodyLen || size < 1 + n)
        return errSet(err, ERR_FORMAT, "tagged gtid event declares %llu bytes in a %zu-byte body",
                      (unsigned long long)size, ev->bodyLen);
    end = ev->body + size;
    if ((n = readVarlenU(p, (size_t)(end - p), &lastNonIgnorable)) == 0)
        return errSet(err, ERR_FORMAT, "tagged gtid event truncated in its header");
    p += n;
    while (p < end) {
        if ((n = readVarlenU(p, (size_t)(end - p), &fid)) == 0)
            goto truncated;
        p += n;
        switch (fid) {
        case 0: /* flags */
            if ((n = readVarlenU(p, (size_t)(end - p), &v)) == 0 || v > 255)
                goto truncated;
            g->flags = (uint8_t)v;
            break;
        case 1: /* sid: 16 varlen bytes */
            for (int i = 0; i < 16; i++) {
                if ((n = readVarlenU(p, (size_t)(end - p), &v)) == 0 || v > 255)
                    goto truncated;
                g->uuid[i] = (uint8_t)v;
                p += n;
            }
            n = 0;
            break;
        case 2:
            if ((n = readVarlenS(p, (size_t)(end - p), &g->gno)) == 0 || g->gno < 0)
                goto truncated;
            break;
        case 3: /* tag: varlen length + bytes */
            if ((n = readVarlenU(p, (size_t)(end - p), &v)) == 0 || v > 32 || v > (uint64_t)(end - p - (ptrdiff_t)n))
                goto truncated;
            memcpy(g->tag, p + n, (size_t)v);
            g->tag[v] = '\0';
            n += (size_t)v;
            break;
        case 4:
            n = readVarlenS(p, (size_t)(end - p), &g->lastCommitted);
            break;
        case 5:
            n = readVarlenS(p, (size_t)(end - p), &g->sequenceNumber);
            break;
        case 6:
            n = readVarlenU(p, (size_t)(end - p), &g->immediateCommitUs);
            break;
        case 7:
            n = readVarlenU(p, (size_t)(end - p), &g->originalCommitUs);
            haveOriginalTs = true;
            break;
        case 8:
            n = readVarlenU(p, (size_t)(end - p), &g->transactionLength);
            break;
        case 9:
            n = readVarlenU(p, (size_t)(end - p), &v);
            g->immediateServerVersion = (uint32_t)v;
            break;
        case 10:
            n = readVarlenU(p, (size_t)(end - p), &v);
            g->originalServerVersion = (uint32_t)v;
            haveOriginalVer = true;
            break;
        case 11:
            n = readVarlenU(p, (size_t)(end - p), &v);
            break;
        default:
            if (fid <= lastNonIgnorable)
                return errSet(err, ERR_FORMAT, "tagged gtid event has unknown mandatory field %llu",
                              (unsigned long long)fid);
            /* An ignorable unknown field cannot be skipped without its type: stop here. */
            p = end;
            n = 0;
            break;
        }
        if (fid <= 11 && fid != 1 && n == 0)
            goto truncated;
        p += n;
    }
    if (!haveOriginalTs)
        g->originalCommitUs = g->immediateCommitUs;
    if (!haveOriginalVer)
        g->originalServerVersion = g->immediateServerVersion;
    g->hasLogicalClock = true;
    return 0;

truncated:
    return errSet(err, ERR_FORMAT, "tagged gtid event truncated or malformed");
}

int
binlogDecodeMysqlGtid(const BinlogEvent *ev, BinlogMysqlGtid *g, Err *err) {
    const uint8_t *p = ev->body;
    size_t n = ev->bodyLen, off;
    uint64_t v;

    memset(g, 0, sizeof(*g));
    if (ev->h.type == BINLOG_GTID_TAGGED)
        return decodeTaggedGtid(ev, g, err);
    g->anonymous = ev->h.type == BINLOG_ANONYMOUS_GTID;
    if (n < 25)
        return errSet(err, ERR_FORMAT, "gtid event body too short (%zu bytes)", n);
    g->flags = p[0];
    memcpy(g->uuid, p + 1, 16);
    g->gno = (int64_t)rdU64(p + 17);
    off = 25;
    if (n >= 42 && p[25] == 2) {
        g->hasLogicalClock = true;
        g->lastCommitted = (int64_t)rdU64(p + 26);
        g->sequenceNumber = (int64_t)rdU64(p + 34);
        off = 42;
        if (n >= off + 7) {
            v = rdU56(p + off);
            off += 7;
            if (v & (1ULL << 55)) {
                v &= ~(1ULL << 55);
                if (n < off + 7)
                    return errSet(err, ERR_FORMAT, "gtid event truncated in its original commit timestamp");
                g->originalCommitUs = rdU56(p + off);
                off += 7;
            } else {
                g->originalCommitUs = v;
            }
            g->immediateCommitUs = v;
        }
        if (n > off) {
            size_t used = binlogReadPackedInt(p + off, n - off, &g->transactionLength);

            if (used == 0)
                return errSet(err, ERR_FORMAT, "gtid event truncated in its transaction length");
            off += used;
        }
        if (n >= off + 4) {
            uint32_t ver = rdU32(p + off);

            off += 4;
            if (ver & (1u << 31)) {
                ver &= ~(1u << 31);
                if (n < off + 4)
                    return errSet(err, ERR_FORMAT, "gtid event truncated in its original server version");
                g->originalServerVersion = rdU32(p + off);
            } else {
                g->originalServerVersion = ver;
            }
            g->immediateServerVersion = ver;
        }
    }
    return 0;
}

/* ---- MariaDB ---- */

int
binlogDecodeMariaGtid(const BinlogEvent *ev, BinlogMariaGtid *g, Err *err) {
    const uint8_t *p = ev->body;
    size_t n = ev->bodyLen, off = 13;

    memset(g, 0, sizeof(*g));
    if (n < 13)
        return errSet(err, ERR_FORMAT, "gtid event body too short (%zu bytes)", n);
    g->seq = rdU64(p);
    g->domain = rdU32(p + 8);
    g->flags = p[12];
    g->serverId = ev->h.serverId;
    if (g->flags & MARIA_FL_GROUP_COMMIT_ID) {
        if (n < off + 8)
            return errSet(err, ERR_FORMAT, "gtid event truncated in its commit id");
        g->commitId = rdU64(p + off);
        off += 8;
    }
    if (g->flags & (MARIA_FL_PREPARED_XA | MARIA_FL_COMPLETED_XA)) {
        if (n < off + 6)
            return errSet(err, ERR_FORMAT, "gtid event truncated in its xid");
        g->xaFormatId = rdU32(p + off);
        g->xaGtridLen = p[off + 4];
        g->xaBqualLen = p[off + 5];
        off += 6;
        if (g->xaGtridLen > 64 || g->xaBqualLen > 64 || n < off + g->xaGtridLen + g->xaBqualLen)
            return errSet(err, ERR_FORMAT, "gtid event has an invalid xid");
        g->xaData = p + off;
        off += g->xaGtridLen + g->xaBqualLen;
    }
    if (off < n)
        g->flagsExtra = p[off];
    return 0;
}

int
binlogDecodeCheckpoint(const BinlogEvent *ev, const char **file, size_t *len, Err *err) {
    uint32_t n;

    if (ev->bodyLen < 4)
        return errSet(err, ERR_FORMAT, "binlog checkpoint event body too short");
    n = rdU32(ev->body);
    if (n > ev->bodyLen - 4 || n > 512)
        return errSet(err, ERR_FORMAT, "binlog checkpoint event names a file of %u bytes in a %zu-byte body", n,
                      ev->bodyLen);
    *file = (const char *)ev->body + 4;
    *len = n;
    return 0;
}

int
binlogDecodeHeartbeat(const BinlogEvent *ev, const char **file, size_t *fileLen, uint64_t *pos, Err *err) {
    if (ev->h.type == BINLOG_HEARTBEAT) {
        *file = (const char *)ev->body;
        *fileLen = ev->bodyLen;
        *pos = ev->h.logPos;
        return 0;
    }
    /* HEARTBEAT_V2: fields {type u8, length packed int, value}; 1 = file name, 2 = position (packed). */
    *file = NULL;
    *fileLen = 0;
    *pos = 0;
    for (size_t off = 0; off < ev->bodyLen;) {
        uint8_t type = ev->body[off++];
        uint64_t len;
        size_t n = binlogReadPackedInt(ev->body + off, ev->bodyLen - off, &len);

        if (n == 0 || len > ev->bodyLen - off - n)
            return errSet(err, ERR_FORMAT, "heartbeat event malformed");
        off += n;
        if (type == 1) {
            *file = (const char *)ev->body + off;
            *fileLen = (size_t)len;
        } else if (type == 2) {
            if (binlogReadPackedInt(ev->body + off, (size_t)len, pos) == 0)
                return errSet(err, ERR_FORMAT, "heartbeat event position malformed");
        }
        off += (size_t)len;
    }
    return 0;
}

int
binlogDecodeXaPrepare(const BinlogEvent *ev, BinlogXaPrepare *x, Err *err) {
    const uint8_t *p = ev->body;

    if (ev->bodyLen < 13)
        return errSet(err, ERR_FORMAT, "xa prepare event body too short");
    x->onePhase = p[0] != 0;
    x->formatId = rdU32(p + 1);
    x->gtridLen = rdU32(p + 5);
    x->bqualLen = rdU32(p + 9);
    if (x->gtridLen > 64 || x->bqualLen > 64 || ev->bodyLen < 13 + (size_t)x->gtridLen + x->bqualLen)
        return errSet(err, ERR_FORMAT, "xa prepare event has an invalid xid");
    x->data = p + 13;
    return 0;
}

int
binlogDecodePayload(const BinlogEvent *ev, BinlogPayload *pl, Err *err) {
    const uint8_t *p = ev->body;
    size_t n = ev->bodyLen, off = 0;
    bool haveSize = false;

    memset(pl, 0, sizeof(*pl));
    pl->compression = 255;
    for (;;) {
        uint64_t type, len, value = 0;
        size_t used;

        if ((used = binlogReadPackedInt(p + off, n - off, &type)) == 0)
            goto bad;
        off += used;
        if (type == 0)
            break;
        if ((used = binlogReadPackedInt(p + off, n - off, &len)) == 0 || len > n - off - used)
            goto bad;
        off += used;
        if (binlogReadPackedInt(p + off, (size_t)len, &value) == 0)
            goto bad;
        off += (size_t)len;
        if (type == 1) {
            pl->payloadSize = value;
            haveSize = true;
        } else if (type == 2) {
            pl->compression = value;
        } else if (type == 3) {
            pl->uncompressedSize = value;
        }
    }
    if (!haveSize || pl->payloadSize != n - off)
        return errSet(err, ERR_FORMAT, "transaction payload event declares %llu payload bytes, has %zu",
                      (unsigned long long)pl->payloadSize, n - off);
    pl->payload = p + off;
    pl->payloadLen = n - off;
    return 0;

bad:
    return errSet(err, ERR_FORMAT, "transaction payload event header malformed");
}
