/* http_metrics.c — /metrics, /healthz and /readyz over libmicrohttpd. The daemon runs one
 * internal polling thread (MHD_USE_INTERNAL_POLLING_THREAD): every handler below runs on it.
 * It reads the engine's counters (atomics), the store in its own read transactions (any
 * thread may read LMDB) and the heartbeat the loop thread stores each second; it never calls
 * into the loop. The text itself is rendered by rg_metrics_text_render (metrics_text.c). */
#include "repgraph/http_metrics.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repgraph/clock.h"
#include "repgraph/err.h"
#include "repgraph/log.h"
#include "repgraph/metrics_text.h"

#define HEARTBEAT_MS       1000      /* the loop stores its time this often */
#define HEARTBEAT_STALL_US 10000000u /* /healthz fails when the loop has not ticked this long */
#define LABEL_SCAN_MAX_S                                                                      \
  60                         /* labels by source are counted anew when their total moved, and \
                                at least this often (a relabel keeps the total) */
#define CONN_TIMEOUT_S    10 /* an HTTP connection idle this long is closed */
#define METRICS_MAX_BYTES (16u << 20)
#define TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct rg_http_metrics {
  rg_engine_t *engine;
  rg_store_t *store;
  rg_metrics_t *metrics;
  bool require_generation;
  struct MHD_Daemon *daemon;
  unsigned port;
  uv_timer_t heartbeat;
  bool timer_closed;
  atomic_uint_fast64_t heartbeat_us; /* rg_clock_mono_us of the loop's last tick */
  atomic_bool stopping;
  /* the HTTP thread's cache of labels by source (a scan of the labels) */
  pthread_mutex_t cache_lock;
  int64_t labels_at;
  uint64_t labels_total;
  bool labels_ok;
  uint64_t labels[RG_METRICS_SOURCES][3];
};

static void on_heartbeat(uv_timer_t *t) {
  rg_http_metrics_t *h = t->data;
  atomic_store(&h->heartbeat_us, rg_clock_mono_us());
}

/* ---- what a scrape reads (HTTP thread) --------------------------------------------------- */

typedef struct {
  uint64_t (*labels)[3];
} label_count_t;

static int count_label(void *ctx, uint64_t id, const rg_label_t *l) {
  label_count_t *c = ctx;
  if ((int)l->source > 0 && (int)l->source < RG_METRICS_SOURCES &&
      (l->verdict == RG_VERDICT_BAD || l->verdict == RG_VERDICT_GOOD))
    c->labels[l->source][l->verdict]++;
  (void)id;
  return 0;
}

/* Labels by source and verdict, from the cache or a fresh scan in transaction t. */
static void read_labels(rg_http_metrics_t *h, rg_txn_t *t, uint64_t total, int64_t now,
                        rg_metrics_view_t *v) {
  pthread_mutex_lock(&h->cache_lock);
  int64_t age = now - h->labels_at;
  bool stale = !h->labels_ok || age >= LABEL_SCAN_MAX_S || age < 0 || total != h->labels_total;
  if (stale) {
    uint64_t fresh[RG_METRICS_SOURCES][3] = {{0}};
    label_count_t c = {fresh};
    if (rg_store_scan_labels(t, count_label, &c) == RG_OK) {
      memcpy(h->labels, fresh, sizeof fresh);
      h->labels_ok = true;
      h->labels_at = now;
      h->labels_total = total;
    }
  }
  v->labels_ok = h->labels_ok;
  memcpy(v->labels, h->labels, sizeof v->labels);
  pthread_mutex_unlock(&h->cache_lock);
}

/* Fills the view; v->ready says whether the store answered (and a generation exists if
 * required), with the reason in why otherwise. */
