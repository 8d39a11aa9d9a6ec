/* test_store_graph.c — the graph in the store (store_graph.c): actor interning, edges with
 * decayed weights in both indexes, scans, and forget with its neighbours' degrees and
 * weights. Single-threaded cmocka tests; each gets a fresh store in a temporary directory
 * (testutil_store.h) and pinned timestamps. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "repgraph/buf.h"
#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define T0  INT64_C(1700000000)     /* a fixed "now"; no test reads the wall clock */
#define H   RG_TEST_STORE_HALF_LIFE /* half-life of the test stores, seconds */
#define HS  INT64_C(3600)
#define EPS 1e-9

/* ---- actors ------------------------------------------------------------------------- */

static void test_store_upsert_actor_creates_id_once(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  rg_actor_t a = rg_test_actor(RG_ACTOR_ADDRESS, "a@x.org");
  uint64_t id1 = 0, id2 = 0, id3 = 0;
  assert_int_equal(rg_store_upsert_actor(t, &a, T0, T0, 1, &id1), RG_OK);
  assert_int_equal(id1, 1);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  assert_int_equal(b, 2);
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 + 10, T0 + 10, 1, &id2), RG_OK);
  assert_int_equal(id2, id1);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_wbegin(f);
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 + 20, T0 + 20, 5, &id3), RG_OK);
  assert_int_equal(id3, id1);
  /* The same text under another type is another actor. */
  uint64_t d = rg_test_upsert(t, RG_ACTOR_DOMAIN, "a@x.org", T0);
  assert_int_equal(d, 3);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  rg_store_counts_t c = rg_test_counts(t);
  assert_int_equal(c.actors[RG_ACTOR_ADDRESS], 2);
  assert_int_equal(c.actors[RG_ACTOR_DOMAIN], 1);
  assert_int_equal(c.actors[RG_ACTOR_IP], 0);
  rg_actor_rec_t r = rg_test_get_actor(t, id1, T0 + 20);
  assert_int_equal(r.actor.type, RG_ACTOR_ADDRESS);
  assert_int_equal(r.actor.len, 7);
  assert_string_equal(r.actor.key, "a@x.org");
  assert_int_equal(r.messages, 7);
  rg_store_end(t);
}

static void test_store_upsert_actor_tracks_first_and_last_seen(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  rg_actor_t a = rg_test_actor(RG_ACTOR_IP, "198.51.100.7");
  uint64_t id = 0;
  assert_int_equal(rg_store_upsert_actor(t, &a, T0, T0, 2, &id), RG_OK);
  rg_actor_rec_t r = rg_test_get_actor(t, id, T0);
  assert_int_equal(r.first_seen, T0);
  assert_int_equal(r.last_seen, T0);
  assert_int_equal(r.messages, 2);
  assert_int_equal(r.as_of, T0);
  assert_float_equal(r.weight_out, 0, 0);
  assert_float_equal(r.weight_in, 0, 0);
  const uint32_t none[RG_EDGE_KIND_COUNT] = {0};
  rg_test_assert_degrees(&r, none, none);

  assert_int_equal(rg_store_upsert_actor(t, &a, T0 + 500, T0 + 500, 1, &id), RG_OK);
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 - 300, T0 - 300, 1, &id),
                   RG_OK); /* older news */
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 + 100, T0 + 100, 0, &id), RG_OK);
  r = rg_test_get_actor(t, id, T0 + 500);
  assert_int_equal(r.first_seen, T0 - 300);
  assert_int_equal(r.last_seen, T0 + 500);
  assert_int_equal(r.messages, 4);
  /* One call for a write that names the actor at several times: the whole span. */
  assert_int_equal(rg_store_upsert_actor(t, &a, T0 - 900, T0 + 900, 3, &id), RG_OK);
  r = rg_test_get_actor(t, id, T0 + 900);
  assert_int_equal(r.first_seen, T0 - 900);
  assert_int_equal(r.last_seen, T0 + 900);
  assert_int_equal(r.messages, 7);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

static void test_store_find_unknown_actor_is_not_found(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_rbegin(f);
  rg_actor_t a = rg_test_actor(RG_ACTOR_NET, "203.0.113.0/24");
  uint64_t id = 77;
  assert_int_equal(rg_store_find_actor(t, &a, &id), RG_ENOT_FOUND);
  rg_actor_rec_t r;
  assert_int_equal(rg_store_get_actor(t, 1, T0, &r), RG_ENOT_FOUND);
  rg_store_end(t);
}

