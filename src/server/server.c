/* server.c — listeners, connections and dispatch on the libuv loop thread. Each connection
 * has a capped input buffer and two output buffers (one being written, one filling).
 * Requests of a connection are answered in order: reads run at once, writes queue to the
 * engine's writer, and a read that follows a pending write waits for it (read-your-writes).
 * Output limits, as Redis has them: past the soft limit (half of limits.max_output_bytes of
 * unwritten replies) a connection is not read, and its buffered requests wait, until the
 * replies drain; one that stays past it with no write progress for limits.output_stall,
 * or whose replies pass the hard limit (limits.max_output_bytes), is dropped. A client that
 * pipelines but never reads cannot make the server hold more than that for it.
 * With auth.key_file set, a connection's first frame must be `auth` (small: AUTH_FRAME_MAX)
 * and arrive within auth.timeout; it gets the token's role, and ops above that role are
 * answered `forbidden`.
 * With tls.cert set, TCP connections speak TLS (tls.c): ciphertext is read into `in` and
 * replaced there by its plaintext, and what is written is sealed first; the Unix socket
 * stays plaintext. */
#include "repgraph/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "repgraph/auth.h"
#include "repgraph/clock.h"
#include "repgraph/cluster.h"
#include "repgraph/engine.h"
#include "repgraph/err.h"
#include "repgraph/http_metrics.h"
#include "repgraph/log.h"
#include "repgraph/offload.h"
#include "repgraph/sockfile.h"
#include "repgraph/tls.h"
#include "repgraph/policy.h"

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

static void conn_process(conn_t *c);
static void conn_flush(conn_t *c);

/* Logs a connection event at most CONN_LOG_PER_SEC times a second: a flood of connections
 * must not become a flood of log lines. A logged line says how many were not. */
static void conn_log(rg_server_t *s, rg_log_level_t level, const char *what, const char *why)
    __attribute__((nonnull));
static void conn_log(rg_server_t *s, rg_log_level_t level, const char *what, const char *why) {
  if (!rg_log_limit_take(&s->conn_log, rg_clock_now(), CONN_LOG_PER_SEC)) return;
  if (s->conn_log.suppressed)
    rg_log(level, "%s: %s (%llu connection events not logged since start)", what, why,
           (unsigned long long)s->conn_log.suppressed);
  else
    rg_log(level, "%s: %s", what, why);
}

/* ---- connection life cycle ---------------------------------------------------------- */

static void conn_free(conn_t *c) {
  rg_server_t *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  if (c->role == RG_ROLE_NONE && c->in.data)
    rg_auth_wipe(c->in.data, c->in.cap); /* a partial auth */
  rg_buf_free(&c->in);
  rg_buf_free(&c->out);
  rg_buf_free(&c->sending);
  rg_tls_conn_free(c->tls);
  free(c);
}

static void on_conn_closed(uv_handle_t *h) {
  conn_t *c = h->data;
  c->handle_closed = true;
  atomic_fetch_sub(&c->srv->metrics->conns_current, 1);
  if (c->pending_writes == 0 && !c->offload) conn_free(c);
}

static void conn_close(conn_t *c) {
  if (c->closing) return;
  c->closing = true;
  uv_close(&c->h.handle, on_conn_closed);
}

static void conn_count_drop(conn_t *c) {
  if (!c->drop_counted) atomic_fetch_add(&c->srv->metrics->conns_dropped, 1);
  c->drop_counted = true;
}

static void conn_drop(conn_t *c, const char *why) {
  conn_log(c->srv, RG_LOG_WARN, "dropping connection", why);
  conn_count_drop(c);
  conn_close(c);
}

static size_t conn_output(const conn_t *c) {
  return c->out.len + c->sending.len;
}

/* Past the soft output limit (half the hard one): stop reading and handling requests. */
static bool conn_over_soft(const conn_t *c) {
  return conn_output(c) > c->srv->cfg.max_output_bytes / 2;
}

/* Reads while the connection can take more requests: not blocked behind a write, not past
 * the soft output limit and not closing. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void conn_update_reading(conn_t *c) {
  bool want = !c->closing && !c->close_after_flush && !c->blocked && !c->srv->shutting_down &&
              !conn_over_soft(c);
  if (want == c->reading) return;
  if (want ? uv_read_start(&c->h.stream, on_alloc, on_read) == 0 : uv_read_stop(&c->h.stream) == 0)
    c->reading = want;
}

/* ---- output --------------------------------------------------------------------------- */

