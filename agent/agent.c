/*
 * `binvault agent` (agent/agent.h): the wiring. Checks the configuration, opens the store, the
 * archive and the spool, runs the start-up (startup.c, semisync.c) in order, starts the threads
 * (stream.c, archiver.c, monitor.c, the uploader's, the segment compression worker) and runs the
 * event loop (signals, the --drain timer, the HTTP endpoint) until shutdown, then stops them in
 * the order that lets every sealed segment reach the archive or stay in the spool.
 */
#include "agent/agent_internal.h"

#include "archive/key.h"

#include <errno.h>
#include <event2/thread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "common/log.h"
#include "common/mem.h"
#include "common/version.h"

const MysqlUrl *
agentSourceUrl(const Agent *a) {
    return a->urls[atomic_load(&((Agent *)a)->urlIdx)];
}

SqlConnOpts
agentCandidateConnOpts(const Agent *a, size_t i) {
    const MysqlUrl *url = a->urls[i];
    SqlConnOpts o;

    memset(&o, 0, sizeof(o));
    o.host = url->host;
    o.port = url->port;
    o.socket = url->socket;
    o.user = url->user;
    o.password = a->cfg->password;
    o.passwordFrom = "BINVAULT_SOURCE_PASSWORD";
    o.connectTimeoutMs = (unsigned)a->cfg->connectTimeoutMs;
    o.readTimeoutMs = 30000;
    o.sslMode = a->sslMode;
    o.sslCa = a->cfg->sslCa;
    o.sslCert = a->cfg->sslCert;
    o.sslKey = a->cfg->sslKey;
    return o;
}

SqlConnOpts
agentSourceConnOpts(const Agent *a) {
    return agentCandidateConnOpts(a, atomic_load(&((Agent *)a)->urlIdx));
}

static void
onWake(evutil_socket_t fd, short what, void *arg) {
    Agent *a = arg;

    (void)fd;
    (void)what;
    if (atomic_load(&a->streamDone) || (a->cfg->drain && atomic_load(&a->stop)))
        event_base_loopbreak(a->base);
}

static void
onTimer(evutil_socket_t fd, short what, void *arg) {
    Agent *a = arg;

    (void)fd;
    (void)what;
    /* --drain: done once the spool is empty (every segment archived and removed). */
    if (a->cfg->drain && spoolReadyCount(a->spool) == 0)
        event_base_loopbreak(a->base);
}

