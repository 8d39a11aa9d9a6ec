/* test_tls.c — TLS and mutual TLS on repgraphd's TCP listener, against the real server. The
 * group set-up makes a throw-away CA with the openssl command (a server certificate for
 * 127.0.0.1 and localhost, a client certificate) and a second, untrusted CA with its own
 * client certificate; each test starts repgraphd on a temporary store and a free port with
 * --set tls.… options. Skipped (77) when the openssl command is missing. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "repgraph/err.h"
#include "testutil.h"

#define WAIT_MS 5000

static char *pki; /* the certificates, made once */

typedef struct {
  char *dir;
  rg_test_server_t srv;
} fixture_t;

static const char *path_of(const char *name) {
  static char buf[8][512];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, sizeof buf[0], "%s/%s", pki, name);
  return p;
}

/* ---- the certificates ------------------------------------------------------------- */

static const char MAKE_PKI[] =
    "set -e; cd '%s'\n"
    "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \\\n"
    "       -keyout $1.key -out $1.pem -subj /CN=$1; }\n"
    "leaf() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key \\\n"
    "         -out $1.csr -subj /CN=$1\n"
    "  printf 'subjectAltName=%%s\\nextendedKeyUsage=%%s\\n' \"$3\" \"$4\" > $1.ext\n"
    "  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -set_serial $5 -days 2 \\\n"
    "          -extfile $1.ext -out $1.pem\n"
    "  chmod 600 $1.key; }\n"
    "ca ca; ca otherca\n"
    "leaf server ca DNS:localhost,IP:127.0.0.1 serverAuth 1\n"
    "leaf client ca DNS:filter.example clientAuth 2\n"
    "leaf rogue otherca DNS:rogue.example clientAuth 3\n";

static int group_setup(void **state) {
  (void)state;
  char *out = NULL;
  if (rg_test_run("openssl version 2>&1", &out) != 0) {
    printf("SKIPPED: the openssl command is not installed (apt-get install openssl): %s\n", out);
    free(out);
    exit(77);
  }
  free(out);
  pki = rg_test_mkdtemp();
  char cmd[2048];
  snprintf(cmd, sizeof cmd, MAKE_PKI, pki);
  char script[600];
  snprintf(script, sizeof script, "%s/make.sh", pki);
  rg_test_write_file(script, 0600, cmd);
  snprintf(cmd, sizeof cmd, "sh '%s' 2>&1", script);
  int rc = rg_test_run(cmd, &out);
  if (rc != 0) fail_msg("making the test CA failed: %s", out);
  free(out);
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  rg_test_rmtree(pki);
  free(pki);
  return 0;
}

static int setup(void **state) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_test_teardown_server(&f->srv, f->dir);
  free(f);
  return 0;
}

/* Starts repgraphd with TLS (server.pem), and mutual TLS when `mutual`. */
static void start(fixture_t *f, bool mutual) {
  char cert[600], key[600], ca[600];
  snprintf(cert, sizeof cert, "tls.cert=%s", path_of("server.pem"));
  snprintf(key, sizeof key, "tls.key=%s", path_of("server.key"));
  snprintf(ca, sizeof ca, "tls.client_ca=%s", path_of("ca.pem"));
  const char *args[] = {"--set", cert, "--set", key, mutual ? "--set" : NULL, ca, NULL};
  rg_test_server_start(&f->srv, f->dir, args);
}

/* ---- helpers ---------------------------------------------------------------------- */

/* Connects over TLS; the connect's result is returned, the client in *out. */
static int connect_tls(const fixture_t *f, const char *ca, const char *name, const char *cert,
                       rg_client_t **out, char *err, size_t errlen) {
  rg_client_tls_t t = {.ca_file = ca ? path_of(ca) : NULL,
                       .server_name = name,
                       .cert_file = cert ? path_of(cert) : NULL};
  char key[64];
  if (cert) {
    snprintf(key, sizeof key, "%.*s.key", (int)(strlen(cert) - 4), cert);
    t.key_file = path_of(key);
  }
  err[0] = '\0';
  return rg_client_connect_tls("127.0.0.1", f->srv.port, WAIT_MS, &t, out, err, errlen);
}

