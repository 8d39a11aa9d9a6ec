/* conn.c — one client connection on the libuv loop thread: its input framed and decoded
 * (large frames on the pool, offload.c), requests dispatched in order, replies buffered and
 * written under the output limits, authentication and TLS records (see server.c's file
 * comment for the rules). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "server_internal.h"

static void conn_process(conn_t *c);

void rg__conn_log(rg_server_t *s, rg_log_level_t level, const char *what, const char *why) {
  if (!rg_log_limit_take(&s->conn_log, rg_clock_now(), CONN_LOG_PER_SEC)) return;
  if (s->conn_log.suppressed)
    rg_log(level, "%s: %s (%llu connection events not logged since start)", what, why,
           (unsigned long long)s->conn_log.suppressed);
  else
    rg_log(level, "%s: %s", what, why);
}

/* ---- connection life cycle ---------------------------------------------------------- */

void rg__conn_free(conn_t *c) {
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
  if (c->pending_writes == 0 && !c->offload) rg__conn_free(c);
}

void rg__conn_close(conn_t *c) {
  if (c->closing) return;
  c->closing = true;
  uv_close(&c->h.handle, on_conn_closed);
}

void rg__conn_count_drop(conn_t *c) {
  if (!c->drop_counted) atomic_fetch_add(&c->srv->metrics->conns_dropped, 1);
  c->drop_counted = true;
}

void rg__conn_drop(conn_t *c, const char *why) {
  rg__conn_log(c->srv, RG_LOG_WARN, "dropping connection", why);
  rg__conn_count_drop(c);
  rg__conn_close(c);
}

size_t rg__conn_output(const conn_t *c) {
  return c->out.len + c->sending.len;
}

/* Past the soft output limit (half the hard one): stop reading and handling requests. */
static bool conn_over_soft(const conn_t *c) {
  return rg__conn_output(c) > c->srv->cfg.max_output_bytes / 2;
}

/* Reads while the connection can take more requests: not blocked behind a write, not past
 * the soft output limit and not closing. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

void rg__conn_update_reading(conn_t *c) {
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
  c->stall_since_ms = 0; /* progress; rg__conn_flush starts a new wait if still past the soft limit */
  if (c->sending.cap > IDLE_BUF_KEEP) rg_buf_reset(&c->sending, IDLE_BUF_KEEP);
  if (c->tls) rg_tls_conn_written(c->tls, IDLE_BUF_KEEP);
  if (c->closing) return;
  if (status < 0) {
    rg__conn_close(c);
    return;
  }
  rg__conn_flush(c);
  if (!c->closing && !c->close_after_flush) {
    conn_process(c); /* it may have paused on output */
  }
}

void rg__conn_flush(conn_t *c) {
  if (c->closing) return;
  if (!c->writing && (c->out.len || (c->tls && rg_tls_conn_pending(c->tls)))) {
    rg_buf_t t = c->sending;
    c->sending = c->out;
    c->out = t;
    const uint8_t *bytes = c->sending.data;
    size_t n = c->sending.len;
    if (c->tls && rg_tls_conn_seal(c->tls, c->sending.data, c->sending.len, &bytes, &n)) {
      rg__conn_close(c);
      return;
    }
    uv_buf_t b = uv_buf_init((char *)bytes, (unsigned)n);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, &c->h.stream, &b, 1, on_written);
    if (rc) {
      rg__conn_close(c);
      return;
    }
    c->writing = true;
  }
  if (c->close_after_flush && !c->writing && c->out.len == 0 && c->pending_writes == 0) {
    rg__conn_close(c);
    return;
  }
  if (rg__conn_output(c) > c->srv->cfg.max_output_bytes) {
    rg__conn_drop(c, "unread replies passed limits.max_output_bytes");
    return;
  }
  if (!conn_over_soft(c)) {
    c->stall_since_ms = 0;
  } else if (!c->stall_since_ms) {
    c->stall_since_ms = uv_now(c->srv->loop);
    c->write_queue_seen = uv_stream_get_write_queue_size(&c->h.stream);
  }
  rg__conn_update_reading(c);
}

