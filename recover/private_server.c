/*
 * The helper processes of `binvault restore` (recover/private_server.h): tools run in their own
 * process group, and the private mariadbd on the restored data directory, with its generated
 * configuration in a private temporary directory.
 */
#include "recover/private_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/fs.h"
#include "common/mem.h"
#include "common/proc.h"
#include "common/retry.h"

#define PRIVATE_LOG_TAIL 6
#define PRIVATE_POLL_MS 100
#define PRIVATE_START_TIMEOUT_MS 600000u
#define PRIVATE_STOP_TIMEOUT_MS 600000u
#define PRIVATE_KILL_GRACE_MS 10000u

struct PrivateTool {
    pid_t pid;
    int in;
    char *name;
    char *logPath;
};

struct PrivateServer {
    pid_t pid;
    bool running;
    bool ready; /* it answered: before that, mariadbd may take a SIGTERM and never finish starting */
    char *dir; /* the private directory: my.cnf, the socket, the pid file, the error log */
    char *socket;
    char *errorLog;
};

static void
sleepMs(unsigned ms) {
    struct timespec ts = {ms / 1000u, (long)(ms % 1000u) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Start a tool or the server in its own process group (or session), stdin from inFd, stdout and
 * stderr to the log. */
static pid_t
spawn(const char *const *argv, int inFd, const char *logPath, bool newSession, Err *err) {
    int logFd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    pid_t pid;

    if (logFd < 0)
        return errSetSys(err, ERR_IO, errno, "unable to open log file '%s'", logPath);
    pid = procSpawn(argv, inFd, logFd, logFd, newSession ? PROC_NEW_SESSION : PROC_OWN_GROUP, err);
    close(logFd);
    return pid;
}

/* ---- Tools ----------------------------------------------------------------------------------- */

PrivateTool *
privateToolStart(const char *const *argv, bool pipeIn, const char *logPath, Err *err) {
    int fds[2] = {-1, -1}, in;
    PrivateTool *t;
    pid_t pid;

    if (pipeIn) {
        if (pipe2(fds, O_CLOEXEC) != 0) {
            errSetSys(err, ERR_IO, errno, "unable to create a pipe for '%s'", argv[0]);
            return NULL;
        }
        in = fds[0];
    } else if ((in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        errSetSys(err, ERR_IO, errno, "unable to open /dev/null");
        return NULL;
    }
    pid = spawn(argv, in, logPath, false, err);
    close(in);
    if (pid < 0) {
        if (fds[1] >= 0)
            close(fds[1]);
        return NULL;
    }
    t = bvCalloc(1, sizeof(*t));
    t->pid = pid;
    t->in = fds[1];
    t->name = bvStrdup(argv[0]);
    t->logPath = bvStrdup(logPath);
    return t;
}

int
privateToolStdin(const PrivateTool *t) {
    return t->in;
}

void
privateToolTerminate(PrivateTool *t) {
    if (t->pid > 0 && kill(-t->pid, SIGTERM) != 0)
        kill(t->pid, SIGTERM);
}

int
privateToolFinish(PrivateTool *t, atomic_bool *stop, Err *err) {
    bool terminated = false;
    int status = 0, res = 0;
    char how[128], tail[1024];
    pid_t got;

    if (t->in >= 0)
        close(t->in);
    t->in = -1;
    for (;;) {
        got = waitpid(t->pid, &status, WNOHANG);
        if (got == t->pid)
            break;
        if (got < 0 && errno != EINTR) {
            res = errSetSys(err, ERR_IO, errno, "unable to wait for '%s'", t->name);
            break;
        }
        if (!terminated && stop != NULL && atomic_load(stop)) {
            privateToolTerminate(t);
            terminated = true;
        }
        sleepMs(PRIVATE_POLL_MS);
    }
    if (res == 0 && got == t->pid && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        procDescribeStatus(status, how, sizeof(how));
        procLogTail(t->logPath, PRIVATE_LOG_TAIL, '|', tail, sizeof(tail));
        res = errSet(err, ERR_TARGET, "'%s' %s%s (log '%s': %s)", t->name, how, terminated ? ", stopped by a signal" : "",
                     t->logPath, tail[0] != '\0' ? tail : "empty");
    }
    bvFree(t->name);
    bvFree(t->logPath);
    bvFree(t);
    return res;
}

/* ---- The private server ---------------------------------------------------------------------- */

/* Whether something accepts connections on the unix socket at path. */
static bool
socketAnswers(const char *path) {
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static int
writeConfig(const PrivateServer *s, const PrivateServerOptions *o, Err *err) {
    char *path = bvSprintf("%s/my.cnf", s->dir);
    Buf *b = bufNew(1024);
    char line[4352];
    int res;

#define ADD(...)                                              \
    do {                                                      \
        snprintf(line, sizeof(line), __VA_ARGS__);            \
        bufAppend(b, line, strlen(line));                     \
    } while (0)
    ADD("# written by binvault restore for its private server; removed when it stops\n[mariadbd]\n");
    ADD("datadir=%s\n", o->datadir);
    ADD("socket=%s\n", s->socket);
    ADD("pid-file=%s/mariadbd.pid\n", s->dir);
    ADD("log-error=%s\n", s->errorLog);
    ADD("tmpdir=%s\n", s->dir);
    if (o->user != NULL)
        ADD("user=%s\n", o->user);
    ADD("server_id=%u\n", (unsigned)o->serverId);
    ADD("skip-networking\nskip-grant-tables\nskip-slave-start\nevent-scheduler=OFF\nskip-log-bin\n");
    ADD("skip-name-resolve\nperformance_schema=OFF\nmax_connections=20\n");
    ADD("relay-log=" PRIVATE_SERVER_RELAY_LOG "\n");
    if (o->extraConfig != NULL)
        bufAppend(b, o->extraConfig, strlen(o->extraConfig));
#undef ADD
    res = fsWriteFileAtomic(path, b->data, b->len, 0600, err);
    bufFree(b);
    bvFree(path);
    return res;
}

/* Remove the private directory's files (names binvault or mariadbd put there) and the directory. */
static void
removeDir(const char *dir) {
    static const char *const names[] = {"my.cnf", "mariadbd.pid", "mariadbd.sock", "error.log", NULL};

    for (size_t i = 0; names[i] != NULL; i++) {
        char *p = bvSprintf("%s/%s", dir, names[i]);

        unlink(p);
        bvFree(p);
    }
    rmdir(dir);
}

/* Give the private directory and the error log to the owner of the data directory. */
static int
giveToDataOwner(const PrivateServer *s, const char *datadir, Err *err) {
    struct stat st;
    int fd;

    if (stat(datadir, &st) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to read the owner of '%s'", datadir);
    if ((fd = open(s->errorLog, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        return errSetSys(err, ERR_IO, errno, "unable to create '%s'", s->errorLog);
    close(fd);
    if (chown(s->errorLog, st.st_uid, st.st_gid) != 0 || chown(s->dir, st.st_uid, st.st_gid) != 0)
        return errSetSys(err, ERR_IO, errno, "unable to give '%s' to the owner of '%s'", s->dir, datadir);
    return 0;
}

PrivateServer *
privateServerStart(const PrivateServerOptions *o, Err *err) {
    const char *tmp = o->tmpDir != NULL && o->tmpDir[0] != '\0' ? o->tmpDir : "/tmp";
    unsigned timeoutMs = o->startTimeoutMs != 0 ? o->startTimeoutMs : PRIVATE_START_TIMEOUT_MS;
    char *tmpl = bvSprintf("%s/binvault-restore.XXXXXX", tmp), *cnf, *arg;
    PrivateServer *s;
    int status;
    double deadline;

    if (mkdtemp(tmpl) == NULL) {
        errSetSys(err, ERR_IO, errno, "unable to create a private directory in '%s' for the server", tmp);
        bvFree(tmpl);
        return NULL;
    }
    s = bvCalloc(1, sizeof(*s));
    s->dir = tmpl;
    s->socket = bvSprintf("%s/mariadbd.sock", s->dir);
    s->errorLog = o->errorLog != NULL ? bvStrdup(o->errorLog) : bvSprintf("%s/error.log", s->dir);
    if (strlen(s->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        errSet(err, ERR_CONFIG, "the server's socket path '%s' is too long: give a shorter --tmpdir", s->socket);
        privateServerFree(s);
        return NULL;
    }
    /* The server runs as o->user, the owner of the data directory: it creates its socket and pid
     * file here and writes the error log, which exists before it starts. */
    if (o->user != NULL && giveToDataOwner(s, o->datadir, err) != 0) {
        privateServerFree(s);
        return NULL;
    }
    if (writeConfig(s, o, err) != 0) {
        privateServerFree(s);
        return NULL;
    }
    cnf = bvSprintf("%s/my.cnf", s->dir);
    arg = bvSprintf("--defaults-file=%s", cnf);
    {
        const char *argv[] = {"mariadbd", arg, NULL};
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

        s->pid = devnull < 0 ? -1 : spawn(argv, devnull, s->errorLog, true, err);
        if (devnull < 0)
            errSetSys(err, ERR_IO, errno, "unable to open /dev/null");
        else
            close(devnull);
    }
    bvFree(cnf);
    bvFree(arg);
    if (s->pid < 0) {
        privateServerFree(s);
        return NULL;
    }
    s->running = true;
    deadline = (double)retryNowMs() / 1000.0 + timeoutMs / 1000.0;
    for (;;) {
        pid_t got = waitpid(s->pid, &status, WNOHANG);
        char how[128], tail[1024];

        if (got == s->pid) {
            s->running = false;
            procDescribeStatus(status, how, sizeof(how));
            procLogTail(s->errorLog, PRIVATE_LOG_TAIL, '|', tail, sizeof(tail));
            errSet(err, ERR_TARGET, "the private server on '%s' %s while starting (error log: %s)", o->datadir, how,
                   tail[0] != '\0' ? tail : "empty");
            privateServerFree(s);
            return NULL;
        }
        if (socketAnswers(s->socket)) {
            s->ready = true;
            if (o->stop == NULL || !atomic_load(o->stop))
                return s;
            /* Interrupted while it started: now that it answers, it shuts down cleanly. */
            errSet(err, ERR_TARGET, "interrupted while the private server on '%s' was starting", o->datadir);
            privateServerFree(s);
            return NULL;
        }
        if ((double)retryNowMs() / 1000.0 > deadline) {
            procLogTail(s->errorLog, PRIVATE_LOG_TAIL, '|', tail, sizeof(tail));
            errSet(err, ERR_TARGET, "the private server on '%s' did not answer on '%s' within %u s (error log: %s)",
                   o->datadir, s->socket, timeoutMs / 1000u, tail[0] != '\0' ? tail : "empty");
            privateServerFree(s);
            return NULL;
        }
        sleepMs(PRIVATE_POLL_MS);
    }
}

const char *
privateServerSocket(const PrivateServer *s) {
    return s->socket;
}

/* Wait for the server's exit up to timeoutMs; true when it exited (*status set). */
static bool
waitExit(PrivateServer *s, unsigned timeoutMs, int *status) {
    double deadline = (double)retryNowMs() / 1000.0 + timeoutMs / 1000.0;

    for (;;) {
        pid_t got = waitpid(s->pid, status, WNOHANG);

        if (got == s->pid || (got < 0 && errno == ECHILD)) {
            s->running = false;
            return true;
        }
        if ((double)retryNowMs() / 1000.0 > deadline)
            return false;
        sleepMs(PRIVATE_POLL_MS);
    }
}

int
privateServerStop(PrivateServer *s, unsigned timeoutMs, Err *err) {
    int status = 0;
    char how[128], tail[1024];

    if (!s->running)
        return 0;
    if (!s->ready) {
        /* Never answered (it failed to start in time): a SIGTERM now may leave it hanging in its
         * start-up, so it is killed; its data directory is as after a crash. */
        kill(s->pid, SIGKILL);
        waitExit(s, PRIVATE_KILL_GRACE_MS, &status);
        return errSet(err, ERR_TARGET, "the private server, which never answered, was killed: the data directory "
                                       "needs crash recovery at its next start");
    }
    if (kill(s->pid, SIGTERM) != 0 && errno != ESRCH)
        return errSetSys(err, ERR_IO, errno, "unable to signal the private server (pid %d)", (int)s->pid);
    if (!waitExit(s, timeoutMs != 0 ? timeoutMs : PRIVATE_STOP_TIMEOUT_MS, &status)) {
        kill(s->pid, SIGKILL);
        waitExit(s, PRIVATE_KILL_GRACE_MS, &status);
        return errSet(err, ERR_TARGET,
                      "the private server did not shut down within %u s and was killed: the data directory needs "
                      "crash recovery at its next start",
                      (timeoutMs != 0 ? timeoutMs : PRIVATE_STOP_TIMEOUT_MS) / 1000u);
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        procDescribeStatus(status, how, sizeof(how));
        procLogTail(s->errorLog, PRIVATE_LOG_TAIL, '|', tail, sizeof(tail));
        return errSet(err, ERR_TARGET, "the private server %s while shutting down (error log: %s)", how,
                      tail[0] != '\0' ? tail : "empty");
    }
    return 0;
}

void
privateServerFree(PrivateServer *s) {
    if (s == NULL)
        return;
    if (s->running) {
        Err ignored = {0};

        privateServerStop(s, 0, &ignored);
    }
    removeDir(s->dir);
    bvFree(s->dir);
    bvFree(s->socket);
    bvFree(s->errorLog);
    bvFree(s);
}

/* ---- backup-my.cnf -------------------------------------------------------------------------- */

static bool
safeValue(const char *v, size_t len) {
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("_:;.+-", c) != NULL))
            return false;
    }
    return true;
}

char *
privateServerBackupConfig(const char *text, size_t len) {
    static const char *const keep[] = {"innodb_page_size",          "innodb_data_file_path", "innodb_undo_tablespaces",
                                       "innodb_checksum_algorithm", "innodb_log_file_size",  NULL};
    Buf *out = bufNew(256);
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl != NULL ? nl : end, *eq = memchr(p, '=', (size_t)(le - p));

        if (eq != NULL) {
            const char *k = p, *ke = eq, *v = eq + 1, *ve = le;

            while (k < ke && (*k == ' ' || *k == '\t'))
                k++;
            while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
                ke--;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
                ve--;
            for (size_t i = 0; keep[i] != NULL; i++) {
                if ((size_t)(ke - k) == strlen(keep[i]) && memcmp(k, keep[i], (size_t)(ke - k)) == 0 &&
                    safeValue(v, (size_t)(ve - v))) {
                    bufAppend(out, keep[i], strlen(keep[i]));
                    bufAppend(out, "=", 1);
                    bufAppend(out, v, (size_t)(ve - v));
                    bufAppend(out, "\n", 1);
                }
            }
        }
        p = le + (nl != NULL ? 1 : 0);
    }
    return (char *)bufDetach(out, NULL);
}