static void read_view(rg_http_metrics_t *h, bool with_details, rg_metrics_view_t *v, char *why,
                      size_t cap) {
  memset(v, 0, sizeof *v);
  v->now = rg_clock_now();
  uint64_t beat = atomic_load(&h->heartbeat_us), mono = rg_clock_mono_us();
  v->loop_heartbeat_age_s = beat && mono > beat ? (double)(mono - beat) / 1e6 : 0;
  snprintf(why, cap, "ready");
  rg_store_info(h->store, &v->info);
  rg_txn_t *t;
  int rc = rg_store_read_begin(h->store, &t);
  if (rc) {
    snprintf(why, cap, "the store cannot be read: %s", rg_strerror(rc));
    return;
  }
  rc = rg_store_get_generation(t, &v->generation);
  v->has_generation = rc == RG_OK;
  bool gen_ok = rc == RG_OK || rc == RG_ENOT_FOUND;
  if (with_details && rg_store_counts(t, &v->counts) == RG_OK) {
    v->store_ok = true;
    read_labels(h, t, v->counts.labels, v->now, v);
  }
  rg_store_end(t);
  if (!gen_ok)
    snprintf(why, cap, "the current generation cannot be read: %s", rg_strerror(rc));
  else if (h->require_generation && !v->has_generation)
    snprintf(why, cap, "no generation yet (metrics.ready_requires_generation)");
  else if (atomic_load(&h->stopping))
    snprintf(why, cap, "shutting down");
  else
    v->ready = true;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             void *body, size_t len, bool owned) {
  struct MHD_Response *r = owned
                               ? MHD_create_response_from_buffer_with_free_callback(len, body, free)
                               : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
  if (!r) {
    if (owned) free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  enum MHD_Result ok = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                  ...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                  ...) {
  char body[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  size_t len = n < 0 ? 0 : (size_t)n < sizeof body ? (size_t)n : sizeof body - 1;
  return reply(conn, status, "text/plain; charset=utf-8", body, len, false);
}

static enum MHD_Result serve_metrics(rg_http_metrics_t *h, struct MHD_Connection *conn) {
  rg_metrics_view_t v;
  char why[160];
  read_view(h, true, &v, why, sizeof why);
  rg_buf_t out;
  rg_buf_init(&out, METRICS_MAX_BYTES);
  int rc = rg_metrics_text_render(h->metrics, &v, &out);
  if (rc) {
    rg_buf_free(&out);
    rg_log_warn("metrics: cannot render: %s", rg_strerror(rc));
    return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render: %s\n", rg_strerror(rc));
  }
  return reply(conn, MHD_HTTP_OK, TEXT_CONTENT_TYPE, out.data, out.len, true);
}

static enum MHD_Result serve_healthz(rg_http_metrics_t *h, struct MHD_Connection *conn) {
  uint64_t beat = atomic_load(&h->heartbeat_us), now = rg_clock_mono_us();
  if (atomic_load(&h->stopping))
    return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down\n");
  if (now > beat && now - beat > HEARTBEAT_STALL_US)
    return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the event loop has not run for %.1f s\n",
                      (double)(now - beat) / 1e6);
  return reply_text(conn, MHD_HTTP_OK, "ok\n");
}

static enum MHD_Result serve_readyz(rg_http_metrics_t *h, struct MHD_Connection *conn) {
  rg_metrics_view_t v;
  char why[160];
  read_view(h, false, &v, why, sizeof why);
  return reply_text(conn, v.ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "%s\n", why);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  rg_http_metrics_t *h = cls;
  (void)version, (void)upload, (void)con_cls;
  if (*upload_size) { /* a body: not ours to read */
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
    return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET or HEAD only\n");
  if (strcmp(url, "/metrics") == 0) return serve_metrics(h, conn);
  if (strcmp(url, "/healthz") == 0) return serve_healthz(h, conn);
  if (strcmp(url, "/readyz") == 0) return serve_readyz(h, conn);
  return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  char msg[256];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  rg_log_warn("metrics: libmicrohttpd: %s", msg);
  (void)cls;
}

/* ---- life cycle (loop thread) ---------------------------------------------------------- */

int rg_http_metrics_open(const rg_config_t *cfg, uv_loop_t *loop, rg_engine_t *e,
                         rg_http_metrics_t **out, char *err, size_t errlen) {
  *out = NULL;
  if (!cfg->metrics_listen[0]) return RG_OK;
  char host[80];
  unsigned port;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  bool ipv6 = false;
  if (rg_config_split_host_port(cfg->metrics_listen, host, sizeof host, &port) != RG_OK) {
    snprintf(err, errlen, "metrics.listen: '%s' is not IP:port", cfg->metrics_listen);
    return RG_ECONFIG;
  }
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    ipv6 = true;
  } else {
    snprintf(err, errlen, "metrics.listen: '%s' is not an IP address", host);
    return RG_ECONFIG;
  }
  rg_http_metrics_t *h = calloc(1, sizeof *h);
  if (!h) return RG_ENOMEM;
  h->engine = e;
  h->store = rg_engine_store(e);
  h->metrics = rg_engine_metrics(e);
  h->require_generation = cfg->metrics_ready_generation != 0;
  pthread_mutex_init(&h->cache_lock, NULL);
  atomic_store(&h->heartbeat_us, rg_clock_mono_us());
  unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (ipv6 ? MHD_USE_IPv6 : 0);
  h->daemon =
      MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                       on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                       MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->metrics_max_connections,
                       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S, MHD_OPTION_END);
  if (!h->daemon) {
    snprintf(err, errlen,
             "metrics.listen: cannot listen on %s (in use, or not an address of "
             "this host)",
             cfg->metrics_listen);
    pthread_mutex_destroy(&h->cache_lock);
    free(h);
    return RG_EIO;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : port;
  uv_timer_init(loop, &h->heartbeat);
  h->heartbeat.data = h;
  uv_timer_start(&h->heartbeat, on_heartbeat, HEARTBEAT_MS, HEARTBEAT_MS);
  uv_unref((uv_handle_t *)&h->heartbeat); /* it alone does not keep the loop running */
  rg_log_info("metrics: listening on http://%s/metrics (also /healthz, /readyz)",
              cfg->metrics_listen);
  if (!rg_config_is_loopback(host))
    rg_log_warn(
        "metrics: %s is not a loopback address: anyone who reaches it can read the "
        "counters (no actor identifiers); firewall it or listen on 127.0.0.1",
        host);
  *out = h;
  return RG_OK;
}

unsigned rg_http_metrics_port(const rg_http_metrics_t *h) {
  return h ? h->port : 0;
}

static void on_timer_closed(uv_handle_t *handle) {
  rg_http_metrics_t *h = handle->data;
  h->timer_closed = true;
}

void rg_http_metrics_shutdown(rg_http_metrics_t *h) {
  if (!h || atomic_load(&h->stopping)) return;
  atomic_store(&h->stopping, true);
  uv_close((uv_handle_t *)&h->heartbeat, on_timer_closed);
}

void rg_http_metrics_close(rg_http_metrics_t *h) {
  if (!h) return;
  MHD_stop_daemon(h->daemon);
  pthread_mutex_destroy(&h->cache_lock);
  free(h);
}
