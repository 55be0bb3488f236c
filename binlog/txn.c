/*
 * Transaction framing (binlog/txn.h): the open transaction, its tables and text, and the GTID
 * state after each one.
 */
#include "binlog/txn.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "binlog/ddl.h"
#include "binlog/gtid.h"
#include "binlog/payload.h"
#include "common/mem.h"

/* How the open transaction ends. */
typedef enum TxnMode {
    MODE_NONE = 0,  /* no open transaction */
    MODE_PENDING,   /* after a MySQL GTID or a context event: the next statement decides */
    MODE_SINGLE,    /* one statement (MariaDB standalone GTID) */
    MODE_MULTI,     /* BEGIN or transactional GTID: until XID / COMMIT / ROLLBACK / XA_PREPARE */
    MODE_XA,        /* XA START ... XA END: until XA_PREPARE or XA COMMIT ... ONE PHASE */
} TxnMode;

typedef struct TxnSlot {
    BinlogTxn txn;
    char *text;
    size_t textLen;
} TxnSlot;

struct BinlogTxnFramer {
    size_t maxText;
    bool noTables; /* binlogTxnFramerSkipTables() */
    TxnMode mode;
    /* The three slots, which trade places: a transaction ends by a swap of pointers, not a copy of
     * its ~1.2 KB (three per transaction were 4% of the agent's stream thread on small events). */
    TxnSlot slots[3];
    TxnSlot *open, *done, *aborted;
    uint64_t gtidCommitUs; /* MySQL immediate_commit_timestamp of the open transaction */
    BinlogFlavour flavour;
    MariaGtidPos *mariaState;
    GtidSet *mysqlState;
    bool pendingMaria;
    MariaGtid openMaria;
    bool pendingMysql;
    uint8_t openUuid[16];
    char openTag[GTID_TAG_MAX + 1];
    int64_t openGno;
};

BinlogTxnFramer *
binlogTxnFramerNew(size_t maxText) {
    BinlogTxnFramer *f = bvCalloc(1, sizeof(*f));

    f->maxText = maxText;
    for (size_t i = 0; i < 3; i++) {
        f->slots[i].text = bvMalloc(maxText + 4);
        f->slots[i].text[0] = '\0';
        f->slots[i].txn.statement = f->slots[i].text;
    }
    f->open = &f->slots[0];
    f->done = &f->slots[1];
    f->aborted = &f->slots[2];
    f->mariaState = mariaGtidPosNew();
    f->mysqlState = gtidSetNew();
    return f;
}

/* The statement pointer ends the struct: a reset clears what comes before the tables, then
 * empties the tables' string, instead of clearing their 1 KiB at every transaction. */
_Static_assert(offsetof(BinlogTxn, statement) + sizeof(const char *) == sizeof(BinlogTxn) &&
                   offsetof(BinlogTxn, tables) + BINLOG_TXN_TABLES_MAX <= offsetof(BinlogTxn, statement),
               "BinlogTxn: slotReset() clears the fields before 'tables'");

static void
slotReset(TxnSlot *s, uint64_t offset, BinlogFlavour flavour) {
    memset(&s->txn, 0, offsetof(BinlogTxn, tables));
    s->txn.tables[0] = '\0';
    s->text[0] = '\0';
    s->textLen = 0;
    s->txn.startPos = offset;
    s->txn.flavour = flavour;
    s->txn.statement = s->text;
}

/* The open slot becomes *to, and *to's slot the next open one (reset when a transaction begins). */
static void
slotMove(TxnSlot **open, TxnSlot **to) {
    TxnSlot *tmp = *to;

    *to = *open;
    *open = tmp;
}

static void
begin(BinlogTxnFramer *f, uint64_t offset, TxnMode mode) {
    slotReset(f->open, offset, f->flavour);
    f->mode = mode;
    f->gtidCommitUs = 0;
    f->pendingMaria = false;
    f->pendingMysql = false;
}

static void
appendText(BinlogTxnFramer *f, const char *text, size_t len) {
    TxnSlot *s = f->open;
    size_t room;

    if (f->maxText == 0 || s->textLen >= f->maxText)
        return;
    if (s->textLen > 0) {
        if (s->textLen + 2 > f->maxText)
            return;
        s->text[s->textLen++] = ';';
        s->text[s->textLen++] = ' ';
    }
    room = f->maxText - s->textLen;
    if (len > room) {
        memcpy(s->text + s->textLen, text, room);
        s->textLen += room;
        memcpy(s->text + s->textLen, "...", 3);
        s->textLen += 3;
    } else {
        memcpy(s->text + s->textLen, text, len);
        s->textLen += len;
    }
    s->text[s->textLen] = '\0';
}

