/*
 * Unit tests of recover/restore.c and recover/private_server.c: which backup a target needs, the
 * checks on the data directory, the backup settings passed to the private server, and the tool
 * runner's reports.
 */
#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"
#include "recover/private_server.h"
#include "recover/restore.h"
#include "tests/test.h"

/* Three backups, oldest first: ends at t = 1000, 2000, 3000 s. */
static const RestorePoint points[] = {
    {"b1", 1000000000ull, "mariadb-bin.000002", 400, "0-1-10"},
    {"b2", 2000000000ull, "mariadb-bin.000003", 800, "0-1-20,1-1-5"},
    {"b3", 3000000000ull, "mariadb-bin.000010", 100, "0-1-30,1-1-9"},
};
#define NPOINTS (sizeof(points) / sizeof(points[0]))

/* The id of the backup chosen for target t, or the error message. */
static const char *
choose(const RecoverTarget *t, Err *err) {
    size_t i = 99;

    errClear(err);
    if (restoreChooseBackup(points, NPOINTS, t, &i, err) != 0)
        return err->msg;
    return i < NPOINTS ? points[i].id : "?";
}

static void
testChooseByTime(void) {
    RecoverTarget t = {.kind = RECOVER_UNTIL_TIME};
    Err err;

    t.timeUs = 2500000000ull;
    CHECK_STR(choose(&t, &err), "b2");
    t.timeUs = 9000000000ull;
    CHECK_STR(choose(&t, &err), "b3");
    t.timeUs = 2000000000ull;
    CHECK_STR(choose(&t, &err), "b2");
    t.exclusive = true;
    CHECK_STR(choose(&t, &err), "b1");
    t.exclusive = false;
    t.timeUs = 999999999ull;
    choose(&t, &err);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "before every backup");
    CHECK_MSG(err.msg, "b1: ended 1970-01-01 00:16:40 UTC, at mariadb-bin.000002:400, gtid state '0-1-10'");
    CHECK_MSG(err.msg, "b3: ended");
}

static void
testChooseByGtid(void) {
    RecoverTarget t = {.kind = RECOVER_UNTIL_GTID};
    Err err;

    t.gtid = "0-1-25";
    CHECK_STR(choose(&t, &err), "b2");
    t.gtid = "0-1-20";
    CHECK_STR(choose(&t, &err), "b2");
    t.exclusive = true; /* stop before 0-1-20: b2 already holds it */
    CHECK_STR(choose(&t, &err), "b1");
    t.exclusive = false;
    t.gtid = "1-1-7"; /* domain 1 only: b3 is past it, b2 not, b1 never saw domain 1 */
    CHECK_STR(choose(&t, &err), "b2");
    t.gtid = "2-1-1"; /* a domain no backup holds */
    CHECK_STR(choose(&t, &err), "b3");
    t.gtid = "0-1-5";
    choose(&t, &err);
    CHECK_INT(err.code, ERR_USAGE);
    CHECK_MSG(err.msg, "before every backup");
    t.gtid = "zz";
    choose(&t, &err);
    CHECK_INT(err.code, ERR_FORMAT);
    CHECK_MSG(err.msg, "--until-gtid");
}

static void
testChooseByPosition(void) {
    RecoverTarget t = {.kind = RECOVER_UNTIL_POSITION};
    Err err;

    snprintf(t.file, sizeof(t.file), "mariadb-bin.000003");
    t.pos = 900;
    CHECK_STR(choose(&t, &err), "b2");
    t.pos = 800;
    CHECK_STR(choose(&t, &err), "b2");
    t.exclusive = true;
    CHECK_STR(choose(&t, &err), "b1");
    t.exclusive = false;
    snprintf(t.file, sizeof(t.file), "mariadb-bin.000011"); /* numeric order, not text */
    t.pos = 4;
    CHECK_STR(choose(&t, &err), "b3");
    snprintf(t.file, sizeof(t.file), "mariadb-bin.000001");
    choose(&t, &err);
    CHECK_INT(err.code, ERR_USAGE);
}

static void
testChooseEndAndNone(void) {
    RecoverTarget t = {.kind = RECOVER_UNTIL_END};
    size_t i = 99;
    Err err = {0};

    CHECK_STR(choose(&t, &err), "b3");
    CHECK_INT(restoreChooseBackup(points, 0, &t, &i, &err), -1);
    CHECK_INT(err.code, ERR_NOTFOUND);
    CHECK_MSG(err.msg, "no complete backup");
    CHECK_INT(i, 99);
}

