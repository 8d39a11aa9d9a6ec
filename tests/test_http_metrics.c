/* test_http_metrics.c — the monitoring listener and the daemon's logging and reload, against
 * the real repgraphd started on a temporary store: /healthz, /readyz (with and without
 * metrics.ready_requires_generation), /metrics counters that move with traffic, wrong paths
 * and methods; JSON log lines; the sampled request log with and without log.actors; SIGHUP
 * re-reading the config file (applied, needing a restart, refused). Waits are bounded
 * polls, never sleeps. */
#include <arpa/inet.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "testutil.h"

#define WAIT_MS 10000 /* bound of every poll below */

/* GET (or another method) of path on 127.0.0.1:port: the status (0 if no answer) and the
 * body in body (capacity cap, NUL-terminated). */
static int http(unsigned port, const char *method, const char *path, char *body, size_t cap) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    body[0] = '\0';
    return 0;
  }
  char req[256];
  int n = snprintf(req, sizeof req,
                   "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", method, path);
  assert_int_equal(write(fd, req, (size_t)n), n);
  static char resp[1 << 20];
  size_t len = 0;
  ssize_t r;
  while (len < sizeof resp - 1 && (r = read(fd, resp + len, sizeof resp - 1 - len)) > 0)
    len += (size_t)r;
  resp[len] = '\0';
  close(fd);
  int status = 0;
  if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) status = 0;
  const char *b = strstr(resp, "\r\n\r\n");
  snprintf(body, cap, "%s", b ? b + 4 : "");
  return status;
}

/* The value of the sample `prefix` (name with labels) in /metrics; -1 if absent. */
static double metric(unsigned port, const char *prefix) {
  static char body[1 << 20];
  assert_int_equal(http(port, "GET", "/metrics", body, sizeof body), 200);
  size_t n = strlen(prefix);
  for (const char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, prefix, n) == 0 && p[n] == ' ') return strtod(p + n + 1, NULL);
  return -1;
}

/* Polls until the sample reaches at least `want` (bounded); returns its last value. */
static double wait_metric(unsigned port, const char *prefix, double want) {
  uint64_t deadline = rg_test_now_ms() + WAIT_MS;
  double v;
  while ((v = metric(port, prefix)) < want && rg_test_now_ms() < deadline) {
  }
  return v;
}

static char *read_log(const rg_test_server_t *s) {
  size_t len;
  uint8_t *text = rg_test_read_file(s->log, &len);
  char *out = realloc(text, len + 1);
  assert_non_null(out);
  out[len] = '\0';
  return out;
}

/* Polls the server's log until it holds `needle` (bounded). */
static bool wait_log(const rg_test_server_t *s, const char *needle) {
  uint64_t deadline = rg_test_now_ms() + WAIT_MS;
  for (;;) {
    char *log = read_log(s);
    bool found = strstr(log, needle) != NULL;
    free(log);
    if (found || rg_test_now_ms() >= deadline) return found;
  }
}

typedef struct {
  char *dir;
  rg_test_server_t srv;
  unsigned mport;
  char conf[300];
} fx_t;

static fx_t *running; /* the test's server, for the teardown of a test that failed */

/* Starts the server with metrics.listen on a free port, a config file holding `conf` (may
 * be NULL) and extra --set options. */
static fx_t *start(const char *conf, const char *const *sets) {
  fx_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  f->dir = rg_test_mkdtemp();
  f->mport = rg_test_free_port();
  static char listen[64];
  snprintf(listen, sizeof listen, "metrics.listen=127.0.0.1:%u", f->mport);
  const char *argv[32] = {"--set", listen};
  size_t n = 2;
  if (conf) {
    snprintf(f->conf, sizeof f->conf, "%s/repgraphd.conf", f->dir);
    rg_test_write_file(f->conf, 0644, conf);
    argv[n++] = "--config";
    argv[n++] = f->conf;
  }
  for (size_t i = 0; sets && sets[i] && n < 30; i++) argv[n++] = "--set", argv[n++] = sets[i];
  argv[n] = NULL;
  rg_test_server_start(&f->srv, f->dir, argv);
  running = f;
  /* the monitoring listener opens before the TCP listener the start waited for */
  char body[256];
  assert_int_equal(http(f->mport, "GET", "/healthz", body, sizeof body), 200);
  return f;
}

static void stop(fx_t *f) {
  running = NULL;
  rg_test_teardown_server(&f->srv, f->dir);
  free(f);
}

static int teardown(void **state) {
  (void)state;
  if (running) {
    rg_test_server_kill(&running->srv);
    rg_test_rmtree(running->dir);
    free(running->dir);
    free(running);
    running = NULL;
  }
  return 0;
}

