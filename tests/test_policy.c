/* test_policy.c — the Postfix policy listener end to end: the real repgraphd on a temporary
 * store with policy.listen on a free loopback port, spoken to over TCP the way Postfix's
 * smtpd does (name=value lines, an empty line, one action=… answer per request). The
 * store is seeded through the msgpack protocol (observations, labels, a recomputation). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "repgraph/err.h"
#include "testutil.h"

#define BAD_SENDER  "spam@bad.example"
#define GOOD_SENDER "alice@good.example"
#define BAD_IP      "203.0.113.5"
#define GOOD_IP     "198.51.100.7"

typedef struct {
  char *dir;
  rg_test_server_t srv;
  unsigned policy_port;
  char policy_sock[300];
} fixture_t;

static int start_with(void **state, const char *mode, const char *more1, const char *more2) {
  fixture_t *f = calloc(1, sizeof *f);
  f->dir = rg_test_mkdtemp();
  f->policy_port = rg_test_free_port();
  char listen[64], mode_opt[64], unix_opt[400];
  snprintf(listen, sizeof listen, "policy.listen=127.0.0.1:%u", f->policy_port);
  snprintf(mode_opt, sizeof mode_opt, "policy.mode=%s", mode);
  snprintf(f->policy_sock, sizeof f->policy_sock, "%s/policy.sock", f->dir);
  snprintf(unix_opt, sizeof unix_opt, "policy.unix=%s", f->policy_sock);
  const char *const extra[] = {"--set",
                               listen,
                               "--set",
                               mode_opt,
                               "--set",
                               unix_opt,
                               "--set",
                               "score.min_messages=1",
                               "--set",
                               "score.min_age=0",
                               "--set",
                               "policy.request_timeout=1s",
                               "--set",
                               "policy.max_attributes=128",
                               more1 ? "--set" : NULL,
                               more1,
                               more2 ? "--set" : NULL,
                               more2,
                               NULL};
  rg_test_server_start(&f->srv, f->dir, extra);

  /* Seed: a bad sender on a bad IP, a good sender on another; labels; one generation. */
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  rg_test_call(c, &r,
               "{\"id\": 1, \"op\": \"ingest\", \"observations\": ["
               "{\"sender\": \"" BAD_SENDER
               "\", \"recipients\": [\"v1@victim.example\"], "
               "\"client_ip\": \"" BAD_IP
               "\"},"
               "{\"sender\": \"" BAD_SENDER
               "\", \"recipients\": [\"v2@victim.example\"], "
               "\"client_ip\": \"" BAD_IP
               "\"},"
               "{\"sender\": \"" GOOD_SENDER
               "\", \"recipients\": [\"bob@victim.example\"], "
               "\"client_ip\": \"" GOOD_IP "\"}]}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 3);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r,
               "{\"id\": 2, \"op\": \"label\", \"labels\": ["
               "{\"actor\": \"address:" BAD_SENDER
               "\", \"verdict\": \"bad\", \"source\": \"analyst\"},"
               "{\"actor\": \"address:" GOOD_SENDER
               "\", \"verdict\": \"good\", \"source\": \"analyst\"}]}");
  assert_int_equal(rg_test_uint(&r.data, "accepted"), 2);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"recompute\", \"wait\": true}");
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  *state = f;
  return 0;
}

static int setup(void **state) {
  return start_with(state, "enforce", NULL, NULL);
}
static int setup_observe(void **state) {
  return start_with(state, "observe", NULL, NULL);
}
static int setup_defer_and_record_refused(void **state) {
  return start_with(state, "enforce", "policy.action_reject=DEFER_IF_PERMIT",
                    "policy.record_rejected=1");
}
static int setup_small_queue(void **state) {
  return start_with(state, "enforce", "policy.max_queue=1", "limits.max_frame_bytes=64M");
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_test_teardown_server(&f->srv, f->dir);
  free(f);
  return 0;
}

/* ---- a policy client ------------------------------------------------------------------ */

