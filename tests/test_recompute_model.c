/* test_recompute_model.c — the learned model through the real server: a recomputation over a
 * small generated mail graph with enough labels trains and serves the model, and its record
 * shows in the recompute reply, status and stats; a lookup of an unlabelled spammer returns
 * the model's reasons as data; with too few labels the model stays off and says why. Every
 * reply is checked against schemas/protocol.json (rg_test_call). Fixtures: a fresh temporary
 * directory and repgraphd on a free port (testutil), no sleeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define HONEST   120
#define SPAMMERS 40

/* Honest senders on their organisation's IP mail three colleagues who write back; spammers
 * share four IPs and mail twenty strangers each. */
static void ingest_world(rg_client_t *c) {
  size_t cap = 1 << 20, n = 0;
  char *json = malloc(cap);
  assert_non_null(json);
  n += (size_t)snprintf(json + n, cap - n, "{\"id\": 1, \"op\": \"ingest\", \"observations\": [");
  bool first = true;
  for (int i = 0; i < HONEST; i++)
    for (int k = 0; k < 3; k++) {
      int peer = (i + k + 1) % HONEST;
      n += (size_t)snprintf(json + n, cap - n,
                            "%s{\"sender\": \"user%d@org%d.example\", \"client_ip\": "
                            "\"10.0.%d.1\", \"recipients\": [\"user%d@org%d.example\"]}",
                            first ? "" : ",", i, i % 10, i % 10, peer, peer % 10);
      first = false;
    }
  for (int s = 0; s < SPAMMERS; s++) {
    n += (size_t)snprintf(json + n, cap - n,
                          ",{\"sender\": \"spam%d@junk.example\", \"client_ip\": \"192.0.2.%d\", "
                          "\"recipients\": [",
                          s, 1 + s % 4);
    for (int r = 0; r < 20; r++)
      n += (size_t)snprintf(json + n, cap - n, "%s\"user%d@org%d.example\"", r ? "," : "",
                            (s * 7 + r * 13) % HONEST, ((s * 7 + r * 13) % HONEST) % 10);
    n += (size_t)snprintf(json + n, cap - n, "]}");
  }
  snprintf(json + n, cap - n, "]}");
  msgpack_unpacked r;
  rg_test_call(c, &r, "%s", json);
  msgpack_unpacked_destroy(&r);
  free(json);
}

static void label(rg_client_t *c, int bad, int good) {
  char json[16384];
  size_t n = (size_t)snprintf(json, sizeof json, "{\"id\": 2, \"op\": \"label\", \"labels\": [");
  for (int s = 0; s < bad; s++)
    n += (size_t)snprintf(json + n, sizeof json - n,
                          "%s{\"actor\": \"address:spam%d@junk.example\", \"verdict\": \"bad\"}",
                          s ? "," : "", s);
  for (int i = 0; i < good; i++)
    n += (size_t)snprintf(json + n, sizeof json - n,
                          ",{\"actor\": \"address:user%d@org%d.example\", \"verdict\": \"good\"}",
                          i, i % 10);
  snprintf(json + n, sizeof json - n, "]}");
  msgpack_unpacked r;
  rg_test_call(c, &r, "%s", json);
  msgpack_unpacked_destroy(&r);
}

static int setup(void **state) {
  static const char *const extra[] = {"--set", "model.enabled=1", "--set", "model.min_labels=10",
                                      NULL};
  return rg_test_fixture_start(state, extra);
}

static void test_recompute_trains_and_serves_the_model(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  ingest_world(c);
  label(c, 20, 60);
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"recompute\", \"wait\": true}");
  assert_true(rg_test_str_is(&r.data, "result.model.state", "serving"));
  assert_int_equal(rg_test_uint(&r.data, "result.model.held_out.n"), 80);
  assert_non_null(rg_test_get(&r.data, "result.phases_ms.train"));
  msgpack_unpacked_destroy(&r);

  rg_test_call(c, &r, "{\"id\": 4, \"op\": \"status\"}");
  assert_true(rg_test_str_is(&r.data, "model.state", "serving"));
  assert_int_equal(rg_test_uint(&r.data, "model.bad_labels"), 20);
  const msgpack_object *auc = rg_test_get(&r.data, "model.held_out.auc");
  assert_non_null(auc);
  assert_true(auc->via.f64 > 0.9);
  msgpack_unpacked_destroy(&r);

  rg_test_call(c, &r, "{\"id\": 5, \"op\": \"stats\"}");
  assert_true(rg_test_str_is(&r.data, "model.state", "serving"));
  msgpack_unpacked_destroy(&r);

  /* an unlabelled spammer: a high reputation with the model's reasons as data */
  rg_test_call(c, &r,
               "{\"id\": 6, \"op\": \"lookup\", \"actors\": [\"address:spam33@junk.example\", "
               "\"address:user100@org0.example\"]}");
  const msgpack_object *rep = rg_test_get(&r.data, "results.0.reputation");
  assert_non_null(rep);
  assert_true(rep->via.f64 > 0.8);
  const msgpack_object *reasons = rg_test_get(&r.data, "results.0.reasons");
  assert_non_null(reasons);
  bool model_reason = false;
  for (uint32_t i = 0; i < reasons->via.array.size; i++) {
    const msgpack_object *x = &reasons->via.array.ptr[i];
    if (rg_test_str_is(x, "code", "model")) {
      model_reason = true;
      assert_non_null(rg_test_get(x, "feature"));
      assert_non_null(rg_test_get(x, "contribution"));
    }
  }
  assert_true(model_reason);
  const msgpack_object *honest = rg_test_get(&r.data, "results.1.reputation");
  assert_non_null(honest);
  assert_true(honest->via.f64 < 0.2);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

static void test_recompute_with_too_few_labels_serves_the_propagation(void **state) {
  rg_test_fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  ingest_world(c);
  label(c, 3, 60);
  msgpack_unpacked r;
  rg_test_call(c, &r, "{\"id\": 3, \"op\": \"recompute\", \"wait\": true}");
  assert_true(rg_test_str_is(&r.data, "result.model.state", "off"));
  const msgpack_object *note = rg_test_get(&r.data, "result.model.note");
  assert_non_null(note);
  char text[200];
  snprintf(text, sizeof text, "%.*s", (int)note->via.str.size, note->via.str.ptr);
  assert_non_null(strstr(text, "too few labels"));
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_recompute_trains_and_serves_the_model, setup,
                                      rg_test_fixture_stop),
      cmocka_unit_test_setup_teardown(test_recompute_with_too_few_labels_serves_the_propagation,
                                      setup, rg_test_fixture_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
