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
 */
#ifndef BV_AGENT_HTTP_H
#define BV_AGENT_HTTP_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/status.h"
#include "common/err.h"

typedef struct HttpServer HttpServer;

/* Fill `out` (zeroed by the caller) with the agent's state now. */
typedef void HttpSnapshotFn(void *data, AgentStatus *out);

/* Parse "ADDR:PORT" ("[IPv6]:PORT"; PORT 0 = any free port) into host and port; ERR_USAGE. */
int httpParseAddr(const char *text, char *host, size_t hostSize, uint16_t *port, Err *err);

/* Listen on `addr` (ADDR:PORT) in `base`. ERR_CONFIG when the address cannot be bound. */
HttpServer *httpServerNew(struct event_base *base, const char *addr, HttpSnapshotFn *fn, void *data, Err *err);
/* The port actually bound (useful with port 0). */
uint16_t httpServerPort(const HttpServer *h);

void httpServerFree(HttpServer *h);

#endif
