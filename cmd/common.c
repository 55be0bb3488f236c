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
    case CMD_OPT_KEY_FILE: opts->keyFile = arg; return true;
    case CMD_OPT_ENCRYPT: opts->encrypt = true; return true;
    default: return false;
    }
}

bool
cmdArchiveArgs(const char *cmd, const char *url, int argc, char **argv, int min, int max, const char *what) {
    int n = argc - optind;

    if (url == NULL)
        fprintf(stderr, "binvault %s: missing --archive URL (a directory, file:///path, or s3://bucket/prefix)\n", cmd);
    else if (n < min)
        fprintf(stderr, "binvault %s: missing %s\n", cmd, what);
    else if (n > max)
        fprintf(stderr, "binvault %s: unexpected argument '%s'\n", cmd, argv[optind + max]);
    else
        return true;
    return false;
}
