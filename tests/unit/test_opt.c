/* Unit tests of the option table (common/opt.h) and of the value parsers it uses: times
 * (common/time.h), FILE:POS (binlog/pos.h) and HOST:PORT (common/url.h). */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binlog/pos.h"
#include "common/mem.h"
#include "common/opt.h"
#include "common/time.h"
#include "common/url.h"
#include "tests/test.h"

typedef struct TestOpts {
    char *name, *password, *url;
    int64_t count, size, delayMs;
    bool flag;
    const char *level;
    OptTime when;
    TimeZone tz;
    OptHostPort listen;
    BinlogPos position;
    OptList dirs;
} TestOpts;

#define O(field) offsetof(TestOpts, field)

static const char *const testLevels[] = {"low", "high", NULL};
static const char *const testSchemes[] = {"mysql", "s3", "", NULL};

static const OptDef testDefs[] = {
    {"name", OPT_STRING, "dflt", 0, 0, 0, O(name), "TEST_NAME", "a name", NULL, NULL},
    {"password", OPT_STRING, NULL, 0, 0, OPT_SECRET | OPT_EMPTY, O(password), "TEST_PASSWORD", "a secret", NULL, NULL},
    {"url", OPT_URL, NULL, 0, 0, 0, O(url), NULL, "a URL", testSchemes, NULL},
    {"count", OPT_INT, "3", 1, 10, 0, O(count), "TEST_COUNT_A TEST_COUNT_B", "a count", NULL, NULL},
    {"size", OPT_SIZE, "1K", 0, 0, 0, O(size), NULL, "a size", NULL, NULL},
    {"delay", OPT_DURATION, "2s", 0, 120000, 0, O(delayMs), NULL, "a delay", NULL, NULL},
    {"flag", OPT_BOOL, NULL, 0, 0, 0, O(flag), NULL, "a flag", NULL, NULL},
    {"level", OPT_ENUM, "low", 0, 0, 0, O(level), NULL, "a level", testLevels, NULL},
    {"when", OPT_TIME, NULL, 0, 0, 0, O(when), NULL, "a time", NULL, NULL},
    {"timezone", OPT_TIMEZONE, "UTC", 0, 0, 0, O(tz), NULL, "a zone", NULL, NULL},
    {"listen", OPT_HOSTPORT, "127.0.0.1:0", 0, 0, 0, O(listen), NULL, "an address", NULL, NULL},
    {"position", OPT_POSITION, NULL, 0, 0, 0, O(position), NULL, "a position", NULL, binlogPosOptParse},
    {"dir", OPT_STRING, NULL, 0, 0, OPT_REPEAT, O(dirs), "TEST_DIR", "directories", NULL, NULL},
};

static const OptSet testSet = {
    "test", "binvault test [options] [FILE...]", "About the test command.", testDefs,
    sizeof(testDefs) / sizeof(testDefs[0]), "FILE...", 0, 2,
};

/* Parse the NULL-terminated argument list (after the command name) with the environment env. */
static int
parse(TestOpts *o, char *const *env, Err *err, ...) {
    char *argv[32] = {"test"};
    int argc = 1, rc;
    va_list ap;
    const char *arg;

    memset(o, 0, sizeof(*o));
    va_start(ap, err);
    while ((arg = va_arg(ap, const char *)) != NULL && argc < 31)
        argv[argc++] = (char *)arg;
    va_end(ap);
    rc = optParse(&testSet, o, argc, argv, env, NULL, NULL, err);
    return rc;
}

static char *
writeConfig(const char *name, const char *text, mode_t mode) {
    char *path = bvSprintf("%s/%s", testTmpDir(), name);
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        testFail(__FILE__, __LINE__, "unable to write '%s'", path);
        return path;
    }
    fputs(text, f);
    fclose(f);
    CHECK(chmod(path, mode) == 0);
    return path;
}

