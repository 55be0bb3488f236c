/* Unit tests of storage/s3_config.c: URLs, the settings of StorageOptions as the commands fill
 * them (the archive options of every command's table, CMD_ARCHIVE_OPTDEFS, from the command line
 * and the environment), the checks made when a store is opened, credentials files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "common/mem.h"
#include "common/opt.h"
#include "storage/s3.h"
#include "tests/test.h"

/* --- URLs, options, credentials ----------------------------------------------------------- */

extern char **environ;

/* The archive options of a command: what every command's table declares. */
typedef struct ArchiveArgs {
    char *archive;
    StorageOptions storage;
} ArchiveArgs;

#define ARGS_STORAGE(field) offsetof(ArchiveArgs, storage.field)
static const OptDef archiveArgDefs[] = {
    CMD_ARCHIVE_OPTDEFS(offsetof(ArchiveArgs, archive), ARGS_STORAGE),
};
static const OptSet archiveArgSet = {"test", "test --archive URL", "", archiveArgDefs,
                                     sizeof(archiveArgDefs) / sizeof(archiveArgDefs[0]), NULL, 0, 0};

/* StorageOptions from the command line `argv` (NULL-terminated, after the command) and the process's
 * environment, through the option table. The strings belong to *args (optFree()). */
static int
storageArgs(ArchiveArgs *args, const char *const *argv, Err *err) {
    char *v[16] = {"test", "--archive", "s3://bkt"};
    int n = 3;

    for (; argv != NULL && *argv != NULL && n < 15; argv++)
        v[n++] = (char *)*argv;
    memset(args, 0, sizeof(*args));
    return optParse(&archiveArgSet, args, n, v, environ, NULL, NULL, err);
}

static void
checkUrl(const char *url, const char *bucket, const char *prefix) {
    char *b = NULL, *p = NULL;
    Err err = {0};

    if (s3UrlParse(url, &b, &p, &err) != 0) {
        testFail(__FILE__, __LINE__, "'%s': %s", url, err.msg);
        return;
    }
    CHECK_STR(b, bucket);
    CHECK_STR(p, prefix);
    bvFree(b);
    bvFree(p);
}