static int pconnect(const fixture_t *f) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->policy_port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static int pconnect_unix(const fixture_t *f) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  assert_true(strlen(f->policy_sock) < sizeof sa.sun_path);
  memcpy(sa.sun_path, f->policy_sock, strlen(f->policy_sock) + 1);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static void psend(int fd, const char *data, size_t len) {
  while (len) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0) return; /* the server may have closed it: the caller checks */
    data += n, len -= (size_t)n;
  }
}

/* Reads one answer ("action=…\n\n") into buf without the prefix and the newlines; false
 * on EOF / reset / timeout. Reads byte by byte: answers to pipelined requests stay queued. */
static bool precv(int fd, char *buf, size_t cap) {
  size_t n = 0;
  while (n + 1 < cap) {
    char ch;
    if (recv(fd, &ch, 1, 0) != 1) return false;
    buf[n++] = ch;
    if (n >= 2 && buf[n - 1] == '\n' && buf[n - 2] == '\n') break;
  }
  buf[n] = '\0';
  if (strncmp(buf, "action=", 7) != 0) return false;
  memmove(buf, buf + 7, n - 7 + 1);
  buf[strcspn(buf, "\n")] = '\0';
  return true;
}

/* True when the server closes the connection within 5 s (EOF or reset). */
static bool pclosed(int fd) {
  char junk[4096];
  for (;;) {
    ssize_t n = recv(fd, junk, sizeof junk, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) return true;
    if (n < 0) return false; /* timed out: still open */
  }
}

/* A policy request as Postfix writes it; client_name and sasl_username as given. */
static void request_as(char *buf, size_t cap, const char *state, const char *instance,
                       const char *sender, const char *rcpt, const char *ip,
                       const char *client_name, const char *sasl) {
  snprintf(buf, cap,
           "request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\n"
           "client_address=%s\nclient_name=%s\nreverse_client_name=ptr.claims.example\n"
           "helo_name=mx.test.example\nsender=%s\nrecipient=%s\nrecipient_count=0\n"
           "queue_id=\ninstance=%s\nsize=0\nsasl_username=%s\n\n",
           state, ip, client_name, sender, rcpt, instance, sasl);
}

/* An unauthenticated request from a client without a verified name. */
static void request(char *buf, size_t cap, const char *state, const char *instance,
                    const char *sender, const char *rcpt, const char *ip) {
  request_as(buf, cap, state, instance, sender, rcpt, ip, "unknown", "");
}

/* Asks one RCPT question on fd and returns the answer in buf. */
static void ask(int fd, char *buf, size_t cap, const char *sender, const char *ip) {
  char req[1024];
  request(req, sizeof req, "RCPT", "i1", sender, "rcpt@dest.example", ip);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, buf, cap));
}

/* A counter of the stats reply at `path`, asked on a fresh connection. */
static uint64_t stat_at(const fixture_t *f, const char *path) {
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 9, \"op\": \"stats\"}");
  uint64_t v = rg_test_uint(&r.data, path);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  return v;
}

