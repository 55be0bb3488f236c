/*
 * Subcommands. Each takes the arguments after its name (argv[0] is the subcommand) and returns
 * the process exit code. They parse options, call into the modules and print results; the
 * logic lives in the modules.
 */
#ifndef BV_CMD_CMD_H
#define BV_CMD_CMD_H

#include "common/err.h"

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
int cmdStorage(int argc, char **argv);

/* Print "binvault: <msg>" for a failed command, and return the exit code of the error. */
int cmdFail(const Err *err);

#endif
