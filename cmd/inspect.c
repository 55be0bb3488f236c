/* binvault inspect: read binlog files, verify every checksum, print events or transactions. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "binlog/gtid.h"
#include "binlog/payload.h"
#include "binlog/reader.h"
#include "binlog/txn.h"
#include "cmd/cmd.h"
#include "common/json.h"
#include "common/mem.h"
#include "common/time.h"

#define INSPECT_READ_CHUNK (1024 * 1024)
#define INSPECT_TEXT_MAX 1024

typedef struct Inspect {
    bool json;
    bool transactions;
    bool quiet;
    const char *file;
    uint64_t events;
    uint64_t txns;
} Inspect;

/* Printable one-line summary of text (newlines folded), at most max bytes. */
static void
putText(FILE *out, const char *text, size_t len, size_t max) {
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)text[i];

        fputc(c == '\n' || c == '\r' || c == '\t' ? ' ' : (c < 0x20 || c == 0x7f ? '?' : c), out);
    }
    if (len > max)
        fputs("...", out);
}

/* Event-specific detail: into text mode as "key=value ...", into JSON as fields. */
static int
eventDetail(Inspect *in, const BinlogFormat *fmt, const BinlogEvent *ev, FILE *out, Err *err) {
    uint8_t t = ev->h.type;

    switch (t) {
    case BINLOG_FORMAT_DESCRIPTION:
        if (in->json) {
            fprintf(out, ",\"server_version\":");
            jsonPutString(out, fmt->serverVersion, strlen(fmt->serverVersion));
            fprintf(out, ",\"binlog_version\":%u,\"checksum_alg\":%u", fmt->binlogVersion, fmt->checksumAlg);
        } else {
            fprintf(out, "server %s binlog v%u checksum %s", fmt->serverVersion, fmt->binlogVersion,
                    fmt->checksumAlg == BINLOG_CHECKSUM_CRC32 ? "CRC32"
                    : fmt->checksumAlg == BINLOG_CHECKSUM_OFF ? "OFF" : "none");
        }
        break;
    case BINLOG_QUERY:
    case BINLOG_MARIA_QUERY_COMPRESSED:
    case BINLOG_EXECUTE_LOAD_QUERY: {
        BinlogQuery q;

        if (binlogDecodeQuery(fmt, ev, 64u * 1024 * 1024, &q, err) != 0)
            return -1;
        if (in->json) {
            fprintf(out, ",\"db\":");
            jsonPutString(out, q.db, q.dbLen);
            fprintf(out, ",\"query\":");
            jsonPutString(out, q.query, q.queryLen);
        } else {
            fprintf(out, "db=%.*s ", (int)q.dbLen, q.db);
            putText(out, q.query, q.queryLen, 120);
        }
        binlogQueryClear(&q);
        break;
    }
    case BINLOG_ROTATE: {
        BinlogRotate r;

        if (binlogDecodeRotate(fmt, ev, &r, err) != 0)
            return -1;
        if (in->json) {
            fprintf(out, ",\"next_file\":");
            jsonPutString(out, r.file, r.fileLen);
            fprintf(out, ",\"next_pos\":%" PRIu64, r.position);
        } else {
            fprintf(out, "%.*s:%" PRIu64, (int)r.fileLen, r.file, r.position);
        }
        break;
    }
    case BINLOG_XID: {
        uint64_t xid;

        if (binlogDecodeXid(ev, &xid, err) != 0)
            return -1;
        fprintf(out, in->json ? ",\"xid\":%" PRIu64 : "xid=%" PRIu64, xid);
        break;
    }
    case BINLOG_TABLE_MAP: {
        BinlogTableMap tm;

        if (binlogDecodeTableMap(fmt, ev, &tm, err) != 0)
            return -1;
        if (in->json) {
            fprintf(out, ",\"table_id\":%" PRIu64 ",\"db\":", tm.tableId);
            jsonPutString(out, tm.db, tm.dbLen);
            fprintf(out, ",\"table\":");
            jsonPutString(out, tm.table, tm.tableLen);
        } else {
            fprintf(out, "`%.*s`.`%.*s` table_id=%" PRIu64, (int)tm.dbLen, tm.db, (int)tm.tableLen, tm.table,
                    tm.tableId);
        }
        break;
    }
    case BINLOG_MARIA_ANNOTATE_ROWS:
    case BINLOG_ROWS_QUERY: {
        const char *text;
        size_t len;

        if (binlogDecodeStatementText(ev, &text, &len, err) != 0)
            return -1;
        if (in->json) {
            fprintf(out, ",\"statement\":");
            jsonPutString(out, text, len);
        } else {
            putText(out, text, len, 120);
        }
        break;
    }
    case BINLOG_GTID:
    case BINLOG_ANONYMOUS_GTID:
    case BINLOG_GTID_TAGGED: {
        BinlogMysqlGtid g;
        char uuid[GTID_UUID_TEXT_LEN + 1], gtid[BINLOG_TXN_GTID_MAX];

        if (binlogDecodeMysqlGtid(ev, &g, err) != 0)
            return -1;
        gtidUuidFormat(g.uuid, uuid);
        if (g.anonymous)
            snprintf(gtid, sizeof(gtid), "ANONYMOUS");
        else if (g.tag[0])
            snprintf(gtid, sizeof(gtid), "%s:%s:%lld", uuid, g.tag, (long long)g.gno);
        else
            snprintf(gtid, sizeof(gtid), "%s:%lld", uuid, (long long)g.gno);
        if (in->json) {
            fprintf(out, ",\"gtid\":\"%s\",\"last_committed\":%lld,\"sequence_number\":%lld", gtid,
                    (long long)g.lastCommitted, (long long)g.sequenceNumber);
            if (g.immediateCommitUs)
                fprintf(out, ",\"commit_us\":%" PRIu64, g.immediateCommitUs);
            if (g.transactionLength)
                fprintf(out, ",\"transaction_length\":%" PRIu64, g.transactionLength);
        } else {
            fprintf(out, "GTID %s last_committed=%lld sequence_number=%lld", gtid, (long long)g.lastCommitted,
                    (long long)g.sequenceNumber);
        }
        break;
    }
    case BINLOG_MARIA_GTID: {
        BinlogMariaGtid g;
        MariaGtid mg;
        char gtid[MARIA_GTID_TEXT_MAX];

        if (binlogDecodeMariaGtid(ev, &g, err) != 0)
            return -1;
        mg.domain = g.domain;
        mg.server = g.serverId;
        mg.seq = g.seq;
        mariaGtidFormat(&mg, gtid);
        if (in->json)
            fprintf(out, ",\"gtid\":\"%s\",\"gtid_flags\":%u", gtid, g.flags);
        else
            fprintf(out, "GTID %s%s%s%s", gtid, (g.flags & MARIA_FL_STANDALONE) ? " standalone" : " trans",
                    (g.flags & MARIA_FL_DDL) ? " ddl" : "",
                    (g.flags & MARIA_FL_PREPARED_XA) ? " xa-prepare" : (g.flags & MARIA_FL_COMPLETED_XA) ? " xa-complete" : "");
        break;
    }
    case BINLOG_MARIA_GTID_LIST: {
        MariaGtid *list;
        size_t count;
        uint32_t flags;

        if (mariaGtidListDecode(ev->body, ev->bodyLen, &list, &count, &flags, err) != 0)
            return -1;
        fputs(in->json ? ",\"gtid_list\":\"" : "[", out);
        for (size_t i = 0; i < count; i++) {
            char g[MARIA_GTID_TEXT_MAX];

            mariaGtidFormat(&list[i], g);
            fprintf(out, "%s%s", i ? "," : "", g);
        }
        fputs(in->json ? "\"" : "]", out);
        bvFree(list);
        break;
    }
    case BINLOG_PREVIOUS_GTIDS: {
        GtidSet *set = gtidSetNew();
        char *text;

        if (gtidSetDecode(set, ev->body, ev->bodyLen, err) != 0) {
            gtidSetFree(set);
            return -1;
        }
        text = gtidSetFormatSep(set, ",");
        if (in->json) {
            fprintf(out, ",\"previous_gtids\":");
            jsonPutString(out, text, strlen(text));
        } else {
            fprintf(out, "[%s]", text);
        }
        bvFree(text);
        gtidSetFree(set);
        break;
    }
    case BINLOG_MARIA_BINLOG_CHECKPOINT: {
        const char *file;
        size_t len;

        if (binlogDecodeCheckpoint(ev, &file, &len, err) != 0)
            return -1;
        if (in->json) {
            fprintf(out, ",\"checkpoint_file\":");
            jsonPutString(out, file, len);
        } else {
            fprintf(out, "%.*s", (int)len, file);
        }
        break;
    }
    case BINLOG_XA_PREPARE: {
        BinlogXaPrepare x;

        if (binlogDecodeXaPrepare(ev, &x, err) != 0)
            return -1;
        fprintf(out, in->json ? ",\"xa_one_phase\":%s" : "one_phase=%s", x.onePhase ? "true" : "false");
        break;
    }
    case BINLOG_TRANSACTION_PAYLOAD: {
        BinlogPayload pl;

        if (binlogDecodePayload(ev, &pl, err) != 0)
            return -1;
        fprintf(out, in->json ? ",\"compression\":%" PRIu64 ",\"payload_size\":%" PRIu64 ",\"uncompressed_size\":%" PRIu64
                              : "compression=%" PRIu64 " payload=%" PRIu64 " uncompressed=%" PRIu64,
                pl.compression, pl.payloadSize, pl.uncompressedSize);
        break;
    }
    default:
        if (binlogTypeIsRows(t)) {
            BinlogRows rows;

            if (binlogDecodeRows(fmt, ev, &rows, err) != 0)
                return -1;
            fprintf(out, in->json ? ",\"table_id\":%" PRIu64 ",\"rows_flags\":%u" : "table_id=%" PRIu64 " flags=%u",
                    rows.tableId, rows.flags);
        }
        break;
    }
    return 0;
}

