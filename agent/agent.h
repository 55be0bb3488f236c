/*
 * `binvault agent`: the running pipeline. A stream thread reads the source's binlog as a replica
 * and cuts it into segments (segmenter) sealed durably into the spool; upload workers store them
 * in the archive; the main thread's event loop (signals, timers) advances the index and the
 * checkpoint over the contiguous prefix of stored segments, removes them from the spool, and
 * watches the source for binlogs purged before they were archived.
 *
 * It survives kill -9 (everything sealed is in the spool; the open segment is re-read from the
 * source), source restarts and network cuts (reconnects with capped exponential backoff and
 * jitter, resuming exactly at the end of the last sealed segment), and storage outages (the spool
 * absorbs the stream up to its bound, then the stream pauses).
 *
 * Threads: the main thread runs the libevent loop (signals, a timer, the HTTP endpoint of
 * agent/http.h); `bv-stream` identifies the source, reads the stream and seals segments (and,
 * with --semi-sync, journals the open segment and sends the ACKs, see agent/spool.h), whose
 * compression, hashing and writing `bv-compress` and `bv-hash` do behind it through a ring of
 * blocks, and whose fsync and spool commit `bv-seal` does while it reads on (in line with
 * --semi-sync), for every segment in turn;
 * `bv-upload-N` store segments; `bv-archive` indexes the stored prefix, moves checkpoint.json and
 * frees the spool; `bv-monitor` samples the source over SQL (position, lag, purge guard). They
 * share state only under locks; the HTTP endpoint reads a snapshot (archive/status.h).
 */
#ifndef BV_AGENT_AGENT_H
#define BV_AGENT_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "mysql/client.h"
#include "common/err.h"
#include "common/opt.h"
#include "storage/storage.h"

typedef struct AgentConfig {
    OptList sources; /* mysql://USER@HOST:PORT, one or more: the candidates (agent/source_select.c) */
    bool archiveReplica; /* a candidate that is a replica may be archived (else only the writable primary) */
    char *primary;       /* with a replica source: the real primary, for the RPO (mysql://USER@HOST:PORT) */
    char *password; /* from BINVAULT_SOURCE_PASSWORD or a 0600 config file */
    char *archive;  /* file:///path, /path or s3://bucket/prefix */
    StorageOptions storage; /* the archive's store: S3 settings and credentials, --key-file, --encrypt */
    char *sslMode, *sslCa, *sslCert, *sslKey; /* TLS to the source */
    char *spool;
    int64_t serverId;
    char *startGtid;
    char *startPosition; /* FILE:POS */
    int64_t segmentSize;
    int64_t segmentIntervalMs;
    int64_t lz4Acceleration; /* of the segments' lz4 frames (segmentCompressorSetLz4Acceleration()) */
    int64_t spoolMaxBytes;
    int64_t heartbeatMs;
    int64_t uploadWorkers;
    int64_t connectTimeoutMs;
    int64_t purgeCheckMs;
    int64_t shutdownGraceMs;
    int64_t reconnectMaxMs;
    char *http;           /* ADDR:PORT of /metrics, /status, /healthz; "off" = none */
    bool semiSync;        /* acknowledge transactions as a semi-sync replica, once durable */
    bool drain;           /* archive the spool without connecting to the source, then exit */
    bool acceptGap;       /* with a start option on a non-empty archive: skip to it, recording the gap */
    int64_t sourcePollMs; /* how often to sample the source's position (lag); 0 = never */
    char *logLevel;
    char *logFormat;
    char *logFile;
    const char *settings; /* the effective settings for the start-up log line (no secrets) */
} AgentConfig;

/* Run until SIGTERM/SIGINT (exit 0 after a clean shutdown) or a fatal error (-1 and err). */
int agentRun(const AgentConfig *cfg, Err *err);

#endif