static void
testDefaults(void) {
    TestOpts o;
    Err err;

    REQUIRE(parse(&o, NULL, &err, NULL) == 0);
    CHECK_STR(o.name, "dflt");
    CHECK_INT(o.count, 3);
    CHECK_INT(o.size, 1024);
    CHECK_INT(o.delayMs, 2000);
    CHECK(!o.flag);
    CHECK_STR(o.level, "low");
    CHECK(o.when.text == NULL);
    CHECK_INT(o.tz.kind, TIME_ZONE_UTC);
    CHECK_STR(o.listen.host, "127.0.0.1");
    CHECK_INT(o.listen.port, 0);
    CHECK_STR(o.position.file, "");
    CHECK_INT(o.dirs.count, 0);
    CHECK(o.password == NULL && o.url == NULL);
    optFree(&testSet, &o);
}

static void
testNumericTypes(void) {
    TestOpts o;
    Err err;

    REQUIRE(parse(&o, NULL, &err, "--count", "10", "--size=64M", "--delay", "1.5m", "--flag", NULL) == 0);
    CHECK_INT(o.count, 10);
    CHECK_INT(o.size, 64LL << 20);
    CHECK_INT(o.delayMs, 90000);
    CHECK(o.flag);
    optFree(&testSet, &o);
    REQUIRE(parse(&o, NULL, &err, "--flag=false", "--delay", "250ms", NULL) == 0);
    CHECK(!o.flag);
    CHECK_INT(o.delayMs, 250);
    optFree(&testSet, &o);

    CHECK(parse(&o, NULL, &err, "--count", "11", NULL) == -1);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "out of range: 1 to 10");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--count", "0", NULL) == -1);
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--count", "3x", NULL) == -1);
    CHECK_MSG(err.msg, "expected an integer");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--size", "-1K", NULL) == -1);
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--size", "12Q", NULL) == -1);
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--delay", "3m", NULL) == -1);
    CHECK_MSG(err.msg, "out of range: 0 to 120000 ms");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--flag=maybe", NULL) == -1);
    CHECK_MSG(err.msg, "expected true or false");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--count", NULL) == -1);
    CHECK_MSG(err.msg, "'--count' needs a value");
    optFree(&testSet, &o);
}

static void
testTextTypes(void) {
    TestOpts o;
    Err err;

    REQUIRE(parse(&o, NULL, &err, "--level", "high", "--url", "mysql://repl@db:3307", "--listen", "[::1]:9180",
                  "--position", "mariadb-bin.000003:256", NULL) == 0);
    CHECK_STR(o.level, "high");
    CHECK_STR(o.url, "mysql://repl@db:3307");
    CHECK_STR(o.listen.host, "::1");
    CHECK_INT(o.listen.port, 9180);
    CHECK_STR(o.position.file, "mariadb-bin.000003");
    CHECK_INT(o.position.pos, 256);
    optFree(&testSet, &o);
    REQUIRE(parse(&o, NULL, &err, "--url", "s3://bucket/x", NULL) == 0);
    optFree(&testSet, &o);
    REQUIRE(parse(&o, NULL, &err, "--url", "/var/lib/archive", NULL) == 0);
    CHECK_STR(o.url, "/var/lib/archive");
    optFree(&testSet, &o);

    CHECK(parse(&o, NULL, &err, "--level", "medium", NULL) == -1);
    CHECK_MSG(err.msg, "expected low or high");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--url", "ftp://x/y", NULL) == -1);
    CHECK_MSG(err.msg, "expected a URL of scheme mysql, s3 or a path");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--url", "mysql://u:pw@h", NULL) == -1);
    CHECK_MSG(err.msg, "must not contain a password");
    CHECK(strstr(err.msg, "pw") == NULL);
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--listen", "::1:80", NULL) == -1);
    CHECK_MSG(err.msg, "--listen");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--listen", "h:65536", NULL) == -1);
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--position", "bin.000001", NULL) == -1);
    CHECK_MSG(err.msg, "--position (command line): invalid position 'bin.000001': expected FILE:POS");
    optFree(&testSet, &o);
}

