/*
 * binvault serve-binlogs (debugging): serve binlog files to a MariaDB replica over the
 * replication protocol, through the recovery's replication endpoint (recover/replserver.h).
 *
 *   BINVAULT_SERVE_PASSWORD=secret binvault serve-binlogs --listen 127.0.0.1:0 mariadb-bin.0000*
 *
 * prints `listening on 127.0.0.1:PORT`, then serves until SIGINT/SIGTERM. On the replica:
 * CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=PORT, MASTER_USER='binvault',
 * MASTER_PASSWORD='secret', MASTER_USE_GTID=slave_pos; START SLAVE.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/opt.h"
#include "recover/replserver.h"

typedef struct ServeOpts {
    OptHostPort listen;
    char *user;
    char *password;
    int64_t serverId;
    const char *logLevel;
} ServeOpts;

static const OptDef serveDefs[] = {
    {"listen", OPT_HOSTPORT, "127.0.0.1:0", 0, 0, 0, offsetof(ServeOpts, listen), NULL,
     "address to listen on, HOST:PORT (IPv6 as [ADDR]:PORT); port 0 picks a free one", NULL, NULL},
    {"user", OPT_STRING, "binvault", 0, 0, 0, offsetof(ServeOpts, user), NULL,
     "user name the replica logs in with (MASTER_USER)", NULL, NULL},
    {"password", OPT_STRING, NULL, 0, 0, OPT_SECRET | OPT_REQUIRED, offsetof(ServeOpts, password),
     "BINVAULT_SERVE_PASSWORD", "password the replica logs in with (MASTER_PASSWORD)", NULL, NULL},
    {"server-id", OPT_INT, "4294967290", 1, 4294967295LL, 0, offsetof(ServeOpts, serverId), NULL,
     "server_id announced to the replica; must differ from the replica's", NULL, NULL},
    {"log-level", OPT_ENUM, "info", 0, 0, 0, offsetof(ServeOpts, logLevel), "BINVAULT_LOG_LEVEL",
     "how much to log (debug logs every query the replica sends)", cmdLogLevels, NULL},
};

static const OptSet serveSet = {
    "serve-binlogs",
    "binvault serve-binlogs [--listen HOST:PORT] [--user U] FILE...",
    "Debugging: serve binlog files (oldest first; every checksum verified) to a MariaDB replica over the "
    "replication protocol, as the recovery does. Prints 'listening on HOST:PORT' and serves until SIGINT or "
    "SIGTERM. The password comes from BINVAULT_SERVE_PASSWORD. The replica connects with CHANGE MASTER TO "
    "MASTER_HOST=..., MASTER_PORT=..., MASTER_USER=..., MASTER_PASSWORD=..., MASTER_USE_GTID=slave_pos and may "
    "stop with START SLAVE UNTIL master_gtid_pos='...'.",
    serveDefs,
    sizeof(serveDefs) / sizeof(serveDefs[0]),
    "FILE...",
    0,
    -1,
};

static volatile sig_atomic_t serveSignal;

static void
serveOnSignal(int sig) {
    serveSignal = sig;
}


int
cmdServe(int argc, char **argv) {
    ServeOpts o = {0};
    ReplServerConfig cfg = {0};
    ReplServerStatus st;
    ReplFileSource *files = NULL;
    ReplServerSource source;
    ReplServer *srv = NULL;
    char **positional = NULL;
    int npos = 0, rc;
    LogLevel level;
    struct sigaction sa;
    Err err;

    if (!cmdOptions(&serveSet, &o, argc, argv, &positional, &npos, &rc))
        return rc;
    rc = -1;
    if (npos == 0) {
        errSet(&err, ERR_USAGE, "no binlog file given: 'binvault serve-binlogs --help' describes the command");
        goto done;
    }
    logLevelParse(o.logLevel, &level);
    logSetLevel(level);
    for (int i = 0; i < npos; i++) {
        if (access(positional[i], R_OK) != 0) {
            errSetSys(&err, ERR_IO, errno, "unable to read '%s'", positional[i]);
            goto done;
        }
    }
    files = replFileSourceNew((const char *const *)positional, (size_t)npos);
    source = replFileSourceInterface(files);
    cfg.listenHost = o.listen.host;
    cfg.port = o.listen.port;
    cfg.user = o.user;
    cfg.password = o.password;
    cfg.serverId = (uint32_t)o.serverId;
    if ((srv = replServerNew(&cfg, &source, &err)) == NULL)
        goto done;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = serveOnSignal;
    sa.sa_flags = SA_RESETHAND; /* a second signal kills as usual */
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        logWarn("unable to catch SIGINT/SIGTERM: %s", strerror(errno));
    if (replServerStart(srv, &err) != 0)
        goto done;
    printf("listening on %s%s%s:%u\n", strchr(o.listen.host, ':') ? "[" : "", o.listen.host,
           strchr(o.listen.host, ':') ? "]" : "",
           replServerPort(srv));
    fflush(stdout);
    while (!serveSignal) {
        struct timespec ts = {0, 200 * 1000 * 1000};

        nanosleep(&ts, NULL);
        replServerStatus(srv, &st);
        if (!st.running)
            break;
    }
    replServerStop(srv);
    replServerStatus(srv, &st);
    printf("served %" PRIu64 " logins, %" PRIu64 " streams, %" PRIu64 " events (%" PRIu64
           " groups skipped), %" PRIu64 " bytes; last position '%s':%" PRIu64 "\n",
           st.connections, st.dumps, st.eventsSent, st.groupsSkipped, st.bytesSent, st.file, st.pos);
    if (st.lastError[0] != '\0')
        printf("last error: %s\n", st.lastError);
    fflush(stdout);
    rc = 0;
done:
    replServerFree(srv);
    replFileSourceFree(files);
    bvFree(positional);
    optFree(&serveSet, &o);
    return rc == 0 ? 0 : cmdFail(&err);
}
