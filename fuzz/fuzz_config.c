/*
 * libFuzzer target for common/opt.h: the INI config file (optParseConfigText, what --config FILE
 * reads), command lines (optParse; arguments split at NUL bytes, --config and --help left out so
 * that no file is read and nothing printed; a fixed environment), and the size, duration, time and
 * position value parsers, with a table holding every option type, ranges, a secret, a repeatable
 * and a required option.
 * The first byte picks the parser; the rest is its input.
 * Seeds: fuzz/seeds-config/ (config files as the README documents them).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binlog/pos.h"
#include "common/mem.h"
#include "common/opt.h"
#include "common/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct FuzzConfig {
    char *source, *password, *archive;
    const char *logLevel;
    int64_t serverId, segmentSize, intervalMs, workers, anything;
    bool flag;
    OptTime since;
    TimeZone tz;
    OptHostPort listen;
    BinlogPos position;
    OptList dirs;
} FuzzConfig;

static const char *const fuzzLevels[] = {"error", "warn", "info", NULL};
static const char *const fuzzSchemes[] = {"mysql", "file", "", NULL};
static char *fuzzEnv[] = {"BV_FUZZ_LEVEL=warn", "BV_FUZZ_DIR=/a", NULL};

#define F(field) offsetof(FuzzConfig, field)

static const OptDef fuzzOpts[] = {
    {"source", OPT_URL, NULL, 0, 0, OPT_REQUIRED, F(source), NULL, "the primary", fuzzSchemes, NULL},
    {"source-password", OPT_STRING, NULL, 0, 0, OPT_SECRET, F(password), NULL, "password", NULL, NULL},
    {"archive", OPT_STRING, "file:///tmp/x", 0, 0, 0, F(archive), NULL, "archive", NULL, NULL},
    {"log-level", OPT_ENUM, "info", 0, 0, 0, F(logLevel), "BV_FUZZ_LEVEL", "level", fuzzLevels, NULL},
    {"server-id", OPT_INT, "4123456789", 1, 4294967295LL, 0, F(serverId), NULL, "server id", NULL, NULL},
    {"segment-size", OPT_SIZE, "64M", 64 * 1024, 4096LL * 1024 * 1024, 0, F(segmentSize), NULL, "size", NULL, NULL},
    {"segment-interval", OPT_DURATION, "10s", 100, 86400000LL, 0, F(intervalMs), NULL, "interval", NULL, NULL},
    {"upload-workers", OPT_INT, "4", 1, 64, 0, F(workers), NULL, "workers", NULL, NULL},
    {"anything", OPT_SIZE, NULL, 0, 0, 0, F(anything), NULL, "an unchecked size", NULL, NULL},
    {"flag", OPT_BOOL, NULL, 0, 0, 0, F(flag), NULL, "a flag", NULL, NULL},
    {"since", OPT_TIME, NULL, 0, 0, 0, F(since), NULL, "a time", NULL, NULL},
    {"timezone", OPT_TIMEZONE, "UTC", 0, 0, 0, F(tz), NULL, "a zone", NULL, NULL},
    {"listen", OPT_HOSTPORT, "127.0.0.1:0", 0, 0, 0, F(listen), NULL, "an address", NULL, NULL},
    {"position", OPT_POSITION, NULL, 0, 0, 0, F(position), NULL, "a position", NULL, binlogPosOptParse},
    {"dir", OPT_STRING, NULL, 0, 0, OPT_REPEAT, F(dirs), "BV_FUZZ_DIR", "directories", NULL, NULL},
};

static const OptSet fuzzSet = {
    "agent", "binvault agent [options] [FILE]", NULL, fuzzOpts, sizeof(fuzzOpts) / sizeof(fuzzOpts[0]), "FILE", 0, 1,
};

static void
checkRanges(const FuzzConfig *c) {
    /* Whatever was accepted is within its declared range. */
    if (c->serverId < 1 || c->serverId > 4294967295LL || c->segmentSize < 64 * 1024 ||
        c->segmentSize > 4096LL * 1024 * 1024 || c->intervalMs < 100 || c->intervalMs > 86400000LL || c->workers < 1 ||
        c->workers > 64 || c->anything < 0)
        abort();
}

static void
fuzzText(const uint8_t *p, size_t len) {
    FuzzConfig c = {0};
    bool seen[sizeof(fuzzOpts) / sizeof(fuzzOpts[0])] = {0}, secret;
    Buf *out = bufNew(256);
    Err err;

    c.serverId = 1;
    c.segmentSize = 64 * 1024;
    c.intervalMs = 100;
    c.workers = 1;
    if (optParseConfigText(&fuzzSet, &c, (const char *)p, len, "fuzz.conf", seen, &secret, &err) == 0) {
        checkRanges(&c);
        optDescribe(&fuzzSet, &c, out);
    }
    optFree(&fuzzSet, &c);
    bufFree(out);
}

static void
fuzzArgv(const uint8_t *p, size_t len) {
    FuzzConfig c = {0};
    char *copy = bvMalloc(len + 1), **argv = bvCalloc(len + 2, sizeof(char *)), **positional = NULL;
    int argc = 0, npos = 0;
    Err err;

    memcpy(copy, p, len);
    copy[len] = '\0';
    argv[argc++] = "agent";
    for (size_t i = 0; i <= len;) {
        char *arg = copy + i;
        size_t n = strlen(arg);

        if (strncmp(arg, "--config", 8) != 0 && strcmp(arg, "--help") != 0 && strcmp(arg, "-h") != 0)
            argv[argc++] = arg;
        i += n + 1;
    }
    if (optParse(&fuzzSet, &c, argc, argv, fuzzEnv, &positional, &npos, &err) == 0) {
        checkRanges(&c);
        if (c.source == NULL || c.logLevel == NULL || c.listen.host == NULL || npos > 1)
            abort();
    }
    bvFree(positional);
    optFree(&fuzzSet, &c);
    bvFree(argv);
    bvFree(copy);
}

static void
fuzzValues(const uint8_t *p, size_t len) {
    char *text = bvStrndup((const char *)p, len);
    int64_t v;

    if (optParseSize(text, &v) == 0 && v < 0)
        abort();
    if (optParseDuration(text, &v) == 0 && v < 0)
        abort();
    {
        BinlogPos pos;
        uint64_t us;
        Err err;

        if (binlogPosParse(text, len % 2, &pos, &err) == 0 && !binlogFileNameValid(pos.file))
            abort();
        if (timeParse(text, NULL, &us, &err) == 0 && us > (uint64_t)INT64_MAX)
            abort();
    }
    bvFree(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0: fuzzText(data + 1, size - 1); break;
    case 1: fuzzArgv(data + 1, size - 1); break;
    default: fuzzValues(data + 1, size - 1); break;
    }
    return 0;
}