/* ---- edges -------------------------------------------------------------------------- */

static void test_store_add_edge_creates_out_and_in_entries(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 0.75, 3), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  rg_test_seen_t s = rg_test_scan_out(t, a, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, a);
  assert_int_equal(s.e[0].kind, RG_EDGE_MAILED);
  assert_int_equal(s.e[0].dst, b);
  assert_int_equal(s.e[0].rec.count, 3);
  assert_float_equal(s.e[0].rec.weight, 0.75, EPS);
  s = rg_test_scan_in(t, b, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, a);
  assert_int_equal(s.e[0].kind, RG_EDGE_MAILED);
  assert_int_equal(s.e[0].dst, b);
  assert_int_equal(s.e[0].rec.count, 3);
  assert_float_equal(s.e[0].rec.weight, 0.75, EPS);
  assert_int_equal(rg_test_scan_out(t, b, T0).n, 0);
  assert_int_equal(rg_test_scan_in(t, a, T0).n, 0);

  rg_edge_rec_t e = rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_int_equal(e.count, 3);
  assert_int_equal(e.first_seen, T0);
  assert_int_equal(e.last_seen, T0);
  assert_int_equal(e.as_of, T0);
  assert_int_equal(rg_store_get_edge(t, b, RG_EDGE_MAILED, a, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_edge(t, a, RG_EDGE_SENT_FROM, b, T0, &e), RG_ENOT_FOUND);

  rg_store_counts_t c = rg_test_counts(t);
  assert_int_equal(c.edges[RG_EDGE_MAILED], 1);
  assert_int_equal(rg_test_total_edges(&c), 1);
  rg_actor_rec_t ra = rg_test_get_actor(t, a, T0), rb = rg_test_get_actor(t, b, T0);
  const uint32_t none[RG_EDGE_KIND_COUNT] = {0};
  uint32_t one_mailed[RG_EDGE_KIND_COUNT] = {0};
  one_mailed[RG_EDGE_MAILED] = 1;
  rg_test_assert_degrees(&ra, one_mailed, none);
  rg_test_assert_degrees(&rb, none, one_mailed);
  assert_float_equal(ra.weight_out, 0.75, EPS);
  assert_float_equal(ra.weight_in, 0, EPS);
  assert_float_equal(rb.weight_out, 0, EPS);
  assert_float_equal(rb.weight_in, 0.75, EPS);
  rg_store_end(t);
}

static void test_store_repeated_edge_adds_count_not_degree(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  uint64_t ip = rg_test_upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 2, 4), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, 0.5, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_MAILED, a, T0, 0.25, 1), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  rg_edge_rec_t e = rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_int_equal(e.count, 5);
  assert_float_equal(e.weight, 3.0, EPS);
  rg_store_counts_t c = rg_test_counts(t);
  assert_int_equal(c.edges[RG_EDGE_MAILED], 2);
  assert_int_equal(c.edges[RG_EDGE_SENT_FROM], 1);
  assert_int_equal(rg_test_total_edges(&c), 3);

  uint32_t out[RG_EDGE_KIND_COUNT] = {0}, in[RG_EDGE_KIND_COUNT] = {0};
  out[RG_EDGE_MAILED] = 1, out[RG_EDGE_SENT_FROM] = 1, in[RG_EDGE_MAILED] = 1;
  rg_actor_rec_t ra = rg_test_get_actor(t, a, T0);
  rg_test_assert_degrees(&ra, out, in);
  assert_float_equal(ra.weight_out, 3.5, EPS);
  assert_float_equal(ra.weight_in, 0.25, EPS);
  memset(out, 0, sizeof out), memset(in, 0, sizeof in);
  out[RG_EDGE_MAILED] = 1, in[RG_EDGE_MAILED] = 1;
  rg_actor_rec_t rb = rg_test_get_actor(t, b, T0);
  rg_test_assert_degrees(&rb, out, in);
  assert_float_equal(rb.weight_out, 0.25, EPS);
  assert_float_equal(rb.weight_in, 3.0, EPS);
  memset(out, 0, sizeof out), memset(in, 0, sizeof in);
  in[RG_EDGE_SENT_FROM] = 1;
  rg_actor_rec_t ri = rg_test_get_actor(t, ip, T0);
  rg_test_assert_degrees(&ri, out, in);
  assert_float_equal(ri.weight_in, 0.5, EPS);

  /* Scans: a has two out-edges in key order (kind, then dst); all edges scan with id 0. */
  rg_test_seen_t s = rg_test_scan_out(t, a, T0);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.e[0].kind, RG_EDGE_MAILED);
  assert_int_equal(s.e[1].kind, RG_EDGE_SENT_FROM);
  assert_int_equal(s.e[1].dst, ip);
  assert_int_equal(rg_test_scan_out(t, 0, T0).n, 3);
  assert_int_equal(rg_test_scan_in(t, 0, T0).n, 3);
  assert_int_equal(rg_test_scan_in(t, a, T0).n, 1);
  rg_store_end(t);
}

