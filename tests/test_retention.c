/* test_retention.c — the retention sweep end to end, on the real repgraphd with
 * retention.edges = 30 days and a pass every second: a store of which half the edges were
 * last seen 60 days ago shrinks to the other half (and the actors only those edges held go),
 * stats count what expired, and ingest sent while a slow sweep runs (small slices with
 * pauses) is acknowledged and kept. Waits are bounded polls of stats, never sleeps. */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define DAY 86400

typedef rg_test_fixture_t fixture_t;

static int setup_fast(void **state) {
  static const char *const extra[] = {
      "--set", "retention.edges=30d",      "--set", "retention.interval=1s",
      "--set", "retention.slice_rows=200", "--set", "retention.slice_pause_ms=0",
      NULL};
  return rg_test_fixture_start(state, extra);
}

static int setup_slow(void **state) {
  static const char *const extra[] = {
      "--set", "retention.edges=30d",     "--set", "retention.interval=1s",
      "--set", "retention.slice_rows=20", "--set", "retention.slice_pause_ms=10",
      NULL};
  return rg_test_fixture_start(state, extra);
}

static int teardown(void **state) {
  return rg_test_fixture_stop(state);
}

/* Ingests n mailed edges s<from+i>@<dom> -> r<i % 97>@rcpt.example at ts, in batches of
 * 1,000; each batch must be acknowledged whole. */
static void ingest_edges(rg_client_t *c, const char *dom, int from, int n, int64_t ts) {
  for (int b = 0; b < n; b += 1000) {
    size_t cap = 1000 * 160 + 64, len = 0;
    char *req = malloc(cap);
    len += (size_t)snprintf(req, cap, "{\"id\": 1, \"op\": \"ingest\", \"edges\": [");
    int m = n - b < 1000 ? n - b : 1000;
    for (int i = 0; i < m; i++)
      len +=
          (size_t)snprintf(req + len, cap - len,
                           "%s{\"src\": \"address:s%d@%s\", \"dst\": \"address:r%d@rcpt.example\", "
                           "\"kind\": \"mailed\", \"ts\": %lld}",
                           i ? ", " : "", from + b + i, dom, (b + i) % 97, (long long)ts);
    snprintf(req + len, cap - len, "]}");
    msgpack_unpacked r;
    char code[64];
    rg_test_call(c, &r, "%s", req);
    free(req);
    assert_string_equal(rg_test_code_of(&r, code), "(no error)");
    assert_int_equal(rg_test_uint(&r.data, "accepted"), m);
    msgpack_unpacked_destroy(&r);
  }
}

/* stats, the caller's to destroy. */
static void stats(rg_client_t *c, msgpack_unpacked *r) {
  rg_test_call(c, r, "{\"id\": 2, \"op\": \"stats\"}");
}

/* Polls stats (at most 60 s) until `passes` sweep passes completed after `after` did. */
static void wait_passes(rg_client_t *c, uint64_t after, uint64_t passes) {
  uint64_t t0 = rg_test_now_ms(), done = 0;
  while (rg_test_now_ms() - t0 < 60000) {
    msgpack_unpacked r;
    stats(c, &r);
    done = rg_test_uint(&r.data, "retention.passes");
    msgpack_unpacked_destroy(&r);
    if (done >= after + passes) return;
    struct timespec ts = {0, 20 * 1000 * 1000}; /* a poll interval, not a readiness guess */
    nanosleep(&ts, NULL);
  }
  fail_msg("only %llu sweep passes in 60 s", (unsigned long long)done);
}