static int
printEvent(Inspect *in, const BinlogFormat *fmt, const BinlogEvent *ev, uint64_t pos, int depth, Err *err) {
    char when[32];
    FILE *out = stdout;

    timeFormat((uint64_t)ev->h.timestamp * 1000000u, NULL, false, when, sizeof(when));
    if (in->json) {
        fprintf(out, "{\"file\":");
        jsonPutString(out, in->file, strlen(in->file));
        fprintf(out, ",\"pos\":%" PRIu64 ",\"type\":\"%s\",\"type_code\":%u,\"size\":%u,\"timestamp\":%u,"
                     "\"time\":\"%s\",\"server_id\":%u,\"end_pos\":%u,\"flags\":%u",
                pos, binlogEventTypeName(ev->h.type), ev->h.type, ev->h.size, ev->h.timestamp, when,
                ev->h.serverId, ev->h.logPos, ev->h.flags);
        if (ev->hasChecksum)
            fprintf(out, ",\"checksum\":\"0x%08x\"", ev->checksum);
        if (depth)
            fprintf(out, ",\"in_payload\":true");
    } else {
        fprintf(out, "%s%10" PRIu64 "  %-24s %8u  %s  %10u  %10u  ", depth ? "    " : "", pos,
                binlogEventTypeName(ev->h.type), ev->h.size, when, ev->h.serverId, ev->h.logPos);
    }
    if (eventDetail(in, fmt, ev, out, err) != 0)
        return -1;
    fputs(in->json ? "}\n" : "\n", out);
    return 0;
}