static void
testTimesInTheZoneOption(void) {
    TestOpts o;
    Err err;

    REQUIRE(parse(&o, NULL, &err, "--when", "2026-11-21 14:02:59", NULL) == 0);
    CHECK_STR(o.when.text, "2026-11-21 14:02:59");
    CHECK(o.when.us == 1795269779000000ull);
    optFree(&testSet, &o);
    /* The zone applies whatever the order of the options. */
    REQUIRE(parse(&o, NULL, &err, "--when", "2026-11-21 16:02:59", "--timezone", "+02:00", NULL) == 0);
    CHECK(o.when.us == 1795269779000000ull);
    CHECK_STR(o.tz.name, "+02:00");
    optFree(&testSet, &o);
    /* ...but not to a time that says Z. */
    REQUIRE(parse(&o, NULL, &err, "--timezone", "+02:00", "--when", "2026-11-21T14:02:59Z", NULL) == 0);
    CHECK(o.when.us == 1795269779000000ull);
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--when", "yesterday", NULL) == -1);
    CHECK_MSG(err.msg, "--when (command line): invalid time 'yesterday'");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--timezone", "+25:00", NULL) == -1);
    CHECK_MSG(err.msg, "invalid time zone '+25:00'");
    optFree(&testSet, &o);
    /* Valid in UTC, before 1970 in the zone given. */
    CHECK(parse(&o, NULL, &err, "--when", "1970-01-01 00:30:00", "--timezone", "+01:00", NULL) == -1);
    CHECK_MSG(err.msg, "before 1970");
    optFree(&testSet, &o);
}