static int stop_after_first(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                            const rg_edge_rec_t *rec) {
  (void)src, (void)kind, (void)dst, (void)rec;
  (*(int *)ctx)++;
  return 42;
}

static void test_store_scan_stops_on_visitor_return(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  for (int i = 0; i < 5; i++) {
    char key[32];
    snprintf(key, sizeof key, "r%d@y.org", i);
    uint64_t r = rg_test_upsert(t, RG_ACTOR_ADDRESS, key, T0);
    assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, r, T0, 1, 1), RG_OK);
  }
  int calls = 0;
  assert_int_equal(rg_store_scan_out(t, a, T0, stop_after_first, &calls), 42);
  assert_int_equal(calls, 1);
  assert_int_equal(rg_test_scan_out(t, a, T0).n, 5);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

static void test_store_add_edge_requires_both_actors(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, 999, T0, 1, 1), RG_ENOT_FOUND);
  assert_int_equal(rg_store_add_edge(t, 999, RG_EDGE_MAILED, a, T0, 1, 1), RG_ENOT_FOUND);
  rg_edge_rec_t e;
  assert_int_equal(rg_store_get_edge(t, a, RG_EDGE_MAILED, 999, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(rg_test_scan_out(t, 0, T0).n, 0);
  rg_store_counts_t c = rg_test_counts(t);
  assert_int_equal(rg_test_total_edges(&c), 0);
  assert_int_equal(rg_test_get_actor(t, a, T0).out_degree[RG_EDGE_MAILED], 0);
  rg_store_end(t);
}

static void test_store_scan_out_after_resumes_exclusively(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  uint64_t c = rg_test_upsert(t, RG_ACTOR_ADDRESS, "c@x.org", T0);
  uint64_t ip = rg_test_upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, c, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  rg_test_seen_t all = rg_test_scan_out(t, a, T0);
  assert_int_equal(all.n, 3);
  rg_test_seen_t s = {0};
  assert_int_equal(rg_store_scan_out_after(t, a, RG_EDGE_MAILED, b, T0, rg_test_collect, &s),
                   RG_OK);
  assert_int_equal(s.n, 2); /* (mailed, c) and (sent_from, ip); b's own edge is not a's */
  assert_int_equal(s.e[0].dst, c);
  assert_int_equal(s.e[1].dst, ip);
  s.n = 0;
  assert_int_equal(rg_store_scan_out_after(t, a, RG_EDGE_SENT_FROM, ip, T0, rg_test_collect, &s),
                   RG_OK);
  assert_int_equal(s.n, 0);
  s.n = 0;
  assert_int_equal(rg_store_scan_out_after(t, a, RG_EDGE_MAILED, 0, T0, rg_test_collect, &s),
                   RG_OK);
  assert_int_equal(s.n, 3); /* dst 0: from the start */
  assert_int_equal(rg_store_commit(t), RG_OK);
}

/* ---- decay -------------------------------------------------------------------------- */

static void test_store_decay_halves_at_one_half_life(void **state) {
  (void)state;
  assert_float_equal(rg_store_decay(8, T0, T0 + HS, H), 4, EPS);
  assert_float_equal(rg_store_decay(8, T0, T0 + 2 * HS, H), 2, EPS);
  assert_float_equal(rg_store_decay(8, T0, T0 + HS / 2, H), 8 / 1.4142135623730951, EPS);
  assert_float_equal(rg_store_decay(1, 0, 604800, 604800), 0.5, EPS);
  /* No decay backwards, at the same time, or without a half-life. */
  assert_float_equal(rg_store_decay(8, T0, T0, H), 8, 0);
  assert_float_equal(rg_store_decay(8, T0, T0 - HS, H), 8, 0);
  assert_float_equal(rg_store_decay(8, T0, T0 + HS, 0), 8, 0);
  assert_float_equal(rg_store_decay(0, T0, T0 + HS, H), 0, 0);
}

static void test_store_edge_weight_decays_between_observations(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);
  t = rg_test_wbegin(f);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0 + HS, 1, 1), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  rg_edge_rec_t e = rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0 + HS);
  assert_float_equal(e.weight, 1 * 0.5 + 1, EPS);
  assert_int_equal(e.count, 2);
  assert_int_equal(e.first_seen, T0);
  assert_int_equal(e.last_seen, T0 + HS);
  assert_int_equal(e.as_of, T0 + HS);
  e = rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0 + 3 * HS);
  assert_float_equal(e.weight, 1.5 / 4, EPS);
  assert_int_equal(e.as_of, T0 + 3 * HS);
  /* Asking about an earlier time does not undo decay. */
  e = rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_float_equal(e.weight, 1.5, EPS);
  assert_int_equal(e.as_of, T0 + HS);

  rg_actor_rec_t ra = rg_test_get_actor(t, a, T0 + HS), rb = rg_test_get_actor(t, b, T0 + HS);
  assert_float_equal(ra.weight_out, 1.5, EPS);
  assert_float_equal(rb.weight_in, 1.5, EPS);
  assert_int_equal(ra.as_of, T0 + HS);
  ra = rg_test_get_actor(t, a, T0 + 2 * HS);
  assert_float_equal(ra.weight_out, 0.75, EPS);
  assert_int_equal(ra.as_of, T0 + 2 * HS);
  /* Scans report weights decayed to their `now` as well. */
  rg_test_seen_t s = rg_test_scan_out(t, a, T0 + 2 * HS);
  assert_float_equal(s.e[0].rec.weight, 0.75, EPS);
  s = rg_test_scan_in(t, b, T0 + 2 * HS);
  assert_float_equal(s.e[0].rec.weight, 0.75, EPS);
  rg_store_end(t);
}