/* db.table (table alone without a db) into the open transaction's list, once. */
static void
addTable(BinlogTxnFramer *f, const char *db, size_t dbLen, const char *table, size_t tableLen) {
    char name[2 * BINLOG_DDL_NAME_MAX + 8];
    char *tables = f->open->txn.tables;
    size_t have, n;

    if (f->noTables)
        return;
    have = strlen(tables);
    /* Built by hand, not snprintf(): this runs for every TABLE_MAP of the stream. A name stops at
     * its first NUL, as "%.*s" would. */
    dbLen = strnlen(db, dbLen);
    tableLen = strnlen(table, tableLen);
    if (dbLen + 1 + tableLen >= sizeof(name))
        return;
    n = 0;
    if (dbLen > 0) {
        memcpy(name, db, dbLen);
        name[dbLen] = '.';
        n = dbLen + 1;
    }
    memcpy(name + n, table, tableLen);
    n += tableLen;
    name[n] = '\0';
    /* An empty name (a table map without names, or names of NUL bytes) is no table, and would
     * match everywhere below. */
    if (n == 0)
        return;
    /* The table of the last row event first: a transaction's row events mostly come in runs on
     * one table, and this is what the search below would find, without a strstr() per event. */
    if (have >= n && memcmp(tables + have - n, name, n) == 0 && (have == n || tables[have - n - 1] == ','))
        return;
    for (const char *p = tables; (p = strstr(p, name)) != NULL; p++)
        if ((p == tables || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return;
    if (have >= 4 && strcmp(tables + have - 4, ",...") == 0)
        return;
    if (have + 1 + n + 5 > BINLOG_TXN_TABLES_MAX) {
        if (have + 5 <= BINLOG_TXN_TABLES_MAX)
            memcpy(tables + have, ",...", 5);
        return;
    }
    if (have > 0)
        tables[have++] = ',';
    memcpy(tables + have, name, n + 1);
}

static void
addDdlTable(void *ctx, const char *db, size_t dbLen, const char *table, size_t tableLen) {
    addTable(ctx, db, dbLen, table, tableLen);
}

static bool
textIs(const char *q, size_t len, const char *word) {
    size_t n = strlen(word);

    while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '\n' || q[len - 1] == ';' || q[len - 1] == '\0'))
        len--;
    return len == n && strncasecmp(q, word, n) == 0;
}

static bool
textStarts(const char *q, size_t len, const char *word) {
    size_t n = strlen(word);

    return len >= n && strncasecmp(q, word, n) == 0;
}

/* Record what an event inside a transaction tells about it: tables, statement text. */
static int
collect(BinlogTxnFramer *f, const BinlogFormat *fmt, const BinlogEvent *ev, Err *err) {
    uint8_t t = ev->h.type;

    if (t == BINLOG_TABLE_MAP) {
        BinlogTableMap tm;

        if (binlogDecodeTableMap(fmt, ev, &tm, err) != 0)
            return -1;
        addTable(f, tm.db, tm.dbLen, tm.table, tm.tableLen);
    } else if (t == BINLOG_MARIA_ANNOTATE_ROWS || t == BINLOG_ROWS_QUERY) {
        const char *text;
        size_t len;

        if (binlogDecodeStatementText(ev, &text, &len, err) != 0)
            return -1;
        appendText(f, text, len);
    }
    return 0;
}

/* Tables and text from the events inside a TRANSACTION_PAYLOAD. */
static int
collectPayload(BinlogTxnFramer *f, const BinlogFormat *fmt, const BinlogEvent *ev, Err *err) {
    BinlogPayloadIter *it;
    BinlogEvent inner;
    int rc;

    if ((it = binlogPayloadIterOpen(fmt, ev, 0, err)) == NULL)
        return -1;
    while ((rc = binlogPayloadIterNext(it, &inner, err)) == 1) {
        f->open->txn.events++;
        if (inner.h.type == BINLOG_QUERY) {
            BinlogQuery q;

            if (binlogDecodeQuery(fmt, &inner, f->maxText, &q, err) != 0) {
                rc = -1;
                break;
            }
            if (!textIs(q.query, q.queryLen, "BEGIN") && !textIs(q.query, q.queryLen, "COMMIT"))
                appendText(f, q.query, q.queryLen);
            binlogQueryClear(&q);
        } else if (collect(f, fmt, &inner, err) != 0) {
            rc = -1;
            break;
        }
    }
    binlogPayloadIterFree(it);
    return rc < 0 ? -1 : 0;
}

