/* server.h — repgraphd's network side: TCP and Unix-domain listeners on one libuv loop,
 * per-connection framing with bounded buffers, dispatch to the engine, orderly shutdown on
 * SIGINT/SIGTERM, configuration reload on SIGHUP, the monitoring listener (http_metrics.h). Loop thread only. */
#ifndef RG_SERVER_H
#define RG_SERVER_H

#include <uv.h>

#include "repgraph/config.h"

typedef struct rg_server rg_server_t;

/* Opens the store (through the engine) and binds the listeners on `loop`. 0 with *out
 * owned by the caller (rg_server_close); RG_EIO / RG_ESCHEMA / RG_ECONFIG with a message
 * in err otherwise. */
int rg_server_open(const rg_config_t *cfg, uv_loop_t *loop, rg_server_t **out, char *err,
                   size_t errlen);

/* Serves until SIGINT/SIGTERM or rg_server_shutdown, then stops accepting, lets queued
 * writes commit and their replies flush (bounded), and closes every handle. Returns 0. */
int rg_server_run(rg_server_t *s);

/* Builds the configuration anew (e.g. defaults, the file, the command line) into *out for a
 * reload; 0, or an error with a message in err (the running configuration then stays). */
typedef int (*rg_server_reload_fn)(void *ctx, rg_config_t *out, char *err, size_t errlen);

/* Sets what SIGHUP re-reads the configuration with; without it SIGHUP only logs. */
void rg_server_set_reload(rg_server_t *s, rg_server_reload_fn fn, void *ctx);

/* What SIGHUP does: builds the configuration with the reload function and applies the
 * options that can change while serving (log.*, server.log_level, check.*, score.*, label.*;
 * rg_config_reload); logs what it applied and which changes need a restart. Loop thread. */
void rg_server_reload(rg_server_t *s);

/* Starts the orderly shutdown that a signal would. Loop thread. */
void rg_server_shutdown(rg_server_t *s);

/* Closes the store and frees the server; call after rg_server_run returned. Accepts NULL. */
void rg_server_close(rg_server_t *s);

#endif