static void on_written(uv_write_t *req, int status) {
  conn_t *c = req->data;
  c->writing = false;
  c->sending.len = 0;
  c->last_active_ms = uv_now(c->srv->loop);
  c->stall_since_ms = 0; /* progress; conn_flush starts a new wait if still past the soft limit */
  if (c->sending.cap > IDLE_BUF_KEEP) rg_buf_reset(&c->sending, IDLE_BUF_KEEP);
  if (c->tls) rg_tls_conn_written(c->tls, IDLE_BUF_KEEP);
  if (c->closing) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  conn_flush(c);
  if (!c->closing && !c->close_after_flush) {
    conn_process(c); /* it may have paused on output */
  }
}

static void conn_flush(conn_t *c) {
  if (c->closing) return;
  if (!c->writing && (c->out.len || (c->tls && rg_tls_conn_pending(c->tls)))) {
    rg_buf_t t = c->sending;
    c->sending = c->out;
    c->out = t;
    const uint8_t *bytes = c->sending.data;
    size_t n = c->sending.len;
    if (c->tls && rg_tls_conn_seal(c->tls, c->sending.data, c->sending.len, &bytes, &n)) {
      conn_close(c);
      return;
    }
    uv_buf_t b = uv_buf_init((char *)bytes, (unsigned)n);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, &c->h.stream, &b, 1, on_written);
    if (rc) {
      conn_close(c);
      return;
    }
    c->writing = true;
  }
  if (c->close_after_flush && !c->writing && c->out.len == 0 && c->pending_writes == 0) {
    conn_close(c);
    return;
  }
  if (conn_output(c) > c->srv->cfg.max_output_bytes) {
    conn_drop(c, "unread replies passed limits.max_output_bytes");
    return;
  }
  if (!conn_over_soft(c)) {
    c->stall_since_ms = 0;
  } else if (!c->stall_since_ms) {
    c->stall_since_ms = uv_now(c->srv->loop);
    c->write_queue_seen = uv_stream_get_write_queue_size(&c->h.stream);
  }
  conn_update_reading(c);
}

/* Replies with an error that ends the conversation (the stream can no longer be trusted). */
static void conn_fatal(conn_t *c, int code, const char *msg) {
  rg_metrics_error(c->srv->metrics, code);
  conn_log(c->srv, RG_LOG_INFO, "closing connection", msg);
  if (rg_proto_write_error(&c->out, false, 0, code, msg) != RG_OK) {
    conn_close(c);
    return;
  }
  c->close_after_flush = true;
  c->last_active_ms = uv_now(c->srv->loop); /* it has limits.output_stall to take the reply */
}

/* ---- authentication ------------------------------------------------------------------- */

static void conn_peer(conn_t *c, char *buf, size_t cap) {
  struct sockaddr_storage sa;
  int len = sizeof sa;
  char ip[64];
  snprintf(buf, cap, "the Unix socket");
  if (c->h.handle.type != UV_TCP || uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&sa, &len))
    return;
  if (uv_ip_name((struct sockaddr *)&sa, ip, sizeof ip) == 0)
    snprintf(buf, cap, "%s port %u", ip,
             ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                            : ((struct sockaddr_in *)&sa)->sin_port));
}

/* Counts and logs a failed authentication (never the token; at most AUTH_LOG_PER_SEC
 * lines a second), answers `code` with `why` and ends the connection. */
static void conn_auth_failed(conn_t *c, int code, const char *why) {
  rg_server_t *s = c->srv;
  uint64_t n = atomic_fetch_add(&s->metrics->auth_failures, 1) + 1;
  if (rg_log_limit_take(&s->auth_log, rg_clock_now(), AUTH_LOG_PER_SEC)) {
    char peer[96];
    conn_peer(c, peer, sizeof peer);
    rg_log_warn("authentication failed from %s: %s (%llu failures since start, %llu not logged)",
                peer, why, (unsigned long long)n, (unsigned long long)s->auth_log.suppressed);
  }
  conn_fatal(c, code, why);
}

/* Handles an auth request: the token's role, or unauthorized and the end of the
 * connection (also on a connection that had authenticated before: it keeps no role).
 * Without auth configured any token is accepted with role admin. 0 or the output
 * buffer's error. */