static void
finishGtid(BinlogTxnFramer *f) {
    Err err;

    if (f->pendingMaria)
        mariaGtidPosUpdate(f->mariaState, &f->openMaria);
    if (f->pendingMysql)
        gtidSetAddGtid(f->mysqlState, f->openUuid, f->openTag[0] ? f->openTag : NULL, f->openGno, &err);
    f->pendingMaria = f->pendingMysql = false;
}

/* The event ends the open transaction. */
static int
end(BinlogTxnFramer *f, const BinlogEvent *ev, uint64_t offset, BinlogTxnKind kind) {
    BinlogTxn *t = &f->open->txn;

    t->endPos = offset + ev->h.size;
    t->kind = kind;
    t->commitTimeUs = f->gtidCommitUs ? f->gtidCommitUs : (uint64_t)ev->h.timestamp * 1000000u;
    finishGtid(f);
    slotMove(&f->open, &f->done);
    f->mode = MODE_NONE;
    return BINLOG_TXN_END;
}

static int
abortOpen(BinlogTxnFramer *f) {
    if (f->mode == MODE_NONE)
        return 0;
    f->open->txn.incomplete = true;
    if (f->open->txn.endPos == 0)
        f->open->txn.endPos = f->open->txn.startPos;
    slotMove(&f->open, &f->aborted);
    f->mode = MODE_NONE;
    f->pendingMaria = f->pendingMysql = false;
    return BINLOG_TXN_ABORTED;
}

static int
pushQuery(BinlogTxnFramer *f, const BinlogFormat *fmt, const BinlogEvent *ev, uint64_t offset, int flags, Err *err) {
    BinlogQuery q;
    int rc;

    /* Enough text to recognise BEGIN / COMMIT / XA and to keep the statement. */
    if (binlogDecodeQuery(fmt, ev, f->maxText + 64, &q, err) != 0)
        return -1;
    if (textIs(q.query, q.queryLen, "BEGIN")) {
        if (f->mode == MODE_NONE)
            begin(f, offset, MODE_MULTI);
        else if (f->mode == MODE_PENDING)
            f->mode = MODE_MULTI;
        rc = BINLOG_TXN_INSIDE;
    } else if (f->mode == MODE_MULTI && (textIs(q.query, q.queryLen, "COMMIT") || textIs(q.query, q.queryLen, "ROLLBACK"))) {
        rc = end(f, ev, offset, textIs(q.query, q.queryLen, "COMMIT") ? BINLOG_TXN_KIND_TRANSACTION : BINLOG_TXN_KIND_ROLLBACK);
    } else if (textStarts(q.query, q.queryLen, "XA START") && (f->mode == MODE_NONE || f->mode == MODE_PENDING)) {
        if (f->mode == MODE_NONE)
            begin(f, offset, MODE_XA);
        f->mode = MODE_XA;
        appendText(f, q.query, q.queryLen);
        rc = BINLOG_TXN_INSIDE;
    } else if (f->mode == MODE_XA && textStarts(q.query, q.queryLen, "XA COMMIT")) {
        appendText(f, q.query, q.queryLen);
        rc = end(f, ev, offset, BINLOG_TXN_KIND_TRANSACTION);
    } else if (f->mode == MODE_MULTI || f->mode == MODE_XA) {
        appendText(f, q.query, q.queryLen);
        rc = BINLOG_TXN_INSIDE;
    } else {
        /* A statement on its own: DDL, or a non-transactional or XA COMMIT statement. */
        if (f->mode == MODE_NONE)
            begin(f, offset, MODE_SINGLE);
        appendText(f, q.query, q.queryLen);
        /* No table map names the tables of a DDL: its text does. */
        binlogDdlTables(q.query, q.queryLen, q.db, q.dbLen, addDdlTable, f);
        if (!textStarts(q.query, q.queryLen, "XA ") && !textStarts(q.query, q.queryLen, "INSERT") &&
            !textStarts(q.query, q.queryLen, "UPDATE") && !textStarts(q.query, q.queryLen, "DELETE") &&
            !textStarts(q.query, q.queryLen, "REPLACE"))
            f->open->txn.ddl = true;
        f->open->txn.events++;
        binlogQueryClear(&q);
        return end(f, ev, offset, BINLOG_TXN_KIND_STATEMENT) | flags;
    }
    if (rc == BINLOG_TXN_INSIDE)
        f->open->txn.events++;
    binlogQueryClear(&q);
    return rc | flags;
}

