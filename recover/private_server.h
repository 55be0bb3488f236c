/*
 * The helper processes of `binvault restore`: the external tools it runs (mbstream, mariadb-backup
 * --prepare) and the private MariaDB server it starts on the restored data directory to apply the
 * archived binlogs. Each child runs in its own process group, so that a Ctrl-C at the terminal
 * reaches binvault only: binvault decides how each child stops (a tool is terminated, the server
 * is shut down cleanly), and says in what state that leaves the directory.
 *
 * The private server runs with a configuration binvault writes into a private temporary directory
 * (mode 0700): the data directory, its socket, pid file and error log there, the source's
 * server_id, no binary log, no replica started at boot, no event scheduler, and skip-grant-tables
 * (the restored grant tables hold the source's accounts, whose passwords binvault does not know),
 * which is why it listens on nothing but that socket (skip-networking) in a directory only its
 * owner enters. Its outgoing connections (the replica thread to binvault's replication endpoint)
 * are not affected by skip-networking.
 *
 * Errors: ERR_IO for local files and processes, ERR_TARGET for a tool or server that failed (the
 * message holds the last lines of its log).
 */
#ifndef BV_RECOVER_PRIVATE_SERVER_H
#define BV_RECOVER_PRIVATE_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* ---- Tools ----------------------------------------------------------------------------------- */

typedef struct PrivateTool PrivateTool;

/* Run argv[0] (looked up in PATH) with argv, stdout and stderr appended to `logPath`, in its own
 * process group; with `pipeIn` its stdin is a pipe that privateToolStdin() writes to, else
 * /dev/null. ERR_IO when it cannot be started. */
PrivateTool *privateToolStart(const char *const *argv, bool pipeIn, const char *logPath, Err *err);
/* The write end of the tool's stdin (-1 without pipeIn, or once closed). */
int privateToolStdin(const PrivateTool *t);
/* Ask the tool to stop now (SIGTERM to its process group): what a Ctrl-C does to a tool. Safe
 * from a progress callback. */
void privateToolTerminate(PrivateTool *t);
/* Close its stdin, wait for it to exit (terminating it when *stop becomes true; stop may be
 * NULL), and free it. 0 when it exited with status 0; ERR_TARGET naming the tool, how it ended
 * and the last lines of its log otherwise. */
int privateToolFinish(PrivateTool *t, atomic_bool *stop, Err *err);

/* ---- The private server ---------------------------------------------------------------------- */

/* The relay log's base name on the private server: its relay log files (`NAME.000001`,
 * `NAME.index`) are the private server's own, to be removed before DIR is started by the user's
 * configuration, whose base name differs. */
#define PRIVATE_SERVER_RELAY_LOG "binvault-relay-bin"

typedef struct PrivateServerOptions {
    const char *datadir;         /* the prepared data directory (absolute) */
    const char *tmpDir;          /* where the private directory is made; NULL = /tmp */
    const char *user;            /* the server's --user (required when binvault runs as root) */
    uint32_t serverId;           /* the source's: a restored server keeps it */
    const char *extraConfig;     /* more [mariadbd] lines ("name=value\n"...), may be NULL */
    const char *errorLog;        /* its error log (appended to); NULL = in the private directory */
    unsigned startTimeoutMs;     /* 0 = 600 s (crash recovery of a large server takes long) */
    atomic_bool *stop;           /* a Ctrl-C while waiting for it to start; may be NULL */
} PrivateServerOptions;

typedef struct PrivateServer PrivateServer;

/* Write the configuration and start mariadbd; wait until it accepts connections on its socket.
 * ERR_TARGET (with the last lines of its error log) when it exits or does not answer in time.
 * When *stop becomes true meanwhile, it is still waited for and then shut down cleanly (a
 * mariadbd signalled before it answers can hang in its start-up): ERR_TARGET "interrupted". */
PrivateServer *privateServerStart(const PrivateServerOptions *o, Err *err);
/* The server's unix socket. */
const char *privateServerSocket(const PrivateServer *s);
/* Shut it down cleanly (SIGTERM, which mariadbd handles as SHUTDOWN: InnoDB flushes and closes)
 * and wait until it has exited, up to timeoutMs (0 = 600 s). ERR_TARGET when it did not exit
 * cleanly in time, or never answered: it is then killed, and the data directory needs crash
 * recovery at its next start. */
int privateServerStop(PrivateServer *s, unsigned timeoutMs, Err *err);
/* Free: a server still running is shut down as privateServerStop() does; the private directory
 * is removed. NULL is a no-op. */
void privateServerFree(PrivateServer *s);

/* ---- Pure helpers (unit-tested) ------------------------------------------------------------- */

/* The [mariadbd] lines of a backup's backup-my.cnf that the server needs to read that data
 * directory (innodb_page_size, innodb_data_file_path, innodb_undo_tablespaces,
 * innodb_checksum_algorithm, innodb_log_file_size); nothing else of the file is used (it comes
 * from the archive: a plugin-load or init-file line in it is never passed on). Lines whose value
 * holds anything but [A-Za-z0-9_:;.+-] are skipped. Allocated ("" when none). */
char *privateServerBackupConfig(const char *text, size_t len);

#endif