static void
testTimeForms(void) {
    TimeZone utc, tz;
    uint64_t us;
    char out[64];
    Err err;

    REQUIRE(timeZoneParse(NULL, NULL, &utc, &err) == 0);
    CHECK_STR(utc.name, "UTC");
    /* Every form the commands accepted before: prune's UTC forms, recover's and log's. */
    REQUIRE(timeParse("2026-11-21T04:30:00Z", &utc, &us, &err) == 0);
    CHECK(us == 1795235400000000ull);
    REQUIRE(timeParse("2026-11-21T04:30:00", &utc, &us, &err) == 0);
    CHECK(us == 1795235400000000ull);
    REQUIRE(timeParse("2026-11-21 04:30:00", NULL, &us, &err) == 0);
    CHECK(us == 1795235400000000ull);
    REQUIRE(timeParse("2026-11-21", &utc, &us, &err) == 0);
    CHECK(us == 1795219200000000ull);
    REQUIRE(timeParse("2026-11-21 14:02:59.5", &utc, &us, &err) == 0);
    CHECK(us == 1795269779500000ull);
    REQUIRE(timeParse("2026-11-21 14:02:59.000001", &utc, &us, &err) == 0);
    CHECK(us == 1795269779000001ull);
    REQUIRE(timeZoneParse("-0530", NULL, &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, -19800);
    REQUIRE(timeParse("2026-11-21", &tz, &us, &err) == 0);
    CHECK(us == 1795219200000000ull + 19800000000ull);
    REQUIRE(timeZoneParse("+02", NULL, &tz, &err) == 0);
    CHECK_INT(tz.offsetSeconds, 7200);
    timeFormat(1795269779500000ull, &tz, true, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 16:02:59.500000");
    timeFormat(1795269779500000ull, NULL, false, out, sizeof(out));
    CHECK_STR(out, "2026-11-21 14:02:59");
    if (access("/usr/share/zoneinfo/Europe/Paris", R_OK) == 0) {
        REQUIRE(timeZoneParse("Europe/Paris", NULL, &tz, &err) == 0);
        REQUIRE(timeParse("2026-07-01 14:00:00", &tz, &us, &err) == 0);
        CHECK(us == 1782907200000000ull); /* CEST, UTC+2 */
        REQUIRE(timeParse("2026-11-21 15:02:59", &tz, &us, &err) == 0);
        CHECK(us == 1795269779000000ull); /* CET, UTC+1 */
    }
    CHECK(timeZoneParse("Mars/Olympus", NULL, &tz, &err) != 0);
    CHECK(timeZoneParse("../etc/passwd", NULL, &tz, &err) != 0);

    CHECK(timeParse("2026-02-30 00:00:00", &utc, &us, &err) != 0);
    CHECK_MSG(err.msg, "no such date or time");
    CHECK(timeParse("2028-02-29", &utc, &us, &err) == 0);
    CHECK(timeParse("2026-11-21 24:00:00", &utc, &us, &err) != 0);
    CHECK(timeParse("2026-11-21 14:02:59.1234567", &utc, &us, &err) != 0);
    CHECK(timeParse("2026-11-21 14:02:59.", &utc, &us, &err) != 0);
    CHECK(timeParse("2026-11-21 14:02:59 UTC", &utc, &us, &err) != 0);
    CHECK(timeParse("2026-11-21 14:02", &utc, &us, &err) != 0);
    CHECK(timeParse("2026-1-21 14:02:59", &utc, &us, &err) != 0);
    CHECK(timeParse("1969-12-31 23:59:59", &utc, &us, &err) != 0);
    CHECK(timeParse("2026-11-21Z", &utc, &us, &err) != 0);
    CHECK_MSG(err.msg, "expected 'YYYY-MM-DD HH:MM:SS[.ffffff]' as '2026-11-21 04:30:00', 2026-11-21T04:30:00Z (UTC) "
                       "or 2026-11-21");
}

static void
testPositionForms(void) {
    BinlogPos p;
    Err err;

    REQUIRE(binlogPosParse("mariadb-bin.000003:256", false, &p, &err) == 0);
    CHECK_STR(p.file, "mariadb-bin.000003");
    CHECK_INT(p.pos, 256);
    REQUIRE(binlogPosParse("mariadb-bin.000003", true, &p, &err) == 0);
    CHECK_INT(p.pos, 4);
    CHECK(binlogPosParse("mariadb-bin.000003", false, &p, &err) != 0);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK(binlogPosParse("mariadb-bin.000003:", false, &p, &err) != 0);
    CHECK(binlogPosParse(":256", false, &p, &err) != 0);
    CHECK(binlogPosParse("a/b:256", false, &p, &err) != 0);
    CHECK(binlogPosParse("bin.1:-5", false, &p, &err) != 0);
    CHECK(binlogPosParse("bin.1:5x", false, &p, &err) != 0);
    CHECK(binlogPosParse(".hidden:4", false, &p, &err) != 0);
    REQUIRE(binlogPosOptParseStart("bin.000001:4", &p, &err) == 0);
    CHECK(binlogPosOptParseStart("bin.000001:3", &p, &err) != 0);
    CHECK_MSG(err.msg, "POS must be 4 to 4294967295");
    CHECK(binlogPosOptParseStart("bin.000001:4294967296", NULL, &err) != 0);
    CHECK(binlogFileNameValid("mysql-bin.000001"));
    CHECK(!binlogFileNameValid("x.tmp.1"));
    CHECK(!binlogFileNameValid(""));
}

static void
testHostPortForms(void) {
    char *host = NULL;
    uint16_t port;
    Err err;

    REQUIRE(urlHostPortParse("127.0.0.1:0", "--listen", &host, &port, &err) == 0);
    CHECK_STR(host, "127.0.0.1");
    bvFree(host);
    REQUIRE(urlHostPortParse("[fe80::1]:3306", "--listen", &host, &port, &err) == 0);
    CHECK_STR(host, "fe80::1");
    CHECK_INT(port, 3306);
    bvFree(host);
    CHECK(urlHostPortParse("localhost", "--listen", &host, &port, &err) != 0);
    CHECK_MSG(err.msg, "invalid --listen 'localhost': expected ADDR:PORT");
    CHECK(urlHostPortParse("h:-1", "--listen", &host, &port, &err) != 0);
    CHECK(urlHostPortParse("[::1]80", "--listen", &host, &port, &err) != 0);
}

/* default < environment < config file < command line */
static void
testPrecedence(void) {
    char *env[] = {"TEST_NAME=from-env", "TEST_COUNT_B=5", "OTHER=x", NULL};
    char *both[] = {"TEST_COUNT_A=7", "TEST_COUNT_B=5", NULL};
    char *path = writeConfig("prec.conf",
                             "# comment\n[binvault]\nsize = 2K\nspool = /another/commands\n[other]\nname = not-mine\n[test]\n; comment\n"
                             "name = from-file\nlevel=high\n",
                             0644);
    TestOpts o;
    Err err;

    REQUIRE(parse(&o, env, &err, NULL) == 0);
    CHECK_STR(o.name, "from-env");
    CHECK_INT(o.count, 5); /* the second variable of the list */
    optFree(&testSet, &o);
    REQUIRE(parse(&o, both, &err, NULL) == 0);
    CHECK_INT(o.count, 7); /* the first set wins */
    optFree(&testSet, &o);
    REQUIRE(parse(&o, env, &err, "--config", path, NULL) == 0);
    CHECK_STR(o.name, "from-file");
    CHECK_STR(o.level, "high");
    CHECK_INT(o.size, 2048);
    CHECK_INT(o.count, 5);
    optFree(&testSet, &o);
    REQUIRE(parse(&o, env, &err, "--name", "from-argv", "--config", path, NULL) == 0);
    CHECK_STR(o.name, "from-argv");
    optFree(&testSet, &o);
    REQUIRE(parse(&o, env, &err, "--config=" "/nonexistent/binvault.conf", NULL) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    optFree(&testSet, &o);
    /* A directory, or a file over the limit, is a configuration error too (exit 78). */
    CHECK(parse(&o, NULL, &err, "--config", testTmpDir(), NULL) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "not a regular file");
    optFree(&testSet, &o);
    bvFree(path);
    {
        size_t bigLen = 2 * 1024 * 1024;
        char *big = bvMalloc(bigLen + 1);

        memset(big, '#', bigLen);
        big[bigLen] = '\0';
        path = writeConfig("big.conf", big, 0600);
        bvFree(big);
    }
    CHECK(parse(&o, NULL, &err, "--config", path, NULL) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "larger than the limit");
    optFree(&testSet, &o);
    bvFree(path);
    path = writeConfig("bad.conf", "[test]\nbogus = 1\n", 0600);
    CHECK(parse(&o, NULL, &err, "--config", path, NULL) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "line 2: unknown option 'bogus' for 'binvault test'");
    optFree(&testSet, &o);
    bvFree(path);
    path = writeConfig("badvalue.conf", "[binvault]\ncount = 99\n", 0600);
    CHECK(parse(&o, NULL, &err, "--config", path, NULL) == -1);
    CHECK_MSG(err.msg, "line 2");
    optFree(&testSet, &o);
    bvFree(path);
    CHECK(parse(&o, env, &err, "--bogus", NULL) == -1);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "unknown option '--bogus' for 'binvault test'");
    optFree(&testSet, &o);
    /* A bad value from the environment names the variable. */
    {
        char *badEnv[] = {"TEST_COUNT_A=lots", NULL};

        CHECK(parse(&o, badEnv, &err, NULL) == -1);
        CHECK_MSG(err.msg, "TEST_COUNT_A");
        optFree(&testSet, &o);
    }
}

static void
testRepeatable(void) {
    char *env[] = {"TEST_DIR=/env", NULL};
    char *path = writeConfig("dirs.conf", "[test]\ndir = /file1\ndir = /file2\n", 0600);
    TestOpts o;
    Err err;

    REQUIRE(parse(&o, NULL, &err, "--dir", "/a", "--dir=/b", "--dir", "/c", NULL) == 0);
    REQUIRE(o.dirs.count == 3);
    CHECK_STR(o.dirs.items[0], "/a");
    CHECK_STR(o.dirs.items[2], "/c");
    optFree(&testSet, &o);
    CHECK(o.dirs.count == 0 && o.dirs.items == NULL);
    REQUIRE(parse(&o, env, &err, NULL) == 0);
    REQUIRE(o.dirs.count == 1);
    CHECK_STR(o.dirs.items[0], "/env");
    optFree(&testSet, &o);
    /* A higher source replaces the lower one's values; one source adds up. */
    REQUIRE(parse(&o, env, &err, "--config", path, NULL) == 0);
    REQUIRE(o.dirs.count == 2);
    CHECK_STR(o.dirs.items[0], "/file1");
    CHECK_STR(o.dirs.items[1], "/file2");
    optFree(&testSet, &o);
    REQUIRE(parse(&o, env, &err, "--config", path, "--dir", "/argv", NULL) == 0);
    REQUIRE(o.dirs.count == 1);
    CHECK_STR(o.dirs.items[0], "/argv");
    optFree(&testSet, &o);
    bvFree(path);
}

static void
testPositional(void) {
    static const OptSet noArgs = {"test", "binvault test", NULL, testDefs, sizeof(testDefs) / sizeof(testDefs[0]),
                                  NULL, 0, 0};
    static const OptSet needOne = {"test", "binvault test FILE", NULL, testDefs, sizeof(testDefs) / sizeof(testDefs[0]),
                                   "the FILE", 1, 1};
    char *argv[] = {"test", "a", "--flag", "b", "--", "--c", NULL};
    char **args = NULL;
    int nargs = -1;
    TestOpts o = {0};
    Err err;

    REQUIRE(optParse(&testSet, &o, 4, argv, NULL, &args, &nargs, &err) == 0);
    CHECK_INT(nargs, 2);
    CHECK_STR(args[0], "a");
    CHECK_STR(args[1], "b");
    CHECK(o.flag);
    bvFree(args);
    optFree(&testSet, &o);
    memset(&o, 0, sizeof(o));
    CHECK(optParse(&testSet, &o, 6, argv, NULL, &args, &nargs, &err) == -1);
    CHECK_MSG(err.msg, "unexpected argument '--c'");
    optFree(&testSet, &o);
    memset(&o, 0, sizeof(o));
    {
        char *dashed[] = {"test", "--", "--c", NULL};

        REQUIRE(optParse(&testSet, &o, 3, dashed, NULL, &args, &nargs, &err) == 0);
        CHECK_INT(nargs, 1);
        CHECK_STR(args[0], "--c");
        bvFree(args);
        optFree(&testSet, &o);
    }
    memset(&o, 0, sizeof(o));
    CHECK(optParse(&noArgs, &o, 2, argv, NULL, NULL, NULL, &err) == -1);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "unexpected argument 'a'");
    optFree(&testSet, &o);
    memset(&o, 0, sizeof(o));
    CHECK(optParse(&needOne, &o, 1, argv, NULL, &args, &nargs, &err) == -1);
    CHECK_MSG(err.msg, "missing the FILE; 'binvault test --help' describes the command");
    optFree(&testSet, &o);
}

static void
testRequired(void) {
    static const OptDef defs[] = {
        {"archive", OPT_STRING, NULL, 0, 0, OPT_REQUIRED, O(name), NULL, "the archive", NULL, NULL},
        {"dflt", OPT_STRING, "x", 0, 0, OPT_REQUIRED, O(url), NULL, "a default is not a value", NULL, NULL},
    };
    static const OptSet set = {"test", "binvault test", NULL, defs, 2, NULL, 0, 0};
    char *argv[] = {"test", "--archive", "/a", "--dflt", "y", NULL};
    TestOpts o = {0};
    Err err;

    CHECK(optParse(&set, &o, 1, argv, NULL, NULL, NULL, &err) == -1);
    CHECK_MSG(err.msg, "missing required option '--archive'");
    optFree(&set, &o);
    memset(&o, 0, sizeof(o));
    CHECK(optParse(&set, &o, 3, argv, NULL, NULL, NULL, &err) == -1);
    CHECK_MSG(err.msg, "missing required option '--dflt'");
    optFree(&set, &o);
    memset(&o, 0, sizeof(o));
    CHECK(optParse(&set, &o, 5, argv, NULL, NULL, NULL, &err) == 0);
    optFree(&set, &o);
}

static void
testSecretRule(void) {
    char *env[] = {"TEST_PASSWORD=from-env", NULL};
    char *owner = writeConfig("secret.conf", "[test]\npassword = from-file\n", 0600);
    char *shared = writeConfig("shared.conf", "[binvault]\npassword = from-file\n", 0640);
    TestOpts o;
    Buf *desc = bufNew(256);
    Err err;

    CHECK(parse(&o, NULL, &err, "--password", "s3cret", NULL) == -1);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "'--password' is a secret and is not accepted on the command line: set TEST_PASSWORD");
    CHECK(strstr(err.msg, "s3cret") == NULL);
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--password=s3cret", NULL) == -1);
    CHECK(strstr(err.msg, "s3cret") == NULL);
    optFree(&testSet, &o);
    REQUIRE(parse(&o, env, &err, NULL) == 0);
    CHECK_STR(o.password, "from-env");
    optDescribe(&testSet, &o, desc);
    bufAppend(desc, "", 1);
    CHECK(strstr((const char *)desc->data, "password=(set)") != NULL);
    CHECK(strstr((const char *)desc->data, "from-env") == NULL);
    optFree(&testSet, &o);
    REQUIRE(parse(&o, NULL, &err, "--config", owner, NULL) == 0);
    CHECK_STR(o.password, "from-file");
    optFree(&testSet, &o);
    CHECK(parse(&o, NULL, &err, "--config", shared, NULL) == -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "holds a secret but can be read by others (mode 640)");
    optFree(&testSet, &o);
    /* A file others can read is fine without a secret in it. */
    bvFree(shared);
    shared = writeConfig("plain.conf", "[test]\nname = n\n", 0644);
    REQUIRE(parse(&o, NULL, &err, "--config", shared, NULL) == 0);
    optFree(&testSet, &o);
    bufFree(desc);
    bvFree(owner);
    bvFree(shared);
}

