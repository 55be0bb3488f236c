/*
 * Subcommands. Each takes the arguments after its name (argv[0] is the subcommand) and returns
 * the process exit code. They parse options, call into the modules and print results; the
 * logic lives in the modules.
 */
#ifndef BV_CMD_CMD_H
#define BV_CMD_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/opt.h"
#include "storage/storage.h"

struct ArchiveCatalog;
struct ArchiveView;

typedef struct CmdDef {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} CmdDef;

int cmdInspect(int argc, char **argv);
int cmdPull(int argc, char **argv);
int cmdImport(int argc, char **argv);
int cmdList(int argc, char **argv);
int cmdVerify(int argc, char **argv);
int cmdFetch(int argc, char **argv);
int cmdServe(int argc, char **argv);
int cmdAgent(int argc, char **argv);
int cmdStatus(int argc, char **argv);
int cmdStorage(int argc, char **argv);
int cmdPrune(int argc, char **argv);
int cmdRecover(int argc, char **argv);
int cmdRestore(int argc, char **argv);
int cmdLog(int argc, char **argv);
int cmdBackup(int argc, char **argv);
int cmdUpgrade(int argc, char **argv);

/* Parse a command's options (common/opt.h) from argv, the process's environment and --config.
 * Returns true when the command goes on; false when it must return *exitCode: 0 after --help,
 * the error's exit code (64 usage, 78 config) after printing "binvault: <why>". */
bool cmdOptions(const OptSet *set, void *target, int argc, char **argv, char ***args, int *nargs, int *exitCode);

/* The options of every command that opens an archive: --archive (at offset A of the command's
 * struct) and the storageNewOpts() settings (F(member) is the offset of a StorageOptions member
 * of the same name), with the environment variables that may give them. CMD_STORAGE_HELP says
 * what the table cannot (credentials); it ends the `about` of these commands. */
extern const char *const cmdArchiveSchemes[];
/* The schemes of server URLs (OPT_URL), log levels and log formats (OPT_ENUM). */
extern const char *const cmdMysqlSchemes[];
extern const char *const cmdLogLevels[];
extern const char *const cmdLogFormats[];
extern const char *const cmdS3UriStyles[];
#define CMD_ARCHIVE_OPTDEFS(A, F)                                                                                  \
    {"archive", OPT_URL, NULL, 0, 0, OPT_REQUIRED, (A), NULL,                                                      \
     "the archive: a directory (file:///path or a path) or s3://bucket/prefix", cmdArchiveSchemes, NULL},          \
        {"s3-endpoint", OPT_STRING, NULL, 0, 0, 0, F(s3Endpoint), "AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL",           \
         "S3 endpoint URL (default: AWS for the region); plain http only when it says http://", NULL, NULL},       \
        {"s3-region", OPT_STRING, NULL, 0, 0, 0, F(s3Region), "AWS_REGION AWS_DEFAULT_REGION",                      \
         "S3 region (default us-east-1)", NULL, NULL},                                                              \
        {"s3-ca-file", OPT_STRING, NULL, 0, 0, 0, F(s3CaFile), "BINVAULT_S3_CA_FILE AWS_CA_BUNDLE",                 \
         "CA certificates (PEM) to verify the S3 endpoint with, instead of the system's", NULL, NULL},             \
        {"s3-uri-style", OPT_ENUM, NULL, 0, 0, 0, F(s3UriStyle), "BINVAULT_S3_URI_STYLE",                           \
         "path or host (virtual-host) addressing; default host for AWS, path otherwise", cmdS3UriStyles, NULL},    \
        {"key-file", OPT_STRING, NULL, 0, 0, 0, F(keyFile), "BINVAULT_KEY_FILE",                                    \
         "encryption key (32 raw bytes) or passphrase file, mode 0600, of an encrypted archive", NULL, NULL},      \
        {"encrypt", OPT_BOOL, NULL, 0, 0, 0, F(encrypt), "BINVAULT_ENCRYPT",                                        \
         "create a new archive encrypted (AES-256-GCM) with --key-file; an existing archive keeps its mode", NULL, \
         NULL},                                                                                                     \
        {"s3-access-key-id", OPT_STRING, NULL, 0, 0, OPT_SECRET, F(s3AccessKeyId), "AWS_ACCESS_KEY_ID",            \
         "S3 access key id (environment or a 0600 config file only)", NULL, NULL},                                 \
        {"s3-secret-access-key", OPT_STRING, NULL, 0, 0, OPT_SECRET, F(s3SecretAccessKey), "AWS_SECRET_ACCESS_KEY", \
         "S3 secret access key (environment or a 0600 config file only)", NULL, NULL},                             \
        {"s3-session-token", OPT_STRING, NULL, 0, 0, OPT_SECRET, F(s3SessionToken), "AWS_SESSION_TOKEN",           \
         "S3 session token of temporary credentials (environment or a 0600 config file only)", NULL, NULL},        \
        {"s3-credentials-file", OPT_STRING, NULL, 0, 0, 0, F(s3CredentialsFile), "BINVAULT_S3_CREDENTIALS_FILE",    \
         "a 0600 file of S3 credentials (AWS shared-credentials format), when no access key id is given", NULL,   \
         NULL},                                                                                                     \
        {"s3-profile", OPT_STRING, NULL, 0, 0, 0, F(s3Profile), "AWS_PROFILE",                                      \
         "the section of the credentials file (default: default)", NULL, NULL},                                    \
        {"s3-multipart-threshold", OPT_STRING, NULL, 0, 0, 0, F(s3MultipartThreshold),                              \
         "BINVAULT_S3_MULTIPART_THRESHOLD", "objects from this size on are uploaded in parts (default 64M)", NULL,  \
         NULL},                                                                                                     \
        {"s3-part-size", OPT_STRING, NULL, 0, 0, 0, F(s3PartSize), "BINVAULT_S3_PART_SIZE",                         \
         "size of the parts of a multipart upload (default 16M)", NULL, NULL},                                     \
        {"s3-stall-timeout", OPT_STRING, NULL, 0, 0, 0, F(s3StallTimeout), "BINVAULT_S3_STALL_TIMEOUT",              \
         "seconds without progress after which an S3 request is abandoned and retried", NULL, NULL},              \
        {"s3-list-page", OPT_STRING, NULL, 0, 0, 0, F(s3ListPage), "BINVAULT_S3_LIST_PAGE",                         \
         "keys per S3 listing request (1 to 1000)", NULL, NULL},                                                   \
        {"tmp-dir", OPT_STRING, NULL, 0, 0, 0, F(tmpDir), "TMPDIR",                                                 \
         "where the encrypted copy of a segment bound for S3 is written when it cannot be beside it", NULL, NULL}