static void test_store_out_of_order_observation_decays_to_latest(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0 + HS);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0 + HS);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0 + HS, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK); /* late */
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  rg_edge_rec_t e = rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0 + HS);
  assert_float_equal(e.weight, 1 + 0.5, EPS);
  assert_int_equal(e.first_seen, T0);
  assert_int_equal(e.last_seen, T0 + HS);
  assert_int_equal(e.as_of, T0 + HS);
  assert_int_equal(e.count, 2);
  rg_actor_rec_t ra = rg_test_get_actor(t, a, T0 + HS), rb = rg_test_get_actor(t, b, T0 + HS);
  assert_float_equal(ra.weight_out, 1.5, EPS);
  assert_float_equal(rb.weight_in, 1.5, EPS);
  assert_int_equal(ra.as_of, T0 + HS);
  rg_store_end(t);
}

static void test_store_actor_sums_match_edges_across_times(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  uint64_t c = rg_test_upsert(t, RG_ACTOR_ADDRESS, "c@z.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 4, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, c, T0 + 2 * HS, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_MAILED, a, T0 + HS, 2, 1), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  int64_t now = T0 + 3 * HS;
  rg_actor_rec_t ra = rg_test_get_actor(t, a, now);
  /* out: 4 from T0 (3 half-lives) + 1 from T0+2h (1 half-life) */
  assert_float_equal(ra.weight_out, 4.0 / 8 + 1.0 / 2, EPS);
  /* in: 2 from T0+h (2 half-lives) */
  assert_float_equal(ra.weight_in, 2.0 / 4, EPS);
  double sum = 0;
  rg_test_seen_t s = rg_test_scan_out(t, a, now);
  for (size_t i = 0; i < s.n; i++) sum += s.e[i].rec.weight;
  assert_float_equal(sum, ra.weight_out, EPS);
  rg_store_end(t);
}

/* ---- forget ------------------------------------------------------------------------- */

static void test_store_forget_removes_actor_key_label_and_edges(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  uint64_t c = rg_test_upsert(t, RG_ACTOR_ADDRESS, "c@z.org", T0);
  uint64_t ip = rg_test_upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, b, RG_EDGE_MAILED, c, T0, 1, 1), RG_OK);
  rg_label_t l = {.verdict = RG_VERDICT_BAD, .source = RG_SOURCE_ANALYST, .weight = 1};
  assert_int_equal(rg_store_put_label(t, a, &l), RG_OK);
  assert_int_equal(rg_store_put_label(t, b, &l), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  rg_actor_t aa = rg_test_actor(RG_ACTOR_ADDRESS, "a@x.org");
  uint64_t id;
  rg_actor_rec_t r;
  rg_label_t got;
  rg_edge_rec_t e;
  assert_int_equal(rg_store_find_actor(t, &aa, &id), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_actor(t, a, T0, &r), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_label(t, a, &got), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_label(t, b, &got), RG_OK);
  assert_int_equal(rg_store_get_edge(t, a, RG_EDGE_MAILED, b, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_edge(t, c, RG_EDGE_MAILED, a, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(rg_store_get_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, &e), RG_ENOT_FOUND);
  assert_int_equal(rg_test_scan_out(t, a, T0).n, 0);
  assert_int_equal(rg_test_scan_in(t, a, T0).n, 0);
  assert_int_equal(rg_test_scan_in(t, b, T0).n, 0);
  assert_int_equal(rg_test_scan_in(t, ip, T0).n, 0);
  /* The edge between the neighbours stays, in both indexes. */
  rg_test_seen_t s = rg_test_scan_out(t, 0, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, b);
  assert_int_equal(s.e[0].dst, c);
  s = rg_test_scan_in(t, 0, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, b);
  assert_int_equal(s.e[0].dst, c);

  rg_store_counts_t cn = rg_test_counts(t);
  assert_int_equal(cn.actors[RG_ACTOR_ADDRESS], 2);
  assert_int_equal(cn.actors[RG_ACTOR_IP], 1);
  assert_int_equal(cn.edges[RG_EDGE_MAILED], 1);
  assert_int_equal(cn.edges[RG_EDGE_SENT_FROM], 0);
  assert_int_equal(cn.labels, 1);
  rg_store_end(t);

  t = rg_test_wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_ENOT_FOUND);
  /* Ids are not reused. */
  assert_int_equal(rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0), ip + 1);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

static void test_store_forget_fixes_neighbour_degrees_and_weights(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  uint64_t c = rg_test_upsert(t, RG_ACTOR_ADDRESS, "c@z.org", T0);
  uint64_t ip = rg_test_upsert(t, RG_ACTOR_IP, "192.0.2.1", T0);
  /* b receives from a (1 at T0) and from c (2 at T0+h); c sends to a and b. */
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_MAILED, b, T0 + HS, 2, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_MAILED, a, T0, 4, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_SENT_FROM, ip, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, c, RG_EDGE_SENT_FROM, ip, T0, 3, 1), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  int64_t now = T0 + HS;
  rg_actor_rec_t rb = rg_test_get_actor(t, b, now), rc = rg_test_get_actor(t, c, now);
  assert_float_equal(rb.weight_in, 0.5 + 2, EPS);
  assert_float_equal(rc.weight_out, 2 + 4 * 0.5 + 3 * 0.5, EPS);
  rg_store_end(t);

  t = rg_test_wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  const uint32_t none[RG_EDGE_KIND_COUNT] = {0};
  uint32_t out[RG_EDGE_KIND_COUNT] = {0}, in[RG_EDGE_KIND_COUNT] = {0};
  rb = rg_test_get_actor(t, b, now);
  in[RG_EDGE_MAILED] = 1;
  rg_test_assert_degrees(&rb, none, in);
  assert_float_equal(rb.weight_in, 2, EPS);
  assert_float_equal(rb.weight_out, 0, EPS);
  rc = rg_test_get_actor(t, c, now);
  out[RG_EDGE_MAILED] = 1, out[RG_EDGE_SENT_FROM] = 1;
  rg_test_assert_degrees(&rc, out, none);
  assert_float_equal(rc.weight_out, 2 + 3 * 0.5, EPS);
  rg_actor_rec_t ri = rg_test_get_actor(t, ip, now);
  memset(in, 0, sizeof in);
  in[RG_EDGE_SENT_FROM] = 1;
  rg_test_assert_degrees(&ri, none, in);
  assert_float_equal(ri.weight_in, 3 * 0.5, EPS);
  /* What is left matches the remaining edges exactly. */
  double sum = 0;
  rg_test_seen_t s = rg_test_scan_out(t, c, now);
  assert_int_equal(s.n, 2);
  for (size_t i = 0; i < s.n; i++) sum += s.e[i].rec.weight;
  assert_float_equal(sum, rc.weight_out, EPS);
  rg_store_counts_t cn = rg_test_counts(t);
  assert_int_equal(cn.edges[RG_EDGE_MAILED], 1);
  assert_int_equal(cn.edges[RG_EDGE_SENT_FROM], 1);
  assert_int_equal(cn.actors[RG_ACTOR_ADDRESS], 2);
  rg_store_end(t);
}