static void
onSignal(evutil_socket_t sig, short what, void *arg) {
    Agent *a = arg;

    (void)what;
    if (sig == SIGHUP) {
        if (logReopen() != 0)
            logWarn("unable to reopen the log file: %s", strerror(errno));
        else
            logInfo("log file reopened (SIGHUP)");
        return;
    }
    if (!atomic_load(&a->stop))
        logInfo("received %s: sealing the open segment and shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    atomic_store(&a->stop, true);
    spoolWake(a->spool);
    if (a->cfg->drain)
        event_base_loopbreak(a->base);
}

static int
setupLogging(const AgentConfig *cfg, Err *err) {
    LogLevel level;

    if (logLevelParse(cfg->logLevel, &level) != 0)
        return errSet(err, ERR_USAGE, "invalid --log-level '%s': expected error, warn, info, debug or trace",
                      cfg->logLevel);
    logSetLevel(level);
    if (strcmp(cfg->logFormat, "json") == 0)
        logSetFormat(LOG_FORMAT_JSON);
    else if (strcmp(cfg->logFormat, "text") == 0)
        logSetFormat(LOG_FORMAT_TEXT);
    else
        return errSet(err, ERR_USAGE, "invalid --log-format '%s': expected text or json", cfg->logFormat);
    if (cfg->logFile && cfg->logFile[0] && logSetFile(cfg->logFile) != 0)
        return errSetSys(err, ERR_CONFIG, errno, "unable to open log file '%s'", cfg->logFile);
    return 0;
}

static bool
httpEnabled(const AgentConfig *cfg) {
    return cfg->http != NULL && cfg->http[0] != '\0' && strcmp(cfg->http, "off") != 0;
}

/* Raise the soft limit on open files to the hard limit: the spool, the uploads and the source need
 * descriptors whatever the HTTP endpoint holds, and the endpoint keeps HTTP_FD_RESERVE of them
 * free below the soft limit (agent/http.h). Failing to raise it is not fatal. */
static void
raiseFdLimit(void) {
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        logWarn("unable to read the limit on open files: %s", strerror(errno));
        return;
    }
    if (rl.rlim_cur == rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        logWarn("unable to raise the limit on open files to %llu: %s", (unsigned long long)rl.rlim_max,
                strerror(errno));
    else
        logDebug("the limit on open files is %llu", (unsigned long long)rl.rlim_cur);
}

static int
startThread(pthread_t *t, void *(*fn)(void *), Agent *a, const char *name, Err *err) {
    int rc = pthread_create(t, NULL, fn, a);

    if (rc != 0)
        return errSetSys(err, ERR_INTERNAL, rc, "unable to start the %s thread", name);
    pthread_setname_np(*t, name);
    return 0;
}

int
agentRun(const AgentConfig *cfg, Err *err) {
    Agent a;
    struct event *timer = NULL, *sigs[3] = {NULL, NULL, NULL};
    int rc = -1;

    memset(&a, 0, sizeof(a));
    a.cfg = cfg;
    pthread_mutex_init(&a.failLock, NULL);
    pthread_mutex_init(&a.doneLock, NULL);
    pthread_cond_init(&a.doneCond, NULL);
    pthread_mutex_init(&a.statLock, NULL);
    a.live.startedUs = agentWallUs();
    a.live.disconnectedSinceUs = a.live.startedUs;
    a.live.version = BV_VERSION;
    a.live.heartbeatMs = cfg->heartbeatMs;
    a.live.semiSync = cfg->semiSync;
    a.live.spoolMaxBytes = (uint64_t)cfg->spoolMaxBytes;
    a.live.lagBytes = -1;
    if (cfg->sslMode != NULL && sqlSslModeParse(cfg->sslMode, "--ssl-mode", &a.sslMode, err) != 0)
        goto early;
    if ((a.sslMode == SQL_SSL_VERIFY || a.sslMode == SQL_SSL_VERIFY_CA) && cfg->sslCa == NULL) {
        errSet(err, ERR_USAGE, "--ssl-mode %s needs --ssl-ca PEM (the CA that signed the source's certificate)",
               cfg->sslMode);
        goto early;
    }
    if (setupLogging(cfg, err) != 0)
        goto early;
    raiseFdLimit();
    if (cfg->sources.count == 0) {
        errSet(err, ERR_USAGE, "--source is required: mysql://USER@HOST:PORT");
        goto early;
    }
    a.urls = bvCalloc(cfg->sources.count, sizeof(*a.urls));
    for (size_t i = 0; i < cfg->sources.count; i++, a.urlCount++) {
        if ((a.urls[i] = urlMysqlNew(cfg->sources.items[i], err)) == NULL) {
            errPrefix(err, "invalid --source");
            goto early;
        }
        if (a.urls[i]->user == NULL) {
            errSet(err, ERR_USAGE, "--source '%s' names no user: use mysql://USER@HOST:PORT", cfg->sources.items[i]);
            goto early;
        }
    }
    if (cfg->primary != NULL && (a.primaryUrl = urlMysqlNew(cfg->primary, err)) == NULL) {
        errPrefix(err, "invalid --primary");
        goto early;
    }
    if (httpEnabled(cfg)) {
        char host[256];
        uint16_t port;

        if (httpParseAddr(cfg->http, host, sizeof(host), &port, err) != 0)
            goto early;
    }
    agentPublishSourceUrl(&a);
    evthread_use_pthreads();
    signal(SIGPIPE, SIG_IGN);
    a.base = event_base_new();
    a.wake = event_new(a.base, -1, EV_READ, onWake, &a);
    if ((a.storage = archiveKeyOpenStore(cfg->archive, &cfg->storage, err)) == NULL)
        goto done;
    snprintf(a.live.archiveUrl, sizeof(a.live.archiveUrl), "%s", storageUrl(a.storage));
    if ((a.spool = spoolOpen(cfg->spool, (uint64_t)cfg->spoolMaxBytes, err)) == NULL)
        goto done;
    a.archive = archiveNew(a.storage);
    logInfo("binvault %s agent starting: %s", BV_VERSION, cfg->settings ? cfg->settings : "");
    for (int i = 0; i < 3; i++) {
        static const int signals[3] = {SIGTERM, SIGINT, SIGHUP};

        sigs[i] = evsignal_new(a.base, signals[i], onSignal, &a);
        event_add(sigs[i], NULL);
    }
    if (httpEnabled(cfg)) {
        /* An endpoint that cannot listen is a mistake in the settings, found at start: the agent
         * stops (exit 78) rather than run unmonitored while its supervisor believes it watched. */
        if ((a.http = httpServerNew(a.base, cfg->http, agentSnapshot, &a, err)) == NULL) {
            errAppend(err, ": /metrics, /status and /healthz cannot be served; fix --http (or 'off')");
            goto done;
        }
        logInfo("serving /metrics, /status and /healthz on http://%s (port %u)", cfg->http,
                (unsigned)httpServerPort(a.http));
    }
    if (agentLoadArchive(&a, err) != 0)
        goto done;
    if ((a.compressor = segmentCompressorNew(err)) == NULL)
        goto done;
    segmentCompressorSetLz4Acceleration(a.compressor, (int)cfg->lz4Acceleration);
    segmentCompressorSetObjectMd5(a.compressor, storageSendsMd5(a.storage));
    if (agentRecoverAtStart(&a, err) != 0)
        goto done;
    a.uploader = uploaderNew(a.storage, (unsigned)cfg->uploadWorkers, agentUploadDone, &a);
    if (agentResubmitSpool(&a, err) != 0)
        goto done;
    if (startThread(&a.archiverThread, agentArchiverMain, &a, "bv-archive", err) != 0)
        goto done;
    a.archiverStarted = true;
    if (cfg->drain) {
        logInfo("--drain: archiving what the spool holds, without connecting to the source");
    } else {
        if (startThread(&a.monitorThread, agentMonitorMain, &a, "bv-monitor", err) != 0)
            goto done;
        a.monitorStarted = true;
        if (startThread(&a.streamThread, agentStreamMain, &a, "bv-stream", err) != 0)
            goto done;
        a.streamStarted = true;
    }
    timer = event_new(a.base, -1, EV_PERSIST, onTimer, &a);
    {
        struct timeval tv = {AGENT_TIMER_MS / 1000, (AGENT_TIMER_MS % 1000) * 1000};

        event_add(timer, &tv);
    }
    event_base_dispatch(a.base);
    rc = 0;
done:
    atomic_store(&a.stop, true);
    if (a.spool)
        spoolWake(a.spool);
    if (a.streamStarted)
        pthread_join(a.streamThread, NULL);
    if (a.uploader)
        uploaderStop(a.uploader, cfg->shutdownGraceMs);
    pthread_mutex_lock(&a.doneLock);
    atomic_store(&a.workersStop, true);
    pthread_cond_broadcast(&a.doneCond);
    pthread_mutex_unlock(&a.doneLock);
    if (a.archiverStarted)
        pthread_join(a.archiverThread, NULL);
    if (a.monitorStarted)
        pthread_join(a.monitorThread, NULL);
    if (a.archiverStarted) {
        agentAdvanceCheckpoint(&a);
        agentRefreshCheckpoint(&a);
        if (a.cpDirty)
            agentWriteCheckpoint(&a);
        agentCompactIndex(&a, cfg->shutdownGraceMs > 0 ? (unsigned)cfg->shutdownGraceMs : 1);
    }
    pthread_mutex_lock(&a.failLock);
    if (a.failed) {
        *err = a.failure;
        rc = -1;
    }
    pthread_mutex_unlock(&a.failLock);
    if (rc == 0)
        logInfo("agent stopped: archive complete up to segment %" PRIu64 ", %" PRIu64 " segments left in the spool",
                a.indexedSeq, a.spool ? spoolReadyCount(a.spool) : 0);
    httpServerFree(a.http);
    uploaderFree(a.uploader);
    for (size_t i = 0; i < a.pendingCount; i++)
        segmentMetaClear(&a.pending[i].meta);
    for (size_t i = 0; i < a.doneCount; i++)
        segmentMetaClear(&a.done[i]);
    bvFree(a.pending);
    bvFree(a.done);
    bvFree(a.unarchived);
    segmenterFree(a.segmenter);
    bvFree(a.tlForkState);
    segmentCompressorFree(a.compressor);
    archiveCatalogFree(a.catalog);
    archiveIndexWriterFree(a.indexWriter);
    archiveCheckpointClear(&a.cp);
    archiveFree(a.archive);
    spoolClose(a.spool);
    storageFree(a.storage);
    for (int i = 0; i < 3; i++)
        if (sigs[i])
            event_free(sigs[i]);
    if (timer)
        event_free(timer);
    if (a.wake)
        event_free(a.wake);
    if (a.base)
        event_base_free(a.base);
early:
    for (size_t i = 0; i < a.urlCount; i++)
        urlMysqlFree(a.urls[i]);
    bvFree(a.urls);
    urlMysqlFree(a.primaryUrl);
    agentStatusClear(&a.live);
    pthread_mutex_destroy(&a.failLock);
    pthread_mutex_destroy(&a.doneLock);
    pthread_cond_destroy(&a.doneCond);
    pthread_mutex_destroy(&a.statLock);
    return rc;
}
