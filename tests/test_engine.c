/* test_engine.c — the engine in this process, on a libuv loop of the test's own: requests
 * decoded from JSON-written frames are handled, the loop runs until every pending reply has
 * come back (callbacks counted, no sleeps), and every handle is closed at the end, the way
 * libuv's own tests check. Covers ingest, lookup, check, label, forget and a recomputation
 * end to end through the writer thread. */
#define _GNU_SOURCE /* vasprintf */
#include <stdlib.h>
#include <string.h>

#include "repgraph/config.h"
#include "repgraph/engine.h"
#include "repgraph/err.h"
#include "testutil.h"

typedef struct {
  uv_loop_t loop;
  rg_engine_t *engine;
  char *dir;
  rg_proto_limits_t limits;
  unsigned done_calls;  /* pending replies completed */
  rg_write_t *order[8]; /* the pending replies, in the order they completed */
  rg_buf_t out;         /* the last reply's frame */
  msgpack_unpacked reply;
  bool has_reply;
} fixture_t;

static void on_done(rg_write_t *w, void *ctx) {
  fixture_t *f = ctx;
  if (f->done_calls < sizeof f->order / sizeof f->order[0]) f->order[f->done_calls] = w;
  f->done_calls++;
  f->out.len = 0;
  assert_int_equal(rg_engine_finish_write(w, &f->out), RG_OK);
}

/* Opens the engine on a fresh store with the defaults, then `settings` (name, value pairs,
 * NULL-terminated). */