static int
printPayload(Inspect *in, const BinlogFormat *fmt, const BinlogEvent *ev, Err *err) {
    BinlogPayloadIter *it;
    BinlogEvent inner;
    int rc;

    if ((it = binlogPayloadIterOpen(fmt, ev, 0, err)) == NULL)
        return -1;
    while ((rc = binlogPayloadIterNext(it, &inner, err)) == 1) {
        if (printEvent(in, fmt, &inner, binlogPayloadIterOffset(it), 1, err) != 0) {
            rc = -1;
            break;
        }
    }
    binlogPayloadIterFree(it);
    return rc;
}

static void
printTxn(Inspect *in, const BinlogTxn *t) {
    static const char *const kinds[] = {"transaction", "statement", "xa-prepare", "rollback"};
    char when[40];
    FILE *out = stdout;

    timeFormat(t->commitTimeUs, NULL, true, when, sizeof(when));
    if (in->json) {
        fprintf(out, "{\"file\":");
        jsonPutString(out, in->file, strlen(in->file));
        fprintf(out, ",\"gtid\":\"%s\",\"start_pos\":%" PRIu64 ",\"end_pos\":%" PRIu64 ",\"commit_us\":%" PRIu64
                     ",\"commit_time\":\"%s\",\"events\":%u,\"kind\":\"%s\",\"ddl\":%s,\"incomplete\":%s,\"tables\":",
                t->gtid, t->startPos, t->endPos, t->commitTimeUs, when, t->events, kinds[t->kind],
                t->ddl ? "true" : "false", t->incomplete ? "true" : "false");
        jsonPutString(out, t->tables, strlen(t->tables));
        fprintf(out, ",\"statement\":");
        jsonPutString(out, t->statement, strlen(t->statement));
        fputs("}\n", out);
    } else {
        fprintf(out, "%-40s %10" PRIu64 "-%-10" PRIu64 " %s  %-11s %5u  %s  ", t->gtid[0] ? t->gtid : "-",
                t->startPos, t->endPos, when, t->incomplete ? "INCOMPLETE" : kinds[t->kind], t->events,
                t->tables[0] ? t->tables : "-");
        putText(out, t->statement, strlen(t->statement), 160);
        fputc('\n', out);
    }
}

