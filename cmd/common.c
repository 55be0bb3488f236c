/* What every command shares: option parsing, archive and TLS options, error exit, time and prune printing. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/catalog.h"
#include "archive/key.h"
#include "archive/prune.h"
#include "binlog/gtid.h"
#include "mysql/client.h"
#include "binlog/pos.h"
#include "recover/plan.h"
#include "cmd/cmd.h"
#include "common/json.h"
#include "common/time.h"

int
cmdFail(const Err *err) {
    fprintf(stderr, "binvault: %s\n", err->msg);
    return errExitCode(err->code);
}

const char *const cmdArchiveSchemes[] = {"file", "s3", "", NULL};
const char *const cmdS3UriStyles[] = {"path", "host", NULL};
const char *const cmdMysqlSchemes[] = {"mysql", "mariadb", NULL};
const char *const cmdLogLevels[] = {"error", "warn", "info", "debug", "trace", NULL};
const char *const cmdLogFormats[] = {"text", "json", NULL};


bool
cmdOptions(const OptSet *set, void *target, int argc, char **argv, char ***args, int *nargs, int *exitCode) {
    Err err;
    int rc = optParse(set, target, argc, argv, environ, args, nargs, &err);

    if (rc == 0)
        return true;
    *exitCode = rc == 1 ? 0 : cmdFail(&err);
    optFree(set, target);
    return false;
}

int
cmdCheckSslMode(const char *text, void *field, Err *err) {
    SqlSslMode mode;

    (void)field;
    return sqlSslModeParse(text, "--ssl-mode", &mode, err);
}

int
cmdSslApply(const CmdSsl *ssl, SqlConnOpts *opts, Err *err) {
    opts->sslCa = ssl->sslCa;
    opts->sslCert = ssl->sslCert;
    opts->sslKey = ssl->sslKey;
    opts->sslMode = SQL_SSL_DEFAULT;
    if (ssl->sslMode != NULL && sqlSslModeParse(ssl->sslMode, "--ssl-mode", &opts->sslMode, err) != 0)
        return -1;
    if ((opts->sslMode == SQL_SSL_VERIFY || opts->sslMode == SQL_SSL_VERIFY_CA) && ssl->sslCa == NULL)
        return errSet(err, ERR_USAGE, "--ssl-mode %s needs --ssl-ca PEM (the CA that signed the server's "
                      "certificate)", ssl->sslMode);
    return 0;
}

void
cmdFormatTime(uint64_t us, char *out, size_t size) {
    timeFormatUtc(us, false, out, size);
}

void
cmdPrintPrune(const ArchiveCatalog *c) {
    const ArchivePruneRecord *p = archiveCatalogPrune(c);
    char t[40];

    if (p == NULL)
        return;
    cmdFormatTime(p->firstTimeUs, t, sizeof(t));
    printf("pruned: segments before seq %" PRIu64 " deleted on purpose (%s%s%s); the archive starts at %s:%" PRIu64
           ", gtid state %s, first commit %s\n",
           p->firstSeq, p->created, p->reason[0] ? ": " : "", p->reason, p->file, p->startPos,
           p->gtidStart[0] ? p->gtidStart : "(unknown)", t);
}

void
cmdPruneJson(const ArchiveCatalog *c, Buf *out) {
    const ArchivePruneRecord *p = archiveCatalogPrune(c);

    jsonBufPrintf(out, ",\"pruned\":");
    if (p == NULL)
        jsonBufPrintf(out, "null");
    else
        archivePruneRecordToJson(p, out);
}

void
cmdCatalogWarn(const ArchiveCatalog *c) {
    for (size_t i = 0; i < archiveCatalogProblemCount(c); i++)
        fprintf(stderr, "binvault: warning: %s\n", archiveCatalogProblem(c, i));
}

void
cmdViewWarn(const ArchiveView *v) {
    for (size_t i = 0; i < archiveViewProblemCount(v); i++)
        fprintf(stderr, "binvault: warning: %s\n", archiveViewProblem(v, i));
}

int
cmdGtidCheck(const char *text, void *field, Err *err) {
    GtidState *s;

    (void)field;
    if ((s = gtidStateParse(BINLOG_FLAVOUR_MARIADB, text, err)) == NULL &&
        (s = gtidStateParse(BINLOG_FLAVOUR_MYSQL, text, err)) == NULL)
        return errSet(err, ERR_USAGE, "invalid GTID '%s': expected MariaDB DOMAIN-SERVER-SEQ[,...] or MySQL UUID:N[-M][,...]",
                      text);
    gtidStateFree(s);
    return 0;
}

Storage *
cmdOpenArchive(const char *url, const StorageOptions *opts, Err *err) {
    return archiveKeyOpenStore(url, opts, err);
}

void
cmdShowTime(uint64_t us, const TimeZone *tz, char *out, size_t size) {
    if (us == 0) {
        snprintf(out, size, "-");
        return;
    }
    timeFormat(us, tz, us % 1000000u != 0, out, size);
    snprintf(out + strlen(out), size - strlen(out), " %s", tz->name);
}

int
cmdRecoverTarget(const OptTime *untilTime, const char *untilGtid, const BinlogPos *untilPosition, bool untilEnd,
                 bool exclusive, bool allowTimeDisorder, RecoverTarget *t, Err *err) {
    int n = (untilTime->text != NULL) + (untilGtid != NULL) + (untilPosition->file[0] != '\0') + untilEnd;

    memset(t, 0, sizeof(*t));
    if (n != 1)
        return errSet(err, ERR_USAGE, "give exactly one target: --until-time, --until-gtid, --until-position or --until-end");
    if (untilEnd && exclusive)
        return errSet(err, ERR_USAGE, "--exclusive does not go with --until-end");
    if (allowTimeDisorder && untilTime->text == NULL)
        return errSet(err, ERR_USAGE, "--allow-time-disorder goes with --until-time only");
    t->exclusive = exclusive;
    t->allowTimeDisorder = allowTimeDisorder;
    if (untilEnd) {
        t->kind = RECOVER_UNTIL_END;
    } else if (untilTime->text != NULL) {
        t->kind = RECOVER_UNTIL_TIME;
        t->timeUs = untilTime->us;
    } else if (untilGtid != NULL) {
        t->kind = RECOVER_UNTIL_GTID;
        t->gtid = untilGtid;
    } else {
        t->kind = RECOVER_UNTIL_POSITION;
        snprintf(t->file, sizeof(t->file), "%s", untilPosition->file);
        t->pos = untilPosition->pos;
    }
    return 0;
}
