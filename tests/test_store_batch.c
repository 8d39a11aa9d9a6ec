/* test_store_batch.c — a write transaction's batch (store_batch.c, applied by
 * store_graph.c): edges queued and applied in key order with repeats folded, actor records
 * cached and written back once, must leave the store exactly as edge-by-edge application
 * would, be visible to reads in the same transaction, and follow nested transactions.
 * Single-threaded cmocka tests on a fresh store each (testutil_store.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "repgraph/err.h"
#include "repgraph/store.h"
#include "testutil_store.h"

#define T0      INT64_C(1700000000)
#define H       RG_TEST_STORE_HALF_LIFE
#define N_ACTOR 40
#define N_ADD   3000
#define N_FILLER 236 /* actors created first: the model's ids run across 256 */
#define EPS     1e-9

/* The expected state of one (src, kind, dst), kept by the test itself. */
typedef struct {
  uint64_t count;
  double weight; /* decayed to NOW */
  int64_t first, last;
} model_edge_t;

static uint32_t next_rand(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

static double decayed(double w, int64_t ts, int64_t now) {
  return w * exp2(-(double)(now - ts) / H);
}

static int count_edge(void *ctx, uint64_t src, rg_edge_kind_t kind, uint64_t dst,
                      const rg_edge_rec_t *e) {
  (void)src, (void)kind, (void)dst, (void)e;
  ++*(uint64_t *)ctx;
  return 0;
}

/* Edges between 40 actors in random order, out-of-order times, repeats and self-loops,
 * across two commits: every edge and actor record matches the model. The actors' ids
 * straddle 256 (the batch sorts by key bytes). */
static void test_store_batch_matches_edge_by_edge_model(void **state) {
  rg_test_store_t *f = *state;
  static model_edge_t model[N_ACTOR][2][N_ACTOR];
  memset(model, 0, sizeof model);
  uint64_t id[N_ACTOR];
  rg_txn_t *t = rg_test_wbegin(f);
  for (int i = 0; i < N_FILLER; i++) {
    char key[32];
    snprintf(key, sizeof key, "filler%d@x.org", i);
    rg_test_upsert(t, RG_ACTOR_ADDRESS, key, T0);
  }
  for (int i = 0; i < N_ACTOR; i++) {
    char key[32];
    snprintf(key, sizeof key, "a%d@x.org", i);
    id[i] = rg_test_upsert(t, RG_ACTOR_ADDRESS, key, T0);
  }
  assert_true(id[0] < 256 && id[N_ACTOR - 1] > 256);
  const int64_t now = T0 + 20 * 3600;
  uint32_t seed = 7;
  for (int n = 0; n < N_ADD; n++) {
    if (n == N_ADD / 2) { /* half in another transaction */
      assert_int_equal(rg_store_commit(t), RG_OK);
      t = rg_test_wbegin(f);
    }
    int s = (int)(next_rand(&seed) % N_ACTOR), d = (int)(next_rand(&seed) % N_ACTOR);
    int k = (int)(next_rand(&seed) % 2);
    int64_t ts = T0 + (int64_t)(next_rand(&seed) % (10 * 3600));
    double w = 0.5 + (double)(next_rand(&seed) % 100) / 100;
    assert_int_equal(rg_store_add_edge(t, id[s], (rg_edge_kind_t)k, id[d], ts, w, 2), RG_OK);
    model_edge_t *m = &model[s][k][d];
    if (!m->count || ts < m->first) m->first = ts;
    if (!m->count || ts > m->last) m->last = ts;
    m->count += 2;
    m->weight += decayed(w, ts, now);
  }
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  uint64_t edges = 0;
  double out_sum[N_ACTOR] = {0}, in_sum[N_ACTOR] = {0};
  uint32_t out_deg[N_ACTOR][2] = {{0}}, in_deg[N_ACTOR][2] = {{0}};
  for (int s = 0; s < N_ACTOR; s++)
    for (int k = 0; k < 2; k++)
      for (int d = 0; d < N_ACTOR; d++) {
        const model_edge_t *m = &model[s][k][d];
        rg_edge_rec_t e;
        int rc = rg_store_get_edge(t, id[s], (rg_edge_kind_t)k, id[d], now, &e);
        if (!m->count) {
          assert_int_equal(rc, RG_ENOT_FOUND);
          continue;
        }
        assert_int_equal(rc, RG_OK);
        assert_int_equal(e.count, m->count);
        assert_int_equal(e.first_seen, m->first);
        assert_int_equal(e.last_seen, m->last);
        assert_true(fabs(e.weight - m->weight) <= EPS * m->weight);
        edges++;
        out_sum[s] += m->weight;
        in_sum[d] += m->weight;
        out_deg[s][k]++;
        in_deg[d][k]++;
      }
  rg_store_counts_t c = rg_test_counts(t);
  assert_int_equal(rg_test_total_edges(&c), edges);
  for (int i = 0; i < N_ACTOR; i++) {
    rg_actor_rec_t r = rg_test_get_actor(t, id[i], now);
    for (int k = 0; k < 2; k++) {
      assert_int_equal(r.out_degree[k], out_deg[i][k]);
      assert_int_equal(r.in_degree[k], in_deg[i][k]);
    }
    assert_true(fabs(r.weight_out - out_sum[i]) <= 1e-9 * (1 + out_sum[i]));
    assert_true(fabs(r.weight_in - in_sum[i]) <= 1e-9 * (1 + in_sum[i]));
    uint64_t n_in = 0;
    assert_int_equal(rg_store_scan_in(t, id[i], now, count_edge, &n_in), RG_OK);
    assert_int_equal(n_in, in_deg[i][0] + in_deg[i][1]);
  }
  rg_store_end(t);
}

/* Reads in the writing transaction see the edges it queued: the edge, both actors'
 * degrees, the counters and the in-index. */
static void test_store_batch_reads_see_queued_edges(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f);
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  rg_edge_rec_t e = rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0);
  assert_int_equal(e.count, 1);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  rg_store_counts_t c = rg_test_counts(t);
  assert_int_equal(c.edges[RG_EDGE_MAILED], 1);
  rg_actor_rec_t rb = rg_test_get_actor(t, b, T0);
  assert_int_equal(rb.in_degree[RG_EDGE_MAILED], 1);
  assert_true(fabs(rb.weight_in - 2) < EPS);
  rg_test_seen_t seen = rg_test_scan_in(t, b, T0);
  assert_int_equal(seen.n, 1);
  assert_int_equal(seen.e[0].rec.count, 2);
  rg_store_end(t); /* aborted: nothing of it stays */
  t = rg_test_rbegin(f);
  c = rg_test_counts(t);
  assert_int_equal(rg_test_total_edges(&c), 0);
  rg_store_end(t);
}