static void
testCheckDir(void) {
    char dir[512], file[600], sub[600];
    Err err = {0};

    snprintf(dir, sizeof(dir), "%s/new", testTmpDir());
    CHECK_INT(restoreCheckDir(dir, 1024, &err), 0);
    CHECK(access(dir, F_OK) == 0); /* created */
    CHECK_INT(restoreCheckDir(dir, 1024, &err), 0); /* empty: fine */
    snprintf(file, sizeof(file), "%s/ibdata1", dir);
    REQUIRE(fclose(fopen(file, "w")) == 0);
    CHECK_INT(restoreCheckDir(dir, 1024, &err), -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "is not empty (it holds 'ibdata1')");
    CHECK_INT(restoreCheckDir(file, 1024, &err), -1);
    CHECK_MSG(err.msg, "is not a directory");
    snprintf(sub, sizeof(sub), "%s/no/such/dir", testTmpDir());
    CHECK_INT(restoreCheckDir(sub, 1024, &err), -1);
    CHECK_INT(err.code, ERR_CONFIG);
    snprintf(sub, sizeof(sub), "%s/big", testTmpDir());
    CHECK_INT(restoreCheckDir(sub, UINT64_MAX / 4, &err), -1);
    CHECK_INT(err.code, ERR_IO);
    CHECK_MSG(err.msg, "not enough space for the restore in");
}

static void
testResolveUser(void) {
    char name[64] = "";
    uid_t uid = 99;
    gid_t gid = 99;
    Err err = {0};

    CHECK_INT(restoreResolveUser("root", testTmpDir(), name, sizeof(name), &uid, &gid, &err), 0);
    CHECK_STR(name, "root");
    CHECK_INT(uid, 0);
    CHECK_INT(restoreResolveUser("binvault-no-such-account", testTmpDir(), name, sizeof(name), &uid, &gid, &err), -1);
    CHECK_INT(err.code, ERR_CONFIG);
    CHECK_MSG(err.msg, "--user 'binvault-no-such-account': no such account");
    if (geteuid() == 0) { /* DIR's owner, when it is not root */
        char dir[600];
        struct passwd *pw = getpwnam("nobody");

        REQUIRE(pw != NULL);
        snprintf(dir, sizeof(dir), "%s/owned", testTmpDir());
        REQUIRE(mkdir(dir, 0700) == 0 && chown(dir, pw->pw_uid, pw->pw_gid) == 0);
        /* The test's directories are root's, mode 0700: the server could not reach DIR. */
        CHECK_INT(restoreResolveUser(NULL, dir, name, sizeof(name), &uid, &gid, &err), -1);
        CHECK_INT(err.code, ERR_CONFIG);
        CHECK_MSG(err.msg, "runs as 'nobody' (the account the data directory is given to), which cannot reach");
        {
            char parent[600], *slash;

            snprintf(parent, sizeof(parent), "%s", testTmpDir());
            REQUIRE(chmod(parent, 0711) == 0);
            if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
                *slash = '\0';
                REQUIRE(chmod(parent, 0711) == 0);
            }
        }
        CHECK_INT(restoreResolveUser(NULL, dir, name, sizeof(name), &uid, &gid, &err), 0);
        CHECK_STR(name, "nobody");
        CHECK_INT(uid, pw->pw_uid);
    }
}

static void
testBackupConfig(void) {
    static const char cnf[] = "# generated by mariadb-backup\n[mysqld]\ninnodb_checksum_algorithm=crc32\n"
                              "innodb_data_file_path = ibdata1:12M:autoextend\r\ninnodb_log_file_size=100663296\n"
                              "innodb_page_size=16384\ninnodb_undo_directory=./\ninnodb_undo_tablespaces=0\n"
                              "plugin-load=evil.so\ninit-file=/etc/shadow\ninnodb_page_size=16384; rm -rf /\n"
                              "innodb_log_file_size=1`x`";
    char *out = privateServerBackupConfig(cnf, sizeof(cnf) - 1);

    CHECK_STR(out, "innodb_checksum_algorithm=crc32\ninnodb_data_file_path=ibdata1:12M:autoextend\n"
                   "innodb_log_file_size=100663296\ninnodb_page_size=16384\ninnodb_undo_tablespaces=0\n");
    bvFree(out);
    out = privateServerBackupConfig("", 0);
    CHECK_STR(out, "");
    bvFree(out);
}

