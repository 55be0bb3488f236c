/*
 * Subcommands. Each takes the arguments after its name (argv[0] is the subcommand) and returns
 * the process exit code. They parse options, call into the modules and print results; the
 * logic lives in the modules.
 */
#ifndef BV_CMD_CMD_H
#define BV_CMD_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
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

/* getopt_long options shared by every command that opens an archive (S3 settings, encryption
 * key), and their handler: true when `c` was one of them. */
#define CMD_OPT_S3_ENDPOINT 0x1001
#define CMD_OPT_KEY_FILE (CMD_OPT_S3_ENDPOINT + 4)
#define CMD_OPT_ENCRYPT (CMD_OPT_S3_ENDPOINT + 5)
#define CMD_STORAGE_LONG_OPTIONS                                                                   \
    {"s3-endpoint", required_argument, NULL, CMD_OPT_S3_ENDPOINT},                                \
        {"s3-region", required_argument, NULL, CMD_OPT_S3_ENDPOINT + 1},                          \
        {"s3-ca-file", required_argument, NULL, CMD_OPT_S3_ENDPOINT + 2},                         \
        {"s3-uri-style", required_argument, NULL, CMD_OPT_S3_ENDPOINT + 3},                       \
        {"key-file", required_argument, NULL, CMD_OPT_KEY_FILE},                                  \
        {"encrypt", no_argument, NULL, CMD_OPT_ENCRYPT}
#define CMD_STORAGE_HELP                                                                           \
    "S3 archives (s3://bucket/prefix): --s3-endpoint URL, --s3-region R, --s3-ca-file PEM,\n"        \
    "--s3-uri-style path|host; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\n"          \
    "(/ AWS_SESSION_TOKEN) or the 0600 file BINVAULT_S3_CREDENTIALS_FILE, never the command line.\n" \
    "Encrypted archives: --key-file FILE (or BINVAULT_KEY_FILE), a 0600 file holding 32 random\n"    \
    "bytes or a passphrase; --encrypt (or BINVAULT_ENCRYPT=1) creates a new archive encrypted.\n"
bool cmdStorageOption(int c, const char *arg, StorageOptions *opts);

/* Fill the S3 settings of `opts` the command line left NULL from the environment (the variables
 * storage/storage.h names for each; an empty variable counts as unset): the one place binvault
 * reads the store's environment. The strings point into the environment. */
void cmdStorageOptionsFromEnv(StorageOptions *opts);

/* After getopt_long(): check that an archive command was given --archive (`url`) and between
 * `min` and `max` arguments after the options (`what` names them, e.g. "FILE..."). Prints what is
 * wrong as "binvault CMD: ..." and returns false; the caller prints its usage and exits 64. */
bool cmdArchiveArgs(const char *cmd, const char *url, int argc, char **argv, int min, int max, const char *what);

/* getopt_long options for TLS to a MySQL/MariaDB server (the source), and their handler. */
typedef struct CmdSsl {
    const char *mode, *ca, *cert, *key;
} CmdSsl;
#define CMD_OPT_SSL_MODE 0x1101
#define CMD_SSL_LONG_OPTIONS                                                                       \
    {"ssl-mode", required_argument, NULL, CMD_OPT_SSL_MODE},                                      \
        {"ssl-ca", required_argument, NULL, CMD_OPT_SSL_MODE + 1},                                \
        {"ssl-cert", required_argument, NULL, CMD_OPT_SSL_MODE + 2},                              \
        {"ssl-key", required_argument, NULL, CMD_OPT_SSL_MODE + 3}
#define CMD_SSL_HELP                                                                               \
    "TLS to the server: --ssl-mode disabled|preferred|required|verify-ca|verify-identity,\n"          \
    "--ssl-ca PEM (verify modes), --ssl-cert PEM and --ssl-key PEM (client certificate).\n"
bool cmdSslOption(int c, const char *arg, CmdSsl *ssl);
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
