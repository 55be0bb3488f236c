/*
 * binvault storage: poke at the objects of an archive's store through the storage interface
 * (storage/storage.h) - the same code the agent and recovery use, so it shows what they would
 * see. A debugging tool: it does not know the archive format, only objects.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive/key.h"
#include "cmd/cmd.h"
#include "common/crypto.h"
#include "common/fs.h"
#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/s3.h"
#include "storage/storage.h"
#include "common/time.h"

#define STORAGE_CMD_CHUNK (256 * 1024)
#define STORAGE_CMD_JOBS_MAX 64
#define STORAGE_CMD_CLEAN_AGE 86400

typedef struct StorageCmdOpts {
    char *archive;
    StorageOptions storage;
    bool replace;
    char *sha256, *md5;
    int64_t jobs, offset, length, minAge;
    const char *logLevel;
} StorageCmdOpts;

#define STORAGE_OPT(field) offsetof(StorageCmdOpts, field)
#define STORAGE_STORAGE(field) offsetof(StorageCmdOpts, storage.field)

static const OptDef storageCmdDefs[] = {
    CMD_ARCHIVE_OPTDEFS(STORAGE_OPT(archive), STORAGE_STORAGE),
    {"replace", OPT_BOOL, NULL, 0, 0, 0, STORAGE_OPT(replace), NULL,
     "put: replace the object whatever it holds (the checkpoint's mode)", NULL, NULL},
    {"sha256", OPT_STRING, NULL, 0, 0, 0, STORAGE_OPT(sha256), NULL,
     "put: describe FILE with this digest (HEX) instead of its own (the store must refuse a file that does not match "
     "it; for tests)", NULL, NULL},
    {"md5", OPT_STRING, NULL, 0, 0, 0, STORAGE_OPT(md5), NULL, "put: the same with an MD5 digest (HEX)", NULL, NULL},
    {"jobs", OPT_INT, "1", 1, STORAGE_CMD_JOBS_MAX, 0, STORAGE_OPT(jobs), NULL,
     "put: store the pairs with N threads at once", NULL, NULL},
    {"offset", OPT_INT, "0", 0, INT64_MAX, 0, STORAGE_OPT(offset), NULL, "get: only from byte OFFSET", NULL, NULL},
    {"length", OPT_INT, "0", 0, INT64_MAX, 0, STORAGE_OPT(length), NULL, "get: only LENGTH bytes (0: to the end)",
     NULL, NULL},
    {"min-age", OPT_INT, "86400", 0, UINT32_MAX, 0, STORAGE_OPT(minAge), NULL,
     "clean: only leftovers older than this many seconds (0 removes all: only when nothing is being stored)", NULL,
     NULL},
    {"log-level", OPT_ENUM, "info", 0, 0, 0, STORAGE_OPT(logLevel), "BINVAULT_LOG_LEVEL", "how much to log (debug shows each request)",
     cmdLogLevels, NULL},
};

static const OptSet storageCmdSet = {
    "storage",
    "binvault storage --archive URL put NAME FILE [NAME FILE ...] [--replace]\n"
    "                        [--sha256 HEX] [--md5 HEX] [--jobs N]\n"
    "       binvault storage --archive URL get NAME [--offset N] [--length N]\n"
    "       binvault storage --archive URL head NAME\n"
    "       binvault storage --archive URL list [PREFIX]\n"
    "       binvault storage --archive URL rm NAME\n"
    "       binvault storage --archive URL clean [--min-age SECONDS]",
    "Debugging: works on the objects of an archive's store through the code the agent and\n"
    "recovery use, without knowing the archive format.\n\n"
    "  put NAME FILE    store FILE as the object NAME, immutable: an object NAME with the same\n"
    "                   content is success, with other content an error (exit 73); several\n"
    "                   NAME FILE pairs may follow. Prints NAME<TAB>SIZE<TAB>SHA256 for each.\n"
    "  get NAME         write the object to standard output\n"
    "  head NAME        print NAME<TAB>SIZE<TAB>MODIFIED (UTC); exit 66 when it does not exist\n"
    "  list [PREFIX]    print NAME<TAB>SIZE of each object whose name starts with PREFIX, in\n"
    "                   byte order of the names\n"
    "  rm NAME          remove the object (a missing one is fine)\n"
    "  clean            remove the leftovers of interrupted puts (temporary files, S3\n"
    "                   multipart uploads) older than --min-age SECONDS\n\n" CMD_STORAGE_HELP,
    storageCmdDefs,
    sizeof(storageCmdDefs) / sizeof(storageCmdDefs[0]),
    "a storage command: put, get, head, list, rm or clean",
    1,
    -1,
};

static int
storageCmdDigest(const char *opt, const char *hex, uint8_t *out, size_t len, Err *err) {
    size_t got;

    if (strlen(hex) != len * 2 || cryptoHexDecode(hex, len * 2, out, len, &got, err) != 0)
        return errSet(err, ERR_USAGE, "invalid %s '%s': expected %zu hex digits", opt, hex, len * 2);
    return 0;
}

/* --- put ---------------------------------------------------------------------------------- */