/* A nested transaction that aborts takes its queued edges with it; the parent's, queued
 * before and after it, commit. */
static void test_store_batch_nested_abort_drops_only_its_edges(void **state) {
  rg_test_store_t *f = *state;
  rg_txn_t *t = rg_test_wbegin(f), *sub;
  uint64_t a = rg_test_upsert(t, RG_ACTOR_ADDRESS, "a@x.org", T0);
  uint64_t b = rg_test_upsert(t, RG_ACTOR_ADDRESS, "b@x.org", T0);
  uint64_t c = rg_test_upsert(t, RG_ACTOR_ADDRESS, "c@x.org", T0);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_nested_begin(t, &sub), RG_OK);
  assert_int_equal(rg_store_add_edge(sub, b, RG_EDGE_MAILED, c, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_add_edge(sub, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  rg_store_end(sub);
  assert_int_equal(rg_store_nested_begin(t, &sub), RG_OK);
  assert_int_equal(rg_store_add_edge(sub, c, RG_EDGE_MAILED, a, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_commit(sub), RG_OK);
  assert_int_equal(rg_store_add_edge(t, a, RG_EDGE_MAILED, b, T0, 1, 1), RG_OK);
  assert_int_equal(rg_store_commit(t), RG_OK);

  t = rg_test_rbegin(f);
  assert_int_equal(rg_test_get_edge(t, a, RG_EDGE_MAILED, b, T0).count, 2);
  assert_int_equal(rg_test_get_edge(t, c, RG_EDGE_MAILED, a, T0).count, 1);
  rg_edge_rec_t e;
  assert_int_equal(rg_store_get_edge(t, b, RG_EDGE_MAILED, c, T0, &e), RG_ENOT_FOUND);
  rg_actor_rec_t ra = rg_test_get_actor(t, a, T0), rb = rg_test_get_actor(t, b, T0);
  assert_int_equal(ra.out_degree[RG_EDGE_MAILED], 1);
  assert_int_equal(ra.in_degree[RG_EDGE_MAILED], 1);
  assert_int_equal(rb.out_degree[RG_EDGE_MAILED], 0);
  assert_true(fabs(rb.weight_in - 2) < EPS);
  rg_store_counts_t n = rg_test_counts(t);
  assert_int_equal(n.edges[RG_EDGE_MAILED], 2);
  rg_store_end(t);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, rg_test_store_setup, rg_test_store_teardown)
  const struct CMUnitTest tests[] = {
      T(test_store_batch_matches_edge_by_edge_model),
      T(test_store_batch_reads_see_queued_edges),
      T(test_store_batch_nested_abort_drops_only_its_edges),
  };
#undef T
  return cmocka_run_group_tests(tests, NULL, NULL);
}