static void
checkUrlBad(const char *url, const char *msgPart) {
    char *b = NULL, *p = NULL;
    Err err = {0};

    CHECK_INT(s3UrlParse(url, &b, &p, &err), -1);
    CHECK(b == NULL && p == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    if (strstr(err.msg, msgPart) == NULL)
        testFail(__FILE__, __LINE__, "'%s': message '%s' lacks '%s'", url, err.msg, msgPart);
}

static void
testUrl(void) {
    checkUrl("s3://bucket", "bucket", "");
    checkUrl("s3://bucket/", "bucket", "");
    checkUrl("s3://my.bucket-1/db1/binlogs//", "my.bucket-1", "db1/binlogs");
    checkUrlBad("s3:/bucket", "expected 's3://bucket[/prefix]'");
    checkUrlBad("s3://", "bucket name");
    checkUrlBad("s3://ab", "bucket name");
    checkUrlBad("s3://Bucket", "bucket name");
    checkUrlBad("s3://-bucket", "bucket name");
    checkUrlBad("s3://user:pw@bucket", "bucket name");
    checkUrlBad("s3://bucket/a/../b", "'.' or '..'");
    checkUrlBad("s3://bucket/a b", "only A-Z");
}

/* Set or unset (NULL) an environment variable, remembering the old value for envRestore(). */
typedef struct EnvSave {
    const char *name;
    char *value;
} EnvSave;

static const char *const s3EnvNames[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "BINVAULT_S3_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE",
    "BINVAULT_S3_URI_STYLE", "BINVAULT_S3_CA_FILE", "AWS_CA_BUNDLE", "BINVAULT_S3_MULTIPART_THRESHOLD",
    "BINVAULT_S3_PART_SIZE", "BINVAULT_S3_LIST_PAGE", "BINVAULT_S3_STALL_TIMEOUT",
};
#define S3_ENV_COUNT (sizeof(s3EnvNames) / sizeof(s3EnvNames[0]))

/* Clear every variable the commands read for the store; envRestore() puts them back. */
static void
envClear(EnvSave *save) {
    for (size_t i = 0; i < S3_ENV_COUNT; i++) {
        const char *v = getenv(s3EnvNames[i]);

        save[i].name = s3EnvNames[i];
        save[i].value = v ? bvStrdup(v) : NULL;
        unsetenv(s3EnvNames[i]);
    }
}

static void
envRestore(EnvSave *save) {
    for (size_t i = 0; i < S3_ENV_COUNT; i++) {
        if (save[i].value != NULL)
            setenv(save[i].name, save[i].value, 1);
        else
            unsetenv(save[i].name);
        bvFree(save[i].value);
    }
}

/* The options a command gives the driver in the current environment (no command-line flags). */
static int
s3OptionsFromEnv(S3Options *opts, const char *url, Err *err) {
    /* S3Options point into the StorageOptions they come from: the last ones stay until the next. */
    static ArchiveArgs args;

    optFree(&archiveArgSet, &args);
    if (storageArgs(&args, NULL, err) != 0)
        return -1;
    return s3OptionsFromStorage(opts, url, &args.storage, err);
}

static void
testOptionsFromEnv(void) {
    EnvSave save[S3_ENV_COUNT];
    S3Options opts;
    Err err = {0};

    envClear(save);
    REQUIRE(s3OptionsFromEnv(&opts, "s3://bkt/a/b", &err) == 0);
    CHECK_STR(opts.bucket, "bkt");
    CHECK_STR(opts.prefix, "a/b");
    CHECK(opts.endpoint == NULL && opts.region == NULL && opts.accessKeyId == NULL);
    CHECK_INT(opts.uriStyle, S3_URI_STYLE_AUTO);
    s3OptionsFree(&opts);

    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://s3.local:9000", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    setenv("AWS_REGION", "eu-central-1", 1);
    setenv("BINVAULT_S3_URI_STYLE", "host", 1);
    setenv("BINVAULT_S3_PART_SIZE", "8M", 1);
    setenv("BINVAULT_S3_MULTIPART_THRESHOLD", "1G", 1);
    setenv("BINVAULT_S3_LIST_PAGE", "7", 1);
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
    REQUIRE(s3OptionsFromEnv(&opts, "s3://bkt", &err) == 0);
    CHECK_STR(opts.endpoint, "http://s3.local:9000");
    CHECK_STR(opts.region, "eu-central-1");
    CHECK_INT(opts.uriStyle, S3_URI_STYLE_HOST);
    CHECK(opts.partSize == 8ull << 20);
    CHECK(opts.multipartThreshold == 1ull << 30);
    CHECK_INT(opts.listPage, 7);
    CHECK_STR(opts.accessKeyId, "AK");
    CHECK_STR(opts.secretAccessKey, "SK");
    s3OptionsFree(&opts);

    setenv("BINVAULT_S3_PART_SIZE", "8X", 1);
    CHECK_INT(s3OptionsFromEnv(&opts, "s3://bkt", &err), -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "BINVAULT_S3_PART_SIZE '8X'");
    CHECK(opts.bucket == NULL);
    unsetenv("BINVAULT_S3_PART_SIZE");
    setenv("BINVAULT_S3_LIST_PAGE", "1001", 1);
    CHECK_INT(s3OptionsFromEnv(&opts, "s3://bkt", &err), -1);
    CHECK_MSG(err.msg, "BINVAULT_S3_LIST_PAGE");
    unsetenv("BINVAULT_S3_LIST_PAGE");
    setenv("BINVAULT_S3_URI_STYLE", "virtual", 1);
    CHECK_INT(s3OptionsFromEnv(&opts, "s3://bkt", &err), -1);
    CHECK_MSG(err.msg, "BINVAULT_S3_URI_STYLE");
    envRestore(save);
}

/* The store a command opens in the current environment (without the encryption layer). */
static Storage *
newFromEnv(const char *url, Err *err) {
    ArchiveArgs args;
    Storage *st;

    st = storageArgs(&args, NULL, err) == 0 ? storageS3NewUrl(url, &args.storage, err) : NULL;
    optFree(&archiveArgSet, &args);
    return st;
}

static void
testNewChecks(void) {
    EnvSave save[S3_ENV_COUNT];
    Storage *storage;
    Err err = {0};

    envClear(save);
    /* No credentials: a clear error naming where they may come from, and no request made. */
    CHECK(newFromEnv("s3://bucket/prefix", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "no S3 credentials");
    CHECK_MSG(err.msg, "AWS_ACCESS_KEY_ID");
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    CHECK(newFromEnv("s3://bucket/prefix", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "AWS_SECRET_ACCESS_KEY");
    setenv("AWS_SECRET_ACCESS_KEY", "not-in-messages", 1);

    storage = newFromEnv("s3://bucket/prefix/", &err);
    REQUIRE(storage != NULL);
    CHECK_STR(storageUrl(storage), "s3://bucket/prefix");
    storageFree(storage);
    storage = newFromEnv("s3://bucket", &err);
    REQUIRE(storage != NULL);
    CHECK_STR(storageUrl(storage), "s3://bucket");
    storageFree(storage);

    CHECK(newFromEnv("s3://Bad_Bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_USAGE);
    setenv("AWS_ENDPOINT_URL", "ftp://host", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "invalid S3 endpoint 'ftp://host'");
    setenv("AWS_ENDPOINT_URL", "https://user:pw@host", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "invalid S3 endpoint");
    setenv("AWS_ENDPOINT_URL", "https://host:9000/base/", 1);
    storage = newFromEnv("s3://bucket", &err);
    CHECK(storage != NULL);
    storageFree(storage);
    setenv("AWS_REGION", "us east", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "invalid S3 region");
    unsetenv("AWS_REGION");
    setenv("BINVAULT_S3_PART_SIZE", "4M", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "part size");
    unsetenv("BINVAULT_S3_PART_SIZE");
    setenv("BINVAULT_S3_CA_FILE", "/nonexistent/ca.pem", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "'/nonexistent/ca.pem'");
    CHECK(strstr(err.msg, "not-in-messages") == NULL);
    envRestore(save);
}

static char *
writeCredentials(const char *text, mode_t mode) {
    char *path = bvSprintf("%s/credentials", testTmpDir());
    FILE *f = fopen(path, "w");

    BV_ASSERT(f != NULL);
    fputs(text, f);
    fclose(f);
    BV_ASSERT(chmod(path, mode) == 0);
    return path;
}

static void
testCredentialsFile(void) {
    EnvSave save[S3_ENV_COUNT];
    Storage *storage;
    Err err = {0};
    char *path;

    envClear(save);
    path = writeCredentials("# binvault\n[other]\naws_access_key_id = OTHER\n"
                            "aws_secret_access_key = other\n\n[default]\n"
                            "aws_access_key_id=AKIA1\r\n  aws_secret_access_key =  s3cr3t/+x  \n"
                            "; comment\nregion = ignored\n",
                            0600);
    setenv("BINVAULT_S3_CREDENTIALS_FILE", path, 1);
    storage = newFromEnv("s3://bucket", &err);
    CHECK(storage != NULL);
    storageFree(storage);

    /* A file others may read is refused, and the message says how to fix it. */
    BV_ASSERT(chmod(path, 0640) == 0);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "accessible by group or others (mode 0640)");
    CHECK_MSG(err.msg, "chmod 600");
    BV_ASSERT(chmod(path, 0604) == 0);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    bvFree(path);

    /* The profile is chosen with AWS_PROFILE; a profile without keys is an error. */
    path = writeCredentials("[default]\naws_access_key_id = A\n", 0600);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK(strstr(err.msg, "no aws_access_key_id and aws_secret_access_key for profile 'default'") !=
          NULL);
    setenv("AWS_PROFILE", "prod", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "profile 'prod'");
    bvFree(path);
    path = writeCredentials("[prod]\naws_access_key_id = P\naws_secret_access_key = hidden-value\n"
                            "garbage line\n", 0600);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_MSG(err.msg, "invalid line 4");
    CHECK(strstr(err.msg, "hidden-value") == NULL);
    bvFree(path);

    setenv("BINVAULT_S3_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    CHECK(newFromEnv("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "'/nonexistent/credentials'");
    envRestore(save);
}

/* The store takes its settings as values only: the environment reaches it through the command
 * layer, never directly. */
static void
testNoEnvironment(void) {
    EnvSave save[S3_ENV_COUNT];
    StorageOptions so = {0};
    S3Options opts;
    Storage *storage;
    Err err = {0};

    envClear(save);
    setenv("AWS_ACCESS_KEY_ID", "AK", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "not-in-messages", 1);
    setenv("AWS_ENDPOINT_URL", "ftp://not-read", 1);
    setenv("BINVAULT_S3_PART_SIZE", "8X", 1);
    CHECK(storageNew("s3://bucket", &err) == NULL);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "no S3 credentials");
    CHECK(strstr(err.msg, "not-in-messages") == NULL);
    REQUIRE(s3OptionsFromStorage(&opts, "s3://bkt/p", NULL, &err) == 0);
    CHECK_STR(opts.bucket, "bkt");
    CHECK_STR(opts.prefix, "p");
    CHECK(opts.endpoint == NULL && opts.accessKeyId == NULL && opts.partSize == 0);
    s3OptionsFree(&opts);

    /* With values given, the store opens whatever the environment says. */
    so.s3AccessKeyId = "AK2";
    so.s3SecretAccessKey = "SK2";
    so.s3Endpoint = "http://127.0.0.1:9000";
    so.s3UriStyle = "path";
    so.s3PartSize = "6M";
    storage = storageS3NewUrl("s3://bucket/p", &so, &err);
    CHECK(storage != NULL);
    storageFree(storage);
    envRestore(save);
}

/* What the command line set stays; the environment fills the rest, first variable set wins,
 * an empty one counts as unset. */
static void
testEnvPrecedence(void) {
    EnvSave save[S3_ENV_COUNT];
    static const char *const argv[] = {"--s3-endpoint", "https://flag.example", "--s3-uri-style", "host", NULL};
    ArchiveArgs args;
    StorageOptions so;
    S3Options opts;
    Err err = {0};

    envClear(save);
    setenv("AWS_ENDPOINT_URL_S3", "http://env:9000", 1);
    setenv("BINVAULT_S3_URI_STYLE", "path", 1);
    setenv("AWS_REGION", "", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-3", 1);
    setenv("AWS_SESSION_TOKEN", "", 1);
    setenv("BINVAULT_S3_CA_FILE", "/ca/binvault.pem", 1);
    setenv("AWS_CA_BUNDLE", "/ca/aws.pem", 1);
    setenv("BINVAULT_S3_STALL_TIMEOUT", "5", 1);
    REQUIRE(storageArgs(&args, argv, &err) == 0);
    so = args.storage;
    CHECK_STR(so.s3Endpoint, "https://flag.example");
    CHECK_STR(so.s3UriStyle, "host");
    CHECK_STR(so.s3Region, "eu-west-3");
    CHECK(so.s3SessionToken == NULL);
    CHECK_STR(so.s3CaFile, "/ca/binvault.pem");
    CHECK_STR(so.s3StallTimeout, "5");
    REQUIRE(s3OptionsFromStorage(&opts, "s3://bkt", &so, &err) == 0);
    CHECK_INT(opts.stallTimeoutSec, 5);
    CHECK_INT(opts.uriStyle, S3_URI_STYLE_HOST);
    s3OptionsFree(&opts);

    so.s3UriStyle = "virtual";
    CHECK_INT(s3OptionsFromStorage(&opts, "s3://bkt", &so, &err), -1);
    CHECK_MSG(err.msg, "invalid S3 URI style 'virtual'");
    CHECK_MSG(err.msg, "--s3-uri-style");
    so.s3UriStyle = NULL;
    so.s3StallTimeout = "3601";
    CHECK_INT(s3OptionsFromStorage(&opts, "s3://bkt", &so, &err), -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "BINVAULT_S3_STALL_TIMEOUT '3601': expected 1 to 3600 seconds");
    optFree(&archiveArgSet, &args);
    envRestore(save);
}

void
suite_s3_config(void) {
    testRun("s3: urls", testUrl);
    testRun("s3: options from the environment", testOptionsFromEnv);
    testRun("s3: opening checks", testNewChecks);
    testRun("s3: credentials file", testCredentialsFile);
    testRun("s3: the store reads no environment", testNoEnvironment);
    testRun("s3: command line before the environment", testEnvPrecedence);
}