static void ingest(rg_client_t *c) {
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 1, \"op\": \"ingest\", \"observations\": ["
               "{\"sender\": \"spammer@bad.example\", \"client_ip\": \"203.0.113.7\","
               " \"recipients\": [\"a@victim.example\", \"b@victim.example\"]},"
               "{\"sender\": \"x@y.example\", \"client_ip\": \"not-an-ip\", \"recipients\": []}]}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 1);
  assert_int_equal(rg_test_uint(&r.data, "rejected_count"), 1);
  msgpack_unpacked_destroy(&r);
}

static void test_http_metrics_health_ready_and_wrong_requests(void **state) {
  (void)state;
  fx_t *f = start(NULL, NULL);
  char body[512];
  assert_int_equal(http(f->mport, "GET", "/healthz", body, sizeof body), 200);
  assert_string_equal(body, "ok\n");
  assert_int_equal(http(f->mport, "GET", "/readyz", body, sizeof body), 200);
  assert_string_equal(body, "ready\n");
  assert_int_equal(http(f->mport, "GET", "/nothing", body, sizeof body), 404);
  assert_int_equal(http(f->mport, "POST", "/metrics", body, sizeof body), 405);
  assert_int_equal(http(f->mport, "HEAD", "/metrics", body, sizeof body), 200);
  assert_int_equal(metric(f->mport, "repgraph_ready"), 1);
  assert_true(metric(f->mport, "repgraph_loop_heartbeat_age_seconds") >= 0);
  stop(f);
}

static void test_http_metrics_counters_move_with_traffic(void **state) {
  (void)state;
  fx_t *f = start(NULL, NULL);
  unsigned p = f->mport;
  assert_int_equal(metric(p, "repgraph_requests_total{op=\"ingest\"}"), 0);
  assert_int_equal(metric(p, "repgraph_ingested_observations_total"), 0);
  assert_int_equal(metric(p, "repgraph_connections"), 0);
  rg_client_t *c = rg_test_connect(&f->srv);
  ingest(c);
  assert_int_equal(metric(p, "repgraph_connections"), 1);
  assert_int_equal(metric(p, "repgraph_requests_total{op=\"ingest\"}"), 1);
  assert_int_equal(metric(p, "repgraph_request_duration_seconds_count{op=\"ingest\"}"), 1);
  assert_int_equal(metric(p, "repgraph_ingested_observations_total"), 1);
  /* sender→2 recipients, sent_from, in_net, uses_domain */
  assert_int_equal(metric(p, "repgraph_ingested_edges_total"), 5);
  assert_int_equal(
      metric(p, "repgraph_ingest_rejects_total{item=\"observations\",reason=\"invalid_actor\"}"),
      1);
  assert_int_equal(metric(p, "repgraph_actors{type=\"address\"}"), 3);
  assert_int_equal(metric(p, "repgraph_edges{kind=\"mailed\"}"), 2);
  assert_true(metric(p, "repgraph_writer_commits_total") >= 1);
  assert_int_equal(metric(p, "repgraph_writer_commit_size_count"),
                   metric(p, "repgraph_writer_commits_total"));
  assert_true(metric(p, "repgraph_store_used_bytes") > 0);
  msgpack_unpacked r;
  rg_test_call(
      c, &r,
      "{\"id\": 2, \"op\": \"label\", \"labels\": [{\"actor\": "
      "\"address:spammer@bad.example\", \"verdict\": \"bad\", \"source\": \"spam_trap\"}]}");
  char code[64];
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 1);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"recompute\", \"wait\": true}");
  msgpack_unpacked_destroy(&r);
  assert_int_equal(metric(p, "repgraph_ingested_labels_total"), 1);
  assert_int_equal(metric(p, "repgraph_labels{source=\"spam_trap\",verdict=\"bad\"}"), 1);
  assert_int_equal(metric(p, "repgraph_recompute_runs_total{result=\"ok\"}"), 1);
  assert_int_equal(metric(p, "repgraph_generation"), 1);
  assert_true(metric(p, "repgraph_generation_age_seconds") >= 0);
  assert_true(metric(p, "repgraph_recompute_last_duration_seconds") > 0);
  rg_test_call(c, &r, "{\"id\": 4, \"op\": \"lookup\", \"actors\": [\"address:\"]}");
  msgpack_unpacked_destroy(&r);
  assert_true(metric(p, "repgraph_errors_total{code=\"invalid_actor\"}") >= 0);
  rg_client_close(c);
  stop(f);
}

static void test_http_metrics_not_ready_until_a_generation_when_required(void **state) {
  (void)state;
  const char *const sets[] = {"metrics.ready_requires_generation=1", NULL};
  fx_t *f = start(NULL, sets);
  char body[512];
  assert_int_equal(http(f->mport, "GET", "/readyz", body, sizeof body), 503);
  assert_non_null(strstr(body, "no generation"));
  assert_int_equal(http(f->mport, "GET", "/healthz", body, sizeof body), 200); /* alive */
  rg_client_t *c = rg_test_connect(&f->srv);
  ingest(c);
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"recompute\", \"wait\": true}");
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  assert_int_equal(http(f->mport, "GET", "/readyz", body, sizeof body), 200);
  stop(f);
}

