/*
 * What a replica receives for one COM_BINLOG_DUMP (see replserver.h, "One binlog stream" and
 * "Artificial events"): the artificial ROTATE / FORMAT_DESCRIPTION / GTID_LIST / HEARTBEAT events
 * a MariaDB primary makes up, and the ReplStream that passes the source's events through,
 * skipping what the replica has and stopping at its UNTIL position. Pure: events go to a callback.
 *
 * Protocol references (learned from, not copied): MariaDB server sql/sql_repl.cc
 * (mysql_binlog_send: fake ROTATE, FDE with log_pos 0 and create time 0, fake GTID_LIST,
 * skipping by connect state, UNTIL with FLAG_UNTIL_REACHED, heartbeats), sql/slave.cc
 * (queue_event: how the replica tracks the master position and checks heartbeats) and
 * ../shared/binlog-format.md sections 7-8.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "binlog/event.h"
#include "binlog/gtid.h"
#include "common/buf.h"
#include "common/bytes.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "recover/repl_internal.h"
#include "recover/replserver.h"

#define EVENT_FLAG_SKIP_REPLICATION 0x8000
#define FDE_CREATED_OFFSET (BINLOG_HEADER_LEN + 2 + 50)

/* ---- Artificial events ------------------------------------------------------------------------- */

/* Start an event of `bodyLen` body bytes (checksum excluded) in out; returns its offset. */
static size_t
eventStart(Buf *out, uint8_t type, uint32_t serverId, size_t bodyLen, uint32_t logPos, uint16_t flags, bool crc) {
    size_t start = out->len;
    uint8_t *h = bufReserve(out, BINLOG_HEADER_LEN);

    memset(h, 0, 4); /* timestamp 0: the replica tells artificial events apart */
    h[4] = type;
    wrU32(h + 5, serverId);
    wrU32(h + 9, (uint32_t)(BINLOG_HEADER_LEN + bodyLen + (crc ? BINLOG_CHECKSUM_LEN : 0)));
    wrU32(h + 13, logPos);
    wrU16(h + 17, flags);
    out->len += BINLOG_HEADER_LEN;
    return start;
}

static void
eventFinish(Buf *out, size_t start, bool crc) {
    if (crc)
        replPutU32(out, binlogEventComputeChecksum(out->data + start, out->len - start));
}

void
replEventRotate(Buf *out, uint32_t serverId, const char *file, uint64_t pos, bool crc) {
    size_t n = strlen(file);
    size_t start = eventStart(out, BINLOG_ROTATE, serverId, 8 + n, 0, BINLOG_FLAG_ARTIFICIAL, crc);
    uint8_t b[8];

    wrU64(b, pos);
    bufAppend(out, b, 8);
    bufAppend(out, file, n);
    eventFinish(out, start, crc);
}

void
replEventHeartbeat(Buf *out, uint32_t serverId, const char *file, uint32_t pos, bool crc) {
    size_t n = strlen(file);
    size_t start = eventStart(out, BINLOG_HEARTBEAT, serverId, n, pos, 0, crc);

    bufAppend(out, file, n);
    eventFinish(out, start, crc);
}

void
replEventGtidList(Buf *out, uint32_t serverId, const MariaGtidPos *pos, uint32_t flags, uint32_t logPos, bool crc) {
    size_t count = pos ? mariaGtidPosCount(pos) : 0;
    size_t start = eventStart(out, BINLOG_MARIA_GTID_LIST, serverId, 4 + 16 * count, logPos, BINLOG_FLAG_ARTIFICIAL,
                              crc);

    BV_ASSERT(count < (1u << 28));
    replPutU32(out, (uint32_t)count | flags);
    for (size_t i = 0; i < count; i++) {
        MariaGtid g;
        uint8_t b[8];

        mariaGtidPosAt(pos, i, &g);
        replPutU32(out, g.domain);
        replPutU32(out, g.server);
        wrU64(b, g.seq);
        bufAppend(out, b, 8);
    }
    eventFinish(out, start, crc);
}

