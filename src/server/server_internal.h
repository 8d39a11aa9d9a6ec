/* server_internal.h — what server.c (listeners, accepting, timers, signals, life cycle) and
 * conn.c (one connection: framing, dispatch, output, authentication) share. Loop thread. */
#ifndef RG_SERVER_INTERNAL_H
#define RG_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "repgraph/auth.h"
#include "repgraph/cluster.h"
#include "repgraph/config.h"
#include "repgraph/engine.h"
#include "repgraph/http_metrics.h"
#include "repgraph/log.h"
#include "repgraph/offload.h"
#include "repgraph/policy.h"
#include "repgraph/server.h"
#include "repgraph/tls.h"

#define READ_CHUNK        (64 * 1024) /* bytes asked of the kernel per read */
#define IDLE_BUF_KEEP     (64 * 1024) /* buffer capacity an idle connection keeps */
#define SHUTDOWN_GRACE_MS 5000        /* replies may flush this long after a signal */
#define LISTEN_BACKLOG    511
#define AUTH_FRAME_MAX    4096 /* largest frame before a connection has authenticated */
#define AUTH_READ_MAX     (AUTH_FRAME_MAX + RG_FRAME_HEADER) /* bytes read at a time before auth */
#define SWEEP_MS          1000 /* timeouts and output stalls are checked this often */
#define AUTH_LOG_PER_SEC  10   /* failed authentications logged per second; the rest counted */
#define CONN_LOG_PER_SEC  10   /* connection closes, drops and refusals logged per second */

typedef struct conn {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
  } h;
  rg_server_t *srv;
  rg_buf_t in;      /* bytes received, not yet a whole frame */
  rg_buf_t out;     /* replies waiting to be written */
  rg_buf_t sending; /* replies the kernel is taking */
  uv_write_t wreq;
  uint32_t pending_writes;
  bool sliced_pending;     /* a write committing in slices is pending: what follows waits for it */
  uint64_t last_active_ms; /* last read or write progress (seen at least each sweep) */
  uint64_t frame_started_ms; /* when the partial frame in `in` began; 0 = none */
  uint64_t accepted_ms;      /* auth is due auth.timeout after this */
  uint64_t stall_since_ms;   /* past the soft output limit, without write progress since; 0 */
  size_t write_queue_seen;   /* bytes libuv still had to write when last looked at */
  rg_role_t role;            /* RG_ROLE_NONE until authenticated (auth configured) */
  rg_tls_conn_t *tls;        /* NULL: plaintext (the Unix socket, or no tls.cert) */
  rg_offload_t *offload;     /* a large frame being decoded off the loop: the rest waits */
  bool reading, writing, blocked, close_after_flush, closing, handle_closed;
  bool drop_counted; /* conns_dropped counts each connection once */
  /* wal.enabled: the log sequence of this connection's last acknowledged ingest; a read
   * after it waits (wal_wait) until it is merged into the store (read-your-writes) */
  uint64_t wal_seq;
  bool wal_wait;
  const uint8_t *frame; /* the frame body being dispatched (cluster mode publishes it) */
  uint32_t frame_len;
  struct conn *prev, *next;
} conn_t;

struct rg_server {
  rg_config_t cfg;
  uv_loop_t *loop;
  rg_engine_t *engine;
  rg_policy_t *policy; /* the Postfix policy listener; NULL when not configured */
  rg_replica_t *cluster; /* cluster mode: writes go through the log; NULL when off */
  rg_metrics_t *metrics;
  rg_auth_t *auth;         /* NULL: no authentication, every connection is admin */
  rg_tls_t *tls;           /* NULL: the TCP listener is plaintext */
  rg_log_limit_t auth_log; /* failed authentications logged per second */
  rg_log_limit_t conn_log; /* connection events (closed, dropped, refused) per second */
  rg_proto_limits_t limits;
  uv_tcp_t tcp;
  uv_pipe_t pipe;
  bool has_tcp, has_pipe, shutting_down;
  uv_signal_t sigint, sigterm, sighup;
  uv_timer_t idle_timer, grace_timer;
  conn_t *conns;
  char unix_path[RG_CONFIG_PATH_MAX];
  rg_http_metrics_t *http;     /* /metrics, /healthz, /readyz; NULL when metrics.listen is "" */
  rg_server_reload_fn reload;  /* SIGHUP builds the new configuration with it */
  void *reload_ctx;
};

/* conn.c ------------------------------------------------------------------------------ */

/* Logs a connection event at most CONN_LOG_PER_SEC times a second: a flood of connections
 * must not become a flood of log lines. A logged line says how many were not. */
void rg__conn_log(rg_server_t *s, rg_log_level_t level, const char *what, const char *why)
    __attribute__((nonnull));

/* The engine merged logged ingests (rg_engine_set_wal_hook; ctx: the server): connections
 * whose reads waited for them go on. */
void rg__conn_wal_merged(void *ctx);

/* Frees a connection whose handle closed and whose writes completed (unlinks it). */
void rg__conn_free(conn_t *c);

/* Starts closing the connection's handle (idempotent); it is freed when nothing is pending. */
void rg__conn_close(conn_t *c);

/* Counts the connection in conns_dropped, once. */
void rg__conn_count_drop(conn_t *c);

/* Logs why, counts and closes the connection at once. */
void rg__conn_drop(conn_t *c, const char *why);

/* Bytes of replies not yet written (filling and being written). */
size_t rg__conn_output(const conn_t *c);

/* Starts or stops reading as the connection can take more requests (not blocked behind a
 * write, not past the soft output limit, not closing). */
void rg__conn_update_reading(conn_t *c);

/* Hands the filled replies to the kernel when nothing is being written. */
void rg__conn_flush(conn_t *c);

/* Answers an error that ends the connection (code, message) and closes it after flushing. */
void rg__conn_fatal(conn_t *c, int code, const char *msg);

#endif