int
binlogTxnFramerPush(BinlogTxnFramer *f, const BinlogFormat *fmt, const BinlogEvent *ev, uint64_t offset, Err *err) {
    uint8_t t = ev->h.type;
    int flags = 0;

    if (fmt->flavour != BINLOG_FLAVOUR_UNKNOWN)
        f->flavour = fmt->flavour;
    switch (t) {
    case BINLOG_FORMAT_DESCRIPTION:
    case BINLOG_ROTATE:
    case BINLOG_STOP:
        /* A file boundary: no transaction spans it. Artificial events of a stream do not count. */
        if (!(ev->h.flags & BINLOG_FLAG_ARTIFICIAL) && ev->h.logPos != 0)
            flags = abortOpen(f);
        return BINLOG_TXN_OUTSIDE | flags;
    case BINLOG_HEARTBEAT:
    case BINLOG_HEARTBEAT_V2:
    case BINLOG_INCIDENT:
    case BINLOG_MARIA_BINLOG_CHECKPOINT:
    case BINLOG_MARIA_START_ENCRYPTION:
        return BINLOG_TXN_OUTSIDE;
    case BINLOG_PREVIOUS_GTIDS: {
        GtidSet *set = gtidSetNew();

        if (gtidSetDecode(set, ev->body, ev->bodyLen, err) != 0) {
            gtidSetFree(set);
            return errPrefix(err, "previous gtids event");
        }
        gtidSetFree(f->mysqlState);
        f->mysqlState = set;
        return BINLOG_TXN_OUTSIDE;
    }
    case BINLOG_MARIA_GTID_LIST: {
        MariaGtid *list;
        size_t count;
        uint32_t listFlags;
        MariaGtidPos *pos;

        if (mariaGtidListDecode(ev->body, ev->bodyLen, &list, &count, &listFlags, err) != 0)
            return errPrefix(err, "gtid list event");
        pos = mariaGtidPosFromList(list, count);
        bvFree(list);
        /* The list at the start of a file is the binlog state; a stream's artificial list is the
         * replica's start position. Both are the state before the next transaction. */
        mariaGtidPosFree(f->mariaState);
        f->mariaState = pos;
        return BINLOG_TXN_OUTSIDE;
    }
    case BINLOG_GTID:
    case BINLOG_ANONYMOUS_GTID:
    case BINLOG_GTID_TAGGED: {
        BinlogMysqlGtid g;
        char uuid[GTID_UUID_TEXT_LEN + 1];

        if (binlogDecodeMysqlGtid(ev, &g, err) != 0)
            return -1;
        flags = abortOpen(f);
        begin(f, offset, MODE_PENDING);
        f->open->txn.events = 1;
        f->gtidCommitUs = g.immediateCommitUs;
        if (!g.anonymous) {
            gtidUuidFormat(g.uuid, uuid);
            if (g.tag[0])
                snprintf(f->open->txn.gtid, sizeof(f->open->txn.gtid), "%s:%s:%lld", uuid, g.tag, (long long)g.gno);
            else
                snprintf(f->open->txn.gtid, sizeof(f->open->txn.gtid), "%s:%lld", uuid, (long long)g.gno);
            memcpy(f->openUuid, g.uuid, 16);
            memcpy(f->openTag, g.tag, sizeof(f->openTag));
            f->openGno = g.gno;
            f->pendingMysql = g.gno > 0;
        }
        return BINLOG_TXN_INSIDE | flags;
    }
    case BINLOG_MARIA_GTID: {
        BinlogMariaGtid g;

        if (binlogDecodeMariaGtid(ev, &g, err) != 0)
            return -1;
        flags = abortOpen(f);
        if (g.flags & MARIA_FL_STANDALONE)
            begin(f, offset, MODE_SINGLE);
        else if (g.flags & MARIA_FL_PREPARED_XA)
            begin(f, offset, MODE_XA);
        else
            begin(f, offset, MODE_MULTI);
        f->open->txn.events = 1;
        f->open->txn.ddl = (g.flags & MARIA_FL_DDL) != 0;
        f->openMaria.domain = g.domain;
        f->openMaria.server = g.serverId;
        f->openMaria.seq = g.seq;
        f->pendingMaria = true;
        mariaGtidFormat(&f->openMaria, f->open->txn.gtid);
        return BINLOG_TXN_INSIDE | flags;
    }
    case BINLOG_QUERY:
    case BINLOG_MARIA_QUERY_COMPRESSED:
    case BINLOG_EXECUTE_LOAD_QUERY:
        return pushQuery(f, fmt, ev, offset, 0, err);
    case BINLOG_XID:
        if (f->mode == MODE_NONE)
            begin(f, offset, MODE_MULTI);
        f->open->txn.events++;
        return end(f, ev, offset, BINLOG_TXN_KIND_TRANSACTION);
    case BINLOG_XA_PREPARE:
        if (f->mode == MODE_NONE)
            begin(f, offset, MODE_XA);
        f->open->txn.events++;
        return end(f, ev, offset, BINLOG_TXN_KIND_XA_PREPARE);
    case BINLOG_TRANSACTION_PAYLOAD:
        if (f->mode == MODE_NONE)
            begin(f, offset, MODE_PENDING);
        f->open->txn.events++;
        if (collectPayload(f, fmt, ev, err) != 0)
            return -1;
        return end(f, ev, offset, BINLOG_TXN_KIND_TRANSACTION);
    default:
        /* Context (INTVAR, RAND, USER_VAR), rows, table maps, annotations, load data blocks and
         * unknown events: part of the open transaction, or the start of an implicit one. */
        if (f->mode == MODE_NONE) {
            if (t == BINLOG_INTVAR || t == BINLOG_RAND || t == BINLOG_USER_VAR)
                begin(f, offset, MODE_PENDING);
            else if (binlogTypeIsRows(t) || t == BINLOG_TABLE_MAP || t == BINLOG_MARIA_ANNOTATE_ROWS ||
                     t == BINLOG_ROWS_QUERY || t == BINLOG_BEGIN_LOAD_QUERY || t == BINLOG_APPEND_BLOCK)
                begin(f, offset, MODE_MULTI);
            else
                return BINLOG_TXN_OUTSIDE;
        }
        f->open->txn.events++;
        if (collect(f, fmt, ev, err) != 0)
            return -1;
        return BINLOG_TXN_INSIDE;
    }
}