static void test_http_metrics_json_logs_and_sampled_request_log(void **state) {
  (void)state;
  const char *const sets[] = {"log.format=json", "log.requests=1", NULL};
  fx_t *f = start(NULL, sets);
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 7, \"op\": \"check\", \"sender\": \"who@where.example\", "
               "\"client_ip\": \"198.51.100.9\", \"recipients\": [\"r@x.example\"]}");
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  assert_int_equal(wait_metric(f->mport, "repgraph_requests_logged_total", 1), 1);
  assert_true(wait_log(&f->srv, "\"msg\":\"request\""));
  char *log = read_log(&f->srv);
  size_t lines = 0, requests = 0;
  for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"), lines++) {
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    if (!o) fail_msg("not a JSON line: %s (%s)", line, jerr.text);
    assert_true(json_is_string(json_object_get(o, "ts")));
    assert_true(json_is_string(json_object_get(o, "level")));
    assert_true(json_is_string(json_object_get(o, "msg")));
    if (strcmp(json_string_value(json_object_get(o, "msg")), "request") == 0) {
      requests++;
      assert_string_equal(json_string_value(json_object_get(o, "op")), "check");
      assert_int_equal(json_integer_value(json_object_get(o, "id")), 7);
      assert_string_equal(json_string_value(json_object_get(o, "result")), "ok");
      assert_null(json_object_get(o, "sender")); /* log.actors=0: no identifiers */
    }
    json_decref(o);
  }
  assert_true(lines >= 3);
  assert_int_equal(requests, 1);
  assert_null(strstr(log, "who@where.example"));
  free(log);
  stop(f);
}

static void test_http_metrics_request_log_names_actors_only_with_log_actors(void **state) {
  (void)state;
  const char *const sets[] = {"log.requests=1", "log.actors=1", NULL};
  fx_t *f = start(NULL, sets);
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 8, \"op\": \"check\", \"sender\": \"who@where.example\", "
               "\"client_ip\": \"198.51.100.9\", \"recipients\": [\"r@x.example\"]}");
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  assert_true(wait_log(&f->srv, "msg=request op=check id=8 result=ok"));
  assert_true(wait_log(&f->srv, "sender=who@where.example client_ip=198.51.100.9"));
  stop(f);
}

static void test_http_metrics_sighup_rereads_the_config_file(void **state) {
  (void)state;
  fx_t *f = start("[check]\nreject = 0.9\n[store]\nmap_max = 64G\n", NULL);
  /* the command line (--log-level info, from the fixture) still wins over the file */
  unsigned p = f->mport;
  assert_int_equal(metric(p, "repgraph_config_reloads_total"), 0);
  rg_test_write_file(
      f->conf, 0644,
      "[check]\nreject = 0.95\n[score]\nmin_messages = 5\n[server]\nlog_level = debug\n"
      "[store]\nmap_max = 32G\n");
  assert_int_equal(kill(f->srv.pid, SIGHUP), 0);
  assert_int_equal(wait_metric(p, "repgraph_config_reloads_total", 1), 1);
  assert_true(wait_log(&f->srv, "reload: applied score.min_messages, check.reject\""));
  assert_true(wait_log(&f->srv, "needing a restart: store.map_max"));
  /* a file that no longer validates changes nothing and the server keeps serving */
  rg_test_write_file(f->conf, 0644, "[check]\nreject = 0.1\ntempfail = 0.5\n");
  assert_int_equal(kill(f->srv.pid, SIGHUP), 0);
  assert_int_equal(wait_metric(p, "repgraph_config_reload_failures_total", 1), 1);
  assert_true(wait_log(&f->srv, "reload: configuration unchanged"));
  char body[64];
  assert_int_equal(http(p, "GET", "/healthz", body, sizeof body), 200);
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 1, \"op\": \"ping\"}");
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  stop(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_http_metrics_health_ready_and_wrong_requests, teardown),
      cmocka_unit_test_teardown(test_http_metrics_counters_move_with_traffic, teardown),
      cmocka_unit_test_teardown(test_http_metrics_not_ready_until_a_generation_when_required,
                                teardown),
      cmocka_unit_test_teardown(test_http_metrics_json_logs_and_sampled_request_log, teardown),
      cmocka_unit_test_teardown(test_http_metrics_request_log_names_actors_only_with_log_actors,
                                teardown),
      cmocka_unit_test_teardown(test_http_metrics_sighup_rereads_the_config_file, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