static int conn_auth(conn_t *c, const rg_request_t *req) {
  rg_role_t role = RG_ROLE_ADMIN;
  const char *name = NULL;
  atomic_fetch_add(&c->srv->metrics->requests[RG_OP_AUTH], 1);
  int rc = c->srv->auth ? rg_auth_check(c->srv->auth, req->token.ptr, req->token.len, &role, &name)
                        : RG_OK;
  rg_auth_wipe((void *)req->token.ptr, req->token.len); /* it lives in the input buffer */
  if (rc) {
    conn_auth_failed(c, rc,
                     rc == RG_EUNAUTHORIZED ? "wrong token" : "the token could not be checked");
    return RG_OK;
  }
  if (c->srv->auth) {
    char peer[96];
    conn_peer(c, peer, sizeof peer);
    rg_log_info("authenticated %s (role %s) from %s", name, rg_role_name(role), peer);
  }
  c->role = role;
  rg_wr_t w;
  rg_wr_begin(&w, &c->out);
  rg_wr_reply(&w, req->has_id, req->id, 2);
  rg_wr_str(&w, "role");
  rg_wr_str(&w, rg_role_name(role));
  rg_wr_str(&w, "name");
  rg_wr_str(&w, name);
  return rg_wr_end(&w);
}

/* ---- input ---------------------------------------------------------------------------- */

static void on_write_done(rg_write_t *w, void *ctx) {
  conn_t *c = ctx;
  c->pending_writes--;
  if (!c->pending_writes) c->sliced_pending = false;
  if (c->closing) {
    rg_engine_finish_write(w, NULL);
    if (c->handle_closed && c->pending_writes == 0 && !c->offload) conn_free(c);
    return;
  }
  if (rg_engine_finish_write(w, &c->out) != RG_OK) {
    conn_drop(c, "reply does not fit the output buffer");
    return;
  }
  if (c->blocked && c->pending_writes < c->srv->cfg.max_pending_writes && !c->sliced_pending &&
      !c->offload) {
    c->blocked = false;
    conn_process(c);
  } else {
    conn_flush(c);
  }
}

/* Answers one decoded request (rc: the decoder's result, err its message), or queues it as
 * a write; prep, when not NULL, is its write prepared off the loop. Returns 0, or non-zero
 * when the reply does not fit the output buffer (the connection must be dropped). */
static int conn_dispatch(conn_t *c, int rc, rg_request_t *req, char *err, size_t errlen,
                         bool unauth, rg_prepared_t *prep) {
  rg_server_t *s = c->srv;
  if (rc == RG_ENOT_A_MAP) {
    conn_fatal(c, rc, err);
    rc = RG_OK;
  } else if (rc == RG_OK && req->op == RG_OP_AUTH) {
    rc = conn_auth(c, req);
  } else if (unauth && req->op == RG_OP_AUTH) { /* decoded as far as the op: auth, malformed */
    char msg[300];
    snprintf(msg, sizeof msg, "malformed auth request: %s", err);
    conn_auth_failed(c, rc, msg);
    rc = RG_OK;
  } else if (unauth) {
    conn_auth_failed(c, RG_EUNAUTHORIZED,
                     "authentication required: the first request must be auth");
    rc = RG_OK;
  } else if (rc) {
    rg_metrics_error(s->metrics, rc);
    rc = rg_proto_write_error(&c->out, req->has_id, req->id, rc, err);
  } else if (rg_op_role(req->op) > c->role) {
    snprintf(err, errlen, "%s needs role %s; this connection has role %s", rg_op_name(req->op),
             rg_role_name(rg_op_role(req->op)), rg_role_name(c->role));
    rg_metrics_error(s->metrics, RG_EFORBIDDEN);
    rc = rg_proto_write_error(&c->out, req->has_id, req->id, RG_EFORBIDDEN, err);
  } else {
    rg_write_t *pending;
    if (prep)
      rc = rg_engine_handle_prepared(s->engine, req, prep, &c->out, on_write_done, c, &pending);
    else if (s->cluster && rg_cluster_takes(req))
      rc = rg_cluster_write(s->cluster, c->frame, c->frame_len, req, &c->out, on_write_done, c,
                            &pending);
    else
      rc = rg_engine_handle(s->engine, req, &c->out, on_write_done, c, &pending);
    if (pending) c->pending_writes++;
    if (pending && rg_engine_write_is_sliced(pending)) c->sliced_pending = true;
  }
  if (prep) rg_engine_prepared_free(prep); /* refused before the engine saw it */
  return rc;
}

/* Loop thread: a large frame was decoded (and its ingest prepared) off the loop. It is
 * answered or queued as if decoded here, then the frames after it are handled. */