typedef struct StorageCmdPut {
    Storage *storage;
    char **pairs; /* NAME FILE NAME FILE ... */
    int count;    /* of pairs */
    bool replace;
    const char *sha256;
    const char *md5;
    atomic_int next;
    atomic_int failed; /* exit code of the first failure, 0 */
    pthread_mutex_t outLock;
} StorageCmdPut;

static int
storageCmdPutOne(StorageCmdPut *put, const char *name, const char *path, Err *err) {
    StoragePutInfo info;
    char hex[CRYPTO_SHA256_LEN * 2 + 1];
    uint8_t *data = NULL;
    size_t len;
    int rc;

    if (put->replace) {
        /* The replaced object is small (the checkpoint): stored from memory, as the agent does. */
        if (fsReadFile(path, 64 * 1024 * 1024, &data, &len, err) != 0)
            return -1;
        rc = storagePutBuf(put->storage, name, data, len, STORAGE_PUT_REPLACE, err);
        if (rc == 0) {
            cryptoSha256(data, len, info.sha256);
            info.size = len;
        }
        bvFree(data);
        if (rc != 0)
            return -1;
    } else {
        if (storagePutInfoFromFile(path, &info, err) != 0)
            return -1;
        if (put->sha256 && storageCmdDigest("--sha256", put->sha256, info.sha256,
                                            CRYPTO_SHA256_LEN, err) != 0)
            return -1;
        if (put->md5 && storageCmdDigest("--md5", put->md5, info.md5, CRYPTO_MD5_LEN, err) != 0)
            return -1;
        if (storagePutFile(put->storage, name, path, &info, err) != 0)
            return -1;
    }
    cryptoHexEncode(info.sha256, CRYPTO_SHA256_LEN, hex);
    pthread_mutex_lock(&put->outLock);
    printf("%s\t%" PRIu64 "\t%s\n", name, info.size, hex);
    fflush(stdout);
    pthread_mutex_unlock(&put->outLock);
    return 0;
}

static void *
storageCmdPutWorker(void *arg) {
    StorageCmdPut *put = arg;
    int i;

    while ((i = atomic_fetch_add(&put->next, 1)) < put->count) {
        Err err;

        if (storageCmdPutOne(put, put->pairs[2 * i], put->pairs[2 * i + 1], &err) != 0) {
            int zero = 0;

            pthread_mutex_lock(&put->outLock);
            cmdFail(&err);
            pthread_mutex_unlock(&put->outLock);
            atomic_compare_exchange_strong(&put->failed, &zero, errExitCode(err.code));
        }
    }
    return NULL;
}

static int
storageCmdPut(Storage *storage, char **args, int argc, bool replace, const char *sha256,
              const char *md5, unsigned jobs) {
    StorageCmdPut put = {.storage = storage, .pairs = args, .count = argc / 2, .replace = replace,
                         .sha256 = sha256, .md5 = md5};
    pthread_t threads[STORAGE_CMD_JOBS_MAX];
    unsigned started = 0;
    Err err;
    int rc;

    if (argc == 0 || argc % 2 != 0) {
        fprintf(stderr, "binvault: put takes NAME FILE pairs; 'binvault storage --help' describes the command\n");
        return 64;
    }
    atomic_init(&put.next, 0);
    atomic_init(&put.failed, 0);
    rc = pthread_mutex_init(&put.outLock, NULL);
    BV_ASSERT(rc == 0);
    if (jobs > (unsigned)put.count)
        jobs = (unsigned)put.count;
    for (; started + 1 < jobs; started++) {
        rc = pthread_create(&threads[started], NULL, storageCmdPutWorker, &put);
        if (rc != 0) {
            errSetSys(&err, ERR_INTERNAL, rc, "unable to start an upload thread");
            cmdFail(&err);
            break;
        }
    }
    storageCmdPutWorker(&put);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&put.outLock);
    return atomic_load(&put.failed);
}

/* --- get, head, list ---------------------------------------------------------------------- */

static int
storageCmdGet(Storage *storage, const char *name, uint64_t offset, uint64_t length, Err *err) {
    IoRead *reader = storageOpenRead(storage, name, offset, length, err);
    uint8_t *buf;
    ssize_t n;
    int rc = 0;

    if (reader == NULL)
        return -1;
    buf = bvMalloc(STORAGE_CMD_CHUNK);
    while ((n = ioRead(reader, buf, STORAGE_CMD_CHUNK, err)) > 0) {
        if (fsWriteAll(STDOUT_FILENO, buf, (size_t)n) != 0) {
            rc = errSetSys(err, ERR_IO, errno, "unable to write to standard output");
            break;
        }
    }
    if (n < 0)
        rc = -1;
    bvFree(buf);
    ioReadFree(reader);
    return rc;
}