static void test_store_forget_self_loop(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@y.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  rg_actor_rec_t ra = rg_test_get_actor(t, a, T0);
  assert_int_equal(ra.out_degree[RG_EDGE_MAILED], 2);
  assert_int_equal(ra.in_degree[RG_EDGE_MAILED], 1);
  assert_float_equal(ra.weight_out, 3, EPS);
  assert_float_equal(ra.weight_in, 2, EPS);
  rg_test_seen_t s = rg_test_scan_in(t, a, T0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].src, a);
  assert_int_equal(s.e[0].rec.count, 2);
  assert_int_equal(rg_test_counts(t).edges[RG_EDGE_MAILED], 2);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_wbegin(f);
  assert_int_equal(rg_store_forget(t, a), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  assert_int_equal(rg_test_scan_out(t, 0, T0).n, 0);
  assert_int_equal(rg_test_scan_in(t, 0, T0).n, 0);
  rg_store_counts_t cn = rg_test_counts(t);
  assert_int_equal(rg_test_total_edges(&cn), 0);
  assert_int_equal(cn.actors[RG_ACTOR_ADDRESS], 1);
  rg_actor_rec_t rb = rg_test_get_actor(t, b, T0);
  assert_int_equal(rb.in_degree[RG_EDGE_MAILED], 0);
  assert_float_equal(rb.weight_in, 0, EPS);
  rg_store_end(t);
}

