#include <stdio.h>

#include "cmd/cmd.h"

int
cmdFail(const Err *err) {
    fprintf(stderr, "binvault: %s\n", err->msg);
    return errExitCode(err->code);
}

bool
cmdStorageOption(int c, const char *arg, StorageOptions *opts) {
    switch (c) {
    case CMD_OPT_S3_ENDPOINT: opts->s3Endpoint = arg; return true;
    case CMD_OPT_S3_ENDPOINT + 1: opts->s3Region = arg; return true;
    case CMD_OPT_S3_ENDPOINT + 2: opts->s3CaFile = arg; return true;
    case CMD_OPT_S3_ENDPOINT + 3: opts->s3UriStyle = arg; return true;
    default: return false;
    }
}