static void test_retention_sweep_halves_a_store_with_half_its_edges_old(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  int64_t now = time(NULL);
  enum { N = 5000 };
  ingest_edges(c, "old.example", 0, N, now - 60 * DAY);
  ingest_edges(c, "new.example", 0, N, now);
  msgpack_unpacked r;
  stats(c, &r);
  uint64_t passes = rg_test_uint(&r.data, "retention.passes");
  msgpack_unpacked_destroy(&r);
  wait_passes(c, passes, 2); /* the pass that began before the last write may have missed some */
  stats(c, &r);
  uint64_t edges = rg_test_uint(&r.data, "edges.mailed");
  assert_int_equal(edges, N);
  assert_int_equal(rg_test_uint(&r.data, "actors.address"), N + 97); /* new senders, recipients */
  assert_int_equal(rg_test_uint(&r.data, "retention.expired.edges"), N); /* since start */
  assert_true(rg_test_uint(&r.data, "retention.expired.actors") >= N);
  assert_true(rg_test_uint(&r.data, "retention.slices") >= N / 200);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r,
               "{\"id\": 3, \"op\": \"lookup\", \"actors\": [\"address:s7@old.example\", "
               "\"address:s7@new.example\"]}");
  assert_false(rg_test_get(&r.data, "results.0.known")->via.boolean);
  assert_true(rg_test_get(&r.data, "results.1.known")->via.boolean);
  msgpack_unpacked_destroy(&r);
  rg_test_call(c, &r, "{\"id\": 4, \"op\": \"forget\", \"actors\": [\"address:s7@new.example\"]}");
  assert_int_equal(rg_test_uint(&r.data, "forgotten"), 1);
  msgpack_unpacked_destroy(&r);
  stats(c, &r);
  assert_int_equal(rg_test_uint(&r.data, "retention.forgotten"), 1);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

static void test_retention_ingest_during_a_sweep_is_acknowledged_and_kept(void **state) {
  fixture_t *f = *state;
  rg_client_t *c = rg_test_connect(&f->srv);
  int64_t now = time(NULL);
  enum { N_OLD = 6000, N_NEW = 2000 };
  /* the reference time is the newest edge (graph.reference_time = newest): one of today
   * first, else a store of old edges only is a replayed archive and nothing is old in it */
  ingest_edges(c, "new.example", N_NEW, 1, now);
  ingest_edges(c, "old.example", 0, N_OLD, now - 60 * DAY); /* 300 slices of 20: seconds */
  uint64_t t0 = rg_test_now_ms(), slices_at_start = 0;
  bool running = false;
  while (!running && rg_test_now_ms() - t0 < 30000) { /* a pass has started */
    msgpack_unpacked r;
    stats(c, &r);
    running = rg_test_get(&r.data, "retention.running")->via.boolean &&
              rg_test_uint(&r.data, "retention.expired.edges") > 0;
    slices_at_start = rg_test_uint(&r.data, "retention.slices");
    msgpack_unpacked_destroy(&r);
  }
  assert_true(running);
  ingest_edges(c, "new.example", 0, N_NEW, now); /* acknowledged batch by batch, asserted */
  msgpack_unpacked r;
  stats(c, &r);
  uint64_t slices_after = rg_test_uint(&r.data, "retention.slices");
  bool still_running = rg_test_get(&r.data, "retention.running")->via.boolean;
  msgpack_unpacked_destroy(&r);
  print_message("sweep slices while ingesting: %llu (still running after: %d)\n",
                (unsigned long long)(slices_after - slices_at_start), still_running);
  assert_true(slices_after > slices_at_start); /* the sweep and the ingest interleaved */

  stats(c, &r);
  uint64_t passes = rg_test_uint(&r.data, "retention.passes");
  msgpack_unpacked_destroy(&r);
  wait_passes(c, passes, 2);
  stats(c, &r);
  assert_int_equal(rg_test_uint(&r.data, "edges.mailed"), N_NEW + 1);
  msgpack_unpacked_destroy(&r);
  rg_client_close(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_retention_sweep_halves_a_store_with_half_its_edges_old,
                                      setup_fast, teardown),
      cmocka_unit_test_setup_teardown(test_retention_ingest_during_a_sweep_is_acknowledged_and_kept,
                                      setup_slow, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