static void test_store_forget_lone_actor_updates_counters(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t d = rg_test_upsert(t, RG_ACTOR_DOMAIN, "x.org", T0);
  assert_int_equal(rg_test_counts(t).actors[RG_ACTOR_DOMAIN], 1);
  assert_int_equal(rg_store_forget(t, d), RG_OK);
  rg_store_counts_t cn = rg_test_counts(t);
  assert_int_equal(cn.actors[RG_ACTOR_DOMAIN], 0);
  assert_int_equal(cn.labels, 0);
  assert_int_equal(rg_store_forget(t, d), RG_ENOT_FOUND);
  assert_int_equal(rg_store_commit(t), RG_OK);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, rg_test_store_setup, rg_test_store_teardown)
  const struct CMUnitTest tests[] = {
      T(test_store_upsert_actor_creates_id_once),
      T(test_store_upsert_actor_tracks_first_and_last_seen),
      T(test_store_find_unknown_actor_is_not_found),
      T(test_store_add_edge_creates_out_and_in_entries),
      T(test_store_repeated_edge_adds_count_not_degree),
      T(test_store_scan_stops_on_visitor_return),
      T(test_store_add_edge_requires_both_actors),
      cmocka_unit_test(test_store_decay_halves_at_one_half_life),
      T(test_store_edge_weight_decays_between_observations),
      T(test_store_out_of_order_observation_decays_to_latest),
      T(test_store_actor_sums_match_edges_across_times),
      T(test_store_scan_out_after_resumes_exclusively),
      T(test_store_forget_removes_actor_key_label_and_edges),
      T(test_store_forget_fixes_neighbour_degrees_and_weights),
      T(test_store_forget_self_loop),
      T(test_store_forget_lone_actor_updates_counters),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