/* Replies with an error that ends the conversation (the stream can no longer be trusted). */
void rg__conn_fatal(conn_t *c, int code, const char *msg) {
  rg_metrics_error(c->srv->metrics, code);
  rg__conn_log(c->srv, RG_LOG_INFO, "closing connection", msg);
  if (rg_proto_write_error(&c->out, false, 0, code, msg) != RG_OK) {
    rg__conn_close(c);
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
  rg__conn_fatal(c, code, why);
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
  if (rg_engine_write_wal_seq(w) > c->wal_seq) c->wal_seq = rg_engine_write_wal_seq(w);
  if (!c->pending_writes) c->sliced_pending = false;
  if (c->closing) {
    rg_engine_finish_write(w, NULL);
    if (c->handle_closed && c->pending_writes == 0 && !c->offload) rg__conn_free(c);
    return;
  }
  if (rg_engine_finish_write(w, &c->out) != RG_OK) {
    rg__conn_drop(c, "reply does not fit the output buffer");
    return;
  }
  if (c->blocked && c->pending_writes < c->srv->cfg.max_pending_writes && !c->sliced_pending &&
      !c->offload) {
    c->blocked = false;
    conn_process(c);
  } else {
    rg__conn_flush(c);
  }
}

/* Answers one decoded request (rc: the decoder's result, err its message), or queues it as
 * a write; prep, when not NULL, is its write prepared off the loop. Returns 0, or non-zero
 * when the reply does not fit the output buffer (the connection must be dropped). */
static int conn_dispatch(conn_t *c, int rc, rg_request_t *req, char *err, size_t errlen,
                         bool unauth, rg_prepared_t *prep) {
  rg_server_t *s = c->srv;
  if (rc == RG_ENOT_A_MAP) {
    rg__conn_fatal(c, rc, err);
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
    if (c->handle_closed && c->pending_writes == 0) rg__conn_free(c);
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
    rg__conn_drop(c, "reply does not fit the output buffer");
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
      c->pending_writes || !rg_engine_wal_merged(s->engine, c->wal_seq))
    return false; /* (a read among such frames must wait for this connection's writes) */
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
         rg__conn_output(c) <= s->cfg.max_output_bytes) {
    size_t avail = c->in.len - off;
    if (avail < RG_FRAME_HEADER) break;
    bool unauth = c->role == RG_ROLE_NONE; /* then the frame may hold a token: wiped below */
    uint32_t len, max = unauth ? AUTH_FRAME_MAX : s->limits.max_frame_bytes;
    if (rg_proto_frame_length(c->in.data + off, max, &len) != RG_OK) {
      char msg[128];
      snprintf(msg, sizeof msg, "frame of %u bytes exceeds %s (%u)", len,
               unauth ? "the limit before auth" : "limits.max_frame_bytes", max);
      rg__conn_fatal(c, RG_ETOO_LARGE, msg);
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
    if (rc == RG_OK && !is_write && req.op != RG_OP_AUTH &&
        !rg_engine_wal_merged(s->engine, c->wal_seq)) {
      rg_request_free(&req); /* a read waits until this connection's logged ingests merge */
      c->blocked = c->wal_wait = true;
      break;
    }
    c->frame = body, c->frame_len = len;
    rc = conn_dispatch(c, rc, &req, err, sizeof err, unauth, NULL);
    rg_request_free(&req);
    if (unauth) rg_auth_wipe(body, len); /* whether or not it decoded */
    off += RG_FRAME_HEADER + (size_t)len;
    if (rc) {
      rg_engine_batch_end(s->engine);
      rg__conn_drop(c, "reply does not fit the output buffer");
      return;
    }
  }
  rg_engine_batch_end(s->engine);
  rg_buf_consume(&c->in, off);
  if (off || !c->frame_started_ms) c->frame_started_ms = c->in.len ? uv_now(s->loop) : 0;
  if (c->in.len == 0 && c->in.cap > IDLE_BUF_KEEP) rg_buf_reset(&c->in, IDLE_BUF_KEEP);
  rg__conn_flush(c);
}

void rg__conn_wal_merged(void *ctx) {
  rg_server_t *s = ctx;
  for (conn_t *c = s->conns, *next; c; c = next) {
    next = c->next; /* conn_process may drop c */
    if (!c->wal_wait || c->closing || !rg_engine_wal_merged(s->engine, c->wal_seq)) continue;
    c->wal_wait = false;
    if (c->pending_writes || c->offload) continue; /* their completion processes it */
    c->blocked = false;
    conn_process(c);
  }
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
    rg__conn_fatal(c, RG_ETOO_LARGE, "input buffer full");
    rg__conn_flush(c);
  } else if (rc == RG_EIO) {
    atomic_fetch_add(&c->srv->metrics->tls_failures, 1);
    conn_peer(c, peer, sizeof peer);
    snprintf(why, sizeof why, "%s (from %s)", err, peer);
    rg__conn_log(c->srv, RG_LOG_WARN, "closing connection", why);
    c->close_after_flush = true;
    rg__conn_flush(c);
  } else if (rc) {
    rg__conn_close(c);
  }
  return rc;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf) {
  conn_t *c = st->data;
  (void)buf;
  if (n == UV_ENOBUFS) {
    rg__conn_fatal(c, RG_ETOO_LARGE, "input buffer full");
    rg__conn_flush(c);
    return;
  }
  if (n < 0) {
    rg__conn_close(c); /* EOF or reset */
    return;
  }
  if (!c->tls)
    c->in.len += (size_t)n;
  else if (conn_tls_read(c, (size_t)n) != RG_OK)
    return;
  c->last_active_ms = uv_now(c->srv->loop);
  conn_process(c);
}