int
replFdeForStream(uint8_t *fde, size_t len, bool streamStart, Err *err) {
    BinlogFormat fmt;
    BinlogHeader h;

    if (len < BINLOG_HEADER_LEN)
        return errSet(err, ERR_FORMAT, "format description event of %zu bytes is too short", len);
    binlogHeaderParse(fde, &h);
    if (h.type != BINLOG_FORMAT_DESCRIPTION || h.size != len)
        return errSet(err, ERR_FORMAT, "not a format description event (type %u, size %u of %zu bytes)", h.type,
                      h.size, len);
    if (binlogFormatFromFde(&fmt, fde, len, false, err) != 0)
        return -1;
    binlogFdeSetInUse(fde, false);
    if (streamStart) {
        wrU32(fde + 13, 0);
        wrU32(fde + FDE_CREATED_OFFSET, 0);
    }
    /* A checksum-aware FDE carries a CRC even when its algorithm is OFF. */
    if (fmt.checksumAlg != BINLOG_CHECKSUM_UNDEF)
        wrU32(fde + len - BINLOG_CHECKSUM_LEN, binlogEventComputeChecksum(fde, len - BINLOG_CHECKSUM_LEN));
    return 0;
}

/* ---- One binlog stream ---------------------------------------------------------------------------- */

/* A GTID of the connect or UNTIL position, and whether its domain is past it. */
typedef struct PosEntry {
    MariaGtid g;
    bool done;
} PosEntry;

struct ReplStream {
    uint32_t serverId;
    BinlogChecksumAlg connectAlg;
    bool gtidMode;
    bool sendAnnotateRows, skipReplication;
    uint32_t replicaServerId;
    char *startFile;
    uint32_t startPos;
    ReplEmitFn emit;
    void *ctx;

    MariaGtidPos *connectPos; /* as given, for the artificial GTID_LIST */
    PosEntry *connect;
    size_t nConnect;
    PosEntry *until;
    size_t nUntil, untilLeft;
    bool untilActive;
    MariaGtidPos *state; /* binlog state: the file's GTID_LIST updated by each GTID read */

    BinlogFormat fmt;
    bool started;         /* the first FDE went out */
    bool haveFile;        /* an FDE was read */
    bool skipFile;        /* position mode: a file before the start file */
    bool positionReached; /* position mode: past the start position */
    BinlogChecksumAlg alg; /* of the artificial events: connectAlg, then the last FDE's */
    char file[256];
    uint64_t pos;
    bool skipping, inGroup, standalone, stopAfterGroup, done, warnedOwnId;
    Buf *scratch;
    uint64_t sent, skipped;
};

static PosEntry *
posEntries(const MariaGtidPos *pos, size_t *n) {
    PosEntry *e;

    *n = pos ? mariaGtidPosCount(pos) : 0;
    if (*n == 0)
        return NULL;
    e = bvCalloc(*n, sizeof(*e));
    for (size_t i = 0; i < *n; i++)
        mariaGtidPosAt(pos, i, &e[i].g);
    return e;
}

static PosEntry *
posFind(PosEntry *e, size_t n, uint32_t domain) {
    for (size_t i = 0; i < n; i++)
        if (e[i].g.domain == domain && !e[i].done)
            return &e[i];
    return NULL;
}

ReplStream *
replStreamNew(const ReplStreamConfig *cfg, ReplEmitFn emit, void *ctx) {
    ReplStream *st = bvCalloc(1, sizeof(*st));

    st->serverId = cfg->serverId;
    st->connectAlg = cfg->connectAlg;
    st->alg = cfg->connectAlg;
    st->gtidMode = cfg->gtidMode;
    st->sendAnnotateRows = cfg->sendAnnotateRows;
    st->skipReplication = cfg->skipReplication;
    st->replicaServerId = cfg->replicaServerId;
    st->startFile = bvStrdup(cfg->startFile ? cfg->startFile : "");
    st->startPos = cfg->startPos;
    st->positionReached = cfg->gtidMode || cfg->startPos <= BINLOG_MAGIC_LEN;
    st->emit = emit;
    st->ctx = ctx;
    st->connectPos = cfg->connect ? mariaGtidPosDup(cfg->connect) : mariaGtidPosNew();
    st->state = mariaGtidPosNew();
    st->scratch = bufNew(512);
    if (cfg->gtidMode) {
        st->connect = posEntries(cfg->connect, &st->nConnect);
        if (cfg->until != NULL) {
            st->untilActive = true;
            st->until = posEntries(cfg->until, &st->nUntil);
            st->untilLeft = st->nUntil;
            /* Domains the replica is already at or past have reached their UNTIL. */
            for (size_t i = 0; i < st->nUntil; i++) {
                MariaGtid have;

                if (mariaGtidPosGet(cfg->connect ? cfg->connect : st->state, st->until[i].g.domain, &have) &&
                    have.seq >= st->until[i].g.seq) {
                    st->until[i].done = true;
                    st->untilLeft--;
                }
            }
        }
    }
    return st;
}

