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

static int setup(void **state) {
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
  char err[256] = "";
  assert_int_equal(rg_engine_open(&cfg, &f->loop, &f->engine, err, sizeof err), RG_OK);
  f->limits =
      (rg_proto_limits_t){cfg.max_frame_bytes, cfg.max_batch_items, cfg.max_recipients, 0, 0};
  rg_buf_init(&f->out, 1 << 24);
  msgpack_unpacked_init(&f->reply);
  *state = f;
  return 0;
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
          test_engine_large_ingest_lets_other_writes_commit_between_slices, setup, teardown),
      cmocka_unit_test_setup_teardown(test_engine_refuses_writes_after_stop, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