static void
testHelpListsEveryOption(void) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    char *argv[] = {"test", "--count", "99", "--help", NULL};
    TestOpts o = {0};
    int saved, devnull;
    Err err;

    REQUIRE(out != NULL);
    optUsage(&testSet, out);
    fclose(out);
    CHECK(strstr(text, "usage: binvault test [options] [FILE...]") != NULL);
    CHECK(strstr(text, "About the test command.") != NULL);
    for (size_t i = 0; i < testSet.count; i++) {
        char *name = bvSprintf("  --%s", testDefs[i].name);

        if (strstr(text, name) == NULL || strstr(text, testDefs[i].help) == NULL)
            testFail(__FILE__, __LINE__, "--help does not describe '%s':\n%s", testDefs[i].name, text);
        bvFree(name);
    }
    CHECK(strstr(text, "--config FILE") != NULL);
    CHECK(strstr(text, "(low or high)") != NULL);
    CHECK(strstr(text, "[env TEST_PASSWORD]") != NULL);
    CHECK(strstr(text, "[secret: environment or 0600 config file only]") != NULL);
    CHECK(strstr(text, "(repeatable)") != NULL);
    free(text);
    /* --help wins over anything wrong on the command line; it goes to stdout. */
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    devnull = open("/dev/null", O_WRONLY);
    REQUIRE(saved >= 0 && devnull >= 0);
    dup2(devnull, STDOUT_FILENO);
    CHECK_INT(optParse(&testSet, &o, 4, argv, NULL, NULL, NULL, &err), 1);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(devnull);
    optFree(&testSet, &o);
}

