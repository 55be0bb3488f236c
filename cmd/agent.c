/* binvault agent: the option table and the command; the pipeline is agent/ (agent/agent.c wires it). */
#include <stddef.h>
#include <stdio.h>

#include "agent/agent.h"
#include "binlog/pos.h"
#include "cmd/cmd.h"
#include "common/buf.h"
#include "common/opt.h"
#include "common/url.h"

#define F(field) offsetof(AgentConfig, field)
#define AGENT_STORAGE(field) offsetof(AgentConfig, storage.field)
#define MIB (1024LL * 1024)

/* A --source value is a mysql:// URL with a user (checked as each is given). */
static int
checkSourceUrl(const char *text, void *field, Err *err) {
    MysqlUrl *url = urlMysqlNew(text, err);
    bool user = url != NULL && url->user != NULL;

    (void)field;
    urlMysqlFree(url);
    if (url == NULL)
        return -1;
    if (!user)
        return errSet(err, ERR_USAGE, "'%s' names no user: use mysql://USER@HOST:PORT", text);
    return 0;
}

static const OptDef agentOpts[] = {
    {"source", OPT_STRING, NULL, 0, 0, OPT_REQUIRED | OPT_REPEAT, F(sources), NULL,
     "the primary to archive, mysql://USER@HOST:PORT (it needs REPLICATION SLAVE and BINLOG MONITOR); given several "
     "times, the candidates of a failover: the agent archives whichever is the writable primary and follows it",
     NULL, checkSourceUrl},
    {"archive-replica", OPT_BOOL, "false", 0, 0, 0, F(archiveReplica), NULL,
     "with several --source: a candidate that is a replica (or read-only) may be archived, not only the writable "
     "primary", NULL, NULL},
    {"primary", OPT_STRING, NULL, 0, 0, 0, F(primary), NULL,
     "with a replica as --source: its primary, mysql://USER@HOST:PORT (same password), asked every --source-poll "
     "what it committed that the stream has not received, for the RPO", NULL, checkSourceUrl},
    {"source-password", OPT_STRING, NULL, 0, 0, OPT_SECRET, F(password), "BINVAULT_SOURCE_PASSWORD",
     "password of the source user", NULL, NULL},
    CMD_ARCHIVE_OPTDEFS(F(archive), AGENT_STORAGE),
    {"spool", OPT_STRING, NULL, 0, 0, OPT_REQUIRED, F(spool), NULL,
     "local directory for sealed segments not yet archived (durable; one agent per spool)", NULL, NULL},
    {"server-id", OPT_INT, "4123456789", 1, 4294967295LL, 0, F(serverId), NULL,
     "server id of this replica; unique among the source's replicas", NULL, NULL},
    {"start-gtid", OPT_STRING, NULL, 0, 0, 0, F(startGtid), NULL,
     "first run only: start after this GTID position (MariaDB d-s-n,...) instead of the oldest binlog", NULL,
     cmdGtidCheck},
    {"start-position", OPT_STRING, NULL, 0, 0, 0, F(startPosition), NULL,
     "first run only: start at this binlog FILE:POS instead of the oldest binlog", NULL, binlogPosOptParseStart},
    {"accept-gap", OPT_BOOL, "false", 0, 0, 0, F(acceptGap), NULL,
     "once, after the source purged binlogs the archive needs: go on from --start-position/--start-gtid and "
     "record the gap in the archive (verify accepts it, recovery does not cross it)", NULL, NULL},
    {"segment-size", OPT_SIZE, "64M", 64 * 1024, 4096 * MIB, 0, F(segmentSize), NULL,
     "cut a segment at the first transaction boundary after this many bytes", NULL, NULL},
    {"segment-interval", OPT_DURATION, "10s", 100, 86400000LL, 0, F(segmentIntervalMs), NULL,
     "cut a segment this long after its first transaction (bounds the archive's lag)", NULL, NULL},
    {"lz4-acceleration", OPT_INT, "2", 1, 64, 0, F(lz4Acceleration), NULL,
     "lz4's acceleration of the segments: higher takes less CPU and stores more bytes (1: smallest)", NULL, NULL},
    {"spool-max-bytes", OPT_SIZE, "10G", 1 * MIB, 1LL << 50, 0, F(spoolMaxBytes), NULL,
     "pause the stream while the spool holds this much (backpressure; nothing is dropped)", NULL, NULL},
    {"heartbeat", OPT_DURATION, "1s", 100, 600000, 0, F(heartbeatMs), NULL,
     "heartbeat period asked of the source; the connection is declared dead after 3 missed", NULL, NULL},
    {"upload-workers", OPT_INT, "4", 1, 64, 0, F(uploadWorkers), NULL, "segments uploaded in parallel", NULL, NULL},
    {"connect-timeout", OPT_DURATION, "10s", 100, 600000, 0, F(connectTimeoutMs), NULL,
     "timeout of a connection attempt to the source", NULL, NULL},
    {"reconnect-max", OPT_DURATION, "30s", 100, 3600000, 0, F(reconnectMaxMs), NULL,
     "longest wait between reconnection attempts (exponential backoff with jitter)", NULL, NULL},
    {"purge-check", OPT_DURATION, "60s", 0, 86400000LL, 0, F(purgeCheckMs), NULL,
     "how often to check that the source has not purged binlogs not yet archived (0 = never)", NULL, NULL},
    {"shutdown-grace", OPT_DURATION, "30s", 0, 3600000, 0, F(shutdownGraceMs), NULL,
     "at SIGTERM, how long to wait for an open transaction and for uploads in flight", NULL, NULL},
    {"source-poll", OPT_DURATION, "2s", 0, 3600000, 0, F(sourcePollMs), NULL,
     "how often to sample the source's binlog position over SQL, for the lag of /metrics (0 = never)", NULL, NULL},
    {"http", OPT_STRING, "127.0.0.1:9180", 0, 0, 0, F(http), NULL,
     "serve /metrics (Prometheus), /status (JSON) and /healthz on ADDR:PORT ([::1]:PORT for IPv6); 'off' = no endpoint", NULL, NULL},
    {"semi-sync", OPT_BOOL, "false", 0, 0, 0, F(semiSync), NULL,
     "be a semi-synchronous replica: acknowledge each transaction once it is fsync'd in the spool (zero RPO with "
     "rpl_semi_sync_master_wait_point=AFTER_SYNC on the source)", NULL, NULL},
    {"drain", OPT_BOOL, "false", 0, 0, 0, F(drain), NULL,
     "do not connect to the source: archive what the spool holds (acknowledged semi-sync transactions included), "
     "then exit; for when the source is gone", NULL, NULL},
    {"log-level", OPT_ENUM, "info", 0, 0, 0, F(logLevel), "BINVAULT_LOG_LEVEL", "how much to log", cmdLogLevels, NULL},
    {"log-format", OPT_ENUM, "text", 0, 0, 0, F(logFormat), NULL, "text or json", cmdLogFormats, NULL},
    CMD_SSL_OPTDEFS(F),
    {"log-file", OPT_STRING, NULL, 0, 0, 0, F(logFile), NULL, "append logs to this file instead of stderr (SIGHUP reopens it)", NULL, NULL},
};