static void
testToolRuns(void) {
    const char *okArgv[] = {"sh", "-c", "cat > /dev/null; echo done", NULL};
    const char *failArgv[] = {"sh", "-c", "echo 'mbstream: bad header' >&2; exit 3", NULL};
    const char *missingArgv[] = {"binvault-no-such-tool", NULL};
    const char *slowArgv[] = {"sleep", "30", NULL};
    char log[600];
    atomic_bool stop = false;
    PrivateTool *t;
    Err err = {0};

    snprintf(log, sizeof(log), "%s/tool.log", testTmpDir());
    REQUIRE((t = privateToolStart(okArgv, true, log, &err)) != NULL);
    CHECK(privateToolStdin(t) >= 0);
    CHECK_INT(write(privateToolStdin(t), "abc", 3), 3);
    CHECK_INT(privateToolFinish(t, NULL, &err), 0);

    REQUIRE((t = privateToolStart(failArgv, false, log, &err)) != NULL);
    CHECK_INT(privateToolStdin(t), -1);
    CHECK_INT(privateToolFinish(t, NULL, &err), -1);
    CHECK_INT(err.code, ERR_TARGET);
    CHECK_MSG(err.msg, "'sh' exited with status 3");
    CHECK_MSG(err.msg, "done|mbstream: bad header"); /* the log's last lines */

    REQUIRE((t = privateToolStart(missingArgv, false, log, &err)) != NULL);
    CHECK_INT(privateToolFinish(t, NULL, &err), -1);
    CHECK_MSG(err.msg, "could not be run");

    REQUIRE((t = privateToolStart(slowArgv, false, log, &err)) != NULL);
    atomic_store(&stop, true);
    CHECK_INT(privateToolFinish(t, &stop, &err), -1);
    CHECK_MSG(err.msg, "killed by signal 15, stopped by a signal");
}

/* A server that cannot start (its data directory is a file) is reported with its error log, and
 * its private directory is removed. */
static void
testServerStartFails(void) {
    char data[600], tmp[600];
    PrivateServerOptions o = {0};
    Err err = {0};
    DIR *d;
    struct dirent *e;
    int entries = 0;

    snprintf(data, sizeof(data), "%s/not-a-directory", testTmpDir());
    snprintf(tmp, sizeof(tmp), "%s/tmp", testTmpDir());
    REQUIRE(fclose(fopen(data, "w")) == 0);
    REQUIRE(mkdir(tmp, 0700) == 0);
    o.datadir = data;
    o.tmpDir = tmp;
    o.user = geteuid() == 0 ? "root" : NULL;
    o.serverId = 7;
    o.startTimeoutMs = 60000;
    CHECK(privateServerStart(&o, &err) == NULL);
    CHECK_INT(err.code, ERR_TARGET);
    CHECK_MSG(err.msg, "the private server on '");
    CHECK_MSG(err.msg, "while starting (error log: ");
    CHECK(strstr(err.msg, "(error log: empty)") == NULL); /* mariadbd said why */
    REQUIRE((d = opendir(tmp)) != NULL);
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    CHECK_INT(entries, 0);
}

static void
testDescribeState(void) {
    RestoreReport r = {0};
    Buf *b = bufNew(256);

    r.state = RESTORE_DIR_PARTIAL;
    r.phase = RESTORE_PHASE_UNPACK;
    restoreDescribeState(&r, "/d", b);
    bufAppend(b, "", 1);
    CHECK_MSG((const char *)b->data, "'/d' holds an incomplete unpack of the backup");
    CHECK_MSG((const char *)b->data, "empty it");
    bufClear(b);
    r.state = RESTORE_DIR_READY;
    r.finalGtid = "0-1-42";
    restoreDescribeState(&r, "/d", b);
    bufAppend(b, "", 1);
    CHECK_MSG((const char *)b->data, "start it with 'mariadbd --datadir /d'");
    CHECK_MSG((const char *)b->data, "gtid_slave_pos is '0-1-42'");
    bufFree(b);
}

void suite_restore(void);

void
suite_restore(void) {
    testRun("the newest backup ended at or before a time target", testChooseByTime);
    testRun("the newest backup not past a GTID target, per domain", testChooseByGtid);
    testRun("the newest backup at or before a position target, in binlog order", testChooseByPosition);
    testRun("the newest backup for the end; none is not found", testChooseEndAndNone);
    testRun("the data directory must be empty or new, with space", testCheckDir);
    testRun("the server's account: --user (an unknown one refused), else DIR's owner", testResolveUser);
    testRun("only safe innodb settings of backup-my.cnf reach the private server", testBackupConfig);
    testRun("tools: exit status, the log's last lines, stop", testToolRuns);
    testRun("a server that cannot start: its error log, its directory removed", testServerStartFails);
    testRun("what DIR holds, said to the user", testDescribeState);
}