static rg_client_t *connect_ok(const fixture_t *f, const char *name, const char *cert) {
  rg_client_t *c;
  char err[512];
  if (connect_tls(f, "ca.pem", name, cert, &c, err, sizeof err) != RG_OK) fail_msg("%s", err);
  return c;
}

static void ping(rg_client_t *c) {
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 7, \"op\": \"ping\"}");
  assert_int_equal(rg_test_uint(&r.data, "id"), 7);
  assert_true(rg_test_get(&r.data, "pong")->via.boolean);
  msgpack_unpacked_destroy(&r);
}

static uint64_t stat_of(rg_client_t *c, const char *path) {
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 1, \"op\": \"stats\"}");
  uint64_t v = rg_test_uint(&r.data, path);
  msgpack_unpacked_destroy(&r);
  return v;
}

/* Asks for stats until `path` reaches at least `want` (at most WAIT_MS); returns it. */
static uint64_t wait_stat(rg_client_t *c, const char *path, uint64_t want) {
  uint64_t deadline = rg_test_now_ms() + WAIT_MS, v;
  while ((v = stat_of(c, path)) < want && rg_test_now_ms() < deadline) {
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL); /* polling the server's counters, bounded by the deadline */
  }
  return v;
}

/* Ingests one observation and looks its sender up: the full write and read path. */
static void ingest_and_lookup(rg_client_t *c) {
  msgpack_unpacked r;
  char code[64];
  rg_test_call(c, &r,
               "{\"id\": 2, \"op\": \"ingest\", \"observations\": [{\"ts\": 1800000000,"
               " \"sender\": \"spammer@bad.example\", \"recipients\": [\"a@x.example\","
               " \"b@y.example\"], \"client_ip\": \"203.0.113.7\"}]}");
  assert_string_equal(rg_test_code_of(&r, code), "(no error)");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 1);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r,
               "{\"id\": 3, \"op\": \"lookup\", \"actors\": [\"address:spammer@bad.example\"]}");
  assert_true(rg_test_get(&r.data, "results.0.known")->via.boolean);
  assert_int_equal(rg_test_uint(&r.data, "results.0.out_degree.mailed"), 2);
  msgpack_unpacked_destroy(&r);
}

/* A TLS client the server refused: either the handshake fails, or (TLS 1.3: the server
 * checks the client's certificate after the client has finished) the first reply never
 * comes. The reason OpenSSL gives must contain `why`. */
static void expect_refused(const fixture_t *f, const char *ca, const char *cert, const char *why) {
  rg_client_t *c = NULL;
  char err[512];
  int rc = connect_tls(f, ca, NULL, cert, &c, err, sizeof err);
  if (rc == RG_OK) {
    rg_buf_t frame, body;
    rg_buf_init(&frame, 0);
    rg_buf_init(&body, 0);
    rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"ping\"}");
    rg_client_send(c, frame.data, frame.len); /* may fail: the alert may have come first */
    rc = rg_client_recv(c, &body, 1 << 20);
    snprintf(err, sizeof err, "%s", rg_client_tls_error(c));
    rg_buf_free(&frame);
    rg_buf_free(&body);
    rg_client_close(c);
  }
  assert_int_equal(rc, RG_EIO);
  if (!strstr(err, why)) fail_msg("refused for '%s', expected '%s'", err, why);
}

/* True when the server closes `fd` within WAIT_MS; what it sent first (a TLS alert at most)
 * is read and dropped. */