static uint64_t policy_stat(const fixture_t *f, const char *name) {
  char path[96];
  snprintf(path, sizeof path, "policy.%s", name);
  return stat_at(f, path);
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_policy_rejects_bad_sender_with_its_reason(void **state) {
  fixture_t *f = *state;
  int fd = pconnect(f);
  char a[512];
  ask(fd, a, sizeof a, BAD_SENDER, GOOD_IP);
  printf("bad sender: action=%s\n", a);
  assert_true(strncmp(a, "REJECT 5.7.1 repgraph: ", 23) == 0);
  assert_non_null(strstr(a, "labelled bad"));
  assert_null(strstr(a, "address:")); /* no identifiers of other actors */
  ask(fd, a, sizeof a, "nobody@unknown.example", "192.0.2.200");
  assert_string_equal(a, "DUNNO");
  /* a recipient that is not an address does not hide the sender's verdict */
  char req[1024];
  request(req, sizeof req, "RCPT", "i1", BAD_SENDER, "not an address", GOOD_IP);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  assert_true(strncmp(a, "REJECT 5.7.1 repgraph: ", 23) == 0);
  ask(fd, a, sizeof a, GOOD_SENDER, GOOD_IP);
  assert_string_equal(a, "DUNNO");
  /* the null sender of a bounce cannot be checked: DUNNO, counted */
  ask(fd, a, sizeof a, "", GOOD_IP);
  assert_string_equal(a, "DUNNO");
  assert_int_equal(policy_stat(f, "unchecked"), 1);
  close(fd);
}

static void test_policy_answers_other_states_and_fails_open_on_unknown_ones(void **state) {
  fixture_t *f = *state;
  int fd = pconnect(f);
  char req[1024], a[256];
  request(req, sizeof req, "MAIL", "i2", BAD_SENDER, "", BAD_IP);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  assert_string_equal(a, "DUNNO");
  request(req, sizeof req, "NO-SUCH-STATE", "i2", BAD_SENDER, "x@y.example", BAD_IP);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  assert_string_equal(a, "DUNNO");
  assert_int_equal(policy_stat(f, "fail_open_state"), 1);
  close(fd);
}

static void test_policy_answers_pipelined_requests_in_order(void **state) {
  fixture_t *f = *state;
  int fd = pconnect(f);
  size_t cap = 200 * 1024, len = 0;
  char *all = malloc(cap), req[1024], a[512];
  for (int i = 0; i < 100; i++) {
    request(req, sizeof req, "RCPT", "pipe", i % 2 ? "nobody@unknown.example" : BAD_SENDER,
            "r@dest.example", GOOD_IP);
    memcpy(all + len, req, strlen(req));
    len += strlen(req);
  }
  psend(fd, all, len);
  for (int i = 0; i < 100; i++) {
    assert_true(precv(fd, a, sizeof a));
    if (i % 2)
      assert_string_equal(a, "DUNNO");
    else
      assert_true(strncmp(a, "REJECT ", 7) == 0);
  }
  free(all);
  close(fd);
}

/* Garbage, an over-long line, 10,000 attributes and a client that stops mid-request each
 * lose their own connection; a connection opened before them keeps getting real verdicts
 * (not the budget's fail-open DUNNO) throughout. */
static void test_policy_bad_clients_lose_only_their_connection(void **state) {
  fixture_t *f = *state;
  int good = pconnect(f);
  char a[512];
  ask(good, a, sizeof a, BAD_SENDER, GOOD_IP);
  assert_true(strncmp(a, "REJECT ", 7) == 0);

  int garbage = pconnect(f);
  static const char tls_hello[] =
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not a policy request\n";
  psend(garbage, tls_hello, sizeof tls_hello - 1);
  assert_true(pclosed(garbage));
  close(garbage);

  int longline = pconnect(f);
  char *big = malloc(100000);
  memset(big, 'x', 100000);
  memcpy(big, "sender=", 7);
  psend(longline, big, 100000);
  assert_true(pclosed(longline));
  close(longline);

  int many = pconnect(f);
  size_t cap = 10000 * 16 + 2, len = 0;
  char *attrs = malloc(cap);
  for (int i = 0; i < 10000; i++) len += (size_t)snprintf(attrs + len, cap - len, "x%d=1\n", i);
  attrs[len++] = '\n';
  psend(many, attrs, len);
  assert_true(pclosed(many));
  close(many);

  int stalled = pconnect(f);
  const char *half = "request=smtpd_access_policy\nprotocol_state=RCPT\nsend";
  psend(stalled, half, strlen(half));
  uint64_t t0 = rg_test_now_ms(), worst = 0;
  /* while it stalls (until policy.request_timeout closes it), the good one is answered */
  for (int i = 0; i < 20; i++) {
    uint64_t t = rg_test_now_ms();
    ask(good, a, sizeof a, BAD_SENDER, GOOD_IP);
    assert_true(strncmp(a, "REJECT ", 7) == 0);
    if (rg_test_now_ms() - t > worst) worst = rg_test_now_ms() - t;
  }
  assert_true(pclosed(stalled)); /* policy.request_timeout=1s */
  printf("stalled client closed after %llu ms; slowest answer meanwhile %llu ms\n",
         (unsigned long long)(rg_test_now_ms() - t0), (unsigned long long)worst);
  close(stalled);
  ask(good, a, sizeof a, BAD_SENDER, GOOD_IP);
  assert_true(strncmp(a, "REJECT ", 7) == 0);
  assert_int_equal(policy_stat(f, "protocol_errors"), 3);
  assert_int_equal(policy_stat(f, "timeouts"), 1);
  assert_int_equal(policy_stat(f, "fail_open_budget"), 0);
  free(attrs);
  free(big);
  close(good);
}

static const msgpack_object *lookup(rg_client_t *c, msgpack_unpacked *r, const char *actor) {
  rg_test_call(c, r, "{\"id\": 5, \"op\": \"lookup\", \"actors\": [\"%s\"]}", actor);
  return rg_test_get(&r->data, "results.0");
}

/* Polls the stats until `n` observations were recorded (the commit is asynchronous). */
static void wait_recorded(const fixture_t *f, uint64_t n) {
  uint64_t deadline = rg_test_now_ms() + 5000;
  while (policy_stat(f, "observations_recorded") < n && rg_test_now_ms() < deadline) {
    struct pollfd none;
    poll(&none, 0, 10);
  }
  assert_int_equal(policy_stat(f, "observations_recorded"), n);
}

static void test_policy_records_each_message_after_end_of_message(void **state) {
  fixture_t *f = *state;
  int fd = pconnect(f);
  char req[1024], a[256];
  const char *sender = "newbie@fresh.example", *ip = "192.0.2.77";
  request(req, sizeof req, "RCPT", "msg-A", sender, "one@dest.example", ip);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  request(req, sizeof req, "RCPT", "msg-A", sender, "two@dest.example", ip);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));

  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  const msgpack_object *res = lookup(c, &r, "address:newbie@fresh.example");
  assert_false(rg_test_get(res, "known")->via.boolean); /* nothing before END-OF-MESSAGE */
  msgpack_unpacked_destroy(&r);

  request(req, sizeof req, "END-OF-MESSAGE", "msg-A", sender, "", ip);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  assert_string_equal(a, "DUNNO");
  /* a second message, one recipient, then the next message's first request */
  request(req, sizeof req, "RCPT", "msg-B", sender, "three@dest.example", ip);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  request(req, sizeof req, "END-OF-MESSAGE", "msg-B", sender, "", ip);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));

  wait_recorded(f, 2);
  res = lookup(c, &r, "address:newbie@fresh.example");
  assert_true(rg_test_get(res, "known")->via.boolean);
  assert_int_equal(rg_test_uint(res, "messages"), 2); /* two messages, not three recipients */
  assert_int_equal(rg_test_uint(res, "out_degree.mailed"), 3);
  assert_int_equal(rg_test_uint(res, "out_degree.sent_from"), 1);
  msgpack_unpacked_destroy(&r);
  res = lookup(c, &r, "address:two@dest.example");
  assert_true(rg_test_get(res, "known")->via.boolean);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  close(fd);
}

