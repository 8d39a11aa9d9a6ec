/* http_metrics.h — the HTTP listener for monitoring (metrics.listen): GET /metrics in the
 * Prometheus text format, /healthz (the loop is serving) and /readyz (the store answers, and
 * with metrics.ready_requires_generation a generation exists). libmicrohttpd serves it on its
 * own thread, which reads only atomics and its own LMDB read transactions: the loop never
 * waits for a scrape. Open, shutdown and close on the loop thread. */
#ifndef RG_HTTP_METRICS_H
#define RG_HTTP_METRICS_H

#include <uv.h>

#include "repgraph/config.h"
#include "repgraph/engine.h"

typedef struct rg_http_metrics rg_http_metrics_t;

/* Starts the listener of cfg->metrics_listen for engine e, with a heartbeat timer on loop.
 * 0 with *out owned by the caller (NULL, and nothing started, when metrics.listen is empty);
 * RG_ECONFIG (bad address) or RG_EIO (cannot listen) with a message in err. */
int rg_http_metrics_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t *e,
                         rg_http_metrics_t **out, char *err, size_t errlen);

/* The TCP port it listens on (0 for NULL). */
unsigned rg_http_metrics_port(const rg_http_metrics_t *h);

/* The server is stopping: /healthz and /readyz answer 503 from now on, and the heartbeat
 * timer is closed (the loop must run once more before rg_http_metrics_close). Accepts NULL;
 * idempotent. */
void rg_http_metrics_shutdown(rg_http_metrics_t *h);

/* Stops the HTTP thread (waiting for a scrape in progress) and frees h. Call before the
 * engine closes its store. Accepts NULL. */
void rg_http_metrics_close(rg_http_metrics_t *h);

#endif