static int open_with(void **state, const char *const *settings) {
  fixture_t *f = calloc(1, sizeof *f);
  assert_non_null(f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->dir = rg_test_mkdtemp();
  rg_config_t cfg;
  rg_config_defaults(&cfg);
  snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", f->dir);
  cfg.recompute_interval_s = 0;
  cfg.min_messages = 1; /* small hand-built graphs: every actor has enough evidence */
  cfg.min_age_s = 0;
  cfg.write_slice_edges = 5000; /* the slicing test's ingest (12,072 edges) takes three */
  char err[256] = "";
  for (size_t i = 0; settings && settings[i]; i += 2)
    assert_int_equal(rg_config_set(&cfg, settings[i], settings[i + 1], err, sizeof err), RG_OK);
  assert_int_equal(rg_engine_open(&cfg, &f->loop, &f->engine, err, sizeof err), RG_OK);
  f->limits =
      (rg_proto_limits_t){cfg.max_frame_bytes, cfg.max_batch_items, cfg.max_recipients, 0, 0};
  rg_buf_init(&f->out, 1 << 24);
  msgpack_unpacked_init(&f->reply);
  *state = f;
  return 0;
}

static int setup(void **state) {
  return open_with(state, NULL);
}

static int teardown(void **state) {
  fixture_t *f = *state;
  rg_engine_stop(f->engine);
  /* Every handle the engine opened must close: the loop then has nothing left to run. */
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  rg_engine_close(f->engine);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  msgpack_unpacked_destroy(&f->reply);
  rg_buf_free(&f->out);
  rg_test_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* Handles one request written as JSON (the whole text, any size). Returns the pending
 * reply of a write (its callback comes later), or NULL when it was answered into f->out. */
static rg_write_t *submit(fixture_t *f, const char *json) {
  rg_buf_t frame;
  rg_buf_init(&frame, 1 << 26);
  rg_test_frame_json(&frame, "%s", json);
  rg_request_t req;
  char err[256] = "";
  assert_int_equal(
      rg_proto_decode_request(frame.data + RG_FRAME_HEADER, frame.len - RG_FRAME_HEADER, &f->limits,
                              &req, err, sizeof err),
      RG_OK);
  f->out.len = 0;
  rg_write_t *pending = NULL;
  assert_int_equal(rg_engine_handle(f->engine, &req, &f->out, on_done, f, &pending), RG_OK);
  rg_request_free(&req);
  rg_buf_free(&frame);
  return pending;
}

/* Runs the loop until `calls` pending replies have completed in all (the writer always
 * answers, so this ends). */
static void wait_for(fixture_t *f, unsigned calls) {
  while (f->done_calls < calls) assert_true(uv_run(&f->loop, UV_RUN_ONCE) >= 0);
  assert_int_equal(f->done_calls, calls);
}

/* Decodes the reply in f->out into f->reply, checked against the schema of its op. */
static const msgpack_object *reply_of(fixture_t *f, const char *op) {
  assert_true(f->out.len > RG_FRAME_HEADER);
  size_t off = 0;
  assert_int_equal(msgpack_unpack_next(&f->reply, (const char *)f->out.data + RG_FRAME_HEADER,
                                       f->out.len - RG_FRAME_HEADER, &off),
                   MSGPACK_UNPACK_SUCCESS);
  const char *violation = rg_test_schema_violation(op, &f->reply.data);
  if (violation) fail_msg("%s reply: %s", op, violation);
  return &f->reply.data;
}

/* Handles one JSON-written request and waits for its reply if it is pending. */
static const msgpack_object *call(fixture_t *f, const char *op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const msgpack_object *call(fixture_t *f, const char *op, const char *fmt, ...) {
  char *json;
  va_list ap;
  va_start(ap, fmt);
  assert_true(vasprintf(&json, fmt, ap) >= 0);
  va_end(ap);
  unsigned before = f->done_calls;
  if (submit(f, json))
    wait_for(f, before + 1);
  else
    assert_int_equal(f->done_calls, before); /* answered at once */
  free(json);
  return reply_of(f, op);
}

static const char *code_of(const msgpack_object *reply) {
  static char buf[64];
  const char *code = rg_test_error_code(reply, buf, sizeof buf);
  return code ? code : "(no error)";
}

/* An observation is acknowledged only after commit: a lookup right after sees its edges. */
static void test_engine_ingest_then_lookup_sees_the_commit(void **state) {
  fixture_t *f = *state;
  const msgpack_object *r =
      call(f, "ingest",
           "{\"id\":1,\"op\":\"ingest\",\"observations\":[{\"ts\":1700000000,"
           "\"sender\":\"a@x.example\",\"recipients\":[\"b@y.example\",\"c@y.example\"],"
           "\"client_ip\":\"192.0.2.7\",\"helo\":\"mx.x.example\"}]}");
  assert_string_equal(code_of(r), "(no error)");
  assert_int_equal(rg_test_uint(r, "accepted"), 1);
  assert_int_equal(rg_test_uint(r, "rejected_count"), 0);
  r = call(f, "lookup", "{\"id\":2,\"op\":\"lookup\",\"actors\":[\"address:a@x.example\"]}");
  assert_true(rg_test_get(r, "results.0.known")->via.boolean);
  assert_int_equal(rg_test_uint(r, "results.0.out_degree.mailed"), 2);
  assert_int_equal(rg_test_uint(r, "results.0.out_degree.sent_from"), 1);
  assert_int_equal(rg_test_uint(r, "results.0.messages"), 1);
}

/* One invalid item is rejected with its index; its neighbours in the batch are stored. */
static void test_engine_ingest_rejects_only_the_bad_item(void **state) {
  fixture_t *f = *state;
  const msgpack_object *r = call(
      f, "ingest",
      "{\"id\":1,\"op\":\"ingest\",\"edges\":["
      "{\"src\":\"address:a@x.example\",\"dst\":\"address:b@y.example\",\"kind\":\"mailed\"},"
      "{\"src\":\"address:nonsense\",\"dst\":\"address:b@y.example\",\"kind\":\"mailed\"},"
      "{\"src\":\"address:c@x.example\",\"dst\":\"address:b@y.example\",\"kind\":\"mailed\"}]}");
  assert_int_equal(rg_test_uint(r, "accepted"), 2);
  assert_int_equal(rg_test_uint(r, "rejected_count"), 1);
  assert_int_equal(rg_test_uint(r, "rejected.0.index"), 1);
  assert_true(rg_test_str_is(r, "rejected.0.code", "invalid_actor"));
  r = call(f, "lookup", "{\"id\":2,\"op\":\"lookup\",\"actors\":[\"address:b@y.example\"]}");
  assert_int_equal(rg_test_uint(r, "results.0.in_degree.mailed"), 2);
}

/* A label is stored and shown by lookup; forget removes the actor and says it did. */
static void test_engine_label_and_forget(void **state) {
  fixture_t *f = *state;
  call(f, "ingest",
       "{\"id\":1,\"op\":\"ingest\",\"edges\":[{\"src\":\"address:s@spam.example\","
       "\"dst\":\"ip:198.51.100.9\",\"kind\":\"sent_from\"}]}");
  const msgpack_object *r =
      call(f, "label",
           "{\"id\":2,\"op\":\"label\",\"labels\":[{\"actor\":\"address:s@spam.example\","
           "\"verdict\":\"bad\",\"source\":\"spam_trap\",\"note\":\"trap hit\"}]}");
  assert_int_equal(rg_test_uint(r, "accepted"), 1);
  r = call(f, "lookup", "{\"id\":3,\"op\":\"lookup\",\"actors\":[\"address:s@spam.example\"]}");
  assert_true(rg_test_str_is(r, "results.0.label.verdict", "bad"));
  assert_true(rg_test_str_is(r, "results.0.label.source", "spam_trap"));
  r = call(f, "forget",
           "{\"id\":4,\"op\":\"forget\",\"actors\":[\"address:s@spam.example\","
           "\"address:never@seen.example\"]}");
  assert_int_equal(rg_test_uint(r, "forgotten"), 1);
  r = call(f, "lookup", "{\"id\":5,\"op\":\"lookup\",\"actors\":[\"address:s@spam.example\"]}");
  assert_false(rg_test_get(r, "results.0.known")->via.boolean);
}

/* A recomputation run from the engine publishes generation 1: the bad seed's neighbour
 * sharing its IP scores worse than an honest sender on its own IP, and check answers with
 * the generation's scores. */
static void test_engine_recompute_then_check(void **state) {
  fixture_t *f = *state;
  char obs[4096];
  int n = 0;
  n += snprintf(obs + n, sizeof obs - n, "{\"id\":1,\"op\":\"ingest\",\"observations\":[");
  for (int i = 0; i < 6; i++)
    n += snprintf(obs + n, sizeof obs - n,
                  "%s{\"ts\":1700000000,\"sender\":\"spam%d@bad.example\",\"recipients\":"
                  "[\"v%d@victim.example\"],\"client_ip\":\"203.0.113.5\"},"
                  "{\"ts\":1700000000,\"sender\":\"ok%d@good.example\",\"recipients\":"
                  "[\"friend%d@peer.example\"],\"client_ip\":\"192.0.2.%d\"}",
                  i ? "," : "", i, i, i, i, 10 + i);
  snprintf(obs + n, sizeof obs - n, "]}");
  const msgpack_object *r = call(f, "ingest", "%s", obs);
  assert_int_equal(rg_test_uint(r, "accepted"), 12);
  call(f, "label",
       "{\"id\":2,\"op\":\"label\",\"labels\":["
       "{\"actor\":\"address:spam0@bad.example\",\"verdict\":\"bad\"},"
       "{\"actor\":\"address:ok0@good.example\",\"verdict\":\"good\"}]}");
  r = call(f, "recompute", "{\"id\":3,\"op\":\"recompute\",\"wait\":true}");
  assert_true(rg_test_str_is(r, "state", "done"));
  assert_true(rg_test_get(r, "result.ok")->via.boolean);
  assert_int_equal(rg_test_uint(r, "result.generation"), 1);

  r = call(f, "lookup",
           "{\"id\":4,\"op\":\"lookup\",\"actors\":[\"address:spam3@bad.example\","
           "\"address:ok3@good.example\"]}");
  assert_int_equal(rg_test_uint(r, "results.0.generation"), 1);
  double bad = rg_test_get(r, "results.0.reputation")->via.f64;
  double good = rg_test_get(r, "results.1.reputation")->via.f64;
  assert_true(bad > good);

  r = call(f, "check",
           "{\"id\":5,\"op\":\"check\",\"sender\":\"spam4@bad.example\","
           "\"client_ip\":\"203.0.113.5\",\"recipients\":[\"v9@victim.example\"]}");
  assert_int_equal(rg_test_uint(r, "generation"), 1);
  assert_true(rg_test_get(r, "known")->via.boolean);
  assert_true(rg_test_get(r, "score")->via.f64 > good);

  r = call(f, "status", "{\"id\":6,\"op\":\"status\"}");
  assert_int_equal(rg_test_uint(r, "generation.generation"), 1);
  assert_int_equal(rg_test_uint(r, "completed"), 1);
}

/* An actor first seen after the generation gets a provisional score from its neighbours the
 * generation scored: a new sender on a new IP of a bad net is bad at once, not "unknown";
 * one with no scored neighbour stays without a score. */
static void test_engine_new_actor_gets_a_provisional_score_from_its_neighbours(void **state) {
  fixture_t *f = *state;
  char obs[4096];
  int n = snprintf(obs, sizeof obs, "{\"id\":1,\"op\":\"ingest\",\"observations\":[");
  for (int i = 0; i < 6; i++)
    n += snprintf(obs + n, sizeof obs - n,
                  "%s{\"ts\":1700000000,\"sender\":\"spam%d@bad.example\",\"recipients\":"
                  "[\"v%d@victim.example\"],\"client_ip\":\"203.0.113.%d\"},"
                  "{\"ts\":1700000000,\"sender\":\"ok%d@good.example\",\"recipients\":"
                  "[\"friend%d@peer.example\"],\"client_ip\":\"192.0.2.%d\"}",
                  i ? "," : "", i, i, 5 + i, i, i, 10 + i);
  snprintf(obs + n, sizeof obs - n, "]}");
  call(f, "ingest", "%s", obs);
  call(f, "label",
       "{\"id\":2,\"op\":\"label\",\"labels\":[{\"actor\":\"net:203.0.113.0/24\",\"verdict\":"
       "\"bad\"},{\"actor\":\"address:ok0@good.example\",\"verdict\":\"good\"}]}");
  const msgpack_object *r = call(f, "recompute", "{\"id\":3,\"op\":\"recompute\",\"wait\":true}");
  assert_true(rg_test_get(r, "result.ok")->via.boolean);
  call(f, "ingest",
       "{\"id\":4,\"op\":\"ingest\",\"observations\":[{\"sender\":\"fresh@new.example\","
       "\"recipients\":[\"v1@victim.example\"],\"client_ip\":\"203.0.113.77\"},"
       "{\"sender\":\"other@elsewhere.example\",\"recipients\":[\"x@y.example\"],"
       "\"client_ip\":\"198.51.100.9\"}]}");
  r = call(f, "lookup",
           "{\"id\":5,\"op\":\"lookup\",\"actors\":[\"address:fresh@new.example\","
           "\"address:other@elsewhere.example\",\"address:ok3@good.example\"]}");
  assert_true(rg_test_get(r, "results.0.provisional")->via.boolean);
  assert_true(rg_test_get(r, "results.0.reputation")->via.f64 > 0.8);
  assert_true(rg_test_str_is(r, "results.0.band", "bad"));
  assert_true(rg_test_str_is(r, "results.0.reasons.0.code", "provisional"));
  assert_true(rg_test_str_is(r, "results.0.reasons.0.actor", "net:203.0.113.0/24"));
  assert_int_equal(rg_test_get(r, "results.1.reputation")->type, MSGPACK_OBJECT_NIL);
  assert_int_equal(rg_test_get(r, "results.1.provisional")->type, MSGPACK_OBJECT_NIL);
  assert_false(rg_test_get(r, "results.2.provisional")->via.boolean); /* scored in generation 1 */
}

/* A recipient named three times in one message counts once: one edge, one message. */
static void test_engine_recipient_named_twice_counts_once(void **state) {
  fixture_t *f = *state;
  call(f, "ingest",
       "{\"id\":1,\"op\":\"ingest\",\"observations\":[{\"ts\":1700000000,"
       "\"sender\":\"a@x.example\",\"recipients\":[\"b@y.example\",\"c@y.example\","
       "\"b@y.example\",\"b@y.example\"],\"client_ip\":\"192.0.2.7\"}]}");
  const msgpack_object *r = call(
      f, "lookup",
      "{\"id\":2,\"op\":\"lookup\",\"actors\":[\"address:a@x.example\",\"address:b@y.example\"]}");
  assert_int_equal(rg_test_uint(r, "results.0.out_degree.mailed"), 2);
  assert_int_equal(rg_test_uint(r, "results.1.messages"), 1);
  assert_int_equal(rg_test_uint(r, "results.1.in_degree.mailed"), 1);
}

/* A large ingest is committed in slices: a small write queued after it commits before the
 * large one has finished, and the large one is whole when it is acknowledged. */
static void test_engine_large_ingest_lets_other_writes_commit_between_slices(void **state) {
  fixture_t *f = *state;
  enum { OBS = 24, RCPTS = 500 }; /* 24 x 503 edges: three slices of at most 5,000 */
  size_t cap = (size_t)OBS * RCPTS * 40 + 4096, n = 0;
  char *json = malloc(cap);
  assert_non_null(json);
  n += (size_t)snprintf(json + n, cap - n, "{\"id\":1,\"op\":\"ingest\",\"observations\":[");
  for (int i = 0; i < OBS; i++) {
    n += (size_t)snprintf(json + n, cap - n,
                          "%s{\"ts\":1700000000,\"sender\":\"bulk%d@big.example\","
                          "\"client_ip\":\"198.51.100.%d\",\"recipients\":[",
                          i ? "," : "", i, i + 1);
    for (int j = 0; j < RCPTS; j++)
      n += (size_t)snprintf(json + n, cap - n, "%s\"r%d@rcpt.example\"", j ? "," : "", j);
    n += (size_t)snprintf(json + n, cap - n, "]}");
  }
  snprintf(json + n, cap - n, "]}");
  rg_write_t *large = submit(f, json);
  free(json);
  assert_non_null(large);
  rg_write_t *small = submit(f,
                             "{\"id\":2,\"op\":\"label\",\"labels\":[{\"actor\":"
                             "\"address:x@small.example\",\"verdict\":\"good\"}]}");
  assert_non_null(small);
  wait_for(f, 2);
  assert_ptr_equal(f->order[0], small);
  assert_ptr_equal(f->order[1], large);
  const msgpack_object *r = reply_of(f, "ingest");
  assert_int_equal(rg_test_uint(r, "accepted"), OBS);
  r = call(f, "lookup",
           "{\"id\":3,\"op\":\"lookup\",\"actors\":[\"address:r7@rcpt.example\","
           "\"address:bulk23@big.example\"]}");
  assert_int_equal(rg_test_uint(r, "results.0.messages"), OBS);
  assert_int_equal(rg_test_uint(r, "results.0.in_degree.mailed"), OBS);
  assert_int_equal(rg_test_uint(r, "results.1.out_degree.mailed"), RCPTS);
}

/* ---- check: verdicts weighed by evidence ---------------------------------------------- */

#define T0 1700000000LL /* the hand-built traffic's first day */

/* Appends to buf one observation {ts, sender, client_ip, recipients: rcpt_fmt with 0..n-1}. */
static void obs(char **buf, size_t *len, size_t *cap, long long ts, const char *sender,
                const char *ip, const char *rcpt_fmt, int first, int n) {
  char one[8192];
  int k = snprintf(one, sizeof one,
                   "%s{\"ts\": %lld, \"sender\": \"%s\", \"client_ip\": \"%s\", \"recipients\": [",
                   (*buf)[*len - 1] == '[' ? "" : ",", ts, sender, ip);
  for (int i = 0; i < n; i++) {
    k += snprintf(one + k, sizeof one - (size_t)k, "%s\"", i ? "," : "");
    k += snprintf(one + k, sizeof one - (size_t)k, rcpt_fmt, first + i);
    k += snprintf(one + k, sizeof one - (size_t)k, "\"");
  }
  k += snprintf(one + k, sizeof one - (size_t)k, "]}");
  if (*len + (size_t)k + 8 > *cap) {
    *cap = 2 * (*cap + (size_t)k + 8);
    *buf = realloc(*buf, *cap);
    assert_non_null(*buf);
  }
  memcpy(*buf + *len, one, (size_t)k + 1);
  *len += (size_t)k;
}

/* An organisation (12 colleagues on org.example, one mail server) and a freemail provider
 * (16 honest users and 3 spammers on mail.example, two outbound IPs), over 5 days:
 * colleagues and honest users write to each other and answer; spammers mail strangers
 * once each; on day 5 colleague c0's account is stolen and mails 30 strangers in an hour.
 * Labelled: two spammers bad, four honest freemail users good. Then a recomputation. */
static void build_mixed_world(fixture_t *f) {
  size_t cap = 1 << 16, len = 0;
  char *b = malloc(cap);
  assert_non_null(b);
  len = (size_t)snprintf(b, cap, "{\"id\": 1, \"op\": \"ingest\", \"observations\": [");
  char who[64], fmt[64];
  for (int day = 0; day < 5; day++)
    for (int i = 0; i < 12; i++) { /* each colleague writes to the next three, who answer */
      snprintf(who, sizeof who, "c%d@org.example", i);
      obs(&b, &len, &cap, T0 + day * 86400 + i * 60, who, "192.0.2.10", "c%d@org.example",
          (i + 1) % 9, 3);
    }
  for (int day = 0; day < 5; day++)
    for (int i = 0; i < 16; i++) {
      snprintf(who, sizeof who, "u%d@mail.example", i);
      obs(&b, &len, &cap, T0 + day * 86400 + 3600 + i * 60, who,
          i % 2 ? "198.51.100.1" : "198.51.100.2", "u%d@mail.example", (i + 1) % 13, 3);
    }
  for (int s = 0; s < 3; s++) { /* spammers: 25 strangers each, once, from the provider */
    snprintf(who, sizeof who, "promo%d@mail.example", s);
    snprintf(fmt, sizeof fmt, "t%d_%%d@victims.example", s);
    for (int j = 0; j < 5; j++)
      obs(&b, &len, &cap, T0 + 3 * 86400 + s * 600 + j * 60, who,
          s % 2 ? "198.51.100.1" : "198.51.100.2", fmt, j * 5, 5);
  }
  for (int j = 0; j < 6; j++) /* the stolen account's burst, on day 5, from its own server */
    obs(&b, &len, &cap, T0 + 4 * 86400 + 7200 + j * 300, "c0@org.example", "192.0.2.10",
        "v%d@victims.example", j * 5, 5);
  snprintf(b + len, cap - len, "]}");
  const msgpack_object *r = call(f, "ingest", "%s", b);
  free(b);
  assert_int_equal(rg_test_uint(r, "rejected_count"), 0);
  call(f, "label",
       "{\"id\": 2, \"op\": \"label\", \"labels\": ["
       "{\"actor\": \"address:promo0@mail.example\", \"verdict\": \"bad\"},"
       "{\"actor\": \"address:promo1@mail.example\", \"verdict\": \"bad\"},"
       "{\"actor\": \"address:u2@mail.example\", \"verdict\": \"good\"},"
       "{\"actor\": \"address:u4@mail.example\", \"verdict\": \"good\"},"
       "{\"actor\": \"address:u6@mail.example\", \"verdict\": \"good\"},"
       "{\"actor\": \"address:u8@mail.example\", \"verdict\": \"good\"}]}");
  r = call(f, "recompute", "{\"id\": 3, \"op\": \"recompute\", \"wait\": true}");
  assert_true(rg_test_get(r, "result.ok")->via.boolean);
}

/* The check's actor entry of `role`. */
static const msgpack_object *role_entry(const msgpack_object *r, const char *role) {
  const msgpack_object *actors = rg_test_get(r, "actors");
  for (uint32_t i = 0; i < actors->via.array.size; i++)
    if (rg_test_str_is(&actors->via.array.ptr[i], "role", role)) return &actors->via.array.ptr[i];
  fail_msg("no %s in the check reply", role);
  return NULL;
}

/* A stolen account taints its own address, not its organisation: its burst is stopped, its
 * colleagues' mail through the same domain and server is accepted. */
static void test_engine_check_a_compromised_account_does_not_taint_its_organisation(void **state) {
  fixture_t *f = *state;
  build_mixed_world(f);
  const msgpack_object *r =
      call(f, "check",
           "{\"id\": 10, \"op\": \"check\", \"sender\": \"c0@org.example\", \"client_ip\": "
           "\"192.0.2.10\", \"recipients\": [\"v31@victims.example\"], \"ts\": %lld}",
           T0 + 4 * 86400 + 9000);
  assert_false(rg_test_str_is(r, "verdict", "accept"));
  assert_true(rg_test_str_is(r, "decided_by", "sender"));
  assert_non_null(strstr((const char *)rg_test_get(r, "reason")->via.str.ptr, "new recipients"));
  r = call(f, "check",
           "{\"id\": 11, \"op\": \"check\", \"sender\": \"c5@org.example\", \"client_ip\": "
           "\"192.0.2.10\", \"recipients\": [\"c6@org.example\"], \"ts\": %lld}",
           T0 + 4 * 86400 + 9000);
  assert_true(rg_test_str_is(r, "verdict", "accept"));
  const msgpack_object *domain = role_entry(r, "sender_domain"), *ip = role_entry(r, "client_ip");
  assert_true(rg_test_uint(domain, "users") >= 12);
  assert_true(rg_test_uint(ip, "users") >= 12);
  assert_true(rg_test_uint(ip, "bad_users") <= 1);
}

/* A freemail domain carrying honest users and spammers is mixed: it does not condemn its
 * honest users, and a spammer on it is stopped by its own unengaged fan-out. */
static void test_engine_check_mixed_freemail_accepts_its_honest_users(void **state) {
  fixture_t *f = *state;
  build_mixed_world(f);
  const msgpack_object *r =
      call(f, "check",
           "{\"id\": 12, \"op\": \"check\", \"sender\": \"u7@mail.example\", \"client_ip\": "
           "\"198.51.100.1\", \"recipients\": [\"u9@mail.example\"], \"ts\": %lld}",
           T0 + 4 * 86400 + 9000);
  assert_true(rg_test_str_is(r, "verdict", "accept"));
  assert_true(role_entry(r, "sender_domain")->via.map.size > 0);
  assert_true(rg_test_get(role_entry(r, "sender_domain"), "mixed")->via.boolean);
  r = call(f, "check",
           "{\"id\": 13, \"op\": \"check\", \"sender\": \"promo2@mail.example\", \"client_ip\": "
           "\"198.51.100.2\", \"recipients\": [\"t9_99@victims.example\"], \"ts\": %lld}",
           T0 + 4 * 86400 + 9000);
  assert_false(rg_test_str_is(r, "verdict", "accept"));
  assert_true(rg_test_str_is(r, "decided_by", "sender"));
}

/* An allowlist label on the sender's domain wins over everything else. */
static void test_engine_check_allowlist_wins(void **state) {
  fixture_t *f = *state;
  build_mixed_world(f);
  call(f, "label",
       "{\"id\": 14, \"op\": \"label\", \"labels\": [{\"actor\": \"domain:mail.example\", "
       "\"verdict\": \"good\", \"source\": \"allowlist\"}]}");
  const msgpack_object *r =
      call(f, "check",
           "{\"id\": 15, \"op\": \"check\", \"sender\": \"promo0@mail.example\", \"client_ip\": "
           "\"198.51.100.2\", \"recipients\": [\"t0_99@victims.example\"], \"ts\": %lld}",
           T0 + 4 * 86400 + 9000);
  assert_true(rg_test_str_is(r, "verdict", "accept"));
  assert_true(rg_test_str_is(r, "reason", "sender_domain: allowlisted"));
  r = call(f, "stats", "{\"id\": 16, \"op\": \"stats\"}");
  assert_int_equal(rg_test_uint(r, "check.allowlisted"), 1);
}

/* The client's verified reverse name is a role of its own: labelled bad, it decides; the
 * structured call (the policy listener's) gives the verdict and words the op gives. */
static void test_engine_check_weighs_the_client_rdns_name(void **state) {
  fixture_t *f = *state;
  call(f, "label",
       "{\"id\": 1, \"op\": \"label\", \"labels\": [{\"actor\": "
       "\"domain:mta7.snowshoe.example\", \"verdict\": \"bad\"}]}");
  const msgpack_object *r =
      call(f, "check",
           "{\"id\": 2, \"op\": \"check\", \"sender\": \"new@fresh.example\", \"client_ip\": "
           "\"203.0.113.7\", \"rdns\": \"MTA7.snowshoe.example\", \"authenticated\": true}");
  assert_true(rg_test_str_is(r, "verdict", "reject"));
  assert_true(rg_test_str_is(r, "decided_by", "client_rdns"));
  assert_true(rg_test_str_is(r, "reason", "client_rdns: labelled bad"));
  assert_true(rg_test_get(r, "authenticated")->via.boolean);

  rg_wire_observation_t o = {.sender = {"new@fresh.example", 17},
                             .client_ip = {"203.0.113.7", 11},
                             .rdns = {"mta7.snowshoe.example", 21}};
  rg_check_verdict_t v;
  char msg[160];
  assert_int_equal(rg_engine_check(f->engine, &o, &v, msg, sizeof msg), RG_OK);
  assert_int_equal(v.verdict, 3);
  assert_string_equal(rg_engine_verdict_name(v.verdict), "reject");
  assert_string_equal(v.decided_by, "client_rdns");
  assert_string_equal(v.reason, "client_rdns: labelled bad");
  assert_false(v.authenticated);
  o.rdns = (rg_str_t){"", 0}; /* without it nothing is known of this message */
  assert_int_equal(rg_engine_check(f->engine, &o, &v, msg, sizeof msg), RG_OK);
  assert_int_equal(v.verdict, 0);
  assert_false(v.known);
  assert_null(v.decided_by);
  o.sender = (rg_str_t){"not an address", 14};
  assert_int_equal(rg_engine_check(f->engine, &o, &v, msg, sizeof msg), RG_EINVALID_ACTOR);
}

static int setup_observe(void **state) {
  static const char *const settings[] = {"check.mode", "observe", NULL};
  return open_with(state, settings);
}

/* In observe mode every answer is accept; the verdict it would be is reported and counted. */
static void test_engine_check_observe_mode_accepts_and_counts(void **state) {
  fixture_t *f = *state;
  build_mixed_world(f);
  const msgpack_object *r =
      call(f, "check",
           "{\"id\": 17, \"op\": \"check\", \"sender\": \"promo0@mail.example\", \"client_ip\": "
           "\"198.51.100.2\", \"recipients\": [\"t0_99@victims.example\"], \"ts\": %lld}",
           T0 + 4 * 86400 + 9000);
  assert_true(rg_test_str_is(r, "verdict", "accept"));
  assert_true(rg_test_str_is(r, "mode", "observe"));
  assert_false(rg_test_str_is(r, "would_be", "accept"));
  r = call(f, "stats", "{\"id\": 18, \"op\": \"stats\"}");
  assert_int_equal(rg_test_uint(r, "check.verdicts.accept"), 0);
  assert_int_equal(rg_test_uint(r, "check.decided_by.sender"), 1);
}

/* Writes after stop are refused with shutting_down, and nothing is left queued. */
static void test_engine_refuses_writes_after_stop(void **state) {
  fixture_t *f = *state;
  rg_engine_stop(f->engine);
  const msgpack_object *r =
      call(f, "ingest",
           "{\"id\":1,\"op\":\"ingest\",\"edges\":[{\"src\":\"address:a@x.example\","
           "\"dst\":\"address:b@y.example\",\"kind\":\"mailed\"}]}");
  assert_string_equal(code_of(r), "shutting_down");
}

/* Cluster mode: a write applied from the log commits its stream sequence in the same
 * transaction, is taken at the publisher's time (req.now), and a refused entry still moves
 * the sequence on; an entry that does not follow the last one is refused (a replica never
 * records a position past an entry it did not apply); the sequence survives a restart. */
static void test_engine_logged_write_records_its_sequence_with_the_data(void **state) {
  fixture_t *f = *state;
  uint64_t seq = 99;
  assert_int_equal(rg_engine_log_seq(f->engine, &seq), RG_OK);
  assert_int_equal(seq, 0);
  rg_buf_t frame;
  rg_buf_init(&frame, 1 << 20);
  rg_test_frame_json(&frame, "%s",
                     "{\"id\":1,\"op\":\"ingest\",\"observations\":[{\"sender\":\"a@x.example\","
                     "\"recipients\":[\"b@y.example\"],\"client_ip\":\"192.0.2.7\"}]}");
  rg_request_t req;
  char err[256] = "";
  assert_int_equal(rg_proto_decode_request(frame.data + RG_FRAME_HEADER,
                                           frame.len - RG_FRAME_HEADER, &f->limits, &req, err,
                                           sizeof err),
                   RG_OK);
  req.now = 1600000000; /* the publisher's clock, not this one */
  rg_write_t *w = NULL;
  assert_int_equal(rg_engine_write_prepare(f->engine, &req, &w, err, sizeof err), RG_OK);
  rg_request_free(&req);
  rg_buf_free(&frame);
  rg_engine_submit_logged(f->engine, w, 1, on_done, f);
  wait_for(f, 1);
  assert_string_equal(code_of(reply_of(f, "ingest")), "(no error)");
  assert_int_equal(rg_engine_log_seq(f->engine, &seq), RG_OK);
  assert_int_equal(seq, 1);
  const msgpack_object *r =
      call(f, "lookup", "{\"id\":2,\"op\":\"lookup\",\"actors\":[\"address:a@x.example\"]}");
  assert_int_equal(rg_test_uint(r, "results.0.first_seen"), 1600000000);

  assert_int_equal(rg_engine_skip_logged(f->engine, 2, on_done, f), RG_OK);
  wait_for(f, 2);
  assert_int_equal(rg_engine_log_seq(f->engine, &seq), RG_OK);
  assert_int_equal(seq, 2);
  assert_int_equal(rg_engine_skip_logged(f->engine, 4, on_done, f), RG_OK); /* 3 is missing */
  wait_for(f, 3);
  assert_string_equal(code_of(reply_of(f, "ping")), "internal");
  assert_int_equal(rg_engine_log_seq(f->engine, &seq), RG_OK);
  assert_int_equal(seq, 2);

  rg_engine_stop(f->engine); /* and again on the same store */
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  rg_engine_close(f->engine);
  rg_config_t cfg;
  rg_config_defaults(&cfg);
  snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", f->dir);
  cfg.recompute_interval_s = 0;
  assert_int_equal(rg_engine_open(&cfg, &f->loop, &f->engine, err, sizeof err), RG_OK);
  assert_int_equal(rg_engine_log_seq(f->engine, &seq), RG_OK);
  assert_int_equal(seq, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_engine_ingest_then_lookup_sees_the_commit, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_engine_ingest_rejects_only_the_bad_item, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_engine_label_and_forget, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_recompute_then_check, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_recipient_named_twice_counts_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_engine_new_actor_gets_a_provisional_score_from_its_neighbours, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_engine_large_ingest_lets_other_writes_commit_between_slices, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_engine_check_a_compromised_account_does_not_taint_its_organisation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_check_mixed_freemail_accepts_its_honest_users,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_check_allowlist_wins, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_check_weighs_the_client_rdns_name, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_engine_check_observe_mode_accepts_and_counts,
                                      setup_observe, teardown),
      cmocka_unit_test_setup_teardown(test_engine_refuses_writes_after_stop, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_logged_write_records_its_sequence_with_the_data,
                                      setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