static int
storageCmdHead(Storage *storage, const char *name, Err *err) {
    StorageInfo info;
    char when[32] = "-";

    if (storageHead(storage, name, &info, err) != 0)
        return -1;
    if (!info.exists)
        return errSet(err, ERR_NOTFOUND, "no object '%s' in '%s'", name, storageUrl(storage));
    if (info.mtime > 0)
        timeFormatIso((uint64_t)info.mtime * 1000000u, when, sizeof(when));
    printf("%s\t%" PRIu64 "\t%s\n", name, info.size, when);
    return 0;
}

static int
storageCmdListCb(const char *name, uint64_t size, void *data, Err *err) {
    (void)data;
    (void)err;
    printf("%s\t%" PRIu64 "\n", name, size);
    return 0;
}

/* --- main --------------------------------------------------------------------------------- */

static int storageCmdRun(const StorageCmdOpts *o, char **args, int nargs);

int
cmdStorage(int argc, char **argv) {
    StorageCmdOpts o = {0};
    char **args = NULL;
    int nargs = 0, rc;
    LogLevel level;

    if (!cmdOptions(&storageCmdSet, &o, argc, argv, &args, &nargs, &rc))
        return rc;
    logLevelParse(o.logLevel, &level);
    logSetLevel(level);
    rc = storageCmdRun(&o, args, nargs);
    bvFree(args);
    optFree(&storageCmdSet, &o);
    return rc;
}

/* The storage command the arguments name (args[0]), printed; the exit code. */
static int
storageCmdRun(const StorageCmdOpts *o, char **argv, int argc) {
    const char *sha256 = o->sha256, *md5 = o->md5, *verb;
    uint64_t offset = (uint64_t)o->offset, length = (uint64_t)o->length, jobs = (uint64_t)o->jobs;
    uint64_t minAge = (uint64_t)o->minAge;
    bool replace = o->replace;
    char **args;
    int nargs, rc = 0;
    StorageOptions storageOpts;
    Storage *storage;
    Err err;

    verb = argv[0];
    args = argv + 1;
    nargs = argc - 1;
    if (replace && (sha256 != NULL || md5 != NULL)) {
        errSet(&err, ERR_USAGE, "--replace and --sha256/--md5 exclude each other");
        return cmdFail(&err);
    }
    if (strcmp(verb, "put") != 0 && (replace || sha256 || md5 || jobs != 1)) {
        errSet(&err, ERR_USAGE, "--replace, --sha256, --md5 and --jobs go with 'put'");
        return cmdFail(&err);
    }
    if ((strcmp(verb, "get") == 0 && nargs != 1) || (strcmp(verb, "head") == 0 && nargs != 1) ||
        (strcmp(verb, "rm") == 0 && nargs != 1) || (strcmp(verb, "list") == 0 && nargs > 1) ||
        (strcmp(verb, "clean") == 0 && nargs != 0)) {
        errSet(&err, ERR_USAGE, "wrong number of arguments for 'storage %s'; 'binvault storage --help' describes the "
               "command", verb);
        return cmdFail(&err);
    }
    if (strcmp(verb, "put") != 0 && strcmp(verb, "get") != 0 && strcmp(verb, "head") != 0 &&
        strcmp(verb, "list") != 0 && strcmp(verb, "rm") != 0 && strcmp(verb, "clean") != 0) {
        errSet(&err, ERR_USAGE, "unknown storage command '%s': expected put, get, head, list, rm "
               "or clean", verb);
        return cmdFail(&err);
    }
    /* Only put may make a new store: the other verbs read, or remove what exists. */
    storageOpts = o->storage;
    storageOpts.create = strcmp(verb, "put") == 0;
    if ((storage = cmdOpenArchive(o->archive, &storageOpts, &err)) == NULL)
        return cmdFail(&err);
    if (strcmp(verb, "put") == 0) {
        rc = storageCmdPut(storage, args, nargs, replace, sha256, md5, (unsigned)jobs);
    } else {
        int failed;

        if (strcmp(verb, "get") == 0) {
            failed = storageCmdGet(storage, args[0], offset, length, &err);
        } else if (strcmp(verb, "head") == 0) {
            failed = storageCmdHead(storage, args[0], &err);
        } else if (strcmp(verb, "list") == 0) {
            failed = storageList(storage, nargs ? args[0] : "", storageCmdListCb, NULL, &err);
        } else if (strcmp(verb, "rm") == 0) {
            failed = storageRemove(storage, args[0], &err);
        } else {
            unsigned removed = 0;

            failed = storageCleanTemp(storage, (unsigned)minAge, &removed, &err);
            if (failed == 0)
                printf("removed %u\n", removed);
        }
        if (failed != 0)
            rc = cmdFail(&err);
    }
    fflush(stdout);
    storageFree(storage);
    return rc;
}