static int
emitArtificial(ReplStream *st, Err *err) {
    return st->emit(st->ctx, st->scratch->data, st->scratch->len, err);
}

static bool
algCrc(BinlogChecksumAlg alg) {
    return alg == BINLOG_CHECKSUM_CRC32;
}

/* The UNTIL position is reached: the last artificial GTID_LIST, flagged. */
static int
untilReached(ReplStream *st, Err *err) {
    bufClear(st->scratch);
    replEventGtidList(st->scratch, st->serverId, st->state, MARIA_GTID_LIST_FLAG_UNTIL_REACHED,
                      st->pos > UINT32_MAX ? 0 : (uint32_t)st->pos, algCrc(st->alg));
    if (emitArtificial(st, err) != 0)
        return -1;
    st->done = true;
    return 1;
}

static int
streamFde(ReplStream *st, const char *file, const BinlogHeader *h, const uint8_t *ev, size_t len, Err *err) {
    BinlogFormat fmt;
    bool first = !st->started;
    uint64_t rotatePos = BINLOG_MAGIC_LEN;

    if (binlogFormatFromFde(&fmt, ev, len, true, err) != 0)
        return errPrefix(err, "format description event of '%s'", file);
    if (fmt.checksumAlg == BINLOG_CHECKSUM_CRC32 && st->connectAlg == BINLOG_CHECKSUM_UNDEF)
        return errSet(err, ERR_TARGET,
                      "binlog '%s' has CRC32 checksums and the replica did not declare that it handles them "
                      "(SET @master_binlog_checksum)", file);
    snprintf(st->file, sizeof(st->file), "%s", file);
    st->fmt = fmt;
    st->haveFile = true;
    st->pos = h->logPos ? h->logPos : BINLOG_MAGIC_LEN;
    st->skipping = st->inGroup = false;
    if (!st->gtidMode && !st->started) {
        st->skipFile = st->startFile[0] != '\0' && strcmp(file, st->startFile) != 0;
        if (st->skipFile)
            return 0;
        rotatePos = st->startPos > BINLOG_MAGIC_LEN ? st->startPos : BINLOG_MAGIC_LEN;
    }
    if (first && st->gtidMode && st->startFile[0] != '\0' && strcmp(file, st->startFile) != 0)
        logInfo("the replica was reading '%s' and the stream starts in '%s': it rolls back a transaction it "
                "received only in part, as after a primary crash", st->startFile, file);
    bufClear(st->scratch);
    replEventRotate(st->scratch, st->serverId, file, rotatePos, algCrc(st->alg));
    if (emitArtificial(st, err) != 0)
        return -1;
    bufClear(st->scratch);
    bufAppend(st->scratch, ev, len);
    if (replFdeForStream(st->scratch->data, len, first, err) != 0 || emitArtificial(st, err) != 0)
        return -1;
    st->alg = fmt.checksumAlg;
    st->started = true;
    if (first && st->gtidMode) {
        bufClear(st->scratch);
        replEventGtidList(st->scratch, st->serverId, st->connectPos, 0, 0, algCrc(st->alg));
        if (emitArtificial(st, err) != 0)
            return -1;
        if (st->untilActive && st->untilLeft == 0)
            return untilReached(st, err);
    }
    return 0;
}