/* An authenticated submission (sasl_username) is recorded and counted as the sender's
 * submission; a forward-confirmed client_name becomes an rdns edge of the client IP, an
 * unverified one (client_name=unknown, whatever reverse_client_name claims) does not. */
static void test_policy_records_submissions_and_verified_client_names(void **state) {
  fixture_t *f = *state;
  int fd = pconnect(f);
  char req[1024], a[256];
  request_as(req, sizeof req, "RCPT", "sub-1", "own@users.example", "far@away.example",
             "192.0.2.90", "smtp.users.example", "own");
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  request_as(req, sizeof req, "END-OF-MESSAGE", "sub-1", "own@users.example", "", "192.0.2.90",
             "smtp.users.example", "own");
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  request(req, sizeof req, "RCPT", "in-1", "stranger@else.example", "own@users.example",
          "198.51.100.9");
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  request(req, sizeof req, "END-OF-MESSAGE", "in-1", "stranger@else.example", "", "198.51.100.9");
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  wait_recorded(f, 2);

  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  const msgpack_object *res = lookup(c, &r, "address:own@users.example");
  assert_int_equal(rg_test_uint(res, "submissions"), 1);
  assert_int_equal(rg_test_uint(res, "out_degree.mailed"), 1);
  msgpack_unpacked_destroy(&r);
  res = lookup(c, &r, "address:stranger@else.example");
  assert_int_equal(rg_test_uint(res, "submissions"), 0);
  msgpack_unpacked_destroy(&r);
  res = lookup(c, &r, "ip:192.0.2.90");
  assert_int_equal(rg_test_uint(res, "out_degree.rdns"), 1);
  msgpack_unpacked_destroy(&r);
  res = lookup(c, &r, "domain:smtp.users.example");
  assert_int_equal(rg_test_uint(res, "in_degree.rdns"), 1);
  msgpack_unpacked_destroy(&r);
  res = lookup(c, &r, "ip:198.51.100.9");
  assert_int_equal(rg_test_uint(res, "out_degree.rdns"), 0);
  msgpack_unpacked_destroy(&r);
  res = lookup(c, &r, "domain:ptr.claims.example");
  assert_false(rg_test_get(res, "known")->via.boolean);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
  close(fd);
}