void
binlogTxnFramerSkipTables(BinlogTxnFramer *f) {
    f->noTables = true;
}

bool
binlogTxnFramerFinish(BinlogTxnFramer *f) {
    return abortOpen(f) != 0;
}

bool
binlogTxnFramerInTxn(const BinlogTxnFramer *f) {
    return f->mode != MODE_NONE;
}

const BinlogTxn *
binlogTxnFramerDone(const BinlogTxnFramer *f) {
    return &f->done->txn;
}

const BinlogTxn *
binlogTxnFramerAborted(const BinlogTxnFramer *f) {
    return &f->aborted->txn;
}

char *
binlogTxnFramerGtidState(const BinlogTxnFramer *f) {
    if (f->flavour == BINLOG_FLAVOUR_MARIADB)
        return mariaGtidPosFormat(f->mariaState);
    if (f->flavour == BINLOG_FLAVOUR_MYSQL)
        return gtidSetFormatSep(f->mysqlState, ",");
    return bvStrdup("");
}

int
binlogTxnFramerSetGtidState(BinlogTxnFramer *f, BinlogFlavour flavour, const char *state, Err *err) {
    f->flavour = flavour;
    if (flavour == BINLOG_FLAVOUR_MARIADB) {
        MariaGtidPos *pos = mariaGtidPosNew();

        if (mariaGtidPosParse(pos, state, err) != 0) {
            mariaGtidPosFree(pos);
            return -1;
        }
        mariaGtidPosFree(f->mariaState);
        f->mariaState = pos;
    } else {
        GtidSet *set = gtidSetNew();

        if (gtidSetParse(set, state, err) != 0) {
            gtidSetFree(set);
            return -1;
        }
        gtidSetFree(f->mysqlState);
        f->mysqlState = set;
    }
    return 0;
}

void
binlogTxnFramerFree(BinlogTxnFramer *f) {
    if (f == NULL)
        return;
    for (size_t i = 0; i < 3; i++)
        bvFree(f->slots[i].text);
    mariaGtidPosFree(f->mariaState);
    gtidSetFree(f->mysqlState);
    bvFree(f);
}
