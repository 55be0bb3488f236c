/*
 * The agent's HTTP endpoint, served by libevent's evhttp on the agent's main event loop:
 *
 *   GET /metrics   the Prometheus text format (version 0.0.4), metric names prefixed binvault_
 *   GET /status    the same as one JSON document, plus positions, checkpoint and last error
 *   GET /healthz   200 "ok" while streaming and archiving work, 503 and the reason otherwise
 *
 * HEAD is accepted too; other methods are 405, other paths 404. Each request takes a fresh
 * snapshot through the callback (which locks what it reads); nothing here is shared with other
 * threads. Requests are small and answered at once: no request body is read.
 *
 * The endpoint must never starve the pipeline of file descriptors (issue 14: 400 idle
 * connections made spool and checkpoint writes fail with EMFILE). So it holds at most
 * HTTP_MAX_CONNECTIONS connections, closes a connection idle for HTTP_IDLE_TIMEOUT_SEC, and
 * closes a new connection at once when either the limit is reached or its descriptor number is
 * within HTTP_FD_RESERVE of the process's RLIMIT_NOFILE soft limit: those descriptors stay for the
 * spool, the uploads and the source. A refused connection is logged (the log rate-limits
 * repeats); so are libevent's own messages, which httpServerNew() routes to the log module.
 */
#ifndef BV_AGENT_HTTP_H
#define BV_AGENT_HTTP_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/status.h"
#include "common/err.h"

typedef struct HttpServer HttpServer;

#define HTTP_MAX_CONNECTIONS 64
#define HTTP_IDLE_TIMEOUT_SEC 5
#define HTTP_FD_RESERVE 256
/* Connections accepted in one burst before the listener pauses until they are admitted or closed. */
#define HTTP_ACCEPT_BURST 32

/* Fill `out` (zeroed by the caller) with the agent's state now. */
typedef void HttpSnapshotFn(void *data, AgentStatus *out);

/* Parse "ADDR:PORT" ("[IPv6]:PORT"; PORT 0 = any free port) into host and port; ERR_USAGE. */
int httpParseAddr(const char *text, char *host, size_t hostSize, uint16_t *port, Err *err);

/* Listen on `addr` (ADDR:PORT) in `base`. ERR_CONFIG when the address cannot be bound. */
HttpServer *httpServerNew(struct event_base *base, const char *addr, HttpSnapshotFn *fn, void *data, Err *err);
/* The port actually bound (useful with port 0). */
uint16_t httpServerPort(const HttpServer *h);

/* Change the connection limit and the idle timeout (defaults HTTP_MAX_CONNECTIONS and
 * HTTP_IDLE_TIMEOUT_SEC); for tests. */
void httpServerSetLimits(HttpServer *h, unsigned maxConnections, unsigned idleSec);
/* Connections open now, and connections refused so far (limit or descriptor reserve). */
unsigned httpServerConnections(HttpServer *h);
uint64_t httpServerRefused(const HttpServer *h);

void httpServerFree(HttpServer *h);

#endif