static void test_policy_observe_mode_only_prepends_once_per_message(void **state) {
  fixture_t *f = *state;
  int fd = pconnect(f);
  char req[1024], a[512];
  request(req, sizeof req, "RCPT", "obs-1", BAD_SENDER, "one@dest.example", GOOD_IP);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  printf("observe mode: action=%s\n", a);
  assert_true(strncmp(a, "PREPEND X-Repgraph: verdict=reject score=", 41) == 0);
  assert_non_null(strstr(a, "decided_by=sender"));
  request(req, sizeof req, "RCPT", "obs-1", BAD_SENDER, "two@dest.example", GOOD_IP);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  assert_string_equal(a, "DUNNO"); /* the header is on the message already */
  close(fd);
}

/* Over the Unix socket, with reject mapped to DEFER_IF_PERMIT and record_rejected on: the
 * refused message is still recorded, when the next message (instance) begins. */
static void test_policy_maps_verdicts_by_config_and_records_refused_mail(void **state) {
  fixture_t *f = *state;
  int fd = pconnect_unix(f);
  char req[1024], a[512];
  request(req, sizeof req, "RCPT", "refused-1", BAD_SENDER, "refused@dest.example", GOOD_IP);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  printf("reject as configured: action=%s\n", a);
  assert_true(strncmp(a, "DEFER_IF_PERMIT 4.7.1 repgraph: sender: labelled bad", 52) == 0);
  assert_non_null(strstr(a, "try again later"));
  rg_client_t *c = rg_test_connect(&f->srv);
  msgpack_unpacked r;
  const msgpack_object *res = lookup(c, &r, "address:refused@dest.example");
  assert_false(rg_test_get(res, "known")->via.boolean);
  msgpack_unpacked_destroy(&r);
  request(req, sizeof req, "RCPT", "next-2", "nobody@unknown.example", "x@dest.example", GOOD_IP);
  psend(fd, req, strlen(req));
  assert_true(precv(fd, a, sizeof a));
  assert_string_equal(a, "DUNNO");
  uint64_t deadline = rg_test_now_ms() + 5000;
  while (policy_stat(f, "observations_recorded") < 1 && rg_test_now_ms() < deadline) {
    struct pollfd none;
    poll(&none, 0, 10); /* the commit is asynchronous: bounded wait */
  }
  res = lookup(c, &r, "address:refused@dest.example");
  assert_true(rg_test_get(res, "known")->via.boolean);
  msgpack_unpacked_destroy(&r);
  assert_int_equal(policy_stat(f, "defer"), 1);
  rg_client_close(c);
  close(fd);
}

