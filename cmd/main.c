/* binvault: continuous binlog archiving and point-in-time recovery for MySQL and MariaDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "common/log.h"
#include "common/version.h"

static const CmdDef commands[] = {
    {"agent", cmdAgent, "stream a server's binlogs into an archive, continuously"},
    {"status", cmdStatus, "how much is not archived yet (RPO), with monitoring exit codes"},
    {"inspect", cmdInspect, "read binlog files: events, transactions, checksums"},
    {"pull", cmdPull, "copy a server's binlogs as raw files over the replication protocol"},
    {"import", cmdImport, "archive existing binlog files into an archive, as the agent would"},
    {"backup", cmdBackup, "take a base backup (mariadb-backup / xtrabackup) straight into the archive"},
    {"list", cmdList, "list an archive's segments, its gaps and its restorable window"},
    {"verify", cmdVerify, "re-read and re-hash every segment of an archive and check its continuity"},
    {"fetch", cmdFetch, "write an archived range back out as ordinary binlog files"},
    {"prune", cmdPrune, "delete the oldest segments no kept base backup needs (retention)"},
    {"upgrade", cmdUpgrade, "upgrade a format-1 archive to format 2 in place (catalog summaries, timelines)"},
    {"recover", cmdRecover, "bring a server restored from a base backup to a point in time, from the archive"},
    {"restore", cmdRestore, "make a data directory at a point in time from the archive's backup and binlogs"},
    {"log", cmdLog, "list archived transactions (GTID, time, position, tables, statement) to find a target"},
    {"serve-binlogs", cmdServe, "debugging: serve binlog files to a MariaDB replica (replication protocol)"},
    {"storage", cmdStorage, "debugging: put, get, head, list and remove the objects of an archive's store"},
};

static void
usage(FILE *out) {
    fprintf(out, "binvault %s - continuous binlog archiving and point-in-time recovery\n\n", BV_VERSION);
    fprintf(out, "usage: binvault COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'binvault COMMAND --help' describes a command's options.\n");
}

/* BINVAULT_LOG_LEVEL, for every command: those without --log-level (list, status, fetch...) log
 * what their store does at debug (an S3 store, each request: what a test counts); for those with
 * it, the option's environment variable too, and --log-level wins. -1 when it is not a level. */
static int
logLevelFromEnv(void) {
    const char *env = getenv("BINVAULT_LOG_LEVEL");
    LogLevel level;

    if (env == NULL || *env == '\0')
        return 0;
    if (logLevelParse(env, &level) != 0) {
        fprintf(stderr, "binvault: invalid BINVAULT_LOG_LEVEL '%s': expected error, warn, info, debug or trace\n", env);
        return -1;
    }
    logSetLevel(level);
    return 0;
}

int
main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 64;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("binvault %s\n", BV_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return logLevelFromEnv() != 0 ? 64 : commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "binvault: unknown command '%s'; 'binvault --help' lists the commands\n", argv[1]);
    return 64;
}
