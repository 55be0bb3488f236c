#include <stdio.h>

#include "cmd/cmd.h"

int
cmdFail(const Err *err) {
    fprintf(stderr, "binvault: %s\n", err->msg);
    return errExitCode(err->code);
}