#define CMD_STORAGE_HELP                                                                                           \
    "S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), a 0600 config\n"     \
    "file or the 0600 file BINVAULT_S3_CREDENTIALS_FILE, never the command line. Encrypted archives:\n"           \
    "--key-file FILE, a 0600 file holding 32 random bytes or a passphrase; --encrypt creates a new archive\n"      \
    "encrypted."

/* Print what the catalog load noticed outside the index (unexpected or unreadable objects, chunks
 * that disagree) as warnings on stderr: a reader goes on with what the index holds. */
void cmdCatalogWarn(const struct ArchiveCatalog *c);
/* The same for the problems an ArchiveView noticed when it opened. */
void cmdViewWarn(const struct ArchiveView *v);

/* OptParseFn of the GTID options: `text` must read as a MariaDB GTID position or a MySQL GTID set
 * (the flavour is the archive's, not known yet), else ERR_USAGE (exit 64): a mistyped GTID is a
 * usage error, not bad data in the archive. */
int cmdGtidCheck(const char *text, void *field, Err *err);

/* Open the archive at `url` with its key and the store's settings of `opts` (archiveKeyOpenStore()):
 * what every command that opens an archive calls. */
Storage *cmdOpenArchive(const char *url, const StorageOptions *opts, Err *err);

/* TLS to a MySQL/MariaDB server (the source): the options, F(member) being the offset of a CmdSsl
 * member of the same name in the command's struct, and what they give a connection. */
typedef struct CmdSsl {
    char *sslMode, *sslCa, *sslCert, *sslKey;
} CmdSsl;
#define CMD_SSL_OPTDEFS(F)                                                                                         \
    {"ssl-mode", OPT_STRING, NULL, 0, 0, 0, F(sslMode), NULL,                                                     \
     "TLS to the source: disabled, preferred, required, verify-ca or verify-identity", NULL, cmdCheckSslMode},    \
        {"ssl-ca", OPT_STRING, NULL, 0, 0, 0, F(sslCa), NULL, "CA certificate (PEM) that verifies the source (verify modes)", \
         NULL, NULL},                                                                                              \
        {"ssl-cert", OPT_STRING, NULL, 0, 0, 0, F(sslCert), NULL, "client certificate (PEM) for the source", NULL, NULL}, \
        {"ssl-key", OPT_STRING, NULL, 0, 0, 0, F(sslKey), NULL, "client key (PEM) for the source", NULL, NULL}
/* An OptParseFn checking a --ssl-mode value with sqlSslModeParse(). */
int cmdCheckSslMode(const char *text, void *field, Err *err);
/* Fill the TLS members of a connection's options; -1 on a bad mode. */
struct SqlConnOpts;
int cmdSslApply(const CmdSsl *ssl, struct SqlConnOpts *opts, Err *err);

/* A commit time in microseconds as "YYYY-MM-DD HH:MM:SS UTC" ("-" for 0). */
void cmdFormatTime(uint64_t us, char *out, size_t size);
/* The same in the zone of --timezone, with the zone's name (microseconds when there are any). */
struct TimeZone;
void cmdShowTime(uint64_t us, const struct TimeZone *tz, char *out, size_t size);

/* The target of recover and restore: exactly one of --until-time, --until-gtid, --until-position,
 * --until-end, with --exclusive (not with --until-end) and --allow-time-disorder (with --until-time
 * only). ERR_USAGE naming the mistake. */
struct RecoverTarget;
struct BinlogPos;
int cmdRecoverTarget(const OptTime *untilTime, const char *untilGtid, const struct BinlogPos *untilPosition,
                     bool untilEnd, bool exclusive, bool allowTimeDisorder, struct RecoverTarget *t, Err *err);

/* The newest prune record of a catalog, for list and verify: a "pruned: ..." line (nothing when
 * the archive was never pruned), or ',"pruned":{...}' (null) appended to a JSON document. */
struct Buf;
void cmdPrintPrune(const struct ArchiveCatalog *c);
void cmdPruneJson(const struct ArchiveCatalog *c, struct Buf *out);

/* Print "binvault: <msg>" for a failed command, and return the exit code of the error. */
int cmdFail(const Err *err);

#endif