static void on_offload_done(rg_offload_t *job, void *ctx) {
  conn_t *c = ctx;
  rg_server_t *s = c->srv;
  c->offload = NULL;
  if (c->closing) {
    rg_offload_free(job);
    if (c->handle_closed && c->pending_writes == 0) conn_free(c);
    return;
  }
  rg_request_t *req;
  const char *why;
  char err[256];
  int rc = rg_offload_decoded(job, &req, &why);
  snprintf(err, sizeof err, "%s", why);
  rg_engine_batch_begin(s->engine);
  rc = conn_dispatch(c, rc, req, err, sizeof err, false, rg_offload_prepared(job));
  rg_engine_batch_end(s->engine);
  rg_offload_free(job);
  if (rc) {
    conn_drop(c, "reply does not fit the output buffer");
    return;
  }
  c->blocked = false; /* what follows waits for this write as it would have anyway */
  conn_process(c);
}

/* True when the frame at body (len bytes) goes to the pool (limits.offload_bytes): the
 * connection then waits for it. Only after the writes before it (a connection's requests
 * are answered in order) and once authenticated (a token never leaves the loop). */
static bool conn_offload(conn_t *c, const uint8_t *body, uint32_t len) {
  rg_server_t *s = c->srv;
  if (!s->cfg.offload_bytes || len < s->cfg.offload_bytes || c->role == RG_ROLE_NONE ||
      c->pending_writes)
    return false;
  if (rg_offload_start(s->loop, s->engine, &s->limits, body, len, on_offload_done, c,
                       &c->offload) != RG_OK)
    return false; /* decoded here instead */
  c->blocked = true;
  atomic_fetch_add(&s->metrics->frames_offloaded, 1);
  return true;
}