static bool closed_by_server(int fd) {
  uint64_t deadline = rg_test_now_ms() + WAIT_MS;
  char scratch[4096];
  while (rg_test_now_ms() < deadline) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)(deadline - rg_test_now_ms())) <= 0) continue;
    ssize_t n = recv(fd, scratch, sizeof scratch, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
    if (n > 0 && (unsigned char)scratch[0] != 0x15) return false; /* not an alert record */
  }
  return false;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_tls_client_trusting_the_ca_is_served(void **state) {
  fixture_t *f = *state;
  start(f, false);
  rg_client_t *c = connect_ok(f, NULL, NULL); /* verified as 127.0.0.1 (an IP SAN) */
  ping(c);
  ingest_and_lookup(c);
  rg_client_t *d = connect_ok(f, "localhost", NULL); /* verified as a DNS name, with SNI */
  ping(d);
  assert_int_equal(stat_of(d, "connections.tls_failures"), 0);
  rg_client_close(d);
  rg_client_close(c);
}

/* Replies larger than a TLS record (16 KiB) and requests spread over many records: the
 * memory BIOs carry both ways in pieces. */
static void test_tls_carries_large_requests_and_replies(void **state) {
  fixture_t *f = *state;
  start(f, false);
  rg_client_t *c = connect_ok(f, NULL, NULL);
  enum { N = 3000 };
  size_t cap = (size_t)N * 64 + 256;
  char *req = malloc(cap);
  size_t len = (size_t)snprintf(req, cap, "{\"id\": 5, \"op\": \"lookup\", \"actors\": [");
  for (int i = 0; i < N; i++)
    len += (size_t)snprintf(req + len, cap - len, "%s\"address:someone-%05d@example.org\"",
                            i ? ", " : "", i);
  snprintf(req + len, cap - len, "]}");
  for (int round = 0; round < 3; round++) {
    msgpack_unpacked r;
    rg_test_call(c, &r, "%s", req);
    assert_int_equal(r.data.via.map.size > 0, 1);
    assert_true(rg_test_str_is(&r.data, "results.2999.actor", "address:someone-02999@example.org"));
    msgpack_unpacked_destroy(&r);
  }
  free(req);
  ping(c);
  rg_client_close(c);
}

static void test_tls_client_trusting_another_ca_is_refused(void **state) {
  fixture_t *f = *state;
  start(f, false);
  rg_client_t *c = NULL;
  char err[512];
  assert_int_equal(connect_tls(f, "otherca.pem", NULL, NULL, &c, err, sizeof err), RG_EIO);
  assert_null(c);
  assert_non_null(strstr(err, "certificate is not trusted"));
  /* the right CA, the wrong name */
  assert_int_equal(connect_tls(f, "ca.pem", "mail.example.org", NULL, &c, err, sizeof err), RG_EIO);
  assert_non_null(strstr(err, "hostname mismatch"));
  rg_client_t *ok = connect_ok(f, NULL, NULL);
  assert_int_equal(wait_stat(ok, "connections.tls_failures", 2), 2); /* the two alerts */
  rg_client_close(ok);
}

static void test_tls_plaintext_client_is_disconnected_while_tls_clients_are_served(void **state) {
  fixture_t *f = *state;
  start(f, false);
  rg_client_t *tls = connect_ok(f, NULL, NULL);
  ping(tls);
  rg_client_t *plain = rg_test_connect(&f->srv);
  rg_buf_t frame;
  rg_buf_init(&frame, 0);
  rg_test_frame_json(&frame, "{\"id\": 1, \"op\": \"ping\"}");
  assert_int_equal(rg_client_send(plain, frame.data, frame.len), RG_OK);
  assert_true(closed_by_server(rg_client_fd(plain)));
  rg_client_close(plain);
  rg_buf_free(&frame);
  ping(tls);
  ingest_and_lookup(tls);
  assert_int_equal(stat_of(tls, "connections.tls_failures"), 1);
  /* the Unix socket stays plaintext */
  rg_client_t *local;
  char err[256];
  assert_int_equal(rg_client_connect(NULL, 0, f->srv.sock, WAIT_MS, &local, err, sizeof err),
                   RG_OK);
  ping(local);
  rg_client_close(local);
  rg_client_close(tls);
}