static int
inspectFile(Inspect *in, const char *path, Err *err) {
    BinlogReader *r = binlogReaderNew(BINLOG_READER_FILE, 0);
    BinlogTxnFramer *framer = binlogTxnFramerNew(INSPECT_TEXT_MAX);
    BinlogEvent ev;
    int fd, rc = 0;
    uint64_t total = 0;
    bool eof = false;

    in->file = path;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = errSetSys(err, ERR_IO, errno, "unable to open '%s'", path);
        goto done;
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (!in->json && !in->quiet)
        printf("# %s\n", path);
    while (rc == 0) {
        int got = binlogReaderNext(r, &ev, err);

        if (got < 0) {
            rc = -1;
            break;
        }
        if (got == 0) {
            size_t avail;
            uint8_t *space;
            ssize_t n;

            if (eof)
                break;
            space = binlogReaderSpace(r, INSPECT_READ_CHUNK, &avail);
            n = read(fd, space, avail);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                rc = errSetSys(err, ERR_IO, errno, "unable to read '%s'", path);
                break;
            }
            if (n == 0)
                eof = true;
            binlogReaderCommit(r, (size_t)n);
            total += (uint64_t)n;
            continue;
        }
        in->events++;
        uint64_t pos = binlogReaderEventOffset(r);
        const BinlogFormat *fmt = binlogReaderFormat(r);

        if (!in->transactions) {
            if (!in->quiet && printEvent(in, fmt, &ev, pos, 0, err) != 0) {
                errPrefix(err, "event at offset %" PRIu64, pos);
                rc = -1;
                break;
            }
            if (ev.h.type == BINLOG_TRANSACTION_PAYLOAD && !in->quiet && printPayload(in, fmt, &ev, err) != 0) {
                errPrefix(err, "event at offset %" PRIu64, pos);
                rc = -1;
                break;
            }
            continue;
        }
        int st = binlogTxnFramerPush(framer, fmt, &ev, pos, err);

        if (st < 0) {
            errPrefix(err, "event at offset %" PRIu64, pos);
            rc = -1;
            break;
        }
        if (st & BINLOG_TXN_ABORTED) {
            in->txns++;
            if (!in->quiet)
                printTxn(in, binlogTxnFramerAborted(framer));
        }
        if ((st & 0x0f) == BINLOG_TXN_END) {
            in->txns++;
            if (!in->quiet)
                printTxn(in, binlogTxnFramerDone(framer));
        }
    }
    if (rc == 0 && binlogReaderPending(r) > 0) {
        uint64_t at = binlogReaderOffset(r);

        rc = total < BINLOG_MAGIC_LEN
                 ? errSet(err, ERR_FORMAT, "not a binlog file: only %" PRIu64 " bytes, shorter than the binlog magic", total)
                 : errSet(err, ERR_FORMAT, "file is truncated: it ends inside the event at offset %" PRIu64
                                           " (%zu bytes of it present)", at, binlogReaderPending(r));
    } else if (rc == 0 && total == 0) {
        rc = errSet(err, ERR_FORMAT, "not a binlog file: it is empty");
    }
    if (rc == 0 && in->transactions && binlogTxnFramerFinish(framer)) {
        in->txns++;
        if (!in->quiet)
            printTxn(in, binlogTxnFramerAborted(framer));
    }