/* With the writer busy (a large ingest committing, another queued behind it: queue depth
 * 1 = policy.max_queue) an observation is dropped and counted, and the answer still goes
 * out at once. Whether the large commit is still running when the policy request arrives
 * is up to the scheduler, so up to 5 rounds are tried; a drop must happen in one of them. */
static void test_policy_drops_observations_when_the_writer_queue_is_deep(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  int fd = pconnect(f);
  size_t cap = 60000 * 90, dropped = 0, round;
  char *edges = malloc(cap), req[1024], a[256], instance[32], sender[64];
  for (round = 0; round < 5 && !dropped; round++) {
    size_t len = 0;
    for (int i = 0; i < 60000; i++)
      len += (size_t)snprintf(edges + len, cap - len,
                              "%s{\"src\":\"address:b%zu@load.example\",\"dst\":\"address:"
                              "v%d@load.example\",\"kind\":\"mailed\"}",
                              i ? "," : "", round, i);
    rg_buf_t frames;
    rg_buf_init(&frames, 0);
    rg_test_frame_json(&frames, "{\"id\": 1, \"op\": \"ingest\", \"edges\": [%s]}", edges);
    rg_test_frame_json(&frames,
                       "{\"id\": 2, \"op\": \"ingest\", \"edges\": [{\"src\": "
                       "\"address:x@load.example\", \"dst\": \"address:y@load.example\", "
                       "\"kind\": \"mailed\"}]}");
    assert_int_equal(rg_client_send(c, frames.data, frames.len), RG_OK);
    rg_buf_free(&frames);
    /* the large ingest has reached the writer (it commits in slices, one queued at a time) */
    uint64_t deadline = rg_test_now_ms() + 10000;
    while (stat_at(f, "writer.queue_depth") == 0 && rg_test_now_ms() < deadline) continue;
    snprintf(instance, sizeof instance, "busy-%zu", round);
    snprintf(sender, sizeof sender, "busy%zu@fresh.example", round);
    request(req, sizeof req, "RCPT", instance, sender, "r@dest.example", "192.0.2.9");
    psend(fd, req, strlen(req));
    assert_true(precv(fd, a, sizeof a));
    request(req, sizeof req, "END-OF-MESSAGE", instance, sender, "", "192.0.2.9");
    psend(fd, req, strlen(req));
    assert_true(precv(fd, a, sizeof a));
    assert_string_equal(a, "DUNNO");
    dropped = policy_stat(f, "observations_dropped");
    msgpack_unpacked r;
    rg_test_recv(c, "ingest", &r);
    msgpack_unpacked_destroy(&r);
    rg_test_recv(c, "ingest", &r);
    msgpack_unpacked_destroy(&r);
  }
  printf("an observation was dropped in round %zu of 5\n", round);
  assert_true(dropped >= 1);
  assert_int_equal(policy_stat(f, "observations_queued") + dropped, round);
  free(edges);
  rg_client_close(c);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_policy_rejects_bad_sender_with_its_reason, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_policy_answers_other_states_and_fails_open_on_unknown_ones, setup, teardown),
      cmocka_unit_test_setup_teardown(test_policy_answers_pipelined_requests_in_order, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_policy_bad_clients_lose_only_their_connection, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_policy_records_each_message_after_end_of_message, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_policy_records_submissions_and_verified_client_names,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_policy_observe_mode_only_prepends_once_per_message,
                                      setup_observe, teardown),
      cmocka_unit_test_setup_teardown(test_policy_maps_verdicts_by_config_and_records_refused_mail,
                                      setup_defer_and_record_refused, teardown),
      cmocka_unit_test_setup_teardown(test_policy_drops_observations_when_the_writer_queue_is_deep,
                                      setup_small_queue, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