static int
streamGtid(ReplStream *st, const BinlogHeader *h, const uint8_t *ev, size_t len, Err *err) {
    BinlogEvent e;
    BinlogMariaGtid g;
    MariaGtid mg;
    bool skip = false;
    PosEntry *c;

    if (binlogEventParse(&st->fmt, ev, len, false, &e, err) != 0 || binlogDecodeMariaGtid(&e, &g, err) != 0)
        return errPrefix(err, "gtid event ending at %u of '%s'", h->logPos, st->file);
    mg.domain = g.domain;
    mg.server = g.serverId;
    mg.seq = g.seq;
    mariaGtidPosUpdate(st->state, &mg);
    st->skipping = st->inGroup = false;
    if (g.serverId == st->replicaServerId && !st->warnedOwnId) {
        logWarn("gtid %" PRIu32 "-%" PRIu32 "-%" PRIu64 " was written by server_id %" PRIu32
                ", the replica's own: the replica ignores such events unless it runs with replicate_same_server_id",
                g.domain, g.serverId, g.seq, g.serverId);
        st->warnedOwnId = true;
    }
    if (st->gtidMode) {
        /* Skip what the replica has; once past its GTID in a domain, send everything of it. */
        if ((c = posFind(st->connect, st->nConnect, g.domain)) != NULL) {
            if (g.seq <= c->g.seq)
                skip = true;
            else
                c->done = true;
        }
        if (st->untilActive) {
            PosEntry *u = posFind(st->until, st->nUntil, g.domain);

            if (u == NULL) {
                skip = true; /* not asked for, or that domain reached its UNTIL */
            } else if (g.seq >= u->g.seq) {
                u->done = true;
                st->untilLeft--;
                if (g.seq > u->g.seq) {
                    /* The UNTIL GTID is not in the binlog: stop before what lies beyond it. */
                    skip = true;
                    if (st->untilLeft == 0)
                        return untilReached(st, err);
                } else if (st->untilLeft == 0) {
                    st->stopAfterGroup = true;
                }
            }
        }
    }
    if (skip) {
        st->skipping = true;
        st->skipped++;
        return 0;
    }
    if (st->emit(st->ctx, ev, len, err) != 0)
        return -1;
    st->sent++;
    st->inGroup = true;
    st->standalone = (g.flags & MARIA_FL_STANDALONE) != 0;
    return 0;
}

/* Does this event end the group in progress (as the replica's I/O thread sees it)? */
static bool
endsGroup(ReplStream *st, uint8_t type, const uint8_t *ev, size_t len) {
    if (!st->inGroup)
        return false;
    if (st->standalone)
        return type == BINLOG_QUERY || type == BINLOG_MARIA_QUERY_COMPRESSED || type == BINLOG_INCIDENT;
    if (type == BINLOG_XID || type == BINLOG_XA_PREPARE)
        return true;
    if (type == BINLOG_QUERY) {
        BinlogEvent e;
        BinlogQuery q;
        Err ignored;
        bool end = false;

        if (binlogEventParse(&st->fmt, ev, len, false, &e, &ignored) == 0 &&
            binlogDecodeQuery(&st->fmt, &e, 64, &q, &ignored) == 0) {
            end = (q.queryLen == 6 && memcmp(q.query, "COMMIT", 6) == 0) ||
                  (q.queryLen == 8 && memcmp(q.query, "ROLLBACK", 8) == 0);
            binlogQueryClear(&q);
        }
        return end;
    }
    return false;
}

