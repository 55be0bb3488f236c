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
int cmdLog(int argc, char **argv);

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
         NULL}
#define CMD_STORAGE_HELP                                                                                           \
    "S3 credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) or the 0600 file\n"   \
    "BINVAULT_S3_CREDENTIALS_FILE, never the command line. Encrypted archives: --key-file FILE, a 0600 file\n"      \
    "holding 32 random bytes or a passphrase; --encrypt creates a new archive encrypted."

/* Open the archive at `url` with its key (archiveKeyOpenStore()), the store's settings of `opts`
 * completed from the environment where the option table does not declare them (the S3
 * credentials and tuning: cmdStorageOptionsFromEnv()). Every command that opens an archive uses it. */
Storage *cmdOpenArchive(const char *url, const StorageOptions *opts, Err *err);

/* Fill the S3 settings of `opts` left NULL from the environment (the variables storage/storage.h
 * names for each; an empty variable counts as unset). The strings point into the environment. */
void cmdStorageOptionsFromEnv(StorageOptions *opts);

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

/* The newest prune record of a catalog, for list and verify: a "pruned: ..." line (nothing when
 * the archive was never pruned), or ',"pruned":{...}' (null) appended to a JSON document. */
struct ArchiveCatalog;
struct Buf;
void cmdPrintPrune(const struct ArchiveCatalog *c);
void cmdPruneJson(const struct ArchiveCatalog *c, struct Buf *out);

/* Print "binvault: <msg>" for a failed command, and return the exit code of the error. */
int cmdFail(const Err *err);

#endif
