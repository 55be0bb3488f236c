/*
 * binvault storage: poke at the objects of an archive's store through the storage interface
 * (storage/storage.h) - the same code the agent and recovery use, so it shows what they would
 * see. A debugging tool: it does not know the archive format, only objects.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
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

#define STORAGE_CMD_CHUNK (256 * 1024)
#define STORAGE_CMD_JOBS_MAX 64
#define STORAGE_CMD_CLEAN_AGE 86400

static void
storageCmdUsage(FILE *out) {
    fputs("usage: binvault storage --archive URL put NAME FILE [NAME FILE ...] [--replace]\n"
          "                        [--sha256 HEX] [--md5 HEX] [--jobs N]\n"
          "       binvault storage --archive URL get NAME [--offset N] [--length N]\n"
          "       binvault storage --archive URL head NAME\n"
          "       binvault storage --archive URL list [PREFIX]\n"
          "       binvault storage --archive URL rm NAME\n"
          "       binvault storage --archive URL clean [--min-age SECONDS]\n\n"
          "Debugging: works on the objects of an archive's store through the code the agent and\n"
          "recovery use, without knowing the archive format.\n\n"
          "  --archive URL    the store: file:///path, a local path, or s3://bucket[/prefix] (S3\n"
          "                   settings and credentials come from the environment: AWS_ACCESS_KEY_ID,\n"
          "                   AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or\n"
          "                   BINVAULT_S3_CREDENTIALS_FILE, AWS_ENDPOINT_URL, AWS_REGION,\n"
          "                   BINVAULT_S3_URI_STYLE, BINVAULT_S3_CA_FILE; see storage/s3.h)\n\n"
          "  put NAME FILE    store FILE as the object NAME, immutable: an object NAME with the same\n"
          "                   content is success, with other content an error (exit 73); several\n"
          "                   NAME FILE pairs may follow. Prints NAME<TAB>SIZE<TAB>SHA256 for each.\n"
          "    --replace      replace the object whatever it holds (the checkpoint's mode)\n"
          "    --sha256 HEX, --md5 HEX\n"
          "                   describe FILE with these digests instead of its own (the store must\n"
          "                   refuse a file that does not match them; for tests)\n"
          "    --jobs N       store the pairs with N threads at once (default 1)\n"
          "  get NAME         write the object to standard output\n"
          "    --offset N, --length N   only LENGTH bytes (0: to the end) from OFFSET\n"
          "  head NAME        print NAME<TAB>SIZE<TAB>MODIFIED (UTC); exit 66 when it does not exist\n"
          "  list [PREFIX]    print NAME<TAB>SIZE of each object whose name starts with PREFIX, in\n"
          "                   byte order of the names\n"
          "  rm NAME          remove the object (a missing one is fine)\n"
          "  clean            remove the leftovers of interrupted puts (temporary files, S3\n"
          "                   multipart uploads) older than --min-age SECONDS (default 86400;\n"
          "                   0 removes all: only when nothing is being stored)\n\n"
          "  --log-level L    error, warn, info (default), debug (shows each request) or trace\n",
          out);
    fputs(CMD_STORAGE_HELP, out);
}

static int
storageCmdU64(const char *opt, const char *text, uint64_t *out, Err *err) {
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0)
        return errSet(err, ERR_USAGE, "invalid %s '%s': expected a number", opt, text);
    *out = v;
    return 0;
}

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
        storageCmdUsage(stderr);
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
    struct tm tm;
    time_t t;

    if (storageHead(storage, name, &info, err) != 0)
        return -1;
    if (!info.exists)
        return errSet(err, ERR_NOTFOUND, "no object '%s' in '%s'", name, storageUrl(storage));
    t = (time_t)info.mtime;
    if (info.mtime > 0 && gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
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

int
cmdStorage(int argc, char **argv) {
    StorageOptions storageOpts = {0};
    static const struct option longOpts[] = {
        {"archive", required_argument, NULL, 'a'}, {"replace", no_argument, NULL, 'r'},
        {"sha256", required_argument, NULL, 's'},  {"md5", required_argument, NULL, 'm'},
        {"jobs", required_argument, NULL, 'j'},    {"offset", required_argument, NULL, 'o'},
        {"length", required_argument, NULL, 'l'},  {"min-age", required_argument, NULL, 'g'},
        {"log-level", required_argument, NULL, 'L'}, {"help", no_argument, NULL, 'h'},
        CMD_STORAGE_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    const char *archive = NULL, *sha256 = NULL, *md5 = NULL, *verb;
    uint64_t offset = 0, length = 0, jobs = 1, minAge = STORAGE_CMD_CLEAN_AGE;
    bool replace = false;
    char **args;
    int nargs, c, rc = 0;
    Storage *storage;
    Err err;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longOpts, NULL)) != -1) {
        switch (c) {
        case 'a': archive = optarg; break;
        case 'r': replace = true; break;
        case 's': sha256 = optarg; break;
        case 'm': md5 = optarg; break;
        case 'j':
            if (storageCmdU64("--jobs", optarg, &jobs, &err) != 0)
                return cmdFail(&err);
            if (jobs < 1 || jobs > STORAGE_CMD_JOBS_MAX) {
                errSet(&err, ERR_USAGE, "invalid --jobs '%s': expected 1 to %d", optarg,
                       STORAGE_CMD_JOBS_MAX);
                return cmdFail(&err);
            }
            break;
        case 'o':
            if (storageCmdU64("--offset", optarg, &offset, &err) != 0)
                return cmdFail(&err);
            break;
        case 'l':
            if (storageCmdU64("--length", optarg, &length, &err) != 0)
                return cmdFail(&err);
            break;
        case 'g':
            if (storageCmdU64("--min-age", optarg, &minAge, &err) != 0)
                return cmdFail(&err);
            if (minAge > UINT32_MAX) {
                errSet(&err, ERR_USAGE, "invalid --min-age '%s': too large", optarg);
                return cmdFail(&err);
            }
            break;
        case 'L': {
            LogLevel level;

            if (logLevelParse(optarg, &level) != 0) {
                errSet(&err, ERR_USAGE, "invalid --log-level '%s': expected error, warn, info, "
                       "debug or trace", optarg);
                return cmdFail(&err);
            }
            logSetLevel(level);
            break;
        }
        case 'h': storageCmdUsage(stdout); return 0;
        default:
            if (cmdStorageOption(c, optarg, &storageOpts))
                break;
            storageCmdUsage(stderr); return 64;
        }
    }
    if (!cmdArchiveArgs("storage", archive, argc, argv, 1, INT_MAX,
                        "a storage command: put, get, head, list, rm or clean")) {
        storageCmdUsage(stderr);
        return 64;
    }
    verb = argv[optind];
    args = argv + optind + 1;
    nargs = argc - optind - 1;
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
        storageCmdUsage(stderr);
        return 64;
    }
    if (strcmp(verb, "put") != 0 && strcmp(verb, "get") != 0 && strcmp(verb, "head") != 0 &&
        strcmp(verb, "list") != 0 && strcmp(verb, "rm") != 0 && strcmp(verb, "clean") != 0) {
        errSet(&err, ERR_USAGE, "unknown storage command '%s': expected put, get, head, list, rm "
               "or clean", verb);
        return cmdFail(&err);
    }
    cmdStorageOptionsFromEnv(&storageOpts);
    if ((storage = archiveKeyOpenStore(archive, &storageOpts, &err)) == NULL)
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
