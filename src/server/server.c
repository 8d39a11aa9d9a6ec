/* server.c — listeners, accepting, timers, signals and the life cycle on the libuv loop
 * thread; one connection's framing, dispatch and output are conn.c's. Each connection
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

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/sockfile.h"
#include "server_internal.h"

/* At the connection limit: closes the connection idle longest (not `newcomer`; one that has
 * not authenticated before one that has) if it has been idle at least limits.evict_idle —
 * no request in progress, nothing buffered either way — so idle connections cannot hold the
 * server hostage. True when one was closed. */
static bool evict_idlest(rg_server_t *s, conn_t *newcomer) {
  uint64_t now = uv_now(s->loop), min_idle = s->cfg.evict_idle_s * 1000;
  conn_t *victim = NULL;
  for (conn_t *c = s->conns; c; c = c->next) {
    if (c == newcomer || c->closing || c->close_after_flush || c->pending_writes || c->writing ||
        c->in.len || rg__conn_output(c) || now - c->last_active_ms < min_idle)
      continue;
    bool better = !victim || (c->role == RG_ROLE_NONE) > (victim->role == RG_ROLE_NONE) ||
                  ((c->role == RG_ROLE_NONE) == (victim->role == RG_ROLE_NONE) &&
                   c->last_active_ms <= victim->last_active_ms); /* the list is newest first */
    if (better) victim = c;
  }
  if (!victim) return false;
  atomic_fetch_add(&s->metrics->conns_evicted, 1);
  rg__conn_count_drop(victim);
  rg__conn_fatal(victim, RG_EBUSY, "closed to make room: idle longest at limits.max_connections");
  rg__conn_flush(victim);
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
  rg_buf_init(&c->out, 0); /* the output limit is enforced in rg__conn_flush */
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
    rg__conn_close(c);
    return;
  }
  if (listener == (uv_stream_t *)&s->tcp) uv_tcp_nodelay(&c->h.tcp, 1);
  if (listener == (uv_stream_t *)&s->tcp && s->tls && rg_tls_conn_new(s->tls, &c->tls)) {
    rg__conn_close(c);
    return;
  }
  c->last_active_ms = c->accepted_ms = uv_now(s->loop);
  if (atomic_load(&s->metrics->conns_current) > s->cfg.max_connections && !evict_idlest(s, c)) {
    atomic_fetch_add(&s->metrics->conns_refused, 1);
    rg__conn_fatal(c, RG_EBUSY, "limits.max_connections reached; try again later");
    rg__conn_flush(c);
    return;
  }
  rg__conn_update_reading(c);
}

/* ---- timers, signals, shutdown ---------------------------------------------------- */

/* Ends with a `timeout` error the connections that have not authenticated within
 * auth.timeout of connecting, or whose frame has been arriving for longer than
 * limits.frame_timeout. */
static void conn_timeout(conn_t *c, const char *what, const char *option, uint64_t secs) {
  char msg[128];
  snprintf(msg, sizeof msg, "%s within %s (%llu s)", what, option, (unsigned long long)secs);
  rg__conn_count_drop(c);
  rg__conn_fatal(c, RG_ETIMEOUT, msg);
  rg__conn_flush(c);
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
      if (now - c->last_active_ms >= stall) rg__conn_drop(c, "its last reply was not taken");
    } else if (c->role == RG_ROLE_NONE && now - c->accepted_ms >= s->cfg.auth_timeout_s * 1000) {
      conn_timeout(c, "no auth request", "auth.timeout", s->cfg.auth_timeout_s);
    } else if (frame && c->reading && c->frame_started_ms && now - c->frame_started_ms >= frame) {
      conn_timeout(c, "frame not complete", "limits.frame_timeout", s->cfg.frame_timeout_s);
    } else if (c->stall_since_ms && now - c->stall_since_ms >= stall) {
      rg__conn_drop(c, "replies past the soft output limit made no progress for limits.output_stall");
    } else if (idle && now - c->last_active_ms >= idle) {
      rg__conn_log(s, RG_LOG_INFO, "closing connection", "idle for limits.idle_timeout");
      rg__conn_close(c);
    }
  }
}

static void on_grace_timer(uv_timer_t *t) {
  rg_server_t *s = t->data;
  for (conn_t *c = s->conns, *next; c; c = next) {
    next = c->next;
    rg__conn_close(c);
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
    rg__conn_flush(c);
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
  if (!rc && cfg->cluster_enabled) rc = rg_cluster_bootstrap(cfg, err, errlen); /* a new replica */
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
  rg_engine_set_wal_hook(s->engine, rg__conn_wal_merged, s); /* reads waiting for a merge */
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