done:
    if (fd >= 0)
        close(fd);
    binlogTxnFramerFree(framer);
    binlogReaderFree(r);
    if (rc != 0)
        errPrefix(err, "'%s'", path);
    return rc;
}

static const char *
txnNote(const Inspect *in, uint64_t before) {
    static char note[64];

    if (!in->transactions)
        return "";
    snprintf(note, sizeof(note), ", %" PRIu64 " transactions", in->txns - before);
    return note;
}

typedef struct InspectOpts {
    bool transactions, json, quiet;
} InspectOpts;

static const OptDef inspectDefs[] = {
    {"transactions", OPT_BOOL, NULL, 0, 0, 0, offsetof(InspectOpts, transactions), NULL,
     "one line per transaction (GTID, start-end positions, commit time, kind, events, tables, statement text)",
     NULL, NULL},
    {"json", OPT_BOOL, NULL, 0, 0, 0, offsetof(InspectOpts, json), NULL, "one JSON object per line instead", NULL, NULL},
    {"quiet", OPT_BOOL, NULL, 0, 0, 0, offsetof(InspectOpts, quiet), NULL, "print only the summary", NULL, NULL},
};

static const OptSet inspectSet = {
    "inspect",
    "binvault inspect [--transactions] [--json] [--quiet] FILE...",
    "Reads binlog files written by MySQL 5.0+ or MariaDB, verifies every event checksum and prints\n"
    "one line per event (position, type, size, time, server id, end position, detail), or with\n"
    "--transactions one line per transaction (GTID, start-end positions, commit time, kind, events,\n"
    "tables, statement text). --json prints one JSON object per line instead. --quiet prints only\n"
    "the summary. Stops at the first corrupt event with an error naming the file and offset.",
    inspectDefs,
    sizeof(inspectDefs) / sizeof(inspectDefs[0]),
    "FILE...",
    1,
    -1,
};

int
cmdInspect(int argc, char **argv) {
    InspectOpts o = {0};
    Inspect in = {0};
    char **files = NULL;
    int nfiles = 0, rc = 0;
    Err err;

    if (!cmdOptions(&inspectSet, &o, argc, argv, &files, &nfiles, &rc))
        return rc;
    in.transactions = o.transactions;
    in.json = o.json;
    in.quiet = o.quiet;
    for (int i = 0; i < nfiles; i++) {
        uint64_t events = in.events, txns = in.txns;

        if (inspectFile(&in, files[i], &err) != 0) {
            fflush(stdout);
            rc = cmdFail(&err);
            break;
        }
        if (!in.json)
            fprintf(in.quiet ? stdout : stderr, "# %s: %" PRIu64 " events%s, all checksums verified\n", files[i],
                    in.events - events, txnNote(&in, txns));
    }
    bvFree(files);
    return rc;
}