static void test_mtls_serves_only_clients_with_a_certificate_from_the_ca(void **state) {
  fixture_t *f = *state;
  start(f, true);
  expect_refused(f, "ca.pem", NULL, "certificate required");
  expect_refused(f, "ca.pem", "rogue.pem", "unknown ca");
  rg_client_t *c = connect_ok(f, NULL, "client.pem");
  ping(c);
  ingest_and_lookup(c);
  assert_int_equal(wait_stat(c, "connections.tls_failures", 2), 2);
  rg_client_close(c);
  char log[8192] = "";
  FILE *in = fopen(f->srv.log, "r");
  assert_non_null(in);
  log[fread(log, 1, sizeof log - 1, in)] = '\0';
  fclose(in);
  assert_non_null(strstr(log, "peer did not return a certificate"));
  assert_non_null(strstr(log, "client certificate: unable to get local issuer certificate"));
}

/* With a key file too: the token goes as the first frame inside TLS; a TCP client that
 * never starts the handshake is closed by auth.timeout. */
static void test_tls_with_a_key_file_authenticates_inside_tls(void **state) {
  fixture_t *f = *state;
  char keys[600], cert[600], key[600], kf[700];
  snprintf(keys, sizeof keys, "%s/keys", f->dir);
  rg_test_write_file(keys, 0600, "filter read 0123456789abcdef0123456789abcdef\n");
  snprintf(cert, sizeof cert, "tls.cert=%s", path_of("server.pem"));
  snprintf(key, sizeof key, "tls.key=%s", path_of("server.key"));
  snprintf(kf, sizeof kf, "auth.key_file=%s", keys);
  const char *args[] = {"--set", cert, "--set", key, "--set", kf, "--set", "auth.timeout=1s", NULL};
  rg_test_server_start(&f->srv, f->dir, args);
  rg_client_t *silent = rg_test_connect(&f->srv); /* plain TCP, never says a word */
  rg_client_t *c = connect_ok(f, NULL, NULL);
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 1, \"op\": \"auth\", \"token\": \"0123456789abcdef0123456789abcdef\"}");
  assert_true(rg_test_str_is(&r.data, "role", "read"));
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 2, \"op\": \"lookup\", \"actors\": [\"ip:192.0.2.1\"]}");
  assert_false(rg_test_get(&r.data, "results.0.known")->via.boolean);
  msgpack_unpacked_destroy(&r);
  assert_true(closed_by_server(rg_client_fd(silent)));
  rg_client_close(silent);
  rg_client_close(c);
}

/* tls.min_version=TLS1.3 refuses a TLS 1.2 client (openssl s_client -tls1_2). */
static void test_tls_min_version_refuses_older_clients(void **state) {
  fixture_t *f = *state;
  char cert[600], key[600];
  snprintf(cert, sizeof cert, "tls.cert=%s", path_of("server.pem"));
  snprintf(key, sizeof key, "tls.key=%s", path_of("server.key"));
  const char *args[] = {"--set", cert, "--set", key, "--set", "tls.min_version=TLS1.3", NULL};
  rg_test_server_start(&f->srv, f->dir, args);
  char cmd[1024], *out;
  for (int v = 2; v <= 3; v++) {
    snprintf(cmd, sizeof cmd,
             "openssl s_client -connect 127.0.0.1:%u -tls1_%d -CAfile '%s' -verify_return_error"
             " </dev/null 2>&1",
             f->srv.port, v, path_of("ca.pem"));
    int rc = rg_test_run(cmd, &out);
    if (v == 2) {
      assert_int_not_equal(rc, 0);
    } else if (rc != 0 || !strstr(out, "TLSv1.3")) {
      fail_msg("TLS 1.3 refused: %s", out);
    }
    free(out);
  }
}