static const OptSet agentOptSet = {
    "agent",
    "binvault agent --source mysql://USER@HOST:PORT --archive URL --spool DIR [options]",
    "Streams the source's binlogs as a replica, cuts them into checksummed, compressed segments at\n"
    "transaction boundaries, keeps them in a durable local spool and uploads them to the archive,\n"
    "with an index by GTID, position and time. Without a start option it resumes where the archive\n"
    "(or the spool) ends; an empty archive starts at the oldest binlog the source still has.\n"
    "Every connection checks the source's identity and that it holds the archive's end (server_id,\n"
    "binlog name, GTID state): another server, e.g. a replica promoted by a failover, starts a new\n"
    "timeline at the fork point (the last archived transaction its history holds); what the old\n"
    "source archived after it is reported as a diverged branch. With several --source the agent\n"
    "archives the one writable primary among them; a replica source needs log_slave_updates (78).\n"
    "RPO, counters and health are served on --http (/metrics, /status, /healthz).\n"
    "SIGTERM or SIGINT: seal the open segment, finish uploads in flight (within --shutdown-grace),\n"
    "exit 0. SIGHUP reopens --log-file.",
    agentOpts,
    sizeof(agentOpts) / sizeof(agentOpts[0]),
    NULL,
    0,
    0,
};

int
cmdAgent(int argc, char **argv) {
    AgentConfig cfg = {0};
    Buf *settings = bufNew(256);
    Err err;
    int rc;

    if (!cmdOptions(&agentOptSet, &cfg, argc, argv, NULL, NULL, &rc)) {
        bufFree(settings);
        return rc;
    }
    optDescribe(&agentOptSet, &cfg, settings);
    bufAppend(settings, "", 1);
    cfg.settings = (const char *)settings->data;
    cfg.storage.create = true; /* the agent makes the archive it writes */
    rc = agentRun(&cfg, &err) == 0 ? 0 : cmdFail(&err);
    optFree(&agentOptSet, &cfg);
    bufFree(settings);
    return rc;
}