/* An empty variable is unset, but for an option that takes "" as a value (an empty password). */
static void
testEmptyEnvironment(void) {
    char *env[] = {"TEST_PASSWORD=", "TEST_NAME=", "TEST_COUNT_A=", "TEST_COUNT_B=7", NULL};
    TestOpts o;
    Err err;

    REQUIRE(parse(&o, env, &err, NULL) == 0);
    REQUIRE(o.password != NULL);
    CHECK_STR(o.password, "");
    CHECK_STR(o.name, "dflt");
    CHECK_INT(o.count, 7);
    optFree(&testSet, &o);
    REQUIRE(parse(&o, NULL, &err, NULL) == 0);
    CHECK(o.password == NULL);
    optFree(&testSet, &o);
}

void suite_opt(void);

void
suite_opt(void) {
    testRun("opt: defaults of every type", testDefaults);
    testRun("opt: integers, sizes, durations and flags, their ranges and bad values", testNumericTypes);
    testRun("opt: enums, URLs, ADDR:PORT and FILE:POS, valid and invalid", testTextTypes);
    testRun("opt: times are read in the time zone option, wherever it is", testTimesInTheZoneOption);
    testRun("time: every accepted form, zones and offsets, invalid times", testTimeForms);
    testRun("pos: FILE:POS and FILE[:POS] forms", testPositionForms);
    testRun("url: ADDR:PORT forms", testHostPortForms);
    testRun("opt: default < environment < config file < command line; sections", testPrecedence);
    testRun("opt: a repeatable option collects values; a higher source replaces them", testRepeatable);
    testRun("opt: positional arguments, --, counts", testPositional);
    testRun("opt: a required option needs a value from somewhere but its default", testRequired);
    testRun("opt: secrets are refused on argv, accepted from the environment and a 0600 file only", testSecretRule);
    testRun("opt: --help lists every option", testHelpListsEveryOption);
    testRun("opt: an empty variable is unset, unless the option takes an empty value", testEmptyEnvironment);
}