static void test_tls_cli_verifies_the_server(void **state) {
  fixture_t *f = *state;
  start(f, true);
  char cmd[2048], *out;
  snprintf(cmd, sizeof cmd,
           RG_BINARY_DIR
           "/repgraph -p %u --tls --tls-ca '%s' --tls-cert '%s' --tls-key '%s' "
           "ping 2>&1",
           f->srv.port, path_of("ca.pem"), path_of("client.pem"), path_of("client.key"));
  int rc = rg_test_run(cmd, &out);
  if (rc != 0 || !strstr(out, "pong: yes")) fail_msg("repgraph --tls ping: %d: %s", rc, out);
  free(out);
  snprintf(cmd, sizeof cmd,
           RG_BINARY_DIR
           "/repgraph -p %u --tls --tls-ca '%s' --tls-cert '%s' --tls-key '%s' "
           "ping 2>&1",
           f->srv.port, path_of("otherca.pem"), path_of("client.pem"), path_of("client.key"));
  assert_int_equal(rg_test_run(cmd, &out), 3);
  assert_non_null(strstr(out, "certificate is not trusted"));
  free(out);
  snprintf(cmd, sizeof cmd, RG_BINARY_DIR "/repgraph -p %u --tls --tls-ca '%s' ping 2>&1",
           f->srv.port, path_of("ca.pem"));
  assert_int_equal(rg_test_run(cmd, &out), 3); /* no client certificate */
  assert_non_null(strstr(out, "certificate required"));
  free(out);
  snprintf(cmd, sizeof cmd, RG_BINARY_DIR "/repgraph -p %u --tls-ca '%s' ping 2>&1", f->srv.port,
           path_of("ca.pem"));
  assert_int_equal(rg_test_run(cmd, &out), 2);
  assert_non_null(strstr(out, "need --tls"));
  free(out);
}

/* Start-up refusals: a key others can read; TLS beyond loopback without tls.client_ca. */
static void test_tls_refuses_unsafe_configurations(void **state) {
  fixture_t *f = *state;
  char key[600], cmd[3000], *out;
  snprintf(key, sizeof key, "%s/open.key", f->dir);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s' && chmod 644 '%s'", path_of("server.key"), key, key);
  assert_int_equal(rg_test_run(cmd, &out), 0);
  free(out);
  snprintf(cmd, sizeof cmd,
           RG_BINARY_DIR
           "/repgraphd --data '%s/store' --port %u --unix none --set tls.cert='%s'"
           " --set tls.key='%s' 2>&1",
           f->dir, rg_test_free_port(), path_of("server.pem"), key);
  assert_int_equal(rg_test_run(cmd, &out), 1);
  assert_non_null(strstr(out, "others may access it"));
  free(out);
  snprintf(cmd, sizeof cmd,
           RG_BINARY_DIR
           "/repgraphd --data '%s/store' --listen 0.0.0.0 --port %u --unix none"
           " --set tls.cert='%s' --set tls.key='%s' 2>&1",
           f->dir, rg_test_free_port(), path_of("server.pem"), path_of("server.key"));
  assert_int_equal(rg_test_run(cmd, &out), 2);
  assert_non_null(strstr(out, "TLS without tls.client_ca encrypts but lets anyone in"));
  free(out);
  snprintf(cmd, sizeof cmd,
           RG_BINARY_DIR
           "/repgraphd --data '%s/store' --port %u --unix none"
           " --set tls.cert='%s' --set tls.key='%s' 2>&1",
           f->dir, rg_test_free_port(), path_of("server.pem"), path_of("client.key"));
  assert_int_equal(rg_test_run(cmd, &out), 1);
  assert_non_null(strstr(out, "tls.key"));
  assert_non_null(strstr(out, "mismatch"));
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_tls_client_trusting_the_ca_is_served, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_carries_large_requests_and_replies, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_client_trusting_another_ca_is_refused, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_tls_plaintext_client_is_disconnected_while_tls_clients_are_served, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mtls_serves_only_clients_with_a_certificate_from_the_ca,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_with_a_key_file_authenticates_inside_tls, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tls_min_version_refuses_older_clients, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_cli_verifies_the_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tls_refuses_unsafe_configurations, setup, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