/* Handles every whole frame in the input buffer, in order, then flushes the replies. */
static void conn_process(conn_t *c) {
  rg_server_t *s = c->srv;
  size_t off = 0;
  rg_engine_batch_begin(s->engine); /* the reads below share one snapshot */
  while (!c->closing && !c->close_after_flush && !c->blocked && !s->shutting_down &&
         conn_output(c) <= s->cfg.max_output_bytes) {
    size_t avail = c->in.len - off;
    if (avail < RG_FRAME_HEADER) break;
    bool unauth = c->role == RG_ROLE_NONE; /* then the frame may hold a token: wiped below */
    uint32_t len, max = unauth ? AUTH_FRAME_MAX : s->limits.max_frame_bytes;
    if (rg_proto_frame_length(c->in.data + off, max, &len) != RG_OK) {
      char msg[128];
      snprintf(msg, sizeof msg, "frame of %u bytes exceeds %s (%u)", len,
               unauth ? "the limit before auth" : "limits.max_frame_bytes", max);
      conn_fatal(c, RG_ETOO_LARGE, msg);
      break;
    }
    if (avail < RG_FRAME_HEADER + (size_t)len) break;

    uint8_t *body = c->in.data + off + RG_FRAME_HEADER;
    if (c->pending_writes && len >= s->cfg.offload_bytes && s->cfg.offload_bytes && !unauth) {
      c->blocked = true; /* a frame for the pool waits for the writes before it */
      break;
    }
    if (conn_offload(c, body, len)) {
      off += RG_FRAME_HEADER + (size_t)len;
      break;
    }
    rg_request_t req;
    char err[256];
    int rc = rg_proto_decode_request(body, len, &s->limits, &req, err, sizeof err);
    bool is_write = rc == RG_OK && rg_op_writes(req.op);
    if (c->pending_writes &&
        (!is_write || c->pending_writes >= s->cfg.max_pending_writes || c->sliced_pending)) {
      rg_request_free(&req); /* answered in order: wait for the writes before it */
      c->blocked = true;
      break;
    }
    c->frame = body, c->frame_len = len;
    rc = conn_dispatch(c, rc, &req, err, sizeof err, unauth, NULL);
    rg_request_free(&req);
    if (unauth) rg_auth_wipe(body, len); /* whether or not it decoded */
    off += RG_FRAME_HEADER + (size_t)len;
    if (rc) {
      rg_engine_batch_end(s->engine);
      conn_drop(c, "reply does not fit the output buffer");
      return;
    }
  }
  rg_engine_batch_end(s->engine);
  rg_buf_consume(&c->in, off);
  if (off || !c->frame_started_ms) c->frame_started_ms = c->in.len ? uv_now(s->loop) : 0;
  if (c->in.len == 0 && c->in.cap > IDLE_BUF_KEEP) rg_buf_reset(&c->in, IDLE_BUF_KEEP);
  conn_flush(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn_t *c = h->data;
  (void)suggested;
  /* Before auth the frame is small: an unauthenticated connection holds at most ~8 KiB. */
  size_t chunk = c->role == RG_ROLE_NONE ? AUTH_READ_MAX : READ_CHUNK;
  if (rg_buf_reserve(&c->in, chunk) != RG_OK) rg_buf_reserve(&c->in, 1);
  size_t room = c->in.cap - c->in.len;
  *buf = uv_buf_init((char *)c->in.data + c->in.len, (unsigned)(room > chunk ? chunk : room));
}

/* TLS: the n bytes just read into c->in are ciphertext; their plaintext takes their place.
 * A failed handshake or record (a plaintext client, a missing or untrusted certificate) is
 * counted and logged, and ends the connection once OpenSSL's alert is sent. 0 or the error. */
static int conn_tls_read(conn_t *c, size_t n) {
  char err[256], peer[96], why[400];
  int rc = rg_tls_conn_read(c->tls, c->in.data + c->in.len, n, &c->in, err, sizeof err);
  if (rc == RG_ETOO_LARGE) {
    conn_fatal(c, RG_ETOO_LARGE, "input buffer full");
    conn_flush(c);
  } else if (rc == RG_EIO) {
    atomic_fetch_add(&c->srv->metrics->tls_failures, 1);
    conn_peer(c, peer, sizeof peer);
    snprintf(why, sizeof why, "%s (from %s)", err, peer);
    conn_log(c->srv, RG_LOG_WARN, "closing connection", why);
    c->close_after_flush = true;
    conn_flush(c);
  } else if (rc) {
    conn_close(c);
  }
  return rc;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = st->data;
  (void)buf;
  if (n == UV_ENOBUFS) {
    conn_fatal(c, RG_ETOO_LARGE, "input buffer full");
    conn_flush(c);
    return;
  }
  if (n < 0) {
    conn_close(c); /* EOF or reset */
    return;
  }
  if (!c->tls)
    c->in.len += (size_t)n;
  else if (conn_tls_read(c, (size_t)n) != RG_OK)
    return;
  c->last_active_ms = uv_now(c->srv->loop);
  conn_process(c);
}

/* At the connection limit: closes the connection idle longest (not `newcomer`; one that has
 * not authenticated before one that has) if it has been idle at least limits.evict_idle —
 * no request in progress, nothing buffered either way — so idle connections cannot hold the
 * server hostage. True when one was closed. */
static bool evict_idlest(rg_server_t *s, conn_t *newcomer) {
  uint64_t now = uv_now(s->loop), min_idle = s->cfg.evict_idle_s * 1000;
  conn_t *victim = NULL;
  for (conn_t *c = s->conns; c; c = c->next) {
    if (c == newcomer || c->closing || c->close_after_flush || c->pending_writes || c->writing ||
        c->in.len || conn_output(c) || now - c->last_active_ms < min_idle)
      continue;
    bool better = !victim || (c->role == RG_ROLE_NONE) > (victim->role == RG_ROLE_NONE) ||
                  ((c->role == RG_ROLE_NONE) == (victim->role == RG_ROLE_NONE) &&
                   c->last_active_ms <= victim->last_active_ms); /* the list is newest first */
    if (better) victim = c;
  }
  if (!victim) return false;
  atomic_fetch_add(&s->metrics->conns_evicted, 1);
  conn_count_drop(victim);
  conn_fatal(victim, RG_EBUSY, "closed to make room: idle longest at limits.max_connections");
  conn_flush(victim);
  return true;
}

static void on_connection(uv_stream_t *listener, int status) {
  rg_server_t *s = listener->data;
  if (status < 0) {
    rg_log_warn("accept: %s", uv_strerror(status));
    return;
  }
  conn_t *c = calloc(1, sizeof *c);
  if (!c) return;
  c->srv = s;
  rg_buf_init(&c->in, (size_t)s->limits.max_frame_bytes + RG_FRAME_HEADER + READ_CHUNK);
  rg_buf_init(&c->out, 0); /* the output limit is enforced in conn_flush */
  rg_buf_init(&c->sending, 0);
  int rc = listener == (uv_stream_t *)&s->tcp ? uv_tcp_init(s->loop, &c->h.tcp)
                                              : uv_pipe_init(s->loop, &c->h.pipe, 0);
  if (rc) {
    free(c);
    return;
  }
  c->h.handle.data = c;
  c->role = s->auth ? RG_ROLE_NONE : RG_ROLE_ADMIN;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  atomic_fetch_add(&s->metrics->conns_current, 1);
  atomic_fetch_add(&s->metrics->conns_total, 1);
  if (uv_accept(listener, &c->h.stream) != 0) {
    conn_close(c);
    return;
  }
  if (listener == (uv_stream_t *)&s->tcp) uv_tcp_nodelay(&c->h.tcp, 1);
  if (listener == (uv_stream_t *)&s->tcp && s->tls && rg_tls_conn_new(s->tls, &c->tls)) {
    conn_close(c);
    return;
  }
  c->last_active_ms = c->accepted_ms = uv_now(s->loop);
  if (atomic_load(&s->metrics->conns_current) > s->cfg.max_connections && !evict_idlest(s, c)) {
    atomic_fetch_add(&s->metrics->conns_refused, 1);
    conn_fatal(c, RG_EBUSY, "limits.max_connections reached; try again later");
    conn_flush(c);
    return;
  }
  conn_update_reading(c);
}

/* ---- timers, signals, shutdown ---------------------------------------------------- */

/* Ends with a `timeout` error the connections that have not authenticated within
 * auth.timeout of connecting, or whose frame has been arriving for longer than
 * limits.frame_timeout. */
static void conn_timeout(conn_t *c, const char *what, const char *option, uint64_t secs) {
  char msg[128];
  snprintf(msg, sizeof msg, "%s within %s (%llu s)", what, option, (unsigned long long)secs);
  conn_count_drop(c);
  conn_fatal(c, RG_ETIMEOUT, msg);
  conn_flush(c);
}

/* Each SWEEP_MS: the timeouts above; drops those past the soft output limit (or closing
 * with a last reply) whose output made no progress for limits.output_stall; closes those
 * without progress for limits.idle_timeout. */
static void on_idle_timer(uv_timer_t *t) {
  rg_server_t *s = t->data;
  uint64_t now = uv_now(s->loop), idle = s->cfg.idle_timeout_s * 1000;
  uint64_t frame = s->cfg.frame_timeout_s * 1000, stall = s->cfg.output_stall_s * 1000;
  for (conn_t *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (c->closing || c->pending_writes) continue;
    size_t queued = uv_stream_get_write_queue_size(&c->h.stream);
    if (queued != c->write_queue_seen) { /* the kernel took part of a write: progress */
      c->write_queue_seen = queued;
      c->last_active_ms = now;
      if (c->stall_since_ms) c->stall_since_ms = now;
    }
    if (c->close_after_flush) {
      if (now - c->last_active_ms >= stall) conn_drop(c, "its last reply was not taken");
    } else if (c->role == RG_ROLE_NONE && now - c->accepted_ms >= s->cfg.auth_timeout_s * 1000) {
      conn_timeout(c, "no auth request", "auth.timeout", s->cfg.auth_timeout_s);
    } else if (frame && c->reading && c->frame_started_ms && now - c->frame_started_ms >= frame) {
      conn_timeout(c, "frame not complete", "limits.frame_timeout", s->cfg.frame_timeout_s);
    } else if (c->stall_since_ms && now - c->stall_since_ms >= stall) {
      conn_drop(c, "replies past the soft output limit made no progress for limits.output_stall");
    } else if (idle && now - c->last_active_ms >= idle) {
      conn_log(s, RG_LOG_INFO, "closing connection", "idle for limits.idle_timeout");
      conn_close(c);
    }
  }
}

static void on_grace_timer(uv_timer_t *t) {
  rg_server_t *s = t->data;
  for (conn_t *c = s->conns, *next; c; c = next) {
    next = c->next;
    conn_close(c);
  }
}

void rg_server_shutdown(rg_server_t *s) {
  if (s->shutting_down) return;
  s->shutting_down = true;
  rg_log_info("shutting down: no new connections; committing queued writes");
  if (s->has_tcp) uv_close((uv_handle_t *)&s->tcp, NULL);
  if (s->has_pipe) uv_close((uv_handle_t *)&s->pipe, NULL);
  uv_close((uv_handle_t *)&s->sigint, NULL);
  uv_close((uv_handle_t *)&s->sigterm, NULL);
  uv_close((uv_handle_t *)&s->sighup, NULL);
  rg_http_metrics_shutdown(s->http); /* /healthz, /readyz: 503 from now on */
  if (uv_is_active((uv_handle_t *)&s->idle_timer)) uv_timer_stop(&s->idle_timer);
  uv_close((uv_handle_t *)&s->idle_timer, NULL);
  rg_policy_shutdown(s->policy); /* before the engine stops: its observations still commit */
  rg_cluster_stop(s->cluster);   /* writes waiting for the log end; applied entries commit */
  rg_engine_stop(s->engine);     /* every queued write commits; its reply is queued */
  for (conn_t *c = s->conns, *next; c; c = next) {
    next = c->next;
    c->close_after_flush = true;
    conn_flush(c);
  }
  uv_timer_start(&s->grace_timer, on_grace_timer, SHUTDOWN_GRACE_MS, 0);
  uv_unref((uv_handle_t *)&s->grace_timer); /* the loop ends when the connections do */
}

static void on_signal(uv_signal_t *h, int signum) {
  rg_log_info("received signal %d", signum);
  rg_server_shutdown(h->data);
}

void rg_server_set_reload(rg_server_t *s, rg_server_reload_fn fn, void *ctx) {
  s->reload = fn;
  s->reload_ctx = ctx;
}

void rg_server_reload(rg_server_t *s) {
  char err[512], applied[1024], ignored[1024];
  rg_config_t *next = malloc(sizeof *next);
  int rc = !s->reload ? RG_ECONFIG : !next ? RG_ENOMEM : s->reload(s->reload_ctx, next, err, sizeof err);
  if (rc) {
    atomic_fetch_add(&s->metrics->reloads_failed, 1);
    rg_log_error("reload: configuration unchanged: %s",
                 !s->reload ? "no configuration source" : !next ? "out of memory" : err);
    free(next);
    return;
  }
  rg_config_reload(&s->cfg, next, applied, sizeof applied, ignored, sizeof ignored);
  rg_config_apply_log(&s->cfg);
  rg_engine_reload(s->engine, &s->cfg);
  atomic_fetch_add(&s->metrics->reloads_ok, 1);
  rg_log_info("reload: applied %s", applied[0] ? applied : "no changes");
  if (ignored[0]) rg_log_warn("reload: changed but needing a restart: %s", ignored);
  free(next);
}

static void on_sighup(uv_signal_t *h, int signum) {
  rg_log_info("received signal %d (SIGHUP): reloading the configuration", signum);
  rg_server_reload(h->data);
}

/* ---- listeners ------------------------------------------------------------------------ */

static int listen_tcp(rg_server_t *s, char *err, size_t errlen) {
  struct sockaddr_storage addr;
  const char *host = s->cfg.listen_host;
  int rc = strchr(host, ':') ? uv_ip6_addr(host, (int)s->cfg.port, (struct sockaddr_in6 *)&addr)
                             : uv_ip4_addr(host, (int)s->cfg.port, (struct sockaddr_in *)&addr);
  if (rc) {
    snprintf(err, errlen, "server.listen: '%s' is not an IP address", host);
    return RG_ECONFIG;
  }
  uv_tcp_init(s->loop, &s->tcp);
  s->tcp.data = s;
  s->has_tcp = true;
  if ((rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&addr, 0)) == 0)
    rc = uv_listen((uv_stream_t *)&s->tcp, LISTEN_BACKLOG, on_connection);
  if (rc) {
    snprintf(err, errlen, "cannot listen on %s port %u: %s", host, s->cfg.port, uv_strerror(rc));
    return RG_EIO;
  }
  rg_log_info("listening on %s port %u%s", host, s->cfg.port,
              !s->tls                           ? ""
              : rg_tls_verifies_clients(s->tls) ? " (TLS; clients need a certificate)"
                                                : " (TLS)");
  if (!s->tls && !rg_config_is_loopback(host))
    rg_log_warn(
        "TCP on %s without TLS: tokens and replies cross the network in clear text; "
        "set tls.cert (see README, Security)",
        host);
  return RG_OK;
}