int
replStreamFeed(ReplStream *st, const char *file, const uint8_t *ev, size_t len, Err *err) {
    BinlogHeader h;
    bool drop = false;

    if (st->done)
        return errSet(err, ERR_INTERNAL, "event fed to a binlog stream that has ended");
    if (len < BINLOG_HEADER_LEN)
        return errSet(err, ERR_FORMAT, "event of %zu bytes is shorter than the 19-byte header", len);
    binlogHeaderParse(ev, &h);
    if (h.size != len)
        return errSet(err, ERR_FORMAT, "event size field %u does not match the %zu bytes given", h.size, len);
    if (file == NULL || file[0] == '\0' || strlen(file) >= sizeof(st->file) || strchr(file, '/') != NULL)
        return errSet(err, ERR_FORMAT, "invalid binlog file name '%s'", file ? file : "");
    if (h.type == BINLOG_FORMAT_DESCRIPTION)
        return streamFde(st, file, &h, ev, len, err);
    if (!st->haveFile)
        return errSet(err, ERR_FORMAT, "the stream starts with a %s event instead of a format description",
                      binlogEventTypeName(h.type));
    if (strcmp(file, st->file) != 0)
        return errSet(err, ERR_FORMAT, "%s event of binlog '%s' comes without that file's format description",
                      binlogEventTypeName(h.type), file);
    if (h.logPos != 0)
        st->pos = h.logPos;
    if (st->skipFile)
        return 0;
    if (!st->positionReached) {
        if (h.logPos <= st->startPos)
            return 0;
        if (h.logPos - len < st->startPos)
            return errSet(err, ERR_TARGET, "start position %" PRIu32 " in '%s' is inside a %s event (%u to %u)",
                          st->startPos, file, binlogEventTypeName(h.type), h.logPos - (uint32_t)len, h.logPos);
        st->positionReached = true;
    }
    /* An event any reader may skip outside a transaction (the archive's replacement of a
     * START_ENCRYPTION) is not sent: a MariaDB replica in GTID mode takes it for a transaction
     * without a GTID and stops. */
    if (h.type == BINLOG_IGNORABLE && (h.flags & BINLOG_FLAG_IGNORABLE) && !st->inGroup)
        return 0;
    switch (h.type) {
    case BINLOG_MARIA_GTID:
        return streamGtid(st, &h, ev, len, err);
    case BINLOG_MARIA_GTID_LIST: {
        BinlogEvent e;
        MariaGtid *list = NULL;
        size_t n = 0;
        uint32_t flags;

        if (binlogEventParse(&st->fmt, ev, len, false, &e, err) != 0 ||
            mariaGtidListDecode(e.body, e.bodyLen, &list, &n, &flags, err) != 0)
            return errPrefix(err, "gtid list event ending at %u of '%s'", h.logPos, st->file);
        mariaGtidPosFree(st->state);
        st->state = mariaGtidPosFromList(list, n);
        bvFree(list);
        st->skipping = false;
        break;
    }
    case BINLOG_ROTATE:
    case BINLOG_STOP:
    case BINLOG_MARIA_BINLOG_CHECKPOINT:
        st->skipping = false;
        break;
    case BINLOG_MARIA_START_ENCRYPTION:
        /* Flagged ignorable, it is the one a replication stream sends before the decrypted events
         * of an encrypted file (archives of binvault before 0.2 stored it so): nothing to apply.
         * Unflagged, ciphertext follows. */
        if (h.flags & BINLOG_FLAG_IGNORABLE)
            return 0;
        return errSet(err, ERR_FORMAT,
                      "binlog '%s' holds encrypted events (START_ENCRYPTION ending at %u): binvault serves only "
                      "the decrypted events a replication stream gives; this file was not archived by the agent",
                      file, h.logPos);
    case BINLOG_HEARTBEAT:
    case BINLOG_HEARTBEAT_V2:
        return 0;
    default: {
        bool end;

        if (st->skipping)
            return 0;
        end = endsGroup(st, h.type, ev, len);
        drop = (h.type == BINLOG_MARIA_ANNOTATE_ROWS && !st->sendAnnotateRows) ||
               (st->skipReplication && (h.flags & EVENT_FLAG_SKIP_REPLICATION));
        if (!drop) {
            if (st->emit(st->ctx, ev, len, err) != 0)
                return -1;
            st->sent++;
        }
        if (end) {
            st->inGroup = false;
            if (st->stopAfterGroup)
                return untilReached(st, err);
        }
        return 0;
    }
    }
    if (st->emit(st->ctx, ev, len, err) != 0)
        return -1;
    st->sent++;
    return 0;
}

int
replStreamHeartbeat(ReplStream *st, Err *err) {
    if (!st->started || st->pos > UINT32_MAX)
        return 0;
    bufClear(st->scratch);
    replEventHeartbeat(st->scratch, st->serverId, st->file, (uint32_t)st->pos, algCrc(st->alg));
    return emitArtificial(st, err);
}

const char *
replStreamFile(const ReplStream *st) {
    return st->file;
}

uint64_t
replStreamPos(const ReplStream *st) {
    return st->pos;
}

uint64_t
replStreamEventsSent(const ReplStream *st) {
    return st->sent;
}

uint64_t
replStreamGroupsSkipped(const ReplStream *st) {
    return st->skipped;
}

void
replStreamFree(ReplStream *st) {
    if (st == NULL)
        return;
    bvFree(st->startFile);
    mariaGtidPosFree(st->connectPos);
    mariaGtidPosFree(st->state);
    bvFree(st->connect);
    bvFree(st->until);
    bufFree(st->scratch);
    bvFree(st);
}