static int listen_unix(rg_server_t *s, const char *path, char *err, size_t errlen) {
  int rc = rg_sockfile_claim(path, "server.unix_socket", err, errlen);
  if (rc) return rc;
  uv_pipe_init(s->loop, &s->pipe, 0);
  s->pipe.data = s;
  s->has_pipe = true;
  /* bind creates the file with the process umask (not changed here: other threads run);
   * chmod sets unix_mode before listen, and until listen every connect is refused, so no
   * client ever connects under a wider mode. The directory must not be writable by others
   * (chmod follows a symlink swapped in between), as /run/repgraph is not. */
  rc = uv_pipe_bind(&s->pipe, path);
  if (rc == 0) {
    snprintf(s->unix_path, sizeof s->unix_path, "%s", path);
    if (chmod(path, s->cfg.unix_mode) != 0) rc = uv_translate_sys_error(errno);
  }
  if (rc == 0) rc = uv_listen((uv_stream_t *)&s->pipe, LISTEN_BACKLOG, on_connection);
  if (rc) {
    snprintf(err, errlen, "cannot listen on %s: %s", path, uv_strerror(rc));
    return RG_EIO;
  }
  rg_log_info("listening on %s", path);
  return RG_OK;
}

int rg_server_open(const rg_config_t *cfg, uv_loop_t *loop, rg_server_t **out, char *err,
                   size_t errlen) {
  *out = NULL;
  rg_server_t *s = calloc(1, sizeof *s);
  if (!s) return RG_ENOMEM;
  s->cfg = *cfg;
  if (cfg->cluster_enabled) s->cfg.offload_bytes = 0; /* a write is published from its frame */
  s->loop = loop;
  s->limits = (rg_proto_limits_t){cfg->max_frame_bytes, cfg->max_batch_items, cfg->max_recipients,
                                  cfg->max_depth, cfg->max_string_bytes};
  int rc = cfg->key_file[0] ? rg_auth_load(cfg->key_file, &s->auth, err, errlen) : RG_OK;
  if (!rc && cfg->tls_cert[0] && cfg->port) rc = rg_tls_open(cfg, &s->tls, err, errlen);
  if (!rc) rc = rg_engine_open(cfg, loop, &s->engine, err, errlen);
  if (rc) {
    rg_auth_free(s->auth);
    rg_tls_free(s->tls);
    free(s);
    return rc;
  }
  if (s->auth)
    rg_log_info("authentication on: %zu tokens from %s", rg_auth_count(s->auth), cfg->key_file);
  s->metrics = rg_engine_metrics(s->engine);
  if (cfg->cluster_enabled && (rc = rg_cluster_open(cfg, loop, s->engine, &s->cluster, err, errlen))) {
    rg_engine_stop(s->engine);
    uv_run(loop, UV_RUN_NOWAIT);
    rg_engine_close(s->engine);
    rg_auth_free(s->auth);
    rg_tls_free(s->tls);
    free(s);
    return rc;
  }
  char path[RG_CONFIG_PATH_MAX];
  const char *unix_path = rg_config_unix_path(cfg, path, sizeof path);
  uv_signal_init(loop, &s->sigint);
  uv_signal_init(loop, &s->sigterm);
  uv_signal_init(loop, &s->sighup);
  uv_timer_init(loop, &s->idle_timer);
  uv_timer_init(loop, &s->grace_timer);
  s->sigint.data = s->sigterm.data = s->sighup.data = s->idle_timer.data = s->grace_timer.data = s;
  /* Signals are caught before anyone can connect, and TCP (what clients and tests wait
   * for) opens last: once it accepts, the Unix socket is there and SIGTERM stops cleanly. */
  uv_signal_start(&s->sigint, on_signal, SIGINT);
  uv_signal_start(&s->sigterm, on_signal, SIGTERM);
  uv_signal_start(&s->sighup, on_sighup, SIGHUP);
  rc = rg_http_metrics_open(cfg, loop, s->engine, &s->http, err, errlen);
  if (!rc) rc = rg_policy_open(cfg, loop, s->engine, &s->policy, err, errlen);
  if (!rc && unix_path) rc = listen_unix(s, unix_path, err, errlen);
  if (!rc && cfg->port) rc = listen_tcp(s, err, errlen);
  if (rc) {
    rg_server_shutdown(s);
    uv_close((uv_handle_t *)&s->grace_timer, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    rg_server_close(s);
    return rc;
  }
  uv_timer_start(&s->idle_timer, on_idle_timer, SWEEP_MS, SWEEP_MS); /* output_stall is never 0 */
  *out = s;
  return RG_OK;
}

int rg_server_run(rg_server_t *s) {
  uv_run(s->loop, UV_RUN_DEFAULT);
  if (!uv_is_closing((uv_handle_t *)&s->grace_timer))
    uv_close((uv_handle_t *)&s->grace_timer, NULL);
  uv_run(s->loop, UV_RUN_DEFAULT);
  rg_log_info("stopped");
  return 0;
}

void rg_server_close(rg_server_t *s) {
  if (!s) return;
  if (s->unix_path[0]) unlink(s->unix_path);
  rg_http_metrics_close(s->http); /* its thread reads the store: stop it first */
  rg_policy_close(s->policy);
  rg_engine_close(s->engine);
  rg_cluster_free(s->cluster);
  rg_auth_free(s->auth);
  rg_tls_free(s->tls);
  free(s);
}
